//! Batched matmul through cuBLAS (`cublasGemmStridedBatchedEx`): f32 (TF32 tensor cores only
//! with `ember::cuda::set_allow_tf32(true)`), f64, and f16/bf16 on tensor cores with f32
//! accumulation (through cuBLASLt where it loads: `matmul_lt.rs`). Integer products, which
//! cuBLAS lacks, run a plain kernel (matmul.cu).
//!
//! cuBLAS is column-major. A row-major m x n matrix is the column-major n x m transpose, so
//! `C = A B` is computed as `C^T = B^T A^T`: the operands swap places and no data moves.

use super::{gpu_of, ptr, tensor};
use crate::cuda::api::{allow_tf32, not_on_cuda};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix};
use crate::cuda::ops::matmul_lt::{self, LtOperand};
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
        DType::I64 | DType::I32 | DType::U8 => return batched_int(a, la, b, lb, batch, m, k, n),
        d => return Err(not_on_cuda("matmul", format!("dtype {d}"))),
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
    if matches!(d, DType::F16 | DType::BF16) {
        let lt_operand = |o: &Operand| LtOperand {
            ptr: o.ptr,
            transposed: o.trans == cublasOperation_t::CUBLAS_OP_T,
            ld: o.ld as i64,
            batch_stride: o.batch_stride,
        };
        let (lb_, la_) = (lt_operand(&ob), lt_operand(&oa));
        let done =
            g.with_blas_lt(|h| matmul_lt::gemm(g, h, d == DType::BF16, &lb_, &la_, out.ptr(), (n, m, k), count))?;
        if done.is_some() {
            return Ok(tensor(out, &shape));
        }
    }
    g.with_blas(|blas| {
        // SAFETY: pointers address live buffers (kept by `oa`/`ob`/`out`) sized by the shape
        // rule; leading dims and batch strides were derived from the layouts above; alpha/beta
        // are host scalars of the compute type (f64 for f64, f32 otherwise).
        unsafe {
            if count == 1 {
                // the plain GEMM entry point: cuBLAS's heuristics can differ for the batched one
                cudarc::cublas::result::gemm_ex(
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
                    oa.ptr as *const c_void,
                    data_type,
                    oa.ld,
                    beta,
                    out.ptr() as *mut c_void,
                    data_type,
                    n as i32,
                    compute,
                    cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            } else {
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
        }
        .map_err(|e| g.err("matmul", format!("cuBLAS gemm failed: {e:?}")))
    })?;
    Ok(tensor(out, &shape))
}

/// The integer product (matmul.cu's `matmul_int_*`, one thread per output element), on
/// contiguous copies of the broadcast operands. Same arguments as [`batched`].
#[allow(clippy::too_many_arguments)]
fn batched_int(
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Result<Tensor> {
    let g = gpu_of(a)?;
    let count: usize = batch.iter().product();
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    let out = DeviceBuffer::alloc(g, a.dtype(), count * m * n)?;
    if count * m * n > 0 {
        let ac = super::contiguous(&a.view_with_layout(la.clone()))?;
        let bc = super::contiguous(&b.view_with_layout(lb.clone()))?;
        let (o, x, y) = (out.ptr(), ptr(&ac)?, ptr(&bc)?);
        let (c64, m64, k64, n64) = (count as i64, m as i64, k as i64, n as i64);
        // matmul_int_<T>(T* out, const T* a, const T* b, i64 batch, i64 m, i64 k, i64 n)
        launch!(
            g,
            "matmul",
            format!("matmul_int_{}", suffix(a.dtype())),
            grid(count * m * n),
            [&o, &x, &y, &c64, &m64, &k64, &n64]
        )?;
    }
    Ok(tensor(out, &shape))
}
