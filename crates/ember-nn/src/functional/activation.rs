//! Activation functions and softmax, as in `torch.nn.functional`.

use ember_core::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use ember_core::{no_grad, Result, Tensor};

pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: &Tensor) -> Result<Tensor> {
    hardtanh(x, 0.0, 6.0)
}

pub fn hardtanh(x: &Tensor, min_val: f64, max_val: f64) -> Result<Tensor> {
    x.clamp(Some(min_val), Some(max_val))
}

pub fn leaky_relu(x: &Tensor, negative_slope: f64) -> Result<Tensor> {
    x.leaky_relu(negative_slope)
}

pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    x.elu(alpha)
}

/// How GELU is computed: exactly (`"none"`, PyTorch's default) or with the tanh formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApprox {
    #[default]
    None,
    Tanh,
}

pub fn gelu(x: &Tensor, approximate: GeluApprox) -> Result<Tensor> {
    match approximate {
        GeluApprox::None => x.gelu(),
        GeluApprox::Tanh => x.gelu_tanh(),
    }
}

pub fn silu(x: &Tensor) -> Result<Tensor> {
    x.silu()
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    x.sigmoid()
}

pub fn tanh(x: &Tensor) -> Result<Tensor> {
    x.tanh()
}

/// `log(1 + exp(beta x)) / beta`, linear above `threshold` (PyTorch's defaults: 1, 20).
pub fn softplus(x: &Tensor, beta: f64, threshold: f64) -> Result<Tensor> {
    x.softplus(beta, threshold)
}

/// `log(sigmoid(x))`, computed stably as `-softplus(-x)`.
pub fn logsigmoid(x: &Tensor) -> Result<Tensor> {
    x.neg()?.softplus(1.0, 20.0)?.neg()
}

/// Softmax along `dim`: one recorded op whose gradient is `y * (g - sum(g * y))`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::softmax;
/// let y = softmax(&Tensor::new(&[[0.0f32, 0.0], [0.0, 2f32.ln()]]), 1).unwrap();
/// let v = y.to_vec::<f32>().unwrap();
/// assert!((v[0] - 0.5).abs() < 1e-6 && (v[3] - 2.0 / 3.0).abs() < 1e-6);
/// ```
pub fn softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    let y = {
        let _g = no_grad();
        let m = x.amax(&[dim], true)?;
        let m = m.masked_fill(&m.isinf()?, 0.0)?;
        let e = x.sub(&m)?.exp()?;
        e.div(&e.sum(dim, true)?)?
    };
    if !needs_grad(&[x]) {
        return Ok(y);
    }
    let sx = SavedTensor::new(x);
    let sy = SavedTensor::output(&y);
    Ok(record("softmax", y, &[x], move |_| {
        Box::new(move |g| {
            let y = if is_grad_enabled() {
                softmax(sx.get()?, dim)?
            } else {
                sy.get()?.clone()
            };
            let s = g.mul(&y)?.sum(dim, true)?;
            Ok(vec![Some(g.sub(&s)?.mul(&y)?)])
        })
    }))
}

/// Log-softmax along `dim`: one recorded op whose gradient is `g - softmax * sum(g)`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::log_softmax;
/// let y = log_softmax(&Tensor::new(&[1000.0f32, 1000.0]), 0).unwrap();
/// assert!((y.to_vec::<f32>().unwrap()[0] + 2f32.ln()).abs() < 1e-6);
/// ```
pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    let y = {
        let _g = no_grad();
        // (x - max) - log(sum(exp(x - max))), as PyTorch: exact for large equal logits
        let m = x.amax(&[dim], true)?;
        let m = m.masked_fill(&m.isinf()?, 0.0)?;
        let shifted = x.sub(&m)?;
        shifted.sub(&shifted.exp()?.sum(dim, true)?.log()?)?
    };
    if !needs_grad(&[x]) {
        return Ok(y);
    }
    let sx = SavedTensor::new(x);
    let sy = SavedTensor::output(&y);
    Ok(record("log_softmax", y, &[x], move |_| {
        Box::new(move |g| {
            let y = if is_grad_enabled() {
                log_softmax(sx.get()?, dim)?
            } else {
                sy.get()?.clone()
            };
            let s = g.sum(dim, true)?;
            Ok(vec![Some(g.sub(&y.exp()?.mul(&s)?)?)])
        })
    }))
}

/// `softmax(-x)`.
pub fn softmin(x: &Tensor, dim: isize) -> Result<Tensor> {
    softmax(&x.neg()?, dim)
}
