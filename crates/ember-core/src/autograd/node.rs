//! One recorded op in the graph: edges to the nodes of its inputs and its vector-Jacobian
//! product. Nodes point only backwards (to inputs), and saved outputs are stored detached, so
//! the graph has no reference cycles and is freed with the last tensor that reaches it.

use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorInner};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Maps the gradient of the op's output to the gradients of its inputs (`None` = no gradient).
pub type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// A hook on a gradient: may return a replacement.
pub type GradHook = Box<dyn Fn(&Tensor) -> Option<Tensor> + Send + Sync>;

/// Where the gradient of one input goes.
pub(crate) enum Edge {
    /// The input was produced by another recorded op.
    Node(Arc<Node>),
    /// The input is a leaf that requires grad: its `.grad` accumulates.
    Leaf(Arc<TensorInner>),
}

pub(crate) struct Node {
    pub(crate) name: &'static str,
    /// Creation order; a node's inputs always have smaller ids (used as the topological order).
    pub(crate) seq: u64,
    pub(crate) edges: Vec<Option<Edge>>,
    pub(crate) backward: Mutex<Option<BackwardFn>>,
    /// Hooks registered on the output tensor (non-leaf `register_hook`).
    pub(crate) hooks: Mutex<Vec<GradHook>>,
    /// Output tensors that asked to `retain_grad`.
    pub(crate) retained: Mutex<Option<Weak<TensorInner>>>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Live graph nodes in this process, for leak tests.
static LIVE: AtomicU64 = AtomicU64::new(0);

/// Number of graph nodes alive right now (for tests that check the graph is freed).
pub fn live_graph_nodes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

impl Node {
    pub(crate) fn new(name: &'static str, edges: Vec<Option<Edge>>, backward: BackwardFn) -> Node {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Node {
            name,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
            edges,
            backward: Mutex::new(Some(backward)),
            hooks: Mutex::new(Vec::new()),
            retained: Mutex::new(None),
        }
    }

    pub(crate) fn call(&self, grad: &Tensor, retain_graph: bool) -> Result<Vec<Option<Tensor>>> {
        let mut slot = self.backward.lock();
        let Some(f) = slot.as_ref() else {
            return Err(Error::Autograd(format!(
                "trying to backward through the graph a second time (through {}): its saved \
                 tensors were freed after the first backward; pass retain_graph=true to the first \
                 backward if you need to backward twice",
                self.name
            )));
        };
        let out = f(grad)?;
        if !retain_graph {
            *slot = None;
        }
        Ok(out)
    }
}

type Remains = (Option<BackwardFn>, Vec<Option<Edge>>);

thread_local! {
    static DROPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static DEFERRED: std::cell::RefCell<Vec<Remains>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Node {
    /// Freeing a long chain (10k ops) recursively would overflow the stack: each node owns its
    /// inputs' nodes through its edges and through the tensors its gradient rule saved. The
    /// outermost drop on a thread frees everything from a work list instead; nested drops only
    /// hand their contents to that list.
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        let remains: Remains = (self.backward.get_mut().take(), std::mem::take(&mut self.edges));
        if DROPPING.with(|d| d.get()) {
            DEFERRED.with(|q| q.borrow_mut().push(remains));
            return;
        }
        DROPPING.with(|d| d.set(true));
        drop(remains);
        while let Some(next) = DEFERRED.with(|q| q.borrow_mut().pop()) {
            drop(next);
        }
        DROPPING.with(|d| d.set(false));
    }
}

/// A tensor saved for backward, with the storage version it had when saved.
pub struct SavedTensor {
    tensor: Tensor,
    version: u64,
}

impl SavedTensor {
    pub fn new(t: &Tensor) -> SavedTensor {
        SavedTensor {
            tensor: t.clone(),
            version: t.storage_version(),
        }
    }

    /// Save an op's output without its graph node (no cycle output -> node -> output).
    pub fn output(t: &Tensor) -> SavedTensor {
        SavedTensor {
            tensor: t.detach(),
            version: t.storage_version(),
        }
    }

    /// The saved tensor, or an error if an in-place op modified it since it was saved.
    pub fn get(&self) -> Result<&Tensor> {
        let now = self.tensor.storage_version();
        if now != self.version {
            return Err(Error::Autograd(format!(
                "one of the tensors needed for gradient computation (shape {:?}, {}) has been \
                 modified by an in-place operation: it is at version {now}, expected version {}",
                self.tensor.shape(),
                self.tensor.dtype(),
                self.version
            )));
        }
        Ok(&self.tensor)
    }
}
