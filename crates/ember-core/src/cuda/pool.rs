//! The caching allocator's logic, generic over the block type so it is tested without a GPU
//! (the CUDA build instantiates it with device slices, see `alloc.rs`).
//!
//! Requests are rounded up to a size class (512 B steps up to 1 MiB, then 2 MiB steps, as
//! PyTorch's allocator does); a freed block goes on its class's free list and the next request
//! of that class reuses it without calling the driver. Blocks are never split, so a class only
//! serves requests that round to it: simple, and no fragmentation bookkeeping. On out-of-memory
//! the pool gives every cached block back and retries once before reporting the error.

use super::api::MemoryStats;
use std::collections::BTreeMap;

const SMALL_STEP: usize = 512;
const SMALL_LIMIT: usize = 1 << 20;
const LARGE_STEP: usize = 2 << 20;

/// The size class a request of `bytes` is served from (never 0, so empty tensors get a real
/// pointer).
pub fn size_class(bytes: usize) -> usize {
    let step = if bytes <= SMALL_LIMIT { SMALL_STEP } else { LARGE_STEP };
    bytes.max(1).div_ceil(step) * step
}

/// Why the driver could not allocate.
#[derive(Debug, Clone, PartialEq)]
pub enum AllocFailure {
    OutOfMemory,
    Other(String),
}

pub struct Pool<B> {
    free: BTreeMap<usize, Vec<B>>,
    allocated: usize,
    max_allocated: usize,
    cached: usize,
    driver_allocs: usize,
    oom_retries: usize,
}

impl<B> Default for Pool<B> {
    fn default() -> Self {
        Pool {
            free: BTreeMap::new(),
            allocated: 0,
            max_allocated: 0,
            cached: 0,
            driver_allocs: 0,
            oom_retries: 0,
        }
    }
}

impl<B> Pool<B> {
    /// A block of at least `bytes`, and its class (pass both back to `give`). `driver` is called
    /// on a cache miss; after an out-of-memory it is called once more with the cache emptied.
    pub fn take(
        &mut self,
        bytes: usize,
        mut driver: impl FnMut(usize) -> Result<B, AllocFailure>,
    ) -> Result<(B, usize), String> {
        let class = size_class(bytes);
        let block = match self.free.get_mut(&class).and_then(Vec::pop) {
            Some(b) => {
                self.cached -= class;
                b
            }
            None => {
                self.driver_allocs += 1;
                match driver(class) {
                    Ok(b) => b,
                    Err(AllocFailure::OutOfMemory) => {
                        self.oom_retries += 1;
                        self.empty_cache();
                        driver(class).map_err(|e| self.oom_message(bytes, e))?
                    }
                    Err(e) => return Err(self.oom_message(bytes, e)),
                }
            }
        };
        self.allocated += class;
        self.max_allocated = self.max_allocated.max(self.allocated);
        Ok((block, class))
    }

    /// Return a block to its class's free list (stream-ordered reuse: see device.rs).
    pub fn give(&mut self, block: B, class: usize) {
        self.allocated -= class;
        self.cached += class;
        self.free.entry(class).or_default().push(block);
    }

    /// Drop every cached block (dropping a device block frees it).
    pub fn empty_cache(&mut self) {
        self.free.clear();
        self.cached = 0;
    }

    pub fn reset_peak(&mut self) {
        self.max_allocated = self.allocated;
    }

    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            allocated: self.allocated,
            max_allocated: self.max_allocated,
            reserved: self.allocated + self.cached,
            driver_allocs: self.driver_allocs,
            oom_retries: self.oom_retries,
        }
    }

    fn oom_message(&self, bytes: usize, e: AllocFailure) -> String {
        let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
        match e {
            AllocFailure::OutOfMemory => format!(
                "CUDA out of memory: tried to allocate {:.2} MiB with {:.2} MiB already allocated by ember \
                 (the cache was emptied and the allocation retried once)",
                mib(bytes),
                mib(self.allocated)
            ),
            AllocFailure::Other(msg) => format!("CUDA allocation of {bytes} bytes failed: {msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_round_up() {
        assert_eq!(size_class(0), 512);
        assert_eq!(size_class(1), 512);
        assert_eq!(size_class(512), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), 2 << 20);
        assert_eq!(size_class(5 << 20), 6 << 20);
    }

    #[test]
    fn freed_blocks_are_reused_and_counted() {
        let mut pool: Pool<Vec<u8>> = Pool::default();
        let calls = std::cell::Cell::new(0);
        let mut driver = |n: usize| {
            calls.set(calls.get() + 1);
            Ok(vec![0u8; n])
        };
        let (a, ca) = pool.take(1000, &mut driver).unwrap();
        assert_eq!((a.len(), ca), (1024, 1024));
        assert_eq!(pool.stats().allocated, 1024);
        pool.give(a, ca);
        assert_eq!(pool.stats().allocated, 0);
        assert_eq!(pool.stats().reserved, 1024);
        let (b, cb) = pool.take(600, &mut driver).unwrap(); // same class: no driver call
        assert_eq!(cb, 1024);
        let (c, cc) = pool.take(100, &mut driver).unwrap();
        assert_eq!(pool.stats().max_allocated, 1024 + 512);
        pool.give(b, cb);
        pool.give(c, cc);
        pool.empty_cache();
        assert_eq!(pool.stats().reserved, 0);
        assert_eq!(pool.stats().driver_allocs, 2);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn out_of_memory_empties_the_cache_and_retries_once() {
        let mut pool: Pool<Vec<u8>> = Pool::default();
        let (a, ca) = pool.take(4096, |n| Ok(vec![0u8; n])).unwrap();
        pool.give(a, ca);
        // a driver with room for one block only while the cache holds nothing
        let mut tries = 0;
        let (b, _) = pool
            .take(8192, |n| {
                tries += 1;
                if tries == 1 {
                    Err(AllocFailure::OutOfMemory)
                } else {
                    Ok(vec![0u8; n])
                }
            })
            .unwrap();
        assert_eq!(b.len(), 8192);
        assert_eq!(pool.stats().oom_retries, 1);
        assert_eq!(pool.stats().reserved, 8192, "the cached 4 KiB block was given back");
        // a driver that stays out of memory gives an Err, not an abort
        let e = pool.take(1 << 30, |_| Err(AllocFailure::OutOfMemory)).unwrap_err();
        assert!(e.contains("CUDA out of memory"), "{e}");
        assert!(e.contains("1024.00 MiB"), "{e}");
    }
}
