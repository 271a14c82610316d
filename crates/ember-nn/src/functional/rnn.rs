//! The LSTM cell's pointwise part as one recorded op, and a whole layer direction as another.
//!
//! Both run on ember-core's fused kernels (`ember_core::ops::lstm`: one pass per step forward
//! and backward, preallocated `[T, B, ..]` buffers for a sequence) where they apply (CPU f32 and
//! f64). The composite written here with Tensor ops (`gates`, `cell_backward`) is the
//! reference those kernels are tested against, and the path for other dtypes and devices and
//! for a backward pass that is itself recorded (`create_graph`), so higher-order gradients stay
//! exact.

use ember_core::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use ember_core::ops::lstm::{
    check_sequence_shapes, lstm_cell_fused, lstm_cell_fused_backward, lstm_fused_supported, LstmCellValues,
    LstmSequence,
};
use ember_core::ops::packed_matmul::PackedMatrix;
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

/// The cell's backward step: from the gradients of `h` and `c` (`gh`, `gc`) to the gradient of
/// the pre-activation gates `[B, 4H]` and the total gradient reaching `c` (multiply by `f` for
/// the previous cell state). Written with Tensor ops, so it is recorded under `create_graph`.
fn cell_backward(gt: &Gates, c_prev: &Tensor, gh: &Tensor, gc: &Tensor) -> Result<(Tensor, Tensor)> {
    let tc = gt.c.tanh()?;
    let d_o = gh.mul(&tc)?;
    let dc = gc.add(&gh.mul(&gt.o)?.mul(&tc.square()?.rsub_scalar(1.0)?)?)?;
    let sig = |y: &Tensor, dy: &Tensor| dy.mul(&y.mul(&y.rsub_scalar(1.0)?)?);
    let di = sig(&gt.i, &dc.mul(&gt.g)?)?;
    let df = sig(&gt.f, &dc.mul(c_prev)?)?;
    let dg = dc.mul(&gt.i)?.mul(&gt.g.square()?.rsub_scalar(1.0)?)?;
    let d_o = sig(&gt.o, &d_o)?;
    Ok((Tensor::cat(&[di, df, dg, d_o], 1)?, dc))
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
    /// What the forward pass keeps for the gradient rule.
    enum Saved {
        Fused(LstmCellValues),
        Composite(Gates),
    }
    let (hc, saved) = {
        let _g = no_grad();
        if lstm_fused_supported(&[pre, c_prev]) {
            let v = lstm_cell_fused(pre, c_prev)?;
            (Tensor::cat(&[v.h.clone(), v.c.clone()], 1)?, Saved::Fused(v))
        } else {
            let gt = gates(pre, c_prev, hs)?;
            let h = gt.o.mul(&gt.c.tanh()?)?;
            (Tensor::cat(&[h, gt.c.clone()], 1)?, Saved::Composite(gt))
        }
    };
    let hc = if needs_grad(&[pre, c_prev]) {
        let (sp, sc) = (SavedTensor::new(pre), SavedTensor::new(c_prev));
        record("lstm_cell", hc, &[pre, c_prev], move |_| {
            Box::new(move |grad| {
                let (pre, c_prev) = (sp.get()?, sc.get()?);
                let gh = grad.narrow(1, 0, hs)?;
                let gc = grad.narrow(1, hs, hs)?;
                let recomputed;
                let gt = match &saved {
                    _ if is_grad_enabled() => {
                        recomputed = gates(pre, c_prev, hs)?;
                        &recomputed
                    }
                    Saved::Fused(v) => {
                        let (dpre, dc_prev) = lstm_cell_fused_backward(&v.gates, &v.tanh_c, c_prev, &gh, &gc)?;
                        return Ok(vec![Some(dpre), Some(dc_prev)]);
                    }
                    Saved::Composite(gt) => gt,
                };
                let (dpre, dc) = cell_backward(gt, c_prev, &gh, &gc)?;
                Ok(vec![Some(dpre), Some(dc.mul(&gt.f)?)])
            })
        })
    } else {
        hc
    };
    Ok((hc.narrow(1, 0, hs)?, hc.narrow(1, hs, hs)?))
}

/// The recurrence of a whole sequence: per step the gates and the hidden state after it.
struct Sequence {
    gates: Vec<Gates>,
    /// `h_0 .. h_T`
    hs: Vec<Tensor>,
}

/// Runs the recurrence; recorded or not depending on the grad mode of the caller.
fn run_sequence(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<Sequence> {
    let hsz = h0.shape()[1];
    // W_hh^T packed once for the kernel, so no step re-packs the weight (when this run is
    // recorded, for create_graph, `matmul_add` runs the ordinary recorded ops instead)
    let w_t = PackedMatrix::new(&w_hh.t())?;
    let t_len = gx.shape()[0];
    let mut seq = Sequence {
        gates: Vec::with_capacity(t_len),
        hs: Vec::with_capacity(t_len + 1),
    };
    seq.hs.push(h0.clone());
    let mut c = c0.clone();
    for t in 0..t_len {
        let pre = w_t.matmul_add(&seq.hs[t], Some(&gx.select(0, t as isize)?))?;
        let gt = gates(&pre, &c, hsz)?;
        seq.hs.push(gt.o.mul(&gt.c.tanh()?)?);
        c = gt.c.clone();
        seq.gates.push(gt);
    }
    Ok(seq)
}

/// A whole LSTM layer direction as one graph node: from the input projections
/// `gx = x W_ih^T + b` of every step (`[T, B, 4H]`), the initial states `h0`, `c0` (`[B, H]`) and
/// `W_hh` (`[4H, H]`), returns `(output [T, B, H], h_T, c_T)`.
///
/// Backpropagation through time runs as one loop in the gradient rule: the gates' gradients of
/// every step land in one `[T, B, 4H]` tensor, and `W_hh`'s gradient is a single matrix product
/// over all steps instead of `T` small ones summed. The composite of [`lstm_cell`] steps is the
/// reference it is tested against. Under `create_graph` the rule recomputes the recurrence with
/// recording on, so higher-order gradients stay exact.
pub fn lstm_sequence(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    check_sequence_shapes("lstm_sequence", gx, h0, c0, w_hh)?;
    let t_len = gx.shape()[0];
    if lstm_fused_supported(&[gx, h0, c0, w_hh]) {
        return fused_sequence(gx, h0, c0, w_hh);
    }
    let (seq, packed) = {
        let _g = no_grad();
        let seq = run_sequence(gx, h0, c0, w_hh)?;
        let c_last = seq.gates[t_len - 1].c.unsqueeze(0)?;
        let outs = Tensor::stack(&seq.hs[1..], 0)?;
        let packed = Tensor::cat(&[outs, c_last], 0)?; // [T + 1, B, H]: outputs, then c_T
        (seq, packed)
    };
    let packed = if needs_grad(&[gx, h0, c0, w_hh]) {
        let saved = [gx, h0, c0, w_hh].map(SavedTensor::new);
        record("lstm_sequence", packed, &[gx, h0, c0, w_hh], move |_| {
            Box::new(move |grad| {
                let (gx, h0, c0, w_hh) = (saved[0].get()?, saved[1].get()?, saved[2].get()?, saved[3].get()?);
                let recomputed;
                let seq = if is_grad_enabled() {
                    recomputed = run_sequence(gx, h0, c0, w_hh)?;
                    &recomputed
                } else {
                    &seq
                };
                composite_sequence_backward(seq, h0, c0, w_hh, grad)
            })
        })
    } else {
        packed
    };
    split_packed(&packed, t_len)
}

/// `(output [T, B, H], h_T, c_T)` from the node's `[T + 1, B, H]` result.
fn split_packed(packed: &Tensor, t_len: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let out = packed.narrow(0, 0, t_len)?;
    let h_last = packed.select(0, (t_len - 1) as isize)?;
    let c_last = packed.select(0, t_len as isize)?;
    Ok((out, h_last, c_last))
}

/// Backpropagation through time with Tensor ops (recorded under `create_graph`): the gradients
/// of `gx`, `h0`, `c0` and `W_hh` from the gradient of the `[T + 1, B, H]` result.
fn composite_sequence_backward(
    seq: &Sequence,
    h0: &Tensor,
    c0: &Tensor,
    w_hh: &Tensor,
    grad: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let t_len = seq.gates.len();
    let mut dh = grad.select(0, (t_len - 1) as isize)?;
    let mut dc = grad.select(0, t_len as isize)?;
    let mut dpres = vec![Tensor::zeros(&[0]); t_len];
    for t in (0..t_len).rev() {
        if t + 1 < t_len {
            dh = dh.add(&grad.select(0, t as isize)?)?;
        }
        let c_prev = if t == 0 { c0 } else { &seq.gates[t - 1].c };
        let (dpre, dc_total) = cell_backward(&seq.gates[t], c_prev, &dh, &dc)?;
        dh = dpre.matmul(w_hh)?;
        dc = dc_total.mul(&seq.gates[t].f)?;
        dpres[t] = dpre;
    }
    let dgx = Tensor::stack(&dpres, 0)?;
    let (b, hsz) = (h0.shape()[0], h0.shape()[1]);
    let h_prev = Tensor::stack(&seq.hs[..t_len], 0)?.reshape_to(&[t_len * b, hsz])?;
    let dw = dgx.reshape_to(&[t_len * b, 4 * hsz])?.t().matmul(&h_prev)?;
    Ok(vec![Some(dgx), Some(dh), Some(dc), Some(dw)])
}

/// [`lstm_sequence`] on ember-core's fused kernels (CPU f32/f64). Its gradient rule runs the
/// fused backward loop, or the composite (recomputing the forward with recording on) when the
/// backward pass is itself recorded.
fn fused_sequence(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let t_len = gx.shape()[0];
    let fused = {
        let _g = no_grad();
        LstmSequence::run(gx, h0, c0, w_hh)?
    };
    let packed = fused.outputs_and_last_cell(); // [T + 1, B, H]: outputs, then c_T
    let packed = if needs_grad(&[gx, h0, c0, w_hh]) {
        let saved = [gx, h0, c0, w_hh].map(SavedTensor::new);
        // the result views the buffers backward reads: an in-place change to it is an error
        let saved_out = SavedTensor::output(&packed);
        let want_dh0 = h0.requires_grad();
        record("lstm_sequence", packed, &[gx, h0, c0, w_hh], move |_| {
            Box::new(move |grad| {
                let (gx, h0, c0, w_hh) = (saved[0].get()?, saved[1].get()?, saved[2].get()?, saved[3].get()?);
                if is_grad_enabled() {
                    let seq = run_sequence(gx, h0, c0, w_hh)?;
                    return composite_sequence_backward(&seq, h0, c0, w_hh, grad);
                }
                saved_out.get()?;
                let g_out = grad.narrow(0, 0, t_len)?;
                let g_c = grad.select(0, t_len as isize)?;
                let (dgx, dh0, dc0) = fused.backward(w_hh, &g_out, &g_c, want_dh0)?;
                let (b, hsz) = (h0.shape()[0], h0.shape()[1]);
                // W_hh's gradient over all steps as one product: dgx^T [h_0 .. h_{T-1}]
                let h_prev = fused.hidden_inputs().reshape_to(&[t_len * b, hsz])?;
                let dw = dgx.reshape_to(&[t_len * b, 4 * hsz])?.t().matmul(&h_prev)?;
                Ok(vec![Some(dgx), dh0, Some(dc0), Some(dw)])
            })
        })
    } else {
        packed
    };
    split_packed(&packed, t_len)
}
