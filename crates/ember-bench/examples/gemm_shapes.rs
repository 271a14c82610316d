//! Probe: ember's own f32 kernel (`cpu::gemm`) against the `gemm` crate on the shapes training
//! uses, one and two threads, to decide where the own kernel should replace the crate. GFLOP/s.
//! `(m, k, n, B transposed)`; B transposed is Linear's `x @ W^T`.
use ember_core::cpu::gemm::{gemm as own, gemm_packed, Kernel, MatRef, PackedB};
use std::time::Instant;

fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    best
}

fn main() {
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    let shapes = [
        (32usize, 256usize, 1024usize, true), // LSTM step forward (h @ W_hh^T)
        (32, 256, 1024, false),               // the same on W_hh^T made contiguous (the old path)
        (16, 256, 1024, true),                // one thread's half of the batch (split by rows)
        (32, 256, 512, true),                 // one thread's half of the gates (split by units)
        (32, 1024, 256, false),               // LSTM step backward (dpre @ W_hh)
        (1024, 1600, 256, false),             // LSTM dW_hh (dgx^T @ h)
        (1600, 64, 1024, true),               // LSTM input projection
        (128, 784, 512, true),                // W4 layer 1 forward
        (128, 512, 784, false),               // W4 layer 1 dX
        (512, 128, 784, false),               // W4 layer 1 dW
        (128, 512, 256, true),                // W4 layer 2
        (128, 256, 10, true),                 // W4 layer 3
        (128, 128, 128, false),               // W1 n=128
        (256, 256, 256, false),
        (512, 512, 512, false),
        (1024, 1024, 1024, false),
    ];
    let kernel = Kernel::detect();
    for (m, k, n, bt) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let (brs, bcs) = if bt { (1, k) } else { (n, 1) };
        let flops = 2.0 * (m * k * n) as f64;
        let reps = (2e8 / flops).clamp(3.0, 2000.0) as usize;
        let mut line = format!("{m:>5}x{k:>5}x{n:>5}{}", if bt { " Bt" } else { "   " });
        for threads in [1usize, 2] {
            let am = MatRef {
                data: &a,
                off: 0,
                rs: k,
                cs: 1,
            };
            let bm = MatRef {
                data: &b,
                off: 0,
                rs: brs,
                cs: bcs,
            };
            let t_own = best_of(reps, || own(kernel, m, k, n, &am, &bm, &mut c, n, false, threads));
            let pb = PackedB::new(kernel, &bm, k, n);
            let t_packed = best_of(reps, || gemm_packed(m, &am, &pb, &mut c, n, false, threads));
            let par = if threads == 1 {
                gemm::Parallelism::None
            } else {
                gemm::Parallelism::Rayon(2)
            };
            let t_crate = best_of(reps, || {
                // SAFETY: a is m x k, b is k x n with strides (brs, bcs), c is m x n row-major.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        1,
                        k as isize,
                        b.as_ptr(),
                        bcs as isize,
                        brs as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    )
                }
            });
            let g = |t: f64| flops / t / 1e9;
            line += &format!(
                " | {threads}t own {:6.1} packed {:6.1} crate {:6.1}",
                g(t_own),
                g(t_packed),
                g(t_crate)
            );
        }
        println!("{line}  GFLOP/s");
    }
}
