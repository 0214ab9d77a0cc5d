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
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::callbacks::CallbackState;
use super::history::History;
use crate::error::{Error, Result};
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
        return Err(Error::corrupt(path, format!("tensor {name} is {:?}, expected F32", view.dtype())));
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
        let view = st
            .tensor(&name)
            .map_err(|_| Error::corrupt(path, format!("no tensor {name}; the file does not belong to this model")))?;
        if view.shape() != shape.as_slice() {
            return Err(Error::corrupt(
                path,
                format!("tensor {name} has shape {:?}, the model needs {shape:?}", view.shape()),
            ));
        }
        params[r].copy_from_slice(&floats_of(&view, &name, path)?);
    }
    Ok(params)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::read(path, e))
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e}")))
}

/// Writes the model's parameters (atomically).
pub fn save_weights(path: &Path, model: &Sequential, params: &[f32]) -> Result<()> {
    let meta = HashMap::from([("format".to_string(), "elu-lab-weights-1".to_string())]);
    atomic_write(path, &serialize(model, params, &[], meta)?)
}

/// Reads weights written by [`save_weights`] (or a checkpoint) for `model`.
pub fn load_weights(path: &Path, model: &Sequential) -> Result<Vec<f32>> {
    let bytes = read(path)?;
    read_params(&parse(&bytes, path)?, model, path)
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
pub fn checkpoint_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = read(path)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some("elu-lab-checkpoint-1") => {
            return Err(Error::corrupt(
                path,
                format!("written by an older elu-lab (format elu-lab-checkpoint-1); this version reads {FORMAT} and cannot resume it"),
            ))
        }
        _ => return Err(Error::corrupt(path, format!("not an elu-lab checkpoint (expected format {FORMAT})"))),
    }
    Ok(meta)
}

/// Reads a checkpoint written by [`save_checkpoint`] for `model`.
pub fn load_checkpoint(path: &Path, model: &Sequential) -> Result<Checkpoint> {
    let meta = checkpoint_metadata(path)?;
    let bytes = read(path)?;
    let st = parse(&bytes, path)?;
    let params = read_params(&st, model, path)?;
    let field = |k: &str| meta.get(k).ok_or_else(|| Error::corrupt(path, format!("checkpoint metadata has no {k}")));
    let bad = |k: &str, e: &dyn std::fmt::Display| Error::corrupt(path, format!("checkpoint metadata {k}: {e}"));
    let epoch: usize = field("epoch")?.parse().map_err(|e| bad("epoch", &e))?;
    let iterations: u64 = field("iterations")?.parse().map_err(|e| bad("iterations", &e))?;
    let config: OptimizerConfig = serde_json::from_str(field("optimizer")?).map_err(|e| bad("optimizer", &e))?;
    let history: History = serde_json::from_str(field("history")?).map_err(|e| bad("history", &e))?;
    let moment = |name: &str, want: usize| -> Result<Vec<f32>> {
        let v = st.tensor(name).map_err(|_| Error::corrupt(path, format!("no tensor {name}")))?;
        let xs = floats_of(&v, name, path)?;
        if xs.len() != want {
            return Err(Error::corrupt(path, format!("tensor {name} has {} values, expected {want}", xs.len())));
        }
        Ok(xs)
    };
    let mut optimizer = Optimizer::new(config, params.len());
    optimizer.iterations = iterations;
    optimizer.m = moment("optimizer.m", optimizer.m.len())?;
    optimizer.v = moment("optimizer.v", optimizer.v.len())?;
    if history.epochs() != epoch {
        return Err(Error::corrupt(
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
}
