//! `DistributedSampler`: rank r of W visits a disjoint 1/W share of one epoch order that every
//! rank computes alike from the shared seed.
//!
//! The order is padded (by repeating its first indices) to a multiple of W so every rank runs the
//! same number of steps, and rank r takes positions r, r+W, r+2W, ...: batch k of all ranks together
//! is then exactly batch k of a single process whose batch is W times larger, which is what makes
//! data-parallel training equal single-process training.

use ember_core::{Error, Result};
use ember_data::{RandomSampler, Sampler};

#[derive(Debug, Clone)]
pub struct DistributedSampler {
    n: usize,
    rank: usize,
    world: usize,
    seed: Option<u64>,
}

impl DistributedSampler {
    /// Rank `rank` of `world` over a dataset of `n` samples, shuffled each epoch from `seed`
    /// (`None`: in order).
    ///
    /// ```
    /// use ember_data::Sampler;
    /// use ember_dist::DistributedSampler;
    /// let a = DistributedSampler::new(5, 0, 2, None).unwrap();
    /// let b = DistributedSampler::new(5, 1, 2, None).unwrap();
    /// assert_eq!((a.indices(0), b.indices(0)), (vec![0, 2, 4], vec![1, 3, 0])); // padded with 0
    /// ```
    pub fn new(n: usize, rank: usize, world: usize, seed: Option<u64>) -> Result<DistributedSampler> {
        if world == 0 || rank >= world {
            return Err(Error::Arg {
                op: "DistributedSampler",
                msg: format!("rank {rank} is not in a world of {world} ranks"),
            });
        }
        if n == 0 {
            return Err(Error::Arg {
                op: "DistributedSampler",
                msg: "the dataset is empty".into(),
            });
        }
        Ok(DistributedSampler { n, rank, world, seed })
    }

    /// The epoch order shared by all ranks, padded to a multiple of the world size.
    pub fn global_order(&self, epoch: u64) -> Vec<usize> {
        let mut order = match self.seed {
            // the same permutation a RandomSampler with this seed gives: 1 rank == no sampler
            Some(s) => RandomSampler::new(self.n, s).indices(epoch),
            None => (0..self.n).collect(),
        };
        let total = self.len() * self.world;
        let mut i = 0;
        while order.len() < total {
            order.push(order[i % self.n]);
            i += 1;
        }
        order
    }
}

impl Sampler for DistributedSampler {
    fn indices(&self, epoch: u64) -> Vec<usize> {
        self.global_order(epoch)
            .into_iter()
            .skip(self.rank)
            .step_by(self.world)
            .collect()
    }

    /// ceil(n / world): the same on every rank.
    fn len(&self) -> usize {
        self.n.div_ceil(self.world)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_cover_the_dataset_exactly_once_per_epoch() {
        for (n, world) in [(10, 2), (11, 3), (7, 4), (1, 2), (64, 1)] {
            for epoch in 0..3 {
                let mut all = Vec::new();
                for rank in 0..world {
                    let s = DistributedSampler::new(n, rank, world, Some(42)).unwrap();
                    let idx = s.indices(epoch);
                    assert_eq!(idx.len(), n.div_ceil(world));
                    all.extend(idx);
                }
                // the first n positions of the padded order are a permutation of 0..n
                let s = DistributedSampler::new(n, 0, world, Some(42)).unwrap();
                let mut first: Vec<usize> = s.global_order(epoch)[..n].to_vec();
                first.sort();
                assert_eq!(first, (0..n).collect::<Vec<_>>());
                // every index is visited, padding repeats at most world - 1 of them
                let mut uniq = all.clone();
                uniq.sort();
                uniq.dedup();
                assert_eq!(uniq.len(), n);
                assert_eq!(all.len() - n, n.div_ceil(world) * world - n);
            }
        }
    }

    #[test]
    fn one_rank_matches_a_random_sampler_and_epochs_reshuffle() {
        let d = DistributedSampler::new(50, 0, 1, Some(7)).unwrap();
        assert_eq!(d.indices(3), RandomSampler::new(50, 7).indices(3));
        assert_ne!(d.indices(0), d.indices(1));
    }

    #[test]
    fn ranks_interleave_into_the_global_batches() {
        let order = DistributedSampler::new(12, 0, 2, Some(1)).unwrap().global_order(0);
        let r0 = DistributedSampler::new(12, 0, 2, Some(1)).unwrap().indices(0);
        let r1 = DistributedSampler::new(12, 1, 2, Some(1)).unwrap().indices(0);
        // batch k of size 2 on both ranks == batch k of size 4 in one process
        let mut b: Vec<usize> = vec![r0[0], r0[1], r1[0], r1[1]];
        let mut g: Vec<usize> = order[..4].to_vec();
        b.sort();
        g.sort();
        assert_eq!(b, g);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(DistributedSampler::new(10, 2, 2, None).is_err());
        assert!(DistributedSampler::new(0, 0, 1, None).is_err());
    }
}
