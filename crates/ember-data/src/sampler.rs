//! Samplers: which dataset indices an epoch visits, and in what order.
//!
//! A sampler's order is a pure function of (its seed, the epoch number). That is what makes
//! resuming exact — epoch 3 replays the same order whether or not epochs 0..3 ran in this
//! process — and lets a distributed sampler later split one shared order between ranks.

use crate::error::{arg_err, mix_seed};
use ember_core::{Generator, Result};

/// The order of dataset indices for each epoch.
pub trait Sampler: Send + Sync {
    /// The indices visited in `epoch`, in order.
    fn indices(&self, epoch: u64) -> Vec<usize>;

    /// How many indices each epoch yields.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `0, 1, ..., n-1` every epoch.
///
/// ```
/// use ember_data::{Sampler, SequentialSampler};
/// assert_eq!(SequentialSampler::new(3).indices(5), vec![0, 1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct SequentialSampler {
    n: usize,
}

impl SequentialSampler {
    pub fn new(n: usize) -> SequentialSampler {
        SequentialSampler { n }
    }
}

impl Sampler for SequentialSampler {
    fn indices(&self, _epoch: u64) -> Vec<usize> {
        (0..self.n).collect()
    }

    fn len(&self) -> usize {
        self.n
    }
}

/// A fresh random permutation of `0..n` each epoch, reproducible from the seed.
///
/// ```
/// use ember_data::{RandomSampler, Sampler};
/// let s = RandomSampler::new(5, 42);
/// let mut e0 = s.indices(0);
/// assert_eq!(e0, RandomSampler::new(5, 42).indices(0)); // same seed, same order
/// assert_ne!(e0, s.indices(1)); // a new order each epoch (with overwhelming probability)
/// e0.sort();
/// assert_eq!(e0, vec![0, 1, 2, 3, 4]);
/// ```
#[derive(Debug, Clone)]
pub struct RandomSampler {
    n: usize,
    seed: u64,
}

impl RandomSampler {
    pub fn new(n: usize, seed: u64) -> RandomSampler {
        RandomSampler { n, seed }
    }

    /// Seeded from the global generator (so `ember_core::manual_seed` makes it reproducible).
    pub fn from_global(n: usize) -> RandomSampler {
        RandomSampler::new(n, ember_core::rng::with_global(|g| g.next_u64()))
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Sampler for RandomSampler {
    fn indices(&self, epoch: u64) -> Vec<usize> {
        Generator::new(mix_seed(self.seed, &[epoch])).permutation(self.n)
    }

    fn len(&self) -> usize {
        self.n
    }
}

/// Draws `num_samples` indices with probability proportional to `weights` (with replacement,
/// or without when `replacement` is false), e.g. to rebalance classes.
///
/// ```
/// use ember_data::{Sampler, WeightedRandomSampler};
/// let s = WeightedRandomSampler::new(vec![0.0, 1.0, 0.0], 4, true, 0).unwrap();
/// assert_eq!(s.indices(0), vec![1, 1, 1, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct WeightedRandomSampler {
    /// Running sums of the weights (for sampling with replacement by binary search).
    cumulative: Vec<f64>,
    weights: Vec<f64>,
    num_samples: usize,
    replacement: bool,
    seed: u64,
}

impl WeightedRandomSampler {
    pub fn new(weights: Vec<f64>, num_samples: usize, replacement: bool, seed: u64) -> Result<WeightedRandomSampler> {
        const OP: &str = "WeightedRandomSampler";
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0) {
            return Err(arg_err(
                OP,
                format!("weights must be finite and non-negative, but weight {i} is {w}"),
            ));
        }
        let positive = weights.iter().filter(|w| **w > 0.0).count();
        if num_samples > 0 && positive == 0 {
            return Err(arg_err(OP, "at least one weight must be positive"));
        }
        if !replacement && num_samples > positive {
            return Err(arg_err(
                OP,
                format!("cannot draw {num_samples} samples without replacement from {positive} indices with positive weight"),
            ));
        }
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        Ok(WeightedRandomSampler {
            cumulative,
            weights,
            num_samples,
            replacement,
            seed,
        })
    }
}

impl Sampler for WeightedRandomSampler {
    fn indices(&self, epoch: u64) -> Vec<usize> {
        let mut g = Generator::new(mix_seed(self.seed, &[epoch]));
        if self.replacement {
            let total = *self.cumulative.last().unwrap_or(&0.0);
            (0..self.num_samples)
                .map(|_| {
                    let u = g.uniform() * total;
                    // the first index whose running sum exceeds u (zero weights are never hit)
                    let i = self.cumulative.partition_point(|&c| c <= u);
                    i.min(self.cumulative.len() - 1)
                })
                .collect()
        } else {
            // Efraimidis-Spirakis: keep the num_samples largest keys u^(1/w).
            let mut keys: Vec<(f64, usize)> = self
                .weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(i, &w)| ((1.0 - g.uniform()).ln() / w, i))
                .collect();
            keys.sort_by(|a, b| b.0.total_cmp(&a.0));
            keys.into_iter().take(self.num_samples).map(|(_, i)| i).collect()
        }
    }

    fn len(&self) -> usize {
        self.num_samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_follows_weights() {
        let s = WeightedRandomSampler::new(vec![1.0, 3.0], 40_000, true, 1).unwrap();
        let ones = s.indices(0).iter().filter(|&&i| i == 1).count() as f64 / 40_000.0;
        assert!((ones - 0.75).abs() < 0.02, "{ones}");
    }

    #[test]
    fn weighted_without_replacement_is_distinct() {
        let s = WeightedRandomSampler::new(vec![1.0, 2.0, 0.0, 4.0, 1.0], 4, false, 3).unwrap();
        let mut v = s.indices(2);
        v.sort();
        assert_eq!(v, vec![0, 1, 3, 4]);
        assert!(WeightedRandomSampler::new(vec![1.0, 0.0], 2, false, 0).is_err());
        assert!(WeightedRandomSampler::new(vec![1.0, -1.0], 2, true, 0).is_err());
    }
}
