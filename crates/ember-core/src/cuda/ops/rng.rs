//! Random tensors made on the GPU by rng.cu's Philox generator. Each call takes a fresh 64-bit
//! seed from the global generator, so `manual_seed` makes GPU draws reproducible exactly as it
//! does CPU draws (the two devices give different numbers for the same seed, as in PyTorch).

use super::tensor;
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::device::gpu;
use crate::cuda::launch::{grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// Uniform on [a, b) (`normal` false) or normal with mean a and std b (`normal` true).
pub(crate) fn random(ordinal: usize, shape: &[usize], dtype: DType, normal: bool, a: f64, b: f64) -> Result<Tensor> {
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(not_on_cuda("rand", format!("dtype {dtype}")));
    }
    let g = gpu(ordinal)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(&g, dtype, n)?;
    if n > 0 {
        let seed = crate::rng::with_global(|r| r.next_u64());
        let (o, n64, offset) = (out.ptr(), n as i64, 0u64);
        let name = format!(
            "{}_{}",
            if normal { "rand_normal" } else { "rand_uniform" },
            suffix(dtype)
        );
        // rand_<uniform|normal>_<T>(T* out, i64 n, u64 seed, u64 offset, T a, T b)
        if dtype == DType::F32 {
            let (a, b) = (a as f32, b as f32);
            launch!(&g, "rand", name, grid(n), [&o, &n64, &seed, &offset, &a, &b])?;
        } else {
            launch!(&g, "rand", name, grid(n), [&o, &n64, &seed, &offset, &a, &b])?;
        }
    }
    Ok(tensor(out, shape))
}
