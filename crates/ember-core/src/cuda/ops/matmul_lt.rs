//! f16/bf16 products through cuBLASLt, opt-in with `EMBER_CUBLASLT=1`. cuBLAS's classic
//! `GemmEx` entry point reached 0.91x of PyTorch's bf16 TFLOP/s at n = 4096 on an H200, and
//! PyTorch can route these products through cuBLASLt. This path was written after the last
//! GPU session ended and has not run on a GPU yet, so it stays off until a GPU run has
//! measured it and checked its results (the device suites cover f16/bf16 products). Same
//! swapped product as `matmul.rs` (`C^T = B^T A^T`), f32 accumulation and scaling.

use crate::cuda::device::Gpu;
use crate::error::Result;
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use std::ffi::c_void;

/// Bytes of the cuBLASLt workspace (NVIDIA's recommendation for Hopper, as PyTorch uses).
const WORKSPACE: usize = 32 << 20;

/// One GPU's cuBLASLt handle and workspace, alive for the process.
pub(crate) struct LtHandle {
    handle: sys::cublasLtHandle_t,
    workspace: u64,
}

// SAFETY: the handle is used only under the Gpu's mutex, from one thread at a time, which
// cuBLASLt allows; the workspace is a plain device address.
unsafe impl Send for LtHandle {}

impl LtHandle {
    /// None where cuBLASLt is not asked for or cannot be loaded (then cuBLAS does the product).
    pub(crate) fn new(g: &Gpu) -> Result<Option<LtHandle>> {
        if std::env::var("EMBER_CUBLASLT").as_deref() != Ok("1") {
            return Ok(None);
        }
        // SAFETY: only tries to dlopen libcublasLt by its usual names.
        if !unsafe { sys::is_culib_present() } {
            return Ok(None);
        }
        let handle = lt::create_handle().map_err(|e| g.err("matmul", format!("cuBLASLt: {e:?}")))?;
        // SAFETY: the context is current (the caller binds it); never freed, like the handle.
        let workspace = unsafe { cudarc::driver::result::malloc_sync(WORKSPACE) }
            .map_err(|e| g.err("matmul", format!("cuBLASLt workspace: {e:?}")))?;
        Ok(Some(LtHandle { handle, workspace }))
    }
}

/// A column-major operand as cuBLASLt sees it: `op(X)` is `rows x cols`.
pub(crate) struct LtOperand {
    pub ptr: u64,
    pub transposed: bool,
    pub ld: i64,
    pub batch_stride: i64,
}

/// Destroys the descriptors of one call when it ends, whatever path it takes.
struct Descriptors {
    desc: sys::cublasLtMatmulDesc_t,
    layouts: Vec<sys::cublasLtMatrixLayout_t>,
    pref: Option<sys::cublasLtMatmulPreference_t>,
}

impl Drop for Descriptors {
    fn drop(&mut self) {
        // SAFETY: each was created by this call and is destroyed once; failures leak only.
        unsafe {
            for l in &self.layouts {
                let _ = lt::destroy_matrix_layout(*l);
            }
            if let Some(p) = self.pref {
                let _ = lt::destroy_matmul_pref(p);
            }
            let _ = lt::destroy_matmul_desc(self.desc);
        }
    }
}

/// The stored shape of an operand whose `op(X)` is `rows x cols`.
fn stored(o: &LtOperand, rows: usize, cols: usize) -> (u64, u64) {
    if o.transposed {
        (cols as u64, rows as u64)
    } else {
        (rows as u64, cols as u64)
    }
}

/// `C (m x n, ld m) = op(A) (m x k) * op(B) (k x n)` in column-major terms, `count` times with
/// the operands' batch strides, for `half` = bf16 (else f16) data; queued on `g`'s stream.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    g: &Gpu,
    h: &LtHandle,
    bf16: bool,
    a: &LtOperand,
    b: &LtOperand,
    c: u64,
    (m, n, k): (usize, usize, usize),
    count: usize,
) -> Result<()> {
    let err = |e: cudarc::cublaslt::result::CublasError| g.err("matmul", format!("cuBLASLt matmul failed: {e:?}"));
    let dt = if bf16 {
        sys::cudaDataType::CUDA_R_16BF
    } else {
        sys::cudaDataType::CUDA_R_16F
    };
    let desc = lt::create_matmul_desc(
        sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        sys::cudaDataType::CUDA_R_32F,
    )
    .map_err(err)?;
    let mut d = Descriptors {
        desc,
        layouts: Vec::with_capacity(3),
        pref: None,
    };
    let (ar, ac) = stored(a, m, k);
    let (br, bc) = stored(b, k, n);
    let batch = count as i32;
    // SAFETY: every attribute buffer is a live local of the size passed; the descriptors are
    // the ones created here; the pointers address device buffers the caller keeps alive and
    // sizes by the shape rule; the workspace is WORKSPACE bytes.
    unsafe {
        for (rows, cols, ld, stride) in [
            (ar, ac, a.ld, a.batch_stride),
            (br, bc, b.ld, b.batch_stride),
            (m as u64, n as u64, m as i64, (m * n) as i64),
        ] {
            let l = lt::create_matrix_layout(dt, rows, cols, ld).map_err(err)?;
            d.layouts.push(l);
            if count > 1 {
                use sys::cublasLtMatrixLayoutAttribute_t as A;
                lt::set_matrix_layout_attribute(l, A::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch as *const i32 as _, 4)
                    .map_err(err)?;
                lt::set_matrix_layout_attribute(
                    l,
                    A::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                    &stride as *const i64 as _,
                    8,
                )
                .map_err(err)?;
            }
        }
        // cublasOperation_t as an int: 1 = T, 0 = N
        let (ta, tb) = (i32::from(a.transposed), i32::from(b.transposed));
        use sys::cublasLtMatmulDescAttributes_t as D;
        lt::set_matmul_desc_attribute(desc, D::CUBLASLT_MATMUL_DESC_TRANSA, &ta as *const i32 as _, 4).map_err(err)?;
        lt::set_matmul_desc_attribute(desc, D::CUBLASLT_MATMUL_DESC_TRANSB, &tb as *const i32 as _, 4).map_err(err)?;
        let pref = lt::create_matmul_pref().map_err(err)?;
        d.pref = Some(pref);
        let ws = WORKSPACE;
        lt::set_matmul_pref_attribute(
            pref,
            sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
            &ws as *const usize as _,
            std::mem::size_of::<usize>(),
        )
        .map_err(err)?;
        let (la, lb, lc) = (d.layouts[0], d.layouts[1], d.layouts[2]);
        let heuristic = lt::get_matmul_algo_heuristic(h.handle, desc, la, lb, lc, lc, pref).map_err(err)?;
        let (one, zero) = (1f32, 0f32);
        lt::matmul(
            h.handle,
            desc,
            &one as *const f32 as *const c_void,
            &zero as *const f32 as *const c_void,
            a.ptr as *const c_void,
            la,
            b.ptr as *const c_void,
            lb,
            c as *const c_void,
            lc,
            c as *mut c_void,
            lc,
            &heuristic.algo,
            h.workspace as *mut c_void,
            WORKSPACE,
            g.stream.cu_stream() as sys::cudaStream_t,
        )
        .map_err(err)
    }
}
