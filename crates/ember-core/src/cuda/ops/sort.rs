//! Launcher for sort.cu: a stable sort of every row of a contiguous [rows, n] tensor, keeping
//! the first `take` of each row (sort: `take = n`; topk: `take = k`).

use super::{contiguous, gpu_of, ptr, tensor};
use crate::cuda::buffer::DeviceBuffer;
use crate::cuda::launch::{grid, suffix};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// Values [rows, take] and i64 indices of each row of `x` ([.., n], rows = the leading dims),
/// sorted ascending or `descending`. f16/bf16 sort in f32 (exact) and are rounded back.
pub(crate) fn sort_rows(x: &Tensor, n: usize, take: usize, descending: bool) -> Result<(Tensor, Tensor)> {
    if matches!(x.dtype(), DType::F16 | DType::BF16) {
        let (v, i) = sort_rows(&super::cast(x, DType::F32)?, n, take, descending)?;
        return Ok((super::cast(&v, x.dtype())?, i));
    }
    let op = "sort";
    let xc = contiguous(x)?;
    let g = gpu_of(&xc)?;
    let rows = xc.numel().checked_div(n).unwrap_or(0);
    let m = n.next_power_of_two();
    let vals = DeviceBuffer::alloc(g, x.dtype(), rows * take)?;
    let idxs = DeviceBuffer::alloc(g, DType::I64, rows * take)?;
    if rows * take > 0 {
        let s = suffix(x.dtype());
        let keys = DeviceBuffer::alloc(g, x.dtype(), rows * m)?;
        let order = DeviceBuffer::alloc(g, DType::I64, rows * m)?;
        let (kp, ip, xp) = (
            keys.ptr(),
            order.ptr(),
            ptr(&xc)? + (xc.offset() * xc.dtype().size_in_bytes()) as u64,
        );
        let (r64, n64, m64, desc) = (rows as i64, n as i64, m as i64, i32::from(descending));
        // sort_init_<T>(T* keys, i64* idx, const T* x, i64 rows, i64 n, i64 m)
        launch!(
            g,
            op,
            format!("sort_init_{s}"),
            grid(rows * m),
            [&kp, &ip, &xp, &r64, &n64, &m64]
        )?;
        let mut k = 2i64;
        while k <= m64 {
            let mut j = k / 2;
            while j > 0 {
                // sort_step_<T>(T* keys, i64* idx, i64 rows, i64 n, i64 m, i64 k, i64 j, int desc)
                launch!(
                    g,
                    op,
                    format!("sort_step_{s}"),
                    grid(rows * m),
                    [&kp, &ip, &r64, &n64, &m64, &k, &j, &desc]
                )?;
                j /= 2;
            }
            k *= 2;
        }
        let (vp, op_, t64) = (vals.ptr(), idxs.ptr(), take as i64);
        // sort_take_<T>(T* vals, i64* out_idx, const T* keys, const i64* idx, i64 rows, i64 m, i64 take)
        launch!(
            g,
            op,
            format!("sort_take_{s}"),
            grid(rows * take),
            [&vp, &op_, &kp, &ip, &r64, &m64, &t64]
        )?;
    }
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = take;
    }
    Ok((tensor(vals, &shape), tensor(idxs, &shape)))
}
