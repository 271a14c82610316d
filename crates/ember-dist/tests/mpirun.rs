//! Runs `ember-dist-check` under `mpirun --oversubscribe -np 2` (feature `mpi`): collectives against
//! their definitions, DDP equivalence with single-process training, and failure handling. Skips,
//! with a message, where no `mpirun` is installed.
#![cfg(feature = "mpi")]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn mpirun(np: usize, args: &[&str], envs: &[(&str, &str)]) -> Option<(Output, Duration)> {
    if Command::new("mpirun").arg("--version").output().is_err() {
        eprintln!("skipped: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
        return None;
    }
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np", &np.to_string()])
        // loopback TCP and shared memory only: no probing of other interfaces in a container
        .args(["--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo"])
        .args(["--mca", "oob_tcp_if_include", "lo"])
        .arg(env!("CARGO_BIN_EXE_ember-dist-check"))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    for (k, v) in envs {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.output().expect("mpirun runs");
    Some((out, t.elapsed()))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_ok(check: &str, np: usize) {
    let Some((out, _)) = mpirun(np, &[check], &[]) else {
        return;
    };
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    for r in 0..np {
        assert!(s.contains(&format!("ok {check} rank {r}/{np}")), "{s}");
    }
}

#[test]
fn collectives_match_their_definitions_on_2_ranks() {
    assert_ok("collectives", 2);
}

#[test]
fn collectives_match_their_definitions_on_3_ranks() {
    assert_ok("collectives", 3);
}

#[test]
fn ddp_on_2_ranks_equals_one_process_with_the_global_batch() {
    assert_ok("ddp", 2);
}

#[test]
fn a_hanging_rank_makes_the_others_exit_with_a_clear_error() {
    let Some((out, took)) = mpirun(2, &["hang"], &[("EMBER_DIST_TIMEOUT", "3")]) else {
        return;
    };
    let s = text(&out);
    assert!(!out.status.success(), "{s}");
    assert!(
        s.contains("did not complete") && s.contains("another rank has died or hangs"),
        "{s}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}\n{s}");
}

#[test]
fn a_dead_rank_does_not_leave_the_others_hanging() {
    let Some((out, took)) = mpirun(2, &["die"], &[("EMBER_DIST_TIMEOUT", "5")]) else {
        return;
    };
    let s = text(&out);
    assert!(!out.status.success(), "{s}");
    assert!(took < Duration::from_secs(60), "took {took:?}\n{s}");
}
