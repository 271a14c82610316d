//! Launchers for softmax.cu: softmax / log_softmax over the middle axis of a contiguous
//! (outer, n, inner) f32/f64 tensor, and the fused backward.

use super::{first_elem, gpu_of, tensor};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, rows_grid, suffix};
use crate::error::Result;
use crate::tensor::Tensor;

pub(crate) fn forward(x: &Tensor, outer: usize, n: usize, inner: usize, log: bool) -> Result<Tensor> {
    let g = gpu_of(x)?;
    let out = DeviceBuffer::alloc(g, x.dtype(), x.numel())?;
    if x.numel() > 0 {
        let (y, xp, lg) = (out.ptr(), first_elem(x)?, i32::from(log));
        let (o64, n64, i64_) = (outer as i64, n as i64, inner as i64);
        if inner == 1 {
            // softmax_rows_<T>(T* y, const T* x, i64 outer, i64 n, int log_out)
            launch!(
                g,
                "softmax",
                format!("softmax_rows_{}", suffix(x.dtype())),
                rows_grid(outer),
                [&y, &xp, &o64, &n64, &lg]
            )?;
        } else {
            // softmax_lanes_<T>(T* y, const T* x, i64 outer, i64 n, i64 inner, int log_out)
            launch!(
                g,
                "softmax",
                format!("softmax_lanes_{}", suffix(x.dtype())),
                grid(outer * inner),
                [&y, &xp, &o64, &n64, &i64_, &lg]
            )?;
        }
    }
    Ok(tensor(out, x.shape()))
}

/// `y` and `gy` contiguous, same dtype.
pub(crate) fn backward(y: &Tensor, gy: &Tensor, outer: usize, n: usize, inner: usize, log: bool) -> Result<Tensor> {
    let g = gpu_of(y)?;
    let out = DeviceBuffer::alloc(g, y.dtype(), y.numel())?;
    if y.numel() > 0 {
        let (gx, yp, gp, lg) = (out.ptr(), first_elem(y)?, first_elem(gy)?, i32::from(log));
        let (o64, n64, i64_) = (outer as i64, n as i64, inner as i64);
        // softmax_backward_<T>(T* gx, const T* y, const T* g, i64 outer, i64 n, i64 inner, int log_out)
        launch!(
            g,
            "softmax",
            format!("softmax_backward_{}", suffix(y.dtype())),
            grid(outer * inner),
            [&gx, &yp, &gp, &o64, &n64, &i64_, &lg]
        )?;
    }
    Ok(tensor(out, y.shape()))
}
