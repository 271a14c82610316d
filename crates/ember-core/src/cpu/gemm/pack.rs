//! Packing operands into the panel layouts the microkernels stream through.
//!
//! A is cut into panels of `mr` rows, each stored k-major (`[k][mr]`), so a kernel reads the
//! `mr` values of one k step from one cache line. B is cut into panels of `nr` columns, each
//! stored k-major (`[k][nr]`), so one k step is `nr / 16` aligned vector loads. Rows or columns
//! past the matrix edge are zero, so the kernels never branch on tails inside the k loop; a
//! k range `p0..p1` of a panel is the contiguous slice starting at `p0 * mr` (or `p0 * nr`).

use super::MatRef;

/// The largest `mr` of any kernel (AVX-512: 8).
const MAX_MR: usize = 16;

/// Packs rows `r0..r0 + rows` of A (all k columns) into `ceil(rows / mr)` panels of `k * mr`.
pub(crate) fn pack_a(a: &MatRef<'_>, r0: usize, rows: usize, k: usize, mr: usize, out: &mut [f32]) {
    let panels = rows.div_ceil(mr);
    debug_assert!(out.len() >= panels * k * mr);
    for ip in 0..panels {
        let panel = &mut out[ip * k * mr..(ip + 1) * k * mr];
        let live = mr.min(rows - ip * mr);
        let base = a.off + (r0 + ip * mr) * a.rs;
        if a.cs == 1 && live == mr && mr <= MAX_MR {
            // rows contiguous (activations): cut the `mr` row slices once, so the transpose
            // below runs without index arithmetic or bounds checks per element
            let mut rows: [&[f32]; MAX_MR] = [&[]; MAX_MR];
            for (i, r) in rows[..mr].iter_mut().enumerate() {
                let start = base + i * a.rs;
                *r = &a.data[start..start + k];
            }
            let rows = &rows[..mr];
            for (p, step) in panel.chunks_exact_mut(mr).enumerate() {
                for (v, r) in step.iter_mut().zip(rows) {
                    // SAFETY: p < k (the panel holds k steps) and every row slice is k long
                    *v = unsafe { *r.get_unchecked(p) };
                }
            }
            continue;
        }
        // k outer, rows inner: the panel is written in order while `live` row streams are read
        for (p, step) in panel.chunks_exact_mut(mr).enumerate() {
            let col = base + p * a.cs;
            for (i, v) in step[..live].iter_mut().enumerate() {
                *v = a.data[col + i * a.rs];
            }
            step[live..].fill(0.0);
        }
    }
}

/// Packs columns `c0..c0 + cols` of B (all k rows) into `ceil(cols / nr)` panels of `k * nr`.
pub(crate) fn pack_b(b: &MatRef<'_>, c0: usize, cols: usize, k: usize, nr: usize, out: &mut [f32]) {
    let panels = cols.div_ceil(nr);
    debug_assert!(out.len() >= panels * k * nr);
    for jp in 0..panels {
        let panel = &mut out[jp * k * nr..(jp + 1) * k * nr];
        let j0 = c0 + jp * nr;
        let live = nr.min(cols - jp * nr);
        if b.cs == 1 {
            // rows of B are contiguous: copy `live` values per k step
            for p in 0..k {
                let base = b.off + p * b.rs + j0;
                let dst = &mut panel[p * nr..(p + 1) * nr];
                dst[..live].copy_from_slice(&b.data[base..base + live]);
                dst[live..].fill(0.0);
            }
        } else {
            // columns contiguous (a transposed weight): walk each column down k, a block of k
            // steps at a time so the panel lines being filled stay in L1
            for p in 0..k {
                panel[p * nr + live..(p + 1) * nr].fill(0.0);
            }
            const PB: usize = 64;
            for pb in (0..k).step_by(PB) {
                let pe = (pb + PB).min(k);
                for j in 0..live {
                    let base = b.off + (j0 + j) * b.cs;
                    for p in pb..pe {
                        panel[p * nr + j] = b.data[base + p * b.rs];
                    }
                }
            }
        }
    }
}
