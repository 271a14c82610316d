//! Stateless functions mirroring `torch.nn.functional`: what the layers compute, callable
//! directly with explicit weights.
//!
//! ```
//! use ember_core::Tensor;
//! use ember_nn::functional as F;
//! let x = Tensor::new(&[[1.0f32, -1.0], [0.5, 2.0]]);
//! let logits = F::relu(&x).unwrap();
//! let loss = F::cross_entropy(&logits, &Tensor::new(&[0i64, 1]), &Default::default()).unwrap();
//! assert!(loss.item().unwrap() > 0.0);
//! ```

mod activation;
mod attention;
mod conv;
mod dropout;
mod embedding;
mod index;
mod linear;
mod loss;
mod norm;
mod pool;
mod rnn;

pub use activation::{
    elu, gelu, hardtanh, leaky_relu, log_softmax, logsigmoid, relu, relu6, sigmoid, silu, softmax, softmin, softplus,
    tanh, GeluApprox,
};
pub(crate) use attention::attention_weights;
pub use attention::{causal_mask, scaled_dot_product_attention};
pub use conv::{conv1d, conv2d, conv_transpose2d, Pair};
pub use dropout::dropout;
pub use embedding::embedding;
pub use index::one_hot;
pub use linear::{bilinear, linear};
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, cross_entropy, huber_loss, kl_div,
    l1_loss, margin_ranking_loss, mse_loss, nll_loss, smooth_l1_loss, CrossEntropyOptions, Reduction,
};
pub use norm::{batch_norm, group_norm, layer_norm, normalize, rms_norm};
pub use pool::{adaptive_avg_pool2d, avg_pool2d, max_pool2d};
pub use rnn::{lstm_cell, lstm_sequence};
