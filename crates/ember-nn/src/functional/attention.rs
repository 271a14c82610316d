//! Scaled dot-product attention.

use super::activation::softmax;
use super::dropout::dropout;
use ember_core::{DType, Error, Result, Tensor};

/// A bool `[l, s]` mask that is true where key `j` may be seen from query `i` (`j <= i`).
pub fn causal_mask(l: usize, s: usize) -> Result<Tensor> {
    let rows = Tensor::arange(0.0, l as f64, 1.0)?.to_dtype(DType::I64)?.unsqueeze(1)?;
    let cols = Tensor::arange(0.0, s as f64, 1.0)?.to_dtype(DType::I64)?.unsqueeze(0)?;
    cols.le(&rows)
}

/// `softmax(q k^T * scale + mask) v` over the last two dims (`[.., L, E]` queries, `[.., S, E]`
/// keys, `[.., S, Ev]` values), as `torch.nn.functional.scaled_dot_product_attention`: a bool
/// `attn_mask` is true where attention is *allowed*, a float mask is added to the scores;
/// `scale` defaults to `1 / sqrt(E)`. Dropout (`dropout_p > 0`) is applied to the weights.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::scaled_dot_product_attention;
/// let q = Tensor::ones(&[1, 2, 4]);
/// let v = Tensor::new(&[[[1.0f32], [3.0]]]);
/// let y = scaled_dot_product_attention(&q, &q, &v, None, 0.0, false, None).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    attn_mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    let (w, _) = attention_weights(q, k, attn_mask, is_causal, scale)?;
    let w = if dropout_p > 0.0 {
        dropout(&w, dropout_p, true)?
    } else {
        w
    };
    w.matmul(v)
}

/// The attention probabilities `softmax(q k^T * scale + mask)` and the scale used.
pub(crate) fn attention_weights(
    q: &Tensor,
    k: &Tensor,
    attn_mask: Option<&Tensor>,
    is_causal: bool,
    scale: Option<f64>,
) -> Result<(Tensor, f64)> {
    if q.ndim() < 2 || k.ndim() < 2 || q.shape()[q.ndim() - 1] != k.shape()[k.ndim() - 1] {
        return Err(Error::Shape {
            op: "scaled_dot_product_attention",
            msg: format!(
                "query of shape {:?} and key of shape {:?} do not fit",
                q.shape(),
                k.shape()
            ),
        });
    }
    let e = q.shape()[q.ndim() - 1];
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let mut scores = q.mul_scalar(scale)?.matmul(&k.transpose(-2, -1)?)?;
    let (l, s) = (q.shape()[q.ndim() - 2], k.shape()[k.ndim() - 2]);
    if is_causal {
        scores = scores.masked_fill(&causal_mask(l, s)?.logical_not()?, f64::NEG_INFINITY)?;
    }
    if let Some(m) = attn_mask {
        scores = if m.dtype() == DType::Bool {
            scores.masked_fill(&m.logical_not()?, f64::NEG_INFINITY)?
        } else {
            scores.add(m)?
        };
    }
    Ok((softmax(&scores, -1)?, scale))
}
