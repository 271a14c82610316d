//! Convolutions: `conv2d`, `conv1d`, `conv_transpose2d`, `conv_transpose1d`, with PyTorch's
//! semantics (NCHW / NCL layouts, weight `[C_out, C_in/groups, kH, kW]`).
//!
//! Three primitives carry everything: the forward convolution and its two adjoints,
//! `conv2d_backward_input` (which is also the transposed convolution) and
//! `conv2d_backward_weight`. All three are bilinear, and the gradient of each is written with the
//! other two, so gradients of any order flow through them (see `Tensor::conv2d_with`).
//! 1-D convolutions are 2-D ones over a unit height.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::cpu::conv_kernels::{self, ConvGeom};
use crate::cpu::math::Float;
use crate::dtype::DType;
use crate::error::{arg_err, dtype_err, shape_err, Result};
use crate::storage::{CpuStorage, StorageElem};
use crate::tensor::Tensor;

/// Padding of a 2-D convolution, as PyTorch's `padding` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding2d {
    /// The same zero padding on both sides of each dim: `[top/bottom, left/right]`.
    Explicit([usize; 2]),
    /// `padding="same"`: the output is as large as the input (stride must be 1). When the
    /// total padding `dilation * (k - 1)` is odd, the extra row/column goes to the bottom/right.
    Same,
    /// `padding="valid"`: no padding.
    Valid,
}

impl From<[usize; 2]> for Padding2d {
    fn from(p: [usize; 2]) -> Self {
        Padding2d::Explicit(p)
    }
}

impl From<usize> for Padding2d {
    fn from(p: usize) -> Self {
        Padding2d::Explicit([p, p])
    }
}

/// Padding of a 1-D convolution, as PyTorch's `padding` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding1d {
    Explicit(usize),
    Same,
    Valid,
}

impl From<usize> for Padding1d {
    fn from(p: usize) -> Self {
        Padding1d::Explicit(p)
    }
}

/// Everything about a 2-D convolution but the tensor shapes. Padding may differ before and
/// after (as `padding="same"` with an even kernel needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    /// Zero rows / columns added before the input (top, left).
    pub pad_begin: [usize; 2],
    /// Zero rows / columns added after the input (bottom, right).
    pub pad_end: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2dParams {
    /// Symmetric padding.
    pub fn new(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups: usize) -> Conv2dParams {
        Conv2dParams {
            stride,
            pad_begin: padding,
            pad_end: padding,
            dilation,
            groups,
        }
    }
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams::new([1, 1], [0, 0], [1, 1], 1)
    }
}

impl Padding2d {
    /// Padding before and after for a kernel of `kernel` taps.
    fn resolve(
        self,
        op: &'static str,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<([usize; 2], [usize; 2])> {
        match self {
            Padding2d::Explicit(p) => Ok((p, p)),
            Padding2d::Valid => Ok(([0, 0], [0, 0])),
            Padding2d::Same => {
                if stride != [1, 1] {
                    return Err(arg_err(
                        op,
                        format!("padding=\"same\" is not supported for strided convolutions (stride {stride:?})"),
                    ));
                }
                let total = [0, 1].map(|i| dilation[i] * kernel[i].saturating_sub(1));
                let begin = total.map(|t| t / 2);
                Ok((begin, [total[0] - begin[0], total[1] - begin[1]]))
            }
        }
    }
}

/// The sizes of the convolution of an input of `x` (4-D) with a weight of `w` (4-D), checked.
fn geometry(op: &'static str, x: &[usize], w: &[usize], p: &Conv2dParams) -> Result<ConvGeom> {
    if x.len() != 4 || w.len() != 4 {
        return Err(shape_err(op, format!("expected a 4-D input [N, C, H, W] and a 4-D weight [C_out, C_in/groups, kH, kW], got input {x:?} and weight {w:?}")));
    }
    if p.groups == 0 {
        return Err(arg_err(op, "groups must be positive"));
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(arg_err(
            op,
            format!("stride {:?} and dilation {:?} must be positive", p.stride, p.dilation),
        ));
    }
    if w[2] == 0 || w[3] == 0 {
        return Err(shape_err(op, format!("the kernel of weight {w:?} is empty")));
    }
    if w[1] * p.groups != x[1] || !w[0].is_multiple_of(p.groups) {
        return Err(shape_err(
            op,
            format!(
                "input {x:?} with groups = {} expects a weight [C_out, {}, kH, kW] with C_out divisible by {}, got weight {w:?}",
                p.groups,
                x[1] / p.groups.max(1),
                p.groups
            ),
        ));
    }
    let padded = [0, 1].map(|i| x[2 + i] + p.pad_begin[i] + p.pad_end[i]);
    let span = [0, 1].map(|i| p.dilation[i] * (w[2 + i] - 1) + 1);
    if padded[0] < span[0] || padded[1] < span[1] {
        return Err(shape_err(
            op,
            format!(
                "input {x:?} padded to {}x{} is smaller than the (dilated) kernel {}x{} of weight {w:?}",
                padded[0], padded[1], span[0], span[1]
            ),
        ));
    }
    let out = [0, 1].map(|i| (padded[i] - span[i]) / p.stride[i] + 1);
    Ok(ConvGeom {
        n: x[0],
        c_in: x[1],
        h: x[2],
        w: x[3],
        c_out: w[0],
        kh: w[2],
        kw: w[3],
        oh: out[0],
        ow: out[1],
        stride: p.stride,
        pad: p.pad_begin,
        dilation: p.dilation,
        groups: p.groups,
    })
}

/// `geometry`, restricted to the output positions present in a gradient `gy`: transposed
/// convolutions may produce outputs whose convolution would be a little larger (PyTorch's
/// `output_padding`), and their gradient then covers only part of it.
fn geometry_for_grad(op: &'static str, gy: &Tensor, x: &[usize], w: &[usize], p: &Conv2dParams) -> Result<ConvGeom> {
    let mut g = geometry(op, x, w, p)?;
    let s = gy.shape();
    if s.len() != 4 || s[0] != g.n || s[1] != g.c_out || s[2] > g.oh || s[3] > g.ow {
        return Err(shape_err(
            op,
            format!(
                "expected a gradient of shape [{}, {}, <={}, <={}] for input {x:?} and weight {w:?}, got {s:?}",
                g.n, g.c_out, g.oh, g.ow
            ),
        ));
    }
    g.oh = s[2];
    g.ow = s[3];
    Ok(g)
}

fn check_float(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    let d = ts[0].dtype();
    for t in ts {
        crate::ops::check_same_device(op, ts[0], t)?;
        if !t.dtype().is_float() || t.dtype() != d {
            let dts: Vec<String> = ts.iter().map(|t| t.dtype().to_string()).collect();
            return Err(dtype_err(
                op,
                format!("expected floating point tensors of one dtype, got [{}]", dts.join(", ")),
            ));
        }
    }
    Ok(())
}

/// A kernel over contiguous f32/f64 buffers.
pub(crate) trait FloatKernel {
    fn run<T: Float + StorageElem>(&self, inputs: &[&[T]]) -> Vec<T>;

    /// The same kernel on GPU tensors; `None` where it has no CUDA version (the op errors).
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, _inputs: &[&Tensor]) -> Option<Result<Tensor>> {
        None
    }
}

/// Run `k` on the (contiguous) data of `inputs`, all of one float dtype, producing a tensor of
/// `shape`. f16 / bf16 compute in f32 and round once at the end, as PyTorch's CPU kernels do.
pub(crate) fn run_float<K: FloatKernel>(
    op: &'static str,
    inputs: &[&Tensor],
    shape: &[usize],
    k: &K,
) -> Result<Tensor> {
    fn go<T: Float + StorageElem, K: FloatKernel>(inputs: &[Tensor], k: &K) -> CpuStorage {
        let guards: Vec<_> = inputs.iter().map(|t| t.read()).collect();
        let slices: Vec<&[T]> = guards
            .iter()
            .zip(inputs)
            .map(|(g, t)| &T::slice(g).expect("dtype checked by the caller")[t.offset()..t.offset() + t.numel()])
            .collect();
        T::into_storage(k.run(&slices))
    }
    let dtype = inputs[0].dtype();
    #[cfg(feature = "cuda")]
    if inputs[0].device().is_cuda() && matches!(dtype, DType::F32 | DType::F64) {
        return k
            .run_cuda(inputs)
            .unwrap_or_else(|| Err(crate::cuda::not_on_cuda(op, "no CUDA kernel")));
    }
    let data = match dtype {
        DType::F32 | DType::F64 => {
            let cs: Vec<Tensor> = inputs.iter().map(|t| t.contiguous_data()).collect();
            if dtype == DType::F32 {
                go::<f32, K>(&cs, k)
            } else {
                go::<f64, K>(&cs, k)
            }
        }
        DType::F16 | DType::BF16 => {
            let _ng = crate::autograd::no_grad();
            let wide: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F32)).collect::<Result<_>>()?;
            let refs: Vec<&Tensor> = wide.iter().collect();
            return run_float(op, &refs, shape, k)?.to_dtype(dtype);
        }
        d => return Err(dtype_err(op, format!("not supported for dtype {d}"))),
    };
    Ok(Tensor::from_storage(data, shape))
}

/// The three convolution kernels.
enum ConvKernel {
    /// inputs: x, w (, bias)
    Forward(ConvGeom),
    /// inputs: gy, w
    BackwardInput(ConvGeom),
    /// inputs: gy, x; with the bias gradient appended when the flag is set
    BackwardWeight(ConvGeom, bool),
    /// inputs: gy `[n, c, p]`
    BiasGrad { n: usize, c: usize, p: usize },
}

impl FloatKernel for ConvKernel {
    fn run<T: Float + StorageElem>(&self, i: &[&[T]]) -> Vec<T> {
        match self {
            ConvKernel::Forward(g) => conv_kernels::conv2d_forward(i[0], i[1], i.get(2).copied(), g),
            ConvKernel::BackwardInput(g) => conv_kernels::conv2d_backward_input(i[0], i[1], g),
            ConvKernel::BackwardWeight(g, with_bias) => conv_kernels::conv2d_backward_weight(i[0], i[1], g, *with_bias),
            ConvKernel::BiasGrad { n, c, p } => conv_kernels::channel_sums(i[0], *n, *c, *p),
        }
    }

    #[cfg(feature = "cuda")]
    fn run_cuda(&self, i: &[&Tensor]) -> Option<Result<Tensor>> {
        use crate::cuda::ops::conv;
        Some(match self {
            ConvKernel::Forward(g) => conv::forward(g, i[0], i[1], i.get(2).copied()),
            ConvKernel::BackwardInput(g) => conv::backward_input(g, i[0], i[1]),
            ConvKernel::BackwardWeight(g, with_bias) => conv::backward_weight(g, i[0], i[1], *with_bias),
            ConvKernel::BiasGrad { .. } => conv::bias_grad(i[0]),
        })
    }
}

/// The first `[oh, ow]` output positions of `t` (`[N, C, OH', OW']`).
fn crop_hw(t: Tensor, oh: usize, ow: usize) -> Result<Tensor> {
    let t = if t.shape()[2] != oh { t.narrow(2, 0, oh)? } else { t };
    if t.shape()[3] != ow {
        t.narrow(3, 0, ow)
    } else {
        Ok(t)
    }
}

impl Tensor {
    /// 2-D convolution (PyTorch's `F.conv2d`): input `[N, C_in, H, W]` (or unbatched
    /// `[C_in, H, W]`), weight `[C_out, C_in/groups, kH, kW]`, optional bias `[C_out]`.
    ///
    /// ```
    /// use ember_core::{ops::conv::Padding2d, Tensor};
    /// let x = Tensor::ones(&[1, 1, 4, 4]);
    /// let w = Tensor::ones(&[2, 1, 3, 3]);
    /// let y = x.conv2d(&w, None, [1, 1], Padding2d::Explicit([1, 1]), [1, 1], 1).unwrap();
    /// assert_eq!(y.shape(), &[1, 2, 4, 4]);
    /// assert_eq!(y.to_vec::<f32>().unwrap()[..4], [4.0, 6.0, 6.0, 4.0]);
    /// ```
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: Padding2d,
        dilation: [usize; 2],
        groups: usize,
    ) -> Result<Tensor> {
        if weight.ndim() != 4 {
            return Err(shape_err(
                "conv2d",
                format!(
                    "expected a 4-D weight [C_out, C_in/groups, kH, kW], got {:?}",
                    weight.shape()
                ),
            ));
        }
        let kernel = [weight.shape()[2], weight.shape()[3]];
        let (pad_begin, pad_end) = padding.resolve("conv2d", kernel, stride, dilation)?;
        self.conv2d_with(
            weight,
            bias,
            &Conv2dParams {
                stride,
                pad_begin,
                pad_end,
                dilation,
                groups,
            },
        )
    }

    /// `conv2d` with square stride and padding, unit dilation and one group.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let y = Tensor::ones(&[8, 3, 28, 28]).conv2d_simple(&Tensor::ones(&[16, 3, 5, 5]), None, 2, 2).unwrap();
    /// assert_eq!(y.shape(), &[8, 16, 14, 14]);
    /// ```
    pub fn conv2d_simple(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
    ) -> Result<Tensor> {
        self.conv2d(weight, bias, [stride; 2], Padding2d::Explicit([padding; 2]), [1, 1], 1)
    }

    /// The convolution primitive, with explicit (possibly asymmetric) padding.
    ///
    /// Its gradients are `conv2d_backward_input(g, w)`, `conv2d_backward_weight(g, x)` and the
    /// per-channel sums of `g`: ops of their own, whose gradients are again convolutions, so
    /// double backward works.
    ///
    /// ```
    /// use ember_core::{ops::conv::Conv2dParams, Tensor};
    /// let p = Conv2dParams { pad_begin: [0, 0], pad_end: [1, 1], ..Conv2dParams::default() };
    /// let y = Tensor::ones(&[1, 1, 3, 3]).conv2d_with(&Tensor::ones(&[1, 1, 2, 2]), None, &p).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![4.0, 4.0, 2.0, 4.0, 4.0, 2.0, 2.0, 2.0, 1.0]);
    /// ```
    pub fn conv2d_with(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv2dParams) -> Result<Tensor> {
        if crate::amp::autocast_dtype().is_some() && self.dtype() == DType::F32 {
            let (x, w) = (crate::amp::lower(self)?, crate::amp::lower(weight)?);
            let b = bias.map(crate::amp::lower).transpose()?;
            let _off = crate::amp::autocast_disabled();
            return x.conv2d_with(&w, b.as_ref(), params);
        }
        if self.ndim() == 3 {
            return self.unsqueeze(0)?.conv2d_with(weight, bias, params)?.squeeze(0);
        }
        if self.ndim() != 4 {
            return Err(shape_err(
                "conv2d",
                format!(
                    "expected a 3-D (unbatched) or 4-D (batched) input, got input {:?}",
                    self.shape()
                ),
            ));
        }
        let mut ins = vec![self, weight];
        ins.extend(bias);
        check_float("conv2d", &ins)?;
        let g = geometry("conv2d", self.shape(), weight.shape(), params)?;
        if let Some(b) = bias {
            if b.shape() != [g.c_out] {
                return Err(shape_err(
                    "conv2d",
                    format!(
                        "expected a bias of shape [{}] for weight {:?}, got {:?}",
                        g.c_out,
                        weight.shape(),
                        b.shape()
                    ),
                ));
            }
        }
        let out = run_float("conv2d", &ins, &[g.n, g.c_out, g.oh, g.ow], &ConvKernel::Forward(g))?;
        if !needs_grad(&ins) {
            return Ok(out);
        }
        let need: Vec<bool> = ins.iter().map(|t| t.requires_grad()).collect();
        // the input is needed only for the weight's gradient and vice versa
        let sx = need[1].then(|| SavedTensor::new(self));
        let sw = need[0].then(|| SavedTensor::new(weight));
        let (xs, ws, p) = (self.shape().to_vec(), weight.shape().to_vec(), *params);
        Ok(record("conv2d", out, &ins, move |_| {
            Box::new(move |gy| {
                let mut grads = vec![None, None];
                if let Some(w) = &sw {
                    grads[0] = Some(gy.conv2d_backward_input(w.get()?, &xs, &p)?);
                }
                let with_bias = need.len() == 3 && need[2];
                let gb = match &sx {
                    Some(x) => {
                        let (gw, gb) = gy.backward_weight_op(x.get()?, &ws, &p, with_bias)?;
                        grads[1] = Some(gw);
                        gb
                    }
                    None if with_bias => Some(gy.conv_bias_grad()?),
                    None => None,
                };
                if need.len() == 3 {
                    grads.push(gb);
                }
                Ok(grads)
            })
        }))
    }

    /// The gradient of `conv2d_with` with respect to its input, for `self` the gradient of its
    /// output: a transposed convolution of `self` with `weight`, of shape `input_shape`.
    ///
    /// ```
    /// use ember_core::{ops::conv::Conv2dParams, Tensor};
    /// let g = Tensor::ones(&[1, 1, 2, 2]);
    /// let gx = g.conv2d_backward_input(&Tensor::ones(&[1, 1, 2, 2]), &[1, 1, 3, 3], &Conv2dParams::default()).unwrap();
    /// assert_eq!(gx.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// ```
    pub fn conv2d_backward_input(
        &self,
        weight: &Tensor,
        input_shape: &[usize],
        params: &Conv2dParams,
    ) -> Result<Tensor> {
        self.backward_input_op("conv2d_backward_input", weight, input_shape, params)
    }

    fn backward_input_op(
        &self,
        op: &'static str,
        weight: &Tensor,
        input_shape: &[usize],
        params: &Conv2dParams,
    ) -> Result<Tensor> {
        check_float(op, &[self, weight])?;
        let g = geometry_for_grad(op, self, input_shape, weight.shape(), params)?;
        let out = run_float(op, &[self, weight], input_shape, &ConvKernel::BackwardInput(g))?;
        if !needs_grad(&[self, weight]) {
            return Ok(out);
        }
        let need = [self.requires_grad(), weight.requires_grad()];
        let sgy = need[1].then(|| SavedTensor::new(self));
        let sw = need[0].then(|| SavedTensor::new(weight));
        let (ws, p) = (weight.shape().to_vec(), *params);
        Ok(record(op, out, &[self, weight], move |_| {
            Box::new(move |gg| {
                let ggy = match &sw {
                    Some(w) => Some(crop_hw(gg.conv2d_with(w.get()?, None, &p)?, g.oh, g.ow)?),
                    None => None,
                };
                let gw = match &sgy {
                    Some(gy) => Some(gy.get()?.conv2d_backward_weight(gg, &ws, &p)?),
                    None => None,
                };
                Ok(vec![ggy, gw])
            })
        }))
    }

    /// The gradient of `conv2d_with` with respect to its weight, for `self` the gradient of its
    /// output and `input` its input: `sum_n self_n @ im2col(input_n)^T`, of shape `weight_shape`.
    ///
    /// ```
    /// use ember_core::{ops::conv::Conv2dParams, Tensor};
    /// let g = Tensor::ones(&[2, 1, 2, 2]);
    /// let gw = g.conv2d_backward_weight(&Tensor::ones(&[2, 1, 3, 3]), &[1, 1, 2, 2], &Conv2dParams::default()).unwrap();
    /// assert_eq!(gw.to_vec::<f32>().unwrap(), vec![8.0; 4]);
    /// ```
    pub fn conv2d_backward_weight(
        &self,
        input: &Tensor,
        weight_shape: &[usize],
        params: &Conv2dParams,
    ) -> Result<Tensor> {
        Ok(self.backward_weight_op(input, weight_shape, params, false)?.0)
    }

    /// `conv2d_backward_weight`, and with `with_bias` also the bias gradient (the per-channel
    /// sums of `self`), computed in the same pass over `self`.
    fn backward_weight_op(
        &self,
        input: &Tensor,
        weight_shape: &[usize],
        params: &Conv2dParams,
        with_bias: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let op = "conv2d_backward_weight";
        check_float(op, &[self, input])?;
        let g = geometry_for_grad(op, self, input.shape(), weight_shape, params)?;
        let ck: usize = weight_shape.iter().product();
        let len = ck + if with_bias { g.c_out } else { 0 };
        let out = run_float(op, &[self, input], &[len], &ConvKernel::BackwardWeight(g, with_bias))?;
        let (gw, gb) = crate::autograd::no_grad_scope(|| -> Result<_> {
            let gw = out.narrow(0, 0, ck)?.reshape_to(weight_shape)?;
            // the bias gradient gets its own (small) storage, so the two never share versions
            let gb = if with_bias {
                Some(out.narrow(0, ck, g.c_out)?.copy())
            } else {
                None
            };
            Ok((gw, gb))
        })?;
        let gb = gb.map(|gb| self.record_bias_grad(gb));
        if !needs_grad(&[self, input]) {
            return Ok((gw, gb));
        }
        let need = [self.requires_grad(), input.requires_grad()];
        let sgy = need[1].then(|| SavedTensor::new(self));
        let sx = need[0].then(|| SavedTensor::new(input));
        let (xs, p) = (input.shape().to_vec(), *params);
        let gw = record(op, gw, &[self, input], move |_| {
            Box::new(move |gg| {
                let ggy = match &sx {
                    Some(x) => Some(crop_hw(x.get()?.conv2d_with(gg, None, &p)?, g.oh, g.ow)?),
                    None => None,
                };
                let gx = match &sgy {
                    Some(gy) => Some(gy.get()?.conv2d_backward_input(gg, &xs, &p)?),
                    None => None,
                };
                Ok(vec![ggy, gx])
            })
        });
        Ok((gw, gb))
    }

    /// Per-channel sums of a `[N, C, H, W]` gradient (the gradient of a conv bias).
    fn conv_bias_grad(&self) -> Result<Tensor> {
        let s = self.shape();
        let kernel = ConvKernel::BiasGrad {
            n: s[0],
            c: s[1],
            p: s[2] * s[3],
        };
        let out = run_float("conv_bias_grad", &[self], &[s[1]], &kernel)?;
        Ok(self.record_bias_grad(out))
    }

    /// Record `out` as the per-channel sums of `self`: its gradient broadcasts back.
    fn record_bias_grad(&self, out: Tensor) -> Tensor {
        let c = self.shape()[1] as isize;
        let shape: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        record("conv_bias_grad", out, &[self], move |_| {
            Box::new(move |gg| Ok(vec![Some(gg.reshape(&[1, c, 1, 1])?.expand(&shape)?)]))
        })
    }

    /// 1-D convolution (PyTorch's `F.conv1d`): input `[N, C_in, L]` (or `[C_in, L]`), weight
    /// `[C_out, C_in/groups, k]`, optional bias `[C_out]`.
    ///
    /// ```
    /// use ember_core::{ops::conv::Padding1d, Tensor};
    /// let x = Tensor::new(&[[[1.0f32, 2.0, 3.0, 4.0]]]);
    /// let w = Tensor::new(&[[[1.0f32, -1.0]]]);
    /// let y = x.conv1d(&w, None, 1, Padding1d::Valid, 1, 1).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, -1.0, -1.0]);
    /// ```
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: Padding1d,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        if !(self.ndim() == 2 || self.ndim() == 3) || weight.ndim() != 3 {
            return Err(shape_err(
                "conv1d",
                format!("expected a 2-D or 3-D input and a 3-D weight [C_out, C_in/groups, k], got input {:?} and weight {:?}", self.shape(), weight.shape()),
            ));
        }
        let padding = match padding {
            Padding1d::Explicit(p) => Padding2d::Explicit([0, p]),
            Padding1d::Same => Padding2d::Same,
            Padding1d::Valid => Padding2d::Valid,
        };
        self.unsqueeze(-2)?
            .conv2d(
                &weight.unsqueeze(-2)?,
                bias,
                [1, stride],
                padding,
                [1, dilation],
                groups,
            )?
            .squeeze(-2)
    }

    /// Transposed 2-D convolution (PyTorch's `F.conv_transpose2d`): input `[N, C_in, H, W]` (or
    /// unbatched), weight `[C_in, C_out/groups, kH, kW]`; the output has
    /// `(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1` rows.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::ones(&[1, 1, 2, 2]);
    /// let y = x.conv_transpose2d(&Tensor::ones(&[1, 1, 2, 2]), None, [2, 2], [0, 0], [0, 0], [1, 1], 1).unwrap();
    /// assert_eq!(y.shape(), &[1, 1, 4, 4]);
    /// assert_eq!(y.sum_all().item().unwrap(), 16.0);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Result<Tensor> {
        let op = "conv_transpose2d";
        if self.ndim() == 3 {
            return self
                .unsqueeze(0)?
                .conv_transpose2d(weight, bias, stride, padding, output_padding, dilation, groups)?
                .squeeze(0);
        }
        let (x, w) = (self.shape(), weight.shape());
        if x.len() != 4 || w.len() != 4 {
            return Err(shape_err(op, format!("expected a 3-D or 4-D input and a 4-D weight [C_in, C_out/groups, kH, kW], got input {x:?} and weight {w:?}")));
        }
        if groups == 0 || stride.contains(&0) || dilation.contains(&0) {
            return Err(arg_err(
                op,
                format!("stride {stride:?}, dilation {dilation:?} and groups {groups} must be positive"),
            ));
        }
        if x[1] != w[0] || !w[0].is_multiple_of(groups) {
            return Err(shape_err(op, format!("input {x:?} with groups = {groups} needs a weight [{}, C_out/groups, kH, kW] with {} divisible by groups, got weight {w:?}", x[1], x[1])));
        }
        for i in 0..2 {
            if output_padding[i] >= stride[i] && output_padding[i] >= dilation[i] {
                return Err(arg_err(op, format!("output padding {output_padding:?} must be smaller than either stride {stride:?} or dilation {dilation:?}")));
            }
        }
        let size = |i: usize| -> Result<usize> {
            let full = (x[2 + i].max(1) - 1) * stride[i] + dilation[i] * (w[2 + i].max(1) - 1) + output_padding[i] + 1;
            full.checked_sub(2 * padding[i]).filter(|&s| s > 0 && x[2 + i] > 0).ok_or_else(|| {
                shape_err(op, format!("input {x:?} with weight {w:?}, stride {stride:?}, padding {padding:?} and dilation {dilation:?} gives an empty output"))
            })
        };
        let out_shape = [x[0], w[1] * groups, size(0)?, size(1)?];
        let out = self.backward_input_op(
            op,
            weight,
            &out_shape,
            &Conv2dParams::new(stride, padding, dilation, groups),
        )?;
        match bias {
            None => Ok(out),
            Some(b) if b.shape() == [out_shape[1]] => out.add(&b.reshape(&[1, -1, 1, 1])?),
            Some(b) => Err(shape_err(
                op,
                format!(
                    "expected a bias of shape [{}] for weight {w:?} and groups = {groups}, got {:?}",
                    out_shape[1],
                    b.shape()
                ),
            )),
        }
    }

    /// Transposed 1-D convolution (PyTorch's `F.conv_transpose1d`): input `[N, C_in, L]` (or
    /// `[C_in, L]`), weight `[C_in, C_out/groups, k]`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[[1.0f32, 2.0]]]);
    /// let y = x.conv_transpose1d(&Tensor::new(&[[[1.0f32, 1.0]]]), None, 1, 0, 0, 1, 1).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 2.0]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
        output_padding: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        if !(self.ndim() == 2 || self.ndim() == 3) || weight.ndim() != 3 {
            return Err(shape_err(
                "conv_transpose1d",
                format!("expected a 2-D or 3-D input and a 3-D weight [C_in, C_out/groups, k], got input {:?} and weight {:?}", self.shape(), weight.shape()),
            ));
        }
        self.unsqueeze(-2)?
            .conv_transpose2d(
                &weight.unsqueeze(-2)?,
                bias,
                [1, stride],
                [0, padding],
                [0, output_padding],
                [1, dilation],
                groups,
            )?
            .squeeze(-2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{gradcheck, gradgradcheck};
    use crate::rng::Generator;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        Tensor::randn_with(shape, &mut Generator::new(seed))
            .to_dtype(DType::F64)
            .unwrap()
    }

    fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
        assert_eq!(a.shape(), b.shape());
        let (x, y) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            assert!((p - q).abs() <= tol * (1.0 + q.abs()), "element {i}: {p} vs {q}");
        }
    }

    /// Direct convolution from the definition, in f64.
    fn naive_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, p: &Conv2dParams) -> Tensor {
        let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
        let (xv, wv) = (x.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
        let bv = b.map(|b| b.to_vec::<f64>().unwrap());
        let (n, h, wd, co, cig, kh, kw) = (xs[0], xs[2], xs[3], ws[0], ws[1], ws[2], ws[3]);
        let out = |a: usize| {
            (xs[2 + a] + p.pad_begin[a] + p.pad_end[a] - p.dilation[a] * (ws[2 + a] - 1) - 1) / p.stride[a] + 1
        };
        let (oh, ow) = (out(0), out(1));
        let cog = co / p.groups;
        let mut y = vec![0.0; n * co * oh * ow];
        for s in 0..n {
            for o in 0..co {
                let grp = o / cog;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bv.as_ref().map_or(0.0, |b| b[o]);
                        for c in 0..cig {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * p.stride[0] + i * p.dilation[0]) as isize - p.pad_begin[0] as isize;
                                    let ix = (ox * p.stride[1] + j * p.dilation[1]) as isize - p.pad_begin[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((s * xs[1] + grp * cig + c) * h + iy as usize) * wd + ix as usize;
                                    acc += xv[xi] * wv[((o * cig + c) * kh + i) * kw + j];
                                }
                            }
                        }
                        y[((s * co + o) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        Tensor::from_vec(y, &[n, co, oh, ow]).unwrap()
    }

    /// Direct transposed convolution: every input scatters `x * w` into the output.
    #[allow(clippy::too_many_arguments)]
    fn naive_conv_transpose(
        x: &Tensor,
        w: &Tensor,
        stride: [usize; 2],
        pad: [usize; 2],
        out_pad: [usize; 2],
        dil: [usize; 2],
        groups: usize,
    ) -> Tensor {
        let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
        let (xv, wv) = (x.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
        let (n, ci, h, wd, cog, kh, kw) = (xs[0], xs[1], xs[2], xs[3], ws[1], ws[2], ws[3]);
        let size = |a: usize| (xs[2 + a] - 1) * stride[a] + dil[a] * (ws[2 + a] - 1) + out_pad[a] + 1 - 2 * pad[a];
        let (oh, ow, co) = (size(0), size(1), cog * groups);
        let cig = ci / groups;
        let mut y = vec![0.0; n * co * oh * ow];
        for s in 0..n {
            for c in 0..ci {
                for iy in 0..h {
                    for ix in 0..wd {
                        for og in 0..cog {
                            let o = (c / cig) * cog + og;
                            for i in 0..kh {
                                for j in 0..kw {
                                    let yy = (iy * stride[0] + i * dil[0]) as isize - pad[0] as isize;
                                    let yx = (ix * stride[1] + j * dil[1]) as isize - pad[1] as isize;
                                    if yy < 0 || yx < 0 || yy >= oh as isize || yx >= ow as isize {
                                        continue;
                                    }
                                    y[((s * co + o) * oh + yy as usize) * ow + yx as usize] +=
                                        xv[((s * ci + c) * h + iy) * wd + ix] * wv[((c * cog + og) * kh + i) * kw + j];
                                }
                            }
                        }
                    }
                }
            }
        }
        Tensor::from_vec(y, &[n, co, oh, ow]).unwrap()
    }

    /// (input shape, weight shape, params) covering stride, padding, dilation and groups.
    fn configs() -> Vec<([usize; 4], [usize; 4], Conv2dParams)> {
        let p = Conv2dParams::new;
        vec![
            ([2, 3, 7, 6], [4, 3, 3, 3], p([1, 1], [0, 0], [1, 1], 1)),
            ([2, 3, 7, 6], [4, 3, 3, 2], p([2, 1], [1, 2], [1, 1], 1)),
            ([1, 2, 9, 8], [3, 2, 3, 3], p([1, 2], [2, 1], [2, 3], 1)),
            ([2, 4, 6, 6], [6, 2, 3, 3], p([1, 1], [1, 1], [1, 1], 2)),
            ([2, 4, 5, 7], [4, 1, 3, 3], p([2, 2], [1, 1], [1, 1], 4)),
            ([3, 4, 5, 5], [8, 4, 1, 1], p([1, 1], [0, 0], [1, 1], 1)),
            ([2, 2, 5, 5], [3, 2, 1, 1], p([2, 2], [1, 0], [1, 1], 1)),
            ([1, 1, 4, 4], [2, 1, 4, 4], p([1, 1], [0, 0], [1, 1], 1)),
            (
                [1, 1, 3, 3],
                [1, 1, 2, 2],
                Conv2dParams {
                    pad_begin: [0, 1],
                    pad_end: [1, 0],
                    ..Conv2dParams::default()
                },
            ),
            // large enough to split the batch over threads
            ([6, 3, 16, 16], [8, 3, 3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            ([6, 8, 12, 12], [8, 2, 3, 3], p([1, 1], [1, 1], [1, 1], 4)),
            // one large sample: the forward splits its output positions over two threads
            // (cut mid-row), the backward products their rows
            ([1, 16, 32, 32], [32, 16, 3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            ([1, 8, 20, 19], [16, 8, 3, 3], p([2, 1], [1, 2], [1, 2], 1)),
            ([1, 8, 20, 20], [16, 4, 3, 3], p([1, 1], [1, 1], [1, 1], 2)),
            ([1, 32, 20, 20], [32, 32, 1, 1], p([1, 1], [0, 0], [1, 1], 1)),
            ([1, 32, 13, 13], [64, 32, 3, 3], p([1, 1], [0, 0], [1, 1], 1)),
        ]
    }

    #[test]
    fn conv2d_matches_direct_convolution() {
        // two threads, so the split paths run whatever the machine
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(conv2d_matches_direct_convolution_here);
    }

    fn conv2d_matches_direct_convolution_here() {
        for (i, (xs, ws, p)) in configs().into_iter().enumerate() {
            let (x, w, b) = (
                rand(&xs, i as u64),
                rand(&ws, 100 + i as u64),
                rand(&[ws[0]], 200 + i as u64),
            );
            let y = x.conv2d_with(&w, Some(&b), &p).unwrap();
            assert_close(&y, &naive_conv(&x, &w, Some(&b), &p), 1e-12);
            let y = x.conv2d_with(&w, None, &p).unwrap();
            assert_close(&y, &naive_conv(&x, &w, None, &p), 1e-12);
            // f32 agrees with f64 to f32 precision
            let y32 = x
                .to_dtype(DType::F32)
                .unwrap()
                .conv2d_with(&w.to_dtype(DType::F32).unwrap(), None, &p)
                .unwrap();
            assert_eq!(y32.dtype(), DType::F32);
            assert_close(&y32, &y, 1e-4);
            // the backward kernels are the adjoints: <conv(x, w), g> = <x, B_in(g, w)> = <w, B_w(g, x)>
            let g = rand(y.shape(), 300 + i as u64);
            let dot = |a: &Tensor, b: &Tensor| a.mul(b).unwrap().sum_all().item().unwrap();
            let lhs = dot(&y, &g);
            let gx = g.conv2d_backward_input(&w, &xs, &p).unwrap();
            let gw = g.conv2d_backward_weight(&x, &ws, &p).unwrap();
            assert!((dot(&x, &gx) - lhs).abs() < 1e-9 * (1.0 + lhs.abs()), "config {i}");
            assert!((dot(&w, &gw) - lhs).abs() < 1e-9 * (1.0 + lhs.abs()), "config {i}");
        }
    }

    #[test]
    fn padding_same_matches_pytorch_split() {
        // odd total padding (even kernel): the extra zero row/column goes after
        for (k, d) in [(3, 1), (4, 1), (2, 3), (4, 2)] {
            let x = rand(&[1, 2, 6, 7], 1);
            let w = rand(&[3, 2, k, k], 2);
            let y = x.conv2d(&w, None, [1, 1], Padding2d::Same, [d, d], 1).unwrap();
            assert_eq!(y.shape(), &[1, 3, 6, 7]);
            let total = d * (k - 1);
            let p = Conv2dParams {
                pad_begin: [total / 2; 2],
                pad_end: [total - total / 2; 2],
                dilation: [d, d],
                ..Conv2dParams::default()
            };
            assert_close(&y, &naive_conv(&x, &w, None, &p), 1e-12);
        }
        let x = rand(&[1, 2, 6, 7], 1);
        let y = x
            .conv2d(&rand(&[3, 2, 3, 3], 2), None, [1, 1], Padding2d::Valid, [1, 1], 1)
            .unwrap();
        assert_eq!(y.shape(), &[1, 3, 4, 5]);
    }

    #[test]
    fn unbatched_and_strided_inputs() {
        let x = rand(&[2, 3, 6, 5], 3);
        let w = rand(&[4, 3, 3, 3], 4);
        let want = x.conv2d_simple(&w, None, 1, 1).unwrap();
        let one = x.select(0, 1).unwrap().conv2d_simple(&w, None, 1, 1).unwrap();
        assert_close(&one, &want.select(0, 1).unwrap(), 1e-12);
        // a permuted (non-contiguous) view of the same input
        let xt = x
            .permute(&[0, 1, 3, 2])
            .unwrap()
            .contiguous()
            .permute(&[0, 1, 3, 2])
            .unwrap();
        assert!(!xt.is_contiguous());
        assert_close(&xt.conv2d_simple(&w, None, 1, 1).unwrap(), &want, 1e-12);
    }

    #[test]
    fn half_precision_computes_in_f32() {
        let x = rand(&[2, 3, 6, 6], 5);
        let w = rand(&[4, 3, 3, 3], 6);
        let want = x.conv2d_simple(&w, None, 1, 0).unwrap();
        for dt in [DType::F16, DType::BF16] {
            let y = x
                .to_dtype(dt)
                .unwrap()
                .conv2d_simple(&w.to_dtype(dt).unwrap(), None, 1, 0)
                .unwrap();
            assert_eq!(y.dtype(), dt);
            let tol = if dt == DType::F16 { 2e-2 } else { 1e-1 };
            assert_close(&y, &want, tol);
        }
    }

    #[test]
    fn conv1d_matches_direct_convolution() {
        let x = rand(&[2, 4, 11], 7);
        let w = rand(&[6, 2, 3], 8);
        let b = rand(&[6], 9);
        let y = x.conv1d(&w, Some(&b), 2, Padding1d::Explicit(2), 2, 2).unwrap();
        let p = Conv2dParams::new([1, 2], [0, 2], [1, 2], 2);
        let want = naive_conv(&x.unsqueeze(2).unwrap(), &w.unsqueeze(2).unwrap(), Some(&b), &p)
            .squeeze(2)
            .unwrap();
        assert_close(&y, &want, 1e-12);
        let same = x.conv1d(&w, None, 1, Padding1d::Same, 1, 2).unwrap();
        assert_eq!(same.shape(), &[2, 6, 11]);
        let unbatched = x
            .select(0, 0)
            .unwrap()
            .conv1d(&w, None, 1, Padding1d::Valid, 1, 2)
            .unwrap();
        assert_eq!(unbatched.shape(), &[6, 9]);
    }

    #[test]
    fn conv_transpose_matches_direct_definition() {
        type Case = (
            [usize; 4],
            [usize; 4],
            [usize; 2],
            [usize; 2],
            [usize; 2],
            [usize; 2],
            usize,
        );
        let cases: Vec<Case> = vec![
            ([2, 3, 4, 5], [3, 2, 3, 3], [1, 1], [0, 0], [0, 0], [1, 1], 1),
            ([2, 3, 4, 5], [3, 2, 3, 2], [2, 3], [1, 0], [1, 2], [1, 1], 1),
            ([1, 4, 3, 3], [4, 3, 3, 3], [2, 2], [1, 1], [1, 0], [2, 1], 2),
            // output_padding >= stride is allowed when smaller than the dilation
            ([1, 2, 3, 4], [2, 2, 2, 2], [1, 1], [0, 0], [1, 1], [2, 2], 1),
        ];
        for (i, (xs, ws, s, p, op, d, g)) in cases.into_iter().enumerate() {
            let (x, w, b) = (
                rand(&xs, 20 + i as u64),
                rand(&ws, 30 + i as u64),
                rand(&[ws[1] * g], 40),
            );
            let y = x.conv_transpose2d(&w, Some(&b), s, p, op, d, g).unwrap();
            let want = naive_conv_transpose(&x, &w, s, p, op, d, g)
                .add(&b.reshape(&[1, -1, 1, 1]).unwrap())
                .unwrap();
            assert_close(&y, &want, 1e-12);
            assert_eq!(y.grad_fn_name(), None);
        }
        let x = rand(&[2, 3, 5], 50);
        let w = rand(&[3, 2, 3], 51);
        let y = x.conv_transpose1d(&w, None, 2, 1, 1, 1, 1).unwrap();
        let want = naive_conv_transpose(
            &x.unsqueeze(2).unwrap(),
            &w.unsqueeze(2).unwrap(),
            [1, 2],
            [0, 1],
            [0, 1],
            [1, 1],
            1,
        );
        assert_close(&y, &want.squeeze(2).unwrap(), 1e-12);
    }

    #[test]
    fn conv2d_gradients() {
        for (i, (xs, ws, p)) in configs().into_iter().enumerate().filter(|(i, _)| *i < 9) {
            let inputs = [rand(&xs, i as u64), rand(&ws, 50 + i as u64), rand(&[ws[0]], 60)];
            let f = move |t: &[Tensor]| t[0].conv2d_with(&t[1], Some(&t[2]), &p);
            gradcheck(&f, &inputs, 1e-6, 1e-7).unwrap_or_else(|e| panic!("config {i}: {e}"));
        }
    }

    #[test]
    fn conv2d_second_order_gradients() {
        let cases = [
            ([2, 2, 5, 5], [3, 2, 3, 3], Conv2dParams::new([1, 1], [1, 1], [1, 1], 1)),
            ([1, 4, 6, 5], [4, 2, 2, 3], Conv2dParams::new([2, 1], [0, 1], [2, 1], 2)),
        ];
        for (xs, ws, p) in cases {
            let inputs = [rand(&xs, 1), rand(&ws, 2), rand(&[ws[0]], 3)];
            let f = move |t: &[Tensor]| t[0].conv2d_with(&t[1], Some(&t[2]), &p);
            gradgradcheck(&f, &inputs, 1e-6, 1e-7).unwrap();
            // the backward ops on their own, through their own gradients
            let gy = rand(&[xs[0], ws[0], 0, 0], 4);
            let out = inputs[0].conv2d_with(&inputs[1], None, &p).unwrap();
            let gy = if gy.numel() == 0 { rand(out.shape(), 4) } else { gy };
            let bi = move |t: &[Tensor]| t[0].conv2d_backward_input(&t[1], &xs, &p);
            gradgradcheck(&bi, &[gy.clone(), inputs[1].clone()], 1e-6, 1e-7).unwrap();
            let bw = move |t: &[Tensor]| t[0].conv2d_backward_weight(&t[1], &ws, &p);
            gradgradcheck(&bw, &[gy, inputs[0].clone()], 1e-6, 1e-7).unwrap();
        }
    }

    #[test]
    fn conv_transpose_and_conv1d_gradients() {
        let f = |t: &[Tensor]| t[0].conv_transpose2d(&t[1], Some(&t[2]), [2, 2], [1, 0], [1, 1], [1, 1], 1);
        gradcheck(
            &f,
            &[rand(&[2, 3, 3, 4], 1), rand(&[3, 2, 3, 3], 2), rand(&[2], 3)],
            1e-6,
            1e-7,
        )
        .unwrap();
        let f = |t: &[Tensor]| t[0].conv_transpose2d(&t[1], None, [1, 1], [0, 0], [1, 1], [2, 2], 2);
        gradgradcheck(&f, &[rand(&[1, 4, 3, 3], 4), rand(&[4, 1, 2, 2], 5)], 1e-6, 1e-7).unwrap();
        let f = |t: &[Tensor]| t[0].conv1d(&t[1], Some(&t[2]), 2, Padding1d::Explicit(1), 1, 1);
        gradcheck(
            &f,
            &[rand(&[2, 3, 9], 6), rand(&[4, 3, 3], 7), rand(&[4], 8)],
            1e-6,
            1e-7,
        )
        .unwrap();
    }

    #[test]
    fn only_requested_gradients_are_computed() {
        let x = rand(&[2, 3, 5, 5], 1);
        let w = rand(&[4, 3, 3, 3], 2).requires_grad_(true);
        let y = x.conv2d_simple(&w, None, 1, 1).unwrap();
        y.sum_all().backward().unwrap();
        assert!(x.grad().is_none());
        assert_eq!(w.grad().unwrap().shape(), &[4, 3, 3, 3]);
        assert_eq!(y.grad_fn_name(), Some("conv2d"));
    }

    #[test]
    fn bad_arguments_are_errors_naming_the_op() {
        let x = rand(&[2, 3, 5, 5], 1);
        let w = rand(&[4, 3, 3, 3], 2);
        let err = |r: Result<Tensor>| r.unwrap_err().to_string();
        assert!(err(x.reshape(&[30, 5]).unwrap().conv2d_simple(&w, None, 1, 0)).contains("conv2d"));
        assert!(err(x.conv2d_simple(&w.reshape(&[4, 27]).unwrap(), None, 1, 0)).contains("4-D weight"));
        let e = err(x.conv2d_simple(&rand(&[4, 2, 3, 3], 3), None, 1, 0));
        assert!(
            e.contains("conv2d") && e.contains("[2, 3, 5, 5]") && e.contains("[4, 2, 3, 3]"),
            "{e}"
        );
        assert!(err(x.conv2d(&rand(&[4, 1, 3, 3], 3), None, [1, 1], Padding2d::Valid, [1, 1], 2)).contains("groups"));
        let e = err(x.conv2d_simple(&rand(&[4, 3, 6, 6], 3), None, 1, 0));
        assert!(e.contains("smaller than the (dilated) kernel"), "{e}");
        assert!(x.conv2d_simple(&rand(&[4, 3, 6, 6], 3), None, 1, 1).is_ok());
        assert!(err(x.conv2d_simple(&w, None, 0, 0)).contains("stride"));
        assert!(err(x.conv2d(&w, None, [2, 2], Padding2d::Same, [1, 1], 1)).contains("same"));
        assert!(err(x.conv2d_simple(&w, Some(&rand(&[3], 4)), 1, 0)).contains("bias"));
        assert!(err(x.conv2d_simple(&w.to_dtype(DType::F32).unwrap(), None, 1, 0)).contains("dtype"));
        let xi = Tensor::zeros_dtype(&[1, 1, 3, 3], DType::I64).unwrap();
        assert!(xi
            .conv2d_simple(&Tensor::zeros_dtype(&[1, 1, 1, 1], DType::I64).unwrap(), None, 1, 0)
            .is_err());
        assert!(err(x.conv1d(&w, None, 1, Padding1d::Valid, 1, 1)).contains("conv1d"));
        let e = err(x.conv_transpose2d(&rand(&[4, 2, 3, 3], 5), None, [1, 1], [0, 0], [0, 0], [1, 1], 1));
        assert!(e.contains("conv_transpose2d"), "{e}");
        let e = err(x.conv_transpose2d(&rand(&[3, 2, 3, 3], 5), None, [2, 2], [0, 0], [2, 0], [1, 1], 1));
        assert!(e.contains("output padding"), "{e}");
        let e = err(rand(&[1, 3, 4, 4], 0).conv2d_backward_input(&w, &[1, 3, 4, 4], &Conv2dParams::default()));
        assert!(e.contains("conv2d_backward_input"), "{e}");
    }
}
