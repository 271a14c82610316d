//! Every activation as a module, each a thin wrapper over `functional`.

use crate::functional::{self as F, GeluApprox};
use crate::module::Module;
use ember_core::{Result, Tensor};

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Result<Tensor> {
                $body
            }
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ReLU, |x| x.relu());
activation!(
    /// `min(max(x, 0), 6)`.
    ReLU6, |x| F::relu6(x));
activation!(
    /// `x * sigmoid(x)` (also called swish).
    SiLU, |x| x.silu());
activation!(
    /// `1 / (1 + exp(-x))`.
    Sigmoid, |x| x.sigmoid());
activation!(
    /// `tanh(x)`.
    Tanh, |x| x.tanh());
activation!(
    /// `log(sigmoid(x))`.
    LogSigmoid, |x| F::logsigmoid(x));

/// `x` where positive, `negative_slope * x` elsewhere (default slope 0.01).
#[derive(Debug, Clone, Copy)]
pub struct LeakyReLU {
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU { negative_slope: 0.01 }
    }
}

impl LeakyReLU {
    pub fn new(negative_slope: f64) -> LeakyReLU {
        LeakyReLU { negative_slope }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.leaky_relu(self.negative_slope)
    }
    fn extra_repr(&self) -> String {
        format!("negative_slope={}", self.negative_slope)
    }
}

/// `x` where positive, `alpha * (exp(x) - 1)` elsewhere (default alpha 1).
#[derive(Debug, Clone, Copy)]
pub struct ELU {
    pub alpha: f64,
}

impl Default for ELU {
    fn default() -> Self {
        ELU { alpha: 1.0 }
    }
}

impl ELU {
    pub fn new(alpha: f64) -> ELU {
        ELU { alpha }
    }
}

impl Module for ELU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.elu(self.alpha)
    }
}

/// Gaussian error linear unit, exact by default (`approximate="none"`) or with tanh.
#[derive(Debug, Clone, Copy, Default)]
pub struct GELU {
    pub approximate: GeluApprox,
}

impl GELU {
    pub fn new(approximate: GeluApprox) -> GELU {
        GELU { approximate }
    }
}

impl Module for GELU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::gelu(x, self.approximate)
    }
}

/// `log(1 + exp(beta x)) / beta`, linear above `threshold` (defaults 1 and 20).
#[derive(Debug, Clone, Copy)]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}

impl Softplus {
    pub fn new(beta: f64, threshold: f64) -> Softplus {
        Softplus { beta, threshold }
    }
}

impl Module for Softplus {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.softplus(self.beta, self.threshold)
    }
}

/// Softmax along `dim`.
#[derive(Debug, Clone, Copy)]
pub struct Softmax {
    pub dim: isize,
}

impl Softmax {
    pub fn new(dim: isize) -> Softmax {
        Softmax { dim }
    }
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::softmax(x, self.dim)
    }
}

/// Log-softmax along `dim`.
#[derive(Debug, Clone, Copy)]
pub struct LogSoftmax {
    pub dim: isize,
}

impl LogSoftmax {
    pub fn new(dim: isize) -> LogSoftmax {
        LogSoftmax { dim }
    }
}

impl Module for LogSoftmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::log_softmax(x, self.dim)
    }
}
