//! Launcher of the fused optimizer kernels (optim.cu), opt-in with `cuda::set_fused_adam(true)`.
//!
//! The GPU session that measured W6 found AdamW's composite update (about ten launches per
//! parameter) at 1.3 ms of a 3.3 ms step, against 0.55 ms for PyTorch's multi-tensor kernels.
//! This kernel was written after that session's GPU time ended: it compiles (NVRTC, in CI) and
//! its CPU twin (`AdamStep::apply`) is tested, but it has not run on a GPU yet, so it stays off
//! until `fused_adam_step_matches_cpu` (tests/cuda_device.rs) has passed on one.

use super::{first_elem, gpu_of};
use crate::cuda::launch::grid;
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::fused_adam::AdamStep;
use crate::tensor::Tensor;
use cudarc::driver::DeviceRepr;

/// `struct AdamArgs` of optim.cu.
#[repr(C)]
#[derive(Clone, Copy)]
struct AdamArgs {
    decay_factor: f32,
    l2: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    step_size: f32,
    decay: i32,
    maximize: i32,
}

// SAFETY: plain old data with the C layout optim.cu declares.
unsafe impl DeviceRepr for AdamArgs {}

/// See `Tensor::adam_step_`: `Ok(false)` where the kernel does not apply.
pub(crate) fn adam_step(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    vmax: Option<&Tensor>,
    step: &AdamStep,
) -> Result<bool> {
    if !crate::cuda::fused_adam() {
        return Ok(false);
    }
    let all: Vec<&Tensor> = [p, g, m, v].into_iter().chain(vmax).collect();
    let fits =
        |t: &Tensor| t.dtype() == DType::F32 && t.shape() == p.shape() && t.is_contiguous() && t.device() == p.device();
    let aliased = all
        .iter()
        .enumerate()
        .any(|(i, t)| all[..i].iter().any(|u| u.shares_storage(t)));
    if !all.iter().all(|t| fits(t)) || aliased {
        return Ok(false);
    }
    for t in [p, m, v].into_iter().chain(vmax) {
        t.check_inplace("adam_step_")?;
    }
    let n = p.numel();
    if n == 0 {
        return Ok(true);
    }
    let gpu = gpu_of(p)?;
    let args = AdamArgs {
        decay_factor: step.decay_factor.unwrap_or(1.0),
        l2: step.l2,
        one_minus_beta1: step.one_minus_beta1,
        beta2: step.beta2,
        one_minus_beta2: step.one_minus_beta2,
        bias_correction2_sqrt: step.bias_correction2_sqrt,
        eps: step.eps,
        step_size: step.step_size,
        decay: i32::from(step.decay_factor.is_some()),
        maximize: i32::from(step.maximize),
    };
    let (pp, mp, vp, gp) = (first_elem(p)?, first_elem(m)?, first_elem(v)?, first_elem(g)?);
    let vmp = vmax.map(first_elem).transpose()?.unwrap_or(0);
    let n64 = n as i64;
    // adam_f32(float* p, float* m, float* v, float* vmax, const float* g, i64 n, AdamArgs a)
    launch!(
        gpu,
        "adam_step_",
        "adam_f32",
        grid(n),
        [&pp, &mp, &vp, &vmp, &gp, &n64, &args]
    )?;
    for t in [p, m, v].into_iter().chain(vmax) {
        t.bump_version();
    }
    Ok(true)
}
