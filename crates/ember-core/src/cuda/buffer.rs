//! A tensor's memory on a GPU: a block from the caching allocator, returned to it on drop, and
//! the copies between host and device.

use crate::cuda::device::{gpu, Gpu};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::CpuStorage;
use cudarc::driver::{CudaSlice, DevicePtr};
use std::sync::Arc;

pub struct DeviceBuffer {
    pub(crate) gpu: Arc<Gpu>,
    block: Option<CudaSlice<u8>>,
    class: usize,
    /// Elements (not bytes).
    pub(crate) len: usize,
    pub(crate) dtype: DType,
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceBuffer(cuda:{}, {} x {})",
            self.gpu.ordinal, self.len, self.dtype
        )
    }
}

impl DeviceBuffer {
    /// Uninitialized memory for `len` elements of `dtype` (the caller's kernel writes it all).
    pub(crate) fn alloc(gpu: &Arc<Gpu>, dtype: DType, len: usize) -> Result<DeviceBuffer> {
        gpu.bind()?;
        let bytes = len * dtype.size_in_bytes();
        let stream = gpu.stream.clone();
        let (block, class) = gpu
            .alloc
            .lock()
            .take(bytes, |n| crate::cuda::alloc::driver_alloc(&stream, n))
            .map_err(|msg| Error::Device {
                op: "cuda alloc",
                msg: format!("cuda:{}: {msg}", gpu.ordinal),
            })?;
        Ok(DeviceBuffer {
            gpu: gpu.clone(),
            block: Some(block),
            class,
            len,
            dtype,
        })
    }

    /// Zero-filled memory.
    pub(crate) fn zeros(gpu: &Arc<Gpu>, dtype: DType, len: usize) -> Result<DeviceBuffer> {
        let buf = DeviceBuffer::alloc(gpu, dtype, len)?;
        let bytes = buf.bytes();
        if bytes > 0 {
            // SAFETY: the block holds at least `bytes` bytes; queued on the device's stream.
            unsafe { cudarc::driver::result::memset_d8_async(buf.ptr(), 0, bytes, gpu.stream.cu_stream()) }
                .map_err(|e| gpu.err("zeros", format!("{e:?}")))?;
        }
        Ok(buf)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.len * self.dtype.size_in_bytes()
    }

    /// The device address of element 0 (what kernels receive).
    pub(crate) fn ptr(&self) -> u64 {
        let block = self.block.as_ref().expect("a live buffer holds its block");
        // event tracking is off (device.rs), so the guard records nothing
        let (p, _guard) = block.device_ptr(&self.gpu.stream);
        p
    }

    /// Copy host data to `ordinal`, through the pinned staging buffer.
    pub(crate) fn upload(ordinal: usize, data: &CpuStorage) -> Result<DeviceBuffer> {
        let gpu = gpu(ordinal)?;
        let buf = DeviceBuffer::alloc(&gpu, data.dtype(), data.len())?;
        let src = data.as_bytes();
        if !src.is_empty() {
            let mut staging = staging(&gpu, src.len())?;
            let pinned = staging
                .as_mut()
                .expect("staging sized above")
                .as_mut_slice()
                .map_err(|e| gpu.err("to", format!("{e:?}")))?;
            pinned[..src.len()].copy_from_slice(src);
            // SAFETY: both ranges hold `src.len()` bytes; the staging buffer stays locked (and so
            // unchanged) until the synchronize below has seen the copy finish.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(buf.ptr(), &pinned[..src.len()], gpu.stream.cu_stream())
            }
            .map_err(|e| gpu.err("to", format!("host to device copy: {e:?}")))?;
            gpu.synchronize()?;
        }
        Ok(buf)
    }

    /// Copy the whole buffer back to the host (waits for the queued work that writes it).
    pub(crate) fn download(&self) -> Result<CpuStorage> {
        let gpu = &self.gpu;
        gpu.bind()?;
        let n = self.bytes();
        let mut host = vec![0u8; n];
        if n > 0 {
            let mut staging = staging(gpu, n)?;
            let pinned = staging
                .as_mut()
                .expect("staging sized above")
                .as_mut_slice()
                .map_err(|e| gpu.err("to", format!("{e:?}")))?;
            // SAFETY: both ranges hold `n` bytes; the stream is synchronized before the host reads.
            unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut pinned[..n], self.ptr(), gpu.stream.cu_stream()) }
                .map_err(|e| gpu.err("to", format!("device to host copy: {e:?}")))?;
            gpu.synchronize()?;
            host.copy_from_slice(&pinned[..n]);
        }
        CpuStorage::from_bytes(self.dtype, &host).ok_or_else(|| gpu.err("to", "copied a partial element"))
    }
}

/// The device's staging buffer, grown to at least `bytes`.
fn staging(
    gpu: &Gpu,
    bytes: usize,
) -> Result<parking_lot::MutexGuard<'_, Option<cudarc::driver::PinnedHostSlice<u8>>>> {
    let mut guard = gpu.staging.lock();
    if guard.as_ref().is_none_or(|s| s.len() < bytes) {
        *guard = None; // free the old one first
                       // SAFETY: the memory is written before it is read (upload copies in, download copies
                       // the device data in). Flags 0: cached, so reading it back on the host is fast.
        let pinned = unsafe { gpu.ctx.alloc_pinned_with_flags::<u8>(bytes.next_power_of_two(), 0) }
            .map_err(|e| gpu.err("to", format!("allocating pinned host memory: {e:?}")))?;
        *guard = Some(pinned);
    }
    Ok(guard)
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if let Some(block) = self.block.take() {
            self.gpu.alloc.lock().give(block, self.class);
        }
    }
}
