//! `ProcessGroup`: the ranks of one training job and the collectives between them, on tensors.
//!
//! Every collective works in place on contiguous CPU tensors (no staging copies: the back-end reads
//! and writes the tensors' own storage), checks that the shapes and dtypes fit before anything is
//! sent, and runs under the watchdog (see [`crate::set_timeout`]).

use crate::backend::{Backend, Pending};
use crate::flat::{scale_bytes, FlatBuffer};
use crate::op::ReduceOp;
use crate::watchdog::watch;
use ember_core::{DType, Error, Result, Tensor};
use std::sync::Arc;

/// The ranks of a job and their collectives (cheap to clone: a handle).
#[derive(Clone)]
pub struct ProcessGroup {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ProcessGroup({}, rank {}/{})",
            self.backend.name(),
            self.rank(),
            self.world_size()
        )
    }
}

fn arg(op: &'static str, msg: String) -> Error {
    Error::Arg { op, msg }
}

impl ProcessGroup {
    /// A group of one process (rank 0 of 1): every collective leaves data as a 1-rank job would.
    pub fn single() -> ProcessGroup {
        ProcessGroup {
            backend: Arc::new(crate::local::Local),
        }
    }

    /// The MPI world of this process (initializes MPI on first use; needs an `mpirun` launch for
    /// more than one rank).
    #[cfg(feature = "mpi")]
    pub fn mpi() -> Result<ProcessGroup> {
        Ok(ProcessGroup {
            backend: crate::mpi::world()?,
        })
    }

    /// The group the environment asks for: MPI under `mpirun`, else a single process. Under
    /// `mpirun` in a build without the `mpi` feature this is an error that says how to rebuild.
    pub fn from_env() -> Result<ProcessGroup> {
        if crate::launch::mpi_launch().is_none() {
            return Ok(ProcessGroup::single());
        }
        #[cfg(feature = "mpi")]
        {
            ProcessGroup::mpi()
        }
        #[cfg(not(feature = "mpi"))]
        {
            Err(arg("ProcessGroup::from_env", crate::launch::NO_MPI_FEATURE.into()))
        }
    }

    pub fn rank(&self) -> usize {
        self.backend.rank()
    }

    pub fn world_size(&self) -> usize {
        self.backend.world_size()
    }

    /// The back-end's name ("mpi", "single-process").
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn describe(&self, op: &str, t: &Tensor) -> String {
        let mib = (t.numel() * t.dtype().size_in_bytes()) as f64 / (1024.0 * 1024.0);
        format!(
            "rank {}/{}: {op} of {:.2} MiB {}",
            self.rank(),
            self.world_size(),
            mib,
            t.dtype()
        )
    }

    /// Combine `t` across ranks, in place: afterwards every rank holds the sum / mean / max / min.
    pub fn all_reduce(&self, t: &Tensor, op: ReduceOp) -> Result<()> {
        check_reducible("all_reduce", t.dtype(), op)?;
        let _w = watch(|| self.describe("all_reduce", t));
        let world = self.world_size();
        t.with_bytes_mut(|b| {
            self.backend.all_reduce(b, t.dtype(), op.wire())?;
            if op == ReduceOp::Mean {
                scale_bytes(b, t.dtype(), 1.0 / world as f64);
            }
            Ok(())
        })?
    }

    /// Copy `root`'s `t` into every rank's `t`.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        self.check_root("broadcast", root)?;
        let _w = watch(|| self.describe("broadcast", t));
        t.with_bytes_mut(|b| self.backend.broadcast(b, root))?
    }

    /// Concatenate every rank's `input` (same shape on all ranks) into `output`, in rank order:
    /// `output` has `world_size * input.numel()` elements (any shape), like PyTorch's
    /// `all_gather_into_tensor`.
    pub fn all_gather(&self, output: &Tensor, input: &Tensor) -> Result<()> {
        self.check_pair("all_gather", output, input, self.world_size())?;
        let _w = watch(|| self.describe("all_gather", input));
        let input = input.contiguous();
        output.with_bytes_mut(|recv| input.with_bytes(|send| self.backend.all_gather(send, recv)))??
    }

    /// Reduce `input` (world_size blocks) across ranks and leave block `rank` in `output`, like
    /// PyTorch's `reduce_scatter_tensor`.
    pub fn reduce_scatter(&self, output: &Tensor, input: &Tensor, op: ReduceOp) -> Result<()> {
        check_reducible("reduce_scatter", input.dtype(), op)?;
        self.check_pair("reduce_scatter", input, output, self.world_size())?;
        let _w = watch(|| self.describe("reduce_scatter", input));
        let input = input.contiguous();
        let world = self.world_size();
        let dtype = output.dtype();
        output.with_bytes_mut(|recv| {
            input.with_bytes(|send| {
                self.backend.reduce_scatter(send, recv, dtype, op.wire())?;
                if op == ReduceOp::Mean {
                    scale_bytes(recv, dtype, 1.0 / world as f64);
                }
                Ok(())
            })
        })??
    }

    /// Concatenate every rank's `input` into `output` on `root` (pass `Some` exactly on the root).
    pub fn gather(&self, output: Option<&Tensor>, input: &Tensor, root: usize) -> Result<()> {
        self.check_root("gather", root)?;
        let out = self.check_root_side("gather", "output", output, root)?;
        if let Some(o) = out {
            self.check_pair("gather", o, input, self.world_size())?;
        }
        let _w = watch(|| self.describe("gather", input));
        let input = input.contiguous();
        input.with_bytes(|send| match out {
            Some(o) => o.with_bytes_mut(|recv| self.backend.gather(send, Some(recv), root))?,
            None => self.backend.gather(send, None, root),
        })?
    }

    /// Split `root`'s `input` into world_size blocks and give block r to rank r's `output` (pass
    /// `input` as `Some` exactly on the root).
    pub fn scatter(&self, output: &Tensor, input: Option<&Tensor>, root: usize) -> Result<()> {
        self.check_root("scatter", root)?;
        let inp = self.check_root_side("scatter", "input", input, root)?;
        if let Some(i) = inp {
            self.check_pair("scatter", i, output, self.world_size())?;
        }
        let _w = watch(|| self.describe("scatter", output));
        match inp {
            Some(i) => {
                let i = i.contiguous();
                output.with_bytes_mut(|recv| i.with_bytes(|send| self.backend.scatter(Some(send), recv, root)))??
            }
            None => output.with_bytes_mut(|recv| self.backend.scatter(None, recv, root))?,
        }
    }

    /// Wait until every rank has reached this call.
    pub fn barrier(&self) -> Result<()> {
        let _w = watch(|| format!("rank {}/{}: barrier", self.rank(), self.world_size()));
        self.backend.barrier()
    }

    /// Start an all-reduce of an owned buffer and return at once; `Work::wait` gives it back
    /// reduced. Every rank must start its non-blocking collectives in the same order.
    pub fn all_reduce_async(&self, buf: FlatBuffer, op: ReduceOp) -> Result<Work> {
        let pending = self.backend.start_all_reduce(buf, op.wire())?;
        Ok(Work {
            pending: Some(pending),
            mean_of: (op == ReduceOp::Mean).then_some(self.world_size()),
            what: format!("rank {}/{}: bucketed all_reduce", self.rank(), self.world_size()),
        })
    }

    fn check_root(&self, op: &'static str, root: usize) -> Result<()> {
        if root >= self.world_size() {
            return Err(arg(
                op,
                format!(
                    "root rank {root} does not exist in a group of {} ranks",
                    self.world_size()
                ),
            ));
        }
        Ok(())
    }

    /// The root passes the buffer, the others pass None.
    fn check_root_side<'t>(
        &self,
        op: &'static str,
        what: &str,
        t: Option<&'t Tensor>,
        root: usize,
    ) -> Result<Option<&'t Tensor>> {
        let is_root = self.rank() == root;
        match (is_root, t) {
            (true, None) => Err(arg(op, format!("the root rank {root} must pass the {what} tensor"))),
            (false, Some(_)) => Ok(None), // other ranks' buffers are not used (as in MPI)
            (_, t) => Ok(t),
        }
    }

    /// `big` must have `factor` times the elements of `small`, the same dtype,
    /// and the tensors must not share storage.
    fn check_pair(&self, op: &'static str, big: &Tensor, small: &Tensor, factor: usize) -> Result<()> {
        if big.dtype() != small.dtype() {
            return Err(Error::DType {
                op,
                msg: format!(
                    "the tensors must have one dtype, got {} and {}",
                    big.dtype(),
                    small.dtype()
                ),
            });
        }
        if big.numel() != small.numel() * factor {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "the larger tensor (shape {:?}) must hold world_size ({factor}) times the elements of \
                     the per-rank tensor (shape {:?})",
                    big.shape(),
                    small.shape()
                ),
            });
        }
        if big.shares_storage(small) {
            return Err(arg(op, "the input and output tensors must not share storage".into()));
        }
        Ok(())
    }
}

fn check_reducible(op: &'static str, dtype: DType, rop: ReduceOp) -> Result<()> {
    if dtype == DType::Bool || (rop == ReduceOp::Mean && !dtype.is_float()) {
        return Err(Error::DType {
            op,
            msg: format!("{rop:?} is not defined for {dtype} tensors"),
        });
    }
    Ok(())
}

/// A non-blocking all-reduce in flight (see [`ProcessGroup::all_reduce_async`]). Dropping it
/// without waiting waits (the library still writes into its buffer until it completes).
pub struct Work {
    pending: Option<Box<dyn Pending>>,
    mean_of: Option<usize>,
    what: String,
}

impl Work {
    /// Let the library progress the transfer (call this now and then while computing); true
    /// once it has completed.
    pub fn test(&mut self) -> Result<bool> {
        match self.pending.as_mut() {
            Some(p) => p.test(),
            None => Ok(true),
        }
    }

    /// Block until done and return the reduced buffer.
    pub fn wait(mut self) -> Result<FlatBuffer> {
        let p = self.pending.take().expect("a Work is waited once");
        let _w = watch(|| self.what.clone());
        let mut buf = p.wait()?;
        if let Some(n) = self.mean_of {
            buf.scale(1.0 / n as f64);
        }
        Ok(buf)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            let _w = watch(|| self.what.clone());
            let _ = p.wait();
        }
    }
}
