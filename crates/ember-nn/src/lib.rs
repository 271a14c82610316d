//! ember-nn: PyTorch's `torch.nn` for ember — the [`Module`] trait, layers with PyTorch's
//! parameter names and default initializations, [`functional`] ops, [`init`] schemes and
//! [`loss`] modules.
//!
//! A PyTorch model ports line by line, and its safetensors `state_dict` loads by name:
//!
//! ```
//! use ember_core::Tensor;
//! use ember_nn::{Linear, Module, ReLU, Sequential};
//! let model = Sequential::new().add(Linear::new(784, 128)).add(ReLU).add(Linear::new(128, 10));
//! assert_eq!(model.num_parameters(), 784 * 128 + 128 + 128 * 10 + 10);
//! let logits = model.forward(&Tensor::randn(&[32, 784])).unwrap();
//! assert_eq!(logits.shape(), &[32, 10]);
//! ```

pub mod functional;
pub mod init;
pub mod layers;
pub mod loss;
pub mod module;
mod parameter;
pub mod state;
mod summary;

pub use layers::activation::{
    LeakyReLU, LogSigmoid, LogSoftmax, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU,
};
pub use layers::attention::{AttentionMasks, MultiheadAttention};
pub use layers::container::{ModuleList, Sequential};
pub use layers::conv::{Conv1d, Conv2d, ConvOptions, ConvTranspose2d};
pub use layers::dropout::{Dropout, TrainFlag};
pub use layers::embedding::Embedding;
pub use layers::linear::{Bilinear, Flatten, Identity, Linear};
pub use layers::norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormOptions, GroupNorm, LayerNorm, RMSNorm};
pub use layers::pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use layers::rnn::{RnnBase, RnnKind, RnnOptions, GRU, LSTM, RNN};
pub use layers::transformer::{
    Activation, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
    TransformerMasks, TransformerOptions,
};
pub use module::{walk, Entry, Module, Visitor};
pub use parameter::{Buffer, Parameter};
pub use state::LoadReport;
