//! The CUDA side of the op table: launchers the ops in `crate::ops` call when their inputs live
//! on a GPU. Each takes tensors already checked by the op (shapes, dtypes, same device) and
//! returns a new tensor on the same GPU; autograd is recorded by the op itself, so every
//! gradient rule (written with Tensor ops) runs on the GPU too.

/// Queue kernel `$name` on the GPU's stream: `launch!(gpu, "op", "kernel_f32", cfg, [&a, &b, ..])`.
/// The arguments are references to locals (kernel arguments are read at launch) and must match
/// the kernel's signature in order and type; each launcher names its kernel beside the call.
macro_rules! launch {
    ($gpu:expr, $op:expr, $name:expr, $cfg:expr, [$($arg:expr),* $(,)?]) => {{
        use cudarc::driver::PushKernelArg;
        let gpu: &crate::cuda::device::Gpu = $gpu;
        gpu.bind()?;
        let f = gpu.function(&$name)?;
        let mut b = gpu.stream.launch_builder(&f);
        $( b.arg($arg); )*
        // SAFETY: the arguments match the kernel's signature (see the call site) and every
        // buffer is sized by the op's shape rule; grid-stride kernels stay inside `n`.
        unsafe { b.launch($cfg) }
            .map(|_| ())
            .map_err(|e| gpu.err($op, format!("kernel {} failed to launch: {e:?}", $name)))
    }};
}

pub(crate) mod compare;
pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod index;
pub(crate) mod matmul;
pub(crate) mod matmul_lt;
pub(crate) mod norm;
pub(crate) mod optim;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod resample;
pub(crate) mod rng;
pub(crate) mod scan;
pub(crate) mod shape;
pub(crate) mod softmax;
pub(crate) mod sort;

pub(crate) use elementwise::{binary, cast, contiguous, copy_across, copy_fresh, copy_into, fill, unary};

use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::device::Gpu;
use crate::error::{Error, Result};
use crate::shape::Layout;
use crate::storage::Storage;
use crate::tensor::Tensor;
use std::sync::Arc;

/// A new contiguous tensor over a device buffer.
pub(crate) fn tensor(buf: DeviceBuffer, shape: &[usize]) -> Tensor {
    let dtype = buf.dtype;
    Tensor::from_parts(Arc::new(Storage::new_cuda(buf)), Layout::contiguous(shape), dtype, None)
}

/// The device buffer under a GPU tensor.
pub(crate) fn buffer(t: &Tensor) -> Result<&DeviceBuffer> {
    t.inner.storage.cuda.as_ref().ok_or_else(|| Error::Device {
        op: "cuda",
        msg: format!("expected a tensor on a CUDA device, got one on {}", t.device()),
    })
}

/// The device address of a tensor's element 0 of its storage (kernels add the view's offset).
pub(crate) fn ptr(t: &Tensor) -> Result<u64> {
    Ok(buffer(t)?.ptr())
}

/// The device address of a tensor's first element: its storage's address plus the view's offset.
pub(crate) fn first_elem(t: &Tensor) -> Result<u64> {
    Ok(ptr(t)? + (t.offset() * t.dtype().size_in_bytes()) as u64)
}

pub(crate) fn gpu_of(t: &Tensor) -> Result<&Arc<Gpu>> {
    Ok(&buffer(t)?.gpu)
}

/// CPU kernels read `CpuStorage`; a GPU tensor reaching one means an op without a CUDA branch.
/// That is a bug to report with its location (`track_caller`), not an out-of-bounds read.
#[track_caller]
pub(crate) fn assert_host(t: &Tensor) {
    if t.device().is_cuda() {
        panic!(
            "an op without a CUDA kernel was called on a tensor on {} (at {}); move the tensor to the CPU with \
             `.to(Device::Cpu)` for this op",
            t.device(),
            std::panic::Location::caller()
        );
    }
}

/// A 0-dim CPU tensor meeting a GPU tensor moves to the GPU (PyTorch allows CPU scalars in
/// GPU ops): `Some` with both operands on one device, `None` when nothing moves.
pub(crate) fn scalar_to_device(a: &Tensor, b: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
    if a.device() == b.device() {
        return Ok(None);
    }
    if b.ndim() == 0 && b.device().is_cpu() {
        return Ok(Some((a.clone(), b.to(a.device())?)));
    }
    if a.ndim() == 0 && a.device().is_cpu() {
        return Ok(Some((a.to(b.device())?, b.clone())));
    }
    Ok(None)
}
