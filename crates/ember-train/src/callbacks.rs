//! Callbacks: code that runs at fixed points of the training loop — early stopping, learning
//! rate schedules, saving the best model, gradient clipping, or anything custom.
//!
//! A callback that keeps counters (patience, the best value, a scheduler's step) exposes them
//! through `state_dict`, and the trainer stores them in its checkpoints, so a resumed run
//! continues them instead of starting over.

use crate::checkpoint::Checkpoint;
use crate::history::EpochMetrics;
use ember_core::{Error, Result};
use ember_nn::Module;
use ember_optim::{LrScheduler, Optimizer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a callback can see and change.
pub struct CallbackContext<'c> {
    pub model: &'c dyn Module,
    pub optimizer: &'c mut dyn Optimizer,
    /// 0-based epoch in progress.
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub global_step: u64,
    /// Where the run writes its files, if anywhere.
    pub out_dir: Option<&'c Path>,
    /// False on the ranks of a data-parallel run other than rank 0: callbacks that write files or
    /// print leave that to rank 0.
    pub is_main: bool,
    /// The run's description stored in every checkpoint (model kind, dataset, ...).
    pub metadata: &'c serde_json::Value,
    pub(crate) stop: &'c mut bool,
}

impl CallbackContext<'_> {
    /// Ask the trainer to stop after the current epoch.
    pub fn request_stop(&mut self) {
        *self.stop = true;
    }
}

/// Hooks into the training loop; every method has a do-nothing default.
pub trait Callback {
    /// A short name; the key of this callback's state in checkpoints.
    fn name(&self) -> String;

    fn on_train_begin(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        Ok(())
    }

    /// After `backward`, before the optimizer step (gradients can be inspected or changed).
    fn after_backward(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        Ok(())
    }

    /// After the optimizer step, with the batch's loss.
    fn on_batch_end(&mut self, _ctx: &mut CallbackContext, _loss: f64) -> Result<()> {
        Ok(())
    }

    /// After evaluation, with the epoch's metrics.
    fn on_epoch_end(&mut self, _ctx: &mut CallbackContext, _metrics: &EpochMetrics) -> Result<()> {
        Ok(())
    }

    fn on_train_end(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        Ok(())
    }

    /// Counters to save in a checkpoint.
    fn state_dict(&self) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }

    fn load_state_dict(&mut self, _state: &BTreeMap<String, f64>) -> Result<()> {
        Ok(())
    }
}

/// Whether a monitored value should go down (losses) or up (accuracies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Min,
    Max,
}

impl Mode {
    /// The usual direction for a metric name.
    pub fn for_metric(name: &str) -> Mode {
        if name.contains("acc") {
            Mode::Max
        } else {
            Mode::Min
        }
    }

    fn improves(self, value: f64, best: f64, min_delta: f64) -> bool {
        match self {
            Mode::Min => value < best - min_delta,
            Mode::Max => value > best + min_delta,
        }
    }

    fn worst(self) -> f64 {
        match self {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        }
    }
}

fn monitored(metrics: &EpochMetrics, name: &str, who: &'static str) -> Result<f64> {
    metrics.get(name).ok_or_else(|| Error::Arg {
        op: who,
        msg: format!(
            "metric {name:?} is not available (is there a test loader?); try train_loss, test_loss, test_accuracy"
        ),
    })
}

fn get_state(state: &BTreeMap<String, f64>, key: &str, who: &'static str) -> Result<f64> {
    state.get(key).copied().ok_or_else(|| Error::Arg {
        op: who,
        msg: format!("saved state has no {key:?}"),
    })
}

/// Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.
///
/// ```
/// use ember_train::callbacks::EarlyStopping;
/// let es = EarlyStopping::new("test_loss", 3);
/// ```
pub struct EarlyStopping {
    monitor: String,
    mode: Mode,
    patience: usize,
    min_delta: f64,
    best: f64,
    wait: usize,
}

impl EarlyStopping {
    pub fn new(monitor: &str, patience: usize) -> EarlyStopping {
        let mode = Mode::for_metric(monitor);
        EarlyStopping {
            monitor: monitor.into(),
            mode,
            patience,
            min_delta: 0.0,
            best: mode.worst(),
            wait: 0,
        }
    }

    pub fn min_delta(mut self, d: f64) -> EarlyStopping {
        self.min_delta = d;
        self
    }

    pub fn mode(mut self, mode: Mode) -> EarlyStopping {
        self.mode = mode;
        self.best = mode.worst();
        self
    }
}

impl Callback for EarlyStopping {
    fn name(&self) -> String {
        format!("early_stopping.{}", self.monitor)
    }

    fn on_epoch_end(&mut self, ctx: &mut CallbackContext, m: &EpochMetrics) -> Result<()> {
        let v = monitored(m, &self.monitor, "EarlyStopping")?;
        if self.mode.improves(v, self.best, self.min_delta) {
            self.best = v;
            self.wait = 0;
        } else {
            self.wait += 1;
            if self.wait >= self.patience {
                ctx.request_stop();
            }
        }
        Ok(())
    }

    fn state_dict(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([("best".into(), self.best), ("wait".into(), self.wait as f64)])
    }

    fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.best = get_state(s, "best", "EarlyStopping")?;
        self.wait = get_state(s, "wait", "EarlyStopping")? as usize;
        Ok(())
    }
}

/// When a learning-rate scheduler steps.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleEvery {
    Epoch,
    Batch,
    /// Once per epoch with a metric (for `ReduceLROnPlateau`).
    EpochOn(String),
}

/// Drives an `ember_optim` scheduler from the training loop.
pub struct LrSchedule {
    scheduler: Box<dyn LrScheduler>,
    every: ScheduleEvery,
}

impl LrSchedule {
    pub fn new(scheduler: impl LrScheduler + 'static, every: ScheduleEvery) -> LrSchedule {
        LrSchedule {
            scheduler: Box::new(scheduler),
            every,
        }
    }

    pub fn per_epoch(scheduler: impl LrScheduler + 'static) -> LrSchedule {
        LrSchedule::new(scheduler, ScheduleEvery::Epoch)
    }

    pub fn per_batch(scheduler: impl LrScheduler + 'static) -> LrSchedule {
        LrSchedule::new(scheduler, ScheduleEvery::Batch)
    }
}

impl Callback for LrSchedule {
    fn name(&self) -> String {
        "lr_schedule".into()
    }

    fn on_batch_end(&mut self, ctx: &mut CallbackContext, _loss: f64) -> Result<()> {
        if self.every == ScheduleEvery::Batch {
            self.scheduler.step(ctx.optimizer)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, ctx: &mut CallbackContext, m: &EpochMetrics) -> Result<()> {
        match &self.every {
            ScheduleEvery::Epoch => self.scheduler.step(ctx.optimizer),
            ScheduleEvery::EpochOn(name) => {
                let v = monitored(m, name, "LrSchedule")?;
                self.scheduler.step_metric(ctx.optimizer, v)
            }
            ScheduleEvery::Batch => Ok(()),
        }
    }

    fn state_dict(&self) -> BTreeMap<String, f64> {
        self.scheduler.state_dict()
    }

    fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.scheduler.load_state_dict(s)
    }
}

/// Clip the gradients' joint norm before each optimizer step.
pub struct GradClip {
    max_norm: f64,
    norm_type: f64,
}

impl GradClip {
    /// Clip the L2 norm to `max_norm`.
    pub fn new(max_norm: f64) -> GradClip {
        GradClip {
            max_norm,
            norm_type: 2.0,
        }
    }

    pub fn norm_type(mut self, p: f64) -> GradClip {
        self.norm_type = p;
        self
    }
}

impl Callback for GradClip {
    fn name(&self) -> String {
        "grad_clip".into()
    }

    fn after_backward(&mut self, ctx: &mut CallbackContext) -> Result<()> {
        ember_optim::clip_grad_norm_(&ctx.model.parameters(), self.max_norm, self.norm_type, false)?;
        Ok(())
    }
}

/// Save the model's weights whenever `monitor` reaches a new best (to `best.safetensors` in
/// the run's folder unless a path is given). The file is a checkpoint with the run's metadata,
/// so `ember eval` and `ember predict` accept it.
pub struct CheckpointBest {
    monitor: String,
    mode: Mode,
    path: Option<PathBuf>,
    best: f64,
}

impl CheckpointBest {
    pub fn new(monitor: &str) -> CheckpointBest {
        let mode = Mode::for_metric(monitor);
        CheckpointBest {
            monitor: monitor.into(),
            mode,
            path: None,
            best: mode.worst(),
        }
    }

    pub fn path(mut self, path: impl Into<PathBuf>) -> CheckpointBest {
        self.path = Some(path.into());
        self
    }

    /// The best value seen so far.
    pub fn best(&self) -> f64 {
        self.best
    }
}

impl Callback for CheckpointBest {
    fn name(&self) -> String {
        format!("checkpoint_best.{}", self.monitor)
    }

    fn on_epoch_end(&mut self, ctx: &mut CallbackContext, m: &EpochMetrics) -> Result<()> {
        let v = monitored(m, &self.monitor, "CheckpointBest")?;
        if !self.mode.improves(v, self.best, 0.0) {
            return Ok(());
        }
        self.best = v;
        if !ctx.is_main {
            return Ok(());
        }
        let path = match (&self.path, ctx.out_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(dir)) => dir.join("best.safetensors"),
            (None, None) => {
                return Err(Error::Arg {
                    op: "CheckpointBest",
                    msg: "no path given and the trainer has no out_dir".into(),
                })
            }
        };
        let mut ck = Checkpoint::new();
        ck.insert_tensors("model", ctx.model.state_dict());
        ck.set_meta("run", ctx.metadata);
        ck.set_meta("epoch", m.epoch);
        ck.set_meta("metrics", m);
        ck.save(path)
    }

    fn state_dict(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([("best".into(), self.best)])
    }

    fn load_state_dict(&mut self, s: &BTreeMap<String, f64>) -> Result<()> {
        self.best = get_state(s, "best", "CheckpointBest")?;
        Ok(())
    }
}

type EpochFn<'a> = Box<dyn FnMut(&mut CallbackContext, &EpochMetrics) -> Result<()> + 'a>;

/// A custom callback from a closure run at the end of each epoch.
///
/// ```
/// use ember_train::callbacks::FnCallback;
/// let printer = FnCallback::on_epoch_end("printer", |_ctx, m| {
///     println!("epoch {} loss {}", m.epoch, m.train_loss);
///     Ok(())
/// });
/// ```
pub struct FnCallback<'a> {
    name: String,
    f: EpochFn<'a>,
}

impl<'a> FnCallback<'a> {
    pub fn on_epoch_end(
        name: &str,
        f: impl FnMut(&mut CallbackContext, &EpochMetrics) -> Result<()> + 'a,
    ) -> FnCallback<'a> {
        FnCallback {
            name: name.into(),
            f: Box::new(f),
        }
    }
}

impl Callback for FnCallback<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn on_epoch_end(&mut self, ctx: &mut CallbackContext, m: &EpochMetrics) -> Result<()> {
        (self.f)(ctx, m)
    }
}
