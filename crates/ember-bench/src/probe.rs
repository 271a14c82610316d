//! The timer of the breakdown probes (`examples/*_breakdown.rs`): one piece of a workload timed
//! in calibrated batches of calls, so a piece that takes microseconds is measured as well as
//! one that takes milliseconds.

/// Seconds per call of `f`, as (median, minimum) over `samples` batches of about `batch_secs`
/// each, after `warmup` calls (on a loaded machine the minimum is the better estimate of the
/// unloaded time). `None` when the `ONLY` environment variable names other pieces.
pub fn time_per_call(
    name: &str,
    warmup: usize,
    batch_secs: f64,
    samples: usize,
    mut f: impl FnMut(),
) -> Option<(f64, f64)> {
    if std::env::var("ONLY").is_ok_and(|o| !name.contains(&o)) {
        return None;
    }
    for _ in 0..warmup {
        f();
    }
    let t = std::time::Instant::now();
    let mut k = 0usize;
    while t.elapsed().as_secs_f64() < batch_secs {
        f();
        k += 1;
    }
    let k = k.max(1);
    let mut v: Vec<f64> = (0..samples)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..k {
                f();
            }
            t.elapsed().as_secs_f64() / k as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    Some((v[samples / 2], v[0]))
}
