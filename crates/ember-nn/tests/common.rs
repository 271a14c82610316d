//! Shared helpers of the parity tests: load a PyTorch fixture, compare tensors.

#![allow(dead_code)]

use ember_core::{DType, Tensor};
use std::collections::BTreeMap;

pub type Fx = BTreeMap<String, Tensor>;

/// Load `tests/fixtures/nn/<name>.safetensors` (written by tools/gen_nn_fixtures.py).
pub fn fixture(name: &str) -> Fx {
    let path = format!(
        "{}/../../tests/fixtures/nn/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    ember_core::load(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Entries under `prefix.` with the prefix removed.
pub fn with_prefix(fx: &Fx, prefix: &str) -> BTreeMap<String, Tensor> {
    fx.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{prefix}."))
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect()
}

/// Assert `a` and `b` have one shape and agree to `atol + rtol * |b|` everywhere.
pub fn assert_close(a: &Tensor, b: &Tensor, rtol: f64, atol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    let x = a.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    let y = b.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    let mut worst = (0.0f64, 0usize);
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        let err = (p - q).abs() - (atol + rtol * q.abs());
        if err > worst.0 || p.is_nan() != q.is_nan() {
            worst = (err.max(f64::MIN_POSITIVE), i);
        }
    }
    assert!(
        worst.0 <= 0.0,
        "{what}: mismatch at {}: ember {} vs torch {} (shape {:?})",
        worst.1,
        x[worst.1],
        y[worst.1],
        a.shape()
    );
}

/// Inputs of a case: float ones become fresh leaves that require grad.
pub fn inputs(fx: &Fx) -> BTreeMap<String, Tensor> {
    with_prefix(fx, "in")
        .into_iter()
        .map(|(k, v)| {
            let v = if v.dtype().is_float() {
                v.copy().requires_grad_(true)
            } else {
                v
            };
            (k, v)
        })
        .collect()
}
