//! Launchers for compare.cu: comparisons (bool out), logical ops and `where`.

use super::{gpu_of, ptr, tensor};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix, Strided};
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::compare::Compare;
use crate::shape::Layout;
use crate::tensor::Tensor;

/// `a op b` for operands of one dtype broadcast to `shape`.
pub(crate) fn compare(
    op: Compare,
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    shape: &[usize],
) -> Result<Tensor> {
    let g = gpu_of(a)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(g, DType::Bool, n)?;
    if n > 0 {
        let code: i32 = match op {
            Compare::Eq => 0,
            Compare::Ne => 1,
            Compare::Lt => 2,
            Compare::Le => 3,
            Compare::Gt => 4,
            Compare::Ge => 5,
        };
        let (o, x, sx, y, sy, n64) = (
            out.ptr(),
            ptr(a)?,
            Strided::new("compare", la)?,
            ptr(b)?,
            Strided::new("compare", lb)?,
            n as i64,
        );
        match a.dtype() {
            DType::F16 | DType::BF16 => {
                let bf = i32::from(a.dtype() == DType::BF16);
                // compare_half(u8* out, const u16* x, Strided sx, const u16* y, Strided sy, i64 n, int op, int bf)
                launch!(
                    g,
                    "compare",
                    "compare_half",
                    grid(n),
                    [&o, &x, &sx, &y, &sy, &n64, &code, &bf]
                )?;
            }
            d => {
                // compare_<T>(u8* out, const T* x, Strided sx, const T* y, Strided sy, i64 n, int op)
                launch!(
                    g,
                    "compare",
                    format!("compare_{}", suffix(d)),
                    grid(n),
                    [&o, &x, &sx, &y, &sy, &n64, &code]
                )?;
            }
        }
    }
    Ok(tensor(out, shape))
}

/// Logical and (0), or (1), xor (2), not (3; `b` ignored) of bool tensors broadcast to `shape`.
pub(crate) fn logical(code: i32, a: &Tensor, la: &Layout, b: &Tensor, lb: &Layout, shape: &[usize]) -> Result<Tensor> {
    let g = gpu_of(a)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(g, DType::Bool, n)?;
    if n > 0 {
        let (o, x, sx, y, sy, n64) = (
            out.ptr(),
            ptr(a)?,
            Strided::new("logical", la)?,
            ptr(b)?,
            Strided::new("logical", lb)?,
            n as i64,
        );
        // logical_u8(u8* out, const u8* x, Strided sx, const u8* y, Strided sy, i64 n, int op)
        launch!(g, "logical", "logical_u8", grid(n), [&o, &x, &sx, &y, &sy, &n64, &code])?;
    }
    Ok(tensor(out, shape))
}

/// `where(cond, a, b)` with all three broadcast to `shape` (a and b of one dtype).
pub(crate) fn where_(
    cond: &Tensor,
    lc: &Layout,
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    shape: &[usize],
) -> Result<Tensor> {
    let g = gpu_of(a)?;
    let n: usize = shape.iter().product();
    let out = DeviceBuffer::alloc(g, a.dtype(), n)?;
    if n > 0 {
        let (o, c, sc) = (out.ptr(), ptr(cond)?, Strided::new("where", lc)?);
        let (x, sx, y, sy, n64) = (
            ptr(a)?,
            Strided::new("where", la)?,
            ptr(b)?,
            Strided::new("where", lb)?,
            n as i64,
        );
        // where_<T>(T* out, const u8* c, Strided sc, const T* x, Strided sx, const T* y, Strided sy, i64 n)
        launch!(
            g,
            "where",
            format!("where_{}", suffix(a.dtype())),
            grid(n),
            [&o, &c, &sc, &x, &sx, &y, &sy, &n64]
        )?;
    }
    Ok(tensor(out, shape))
}

/// A 0-dim CPU tensor next to GPU operands moves to their device (as PyTorch allows CPU
/// scalars in GPU ops); anything else on another device is the usual error.
pub(crate) fn on_device_of(op: &'static str, like: &Tensor, t: &Tensor) -> Result<Tensor> {
    if t.device() == like.device() {
        return Ok(t.clone());
    }
    if t.ndim() == 0 && t.device().is_cpu() {
        return t.to(like.device());
    }
    crate::ops::check_same_device(op, like, t).map(|_| t.clone())
}
