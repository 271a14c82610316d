//! What a communication back-end provides: collectives on raw little-endian buffers. The
//! `ProcessGroup` checks shapes and dtypes and hands each back-end only well-formed calls.

use crate::flat::FlatBuffer;
use crate::op::ReduceOp;
use ember_core::{DType, Result};

/// Collectives on byte buffers. `op` is never `Mean` (the group scales a sum).
pub(crate) trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    fn all_reduce(&self, buf: &mut [u8], dtype: DType, op: ReduceOp) -> Result<()>;
    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()>;
    /// `recv` holds world_size blocks of `send.len()` bytes, in rank order.
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()>;
    /// `send` holds world_size blocks of `recv.len()` bytes; rank r receives the reduction of block r.
    fn reduce_scatter(&self, send: &[u8], recv: &mut [u8], dtype: DType, op: ReduceOp) -> Result<()>;
    /// `recv` is `Some` exactly on the root.
    fn gather(&self, send: &[u8], recv: Option<&mut [u8]>, root: usize) -> Result<()>;
    /// `send` is `Some` exactly on the root.
    fn scatter(&self, send: Option<&[u8]>, recv: &mut [u8], root: usize) -> Result<()>;
    fn barrier(&self) -> Result<()>;
    /// Start a sum/max/min all-reduce of an owned buffer and return at once.
    fn start_all_reduce(&self, buf: FlatBuffer, op: ReduceOp) -> Result<Box<dyn Pending>>;
}

/// A non-blocking collective in flight; it owns its buffer until it completes.
pub(crate) trait Pending: Send {
    /// Let the library make progress; true once complete.
    fn test(&mut self) -> Result<bool>;
    /// Block until complete and give the buffer back.
    fn wait(self: Box<Self>) -> Result<FlatBuffer>;
}
