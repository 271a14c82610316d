//! f32 matrix-vector product `y = W x (+ bias)` with W's rows contiguous: the batch-1 case of
//! `Linear` (`x[1, k] @ W^T` reads W `[n, k]` row-major, so every output is the dot product of
//! one contiguous row with x) and of `A[m, k] @ b[k, 1]`.
//!
//! A general gemm packs its operands into panels first; at m = 1 that packing is as much
//! memory traffic as the product itself, and the product is bound by reading W once. This
//! kernel streams W straight from memory: four rows at a time against one load of x, two
//! accumulators per row so the FMA latency is hidden, the k tail done with masked loads
//! (AVX-512) or a scalar loop (AVX2), and a portable fallback the compiler vectorizes for
//! baseline x86-64 or any other target. Large products split their rows in two halves run on
//! the calling thread and ember's pair helper (`cpu::pair`): on a quiet machine each core then
//! reads the same half of W every call, which stays in its own L2.

use super::pair;
use std::sync::Mutex;

/// Instruction-set variants of the kernel (all available ones are tested against each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Portable,
}

impl Isa {
    /// The fastest variant this CPU runs.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every variant this CPU runs (for tests).
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Isa::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }
}

/// Below this many multiply-adds the product runs on the calling thread: measured on the
/// 2-core dev machine, the pair fork (~0.3 us) pays for itself from about 64 x 256.
const SPLIT_MACS: usize = 1 << 14;

/// `y[j] = bias[j] + sum_p w[j * ldw + p] * x[p]` for `j < n`, `p < k` (bias 0 when `None`).
/// `w` holds the n rows of length k at stride `ldw >= k`; `x` has k elements and `y` n.
/// Runs on two threads (`cpu::pair`) when the product is large enough.
pub fn gemv_f32(w: &[f32], ldw: usize, n: usize, k: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    gemv_with(Isa::best(), w, ldw, n, k, x, bias, y, n * k >= SPLIT_MACS && n >= 8);
}

/// `gemv_f32` with the variant and the threading chosen by the caller (tests force each).
#[allow(clippy::too_many_arguments)]
pub fn gemv_with(
    isa: Isa,
    w: &[f32],
    ldw: usize,
    n: usize,
    k: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    split: bool,
) {
    assert!(ldw >= k, "gemv: row stride {ldw} below row length {k}");
    assert!(n == 0 || (n - 1) * ldw + k <= w.len(), "gemv: weight too small");
    assert!(x.len() >= k && y.len() >= n, "gemv: vector too small");
    assert!(bias.is_none_or(|b| b.len() >= n), "gemv: bias too small");
    let y = &mut y[..n];
    if !split || n < 2 {
        return rows(isa, w, ldw, k, x, bias, y);
    }
    // two halves (a multiple of 4 rows, the kernel's block): the caller takes the first and
    // the helper the second, the same rows on every call, so each core finds its half of W in
    // its own L2. Smaller chunks (8 were tried) let the meeting point wander from call to call
    // and moved rows between cores: batch-1 linear 784->512 took 9.6 us against 7.5 us.
    let per = pair::chunk_len(n, 2, 4, 16);
    let parts: Vec<Mutex<&mut [f32]>> = y.chunks_mut(per).map(Mutex::new).collect();
    pair::run(parts.len(), &|c| {
        let mut yc = parts[c].lock().unwrap_or_else(|e| e.into_inner());
        let r = c * per..c * per + yc.len();
        rows(
            isa,
            &w[r.start * ldw..],
            ldw,
            k,
            x,
            bias.map(|b| &b[r.clone()]),
            &mut yc,
        );
    });
}

/// One thread's rows: `y.len()` rows of `w` (bounds checked by `gemv_with`'s asserts, which
/// carry over to any row subset).
fn rows(isa: Isa, w: &[f32], ldw: usize, k: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let n = y.len();
    if n == 0 {
        return;
    }
    debug_assert!((n - 1) * ldw + k <= w.len() && x.len() >= k);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only chosen where the CPU has AVX-512F (`best`/`available`
        // detect it; tests use only `available` variants), and the bounds hold (asserted above).
        Isa::Avx512 => unsafe { x86::rows_avx512(w, ldw, k, x, bias, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 + FMA.
        Isa::Avx2 => unsafe { x86::rows_avx2(w, ldw, k, x, bias, y) },
        _ => rows_portable(w, ldw, k, x, bias, y),
    }
}

/// The portable variant: 8 independent partial sums per row, which the compiler keeps in one
/// vector register (SSE on baseline x86-64, NEON on aarch64).
fn rows_portable(w: &[f32], ldw: usize, k: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let x = &x[..k];
    for (j, yj) in y.iter_mut().enumerate() {
        let row = &w[j * ldw..j * ldw + k];
        let mut acc = [0.0f32; 8];
        let (rc, xc) = (row.chunks_exact(8), x.chunks_exact(8));
        let (rt, xt) = (rc.remainder(), xc.remainder());
        for (r8, x8) in rc.zip(xc) {
            for l in 0..8 {
                acc[l] += r8[l] * x8[l];
            }
        }
        let mut s = acc.iter().sum::<f32>();
        for (a, b) in rt.iter().zip(xt) {
            s += a * b;
        }
        *yj = s + bias.map_or(0.0, |b| b[j]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// AVX-512 rows. SAFETY (callers): AVX-512F present; `w` holds `y.len()` rows of `k` at
    /// stride `ldw`, `x` at least `k` elements, `bias` (if any) at least `y.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows_avx512(w: &[f32], ldw: usize, k: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        let n = y.len();
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let tail = k % 16;
        let mask: __mmask16 = ((1u32 << tail) - 1) as u16;
        let mut j = 0;
        // SAFETY (all loads): row j + r, columns p..p + 16 with p + 16 <= k, or masked to k.
        unsafe {
            while j + 4 <= n {
                let r = [0, 1, 2, 3].map(|i| wp.add((j + i) * ldw));
                let mut a = [_mm512_setzero_ps(); 8];
                let mut p = 0;
                while p + 32 <= k {
                    let (x0, x1) = (_mm512_loadu_ps(xp.add(p)), _mm512_loadu_ps(xp.add(p + 16)));
                    for i in 0..4 {
                        a[2 * i] = _mm512_fmadd_ps(_mm512_loadu_ps(r[i].add(p)), x0, a[2 * i]);
                        a[2 * i + 1] = _mm512_fmadd_ps(_mm512_loadu_ps(r[i].add(p + 16)), x1, a[2 * i + 1]);
                    }
                    p += 32;
                }
                if p + 16 <= k {
                    let x0 = _mm512_loadu_ps(xp.add(p));
                    for i in 0..4 {
                        a[2 * i] = _mm512_fmadd_ps(_mm512_loadu_ps(r[i].add(p)), x0, a[2 * i]);
                    }
                    p += 16;
                }
                if tail > 0 {
                    let x0 = _mm512_maskz_loadu_ps(mask, xp.add(p));
                    for i in 0..4 {
                        let wv = _mm512_maskz_loadu_ps(mask, r[i].add(p));
                        a[2 * i + 1] = _mm512_fmadd_ps(wv, x0, a[2 * i + 1]);
                    }
                }
                for i in 0..4 {
                    let s = _mm512_reduce_add_ps(_mm512_add_ps(a[2 * i], a[2 * i + 1]));
                    y[j + i] = s + bias.map_or(0.0, |b| b[j + i]);
                }
                j += 4;
            }
            while j < n {
                let r = wp.add(j * ldw);
                let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                let mut p = 0;
                while p + 32 <= k {
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r.add(p)), _mm512_loadu_ps(xp.add(p)), a0);
                    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(r.add(p + 16)), _mm512_loadu_ps(xp.add(p + 16)), a1);
                    p += 32;
                }
                if p + 16 <= k {
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r.add(p)), _mm512_loadu_ps(xp.add(p)), a0);
                    p += 16;
                }
                if tail > 0 {
                    let (wv, xv) = (
                        _mm512_maskz_loadu_ps(mask, r.add(p)),
                        _mm512_maskz_loadu_ps(mask, xp.add(p)),
                    );
                    a1 = _mm512_fmadd_ps(wv, xv, a1);
                }
                y[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + bias.map_or(0.0, |b| b[j]);
                j += 1;
            }
        }
    }

    /// Horizontal sum of 8 lanes.
    #[target_feature(enable = "avx2")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// AVX2 + FMA rows; the k tail (< 8) is a scalar loop. SAFETY (callers): AVX2 and FMA
    /// present; bounds as for `rows_avx512`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_avx2(w: &[f32], ldw: usize, k: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        let n = y.len();
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let body = k - k % 8;
        let scalar_tail = |row: usize| -> f32 { (body..k).map(|p| w[row * ldw + p] * x[p]).sum() };
        let mut j = 0;
        // SAFETY (all loads): row j + r, columns p..p + 8 with p + 8 <= k.
        unsafe {
            while j + 4 <= n {
                let r = [0, 1, 2, 3].map(|i| wp.add((j + i) * ldw));
                let mut a = [_mm256_setzero_ps(); 8];
                let mut p = 0;
                while p + 16 <= k {
                    let (x0, x1) = (_mm256_loadu_ps(xp.add(p)), _mm256_loadu_ps(xp.add(p + 8)));
                    for i in 0..4 {
                        a[2 * i] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i].add(p)), x0, a[2 * i]);
                        a[2 * i + 1] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i].add(p + 8)), x1, a[2 * i + 1]);
                    }
                    p += 16;
                }
                if p + 8 <= k {
                    let x0 = _mm256_loadu_ps(xp.add(p));
                    for i in 0..4 {
                        a[2 * i] = _mm256_fmadd_ps(_mm256_loadu_ps(r[i].add(p)), x0, a[2 * i]);
                    }
                }
                for i in 0..4 {
                    let s = hsum256(_mm256_add_ps(a[2 * i], a[2 * i + 1])) + scalar_tail(j + i);
                    y[j + i] = s + bias.map_or(0.0, |b| b[j + i]);
                }
                j += 4;
            }
            while j < n {
                let r = wp.add(j * ldw);
                let mut a0 = _mm256_setzero_ps();
                let mut p = 0;
                while p + 8 <= k {
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r.add(p)), _mm256_loadu_ps(xp.add(p)), a0);
                    p += 8;
                }
                y[j] = hsum256(a0) + scalar_tail(j) + bias.map_or(0.0, |b| b[j]);
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn vals(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(w: &[f32], ldw: usize, n: usize, k: usize, x: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
        (0..n)
            .map(|j| {
                let s: f64 = (0..k).map(|p| w[j * ldw + p] as f64 * x[p] as f64).sum();
                s + bias.map_or(0.0, |b| b[j] as f64)
            })
            .collect()
    }

    #[test]
    fn every_variant_matches_the_definition() {
        let sizes = [
            (1, 1),
            (3, 7),
            (4, 16),
            (5, 17),
            (7, 31),
            (8, 32),
            (9, 33),
            (13, 100),
            (64, 784),
            (66, 255),
        ];
        for isa in Isa::available() {
            for &(n, k) in &sizes {
                for pad in [0, 3] {
                    let ldw = k + pad;
                    let w = vals(n * ldw, (n * 31 + k) as u64);
                    let x = vals(k + 5, k as u64);
                    let b = vals(n, 7);
                    for bias in [None, Some(&b[..])] {
                        let want = naive(&w, ldw, n, k, &x, bias);
                        for split in [false, true] {
                            let mut y = vec![f32::NAN; n];
                            gemv_with(isa, &w, ldw, n, k, &x, bias, &mut y, split);
                            for (j, (&g, &e)) in y.iter().zip(&want).enumerate() {
                                let tol = 1e-5 * (1.0 + (k as f64).sqrt());
                                assert!(
                                    (g as f64 - e).abs() <= tol,
                                    "{isa:?} n={n} k={k} ldw={ldw} split={split} row {j}: {g} vs {e}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_products() {
        for isa in Isa::available() {
            let mut y = vec![1.0f32; 3];
            gemv_with(isa, &[], 0, 3, 0, &[], Some(&[1.0, 2.0, 3.0]), &mut y, true);
            assert_eq!(y, [1.0, 2.0, 3.0]);
            let mut y: Vec<f32> = vec![];
            gemv_with(isa, &[], 4, 0, 4, &[0.0; 4], None, &mut y, true);
        }
    }

    #[test]
    fn nan_and_inf_propagate() {
        for isa in Isa::available() {
            let (n, k) = (5, 37);
            let mut w = vals(n * k, 3);
            w[2 * k + 36] = f32::NAN; // in the masked / scalar tail
            w[4 * k] = f32::INFINITY;
            let x = vec![1.0f32; k];
            let mut y = vec![0.0f32; n];
            gemv_with(isa, &w, k, n, k, &x, None, &mut y, false);
            assert!(
                y[2].is_nan() && y[4] == f32::INFINITY && y[0].is_finite(),
                "{isa:?}: {y:?}"
            );
        }
    }
}
