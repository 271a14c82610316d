//! Shared helpers of the conv and pool composites: constant padding of the last two dims and
//! unfolding kernel windows into a new dim with strided views.

use ember_core::{s, Error, Result, Tensor};

/// Pad the last two dims of a 4-D tensor with `value` (top, bottom, left, right).
pub(crate) fn pad2d(x: &Tensor, top: usize, bottom: usize, left: usize, right: usize, value: f64) -> Result<Tensor> {
    let mut y = x.clone();
    for (dim, a, b) in [(2usize, top, bottom), (3, left, right)] {
        if a == 0 && b == 0 {
            continue;
        }
        let mut parts = Vec::with_capacity(3);
        let mut shape = y.shape().to_vec();
        if a > 0 {
            shape[dim] = a;
            parts.push(Tensor::full_dtype(&shape, value, y.dtype())?);
        }
        parts.push(y.clone());
        if b > 0 {
            shape[dim] = b;
            parts.push(Tensor::full_dtype(&shape, value, y.dtype())?);
        }
        y = Tensor::cat(&parts, dim as isize)?;
    }
    Ok(y)
}

/// The kernel windows of a (padded) `[N, C, H, W]` input stacked as `[N, C, kh * kw, OH, OW]`,
/// with the output size.
pub(crate) fn windows2d(
    x: &Tensor,
    k: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
) -> Result<(Tensor, usize, usize)> {
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let span = |k: usize, d: usize| d * (k - 1) + 1;
    if k.0 == 0 || k.1 == 0 || h < span(k.0, dilation.0) || w < span(k.1, dilation.1) {
        return Err(Error::Shape {
            op: "conv2d",
            msg: format!(
                "kernel size {k:?} with dilation {dilation:?} is larger than the (padded) input of shape {:?}",
                x.shape()
            ),
        });
    }
    let oh = (h - span(k.0, dilation.0)) / stride.0 + 1;
    let ow = (w - span(k.1, dilation.1)) / stride.1 + 1;
    let mut cols = Vec::with_capacity(k.0 * k.1);
    for i in 0..k.0 {
        let r0 = (i * dilation.0) as isize;
        let rows = x.slice(2, s(r0, Some(r0 + ((oh - 1) * stride.0 + 1) as isize), stride.0))?;
        for j in 0..k.1 {
            let c0 = (j * dilation.1) as isize;
            cols.push(rows.slice(3, s(c0, Some(c0 + ((ow - 1) * stride.1 + 1) as isize), stride.1))?);
        }
    }
    Ok((Tensor::stack(&cols, 2)?, oh, ow))
}
