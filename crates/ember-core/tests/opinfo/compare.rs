//! Comparing ember's results with PyTorch's, and making non-contiguous copies of inputs.

use ember_core::{no_grad, DType, Tensor};

/// What is compared: results of the op, or gradients.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Forward,
    Grad,
}

/// `(rtol, atol)` for comparing a result of `dtype` with PyTorch's. Forward: a little above one
/// unit in the last place for the half types (ember and PyTorch both compute them in f32 and
/// round once, so a one-ulp disagreement in f32 can move the rounded value by one half ulp), a
/// few ulps scaled for short accumulations for f32/f64. Gradients of half-precision tensors are
/// chains of 2-4 ops that each round to the half type, in both libraries but not in the same
/// order, so they get four half ulps. Integers and bools compare exactly.
pub fn tolerance(dtype: DType, kind: Kind) -> (f64, f64) {
    let ulps = if kind == Kind::Grad { 4.0 } else { 1.0 };
    match dtype {
        DType::F64 => (1e-10, 1e-12),
        DType::F32 => (1e-5, 1e-6),
        DType::F16 => (1e-3 * ulps, 1e-3 * ulps),
        DType::BF16 => (1e-2 * ulps, 1e-2 * ulps),
        _ => (0.0, 0.0),
    }
}

/// Check `got` against PyTorch's `want`: same shape, same dtype, values within `tolerance`
/// (NaN matches NaN, infinities must match exactly). Returns a description of the mismatch.
pub fn check(got: &Tensor, want: &Tensor, kind: Kind) -> Result<(), String> {
    check_scaled(got, want, kind, 1.0)
}

/// [`check`] with the float tolerance multiplied by `scale` (the GPU suite: kernels that sum in
/// another order than PyTorch's CPU kernels, or use the fast transcendental functions).
pub fn check_scaled(got: &Tensor, want: &Tensor, kind: Kind, scale: f64) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {}, expected {}", got.dtype(), want.dtype()));
    }
    let (g, w) = (
        got.to_vec::<f64>().map_err(|e| e.to_string())?,
        want.to_vec::<f64>().map_err(|e| e.to_string())?,
    );
    if !want.dtype().is_float() {
        // integers up to 2^53 are exact in f64; wider values do not occur in the fixtures
        let bad: Vec<usize> = (0..g.len()).filter(|&i| g[i] != w[i]).collect();
        return describe(&bad, &g, &w, 0.0);
    }
    let (rtol, atol) = tolerance(want.dtype(), kind);
    let (rtol, atol) = (rtol * scale, atol * scale);
    let mut worst = 0.0f64;
    let bad: Vec<usize> = (0..g.len())
        .filter(|&i| {
            let (a, b) = (g[i], w[i]);
            if a.is_nan() || b.is_nan() {
                return a.is_nan() != b.is_nan();
            }
            if a.is_infinite() || b.is_infinite() {
                return a != b;
            }
            let err = (a - b).abs();
            worst = worst.max(err / (atol + rtol * b.abs()));
            err > atol + rtol * b.abs()
        })
        .collect();
    describe(&bad, &g, &w, worst)
}

fn describe(bad: &[usize], g: &[f64], w: &[f64], worst: f64) -> Result<(), String> {
    if bad.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = bad
        .iter()
        .take(4)
        .map(|&i| format!("[{i}] got {:e} want {:e}", g[i], w[i]))
        .collect();
    let scale = if worst > 0.0 {
        format!(", worst {worst:.1}x tolerance")
    } else {
        String::new()
    };
    Err(format!(
        "{} of {} elements differ{scale}: {}",
        bad.len(),
        g.len(),
        shown.join(", ")
    ))
}

/// A tensor with the same values, shape and dtype as `t` but a non-contiguous layout: its
/// elements sit at every other position of a bigger buffer (offset 1), in reversed dimension
/// order (column-major for a matrix). A fresh leaf, cut from any graph.
pub fn non_contiguous(t: &Tensor) -> Tensor {
    let _g = no_grad();
    let nd = t.ndim() as isize;
    let rev: Vec<isize> = (0..nd).rev().collect();
    let flipped = t.permute(&rev).expect("permute").contiguous();
    let junk = Tensor::full_like(&flipped, 7.0);
    let out = Tensor::stack(&[junk, flipped], -1)
        .expect("stack")
        .select(-1, 1)
        .expect("select")
        .permute(&rev)
        .expect("permute");
    assert!(
        t.numel() <= 1 || !out.is_contiguous(),
        "non_contiguous produced a contiguous tensor"
    );
    out.detach()
}
