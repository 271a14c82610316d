//! Error constructors for data loading: file problems name the file, argument problems name
//! the function.

use ember_core::Error;
use std::path::Path;

/// An error about a file (unreadable, corrupt, truncated, ...): the message names the file.
pub(crate) fn file_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// An invalid argument to a data function.
pub(crate) fn arg_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Arg { op, msg: msg.into() }
}

/// Mix a seed with stream numbers (epoch, sample index, ...) into a new seed, so that each
/// (seed, epoch, index) gets its own independent random stream whatever thread computes it.
pub(crate) fn mix_seed(seed: u64, streams: &[u64]) -> u64 {
    let mut h = seed ^ 0x243F_6A88_85A3_08D3;
    for &s in streams {
        h = (h ^ s).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 32;
    }
    h
}
