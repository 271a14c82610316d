//! Binary elementwise ops with NumPy broadcasting and PyTorch's type promotion.
//!
//! Each op is declared once in `Binary`: its kernel (`kernel_float` / `kernel_int`) and its
//! gradient rule (`vjp`), written with Tensor ops so it is itself differentiable.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::cpu::elementwise::{map1, map2};
use crate::cpu::math::Float;
use crate::dtype::DType;
use crate::error::{dtype_err, Error, Result};
use crate::shape::{broadcast_shapes, Dims};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

/// The arithmetic binary primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    /// Python-style remainder (sign of the divisor), as `torch.remainder` / `%`.
    Rem,
    Pow,
    Maximum,
    Minimum,
}

impl Binary {
    pub fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Rem => "rem",
            Binary::Pow => "pow",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
        }
    }

    /// The dtype the op computes in and returns, given the promoted input dtype.
    fn out_dtype(self, promoted: DType) -> Result<DType> {
        Ok(match (self, promoted) {
            // true division of integers gives the default float dtype, as in PyTorch
            (Binary::Div, d) if !d.is_float() => DType::F32,
            // on two bools, add is `or` and mul is `and`; the rest are errors, as in PyTorch
            (Binary::Sub, DType::Bool) => {
                return Err(dtype_err(
                    "sub",
                    "subtraction of two bool tensors is not supported; use logical_xor",
                ))
            }
            (Binary::Rem | Binary::Pow, DType::Bool) => {
                return Err(dtype_err(self.name(), "not defined for bool tensors"))
            }
            (_, d) => d,
        })
    }

    fn kernel_float<T: Float>(self, a: &[T], la: &crate::shape::Layout, b: &[T], lb: &crate::shape::Layout) -> Vec<T> {
        match self {
            Binary::Add => map2(a, la, b, lb, |x, y| x + y),
            Binary::Sub => map2(a, la, b, lb, |x, y| x - y),
            Binary::Mul => map2(a, la, b, lb, |x, y| x * y),
            Binary::Div => map2(a, la, b, lb, |x, y| x / y),
            // fmod, moved to the divisor's sign: exact, and right for infinite divisors
            Binary::Rem => map2(a, la, b, lb, |x: T, y: T| {
                let r = x % y;
                if r != T::ZERO && ((r < T::ZERO) != (y < T::ZERO)) {
                    r + y
                } else {
                    r
                }
            }),
            Binary::Pow => map2(a, la, b, lb, |x: T, y: T| x.powf(y)),
            Binary::Maximum => map2(a, la, b, lb, |x: T, y| x.max_nan(y)),
            Binary::Minimum => map2(a, la, b, lb, |x: T, y| x.min_nan(y)),
        }
    }

    #[allow(unused_comparisons)]
    fn kernel_int(self, a: &Tensor, b: &Tensor) -> Result<CpuStorage> {
        macro_rules! ints {
            ($a:expr, $b:expr, $t:ty, $V:ident) => {{
                let (la, lb) = (a.layout(), b.layout());
                CpuStorage::$V(match self {
                    Binary::Add => map2($a, la, $b, lb, |x: $t, y: $t| x.wrapping_add(y)),
                    Binary::Sub => map2($a, la, $b, lb, |x: $t, y: $t| x.wrapping_sub(y)),
                    Binary::Mul => map2($a, la, $b, lb, |x: $t, y: $t| x.wrapping_mul(y)),
                    Binary::Rem => {
                        if $b.iter().any(|&y| y == 0) && b.numel() > 0 {
                            return Err(Error::Arg {
                                op: "rem",
                                msg: "integer remainder by zero".into(),
                            });
                        }
                        map2($a, la, $b, lb, |x: $t, y: $t| {
                            let r = x.wrapping_rem(y);
                            if r != 0 && ((r < 0) != (y < 0)) {
                                r.wrapping_add(y)
                            } else {
                                r
                            }
                        })
                    }
                    Binary::Pow => map2($a, la, $b, lb, |x: $t, y: $t| {
                        if (y as i64) < 0 {
                            // 1 / x^|y| truncated: 0 unless x is 1 or -1
                            match x as i64 {
                                1 => x,
                                -1 if (y as i64) % 2 == 0 => 1,
                                -1 => x,
                                _ => 0,
                            }
                        } else {
                            x.wrapping_pow(y as u32)
                        }
                    }),
                    Binary::Maximum => map2($a, la, $b, lb, |x: $t, y: $t| if x > y { x } else { y }),
                    Binary::Minimum => map2($a, la, $b, lb, |x: $t, y: $t| if x < y { x } else { y }),
                    Binary::Div => unreachable!("integer division is computed in float"),
                })
            }};
        }
        let (ga, gb) = (a.read(), b.read());
        Ok(match (&*ga, &*gb) {
            (CpuStorage::I64(x), CpuStorage::I64(y)) => ints!(x, y, i64, I64),
            (CpuStorage::I32(x), CpuStorage::I32(y)) => ints!(x, y, i32, I32),
            (CpuStorage::U8(x), CpuStorage::U8(y)) => ints!(x, y, u8, U8),
            (CpuStorage::Bool(x), CpuStorage::Bool(y)) => CpuStorage::Bool(match self {
                Binary::Maximum | Binary::Add => map2(x, a.layout(), y, b.layout(), |x, y| x | y),
                Binary::Minimum | Binary::Mul => map2(x, a.layout(), y, b.layout(), |x, y| x & y),
                _ => return Err(dtype_err(self.name(), "not defined for bool tensors")),
            }),
            (x, y) => {
                return Err(dtype_err(
                    self.name(),
                    format!("internal: mismatched dtypes {} and {}", x.dtype(), y.dtype()),
                ))
            }
        })
    }

    /// Gradients of the op for inputs `a`, `b` (already broadcast-aware: reduced to shapes).
    fn vjp(self, a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            Binary::Add => (g.clone(), g.clone()),
            Binary::Sub => (g.clone(), g.neg()?),
            Binary::Mul => (g.mul(b)?, g.mul(a)?),
            Binary::Div => {
                let ga = g.div(b)?;
                (ga.clone(), ga.mul(a)?.div(b)?.neg()?)
            }
            Binary::Rem => (g.clone(), g.mul(&a.div(b)?.floor()?)?.neg()?),
            Binary::Pow => {
                // d/da = b * a^(b-1); d/db = a^b * ln(a), taken as 0 where a == 0 and b >= 0
                let ga = g.mul(&b.mul(&a.pow(&b.sub_scalar(1.0)?)?)?)?;
                let zero_base = a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?;
                let gb = g.mul(&a.pow(b)?.mul(&a.log()?)?)?;
                let gb = gb.masked_fill(&zero_base, 0.0)?;
                (ga, gb)
            }
            Binary::Maximum | Binary::Minimum => {
                let (pick_a, pick_b) = if self == Binary::Maximum {
                    (a.gt(b)?, a.lt(b)?)
                } else {
                    (a.lt(b)?, a.gt(b)?)
                };
                // ties split the gradient evenly, as PyTorch does
                let tie = a.eq(b)?.to_dtype(g.dtype())?.mul_scalar(0.5)?;
                let wa = pick_a.to_dtype(g.dtype())?.add(&tie)?;
                let wb = pick_b.to_dtype(g.dtype())?.add(&tie)?;
                (g.mul(&wa)?, g.mul(&wb)?)
            }
        })
    }
}

/// Bring a float tensor's data into the compute dtype (f16/bf16 compute in f32).
fn compute_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

impl Tensor {
    /// Apply a binary primitive with broadcasting and type promotion.
    pub fn binary(&self, other: &Tensor, op: Binary) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if let Some((a, b)) = crate::cuda::ops::scalar_to_device(self, other)? {
            return a.binary(&b, op);
        }
        crate::ops::check_same_device(op.name(), self, other)?;
        let shape = broadcast_shapes(op.name(), self.shape(), other.shape())?;
        let promoted = DType::promote(self.dtype(), other.dtype());
        let out_dtype = op.out_dtype(promoted)?;
        let cd = compute_dtype(out_dtype);
        let a = self.to_dtype(cd)?;
        let b = other.to_dtype(cd)?;
        let la = a.layout().broadcast_to(op.name(), &shape)?;
        let lb = b.layout().broadcast_to(op.name(), &shape)?;
        #[cfg(feature = "cuda")]
        if a.device().is_cuda() {
            let out = crate::cuda::ops::binary(op, &a, &la, &b, &lb, &shape)?;
            return self.finish_binary(other, op, out, cd, out_dtype);
        }
        let data = {
            let (ga, gb) = (a.read(), b.read());
            match (&*ga, &*gb) {
                (CpuStorage::F32(x), CpuStorage::F32(y)) => Some(CpuStorage::F32(op.kernel_float(x, &la, y, &lb))),
                (CpuStorage::F64(x), CpuStorage::F64(y)) => Some(CpuStorage::F64(op.kernel_float(x, &la, y, &lb))),
                _ => None,
            }
        };
        let data = match data {
            Some(d) => d,
            None => {
                let a = a.broadcast_view(&la);
                let b = b.broadcast_view(&lb);
                op.kernel_int(&a, &b)?
            }
        };
        let out = Tensor::from_storage(data, &shape);
        self.finish_binary(other, op, out, cd, out_dtype)
    }

    /// The dtype fix-up and autograd record shared by every backend.
    fn finish_binary(
        &self,
        other: &Tensor,
        op: Binary,
        mut out: Tensor,
        cd: DType,
        out_dtype: DType,
    ) -> Result<Tensor> {
        if cd != out_dtype {
            out = crate::autograd::no_grad_scope(|| out.to_dtype(out_dtype))?;
        }
        if !out_dtype.is_float() || !needs_grad(&[self, other]) {
            return Ok(out);
        }
        // add and sub need neither operand in backward: save nothing for them
        let saves = !matches!(op, Binary::Add | Binary::Sub);
        let saved = saves.then(|| (SavedTensor::new(self), SavedTensor::new(other)));
        let (shape_a, shape_b) = (Dims::from_slice(self.shape()), Dims::from_slice(other.shape()));
        let (da, db) = (self.dtype(), other.dtype());
        Ok(record(op.name(), out, &[self, other], move |_| {
            Box::new(move |g| {
                let (ga, gb) = match &saved {
                    // differentiate in the dtype the op computed in (ln of an f32 base promoted
                    // against an f64 exponent must be taken in f64)
                    Some((sa, sb)) => op.vjp(&sa.get()?.to_dtype(out_dtype)?, &sb.get()?.to_dtype(out_dtype)?, g)?,
                    None => (g.clone(), if op == Binary::Sub { g.neg()? } else { g.clone() }),
                };
                let reduce = |t: Tensor, shape: &[usize], d: DType| -> Result<Tensor> {
                    let t = if t.shape() == shape { t } else { t.sum_to(shape)? };
                    if t.dtype() == d {
                        Ok(t)
                    } else {
                        t.to_dtype(d)
                    }
                };
                Ok(vec![Some(reduce(ga, &shape_a, da)?), Some(reduce(gb, &shape_b, db)?)])
            })
        }))
    }

    /// A view with the given (broadcast) layout, sharing storage. No autograd (kernels only).
    pub(crate) fn broadcast_view(&self, layout: &crate::shape::Layout) -> Tensor {
        self.view_with_layout(layout.clone())
    }

    /// A 0-dim tensor holding `v`, of the dtype that `self op v` computes in.
    pub(crate) fn scalar_like(&self, v: f64) -> Tensor {
        let is_float = v.fract() != 0.0 || !v.is_finite();
        let d = DType::promote_with_scalar(self.dtype(), is_float || self.dtype().is_float());
        let d = if self.dtype().is_float() { self.dtype() } else { d };
        #[cfg(feature = "cuda")]
        if let crate::Device::Cuda(i) = self.device() {
            // made on the device by a fill kernel: no host round trip per scalar op
            return crate::cuda::ops::fill(i, d, &[], v).expect("scalar on the GPU: fill kernel failed");
        }
        Tensor::from_storage(CpuStorage::full(d, 1, v), &[])
    }

    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Add)
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Sub)
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Mul)
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Div)
    }
    pub fn rem(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Rem)
    }
    pub fn pow(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Pow)
    }
    pub fn maximum(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Maximum)
    }
    pub fn minimum(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(o, Binary::Minimum)
    }
    /// `self op v` for an f32 / f64 tensor on the CPU, without making the scalar a tensor.
    /// Same values and gradients as `self.binary(&self.scalar_like(v), op)` (the scalar is
    /// rounded to the tensor's dtype first, as there); it exists because in small-tensor code
    /// (`x = x + 1.0`, benchmark W3) the per-op cost is mostly allocation, and the scalar
    /// tensor, its broadcast layout and its graph edge are half of it.
    fn float_scalar_op(&self, v: f64, op: Binary) -> Option<Result<Tensor>> {
        if self.device() != crate::Device::Cpu || !matches!(self.dtype(), DType::F32 | DType::F64) {
            return None;
        }
        fn apply<T: Float>(x: &[T], layout: &crate::shape::Layout, v: T, op: Binary) -> Option<Vec<T>> {
            Some(match op {
                Binary::Add => map1(x, layout, |a| a + v),
                Binary::Sub => map1(x, layout, |a| a - v),
                Binary::Mul => map1(x, layout, |a| a * v),
                Binary::Div => map1(x, layout, |a| a / v),
                _ => return None,
            })
        }
        let data = match &*self.read() {
            CpuStorage::F32(x) => CpuStorage::F32(apply(x, self.layout(), v as f32, op)?),
            CpuStorage::F64(x) => CpuStorage::F64(apply(x, self.layout(), v, op)?),
            _ => return None,
        };
        let out = Tensor::from_storage(data, self.shape());
        Some(Ok(record(op.name(), out, &[self], move |_| {
            Box::new(move |g| {
                Ok(vec![Some(match op {
                    Binary::Mul => g.mul_scalar(v)?,
                    Binary::Div => g.div_scalar(v)?,
                    _ => g.clone(),
                })])
            })
        })))
    }

    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        if let Some(r) = self.float_scalar_op(v, Binary::Add) {
            return r;
        }
        self.binary(&self.scalar_like(v), Binary::Add)
    }
    pub fn sub_scalar(&self, v: f64) -> Result<Tensor> {
        if let Some(r) = self.float_scalar_op(v, Binary::Sub) {
            return r;
        }
        self.binary(&self.scalar_like(v), Binary::Sub)
    }
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        if let Some(r) = self.float_scalar_op(v, Binary::Mul) {
            return r;
        }
        self.binary(&self.scalar_like(v), Binary::Mul)
    }
    pub fn div_scalar(&self, v: f64) -> Result<Tensor> {
        if !self.dtype().is_float() {
            // true division happens in the default float dtype: the scalar goes there directly
            // (not through the tensor's integer dtype, where -1 would wrap for u8)
            return self.binary(&Tensor::scalar(v as f32), Binary::Div);
        }
        if let Some(r) = self.float_scalar_op(v, Binary::Div) {
            return r;
        }
        self.binary(&self.scalar_like(v), Binary::Div)
    }
    pub fn rem_scalar(&self, v: f64) -> Result<Tensor> {
        self.binary(&self.scalar_like(v), Binary::Rem)
    }
    /// `self ** v`; for float tensors this is the unary power op (cheaper gradient).
    pub fn pow_scalar(&self, v: f64) -> Result<Tensor> {
        if self.dtype().is_float() {
            self.unary(crate::ops::unary::Unary::PowScalar(v))
        } else if v < 0.0 && v.fract() == 0.0 {
            Err(dtype_err(
                "pow",
                format!(
                    "integers to negative integer powers are not allowed ({} tensor, exponent {v})",
                    self.dtype()
                ),
            ))
        } else {
            self.binary(&self.scalar_like(v), Binary::Pow)
        }
    }
    /// `v - self`
    pub fn rsub_scalar(&self, v: f64) -> Result<Tensor> {
        self.scalar_like(v).binary(self, Binary::Sub)
    }
    pub fn maximum_scalar(&self, v: f64) -> Result<Tensor> {
        self.binary(&self.scalar_like(v), Binary::Maximum)
    }
    pub fn minimum_scalar(&self, v: f64) -> Result<Tensor> {
        self.binary(&self.scalar_like(v), Binary::Minimum)
    }

    /// Sum a broadcast gradient back down to `shape` (the inverse of broadcasting).
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.ndim() - shape.len();
        let mut dims: Vec<isize> = (0..lead as isize).collect();
        for (i, &s) in shape.iter().enumerate() {
            if s == 1 && self.shape()[lead + i] != 1 {
                dims.push((lead + i) as isize);
            }
        }
        let s = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dims(&dims, true)?
        };
        s.reshape_to(shape)
    }
}
