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
    /// Keras's class name, e.g. "Conv2D".
    fn kind(&self) -> &'static str;
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
    /// The element-wise activation this layer applies, if it is a parameter-free one.
    fn activation(&self) -> Option<crate::activations::Activation> {
        None
    }
    /// This layer as a Conv2D, for the engine's fused kernels.
    fn as_conv2d(&self) -> Option<&Conv2d> {
        None
    }
    /// This layer as a MaxPooling2D, for the engine's fused kernels.
    fn as_max_pool2d(&self) -> Option<&MaxPool2d> {
        None
    }
    /// Whether this is the softmax that the loss fuses with.
    fn is_softmax(&self) -> bool {
        false
    }
    /// Multiply-adds per sample of forward and of backward (for the benchmark's FLOP count).
    fn macs_per_sample(&self) -> (u64, u64) {
        (0, 0)
    }
}
