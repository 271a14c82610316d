//! W3: per-op overhead, 10,000 times `x = x + 1.0` on a 1-element tensor:
//! (a) without autograd, (b) from a leaf that requires grad (recording a 10k-node graph,
//! freed when the result is dropped — included in the time, as in the PyTorch anchor).

use crate::harness::{bench, emit_time};
use ember_core::Tensor;

pub fn run(threads: usize) {
    let st = bench(
        || {
            let mut x = Tensor::zeros(&[1]);
            for _ in 0..10_000 {
                x = &x + 1.0;
            }
            drop(x);
        },
        2,
        15,
        0.0,
    );
    emit_time("W3", "(a) no grad", &st, "us/op", 1e6 / 10_000.0, threads);
    let st = bench(
        || {
            let x = Tensor::zeros(&[1]).requires_grad_(true);
            let mut y = x.clone();
            for _ in 0..10_000 {
                y = &y + 1.0;
            }
            drop(y);
        },
        2,
        15,
        0.0,
    );
    emit_time(
        "W3",
        "(b) requires_grad recording",
        &st,
        "us/op",
        1e6 / 10_000.0,
        threads,
    );
}
