//! 2-D convolution on the GPU as im2col + cuBLAS GEMM (conv.cu builds the columns), with the
//! GEMMs and sums written as Tensor ops on the GPU tensors, so they reuse the batched cuBLAS
//! path. Grouped convolution is not ported yet and errors clearly. cuDNN is not used.

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cpu::conv_kernels::ConvGeom;
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix};
use crate::error::Result;
use crate::tensor::Tensor;
use cudarc::driver::DeviceRepr;

/// `struct ConvGeom` of conv.cu.
#[repr(C)]
#[derive(Clone, Copy)]
struct Geom {
    c: i64,
    h: i64,
    w: i64,
    kh: i64,
    kw: i64,
    oh: i64,
    ow: i64,
    sh: i64,
    sw: i64,
    ph: i64,
    pw: i64,
    dh: i64,
    dw: i64,
}

// SAFETY: plain old data with the C layout conv.cu declares.
unsafe impl DeviceRepr for Geom {}

fn geom(op: &'static str, g: &ConvGeom) -> Result<Geom> {
    if g.groups != 1 {
        return Err(not_on_cuda(op, format!("grouped convolution (groups={})", g.groups)));
    }
    Ok(Geom {
        c: g.c_in as i64,
        h: g.h as i64,
        w: g.w as i64,
        kh: g.kh as i64,
        kw: g.kw as i64,
        oh: g.oh as i64,
        ow: g.ow as i64,
        sh: g.stride[0] as i64,
        sw: g.stride[1] as i64,
        ph: g.pad[0] as i64,
        pw: g.pad[1] as i64,
        dh: g.dilation[0] as i64,
        dw: g.dilation[1] as i64,
    })
}

fn ckk(g: &ConvGeom) -> usize {
    g.c_in * g.kh * g.kw
}

/// The columns of `x` ([N, C, H, W]): [N, C*kH*kW, OH*OW].
fn im2col(op: &'static str, x: &Tensor, g: &ConvGeom) -> Result<Tensor> {
    let geo = geom(op, g)?;
    let x = contiguous(x)?;
    let gpu = gpu_of(&x)?;
    let n = g.n * ckk(g) * g.oh * g.ow;
    let out = DeviceBuffer::alloc(gpu, x.dtype(), n)?;
    if n > 0 {
        let (o, xp, b) = (
            out.ptr(),
            ptr(&x)? + (x.offset() * x.dtype().size_in_bytes()) as u64,
            g.n as i64,
        );
        // im2col_<T>(T* cols, const T* x, ConvGeom g, i64 batch)
        launch!(
            gpu,
            op,
            format!("im2col_{}", suffix(x.dtype())),
            grid(n),
            [&o, &xp, &geo, &b]
        )?;
    }
    Ok(tensor(out, &[g.n, ckk(g), g.oh * g.ow]))
}

/// The image gradient from column gradients ([N, C*kH*kW, OH*OW] -> [N, C, H, W]).
fn col2im(op: &'static str, cols: &Tensor, g: &ConvGeom) -> Result<Tensor> {
    let geo = geom(op, g)?;
    let cols = contiguous(cols)?;
    let gpu = gpu_of(&cols)?;
    let n = g.n * g.c_in * g.h * g.w;
    let out = DeviceBuffer::alloc(gpu, cols.dtype(), n)?;
    if n > 0 {
        let (o, cp, b) = (
            out.ptr(),
            ptr(&cols)? + (cols.offset() * cols.dtype().size_in_bytes()) as u64,
            g.n as i64,
        );
        // col2im_<T>(T* x, const T* cols, ConvGeom g, i64 batch)
        launch!(
            gpu,
            op,
            format!("col2im_{}", suffix(cols.dtype())),
            grid(n),
            [&o, &cp, &geo, &b]
        )?;
    }
    Ok(tensor(out, &[g.n, g.c_in, g.h, g.w]))
}

/// Run `f` on detached inputs without recording (the op records its own gradient rule).
fn raw<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::autograd::no_grad_scope(f)
}

/// `conv2d` forward: y[n] = W [C_out, CkK] @ cols[n], plus the bias.
pub(crate) fn forward(g: &ConvGeom, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    raw(|| {
        let cols = im2col("conv2d", &x.detach(), g)?;
        let wm = w.detach().reshape_to(&[g.c_out, ckk(g)])?;
        let y = wm.matmul(&cols)?.reshape_to(&[g.n, g.c_out, g.oh, g.ow])?;
        match bias {
            Some(b) => y.add(&b.detach().reshape_to(&[1, g.c_out, 1, 1])?),
            None => Ok(y),
        }
    })
}

/// The input gradient: col2im(W^T @ gy[n]).
pub(crate) fn backward_input(g: &ConvGeom, gy: &Tensor, w: &Tensor) -> Result<Tensor> {
    raw(|| {
        let wt = w.detach().reshape_to(&[g.c_out, ckk(g)])?.t();
        let gcols = wt.matmul(&gy.detach().reshape_to(&[g.n, g.c_out, g.oh * g.ow])?)?;
        col2im("conv2d_backward_input", &gcols, g)
    })
}

/// The weight gradient sum_n gy[n] @ cols[n]^T, flattened, with the bias gradient appended
/// when `with_bias` (the layout the CPU kernel returns).
pub(crate) fn backward_weight(g: &ConvGeom, gy: &Tensor, x: &Tensor, with_bias: bool) -> Result<Tensor> {
    raw(|| {
        let gy = gy.detach();
        let cols = im2col("conv2d_backward_weight", &x.detach(), g)?;
        let gy3 = gy.reshape_to(&[g.n, g.c_out, g.oh * g.ow])?;
        let gw = gy3
            .matmul(&cols.transpose(-2, -1)?)?
            .sum(0, false)?
            .reshape_to(&[g.c_out * ckk(g)])?;
        if !with_bias {
            return Ok(gw);
        }
        let ck = g.c_out * ckk(g);
        let gpu = gpu_of(&gw)?;
        let out = super::fill(gpu.ordinal, gw.dtype(), &[ck + g.c_out], 0.0)?;
        super::copy_into(&out.narrow(0, 0, ck)?, &gw)?;
        super::copy_into(&out.narrow(0, ck, g.c_out)?, &bias_grad(&gy)?)?;
        Ok(out)
    })
}

/// Per-channel sums of a [N, C, H, W] gradient.
pub(crate) fn bias_grad(gy: &Tensor) -> Result<Tensor> {
    raw(|| gy.detach().sum_dims(&[0, 2, 3], false))
}
