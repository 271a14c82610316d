//! ember: a deep learning framework for Rust — PyTorch's eager ease with autograd, fast on the CPU.
//!
//! ```
//! use ember::prelude::*;
//! let x = Tensor::randn(&[4, 3]).requires_grad_(true);
//! let w = Tensor::randn(&[3, 2]).requires_grad_(true);
//! let loss = x.matmul(&w).unwrap().tanh().unwrap().sum_all();
//! loss.backward().unwrap();
//! assert_eq!(w.grad().unwrap().shape(), &[3, 2]);
//! ```

pub use ember_core as core;
/// `ember::cuda::synchronize`, memory statistics, `set_allow_tf32` (present in every build).
pub use ember_core::cuda;
pub use ember_core::{autograd, io, load, manual_seed, no_grad, save, DType, Device, Error, Generator, Result, Tensor};

/// Everything a typical program needs: `use ember::prelude::*;`
pub mod prelude {
    pub use ember_core::ops::view::{s, SliceArg};
    pub use ember_core::{manual_seed, no_grad, DType, Device, Error, Result, Tensor};
}
