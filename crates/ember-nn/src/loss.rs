//! Loss modules mirroring `torch.nn`'s (`nn.CrossEntropyLoss()(logits, target)`): each holds
//! its options and has `forward(input, target)`.
//!
//! ```
//! use ember_core::Tensor;
//! use ember_nn::loss::CrossEntropyLoss;
//! let ce = CrossEntropyLoss { label_smoothing: 0.1, ..Default::default() };
//! let l = ce.forward(&Tensor::new(&[[2.0f32, 0.0, -1.0]]), &Tensor::new(&[0i64])).unwrap();
//! assert!(l.item().unwrap() > 0.0);
//! ```

pub use crate::functional::Reduction;
use crate::functional::{self as F, CrossEntropyOptions};
use ember_core::{Result, Tensor};

macro_rules! simple_loss {
    ($(#[$doc:meta])* $name:ident, |$s:ident, $i:ident, $t:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name {
            pub reduction: Reduction,
        }
        impl $name {
            pub fn new(reduction: Reduction) -> Self {
                $name { reduction }
            }
            pub fn forward(&self, $i: &Tensor, $t: &Tensor) -> Result<Tensor> {
                let $s = self;
                $body
            }
        }
    };
}

simple_loss!(
    /// Mean squared error.
    MSELoss, |s, i, t| F::mse_loss(i, t, s.reduction));
simple_loss!(
    /// Mean absolute error.
    L1Loss, |s, i, t| F::l1_loss(i, t, s.reduction));

/// Smooth L1 (quadratic below `beta`, default 1).
#[derive(Debug, Clone, Copy)]
pub struct SmoothL1Loss {
    pub reduction: Reduction,
    pub beta: f64,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss {
            reduction: Reduction::Mean,
            beta: 1.0,
        }
    }
}

impl SmoothL1Loss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::smooth_l1_loss(input, target, self.reduction, self.beta)
    }
}

/// Huber (quadratic below `delta`, default 1).
#[derive(Debug, Clone, Copy)]
pub struct HuberLoss {
    pub reduction: Reduction,
    pub delta: f64,
}

impl Default for HuberLoss {
    fn default() -> Self {
        HuberLoss {
            reduction: Reduction::Mean,
            delta: 1.0,
        }
    }
}

impl HuberLoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::huber_loss(input, target, self.reduction, self.delta)
    }
}

/// Cross-entropy of logits with class indices or probabilities (weights, `ignore_index`,
/// label smoothing).
#[derive(Debug, Clone)]
pub struct CrossEntropyLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub label_smoothing: f64,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        let o = CrossEntropyOptions::default();
        CrossEntropyLoss {
            weight: o.weight,
            ignore_index: o.ignore_index,
            reduction: o.reduction,
            label_smoothing: o.label_smoothing,
        }
    }
}

impl CrossEntropyLoss {
    fn opts(&self) -> CrossEntropyOptions {
        CrossEntropyOptions {
            weight: self.weight.clone(),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            label_smoothing: self.label_smoothing,
        }
    }

    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::cross_entropy(input, target, &self.opts())
    }
}

/// Negative log-likelihood of log-probabilities (weights, `ignore_index`).
#[derive(Debug, Clone)]
pub struct NLLLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
}

impl Default for NLLLoss {
    fn default() -> Self {
        NLLLoss {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
        }
    }
}

impl NLLLoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        let o = CrossEntropyOptions {
            weight: self.weight.clone(),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            label_smoothing: 0.0,
        };
        F::nll_loss(input, target, &o)
    }
}

/// Binary cross-entropy of probabilities.
#[derive(Debug, Clone, Default)]
pub struct BCELoss {
    pub weight: Option<Tensor>,
    pub reduction: Reduction,
}

impl BCELoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::binary_cross_entropy(input, target, self.weight.as_ref(), self.reduction)
    }
}

/// Binary cross-entropy of logits (`pos_weight` weighs positives).
#[derive(Debug, Clone, Default)]
pub struct BCEWithLogitsLoss {
    pub weight: Option<Tensor>,
    pub pos_weight: Option<Tensor>,
    pub reduction: Reduction,
}

impl BCEWithLogitsLoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::binary_cross_entropy_with_logits(
            input,
            target,
            self.weight.as_ref(),
            self.pos_weight.as_ref(),
            self.reduction,
        )
    }
}

/// KL divergence of log-probabilities `input` from `target`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KLDivLoss {
    pub reduction: Reduction,
    pub log_target: bool,
}

impl KLDivLoss {
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::kl_div(input, target, self.reduction, self.log_target)
    }
}

/// Cosine embedding loss of two inputs and labels in {1, -1}.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosineEmbeddingLoss {
    pub margin: f64,
    pub reduction: Reduction,
}

impl CosineEmbeddingLoss {
    pub fn forward(&self, x1: &Tensor, x2: &Tensor, y: &Tensor) -> Result<Tensor> {
        F::cosine_embedding_loss(x1, x2, y, self.margin, self.reduction)
    }
}

/// Margin ranking loss of two inputs and labels in {1, -1}.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarginRankingLoss {
    pub margin: f64,
    pub reduction: Reduction,
}

impl MarginRankingLoss {
    pub fn forward(&self, x1: &Tensor, x2: &Tensor, y: &Tensor) -> Result<Tensor> {
        F::margin_ranking_loss(x1, x2, y, self.margin, self.reduction)
    }
}
