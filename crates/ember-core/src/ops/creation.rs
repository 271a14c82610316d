//! Creating tensors: constants, ranges, identity, random.

use crate::dtype::DType;
use crate::error::{arg_err, Result};
use crate::rng::{with_global, Generator};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

impl Tensor {
    /// f32 zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::from_storage(CpuStorage::zeros(DType::F32, shape.iter().product()), shape)
    }

    /// f32 ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// An f32 tensor filled with `value`.
    pub fn full(shape: &[usize], value: f64) -> Tensor {
        Tensor::from_storage(CpuStorage::full(DType::F32, shape.iter().product(), value), shape)
    }

    pub fn zeros_dtype(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Ok(Tensor::from_storage(
            CpuStorage::zeros(dtype, shape.iter().product()),
            shape,
        ))
    }

    pub fn ones_dtype(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full_dtype(shape, 1.0, dtype)
    }

    pub fn full_dtype(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        Ok(Tensor::from_storage(
            CpuStorage::full(dtype, shape.iter().product(), value),
            shape,
        ))
    }

    /// Zeros of the same shape and dtype.
    pub fn zeros_like(t: &Tensor) -> Tensor {
        Tensor::full_like(t, 0.0)
    }

    pub fn ones_like(t: &Tensor) -> Tensor {
        Tensor::full_like(t, 1.0)
    }

    /// On `t`'s device (the autograd engine seeds a GPU loss's gradient with `ones_like`).
    pub fn full_like(t: &Tensor, value: f64) -> Tensor {
        #[cfg(feature = "cuda")]
        if let crate::Device::Cuda(i) = t.device() {
            return crate::cuda::ops::fill(i, t.dtype(), t.shape(), value).expect("full_like on the GPU: fill failed");
        }
        Tensor::from_storage(CpuStorage::full(t.dtype(), t.numel(), value), t.shape())
    }

    /// `[start, start + step, ...)` up to `end` (exclusive). Integer arguments give i64 (as
    /// `torch.arange(5)`), fractional ones f32.
    pub fn arange(start: f64, end: f64, step: f64) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() {
            return Err(arg_err(
                "arange",
                format!("step must be finite and non-zero, got {step}"),
            ));
        }
        if (end - start) / step < 0.0 {
            return Err(arg_err(
                "arange",
                format!("upper bound {end} and step {step} are inconsistent with start {start}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let all_int = start.fract() == 0.0 && end.fract() == 0.0 && step.fract() == 0.0;
        Ok(if all_int {
            Tensor::from_storage(
                CpuStorage::I64((0..n).map(|i| start as i64 + i as i64 * step as i64).collect()),
                &[n],
            )
        } else {
            Tensor::from_storage(
                CpuStorage::F32((0..n).map(|i| (start + i as f64 * step) as f32).collect()),
                &[n],
            )
        })
    }

    /// `steps` evenly spaced f32 values from `start` to `end` inclusive.
    pub fn linspace(start: f64, end: f64, steps: usize) -> Tensor {
        let v: Vec<f32> = (0..steps)
            .map(|i| {
                if steps == 1 {
                    start as f32
                } else {
                    // PyTorch fills the first half from start and the second from end
                    let step = (end - start) / (steps - 1) as f64;
                    if i < steps / 2 {
                        (start + step * i as f64) as f32
                    } else {
                        (end - step * (steps - 1 - i) as f64) as f32
                    }
                }
            })
            .collect();
        Tensor::from_storage(CpuStorage::F32(v), &[steps])
    }

    /// The n x n identity (f32).
    pub fn eye(n: usize) -> Tensor {
        let mut v = vec![0f32; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_storage(CpuStorage::F32(v), &[n, n])
    }

    /// Uniform [0, 1) f32 from the global generator.
    pub fn rand(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::rand_with(shape, g))
    }

    /// Standard normal f32 from the global generator.
    pub fn randn(shape: &[usize]) -> Tensor {
        with_global(|g| Tensor::randn_with(shape, g))
    }

    pub fn rand_with(shape: &[usize], g: &mut Generator) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_storage(CpuStorage::F32((0..n).map(|_| g.uniform() as f32).collect()), shape)
    }

    pub fn randn_with(shape: &[usize], g: &mut Generator) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_storage(CpuStorage::F32((0..n).map(|_| g.normal() as f32).collect()), shape)
    }

    /// Uniform integers in [low, high) as i64.
    pub fn randint(low: i64, high: i64, shape: &[usize]) -> Result<Tensor> {
        if high <= low {
            return Err(arg_err(
                "randint",
                format!("high ({high}) must be greater than low ({low})"),
            ));
        }
        let n = shape.iter().product();
        Ok(with_global(|g| {
            Tensor::from_storage(CpuStorage::I64((0..n).map(|_| g.int_range(low, high)).collect()), shape)
        }))
    }

    /// Draw 0/1 with probability given by each element of `self` (a float tensor in [0, 1]).
    pub fn bernoulli(&self) -> Result<Tensor> {
        let p = self.to_vec::<f64>()?;
        if let Some(bad) = p.iter().find(|&&x| !(0.0..=1.0).contains(&x)) {
            return Err(arg_err(
                "bernoulli",
                format!("probabilities must be in [0, 1], got {bad}"),
            ));
        }
        let v: Vec<f64> = with_global(|g| p.iter().map(|&q| (g.uniform() < q) as u8 as f64).collect());
        Tensor::from_vec(v, self.shape())?
            .to_dtype(self.dtype().to_float())?
            .to(self.device())
    }

    /// Random permutation of 0..n as i64.
    pub fn randperm(n: usize) -> Tensor {
        let p = with_global(|g| g.permutation(n));
        Tensor::from_storage(CpuStorage::I64(p.into_iter().map(|x| x as i64).collect()), &[n])
    }

    /// Fill with uniform values in [low, high) in place (init helpers use this under no_grad).
    pub fn uniform_(&self, low: f64, high: f64) -> Result<()> {
        let n = self.numel();
        let v: Vec<f64> = with_global(|g| (0..n).map(|_| low + (high - low) * g.uniform()).collect());
        self.copy_(&Tensor::from_vec(v, self.shape())?)
    }

    /// Fill with normal values in place.
    pub fn normal_(&self, mean: f64, std: f64) -> Result<()> {
        let n = self.numel();
        let v: Vec<f64> = with_global(|g| (0..n).map(|_| mean + std * g.normal()).collect());
        self.copy_(&Tensor::from_vec(v, self.shape())?)
    }
}
