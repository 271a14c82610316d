//! W1, W4, W5, W6 on a GPU (`--device cuda`), for the rows beside PyTorch with device="cuda"
//! (`tools/bench_torch_cuda.py`). The same models and sizes as the CPU rows; every timed step
//! ends with `ember::cuda::synchronize`, since GPU work is asynchronous. A workload that uses an
//! op without a CUDA kernel prints an error row instead of a number.

use crate::harness::{bench, emit};
use ember_bench::models::{mlp, Cnn};
use ember_core::{DType, Device, Result, Tensor};
use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
use ember_nn::{Module, TransformerEncoderLayer, TransformerMasks, TransformerOptions};
use ember_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};

/// The workloads that have a GPU version.
pub const ON_DEVICE: &[&str] = &["W1", "W4", "W5", "W6"];

fn sync(dev: Device) -> Result<()> {
    match dev {
        Device::Cuda(i) => ember_core::cuda::synchronize(i),
        Device::Cpu => Ok(()),
    }
}

pub fn run(id: &str, threads: usize, dev: Device) {
    // the opt-in GPU paths that still wait for a GPU run to be measured (see the README)
    let opted_in = |name: &str| std::env::var(name).as_deref() == Ok("1");
    if opted_in("EMBER_BENCH_FUSED_ADAM") {
        ember_core::cuda::set_fused_adam(true);
    }
    if opted_in("EMBER_BENCH_FUSED_LAYER_NORM") {
        ember_core::cuda::set_fused_layer_norm(true);
    }
    let r = match id {
        "W1" => w1(threads, dev),
        "W4" => w4(threads, dev),
        "W5" => w5(threads, dev),
        "W6" => w6(threads, dev),
        _ => Err(ember_core::Error::Arg {
            op: "ember-bench",
            msg: format!("{id} has no {dev} version; those are {}", ON_DEVICE.join(" ")),
        }),
    };
    if let Err(e) = r {
        println!(
            "{}",
            serde_json::json!({"framework": "ember", "workload": id, "device": dev.to_string(), "error": e.to_string()})
        );
    }
}

/// W1 in f32 (TF32 off unless `set_allow_tf32`) at every size, then bf16 on tensor cores (f32
/// accumulation) at the sizes where a GPU is busy enough to measure it (labels `bf16 n=...`).
fn w1(threads: usize, dev: Device) -> Result<()> {
    let sizes = [128usize, 512, 1024, 2048, 4096];
    let runs = sizes
        .iter()
        .map(|&n| (n, DType::F32, format!("n={n}")))
        .chain(sizes[2..].iter().map(|&n| (n, DType::BF16, format!("bf16 n={n}"))));
    for (n, dtype, label) in runs {
        let a = Tensor::randn(&[n, n]).to_dtype(dtype)?.to(dev)?;
        let b = Tensor::randn(&[n, n]).to_dtype(dtype)?.to(dev)?;
        let mut err = None;
        let st = bench(
            || {
                if let Err(e) = a.matmul(&b).and_then(|c| sync(dev).map(|_| c)) {
                    err = Some(e);
                }
            },
            3,
            21,
            0.1,
        );
        if let Some(e) = err {
            return Err(e);
        }
        let flop = 2.0 * (n as f64).powi(3);
        let extra = serde_json::json!({"device": dev.to_string(), "median_ms": st.median * 1e3,
            "tf32": ember_core::cuda::allow_tf32()});
        emit("W1", &label, flop / st.median / 1e9, "GFLOP/s", threads, extra);
    }
    Ok(())
}

/// Time `step` (which must leave no work queued) and emit ms/step.
fn time_steps(id: &str, label: &str, threads: usize, dev: Device, mut step: impl FnMut() -> Result<()>) -> Result<()> {
    step()?; // the first step compiles and loads the kernels: keep it out of the samples
    let mut err = None;
    let st = bench(
        || {
            if let Err(e) = step().and_then(|_| sync(dev)) {
                err = Some(e);
            }
        },
        5,
        21,
        0.2,
    );
    if let Some(e) = err {
        return Err(e);
    }
    emit(
        id,
        label,
        st.median * 1e3,
        "ms/step",
        threads,
        serde_json::json!({"device": dev.to_string()}),
    );
    Ok(())
}

fn w4(threads: usize, dev: Device) -> Result<()> {
    let model = mlp();
    model.to_device(dev)?;
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    let x = Tensor::randn(&[128, 784]).to(dev)?;
    let y = Tensor::randint(0, 10, &[128])?.to(dev)?;
    let ce = CrossEntropyOptions::default();
    time_steps("W4", "MLP Adam", threads, dev, || {
        opt.zero_grad();
        cross_entropy(&model.forward(&x)?, &y, &ce)?.backward()?;
        opt.step()
    })
}

fn w5(threads: usize, dev: Device) -> Result<()> {
    let model = Cnn::new()?;
    model.to_device(dev)?;
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.01).momentum(0.9))?;
    let x = Tensor::randn(&[64, 1, 28, 28]).to(dev)?;
    let y = Tensor::randint(0, 10, &[64])?.to(dev)?;
    let ce = CrossEntropyOptions::default();
    time_steps("W5", "CNN SGD-momentum", threads, dev, || {
        opt.zero_grad();
        cross_entropy(&model.forward(&x)?, &y, &ce)?.backward()?;
        opt.step()
    })
}

fn w6(threads: usize, dev: Device) -> Result<()> {
    let opts = TransformerOptions {
        dim_feedforward: 1024,
        dropout: 0.0,
        batch_first: true,
        ..Default::default()
    };
    let layer = TransformerEncoderLayer::new(256, 8, opts)?;
    layer.to_device(dev)?;
    let mut opt = Adam::new(layer.parameters(), AdamConfig::adamw(1e-3))?;
    let x = Tensor::randn(&[16, 128, 256]).to(dev)?;
    let masks = TransformerMasks::default();
    time_steps("W6", "TransformerEncoderLayer AdamW", threads, dev, || {
        opt.zero_grad();
        layer.forward_with(&x, &masks)?.mean_all()?.backward()?;
        opt.step()
    })?;
    if std::env::var_os("EMBER_BENCH_PHASES").is_some() {
        // where a step's time goes: forward, backward and the optimizer, each ended by a sync
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..30 {
            let t0 = std::time::Instant::now();
            opt.zero_grad();
            let loss = layer.forward_with(&x, &masks)?.mean_all()?;
            sync(dev)?;
            let t1 = std::time::Instant::now();
            loss.backward()?;
            sync(dev)?;
            let t2 = std::time::Instant::now();
            opt.step()?;
            sync(dev)?;
            let t3 = std::time::Instant::now();
            for (v, d) in times.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
                v.push(d.as_secs_f64() * 1e3);
            }
        }
        for (name, mut v) in ["forward", "backward", "optimizer"].into_iter().zip(times) {
            v.sort_by(f64::total_cmp);
            let extra = serde_json::json!({"device": dev.to_string()});
            emit("W6", &format!("phase {name}"), v[v.len() / 2], "ms", threads, extra);
        }
    }
    Ok(())
}
