//! `layer_norm` over the trailing dims as one op with a fused CPU kernel (W6: the composite's
//! nine elementwise and reduction passes, forward and backward, cost about a tenth of a
//! transformer layer's training step).
//!
//! The input is viewed as `rows x d` (`d` = the product of `normalized_shape`). The forward
//! kernel takes each row while it is in cache: its mean, `rstd = 1 / sqrt(var + eps)` (biased
//! variance, two passes so it stays exact for rows far from zero), and the affine output. The
//! per-row mean and rstd are saved for the gradient rule:
//!
//! ```text
//! xhat = (x - mean) * rstd        gh = g * w (or g)
//! dx   = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
//! dw   = sum over rows of g * xhat          db = sum over rows of g
//! ```
//!
//! which runs as a fused kernel when the backward pass is not itself recorded; when it is
//! (double backward) the same formulas run as Tensor ops on statistics recomputed from the
//! input, so they stay connected to it. On a GPU the same fused path runs the kernels of
//! `cuda/ops/norm.rs` once `cuda::set_fused_layer_norm(true)` is set (opt-in until they have
//! run on a GPU). f16/bf16, empty inputs and GPU tensors without the switch take the composite
//! ([`layer_norm_composite`]), which is also the reference the kernels are tested against.

use crate::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use crate::cpu::math::{lane_sum, lane_sum2, Float};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::DType;
use crate::error::{shape_err, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Rows per parallel task: enough elements that a task outweighs rayon's fork cost.
fn rows_per_task(d: usize) -> usize {
    (PAR_THRESHOLD / 2 / d.max(1)).max(1)
}

/// One forward task's rows: input, output, mean and rstd slices.
type ForwardRows<'a, T> = (((&'a [T], &'a mut [T]), &'a mut [T]), &'a mut [T]);

/// Forward over `rows x d`: writes `y`, and the per-row `mean` and `rstd`.
fn forward<T: Float>(x: &[T], w: Option<&[T]>, b: Option<&[T]>, d: usize, eps: T) -> (Vec<T>, Vec<T>, Vec<T>) {
    let rows = x.len() / d;
    let (mut y, mut mean, mut rstd) = (vec![T::ZERO; x.len()], vec![T::ZERO; rows], vec![T::ZERO; rows]);
    let dn = T::c(d as f64);
    let one_row = |xr: &[T], yr: &mut [T], m: &mut T, r: &mut T| {
        let mu = lane_sum(xr, |v| v) / dn;
        let var = lane_sum(xr, |v| (v - mu) * (v - mu)) / dn;
        let rs = T::ONE / (var + eps).sqrt();
        match (w, b) {
            (Some(w), Some(b)) => {
                for (((o, &v), &wv), &bv) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                    *o = (v - mu) * rs * wv + bv;
                }
            }
            (Some(w), None) => {
                for ((o, &v), &wv) in yr.iter_mut().zip(xr).zip(w) {
                    *o = (v - mu) * rs * wv;
                }
            }
            (None, Some(b)) => {
                for ((o, &v), &bv) in yr.iter_mut().zip(xr).zip(b) {
                    *o = (v - mu) * rs + bv;
                }
            }
            (None, None) => {
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = (v - mu) * rs;
                }
            }
        }
        (*m, *r) = (mu, rs);
    };
    let task = |(((xs, ys), ms), rs): ForwardRows<'_, T>| {
        for (((xr, yr), m), r) in xs.chunks(d).zip(ys.chunks_mut(d)).zip(ms).zip(rs) {
            one_row(xr, yr, m, r);
        }
    };
    let per = rows_per_task(d);
    if x.len() >= PAR_THRESHOLD && rows > per {
        x.par_chunks(per * d)
            .zip(y.par_chunks_mut(per * d))
            .zip(mean.par_chunks_mut(per))
            .zip(rstd.par_chunks_mut(per))
            .for_each(task);
    } else {
        task((((x, &mut y[..]), &mut mean[..]), &mut rstd[..]));
    }
    (y, mean, rstd)
}

/// The three gradients over `rows x d`; `dw`/`db` are summed per task, then over tasks.
#[allow(clippy::type_complexity)]
fn backward<T: Float>(
    x: &[T],
    g: &[T],
    w: Option<&[T]>,
    mean: &[T],
    rstd: &[T],
    d: usize,
    want_dx: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
    let inv_d = T::ONE / T::c(d as f64);
    let per = rows_per_task(d);
    // one task: rows [r0, r0 + n) -> its dx rows (written in place) and partial dw, db
    let task = |r0: usize, dx: Option<&mut [T]>| -> (Vec<T>, Vec<T>) {
        let (mut dw, mut db) = (vec![T::ZERO; d], vec![T::ZERO; d]);
        let n = dx.as_ref().map_or(per.min(mean.len() - r0), |s| s.len() / d);
        let mut gh = vec![T::ZERO; d];
        let mut dx = dx;
        for i in 0..n {
            let r = r0 + i;
            let (xr, gr) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let (mu, rs) = (mean[r], rstd[r]);
            for (((a, b), &xv), &gv) in dw.iter_mut().zip(db.iter_mut()).zip(xr).zip(gr) {
                *a = *a + gv * (xv - mu) * rs;
                *b = *b + gv;
            }
            let Some(dx) = dx.as_deref_mut() else { continue };
            match w {
                Some(w) => {
                    for ((h, &gv), &wv) in gh.iter_mut().zip(gr).zip(w) {
                        *h = gv * wv;
                    }
                }
                None => gh.copy_from_slice(gr),
            }
            let mh = lane_sum(&gh, |v| v) * inv_d;
            let mhx = lane_sum2(&gh, xr, |h, xv| h * (xv - mu)) * rs * inv_d;
            for ((o, &h), &xv) in dx[i * d..(i + 1) * d].iter_mut().zip(&gh).zip(xr) {
                *o = rs * (h - mh - (xv - mu) * rs * mhx);
            }
        }
        (dw, db)
    };
    let rows = mean.len();
    let merge = |(mut a, mut b): (Vec<T>, Vec<T>), (c, e): (Vec<T>, Vec<T>)| {
        for (u, v) in a.iter_mut().zip(c) {
            *u = *u + v;
        }
        for (u, v) in b.iter_mut().zip(e) {
            *u = *u + v;
        }
        (a, b)
    };
    let zero = || (vec![T::ZERO; d], vec![T::ZERO; d]);
    let parallel = x.len() >= PAR_THRESHOLD && rows > per;
    let mut dx = want_dx.then(|| vec![T::ZERO; x.len()]);
    let (dw, db) = match (&mut dx, parallel) {
        (Some(dx), true) => dx
            .par_chunks_mut(per * d)
            .enumerate()
            .map(|(k, c)| task(k * per, Some(c)))
            .reduce(zero, merge),
        (Some(dx), false) => task(0, Some(&mut dx[..])),
        (None, true) => (0..rows.div_ceil(per))
            .into_par_iter()
            .map(|k| task(k * per, None))
            .reduce(zero, merge),
        (None, false) => (0..rows.div_ceil(per)).map(|k| task(k * per, None)).fold(zero(), merge),
    };
    (dx, dw, db)
}

/// The composite: `(x - mean) / sqrt(var + eps) * w + b` with Tensor ops over `dims`.
fn composite(x: &Tensor, dims: &[isize], w: Option<&Tensor>, b: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let mean = x.mean_dims(dims, true)?;
    let xc = x.sub(&mean)?;
    let var = xc.square()?.mean_dims(dims, true)?;
    let y = xc.mul(&var.add_scalar(eps)?.rsqrt()?)?;
    let y = match w {
        Some(w) => y.mul(w)?,
        None => y,
    };
    match b {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// `layer_norm` written with Tensor ops only: the fallback for dtypes and devices without the
/// fused kernel, and the reference it is tested against.
pub fn layer_norm_composite(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims = check(x, normalized_shape, weight, bias)?;
    composite(x, &dims, weight, bias, eps)
}

/// The trailing dims to normalize over, after checking every shape.
fn check(x: &Tensor, ns: &[usize], w: Option<&Tensor>, b: Option<&Tensor>) -> Result<Vec<isize>> {
    let k = ns.len();
    if k == 0 || x.ndim() < k || &x.shape()[x.ndim() - k..] != ns {
        return Err(shape_err(
            "layer_norm",
            format!(
                "given normalized_shape={ns:?}, expected input with shape [*, {}], but got input of size {:?}",
                ns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                x.shape()
            ),
        ));
    }
    for (name, t) in [("weight", w), ("bias", b)] {
        if let Some(t) = t {
            if t.shape() != ns {
                return Err(shape_err(
                    "layer_norm",
                    format!("{name} of shape {:?} does not match normalized_shape={ns:?}", t.shape()),
                ));
            }
        }
    }
    Ok((-(k as isize)..0).collect())
}

/// The elements of the contiguous tensor `$t` in `$storage` (a `&CpuStorage` of variant `$variant`).
macro_rules! slice_of {
    ($storage:expr, $t:expr, $variant:ident) => {
        match $storage {
            CpuStorage::$variant(v) => &v[$t.offset()..$t.offset() + $t.numel()],
            _ => unreachable!("dtype checked by the caller"),
        }
    };
}

/// The fused forward on f32/f64 (CPU, or a GPU's kernels): `(y, mean, rstd)` with
/// `mean`/`rstd` of shape `[rows]`.
fn fused_forward(
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    d: usize,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (xc, wc, bc) = (
        x.contiguous_data(),
        w.map(|t| t.contiguous_data()),
        b.map(|t| t.contiguous_data()),
    );
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return crate::cuda::ops::norm::forward(&xc, wc.as_ref(), bc.as_ref(), d, eps);
    }
    let rows = x.numel() / d;
    let (gx, gw, gb) = (xc.read(), wc.as_ref().map(|t| t.read()), bc.as_ref().map(|t| t.read()));
    macro_rules! run {
        ($variant:ident, $t:ty) => {{
            let (y, m, r) = forward::<$t>(
                slice_of!(&*gx, xc, $variant),
                gw.as_ref().map(|g| slice_of!(&**g, wc.as_ref().unwrap(), $variant)),
                gb.as_ref().map(|g| slice_of!(&**g, bc.as_ref().unwrap(), $variant)),
                d,
                eps as $t,
            );
            (
                CpuStorage::$variant(y),
                CpuStorage::$variant(m),
                CpuStorage::$variant(r),
            )
        }};
    }
    let (y, m, r) = if x.dtype() == DType::F32 {
        run!(F32, f32)
    } else {
        run!(F64, f64)
    };
    Ok((
        Tensor::from_storage(y, x.shape()),
        Tensor::from_storage(m, &[rows]),
        Tensor::from_storage(r, &[rows]),
    ))
}

/// The fused gradients `(dx if want_dx, dw, db)`, dw/db of shape `normalized_shape`.
fn fused_backward(
    x: &Tensor,
    g: &Tensor,
    w: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    ns: &[usize],
    want_dx: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let d: usize = ns.iter().product();
    let (xc, gc, wc) = (x.contiguous_data(), g.contiguous_data(), w.map(|t| t.contiguous_data()));
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return crate::cuda::ops::norm::backward(&xc, &gc, wc.as_ref(), mean, rstd, ns, want_dx);
    }
    let (gx, gg, gw, gm, gr) = (
        xc.read(),
        gc.read(),
        wc.as_ref().map(|t| t.read()),
        mean.read(),
        rstd.read(),
    );
    macro_rules! run {
        ($variant:ident) => {{
            let (dx, dw, db) = backward(
                slice_of!(&*gx, xc, $variant),
                slice_of!(&*gg, gc, $variant),
                gw.as_ref().map(|s| slice_of!(&**s, wc.as_ref().unwrap(), $variant)),
                slice_of!(&*gm, mean, $variant),
                slice_of!(&*gr, rstd, $variant),
                d,
                want_dx,
            );
            (
                dx.map(CpuStorage::$variant),
                CpuStorage::$variant(dw),
                CpuStorage::$variant(db),
            )
        }};
    }
    let (dx, dw, db) = if x.dtype() == DType::F32 { run!(F32) } else { run!(F64) };
    Ok((
        dx.map(|s| Tensor::from_storage(s, x.shape())),
        Tensor::from_storage(dw, ns),
        Tensor::from_storage(db, ns),
    ))
}

/// The gradient rule with Tensor ops, differentiable again (for double backward): statistics
/// recomputed from `x` so the result stays connected to it.
fn composite_grads(
    x: &Tensor,
    g: &Tensor,
    w: Option<&Tensor>,
    dims: &[isize],
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let mean = x.mean_dims(dims, true)?;
    let xc = x.sub(&mean)?;
    let rstd = xc.square()?.mean_dims(dims, true)?.add_scalar(eps)?.rsqrt()?;
    let xhat = xc.mul(&rstd)?;
    let gh = match w {
        Some(w) => g.mul(w)?,
        None => g.clone(),
    };
    let dx = rstd.mul(
        &gh.sub(&gh.mean_dims(dims, true)?)?
            .sub(&xhat.mul(&gh.mul(&xhat)?.mean_dims(dims, true)?)?)?,
    )?;
    let lead: Vec<isize> = (0..(x.ndim() - dims.len()) as isize).collect();
    let dw = g.mul(&xhat)?.sum_dims(&lead, false)?;
    let db = g.sum_dims(&lead, false)?;
    Ok((dx, dw, db))
}

impl Tensor {
    /// Layer normalization over the trailing `normalized_shape` dims:
    /// `(x - mean) / sqrt(var + eps) * weight + bias` with the biased variance, as
    /// `torch.nn.functional.layer_norm`. `weight` and `bias`, when given, have shape
    /// `normalized_shape`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let y = Tensor::new(&[[1.0f32, 3.0]]).layer_norm(&[2], None, None, 0.0).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, 1.0]);
    /// ```
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        let dims = check(self, normalized_shape, weight, bias)?;
        let dt = self.dtype();
        let dev = self.device();
        let fused = matches!(dt, DType::F32 | DType::F64)
            && (dev.is_cpu() || (dev.is_cuda() && crate::cuda::fused_layer_norm()))
            && self.numel() > 0
            && [weight, bias]
                .iter()
                .flatten()
                .all(|t| t.dtype() == dt && t.device() == dev)
            && crate::amp::autocast_dtype().is_none();
        if !fused {
            return composite(self, &dims, weight, bias, eps);
        }
        let d: usize = normalized_shape.iter().product();
        let (y, mean, rstd) = fused_forward(self, weight, bias, d, eps)?;
        let inputs: Vec<&Tensor> = std::iter::once(self).chain(weight).chain(bias).collect();
        if !needs_grad(&inputs) {
            return Ok(y);
        }
        let need = [
            self.requires_grad(),
            weight.is_some_and(|w| w.requires_grad()),
            bias.is_some_and(|b| b.requires_grad()),
        ];
        let sx = SavedTensor::new(self);
        let sw = weight.map(SavedTensor::new);
        let has_bias = bias.is_some();
        let ns = normalized_shape.to_vec();
        Ok(record("layer_norm", y, &inputs, move |_| {
            Box::new(move |g| {
                let x = sx.get()?;
                let w = sw.as_ref().map(|s| s.get()).transpose()?;
                let (dx, dw, db) = if is_grad_enabled() {
                    let (dx, dw, db) = composite_grads(x, g, w, &dims, eps)?;
                    (Some(dx), dw, db)
                } else {
                    fused_backward(x, g, w, &mean, &rstd, &ns, need[0])?
                };
                let mut out = vec![dx.filter(|_| need[0])];
                if w.is_some() {
                    out.push(need[1].then_some(dw));
                }
                if has_bias {
                    out.push(need[2].then_some(db));
                }
                Ok(out)
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::layer_norm_composite;
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Tensor};

    fn randn(shape: &[usize], seed: u64, dt: DType) -> Tensor {
        let mut g = crate::Generator::new(seed);
        Tensor::randn_with(shape, &mut g).to_dtype(dt).unwrap()
    }

    fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
        let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    /// Forward values and all three gradients, fused vs composite, for one configuration.
    fn check_against_composite(shape: &[usize], ns: &[usize], affine: (bool, bool), dt: DType, tol: f64) {
        let x = randn(shape, 1, dt).mul_scalar(3.0).unwrap().add_scalar(2.0).unwrap();
        let w = affine.0.then(|| randn(ns, 2, dt));
        let b = affine.1.then(|| randn(ns, 3, dt));
        let g = randn(shape, 4, dt);
        let run = |composite: bool| {
            let xl = x.detach().requires_grad_(true);
            let wl = w.as_ref().map(|t| t.detach().requires_grad_(true));
            let bl = b.as_ref().map(|t| t.detach().requires_grad_(true));
            let y = if composite {
                layer_norm_composite(&xl, ns, wl.as_ref(), bl.as_ref(), 1e-5)
            } else {
                xl.layer_norm(ns, wl.as_ref(), bl.as_ref(), 1e-5)
            }
            .unwrap();
            y.backward_with(&g).unwrap();
            let grads: Vec<Tensor> = std::iter::once(&xl)
                .chain(wl.as_ref())
                .chain(bl.as_ref())
                .map(|t| t.grad().unwrap())
                .collect();
            (y, grads)
        };
        let (y1, g1) = run(false);
        let (y0, g0) = run(true);
        assert_close(&y1, &y0, tol);
        for (a, b) in g1.iter().zip(&g0) {
            assert_eq!(a.shape(), b.shape());
            assert_close(a, b, tol);
        }
    }

    #[test]
    fn fused_matches_composite() {
        for dt in [DType::F64, DType::F32] {
            let tol = if dt == DType::F64 { 1e-12 } else { 2e-5 };
            // odd row length (tails of the 8 lanes), several trailing dims, every affine combination
            check_against_composite(&[3, 5, 13], &[13], (true, true), dt, tol);
            check_against_composite(&[4, 3, 7], &[3, 7], (true, false), dt, tol);
            check_against_composite(&[6, 9], &[9], (false, true), dt, tol);
            check_against_composite(&[2, 1], &[1], (false, false), dt, tol);
            // large enough for the parallel paths (rows split over tasks, partial dw/db merged)
            check_against_composite(&[300, 256], &[256], (true, true), dt, tol);
            check_against_composite(&[37, 1000], &[1000], (true, true), dt, tol);
        }
    }

    #[test]
    fn strided_input_and_no_input_grad() {
        let x = randn(&[5, 16, 4], 5, DType::F64).transpose(1, 2).unwrap(); // [5, 4, 16], strided
        let w = randn(&[16], 6, DType::F64).requires_grad_(true);
        let y = x.layer_norm(&[16], Some(&w), None, 1e-5).unwrap();
        let r = layer_norm_composite(&x, &[16], Some(&w), None, 1e-5).unwrap();
        assert_close(&y, &r, 1e-12);
        // only the weight wants a gradient (the input is data)
        y.sum_all().backward().unwrap();
        let gw = w.grad().unwrap();
        let wl = w.detach().requires_grad_(true);
        layer_norm_composite(&x, &[16], Some(&wl), None, 1e-5)
            .unwrap()
            .sum_all()
            .backward()
            .unwrap();
        assert_close(&gw, &wl.grad().unwrap(), 1e-12);
    }

    #[test]
    fn gradients_and_double_backward() {
        let x = randn(&[3, 2, 5], 7, DType::F64);
        let w = randn(&[2, 5], 8, DType::F64);
        let b = randn(&[2, 5], 9, DType::F64);
        let f = |xs: &[Tensor]| xs[0].layer_norm(&[2, 5], Some(&xs[1]), Some(&xs[2]), 1e-5);
        let ins = [x.clone(), w.clone(), b.clone()];
        gradcheck(&f, &ins, 1e-6, 1e-6).unwrap();
        gradgradcheck(&f, &ins, 1e-6, 1e-5).unwrap();
        let plain = |xs: &[Tensor]| xs[0].layer_norm(&[5], None, None, 0.0);
        gradcheck(&plain, std::slice::from_ref(&x), 1e-6, 1e-6).unwrap();
        gradgradcheck(&plain, &[x], 1e-6, 1e-5).unwrap();
    }

    #[test]
    fn half_precision_errors_and_empty() {
        let x = randn(&[4, 6], 10, DType::F32);
        let h = x
            .to_dtype(DType::BF16)
            .unwrap()
            .layer_norm(&[6], None, None, 1e-5)
            .unwrap();
        assert_eq!(h.dtype(), DType::BF16);
        assert_close(&h, &x.layer_norm(&[6], None, None, 1e-5).unwrap(), 2e-2);
        assert!(x.layer_norm(&[5], None, None, 1e-5).is_err());
        assert!(x.layer_norm(&[], None, None, 1e-5).is_err());
        assert!(x.layer_norm(&[6], Some(&Tensor::ones(&[5])), None, 1e-5).is_err());
        let e = Tensor::zeros(&[0, 6]).layer_norm(&[6], None, None, 1e-5).unwrap();
        assert_eq!(e.shape(), &[0, 6]);
        // a constant row normalizes to 0 (var = 0, rstd = 1/sqrt(eps))
        let c = Tensor::ones(&[2, 3]).layer_norm(&[3], None, None, 1e-5).unwrap();
        assert!(c.to_vec::<f32>().unwrap().iter().all(|v| v.abs() < 1e-6));
    }
}
