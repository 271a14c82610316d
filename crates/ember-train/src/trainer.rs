//! `Trainer`: the fit / evaluate / predict loop for any model, loss, optimizer and loaders,
//! with callbacks, a progress bar, a run log, a plot, and checkpoints that resume exactly.
//!
//! Resuming is exact because everything the next batch depends on is in the checkpoint: the
//! model's state, the optimizer's state, every callback's counters (scheduler step, early
//! stopping patience), the global RNG state (dropout masks), and the position (epoch, batch
//! within the epoch, running sums of the epoch's metrics as exact bit patterns). The loader's
//! order is a function of (seed, epoch), so the resumed run skips the batches already done and
//! sees the very batches the uninterrupted run would have.

use crate::callbacks::{Callback, CallbackContext};
use crate::checkpoint::Checkpoint;
use crate::evaluate::{self, inference, is_classification, EvalResult, LossFn};
use crate::history::{EpochMetrics, RunLog};
use crate::metrics;
use crate::progress::{stdout_is_terminal, Progress};
use crate::source::BatchSource;
use ember_core::{Error, Result, Tensor};
use ember_dist::ProcessGroup;
use ember_nn::Module;
use ember_optim::{OptimState, Optimizer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// File names inside a run's folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const RUN_LOG_FILE: &str = "metrics.jsonl";
pub const PLOT_FILE: &str = "plot.svg";

/// How each finished epoch is reported on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// One readable line per epoch.
    Human,
    /// One JSON object per epoch (the run log's line).
    Json,
    Silent,
}

/// How a `fit` ended.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// Every finished epoch, including those before a resume.
    pub history: Vec<EpochMetrics>,
    /// Stopped by the stop flag (Ctrl-C) before the last epoch finished.
    pub interrupted: bool,
    /// Stopped by a callback (early stopping).
    pub stopped_early: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// The plot written at the end of the run.
    pub plot: Option<PathBuf>,
}

/// Where a run is: saved in checkpoints. Sums are f64 bit patterns so that a resumed run
/// reports exactly the numbers an uninterrupted one would.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    /// 0-based epoch in progress.
    epoch: usize,
    /// Batches of that epoch already done.
    batch: usize,
    global_step: u64,
    loss_sum: u64,
    loss_count: u64,
    correct: u64,
    seen: u64,
    classification: bool,
    train_seconds: u64,
    seconds: u64,
    /// Seconds of `train_seconds` spent waiting for the loader (f64 bits).
    #[serde(default)]
    data_wait_seconds: u64,
}

fn add_bits(bits: &mut u64, v: f64) {
    *bits = (f64::from_bits(*bits) + v).to_bits();
}

/// Trains `model` with `optimizer` on a loss.
///
/// ```no_run
/// # use ember_core::Tensor;
/// # use ember_data::{DataLoader, TensorDataset};
/// use ember_nn::{functional, Linear, Module};
/// use ember_optim::{Sgd, SgdConfig};
/// use ember_train::Trainer;
/// let model = Linear::new(4, 3);
/// let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.1)).unwrap();
/// let data = TensorDataset::new(Tensor::randn(&[32, 4]), Tensor::zeros_dtype(&[32], ember_core::DType::I64).unwrap()).unwrap();
/// let train = DataLoader::new(data, 8).shuffle_seed(0);
/// let report = Trainer::new(&model, &mut opt, |out: &Tensor, y: &Tensor| {
///     functional::cross_entropy(out, y, &Default::default())
/// })
/// .epochs(2)
/// .fit(&train, None)
/// .unwrap();
/// assert_eq!(report.history.len(), 2);
/// ```
pub struct Trainer<'a> {
    model: &'a dyn Module,
    optimizer: &'a mut dyn Optimizer,
    loss_fn: LossFn<'a>,
    callbacks: Vec<Box<dyn Callback + 'a>>,
    epochs: usize,
    out_dir: Option<PathBuf>,
    resume: bool,
    progress: bool,
    report: Report,
    metadata: serde_json::Value,
    stop_flag: Option<Arc<AtomicBool>>,
    plot: bool,
    /// Data-parallel runs: the ranks that train together (see `process_group`).
    group: Option<ProcessGroup>,
}

impl<'a> Trainer<'a> {
    pub fn new(
        model: &'a dyn Module,
        optimizer: &'a mut dyn Optimizer,
        loss_fn: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + 'a,
    ) -> Trainer<'a> {
        Trainer {
            model,
            optimizer,
            loss_fn: Box::new(loss_fn),
            callbacks: Vec::new(),
            epochs: 1,
            out_dir: None,
            resume: false,
            progress: stdout_is_terminal(),
            report: Report::Silent,
            metadata: serde_json::Value::Null,
            stop_flag: None,
            plot: true,
            group: None,
        }
    }

    /// Train until this many epochs have finished in total (a resumed run counts earlier ones).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Write `checkpoint.safetensors`, `metrics.jsonl` and `plot.svg` into `dir`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Continue from `out_dir/checkpoint.safetensors`.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Draw the progress bar (default: when stdout is a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    pub fn report(mut self, report: Report) -> Self {
        self.report = report;
        self
    }

    /// A description of the run (model kind, dataset, ...) stored in every checkpoint.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Stop gracefully (checkpoint, then return) once `flag` is set, e.g. by Ctrl-C
    /// ([`crate::interrupt::ctrl_c_flag`]).
    pub fn stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop_flag = Some(flag);
        self
    }

    /// Write `plot.svg` at the end (default true when there is an `out_dir`).
    pub fn plot(mut self, plot: bool) -> Self {
        self.plot = plot;
        self
    }

    pub fn callback(mut self, cb: impl Callback + 'a) -> Self {
        self.callbacks.push(Box::new(cb));
        self
    }

    pub fn checkpoint_path(&self) -> Option<PathBuf> {
        self.out_dir.as_ref().map(|d| d.join(CHECKPOINT_FILE))
    }

    /// Train data-parallel with the other ranks of `group` (the model is usually a
    /// `DistributedDataParallel` and the loader's sampler a `DistributedSampler`): every step's
    /// loss, accuracy and example counts are summed across ranks, so metrics, the position in
    /// checkpoints and a stop request (Ctrl-C) are the same on every rank; only rank 0 shows
    /// progress, prints, and writes checkpoints, the run log and the plot.
    pub fn process_group(mut self, group: ProcessGroup) -> Self {
        self.group = Some(group);
        self
    }

    /// True on the rank that reports and writes files (rank 0, or a run without a group).
    pub fn is_main(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.rank() == 0)
    }

    /// Mean loss and accuracy over `source`.
    pub fn evaluate(&self, source: &dyn BatchSource) -> Result<EvalResult> {
        evaluate::evaluate(self.model, &*self.loss_fn, source)
    }

    /// The model's outputs over `source`, concatenated.
    pub fn predict(&self, source: &dyn BatchSource) -> Result<Tensor> {
        evaluate::predict(self.model, source)
    }

    /// The model's output for one input batch (eval mode, no grad).
    pub fn predict_batch(&self, x: &Tensor) -> Result<Tensor> {
        let device = evaluate::model_device(self.model);
        inference(self.model, || {
            if x.device() == device {
                self.model.forward(x)
            } else {
                self.model.forward(&x.to(device)?)
            }
        })
    }

    fn each_callback(
        &mut self,
        pos: &Position,
        stop: &mut bool,
        mut f: impl FnMut(&mut dyn Callback, &mut CallbackContext) -> Result<()>,
    ) -> Result<()> {
        for cb in self.callbacks.iter_mut() {
            let mut ctx = CallbackContext {
                model: self.model,
                optimizer: &mut *self.optimizer,
                epoch: pos.epoch,
                global_step: pos.global_step,
                out_dir: self.out_dir.as_deref(),
                is_main: self.group.as_ref().is_none_or(|g| g.rank() == 0),
                metadata: &self.metadata,
                stop: &mut *stop,
            };
            f(cb.as_mut(), &mut ctx)?;
        }
        Ok(())
    }

    fn save_checkpoint(&self, pos: &Position, history: &[EpochMetrics]) -> Result<Option<PathBuf>> {
        let Some(path) = self.checkpoint_path() else {
            return Ok(None);
        };
        if !self.is_main() {
            // rank 0 writes; the others name the file it wrote
            return Ok(Some(path));
        }
        let mut ck = Checkpoint::new();
        ck.insert_tensors("model", self.model.state_dict());
        ck.insert_tensors("optim", self.optimizer.state_dict().to_named_tensors());
        for cb in &self.callbacks {
            let state = cb.state_dict().into_iter().map(|(k, v)| (k, Tensor::scalar(v)));
            ck.insert_tensors(&format!("callbacks.{}", cb.name()), state);
        }
        ck.set_meta("run", &self.metadata);
        ck.set_meta("trainer", pos);
        ck.set_meta("history", history);
        ck.set_meta("rng", ember_core::rng::global_state());
        ck.save(&path)?;
        Ok(Some(path))
    }

    /// Restore everything from the run's checkpoint.
    fn restore(&mut self) -> Result<(Position, Vec<EpochMetrics>)> {
        let path = self.checkpoint_path().ok_or_else(|| Error::Arg {
            op: "Trainer::fit",
            msg: "resume needs an out_dir holding the checkpoint".into(),
        })?;
        if !path.is_file() {
            return Err(Error::Io {
                path: path.display().to_string(),
                msg: "no checkpoint to resume from (run without --resume to start a new run)".into(),
            });
        }
        let ck = Checkpoint::load(&path)?;
        let in_file = |e: Error| Error::Io {
            path: path.display().to_string(),
            msg: format!("cannot resume: {e}"),
        };
        self.model
            .load_state_dict(&ck.tensors("model"), true)
            .map_err(in_file)?;
        let optim = OptimState::from_named_tensors(&ck.tensors("optim")).map_err(in_file)?;
        self.optimizer.load_state_dict(&optim).map_err(in_file)?;
        // callbacks with counters must find them; stateless ones (printers, clipping) are free
        for cb in self.callbacks.iter_mut() {
            if cb.state_dict().is_empty() {
                continue;
            }
            let saved = ck.tensors(&format!("callbacks.{}", cb.name()));
            if saved.is_empty() {
                return Err(in_file(Error::Arg {
                    op: "resume",
                    msg: format!(
                        "the checkpoint holds no state for callback {:?}; resume with the callbacks of the original run",
                        cb.name()
                    ),
                }));
            }
            let state: BTreeMap<String, f64> = saved
                .into_iter()
                .map(|(k, t)| Ok((k, t.item()?)))
                .collect::<Result<_>>()?;
            cb.load_state_dict(&state).map_err(in_file)?;
        }
        ember_core::rng::set_global_state(ck.meta("rng")?);
        Ok((ck.meta("trainer")?, ck.meta("history")?))
    }

    /// Train on `train`, evaluating on `test` after each epoch.
    pub fn fit(&mut self, train: &dyn BatchSource, test: Option<&dyn BatchSource>) -> Result<FitReport> {
        let (mut pos, mut history) = if self.resume {
            self.restore()?
        } else {
            (
                Position {
                    classification: true,
                    ..Position::default()
                },
                Vec::new(),
            )
        };
        let main = self.is_main();
        if !main {
            self.progress = false;
            self.report = Report::Silent;
        }
        let mut run_log = match &self.out_dir {
            Some(d) if main => Some(RunLog::open(d.join(RUN_LOG_FILE), self.resume)?),
            _ => None,
        };
        let mut report = FitReport {
            history: Vec::new(),
            interrupted: false,
            stopped_early: false,
            checkpoint: None,
            plot: None,
        };
        let mut stop = false;
        self.each_callback(&pos, &mut stop, |cb, ctx| cb.on_train_begin(ctx))?;
        let n_batches = train.batches_per_epoch();
        // batches go where the model is (after `model.to_device(..)`)
        let device = evaluate::model_device(self.model);
        // for the time-left estimate: batches and seconds in this process
        let (mut timed_batches, mut timed_examples, mut timed_secs) = (0usize, 0usize, 0f64);
        while pos.epoch < self.epochs && !stop {
            let progress = Progress::new(pos.epoch + 1, self.epochs, n_batches, pos.batch, self.progress);
            let segment = Instant::now();
            self.model.train();
            let mut last = Instant::now();
            let mut batches = train.batches(pos.epoch as u64, pos.batch);
            loop {
                // the time `next` blocks is time the model waited for data
                let asked = Instant::now();
                let Some(batch) = batches.next() else { break };
                add_bits(&mut pos.data_wait_seconds, asked.elapsed().as_secs_f64());
                let (x, y) = evaluate::batch_on(batch?, device)?;
                let out = self.model.forward(&x)?;
                let loss = (self.loss_fn)(&out, &y)?;
                let loss_v = loss.item()?;
                self.optimizer.zero_grad();
                loss.backward()?;
                drop(loss);
                self.each_callback(&pos, &mut stop, |cb, ctx| cb.after_backward(ctx))?;
                self.optimizer.step()?;
                let n = y.shape().first().copied().unwrap_or(1);
                // [loss * n, n, correct, seen, stop requested]: summed over ranks when distributed
                let mut step = [loss_v * n as f64, n as f64, 0.0, 0.0, 0.0];
                pos.classification &= is_classification(&out, &y);
                if pos.classification {
                    step[2] = metrics::correct(&out.detach(), &y)? as f64;
                    step[3] = y.numel() as f64;
                }
                pos.batch += 1;
                pos.global_step += 1;
                self.each_callback(&pos, &mut stop, |cb, ctx| cb.on_batch_end(ctx, loss_v))?;
                // read after the callbacks, which may ask to stop
                if self.stop_flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                    step[4] = 1.0;
                }
                self.sum_over_ranks(&mut step)?;
                let n = step[1] as usize;
                add_bits(&mut pos.loss_sum, step[0]);
                pos.loss_count += n as u64;
                if pos.classification {
                    pos.correct += step[2] as u64;
                    pos.seen += step[3] as u64;
                }

                timed_batches += 1;
                timed_examples += n;
                timed_secs += last.elapsed().as_secs_f64();
                last = Instant::now();
                let per_batch = timed_secs / timed_batches as f64;
                let left = per_batch * ((n_batches - pos.batch) + (self.epochs - pos.epoch - 1) * n_batches) as f64;
                let acc = (pos.classification && pos.seen > 0).then(|| pos.correct as f64 / pos.seen as f64);
                let running_loss = f64::from_bits(pos.loss_sum) / pos.loss_count as f64;
                progress.update(
                    pos.batch,
                    running_loss,
                    acc,
                    timed_examples as f64 / timed_secs.max(1e-9),
                    left,
                );

                if step[4] > 0.0 {
                    progress.finish();
                    add_bits(&mut pos.seconds, segment.elapsed().as_secs_f64());
                    add_bits(&mut pos.train_seconds, segment.elapsed().as_secs_f64());
                    report.checkpoint = self.save_checkpoint(&pos, &history)?;
                    report.interrupted = true;
                    report.history = history;
                    return Ok(report);
                }
            }
            let train_secs = f64::from_bits(pos.train_seconds) + segment.elapsed().as_secs_f64();
            progress.note("evaluating");
            let eval = test.map(|t| self.evaluate(t)).transpose()?;
            progress.finish();
            let seconds = f64::from_bits(pos.seconds) + segment.elapsed().as_secs_f64();
            let metrics = EpochMetrics {
                epoch: pos.epoch + 1,
                train_loss: f64::from_bits(pos.loss_sum) / pos.loss_count.max(1) as f64,
                train_accuracy: (pos.classification && pos.seen > 0).then(|| pos.correct as f64 / pos.seen as f64),
                test_loss: eval.map(|e| e.loss),
                test_accuracy: eval.and_then(|e| e.accuracy),
                lr: self.optimizer.lr(),
                seconds,
                examples_per_second: pos.loss_count as f64 / train_secs.max(1e-9),
                data_wait_fraction: (f64::from_bits(pos.data_wait_seconds) / train_secs.max(1e-9)).min(1.0),
            };
            self.each_callback(&pos, &mut stop, |cb, ctx| cb.on_epoch_end(ctx, &metrics))?;
            match self.report {
                Report::Human => println!("{}", human_line(&metrics, self.epochs)),
                Report::Json => println!("{}", metrics.to_json_line()),
                Report::Silent => {}
            }
            if let Some(log) = run_log.as_mut() {
                log.write(&metrics)?;
            }
            history.push(metrics);
            pos = Position {
                epoch: pos.epoch + 1,
                global_step: pos.global_step,
                classification: true,
                ..Position::default()
            };
            report.checkpoint = self.save_checkpoint(&pos, &history)?;
            let mut stop_now = [self.stop_flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) as u8 as f64];
            self.sum_over_ranks(&mut stop_now)?;
            if stop_now[0] > 0.0 && pos.epoch < self.epochs {
                report.interrupted = true;
                report.history = history;
                return Ok(report);
            }
        }
        report.stopped_early = stop && pos.epoch < self.epochs;
        self.each_callback(&pos, &mut stop, |cb, ctx| cb.on_train_end(ctx))?;
        if let (true, Some(dir)) = (self.plot && main && !history.is_empty(), &self.out_dir) {
            let path = dir.join(PLOT_FILE);
            crate::plot::plot_history(&history, &path)?;
            report.plot = Some(path);
        }
        report.history = history;
        Ok(report)
    }
}

impl Trainer<'_> {
    /// Sum `v` element-wise over the ranks of a data-parallel run (nothing to do without one).
    fn sum_over_ranks(&self, v: &mut [f64]) -> Result<()> {
        let Some(g) = self.group.as_ref().filter(|g| g.world_size() > 1) else {
            return Ok(());
        };
        let t = Tensor::from_slice(v);
        g.all_reduce(&t, ember_dist::ReduceOp::Sum)?;
        v.copy_from_slice(&t.to_vec::<f64>()?);
        Ok(())
    }
}

/// `epoch 1/3: train loss 0.2154 acc 93.45% | test loss 0.0712 acc 97.81% | 35.2s, 1705 ex/s, data wait 0.4%`
pub fn human_line(m: &EpochMetrics, epochs: usize) -> String {
    let acc = |a: Option<f64>| a.map(|a| format!(" acc {:.2}%", 100.0 * a)).unwrap_or_default();
    let test = match m.test_loss {
        Some(l) => format!(" | test loss {l:.4}{}", acc(m.test_accuracy)),
        None => String::new(),
    };
    format!(
        "epoch {}/{epochs}: train loss {:.4}{}{test} | {:.1}s, {:.0} ex/s, data wait {:.1}%",
        m.epoch,
        m.train_loss,
        acc(m.train_accuracy),
        m.seconds,
        m.examples_per_second,
        100.0 * m.data_wait_fraction
    )
}

/// The run folder's checkpoint path.
pub fn checkpoint_in(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}
