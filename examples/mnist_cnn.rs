//! Train the small CNN of `ember train mnist` with `Trainer`: a run folder with checkpoints,
//! a JSON-lines log and a plot; Ctrl-C stops after the current batch with a checkpoint, and
//! `--resume` continues exactly where it stopped.
//!
//! ```sh
//! cargo run --release -p ember-train --example mnist_cnn             # 1 epoch, ~98.5%
//! cargo run --release -p ember-train --example mnist_cnn -- --epochs 3 --resume
//! ```

use ember_core::{manual_seed, Result, Tensor};
use ember_data::{load_mnist, paths, DataLoader, Split};
use ember_nn::{functional, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use ember_optim::{Adam, AdamConfig};
use ember_train::callbacks::{CheckpointBest, EarlyStopping};
use ember_train::{interrupt, Report, Trainer};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let epochs = args
        .iter()
        .position(|a| a == "--epochs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    let resume = args.iter().any(|a| a == "--resume");

    manual_seed(0);
    let dir = paths::mnist_dir(None)?;
    let train = DataLoader::new(load_mnist(&dir, Split::Train)?, 64).shuffle_seed(0);
    let test = DataLoader::new(load_mnist(&dir, Split::Test)?, 500);

    let model = Sequential::new()
        .add(Conv2d::new(1, 32, 3)?)
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, 3)?)
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten::new(1, -1))
        .add(Linear::new(1600, 128))
        .add(ReLU)
        .add(Linear::new(128, 10));
    println!("{}", model.summary(&Tensor::zeros(&[1, 1, 28, 28]))?);

    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    let report = Trainer::new(&model, &mut opt, |logits: &Tensor, y: &Tensor| {
        functional::cross_entropy(logits, y, &Default::default())
    })
    .epochs(epochs)
    .out_dir("runs/example-mnist-cnn")
    .resume(resume)
    .report(Report::Human)
    .stop_flag(interrupt::ctrl_c_flag())
    .callback(CheckpointBest::new("test_accuracy"))
    .callback(EarlyStopping::new("test_loss", 3))
    .fit(&train, Some(&test))?;

    if report.interrupted {
        println!("stopped: rerun with --resume to continue from {:?}", report.checkpoint);
    } else if let Some(m) = report.history.last() {
        println!(
            "CNN test accuracy: {:.2}%, run files in runs/example-mnist-cnn",
            100.0 * m.test_accuracy.unwrap_or(0.0)
        );
    }
    Ok(())
}
