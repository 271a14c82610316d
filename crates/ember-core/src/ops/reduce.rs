//! Reductions over one, several or all dims, with `keepdim`.
//!
//! Every reduction is brought into the canonical form (outer, reduced, inner) over a contiguous
//! buffer: when the reduced dims are already adjacent in a contiguous tensor no copy is made
//! (summing a batch dim or a feature dim both hit this path); otherwise the reduced dims are
//! permuted to the end and copied once.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::dtype::DType;
use crate::error::{dtype_err, shape_err, Result};
use crate::shape::normalize_dim;
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Prod,
    Max,
    Min,
}

/// The normalized, sorted, deduplicated dims to reduce (empty `dims` = all dims).
pub(crate) fn reduce_dims(op: &'static str, dims: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..ndim).collect());
    }
    let mut v = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(op, d, ndim)?;
        if ndim == 0 {
            continue;
        }
        if v.contains(&d) {
            return Err(shape_err(
                op,
                format!("dim {d} appears multiple times in the list of dims"),
            ));
        }
        v.push(d);
    }
    v.sort_unstable();
    Ok(v)
}

/// The output shape of a reduction.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (i, &s) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

/// A contiguous tensor and (outer, reduced, inner) sizes such that element (o, r, i) is at
/// `o * reduced * inner + r * inner + i`.
pub(crate) fn canonical(t: &Tensor, dims: &[usize]) -> Result<(Tensor, usize, usize, usize)> {
    let shape = t.shape();
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    if t.is_contiguous() && adjacent && !dims.is_empty() {
        let (first, last) = (dims[0], *dims.last().unwrap());
        let outer: usize = shape[..first].iter().product();
        let red: usize = shape[first..=last].iter().product();
        // from the shape, not numel / (outer * red): an empty reduced dim leaves inner intact
        let inner: usize = shape[last + 1..].iter().product();
        return Ok((t.clone(), outer, red, inner));
    }
    let keep: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
    let perm: Vec<isize> = keep.iter().chain(dims.iter()).map(|&d| d as isize).collect();
    let p = crate::autograd::no_grad_scope(|| t.permute(&perm))?.contiguous_data();
    let outer: usize = keep.iter().map(|&d| shape[d]).product();
    let red: usize = dims.iter().map(|&d| shape[d]).product();
    Ok((p, outer, red, 1))
}

/// Reduce a contiguous slice in (outer, red, inner) form with `f` starting from `init`.
fn reduce_kernel<T: Copy + Send + Sync>(
    x: &[T],
    outer: usize,
    red: usize,
    inner: usize,
    init: T,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Vec<T> {
    let mut out = vec![init; outer * inner];
    if out.is_empty() {
        return out;
    }
    if inner == 1 {
        let body = |(o, slot): (usize, &mut T)| {
            let row = &x[o * red..(o + 1) * red];
            // 8 independent accumulators let the compiler vectorize the reduction
            let mut acc = [init; 8];
            let chunks = row.chunks_exact(8);
            let rest = chunks.remainder();
            for c in chunks {
                for k in 0..8 {
                    acc[k] = f(acc[k], c[k]);
                }
            }
            let mut a = init;
            for v in acc {
                a = f(a, v);
            }
            for &v in rest {
                a = f(a, v);
            }
            *slot = a;
        };
        if outer * red >= crate::cpu::PAR_THRESHOLD && outer > 1 {
            out.par_iter_mut().enumerate().for_each(body);
        } else {
            out.iter_mut().enumerate().for_each(body);
        }
    } else {
        let body = |(o, dst): (usize, &mut [T])| {
            for r in 0..red {
                let src = &x[(o * red + r) * inner..(o * red + r + 1) * inner];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = f(*d, s);
                }
            }
        };
        if outer * red * inner >= crate::cpu::PAR_THRESHOLD && outer > 1 {
            out.par_chunks_mut(inner).enumerate().for_each(body);
        } else {
            out.chunks_mut(inner).enumerate().for_each(body);
        }
    }
    out
}

impl Tensor {
    /// Raw reduction (no autograd): sum/prod/max/min over `dims`.
    pub(crate) fn reduce_raw(&self, op: Reduce, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let name = match op {
            Reduce::Sum => "sum",
            Reduce::Prod => "prod",
            Reduce::Max => "max",
            Reduce::Min => "min",
        };
        let out_shape = reduced_shape(self.shape(), dims, keepdim);
        // sums of integers and bools accumulate in i64; f16/bf16 accumulate in f32
        let src = match (op, self.dtype()) {
            (Reduce::Sum | Reduce::Prod, DType::Bool | DType::U8 | DType::I32) => self.to_dtype(DType::I64)?,
            (_, DType::F16 | DType::BF16) => self.to_dtype(DType::F32)?,
            _ => self.clone(),
        };
        // max/min of nothing is undefined; for bools (all/any) the identities true/false apply
        if matches!(op, Reduce::Max | Reduce::Min)
            && self.dtype() != DType::Bool
            && dims.iter().any(|&d| self.shape()[d] == 0)
        {
            return Err(shape_err(
                name,
                format!("cannot reduce over a zero-size dimension (shape {:?})", self.shape()),
            ));
        }
        let (c, outer, red, inner) = canonical(&src.detach(), dims)?;
        #[cfg(feature = "cuda")]
        if c.device().is_cuda() {
            let out = crate::cuda::ops::reduce::reduce(&c, op, outer, red, inner, &out_shape)?;
            if matches!(self.dtype(), DType::F16 | DType::BF16) {
                return out.to_dtype(self.dtype());
            }
            return Ok(out);
        }
        let g = c.read();
        let off = c.offset();
        macro_rules! run {
            ($x:expr, $V:ident, $zero:expr, $one:expr, $lo:expr, $hi:expr) => {{
                let x = &$x[off..off + outer * red * inner];
                CpuStorage::$V(match op {
                    Reduce::Sum => reduce_kernel(x, outer, red, inner, $zero, |a, b| a + b),
                    Reduce::Prod => reduce_kernel(x, outer, red, inner, $one, |a, b| a * b),
                    Reduce::Max => reduce_kernel(
                        x,
                        outer,
                        red,
                        inner,
                        $lo,
                        |a, b| if b > a || b != b { b } else { a },
                    ),
                    Reduce::Min => reduce_kernel(
                        x,
                        outer,
                        red,
                        inner,
                        $hi,
                        |a, b| if b < a || b != b { b } else { a },
                    ),
                })
            }};
        }
        let data = match &*g {
            CpuStorage::F32(x) => run!(x, F32, 0.0f32, 1.0f32, f32::NEG_INFINITY, f32::INFINITY),
            CpuStorage::F64(x) => run!(x, F64, 0.0f64, 1.0f64, f64::NEG_INFINITY, f64::INFINITY),
            CpuStorage::I64(x) => run!(x, I64, 0i64, 1i64, i64::MIN, i64::MAX),
            CpuStorage::I32(x) => run!(x, I32, 0i32, 1i32, i32::MIN, i32::MAX),
            CpuStorage::U8(x) => run!(x, U8, 0u8, 1u8, u8::MIN, u8::MAX),
            CpuStorage::Bool(x) => CpuStorage::Bool(match op {
                Reduce::Max => reduce_kernel(&x[off..], outer, red, inner, false, |a, b| a | b),
                Reduce::Min => reduce_kernel(&x[off..], outer, red, inner, true, |a, b| a & b),
                _ => unreachable!(),
            }),
            s => return Err(dtype_err(name, format!("unsupported dtype {}", s.dtype()))),
        };
        drop(g);
        let out = Tensor::from_storage(data, &out_shape);
        if matches!(self.dtype(), DType::F16 | DType::BF16) {
            return out.to_dtype(self.dtype());
        }
        Ok(out)
    }

    /// Sum over `dims` (empty = all dims).
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(wide) = crate::amp::widen(self)? {
            return wide.sum_dims(dims, keepdim);
        }
        let d = reduce_dims("sum", dims, self.ndim())?;
        let out = self.reduce_raw(Reduce::Sum, &d, keepdim)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let in_shape = self.shape().to_vec();
        let kept = reduced_shape(&in_shape, &d, true);
        Ok(record("sum", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(g.reshape_to(&kept)?.broadcast_to(&in_shape)?.contiguous())]))
        }))
    }

    /// Sum over one dim.
    pub fn sum(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.sum_dims(&[dim], keepdim)
    }

    /// Sum of all elements as a 0-dim tensor.
    pub fn sum_all(&self) -> Tensor {
        self.sum_dims(&[], false).expect("sum over all dims cannot fail")
    }

    /// Mean over `dims` (empty = all); integer inputs are an error, as in PyTorch.
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(wide) = crate::amp::widen(self)? {
            return wide.mean_dims(dims, keepdim);
        }
        if !self.dtype().is_float() {
            return Err(dtype_err(
                "mean",
                format!(
                    "could not infer output dtype: input dtype should be floating point, got {}",
                    self.dtype()
                ),
            ));
        }
        let d = reduce_dims("mean", dims, self.ndim())?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        self.sum_dims(dims, keepdim)?.div_scalar(n as f64)
    }

    pub fn mean(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.mean_dims(&[dim], keepdim)
    }

    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean_dims(&[], false)
    }

    /// Product over `dims`.
    pub fn prod_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims("prod", dims, self.ndim())?;
        let out = self.reduce_raw(Reduce::Prod, &d, keepdim)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let x = SavedTensor::new(self);
        let kept = reduced_shape(self.shape(), &d, true);
        Ok(record("prod", out, &[self], move |_| {
            Box::new(move |g| {
                let x = x.get()?;
                let grad_in = prod_grad(x, &d)?;
                Ok(vec![Some(g.reshape_to(&kept)?.mul(&grad_in)?)])
            })
        }))
    }

    pub fn prod(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.prod_dims(&[dim], keepdim)
    }

    /// Max over `dims` (values only); the gradient is split evenly among ties, as PyTorch's
    /// `amax` does.
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.extreme(Reduce::Max, dims, keepdim)
    }

    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.extreme(Reduce::Min, dims, keepdim)
    }

    /// Max of all elements (0-dim).
    pub fn max_all(&self) -> Result<Tensor> {
        self.amax(&[], false)
    }

    pub fn min_all(&self) -> Result<Tensor> {
        self.amin(&[], false)
    }

    fn extreme(&self, op: Reduce, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let name = if op == Reduce::Max { "amax" } else { "amin" };
        let d = reduce_dims(name, dims, self.ndim())?;
        if d.iter().any(|&i| self.shape()[i] == 0) {
            return Err(shape_err(
                name,
                format!("cannot reduce over a zero-size dimension (shape {:?})", self.shape()),
            ));
        }
        let out = self.reduce_raw(op, &d, keepdim)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let x = SavedTensor::new(self);
        let y = SavedTensor::output(&out);
        let kept = reduced_shape(self.shape(), &d, true);
        let dims: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        Ok(record(name, out, &[self], move |_| {
            Box::new(move |g| {
                let x = x.get()?;
                let y = y.get()?.reshape_to(&kept)?;
                let mask = x.eq(&y)?.to_dtype(x.dtype())?;
                let count = mask.sum_dims(&dims, true)?;
                Ok(vec![Some(g.reshape_to(&kept)?.mul(&mask.div(&count)?)?)])
            })
        }))
    }

    /// True if all elements are non-zero (over `dims`, empty = all). Bool result, except for u8
    /// inputs, which give u8 as in PyTorch.
    pub fn all(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims("all", dims, self.ndim())?;
        self.to_dtype(DType::Bool)?
            .reduce_raw(Reduce::Min, &d, keepdim)?
            .bool_result_like(self)
    }

    /// True if any element is non-zero (bool; u8 for u8 inputs, as `all`).
    pub fn any(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims("any", dims, self.ndim())?;
        self.to_dtype(DType::Bool)?
            .reduce_raw(Reduce::Max, &d, keepdim)?
            .bool_result_like(self)
    }

    /// PyTorch's all/any keep uint8 for uint8 inputs (a legacy rule); bool otherwise.
    fn bool_result_like(self, input: &Tensor) -> Result<Tensor> {
        if input.dtype() == DType::U8 {
            self.to_dtype(DType::U8)
        } else {
            Ok(self)
        }
    }

    /// Variance over `dims` with `correction` (1 = unbiased, PyTorch's default).
    pub fn var_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims("var", dims, self.ndim())?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let mean = self.mean_dims(dims, true)?;
        let dev = self.sub(&mean)?.square()?.sum_dims(dims, keepdim)?;
        dev.div_scalar((n as f64 - correction as f64).max(0.0))
    }

    pub fn var(&self, dim: isize, correction: usize, keepdim: bool) -> Result<Tensor> {
        self.var_dims(&[dim], correction, keepdim)
    }

    /// Standard deviation over `dims` with `correction`. Where the deviation is zero (constant
    /// values) the gradient is zero, as in PyTorch, not the NaN that `sqrt(var)` would give.
    pub fn std_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        let out = crate::autograd::no_grad_scope(|| self.var_dims(dims, correction, keepdim)?.sqrt())?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let d = reduce_dims("std", dims, self.ndim())?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let denom = (n as f64 - correction as f64).max(0.0);
        let kept = reduced_shape(self.shape(), &d, true);
        let dims = dims.to_vec();
        let (x, y) = (SavedTensor::new(self), SavedTensor::output(&out));
        Ok(record("std", out, &[self], move |_| {
            Box::new(move |g| {
                let x = x.get()?;
                // recompute when the backward is recorded, so it stays connected to x
                let std = if crate::autograd::is_grad_enabled() {
                    x.std_dims(&dims, correction, true)?
                } else {
                    y.get()?.reshape_to(&kept)?
                };
                // d std / dx = (x - mean) / ((n - correction) * std)
                let scale = g
                    .reshape_to(&kept)?
                    .div(&std.mul_scalar(denom)?)?
                    .masked_fill(&std.eq_scalar(0.0)?, 0.0)?;
                Ok(vec![Some(x.sub(&x.mean_dims(&dims, true)?)?.mul(&scale)?)])
            })
        }))
    }

    pub fn std(&self, dim: isize, correction: usize, keepdim: bool) -> Result<Tensor> {
        self.std_dims(&[dim], correction, keepdim)
    }

    /// log(sum(exp(x))) over `dims`, computed stably (max subtracted first).
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims("logsumexp", dims, self.ndim())?;
        if d.iter().any(|&i| self.shape()[i] == 0) {
            // log of an empty sum: -inf, as in PyTorch (and no max to subtract)
            return self.sum_dims(dims, keepdim)?.log();
        }
        let m = crate::autograd::no_grad_scope(|| self.amax(dims, true))?;
        let m = m.masked_fill(&m.isinf()?, 0.0)?;
        let s = self.sub(&m)?.exp()?.sum_dims(dims, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            s.reshape_to(&reduced_shape(self.shape(), &d, false))
        }
    }

    /// Vector p-norm over `dims` (p = 1, 2, or f64::INFINITY; other p > 0 work too).
    pub fn norm(&self, p: f64, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(dtype_err(
                "norm",
                format!("expected a floating point tensor as input, got {}", self.dtype()),
            ));
        }
        if p == f64::INFINITY {
            self.abs()?.amax(dims, keepdim)
        } else if p == 1.0 {
            self.abs()?.sum_dims(dims, keepdim)
        } else if p == 2.0 {
            self.square()?.sum_dims(dims, keepdim)?.sqrt()
        } else {
            self.abs()?.pow_scalar(p)?.sum_dims(dims, keepdim)?.pow_scalar(1.0 / p)
        }
    }
}

/// `d prod(x over dims) / dx_i`: the product of the other reduced entries, shaped like `x`.
///
/// Without zeros that is `prod / x`. With a zero the division is undefined, so (as PyTorch does)
/// the reduced entries are flattened into one axis and the product of the others is formed as
/// (exclusive cumprod from the left) * (exclusive cumprod from the right). That form is itself
/// differentiable, so double backward stays exact when two or more entries are zero.
fn prod_grad(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    if x.numel() == 0 {
        return Ok(Tensor::zeros_like(x));
    }
    let has_zero = x.eq_scalar(0.0)?.any(&[], false)?.item()? != 0.0;
    if !has_zero {
        let signed: Vec<isize> = dims.iter().map(|&i| i as isize).collect();
        return x.prod_dims(&signed, true)?.div(x);
    }
    let nd = x.ndim();
    let keep: Vec<usize> = (0..nd).filter(|i| !dims.contains(i)).collect();
    let perm: Vec<usize> = keep.iter().chain(dims.iter()).copied().collect();
    let perm_signed: Vec<isize> = perm.iter().map(|&i| i as isize).collect();
    let moved = x.permute(&perm_signed)?;
    let mut flat_shape: Vec<usize> = keep.iter().map(|&i| x.shape()[i]).collect();
    let n: usize = dims.iter().map(|&i| x.shape()[i]).product();
    let mut one_shape = flat_shape.clone();
    one_shape.push(1);
    flat_shape.push(n);
    let flat = moved.reshape_to(&flat_shape)?;
    let ones = Tensor::ones_dtype(&one_shape, x.dtype())?.to(x.device())?;
    let before = Tensor::cat(&[ones.clone(), flat.narrow(-1, 0, n - 1)?], -1)?.cumprod(-1)?;
    let after = Tensor::cat(&[flat.narrow(-1, 1, n - 1)?, ones], -1)?
        .flip(&[-1])?
        .cumprod(-1)?
        .flip(&[-1])?;
    let others = before.mul(&after)?.reshape_to(moved.shape())?;
    // undo the permutation
    let mut inverse = vec![0isize; nd];
    for (pos, &axis) in perm.iter().enumerate() {
        inverse[axis] = pos as isize;
    }
    others.permute(&inverse)
}
