//! Optimizers follow PyTorch's trajectory for 20 steps (fused and composite paths), schedulers
//! its learning rates, and clip_grad_norm_ its clipped gradients (fixtures from
//! tools/gen_nn_fixtures.py).

use ember_core::{DType, Tensor};
use ember_optim::*;
use std::collections::BTreeMap;

fn fixture(name: &str) -> BTreeMap<String, Tensor> {
    let path = format!(
        "{}/../../tests/fixtures/nn/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    ember_core::load(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn assert_close(a: &Tensor, b: &Tensor, rtol: f64, atol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    let x = a.to_vec::<f64>().unwrap();
    let y = b.to_vec::<f64>().unwrap();
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        assert!(
            (p - q).abs() <= atol + rtol * q.abs(),
            "{what}: element {i}: ember {p} vs torch {q}"
        );
    }
}

/// Run 20 steps of `loss = mean((x W^T + b - y)^2)` and compare every step with PyTorch.
fn trajectory(name: &str, make: &dyn Fn(Vec<Tensor>) -> Box<dyn Optimizer>, fused: bool, dtype: DType) {
    let fx = fixture(&format!("optim_{name}"));
    let (x, y) = (fx["x"].to_dtype(dtype).unwrap(), fx["y"].to_dtype(dtype).unwrap());
    let w = fx["w0"].to_dtype(dtype).unwrap().copy().requires_grad_(true);
    let b = fx["b0"].to_dtype(dtype).unwrap().copy().requires_grad_(true);
    let mut opt = make(vec![w.clone(), b.clone()]);
    let _ = fused;
    for step in 0..20 {
        opt.zero_grad();
        let pred = x.matmul(&w.t()).unwrap().add(&b).unwrap();
        pred.sub(&y)
            .unwrap()
            .square()
            .unwrap()
            .mean_all()
            .unwrap()
            .backward()
            .unwrap();
        opt.step().unwrap();
        let what = format!("{name} (fused={fused}, {dtype}) step {step}");
        assert_close(
            &w,
            &fx["traj_w"].select(0, step).unwrap(),
            1e-5,
            1e-6,
            &format!("{what} weight"),
        );
        assert_close(
            &b,
            &fx["traj_b"].select(0, step).unwrap(),
            1e-5,
            1e-6,
            &format!("{what} bias"),
        );
    }
}

fn both<C: GroupConfig>(name: &str, cfg: C) {
    for fused in [true, false] {
        let c = cfg.clone();
        let make = move |ps: Vec<Tensor>| -> Box<dyn Optimizer> {
            let mut o = Optim::new(ps, c.clone()).unwrap();
            o.fused = fused;
            Box::new(o)
        };
        trajectory(name, &make, fused, DType::F32);
    }
    // f64 parameters always take the composite path; torch ran in f32, so compare loosely
    let c = cfg.clone();
    let fx = fixture(&format!("optim_{name}"));
    let w = fx["w0"].to_dtype(DType::F64).unwrap().copy().requires_grad_(true);
    let mut o = Optim::new(vec![w.clone()], c).unwrap();
    w.set_grad(Some(Tensor::ones_like(&w)));
    o.step().unwrap();
    assert_eq!(w.dtype(), DType::F64);
}

#[test]
fn sgd_family() {
    both("sgd", SgdConfig::new(0.05));
    both(
        "sgd_momentum",
        SgdConfig::new(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01),
    );
    both("sgd_nesterov", SgdConfig::new(0.05).momentum(0.8).nesterov(true));
    both("sgd_maximize", SgdConfig::new(0.01).momentum(0.5).maximize(true));
}

#[test]
fn adam_family() {
    both("adam", AdamConfig::new(0.01));
    both(
        "adam_amsgrad_wd",
        AdamConfig::new(0.02).betas(0.8, 0.99).weight_decay(0.1).amsgrad(true),
    );
    both("adamw", AdamConfig::adamw(0.01));
    both("adamw_amsgrad", AdamConfig::adamw(0.01).weight_decay(0.1).amsgrad(true));
}

#[test]
fn adaptive_family() {
    both("rmsprop", RmspropConfig::new(0.01));
    both(
        "rmsprop_centered_momentum",
        RmspropConfig {
            alpha: 0.9,
            momentum: 0.5,
            centered: true,
            weight_decay: 0.01,
            ..RmspropConfig::new(0.01)
        },
    );
    both(
        "adagrad",
        AdagradConfig {
            lr_decay: 0.01,
            weight_decay: 0.01,
            initial_accumulator_value: 0.1,
            ..AdagradConfig::new(0.1)
        },
    );
    both(
        "adadelta",
        AdadeltaConfig {
            rho: 0.8,
            weight_decay: 0.01,
            ..AdadeltaConfig::new(1.0)
        },
    );
    both(
        "lion",
        LionConfig {
            weight_decay: 0.1,
            ..LionConfig::new(0.01)
        },
    );
}

fn sched_case(name: &str, opt: &mut dyn Optimizer, s: &mut dyn LrScheduler) {
    let fx = fixture(&format!("sched_{name}"));
    let lrs = fx["lr"].to_vec::<f64>().unwrap();
    let moms = fx["momentum"].to_vec::<f64>().unwrap();
    let metrics = fx.get("metrics").map(|m| m.to_vec::<f64>().unwrap());
    for i in 0..lrs.len() {
        assert!(
            (opt.lr() - lrs[i]).abs() <= 1e-12 + 1e-9 * lrs[i].abs(),
            "{name} step {i}: lr {} vs torch {}",
            opt.lr(),
            lrs[i]
        );
        let m = opt.group_momentum(0).unwrap_or(0.0);
        assert!(
            (m - moms[i]).abs() <= 1e-9,
            "{name} step {i}: momentum {m} vs torch {}",
            moms[i]
        );
        match &metrics {
            Some(ms) => s.step_metric(opt, ms[i]).unwrap(),
            None => s.step(opt).unwrap(),
        }
    }
}

fn sgd() -> Sgd {
    Sgd::new(
        vec![Tensor::zeros(&[1]).requires_grad_(true)],
        SgdConfig::new(0.1).momentum(0.9),
    )
    .unwrap()
}

#[test]
fn schedulers() {
    let mut o = sgd();
    let mut s = StepLR::new(&mut o, 7, 0.5);
    sched_case("step", &mut o, &mut s);
    let mut o = sgd();
    let mut s = MultiStepLR::new(&mut o, &[5, 12, 20], 0.3);
    sched_case("multistep", &mut o, &mut s);
    let mut o = sgd();
    let mut s = ExponentialLR::new(&mut o, 0.9);
    sched_case("exponential", &mut o, &mut s);
    let mut o = sgd();
    let mut s = CosineAnnealingLR::new(&mut o, 10, 0.01);
    sched_case("cosine", &mut o, &mut s);
    let mut o = sgd();
    let mut s = LinearLR::new(&mut o, 0.25, 1.0, 8).unwrap();
    sched_case("linear", &mut o, &mut s);
    let mut o = Adam::new(vec![Tensor::zeros(&[1]).requires_grad_(true)], AdamConfig::new(0.1)).unwrap();
    let mut s = OneCycleLR::new(&mut o, 0.5, 30).unwrap();
    sched_case("onecycle", &mut o, &mut s);
    let mut o = sgd();
    let mut s = OneCycleLR::with(
        &mut o,
        1.0,
        40,
        0.25,
        AnnealStrategy::Linear,
        true,
        0.85,
        0.95,
        25.0,
        1e4,
    )
    .unwrap();
    sched_case("onecycle_sgd_linear", &mut o, &mut s);
    let mut o = sgd();
    let mut s = ReduceLROnPlateau::new(&o);
    s.factor = 0.5;
    s.patience = 2;
    s.cooldown = 1;
    sched_case("plateau", &mut o, &mut s);
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    let fx = fixture("clip_norm");
    let a = Tensor::zeros(fx["ga"].shape()).requires_grad_(true);
    let b = Tensor::zeros(fx["gb"].shape()).requires_grad_(true);
    a.set_grad(Some(fx["ga"].clone()));
    b.set_grad(Some(fx["gb"].clone()));
    let total = clip_grad_norm_(&[a.clone(), b.clone()], 1.5, 2.0, false).unwrap();
    assert!((total - fx["total"].item().unwrap()).abs() < 1e-4 * total);
    assert_close(&a.grad().unwrap(), &fx["ca"], 1e-5, 1e-6, "clipped a");
    assert_close(&b.grad().unwrap(), &fx["cb"], 1e-5, 1e-6, "clipped b");
}
