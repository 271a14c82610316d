//! Activation functions and softmax, as in `torch.nn.functional`.

use ember_core::{Result, Tensor};

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

/// Softmax along `dim` (core's fused primitive).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::softmax;
/// let y = softmax(&Tensor::new(&[[0.0f32, 0.0], [0.0, 2f32.ln()]]), 1).unwrap();
/// let v = y.to_vec::<f32>().unwrap();
/// assert!((v[0] - 0.5).abs() < 1e-6 && (v[3] - 2.0 / 3.0).abs() < 1e-6);
/// ```
pub fn softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    x.softmax(dim)
}

/// Log-softmax along `dim` (core's fused primitive), exact for large equal logits.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::log_softmax;
/// let y = log_softmax(&Tensor::new(&[1000.0f32, 1000.0]), 0).unwrap();
/// assert!((y.to_vec::<f32>().unwrap()[0] + 2f32.ln()).abs() < 1e-6);
/// ```
pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    x.log_softmax(dim)
}

/// `softmax(-x)`.
pub fn softmin(x: &Tensor, dim: isize) -> Result<Tensor> {
    softmax(&x.neg()?, dim)
}
