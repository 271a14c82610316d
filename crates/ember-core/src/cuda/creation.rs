//! Creating tensors directly on a device (no host buffer and no copy for a GPU), present in
//! every build: `Tensor::zeros_on(&[2, 3], DType::F32, Device::cuda(0))`.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

impl Tensor {
    /// A tensor of `shape` filled with `value`, made on `device`.
    pub fn full_on(shape: &[usize], value: f64, dtype: DType, device: impl Into<Device>) -> Result<Tensor> {
        let device = device.into();
        device.check_available("full_on")?;
        match device {
            Device::Cpu => Tensor::full_dtype(shape, value, dtype),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => crate::cuda::ops::fill(i, dtype, shape, value),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("check_available refused it"),
        }
    }

    pub fn zeros_on(shape: &[usize], dtype: DType, device: impl Into<Device>) -> Result<Tensor> {
        Tensor::full_on(shape, 0.0, dtype, device)
    }

    pub fn ones_on(shape: &[usize], dtype: DType, device: impl Into<Device>) -> Result<Tensor> {
        Tensor::full_on(shape, 1.0, dtype, device)
    }

    /// Uniform on [0, 1) (f32), drawn on `device` from the global generator's seed.
    pub fn rand_on(shape: &[usize], device: impl Into<Device>) -> Result<Tensor> {
        Tensor::random_on(shape, device, false)
    }

    /// Standard normal (f32), drawn on `device` from the global generator's seed.
    pub fn randn_on(shape: &[usize], device: impl Into<Device>) -> Result<Tensor> {
        Tensor::random_on(shape, device, true)
    }

    fn random_on(shape: &[usize], device: impl Into<Device>, normal: bool) -> Result<Tensor> {
        let device = device.into();
        device.check_available(if normal { "randn_on" } else { "rand_on" })?;
        match device {
            Device::Cpu if normal => Ok(Tensor::randn(shape)),
            Device::Cpu => Ok(Tensor::rand(shape)),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => crate::cuda::ops::rng::random(i, shape, DType::F32, normal, 0.0, 1.0),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("check_available refused it"),
        }
    }
}
