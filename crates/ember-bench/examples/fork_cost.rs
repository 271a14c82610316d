//! Probe: the fixed cost of splitting one small job over 2 threads, called from the main
//! thread (outside the rayon pool, as user code is).
use std::hint::black_box;
use std::time::Instant;

fn per_call(name: &str, reps: usize, mut f: impl FnMut()) {
    for _ in 0..1000 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    println!("{name:<50} {:>8.3} us", best * 1e6);
}

fn main() {
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    if std::env::var("PAIR").is_ok() {
        pair_probe();
        return;
    }
    per_call("rayon::join (outside pool)", 20000, || {
        rayon::join(|| black_box(1), || black_box(2));
    });
    per_call("rayon::scope 2 spawns (outside pool)", 20000, || {
        rayon::scope(|s| {
            s.spawn(|_| {
                black_box(1);
            });
            s.spawn(|_| {
                black_box(2);
            });
        });
    });
    per_call("pool.install(join) (outside pool)", 20000, || {
        rayon::ThreadPoolBuilder::new(); // no-op, keep shape
        rayon::join(|| black_box(1), || black_box(2));
    });
    // 2 us of work between calls, as between ops of a small model
    let spin = |us: f64| {
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < us * 1e-6 {}
    };
    per_call("2us work + rayon::join", 20000, || {
        spin(2.0);
        rayon::join(|| black_box(1), || black_box(2));
    });
    per_call("2us work only", 20000, || spin(2.0));
    per_call("20us work + rayon::join", 5000, || {
        spin(20.0);
        rayon::join(|| black_box(1), || black_box(2));
    });
    per_call("20us work only", 5000, || spin(20.0));
}

fn pair_probe() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let who = AtomicUsize::new(0);
    let main_id = std::thread::current().id();
    per_call("pair::run (empty halves)", 200000, || {
        ember_core::cpu::pair::run(2, &|p| {
            if p == 1 && std::thread::current().id() != main_id {
                who.fetch_add(1, Relaxed);
            }
        })
    });
    println!(
        "  second half on the helper: {} of {} calls",
        who.load(Relaxed),
        200000 * 7 + 1000
    );
    let w: Vec<f32> = (0..512 * 784).map(|i| (i % 7) as f32).collect();
    let x = vec![1.0f32; 784];
    let mut y = vec![0.0f32; 512];
    for split in [false, true] {
        per_call(&format!("gemv 512x784 split={split}"), 5000, || {
            ember_core::cpu::gemv::gemv_with(
                ember_core::cpu::gemv::Isa::best(),
                &w,
                784,
                512,
                784,
                &x,
                None,
                &mut y,
                split,
            )
        });
    }
    who.store(0, Relaxed);
    per_call("gemv 512x784 + who", 5000, || {
        ember_core::cpu::pair::run(2, &|p| {
            if p == 1 && std::thread::current().id() != main_id {
                who.fetch_add(1, Relaxed);
            }
            let r = p * 256..(p + 1) * 256;
            let mut yy = vec![0.0f32; r.len()];
            ember_core::cpu::gemv::gemv_with(
                ember_core::cpu::gemv::Isa::best(),
                &w[r.start * 784..],
                784,
                r.len(),
                784,
                &x,
                None,
                &mut yy,
                false,
            );
        })
    });
    println!(
        "  second half on the helper: {} of {} calls",
        who.load(Relaxed),
        5000 * 7 + 1000
    );
}
