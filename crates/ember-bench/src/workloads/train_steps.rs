//! W4-W7: one training step (zero grad, forward, loss, backward, optimizer step) of each model.

use crate::harness::{bench, emit_time};
use ember_bench::models::{mlp, Cnn};
use ember_core::{Result, Tensor};
use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
use ember_nn::{Module, RnnOptions, TransformerEncoderLayer, TransformerMasks, TransformerOptions, LSTM};
use ember_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};

fn time_steps(id: &str, label: &str, threads: usize, mut step: impl FnMut() -> Result<()>) {
    let st = bench(|| step().expect("train step"), 5, 21, 0.2);
    emit_time(id, label, &st, "ms/step", 1e3, threads);
}

pub fn w4(threads: usize) -> Result<()> {
    let model = mlp();
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    let x = Tensor::randn(&[128, 784]);
    let y = Tensor::randint(0, 10, &[128])?;
    let ce = CrossEntropyOptions::default();
    time_steps("W4", "MLP Adam", threads, || {
        opt.zero_grad();
        cross_entropy(&model.forward(&x)?, &y, &ce)?.backward()?;
        opt.step()
    });
    Ok(())
}

pub fn w5(threads: usize) -> Result<()> {
    let model = Cnn::new()?;
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.01).momentum(0.9))?;
    let x = Tensor::randn(&[64, 1, 28, 28]);
    let y = Tensor::randint(0, 10, &[64])?;
    let ce = CrossEntropyOptions::default();
    time_steps("W5", "CNN SGD-momentum", threads, || {
        opt.zero_grad();
        cross_entropy(&model.forward(&x)?, &y, &ce)?.backward()?;
        opt.step()
    });
    Ok(())
}

pub fn w6(threads: usize) -> Result<()> {
    let opts = TransformerOptions {
        dim_feedforward: 1024,
        dropout: 0.0,
        batch_first: true,
        ..Default::default()
    };
    let layer = TransformerEncoderLayer::new(256, 8, opts)?;
    let mut opt = Adam::new(layer.parameters(), AdamConfig::adamw(1e-3))?;
    let x = Tensor::randn(&[16, 128, 256]);
    let masks = TransformerMasks::default();
    time_steps("W6", "TransformerEncoderLayer AdamW", threads, || {
        opt.zero_grad();
        layer.forward_with(&x, &masks)?.mean_all()?.backward()?;
        opt.step()
    });
    Ok(())
}

pub fn w7(threads: usize) -> Result<()> {
    let lstm = LSTM::new(
        64,
        256,
        RnnOptions {
            batch_first: true,
            ..Default::default()
        },
    )?;
    let mut opt = Sgd::new(lstm.parameters(), SgdConfig::new(0.01))?;
    let x = Tensor::randn(&[32, 50, 64]);
    time_steps("W7", "LSTM SGD", threads, || {
        opt.zero_grad();
        let (_, (h, _)) = lstm.forward_with(&x, None)?;
        h.select(0, -1)?.mean_all()?.backward()?;
        opt.step()
    });
    Ok(())
}

/// W8: batch-1 inference latency under no_grad.
pub fn w8(threads: usize) -> Result<()> {
    let _g = ember_core::no_grad();
    let m = mlp();
    let x = Tensor::randn(&[1, 784]);
    let st = bench(|| drop(m.forward(&x).unwrap()), 20, 31, 0.05);
    emit_time("W8", "MLP batch-1 no_grad", &st, "us/call", 1e6, threads);
    let c = Cnn::new()?;
    let x = Tensor::randn(&[1, 1, 28, 28]);
    let st = bench(|| drop(c.forward(&x).unwrap()), 20, 31, 0.05);
    emit_time("W8", "CNN batch-1 no_grad", &st, "us/call", 1e6, threads);
    Ok(())
}

/// W9 (random-data stand-in, as the PyTorch anchor): one epoch of W5's CNN over 60,000
/// images with Adam, batches gathered from a shuffled permutation.
pub fn w9(threads: usize) -> Result<()> {
    let n = 60_000;
    let xtr = Tensor::randn(&[n, 1, 28, 28]);
    let ytr = Tensor::randint(0, 10, &[n])?;
    let model = Cnn::new()?;
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    let perm = Tensor::randperm(n);
    let ce = CrossEntropyOptions::default();
    let t0 = std::time::Instant::now();
    let mut i = 0;
    while i < n {
        let len = 64.min(n - i);
        let idx = perm.narrow(0, i, len)?;
        let (xb, yb) = (xtr.index_select(0, &idx)?, ytr.index_select(0, &idx)?);
        opt.zero_grad();
        cross_entropy(&model.forward(&xb)?, &yb, &ce)?.backward()?;
        opt.step()?;
        i += len;
    }
    let secs = t0.elapsed().as_secs_f64();
    crate::harness::emit(
        "W9",
        "epoch (60k random 28x28, batch 64, Adam)",
        secs,
        "s/epoch",
        threads,
        serde_json::json!({"steps": n.div_ceil(64)}),
    );
    Ok(())
}
