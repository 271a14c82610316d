//! 2-D convolution on the GPU as im2col + cuBLAS GEMM (conv.cu builds the columns), with the
//! GEMMs and sums written as Tensor ops on the GPU tensors, so they reuse the batched cuBLAS
//! path. Grouped convolution splits the columns' rows (channel-major, so each group's rows are
//! one block) and the weight into `groups` blocks and runs one batched GEMM over (image, group).
//! cuDNN is not used.

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cpu::conv_kernels::ConvGeom;
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

fn geom(g: &ConvGeom) -> Result<Geom> {
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

/// Rows of the columns: all input channels times the kernel's taps.
fn ckk(g: &ConvGeom) -> usize {
    g.c_in * g.kh * g.kw
}

/// Rows of the columns one group reads (the weight's second dim times the taps).
fn ckk_g(g: &ConvGeom) -> usize {
    g.cin_g() * g.kh * g.kw
}

/// The columns of `x` ([N, C, H, W]): [N, C*kH*kW, OH*OW].
fn im2col(op: &'static str, x: &Tensor, g: &ConvGeom) -> Result<Tensor> {
    let geo = geom(g)?;
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
    let geo = geom(g)?;
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

/// The weight as one matrix per group: [G, C_out/G, C_in/G * kH * kW].
fn weight_by_group(g: &ConvGeom, w: &Tensor) -> Result<Tensor> {
    w.detach().reshape_to(&[g.groups, g.cout_g(), ckk_g(g)])
}

/// Columns [N, C*kH*kW, P] as [N, G, C/G*kH*kW, P] (a view: each group's rows are one block).
fn cols_by_group(g: &ConvGeom, cols: &Tensor) -> Result<Tensor> {
    cols.reshape_to(&[g.n, g.groups, ckk_g(g), g.oh * g.ow])
}

/// `conv2d` forward: y[n, grp] = W[grp] [C_out/G, CkK/G] @ cols[n, grp], plus the bias.
pub(crate) fn forward(g: &ConvGeom, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    raw(|| {
        let cols = cols_by_group(g, &im2col("conv2d", &x.detach(), g)?)?;
        let y = weight_by_group(g, w)?
            .matmul(&cols)?
            .reshape_to(&[g.n, g.c_out, g.oh, g.ow])?;
        match bias {
            Some(b) => y.add(&b.detach().reshape_to(&[1, g.c_out, 1, 1])?),
            None => Ok(y),
        }
    })
}

/// The input gradient: col2im(W[grp]^T @ gy[n, grp]).
pub(crate) fn backward_input(g: &ConvGeom, gy: &Tensor, w: &Tensor) -> Result<Tensor> {
    raw(|| {
        let wt = weight_by_group(g, w)?.transpose(-2, -1)?;
        let gy4 = gy.detach().reshape_to(&[g.n, g.groups, g.cout_g(), g.oh * g.ow])?;
        let gcols = wt.matmul(&gy4)?.reshape_to(&[g.n, ckk(g), g.oh * g.ow])?;
        col2im("conv2d_backward_input", &gcols, g)
    })
}

/// The weight gradient sum_n gy[n] @ cols[n]^T, flattened, with the bias gradient appended
/// when `with_bias` (the layout the CPU kernel returns).
pub(crate) fn backward_weight(g: &ConvGeom, gy: &Tensor, x: &Tensor, with_bias: bool) -> Result<Tensor> {
    raw(|| {
        let gy = gy.detach();
        let cols = cols_by_group(g, &im2col("conv2d_backward_weight", &x.detach(), g)?)?;
        let gy4 = gy.reshape_to(&[g.n, g.groups, g.cout_g(), g.oh * g.ow])?;
        // [N, G, C_out/G, CkK/G] summed over the images: the weight's [C_out, C_in/G, kH, kW]
        let gw = gy4
            .matmul(&cols.transpose(-2, -1)?)?
            .sum(0, false)?
            .reshape_to(&[g.c_out * ckk_g(g)])?;
        if !with_bias {
            return Ok(gw);
        }
        let ck = g.c_out * ckk_g(g);
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
