//! The training progress bar (indicatif): epoch, batch, loss, accuracy, examples/s and time
//! left. Drawn only when stdout is a terminal, so logs and pipes stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// True when stdout is an interactive terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// One epoch's bar (hidden when disabled).
pub struct Progress {
    bar: ProgressBar,
}

fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress {
    /// A bar over `batches` batches of epoch `epoch` (1-based) of `epochs`.
    pub fn new(epoch: usize, epochs: usize, batches: usize, start: usize, enabled: bool) -> Progress {
        let bar = if enabled {
            let b = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            b.set_style(
                ProgressStyle::with_template("epoch {prefix} [{bar:28.cyan/blue}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(format!("{epoch}/{epochs}"));
        bar.set_position(start as u64);
        Progress { bar }
    }

    /// Show the state after a batch. `left` is the estimated time to the end of the run.
    pub fn update(&self, batch: usize, loss: f64, accuracy: Option<f64>, examples_per_sec: f64, left_secs: f64) {
        self.bar.set_position(batch as u64);
        if self.bar.is_hidden() {
            return;
        }
        let acc = accuracy.map(|a| format!(" acc {:.2}%", 100.0 * a)).unwrap_or_default();
        self.bar.set_message(format!(
            "loss {loss:.4}{acc} | {examples_per_sec:.0} ex/s | left {}",
            fmt_duration(left_secs)
        ));
    }

    /// Show a phase (e.g. evaluating) in the message.
    pub fn note(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    /// Remove the bar (the caller prints the epoch summary line).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
