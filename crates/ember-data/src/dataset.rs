//! The map-style `Dataset` trait: a length and random access by index.

use crate::collate::Collate;
use ember_core::Result;
use std::sync::Arc;

/// A collection of samples addressed by index (PyTorch's map-style dataset).
///
/// `get` may fail (a corrupt image file, say) and must never panic on bad data. Datasets are
/// shared with the loader's background threads, hence `Send + Sync`.
///
/// ```
/// use ember_core::{Result, Tensor};
/// use ember_data::Dataset;
/// struct Squares;
/// impl Dataset for Squares {
///     type Item = (Tensor, Tensor);
///     fn len(&self) -> usize { 10 }
///     fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
///         Ok((Tensor::scalar(i as f32), Tensor::scalar((i * i) as f32)))
///     }
/// }
/// let (x, y) = Squares.get_batch(&[2, 3]).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![4.0, 9.0]);
/// ```
pub trait Dataset: Send + Sync {
    /// One sample, e.g. `(input, target)`.
    type Item: Send + 'static;

    fn len(&self) -> usize;

    fn get(&self, index: usize) -> Result<Self::Item>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices`, stacked into one batch. In-memory datasets override this
    /// with a single gather instead of building and stacking one tensor per sample.
    fn get_batch(&self, indices: &[usize]) -> Result<Self::Item>
    where
        Self::Item: Collate,
    {
        let items = indices.iter().map(|&i| self.get(i)).collect::<Result<Vec<_>>>()?;
        Self::Item::collate(items)
    }

    /// Told by the loader at the start of each epoch, so that random transforms can draw a
    /// fresh but reproducible stream per (epoch, sample). Wrappers forward it.
    fn set_epoch(&self, _epoch: u64) {}
}

/// A shared dataset is a dataset (so `DataLoader::new(Arc::clone(&ds), ..)` works).
impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        (**self).len()
    }

    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }

    fn get_batch(&self, indices: &[usize]) -> Result<D::Item>
    where
        D::Item: Collate,
    {
        (**self).get_batch(indices)
    }

    fn set_epoch(&self, epoch: u64) {
        (**self).set_epoch(epoch)
    }
}

/// Check an index against a dataset length (the error every dataset gives).
pub(crate) fn check_index(op: &'static str, index: usize, len: usize) -> Result<()> {
    if index >= len {
        return Err(ember_core::Error::Index {
            op,
            msg: format!("index {index} is out of range for a dataset of {len} samples"),
        });
    }
    Ok(())
}
