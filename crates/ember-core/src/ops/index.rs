//! Index ops: selecting, gathering and scattering elements by integer indices or bool masks.
//!
//! The ops come in adjoint pairs, and each one's gradient rule is its partner:
//! `index_select` <-> `index_add`, `gather` <-> `scatter_add`, `masked_select` <->
//! `masked_scatter`. Because every partner is itself a recorded op, gradients of gradients work.
//! Indices are i64 (i32 is accepted); negative indices count from the end (`-1` = last) and
//! anything outside `[-size, size)` is an error naming the op, the index and the size.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::cpu::elementwise::for_each_row2;
use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, index_err, shape_err, Result};
use crate::ops::shape_ops::PadMode;
use crate::shape::{contiguous_strides, normalize_dim, Dims, Layout};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use half::{bf16, f16};
use rayon::prelude::*;

/// Elements that `scatter_add` / `index_add` accumulate (bool accumulates as logical or).
trait Accum: Copy {
    fn acc(self, o: Self) -> Self;
}

macro_rules! accum {
    ($($t:ty => |$a:ident, $b:ident| $e:expr;)*) => {$(
        impl Accum for $t {
            #[inline(always)]
            fn acc(self, o: Self) -> Self {
                let ($a, $b) = (self, o);
                $e
            }
        }
    )*};
}

accum! {
    f32 => |a, b| a + b;
    f64 => |a, b| a + b;
    // half adds in f32 and rounds once per add, as PyTorch's CPU kernels do
    f16 => |a, b| f16::from_f32(a.to_f32() + b.to_f32());
    bf16 => |a, b| bf16::from_f32(a.to_f32() + b.to_f32());
    i64 => |a, b| a.wrapping_add(b);
    i32 => |a, b| a.wrapping_add(b);
    u8 => |a, b| a.wrapping_add(b);
    bool => |a, b| a | b;
}

/// Run `$body` with `$x` (mutable) and `$y` bound to two storages of the same dtype.
macro_rules! with_pair {
    ($a:expr, $b:expr, $x:ident, $y:ident => $body:expr) => {
        match ($a, $b) {
            (CpuStorage::F32($x), CpuStorage::F32($y)) => $body,
            (CpuStorage::F64($x), CpuStorage::F64($y)) => $body,
            (CpuStorage::F16($x), CpuStorage::F16($y)) => $body,
            (CpuStorage::BF16($x), CpuStorage::BF16($y)) => $body,
            (CpuStorage::I64($x), CpuStorage::I64($y)) => $body,
            (CpuStorage::I32($x), CpuStorage::I32($y)) => $body,
            (CpuStorage::U8($x), CpuStorage::U8($y)) => $body,
            (CpuStorage::Bool($x), CpuStorage::Bool($y)) => $body,
            _ => unreachable!("the caller checked that both dtypes agree"),
        }
    };
}

/// The values of an integer index tensor in row-major order.
fn index_values(op: &'static str, idx: &Tensor) -> Result<Vec<i64>> {
    match idx.dtype() {
        DType::I64 | DType::I32 => idx.to_vec::<i64>(),
        d => Err(dtype_err(
            op,
            format!("expected an index tensor of dtype i64 or i32, got {d}"),
        )),
    }
}

/// Map an index into `[0, size)` (negative counts from the end) or name it in an error.
fn wrap_index(op: &'static str, i: i64, dim: usize, size: usize) -> Result<usize> {
    let s = size as i64;
    let j = if i < 0 { i + s } else { i };
    if j < 0 || j >= s {
        return Err(index_err(
            op,
            format!("index {i} is out of bounds for dimension {dim} with size {size}"),
        ));
    }
    Ok(j as usize)
}

/// The index tensor's values, checked against `size` and wrapped into `[0, size)`.
fn checked_indices(op: &'static str, idx: &Tensor, dim: usize, size: usize) -> Result<Vec<usize>> {
    index_values(op, idx)?
        .into_iter()
        .map(|i| wrap_index(op, i, dim, size))
        .collect()
}

fn check_same_dtype(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(dtype_err(
            op,
            format!(
                "expected self and source to have the same dtype, got {} and {}",
                a.dtype(),
                b.dtype()
            ),
        ));
    }
    crate::ops::check_same_device(op, a, b)
}

/// Outer and inner sizes around `dim` (`shape[..dim]` and `shape[dim + 1..]` products).
fn outer_inner(shape: &[usize], dim: usize) -> (usize, usize) {
    if shape.is_empty() {
        return (1, 1);
    }
    (shape[..dim].iter().product(), shape[dim + 1..].iter().product())
}

/// The size of `dim`, treating a 0-dim tensor as one element.
fn dim_size(t: &Tensor, dim: usize) -> usize {
    t.shape().get(dim).copied().unwrap_or(1)
}

/// out[o, j, :] = x[o, idx[j], :] over a contiguous x of (outer, n, inner).
fn select_kernel<T: Copy + Default + Send + Sync>(
    x: &[T],
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
) -> Vec<T> {
    let m = idx.len();
    let total = outer * m * inner;
    if total >= crate::cpu::PAR_THRESHOLD {
        let mut out = vec![T::default(); total];
        out.par_chunks_mut(inner)
            .enumerate()
            .with_min_len((4096 / inner).max(1))
            .for_each(|(r, dst)| {
                let s = ((r / m) * n + idx[r % m]) * inner;
                dst.copy_from_slice(&x[s..s + inner]);
            });
        return out;
    }
    let mut out = Vec::with_capacity(total);
    for o in 0..outer {
        for &j in idx {
            let s = (o * n + j) * inner;
            out.extend_from_slice(&x[s..s + inner]);
        }
    }
    out
}

/// out[o, idx[j], :] += src[o, j, :] for contiguous out (outer, n, inner) and src (outer, m, inner).
fn index_add_kernel<T: Accum>(out: &mut [T], src: &[T], n: usize, inner: usize, idx: &[usize]) {
    let m = idx.len();
    if m == 0 || inner == 0 {
        return;
    }
    for (o, block) in src.chunks_exact(m * inner).enumerate() {
        for (row, &j) in block.chunks_exact(inner).zip(idx) {
            let d = (o * n + j) * inner;
            for (a, &b) in out[d..d + inner].iter_mut().zip(row) {
                *a = a.acc(b);
            }
        }
    }
}

/// out[p] = x[base(p) + idx[p] * dim_stride] for every position p of `base` (row-major).
fn gather_kernel<T: Copy>(x: &[T], base: &Layout, dim_stride: usize, idx: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(idx.len());
    let mut k = 0;
    base.for_each_row(|start, stride, len| {
        for t in 0..len {
            out.push(x[start + t * stride + idx[k] * dim_stride]);
            k += 1;
        }
    });
    out
}

/// out[base(p) + idx[p] * dim_stride] = f(that, src[p]) for every position p of the index.
fn scatter_kernel<T: Copy>(
    out: &mut [T],
    base: &Layout,
    dim_stride: usize,
    src: &[T],
    src_layout: &Layout,
    idx: &[usize],
    f: impl Fn(T, T) -> T,
) {
    let mut k = 0;
    for_each_row2(base, src_layout, |od, sd, os, ss, len| {
        for t in 0..len {
            let o = od + t * sd + idx[k] * dim_stride;
            out[o] = f(out[o], src[os + t * ss]);
            k += 1;
        }
    });
}

/// Row-major positions of the true elements of a bool mask.
fn mask_positions(op: &'static str, mask: &Tensor) -> Result<Vec<usize>> {
    if mask.dtype() != DType::Bool {
        return Err(dtype_err(op, format!("expected a bool mask, got {}", mask.dtype())));
    }
    // a GPU mask is copied to the host: the number of true values sizes the result (PyTorch
    // synchronizes here too)
    let mask = &mask.to(crate::Device::Cpu)?;
    let g = mask.read();
    let CpuStorage::Bool(m) = &*g else {
        unreachable!("dtype checked above")
    };
    let mut pos = Vec::new();
    let mut p = 0;
    mask.layout().for_each_row(|start, stride, len| {
        for t in 0..len {
            if m[start + t * stride] {
                pos.push(p);
            }
            p += 1;
        }
    });
    Ok(pos)
}

/// The flat positions of a mask's true elements as a 1-D i64 tensor on `device`.
fn positions_on(op: &'static str, mask: &Tensor, device: crate::Device) -> Result<Tensor> {
    let pos: Vec<i64> = mask_positions(op, mask)?.into_iter().map(|p| p as i64).collect();
    let n = pos.len();
    Tensor::from_vec(pos, &[n])?.to(device)
}

/// Zero-pad `t` at the end of every dim up to `shape` (each dim of `t` is at most that size).
fn pad_to(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if t.shape() == shape {
        return Ok(t.clone());
    }
    let pads: Vec<isize> = t
        .shape()
        .iter()
        .zip(shape)
        .rev()
        .flat_map(|(&a, &b)| [0, (b - a) as isize])
        .collect();
    t.pad(&pads, PadMode::Constant(0.0))
}

impl Tensor {
    /// The entries of `index` (1-D, i64 or i32) along `dim`: `out.shape[dim] = index.len()`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    /// let y = x.index_select(0, &Tensor::new(&[2i64, 0])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 6.0, 1.0, 2.0]);
    /// ```
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        self.index_select_op("index_select", dim, index)
    }

    fn index_select_op(&self, op: &'static str, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim(op, dim, self.ndim())?;
        if index.ndim() > 1 {
            return Err(shape_err(
                op,
                format!("index must be a 0-D or 1-D tensor, got shape {:?}", index.shape()),
            ));
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let out = crate::cuda::ops::index::index_select(op, self, d, index)?;
            return Ok(self.finish_index_select(op, d, index, out));
        }
        let idx = checked_indices(op, index, d, dim_size(self, d))?;
        let x = self.contiguous_data();
        let (outer, inner) = outer_inner(self.shape(), d);
        let n = dim_size(self, d);
        let data = {
            let g = x.read();
            let off = x.offset();
            crate::map_storage!(&*g, v => select_kernel(&v[off..off + x.numel()], outer, n, inner, &idx))
        };
        let mut shape = self.shape().to_vec();
        if shape.is_empty() {
            shape = index.shape().to_vec();
        } else {
            shape[d] = idx.len();
        }
        let out = Tensor::from_storage(data, &shape);
        Ok(self.finish_index_select(op, d, index, out))
    }

    /// The autograd record of index_select, shared by every backend.
    fn finish_index_select(&self, op: &'static str, d: usize, index: &Tensor, out: Tensor) -> Tensor {
        if !needs_grad(&[self]) {
            return out;
        }
        let saved = SavedTensor::new(index);
        let in_shape = self.shape().to_vec();
        record(op, out, &[self], move |_| {
            Box::new(move |g| {
                Ok(vec![Some(index_add_impl(
                    None,
                    &in_shape,
                    d as isize,
                    saved.get()?,
                    g,
                )?)])
            })
        })
    }

    /// `self` with `source` added at `index` along `dim` (out of place, PyTorch's
    /// `index_add`): `out[.., index[j], ..] += source[.., j, ..]`; repeated indices accumulate.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::zeros(&[3]);
    /// let y = x.index_add(0, &Tensor::new(&[0i64, 2, 0]), &Tensor::new(&[1.0f32, 2.0, 3.0])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![4.0, 0.0, 2.0]);
    /// ```
    pub fn index_add(&self, dim: isize, index: &Tensor, source: &Tensor) -> Result<Tensor> {
        check_same_dtype("index_add", self, source)?;
        index_add_impl(Some(self), self.shape(), dim, index, source)
    }

    /// `out[i][j][k] = self[i][index[i][j][k]][k]` for `dim = 1` (likewise for other dims):
    /// the output has the index's shape. `index` has as many dims as `self`, and is no larger
    /// than `self` along every other dim.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]]);
    /// let y = x.gather(1, &Tensor::new(&[[0i64, 0], [1, 0]])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 1.0, 4.0, 3.0]);
    /// ```
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        let d = normalize_dim(OP, dim, self.ndim())?;
        check_index_shape(OP, self.shape(), index, d, None)?;
        #[cfg(feature = "cuda")]
        let cuda_out = match self.device().is_cuda() {
            true => Some(crate::cuda::ops::index::gather(self, d, index)?),
            false => None,
        };
        #[cfg(not(feature = "cuda"))]
        let cuda_out: Option<Tensor> = None;
        let out = match cuda_out {
            Some(out) => out,
            None => {
                let idx = checked_indices(OP, index, d, dim_size(self, d))?;
                let (base, dim_stride) = base_layout(index.shape(), self.strides(), self.offset(), d);
                let data = {
                    let g = self.read();
                    crate::map_storage!(&*g, v => gather_kernel(v, &base, dim_stride, &idx))
                };
                Tensor::from_storage(data, index.shape())
            }
        };
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let saved = SavedTensor::new(index);
        let in_shape = self.shape().to_vec();
        Ok(record(OP, out, &[self], move |_| {
            Box::new(move |g| Ok(vec![Some(scatter_add_zeros(&in_shape, d as isize, saved.get()?, g)?)]))
        }))
    }

    /// `self` with `src` written at `index` along `dim` (out of place, PyTorch's `scatter`):
    /// for `dim = 1`, `out[i][index[i][j]] = src[i][j]`. Where an index repeats, the last
    /// write wins. `src` may be larger than `index`; only its leading part is used.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::zeros(&[2, 3]);
    /// let y = x.scatter(1, &Tensor::new(&[[2i64], [0]]), &Tensor::new(&[[7.0f32], [8.0]])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.0, 7.0, 8.0, 0.0, 0.0]);
    /// ```
    pub fn scatter(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_op("scatter", dim, index, src, false)
    }

    /// `self` plus `src` accumulated at `index` along `dim` (out of place, PyTorch's
    /// `scatter_add`): for `dim = 1`, `out[i][index[i][j]] += src[i][j]`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::zeros(&[1, 3]);
    /// let y = x.scatter_add(1, &Tensor::new(&[[2i64, 2, 0]]), &Tensor::new(&[[1.0f32, 2.0, 3.0]])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, 0.0, 3.0]);
    /// ```
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_op("scatter_add", dim, index, src, true)
    }

    fn scatter_op(&self, op: &'static str, dim: isize, index: &Tensor, src: &Tensor, add: bool) -> Result<Tensor> {
        check_same_dtype(op, self, src)?;
        scatter_impl(op, Some(self), self.shape(), dim, index, src, add)
    }

    /// The elements of `self` where `mask` (bool, broadcast with `self`) is true, as a 1-D
    /// tensor in row-major order.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]]);
    /// let y = x.masked_select(&x.gt_scalar(1.5).unwrap()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 3.0, 4.0]);
    /// ```
    pub fn masked_select(&self, mask: &Tensor) -> Result<Tensor> {
        const OP: &str = "masked_select";
        if mask.dtype() != DType::Bool {
            return Err(dtype_err(OP, format!("expected a bool mask, got {}", mask.dtype())));
        }
        let shape = crate::shape::broadcast_shapes(OP, self.shape(), mask.shape())?;
        if !self.device().is_cpu() || !mask.device().is_cpu() {
            // positions found on the host, then an index_select on the device (differentiable
            // through index_select, whose gradient is index_add)
            crate::ops::check_same_device(OP, self, mask)?;
            let pos = positions_on(OP, &mask.broadcast_to(&shape)?, self.device())?;
            return self.broadcast_to(&shape)?.reshape(&[-1])?.index_select(0, &pos);
        }
        let lx = self.layout().broadcast_to(OP, &shape)?;
        let lm = mask.layout().broadcast_to(OP, &shape)?;
        let data = {
            let (gx, gm) = (self.read(), mask.read());
            let CpuStorage::Bool(m) = &*gm else {
                unreachable!("dtype checked above")
            };
            crate::map_storage!(&*gx, v => {
                let mut out = Vec::new();
                for_each_row2(&lx, &lm, |ox, sx, om, sm, len| {
                    for t in 0..len {
                        if m[om + t * sm] {
                            out.push(v[ox + t * sx]);
                        }
                    }
                });
                out
            })
        };
        let n = data.len();
        let out = Tensor::from_storage(data, &[n]);
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let mask = mask.broadcast_to(&shape)?;
        let in_shape = self.shape().to_vec();
        Ok(record(OP, out, &[self], move |_| {
            Box::new(move |g| {
                let zeros = Tensor::zeros_on(mask.shape(), g.dtype(), g.device())?;
                Ok(vec![Some(zeros.masked_scatter(&mask, g)?.sum_to(&in_shape)?)])
            })
        }))
    }

    /// `self` with the positions where `mask` is true filled, in row-major order, by the
    /// leading elements of `source` (out of place, PyTorch's `masked_scatter`). `mask` (bool)
    /// broadcasts to `self`'s shape; `source` needs at least as many elements as true values.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::zeros(&[4]);
    /// let mask = Tensor::new(&[true, false, true, false]);
    /// let y = x.masked_scatter(&mask, &Tensor::new(&[5.0f32, 6.0, 7.0])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 0.0, 6.0, 0.0]);
    /// ```
    pub fn masked_scatter(&self, mask: &Tensor, source: &Tensor) -> Result<Tensor> {
        const OP: &str = "masked_scatter";
        check_same_dtype(OP, self, source)?;
        let mask = if mask.shape() == self.shape() {
            mask.clone()
        } else {
            mask.broadcast_to(self.shape()).map_err(|_| {
                shape_err(
                    OP,
                    format!(
                        "mask of shape {:?} does not broadcast to self of shape {:?}",
                        mask.shape(),
                        self.shape()
                    ),
                )
            })?
        };
        crate::ops::check_same_device(OP, self, &mask)?;
        crate::ops::check_same_device(OP, self, source)?;
        let pos = mask_positions(OP, &mask)?;
        if pos.len() > source.numel() {
            return Err(shape_err(
                OP,
                format!(
                    "the mask has {} true values but source (shape {:?}) has only {} elements",
                    pos.len(),
                    source.shape(),
                    source.numel()
                ),
            ));
        }
        if !self.device().is_cpu() {
            // a scatter of the leading source elements at the mask's flat positions
            let k = pos.len();
            let idx: Vec<i64> = pos.into_iter().map(|p| p as i64).collect();
            let idx = Tensor::from_vec(idx, &[k])?.to(self.device())?;
            let src = source.reshape(&[-1])?.narrow(0, 0, k)?;
            return self.reshape(&[-1])?.scatter(0, &idx, &src)?.reshape_to(self.shape());
        }
        let mut data = crate::cpu::copy::strided_copy(self);
        {
            let src = source.contiguous_data();
            let g = src.read();
            let off = src.offset();
            with_pair!(&mut data, &*g, o, s => {
                for (k, &p) in pos.iter().enumerate() {
                    o[p] = s[off + k];
                }
            });
        }
        let out = Tensor::from_storage(data, self.shape());
        if !needs_grad(&[self, source]) {
            return Ok(out);
        }
        let src_shape = source.shape().to_vec();
        let src_numel = source.numel();
        Ok(record(OP, out, &[self, source], move |_| {
            Box::new(move |g| {
                let g_self = g.masked_fill(&mask, 0.0)?;
                let picked = g.masked_select(&mask)?;
                let g_src = pad_to(&picked, &[src_numel])?.reshape_to(&src_shape)?;
                Ok(vec![Some(g_self), Some(g_src)])
            })
        }))
    }

    /// The coordinates of the non-zero elements, as an i64 tensor of shape `[count, ndim]`
    /// in row-major order (PyTorch's `nonzero`).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[0.0f32, 2.0], [3.0, 0.0]]);
    /// assert_eq!(x.nonzero().unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 1, 0]);
    /// ```
    pub fn nonzero(&self) -> Result<Tensor> {
        let pos = mask_positions("nonzero", &self.to_dtype(DType::Bool)?)?;
        let strides = contiguous_strides(self.shape());
        let nd = self.ndim();
        let mut coords = Vec::with_capacity(pos.len() * nd);
        for p in &pos {
            for (&s, &n) in strides.iter().zip(self.shape()) {
                coords.push(((p / s) % n) as i64);
            }
        }
        Tensor::from_vec(coords, &[pos.len(), nd])?.to(self.device())
    }

    /// Advanced indexing on dim 0, as `x[idx]` in PyTorch: an integer tensor picks rows (the
    /// result has shape `idx.shape + self.shape[1..]`); a bool mask over the leading
    /// `mask.ndim()` dims picks the elements where it is true (shape `[count] + the rest`).
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    /// let rows = x.index(&Tensor::new(&[[2i64], [-3]])).unwrap();
    /// assert_eq!(rows.shape(), &[2, 1, 2]);
    /// assert_eq!(rows.to_vec::<f32>().unwrap(), vec![5.0, 6.0, 1.0, 2.0]);
    /// let picked = x.index(&Tensor::new(&[true, false, true])).unwrap();
    /// assert_eq!(picked.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 5.0, 6.0]);
    /// ```
    pub fn index(&self, idx: &Tensor) -> Result<Tensor> {
        const OP: &str = "index";
        if idx.dtype() != DType::Bool {
            return self.index_dim(0, idx);
        }
        let k = idx.ndim();
        if k == 0 || k > self.ndim() || *idx.shape() != self.shape()[..k] {
            return Err(shape_err(
                OP,
                format!(
                    "the shape of the mask {:?} does not match the leading dims of the indexed tensor {:?}",
                    idx.shape(),
                    self.shape()
                ),
            ));
        }
        let pos: Vec<i64> = mask_positions(OP, idx)?.into_iter().map(|p| p as i64).collect();
        let lead: usize = self.shape()[..k].iter().product();
        let mut flat = vec![lead];
        flat.extend_from_slice(&self.shape()[k..]);
        let n = pos.len();
        self.reshape_to(&flat)?
            .index_select_op(OP, 0, &Tensor::from_vec(pos, &[n])?.to(self.device())?)
    }

    /// Advanced indexing along one dim (`x[:, idx]` for `dim = 1`): an integer tensor of any
    /// shape replaces `dim` by its shape; a 1-D bool mask of the dim's length keeps the
    /// entries where it is true.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// let y = x.index_dim(1, &Tensor::new(&[true, false, true])).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 4.0, 6.0]);
    /// ```
    pub fn index_dim(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        const OP: &str = "index";
        let d = normalize_dim(OP, dim, self.ndim())?;
        if self.ndim() == 0 {
            return Err(shape_err(
                OP,
                "cannot index a 0-dim tensor; use item() or reshape it first",
            ));
        }
        if idx.dtype() == DType::Bool {
            if idx.ndim() != 1 || idx.shape()[0] != self.shape()[d] {
                return Err(shape_err(
                    OP,
                    format!(
                        "a bool mask along dim {d} must be 1-D of size {}, got shape {:?}",
                        self.shape()[d],
                        idx.shape()
                    ),
                ));
            }
            let pos: Vec<i64> = mask_positions(OP, idx)?.into_iter().map(|p| p as i64).collect();
            let n = pos.len();
            return self.index_select_op(OP, d as isize, &Tensor::from_vec(pos, &[n])?.to(self.device())?);
        }
        let flat = idx.reshape(&[-1])?;
        let picked = self.index_select_op(OP, d as isize, &flat)?;
        let mut shape = self.shape()[..d].to_vec();
        shape.extend_from_slice(idx.shape());
        shape.extend_from_slice(&self.shape()[d + 1..]);
        picked.reshape_to(&shape)
    }

    /// One-hot encoding of class indices (i64 or i32): an i64 tensor of shape
    /// `self.shape + [num_classes]`. `num_classes = -1` uses `max + 1`, as PyTorch does.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let y = Tensor::new(&[2i64, 0]).one_hot(3).unwrap();
    /// assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 0, 1, 1, 0, 0]);
    /// ```
    pub fn one_hot(&self, num_classes: isize) -> Result<Tensor> {
        const OP: &str = "one_hot";
        let vals = index_values(OP, self)?;
        if let Some(&v) = vals.iter().find(|&&v| v < 0) {
            return Err(index_err(OP, format!("class values must be non-negative, got {v}")));
        }
        let c = match num_classes {
            -1 => match vals.iter().max() {
                Some(&m) => m as usize + 1,
                None => return Err(arg_err(OP, "cannot infer the number of classes from an empty tensor")),
            },
            n if n < 0 => return Err(arg_err(OP, format!("num_classes must be -1 or non-negative, got {n}"))),
            n => n as usize,
        };
        let mut out = vec![0i64; vals.len() * c];
        for (i, &v) in vals.iter().enumerate() {
            let v = v as usize;
            if v >= c {
                return Err(index_err(
                    OP,
                    format!("class value {v} is out of bounds for num_classes {c}"),
                ));
            }
            out[i * c + v] = 1;
        }
        let mut shape = self.shape().to_vec();
        shape.push(c);
        Tensor::from_vec(out, &shape)?.to(self.device())
    }

    /// Look up rows of `weight` (`[num_embeddings, dim]`) by `indices` of any shape: the result
    /// has shape `indices.shape + [dim]`. The gradient accumulates into the picked rows.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let w = Tensor::new(&[[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]]);
    /// let e = Tensor::embedding(&w, &Tensor::new(&[[2i64, 0]])).unwrap();
    /// assert_eq!(e.shape(), &[1, 2, 2]);
    /// assert_eq!(e.to_vec::<f32>().unwrap(), vec![4.0, 5.0, 0.0, 1.0]);
    /// ```
    pub fn embedding(weight: &Tensor, indices: &Tensor) -> Result<Tensor> {
        check_embedding(weight)?;
        let flat = indices.reshape(&[-1])?;
        let rows = weight.index_select_op("embedding", 0, &flat)?;
        let mut shape = indices.shape().to_vec();
        shape.push(weight.shape()[1]);
        rows.reshape_to(&shape)
    }

    /// `embedding` where the row `padding_idx` (negative counts from the end) gets no
    /// gradient, as `torch.nn.functional.embedding(..., padding_idx=p)`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let w = Tensor::ones(&[3, 2]).requires_grad_(true);
    /// let e = Tensor::embedding_padding(&w, &Tensor::new(&[0i64, 1, 1]), 1).unwrap();
    /// e.sum_all().backward().unwrap();
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    /// ```
    pub fn embedding_padding(weight: &Tensor, indices: &Tensor, padding_idx: i64) -> Result<Tensor> {
        const OP: &str = "embedding";
        check_embedding(weight)?;
        let num = weight.shape()[0];
        let pad = wrap_index(OP, padding_idx, 0, num).map_err(|_| {
            arg_err(
                OP,
                format!("padding_idx {padding_idx} must be within [-{num}, {num}) for {num} embeddings"),
            )
        })?;
        let flat = indices.reshape(&[-1])?.detach();
        let rows = crate::autograd::no_grad_scope(|| weight.index_select_op(OP, 0, &flat))?;
        let dim = weight.shape()[1];
        let mut shape = indices.shape().to_vec();
        shape.push(dim);
        let out = rows.reshape_to(&shape)?;
        if !needs_grad(&[weight]) {
            return Ok(out);
        }
        let saved = SavedTensor::new(&flat);
        let w_shape = weight.shape().to_vec();
        Ok(record(OP, out, &[weight], move |_| {
            Box::new(move |g| {
                let flat = saved.get()?;
                let is_pad = flat.eq_scalar(pad as f64)?.unsqueeze(1)?;
                let g = g.reshape_to(&[flat.numel(), dim])?.masked_fill(&is_pad, 0.0)?;
                Ok(vec![Some(index_add_impl(None, &w_shape, 0, flat, &g)?)])
            })
        }))
    }
}

/// `index_add` onto `base`, or onto zeros of `shape` (in `source`'s dtype) when `base` is None.
/// Gradient rules use the zeros form, which skips copying a buffer of zeros.
fn index_add_impl(
    base: Option<&Tensor>,
    shape: &[usize],
    dim: isize,
    index: &Tensor,
    source: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "index_add";
    let d = normalize_dim(OP, dim, shape.len())?;
    if index.ndim() > 1 {
        return Err(shape_err(
            OP,
            format!("index must be a 0-D or 1-D tensor, got shape {:?}", index.shape()),
        ));
    }
    let n = shape.get(d).copied().unwrap_or(1);
    let idx = checked_indices(OP, index, d, n)?;
    let mut expect = shape.to_vec();
    if !expect.is_empty() {
        expect[d] = idx.len();
    }
    let src_ok =
        source.shape() == expect.as_slice() || (shape.is_empty() && source.numel() == idx.len() && source.ndim() <= 1);
    if !src_ok {
        return Err(shape_err(
            OP,
            format!(
                "source of shape {:?} does not match self of shape {shape:?} with dim {d} replaced by the index length {} (expected {expect:?})",
                source.shape(),
                idx.len()
            ),
        ));
    }
    #[cfg(feature = "cuda")]
    if source.device().is_cuda() {
        let out = crate::cuda::ops::index::index_add(base, shape, d, index, source)?;
        return Ok(finish_index_add(base, index, source, d, out));
    }
    let mut data = match base {
        Some(b) => crate::cpu::copy::strided_copy(b),
        None => CpuStorage::zeros(source.dtype(), shape.iter().product()),
    };
    {
        let src = source.contiguous_data();
        let g = src.read();
        let (off, len) = (src.offset(), src.numel());
        let (_, inner) = outer_inner(shape, d);
        with_pair!(&mut data, &*g, o, s => index_add_kernel(o, &s[off..off + len], n, inner, &idx));
    }
    let out = Tensor::from_storage(data, shape);
    Ok(finish_index_add(base, index, source, d, out))
}

/// The autograd record of index_add, shared by every backend.
fn finish_index_add(base: Option<&Tensor>, index: &Tensor, source: &Tensor, d: usize, out: Tensor) -> Tensor {
    let inputs: Vec<&Tensor> = base.into_iter().chain([source]).collect();
    if !needs_grad(&inputs) {
        return out;
    }
    let saved = SavedTensor::new(index);
    let src_shape = source.shape().to_vec();
    let has_base = base.is_some();
    record("index_add", out, &inputs, move |_| {
        Box::new(move |g| {
            let gs = g.index_select(d as isize, saved.get()?)?.reshape_to(&src_shape)?;
            Ok(if has_base {
                vec![Some(g.clone()), Some(gs)]
            } else {
                vec![Some(gs)]
            })
        })
    })
}

/// `scatter` / `scatter_add` onto `base`, or onto zeros of `shape` (in `src`'s dtype) when
/// `base` is None (the form gradient rules use).
fn scatter_impl(
    op: &'static str,
    base: Option<&Tensor>,
    shape: &[usize],
    dim: isize,
    index: &Tensor,
    src: &Tensor,
    add: bool,
) -> Result<Tensor> {
    let d = normalize_dim(op, dim, shape.len())?;
    check_index_shape(op, shape, index, d, Some(src))?;
    #[cfg(feature = "cuda")]
    if src.device().is_cuda() {
        let out = if add {
            crate::cuda::ops::index::scatter_add(base, shape, d, index, src)?
        } else {
            crate::cuda::ops::index::scatter(base, shape, d, index, src)?
        };
        return Ok(finish_scatter(op, base, index, src, d, add, out));
    }
    let idx = checked_indices(op, index, d, shape.get(d).copied().unwrap_or(1))?;
    let out_strides = contiguous_strides(shape);
    let (dst, dim_stride) = base_layout(index.shape(), &out_strides, 0, d);
    let mut src_strides = src.layout().strides.clone();
    src_strides.resize(index.ndim(), 0);
    let src_layout = Layout {
        shape: Dims::from_slice(index.shape()),
        strides: src_strides,
        offset: src.offset(),
    };
    let mut data = match base {
        Some(b) => crate::cpu::copy::strided_copy(b),
        None => CpuStorage::zeros(src.dtype(), shape.iter().product()),
    };
    {
        let g = src.read();
        if add {
            with_pair!(&mut data, &*g, o, s => scatter_kernel(o, &dst, dim_stride, s, &src_layout, &idx, |a, b| a.acc(b)));
        } else {
            with_pair!(&mut data, &*g, o, s => scatter_kernel(o, &dst, dim_stride, s, &src_layout, &idx, |_, b| b));
        }
    }
    let out = Tensor::from_storage(data, shape);
    Ok(finish_scatter(op, base, index, src, d, add, out))
}

/// The autograd record of scatter / scatter_add, shared by every backend.
fn finish_scatter(
    op: &'static str,
    base: Option<&Tensor>,
    index: &Tensor,
    src: &Tensor,
    d: usize,
    add: bool,
    out: Tensor,
) -> Tensor {
    let inputs: Vec<&Tensor> = base.into_iter().chain([src]).collect();
    if !needs_grad(&inputs) {
        return out;
    }
    let saved = SavedTensor::new(index);
    let src_shape = src.shape().to_vec();
    let has_base = base.is_some();
    record(op, out, &inputs, move |_| {
        Box::new(move |g| {
            let idx = saved.get()?;
            let g_src = pad_to(&g.gather(d as isize, idx)?, &src_shape)?;
            if !has_base {
                return Ok(vec![Some(g_src)]);
            }
            let g_base = if add {
                g.clone()
            } else {
                // the written positions no longer depend on the base
                g.scatter(d as isize, idx, &Tensor::zeros_on(idx.shape(), g.dtype(), g.device())?)?
            };
            Ok(vec![Some(g_base), Some(g_src)])
        })
    })
}

/// Zeros of `shape` with `src` accumulated at `index` along `dim`: the adjoint of `gather`,
/// as used by the gradient rules of gather-like ops (sort, topk, max_dim).
pub(crate) fn scatter_add_zeros(shape: &[usize], dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    scatter_impl("scatter_add", None, shape, dim, index, src, true)
}

fn check_embedding(weight: &Tensor) -> Result<()> {
    if weight.ndim() != 2 {
        return Err(shape_err(
            "embedding",
            format!(
                "weight must be 2-D [num_embeddings, dim], got shape {:?}",
                weight.shape()
            ),
        ));
    }
    Ok(())
}

/// Shape rules shared by gather and scatter: the index has `self`'s number of dims, fits in
/// `self` along every dim but `dim`, and (for scatter) fits in `src` along every dim.
fn check_index_shape(op: &'static str, x: &[usize], index: &Tensor, dim: usize, src: Option<&Tensor>) -> Result<()> {
    let nd = x.len().max(1);
    let ind = index.ndim().max(1);
    if ind != nd || src.is_some_and(|s| s.ndim().max(1) != nd) {
        return Err(shape_err(
            op,
            format!(
                "index (shape {:?}){} must have the same number of dims as self (shape {:?})",
                index.shape(),
                src.map(|s| format!(" and src (shape {:?})", s.shape()))
                    .unwrap_or_default(),
                x
            ),
        ));
    }
    let size = |t: &[usize], d: usize| t.get(d).copied().unwrap_or(1);
    for (d, &n) in index.shape().iter().enumerate() {
        if d != dim && n > size(x, d) {
            return Err(shape_err(
                op,
                format!(
                    "index of shape {:?} is larger than self of shape {x:?} at dim {d} (only dim {dim} may differ)",
                    index.shape()
                ),
            ));
        }
        if let Some(s) = src {
            if n > size(s.shape(), d) {
                return Err(shape_err(
                    op,
                    format!(
                        "index of shape {:?} is larger than src of shape {:?} at dim {d}",
                        index.shape(),
                        s.shape()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A layout over the index's positions that points at the start of `dim` in a tensor with
/// the given strides (stride 0 along `dim`), and that tensor's stride along `dim`.
fn base_layout(index_shape: &[usize], strides: &[usize], offset: usize, dim: usize) -> (Layout, usize) {
    let mut s: Dims = Dims::from_slice(strides);
    let dim_stride = s.get(dim).copied().unwrap_or(0);
    if let Some(v) = s.get_mut(dim) {
        *v = 0;
    }
    if s.len() < index_shape.len() {
        s.resize(index_shape.len(), 0);
    }
    (
        Layout {
            shape: Dims::from_slice(index_shape),
            strides: s,
            offset,
        },
        dim_stride,
    )
}

#[cfg(test)]
mod tests {
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::{DType, Error, Tensor};
    use std::slice::from_ref;

    fn f64t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn i64t(v: &[i64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn randn(shape: &[usize]) -> Tensor {
        let mut g = crate::Generator::new(7);
        Tensor::randn_with(shape, &mut g).to_dtype(DType::F64).unwrap()
    }

    fn is_index_err(r: crate::Result<Tensor>, needle: &str) {
        match r {
            Err(Error::Index { msg, .. }) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("expected an index error containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn index_select_values_and_negative_indices() {
        let x = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let y = x.index_select(1, &i64t(&[2, -3, 2], &[3])).unwrap();
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![3., 1., 3., 6., 4., 6.]);
        // i32 indices and a transposed (strided) input
        let y = x.t().index_select(0, &Tensor::new(&[1i32])).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![2., 5.]);
        is_index_err(
            x.index_select(1, &i64t(&[3], &[1])),
            "index 3 is out of bounds for dimension 1 with size 3",
        );
        is_index_err(x.index_select(0, &i64t(&[-3], &[1])), "index -3");
        assert!(x.index_select(0, &Tensor::new(&[0.0f32])).is_err());
        assert!(x.index_select(0, &i64t(&[0, 1], &[1, 2])).is_err());
    }

    #[test]
    fn index_select_large_parallel_path_matches_rows() {
        let x = Tensor::arange(0.0, (3000 * 16) as f64, 1.0)
            .unwrap()
            .reshape(&[3000, 16])
            .unwrap();
        let idx: Vec<i64> = (0..3000).rev().collect();
        let y = x.index_select(0, &i64t(&idx, &[3000])).unwrap();
        let v = y.to_vec::<i64>().unwrap();
        assert_eq!(&v[..16], &(2999 * 16..3000 * 16).collect::<Vec<i64>>()[..]);
        assert_eq!(v[16 * 2999], 0);
    }

    #[test]
    fn index_select_and_index_add_grads() {
        let idx = i64t(&[2, 0, 2], &[3]);
        let x = randn(&[3, 4]);
        gradcheck(&|xs| xs[0].index_select(0, &idx), from_ref(&x), 1e-6, 1e-7).unwrap();
        gradcheck(
            &|xs| xs[0].index_select(1, &i64t(&[3, 1], &[2])),
            from_ref(&x),
            1e-6,
            1e-7,
        )
        .unwrap();
        let src = randn(&[3, 3]);
        gradcheck(
            &|xs| xs[0].index_add(1, &idx, &xs[1]),
            &[x.clone(), src.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradgradcheck(&|xs| xs[0].index_select(0, &idx)?.square(), &[x], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn index_add_accumulates_repeats() {
        let x = f64t(&[1., 1., 1., 1.], &[2, 2]);
        let src = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let y = x.index_add(1, &i64t(&[1, 1, 0], &[3]), &src).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![4., 4., 7., 10.]);
        assert!(x.index_add(1, &i64t(&[1], &[1]), &src).is_err());
        assert!(x
            .index_add(1, &i64t(&[0, 1, 0], &[3]), &src.to_dtype(DType::F32).unwrap())
            .is_err());
        let yi = Tensor::new(&[0i64, 0])
            .index_add(0, &i64t(&[1, 1], &[2]), &Tensor::new(&[3i64, 4]))
            .unwrap();
        assert_eq!(yi.to_vec::<i64>().unwrap(), vec![0, 7]);
    }

    #[test]
    fn half_and_integer_accumulation() {
        let h = Tensor::zeros_dtype(&[2], DType::F16).unwrap();
        let src = Tensor::new(&[1.5f32, 2.0, 0.25]).to_dtype(DType::F16).unwrap();
        let y = h.index_add(0, &i64t(&[1, 1, 0], &[3]), &src).unwrap();
        assert_eq!(y.dtype(), DType::F16);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.25, 3.5]);
        let z = Tensor::zeros_dtype(&[1, 2], DType::I32).unwrap();
        let s = Tensor::new(&[[5i32, 6, 7]]);
        let y = z.scatter_add(1, &i64t(&[1, 1, 0], &[1, 3]), &s).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![7, 11]);
        // a transposed (strided) source
        let x = f64t(&[0.; 4], &[2, 2]);
        let st = f64t(&[1., 2., 3., 4.], &[2, 2]).t();
        let y = x.scatter(1, &i64t(&[1, 0, 0, 1], &[2, 2]), &st).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![3., 1., 2., 4.]);
    }

    #[test]
    fn gather_values_grads_and_errors() {
        let x = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let idx = i64t(&[2, 0, 1, 1], &[2, 2]);
        assert_eq!(
            x.gather(1, &idx).unwrap().to_vec::<f64>().unwrap(),
            vec![3., 1., 5., 5.]
        );
        // along dim 0, on a transposed view, with an index smaller than self
        let idx0 = i64t(&[1, 0], &[1, 2]);
        assert_eq!(x.gather(0, &idx0).unwrap().to_vec::<f64>().unwrap(), vec![4., 2.]);
        assert_eq!(
            x.t()
                .gather(0, &i64t(&[1, 2], &[1, 2]))
                .unwrap()
                .to_vec::<f64>()
                .unwrap(),
            vec![2., 6.]
        );
        is_index_err(
            x.gather(1, &i64t(&[3], &[1, 1])),
            "index 3 is out of bounds for dimension 1 with size 3",
        );
        assert!(x.gather(1, &i64t(&[0, 0, 0], &[3, 1])).is_err());
        assert!(x.gather(1, &i64t(&[0], &[1])).is_err());
        let xr = randn(&[3, 4]);
        let idx = i64t(&[0, 3, 3, 1, 2, 2], &[3, 2]);
        gradcheck(&|xs| xs[0].gather(1, &idx), from_ref(&xr), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].gather(1, &idx)?.square(), &[xr], 1e-6, 1e-6).unwrap();
    }

    #[test]
    fn scatter_and_scatter_add_values() {
        let x = f64t(&[0.; 6], &[2, 3]);
        let idx = i64t(&[2, 2, 0, 1], &[2, 2]);
        let src = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        // only the leading [2, 2] block of src is used
        assert_eq!(
            x.scatter_add(1, &idx, &src).unwrap().to_vec::<f64>().unwrap(),
            vec![0., 0., 3., 4., 5., 0.]
        );
        assert_eq!(
            x.scatter(1, &idx, &src).unwrap().to_vec::<f64>().unwrap(),
            vec![0., 0., 2., 4., 5., 0.]
        );
        let y = x.scatter(0, &i64t(&[1, 0, 1], &[1, 3]), &src).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![0., 2., 0., 1., 0., 3.]);
        is_index_err(
            x.scatter(0, &i64t(&[2], &[1, 1]), &src),
            "index 2 is out of bounds for dimension 0 with size 2",
        );
        assert!(x.scatter(1, &i64t(&[0; 8], &[2, 4]), &src).is_err());
    }

    #[test]
    fn scatter_grads() {
        let x = randn(&[2, 4]);
        let src = randn(&[3, 3]);
        let idx = i64t(&[3, 0, 1, 2], &[2, 2]);
        gradcheck(
            &|xs| xs[0].scatter(1, &idx, &xs[1]),
            &[x.clone(), src.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        let dup = i64t(&[3, 3, 1, 1], &[2, 2]);
        gradcheck(
            &|xs| xs[0].scatter_add(1, &dup, &xs[1]),
            &[x.clone(), src.clone()],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradgradcheck(
            &|xs| xs[0].scatter_add(1, &dup, &xs[1])?.square(),
            &[x, src],
            1e-6,
            1e-6,
        )
        .unwrap();
        // the scatter grad of self is zero at the written positions
        let x = Tensor::zeros_dtype(&[3], DType::F64).unwrap().requires_grad_(true);
        let y = x.scatter(0, &i64t(&[1], &[1]), &f64t(&[5.], &[1])).unwrap();
        y.sum_all().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![1., 0., 1.]);
    }

    #[test]
    fn masked_select_and_scatter() {
        let x = f64t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let mask = Tensor::new(&[true, false, true]);
        assert_eq!(
            x.masked_select(&mask).unwrap().to_vec::<f64>().unwrap(),
            vec![1., 3., 4., 6.]
        );
        assert!(x.masked_select(&Tensor::new(&[1i64, 0, 1])).is_err());
        assert!(x.masked_select(&Tensor::new(&[true, false])).is_err());
        let y = x.masked_scatter(&mask, &f64t(&[9., 8., 7., 6., 5.], &[5])).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![9., 2., 8., 7., 5., 6.]);
        assert!(x.masked_scatter(&mask, &f64t(&[9.], &[1])).is_err());
        let xr = randn(&[2, 3]);
        gradcheck(&|xs| xs[0].masked_select(&mask), from_ref(&xr), 1e-6, 1e-7).unwrap();
        gradgradcheck(&|xs| xs[0].masked_select(&mask)?.square(), from_ref(&xr), 1e-6, 1e-6).unwrap();
        // a mask that broadcasts self: the gradient sums back to self's shape
        let row = randn(&[3]);
        let m2 = Tensor::new(&[[true, true, false], [false, true, true]]);
        gradcheck(&|xs| xs[0].masked_select(&m2), &[row], 1e-6, 1e-7).unwrap();
        let src = randn(&[6]);
        gradcheck(&|xs| xs[0].masked_scatter(&mask, &xs[1]), &[xr, src], 1e-6, 1e-7).unwrap();
    }

    #[test]
    fn nonzero_coordinates() {
        let x = Tensor::new(&[[0i64, 3], [4, 0], [0, 5]]);
        let nz = x.nonzero().unwrap();
        assert_eq!(nz.shape(), &[3, 2]);
        assert_eq!(nz.to_vec::<i64>().unwrap(), vec![0, 1, 1, 0, 2, 1]);
    }

    #[test]
    fn advanced_indexing() {
        let x = f64t(&(0..12).map(|v| v as f64).collect::<Vec<_>>(), &[3, 2, 2]);
        let y = x.index(&i64t(&[2, 0], &[2])).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![8., 9., 10., 11., 0., 1., 2., 3.]);
        let s = x.index(&i64t(&[1], &[])).unwrap();
        assert_eq!(s.shape(), &[2, 2]);
        let m = Tensor::new(&[[true, false], [false, false], [true, true]]);
        let y = x.index(&m).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![0., 1., 8., 9., 10., 11.]);
        assert!(x.index(&Tensor::new(&[true, false])).is_err());
        is_index_err(
            x.index(&i64t(&[3], &[1])),
            "index 3 is out of bounds for dimension 0 with size 3",
        );
        let z = x.index_dim(2, &i64t(&[1, 1, 0], &[3])).unwrap();
        assert_eq!(z.shape(), &[3, 2, 3]);
        assert_eq!(&z.to_vec::<f64>().unwrap()[..3], &[1., 1., 0.]);
        let z = x.index_dim(-1, &Tensor::new(&[false, true])).unwrap();
        assert_eq!(z.to_vec::<f64>().unwrap(), vec![1., 3., 5., 7., 9., 11.]);
        let xr = randn(&[3, 2, 2]);
        gradcheck(&|xs| xs[0].index(&m), from_ref(&xr), 1e-6, 1e-7).unwrap();
        gradcheck(
            &|xs| xs[0].index_dim(1, &i64t(&[1, 1, 0, 1], &[2, 2])),
            &[xr],
            1e-6,
            1e-7,
        )
        .unwrap();
    }

    #[test]
    fn one_hot_values_and_errors() {
        let y = Tensor::new(&[[1i64, 0], [2, 1]]).one_hot(-1).unwrap();
        assert_eq!(y.shape(), &[2, 2, 3]);
        assert_eq!(y.dtype(), DType::I64);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0]);
        assert_eq!(
            Tensor::new(&[1i32]).one_hot(4).unwrap().to_vec::<i64>().unwrap(),
            vec![0, 1, 0, 0]
        );
        assert!(Tensor::new(&[3i64]).one_hot(3).is_err());
        assert!(Tensor::new(&[-1i64]).one_hot(3).is_err());
        assert!(Tensor::new(&[1.0f32]).one_hot(3).is_err());
    }

    #[test]
    fn embedding_forward_and_grads() {
        let w = f64t(&[0., 1., 2., 3., 4., 5.], &[3, 2]);
        let idx = i64t(&[2, 2, 0, 1], &[2, 2]);
        let e = Tensor::embedding(&w, &idx).unwrap();
        assert_eq!(e.shape(), &[2, 2, 2]);
        assert_eq!(e.to_vec::<f64>().unwrap(), vec![4., 5., 4., 5., 0., 1., 2., 3.]);
        is_index_err(
            Tensor::embedding(&w, &i64t(&[3], &[1])),
            "index 3 is out of bounds for dimension 0 with size 3",
        );
        assert!(Tensor::embedding(&f64t(&[0.; 3], &[3]), &idx).is_err());
        let wr = randn(&[3, 2]);
        gradcheck(&|xs| Tensor::embedding(&xs[0], &idx), from_ref(&wr), 1e-6, 1e-7).unwrap();
        // where the padding row is not looked up, embedding_padding is the plain embedding
        let no_pad = i64t(&[0, 1, 1], &[3]);
        gradcheck(
            &|xs| Tensor::embedding_padding(&xs[0], &no_pad, 2),
            from_ref(&wr),
            1e-6,
            1e-7,
        )
        .unwrap();
        gradgradcheck(
            &|xs| Tensor::embedding_padding(&xs[0], &idx, -1)?.square(),
            &[wr],
            1e-6,
            1e-6,
        )
        .unwrap();
        // the padding row's gradient is exactly zero; repeated rows accumulate
        let w = Tensor::ones_dtype(&[3, 2], DType::F64).unwrap().requires_grad_(true);
        Tensor::embedding_padding(&w, &idx, -1)
            .unwrap()
            .sum_all()
            .backward()
            .unwrap();
        assert_eq!(w.grad().unwrap().to_vec::<f64>().unwrap(), vec![1., 1., 1., 1., 0., 0.]);
        let w2 = Tensor::ones_dtype(&[3, 2], DType::F64).unwrap().requires_grad_(true);
        Tensor::embedding(&w2, &idx).unwrap().sum_all().backward().unwrap();
        assert_eq!(
            w2.grad().unwrap().to_vec::<f64>().unwrap(),
            vec![1., 1., 1., 1., 2., 2.]
        );
        assert!(Tensor::embedding_padding(&w, &idx, 3).is_err());
    }
}
