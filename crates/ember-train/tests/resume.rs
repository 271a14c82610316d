//! Exact resume: 2 epochs straight == 1 epoch, resume, 1 more == interrupted mid-epoch,
//! resume — bit for bit, with dropout (global RNG), Adam state and an LR schedule in play.

use ember_core::Tensor;
use ember_data::{DataLoader, TensorDataset};
use ember_nn::{functional, Dropout, Linear, Module, ReLU, Sequential};
use ember_optim::{Adam, AdamConfig, StepLR};
use ember_train::callbacks::{Callback, CallbackContext, EarlyStopping, LrSchedule};
use ember_train::{Checkpoint, FitReport, Trainer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The tests of this file share the global RNG (init, dropout): run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-train-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// 240 points in 8-d, 3 classes by a fixed rule (the same data every call).
fn data() -> TensorDataset {
    let mut g = ember_core::Generator::new(42);
    let x = Tensor::randn_with(&[240, 8], &mut g);
    let v = x.to_vec::<f32>().unwrap();
    let y: Vec<i64> = v
        .chunks(8)
        .map(|r| ((r[0] + r[1] > 0.0) as i64) + ((r[2] > 0.5) as i64))
        .collect();
    TensorDataset::new(x, Tensor::from_vec(y, &[240]).unwrap()).unwrap()
}

fn model() -> Sequential {
    Sequential::new()
        .add(Linear::new(8, 32))
        .add(ReLU)
        .add(Dropout::new(0.3).unwrap())
        .add(Linear::new(32, 3))
}

fn loss(out: &Tensor, y: &Tensor) -> ember_core::Result<Tensor> {
    functional::cross_entropy(out, y, &Default::default())
}

/// Raises the stop flag after a given global step (as Ctrl-C would).
struct StopAt(u64, Arc<AtomicBool>);
impl Callback for StopAt {
    fn name(&self) -> String {
        "stop_at".into()
    }
    fn on_batch_end(&mut self, ctx: &mut CallbackContext, _loss: f64) -> ember_core::Result<()> {
        if ctx.global_step == self.0 {
            self.1.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// One process's worth of a run: a fresh model (initialized from `init_seed`), optimizer and
/// scheduler, trained until `epochs` are done (resuming from `dir` when asked).
fn run(dir: &Path, init_seed: u64, epochs: usize, resume: bool, stop_at: Option<u64>) -> (Vec<Vec<f32>>, FitReport) {
    ember_core::manual_seed(init_seed);
    let net = model();
    let mut opt = Adam::new(net.parameters(), AdamConfig::new(1e-2)).unwrap();
    let sched = StepLR::new(&mut opt, 1, 0.5);
    let train = DataLoader::new(data(), 32).shuffle_seed(7).num_workers(2);
    let flag = Arc::new(AtomicBool::new(false));
    let mut trainer = Trainer::new(&net, &mut opt, loss)
        .epochs(epochs)
        .out_dir(dir)
        .resume(resume)
        .progress(false)
        .stop_flag(flag.clone())
        .callback(LrSchedule::per_epoch(sched))
        .callback(EarlyStopping::new("train_loss", 10));
    if let Some(step) = stop_at {
        trainer = trainer.callback(StopAt(step, flag));
    }
    let report = trainer.fit(&train, None).unwrap();
    let params = net.parameters().iter().map(|p| p.to_vec::<f32>().unwrap()).collect();
    (params, report)
}

#[test]
fn resume_is_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (straight, full) = run(&scratch("straight"), 0, 2, false, None);
    assert_eq!(full.history.len(), 2);
    assert!(!full.interrupted);

    // 1 epoch, then a new "process" (different init seed: the checkpoint must override it)
    let dir = scratch("split");
    let (_, first) = run(&dir, 0, 1, false, None);
    assert_eq!(first.history.len(), 1);
    let (resumed, rest) = run(&dir, 12345, 2, true, None);
    assert_eq!(resumed, straight, "1 + resume + 1 epochs must equal 2 straight epochs");
    let losses = |r: &FitReport| {
        r.history
            .iter()
            .map(|m| (m.train_loss.to_bits(), m.train_accuracy, m.lr))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&rest), losses(&full));
    let log = ember_train::read_run_log(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(log.len(), 2);

    // interrupted in the middle of epoch 2 (8 batches per epoch), then resumed
    let dir = scratch("interrupt");
    let (_, cut) = run(&dir, 0, 2, false, Some(11));
    assert!(cut.interrupted);
    assert_eq!(cut.history.len(), 1);
    let ck = Checkpoint::load(dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.meta_value("trainer").unwrap()["batch"], 3);
    let (resumed, rest) = run(&dir, 999, 2, true, None);
    assert!(!rest.interrupted);
    assert_eq!(resumed, straight, "interrupt + resume must equal the straight run");
    assert_eq!(
        rest.history[1].train_loss.to_bits(),
        full.history[1].train_loss.to_bits()
    );
    assert_eq!(rest.history[1].lr, 0.005); // the rate used during epoch 2
}

#[test]
fn resume_errors_are_clear() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("errors");
    ember_core::manual_seed(0);
    let net = model();
    let mut opt = Adam::new(net.parameters(), AdamConfig::new(1e-2)).unwrap();
    let train = DataLoader::new(data(), 32);
    let err = Trainer::new(&net, &mut opt, loss)
        .out_dir(&dir)
        .resume(true)
        .progress(false)
        .fit(&train, None)
        .unwrap_err();
    assert!(err.to_string().contains("no checkpoint to resume from"), "{err}");

    // a checkpoint of a different model
    Trainer::new(&net, &mut opt, loss)
        .out_dir(&dir)
        .progress(false)
        .fit(&train, None)
        .unwrap();
    let other = Sequential::new().add(Linear::new(8, 3));
    let mut opt2 = Adam::new(other.parameters(), AdamConfig::new(1e-2)).unwrap();
    let err = Trainer::new(&other, &mut opt2, loss)
        .out_dir(&dir)
        .resume(true)
        .progress(false)
        .epochs(2)
        .fit(&train, None)
        .unwrap_err();
    assert!(err.to_string().contains("cannot resume"), "{err}");
}
