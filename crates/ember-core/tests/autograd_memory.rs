//! Memory: the graph and its buffers are freed after backward or when dropped. The live-node and
//! live-byte counters are process-wide, so these checks run in one test, one after another.

use ember_core::{autograd, no_grad, DType, Tensor};

#[test]
fn graph_memory_returns_to_baseline() {
    graph_and_buffers_are_freed_after_training_like_iterations();
    dropped_graph_without_backward_is_freed();
    long_chain_backward_frees_everything();
}

fn long_chain_backward_frees_everything() {
    let base = autograd::live_graph_nodes();
    {
        let x = Tensor::ones(&[1]).requires_grad_(true);
        let mut y = x.clone();
        for _ in 0..10000 {
            y = &y + 1.0;
        }
        y.sum_all().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0]);
    }
    assert_eq!(autograd::live_graph_nodes(), base);
}

fn graph_and_buffers_are_freed_after_training_like_iterations() {
    let w = Tensor::randn(&[16, 8])
        .to_dtype(DType::F32)
        .unwrap()
        .requires_grad_(true);
    let x = Tensor::randn(&[4, 16]);
    // warm up once so lazily created state is counted in the baseline
    x.matmul(&w).unwrap().relu().unwrap().sum_all().backward().unwrap();
    w.zero_grad();
    let nodes = autograd::live_graph_nodes();
    let bytes = ember_core::storage::live_storage_bytes();
    for _ in 0..1000 {
        let loss = x
            .matmul(&w)
            .unwrap()
            .relu()
            .unwrap()
            .square()
            .unwrap()
            .mean_all()
            .unwrap();
        loss.backward().unwrap();
        let _g = no_grad();
        w.add_scaled_(&w.grad().unwrap(), -1e-3).unwrap();
        w.zero_grad();
    }
    assert_eq!(autograd::live_graph_nodes(), nodes);
    assert_eq!(ember_core::storage::live_storage_bytes(), bytes);
}

fn dropped_graph_without_backward_is_freed() {
    let nodes = autograd::live_graph_nodes();
    let x = Tensor::ones(&[3]).requires_grad_(true);
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = y.sin().unwrap();
    }
    assert!(autograd::live_graph_nodes() >= nodes + 20_000);
    drop(y);
    assert_eq!(autograd::live_graph_nodes(), nodes);
}
