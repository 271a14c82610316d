//! The LSTM's two gradient rules against each other: the fused kernels (a plain backward) and
//! the composite of Tensor ops (taken when the backward is recorded, `create_graph`), through
//! the public `lstm_cell` / `lstm_sequence`, in f32 and f64.

use ember_core::autograd::grad;
use ember_core::{manual_seed, DType, Tensor};
use ember_nn::functional as F;

fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

fn inputs(shapes: &[&[usize]], dt: DType) -> Vec<Tensor> {
    shapes
        .iter()
        .map(|s| Tensor::randn(s).to_dtype(dt).unwrap().requires_grad_(true))
        .collect()
}

/// Gradients of `loss` with the fused rule (plain) and with the composite (`create_graph`).
fn both_rules(loss: &Tensor, ins: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>) {
    let fused = grad(&[loss.clone()], ins, None, true, false).unwrap();
    let composite = grad(&[loss.clone()], ins, None, true, true).unwrap();
    let unwrap = |v: Vec<Option<Tensor>>| v.into_iter().map(|g| g.unwrap().detach()).collect();
    (unwrap(fused), unwrap(composite))
}

#[test]
fn sequence_fused_and_composite_gradients_agree() {
    manual_seed(21);
    for (dt, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let ins = inputs(&[&[7, 5, 4 * 9], &[5, 9], &[5, 9], &[4 * 9, 9]], dt);
        let w_hh = ins[3].mul_scalar(0.3).unwrap();
        let (out, h, c) = F::lstm_sequence(&ins[0], &ins[1], &ins[2], &w_hh).unwrap();
        let loss = out
            .square()
            .unwrap()
            .sum_all()
            .add(&h.sum_all())
            .unwrap()
            .add(&c.mul_scalar(3.0).unwrap().sum_all())
            .unwrap();
        let (fused, composite) = both_rules(&loss, &ins);
        for (a, b) in fused.iter().zip(&composite) {
            assert!(rel_diff(a, b) < tol, "{dt}: {}", rel_diff(a, b));
        }
    }
}

#[test]
fn cell_fused_and_composite_gradients_agree() {
    manual_seed(22);
    for (dt, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-14)] {
        let ins = inputs(&[&[6, 4 * 11], &[6, 11]], dt);
        let (h, c) = F::lstm_cell(&ins[0], &ins[1]).unwrap();
        let loss = h.mul(&c).unwrap().sum_all().add(&c.sum_all()).unwrap();
        let (fused, composite) = both_rules(&loss, &ins);
        for (a, b) in fused.iter().zip(&composite) {
            assert!(rel_diff(a, b) < tol, "{dt}: {}", rel_diff(a, b));
        }
    }
}

#[test]
fn an_in_place_change_to_the_output_is_refused_by_backward() {
    let ins = inputs(&[&[3, 2, 8], &[2, 2], &[2, 2], &[8, 2]], DType::F32);
    let (out, _, _) = F::lstm_sequence(&ins[0], &ins[1], &ins[2], &ins[3]).unwrap();
    let loss = out.sum_all();
    {
        let _g = ember_core::no_grad();
        out.detach().add_scalar_(1.0).unwrap();
    }
    assert!(loss.backward().is_err());
}

#[test]
fn bad_shapes_are_errors() {
    let z = Tensor::zeros;
    assert!(F::lstm_cell(&z(&[2, 7]), &z(&[2, 2])).is_err());
    assert!(F::lstm_sequence(&z(&[3, 2, 8]), &z(&[2, 2]), &z(&[2, 3]), &z(&[8, 2])).is_err());
    assert!(F::lstm_sequence(&z(&[3, 2, 8]), &z(&[2, 2]), &z(&[2, 2]), &z(&[8, 3])).is_err());
    assert!(F::lstm_sequence(&z(&[0, 2, 8]), &z(&[2, 2]), &z(&[2, 2]), &z(&[8, 2])).is_err());
}
