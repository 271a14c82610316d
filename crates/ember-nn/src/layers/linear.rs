//! `Linear`, `Bilinear`, `Identity`, `Flatten`.

use crate::functional as F;
use crate::init;
use crate::module::{Module, Visitor};
use crate::parameter::Parameter;
use ember_core::{Error, Result, Tensor};

/// `y = x W^T + b` (`torch.nn.Linear`): weight `[out, in]` and bias `[out]`, both initialized
/// U(-1/sqrt(in), 1/sqrt(in)) as in PyTorch.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Linear, Module};
/// let fc = Linear::new(3, 2);
/// assert_eq!(fc.forward(&Tensor::ones(&[5, 3])).unwrap().shape(), &[5, 2]);
/// assert_eq!(fc.num_parameters(), 8);
/// ```
pub struct Linear {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Linear::with_bias(in_features, out_features, true)
    }

    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Linear {
        let w = Tensor::zeros(&[out_features, in_features]);
        if in_features > 0 {
            init::default_weight_(&w).expect("init of a fresh 2-D tensor");
        }
        let b = bias.then(|| {
            let b = Tensor::zeros(&[out_features]);
            init::default_bias_(&b, in_features).expect("init of a fresh tensor");
            Parameter::new(b)
        });
        Linear {
            weight: Parameter::new(w),
            bias: b,
            in_features,
            out_features,
        }
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        F::linear(x, &self.weight.tensor(), b.as_ref())
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features,
            self.out_features,
            self.bias.is_some()
        )
    }
}

/// `y = x1^T A x2 + b` (`torch.nn.Bilinear`): weight `[out, in1, in2]`, bias `[out]`, both
/// U(-1/sqrt(in1), 1/sqrt(in1)). It takes two inputs: use [`Bilinear::forward2`].
pub struct Bilinear {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
}

impl Bilinear {
    pub fn new(in1_features: usize, in2_features: usize, out_features: usize) -> Bilinear {
        Bilinear::with_bias(in1_features, in2_features, out_features, true)
    }

    pub fn with_bias(in1: usize, in2: usize, out: usize, bias: bool) -> Bilinear {
        let bound = if in1 > 0 { 1.0 / (in1 as f64).sqrt() } else { 0.0 };
        let w = Tensor::zeros(&[out, in1, in2]);
        init::uniform_(&w, -bound, bound).expect("init of a fresh tensor");
        let b = bias.then(|| {
            let b = Tensor::zeros(&[out]);
            init::uniform_(&b, -bound, bound).expect("init of a fresh tensor");
            Parameter::new(b)
        });
        Bilinear {
            weight: Parameter::new(w),
            bias: b,
        }
    }

    pub fn forward2(&self, x1: &Tensor, x2: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        F::bilinear(x1, x2, &self.weight.tensor(), b.as_ref())
    }
}

impl Module for Bilinear {
    /// Bilinear takes two inputs; `forward` with one is an error that says so.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::Arg {
            op: "Bilinear::forward",
            msg: "Bilinear takes two inputs: call forward2(x1, x2)".into(),
        })
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

/// Returns its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Module for Identity {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
}

/// Flattens dims `start_dim..=end_dim` (PyTorch's defaults: 1 and -1).
#[derive(Debug, Clone, Copy)]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Flatten {
    pub fn new(start_dim: isize, end_dim: isize) -> Flatten {
        Flatten { start_dim, end_dim }
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(self.start_dim, self.end_dim)
    }
}
