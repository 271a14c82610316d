//! The caching allocator of one GPU: `pool::Pool` over device slices from cudarc.

use crate::cuda::pool::{AllocFailure, Pool};
use cudarc::driver::sys::cudaError_enum;
use cudarc::driver::{CudaSlice, CudaStream};
use std::sync::Arc;

pub(crate) type CachingAllocator = Pool<CudaSlice<u8>>;

/// Allocate `bytes` straight from the driver, stream-ordered (cuMemAllocAsync where the device
/// supports it).
pub(crate) fn driver_alloc(stream: &Arc<CudaStream>, bytes: usize) -> Result<CudaSlice<u8>, AllocFailure> {
    // SAFETY: the memory is uninitialized; every kernel that receives a fresh block writes all
    // of it before anything reads it (outputs are fully written, `zeros` memsets).
    match unsafe { stream.alloc::<u8>(bytes) } {
        Ok(s) => Ok(s),
        Err(e) if e.0 == cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY => Err(AllocFailure::OutOfMemory),
        Err(e) => Err(AllocFailure::Other(format!("{e:?}"))),
    }
}
