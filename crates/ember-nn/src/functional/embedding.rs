//! Embedding lookup.

use ember_core::{Result, Tensor};

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
    match padding_idx {
        Some(p) => Tensor::embedding_padding(weight, idx, p as i64),
        None => Tensor::embedding(weight, idx),
    }
}
