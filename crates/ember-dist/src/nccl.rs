//! The NCCL back-end (feature `cuda`): collectives between GPUs, one process per GPU, through
//! cudarc (dynamically loaded, so it builds without a CUDA toolkit or GPU).
//!
//! ember's tensors live on the CPU in this build, so `NcclGroup` works on cudarc device buffers
//! (`CudaSlice<T>`), in place. The NCCL id is created on rank 0 and handed to the other ranks
//! through an existing [`ProcessGroup`] (MPI), as `torch.distributed` does with its store.
//! Calls are asynchronous on the group's stream; [`NcclGroup::synchronize`] waits for them.

use crate::group::ProcessGroup;
use crate::op::ReduceOp;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use cudarc::nccl::{group_end, group_start, Comm, Id, NcclType};
use ember_core::{Error, Result, Tensor};
use std::sync::Arc;

/// A communicator between the GPUs of a job (rank r of the process group drives one GPU).
pub struct NcclGroup {
    comm: Comm,
    stream: Arc<CudaStream>,
}

fn err(op: &'static str, e: impl std::fmt::Debug) -> Error {
    Error::Device {
        op,
        msg: format!("NCCL / CUDA error: {e:?}"),
    }
}

fn nccl_op(op: ReduceOp) -> cudarc::nccl::ReduceOp {
    match op {
        ReduceOp::Sum => cudarc::nccl::ReduceOp::Sum,
        ReduceOp::Mean => cudarc::nccl::ReduceOp::Avg,
        ReduceOp::Max => cudarc::nccl::ReduceOp::Max,
        ReduceOp::Min => cudarc::nccl::ReduceOp::Min,
    }
}

impl NcclGroup {
    /// Join the NCCL communicator of `group`'s ranks, using GPU `device` in this process.
    pub fn new(group: &ProcessGroup, device: usize) -> Result<NcclGroup> {
        let ctx = CudaContext::new(device).map_err(|e| err("NcclGroup::new", e))?;
        let stream = ctx.new_stream().map_err(|e| err("NcclGroup::new", e))?;
        // rank 0 makes the id; everyone else receives its 128 bytes over the process group
        let raw = if group.rank() == 0 {
            let id = Id::new().map_err(|e| err("NcclGroup::new", e))?;
            id.internal().iter().map(|&c| c as u8).collect::<Vec<u8>>()
        } else {
            vec![0u8; 128]
        };
        let t = Tensor::from_slice(&raw);
        group.broadcast(&t, 0)?;
        let bytes = t.to_vec::<u8>()?;
        let mut internal = [0 as std::ffi::c_char; 128];
        for (d, s) in internal.iter_mut().zip(bytes) {
            *d = s as std::ffi::c_char;
        }
        let comm = Comm::from_rank(stream.clone(), group.rank(), group.world_size(), Id::uninit(internal))
            .map_err(|e| err("NcclGroup::new", e))?;
        Ok(NcclGroup { comm, stream })
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    /// Combine `buf` across ranks, in place.
    pub fn all_reduce<T: NcclType>(&self, buf: &mut CudaSlice<T>, op: ReduceOp) -> Result<()> {
        self.comm
            .all_reduce_in_place(buf, &nccl_op(op))
            .map(|_| ())
            .map_err(|e| err("all_reduce", e))
    }

    /// Copy `root`'s `buf` into every rank's `buf`.
    pub fn broadcast<T: NcclType>(&self, buf: &mut CudaSlice<T>, root: usize) -> Result<()> {
        self.check_root("broadcast", root)?;
        self.comm
            .broadcast_in_place(buf, root as i32)
            .map(|_| ())
            .map_err(|e| err("broadcast", e))
    }

    /// Every rank's `input`, concatenated in rank order into `output` (world_size times larger).
    pub fn all_gather<T: NcclType>(&self, output: &mut CudaSlice<T>, input: &CudaSlice<T>) -> Result<()> {
        self.check_sizes("all_gather", output.len(), input.len())?;
        self.comm
            .all_gather(input, output)
            .map(|_| ())
            .map_err(|e| err("all_gather", e))
    }

    /// Reduce `input` (world_size blocks) across ranks and leave block `rank` in `output`.
    pub fn reduce_scatter<T: NcclType>(
        &self,
        output: &mut CudaSlice<T>,
        input: &CudaSlice<T>,
        op: ReduceOp,
    ) -> Result<()> {
        self.check_sizes("reduce_scatter", input.len(), output.len())?;
        self.comm
            .reduce_scatter(input, output, &nccl_op(op))
            .map(|_| ())
            .map_err(|e| err("reduce_scatter", e))
    }

    /// Every rank's `input` concatenated into `output` on `root` (`Some` exactly on the root),
    /// as grouped point-to-point sends.
    pub fn gather<T: NcclType>(
        &self,
        output: Option<&mut CudaSlice<T>>,
        input: &CudaSlice<T>,
        root: usize,
    ) -> Result<()> {
        self.check_root("gather", root)?;
        let n = input.len();
        group_start().map_err(|e| err("gather", e))?;
        let r = (|| {
            if let Some(out) = output {
                self.check_sizes("gather", out.len(), n)?;
                for peer in 0..self.world_size() {
                    let mut block = out.slice_mut(peer * n..(peer + 1) * n);
                    self.comm.recv(&mut block, peer as i32).map_err(|e| err("gather", e))?;
                }
            }
            self.comm.send(input, root as i32).map_err(|e| err("gather", e))?;
            Ok(())
        })();
        group_end().map_err(|e| err("gather", e))?;
        r
    }

    /// Block r of `root`'s `input` (`Some` exactly on the root) to rank r's `output`.
    pub fn scatter<T: NcclType>(
        &self,
        output: &mut CudaSlice<T>,
        input: Option<&CudaSlice<T>>,
        root: usize,
    ) -> Result<()> {
        self.check_root("scatter", root)?;
        let n = output.len();
        group_start().map_err(|e| err("scatter", e))?;
        let r = (|| {
            if let Some(inp) = input {
                self.check_sizes("scatter", inp.len(), n)?;
                for peer in 0..self.world_size() {
                    let block = inp.slice(peer * n..(peer + 1) * n);
                    self.comm.send(&block, peer as i32).map_err(|e| err("scatter", e))?;
                }
            }
            self.comm.recv(output, root as i32).map_err(|e| err("scatter", e))?;
            Ok(())
        })();
        group_end().map_err(|e| err("scatter", e))?;
        r
    }

    /// Wait until every rank has reached this call (a one-element all-reduce, then a sync).
    pub fn barrier(&self) -> Result<()> {
        let mut one = self.stream.alloc_zeros::<f32>(1).map_err(|e| err("barrier", e))?;
        self.all_reduce(&mut one, ReduceOp::Sum)?;
        self.synchronize()
    }

    /// Wait for the collectives queued on this group's stream.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| err("synchronize", e))
    }

    fn check_root(&self, op: &'static str, root: usize) -> Result<()> {
        if root >= self.world_size() {
            return Err(Error::Arg {
                op,
                msg: format!(
                    "root rank {root} does not exist in a group of {} ranks",
                    self.world_size()
                ),
            });
        }
        Ok(())
    }

    fn check_sizes(&self, op: &'static str, big: usize, small: usize) -> Result<()> {
        if big != small * self.world_size() {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "the larger buffer ({big} elements) must hold world_size ({}) times the per-rank buffer ({small})",
                    self.world_size()
                ),
            });
        }
        Ok(())
    }
}
