//! The autograd examples reproduce PyTorch's values (fixtures from tools/gen_autograd_fixtures.py).

#[path = "../../../examples/gradient_penalty.rs"]
mod gradient_penalty;
#[path = "../../../examples/hessian_vector_product.rs"]
mod hessian_vector_product;

use ember::{load, Tensor};

fn fixture(name: &str) -> std::collections::BTreeMap<String, Tensor> {
    load(format!(
        "{}/../../tests/fixtures/autograd/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn assert_close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let diff = got.sub(want).unwrap().abs().unwrap().max_all().unwrap().item().unwrap();
    assert!(diff < 1e-10, "{what}: max |ember - PyTorch| = {diff:e}");
}

#[test]
fn gradient_penalty_matches_pytorch() {
    let f = fixture("gradient_penalty");
    let params: Vec<Tensor> = ["w1", "b1", "w2", "b2"]
        .iter()
        .map(|k| f[*k].copy().requires_grad_(true))
        .collect();
    let (penalty, gx) = gradient_penalty::gradient_penalty(&f["real"], &f["fake"], &f["alpha"], &params).unwrap();
    assert_close(&gx.detach(), &f["grad_x"], "grad_x");
    assert_close(&penalty.detach(), &f["penalty"], "penalty");
    penalty.backward().unwrap();
    assert_close(&params[0].grad().unwrap(), &f["grad_w1"], "grad_w1");
    assert_close(&params[1].grad().unwrap(), &f["grad_b1"], "grad_b1");
    assert_close(&params[2].grad().unwrap(), &f["grad_w2"], "grad_w2");
    // the penalty does not depend on the output bias: PyTorch leaves its grad None, so do we
    assert!(params[3].grad().is_none());
}

#[test]
fn hessian_vector_product_matches_pytorch() {
    let t = fixture("hvp");
    let (y, g, hv) = hessian_vector_product::hvp(&t["A"], &t["x"], &t["v"]).unwrap();
    assert_close(&y.detach(), &t["f"], "f");
    assert_close(&g.detach(), &t["grad"], "grad");
    assert_close(&hv, &t["hvp"], "hvp");
}
