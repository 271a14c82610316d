//! The LSTM cell's pointwise part as one recorded op.

use ember_core::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use ember_core::{no_grad, Error, Result, Tensor};

/// The gate activations and the new cell state, computed with ordinary (recordable) ops.
struct Gates {
    i: Tensor,
    f: Tensor,
    g: Tensor,
    o: Tensor,
    c: Tensor,
}

fn gates(pre: &Tensor, c_prev: &Tensor, hs: usize) -> Result<Gates> {
    let i = pre.narrow(1, 0, hs)?.sigmoid()?;
    let f = pre.narrow(1, hs, hs)?.sigmoid()?;
    let g = pre.narrow(1, 2 * hs, hs)?.tanh()?;
    let o = pre.narrow(1, 3 * hs, hs)?.sigmoid()?;
    let c = f.mul(c_prev)?.add(&i.mul(&g)?)?;
    Ok(Gates { i, f, g, o, c })
}

/// One LSTM step from the pre-activation gates `[B, 4H]` (PyTorch's order i, f, g, o) and
/// the previous cell state `[B, H]`: returns `(h, c)` with `c = f c_prev + i g` and
/// `h = o tanh(c)`.
///
/// The pointwise math is one graph node whose gradient rule produces the gates' gradient as
/// one contiguous `[B, 4H]` tensor (instead of four scattered slices), which is what makes
/// backpropagation through time cheap. When the backward pass is itself recorded
/// (`create_graph`), the rule recomputes the gates from its inputs so higher-order gradients
/// stay correct.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::lstm_cell;
/// let (h, c) = lstm_cell(&Tensor::zeros(&[1, 8]), &Tensor::ones(&[1, 2])).unwrap();
/// // all gates 0.5 (g = 0): c = 0.5, h = 0.5 tanh(0.5)
/// assert!((c.to_vec::<f32>().unwrap()[0] - 0.5).abs() < 1e-6);
/// assert!((h.to_vec::<f32>().unwrap()[0] - 0.5 * 0.5f32.tanh()).abs() < 1e-6);
/// ```
pub fn lstm_cell(pre: &Tensor, c_prev: &Tensor) -> Result<(Tensor, Tensor)> {
    if pre.ndim() != 2
        || c_prev.ndim() != 2
        || pre.shape()[1] != 4 * c_prev.shape()[1]
        || pre.shape()[0] != c_prev.shape()[0]
    {
        return Err(Error::Shape {
            op: "lstm_cell",
            msg: format!(
                "gates of shape {:?} do not fit a cell state of shape {:?}",
                pre.shape(),
                c_prev.shape()
            ),
        });
    }
    let hs = c_prev.shape()[1];
    let (hc, saved) = {
        let _g = no_grad();
        let gt = gates(pre, c_prev, hs)?;
        let h = gt.o.mul(&gt.c.tanh()?)?;
        (Tensor::cat(&[h, gt.c.clone()], 1)?, gt)
    };
    let hc = if needs_grad(&[pre, c_prev]) {
        let (sp, sc) = (SavedTensor::new(pre), SavedTensor::new(c_prev));
        record("lstm_cell", hc, &[pre, c_prev], move |_| {
            Box::new(move |grad| {
                let (pre, c_prev) = (sp.get()?, sc.get()?);
                let recomputed;
                let gt = if is_grad_enabled() {
                    recomputed = gates(pre, c_prev, hs)?;
                    &recomputed
                } else {
                    &saved
                };
                let gh = grad.narrow(1, 0, hs)?;
                let gc = grad.narrow(1, hs, hs)?;
                let tc = gt.c.tanh()?;
                let d_o = gh.mul(&tc)?;
                let dc = gc.add(&gh.mul(&gt.o)?.mul(&tc.square()?.rsub_scalar(1.0)?)?)?;
                let sig = |y: &Tensor, dy: &Tensor| dy.mul(&y.mul(&y.rsub_scalar(1.0)?)?);
                let di = sig(&gt.i, &dc.mul(&gt.g)?)?;
                let df = sig(&gt.f, &dc.mul(c_prev)?)?;
                let dg = dc.mul(&gt.i)?.mul(&gt.g.square()?.rsub_scalar(1.0)?)?;
                let d_o = sig(&gt.o, &d_o)?;
                let dpre = Tensor::cat(&[di, df, dg, d_o], 1)?;
                Ok(vec![Some(dpre), Some(dc.mul(&gt.f)?)])
            })
        })
    } else {
        hc
    };
    Ok((hc.narrow(1, 0, hs)?, hc.narrow(1, hs, hs)?))
}
