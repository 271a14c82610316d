//! Launchers for the plane-wise linear maps of resample.cu (adaptive average pooling, nearest
//! and bilinear resampling) and of pool.cu's average pooling, forward and adjoint. The op
//! layer (`ops::pool::PlaneMap`) records each direction as the gradient of the other, so these
//! only run kernels.

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// Which map of resample.cu (the kernel's name without the dtype suffix).
#[derive(Clone, Copy)]
pub(crate) enum Resample {
    AdaptiveAvg,
    Nearest,
    Bilinear { align_corners: bool },
}

impl Resample {
    fn name(self) -> &'static str {
        match self {
            Resample::AdaptiveAvg => "adaptive_avg_pool2d",
            Resample::Nearest => "upsample_nearest2d",
            Resample::Bilinear { .. } => "upsample_bilinear2d",
        }
    }
}

/// The planes of `x` (`[.., H, W]` with `[H, W]` = `src`) and the output shape `[.., dst]`.
fn planes_and_shape(x: &Tensor, dst: [usize; 2]) -> (usize, Vec<usize>) {
    let nd = x.ndim();
    let lead = &x.shape()[..nd - 2];
    let mut shape = lead.to_vec();
    shape.extend(dst);
    (lead.iter().product(), shape)
}

/// `map` (or its adjoint) of every plane of `x`: forward maps `in_hw` planes to `out_hw`
/// planes; the adjoint maps `out_hw` planes back to `in_hw`.
pub(crate) fn resample(
    map: Resample,
    x: &Tensor,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    adjoint: bool,
) -> Result<Tensor> {
    let op = map.name();
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return Err(not_on_cuda(op, format!("dtype {}", x.dtype())));
    }
    let x = contiguous(x)?;
    let g = gpu_of(&x)?;
    let (planes, shape) = planes_and_shape(&x, if adjoint { in_hw } else { out_hw });
    let out_len: usize = shape.iter().product();
    let out = if adjoint {
        DeviceBuffer::zeros(g, x.dtype(), out_len)?
    } else {
        DeviceBuffer::alloc(g, x.dtype(), out_len)?
    };
    // both directions run one thread per element of the `out_hw` planes
    let work = planes * out_hw[0] * out_hw[1];
    if work > 0 {
        let (o, xp) = (out.ptr(), ptr(&x)? + (x.offset() * x.dtype().size_in_bytes()) as u64);
        let [p, h, w, oh, ow] = [planes, in_hw[0], in_hw[1], out_hw[0], out_hw[1]].map(|v| v as i64);
        let name = format!("{op}{}_{}", if adjoint { "_backward" } else { "" }, suffix(x.dtype()));
        match map {
            // <name>_<T>(T* out, const T* in, i64 planes, i64 h, i64 w, i64 oh, i64 ow, int align)
            Resample::Bilinear { align_corners } => {
                let align = i32::from(align_corners);
                launch!(g, op, name, grid(work), [&o, &xp, &p, &h, &w, &oh, &ow, &align])?
            }
            // <name>_<T>(T* out, const T* in, i64 planes, i64 h, i64 w, i64 oh, i64 ow)
            _ => launch!(g, op, name, grid(work), [&o, &xp, &p, &h, &w, &oh, &ow])?,
        }
    }
    Ok(tensor(out, &shape))
}
