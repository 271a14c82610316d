//! The registry and the fixtures loaded once per test binary, shared by the CPU suite
//! (`opinfo.rs`) and the GPU suite (`cuda_opinfo.rs`).

use crate::fixture::{self, Case};
use crate::registry::{self, OpInfo};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

pub struct Suite {
    pub ops: Vec<OpInfo>,
    pub fixtures: BTreeMap<String, Vec<Case>>,
}

pub fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        // Panics inside ops are caught and reported per case: print one line for each, not a
        // backtrace per case.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
        Suite {
            ops: registry::ops(),
            fixtures: fixture::load_all(),
        }
    })
}

/// Every (op, case) pair with both a registry entry and fixtures.
pub fn cases() -> impl Iterator<Item = (&'static OpInfo, &'static Case)> {
    let s = suite();
    s.ops
        .iter()
        .flat_map(move |op| s.fixtures.get(op.name).into_iter().flatten().map(move |c| (op, c)))
}

/// Run `f`, turning a panic into an error message.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        format!("panicked: {}", msg.unwrap_or_else(|| "<non-string payload>".into()))
    })
}
