//! Index helpers built from comparisons: class masks (one-hot as bool) and row lookups.
//!
//! The class mask is what cross-entropy's gradient subtracts from the softmax.

use ember_core::{DType, Error, Result, Tensor};

/// Check that every index in `idx` lies in `[0, n)`.
pub(crate) fn check_range(op: &'static str, idx: &Tensor, n: usize) -> Result<()> {
    if idx.numel() == 0 {
        return Ok(());
    }
    let lo = idx.min_all()?.item()?;
    let hi = idx.max_all()?.item()?;
    if lo < 0.0 || hi >= n as f64 {
        let bad = if lo < 0.0 { lo } else { hi };
        return Err(Error::Index {
            op,
            msg: format!("index {bad} is out of bounds for size {n}"),
        });
    }
    Ok(())
}

/// `mask[.., c] = (idx[..] == c)` as a bool tensor of shape `idx.shape + [n]`.
pub(crate) fn class_mask(op: &'static str, idx: &Tensor, n: usize) -> Result<Tensor> {
    if idx.dtype().is_float() {
        return Err(Error::DType {
            op,
            msg: format!("expected an integer index tensor, got {}", idx.dtype()),
        });
    }
    check_range(op, idx, n)?;
    // on the index's device, so a GPU loss compares on the GPU
    let classes = Tensor::arange(0.0, n as f64, 1.0)?
        .to_dtype(DType::I64)?
        .to(idx.device())?;
    idx.to_dtype(DType::I64)?.unsqueeze(-1)?.eq(&classes)
}

/// `one_hot(idx, n)` as i64, like `torch.nn.functional.one_hot`.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::one_hot;
/// let h = one_hot(&Tensor::new(&[2i64, 0]), 3).unwrap();
/// assert_eq!(h.to_vec::<i64>().unwrap(), vec![0, 0, 1, 1, 0, 0]);
/// ```
pub fn one_hot(idx: &Tensor, num_classes: usize) -> Result<Tensor> {
    idx.one_hot(num_classes as isize)
}
