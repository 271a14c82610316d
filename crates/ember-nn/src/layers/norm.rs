//! Normalization layers: `BatchNorm1d`/`BatchNorm2d`, `LayerNorm`, `GroupNorm`, `RMSNorm`.

use super::dropout::TrainFlag;
use crate::functional as F;
use crate::module::{Module, Visitor};
use crate::parameter::{Buffer, Parameter};
use ember_core::{no_grad, Error, Result, Tensor};

/// Batch normalization over `[N, C]` / `[N, C, L]` (`BatchNorm1d`) or `[N, C, H, W]`
/// (`BatchNorm2d`) inputs, with PyTorch's parameters (`weight` = 1, `bias` = 0) and buffers
/// (`running_mean` = 0, `running_var` = 1, `num_batches_tracked` = 0).
///
/// In training mode the batch statistics are used and the running ones updated with
/// `momentum` (or a cumulative average when `momentum` is `None`); in eval mode the running
/// statistics are used.
pub struct BatchNorm {
    pub weight: Option<Parameter>,
    pub bias: Option<Parameter>,
    pub running_mean: Option<Buffer>,
    pub running_var: Option<Buffer>,
    pub num_batches_tracked: Option<Buffer>,
    num_features: usize,
    eps: f64,
    momentum: Option<f64>,
    /// Number of input dims accepted (2 or 3 for 1d, 4 for 2d).
    ndims: &'static [usize],
    name: &'static str,
    training: TrainFlag,
}

/// Options of the batch norm layers (PyTorch's defaults).
#[derive(Debug, Clone, Copy)]
pub struct BatchNormOptions {
    pub eps: f64,
    /// `None` means a cumulative moving average.
    pub momentum: Option<f64>,
    pub affine: bool,
    pub track_running_stats: bool,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

impl BatchNorm {
    fn build(num_features: usize, o: BatchNormOptions, ndims: &'static [usize], name: &'static str) -> BatchNorm {
        let c = num_features;
        BatchNorm {
            weight: o.affine.then(|| Parameter::new(Tensor::ones(&[c]))),
            bias: o.affine.then(|| Parameter::new(Tensor::zeros(&[c]))),
            running_mean: o.track_running_stats.then(|| Buffer::new(Tensor::zeros(&[c]))),
            running_var: o.track_running_stats.then(|| Buffer::new(Tensor::ones(&[c]))),
            num_batches_tracked: o.track_running_stats.then(|| Buffer::new(Tensor::scalar(0i64))),
            num_features,
            eps: o.eps,
            momentum: o.momentum,
            ndims,
            name,
            training: TrainFlag::default(),
        }
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }
}

/// `torch.nn.BatchNorm1d`.
pub struct BatchNorm1d;
/// `torch.nn.BatchNorm2d`.
pub struct BatchNorm2d;

impl BatchNorm1d {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(num_features: usize) -> BatchNorm {
        BatchNorm::build(num_features, BatchNormOptions::default(), &[2, 3], "BatchNorm1d")
    }
    pub fn with(num_features: usize, o: BatchNormOptions) -> BatchNorm {
        BatchNorm::build(num_features, o, &[2, 3], "BatchNorm1d")
    }
}

impl BatchNorm2d {
    /// ```
    /// use ember_core::Tensor;
    /// use ember_nn::{BatchNorm2d, Module};
    /// let bn = BatchNorm2d::new(3);
    /// let keys: Vec<String> = bn.state_dict().into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]);
    /// let y = bn.forward(&Tensor::randn(&[4, 3, 2, 2])).unwrap();
    /// assert_eq!(y.shape(), &[4, 3, 2, 2]);
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(num_features: usize) -> BatchNorm {
        BatchNorm::build(num_features, BatchNormOptions::default(), &[4], "BatchNorm2d")
    }
    pub fn with(num_features: usize, o: BatchNormOptions) -> BatchNorm {
        BatchNorm::build(num_features, o, &[4], "BatchNorm2d")
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.ndims.contains(&x.ndim()) {
            return Err(Error::Shape {
                op: self.name,
                msg: format!("expected {:?}-D input, got shape {:?}", self.ndims, x.shape()),
            });
        }
        let training = self.training.get();
        let mut momentum = self.momentum.unwrap_or(0.0);
        if training {
            if let Some(n) = &self.num_batches_tracked {
                let n = n.tensor();
                let _g = no_grad();
                n.add_scalar_(1.0)?;
                if self.momentum.is_none() {
                    momentum = 1.0 / n.item()?;
                }
            }
        }
        let rm = self.running_mean.as_ref().map(|b| b.tensor());
        let rv = self.running_var.as_ref().map(|b| b.tensor());
        let w = self.weight.as_ref().map(|p| p.tensor());
        let b = self.bias.as_ref().map(|p| p.tensor());
        // eval without running stats uses batch statistics, as PyTorch does
        let use_batch = training || rm.is_none();
        F::batch_norm(
            x,
            rm.as_ref(),
            rv.as_ref(),
            w.as_ref(),
            b.as_ref(),
            use_batch,
            momentum,
            self.eps,
        )
    }
    fn visit(&self, v: &mut dyn Visitor) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
        if let Some(b) = &self.running_mean {
            v.buffer("running_mean", b);
        }
        if let Some(b) = &self.running_var {
            v.buffer("running_var", b);
        }
        if let Some(b) = &self.num_batches_tracked {
            v.buffer("num_batches_tracked", b);
        }
    }
    fn set_own_training(&self, training: bool) {
        self.training.set(training);
    }
    fn own_training(&self) -> Option<bool> {
        Some(self.training.get())
    }
    fn type_name(&self) -> String {
        self.name.to_string()
    }
    fn extra_repr(&self) -> String {
        format!("{}, eps={}, momentum={:?}", self.num_features, self.eps, self.momentum)
    }
}

/// Layer normalization over the trailing `normalized_shape` dims (`torch.nn.LayerNorm`),
/// with an elementwise affine (`weight` = 1, `bias` = 0) by default.
pub struct LayerNorm {
    pub weight: Option<Parameter>,
    pub bias: Option<Parameter>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl LayerNorm {
    /// `LayerNorm(normalized_shape, eps=1e-5)`.
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        LayerNorm::with(normalized_shape, 1e-5, true, true)
    }

    pub fn with(normalized_shape: &[usize], eps: f64, elementwise_affine: bool, bias: bool) -> LayerNorm {
        LayerNorm {
            weight: elementwise_affine.then(|| Parameter::new(Tensor::ones(normalized_shape))),
            bias: (elementwise_affine && bias).then(|| Parameter::new(Tensor::zeros(normalized_shape))),
            normalized_shape: normalized_shape.to_vec(),
            eps,
        }
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.as_ref().map(|p| p.tensor());
        let b = self.bias.as_ref().map(|p| p.tensor());
        F::layer_norm(x, &self.normalized_shape, w.as_ref(), b.as_ref(), self.eps)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        format!("{:?}, eps={}", self.normalized_shape, self.eps)
    }
}

/// Group normalization (`torch.nn.GroupNorm`): per-channel `weight` = 1 and `bias` = 0.
pub struct GroupNorm {
    pub weight: Option<Parameter>,
    pub bias: Option<Parameter>,
    num_groups: usize,
    eps: f64,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize) -> Result<GroupNorm> {
        GroupNorm::with(num_groups, num_channels, 1e-5, true)
    }

    pub fn with(num_groups: usize, num_channels: usize, eps: f64, affine: bool) -> Result<GroupNorm> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(Error::Arg {
                op: "GroupNorm",
                msg: format!("num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"),
            });
        }
        Ok(GroupNorm {
            weight: affine.then(|| Parameter::new(Tensor::ones(&[num_channels]))),
            bias: affine.then(|| Parameter::new(Tensor::zeros(&[num_channels]))),
            num_groups,
            eps,
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.as_ref().map(|p| p.tensor());
        let b = self.bias.as_ref().map(|p| p.tensor());
        F::group_norm(x, self.num_groups, w.as_ref(), b.as_ref(), self.eps)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
        if let Some(b) = &self.bias {
            v.param("bias", b);
        }
    }
}

/// Root-mean-square normalization (`torch.nn.RMSNorm`): `weight` = 1, `eps` defaults to the
/// input dtype's machine epsilon.
pub struct RMSNorm {
    pub weight: Option<Parameter>,
    normalized_shape: Vec<usize>,
    eps: Option<f64>,
}

impl RMSNorm {
    pub fn new(normalized_shape: &[usize]) -> RMSNorm {
        RMSNorm::with(normalized_shape, None, true)
    }

    pub fn with(normalized_shape: &[usize], eps: Option<f64>, elementwise_affine: bool) -> RMSNorm {
        RMSNorm {
            weight: elementwise_affine.then(|| Parameter::new(Tensor::ones(normalized_shape))),
            normalized_shape: normalized_shape.to_vec(),
            eps,
        }
    }
}

impl Module for RMSNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.as_ref().map(|p| p.tensor());
        F::rms_norm(x, &self.normalized_shape, w.as_ref(), self.eps)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        if let Some(w) = &self.weight {
            v.param("weight", w);
        }
    }
}
