//! Probe: gemm throughput single-threaded vs on 2 rayon threads, to pick matmul's threading cut.
use std::time::Instant;
fn main() {
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    for n in [64usize, 128, 256, 512] {
        let a = vec![1.0f32; n * n];
        let b = vec![1.0f32; n * n];
        let mut c = vec![0.0f32; n * n];
        for par in [gemm::Parallelism::None, gemm::Parallelism::Rayon(2)] {
            let mut best = f64::MAX;
            for _ in 0..7 {
                let t = Instant::now();
                let reps = 100;
                for _ in 0..reps {
                    // SAFETY: all three buffers are n x n row-major.
                    unsafe {
                        gemm::gemm(
                            n,
                            n,
                            n,
                            c.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            a.as_ptr(),
                            1,
                            n as isize,
                            b.as_ptr(),
                            1,
                            n as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            par,
                        );
                    }
                }
                best = best.min(t.elapsed().as_secs_f64() / reps as f64);
            }
            println!("n={n} {:?}: {:.1} GFLOP/s", par, 2.0 * (n as f64).powi(3) / best / 1e9);
        }
    }
}
