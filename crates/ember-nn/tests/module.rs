//! The Module machinery: names, state_dict round trips and errors, modes, dtype conversion,
//! save/load, summary.

use ember_core::{manual_seed, DType, Device, Result, Tensor};
use ember_nn::*;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// The tests of this file run on parallel threads and every layer constructor draws from the
/// global generator; each test holds this lock so a seeded test sees only its own draws.
fn global_rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A ResNet-like block: names must come out as PyTorch's (`layer1.0.conv1.weight`, ...).
struct Block {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.bn1.call(&self.conv1.call(x)?)?.relu()?;
        self.conv2.call(&y)?.add(x)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("conv1", &self.conv1);
        v.module("bn1", &self.bn1);
        v.module("conv2", &self.conv2);
    }
}

fn block(c: usize) -> Block {
    let o = ConvOptions::default().padding(1).bias(false);
    Block {
        conv1: Conv2d::with(c, c, 3, o).unwrap(),
        bn1: BatchNorm2d::new(c),
        conv2: Conv2d::with(c, c, 3, o).unwrap(),
    }
}

struct Net {
    stem: Conv2d,
    layer1: Sequential,
    fc: Linear,
}

impl Module for Net {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.layer1.call(&self.stem.call(x)?)?;
        self.fc.call(&y.mean_dims(&[2, 3], false)?)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.module("stem", &self.stem);
        v.module("layer1", &self.layer1);
        v.module("fc", &self.fc);
    }
}

fn net() -> Net {
    Net {
        stem: Conv2d::with(3, 4, 3, ConvOptions::default().padding(1)).unwrap(),
        layer1: Sequential::new().add(block(4)).add(block(4)),
        fc: Linear::new(4, 2),
    }
}

fn state_map(m: &dyn Module) -> BTreeMap<String, Tensor> {
    m.state_dict().into_iter().map(|(k, v)| (k, v.copy())).collect()
}

#[test]
fn names_follow_pytorch() {
    let _rng = global_rng_lock();
    let n = net();
    let keys: Vec<String> = n.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        &keys[..4],
        [
            "stem.weight",
            "stem.bias",
            "layer1.0.conv1.weight",
            "layer1.0.bn1.weight"
        ]
    );
    assert!(keys.contains(&"layer1.1.bn1.num_batches_tracked".to_string()));
    assert_eq!(keys.last().unwrap(), "fc.bias");
    let params: Vec<String> = n.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert!(!params.iter().any(|k| k.contains("running")));
    assert_eq!(n.num_parameters(), 4 * 3 * 9 + 4 + 2 * (2 * 4 * 4 * 9 + 8) + 4 * 2 + 2);
    let modules = n.named_modules();
    assert_eq!(modules[1], ("layer1".to_string(), "Sequential".to_string()));
    assert_eq!(modules[2], ("layer1.0".to_string(), "Block".to_string()));
}

#[test]
fn state_dict_round_trip_and_strict_errors() {
    let _rng = global_rng_lock();
    manual_seed(1);
    let a = net();
    let b = net();
    let x = Tensor::randn(&[2, 3, 5, 5]);
    a.eval();
    b.eval();
    let ya = a.forward(&x).unwrap();
    assert!(b.load_state_dict(&state_map(&a), true).unwrap().is_clean());
    assert_eq!(
        b.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        ya.to_vec::<f32>().unwrap()
    );

    // missing, unexpected and mis-shaped keys are all listed; nothing is changed
    let mut s = state_map(&a);
    s.remove("fc.bias");
    s.insert("fc.extra".into(), Tensor::zeros(&[1]));
    s.insert("stem.weight".into(), Tensor::zeros(&[4, 3, 1, 1]));
    let before = b.state_dict()[2].1.to_vec::<f32>().unwrap();
    let err = b.load_state_dict(&s, true).unwrap_err().to_string();
    assert!(err.contains("Missing key(s) in state_dict: \"fc.bias\""), "{err}");
    assert!(err.contains("Unexpected key(s) in state_dict: \"fc.extra\""), "{err}");
    assert!(err.contains("size mismatch for stem.weight"), "{err}");
    assert_eq!(b.state_dict()[2].1.to_vec::<f32>().unwrap(), before);

    // non-strict: missing/unexpected are reported, shapes still checked
    s.insert("stem.weight".into(), a.state_dict()[0].1.copy());
    let report = b.load_state_dict(&s, false).unwrap();
    assert_eq!(report.missing, vec!["fc.bias".to_string()]);
    assert_eq!(report.unexpected, vec!["fc.extra".to_string()]);
}

#[test]
fn save_and_load_safetensors() {
    let _rng = global_rng_lock();
    let a = net();
    let dir = std::env::temp_dir().join(format!("ember-nn-test-{}", std::process::id()));
    let path = dir.join("model.safetensors");
    a.save(&path).unwrap();
    let b = net();
    b.load(&path, true).unwrap();
    for ((ka, ta), (kb, tb)) in a.state_dict().into_iter().zip(b.state_dict()) {
        assert_eq!(ka, kb);
        assert_eq!(ta.to_vec::<f64>().unwrap(), tb.to_vec::<f64>().unwrap());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_eval_flags_reach_every_layer() {
    let _rng = global_rng_lock();
    let m = Sequential::new()
        .add(Linear::new(4, 4))
        .add(Dropout::new(0.5).unwrap())
        .add(BatchNorm1d::new(4));
    assert!(m.is_training());
    m.eval();
    assert!(!m.is_training());
    let x = Tensor::randn(&[8, 4]);
    // eval: deterministic
    assert_eq!(
        m.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        m.forward(&x).unwrap().to_vec::<f32>().unwrap()
    );
    m.train();
    assert!(m.get(1).unwrap().own_training().unwrap());
    // training BatchNorm counts batches
    m.forward(&x).unwrap();
    let nbt = m
        .named_buffers()
        .into_iter()
        .find(|(k, _)| k == "2.num_batches_tracked")
        .unwrap()
        .1;
    assert_eq!(nbt.to_vec::<i64>().unwrap(), vec![1]);
}

#[test]
fn dropout_statistics() {
    let _rng = global_rng_lock();
    manual_seed(7);
    let d = Dropout::new(0.25).unwrap();
    let y = d.forward(&Tensor::ones(&[20000])).unwrap().to_vec::<f32>().unwrap();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.25).abs() < 0.02, "dropped fraction {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
}

#[test]
fn to_dtype_converts_floats_only() {
    let _rng = global_rng_lock();
    let m = Sequential::new().add(Linear::new(3, 2)).add(BatchNorm1d::new(2));
    m.to_dtype(DType::F64).unwrap();
    for (k, t) in m.state_dict() {
        let want = if k.ends_with("num_batches_tracked") {
            DType::I64
        } else {
            DType::F64
        };
        assert_eq!(t.dtype(), want, "{k}");
    }
    assert!(m.parameters().iter().all(|p| p.requires_grad() && p.is_leaf()));
    let y = m
        .forward(&Tensor::randn(&[4, 3]).to_dtype(DType::F64).unwrap())
        .unwrap();
    assert_eq!(y.dtype(), DType::F64);
    assert!(m.to_dtype(DType::I64).is_err());
}

#[test]
fn devices_other_than_cpu_error_clearly() {
    let _rng = global_rng_lock();
    let m = Linear::new(2, 2);
    assert!(m.to_device(Device::Cpu).is_ok());
    if ember_core::cuda::is_available() {
        return; // a real GPU: the move succeeds (covered by the device tests)
    }
    let e = m.to_device(Device::Cuda(0)).unwrap_err().to_string();
    assert!(e.contains("cuda:0") && e.contains("no CUDA driver found"), "{e}");
}

#[test]
fn summary_lists_layers_shapes_and_counts() {
    let _rng = global_rng_lock();
    let m = Sequential::new()
        .add(Linear::new(784, 512))
        .add(ReLU)
        .add(Linear::new(512, 10))
        .add(ReLU);
    let s = m.summary(&Tensor::zeros(&[1, 784])).unwrap();
    assert!(
        s.contains("0 (Linear)") && s.contains("[1, 512]") && s.contains("401,920"),
        "{s}"
    );
    assert!(s.contains("3 (ReLU)") && s.contains("[1, 10]"), "{s}");
    assert!(s.contains("Total params: 407,050"), "{s}");
    let n = net();
    let s = n.summary(&Tensor::zeros(&[1, 3, 6, 6])).unwrap();
    assert!(
        s.contains("layer1.1.conv2 (Conv2d)") && s.contains("[1, 4, 6, 6]"),
        "{s}"
    );
}

#[test]
fn shared_parameters_are_listed_once_and_freezing_works() {
    let _rng = global_rng_lock();
    struct Tied {
        a: Linear,
    }
    impl Module for Tied {
        fn forward(&self, x: &Tensor) -> Result<Tensor> {
            self.a.forward(x)
        }
        fn visit(&self, v: &mut dyn Visitor) {
            v.module("a", &self.a);
            v.param("tied", &self.a.weight);
        }
    }
    let t = Tied { a: Linear::new(2, 2) };
    assert_eq!(t.parameters().len(), 2);
    assert_eq!(t.state_dict().len(), 3);
    t.requires_grad_(false).unwrap();
    assert_eq!(t.num_trainable_parameters(), 0);
}

#[test]
fn boxed_modules_and_errors() {
    let _rng = global_rng_lock();
    let b: Box<dyn Module> = Box::new(Linear::new(3, 1));
    assert_eq!(b.type_name(), "Linear");
    assert_eq!(b.named_parameters().len(), 2);
    assert!(Linear::new(3, 1)
        .forward(&Tensor::ones(&[2, 4]))
        .unwrap_err()
        .to_string()
        .contains("linear"));
    assert!(ModuleList::<Linear>::new().forward(&Tensor::ones(&[1])).is_err());
    assert!(GroupNorm::new(3, 4).is_err());
    assert!(MultiheadAttention::new(10, 3, 0.0, false).is_err());
}

#[test]
fn same_seed_same_init() {
    let _rng = global_rng_lock();
    manual_seed(42);
    let a = Linear::new(8, 8);
    manual_seed(42);
    let b = Linear::new(8, 8);
    assert_eq!(
        a.weight.tensor().to_vec::<f32>().unwrap(),
        b.weight.tensor().to_vec::<f32>().unwrap()
    );
    // PyTorch's default bound: 1 / sqrt(fan_in)
    assert!(a
        .weight
        .tensor()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|v| v.abs() <= 1.0 / 8f32.sqrt()));
}
