//! ember-data: datasets, data loaders, samplers, transforms and readers for common formats.
//!
//! A [`Dataset`] maps an index to a sample; a [`DataLoader`] draws indices from a [`Sampler`],
//! groups them into batches, builds each batch (by default by stacking samples with
//! [`Collate`], or with one gather for in-memory datasets) and prefetches the next batches on
//! background threads while the model trains.
//!
//! ```
//! use ember_core::Tensor;
//! use ember_data::{DataLoader, TensorDataset};
//! let x = Tensor::arange(0.0, 10.0, 1.0).unwrap().reshape(&[5, 2]).unwrap();
//! let y = Tensor::arange(0.0, 5.0, 1.0).unwrap();
//! let loader = DataLoader::new(TensorDataset::new(x, y).unwrap(), 2).shuffle_seed(7);
//! let batches: Vec<_> = loader.epoch(0).collect::<Result<_, _>>().unwrap();
//! assert_eq!(batches.len(), 3);
//! assert_eq!(batches[0].0.shape(), &[2, 2]);
//! assert_eq!(batches[2].0.shape(), &[1, 2]); // the last, partial batch (drop_last = false)
//! ```

mod collate;
mod combinators;
mod dataset;
mod error;
mod images;
mod iterable;
mod loader;
pub mod paths;
pub mod readers;
mod sampler;
mod tensor_dataset;
pub mod transforms;

pub use collate::Collate;
pub use combinators::{random_split, ConcatDataset, Subset};
pub use dataset::Dataset;
pub use images::ImageClassDataset;
pub use iterable::{IterBatches, IterableDataset, IterableLoader};
pub use loader::{Batches, DataLoader};
pub use readers::cifar::{load_cifar10, load_cifar100, Cifar100Labels};
pub use readers::csv::{CsvDataset, CsvOptions};
pub use readers::idx::{read_idx, IdxArray};
pub use readers::image_folder::{ImageFolder, ImageFolderOptions};
pub use readers::mnist::{load_fashion_mnist, load_mnist, MnistFlavor};
pub use readers::text::{read_text, CharDataset, CharVocab};
pub use sampler::{RandomSampler, Sampler, SequentialSampler, WeightedRandomSampler};
pub use tensor_dataset::TensorDataset;
pub use transforms::{Transform, Transformed};

/// Which part of a dataset to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}
