//! Reduction operators of the collectives.

/// How `all_reduce` and `reduce_scatter` combine the ranks' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    /// The sum divided by the world size (float dtypes only).
    Mean,
    Max,
    Min,
}

impl ReduceOp {
    /// The operator the back-end runs: a mean is a sum scaled afterwards.
    pub(crate) fn wire(self) -> ReduceOp {
        match self {
            ReduceOp::Mean => ReduceOp::Sum,
            op => op,
        }
    }
}
