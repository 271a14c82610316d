//! A Hessian-vector product by double backward: H v = d/dx (grad f(x) . v).
//!
//! Run: `cargo run --release -p ember --example hessian_vector_product`

use ember::prelude::*;
use ember::{autograd, load};

/// f(x) = sum(tanh(A x)^2) + sum(x^3) / 6
pub fn f(a: &Tensor, x: &Tensor) -> Result<Tensor> {
    let t = a.matmul(x)?.tanh()?.square()?.sum_all();
    t.add(&x.pow_scalar(3.0)?.sum_all().div_scalar(6.0)?)
}

/// Returns (f(x), grad f(x), H(x) v).
pub fn hvp(a: &Tensor, x: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let x = x.detach().requires_grad_(true);
    let y = f(a, &x)?;
    let g = autograd::grad(&[y.clone()], &[x.clone()], None, true, true)?
        .remove(0)
        .expect("x is used");
    let hv = autograd::grad(&[g.clone()], &[x], Some(&[v.clone()]), false, false)?
        .remove(0)
        .expect("g depends on x");
    Ok((y, g, hv))
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/autograd/hvp.safetensors"
    );
    let t = load(path)?;
    let (y, _, hv) = hvp(&t["A"], &t["x"], &t["v"])?;
    println!("f(x) = {:.6} (PyTorch: {:.6})", y.item()?, t["f"].item()?);
    println!("H v  = {hv}");
    let diff = hv.sub(&t["hvp"])?.abs()?.max_all()?.item()?;
    println!("max |ember - PyTorch| = {diff:.2e}");
    Ok(())
}
