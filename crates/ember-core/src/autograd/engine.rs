//! The backward pass: one walk over the graph in reverse creation order.

use super::mode::set_grad_enabled;
use super::node::{Edge, Node};
use crate::error::{shape_err, Error, Result};
use crate::tensor::{Tensor, TensorInner};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// Compute gradients of `root` with respect to every leaf that requires grad and accumulate
/// them into the leaves' `.grad()`. `grad` defaults to 1 for a one-element root.
pub fn backward(root: &Tensor, grad: Option<Tensor>, retain_graph: bool, create_graph: bool) -> Result<()> {
    let g = initial_grad(root, grad)?;
    run(&[(root.clone(), g)], retain_graph, create_graph, None).map(|_| ())
}

/// The gradients of `outputs` with respect to `inputs` (PyTorch's `torch.autograd.grad`),
/// without touching any `.grad()`. `None` where an input is not reached by the graph.
pub fn grad(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: Option<&[Tensor]>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    for (i, t) in inputs.iter().enumerate() {
        if !t.requires_grad() {
            return Err(Error::Autograd(format!(
                "grad: input {i} (shape {:?}) does not require grad",
                t.shape()
            )));
        }
    }
    let mut roots = Vec::with_capacity(outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        let g = initial_grad(o, grad_outputs.map(|g| g[i].clone()))?;
        roots.push((o.clone(), g));
    }
    run(&roots, retain_graph || create_graph, create_graph, Some(inputs))
}

fn initial_grad(root: &Tensor, grad: Option<Tensor>) -> Result<Tensor> {
    if !root.requires_grad() {
        return Err(Error::Autograd(format!(
            "element 0 of tensors does not require grad and does not have a grad_fn (shape {:?}); \
             did you forget requires_grad_(true) on a leaf, or compute it under no_grad?",
            root.shape()
        )));
    }
    match grad {
        Some(g) => {
            if g.shape() != root.shape() {
                return Err(shape_err(
                    "backward",
                    format!(
                        "gradient of shape {:?} does not match the output of shape {:?}",
                        g.shape(),
                        root.shape()
                    ),
                ));
            }
            Ok(g)
        }
        None => {
            if root.numel() != 1 {
                return Err(Error::Autograd(format!(
                    "grad can be implicitly created only for scalar outputs, got shape {:?}; use \
                     backward_with(grad)",
                    root.shape()
                )));
            }
            Ok(Tensor::ones_like(root))
        }
    }
}

struct Pending {
    seq: u64,
    node: Arc<Node>,
}
impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.seq.cmp(&o.seq)
    }
}

fn key<T>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

/// Count, for every leaf reached, how many edges lead into it, so each leaf's gradient can be
/// finalized (hooks, accumulation) as soon as its last contribution arrives.
fn count_leaf_edges(roots: &[Arc<Node>]) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Arc<Node>> = roots.to_vec();
    while let Some(n) = stack.pop() {
        if !seen.insert(key(&n)) {
            continue;
        }
        for e in n.edges.iter().flatten() {
            match e {
                Edge::Node(m) => stack.push(m.clone()),
                Edge::Leaf(l) => *counts.entry(key(l)).or_insert(0) += 1,
            }
        }
    }
    counts
}

fn run(
    roots: &[(Tensor, Tensor)],
    retain_graph: bool,
    create_graph: bool,
    capture: Option<&[Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let _mode = set_grad_enabled(create_graph);
    let mut heap = BinaryHeap::new();
    let mut node_grads: HashMap<usize, Option<Tensor>> = HashMap::new();
    let mut leaf_grads: HashMap<usize, (Arc<TensorInner>, Option<Tensor>)> = HashMap::new();
    let mut captured: Vec<Option<Tensor>> = vec![None; capture.map_or(0, |c| c.len())];
    let capture_index = |k: usize, leaf: bool| -> Option<usize> {
        capture?.iter().position(|t| {
            if leaf {
                t.is_leaf() && key(&t.inner) == k
            } else {
                t.inner.grad_fn.as_ref().is_some_and(|n| key(n) == k)
            }
        })
    };

    let root_nodes: Vec<Arc<Node>> = roots.iter().filter_map(|(t, _)| t.inner.grad_fn.clone()).collect();
    let mut leaf_edges = count_leaf_edges(&root_nodes);

    for (t, g) in roots {
        match t.edge() {
            Some(Edge::Node(n)) => {
                let k = key(&n);
                if !node_grads.contains_key(&k) {
                    heap.push(Pending {
                        seq: n.seq,
                        node: n.clone(),
                    });
                }
                accumulate(node_grads.entry(k).or_insert(None), g.clone())?;
            }
            Some(Edge::Leaf(l)) => {
                // backward() called on a leaf itself: its gradient is the seed.
                let k = key(&l);
                *leaf_edges.entry(k).or_insert(0) += 1;
                let e = leaf_grads.entry(k).or_insert((l.clone(), None));
                accumulate(&mut e.1, g.clone())?;
                finish_leaf(k, &mut leaf_edges, &mut leaf_grads, &capture_index, &mut captured)?;
            }
            None => {}
        }
    }

    while let Some(Pending { node, .. }) = heap.pop() {
        let k = key(&node);
        let Some(mut g) = node_grads.remove(&k).flatten() else {
            continue;
        };
        for h in node.hooks.lock().iter() {
            if let Some(r) = h(&g) {
                g = r;
            }
        }
        if let Some(w) = node.retained.lock().as_ref() {
            if let Some(inner) = w.upgrade() {
                let t = Tensor { inner };
                let mut slot = t.inner.grad.lock();
                accumulate(&mut slot, if create_graph { g.clone() } else { g.detach() })?;
            }
        }
        if let Some(i) = capture_index(k, false) {
            captured[i] = Some(g.clone());
        }
        let input_grads = node.call(&g, retain_graph)?;
        if input_grads.len() != node.edges.len() {
            return Err(Error::Autograd(format!(
                "the gradient rule of {} returned {} gradients for {} inputs",
                node.name,
                input_grads.len(),
                node.edges.len()
            )));
        }
        for (edge, ig) in node.edges.iter().zip(input_grads) {
            let (Some(edge), Some(ig)) = (edge, ig) else {
                if let Some(Edge::Leaf(l)) = edge {
                    finish_leaf(key(l), &mut leaf_edges, &mut leaf_grads, &capture_index, &mut captured)?;
                }
                continue;
            };
            match edge {
                Edge::Node(n) => {
                    let nk = key(n);
                    if !node_grads.contains_key(&nk) {
                        heap.push(Pending {
                            seq: n.seq,
                            node: n.clone(),
                        });
                    }
                    accumulate(node_grads.entry(nk).or_insert(None), ig)?;
                }
                Edge::Leaf(l) => {
                    let lk = key(l);
                    let e = leaf_grads.entry(lk).or_insert((l.clone(), None));
                    accumulate(&mut e.1, ig)?;
                    finish_leaf(lk, &mut leaf_edges, &mut leaf_grads, &capture_index, &mut captured)?;
                }
            }
        }
    }
    Ok(captured)
}

/// Count down one incoming edge of a leaf; when the last one arrives, run the leaf's hooks and
/// accumulate into `.grad` (or capture it for `grad()`).
fn finish_leaf(
    k: usize,
    leaf_edges: &mut HashMap<usize, usize>,
    leaf_grads: &mut HashMap<usize, (Arc<TensorInner>, Option<Tensor>)>,
    capture_index: &dyn Fn(usize, bool) -> Option<usize>,
    captured: &mut [Option<Tensor>],
) -> Result<()> {
    let c = leaf_edges.entry(k).or_insert(1);
    *c -= 1;
    if *c > 0 {
        return Ok(());
    }
    let Some((inner, Some(mut g))) = leaf_grads.remove(&k) else {
        return Ok(());
    };
    for h in inner.hooks.lock().iter() {
        if let Some(r) = h(&g) {
            g = r;
        }
    }
    let is_capture_mode = !captured.is_empty();
    if let Some(i) = capture_index(k, true) {
        captured[i] = Some(g);
        return Ok(());
    }
    if is_capture_mode {
        return Ok(()); // grad() never touches .grad of other leaves
    }
    let t = Tensor { inner };
    let g = if g.shape() != t.shape() {
        g.reshape_to(t.shape())?
    } else {
        g
    };
    let mut slot = t.inner.grad.lock();
    accumulate(&mut slot, g)
}
