//! Per-epoch metrics, the JSON-lines run log they are appended to, and the history a
//! checkpoint carries so a resumed run keeps its whole curve.

use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What one epoch measured. Missing values (no test set, say) are `None` (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall time of the epoch (training and evaluation), summed over interrupted segments.
    pub seconds: f64,
    pub examples_per_second: f64,
    /// Fraction of the epoch's training time spent waiting for the data loader to hand over
    /// the next batch (near 0 when prefetching keeps up; near 1 when loading is the bottleneck).
    #[serde(default)]
    pub data_wait_fraction: f64,
}

impl EpochMetrics {
    /// The value a callback monitors by name (`"test_loss"`, `"train_accuracy"`, ...).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "train_loss" => Some(self.train_loss),
            "train_accuracy" => self.train_accuracy,
            "test_loss" | "val_loss" => self.test_loss,
            "test_accuracy" | "val_accuracy" => self.test_accuracy,
            "lr" => Some(self.lr),
            "data_wait_fraction" => Some(self.data_wait_fraction),
            _ => None,
        }
    }

    /// One JSON object on one line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("metrics serialize")
    }
}

/// Appends one JSON object per line to a file, flushed after each line so that `tail -f`
/// and a crash both see every finished epoch.
pub struct RunLog {
    path: PathBuf,
    file: std::fs::File,
}

impl RunLog {
    /// Open `path` for appending (`append = true`, for a resumed run) or truncate it.
    pub fn open(path: impl AsRef<Path>, append: bool) -> Result<RunLog> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, format!("cannot create directory: {e}")))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .map_err(|e| io_err(&path, format!("cannot open run log: {e}")))?;
        Ok(RunLog { path, file })
    }

    pub fn write(&mut self, value: &impl Serialize) -> Result<()> {
        let line = serde_json::to_string(value).map_err(|e| io_err(&self.path, e.to_string()))?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| io_err(&self.path, format!("cannot write run log: {e}")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Read back a JSON-lines run log.
pub fn read_run_log(path: impl AsRef<Path>) -> Result<Vec<EpochMetrics>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, format!("cannot read run log: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| io_err(path, format!("line {}: {e}", i + 1))))
        .collect()
}

pub(crate) fn io_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}
