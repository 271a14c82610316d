//! WGAN-GP's gradient penalty: the gradient of a critic with respect to its input, its norm
//! pushed towards 1, and the penalty differentiated again with respect to the critic's weights.
//! A gradient of a gradient — recorded with `create_graph`.
//!
//! Run: `cargo run --release -p ember --example gradient_penalty`

use ember::prelude::*;
use ember::{autograd, load};

/// A one-hidden-layer critic: tanh(x W1^T + b1) W2^T + b2.
pub fn critic(x: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> Result<Tensor> {
    x.matmul(&w1.t())?.add(b1)?.tanh()?.matmul(&w2.t())?.add(b2)
}

/// The penalty mean((||grad_x D(x_hat)||_2 - 1)^2) on interpolates of real and fake samples,
/// with the input gradient kept in the graph so the penalty can be backpropagated.
pub fn gradient_penalty(real: &Tensor, fake: &Tensor, alpha: &Tensor, params: &[Tensor]) -> Result<(Tensor, Tensor)> {
    let xhat = alpha
        .mul(real)?
        .add(&alpha.rsub_scalar(1.0)?.mul(fake)?)?
        .detach()
        .requires_grad_(true);
    let out = critic(&xhat, &params[0], &params[1], &params[2], &params[3])?;
    let ones = Tensor::ones_like(&out);
    let gx = autograd::grad(&[out], &[xhat], Some(&[ones]), true, true)?
        .remove(0)
        .expect("x_hat is used");
    let penalty = gx.norm(2.0, &[1], false)?.sub_scalar(1.0)?.square()?.mean_all()?;
    Ok((penalty, gx))
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/autograd/gradient_penalty.safetensors"
    );
    let f = load(path)?;
    let params: Vec<Tensor> = ["w1", "b1", "w2", "b2"]
        .iter()
        .map(|k| f[*k].copy().requires_grad_(true))
        .collect();
    let (penalty, _) = gradient_penalty(&f["real"], &f["fake"], &f["alpha"], &params)?;
    penalty.backward()?;
    println!(
        "penalty = {:.6} (PyTorch: {:.6})",
        penalty.item()?,
        f["penalty"].item()?
    );
    for (name, p) in ["w1", "b1", "w2"].iter().zip(&params) {
        let diff = p
            .grad()
            .unwrap()
            .sub(&f[&format!("grad_{name}")])?
            .abs()?
            .max_all()?
            .item()?;
        println!("d penalty / d {name}: max |ember - PyTorch| = {diff:.2e}");
    }
    Ok(())
}
