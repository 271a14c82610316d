//! MNIST and Fashion-MNIST: four IDX files (train/t10k images and labels), raw or gzip.

use super::find_file;
use super::idx::read_idx;
use crate::error::file_err;
use crate::images::ImageClassDataset;
use crate::Split;
use ember_core::Result;
use std::path::Path;

/// Which of the two datasets that share the MNIST file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistFlavor {
    Mnist,
    FashionMnist,
}

impl MnistFlavor {
    pub fn name(self) -> &'static str {
        match self {
            MnistFlavor::Mnist => "MNIST",
            MnistFlavor::FashionMnist => "Fashion-MNIST",
        }
    }

    /// The usual normalization constants (mean and std of the training pixels / 255).
    pub fn mean_std(self) -> (f32, f32) {
        match self {
            MnistFlavor::Mnist => (0.1307, 0.3081),
            MnistFlavor::FashionMnist => (0.2860, 0.3530),
        }
    }

    pub fn class_names(self) -> Vec<String> {
        match self {
            MnistFlavor::Mnist => (0..10).map(|d| d.to_string()).collect(),
            MnistFlavor::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The IDX file names tried for one split and kind, in order.
fn candidates(split: Split, kind: &str, rank: u8) -> Vec<String> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let mut names = Vec::new();
    for sep in ['-', '.'] {
        let base = format!("{prefix}-{kind}{sep}idx{rank}-ubyte");
        names.push(format!("{base}.gz"));
        names.push(base);
    }
    names
}

/// Load one split of MNIST from `dir` (the folder holding the IDX files), normalized with the
/// usual mean 0.1307 and std 0.3081. Samples are `([1, 28, 28] f32, i64 label)`.
pub fn load_mnist(dir: impl AsRef<Path>, split: Split) -> Result<ImageClassDataset> {
    load_idx_pair(dir.as_ref(), split, MnistFlavor::Mnist)
}

/// Load one split of Fashion-MNIST from `dir`, normalized with mean 0.2860 and std 0.3530.
pub fn load_fashion_mnist(dir: impl AsRef<Path>, split: Split) -> Result<ImageClassDataset> {
    load_idx_pair(dir.as_ref(), split, MnistFlavor::FashionMnist)
}

/// Read and cross-check the image and label files of one split.
pub fn load_idx_pair(dir: &Path, split: Split, flavor: MnistFlavor) -> Result<ImageClassDataset> {
    let what = |kind: &str| format!("{} {} {kind}", flavor.name(), split.name());
    let images_path = find_file(dir, &what("images"), &candidates(split, "images", 3))?;
    let labels_path = find_file(dir, &what("labels"), &candidates(split, "labels", 1))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    let &[n, rows, cols] = images.dims.as_slice() else {
        return Err(file_err(
            &images_path,
            format!("expected 3 dimensions (count, rows, cols), found {:?}", images.dims),
        ));
    };
    if labels.dims.len() != 1 {
        return Err(file_err(
            &labels_path,
            format!("expected 1 dimension (count), found {:?}", labels.dims),
        ));
    }
    if labels.dims[0] != n {
        return Err(file_err(
            &labels_path,
            format!(
                "count mismatch: it holds {} labels but {} holds {n} images",
                labels.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some((i, l)) = labels.data.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(file_err(
            &labels_path,
            format!("label {l} of sample {i} is not a class 0..9"),
        ));
    }
    let (mean, std) = flavor.mean_std();
    let targets = labels.data.iter().map(|&l| l as i64).collect();
    ImageClassDataset::new(images.data, targets, [1, rows, cols], flavor.class_names())?.normalize(&[mean], &[std])
}
