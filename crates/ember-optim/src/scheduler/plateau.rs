//! ReduceLROnPlateau: lower the rates when a metric stops improving.

use super::{get, get_vec, put_vec, LrScheduler};
use crate::Optimizer;
use ember_core::{Error, Result};
use std::collections::BTreeMap;

/// Whether a lower (`Min`, a loss) or higher (`Max`, an accuracy) metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlateauMode {
    Min,
    Max,
}

/// Whether `threshold` is relative to the best value or absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`: after more than `patience` epochs without
/// improvement, multiply every rate by `factor` (not below `min_lr`), then wait `cooldown`
/// epochs. Call [`step_metric`](LrScheduler::step_metric) once per epoch with the metric.
///
/// ```
/// use ember_core::Tensor;
/// use ember_optim::{LrScheduler, Optimizer, ReduceLROnPlateau, Sgd, SgdConfig};
/// let w = Tensor::zeros(&[1]).requires_grad_(true);
/// let mut opt = Sgd::new(vec![w], SgdConfig::new(1.0)).unwrap();
/// let mut s = ReduceLROnPlateau::new(&opt);
/// s.patience = 1;
/// for loss in [1.0, 1.0, 1.0] {
///     s.step_metric(&mut opt, loss).unwrap();
/// }
/// assert!((opt.lr() - 0.1).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    pub mode: PlateauMode,
    pub factor: f64,
    pub patience: usize,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: usize,
    pub min_lrs: Vec<f64>,
    pub eps: f64,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    /// PyTorch's defaults: min mode, factor 0.1, patience 10, threshold 1e-4 (relative).
    pub fn new(opt: &dyn Optimizer) -> ReduceLROnPlateau {
        let n = opt.num_groups();
        ReduceLROnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lrs: vec![0.0; n],
            eps: 1e-8,
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: (0..n).map(|g| opt.group_lr(g)).collect(),
        }
    }

    /// Switch to max mode (the best value starts at -inf).
    pub fn max_mode(mut self) -> Self {
        self.mode = PlateauMode::Max;
        self.best = f64::NEG_INFINITY;
        self
    }

    fn is_better(&self, a: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < self.best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < self.best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > self.best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > self.best + self.threshold,
        }
    }
}

impl LrScheduler for ReduceLROnPlateau {
    fn step(&mut self, _opt: &mut dyn Optimizer) -> Result<()> {
        Err(Error::Arg {
            op: "ReduceLROnPlateau::step",
            msg: "ReduceLROnPlateau needs a metric: call step_metric(opt, metric)".into(),
        })
    }

    fn step_metric(&mut self, opt: &mut dyn Optimizer, metric: f64) -> Result<()> {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            for g in 0..opt.num_groups() {
                let old = opt.group_lr(g);
                let new = (old * self.factor).max(self.min_lrs.get(g).copied().unwrap_or(0.0));
                if old - new > self.eps {
                    opt.set_group_lr(g, new);
                }
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = (0..opt.num_groups()).map(|g| opt.group_lr(g)).collect();
        Ok(())
    }

    fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    fn state_dict(&self) -> BTreeMap<String, f64> {
        let mut s = BTreeMap::new();
        s.insert("best".into(), self.best);
        s.insert("num_bad_epochs".into(), self.num_bad_epochs as f64);
        s.insert("cooldown_counter".into(), self.cooldown_counter as f64);
        s.insert("last_epoch".into(), self.last_epoch as f64);
        put_vec(&mut s, "last_lr", &self.last_lr);
        s
    }

    fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.best = get(s, "best")?;
        self.num_bad_epochs = get(s, "num_bad_epochs")? as usize;
        self.cooldown_counter = get(s, "cooldown_counter")? as usize;
        self.last_epoch = get(s, "last_epoch")? as i64;
        self.last_lr = get_vec(s, "last_lr", self.last_lr.len())?;
        Ok(())
    }
}
