//! Probe: where W7's LSTM training step goes, piece by piece (ms per call on 2 threads).
//! `cargo run --release -p ember-bench --example w7_breakdown`
use ember_core::ops::packed_matmul::PackedMatrix;
use ember_core::Tensor;
use ember_nn::functional::{linear, lstm_sequence};
use ember_nn::{Module, RnnOptions, LSTM};
use ember_optim::{Optimizer, Sgd, SgdConfig};

/// The median and minimum of 15 timed batches of calls (~20 ms each), in ms per call.
fn time(name: &str, f: impl FnMut()) {
    if let Some((median, min)) = ember_bench::probe::time_per_call(name, 3, 0.02, 15, f) {
        println!("{name:<44} median {:>8.3} ms   min {:>8.3} ms", median * 1e3, min * 1e3);
    }
}

fn main() {
    let threads: usize = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let (t_len, b, i, h) = (50, 32, 64, 256);
    let lstm = LSTM::new(
        i,
        h,
        RnnOptions {
            batch_first: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut opt = Sgd::new(lstm.parameters(), SgdConfig::new(0.01)).unwrap();
    let x = Tensor::randn(&[b, t_len, i]);
    time("W7 step", || {
        opt.zero_grad();
        let (_, (hn, _)) = lstm.forward_with(&x, None).unwrap();
        hn.select(0, -1).unwrap().mean_all().unwrap().backward().unwrap();
        opt.step().unwrap();
    });
    time("forward (grad on, no backward)", || {
        let (_, (hn, _)) = lstm.forward_with(&x, None).unwrap();
        drop(hn.select(0, -1).unwrap().mean_all().unwrap());
    });
    time("sgd step", || opt.step().unwrap());
    time("zero_grad", || opt.zero_grad());
    let _g = ember_core::no_grad();
    time("forward no_grad", || drop(lstm.forward_with(&x, None).unwrap()));
    let w_ih = Tensor::randn(&[4 * h, i]);
    let w_hh = Tensor::randn(&[4 * h, h]).mul_scalar(0.05).unwrap();
    let bias = Tensor::randn(&[4 * h]);
    let xt = x.transpose(0, 1).unwrap();
    time("input projection (linear [1600,64]x[64,1024])", || {
        drop(
            linear(&xt.reshape_to(&[t_len * b, i]).unwrap(), &w_ih, Some(&bias))
                .unwrap()
                .reshape_to(&[t_len, b, 4 * h])
                .unwrap(),
        )
    });
    let x2 = Tensor::randn(&[t_len * b, i]);
    time("  matmul [1600,64]x[64,1024]^T", || drop(x2.matmul(&w_ih.t()).unwrap()));
    time("  matmul + add bias", || {
        drop(x2.matmul(&w_ih.t()).unwrap().add(&bias).unwrap())
    });
    time("  addmm (bias inside)", || drop(bias.addmm(&x2, &w_ih.t()).unwrap()));
    let gx = Tensor::randn(&[t_len, b, 4 * h]);
    let (h0, c0) = (Tensor::zeros(&[b, h]), Tensor::zeros(&[b, h]));
    time("lstm_sequence no_grad", || {
        drop(lstm_sequence(&gx, &h0, &c0, &w_hh).unwrap())
    });
    let pre1 = Tensor::randn(&[b, 4 * h]);
    let c1 = Tensor::randn(&[b, h]);
    time("50x sigmoid [32,1024]", || {
        for _ in 0..t_len {
            drop(pre1.sigmoid().unwrap());
        }
    });
    time("50x tanh [32,1024]", || {
        for _ in 0..t_len {
            drop(pre1.tanh().unwrap());
        }
    });
    time("50x lstm_cell_fused [32,1024]", || {
        for _ in 0..t_len {
            drop(ember_core::ops::lstm::lstm_cell_fused(&pre1, &c1).unwrap());
        }
    });
    let v = ember_core::ops::lstm::lstm_cell_fused(&pre1, &c1).unwrap();
    time("50x lstm_cell_fused_backward [32,1024]", || {
        for _ in 0..t_len {
            drop(ember_core::ops::lstm::lstm_cell_fused_backward(&v.gates, &v.tanh_c, &c1, &c1, &c1).unwrap());
        }
    });
    let seq = ember_core::ops::lstm::LstmSequence::run(&gx, &h0, &c0, &w_hh).unwrap();
    let g_out = Tensor::randn(&[t_len, b, h]);
    time("LstmSequence::backward (fused BPTT loop)", || {
        drop(seq.backward(&w_hh, &g_out, &c0, false).unwrap())
    });
    let p = PackedMatrix::new(&w_hh.t()).unwrap();
    let hprev = Tensor::randn(&[b, h]);
    time("50x (gx.select + matmul_add)", || {
        for t in 0..t_len {
            drop(p.matmul_add(&hprev, Some(&gx.select(0, t as isize).unwrap())).unwrap());
        }
    });
    time("50x matmul_add (no add)", || {
        for _ in 0..t_len {
            drop(p.matmul_add(&hprev, None).unwrap());
        }
    });
    let dpre = Tensor::randn(&[b, 4 * h]);
    time("50x dpre.matmul(w_hh) [32,1024]x[1024,256]", || {
        for _ in 0..t_len {
            drop(dpre.matmul(&w_hh).unwrap());
        }
    });
    let dgx = Tensor::randn(&[t_len * b, 4 * h]);
    let hp = Tensor::randn(&[t_len * b, h]);
    time("dW_hh = dgx^T h_prev [1024,1600]x[1600,256]", || {
        drop(dgx.t().matmul(&hp).unwrap())
    });
    let xs = Tensor::randn(&[t_len * b, i]);
    time("dW_ih = dgx^T x [1024,1600]x[1600,64]", || {
        drop(dgx.t().matmul(&xs).unwrap())
    });
    time("db = dgx.sum(0)", || drop(dgx.sum_dims(&[0], false).unwrap()));
    let hs: Vec<Tensor> = (0..t_len).map(|_| Tensor::randn(&[b, h])).collect();
    time("stack 50x[32,256]", || drop(Tensor::stack(&hs, 0).unwrap()));
}
