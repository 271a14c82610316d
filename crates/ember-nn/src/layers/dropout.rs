//! `Dropout` and the training flag shared by mode-dependent layers.

use crate::functional as F;
use crate::module::Module;
use ember_core::{Error, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

/// A module's training flag (true on construction, as in PyTorch).
#[derive(Debug)]
pub struct TrainFlag(AtomicBool);

impl Default for TrainFlag {
    fn default() -> Self {
        TrainFlag(AtomicBool::new(true))
    }
}

impl TrainFlag {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed)
    }
}

/// Zeroes elements with probability `p` during training and scales the rest by `1 / (1 - p)`;
/// the identity in eval mode.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::{Dropout, Module};
/// let d = Dropout::new(0.5).unwrap();
/// d.eval();
/// assert_eq!(d.forward(&Tensor::ones(&[4])).unwrap().to_vec::<f32>().unwrap(), vec![1.0; 4]);
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    training: TrainFlag,
}

impl Dropout {
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::Arg {
                op: "Dropout",
                msg: format!("dropout probability has to be between 0 and 1, but got {p}"),
            });
        }
        Ok(Dropout {
            p,
            training: TrainFlag::default(),
        })
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::dropout(x, self.p, self.training.get())
    }
    fn set_own_training(&self, training: bool) {
        self.training.set(training);
    }
    fn own_training(&self) -> Option<bool> {
        Some(self.training.get())
    }
    fn extra_repr(&self) -> String {
        format!("p={}", self.p)
    }
}
