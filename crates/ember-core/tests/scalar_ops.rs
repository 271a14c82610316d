//! `x op scalar` on f32 / f64 takes a path that never makes the scalar a tensor; it must give
//! exactly what the general broadcasting op gives with the scalar as a 0-dim tensor, values and
//! gradients, on contiguous and strided inputs.

use ember_core::{autograd, DType, Result, Tensor};

type ScalarOp = fn(&Tensor, f64) -> Result<Tensor>;
type TensorOp = fn(&Tensor, &Tensor) -> Result<Tensor>;

fn ops() -> [(&'static str, ScalarOp, TensorOp); 4] {
    [
        ("add", Tensor::add_scalar, Tensor::add),
        ("sub", Tensor::sub_scalar, Tensor::sub),
        ("mul", Tensor::mul_scalar, Tensor::mul),
        ("div", Tensor::div_scalar, Tensor::div),
    ]
}

#[test]
fn scalar_ops_equal_the_broadcasting_op_bit_for_bit() {
    for dtype in [DType::F32, DType::F64] {
        let base = Tensor::randn(&[5, 7]).to_dtype(dtype).unwrap();
        // contiguous, transposed and stepped views
        let inputs = [base.clone(), base.t(), base.narrow(1, 1, 4).unwrap()];
        for x in &inputs {
            for v in [1.0, -0.3, 1e-3, 7.25] {
                let s = Tensor::scalar(v).to_dtype(dtype).unwrap();
                for (name, fast, general) in ops() {
                    let a = fast(x, v).unwrap();
                    let b = general(x, &s).unwrap();
                    assert_eq!(a.dtype(), dtype, "{name}");
                    assert_eq!(a.shape(), x.shape(), "{name}");
                    assert_eq!(
                        a.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
                        b.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
                        "{name} {dtype} by {v}"
                    );
                }
            }
        }
    }
}

#[test]
fn scalar_op_gradients_match_and_pass_gradgradcheck() {
    for (name, fast, general) in ops() {
        let x = Tensor::randn(&[3, 4])
            .to_dtype(DType::F64)
            .unwrap()
            .requires_grad_(true);
        let s = Tensor::scalar(-1.75f64);
        // a nonlinear use so that the second derivative is not zero
        let ga = autograd::grad(
            &[fast(&x, -1.75).unwrap().square().unwrap().sum_all()],
            &[x.clone()],
            None,
            false,
            false,
        )
        .unwrap();
        let gb = autograd::grad(
            &[general(&x, &s).unwrap().square().unwrap().sum_all()],
            &[x.clone()],
            None,
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            ga[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
            gb[0].as_ref().unwrap().to_vec::<f64>().unwrap(),
            "{name}"
        );
        let f = move |xs: &[Tensor]| fast(&xs[0], -1.75)?.tanh();
        autograd::gradcheck(&f, &[x.detach()], 1e-6, 1e-5).unwrap();
        autograd::gradgradcheck(&f, &[x.detach()], 1e-6, 1e-5).unwrap();
    }
}

#[test]
fn integer_and_scalar_promotion_still_take_the_general_path() {
    let i = Tensor::new(&[1i64, 2, 3]);
    assert_eq!(i.add_scalar(1.0).unwrap().dtype(), DType::I64);
    assert_eq!(i.add_scalar(0.5).unwrap().dtype(), DType::F32);
    assert_eq!(i.div_scalar(2.0).unwrap().to_vec::<f32>().unwrap(), vec![0.5, 1.0, 1.5]);
}
