//! Convolutions (`conv1d`, `conv2d`, `conv_transpose2d`) as composites: the input is unfolded
//! into its kernel windows with strided views and multiplied with the weight in one batched
//! matmul, so autograd and every dtype come for free. A conv primitive in core can replace the
//! body of `conv2d` without changing any caller.

use super::window::{pad2d, windows2d};
use ember_core::{Error, Result, Tensor};

/// A pair of per-axis values (height, width), built from one value or a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair(pub usize, pub usize);

impl From<usize> for Pair {
    fn from(v: usize) -> Pair {
        Pair(v, v)
    }
}

impl From<(usize, usize)> for Pair {
    fn from((a, b): (usize, usize)) -> Pair {
        Pair(a, b)
    }
}

fn conv_err(msg: String) -> Error {
    Error::Shape { op: "conv2d", msg }
}

/// 2-D convolution of `x` (`[N, C, H, W]`) with `w` (`[O, C / groups, kh, kw]`), as
/// `torch.nn.functional.conv2d` (cross-correlation, zero padding).
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::conv2d;
/// let x = Tensor::ones(&[1, 1, 4, 4]);
/// let w = Tensor::ones(&[2, 1, 3, 3]);
/// let y = conv2d(&x, &w, None, 1, 1, 1, 1).unwrap();
/// assert_eq!(y.shape(), &[1, 2, 4, 4]);
/// assert_eq!(y.to_vec::<f32>().unwrap()[..4], [4.0, 6.0, 6.0, 4.0]);
/// ```
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: impl Into<Pair>,
    padding: impl Into<Pair>,
    dilation: impl Into<Pair>,
    groups: usize,
) -> Result<Tensor> {
    let (stride, padding, dilation) = (stride.into(), padding.into(), dilation.into());
    if x.ndim() != 4 || w.ndim() != 4 {
        return Err(conv_err(format!(
            "expected a 4-D input and weight, got shapes {:?} and {:?}",
            x.shape(),
            w.shape()
        )));
    }
    let (n, c, _, _) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    if groups == 0 || !c.is_multiple_of(groups) || !o.is_multiple_of(groups) || cg * groups != c {
        return Err(conv_err(format!(
            "weight of shape {:?} with groups={groups} expects {} input channels, but the input of shape {:?} has {c}",
            w.shape(),
            cg * groups,
            x.shape()
        )));
    }
    if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
        return Err(Error::Arg {
            op: "conv2d",
            msg: "stride and dilation must be positive".into(),
        });
    }
    let xp = pad2d(x, padding.0, padding.0, padding.1, padding.1, 0.0)?;
    let (cols, oh, ow) = windows2d(&xp, (kh, kw), (stride.0, stride.1), (dilation.0, dilation.1))?; // [N, C, kh*kw, OH, OW]
    let k = cg * kh * kw;
    let l = oh * ow;
    let cols = cols.reshape(&[n as isize, groups as isize, k as isize, l as isize])?;
    let wm = w.reshape(&[groups as isize, (o / groups) as isize, k as isize])?;
    let y = wm
        .matmul(&cols)?
        .reshape(&[n as isize, o as isize, oh as isize, ow as isize])?;
    match b {
        Some(b) => y.add(&b.reshape(&[1, o as isize, 1, 1])?),
        None => Ok(y),
    }
}

/// 1-D convolution of `x` (`[N, C, L]`) with `w` (`[O, C / groups, k]`).
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
) -> Result<Tensor> {
    if x.ndim() != 3 || w.ndim() != 3 {
        return Err(Error::Shape {
            op: "conv1d",
            msg: format!(
                "expected a 3-D input and weight, got shapes {:?} and {:?}",
                x.shape(),
                w.shape()
            ),
        });
    }
    let y = conv2d(
        &x.unsqueeze(2)?,
        &w.unsqueeze(2)?,
        b,
        (1, stride),
        (0, padding),
        (1, dilation),
        groups,
    )?;
    y.squeeze(2)
}

/// Reverse a tensor along `dim` (a composite of narrow + cat; kernels are small).
fn flip_dim(t: &Tensor, dim: isize) -> Result<Tensor> {
    let n = t.size(dim)?;
    if n <= 1 {
        return Ok(t.clone());
    }
    let parts: Result<Vec<Tensor>> = (0..n).rev().map(|i| t.narrow(dim, i, 1)).collect();
    Tensor::cat(&parts?, dim)
}

/// Insert `s - 1` zeros between neighbours along `dim` (the input dilation of a transposed conv).
fn dilate_dim(t: &Tensor, dim: usize, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(t.clone());
    }
    let n = t.shape()[dim];
    let mut zshape = t.shape().to_vec();
    zshape.insert(dim + 1, s - 1);
    let z = Tensor::zeros_dtype(&zshape, t.dtype())?;
    let y = Tensor::cat(&[t.unsqueeze(dim as isize + 1)?, z], dim as isize + 1)?;
    let mut shape: Vec<isize> = t.shape().iter().map(|&d| d as isize).collect();
    shape[dim] = (n * s) as isize;
    y.reshape(&shape)?.narrow(dim as isize, 0, (n - 1) * s + 1)
}

/// Transposed 2-D convolution of `x` (`[N, C_in, H, W]`) with `w` (`[C_in, C_out / groups, kh,
/// kw]`), the gradient of `conv2d` with respect to its input, as
/// `torch.nn.functional.conv_transpose2d`. The output has size
/// `(H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: impl Into<Pair>,
    padding: impl Into<Pair>,
    output_padding: impl Into<Pair>,
    groups: usize,
    dilation: impl Into<Pair>,
) -> Result<Tensor> {
    let (stride, padding, out_pad, dilation) = (stride.into(), padding.into(), output_padding.into(), dilation.into());
    if x.ndim() != 4
        || w.ndim() != 4
        || groups == 0
        || w.shape()[0] != x.shape()[1]
        || !x.shape()[1].is_multiple_of(groups)
    {
        return Err(Error::Shape {
            op: "conv_transpose2d",
            msg: format!(
                "input of shape {:?} does not fit a weight of shape {:?} with groups={groups}",
                x.shape(),
                w.shape()
            ),
        });
    }
    if out_pad.0 >= stride.0.max(dilation.0) || out_pad.1 >= stride.1.max(dilation.1) {
        return Err(Error::Arg {
            op: "conv_transpose2d",
            msg: "output padding must be smaller than either stride or dilation".into(),
        });
    }
    let (cin, cog, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let g = groups as isize;
    // [C_in, C_out/g, kh, kw] -> [C_out, C_in/g, kh, kw], flipped spatially
    let wt = w
        .reshape(&[g, (cin / groups) as isize, cog as isize, kh as isize, kw as isize])?
        .transpose(1, 2)?
        .reshape(&[
            (cog * groups) as isize,
            (cin / groups) as isize,
            kh as isize,
            kw as isize,
        ])?;
    let wt = flip_dim(&flip_dim(&wt, 2)?, 3)?;
    let xd = dilate_dim(&dilate_dim(x, 2, stride.0)?, 3, stride.1)?;
    // pad by dilation * (k - 1) - padding on each side (+ output_padding after); crop if negative
    let side = |k: usize, d: usize, p: usize| d as isize * (k as isize - 1) - p as isize;
    let (ph, pw) = (side(kh, dilation.0, padding.0), side(kw, dilation.1, padding.1));
    let xd = crop_or_pad(&xd, 2, ph, ph + out_pad.0 as isize)?;
    let xd = crop_or_pad(&xd, 3, pw, pw + out_pad.1 as isize)?;
    conv2d(&xd, &wt, b, 1, 0, dilation, groups)
}

/// Pad `dim` with `before`/`after` zeros, or crop where they are negative.
fn crop_or_pad(t: &Tensor, dim: usize, before: isize, after: isize) -> Result<Tensor> {
    let mut t = t.clone();
    if before < 0 {
        let n = t.shape()[dim];
        t = t.narrow(dim as isize, (-before) as usize, n - (-before) as usize)?;
    }
    if after < 0 {
        let n = t.shape()[dim];
        t = t.narrow(dim as isize, 0, n - (-after) as usize)?;
    }
    let (b, a) = (before.max(0) as usize, after.max(0) as usize);
    if dim == 2 {
        pad2d(&t, b, a, 0, 0, 0.0)
    } else {
        pad2d(&t, 0, 0, b, a, 0.0)
    }
}
