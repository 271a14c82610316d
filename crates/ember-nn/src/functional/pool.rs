//! Pooling (`max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`) as composites over the kernel
//! windows (see `window.rs`).

use super::conv::Pair;
use super::window::{pad2d, windows2d};
use ember_core::{Error, Result, Tensor};

/// Output size of a pooling window along one axis, with PyTorch's ceil-mode rule (the last
/// window must start inside the input or its left padding).
fn pool_out(len: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> Result<usize> {
    let eff = d * (k - 1) + 1;
    if len + 2 * p < eff {
        return Err(Error::Shape {
            op: "pool2d",
            msg: format!(
                "kernel {k} (dilation {d}) is larger than the padded input of size {}",
                len + 2 * p
            ),
        });
    }
    let num = len + 2 * p - eff;
    let mut out = if ceil { num.div_ceil(s) } else { num / s } + 1;
    if ceil && (out - 1) * s >= len + p {
        out -= 1;
    }
    Ok(out)
}

fn check_pool(op: &'static str, x: &Tensor, k: Pair, s: Pair, p: Pair) -> Result<()> {
    if x.ndim() != 4 && x.ndim() != 3 {
        return Err(Error::Shape {
            op,
            msg: format!("expected a 3-D or 4-D input, got shape {:?}", x.shape()),
        });
    }
    if k.0 == 0 || k.1 == 0 || s.0 == 0 || s.1 == 0 {
        return Err(Error::Arg {
            op,
            msg: "kernel size and stride must be positive".into(),
        });
    }
    if p.0 * 2 > k.0 || p.1 * 2 > k.1 {
        return Err(Error::Arg {
            op,
            msg: format!("pad should be at most half of effective kernel size, got padding {p:?} and kernel {k:?}"),
        });
    }
    Ok(())
}

/// Run `f` on a 4-D view of a 3-D (unbatched) or 4-D input.
fn batched(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if x.ndim() == 3 {
        f(&x.unsqueeze(0)?)?.squeeze(0)
    } else {
        f(x)
    }
}

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
    check_pool("max_pool2d", x, k, s, p)?;
    batched(x, |x| {
        let (h, w) = (x.shape()[2], x.shape()[3]);
        let oh = pool_out(h, k.0, s.0, p.0, d.0, ceil_mode)?;
        let ow = pool_out(w, k.1, s.1, p.1, d.1, ceil_mode)?;
        // pad enough on the bottom/right for ceil-mode windows that overhang
        let need_h = (oh - 1) * s.0 + d.0 * (k.0 - 1) + 1;
        let need_w = (ow - 1) * s.1 + d.1 * (k.1 - 1) + 1;
        let xp = pad2d(
            x,
            p.0,
            need_h.saturating_sub(h + p.0),
            p.1,
            need_w.saturating_sub(w + p.1),
            f64::NEG_INFINITY,
        )?;
        let (win, _, _) = windows2d(&xp, (k.0, k.1), (s.0, s.1), (d.0, d.1))?;
        win.amax(&[2], false)
    })
}

/// Mean over each kernel window (`torch.nn.functional.avg_pool2d`). With
/// `count_include_pad` the zero padding counts in the divisor (PyTorch's default), except past
/// the padded input in ceil mode; `divisor_override` replaces the divisor.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d(
    x: &Tensor,
    kernel: impl Into<Pair>,
    stride: Option<Pair>,
    padding: impl Into<Pair>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<usize>,
) -> Result<Tensor> {
    let (k, p) = (kernel.into(), padding.into());
    let s = stride.unwrap_or(k);
    check_pool("avg_pool2d", x, k, s, p)?;
    batched(x, |x| {
        let (h, w) = (x.shape()[2], x.shape()[3]);
        let oh = pool_out(h, k.0, s.0, p.0, 1, ceil_mode)?;
        let ow = pool_out(w, k.1, s.1, p.1, 1, ceil_mode)?;
        let extra_h = ((oh - 1) * s.0 + k.0).saturating_sub(h + 2 * p.0);
        let extra_w = ((ow - 1) * s.1 + k.1).saturating_sub(w + 2 * p.1);
        let xp = pad2d(x, p.0, p.0 + extra_h, p.1, p.1 + extra_w, 0.0)?;
        let (win, _, _) = windows2d(&xp, (k.0, k.1), (s.0, s.1), (1, 1))?;
        let sum = win.sum(2, false)?;
        if let Some(d) = divisor_override {
            return sum.div_scalar(d as f64);
        }
        // the divisor of each window: pool a map of the positions that count
        let ones = Tensor::ones_dtype(&[1, 1, h, w], x.dtype())?;
        let counted = if count_include_pad {
            pad2d(&pad2d(&ones, p.0, p.0, p.1, p.1, 1.0)?, 0, extra_h, 0, extra_w, 0.0)?
        } else {
            pad2d(&ones, p.0, p.0 + extra_h, p.1, p.1 + extra_w, 0.0)?
        };
        let (cw, _, _) = windows2d(&counted, (k.0, k.1), (s.0, s.1), (1, 1))?;
        sum.div(&cw.sum(2, false)?)
    })
}

/// Average pooling to a fixed output size: output cell `i` averages input rows
/// `floor(i H / oh) .. ceil((i + 1) H / oh)` (and likewise for columns).
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: impl Into<Pair>) -> Result<Tensor> {
    let o = output_size.into();
    if x.ndim() != 4 && x.ndim() != 3 {
        return Err(Error::Shape {
            op: "adaptive_avg_pool2d",
            msg: format!("expected a 3-D or 4-D input, got shape {:?}", x.shape()),
        });
    }
    if o.0 == 0 || o.1 == 0 {
        return Err(Error::Arg {
            op: "adaptive_avg_pool2d",
            msg: format!("output size must be positive, got {o:?}"),
        });
    }
    batched(x, |x| {
        let (n, c, h, w) = (x.shape()[0] as isize, x.shape()[1] as isize, x.shape()[2], x.shape()[3]);
        if h % o.0 == 0 && w % o.1 == 0 {
            return x
                .reshape(&[n, c, o.0 as isize, (h / o.0) as isize, o.1 as isize, (w / o.1) as isize])?
                .mean_dims(&[3, 5], false);
        }
        let range = |i: usize, len: usize, out: usize| (i * len / out, ((i + 1) * len).div_ceil(out));
        let mut rows = Vec::with_capacity(o.0);
        for i in 0..o.0 {
            let (h0, h1) = range(i, h, o.0);
            let band = x.narrow(2, h0, h1 - h0)?;
            let mut cells = Vec::with_capacity(o.1);
            for j in 0..o.1 {
                let (w0, w1) = range(j, w, o.1);
                cells.push(band.narrow(3, w0, w1 - w0)?.mean_dims(&[2, 3], false)?);
            }
            rows.push(Tensor::stack(&cells, -1)?);
        }
        Tensor::stack(&rows, 2)
    })
}
