//! The activation functions: one enum, the single source of their names (ours and Keras's),
//! parameters, value and derivative, and the properties the engine's fusions rely on.
//!
//! Adding an activation means one variant here with its arm in each `match` (the compiler
//! lists them), one entry in [`Activation::ALL`], and its tests; the model file, the command
//! line's `--activation`, `summary`, diagnostics and the fused kernels follow from it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::exp::expm1_neg;

/// SELU's λ (scale), from Klambauer et al. 2017, to the precision Keras and PyTorch use.
#[allow(clippy::excessive_precision)] // written as published; rounds to the nearest f32
pub const SELU_SCALE: f32 = 1.050_700_987_355_480_5;
/// SELU's α, from Klambauer et al. 2017, to the precision Keras and PyTorch use.
#[allow(clippy::excessive_precision)]
pub const SELU_ALPHA: f32 = 1.673_263_242_354_377_3;
/// ELU's default α (Keras, Clevert et al. 2015).
pub const ELU_ALPHA: f32 = 1.0;
/// LeakyReLU's default negative slope (Keras's `LeakyReLU()`).
pub const LEAKY_RELU_SLOPE: f32 = 0.3;
/// PReLU's default initial slope (He et al. 2015, PyTorch).
pub const PRELU_INIT: f32 = 0.25;

fn elu_alpha() -> f32 {
    ELU_ALPHA
}
fn leaky_relu_slope() -> f32 {
    LEAKY_RELU_SLOPE
}
fn prelu_init() -> f32 {
    PRELU_INIT
}

/// An activation function with its parameters. In a model file it is a layer
/// (`type = "elu"`, `alpha = 1.0`); on the command line, a name (`--activation elu`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Activation {
    /// x (Keras's `Activation('linear')`).
    Linear,
    /// max(0, x).
    Relu,
    /// x for x > 0, α(eˣ − 1) otherwise (Clevert et al. 2015); α > 0.
    Elu {
        #[serde(default = "elu_alpha")]
        alpha: f32,
    },
    /// x for x > 0, slope·x otherwise; slope ≥ 0.
    LeakyRelu {
        #[serde(default = "leaky_relu_slope")]
        negative_slope: f32,
    },
    /// λ·x for x > 0, λα(eˣ − 1) otherwise, with the constants above (Klambauer et al. 2017).
    Selu,
    /// x for x > 0, a·x otherwise, with one slope a per channel that is *learned*, starting at
    /// `init` (He et al. 2015). Its layer (`layers::prelu`) holds the slopes as parameters;
    /// [`Activation::value`] and [`Activation::derivative`] give the function at `init`.
    Prelu {
        #[serde(default = "prelu_init")]
        init: f32,
    },
    /// max(−1, x): the shifted ReLU of Clevert et al. 2015 (their "SReLU"), whose negative
    /// part is a constant −1 like a saturated ELU's, but with a zero gradient there.
    Srelu,
}

impl Activation {
    /// Every activation, with its default parameters: the names `--activation` and model files
    /// accept, in the order they are listed.
    pub const ALL: [Activation; 7] = [
        Activation::Linear,
        Activation::Relu,
        Activation::Elu { alpha: ELU_ALPHA },
        Activation::LeakyRelu { negative_slope: LEAKY_RELU_SLOPE },
        Activation::Selu,
        Activation::Prelu { init: PRELU_INIT },
        Activation::Srelu,
    ];

    /// The name in model files and on the command line (`type = "leaky_relu"`).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Elu { .. } => "elu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Selu => "selu",
            Activation::Prelu { .. } => "prelu",
            Activation::Srelu => "srelu",
        }
    }

    /// Keras's layer class for it (functions without a layer class of their own are
    /// `Activation('selu')` layers, as Keras builds them; Keras has no shifted ReLU, which is
    /// written as a `Lambda` layer there).
    pub fn keras_class(&self) -> &'static str {
        match self {
            Activation::Linear | Activation::Selu => "Activation",
            Activation::Relu => "ReLU",
            Activation::Elu { .. } => "ELU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Prelu { .. } => "PReLU",
            Activation::Srelu => "Lambda",
        }
    }

    /// The names of [`Activation::ALL`], in order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().map(Activation::name)
    }

    /// The activation called `name`, with its default parameters. An unknown name is an error
    /// listing the known ones.
    ///
    /// ```
    /// use elu_lab::activations::Activation;
    ///
    /// let elu = Activation::from_name("elu")?;
    /// assert_eq!(elu, Activation::Elu { alpha: 1.0 });
    /// assert_eq!((elu.name(), elu.keras_class()), ("elu", "ELU"));
    /// assert!(elu.is_monotone());
    /// let err = "tanhh".parse::<Activation>().unwrap_err().to_string();
    /// assert!(err.contains("linear, relu, elu, leaky_relu, selu, prelu, srelu"));
    /// # Ok::<(), elu_lab::Error>(())
    /// ```
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let known: Vec<_> = Self::names().collect();
            Error::config("activation", format!("unknown activation `{name}`; expected one of {}", known.join(", ")))
        })
    }

    /// Whether the parameters are those [`Activation::from_name`] gives.
    pub fn has_default_parameters(&self) -> bool {
        Self::from_name(self.name()).is_ok_and(|d| d == *self)
    }

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
            Activation::Prelu { init } if !init.is_finite() => {
                Err(Error::config("prelu init", format!("must be finite, got {init}")))
            }
            Activation::Linear
            | Activation::Relu
            | Activation::Elu { .. }
            | Activation::LeakyRelu { .. }
            | Activation::Selu
            | Activation::Prelu { .. }
            | Activation::Srelu => Ok(()),
        }
    }

    /// Whether f is non-decreasing, so that max f(x) = f(max x): what lets the engine run an
    /// activation after the max pooling that follows it. PReLU's learned slopes may turn
    /// negative, so it is not.
    pub fn is_monotone(&self) -> bool {
        match *self {
            Activation::Elu { alpha } => alpha >= 0.0,
            Activation::LeakyRelu { negative_slope } => negative_slope >= 0.0,
            Activation::Linear | Activation::Relu | Activation::Selu | Activation::Srelu => true,
            Activation::Prelu { .. } => false,
        }
    }

    /// Whether a unit whose pre-activation is `x` is *inactive* there, as diagnostics count dead
    /// units (a unit inactive on every image of the sample is dead): ReLU-like functions when
    /// their output is at its floor (x ≤ 0; the shifted ReLU's floor −1 at x ≤ −1), ELU-like
    /// functions when the pre-activation is ≤ 0, in their exponential part; never for
    /// functions without such a region (linear). A new function gets one arm here.
    pub fn is_inactive(&self, x: f32) -> bool {
        match *self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Prelu { .. } => x <= 0.0,
            Activation::Srelu => x <= -1.0,
            Activation::Elu { .. } | Activation::Selu => x <= 0.0,
            Activation::Linear => false,
        }
    }

    /// Whether the output `y` is *saturated*: within 1% of a bound the function approaches
    /// without reaching it (ELU-like functions near −α, SELU near −λα; a sigmoid or tanh would
    /// count both ends). Functions without such a bound never saturate (a ReLU at 0 is
    /// inactive, see [`Activation::is_inactive`]). A new function gets one arm here.
    pub fn is_saturated(&self, y: f32) -> bool {
        match *self {
            Activation::Elu { alpha } => y <= -0.99 * alpha,
            Activation::Selu => y <= -0.99 * SELU_SCALE * SELU_ALPHA,
            Activation::Linear
            | Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::Prelu { .. }
            | Activation::Srelu => false,
        }
    }

    /// Whether the function has learned parameters (and so is a layer with weights).
    pub fn is_learned(&self) -> bool {
        matches!(self, Activation::Prelu { .. })
    }

    /// f(x).
    #[inline(always)]
    pub fn value(&self, x: f32) -> f32 {
        match *self {
            Activation::Linear => x,
            Activation::Relu => x.max(0.0),
            Activation::Elu { alpha } => {
                let neg = alpha * expm1_neg(x.min(0.0));
                if x > 0.0 {
                    x
                } else {
                    neg
                }
            }
            Activation::LeakyRelu { negative_slope: a } | Activation::Prelu { init: a } => {
                if x > 0.0 {
                    x
                } else {
                    a * x
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
            Activation::Srelu => x.max(-1.0),
        }
    }

    /// f'(x), given the input x and the output y = f(x) (so no exp is recomputed).
    #[inline(always)]
    pub fn derivative(&self, x: f32, y: f32) -> f32 {
        match *self {
            Activation::Linear => 1.0,
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // d/dx α(eˣ−1) = αeˣ = y + α
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Activation::LeakyRelu { negative_slope: a } | Activation::Prelu { init: a } => {
                if x > 0.0 {
                    1.0
                } else {
                    a
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
            Activation::Srelu => {
                if x > -1.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// [`Activation::from_name`].
    fn from_str(name: &str) -> Result<Self> {
        Self::from_name(name)
    }
}

impl Activation {
    /// out = f(inp), element-wise. The variant is chosen once, outside the loop, so each loop is
    /// branch-free and vectorised (`kernels::elementwise::activation_forward` runs it with the
    /// processor's instruction set).
    #[inline(always)]
    pub fn forward_slice(&self, out: &mut [f32], inp: &[f32]) {
        match *self {
            a @ Activation::Linear => map(out, inp, |x| a.value(x)),
            a @ Activation::Relu => map(out, inp, |x| a.value(x)),
            a @ Activation::Elu { .. } => map(out, inp, |x| a.value(x)),
            a @ (Activation::LeakyRelu { .. } | Activation::Prelu { .. }) => map(out, inp, |x| a.value(x)),
            a @ Activation::Selu => map(out, inp, |x| a.value(x)),
            a @ Activation::Srelu => map(out, inp, |x| a.value(x)),
        }
    }

    /// dinp = dout · f'(inp), element-wise, with f' from the saved input and output.
    #[inline(always)]
    pub fn backward_slice(&self, dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32]) {
        match *self {
            a @ Activation::Linear => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Relu => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Elu { .. } => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ (Activation::LeakyRelu { .. } | Activation::Prelu { .. }) => {
                map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y))
            }
            a @ Activation::Selu => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Srelu => map_grad(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
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

    /// Every activation, some with parameters other than their defaults.
    fn all() -> Vec<Activation> {
        let mut all = Activation::ALL.to_vec();
        all.extend([
            Activation::Elu { alpha: 0.1 },
            Activation::LeakyRelu { negative_slope: 0.01 },
            Activation::Prelu { init: 0.6 },
        ]);
        all
    }

    #[test]
    fn the_table_lists_every_variant_once() {
        // An exhaustive match: a new variant does not compile until it has a position here,
        // and the assertions below fail until `ALL` holds it there.
        let position = |a: &Activation| match a {
            Activation::Linear => 0,
            Activation::Relu => 1,
            Activation::Elu { .. } => 2,
            Activation::LeakyRelu { .. } => 3,
            Activation::Selu => 4,
            Activation::Prelu { .. } => 5,
            Activation::Srelu => 6,
        };
        for (i, a) in Activation::ALL.iter().enumerate() {
            assert_eq!(position(a), i, "{a:?}");
        }
        let names: std::collections::HashSet<_> = Activation::names().collect();
        assert_eq!(names.len(), Activation::ALL.len(), "names are unique");
    }

    #[test]
    fn every_activation_round_trips_through_its_name_and_toml() {
        for a in Activation::ALL {
            assert_eq!(Activation::from_name(a.name()).unwrap(), a);
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
            assert!(a.has_default_parameters());
            a.validate().unwrap();
        }
        for a in all() {
            let text = toml::to_string(&a).unwrap();
            assert!(text.contains(&format!("type = \"{}\"", a.name())), "{text}");
            assert_eq!(toml::from_str::<Activation>(&text).unwrap(), a, "{text}");
            // Only the type: the parameters take their defaults.
            let bare: Activation = toml::from_str(&format!("type = \"{}\"", a.name())).unwrap();
            assert_eq!(bare, Activation::from_name(a.name()).unwrap());
        }
        assert!(!Activation::Elu { alpha: 0.1 }.has_default_parameters());
    }

    #[test]
    fn unknown_names_are_errors_listing_the_known_ones() {
        let err = "tanhh".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("`tanhh`"), "{err}");
        for name in Activation::names() {
            assert!(err.contains(name), "{err} lacks {name}");
        }
    }

    #[test]
    fn keras_classes() {
        let classes: Vec<_> = Activation::ALL.iter().map(Activation::keras_class).collect();
        assert_eq!(classes, ["Activation", "ReLU", "ELU", "LeakyReLU", "Activation", "PReLU", "Lambda"]);
    }

    #[test]
    fn derivative_matches_central_difference() {
        for act in all() {
            for &x in &[-3.0f64, -1.4, -0.3, 0.2, 0.7, 2.5] {
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
    fn slices_apply_value_and_derivative() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 3.0];
        for act in all() {
            let mut y = [0.0; 5];
            act.forward_slice(&mut y, &x);
            let mut dx = [0.0; 5];
            act.backward_slice(&mut dx, &[2.0; 5], &x, &y);
            for i in 0..5 {
                assert_eq!(y[i], act.value(x[i]), "{act:?}");
                assert_eq!(dx[i], 2.0 * act.derivative(x[i], y[i]), "{act:?}");
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
        assert_eq!(Activation::Linear.value(-3.0), -3.0);
        assert_eq!(Activation::Prelu { init: 0.25 }.value(-4.0), -1.0);
        assert_eq!(Activation::Srelu.value(-3.0), -1.0);
        assert_eq!(Activation::Srelu.value(-0.5), -0.5);
        assert_eq!(Activation::Srelu.derivative(-3.0, -1.0), 0.0);
        assert_eq!(Activation::Srelu.derivative(-0.5, -0.5), 1.0);
    }

    #[test]
    fn inactive_and_saturated_regions_follow_each_family() {
        for a in [Activation::Relu, Activation::LeakyRelu { negative_slope: 0.1 }, Activation::Prelu { init: 0.25 }] {
            assert!(a.is_inactive(0.0) && a.is_inactive(-0.5) && !a.is_inactive(1e-6), "{a:?}");
            assert!(!a.is_saturated(a.value(-100.0)), "{a:?}");
        }
        let s = Activation::Srelu;
        assert!(s.is_inactive(-1.0) && s.is_inactive(-3.0) && !s.is_inactive(-0.5) && !s.is_inactive(0.0));
        let elu = Activation::Elu { alpha: 0.5 };
        assert!(elu.is_inactive(0.0) && elu.is_inactive(-0.1) && !elu.is_inactive(0.1));
        assert!(elu.is_saturated(elu.value(-6.0)) && !elu.is_saturated(elu.value(-4.0)), "within 1% of -alpha");
        assert!(Activation::Selu.is_saturated(Activation::Selu.value(-6.0)));
        assert!(!Activation::Selu.is_saturated(Activation::Selu.value(-1.0)));
        assert!(!Activation::Linear.is_inactive(-1e9) && !Activation::Linear.is_saturated(-1e9));
    }

    #[test]
    fn monotone_ones_commute_with_max() {
        let xs = [-3.0f32, -1.0, -0.2, 0.0, 0.4, 2.0];
        for act in all() {
            if act.is_monotone() {
                for w in xs.windows(2) {
                    assert!(act.value(w[0]) <= act.value(w[1]), "{act:?}");
                }
            }
        }
        assert!(!Activation::Prelu { init: 0.25 }.is_monotone(), "learned slopes may turn negative");
        assert!(Activation::Prelu { init: 0.25 }.is_learned() && !Activation::Relu.is_learned());
    }

    #[test]
    fn parameters_outside_the_domain_are_rejected_with_reason() {
        for a in [0.0f32, -1.0, f32::NAN] {
            let err = Activation::Elu { alpha: a }.validate().unwrap_err().to_string();
            assert!(err.contains("must be a finite number > 0"), "{err}");
        }
        assert!(Activation::Elu { alpha: 0.1 }.validate().is_ok());
        assert!(Activation::LeakyRelu { negative_slope: -0.1 }.validate().is_err());
        assert!(Activation::Prelu { init: f32::INFINITY }.validate().is_err());
    }
}
