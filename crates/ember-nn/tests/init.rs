//! Initializers: PyTorch's fans, gains and distributions.

use ember_core::{manual_seed, Tensor};
use ember_nn::init::{self, FanMode, Nonlinearity};

fn stats(t: &Tensor) -> (f64, f64) {
    let v = t.to_vec::<f64>().unwrap();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
}

#[test]
fn gains_and_fans() {
    assert_eq!(init::calculate_gain(Nonlinearity::Linear, None), 1.0);
    assert!((init::calculate_gain(Nonlinearity::LeakyRelu, Some(5f64.sqrt())) - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(init::calculate_gain(Nonlinearity::Selu, None), 0.75);
    assert_eq!(init::Nonlinearity::parse("conv2d").unwrap(), Nonlinearity::Conv);
    assert!(init::Nonlinearity::parse("swish").is_err());
    assert_eq!(
        init::calculate_fan_in_and_fan_out(&Tensor::zeros(&[16, 8, 3, 3])).unwrap(),
        (72, 144)
    );
    assert!(init::calculate_fan_in_and_fan_out(&Tensor::zeros(&[5])).is_err());
}

#[test]
fn distributions_have_pytorchs_scales() {
    manual_seed(0);
    let t = Tensor::zeros(&[400, 300]);
    init::kaiming_normal_(&t, 0.0, FanMode::FanIn, Nonlinearity::Relu).unwrap();
    let (m, s) = stats(&t);
    assert!(m.abs() < 0.01 && (s - (2.0f64 / 300.0).sqrt()).abs() < 0.002, "{m} {s}");
    init::xavier_uniform_(&t, 1.0).unwrap();
    let a = (6.0f64 / 700.0).sqrt();
    let (_, s) = stats(&t);
    assert!((s - a / 3f64.sqrt()).abs() < 0.002);
    assert!(t.to_vec::<f32>().unwrap().iter().all(|v| (v.abs() as f64) <= a));
    init::xavier_normal_(&t, 2.0).unwrap();
    assert!((stats(&t).1 - 2.0 * (2.0f64 / 700.0).sqrt()).abs() < 0.003);
    init::kaiming_uniform_(&t, 0.0, FanMode::FanOut, Nonlinearity::Relu).unwrap();
    assert!(t
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|v| (v.abs() as f64) <= (6.0f64 / 400.0).sqrt() + 1e-7));
    init::trunc_normal_(&t, 0.0, 1.0, -0.5, 0.5).unwrap();
    assert!(t.to_vec::<f32>().unwrap().iter().all(|v| v.abs() <= 0.5));
    init::constant_(&t, 3.0).unwrap();
    assert!(t.to_vec::<f32>().unwrap().iter().all(|&v| v == 3.0));
}

#[test]
fn orthogonal_rows_or_columns_are_orthonormal() {
    manual_seed(3);
    for shape in [[6usize, 4], [4, 6]] {
        let t = Tensor::zeros(&shape);
        init::orthogonal_(&t, 1.0).unwrap();
        let g = if shape[0] < shape[1] {
            t.matmul(&t.t()).unwrap()
        } else {
            t.t().matmul(&t).unwrap()
        };
        let n = shape[0].min(shape[1]);
        let v = g.to_vec::<f32>().unwrap();
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (v[i * n + j] - want).abs() < 1e-5,
                    "{shape:?} ({i},{j}) = {}",
                    v[i * n + j]
                );
            }
        }
    }
}

#[test]
fn init_works_on_parameters() {
    let l = ember_nn::Linear::new(4, 3);
    init::zeros_(&l.weight.tensor()).unwrap();
    assert!(l.weight.tensor().to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    assert!(l.weight.tensor().requires_grad());
}
