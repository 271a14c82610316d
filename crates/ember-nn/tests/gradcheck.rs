//! Finite-difference checks (f64) of the composite ops with hand-written gradient rules.

use ember_core::autograd::{gradcheck, gradgradcheck};
use ember_core::{manual_seed, DType, Tensor};
use ember_nn::functional::{self as F, CrossEntropyOptions};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).to_dtype(DType::F64).unwrap()
}

#[test]
fn lstm_cell_first_and_second_order() {
    manual_seed(5);
    let f = |x: &[Tensor]| {
        let (h, c) = F::lstm_cell(&x[0], &x[1])?;
        h.mul_scalar(2.0)?.add(&c)
    };
    let ins = [randn(&[3, 8]), randn(&[3, 2])];
    gradcheck(&f, &ins, 1e-6, 1e-6).unwrap();
    gradgradcheck(&f, &ins, 1e-6, 1e-5).unwrap();
}

#[test]
fn lstm_sequence_first_and_second_order() {
    manual_seed(7);
    let f = |x: &[Tensor]| {
        let (out, h, c) = F::lstm_sequence(&x[0], &x[1], &x[2], &x[3])?;
        out.sum_all()
            .add(&h.mul_scalar(2.0)?.sum_all())?
            .add(&c.square()?.sum_all())
    };
    // T = 3 steps, batch 2, hidden 2
    let ins = [randn(&[3, 2, 8]), randn(&[2, 2]), randn(&[2, 2]), randn(&[8, 2])];
    gradcheck(&f, &ins, 1e-6, 1e-6).unwrap();
    gradgradcheck(&f, &ins, 1e-6, 1e-5).unwrap();
}

#[test]
fn lstm_sequence_equals_the_composite_of_cells() {
    manual_seed(8);
    let ins: Vec<Tensor> = [vec![4, 3, 12], vec![3, 3], vec![3, 3], vec![12, 3]]
        .iter()
        .map(|s| randn(s).requires_grad_(true))
        .collect();
    let (out, h, c) = F::lstm_sequence(&ins[0], &ins[1], &ins[2], &ins[3]).unwrap();
    let fused = out
        .sum_all()
        .add(&h.sum_all())
        .unwrap()
        .add(&c.mul_scalar(3.0).unwrap().sum_all())
        .unwrap();
    let fused_grads = ember_core::autograd::grad(&[fused.clone()], &ins, None, false, false).unwrap();

    let (mut hh, mut cc) = (ins[1].clone(), ins[2].clone());
    let mut outs = Vec::new();
    for t in 0..4 {
        let pre = ins[0]
            .select(0, t)
            .unwrap()
            .add(&hh.matmul(&ins[3].t()).unwrap())
            .unwrap();
        (hh, cc) = F::lstm_cell(&pre, &cc).unwrap();
        outs.push(hh.clone());
    }
    let reference = Tensor::stack(&outs, 0).unwrap().sum_all().add(&hh.sum_all()).unwrap();
    let reference = reference.add(&cc.mul_scalar(3.0).unwrap().sum_all()).unwrap();
    let reference_grads = ember_core::autograd::grad(&[reference.clone()], &ins, None, false, false).unwrap();
    let close = |a: &Tensor, b: &Tensor| {
        a.sub(b)
            .unwrap()
            .abs()
            .unwrap()
            .amax(&[], false)
            .unwrap()
            .item()
            .unwrap()
            < 1e-12
    };
    assert!(close(&fused, &reference));
    for (a, b) in fused_grads.iter().zip(&reference_grads) {
        assert!(close(a.as_ref().unwrap(), b.as_ref().unwrap()));
    }
}

#[test]
fn linear_softmax_and_cross_entropy() {
    manual_seed(6);
    gradcheck(
        &|x| F::linear(&x[0], &x[1], Some(&x[2])),
        &[randn(&[4, 3]), randn(&[5, 3]), randn(&[5])],
        1e-6,
        1e-6,
    )
    .unwrap();
    gradgradcheck(
        &|x| F::linear(&x[0], &x[1], None)?.tanh(),
        &[randn(&[2, 3, 3]), randn(&[2, 3])],
        1e-6,
        1e-5,
    )
    .unwrap();
    gradgradcheck(&|x| F::softmax(&x[0], 1), &[randn(&[3, 4])], 1e-6, 1e-5).unwrap();
    gradgradcheck(&|x| F::log_softmax(&x[0], 0), &[randn(&[3, 4])], 1e-6, 1e-5).unwrap();
    let t = Tensor::new(&[1i64, 0, 3]);
    gradgradcheck(
        &|x| F::cross_entropy(&x[0], &t, &CrossEntropyOptions::default()),
        &[randn(&[3, 4])],
        1e-6,
        1e-5,
    )
    .unwrap();
}

#[test]
fn conv_and_pool_composites() {
    manual_seed(7);
    gradcheck(
        &|x| F::conv2d(&x[0], &x[1], Some(&x[2]), 2, 1, 1, 1),
        &[randn(&[1, 2, 5, 5]), randn(&[3, 2, 3, 3]), randn(&[3])],
        1e-6,
        1e-6,
    )
    .unwrap();
    gradcheck(
        &|x| F::conv_transpose2d(&x[0], &x[1], None, 2, 1, 1, 1, 1),
        &[randn(&[1, 2, 3, 3]), randn(&[2, 3, 3, 3])],
        1e-6,
        1e-6,
    )
    .unwrap();
    gradcheck(
        &|x| F::avg_pool2d(&x[0], 2, None, 0, true, false),
        &[randn(&[1, 1, 5, 5])],
        1e-6,
        1e-6,
    )
    .unwrap();
}
