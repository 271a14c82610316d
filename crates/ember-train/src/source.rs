//! `BatchSource`: what the trainer needs from a loader, as an object-safe trait so one
//! `fit` serves loaders over any dataset type.

use ember_core::{Result, Tensor};
use ember_data::{DataLoader, Dataset};

/// Epochs of `(input, target)` batches.
pub trait BatchSource {
    fn batches_per_epoch(&self) -> usize;

    /// The batches of `epoch` from batch `start` on (earlier ones are skipped unbuilt).
    fn batches(&self, epoch: u64, start: usize) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + '_>;
}

impl<D: Dataset + 'static> BatchSource for DataLoader<D, (Tensor, Tensor)> {
    fn batches_per_epoch(&self) -> usize {
        self.len()
    }

    fn batches(&self, epoch: u64, start: usize) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + '_> {
        Box::new(self.epoch_from(epoch, start))
    }
}
