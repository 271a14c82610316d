//! Launchers for norm.cu: layer norm on contiguous f32/f64 rows of `d` elements, one kernel
//! forward and three backward (`ops/layer_norm.rs` decides when they apply and holds the CPU
//! twin they are tested against). Opt-in with `cuda::set_fused_layer_norm(true)` until the
//! device test `fused_layer_norm_matches_cpu` has passed on a GPU: written in a session without
//! one, these kernels are compiled by NVRTC in CI but have not run.

use super::{first_elem, gpu_of, tensor};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, rows_grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// The device address of an optional operand's first element; 0 (the kernels' "absent") for `None`.
fn first_or_null(t: Option<&Tensor>) -> Result<u64> {
    Ok(t.map(first_elem).transpose()?.unwrap_or(0))
}

/// `(y, mean, rstd)` for contiguous `x` of `rows x d` (`mean`/`rstd` of shape `[rows]`);
/// `w`/`b` contiguous of `d` elements, all of `x`'s dtype (f32 or f64) and device.
pub(crate) fn forward(
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    d: usize,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let g = gpu_of(x)?;
    let dt = x.dtype();
    let rows = x.numel() / d;
    let (y, mean, rstd) = (
        DeviceBuffer::alloc(g, dt, x.numel())?,
        DeviceBuffer::alloc(g, dt, rows)?,
        DeviceBuffer::alloc(g, dt, rows)?,
    );
    let (yp, mp, rp) = (y.ptr(), mean.ptr(), rstd.ptr());
    let (xp, wp, bp) = (first_elem(x)?, first_or_null(w)?, first_or_null(b)?);
    let (r64, d64) = (rows as i64, d as i64);
    let name = format!("layer_norm_{}", suffix(dt));
    // layer_norm_<T>(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, i64 rows, i64 d, T eps)
    if dt == DType::F32 {
        let e = eps as f32;
        launch!(
            g,
            "layer_norm",
            name,
            rows_grid(rows),
            [&yp, &mp, &rp, &xp, &wp, &bp, &r64, &d64, &e]
        )?;
    } else {
        launch!(
            g,
            "layer_norm",
            name,
            rows_grid(rows),
            [&yp, &mp, &rp, &xp, &wp, &bp, &r64, &d64, &eps]
        )?;
    }
    Ok((tensor(y, x.shape()), tensor(mean, &[rows]), tensor(rstd, &[rows])))
}

/// Threads the first stage of the dw/db reduction aims for: enough to fill the GPU, few
/// enough that the second stage sums short columns.
const PARTIAL_THREADS: usize = 1 << 16;

/// `(dx if want_dx, dw, db)` from contiguous `x`, `g` (`rows x d`) and the saved `mean`/`rstd`;
/// dw/db take the shape `ns` (whose product is `d`).
pub(crate) fn backward(
    x: &Tensor,
    g: &Tensor,
    w: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    ns: &[usize],
    want_dx: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let gpu = gpu_of(x)?;
    let dt = x.dtype();
    let d: usize = ns.iter().product();
    let rows = x.numel() / d;
    let (xp, gp, wp, mp, rp) = (
        first_elem(x)?,
        first_elem(g)?,
        first_or_null(w)?,
        first_elem(mean)?,
        first_elem(rstd)?,
    );
    let (r64, d64) = (rows as i64, d as i64);
    let dx = if want_dx {
        let dx = DeviceBuffer::alloc(gpu, dt, x.numel())?;
        let dxp = dx.ptr();
        // layer_norm_dx_<T>(T* dx, const T* x, const T* g, const T* w, const T* mean, const T* rstd, i64 rows, i64 d)
        launch!(
            gpu,
            "layer_norm_backward",
            format!("layer_norm_dx_{}", suffix(dt)),
            rows_grid(rows),
            [&dxp, &xp, &gp, &wp, &mp, &rp, &r64, &d64]
        )?;
        Some(tensor(dx, x.shape()))
    } else {
        None
    };
    let chunks = (PARTIAL_THREADS / d.max(1)).clamp(1, rows.max(1));
    let chunk = rows.div_ceil(chunks).max(1);
    let chunks = rows.div_ceil(chunk).max(1);
    let (pw, pb) = (
        DeviceBuffer::alloc(gpu, dt, chunks * d)?,
        DeviceBuffer::alloc(gpu, dt, chunks * d)?,
    );
    let (dw, db) = (DeviceBuffer::alloc(gpu, dt, d)?, DeviceBuffer::alloc(gpu, dt, d)?);
    let (pwp, pbp, dwp, dbp) = (pw.ptr(), pb.ptr(), dw.ptr(), db.ptr());
    let (chunk64, chunks64) = (chunk as i64, chunks as i64);
    // layer_norm_wb_partial_<T>(T* pw, T* pb, const T* x, const T* g, const T* mean, const T* rstd,
    //                           i64 rows, i64 d, i64 chunk, i64 chunks)
    launch!(
        gpu,
        "layer_norm_backward",
        format!("layer_norm_wb_partial_{}", suffix(dt)),
        grid(chunks * d),
        [&pwp, &pbp, &xp, &gp, &mp, &rp, &r64, &d64, &chunk64, &chunks64]
    )?;
    // layer_norm_wb_final_<T>(T* dw, T* db, const T* pw, const T* pb, i64 d, i64 chunks)
    launch!(
        gpu,
        "layer_norm_backward",
        format!("layer_norm_wb_final_{}", suffix(dt)),
        grid(d),
        [&dwp, &dbp, &pwp, &pbp, &d64, &chunks64]
    )?;
    Ok((dx, tensor(dw, ns), tensor(db, ns)))
}
