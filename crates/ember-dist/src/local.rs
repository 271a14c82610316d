//! The one-process group: every collective is the identity (or a copy), so code written for
//! N ranks runs unchanged in one process.

use crate::backend::{Backend, Pending};
use crate::flat::FlatBuffer;
use crate::op::ReduceOp;
use ember_core::{DType, Result};

pub(crate) struct Local;

impl Backend for Local {
    fn name(&self) -> &'static str {
        "single-process"
    }
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce(&self, _buf: &mut [u8], _dtype: DType, _op: ReduceOp) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _buf: &mut [u8], _root: usize) -> Result<()> {
        Ok(())
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn reduce_scatter(&self, send: &[u8], recv: &mut [u8], _dtype: DType, _op: ReduceOp) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn gather(&self, send: &[u8], recv: Option<&mut [u8]>, _root: usize) -> Result<()> {
        if let Some(r) = recv {
            r.copy_from_slice(send);
        }
        Ok(())
    }
    fn scatter(&self, send: Option<&[u8]>, recv: &mut [u8], _root: usize) -> Result<()> {
        if let Some(s) = send {
            recv.copy_from_slice(s);
        }
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn start_all_reduce(&self, buf: FlatBuffer, _op: ReduceOp) -> Result<Box<dyn Pending>> {
        Ok(Box::new(Done(buf)))
    }
}

struct Done(FlatBuffer);

impl Pending for Done {
    fn test(&mut self) -> Result<bool> {
        Ok(true)
    }
    fn wait(self: Box<Self>) -> Result<FlatBuffer> {
        Ok(self.0)
    }
}
