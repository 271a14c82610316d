//! Distributed benchmarks (feature `mpi`), printing one JSON object per line; run under mpirun:
//!
//! - `allreduce`: bandwidth of `ProcessGroup::all_reduce` (sum, f32, in place) for 1 to 256 MiB,
//!   beside the raw `MPI_Allreduce` (in place) on the same buffers, interleaved size by size;
//! - `w5 [--steps N]`: training throughput (examples/s) of WORKLOADS.md's W5 CNN with global batch 64,
//!   SGD momentum 0.9, lr 0.01, through `DistributedDataParallel` (each of N ranks runs 64/N examples
//!   per step). Without mpirun it runs one process (use RAYON_NUM_THREADS for its threads).
//!
//! Compare with tools/bench_dist_torch.py (PyTorch torch.distributed, gloo) under the same mpirun.

use ember_bench::models::Cnn;
use ember_core::{manual_seed, Result, Tensor};
use ember_dist::{DistributedDataParallel, ProcessGroup, ReduceOp};
use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
use ember_nn::Module;
use ember_optim::{Optimizer, Sgd, SgdConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = ProcessGroup::from_env().and_then(|pg| match args.first().map(String::as_str) {
        Some("allreduce") => allreduce(&pg),
        Some("w5") => {
            let steps = args
                .iter()
                .position(|a| a == "--steps")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            w5(&pg, steps)
        }
        _ => Err(ember_core::Error::Arg {
            op: "ember-dist-bench",
            msg: "usage: ember-dist-bench allreduce | w5 [--steps N]".into(),
        }),
    });
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The raw MPI call ember's all_reduce is measured against (same buffer, in place).
#[cfg(feature = "mpi")]
fn raw_allreduce(buf: &mut [f32]) {
    use mpi::ffi;
    // SAFETY: MPI is initialized (the group exists); buf is valid for its length; Open MPI's
    // MPI_IN_PLACE is (void *) 1
    unsafe {
        ffi::MPI_Allreduce(
            std::ptr::without_provenance(1),
            buf.as_mut_ptr().cast(),
            buf.len() as i32,
            ffi::RSMPI_FLOAT,
            ffi::RSMPI_SUM,
            ffi::RSMPI_COMM_WORLD,
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn allreduce(pg: &ProcessGroup) -> Result<()> {
    if pg.backend_name() != "mpi" {
        return Err(ember_core::Error::Arg {
            op: "ember-dist-bench",
            msg: "allreduce needs an mpirun launch".into(),
        });
    }
    for mib in [1usize, 4, 16, 64, 256] {
        let n = mib * 1024 * 1024 / 4;
        let mut raw = vec![1.0f32; n];
        let t = Tensor::ones(&[n]);
        let iters = (512 / mib).clamp(5, 50);
        let (mut t_raw, mut t_ember) = (Vec::new(), Vec::new());
        for i in 0..iters + 2 {
            pg.barrier()?;
            let s = Instant::now();
            raw_allreduce(&mut raw);
            let a = s.elapsed().as_secs_f64();
            pg.barrier()?;
            let s = Instant::now();
            pg.all_reduce(&t, ReduceOp::Sum)?;
            let b = s.elapsed().as_secs_f64();
            if i >= 2 {
                t_raw.push(a);
                t_ember.push(b);
            }
            // keep values bounded (sums of ones grow by the world size each call)
            raw.iter_mut().for_each(|x| *x = 1.0);
            t.fill_(1.0)?;
        }
        let (r, e) = (median(t_raw), median(t_ember));
        if pg.rank() == 0 {
            let gbs = |s: f64| (mib as f64 / 1024.0) / s;
            println!(
                "{{\"bench\":\"allreduce\",\"mib\":{mib},\"ranks\":{},\"raw_mpi_gb_s\":{:.3},\"ember_gb_s\":{:.3},\"ember_over_raw\":{:.3}}}",
                pg.world_size(),
                gbs(r),
                gbs(e),
                r / e
            );
        }
    }
    Ok(())
}

fn w5(pg: &ProcessGroup, steps: usize) -> Result<()> {
    let world = pg.world_size();
    manual_seed(0);
    let cnn = Cnn::new()?;
    let model = DistributedDataParallel::new(cnn, pg.clone())?;
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.01).momentum(0.9))?;
    let per_rank = 64 / world;
    manual_seed(1 + pg.rank() as u64);
    let x = Tensor::randn(&[per_rank, 1, 28, 28]);
    let y = Tensor::randint(0, 10, &[per_rank])?;
    let ce = CrossEntropyOptions::default();
    let mut times = Vec::new();
    for i in 0..steps + 5 {
        pg.barrier()?;
        let s = Instant::now();
        opt.zero_grad();
        cross_entropy(&model.forward(&x)?, &y, &ce)?.backward()?;
        model.check()?;
        opt.step()?;
        if i >= 5 {
            times.push(s.elapsed().as_secs_f64());
        }
    }
    let total: f64 = times.iter().sum();
    if pg.rank() == 0 {
        let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
        println!(
            "{{\"bench\":\"w5_ddp\",\"ranks\":{world},\"threads_per_rank\":\"{threads}\",\"global_batch\":{},\"steps\":{steps},\"median_ms_per_step\":{:.3},\"examples_per_s\":{:.1}}}",
            per_rank * world,
            1e3 * median(times.clone()),
            (per_rank * world * steps) as f64 / total
        );
    }
    Ok(())
}
