//! Convolutions (`conv1d`, `conv2d`, `conv_transpose2d`) with PyTorch's argument order, on
//! core's conv primitives.

use ember_core::ops::conv::{Padding1d, Padding2d};
use ember_core::{Result, Tensor};

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
    let (s, p, d) = (stride.into(), padding.into(), dilation.into());
    x.conv2d(w, b, [s.0, s.1], Padding2d::Explicit([p.0, p.1]), [d.0, d.1], groups)
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
    x.conv1d(w, b, stride, Padding1d::Explicit(padding), dilation, groups)
}

/// Transposed 2-D convolution of `x` (`[N, C_in, H, W]`) with `w` (`[C_in, C_out / groups, kh,
/// kw]`), the gradient of `conv2d` with respect to its input, as
/// `torch.nn.functional.conv_transpose2d` (note PyTorch's argument order: groups before
/// dilation). The output has size
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
    let (s, p, op, d) = (stride.into(), padding.into(), output_padding.into(), dilation.into());
    x.conv_transpose2d(w, b, [s.0, s.1], [p.0, p.1], [op.0, op.1], [d.0, d.1], groups)
}
