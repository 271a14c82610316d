//! Unary elementwise primitives: the table of kernels and gradient rules.
//!
//! Every variant of [`Unary`] declares, in this one file, its float kernel (`apply`), whether
//! it keeps integer dtypes (`int_kernel`), and its vector-Jacobian product (`vjp`), written with
//! Tensor ops so it can itself be differentiated.

use crate::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use crate::cpu::elementwise::{map1, map2};
use crate::cpu::math::Float;
use crate::dtype::DType;
use crate::error::{dtype_err, Result};
use crate::storage::CpuStorage;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Neg,
    Abs,
    Sign,
    Exp,
    Exp2,
    Log,
    Log2,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sigmoid,
    Relu,
    LeakyRelu(f64),
    Elu(f64),
    /// GELU with the exact erf formulation.
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
    Silu,
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Erf,
    Floor,
    Ceil,
    /// Round half to even, as torch.round.
    Round,
    /// Clamp to [lo, hi] (use +-inf for an open side).
    Clamp(f64, f64),
    PowScalar(f64),
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

impl Unary {
    pub fn name(self) -> &'static str {
        use Unary::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Sign => "sign",
            Exp => "exp",
            Exp2 => "exp2",
            Log => "log",
            Log2 => "log2",
            Log1p => "log1p",
            Expm1 => "expm1",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Square => "square",
            Reciprocal => "reciprocal",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            LeakyRelu(_) => "leaky_relu",
            Elu(_) => "elu",
            Gelu => "gelu",
            GeluTanh => "gelu_tanh",
            Silu => "silu",
            Softplus { .. } => "softplus",
            Erf => "erf",
            Floor => "floor",
            Ceil => "ceil",
            Round => "round",
            Clamp(..) => "clamp",
            PowScalar(_) => "pow",
        }
    }

    /// Ops that map integers to integers (the rest promote integer inputs to f32). Clamp keeps
    /// them only for integral bounds: a fractional bound promotes, as a Python float does.
    fn keeps_int(self) -> bool {
        use Unary::*;
        let integral = |v: f64| v.is_infinite() || v.fract() == 0.0;
        match self {
            Neg | Abs | Sign | Square | Relu | Floor | Ceil | Round => true,
            Clamp(lo, hi) => integral(lo) && integral(hi),
            _ => false,
        }
    }

    /// The dtypes PyTorch rejects: bool for arithmetic without a bool meaning, and every
    /// non-float dtype for the nn activations.
    fn check_dtype(self, d: DType) -> Result<()> {
        use Unary::*;
        let bad = match self {
            Neg | Abs | Relu | Floor | Ceil | Round => d == DType::Bool,
            LeakyRelu(_) | Elu(_) | Gelu | GeluTanh | Silu | Softplus { .. } => !d.is_float(),
            _ => false,
        };
        if bad {
            return Err(dtype_err(self.name(), format!("not implemented for {d} tensors")));
        }
        Ok(())
    }

    /// Ops whose gradient is zero almost everywhere.
    fn piecewise_constant(self) -> bool {
        matches!(self, Unary::Sign | Unary::Floor | Unary::Ceil | Unary::Round)
    }

    fn apply<T: Float>(self, x: &[T], l: &crate::shape::Layout) -> Vec<T> {
        use Unary::*;
        let c = T::c;
        match self {
            Neg => map1(x, l, |v: T| -v),
            Abs => map1(x, l, |v: T| v.abs()),
            // NaN has sign 0, as in PyTorch
            Sign => map1(x, l, |v: T| {
                if v > T::ZERO {
                    T::ONE
                } else if v < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            }),
            Exp => map1(x, l, |v: T| v.exp()),
            Exp2 => map1(x, l, |v: T| v.exp2()),
            Log => map1(x, l, |v: T| v.ln()),
            Log2 => map1(x, l, |v: T| v.log2()),
            Log1p => map1(x, l, |v: T| v.ln_1p()),
            Expm1 => map1(x, l, |v: T| v.exp_m1()),
            Sqrt => map1(x, l, |v: T| v.sqrt()),
            Rsqrt => map1(x, l, |v: T| T::ONE / v.sqrt()),
            Square => map1(x, l, |v: T| v * v),
            Reciprocal => map1(x, l, |v: T| T::ONE / v),
            Sin => map1(x, l, |v: T| v.sin()),
            Cos => map1(x, l, |v: T| v.cos()),
            Tan => map1(x, l, |v: T| v.tan()),
            Tanh => map1(x, l, |v: T| v.tanh()),
            Sigmoid => map1(x, l, |v: T| T::ONE / (T::ONE + (-v).exp())),
            Relu => map1(x, l, |v: T| if v > T::ZERO || v.is_nan() { v } else { T::ZERO }),
            LeakyRelu(s) => {
                let s = c(s);
                map1(x, l, move |v: T| if v > T::ZERO { v } else { v * s })
            }
            Elu(a) => {
                let a = c(a);
                map1(x, l, move |v: T| if v > T::ZERO { v } else { a * v.exp_m1() })
            }
            Gelu => map1(x, l, move |v: T| c(0.5) * v * (T::ONE + (v * c(FRAC_1_SQRT_2)).erf())),
            GeluTanh => map1(x, l, move |v: T| {
                c(0.5) * v * (T::ONE + (c(SQRT_2_OVER_PI) * (v + c(0.044715) * v * v * v)).tanh())
            }),
            Silu => map1(x, l, |v: T| v / (T::ONE + (-v).exp())),
            Softplus { beta, threshold } => {
                let (b, th) = (c(beta), c(threshold));
                map1(x, l, move |v: T| {
                    if v * b > th {
                        v
                    } else {
                        (T::ONE + (v * b).exp()).ln() / b
                    }
                })
            }
            Erf => map1(x, l, |v: T| v.erf()),
            Floor => map1(x, l, |v: T| v.floor()),
            Ceil => map1(x, l, |v: T| v.ceil()),
            Round => map1(x, l, |v: T| v.round_even()),
            // min(max(v, lo), hi): with lo > hi everything becomes hi, as in PyTorch
            Clamp(lo, hi) => {
                let (lo, hi) = (c(lo), c(hi));
                map1(x, l, move |v: T| {
                    if v.is_nan() {
                        return v;
                    }
                    let v = if v < lo { lo } else { v };
                    if v > hi {
                        hi
                    } else {
                        v
                    }
                })
            }
            PowScalar(e) => {
                let ef = c(e);
                if e == 2.0 {
                    map1(x, l, |v: T| v * v)
                } else if e == 0.5 {
                    map1(x, l, |v: T| v.sqrt())
                } else {
                    map1(x, l, move |v: T| v.powf(ef))
                }
            }
        }
    }

    fn int_kernel(self, t: &Tensor) -> Option<CpuStorage> {
        use Unary::*;
        macro_rules! int_ops {
            ($v:expr, $ty:ty, $V:ident) => {{
                let l = t.layout();
                Some(CpuStorage::$V(match self {
                    Neg => map1($v, l, |x: $ty| (0 as $ty).wrapping_sub(x)),
                    Abs => map1($v, l, |x: $ty| {
                        if x < (0 as $ty) {
                            (0 as $ty).wrapping_sub(x)
                        } else {
                            x
                        }
                    }),
                    Sign => map1($v, l, |x: $ty| {
                        if x > (0 as $ty) {
                            1
                        } else if x < (0 as $ty) {
                            (0 as $ty).wrapping_sub(1)
                        } else {
                            0
                        }
                    }),
                    Square => map1($v, l, |x: $ty| x.wrapping_mul(x)),
                    Relu => map1($v, l, |x: $ty| if x > (0 as $ty) { x } else { 0 }),
                    Floor | Ceil | Round => map1($v, l, |x: $ty| x),
                    Clamp(lo, hi) => map1($v, l, move |x: $ty| {
                        let x = if (x as f64) < lo { lo as $ty } else { x };
                        if (x as f64) > hi {
                            hi as $ty
                        } else {
                            x
                        }
                    }),
                    _ => return None,
                }))
            }};
        }
        let g = t.read();
        match &*g {
            CpuStorage::I64(v) => int_ops!(v, i64, I64),
            CpuStorage::I32(v) => int_ops!(v, i32, I32),
            CpuStorage::U8(v) => int_ops!(v, u8, U8),
            _ => None,
        }
    }

    /// The gradient of the input given the input `x`, the (detached) output `y` and `g`.
    fn vjp(self, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
        use Unary::*;
        // When the backward pass is recorded (create_graph), recompute outputs from `x` so the
        // gradient stays connected to it; otherwise the saved output is exact and free.
        let y = if is_grad_enabled() {
            x.unary(self)?
        } else {
            if let Some(r) = self.fused_vjp(y, g) {
                return Ok(r);
            }
            y.clone()
        };
        match self {
            Neg => g.neg(),
            Abs => g.mul(&x.sign()?),
            Sign | Floor | Ceil | Round => g.mul_scalar(0.0),
            Exp => g.mul(&y),
            Exp2 => g.mul(&y)?.mul_scalar(std::f64::consts::LN_2),
            Log => g.div(x),
            Log2 => g.div(&x.mul_scalar(std::f64::consts::LN_2)?),
            Log1p => g.div(&x.add_scalar(1.0)?),
            Expm1 => g.mul(&y.add_scalar(1.0)?),
            Sqrt => g.div(&y.mul_scalar(2.0)?),
            Rsqrt => g.mul(&y.pow_scalar(3.0)?)?.mul_scalar(-0.5),
            Square => g.mul(&x.mul_scalar(2.0)?),
            Reciprocal => g.mul(&y.square()?)?.neg(),
            Sin => g.mul(&x.cos()?),
            Cos => g.mul(&x.sin()?)?.neg(),
            Tan => g.mul(&y.square()?.add_scalar(1.0)?),
            Tanh => g.mul(&y.square()?.rsub_scalar(1.0)?),
            Sigmoid => g.mul(&y.mul(&y.rsub_scalar(1.0)?)?),
            Relu => g.mul(&y.gt_scalar(0.0)?.to_dtype(g.dtype())?),
            LeakyRelu(s) => {
                let pos = x.gt_scalar(0.0)?.to_dtype(g.dtype())?;
                // slope where x <= 0, 1 where x > 0
                g.mul(&pos.mul_scalar(1.0 - s)?.add_scalar(s)?)
            }
            Elu(a) => {
                let pos = x.gt_scalar(0.0)?;
                let neg_grad = g.mul(&y.add_scalar(a)?)?;
                Tensor::where_(&pos, g, &neg_grad)
            }
            Gelu => {
                let cdf = x.mul_scalar(FRAC_1_SQRT_2)?.erf()?.add_scalar(1.0)?.mul_scalar(0.5)?;
                let pdf = x
                    .square()?
                    .mul_scalar(-0.5)?
                    .exp()?
                    .mul_scalar(FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5)?;
                g.mul(&cdf.add(&x.mul(&pdf)?)?)
            }
            GeluTanh => {
                let x2 = x.square()?;
                let inner = x
                    .mul(&x2.mul_scalar(0.044715)?.add_scalar(1.0)?)?
                    .mul_scalar(SQRT_2_OVER_PI)?;
                let t = inner.tanh()?;
                let dinner = x2
                    .mul_scalar(3.0 * 0.044715)?
                    .add_scalar(1.0)?
                    .mul_scalar(SQRT_2_OVER_PI)?;
                let left = t.add_scalar(1.0)?.mul_scalar(0.5)?;
                let right = x.mul(&t.square()?.rsub_scalar(1.0)?)?.mul(&dinner)?.mul_scalar(0.5)?;
                g.mul(&left.add(&right)?)
            }
            Silu => {
                let s = x.sigmoid()?;
                g.mul(&s.mul(&x.mul(&s.rsub_scalar(1.0)?)?.add_scalar(1.0)?)?)
            }
            Softplus { beta, threshold } => {
                let z = x.mul_scalar(beta)?;
                let s = z.sigmoid()?;
                let lin = z.gt_scalar(threshold)?;
                Tensor::where_(&lin, g, &g.mul(&s)?)
            }
            Erf => g.mul(&x.square()?.neg()?.exp()?.mul_scalar(FRAC_2_SQRT_PI)?),
            // strictly inside: PyTorch gives no gradient to elements sitting on a bound
            Clamp(lo, hi) => {
                let inside = x.gt_scalar(lo)?.logical_and(&x.lt_scalar(hi)?)?;
                g.mul(&inside.to_dtype(g.dtype())?)
            }
            PowScalar(e) => {
                if e == 0.0 {
                    g.mul_scalar(0.0)
                } else {
                    g.mul(&x.pow_scalar(e - 1.0)?.mul_scalar(e)?)
                }
            }
        }
    }
}

impl Unary {
    /// One-pass gradients from the saved output for the activations on every training step's
    /// path (`None` when the op or dtype has no fused kernel). The composite rules in `vjp`
    /// stay the reference these are tested against.
    fn fused_vjp(self, y: &Tensor, g: &Tensor) -> Option<Tensor> {
        fn run<T: Float>(
            op: Unary,
            y: &[T],
            ly: &crate::shape::Layout,
            g: &[T],
            lg: &crate::shape::Layout,
        ) -> Option<Vec<T>> {
            let one = T::ONE;
            Some(match op {
                Unary::Relu => map2(y, ly, g, lg, |y: T, g: T| if y > T::ZERO { g } else { T::ZERO }),
                Unary::Tanh => map2(y, ly, g, lg, move |y: T, g: T| g * (one - y * y)),
                Unary::Sigmoid => map2(y, ly, g, lg, move |y: T, g: T| g * y * (one - y)),
                Unary::Exp => map2(y, ly, g, lg, |y: T, g: T| g * y),
                _ => return None,
            })
        }
        if y.dtype() != g.dtype() || y.shape() != g.shape() || !y.device().is_cpu() || !g.device().is_cpu() {
            return None;
        }
        let (gy, gg) = (y.read(), g.read());
        let data = match (&*gy, &*gg) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(run(self, a, y.layout(), b, g.layout())?),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(run(self, a, y.layout(), b, g.layout())?),
            _ => return None,
        };
        Some(Tensor::from_storage(data, g.shape()))
    }
}

impl Tensor {
    /// Apply a unary primitive. Integer inputs give integer outputs for the ops that keep them
    /// (neg, abs, relu, clamp, ...) and f32 outputs otherwise, as in PyTorch.
    pub fn unary(&self, op: Unary) -> Result<Tensor> {
        op.check_dtype(self.dtype())?;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            if self.dtype().is_float() {
                let out = crate::cuda::ops::unary(self, op)?;
                return self.finish_unary(op, out);
            }
            if op.keeps_int() {
                return match self.dtype() {
                    DType::Bool if op == Unary::Sign => Ok(self.detach_copy()),
                    DType::Bool => self.to_dtype(DType::I64)?.unary(op),
                    _ => crate::cuda::ops::unary(self, op),
                };
            }
        }
        if op == Unary::Sign && self.dtype() == DType::Bool {
            return Ok(self.detach_copy()); // the sign of a bool is itself
        }
        if !self.dtype().is_float() {
            if op.keeps_int() {
                if let Some(d) = op.int_kernel(self) {
                    return Ok(Tensor::from_storage(d, self.shape()));
                }
                if self.dtype() == DType::Bool {
                    return self.to_dtype(DType::I64)?.unary(op);
                }
            }
            return self.to_dtype(DType::F32)?.unary(op);
        }
        let data = {
            let g = self.read();
            match &*g {
                CpuStorage::F32(v) => CpuStorage::F32(op.apply(v, self.layout())),
                CpuStorage::F64(v) => CpuStorage::F64(op.apply(v, self.layout())),
                _ => {
                    drop(g);
                    // f16 / bf16: compute in f32 and round once, as PyTorch's CPU kernels do
                    let d = self.dtype();
                    let _ng = crate::autograd::no_grad();
                    let r = self.to_dtype(DType::F32)?.unary(op)?.to_dtype(d)?;
                    drop(_ng);
                    return self.finish_unary(op, r);
                }
            }
        };
        let out = Tensor::from_storage(data, self.shape());
        self.finish_unary(op, out)
    }

    fn finish_unary(&self, op: Unary, out: Tensor) -> Result<Tensor> {
        if !needs_grad(&[self]) {
            return Ok(out);
        }
        let x = SavedTensor::new(self);
        let y = SavedTensor::output(&out);
        Ok(record(op.name(), out, &[self], move |_| {
            Box::new(move |g| {
                if op.piecewise_constant() {
                    return Ok(vec![Some(g.mul_scalar(0.0)?)]);
                }
                Ok(vec![Some(op.vjp(x.get()?, y.get()?, g)?)])
            })
        }))
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    self.unary($op)
                }
            )*
        }
    };
}

unary_methods! {
    neg => Unary::Neg;
    abs => Unary::Abs;
    sign => Unary::Sign;
    exp => Unary::Exp;
    exp2 => Unary::Exp2;
    log => Unary::Log;
    log2 => Unary::Log2;
    log1p => Unary::Log1p;
    expm1 => Unary::Expm1;
    sqrt => Unary::Sqrt;
    rsqrt => Unary::Rsqrt;
    square => Unary::Square;
    reciprocal => Unary::Reciprocal;
    sin => Unary::Sin;
    cos => Unary::Cos;
    tan => Unary::Tan;
    tanh => Unary::Tanh;
    sigmoid => Unary::Sigmoid;
    relu => Unary::Relu;
    /// GELU, exact (erf) form — PyTorch's default.
    gelu => Unary::Gelu;
    /// GELU, tanh approximation (`approximate="tanh"`).
    gelu_tanh => Unary::GeluTanh;
    silu => Unary::Silu;
    erf => Unary::Erf;
    floor => Unary::Floor;
    ceil => Unary::Ceil;
    round => Unary::Round;
}

impl Tensor {
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        self.unary(Unary::LeakyRelu(negative_slope))
    }
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        self.unary(Unary::Elu(alpha))
    }
    /// softplus with PyTorch's defaults is `softplus(1.0, 20.0)`.
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        self.unary(Unary::Softplus { beta, threshold })
    }
    /// Clamp to `[min, max]`; `None` leaves that side open (at least one must be given).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(crate::error::arg_err(
                "clamp",
                "at least one of min and max must be given",
            ));
        }
        self.unary(Unary::Clamp(
            min.unwrap_or(f64::NEG_INFINITY),
            max.unwrap_or(f64::INFINITY),
        ))
    }
}

#[cfg(test)]
mod fused_tests {
    use super::Unary;
    use crate::{autograd, DType, Tensor};

    /// The fused one-pass gradients equal the composite rules (which the create_graph path uses).
    #[test]
    fn fused_gradients_match_the_composite_rules() {
        let x = Tensor::randn(&[5, 7]).to_dtype(DType::F64).unwrap();
        let g = Tensor::randn(&[5, 7]).to_dtype(DType::F64).unwrap();
        for op in [Unary::Relu, Unary::Tanh, Unary::Sigmoid, Unary::Exp] {
            let y = x.unary(op).unwrap();
            let fused = {
                let _ng = autograd::no_grad();
                op.vjp(&x, &y, &g).unwrap()
            };
            let composite = {
                let _eg = autograd::enable_grad();
                op.vjp(&x, &y, &g).unwrap()
            };
            let diff = fused
                .sub(&composite)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .item()
                .unwrap();
            assert!(diff < 1e-12, "{op:?}: fused and composite gradients differ by {diff}");
        }
    }
}
