//! The AVX2 + FMA microkernel: a 6 x 16 tile of C in 12 of the 16 ymm registers (the classic
//! shape for 16 registers: 12 accumulators, two B vectors, one broadcast).

use std::arch::x86_64::*;

pub(crate) const MR: usize = 6;
pub(crate) const NR: usize = 16;

/// `C[..rows, ..cols] (+)= A_panel @ B_panel` over `kc` steps.
///
/// # Safety
/// The CPU must support AVX2 and FMA; pointer requirements as
/// [`super::kernel_avx512::kernel`], with this file's `MR` and `NR`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn kernel(
    kc: usize,
    a: *const f32,
    lda: usize,
    ka: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    rows: usize,
    cols: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY: the caller guarantees kc steps of MR (A) and NR (B, stride ldb) readable values.
    unsafe {
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i * lda));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
            a = a.add(ka);
            b = b.add(ldb);
        }
    }
    if rows == MR && cols == NR {
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: a full tile: rows < MR and columns < NR are all inside C.
            unsafe {
                let p = c.add(i * ldc);
                let (mut v0, mut v1) = (row[0], row[1]);
                if accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p.add(8)));
                }
                _mm256_storeu_ps(p, v0);
                _mm256_storeu_ps(p.add(8), v1);
            }
        }
        return;
    }
    // an edge tile: spill the registers and copy the live part
    let mut tile = [0f32; MR * NR];
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of `tile` has NR = 16 floats.
        unsafe {
            _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR), row[0]);
            _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR + 8), row[1]);
        }
    }
    // SAFETY: only rows < rows and columns < cols are touched.
    unsafe { super::kernel_scalar::store_tile(&tile, NR, c, ldc, accumulate, rows, cols) };
}
