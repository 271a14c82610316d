//! The layers of `torch.nn`, each with PyTorch's parameter names and default init.

pub mod activation;
pub mod attention;
pub mod container;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod rnn;
pub mod transformer;
