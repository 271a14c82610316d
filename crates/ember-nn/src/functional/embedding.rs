//! Embedding lookup.

use super::index::class_mask;
use ember_core::{Error, Result, Tensor};

/// Rows of `weight` (`[num_embeddings, dim]`) picked by the integer tensor `idx`; the output has
/// shape `idx.shape + [dim]`. The row `padding_idx` receives no gradient, as in PyTorch.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::embedding;
/// let w = Tensor::new(&[[0.0f32, 0.0], [1.0, 2.0], [3.0, 4.0]]);
/// let e = embedding(&Tensor::new(&[2i64, 1]), &w, None).unwrap();
/// assert_eq!(e.to_vec::<f32>().unwrap(), vec![3.0, 4.0, 1.0, 2.0]);
/// ```
pub fn embedding(idx: &Tensor, weight: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    if weight.ndim() != 2 {
        return Err(Error::Shape {
            op: "embedding",
            msg: format!(
                "weight must be 2-D [num_embeddings, dim], got shape {:?}",
                weight.shape()
            ),
        });
    }
    let (v, d) = (weight.shape()[0], weight.shape()[1]);
    let w = match padding_idx {
        Some(p) if weight.requires_grad() => {
            // same values, but the padding row is cut from the graph
            let is_pad = class_mask("embedding", &Tensor::new(&[p as i64]), v)?.reshape_to(&[v, 1])?;
            Tensor::where_(&is_pad, &weight.detach(), weight)?
        }
        _ => weight.clone(),
    };
    let flat = idx.reshape(&[-1])?;
    let onehot = class_mask("embedding", &flat, v)?.to_dtype(weight.dtype())?;
    let rows = onehot.matmul(&w)?;
    let mut shape = idx.shape().to_vec();
    shape.push(d);
    rows.reshape_to(&shape)
}
