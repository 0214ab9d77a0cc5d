//! A Sequential model: layers with shapes checked at build time and one flat parameter buffer.

use std::ops::Range;

use super::spec::{FusedActivation, LayerSpec, ModelSpec};
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::conv2d::Conv2dConfig;
use crate::layers::dense::DenseConfig;
use crate::layers::{ActivationLayer, Conv2d, Ctx, Dense, Dropout, Flatten, Layer, MaxPool2d, PRelu, Shape, Softmax};
use crate::rng::{Rng, Stream};

/// Largest number of values one sample may have at any layer's output (2^28: 1 GiB of `f32`
/// per sample). Larger models could not be trained, and their sizes could overflow.
pub const MAX_VALUES_PER_SAMPLE: usize = 1 << 28;
/// Largest number of parameters of a model (2^30: 4 GiB of `f32` per copy).
pub const MAX_PARAMS: usize = 1 << 30;

/// `a * b * c`, or `None` if that exceeds `limit` (or overflows).
fn product_within(dims: &[usize], limit: usize) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= limit)
}

/// Upper bound of the parameters a layer spec creates on an input of `shape`, or `None` on
/// overflow. Computed before the layer is built, so that no size computation can overflow.
fn spec_param_count(spec: &LayerSpec, shape: Shape) -> Option<usize> {
    match *spec {
        LayerSpec::Conv2d { filters, kernel_size: [kh, kw], .. } => {
            kh.checked_mul(kw)?.checked_mul(shape.c)?.checked_mul(filters)?.checked_add(filters)
        }
        LayerSpec::Dense { units, .. } => shape.c.checked_mul(units)?.checked_add(units),
        LayerSpec::Prelu { .. } => Some(shape.c),
        _ => Some(0),
    }
}

/// A stack of layers. Parameters live outside, in one flat buffer: layer `i` owns
/// `params[model.param_range(i)]`, and gradients and optimiser moments share that layout.
#[derive(Debug)]
pub struct Sequential {
    input: Shape,
    layers: Vec<Box<dyn Layer>>,
    names: Vec<String>,
    ranges: Vec<Range<usize>>,
}

impl Sequential {
    /// An empty model taking inputs of `input` shape.
    pub fn new(input: Shape) -> Self {
        Sequential { input, layers: Vec::new(), names: Vec::new(), ranges: Vec::new() }
    }

    /// Builds every layer of a model file, in order.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self> {
        let [h, w, c] = spec.input_shape;
        if h == 0 || w == 0 || c == 0 {
            return Err(Error::config(
                "input_shape",
                format!("every dimension must be at least 1, got {:?}", spec.input_shape),
            ));
        }
        if product_within(&spec.input_shape, MAX_VALUES_PER_SAMPLE).is_none() {
            return Err(Error::config(
                "input_shape",
                format!("{:?} has more than {MAX_VALUES_PER_SAMPLE} values per image", spec.input_shape),
            ));
        }
        spec.layers.iter().cloned().try_fold(Sequential::new(Shape::new(h, w, c)), Sequential::add)
    }

    /// Appends a layer (two, for a Conv2D or Dense with a fused `activation`), checking that it
    /// fits the current output shape. Errors name the layer's index and Keras-style name.
    #[allow(clippy::should_implement_trait)] // Keras's name: `Sequential::new(..).add(..)`
    pub fn add(mut self, spec: LayerSpec) -> Result<Self> {
        let index = self.layers.len();
        let shape = self.output_shape();
        let wrap = |e: Error, name: &str| Error::Shape { index, layer: name.to_string(), msg: e.to_string() };
        // Sizes are checked before the layer computes any, so that none can overflow.
        let too_big = |msg: String| Error::Shape { index, layer: spec.type_name().to_string(), msg };
        let params = spec_param_count(&spec, shape).and_then(|n| n.checked_add(self.param_count()));
        if params.is_none_or(|n| n > MAX_PARAMS) {
            return Err(too_big(format!("the model would have more than {MAX_PARAMS} parameters")));
        }
        // Outputs are at most as high and wide as their inputs; conv2d and dense set the channels.
        let channels = match spec {
            LayerSpec::Conv2d { filters, .. } => filters,
            LayerSpec::Dense { units, .. } => units,
            _ => shape.c,
        };
        if product_within(&[shape.h, shape.w, channels], MAX_VALUES_PER_SAMPLE).is_none() {
            return Err(too_big(format!(
                "more than {MAX_VALUES_PER_SAMPLE} output values per sample ({}x{}x{channels} at most)",
                shape.h, shape.w
            )));
        }
        let (layer, fused): (Box<dyn Layer>, Option<FusedActivation>) = match spec {
            LayerSpec::Conv2d { filters, kernel_size, strides, padding, use_bias, kernel_initializer, activation } => {
                let cfg = Conv2dConfig { filters, kernel_size, strides, padding, use_bias, kernel_initializer };
                (Box::new(Conv2d::new(shape, cfg).map_err(|e| wrap(e, "conv2d"))?), activation)
            }
            LayerSpec::Dense { units, use_bias, kernel_initializer, activation } => {
                let cfg = DenseConfig { units, use_bias, kernel_initializer };
                (Box::new(Dense::new(shape, cfg).map_err(|e| wrap(e, "dense"))?), activation)
            }
            LayerSpec::MaxPooling2d { pool_size, strides } => {
                (Box::new(MaxPool2d::new(shape, pool_size, strides).map_err(|e| wrap(e, "max_pooling2d"))?), None)
            }
            LayerSpec::Dropout { rate } => (Box::new(Dropout::new(shape, rate).map_err(|e| wrap(e, "dropout"))?), None),
            LayerSpec::Flatten => (Box::new(Flatten::new(shape)), None),
            LayerSpec::Prelu { init } => (Box::new(PRelu::new(shape, init).map_err(|e| wrap(e, "prelu"))?), None),
            LayerSpec::Softmax => (Box::new(Softmax::new(shape)), None),
            other => {
                let act = other.activation().ok_or_else(|| wrap(Error::config("layer", "unsupported"), "?"))?;
                (Box::new(ActivationLayer::new(shape, act).map_err(|e| wrap(e, act.name()))?), None)
            }
        };
        if layer.out_shape().is_empty() {
            return Err(Error::Shape {
                index,
                layer: layer.kind().to_string(),
                msg: "produces an empty output".into(),
            });
        }
        self.push(layer);
        match fused {
            None | Some(FusedActivation::Linear) => Ok(self),
            Some(FusedActivation::Softmax) => {
                if self.output_shape().h != 1 || self.output_shape().w != 1 {
                    return Err(Error::Shape {
                        index,
                        layer: "softmax".into(),
                        msg: "softmax needs a flat input; add a flatten layer".into(),
                    });
                }
                let s = self.output_shape();
                self.push(Box::new(Softmax::new(s)));
                Ok(self)
            }
            Some(f) => {
                let act = match f {
                    FusedActivation::Relu => Activation::Relu,
                    FusedActivation::Elu => Activation::Elu { alpha: 1.0 },
                    _ => Activation::Selu,
                };
                let s = self.output_shape();
                self.push(Box::new(ActivationLayer::new(s, act)?));
                Ok(self)
            }
        }
    }

    fn push(&mut self, layer: Box<dyn Layer>) {
        let start = self.ranges.last().map_or(0, |r| r.end);
        self.ranges.push(start..start + layer.param_count());
        let base = keras_base_name(layer.kind());
        let seen = self.layers.iter().filter(|l| keras_base_name(l.kind()) == base).count();
        self.names.push(if seen == 0 { base.to_string() } else { format!("{base}_{seen}") });
        self.layers.push(layer);
    }

    /// Shape of one input sample.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Shape of one output sample (the input shape for an empty model).
    pub fn output_shape(&self) -> Shape {
        self.layers.last().map_or(self.input, |l| l.out_shape())
    }

    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// Keras-style names: conv2d, conv2d_1, elu, ...
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Where layer `i`'s parameters live in the flat buffer.
    pub fn param_range(&self, i: usize) -> Range<usize> {
        self.ranges[i].clone()
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        self.ranges.last().map_or(0, |r| r.end)
    }

    /// Fresh parameters: layer `i` draws from the stream (seed, init, i), so changing one layer
    /// leaves the initial weights of the others unchanged.
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut params = vec![0.0; self.param_count()];
        for (i, layer) in self.layers.iter().enumerate() {
            let mut rng = Rng::stream(seed, Stream::Init, &[i as u64]);
            layer.init_params(&mut params[self.ranges[i].clone()], &mut rng);
        }
        params
    }

    /// The plain forward pass, in inference mode: every layer in order on the whole of `x`
    /// (`n` samples of [`Sequential::input_shape`]), through [`Layer::forward`] alone, with no
    /// fused kernels and no slicing. Returns every tensor: element 0 is the input, element
    /// `i + 1` the output of layer `i` (`(n, out_shape)`), so the last is the model's output.
    ///
    /// This is the reference the fast [`Engine`](super::Engine) is tested against, and what
    /// diagnostics use to look inside the model. It allocates its buffers on every call.
    ///
    /// ```
    /// use elu_lab::model::{ModelSpec, Sequential};
    ///
    /// let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
    /// let params = model.init_params(1);
    /// let x = vec![0.5; 2 * 28 * 28];
    /// let acts = model.forward_reference(&params, &x, 2);
    /// assert_eq!(acts.len(), model.layers().len() + 1);
    /// let probs = acts.last().unwrap();
    /// assert_eq!(probs.len(), 2 * 10);
    /// assert!((probs[..10].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    /// ```
    pub fn forward_reference(&self, params: &[f32], x: &[f32], n: usize) -> Vec<Vec<f32>> {
        self.forward_trace(params, x, n, Ctx::inference()).acts
    }

    /// [`Sequential::forward_reference`] in the mode `ctx` says (training mode applies dropout,
    /// keyed by `ctx`'s seed, step and first sample; the layer index is set per layer), keeping
    /// what each layer saved for its backward pass.
    pub fn forward_trace(&self, params: &[f32], x: &[f32], n: usize, ctx: Ctx) -> Trace {
        debug_assert_eq!(x.len(), n * self.input.len());
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x.to_vec());
        let mut scratch = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let mut out = vec![0.0; n * layer.out_shape().len()];
            let mut saved = vec![0.0; layer.scratch_for(n)];
            let ctx = Ctx { layer: i, ..ctx };
            layer.forward(&mut out, &mut saved, &acts[i], &params[self.ranges[i].clone()], n, &ctx);
            acts.push(out);
            scratch.push(saved);
        }
        Trace { acts, scratch }
    }

    /// Checks that the model can be trained with categorical cross-entropy on `classes` classes.
    pub fn check_trainable(&self, classes: usize) -> Result<()> {
        let last = self.layers.last().ok_or_else(|| Error::config("model", "has no layers"))?;
        if !last.is_softmax() {
            return Err(Error::config(
                "model",
                format!(
                    "the last layer must be a softmax (categorical cross-entropy on probabilities), got {}",
                    last.kind()
                ),
            ));
        }
        let out = self.output_shape();
        if out.len() != classes || out.h != 1 || out.w != 1 {
            return Err(Error::DataMismatch {
                msg: format!("the model outputs {} values per image but the data has {classes} classes", out.len()),
            });
        }
        Ok(())
    }

    /// Multiply-adds per sample: (forward, backward), the first layer's input gradient excluded.
    pub fn macs_per_sample(&self) -> (u64, u64) {
        self.layers.iter().enumerate().fold((0, 0), |(f, b), (i, l)| {
            let (lf, lb) = l.macs_per_sample();
            // Backward of the first layer skips its input gradient: only the weight gradient.
            let lb = if i == 0 { lb / 2 } else { lb };
            (f + lf, b + lb)
        })
    }

    /// A table like Keras's `model.summary()`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let line = "─".repeat(78);
        s.push_str("Model: \"sequential\"\n");
        s.push_str(&format!("{line}\n{:<36}{:<28}{:>14}\n{line}\n", "Layer (type)", "Output Shape", "Param #"));
        for (i, layer) in self.layers.iter().enumerate() {
            let out = layer.out_shape();
            let flat = out.h == 1 && out.w == 1 && !matches!(layer.kind(), "Conv2D" | "MaxPooling2D");
            s.push_str(&format!(
                "{:<36}{:<28}{:>14}\n",
                format!("{} ({})", self.names[i], layer.kind()),
                out.keras(flat),
                group(layer.param_count())
            ));
        }
        let total = self.param_count();
        s.push_str(&format!("{line}\n Total params: {} ({})\n", group(total), human_bytes(total * 4)));
        s.push_str(&format!(" Trainable params: {} ({})\n", group(total), human_bytes(total * 4)));
        s.push_str(" Non-trainable params: 0 (0.00 B)\n");
        s
    }
}

/// What [`Sequential::forward_trace`] computed.
#[derive(Clone, Debug)]
pub struct Trace {
    /// `acts[0]` is the input, `acts[i + 1]` the output of layer `i`.
    pub acts: Vec<Vec<f32>>,
    /// What layer `i` saved for its backward pass (max-pooling argmax, dropout mask, ...).
    pub scratch: Vec<Vec<f32>>,
}

fn keras_base_name(kind: &str) -> &'static str {
    match kind {
        "Conv2D" => "conv2d",
        "Dense" => "dense",
        "MaxPooling2D" => "max_pooling2d",
        "Dropout" => "dropout",
        "Flatten" => "flatten",
        "ELU" => "elu",
        "ReLU" => "re_lu",
        "LeakyReLU" => "leaky_re_lu",
        "SELU" => "selu",
        "PReLU" => "p_re_lu",
        _ => "softmax",
    }
}

/// 431242 → "431,242".
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn human_bytes(b: usize) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else {
        format!("{b:.2} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_model_has_keras_shapes_and_431242_params() {
        let m = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert_eq!(m.param_count(), 431_242);
        assert_eq!(m.layers().len(), 13);
        let shapes: Vec<_> = m.layers().iter().map(|l| l.out_shape()).collect();
        assert_eq!(shapes[0], Shape::new(26, 26, 32));
        assert_eq!(shapes[2], Shape::new(13, 13, 32));
        assert_eq!(shapes[4], Shape::new(11, 11, 64));
        assert_eq!(shapes[6], Shape::new(5, 5, 64));
        assert_eq!(shapes[8], Shape::flat(1600));
        assert_eq!(m.names()[..6], ["conv2d", "elu", "max_pooling2d", "dropout", "conv2d_1", "elu_1"]);
        let s = m.summary();
        assert!(s.contains("Total params: 431,242"), "{s}");
        assert!(s.contains("conv2d_1 (Conv2D)") && s.contains("(None, 11, 11, 64)"), "{s}");
        m.check_trainable(10).unwrap();
    }

    #[test]
    fn same_seed_same_init_and_layers_draw_independently() {
        let m = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert_eq!(m.init_params(3), m.init_params(3));
        assert_ne!(m.init_params(3), m.init_params(4));
        // Biases start at zero.
        let p = m.init_params(3);
        assert!(p[m.param_range(0)][288..].iter().all(|&b| b == 0.0));
    }

    #[test]
    fn sizes_that_would_overflow_are_errors_not_wrapped_or_panics() {
        let conv = |filters, k, padding| LayerSpec::Conv2d {
            filters,
            kernel_size: [k, k],
            strides: [1, 1],
            padding,
            use_bias: true,
            kernel_initializer: crate::init::Init::HeNormal,
            activation: None,
        };
        let dense = |units| LayerSpec::Dense {
            units,
            use_bias: true,
            kernel_initializer: crate::init::Init::HeNormal,
            activation: None,
        };
        let same = crate::layers::Padding::Same;
        let cases = [
            ([28, 28, 1], vec![conv(usize::MAX, 3, Default::default())], "parameters"),
            ([28, 28, 1], vec![conv(1, usize::MAX / 2, same)], "parameters"),
            ([28, 28, 1], vec![conv(1 << 20, 1, same)], "output values"),
            ([28, 28, 1], vec![LayerSpec::Flatten, dense(1 << 40)], "parameters"),
            ([28, 28, 1], vec![LayerSpec::Flatten, dense(1 << 20), dense(1 << 20)], "parameters"),
            ([usize::MAX, usize::MAX, 2], vec![LayerSpec::Flatten], "values per image"),
        ];
        for (input_shape, layers, needle) in cases {
            let spec = ModelSpec { input_shape, layers };
            let err = Sequential::from_spec(&spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
        }
        // Just inside the limits still builds.
        let spec = ModelSpec { input_shape: [1, 1, 1 << 14], layers: vec![dense(1 << 14)] };
        assert_eq!(Sequential::from_spec(&spec).unwrap().param_count(), (1 << 28) + (1 << 14));
    }

    #[test]
    fn impossible_shapes_name_the_layer() {
        let spec = ModelSpec {
            input_shape: [28, 28, 1],
            layers: vec![
                LayerSpec::MaxPooling2d { pool_size: [8, 8], strides: None },
                LayerSpec::MaxPooling2d { pool_size: [2, 2], strides: None },
                LayerSpec::Conv2d {
                    filters: 4,
                    kernel_size: [3, 3],
                    strides: [1, 1],
                    padding: Default::default(),
                    use_bias: true,
                    kernel_initializer: crate::init::Init::HeNormal,
                    activation: None,
                },
            ],
        };
        let err = Sequential::from_spec(&spec).unwrap_err().to_string();
        assert!(err.starts_with("layer 2 (conv2d)") && err.contains("larger than its 1x1 input"), "{err}");
    }

    #[test]
    fn training_needs_a_final_softmax_matching_the_classes() {
        let mut spec = ModelSpec::article();
        spec.layers.pop();
        spec.layers.push(LayerSpec::Dense {
            units: 10,
            use_bias: true,
            kernel_initializer: crate::init::Init::HeNormal,
            activation: None,
        });
        let m = Sequential::from_spec(&spec).unwrap();
        assert!(m.check_trainable(10).unwrap_err().to_string().contains("softmax"));
        let m = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert!(m.check_trainable(7).is_err());
    }
}
