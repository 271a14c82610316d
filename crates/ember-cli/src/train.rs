//! `ember train`: MNIST-style classifiers end to end — data, model, optimizer, schedule,
//! progress bar, run log, plot, checkpoints, Ctrl-C and `--resume`.

use crate::models::{self, DatasetKind, ModelKind, RunInfo};
use crate::{CliError, CliResult};
use ember_core::{Device, Result, Tensor};
use ember_data::{paths, readers::mnist::load_idx_pair, DataLoader, ImageClassDataset, Split, Subset};
use ember_dist::{DistributedDataParallel, DistributedSampler, ProcessGroup};
use ember_nn::{functional, Module};
use ember_optim::{Adam, AdamConfig, AdamW, CosineAnnealingLR, Optimizer, Sgd, SgdConfig};
use ember_train::callbacks::{CheckpointBest, LrSchedule};
use ember_train::{interrupt, progress, Checkpoint, Report, Trainer};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    Adam,
    Sgd,
    Adamw,
}

impl OptimizerKind {
    fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adamw => "adamw",
        }
    }

    fn parse(name: &str) -> Option<OptimizerKind> {
        [OptimizerKind::Adam, OptimizerKind::Sgd, OptimizerKind::Adamw]
            .into_iter()
            .find(|k| k.name() == name)
    }

    fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 0.05,
            OptimizerKind::Adam | OptimizerKind::Adamw => 1e-3,
        }
    }

    fn build(self, params: Vec<Tensor>, lr: f64) -> Result<Box<dyn Optimizer>> {
        Ok(match self {
            OptimizerKind::Adam => Box::new(Adam::new(params, AdamConfig::new(lr))?),
            OptimizerKind::Adamw => Box::new(AdamW::new(params, AdamConfig::adamw(lr))?),
            OptimizerKind::Sgd => Box::new(Sgd::new(params, SgdConfig::new(lr).momentum(0.9))?),
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// What to train on: mnist (handwritten digits) or fashion-mnist (clothing).
    #[arg(value_enum)]
    task: DatasetKind,
    /// The model [default: cnn].
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// Total epochs (a resumed run counts the ones already done).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Samples per training batch [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate [default: 1e-3 for adam/adamw, 0.05 for sgd]; it decays to 0 over the run
    /// on a cosine schedule.
    #[arg(long)]
    lr: Option<f64>,
    /// The optimizer [default: adam].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Folder holding the dataset's IDX files (or a data root with mnist/, fashion-mnist/).
    /// Defaults: $EMBER_DATA, then the repository's data/ (MNIST); Fashion-MNIST is read from
    /// /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use this dataset instead of TASK (e.g. `ember train mnist --dataset fashion-mnist`).
    #[arg(long, value_enum)]
    dataset: Option<DatasetKind>,
    /// Where checkpoints, the run log and the plot go [default: runs/<dataset>-<model>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint (settings come from the checkpoint).
    #[arg(long)]
    resume: bool,
    /// Seed for initialization and shuffling [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Train on the first N training images only.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    limit_test: Option<usize>,
    /// Print one JSON object per epoch (epoch, train_loss, test_loss, test_accuracy, seconds,
    /// ...) on stdout instead of the progress bar and text.
    #[arg(long)]
    json: bool,
    /// Background threads preparing batches.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Where to train: cpu, cuda (GPU 0) or cuda:N. A GPU needs a build with `--features cuda`
    /// and an NVIDIA driver; without them this is a clear error.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Settings fixed for a run: stored in its checkpoint, read back on `--resume`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Settings {
    #[serde(flatten)]
    info: RunInfo,
    limit_train: Option<usize>,
}

/// Explicit flag, else the checkpoint's value, else the default; an explicit flag that
/// contradicts the checkpoint is an error (it would silently change the resumed run).
fn pick<T: PartialEq + std::fmt::Debug + Clone>(
    flag: Option<T>,
    saved: Option<T>,
    default: T,
    name: &str,
) -> CliResult<T> {
    match (flag, saved) {
        (Some(f), Some(s)) if f != s => Err(format!(
            "--{name} {f:?} conflicts with the checkpoint being resumed ({s:?}); drop the flag or use another --out"
        )
        .into()),
        (Some(f), _) => Ok(f),
        (None, Some(s)) => Ok(s),
        (None, None) => Ok(default),
    }
}

fn load_split(dataset: DatasetKind, dir: &Path, split: Split) -> CliResult<ImageClassDataset> {
    Ok(load_idx_pair(dir, split, dataset.flavor())?)
}

pub fn run(args: TrainArgs) -> CliResult<ExitCode> {
    // under mpirun: data-parallel over the MPI ranks (one process otherwise)
    let group = ProcessGroup::from_env()?;
    let (rank, world) = (group.rank(), group.world_size());
    let dataset = args.dataset.unwrap_or(args.task);
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            dataset.name(),
            args.model.unwrap_or(ModelKind::Cnn).name()
        ))
    });
    let ckpt_path = ember_train::checkpoint_in(&out);
    let saved: Option<Settings> = if args.resume {
        if !ckpt_path.is_file() {
            return Err(CliError(format!(
                "--resume: no checkpoint at {} (start without --resume, or pass the --out of the run to continue)",
                ckpt_path.display()
            )));
        }
        let ck = Checkpoint::load(&ckpt_path)?;
        Some(
            ck.meta("run")
                .map_err(|e| CliError(format!("{e} (was it written by `ember train`?)")))?,
        )
    } else {
        None
    };
    let s = saved.as_ref();
    let model_kind = pick(args.model, s.map(|s| s.info.model), ModelKind::Cnn, "model")?;
    pick(Some(dataset), s.map(|s| s.info.dataset), dataset, "dataset")?;
    let opt_saved = s.and_then(|s| OptimizerKind::parse(&s.info.optimizer));
    let opt_kind = pick(args.optimizer, opt_saved, OptimizerKind::Adam, "optimizer")?;
    let lr = pick(args.lr, s.map(|s| s.info.lr), opt_kind.default_lr(), "lr")?;
    let batch_size = pick(args.batch_size, s.map(|s| s.info.batch_size), 64, "batch-size")?;
    let seed = pick(args.seed, s.map(|s| s.info.seed), 0, "seed")?;
    let limit_train = pick(
        args.limit_train.map(Some),
        s.map(|s| s.limit_train),
        None,
        "limit-train",
    )?;
    if batch_size == 0 || args.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".to_string().into());
    }
    let device: Device = args.device.parse().map_err(|e| CliError(format!("--device: {e}")))?;
    device
        .check_available("ember train")
        .map_err(|e| CliError(format!("--device {device}: {e}")))?;
    if world > 1 && !device.is_cpu() {
        return Err(CliError(format!(
            "--device {device}: data-parallel runs of `ember train` are CPU-only for now (drop --device, or run one process)"
        )));
    }

    let dir = match dataset {
        DatasetKind::Mnist => paths::mnist_dir(args.data_dir.as_deref())?,
        DatasetKind::FashionMnist => paths::fashion_mnist_dir(args.data_dir.as_deref())?,
    };
    let train_set = load_split(dataset, &dir, Split::Train)?;
    let test_set = load_split(dataset, &dir, Split::Test)?;
    let settings = Settings {
        info: RunInfo {
            model: model_kind,
            dataset,
            input_shape: train_set.image_shape().to_vec(),
            classes: train_set.classes().to_vec(),
            mean: train_set.mean().to_vec(),
            std: train_set.std().to_vec(),
            optimizer: opt_kind.name().into(),
            lr,
            batch_size,
            seed,
        },
        limit_train,
    };
    let train_set = Subset::first(train_set, limit_train.unwrap_or(usize::MAX));
    let test_set = Subset::first(test_set, args.limit_test.unwrap_or(usize::MAX));
    let (n_train, n_test) = (
        ember_data::Dataset::len(&train_set),
        ember_data::Dataset::len(&test_set),
    );
    if !batch_size.is_multiple_of(world) {
        return Err(CliError(format!(
            "--batch-size {batch_size} is the global batch and must be divisible by the {world} ranks"
        )));
    }
    // each rank takes its interleaved share of every global batch (see DistributedSampler), so
    // N ranks see the global batches one process would: resuming with another world size is exact
    let train = if world > 1 {
        let sampler = DistributedSampler::new(n_train, rank, world, Some(seed))?;
        DataLoader::new(train_set, batch_size / world).sampler(sampler)
    } else {
        DataLoader::new(train_set, batch_size).shuffle_seed(seed)
    }
    .num_workers(args.workers);
    let test = DataLoader::new(test_set, 500).num_workers(args.workers);

    ember_core::manual_seed(seed);
    let model = models::build(model_kind)?;
    // before the optimizer is built, which holds the parameters it finds (as in PyTorch)
    model.to_device(device)?;
    let model: Box<dyn Module> = if world > 1 {
        // starts from rank 0's weights, averages gradients during backward
        Box::new(DistributedDataParallel::new(model, group.clone())?)
    } else {
        Box::new(model)
    };
    let mut opt = opt_kind.build(model.parameters(), lr)?;
    let total_steps = args.epochs * train.len();
    let schedule = CosineAnnealingLR::new(opt.as_mut(), total_steps, 0.0);

    let human = !args.json;
    let say = |msg: String| match (rank, human) {
        (0, true) => println!("{msg}"),
        (0, false) => eprintln!("{msg}"),
        _ => {}
    };
    if world > 1 {
        say(format!(
            "data-parallel on {world} ranks ({} back-end): {} examples per rank per step",
            group.backend_name(),
            batch_size / world
        ));
    }
    if args.resume {
        say(format!("resuming {} from {}", out.display(), ckpt_path.display()));
    }
    say(format!(
        "training {} on {} ({n_train} train / {n_test} test images) for {} epochs: {} lr {lr}, batch {batch_size}, seed {seed}{}",
        model_kind.name(),
        dataset.flavor().name(),
        args.epochs,
        opt_kind.name(),
        if device.is_cpu() { String::new() } else { format!(", on {device}") }
    ));
    let metadata = serde_json::to_value(&settings).map_err(|e| CliError(e.to_string()))?;
    let report = Trainer::new(&model, opt.as_mut(), |out: &Tensor, y: &Tensor| {
        functional::cross_entropy(out, y, &Default::default())
    })
    .epochs(args.epochs)
    .out_dir(&out)
    .resume(args.resume)
    .progress(human && progress::stdout_is_terminal())
    .report(if human { Report::Human } else { Report::Json })
    .metadata(metadata)
    .stop_flag(interrupt::ctrl_c_flag())
    .process_group(group.clone())
    .callback(LrSchedule::per_batch(schedule))
    .callback(CheckpointBest::new("test_accuracy"))
    .fit(&train, Some(&test))?;

    let ckpt = report
        .checkpoint
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if report.interrupted {
        say(format!("interrupted: checkpoint written to {ckpt}"));
        say(format!(
            "continue with: ember train {} --resume{}",
            dataset.name(),
            out_flag(&args.out)
        ));
        return Ok(ExitCode::from(130));
    }
    if let Some(last) = report.history.last() {
        if let Some(acc) = last.test_accuracy {
            say(format!(
                "test accuracy: {:.2}% (epoch {}, test loss {:.4})",
                100.0 * acc,
                last.epoch,
                last.test_loss.unwrap_or(f64::NAN)
            ));
        }
    }
    say(format!("checkpoint: {ckpt}"));
    say(format!("best model: {}", out.join("best.safetensors").display()));
    say(format!("run log: {}", out.join(ember_train::RUN_LOG_FILE).display()));
    if let Some(plot) = &report.plot {
        say(format!("plot: {}", plot.display()));
    }
    Ok(ExitCode::SUCCESS)
}

fn out_flag(out: &Option<PathBuf>) -> String {
    out.as_ref()
        .map(|o| format!(" --out {}", o.display()))
        .unwrap_or_default()
}
