//! The benchmark models of `shared/bench/WORKLOADS.md`, shared by the `ember-bench` binary and
//! the distributed benchmark (`ember-dist`'s `ember-dist-bench` example) so both time the same
//! networks.

pub mod models;
pub mod probe;
