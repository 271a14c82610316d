//! Launchers for index.cu: index_select, gather, scatter_add, index_add. Indices are checked
//! on the device: a kernel that meets an index out of range skips it and raises a flag, which
//! is read back (one synchronization) and turned into the same `Err` the CPU path gives.

use super::{contiguous, first_elem, gpu_of, ptr, tensor};
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::device::Gpu;
use crate::cuda::launch::{grid, suffix, Strided};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Dims, Layout};
use crate::tensor::Tensor;

/// The index as a GPU i64 tensor.
fn index_i64(op: &'static str, index: &Tensor) -> Result<Tensor> {
    match index.dtype() {
        DType::I64 => Ok(index.clone()),
        DType::I32 => super::cast(index, DType::I64),
        d => Err(Error::DType {
            op,
            msg: format!("index must be an integer tensor (i64 or i32), got {d}"),
        }),
    }
}

/// A zeroed device int the kernels set when they meet a bad index.
fn flag(g: &std::sync::Arc<Gpu>) -> Result<DeviceBuffer> {
    DeviceBuffer::zeros(g, DType::I32, 1)
}

fn check_flag(op: &'static str, flag: &DeviceBuffer, size: usize) -> Result<()> {
    let host = flag.download()?;
    let raised = crate::storage::StorageElem::slice(&host).is_some_and(|v: &[i32]| v[0] != 0);
    if raised {
        return Err(Error::Index {
            op,
            msg: format!("index out of range: an index is outside [-{size}, {size})"),
        });
    }
    Ok(())
}

fn outer_inner(shape: &[usize], d: usize) -> (usize, usize) {
    (shape[..d].iter().product(), shape[d + 1..].iter().product())
}

/// `x.index_select(d, index)` for `x` with at least one dim.
pub(crate) fn index_select(op: &'static str, x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    if x.ndim() == 0 {
        return Err(not_on_cuda(op, "0-dim input"));
    }
    let g = gpu_of(x)?;
    let idx = contiguous(&index_i64(op, index)?)?;
    let xc = contiguous(x)?;
    let (outer, inner) = outer_inner(x.shape(), d);
    let (n, k) = (x.shape()[d], idx.numel());
    let mut shape = x.shape().to_vec();
    shape[d] = k;
    let out = DeviceBuffer::alloc(g, x.dtype(), outer * k * inner)?;
    if outer * k * inner > 0 {
        let bad = flag(g)?;
        let (o, xp, ip, bp) = (out.ptr(), first_elem(&xc)?, first_elem(&idx)?, bad.ptr());
        let (o64, n64, i64_, k64) = (outer as i64, n as i64, inner as i64, k as i64);
        // index_select_<T>(T* out, const T* x, const i64* idx, i64 outer, i64 n, i64 inner, i64 k, int* bad)
        launch!(
            g,
            op,
            format!("index_select_{}", suffix(x.dtype())),
            grid(outer * k * inner),
            [&o, &xp, &ip, &o64, &n64, &i64_, &k64, &bp]
        )?;
        check_flag(op, &bad, n)?;
    }
    Ok(tensor(out, &shape))
}

/// Fails with the CPU path's error when an index is outside `[-size, size)`.
fn check_range(op: &'static str, g: &std::sync::Arc<Gpu>, idx: &Tensor, size: usize) -> Result<()> {
    let count = idx.numel();
    if count == 0 {
        return Ok(());
    }
    let bad = flag(g)?;
    let (ip, si, c64, s64, bp) = (
        ptr(idx)?,
        Strided::new(op, idx.layout())?,
        count as i64,
        size as i64,
        bad.ptr(),
    );
    // check_indices(const i64* idx, Strided si, i64 count, i64 n, int* bad)
    launch!(g, op, "check_indices", grid(count), [&ip, &si, &c64, &s64, &bp])?;
    check_flag(op, &bad, size)
}

/// `x.gather(d, index)`: the output has the index's shape.
pub(crate) fn gather(x: &Tensor, d: usize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather";
    let g = gpu_of(x)?;
    let idx = index_i64(OP, index)?;
    check_range(OP, g, &idx, x.shape()[d])?;
    let n = idx.numel();
    let out = DeviceBuffer::alloc(g, x.dtype(), n)?;
    if n > 0 {
        let (o, xp, sx, ip, si) = (
            out.ptr(),
            ptr(x)?,
            Strided::with_shape(OP, x.layout())?,
            ptr(&idx)?,
            Strided::with_shape(OP, idx.layout())?,
        );
        let (dim, n64) = (d as i32, n as i64);
        // gather_<T>(T* out, const T* x, Strided sx, const i64* idx, Strided si, int dim, i64 n)
        launch!(
            g,
            OP,
            format!("gather_{}", suffix(x.dtype())),
            grid(n),
            [&o, &xp, &sx, &ip, &si, &dim, &n64]
        )?;
    }
    Ok(tensor(out, index.shape()))
}

/// `base` (or zeros of `shape` in `src`'s dtype) with `src` accumulated at `index` along `d`.
pub(crate) fn scatter_add(
    base: Option<&Tensor>,
    shape: &[usize],
    d: usize,
    index: &Tensor,
    src: &Tensor,
) -> Result<Tensor> {
    if let Some(wide) = accumulation_dtype(src.dtype()) {
        let base = base.map(|b| super::cast(b, wide)).transpose()?;
        let out = scatter_add(base.as_ref(), shape, d, index, &super::cast(src, wide)?)?;
        return super::cast(&out, src.dtype());
    }
    scatter_with("scatter_add", base, shape, d, index, src)
}

/// The dtype the atomic-add kernels (f32, f64, i32, i64) accumulate `d` in, when `d` has none of
/// its own: f16/bf16 in f32 (rounded once at the end), u8 in i32 (the cast back wraps mod 256,
/// as u8 adds do), bool in i32 (any nonzero sum casts back to true: `or`).
fn accumulation_dtype(d: DType) -> Option<DType> {
    match d {
        DType::F16 | DType::BF16 => Some(DType::F32),
        DType::U8 | DType::Bool => Some(DType::I32),
        DType::F32 | DType::F64 | DType::I32 | DType::I64 => None,
    }
}

/// `base` (or zeros of `shape`) with `src` written at `index` along `d` (any dtype).
pub(crate) fn scatter(
    base: Option<&Tensor>,
    shape: &[usize],
    d: usize,
    index: &Tensor,
    src: &Tensor,
) -> Result<Tensor> {
    scatter_with("scatter", base, shape, d, index, src)
}

/// The shared launcher of `scatter_add_<T>` and `scatter_<T>` (same arguments).
fn scatter_with(
    op: &'static str,
    base: Option<&Tensor>,
    shape: &[usize],
    d: usize,
    index: &Tensor,
    src: &Tensor,
) -> Result<Tensor> {
    let g = gpu_of(src)?;
    let idx = index_i64(op, index)?;
    let out = match base {
        Some(b) => super::copy_fresh(b)?,
        None => super::fill(g.ordinal, src.dtype(), shape, 0.0)?,
    };
    let n = idx.numel();
    if n > 0 {
        let so = Strided::with_shape(op, &Layout::contiguous(shape))?;
        // src is read over the index's shape with its own strides (it may be larger)
        let mut strides = src.layout().strides.clone();
        strides.resize(idx.ndim(), 0);
        let ls = Layout {
            shape: Dims::from_slice(idx.shape()),
            strides,
            offset: src.offset(),
        };
        let bad = flag(g)?;
        let (o, sp, ss, ip, si) = (
            ptr(&out)?,
            ptr(src)?,
            Strided::with_shape(op, &ls)?,
            ptr(&idx)?,
            Strided::with_shape(op, idx.layout())?,
        );
        let (dim, n64, bp) = (d as i32, n as i64, bad.ptr());
        // scatter_add_<T> / scatter_<T>(T* out, Strided so, const T* src, Strided ss, const i64* idx, Strided si,
        //                                int dim, i64 n, int* bad)
        launch!(
            g,
            op,
            format!("{op}_{}", suffix(src.dtype())),
            grid(n),
            [&o, &so, &sp, &ss, &ip, &si, &dim, &n64, &bp]
        )?;
        check_flag(op, &bad, shape[d])?;
    }
    Ok(out)
}

/// `base` (or zeros of `shape`) with `source` rows added at `index` along `d`.
pub(crate) fn index_add(
    base: Option<&Tensor>,
    shape: &[usize],
    d: usize,
    index: &Tensor,
    source: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "index_add";
    if shape.is_empty() {
        return Err(not_on_cuda(OP, "0-dim input"));
    }
    if let Some(wide) = accumulation_dtype(source.dtype()) {
        let base = base.map(|b| super::cast(b, wide)).transpose()?;
        let out = index_add(base.as_ref(), shape, d, index, &super::cast(source, wide)?)?;
        return super::cast(&out, source.dtype());
    }
    let g = gpu_of(source)?;
    let idx = contiguous(&index_i64(OP, index)?)?;
    let src = contiguous(source)?;
    let out = match base {
        Some(b) => super::copy_fresh(b)?,
        None => super::fill(g.ordinal, source.dtype(), shape, 0.0)?,
    };
    let (outer, inner) = outer_inner(shape, d);
    let (n, k) = (shape[d], idx.numel());
    if outer * k * inner > 0 {
        let bad = flag(g)?;
        let (o, sp, ip, bp) = (ptr(&out)?, first_elem(&src)?, first_elem(&idx)?, bad.ptr());
        let (o64, n64, i64_, k64) = (outer as i64, n as i64, inner as i64, k as i64);
        // index_add_<T>(T* out, const T* src, const i64* idx, i64 outer, i64 n, i64 inner, i64 k, int* bad)
        launch!(
            g,
            OP,
            format!("index_add_{}", suffix(source.dtype())),
            grid(outer * k * inner),
            [&o, &sp, &ip, &o64, &n64, &i64_, &k64, &bp]
        )?;
        check_flag(OP, &bad, n)?;
    }
    Ok(out)
}
