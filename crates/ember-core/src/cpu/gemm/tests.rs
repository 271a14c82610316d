//! Every kernel variant the CPU runs against a naive triple loop in f64: all sizes 1..=70 in
//! each dim (tails of every tile shape), k = 0, k past one k block, rows past one row block,
//! transposed and strided operands, accumulate, pre-packed B, one and two threads.

use super::*;

/// A deterministic pseudo-random buffer (values in [-1, 1)).
fn buf(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// An `r x c` operand laid out as asked: transposed storage and/or padded rows, at an offset.
fn operand(r: usize, c: usize, transposed: bool, pad: usize, seed: u64) -> (Vec<f32>, usize, usize, usize) {
    let off = 3;
    let (rs, cs) = if transposed { (1, r + pad) } else { (c + pad, 1) };
    let len = off + (r.max(1) - 1) * rs + (c.max(1) - 1) * cs + 1 + pad;
    (buf(len, seed), off, rs, cs)
}

#[derive(Clone, Copy)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    pad: usize,
    accumulate: bool,
    packed: bool,
    threads: usize,
}

fn check(kernel: Kernel, t: Case) {
    let Case { m, k, n, .. } = t;
    let (av, aoff, ars, acs) = operand(m, k, t.ta, t.pad, 1 + (m * 31 + k) as u64);
    let (bv, boff, brs, bcs) = operand(k, n, t.tb, t.pad, 2 + (n * 17 + k) as u64);
    let a = MatRef {
        data: &av,
        off: aoff,
        rs: ars,
        cs: acs,
    };
    let b = MatRef {
        data: &bv,
        off: boff,
        rs: brs,
        cs: bcs,
    };
    let ldc = n + t.pad;
    let c0 = buf(m * ldc, 7);
    let mut c = c0.clone();
    if t.packed {
        let pb = PackedB::new(kernel, &b, k, n);
        gemm_packed(m, &a, &pb, &mut c, ldc, t.accumulate, t.threads);
    } else {
        gemm(kernel, m, k, n, &a, &b, &mut c, ldc, t.accumulate, t.threads);
    }
    for i in 0..m {
        for j in 0..ldc {
            let got = c[i * ldc + j];
            if j >= n {
                assert_eq!(got, c0[i * ldc + j], "{kernel:?} wrote past column n ({m}x{k}x{n})");
                continue;
            }
            let (mut want, mut mag) = (0f64, 0f64);
            for p in 0..k {
                let x = av[aoff + i * ars + p * acs] as f64 * bv[boff + p * brs + j * bcs] as f64;
                want += x;
                mag += x.abs();
            }
            if t.accumulate {
                want += c0[i * ldc + j] as f64;
                mag += (c0[i * ldc + j] as f64).abs();
            }
            let tol = 1e-5 * (mag + 1.0);
            assert!(
                (got as f64 - want).abs() <= tol,
                "{kernel:?} m={m} k={k} n={n} ta={} tb={} pad={} acc={} packed={} threads={}: C[{i},{j}] = {got}, want {want}",
                t.ta,
                t.tb,
                t.pad,
                t.accumulate,
                t.packed,
                t.threads
            );
        }
    }
}

fn base(m: usize, k: usize, n: usize) -> Case {
    Case {
        m,
        k,
        n,
        ta: false,
        tb: false,
        pad: 0,
        accumulate: false,
        packed: false,
        threads: 1,
    }
}

#[test]
fn every_size_up_to_70_in_each_dim() {
    for kernel in Kernel::available() {
        for d in 1..=70 {
            check(kernel, base(d, 13, 37));
            check(kernel, base(19, d, 33));
            check(kernel, base(9, 21, d));
            check(
                kernel,
                Case {
                    packed: true,
                    ..base(d, 5, d)
                },
            );
        }
    }
}

#[test]
fn layouts_accumulate_packing_and_threads() {
    let dims = [1, 2, 7, 8, 9, 16, 17, 33, 64, 70];
    for kernel in Kernel::available() {
        for &m in &dims {
            for &n in &dims {
                for (i, &k) in [1usize, 6, 31, 64].iter().enumerate() {
                    let v = m + n + i;
                    let t = Case {
                        m,
                        k,
                        n,
                        ta: v % 2 == 0,
                        tb: v % 3 == 0,
                        pad: v % 4,
                        accumulate: v % 5 < 2,
                        packed: v % 7 < 3,
                        threads: 1 + v % 2,
                    };
                    check(kernel, t);
                }
            }
        }
    }
}

#[test]
fn k_zero_writes_zeros_or_keeps_c() {
    for kernel in Kernel::available() {
        for accumulate in [false, true] {
            for packed in [false, true] {
                check(
                    kernel,
                    Case {
                        accumulate,
                        packed,
                        ..base(5, 0, 11)
                    },
                );
            }
        }
    }
}

#[test]
fn past_one_k_block_and_one_row_block() {
    for kernel in Kernel::available() {
        for threads in [1, 2] {
            check(
                kernel,
                Case {
                    threads,
                    ..base(33, KC + 45, 70)
                },
            );
            check(
                kernel,
                Case {
                    threads,
                    accumulate: true,
                    packed: true,
                    ..base(MC + 13, 2 * KC + 3, 40)
                },
            );
            check(
                kernel,
                Case {
                    threads,
                    tb: true,
                    ..base(MC + 40, 17, 9)
                },
            );
        }
    }
}

#[test]
fn lstm_step_shape_on_a_packed_weight() {
    // [32, 256] @ W^T with W [1024, 256] (column-contiguous B), reused across calls
    for kernel in Kernel::available() {
        for threads in [1, 2] {
            check(
                kernel,
                Case {
                    tb: true,
                    packed: true,
                    threads,
                    ..base(32, 256, 1024)
                },
            );
            check(
                kernel,
                Case {
                    accumulate: true,
                    packed: true,
                    threads,
                    ..base(32, 1024, 256)
                },
            );
        }
    }
}
