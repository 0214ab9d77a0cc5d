//! Weights and checkpoints as safetensors files: named per-layer tensors plus training state.
//!
//! `weights.safetensors` holds one tensor per layer parameter, named `<layer>.<param>` with
//! Keras's names and shapes (`conv2d.kernel`: (3, 3, 1, 32)). A checkpoint adds the optimiser's
//! moments (`optimizer.m`, `optimizer.v`, flat) and metadata: the epochs completed, the
//! optimiser's step count and settings, the history so far, whether a callback stopped
//! training, each stateful callback's state (JSON in the `callbacks` entry, its tensors as
//! `callbacks.<key>.<name>`, e.g. early stopping's best weights), and what the caller stores
//! (the run's configuration), so a run can continue exactly where it stopped.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::callbacks::CallbackState;
use super::history::History;
use crate::error::{Error, Result};
use crate::limits::{excerpt, MAX_CONFIG_BYTES};
use crate::model::Sequential;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::report::atomic_write;

/// Marks a file as an elu-lab checkpoint.
const FORMAT: &str = "elu-lab-checkpoint-2";

/// Training state at the end of an epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Epochs completed.
    pub epoch: usize,
    pub params: Vec<f32>,
    pub optimizer: Optimizer,
    pub history: History,
    /// Whether a callback (early stopping) ended training after `epoch` epochs.
    pub stopped: bool,
    /// The state of each stateful callback, by its key.
    pub callbacks: BTreeMap<String, CallbackState>,
    /// The caller's own entries (e.g. "config" as TOML).
    pub extra: HashMap<String, String>,
}

/// Metadata keys written by [`save_checkpoint`] itself; the others are the caller's.
const OWN_KEYS: [&str; 7] = ["format", "epoch", "iterations", "optimizer", "history", "stopped", "callbacks"];

fn bytes_of(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats_of(view: &TensorView, name: &str, path: &Path) -> Result<Vec<f32>> {
    if view.dtype() != Dtype::F32 {
        return Err(Error::checkpoint(path, format!("tensor {name} is {:?}, expected F32", view.dtype())));
    }
    Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// (name, shape, range in the flat buffer) of every parameter tensor of `model`.
fn layout(model: &Sequential) -> Vec<(String, Vec<usize>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for (i, layer) in model.layers().iter().enumerate() {
        let mut at = model.param_range(i).start;
        for (pname, shape) in layer.param_shapes() {
            let len: usize = shape.iter().product();
            out.push((format!("{}.{pname}", model.names()[i]), shape, at..at + len));
            at += len;
        }
    }
    out
}

fn serialize(
    model: &Sequential,
    params: &[f32],
    extra_tensors: &[(&str, &[f32])],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> =
        layout(model).into_iter().map(|(name, shape, r)| (name, shape, bytes_of(&params[r]))).collect();
    for (name, xs) in extra_tensors {
        owned.push((name.to_string(), vec![xs.len()], bytes_of(xs)));
    }
    let views = owned
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config("weights", e.to_string()))?;
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::config("weights", e.to_string()))
}

/// Reads the parameter tensors of `model` from parsed safetensors into a flat buffer.
fn read_params(st: &SafeTensors, model: &Sequential, path: &Path) -> Result<Vec<f32>> {
    let mut params = vec![0.0; model.param_count()];
    for (name, shape, r) in layout(model) {
        let view = st.tensor(&name).map_err(|_| {
            Error::checkpoint(path, format!("no tensor {name}; the file does not belong to this model"))
        })?;
        if view.shape() != shape.as_slice() {
            return Err(Error::checkpoint(
                path,
                format!("tensor {name} has shape {:?}, the model needs {shape:?}", view.shape()),
            ));
        }
        params[r].copy_from_slice(&floats_of(&view, &name, path)?);
    }
    Ok(params)
}

/// Largest JSON header (tensor table and metadata) read from a weights or checkpoint file:
/// room for a model file of [`MAX_CONFIG_BYTES`], the run's settings and a history of some
/// 100,000 epochs.
pub const MAX_HEADER_BYTES: u64 = 2 * MAX_CONFIG_BYTES;

/// Largest weights or checkpoint file read for tensors of `data_bytes` bytes in all: the
/// tensors, the 8-byte header length and at most [`MAX_HEADER_BYTES`] of header.
pub fn max_file_bytes(data_bytes: u64) -> u64 {
    data_bytes.saturating_add(8 + MAX_HEADER_BYTES)
}

/// Bytes of the tensors a file for `model` can hold: the weights, and for a checkpoint also
/// Adam's two moments and early stopping's best weights.
fn data_bytes(model: &Sequential, checkpoint: bool) -> u64 {
    let copies = if checkpoint { 4 } else { 1 };
    (model.param_count() as u64).saturating_mul(4 * copies)
}

/// Reads a weights or checkpoint file: a regular file of at most `max_file_bytes(data_bytes)`,
/// checked before it is read.
fn read(path: &Path, data_bytes: u64) -> Result<Vec<u8>> {
    let what = "weights or checkpoint file (for this model)";
    crate::limits::read_regular(path, max_file_bytes(data_bytes), what)
}

/// Reads only the JSON header of a safetensors file (its length first, at most
/// [`MAX_HEADER_BYTES`]), without the tensors.
fn read_header(path: &Path) -> Result<Vec<u8>> {
    let (file, len) = crate::limits::open_regular(path, u64::MAX, "checkpoint")?;
    let mut file = std::io::BufReader::new(file);
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|_| {
        Error::checkpoint(path, format!("not a valid safetensors file: {len} bytes, too short for a header"))
    })?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_BYTES || n > len.saturating_sub(8) {
        let why = if n > MAX_HEADER_BYTES {
            format!("more than the {MAX_HEADER_BYTES} allowed")
        } else {
            format!("but the file is {len} bytes")
        };
        return Err(Error::checkpoint(
            path,
            format!("not a valid safetensors file: its header claims {n} bytes, {why}"),
        ));
    }
    let mut header = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut header).map_err(|e| Error::read(path, e))?;
    Ok(header)
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::checkpoint(path, format!("not a valid safetensors file: {}", excerpt(&e.to_string()))))
}

/// Refuses non-finite values in `xs` (tensor `name`): training never saves them (it stops
/// first), so they mean the file was damaged or made by hand.
fn check_finite(xs: &[f32], name: &str, path: &Path, allow_inf: bool) -> Result<()> {
    match xs.iter().position(|x| x.is_nan() || (!allow_inf && x.is_infinite())) {
        None => Ok(()),
        Some(i) => Err(Error::checkpoint(
            path,
            format!("checkpoint holds a non-finite weight in tensor {name} ({} at index {i})", xs[i]),
        )),
    }
}

/// Writes the model's parameters (atomically).
pub fn save_weights(path: &Path, model: &Sequential, params: &[f32]) -> Result<()> {
    let meta = HashMap::from([("format".to_string(), "elu-lab-weights-1".to_string())]);
    atomic_write(path, &serialize(model, params, &[], meta)?)
}

/// Reads weights written by [`save_weights`] (or a checkpoint) for `model`.
///
/// The file must be a regular file no larger than `model`'s tensors need (a checkpoint's four
/// copies of the parameters, plus the header; see [`max_file_bytes`]), and every weight must be
/// finite ([`Error::Checkpoint`] otherwise).
pub fn load_weights(path: &Path, model: &Sequential) -> Result<Vec<f32>> {
    let bytes = read(path, data_bytes(model, true))?;
    let params = read_params(&parse(&bytes, path)?, model, path)?;
    check_weights(&params, model, path)?;
    Ok(params)
}

/// [`check_finite`] tensor by tensor, so that the error names the tensor.
fn check_weights(params: &[f32], model: &Sequential, path: &Path) -> Result<()> {
    layout(model).into_iter().try_for_each(|(name, _, r)| check_finite(&params[r], &name, path, false))
}

/// Writes a checkpoint (atomically: an interrupted write leaves the previous one intact).
pub fn save_checkpoint(path: &Path, model: &Sequential, ck: &Checkpoint) -> Result<()> {
    let mut meta = ck.extra.clone();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("epoch".into(), ck.epoch.to_string());
    meta.insert("iterations".into(), ck.optimizer.iterations.to_string());
    meta.insert("optimizer".into(), json(&ck.optimizer.config));
    meta.insert("history".into(), json(&ck.history));
    meta.insert("stopped".into(), ck.stopped.to_string());
    let mut names = Vec::new();
    let mut states = serde_json::Map::new();
    for (key, state) in &ck.callbacks {
        let tensor_names: Vec<&str> = state.tensors.iter().map(|(n, _)| n.as_str()).collect();
        states.insert(key.clone(), serde_json::json!({ "state": state.json, "tensors": tensor_names }));
        for (name, _) in &state.tensors {
            names.push(format!("callbacks.{key}.{name}"));
        }
    }
    meta.insert("callbacks".into(), serde_json::Value::Object(states).to_string());
    let mut tensors = vec![("optimizer.m", &ck.optimizer.m[..]), ("optimizer.v", &ck.optimizer.v[..])];
    let flat = ck.callbacks.values().flat_map(|s| s.tensors.iter().map(|(_, t)| t.as_slice()));
    tensors.extend(names.iter().map(String::as_str).zip(flat));
    atomic_write(path, &serialize(model, &ck.params, &tensors, meta)?)
}

/// Reads the metadata of a checkpoint (to rebuild the model before reading the tensors).
///
/// Only the header is read (at most [`MAX_HEADER_BYTES`]); [`load_checkpoint`] checks the
/// tensors.
pub fn checkpoint_metadata(path: &Path) -> Result<HashMap<String, String>> {
    /// The part of a safetensors header this needs (the tensor entries are skipped).
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__", default)]
        metadata: Option<HashMap<String, String>>,
    }
    let header = read_header(path)?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| Error::checkpoint(path, format!("not a valid safetensors file: header: {e}")))?;
    let meta = header.metadata.unwrap_or_default();
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some("elu-lab-checkpoint-1") => {
            return Err(Error::checkpoint(
                path,
                format!("written by an older elu-lab (format elu-lab-checkpoint-1); this version reads {FORMAT} and cannot resume it"),
            ))
        }
        _ => return Err(Error::checkpoint(path, format!("not an elu-lab checkpoint (expected format {FORMAT})"))),
    }
    Ok(meta)
}

/// Reads a checkpoint written by [`save_checkpoint`] for `model`.
pub fn load_checkpoint(path: &Path, model: &Sequential) -> Result<Checkpoint> {
    let meta = checkpoint_metadata(path)?;
    let bytes = read(path, data_bytes(model, true))?;
    let st = parse(&bytes, path)?;
    let params = read_params(&st, model, path)?;
    check_weights(&params, model, path)?;
    let field = |k: &str| meta.get(k).ok_or_else(|| Error::checkpoint(path, format!("checkpoint metadata has no {k}")));
    let bad = |k: &str, e: &dyn std::fmt::Display| Error::checkpoint(path, format!("checkpoint metadata {k}: {e}"));
    let epoch: usize = field("epoch")?.parse().map_err(|e| bad("epoch", &e))?;
    let iterations: u64 = field("iterations")?.parse().map_err(|e| bad("iterations", &e))?;
    let config: OptimizerConfig = serde_json::from_str(field("optimizer")?).map_err(|e| bad("optimizer", &e))?;
    let history: History = serde_json::from_str(field("history")?).map_err(|e| bad("history", &e))?;
    let moment = |name: &str, want: usize| -> Result<Vec<f32>> {
        let v = st.tensor(name).map_err(|_| Error::checkpoint(path, format!("no tensor {name}")))?;
        let xs = floats_of(&v, name, path)?;
        if xs.len() != want {
            return Err(Error::checkpoint(path, format!("tensor {name} has {} values, expected {want}", xs.len())));
        }
        // Adam's second moment may overflow to infinity in a run (the update is then 0); the
        // weights and the first moment never hold NaN or infinity.
        check_finite(&xs, name, path, name == "optimizer.v")?;
        Ok(xs)
    };
    let mut optimizer = Optimizer::new(config, params.len());
    optimizer.iterations = iterations;
    optimizer.m = moment("optimizer.m", optimizer.m.len())?;
    optimizer.v = moment("optimizer.v", optimizer.v.len())?;
    if history.epochs() != epoch {
        return Err(Error::checkpoint(
            path,
            format!("history has {} epochs but the checkpoint is at epoch {epoch}", history.epochs()),
        ));
    }
    let stopped = match meta.get("stopped").map(String::as_str) {
        Some("true") => true,
        Some("false") => false,
        other => return Err(bad("stopped", &format!("expected true or false, got {other:?}"))),
    };
    let states: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(field("callbacks")?).map_err(|e| bad("callbacks", &e))?;
    let mut callbacks = BTreeMap::new();
    for (key, entry) in states {
        let names = entry.get("tensors").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        let mut tensors = Vec::new();
        for name in names {
            let name = name.as_str().ok_or_else(|| bad("callbacks", &"a tensor name is not a string"))?;
            let full = format!("callbacks.{key}.{name}");
            tensors.push((name.to_string(), moment(&full, params.len())?));
        }
        let json = entry.get("state").cloned().unwrap_or_default();
        callbacks.insert(key, CallbackState { json, tensors });
    }
    let extra = meta.into_iter().filter(|(k, _)| !OWN_KEYS.contains(&k.as_str())).collect();
    Ok(Checkpoint { epoch, params, optimizer, history, stopped, callbacks, extra })
}

/// JSON text of a value (these values always serialise; NaN becomes null).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;
    use crate::train::EpochMetrics;

    fn model() -> Sequential {
        Sequential::from_spec(&ModelSpec::article()).unwrap()
    }

    #[test]
    fn weights_round_trip_with_keras_names_and_shapes() {
        let m = model();
        let p = m.init_params(1);
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("w.safetensors");
        save_weights(&path, &m, &p).unwrap();
        assert_eq!(load_weights(&path, &m).unwrap(), p);
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("conv2d.kernel").unwrap().shape(), &[3, 3, 1, 32]);
        assert_eq!(st.tensor("dense_1.bias").unwrap().shape(), &[10]);
    }

    #[test]
    fn checkpoint_round_trips_exactly() {
        let m = model();
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), m.param_count());
        let mut params = m.init_params(2);
        let grads: Vec<f32> = (0..params.len()).map(|i| (i % 7) as f32 * 1e-3).collect();
        opt.step(&mut params, &grads);
        let mut history = History::default();
        history.push(EpochMetrics {
            loss: 0.3,
            accuracy: 0.9,
            val_loss: Some(0.1),
            val_accuracy: Some(0.97),
            seconds: 1.5,
        });
        let extra = HashMap::from([("args".to_string(), "{\"x\":1}".to_string())]);
        let ck =
            Checkpoint { epoch: 1, params, optimizer: opt, history, stopped: false, callbacks: BTreeMap::new(), extra };
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ck.safetensors");
        save_checkpoint(&path, &m, &ck).unwrap();
        assert_eq!(load_checkpoint(&path, &m).unwrap(), ck);
        // With early stopping's state (its best value to the last bit, weights exactly).
        let state = CallbackState {
            json: serde_json::json!({ "best": 1.0 / 3.0, "wait": 1 }),
            tensors: vec![("best_weights".into(), m.init_params(5))],
        };
        let callbacks = BTreeMap::from([("early_stopping".to_string(), state)]);
        let ck = Checkpoint { stopped: true, callbacks, ..ck };
        save_checkpoint(&path, &m, &ck).unwrap();
        assert_eq!(load_checkpoint(&path, &m).unwrap(), ck);
    }

    #[test]
    fn garbage_and_foreign_files_are_errors_not_panics() {
        let m = model();
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("bad.safetensors");
        let mut rng = crate::rng::Rng::from_seed(9);
        for len in [0usize, 1, 7, 8, 9, 64, 300] {
            let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            std::fs::write(&path, &junk).unwrap();
            assert!(load_checkpoint(&path, &m).is_err());
            assert!(load_weights(&path, &m).is_err());
        }
        // A valid file for another model.
        let mut spec = ModelSpec::article();
        spec.layers[0] = crate::model::LayerSpec::Conv2d {
            filters: 16,
            kernel_size: [3, 3],
            strides: [1, 1],
            padding: Default::default(),
            use_bias: true,
            kernel_initializer: crate::init::Init::HeNormal,
            activation: None,
        };
        let other = Sequential::from_spec(&spec).unwrap();
        save_weights(&path, &other, &other.init_params(1)).unwrap();
        let err = load_weights(&path, &m).unwrap_err().to_string();
        assert!(err.contains("conv2d.kernel") && err.contains("shape"), "{err}");
        // Truncated checkpoint.
        let ck_path = d.path().join("ck.safetensors");
        let ck = Checkpoint {
            epoch: 0,
            params: m.init_params(1),
            optimizer: Optimizer::new(OptimizerConfig::adam(1e-3), m.param_count()),
            history: History::default(),
            stopped: false,
            callbacks: BTreeMap::new(),
            extra: HashMap::new(),
        };
        save_checkpoint(&ck_path, &m, &ck).unwrap();
        let bytes = std::fs::read(&ck_path).unwrap();
        std::fs::write(&ck_path, &bytes[..bytes.len() - 100]).unwrap();
        assert!(load_checkpoint(&ck_path, &m).is_err());
    }

    fn checkpoint_of(m: &Sequential) -> Checkpoint {
        Checkpoint {
            epoch: 0,
            params: m.init_params(1),
            optimizer: Optimizer::new(OptimizerConfig::adam(1e-3), m.param_count()),
            history: History::default(),
            stopped: false,
            callbacks: BTreeMap::new(),
            extra: HashMap::new(),
        }
    }

    #[test]
    fn non_finite_weights_in_a_file_are_a_checkpoint_error_naming_the_tensor() {
        let m = model();
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ck.safetensors");
        let mut ck = checkpoint_of(&m);
        ck.params[m.param_range(4).start + 5] = f32::NAN;
        save_checkpoint(&path, &m, &ck).unwrap();
        let err = load_checkpoint(&path, &m).unwrap_err();
        assert!(matches!(err, Error::Checkpoint { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("checkpoint holds a non-finite weight in tensor conv2d_1.kernel (NaN at index 5)"),
            "{text}"
        );
        assert!(!text.contains("epoch") && !err.hint().unwrap_or_default().contains("mnist"), "{text}");
        let w = d.path().join("w.safetensors");
        save_weights(&w, &m, &ck.params).unwrap();
        assert!(load_weights(&w, &m).unwrap_err().to_string().contains("tensor conv2d_1.kernel"));
        // In the optimiser's first moment; its second moment may be infinite, not NaN.
        let mut ck = checkpoint_of(&m);
        ck.optimizer.m[3] = f32::INFINITY;
        save_checkpoint(&path, &m, &ck).unwrap();
        assert!(load_checkpoint(&path, &m).unwrap_err().to_string().contains("tensor optimizer.m (inf at index 3)"));
        let mut ck = checkpoint_of(&m);
        ck.optimizer.v[3] = f32::INFINITY;
        save_checkpoint(&path, &m, &ck).unwrap();
        assert_eq!(load_checkpoint(&path, &m).unwrap(), ck);
    }

    #[test]
    fn files_larger_than_the_model_needs_or_not_regular_are_refused_unread() {
        let m = model();
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ck.safetensors");
        save_checkpoint(&path, &m, &checkpoint_of(&m)).unwrap();
        // A sparse file just over the cap: refused by its size, without reading it.
        let cap = max_file_bytes(m.param_count() as u64 * 16);
        std::fs::File::options().write(true).open(&path).unwrap().set_len(cap + 1).unwrap();
        let err = load_checkpoint(&path, &m).unwrap_err();
        assert!(matches!(err, Error::InputFile { .. }), "{err:?}");
        assert!(err.to_string().contains(&format!("more than the {cap} bytes allowed")), "{err}");
        assert!(load_weights(&path, &m).is_err());
        #[cfg(unix)]
        if Path::new("/dev/zero").exists() {
            let link = d.path().join("zero.safetensors");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            for err in [
                load_checkpoint(&link, &m).unwrap_err(),
                load_weights(&link, &m).unwrap_err(),
                checkpoint_metadata(&link).unwrap_err(),
            ] {
                assert!(err.to_string().contains("character device"), "{err}");
            }
        }
        // A header length beyond the limit is refused before the header is read.
        std::fs::write(&path, [&(MAX_HEADER_BYTES + 1).to_le_bytes()[..], b"{}"].concat()).unwrap();
        let err = checkpoint_metadata(&path).unwrap_err().to_string();
        assert!(err.contains("more than the") && err.contains("not a valid safetensors file"), "{err}");
    }
}
