//! The collective watchdog: a collective that does not finish within the timeout means another rank
//! died or hangs. MPI offers no way to cancel a collective, and the buffers it writes belong to
//! live tensors, so returning an error would let MPI write into memory the program reuses. The only
//! safe way out is to exit the process, after a message that says what happened; `mpirun` then
//! stops the remaining ranks. Checkpoints are written atomically, so the last one stays intact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Exit status of a rank stopped by the watchdog (the status `timeout(1)` uses).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

static TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);
static ACTIVE: Mutex<Vec<(u64, String, Instant)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static THREAD: OnceLock<()> = OnceLock::new();

/// Set how long a collective may take before this rank gives up and exits.
pub fn set_timeout(t: Duration) {
    TIMEOUT_MS.store(t.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// The current collective timeout (`EMBER_DIST_TIMEOUT` seconds, default 300, unless set).
pub fn timeout() -> Duration {
    let ms = TIMEOUT_MS.load(Ordering::Relaxed);
    if ms > 0 {
        return Duration::from_millis(ms);
    }
    let secs = std::env::var("EMBER_DIST_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(300.0);
    let d = Duration::from_secs_f64(secs);
    TIMEOUT_MS.store(d.as_millis().max(1) as u64, Ordering::Relaxed);
    d
}

/// Marks one collective as in flight until dropped.
pub(crate) struct Watch {
    id: u64,
}

/// Start watching `what` (e.g. "rank 1/2: all_reduce of 4 MiB f32").
pub(crate) fn watch(what: impl FnOnce() -> String) -> Watch {
    THREAD.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("ember-dist-watchdog".into())
            .spawn(watchdog_loop);
    });
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    active.push((id, what(), Instant::now()));
    Watch { id }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        active.retain(|(id, _, _)| *id != self.id);
    }
}

fn watchdog_loop() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let limit = timeout();
        let expired = {
            let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            active
                .iter()
                .find(|(_, _, t)| t.elapsed() > limit)
                .map(|(_, what, t)| (what.clone(), t.elapsed()))
        };
        if let Some((what, took)) = expired {
            eprintln!(
                "ember-dist: error: {what} did not complete after {:.1} s (timeout {:.1} s): another rank \
                 has died or hangs. Exiting with status {TIMEOUT_EXIT_CODE}; the last checkpoint is intact. \
                 Set EMBER_DIST_TIMEOUT (seconds) to change the limit.",
                took.as_secs_f64(),
                limit.as_secs_f64()
            );
            // _exit: no atexit handlers, which could block inside the MPI library that is stuck
            unsafe { libc::_exit(TIMEOUT_EXIT_CODE) };
        }
    }
}
