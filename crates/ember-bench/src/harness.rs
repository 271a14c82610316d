//! Timing harness with the same statistic as the PyTorch anchors (`shared/bench/anchors/common.py`):
//! calibrate `k` calls per sample so a sample lasts at least `target` seconds, then report the
//! median of `samples` samples (seconds per call).

use std::time::Instant;

pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub p25: f64,
    pub p75: f64,
    pub n: usize,
    pub k: usize,
}

pub fn bench(mut f: impl FnMut(), warmup: usize, samples: usize, target: f64) -> Stats {
    let quick = std::env::var_os("EMBER_BENCH_QUICK").is_some();
    let (warmup, samples, target) = if quick { (1, 2, 0.0) } else { (warmup, samples, target) };
    for _ in 0..warmup {
        f();
    }
    let mut k = 1usize;
    loop {
        let t0 = Instant::now();
        for _ in 0..k {
            f();
        }
        let dt = t0.elapsed().as_secs_f64();
        if dt >= target || k >= 100_000 {
            break;
        }
        k = (k * 2)
            .max((k as f64 * target / dt.max(1e-9) * 1.2) as usize)
            .min(100_000);
    }
    let mut times = Vec::with_capacity(samples);
    let start = Instant::now();
    for _ in 0..samples {
        let t0 = Instant::now();
        for _ in 0..k {
            f();
        }
        times.push(t0.elapsed().as_secs_f64() / k as f64);
        if start.elapsed().as_secs_f64() > 20.0 && times.len() >= 5 {
            break;
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Stats {
        median: q(0.5),
        min: times[0],
        p25: q(0.25),
        p75: q(0.75),
        n: times.len(),
        k,
    }
}

/// One JSON line in the anchors' format.
pub fn emit(workload: &str, param: &str, value: f64, unit: &str, threads: usize, extra: serde_json::Value) {
    let mut rec = serde_json::json!({
        "framework": "ember", "workload": workload, "param": param,
        "value": (value * 1e4).round() / 1e4, "unit": unit, "threads": threads,
    });
    if let (Some(o), serde_json::Value::Object(e)) = (rec.as_object_mut(), extra) {
        o.extend(e);
    }
    println!("{rec}");
}

/// Emit a time statistic scaled to `unit` (e.g. 1e3 for ms).
pub fn emit_time(workload: &str, param: &str, st: &Stats, unit: &str, scale: f64, threads: usize) {
    let r = |x: f64| (x * scale * 1e4).round() / 1e4;
    emit(
        workload,
        param,
        st.median * scale,
        unit,
        threads,
        serde_json::json!({"p25": r(st.p25), "p75": r(st.p75), "min": r(st.min), "n": st.n, "k": st.k}),
    );
}
