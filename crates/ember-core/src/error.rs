//! Errors are values: every fallible op returns `Result<T, Error>` with a message that names
//! the op and the shapes, dtypes and devices involved.

use std::fmt;

/// The error type of every fallible ember operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Shapes that do not fit together (broadcasting, matmul, cat, reshape, ...).
    Shape { op: &'static str, msg: String },
    /// A dtype the op does not support, or two dtypes that do not fit.
    DType { op: &'static str, msg: String },
    /// A dimension index out of range.
    Dim { op: &'static str, dim: isize, ndim: usize },
    /// An element index out of range (gather, index_select, embedding, ...).
    Index { op: &'static str, msg: String },
    /// Tensors on different devices, or a device that is not available.
    Device { op: &'static str, msg: String },
    /// Autograd misuse: backward twice, modified saved tensors, ...
    Autograd(String),
    /// Reading or writing files (safetensors, datasets, checkpoints).
    Io { path: String, msg: String },
    /// Any other invalid argument.
    Arg { op: &'static str, msg: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { op, msg } => write!(f, "{op}: shape error: {msg}"),
            Error::DType { op, msg } => write!(f, "{op}: dtype error: {msg}"),
            Error::Dim { op, dim, ndim } => write!(
                f,
                "{op}: dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -(*ndim as isize).max(1),
                (*ndim as isize - 1).max(0)
            ),
            Error::Index { op, msg } => write!(f, "{op}: index error: {msg}"),
            Error::Device { op, msg } => write!(f, "{op}: device error: {msg}"),
            Error::Autograd(msg) => write!(f, "autograd: {msg}"),
            Error::Io { path, msg } => write!(f, "{path}: {msg}"),
            Error::Arg { op, msg } => write!(f, "{op}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// Short alias used across ember.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn shape_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Shape { op, msg: msg.into() }
}

pub(crate) fn dtype_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::DType { op, msg: msg.into() }
}

pub(crate) fn arg_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Arg { op, msg: msg.into() }
}

pub(crate) fn index_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Index { op, msg: msg.into() }
}
