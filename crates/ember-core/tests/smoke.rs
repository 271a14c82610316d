use ember_core::{autograd, DType, Tensor};

#[test]
fn broadcast_add_and_grad() {
    let a = Tensor::new(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).requires_grad_(true);
    let b = Tensor::new(&[10.0f32, 20.0, 30.0]).requires_grad_(true);
    let c = (&a * &b).sum_all();
    c.backward().unwrap();
    assert_eq!(
        a.grad().unwrap().to_vec::<f32>().unwrap(),
        vec![10., 20., 30., 10., 20., 30.]
    );
    assert_eq!(b.grad().unwrap().to_vec::<f32>().unwrap(), vec![5., 7., 9.]);
}

#[test]
fn matmul_grad_and_gradcheck() {
    let a = Tensor::randn(&[3, 4]).to_dtype(DType::F64).unwrap();
    let b = Tensor::randn(&[4, 2]).to_dtype(DType::F64).unwrap();
    autograd::gradcheck(&|x| x[0].matmul(&x[1]), &[a.clone(), b.clone()], 1e-6, 1e-6).unwrap();
    autograd::gradgradcheck(&|x| x[0].matmul(&x[1])?.tanh(), &[a, b], 1e-6, 1e-5).unwrap();
}
