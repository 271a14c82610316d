//! The models `ember train` knows by name, and the run description stored in checkpoints so
//! `ember eval` / `predict` / `info` can rebuild them.

use ember_core::Result;
use ember_nn::{Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential};
use serde::{Deserialize, Serialize};

/// `--model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// 784-256-10 multilayer perceptron.
    Mlp,
    /// conv(1->32,3x3)-relu-maxpool2-conv(32->64,3x3)-relu-maxpool2-linear(1600->128)-relu-linear(128->10).
    Cnn,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

/// A fresh, randomly initialized model for `[N, 1, 28, 28]` inputs and 10 classes.
pub fn build(kind: ModelKind) -> Result<Sequential> {
    Ok(match kind {
        ModelKind::Mlp => Sequential::new()
            .add(Flatten::new(1, -1))
            .add(Linear::new(784, 256))
            .add(ReLU)
            .add(Linear::new(256, 10)),
        ModelKind::Cnn => Sequential::new()
            .add(Conv2d::new(1, 32, 3)?)
            .add(ReLU)
            .add(MaxPool2d::new(2))
            .add(Conv2d::new(32, 64, 3)?)
            .add(ReLU)
            .add(MaxPool2d::new(2))
            .add(Flatten::new(1, -1))
            .add(Linear::new(1600, 128))
            .add(ReLU)
            .add(Linear::new(128, 10)),
    })
}

/// `--dataset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    pub fn flavor(self) -> ember_data::MnistFlavor {
        match self {
            DatasetKind::Mnist => ember_data::MnistFlavor::Mnist,
            DatasetKind::FashionMnist => ember_data::MnistFlavor::FashionMnist,
        }
    }
}

/// What a checkpoint says about the run that wrote it (its `run` metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub model: ModelKind,
    pub dataset: DatasetKind,
    /// `[C, H, W]` of one input.
    pub input_shape: Vec<usize>,
    pub classes: Vec<String>,
    /// Per-channel normalization applied to `pixel / 255`.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub optimizer: String,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
}
