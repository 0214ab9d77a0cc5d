//! `ModelCheckpoint`: save the weights after each epoch (or only the best) under a file name
//! template such as `ckpt-{epoch:02d}-{val_loss:.4f}.safetensors`.

use std::path::{Path, PathBuf};

use super::{Callback, CallbackState, Control, EpochEnd, TrainBegin};
use crate::error::{Error, Result};
use crate::train::checkpoint::save_weights;
use crate::train::config::{Mode, ModelCheckpointConfig, Monitor};
use crate::train::EpochMetrics;

/// Keras's `ModelCheckpoint(save_weights_only=True, save_freq="epoch")`: after each epoch the
/// weights go to the file the template names, relative to `dir`; with `save_best_only` only when
/// the monitored value beats the best so far (strictly; a NaN never does). The best value is
/// checkpointed with the run, so a resumed run saves the same files.
///
/// Template fields are Python format fields, as in Keras: `{epoch}` (counted from 1, with an
/// optional `:0Nd` or `:d`) and `{loss}`, `{accuracy}`, `{val_loss}`, `{val_accuracy}` (with an
/// optional `:.Nf` or `:.Ne`); `{{` and `}}` are literal braces. The name must end with
/// `.safetensors`. A bad template is an error before the first epoch.
#[derive(Debug)]
pub struct ModelCheckpoint {
    config: ModelCheckpointConfig,
    dir: PathBuf,
    best: Option<f64>,
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    /// `{epoch}` with its zero-padded width (0: none).
    Epoch {
        width: usize,
    },
    /// A metric with its precision and style (`f` or `e`); `None`: Python's `str(float)`.
    Metric {
        monitor: Monitor,
        format: Option<(usize, char)>,
    },
}

fn bad(template: &str, msg: impl std::fmt::Display) -> Error {
    Error::config("callbacks.model_checkpoint.filepath", format!("{template:?}: {msg}"))
}

/// Parses a template into pieces.
fn parse(template: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '}' => return Err(bad(template, "a lone '}' (write '}}' for a brace)")),
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => field.push(c),
                        None => return Err(bad(template, "a '{' without its '}'")),
                    }
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(parse_field(template, &field)?);
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn parse_field(template: &str, field: &str) -> Result<Piece> {
    let (name, spec) = field.split_once(':').unwrap_or((field, ""));
    if name == "epoch" {
        let width = match spec.strip_suffix('d') {
            _ if spec.is_empty() => 0,
            Some("") => 0,
            Some(w) if w.starts_with('0') && w.len() > 1 => {
                w[1..].parse().map_err(|_| bad(template, format!("bad width in {{{field}}}")))?
            }
            _ => {
                return Err(bad(template, format!("{{{field}}}: epoch takes no format or `:0Nd`, e.g. {{epoch:02d}}")))
            }
        };
        if width > 32 {
            return Err(bad(template, format!("{{{field}}}: width {width} is too large")));
        }
        return Ok(Piece::Epoch { width });
    }
    let monitor = Monitor::parse(name).map_err(|_| {
        bad(template, format!("unknown field {{{name}}}; the fields are epoch, loss, accuracy, val_loss, val_accuracy"))
    })?;
    let format = if spec.is_empty() {
        None
    } else {
        let style = spec.chars().last().filter(|c| *c == 'f' || *c == 'e');
        let digits = spec.strip_prefix('.').and_then(|s| s.get(..s.len().saturating_sub(1)));
        match (style, digits.and_then(|d| d.parse::<usize>().ok())) {
            (Some(style), Some(p)) if p <= 17 => Some((p, style)),
            _ => {
                return Err(bad(
                    template,
                    format!("{{{field}}}: metrics take `:.Nf` or `:.Ne` (N ≤ 17), e.g. {{{name}:.4f}}"),
                ))
            }
        }
    };
    Ok(Piece::Metric { monitor, format })
}

/// Checks a template: it parses, names only known fields, ends with `.safetensors`, and uses
/// validation metrics only when there is validation data.
pub fn check_template(template: &str, validated: bool) -> Result<()> {
    let pieces = parse(template)?;
    for p in &pieces {
        if let Piece::Metric { monitor, .. } = p {
            if monitor.needs_validation() && !validated {
                return Err(bad(
                    template,
                    format!("{{{}}} needs validation data, but data.validation_split is 0", monitor.name()),
                ));
            }
        }
    }
    if !template.ends_with(".safetensors") {
        return Err(bad(template, "the file name must end with .safetensors"));
    }
    Ok(())
}

/// Python's `str(float)` for the values that occur here: shortest round-trip digits.
fn python_str(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v == v.trunc() && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Python's `{:.Ne}`: mantissa, `e`, sign and at least two exponent digits.
fn python_exp(v: f64, p: usize) -> String {
    let s = format!("{v:.p$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// The file name for an epoch (`epoch` counted from 0) with its logs.
fn render(pieces: &[Piece], epoch: usize, logs: &EpochMetrics) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Epoch { width } => out.push_str(&format!("{:0width$}", epoch + 1, width = *width)),
            Piece::Metric { monitor, format } => {
                let v = logs.get(*monitor).unwrap_or(f64::NAN);
                out.push_str(&match format {
                    None => python_str(v),
                    Some((p, 'e')) => python_exp(v, *p),
                    Some((p, _)) => format!("{v:.p$}", p = *p),
                });
            }
        }
    }
    out
}

impl ModelCheckpoint {
    /// Saves into `dir` (relative templates are taken from there).
    pub fn new(config: ModelCheckpointConfig, dir: impl Into<PathBuf>) -> Self {
        ModelCheckpoint { config, dir: dir.into(), best: None }
    }

    /// The path the template gives for `epoch` (from 0) and `logs`.
    pub fn path_for(&self, epoch: usize, logs: &EpochMetrics) -> Result<PathBuf> {
        let name = render(&parse(&self.config.filepath)?, epoch, logs);
        Ok(self.dir.join(Path::new(&name)))
    }
}

impl Callback for ModelCheckpoint {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn state_key(&self) -> Option<&'static str> {
        Some("model_checkpoint")
    }

    fn save_state(&self) -> CallbackState {
        CallbackState { json: serde_json::json!({ "best": self.best }), tensors: vec![] }
    }

    fn load_state(&mut self, state: &CallbackState) -> Result<()> {
        self.best = state.json.get("best").and_then(serde_json::Value::as_f64);
        Ok(())
    }

    fn on_train_begin(&mut self, begin: &TrainBegin) -> Result<()> {
        check_template(&self.config.filepath, begin.val.is_some())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        if self.config.save_best_only {
            let Some(current) = end.logs.get(self.config.monitor) else { return Ok(Control::Continue) };
            let better = match self.config.mode.resolve(self.config.monitor) {
                Mode::Max => self.best.is_none_or(|b| current > b),
                _ => self.best.is_none_or(|b| current < b),
            };
            if !better || current.is_nan() {
                return Ok(Control::Continue);
            }
            self.best = Some(current);
        }
        let path = self.path_for(end.epoch, end.logs)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
        }
        save_weights(&path, end.model, end.params)?;
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> EpochMetrics {
        EpochMetrics { loss: 0.123456, accuracy: 0.9, val_loss: Some(0.0421), val_accuracy: Some(1.0), seconds: 0.0 }
    }

    fn name(t: &str, epoch: usize) -> String {
        render(&parse(t).unwrap(), epoch, &logs())
    }

    #[test]
    fn templates_render_like_python_format() {
        assert_eq!(name("ckpt-{epoch:02d}-{val_loss:.4f}.safetensors", 2), "ckpt-03-0.0421.safetensors");
        assert_eq!(name("e{epoch}-{loss:.2e}.safetensors", 9), "e10-1.23e-01.safetensors");
        assert_eq!(name("{val_accuracy}-{accuracy}.safetensors", 0), "1.0-0.9.safetensors");
        assert_eq!(name("{{x}}-{epoch:d}.safetensors", 0), "{x}-1.safetensors");
    }

    #[test]
    fn bad_templates_are_errors_naming_the_field() {
        for (t, needle) in [
            ("ckpt-{epcoh}.safetensors", "unknown field {epcoh}"),
            ("ckpt-{epoch:.2f}.safetensors", "epoch takes"),
            ("ckpt-{val_loss:4}.safetensors", "metrics take"),
            ("ckpt-{epoch.safetensors", "without its '}'"),
            ("ckpt-}.safetensors", "lone '}'"),
            ("ckpt-{epoch}.h5", "must end with .safetensors"),
        ] {
            let err = check_template(t, true).unwrap_err().to_string();
            assert!(err.contains("callbacks.model_checkpoint.filepath") && err.contains(needle), "{t}: {err}");
        }
        let err = check_template("c-{val_loss:.4f}.safetensors", false).unwrap_err().to_string();
        assert!(err.contains("needs validation data"), "{err}");
        check_template("c-{val_loss:.4f}.safetensors", true).unwrap();
    }
}
