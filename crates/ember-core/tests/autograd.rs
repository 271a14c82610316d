//! Autograd behaviour: accumulation, retain/create graph, hooks, no_grad, in-place safety,
//! memory, and the errors PyTorch users expect.

use ember_core::{autograd, no_grad, Tensor};

fn v(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

#[test]
fn gradients_accumulate_until_zeroed() {
    let x = Tensor::new(&[1.0f32, 2.0]).requires_grad_(true);
    (&x * 3.0).sum_all().backward().unwrap();
    (&x * 3.0).sum_all().backward().unwrap();
    assert_eq!(v(&x.grad().unwrap()), vec![6.0, 6.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    x.square().unwrap().sum_all().backward().unwrap();
    assert_eq!(v(&x.grad().unwrap()), vec![2.0, 4.0]);
}

#[test]
fn backward_needs_a_scalar_or_a_gradient_of_the_right_shape() {
    let x = Tensor::ones(&[3]).requires_grad_(true);
    let y = &x * 2.0;
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("scalar outputs"), "{e}");
    let e = y.backward_with(&Tensor::ones(&[2])).unwrap_err().to_string();
    assert!(e.contains("[2]") && e.contains("[3]"), "{e}");
    y.backward_with(&Tensor::new(&[1.0f32, 0.5, 0.0])).unwrap();
    assert_eq!(v(&x.grad().unwrap()), vec![2.0, 1.0, 0.0]);
}

#[test]
fn backward_twice_needs_retain_graph() {
    let x = Tensor::new(&[2.0f64]).requires_grad_(true);
    let y = x.exp().unwrap().sum_all();
    y.backward_opts(None, true, false).unwrap();
    y.backward().unwrap();
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("second time") && e.contains("retain_graph"), "{e}");
    assert!((v(&x.grad().unwrap())[0] - 2.0 * 2f64.exp()).abs() < 1e-12);
}

#[test]
fn errors_for_tensors_without_grad() {
    let x = Tensor::ones(&[2]);
    let e = x.sum_all().backward().unwrap_err().to_string();
    assert!(e.contains("does not require grad"), "{e}");
    let w = Tensor::ones(&[2]).requires_grad_(true);
    let e = autograd::grad(&[w.sum_all()], &[x.clone()], None, false, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not require grad"), "{e}");
    let e = Tensor::new(&[1i64]).set_requires_grad(true).unwrap_err().to_string();
    assert!(e.contains("floating point"), "{e}");
    let y = &w * 2.0;
    assert!(y.set_requires_grad(false).is_err());
}

#[test]
fn no_grad_and_enable_grad_nest() {
    let x = Tensor::ones(&[2]).requires_grad_(true);
    {
        let _g = no_grad();
        assert!(!(&x * 2.0).requires_grad());
        {
            let _e = ember_core::enable_grad();
            assert!((&x * 2.0).requires_grad());
        }
        assert!(!(&x * 2.0).requires_grad());
    }
    assert!((&x * 2.0).requires_grad());
    assert!(!(&x * 2.0).detach().requires_grad());
}

#[test]
fn functional_grad_does_not_touch_dot_grad() {
    let x = Tensor::new(&[1.0f64, 2.0, 3.0]).requires_grad_(true);
    let y = x.pow_scalar(3.0).unwrap().sum_all();
    let g = autograd::grad(&[y], &[x.clone()], None, false, false).unwrap();
    assert_eq!(v(g[0].as_ref().unwrap()), vec![3.0, 12.0, 27.0]);
    assert!(x.grad().is_none());
}

#[test]
fn second_and_third_derivatives() {
    let x = Tensor::new(&[0.5f64]).requires_grad_(true);
    let y = x.pow_scalar(4.0).unwrap().sum_all();
    let g1 = autograd::grad(&[y], &[x.clone()], None, true, true)
        .unwrap()
        .remove(0)
        .unwrap();
    let g2 = autograd::grad(&[g1.sum_all()], &[x.clone()], None, true, true)
        .unwrap()
        .remove(0)
        .unwrap();
    let g3 = autograd::grad(&[g2.sum_all()], &[x.clone()], None, false, false)
        .unwrap()
        .remove(0)
        .unwrap();
    assert!((v(&g1)[0] - 4.0 * 0.125).abs() < 1e-12);
    assert!((v(&g2)[0] - 12.0 * 0.25).abs() < 1e-12);
    assert!((v(&g3)[0] - 24.0 * 0.5).abs() < 1e-12);
}

#[test]
fn hooks_read_and_replace_gradients() {
    let x = Tensor::new(&[1.0f32, 2.0]).requires_grad_(true);
    x.register_hook(|g| Some(g * 10.0));
    let h = &x * 2.0;
    let seen = std::sync::Arc::new(parking_lot_free::Cell::default());
    let s2 = seen.clone();
    h.register_hook(move |g| {
        s2.set(g.to_vec::<f32>().unwrap());
        None
    });
    h.retain_grad();
    (&h * 3.0).sum_all().backward().unwrap();
    assert_eq!(seen.get(), vec![3.0, 3.0]);
    assert_eq!(v(&h.grad().unwrap()), vec![3.0, 3.0]);
    assert_eq!(v(&x.grad().unwrap()), vec![60.0, 60.0]);
}

/// A tiny thread-safe cell for the hook test (keeps the test free of extra dependencies).
mod parking_lot_free {
    #[derive(Default)]
    pub struct Cell(std::sync::Mutex<Vec<f32>>);
    impl Cell {
        pub fn set(&self, v: Vec<f32>) {
            *self.0.lock().unwrap() = v;
        }
        pub fn get(&self) -> Vec<f32> {
            self.0.lock().unwrap().clone()
        }
    }
}

#[test]
fn inplace_changes_to_saved_tensors_are_detected() {
    let x = Tensor::new(&[1.0f32, 2.0]).requires_grad_(true);
    let y = &x * 1.0; // non-leaf
    let z = y.detach();
    let w = &x * &z; // saves z (and x)
    {
        let _g = no_grad();
        z.add_scalar_(1.0).unwrap();
    }
    let e = w.sum_all().backward().unwrap_err().to_string();
    assert!(e.contains("modified by an in-place operation"), "{e}");
}

#[test]
fn inplace_on_leaf_requiring_grad_is_an_error_outside_no_grad() {
    let x = Tensor::ones(&[2]).requires_grad_(true);
    let e = x.add_scalar_(1.0).unwrap_err().to_string();
    assert!(e.contains("leaf"), "{e}");
    {
        let _g = no_grad();
        x.add_scalar_(1.0).unwrap();
    }
    assert_eq!(v(&x), vec![2.0, 2.0]);
}
