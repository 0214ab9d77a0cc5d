//! Model files: a Sequential model described in TOML (input shape and the list of layers).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layers::Padding;
use crate::limits::{excerpt, excerpt_to, MAX_CONFIG_BYTES, MAX_LAYERS};

/// Most values, tables and lines a model file may have (see [`ModelSpec::parse`]): 100 per
/// layer, far more than any layer needs, and few enough to parse in well under 100 MB.
pub const MAX_MODEL_ITEMS: usize = 100 * MAX_LAYERS;

/// The article's model, shipped as `models/article.toml`.
pub const ARTICLE_TOML: &str = include_str!("../../models/article.toml");

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
fn one() -> f32 {
    1.0
}
fn leaky_default() -> f32 {
    0.3
}
fn prelu_default() -> f32 {
    0.25
}

/// The `activation` argument of Conv2D and Dense (a separate activation layer after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FusedActivation {
    Linear,
    Softmax,
    Relu,
    Elu,
    Selu,
}

/// One layer of a model file, with Keras's names and defaults.
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
        activation: Option<FusedActivation>,
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
        activation: Option<FusedActivation>,
    },
    Elu {
        #[serde(default = "one")]
        alpha: f32,
    },
    Relu,
    LeakyRelu {
        #[serde(default = "leaky_default")]
        negative_slope: f32,
    },
    Selu,
    Prelu {
        #[serde(default = "prelu_default")]
        init: f32,
    },
    Softmax,
}

impl LayerSpec {
    /// The layer as an activation, if it is one that `--activation` may replace.
    pub fn is_hidden_activation(&self) -> bool {
        matches!(
            self,
            LayerSpec::Elu { .. }
                | LayerSpec::Relu
                | LayerSpec::LeakyRelu { .. }
                | LayerSpec::Selu
                | LayerSpec::Prelu { .. }
        )
    }

    /// The layer's `type` in a model file.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::MaxPooling2d { .. } => "max_pooling2d",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Elu { .. } => "elu",
            LayerSpec::Relu => "relu",
            LayerSpec::LeakyRelu { .. } => "leaky_relu",
            LayerSpec::Selu => "selu",
            LayerSpec::Prelu { .. } => "prelu",
            LayerSpec::Softmax => "softmax",
        }
    }

    /// The parameter-free activation this spec describes, if any.
    pub fn activation(&self) -> Option<Activation> {
        match *self {
            LayerSpec::Elu { alpha } => Some(Activation::Elu { alpha }),
            LayerSpec::Relu => Some(Activation::Relu),
            LayerSpec::LeakyRelu { negative_slope } => Some(Activation::LeakyRelu { negative_slope }),
            LayerSpec::Selu => Some(Activation::Selu),
            _ => None,
        }
    }
}

/// A whole model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// (height, width, channels) of one input image.
    pub input_shape: [usize; 3],
    pub layers: Vec<LayerSpec>,
}

/// serde's `deny_unknown_fields` does not reach the layers without fields (an internally
/// tagged unit variant ignores the rest of its table), so `type = "relu"` with `alpha = 0.1`
/// would be accepted and the `alpha` silently dropped: reject any key besides `type` there.
fn check_fieldless_layers(text: &str, path: &Path) -> Result<()> {
    // The text parsed as a ModelSpec just before, so it parses as a table too.
    let Ok(table) = text.parse::<toml::Table>() else { return Ok(()) };
    let Some(layers) = table.get("layers").and_then(toml::Value::as_array) else { return Ok(()) };
    for (i, layer) in layers.iter().enumerate() {
        let Some(layer) = layer.as_table() else { continue };
        let kind = layer.get("type").and_then(toml::Value::as_str).unwrap_or_default();
        if !["flatten", "relu", "selu", "softmax"].contains(&kind) {
            continue;
        }
        if let Some(key) = layer.keys().find(|k| *k != "type") {
            return Err(Error::ModelFile {
                path: path.to_path_buf(),
                msg: format!("layer {i} ({kind}): unknown field `{key}`; a {kind} layer has no settings"),
            });
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

/// The hidden-activation choices of `--activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ActivationChoice {
    Elu,
    Relu,
    LeakyRelu,
    Selu,
    Prelu,
}

/// What `--activation`, `--alpha`, `--init` and `--dropout` change in a model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    pub activation: Option<ActivationChoice>,
    /// ELU's α (and LeakyReLU's slope when the activation is leaky_relu).
    pub alpha: Option<f32>,
    pub init: Option<Init>,
    pub dropout: Option<f32>,
}

impl ModelSpec {
    /// The article's model.
    pub fn article() -> Self {
        // The shipped file is parsed by a test, so this cannot fail in a released build.
        match Self::parse(ARTICLE_TOML, Path::new("models/article.toml")) {
            Ok(spec) => spec,
            Err(e) => unreachable!("the bundled article model is invalid: {e}"),
        }
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
        check_fieldless_layers(text, path)?;
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

    /// Applies the command line's overrides to every matching layer.
    pub fn apply(&mut self, o: &Overrides) {
        for layer in &mut self.layers {
            if layer.is_hidden_activation() {
                if let Some(choice) = o.activation {
                    *layer = match choice {
                        ActivationChoice::Elu => LayerSpec::Elu { alpha: 1.0 },
                        ActivationChoice::Relu => LayerSpec::Relu,
                        ActivationChoice::LeakyRelu => LayerSpec::LeakyRelu { negative_slope: 0.3 },
                        ActivationChoice::Selu => LayerSpec::Selu,
                        ActivationChoice::Prelu => LayerSpec::Prelu { init: 0.25 },
                    };
                }
                if let Some(a) = o.alpha {
                    match layer {
                        LayerSpec::Elu { alpha } => *alpha = a,
                        LayerSpec::LeakyRelu { negative_slope } => *negative_slope = a,
                        _ => {}
                    }
                }
            }
            match layer {
                LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } => {
                    if let Some(init) = o.init {
                        *kernel_initializer = init;
                    }
                }
                LayerSpec::Dropout { rate } => {
                    if let Some(d) = o.dropout {
                        *rate = d;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_model_file_parses() {
        let spec = ModelSpec::article();
        assert_eq!(spec.input_shape, [28, 28, 1]);
        assert_eq!(spec.layers.len(), 12);
        assert_eq!(spec.layers[1], LayerSpec::Elu { alpha: 1.0 });
    }

    #[test]
    fn overrides_reach_every_matching_layer() {
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides {
            activation: Some(ActivationChoice::Relu),
            alpha: None,
            init: Some(Init::GlorotUniform),
            dropout: Some(0.5),
        });
        assert_eq!(spec.layers.iter().filter(|l| **l == LayerSpec::Relu).count(), 3);
        assert!(!spec.layers.iter().any(|l| matches!(l, LayerSpec::Elu { .. })));
        assert_eq!(spec.layers.iter().filter(|l| **l == LayerSpec::Dropout { rate: 0.5 }).count(), 2);
        for l in &spec.layers {
            if let LayerSpec::Conv2d { kernel_initializer, .. } | LayerSpec::Dense { kernel_initializer, .. } = l {
                assert_eq!(*kernel_initializer, Init::GlorotUniform);
            }
        }
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { alpha: Some(0.1), ..Default::default() });
        assert_eq!(spec.layers.iter().filter(|l| **l == LayerSpec::Elu { alpha: 0.1 }).count(), 3);
    }

    #[test]
    fn unknown_layers_and_fields_are_errors_naming_the_file() {
        let p = Path::new("m.toml");
        let err = ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='lstm'\n", p).unwrap_err().to_string();
        assert!(err.starts_with("m.toml") && err.contains("lstm"), "{err}");
        let err = ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='dense'\nunits=3\nfoo=1\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("foo"), "{err}");
        let err =
            ModelSpec::parse("input_shape=[28,28,1]\n[[layers]]\ntype='relu'\nalpha=0.1\n", p).unwrap_err().to_string();
        assert!(err.contains("layer 0 (relu): unknown field `alpha`"), "{err}");
        let err = ModelSpec::parse("input_shape=[28,28,1]\nlayers=[]\n", p).unwrap_err().to_string();
        assert!(err.contains("no layers"), "{err}");
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
        assert!(err.len() < 1000 && err.contains("line 3") && err.contains('…'), "{err}");
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
