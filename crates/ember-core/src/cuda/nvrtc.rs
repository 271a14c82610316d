//! Run-time compilation of the kernel sources by NVRTC, once per process: the first GPU op
//! compiles every module (tens of milliseconds each) and later ops reuse the cached PTX.
//!
//! NVRTC is loaded dynamically (`libnvrtc.so.13` on the library search path, e.g. through
//! `LD_LIBRARY_PATH`); its absence is an `Err`, checked before cudarc would panic on it.

use crate::cuda::kernels;
use crate::error::{Error, Result};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The virtual architecture the PTX targets: the oldest one CUDA 13 supports, so the driver can
/// JIT the PTX for any GPU it runs on (and atomicAdd on f64 exists).
const ARCH: &str = "compute_75";

fn err(msg: String) -> Error {
    Error::Device { op: "nvrtc", msg }
}

/// Fails unless the NVRTC library can be loaded.
pub fn check_nvrtc() -> Result<()> {
    // SAFETY: only tries to dlopen the library by its usual names.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(err(
            "the NVRTC library (libnvrtc.so.13) was not found on the library search path; install the CUDA \
             toolkit or the `nvidia-cuda-nvrtc` wheel and add its lib folder to LD_LIBRARY_PATH"
                .into(),
        ))
    }
}

/// Compile one kernel module to PTX; a compile error carries NVRTC's log.
pub fn compile(name: &str) -> Result<Ptx> {
    check_nvrtc()?;
    let src = kernels::full_source(name).ok_or_else(|| err(format!("no kernel module named {name:?}")))?;
    let opts = CompileOptions {
        arch: Some(ARCH),
        name: Some(format!("{name}.cu")),
        // IEEE division and square root: results match the CPU to float rounding
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(&src, opts).map_err(|e| match e {
        CompileError::CompileError { log, .. } => err(format!(
            "kernel module {name}.cu failed to compile:\n{}",
            log.to_string_lossy()
        )),
        other => err(format!("kernel module {name}.cu: NVRTC failed: {other:?}")),
    })
}

/// The PTX of module `name`, compiled on its first use and cached for the life of the process
/// (so a program that only multiplies matrices never compiles the pooling kernels).
pub fn ptx(name: &'static str) -> Result<Ptx> {
    static CACHE: OnceLock<parking_lot::Mutex<HashMap<&'static str, Ptx>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().get(name) {
        return Ok(p.clone());
    }
    // compiled outside the lock: two threads may both compile a module once, never block
    let p = compile(name)?;
    cache.lock().insert(name, p.clone());
    Ok(p)
}

/// The PTX of every module, compiled on first use and cached for the life of the process.
pub fn all_ptx() -> Result<&'static HashMap<&'static str, Ptx>> {
    static CACHE: OnceLock<std::result::Result<HashMap<&'static str, Ptx>, Error>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            kernels::SOURCES
                .iter()
                .map(|(name, _)| compile(name).map(|p| (*name, p)))
                .collect()
        })
        .as_ref()
        .map_err(Clone::clone)
}
