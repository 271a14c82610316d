//! `addmm` (`bias + a @ b`): the fused paths (bias preset in gemm's output, or added by the
//! matrix-vector kernel) against the unfused `a.matmul(b) + bias`.

use ember_core::{DType, Generator, Tensor};

fn randn(shape: &[usize], seed: u64, dt: DType) -> Tensor {
    Tensor::randn_with(shape, &mut Generator::new(seed))
        .to_dtype(dt)
        .unwrap()
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

#[test]
fn fused_bias_matches_matmul_then_add() {
    let _g = ember_core::no_grad();
    for dt in [DType::F32, DType::F64] {
        let tol = if dt == DType::F32 { 1e-6 } else { 1e-14 };
        // batch 1 (matrix-vector kernel), one column, a Linear-like product on a transposed
        // weight, a deep k (gemm sums it in several blocks), empty sums and empty outputs
        for (m, k, n) in [(1, 7, 5), (6, 9, 1), (64, 33, 48), (40, 600, 17), (5, 0, 3), (0, 4, 3)] {
            let a = randn(&[m, k], 1, dt);
            let w = randn(&[n, k], 2, dt);
            let bias = randn(&[n], 3, dt);
            let got = bias.addmm(&a, &w.t()).unwrap();
            let want = a.matmul(&w.t()).unwrap().add(&bias).unwrap();
            assert_eq!(got.dtype(), dt);
            assert!(
                max_rel_diff(&got, &want) <= tol,
                "{dt} {m}x{k}x{n}: {}",
                max_rel_diff(&got, &want)
            );
            // a contiguous right operand too
            let wc = w.t().contiguous();
            assert!(max_rel_diff(&bias.addmm(&a, &wc).unwrap(), &want) <= tol);
        }
    }
}

#[test]
fn other_biases_broadcast_as_an_add() {
    let _g = ember_core::no_grad();
    let (a, b) = (randn(&[4, 3], 4, DType::F32), randn(&[3, 6], 5, DType::F32));
    let full = randn(&[4, 6], 6, DType::F32); // a [m, n] bias
    let strided = randn(&[12], 7, DType::F32)
        .narrow(0, 0, 12)
        .unwrap()
        .reshape(&[6, 2])
        .unwrap()
        .select(1, 0)
        .unwrap();
    for bias in [full, strided] {
        let want = a.matmul(&b).unwrap().add(&bias).unwrap();
        assert_eq!(
            bias.addmm(&a, &b).unwrap().to_vec::<f32>().unwrap(),
            want.to_vec::<f32>().unwrap()
        );
    }
    // integers take the unfused path
    let ints = |shape: &[isize]| {
        let len = shape.iter().product::<isize>() as f64;
        let t = Tensor::arange(0.0, len, 1.0).unwrap().to_dtype(DType::I64).unwrap();
        t.reshape(shape).unwrap()
    };
    let (ai, bi, biasi) = (ints(&[2, 3]), ints(&[3, 4]), ints(&[4]));
    let want = ai.matmul(&bi).unwrap().add(&biasi).unwrap();
    assert_eq!(
        biasi.addmm(&ai, &bi).unwrap().to_vec::<i64>().unwrap(),
        want.to_vec::<i64>().unwrap()
    );
}

#[test]
fn recorded_addmm_has_the_gradients_of_matmul_plus_add() {
    let a = randn(&[5, 4], 8, DType::F64).requires_grad_(true);
    let b = randn(&[4, 3], 9, DType::F64).requires_grad_(true);
    let bias = randn(&[3], 10, DType::F64).requires_grad_(true);
    bias.addmm(&a, &b).unwrap().sum_all().backward().unwrap();
    let gb = bias.grad().unwrap().to_vec::<f64>().unwrap();
    assert_eq!(gb, vec![5.0; 3]);
    let ga = a.grad().unwrap();
    let want = Tensor::ones_dtype(&[5, 3], DType::F64)
        .unwrap()
        .matmul(&b.detach().t())
        .unwrap();
    assert!(max_rel_diff(&ga, &want) < 1e-14);
}

#[test]
fn bad_shapes_are_errors() {
    let f = |s: &[usize]| Tensor::zeros(s);
    assert!(f(&[3]).addmm(&f(&[2, 4]), &f(&[5, 3])).is_err());
    assert!(f(&[3]).addmm(&f(&[2, 4, 1]), &f(&[4, 3])).is_err());
    assert!(f(&[7]).addmm(&f(&[2, 4]), &f(&[4, 3])).is_err());
}
