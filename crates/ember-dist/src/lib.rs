//! ember-dist: data-parallel training across processes.
//!
//! - [`ProcessGroup`]: rank, world size and in-place collectives (all_reduce, broadcast, all_gather,
//!   reduce_scatter, gather, scatter, barrier) on tensors of every float dtype. Back-ends: a
//!   single-process group (always available), MPI (feature `mpi`, one process per rank under `mpirun`).
//! - [`DistributedDataParallel`]: wraps a `Module`, broadcasts rank 0's parameters, and all-reduces
//!   gradients in buckets while backward is still running (gradient hooks).
//! - [`DistributedSampler`]: a disjoint, padded shard of a shared per-epoch order for each rank.
//! - [`launch`]: detecting an `mpirun` launch from its environment.
//!
//! Every collective runs under a watchdog: if it does not complete within the timeout
//! (`EMBER_DIST_TIMEOUT` seconds, default 300, or [`set_timeout`]) because another rank died or hangs,
//! the process prints a clear error and exits instead of hanging forever.

mod backend;
mod ddp;
mod flat;
mod group;
pub mod launch;
mod local;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "cuda")]
mod nccl;
mod op;
mod sampler;
mod watchdog;

pub use ddp::{DdpOptions, DistributedDataParallel, NoSyncGuard};
pub use flat::FlatBuffer;
pub use group::{ProcessGroup, Work};
#[cfg(feature = "cuda")]
pub use nccl::NcclGroup;
pub use op::ReduceOp;
pub use sampler::DistributedSampler;
pub use watchdog::{set_timeout, timeout};
