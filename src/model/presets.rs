//! The registry of built-in models: `--model NAME` picks one, `elu-lab models` lists them.

use std::path::Path;

use super::ModelSpec;
use crate::error::{Error, Result};

/// The article's model, shipped as `models/article.toml`.
pub const ARTICLE_TOML: &str = include_str!("../../models/article.toml");

/// A built-in model: a model file compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// What `--model` takes.
    pub name: &'static str,
    /// One line saying what it is.
    pub description: &'static str,
    /// The model file's path in the repository.
    pub file: &'static str,
    /// The model file's text.
    pub toml: &'static str,
}

/// Every preset; the first is the default model.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "article",
        description: "the convnet of \"How to use ELU with Keras\": 2 conv + pool blocks, dense 256, ELU, he_normal (431,242 parameters)",
        file: "models/article.toml",
        toml: ARTICLE_TOML,
    },
    Preset {
        name: "paper_fc",
        description: "the ELU paper's MNIST network: 784 -> 8 x 128 ELU -> 10, he_normal (217,354 parameters)",
        file: "models/paper_fc.toml",
        toml: include_str!("../../models/paper_fc.toml"),
    },
];

/// The names of the presets, comma-separated (for messages).
fn names() -> String {
    PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

impl ModelSpec {
    /// The preset called `name`.
    pub fn preset(name: &str) -> Result<Self> {
        let preset = PRESETS
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::config("model", format!("no preset called `{name}`; the presets are {}", names())))?;
        Self::parse(preset.toml, Path::new(preset.file))
    }

    /// A preset's name, or else a model file's path. Something that is neither is an error
    /// listing the presets.
    ///
    /// ```
    /// use std::path::Path;
    /// use elu_lab::activations::Activation;
    /// use elu_lab::model::{ModelSpec, Overrides, Sequential};
    ///
    /// let mut spec = ModelSpec::from_name_or_file(Path::new("paper_fc"))?;
    /// spec.apply(&Overrides { activation: Some(Activation::Relu), ..Default::default() })?;
    /// let model = Sequential::from_spec(&spec)?;
    /// assert_eq!(model.param_count(), 217_354);
    /// assert!(ModelSpec::from_name_or_file(Path::new("no-such-model")).is_err());
    /// # Ok::<(), elu_lab::Error>(())
    /// ```
    pub fn from_name_or_file(name_or_path: &Path) -> Result<Self> {
        if let Some(preset) = name_or_path.to_str().filter(|s| PRESETS.iter().any(|p| p.name == *s)) {
            return Self::preset(preset);
        }
        if !name_or_path.exists() {
            return Err(Error::config(
                "model",
                format!("`{}` is neither a preset ({}) nor an existing model file", name_or_path.display(), names()),
            ));
        }
        Self::load(name_or_path)
    }
}

/// The article's model (the first preset).
pub(crate) fn article() -> ModelSpec {
    // Every preset is parsed by a test, so this cannot fail in a released build.
    match ModelSpec::preset(PRESETS[0].name) {
        Ok(spec) => spec,
        Err(e) => unreachable!("the bundled article model is invalid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sequential;

    #[test]
    fn every_preset_builds_and_trains_on_mnist() {
        let expected = [("article", 431_242), ("paper_fc", 217_354)];
        assert_eq!(PRESETS.len(), expected.len());
        for (p, (name, params)) in PRESETS.iter().zip(expected) {
            assert_eq!(p.name, name);
            let model = Sequential::from_spec(&ModelSpec::preset(p.name).unwrap()).unwrap();
            model.check_trainable(10).unwrap();
            assert_eq!(model.param_count(), params, "{name}");
            // The file in the repository is the one compiled in.
            let on_disk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p.file)).unwrap();
            assert_eq!(on_disk, p.toml);
        }
        assert_eq!(ModelSpec::article(), ModelSpec::preset("article").unwrap());
    }

    #[test]
    fn names_resolve_before_paths_and_neither_is_an_error_listing_presets() {
        assert_eq!(
            ModelSpec::from_name_or_file(Path::new("paper_fc")).unwrap(),
            ModelSpec::preset("paper_fc").unwrap()
        );
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/article.toml");
        assert_eq!(ModelSpec::from_name_or_file(&file).unwrap(), ModelSpec::article());
        let err = ModelSpec::from_name_or_file(Path::new("no-such-model")).unwrap_err().to_string();
        assert!(err.contains("no-such-model") && err.contains("article, paper_fc"), "{err}");
        let err = ModelSpec::preset("lenet").unwrap_err().to_string();
        assert!(err.contains("lenet") && err.contains("article, paper_fc"), "{err}");
    }
}
