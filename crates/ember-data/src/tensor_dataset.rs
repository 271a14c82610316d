//! `TensorDataset`: samples are rows of in-memory tensors.

use crate::collate::Collate;
use crate::dataset::{check_index, Dataset};
use crate::error::arg_err;
use ember_core::{Result, Tensor};

/// Pairs row `i` of `inputs` with row `i` of `targets` (PyTorch's `TensorDataset(x, y)`).
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{Dataset, TensorDataset};
/// let ds = TensorDataset::new(Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]]), Tensor::new(&[0i64, 1])).unwrap();
/// let (x, y) = ds.get(1).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
/// assert_eq!(y.item().unwrap(), 1.0);
/// ```
#[derive(Clone)]
pub struct TensorDataset {
    inputs: Tensor,
    targets: Tensor,
}

impl TensorDataset {
    /// Both tensors must have the same first dimension (the number of samples).
    pub fn new(inputs: Tensor, targets: Tensor) -> Result<TensorDataset> {
        let n = |t: &Tensor| t.shape().first().copied();
        if n(&inputs).is_none() || n(&inputs) != n(&targets) {
            return Err(arg_err(
                "TensorDataset",
                format!(
                    "inputs and targets must have the same (non-empty) first dimension, got shapes {:?} and {:?}",
                    inputs.shape(),
                    targets.shape()
                ),
            ));
        }
        // samples are read by background workers: keep them out of any autograd graph
        Ok(TensorDataset {
            inputs: inputs.detach(),
            targets: targets.detach(),
        })
    }

    pub fn inputs(&self) -> &Tensor {
        &self.inputs
    }

    pub fn targets(&self) -> &Tensor {
        &self.targets
    }
}

impl Dataset for TensorDataset {
    type Item = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("TensorDataset", index, self.len())?;
        Ok((
            self.inputs.select(0, index as isize)?.contiguous(),
            self.targets.select(0, index as isize)?.contiguous(),
        ))
    }

    /// One `index_select` per tensor instead of one tensor per sample.
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>
    where
        (Tensor, Tensor): Collate,
    {
        let n = self.len();
        let idx = indices
            .iter()
            .map(|&i| check_index("TensorDataset", i, n).map(|_| i as i64))
            .collect::<Result<Vec<i64>>>()?;
        let idx = Tensor::from_vec(idx, &[indices.len()])?;
        Ok((self.inputs.index_select(0, &idx)?, self.targets.index_select(0, &idx)?))
    }
}
