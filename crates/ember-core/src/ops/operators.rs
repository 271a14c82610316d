//! Rust operators (`&a + &b`, `&a * 2.0`, `-&a`). Like ndarray, they panic with the op's error
//! message when shapes do not broadcast; use the methods (`a.add(&b)?`) to get a `Result`.

use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! binop {
    ($Trait:ident, $method:ident, $tensor_fn:ident, $scalar_fn:ident) => {
        impl $Trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.$tensor_fn(rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl $Trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                <&Tensor as $Trait<&Tensor>>::$method(&self, &rhs)
            }
        }
        impl $Trait<&Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                <&Tensor as $Trait<&Tensor>>::$method(&self, rhs)
            }
        }
        impl $Trait<Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                <&Tensor as $Trait<&Tensor>>::$method(self, &rhs)
            }
        }
        impl $Trait<f64> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                self.$scalar_fn(rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl $Trait<f64> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                <&Tensor as $Trait<f64>>::$method(&self, rhs)
            }
        }
    };
}

binop!(Add, add, add, add_scalar);
binop!(Sub, sub, sub, sub_scalar);
binop!(Mul, mul, mul, mul_scalar);
binop!(Div, div, div, div_scalar);

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        <&Tensor as Neg>::neg(&self)
    }
}
