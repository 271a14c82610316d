//! Launchers for the copying movement ops (shape.cu): flip (a strided copy with negative
//! strides through fill.cu's `copy_strided`) and tril / triu.

use super::{gpu_of, ptr, tensor};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix, Strided};
use crate::error::Result;
use crate::tensor::Tensor;

/// `x` with the dims where `flip[d]` reversed, as a new contiguous tensor.
pub(crate) fn flip(x: &Tensor, flip: &[bool]) -> Result<Tensor> {
    let g = gpu_of(x)?;
    let n = x.numel();
    let out = DeviceBuffer::alloc(g, x.dtype(), n)?;
    if n > 0 {
        let l = x.layout();
        let mut offset = l.offset as i64;
        let mut strides: Vec<i64> = l.strides.iter().map(|&s| s as i64).collect();
        for d in 0..l.ndim() {
            if flip[d] {
                // start at the last element of the dim and walk back
                offset += (l.shape[d] as i64 - 1) * strides[d];
                strides[d] = -strides[d];
            }
        }
        let sx = Strided::signed("flip", &l.shape, &strides, offset)?;
        let (o, xp, n64) = (out.ptr(), ptr(x)?, n as i64);
        // copy_strided_<T>(T* out, const T* x, Strided sx, i64 n)
        launch!(
            g,
            "flip",
            format!("copy_strided_{}", suffix(x.dtype())),
            grid(n),
            [&o, &xp, &sx, &n64]
        )?;
    }
    Ok(tensor(out, x.shape()))
}

/// `tril(k)` (`lower`) or `triu(k)` of the last two dims of `x`.
pub(crate) fn triangle(op: &'static str, x: &Tensor, k: isize, lower: bool) -> Result<Tensor> {
    let g = gpu_of(x)?;
    let n = x.numel();
    let nd = x.ndim();
    let out = DeviceBuffer::alloc(g, x.dtype(), n)?;
    if n > 0 {
        let (rows, cols) = (x.shape()[nd - 2] as i64, x.shape()[nd - 1] as i64);
        let (o, xp, sx) = (out.ptr(), ptr(x)?, Strided::new(op, x.layout())?);
        let (k64, low, n64) = (k as i64, i32::from(lower), n as i64);
        // triangle_<T>(T* out, const T* x, Strided sx, i64 rows, i64 cols, i64 k, int lower, i64 n)
        launch!(
            g,
            op,
            format!("triangle_{}", suffix(x.dtype())),
            grid(n),
            [&o, &xp, &sx, &rows, &cols, &k64, &low, &n64]
        )?;
    }
    Ok(tensor(out, x.shape()))
}
