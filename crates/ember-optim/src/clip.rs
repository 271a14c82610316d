//! Gradient clipping: `clip_grad_norm_` and `clip_grad_value_`, as `torch.nn.utils`.

use ember_core::{no_grad, Error, Result, Tensor};

/// Scale the gradients of `params` so that their joint `norm_type`-norm is at most `max_norm`
/// (`coef = max_norm / (total + 1e-6)`, clamped to 1). Returns the total norm before clipping.
/// With `error_if_nonfinite`, a NaN or infinite total norm is an error.
///
/// The clipped gradients are new tensors (`set_grad`), never written in place: two leaves can
/// share one gradient tensor (the gradient of `a + b`), and scaling it in place would scale
/// both twice.
///
/// ```
/// use ember_core::Tensor;
/// use ember_optim::clip_grad_norm_;
/// let w = Tensor::new(&[0.0f32, 0.0]).requires_grad_(true);
/// w.set_grad(Some(Tensor::new(&[3.0f32, 4.0])));
/// let total = clip_grad_norm_(&[w.clone()], 1.0, 2.0, false).unwrap();
/// assert_eq!(total, 5.0);
/// let g = w.grad().unwrap().to_vec::<f32>().unwrap();
/// assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5);
/// ```
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64, error_if_nonfinite: bool) -> Result<f64> {
    let _g = no_grad();
    let grads: Vec<(Tensor, Tensor)> = params.iter().filter_map(|p| p.grad().map(|g| (p.clone(), g))).collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let norms: Vec<f64> = grads
        .iter()
        .map(|(_, g)| g.norm(norm_type, &[], false)?.item())
        .collect::<Result<_>>()?;
    let total = if norm_type == f64::INFINITY {
        norms.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    } else {
        norms
            .iter()
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    };
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::Arg {
            op: "clip_grad_norm_",
            msg: format!("the total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped"),
        });
    }
    // computed in f32 like PyTorch's clip_coef tensor
    let coef = ((max_norm as f32) / (total as f32 + 1e-6)).min(1.0) as f64;
    for (p, g) in grads {
        p.set_grad(Some(g.mul_scalar(coef)?));
    }
    Ok(total)
}

/// Clamp every gradient of `params` to `[-clip_value, clip_value]`.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) -> Result<()> {
    let _g = no_grad();
    for p in params {
        if let Some(g) = p.grad() {
            p.set_grad(Some(g.clamp(Some(-clip_value), Some(clip_value))?));
        }
    }
    Ok(())
}
