//! Checks run under `mpirun -np N` by ember-dist's integration tests (tests/mpirun.rs):
//!
//! - `collectives`: every collective, on every float dtype, against its definition, on every rank;
//! - `ddp`: N ranks x batch B for 20 steps end with the parameters of 1 process x batch N*B
//!   (computed in the same process as the reference), also with gradient accumulation (`no_sync`)
//!   and with `find_unused_parameters`;
//! - `hang` / `die`: the last rank stops answering (sleeps / exits); the others must exit with the
//!   watchdog's error instead of hanging.
//!
//! Prints `ok <check> rank r/N` on success; exits non-zero with the failure otherwise.

use ember_core::{autograd, manual_seed, DType, Generator, Result, Tensor};
use ember_data::Sampler;
use ember_dist::{DdpOptions, DistributedDataParallel, DistributedSampler, ProcessGroup, ReduceOp};
use ember_nn::{Linear, Module, Visitor};
use std::process::ExitCode;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    let pg = match ProcessGroup::mpi() {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match what.as_str() {
        "collectives" => collectives(&pg),
        "ddp" => ddp(&pg),
        "hang" | "die" => failure(&pg, &what),
        _ => Err(ember_core::Error::Arg {
            op: "ember-dist-check",
            msg: format!("unknown check {what:?} (collectives, ddp, hang, die)"),
        }),
    };
    match r {
        Ok(()) => {
            println!("ok {what} rank {}/{}", pg.rank(), pg.world_size());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED {what} rank {}/{}: {e}", pg.rank(), pg.world_size());
            ExitCode::FAILURE
        }
    }
}

fn fail(msg: String) -> ember_core::Error {
    ember_core::Error::Arg { op: "check", msg }
}

fn expect(what: &str, got: &Tensor, want: &[f64]) -> Result<()> {
    let g = got.to_vec::<f64>()?;
    // f16/bf16 values below are small integers and halves: exact in every dtype
    if g != want {
        return Err(fail(format!("{what} ({}): got {g:?}, want {want:?}", got.dtype())));
    }
    Ok(())
}

/// Rank r's value at position i (exactly representable in f16 and bf16).
fn val(r: usize, i: usize) -> f64 {
    (r * 3 + i % 5) as f64 - 2.0
}

fn filled(r: usize, n: usize, dt: DType) -> Result<Tensor> {
    Tensor::from_vec((0..n).map(|i| val(r, i)).collect::<Vec<f64>>(), &[n])?.to_dtype(dt)
}

fn collectives(pg: &ProcessGroup) -> Result<()> {
    let (r, w) = (pg.rank(), pg.world_size());
    let n = 6;
    for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
            let t = filled(r, n, dt)?;
            pg.all_reduce(&t, op)?;
            let want: Vec<f64> = (0..n)
                .map(|i| {
                    let vals = (0..w).map(|q| val(q, i));
                    match op {
                        ReduceOp::Sum => vals.sum(),
                        ReduceOp::Mean => vals.sum::<f64>() / w as f64,
                        ReduceOp::Max => vals.fold(f64::MIN, f64::max),
                        ReduceOp::Min => vals.fold(f64::MAX, f64::min),
                    }
                })
                .collect();
            // a mean of small integers over 2 or 4 ranks is a multiple of 1/4: exact too
            expect(&format!("all_reduce {op:?}"), &t, &want)?;
        }
        // broadcast from the last rank
        let t = filled(r, n, dt)?;
        pg.broadcast(&t, w - 1)?;
        expect("broadcast", &t, &(0..n).map(|i| val(w - 1, i)).collect::<Vec<_>>())?;
        // all_gather: rank order
        let out = Tensor::zeros(&[w, n]).to_dtype(dt)?;
        pg.all_gather(&out, &filled(r, n, dt)?)?;
        let all: Vec<f64> = (0..w).flat_map(|q| (0..n).map(move |i| val(q, i))).collect();
        expect("all_gather", &out, &all)?;
        // reduce_scatter: block r of the element-wise sum of everyone's [w * n] input
        let input = Tensor::from_vec((0..w * n).map(|j| val(r, j)).collect::<Vec<f64>>(), &[w * n])?.to_dtype(dt)?;
        let out = Tensor::zeros(&[n]).to_dtype(dt)?;
        pg.reduce_scatter(&out, &input, ReduceOp::Sum)?;
        let want: Vec<f64> = (0..n).map(|i| (0..w).map(|q| val(q, r * n + i)).sum()).collect();
        expect("reduce_scatter", &out, &want)?;
        // gather to rank 0
        let mine = filled(r, n, dt)?;
        if r == 0 {
            let out = Tensor::zeros(&[w * n]).to_dtype(dt)?;
            pg.gather(Some(&out), &mine, 0)?;
            expect("gather", &out, &all)?;
        } else {
            pg.gather(None, &mine, 0)?;
        }
        // scatter from rank 0: rank q gets block q of rank 0's [w * n] tensor
        let out = Tensor::zeros(&[n]).to_dtype(dt)?;
        let src = Tensor::from_vec(all.clone(), &[w * n])?.to_dtype(dt)?;
        pg.scatter(&out, (r == 0).then_some(&src), 0)?;
        expect("scatter", &out, &(0..n).map(|i| val(r, i)).collect::<Vec<_>>())?;
        pg.barrier()?;
    }
    // bad input is an error on the caller's side, before anything is sent
    let t = Tensor::zeros(&[4]);
    if pg.all_gather(&Tensor::zeros(&[3]), &t).is_ok() || pg.broadcast(&t, w).is_ok() {
        return Err(fail("mismatched shapes / a bad root were accepted".into()));
    }
    if pg
        .all_reduce(&Tensor::zeros(&[2]).to_dtype(DType::I64)?, ReduceOp::Mean)
        .is_ok()
    {
        return Err(fail("a mean of integers was accepted".into()));
    }
    Ok(())
}

/// A small MLP; `skip_head` leaves `head2` unused (for the find_unused_parameters check).
struct Net {
    l1: Linear,
    l2: Linear,
    head2: Linear,
    skip_head: bool,
}

impl Module for Net {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.l2.call(&self.l1.call(x)?.tanh()?)?;
        if self.skip_head {
            Ok(h)
        } else {
            self.head2.call(&h)
        }
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("l1", &self.l1);
        v.module("l2", &self.l2);
        v.module("head2", &self.head2);
    }
}

fn net(skip_head: bool) -> Net {
    manual_seed(3);
    Net {
        l1: Linear::new(8, 32),
        l2: Linear::new(32, 4),
        head2: Linear::new(4, 4),
        skip_head,
    }
}

fn loss(m: &dyn Module, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let d = m.forward(x)?.sub(y)?;
    d.mul(&d)?.mean_all()
}

fn sgd(m: &dyn Module, lr: f64) -> Result<()> {
    let _g = autograd::no_grad();
    for p in m.parameters() {
        if let Some(g) = p.grad() {
            p.add_scaled_(&g, -lr)?;
        }
        p.zero_grad();
    }
    Ok(())
}

fn batch(x: &Tensor, y: &Tensor, idx: &[usize]) -> Result<(Tensor, Tensor)> {
    let i = Tensor::from_vec(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[idx.len()])?;
    Ok((x.index_select(0, &i)?, y.index_select(0, &i)?))
}

/// max |a - b| / max(|b|, 1e-3) over all parameters.
fn max_rel_diff(a: &dyn Module, b: &dyn Module) -> Result<f64> {
    let mut worst = 0.0f64;
    for (p, q) in a.parameters().iter().zip(b.parameters()) {
        for (u, v) in p.to_vec::<f64>()?.iter().zip(q.to_vec::<f64>()?) {
            worst = worst.max((u - v).abs() / v.abs().max(1e-3));
        }
    }
    Ok(worst)
}

fn ddp(pg: &ProcessGroup) -> Result<()> {
    let (r, w) = (pg.rank(), pg.world_size());
    let (per_rank, steps, lr) = (32usize, 20usize, 0.1);
    let n = per_rank * w * 10;
    let mut g = Generator::new(11);
    let x = Tensor::randn_with(&[n, 8], &mut g);
    let y = Tensor::randn_with(&[n, 4], &mut g);
    let sampler = DistributedSampler::new(n, r, w, Some(5))?;
    let single = DistributedSampler::new(n, 0, 1, Some(5))?;

    // reference: one process, batch w * per_rank, same global order
    let reference = |skip_head: bool| -> Result<Net> {
        let m = net(skip_head);
        for s in 0..steps {
            let (epoch, k) = ((s / 10) as u64, s % 10);
            let order = single.indices(epoch);
            let (xb, yb) = batch(&x, &y, &order[k * per_rank * w..(k + 1) * per_rank * w])?;
            loss(&m, &xb, &yb)?.backward()?;
            sgd(&m, lr)?;
        }
        Ok(m)
    };
    let full = reference(false)?;
    let headless = reference(true)?;

    // tiny buckets, so several are in flight during backward
    let small = DdpOptions {
        bucket_cap_mib: 0.001,
        ..DdpOptions::default()
    };
    for (name, opts, accumulate, skip_head) in [
        ("default buckets", DdpOptions::default(), false, false),
        ("small buckets", small.clone(), false, false),
        ("no_sync accumulation", small.clone(), true, false),
        (
            "find_unused_parameters",
            DdpOptions {
                find_unused_parameters: true,
                ..small.clone()
            },
            false,
            true,
        ),
    ] {
        let model = DistributedDataParallel::with_options(net(skip_head), pg.clone(), opts)?;
        let reference = if skip_head { &headless } else { &full };
        for s in 0..steps {
            let (epoch, k) = ((s / 10) as u64, s % 10);
            let mine = &sampler.indices(epoch)[k * per_rank..(k + 1) * per_rank];
            if accumulate {
                // two micro-batches of half size; the first only accumulates locally
                let h = per_rank / 2;
                {
                    let _ns = model.no_sync();
                    let (xb, yb) = batch(&x, &y, &mine[..h])?;
                    loss(&model, &xb, &yb)?.mul_scalar(0.5)?.backward()?;
                }
                let (xb, yb) = batch(&x, &y, &mine[h..])?;
                loss(&model, &xb, &yb)?.mul_scalar(0.5)?.backward()?;
            } else {
                let (xb, yb) = batch(&x, &y, mine)?;
                loss(&model, &xb, &yb)?.backward()?;
            }
            model.check()?;
            sgd(&model, lr)?;
        }
        let d = max_rel_diff(&model, reference)?;
        println!(
            "ddp {name}: rank {r}/{w}: max relative difference to 1 x batch {} = {d:.2e}",
            per_rank * w
        );
        if d > 1e-5 {
            return Err(fail(format!(
                "{name}: parameters differ from the single-process run by {d:.2e}"
            )));
        }
    }

    // an unused parameter without the flag is a clear error at the next step
    let model = DistributedDataParallel::new(net(true), pg.clone())?;
    let (xb, yb) = batch(&x, &y, &sampler.indices(0)[..per_rank])?;
    loss(&model, &xb, &yb)?.backward()?;
    match model.check() {
        Err(e) if e.to_string().contains("head2.weight") => Ok(()),
        other => Err(fail(format!("unused parameters were not reported: {other:?}"))),
    }
}

fn failure(pg: &ProcessGroup, how: &str) -> Result<()> {
    let t = Tensor::ones(&[1024]);
    pg.all_reduce(&t, ReduceOp::Sum)?;
    if pg.rank() + 1 == pg.world_size() {
        if how == "hang" {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        std::process::exit(3);
    }
    pg.all_reduce(&t, ReduceOp::Sum)?;
    Err(fail("the all_reduce with a dead peer returned".into()))
}
