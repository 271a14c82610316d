//! Sorting and arg-extremes: `sort`, `argsort`, `topk`, `argmax` / `argmin`, `max_dim` /
//! `min_dim`.
//!
//! NaN orders as PyTorch does: larger than every number (so it sorts last ascending, first
//! descending, and `topk(largest)` picks it first), and `max_dim`/`min_dim`/`argmax`/`argmin`
//! return the first NaN of a row. Ties go to the first occurrence. The values these ops return
//! get their gradient by a scatter into the indices they return.

use crate::autograd::{needs_grad, no_grad_scope, record, SavedTensor};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Elem;
use crate::error::{arg_err, shape_err, Result};
use crate::shape::normalize_dim;
use crate::storage::StorageElem;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::cmp::Ordering;

#[inline(always)]
fn is_nan<T: Elem>(v: T) -> bool {
    v.to_f64().is_nan()
}

/// The total order of sorting: NaN above every number, NaNs equal to each other.
#[inline]
fn total_cmp<T: Elem>(a: T, b: T) -> Ordering {
    a.partial_cmp(&b).unwrap_or_else(|| is_nan(a).cmp(&is_nan(b)))
}

/// What to compute for each row of `n` elements.
#[derive(Clone, Copy)]
enum RowOp {
    /// Stable sort, ascending or descending.
    Sort { descending: bool },
    /// The `k` largest or smallest, best first (ties: lower index first).
    TopK { k: usize, largest: bool },
}

/// Sort (or select) each contiguous row of `x`, writing values and i64 indices.
fn rows_kernel<T: Elem>(x: &[T], n: usize, op: RowOp) -> (Vec<T>, Vec<i64>) {
    let rows = x.len().checked_div(n).unwrap_or(0);
    let k = match op {
        RowOp::Sort { .. } => n,
        RowOp::TopK { k, .. } => k,
    };
    let mut vals = vec![T::default(); rows * k];
    let mut idxs = vec![0i64; rows * k];
    if k == 0 {
        return (vals, idxs);
    }
    let body = |((v, ix), row): ((&mut [T], &mut [i64]), &[T])| {
        let mut order: Vec<usize> = (0..n).collect();
        match op {
            RowOp::Sort { descending: false } => order.sort_by(|&a, &b| total_cmp(row[a], row[b])),
            RowOp::Sort { descending: true } => order.sort_by(|&a, &b| total_cmp(row[b], row[a])),
            RowOp::TopK { k, largest } => {
                let cmp = |&a: &usize, &b: &usize| {
                    let o = if largest {
                        total_cmp(row[b], row[a])
                    } else {
                        total_cmp(row[a], row[b])
                    };
                    o.then(a.cmp(&b))
                };
                if k < n {
                    order.select_nth_unstable_by(k - 1, cmp);
                }
                order[..k].sort_by(cmp);
            }
        }
        for ((dv, di), &o) in v.iter_mut().zip(ix.iter_mut()).zip(&order[..k]) {
            *dv = row[o];
            *di = o as i64;
        }
    };
    if x.len() >= PAR_THRESHOLD && rows > 1 {
        vals.par_chunks_mut(k)
            .zip(idxs.par_chunks_mut(k))
            .zip(x.par_chunks(n))
            .for_each(body);
    } else {
        vals.chunks_mut(k)
            .zip(idxs.chunks_mut(k))
            .zip(x.chunks(n))
            .for_each(body);
    }
    (vals, idxs)
}

/// Index (first occurrence) and value of the max (or min) of every (outer, inner) lane of a
/// contiguous (outer, n, inner) buffer; the first NaN wins.
fn extreme_kernel<T: Elem>(x: &[T], outer: usize, n: usize, inner: usize, max: bool) -> (Vec<T>, Vec<i64>) {
    let better = |v: T, best: T| -> bool {
        if max {
            v > best || (is_nan(v) && !is_nan(best))
        } else {
            v < best || (is_nan(v) && !is_nan(best))
        }
    };
    let mut vals = Vec::with_capacity(outer * inner);
    let mut idxs = Vec::with_capacity(outer * inner);
    for blk in x.chunks_exact(n * inner) {
        if inner == 1 {
            let (mut best, mut bi) = (blk[0], 0);
            for (r, &v) in blk.iter().enumerate().skip(1) {
                if better(v, best) {
                    best = v;
                    bi = r;
                }
            }
            vals.push(best);
            idxs.push(bi as i64);
        } else {
            let mut best = blk[..inner].to_vec();
            let mut bi = vec![0i64; inner];
            for (r, row) in blk.chunks_exact(inner).enumerate().skip(1) {
                for ((b, i), &v) in best.iter_mut().zip(bi.iter_mut()).zip(row) {
                    if better(v, *b) {
                        *b = v;
                        *i = r as i64;
                    }
                }
            }
            vals.extend(best);
            idxs.extend(bi);
        }
    }
    (vals, idxs)
}

/// `values` recorded as a function of `x` whose gradient scatters into `indices` along `dim`.
fn record_by_indices(op: &'static str, x: &Tensor, values: Tensor, indices: &Tensor, dim: usize) -> Tensor {
    if !needs_grad(&[x]) {
        return values;
    }
    let saved = SavedTensor::new(indices);
    let shape = x.shape().to_vec();
    record(op, values, &[x], move |_| {
        Box::new(move |g| {
            let gx = crate::ops::index::scatter_add_zeros(&shape, dim as isize, saved.get()?, g)?;
            Ok(vec![Some(gx)])
        })
    })
}

impl Tensor {
    /// Sort along `dim` (stable: equal elements keep their order), returning the values and
    /// their i64 positions in the input. NaN sorts as the largest value.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[3.0f32, 1.0, 2.0, 1.0]);
    /// let (v, i) = x.sort(0, false).unwrap();
    /// assert_eq!(v.to_vec::<f32>().unwrap(), vec![1.0, 1.0, 2.0, 3.0]);
    /// assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 3, 2, 0]);
    /// ```
    pub fn sort(&self, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        self.by_rows("sort", dim, RowOp::Sort { descending })
    }

    /// The indices that sort `self` along `dim` (stable).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[3i64, 1, 2]);
    /// assert_eq!(x.argsort(0, true).unwrap().to_vec::<i64>().unwrap(), vec![0, 2, 1]);
    /// ```
    pub fn argsort(&self, dim: isize, descending: bool) -> Result<Tensor> {
        let _ng = crate::autograd::no_grad();
        Ok(self.sort(dim, descending)?.1)
    }

    /// The `k` largest (or smallest) elements along `dim` and their indices. The result is
    /// always in sorted order (best first; equal values by lower index), which also satisfies
    /// `sorted = false`, where PyTorch leaves the order unspecified.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[1.0f32, 5.0, 3.0, 4.0]);
    /// let (v, i) = x.topk(2, 0, true, true).unwrap();
    /// assert_eq!(v.to_vec::<f32>().unwrap(), vec![5.0, 4.0]);
    /// assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 3]);
    /// ```
    pub fn topk(&self, k: usize, dim: isize, largest: bool, sorted: bool) -> Result<(Tensor, Tensor)> {
        let _ = sorted;
        let d = normalize_dim("topk", dim, self.ndim())?;
        let n = self.shape().get(d).copied().unwrap_or(1);
        if k > n {
            return Err(arg_err(
                "topk",
                format!(
                    "k ({k}) is larger than the size {n} of dim {d} (shape {:?})",
                    self.shape()
                ),
            ));
        }
        self.by_rows("topk", dim, RowOp::TopK { k, largest })
    }

    /// Run a row kernel along `dim`: the dim is moved last and made contiguous, each row is
    /// processed, and the results are moved back.
    fn by_rows(&self, op: &'static str, dim: isize, row_op: RowOp) -> Result<(Tensor, Tensor)> {
        let d = normalize_dim(op, dim, self.ndim())?;
        if self.ndim() == 0 {
            let (v, i) = self.reshape(&[1])?.by_rows(op, 0, row_op)?;
            return Ok((v.reshape(&[])?, i.reshape(&[])?));
        }
        let last = self.ndim() - 1;
        let xt = no_grad_scope(|| self.transpose(d as isize, -1))?.contiguous_data();
        let n = xt.shape()[last];
        let take = match row_op {
            RowOp::Sort { .. } => n,
            RowOp::TopK { k, .. } => k,
        };
        let back = |t: Tensor| -> Result<Tensor> { no_grad_scope(|| Ok(t.transpose(d as isize, -1)?.contiguous())) };
        #[cfg(feature = "cuda")]
        if xt.device().is_cuda() {
            // topk is the head of a stable sort (best first, ties by lower index), as on the CPU
            let descending = match row_op {
                RowOp::Sort { descending } => descending,
                RowOp::TopK { largest, .. } => largest,
            };
            let (v, i) = crate::cuda::ops::sort::sort_rows(&xt, n, take, descending)?;
            let (values, indices) = (back(v)?, back(i)?);
            return Ok((record_by_indices(op, self, values, &indices, d), indices));
        }
        let (vals, idxs) = {
            let g = xt.read();
            let r = xt.offset()..xt.offset() + xt.numel();
            macro_rules! run {
                ($v:expr) => {{
                    let (a, b) = rows_kernel(&$v[r], n, row_op);
                    (StorageElem::into_storage(a), b)
                }};
            }
            crate::with_storage!(&*g, v => run!(v))
        };
        let mut shape = xt.shape().to_vec();
        shape[last] = take;
        let values = back(Tensor::from_storage(vals, &shape))?;
        let indices = back(Tensor::from_vec(idxs, &shape)?)?;
        let values = record_by_indices(op, self, values, &indices, d);
        Ok((values, indices))
    }

    /// The max along `dim` and the index of its first occurrence (`torch.max(x, dim)`); NaN
    /// propagates. The gradient flows to that index only.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 7.0, 7.0], [4.0, 2.0, 0.0]]);
    /// let (v, i) = x.max_dim(1, false).unwrap();
    /// assert_eq!(v.to_vec::<f32>().unwrap(), vec![7.0, 4.0]);
    /// assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 0]);
    /// ```
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim("max", dim, keepdim, true)
    }

    /// The min along `dim` and the index of its first occurrence (`torch.min(x, dim)`).
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim("min", dim, keepdim, false)
    }

    /// The index of the first max along `dim` (i64).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 9.0], [8.0, 2.0]]);
    /// assert_eq!(x.argmax(0, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 0]);
    /// assert_eq!(x.argmax_all().unwrap().item().unwrap(), 1.0);
    /// ```
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let _ng = crate::autograd::no_grad();
        Ok(self.extreme_dim("argmax", dim, keepdim, true)?.1)
    }

    /// The index of the first min along `dim` (i64).
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let _ng = crate::autograd::no_grad();
        Ok(self.extreme_dim("argmin", dim, keepdim, false)?.1)
    }

    /// The flat (row-major) index of the first max over all elements, as a 0-dim i64 tensor.
    pub fn argmax_all(&self) -> Result<Tensor> {
        self.reshape(&[-1])?.argmax(0, false)
    }

    /// The flat index of the first min over all elements, as a 0-dim i64 tensor.
    pub fn argmin_all(&self) -> Result<Tensor> {
        self.reshape(&[-1])?.argmin(0, false)
    }

    /// Values and indices (shaped `kept`) of the extremes of the contiguous `x`, viewed as
    /// (outer, n, inner), without autograd.
    fn extreme_raw(
        &self,
        x: &Tensor,
        (outer, n, inner): (usize, usize, usize),
        d: usize,
        kept: &[usize],
        max: bool,
    ) -> Result<(Tensor, Tensor)> {
        #[cfg(feature = "cuda")]
        if x.device().is_cuda() {
            // the index on the device, then the values gathered at it
            let idx = crate::cuda::ops::reduce::arg_reduce(x, outer, n, inner, max)?.reshape_to(kept)?;
            let vals = no_grad_scope(|| x.detach().gather(d as isize, &idx))?;
            return Ok((vals, idx));
        }
        let _ = d;
        let (vals, idxs) = {
            let g = x.read();
            let r = x.offset()..x.offset() + x.numel();
            crate::with_storage!(&*g, v => {
                let (a, b) = extreme_kernel(&v[r], outer, n, inner, max);
                (StorageElem::into_storage(a), b)
            })
        };
        Ok((Tensor::from_storage(vals, kept), Tensor::from_vec(idxs, kept)?))
    }

    fn extreme_dim(&self, op: &'static str, dim: isize, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
        let d = normalize_dim(op, dim, self.ndim())?;
        if self.ndim() == 0 {
            let (v, i) = self.reshape(&[1])?.extreme_dim(op, 0, false, max)?;
            return Ok((v, i));
        }
        let shape = self.shape();
        let n = shape[d];
        if n == 0 {
            return Err(shape_err(
                op,
                format!("cannot reduce over the empty dim {d} of shape {shape:?} (no identity)"),
            ));
        }
        let x = self.contiguous_data();
        let (outer, inner) = (shape[..d].iter().product(), shape[d + 1..].iter().product());
        let mut kept = shape.to_vec();
        kept[d] = 1;
        let (values, indices) = self.extreme_raw(&x, (outer, n, inner), d, &kept, max)?;
        let values = record_by_indices(op, self, values, &indices, d);
        if keepdim {
            return Ok((values, indices));
        }
        Ok((values.squeeze(d as isize)?, indices.squeeze(d as isize)?))
    }
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
        let mut g = crate::Generator::new(5);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    fn pair(r: crate::Result<(Tensor, Tensor)>) -> (Vec<f64>, Vec<i64>) {
        let (v, i) = r.unwrap();
        (v.to_vec::<f64>().unwrap(), i.to_vec::<i64>().unwrap())
    }

    #[test]
    fn sort_is_stable_both_ways_with_nan_largest() {
        let x = f64t(&[2., f64::NAN, 1., 2., -1., 1.], &[6]);
        let (v, i) = pair(x.sort(0, false));
        assert_eq!(i, vec![4, 2, 5, 0, 3, 1]);
        assert_eq!(&v[..5], &[-1., 1., 1., 2., 2.]);
        assert!(v[5].is_nan());
        let (v, i) = pair(x.sort(0, true));
        assert_eq!(i, vec![1, 0, 3, 2, 5, 4]);
        assert!(v[0].is_nan());
        assert_eq!(
            x.argsort(0, false).unwrap().to_vec::<i64>().unwrap(),
            vec![4, 2, 5, 0, 3, 1]
        );
    }

    #[test]
    fn sort_along_dims_and_dtypes() {
        let x = f64t(&[3., 1., 2., 0., 5., 4.], &[2, 3]);
        let (v, i) = pair(x.sort(1, false));
        assert_eq!(v, vec![1., 2., 3., 0., 4., 5.]);
        assert_eq!(i, vec![1, 2, 0, 0, 2, 1]);
        let (v, i) = pair(x.sort(0, true));
        assert_eq!(v, vec![3., 5., 4., 0., 1., 2.]);
        assert_eq!(i, vec![0, 1, 1, 1, 0, 0]);
        let (b, bi) = Tensor::new(&[true, false, true]).sort(0, false).unwrap();
        assert_eq!(b.to_vec::<bool>().unwrap(), vec![false, true, true]);
        assert_eq!(bi.to_vec::<i64>().unwrap(), vec![1, 0, 2]);
        let (s, _) = Tensor::scalar(4i64).sort(0, false).unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
        assert!(x.sort(2, false).is_err());
    }

    #[test]
    fn sort_large_rows_in_parallel() {
        let x = Tensor::randn(&[200, 300]);
        let (v, i) = x.sort(1, true).unwrap();
        let v = v.to_vec::<f32>().unwrap();
        for row in v.chunks(300) {
            assert!(row.windows(2).all(|w| w[0] >= w[1]));
        }
        // the indices pick the values back out of the input
        assert_eq!(x.gather(1, &i).unwrap().to_vec::<f32>().unwrap(), v);
    }

    #[test]
    fn topk_values_indices_and_errors() {
        let x = f64t(&[1., 5., 3., 5., f64::NAN, 0.], &[2, 3]);
        let (v, i) = pair(x.topk(2, 1, true, true));
        assert_eq!(&v[..2], &[5., 3.]);
        assert_eq!(i, vec![1, 2, 1, 0]);
        assert!(v[2].is_nan() && v[3] == 5.);
        let (v, i) = pair(x.topk(1, 1, false, true));
        assert_eq!(v, vec![1., 0.]);
        assert_eq!(i, vec![0, 2]);
        let (v, _) = pair(x.topk(2, 0, true, false));
        assert_eq!(v.len(), 6);
        assert_eq!(x.topk(0, 1, true, true).unwrap().0.shape(), &[2, 0]);
        assert!(x.topk(4, 1, true, true).is_err());
        // ties pick the lower index
        let t = f64t(&[2., 7., 7., 7.], &[4]);
        assert_eq!(pair(t.topk(2, 0, true, true)).1, vec![1, 2]);
    }

    #[test]
    fn argmax_argmin_first_occurrence_and_nan() {
        let x = f64t(&[1., 3., 3., 0., -2., 0.], &[2, 3]);
        assert_eq!(x.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 0]);
        assert_eq!(x.argmin(1, false).unwrap().to_vec::<i64>().unwrap(), vec![0, 1]);
        assert_eq!(x.argmax(0, true).unwrap().shape(), &[1, 3]);
        assert_eq!(x.argmax(0, false).unwrap().to_vec::<i64>().unwrap(), vec![0, 0, 0]);
        assert_eq!(x.argmax_all().unwrap().item().unwrap(), 1.0);
        assert_eq!(x.argmin_all().unwrap().item().unwrap(), 4.0);
        let n = f64t(&[1., f64::NAN, 5., f64::NAN], &[4]);
        assert_eq!(n.argmax(0, false).unwrap().item().unwrap(), 1.0);
        assert_eq!(n.argmin(0, false).unwrap().item().unwrap(), 1.0);
        let (v, i) = n.max_dim(0, false).unwrap();
        assert!(v.item().unwrap().is_nan());
        assert_eq!(i.item().unwrap(), 1.0);
        assert!(Tensor::zeros(&[0, 3]).argmax(0, false).is_err());
        assert_eq!(Tensor::scalar(2.0f32).argmax(0, false).unwrap().item().unwrap(), 0.0);
        assert_eq!(
            Tensor::new(&[3i64, 9, 9]).argmax(0, false).unwrap().item().unwrap(),
            1.0
        );
    }

    #[test]
    fn max_min_dim_values_and_grads() {
        let x = f64t(&[1., 4., 4., 2., 0., 9.], &[3, 2]);
        let (v, i) = pair(x.max_dim(0, false));
        assert_eq!(v, vec![4., 9.]);
        assert_eq!(i, vec![1, 2]);
        let (v, i) = pair(x.min_dim(1, true));
        assert_eq!(v, vec![1., 2., 0.]);
        assert_eq!(i, vec![0, 1, 0]);
        // the gradient goes to the first max only, not split among ties
        let t = f64t(&[7., 7., 1.], &[3]).requires_grad_(true);
        t.max_dim(0, false).unwrap().0.backward().unwrap();
        assert_eq!(t.grad().unwrap().to_vec::<f64>().unwrap(), vec![1., 0., 0.]);
        let r = randn(&[3, 4]);
        for keep in [false, true] {
            gradcheck(&|xs| Ok(xs[0].max_dim(1, keep)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
            gradcheck(&|xs| Ok(xs[0].min_dim(0, keep)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
        }
        gradgradcheck(&|xs| xs[0].max_dim(1, false)?.0.square(), &[r], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn sort_and_topk_grads() {
        let r = randn(&[3, 5]);
        gradcheck(&|xs| Ok(xs[0].sort(1, false)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| Ok(xs[0].sort(0, true)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| Ok(xs[0].topk(2, 1, true, true)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradcheck(&|xs| Ok(xs[0].topk(2, 0, false, true)?.0), from_ref(&r), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].topk(3, 1, true, true)?.0.square(), &[r], 1e-6, 1e-6).unwrap();
    }
}
