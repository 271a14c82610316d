//! The `ember` binary end to end: a short real MNIST training run, Ctrl-C + `--resume`
//! giving exactly the uninterrupted result, eval / predict / info, and clear errors (exit code
//! != 0, no panic) for bad data folders, checkpoints and flags.

use ember_train::Checkpoint;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ember() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ember"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    ember()
        .args(args)
        .env_remove("EMBER_DATA")
        .output()
        .expect("the ember binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn model_weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let ck = Checkpoint::load(path).unwrap();
    ck.tensors("model")
        .into_iter()
        .map(|(k, t)| (k, t.to_vec::<f32>().unwrap()))
        .collect()
}

#[test]
fn train_eval_predict_info_on_real_mnist() {
    let dir = scratch("e2e");
    let out = dir.join("run");
    let o = run(&[
        "train",
        "mnist",
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--limit-train",
        "4000",
        "--limit-test",
        "1000",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let epochs = json_lines(&stdout);
    assert_eq!(epochs.len(), 2, "{stdout}");
    for key in [
        "epoch",
        "train_loss",
        "test_loss",
        "test_accuracy",
        "seconds",
        "data_wait_fraction",
    ] {
        assert!(epochs[1].get(key).is_some(), "missing {key}: {}", epochs[1]);
    }
    let acc = epochs[1]["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.8, "test accuracy {acc} after 2 epochs on 4000 images");
    assert!(epochs[1]["train_loss"].as_f64().unwrap() < epochs[0]["train_loss"].as_f64().unwrap());
    for f in [
        "checkpoint.safetensors",
        "best.safetensors",
        "metrics.jsonl",
        "plot.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} was not written");
    }
    assert!(
        stderr.contains("test accuracy") && stderr.contains("checkpoint.safetensors"),
        "{stderr}"
    );

    let ckpt = out.join("checkpoint.safetensors");
    let o = run(&["eval", ckpt.to_str().unwrap(), "--limit", "1000", "--json"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let e: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        (e["test_accuracy"].as_f64().unwrap() - acc).abs() < 1e-9,
        "eval disagrees with training: {e}"
    );
    assert_eq!(e["per_class"].as_array().unwrap().len(), 10);
    let o = run(&["eval", ckpt.to_str().unwrap(), "--limit", "200"]);
    assert!(text(&o).0.contains("precision"), "{}", text(&o).0);

    // the first test image is a 7, white on black; also try it as a dark-on-light picture
    let test = ember_data::load_mnist(ember_data::paths::mnist_dir(None).unwrap(), ember_data::Split::Test).unwrap();
    let px = test.raw_image(0).unwrap().to_vec();
    let png = dir.join("seven.png");
    image::GrayImage::from_raw(28, 28, px.clone())
        .unwrap()
        .save(&png)
        .unwrap();
    let inverted = dir.join("seven-on-paper.png");
    image::GrayImage::from_raw(28, 28, px.iter().map(|p| 255 - p).collect())
        .unwrap()
        .save(&inverted)
        .unwrap();
    for img in [&png, &inverted] {
        let o = run(&["predict", ckpt.to_str().unwrap(), img.to_str().unwrap()]);
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{stderr}");
        let first = stdout.lines().next().unwrap();
        assert!(first.contains(": 7 ("), "{stdout}");
    }

    let o = run(&["info", ckpt.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("mlp on MNIST") && stdout.contains("203,530") && stdout.contains("Linear"),
        "{stdout}"
    );
}

#[test]
fn cnn_trains_and_reports_progress() {
    let out = scratch("cnn").join("run");
    let o = run(&[
        "train",
        "mnist",
        "--epochs",
        "1",
        "--limit-train",
        "640",
        "--limit-test",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("training cnn on MNIST") && stdout.contains("epoch 1/1: train loss"),
        "{stdout}"
    );
    assert!(stdout.contains("test accuracy:"), "{stdout}");
    let log = ember_train::read_run_log(out.join("metrics.jsonl")).unwrap();
    assert!(log[0].test_accuracy.unwrap() > 0.2, "{:?}", log[0]);
}

/// `--device cuda`: the same run on GPU 0, resumed there from its checkpoint (the optimizer's
/// state loads onto the GPU). Skips, saying why, where this build or machine has no GPU.
#[test]
fn trains_and_resumes_on_the_gpu() {
    if let Err(e) = ember_core::Device::cuda(0).check_available("test") {
        eprintln!("skipped: {e}");
        return;
    }
    let out = scratch("gpu").join("run");
    let args = |epochs: &'static str| {
        let mut a = vec!["train", "mnist", "--device", "cuda", "--epochs", epochs];
        a.extend(["--limit-train", "640", "--limit-test", "200", "--json"]);
        a
    };
    let mut first = args("1");
    first.extend(["--out", out.to_str().unwrap()]);
    let o = run(&first);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("on cuda:0"), "{stderr}");
    assert!(
        json_lines(&stdout)[0]["test_accuracy"].as_f64().unwrap() > 0.2,
        "{stdout}"
    );
    let mut again = args("2");
    again.extend(["--out", out.to_str().unwrap(), "--resume"]);
    let o = run(&again);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.last().unwrap()["epoch"], 2, "{stdout}");
}

/// Ctrl-C in the middle of epoch 2, then `--resume`, ends with exactly the weights of a run
/// that was never interrupted (wherever the interrupt landed).
#[cfg(unix)]
#[test]
fn ctrl_c_then_resume_loses_nothing() {
    let dir = scratch("resume");
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "mnist",
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--limit-train",
            "30000",
            "--limit-test",
            "500",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--out".to_string(), out.display().to_string()])
        .collect()
    };
    let cut = dir.join("cut");
    let mut child = ember()
        .args(args(&cut))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap(); // epoch 1 is done: we are inside epoch 2
    assert!(first.contains("\"epoch\":1"), "{first}");
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted run exits with 130");
    let ck = Checkpoint::load(cut.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.meta_value("trainer").unwrap()["epoch"], 1, "stopped inside epoch 2");

    let mut resumed_args = args(&cut);
    resumed_args.push("--resume".into());
    let o = ember().args(&resumed_args).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let resumed_epochs = json_lines(&stdout);
    assert_eq!(resumed_epochs.len(), 1, "only epoch 2 remains: {stdout}");

    let straight = dir.join("straight");
    let o = ember().args(args(&straight)).output().unwrap();
    assert!(o.status.success());
    let straight_epochs = json_lines(&text(&o).0);
    assert_eq!(
        model_weights(&cut.join("checkpoint.safetensors")),
        model_weights(&straight.join("checkpoint.safetensors"))
    );
    assert_eq!(resumed_epochs[0]["train_loss"], straight_epochs[1]["train_loss"]);
    assert_eq!(resumed_epochs[0]["test_accuracy"], straight_epochs[1]["test_accuracy"]);
    assert_eq!(ember_train::read_run_log(cut.join("metrics.jsonl")).unwrap().len(), 2);
}

#[test]
fn fashion_mnist_with_one_flag() {
    let system = Path::new(ember_data::paths::FASHION_MNIST_SYSTEM_DIR);
    if !system.is_dir() {
        eprintln!(
            "skipping: {} is missing (apt-get install dataset-fashion-mnist)",
            system.display()
        );
        return;
    }
    let out = scratch("fashion").join("run");
    let o = run(&[
        "train",
        "mnist",
        "--dataset",
        "fashion-mnist",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--limit-train",
        "2000",
        "--limit-test",
        "500",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("on Fashion-MNIST"), "{stdout}");
    assert!(
        ember_train::read_run_log(out.join("metrics.jsonl")).unwrap()[0]
            .test_accuracy
            .unwrap()
            > 0.5
    );
}

#[test]
fn clear_errors_never_panics() {
    let dir = scratch("errors");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let check = |args: &[&str], needles: &[&str]| {
        let o = run(args);
        let (_, stderr) = text(&o);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{args:?}: expected {n:?} in: {stderr}");
        }
    };
    let e = empty.to_str().unwrap();
    check(
        &["train", "mnist", "--data-dir", e, "--out", e],
        &["MNIST not found", "--data-dir"],
    );
    check(
        &["train", "fashion-mnist", "--data-dir", e, "--out", e],
        &["apt-get install dataset-fashion-mnist"],
    );
    check(&["train", "mnist", "--resume", "--out", e], &["no checkpoint"]);
    check(&["train", "mnist", "--model", "resnet"], &["invalid value 'resnet'"]);
    check(&["train", "cifar"], &["invalid value 'cifar'"]);
    check(&["train", "mnist", "--epochs", "many"], &["invalid value 'many'"]);
    check(
        &["train", "mnist", "--device", "gpu"],
        &["--device", "unknown device \"gpu\""],
    );
    if ember_core::Device::cuda(0).check_available("test").is_err() {
        // no GPU here (or no CUDA backend in this build): a clear error before any data is read
        check(
            &["train", "mnist", "--device", "cuda", "--out", e],
            &["--device cuda:0", "no CUDA driver found"],
        );
    }

    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    for cmd in ["eval", "info"] {
        check(&[cmd, corrupt.to_str().unwrap()], &["corrupt.safetensors"]);
    }
    check(
        &["eval", dir.join("missing.safetensors").to_str().unwrap()],
        &["missing.safetensors"],
    );
    let plain = dir.join("weights.safetensors");
    ember_core::save(&[("w".to_string(), ember_core::Tensor::ones(&[2]))], &plain).unwrap();
    check(&["eval", plain.to_str().unwrap()], &["not an ember checkpoint"]);
    let o = run(&["info", plain.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).1.contains("not an ember checkpoint"));

    // a checkpoint whose weights do not fit the model it names
    let mut ck = Checkpoint::new();
    ck.insert_tensors(
        "model",
        vec![("0.weight".to_string(), ember_core::Tensor::ones(&[3, 3]))],
    );
    ck.set_meta(
        "run",
        serde_json::json!({"model": "cnn", "dataset": "mnist", "input_shape": [1, 28, 28], "classes": [],
            "mean": [0.0], "std": [1.0], "optimizer": "adam", "lr": 0.001, "batch_size": 64, "seed": 0}),
    );
    let wrong = dir.join("wrong.safetensors");
    ck.save(&wrong).unwrap();
    check(
        &["eval", wrong.to_str().unwrap()],
        &["wrong.safetensors", "do not fit a cnn model"],
    );
    check(&["predict", wrong.to_str().unwrap(), "nope.png"], &["do not fit"]);
}
