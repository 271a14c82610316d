//! A right-hand matrix packed once for many products: `x_t @ W` at every step of a recurrence
//! re-packs nothing. Only a speed-up, never new semantics: where the packed kernel does not
//! apply (another dtype or device, or a product autograd must record) the ordinary ops run.

use std::sync::Arc;

use crate::autograd::needs_grad;
use crate::cpu::gemm::{gemm_packed, Kernel, MatRef, PackedB};
use crate::dtype::DType;
use crate::error::{shape_err, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

/// A 2-D right operand `B` (`[k, n]`) prepared for repeated products
/// ([`PackedMatrix::matmul_add`]). Packing copies `B`'s values: later in-place changes to the
/// tensor are not seen, so pack again after an optimizer step.
///
/// ```
/// use ember_core::{ops::packed_matmul::PackedMatrix, Tensor};
/// let w = Tensor::ones(&[3, 4]);
/// let p = PackedMatrix::new(&w.t()).unwrap(); // [4, 3]
/// let y = p.matmul_add(&Tensor::ones(&[2, 4]), Some(&Tensor::ones(&[2, 3]))).unwrap();
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0; 6]);
/// ```
#[derive(Clone)]
pub struct PackedMatrix {
    b: Tensor,
    /// `None` where the packed kernel does not apply (not f32 on the CPU)
    packed: Option<Arc<PackedB>>,
}

impl PackedMatrix {
    /// Packs `b` (2-D, any strides) when it is an f32 CPU tensor; otherwise keeps it as is.
    pub fn new(b: &Tensor) -> Result<PackedMatrix> {
        if b.ndim() != 2 {
            return Err(shape_err(
                "packed_matmul",
                format!("expected a 2-D matrix, got shape {:?}", b.shape()),
            ));
        }
        let packed = (b.dtype() == DType::F32 && b.device().is_cpu()).then(|| {
            let l = b.layout();
            let guard = b.read();
            let CpuStorage::F32(data) = &*guard else {
                unreachable!("dtype checked above")
            };
            let view = MatRef {
                data,
                off: l.offset,
                rs: l.strides[0],
                cs: l.strides[1],
            };
            Arc::new(PackedB::new(Kernel::detect(), &view, l.shape[0], l.shape[1]))
        });
        Ok(PackedMatrix { b: b.clone(), packed })
    }

    /// The matrix this was packed from.
    pub fn tensor(&self) -> &Tensor {
        &self.b
    }

    /// `add + x @ B` for `x` `[m, k]` and `add` (if given) `[m, n]`, with `B`'s packed form
    /// where it applies and the recorded ops `x.matmul(B).add(add)` otherwise (so gradients,
    /// other dtypes and devices behave exactly as the ordinary ops).
    pub fn matmul_add(&self, x: &Tensor, add: Option<&Tensor>) -> Result<Tensor> {
        let (k, n) = (self.b.shape()[0], self.b.shape()[1]);
        let fast = self.packed.as_ref().filter(|_| {
            x.ndim() == 2
                && x.shape()[1] == k
                && x.shape()[0] > 1
                && x.dtype() == DType::F32
                && x.device().is_cpu()
                && add.is_none_or(|c| c.shape() == [x.shape()[0], n] && c.dtype() == DType::F32 && c.device().is_cpu())
                && !needs_grad(&[x, &self.b])
                && !add.is_some_and(|c| needs_grad(&[c]))
        });
        let Some(pb) = fast else {
            let y = x.matmul(&self.b)?;
            return match add {
                Some(c) => c.add(&y),
                None => Ok(y),
            };
        };
        let m = x.shape()[0];
        let mut out = match add {
            Some(c) => c.to_vec::<f32>()?,
            None => vec![0f32; m * n],
        };
        {
            let l = x.layout();
            let guard = x.read();
            let CpuStorage::F32(data) = &*guard else {
                unreachable!("dtype checked above")
            };
            let a = MatRef {
                data,
                off: l.offset,
                rs: l.strides[0],
                cs: l.strides[1],
            };
            let threads = if m * n * k >= 1 << 20 {
                rayon::current_num_threads()
            } else {
                1
            };
            gemm_packed(m, &a, pb, &mut out, n, add.is_some(), threads);
        }
        Tensor::from_vec(out, &[m, n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn equals_matmul_then_add_on_strided_operands() {
        let _g = crate::autograd::no_grad();
        for (m, k, n) in [(2, 1, 1), (32, 64, 256), (33, 70, 41), (5, 300, 65)] {
            let w = Tensor::randn(&[n, k]); // B = w^T: column-contiguous
            let p = PackedMatrix::new(&w.t()).unwrap();
            let x = Tensor::randn(&[k, m]).t(); // a transposed view
            let c = Tensor::randn(&[m, n]);
            let want = c.add(&x.matmul(&w.t()).unwrap()).unwrap();
            assert!(max_diff(&p.matmul_add(&x, Some(&c)).unwrap(), &want) < 1e-4);
            let want = x.matmul(&w.t()).unwrap();
            assert!(max_diff(&p.matmul_add(&x, None).unwrap(), &want) < 1e-4);
        }
    }

    #[test]
    fn other_dtypes_and_recorded_products_take_the_ordinary_ops() {
        let w = Tensor::randn(&[8, 6]).to_dtype(DType::F64).unwrap();
        let x = Tensor::randn(&[4, 8]).to_dtype(DType::F64).unwrap();
        let p = PackedMatrix::new(&w).unwrap();
        assert!(max_diff(&p.matmul_add(&x, None).unwrap(), &x.matmul(&w).unwrap()) < 1e-12);
        // x requires grad: the product must be recorded and its gradient flow
        let w = Tensor::randn(&[8, 6]);
        let x = Tensor::randn(&[4, 8]).requires_grad_(true);
        let y = PackedMatrix::new(&w).unwrap().matmul_add(&x, None).unwrap();
        y.sum_all().backward().unwrap();
        let want = Tensor::ones(&[4, 6]).matmul(&w.t()).unwrap();
        assert!(max_diff(&x.grad().unwrap(), &want) < 1e-5);
    }
}
