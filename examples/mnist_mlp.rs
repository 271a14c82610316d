//! Train a multilayer perceptron on MNIST with `Trainer` and print its test accuracy.
//!
//! ```sh
//! cargo run --release -p ember-train --example mnist_mlp            # 2 epochs, ~97.5%
//! cargo run --release -p ember-train --example mnist_mlp -- --epochs 5
//! ```

use ember_core::{manual_seed, Result, Tensor};
use ember_data::{load_mnist, paths, DataLoader, Split};
use ember_nn::{functional, Flatten, Linear, Module, ReLU, Sequential};
use ember_optim::{Adam, AdamConfig};
use ember_train::{Report, Trainer};

/// `--name N` from the command line, or `default`.
fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    manual_seed(0);
    // the in-repo copy of MNIST (or --data-dir / $EMBER_DATA in the CLI)
    let dir = paths::mnist_dir(None)?;
    let train = DataLoader::new(load_mnist(&dir, Split::Train)?, 128).shuffle_seed(0);
    let test = DataLoader::new(load_mnist(&dir, Split::Test)?, 1000);

    let model = Sequential::new()
        .add(Flatten::new(1, -1))
        .add(Linear::new(784, 256))
        .add(ReLU)
        .add(Linear::new(256, 10));
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    let report = Trainer::new(&model, &mut opt, |logits: &Tensor, y: &Tensor| {
        functional::cross_entropy(logits, y, &Default::default())
    })
    .epochs(arg("--epochs", 2))
    .report(Report::Human)
    .fit(&train, Some(&test))?;

    let last = report.history.last().expect("at least one epoch");
    println!("MLP test accuracy: {:.2}%", 100.0 * last.test_accuracy.unwrap_or(0.0));
    Ok(())
}
