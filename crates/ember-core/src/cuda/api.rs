//! `ember::cuda::*`: the functions a user calls, present in every build.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why no GPU can be used: the build lacks the feature, or the driver / device is missing.
pub fn unavailable_reason(ordinal: usize) -> Option<String> {
    #[cfg(feature = "cuda")]
    {
        super::device::gpu(ordinal).err().map(|e| e.to_string())
    }
    #[cfg(not(feature = "cuda"))]
    {
        Some(format!(
            "cuda:{ordinal} is not available: no CUDA driver found (this build of ember has no CUDA backend; \
             rebuild with `--features cuda`)"
        ))
    }
}

/// True when at least one GPU can be used by this process.
pub fn is_available() -> bool {
    device_count() > 0
}

/// The number of usable GPUs (0 without the feature or without a driver).
pub fn device_count() -> usize {
    #[cfg(feature = "cuda")]
    {
        super::device::device_count().unwrap_or(0)
    }
    #[cfg(not(feature = "cuda"))]
    {
        0
    }
}

/// Block until all work queued on the GPU has finished (`torch.cuda.synchronize`). Kernels and
/// copies run asynchronously, so time GPU work only after this.
pub fn synchronize(ordinal: usize) -> Result<()> {
    #[cfg(feature = "cuda")]
    {
        super::device::gpu(ordinal)?.synchronize()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(no_backend("cuda::synchronize", ordinal))
    }
}

/// Bytes of device memory held by live tensors on `ordinal` (0 where no GPU was used).
pub fn memory_allocated(ordinal: usize) -> usize {
    stats(ordinal).allocated
}

/// The peak of `memory_allocated` since the start or the last `reset_peak_memory_stats`.
pub fn max_memory_allocated(ordinal: usize) -> usize {
    stats(ordinal).max_allocated
}

/// Bytes held by the caching allocator: live tensors plus cached free blocks.
pub fn memory_reserved(ordinal: usize) -> usize {
    stats(ordinal).reserved
}

/// Reset the peak that `max_memory_allocated` reports to the current allocation.
pub fn reset_peak_memory_stats(ordinal: usize) {
    #[cfg(feature = "cuda")]
    if let Some(g) = super::device::gpu_if_started(ordinal) {
        g.alloc.lock().reset_peak();
    }
    #[cfg(not(feature = "cuda"))]
    let _ = ordinal;
}

/// Give the cached free blocks back to the driver (`torch.cuda.empty_cache`). Live tensors are
/// not touched.
pub fn empty_cache(ordinal: usize) -> Result<()> {
    #[cfg(feature = "cuda")]
    {
        if let Some(g) = super::device::gpu_if_started(ordinal) {
            g.empty_cache();
        }
        Ok(())
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Ok(())
    }
}

/// Memory statistics of one GPU's caching allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in blocks handed to live tensors (rounded up to the allocator's size classes).
    pub allocated: usize,
    pub max_allocated: usize,
    /// `allocated` plus cached free blocks.
    pub reserved: usize,
    /// How many times a request missed the cache and went to the driver.
    pub driver_allocs: usize,
    /// How many requests failed with out-of-memory once, emptied the cache and retried.
    pub oom_retries: usize,
}

/// The allocator's statistics for `ordinal` (all zero when that GPU was never used).
pub fn stats(ordinal: usize) -> MemoryStats {
    #[cfg(feature = "cuda")]
    {
        super::device::gpu_if_started(ordinal)
            .map(|g| g.alloc.lock().stats())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        MemoryStats::default()
    }
}

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// Allow f32 matmuls to run on TF32 tensor cores (about 10 mantissa bits; PyTorch's
/// `torch.backends.cuda.matmul.allow_tf32`). Off by default, so f32 results match the CPU to
/// f32 tolerance unless the user opts in.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, Ordering::Relaxed);
}

/// Whether f32 matmuls may use TF32 (see [`set_allow_tf32`]).
pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}

static FUSED_ADAM: AtomicBool = AtomicBool::new(false);

/// Let `Tensor::adam_step_` (the fused path of ember-optim's Adam/AdamW) run its one-kernel
/// update on GPU tensors. Off by default: the kernel has not run on a GPU yet (see
/// `cuda/ops/optim.rs`); off, GPU parameters take the composite update.
pub fn set_fused_adam(enabled: bool) {
    FUSED_ADAM.store(enabled, Ordering::Relaxed);
}

/// Whether GPU Adam steps use the fused kernel (see [`set_fused_adam`]).
pub fn fused_adam() -> bool {
    FUSED_ADAM.load(Ordering::Relaxed)
}

static FUSED_LAYER_NORM: AtomicBool = AtomicBool::new(false);

/// Let `Tensor::layer_norm` on f32/f64 GPU tensors run the fused kernels (one launch forward,
/// three backward, instead of about thirty for the composite). Off by default: the kernels were
/// written without a GPU to run them on (see `cuda/ops/norm.rs`); off, GPU tensors take the
/// composite, which is tested on GPUs.
pub fn set_fused_layer_norm(enabled: bool) {
    FUSED_LAYER_NORM.store(enabled, Ordering::Relaxed);
}

/// Whether GPU layer norms use the fused kernels (see [`set_fused_layer_norm`]).
pub fn fused_layer_norm() -> bool {
    FUSED_LAYER_NORM.load(Ordering::Relaxed)
}

#[cfg(not(feature = "cuda"))]
fn no_backend(op: &'static str, ordinal: usize) -> Error {
    Error::Device {
        op,
        msg: unavailable_reason(ordinal).unwrap_or_default(),
    }
}

/// The error for an op whose CUDA kernel does not exist yet: names the op and the device, and
/// says how to get on (never a silent CPU fallback).
pub fn not_on_cuda(op: &'static str, what: impl std::fmt::Display) -> Error {
    Error::Device {
        op,
        msg: format!(
            "{op} is not implemented on CUDA yet ({what}); move the tensor to the CPU with `.to(Device::Cpu)` \
             for this op"
        ),
    }
}
