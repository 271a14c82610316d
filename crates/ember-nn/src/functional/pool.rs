//! Pooling (`max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`) with PyTorch's arguments, on
//! core's pooling primitives.

use super::conv::Pair;
use ember_core::{Result, Tensor};

/// Max over each kernel window (`torch.nn.functional.max_pool2d`); padding counts as -inf.
/// `stride` defaults to the kernel size when `None`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::max_pool2d;
/// let x = Tensor::arange(0.0, 16.0, 1.0).unwrap().to_float().unwrap().reshape(&[1, 1, 4, 4]).unwrap();
/// let y = max_pool2d(&x, 2, None, 0, 1, false).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
/// ```
pub fn max_pool2d(
    x: &Tensor,
    kernel: impl Into<Pair>,
    stride: Option<Pair>,
    padding: impl Into<Pair>,
    dilation: impl Into<Pair>,
    ceil_mode: bool,
) -> Result<Tensor> {
    let (k, p, d) = (kernel.into(), padding.into(), dilation.into());
    let s = stride.unwrap_or(k);
    if p == Pair(0, 0) && d == Pair(1, 1) && !ceil_mode {
        // no indices are returned, so the common 2x2 layer can keep one byte per output for
        // its gradient instead of an i64 index that the backward pass has to decode
        return x.max_pool2d_simple([k.0, k.1], [s.0, s.1]);
    }
    Ok(x.max_pool2d([k.0, k.1], [s.0, s.1], [p.0, p.1], [d.0, d.1], ceil_mode)?
        .0)
}

/// Mean over each kernel window (`torch.nn.functional.avg_pool2d`). With
/// `count_include_pad` the zero padding counts in the divisor (PyTorch's default), except past
/// the padded input in ceil mode.
pub fn avg_pool2d(
    x: &Tensor,
    kernel: impl Into<Pair>,
    stride: Option<Pair>,
    padding: impl Into<Pair>,
    ceil_mode: bool,
    count_include_pad: bool,
) -> Result<Tensor> {
    let (k, p) = (kernel.into(), padding.into());
    let s = stride.unwrap_or(k);
    x.avg_pool2d([k.0, k.1], [s.0, s.1], [p.0, p.1], ceil_mode, count_include_pad)
}

/// Average pooling to a fixed output size: output cell `i` averages input rows
/// `floor(i H / oh) .. ceil((i + 1) H / oh)` (and likewise for columns).
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: impl Into<Pair>) -> Result<Tensor> {
    let o = output_size.into();
    x.adaptive_avg_pool2d([o.0, o.1])
}
