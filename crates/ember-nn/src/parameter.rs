//! `Parameter` and `Buffer`: the named tensors a module owns.
//!
//! Both hold a `Tensor` handle behind a lock so that a module can swap it for a converted copy
//! (`to_dtype`) through `&self`; everything else (optimizer steps, `load_state_dict`) updates
//! the tensor in place, so handles taken with `tensor()` stay valid.

use ember_core::{Result, Tensor};
use parking_lot::RwLock;

/// A learnable tensor: a leaf that requires grad (PyTorch's `nn.Parameter`).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::Parameter;
/// let p = Parameter::new(Tensor::zeros(&[3]));
/// assert!(p.tensor().requires_grad() && p.tensor().is_leaf());
/// ```
pub struct Parameter {
    t: RwLock<Tensor>,
}

impl Parameter {
    /// Wrap `t` (detached from any graph) as a leaf that requires grad.
    ///
    /// Panics if `t` is not a floating point tensor (only those can require grad).
    pub fn new(t: Tensor) -> Parameter {
        let t = t.detach();
        t.set_requires_grad(true)
            .unwrap_or_else(|e| panic!("Parameter::new: {e}"));
        Parameter { t: RwLock::new(t) }
    }

    /// The parameter's tensor (a cheap handle sharing its data and `.grad()`).
    pub fn tensor(&self) -> Tensor {
        self.t.read().clone()
    }

    /// Replace the tensor (made a leaf that requires grad); used by `to_dtype`.
    pub fn set(&self, t: Tensor) -> Result<()> {
        let t = t.detach();
        t.set_requires_grad(true)?;
        *self.t.write() = t;
        Ok(())
    }
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.tensor();
        write!(f, "Parameter(shape={:?}, dtype={})", t.shape(), t.dtype())
    }
}

/// A tensor that is part of a module's state but not learned by gradients (BatchNorm's running
/// statistics). Saved in `state_dict`, converted by `to_dtype` when it is floating point.
pub struct Buffer {
    t: RwLock<Tensor>,
}

impl Buffer {
    pub fn new(t: Tensor) -> Buffer {
        Buffer {
            t: RwLock::new(t.detach()),
        }
    }

    pub fn tensor(&self) -> Tensor {
        self.t.read().clone()
    }

    pub fn set(&self, t: Tensor) {
        *self.t.write() = t.detach();
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.tensor();
        write!(f, "Buffer(shape={:?}, dtype={})", t.shape(), t.dtype())
    }
}
