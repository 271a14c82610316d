//! Recurrent layers: `RNN`, `LSTM`, `GRU` — multi-layer, bidirectional, `batch_first`, with
//! initial states, PyTorch's gate order (LSTM: i, f, g, o; GRU: r, z, n) and parameter names
//! (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `..._reverse`).
//!
//! The input projection of a whole sequence is one matmul per layer and direction; each time
//! step then only multiplies the hidden state by `W_hh`.

use super::dropout::TrainFlag;
use crate::functional as F;
use crate::init;
use crate::module::{Module, Visitor};
use crate::parameter::Parameter;
use ember_core::{Error, Result, Tensor};

/// The cell of a recurrent layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnnKind {
    /// Elman RNN with tanh.
    Tanh,
    /// Elman RNN with ReLU.
    Relu,
    Lstm,
    Gru,
}

impl RnnKind {
    fn gates(self) -> usize {
        match self {
            RnnKind::Tanh | RnnKind::Relu => 1,
            RnnKind::Lstm => 4,
            RnnKind::Gru => 3,
        }
    }
}

/// Options of the recurrent layers (PyTorch's defaults).
#[derive(Debug, Clone, Copy)]
pub struct RnnOptions {
    pub num_layers: usize,
    pub bias: bool,
    /// Inputs and outputs are `[batch, seq, feature]` instead of `[seq, batch, feature]`.
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last, in training mode.
    pub dropout: f64,
    pub bidirectional: bool,
}

impl Default for RnnOptions {
    fn default() -> Self {
        RnnOptions {
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }
}

impl RnnOptions {
    pub fn num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
    pub fn batch_first(mut self, b: bool) -> Self {
        self.batch_first = b;
        self
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn bidirectional(mut self, b: bool) -> Self {
        self.bidirectional = b;
        self
    }
}

/// The weights of one layer and direction.
struct Cell {
    w_ih: Parameter,
    w_hh: Parameter,
    b_ih: Option<Parameter>,
    b_hh: Option<Parameter>,
    suffix: String,
}

/// What `RNN`, `LSTM` and `GRU` share: the parameters and the loop over layers and time.
pub struct RnnBase {
    kind: RnnKind,
    input_size: usize,
    hidden_size: usize,
    opts: RnnOptions,
    cells: Vec<Cell>,
    training: TrainFlag,
}

impl RnnBase {
    fn new(kind: RnnKind, input_size: usize, hidden_size: usize, opts: RnnOptions) -> Result<RnnBase> {
        if opts.num_layers == 0 || hidden_size == 0 {
            return Err(Error::Arg {
                op: "RNN",
                msg: "num_layers and hidden_size must be positive".into(),
            });
        }
        if !(0.0..=1.0).contains(&opts.dropout) {
            return Err(Error::Arg {
                op: "RNN",
                msg: format!("dropout should be a number in range [0, 1], got {}", opts.dropout),
            });
        }
        let g = kind.gates() * hidden_size;
        let dirs = if opts.bidirectional { 2 } else { 1 };
        let stdv = 1.0 / (hidden_size as f64).sqrt();
        let param = |shape: &[usize]| -> Result<Parameter> {
            let t = Tensor::zeros(shape);
            init::uniform_(&t, -stdv, stdv)?;
            Ok(Parameter::new(t))
        };
        let mut cells = Vec::new();
        for l in 0..opts.num_layers {
            let in_l = if l == 0 { input_size } else { hidden_size * dirs };
            for d in 0..dirs {
                cells.push(Cell {
                    w_ih: param(&[g, in_l])?,
                    w_hh: param(&[g, hidden_size])?,
                    b_ih: if opts.bias { Some(param(&[g])?) } else { None },
                    b_hh: if opts.bias { Some(param(&[g])?) } else { None },
                    suffix: format!("l{l}{}", if d == 1 { "_reverse" } else { "" }),
                });
            }
        }
        Ok(RnnBase {
            kind,
            input_size,
            hidden_size,
            opts,
            cells,
            training: TrainFlag::default(),
        })
    }

    fn dirs(&self) -> usize {
        if self.opts.bidirectional {
            2
        } else {
            1
        }
    }

    /// Check the shapes and bring the input to `[T, B, in]` and the states to `[L*D, B, H]`.
    fn prepare(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>, Option<Tensor>, bool)> {
        let op = "RNN";
        let unbatched = x.ndim() == 2;
        if x.ndim() != 3 && !unbatched {
            return Err(Error::Shape {
                op,
                msg: format!("expected a 2-D (unbatched) or 3-D input, got shape {:?}", x.shape()),
            });
        }
        if x.shape()[x.ndim() - 1] != self.input_size {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "input.size(-1) must be equal to input_size. Expected {}, got {}",
                    self.input_size,
                    x.shape()[x.ndim() - 1]
                ),
            });
        }
        let x = if unbatched {
            x.unsqueeze(1)?
        } else if self.opts.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let b = x.shape()[1];
        let expect = [self.opts.num_layers * self.dirs(), b, self.hidden_size];
        let state = |s: Option<&Tensor>, name: &str| -> Result<Option<Tensor>> {
            let Some(s) = s else { return Ok(None) };
            let s = if unbatched { s.unsqueeze(1)? } else { s.clone() };
            if s.shape() != expect {
                return Err(Error::Shape {
                    op,
                    msg: format!("expected {name} of shape {expect:?}, got {:?}", s.shape()),
                });
            }
            Ok(Some(s))
        };
        Ok((x, state(h0, "hidden state")?, state(c0, "cell state")?, unbatched))
    }

    /// Run every layer over the sequence: `(output [T, B, D*H], h_n, c_n)`.
    fn run(&self, x: &Tensor, h0: Option<&Tensor>, c0: Option<&Tensor>) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (x, h0, c0, unbatched) = self.prepare(x, h0, c0)?;
        if self.kind == RnnKind::Lstm {
            return self.run_lstm(x, h0, c0, unbatched);
        }
        let (t_len, b, h) = (x.shape()[0], x.shape()[1], self.hidden_size);
        let dirs = self.dirs();
        let dt = x.dtype();
        let zeros = || Tensor::zeros_dtype(&[b, h], dt);
        // Each layer works on a list of per-step tensors: slicing one step out of a stacked
        // tensor that requires grad would scatter a full-size gradient per step (O(T^2)).
        let mut layer_in: Vec<Tensor> = (0..t_len).map(|t| x.select(0, t as isize)).collect::<Result<_>>()?;
        let mut hs = Vec::new();
        for l in 0..self.opts.num_layers {
            let mut outs = Vec::with_capacity(dirs);
            for d in 0..dirs {
                let idx = l * dirs + d;
                let cell = &self.cells[idx];
                let h_init = match &h0 {
                    Some(s) => s.select(0, idx as isize)?,
                    None => zeros()?,
                };
                let (out, hn) = self.run_direction(cell, &layer_in, h_init, d == 1)?;
                outs.push(out);
                hs.push(hn);
            }
            layer_in = if dirs == 1 {
                outs.pop().expect("one direction")
            } else {
                (0..t_len)
                    .map(|t| Tensor::cat(&[outs[0][t].clone(), outs[1][t].clone()], -1))
                    .collect::<Result<_>>()?
            };
            if l + 1 < self.opts.num_layers && self.opts.dropout > 0.0 {
                let training = self.training.get();
                layer_in = layer_in
                    .iter()
                    .map(|y| F::dropout(y, self.opts.dropout, training))
                    .collect::<Result<_>>()?;
            }
        }
        self.finish(Tensor::stack(&layer_in, 0)?, Tensor::stack(&hs, 0)?, None, unbatched)
    }

    /// The user-facing layout of `(output [T, B, D*H], h_n, c_n)`: unbatched or batch-first.
    fn finish(
        &self,
        out: Tensor,
        h_n: Tensor,
        c_n: Option<Tensor>,
        unbatched: bool,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        if unbatched {
            Ok((out.squeeze(1)?, h_n.squeeze(1)?, c_n.map(|c| c.squeeze(1)).transpose()?))
        } else if self.opts.batch_first {
            Ok((out.transpose(0, 1)?, h_n, c_n))
        } else {
            Ok((out, h_n, c_n))
        }
    }

    /// The bias added to every step's input projection: for RNN and LSTM both biases are
    /// per-step constants, added once; GRU keeps `b_hh` inside its reset gate.
    fn input_bias(&self, cell: &Cell) -> Result<Option<Tensor>> {
        let b_ih = cell.b_ih.as_ref().map(|p| p.tensor());
        let b_hh = cell.b_hh.as_ref().map(|p| p.tensor());
        Ok(match (self.kind, b_ih, b_hh) {
            (RnnKind::Gru, b_ih, _) => b_ih,
            (_, Some(a), Some(b)) => Some(a.add(&b)?),
            (_, a, _) => a,
        })
    }

    /// The LSTM on whole-sequence tensors: per layer and direction, one input projection for
    /// every step and one fused recurrence node ([`F::lstm_sequence`]).
    fn run_lstm(
        &self,
        x: Tensor,
        h0: Option<Tensor>,
        c0: Option<Tensor>,
        unbatched: bool,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (t_len, b, h) = (x.shape()[0], x.shape()[1], self.hidden_size);
        let dt = x.dtype();
        let initial = |s: &Option<Tensor>, idx: usize| match s {
            Some(s) => s.select(0, idx as isize),
            None => Tensor::zeros_dtype(&[b, h], dt),
        };
        let mut layer_in = x;
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for l in 0..self.opts.num_layers {
            let mut outs = Vec::with_capacity(self.dirs());
            for d in 0..self.dirs() {
                let idx = l * self.dirs() + d;
                let cell = &self.cells[idx];
                let bias = self.input_bias(cell)?;
                let input = if d == 1 { layer_in.flip(&[0])? } else { layer_in.clone() };
                let features = input.shape()[2];
                let gx = F::linear(
                    &input.reshape_to(&[t_len * b, features])?,
                    &cell.w_ih.tensor(),
                    bias.as_ref(),
                )?
                .reshape_to(&[t_len, b, 4 * h])?;
                let (out, hn, cn) =
                    F::lstm_sequence(&gx, &initial(&h0, idx)?, &initial(&c0, idx)?, &cell.w_hh.tensor())?;
                outs.push(if d == 1 { out.flip(&[0])? } else { out });
                hs.push(hn);
                cs.push(cn);
            }
            layer_in = if outs.len() == 1 {
                outs.pop().expect("one direction")
            } else {
                Tensor::cat(&outs, -1)?
            };
            if l + 1 < self.opts.num_layers && self.opts.dropout > 0.0 {
                layer_in = F::dropout(&layer_in, self.opts.dropout, self.training.get())?;
            }
        }
        let c_n = Tensor::stack(&cs, 0)?;
        self.finish(layer_in, Tensor::stack(&hs, 0)?, Some(c_n), unbatched)
    }

    /// One RNN or GRU layer in one direction over per-step inputs: `(outputs [B, H] per step, h_T)`.
    fn run_direction(&self, cell: &Cell, xs: &[Tensor], mut h: Tensor, reverse: bool) -> Result<(Vec<Tensor>, Tensor)> {
        let t_len = xs.len();
        let w_ih = cell.w_ih.tensor();
        let w_hh = cell.w_hh.tensor();
        let b_hh = cell.b_hh.as_ref().map(|p| p.tensor());
        let hs = self.hidden_size;
        let b_in = self.input_bias(cell)?;
        let mut outs: Vec<Tensor> = vec![Tensor::zeros(&[0]); t_len];
        for step in 0..t_len {
            let t = if reverse { t_len - 1 - step } else { step };
            let gx = F::linear(&xs[t], &w_ih, b_in.as_ref())?;
            match self.kind {
                RnnKind::Tanh | RnnKind::Relu => {
                    let a = gx.add(&F::linear(&h, &w_hh, None)?)?;
                    h = if self.kind == RnnKind::Tanh {
                        a.tanh()?
                    } else {
                        a.relu()?
                    };
                }
                RnnKind::Lstm => unreachable!("the LSTM runs through run_lstm"),
                RnnKind::Gru => {
                    let gh = F::linear(&h, &w_hh, b_hh.as_ref())?;
                    let r = gx.narrow(1, 0, hs)?.add(&gh.narrow(1, 0, hs)?)?.sigmoid()?;
                    let z = gx.narrow(1, hs, hs)?.add(&gh.narrow(1, hs, hs)?)?.sigmoid()?;
                    let n = gx
                        .narrow(1, 2 * hs, hs)?
                        .add(&r.mul(&gh.narrow(1, 2 * hs, hs)?)?)?
                        .tanh()?;
                    // h' = (1 - z) n + z h = n + z (h - n)
                    h = n.add(&z.mul(&h.sub(&n)?)?)?;
                }
            }
            outs[t] = h.clone();
        }
        Ok((outs, h))
    }

    fn visit(&self, v: &mut dyn Visitor) {
        for c in &self.cells {
            v.param(&format!("weight_ih_{}", c.suffix), &c.w_ih);
            v.param(&format!("weight_hh_{}", c.suffix), &c.w_hh);
            if let Some(b) = &c.b_ih {
                v.param(&format!("bias_ih_{}", c.suffix), b);
            }
            if let Some(b) = &c.b_hh {
                v.param(&format!("bias_hh_{}", c.suffix), b);
            }
        }
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    pub fn input_size(&self) -> usize {
        self.input_size
    }
}

macro_rules! rnn_module {
    ($name:ident) => {
        impl Module for $name {
            /// The output sequence for zero initial states (use `forward_with` for the states).
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(self.0.run(x, None, None)?.0)
            }
            fn visit(&self, v: &mut dyn Visitor) {
                self.0.visit(v)
            }
            fn set_own_training(&self, training: bool) {
                self.0.training.set(training);
            }
            fn own_training(&self) -> Option<bool> {
                Some(self.0.training.get())
            }
        }

        impl std::ops::Deref for $name {
            type Target = RnnBase;
            fn deref(&self) -> &RnnBase {
                &self.0
            }
        }
    };
}

/// Elman RNN (`torch.nn.RNN`): `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` (or ReLU).
pub struct RNN(RnnBase);

impl RNN {
    /// A tanh RNN.
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> Result<RNN> {
        Ok(RNN(RnnBase::new(RnnKind::Tanh, input_size, hidden_size, opts)?))
    }

    /// A ReLU RNN (`nonlinearity="relu"`).
    pub fn relu(input_size: usize, hidden_size: usize, opts: RnnOptions) -> Result<RNN> {
        Ok(RNN(RnnBase::new(RnnKind::Relu, input_size, hidden_size, opts)?))
    }

    /// `(output, h_n)` from an optional initial state `h0` (`[num_layers * dirs, B, H]`).
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (o, h, _) = self.0.run(x, h0, None)?;
        Ok((o, h))
    }
}

rnn_module!(RNN);

/// Long short-term memory (`torch.nn.LSTM`), gates in PyTorch's order i, f, g, o.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{LSTM, Module, RnnOptions};
/// let lstm = LSTM::new(8, 16, RnnOptions::default().num_layers(2).batch_first(true)).unwrap();
/// let (out, (h, c)) = lstm.forward_with(&Tensor::randn(&[4, 5, 8]), None).unwrap();
/// assert_eq!((out.shape(), h.shape(), c.shape()), (&[4, 5, 16][..], &[2, 4, 16][..], &[2, 4, 16][..]));
/// assert_eq!(lstm.named_parameters()[0].0, "weight_ih_l0");
/// ```
pub struct LSTM(RnnBase);

impl LSTM {
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> Result<LSTM> {
        Ok(LSTM(RnnBase::new(RnnKind::Lstm, input_size, hidden_size, opts)?))
    }

    /// `(output, (h_n, c_n))` from optional initial states `(h0, c0)`.
    pub fn forward_with(&self, x: &Tensor, state: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, (Tensor, Tensor))> {
        let (o, h, c) = self.0.run(x, state.map(|s| s.0), state.map(|s| s.1))?;
        Ok((o, (h, c.expect("an LSTM returns a cell state"))))
    }
}

rnn_module!(LSTM);

/// Gated recurrent unit (`torch.nn.GRU`), gates in PyTorch's order r, z, n.
pub struct GRU(RnnBase);

impl GRU {
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> Result<GRU> {
        Ok(GRU(RnnBase::new(RnnKind::Gru, input_size, hidden_size, opts)?))
    }

    /// `(output, h_n)` from an optional initial state `h0`.
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (o, h, _) = self.0.run(x, h0, None)?;
        Ok((o, h))
    }
}

rnn_module!(GRU);
