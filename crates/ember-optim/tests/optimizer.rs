//! Optimizer mechanics: groups, learning rates, state_dict round trips, errors, and training a
//! small model end to end.

use ember_core::{manual_seed, Tensor};
use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
use ember_nn::{Linear, Module, ReLU, Sequential};
use ember_optim::*;
use std::collections::BTreeMap;

fn quad_step(opt: &mut dyn Optimizer, w: &Tensor) {
    opt.zero_grad();
    w.square().unwrap().sum_all().backward().unwrap();
    opt.step().unwrap();
}

#[test]
fn param_groups_have_their_own_rates() {
    let a = Tensor::ones(&[2]).requires_grad_(true);
    let b = Tensor::ones(&[2]).requires_grad_(true);
    let mut opt = Sgd::with_groups(vec![
        ParamGroup::new(vec![a.clone()], SgdConfig::new(0.1)),
        ParamGroup::new(vec![b.clone()], SgdConfig::new(0.01)),
    ])
    .unwrap();
    assert_eq!(opt.num_groups(), 2);
    opt.zero_grad();
    a.add(&b).unwrap().sum_all().backward().unwrap();
    opt.step().unwrap();
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.9, 0.9]);
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![0.99, 0.99]);
    opt.set_lr(0.5);
    assert_eq!((opt.group_lr(0), opt.group_lr(1)), (0.5, 0.5));
    opt.set_group_lr(1, 0.2);
    assert_eq!(opt.lr(), 0.5);
    assert_eq!(opt.parameters().len(), 2);
}

#[test]
fn params_without_grad_are_skipped_and_zero_grad_clears() {
    let a = Tensor::ones(&[2]).requires_grad_(true);
    let b = Tensor::ones(&[2]).requires_grad_(true);
    let mut opt = Adam::new(vec![a.clone(), b.clone()], AdamConfig::new(0.1)).unwrap();
    a.sum_all().backward().unwrap();
    opt.step().unwrap();
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
    assert!(opt.state_dict().tensors.keys().all(|k| k.starts_with("state.0.")));
    opt.zero_grad();
    assert!(a.grad().is_none());
}

#[test]
fn state_dict_round_trip_resumes_identically() {
    manual_seed(2);
    let w0 = Tensor::randn(&[3, 2]);
    for fused in [true, false] {
        let make = |w: &Tensor| {
            let mut o = Adam::new(vec![w.clone()], AdamConfig::new(0.05).amsgrad(true)).unwrap();
            o.fused = fused;
            o
        };
        // reference: 6 uninterrupted steps
        let wa = w0.copy().requires_grad_(true);
        let mut oa = make(&wa);
        for _ in 0..6 {
            quad_step(&mut oa, &wa);
        }
        // 3 steps, checkpoint through named tensors, a fresh optimizer, 3 more steps
        let wb = w0.copy().requires_grad_(true);
        let mut ob = make(&wb);
        for _ in 0..3 {
            quad_step(&mut ob, &wb);
        }
        let named: BTreeMap<String, Tensor> = ob.state_dict().to_named_tensors().into_iter().collect();
        let mut oc = make(&wb);
        oc.load_state_dict(&OptimState::from_named_tensors(&named).unwrap())
            .unwrap();
        for _ in 0..3 {
            quad_step(&mut oc, &wb);
        }
        assert_eq!(wa.to_vec::<f32>().unwrap(), wb.to_vec::<f32>().unwrap());
        assert_eq!(oc.state_dict().scalars["state.0.step"], 6.0);
    }
}

#[test]
fn load_state_dict_rejects_mismatches() {
    let w = Tensor::ones(&[2]).requires_grad_(true);
    let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.1).momentum(0.9)).unwrap();
    let mut s = OptimState::default();
    s.tensors.insert("state.0.momentum_buffer".into(), Tensor::ones(&[3]));
    assert!(opt.load_state_dict(&s).is_err());
    let mut s = OptimState::default();
    s.tensors.insert("state.5.momentum_buffer".into(), Tensor::ones(&[2]));
    assert!(opt.load_state_dict(&s).is_err());
    let mut s = OptimState::default();
    s.scalars.insert("param_groups.0.bogus".into(), 1.0);
    assert!(opt.load_state_dict(&s).is_err());
    let mut s = OptimState::default();
    s.scalars.insert("param_groups.0.lr".into(), 0.5);
    opt.load_state_dict(&s).unwrap();
    assert_eq!(opt.lr(), 0.5);
}

#[test]
fn constructor_errors() {
    let w = || Tensor::ones(&[2]).requires_grad_(true);
    assert!(Sgd::new(vec![w()], SgdConfig::new(-1.0)).is_err());
    assert!(Sgd::new(vec![w()], SgdConfig::new(0.1).nesterov(true)).is_err());
    assert!(Adam::new(vec![w()], AdamConfig::new(0.1).betas(1.0, 0.9)).is_err());
    let p = w();
    assert!(Sgd::new(vec![p.clone(), p], SgdConfig::new(0.1)).is_err());
    assert!(Sgd::new(vec![Tensor::new(&[1i64])], SgdConfig::new(0.1)).is_err());
    assert!(Sgd::new(vec![w().mul_scalar(2.0).unwrap()], SgdConfig::new(0.1)).is_err());
}

#[test]
fn scheduler_state_round_trip() {
    let w = Tensor::zeros(&[1]).requires_grad_(true);
    let mut opt = Sgd::new(vec![w], SgdConfig::new(1.0)).unwrap();
    let mut s = CosineAnnealingLR::new(&mut opt, 10, 0.0);
    for _ in 0..4 {
        s.step(&mut opt).unwrap();
    }
    let saved = s.state_dict();
    let lr4 = opt.lr();
    s.step(&mut opt).unwrap();
    let lr5 = opt.lr();
    let mut s2 = CosineAnnealingLR::new(&mut opt, 10, 0.0);
    s2.load_state_dict(&saved).unwrap();
    assert_eq!(s2.get_last_lr(), vec![lr4]);
    s2.step(&mut opt).unwrap();
    assert_eq!(opt.lr(), lr5);
    let mut p = ReduceLROnPlateau::new(&opt);
    assert!(p.step(&mut opt).is_err());
    let mut oc = OneCycleLR::new(&mut opt, 1.0, 2).unwrap();
    oc.step(&mut opt).unwrap();
    oc.step(&mut opt).unwrap();
    assert!(
        oc.step(&mut opt).is_err(),
        "stepping past total_steps is an error, as in PyTorch"
    );
}

#[test]
fn clip_grad_value_and_nonfinite_norm() {
    let w = Tensor::zeros(&[3]).requires_grad_(true);
    w.set_grad(Some(Tensor::new(&[-3.0f32, 0.5, 2.0])));
    clip_grad_value_(std::slice::from_ref(&w), 1.0).unwrap();
    assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![-1.0, 0.5, 1.0]);
    w.set_grad(Some(Tensor::new(&[f32::NAN, 0.0, 0.0])));
    assert!(clip_grad_norm_(std::slice::from_ref(&w), 1.0, 2.0, true).is_err());
    w.set_grad(Some(Tensor::new(&[3.0f32, -4.0, 0.0])));
    assert_eq!(
        clip_grad_norm_(std::slice::from_ref(&w), 10.0, f64::INFINITY, false).unwrap(),
        4.0
    );
}

#[test]
fn trains_an_mlp_end_to_end() {
    manual_seed(0);
    // two Gaussian blobs, linearly separable
    let n = 64;
    let x = Tensor::randn(&[n, 2]);
    let labels: Vec<i64> = (0..n).map(|i| (i % 2) as i64).collect();
    let shift = Tensor::from_vec(
        labels
            .iter()
            .flat_map(|&l| if l == 1 { [3.0f32, 3.0] } else { [-3.0, -3.0] })
            .collect(),
        &[n, 2],
    )
    .unwrap();
    let x = x.add(&shift).unwrap();
    let y = Tensor::from_vec(labels, &[n]).unwrap();
    let model = Sequential::new()
        .add(Linear::new(2, 16))
        .add(ReLU)
        .add(Linear::new(16, 2));
    let mut opt = AdamW::new(model.parameters(), AdamConfig::adamw(0.05)).unwrap();
    let mut sched = StepLR::new(&mut opt, 20, 0.5);
    let loss_at = |m: &Sequential| cross_entropy(&m.forward(&x).unwrap(), &y, &CrossEntropyOptions::default()).unwrap();
    let first = loss_at(&model).item().unwrap();
    for _ in 0..60 {
        opt.zero_grad();
        loss_at(&model).backward().unwrap();
        clip_grad_norm_(&model.parameters(), 5.0, 2.0, false).unwrap();
        opt.step().unwrap();
        sched.step(&mut opt).unwrap();
    }
    let last = loss_at(&model).item().unwrap();
    assert!(last < 0.05 && last < first / 10.0, "loss {first} -> {last}");
}
