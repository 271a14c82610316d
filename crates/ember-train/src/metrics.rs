//! Classification metrics computed from logits and integer targets: running means,
//! accuracy, top-k accuracy and a confusion matrix with precision / recall / F1.

use ember_core::{Error, Result, Tensor};

fn metric_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Arg { op, msg: msg.into() }
}

/// A running mean weighted by sample counts (the loss of an epoch from per-batch means).
///
/// ```
/// use ember_train::metrics::Mean;
/// let mut m = Mean::default();
/// m.add(1.0, 2); // a batch of 2 with mean 1.0
/// m.add(4.0, 1);
/// assert_eq!(m.value(), 2.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    pub sum: f64,
    pub count: u64,
}

impl Mean {
    /// Add a batch whose mean is `value` over `n` samples.
    pub fn add(&mut self, value: f64, n: usize) {
        self.sum += value * n as f64;
        self.count += n as u64;
    }

    /// The mean so far (NaN before anything was added).
    pub fn value(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

/// Logits `[N, C]` (or `[N, C, ...]` flattened to rows of C) and targets `[N]` as host data.
fn rows(logits: &Tensor, targets: &Tensor, op: &'static str) -> Result<(Vec<f32>, Vec<i64>, usize)> {
    if logits.ndim() < 1 {
        return Err(metric_err(op, "logits must have a class dimension"));
    }
    let classes = *logits.shape().last().expect("ndim >= 1");
    let (x, y) = (logits.to_vec::<f32>()?, targets.to_vec::<i64>()?);
    if classes == 0 || x.len() != y.len() * classes {
        return Err(metric_err(
            op,
            format!(
                "logits of shape {:?} do not fit targets of shape {:?}",
                logits.shape(),
                targets.shape()
            ),
        ));
    }
    Ok((x, y, classes))
}

/// Index of the largest value of each row (the first one on ties, NaN counts as largest).
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values
        .chunks_exact(classes)
        .map(|r| {
            let mut best = 0;
            for (j, &v) in r.iter().enumerate() {
                if v > r[best] || (v.is_nan() && !r[best].is_nan()) {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// The class predicted for each row of `logits` (`[N, C]` -> N class indices).
pub fn predictions(logits: &Tensor) -> Result<Vec<usize>> {
    let classes = logits.shape().last().copied().unwrap_or(0);
    if classes == 0 {
        return Err(metric_err(
            "predictions",
            format!("logits of shape {:?} have no classes", logits.shape()),
        ));
    }
    Ok(argmax_rows(&logits.to_vec::<f32>()?, classes))
}

/// Number of rows whose largest logit is the target class.
///
/// ```
/// use ember_core::Tensor;
/// use ember_train::metrics::correct;
/// let logits = Tensor::new(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]]);
/// assert_eq!(correct(&logits, &Tensor::new(&[1i64, 1, 1])).unwrap(), 2);
/// ```
pub fn correct(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    topk_correct(logits, targets, 1)
}

/// Number of rows whose target is among the `k` largest logits.
///
/// ```
/// use ember_core::Tensor;
/// use ember_train::metrics::topk_correct;
/// let logits = Tensor::new(&[[0.5f32, 0.3, 0.2], [0.1, 0.2, 0.7]]);
/// assert_eq!(topk_correct(&logits, &Tensor::new(&[1i64, 0]), 2).unwrap(), 1);
/// ```
pub fn topk_correct(logits: &Tensor, targets: &Tensor, k: usize) -> Result<usize> {
    let (x, y, classes) = rows(logits, targets, "topk_correct")?;
    let mut hits = 0;
    for (row, &t) in x.chunks_exact(classes).zip(&y) {
        let Some(tv) = usize::try_from(t).ok().and_then(|t| row.get(t).copied()) else {
            return Err(metric_err(
                "topk_correct",
                format!("target {t} is not a class index below {classes}"),
            ));
        };
        // rank of the target = number of classes strictly better (ties resolved in its favour)
        let better = row.iter().filter(|&&v| v > tv).count();
        if better < k {
            hits += 1;
        }
    }
    Ok(hits)
}

/// Counts of (true class, predicted class) pairs.
///
/// ```
/// use ember_core::Tensor;
/// use ember_train::metrics::ConfusionMatrix;
/// let mut cm = ConfusionMatrix::new(2);
/// cm.update(&Tensor::new(&[[2.0f32, 1.0], [0.0, 1.0], [0.0, 1.0]]), &Tensor::new(&[0i64, 0, 1])).unwrap();
/// assert_eq!(cm.count(0, 1), 1);
/// assert_eq!(cm.precision(1), 0.5);
/// assert_eq!(cm.recall(0), 0.5);
/// assert!((cm.accuracy() - 2.0 / 3.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// Row-major `[true][predicted]`.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    pub fn new(classes: usize) -> ConfusionMatrix {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Add a batch of logits `[N, C]` and targets `[N]`.
    pub fn update(&mut self, logits: &Tensor, targets: &Tensor) -> Result<()> {
        let (x, y, classes) = rows(logits, targets, "ConfusionMatrix::update")?;
        if classes != self.classes {
            return Err(metric_err(
                "ConfusionMatrix::update",
                format!("logits have {classes} classes, the matrix {}", self.classes),
            ));
        }
        self.add_predictions(&argmax_rows(&x, classes), &y)
    }

    /// Add predicted classes and true classes directly.
    pub fn add_predictions(&mut self, predicted: &[usize], targets: &[i64]) -> Result<()> {
        for (&p, &t) in predicted.iter().zip(targets) {
            let t = usize::try_from(t).ok().filter(|&t| t < self.classes).ok_or_else(|| {
                metric_err(
                    "ConfusionMatrix",
                    format!("target {t} is not a class index below {}", self.classes),
                )
            })?;
            if p >= self.classes {
                return Err(metric_err(
                    "ConfusionMatrix",
                    format!("prediction {p} is not a class index below {}", self.classes),
                ));
            }
            self.counts[t * self.classes + p] += 1;
        }
        Ok(())
    }

    /// Samples of true class `actual` predicted as `predicted`.
    pub fn count(&self, actual: usize, predicted: usize) -> u64 {
        self.counts[actual * self.classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let diag: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        diag as f64 / self.total().max(1) as f64
    }

    /// Of the samples predicted as `class`, the fraction that are (0 when none was predicted).
    pub fn precision(&self, class: usize) -> f64 {
        let predicted: u64 = (0..self.classes).map(|t| self.count(t, class)).sum();
        ratio(self.count(class, class), predicted)
    }

    /// Of the samples of `class`, the fraction predicted as such (0 when there were none).
    pub fn recall(&self, class: usize) -> f64 {
        let actual: u64 = (0..self.classes).map(|p| self.count(class, p)).sum();
        ratio(self.count(class, class), actual)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self, class: usize) -> f64 {
        let (p, r) = (self.precision(class), self.recall(class));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Unweighted mean of the per-class F1 scores.
    pub fn macro_f1(&self) -> f64 {
        (0..self.classes).map(|c| self.f1(c)).sum::<f64>() / self.classes.max(1) as f64
    }

    /// A text table: one row per true class, then per-class precision / recall / F1.
    pub fn render(&self, names: &[String]) -> String {
        let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let w = (0..self.classes).map(|c| name(c).len()).max().unwrap_or(1).max(5);
        let cell = self
            .counts
            .iter()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(3);
        let mut s = format!("{:>w$} |", "true\\pred");
        for p in 0..self.classes {
            s += &format!(" {:>cell$}", p);
        }
        s += " | precision recall     f1\n";
        for t in 0..self.classes {
            s += &format!("{:>w$} |", name(t), w = w.max(9));
            for p in 0..self.classes {
                s += &format!(" {:>cell$}", self.count(t, p));
            }
            s += &format!(
                " | {:>9.4} {:>6.4} {:>6.4}\n",
                self.precision(t),
                self.recall(t),
                self.f1(t)
            );
        }
        s
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_and_errors() {
        let logits = Tensor::new(&[[0.1f32, 0.5, 0.4], [0.3, 0.3, 0.4]]);
        let t = Tensor::new(&[2i64, 0]);
        assert_eq!(topk_correct(&logits, &t, 1).unwrap(), 0);
        assert_eq!(topk_correct(&logits, &t, 2).unwrap(), 2); // tie on row 2 counts for the target
        assert_eq!(topk_correct(&logits, &t, 3).unwrap(), 2);
        assert!(topk_correct(&logits, &Tensor::new(&[3i64, 0]), 1).is_err());
        assert!(topk_correct(&logits, &Tensor::new(&[0i64]), 1).is_err());
    }

    #[test]
    fn confusion_matrix_scores() {
        let mut cm = ConfusionMatrix::new(3);
        cm.add_predictions(&[0, 0, 1, 2, 2, 2], &[0, 1, 1, 2, 2, 0]).unwrap();
        assert_eq!(cm.total(), 6);
        assert!((cm.precision(2) - 2.0 / 3.0).abs() < 1e-12);
        assert!((cm.recall(0) - 0.5).abs() < 1e-12);
        assert!((cm.f1(1) - 2.0 / 3.0).abs() < 1e-12);
        assert!(cm.render(&[]).contains("precision"));
        assert!(cm.add_predictions(&[5], &[0]).is_err());
    }
}
