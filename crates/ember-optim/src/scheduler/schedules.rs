//! Epoch-indexed schedules with closed forms: StepLR, MultiStepLR, ExponentialLR,
//! CosineAnnealingLR, LinearLR and OneCycleLR.

use super::{get, get_vec, put_vec, LrScheduler};
use crate::Optimizer;
use ember_core::{Error, Result};
use std::collections::BTreeMap;
use std::f64::consts::PI;

/// The shared part: base rates, the epoch counter and a rate function of (base, epoch).
struct Core {
    base_lrs: Vec<f64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl Core {
    fn new(opt: &dyn Optimizer) -> Core {
        let base_lrs: Vec<f64> = (0..opt.num_groups()).map(|g| opt.group_lr(g)).collect();
        Core {
            base_lrs,
            last_epoch: -1,
            last_lr: Vec::new(),
        }
    }

    fn state(&self) -> BTreeMap<String, f64> {
        let mut s = BTreeMap::new();
        s.insert("last_epoch".into(), self.last_epoch as f64);
        put_vec(&mut s, "base_lrs", &self.base_lrs);
        put_vec(&mut s, "last_lr", &self.last_lr);
        s
    }

    fn load(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.last_epoch = get(s, "last_epoch")? as i64;
        self.base_lrs = get_vec(s, "base_lrs", self.base_lrs.len())?;
        self.last_lr = get_vec(s, "last_lr", self.base_lrs.len())?;
        Ok(())
    }
}

macro_rules! closed_form_scheduler {
    ($name:ident) => {
        impl LrScheduler for $name {
            fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
                self.core.last_epoch += 1;
                let e = self.core.last_epoch;
                let lrs: Vec<f64> = self.core.base_lrs.iter().map(|&b| self.rate(b, e)).collect();
                for (g, &lr) in lrs.iter().enumerate() {
                    opt.set_group_lr(g, lr);
                }
                self.core.last_lr = lrs;
                Ok(())
            }
            fn get_last_lr(&self) -> Vec<f64> {
                self.core.last_lr.clone()
            }
            fn state_dict(&self) -> BTreeMap<String, f64> {
                self.core.state()
            }
            fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
                self.core.load(s)
            }
        }
    };
}

/// Decay by `gamma` every `step_size` epochs.
pub struct StepLR {
    core: Core,
    step_size: usize,
    gamma: f64,
}

impl StepLR {
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> StepLR {
        let mut s = StepLR {
            core: Core::new(opt),
            step_size,
            gamma,
        };
        s.step(opt).expect("a closed-form schedule cannot fail");
        s
    }
    fn rate(&self, b: f64, e: i64) -> f64 {
        b * self.gamma.powi((e / self.step_size.max(1) as i64) as i32)
    }
}
closed_form_scheduler!(StepLR);

/// Decay by `gamma` at each milestone epoch.
pub struct MultiStepLR {
    core: Core,
    milestones: Vec<i64>,
    gamma: f64,
}

impl MultiStepLR {
    pub fn new(opt: &mut dyn Optimizer, milestones: &[usize], gamma: f64) -> MultiStepLR {
        let mut m: Vec<i64> = milestones.iter().map(|&x| x as i64).collect();
        m.sort_unstable();
        let mut s = MultiStepLR {
            core: Core::new(opt),
            milestones: m,
            gamma,
        };
        s.step(opt).expect("a closed-form schedule cannot fail");
        s
    }
    fn rate(&self, b: f64, e: i64) -> f64 {
        b * self
            .gamma
            .powi(self.milestones.iter().filter(|&&x| x <= e).count() as i32)
    }
}
closed_form_scheduler!(MultiStepLR);

/// Decay by `gamma` every epoch.
pub struct ExponentialLR {
    core: Core,
    gamma: f64,
}

impl ExponentialLR {
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> ExponentialLR {
        let mut s = ExponentialLR {
            core: Core::new(opt),
            gamma,
        };
        s.step(opt).expect("a closed-form schedule cannot fail");
        s
    }
    fn rate(&self, b: f64, e: i64) -> f64 {
        b * self.gamma.powi(e as i32)
    }
}
closed_form_scheduler!(ExponentialLR);

/// Cosine annealing from the base rate to `eta_min` over `t_max` epochs (and back up after,
/// periodically, as PyTorch's).
pub struct CosineAnnealingLR {
    core: Core,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLR {
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> CosineAnnealingLR {
        let mut s = CosineAnnealingLR {
            core: Core::new(opt),
            t_max,
            eta_min,
        };
        s.step(opt).expect("a closed-form schedule cannot fail");
        s
    }
    fn rate(&self, b: f64, e: i64) -> f64 {
        self.eta_min + (b - self.eta_min) * (1.0 + (PI * e as f64 / self.t_max.max(1) as f64).cos()) / 2.0
    }
}
closed_form_scheduler!(CosineAnnealingLR);

/// Linear warmup: the factor goes from `start_factor` to `end_factor` over `total_iters`
/// steps (PyTorch's defaults: 1/3, 1, 5).
pub struct LinearLR {
    core: Core,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLR {
    pub fn new(opt: &mut dyn Optimizer, start_factor: f64, end_factor: f64, total_iters: usize) -> Result<LinearLR> {
        if !(start_factor > 0.0 && start_factor <= 1.0 && (0.0..=1.0).contains(&end_factor)) {
            return Err(Error::Arg {
                op: "LinearLR",
                msg: format!("starting multiplicative factor expected to be greater than 0 and at most 1, ending factor between 0 and 1 (got {start_factor}, {end_factor})"),
            });
        }
        let mut s = LinearLR {
            core: Core::new(opt),
            start_factor,
            end_factor,
            total_iters,
        };
        s.step(opt).expect("a closed-form schedule cannot fail");
        Ok(s)
    }
    fn rate(&self, b: f64, e: i64) -> f64 {
        b * linear_factor(self.start_factor, self.end_factor, self.total_iters, e)
    }
}
closed_form_scheduler!(LinearLR);

fn linear_factor(s: f64, e_f: f64, total: usize, e: i64) -> f64 {
    if total == 0 {
        return e_f;
    }
    s + (e_f - s) * (e.min(total as i64) as f64) / total as f64
}

/// How OneCycleLR interpolates within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnealStrategy {
    Cos,
    Linear,
}

fn anneal(strategy: AnnealStrategy, start: f64, end: f64, pct: f64) -> f64 {
    match strategy {
        AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
        AnnealStrategy::Linear => (end - start) * pct + start,
    }
}

/// The 1cycle policy (`torch.optim.lr_scheduler.OneCycleLR`, two phases): warm up from
/// `max_lr / div_factor` to `max_lr` over `pct_start` of the steps, then anneal to
/// `initial / final_div_factor`; with `cycle_momentum`, the momentum (beta1 for Adam) moves
/// inversely between `max_momentum` and `base_momentum`. Step it once per batch.
pub struct OneCycleLR {
    max_lrs: Vec<f64>,
    total_steps: usize,
    pct_start: f64,
    strategy: AnnealStrategy,
    cycle_momentum: bool,
    base_momentum: f64,
    max_momentum: f64,
    div_factor: f64,
    final_div_factor: f64,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl OneCycleLR {
    /// PyTorch's defaults: `pct_start` 0.3, cos, momentum 0.85..0.95, div 25, final div 1e4.
    pub fn new(opt: &mut dyn Optimizer, max_lr: f64, total_steps: usize) -> Result<OneCycleLR> {
        OneCycleLR::with(
            opt,
            max_lr,
            total_steps,
            0.3,
            AnnealStrategy::Cos,
            true,
            0.85,
            0.95,
            25.0,
            1e4,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn with(
        opt: &mut dyn Optimizer,
        max_lr: f64,
        total_steps: usize,
        pct_start: f64,
        strategy: AnnealStrategy,
        cycle_momentum: bool,
        base_momentum: f64,
        max_momentum: f64,
        div_factor: f64,
        final_div_factor: f64,
    ) -> Result<OneCycleLR> {
        if total_steps == 0 || !(0.0..=1.0).contains(&pct_start) {
            return Err(Error::Arg {
                op: "OneCycleLR",
                msg: format!("expected positive total_steps and pct_start in [0, 1], got {total_steps}, {pct_start}"),
            });
        }
        if cycle_momentum && (0..opt.num_groups()).any(|g| opt.group_momentum(g).is_none()) {
            return Err(Error::Arg {
                op: "OneCycleLR",
                msg: "optimizer must support momentum or beta1 with `cycle_momentum` enabled".into(),
            });
        }
        let mut s = OneCycleLR {
            max_lrs: vec![max_lr; opt.num_groups()],
            total_steps,
            pct_start,
            strategy,
            cycle_momentum,
            base_momentum,
            max_momentum,
            div_factor,
            final_div_factor,
            last_epoch: -1,
            last_lr: Vec::new(),
        };
        s.step(opt)?;
        Ok(s)
    }

    fn at(&self, step: i64) -> Result<(Vec<f64>, f64)> {
        if step as usize > self.total_steps {
            return Err(Error::Arg {
                op: "OneCycleLR",
                msg: format!(
                    "tried to step {step} times; the specified number of total steps is {}",
                    self.total_steps
                ),
            });
        }
        let total = self.total_steps as f64;
        let phases = [(self.pct_start * total - 1.0, true), (total - 1.0, false)];
        let mut start_step = 0.0;
        let mut lrs = Vec::new();
        let mut mom = self.max_momentum;
        for (i, &(end_step, warm)) in phases.iter().enumerate() {
            if step as f64 <= end_step || i == phases.len() - 1 {
                let pct = (step as f64 - start_step) / (end_step - start_step);
                for &m in &self.max_lrs {
                    let initial = m / self.div_factor;
                    let min = initial / self.final_div_factor;
                    let (a, b) = if warm { (initial, m) } else { (m, min) };
                    lrs.push(anneal(self.strategy, a, b, pct));
                }
                let (ma, mb) = if warm {
                    (self.max_momentum, self.base_momentum)
                } else {
                    (self.base_momentum, self.max_momentum)
                };
                mom = anneal(self.strategy, ma, mb, pct);
                break;
            }
            start_step = end_step;
        }
        Ok((lrs, mom))
    }
}

impl LrScheduler for OneCycleLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let (lrs, mom) = self.at(self.last_epoch + 1)?;
        self.last_epoch += 1;
        for (g, &lr) in lrs.iter().enumerate() {
            opt.set_group_lr(g, lr);
            if self.cycle_momentum {
                opt.set_group_momentum(g, mom);
            }
        }
        self.last_lr = lrs;
        Ok(())
    }
    fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }
    fn state_dict(&self) -> BTreeMap<String, f64> {
        let mut s = BTreeMap::new();
        s.insert("last_epoch".into(), self.last_epoch as f64);
        put_vec(&mut s, "max_lrs", &self.max_lrs);
        put_vec(&mut s, "last_lr", &self.last_lr);
        s
    }
    fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.last_epoch = get(s, "last_epoch")? as i64;
        self.max_lrs = get_vec(s, "max_lrs", self.max_lrs.len())?;
        self.last_lr = get_vec(s, "last_lr", self.max_lrs.len())?;
        Ok(())
    }
}
