//! The MPI back-end (rsmpi over the system's Open MPI).
//!
//! Collectives call the MPI C API through `mpi::ffi` on the tensors' own storage, in place
//! (`MPI_IN_PLACE`), so ember adds no copies to what the MPI library moves. MPI is initialized at
//! thread level "serialized" and every call holds one lock, so a group can be used from any thread.
//! MPI is finalized when the last handle to the world (groups and in-flight work) is dropped.

mod half_ops;

use crate::backend::{Backend, Pending};
use crate::flat::FlatBuffer;
use crate::op::ReduceOp;
use ember_core::{DType, Error, Result};
use mpi::environment::Universe;
use mpi::ffi;
use mpi::Threading;
use std::os::raw::{c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Open MPI's MPI_IN_PLACE is `(void *) 1` (mpi.h); bindgen cannot export that macro, so it is
/// repeated here, and `world()` refuses other MPI libraries.
const IN_PLACE: *mut c_void = std::ptr::without_provenance_mut(1);

static WORLD: Mutex<Option<Weak<Inner>>> = Mutex::new(None);

struct Inner {
    _universe: Universe,
    lock: Mutex<()>,
    comm: ffi::MPI_Comm,
    rank: usize,
    size: usize,
    half_ops: [ffi::MPI_Op; 6],
}

// SAFETY: the raw handles are only used while `lock` is held, and MPI was initialized at the
// "serialized" thread level, which allows calls from any thread one at a time.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        for op in self.half_ops.iter_mut() {
            // SAFETY: created by MPI_Op_create and no longer in use (no handle is left)
            unsafe { ffi::MPI_Op_free(op) };
        }
        // `_universe` drops after this and calls MPI_Finalize
    }
}

pub(crate) struct Mpi {
    inner: Arc<Inner>,
}

fn comm_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Device { op, msg: msg.into() }
}

/// The MPI world (MPI is initialized once per process; later calls share it while it lives).
pub(crate) fn world() -> Result<Arc<dyn Backend>> {
    let mut slot = WORLD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(inner) = slot.as_ref().and_then(Weak::upgrade) {
        return Ok(Arc::new(Mpi { inner }));
    }
    if slot.is_some() {
        return Err(comm_err(
            "ProcessGroup::mpi",
            "MPI was already finalized in this process (the last process group was dropped); keep one \
             ProcessGroup alive for the whole job",
        ));
    }
    let (universe, level) = mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| {
        comm_err(
            "ProcessGroup::mpi",
            "MPI was initialized by someone else in this process",
        )
    })?;
    if level < Threading::Serialized {
        return Err(comm_err(
            "ProcessGroup::mpi",
            format!("the MPI library offers thread level {level:?}; ember needs Serialized"),
        ));
    }
    let version = mpi::environment::library_version().unwrap_or_default();
    if !version.contains("Open MPI") {
        return Err(comm_err(
            "ProcessGroup::mpi",
            format!(
                "ember's MPI back-end supports Open MPI; this library is: {}",
                version.trim()
            ),
        ));
    }
    // SAFETY: MPI is initialized; these are plain queries on the world communicator
    let (comm, rank, size) = unsafe {
        let comm = ffi::RSMPI_COMM_WORLD;
        let (mut r, mut s) = (0 as c_int, 0 as c_int);
        ffi::MPI_Comm_rank(comm, &mut r);
        ffi::MPI_Comm_size(comm, &mut s);
        (comm, r as usize, s as usize)
    };
    let inner = Arc::new(Inner {
        _universe: universe,
        lock: Mutex::new(()),
        comm,
        rank,
        size,
        half_ops: half_ops::create(),
    });
    *slot = Some(Arc::downgrade(&inner));
    Ok(Arc::new(Mpi { inner }))
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The MPI datatype and reduction operator for `dtype` and `op`.
    fn typed(&self, what: &'static str, dtype: DType, op: ReduceOp) -> Result<(ffi::MPI_Datatype, ffi::MPI_Op)> {
        // SAFETY: reading the library's constant handles
        unsafe {
            let half = |base: usize| match op {
                ReduceOp::Max => self.half_ops[base + 1],
                ReduceOp::Min => self.half_ops[base + 2],
                _ => self.half_ops[base],
            };
            let std_op = match op {
                ReduceOp::Max => ffi::RSMPI_MAX,
                ReduceOp::Min => ffi::RSMPI_MIN,
                _ => ffi::RSMPI_SUM,
            };
            Ok(match dtype {
                DType::F32 => (ffi::RSMPI_FLOAT, std_op),
                DType::F64 => (ffi::RSMPI_DOUBLE, std_op),
                DType::F16 => (ffi::RSMPI_UINT16_T, half(0)),
                DType::BF16 => (ffi::RSMPI_UINT16_T, half(3)),
                DType::I32 => (ffi::RSMPI_INT32_T, std_op),
                DType::I64 => (ffi::RSMPI_INT64_T, std_op),
                DType::U8 => (ffi::RSMPI_UINT8_T, std_op),
                DType::Bool => {
                    return Err(Error::DType {
                        op: what,
                        msg: "bool tensors cannot be reduced".into(),
                    })
                }
            })
        }
    }
}

/// An element or byte count as MPI's `int`.
fn count(what: &'static str, n: usize) -> Result<c_int> {
    c_int::try_from(n).map_err(|_| {
        comm_err(
            what,
            format!(
                "{n} elements exceed MPI's count limit ({}); split the tensor",
                c_int::MAX
            ),
        )
    })
}

fn check(what: &'static str, rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(comm_err(what, format!("the MPI library returned error code {rc}")))
    }
}

fn bytes() -> ffi::MPI_Datatype {
    // SAFETY: a constant handle
    unsafe { ffi::RSMPI_UINT8_T }
}

fn c_root(root: usize) -> c_int {
    root as c_int // checked < world size (an int) by the group
}

impl Backend for Mpi {
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn rank(&self) -> usize {
        self.inner.rank
    }
    fn world_size(&self) -> usize {
        self.inner.size
    }

    fn all_reduce(&self, buf: &mut [u8], dtype: DType, op: ReduceOp) -> Result<()> {
        let (dt, mop) = self.inner.typed("all_reduce", dtype, op)?;
        let n = count("all_reduce", buf.len() / dtype.size_in_bytes())?;
        let _g = self.inner.lock();
        // SAFETY: buf is valid for n elements of dt and stays borrowed for the whole call
        check("all_reduce", unsafe {
            ffi::MPI_Allreduce(IN_PLACE, buf.as_mut_ptr().cast(), n, dt, mop, self.inner.comm)
        })
    }

    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()> {
        let n = count("broadcast", buf.len())?;
        let _g = self.inner.lock();
        // SAFETY: buf is valid for n bytes for the whole call
        check("broadcast", unsafe {
            ffi::MPI_Bcast(buf.as_mut_ptr().cast(), n, bytes(), c_root(root), self.inner.comm)
        })
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        let n = count("all_gather", send.len())?;
        let _g = self.inner.lock();
        // SAFETY: send holds n bytes, recv world_size * n (checked by the group)
        check("all_gather", unsafe {
            ffi::MPI_Allgather(
                send.as_ptr().cast(),
                n,
                bytes(),
                recv.as_mut_ptr().cast(),
                n,
                bytes(),
                self.inner.comm,
            )
        })
    }

    fn reduce_scatter(&self, send: &[u8], recv: &mut [u8], dtype: DType, op: ReduceOp) -> Result<()> {
        let (dt, mop) = self.inner.typed("reduce_scatter", dtype, op)?;
        let n = count("reduce_scatter", recv.len() / dtype.size_in_bytes())?;
        let _g = self.inner.lock();
        // SAFETY: send holds world_size * n elements, recv n (checked by the group)
        check("reduce_scatter", unsafe {
            ffi::MPI_Reduce_scatter_block(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                n,
                dt,
                mop,
                self.inner.comm,
            )
        })
    }

    fn gather(&self, send: &[u8], recv: Option<&mut [u8]>, root: usize) -> Result<()> {
        let n = count("gather", send.len())?;
        let recv_ptr = recv.map_or(std::ptr::null_mut(), |r| r.as_mut_ptr().cast());
        let _g = self.inner.lock();
        // SAFETY: on the root recv holds world_size * n bytes; elsewhere it is ignored by MPI
        check("gather", unsafe {
            ffi::MPI_Gather(
                send.as_ptr().cast(),
                n,
                bytes(),
                recv_ptr,
                n,
                bytes(),
                c_root(root),
                self.inner.comm,
            )
        })
    }

    fn scatter(&self, send: Option<&[u8]>, recv: &mut [u8], root: usize) -> Result<()> {
        let n = count("scatter", recv.len())?;
        let send_ptr = send.map_or(std::ptr::null(), |s| s.as_ptr().cast());
        let _g = self.inner.lock();
        // SAFETY: on the root send holds world_size * n bytes; elsewhere it is ignored by MPI
        check("scatter", unsafe {
            ffi::MPI_Scatter(
                send_ptr,
                n,
                bytes(),
                recv.as_mut_ptr().cast(),
                n,
                bytes(),
                c_root(root),
                self.inner.comm,
            )
        })
    }

    fn barrier(&self) -> Result<()> {
        let _g = self.inner.lock();
        // SAFETY: a plain collective on the world communicator
        check("barrier", unsafe { ffi::MPI_Barrier(self.inner.comm) })
    }

    fn start_all_reduce(&self, mut buf: FlatBuffer, op: ReduceOp) -> Result<Box<dyn Pending>> {
        let dtype = buf.dtype();
        let (dt, mop) = self.inner.typed("all_reduce_async", dtype, op)?;
        let n = count("all_reduce_async", buf.len())?;
        let mut req = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        let _g = self.inner.lock();
        // SAFETY: the Vec's heap memory does not move when `buf` moves into the Pending, which owns
        // it until MPI reports completion (wait / test / drop)
        check("all_reduce_async", unsafe {
            ffi::MPI_Iallreduce(
                IN_PLACE,
                buf.bytes_mut().as_mut_ptr().cast(),
                n,
                dt,
                mop,
                self.inner.comm,
                req.as_mut_ptr(),
            )
        })?;
        Ok(Box::new(MpiPending {
            // SAFETY: set by the successful MPI_Iallreduce
            req: unsafe { req.assume_init() },
            buf: Some(buf),
            done: false,
            inner: self.inner.clone(),
        }))
    }
}

struct MpiPending {
    req: ffi::MPI_Request,
    buf: Option<FlatBuffer>,
    done: bool,
    inner: Arc<Inner>,
}

// SAFETY: the request handle is only used under the world's lock (see `Inner`)
unsafe impl Send for MpiPending {}

impl Pending for MpiPending {
    fn test(&mut self) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let mut flag: c_int = 0;
        let _g = self.inner.lock();
        // SAFETY: a live request from MPI_Iallreduce
        check("all_reduce_async", unsafe {
            ffi::MPI_Test(&mut self.req, &mut flag, ffi::RSMPI_STATUS_IGNORE)
        })?;
        self.done = flag != 0;
        Ok(self.done)
    }

    fn wait(mut self: Box<Self>) -> Result<FlatBuffer> {
        self.finish()?;
        Ok(self.buf.take().expect("the buffer is taken once"))
    }
}

impl MpiPending {
    fn finish(&mut self) -> Result<()> {
        if !self.done {
            let _g = self.inner.lock();
            // SAFETY: a live request from MPI_Iallreduce
            check("all_reduce_async", unsafe {
                ffi::MPI_Wait(&mut self.req, ffi::RSMPI_STATUS_IGNORE)
            })?;
            self.done = true;
        }
        Ok(())
    }
}

impl Drop for MpiPending {
    fn drop(&mut self) {
        // MPI writes into the buffer until the request completes: never free it before
        if self.finish().is_err() {
            if let Some(b) = self.buf.take() {
                std::mem::forget(b);
            }
        }
    }
}
