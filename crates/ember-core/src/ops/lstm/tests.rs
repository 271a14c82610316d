//! The fused kernels against the composite written with Tensor ops (the formulas of
//! `ember_nn::functional::lstm_cell`, repeated here as the reference).

use super::*;
use crate::autograd::no_grad;
use crate::Generator;

fn randn(shape: &[usize], seed: u64, dt: DType) -> Tensor {
    let mut g = Generator::new(seed);
    Tensor::randn_with(shape, &mut g).to_dtype(dt).unwrap()
}

/// Max |a - b| / (1 + |b|) over the elements.
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

fn tol(dt: DType) -> f64 {
    if dt == DType::F32 {
        1e-6
    } else {
        1e-14
    }
}

/// `(h, c, [i, f, g, o], tanh c)` with Tensor ops.
fn composite_forward(pre: &Tensor, c_prev: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
    let hs = c_prev.shape()[1];
    let i = pre.narrow(1, 0, hs).unwrap().sigmoid().unwrap();
    let f = pre.narrow(1, hs, hs).unwrap().sigmoid().unwrap();
    let g = pre.narrow(1, 2 * hs, hs).unwrap().tanh().unwrap();
    let o = pre.narrow(1, 3 * hs, hs).unwrap().sigmoid().unwrap();
    let c = f.mul(c_prev).unwrap().add(&i.mul(&g).unwrap()).unwrap();
    let tc = c.tanh().unwrap();
    let h = o.mul(&tc).unwrap();
    (h, c, Tensor::cat(&[i, f, g, o], 1).unwrap(), tc)
}

/// `(dpre, dc_prev)` with Tensor ops.
fn composite_backward(gates: &Tensor, tc: &Tensor, c_prev: &Tensor, gh: &Tensor, gc: &Tensor) -> (Tensor, Tensor) {
    let hs = c_prev.shape()[1];
    let part = |k: usize| gates.narrow(1, k * hs, hs).unwrap();
    let (i, f, g, o) = (part(0), part(1), part(2), part(3));
    let d_o = gh.mul(tc).unwrap();
    let dc = gc
        .add(
            &gh.mul(&o)
                .unwrap()
                .mul(&tc.square().unwrap().rsub_scalar(1.0).unwrap())
                .unwrap(),
        )
        .unwrap();
    let sig = |y: &Tensor, dy: &Tensor| dy.mul(&y.mul(&y.rsub_scalar(1.0).unwrap()).unwrap()).unwrap();
    let di = sig(&i, &dc.mul(&g).unwrap());
    let df = sig(&f, &dc.mul(c_prev).unwrap());
    let dg = dc
        .mul(&i)
        .unwrap()
        .mul(&g.square().unwrap().rsub_scalar(1.0).unwrap())
        .unwrap();
    let d_o = sig(&o, &d_o);
    (Tensor::cat(&[di, df, dg, d_o], 1).unwrap(), dc.mul(&f).unwrap())
}

#[test]
fn cell_matches_the_composite_values_and_gradients() {
    let _g = no_grad();
    for dt in [DType::F32, DType::F64] {
        for (b, hs) in [(1, 1), (3, 5), (32, 256), (7, 33)] {
            let pre = randn(&[b, 4 * hs], 1, dt).mul_scalar(2.0).unwrap();
            let c_prev = randn(&[b, hs], 2, dt);
            let v = lstm_cell_fused(&pre, &c_prev).unwrap();
            let (h, c, gates, tc) = composite_forward(&pre, &c_prev);
            for (got, want) in [(&v.h, &h), (&v.c, &c), (&v.gates, &gates), (&v.tanh_c, &tc)] {
                assert!(
                    rel_diff(got, want) <= tol(dt),
                    "{dt} b={b} h={hs}: {}",
                    rel_diff(got, want)
                );
            }
            let (gh, gc) = (randn(&[b, hs], 3, dt), randn(&[b, hs], 4, dt));
            let (dpre, dc) = lstm_cell_fused_backward(&v.gates, &v.tanh_c, &c_prev, &gh, &gc).unwrap();
            let (dpre_want, dc_want) = composite_backward(&gates, &tc, &c_prev, &gh, &gc);
            assert!(rel_diff(&dpre, &dpre_want) <= tol(dt));
            assert!(rel_diff(&dc, &dc_want) <= tol(dt));
        }
    }
}

#[test]
fn cell_takes_strided_inputs() {
    let _g = no_grad();
    let (b, hs) = (4, 3);
    let pre = randn(&[4 * hs, b], 5, DType::F64).t(); // a transposed view
    let c_prev = randn(&[hs, b], 6, DType::F64).t();
    let v = lstm_cell_fused(&pre, &c_prev).unwrap();
    let (h, c, _, _) = composite_forward(&pre, &c_prev);
    assert!(rel_diff(&v.h, &h) <= 1e-14 && rel_diff(&v.c, &c) <= 1e-14);
    let gh = randn(&[hs, b], 7, DType::F64).t();
    let gc = randn(&[hs, b], 8, DType::F64).t();
    let (dpre, dc) = lstm_cell_fused_backward(&v.gates, &v.tanh_c, &c_prev, &gh, &gc).unwrap();
    let (dpre_want, dc_want) = composite_backward(&v.gates, &v.tanh_c, &c_prev, &gh, &gc);
    assert!(rel_diff(&dpre, &dpre_want) <= 1e-14 && rel_diff(&dc, &dc_want) <= 1e-14);
}

#[test]
fn sequence_matches_a_loop_of_composite_cells() {
    let _g = no_grad();
    for dt in [DType::F32, DType::F64] {
        // (10, 11, 100) is large enough to be split by batch rows on a multi-thread pool
        for (t_len, b, hs) in [(1, 1, 1), (4, 3, 5), (6, 32, 40), (3, 5, 33), (10, 11, 100)] {
            let gx = randn(&[t_len, b, 4 * hs], 10, dt);
            let (h0, c0) = (randn(&[b, hs], 11, dt), randn(&[b, hs], 12, dt));
            let w = randn(&[4 * hs, hs], 13, dt).mul_scalar(0.3).unwrap();
            let seq = LstmSequence::run(&gx, &h0, &c0, &w).unwrap();
            // reference forward, keeping what the reference backward needs
            let (mut h, mut c) = (h0.clone(), c0.clone());
            let mut saved = Vec::new();
            let mut outs = Vec::new();
            for t in 0..t_len {
                let pre = gx
                    .select(0, t as isize)
                    .unwrap()
                    .add(&h.matmul(&w.t()).unwrap())
                    .unwrap();
                let (hn, cn, gates, tc) = composite_forward(&pre, &c);
                saved.push((gates, tc, c.clone()));
                (h, c) = (hn, cn);
                outs.push(h.clone());
            }
            let outs = Tensor::stack(&outs, 0).unwrap();
            let tolf = if dt == DType::F32 { 1e-5 } else { 1e-13 };
            assert!(
                rel_diff(&seq.outputs(), &outs) <= tolf,
                "{dt}: {}",
                rel_diff(&seq.outputs(), &outs)
            );
            assert!(rel_diff(&seq.last_cell(), &c) <= tolf);
            let packed = seq.outputs_and_last_cell();
            assert!(rel_diff(&packed.narrow(0, 0, t_len).unwrap(), &outs) <= tolf);
            assert!(rel_diff(&packed.select(0, t_len as isize).unwrap(), &c) <= tolf);
            // reference backward
            let g_out = randn(&[t_len, b, hs], 14, dt);
            let g_c = randn(&[b, hs], 15, dt);
            let (dgx, dh0, dc0) = seq.backward(&w, &g_out, &g_c, true).unwrap();
            let (dgx2, none, dc02) = seq.backward(&w, &g_out, &g_c, false).unwrap();
            assert!(none.is_none() && rel_diff(&dgx2, &dgx) == 0.0 && rel_diff(&dc02, &dc0) == 0.0);
            let dh0 = dh0.unwrap();
            let mut dh = g_out.select(0, t_len as isize - 1).unwrap();
            let mut dc = g_c.clone();
            let mut dpres = vec![Tensor::zeros(&[0]); t_len];
            for t in (0..t_len).rev() {
                if t + 1 < t_len {
                    dh = dh.add(&g_out.select(0, t as isize).unwrap()).unwrap();
                }
                let (gates, tc, c_prev) = &saved[t];
                let (dpre, dcp) = composite_backward(gates, tc, c_prev, &dh, &dc);
                dh = dpre.matmul(&w).unwrap();
                dc = dcp;
                dpres[t] = dpre;
            }
            let dgx_want = Tensor::stack(&dpres, 0).unwrap();
            assert!(rel_diff(&dgx, &dgx_want) <= tolf, "{dt}: {}", rel_diff(&dgx, &dgx_want));
            assert!(rel_diff(&dh0, &dh) <= tolf && rel_diff(&dc0, &dc) <= tolf);
            let hin = seq.hidden_inputs();
            assert!(rel_diff(&hin.select(0, 0).unwrap(), &h0) == 0.0);
            if t_len > 1 {
                let outs = seq.outputs().narrow(0, 0, t_len - 1).unwrap();
                assert!(rel_diff(&hin.narrow(0, 1, t_len - 1).unwrap(), &outs) == 0.0);
            }
        }
    }
}

/// The sequence split by batch rows across threads gives exactly the one-thread results.
#[test]
fn split_by_batch_rows_matches_one_thread_bit_for_bit() {
    let _g = no_grad();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let pools = [2, 3].map(|n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap());
    for dt in [DType::F32, DType::F64] {
        // 32 rows on 2 threads fill whole kernel tiles per part; the rest leave ragged parts
        for (t_len, b, hs) in [(8, 32, 64), (12, 13, 96)] {
            let gx = randn(&[t_len, b, 4 * hs], 20, dt);
            let (h0, c0) = (randn(&[b, hs], 21, dt), randn(&[b, hs], 22, dt));
            let w = randn(&[4 * hs, hs], 23, dt).mul_scalar(0.2).unwrap();
            let (g_out, g_c) = (randn(&[t_len, b, hs], 24, dt), randn(&[b, hs], 25, dt));
            let run = || {
                let seq = LstmSequence::run(&gx, &h0, &c0, &w).unwrap();
                let (dgx, dh0, dc0) = seq.backward(&w, &g_out, &g_c, true).unwrap();
                [seq.outputs_and_last_cell(), dgx, dh0.unwrap(), dc0].map(|t| t.to_vec::<f64>().unwrap())
            };
            let serial = one.install(run);
            for pool in &pools {
                let n = pool.current_num_threads();
                assert_eq!(
                    pool.install(|| loops::row_parts(t_len, b, hs).len()),
                    n,
                    "the sequence is split"
                );
                assert_eq!(serial, pool.install(run), "{dt} T={t_len} B={b} H={hs}, {n} threads");
            }
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let _g = no_grad();
    let f = Tensor::zeros;
    assert!(lstm_cell_fused(&f(&[2, 7]), &f(&[2, 2])).is_err());
    assert!(lstm_cell_fused(&f(&[3, 8]), &f(&[2, 2])).is_err());
    assert!(lstm_cell_fused(&f(&[8]), &f(&[2])).is_err());
    assert!(lstm_cell_fused_backward(&f(&[2, 8]), &f(&[2, 2]), &f(&[2, 2]), &f(&[2, 3]), &f(&[2, 2])).is_err());
    let i64s = Tensor::zeros_dtype(&[2, 8], DType::I64).unwrap();
    assert!(lstm_cell_fused(&i64s, &Tensor::zeros_dtype(&[2, 2], DType::I64).unwrap()).is_err());
    // mixed dtypes
    assert!(lstm_cell_fused(&f(&[2, 8]), &Tensor::zeros_dtype(&[2, 2], DType::F64).unwrap()).is_err());
    assert!(LstmSequence::run(&f(&[0, 2, 8]), &f(&[2, 2]), &f(&[2, 2]), &f(&[8, 2])).is_err());
    assert!(LstmSequence::run(&f(&[3, 2, 8]), &f(&[2, 2]), &f(&[2, 2]), &f(&[2, 8])).is_err());
    assert!(LstmSequence::run(&f(&[3, 2, 8]), &f(&[3, 2]), &f(&[3, 2]), &f(&[8, 2])).is_err());
    let seq = LstmSequence::run(&f(&[3, 2, 8]), &f(&[2, 2]), &f(&[2, 2]), &f(&[8, 2])).unwrap();
    assert!(seq.backward(&f(&[8, 2]), &f(&[2, 2, 2]), &f(&[2, 2]), true).is_err());
    assert!(seq.backward(&f(&[8, 2]), &f(&[3, 2, 2]), &f(&[2]), true).is_err());
}

#[test]
fn refuses_inputs_that_would_need_recording() {
    let pre = Tensor::zeros(&[2, 8]).requires_grad_(true);
    assert!(matches!(
        lstm_cell_fused(&pre, &Tensor::zeros(&[2, 2])),
        Err(Error::Autograd(_))
    ));
    let _g = no_grad();
    assert!(lstm_cell_fused(&pre, &Tensor::zeros(&[2, 2])).is_ok());
}

#[test]
fn empty_batch_gives_empty_results() {
    let _g = no_grad();
    let v = lstm_cell_fused(&Tensor::zeros(&[0, 8]), &Tensor::zeros(&[0, 2])).unwrap();
    assert_eq!(v.gates.shape(), &[0, 8]);
    let seq = LstmSequence::run(
        &Tensor::zeros(&[3, 0, 8]),
        &Tensor::zeros(&[0, 2]),
        &Tensor::zeros(&[0, 2]),
        &Tensor::zeros(&[8, 2]),
    )
    .unwrap();
    assert_eq!(seq.outputs().shape(), &[3, 0, 2]);
    let (dgx, dh0, _) = seq
        .backward(
            &Tensor::zeros(&[8, 2]),
            &Tensor::zeros(&[3, 0, 2]),
            &Tensor::zeros(&[0, 2]),
            true,
        )
        .unwrap();
    assert_eq!(
        (dgx.shape(), dh0.unwrap().shape()),
        (&[3usize, 0, 8][..], &[0usize, 2][..])
    );
}
