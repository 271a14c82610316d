//! W2: y = relu(a * b + c) over 4M f32, as three eager ops.

use crate::harness::{bench, emit_time};
use ember_core::Tensor;

pub fn run(threads: usize) {
    const N: usize = 4_194_304;
    let (a, b, c) = (Tensor::randn(&[N]), Tensor::randn(&[N]), Tensor::randn(&[N]));
    let st = bench(|| drop((&(&a * &b) + &c).relu().unwrap()), 3, 31, 0.1);
    emit_time("W2", "relu(a*b+c) 3 ops", &st, "ms", 1e3, threads);
}
