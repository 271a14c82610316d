//! Iterable (stream-style) datasets and their loader: for data read sequentially (a large
//! file, a generator) rather than addressed by index.

use crate::collate::Collate;
use crate::error::arg_err;
use ember_core::Result;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A stream of samples; each call to `iter` starts a fresh pass.
///
/// Any `Fn() -> impl Iterator<Item = Result<T>>` closure is one:
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::{IterableDataset, IterableLoader};
/// let counting = || (0..5).map(|i| Ok(Tensor::scalar(i as f32)));
/// let loader = IterableLoader::new(counting, 2);
/// let sizes: Vec<usize> = loader.iter().map(|b| b.unwrap().numel()).collect();
/// assert_eq!(sizes, vec![2, 2, 1]);
/// ```
pub trait IterableDataset: Send + Sync {
    type Item: Send + 'static;

    fn iter(&self) -> Box<dyn Iterator<Item = Result<Self::Item>> + Send>;
}

impl<F, I, T> IterableDataset for F
where
    F: Fn() -> I + Send + Sync,
    I: Iterator<Item = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    type Item = T;

    fn iter(&self) -> Box<dyn Iterator<Item = Result<T>> + Send> {
        Box::new(self())
    }
}

/// Groups an [`IterableDataset`]'s stream into collated batches, built ahead on a background
/// thread (`prefetch` batches at most; 0 builds them on the caller's thread).
pub struct IterableLoader<D> {
    dataset: Arc<D>,
    batch_size: usize,
    drop_last: bool,
    prefetch: usize,
}

impl<D: IterableDataset + 'static> IterableLoader<D>
where
    D::Item: Collate,
{
    pub fn new(dataset: D, batch_size: usize) -> IterableLoader<D> {
        IterableLoader {
            dataset: Arc::new(dataset),
            batch_size,
            drop_last: false,
            prefetch: 2,
        }
    }

    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// One pass over the stream, in batches.
    pub fn iter(&self) -> IterBatches<D::Item> {
        if self.batch_size == 0 {
            let err = arg_err("IterableLoader", "batch_size must be at least 1");
            return IterBatches {
                source: Source::Inline(Box::new(std::iter::once(Err(err)))),
                handle: None,
            };
        }
        let batches = Chunked {
            items: self.dataset.iter(),
            batch_size: self.batch_size,
            drop_last: self.drop_last,
            done: false,
        };
        if self.prefetch == 0 {
            return IterBatches {
                source: Source::Inline(Box::new(batches)),
                handle: None,
            };
        }
        let (tx, rx) = sync_channel(self.prefetch);
        let handle = std::thread::spawn(move || {
            for b in batches {
                if tx.send(b).is_err() {
                    return;
                }
            }
        });
        IterBatches {
            source: Source::Thread(Some(rx)),
            handle: Some(handle),
        }
    }
}

/// Pulls `batch_size` items at a time and collates them; an item error ends the batch with
/// that error.
struct Chunked<T> {
    items: Box<dyn Iterator<Item = Result<T>> + Send>,
    batch_size: usize,
    drop_last: bool,
    done: bool,
}

impl<T: Collate> Iterator for Chunked<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let mut batch = Vec::with_capacity(self.batch_size);
        while batch.len() < self.batch_size {
            match self.items.next() {
                Some(Ok(x)) => batch.push(x),
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        if batch.is_empty() || (self.drop_last && batch.len() < self.batch_size) {
            return None;
        }
        Some(T::collate(batch))
    }
}

enum Source<B> {
    Inline(Box<dyn Iterator<Item = Result<B>> + Send>),
    Thread(Option<Receiver<Result<B>>>),
}

/// The batches of one pass of an [`IterableLoader`].
pub struct IterBatches<B> {
    source: Source<B>,
    handle: Option<JoinHandle<()>>,
}

impl<B> Iterator for IterBatches<B> {
    type Item = Result<B>;

    fn next(&mut self) -> Option<Result<B>> {
        match &mut self.source {
            Source::Inline(it) => it.next(),
            Source::Thread(rx) => match rx.as_ref()?.recv() {
                Ok(b) => Some(b),
                Err(_) => {
                    // the producer is done; report it if it died instead of finishing
                    rx.take();
                    let panicked = self.handle.take().is_some_and(|h| h.join().is_err());
                    panicked.then(|| Err(arg_err("IterableLoader", "the dataset's iterator panicked")))
                }
            },
        }
    }
}

impl<B> Drop for IterBatches<B> {
    fn drop(&mut self) {
        if let Source::Thread(rx) = &mut self.source {
            rx.take(); // unblocks the producer
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
