//! `run`: one training run as a library call: config in, trained weights and metrics out.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::callbacks::{BestValidation, Callback, CallbackState, Callbacks, EarlyStopping, TerminateOnNaN, TrainBegin};
use super::checkpoint::{self, Checkpoint};
use super::config::RunConfig;
use super::fit::{FitConfig, Trainer};
use super::history::History;
use crate::data::{self, Dataset, Mnist};
use crate::error::{Error, Result};
use crate::model::Sequential;

/// What a finished run gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Every epoch run (including those before a resume).
    pub history: History,
    /// The final weights: the best epoch's with `restore_best_weights`, else the last epoch's.
    pub params: Vec<f32>,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// The epoch (from 1) early stopping judged best, when early stopping was configured.
    pub best_epoch: Option<usize>,
    /// The epoch (from 1) after which early stopping ended training, if it did.
    pub stopped_epoch: Option<usize>,
    /// The epoch (from 1) with the lowest validation loss, and the test loss and accuracy of its
    /// weights (without validation data: `None`).
    pub best_validation: Option<(usize, f64, f64)>,
    pub train_samples: usize,
    pub validation_samples: usize,
    pub test_samples: usize,
    /// Epochs already done when this call started (0 unless resumed).
    pub resumed_from: usize,
    pub seconds_to_first_batch: f64,
}

/// Trains and evaluates the run `config` describes, on the current rayon thread pool (wrap the
/// call in `pool.install` to choose the thread count; results do not depend on it).
///
/// The callbacks the config declares that keep no files (`TerminateOnNaN`, always, and
/// `EarlyStopping`) come first, then `callbacks.list` in order. With `callbacks.backup`, the
/// run's state is saved there before the first epoch and after every epoch, and a run whose
/// backup exists continues from it (it must have been written for an equal config). `stop`
/// interrupts training after the current batch with [`Error::Interrupted`].
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use elu_lab::train::callbacks::EarlyStopping;
/// use elu_lab::train::{self, Callbacks, EarlyStoppingConfig, RunConfig};
///
/// let mut config = RunConfig::article();
/// config.epochs = 2;
/// config.data.limit = Some(1000); // a quick look: 800 training, 200 validation images
/// let mut callbacks = Callbacks::new();
/// callbacks.push(EarlyStopping::new(EarlyStoppingConfig::new(1)));
/// let result = train::run(&config, &mut callbacks, &AtomicBool::new(false))?;
/// assert_eq!(result.history.epochs(), 2);
/// assert!(result.test_accuracy > 0.5);
/// println!("Test loss: {:.4} / Test accuracy: {:.4}", result.test_loss, result.test_accuracy);
/// # Ok::<(), elu_lab::Error>(())
/// ```
pub fn run(config: &RunConfig, callbacks: &mut Callbacks, stop: &AtomicBool) -> Result<RunResult> {
    let data = load_data(config)?;
    run_on(config, data, callbacks, stop)
}

/// The data a config names: its directory's four IDX files, or the bundled MNIST.
pub fn load_data(config: &RunConfig) -> Result<Mnist> {
    match &config.data.dir {
        Some(dir) => data::load_dir(dir, false),
        None => data::bundled::load(),
    }
}

/// [`run`] on data already loaded (as [`load_data`] gives it for the config).
pub fn run_on(config: &RunConfig, data: Mnist, callbacks: &mut Callbacks, stop: &AtomicBool) -> Result<RunResult> {
    let started = Instant::now();
    check(config, &data)?;
    let model = Sequential::from_spec(&config.model)?;
    let (train, val, test) = prepare(config, data)?;

    // The config's own callbacks first, then the caller's.
    let mut list: Vec<Box<dyn Callback>> = vec![Box::new(TerminateOnNaN), Box::new(BestValidation::default())];
    if let Some(es) = &config.callbacks.early_stopping {
        list.push(Box::new(EarlyStopping::new(es.clone())));
    }
    let own = list.len();
    list.append(&mut callbacks.list);
    let result = train_and_test(config, &model, (&train, val.as_ref(), &test), &mut list, callbacks, stop, started);
    // Hand the caller's callbacks back (they may hold what they gathered).
    callbacks.list = list.split_off(own);
    result
}

/// Checks that `data` fits the run: the model builds and ends in a softmax, the images have the
/// model's input shape, the labels are below its number of outputs, and `limit` and
/// `validation_split` leave a training and a validation set. Nothing is trained; a caller can
/// check before it creates anything on disk.
pub fn check(config: &RunConfig, data: &Mnist) -> Result<()> {
    config.validate()?;
    let model = Sequential::from_spec(&config.model)?;
    let classes = model.output_shape().len();
    model.check_trainable(classes)?;
    let [h, w, c] = config.model.input_shape;
    let full = &data.train;
    if (full.rows(), full.cols(), 1) != (h, w, c) {
        let source = match &config.data.dir {
            Some(dir) => dir.display().to_string(),
            None => "the bundled MNIST".to_string(),
        };
        return Err(Error::DataMismatch {
            msg: format!(
                "the images of {source} are {}x{}x1 but the model's input_shape is {h}x{w}x{c}",
                full.rows(),
                full.cols()
            ),
        });
    }
    full.check_labels(classes, data.label_files[0].as_deref())?;
    data.test.check_labels(classes, data.label_files[1].as_deref())?;
    let used = config.data.limit.map_or(full.len(), |n| n.min(full.len()));
    if config.data.validation_split > 0.0 {
        crate::data::dataset::split_point(used, config.data.validation_split)?;
    }
    Ok(())
}

/// Takes `limit` images and splits off validation data (after [`check`]).
fn prepare(config: &RunConfig, data: Mnist) -> Result<(Dataset, Option<Dataset>, Dataset)> {
    let Mnist { train: full, test, .. } = data;
    // Each step frees what it no longer needs: only the split sets stay in memory.
    let all = match config.data.limit {
        Some(n) => full.take(n),
        None => full,
    };
    let split = config.data.validation_split;
    if split > 0.0 {
        let (t, v) = all.into_split_validation(split)?;
        Ok((t, Some(v), test))
    } else {
        Ok((all, None, test))
    }
}

/// Restores or starts the training state, trains, lets the callbacks finish, and evaluates.
#[allow(clippy::too_many_arguments)]
fn train_and_test(
    config: &RunConfig,
    model: &Sequential,
    (train, val, test): (&Dataset, Option<&Dataset>, &Dataset),
    list: &mut [Box<dyn Callback>],
    callbacks: &Callbacks,
    stop: &AtomicBool,
    started: Instant,
) -> Result<RunResult> {
    // A batch never holds more than the training set: a larger batch size means one batch of
    // everything (as in Keras), and must not size the buffers.
    let engine_batch = config.batch_size.min(train.len()).max(1);
    // Before anything of the model's size is allocated.
    model.check_memory(engine_batch, rayon::current_num_threads())?;
    let config_toml = config.to_toml();
    let extra = HashMap::from([("config".to_string(), config_toml.clone())]);
    let backup = callbacks.backup.as_deref();
    let resumed = match backup.filter(|p| p.exists()) {
        Some(path) => Some(resume(path, model, config, &config_toml, list)?),
        None => None,
    };
    let (mut trainer, mut history, start_epoch, stopped) = match resumed {
        Some(ck) => {
            let trainer = Trainer::with_state(model, ck.params, ck.optimizer, engine_batch);
            (trainer, ck.history, ck.epoch, ck.stopped)
        }
        None => {
            let trainer = Trainer::new(model, config.optimizer, engine_batch, config.seed);
            if let Some(path) = backup {
                save_backup(path, &trainer, &History::default(), list, false, &extra)?;
            }
            (trainer, History::default(), 0, false)
        }
    };
    let batches = train.len().div_ceil(config.batch_size);
    let begin = TrainBegin { model, train, val, params: &trainer.params, start_epoch, epochs: config.epochs, batches };
    for c in list.iter_mut() {
        c.on_train_begin(&begin)?;
    }
    let seconds_to_first_batch = started.elapsed().as_secs_f64();
    // A resumed run that had already stopped early (or finished) trains no further.
    if !stopped && start_epoch < config.epochs {
        let fit = FitConfig { epochs: config.epochs, batch_size: config.batch_size, seed: config.seed, shuffle: true };
        let mut hook = |t: &Trainer, h: &History, cbs: &[Box<dyn Callback>], stopped: bool| match backup {
            Some(path) => save_backup(path, t, h, cbs, stopped, &extra),
            None => Ok(()),
        };
        trainer.fit(train, val, &fit, start_epoch, &mut history, list, &mut hook, Some(stop))?;
    }
    for c in list.iter_mut() {
        c.on_train_end(&mut trainer.params)?;
    }
    let (test_loss, test_accuracy) = trainer.evaluate(test);
    // The test metrics of the best validation epoch's weights too (the same when those are the
    // final weights).
    let best_state = list.iter().find(|c| c.state_key() == Some("best_validation")).map(|c| c.save_state());
    let best_validation =
        match best_state.as_ref().and_then(|s| Some((s.json.get("epoch")?.as_u64()?, s.tensor("weights")?))) {
            Some((epoch, weights)) if weights == trainer.params.as_slice() => {
                Some((epoch as usize + 1, test_loss, test_accuracy))
            }
            Some((epoch, weights)) => {
                let last = std::mem::replace(&mut trainer.params, weights.to_vec());
                let (l, a) = trainer.evaluate(test);
                trainer.params = last;
                Some((epoch as usize + 1, l, a))
            }
            None => None,
        };
    let es_state = list.iter().find(|c| c.state_key() == Some("early_stopping")).map(|c| c.save_state().json);
    let epoch_of = |key: &str| {
        es_state.as_ref().and_then(|s| s.get(key)).and_then(serde_json::Value::as_u64).map(|e| e as usize + 1)
    };
    Ok(RunResult {
        best_epoch: epoch_of("best_epoch"),
        stopped_epoch: epoch_of("stopped_epoch"),
        best_validation,
        history,
        params: trainer.params,
        test_loss,
        test_accuracy,
        train_samples: train.len(),
        validation_samples: val.map_or(0, Dataset::len),
        test_samples: test.len(),
        resumed_from: start_epoch,
        seconds_to_first_batch,
    })
}

/// Reads the backup of an interrupted run of `config` and gives each callback its state.
fn resume(
    path: &std::path::Path,
    model: &Sequential,
    config: &RunConfig,
    config_toml: &str,
    list: &mut [Box<dyn Callback>],
) -> Result<Checkpoint> {
    let ck = checkpoint::load_checkpoint(path, model)?;
    match ck.extra.get("config") {
        Some(saved) if saved == config_toml => {}
        Some(saved) => {
            let differs = match RunConfig::from_toml(saved, path) {
                Ok(saved) => describe_difference(&saved, config),
                Err(_) => "its recorded config cannot be read".to_string(),
            };
            return Err(Error::corrupt(path, format!("belongs to another run: {differs}")));
        }
        None => return Err(Error::corrupt(path, "the checkpoint records no run config")),
    }
    if ck.epoch > config.epochs {
        return Err(Error::corrupt(path, format!("is at epoch {} of a {}-epoch run", ck.epoch, config.epochs)));
    }
    for c in list.iter_mut() {
        if let Some(state) = c.state_key().and_then(|k| ck.callbacks.get(k)) {
            c.load_state(state)?;
        }
    }
    Ok(ck)
}

/// Which top-level parts of two configs differ, for an error message.
fn describe_difference(a: &RunConfig, b: &RunConfig) -> String {
    let mut parts = Vec::new();
    let pairs: [(&str, bool); 7] = [
        ("seed", a.seed != b.seed),
        ("epochs", a.epochs != b.epochs),
        ("batch_size", a.batch_size != b.batch_size),
        ("optimizer", a.optimizer != b.optimizer),
        ("data", a.data != b.data),
        ("callbacks", a.callbacks != b.callbacks),
        ("model", a.model != b.model),
    ];
    for (name, differs) in pairs {
        if differs {
            parts.push(name);
        }
    }
    format!("its config differs in {}", if parts.is_empty() { "formatting".to_string() } else { parts.join(", ") })
}

/// Saves the run's state: weights, optimiser, history, whether it stopped, callback states.
fn save_backup(
    path: &std::path::Path,
    trainer: &Trainer,
    history: &History,
    list: &[Box<dyn Callback>],
    stopped: bool,
    extra: &HashMap<String, String>,
) -> Result<()> {
    let states: BTreeMap<String, CallbackState> =
        list.iter().filter_map(|c| c.state_key().map(|k| (k.to_string(), c.save_state()))).collect();
    let ck = Checkpoint {
        epoch: history.epochs(),
        params: trainer.params.clone(),
        optimizer: trainer.optimizer.clone(),
        history: history.clone(),
        stopped,
        callbacks: states,
        extra: extra.clone(),
    };
    checkpoint::save_checkpoint(path, trainer.model, &ck)
}
