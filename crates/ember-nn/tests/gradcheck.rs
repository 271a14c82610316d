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
