//! Every loss against PyTorch: value and gradient of `sum(loss * cot)` with respect to the
//! inputs named `x*` (tools/gen_nn_fixtures.py writes the fixtures).

mod common;

use common::*;
use ember_core::Tensor;
use ember_nn::functional::{self as F, CrossEntropyOptions, Reduction};
use std::collections::BTreeMap;

fn check(name: &str, f: impl Fn(&BTreeMap<String, Tensor>) -> Tensor) {
    let fx = fixture(&format!("loss_{name}"));
    let ins = inputs(&fx);
    let ins: BTreeMap<String, Tensor> = ins
        .into_iter()
        .map(|(k, v)| {
            // only the x* inputs take gradients, as in the fixture
            let v = if k.starts_with('x') { v } else { v.detach() };
            (k, v)
        })
        .collect();
    let y = f(&ins);
    assert_close(&y, &fx["out.y"], 1e-4, 1e-5, &format!("{name} value"));
    y.mul(&fx["cot.y"]).unwrap().sum_all().backward().unwrap();
    for (k, g) in with_prefix(&fx, "gin") {
        assert_close(&ins[&k].grad().unwrap(), &g, 1e-4, 1e-5, &format!("{name} grad {k}"));
    }
}

fn ce(weight: Option<&Tensor>, reduction: Reduction, label_smoothing: f64) -> CrossEntropyOptions {
    CrossEntropyOptions {
        weight: weight.cloned(),
        reduction,
        label_smoothing,
        ..Default::default()
    }
}

#[test]
fn regression_losses() {
    for (name, r) in [
        ("none", Reduction::None),
        ("mean", Reduction::Mean),
        ("sum", Reduction::Sum),
    ] {
        check(&format!("mse_{name}"), |i| F::mse_loss(&i["x"], &i["t"], r).unwrap());
    }
    check("l1", |i| F::l1_loss(&i["x"], &i["t"], Reduction::Mean).unwrap());
    check("smooth_l1", |i| {
        F::smooth_l1_loss(&i["x"], &i["t"], Reduction::Mean, 0.5).unwrap()
    });
    check("huber", |i| {
        F::huber_loss(&i["x"], &i["t"], Reduction::Sum, 0.7).unwrap()
    });
}

#[test]
fn cross_entropy_variants() {
    check("ce_plain", |i| {
        F::cross_entropy(&i["x"], &i["t"], &CrossEntropyOptions::default()).unwrap()
    });
    check("ce_ignore", |i| {
        F::cross_entropy(&i["x"], &i["t"], &CrossEntropyOptions::default()).unwrap()
    });
    check("ce_weight_ls", |i| {
        F::cross_entropy(&i["x"], &i["t"], &ce(Some(&i["w"]), Reduction::Mean, 0.1)).unwrap()
    });
    check("ce_ls_none", |i| {
        F::cross_entropy(&i["x"], &i["t"], &ce(None, Reduction::None, 0.2)).unwrap()
    });
    check("ce_weight_sum", |i| {
        F::cross_entropy(&i["x"], &i["t"], &ce(Some(&i["w"]), Reduction::Sum, 0.0)).unwrap()
    });
    check("ce_probs", |i| {
        F::cross_entropy(&i["x"], &i["t"], &ce(Some(&i["w"]), Reduction::Mean, 0.1)).unwrap()
    });
    check("ce_4d", |i| {
        F::cross_entropy(&i["x"], &i["t"], &CrossEntropyOptions::default()).unwrap()
    });
    check("nll_weight", |i| {
        F::nll_loss(&i["x"], &i["t"], &ce(Some(&i["w"]), Reduction::Mean, 0.0)).unwrap()
    });
}

#[test]
fn binary_and_divergence_losses() {
    check("bce", |i| {
        F::binary_cross_entropy(&i["x"], &i["t"], Some(&i["w"]), Reduction::Mean).unwrap()
    });
    check("bce_logits", |i| {
        F::binary_cross_entropy_with_logits(&i["x"], &i["t"], None, Some(&i["pw"]), Reduction::Mean).unwrap()
    });
    check("kl_div_batchmean", |i| {
        F::kl_div(&i["x"], &i["t"], Reduction::BatchMean, false).unwrap()
    });
    check("kl_div_log_target", |i| {
        F::kl_div(&i["x"], &i["t"], Reduction::Sum, true).unwrap()
    });
    check("cosine_embedding", |i| {
        F::cosine_embedding_loss(&i["x1"], &i["x2"], &i["y"], 0.1, Reduction::Mean).unwrap()
    });
    check("margin_ranking", |i| {
        F::margin_ranking_loss(&i["x1"], &i["x2"], &i["y"], 0.3, Reduction::Mean).unwrap()
    });
}
