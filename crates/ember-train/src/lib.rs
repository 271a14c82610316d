//! ember-train: the training loop and everything around it — a [`Trainer`] with fit /
//! evaluate / predict, [`metrics`], [`callbacks`], a progress bar, a JSON-lines run log, an SVG
//! plot of the run, and exact, atomic [`Checkpoint`]s for resuming.

pub mod callbacks;
pub mod checkpoint;
mod evaluate;
pub mod history;
pub mod interrupt;
pub mod metrics;
pub mod plot;
pub mod progress;
mod source;
mod trainer;

pub use checkpoint::Checkpoint;
pub use evaluate::{batch_on, confusion_matrix, evaluate, model_device, predict, EvalResult, LossFn};
pub use history::{read_run_log, EpochMetrics, RunLog};
pub use source::BatchSource;
pub use trainer::{checkpoint_in, human_line, FitReport, Report, Trainer, CHECKPOINT_FILE, PLOT_FILE, RUN_LOG_FILE};
