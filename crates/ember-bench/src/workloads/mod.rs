//! The workloads of `shared/bench/WORKLOADS.md`, one file each.

pub mod w1_matmul;
pub mod w2_elementwise;
pub mod w3_overhead;

/// Every workload id this binary knows, in order.
pub const ALL: &[&str] = &["W1", "W2", "W3"];

pub fn run(id: &str, threads: usize) {
    match id {
        "W1" => w1_matmul::run(threads),
        "W2" => w2_elementwise::run(threads),
        "W3" => w3_overhead::run(threads),
        _ => unreachable!("checked against ALL"),
    }
}
