//! ember-train: the training loop and everything around it — a [`Trainer`] with fit /
//! evaluate / predict, [`metrics`], [`callbacks`], a progress bar, a JSON-lines run log, an SVG
//! plot of the run, and exact, atomic [`Checkpoint`]s for resuming.

pub mod checkpoint;
pub mod history;
pub mod interrupt;
pub mod metrics;
pub mod plot;
pub mod progress;

pub use checkpoint::Checkpoint;
pub use history::{read_run_log, EpochMetrics, RunLog};
