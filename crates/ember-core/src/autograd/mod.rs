//! Reverse-mode automatic differentiation on a dynamic (define-by-run) graph.
//!
//! Every op that has an input requiring grad (while grad mode is on) attaches one [`Node`] to
//! its output: edges to its inputs' nodes and a vector-Jacobian product written with Tensor ops.
//! `backward` walks the nodes in reverse creation order (a node's inputs are always older than
//! it, so this is a topological order) and accumulates gradients. Because the VJPs are Tensor
//! ops, running them in grad mode (`create_graph`) records the backward pass itself, which is
//! how gradients of gradients work.

mod engine;
pub mod gradcheck;
mod mode;
pub(crate) mod node;

pub use engine::{backward, grad};
pub use gradcheck::{gradcheck, gradgradcheck};
pub use mode::{enable_grad, is_grad_enabled, no_grad, set_grad_enabled, GradModeGuard};
pub use node::{live_graph_nodes, BackwardFn, GradHook, SavedTensor};

use crate::tensor::Tensor;

/// True when an op on these inputs must be recorded.
#[inline]
pub fn needs_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Attach a graph node to `out` if any input requires grad. `make` builds the VJP; it is only
/// called when recording, so ops pay nothing for autograd when it is off.
///
/// This is also the public extension point for custom differentiable ops:
///
/// ```
/// use ember_core::{autograd, Tensor};
/// // y = 3x, written as a custom op with its own gradient rule
/// let x = Tensor::new(&[1.0f64, 2.0]).requires_grad_(true);
/// let y = {
///     let _g = autograd::no_grad();
///     &x * 3.0
/// };
/// let y = autograd::record("triple", y, &[&x], |_| Box::new(|g| Ok(vec![Some(g * 3.0)])));
/// y.sum_all().backward().unwrap();
/// assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![3.0, 3.0]);
/// ```
pub fn record<F>(name: &'static str, out: Tensor, inputs: &[&Tensor], make: F) -> Tensor
where
    F: FnOnce(&[&Tensor]) -> BackwardFn,
{
    if !needs_grad(inputs) {
        return out;
    }
    let edges = inputs.iter().map(|t| t.edge()).collect();
    let f = make(inputs);
    out.with_grad_fn(name, edges, f)
}

impl Tensor {
    /// Backpropagate from a scalar: fills `.grad()` of every leaf that requires grad.
    pub fn backward(&self) -> crate::Result<()> {
        backward(self, None, false, false)
    }

    /// Backpropagate with an explicit gradient of this tensor (for non-scalar outputs).
    pub fn backward_with(&self, grad: &Tensor) -> crate::Result<()> {
        backward(self, Some(grad.clone()), false, false)
    }

    /// Backward with PyTorch's full options.
    pub fn backward_opts(&self, grad: Option<&Tensor>, retain_graph: bool, create_graph: bool) -> crate::Result<()> {
        backward(self, grad.cloned(), retain_graph || create_graph, create_graph)
    }

    /// Keep `.grad()` for this non-leaf tensor after backward.
    pub fn retain_grad(&self) {
        if let Some(n) = &self.inner.grad_fn {
            *n.retained.lock() = Some(std::sync::Arc::downgrade(&self.inner));
        }
    }

    /// Register a hook that sees (and may replace) this tensor's gradient during backward.
    pub fn register_hook<F>(&self, hook: F)
    where
        F: Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    {
        match &self.inner.grad_fn {
            Some(n) => n.hooks.lock().push(Box::new(hook)),
            None => self.inner.hooks.lock().push(Box::new(hook)),
        }
    }
}

/// Run `f` with grad mode off (a closure form of `no_grad`).
pub fn no_grad_scope<T>(f: impl FnOnce() -> T) -> T {
    let _g = no_grad();
    f()
}
