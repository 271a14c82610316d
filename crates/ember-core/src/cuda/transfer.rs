//! `Tensor::to(device)`: copies between the CPU and GPUs, differentiable (the gradient goes back
//! to the source device), present in every build (a CUDA target errors where none is usable).

use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

impl Tensor {
    /// This tensor on `device` (`self` when it is already there), as `x.to(device)` in PyTorch.
    ///
    /// ```
    /// use ember_core::{Device, Tensor};
    /// let x = Tensor::new(&[1.0f32, 2.0]);
    /// assert!(x.to(Device::Cpu).unwrap().same_tensor(&x));
    /// // with no GPU (or no `cuda` feature) this is an error, never a crash
    /// if !ember_core::cuda::is_available() {
    ///     let e = x.to(Device::cuda(0)).unwrap_err().to_string();
    ///     assert!(e.contains("no CUDA driver found"), "{e}");
    /// }
    /// ```
    pub fn to(&self, device: impl Into<Device>) -> Result<Tensor> {
        let device = device.into();
        if device == self.device() {
            return Ok(self.clone());
        }
        device.check_available("to")?;
        let out = self.copy_to_device(device)?;
        let src = self.device();
        Ok(crate::autograd::record("to", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.to(src)?)]))
        }))
    }

    /// Alias of [`to`](Tensor::to).
    pub fn to_device(&self, device: impl Into<Device>) -> Result<Tensor> {
        self.to(device)
    }

    /// Shorthands as in PyTorch.
    pub fn cuda(&self) -> Result<Tensor> {
        self.to(Device::Cuda(0))
    }

    pub fn cpu(&self) -> Result<Tensor> {
        self.to(Device::Cpu)
    }

    #[cfg(feature = "cuda")]
    fn copy_to_device(&self, device: Device) -> Result<Tensor> {
        use crate::cuda::buffer::DeviceBuffer;
        match (self.device(), device) {
            (Device::Cpu, Device::Cuda(i)) => {
                let host = self.contiguous_data();
                let data = {
                    let g = host.read();
                    match host.layout().contiguous_range() {
                        Some(r) if r.start == 0 && r.end == g.len() => DeviceBuffer::upload(i, &g)?,
                        _ => DeviceBuffer::upload(i, &crate::cpu::copy::strided_copy(&host))?,
                    }
                };
                Ok(crate::cuda::ops::tensor(data, self.shape()))
            }
            (Device::Cuda(_), Device::Cpu) => {
                let c = crate::cuda::ops::contiguous(self)?;
                let host = crate::cuda::ops::buffer(&c)?.download()?;
                Ok(Tensor::from_storage(host, self.shape()))
            }
            // GPU to GPU goes through the host: simple and correct; peer copies can come later
            (Device::Cuda(_), Device::Cuda(_)) => self.copy_to_device(Device::Cpu)?.copy_to_device(device),
            (Device::Cpu, Device::Cpu) => Ok(self.clone()),
        }
    }

    #[cfg(not(feature = "cuda"))]
    fn copy_to_device(&self, _device: Device) -> Result<Tensor> {
        // unreachable in practice: check_available refused every non-CPU device above
        Ok(self.clone())
    }
}
