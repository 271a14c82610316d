//! Batched matmul through cuBLAS (`cublasGemmStridedBatchedEx`): f32 (TF32 tensor cores only
//! with `ember::cuda::set_allow_tf32(true)`), f64, and f16/bf16 on tensor cores with f32
//! accumulation. Integer matmul is not offered by cuBLAS and errors.
//!
//! cuBLAS is column-major. A row-major m x n matrix is the column-major n x m transpose, so
//! `C = A B` is computed as `C^T = B^T A^T`: the operands swap places and no data moves.

use super::{gpu_of, ptr, tensor};
use crate::cuda::api::{allow_tf32, not_on_cuda};
use crate::cuda::buffer::DeviceBuffer;
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::Layout;
use crate::tensor::Tensor;
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use std::ffi::c_void;

/// How cuBLAS reads one operand: transposed or not, its leading dimension, its batch stride.
struct Operand {
    ptr: u64,
    trans: cublasOperation_t,
    ld: i32,
    batch_stride: i64,
    _keep: Tensor, // the tensor (or contiguous copy) `ptr` points into
}

/// `t` viewed with layout `l` (shape batch + [rows, cols]) as a cuBLAS operand of the swapped
/// product. A layout cuBLAS cannot read directly is copied to a contiguous tensor first.
fn operand(t: &Tensor, l: &Layout, rows: usize, cols: usize) -> Result<Operand> {
    let nd = l.ndim();
    let (rs, cs) = (l.strides[nd - 2], l.strides[nd - 1]);
    let (bshape, bstrides) = crate::shape::coalesce(&l.shape[..nd - 2], &l.strides[..nd - 2]);
    let batch_stride = match bshape.iter().filter(|&&n| n > 1).count() {
        0 => Some(0),
        1 => bshape
            .iter()
            .zip(bstrides.iter())
            .find(|(&n, _)| n > 1)
            .map(|(_, &s)| s),
        _ => None,
    };
    // In the swapped product this row-major operand is read as its transpose: row-major with
    // unit column stride is cuBLAS's "N" with ld = row stride; unit row stride is "T".
    let form = if cs == 1 && (rs >= cols.max(1) || rows <= 1) {
        Some((cublasOperation_t::CUBLAS_OP_N, rs.max(cols).max(1)))
    } else if rs == 1 && (cs >= rows.max(1) || cols <= 1) {
        Some((cublasOperation_t::CUBLAS_OP_T, cs.max(rows).max(1)))
    } else {
        None
    };
    match (form, batch_stride) {
        (Some((trans, ld)), Some(bs)) if ld <= i32::MAX as usize => Ok(Operand {
            ptr: ptr(t)? + (l.offset * t.dtype().size_in_bytes()) as u64,
            trans,
            ld: ld as i32,
            batch_stride: bs as i64,
            _keep: t.clone(),
        }),
        _ => {
            let c = super::contiguous(&t.view_with_layout(l.clone()))?;
            let lc = c.layout().clone();
            operand(&c, &lc, rows, cols)
        }
    }
}

/// `a @ b` for operands broadcast to `la` = batch + [m, k] and `lb` = batch + [k, n].
#[allow(clippy::too_many_arguments)]
pub(crate) fn batched(
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Result<Tensor> {
    let d = a.dtype();
    let (data_type, compute) = match d {
        DType::F32 if allow_tf32() => (
            cudaDataType::CUDA_R_32F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        ),
        DType::F32 => (cudaDataType::CUDA_R_32F, cublasComputeType_t::CUBLAS_COMPUTE_32F),
        DType::F64 => (cudaDataType::CUDA_R_64F, cublasComputeType_t::CUBLAS_COMPUTE_64F),
        DType::F16 => (cudaDataType::CUDA_R_16F, cublasComputeType_t::CUBLAS_COMPUTE_32F),
        DType::BF16 => (cudaDataType::CUDA_R_16BF, cublasComputeType_t::CUBLAS_COMPUTE_32F),
        d => return Err(not_on_cuda("matmul", format!("integer matmul ({d}); cuBLAS has none"))),
    };
    let g = gpu_of(a)?;
    let count: usize = batch.iter().product();
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    let out = DeviceBuffer::alloc(g, d, count * m * n)?;
    if count * m * n == 0 {
        return Ok(tensor(out, &shape));
    }
    if k == 0 {
        // an empty sum: cuBLAS with k = 0 leaves C untouched, so write the zeros ourselves
        drop(out);
        return super::fill(g.ordinal, d, &shape, 0.0);
    }
    let too_big = [m, n, k, count].iter().any(|&v| v > i32::MAX as usize);
    if too_big {
        return Err(not_on_cuda(
            "matmul",
            format!("dims over 2^31 (m={m}, n={n}, k={k}, batch={count})"),
        ));
    }
    let oa = operand(a, la, m, k)?;
    let ob = operand(b, lb, k, n)?;
    let (one32, zero32, one64, zero64) = (1f32, 0f32, 1f64, 0f64);
    let (alpha, beta): (*const c_void, *const c_void) = if d == DType::F64 {
        (&one64 as *const f64 as _, &zero64 as *const f64 as _)
    } else {
        (&one32 as *const f32 as _, &zero32 as *const f32 as _)
    };
    g.bind()?;
    g.with_blas(|blas| {
        // SAFETY: pointers address live buffers (kept by `oa`/`ob`/`out`) sized by the shape
        // rule; leading dims and batch strides were derived from the layouts above; alpha/beta
        // are host scalars of the compute type (f64 for f64, f32 otherwise).
        unsafe {
            cudarc::cublas::result::gemm_strided_batched_ex(
                *blas.handle(),
                ob.trans,
                oa.trans,
                n as i32,
                m as i32,
                k as i32,
                alpha,
                ob.ptr as *const c_void,
                data_type,
                ob.ld,
                ob.batch_stride,
                oa.ptr as *const c_void,
                data_type,
                oa.ld,
                oa.batch_stride,
                beta,
                out.ptr() as *mut c_void,
                data_type,
                n as i32,
                (m * n) as i64,
                count as i32,
                compute,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| g.err("matmul", format!("cuBLAS gemm failed: {e:?}")))
    })?;
    Ok(tensor(out, &shape))
}
