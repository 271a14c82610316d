//! Views over other datasets: `Subset`, `random_split`, `ConcatDataset`.

use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::arg_err;
use ember_core::{Generator, Result};
use std::sync::Arc;

/// The samples of `dataset` at `indices`, in that order.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{Dataset, Subset, TensorDataset};
/// let ds = TensorDataset::new(Tensor::arange(0.0, 5.0, 1.0).unwrap(), Tensor::zeros(&[5])).unwrap();
/// let sub = Subset::new(ds, vec![4, 0]).unwrap();
/// assert_eq!(sub.len(), 2);
/// assert_eq!(sub.get(0).unwrap().0.item().unwrap(), 4.0);
/// ```
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    pub fn new(dataset: D, indices: Vec<usize>) -> Result<Subset<D>> {
        Subset::from_arc(Arc::new(dataset), indices)
    }

    /// A subset of a dataset that other code shares.
    pub fn from_arc(dataset: Arc<D>, indices: Vec<usize>) -> Result<Subset<D>> {
        let n = dataset.len();
        if let Some(bad) = indices.iter().find(|&&i| i >= n) {
            return Err(arg_err(
                "Subset",
                format!("index {bad} is out of range for a dataset of {n} samples"),
            ));
        }
        Ok(Subset { dataset, indices })
    }

    /// The first `n` samples (all of them when the dataset is shorter).
    pub fn first(dataset: D, n: usize) -> Subset<D> {
        let dataset = Arc::new(dataset);
        let indices = (0..n.min(dataset.len())).collect();
        Subset { dataset, indices }
    }

    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> Result<D::Item> {
        check_index("Subset", index, self.len())?;
        self.dataset.get(self.indices[index])
    }

    /// Keeps the inner dataset's fast path: one `get_batch` with translated indices.
    fn get_batch(&self, indices: &[usize]) -> Result<D::Item>
    where
        D::Item: Collate,
    {
        let n = self.len();
        let inner = indices
            .iter()
            .map(|&i| check_index("Subset", i, n).map(|_| self.indices[i]))
            .collect::<Result<Vec<_>>>()?;
        self.dataset.get_batch(&inner)
    }

    fn set_epoch(&self, epoch: u64) {
        self.dataset.set_epoch(epoch)
    }
}

/// Split a dataset into non-overlapping random subsets of the given lengths (which must add up
/// to its length), reproducibly from `seed`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{random_split, Dataset, TensorDataset};
/// let ds = TensorDataset::new(Tensor::zeros(&[10, 2]), Tensor::zeros(&[10])).unwrap();
/// let parts = random_split(ds, &[8, 2], 0).unwrap();
/// assert_eq!((parts[0].len(), parts[1].len()), (8, 2));
/// ```
pub fn random_split<D: Dataset>(dataset: D, lengths: &[usize], seed: u64) -> Result<Vec<Subset<D>>> {
    let dataset = Arc::new(dataset);
    let total: usize = lengths.iter().sum();
    if total != dataset.len() {
        return Err(arg_err(
            "random_split",
            format!(
                "the lengths {lengths:?} add up to {total}, but the dataset has {} samples",
                dataset.len()
            ),
        ));
    }
    let perm = Generator::new(seed).permutation(total);
    let mut start = 0;
    Ok(lengths
        .iter()
        .map(|&len| {
            let s = Subset {
                dataset: dataset.clone(),
                indices: perm[start..start + len].to_vec(),
            };
            start += len;
            s
        })
        .collect())
}

/// Several datasets with the same sample type, one after the other.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{ConcatDataset, Dataset, TensorDataset};
/// let a = TensorDataset::new(Tensor::zeros(&[3, 2]), Tensor::zeros(&[3])).unwrap();
/// let b = TensorDataset::new(Tensor::ones(&[2, 2]), Tensor::ones(&[2])).unwrap();
/// let both = ConcatDataset::new(vec![a, b]);
/// assert_eq!(both.len(), 5);
/// assert_eq!(both.get(3).unwrap().1.item().unwrap(), 1.0);
/// ```
pub struct ConcatDataset<D> {
    parts: Vec<D>,
    /// `ends[k]` = number of samples in parts `0..=k`.
    ends: Vec<usize>,
}

impl<D: Dataset> ConcatDataset<D> {
    pub fn new(parts: Vec<D>) -> ConcatDataset<D> {
        let mut acc = 0;
        let ends = parts
            .iter()
            .map(|p| {
                acc += p.len();
                acc
            })
            .collect();
        ConcatDataset { parts, ends }
    }

    /// (part, index inside that part) of a global index.
    fn locate(&self, index: usize) -> Result<(usize, usize)> {
        check_index("ConcatDataset", index, self.len())?;
        let part = self.ends.partition_point(|&e| e <= index);
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        Ok((part, index - start))
    }
}

impl<D: Dataset> Dataset for ConcatDataset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    fn get(&self, index: usize) -> Result<D::Item> {
        let (part, i) = self.locate(index)?;
        self.parts[part].get(i)
    }

    /// A batch that falls inside one part keeps that part's fast path.
    fn get_batch(&self, indices: &[usize]) -> Result<D::Item>
    where
        D::Item: Collate,
    {
        let located = indices.iter().map(|&i| self.locate(i)).collect::<Result<Vec<_>>>()?;
        if let Some(&(part, _)) = located.first() {
            if located.iter().all(|&(p, _)| p == part) {
                let inner: Vec<usize> = located.iter().map(|&(_, i)| i).collect();
                return self.parts[part].get_batch(&inner);
            }
        }
        let items = located
            .iter()
            .map(|&(p, i)| self.parts[p].get(i))
            .collect::<Result<Vec<_>>>()?;
        D::Item::collate(items)
    }

    fn set_epoch(&self, epoch: u64) {
        self.parts.iter().for_each(|p| p.set_epoch(epoch))
    }
}
