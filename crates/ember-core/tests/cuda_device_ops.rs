//! Device tests of the ops ported to CUDA after the first backend (joins, movement copies,
//! pooling and resampling, grouped / 1-D / transposed convolution, scans, sorting, scatters and
//! mask ops): each body runs on the CPU and on `cuda:0` (`device_tests!`), computing the same
//! thing from the same seeded inputs, and the GPU's values and gradients are compared with the
//! CPU's. Without a GPU the CUDA instances print why they skip.
//!
//! Inputs have odd sizes, rows longer than one 256-thread block, strided (transposed) views,
//! ties and NaN where the op defines an order.

use ember_core::ops::conv::{Conv2dParams, Padding1d};
use ember_core::ops::shape_ops::PadMode;
use ember_core::{device_tests, DType, Device, Result, Tensor};

/// Values of `t` (on any device) as f64.
fn values(t: &Tensor) -> Result<Vec<f64>> {
    t.to_vec::<f64>()
}

/// Element-wise relative closeness; NaN matches NaN.
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.is_nan() && w.is_nan() {
            continue;
        }
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

fn seeded(shape: &[usize], seed: u64) -> Tensor {
    let mut g = ember_core::Generator::new(seed);
    Tensor::randn_with(shape, &mut g)
}

/// Run `f` on the CPU and on `dev` and compare every tensor it returns (shape, dtype, device
/// and values).
fn same_on(dev: Device, tol: f64, f: impl Fn(Device) -> Result<Vec<Tensor>>) -> Result<()> {
    let (cpu, other) = (f(Device::Cpu)?, f(dev)?);
    assert_eq!(cpu.len(), other.len());
    for (k, (c, o)) in cpu.iter().zip(&other).enumerate() {
        assert_eq!(o.device(), dev, "output {k} is on the wrong device");
        assert_eq!(c.shape(), o.shape(), "output {k}");
        assert_eq!(c.dtype(), o.dtype(), "output {k}");
        assert_close(&values(o)?, &values(c)?, tol);
    }
    Ok(())
}

/// `op` of a seeded input of `shape` (made on the device, so it is a leaf there), then the
/// gradient of a seeded weighting of its output: returns [output, input gradient].
fn with_grad(d: Device, shape: &[usize], seed: u64, op: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    let x = seeded(shape, seed).to(d)?.detach().requires_grad_(true);
    let y = op(&x)?;
    let w = seeded(y.shape(), seed + 1000).to(d)?;
    y.mul(&w)?.sum_all().backward()?;
    Ok(vec![y.detach(), x.grad().expect("the input gets a gradient")])
}

/// `with_grad` where the op sees a transposed (strided) view of the input.
fn with_grad_t(d: Device, shape: &[usize], seed: u64, op: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    with_grad(d, shape, seed, |x| op(&x.transpose(-2, -1)?))
}

/// (input shape, weight shape, stride, padding, dilation, groups)
type ConvCase = ([usize; 4], [usize; 4], [usize; 2], [usize; 2], [usize; 2], usize);

device_tests! {
    fn cat_and_stack_stay_on_the_device_with_grads(dev) {
        same_on(dev, 1e-6, |d| {
            let a = seeded(&[2, 3], 1).to(d)?.detach().requires_grad_(true);
            let b = seeded(&[3, 5], 2).to(d)?.detach().requires_grad_(true);
            let y = Tensor::cat(&[a.clone(), b.t()], 0)?;
            let s = Tensor::stack(&[a.clone(), a.mul_scalar(2.0)?], 1)?;
            y.square()?.sum_all().add(&s.sum_all())?.backward()?;
            Ok(vec![y.detach(), s.detach(), a.grad().unwrap(), b.grad().unwrap()])
        })?;
        // mixed dtypes promote, integers join too
        same_on(dev, 0.0, |d| {
            let i = Tensor::new(&[[1i64, 2], [3, 4]]).to(d)?;
            Ok(vec![Tensor::cat(&[i.clone(), i.t()], 1)?, Tensor::cat(&[i.to_dtype(DType::F32)?, seeded(&[1, 2], 3).to(d)?], 0)?])
        })
    }

    fn pad_in_every_mode_with_grads(dev) {
        same_on(dev, 1e-6, |d| with_grad(d, &[2, 3, 5], 10, |x| x.pad(&[2, -1, 1, 3], PadMode::Constant(0.5))))?;
        same_on(dev, 1e-6, |d| with_grad(d, &[2, 4, 5], 11, |x| x.pad(&[3, 2, 1, 2], PadMode::Reflect)))?;
        same_on(dev, 1e-6, |d| with_grad_t(d, &[2, 5, 4], 12, |x| x.pad(&[2, 4], PadMode::Replicate)))?;
        same_on(dev, 1e-6, |d| with_grad(d, &[3, 4], 13, |x| x.pad(&[4, 1, 2, 2], PadMode::Circular)))
    }

    fn flip_roll_repeat_tril_triu_with_grads(dev) {
        same_on(dev, 1e-6, |d| with_grad(d, &[3, 4, 5], 20, |x| x.flip(&[0, 2])))?;
        same_on(dev, 1e-6, |d| with_grad_t(d, &[2, 5, 3], 21, |x| x.flip(&[-1])))?;
        same_on(dev, 1e-6, |d| with_grad(d, &[3, 4], 22, |x| x.roll(&[2, -1], &[1, 0])))?;
        same_on(dev, 1e-6, |d| with_grad(d, &[3, 4], 23, |x| x.roll(&[5], &[])))?;
        same_on(dev, 1e-6, |d| with_grad_t(d, &[2, 3], 24, |x| x.repeat(&[2, 1, 3])))?;
        for k in [-2, 0, 1, 4] {
            same_on(dev, 0.0, |d| with_grad(d, &[2, 4, 5], 25, |x| x.tril(k)))?;
            same_on(dev, 0.0, |d| with_grad_t(d, &[2, 5, 4], 26, |x| x.triu(k)))?;
        }
        same_on(dev, 0.0, |d| {
            let i = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]]).to(d)?;
            let b = i.gt_scalar(2.0)?;
            Ok(vec![i.flip(&[0, 1])?, i.t().tril(0)?, b.triu(1)?, b.flip(&[1])?])
        })
    }

    fn contiguous_of_strided_views(dev) {
        same_on(dev, 0.0, |d| {
            let x = seeded(&[2, 3, 4, 5], 30).to(d)?;
            let p = x.permute(&[3, 1, 0, 2])?.contiguous();
            let n = x.narrow(3, 1, 3)?.transpose(0, 2)?.contiguous();
            let e = seeded(&[3, 1], 31).to(d)?.expand(&[2, 3, 4])?.contiguous();
            assert!(p.is_contiguous() && n.is_contiguous() && e.is_contiguous());
            Ok(vec![p, n, e])
        })
    }

    fn avg_pools_with_grads(dev) {
        for (pad, ceil, cip) in [([0, 0], false, true), ([1, 1], false, true), ([1, 0], true, false), ([1, 1], true, true)] {
            same_on(dev, 1e-5, |d| with_grad(d, &[2, 3, 7, 6], 40, |x| x.avg_pool2d([3, 2], [2, 2], pad, ceil, cip)))?;
        }
        same_on(dev, 1e-5, |d| with_grad_t(d, &[3, 6, 7], 41, |x| x.avg_pool2d([2, 2], [1, 2], [1, 1], false, false)))?;
        for out in [[3, 2], [1, 1], [7, 6], [9, 11]] {
            same_on(dev, 1e-5, |d| with_grad(d, &[2, 3, 7, 6], 42, |x| x.adaptive_avg_pool2d(out)))?;
        }
        same_on(dev, 1e-5, |d| with_grad_t(d, &[3, 5, 4], 43, |x| x.adaptive_avg_pool2d([3, 2])))
    }

    fn upsampling_with_grads(dev) {
        for out in [[6, 10], [7, 4], [3, 5], [2, 3]] {
            same_on(dev, 1e-5, |d| with_grad(d, &[2, 3, 3, 5], 50, |x| x.upsample_nearest2d(out)))?;
            for align in [false, true] {
                same_on(dev, 1e-5, |d| with_grad(d, &[2, 3, 3, 5], 51, |x| x.upsample_bilinear2d(out, align)))?;
            }
        }
        same_on(dev, 1e-5, |d| with_grad_t(d, &[1, 2, 5, 3], 52, |x| x.upsample_bilinear2d([8, 9], false)))
    }

    fn grouped_1d_and_transposed_convolutions_with_grads(dev) {
        let cases: [ConvCase; 4] = [
            ([2, 4, 7, 6], [6, 2, 3, 3], [1, 1], [1, 1], [1, 1], 2),
            ([2, 3, 8, 7], [3, 1, 3, 2], [2, 1], [1, 0], [1, 2], 3),
            ([1, 6, 5, 5], [4, 3, 2, 2], [1, 2], [0, 1], [2, 1], 2),
            ([2, 3, 6, 5], [4, 3, 3, 2], [2, 1], [1, 0], [1, 1], 1),
        ];
        for (xs, ws, stride, pad, dil, groups) in cases {
            same_on(dev, 1e-4, |d| {
                let x = seeded(&xs, 60).to(d)?.detach().requires_grad_(true);
                let w = seeded(&ws, 61).to(d)?.detach().requires_grad_(true);
                let b = seeded(&[ws[0]], 62).to(d)?.detach().requires_grad_(true);
                let y = x.conv2d_with(&w, Some(&b), &Conv2dParams::new(stride, pad, dil, groups))?;
                y.mul(&seeded(y.shape(), 63).to(d)?)?.sum_all().backward()?;
                Ok(vec![y.detach(), x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()])
            })?;
        }
        same_on(dev, 1e-4, |d| {
            let x = seeded(&[2, 4, 11], 64).to(d)?.detach().requires_grad_(true);
            let w = seeded(&[6, 2, 3], 65).to(d)?.detach().requires_grad_(true);
            let y = x.conv1d(&w, None, 2, Padding1d::Explicit(1), 2, 2)?;
            y.square()?.sum_all().backward()?;
            Ok(vec![y.detach(), x.grad().unwrap(), w.grad().unwrap()])
        })?;
        for groups in [1, 2] {
            same_on(dev, 1e-4, |d| {
                let x = seeded(&[2, 4, 4, 5], 66).to(d)?.detach().requires_grad_(true);
                let w = seeded(&[4, 3, 3, 2], 67).to(d)?.detach().requires_grad_(true);
                let b = seeded(&[3 * groups], 68).to(d)?.detach().requires_grad_(true);
                let y = x.conv_transpose2d(&w, Some(&b), [2, 2], [1, 0], [1, 1], [1, 1], groups)?;
                y.mul(&seeded(y.shape(), 69).to(d)?)?.sum_all().backward()?;
                Ok(vec![y.detach(), x.grad().unwrap(), w.grad().unwrap(), b.grad().unwrap()])
            })?;
        }
        Ok(())
    }

    fn cumsum_and_cumprod_with_grads(dev) {
        same_on(dev, 1e-5, |d| with_grad(d, &[3, 700], 70, |x| x.cumsum(1)))?;
        same_on(dev, 1e-5, |d| with_grad(d, &[5, 3, 4], 71, |x| x.cumsum(1)))?;
        same_on(dev, 1e-5, |d| with_grad_t(d, &[6, 4], 72, |x| x.cumsum(0)))?;
        // products of values near 1 stay finite over long rows
        same_on(dev, 1e-4, |d| with_grad(d, &[2, 300], 73, |x| x.mul_scalar(0.01)?.add_scalar(1.0)?.cumprod(1)))?;
        same_on(dev, 1e-5, |d| with_grad(d, &[4, 3], 74, |x| x.cumprod(0)))?;
        // a zero in the input takes cumprod's exact-gradient path
        same_on(dev, 1e-5, |d| {
            let x = Tensor::new(&[[2.0f32, 0.0, 3.0, -1.5], [1.0, 2.0, 0.5, 0.0]]).to(d)?.detach().requires_grad_(true);
            let y = x.cumprod(1)?;
            y.sum_all().backward()?;
            Ok(vec![y.detach(), x.grad().unwrap()])
        })?;
        same_on(dev, 0.0, |d| {
            let i = Tensor::new(&[[1i64, -2, 3], [4, 5, -6]]).to(d)?;
            Ok(vec![i.cumsum(1)?, i.cumprod(0)?, i.to_dtype(DType::I32)?.cumsum(0)?, i.gt_scalar(0.0)?.cumsum(1)?])
        })
    }

    fn sort_argsort_topk_with_grads(dev) {
        // ties and NaN: stable, NaN largest
        same_on(dev, 0.0, |d| {
            let x = Tensor::new(&[[3.0f32, 1.0, f32::NAN, 1.0, 2.0, 3.0, -1.0], [0.0, 0.0, 0.0, 5.0, f32::NAN, f32::NAN, -2.0]]).to(d)?;
            let (a, ai) = x.sort(1, false)?;
            let (b, bi) = x.sort(1, true)?;
            let (t, ti) = x.topk(3, 1, true, true)?;
            let (s, si) = x.topk(2, 1, false, true)?;
            Ok(vec![a, ai, b, bi, t, ti, s, si, x.argsort(0, false)?])
        })?;
        for (shape, dim) in [([4, 37], 1), ([37, 3], 0), ([2, 3000], 1), ([5, 1], 1)] {
            same_on(dev, 0.0, |d| {
                let r = with_grad(d, &shape, 80, |x| Ok(x.sort(dim, true)?.0))?;
                let k = shape[dim as usize].min(5);
                let t = with_grad(d, &shape, 81, |x| Ok(x.topk(k, dim, false, true)?.0))?;
                let x = seeded(&shape, 82).to(d)?;
                Ok([r, t, vec![x.sort(dim, false)?.1, x.topk(k, dim, true, true)?.1]].concat())
            })?;
        }
        same_on(dev, 0.0, |d| {
            let i = Tensor::new(&[[5i64, -1, 5, 2, 0], [1, 1, 1, 0, 9]]).to(d)?;
            let (v, ix) = i.sort(1, true)?;
            let h = seeded(&[3, 6], 83).to(d)?.to_dtype(DType::F16)?;
            let (hv, hi) = h.topk(2, 1, true, true)?;
            Ok(vec![v, ix, i.argsort(1, false)?, hv, hi])
        })
    }

    fn max_min_dim_and_argmax_with_grads(dev) {
        same_on(dev, 0.0, |d| with_grad(d, &[4, 5, 3], 90, |x| Ok(x.max_dim(1, false)?.0)))?;
        same_on(dev, 0.0, |d| with_grad_t(d, &[4, 5], 91, |x| Ok(x.min_dim(-1, true)?.0)))?;
        same_on(dev, 0.0, |d| {
            let x = Tensor::new(&[[1.0f32, 7.0, 7.0, f32::NAN], [4.0, 2.0, 4.0, 0.0]]).to(d)?;
            let (v, i) = x.max_dim(1, false)?;
            let (mv, mi) = x.min_dim(0, true)?;
            let big = seeded(&[3, 1000], 92).to(d)?;
            Ok(vec![v, i, mv, mi, x.argmax(0, false)?, x.argmin(1, false)?, big.argmax(1, true)?, big.argmax_all()?,
                Tensor::new(&[3i64, 9, 9, -1]).to(d)?.argmax(0, false)?])
        })
    }

    fn scatter_and_mask_ops_with_grads(dev) {
        same_on(dev, 0.0, |d| {
            let base = seeded(&[3, 5], 100).to(d)?.detach().requires_grad_(true);
            let src = seeded(&[2, 3], 101).to(d)?.detach().requires_grad_(true);
            let idx = Tensor::new(&[[-1i64, 0, 2], [1, 2, 3]]).to(d)?;
            let y = base.scatter(1, &idx, &src)?;
            y.mul(&seeded(&[3, 5], 102).to(d)?)?.sum_all().backward()?;
            let ints = Tensor::zeros_on(&[2, 4], DType::I64, d)?.scatter(1, &Tensor::new(&[[3i64], [0]]).to(d)?, &Tensor::new(&[[7i64], [8]]).to(d)?)?;
            Ok(vec![y.detach(), base.grad().unwrap(), src.grad().unwrap(), ints])
        })?;
        same_on(dev, 0.0, |d| {
            let x = seeded(&[3, 4], 103).to(d)?.detach().requires_grad_(true);
            let mask = x.gt_scalar(0.2)?;
            let picked = x.masked_select(&mask)?;
            let row_mask = Tensor::new(&[true, false, true, true]).to(d)?; // broadcasts over rows
            let rows = x.masked_select(&row_mask)?;
            picked.square()?.sum_all().add(&rows.sum_all())?.backward()?;
            let src = seeded(&[12], 104).to(d)?;
            let ms = x.detach().masked_scatter(&mask, &src)?;
            Ok(vec![picked.detach(), rows.detach(), x.grad().unwrap(), ms, x.detach().nonzero()?, mask.nonzero()?])
        })?;
        same_on(dev, 0.0, |d| {
            let x = seeded(&[4, 3], 105).to(d)?;
            let m = Tensor::new(&[true, false, true, true]).to(d)?;
            let labels = Tensor::new(&[2i64, 0, 1]).to(d)?;
            Ok(vec![x.index(&m)?, x.index_dim(1, &Tensor::new(&[false, true, true]).to(d)?)?, labels.one_hot(4)?])
        })
    }

    fn saving_device_tensors_writes_their_values(dev) {
        let t = seeded(&[3, 4], 110).to(dev)?;
        let h = Tensor::new(&[1i64, -2, 3]).to(dev)?;
        let bytes = ember_core::io::to_bytes(&[("t".into(), t.t()), ("h".into(), h)], None)?;
        let (back, _) = ember_core::io::from_bytes(&bytes)?;
        assert_eq!(values(&back["t"])?, values(&seeded(&[3, 4], 110).t())?);
        assert_eq!(back["h"].to_vec::<i64>()?, vec![1, -2, 3]);
        Ok(())
    }

    fn bernoulli_stays_on_the_device(dev) {
        let p = Tensor::full_on(&[64], 0.5, DType::F32, dev)?;
        let b = p.bernoulli()?;
        assert_eq!(b.device(), dev);
        assert!(values(&b)?.iter().all(|&v| v == 0.0 || v == 1.0));
        Ok(())
    }
}
