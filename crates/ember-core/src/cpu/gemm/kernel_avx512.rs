//! The AVX-512 microkernel: an 8 x 32 tile of C held in 16 zmm registers while k streams by.
//!
//! Per k step it loads 32 values of the packed B panel (two vectors), broadcasts 8 values of
//! the packed A panel, and issues 16 FMAs: enough independent accumulators to keep two FMA
//! pipes busy through their latency. 8 rows divide the batch sizes training uses (32, 64, 128),
//! so the LSTM step [32, 256] @ [256, 1024] runs on full tiles only.

use std::arch::x86_64::*;

pub(crate) const MR: usize = 8;
pub(crate) const NR: usize = 32;

/// `C[..rows, ..cols] (+)= A_panel @ B_panel` over `kc` steps.
///
/// # Safety
/// The CPU must support AVX-512F. `a` must be readable at `i * lda + p * ka` for `i < MR`,
/// `p < kc` (a packed panel has `lda = 1`, `ka = MR`; rows of A read in place `lda` = the row
/// stride, `ka = 1`), and `b` must hold `NR` readable values at each of `p * ldb`, `p < kc`
/// (a packed panel has `ldb = NR`);
/// `c` must be writable (and readable when `accumulate`) at `i * ldc + j` for every
/// `i < rows <= MR`, `j < cols <= NR`.
#[target_feature(enable = "avx512f")]
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
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    // SAFETY: the caller guarantees kc steps of MR (A, strides lda / ka) and NR (B, stride
    // ldb) readable values.
    unsafe {
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i * lda));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            a = a.add(ka);
            b = b.add(ldb);
        }
    }
    // lanes of each half that lie inside the tile (all of them for a full tile)
    let m0: __mmask16 = if cols >= 16 { 0xffff } else { (1u16 << cols) - 1 };
    let m1: __mmask16 = if cols >= NR {
        0xffff
    } else if cols > 16 {
        (1u16 << (cols - 16)) - 1
    } else {
        0
    };
    for (i, row) in acc.iter().enumerate() {
        if i >= rows {
            break;
        }
        // SAFETY: row i < rows and the masks cover only columns < cols, as the caller allows.
        unsafe {
            let p = c.add(i * ldc);
            let (mut v0, mut v1) = (row[0], row[1]);
            if accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, p));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, p.add(16)));
            }
            _mm512_mask_storeu_ps(p, m0, v0);
            _mm512_mask_storeu_ps(p.add(16), m1, v1);
        }
    }
}
