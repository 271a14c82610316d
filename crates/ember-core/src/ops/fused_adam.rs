//! One Adam/AdamW step of one parameter as a single pass over its elements, on the CPU and on
//! a GPU: the update `torch.optim.Adam(W)` makes, for f32 parameters with contiguous state.
//! ember-optim's composite Tensor-op update is the reference it is tested against; this op is
//! the fast path (one pass on the CPU; on a GPU one kernel per parameter instead of ~10
//! launches and temporaries, the role PyTorch's `_fused_adam_` / foreach kernels play; the GPU
//! kernel is opt-in for now, see `cuda/ops/optim.rs`).

use crate::error::Result;
use crate::tensor::Tensor;

/// The scalars of one Adam step, already folded from the hyper-parameters and the step count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// `1 - lr * weight_decay` for decoupled (AdamW) decay, applied to the parameter first.
    pub decay_factor: Option<f32>,
    /// Coupled (L2) weight decay added to the gradient (Adam's `weight_decay`); 0 for AdamW.
    pub l2: f32,
    /// Ascend instead of descend.
    pub maximize: bool,
    /// `1 - beta1` (computed in f64 by the caller, then rounded once).
    pub one_minus_beta1: f32,
    pub beta2: f32,
    /// `1 - beta2`.
    pub one_minus_beta2: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
}

impl AdamStep {
    /// The update of one element: `o = [param, exp_avg, exp_avg_sq, (max_exp_avg_sq)]`, `g` its
    /// gradient. The GPU kernel (`cuda/kernels/optim.cu`) does the same arithmetic in the same
    /// order.
    #[inline(always)]
    fn apply(&self, o: &mut [f32], g: f32) {
        if let Some(f) = self.decay_factor {
            o[0] *= f;
        }
        let mut d = if self.maximize { -g } else { g };
        if self.l2 != 0.0 {
            d += self.l2 * o[0];
        }
        o[1] += self.one_minus_beta1 * (d - o[1]);
        o[2] = o[2] * self.beta2 + self.one_minus_beta2 * d * d;
        let second = if o.len() == 4 {
            o[3] = o[3].max(o[2]);
            o[3]
        } else {
            o[2]
        };
        let denom = second.sqrt() / self.bias_correction2_sqrt + self.eps;
        o[0] += -self.step_size * o[1] / denom;
    }
}

impl Tensor {
    /// One Adam step of `param` in place (with its state `exp_avg`, `exp_avg_sq` and, for
    /// amsgrad, `max_exp_avg_sq`) from `grad`, in one pass. Returns `Ok(false)` and changes
    /// nothing where the fused path does not apply (not f32, shapes differ, not contiguous,
    /// aliased, or tensors on different devices): the caller then runs the composite update.
    /// Call it under `no_grad`, as optimizers do.
    pub fn adam_step_(
        param: &Tensor,
        grad: &Tensor,
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        max_exp_avg_sq: Option<&Tensor>,
        step: &AdamStep,
    ) -> Result<bool> {
        #[cfg(feature = "cuda")]
        if param.device().is_cuda() {
            return crate::cuda::ops::optim::adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step);
        }
        match max_exp_avg_sq {
            Some(vm) => Tensor::fused_update_f32([param, exp_avg, exp_avg_sq, vm], [grad], |o, i| step.apply(o, i[0])),
            None => Tensor::fused_update_f32([param, exp_avg, exp_avg_sq], [grad], |o, i| step.apply(o, i[0])),
        }
    }
}
