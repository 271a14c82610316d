//! ember-core: tensors, dtypes, shapes, devices, storage, the op table and autograd.
//!
//! ```
//! use ember_core::Tensor;
//! let x = Tensor::new(&[[1.0f32, -2.0], [3.0, 4.0]]).requires_grad_(true);
//! let y = x.relu().unwrap().sum_all();
//! y.backward().unwrap();
//! assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 0.0, 1.0, 1.0]);
//! ```

pub mod alloc;
pub mod amp;
pub mod autograd;
pub mod cpu;
pub mod cuda;
pub mod device;
mod display;
pub mod dtype;
pub mod error;
pub mod io;
pub mod ops;
pub mod raw;
pub mod rng;
pub mod shape;
pub mod storage;
pub mod tensor;

pub use autograd::{enable_grad, is_grad_enabled, no_grad};
pub use device::Device;
pub use dtype::DType;
pub use error::{Error, Result};
pub use io::{load, save};
pub use ops::view::{s, SliceArg};
pub use rng::{manual_seed, Generator};
pub use tensor::Tensor;
