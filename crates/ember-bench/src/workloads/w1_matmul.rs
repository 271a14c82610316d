//! W1: square f32 matmul, GFLOP/s = 2 n^3 / t.

use crate::harness::{bench, emit};
use ember_core::Tensor;

pub fn run(threads: usize) {
    for n in [128usize, 512, 1024, 2048] {
        let a = Tensor::randn(&[n, n]);
        let b = Tensor::randn(&[n, n]);
        let st = bench(|| drop(a.matmul(&b).unwrap()), 3, if n < 2048 { 21 } else { 15 }, 0.1);
        let flop = 2.0 * (n as f64).powi(3);
        emit(
            "W1",
            &format!("n={n}"),
            flop / st.median / 1e9,
            "GFLOP/s",
            threads,
            serde_json::json!({"best": (flop / st.min / 1e9 * 100.0).round() / 100.0, "median_ms": st.median * 1e3}),
        );
    }
}
