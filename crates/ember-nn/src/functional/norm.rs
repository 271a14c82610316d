//! Normalization functions: layer, batch, group and RMS norm.

use ember_core::{no_grad, Error, Result, Tensor};

fn trailing_dims(op: &'static str, x: &Tensor, normalized_shape: &[usize]) -> Result<Vec<isize>> {
    let k = normalized_shape.len();
    if k == 0 || x.ndim() < k || &x.shape()[x.ndim() - k..] != normalized_shape {
        return Err(Error::Shape {
            op,
            msg: format!("given normalized_shape={normalized_shape:?}, expected input with shape [*, {}], but got input of size {:?}", normalized_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "), x.shape()),
        });
    }
    Ok((-(k as isize)..0).collect())
}

fn affine(y: Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = match weight {
        Some(w) => y.mul(w)?,
        None => y,
    };
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// Normalize over the trailing `normalized_shape` dims: `(x - mean) / sqrt(var + eps) * w + b`
/// with the biased variance, as `torch.nn.functional.layer_norm`. One fused op
/// ([`Tensor::layer_norm`]); `ember_core::ops::layer_norm::layer_norm_composite` is the same
/// function written with elementwise and reduction ops.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::layer_norm;
/// let y = layer_norm(&Tensor::new(&[[1.0f32, 3.0]]), &[2], None, None, 0.0).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, 1.0]);
/// ```
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    x.layer_norm(normalized_shape, weight, bias, eps)
}

/// `x / sqrt(mean(x^2) + eps) * w` over the trailing dims; `eps` defaults to the dtype's
/// machine epsilon, as `torch.nn.functional.rms_norm`.
pub fn rms_norm(x: &Tensor, normalized_shape: &[usize], weight: Option<&Tensor>, eps: Option<f64>) -> Result<Tensor> {
    let dims = trailing_dims("rms_norm", x, normalized_shape)?;
    let eps = eps.unwrap_or(match x.dtype() {
        ember_core::DType::F64 => f64::EPSILON,
        ember_core::DType::F16 => 0.000_976_562_5,
        ember_core::DType::BF16 => 0.007_812_5,
        _ => f32::EPSILON as f64,
    });
    let ms = x.square()?.mean_dims(&dims, true)?;
    affine(x.mul(&ms.add_scalar(eps)?.rsqrt()?)?, weight, None)
}

/// Shape `[1, C, 1, ..]` for broadcasting a per-channel vector against `[N, C, ..]`.
fn channel_shape(x: &Tensor) -> Vec<usize> {
    let mut s = vec![1usize; x.ndim()];
    s[1] = x.shape()[1];
    s
}

/// Batch normalization over every dim but the channel dim 1 (`torch.nn.functional.batch_norm`).
///
/// In training, the batch statistics normalize the input and the running statistics (when
/// given) are updated in place: `running = (1 - momentum) running + momentum batch`, with the
/// unbiased variance. In evaluation the running statistics are used.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "batch_norm";
    if x.ndim() < 2 {
        return Err(Error::Shape {
            op: OP,
            msg: format!(
                "expected an input of at least 2 dims [N, C, ..], got shape {:?}",
                x.shape()
            ),
        });
    }
    let cs = channel_shape(x);
    let c = x.shape()[1];
    for (name, t) in [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(t) = t {
            if t.shape() != [c] {
                return Err(Error::Shape {
                    op: OP,
                    msg: format!(
                        "{name} of shape {:?} does not match {c} channels (input {:?})",
                        t.shape(),
                        x.shape()
                    ),
                });
            }
        }
    }
    let dims: Vec<isize> = (0..x.ndim() as isize).filter(|&d| d != 1).collect();
    let n = x.numel() / c.max(1);
    let (mean, var) = if training {
        if n <= 1 {
            return Err(Error::Arg {
                op: OP,
                msg: format!(
                    "expected more than 1 value per channel when training, got input size {:?}",
                    x.shape()
                ),
            });
        }
        let mean = x.mean_dims(&dims, true)?;
        let var = x.sub(&mean)?.square()?.mean_dims(&dims, true)?;
        if let (Some(rm), Some(rv)) = (running_mean, running_var) {
            let _g = no_grad();
            let bm = mean.reshape_to(&[c])?;
            let bv = var.reshape_to(&[c])?.mul_scalar(n as f64 / (n as f64 - 1.0))?;
            rm.copy_(&rm.mul_scalar(1.0 - momentum)?.add(&bm.mul_scalar(momentum)?)?)?;
            rv.copy_(&rv.mul_scalar(1.0 - momentum)?.add(&bv.mul_scalar(momentum)?)?)?;
        }
        (mean, var)
    } else {
        match (running_mean, running_var) {
            (Some(rm), Some(rv)) => (rm.reshape_to(&cs)?, rv.reshape_to(&cs)?),
            _ => {
                let mean = x.mean_dims(&dims, true)?;
                let var = x.sub(&mean)?.square()?.mean_dims(&dims, true)?;
                (mean, var)
            }
        }
    };
    let y = x.sub(&mean)?.mul(&var.add_scalar(eps)?.rsqrt()?)?;
    let w = weight.map(|w| w.reshape_to(&cs)).transpose()?;
    let b = bias.map(|b| b.reshape_to(&cs)).transpose()?;
    affine(y, w.as_ref(), b.as_ref())
}

/// Group normalization: channels split into `num_groups` groups, each normalized over its
/// channels and spatial positions, then a per-channel affine.
pub fn group_norm(
    x: &Tensor,
    num_groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "group_norm";
    if x.ndim() < 2 || num_groups == 0 || !x.shape()[1].is_multiple_of(num_groups) {
        return Err(Error::Shape {
            op: OP,
            msg: format!(
                "expected an input [N, C, ..] with C divisible by num_groups={num_groups}, got shape {:?}",
                x.shape()
            ),
        });
    }
    let n = x.shape()[0] as isize;
    let xg = x.reshape(&[n, num_groups as isize, -1])?;
    let mean = xg.mean(-1, true)?;
    let xc = xg.sub(&mean)?;
    let var = xc.square()?.mean(-1, true)?;
    let y = xc.mul(&var.add_scalar(eps)?.rsqrt()?)?.reshape_to(x.shape())?;
    let cs = channel_shape(x);
    let w = weight.map(|w| w.reshape_to(&cs)).transpose()?;
    let b = bias.map(|b| b.reshape_to(&cs)).transpose()?;
    affine(y, w.as_ref(), b.as_ref())
}

/// `x / max(||x||_p, eps)` along `dim` (`torch.nn.functional.normalize`).
pub fn normalize(x: &Tensor, p: f64, dim: isize, eps: f64) -> Result<Tensor> {
    let n = x.norm(p, &[dim], true)?.clamp(Some(eps), None)?;
    x.div(&n)
}
