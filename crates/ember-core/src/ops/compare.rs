//! Comparisons, logical ops, `where`, `masked_fill`, `isnan`/`isinf`: ops whose results are
//! bool masks (not differentiable), plus the selection ops built on masks (differentiable).

use crate::autograd::{needs_grad, record};
use crate::cpu::elementwise::{map1, map2};
use crate::dtype::{DType, Elem};
use crate::error::{dtype_err, Result};
use crate::shape::broadcast_shapes;
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn name(self) -> &'static str {
        match self {
            Compare::Eq => "eq",
            Compare::Ne => "ne",
            Compare::Lt => "lt",
            Compare::Le => "le",
            Compare::Gt => "gt",
            Compare::Ge => "ge",
        }
    }
}

fn cmp_kernel<T: Copy + PartialOrd + Send + Sync>(
    op: Compare,
    a: &[T],
    la: &crate::shape::Layout,
    b: &[T],
    lb: &crate::shape::Layout,
) -> Vec<bool> {
    match op {
        Compare::Eq => map2(a, la, b, lb, |x, y| x == y),
        Compare::Ne => map2(a, la, b, lb, |x, y| x != y),
        Compare::Lt => map2(a, la, b, lb, |x, y| x < y),
        Compare::Le => map2(a, la, b, lb, |x, y| x <= y),
        Compare::Gt => map2(a, la, b, lb, |x, y| x > y),
        Compare::Ge => map2(a, la, b, lb, |x, y| x >= y),
    }
}

impl Tensor {
    /// Elementwise comparison with broadcasting; returns a bool tensor.
    pub fn compare(&self, other: &Tensor, op: Compare) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if let Some((a, b)) = crate::cuda::ops::scalar_to_device(self, other)? {
            return a.compare(&b, op);
        }
        crate::ops::check_same_device(op.name(), self, other)?;
        let shape = broadcast_shapes(op.name(), self.shape(), other.shape())?;
        let d = DType::promote(self.dtype(), other.dtype());
        let (a, b) = (self.to_dtype(d)?.detach(), other.to_dtype(d)?.detach());
        let la = a.layout().broadcast_to(op.name(), &shape)?;
        let lb = b.layout().broadcast_to(op.name(), &shape)?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() {
            return crate::cuda::ops::compare::compare(op, &a, &la, &b, &lb, &shape);
        }
        let (ga, gb) = (a.read(), b.read());
        let out = match (&*ga, &*gb) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::F64(x), CpuStorage::F64(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::F16(x), CpuStorage::F16(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::BF16(x), CpuStorage::BF16(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::I64(x), CpuStorage::I64(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::I32(x), CpuStorage::I32(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::U8(x), CpuStorage::U8(y)) => cmp_kernel(op, x, &la, y, &lb),
            (CpuStorage::Bool(x), CpuStorage::Bool(y)) => cmp_kernel(op, x, &la, y, &lb),
            _ => unreachable!("both sides were cast to {d}"),
        };
        Ok(Tensor::from_storage(CpuStorage::Bool(out), &shape))
    }

    pub fn eq(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Eq)
    }
    pub fn ne(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Ne)
    }
    pub fn lt(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Lt)
    }
    pub fn le(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Le)
    }
    pub fn gt(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Gt)
    }
    pub fn ge(&self, o: &Tensor) -> Result<Tensor> {
        self.compare(o, Compare::Ge)
    }
    pub fn eq_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Eq)
    }
    pub fn ne_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Ne)
    }
    pub fn lt_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Lt)
    }
    pub fn le_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Le)
    }
    pub fn gt_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Gt)
    }
    pub fn ge_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare(&self.cmp_scalar(v), Compare::Ge)
    }

    fn cmp_scalar(&self, v: f64) -> Tensor {
        // compare in the tensor's own dtype unless the scalar needs a float (or, for a bool
        // tensor, an integer: `mask == 2` is false everywhere, as in PyTorch)
        let d = if (v.fract() != 0.0 || !v.is_finite()) && !self.dtype().is_float() {
            DType::F64
        } else if self.dtype() == DType::Bool && v != 0.0 && v != 1.0 {
            DType::I64
        } else {
            self.dtype()
        };
        #[cfg(feature = "cuda")]
        if let crate::Device::Cuda(i) = self.device() {
            return crate::cuda::ops::fill(i, d, &[], v).expect("scalar on the GPU: fill kernel failed");
        }
        Tensor::from_storage(CpuStorage::full(d, 1, v), &[])
    }

    fn as_bool(&self, op: &'static str) -> Result<Tensor> {
        let _ = op;
        self.to_dtype(DType::Bool)
    }

    fn logical(&self, other: &Tensor, op: &'static str, f: fn(bool, bool) -> bool) -> Result<Tensor> {
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let (a, b) = (self.as_bool(op)?, other.as_bool(op)?);
        let la = a.layout().broadcast_to(op, &shape)?;
        let lb = b.layout().broadcast_to(op, &shape)?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() {
            crate::ops::check_same_device(op, &a, &b)?;
            let code = match op {
                "logical_and" => 0,
                "logical_or" => 1,
                _ => 2,
            };
            return crate::cuda::ops::compare::logical(code, &a, &la, &b, &lb, &shape);
        }
        let (ga, gb) = (a.read(), b.read());
        let (CpuStorage::Bool(x), CpuStorage::Bool(y)) = (&*ga, &*gb) else {
            unreachable!()
        };
        Ok(Tensor::from_storage(CpuStorage::Bool(map2(x, &la, y, &lb, f)), &shape))
    }

    pub fn logical_and(&self, o: &Tensor) -> Result<Tensor> {
        self.logical(o, "logical_and", |x, y| x & y)
    }
    pub fn logical_or(&self, o: &Tensor) -> Result<Tensor> {
        self.logical(o, "logical_or", |x, y| x | y)
    }
    pub fn logical_xor(&self, o: &Tensor) -> Result<Tensor> {
        self.logical(o, "logical_xor", |x, y| x ^ y)
    }
    pub fn logical_not(&self) -> Result<Tensor> {
        let a = self.as_bool("logical_not")?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() {
            return crate::cuda::ops::compare::logical(3, &a, a.layout(), &a, a.layout(), self.shape());
        }
        let g = a.read();
        let CpuStorage::Bool(x) = &*g else { unreachable!() };
        Ok(Tensor::from_storage(
            CpuStorage::Bool(map1(x, a.layout(), |v| !v)),
            self.shape(),
        ))
    }

    /// `f` of every element as a bool tensor; integers and bools are finite numbers, so for
    /// them it is `f(0.0)` everywhere (false for isnan/isinf, true for isfinite).
    fn float_mask(&self, op: &'static str, f: fn(f64) -> bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Tensor::full_on(self.shape(), f(0.0) as u8 as f64, DType::Bool, self.device());
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            // composed from comparisons: NaN is the one value unequal to itself
            let nan = self.ne(self)?;
            let inf = self.abs()?.eq_scalar(f64::INFINITY)?;
            return match op {
                "isnan" => Ok(nan),
                "isinf" => Ok(inf),
                _ => nan.logical_or(&inf)?.logical_not(),
            };
        }
        let g = self.read();
        let out = crate::with_storage!(&*g, v => map1(v, self.layout(), |x| f(x.to_f64())));
        let _ = op;
        Ok(Tensor::from_storage(CpuStorage::Bool(out), self.shape()))
    }

    pub fn isnan(&self) -> Result<Tensor> {
        self.float_mask("isnan", f64::is_nan)
    }
    pub fn isinf(&self) -> Result<Tensor> {
        self.float_mask("isinf", f64::is_infinite)
    }
    pub fn isfinite(&self) -> Result<Tensor> {
        self.float_mask("isfinite", f64::is_finite)
    }

    /// `where(cond, self, other)`: elements of `self` where `cond` is true, else of `other`.
    /// Broadcasts all three; differentiable in `self` and `other`.
    pub fn where_cond(&self, cond: &Tensor, other: &Tensor) -> Result<Tensor> {
        Tensor::where_(cond, self, other)
    }

    /// `torch.where(cond, a, b)`.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        const OP: &str = "where";
        if cond.dtype() != DType::Bool {
            return Err(dtype_err(OP, format!("condition must be bool, got {}", cond.dtype())));
        }
        let shape = broadcast_shapes(OP, cond.shape(), a.shape())?;
        let shape = broadcast_shapes(OP, &shape, b.shape())?;
        let d = DType::promote(a.dtype(), b.dtype());
        let (ca, cb) = (a.to_dtype(d)?.detach(), b.to_dtype(d)?.detach());
        let lc = cond.layout().broadcast_to(OP, &shape)?;
        let la = ca.layout().broadcast_to(OP, &shape)?;
        let lb = cb.layout().broadcast_to(OP, &shape)?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() || b.device().is_cuda() || cond.device().is_cuda() {
            use crate::cuda::ops::compare::on_device_of;
            let like = if a.device().is_cuda() {
                a
            } else if b.device().is_cuda() {
                b
            } else {
                cond
            };
            let (c, ca, cb) = (
                on_device_of(OP, like, cond)?,
                on_device_of(OP, like, &ca)?,
                on_device_of(OP, like, &cb)?,
            );
            let out = crate::cuda::ops::compare::where_(&c, &lc, &ca, &la, &cb, &lb, &shape)?;
            return Ok(finish_where(cond, a, b, out));
        }
        let cv = gather_full(&cond.detach(), &lc);
        let CpuStorage::Bool(cv) = &cv else { unreachable!() };
        let data = {
            let (ga, gb) = (ca.read(), cb.read());
            macro_rules! sel {
                ($x:expr, $y:expr, $V:ident) => {
                    CpuStorage::$V(select(cv, Operand::of($x, &la), Operand::of($y, &lb)))
                };
            }
            match (&*ga, &*gb) {
                (CpuStorage::F32(x), CpuStorage::F32(y)) => sel!(x, y, F32),
                (CpuStorage::F64(x), CpuStorage::F64(y)) => sel!(x, y, F64),
                (CpuStorage::F16(x), CpuStorage::F16(y)) => sel!(x, y, F16),
                (CpuStorage::BF16(x), CpuStorage::BF16(y)) => sel!(x, y, BF16),
                (CpuStorage::I64(x), CpuStorage::I64(y)) => sel!(x, y, I64),
                (CpuStorage::I32(x), CpuStorage::I32(y)) => sel!(x, y, I32),
                (CpuStorage::U8(x), CpuStorage::U8(y)) => sel!(x, y, U8),
                (CpuStorage::Bool(x), CpuStorage::Bool(y)) => sel!(x, y, Bool),
                _ => unreachable!(),
            }
        };
        let out = Tensor::from_storage(data, &shape);
        Ok(finish_where(cond, a, b, out))
    }

    /// Fill the elements where `mask` is true with `value` (out of place). `self` and `mask`
    /// broadcast together, as in PyTorch.
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            return Err(dtype_err(
                "masked_fill",
                format!("only supports boolean masks, got a mask of dtype {}", mask.dtype()),
            ));
        }
        let v = Tensor::from_storage(CpuStorage::full(self.dtype(), 1, value), &[]);
        // a CPU scalar: `where` moves it to a GPU operand's device
        Tensor::where_(mask, &v, self)
    }
}

/// The autograd record of `where`, shared by every backend.
fn finish_where(cond: &Tensor, a: &Tensor, b: &Tensor, out: Tensor) -> Tensor {
    if !needs_grad(&[a, b]) {
        return out;
    }
    let cond = cond.clone();
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    let (da, db) = (a.dtype(), b.dtype());
    record("where", out, &[a, b], move |_| {
        Box::new(move |g| {
            let zero = Tensor::zeros_dtype(&[], g.dtype())?;
            let ga = Tensor::where_(&cond, g, &zero)?.sum_to(&sa)?.to_dtype(da)?;
            let gb = Tensor::where_(&cond, &zero, g)?.sum_to(&sb)?.to_dtype(db)?;
            Ok(vec![Some(ga), Some(gb)])
        })
    })
}

/// One side of a selection: a single broadcast value, or every element in row-major order.
enum Operand<T> {
    Scalar(T),
    Full(Vec<T>),
}

impl<T: Copy> Operand<T> {
    fn of(v: &[T], l: &crate::shape::Layout) -> Operand<T> {
        if l.strides.iter().all(|&s| s == 0) {
            Operand::Scalar(v[l.offset])
        } else {
            Operand::Full(crate::cpu::copy::gather(v, l))
        }
    }
}

/// The elements of a (broadcast) view in row-major order.
fn gather_full(t: &Tensor, l: &crate::shape::Layout) -> CpuStorage {
    let g = t.read();
    crate::map_storage!(&*g, v => crate::cpu::copy::gather(v, l))
}

fn select<T: Copy>(c: &[bool], a: Operand<T>, b: Operand<T>) -> Vec<T> {
    match (a, b) {
        (Operand::Scalar(x), Operand::Scalar(y)) => c.iter().map(|&k| if k { x } else { y }).collect(),
        (Operand::Scalar(x), Operand::Full(y)) => c.iter().zip(y).map(|(&k, y)| if k { x } else { y }).collect(),
        (Operand::Full(x), Operand::Scalar(y)) => c.iter().zip(x).map(|(&k, x)| if k { x } else { y }).collect(),
        (Operand::Full(x), Operand::Full(y)) => c
            .iter()
            .zip(x)
            .zip(y)
            .map(|((&k, x), y)| if k { x } else { y })
            .collect(),
    }
}
