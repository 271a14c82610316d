//! Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`.

use crate::functional::{self as F, Pair};
use crate::module::Module;
use ember_core::{Result, Tensor};

/// `torch.nn.MaxPool2d`; `stride` defaults to the kernel size.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    pub kernel_size: Pair,
    pub stride: Pair,
    pub padding: Pair,
    pub dilation: Pair,
    pub ceil_mode: bool,
}

impl MaxPool2d {
    pub fn new(kernel_size: impl Into<Pair>) -> MaxPool2d {
        let k = kernel_size.into();
        MaxPool2d {
            kernel_size: k,
            stride: k,
            padding: Pair(0, 0),
            dilation: Pair(1, 1),
            ceil_mode: false,
        }
    }
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
    pub fn ceil_mode(mut self, c: bool) -> Self {
        self.ceil_mode = c;
        self
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::max_pool2d(
            x,
            self.kernel_size,
            Some(self.stride),
            self.padding,
            self.dilation,
            self.ceil_mode,
        )
    }
}

/// `torch.nn.AvgPool2d`; `stride` defaults to the kernel size, padding counts in the divisor.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d {
    pub kernel_size: Pair,
    pub stride: Pair,
    pub padding: Pair,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

impl AvgPool2d {
    pub fn new(kernel_size: impl Into<Pair>) -> AvgPool2d {
        let k = kernel_size.into();
        AvgPool2d {
            kernel_size: k,
            stride: k,
            padding: Pair(0, 0),
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    pub fn ceil_mode(mut self, c: bool) -> Self {
        self.ceil_mode = c;
        self
    }
    pub fn count_include_pad(mut self, c: bool) -> Self {
        self.count_include_pad = c;
        self
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::avg_pool2d(
            x,
            self.kernel_size,
            Some(self.stride),
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )
    }
}

/// `torch.nn.AdaptiveAvgPool2d`: average pooling to a fixed output size.
#[derive(Debug, Clone, Copy)]
pub struct AdaptiveAvgPool2d {
    pub output_size: Pair,
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: impl Into<Pair>) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d {
            output_size: output_size.into(),
        }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::adaptive_avg_pool2d(x, self.output_size)
    }
}
