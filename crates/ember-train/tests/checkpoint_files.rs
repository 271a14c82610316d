//! Checkpoint files: round trip, and every kind of bad file gives an error naming it.

use ember_core::Tensor;
use ember_train::{read_run_log, Checkpoint, EpochMetrics, RunLog};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-train-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn err_text<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn round_trip_keeps_tensors_and_metadata_exactly() {
    let dir = scratch("roundtrip");
    let path = dir.join("ck.safetensors");
    let w = Tensor::randn(&[3, 4]);
    let mut ck = Checkpoint::new();
    ck.insert_tensors("model", vec![("fc.weight".to_string(), w.clone())]);
    ck.insert_tensors("optim", vec![("state.0.step".to_string(), Tensor::scalar(7i64))]);
    ck.set_meta("rng", [u64::MAX, 1, 2, 3, 4]);
    ck.set_meta("loss_bits", 0.1f64.to_bits());
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(
        back.tensors("model")["fc.weight"].to_vec::<f32>().unwrap(),
        w.to_vec::<f32>().unwrap()
    );
    assert_eq!(back.tensors("optim")["state.0.step"].to_vec::<i64>().unwrap(), vec![7]);
    assert_eq!(back.meta::<[u64; 5]>("rng").unwrap(), [u64::MAX, 1, 2, 3, 4]);
    assert_eq!(f64::from_bits(back.meta::<u64>("loss_bits").unwrap()), 0.1);
    let msg = err_text(back.meta::<u64>("missing"));
    assert!(msg.contains("ck.safetensors") && msg.contains("missing"), "{msg}");
    // no temp file left behind by the atomic write
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn corrupt_checkpoints_are_clear_errors() {
    let dir = scratch("corrupt");
    let missing = dir.join("nope.safetensors");
    assert!(err_text(Checkpoint::load(&missing)).contains("nope.safetensors"));

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not a checkpoint").unwrap();
    let msg = err_text(Checkpoint::load(&garbage));
    assert!(
        msg.contains("garbage.safetensors") && msg.contains("not a readable checkpoint"),
        "{msg}"
    );

    let good = dir.join("good.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert_tensors("model", vec![("w".to_string(), Tensor::ones(&[64, 64]))]);
    ck.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    assert!(err_text(Checkpoint::load(&truncated)).contains("truncated.safetensors"));

    let plain = dir.join("weights.safetensors");
    ember_core::save(&[("w".to_string(), Tensor::ones(&[2]))], &plain).unwrap();
    let msg = err_text(Checkpoint::load(&plain));
    assert!(msg.contains("not an ember checkpoint"), "{msg}");

    let future = dir.join("future.safetensors");
    let header = std::collections::BTreeMap::from([(
        ember_train::checkpoint::META_KEY.to_string(),
        r#"{"format_version": 99}"#.to_string(),
    )]);
    ember_core::io::save_with_metadata(&[("w".to_string(), Tensor::ones(&[2]))], Some(header), &future).unwrap();
    assert!(err_text(Checkpoint::load(&future)).contains("version"));
}

#[test]
fn run_log_appends_json_lines() {
    let dir = scratch("runlog");
    let path = dir.join("log/metrics.jsonl");
    let m = |e| EpochMetrics {
        epoch: e,
        train_loss: 0.5,
        test_accuracy: Some(0.98),
        ..Default::default()
    };
    RunLog::open(&path, false).unwrap().write(&m(1)).unwrap();
    RunLog::open(&path, true).unwrap().write(&m(2)).unwrap();
    let back = read_run_log(&path).unwrap();
    assert_eq!(back, vec![m(1), m(2)]);
    let line = std::fs::read_to_string(&path).unwrap();
    assert!(line.lines().next().unwrap().starts_with("{\"epoch\":1"));
    RunLog::open(&path, false).unwrap().write(&m(3)).unwrap();
    assert_eq!(read_run_log(&path).unwrap().len(), 1);
}
