//! CIFAR-10 and CIFAR-100 "binary version" batches: fixed-size records of label byte(s)
//! followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32).

use super::read_bytes;
use crate::error::file_err;
use crate::images::ImageClassDataset;
use crate::Split;
use ember_core::Result;
use std::path::{Path, PathBuf};

const PIXELS: usize = 3 * 32 * 32;

/// The usual CIFAR-10 normalization constants (per channel mean and std of pixel / 255).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which CIFAR-100 label to use as the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar100Labels {
    /// The 20 superclasses.
    Coarse,
    /// The 100 classes.
    Fine,
}

/// `dir` itself, or the folder the official archive unpacks to inside it.
fn resolve(dir: &Path, sub: &str) -> PathBuf {
    let inner = dir.join(sub);
    if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}

/// Class names from a text file beside the batches (one per line), or `fallback`.
fn class_names(path: &Path, count: usize, fallback: impl Fn(usize) -> String) -> Vec<String> {
    let from_file: Option<Vec<String>> = std::fs::read_to_string(path).ok().map(|s| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    });
    match from_file {
        Some(names) if names.len() == count => names,
        _ => (0..count).map(fallback).collect(),
    }
}

/// Parse record-structured batch files into pixels and labels, validating sizes and labels.
fn read_records(files: &[PathBuf], label_bytes: usize, label_at: usize, classes: usize) -> Result<(Vec<u8>, Vec<i64>)> {
    let record = label_bytes + PIXELS;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        if !path.is_file() {
            return Err(file_err(path, "missing CIFAR batch file"));
        }
        let bytes = read_bytes(path)?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(file_err(
                path,
                format!(
                    "{} bytes is not a whole number of {record}-byte CIFAR records (truncated or not a CIFAR batch?)",
                    bytes.len()
                ),
            ));
        }
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[label_at] as usize;
            if label >= classes {
                return Err(file_err(
                    path,
                    format!("record {i} has label {label}, but there are only {classes} classes"),
                ));
            }
            labels.push(label as i64);
            pixels.extend_from_slice(&rec[label_bytes..]);
        }
    }
    Ok((pixels, labels))
}

/// Load CIFAR-10 from `dir` (holding `data_batch_1.bin` ... `data_batch_5.bin` and
/// `test_batch.bin`, or the `cifar-10-batches-bin` folder that holds them), normalized with the
/// usual per-channel mean and std. Samples are `([3, 32, 32] f32, i64 label)`.
pub fn load_cifar10(dir: impl AsRef<Path>, split: Split) -> Result<ImageClassDataset> {
    let dir = resolve(dir.as_ref(), "cifar-10-batches-bin");
    let files: Vec<PathBuf> = match split {
        Split::Train => (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    };
    let (pixels, labels) = read_records(&files, 1, 0, 10)?;
    let classes = class_names(&dir.join("batches.meta.txt"), 10, |i| CIFAR10_CLASSES[i].to_string());
    ImageClassDataset::new(pixels, labels, [3, 32, 32], classes)?.normalize(&CIFAR10_MEAN, &CIFAR10_STD)
}

/// Load CIFAR-100 from `dir` (holding `train.bin` and `test.bin`, or the
/// `cifar-100-binary` folder), with coarse (20) or fine (100) labels. Pixels are scaled to
/// `[0, 1]`; call `.normalize(..)` on the result for other constants.
pub fn load_cifar100(dir: impl AsRef<Path>, split: Split, labels: Cifar100Labels) -> Result<ImageClassDataset> {
    let dir = resolve(dir.as_ref(), "cifar-100-binary");
    let file = dir.join(format!("{}.bin", split.name()));
    let (label_at, classes, names_file) = match labels {
        Cifar100Labels::Coarse => (0, 20, "coarse_label_names.txt"),
        Cifar100Labels::Fine => (1, 100, "fine_label_names.txt"),
    };
    let (pixels, targets) = read_records(&[file], 2, label_at, classes)?;
    let names = class_names(&dir.join(names_file), classes, |i| i.to_string());
    ImageClassDataset::new(pixels, targets, [3, 32, 32], names)
}
