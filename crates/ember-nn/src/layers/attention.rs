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

    /// The q, k, v projections: three products with row blocks of `in_proj_weight`, so each
    /// result is a contiguous tensor whose heads are views. (One product with the whole weight
    /// and a split of its output would need either copies of the three parts or, in backward,
    /// three zero-padded gradients of the whole output, summed.)
    fn project(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let w = self.in_proj_weight.tensor();
        let b = self.in_proj_bias.as_ref().map(|p| p.tensor());
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
        // Everything below runs in the caller's layout: batch-major ([N, L, E]; an unbatched
        // input becomes [1, L, E]) or sequence-major ([L, N, E]). The heads are strided views
        // of the projections, which the products read in place, so nothing is transposed
        // into a copy but the merged heads before `out_proj`.
        let unbatched = query.ndim() == 2;
        let batch_major = unbatched || self.batch_first;
        let prep = |t: &Tensor| -> Result<Tensor> {
            if unbatched {
                t.unsqueeze(0)
            } else {
                Ok(t.clone())
            }
        };
        let q = prep(query)?;
        let k = if key.same_tensor(query) { q.clone() } else { prep(key)? };
        let v = if value.same_tensor(key) {
            k.clone()
        } else {
            prep(value)?
        };
        // (batch, seq) sizes of a 3-D input
        let dims = |t: &Tensor| {
            if batch_major {
                (t.shape()[0], t.shape()[1])
            } else {
                (t.shape()[1], t.shape()[0])
            }
        };
        if q.ndim() != 3
            || k.ndim() != 3
            || q.shape()[2] != self.embed_dim
            || k.shape() != v.shape()
            || dims(&k).0 != dims(&q).0
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
        let ((n, l), e) = (dims(&q), self.embed_dim);
        let s = dims(&k).1;
        let (h, hd) = (self.num_heads, self.embed_dim / self.num_heads);
        let (qp, kp, vp) = self.project(&q, &k, &v)?;
        // [N, len, E] or [len, N, E] -> a [N, H, len, hd] view
        let heads = |t: &Tensor| -> Result<Tensor> {
            let (a, b) = (t.shape()[0] as isize, t.shape()[1] as isize);
            let t = t.reshape(&[a, b, h as isize, hd as isize])?;
            if batch_major {
                t.permute(&[0, 2, 1, 3])
            } else {
                t.permute(&[1, 2, 0, 3])
            }
        };
        let (qh, kh, vh) = (heads(&qp)?, heads(&kp)?, heads(&vp)?);
        // one additive mask that broadcasts against the [N, H, L, S] scores
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
            let a = additive(m, dt)?;
            mask = Some(if m.ndim() == 3 {
                a.reshape(&[n as isize, h as isize, l as isize, s as isize])?
            } else {
                a
            });
        }
        if let Some(m) = masks.key_padding_mask {
            let m = if unbatched { m.unsqueeze(0)? } else { m.clone() };
            if m.shape() != [n, s] {
                return Err(Error::Shape {
                    op,
                    msg: format!("key_padding_mask should have shape [{n}, {s}], got {:?}", m.shape()),
                });
            }
            let kpm = additive(&m, dt)?.reshape(&[n as isize, 1, 1, s as isize])?;
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
        let (w, _) = F::attention_weights(&qh, &kh, mask.as_ref(), false, None)?; // [N, H, L, S]
        let w_drop = if self.dropout > 0.0 {
            F::dropout(&w, self.dropout, self.training.get())?
        } else {
            w.clone()
        };
        // [N, H, L, hd] -> the input's layout with the heads merged (the one copy)
        let ctx = w_drop.matmul(&vh)?;
        let ctx = if batch_major {
            ctx.permute(&[0, 2, 1, 3])?
                .reshape(&[n as isize, l as isize, e as isize])?
        } else {
            ctx.permute(&[2, 0, 1, 3])?
                .reshape(&[l as isize, n as isize, e as isize])?
        };
        let out = self.out_proj.call(&ctx)?;
        let out = if unbatched { out.squeeze(0)? } else { out };
        let weights = if need_weights {
            let w4 = if average_attn_weights { w.mean(1, false)? } else { w };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.shape(), b.shape());
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    /// The layouts and mask forms the PyTorch parity tests do not reach: an unbatched input is
    /// a batch of one, sequence-first equals batch-first on transposed inputs, and a per-head
    /// `[N * H, L, S]` mask equals the same `[L, S]` mask given once.
    #[test]
    fn layouts_and_mask_forms_agree() {
        let (n, l, s, e, h) = (2, 3, 5, 8, 2);
        let bf = MultiheadAttention::new(e, h, 0.0, true).unwrap();
        let sf = MultiheadAttention::new(e, h, 0.0, false).unwrap();
        {
            let _g = ember_core::no_grad();
            sf.in_proj_weight.tensor().copy_(&bf.in_proj_weight.tensor()).unwrap();
            sf.out_proj.weight.tensor().copy_(&bf.out_proj.weight.tensor()).unwrap();
        }
        let q = Tensor::randn(&[n, l, e]);
        let kv = Tensor::randn(&[n, s, e]);
        let mask = Tensor::randn(&[l, s]);
        let masks = AttentionMasks {
            attn_mask: Some(&mask),
            ..Default::default()
        };
        let (y, w) = bf.forward_with(&q, &kv, &kv, &masks, true, false).unwrap();
        assert_eq!(w.as_ref().unwrap().shape(), &[n, h, l, s]);
        // sequence-first
        let (qt, kvt) = (q.transpose(0, 1).unwrap(), kv.transpose(0, 1).unwrap());
        let (ys, ws) = sf.forward_with(&qt, &kvt, &kvt, &masks, true, false).unwrap();
        close(&ys.transpose(0, 1).unwrap(), &y);
        close(ws.as_ref().unwrap(), w.as_ref().unwrap());
        // per-head 3-D mask
        let m3 = mask.unsqueeze(0).unwrap().expand(&[(n * h) as isize, -1, -1]).unwrap();
        let masks3 = AttentionMasks {
            attn_mask: Some(&m3),
            ..Default::default()
        };
        close(&bf.forward_with(&q, &kv, &kv, &masks3, false, true).unwrap().0, &y);
        // unbatched: the first batch entry
        let (q0, kv0) = (q.select(0, 0).unwrap(), kv.select(0, 0).unwrap());
        let m30 = m3.narrow(0, 0, h).unwrap();
        let masks30 = AttentionMasks {
            attn_mask: Some(&m30),
            ..Default::default()
        };
        let (y0, w0) = bf.forward_with(&q0, &kv0, &kv0, &masks30, true, true).unwrap();
        close(&y0, &y.select(0, 0).unwrap());
        close(&w0.unwrap(), &w.unwrap().select(0, 0).unwrap().mean(0, false).unwrap());
    }
}
