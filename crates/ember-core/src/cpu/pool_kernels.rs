//! Pooling kernels over `[H, W]` planes: max pooling (values and PyTorch's flat indices),
//! gathers / scatters by those indices, average pooling and adaptive average pooling with
//! their adjoints. Planes are independent, so large inputs split over threads by planes.

use super::{PAR_CHUNK, PAR_THRESHOLD};
use crate::cpu::math::Float;
use rayon::prelude::*;
use std::hint::select_unpredictable;
use std::mem::MaybeUninit;

/// Run `f(plane, src, dst)` for each of `planes` planes (`src_len` / `dst_len` elements each);
/// `f` must write every element of `dst`. Runs in parallel by groups of planes when the data
/// is large, and allocates the output without a separate zero-fill pass.
pub fn map_planes<T: Sync, U: Send>(
    src: &[T],
    planes: usize,
    src_len: usize,
    dst_len: usize,
    f: impl Fn(usize, &[T], &mut [MaybeUninit<U>]) + Sync,
) -> Vec<U> {
    let n = planes * dst_len;
    let mut dst: Vec<U> = Vec::with_capacity(n);
    if n == 0 {
        return dst;
    }
    let per_chunk = (PAR_CHUNK / (src_len + dst_len).max(1)).max(1);
    let body = |(ci, d): (usize, &mut [MaybeUninit<U>])| {
        for (j, dp) in d.chunks_exact_mut(dst_len).enumerate() {
            let p = ci * per_chunk + j;
            f(p, &src[p * src_len..(p + 1) * src_len], dp);
        }
    };
    let spare = &mut dst.spare_capacity_mut()[..n];
    if planes * (src_len + dst_len) >= PAR_THRESHOLD && planes > 1 {
        spare.par_chunks_mut(per_chunk * dst_len).enumerate().for_each(body);
    } else {
        spare.chunks_mut(per_chunk * dst_len).enumerate().for_each(body);
    }
    // SAFETY: `f` writes every element of every plane (its contract), and the planes cover 0..n.
    unsafe { dst.set_len(n) };
    dst
}

/// `map_planes` with two outputs per plane (`f` must write every element of both).
pub fn map_planes2<T: Sync, U: Send, V: Send>(
    src: &[T],
    planes: usize,
    src_len: usize,
    dst_len: usize,
    f: impl Fn(&[T], &mut [MaybeUninit<U>], &mut [MaybeUninit<V>]) + Sync,
) -> (Vec<U>, Vec<V>) {
    let n = planes * dst_len;
    let (mut us, mut vs): (Vec<U>, Vec<V>) = (Vec::with_capacity(n), Vec::with_capacity(n));
    if n == 0 {
        return (us, vs);
    }
    let per_chunk = (PAR_CHUNK / (src_len + dst_len).max(1)).max(1);
    type Slots<'a, U, V> = (&'a mut [MaybeUninit<U>], &'a mut [MaybeUninit<V>]);
    let body = |(ci, (u, v)): (usize, Slots<'_, U, V>)| {
        for (j, (up, vp)) in u.chunks_exact_mut(dst_len).zip(v.chunks_exact_mut(dst_len)).enumerate() {
            let p = ci * per_chunk + j;
            f(&src[p * src_len..(p + 1) * src_len], up, vp);
        }
    };
    let (su, sv) = (&mut us.spare_capacity_mut()[..n], &mut vs.spare_capacity_mut()[..n]);
    if planes * (src_len + dst_len) >= PAR_THRESHOLD && planes > 1 {
        su.par_chunks_mut(per_chunk * dst_len)
            .zip(sv.par_chunks_mut(per_chunk * dst_len))
            .enumerate()
            .for_each(body);
    } else {
        su.chunks_mut(per_chunk * dst_len)
            .zip(sv.chunks_mut(per_chunk * dst_len))
            .enumerate()
            .for_each(body);
    }
    // SAFETY: `f` writes every element of both outputs of every plane (its contract).
    unsafe {
        us.set_len(n);
        vs.set_len(n);
    }
    (us, vs)
}

/// `map_planes` for kernels that accumulate: each output plane starts as zeros (filled just
/// before `f` runs on it, while it is in cache).
pub fn for_each_plane<T: Sync, U: Float>(
    src: &[T],
    planes: usize,
    src_len: usize,
    dst_len: usize,
    f: impl Fn(usize, &[T], &mut [U]) + Sync,
) -> Vec<U> {
    map_planes(src, planes, src_len, dst_len, |p, s, d| {
        for v in d.iter_mut() {
            v.write(U::ZERO);
        }
        // SAFETY: every element was just initialized; `MaybeUninit<U>` has the layout of `U`.
        f(p, s, unsafe { &mut *(d as *mut [MaybeUninit<U>] as *mut [U]) })
    })
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

    /// A 2x2 window with stride 2 and no padding or dilation, entirely inside the input:
    /// the common pooling layer, with fast paths.
    pub fn is_2x2(&self) -> bool {
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

/// The maximum of one 2x2 window (`a*` the top row, `b*` the bottom one) and its offset in
/// window order (0..4), by PyTorch's rule; written as selects, so loops over windows vectorize
/// (measured: explicit `select_unpredictable` here defeats the vectorizer and runs slower).
#[inline(always)]
fn max_2x2<T: Float>(a0: T, a1: T, b0: T, b1: T) -> (T, u8) {
    let (v, o) = (a0, 0u8);
    let c = better(a1, v);
    let (v, o) = (if c { a1 } else { v }, if c { 1 } else { o });
    let c = better(b0, v);
    let (v, o) = (if c { b0 } else { v }, if c { 2 } else { o });
    let c = better(b1, v);
    (if c { b1 } else { v }, if c { 3 } else { o })
}

/// Max pooling with 2x2 windows of stride 2 (`Window::is_2x2`), keeping only each maximum's
/// offset in its window (0..4) instead of a flat i64 index: a quarter of a value's bytes to
/// write and read back in the backward pass.
pub fn max_pool2d_2x2<T: Float>(x: &[T], planes: usize, win: &Window) -> (Vec<T>, Vec<u8>) {
    debug_assert!(win.is_2x2());
    let ([h, w], [oh, ow]) = (win.in_hw, win.out_hw);
    map_planes2(x, planes, h * w, oh * ow, |xp, vp, op| {
        for (oy, (vr, or)) in vp.chunks_exact_mut(ow).zip(op.chunks_exact_mut(ow)).enumerate() {
            // exact-length slices let the compiler drop the bounds checks and vectorize
            let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
            let (vr, or) = (&mut vr[..ow], &mut or[..ow]);
            for j in 0..ow {
                let (v, o) = max_2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
                vr[j].write(v);
                or[j].write(o);
            }
        }
    })
}

/// Values of a 2x2, stride-2 max pool (`Window::is_2x2`) without the argmax: the no-grad
/// (inference) path, which has nothing to remember for a backward pass. About 10x faster
/// than the offsets variant: each row pair is first reduced elementwise (contiguous, so it
/// vectorizes), then adjacent pairs.
pub fn max_pool2d_2x2_values<T: Float>(x: &[T], planes: usize, win: &Window) -> Vec<T> {
    debug_assert!(win.is_2x2());
    let ([h, w], [oh, ow]) = (win.in_hw, win.out_hw);
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && is_x86_feature_detected!("avx512f") {
        // SAFETY: T is f32 (checked above), so the slices reinterpret to themselves.
        let x32 = unsafe { &*(x as *const [T] as *const [f32]) };
        let v = map_planes(x32, planes, h * w, oh * ow, |_, xp, vp| {
            // SAFETY: AVX-512F is present (checked above).
            unsafe { x86::max_values_plane_avx512(xp, w, vp, ow) }
        });
        // SAFETY: T is f32: same type, so the Vec's layout and allocation carry over.
        return unsafe { std::mem::transmute::<Vec<f32>, Vec<T>>(v) };
    }
    map_planes(x, planes, h * w, oh * ow, |_, xp, vp| max_values_plane(xp, w, vp, ow))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// PyTorch's max of two vectors: the larger, or NaN where either is NaN (`vmaxps` returns
    /// its second operand when either is NaN, so only a NaN in `a` needs fixing).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn nanmax(a: __m512, b: __m512) -> __m512 {
        let nan_a = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a);
        _mm512_mask_mov_ps(_mm512_max_ps(a, b), nan_a, a)
    }

    /// One plane of 2x2 max pooling values, 16 outputs per step (tails masked).
    #[target_feature(enable = "avx512f")]
    pub fn max_values_plane_avx512(xp: &[f32], w: usize, vp: &mut [MaybeUninit<f32>], ow: usize) {
        // lanes 0..16 of (lo, hi) -> even / odd elements of the 32
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (oy, vr) in vp.chunks_exact_mut(ow).enumerate() {
            let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
            let mut j = 0;
            while j < ow {
                let len = 16.min(ow - j);
                // masks for the 2 * len inputs over two vectors and the len outputs
                let m_lo = (((1u64 << (2 * len).min(16)) - 1) & 0xffff) as u16;
                let m_hi = (((1u64 << (2 * len).saturating_sub(16)) - 1) & 0xffff) as u16;
                let m_out = ((1u32 << len) - 1) as u16;
                // SAFETY: the masked lanes stay inside r0 / r1 (2 * ow elements from 2 * j) and
                // vr (ow elements from j); masked-off lanes are not touched.
                unsafe {
                    let (p0, p1) = (r0.as_ptr().add(2 * j), r1.as_ptr().add(2 * j));
                    let lo = nanmax(_mm512_maskz_loadu_ps(m_lo, p0), _mm512_maskz_loadu_ps(m_lo, p1));
                    let hi = nanmax(
                        _mm512_maskz_loadu_ps(m_hi, p0.add(16)),
                        _mm512_maskz_loadu_ps(m_hi, p1.add(16)),
                    );
                    let e = _mm512_permutex2var_ps(lo, even, hi);
                    let o = _mm512_permutex2var_ps(lo, odd, hi);
                    _mm512_mask_storeu_ps(vr.as_mut_ptr().add(j).cast::<f32>(), m_out, nanmax(e, o));
                }
                j += len;
            }
        }
    }
}

/// One plane of `max_pool2d_2x2_values`, by PyTorch's max rule (NaN propagates).
#[inline(always)]
fn max_values_plane<T: Float>(xp: &[T], w: usize, vp: &mut [MaybeUninit<T>], ow: usize) {
    const B: usize = 16;
    let max2 = |a: T, b: T| if better(b, a) { b } else { a };
    for (oy, vr) in vp.chunks_exact_mut(ow).enumerate() {
        let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
        for j0 in (0..ow).step_by(B) {
            let len = B.min(ow - j0);
            let mut m = [T::ZERO; 2 * B];
            for (i, mi) in m[..2 * len].iter_mut().enumerate() {
                *mi = max2(r0[2 * j0 + i], r1[2 * j0 + i]);
            }
            for (j, v) in vr[j0..j0 + len].iter_mut().enumerate() {
                v.write(max2(m[2 * j], m[2 * j + 1]));
            }
        }
    }
}

/// Max pooling of one plane: the maximum of each window and its flat index `ih * W + iw`.
fn max_plane<T: Float>(x: &[T], win: &Window, vals: &mut [MaybeUninit<T>], idx: &mut [MaybeUninit<i64>]) {
    let [_, w] = win.in_hw;
    let ow = win.out_hw[1];
    let neg_inf = T::c(f64::NEG_INFINITY);
    if win.is_2x2() {
        for (oy, (vr, ir)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
            let (r0, r1) = (&x[2 * oy * w..][..2 * ow], &x[(2 * oy + 1) * w..][..2 * ow]);
            let (base, wi) = ((2 * oy * w) as i64, w as i64);
            let (vr, ir) = (&mut vr[..ow], &mut ir[..ow]);
            for j in 0..ow {
                let (v, o) = max_2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
                vr[j].write(v);
                ir[j].write(base + 2 * j as i64 + i64::from(o & 1) + i64::from(o >> 1) * wi);
            }
        }
        return;
    }
    // the taps of every row and column window, computed once (they cost divisions)
    let [rows, cols] = [0, 1].map(|a| (0..win.out_hw[a]).map(|o| win.taps(a, o)).collect::<Vec<_>>());
    for (oy, &(y0, ny, dy)) in rows.iter().enumerate() {
        for (ox, &(x0, nx, dx)) in cols.iter().enumerate() {
            let (mut bv, mut bi) = (neg_inf, (y0 * w + x0) as i64);
            for iy in (0..ny).map(|t| y0 + t * dy) {
                for ix in (0..nx).map(|t| x0 + t * dx) {
                    let v = x[iy * w + ix];
                    if better(v, bv) {
                        (bv, bi) = (v, (iy * w + ix) as i64);
                    }
                }
            }
            vals[oy * ow + ox].write(bv);
            idx[oy * ow + ox].write(bi);
        }
    }
}

/// Max pooling of `planes` contiguous planes: (values, flat indices into each input plane).
pub fn max_pool2d<T: Float>(x: &[T], planes: usize, win: &Window) -> (Vec<T>, Vec<i64>) {
    let (src_len, dst_len) = (win.in_hw[0] * win.in_hw[1], win.out_hw[0] * win.out_hw[1]);
    map_planes2(x, planes, src_len, dst_len, |xp, vp, ip| max_plane(xp, win, vp, ip))
}

/// The gradient of a 2x2, stride-2 max pool (`Window::is_2x2`) from window offsets: windows
/// do not overlap, so each input element is written exactly once (the maximum gets `gy`, the
/// rest of its window and the uncovered last row / column get zero), with no zero-fill pass.
pub fn scatter_2x2<T: Float>(gy: &[T], offs: &[u8], planes: usize, win: &Window) -> Vec<T> {
    let ([h, w], [oh, ow]) = (win.in_hw, win.out_hw);
    map_planes(gy, planes, oh * ow, h * w, |p, gp, dst| {
        let op = &offs[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            let (d0, d1) = dst[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
            let (g, o) = (&gp[oy * ow..(oy + 1) * ow], &op[oy * ow..(oy + 1) * ow]);
            let (e0, e1) = (&mut d0[..2 * ow], &mut d1[..2 * ow]);
            for j in 0..ow {
                let pick = |want: u8| select_unpredictable(o[j] == want, g[j], T::ZERO);
                e0[2 * j].write(pick(0));
                e0[2 * j + 1].write(pick(1));
                e1[2 * j].write(pick(2));
                e1[2 * j + 1].write(pick(3));
            }
            for d in d0[2 * ow..].iter_mut().chain(d1[2 * ow..].iter_mut()) {
                d.write(T::ZERO);
            }
        }
        for d in &mut dst[2 * oh * w..] {
            d.write(T::ZERO);
        }
    })
}

/// The adjoint of `scatter_2x2`: each output reads its window's element at the saved offset.
pub fn gather_2x2<T: Float>(x: &[T], offs: &[u8], planes: usize, win: &Window) -> Vec<T> {
    let ([h, w], [oh, ow]) = (win.in_hw, win.out_hw);
    map_planes(x, planes, h * w, oh * ow, |p, xp, yp| {
        let op = &offs[p * oh * ow..(p + 1) * oh * ow];
        for (i, (y, &o)) in yp.iter_mut().zip(op).enumerate() {
            let (oy, ox) = (i / ow, i % ow);
            y.write(xp[(2 * oy + usize::from(o >> 1)) * w + 2 * ox + usize::from(o & 1)]);
        }
    })
}

/// Window offsets (0..4) of flat 2x2 max-pool indices; anything else (indices changed by
/// hand) becomes 4, which selects no element.
pub fn offsets_2x2(idx: &[i64], planes: usize, win: &Window) -> Vec<u8> {
    let ([_, w], [oh, ow]) = (win.in_hw, win.out_hw);
    map_planes(idx, planes, oh * ow, oh * ow, |_, ip, op| {
        for (i, (o, &v)) in op.iter_mut().zip(ip).enumerate() {
            let (oy, ox) = (i / ow, i % ow);
            let rel = v - (2 * oy * w + 2 * ox) as i64;
            let wi = w as i64;
            o.write(match rel {
                0 => 0,
                1 => 1,
                r if r == wi => 2,
                r if r == wi + 1 => 3,
                _ => 4,
            });
        }
    })
}

/// `y[p, i] = x[p, idx[p, i]]`: gather each output plane from its input plane by flat indices
/// (the gradient of a max-pool gradient). Out-of-range indices read zero.
pub fn gather_planes<T: Float>(x: &[T], idx: &[i64], planes: usize, src_len: usize, dst_len: usize) -> Vec<T> {
    map_planes(x, planes, src_len, dst_len, |p, xp, yp| {
        for (y, &i) in yp.iter_mut().zip(&idx[p * dst_len..(p + 1) * dst_len]) {
            y.write(
                usize::try_from(i)
                    .ok()
                    .and_then(|i| xp.get(i))
                    .copied()
                    .unwrap_or(T::ZERO),
            );
        }
    })
}

/// `gx[p, idx[p, i]] += gy[p, i]`: the adjoint of `gather_planes` (the max-pool gradient).
/// Out-of-range indices are skipped.
pub fn scatter_planes<T: Float>(gy: &[T], idx: &[i64], planes: usize, src_len: usize, dst_len: usize) -> Vec<T> {
    for_each_plane(gy, planes, src_len, dst_len, |p, gp, xp| {
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

    /// The values-only 2x2 kernel (AVX-512 for f32 where present, portable otherwise) equals
    /// the values of the offsets kernel, NaN included, on odd sizes (row tails of every
    /// length, an uncovered last row / column).
    #[test]
    fn values_only_2x2_matches_the_offsets_kernel() {
        for (h, w) in [(2, 2), (3, 5), (5, 33), (26, 26), (11, 11), (4, 64), (7, 70)] {
            let win = Window {
                in_hw: [h, w],
                out_hw: [h / 2, w / 2],
                kernel: [2, 2],
                stride: [2, 2],
                pad: [0, 0],
                dilation: [1, 1],
            };
            let planes = 3;
            let mut x: Vec<f32> = (0..planes * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            x[h * w + 1] = f32::NAN;
            x[planes * h * w - w - 2] = f32::NAN;
            let want = max_pool2d_2x2(&x, planes, &win).0;
            let got = max_pool2d_2x2_values(&x, planes, &win);
            let same = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
            assert!(
                want.iter().zip(&got).all(|(&a, &b)| same(a, b)),
                "{h}x{w}: {got:?} vs {want:?}"
            );
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let got64 = max_pool2d_2x2_values(&x64, planes, &win);
            assert!(want.iter().zip(&got64).all(|(&a, &b)| same(a, b as f32)), "f64 {h}x{w}");
        }
    }

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
    fn two_by_two_scatter_matches_general_scatter() {
        // odd sizes leave a last row and column outside every window
        let x: Vec<f64> = (0..70).map(|i| ((i * 37) % 23) as f64 - 11.0).collect();
        let win = Window {
            in_hw: [7, 5],
            out_hw: [3, 2],
            kernel: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
            dilation: [1, 1],
        };
        assert!(win.is_2x2());
        let (vals, idx) = max_pool2d(&x, 2, &win);
        let (vals2, offs) = max_pool2d_2x2(&x, 2, &win);
        assert_eq!(vals, vals2);
        assert_eq!(offsets_2x2(&idx, 2, &win), offs);
        let g: Vec<f64> = (0..12).map(|i| i as f64 + 0.5).collect();
        assert_eq!(scatter_2x2(&g, &offs, 2, &win), scatter_planes(&g, &idx, 2, 6, 35));
        assert_eq!(gather_2x2(&x, &offs, 2, &win), gather_planes(&x, &idx, 2, 35, 6));
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
