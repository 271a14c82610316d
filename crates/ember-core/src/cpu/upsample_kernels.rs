//! Upsampling kernels over `[H, W]` planes, with PyTorch's source-index formulas: nearest
//! (a gather by row / column index maps) and bilinear (two taps and two weights per axis),
//! each with its adjoint.

use crate::cpu::math::Float;

/// PyTorch's nearest source index (`nearest_idx`): exact for equal sizes and for 2x, else
/// `min(floor(dst * (in / out)), in - 1)` computed in f32, as PyTorch does for every dtype.
pub fn nearest_index(dst: usize, in_len: usize, out_len: usize) -> usize {
    if out_len == in_len {
        dst
    } else if out_len == 2 * in_len {
        dst >> 1
    } else {
        let scale = in_len as f32 / out_len as f32;
        ((dst as f32 * scale).floor() as usize).min(in_len - 1)
    }
}

/// Source index of every output position along an axis.
pub fn nearest_indices(in_len: usize, out_len: usize) -> Vec<usize> {
    (0..out_len).map(|d| nearest_index(d, in_len, out_len)).collect()
}

/// `y[r, c] = x[rows[r], cols[c]]` for one plane of width `w`.
pub fn nearest_forward<T: Float>(x: &[T], w: usize, rows: &[usize], cols: &[usize], y: &mut [T]) {
    for (yr, &r) in y.chunks_exact_mut(cols.len()).zip(rows) {
        let xr = &x[r * w..(r + 1) * w];
        for (o, &c) in yr.iter_mut().zip(cols) {
            *o = xr[c];
        }
    }
}

/// The adjoint of `nearest_forward`: `gx[rows[r], cols[c]] += gy[r, c]`.
pub fn nearest_adjoint<T: Float>(gy: &[T], w: usize, rows: &[usize], cols: &[usize], gx: &mut [T]) {
    for (gr, &r) in gy.chunks_exact(cols.len()).zip(rows) {
        let xr = &mut gx[r * w..(r + 1) * w];
        for (&g, &c) in gr.iter().zip(cols) {
            xr[c] = xr[c] + g;
        }
    }
}

/// One output position of linear interpolation along an axis: the two source taps and their
/// weights (`i1 == i0` at the edge).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Taps<T> {
    pub i0: usize,
    pub i1: usize,
    pub l0: T,
    pub l1: T,
}

/// PyTorch's linear interpolation taps (`compute_source_index_and_lambda`), in `T`.
pub fn linear_taps<T: Float>(in_len: usize, out_len: usize, align_corners: bool) -> Vec<Taps<T>> {
    let scale = if align_corners {
        if out_len > 1 {
            T::c((in_len - 1) as f64) / T::c((out_len - 1) as f64)
        } else {
            T::ZERO
        }
    } else {
        T::c(in_len as f64) / T::c(out_len as f64)
    };
    (0..out_len)
        .map(|d| {
            if in_len == out_len {
                return Taps {
                    i0: d,
                    i1: d,
                    l0: T::ONE,
                    l1: T::ZERO,
                };
            }
            let src = if align_corners {
                scale * T::c(d as f64)
            } else {
                let s = scale * (T::c(d as f64) + T::c(0.5)) - T::c(0.5);
                if s < T::ZERO {
                    T::ZERO
                } else {
                    s
                }
            };
            let i0 = (src.floor().f64() as usize).min(in_len - 1);
            let mut l1 = src - T::c(i0 as f64);
            if l1 < T::ZERO {
                l1 = T::ZERO;
            } else if l1 > T::ONE {
                l1 = T::ONE;
            }
            let i1 = i0 + usize::from(i0 < in_len - 1);
            Taps {
                i0,
                i1,
                l0: T::ONE - l1,
                l1,
            }
        })
        .collect()
}

/// Bilinear interpolation of one plane of width `w`, in PyTorch's order of operations.
pub fn bilinear_forward<T: Float>(x: &[T], w: usize, rows: &[Taps<T>], cols: &[Taps<T>], y: &mut [T]) {
    for (yr, r) in y.chunks_exact_mut(cols.len()).zip(rows) {
        let (x0, x1) = (&x[r.i0 * w..(r.i0 + 1) * w], &x[r.i1 * w..(r.i1 + 1) * w]);
        for (o, c) in yr.iter_mut().zip(cols) {
            let top = x0[c.i0] * c.l0 + x0[c.i1] * c.l1;
            let bottom = x1[c.i0] * c.l0 + x1[c.i1] * c.l1;
            *o = top * r.l0 + bottom * r.l1;
        }
    }
}

/// The adjoint of `bilinear_forward`: each output spreads its gradient over its four taps.
pub fn bilinear_adjoint<T: Float>(gy: &[T], w: usize, rows: &[Taps<T>], cols: &[Taps<T>], gx: &mut [T]) {
    for (gr, r) in gy.chunks_exact(cols.len()).zip(rows) {
        for (&g, c) in gr.iter().zip(cols) {
            let mut add = |i: usize, v: T| gx[i] = gx[i] + v;
            add(r.i0 * w + c.i0, r.l0 * c.l0 * g);
            add(r.i0 * w + c.i1, r.l0 * c.l1 * g);
            add(r.i1 * w + c.i0, r.l1 * c.l0 * g);
            add(r.i1 * w + c.i1, r.l1 * c.l1 * g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_indices_follow_pytorch() {
        assert_eq!(nearest_indices(2, 4), vec![0, 0, 1, 1]);
        assert_eq!(nearest_indices(3, 5), vec![0, 0, 1, 1, 2]);
        assert_eq!(nearest_indices(4, 2), vec![0, 2]);
        assert_eq!(nearest_indices(5, 3), vec![0, 1, 3]);
    }

    #[test]
    fn linear_taps_half_pixel_and_align_corners() {
        let t = linear_taps::<f64>(2, 4, false);
        // src = 0.5 * (d + 0.5) - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25
        assert_eq!((t[0].i0, t[0].i1, t[0].l1), (0, 1, 0.0));
        assert_eq!((t[1].i0, t[1].i1, t[1].l1), (0, 1, 0.25));
        assert_eq!((t[3].i0, t[3].i1, t[3].l1), (1, 1, 0.25));
        let a = linear_taps::<f64>(3, 5, true);
        assert_eq!((a[1].i0, a[1].l1), (0, 0.5));
        assert_eq!((a[4].i0, a[4].i1, a[4].l1), (2, 2, 0.0));
    }
}
