//! One `Gpu` per device ordinal, created on first use: the driver probe, the context, the
//! stream every op of that device is queued on, the loaded kernel modules, the cuBLAS handle and
//! the caching allocator.
//!
//! One stream per device keeps the ordering simple and correct: every kernel, copy and free is
//! queued on it in program order, so a block freed by one op can be handed to the next op at
//! once (the reuse is ordered after the last use by the stream itself), and no events are
//! needed. `synchronize` waits for the stream.

use crate::cuda::alloc::CachingAllocator;
use crate::cuda::ops::matmul_lt::LtHandle;
use crate::error::{Error, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, PinnedHostSlice};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Bytes of the cuBLAS workspace (32 MiB, PyTorch's choice for Hopper GPUs).
const BLAS_WORKSPACE: usize = 32 << 20;

pub(crate) struct Gpu {
    pub ordinal: usize,
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub alloc: Mutex<CachingAllocator>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
    blas: Mutex<Option<CudaBlas>>,
    /// cuBLASLt for half-precision products: None until first asked for, then Some(None)
    /// where it cannot be used.
    blas_lt: Mutex<Option<Option<LtHandle>>>,
    /// Page-locked host memory that transfers go through (grown on demand, reused).
    pub staging: Mutex<Option<PinnedHostSlice<u8>>>,
}

fn device_err(ordinal: usize, msg: impl Into<String>) -> Error {
    Error::Device {
        op: "cuda",
        msg: format!("cuda:{ordinal} is not available: {}", msg.into()),
    }
}

/// Fails with "no CUDA driver found" unless libcuda can be loaded. cudarc panics when it
/// calls into a library that is missing, so every path into the driver goes through here.
fn probe_driver(ordinal: usize) -> Result<()> {
    // SAFETY: only tries to dlopen libcuda by its usual names.
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(device_err(
            ordinal,
            "no CUDA driver found (libcuda.so could not be loaded; install the NVIDIA driver)",
        ))
    }
}

/// The number of GPUs the driver reports (an `Err` without a driver).
pub(crate) fn device_count() -> Result<usize> {
    probe_driver(0)?;
    cudarc::driver::result::init().map_err(|e| device_err(0, format!("cuInit failed: {e:?}")))?;
    CudaContext::device_count()
        .map(|n| n.max(0) as usize)
        .map_err(|e| device_err(0, format!("cuDeviceGetCount failed: {e:?}")))
}

type Registry = Mutex<HashMap<usize, std::result::Result<Arc<Gpu>, Error>>>;

fn registry() -> &'static Registry {
    static GPUS: OnceLock<Registry> = OnceLock::new();
    GPUS.get_or_init(Default::default)
}

/// The GPU `ordinal`, set up on first use; the result (including a failure) is remembered, so
/// a missing driver is probed once and every later use gets the same clear error.
pub(crate) fn gpu(ordinal: usize) -> Result<Arc<Gpu>> {
    let mut reg = registry().lock();
    reg.entry(ordinal).or_insert_with(|| Gpu::open(ordinal)).clone()
}

/// The GPU if it was already set up (statistics must not start a device).
pub(crate) fn gpu_if_started(ordinal: usize) -> Option<Arc<Gpu>> {
    registry().lock().get(&ordinal).and_then(|r| r.as_ref().ok().cloned())
}

impl Gpu {
    fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        let count = device_count()?;
        if ordinal >= count {
            return Err(device_err(
                ordinal,
                format!("the driver reports {count} CUDA device(s); ordinals are 0..{count}"),
            ));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| device_err(ordinal, format!("cuCtx failed: {e:?}")))?;
        // SAFETY: ember queues all work of a device on its one stream (see the module docs), so
        // the per-slice events cudarc would record to order several streams are not needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| device_err(ordinal, format!("cuStreamCreate failed: {e:?}")))?;
        Ok(Arc::new(Gpu {
            ordinal,
            ctx,
            stream,
            alloc: Mutex::new(CachingAllocator::default()),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            blas: Mutex::new(None),
            blas_lt: Mutex::new(None),
            staging: Mutex::new(None),
        }))
    }

    pub(crate) fn err(&self, op: &'static str, what: impl std::fmt::Display) -> Error {
        Error::Device {
            op,
            msg: format!("cuda:{}: {what}", self.ordinal),
        }
    }

    /// Make this GPU's context current on the calling thread (ops may run on any thread).
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| self.err("cuda", format!("{e:?}")))
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.bind()?;
        self.stream
            .synchronize()
            .map_err(|e| self.err("cuda::synchronize", format!("{e:?}")))
    }

    pub(crate) fn empty_cache(&self) {
        // the blocks' frees are queued on the stream, behind any work still using them
        self.alloc.lock().empty_cache();
    }

    /// The kernel `name`, loading its module (from the process-wide PTX cache) on first use.
    pub(crate) fn function(&self, name: &str) -> Result<CudaFunction> {
        if let Some(f) = self.functions.lock().get(name) {
            return Ok(f.clone());
        }
        let module_name = crate::cuda::kernels::module_of(name)
            .ok_or_else(|| self.err("cuda", format!("no kernel module defines {name}")))?;
        let module = {
            let mut modules = self.modules.lock();
            match modules.get(module_name) {
                Some(m) => m.clone(),
                None => {
                    let ptx = crate::cuda::nvrtc::ptx(module_name)?;
                    let m = self
                        .ctx
                        .load_module(ptx)
                        .map_err(|e| self.err("cuda", format!("loading module {module_name}: {e:?}")))?;
                    modules.insert(module_name, m.clone());
                    m
                }
            }
        };
        let f = module
            .load_function(name)
            .map_err(|e| self.err("cuda", format!("kernel {name} not found in {module_name}: {e:?}")))?;
        self.functions.lock().insert(name.to_string(), f.clone());
        Ok(f)
    }

    /// Run `f` with this GPU's cuBLAS handle (created on first use, bound to the stream).
    pub(crate) fn with_blas<T>(&self, f: impl FnOnce(&CudaBlas) -> Result<T>) -> Result<T> {
        let mut guard = self.blas.lock();
        if guard.is_none() {
            // SAFETY: only tries to dlopen libcublas by its usual names.
            if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                return Err(self.err("matmul", "the cuBLAS library (libcublas.so.13) could not be loaded"));
            }
            let blas = CudaBlas::new(self.stream.clone()).map_err(|e| self.err("matmul", format!("{e:?}")))?;
            // A workspace of the size PyTorch gives cuBLAS on Hopper, so cuBLAS may pick the
            // same (split-K) kernels. It lives as long as the handle, i.e. the process.
            // SAFETY: the context is current (callers bind it first); the pointer is a fresh
            // device allocation of BLAS_WORKSPACE bytes that is never freed.
            unsafe {
                let ws = cudarc::driver::result::malloc_sync(BLAS_WORKSPACE)
                    .map_err(|e| self.err("matmul", format!("cuBLAS workspace: {e:?}")))?;
                cudarc::cublas::sys::cublasSetWorkspace_v2(*blas.handle(), ws as *mut std::ffi::c_void, BLAS_WORKSPACE)
                    .result()
                    .map_err(|e| self.err("matmul", format!("cuBLAS workspace: {e:?}")))?;
            }
            *guard = Some(blas);
        }
        f(guard.as_ref().expect("set above"))
    }

    /// Run `f` with this GPU's cuBLASLt handle (created on first use); `Ok(None)` where
    /// cuBLASLt cannot be used, so the caller falls back to cuBLAS.
    pub(crate) fn with_blas_lt<T>(&self, f: impl FnOnce(&LtHandle) -> Result<T>) -> Result<Option<T>> {
        let mut guard = self.blas_lt.lock();
        if guard.is_none() {
            *guard = Some(LtHandle::new(self)?);
        }
        match guard.as_ref().expect("set above") {
            Some(h) => f(h).map(Some),
            None => Ok(None),
        }
    }
}
