//! Launchers for reduce.cu: sum/prod/max/min over the middle axis of a contiguous
//! (outer, red, inner) tensor, and argmax/argmin.

use super::{gpu_of, ptr, tensor};
use crate::cuda::api::not_on_cuda;
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, rows_grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::reduce::Reduce;
use crate::tensor::Tensor;

/// Reduce `c` (contiguous from its offset, viewed as (outer, red, inner)) to `out_shape`.
pub(crate) fn reduce(
    c: &Tensor,
    op: Reduce,
    outer: usize,
    red: usize,
    inner: usize,
    out_shape: &[usize],
) -> Result<Tensor> {
    let d = c.dtype();
    let code: i32 = match op {
        Reduce::Sum => 0,
        Reduce::Prod => 1,
        Reduce::Max => 2,
        Reduce::Min => 3,
    };
    let g = gpu_of(c)?;
    let out = DeviceBuffer::alloc(g, d, outer * inner)?;
    if outer * inner == 0 {
        return Ok(tensor(out, out_shape));
    }
    let (o, x) = (out.ptr(), ptr(c)? + (c.offset() * d.size_in_bytes()) as u64);
    let (outer64, red64, inner64) = (outer as i64, red as i64, inner as i64);
    macro_rules! run {
        ($init:expr) => {{
            let init = $init;
            if inner == 1 {
                // reduce_rows_<T>(T* out, const T* x, i64 outer, i64 red, int op, T init)
                launch!(
                    g,
                    "reduce",
                    format!("reduce_rows_{}", suffix(d)),
                    rows_grid(outer),
                    [&o, &x, &outer64, &red64, &code, &init]
                )
            } else {
                // reduce_cols_<T>(T* out, const T* x, i64 outer, i64 red, i64 inner, int op, T init)
                launch!(
                    g,
                    "reduce",
                    format!("reduce_cols_{}", suffix(d)),
                    grid(outer * inner),
                    [&o, &x, &outer64, &red64, &inner64, &code, &init]
                )
            }
        }};
    }
    match d {
        DType::F32 => run!(match op {
            Reduce::Sum => 0f32,
            Reduce::Prod => 1.0,
            Reduce::Max => f32::NEG_INFINITY,
            Reduce::Min => f32::INFINITY,
        })?,
        DType::F64 => run!(match op {
            Reduce::Sum => 0f64,
            Reduce::Prod => 1.0,
            Reduce::Max => f64::NEG_INFINITY,
            Reduce::Min => f64::INFINITY,
        })?,
        DType::I64 => run!(match op {
            Reduce::Sum => 0i64,
            Reduce::Prod => 1,
            Reduce::Max => i64::MIN,
            Reduce::Min => i64::MAX,
        })?,
        DType::I32 => run!(match op {
            Reduce::Sum => 0i32,
            Reduce::Prod => 1,
            Reduce::Max => i32::MIN,
            Reduce::Min => i32::MAX,
        })?,
        // bool max/min are any/all: 0/1 bytes compare like u8
        DType::U8 | DType::Bool => run!(match op {
            Reduce::Sum => 0u8,
            Reduce::Prod => 1,
            Reduce::Max => u8::MIN,
            Reduce::Min => u8::MAX,
        })?,
        d => return Err(not_on_cuda("reduce", format!("dtype {d}"))),
    }
    Ok(tensor(out, out_shape))
}

/// argmax (`want_max`) / argmin along the middle axis of `c` (contiguous from its offset,
/// viewed as (outer, red, inner)): the first index of the extreme, NaN counting as the extreme;
/// i64 of shape [outer * inner]. f16/bf16 compare in f32 (exact), bool as u8.
pub(crate) fn arg_reduce(c: &Tensor, outer: usize, red: usize, inner: usize, want_max: bool) -> Result<Tensor> {
    if matches!(c.dtype(), DType::F16 | DType::BF16) {
        let wide = super::cast(c, DType::F32)?;
        return arg_reduce(&wide, outer, red, inner, want_max);
    }
    let d = c.dtype();
    let g = gpu_of(c)?;
    let out = DeviceBuffer::alloc(g, DType::I64, outer * inner)?;
    if outer * inner > 0 && red > 0 {
        let (o, x) = (out.ptr(), ptr(c)? + (c.offset() * d.size_in_bytes()) as u64);
        let (outer64, red64, inner64, want) = (outer as i64, red as i64, inner as i64, i32::from(want_max));
        // arg_reduce_<T>(i64* out, const T* x, i64 outer, i64 red, i64 inner, int want_max)
        launch!(
            g,
            "argmax",
            format!("arg_reduce_{}", suffix(d)),
            grid(outer * inner),
            [&o, &x, &outer64, &red64, &inner64, &want]
        )?;
    }
    Ok(tensor(out, &[outer * inner]))
}
