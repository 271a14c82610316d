//! Allocation policy for tensor buffers.
//!
//! glibc maps every allocation above 128 KiB freshly from the kernel and unmaps it on free, so
//! each large tensor would be page-faulted anew on every op. Raising the mmap threshold keeps
//! large buffers in the heap, where freed blocks are reused at once (PEERS.md measured this as
//! worth as much as faster kernels). ember sets it itself, so users need no environment variables.

use std::sync::Once;

static INIT: Once = Once::new();

/// Called before the first tensor buffer is allocated; cheap after the first call.
#[inline]
pub fn init() {
    INIT.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            // 32 MiB is glibc's upper limit for the threshold on 64-bit targets.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        }
    });
}
