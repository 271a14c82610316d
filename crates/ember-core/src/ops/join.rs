//! Joining tensors: `cat` and `stack`.

use crate::autograd::{needs_grad, record};
use crate::dtype::DType;
use crate::error::{shape_err, Result};
use crate::shape::normalize_dim;
use crate::tensor::Tensor;

impl Tensor {
    /// Concatenate along an existing dim. Shapes must match except along `dim`; dtypes are
    /// promoted as in PyTorch.
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let Some(first) = tensors.first() else {
            return Err(shape_err("cat", "expected a non-empty list of tensors"));
        };
        let d = normalize_dim("cat", dim, first.ndim())?;
        let mut dtype = first.dtype();
        let mut total = 0;
        for (i, t) in tensors.iter().enumerate() {
            crate::ops::check_same_device("cat", first, t)?;
            if t.ndim() != first.ndim()
                || t.shape()
                    .iter()
                    .enumerate()
                    .any(|(j, &s)| j != d && s != first.shape()[j])
            {
                return Err(shape_err(
                    "cat",
                    format!("sizes of tensors must match except in dimension {d}: tensor 0 has shape {:?}, tensor {i} has shape {:?}", first.shape(), t.shape()),
                ));
            }
            dtype = DType::promote(dtype, t.dtype());
            total += t.shape()[d];
        }
        let mut shape = first.shape().to_vec();
        shape[d] = total;
        // made on the inputs' device (cat of GPU tensors stays on the GPU)
        let out = Tensor::zeros_on(&shape, dtype, first.device())?;
        let mut start = 0;
        for t in tensors {
            let len = t.shape()[d];
            let view = crate::autograd::no_grad_scope(|| out.narrow(d as isize, start, len))?;
            view.copy_data_from(t)?;
            start += len;
        }
        let refs: Vec<&Tensor> = tensors.iter().collect();
        if !needs_grad(&refs) {
            return Ok(out);
        }
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[d]).collect();
        let dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
        Ok(record("cat", out, &refs, move |_| {
            Box::new(move |g| {
                let parts = g.split_sizes(&sizes, d as isize)?;
                parts
                    .into_iter()
                    .zip(&dtypes)
                    .map(|(p, &dt)| Ok(Some(p.to_dtype(dt)?)))
                    .collect()
            })
        }))
    }

    /// Stack along a new dim.
    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let Some(first) = tensors.first() else {
            return Err(shape_err("stack", "expected a non-empty list of tensors"));
        };
        for (i, t) in tensors.iter().enumerate() {
            if t.shape() != first.shape() {
                return Err(shape_err(
                    "stack",
                    format!(
                        "stack expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at entry {i}",
                        first.shape(),
                        t.shape()
                    ),
                ));
            }
        }
        let d = normalize_dim("stack", dim, first.ndim() + 1)? as isize;
        let parts: Result<Vec<Tensor>> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        Tensor::cat(&parts?, d)
    }
}
