//! `Embedding`: a lookup table of learned vectors.

use crate::functional as F;
use crate::init;
use crate::module::{Module, Visitor};
use crate::parameter::Parameter;
use ember_core::{no_grad, Error, Result, Tensor};

/// `torch.nn.Embedding`: weight `[num_embeddings, dim]` drawn from N(0, 1), with the
/// `padding_idx` row zeroed and excluded from gradients.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Embedding, Module};
/// let e = Embedding::new(10, 4, Some(0)).unwrap();
/// let y = e.forward(&Tensor::new(&[[0i64, 3], [9, 0]])).unwrap();
/// assert_eq!(y.shape(), &[2, 2, 4]);
/// assert_eq!(y.to_vec::<f32>().unwrap()[..4], [0.0; 4]);
/// ```
pub struct Embedding {
    pub weight: Parameter,
    padding_idx: Option<usize>,
}

impl Embedding {
    pub fn new(num_embeddings: usize, embedding_dim: usize, padding_idx: Option<usize>) -> Result<Embedding> {
        if let Some(p) = padding_idx {
            if p >= num_embeddings {
                return Err(Error::Arg {
                    op: "Embedding",
                    msg: format!("padding_idx {p} must be within num_embeddings ({num_embeddings})"),
                });
            }
        }
        let w = Tensor::zeros(&[num_embeddings, embedding_dim]);
        init::normal_(&w, 0.0, 1.0)?;
        if let Some(p) = padding_idx {
            let _g = no_grad();
            w.narrow(0, p, 1)?.fill_(0.0)?;
        }
        Ok(Embedding {
            weight: Parameter::new(w),
            padding_idx,
        })
    }

    /// An embedding initialized from `weights` (`Embedding.from_pretrained`, trainable).
    pub fn from_pretrained(weights: &Tensor, padding_idx: Option<usize>) -> Result<Embedding> {
        if weights.ndim() != 2 {
            return Err(Error::Shape {
                op: "Embedding::from_pretrained",
                msg: format!("expected a 2-D weight, got shape {:?}", weights.shape()),
            });
        }
        Ok(Embedding {
            weight: Parameter::new(weights.copy()),
            padding_idx,
        })
    }

    pub fn padding_idx(&self) -> Option<usize> {
        self.padding_idx
    }
}

impl Module for Embedding {
    fn forward(&self, idx: &Tensor) -> Result<Tensor> {
        F::embedding(idx, &self.weight.tensor(), self.padding_idx)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.param("weight", &self.weight);
    }
}
