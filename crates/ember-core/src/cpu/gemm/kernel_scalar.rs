//! The portable microkernel (no SIMD assumptions; the compiler vectorizes what it can), and
//! the edge-tile store the SIMD kernels share.

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 8;

/// `C[..rows, ..cols] (+)= A_panel @ B_panel` over `kc` steps.
///
/// # Safety
/// Pointer requirements as [`super::kernel_avx512::kernel`], with this file's `MR` and `NR`.
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
    let mut tile = [0f32; MR * NR];
    for p in 0..kc {
        // SAFETY: the caller guarantees readable values at `a + i * lda + p * ka` (i < MR)
        // and NR at `b + p * ldb` for p < kc.
        let (ap, bp) = unsafe {
            (
                std::array::from_fn::<f32, MR, _>(|i| *a.add(i * lda + p * ka)),
                std::slice::from_raw_parts(b.add(p * ldb), NR),
            )
        };
        for i in 0..MR {
            for j in 0..NR {
                // a plain multiply-add: `mul_add` is a slow libm call where FMA is missing
                tile[i * NR + j] += ap[i] * bp[j];
            }
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_tile(&tile, NR, c, ldc, accumulate, rows, cols) };
}

/// Writes (or adds) the live `rows x cols` corner of a row-major tile with row length `nr`.
///
/// # Safety
/// `c` must be writable (and readable when `accumulate`) at `i * ldc + j`, `i < rows`, `j < cols`.
pub(crate) unsafe fn store_tile(
    tile: &[f32],
    nr: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    rows: usize,
    cols: usize,
) {
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: i < rows, j < cols, as the caller allows.
            unsafe {
                let p = c.add(i * ldc + j);
                *p = if accumulate {
                    *p + tile[i * nr + j]
                } else {
                    tile[i * nr + j]
                };
            }
        }
    }
}
