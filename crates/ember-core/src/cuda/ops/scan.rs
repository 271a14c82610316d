//! Launchers for scan.cu: cumulative sum / product along one dim. Integer and bool inputs are
//! widened to i64 by the op (as on the CPU); f16/bf16 scan in f32 here and round back.

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, rows_grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// The running sum (`prod` false) or product of `x` along `dim`.
pub(crate) fn scan(x: &Tensor, dim: usize, prod: bool) -> Result<Tensor> {
    let op = if prod { "cumprod" } else { "cumsum" };
    match x.dtype() {
        DType::F32 | DType::F64 | DType::I64 => {}
        DType::F16 | DType::BF16 => return super::cast(&scan(&super::cast(x, DType::F32)?, dim, prod)?, x.dtype()),
        d => return Err(not_on_cuda(op, format!("dtype {d} (the op widens it to i64 first)"))),
    }
    let xc = contiguous(x)?;
    let g = gpu_of(&xc)?;
    let shape = x.shape();
    let (outer, n, inner): (usize, usize, usize) = if shape.is_empty() {
        (1, 1, 1)
    } else {
        (
            shape[..dim].iter().product(),
            shape[dim],
            shape[dim + 1..].iter().product(),
        )
    };
    let out = DeviceBuffer::alloc(g, x.dtype(), x.numel())?;
    if x.numel() > 0 {
        let (o, xp) = (out.ptr(), ptr(&xc)? + (xc.offset() * xc.dtype().size_in_bytes()) as u64);
        let (outer64, n64, inner64, p) = (outer as i64, n as i64, inner as i64, i32::from(prod));
        let s = suffix(x.dtype());
        if inner == 1 {
            // scan_rows_<T>(T* out, const T* x, i64 rows, i64 n, int prod)
            launch!(
                g,
                op,
                format!("scan_rows_{s}"),
                rows_grid(outer),
                [&o, &xp, &outer64, &n64, &p]
            )?;
        } else {
            // scan_lanes_<T>(T* out, const T* x, i64 outer, i64 n, i64 inner, int prod)
            launch!(
                g,
                op,
                format!("scan_lanes_{s}"),
                grid(outer * inner),
                [&o, &xp, &outer64, &n64, &inner64, &p]
            )?;
        }
    }
    Ok(tensor(out, shape))
}
