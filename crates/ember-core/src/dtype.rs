//! Element types and PyTorch's type-promotion rules.

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// The broad category a dtype belongs to, used by type promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Bool,
    Int,
    Float,
}

impl DType {
    pub const ALL: [DType; 8] = [
        DType::Bool,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool | DType::U8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::U8 | DType::I32 | DType::I64)
    }

    /// The short name used in messages and in `Display` (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I32 | DType::I64 => Category::Int,
            _ => Category::Float,
        }
    }

    /// PyTorch's promotion of two tensor operands (`torch.promote_types`).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a, b) {
            (F16, BF16) | (BF16, F16) => F32,
            _ if a.category() != b.category() => {
                if a.category() > b.category() {
                    a
                } else {
                    b
                }
            }
            // same category: the wider one (U8 < I32 < I64, F16/BF16 < F32 < F64)
            _ => a.max(b),
        }
    }

    /// Promotion of a tensor with a Rust scalar of the given category, as PyTorch does for
    /// Python scalars: the tensor's dtype wins unless the scalar is of a higher category
    /// (an integer tensor plus a float scalar gives the default float dtype, f32).
    pub fn promote_with_scalar(t: DType, scalar_is_float: bool) -> DType {
        if scalar_is_float && !t.is_float() {
            DType::F32
        } else if !scalar_is_float && t == DType::Bool {
            DType::I64
        } else {
            t
        }
    }

    /// The dtype a float-only op (exp, mean, ...) computes in: floats stay, others become f32.
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::F32
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be the element of a tensor.
pub trait Elem: Copy + Send + Sync + 'static + PartialOrd + Default + fmt::Debug {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! impl_elem {
    ($t:ty, $d:ident, $to:expr, $from:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
        }
    };
}

impl_elem!(f32, F32, |x: f32| x as f64, |v: f64| v as f32);
impl_elem!(f64, F64, |x: f64| x, |v: f64| v);
impl_elem!(f16, F16, |x: f16| x.to_f64(), f16::from_f64);
impl_elem!(bf16, BF16, |x: bf16| x.to_f64(), bf16::from_f64);
impl_elem!(i64, I64, |x: i64| x as f64, |v: f64| v as i64);
impl_elem!(i32, I32, |x: i32| x as f64, |v: f64| v as i32);
// through i64, so out-of-range values wrap as C++'s conversions (and PyTorch) do: -1 -> 255
impl_elem!(u8, U8, |x: u8| x as f64, |v: f64| v as i64 as u8);
impl_elem!(bool, Bool, |x: bool| x as u8 as f64, |v: f64| v != 0.0);

#[cfg(test)]
mod tests {
    use super::DType::*;
    use super::*;

    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(DType::promote(F32, F64), F64);
        assert_eq!(DType::promote(I64, F16), F16);
        assert_eq!(DType::promote(F16, BF16), F32);
        assert_eq!(DType::promote(U8, I32), I32);
        assert_eq!(DType::promote(Bool, U8), U8);
        assert_eq!(DType::promote(I32, I64), I64);
        assert_eq!(DType::promote_with_scalar(I64, true), F32);
        assert_eq!(DType::promote_with_scalar(F16, true), F16);
        assert_eq!(DType::promote_with_scalar(U8, false), U8);
    }
}
