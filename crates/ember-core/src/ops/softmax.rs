//! `softmax` and `log_softmax` over any dim, as fused, numerically stable kernels.
//!
//! The tensor is viewed as (outer, dim, inner) over a contiguous buffer. Each row (or, when
//! `inner > 1`, each block of `inner` interleaved rows) takes three passes while it is in
//! cache: the max, the sum of `exp(x - max)` (softmax stores the exponentials on the way), and
//! the write. Rows are spread over rayon above `PAR_THRESHOLD` elements.
//!
//! Gradients: softmax `y * (g - sum(g * y))`, log_softmax `g - exp(y) * sum(g)`. They run as a
//! fused kernel when the backward pass is not itself recorded; when it is (double backward) the
//! same formulas run as Tensor ops on an output recomputed from the input, so they stay
//! connected to it.

use crate::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use crate::cpu::math::{lane_sum2, Float};
use crate::cpu::{PAR_CHUNK, PAR_THRESHOLD};
use crate::dtype::DType;
use crate::error::{dtype_err, Result};
use crate::shape::normalize_dim;
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `exp` for f32 that the compiler vectorizes: Cody-Waite range reduction to
/// `r in [-ln2/2, ln2/2]`, Cephes' polynomial for `e^r`, and a scale by `2^n` split in two
/// factors so results down in the subnormal range stay right. The rounding of `x log2(e)` to
/// `n` uses the add-a-magic-number trick instead of `round`/`as i32`, which do not vectorize.
/// Within 1 ulp of the exact value; `+-inf` and NaN behave as `f32::exp`.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const HI: f32 = 88.722_84; // above: overflow to inf
    const LO: f32 = -103.972_08; // below: underflow to 0
    const C1: f32 = 0.693_359_4; // ln 2 split: C1 is exact in 9 bits, C2 the rest
    const C2: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer (ties even)
    let xc = x.clamp(LO, HI);
    let t = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    // the integer n sits in the low mantissa bits of t
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = xc - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let (a, b) = (ni >> 1, ni - (ni >> 1));
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = e * pow2(a) * pow2(b);
    if x > HI {
        f32::INFINITY
    } else if x < LO {
        0.0
    } else {
        y
    }
}

/// The float types the kernels run on, with the exponential each uses.
trait SoftmaxFloat: Float {
    fn fast_exp(self) -> Self;
}

impl SoftmaxFloat for f32 {
    #[inline(always)]
    fn fast_exp(self) -> Self {
        exp_f32(self)
    }
}

impl SoftmaxFloat for f64 {
    #[inline(always)]
    fn fast_exp(self) -> Self {
        self.exp()
    }
}

/// Treat a fully written slice as initialized.
///
/// # Safety
/// Every element of `s` must have been written.
unsafe fn assume_init<T>(s: &mut [MaybeUninit<T>]) -> &mut [T] {
    &mut *(s as *mut [MaybeUninit<T>] as *mut [T])
}

/// Max of a row with 8 independent lanes (vectorizes). NaN is skipped here: it reaches the
/// result anyway through `exp(NaN - max)`.
fn row_max<T: Float>(x: &[T]) -> T {
    let ninf = T::c(f64::NEG_INFINITY);
    let mut acc = [ninf; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            if v > *a {
                *a = v;
            }
        }
    }
    acc.into_iter()
        .chain(rest.iter().copied())
        .fold(ninf, |m, v| if v > m { v } else { m })
}

/// Sum of `exp(x - m)`. The exponentials go through a small buffer first: that loop is one
/// the compiler vectorizes, exp included, while a lane-wise running sum of exps is not.
fn sum_exp<T: SoftmaxFloat>(x: &[T], m: T) -> T {
    let mut buf = [T::ZERO; 64];
    let mut s = T::ZERO;
    for c in x.chunks(64) {
        let b = &mut buf[..c.len()];
        for (o, &v) in b.iter_mut().zip(c) {
            *o = (v - m).fast_exp();
        }
        s = s + lane_sum2(b, b, |v, _| v);
    }
    s
}

/// One row (`inner == 1`).
fn forward_row<T: SoftmaxFloat>(x: &[T], out: &mut [MaybeUninit<T>], log: bool) {
    let m = row_max(x);
    if log {
        let ls = sum_exp(x, m).ln();
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(v - m - ls);
        }
    } else {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write((v - m).fast_exp());
        }
        // SAFETY: the loop above wrote every element (out and x have the same length)
        let out = unsafe { assume_init(out) };
        let inv = T::ONE / lane_sum2(out, out, |v, _| v);
        for o in out.iter_mut() {
            *o = *o * inv;
        }
    }
}

/// One block of `n` rows of `inner` elements, reducing over the rows (column-wise), so every
/// loop runs along contiguous memory.
fn forward_block<T: SoftmaxFloat>(x: &[T], out: &mut [MaybeUninit<T>], n: usize, inner: usize, log: bool) {
    let mut m = vec![T::c(f64::NEG_INFINITY); inner];
    for row in x.chunks_exact(inner) {
        for (a, &v) in m.iter_mut().zip(row) {
            if v > *a {
                *a = v;
            }
        }
    }
    let mut s = vec![T::ZERO; inner];
    if log {
        for row in x.chunks_exact(inner) {
            for ((a, &v), &mx) in s.iter_mut().zip(row).zip(&m) {
                *a = *a + (v - mx).fast_exp();
            }
        }
        for (a, &mx) in s.iter_mut().zip(&m) {
            *a = mx + a.ln();
        }
        for (orow, row) in out.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
            for ((o, &v), &c) in orow.iter_mut().zip(row).zip(&s) {
                o.write(v - c);
            }
        }
        return;
    }
    for (orow, row) in out.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for (((o, &v), a), &mx) in orow.iter_mut().zip(row).zip(s.iter_mut()).zip(&m) {
            let e = (v - mx).fast_exp();
            o.write(e);
            *a = *a + e;
        }
    }
    for a in s.iter_mut() {
        *a = T::ONE / *a;
    }
    debug_assert_eq!(out.len(), n * inner);
    // SAFETY: the loop above wrote all n rows of the block
    let out = unsafe { assume_init(out) };
    for orow in out.chunks_exact_mut(inner) {
        for (o, &inv) in orow.iter_mut().zip(&s) {
            *o = *o * inv;
        }
    }
}

/// Build the `outer * n * inner` output by running `body(dst_block, block_index)` on blocks
/// of `n * inner` elements, in parallel above the threshold. `body` must write its whole block.
fn by_blocks<T: Send>(outer: usize, block: usize, body: impl Fn(&mut [MaybeUninit<T>], usize) + Sync + Send) -> Vec<T> {
    let total = outer * block;
    let mut out = Vec::with_capacity(total);
    if total > 0 {
        let spare = &mut out.spare_capacity_mut()[..total];
        if total >= PAR_THRESHOLD && outer > 1 {
            let min_len = (PAR_CHUNK / block).max(1);
            spare
                .par_chunks_mut(block)
                .enumerate()
                .with_min_len(min_len)
                .for_each(|(i, dst)| body(dst, i));
        } else {
            spare.chunks_mut(block).enumerate().for_each(|(i, dst)| body(dst, i));
        }
    }
    // SAFETY: every block of the `total` elements was fully written by `body`
    unsafe { out.set_len(total) };
    out
}

fn forward<T: SoftmaxFloat>(x: &[T], outer: usize, n: usize, inner: usize, log: bool) -> Vec<T> {
    let block = n * inner;
    by_blocks(outer, block, |dst, i| {
        let src = &x[i * block..(i + 1) * block];
        if inner == 1 {
            forward_row(src, dst, log);
        } else {
            forward_block(src, dst, n, inner, log);
        }
    })
}

/// Fused backward over one block: softmax `y * (g - sum(g y))`, log_softmax
/// `g - exp(y) sum(g)`, the sums taken over the `n` rows of `inner` elements.
fn backward_block<T: SoftmaxFloat>(y: &[T], g: &[T], out: &mut [MaybeUninit<T>], inner: usize, log: bool) {
    if inner == 1 {
        if log {
            let sg = lane_sum2(g, g, |v, _| v);
            // exps through a buffer, as in `sum_exp`, so the exp loop vectorizes
            let mut buf = [T::ZERO; 64];
            for ((oc, yc), gc) in out.chunks_mut(64).zip(y.chunks(64)).zip(g.chunks(64)) {
                let b = &mut buf[..yc.len()];
                for (e, &v) in b.iter_mut().zip(yc) {
                    *e = v.fast_exp();
                }
                for ((o, &e), &gv) in oc.iter_mut().zip(b.iter()).zip(gc) {
                    o.write(gv - e * sg);
                }
            }
        } else {
            let dot = lane_sum2(g, y, |u, v| u * v);
            for ((o, &yv), &gv) in out.iter_mut().zip(y).zip(g) {
                o.write(yv * (gv - dot));
            }
        }
        return;
    }
    let mut s = vec![T::ZERO; inner];
    for (yr, gr) in y.chunks_exact(inner).zip(g.chunks_exact(inner)) {
        for ((a, &yv), &gv) in s.iter_mut().zip(yr).zip(gr) {
            *a = *a + if log { gv } else { gv * yv };
        }
    }
    for ((orow, yr), gr) in out
        .chunks_exact_mut(inner)
        .zip(y.chunks_exact(inner))
        .zip(g.chunks_exact(inner))
    {
        for (((o, &yv), &gv), &sv) in orow.iter_mut().zip(yr).zip(gr).zip(&s) {
            o.write(if log { gv - yv.fast_exp() * sv } else { yv * (gv - sv) });
        }
    }
}

fn backward<T: SoftmaxFloat>(y: &[T], g: &[T], outer: usize, n: usize, inner: usize, log: bool) -> Vec<T> {
    let block = n * inner;
    by_blocks(outer, block, |dst, i| {
        let r = i * block..(i + 1) * block;
        backward_block(&y[r.clone()], &g[r], dst, inner, log);
    })
}

/// (outer, n, inner) sizes of a contiguous shape around `dim` (a 0-dim tensor is one row of 1).
fn around(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    )
}

fn op_name(log: bool) -> &'static str {
    if log {
        "log_softmax"
    } else {
        "softmax"
    }
}

/// The forward kernel on a float tensor, without autograd. f16/bf16 compute in f32 and round
/// once, as PyTorch's CPU kernels do.
fn softmax_raw(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.detach();
    let xc = if matches!(dtype, DType::F16 | DType::BF16) {
        x.to_dtype(DType::F32)?
    } else {
        x
    }
    .contiguous_data();
    let (outer, n, inner) = around(xc.shape(), dim);
    #[cfg(feature = "cuda")]
    if xc.device().is_cuda() {
        let out = crate::cuda::ops::softmax::forward(&xc, outer, n, inner, log)?;
        return if out.dtype() != dtype {
            out.to_dtype(dtype)
        } else {
            Ok(out)
        };
    }
    let data = {
        let g = xc.read();
        let r = xc.offset()..xc.offset() + xc.numel();
        match &*g {
            CpuStorage::F32(v) => CpuStorage::F32(forward(&v[r], outer, n, inner, log)),
            CpuStorage::F64(v) => CpuStorage::F64(forward(&v[r], outer, n, inner, log)),
            s => {
                return Err(dtype_err(
                    op_name(log),
                    format!("internal: unexpected dtype {}", s.dtype()),
                ))
            }
        }
    };
    let out = Tensor::from_storage(data, xc.shape());
    if out.dtype() != dtype {
        return out.to_dtype(dtype);
    }
    Ok(out)
}

/// The gradient of the input given the output `y` and its gradient `g`: a fused kernel when
/// nothing records it, Tensor ops (differentiable) otherwise.
fn softmax_grad(y: &Tensor, g: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    let fused = !is_grad_enabled() && g.dtype() == y.dtype() && matches!(y.dtype(), DType::F32 | DType::F64);
    if !fused {
        let d = dim as isize;
        return if log {
            g.sub(&y.exp()?.mul(&g.sum(d, true)?)?)
        } else {
            y.mul(&g.sub(&g.mul(y)?.sum(d, true)?)?)
        };
    }
    let (yc, gc) = (y.contiguous_data(), g.contiguous_data());
    let (outer, n, inner) = around(y.shape(), dim);
    #[cfg(feature = "cuda")]
    if yc.device().is_cuda() {
        return crate::cuda::ops::softmax::backward(&yc, &gc, outer, n, inner, log);
    }
    let data = {
        let (gy, gg) = (yc.read(), gc.read());
        let ry = yc.offset()..yc.offset() + yc.numel();
        let rg = gc.offset()..gc.offset() + gc.numel();
        match (&*gy, &*gg) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(backward(&a[ry], &b[rg], outer, n, inner, log)),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(backward(&a[ry], &b[rg], outer, n, inner, log)),
            _ => unreachable!("dtypes checked above"),
        }
    };
    Ok(Tensor::from_storage(data, y.shape()))
}

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim`, computed stably (the row max is subtracted first).
    /// Integer tensors are an error, as in PyTorch (convert with `to_float()`).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[0.0f64, 0.0], [0.0, 2f64.ln()]]);
    /// let y = x.softmax(-1).unwrap().to_vec::<f64>().unwrap();
    /// assert!((y[0] - 0.5).abs() < 1e-12 && (y[3] - 2.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_op(dim, false)
    }

    /// `x - log(sum(exp(x)))` along `dim`, computed stably; the log-probabilities that
    /// cross-entropy uses.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[1000.0f32, 1000.0]);
    /// let y = x.log_softmax(0).unwrap().to_vec::<f32>().unwrap();
    /// assert!((y[0] + 2f32.ln()).abs() < 1e-6);
    /// ```
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_op(dim, true)
    }

    fn softmax_op(&self, dim: isize, log: bool) -> Result<Tensor> {
        if let Some(wide) = crate::amp::widen(self)? {
            return wide.softmax_op(dim, log);
        }
        let op = op_name(log);
        if !self.dtype().is_float() {
            return Err(dtype_err(
                op,
                format!(
                    "not implemented for dtype {}; convert with to_float() first",
                    self.dtype()
                ),
            ));
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        let out = softmax_raw(self, d, log)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let x = SavedTensor::new(self);
        let y = SavedTensor::output(&out);
        Ok(record(op, out, &[self], move |_| {
            Box::new(move |g| {
                // recording the backward (double backward): recompute y from x to stay connected
                let y = if is_grad_enabled() {
                    x.get()?.softmax_op(d as isize, log)?
                } else {
                    y.get()?.clone()
                };
                Ok(vec![Some(softmax_grad(&y, g, d, log)?)])
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::exp_f32;
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Tensor};
    use std::slice::from_ref;

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let mut g = crate::Generator::new(seed);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    /// The composite reference: exp(x - max) / sum, in f64.
    fn reference(x: &Tensor, dim: isize, log: bool) -> Vec<f64> {
        let x = x.to_dtype(DType::F64).unwrap();
        let m = x.amax(&[dim], true).unwrap();
        let z = x.sub(&m).unwrap();
        let s = z.exp().unwrap().sum(dim, true).unwrap();
        let r = if log {
            z.sub(&s.log().unwrap()).unwrap()
        } else {
            z.exp().unwrap().div(&s).unwrap()
        };
        r.to_vec::<f64>().unwrap()
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn exp_f32_is_within_one_ulp() {
        let mut worst = 0.0f64;
        let mut x = -103.9f32;
        while x < 88.7 {
            let got = exp_f32(x) as f64;
            let want = (x as f64).exp();
            let ulp = (want as f32).abs().max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
            worst = worst.max((got - want).abs() / ulp);
            x += 0.0137;
        }
        assert!(worst <= 1.0, "worst error {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        // subnormal results keep their value
        let sub = exp_f32(-100.0) as f64;
        assert!((sub - (-100f64).exp()).abs() < 2e-45, "{sub}");
    }

    #[test]
    fn values_match_hand_computed() {
        let x = Tensor::new(&[1.0f64, 2.0, 3.0]);
        let e: Vec<f64> = [1f64, 2., 3.].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        let y = x.softmax(0).unwrap().to_vec::<f64>().unwrap();
        assert_close(&y, &e.iter().map(|v| v / s).collect::<Vec<_>>(), 1e-15);
        let l = x.log_softmax(0).unwrap().to_vec::<f64>().unwrap();
        assert_close(
            &l,
            &[1f64, 2., 3.].iter().map(|v| v - s.ln()).collect::<Vec<_>>(),
            1e-15,
        );
        // 0-dim: softmax is 1, log_softmax 0
        assert_eq!(Tensor::scalar(3.0f32).softmax(0).unwrap().item().unwrap(), 1.0);
        assert_eq!(Tensor::scalar(3.0f32).log_softmax(-1).unwrap().item().unwrap(), 0.0);
    }

    #[test]
    fn every_dim_strided_and_parallel_paths() {
        let x = randn(&[3, 4, 5], 1);
        for d in [0isize, 1, 2, -1] {
            for log in [false, true] {
                let y = if log { x.log_softmax(d) } else { x.softmax(d) }.unwrap();
                assert_close(&y.to_vec::<f64>().unwrap(), &reference(&x, d, log), 1e-13);
                // f32 through the vectorized exp
                let x32 = x.to_dtype(DType::F32).unwrap();
                let y32 = if log { x32.log_softmax(d) } else { x32.softmax(d) }.unwrap();
                assert_close(&y32.to_vec::<f64>().unwrap(), &reference(&x32, d, log), 2e-6);
            }
        }
        let xt = x.transpose(0, 2).unwrap();
        assert_close(
            &xt.softmax(1).unwrap().to_vec::<f64>().unwrap(),
            &reference(&xt, 1, false),
            1e-13,
        );
        // large enough for rayon, on the last dim and on a middle dim
        let big = randn(&[64, 700], 2)
            .to_dtype(DType::F32)
            .unwrap()
            .mul_scalar(10.0)
            .unwrap();
        assert_close(
            &big.log_softmax(1).unwrap().to_vec::<f64>().unwrap(),
            &reference(&big, 1, true),
            2e-6,
        );
        let big3 = big.reshape(&[64, 7, 100]).unwrap();
        assert_close(
            &big3.softmax(1).unwrap().to_vec::<f64>().unwrap(),
            &reference(&big3, 1, false),
            2e-6,
        );
    }

    #[test]
    fn half_precision_and_errors() {
        let x = Tensor::new(&[1.0f32, 2.0, 3.0]);
        let h = x.to_dtype(DType::F16).unwrap().softmax(0).unwrap();
        assert_eq!(h.dtype(), DType::F16);
        assert_close(&h.to_vec::<f64>().unwrap(), &reference(&x, 0, false), 1e-3);
        let b = x.to_dtype(DType::BF16).unwrap().log_softmax(0).unwrap();
        assert_close(&b.to_vec::<f64>().unwrap(), &reference(&x, 0, true), 1e-2);
        assert!(Tensor::new(&[1i64, 2]).softmax(0).is_err());
        assert!(x.softmax(1).is_err());
    }

    #[test]
    fn infinities_and_nan() {
        let x = Tensor::new(&[f32::NEG_INFINITY, 0.0, 0.0]);
        assert_eq!(x.softmax(0).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 0.5, 0.5]);
        let l = x.log_softmax(0).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(l[0], f32::NEG_INFINITY);
        assert!((l[1] + 2f32.ln()).abs() < 1e-7);
        let all = Tensor::new(&[f32::NEG_INFINITY, f32::NEG_INFINITY]).softmax(0).unwrap();
        assert!(all.to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()));
        let nan = Tensor::new(&[1.0f32, f32::NAN, 2.0]).log_softmax(0).unwrap();
        assert!(nan.to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()));
        let big = Tensor::new(&[1e30f32, 0.0]).softmax(0).unwrap();
        assert_eq!(big.to_vec::<f32>().unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn gradients_and_double_backward() {
        let x = randn(&[3, 4], 3);
        for d in [0isize, 1] {
            gradcheck(&|xs| xs[0].softmax(d), from_ref(&x), 1e-6, 1e-7).unwrap();
            gradcheck(&|xs| xs[0].log_softmax(d), from_ref(&x), 1e-6, 1e-7).unwrap();
            gradgradcheck(&|xs| xs[0].softmax(d), from_ref(&x), 1e-6, 1e-6).unwrap();
            gradgradcheck(&|xs| xs[0].log_softmax(d), from_ref(&x), 1e-6, 1e-6).unwrap();
        }
        let x3 = randn(&[2, 3, 4], 4);
        gradcheck(&|xs| xs[0].log_softmax(1), from_ref(&x3), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].softmax(1), &[x3], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn fused_backward_matches_composite() {
        for (shape, d) in [(vec![5usize, 7], 1isize), (vec![4, 3, 6], 1), (vec![300, 130], -1)] {
            let x = randn(&shape, 5);
            let g = randn(&shape, 6);
            for log in [false, true] {
                let run = |create_graph: bool| {
                    let xl = x.detach().requires_grad_(true);
                    let y = if log { xl.log_softmax(d) } else { xl.softmax(d) }.unwrap();
                    let gr =
                        crate::autograd::grad(&[y], &[xl], Some(from_ref(&g)), create_graph, create_graph).unwrap();
                    gr[0].clone().unwrap().to_vec::<f64>().unwrap()
                };
                // create_graph = true runs the composite formulas, false the fused kernel
                assert_close(&run(false), &run(true), 1e-13);
            }
        }
    }
}
