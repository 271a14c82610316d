//! Convolution layers: `Conv1d`, `Conv2d`, `ConvTranspose2d`.

use crate::functional::{self as F, Pair};
use crate::init;
use crate::module::{Module, Visitor};
use crate::parameter::Parameter;
use ember_core::{Error, Result, Tensor};

/// Options of the convolution layers, with PyTorch's defaults (stride 1, no padding, no
/// dilation, one group, a bias).
///
/// ```
/// use ember_nn::ConvOptions;
/// let o = ConvOptions::default().stride(2).padding(1);
/// assert_eq!((o.stride.0, o.padding.1, o.groups), (2, 1, 1));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConvOptions {
    pub stride: Pair,
    pub padding: Pair,
    pub dilation: Pair,
    /// Extra size on one side of a transposed conv's output.
    pub output_padding: Pair,
    pub groups: usize,
    pub bias: bool,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            stride: Pair(1, 1),
            padding: Pair(0, 0),
            dilation: Pair(1, 1),
            output_padding: Pair(0, 0),
            groups: 1,
            bias: true,
        }
    }
}

impl ConvOptions {
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    pub fn output_padding(mut self, p: impl Into<Pair>) -> Self {
        self.output_padding = p.into();
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

/// A weight of `shape` with PyTorch's conv init (kaiming_uniform(a = sqrt 5)) and its bias
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
fn conv_params(shape: &[usize], out_channels: usize, bias: bool) -> Result<(Parameter, Option<Parameter>)> {
    let w = Tensor::zeros(shape);
    let (fan_in, _) = init::calculate_fan_in_and_fan_out(&w)?;
    if w.numel() > 0 {
        init::default_weight_(&w)?;
    }
    let b = if bias {
        let b = Tensor::zeros(&[out_channels]);
        init::default_bias_(&b, fan_in)?;
        Some(Parameter::new(b))
    } else {
        None
    };
    Ok((Parameter::new(w), b))
}

fn check_groups(op: &'static str, cin: usize, cout: usize, groups: usize) -> Result<()> {
    if groups == 0 || !cin.is_multiple_of(groups) || !cout.is_multiple_of(groups) {
        return Err(Error::Arg {
            op,
            msg: format!("in_channels ({cin}) and out_channels ({cout}) must be divisible by groups ({groups})"),
        });
    }
    Ok(())
}

fn visit_wb(v: &mut dyn Visitor, w: &Parameter, b: &Option<Parameter>) {
    v.param("weight", w);
    if let Some(b) = b {
        v.param("bias", b);
    }
}

/// `torch.nn.Conv2d`: weight `[out, in / groups, kh, kw]`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Conv2d, ConvOptions, Module};
/// let c = Conv2d::with(3, 8, 3, ConvOptions::default().padding(1)).unwrap();
/// assert_eq!(c.forward(&Tensor::ones(&[2, 3, 5, 5])).unwrap().shape(), &[2, 8, 5, 5]);
/// ```
pub struct Conv2d {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    opts: ConvOptions,
}

impl Conv2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Result<Conv2d> {
        Conv2d::with(in_channels, out_channels, kernel_size, ConvOptions::default())
    }

    pub fn with(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Pair>,
        opts: ConvOptions,
    ) -> Result<Conv2d> {
        check_groups("Conv2d", in_channels, out_channels, opts.groups)?;
        let k = kernel_size.into();
        let (weight, bias) = conv_params(
            &[out_channels, in_channels / opts.groups, k.0, k.1],
            out_channels,
            opts.bias,
        )?;
        Ok(Conv2d { weight, bias, opts })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        let o = &self.opts;
        if x.ndim() == 3 {
            return F::conv2d(
                &x.unsqueeze(0)?,
                &self.weight.tensor(),
                b.as_ref(),
                o.stride,
                o.padding,
                o.dilation,
                o.groups,
            )?
            .squeeze(0);
        }
        F::conv2d(
            x,
            &self.weight.tensor(),
            b.as_ref(),
            o.stride,
            o.padding,
            o.dilation,
            o.groups,
        )
    }
    fn visit(&self, v: &mut dyn Visitor) {
        visit_wb(v, &self.weight, &self.bias);
    }
}

/// `torch.nn.Conv1d`: weight `[out, in / groups, k]` (the first component of each option pair
/// is ignored: a `usize` option sets both).
pub struct Conv1d {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    opts: ConvOptions,
}

impl Conv1d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Result<Conv1d> {
        Conv1d::with(in_channels, out_channels, kernel_size, ConvOptions::default())
    }

    pub fn with(in_channels: usize, out_channels: usize, kernel_size: usize, opts: ConvOptions) -> Result<Conv1d> {
        check_groups("Conv1d", in_channels, out_channels, opts.groups)?;
        let (weight, bias) = conv_params(
            &[out_channels, in_channels / opts.groups, kernel_size],
            out_channels,
            opts.bias,
        )?;
        Ok(Conv1d { weight, bias, opts })
    }
}

impl Module for Conv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        let o = &self.opts;
        if x.ndim() == 2 {
            return F::conv1d(
                &x.unsqueeze(0)?,
                &self.weight.tensor(),
                b.as_ref(),
                o.stride.1,
                o.padding.1,
                o.dilation.1,
                o.groups,
            )?
            .squeeze(0);
        }
        F::conv1d(
            x,
            &self.weight.tensor(),
            b.as_ref(),
            o.stride.1,
            o.padding.1,
            o.dilation.1,
            o.groups,
        )
    }
    fn visit(&self, v: &mut dyn Visitor) {
        visit_wb(v, &self.weight, &self.bias);
    }
}

/// `torch.nn.ConvTranspose2d`: weight `[in, out / groups, kh, kw]`.
pub struct ConvTranspose2d {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    opts: ConvOptions,
}

impl ConvTranspose2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Result<ConvTranspose2d> {
        ConvTranspose2d::with(in_channels, out_channels, kernel_size, ConvOptions::default())
    }

    pub fn with(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Pair>,
        opts: ConvOptions,
    ) -> Result<ConvTranspose2d> {
        check_groups("ConvTranspose2d", in_channels, out_channels, opts.groups)?;
        let k = kernel_size.into();
        let (weight, bias) = conv_params(
            &[in_channels, out_channels / opts.groups, k.0, k.1],
            out_channels,
            opts.bias,
        )?;
        Ok(ConvTranspose2d { weight, bias, opts })
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(|b| b.tensor());
        let o = &self.opts;
        let run = |x: &Tensor| {
            F::conv_transpose2d(
                x,
                &self.weight.tensor(),
                b.as_ref(),
                o.stride,
                o.padding,
                o.output_padding,
                o.groups,
                o.dilation,
            )
        };
        if x.ndim() == 3 {
            return run(&x.unsqueeze(0)?)?.squeeze(0);
        }
        run(x)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        visit_wb(v, &self.weight, &self.bias);
    }
}
