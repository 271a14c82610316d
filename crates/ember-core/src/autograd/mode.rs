//! Grad mode: a thread-local switch, set by guards (`no_grad`, `enable_grad`).

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops record the graph on this thread right now.
#[inline]
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped.
#[must_use = "grad mode is restored when the guard is dropped"]
pub struct GradModeGuard {
    prev: bool,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Set grad mode until the returned guard is dropped.
pub fn set_grad_enabled(enabled: bool) -> GradModeGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(enabled));
    GradModeGuard { prev }
}

/// Disable graph recording until the guard is dropped (PyTorch's `torch.no_grad()`).
///
/// ```
/// use ember_core::{no_grad, Tensor};
/// let w = Tensor::ones(&[2]).requires_grad_(true);
/// let y = {
///     let _g = no_grad();
///     &w * 2.0
/// };
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad() -> GradModeGuard {
    set_grad_enabled(false)
}

/// Re-enable graph recording inside a `no_grad` scope.
pub fn enable_grad() -> GradModeGuard {
    set_grad_enabled(true)
}
