//! The element-wise activation functions: value and derivative of each, in one place.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::exp::expm1_neg;

/// SELU's λ (scale), from Klambauer et al. 2017, to the precision Keras and PyTorch use.
#[allow(clippy::excessive_precision)] // written as published; rounds to the nearest f32
pub const SELU_SCALE: f32 = 1.050_700_987_355_480_5;
/// SELU's α, from Klambauer et al. 2017, to the precision Keras and PyTorch use.
#[allow(clippy::excessive_precision)]
pub const SELU_ALPHA: f32 = 1.673_263_242_354_377_3;

/// An element-wise activation without learnable parameters (PReLU, which learns its slopes,
/// is a layer of its own in `layers::prelu`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activation {
    /// x for x > 0, α(eˣ − 1) otherwise (Clevert et al. 2015); α > 0.
    Elu { alpha: f32 },
    /// max(0, x).
    Relu,
    /// x for x > 0, slope·x otherwise.
    LeakyRelu { negative_slope: f32 },
    /// λ·x for x > 0, λα(eˣ − 1) otherwise, with the constants above.
    Selu,
}

impl Activation {
    /// Rejects parameters outside the function's domain, saying why.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::Elu { alpha } if !(alpha > 0.0 && alpha.is_finite()) => Err(Error::config(
                "elu alpha",
                format!("must be a finite number > 0, got {alpha} (α ≤ 0 makes ELU non-monotonic and breaks its saturation to -α for negative inputs)"),
            )),
            Activation::LeakyRelu { negative_slope } if !(negative_slope >= 0.0 && negative_slope.is_finite()) => Err(Error::config(
                "leaky_relu negative_slope",
                format!("must be a finite number >= 0, got {negative_slope}"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether f is non-decreasing, so that max f(x) = f(max x) (true for every valid α/slope).
    pub fn is_monotone(&self) -> bool {
        match *self {
            Activation::Elu { alpha } => alpha >= 0.0,
            Activation::LeakyRelu { negative_slope } => negative_slope >= 0.0,
            Activation::Relu | Activation::Selu => true,
        }
    }

    /// Keras's layer name for this activation.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Elu { .. } => "elu",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Selu => "selu",
        }
    }

    /// f(x).
    #[inline(always)]
    pub fn value(&self, x: f32) -> f32 {
        match *self {
            Activation::Elu { alpha } => {
                let neg = alpha * expm1_neg(x.min(0.0));
                if x > 0.0 {
                    x
                } else {
                    neg
                }
            }
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { negative_slope } => {
                if x > 0.0 {
                    x
                } else {
                    negative_slope * x
                }
            }
            Activation::Selu => {
                let neg = SELU_SCALE * SELU_ALPHA * expm1_neg(x.min(0.0));
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    neg
                }
            }
        }
    }

    /// f'(x), given the input x and the output y = f(x) (so no exp is recomputed).
    #[inline(always)]
    pub fn derivative(&self, x: f32, y: f32) -> f32 {
        match *self {
            // d/dx α(eˣ−1) = αeˣ = y + α
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { negative_slope } => {
                if x > 0.0 {
                    1.0
                } else {
                    negative_slope
                }
            }
            // d/dx λα(eˣ−1) = λαeˣ = y + λα
            Activation::Selu => {
                if x > 0.0 {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }
        }
    }
}

impl Activation {
    /// out = f(inp), element-wise. The variant is chosen once, outside the loop, so each loop is
    /// branch-free and vectorised (`kernels::elementwise::activation_forward` runs it with the
    /// processor's instruction set).
    #[inline(always)]
    pub fn forward_slice(&self, out: &mut [f32], inp: &[f32]) {
        match *self {
            a @ Activation::Elu { .. } => map(out, inp, |x| a.value(x)),
            a @ Activation::Relu => map(out, inp, |x| a.value(x)),
            a @ Activation::LeakyRelu { .. } => map(out, inp, |x| a.value(x)),
            a @ Activation::Selu => map(out, inp, |x| a.value(x)),
        }
    }

    /// dinp = dout · f'(inp), element-wise, with f' from the saved input and output.
    #[inline(always)]
    pub fn backward_slice(&self, dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32]) {
        match *self {
            a @ Activation::Elu { .. } => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Relu => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::LeakyRelu { .. } => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Selu => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
        }
    }
}

#[inline(always)]
fn map(out: &mut [f32], inp: &[f32], f: impl Fn(f32) -> f32) {
    for (y, &x) in out.iter_mut().zip(inp) {
        *y = f(x);
    }
}

#[inline(always)]
fn map_grad(dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (((dx, &dy), &x), &y) in dinp.iter_mut().zip(dout).zip(inp).zip(out) {
        *dx = dy * f(x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [Activation; 5] {
        [
            Activation::Elu { alpha: 1.0 },
            Activation::Elu { alpha: 0.1 },
            Activation::Relu,
            Activation::LeakyRelu { negative_slope: 0.3 },
            Activation::Selu,
        ]
    }

    #[test]
    fn derivative_matches_central_difference() {
        for act in all() {
            for &x in &[-3.0f64, -1.0, -0.3, 0.2, 0.7, 2.5] {
                let h = 1e-3;
                let f = |x: f64| act.value(x as f32) as f64;
                let fd = (f(x + h) - f(x - h)) / (2.0 * h);
                let y = act.value(x as f32);
                let d = act.derivative(x as f32, y) as f64;
                assert!((fd - d).abs() < 1e-3 * (1.0 + d.abs()), "{act:?} at {x}: fd {fd} vs {d}");
            }
        }
    }

    #[test]
    fn known_values() {
        let elu = Activation::Elu { alpha: 1.0 };
        assert_eq!(elu.value(2.0), 2.0);
        assert!((elu.value(-1.0) - (-0.632_120_56)).abs() < 1e-6);
        assert!((elu.value(-50.0) + 1.0).abs() < 1e-6, "saturates to -alpha");
        assert!((Activation::Selu.value(1.0) - 1.050_701).abs() < 1e-6);
        assert!((Activation::Selu.value(-100.0) + SELU_SCALE * SELU_ALPHA).abs() < 1e-5);
        assert_eq!(Activation::Relu.value(-3.0), 0.0);
    }

    #[test]
    fn nonpositive_alpha_is_rejected_with_reason() {
        for a in [0.0f32, -1.0, f32::NAN] {
            let err = Activation::Elu { alpha: a }.validate().unwrap_err().to_string();
            assert!(err.contains("must be a finite number > 0"), "{err}");
        }
        assert!(Activation::Elu { alpha: 0.1 }.validate().is_ok());
    }
}
