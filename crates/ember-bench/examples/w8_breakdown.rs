//! Probe: where W8's batch-1 inference time goes, op by op (median us per call on 2 threads).
//! `cargo run --release -p ember-bench --example w8_breakdown`
use ember_bench::models::{mlp, Cnn};
use ember_core::Tensor;
use ember_nn::functional::{conv2d, linear, max_pool2d};
use ember_nn::Module;

/// Mean time per call over batches of ~1 ms: the median and the minimum of 200 batches.
fn time(name: &str, f: impl FnMut()) {
    if let Some((median, min)) = ember_bench::probe::time_per_call(name, 20, 0.001, 200, f) {
        println!("{name:<40} median {:>9.2} us   min {:>9.2} us", median * 1e6, min * 1e6);
    }
}

fn main() {
    let threads: usize = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let _g = ember_core::no_grad();
    let m = mlp();
    let x = Tensor::randn(&[1, 784]);
    time("MLP forward", || drop(m.forward(&x).unwrap()));
    let (w1, b1) = (Tensor::randn(&[512, 784]), Tensor::randn(&[512]));
    let (w2, b2) = (Tensor::randn(&[256, 512]), Tensor::randn(&[256]));
    let h1 = Tensor::randn(&[1, 512]);
    time("matmul 1x784 @ (512x784)^T", || drop(x.matmul(&w1.t()).unwrap()));
    time("linear 784->512", || drop(linear(&x, &w1, Some(&b1)).unwrap()));
    time("linear 512->256", || drop(linear(&h1, &w2, Some(&b2)).unwrap()));
    time("add [1,512] + [512]", || drop(h1.add(&b1).unwrap()));
    time("relu [1,512]", || drop(h1.relu().unwrap()));
    let tiny = Tensor::randn(&[1, 10]);
    time("relu [1,10] (fixed cost)", || drop(tiny.relu().unwrap()));
    time("t() view", || drop(w1.t()));

    let c = Cnn::new().unwrap();
    let xi = Tensor::randn(&[1, 1, 28, 28]);
    time("CNN forward", || drop(c.forward(&xi).unwrap()));
    let (cw1, cb1) = (Tensor::randn(&[32, 1, 3, 3]), Tensor::randn(&[32]));
    let (cw2, cb2) = (Tensor::randn(&[64, 32, 3, 3]), Tensor::randn(&[64]));
    time("conv1 1->32 28x28", || {
        drop(conv2d(&xi, &cw1, Some(&cb1), 1, 0, 1, 1).unwrap())
    });
    let a1 = conv2d(&xi, &cw1, Some(&cb1), 1, 0, 1, 1).unwrap();
    time("relu [1,32,26,26]", || drop(a1.relu().unwrap()));
    time("maxpool2 [1,32,26,26]", || {
        drop(max_pool2d(&a1, 2, None, 0, 1, false).unwrap())
    });
    let p1 = max_pool2d(&a1, 2, None, 0, 1, false).unwrap();
    time("conv2 32->64 13x13", || {
        drop(conv2d(&p1, &cw2, Some(&cb2), 1, 0, 1, 1).unwrap())
    });
    let a2 = conv2d(&p1, &cw2, Some(&cb2), 1, 0, 1, 1).unwrap();
    time("relu [1,64,11,11]", || drop(a2.relu().unwrap()));
    time("maxpool2 [1,64,11,11]", || {
        drop(max_pool2d(&a2, 2, None, 0, 1, false).unwrap())
    });
    let p2 = max_pool2d(&a2, 2, None, 0, 1, false).unwrap().flatten(1, -1).unwrap();
    let (fw1, fb1) = (Tensor::randn(&[128, 1600]), Tensor::randn(&[128]));
    time("linear 1600->128", || drop(linear(&p2, &fw1, Some(&fb1)).unwrap()));
}
