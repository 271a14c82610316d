//! The time loops of [`LstmSequence`](super::LstmSequence), split across threads by batch
//! rows.
//!
//! Each batch entry's recurrence reads only its own rows of every buffer (its `h_{t-1}`, its
//! gates, its cell state), so the batch can be cut into parts that run all `T` steps on their
//! own, one part per thread, with one fork for the whole sequence and no synchronization per
//! step. Splitting each step's product across threads instead (by columns of `W_hh^T`) costs a
//! fork and a join per step, 100 per W7 training step, and leaves the cell's pointwise work on
//! one thread. Here each thread reads all of the packed weight (1 MiB for H = 256: it stays in
//! that core's L2) and runs the cell for its rows. Results do not depend on the split: every
//! output element is the same dot product in the same order whichever part computes it.

use super::{threads_for, Recurrent};
use crate::cpu::lstm_kernels::{cell_backward, cell_forward};
use std::ops::Range;
use std::sync::Mutex;

/// Below this many multiply-adds in the whole recurrence one thread runs it: a fork costs a
/// few microseconds.
const SPLIT_MACS: usize = 1 << 22;

/// One part's (dh, dc) rows when its backward loop is done.
type PartState<T> = (Vec<T>, Vec<T>);

/// The batch rows of each part: about equal, one per thread of rayon's pool.
pub(super) fn row_parts(t_len: usize, b: usize, hs: usize) -> Vec<Range<usize>> {
    let threads = rayon::current_num_threads().min(b);
    if threads < 2 || t_len * b * 4 * hs * hs < SPLIT_MACS {
        return std::iter::once(0..b).collect();
    }
    let per = b.div_ceil(threads);
    (0..b).step_by(per).map(|r0| r0..(r0 + per).min(b)).collect()
}

/// Threads for one step's product inside part `rows` of `parts`: the part's own thread when
/// the batch is split, else as many as the product is worth.
fn product_threads(parts: usize, m: usize, k: usize, n: usize) -> usize {
    if parts > 1 {
        1
    } else {
        threads_for(m, k, n)
    }
}

/// Runs `f` on every part, in parallel when there are several.
fn for_parts(parts: &[Range<usize>], f: impl Fn(Range<usize>) + Sync) {
    if let [only] = parts {
        return f(only.clone());
    }
    use rayon::prelude::*;
    parts.par_iter().for_each(|r| f(r.clone()));
}

/// A `[T', B, width]` buffer written by several parts at once, each through its own rows.
struct RowsOf<T> {
    ptr: *mut T,
    len: usize,
    b: usize,
    width: usize,
}

// SAFETY: parts only form slices of disjoint batch rows (see `rows`), and the buffer outlives
// the parallel section (it is borrowed mutably for the whole of `for_parts`).
unsafe impl<T: Send> Send for RowsOf<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for RowsOf<T> {}

impl<T> RowsOf<T> {
    fn new(buf: &mut [T], b: usize, width: usize) -> Self {
        RowsOf {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            b,
            width,
        }
    }

    /// Rows `rows` of slice `t`.
    ///
    /// # Safety
    /// No other live slice of this buffer may overlap the one returned: each part asks only
    /// for its own rows, and within a part for different slices `t` or disjoint borrows.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, t: usize, rows: &Range<usize>) -> &mut [T] {
        let start = (t * self.b + rows.start) * self.width;
        let len = rows.len() * self.width;
        assert!(start + len <= self.len, "lstm loops: rows out of range");
        // SAFETY: in bounds (asserted); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// The rows `rows` of slice `t` of a read-only `[T', B, width]` buffer.
fn rows_of<'a, T>(buf: &'a [T], t: usize, b: usize, width: usize, rows: &Range<usize>) -> &'a [T] {
    &buf[(t * b + rows.start) * width..(t * b + rows.end) * width]
}

/// The forward steps over preallocated buffers: `(states, cells, gates, tanh_c)` as
/// [`LstmSequence`](super::LstmSequence) keeps them.
#[allow(clippy::type_complexity)]
pub(super) fn forward_loop<T: Recurrent>(
    gx: &[T],
    h0: &[T],
    c0: &[T],
    t_len: usize,
    b: usize,
    hs: usize,
    w_t: &T::Prepared,
) -> (Vec<T>, Vec<T>, Vec<T>, Vec<T>) {
    let bh = b * hs;
    let mut states = vec![T::ZERO; (t_len + 2) * bh];
    let mut cells = vec![T::ZERO; (t_len + 1) * bh];
    let mut gates = vec![T::ZERO; t_len * 4 * bh];
    let mut tanh_c = vec![T::ZERO; t_len * bh];
    states[..bh].copy_from_slice(h0);
    cells[..bh].copy_from_slice(c0);
    let parts = row_parts(t_len, b, hs);
    {
        let (st, ce) = (RowsOf::new(&mut states, b, hs), RowsOf::new(&mut cells, b, hs));
        let (ga, th) = (RowsOf::new(&mut gates, b, 4 * hs), RowsOf::new(&mut tanh_c, b, hs));
        let threads = product_threads(parts.len(), b.div_ceil(parts.len()), hs, 4 * hs);
        for_parts(&parts, |rows| {
            for t in 0..t_len {
                // SAFETY: this part's rows only; slices t and t + 1 of `states` and `cells`
                // are different slices.
                let (h_prev, h, c_prev, c, g, tc) = unsafe {
                    (
                        &*st.rows(t, &rows),
                        st.rows(t + 1, &rows),
                        &*ce.rows(t, &rows),
                        ce.rows(t + 1, &rows),
                        ga.rows(t, &rows),
                        th.rows(t, &rows),
                    )
                };
                // h_{t-1} W_hh^T into the gates rows; the cell kernel adds gx_t
                T::product(w_t, rows.len(), h_prev, g, false, threads);
                cell_forward(g, Some(rows_of(gx, t, b, 4 * hs, &rows)), c_prev, c, tc, h, hs);
            }
        });
    }
    states[(t_len + 1) * bh..].copy_from_slice(&cells[t_len * bh..]);
    (states, cells, gates, tanh_c)
}

/// The backward steps: `(dgates [T, B, 4H], dh0 if wanted, dc0)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_loop<T: Recurrent>(
    gates: &[T],
    tanh_c: &[T],
    cells: &[T],
    g_out: &[T],
    g_c: &[T],
    t_len: usize,
    b: usize,
    hs: usize,
    w: &T::Prepared,
    want_dh0: bool,
) -> (Vec<T>, Option<Vec<T>>, Vec<T>) {
    let bh = b * hs;
    let mut dgx = vec![T::ZERO; t_len * 4 * bh];
    let mut dh0 = want_dh0.then(|| vec![T::ZERO; bh]);
    let mut dc0 = vec![T::ZERO; bh];
    let parts = row_parts(t_len, b, hs);
    // each part's (dh_0, dc_0) rows, copied into place after the parallel section
    let results: Vec<Mutex<Option<PartState<T>>>> = parts.iter().map(|_| Mutex::new(None)).collect();
    {
        let dg = RowsOf::new(&mut dgx, b, 4 * hs);
        let threads = product_threads(parts.len(), b.div_ceil(parts.len()), 4 * hs, hs);
        for_parts(&parts, |rows| {
            let m = rows.len();
            let mut dh = rows_of(g_out, t_len - 1, b, hs, &rows).to_vec();
            let mut dc = rows_of(g_c, 0, b, hs, &rows).to_vec();
            let mut dh_prev = vec![T::ZERO; m * hs];
            for t in (0..t_len).rev() {
                // SAFETY: this part's rows of slice t only.
                let dpre = unsafe { dg.rows(t, &rows) };
                cell_backward(
                    rows_of(gates, t, b, 4 * hs, &rows),
                    rows_of(tanh_c, t, b, hs, &rows),
                    rows_of(cells, t, b, hs, &rows),
                    &dh,
                    &mut dc,
                    dpre,
                    hs,
                );
                // dh_{t-1} = g_{t-1} + dpre_t W_hh (dh_0 without an output gradient)
                if t > 0 {
                    dh_prev.copy_from_slice(rows_of(g_out, t - 1, b, hs, &rows));
                } else if !want_dh0 {
                    break;
                }
                T::product(w, m, dpre, &mut dh_prev, t > 0, threads);
                std::mem::swap(&mut dh, &mut dh_prev);
            }
            let idx = parts.iter().position(|p| *p == rows).expect("a listed part");
            *results[idx].lock().unwrap_or_else(|e| e.into_inner()) = Some((dh, dc));
        });
    }
    for (rows, r) in parts.iter().zip(results) {
        let (dh, dc) = r
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("every part ran");
        let span = rows.start * hs..rows.end * hs;
        dc0[span.clone()].copy_from_slice(&dc);
        if let Some(d) = dh0.as_mut() {
            d[span].copy_from_slice(&dh);
        }
    }
    (dgx, dh0, dc0)
}
