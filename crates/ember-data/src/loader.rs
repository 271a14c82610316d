//! `DataLoader`: batches from a dataset, in sampler order, prefetched on background threads.
//!
//! Each epoch's batch plan (which indices go in which batch) is computed up front from the
//! sampler, so batch `k` of epoch `e` is the same whichever thread builds it and whether or not
//! earlier batches were skipped — the basis of exact resume. Workers build batches `w, w+W, ...`
//! and hand them over through bounded channels (`prefetch` batches each), and the iterator
//! reads the channels round-robin, so batches come out in plan order while the next ones are
//! already being built.

use crate::collate::Collate;
use crate::dataset::Dataset;
use crate::error::arg_err;
use crate::sampler::{RandomSampler, Sampler, SequentialSampler};
use ember_core::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

type FetchFn<D, B> = Arc<dyn Fn(&D, &[usize]) -> Result<B> + Send + Sync>;

/// Iterates a [`Dataset`] in batches.
///
/// Defaults: sequential order, `drop_last = false`, one background worker that keeps two
/// batches ready. Batches are built with [`Dataset::get_batch`] (stacking, or a dataset's own
/// one-gather fast path) unless [`DataLoader::collate_fn`] sets a custom collate.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{DataLoader, TensorDataset};
/// let ds = TensorDataset::new(Tensor::zeros(&[10, 3]), Tensor::zeros(&[10])).unwrap();
/// let loader = DataLoader::new(ds, 4).shuffle_seed(0).drop_last(true);
/// assert_eq!(loader.len(), 2);
/// for batch in &loader {
///     let (x, y) = batch.unwrap();
///     assert_eq!((x.shape(), y.shape()), (&[4usize, 3][..], &[4usize][..]));
/// }
/// ```
pub struct DataLoader<D: Dataset, B = <D as Dataset>::Item> {
    dataset: Arc<D>,
    fetch: FetchFn<D, B>,
    sampler: Arc<dyn Sampler>,
    batch_size: usize,
    drop_last: bool,
    num_workers: usize,
    prefetch: usize,
    /// The epoch the next `iter()` call runs.
    next_epoch: AtomicU64,
}

impl<D: Dataset + 'static> DataLoader<D, D::Item>
where
    D::Item: Collate,
{
    /// A loader over `dataset` with batches of `batch_size` samples, in order.
    pub fn new(dataset: D, batch_size: usize) -> Self {
        DataLoader::from_arc(Arc::new(dataset), batch_size)
    }

    /// Like `new`, for a dataset that is shared with other code.
    pub fn from_arc(dataset: Arc<D>, batch_size: usize) -> Self {
        let n = dataset.len();
        DataLoader {
            dataset,
            fetch: Arc::new(|d: &D, idx: &[usize]| d.get_batch(idx)),
            sampler: Arc::new(SequentialSampler::new(n)),
            batch_size,
            drop_last: false,
            num_workers: 1,
            prefetch: 2,
            next_epoch: AtomicU64::new(0),
        }
    }
}

impl<D: Dataset + 'static, B: Send + 'static> DataLoader<D, B> {
    /// Shuffle each epoch with a seed drawn from the global generator (`true`), or go in order.
    pub fn shuffle(self, shuffle: bool) -> Self {
        let n = self.dataset.len();
        if shuffle {
            self.sampler(RandomSampler::from_global(n))
        } else {
            self.sampler(SequentialSampler::new(n))
        }
    }

    /// Shuffle each epoch, reproducibly from `seed` (epoch `e` always gets the same order).
    pub fn shuffle_seed(self, seed: u64) -> Self {
        let n = self.dataset.len();
        self.sampler(RandomSampler::new(n, seed))
    }

    /// Draw indices from a custom sampler (weighted, distributed, ...).
    pub fn sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Arc::new(sampler);
        self
    }

    /// Drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Background threads building batches (0 = build them on the calling thread).
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = n;
        self
    }

    /// Batches each worker keeps ready ahead of the consumer (at least 1).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n.max(1);
        self
    }

    /// Build batches with `collate` from the individual samples instead of `get_batch`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// use ember_data::{DataLoader, TensorDataset};
    /// let ds = TensorDataset::new(Tensor::ones(&[5, 2]), Tensor::zeros(&[5])).unwrap();
    /// let loader = DataLoader::new(ds, 2).collate_fn(|items| Ok(items.len()));
    /// let sizes: Vec<usize> = loader.epoch(0).map(|b| b.unwrap()).collect();
    /// assert_eq!(sizes, vec![2, 2, 1]);
    /// ```
    pub fn collate_fn<B2: Send + 'static>(
        self,
        collate: impl Fn(Vec<D::Item>) -> Result<B2> + Send + Sync + 'static,
    ) -> DataLoader<D, B2> {
        DataLoader {
            dataset: self.dataset,
            fetch: Arc::new(move |d: &D, idx: &[usize]| {
                let items = idx.iter().map(|&i| d.get(i)).collect::<Result<Vec<_>>>()?;
                collate(items)
            }),
            sampler: self.sampler,
            batch_size: self.batch_size,
            drop_last: self.drop_last,
            num_workers: self.num_workers,
            prefetch: self.prefetch,
            next_epoch: self.next_epoch,
        }
    }

    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let n = self.sampler.len();
        match self.batch_size {
            0 => 0,
            b if self.drop_last => n / b,
            b => n.div_ceil(b),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples per epoch (after `drop_last`).
    pub fn num_samples(&self) -> usize {
        if self.drop_last {
            self.len() * self.batch_size
        } else {
            self.sampler.len()
        }
    }

    /// The batches of epoch `epoch` (its shuffle order depends only on the seed and `epoch`).
    pub fn epoch(&self, epoch: u64) -> Batches<B> {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch`, starting at batch `start` (for resuming mid-epoch: the skipped
    /// batches are never built).
    pub fn epoch_from(&self, epoch: u64, start: usize) -> Batches<B> {
        if self.batch_size == 0 {
            return Batches::failed(arg_err("DataLoader", "batch_size must be at least 1"));
        }
        self.next_epoch.store(epoch + 1, Ordering::Relaxed);
        self.dataset.set_epoch(epoch);
        let indices = self.sampler.indices(epoch);
        let plan: Vec<Vec<usize>> = indices
            .chunks(self.batch_size)
            .filter(|c| !self.drop_last || c.len() == self.batch_size)
            .skip(start)
            .map(<[usize]>::to_vec)
            .collect();
        if self.num_workers == 0 {
            let (dataset, fetch) = (self.dataset.clone(), self.fetch.clone());
            let total = plan.len();
            return Batches {
                inner: Inner::Inline {
                    plan: plan.into_iter(),
                    fetch: Box::new(move |idx: &[usize]| fetch(&dataset, idx)),
                },
                remaining: total,
            };
        }
        Batches::spawn(
            self.dataset.clone(),
            self.fetch.clone(),
            plan,
            self.num_workers,
            self.prefetch,
        )
    }

    /// The next epoch's batches: epoch 0 first, then one more each call (or after the last
    /// `epoch(e)` call, `e + 1`).
    pub fn iter(&self) -> Batches<B> {
        self.epoch(self.next_epoch.load(Ordering::Relaxed))
    }
}

impl<D: Dataset + 'static, B: Send + 'static> IntoIterator for &DataLoader<D, B> {
    type Item = Result<B>;
    type IntoIter = Batches<B>;

    fn into_iter(self) -> Batches<B> {
        self.iter()
    }
}

/// The batches of one epoch, in order. Dropping it early stops the workers.
pub struct Batches<B> {
    inner: Inner<B>,
    remaining: usize,
}

type InlineFetch<B> = Box<dyn FnMut(&[usize]) -> Result<B> + Send>;

enum Inner<B> {
    Inline {
        plan: std::vec::IntoIter<Vec<usize>>,
        fetch: InlineFetch<B>,
    },
    Workers {
        receivers: Vec<Receiver<Result<B>>>,
        handles: Vec<JoinHandle<()>>,
        next: usize,
    },
    Failed(Option<Error>),
}

impl<B: Send + 'static> Batches<B> {
    fn failed(e: Error) -> Batches<B> {
        Batches {
            inner: Inner::Failed(Some(e)),
            remaining: 1,
        }
    }

    fn spawn<D: Dataset + 'static>(
        dataset: Arc<D>,
        fetch: FetchFn<D, B>,
        plan: Vec<Vec<usize>>,
        workers: usize,
        prefetch: usize,
    ) -> Batches<B> {
        let total = plan.len();
        let workers = workers.min(total.max(1));
        let plan = Arc::new(plan);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(prefetch);
            let (dataset, fetch, plan) = (dataset.clone(), fetch.clone(), plan.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("ember-data-{w}"))
                .spawn(move || {
                    for k in (w..plan.len()).step_by(workers) {
                        // a send fails once the consumer is gone: stop quietly
                        if tx.send(fetch(&dataset, &plan[k])).is_err() {
                            return;
                        }
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => return Batches::failed(arg_err("DataLoader", format!("cannot start a worker thread: {e}"))),
            }
            receivers.push(rx);
        }
        Batches {
            inner: Inner::Workers {
                receivers,
                handles,
                next: 0,
            },
            remaining: total,
        }
    }
}

impl<B> Iterator for Batches<B> {
    type Item = Result<B>;

    fn next(&mut self) -> Option<Result<B>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match &mut self.inner {
            Inner::Inline { plan, fetch } => plan.next().map(|idx| fetch(&idx)),
            Inner::Failed(e) => e.take().map(Err),
            Inner::Workers { receivers, next, .. } => {
                let k = *next;
                *next += 1;
                match receivers[k % receivers.len()].recv() {
                    Ok(batch) => Some(batch),
                    Err(_) => {
                        self.remaining = 0;
                        Some(Err(arg_err(
                            "DataLoader",
                            format!("the worker building batch {k} stopped (it panicked)"),
                        )))
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<B> ExactSizeIterator for Batches<B> {}

impl<B> Drop for Batches<B> {
    fn drop(&mut self) {
        if let Inner::Workers { receivers, handles, .. } = &mut self.inner {
            receivers.clear(); // wakes workers blocked on a full channel
            for h in handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}
