//! 2-D convolution kernels: im2col + gemm, one sample at a time.
//!
//! Every kernel walks the batch one sample at a time: the sample's im2col matrix
//! (`[C_in/groups * kH * kW, OH * OW]`) is built in a scratch buffer that stays in cache and is
//! fed straight to `gemm`. Large batches are split into one chunk per thread (each gemm then
//! runs single-threaded, which beats threading many small products); small batches run in
//! order, and each large sample is split over two threads: the forward by output positions
//! (im2col and product both halved), the adjoints by the rows of their products.
//!
//! The three kernels are the forward convolution and its two adjoints (gradient with respect to
//! the input and to the weight); `ops/conv.rs` wires them as mutually differentiable ops.

use crate::cpu::math::Float;
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Sizes of one 2-D convolution. Input position `ih = oh * stride - pad + kh * dilation`
/// (same along the width); positions outside the input read as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub stride: [usize; 2],
    /// Zero padding before the first row / column (padding after only shows in `oh`, `ow`).
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvGeom {
    pub fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }

    pub fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of the im2col matrix of one group: `C_in/groups * kH * kW`.
    pub fn k(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }

    /// Output positions per channel: `OH * OW`.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }

    fn in_sample(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn out_sample(&self) -> usize {
        self.c_out * self.p()
    }

    /// A 1x1 kernel with unit stride and no padding: the input plane already is the im2col
    /// matrix, so it is used in place.
    fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.oh == self.h
            && self.ow == self.w
    }

    /// Unit stride and dilation, no padding: every im2col row is a run of plain slices of
    /// input rows, with no bounds logic (the common `Conv2d(c_in, c_out, k)` layer).
    fn is_dense(&self) -> bool {
        self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.pad == [0, 0]
            && self.oh + self.kh <= self.h + 1
            && self.ow + self.kw <= self.w + 1
    }

    /// Multiply-adds of one sample (for the threading decision).
    fn macs_per_sample(&self) -> usize {
        self.c_out * self.k() * self.p()
    }
}

/// The output columns `[lo, hi)` whose input column `o * stride + off - pad` lies in `[0, len)`.
#[inline]
fn valid_range(len: usize, stride: usize, pad: usize, off: usize, out: usize) -> (usize, usize) {
    let lo = if pad > off { (pad - off).div_ceil(stride) } else { 0 };
    let hi = if len + pad > off {
        ((len + pad - off - 1) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Copy one short row. im2col copies one output row at a time, where a call to memcpy costs
/// more than the copy: blocks of 8 stay inline (the last block may overlap the one before).
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [T], src: &[T]) {
    const B: usize = 8;
    let n = dst.len();
    let src = &src[..n];
    if n < B {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
        return;
    }
    let block = |i: usize| -> [T; B] { src[i..i + B].try_into().expect("a block of B") };
    let mut i = 0;
    while i + B <= n {
        dst[i..i + B].copy_from_slice(&block(i));
        i += B;
    }
    dst[n - B..].copy_from_slice(&block(n - B));
}

/// Build the im2col matrix `[cin_g * kh * kw, oh * ow]` of one group of one sample
/// (`x` starts at the group's first channel plane).
pub fn im2col<T: Float>(x: &[T], g: &ConvGeom, cols: &mut [T]) {
    im2col_part(x, g, 0..g.p(), cols)
}

/// The pieces of output positions `at` (indices into the row-major `[OH, OW]` grid) that lie in
/// one output row each: `(oy, ox range, offset of the piece within at)`.
fn row_pieces(ow: usize, at: Range<usize>) -> impl Iterator<Item = (usize, Range<usize>, usize)> {
    let rows = if at.is_empty() {
        0..0
    } else {
        at.start / ow..(at.end - 1) / ow + 1
    };
    rows.map(move |oy| {
        let (x0, x1) = (at.start.max(oy * ow) - oy * ow, at.end.min((oy + 1) * ow) - oy * ow);
        (oy, x0..x1, oy * ow + x0 - at.start)
    })
}

/// Columns `at` of the im2col matrix: `[cin_g * kh * kw, at.len()]`, one part of a product split
/// by output positions (`at` need not start or end on an output row).
fn im2col_part<T: Float>(x: &[T], g: &ConvGeom, at: Range<usize>, cols: &mut [T]) {
    if g.is_dense() {
        return im2col_dense(x, g, at, cols);
    }
    let plane = g.h * g.w;
    let [sh, sw] = g.stride;
    let [dh, dw] = g.dilation;
    let [ph, pw] = g.pad;
    let mut rows = cols.chunks_exact_mut(at.len());
    for c in 0..g.cin_g() {
        let src = &x[c * plane..(c + 1) * plane];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let dst = rows.next().expect("cols holds k rows");
                let (vlo, vhi) = valid_range(g.w, sw, pw, kj * dw, g.ow);
                for (oy, ox, off) in row_pieces(g.ow, at.clone()) {
                    let drow = &mut dst[off..off + ox.len()];
                    let iy = oy * sh + ki * dh;
                    // the valid columns of this piece, relative to its start
                    let lo = vlo.clamp(ox.start, ox.end) - ox.start;
                    let hi = vhi.clamp(ox.start, ox.end) - ox.start;
                    if iy < ph || iy - ph >= g.h || lo >= hi {
                        drow.fill(T::ZERO);
                        continue;
                    }
                    let srow = &src[(iy - ph) * g.w..(iy - ph + 1) * g.w];
                    drow[..lo].fill(T::ZERO);
                    drow[hi..].fill(T::ZERO);
                    let base = (ox.start + lo) * sw + kj * dw - pw;
                    if sw == 1 {
                        copy_row(&mut drow[lo..hi], &srow[base..base + hi - lo]);
                    } else {
                        for (i, o) in drow[lo..hi].iter_mut().enumerate() {
                            *o = srow[base + i * sw];
                        }
                    }
                }
            }
        }
    }
}

/// `im2col_part` for `ConvGeom::is_dense` geometry. The generic version's per-row bounds logic
/// costs more than the copy of a short row (profiled: W5's 11-wide rows), so this one only
/// copies.
fn im2col_dense<T: Float>(x: &[T], g: &ConvGeom, at: Range<usize>, cols: &mut [T]) {
    let (w, plane) = (g.w, g.h * g.w);
    // (input offset of the piece's first position at kernel offset 0, place in the row, length):
    // the same for every im2col row, so worked out once
    let pieces: Vec<(usize, usize, usize)> = row_pieces(g.ow, at.clone())
        .map(|(oy, ox, off)| (oy * w + ox.start, off, ox.len()))
        .collect();
    let mut rows = cols[..g.k() * at.len()].chunks_exact_mut(at.len());
    for src in x[..g.cin_g() * plane].chunks_exact(plane) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let dst = rows.next().expect("cols holds k rows");
                let src = &src[ki * w + kj..];
                for &(from, off, len) in &pieces {
                    copy_row(&mut dst[off..off + len], &src[from..]);
                }
            }
        }
    }
}

/// `col2im` for `ConvGeom::is_dense` geometry (see `im2col_dense`).
fn col2im_dense<T: Float>(cols: &[T], g: &ConvGeom, x: &mut [T]) {
    let (ow, w, plane) = (g.ow, g.w, g.h * g.w);
    let mut rows = cols[..g.k() * g.p()].chunks_exact(g.p());
    for dst in x[..g.cin_g() * plane].chunks_exact_mut(plane) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let src = rows.next().expect("cols holds k rows");
                for (srow, drow) in src.chunks_exact(ow).zip(dst[ki * w + kj..].chunks_mut(w)) {
                    for (o, &v) in drow[..ow].iter_mut().zip(srow) {
                        *o = *o + v;
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: add every entry of `cols` into the input position it was read from.
pub fn col2im<T: Float>(cols: &[T], g: &ConvGeom, x: &mut [T]) {
    if g.is_dense() {
        return col2im_dense(cols, g, x);
    }
    let (p, ow, plane) = (g.p(), g.ow, g.h * g.w);
    let [sh, sw] = g.stride;
    let [dh, dw] = g.dilation;
    let [ph, pw] = g.pad;
    let mut rows = cols.chunks_exact(p);
    for c in 0..g.cin_g() {
        let dst = &mut x[c * plane..(c + 1) * plane];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let src = rows.next().expect("cols holds k rows");
                let (lo, hi) = valid_range(g.w, sw, pw, kj * dw, ow);
                if lo == hi {
                    continue;
                }
                for (oy, srow) in src.chunks_exact(ow).enumerate() {
                    let iy = oy * sh + ki * dh;
                    if iy < ph || iy - ph >= g.h {
                        continue;
                    }
                    let drow = &mut dst[(iy - ph) * g.w..(iy - ph + 1) * g.w];
                    let base = lo * sw + kj * dw - pw;
                    if sw == 1 {
                        for (o, &v) in drow[base..base + hi - lo].iter_mut().zip(&srow[lo..hi]) {
                            *o = *o + v;
                        }
                    } else {
                        for (i, &v) in srow[lo..hi].iter().enumerate() {
                            let o = &mut drow[base + i * sw];
                            *o = *o + v;
                        }
                    }
                }
            }
        }
    }
}

/// A matrix operand: its storage, row stride and column stride.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

fn mat<T>(data: &[T], rs: usize, cs: usize) -> Mat<'_, T> {
    Mat { data, rs, cs }
}

impl<T> Mat<'_, T> {
    /// Rows `r..r + len` of this operand.
    fn rows(&self, r: usize) -> Mat<'_, T> {
        Mat {
            data: &self.data[r * self.rs..],
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// View initialized data as possibly-uninitialized slots (for the kernels that write through
/// `MaybeUninit` outputs).
fn as_uninit<T>(s: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has the layout of `T`, and every writer of the returned slice
    // stores initialized values only, so `s` stays initialized.
    unsafe { &mut *(s as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// Products below this many multiply-adds run on one thread; above it the rows of the
/// output are split over threads (each part a single-threaded gemm).
const SPLIT_MACS: usize = 1 << 21;

/// Row chunks of a split product: each gemm call packs the whole right operand again, so one
/// chunk per thread (measured on W8's conv2: 2 chunks 28 us, 4 chunks 35 us).
const CHUNKS: usize = 2;

/// `dst[m x n] (+)= lhs[m x k] @ rhs[k x n]`, with `dst` row-major of row stride `dst_rs`.
/// With `accumulate`, `dst` must be initialized and keeps its values; otherwise every element
/// of the `m x n` block is written. `split` lets large products spread their rows over threads.
/// Bounds are checked here, so callers stay safe.
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<T>],
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    split: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for d in &mut dst[r * dst_rs..r * dst_rs + n] {
                    d.write(T::ZERO);
                }
            }
        }
        return;
    }
    if split && rayon::current_num_threads() > 1 && m >= 16 && m * n * k >= SPLIT_MACS {
        // a batch-1 product: row chunks on the caller and the pair helper (`cpu::pair`; a
        // rayon fork from a user thread costs ~10 us, a sizeable part of such a product)
        let rows = super::pair::chunk_len(m, CHUNKS, 8, 8);
        let used = (m - 1) * dst_rs + n;
        let parts: Vec<std::sync::Mutex<&mut [MaybeUninit<T>]>> = dst[..used]
            .chunks_mut(rows * dst_rs)
            .map(std::sync::Mutex::new)
            .collect();
        return super::pair::run(parts.len(), &|i| {
            let mut d = parts[i].lock().unwrap_or_else(|e| e.into_inner());
            let r = (m - i * rows).min(rows);
            gemm_into(r, n, k, &mut d, dst_rs, accumulate, lhs.rows(i * rows), rhs, false);
        });
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(last(m, n, dst_rs, 1) < dst.len(), "gemm_into: dst too small");
    assert!(last(m, k, lhs.rs, lhs.cs) < lhs.data.len(), "gemm_into: lhs too small");
    assert!(last(k, n, rhs.rs, rhs.cs) < rhs.data.len(), "gemm_into: rhs too small");
    // SAFETY: the asserts above keep every index the product touches inside the three slices;
    // `dst` is borrowed mutably, so it aliases neither operand; gemm reads `dst` only when
    // `accumulate` is set, which requires it initialized, and otherwise writes all of it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr() as *mut T,
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Split the batch over threads (one contiguous chunk each) when there are enough samples and
/// enough work; 1 means run in order (and let each product split its rows instead).
fn batch_chunks(g: &ConvGeom) -> usize {
    let threads = rayon::current_num_threads();
    if threads > 1 && g.n >= 2 && g.macs_per_sample() * g.n >= 1 << 17 {
        threads.min(g.n)
    } else {
        1
    }
}

/// The batch split into `chunks` contiguous ranges of near-equal size.
fn batch_ranges(n: usize, chunks: usize) -> Vec<Range<usize>> {
    let (q, r) = (n / chunks, n % chunks);
    let mut start = 0;
    (0..chunks)
        .map(|i| {
            let len = q + usize::from(i < r);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Run `f(samples, out_chunk, split)` over the batch, each chunk writing its samples' slice of
/// `out` (`per_sample` elements per sample); `split` says whether products may use threads.
fn over_batch<U: Send>(
    g: &ConvGeom,
    out: &mut [U],
    per_sample: usize,
    f: impl Fn(Range<usize>, &mut [U], bool) + Sync,
) {
    let chunks = batch_chunks(g);
    if chunks <= 1 {
        f(0..g.n, out, true);
        return;
    }
    let mut parts: Vec<(Range<usize>, &mut [U])> = Vec::with_capacity(chunks);
    let mut rest = out;
    for r in batch_ranges(g.n, chunks) {
        let (head, tail) = rest.split_at_mut(r.len() * per_sample);
        parts.push((r, head));
        rest = tail;
    }
    parts.into_par_iter().for_each(|(r, o)| f(r, o, false));
}

/// Scratch for one im2col matrix (empty when the input is used in place).
fn scratch<T: Float>(g: &ConvGeom) -> Vec<T> {
    if g.is_pointwise() {
        Vec::new()
    } else {
        vec![T::ZERO; g.k() * g.p()]
    }
}

/// Fill possibly-uninitialized slots with zeros and view them as initialized.
fn zeroed<T: Float>(s: &mut [MaybeUninit<T>]) -> &mut [T] {
    for d in s.iter_mut() {
        d.write(T::ZERO);
    }
    // SAFETY: every slot was just initialized, and `MaybeUninit<T>` has the layout of `T`.
    unsafe { &mut *(s as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// A Vec of `n` elements whose every slot `write` initializes.
fn filled<T>(n: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: the callers' kernels write every one of the n slots (documented at each call).
    unsafe { v.set_len(n) };
    v
}

/// `y = conv2d(x, w) + bias`: x `[N, C_in, H, W]`, w `[C_out, C_in/groups, kH, kW]`,
/// y `[N, C_out, OH, OW]`, all contiguous.
pub fn conv2d_forward<T: Float>(x: &[T], w: &[T], bias: Option<&[T]>, g: &ConvGeom) -> Vec<T> {
    let (k, p, cin_g, cout_g) = (g.k(), g.p(), g.cin_g(), g.cout_g());
    // every output element is written: by gemm, or by the bias fill that gemm then adds to
    filled(g.n * g.out_sample(), |y| {
        over_batch(g, y, g.out_sample(), |samples, out, split| {
            let by_parts = split && split_positions(g);
            let mut cols = if by_parts { Vec::new() } else { scratch::<T>(g) };
            for (i, s) in samples.enumerate() {
                let xs = &x[s * g.in_sample()..(s + 1) * g.in_sample()];
                let ys = &mut out[i * g.out_sample()..(i + 1) * g.out_sample()];
                if by_parts {
                    forward_split(xs, w, bias, g, ys);
                    continue;
                }
                for grp in 0..g.groups {
                    let xg = &xs[grp * cin_g * g.h * g.w..(grp + 1) * cin_g * g.h * g.w];
                    let rhs = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(xg, g, &mut cols);
                        &cols
                    };
                    let yg = &mut ys[grp * cout_g * p..(grp + 1) * cout_g * p];
                    if let Some(b) = bias {
                        for (row, &bv) in yg.chunks_exact_mut(p).zip(&b[grp * cout_g..(grp + 1) * cout_g]) {
                            row.iter_mut().for_each(|d| {
                                d.write(bv);
                            });
                        }
                    }
                    let wg = mat(&w[grp * cout_g * k..(grp + 1) * cout_g * k], k, 1);
                    gemm_into(cout_g, p, k, yg, p, bias.is_some(), wg, mat(rhs, p, 1), split);
                }
            }
        })
    })
}

/// Whether a sample's forward product is worth splitting by output positions over the caller and
/// the pair helper: below this many multiply-adds the fork costs more than it saves.
fn split_positions(g: &ConvGeom) -> bool {
    g.p() >= 2 && g.macs_per_sample() >= 1 << 17 && rayon::current_num_threads() > 1
}

/// A raw output pointer shared by the parts of a split product (each writes its own elements).
struct SharedOut<T>(*mut T);

// SAFETY: the parts that share it write disjoint elements, and the owner waits for all of them.
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// The pointer `offset` elements on (a method, so closures capture the whole wrapper).
    /// SAFETY (callers): the offset stays inside the allocation.
    unsafe fn at(&self, offset: usize) -> *mut T {
        // SAFETY: as the caller vouches.
        unsafe { self.0.add(offset) }
    }
}

/// One sample's forward convolution split by output positions over the caller and the pair
/// helper (`cpu::pair`): each part builds the im2col columns of its positions (so the gather is
/// split too, not only the product; splitting the product's channel rows instead left the
/// whole im2col on one thread: W8's conv2 took 28 us, the same as one thread), then fills its
/// columns of every output channel. The cut is a multiple of 16 positions, gemm's vector width
/// here, so neither part ends in a mostly empty tile. `ys` is the sample's `[C_out, OH * OW]`.
fn forward_split<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &ConvGeom, ys: &mut [MaybeUninit<T>]) {
    let (k, p, cin_g, cout_g) = (g.k(), g.p(), g.cin_g(), g.cout_g());
    assert!(
        ys.len() >= g.out_sample() && xs.len() >= g.in_sample(),
        "forward_split: sizes"
    );
    let cut = ((p / 2 + 8) / 16 * 16).clamp(1, p - 1);
    let parts = [0..cut, cut..p];
    let out = SharedOut(ys.as_mut_ptr());
    super::pair::run(parts.len(), &|part| {
        let at = parts[part].clone();
        let (c0, pc) = (at.start, at.len());
        let im2col_len = if g.is_pointwise() { 0 } else { k * pc };
        with_scratch::<T, ()>(im2col_len + cout_g * pc, |scratch| {
            let (cols, block) = scratch.split_at_mut(im2col_len);
            for grp in 0..g.groups {
                let xg = &xs[grp * cin_g * g.h * g.w..(grp + 1) * cin_g * g.h * g.w];
                let rhs = if g.is_pointwise() {
                    mat(&xg[c0..], p, 1)
                } else {
                    im2col_part(xg, g, at.clone(), cols);
                    mat(cols, pc, 1)
                };
                let wg = mat(&w[grp * cout_g * k..(grp + 1) * cout_g * k], k, 1);
                // the product goes to a block of this part's own first: written straight into
                // the output, the two parts' columns shared the cache line at the cut in every
                // row, and the line bouncing between the cores cost more than the copy
                gemm_into(cout_g, pc, k, as_uninit(block), pc, false, wg, rhs, false);
                for (r, row) in block.chunks_exact(pc).enumerate() {
                    let b = bias.map_or(T::ZERO, |b| b[grp * cout_g + r]);
                    // SAFETY: channel grp * cout_g + r, columns c0..c0 + pc: inside `ys`
                    // (asserted above), written by this part only.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.at((grp * cout_g + r) * p + c0), pc) };
                    for (d, &v) in dst.iter_mut().zip(row) {
                        d.write(v + b);
                    }
                }
            }
        });
    });
}

/// Run `f` on a scratch slice of `len` elements of this thread, kept from call to call: a fresh
/// zeroed im2col buffer per call cost as much as the im2col itself in a batch-1 convolution
/// (the contents are whatever the last user left; `f` must write before it reads).
fn with_scratch<T: Float, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
    }
    // taken out while in use, so a nested call finds it empty and allocates its own
    let mut buf = SCRATCH.with(|s| s.take());
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    if buf.len() < words {
        buf.resize(words, 0);
    }
    let r = f(&mut bytemuck::cast_slice_mut::<u64, T>(&mut buf)[..len]);
    SCRATCH.with(|s| s.set(buf));
    r
}

/// The gradient of `conv2d_forward` with respect to its input: `gx = conv2d^T(gy, w)`
/// (a transposed convolution). gy `[N, C_out, OH, OW]`, result `[N, C_in, H, W]`.
pub fn conv2d_backward_input<T: Float>(gy: &[T], w: &[T], g: &ConvGeom) -> Vec<T> {
    let (k, p, cin_g, cout_g) = (g.k(), g.p(), g.cin_g(), g.cout_g());
    let in_g = cin_g * g.h * g.w;
    // every element is written: by gemm (pointwise) or by the zero fill before col2im
    filled(g.n * g.in_sample(), |gx| {
        over_batch(g, gx, g.in_sample(), |samples, out, split| {
            let mut cols = scratch::<T>(g);
            for (i, s) in samples.enumerate() {
                let gys = &gy[s * g.out_sample()..(s + 1) * g.out_sample()];
                let gxs = &mut out[i * g.in_sample()..(i + 1) * g.in_sample()];
                for grp in 0..g.groups {
                    let gyg = mat(&gys[grp * cout_g * p..(grp + 1) * cout_g * p], p, 1);
                    // w_g^T: [k, cout_g] read in place from the row-major [cout_g, k] block
                    let wt = mat(&w[grp * cout_g * k..(grp + 1) * cout_g * k], 1, k);
                    let gxg = &mut gxs[grp * in_g..(grp + 1) * in_g];
                    if g.is_pointwise() {
                        gemm_into(k, p, cout_g, gxg, p, false, wt, gyg, split);
                    } else {
                        gemm_into(k, p, cout_g, as_uninit(&mut cols), p, false, wt, gyg, split);
                        col2im(&cols, g, zeroed(gxg));
                    }
                }
            }
        })
    })
}

/// The gradient of `conv2d_forward` with respect to its weight, `gw = sum_n gy_n @ im2col(x_n)^T`
/// (`[C_out, C_in/groups * kH * kW]`), followed, when `with_bias`, by the per-channel sums of
/// `gy` (the bias gradient, summed while each sample is in cache). Each thread accumulates its
/// samples into its own buffer; the buffers are summed at the end.
///
/// The products accumulate the transpose, `gw^T = sum_n im2col(x_n) @ gy_n^T` (`[k, C_out]` per
/// group): gemm packs the im2col matrix far more cheaply as this left-hand side than as the
/// transposed right-hand side (measured on W5's second conv: 50 vs 58-67 us per sample); one
/// transpose at the end restores the layout.
pub fn conv2d_backward_weight<T: Float>(gy: &[T], x: &[T], g: &ConvGeom, with_bias: bool) -> Vec<T> {
    let (k, p, cin_g, cout_g) = (g.k(), g.p(), g.cin_g(), g.cout_g());
    let in_g = cin_g * g.h * g.w;
    let len = g.c_out * k + if with_bias { g.c_out } else { 0 };
    let chunk = |samples: Range<usize>, split: bool| -> Vec<T> {
        let mut acc = vec![T::ZERO; len];
        let (gw, gb) = acc.split_at_mut(g.c_out * k);
        let mut cols = scratch::<T>(g);
        for s in samples {
            let gys = &gy[s * g.out_sample()..(s + 1) * g.out_sample()];
            let xs = &x[s * g.in_sample()..(s + 1) * g.in_sample()];
            for grp in 0..g.groups {
                let xg = &xs[grp * in_g..(grp + 1) * in_g];
                let rhs = if g.is_pointwise() {
                    xg
                } else {
                    im2col(xg, g, &mut cols);
                    &cols
                };
                // gy_g^T: [p, cout_g] read in place from the row-major [cout_g, p] block
                let gyt = mat(&gys[grp * cout_g * p..(grp + 1) * cout_g * p], 1, p);
                let gwg = as_uninit(&mut gw[grp * cout_g * k..(grp + 1) * cout_g * k]);
                gemm_into(k, cout_g, p, gwg, cout_g, true, mat(&rhs[..k * p], p, 1), gyt, split);
            }
            if with_bias && p > 0 {
                for (b, row) in gb.iter_mut().zip(gys.chunks_exact(p)) {
                    *b = *b + sum(row);
                }
            }
        }
        acc
    };
    let chunks = batch_chunks(g);
    let mut acc = if chunks <= 1 {
        chunk(0..g.n, true)
    } else {
        batch_ranges(g.n, chunks)
            .into_par_iter()
            .map(|r| chunk(r, false))
            .reduce_with(|mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x = *x + *y;
                }
                a
            })
            .unwrap_or_else(|| vec![T::ZERO; len])
    };
    if cout_g > 1 && k > 1 {
        let mut block = vec![T::ZERO; cout_g * k];
        for gwg in acc[..g.c_out * k].chunks_exact_mut(cout_g * k) {
            // gwg holds [k, cout_g]: write it back as [cout_g, k]
            for (t, row) in gwg.chunks_exact(cout_g).enumerate() {
                for (co, &v) in row.iter().enumerate() {
                    block[co * k + t] = v;
                }
            }
            gwg.copy_from_slice(&block);
        }
    }
    acc
}

/// The sum of a slice, in 16 interleaved partial sums (so it vectorizes).
fn sum<T: Float>(v: &[T]) -> T {
    let mut acc = [T::ZERO; 16];
    let mut it = v.chunks_exact(16);
    for c in &mut it {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = *a + x;
        }
    }
    let tail = it.remainder().iter().fold(T::ZERO, |a, &x| a + x);
    acc.iter().fold(tail, |a, &x| a + x)
}

/// Per-channel sums of `gy` `[N, C, P]`: the gradient of a conv bias.
pub fn channel_sums<T: Float>(gy: &[T], n: usize, c: usize, p: usize) -> Vec<T> {
    let part = |samples: Range<usize>| {
        let mut out = vec![T::ZERO; c];
        for s in samples {
            for (o, plane) in out
                .iter_mut()
                .zip(gy[s * c * p..(s + 1) * c * p].chunks_exact(p.max(1)))
            {
                *o = *o + sum(plane);
            }
        }
        out
    };
    let threads = rayon::current_num_threads();
    if threads < 2 || n < 2 || n * c * p < super::PAR_THRESHOLD {
        return part(0..n);
    }
    batch_ranges(n, threads.min(n))
        .into_par_iter()
        .map(part)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x = *x + *y;
            }
            a
        })
        .unwrap_or_else(|| vec![T::ZERO; c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_bounds() {
        // W = 5, stride 2, pad 1, kernel offset 0: input col = 2o - 1, valid for o in 1..=3
        assert_eq!(valid_range(5, 2, 1, 0, 3), (1, 3));
        assert_eq!(valid_range(5, 1, 0, 0, 5), (0, 5));
        // everything is padding: an empty range
        let (lo, hi) = valid_range(1, 1, 3, 0, 2);
        assert_eq!(lo, hi);
    }

    #[test]
    fn im2col_matches_definition_and_col2im_is_its_adjoint() {
        let g = ConvGeom {
            n: 1,
            c_in: 1,
            h: 4,
            w: 5,
            c_out: 1,
            kh: 2,
            kw: 3,
            oh: 3,
            ow: 5,
            stride: [2, 1],
            pad: [1, 2],
            dilation: [1, 2],
            groups: 1,
        };
        let x: Vec<f64> = (0..20).map(|v| v as f64 + 1.0).collect();
        let mut cols = vec![0.0; g.k() * g.p()];
        im2col(&x, &g, &mut cols);
        for ki in 0..2 {
            for kj in 0..3 {
                for oy in 0..3 {
                    for ox in 0..5 {
                        let iy = (oy * 2 + ki) as isize - 1;
                        let ix = (ox + kj * 2) as isize - 2;
                        let want = if (0..4).contains(&iy) && (0..5).contains(&ix) {
                            x[(iy * 5 + ix) as usize]
                        } else {
                            0.0
                        };
                        assert_eq!(cols[(ki * 3 + kj) * 15 + oy * 5 + ox], want);
                    }
                }
            }
        }
        // <im2col(x), c> == <x, col2im(c)>
        let c: Vec<f64> = (0..cols.len()).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let mut back = vec![0.0; 20];
        col2im(&c, &g, &mut back);
        let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-9);
    }

    #[test]
    fn dense_im2col_and_col2im_match_definition() {
        // unit stride, no padding: the copy-only fast paths (two channels, a non-square kernel)
        let g = ConvGeom {
            n: 1,
            c_in: 2,
            h: 5,
            w: 7,
            c_out: 1,
            kh: 2,
            kw: 3,
            oh: 4,
            ow: 5,
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
            groups: 1,
        };
        assert!(g.is_dense());
        let x: Vec<f64> = (0..70).map(|v| v as f64 * 0.5 - 3.0).collect();
        let mut cols = vec![f64::NAN; g.k() * g.p()];
        im2col(&x, &g, &mut cols);
        let c: Vec<f64> = (0..cols.len()).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
        let mut back = vec![0.0; 70];
        col2im(&c, &g, &mut back);
        let mut want_back = vec![0.0; 70];
        for ch in 0..2 {
            for ki in 0..2 {
                for kj in 0..3 {
                    for oy in 0..4 {
                        for ox in 0..5 {
                            let r = (ch * 6 + ki * 3 + kj) * 20 + oy * 5 + ox;
                            let i = ch * 35 + (oy + ki) * 7 + ox + kj;
                            assert_eq!(cols[r], x[i]);
                            want_back[i] += c[r];
                        }
                    }
                }
            }
        }
        assert_eq!(back, want_back);
    }

    #[test]
    fn batch_ranges_cover_the_batch() {
        let r = batch_ranges(7, 3);
        assert_eq!(r, vec![0..3, 3..5, 5..7]);
    }
}
