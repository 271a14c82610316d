//! `ember`: train, evaluate, inspect and run models from the command line.
//!
//! ```text
//! ember train mnist                      # a CNN on MNIST, 3 epochs, checkpoint in runs/mnist-cnn
//! ember train mnist --resume             # continue an interrupted run exactly where it stopped
//! ember train mnist --dataset fashion-mnist --model mlp --epochs 5
//! ember eval runs/mnist-cnn/checkpoint.safetensors
//! ember predict runs/mnist-cnn/checkpoint.safetensors digit.png
//! ember info runs/mnist-cnn/checkpoint.safetensors
//! ```

mod inspect;
mod models;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ember", version, about = "Train, evaluate and inspect ember models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (MNIST / Fashion-MNIST classifiers) with a progress bar, run log,
    /// checkpoints and exact resume.
    Train(train::TrainArgs),
    /// Evaluate a checkpoint on its dataset's test set: loss, accuracy, confusion matrix,
    /// per-class precision / recall / F1.
    Eval(inspect::EvalArgs),
    /// Classify an image file (PNG or JPEG) with a checkpoint.
    Predict(inspect::PredictArgs),
    /// Show what a checkpoint holds: run settings, progress, layers, shapes, parameter count.
    Info(inspect::InfoArgs),
}

/// A failure to report to the user (no panic, a message and exit code 1).
#[derive(Debug)]
pub struct CliError(String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ember_core::Error> for CliError {
    fn from(e: ember_core::Error) -> CliError {
        CliError(e.to_string())
    }
}

impl From<String> for CliError {
    fn from(s: String) -> CliError {
        CliError(s)
    }
}

pub type CliResult<T> = Result<T, CliError>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => inspect::eval(a),
        Command::Predict(a) => inspect::predict(a),
        Command::Info(a) => inspect::info(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
