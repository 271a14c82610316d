//! The CUDA caching allocator and mixed precision on a real GPU: memory statistics, cache reuse,
//! `empty_cache`, out-of-memory as an `Err`, and the f16 gradient scaler. Each test prints why
//! it skips where no GPU can be used (a failure under `EMBER_REQUIRE_CUDA=1`).

use ember_core::amp::GradScaler;
use ember_core::cuda::{self, empty_cache, max_memory_allocated, memory_allocated, memory_reserved};
use ember_core::{DType, Tensor};

/// One test body, so the statistics are not disturbed by other tests of this binary running in
/// parallel threads.
#[test]
fn allocator_statistics_cache_and_out_of_memory() {
    let Some(dev) = ember_core::cuda::testing::cuda_or_skip() else {
        return;
    };
    cuda::synchronize(0).unwrap();
    let before = memory_allocated(0);
    let bytes = 64 << 20;
    let t = Tensor::zeros_on(&[bytes / 4], DType::F32, dev).unwrap();
    assert!(memory_allocated(0) >= before + bytes, "a 64 MiB tensor is counted");
    assert!(max_memory_allocated(0) >= memory_allocated(0));
    drop(t);
    assert!(
        memory_allocated(0) < before + bytes,
        "a dropped tensor is no longer counted"
    );
    assert!(memory_reserved(0) >= bytes, "its block stays cached");
    // the cached block is reused: no new driver allocation for the same size
    let drivers = cuda::stats(0).driver_allocs;
    let t = Tensor::zeros_on(&[bytes / 4], DType::F32, dev).unwrap();
    assert_eq!(cuda::stats(0).driver_allocs, drivers, "the cached block was reused");
    drop(t);
    empty_cache(0).unwrap();
    assert!(memory_reserved(0) < bytes, "empty_cache gave the cached block back");

    // far more than the card holds: an Err naming the problem, after one retry, and the device
    // keeps working
    let huge = 1usize << 42; // 16 TiB of f32
    let e = Tensor::zeros_on(&[huge], DType::F32, dev).unwrap_err().to_string();
    assert!(e.contains("out of memory"), "{e}");
    let x = Tensor::ones_on(&[4], DType::F32, dev).unwrap();
    assert_eq!(x.add(&x).unwrap().to_vec::<f32>().unwrap(), vec![2.0; 4]);
}

/// f16 training with the gradient scaler: finite gradients are unscaled and applied; an
/// overflow skips the step and halves the scale, as PyTorch's GradScaler does.
#[test]
fn grad_scaler_unscales_and_skips_overflowing_steps() {
    let Some(dev) = ember_core::cuda::testing::cuda_or_skip() else {
        return;
    };
    let w = Tensor::ones_on(&[4], DType::F32, dev).unwrap().requires_grad_(true);
    // PyTorch's default first scale (2^16) overflows f16 itself, so its first steps are
    // skipped; start lower so the first step runs
    let mut scaler = GradScaler::with_params(1024.0, 2.0, 0.5, 2000);
    // an f16 forward pass, the loss summed in f32 (as autocast does)
    let loss = w
        .to_dtype(DType::F16)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .sum_all();
    scaler.scale(&loss).unwrap().backward().unwrap();
    let params = [w.clone()];
    let stepped = scaler.step(&params, || Ok(())).unwrap();
    assert!(stepped, "finite gradients: the step runs");
    let g = w.grad().unwrap();
    assert_eq!(g.device(), dev);
    assert_eq!(g.to_vec::<f32>().unwrap(), vec![3.0; 4], "the gradient is unscaled");
    scaler.update();

    // an infinite gradient: the step is skipped and the scale backs off
    w.zero_grad();
    let before = scaler.get_scale();
    let loss = w.mul_scalar(f64::INFINITY).unwrap().sum_all();
    scaler.scale(&loss).unwrap().backward().unwrap();
    let stepped = scaler.step(&params, || panic!("must not step")).unwrap();
    assert!(!stepped);
    scaler.update();
    assert_eq!(scaler.get_scale(), before * 0.5, "the scale backs off");
}
