//! Cumulative sums and products along a dim.
//!
//! Like PyTorch's CPU kernels, the running value is kept in a wider accumulator (f64 for f32,
//! f32 for f16/bf16) and each output is rounded from it; integer and bool inputs give i64.

use crate::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::normalize_dim;
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use half::{bf16, f16};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Sum,
    Prod,
}

/// Scan `data` (contiguous, (outer, n, inner)) in place along the middle axis: each element
/// becomes `f(running, to(element))`, stored back through `from`.
fn scan_in_place<T: Copy + Send + Sync, A: Copy + Send + Sync>(
    data: &mut [T],
    n: usize,
    inner: usize,
    init: A,
    to: impl Fn(T) -> A + Sync,
    from: impl Fn(A) -> T + Sync,
    f: impl Fn(A, A) -> A + Sync,
) {
    let block = n * inner;
    if block == 0 {
        return;
    }
    let body = |blk: &mut [T]| {
        if inner == 1 {
            let mut acc = init;
            for v in blk.iter_mut() {
                acc = f(acc, to(*v));
                *v = from(acc);
            }
        } else {
            let mut acc = vec![init; inner];
            for row in blk.chunks_exact_mut(inner) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a = f(*a, to(*v));
                    *v = from(*a);
                }
            }
        }
    };
    if data.len() >= PAR_THRESHOLD && data.len() > block {
        data.par_chunks_mut(block)
            .with_min_len((crate::cpu::PAR_CHUNK / block).max(1))
            .for_each(body);
    } else {
        data.chunks_mut(block).for_each(body);
    }
}

fn scan_raw(x: &Tensor, dim: usize, op: Scan) -> Result<Tensor> {
    let x = match x.dtype() {
        DType::Bool | DType::U8 | DType::I32 => x.detach().to_dtype(DType::I64)?,
        _ => x.detach(),
    };
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return crate::cuda::ops::scan::scan(&x, dim, op == Scan::Prod);
    }
    let mut data = crate::cpu::copy::strided_copy(&x);
    let shape = x.shape();
    let (n, inner) = if shape.is_empty() {
        (1, 1)
    } else {
        (shape[dim], shape[dim + 1..].iter().product())
    };
    let sum = op == Scan::Sum;
    macro_rules! go {
        ($v:expr, $init_sum:expr, $init_prod:expr, $to:expr, $from:expr, $add:expr, $mul:expr) => {
            if sum {
                scan_in_place($v, n, inner, $init_sum, $to, $from, $add)
            } else {
                scan_in_place($v, n, inner, $init_prod, $to, $from, $mul)
            }
        };
    }
    match &mut data {
        CpuStorage::F32(v) => go!(
            v,
            0.0f64,
            1.0f64,
            |x: f32| x as f64,
            |a: f64| a as f32,
            |a, b| a + b,
            |a, b| a * b
        ),
        CpuStorage::F64(v) => go!(v, 0.0f64, 1.0f64, |x: f64| x, |a: f64| a, |a, b| a + b, |a, b| a * b),
        CpuStorage::F16(v) => go!(v, 0.0f32, 1.0f32, f16::to_f32, f16::from_f32, |a, b| a + b, |a, b| a
            * b),
        CpuStorage::BF16(v) => go!(v, 0.0f32, 1.0f32, bf16::to_f32, bf16::from_f32, |a, b| a + b, |a, b| a
            * b),
        CpuStorage::I64(v) => go!(
            v,
            0i64,
            1i64,
            |x: i64| x,
            |a: i64| a,
            i64::wrapping_add,
            i64::wrapping_mul
        ),
        _ => unreachable!("narrow integer and bool inputs were widened to i64"),
    }
    Ok(Tensor::from_storage(data, shape))
}

impl Tensor {
    /// Running sum along `dim`: `out[i] = x[0] + ... + x[i]`. Integer and bool inputs give i64.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]]);
    /// assert_eq!(x.cumsum(1).unwrap().to_vec::<i64>().unwrap(), vec![1, 3, 6, 4, 9, 15]);
    /// assert_eq!(x.cumsum(0).unwrap().to_vec::<i64>().unwrap(), vec![1, 2, 3, 5, 7, 9]);
    /// ```
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("cumsum", dim, self.ndim())?;
        let out = scan_raw(self, d, Scan::Sum)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        Ok(record("cumsum", out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(reverse_cumsum(g, d)?)]))
        }))
    }

    /// Running product along `dim`: `out[i] = x[0] * ... * x[i]`. The gradient is exact with
    /// zeros in the input, as PyTorch's.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[2.0f32, 3.0, 0.5]);
    /// assert_eq!(x.cumprod(0).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 6.0, 3.0]);
    /// ```
    pub fn cumprod(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("cumprod", dim, self.ndim())?;
        let out = scan_raw(self, d, Scan::Prod)?;
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let x = SavedTensor::new(self);
        let y = SavedTensor::output(&out);
        Ok(record("cumprod", out, &[self], move |_| {
            Box::new(move |g| {
                let x = x.get()?;
                let y = if is_grad_enabled() {
                    x.cumprod(d as isize)?
                } else {
                    y.get()?.clone()
                };
                Ok(vec![Some(cumprod_grad(x, &y, g, d)?)])
            })
        }))
    }
}

/// `out[i] = g[i] + ... + g[n-1]`: the adjoint of cumsum.
fn reverse_cumsum(g: &Tensor, d: usize) -> Result<Tensor> {
    if g.ndim() == 0 {
        return Ok(g.clone());
    }
    let d = d as isize;
    g.flip(&[d])?.cumsum(d)?.flip(&[d])
}

/// `dx[k] = sum_{j >= k} g[j] * prod_{i <= j, i != k} x[i]`.
///
/// Without zeros in `x` this is `reverse_cumsum(g * y) / x`. With zeros that division is
/// undefined, so the products that skip `x[k]` are formed explicitly: an `[.., n, n]` tensor
/// holding `x` with its k-th entry replaced by 1 in row k, scanned with cumprod. That costs
/// `n` times the memory, and is only used when a zero is present.
fn cumprod_grad(x: &Tensor, y: &Tensor, g: &Tensor, d: usize) -> Result<Tensor> {
    if x.ndim() == 0 {
        return Ok(g.clone());
    }
    let has_zero = x.eq_scalar(0.0)?.any(&[], false)?.item()? != 0.0;
    if !has_zero {
        return reverse_cumsum(&g.mul(y)?, d)?.div(x);
    }
    let d = d as isize;
    let (xt, gt) = (x.transpose(d, -1)?, g.transpose(d, -1)?);
    let n = *xt.shape().last().expect("at least one dim");
    let mut square = xt.shape().to_vec();
    square.push(n);
    let nd = square.len();
    square.swap(nd - 2, nd - 1);
    // skip[.., k, i] = x[.., i] for i != k, 1 on the diagonal
    let diag = Tensor::eye(n).ne_scalar(0.0)?.to(x.device())?;
    let one = Tensor::ones_dtype(&[], x.dtype())?;
    let skip = Tensor::where_(&diag, &one, &xt.unsqueeze(-2)?.broadcast_to(&square)?)?;
    // prods[.., k, j] = prod_{i <= j, i != k} x[i]; keep j >= k
    let prods = skip.cumprod(-1)?;
    let dx = prods.mul(&gt.unsqueeze(-2)?)?.triu(0)?.sum(-1, false)?;
    dx.transpose(d, -1)
}

#[cfg(test)]
mod tests {
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Tensor};
    use std::slice::from_ref;

    fn f64t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn randn(shape: &[usize]) -> Tensor {
        let mut g = crate::Generator::new(3);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    #[test]
    fn cumsum_values_dtypes_and_dims() {
        let x = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(
            x.cumsum(-1).unwrap().to_vec::<f64>().unwrap(),
            vec![1., 3., 6., 4., 9., 15.]
        );
        assert_eq!(
            x.t().cumsum(0).unwrap().to_vec::<f64>().unwrap(),
            vec![1., 4., 3., 9., 6., 15.]
        );
        let b = Tensor::new(&[true, false, true]).cumsum(0).unwrap();
        assert_eq!(b.dtype(), DType::I64);
        assert_eq!(b.to_vec::<i64>().unwrap(), vec![1, 1, 2]);
        assert_eq!(Tensor::new(&[1i32, 2]).cumsum(0).unwrap().dtype(), DType::I64);
        assert_eq!(Tensor::scalar(2.5f32).cumsum(0).unwrap().item().unwrap(), 2.5);
        assert!(x.cumsum(2).is_err());
        // f32 accumulates in f64, as PyTorch's CPU kernel: 1e8 + 1 + 1 - 1e8 keeps the ones
        let y = Tensor::new(&[1e8f32, 1.0, 1.0, -1e8])
            .cumsum(0)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(y[3], 2.0);
        let h = Tensor::new(&[1.0f32, 2.0, 3.0])
            .to_dtype(DType::F16)
            .unwrap()
            .cumsum(0)
            .unwrap();
        assert_eq!(h.dtype(), DType::F16);
        assert_eq!(h.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 6.0]);
    }

    #[test]
    fn cumsum_large_parallel_rows() {
        let x = Tensor::ones(&[400, 100]);
        let y = x.cumsum(1).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(y[99], 100.0);
        assert_eq!(y[399 * 100 + 49], 50.0);
        let z = x.cumsum(0).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(z[399 * 100 + 7], 400.0);
    }

    #[test]
    fn cumprod_values() {
        let x = f64t(&[1., 2., 3., 4., 0., 6.], &[2, 3]);
        assert_eq!(
            x.cumprod(1).unwrap().to_vec::<f64>().unwrap(),
            vec![1., 2., 6., 4., 0., 0.]
        );
        assert_eq!(
            x.cumprod(0).unwrap().to_vec::<f64>().unwrap(),
            vec![1., 2., 3., 4., 0., 18.]
        );
        assert_eq!(
            Tensor::new(&[2i64, 3, 4]).cumprod(0).unwrap().to_vec::<i64>().unwrap(),
            vec![2, 6, 24]
        );
    }

    #[test]
    fn gradients() {
        let x = randn(&[3, 4]);
        gradcheck(&|xs| xs[0].cumsum(1), from_ref(&x), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| xs[0].cumsum(0), from_ref(&x), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].cumsum(1)?.square(), from_ref(&x), 1e-6, 1e-6).unwrap();
        gradcheck(&|xs| xs[0].cumprod(1), from_ref(&x), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| xs[0].cumprod(0), from_ref(&x), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].cumprod(1), &[x], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn cumprod_gradient_with_zeros() {
        // one zero and two zeros in a row, zero first and last
        for v in [[2., 0., 3., 4.], [0., 2., 0., 5.], [1.5, 2., 3., 0.], [0., 0., 0., 2.]] {
            let x = f64t(&v, &[1, 4]);
            gradcheck(&|xs| xs[0].cumprod(1), from_ref(&x), 1e-6, 1e-7).unwrap();
            gradgradcheck(&|xs| xs[0].cumprod(1), from_ref(&x), 1e-6, 1e-6).unwrap();
        }
        // hand-computed: x = [2, 0, 3], g = 1: dx0 = 1 + 0 + 0, dx1 = 2 + 2*3, dx2 = 0
        let x = f64t(&[2., 0., 3.], &[3]).requires_grad_(true);
        x.cumprod(0).unwrap().sum_all().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![1., 8., 0.]);
        // along dim 0 of a matrix with a zero
        let m = f64t(&[1., 2., 0., 3., 4., 5.], &[3, 2]);
        gradcheck(&|xs| xs[0].cumprod(0), &[m], 1e-6, 1e-7).unwrap();
    }
}
