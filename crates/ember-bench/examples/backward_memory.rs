//! How many bytes does the backward pass of W4's MLP allocate? (issue "Autograd", memory floor)
//!
//! A counting global allocator wraps the system allocator; for one training-like step we record
//! the bytes requested by every allocation made *during* `backward()` and the peak of live bytes
//! above the level at which backward started. `tools/backward_memory.py` runs this beside
//! PyTorch's profiler (which counts its CPU allocator the same way) and prints the ratio.
//!
//! `cargo run --release -p ember-bench --example backward_memory` prints one JSON line.

use ember_core::Tensor;
use ember_nn::functional::{cross_entropy, CrossEntropyOptions};
use ember_nn::Module;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn on_alloc(size: usize) {
        let live = LIVE.fetch_add(size, Relaxed) + size;
        if COUNTING.load(Relaxed) {
            ALLOCATED_BYTES.fetch_add(size as u64, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
            PEAK.fetch_max(live, Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the wrapper only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Counting::on_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Counting::on_alloc(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // counted as a fresh allocation of the new size, as a copying allocator would make it
        LIVE.fetch_sub(layout.size(), Relaxed);
        Counting::on_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> ember_core::Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().ok();
    ember_core::manual_seed(0);
    let model = ember_bench::models::mlp();
    let x = Tensor::randn(&[128, 784]);
    let y = Tensor::randint(0, 10, &[128])?;
    let ce = CrossEntropyOptions::default();

    let mut measured = (0u64, 0u64, 0usize);
    // a few warm-up steps first so thread pools and lazily built tables are not counted
    for _ in 0..4 {
        for p in model.parameters() {
            p.set_grad(None); // like PyTorch's zero_grad(set_to_none=True)
        }
        let loss = cross_entropy(&model.forward(&x)?, &y, &ce)?;
        let base = LIVE.load(Relaxed);
        ALLOCATED_BYTES.store(0, Relaxed);
        ALLOCATIONS.store(0, Relaxed);
        PEAK.store(base, Relaxed);
        COUNTING.store(true, Relaxed);
        loss.backward()?;
        COUNTING.store(false, Relaxed);
        measured = (
            ALLOCATED_BYTES.load(Relaxed),
            ALLOCATIONS.load(Relaxed),
            PEAK.load(Relaxed) - base,
        );
    }
    let grad_bytes: usize = model.parameters().iter().map(|p| p.numel() * 4).sum();
    println!(
        "{}",
        serde_json::json!({
            "framework": "ember",
            "workload": "W4-backward-memory",
            "allocated_bytes": measured.0,
            "allocations": measured.1,
            "peak_bytes_above_start": measured.2,
            "parameter_grad_bytes": grad_bytes,
        })
    );
    Ok(())
}
