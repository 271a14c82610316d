//! The workloads of `shared/bench/WORKLOADS.md`, one file each.

pub mod on_device;
mod train_steps;
pub mod w1_matmul;
pub mod w2_elementwise;
pub mod w3_overhead;

/// Every workload id this binary knows, in order.
pub const ALL: &[&str] = &["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9"];

pub fn run(id: &str, threads: usize) {
    match id {
        "W1" => w1_matmul::run(threads),
        "W2" => w2_elementwise::run(threads),
        "W3" => w3_overhead::run(threads),
        "W4" => train_steps::w4(threads).expect("W4"),
        "W5" => train_steps::w5(threads).expect("W5"),
        "W6" => train_steps::w6(threads).expect("W6"),
        "W7" => train_steps::w7(threads).expect("W7"),
        "W8" => train_steps::w8(threads).expect("W8"),
        "W9" => train_steps::w9(threads).expect("W9"),
        _ => unreachable!("checked against ALL"),
    }
}
