//! A Sequential model: layers with shapes checked at build time and one flat parameter buffer.

use std::collections::HashMap;
use std::ops::Range;

use super::exec::SLICE;
use super::spec::{ActivationArg, LayerSpec, ModelSpec};
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::layers::conv2d::Conv2dConfig;
use crate::layers::dense::DenseConfig;
use crate::layers::{
    activation, keras_snake_case, Conv2d, Ctx, Dense, Dropout, Flatten, Layer, LayerKind, MaxPool2d, Shape, Softmax,
};
use crate::limits::{self, available_memory, MAX_LAYERS};
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
        LayerSpec::Activation(Activation::Prelu { .. }) => Some(shape.c),
        _ => Some(0),
    }
}

/// Copies of the parameters that training holds at its peak, besides one gradient per slice:
/// the weights, the batch gradient, Adam's two moments and early stopping's best weights (5);
/// the copies of the weights, moments and best weights handed to a checkpoint (4); and, while
/// a checkpoint is written, those tensors as bytes and the serialised file (8).
pub const TRAINING_PARAM_COPIES: u64 = 17;

/// A stack of layers. Parameters live outside, in one flat buffer: layer `i` owns
/// `params[model.param_range(i)]`, and gradients and optimiser moments share that layout.
#[derive(Debug)]
pub struct Sequential {
    input: Shape,
    layers: Vec<Box<dyn Layer>>,
    names: Vec<String>,
    ranges: Vec<Range<usize>>,
    /// Layers so far per Keras base name (the next `conv2d` is `conv2d_{count}`).
    name_counts: HashMap<&'static str, usize>,
}

impl Sequential {
    /// An empty model taking inputs of `input` shape.
    pub fn new(input: Shape) -> Self {
        Sequential { input, layers: Vec::new(), names: Vec::new(), ranges: Vec::new(), name_counts: HashMap::new() }
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
        if spec.layers.len() > MAX_LAYERS {
            return Err(Error::config(
                "layers",
                format!("the model has {} layers, more than the {MAX_LAYERS} allowed", spec.layers.len()),
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
        let (layer, fused): (Box<dyn Layer>, Option<ActivationArg>) = match spec {
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
            LayerSpec::Softmax => (Box::new(Softmax::new(shape)), None),
            LayerSpec::Activation(act) => (activation::build(shape, act).map_err(|e| wrap(e, act.name()))?, None),
        };
        if layer.out_shape().is_empty() {
            return Err(Error::Shape {
                index,
                layer: layer.kind().name().to_string(),
                msg: "produces an empty output".into(),
            });
        }
        self.push(layer);
        match fused {
            None | Some(ActivationArg::Function(Activation::Linear)) => Ok(self),
            Some(ActivationArg::Softmax) => {
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
            Some(ActivationArg::Function(act)) => {
                let s = self.output_shape();
                self.push(activation::build(s, act).map_err(|e| wrap(e, act.name()))?);
                Ok(self)
            }
        }
    }

    fn push(&mut self, layer: Box<dyn Layer>) {
        let start = self.ranges.last().map_or(0, |r| r.end);
        self.ranges.push(start..start + layer.param_count());
        let class = layer.kind().keras_class();
        let base = keras_snake_case(class);
        // Counted as layers are added (not by scanning them), so building is linear in depth.
        let seen = self.name_counts.entry(class).or_insert(0);
        self.names.push(if *seen == 0 { base } else { format!("{base}_{seen}") });
        *seen += 1;
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

    /// The index of the first layer with parameters (the number of layers when none has any):
    /// no gradient is needed below it.
    pub fn first_trainable(&self) -> usize {
        self.ranges.iter().position(|r| !r.is_empty()).unwrap_or(self.ranges.len())
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
    /// let model = Sequential::from_spec(&ModelSpec::article())?;
    /// let params = model.init_params(1);
    /// let x = vec![0.5; 2 * 28 * 28];
    /// let acts = model.forward_reference(&params, &x, 2);
    /// assert_eq!(acts.len(), model.layers().len() + 1);
    /// let probs = &acts[acts.len() - 1];
    /// assert_eq!(probs.len(), 2 * 10);
    /// assert!((probs[..10].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    /// # Ok::<(), elu_lab::Error>(())
    /// ```
    pub fn forward_reference(&self, params: &[f32], x: &[f32], n: usize) -> Vec<Vec<f32>> {
        self.forward_trace(params, x, n, Ctx::inference()).acts
    }

    /// The first `layers` layers of [`Sequential::forward_reference`] on `n` samples `x`, into
    /// buffers that the caller keeps from one call to the next: `acts[i]` holds the output of
    /// layer `i` (its first `n · out_shape` values), `scratch` what the layers save on the way.
    /// The buffers grow when they are too small and are never shrunk, so that a loop over
    /// slices of a sample allocates (and the system clears pages) once, not on every slice.
    /// The values are those of [`Sequential::forward_reference`], bit for bit.
    pub fn forward_first_into(
        &self,
        params: &[f32],
        x: &[f32],
        n: usize,
        layers: usize,
        acts: &mut Vec<Vec<f32>>,
        scratch: &mut Vec<f32>,
    ) {
        debug_assert_eq!(x.len(), n * self.input.len());
        let layers = layers.min(self.layers.len());
        acts.resize_with(layers.max(acts.len()), Vec::new);
        for (i, layer) in self.layers[..layers].iter().enumerate() {
            let len = n * layer.out_shape().len();
            if acts[i].len() < len {
                acts[i].resize(len, 0.0);
            }
            let saved = layer.scratch_for(n);
            if scratch.len() < saved {
                scratch.resize(saved, 0.0);
            }
            let (before, rest) = acts.split_at_mut(i);
            let inp = if i == 0 { x } else { &before[i - 1][..n * self.layers[i - 1].out_shape().len()] };
            let ctx = Ctx { layer: i, ..Ctx::inference() };
            layer.forward(&mut rest[0][..len], &mut scratch[..saved], inp, &params[self.ranges[i].clone()], n, &ctx);
        }
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

    /// Bytes of memory that training this model needs at least, on batches of `batch_size` with
    /// `workers` threads: [`TRAINING_PARAM_COPIES`] copies of the parameters plus one gradient
    /// per slice of [`SLICE`] samples, and one workspace per worker (at most one per slice):
    /// every layer's output and scratch for a slice, and two gradient buffers of the widest
    /// layer. The dataset is not counted (its reader checks it against the memory available).
    pub fn training_bytes(&self, batch_size: usize, workers: usize) -> u64 {
        self.memory_by_layer(batch_size, workers).last().map_or(0, |&b| u64::try_from(b).unwrap_or(u64::MAX))
    }

    /// Checks [`Sequential::training_bytes`] against the memory available now
    /// ([`crate::limits::available_memory`]) before anything is allocated: [`Error::Memory`]
    /// names the first layer at which the running total exceeds it.
    pub fn check_memory(&self, batch_size: usize, workers: usize) -> Result<()> {
        self.check_memory_within(batch_size, workers, available_memory())
    }

    fn check_memory_within(&self, batch_size: usize, workers: usize, available: u64) -> Result<()> {
        let totals = self.memory_by_layer(batch_size, workers);
        let Some(index) = totals.iter().position(|&b| b > u128::from(available)) else { return Ok(()) };
        let total = u64::try_from(totals[totals.len() - 1]).unwrap_or(u64::MAX);
        let up_to = u64::try_from(totals[index]).unwrap_or(u64::MAX);
        Err(Error::Memory {
            index,
            layer: self.names[index].clone(),
            msg: format!(
                "training needs {} of memory up to this layer ({} for the whole model, with batches of {batch_size} \
                 on {workers} thread{}), more than the {} available",
                limits::human_bytes(up_to),
                limits::human_bytes(total),
                if workers == 1 { "" } else { "s" },
                limits::human_bytes(available)
            ),
        })
    }

    /// The running total of [`Sequential::training_bytes`] after each layer (exact, in `u128`,
    /// so that no size can overflow).
    fn memory_by_layer(&self, batch_size: usize, workers: usize) -> Vec<u128> {
        let slices = batch_size.div_ceil(SLICE).max(1) as u128;
        let workers = workers.clamp(1, slices as usize) as u128;
        let (floats, slice) = (4u128, SLICE as u128);
        let copies = TRAINING_PARAM_COPIES as u128 + slices;
        let mut activations = slice * self.input.len() as u128;
        let mut widest = self.input.len() as u128;
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                // Layers within the size limits have no overflowing sizes, but their scratch for
                // a slice may exceed usize (im2col of a huge kernel on a huge image).
                let scratch = match l.scratch_len().checked_mul(SLICE) {
                    Some(_) => l.scratch_for(SLICE) as u128,
                    None => l.scratch_len() as u128 * slice,
                };
                activations += slice * l.out_shape().len() as u128 + scratch;
                widest = widest.max(l.out_shape().len() as u128);
                let params = self.ranges[i].end as u128;
                floats * (copies * params + workers * (activations + 2 * slice * widest))
            })
            .collect()
    }

    /// Checks that the model can be trained with categorical cross-entropy on `classes` classes,
    /// and that the least memory training it needs (batches of one slice, one thread; see
    /// [`Sequential::check_memory`]) is available.
    pub fn check_trainable(&self, classes: usize) -> Result<()> {
        let last = self.layers.last().ok_or_else(|| Error::config("model", "has no layers"))?;
        if last.kind() != LayerKind::Softmax {
            return Err(Error::config(
                "model",
                format!(
                    "the last layer must be a softmax (categorical cross-entropy on probabilities), got {}",
                    last.kind().keras_class()
                ),
            ));
        }
        let out = self.output_shape();
        if out.len() != classes || out.h != 1 || out.w != 1 {
            return Err(Error::DataMismatch {
                msg: format!("the model outputs {} values per image but the data has {classes} classes", out.len()),
            });
        }
        self.check_memory(SLICE, 1)
    }

    /// Multiply-adds per sample: (forward, backward), the first layer's input gradient excluded.
    pub fn macs_per_sample(&self) -> (u64, u64) {
        let first = self.first_trainable();
        self.layers.iter().enumerate().fold((0, 0), |(f, b), (i, l)| {
            let (lf, lb) = l.macs_per_sample();
            // Backward of the first layer with parameters skips its input gradient (only the
            // weight gradient), and nothing below it runs.
            let lb = match i.cmp(&first) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => lb / 2,
                std::cmp::Ordering::Greater => lb,
            };
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
            let flat = out.h == 1 && out.w == 1 && !matches!(layer.kind(), LayerKind::Conv2d | LayerKind::MaxPooling2d);
            s.push_str(&format!(
                "{:<36}{:<28}{:>14}\n",
                format!("{} ({})", self.names[i], layer.kind().keras_class()),
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

/// 431242 → "431,242".
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
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

    /// Buffers kept over calls of different sizes (larger first, then smaller, then larger)
    /// give the bits of the reference forward, whatever a previous call left in them.
    #[test]
    fn forward_into_kept_buffers_gives_the_bits_of_the_reference() {
        for spec in [ModelSpec::article(), ModelSpec::preset("paper_fc").unwrap()] {
            let m = Sequential::from_spec(&spec).unwrap();
            let params = m.init_params(7);
            let (mut acts, mut scratch) = (Vec::new(), Vec::new());
            for (n, depth) in [(5, m.layers().len()), (2, 3), (6, m.layers().len() - 1)] {
                let x: Vec<f32> = (0..n * m.input_shape().len()).map(|i| ((i * 37 % 101) as f32) / 101.0).collect();
                let reference = m.forward_reference(&params, &x, n);
                m.forward_first_into(&params, &x, n, depth, &mut acts, &mut scratch);
                for i in 0..depth {
                    let len = reference[i + 1].len();
                    assert_eq!(acts[i][..len], reference[i + 1][..], "layer {i}, n {n}");
                }
            }
        }
    }

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
    fn no_input_gradient_is_counted_below_the_first_layer_with_parameters() {
        // paper_fc starts with a Flatten: its first Dense (layer 1) forms only its weight
        // gradient, and the Flatten nothing.
        let m = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
        assert_eq!(m.first_trainable(), 1);
        let fwd = 784 * 128 + 7 * 128 * 128 + 128 * 10;
        assert_eq!(m.macs_per_sample(), (fwd, 2 * fwd - 784 * 128));
        let article = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert_eq!(article.first_trainable(), 0);
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

    fn relus(n: usize) -> ModelSpec {
        ModelSpec { input_shape: [2, 2, 1], layers: vec![LayerSpec::Activation(Activation::Relu); n] }
    }

    #[test]
    fn deep_models_are_named_like_keras_and_capped() {
        let m = Sequential::from_spec(&relus(MAX_LAYERS)).unwrap();
        assert_eq!(m.names()[0], "re_lu");
        assert_eq!(m.names()[MAX_LAYERS - 1], format!("re_lu_{}", MAX_LAYERS - 1));
        let err = Sequential::from_spec(&relus(MAX_LAYERS + 1)).unwrap_err().to_string();
        assert!(err.contains("more than the 1000 allowed"), "{err}");
    }

    #[test]
    fn training_memory_counts_parameters_per_slice_and_workspaces_per_thread() {
        let m = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let one = m.training_bytes(SLICE, 1);
        let p = m.param_count() as u64 * 4;
        // One more slice adds a gradient; a second thread adds a workspace.
        assert_eq!(m.training_bytes(2 * SLICE, 1) - one, p);
        let workspace = m.training_bytes(2 * SLICE, 2) - m.training_bytes(2 * SLICE, 1);
        assert_eq!(one, (TRAINING_PARAM_COPIES + 1) * p + workspace);
        // A thread without a slice to run has no workspace.
        assert_eq!(m.training_bytes(SLICE, 8), one);
        // The article's model trains in well under 100 MB.
        assert!(one < 100_000_000 && workspace > 64 * 26 * 26 * 32 * 4, "{one} {workspace}");
        m.check_memory_within(250, 2, 1 << 30).unwrap();
    }

    #[test]
    fn a_model_that_needs_more_memory_than_available_names_the_layer() {
        let mut spec = ModelSpec::article();
        spec.layers.truncate(2);
        if let LayerSpec::Conv2d { filters, .. } = &mut spec.layers[0] {
            *filters = 300_000;
        }
        let m = Sequential::from_spec(&spec).unwrap();
        // The 26x26x300,000 outputs of 64 samples are 51.9 GB, the ELU's as many, and the two
        // gradient buffers twice that: 156 GB up to the convolution, 208 GB in all.
        assert!(m.training_bytes(SLICE, 1) > 2 * 51_916_800_000);
        let err = m.check_memory_within(SLICE, 1, 8_000_000_000).unwrap_err();
        assert!(matches!(err, Error::Memory { index: 0, .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("layer 0 (conv2d): training needs") && text.contains("more than the 8.0 GB"),
            "{text}"
        );
        let err = m.check_memory_within(SLICE, 1, 180_000_000_000).unwrap_err();
        assert!(matches!(err, Error::Memory { index: 1, .. }), "{err:?}");
        assert!(err.hint().is_some_and(|h| h.contains("fewer filters")));
        // Sizes beyond usize (an im2col of a huge kernel) are counted, not wrapped.
        let conv = LayerSpec::Conv2d {
            filters: 1,
            kernel_size: [1 << 14, 1 << 14],
            strides: [1, 1],
            padding: crate::layers::Padding::Same,
            use_bias: false,
            kernel_initializer: crate::init::Init::Zeros,
            activation: None,
        };
        let m = Sequential::from_spec(&ModelSpec { input_shape: [1 << 14, 1 << 14, 1], layers: vec![conv] }).unwrap();
        assert_eq!(m.training_bytes(SLICE, 1), u64::MAX);
        assert!(matches!(m.check_memory(SLICE, 1), Err(Error::Memory { index: 0, .. })));
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
    fn an_activation_argument_adds_its_layer_with_keras_names() {
        use crate::model::ActivationArg;
        let dense = |act: Option<Activation>| LayerSpec::Dense {
            units: 4,
            use_bias: true,
            kernel_initializer: crate::init::Init::HeNormal,
            activation: act.map(ActivationArg::Function),
        };
        let layers = vec![
            dense(Some(Activation::Linear)),
            dense(Some(Activation::Prelu { init: 0.1 })),
            dense(Some(Activation::Selu)),
            LayerSpec::Activation(Activation::Selu),
            dense(None),
            LayerSpec::Activation(Activation::LeakyRelu { negative_slope: 0.2 }),
        ];
        let m = Sequential::from_spec(&ModelSpec { input_shape: [1, 1, 3], layers }).unwrap();
        assert_eq!(
            m.names(),
            ["dense", "dense_1", "p_re_lu", "dense_2", "activation", "activation_1", "dense_3", "leaky_re_lu"]
        );
        // PReLU's slopes are parameters, one per unit, starting at init.
        assert_eq!(m.param_range(2).len(), 4);
        assert_eq!(m.init_params(1)[m.param_range(2)], [0.1; 4]);
        assert!(m.summary().contains("p_re_lu (PReLU)"), "{}", m.summary());
        let kinds: Vec<_> = m.layers().iter().map(|l| l.kind().name()).collect();
        assert_eq!(kinds, ["dense", "dense", "prelu", "dense", "selu", "selu", "dense", "leaky_relu"]);
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
