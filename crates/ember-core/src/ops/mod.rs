//! The op table: every primitive is declared once, in the file for its family, with its
//! shape/dtype rule, its CPU kernel and its gradient rule (see DESIGN.md rule 1).

pub mod binary;
pub mod cast;
pub mod compare;
pub mod conv;
pub mod creation;
pub mod einsum;
pub mod fused_adam;
pub mod index;
pub mod inplace;
pub mod join;
pub mod layer_norm;
pub mod lstm;
pub mod matmul;
pub mod matvec;
pub mod operators;
pub mod packed_matmul;
pub mod pool;
pub mod reduce;
pub mod scan;
pub mod shape_ops;
pub mod softmax;
pub mod sort;
pub mod unary;
pub mod upsample;
pub mod view;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Both operands must live on the same device.
pub(crate) fn check_same_device(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.device() != b.device() {
        return Err(Error::Device {
            op,
            msg: format!(
                "expected all tensors to be on the same device, but found {} and {}",
                a.device(),
                b.device()
            ),
        });
    }
    Ok(())
}
