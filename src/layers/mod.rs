//! The layers of a Sequential model: each one's forward and backward pass side by side.
//!
//! Tensors are NHWC (channels last, as in Keras), one flat `f32` slice per batch. Every layer
//! sees the same argument order: outputs and saved state first, then inputs, then parameters,
//! then sizes. Backward *overwrites* both the parameter gradients (each parameter belongs to one
//! layer, whose backward runs once per slice of the batch) and the input gradient.

pub mod activation;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod max_pool2d;
pub mod prelu;
pub mod softmax;

#[cfg(test)]
pub(crate) mod gradcheck;

use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::activations::Activation;
use crate::rng::Rng;

pub use activation::ActivationLayer;
pub use conv2d::{Conv2d, Padding};
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use max_pool2d::MaxPool2d;
pub use prelu::PRelu;
pub use softmax::Softmax;

/// Shape of one sample: height, width, channels (a flat vector is 1×1×C).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }

    /// A flat vector of `c` values.
    pub fn flat(c: usize) -> Self {
        Shape { h: 1, w: 1, c }
    }

    /// Number of values per sample.
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keras's way of printing an output shape, batch dimension first.
    pub fn keras(&self, flat: bool) -> String {
        if flat {
            format!("(None, {})", self.c)
        } else {
            format!("(None, {}, {}, {})", self.h, self.w, self.c)
        }
    }
}

/// What a layer is: what the engine plans by, and where the Keras and model-file names come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerKind {
    Conv2d,
    MaxPooling2d,
    Dropout,
    Flatten,
    Dense,
    /// An activation function, PReLU (whose slopes are the layer's parameters) included.
    Activation(Activation),
    /// The final softmax, which the loss fuses with.
    Softmax,
}

impl LayerKind {
    /// Keras's class name, e.g. "Conv2D", "LeakyReLU".
    pub fn keras_class(&self) -> &'static str {
        match self {
            LayerKind::Conv2d => "Conv2D",
            LayerKind::MaxPooling2d => "MaxPooling2D",
            LayerKind::Dropout => "Dropout",
            LayerKind::Flatten => "Flatten",
            LayerKind::Dense => "Dense",
            LayerKind::Activation(a) => a.keras_class(),
            LayerKind::Softmax => "Softmax",
        }
    }

    /// The layer's `type` in a model file, e.g. "conv2d", "leaky_relu".
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Conv2d => "conv2d",
            LayerKind::MaxPooling2d => "max_pooling2d",
            LayerKind::Dropout => "dropout",
            LayerKind::Flatten => "flatten",
            LayerKind::Dense => "dense",
            LayerKind::Activation(a) => a.name(),
            LayerKind::Softmax => "softmax",
        }
    }

    /// The activation function, for an activation layer.
    pub fn activation(&self) -> Option<Activation> {
        match *self {
            LayerKind::Activation(a) => Some(a),
            _ => None,
        }
    }
}

/// Keras's automatic layer name for a class: its snake case ("Conv2D" → "conv2d",
/// "MaxPooling2D" → "max_pooling2d", "LeakyReLU" → "leaky_re_lu"), as Keras's `to_snake_case`
/// computes it (an underscore before each capitalised word, then between a lower-case letter
/// and a capital).
pub fn keras_snake_case(class: &str) -> String {
    let c: Vec<char> = class.chars().collect();
    let mut words = String::new();
    for (i, &ch) in c.iter().enumerate() {
        let starts_word = ch.is_ascii_uppercase() && c.get(i + 1).is_some_and(char::is_ascii_lowercase);
        if i > 0 && starts_word && !words.ends_with('_') {
            words.push('_');
        }
        words.push(ch);
    }
    let w: Vec<char> = words.chars().collect();
    let mut out = String::new();
    for (i, &ch) in w.iter().enumerate() {
        if i > 0 && ch.is_ascii_uppercase() && w[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// What a forward pass needs to know besides the data.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Training mode (dropout active) or inference.
    pub train: bool,
    /// The run's seed; dropout draws from streams keyed by (seed, step, sample, layer).
    pub seed: u64,
    /// Optimisation step (counted over the whole run).
    pub step: u64,
    /// Index within the batch of this slice's first sample.
    pub first_sample: u64,
    /// Index of the layer in its model.
    pub layer: usize,
}

impl Ctx {
    /// Inference mode: no randomness is used.
    pub fn inference() -> Self {
        Ctx { train: false, seed: 0, step: 0, first_sample: 0, layer: 0 }
    }
}

/// A layer of a Sequential model. Shapes are fixed when the layer is built; the kernels
/// themselves are infallible and check sizes only with `debug_assert!`.
pub trait Layer: Send + Sync + Debug {
    /// What the layer is (its Keras and model-file names follow from it).
    fn kind(&self) -> LayerKind;
    /// Shape of one input sample.
    fn in_shape(&self) -> Shape;
    /// Shape of one output sample.
    fn out_shape(&self) -> Shape;
    /// Number of learnable parameters.
    fn param_count(&self) -> usize {
        0
    }
    /// Names and shapes of the parameter tensors, in their order in the flat buffer.
    fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        Vec::new()
    }
    /// Initialises this layer's parameters (kernel by its initialiser, biases zero).
    fn init_params(&self, _params: &mut [f32], _rng: &mut Rng) {}
    /// Floats of saved state per sample, kept from forward to backward.
    fn scratch_len(&self) -> usize {
        0
    }
    /// Floats of scratch that `forward` and `backward` need for `n` samples: `n` times
    /// [`Layer::scratch_len`], unless the layer also keeps state that does not grow with `n`.
    fn scratch_for(&self, n: usize) -> usize {
        n * self.scratch_len()
    }
    /// out: (n, out_shape) ← inp: (n, in_shape). Saves into `scratch` what backward needs.
    fn forward(&self, out: &mut [f32], scratch: &mut [f32], inp: &[f32], params: &[f32], n: usize, ctx: &Ctx);
    /// dinp (when asked for) and dparams ← dout; both are overwritten.
    /// `scratch` holds what forward saved and may be reused as workspace.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        dparams: &mut [f32],
        dout: &[f32],
        scratch: &mut [f32],
        inp: &[f32],
        out: &[f32],
        params: &[f32],
        n: usize,
    );
    /// Whether backward splits into [`Layer::backward_input`] on blocks of rows and one
    /// [`Layer::backward_params`] over all of them, which lets the engine run the rows of a
    /// one-slice batch on two threads. Layers without parameters split by default.
    fn splits_backward(&self) -> bool {
        self.param_count() == 0
    }
    /// Length of the operand [`Layer::backward_input`] forms from the parameters (a dense
    /// layer's kernel transposed), which a split step forms once for both halves.
    fn input_operand_len(&self) -> usize {
        0
    }
    /// Forms the operand of [`Layer::backward_input`] from the parameters.
    fn form_input_operand(&self, _operand: &mut [f32], _params: &[f32]) {}
    /// dinp ← dout on `n` rows, without the parameter gradient (for a layer that
    /// [`Layer::splits_backward`]), `operand` formed by [`Layer::form_input_operand`]. The
    /// default runs [`Layer::backward`], for layers without parameters.
    #[allow(clippy::too_many_arguments)]
    fn backward_input(
        &self,
        dinp: &mut [f32],
        dout: &[f32],
        _operand: &[f32],
        scratch: &mut [f32],
        inp: &[f32],
        out: &[f32],
        params: &[f32],
        n: usize,
    ) {
        debug_assert_eq!(self.param_count(), 0, "{:?} overrides backward_input or does not split", self.kind());
        self.backward(Some(dinp), &mut [], dout, scratch, inp, out, params, n);
    }
    /// dparams ← the parameter gradient over `blocks` of rows, in order, each (inp, dout, rows):
    /// the same bits as [`Layer::backward`] gives on the rows all in one block (for a layer that
    /// [`Layer::splits_backward`]). Nothing to do for a layer without parameters.
    fn backward_params(&self, dparams: &mut [f32], _blocks: &[(&[f32], &[f32], usize)]) {
        debug_assert!(dparams.is_empty(), "{:?} overrides backward_params or does not split", self.kind());
    }
    /// This layer as a Conv2D, for the engine's fused kernels.
    fn as_conv2d(&self) -> Option<&Conv2d> {
        None
    }
    /// This layer as a MaxPooling2D, for the engine's fused kernels.
    fn as_max_pool2d(&self) -> Option<&MaxPool2d> {
        None
    }
    /// This layer as a Dense, for the engine's column step.
    fn as_dense(&self) -> Option<&Dense> {
        None
    }
    /// Multiply-adds per sample of forward and of backward (for the benchmark's FLOP count).
    fn macs_per_sample(&self) -> (u64, u64) {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_names_are_the_snake_case_of_the_class() {
        let cases = [
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("Dense", "dense"),
            ("ReLU", "re_lu"),
            ("LeakyReLU", "leaky_re_lu"),
            ("PReLU", "p_re_lu"),
            ("ELU", "elu"),
            ("Activation", "activation"),
        ];
        for (class, name) in cases {
            assert_eq!(keras_snake_case(class), name, "{class}");
        }
    }
}
