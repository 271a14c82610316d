//! Learning-rate schedulers mirroring `torch.optim.lr_scheduler`. A scheduler remembers each
//! group's base learning rate and sets the optimizer's rates on every `step`; like PyTorch's,
//! constructing one applies the rate of step 0.
//!
//! ```
//! use ember_core::Tensor;
//! use ember_optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
//! let w = Tensor::zeros(&[1]).requires_grad_(true);
//! let mut opt = Sgd::new(vec![w], SgdConfig::new(1.0)).unwrap();
//! let mut s = StepLR::new(&mut opt, 2, 0.5);
//! let mut lrs = vec![];
//! for _ in 0..5 {
//!     lrs.push(opt.lr());
//!     s.step(&mut opt).unwrap();
//! }
//! assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
//! ```

mod plateau;
mod schedules;

pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use schedules::{AnnealStrategy, CosineAnnealingLR, ExponentialLR, LinearLR, MultiStepLR, OneCycleLR, StepLR};

use crate::Optimizer;
use ember_core::{Error, Result};
use std::collections::BTreeMap;

/// A learning-rate schedule; object safe so a trainer can hold `Box<dyn LrScheduler>`.
pub trait LrScheduler: Send {
    /// Advance one step (epoch or batch, as the schedule is used) and set the rates.
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()>;

    /// Advance with a validation metric; only `ReduceLROnPlateau` uses it.
    fn step_metric(&mut self, opt: &mut dyn Optimizer, _metric: f64) -> Result<()> {
        self.step(opt)
    }

    /// The rates set by the last step, one per group.
    fn get_last_lr(&self) -> Vec<f64>;

    /// The scheduler's counters and settings, for checkpoints.
    fn state_dict(&self) -> BTreeMap<String, f64>;

    fn load_state_dict(&mut self, state: &BTreeMap<String, f64>) -> Result<()>;
}

/// Read a required value from a scheduler state.
pub(crate) fn get(state: &BTreeMap<String, f64>, key: &str) -> Result<f64> {
    state.get(key).copied().ok_or_else(|| Error::Arg {
        op: "LrScheduler::load_state_dict",
        msg: format!("missing key {key:?}"),
    })
}

/// Base learning rates as `base_lrs.{g}` entries.
pub(crate) fn put_vec(state: &mut BTreeMap<String, f64>, name: &str, v: &[f64]) {
    for (i, x) in v.iter().enumerate() {
        state.insert(format!("{name}.{i}"), *x);
    }
}

pub(crate) fn get_vec(state: &BTreeMap<String, f64>, name: &str, n: usize) -> Result<Vec<f64>> {
    (0..n).map(|i| get(state, &format!("{name}.{i}"))).collect()
}
