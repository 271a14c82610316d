//! DataLoader behaviour: ordering, determinism with a seed, workers, resume, combinators.

use ember_core::{Result, Tensor};
use ember_data::{
    random_split, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler, Subset, TensorDataset,
    WeightedRandomSampler,
};

/// Samples whose input is their own index, so batches show which indices they hold.
fn indexed(n: usize) -> TensorDataset {
    let x = Tensor::arange(0.0, n as f64, 1.0)
        .unwrap()
        .reshape(&[n as isize, 1])
        .unwrap();
    let y = Tensor::arange(0.0, n as f64, 1.0).unwrap();
    TensorDataset::new(x, y).unwrap()
}

fn epoch_indices<D: Dataset<Item = (Tensor, Tensor)> + 'static>(loader: &DataLoader<D>, epoch: u64) -> Vec<Vec<i64>> {
    loader
        .epoch(epoch)
        .map(|b| b.unwrap().1.to_vec::<i64>().unwrap())
        .collect()
}

#[test]
fn sequential_batches_cover_everything_in_order() {
    let loader = DataLoader::new(indexed(10), 4);
    assert_eq!(loader.len(), 3);
    assert_eq!(
        epoch_indices(&loader, 0),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    let loader = DataLoader::new(indexed(10), 4).drop_last(true);
    assert_eq!(loader.len(), 2);
    assert_eq!(epoch_indices(&loader, 0).concat(), (0..8).collect::<Vec<i64>>());
}

#[test]
fn shuffle_is_a_permutation_reproducible_from_the_seed() {
    let a = DataLoader::new(indexed(100), 7).shuffle_seed(123);
    let b = DataLoader::new(indexed(100), 7)
        .shuffle_seed(123)
        .num_workers(3)
        .prefetch(1);
    let c = DataLoader::new(indexed(100), 7).shuffle_seed(124).num_workers(0);
    let e0 = epoch_indices(&a, 0);
    assert_eq!(e0, epoch_indices(&b, 0), "workers must not change the order");
    assert_ne!(e0, epoch_indices(&c, 0), "another seed gives another order");
    assert_ne!(e0, epoch_indices(&a, 1), "each epoch is reshuffled");
    let mut all = e0.concat();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<i64>>());
}

#[test]
fn global_seed_makes_shuffle_reproducible() {
    ember_core::manual_seed(5);
    let a = epoch_indices(&DataLoader::new(indexed(50), 8).shuffle(true), 0);
    ember_core::manual_seed(5);
    let b = epoch_indices(&DataLoader::new(indexed(50), 8).shuffle(true), 0);
    assert_eq!(a, b);
}

#[test]
fn iter_advances_epochs_and_epoch_from_skips() {
    let loader = DataLoader::new(indexed(30), 4).shuffle_seed(9);
    let first: Vec<_> = loader.iter().map(|b| b.unwrap().1.to_vec::<i64>().unwrap()).collect();
    let second: Vec<_> = (&loader)
        .into_iter()
        .map(|b| b.unwrap().1.to_vec::<i64>().unwrap())
        .collect();
    assert_eq!(first, epoch_indices(&loader, 0));
    assert_eq!(second, epoch_indices(&loader, 1));
    let tail: Vec<_> = loader
        .epoch_from(1, 5)
        .map(|b| b.unwrap().1.to_vec::<i64>().unwrap())
        .collect();
    assert_eq!(tail, second[5..].to_vec());
}

#[test]
fn dropping_an_epoch_early_stops_the_workers() {
    let loader = DataLoader::new(indexed(1000), 2).num_workers(2).prefetch(1);
    let mut it = loader.epoch(0);
    assert!(it.next().unwrap().is_ok());
    drop(it); // must not hang
    assert_eq!(loader.epoch(0).count(), 500);
}

/// A dataset whose sample 3 cannot be read.
struct Flaky;
impl Dataset for Flaky {
    type Item = Tensor;
    fn len(&self) -> usize {
        6
    }
    fn get(&self, i: usize) -> Result<Tensor> {
        if i == 3 {
            return Err(ember_core::Error::Io {
                path: "sample3.png".into(),
                msg: "corrupt".into(),
            });
        }
        Ok(Tensor::scalar(i as f32))
    }
}

#[test]
fn a_failing_sample_fails_its_batch_only() {
    for workers in [0, 2] {
        let results: Vec<bool> = DataLoader::new(Flaky, 2)
            .num_workers(workers)
            .epoch(0)
            .map(|b| b.is_ok())
            .collect();
        assert_eq!(results, vec![true, false, true]);
    }
    assert!(DataLoader::new(Flaky, 0).epoch(0).next().unwrap().is_err());
}

#[test]
fn subsets_split_and_concat() {
    let parts = random_split(indexed(20), &[15, 5], 1).unwrap();
    let mut seen: Vec<i64> = parts
        .iter()
        .flat_map(|p| {
            (0..p.len())
                .map(|i| p.get(i).unwrap().1.item().unwrap() as i64)
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<i64>>());
    assert!(random_split(indexed(20), &[15, 6], 1).is_err());

    let sub = Subset::new(indexed(10), vec![9, 2, 5]).unwrap();
    assert_eq!(sub.get_batch(&[0, 2]).unwrap().1.to_vec::<i64>().unwrap(), vec![9, 5]);
    assert!(Subset::new(indexed(10), vec![10]).is_err());
    assert!(sub.get(3).is_err());

    let cat = ConcatDataset::new(vec![indexed(3), indexed(2)]);
    assert_eq!(cat.len(), 5);
    assert_eq!(
        cat.get_batch(&[4, 0, 3]).unwrap().1.to_vec::<i64>().unwrap(),
        vec![1, 0, 0]
    );
    assert!(cat.get(5).is_err());
}

#[test]
fn custom_sampler_drives_the_loader() {
    let w = WeightedRandomSampler::new(vec![0.0, 0.0, 1.0, 0.0], 6, true, 0).unwrap();
    let loader = DataLoader::new(indexed(4), 3).sampler(w);
    assert_eq!(epoch_indices(&loader, 0), vec![vec![2, 2, 2], vec![2, 2, 2]]);
    let r = RandomSampler::new(4, 0);
    assert_eq!(r.len(), 4);
}
