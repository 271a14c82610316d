//! Finite-difference gradient checks (JAX-style: one random direction, in f64).
//!
//! `gradcheck` compares the directional derivative of `f` along a random direction `v`,
//! computed two ways: central finite differences `(f(x + eps v) - f(x - eps v)) / 2 eps`
//! contracted with a random cotangent `u`, and the autograd vector-Jacobian product `u^T J`
//! contracted with `v`. `gradgradcheck` applies the same test to the function that maps the
//! inputs to their gradient (the backward pass recorded with `create_graph`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::rng::Generator;
use crate::tensor::Tensor;

fn random_like(t: &Tensor, g: &mut Generator) -> Result<Tensor> {
    Tensor::randn_with(t.shape(), g).to_dtype(DType::F64)
}

fn dot_all(a: &Tensor, b: &Tensor) -> Result<f64> {
    a.to_dtype(DType::F64)?.mul(&b.to_dtype(DType::F64)?)?.sum_all().item()
}

/// Check the gradient of `f` at `inputs` (f64 tensors). Returns the relative error, or an error
/// naming the discrepancy when it exceeds `tol`.
pub fn gradcheck(f: &dyn Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor], eps: f64, tol: f64) -> Result<f64> {
    let mut gen = Generator::new(1234);
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|x| x.detach().to_dtype(DType::F64).map(|t| t.copy().requires_grad_(true)))
        .collect::<Result<_>>()?;
    let out = f(&xs)?;
    let u = random_like(&out, &mut gen)?;
    let grads = crate::autograd::grad(
        std::slice::from_ref(&out),
        &xs,
        Some(std::slice::from_ref(&u)),
        false,
        false,
    )?;
    let vs: Vec<Tensor> = xs.iter().map(|x| random_like(x, &mut gen)).collect::<Result<_>>()?;
    // analytic: sum_i <grad_i, v_i>
    let mut analytic = 0.0;
    for (g, v) in grads.iter().zip(&vs) {
        if let Some(g) = g {
            analytic += dot_all(g, v)?;
        }
    }
    // numeric: <u, (f(x + eps v) - f(x - eps v)) / 2eps>
    let _ng = crate::autograd::no_grad();
    let shifted = |sign: f64| -> Result<Tensor> {
        let xs2: Vec<Tensor> = xs
            .iter()
            .zip(&vs)
            .map(|(x, v)| x.add(&v.mul_scalar(sign * eps)?))
            .collect::<Result<_>>()?;
        f(&xs2)
    };
    let numeric = dot_all(&u, &shifted(1.0)?.sub(&shifted(-1.0)?)?)? / (2.0 * eps);
    let err = (analytic - numeric).abs() / (1.0 + numeric.abs());
    if err.is_nan() || err > tol {
        return Err(Error::Autograd(format!(
            "gradcheck failed: analytic directional derivative {analytic} vs numeric {numeric} (relative error {err:e} > {tol:e})"
        )));
    }
    Ok(err)
}

/// Check second derivatives: the gradient map `x -> u^T J(x)` must itself pass `gradcheck`.
pub fn gradgradcheck(f: &dyn Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor], eps: f64, tol: f64) -> Result<f64> {
    let mut gen = Generator::new(99);
    let probe = {
        let xs: Vec<Tensor> = inputs
            .iter()
            .map(|x| x.detach().to_dtype(DType::F64))
            .collect::<Result<_>>()?;
        let _ng = crate::autograd::no_grad();
        f(&xs)?
    };
    let u = random_like(&probe, &mut gen)?;
    let grad_fn = move |xs: &[Tensor]| -> Result<Tensor> {
        // the numeric side of gradcheck calls this under no_grad with plain inputs
        let _eg = crate::autograd::enable_grad();
        let xs: Vec<Tensor> = xs
            .iter()
            .map(|x| {
                if x.requires_grad() {
                    x.clone()
                } else {
                    x.detach().requires_grad_(true)
                }
            })
            .collect();
        let xs = &xs[..];
        let out = f(xs)?;
        let gs = crate::autograd::grad(&[out], xs, Some(std::slice::from_ref(&u)), true, true)?;
        // flatten all gradients into one vector (missing gradients count as zeros)
        let parts: Vec<Tensor> = gs
            .into_iter()
            .zip(xs)
            .map(|(g, x)| g.unwrap_or_else(|| Tensor::zeros_like(x)).reshape(&[-1]))
            .collect::<Result<_>>()?;
        Tensor::cat(&parts, 0)
    };
    gradcheck(&grad_fn, inputs, eps, tol)
}
