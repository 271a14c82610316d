//! The CUDA backend (feature `cuda`) and its public controls, `ember::cuda::*` (PyTorch's
//! `torch.cuda`): availability, synchronization, memory statistics and the TF32 switch.
//!
//! Everything here compiles with and without the feature, so user code needs no `cfg`: in a
//! build without it, or on a machine without a driver, `is_available()` is false and every
//! call that needs a GPU returns an `Err` saying why (never a panic).
//!
//! Layout: `kernels` holds the CUDA C sources (compiled at run time by NVRTC, see `nvrtc`);
//! `device` probes the driver and owns one context + stream + module cache per GPU; `alloc` is
//! the caching allocator; `buffer` is a tensor's device memory; `ops` are the kernels' launchers,
//! called from the op table when a tensor is on a GPU.

pub mod kernels;
pub mod testing;

#[cfg(feature = "cuda")]
pub(crate) mod alloc;
#[cfg(feature = "cuda")]
pub(crate) mod buffer;
#[cfg(feature = "cuda")]
pub(crate) mod device;
#[cfg(feature = "cuda")]
pub(crate) mod launch;
#[cfg(feature = "cuda")]
pub mod nvrtc;
#[cfg(feature = "cuda")]
pub(crate) mod ops;

mod api;
mod creation;
pub mod pool;
mod transfer;
pub use api::*;
#[cfg(feature = "cuda")]
pub use launch::launched_kernel_names;
