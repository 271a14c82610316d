//! `MultiheadAttention` with PyTorch's parameters (`in_proj_weight`, `in_proj_bias`,
//! `out_proj.weight`, `out_proj.bias`) and masks.

use super::dropout::TrainFlag;
use super::linear::Linear;
use crate::functional as F;
use crate::init;
use crate::module::{Module, Visitor};
use crate::parameter::Parameter;
use ember_core::{DType, Error, Result, Tensor};

/// The optional arguments of [`MultiheadAttention::forward_with`].
#[derive(Debug, Clone, Default)]
pub struct AttentionMasks<'a> {
    /// `[N, S]`: true (or `-inf`) marks keys to ignore (padding).
    pub key_padding_mask: Option<&'a Tensor>,
    /// `[L, S]` or `[N * heads, L, S]`: a bool mask is true where attention is *not* allowed,
    /// a float mask is added to the scores.
    pub attn_mask: Option<&'a Tensor>,
    /// Apply a causal mask (key `j` hidden from query `i < j`) in addition to `attn_mask`.
    pub is_causal: bool,
}

/// `torch.nn.MultiheadAttention` (with `kdim = vdim = embed_dim`, no `bias_k`/`bias_v`).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Module, MultiheadAttention};
/// let mha = MultiheadAttention::new(16, 4, 0.0, true).unwrap();
/// let x = Tensor::randn(&[2, 5, 16]);
/// let (y, w) = mha.forward_with(&x, &x, &x, &Default::default(), true, true).unwrap();
/// assert_eq!(y.shape(), &[2, 5, 16]);
/// assert_eq!(w.unwrap().shape(), &[2, 5, 5]);
/// ```
pub struct MultiheadAttention {
    pub in_proj_weight: Parameter,
    pub in_proj_bias: Option<Parameter>,
    pub out_proj: Linear,
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    batch_first: bool,
    training: TrainFlag,
}

/// `-inf` where a bool mask is true; float masks pass through (cast to `dtype`).
fn additive(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    if mask.dtype() == DType::Bool {
        Tensor::zeros_dtype(mask.shape(), dtype)?.masked_fill(mask, f64::NEG_INFINITY)
    } else {
        mask.to_dtype(dtype)
    }
}

impl MultiheadAttention {
    pub fn new(embed_dim: usize, num_heads: usize, dropout: f64, batch_first: bool) -> Result<MultiheadAttention> {
        MultiheadAttention::with_bias(embed_dim, num_heads, dropout, batch_first, true)
    }

    pub fn with_bias(
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        batch_first: bool,
        bias: bool,
    ) -> Result<MultiheadAttention> {
        if num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(Error::Arg {
                op: "MultiheadAttention",
                msg: format!("embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"),
            });
        }
        let w = Tensor::zeros(&[3 * embed_dim, embed_dim]);
        init::xavier_uniform_(&w, 1.0)?;
        let out_proj = Linear::with_bias(embed_dim, embed_dim, bias);
        if let Some(b) = &out_proj.bias {
            init::zeros_(&b.tensor())?;
        }
        Ok(MultiheadAttention {
            in_proj_weight: Parameter::new(w),
            in_proj_bias: bias.then(|| Parameter::new(Tensor::zeros(&[3 * embed_dim]))),
            out_proj,
            embed_dim,
            num_heads,
            dropout,
            batch_first,
            training: TrainFlag::default(),
        })
    }

    pub fn embed_dim(&self) -> usize {
        self.embed_dim
    }

    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// The q, k, v projections, sharing one matmul when the inputs are the same tensor.
    fn project(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let w = self.in_proj_weight.tensor();
        let b = self.in_proj_bias.as_ref().map(|p| p.tensor());
        if q.same_tensor(k) && k.same_tensor(v) {
            let qkv = F::linear(q, &w, b.as_ref())?;
            let parts = qkv.chunk(3, -1)?;
            return Ok((parts[0].clone(), parts[1].clone(), parts[2].clone()));
        }
        let wp = w.chunk(3, 0)?;
        let bp = b.as_ref().map(|b| b.chunk(3, 0)).transpose()?;
        let bi = |i: usize| bp.as_ref().map(|b| b[i].clone());
        Ok((
            F::linear(q, &wp[0], bi(0).as_ref())?,
            F::linear(k, &wp[1], bi(1).as_ref())?,
            F::linear(v, &wp[2], bi(2).as_ref())?,
        ))
    }

    /// Attention of `query` over `key`/`value` (`[L, N, E]`, or `[N, L, E]` with batch_first,
    /// or unbatched `[L, E]`). Returns the output and, when `need_weights`, the attention
    /// weights (`[N, L, S]` averaged over heads, or `[N, heads, L, S]`).
    pub fn forward_with(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        masks: &AttentionMasks<'_>,
        need_weights: bool,
        average_attn_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let op = "MultiheadAttention";
        let unbatched = query.ndim() == 2;
        let prep = |t: &Tensor| -> Result<Tensor> {
            if unbatched {
                t.unsqueeze(1)
            } else if self.batch_first {
                t.transpose(0, 1)
            } else {
                Ok(t.clone())
            }
        };
        // keep "same tensor" identity through the layout change (self-attention fast path)
        let q = prep(query)?;
        let k = if key.same_tensor(query) { q.clone() } else { prep(key)? };
        let v = if value.same_tensor(key) {
            k.clone()
        } else {
            prep(value)?
        };
        if q.ndim() != 3
            || k.ndim() != 3
            || q.shape()[2] != self.embed_dim
            || k.shape() != v.shape()
            || k.shape()[1] != q.shape()[1]
        {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "query {:?}, key {:?}, value {:?} do not fit embed_dim={}",
                    query.shape(),
                    key.shape(),
                    value.shape(),
                    self.embed_dim
                ),
            });
        }
        let (l, n, e) = (q.shape()[0], q.shape()[1], self.embed_dim);
        let s = k.shape()[0];
        let (h, hd) = (self.num_heads, self.embed_dim / self.num_heads);
        let (qp, kp, vp) = self.project(&q, &k, &v)?;
        // [L, N, E] -> [N*H, L, hd]
        let heads = |t: &Tensor, len: usize| {
            t.reshape(&[len as isize, (n * h) as isize, hd as isize])?
                .transpose(0, 1)
        };
        let (qh, kh, vh) = (heads(&qp, l)?, heads(&kp, s)?, heads(&vp, s)?);
        // one additive mask of shape [N*H or 1, L, S]
        let dt = qh.dtype();
        let mut mask: Option<Tensor> = None;
        if let Some(m) = masks.attn_mask {
            let ok = (m.ndim() == 2 && m.shape() == [l, s]) || (m.ndim() == 3 && m.shape() == [n * h, l, s]);
            if !ok {
                return Err(Error::Shape {
                    op,
                    msg: format!(
                        "attn_mask should have shape [{l}, {s}] or [{}, {l}, {s}], got {:?}",
                        n * h,
                        m.shape()
                    ),
                });
            }
            mask = Some(additive(m, dt)?);
        }
        if let Some(m) = masks.key_padding_mask {
            let m = if unbatched { m.unsqueeze(0)? } else { m.clone() };
            if m.shape() != [n, s] {
                return Err(Error::Shape {
                    op,
                    msg: format!("key_padding_mask should have shape [{n}, {s}], got {:?}", m.shape()),
                });
            }
            let kpm = additive(&m, dt)?
                .reshape(&[n as isize, 1, 1, s as isize])?
                .expand(&[n as isize, h as isize, 1, s as isize])?
                .reshape(&[(n * h) as isize, 1, s as isize])?;
            mask = Some(match mask {
                Some(a) => a.add(&kpm)?,
                None => kpm,
            });
        }
        if masks.is_causal {
            let c = additive(&F::causal_mask(l, s)?.logical_not()?, dt)?;
            mask = Some(match mask {
                Some(a) => a.add(&c)?,
                None => c,
            });
        }
        let (w, _) = F::attention_weights(&qh, &kh, mask.as_ref(), false, None)?;
        let w_drop = if self.dropout > 0.0 {
            F::dropout(&w, self.dropout, self.training.get())?
        } else {
            w.clone()
        };
        let ctx = w_drop.matmul(&vh)?; // [N*H, L, hd]
        let ctx = ctx.transpose(0, 1)?.reshape(&[(l * n) as isize, e as isize])?;
        let out = self
            .out_proj
            .call(&ctx)?
            .reshape(&[l as isize, n as isize, e as isize])?;
        let out = if unbatched {
            out.squeeze(1)?
        } else if self.batch_first {
            out.transpose(0, 1)?
        } else {
            out
        };
        let weights = if need_weights {
            let w4 = w.reshape(&[n as isize, h as isize, l as isize, s as isize])?;
            let w4 = if average_attn_weights { w4.mean(1, false)? } else { w4 };
            Some(if unbatched { w4.squeeze(0)? } else { w4 })
        } else {
            None
        };
        Ok((out, weights))
    }
}

impl Module for MultiheadAttention {
    /// Self-attention of `x` without masks.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with(x, x, x, &AttentionMasks::default(), false, true)?.0)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.param("in_proj_weight", &self.in_proj_weight);
        if let Some(b) = &self.in_proj_bias {
            v.param("in_proj_bias", b);
        }
        v.module("out_proj", &self.out_proj);
    }
    fn set_own_training(&self, training: bool) {
        self.training.set(training);
    }
    fn own_training(&self) -> Option<bool> {
        Some(self.training.get())
    }
}
