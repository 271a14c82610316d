//! The models of WORKLOADS.md, built with ember-nn exactly as the PyTorch anchors build them.

use ember_core::{Result, Tensor};
use ember_nn::functional::max_pool2d;
use ember_nn::{Conv2d, Linear, Module, ReLU, Sequential, Visitor};

/// W4's MLP: 784-512-256-10 with ReLU.
pub fn mlp() -> Sequential {
    Sequential::new()
        .add(Linear::new(784, 512))
        .add(ReLU)
        .add(Linear::new(512, 256))
        .add(ReLU)
        .add(Linear::new(256, 10))
}

/// W5's CNN: conv(1->32,3x3)-relu-maxpool2-conv(32->64,3x3)-relu-maxpool2-fc(1600->128)-relu-fc(128->10).
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    pub fn new() -> Result<Cnn> {
        Ok(Cnn {
            conv1: Conv2d::new(1, 32, 3)?,
            conv2: Conv2d::new(32, 64, 3)?,
            fc1: Linear::new(1600, 128),
            fc2: Linear::new(128, 10),
        })
    }
}

impl Module for Cnn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = max_pool2d(&self.conv1.forward(x)?.relu()?, 2, None, 0, 1, false)?;
        let x = max_pool2d(&self.conv2.forward(&x)?.relu()?, 2, None, 0, 1, false)?;
        let x = self.fc1.forward(&x.flatten(1, -1)?)?.relu()?;
        self.fc2.forward(&x)
    }

    fn visit(&self, v: &mut dyn Visitor) {
        v.module("conv1", &self.conv1);
        v.module("conv2", &self.conv2);
        v.module("fc1", &self.fc1);
        v.module("fc2", &self.fc2);
    }
}
