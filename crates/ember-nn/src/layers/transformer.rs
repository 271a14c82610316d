//! Transformer layers and stacks with PyTorch's structure and names: `TransformerEncoderLayer`,
//! `TransformerDecoderLayer` (post-norm or `norm_first`, ReLU or GELU feed-forward) and the
//! `TransformerEncoder` / `TransformerDecoder` stacks (`layers.0.self_attn.in_proj_weight`, ...).

use super::attention::{AttentionMasks, MultiheadAttention};
use super::container::ModuleList;
use super::dropout::Dropout;
use super::linear::Linear;
use super::norm::LayerNorm;
use crate::functional as F;
use crate::module::{Module, Visitor};
use ember_core::{Error, Result, Tensor};
use std::collections::BTreeMap;

/// The feed-forward activation of a transformer layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    Relu,
    Gelu,
}

/// Options of the transformer layers (PyTorch's defaults).
#[derive(Debug, Clone, Copy)]
pub struct TransformerOptions {
    pub dim_feedforward: usize,
    pub dropout: f64,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub batch_first: bool,
    /// Pre-norm (`x + f(norm(x))`) instead of post-norm (`norm(x + f(x))`).
    pub norm_first: bool,
    pub bias: bool,
}

impl Default for TransformerOptions {
    fn default() -> Self {
        TransformerOptions {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
        }
    }
}

/// The masks of a transformer layer's self-attention (and, for decoders, cross-attention).
#[derive(Debug, Clone, Default)]
pub struct TransformerMasks<'a> {
    pub mask: Option<&'a Tensor>,
    pub key_padding_mask: Option<&'a Tensor>,
    pub is_causal: bool,
    /// Decoder only: the mask over `memory`.
    pub memory_mask: Option<&'a Tensor>,
    pub memory_key_padding_mask: Option<&'a Tensor>,
}

/// Linear -> activation -> dropout -> linear (the position-wise feed-forward block).
struct FeedForward<'a> {
    linear1: &'a Linear,
    dropout: &'a Dropout,
    linear2: &'a Linear,
    activation: Activation,
}

impl FeedForward<'_> {
    fn run(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.linear1.call(x)?;
        let h = match self.activation {
            Activation::Relu => h.relu()?,
            Activation::Gelu => F::gelu(&h, F::GeluApprox::None)?,
        };
        self.linear2.call(&self.dropout.call(&h)?)
    }
}

fn copy_state(dst: &dyn Module, src: &dyn Module) -> Result<()> {
    let state: BTreeMap<String, Tensor> = src.state_dict().into_iter().collect();
    dst.load_state_dict(&state, true).map(|_| ())
}

/// `torch.nn.TransformerEncoderLayer`: self-attention and a feed-forward block, each with a
/// residual connection and a LayerNorm.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Module, TransformerEncoderLayer, TransformerOptions};
/// let opts = TransformerOptions { dim_feedforward: 32, batch_first: true, ..Default::default() };
/// let layer = TransformerEncoderLayer::new(16, 4, opts).unwrap();
/// assert_eq!(layer.forward(&Tensor::randn(&[2, 5, 16])).unwrap().shape(), &[2, 5, 16]);
/// ```
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    d_model: usize,
    nhead: usize,
    opts: TransformerOptions,
}

impl TransformerEncoderLayer {
    pub fn new(d_model: usize, nhead: usize, opts: TransformerOptions) -> Result<TransformerEncoderLayer> {
        let ln = || LayerNorm::with(&[d_model], opts.layer_norm_eps, true, opts.bias);
        Ok(TransformerEncoderLayer {
            self_attn: MultiheadAttention::with_bias(d_model, nhead, opts.dropout, opts.batch_first, opts.bias)?,
            linear1: Linear::with_bias(d_model, opts.dim_feedforward, opts.bias),
            dropout: Dropout::new(opts.dropout)?,
            linear2: Linear::with_bias(opts.dim_feedforward, d_model, opts.bias),
            norm1: ln(),
            norm2: ln(),
            dropout1: Dropout::new(opts.dropout)?,
            dropout2: Dropout::new(opts.dropout)?,
            d_model,
            nhead,
            opts,
        })
    }

    /// A new layer with the same configuration and a copy of this one's weights (PyTorch's
    /// `copy.deepcopy`, used by the stacks).
    pub fn deep_copy(&self) -> Result<TransformerEncoderLayer> {
        let c = TransformerEncoderLayer::new(self.d_model, self.nhead, self.opts)?;
        copy_state(&c, self)?;
        c.set_training(self.is_training());
        Ok(c)
    }

    fn ff(&self) -> FeedForward<'_> {
        FeedForward {
            linear1: &self.linear1,
            dropout: &self.dropout,
            linear2: &self.linear2,
            activation: self.opts.activation,
        }
    }

    fn sa(&self, x: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let am = AttentionMasks {
            key_padding_mask: m.key_padding_mask,
            attn_mask: m.mask,
            is_causal: m.is_causal && m.mask.is_none(),
        };
        let y = self.self_attn.forward_with(x, x, x, &am, false, true)?.0;
        self.dropout1.call(&y)
    }

    /// The layer with masks (`src_mask`, `src_key_padding_mask`, `is_causal`).
    pub fn forward_with(&self, src: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let x = src.clone();
        if self.opts.norm_first {
            let x = x.add(&self.sa(&self.norm1.call(&x)?, m)?)?;
            x.add(&self.dropout2.call(&self.ff().run(&self.norm2.call(&x)?)?)?)
        } else {
            let x = self.norm1.call(&x.add(&self.sa(&x, m)?)?)?;
            self.norm2.call(&x.add(&self.dropout2.call(&self.ff().run(&x)?)?)?)
        }
    }
}

impl Module for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &TransformerMasks::default())
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("self_attn", &self.self_attn);
        v.module("linear1", &self.linear1);
        v.module("dropout", &self.dropout);
        v.module("linear2", &self.linear2);
        v.module("norm1", &self.norm1);
        v.module("norm2", &self.norm2);
        v.module("dropout1", &self.dropout1);
        v.module("dropout2", &self.dropout2);
    }
}

/// `torch.nn.TransformerDecoderLayer`: self-attention, cross-attention over `memory`, and a
/// feed-forward block. It needs two inputs: use [`forward_with`](Self::forward_with).
pub struct TransformerDecoderLayer {
    pub self_attn: MultiheadAttention,
    pub multihead_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub norm3: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub dropout3: Dropout,
    d_model: usize,
    nhead: usize,
    opts: TransformerOptions,
}

impl TransformerDecoderLayer {
    pub fn new(d_model: usize, nhead: usize, opts: TransformerOptions) -> Result<TransformerDecoderLayer> {
        let ln = || LayerNorm::with(&[d_model], opts.layer_norm_eps, true, opts.bias);
        Ok(TransformerDecoderLayer {
            self_attn: MultiheadAttention::with_bias(d_model, nhead, opts.dropout, opts.batch_first, opts.bias)?,
            multihead_attn: MultiheadAttention::with_bias(d_model, nhead, opts.dropout, opts.batch_first, opts.bias)?,
            linear1: Linear::with_bias(d_model, opts.dim_feedforward, opts.bias),
            dropout: Dropout::new(opts.dropout)?,
            linear2: Linear::with_bias(opts.dim_feedforward, d_model, opts.bias),
            norm1: ln(),
            norm2: ln(),
            norm3: ln(),
            dropout1: Dropout::new(opts.dropout)?,
            dropout2: Dropout::new(opts.dropout)?,
            dropout3: Dropout::new(opts.dropout)?,
            d_model,
            nhead,
            opts,
        })
    }

    /// A new layer with the same configuration and a copy of this one's weights.
    pub fn deep_copy(&self) -> Result<TransformerDecoderLayer> {
        let c = TransformerDecoderLayer::new(self.d_model, self.nhead, self.opts)?;
        copy_state(&c, self)?;
        c.set_training(self.is_training());
        Ok(c)
    }

    fn sa(&self, x: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let am = AttentionMasks {
            key_padding_mask: m.key_padding_mask,
            attn_mask: m.mask,
            is_causal: m.is_causal && m.mask.is_none(),
        };
        self.dropout1
            .call(&self.self_attn.forward_with(x, x, x, &am, false, true)?.0)
    }

    fn mha(&self, x: &Tensor, mem: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let am = AttentionMasks {
            key_padding_mask: m.memory_key_padding_mask,
            attn_mask: m.memory_mask,
            is_causal: false,
        };
        self.dropout2
            .call(&self.multihead_attn.forward_with(x, mem, mem, &am, false, true)?.0)
    }

    /// `tgt` attending to itself (with `m.mask`, e.g. causal) and to `memory`.
    pub fn forward_with(&self, tgt: &Tensor, memory: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let ff = FeedForward {
            linear1: &self.linear1,
            dropout: &self.dropout,
            linear2: &self.linear2,
            activation: self.opts.activation,
        };
        let x = tgt.clone();
        if self.opts.norm_first {
            let x = x.add(&self.sa(&self.norm1.call(&x)?, m)?)?;
            let x = x.add(&self.mha(&self.norm2.call(&x)?, memory, m)?)?;
            x.add(&self.dropout3.call(&ff.run(&self.norm3.call(&x)?)?)?)
        } else {
            let x = self.norm1.call(&x.add(&self.sa(&x, m)?)?)?;
            let x = self.norm2.call(&x.add(&self.mha(&x, memory, m)?)?)?;
            self.norm3.call(&x.add(&self.dropout3.call(&ff.run(&x)?)?)?)
        }
    }
}

impl Module for TransformerDecoderLayer {
    /// A decoder layer needs `memory`: this errors and points to `forward_with`.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::Arg {
            op: "TransformerDecoderLayer::forward",
            msg: "a decoder layer takes (tgt, memory): call forward_with".into(),
        })
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("self_attn", &self.self_attn);
        v.module("multihead_attn", &self.multihead_attn);
        v.module("linear1", &self.linear1);
        v.module("dropout", &self.dropout);
        v.module("linear2", &self.linear2);
        v.module("norm1", &self.norm1);
        v.module("norm2", &self.norm2);
        v.module("norm3", &self.norm3);
        v.module("dropout1", &self.dropout1);
        v.module("dropout2", &self.dropout2);
        v.module("dropout3", &self.dropout3);
    }
}

/// `torch.nn.TransformerEncoder`: `num_layers` copies of a layer (all starting from the same
/// weights, as PyTorch's deep copies do) and an optional final norm.
pub struct TransformerEncoder {
    pub layers: ModuleList<TransformerEncoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    pub fn new(
        layer: TransformerEncoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> Result<TransformerEncoder> {
        let mut layers = ModuleList::new();
        for _ in 1..num_layers {
            layers.push(layer.deep_copy()?);
        }
        if num_layers > 0 {
            layers.push(layer);
        }
        Ok(TransformerEncoder { layers, norm })
    }

    pub fn forward_with(&self, src: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let mut x = src.clone();
        for l in self.layers.iter() {
            x = l.forward_with(&x, m)?;
        }
        match &self.norm {
            Some(n) => n.call(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &TransformerMasks::default())
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("layers", &self.layers);
        if let Some(n) = &self.norm {
            v.module("norm", n);
        }
    }
}

/// `torch.nn.TransformerDecoder`: a stack of decoder layers and an optional final norm.
pub struct TransformerDecoder {
    pub layers: ModuleList<TransformerDecoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerDecoder {
    pub fn new(
        layer: TransformerDecoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> Result<TransformerDecoder> {
        let mut layers = ModuleList::new();
        for _ in 1..num_layers {
            layers.push(layer.deep_copy()?);
        }
        if num_layers > 0 {
            layers.push(layer);
        }
        Ok(TransformerDecoder { layers, norm })
    }

    pub fn forward_with(&self, tgt: &Tensor, memory: &Tensor, m: &TransformerMasks<'_>) -> Result<Tensor> {
        let mut x = tgt.clone();
        for l in self.layers.iter() {
            x = l.forward_with(&x, memory, m)?;
        }
        match &self.norm {
            Some(n) => n.call(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerDecoder {
    /// A decoder needs `memory`: this errors and points to `forward_with`.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::Arg {
            op: "TransformerDecoder::forward",
            msg: "a decoder takes (tgt, memory): call forward_with".into(),
        })
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("layers", &self.layers);
        if let Some(n) = &self.norm {
            v.module("norm", n);
        }
    }
}
