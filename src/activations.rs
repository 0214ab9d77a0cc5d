//! The activation functions: one enum, the single source of their names (ours and Keras's),
//! parameters, value and derivative, and the properties the engine's fusions rely on.
//!
//! Adding an activation means one variant here with its arm in each `match` (the compiler
//! lists them), one entry in [`Activation::ALL`], and its tests; the model file, the command
//! line's `--activation`, `summary`, diagnostics and the fused kernels follow from it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::exp::{exp_neg, expm1_neg};
use crate::kernels::special::{self, normal_cdf_pdf, sigmoid, sigmoid_derivative, softplus, times};

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
/// CELU's default α (Barron 2017; Keras's `celu` and PyTorch's `CELU()`).
pub const CELU_ALPHA: f32 = 1.0;
/// √(2/π), in the tanh approximation of GELU.
#[allow(clippy::excessive_precision)]
const SQRT_2_OVER_PI: f32 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel 2016).
const GELU_TANH_CUBIC: f32 = 0.044_715;

fn elu_alpha() -> f32 {
    ELU_ALPHA
}
fn leaky_relu_slope() -> f32 {
    LEAKY_RELU_SLOPE
}
fn prelu_init() -> f32 {
    PRELU_INIT
}
fn celu_alpha() -> f32 {
    CELU_ALPHA
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
    /// x for x > 0, α(e^(x/α) − 1) otherwise (Barron 2017): ELU made continuously
    /// differentiable for every α > 0 (with α = 1 it is ELU).
    Celu {
        #[serde(default = "celu_alpha")]
        alpha: f32,
    },
    /// x·Φ(x), Φ the standard normal's distribution function: exact GELU (Hendrycks & Gimpel
    /// 2016), PyTorch's `GELU()` and Keras's `gelu(approximate=False)`.
    Gelu,
    /// x·½(1 + tanh(√(2/π)(x + 0.044715x³))): the tanh approximation of GELU, PyTorch's
    /// `GELU(approximate='tanh')` and Keras's `gelu(approximate=True)`.
    GeluTanh,
    /// x·σ(x), σ the logistic sigmoid (Elfwing et al. 2018; Ramachandran et al.'s swish).
    Silu,
    /// x·tanh(softplus(x)) (Misra 2019).
    Mish,
    /// ln(1 + eˣ).
    Softplus,
    /// tanh x.
    Tanh,
    /// σ(x) = 1/(1 + e⁻ˣ).
    Sigmoid,
}

/// Where an activation function is inactive or saturated ([`Activation::regions`]).
#[derive(Clone, Copy, Debug)]
pub struct Regions {
    /// A pre-activation x ≤ this is inactive (NaN: never).
    pub inactive_at_most: f32,
    /// An output y ≤ this is saturated (NaN: never).
    pub saturated_at_most: f32,
    /// An output y ≥ this is saturated (NaN: never).
    pub saturated_at_least: f32,
}

impl Activation {
    /// Every activation, with its default parameters: the names `--activation` and model files
    /// accept, in the order they are listed.
    pub const ALL: [Activation; 15] = [
        Activation::Linear,
        Activation::Relu,
        Activation::Elu { alpha: ELU_ALPHA },
        Activation::LeakyRelu { negative_slope: LEAKY_RELU_SLOPE },
        Activation::Selu,
        Activation::Prelu { init: PRELU_INIT },
        Activation::Srelu,
        Activation::Celu { alpha: CELU_ALPHA },
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Mish,
        Activation::Softplus,
        Activation::Tanh,
        Activation::Sigmoid,
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
            Activation::Celu { .. } => "celu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
            Activation::Mish => "mish",
            Activation::Softplus => "softplus",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// Keras's layer class for it (functions without a layer class of their own are
    /// `Activation('selu')` layers, as Keras builds them; Keras has no shifted ReLU, which is
    /// written as a `Lambda` layer there).
    pub fn keras_class(&self) -> &'static str {
        match self {
            Activation::Linear
            | Activation::Selu
            | Activation::Celu { .. }
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Silu
            | Activation::Mish
            | Activation::Softplus
            | Activation::Tanh
            | Activation::Sigmoid => "Activation",
            Activation::Relu => "ReLU",
            Activation::Elu { .. } => "ELU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Prelu { .. } => "PReLU",
            Activation::Srelu => "Lambda",
        }
    }

    /// The Keras 3 layer computing it, with its parameters, as Python code
    /// (`keras.layers.ELU(alpha=1.0)`, `keras.layers.Activation("gelu")`).
    pub fn keras_code(&self) -> String {
        let function = |name: &str| format!("keras.layers.Activation(\"{name}\")");
        match *self {
            Activation::Relu => "keras.layers.ReLU()".into(),
            Activation::Elu { alpha } => format!("keras.layers.ELU(alpha={alpha:?})"),
            Activation::LeakyRelu { negative_slope } => {
                format!("keras.layers.LeakyReLU(negative_slope={negative_slope:?})")
            }
            Activation::Prelu { init } => {
                format!(
                    "keras.layers.PReLU(alpha_initializer=keras.initializers.Constant({init:?}), shared_axes=[1, 2])"
                )
            }
            Activation::Srelu => "keras.layers.Lambda(lambda x: keras.ops.maximum(x, -1.0))".into(),
            Activation::Celu { alpha } if alpha != CELU_ALPHA => {
                format!("keras.layers.Activation(lambda x: keras.activations.celu(x, alpha={alpha:?}))")
            }
            Activation::GeluTanh => {
                "keras.layers.Activation(lambda x: keras.activations.gelu(x, approximate=True))".into()
            }
            Activation::Linear
            | Activation::Selu
            | Activation::Celu { .. }
            | Activation::Gelu
            | Activation::Silu
            | Activation::Mish
            | Activation::Softplus
            | Activation::Tanh
            | Activation::Sigmoid => function(self.name()),
        }
    }

    /// The PyTorch module computing it, with its parameters, as Python code
    /// (`torch.nn.ELU(alpha=1.0)`, `torch.nn.GELU(approximate="tanh")`).
    pub fn torch_code(&self) -> String {
        match *self {
            Activation::Linear => "torch.nn.Identity()".into(),
            Activation::Relu => "torch.nn.ReLU()".into(),
            Activation::Elu { alpha } => format!("torch.nn.ELU(alpha={alpha:?})"),
            Activation::LeakyRelu { negative_slope } => {
                format!("torch.nn.LeakyReLU(negative_slope={negative_slope:?})")
            }
            Activation::Selu => "torch.nn.SELU()".into(),
            Activation::Prelu { init } => format!("torch.nn.PReLU(num_parameters=channels, init={init:?})"),
            // y = x if x > −1 else −1.
            Activation::Srelu => "torch.nn.Threshold(-1.0, -1.0)".into(),
            Activation::Celu { alpha } => format!("torch.nn.CELU(alpha={alpha:?})"),
            Activation::Gelu => "torch.nn.GELU()".into(),
            Activation::GeluTanh => "torch.nn.GELU(approximate=\"tanh\")".into(),
            Activation::Silu => "torch.nn.SiLU()".into(),
            Activation::Mish => "torch.nn.Mish()".into(),
            Activation::Softplus => "torch.nn.Softplus()".into(),
            Activation::Tanh => "torch.nn.Tanh()".into(),
            Activation::Sigmoid => "torch.nn.Sigmoid()".into(),
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
    /// assert!(err.contains("linear, relu, elu, leaky_relu, selu, prelu, srelu, celu, gelu, gelu_tanh"));
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
            Activation::Celu { alpha } if !(alpha > 0.0 && alpha.is_finite()) => Err(Error::config(
                "celu alpha",
                format!("must be a finite number > 0, got {alpha} (CELU divides by α)"),
            )),
            Activation::Linear
            | Activation::Relu
            | Activation::Elu { .. }
            | Activation::LeakyRelu { .. }
            | Activation::Selu
            | Activation::Prelu { .. }
            | Activation::Srelu
            | Activation::Celu { .. }
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Silu
            | Activation::Mish
            | Activation::Softplus
            | Activation::Tanh
            | Activation::Sigmoid => Ok(()),
        }
    }

    /// Whether f is non-decreasing, so that max f(x) = f(max x): what lets the engine run an
    /// activation after the max pooling that follows it. PReLU's learned slopes may turn
    /// negative, so it is not; GELU, SiLU and Mish dip below 0 for negative inputs and rise
    /// again towards 0, so they are not either, and are applied before the pooling.
    pub fn is_monotone(&self) -> bool {
        match *self {
            Activation::Elu { alpha } | Activation::Celu { alpha } => alpha >= 0.0,
            Activation::LeakyRelu { negative_slope } => negative_slope >= 0.0,
            Activation::Linear
            | Activation::Relu
            | Activation::Selu
            | Activation::Srelu
            | Activation::Softplus
            | Activation::Tanh
            | Activation::Sigmoid => true,
            Activation::Prelu { .. }
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Silu
            | Activation::Mish => false,
        }
    }

    /// The thresholds behind [`Activation::is_inactive`] and [`Activation::is_saturated`]: a
    /// unit is inactive where its pre-activation x ≤ `inactive_at_most`, an output y is
    /// saturated where y ≤ `saturated_at_most` or y ≥ `saturated_at_least`. A threshold that
    /// never applies is NaN (every comparison with NaN is false), so that a loop over many
    /// values compares without a branch or a `match` per value and vectorises.
    ///
    /// Inactive: ReLU-like functions where their output is at its floor (x ≤ 0; the shifted
    /// ReLU's floor −1 at x ≤ −1), ELU-like functions where the pre-activation is ≤ 0, in their
    /// exponential part, and the smooth ReLU-like functions (GELU, SiLU, Mish, softplus)
    /// likewise at x ≤ 0, where their output is at most a small fraction of |x|; never for
    /// functions without such a region (linear, and tanh and sigmoid, which saturate instead).
    /// Saturated: within 1% of a bound the function approaches without reaching it (ELU-like
    /// functions near −α, SELU near −λα; tanh near ±1 and the sigmoid near 0 or 1, both ends
    /// counting). Functions without such a bound never saturate (a ReLU at 0 is inactive). A
    /// new function gets one arm here.
    pub fn regions(&self) -> Regions {
        const NEVER: f32 = f32::NAN;
        let (inactive_at_most, saturated_at_most, saturated_at_least) = match *self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Prelu { .. } => (0.0, NEVER, NEVER),
            Activation::Srelu => (-1.0, NEVER, NEVER),
            Activation::Elu { alpha } | Activation::Celu { alpha } => (0.0, -0.99 * alpha, NEVER),
            Activation::Selu => (0.0, -0.99 * SELU_SCALE * SELU_ALPHA, NEVER),
            Activation::Gelu | Activation::GeluTanh | Activation::Silu | Activation::Mish | Activation::Softplus => {
                (0.0, NEVER, NEVER)
            }
            Activation::Tanh => (NEVER, -0.99, 0.99),
            // y < 0.01: at most the float just below 0.01.
            Activation::Sigmoid => (NEVER, f32::from_bits(0.01f32.to_bits() - 1), 0.99),
            Activation::Linear => (NEVER, NEVER, NEVER),
        };
        Regions { inactive_at_most, saturated_at_most, saturated_at_least }
    }

    /// Whether a unit whose pre-activation is `x` is *inactive* there, as diagnostics count dead
    /// units (a unit inactive on every image of the sample is dead); see
    /// [`Activation::regions`].
    pub fn is_inactive(&self, x: f32) -> bool {
        x <= self.regions().inactive_at_most
    }

    /// Whether the output `y` is *saturated*: within 1% of a bound the function approaches
    /// without reaching it; see [`Activation::regions`].
    pub fn is_saturated(&self, y: f32) -> bool {
        let r = self.regions();
        y <= r.saturated_at_most || y >= r.saturated_at_least
    }

    /// Whether the function has learned parameters (and so is a layer with weights).
    pub fn is_learned(&self) -> bool {
        matches!(self, Activation::Prelu { .. })
    }

    /// f(x). Straight-line arithmetic and selects per function, so that the loops of
    /// [`Activation::forward_slice`] vectorise; NaN gives NaN, and huge or infinite inputs give
    /// the function's limits.
    #[inline(always)]
    pub fn value(&self, x: f32) -> f32 {
        match *self {
            Activation::Linear => x,
            Activation::Relu => x.max(0.0),
            Activation::Elu { alpha } => {
                let neg = alpha * expm1_neg(negative_part(x));
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
                let neg = SELU_SCALE * SELU_ALPHA * expm1_neg(negative_part(x));
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    neg
                }
            }
            Activation::Srelu => x.max(-1.0),
            Activation::Celu { alpha } => {
                let neg = alpha * expm1_neg(negative_part(x) / alpha);
                if x > 0.0 {
                    x
                } else {
                    neg
                }
            }
            Activation::Gelu => times(x, normal_cdf_pdf(x).0),
            // ½(1 + tanh u) = σ(2u), which keeps its accuracy where it is tiny (x < 0).
            Activation::GeluTanh => times(x, sigmoid(2.0 * gelu_tanh_u(x).0)),
            Activation::Silu => times(x, sigmoid(x)),
            Activation::Mish => times(x, mish_parts(x).0),
            Activation::Softplus => softplus(x),
            Activation::Tanh => special::tanh(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }

    /// Whether the derivative can be had from the output alone: `derivative(x, y)` has the
    /// bits of `derivative(y, y)` for every x, y being `value(x)`, so that a layer may keep
    /// its output only. True where the derivative reads x only to compare it with the point
    /// where the function bends, which y is on the same side of (the ReLU and ELU families).
    pub fn derivative_from_output(&self) -> bool {
        matches!(
            self,
            Activation::Linear
                | Activation::Relu
                | Activation::Elu { .. }
                | Activation::LeakyRelu { .. }
                | Activation::Selu
                | Activation::Srelu
                | Activation::Celu { .. }
        )
    }

    /// f'(x), given the input x and the output y = f(x). The piecewise exponential functions
    /// (ELU, SELU, CELU) take it from y, so no exp is recomputed; the smooth ones recompute what
    /// they need from x (their derivatives are not functions of y alone: GELU, SiLU and Mish
    /// take the same value twice), in forms that stay accurate where they are tiny.
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
            // d/dx α(e^(x/α)−1) = e^(x/α) = y/α + 1
            Activation::Celu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    (y + alpha) / alpha
                }
            }
            // d/dx xΦ(x) = Φ(x) + xφ(x)
            Activation::Gelu => {
                let (cdf, pdf) = normal_cdf_pdf(x);
                cdf + times(x, pdf)
            }
            // d/dx x·σ(2u) = σ(2u) + x·2σ'(2u)·u'
            Activation::GeluTanh => {
                let (u, du) = gelu_tanh_u(x);
                sigmoid(2.0 * u) + times(x, 2.0 * sigmoid_derivative(2.0 * u) * du)
            }
            // d/dx x·σ(x) = σ(x) + x·σ'(x)
            Activation::Silu => sigmoid(x) + times(x, sigmoid_derivative(x)),
            // d/dx x·tanh(sp(x)) = tanh(sp(x)) + x·sech²(sp(x))·σ(x), with sech² = d(2 − d), d = 1 − tanh
            Activation::Mish => {
                let (t, d) = mish_parts(x);
                t + times(x, d * (2.0 - d) * sigmoid(x))
            }
            // d/dx ln(1 + eˣ) = σ(x)
            Activation::Softplus => sigmoid(x),
            // d/dx tanh x = 1 − tanh²x
            Activation::Tanh => special::tanh_derivative(x),
            // d/dx σ(x) = σ(x)(1 − σ(x))
            Activation::Sigmoid => sigmoid_derivative(x),
        }
    }
}

/// min(x, 0), as a select that keeps NaN (`f32::min` would turn NaN into 0).
#[inline(always)]
fn negative_part(x: f32) -> f32 {
    if x > 0.0 {
        0.0
    } else {
        x
    }
}

/// u = √(2/π)(x + 0.044715x³) and du/dx, for the tanh approximation of GELU, with x clamped to
/// ±20 (beyond which σ(2u) is 0 or 1 and σ'(2u) is 0 in f32, and x³ could overflow).
#[inline(always)]
fn gelu_tanh_u(x: f32) -> (f32, f32) {
    let c = x.clamp(-20.0, 20.0); // NaN stays NaN
    let c2 = c * c;
    let u = SQRT_2_OVER_PI * c * GELU_TANH_CUBIC.mul_add(c2, 1.0);
    let du = SQRT_2_OVER_PI * (3.0 * GELU_TANH_CUBIC).mul_add(c2, 1.0);
    (u, du)
}

/// (t, d) = (tanh(softplus x), 1 − tanh(softplus x)) for Mish, each computed directly from
/// v = e^−|x| so that neither cancels. With e = eˣ, tanh(ln(1 + e)) = n/(n + 2) where
/// n = e(e + 2): for x ≤ 0 (e = v), t = n/(n + 2) and d = 2/(n + 2); for x > 0, dividing by
/// e², t = (1 + 2v)/(1 + 2v + 2v²) and d = 2v²/(1 + 2v + 2v²).
#[inline(always)]
fn mish_parts(x: f32) -> (f32, f32) {
    let v = exp_neg(-x.abs());
    let n = v * (v + 2.0);
    let q = 2.0f32.mul_add(v, 1.0);
    let two_v2 = 2.0 * v * v;
    let pos = x > 0.0;
    let num_t = if pos { q } else { n };
    let num_d = if pos { two_v2 } else { 2.0 };
    let den = if pos { q + two_v2 } else { n + 2.0 };
    let r = 1.0 / den;
    (num_t * r, num_d * r)
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
    /// branch-free and vectorised (one arm per variant: an arm binding two variants would leave
    /// `value`'s own match inside the loop, a jump per element) (`kernels::elementwise::activation_forward` runs it with the
    /// processor's instruction set).
    #[inline(always)]
    pub fn forward_slice(&self, out: &mut [f32], inp: &[f32]) {
        match *self {
            a @ Activation::Linear => map!(out, inp, |x| a.value(x)),
            a @ Activation::Relu => map!(out, inp, |x| a.value(x)),
            a @ Activation::Elu { .. } => map!(out, inp, |x| a.value(x)),
            a @ Activation::LeakyRelu { .. } => map!(out, inp, |x| a.value(x)),
            a @ Activation::Prelu { .. } => map!(out, inp, |x| a.value(x)),
            a @ Activation::Selu => map!(out, inp, |x| a.value(x)),
            a @ Activation::Srelu => map!(out, inp, |x| a.value(x)),
            a @ Activation::Celu { .. } => map!(out, inp, |x| a.value(x)),
            a @ Activation::Gelu => map!(out, inp, |x| a.value(x)),
            a @ Activation::GeluTanh => map!(out, inp, |x| a.value(x)),
            a @ Activation::Silu => map!(out, inp, |x| a.value(x)),
            a @ Activation::Mish => map!(out, inp, |x| a.value(x)),
            a @ Activation::Softplus => map!(out, inp, |x| a.value(x)),
            a @ Activation::Tanh => map!(out, inp, |x| a.value(x)),
            a @ Activation::Sigmoid => map!(out, inp, |x| a.value(x)),
        }
    }

    /// dinp = dout · f'(inp), element-wise, with f' from the saved input and output.
    #[inline(always)]
    pub fn backward_slice(&self, dinp: &mut [f32], dout: &[f32], inp: &[f32], out: &[f32]) {
        match *self {
            a @ Activation::Linear => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Relu => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Elu { .. } => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::LeakyRelu { .. } => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Prelu { .. } => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Selu => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Srelu => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Celu { .. } => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Gelu => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::GeluTanh => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Silu => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Mish => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Softplus => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Tanh => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
            a @ Activation::Sigmoid => map_grad!(dinp, dout, inp, out, |x, y| a.derivative(x, y)),
        }
    }
}

// The loops are macros, not functions taking a closure: a closure is a function of its own,
// which the compiler need not inline (the smooth functions' bodies are large), and outside the
// `#[target_feature]` copies of `kernels::elementwise` it is compiled without FMA or AVX, so
// `mul_add` becomes a call to software `fmaf`. Written out here, the body is inlined into
// each copy and vectorised.

/// out = f(inp), element-wise, the body written into the loop.
macro_rules! map {
    ($out:expr, $inp:expr, |$x:ident| $body:expr) => {
        for (y, &$x) in $out.iter_mut().zip($inp) {
            *y = $body;
        }
    };
}
use map;

/// dinp = dout · f'(inp, out), element-wise, the body written into the loop.
macro_rules! map_grad {
    ($dinp:expr, $dout:expr, $inp:expr, $out:expr, |$x:ident, $y:ident| $body:expr) => {
        for (((dx, &dy), &$x), &$y) in $dinp.iter_mut().zip($dout).zip($inp).zip($out) {
            *dx = dy * $body;
        }
    };
}
use map_grad;

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
            Activation::Celu { alpha: 0.5 },
            Activation::Celu { alpha: 2.0 },
        ]);
        all
    }

    #[test]
    fn derivatives_from_the_output_alone_have_the_bits_of_those_from_both() {
        // Every sign and size, the bends and their neighbours, the specials.
        let mut xs: Vec<f32> = vec![0.0, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45];
        xs.extend([f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -5_000_000.0, 10_000.0]);
        xs.extend([-1.0f32, 0.0].iter().flat_map(|&b| [b.next_up(), b.next_down()]));
        let mut bits = 0x9E37_79B9u32;
        for _ in 0..100_000 {
            bits = bits.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let x = f32::from_bits(bits);
            xs.push(x);
            xs.push(x.rem_euclid(40.0) - 20.0);
        }
        let mut kept = 0;
        for a in all().into_iter().filter(|a| a.derivative_from_output()) {
            kept += 1;
            for &x in &xs {
                let y = a.value(x);
                let (want, got) = (a.derivative(x, y), a.derivative(y, y));
                assert_eq!(got.to_bits(), want.to_bits(), "{a:?} at {x:e}: {got} from y = {y}, {want} from x");
            }
        }
        assert_eq!(kept, 11, "the ReLU and ELU families, some with other parameters");
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
            Activation::Celu { .. } => 7,
            Activation::Gelu => 8,
            Activation::GeluTanh => 9,
            Activation::Silu => 10,
            Activation::Mish => 11,
            Activation::Softplus => 12,
            Activation::Tanh => 13,
            Activation::Sigmoid => 14,
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
        assert_eq!(classes[..7], ["Activation", "ReLU", "ELU", "LeakyReLU", "Activation", "PReLU", "Lambda"]);
        assert!(classes[7..].iter().all(|c| *c == "Activation"));
        let codes: Vec<_> = Activation::ALL.iter().map(|a| (a.keras_code(), a.torch_code())).collect();
        assert_eq!(codes[2], ("keras.layers.ELU(alpha=1.0)".into(), "torch.nn.ELU(alpha=1.0)".into()));
        assert_eq!(codes[6].1, "torch.nn.Threshold(-1.0, -1.0)");
        assert_eq!(codes[7], ("keras.layers.Activation(\"celu\")".into(), "torch.nn.CELU(alpha=1.0)".into()));
        assert_eq!(codes[8], ("keras.layers.Activation(\"gelu\")".into(), "torch.nn.GELU()".into()));
        assert!(codes[9].0.contains("approximate=True") && codes[9].1 == "torch.nn.GELU(approximate=\"tanh\")");
        assert_eq!(codes[10].1, "torch.nn.SiLU()");
        assert!(Activation::Celu { alpha: 0.5 }.keras_code().contains("celu(x, alpha=0.5)"));
        for (a, (keras, torch)) in Activation::ALL.iter().zip(&codes) {
            assert!(keras.starts_with("keras.layers.") && torch.starts_with("torch.nn."), "{a:?}");
        }
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
        let celu = Activation::Celu { alpha: 2.0 };
        assert!(celu.is_inactive(-0.1) && celu.is_saturated(celu.value(-12.0)) && !celu.is_saturated(celu.value(-6.0)));
        for a in [Activation::Gelu, Activation::GeluTanh, Activation::Silu, Activation::Mish, Activation::Softplus] {
            assert!(a.is_inactive(0.0) && a.is_inactive(-2.0) && !a.is_inactive(0.1), "{a:?}");
            assert!(!a.is_saturated(a.value(-100.0)) && !a.is_saturated(a.value(100.0)), "{a:?}");
        }
        for a in [Activation::Tanh, Activation::Sigmoid] {
            assert!(!a.is_inactive(-100.0), "{a:?}: saturates, never inactive");
            assert!(a.is_saturated(a.value(-10.0)) && a.is_saturated(a.value(10.0)), "{a:?}: both ends");
            assert!(!a.is_saturated(a.value(0.5)) && !a.is_saturated(a.value(-0.5)), "{a:?}");
        }
    }

    #[test]
    fn monotone_ones_commute_with_max() {
        // Over a dense grid the monotone ones never decrease, and each of the others (PReLU at
        // its initial slope excepted) does somewhere.
        let xs: Vec<f32> = (-8000..=8000).map(|i| i as f32 / 1000.0).collect();
        for act in all() {
            let decreases = xs.windows(2).any(|w| act.value(w[0]) > act.value(w[1]));
            match act {
                Activation::Prelu { .. } => assert!(!act.is_monotone()),
                _ => assert_eq!(!decreases, act.is_monotone(), "{act:?}"),
            }
        }
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Silu, Activation::Mish] {
            assert!(!act.is_monotone(), "{act:?}");
            // So max f(x) ≠ f(max x): max(f(−4), f(−1)) is f(−4), near 0; f(max) is f(−1).
            let (a, b) = (act.value(-4.0), act.value(-1.0));
            assert!(a.max(b) > act.value((-4.0f32).max(-1.0)) + 0.1, "{act:?}");
        }
        assert!(!Activation::Prelu { init: 0.25 }.is_monotone(), "learned slopes may turn negative");
        assert!(Activation::Prelu { init: 0.25 }.is_learned() && !Activation::Relu.is_learned());
    }

    #[test]
    fn parameters_outside_the_domain_are_rejected_with_reason() {
        for a in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            let err = Activation::Elu { alpha: a }.validate().unwrap_err().to_string();
            assert!(err.contains("elu alpha") && err.contains("must be a finite number > 0"), "{err}");
            let err = Activation::Celu { alpha: a }.validate().unwrap_err().to_string();
            assert!(err.contains("celu alpha") && err.contains("must be a finite number > 0"), "{err}");
        }
        assert!(Activation::Elu { alpha: 0.1 }.validate().is_ok());
        assert!(Activation::LeakyRelu { negative_slope: -0.1 }.validate().is_err());
        assert!(Activation::Prelu { init: f32::INFINITY }.validate().is_err());
    }

    /// f(x), f'(x) and the size of the terms f' is a sum of (what its error is measured
    /// against where the terms cancel), computed naively in f64.
    fn reference(act: Activation, x: f64) -> (f64, f64, f64) {
        use statrs::function::erf::erfc;
        let sig = |x: f64| if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) };
        let dsig = |x: f64| sig(x) * sig(-x);
        let sp = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let lim = |x: f64, s: f64| if s == 0.0 { 0.0 } else { x * s };
        let (l, a) = (SELU_SCALE as f64, SELU_ALPHA as f64);
        match act {
            Activation::Linear => (x, 1.0, 1.0),
            Activation::Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }, 1.0),
            // The derivatives of the exponential pieces are y + α (or y/α + 1): their error is
            // measured against α (or 1), the size of the terms.
            Activation::Elu { alpha } => {
                let al = alpha as f64;
                if x > 0.0 {
                    (x, 1.0, 1.0)
                } else {
                    (al * x.exp_m1(), al * x.exp(), al)
                }
            }
            Activation::Celu { alpha } => {
                let al = alpha as f64;
                if x > 0.0 {
                    (x, 1.0, 1.0)
                } else {
                    (al * (x / al).exp_m1(), (x / al).exp(), 1.0)
                }
            }
            Activation::LeakyRelu { negative_slope: s } | Activation::Prelu { init: s } => {
                let s = s as f64;
                if x > 0.0 {
                    (x, 1.0, 1.0)
                } else {
                    (s * x, s, s)
                }
            }
            Activation::Selu => {
                if x > 0.0 {
                    (l * x, l, l)
                } else {
                    (l * a * x.exp_m1(), l * a * x.exp(), l * a)
                }
            }
            Activation::Srelu => (x.max(-1.0), if x > -1.0 { 1.0 } else { 0.0 }, 1.0),
            Activation::Gelu => {
                let cdf = 0.5 * erfc(-x / std::f64::consts::SQRT_2);
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (lim(x, cdf), cdf + lim(x, pdf), cdf + lim(x, pdf).abs())
            }
            Activation::GeluTanh => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                let c = 0.044715;
                let u = k * (x + c * x * x * x);
                let du = k * (1.0 + 3.0 * c * x * x);
                let s = sig(2.0 * u);
                let term = lim(x, 2.0 * dsig(2.0 * u) * du);
                (lim(x, s), s + term, s + term.abs())
            }
            Activation::Silu => {
                let term = lim(x, dsig(x));
                (lim(x, sig(x)), sig(x) + term, sig(x) + term.abs())
            }
            Activation::Mish => {
                let t = sp(x).tanh();
                let term = lim(x, (1.0 - t * t) * sig(x));
                (lim(x, t), t + term, t + term.abs())
            }
            Activation::Softplus => (sp(x), sig(x), sig(x)),
            Activation::Tanh => (x.tanh(), 1.0 / x.cosh().powi(2), 1.0 / x.cosh().powi(2)),
            Activation::Sigmoid => (sig(x), dsig(x), dsig(x)),
        }
    }

    /// A dense grid over [−30, 30], finer near 0, and the tails in powers of ten.
    fn dense_grid() -> Vec<f32> {
        let mut xs: Vec<f32> = (-300_000..=300_000).map(|i| i as f32 * 1e-4).collect();
        xs.extend((-10_000..=10_000).map(|i| i as f32 * 1e-7));
        for e in -30..=38 {
            xs.extend([10f32.powi(e), -(10f32.powi(e))]);
        }
        xs.retain(|x| x.is_finite());
        xs
    }

    #[test]
    fn values_and_derivatives_match_f64_over_a_dense_grid() {
        // Relative errors, in units of 2^-24: the value against |f|, the derivative against
        // the size of its terms (GELU's, SiLU's and Mish's cross 0 where terms cancel).
        let ulp = f32::EPSILON as f64 / 2.0;
        let xs = dense_grid();
        let mut report = Vec::new();
        for act in all() {
            let (mut worst_v, mut worst_d) = ((0.0f64, 0.0f32), (0.0f64, 0.0f32));
            for &x in &xs {
                // The kinks of the piecewise functions are not differentiable; skip them.
                if x == 0.0 || x == -1.0 {
                    continue;
                }
                let (v, d, scale) = reference(act, x as f64);
                let y = act.value(x);
                let dy = act.derivative(x, y);
                // Below 1e-30 (down into the subnormals, which have fewer digits) the error is
                // measured against 1e-30.
                let ev = (y as f64 - v).abs() / v.abs().max(1e-30);
                let ed = (dy as f64 - d).abs() / scale.abs().max(1e-30);
                if ev > worst_v.0 {
                    worst_v = (ev, x);
                }
                if ed > worst_d.0 {
                    worst_d = (ed, x);
                }
            }
            eprintln!(
                "{:<34} value {:>6.1} ulp (at {:e}), derivative {:>6.1} ulp (at {:e})",
                format!("{act:?}"),
                worst_v.0 / ulp,
                worst_v.1,
                worst_d.0 / ulp,
                worst_d.1
            );
            report.push((act, worst_v.0 / ulp, worst_d.0 / ulp));
        }
        for (act, v, d) in report {
            // The tanh approximation of GELU is ill-conditioned in its left tail: its condition
            // number |x·f'(x)/f(x)| ≈ |x|·2u'(x) reaches about 220 at x = −10, so the rounding of
            // u(x) = √(2/π)(x + 0.044715x³) to f32 (a few ulp) costs that many times more there.
            let bound = if act == Activation::GeluTanh { 256.0 } else { 12.0 };
            assert!(v <= bound && d <= bound, "{act:?}: value {v:.1} ulp, derivative {d:.1} ulp");
        }
    }

    #[test]
    fn extreme_inputs_give_finite_correct_values_and_derivatives() {
        // (SELU's λ·x overflows beyond 3.2e38, as it should.)
        let huge = [-3e38, -5e6, -1e4, -100.0, 100.0, 1e4, 5e6, 3e38];
        for act in all() {
            for x in huge {
                let y = act.value(x);
                let d = act.derivative(x, y);
                assert!(y.is_finite() && d.is_finite(), "{act:?} at {x:e}: f = {y}, f' = {d}");
                let (v, dv, scale) = reference(act, x as f64);
                // Within 1e-6 relative (the derivative: of the size of its terms), or an absolute
                // 1e-37 where the value is subnormal.
                assert!((y as f64 - v).abs() <= 1e-6 * v.abs() + 1e-37, "{act:?} at {x:e}: {y} vs {v}");
                assert!((d as f64 - dv).abs() <= 1e-6 * scale + 1e-37, "{act:?} at {x:e}: f' {d} vs {dv}");
            }
            // ±∞ give the limits: never NaN.
            for x in [f32::NEG_INFINITY, -f32::MAX, f32::MAX, f32::INFINITY] {
                let y = act.value(x);
                assert!(!y.is_nan() && !act.derivative(x, y).is_nan(), "{act:?} at {x}");
            }
            // NaN in, NaN out (ReLU and the shifted ReLU are `max`, which drops a NaN).
            if !matches!(act, Activation::Relu | Activation::Srelu) {
                assert!(act.value(f32::NAN).is_nan(), "{act:?}: NaN in, NaN out");
            }
        }
        let elu = Activation::Elu { alpha: 1.0 };
        assert_eq!((elu.value(-5e6), elu.derivative(-5e6, elu.value(-5e6))), (-1.0, 0.0), "the article's input");
        assert_eq!(Activation::Elu { alpha: 0.5 }.value(-5e6), -0.5);
        assert_eq!(Activation::Selu.value(-5e6), -SELU_SCALE * SELU_ALPHA);
        assert_eq!(Activation::Celu { alpha: 2.0 }.value(-5e6), -2.0);
        assert_eq!((Activation::Softplus.value(1e4), Activation::Softplus.value(-1e4)), (1e4, 0.0));
        assert_eq!((Activation::Sigmoid.value(1e4), Activation::Sigmoid.value(-1e4)), (1.0, 0.0));
        assert_eq!((Activation::Tanh.value(1e4), Activation::Tanh.value(-1e4)), (1.0, -1.0));
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Silu, Activation::Mish] {
            assert_eq!((act.value(1e4), act.value(-1e4)), (1e4, 0.0), "{act:?}");
            assert_eq!((act.derivative(1e4, 1e4), act.derivative(-1e4, 0.0)), (1.0, 0.0), "{act:?}");
        }
        for act in [Activation::Sigmoid, Activation::Tanh] {
            assert_eq!((act.derivative(1e4, act.value(1e4)), act.derivative(-1e4, act.value(-1e4))), (0.0, 0.0));
        }
    }
}
