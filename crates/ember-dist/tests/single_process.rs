//! ProcessGroup and DistributedDataParallel in one process (no MPI needed): argument checks, the
//! collectives' one-rank results, and DDP's bookkeeping (buckets, no_sync, unused parameters).

use ember_core::{manual_seed, DType, Tensor};
use ember_dist::{DdpOptions, DistributedDataParallel, ProcessGroup, ReduceOp};
use ember_nn::{Linear, Module, Visitor};

#[test]
fn one_rank_collectives_and_argument_errors() {
    let pg = ProcessGroup::single();
    assert_eq!((pg.rank(), pg.world_size()), (0, 1));
    for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let t = Tensor::new(&[1.0f32, -2.0, 3.0]).to_dtype(dt).unwrap();
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
            pg.all_reduce(&t, op).unwrap();
        }
        assert_eq!(t.to_vec::<f64>().unwrap(), vec![1.0, -2.0, 3.0]);
        let out = Tensor::zeros(&[3]).to_dtype(dt).unwrap();
        pg.all_gather(&out, &t).unwrap();
        assert_eq!(out.to_vec::<f64>().unwrap(), vec![1.0, -2.0, 3.0]);
    }
    let t = Tensor::zeros(&[4]);
    assert!(pg.all_gather(&Tensor::zeros(&[5]), &t).is_err(), "wrong output size");
    assert!(pg.all_gather(&t, &t).is_err(), "shared storage");
    assert!(pg.broadcast(&t, 1).is_err(), "root out of range");
    assert!(pg.gather(None, &t, 0).is_err(), "the root must pass an output");
    let m = Tensor::zeros(&[2, 3]).t();
    let e = pg.all_reduce(&m, ReduceOp::Sum).unwrap_err().to_string();
    assert!(e.contains("contiguous"), "{e}");
    let e = pg
        .all_reduce(&Tensor::zeros(&[2]).to_dtype(DType::I32).unwrap(), ReduceOp::Mean)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Mean"), "{e}");
}

struct Two {
    a: Linear,
    b: Linear,
    use_b: bool,
}

impl Module for Two {
    fn forward(&self, x: &Tensor) -> ember_core::Result<Tensor> {
        let h = self.a.call(x)?;
        if self.use_b {
            self.b.call(&h)
        } else {
            Ok(h)
        }
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("a", &self.a);
        v.module("b", &self.b);
    }
}

/// Tests run on parallel threads and the initializers draw from the global generator: every
/// draw from it in this file happens under this lock, so seeded models come out identical.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn two(use_b: bool) -> Two {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(0);
    Two {
        a: Linear::new(3, 3),
        b: Linear::new(3, 2),
        use_b,
    }
}

fn randn(shape: &[usize]) -> Tensor {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    Tensor::randn(shape)
}

fn grads(m: &dyn Module) -> Vec<Vec<f32>> {
    m.parameters()
        .iter()
        .map(|p| p.grad().map(|g| g.to_vec::<f32>().unwrap()).unwrap_or_default())
        .collect()
}

#[test]
fn ddp_on_one_rank_leaves_the_plain_gradients_and_the_state_dict_names() {
    let x = randn(&[5, 3]);
    let plain = two(true);
    plain.forward(&x).unwrap().sum_all().backward().unwrap();
    let opts = DdpOptions {
        bucket_cap_mib: 0.00002, // ~20 bytes: one bucket per parameter
        ..DdpOptions::default()
    };
    let ddp = DistributedDataParallel::with_options(two(true), ProcessGroup::single(), opts).unwrap();
    assert_eq!(ddp.buckets().len(), 4);
    assert_eq!(ddp.buckets()[0], vec!["b.bias".to_string()], "last parameter first");
    ddp.forward(&x).unwrap().sum_all().backward().unwrap();
    ddp.check().unwrap();
    assert_eq!(grads(&ddp), grads(&plain));
    let names: Vec<String> = ddp.state_dict().into_iter().map(|(k, _)| k).collect();
    let plain_names: Vec<String> = plain.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, plain_names);

    // no_sync accumulates; the next synced backward keeps the sum
    for p in ddp.parameters() {
        p.zero_grad();
    }
    {
        let _g = ddp.no_sync();
        ddp.forward(&x).unwrap().sum_all().backward().unwrap();
    }
    ddp.forward(&x).unwrap().sum_all().backward().unwrap();
    ddp.check().unwrap();
    let doubled: Vec<Vec<f32>> = grads(&plain)
        .iter()
        .map(|g| g.iter().map(|v| 2.0 * v).collect())
        .collect();
    assert_eq!(grads(&ddp), doubled);
}

#[test]
fn unused_parameters_are_an_error_or_zero_with_the_flag() {
    let x = randn(&[5, 3]);
    let ddp = DistributedDataParallel::new(two(false), ProcessGroup::single()).unwrap();
    ddp.forward(&x).unwrap().sum_all().backward().unwrap();
    let e = ddp.forward(&x).unwrap_err().to_string();
    assert!(e.contains("b.weight") && e.contains("find_unused_parameters"), "{e}");

    let opts = DdpOptions {
        find_unused_parameters: true,
        ..DdpOptions::default()
    };
    let ddp = DistributedDataParallel::with_options(two(false), ProcessGroup::single(), opts).unwrap();
    ddp.forward(&x).unwrap().sum_all().backward().unwrap();
    ddp.check().unwrap();
    let g = grads(&ddp);
    assert!(g[0].iter().any(|v| *v != 0.0));
    assert!(g[2].iter().all(|v| *v == 0.0), "unused parameters get zero gradients");
}
