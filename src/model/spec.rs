//! Model files: a Sequential model described in TOML (input shape and the list of layers).

use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layers::{LayerKind, Padding};
use crate::limits::{excerpt, excerpt_to, MAX_CONFIG_BYTES, MAX_LAYERS};

/// Most values, tables and lines a model file may have (see [`ModelSpec::parse`]): 100 per
/// layer, far more than any layer needs, and few enough to parse in well under 100 MB.
pub const MAX_MODEL_ITEMS: usize = 100 * MAX_LAYERS;

fn default_strides() -> [usize; 2] {
    [1, 1]
}
fn default_pool() -> [usize; 2] {
    [2, 2]
}
fn yes() -> bool {
    true
}
fn default_init() -> Init {
    Init::GlorotUniform
}

/// The `activation` argument of Conv2D and Dense: an activation layer added after it. Written
/// as a name (`activation = "softmax"`, `"elu"`: the function with its default parameters, as
/// in Keras) or as a table with parameters (`activation = { type = "elu", alpha = 0.5 }`).
/// `"linear"` (Keras's default) adds no layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationArg {
    /// The softmax that ends a classifier (not element-wise: it is no [`Activation`]).
    Softmax,
    /// An activation function.
    Function(Activation),
}

impl ActivationArg {
    /// The name in a model file ("softmax", "elu", ...).
    pub fn name(&self) -> &'static str {
        match self {
            ActivationArg::Softmax => "softmax",
            ActivationArg::Function(a) => a.name(),
        }
    }

    /// The argument called `name` ("softmax" or an activation's name, with its defaults).
    pub fn from_name(name: &str) -> Result<Self> {
        if name == "softmax" {
            return Ok(ActivationArg::Softmax);
        }
        Activation::from_name(name).map(ActivationArg::Function).map_err(|_| {
            let known: Vec<_> = std::iter::once("softmax").chain(Activation::names()).collect();
            Error::config("activation", format!("unknown activation `{name}`; expected one of {}", known.join(", ")))
        })
    }
}

impl Serialize for ActivationArg {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ActivationArg::Function(a) if !a.has_default_parameters() => a.serialize(s),
            _ => s.serialize_str(self.name()),
        }
    }
}

impl<'de> Deserialize<'de> for ActivationArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Table(Activation),
        }
        match Repr::deserialize(d).map_err(|_| {
            D::Error::custom("expected an activation's name (\"softmax\", \"elu\", ...) or a table such as { type = \"elu\", alpha = 1.0 }")
        })? {
            Repr::Name(name) => ActivationArg::from_name(&name).map_err(|e| match e {
                Error::Config { msg, .. } => D::Error::custom(msg),
                e => D::Error::custom(e),
            }),
            Repr::Table(a) => Ok(ActivationArg::Function(a)),
        }
    }
}

/// One layer of a model file, with Keras's names and defaults. Activation layers are read and
/// written by [`ModelSpec`]: serde's derived code for this type knows the other layers only
/// (an untagged variant in it would hide every other layer's error behind "data did not match
/// any variant").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv2d {
        filters: usize,
        kernel_size: [usize; 2],
        #[serde(default = "default_strides")]
        strides: [usize; 2],
        #[serde(default)]
        padding: Padding,
        #[serde(default = "yes")]
        use_bias: bool,
        #[serde(default = "default_init")]
        kernel_initializer: Init,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation: Option<ActivationArg>,
    },
    #[serde(rename = "max_pooling2d")]
    MaxPooling2d {
        #[serde(default = "default_pool")]
        pool_size: [usize; 2],
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strides: Option<[usize; 2]>,
    },
    Dropout {
        rate: f32,
    },
    Flatten,
    Dense {
        units: usize,
        #[serde(default = "yes")]
        use_bias: bool,
        #[serde(default = "default_init")]
        kernel_initializer: Init,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation: Option<ActivationArg>,
    },
    Softmax,
    /// An activation layer: its `type` is the function's name (`type = "elu"`), its parameters
    /// stand beside it (`alpha = 1.0`).
    #[serde(skip)]
    Activation(Activation),
}

/// The `type`s of the layers that are not activations (those are [`Activation::names`]).
const OTHER_LAYER_TYPES: [&str; 6] = ["conv2d", "max_pooling2d", "dropout", "flatten", "dense", "softmax"];

impl LayerSpec {
    /// What the layer is.
    pub fn kind(&self) -> LayerKind {
        match *self {
            LayerSpec::Conv2d { .. } => LayerKind::Conv2d,
            LayerSpec::MaxPooling2d { .. } => LayerKind::MaxPooling2d,
            LayerSpec::Dropout { .. } => LayerKind::Dropout,
            LayerSpec::Flatten => LayerKind::Flatten,
            LayerSpec::Dense { .. } => LayerKind::Dense,
            LayerSpec::Softmax => LayerKind::Softmax,
            LayerSpec::Activation(a) => LayerKind::Activation(a),
        }
    }

    /// Whether it is an activation layer (PReLU included): those `--activation` replaces.
    pub fn is_hidden_activation(&self) -> bool {
        matches!(self, LayerSpec::Activation(_))
    }

    /// The layer's `type` in a model file.
    pub fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// The activation function of an activation layer.
    pub fn activation(&self) -> Option<Activation> {
        self.kind().activation()
    }
}

/// A whole model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// (height, width, channels) of one input image.
    pub input_shape: [usize; 3],
    #[serde(serialize_with = "layers_to_tables", deserialize_with = "layers_from_tables")]
    pub layers: Vec<LayerSpec>,
}

/// Writes the layers: an activation layer as its function (`type = "elu"`, `alpha = 1.0`), the
/// others by [`LayerSpec`]'s own code.
fn layers_to_tables<S: Serializer>(layers: &[LayerSpec], s: S) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Table<'a> {
        Activation(&'a Activation),
        Other(&'a LayerSpec),
    }
    s.collect_seq(layers.iter().map(|l| match l {
        LayerSpec::Activation(a) => Table::Activation(a),
        other => Table::Other(other),
    }))
}

/// Reads the layers: activation layers by their function's `type`, the others by
/// [`LayerSpec`]'s own code.
fn layers_from_tables<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<LayerSpec>, D::Error> {
    let tables = Vec::<toml::Value>::deserialize(d)?;
    let layer = |table: toml::Value| {
        let kind = table.get("type").and_then(toml::Value::as_str);
        if kind.is_some_and(|k| Activation::from_name(k).is_ok()) {
            Activation::deserialize(table).map(LayerSpec::Activation)
        } else {
            LayerSpec::deserialize(table)
        }
    };
    tables.into_iter().map(|t| layer(t).map_err(|e| D::Error::custom(e.to_string().trim()))).collect()
}

/// Checks each layer's table before the whole file is parsed, so that errors name the layer:
/// its `type` must be known, and an activation layer's settings must be its function's.
/// (serde's `deny_unknown_fields` does not reach the layers without settings: an internally
/// tagged unit variant ignores the rest of its table, so `type = "relu"` with `alpha = 0.1`
/// would be accepted and the `alpha` silently dropped.)
fn check_layer_tables(table: &toml::Table, path: &Path) -> Result<()> {
    let Some(layers) = table.get("layers").and_then(toml::Value::as_array) else { return Ok(()) };
    let error = |msg: String| Error::ModelFile { path: path.to_path_buf(), msg };
    for (i, layer) in layers.iter().enumerate() {
        let Some(layer) = layer.as_table() else { continue };
        let Some(kind) = layer.get("type").and_then(toml::Value::as_str) else { continue };
        // The keys a layer of this type may have, when serde cannot be trusted to check them.
        let allowed: Vec<String> = match Activation::from_name(kind) {
            Ok(default) => {
                Activation::deserialize(toml::Value::Table(layer.clone()))
                    .map_err(|e| error(format!("layer {i} ({kind}): {}", excerpt(e.to_string().trim()))))?;
                match toml::Value::try_from(default) {
                    Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
                    _ => continue,
                }
            }
            Err(_) if ["flatten", "softmax"].contains(&kind) => vec!["type".to_string()],
            Err(_) if OTHER_LAYER_TYPES.contains(&kind) => continue,
            Err(_) => {
                let known: Vec<_> = OTHER_LAYER_TYPES.into_iter().chain(Activation::names()).collect();
                return Err(error(format!(
                    "layer {i}: unknown layer type `{}`; expected one of {}",
                    excerpt(kind),
                    known.join(", ")
                )));
            }
        };
        if let Some(key) = layer.keys().find(|k| !allowed.contains(k)) {
            let settings: Vec<_> = allowed.iter().filter(|k| *k != "type").map(String::as_str).collect();
            let expected = if settings.is_empty() {
                format!("a {kind} layer has no settings")
            } else {
                format!("a {kind} layer has {}", settings.join(", "))
            };
            return Err(error(format!("layer {i} ({kind}): unknown field `{}`; {expected}", excerpt(key))));
        }
    }
    Ok(())
}

/// A TOML error as "TOML parse error at line L, column C: MESSAGE", then an excerpt of the
/// offending line around the column: the error's own text quotes the whole line, which may be
/// megabytes long. The message itself (which may quote a value) is cut to an excerpt too.
fn toml_error_text(e: &toml::de::Error, text: &str) -> String {
    let message = excerpt(e.message().trim());
    let Some(span) = e.span() else { return format!("TOML parse error: {message}") };
    let at = char_floor(text, span.start);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line_no = text[..at].matches('\n').count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    // Up to 60 characters either side of the error, marked where the line was cut.
    let before: String = text[line_start..at].chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
    let cut_before = if before.len() < at - line_start { "…" } else { "" };
    let after = excerpt_to(&text[at..line_end], 60);
    format!("TOML parse error at line {line_no}, column {column}: {message}\n  | {cut_before}{before}{after}")
}

/// The largest character boundary of `text` at or before byte `i`.
fn char_floor(text: &str, i: usize) -> usize {
    (0..=i.min(text.len())).rev().find(|&k| text.is_char_boundary(k)).unwrap_or(0)
}

/// What `--activation`, `--alpha`, `--negative-slope`, `--init` and `--dropout` change in a
/// model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    /// The function of every activation layer (the softmax and Conv2D's or Dense's own
    /// `activation` stay). SELU without an `init` also sets every kernel initialiser to
    /// lecun_normal, SELU's own (Klambauer et al. 2017): see [`Overrides::kernel_initializer`].
    pub activation: Option<Activation>,
    /// α in every ELU and CELU layer (after `activation`); the model must have one.
    pub alpha: Option<f32>,
    /// LeakyReLU's negative slope in every LeakyReLU layer (after `activation`); the model must
    /// have one.
    pub negative_slope: Option<f32>,
    /// The kernel initialiser of every Conv2D and Dense layer.
    pub init: Option<Init>,
    /// The rate of every Dropout layer.
    pub dropout: Option<f32>,
}

impl Overrides {
    /// The kernel initialiser these overrides give every Conv2D and Dense layer: `init` when it
    /// is set; otherwise lecun_normal when `activation` is SELU, whose self-normalisation
    /// assumes it (as `--activation selu` without `--init` trains); otherwise none (the model's
    /// own initialisers stay).
    ///
    /// ```
    /// use elu_lab::activations::Activation;
    /// use elu_lab::init::Init;
    /// use elu_lab::model::Overrides;
    ///
    /// let selu = Overrides { activation: Some(Activation::Selu), ..Default::default() };
    /// assert_eq!(selu.kernel_initializer(), Some(Init::LecunNormal));
    /// let given = Overrides { init: Some(Init::HeNormal), ..selu };
    /// assert_eq!(given.kernel_initializer(), Some(Init::HeNormal));
    /// assert_eq!(Overrides::default().kernel_initializer(), None);
    /// ```
    pub fn kernel_initializer(&self) -> Option<Init> {
        self.init.or(match self.activation {
            Some(Activation::Selu) => Some(Init::LecunNormal),
            _ => None,
        })
    }
}

impl ModelSpec {
    /// The article's model (the `article` preset).
    pub fn article() -> Self {
        super::presets::article()
    }

    /// Parses a model file's text; `path` names it in errors.
    ///
    /// Text over [`MAX_CONFIG_BYTES`] and models of more than [`MAX_LAYERS`] layers are refused;
    /// error messages quote at most a short excerpt of the text.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file_error = |msg: String| Error::ModelFile { path: path.to_path_buf(), msg };
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(file_error(format!(
                "the model file is {} bytes, more than the {MAX_CONFIG_BYTES} bytes allowed",
                text.len()
            )));
        }
        // The TOML parser keeps about a kilobyte per value or table: bound their number before
        // parsing (counting the characters that separate them, also where they are quoted).
        let items = text.bytes().filter(|b| b",=[{\n".contains(b)).count();
        if items > MAX_MODEL_ITEMS {
            return Err(file_error(format!(
                "the model file has {items} values, tables or lines (counting `,` `=` `[` `{{` and line breaks), \
                 more than the {MAX_MODEL_ITEMS} that a model of at most {MAX_LAYERS} layers needs"
            )));
        }
        let table: toml::Table = toml::from_str(text).map_err(|e| file_error(toml_error_text(&e, text)))?;
        check_layer_tables(&table, path)?;
        let spec: ModelSpec = toml::from_str(text).map_err(|e| file_error(toml_error_text(&e, text)))?;
        if spec.layers.is_empty() {
            return Err(file_error("the model has no layers".into()));
        }
        if spec.layers.len() > MAX_LAYERS {
            return Err(file_error(format!(
                "the model has {} layers, more than the {MAX_LAYERS} allowed",
                spec.layers.len()
            )));
        }
        Ok(spec)
    }

    /// Reads and parses a model file: a regular file (or a symlink to one) of at most
    /// [`MAX_CONFIG_BYTES`], checked before it is read.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::limits::read_config_text(path, "model file")?;
        Self::parse(&text, path)
    }

    /// The model as TOML text (what `summary.json` and checkpoints record).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The kernel initialiser of the first Conv2D or Dense layer.
    pub fn kernel_initializer(&self) -> Option<Init> {
        self.layers.iter().find_map(|l| match l {
            LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } => {
                Some(*kernel_initializer)
            }
            _ => None,
        })
    }

    /// Applies the overrides to every matching layer. `alpha` and `negative_slope` need a layer
    /// of their function (after `activation`): otherwise they would be ignored, and that is an
    /// error (the model is left unchanged).
    pub fn apply(&mut self, o: &Overrides) -> Result<()> {
        let after: Vec<Activation> =
            self.layers.iter().filter_map(LayerSpec::activation).map(|a| o.activation.unwrap_or(a)).collect();
        let has = |name: &str| after.iter().any(|a| a.name() == name);
        if o.alpha.is_some() && !has("elu") && !has("celu") {
            return Err(Error::config("alpha", "sets ELU's and CELU's α, but the model has no elu or celu layer"));
        }
        if o.negative_slope.is_some() && !has("leaky_relu") {
            return Err(Error::config(
                "negative_slope",
                "sets LeakyReLU's negative slope, but the model has no leaky_relu layer",
            ));
        }
        for layer in &mut self.layers {
            match layer {
                LayerSpec::Activation(act) => {
                    if let Some(a) = o.activation {
                        *act = a;
                    }
                    match act {
                        Activation::Elu { alpha } | Activation::Celu { alpha } => *alpha = o.alpha.unwrap_or(*alpha),
                        Activation::LeakyRelu { negative_slope } => {
                            *negative_slope = o.negative_slope.unwrap_or(*negative_slope)
                        }
                        Activation::Linear
                        | Activation::Relu
                        | Activation::Selu
                        | Activation::Prelu { .. }
                        | Activation::Srelu
                        | Activation::Gelu
                        | Activation::GeluTanh
                        | Activation::Silu
                        | Activation::Mish
                        | Activation::Softplus
                        | Activation::Tanh
                        | Activation::Sigmoid => {}
                    }
                }
                LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } => {
                    *kernel_initializer = o.kernel_initializer().unwrap_or(*kernel_initializer);
                }
                LayerSpec::Dropout { rate } => *rate = o.dropout.unwrap_or(*rate),
                LayerSpec::MaxPooling2d { .. } | LayerSpec::Flatten | LayerSpec::Softmax => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elu(alpha: f32) -> LayerSpec {
        LayerSpec::Activation(Activation::Elu { alpha })
    }

    #[test]
    fn article_model_file_parses() {
        let spec = ModelSpec::article();
        assert_eq!(spec.input_shape, [28, 28, 1]);
        assert_eq!(spec.layers.len(), 12);
        assert_eq!(spec.layers[1], elu(1.0));
        assert!(matches!(spec.layers[11], LayerSpec::Dense { activation: Some(ActivationArg::Softmax), .. }));
    }

    #[test]
    fn overrides_reach_every_matching_layer() {
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides {
            activation: Some(Activation::Relu),
            init: Some(Init::GlorotUniform),
            dropout: Some(0.5),
            ..Default::default()
        })
        .unwrap();
        let relu = LayerSpec::Activation(Activation::Relu);
        assert_eq!(spec.layers.iter().filter(|l| **l == relu).count(), 3);
        assert!(!spec.layers.iter().any(|l| matches!(l, LayerSpec::Activation(Activation::Elu { .. }))));
        assert_eq!(spec.layers.iter().filter(|l| **l == LayerSpec::Dropout { rate: 0.5 }).count(), 2);
        for l in &spec.layers {
            if let LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } = l {
                assert_eq!(*kernel_initializer, Init::GlorotUniform);
            }
        }
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { alpha: Some(0.1), ..Default::default() }).unwrap();
        assert_eq!(spec.layers.iter().filter(|l| **l == elu(0.1)).count(), 3);
        // PReLU is an activation layer like the others.
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Prelu { init: 0.25 }), ..Default::default() }).unwrap();
        assert_eq!(spec.layers.iter().filter(|l| l.type_name() == "prelu").count(), 3);
        spec.apply(&Overrides { activation: Some(Activation::Selu), ..Default::default() }).unwrap();
        assert_eq!(spec.layers.iter().filter(|l| l.type_name() == "selu").count(), 3);
    }

    #[test]
    fn alpha_is_elus_and_negative_slope_is_leaky_relus() {
        let leaky = |negative_slope| LayerSpec::Activation(Activation::LeakyRelu { negative_slope });
        let mut spec = ModelSpec::article();
        let o = Overrides { activation: Some(Activation::from_name("leaky_relu").unwrap()), ..Default::default() };
        spec.apply(&Overrides { negative_slope: Some(0.05), ..o }).unwrap();
        assert_eq!(spec.layers.iter().filter(|l| **l == leaky(0.05)).count(), 3);
        // --alpha no longer reaches LeakyReLU: with no ELU layer it is an error, and nothing changes.
        let mut spec = ModelSpec::article();
        let err = spec.apply(&Overrides { alpha: Some(0.1), ..o }).unwrap_err().to_string();
        assert!(err.contains("alpha") && err.contains("no elu or celu layer"), "{err}");
        assert_eq!(spec, ModelSpec::article());
        let err = spec.apply(&Overrides { negative_slope: Some(0.1), ..Default::default() }).unwrap_err().to_string();
        assert!(err.contains("negative_slope") && err.contains("no leaky_relu layer"), "{err}");
        // --activation elu --alpha 0.5: the new ELU layers get the α.
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Relu), ..Default::default() }).unwrap();
        let o = Overrides { activation: Some(Activation::from_name("elu").unwrap()), alpha: Some(0.5), ..o };
        spec.apply(&o).unwrap();
        assert_eq!(spec.layers.iter().filter(|l| **l == elu(0.5)).count(), 3);
        // And CELU's.
        let o = Overrides { activation: Some(Activation::from_name("celu").unwrap()), alpha: Some(0.25), ..o };
        spec.apply(&o).unwrap();
        let celu = LayerSpec::Activation(Activation::Celu { alpha: 0.25 });
        assert_eq!(spec.layers.iter().filter(|l| **l == celu).count(), 3);
    }

    #[test]
    fn selu_brings_lecun_normal_unless_an_init_is_given() {
        let inits = |spec: &ModelSpec| -> Vec<Init> {
            spec.layers
                .iter()
                .filter_map(|l| match l {
                    LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } => {
                        Some(*kernel_initializer)
                    }
                    _ => None,
                })
                .collect()
        };
        let selu = Overrides { activation: Some(Activation::Selu), ..Default::default() };
        let mut spec = ModelSpec::article();
        assert_eq!(inits(&spec), [Init::HeNormal; 4]);
        spec.apply(&selu).unwrap();
        assert_eq!(inits(&spec), [Init::LecunNormal; 4]);
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { init: Some(Init::GlorotUniform), ..selu }).unwrap();
        assert_eq!(inits(&spec), [Init::GlorotUniform; 4]);
        // Other activations keep the model's initialisers.
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Gelu), ..Default::default() }).unwrap();
        assert_eq!(inits(&spec), [Init::HeNormal; 4]);
    }

    #[test]
    fn every_activation_is_a_layer_type_that_round_trips() {
        for a in Activation::ALL.into_iter().chain([Activation::Elu { alpha: 0.5 }]) {
            let spec = ModelSpec { input_shape: [4, 4, 2], layers: vec![LayerSpec::Activation(a)] };
            let text = spec.to_toml();
            assert!(text.contains(&format!("type = \"{}\"", a.name())), "{text}");
            assert_eq!(ModelSpec::parse(&text, Path::new("x")).unwrap(), spec, "{text}");
            // And as Conv2D's or Dense's `activation` argument, by name or as a table.
            let layers = vec![LayerSpec::Dense {
                units: 3,
                use_bias: true,
                kernel_initializer: Init::HeNormal,
                activation: Some(ActivationArg::Function(a)),
            }];
            let spec = ModelSpec { input_shape: [1, 1, 2], layers };
            let text = spec.to_toml();
            assert_eq!(ModelSpec::parse(&text, Path::new("x")).unwrap(), spec, "{text}");
        }
    }

    #[test]
    fn files_written_before_the_one_activation_type_still_load() {
        let text = "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"relu\"\n[[layers]]\ntype = \"elu\"\nalpha = 0.1\n\
                    [[layers]]\ntype = \"leaky_relu\"\n[[layers]]\ntype = \"prelu\"\ninit = 0.1\n[[layers]]\ntype = \"selu\"\n\
                    [[layers]]\ntype = \"softmax\"\n";
        let spec = ModelSpec::parse(text, Path::new("old.toml")).unwrap();
        let acts: Vec<_> = spec.layers.iter().map(LayerSpec::activation).collect();
        assert_eq!(
            acts,
            [
                Some(Activation::Relu),
                Some(Activation::Elu { alpha: 0.1 }),
                Some(Activation::LeakyRelu { negative_slope: 0.3 }),
                Some(Activation::Prelu { init: 0.1 }),
                Some(Activation::Selu),
                None,
            ]
        );
        for (fused, expected) in [
            ("linear", ActivationArg::Function(Activation::Linear)),
            ("elu", ActivationArg::Function(Activation::Elu { alpha: 1.0 })),
        ] {
            let text =
                format!("input_shape = [1, 1, 3]\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"{fused}\"\n");
            let spec = ModelSpec::parse(&text, Path::new("old.toml")).unwrap();
            assert!(
                matches!(spec.layers[0], LayerSpec::Dense { activation: Some(a), .. } if a == expected),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn unknown_layers_and_fields_are_errors_naming_the_file() {
        let p = Path::new("m.toml");
        let err = ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='lstm'\n", p).unwrap_err().to_string();
        assert!(err.starts_with("m.toml") && err.contains("`lstm`") && err.contains("conv2d, "), "{err}");
        for name in Activation::names() {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        let err = ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='dense'\nunits=3\nfoo=1\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("foo"), "{err}");
        let err =
            ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='relu'\nalpha=0.1\n", p).unwrap_err().to_string();
        assert!(err.contains("layer 0 (relu): unknown field `alpha`"), "{err}");
        let err = ModelSpec::parse(
            "input_shape=[28,28,1]\n[[layers]]\ntype='flatten'\n[[layers]]\ntype='elu'\nalfa=0.1\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("layer 1 (elu)") && err.contains("alfa"), "{err}");
        let err = ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='elu'\nalpha='big'\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 0 (elu)") && err.contains("big"), "{err}");
        let err = ModelSpec::parse("input_shape=[1,1,3]\n[[layers]]\ntype='dense'\nunits=3\nactivation='tanhh'\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`tanhh`") && err.contains("softmax, linear"), "{err}");
        let err = ModelSpec::parse("input_shape=[28,28,1]\nlayers=[]\n", p).unwrap_err().to_string();
        assert!(err.contains("no layers"), "{err}");
    }

    #[test]
    fn every_other_layer_type_is_known() {
        let text = "input_shape = [8, 8, 1]\n\
                    [[layers]]\ntype = 'conv2d'\nfilters = 2\nkernel_size = [3, 3]\n\
                    [[layers]]\ntype = 'max_pooling2d'\n[[layers]]\ntype = 'dropout'\nrate = 0.1\n\
                    [[layers]]\ntype = 'flatten'\n[[layers]]\ntype = 'dense'\nunits = 3\n[[layers]]\ntype = 'softmax'\n";
        let spec = ModelSpec::parse(text, Path::new("x")).unwrap();
        let types: Vec<_> = spec.layers.iter().map(LayerSpec::type_name).collect();
        assert_eq!(types, OTHER_LAYER_TYPES);
    }

    #[test]
    fn errors_quote_an_excerpt_of_a_long_line_not_all_of_it() {
        let p = Path::new("m.toml");
        let long = format!("input_shape = [28, 28, 1] {}\n", "x".repeat(1_000_000));
        let err = ModelSpec::parse(&long, p).unwrap_err().to_string();
        assert!(err.len() < 1000, "{} bytes: {}", err.len(), &err[..1000.min(err.len())]);
        assert!(err.contains("TOML parse error at line 1, column 27"), "{err}");
        let value = format!("input_shape=[28,28,1]\n[[layers]]\ntype='{}'\n", "q".repeat(100_000));
        let err = ModelSpec::parse(&value, p).unwrap_err().to_string();
        let head = &err[..err.len().min(1000)];
        assert!(err.len() < 1000 && err.contains("layer 0: unknown layer type") && err.contains('…'), "{head}");
        // Multi-byte characters are cut on their boundaries.
        let err = ModelSpec::parse(&format!("input_shape = é{}", "é".repeat(500)), p).unwrap_err().to_string();
        assert!(err.contains("column 15"), "{err}");
    }

    #[test]
    fn too_many_layers_and_too_much_text_are_refused() {
        let p = Path::new("m.toml");
        let layers = "[[layers]]\ntype = \"relu\"\n".repeat(MAX_LAYERS + 1);
        let many = format!("input_shape = [2, 2, 1]\n{}", "[[layers]]\ntype = \"relu\"\n".repeat(MAX_LAYERS * 30));
        let err = ModelSpec::parse(&many, p).unwrap_err().to_string();
        assert!(err.contains("values, tables or lines") && err.contains("more than the 100000"), "{err}");
        let long_array = format!("input_shape = [{}1]\n", "1,".repeat(MAX_MODEL_ITEMS));
        assert!(ModelSpec::parse(&long_array, p).unwrap_err().to_string().contains("more than the 100000"));
        let err = ModelSpec::parse(&format!("input_shape = [2, 2, 1]\n{layers}"), p).unwrap_err().to_string();
        assert!(err.contains(&format!("{} layers, more than the {MAX_LAYERS} allowed", MAX_LAYERS + 1)), "{err}");
        let text = " ".repeat(MAX_CONFIG_BYTES as usize + 1);
        assert!(ModelSpec::parse(&text, p).unwrap_err().to_string().contains("bytes allowed"));
    }

    #[test]
    fn load_refuses_what_is_not_a_regular_file() {
        if Path::new("/dev/zero").exists() {
            let err = ModelSpec::load(Path::new("/dev/zero")).unwrap_err();
            assert!(matches!(err, Error::InputFile { .. }), "{err:?}");
        }
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(ModelSpec::load(d.path()), Err(Error::InputFile { .. })));
    }

    #[test]
    fn round_trips_through_toml() {
        let spec = ModelSpec::article();
        let again = ModelSpec::parse(&spec.to_toml(), Path::new("x")).unwrap();
        assert_eq!(spec, again);
    }
}
