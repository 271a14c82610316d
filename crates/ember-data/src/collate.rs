//! Collation: turning a list of samples into one batch by stacking along a new first dim.

use ember_core::{Result, Tensor};

/// A sample type whose values can be stacked into a batch of the same type.
///
/// A `Tensor` of shape `S` becomes a tensor of shape `[n, ...S]`; tuples and `Vec`s collate
/// element-wise, so a `(image, label)` sample yields an `(images, labels)` batch.
///
/// ```
/// use ember_core::Tensor;
/// use ember_data::Collate;
/// let items = vec![(Tensor::ones(&[2]), Tensor::scalar(1i64)), (Tensor::zeros(&[2]), Tensor::scalar(0i64))];
/// let (x, y) = <(Tensor, Tensor)>::collate(items).unwrap();
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 0]);
/// ```
pub trait Collate: Sized + Send + 'static {
    fn collate(items: Vec<Self>) -> Result<Self>;
}

impl Collate for Tensor {
    fn collate(items: Vec<Tensor>) -> Result<Tensor> {
        Tensor::stack(&items, 0)
    }
}

impl<A: Collate, B: Collate> Collate for (A, B) {
    fn collate(items: Vec<(A, B)>) -> Result<(A, B)> {
        let (a, b): (Vec<A>, Vec<B>) = items.into_iter().unzip();
        Ok((A::collate(a)?, B::collate(b)?))
    }
}

impl<A: Collate, B: Collate, C: Collate> Collate for (A, B, C) {
    fn collate(items: Vec<(A, B, C)>) -> Result<(A, B, C)> {
        let mut a = Vec::with_capacity(items.len());
        let mut b = Vec::with_capacity(items.len());
        let mut c = Vec::with_capacity(items.len());
        for (x, y, z) in items {
            a.push(x);
            b.push(y);
            c.push(z);
        }
        Ok((A::collate(a)?, B::collate(b)?, C::collate(c)?))
    }
}

/// Samples made of a variable number of tensors collate position by position.
impl Collate for Vec<Tensor> {
    fn collate(items: Vec<Vec<Tensor>>) -> Result<Vec<Tensor>> {
        let width = items.first().map_or(0, Vec::len);
        if let Some((i, bad)) = items.iter().enumerate().find(|(_, v)| v.len() != width) {
            return Err(crate::error::arg_err(
                "collate",
                format!("sample 0 has {width} tensors but sample {i} has {}", bad.len()),
            ));
        }
        let mut columns: Vec<Vec<Tensor>> = (0..width).map(|_| Vec::with_capacity(items.len())).collect();
        for item in items {
            for (col, t) in columns.iter_mut().zip(item) {
                col.push(t);
            }
        }
        columns.into_iter().map(|c| Tensor::stack(&c, 0)).collect()
    }
}
