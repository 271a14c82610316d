//! Max and average pooling on the GPU (pool.cu). Max pooling's gradient is written with Tensor
//! ops (a scatter-add of the output gradient at the saved indices), so it runs on the GPU and
//! is itself differentiable; average pooling is a linear map whose adjoint kernel is its
//! gradient (recorded by `ops::pool::PlaneMap`).

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cpu::pool_kernels::{AvgWindow, Window};
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
    match x.dtype() {
        DType::F32 | DType::F64 => {}
        // in f32: the maximum is one of the inputs, so the round trip is exact
        DType::F16 | DType::BF16 => {
            let (vals, idx) = max_pool2d(&super::cast(x, DType::F32)?, win)?;
            return Ok((super::cast(&vals, x.dtype())?, idx));
        }
        d => return Err(not_on_cuda("max_pool2d", format!("dtype {d}"))),
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

/// Average pooling (`adjoint`: its adjoint, the gradient) of every plane of `x`.
pub(crate) fn avg_pool2d(x: &Tensor, win: &AvgWindow, adjoint: bool) -> Result<Tensor> {
    const OP: &str = "avg_pool2d";
    match x.dtype() {
        DType::F32 | DType::F64 => {}
        // f16/bf16 average in f32 and round once, as on the CPU
        DType::F16 | DType::BF16 => {
            return super::cast(&avg_pool2d(&super::cast(x, DType::F32)?, win, adjoint)?, x.dtype())
        }
        d => return Err(not_on_cuda(OP, format!("dtype {d}"))),
    }
    let nd = x.ndim();
    let planes: usize = x.shape()[..nd - 2].iter().product();
    let mut shape = x.shape()[..nd - 2].to_vec();
    shape.extend(if adjoint { win.in_hw } else { win.out_hw });
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
        dh: 1,
        dw: 1,
    };
    let xc = contiguous(x)?;
    let g = gpu_of(&xc)?;
    let len: usize = shape.iter().product();
    // the adjoint accumulates (windows overlap): it starts from zeros
    let out = if adjoint {
        DeviceBuffer::zeros(g, x.dtype(), len)?
    } else {
        DeviceBuffer::alloc(g, x.dtype(), len)?
    };
    let work = planes * win.out_hw[0] * win.out_hw[1];
    if work > 0 {
        let (o, xp) = (out.ptr(), ptr(&xc)? + (xc.offset() * xc.dtype().size_in_bytes()) as u64);
        let cip = i32::from(win.count_include_pad);
        let name = format!(
            "avg_pool2d{}_{}",
            if adjoint { "_backward" } else { "" },
            suffix(x.dtype())
        );
        // avg_pool2d_<T>(T* out, const T* x, PoolGeom g, int count_include_pad)
        // avg_pool2d_backward_<T>(T* gx, const T* g_out, PoolGeom g, int count_include_pad)
        launch!(g, OP, name, grid(work), [&o, &xp, &geo, &cip])?;
    }
    Ok(tensor(out, &shape))
}
