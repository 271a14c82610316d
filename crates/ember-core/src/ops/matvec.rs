//! The f32 matrix-vector fast path of `matmul` (one output row or one output column) and
//! `addmm` (`bias + a @ b`, PyTorch's `torch.addmm` without the scale factors, which
//! `Linear` uses to fuse its bias add into the product at batch 1). The kernel is
//! `cpu::gemv`; this file only decides from the layouts whether it applies.

use crate::autograd::needs_grad;
use crate::dtype::DType;
use crate::error::{shape_err, Result};
use crate::shape::Layout;
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

/// `[.., m, k] @ [.., k, n]` as a matrix-vector product when there is one product (all batch
/// dims 1), the dtype is f32 on the CPU, and either `m == 1` with B's columns contiguous
/// (`x @ W^T`) or `n == 1` with A's rows contiguous, the vector operand contiguous too.
/// `bias` (f32, `[n]` or `[m]` contiguous, the output's length) is added in the same pass.
/// None when the fast path does not apply.
#[allow(clippy::too_many_arguments)]
pub(crate) fn try_matvec(
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    batch: &[usize],
    (m, k, n): (usize, usize, usize),
    bias: Option<&Tensor>,
) -> Option<Tensor> {
    use crate::dtype::DType::F32;
    if a.dtype() != F32 || b.dtype() != F32 || !a.device().is_cpu() || !b.device().is_cpu() {
        return None;
    }
    if batch.iter().any(|&d| d != 1) || (m != 1 && n != 1) {
        return None;
    }
    let (nda, ndb) = (la.ndim(), lb.ndim());
    let (a_rs, a_cs) = (la.strides[nda - 2], la.strides[nda - 1]);
    let (b_rs, b_cs) = (lb.strides[ndb - 2], lb.strides[ndb - 1]);
    // (matrix operand, its offset, row stride, vector operand, its offset, rows)
    let unit = |s: usize, len: usize| s == 1 || len <= 1;
    let (mat, mat_off, ldw, vec, vec_off, rows) = if m == 1 && unit(b_rs, k) && unit(a_cs, k) {
        // y[j] = sum_p a[p] * b[p, j]: the columns of B are the matrix rows
        (b, lb.offset, if n == 1 { k } else { b_cs }, a, la.offset, n)
    } else if n == 1 && unit(a_cs, k) && unit(b_rs, k) {
        (a, la.offset, if m == 1 { k } else { a_rs }, b, lb.offset, m)
    } else {
        return None;
    };
    if ldw < k {
        // overlapping rows (a broadcast operand): leave it to the general path
        return None;
    }
    if let Some(t) = bias {
        if t.dtype() != F32 || !t.device().is_cpu() || t.shape() != [rows] || !t.is_contiguous() {
            return None;
        }
    }
    let mut y = vec![0.0f32; rows];
    {
        let (gm, gv) = (mat.read(), vec.read());
        let (CpuStorage::F32(w), CpuStorage::F32(x)) = (&*gm, &*gv) else {
            return None;
        };
        let gb = bias.map(|t| t.read());
        let bias_slice = match (gb.as_deref(), bias) {
            (Some(CpuStorage::F32(v)), Some(t)) => Some(&v[t.offset()..t.offset() + rows]),
            (None, _) => None,
            _ => return None,
        };
        let w = if rows == 0 || k == 0 { &w[..0] } else { &w[mat_off..] };
        let x = if k == 0 { &x[..0] } else { &x[vec_off..vec_off + k] };
        crate::cpu::gemv::gemv_f32(w, ldw, rows, k, x, bias_slice, &mut y);
    }
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    Some(Tensor::from_storage(CpuStorage::F32(y), &shape))
}

impl Tensor {
    /// `self + a @ b` for 2-D `a` `[m, k]` and `b` `[k, n]`, `self` broadcastable to `[m, n]`
    /// (`torch.addmm(self, a, b)` with unit scale factors). With a 1-D bias on f32/f64 CPU
    /// tensors the bias is added inside the product (fused into the matrix-vector kernel at
    /// batch 1, added to the gemm output in place otherwise), the same values as a separate
    /// add without its second output buffer; everything else (and anything that records
    /// gradients) is `a.matmul(b)?.add(self)`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[1.0f32, 2.0]]);
    /// let w = Tensor::new(&[[1.0f32, 0.0], [1.0, 1.0], [0.0, 2.0]]);
    /// let b = Tensor::new(&[0.5f32, 0.0, -1.0]);
    /// assert_eq!(b.addmm(&x, &w.t()).unwrap().to_vec::<f32>().unwrap(), vec![1.5, 3.0, 3.0]);
    /// ```
    pub fn addmm(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(shape_err(
                "addmm",
                format!("expected 2-D matrices, got shapes {:?} and {:?}", a.shape(), b.shape()),
            ));
        }
        let (k, n) = (a.shape()[1], b.shape()[1]);
        let float = matches!(a.dtype(), DType::F32 | DType::F64);
        let fused = !needs_grad(&[self, a, b])
            && float
            && b.shape()[0] == k
            && self.shape() == [n]
            && self.is_contiguous()
            && [self.dtype(), b.dtype()] == [a.dtype(); 2]
            && [self, a, b].iter().all(|t| t.device().is_cpu())
            && crate::amp::autocast_dtype().is_none();
        if fused {
            return a.matmul_bias(b, a.shape(), b.shape(), Some(self));
        }
        a.matmul(b)?.add(self)
    }
}
