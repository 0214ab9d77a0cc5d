//! Vectorisable f32 functions for the smooth activations: the logistic sigmoid, tanh, log1p on
//! [0, 1], and the standard normal's distribution and density (for exact GELU), each with the
//! error bound its tests check against f64.
//!
//! Like [`super::exp`], each is straight-line arithmetic and selects (no table, no branch, no
//! call), so the element-wise loops that call them vectorise. Each is written in the form that
//! keeps its relative accuracy where it is small: the sigmoid and tanh from e^−|x|, never
//! 1 − (something near 1). NaN passes through, and ±∞ give the limits.

use super::exp::{exp_neg, expm1_neg};

/// 1/√(2π).
#[allow(clippy::excessive_precision)]
const FRAC_1_SQRT_2PI: f32 = 0.398_942_280_401_432_7;

/// x·s, with 0 wherever s is 0 (so that −∞·0, the limit of x·f(x) for the activations that
/// use it, is 0 and not NaN).
#[inline(always)]
pub fn times(x: f32, s: f32) -> f32 {
    if s == 0.0 {
        0.0
    } else {
        x * s
    }
}

/// The logistic sigmoid 1/(1 + e^−x), as 1/(1 + v) for x ≥ 0 and v/(1 + v) for x < 0, with
/// v = e^−|x|: within 4 ulp everywhere, also where it is tiny.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let v = exp_neg(-x.abs());
    let r = 1.0 / (1.0 + v);
    if x < 0.0 {
        v * r
    } else {
        r
    }
}

/// σ'(x) = σ(x)(1 − σ(x)) = v/(1 + v)² with v = e^−|x| (no 1 − σ, which cancels for large x).
#[inline(always)]
pub fn sigmoid_derivative(x: f32) -> f32 {
    let v = exp_neg(-x.abs());
    let r = 1.0 / (1.0 + v);
    v * r * r
}

/// tanh x = sign(x)·(−m)/(2 + m) with m = e^−2|x| − 1 (exact near 0 through expm1).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let m = expm1_neg(-2.0 * x.abs());
    (-m / (2.0 + m)).copysign(x)
}

/// tanh'(x) = 1 − tanh²x = 4w/(1 + w)² with w = e^−2|x| (accurate also where it is tiny).
#[inline(always)]
pub fn tanh_derivative(x: f32) -> f32 {
    let w = exp_neg(-2.0 * x.abs());
    let r = 1.0 / (1.0 + w);
    4.0 * w * r * r
}

/// ln(1 + u) for u in [0, 1]: 2·atanh(s) with s = u/(2 + u) ≤ 1/3, by its series to s¹⁷
/// (the rest is below 2e-10 of the result).
#[inline(always)]
pub fn log1p_unit(u: f32) -> f32 {
    // 2s directly (2u is exact), so that a subnormal u is not halved and doubled back.
    let two_s = (2.0 * u) / (2.0 + u);
    let s = 0.5 * two_s;
    let s2 = s * s;
    let p = (1.0f32 / 17.0).mul_add(s2, 1.0 / 15.0);
    let p = p.mul_add(s2, 1.0 / 13.0);
    let p = p.mul_add(s2, 1.0 / 11.0);
    let p = p.mul_add(s2, 1.0 / 9.0);
    let p = p.mul_add(s2, 1.0 / 7.0);
    let p = p.mul_add(s2, 1.0 / 5.0);
    let p = p.mul_add(s2, 1.0 / 3.0);
    two_s.mul_add(p * s2, two_s)
}

/// softplus x = ln(1 + eˣ) = max(x, 0) + ln(1 + e^−|x|): no overflow, and e^x's accuracy
/// where it is tiny.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let pos = if x > 0.0 { x } else { 0.0 };
    pos + log1p_unit(exp_neg(-x.abs()))
}

/// The standard normal's distribution Φ(x) and density φ(x), for exact GELU.
///
/// Φ(x) = ½·erfc(|x|/√2) for x < 0 and 1 − ½·erfc(x/√2) otherwise, so the left tail keeps its
/// relative accuracy. erfc(z) = t·exp(−z² + c(t)), t = 1/(1 + z/2), with c the degree-9
/// polynomial of Numerical Recipes' `erfcc` (relative error below 1.2e-7 in exact arithmetic).
/// z² = x²/2 is taken from x² split into its rounded value and the rounding error (with an
/// FMA), so that the rounding of z does not reach the exponent, where it would be multiplied
/// by z². The inputs are clamped to |x| ≤ 20, beyond which Φ is 0 or 1 and φ is 0 in f32.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Numerical Recipes' coefficients as published
pub fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let a = x.abs();
    let a = if a > 20.0 { 20.0 } else { a }; // NaN stays NaN
    let hi = a * a;
    let lo = a.mul_add(a, -hi);
    // e^(−x²/2), the exponent's rounding error applied to first order (|lo| ≤ 2^−24·x²).
    let gauss = exp_neg(-0.5 * hi) * (-0.5f32).mul_add(lo, 1.0);
    let z = a * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / 0.5f32.mul_add(z, 1.0);
    let c = 0.170_872_77f32.mul_add(t, -0.822_152_23);
    let c = c.mul_add(t, 1.488_515_87);
    let c = c.mul_add(t, -1.135_203_98);
    let c = c.mul_add(t, 0.278_868_07);
    let c = c.mul_add(t, -0.186_288_06);
    let c = c.mul_add(t, 0.096_784_18);
    let c = c.mul_add(t, 0.374_091_96);
    let c = c.mul_add(t, 1.000_023_68);
    let c = c.mul_add(t, -1.265_512_23);
    let half_erfc = 0.5 * t * gauss * exp_neg(c);
    let cdf = if x < 0.0 { half_erfc } else { 1.0 - half_erfc };
    (cdf, FRAC_1_SQRT_2PI * gauss)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest relative error of `f` against `exact` over `xs`, where the exact value is at
    /// least `floor` in size.
    fn worst(xs: &[f32], f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64, floor: f64) -> f64 {
        xs.iter()
            .map(|&x| {
                let e = exact(x as f64);
                let g = f(x) as f64;
                if e.abs() < floor {
                    (g - e).abs() / floor
                } else {
                    (g - e).abs() / e.abs()
                }
            })
            .fold(0.0, f64::max)
    }

    fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..=n).map(|i| lo + (hi - lo) * i as f32 / n as f32).collect()
    }

    #[test]
    fn each_function_is_within_its_bound_of_f64() {
        let xs = grid(-30.0, 30.0, 600_000);
        let small = grid(-1e-3, 1e-3, 20_000);
        let all: Vec<f32> = xs.iter().chain(&small).copied().collect();
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let cases: [(&str, f64, f64); 6] = [
            ("sigmoid", worst(&all, sigmoid, sig, 1e-37), 4.0),
            ("sigmoid'", worst(&all, sigmoid_derivative, |x| sig(x) * sig(-x), 1e-37), 6.0),
            ("tanh", worst(&all, tanh, f64::tanh, 1e-37), 4.0),
            ("tanh'", worst(&all, tanh_derivative, |x| 1.0 / x.cosh().powi(2), 1e-37), 5.0),
            ("softplus", worst(&all, softplus, |x| x.max(0.0) + (-x.abs()).exp().ln_1p(), 1e-37), 4.0),
            ("log1p", worst(&grid(0.0, 1.0, 100_000), log1p_unit, f64::ln_1p, 1e-37), 3.0),
        ];
        let ulp = f32::EPSILON as f64 / 2.0; // 2^-24, the relative spacing at the bottom of a binade
        for (name, err, _) in cases {
            eprintln!("{name}: largest relative error {err:e} ({:.1} x 2^-24)", err / ulp);
        }
        for (name, err, bound) in cases {
            assert!(err <= bound * ulp, "{name}: {err:e}");
        }
    }

    #[test]
    fn normal_cdf_and_pdf_match_f64_also_in_the_left_tail() {
        use statrs::function::erf::erfc;
        let xs = grid(-14.0, 14.0, 560_000);
        let cdf = |x: f64| 0.5 * erfc(-x / std::f64::consts::SQRT_2);
        let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (c, p) = (worst(&xs, |x| normal_cdf_pdf(x).0, cdf, 1e-37), worst(&xs, |x| normal_cdf_pdf(x).1, pdf, 1e-37));
        eprintln!("normal cdf: largest relative error {c:e}; pdf: {p:e}");
        assert!(c < 6e-7 && p < 3e-7, "cdf {c:e}, pdf {p:e}");
    }

    #[test]
    fn limits_and_nan() {
        for x in [f32::INFINITY, f32::MAX, 1e4] {
            assert_eq!((sigmoid(x), sigmoid(-x)), (1.0, 0.0), "{x}");
            assert_eq!((tanh(x), tanh(-x)), (1.0, -1.0), "{x}");
            assert_eq!((sigmoid_derivative(x), tanh_derivative(-x)), (0.0, 0.0), "{x}");
            assert_eq!((softplus(x), softplus(-x)), (x, 0.0), "{x}");
            assert_eq!(normal_cdf_pdf(x), (1.0, 0.0), "{x}");
            assert_eq!(normal_cdf_pdf(-x), (0.0, 0.0), "{x}");
        }
        assert_eq!((sigmoid(0.0), tanh(0.0), softplus(0.0)), (0.5, 0.0, std::f32::consts::LN_2));
        // Subnormal results are the nearest f32 (e^-100 = 3.72e-44 is 26.5 steps of 2^-149).
        assert_eq!(softplus(-100.0), (-100f64).exp() as f32);
        assert_eq!(times(f32::NEG_INFINITY, 0.0), 0.0);
        for f in [sigmoid, sigmoid_derivative, tanh, tanh_derivative, softplus, |x| normal_cdf_pdf(x).0] {
            assert!(f(f32::NAN).is_nan());
        }
    }
}
