//! Pooling kernels over `[H, W]` planes: max pooling (values and PyTorch's flat indices),
//! gathers / scatters by those indices, average pooling and adaptive average pooling with
//! their adjoints. Planes are independent, so large inputs split over threads by planes.

use super::{PAR_CHUNK, PAR_THRESHOLD};
use crate::cpu::math::Float;
use rayon::prelude::*;

/// Run `f(plane, src, dst)` for each of `planes` planes (`src_len` / `dst_len` elements each),
/// with `dst` starting as `init`; in parallel by groups of planes when the data is large.
pub fn for_each_plane<T: Sync, U: Send + Sync + Copy>(
    src: &[T],
    planes: usize,
    src_len: usize,
    dst_len: usize,
    init: U,
    f: impl Fn(usize, &[T], &mut [U]) + Sync,
) -> Vec<U> {
    let mut dst = vec![init; planes * dst_len];
    if dst.is_empty() {
        return dst;
    }
    let work = planes * (src_len + dst_len);
    let per_chunk = (PAR_CHUNK / (src_len + dst_len).max(1)).max(1);
    let body = |(ci, d): (usize, &mut [U])| {
        for (j, dp) in d.chunks_exact_mut(dst_len).enumerate() {
            let p = ci * per_chunk + j;
            f(p, &src[p * src_len..(p + 1) * src_len], dp);
        }
    };
    if work >= PAR_THRESHOLD && planes > 1 {
        dst.par_chunks_mut(per_chunk * dst_len).enumerate().for_each(body);
    } else {
        dst.chunks_mut(per_chunk * dst_len).enumerate().for_each(body);
    }
    dst
}

/// A pooling window: kernel, stride, padding and dilation over an input of `in_hw`, giving
/// `out_hw` outputs. Window `(oy, ox)` covers rows `oy * stride - pad + i * dilation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

impl Window {
    /// The in-range taps of window `o` along axis `a`: first input position, tap count, step.
    #[inline]
    fn taps(&self, a: usize, o: usize) -> (usize, usize, usize) {
        let (d, len) = (self.dilation[a], self.in_hw[a]);
        let start = o * self.stride[a];
        // skip taps in the leading padding
        let skip = if start < self.pad[a] {
            (self.pad[a] - start).div_ceil(d)
        } else {
            0
        };
        let first = start + skip * d - self.pad[a];
        if skip >= self.kernel[a] || first >= len {
            return (first, 0, d);
        }
        let count = ((len - 1 - first) / d + 1).min(self.kernel[a] - skip);
        (first, count, d)
    }

    fn is_2x2(&self) -> bool {
        self.kernel == [2, 2]
            && self.stride == [2, 2]
            && self.pad == [0, 0]
            && self.dilation == [1, 1]
            && 2 * self.out_hw[0] <= self.in_hw[0]
            && 2 * self.out_hw[1] <= self.in_hw[1]
    }
}

/// PyTorch's max update: a larger value or a NaN replaces the current maximum (ties keep the
/// first, NaN propagates).
#[inline(always)]
fn better<T: Float>(v: T, best: T) -> bool {
    v > best || v.is_nan()
}

/// Max pooling of one plane: the maximum of each window and its flat index `ih * W + iw`.
fn max_plane<T: Float>(x: &[T], win: &Window, vals: &mut [T], idx: &mut [i64]) {
    let [_, w] = win.in_hw;
    let ow = win.out_hw[1];
    let neg_inf = T::c(f64::NEG_INFINITY);
    if win.is_2x2() {
        for (oy, (vr, ir)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
            let (r0, r1) = (&x[2 * oy * w..(2 * oy + 1) * w], &x[(2 * oy + 1) * w..(2 * oy + 2) * w]);
            let base = (2 * oy * w) as i64;
            for (ox, (v, i)) in vr.iter_mut().zip(ir.iter_mut()).enumerate() {
                let c = 2 * ox;
                let (mut bv, mut bi) = (r0[c], c as i64);
                if better(r0[c + 1], bv) {
                    (bv, bi) = (r0[c + 1], c as i64 + 1);
                }
                if better(r1[c], bv) {
                    (bv, bi) = (r1[c], (c + w) as i64);
                }
                if better(r1[c + 1], bv) {
                    (bv, bi) = (r1[c + 1], (c + w) as i64 + 1);
                }
                *v = bv;
                *i = base + bi;
            }
        }
        return;
    }
    for oy in 0..win.out_hw[0] {
        let (y0, ny, dy) = win.taps(0, oy);
        for ox in 0..ow {
            let (x0, nx, dx) = win.taps(1, ox);
            let (mut bv, mut bi) = (neg_inf, (y0 * w + x0) as i64);
            for iy in (0..ny).map(|t| y0 + t * dy) {
                for ix in (0..nx).map(|t| x0 + t * dx) {
                    let v = x[iy * w + ix];
                    if better(v, bv) {
                        (bv, bi) = (v, (iy * w + ix) as i64);
                    }
                }
            }
            vals[oy * ow + ox] = bv;
            idx[oy * ow + ox] = bi;
        }
    }
}

/// Max pooling of `planes` contiguous planes: (values, flat indices into each input plane).
pub fn max_pool2d<T: Float>(x: &[T], planes: usize, win: &Window) -> (Vec<T>, Vec<i64>) {
    let (src_len, dst_len) = (win.in_hw[0] * win.in_hw[1], win.out_hw[0] * win.out_hw[1]);
    let mut vals = vec![T::ZERO; planes * dst_len];
    let mut idx = vec![0i64; planes * dst_len];
    if vals.is_empty() {
        return (vals, idx);
    }
    let per_chunk = (PAR_CHUNK / (src_len + dst_len).max(1)).max(1);
    let body = |(ci, (v, i)): (usize, (&mut [T], &mut [i64]))| {
        for (j, (vp, ip)) in v.chunks_exact_mut(dst_len).zip(i.chunks_exact_mut(dst_len)).enumerate() {
            let p = ci * per_chunk + j;
            max_plane(&x[p * src_len..(p + 1) * src_len], win, vp, ip);
        }
    };
    if planes * (src_len + dst_len) >= PAR_THRESHOLD && planes > 1 {
        vals.par_chunks_mut(per_chunk * dst_len)
            .zip(idx.par_chunks_mut(per_chunk * dst_len))
            .enumerate()
            .for_each(body);
    } else {
        vals.chunks_mut(per_chunk * dst_len)
            .zip(idx.chunks_mut(per_chunk * dst_len))
            .enumerate()
            .for_each(body);
    }
    (vals, idx)
}

/// `y[p, i] = x[p, idx[p, i]]`: gather each output plane from its input plane by flat indices
/// (the gradient of a max-pool gradient). Out-of-range indices read zero.
pub fn gather_planes<T: Float>(x: &[T], idx: &[i64], planes: usize, src_len: usize, dst_len: usize) -> Vec<T> {
    for_each_plane(x, planes, src_len, dst_len, T::ZERO, |p, xp, yp| {
        for (y, &i) in yp.iter_mut().zip(&idx[p * dst_len..(p + 1) * dst_len]) {
            *y = usize::try_from(i)
                .ok()
                .and_then(|i| xp.get(i))
                .copied()
                .unwrap_or(T::ZERO);
        }
    })
}

/// `gx[p, idx[p, i]] += gy[p, i]`: the adjoint of `gather_planes` (the max-pool gradient).
/// Out-of-range indices are skipped.
pub fn scatter_planes<T: Float>(gy: &[T], idx: &[i64], planes: usize, src_len: usize, dst_len: usize) -> Vec<T> {
    for_each_plane(gy, planes, src_len, dst_len, T::ZERO, |p, gp, xp| {
        for (&g, &i) in gp.iter().zip(&idx[p * src_len..(p + 1) * src_len]) {
            if let Some(d) = usize::try_from(i).ok().and_then(|i| xp.get_mut(i)) {
                *d = *d + g;
            }
        }
    })
}

/// An average-pooling window (no dilation) and PyTorch's divisor rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgWindow {
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub count_include_pad: bool,
}

impl AvgWindow {
    /// Input range of window `o` along axis `a` (clipped to the input) and its extent clipped
    /// only to the padded input, which `count_include_pad` divides by.
    #[inline]
    fn range(&self, a: usize, o: usize) -> (usize, usize, usize) {
        let (len, pad) = (self.in_hw[a] as isize, self.pad[a] as isize);
        let start = (o * self.stride[a]) as isize - pad;
        let end = (start + self.kernel[a] as isize).min(len + pad);
        let padded = (end - start) as usize;
        let (s, e) = (start.max(0), end.min(len));
        (s as usize, (e.max(s)) as usize, padded)
    }

    /// For each window: its row range, column range and divisor (None for an empty window).
    fn for_each_window(&self, mut f: impl FnMut(usize, (usize, usize), (usize, usize), usize)) {
        let ow = self.out_hw[1];
        for oy in 0..self.out_hw[0] {
            let (ys, ye, ph) = self.range(0, oy);
            for ox in 0..ow {
                let (xs, xe, pw) = self.range(1, ox);
                if ys >= ye || xs >= xe {
                    continue;
                }
                let div = if self.count_include_pad {
                    ph * pw
                } else {
                    (ye - ys) * (xe - xs)
                };
                f(oy * ow + ox, (ys, ye), (xs, xe), div);
            }
        }
    }

    /// Average pooling of one plane (windows entirely in padding give 0).
    pub fn forward<T: Float>(&self, x: &[T], y: &mut [T]) {
        let w = self.in_hw[1];
        self.for_each_window(|o, (ys, ye), (xs, xe), div| {
            let mut sum = T::ZERO;
            for iy in ys..ye {
                for &v in &x[iy * w + xs..iy * w + xe] {
                    sum = sum + v;
                }
            }
            y[o] = sum / T::c(div as f64);
        });
    }

    /// The adjoint of `forward`: each window spreads `gy / divisor` over its inputs.
    pub fn adjoint<T: Float>(&self, gy: &[T], gx: &mut [T]) {
        let w = self.in_hw[1];
        self.for_each_window(|o, (ys, ye), (xs, xe), div| {
            let g = gy[o] / T::c(div as f64);
            for iy in ys..ye {
                for d in &mut gx[iy * w + xs..iy * w + xe] {
                    *d = *d + g;
                }
            }
        });
    }
}

/// PyTorch's adaptive pooling bins along one axis: bin `i` of `out` covers
/// `floor(i * len / out) .. ceil((i + 1) * len / out)`.
pub fn adaptive_bins(len: usize, out: usize) -> Vec<(usize, usize)> {
    (0..out)
        .map(|i| (i * len / out, ((i + 1) * len).div_ceil(out)))
        .collect()
}

/// Adaptive average pooling of one plane, given the bins of both axes.
pub fn adaptive_avg_forward<T: Float>(
    x: &[T],
    w: usize,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    y: &mut [T],
) {
    let mut o = 0;
    for &(ys, ye) in rows {
        for &(xs, xe) in cols {
            let mut sum = T::ZERO;
            for iy in ys..ye {
                for &v in &x[iy * w + xs..iy * w + xe] {
                    sum = sum + v;
                }
            }
            y[o] = sum / T::c((ye - ys) as f64) / T::c((xe - xs) as f64);
            o += 1;
        }
    }
}

/// The adjoint of `adaptive_avg_forward`.
pub fn adaptive_avg_adjoint<T: Float>(
    gy: &[T],
    w: usize,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    gx: &mut [T],
) {
    let mut o = 0;
    for &(ys, ye) in rows {
        for &(xs, xe) in cols {
            let g = gy[o] / T::c((ye - ys) as f64) / T::c((xe - xs) as f64);
            for iy in ys..ye {
                for d in &mut gx[iy * w + xs..iy * w + xe] {
                    *d = *d + g;
                }
            }
            o += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_skip_padding_and_clip_to_input() {
        let win = Window {
            in_hw: [5, 5],
            out_hw: [3, 3],
            kernel: [3, 3],
            stride: [2, 2],
            pad: [1, 1],
            dilation: [1, 1],
        };
        assert_eq!(win.taps(0, 0), (0, 2, 1));
        assert_eq!(win.taps(0, 1), (1, 3, 1));
        assert_eq!(win.taps(0, 2), (3, 2, 1));
        let dil = Window {
            in_hw: [4, 4],
            out_hw: [2, 2],
            kernel: [2, 2],
            stride: [1, 1],
            pad: [1, 1],
            dilation: [2, 2],
        };
        // window 0 covers -1 and 1: only 1 is inside
        assert_eq!(dil.taps(0, 0), (1, 1, 2));
        assert_eq!(dil.taps(0, 1), (0, 2, 2));
    }

    #[test]
    fn adaptive_bins_overlap_like_pytorch() {
        assert_eq!(adaptive_bins(5, 3), vec![(0, 2), (1, 4), (3, 5)]);
        assert_eq!(adaptive_bins(4, 2), vec![(0, 2), (2, 4)]);
        assert_eq!(adaptive_bins(2, 4), vec![(0, 1), (0, 1), (1, 2), (1, 2)]);
    }

    #[test]
    fn two_by_two_fast_path_matches_general_path() {
        let x: Vec<f32> = (0..36).map(|i| ((i * 7) % 10) as f32).collect();
        let fast = Window {
            in_hw: [6, 6],
            out_hw: [3, 3],
            kernel: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
            dilation: [1, 1],
        };
        let (v1, i1) = max_pool2d(&x, 1, &fast);
        // a direct scan of each window (first maximum wins)
        let mut v2 = vec![0.0; 9];
        let mut i2 = vec![0; 9];
        for oy in 0..3 {
            for ox in 0..3 {
                let mut best = (f32::NEG_INFINITY, 0i64);
                for dy in 0..2 {
                    for dx in 0..2 {
                        let i = (2 * oy + dy) * 6 + 2 * ox + dx;
                        if x[i] > best.0 {
                            best = (x[i], i as i64);
                        }
                    }
                }
                v2[oy * 3 + ox] = best.0;
                i2[oy * 3 + ox] = best.1;
            }
        }
        assert_eq!(v1, v2);
        assert_eq!(i1, i2);
    }
}
