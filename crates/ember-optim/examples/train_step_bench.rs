//! Times one training step of the W4/W6/W7 workloads (forward, backward, optimizer step):
//! `cargo run --release -p ember-optim --example train_step_bench -- [mlp|transformer|lstm] [steps]`.

use ember_core::{manual_seed, Result, Tensor};
use ember_nn::functional::{cross_entropy, mse_loss, CrossEntropyOptions, Reduction};
use ember_nn::{Linear, Module, ReLU, RnnOptions, Sequential, TransformerEncoderLayer, TransformerOptions, LSTM};
use ember_optim::{Adam, AdamConfig, AdamW, Optimizer, Sgd, SgdConfig};
use std::time::Instant;

fn time(name: &str, steps: usize, mut step: impl FnMut() -> Result<()>) -> Result<()> {
    for _ in 0..3 {
        step()?;
    }
    // the minimum and median over steps: robust to other processes on a shared machine
    let mut ts = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        step()?;
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(|a, b| a.total_cmp(b));
    println!("{name}: min {:.3} ms, median {:.3} ms", ts[0], ts[ts.len() / 2]);
    Ok(())
}

fn main() -> Result<()> {
    manual_seed(0);
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("mlp");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    match which {
        "mlp" => {
            let model = Sequential::new()
                .add(Linear::new(784, 512))
                .add(ReLU)
                .add(Linear::new(512, 256))
                .add(ReLU)
                .add(Linear::new(256, 10));
            let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
            let x = Tensor::randn(&[128, 784]);
            let y = Tensor::randint(0, 10, &[128])?;
            time("  forward only", steps, || model.forward(&x).map(|_| ()))?;
            time("  forward+backward", steps, || {
                opt.zero_grad();
                cross_entropy(&model.forward(&x)?, &y, &CrossEntropyOptions::default())?.backward()
            })?;
            time("  optimizer step", steps, || opt.step())?;
            time("W4 MLP 784-512-256-10 Adam b128", steps, || {
                opt.zero_grad();
                let loss = cross_entropy(&model.forward(&x)?, &y, &CrossEntropyOptions::default())?;
                loss.backward()?;
                opt.step()
            })
        }
        "transformer" => {
            let o = TransformerOptions {
                dim_feedforward: 1024,
                batch_first: true,
                ..Default::default()
            };
            let layer = TransformerEncoderLayer::new(256, 8, o)?;
            let mut opt = AdamW::new(layer.parameters(), AdamConfig::adamw(1e-4))?;
            let x = Tensor::randn(&[16, 128, 256]);
            time(
                "W6 TransformerEncoderLayer d256 h8 ff1024 s128 b16 AdamW",
                steps,
                || {
                    opt.zero_grad();
                    let y = layer.forward(&x)?;
                    y.square()?.mean_all()?.backward()?;
                    opt.step()
                },
            )
        }
        "lstm" => {
            let lstm = LSTM::new(64, 256, RnnOptions::default())?;
            let mut opt = Sgd::new(lstm.parameters(), SgdConfig::new(0.01))?;
            let x = Tensor::randn(&[50, 32, 64]);
            let t = Tensor::randn(&[50, 32, 256]);
            time("W7 LSTM in64 h256 s50 b32 SGD", steps, || {
                opt.zero_grad();
                mse_loss(&lstm.forward(&x)?, &t, Reduction::Mean)?.backward()?;
                opt.step()
            })
        }
        other => {
            eprintln!("unknown workload {other}: use mlp, transformer or lstm");
            Ok(())
        }
    }
}
