//! ember's benchmark binary: `cargo run --release -p ember-bench -- W1 W2 W3 [--threads N]`;
//! `--device cuda` (build with `--features cuda`) runs W1 W4 W5 W6 on the GPU.
//! Prints one JSON object per line in the format of `shared/bench/README.md`;
//! `tools/bench_compare.py` runs PyTorch's anchors beside it and prints ratios.

mod harness;
mod workloads;

fn main() {
    let mut threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut only: Vec<String> = Vec::new();
    let mut device = ember_core::Device::Cpu;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => {
                threads = match args.next().and_then(|v| v.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => {
                        eprintln!("error: --threads needs a positive integer");
                        std::process::exit(2);
                    }
                }
            }
            "--device" => {
                device = match args.next().as_deref() {
                    Some("cpu") => ember_core::Device::Cpu,
                    Some("cuda") => ember_core::Device::cuda(0),
                    _ => {
                        eprintln!("error: --device takes cpu or cuda");
                        std::process::exit(2);
                    }
                };
                if let Err(e) = device.check_available("ember-bench") {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: ember-bench [W1 W2 W3 ...] [--threads N] [--device cpu|cuda]\n\nWorkloads: {}",
                    workloads::ALL.join(" ")
                );
                return;
            }
            w => only.push(w.to_uppercase()),
        }
    }
    if only.is_empty() {
        let all = if device.is_cuda() {
            workloads::on_device::ON_DEVICE
        } else {
            workloads::ALL
        };
        only = all.iter().map(|s| s.to_string()).collect();
    }
    if let Some(bad) = only.iter().find(|w| !workloads::ALL.contains(&w.as_str())) {
        eprintln!("error: unknown workload {bad}; known: {}", workloads::ALL.join(" "));
        std::process::exit(2);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("rayon pool");
    ember_core::manual_seed(0);
    for w in &only {
        if device.is_cuda() {
            workloads::on_device::run(w, threads, device);
        } else {
            workloads::run(w, threads);
        }
    }
}
