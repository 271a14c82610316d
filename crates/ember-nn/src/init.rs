//! Parameter initializers mirroring `torch.nn.init`. Each fills a tensor in place (under
//! `no_grad`, so it works on parameters) from the global generator seeded by
//! `ember_core::manual_seed`, and uses PyTorch's formulas for fans and gains.
//!
//! ```
//! use ember_core::{manual_seed, Tensor};
//! use ember_nn::init::{self, FanMode, Nonlinearity};
//! manual_seed(0);
//! let w = Tensor::zeros(&[64, 32]);
//! init::kaiming_uniform_(&w, 0.0, FanMode::FanIn, Nonlinearity::Relu).unwrap();
//! let bound = (6.0f32 / 32.0).sqrt();
//! assert!(w.to_vec::<f32>().unwrap().iter().all(|v| v.abs() <= bound));
//! ```

use ember_core::{no_grad, Error, Result, Tensor};

/// The nonlinearities `calculate_gain` knows (PyTorch's names in `Nonlinearity::parse`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nonlinearity {
    Linear,
    Conv,
    Sigmoid,
    Tanh,
    Relu,
    /// Leaky ReLU; the slope is the `param` of `calculate_gain` (0.01 when `None`).
    LeakyRelu,
    Selu,
}

impl Nonlinearity {
    /// Parse PyTorch's names: "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", ...,
    /// "sigmoid", "tanh", "relu", "leaky_relu", "selu".
    pub fn parse(name: &str) -> Result<Nonlinearity> {
        Ok(match name {
            "linear" | "identity" => Nonlinearity::Linear,
            "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d" => {
                Nonlinearity::Conv
            }
            "sigmoid" => Nonlinearity::Sigmoid,
            "tanh" => Nonlinearity::Tanh,
            "relu" => Nonlinearity::Relu,
            "leaky_relu" => Nonlinearity::LeakyRelu,
            "selu" => Nonlinearity::Selu,
            _ => {
                return Err(Error::Arg {
                    op: "calculate_gain",
                    msg: format!("unsupported nonlinearity {name}"),
                })
            }
        })
    }
}

/// Which fan kaiming init preserves: the forward pass's variance (`FanIn`) or the backward's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

/// The recommended gain for a nonlinearity (`torch.nn.init.calculate_gain`); `param` is the
/// negative slope for leaky ReLU.
///
/// ```
/// use ember_nn::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu, None), 2f64.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::Tanh, None), 5.0 / 3.0);
/// ```
pub fn calculate_gain(nl: Nonlinearity, param: Option<f64>) -> f64 {
    match nl {
        Nonlinearity::Linear | Nonlinearity::Conv | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu => {
            let s = param.unwrap_or(0.01);
            (2.0 / (1.0 + s * s)).sqrt()
        }
        Nonlinearity::Selu => 3.0 / 4.0,
    }
}

/// `(fan_in, fan_out)` of a weight: dims 1 and 0 times the receptive field (the product of the
/// remaining dims), as `torch.nn.init._calculate_fan_in_and_fan_out`.
pub fn calculate_fan_in_and_fan_out(t: &Tensor) -> Result<(usize, usize)> {
    if t.ndim() < 2 {
        return Err(Error::Arg {
            op: "init",
            msg: format!(
                "fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape {:?})",
                t.shape()
            ),
        });
    }
    let receptive: usize = t.shape()[2..].iter().product();
    Ok((t.shape()[1] * receptive, t.shape()[0] * receptive))
}

fn fan(t: &Tensor, mode: FanMode) -> Result<usize> {
    let (i, o) = calculate_fan_in_and_fan_out(t)?;
    Ok(match mode {
        FanMode::FanIn => i,
        FanMode::FanOut => o,
    })
}

/// Fill with U(low, high).
pub fn uniform_(t: &Tensor, low: f64, high: f64) -> Result<()> {
    let _g = no_grad();
    t.uniform_(low, high)
}

/// Fill with N(mean, std^2).
pub fn normal_(t: &Tensor, mean: f64, std: f64) -> Result<()> {
    let _g = no_grad();
    t.normal_(mean, std)
}

/// Fill with N(mean, std^2) truncated to [a, b] (redrawing values outside).
pub fn trunc_normal_(t: &Tensor, mean: f64, std: f64, a: f64, b: f64) -> Result<()> {
    if a >= b {
        return Err(Error::Arg {
            op: "trunc_normal_",
            msg: format!("empty interval [{a}, {b}]"),
        });
    }
    let n = t.numel();
    let mut v = Vec::with_capacity(n);
    ember_core::rng::with_global(|g| {
        while v.len() < n {
            let x = mean + std * g.normal();
            if (a..=b).contains(&x) {
                v.push(x);
            }
        }
    });
    let _g = no_grad();
    t.copy_(&Tensor::from_vec(v, t.shape())?)
}

pub fn constant_(t: &Tensor, value: f64) -> Result<()> {
    let _g = no_grad();
    t.fill_(value)
}

pub fn zeros_(t: &Tensor) -> Result<()> {
    constant_(t, 0.0)
}

pub fn ones_(t: &Tensor) -> Result<()> {
    constant_(t, 1.0)
}

/// Xavier/Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
pub fn xavier_uniform_(t: &Tensor, gain: f64) -> Result<()> {
    let (i, o) = calculate_fan_in_and_fan_out(t)?;
    let std = gain * (2.0 / (i + o) as f64).sqrt();
    let a = 3f64.sqrt() * std;
    uniform_(t, -a, a)
}

/// Xavier/Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
pub fn xavier_normal_(t: &Tensor, gain: f64) -> Result<()> {
    let (i, o) = calculate_fan_in_and_fan_out(t)?;
    normal_(t, 0.0, gain * (2.0 / (i + o) as f64).sqrt())
}

/// Alias of [`xavier_uniform_`].
pub fn glorot_uniform_(t: &Tensor, gain: f64) -> Result<()> {
    xavier_uniform_(t, gain)
}

/// Alias of [`xavier_normal_`].
pub fn glorot_normal_(t: &Tensor, gain: f64) -> Result<()> {
    xavier_normal_(t, gain)
}

fn kaiming_std(t: &Tensor, a: f64, mode: FanMode, nl: Nonlinearity) -> Result<f64> {
    let f = fan(t, mode)?;
    if f == 0 {
        return Err(Error::Arg {
            op: "kaiming init",
            msg: format!("cannot initialize a tensor with zero elements (shape {:?})", t.shape()),
        });
    }
    Ok(calculate_gain(nl, Some(a)) / (f as f64).sqrt())
}

/// Kaiming/He uniform: U(-b, b) with b = gain * sqrt(3 / fan). `a` is the leaky ReLU slope
/// (used only with `Nonlinearity::LeakyRelu`, as in PyTorch).
pub fn kaiming_uniform_(t: &Tensor, a: f64, mode: FanMode, nl: Nonlinearity) -> Result<()> {
    let bound = 3f64.sqrt() * kaiming_std(t, a, mode, nl)?;
    uniform_(t, -bound, bound)
}

/// Kaiming/He normal: N(0, std^2) with std = gain / sqrt(fan).
pub fn kaiming_normal_(t: &Tensor, a: f64, mode: FanMode, nl: Nonlinearity) -> Result<()> {
    normal_(t, 0.0, kaiming_std(t, a, mode, nl)?)
}

/// Alias of [`kaiming_uniform_`].
pub fn he_uniform_(t: &Tensor, a: f64, mode: FanMode, nl: Nonlinearity) -> Result<()> {
    kaiming_uniform_(t, a, mode, nl)
}

/// Alias of [`kaiming_normal_`].
pub fn he_normal_(t: &Tensor, a: f64, mode: FanMode, nl: Nonlinearity) -> Result<()> {
    kaiming_normal_(t, a, mode, nl)
}

/// The default init of PyTorch's Linear and Conv weights: `kaiming_uniform_(a = sqrt(5))`,
/// which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
pub fn default_weight_(t: &Tensor) -> Result<()> {
    kaiming_uniform_(t, 5f64.sqrt(), FanMode::FanIn, Nonlinearity::LeakyRelu)
}

/// The default init of PyTorch's Linear and Conv biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
pub fn default_bias_(bias: &Tensor, fan_in: usize) -> Result<()> {
    let bound = if fan_in > 0 { 1.0 / (fan_in as f64).sqrt() } else { 0.0 };
    uniform_(bias, -bound, bound)
}

/// A (semi-)orthogonal matrix scaled by `gain` (`torch.nn.init.orthogonal_`): the Q factor of
/// a Gaussian matrix, with R's diagonal made positive so the result is uniformly distributed.
/// Dims after the first are flattened.
pub fn orthogonal_(t: &Tensor, gain: f64) -> Result<()> {
    if t.ndim() < 2 {
        return Err(Error::Arg {
            op: "orthogonal_",
            msg: format!(
                "only tensors with 2 or more dimensions are supported (shape {:?})",
                t.shape()
            ),
        });
    }
    let rows = t.shape()[0];
    let cols = t.numel() / rows.max(1);
    let g = Tensor::randn(&[rows, cols]).to_vec::<f64>()?;
    // Work on the tall orientation (m >= n): columns of `a` are orthonormalized.
    let (m, n, transposed) = if rows < cols {
        (cols, rows, true)
    } else {
        (rows, cols, false)
    };
    let at = |i: usize, j: usize| if transposed { g[j * cols + i] } else { g[i * cols + j] };
    let mut q: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| at(i, j)).collect()).collect();
    // Modified Gram-Schmidt, twice for numerical orthogonality; R's diagonal is then positive,
    // which is exactly the sign fix torch applies to its QR.
    for j in 0..n {
        for _ in 0..2 {
            for k in 0..j {
                let (done, rest) = q.split_at_mut(j);
                let d: f64 = done[k].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
                for (x, y) in rest[0].iter_mut().zip(&done[k]) {
                    *x -= d * y;
                }
            }
        }
        let norm = q[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        for x in q[j].iter_mut() {
            *x /= norm;
        }
    }
    let mut out = vec![0.0f64; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[r * cols + c] = gain * if transposed { q[r][c] } else { q[c][r] };
        }
    }
    let _g = no_grad();
    t.copy_(&Tensor::from_vec(out, &[rows, cols])?.reshape_to(t.shape())?)
}

/// The identity matrix (for 2-D tensors), as `torch.nn.init.eye_`.
pub fn eye_(t: &Tensor) -> Result<()> {
    if t.ndim() != 2 {
        return Err(Error::Arg {
            op: "eye_",
            msg: format!("only 2-D tensors are supported (shape {:?})", t.shape()),
        });
    }
    let (r, c) = (t.shape()[0], t.shape()[1]);
    let v: Vec<f64> = (0..r * c).map(|k| if k / c == k % c { 1.0 } else { 0.0 }).collect();
    let _g = no_grad();
    t.copy_(&Tensor::from_vec(v, &[r, c])?)
}
