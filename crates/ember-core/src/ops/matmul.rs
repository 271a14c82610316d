//! Matrix products through the `gemm` crate: `matmul` with torch.matmul's 1-D / 2-D / batched /
//! broadcast semantics, `mm`, `bmm`, `outer`. Transposed views are read in place (gemm takes
//! row and column strides), so `a.matmul(&b.t())` copies nothing.
//!
//! ember's own f32 kernel (`cpu::gemm`) is used where it pays: products on a weight packed once
//! for many calls (`ops::packed_matmul`, the LSTM recurrence). For one-off products it ties or
//! trails the `gemm` crate on this machine (`cargo run --release -p ember-bench --example
//! gemm_shapes`), so they stay here. Matrix-vector products (m == 1 or n == 1, batch-1
//! inference) take `ops::matvec` first.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::dtype::DType;
use crate::error::{dtype_err, shape_err, Result};
use crate::shape::{broadcast_shapes, Layout};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;
use gemm::Parallelism;
use half::f16;

/// Parallelism for a product of this size. Measured on an idle 2-core machine
/// (`cargo run --release -p ember-bench --example gemm_threads`): two threads tie one thread at
/// n = 128 and give 1.7x from n = 256 up; below ~128^3 the fork costs more than it saves.
fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m * n * k >= 1 << 21 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    }
}

/// A matrix operand: pointer offset, row stride and column stride (in elements).
#[derive(Clone, Copy)]
struct Mat {
    off: usize,
    rs: isize,
    cs: isize,
}

fn mat_of(l: &Layout, batch_off: usize) -> Mat {
    let nd = l.ndim();
    Mat {
        off: l.offset + batch_off,
        rs: l.strides[nd - 2] as isize,
        cs: l.strides[nd - 1] as isize,
    }
}

/// C[b] = A[b] @ B[b] for every batch index, with A, B given as (broadcast) layouts of shape
/// [..batch, m, k] and [..batch, k, n]. C is contiguous [..batch, m, n]. With `bias` (`n`
/// values) the bias is added to every row of C in place right after (`addmm`: no second
/// output buffer). Presetting C to the bias and letting gemm read it measured slower: the
/// preset is one more pass over C, on one thread.
#[allow(clippy::too_many_arguments)]
fn batched_gemm<T: 'static + Copy + Default + Send + Sync + std::ops::Add<Output = T>>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    batch: &[usize],
    (m, k, n): (usize, usize, usize),
    bias: Option<&[T]>,
    one: T,
    zero: T,
) -> Vec<T> {
    assert!(bias.is_none_or(|row| row.len() == n), "matmul: bias length");
    let nb: usize = batch.iter().product();
    if m == 0 || n == 0 || k == 0 {
        // gemm may not touch the output when there is nothing to sum: the product is zeros
        let mut c = vec![T::default(); nb * m * n];
        if let Some(row) = bias {
            add_bias_rows(&mut c, row);
        }
        return c;
    }
    // gemm (read_dst = false) writes every element of each m x n block, so the output needs no
    // zero-fill pass; the buffer is only reached through raw pointers until then.
    let mut c: Vec<T> = Vec::with_capacity(nb * m * n);
    let batch_strides = |l: &Layout| -> Vec<usize> { l.strides[..batch.len()].to_vec() };
    let (sa, sb) = (batch_strides(la), batch_strides(lb));
    // operand offsets of every batch entry, in row-major batch order
    let mut offsets = Vec::with_capacity(nb);
    let mut idx = vec![0usize; batch.len()];
    for _ in 0..nb {
        let (mut oa, mut ob) = (0usize, 0usize);
        for d in 0..batch.len() {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        offsets.push((mat_of(la, oa), mat_of(lb, ob)));
        for d in (0..batch.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let one_product = |(ma, mb): (Mat, Mat), dst: *mut T, par: Parallelism| {
        // SAFETY: the offsets and strides come from layouts validated against these buffers;
        // every (i, j) index below m x k / k x n stays inside them, and dst is m x n row-major
        // inside `c`'s capacity.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                n as isize,
                false,
                a.as_ptr().add(ma.off),
                ma.cs,
                ma.rs,
                b.as_ptr().add(mb.off),
                mb.cs,
                mb.rs,
                zero,
                one,
                false,
                false,
                false,
                par,
            );
        }
    };
    let par = parallelism(m, n, k);
    if matches!(par, Parallelism::None) && nb > 1 && matches!(parallelism(m * nb, n, k), Parallelism::Rayon(_)) {
        // many small products (attention heads): one thread per product beats threads inside
        // each, whose fork-join costs more than the product itself
        use rayon::prelude::*;
        c.spare_capacity_mut()
            .par_chunks_mut(m * n)
            .zip(offsets.par_iter())
            .for_each(|(block, &mats)| one_product(mats, block.as_mut_ptr().cast::<T>(), Parallelism::None));
    } else {
        for (bi, &mats) in offsets.iter().enumerate() {
            // SAFETY: bi * m * n + m * n <= capacity.
            one_product(mats, unsafe { c.as_mut_ptr().add(bi * m * n) }, par);
        }
    }
    // SAFETY: every one of the nb blocks of m * n elements was written by gemm above.
    unsafe { c.set_len(nb * m * n) };
    if let Some(row) = bias {
        add_bias_rows(&mut c, row);
    }
    c
}

/// `rows[i, :] += bias` for every row of the row-major `rows` (row length `bias.len()`), in
/// parallel over blocks of rows when there are many.
fn add_bias_rows<T: Copy + Send + Sync + std::ops::Add<Output = T>>(rows: &mut [T], bias: &[T]) {
    let n = bias.len();
    if n == 0 {
        return;
    }
    let add = |block: &mut [T]| {
        for row in block.chunks_exact_mut(n) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = *v + b;
            }
        }
    };
    let threads = rayon::current_num_threads();
    if rows.len() < 1 << 16 || threads < 2 {
        return add(rows);
    }
    use rayon::prelude::*;
    let per = (rows.len() / n).div_ceil(4 * threads).max(1) * n;
    rows.par_chunks_mut(per).for_each(add);
}

/// The integer product PyTorch also offers on CPU (gemm has no integer kernels): a plain loop
/// with wrapping arithmetic, as C++ integer overflow in PyTorch. Same operands as `batched_gemm`.
#[allow(clippy::too_many_arguments)]
fn batched_int<T: Copy + Default>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
    mul_add: impl Fn(T, T, T) -> T,
) -> Vec<T> {
    let nb: usize = batch.iter().product();
    let mut c = vec![T::default(); nb * m * n];
    let nd = batch.len();
    let mut idx = vec![0usize; nd];
    for bi in 0..nb {
        let oa: usize = idx.iter().zip(&la.strides[..nd]).map(|(i, s)| i * s).sum();
        let ob: usize = idx.iter().zip(&lb.strides[..nd]).map(|(i, s)| i * s).sum();
        let (ma, mb) = (mat_of(la, oa), mat_of(lb, ob));
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::default();
                for p in 0..k {
                    let x = a[ma.off + i * ma.rs as usize + p * ma.cs as usize];
                    let y = b[mb.off + p * mb.rs as usize + j * mb.cs as usize];
                    acc = mul_add(acc, x, y);
                }
                c[(bi * m + i) * n + j] = acc;
            }
        }
        for d in (0..nd).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    c
}

impl Tensor {
    /// Matrix product with torch.matmul's semantics:
    /// 1-D x 1-D is a dot product, 2-D x 2-D a matrix product, 1-D operands are promoted to
    /// matrices and the added dim removed after, and batch dims broadcast.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let a = Tensor::ones(&[2, 5, 3]);
    /// let b = Tensor::ones(&[3, 4]);
    /// assert_eq!(a.matmul(&b).unwrap().shape(), &[2, 5, 4]);
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        if crate::amp::autocast_dtype().is_some() {
            let (a, b) = (crate::amp::lower(self)?, crate::amp::lower(other)?);
            if a.dtype() != self.dtype() || b.dtype() != other.dtype() {
                let _off = crate::amp::autocast_disabled();
                return a.matmul(&b);
            }
        }
        let (a, b) = (self, other);
        if a.ndim() == 0 || b.ndim() == 0 {
            return Err(shape_err(
                "matmul",
                format!(
                    "both arguments need at least 1 dim, got shapes {:?} and {:?}",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        if a.ndim() >= 3 && b.ndim() <= 2 && a.shape()[a.ndim() - 1] == b.shape()[0] {
            // As PyTorch does, fold [..batch, m, k] @ [k, n] into one [batch * m, k] @ [k, n]
            // product: one large gemm instead of a loop of small ones, and a weight gradient
            // computed as one 2-D product instead of a [batch, k, n] temporary summed after.
            let k = a.shape()[a.ndim() - 1];
            let rows: usize = a.shape()[..a.ndim() - 1].iter().product();
            let out = a.reshape_to(&[rows, k])?.matmul(b)?;
            let mut shape = a.shape()[..a.ndim() - 1].to_vec();
            if b.ndim() == 2 {
                shape.push(b.shape()[1]);
            }
            return out.reshape_to(&shape);
        }
        let a2 = if a.ndim() == 1 { a.unsqueeze(0)? } else { a.clone() };
        let b2 = if b.ndim() == 1 { b.unsqueeze(1)? } else { b.clone() };
        let out = a2.matmul_nd(&b2, a.shape(), b.shape())?;
        match (a.ndim(), b.ndim()) {
            (1, 1) => out.reshape(&[]),
            (1, _) => out.squeeze(-2),
            (_, 1) => out.squeeze(-1),
            _ => Ok(out),
        }
    }

    /// `matmul` of operands with at least 2 dims each.
    fn matmul_nd(&self, other: &Tensor, shape_a: &[usize], shape_b: &[usize]) -> Result<Tensor> {
        self.matmul_bias(other, shape_a, shape_b, None)
    }

    /// `matmul_nd`, plus `bias` (`[n]`, contiguous, on the CPU, of the operands' dtype, f32 or
    /// f64: `addmm` checks) added to every output row in the same pass. Not recorded when
    /// there is a bias (`addmm` takes this path only when nothing needs gradients).
    pub(crate) fn matmul_bias(
        &self,
        other: &Tensor,
        shape_a: &[usize],
        shape_b: &[usize],
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        crate::ops::check_same_device("matmul", self, other)?;
        let (a, b) = (self, other);
        let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
        let (k2, n) = (b.shape()[b.ndim() - 2], b.shape()[b.ndim() - 1]);
        if k != k2 {
            return Err(shape_err(
                "matmul",
                format!("mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n}; operands of shapes {shape_a:?} and {shape_b:?})"),
            ));
        }
        if a.dtype() != b.dtype() {
            return Err(dtype_err(
                "matmul",
                format!(
                    "expected both operands to have the same dtype, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ),
            ));
        }
        // gemm re-packs a right operand whose rows are not contiguous (Linear's `x @ W^T`) once
        // per block of output rows; past a few dozen rows one contiguous copy (k * n elements,
        // not recorded) costs less than those repacks
        let b_rows_contiguous;
        let b = if b.ndim() == 2 && m >= 32 && b.layout().strides[1] != 1 && b.dtype().is_float() {
            let _g = crate::autograd::no_grad();
            b_rows_contiguous = b.contiguous();
            &b_rows_contiguous
        } else {
            b
        };
        let batch = broadcast_shapes("matmul", &a.shape()[..a.ndim() - 2], &b.shape()[..b.ndim() - 2])?;
        let mut sa = batch.to_vec();
        sa.extend([m, k]);
        let mut sb = batch.to_vec();
        sb.extend([k, n]);
        let la = a.layout().broadcast_to("matmul", &sa)?;
        let lb = b.layout().broadcast_to("matmul", &sb)?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() {
            let out = crate::cuda::ops::matmul::batched(a, &la, b, &lb, &batch, m, k, n)?;
            return Ok(self.finish_matmul(out, other));
        }
        // batch 1 (`x @ W^T` with one row) and matrix-vector products: a dedicated kernel
        if let Some(out) = crate::ops::matvec::try_matvec(a, &la, b, &lb, &batch, (m, k, n), bias) {
            return Ok(self.finish_matmul(out, other));
        }
        let bias_guard = bias.map(|t| t.read());
        let bias_data = bias_guard.as_deref().zip(bias);
        let data = {
            let (ga, gb) = (a.read(), b.read());
            match (&*ga, &*gb, bias_data) {
                (CpuStorage::F32(x), CpuStorage::F32(y), bias) => {
                    let bias = bias.map(|(s, t)| match s {
                        CpuStorage::F32(v) => &v[t.offset()..t.offset() + n],
                        _ => unreachable!("addmm checked the bias dtype"),
                    });
                    CpuStorage::F32(batched_gemm(x, &la, y, &lb, &batch, (m, k, n), bias, 1.0, 0.0))
                }
                (CpuStorage::F64(x), CpuStorage::F64(y), bias) => {
                    let bias = bias.map(|(s, t)| match s {
                        CpuStorage::F64(v) => &v[t.offset()..t.offset() + n],
                        _ => unreachable!("addmm checked the bias dtype"),
                    });
                    CpuStorage::F64(batched_gemm(x, &la, y, &lb, &batch, (m, k, n), bias, 1.0, 0.0))
                }
                (_, _, Some(_)) => unreachable!("addmm passes a bias for f32 and f64 only"),
                (CpuStorage::F16(x), CpuStorage::F16(y), None) => CpuStorage::F16(batched_gemm(
                    x,
                    &la,
                    y,
                    &lb,
                    &batch,
                    (m, k, n),
                    None,
                    f16::ONE,
                    f16::ZERO,
                )),
                (CpuStorage::BF16(_), _, None) => {
                    drop((ga, gb));
                    // gemm has no bf16 kernel: compute in f32 (bf16 -> f32 is exact) and round once
                    let _ng = crate::autograd::no_grad();
                    let r = a
                        .to_dtype(DType::F32)?
                        .matmul(&b.to_dtype(DType::F32)?)?
                        .to_dtype(DType::BF16)?;
                    drop(_ng);
                    return Ok(self.finish_matmul(r, other));
                }
                (CpuStorage::I64(x), CpuStorage::I64(y), None) => {
                    CpuStorage::I64(batched_int(x, &la, y, &lb, &batch, m, k, n, |c, p, q| {
                        c.wrapping_add(p.wrapping_mul(q))
                    }))
                }
                (CpuStorage::I32(x), CpuStorage::I32(y), None) => {
                    CpuStorage::I32(batched_int(x, &la, y, &lb, &batch, m, k, n, |c, p, q| {
                        c.wrapping_add(p.wrapping_mul(q))
                    }))
                }
                (CpuStorage::U8(x), CpuStorage::U8(y), None) => {
                    CpuStorage::U8(batched_int(x, &la, y, &lb, &batch, m, k, n, |c, p, q| {
                        c.wrapping_add(p.wrapping_mul(q))
                    }))
                }
                (x, _, _) => return Err(dtype_err("matmul", format!("not supported for dtype {}", x.dtype()))),
            }
        };
        let mut shape = batch.to_vec();
        shape.extend([m, n]);
        let out = Tensor::from_storage(data, &shape);
        Ok(self.finish_matmul(out, other))
    }

    fn finish_matmul(&self, out: Tensor, other: &Tensor) -> Tensor {
        if !needs_grad(&[self, other]) {
            return out;
        }
        let (sa, sb) = (SavedTensor::new(self), SavedTensor::new(other));
        let (shape_a, shape_b) = (self.shape().to_vec(), other.shape().to_vec());
        record("matmul", out, &[self, other], move |_| {
            Box::new(move |g| {
                let (a, b) = (sa.get()?, sb.get()?);
                let ga = g.matmul(&b.transpose(-2, -1)?)?.sum_to(&shape_a)?;
                let gb = a.transpose(-2, -1)?.matmul(g)?.sum_to(&shape_b)?;
                Ok(vec![Some(ga), Some(gb)])
            })
        })
    }

    /// 2-D matrix product (errors on other ranks).
    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 || other.ndim() != 2 {
            return Err(shape_err(
                "mm",
                format!(
                    "expected 2-D operands, got shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }

    /// Batched matrix product of two 3-D tensors with the same batch size.
    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 3 || other.ndim() != 3 || self.shape()[0] != other.shape()[0] {
            return Err(shape_err(
                "bmm",
                format!(
                    "expected 3-D operands with equal batch, got shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }

    /// Outer product of two 1-D tensors.
    pub fn outer(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(shape_err(
                "outer",
                format!(
                    "expected 1-D operands, got shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.unsqueeze(1)?.mul(&other.unsqueeze(0)?)
    }

    /// Dot product of two 1-D tensors.
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(shape_err(
                "dot",
                format!(
                    "expected 1-D operands, got shapes {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }
}
