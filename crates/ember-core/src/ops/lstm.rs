//! The LSTM's pointwise work as fused CPU kernels (W7: the composite's ~10 elementwise ops per
//! step forward and ~15 backward, each a pass over memory and a fresh allocation, cost as much
//! as the step's matrix products).
//!
//! Two levels, both values-only (never recorded: the caller, `ember_nn::functional::lstm_cell`
//! / `lstm_sequence`, records one graph node and calls these from its gradient rule):
//!
//! * [`lstm_cell_fused`] / [`lstm_cell_fused_backward`]: one step. Forward reads the
//!   pre-activation gates `[B, 4H]` (PyTorch's order i, f, g, o) and `c_prev`, and in one pass
//!   writes `h`, `c`, the activated gates and `tanh(c)` (what backward needs); backward reads
//!   those with the gradients of `h` and `c` and writes `dpre [B, 4H]` and `dc_prev` in one pass:
//!
//!   ```text
//!   dc    = gc + gh o (1 - tanh(c)^2)          dc_prev = dc f
//!   di    = dc g i (1 - i)    df = dc c_prev f (1 - f)
//!   dg    = dc i (1 - g^2)    do = gh tanh(c) o (1 - o)
//!   ```
//!
//! * [`LstmSequence`]: a whole layer direction, `T` steps, run in one loop over preallocated
//!   `[T, B, ..]` buffers: each step's product `h_{t-1} W_hh^T` lands in that step's gates row
//!   (f32: `W_hh^T` packed once for ember's GEMM; f64: the `gemm` crate), the cell kernel turns
//!   it into the activated gates in place, and `h_t` is written straight into the output
//!   buffer, so there is no per-step allocation and no final `stack`. Backward walks the steps
//!   in reverse into one `[T, B, 4H]` gradient of the gates, `dh_{t-1} = g_{t-1} + dpre_t W_hh`
//!   accumulated in place.
//!
//! CPU f32 and f64 only ([`lstm_fused_supported`]); other dtypes and devices, and a backward
//! that must itself be recorded (double backward), take the composite in `ember-nn`, which is
//! also the reference these kernels are tested against (the arithmetic follows it op for op).

use crate::autograd::needs_grad;
use crate::cpu::gemm::{gemm_packed, Kernel, MatRef, PackedB};
use crate::cpu::lstm_kernels::{cell_backward, cell_forward};
use crate::cpu::math::Float;
use crate::dtype::DType;
use crate::error::{shape_err, Error, Result};
use crate::storage::StorageElem;
use crate::tensor::Tensor;

/// True when the fused kernels apply: every tensor a CPU tensor of one dtype, f32 or f64.
pub fn lstm_fused_supported(tensors: &[&Tensor]) -> bool {
    let dt = tensors.first().map(|t| t.dtype());
    matches!(dt, Some(DType::F32 | DType::F64)) && tensors.iter().all(|t| t.device().is_cpu() && Some(t.dtype()) == dt)
}

fn check_supported(op: &'static str, tensors: &[&Tensor]) -> Result<()> {
    if !lstm_fused_supported(tensors) {
        let what: Vec<String> = tensors
            .iter()
            .map(|t| format!("{} on {}", t.dtype(), t.device()))
            .collect();
        return Err(Error::DType {
            op,
            msg: format!(
                "the fused kernel takes CPU f32 or f64 tensors of one dtype, got [{}]",
                what.join(", ")
            ),
        });
    }
    if needs_grad(tensors) {
        return Err(Error::Autograd(format!(
            "{op} computes values only and is not recorded; call it under no_grad (an input requires grad)"
        )));
    }
    Ok(())
}

/// The values of each tensor as contiguous slices (copying strided views), for `f`.
fn with_slices<T: StorageElem, R>(ts: &[&Tensor], f: impl FnOnce(&[&[T]]) -> R) -> R {
    let owned: Vec<Tensor> = ts.iter().map(|t| t.contiguous_data()).collect();
    let guards: Vec<_> = owned.iter().map(|t| t.read()).collect();
    let slices: Vec<&[T]> = owned
        .iter()
        .zip(&guards)
        .map(|(t, g)| &T::slice(g).expect("dtype checked by the caller")[t.offset()..t.offset() + t.numel()])
        .collect();
    f(&slices)
}

/// Runs `$body` with `$t` bound to the element type of the tensor `$x` (f32 or f64).
macro_rules! by_dtype {
    ($x:expr, $t:ident => $body:expr) => {
        if $x.dtype() == DType::F32 {
            type $t = f32;
            $body
        } else {
            type $t = f64;
            $body
        }
    };
}

/// A weight prepared for the repeated products of a recurrence: `c (+)= a @ B` with `a`
/// row-major `m x k`.
trait Recurrent: Float + StorageElem {
    type Prepared: Sync;
    /// `B` (`k x n`) read from `w` at element `(i, j)` = `w[i * rs + j * cs]`.
    fn prepare(w: &[Self], k: usize, n: usize, rs: usize, cs: usize) -> Self::Prepared;
    /// `threads`: 1 inside a part of a split recurrence, else [`threads_for`].
    fn product(p: &Self::Prepared, m: usize, a: &[Self], c: &mut [Self], accumulate: bool, threads: usize);
}

/// Threads for one product: the fork costs more than it saves below ~1M multiply-adds.
fn threads_for(m: usize, k: usize, n: usize) -> usize {
    if m * k * n >= 1 << 20 {
        rayon::current_num_threads()
    } else {
        1
    }
}

impl Recurrent for f32 {
    type Prepared = PackedB;
    fn prepare(w: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> PackedB {
        let view = MatRef {
            data: w,
            off: 0,
            rs,
            cs,
        };
        PackedB::new(Kernel::detect(), &view, k, n)
    }
    fn product(p: &PackedB, m: usize, a: &[f32], c: &mut [f32], accumulate: bool, threads: usize) {
        let (k, n) = (p.k(), p.n());
        assert!(
            a.len() == m * k && c.len() == m * n,
            "lstm: product operands do not fit"
        );
        let a = MatRef {
            data: a,
            off: 0,
            rs: k,
            cs: 1,
        };
        gemm_packed(m, &a, p, c, n, accumulate, threads);
    }
}

/// An f64 weight as the `gemm` crate reads it (no packing ahead of time).
struct StridedF64 {
    w: Vec<f64>,
    k: usize,
    n: usize,
    rs: usize,
    cs: usize,
}

impl Recurrent for f64 {
    type Prepared = StridedF64;
    fn prepare(w: &[f64], k: usize, n: usize, rs: usize, cs: usize) -> StridedF64 {
        assert!(k > 0 && n > 0 && (k - 1) * rs + (n - 1) * cs < w.len());
        StridedF64 {
            w: w.to_vec(),
            k,
            n,
            rs,
            cs,
        }
    }
    fn product(p: &StridedF64, m: usize, a: &[f64], c: &mut [f64], accumulate: bool, threads: usize) {
        let (k, n) = (p.k, p.n);
        assert!(
            a.len() == m * k && c.len() == m * n,
            "lstm: product operands do not fit"
        );
        let par = match threads {
            1 => gemm::Parallelism::None,
            t => gemm::Parallelism::Rayon(t),
        };
        // SAFETY: `a` is m x k row-major and `c` m x n row-major (lengths checked above); B's
        // largest index (k - 1) * rs + (n - 1) * cs lies inside `w` (checked in `prepare`).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.as_ptr(),
                1,
                k as isize,
                p.w.as_ptr(),
                p.cs as isize,
                p.rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}

// ------------------------------------------------------------------------------ one cell

/// What [`lstm_cell_fused`] computes: the new states and what its backward needs.
#[derive(Clone)]
pub struct LstmCellValues {
    /// `h = o tanh(c)`, `[B, H]`
    pub h: Tensor,
    /// `c = f c_prev + i g`, `[B, H]`
    pub c: Tensor,
    /// the activated gates `[sigmoid(i) | sigmoid(f) | tanh(g) | sigmoid(o)]`, `[B, 4H]`
    pub gates: Tensor,
    /// `tanh(c)`, `[B, H]`
    pub tanh_c: Tensor,
}

fn cell_shapes(op: &'static str, pre: &Tensor, c_prev: &Tensor) -> Result<(usize, usize)> {
    let ok = pre.ndim() == 2
        && c_prev.ndim() == 2
        && pre.shape()[0] == c_prev.shape()[0]
        && pre.shape()[1] == 4 * c_prev.shape()[1];
    if !ok {
        return Err(shape_err(
            op,
            format!(
                "gates of shape {:?} do not fit a cell state of shape {:?} (expected [B, 4H] and [B, H])",
                pre.shape(),
                c_prev.shape()
            ),
        ));
    }
    Ok((c_prev.shape()[0], c_prev.shape()[1]))
}

/// One LSTM step's pointwise part in one pass, from the pre-activation gates `pre` `[B, 4H]`
/// (order i, f, g, o) and the previous cell state `c_prev` `[B, H]`. Values only (an error if
/// an input requires grad while grad mode is on); CPU f32/f64 ([`lstm_fused_supported`]).
///
/// ```
/// use ember_core::{no_grad, ops::lstm::lstm_cell_fused, Tensor};
/// let _g = no_grad();
/// let v = lstm_cell_fused(&Tensor::zeros(&[1, 8]), &Tensor::ones(&[1, 2])).unwrap();
/// // every sigmoid gate 0.5, g = 0: c = 0.5, h = 0.5 tanh(0.5)
/// assert_eq!(v.c.to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
/// assert!((v.h.to_vec::<f32>().unwrap()[0] - 0.5 * 0.5f32.tanh()).abs() < 1e-6);
/// ```
pub fn lstm_cell_fused(pre: &Tensor, c_prev: &Tensor) -> Result<LstmCellValues> {
    let op = "lstm_cell_fused";
    let (b, hs) = cell_shapes(op, pre, c_prev)?;
    check_supported(op, &[pre, c_prev])?;
    if b * hs == 0 {
        let z = |s: &[usize]| Tensor::zeros_dtype(s, pre.dtype()).expect("float dtype");
        return Ok(LstmCellValues {
            h: z(&[b, hs]),
            c: z(&[b, hs]),
            gates: z(&[b, 4 * hs]),
            tanh_c: z(&[b, hs]),
        });
    }
    by_dtype!(pre, T => with_slices::<T, _>(&[pre, c_prev], |s| {
        let mut gates = s[0].to_vec();
        let (mut c, mut t, mut h) = (vec![0.0 as T; b * hs], vec![0.0 as T; b * hs], vec![0.0 as T; b * hs]);
        cell_forward(&mut gates, None, s[1], &mut c, &mut t, &mut h, hs);
        Ok(LstmCellValues {
            h: Tensor::from_vec(h, &[b, hs])?,
            c: Tensor::from_vec(c, &[b, hs])?,
            gates: Tensor::from_vec(gates, &[b, 4 * hs])?,
            tanh_c: Tensor::from_vec(t, &[b, hs])?,
        })
    }))
}

/// The backward of [`lstm_cell_fused`] in one pass: from its saved `gates` and `tanh_c`, the
/// `c_prev` it was given and the gradients `gh`, `gc` of `h` and `c`, returns the gradient of
/// the pre-activation gates `[B, 4H]` and of `c_prev` `[B, H]`. Values only.
///
/// ```
/// use ember_core::{no_grad, ops::lstm::{lstm_cell_fused, lstm_cell_fused_backward}, Tensor};
/// let _g = no_grad();
/// let c_prev = Tensor::ones(&[1, 2]);
/// let v = lstm_cell_fused(&Tensor::zeros(&[1, 8]), &c_prev).unwrap();
/// let (dpre, dc_prev) =
///     lstm_cell_fused_backward(&v.gates, &v.tanh_c, &c_prev, &Tensor::zeros(&[1, 2]), &Tensor::ones(&[1, 2]))
///         .unwrap();
/// // only c's gradient flows: dc_prev = f = 0.5, and df = c_prev f (1 - f) = 0.25
/// assert_eq!(dc_prev.to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
/// assert_eq!(dpre.to_vec::<f32>().unwrap()[2], 0.25);
/// ```
pub fn lstm_cell_fused_backward(
    gates: &Tensor,
    tanh_c: &Tensor,
    c_prev: &Tensor,
    gh: &Tensor,
    gc: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let op = "lstm_cell_fused_backward";
    let (b, hs) = cell_shapes(op, gates, c_prev)?;
    for (name, t) in [("tanh_c", tanh_c), ("gh", gh), ("gc", gc)] {
        if t.shape() != c_prev.shape() {
            return Err(shape_err(
                op,
                format!(
                    "{name} of shape {:?} does not match c_prev {:?}",
                    t.shape(),
                    c_prev.shape()
                ),
            ));
        }
    }
    check_supported(op, &[gates, tanh_c, c_prev, gh, gc])?;
    if b * hs == 0 {
        return Ok((
            Tensor::zeros_dtype(&[b, 4 * hs], gates.dtype())?,
            Tensor::zeros_dtype(&[b, hs], gates.dtype())?,
        ));
    }
    by_dtype!(gates, T => with_slices::<T, _>(&[gates, tanh_c, c_prev, gh, gc], |s| {
        let mut dc = s[4].to_vec();
        let mut dpre = vec![0.0 as T; 4 * b * hs];
        cell_backward(s[0], s[1], s[2], s[3], &mut dc, &mut dpre, hs);
        Ok((Tensor::from_vec(dpre, &[b, 4 * hs])?, Tensor::from_vec(dc, &[b, hs])?))
    }))
}

// -------------------------------------------------------------------------- a sequence

/// The shape rule of an LSTM layer direction: `gx` `[T > 0, B, 4H]`, `h0` and `c0` `[B, H]`,
/// `w_hh` `[4H, H]`; otherwise a shape error naming `op` and every shape. Shared by the fused
/// sequence here and ember-nn's `lstm_sequence`.
pub fn check_sequence_shapes(op: &'static str, gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<()> {
    let ok = gx.ndim() == 3
        && h0.ndim() == 2
        && c0.shape() == h0.shape()
        && gx.shape()[0] > 0
        && gx.shape()[1] == h0.shape()[0]
        && gx.shape()[2] == 4 * h0.shape()[1]
        && w_hh.shape() == [4 * h0.shape()[1], h0.shape()[1]];
    if ok {
        return Ok(());
    }
    Err(shape_err(
        op,
        format!(
            "expected gx [T>0, B, 4H], h0 and c0 [B, H], w_hh [4H, H]; got gx {:?}, h0 {:?}, c0 {:?}, w_hh {:?}",
            gx.shape(),
            h0.shape(),
            c0.shape(),
            w_hh.shape()
        ),
    ))
}

/// A whole LSTM layer direction run with the fused kernels ([`LstmSequence::run`]): the
/// outputs and everything its backward ([`LstmSequence::backward`]) needs, in `[T, B, ..]`
/// buffers.
pub struct LstmSequence {
    /// `[T + 2, B, H]`: `h_0 .. h_T`, then `c_T` (so the outputs followed by the last cell
    /// state, and the hidden states the steps read, are both contiguous views)
    states: Tensor,
    /// `[T + 1, B, H]`: `c_0 .. c_T`
    cells: Tensor,
    /// `[T, B, 4H]`: each step's activated gates
    gates: Tensor,
    /// `[T, B, H]`: `tanh(c_t)`
    tanh_c: Tensor,
}

impl LstmSequence {
    /// Runs the recurrence `pre_t = gx_t + h_{t-1} W_hh^T`, then the cell, for every step of
    /// `gx` (`[T, B, 4H]`, the input projections with the biases), from `h0`, `c0` (`[B, H]`)
    /// with `w_hh` (`[4H, H]`). Values only; CPU f32/f64.
    ///
    /// ```
    /// use ember_core::{no_grad, ops::lstm::LstmSequence, Tensor};
    /// let _g = no_grad();
    /// let (h0, c0) = (Tensor::zeros(&[1, 2]), Tensor::ones(&[1, 2]));
    /// let seq = LstmSequence::run(&Tensor::zeros(&[3, 1, 8]), &h0, &c0, &Tensor::zeros(&[8, 2])).unwrap();
    /// assert_eq!(seq.outputs().shape(), &[3, 1, 2]);
    /// // all gates 0.5 and g = 0: the cell state halves every step
    /// assert_eq!(seq.last_cell().to_vec::<f32>().unwrap(), vec![0.125, 0.125]);
    /// ```
    pub fn run(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<LstmSequence> {
        let op = "lstm_sequence_fused";
        check_sequence_shapes(op, gx, h0, c0, w_hh)?;
        check_supported(op, &[gx, h0, c0, w_hh])?;
        let (t_len, b, hs) = (gx.shape()[0], h0.shape()[0], h0.shape()[1]);
        if b * hs == 0 {
            let z = |s: &[usize]| Tensor::zeros_dtype(s, gx.dtype()).expect("float dtype");
            return Ok(LstmSequence {
                states: z(&[t_len + 2, b, hs]),
                cells: z(&[t_len + 1, b, hs]),
                gates: z(&[t_len, b, 4 * hs]),
                tanh_c: z(&[t_len, b, hs]),
            });
        }
        by_dtype!(gx, T => with_slices::<T, _>(&[gx, h0, c0, w_hh], |s| {
            // W_hh^T ([H, 4H]) read from W_hh's rows
            let w_t = T::prepare(s[3], hs, 4 * hs, 1, hs);
            let (states, cells, gates, tanh_c) = forward_loop(s[0], s[1], s[2], t_len, b, hs, &w_t);
            Ok(LstmSequence {
                states: Tensor::from_vec(states, &[t_len + 2, b, hs])?,
                cells: Tensor::from_vec(cells, &[t_len + 1, b, hs])?,
                gates: Tensor::from_vec(gates, &[t_len, b, 4 * hs])?,
                tanh_c: Tensor::from_vec(tanh_c, &[t_len, b, hs])?,
            })
        }))
    }

    fn steps(&self) -> usize {
        self.gates.shape()[0]
    }

    /// `h_1 .. h_T`, `[T, B, H]` (a view).
    pub fn outputs(&self) -> Tensor {
        self.states.narrow(0, 1, self.steps()).expect("in range")
    }

    /// `h_1 .. h_T` followed by `c_T`, `[T + 1, B, H]` (a view).
    pub fn outputs_and_last_cell(&self) -> Tensor {
        self.states.narrow(0, 1, self.steps() + 1).expect("in range")
    }

    /// The hidden states the steps read, `h_0 .. h_{T-1}`, `[T, B, H]` (a view): with the
    /// gates' gradient they give `W_hh`'s gradient as one product.
    pub fn hidden_inputs(&self) -> Tensor {
        self.states.narrow(0, 0, self.steps()).expect("in range")
    }

    /// `c_T`, `[B, H]` (a view).
    pub fn last_cell(&self) -> Tensor {
        self.states.select(0, self.steps() as isize + 1).expect("in range")
    }

    /// Backpropagation through time: from the gradients of the outputs `g_out` (`[T, B, H]`,
    /// the last step's including `h_T`'s) and of `c_T` (`g_c`, `[B, H]`), returns the gradient
    /// of the pre-activation gates of every step (`[T, B, 4H]`, which is `gx`'s gradient) and
    /// those of `h0` (when `want_dh0`: it costs one more product) and `c0`. `w_hh` is the
    /// weight the sequence ran with. Values only.
    pub fn backward(
        &self,
        w_hh: &Tensor,
        g_out: &Tensor,
        g_c: &Tensor,
        want_dh0: bool,
    ) -> Result<(Tensor, Option<Tensor>, Tensor)> {
        let op = "lstm_sequence_fused_backward";
        let (t_len, b, hs) = (self.steps(), self.tanh_c.shape()[1], self.tanh_c.shape()[2]);
        if g_out.shape() != [t_len, b, hs] || g_c.shape() != [b, hs] || w_hh.shape() != [4 * hs, hs] {
            return Err(shape_err(
                op,
                format!(
                    "expected g_out {:?}, g_c {:?} and w_hh {:?}; got {:?}, {:?} and {:?}",
                    [t_len, b, hs],
                    [b, hs],
                    [4 * hs, hs],
                    g_out.shape(),
                    g_c.shape(),
                    w_hh.shape()
                ),
            ));
        }
        check_supported(op, &[&self.gates, w_hh, g_out, g_c])?;
        if b * hs == 0 {
            let z = |s: &[usize]| Tensor::zeros_dtype(s, w_hh.dtype()).expect("float dtype");
            return Ok((z(&[t_len, b, 4 * hs]), want_dh0.then(|| z(&[b, hs])), z(&[b, hs])));
        }
        by_dtype!(w_hh, T => with_slices::<T, _>(
            &[&self.gates, &self.tanh_c, &self.cells, w_hh, g_out, g_c],
            |s| {
                // W_hh itself ([4H, H]): dh_{t-1} = dpre_t W_hh
                let w = T::prepare(s[3], 4 * hs, hs, hs, 1);
                let (dgx, dh0, dc0) = backward_loop(s[0], s[1], s[2], s[4], s[5], t_len, b, hs, &w, want_dh0);
                Ok((
                    Tensor::from_vec(dgx, &[t_len, b, 4 * hs])?,
                    dh0.map(|v| Tensor::from_vec(v, &[b, hs])).transpose()?,
                    Tensor::from_vec(dc0, &[b, hs])?,
                ))
            }
        ))
    }
}

mod loops;
use loops::{backward_loop, forward_loop};

#[cfg(test)]
mod tests;
