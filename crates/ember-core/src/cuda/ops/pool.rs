//! Max pooling on the GPU (pool.cu). The gradient is written with Tensor ops (a scatter-add of
//! the output gradient at the saved indices), so it runs on the GPU and is itself
//! differentiable. Average pooling kernels exist in pool.cu but are not wired yet.

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cpu::pool_kernels::Window;
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;
use cudarc::driver::DeviceRepr;

/// `struct PoolGeom` of pool.cu.
#[repr(C)]
#[derive(Clone, Copy)]
struct PoolGeom {
    planes: i64,
    h: i64,
    w: i64,
    oh: i64,
    ow: i64,
    kh: i64,
    kw: i64,
    sh: i64,
    sw: i64,
    ph: i64,
    pw: i64,
    dh: i64,
    dw: i64,
}

// SAFETY: plain old data with the C layout pool.cu declares.
unsafe impl DeviceRepr for PoolGeom {}

/// Values and flat `h * W + w` indices (i64) of max pooling over the last two dims of `x`.
pub(crate) fn max_pool2d(x: &Tensor, win: &Window) -> Result<(Tensor, Tensor)> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return Err(not_on_cuda("max_pool2d", format!("dtype {}", x.dtype())));
    }
    let nd = x.ndim();
    let planes: usize = x.shape()[..nd - 2].iter().product();
    let mut shape = x.shape()[..nd - 2].to_vec();
    shape.extend(win.out_hw);
    let geo = PoolGeom {
        planes: planes as i64,
        h: win.in_hw[0] as i64,
        w: win.in_hw[1] as i64,
        oh: win.out_hw[0] as i64,
        ow: win.out_hw[1] as i64,
        kh: win.kernel[0] as i64,
        kw: win.kernel[1] as i64,
        sh: win.stride[0] as i64,
        sw: win.stride[1] as i64,
        ph: win.pad[0] as i64,
        pw: win.pad[1] as i64,
        dh: win.dilation[0] as i64,
        dw: win.dilation[1] as i64,
    };
    let xc = contiguous(x)?;
    let g = gpu_of(&xc)?;
    let n = planes * win.out_hw[0] * win.out_hw[1];
    let vals = DeviceBuffer::alloc(g, x.dtype(), n)?;
    let idx = DeviceBuffer::alloc(g, DType::I64, n)?;
    if n > 0 {
        let (o, a, xp) = (
            vals.ptr(),
            idx.ptr(),
            ptr(&xc)? + (xc.offset() * xc.dtype().size_in_bytes()) as u64,
        );
        // max_pool2d_<T>(T* out, i64* arg, const T* x, PoolGeom g)
        launch!(
            g,
            "max_pool2d",
            format!("max_pool2d_{}", suffix(x.dtype())),
            grid(n),
            [&o, &a, &xp, &geo]
        )?;
    }
    Ok((tensor(vals, &shape), tensor(idx, &shape)))
}

/// The input gradient of max pooling: `g` scattered (added) at `idx` in each input plane.
pub(crate) fn max_pool2d_backward(g: &Tensor, idx: &Tensor, in_shape: &[usize]) -> Result<Tensor> {
    let nd = in_shape.len();
    let planes: usize = in_shape[..nd - 2].iter().product();
    let (hw, ohw) = (in_shape[nd - 2] * in_shape[nd - 1], idx.numel() / planes.max(1));
    let g2 = g.reshape_to(&[planes, ohw])?;
    let i2 = idx.reshape_to(&[planes, ohw])?;
    crate::ops::index::scatter_add_zeros(&[planes, hw], 1, &i2, &g2)?.reshape_to(in_shape)
}
