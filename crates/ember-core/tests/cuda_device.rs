//! The device-parametrized suite: each body is written once and stamped for the CPU and for
//! `cuda:0` by `device_tests!`. On a machine without a GPU (or a build without the `cuda`
//! feature) the CUDA instances print why they skip; where a GPU exists they run for real and
//! compare the GPU results with the CPU's.

use ember_core::{device_tests, DType, Device, Result, Tensor};

/// Values of `t` (on any device) as f64, for comparison.
fn values(t: &Tensor) -> Result<Vec<f64>> {
    t.to_vec::<f64>()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

/// The same computation on the CPU and on `dev`, compared.
fn same_on(dev: Device, tol: f64, f: impl Fn(Device) -> Result<Tensor>) -> Result<()> {
    let cpu = f(Device::Cpu)?;
    let other = f(dev)?;
    assert_eq!(other.device(), dev);
    assert_eq!(cpu.shape(), other.shape());
    assert_eq!(cpu.dtype(), other.dtype());
    assert_close(&values(&other)?, &values(&cpu)?, tol);
    Ok(())
}

/// (input shape, normalized_shape, affine, input transposed, dtype) of a layer norm test case.
type LayerNormCase = (&'static [usize], &'static [usize], bool, bool, DType);

fn seeded(shape: &[usize], seed: u64) -> Tensor {
    let mut g = ember_core::Generator::new(seed);
    Tensor::randn_with(shape, &mut g)
}

device_tests! {
    fn round_trip_keeps_values(dev) {
        let x = Tensor::new(&[[1.0f32, -2.0, 3.5], [4.0, 5.0, -6.25]]);
        let y = x.to(dev)?;
        assert_eq!(y.device(), dev);
        assert_eq!(y.to(Device::Cpu)?.to_vec::<f32>()?, x.to_vec::<f32>()?);
        for d in [DType::I64, DType::F16, DType::BF16, DType::F64, DType::Bool] {
            let xd = x.to_dtype(d)?;
            assert_eq!(xd.to(dev)?.to(Device::Cpu)?.to_vec::<f64>()?, xd.to_vec::<f64>()?, "{d}");
        }
        Ok(())
    }

    fn elementwise_and_broadcast_match_cpu(dev) {
        same_on(dev, 1e-6, |d| {
            let a = seeded(&[3, 4], 1).to(d)?;
            let b = seeded(&[4], 2).to(d)?;
            a.add(&b)?.mul(&a)?.sub_scalar(0.5)?.div(&b.abs()?.add_scalar(1.0)?)?.tanh()?.exp()
        })
    }

    fn strided_views_are_read_in_place(dev) {
        same_on(dev, 1e-6, |d| {
            let a = seeded(&[4, 5], 3).to(d)?;
            a.t().relu()?.add(&a.t())
        })
    }

    fn matmul_and_batched_matmul_match_cpu(dev) {
        same_on(dev, 1e-4, |d| seeded(&[5, 7], 4).to(d)?.matmul(&seeded(&[7, 3], 5).to(d)?))?;
        same_on(dev, 1e-4, |d| seeded(&[2, 5, 7], 6).to(d)?.matmul(&seeded(&[7, 3], 7).to(d)?))?;
        same_on(dev, 1e-4, |d| seeded(&[2, 7, 5], 8).to(d)?.transpose(-2, -1)?.matmul(&seeded(&[2, 7, 3], 9).to(d)?))
    }

    fn reductions_and_softmax_match_cpu(dev) {
        same_on(dev, 1e-5, |d| seeded(&[3, 6], 10).to(d)?.sum(1, false))?;
        same_on(dev, 1e-5, |d| seeded(&[3, 6], 11).to(d)?.mean(0, true))?;
        same_on(dev, 1e-5, |d| seeded(&[3, 6], 12).to(d)?.amax(&[1], false))?;
        same_on(dev, 1e-5, |d| seeded(&[3, 6], 13).to(d)?.softmax(-1))?;
        same_on(dev, 1e-5, |d| seeded(&[3, 6, 2], 14).to(d)?.log_softmax(1))
    }

    fn gather_and_index_select_match_cpu(dev) {
        same_on(dev, 0.0, |d| {
            let x = seeded(&[4, 3], 15).to(d)?;
            x.index_select(0, &Tensor::new(&[3i64, 0, 0]).to(d)?)
        })?;
        same_on(dev, 0.0, |d| {
            let x = seeded(&[2, 3], 16).to(d)?;
            x.gather(1, &Tensor::new(&[[2i64, 0], [1, 1]]).to(d)?)
        })
    }

    fn bad_indices_are_errors(dev) {
        let x = seeded(&[4, 3], 17).to(dev)?;
        assert!(x.index_select(0, &Tensor::new(&[4i64]).to(dev)?).is_err());
        assert!(x.gather(1, &Tensor::new(&[[5i64]]).to(dev)?).is_err());
        Ok(())
    }

    fn mlp_training_step_gradients_match_cpu(dev) {
        let grads = |d: Device| -> Result<Vec<Vec<f64>>> {
            let x = seeded(&[8, 5], 20).to(d)?;
            let w1 = seeded(&[5, 16], 21).to(d)?.detach().requires_grad_(true);
            let w2 = seeded(&[16, 3], 22).to(d)?.detach().requires_grad_(true);
            let target = Tensor::new(&[0i64, 1, 2, 0, 1, 2, 0, 1]).to(d)?.unsqueeze(1)?;
            let logits = x.matmul(&w1)?.relu()?.matmul(&w2)?;
            let nll = logits.log_softmax(-1)?.gather(1, &target)?.neg()?.mean_all()?;
            nll.backward()?;
            Ok(vec![values(&nll)?, values(&w1.grad().unwrap())?, values(&w2.grad().unwrap())?])
        };
        let (cpu, other) = (grads(Device::Cpu)?, grads(dev)?);
        for (g, w) in other.iter().zip(&cpu) {
            assert_close(g, w, 1e-4);
        }
        Ok(())
    }

    fn random_tensors_are_made_on_the_device(dev) {
        let u = Tensor::rand_on(&[1000], dev)?;
        let z = Tensor::randn_on(&[1000], dev)?;
        assert_eq!((u.device(), z.device()), (dev, dev));
        let u = u.to_vec::<f32>()?;
        assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean = u.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "uniform mean {mean}");
        let z = z.to_vec::<f32>()?;
        let zm = z.iter().sum::<f32>() / 1000.0;
        let zv = z.iter().map(|v| (v - zm) * (v - zm)).sum::<f32>() / 1000.0;
        assert!(zm.abs() < 0.1 && (zv - 1.0).abs() < 0.15, "normal mean {zm} var {zv}");
        Ok(())
    }

    fn conv2d_forward_and_backward_match_cpu(dev) {
        let grads = |d: Device| -> Result<Vec<Vec<f64>>> {
            let x = seeded(&[2, 3, 6, 5], 30).to(d)?.detach().requires_grad_(true);
            let w = seeded(&[4, 3, 3, 2], 31).to(d)?.detach().requires_grad_(true);
            let b = seeded(&[4], 32).to(d)?.detach().requires_grad_(true);
            let p = ember_core::ops::conv::Conv2dParams::new([2, 1], [1, 0], [1, 1], 1);
            let y = x.conv2d_with(&w, Some(&b), &p)?;
            y.square()?.sum_all().backward()?;
            Ok(vec![values(&y)?, values(&x.grad().unwrap())?, values(&w.grad().unwrap())?, values(&b.grad().unwrap())?])
        };
        let (cpu, other) = (grads(Device::Cpu)?, grads(dev)?);
        for (g, w) in other.iter().zip(&cpu) {
            assert_close(g, w, 1e-4);
        }
        Ok(())
    }

    fn max_pool2d_forward_and_backward_match_cpu(dev) {
        let run = |d: Device| -> Result<Vec<Vec<f64>>> {
            let x = seeded(&[2, 3, 7, 6], 40).to(d)?.detach().requires_grad_(true);
            let (v, i) = x.max_pool2d([3, 2], [2, 2], [1, 0], [1, 1], false)?;
            let s = x.max_pool2d_simple([2, 2], [2, 2])?;
            v.sum_all().add(&s.square()?.sum_all())?.backward()?;
            Ok(vec![values(&v)?, values(&i)?, values(&s)?, values(&x.grad().unwrap())?])
        };
        let (cpu, other) = (run(Device::Cpu)?, run(dev)?);
        for (g, w) in other.iter().zip(&cpu) {
            assert_close(g, w, 1e-5);
        }
        Ok(())
    }

    fn in_place_optimizer_updates_work(dev) {
        let p = Tensor::new(&[1.0f32, 2.0, 3.0]).to(dev)?;
        let g = Tensor::new(&[0.5f32, -1.0, 2.0]).to(dev)?;
        let _ng = ember_core::no_grad();
        p.add_scaled_(&g, -0.1)?;
        p.mul_scalar_(2.0)?;
        p.add_(&g)?;
        let copy = p.copy();
        p.zero_()?;
        assert_close(&values(&copy)?, &[2.4, 3.2, 7.6], 1e-6);
        assert_eq!(values(&p)?, vec![0.0; 3]);
        Ok(())
    }

    fn half_precision_products_match_cpu(dev) {
        // f16/bf16 products (tensor cores on a GPU; through cuBLASLt when EMBER_CUBLASLT=1):
        // plain, transposed operands, batched with a broadcast right side, shapes off the tile
        // sizes. Both sides accumulate in f32 and round once, so they differ by an ulp or so.
        for dt in [DType::F16, DType::BF16] {
            let tol = if dt == DType::BF16 { 2e-2 } else { 4e-3 };
            let h = |shape: &[usize], seed: u64, d: Device| seeded(shape, seed).to_dtype(dt)?.to(d);
            same_on(dev, tol, |d| h(&[33, 70], 90, d)?.matmul(&h(&[70, 17], 91, d)?))?;
            same_on(dev, tol, |d| h(&[70, 33], 92, d)?.t().matmul(&h(&[17, 70], 93, d)?.t()))?;
            same_on(dev, tol, |d| h(&[3, 9, 64], 94, d)?.matmul(&h(&[64, 40], 95, d)?))?;
            same_on(dev, tol, |d| h(&[2, 3, 16, 8], 96, d)?.matmul(&h(&[2, 3, 8, 24], 97, d)?))?;
        }
        Ok(())
    }

    fn autocast_runs_matmul_in_bf16(dev) {
        let a = seeded(&[4, 8], 50).to(dev)?;
        let b = seeded(&[8, 3], 51).to(dev)?;
        let full = a.matmul(&b)?;
        let _ac = ember_core::amp::autocast(DType::BF16)?;
        let low = a.matmul(&b)?;
        assert_eq!(low.dtype(), DType::BF16);
        assert_eq!(low.softmax(-1)?.dtype(), DType::F32);
        assert_close(&values(&low)?, &values(&full)?, 5e-2);
        Ok(())
    }

    fn fused_adam_step_matches_cpu(dev) {
        use ember_core::ops::fused_adam::AdamStep;
        // the GPU kernel is opt-in until this test has passed on a GPU (cuda/ops/optim.rs)
        ember_core::cuda::set_fused_adam(true);
        // plain Adam, AdamW with amsgrad, L2 decay while maximizing
        let variants = [(None, 0.0, false, false), (Some(0.99f32), 0.0, false, true), (None, 0.01, true, false)];
        for (decay_factor, l2, maximize, amsgrad) in variants {
            same_on(dev, 1e-5, |d| {
                let p = seeded(&[1000], 20).to(d)?;
                let (m, v) = (Tensor::zeros_like(&p), Tensor::zeros_like(&p));
                let vmax = amsgrad.then(|| Tensor::zeros_like(&p));
                for t in 1..=3 {
                    let step = AdamStep {
                        decay_factor,
                        l2,
                        maximize,
                        one_minus_beta1: 0.1,
                        beta2: 0.999,
                        one_minus_beta2: 0.001,
                        bias_correction2_sqrt: (1.0 - 0.999f32.powi(t)).sqrt(),
                        eps: 1e-8,
                        step_size: 1e-2 / (1.0 - 0.9f32.powi(t)),
                    };
                    let g = seeded(&[1000], 20 + t as u64).to(d)?;
                    assert!(Tensor::adam_step_(&p, &g, &m, &v, vmax.as_ref(), &step)?, "the fused path ran");
                }
                let mut parts = vec![p, m, v];
                parts.extend(vmax);
                Tensor::cat(&parts, 0)
            })?;
        }
        Ok(())
    }

    fn fused_layer_norm_matches_cpu(dev) {
        // the GPU kernels are opt-in until this test has passed on a GPU (cuda/ops/norm.rs)
        ember_core::cuda::set_fused_layer_norm(true);
        // (shape, normalized_shape, affine, input transposed, dtype): W6's rows of 256, a row
        // longer than a block, rows shorter than a warp, no affine, a transposed input, f64
        let cases: [LayerNormCase; 6] = [
            (&[16, 128, 256], &[256], true, false, DType::F32),
            (&[3, 1000], &[1000], true, false, DType::F32),
            (&[7, 5, 3], &[5, 3], true, false, DType::F32),
            (&[64, 40], &[40], false, false, DType::F32),
            (&[24, 10], &[24], true, true, DType::F32),
            (&[9, 300], &[300], true, false, DType::F64),
        ];
        for (k, (shape, ns, affine, strided, dt)) in cases.into_iter().enumerate() {
            let tol = if dt == DType::F64 { 1e-10 } else { 2e-5 };
            same_on(dev, tol, |d| {
                let leaf = seeded(shape, 40 + k as u64).mul_scalar(3.0)?.add_scalar(1.5)?.to_dtype(dt)?;
                let leaf = leaf.to(d)?.requires_grad_(true);
                let x = if strided { leaf.t() } else { leaf.clone() };
                let w = affine.then(|| seeded(ns, 50).to_dtype(dt).unwrap().to(d).unwrap().requires_grad_(true));
                let b = affine.then(|| seeded(ns, 51).to_dtype(dt).unwrap().to(d).unwrap().requires_grad_(true));
                let y = x.layer_norm(ns, w.as_ref(), b.as_ref(), 1e-5)?;
                assert_eq!(y.grad_fn_name(), Some("layer_norm"), "case {k}: the fused path ran");
                let g = seeded(y.shape(), 60).to_dtype(dt)?.to(d)?;
                y.mul(&g)?.sum_all().backward()?;
                let mut parts = vec![y.detach().flatten(0, -1)?, leaf.grad().expect("dx").flatten(0, -1)?];
                for p in [w, b].into_iter().flatten() {
                    parts.push(p.grad().expect("dw / db").flatten(0, -1)?);
                }
                Tensor::cat(&parts, 0)
            })?;
        }
        Ok(())
    }

    fn mixing_devices_is_an_error(dev) {
        if dev == Device::Cpu {
            return Ok(());
        }
        let a = Tensor::ones(&[2]).to(dev)?;
        let e = a.add(&Tensor::ones(&[2])).unwrap_err().to_string();
        assert!(e.contains("same device"), "{e}");
        Ok(())
    }
}

/// Without a usable GPU, asking for one is a clear error — never a crash.
#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    if ember_core::cuda::is_available() {
        println!("skipped: a CUDA device is present");
        return;
    }
    let x = Tensor::new(&[1.0f32, 2.0]);
    let e = x.to(Device::cuda(0)).unwrap_err().to_string();
    assert!(e.contains("no CUDA driver found"), "{e}");
    assert!(e.contains("cuda:0"), "{e}");
    let e = Device::cuda(0).check_available("test").unwrap_err().to_string();
    assert!(e.contains("no CUDA driver found"), "{e}");
    assert!(ember_core::cuda::synchronize(0).is_err());
    assert_eq!(ember_core::cuda::device_count(), 0);
    assert_eq!(ember_core::cuda::memory_allocated(0), 0);
    assert!(ember_core::cuda::empty_cache(0).is_ok());
    // the CPU keeps working after the failed probe
    assert_eq!(x.add(&x).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
}
