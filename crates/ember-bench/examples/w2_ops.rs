//! W2's three ops one at a time (mul, add, relu over 4M f32), median of 31 runs each, then the
//! chain and its parts timed inside it: `cargo run --release -p ember-bench --example w2_ops`.
//!
//! What it showed (seventh session, 2 threads): each op alone runs at PyTorch's speed (mul 0.28,
//! add 0.28, relu 0.16 ms; PyTorch 0.24-0.30 / 0.23-0.31 / 0.15-0.20), but inside the chain mul
//! and add take 0.43-0.50 ms: they write into buffers that have left the cache, where a lone op
//! rewrites the block it just freed. Freeing the product before relu (two buffers, as PyTorch's
//! reference counting does) gained 0.05-0.1 ms; non-temporal stores lost 0.4 ms (the next op
//! then reads from memory, not L3); a larger parallel chunk, handing each output the large
//! block freed last (a LIFO cache in front of malloc), and letting the operators write into
//! an owned temporary (`a * b + c` reusing the product's buffer) changed nothing measurable.
//! Running large elementwise outputs on the pair helper (`cpu/pair.rs`) instead of rayon did
//! help W2 (1.06-1.10 against 1.25-1.46 ms, interleaved runs; rayon wakes a parked worker for
//! every op), but cost W4 (2.38-2.42 vs 2.22 ms) and W5 (6.4 vs 5.0-6.1 ms): the helper spins
//! for 200 us after each op on the core the next rayon GEMM needs. Not adopted.

use ember_core::Tensor;
use std::time::Instant;

fn median_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut t: Vec<f64> = (0..31)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[15]
}

fn main() {
    const N: usize = 4_194_304;
    let (a, b, c) = (Tensor::randn(&[N]), Tensor::randn(&[N]), Tensor::randn(&[N]));
    let ab = &a * &b;
    println!("mul  {:.3} ms", median_ms(|| drop(&a * &b)));
    println!("add  {:.3} ms", median_ms(|| drop(&ab + &c)));
    println!("relu {:.3} ms", median_ms(|| drop(ab.relu().unwrap())));
    println!("W2   {:.3} ms", median_ms(|| drop((&(&a * &b) + &c).relu().unwrap())));
    println!(
        "W2 with t1 freed before relu {:.3} ms",
        median_ms(|| {
            let t1 = &a * &b;
            let t2 = &t1 + &c;
            drop(t1);
            drop(t2.relu().unwrap());
        })
    );
    chain_parts(&a, &b, &c);
}

fn chain_parts(a: &Tensor, b: &Tensor, c: &Tensor) {
    let mut acc = [0.0f64; 4];
    for i in 0..40 {
        let s = Instant::now();
        let t1 = a * b;
        let m1 = s.elapsed().as_secs_f64();
        let t2 = &t1 + c;
        let m2 = s.elapsed().as_secs_f64();
        drop(t1);
        let t3 = t2.relu().unwrap();
        let m3 = s.elapsed().as_secs_f64();
        drop(t2);
        drop(t3);
        let m4 = s.elapsed().as_secs_f64();
        if i >= 10 {
            acc[0] += m1;
            acc[1] += m2 - m1;
            acc[2] += m3 - m2;
            acc[3] += m4 - m3;
        }
    }
    println!(
        "in the chain: mul {:.3} add {:.3} relu {:.3} frees {:.3} ms",
        acc[0] / 30.0 * 1e3,
        acc[1] / 30.0 * 1e3,
        acc[2] / 30.0 * 1e3,
        acc[3] / 30.0 * 1e3
    );
}
