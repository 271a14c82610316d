//! Ctrl-C as a request, not a kill: the handler only raises a flag; the training loop checks
//! it after each batch, writes a checkpoint and returns, so `--resume` loses nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process-wide stop flag, with a Ctrl-C (SIGINT/SIGTERM) handler that sets it installed
/// on first use. A second Ctrl-C while the flag is already set exits at once (code 130).
pub fn ctrl_c_flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Failing to install (another handler exists) leaves a flag nobody sets: training
        // then simply cannot be interrupted gracefully, which is not an error.
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current batch, then writing a checkpoint (Ctrl-C again to quit now)");
        });
        flag
    })
    .clone()
}
