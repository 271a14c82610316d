//! `ember train` under `mpirun -np 2` (feature `mpi`): data-parallel training matches one process
//! with the same global batch, only rank 0 prints, and a checkpoint written with 2 ranks resumes
//! with 1 rank (and one written with 1 rank resumes with 2), ending at the weights of an
//! uninterrupted run. Skips, with a message, where no `mpirun` is installed.
#![cfg(feature = "mpi")]

use ember_train::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-dist-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn have_mpirun() -> bool {
    let ok = Command::new("mpirun").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
    }
    ok
}

/// `ember train mnist` (MLP, 2000 images, global batch 64) on `np` ranks (0: no mpirun).
fn train(np: usize, out: &Path, epochs: usize, resume: bool) -> Output {
    let ember = env!("CARGO_BIN_EXE_ember");
    let mut args: Vec<String> = [
        "train",
        "mnist",
        "--model",
        "mlp",
        "--limit-train",
        "2000",
        "--limit-test",
        "500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--epochs".into(), epochs.to_string(), "--json".into()]);
    args.extend([
        "--out".into(),
        out.display().to_string(),
        "--workers".into(),
        "0".into(),
    ]);
    if resume {
        args.push("--resume".into());
    }
    let mut c = if np == 0 {
        Command::new(ember)
    } else {
        let mut c = Command::new("mpirun");
        c.args(["--allow-run-as-root", "--oversubscribe", "-np", &np.to_string()])
            .args(["--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo"])
            .args(["--mca", "oob_tcp_if_include", "lo"])
            .arg(ember);
        c
    };
    c.args(&args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("EMBER_DATA")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the command runs")
}

fn check(o: &Output) -> String {
    let s = format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{s}");
    s
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ck = Checkpoint::load(ember_train::checkpoint_in(dir)).unwrap();
    ck.tensors("model")
        .into_iter()
        .map(|(k, t)| (k, t.to_vec::<f32>().unwrap()))
        .collect()
}

fn max_rel_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    let mut worst = 0.0f64;
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            worst = worst.max(((x - y).abs() / y.abs().max(1e-3)) as f64);
        }
    }
    worst
}

#[test]
fn two_ranks_train_like_one_and_resume_across_world_sizes() {
    if !have_mpirun() {
        return;
    }
    let dir = scratch("resume");
    // the reference: one process, 2 epochs
    let single = dir.join("single");
    check(&train(0, &single, 2, false));
    let reference = weights(&single);

    // 2 ranks, 2 epochs: same weights; one JSON line per epoch (rank 0 only)
    let two = dir.join("two");
    let s = check(&train(2, &two, 2, false));
    let epochs = s.lines().filter(|l| l.starts_with("{\"epoch\"")).count();
    assert_eq!(epochs, 2, "only rank 0 reports: {s}");
    let d = max_rel_diff(&weights(&two), &reference);
    eprintln!("2 ranks vs 1 rank, 2 epochs: max relative weight difference {d:.2e}");
    assert!(d < 1e-4, "2 ranks vs 1: max relative difference {d:.2e}");

    // resuming a 1-epoch run for a 2nd epoch (the LR schedule follows --epochs, so the reference
    // is the same stop-and-resume on one process)
    let one_one = dir.join("one-then-one");
    check(&train(0, &one_one, 1, false));
    check(&train(0, &one_one, 2, true));
    let resumed = weights(&one_one);

    // epoch 1 on 2 ranks, epoch 2 resumed on 1 rank
    let a = dir.join("two-then-one");
    check(&train(2, &a, 1, false));
    check(&train(0, &a, 2, true));
    let d = max_rel_diff(&weights(&a), &resumed);
    eprintln!("epoch 1 on 2 ranks, resumed on 1: max relative weight difference {d:.2e}");
    assert!(d < 1e-4, "2 ranks then 1: max relative difference {d:.2e}");

    // epoch 1 on 1 rank, epoch 2 resumed on 2 ranks
    let b = dir.join("one-then-two");
    check(&train(0, &b, 1, false));
    check(&train(2, &b, 2, true));
    let d = max_rel_diff(&weights(&b), &resumed);
    eprintln!("epoch 1 on 1 rank, resumed on 2: max relative weight difference {d:.2e}");
    assert!(d < 1e-4, "1 rank then 2: max relative difference {d:.2e}");
    let _ = std::fs::remove_dir_all(&dir);
}
