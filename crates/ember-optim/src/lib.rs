//! ember-optim: `torch.optim` for ember — optimizers that follow PyTorch's update formulas
//! exactly (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, plus Lion), learning-rate
//! schedulers, and gradient clipping.
//!
//! Optimizers hold handles to the parameters (`model.parameters()`) and update them in place
//! under `no_grad`; contiguous f32 parameters take one fused pass per step.
//!
//! ```
//! use ember_core::Tensor;
//! use ember_optim::{AdamConfig, AdamW, Optimizer};
//! let w = Tensor::randn(&[4, 3]).requires_grad_(true);
//! let mut opt = AdamW::new(vec![w.clone()], AdamConfig::adamw(1e-3)).unwrap();
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     w.square().unwrap().sum_all().backward().unwrap();
//!     opt.step().unwrap();
//! }
//! assert_eq!(opt.state_dict().scalars["state.0.step"], 3.0);
//! ```

mod adagrad;
mod adam;
mod clip;
mod lion;
mod optimizer;
mod rmsprop;
pub mod scheduler;
mod sgd;

pub use adagrad::{Adadelta, AdadeltaConfig, Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use clip::{clip_grad_norm_, clip_grad_value_};
pub use lion::{Lion, LionConfig};
pub use optimizer::{GroupConfig, Optim, OptimState, Optimizer, ParamGroup, ParamState};
pub use rmsprop::{Rmsprop, RmspropConfig};
pub use scheduler::{
    AnnealStrategy, CosineAnnealingLR, ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, PlateauMode,
    ReduceLROnPlateau, StepLR, ThresholdMode,
};
pub use sgd::{Sgd, SgdConfig};
