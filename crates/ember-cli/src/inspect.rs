//! `ember eval`, `ember predict` and `ember info`: use and inspect checkpoints written by
//! `ember train`.

use crate::models::{self, DatasetKind, RunInfo};
use crate::{CliError, CliResult};
use ember_core::Tensor;
use ember_data::readers::image_folder::load_image;
use ember_data::{paths, readers::mnist::load_idx_pair, DataLoader, ImageFolderOptions, Split, Subset};
use ember_nn::{functional, Module, Sequential};
use ember_train::{Checkpoint, EpochMetrics};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `ember train` (checkpoint.safetensors or best.safetensors).
    checkpoint: PathBuf,
    /// Folder holding the dataset (see `ember train --help`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `ember train`.
    checkpoint: PathBuf,
    /// The image to classify (PNG or JPEG; resized to the model's input size).
    image: PathBuf,
    /// How many of the most likely classes to show.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// A checkpoint file.
    checkpoint: PathBuf,
}

/// The checkpoint, its run description and the model with its weights loaded.
fn load_model(path: &Path) -> CliResult<(Checkpoint, RunInfo, Sequential)> {
    let ck = Checkpoint::load(path)?;
    let info: RunInfo = ck.meta("run").map_err(|e| {
        CliError(format!(
            "{e}; this checkpoint was not written by `ember train`, so its model is unknown (try `ember info`)"
        ))
    })?;
    let model = models::build(info.model)?;
    model.load_state_dict(&ck.tensors("model"), true).map_err(|e| {
        CliError(format!(
            "{}: the weights do not fit a {} model: {e}",
            path.display(),
            info.model.name()
        ))
    })?;
    model.eval();
    Ok((ck, info, model))
}

pub fn eval(args: EvalArgs) -> CliResult<ExitCode> {
    let (_, info, model) = load_model(&args.checkpoint)?;
    let dir = match info.dataset {
        DatasetKind::Mnist => paths::mnist_dir(args.data_dir.as_deref())?,
        DatasetKind::FashionMnist => paths::fashion_mnist_dir(args.data_dir.as_deref())?,
    };
    let test = load_idx_pair(&dir, Split::Test, info.dataset.flavor())?;
    let classes = test.classes().to_vec();
    let test = Subset::first(test, args.limit.unwrap_or(usize::MAX));
    let loader = DataLoader::new(test, args.batch_size.max(1));
    let loss = |out: &Tensor, y: &Tensor| functional::cross_entropy(out, y, &Default::default());
    let result = ember_train::evaluate(&model, &loss, &loader)?;
    let cm = ember_train::confusion_matrix(&model, &loader, classes.len())?;
    if args.json {
        let per_class: Vec<serde_json::Value> = (0..classes.len())
            .map(|c| {
                serde_json::json!({"class": classes[c], "precision": cm.precision(c), "recall": cm.recall(c), "f1": cm.f1(c)})
            })
            .collect();
        let v = serde_json::json!({
            "checkpoint": args.checkpoint.display().to_string(),
            "dataset": info.dataset.name(),
            "samples": result.samples,
            "test_loss": result.loss,
            "test_accuracy": result.accuracy,
            "macro_f1": cm.macro_f1(),
            "per_class": per_class,
        });
        println!("{v}");
    } else {
        println!(
            "{} test set, {} images: loss {:.4}, accuracy {:.2}%, macro F1 {:.4}\n",
            info.dataset.flavor().name(),
            result.samples,
            result.loss,
            100.0 * result.accuracy.unwrap_or(f64::NAN),
            cm.macro_f1()
        );
        print!("{}", cm.render(&classes));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn predict(args: PredictArgs) -> CliResult<ExitCode> {
    let (_, info, model) = load_model(&args.checkpoint)?;
    let &[c, h, w] = info.input_shape.as_slice() else {
        return Err(CliError(format!(
            "the checkpoint's input shape {:?} is not [C, H, W]",
            info.input_shape
        )));
    };
    let opts = ImageFolderOptions {
        grayscale: c == 1,
        size: Some((w as u32, h as u32)),
    };
    let mut x = load_image(&args.image, opts)?;
    // MNIST-style data is light on dark: invert a dark-on-light picture (a digit on paper)
    let mean = x.mean_all()?.item()?;
    let inverted = mean > 0.5;
    if inverted {
        x = x.rsub_scalar(1.0)?;
    }
    let m = Tensor::from_vec(info.mean.clone(), &[c, 1, 1])?;
    let s = Tensor::from_vec(info.std.clone(), &[c, 1, 1])?;
    let x = x.sub(&m)?.div(&s)?.unsqueeze(0)?;
    let probs = {
        let _ng = ember_core::no_grad();
        functional::softmax(&model.forward(&x)?, -1)?.to_vec::<f32>()?
    };
    let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let name = |i: usize| info.classes.get(i).cloned().unwrap_or_else(|| i.to_string());
    println!(
        "{}: {} ({:.1}%)",
        args.image.display(),
        name(ranked[0].0),
        100.0 * ranked[0].1
    );
    if inverted {
        println!("  (dark-on-light image: inverted to match the training data)");
    }
    for (i, p) in ranked.iter().take(args.top.max(1)) {
        println!("  {:>12}  {:6.2}%", name(*i), 100.0 * p);
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub fn info(args: InfoArgs) -> CliResult<ExitCode> {
    let ck = Checkpoint::load(&args.checkpoint)?;
    println!("checkpoint: {}", args.checkpoint.display());
    let model_tensors = ck.tensors("model");
    let other = ck.all_tensors().len() - model_tensors.len();
    match ck.meta::<RunInfo>("run") {
        Ok(info) => {
            println!(
                "run: {} on {}, {} lr {}, batch {}, seed {}",
                info.model.name(),
                info.dataset.flavor().name(),
                info.optimizer,
                info.lr,
                info.batch_size,
                info.seed
            );
            if let Some(pos) = ck.meta_value("trainer") {
                println!(
                    "progress: {} epochs done, {} batches into the next, {} optimizer steps",
                    pos["epoch"], pos["batch"], pos["global_step"]
                );
            }
            let history: Vec<EpochMetrics> = ck.meta("history").unwrap_or_default();
            let last: Option<EpochMetrics> = history.last().cloned().or_else(|| ck.meta("metrics").ok());
            if let Some(m) = last {
                let acc = m
                    .test_accuracy
                    .map(|a| format!(", test accuracy {:.2}%", 100.0 * a))
                    .unwrap_or_default();
                println!("last epoch: {} (train loss {:.4}{acc})", m.epoch, m.train_loss);
            }
            let (_, _, model) = load_model(&args.checkpoint)?;
            let mut shape = vec![1];
            shape.extend(&info.input_shape);
            println!("\n{}", model.summary(&Tensor::zeros(&shape))?);
        }
        Err(_) => {
            println!("(no `ember train` run description: listing the stored tensors)");
            let all = if model_tensors.is_empty() {
                ck.all_tensors().clone()
            } else {
                model_tensors.clone()
            };
            for (name, t) in &all {
                println!("  {name:<40} {:?} {}", t.shape(), t.dtype());
            }
        }
    }
    let params: usize = model_tensors.values().map(|t| t.numel()).sum();
    println!(
        "model tensors: {}, parameters: {}",
        model_tensors.len(),
        fmt_count(params)
    );
    if other > 0 {
        println!("other tensors (optimizer and callback state): {other}");
    }
    Ok(ExitCode::SUCCESS)
}
