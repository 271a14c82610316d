//! Mixed precision (PyTorch's `torch.autocast` and `GradScaler`), on every device.
//!
//! Inside an [`autocast`] scope, matmul and conv2d take f32 inputs in the scope's low-precision
//! dtype (f16 or bf16: tensor cores on a GPU), while softmax, log_softmax, sum and mean take
//! f16/bf16 inputs in f32, so reductions keep their precision. The casts are ordinary
//! differentiable `to_dtype` ops, so gradients reach f32 parameters in f32. The scope is per
//! thread, as in PyTorch.
//!
//! f16 gradients underflow; [`GradScaler`] multiplies the loss by a large factor before
//! `backward`, divides the gradients by it before the optimizer step, skips steps whose
//! gradients overflowed, and adapts the factor.

use crate::dtype::DType;
use crate::error::{arg_err, Result};
use crate::tensor::Tensor;
use std::cell::Cell;

thread_local! {
    static AUTOCAST: Cell<Option<DType>> = const { Cell::new(None) };
}

/// Restores the previous autocast state when dropped.
pub struct AutocastGuard {
    prev: Option<DType>,
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.prev));
    }
}

/// Enter an autocast scope running matmul/conv in `dtype` (F16 or BF16) until the guard drops.
///
/// ```
/// use ember_core::{amp, DType, Tensor};
/// let (a, b) = (Tensor::ones(&[2, 3]), Tensor::ones(&[3, 2]));
/// let y = {
///     let _ac = amp::autocast(DType::BF16).unwrap();
///     a.matmul(&b).unwrap()
/// };
/// assert_eq!(y.dtype(), DType::BF16);
/// assert_eq!(a.matmul(&b).unwrap().dtype(), DType::F32);
/// ```
pub fn autocast(dtype: DType) -> Result<AutocastGuard> {
    if !matches!(dtype, DType::F16 | DType::BF16) {
        return Err(arg_err(
            "autocast",
            format!("autocast runs in f16 or bf16, not {dtype}"),
        ));
    }
    Ok(AutocastGuard {
        prev: AUTOCAST.with(|a| a.replace(Some(dtype))),
    })
}

/// A scope with autocast turned off (for a part of the model that needs f32).
pub fn autocast_disabled() -> AutocastGuard {
    AutocastGuard {
        prev: AUTOCAST.with(|a| a.replace(None)),
    }
}

/// The autocast dtype of this thread, if a scope is active.
pub fn autocast_dtype() -> Option<DType> {
    AUTOCAST.with(|a| a.get())
}

/// For the ops that run in low precision (matmul, conv): `t` in the autocast dtype when a
/// scope is active and `t` is f32; otherwise `t` itself.
pub(crate) fn lower(t: &Tensor) -> Result<Tensor> {
    match autocast_dtype() {
        Some(d) if t.dtype() == DType::F32 => t.to_dtype(d),
        _ => Ok(t.clone()),
    }
}

/// For the ops that keep f32 (reductions, softmax): `t` in f32 when a scope is active and `t`
/// is f16/bf16; otherwise `t` itself.
pub(crate) fn widen(t: &Tensor) -> Result<Option<Tensor>> {
    match autocast_dtype() {
        Some(_) if matches!(t.dtype(), DType::F16 | DType::BF16) => Ok(Some(t.to_dtype(DType::F32)?)),
        _ => Ok(None),
    }
}

/// Loss scaling for f16 training (PyTorch's `torch.amp.GradScaler`, same defaults).
///
/// ```
/// use ember_core::{amp::GradScaler, Tensor};
/// let w = Tensor::ones(&[2]).requires_grad_(true);
/// let mut scaler = GradScaler::new();
/// let loss = w.sum_all();
/// scaler.scale(&loss).unwrap().backward().unwrap();
/// let stepped = scaler.step(&[w.clone()], || Ok(())).unwrap(); // unscales, then steps
/// assert!(stepped);
/// assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
/// scaler.update();
/// ```
#[derive(Debug, Clone)]
pub struct GradScaler {
    scale: f64,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: usize,
    /// Finite steps since the scale last changed.
    good_steps: usize,
    /// Whether the gradients of the current step were unscaled, and whether they overflowed.
    unscaled: Option<bool>,
}

impl Default for GradScaler {
    fn default() -> Self {
        GradScaler::new()
    }
}

impl GradScaler {
    /// Scale 2^16, doubled after 2000 finite steps, halved on an overflow.
    pub fn new() -> GradScaler {
        GradScaler::with_params(65536.0, 2.0, 0.5, 2000)
    }

    pub fn with_params(init_scale: f64, growth_factor: f64, backoff_factor: f64, growth_interval: usize) -> GradScaler {
        GradScaler {
            scale: init_scale,
            growth_factor,
            backoff_factor,
            growth_interval,
            good_steps: 0,
            unscaled: None,
        }
    }

    /// The current scale factor.
    pub fn get_scale(&self) -> f64 {
        self.scale
    }

    /// `loss * scale` (call `backward` on this).
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        loss.mul_scalar(self.scale)
    }

    /// Divide the gradients of `params` by the scale in place (once per step); returns whether
    /// they are all finite. Call it before gradient clipping.
    pub fn unscale_(&mut self, params: &[Tensor]) -> Result<bool> {
        if let Some(finite) = self.unscaled {
            return Ok(finite);
        }
        let inv = 1.0 / self.scale;
        let mut finite = true;
        for p in params {
            if let Some(g) = p.grad() {
                let g = crate::autograd::no_grad_scope(|| g.mul_scalar(inv))?;
                // one flag per tensor, read back once: all elements finite?
                let ok = crate::autograd::no_grad_scope(|| g.isfinite()?.to_dtype(DType::F32)?.amin(&[], false))?;
                finite &= ok.item()? == 1.0 || g.numel() == 0;
                p.set_grad(Some(g));
            }
        }
        self.unscaled = Some(finite);
        Ok(finite)
    }

    /// Unscale (if not done yet) and run `optimizer_step` only when the gradients are finite;
    /// returns whether it ran. Call `update` afterwards.
    pub fn step(&mut self, params: &[Tensor], optimizer_step: impl FnOnce() -> Result<()>) -> Result<bool> {
        let finite = self.unscale_(params)?;
        if finite {
            optimizer_step()?;
        }
        Ok(finite)
    }

    /// Adapt the scale for the next step: back off after an overflow, grow after
    /// `growth_interval` finite steps in a row.
    pub fn update(&mut self) {
        match self.unscaled.take() {
            Some(false) => {
                self.scale *= self.backoff_factor;
                self.good_steps = 0;
            }
            Some(true) => {
                self.good_steps += 1;
                if self.good_steps >= self.growth_interval {
                    self.scale *= self.growth_factor;
                    self.good_steps = 0;
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocast_lowers_matmul_and_keeps_reductions_in_f32() {
        let a = Tensor::randn(&[4, 3]).requires_grad_(true);
        let b = Tensor::randn(&[3, 5]);
        {
            let _ac = autocast(DType::BF16).unwrap();
            let y = a.matmul(&b).unwrap();
            assert_eq!(y.dtype(), DType::BF16);
            assert_eq!(y.softmax(-1).unwrap().dtype(), DType::F32);
            assert_eq!(y.sum_all().dtype(), DType::F32);
            let loss = y.mean_all().unwrap();
            assert_eq!(loss.dtype(), DType::F32);
            loss.backward().unwrap();
            {
                let _off = autocast_disabled();
                assert_eq!(a.matmul(&b).unwrap().dtype(), DType::F32);
            }
            assert_eq!(autocast_dtype(), Some(DType::BF16));
        }
        assert_eq!(autocast_dtype(), None);
        assert_eq!(
            a.grad().unwrap().dtype(),
            DType::F32,
            "the gradient reaches the f32 leaf in f32"
        );
        assert!(autocast(DType::F32).is_err());
    }

    #[test]
    fn grad_scaler_skips_overflowing_steps_and_adapts_the_scale() {
        let w = Tensor::ones(&[2]).requires_grad_(true);
        let mut s = GradScaler::with_params(8.0, 2.0, 0.5, 2);
        // a finite step: gradients unscaled, step taken
        s.scale(&w.sum_all()).unwrap().backward().unwrap();
        let mut ran = false;
        assert!(s
            .step(&[w.clone()], || {
                ran = true;
                Ok(())
            })
            .unwrap());
        assert!(ran);
        assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
        s.update();
        assert_eq!(s.get_scale(), 8.0);
        // an overflow: step skipped, scale halved
        w.set_grad(Some(Tensor::new(&[f32::INFINITY, 1.0])));
        assert!(!s.step(&[w.clone()], || panic!("must not step")).unwrap());
        s.update();
        assert_eq!(s.get_scale(), 4.0);
        // two finite steps in a row: scale doubled
        for _ in 0..2 {
            w.set_grad(Some(Tensor::new(&[1.0f32, 1.0])));
            assert!(s.step(&[w.clone()], || Ok(())).unwrap());
            s.update();
        }
        assert_eq!(s.get_scale(), 8.0);
    }
}
