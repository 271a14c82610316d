//! Dropout.

use ember_core::{Error, Result, Tensor};

/// Zero each element with probability `p` and scale the rest by `1 / (1 - p)` when
/// `training`; the identity otherwise. Draws from the global generator.
///
/// ```
/// use ember_core::Tensor;
/// use ember_nn::functional::dropout;
/// let x = Tensor::ones(&[1000]);
/// assert_eq!(dropout(&x, 0.5, false).unwrap().to_vec::<f32>().unwrap(), vec![1.0; 1000]);
/// let y = dropout(&x, 0.5, true).unwrap().to_vec::<f32>().unwrap();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// ```
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::Arg {
            op: "dropout",
            msg: format!("dropout probability has to be between 0 and 1, but got {p}"),
        });
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    // the mask is drawn on x's device (on the CPU this is Tensor::rand, same stream)
    let keep = Tensor::rand_on(x.shape(), x.device())?
        .ge_scalar(p)?
        .to_dtype(x.dtype())?
        .mul_scalar(1.0 / (1.0 - p))?;
    x.mul(&keep)
}
