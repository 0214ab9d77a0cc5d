//! `RunDir`: the run directory format: create (never over another run), lock, open, load.
//!
//! A run directory holds:
//!
//! | file | written | content |
//! |---|---|---|
//! | `config.toml` | first, at creation | the [`RunConfig`]: the single description of the run |
//! | `data.txt` | at creation | the data's fingerprint (file names, sizes, SHA-256), checked on resume |
//! | `model.toml` | at creation | the model file actually trained (also inside `config.toml`) |
//! | `checkpoint.safetensors` | before epoch 1, after every epoch | weights, optimiser and callback state, history |
//! | `history.csv`, `history.json` | after every epoch | Keras's CSVLogger layout and History keys |
//! | `accuracy.png`, `loss.png` | after every epoch | the article's curves |
//! | `diagnostics.csv` (`diagnostics.png` at the end) | before epoch 1, after every epoch, with diagnostics on | per layer: median unit mean, mean, sd, dead and saturated fractions, gradient and weight norms |
//! | `train_eval.csv` | before epoch 1, after every epoch, with `evaluate_training_set` | the training and validation sets' loss and accuracy in inference mode |
//! | `weights.safetensors` | at the end | the final weights (the best epoch's with `restore_best_weights`) |
//! | `summary.json` | last | test loss and accuracy, timings, provenance: its presence marks a finished run |
//! | `.lock` | while a process writes the directory | pid, host and start time of the writer |
//!
//! Every file is written atomically (temporary file, then rename). A directory that already
//! holds a run is never written over: [`RunDir::create`] refuses it, and
//! [`RunDir::create_replacing`] first moves it aside whole, with one rename.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::data::Mnist;
use crate::error::{Error, Result};
use crate::model::{ModelSpec, Sequential};
use crate::report::atomic_write;
use crate::train::callbacks::{CsvLogger, Diagnostics, JsonLogger, ModelCheckpoint, Plots, TrainEval};
use crate::train::checkpoint;
use crate::train::{Callbacks, History, RunConfig, RunResult};

/// File names inside a run directory.
pub mod files {
    pub const CONFIG: &str = "config.toml";
    pub const DATA: &str = "data.txt";
    pub const MODEL: &str = "model.toml";
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    pub const WEIGHTS: &str = "weights.safetensors";
    pub const SUMMARY: &str = "summary.json";
    pub const HISTORY_CSV: &str = "history.csv";
    pub const HISTORY_JSON: &str = "history.json";
    pub const DIAGNOSTICS: &str = "diagnostics.csv";
    pub const DIAGNOSTICS_PNG: &str = "diagnostics.png";
    pub const TRAIN_EVAL: &str = "train_eval.csv";
    pub const LOCK: &str = ".lock";
}

/// The largest config file read (a config with a large model is a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A run directory, opened or created; holds the directory's lock while it writes there.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use elu_lab::rundir::RunDir;
/// use elu_lab::train::RunConfig;
///
/// # let tmp = tempfile::tempdir().map_err(|e| elu_lab::Error::write(std::path::Path::new("."), e))?;
/// # let path = tmp.path().join("quick");
/// let mut config = RunConfig::article();
/// config.epochs = 1;
/// config.data.limit = Some(1000);
/// let dir = RunDir::create(&path, &config)?;
/// let result = dir.train(&config, &AtomicBool::new(false))?;
/// drop(dir); // releases the directory's lock
///
/// let done = RunDir::open(&path)?;
/// assert_eq!(done.summary()?.test_accuracy, result.test_accuracy);
/// assert_eq!(done.weights()?, result.params);
/// # Ok::<(), elu_lab::Error>(())
/// ```
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    lock: Option<Lock>,
}

impl RunDir {
    /// Creates the run directory `path` for `config` (and its parents), takes its lock and writes
    /// `config.toml`, `data.txt` and `model.toml`. An existing directory is accepted only if it is
    /// empty: one that holds anything is [`Error::RunDirExists`].
    pub fn create(path: impl AsRef<Path>, config: &RunConfig) -> Result<RunDir> {
        let path = path.as_ref();
        config.validate()?;
        match fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::RunDirExists { path: path.to_path_buf() });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
                }
                fs::create_dir(path).map_err(|e| match e.kind() {
                    // Another process created it between the check and here.
                    io::ErrorKind::AlreadyExists => Error::RunDirExists { path: path.to_path_buf() },
                    _ => Error::write(path, e),
                })?;
            }
            Err(e) => return Err(Error::write(path, e)),
        }
        let lock = Lock::acquire(path)?;
        RunDir::create_locked(path, config, lock)
    }

    /// Writes a new run of `config` into `path`, whose lock the caller holds and which holds
    /// nothing else (see [`RunDir::create`]).
    pub(crate) fn create_locked(path: &Path, config: &RunConfig, lock: Lock) -> Result<RunDir> {
        config.validate()?;
        let dir = RunDir { path: path.to_path_buf(), lock: Some(lock) };
        atomic_write(&dir.file(files::CONFIG), config.to_toml().as_bytes())?;
        atomic_write(&dir.file(files::DATA), data_fingerprint(config)?.as_bytes())?;
        atomic_write(&dir.file(files::MODEL), config.model.to_toml().as_bytes())?;
        Ok(dir)
    }

    /// Like [`RunDir::create`], but an existing run at `path` is first moved aside, whole, to
    /// `PATH.replaced-<time>` (one rename: nothing is deleted). Returns the directory and where
    /// the old one went. A run another process is writing (locked) is not moved.
    pub fn create_replacing(path: impl AsRef<Path>, config: &RunConfig) -> Result<(RunDir, Option<PathBuf>)> {
        let path = path.as_ref();
        config.validate()?;
        let moved = if path.exists() {
            if let Some(holder) = Lock::holder(path)? {
                return Err(Error::Locked { path: path.to_path_buf(), holder });
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
            let aside = path.with_file_name(format!("{name}.replaced-{}", timestamp_millis()));
            fs::rename(path, &aside).map_err(|e| Error::write(path, e))?;
            Some(aside)
        } else {
            None
        };
        Ok((RunDir::create(path, config)?, moved))
    }

    /// Creates a fresh run directory under `base` with a name of its own:
    /// `<UTC time to the millisecond>-<activation>-<init>-seed<N>-<4 hex digits>`. The name is
    /// taken with an exclusive `create_dir`, so two runs started at once never share one.
    pub fn create_unique(base: impl AsRef<Path>, config: &RunConfig) -> Result<RunDir> {
        let base = base.as_ref();
        fs::create_dir_all(base).map_err(|e| Error::write(base, e))?;
        let act = config.model.layers.iter().find(|l| l.is_hidden_activation()).map_or("model", |l| l.type_name());
        let init = config.model.kernel_initializer().map_or("model", |i| i.name());
        for attempt in 0u64..64 {
            let name = format!(
                "{}-{act}-{init}-seed{}-{:04x}",
                timestamp_millis(),
                config.seed,
                random_suffix(attempt) & 0xffff
            );
            let path = base.join(name);
            match fs::create_dir(&path) {
                Ok(()) => return RunDir::create(&path, config),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::write(&path, e)),
            }
        }
        Err(Error::write(base, io::Error::new(io::ErrorKind::AlreadyExists, "no unused run directory name found")))
    }

    /// Opens an existing run directory to read it (no lock is taken).
    pub fn open(path: impl AsRef<Path>) -> Result<RunDir> {
        let path = path.as_ref();
        let config = path.join(files::CONFIG);
        if !config.is_file() {
            let why = if path.is_dir() { "it has no config.toml" } else { "no such directory" };
            return Err(Error::NotARunDir { path: path.to_path_buf(), why: why.into() });
        }
        Ok(RunDir { path: path.to_path_buf(), lock: None })
    }

    /// Opens a run directory to continue its run: takes the lock, checks that the data is the
    /// one the run started with, and removes temporary files left by an earlier crash.
    pub fn open_for_resume(path: impl AsRef<Path>) -> Result<RunDir> {
        let path = path.as_ref();
        RunDir::open(path)?;
        RunDir::resume_locked(path, Lock::acquire(path)?)
    }

    /// [`RunDir::open_for_resume`] of `path`, whose lock the caller holds.
    pub(crate) fn resume_locked(path: &Path, lock: Lock) -> Result<RunDir> {
        let mut dir = RunDir::open(path)?;
        dir.lock = Some(lock);
        let config = dir.config()?;
        let recorded = read_bounded(&dir.file(files::DATA))?;
        let now = data_fingerprint(&config)?;
        if recorded != now {
            return Err(Error::DataChanged { path: dir.path.clone(), was: recorded, now });
        }
        // A checkpoint that is there but not a regular file is the checkpoint reader's to refuse.
        if fs::symlink_metadata(dir.file(files::CHECKPOINT)).is_err() {
            return Err(Error::NotARunDir { path: dir.path.clone(), why: "it has no checkpoint.safetensors".into() });
        }
        crate::report::remove_stale_temp_files(&dir.path)?;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The run's config.
    pub fn config(&self) -> Result<RunConfig> {
        let path = self.file(files::CONFIG);
        RunConfig::from_toml(&read_bounded(&path)?, &path)
    }

    /// The model of the run, built.
    pub fn model(&self) -> Result<(ModelSpec, Sequential)> {
        let spec = self.config()?.model;
        let model = Sequential::from_spec(&spec)?;
        Ok((spec, model))
    }

    /// The final weights (`weights.safetensors`, written when the run finished).
    pub fn weights(&self) -> Result<Vec<f32>> {
        let (_, model) = self.model()?;
        let path = self.file(files::WEIGHTS);
        if !path.is_file() {
            return Err(Error::NotARunDir {
                path: self.path.clone(),
                why: "it has no weights.safetensors: the run has not finished (resume it with `train --resume`)".into(),
            });
        }
        checkpoint::load_weights(&path, &model)
    }

    /// The history of the epochs finished so far (from the checkpoint).
    pub fn history(&self) -> Result<History> {
        let (_, model) = self.model()?;
        Ok(checkpoint::load_checkpoint(&self.file(files::CHECKPOINT), &model)?.history)
    }

    /// `summary.json`, present once the run has finished.
    pub fn summary(&self) -> Result<Summary> {
        let path = self.file(files::SUMMARY);
        serde_json::from_str(&read_bounded(&path)?)
            .map_err(|e| Error::corrupt(&path, format!("not a run summary: {e}")))
    }

    /// Whether the run finished (its `summary.json` exists).
    pub fn is_finished(&self) -> bool {
        self.file(files::SUMMARY).is_file()
    }

    /// The standard callbacks that write this directory's files for `config` (history CSV and
    /// JSON, plots, diagnostics and model checkpoints where the config asks for them), with the
    /// backup in `checkpoint.safetensors`. `verbose` lets diagnostics print a line per epoch.
    pub fn callbacks(&self, config: &RunConfig, verbose: bool) -> Callbacks {
        let mut c = Callbacks::new().with_backup(self.file(files::CHECKPOINT));
        c.push(CsvLogger::new(self.file(files::HISTORY_CSV)));
        c.push(JsonLogger::new(self.file(files::HISTORY_JSON)));
        if config.callbacks.diagnostics {
            let (csv, png) = (self.file(files::DIAGNOSTICS), self.file(files::DIAGNOSTICS_PNG));
            c.push(Diagnostics::new(csv, png, verbose, config.callbacks.diagnostics_sample(), config.seed));
        }
        if config.callbacks.evaluate_training_set {
            c.push(TrainEval::new(self.file(files::TRAIN_EVAL)));
        }
        c.push(Plots::new(&self.path));
        if let Some(mc) = &config.callbacks.model_checkpoint {
            c.push(ModelCheckpoint::new(mc.clone(), &self.path));
        }
        c
    }

    /// Trains (or continues) the run in this directory with its standard callbacks
    /// ([`RunDir::callbacks`]), then writes `weights.safetensors` and `summary.json`. Runs on the
    /// current rayon pool.
    pub fn train(&self, config: &RunConfig, stop: &AtomicBool) -> Result<RunResult> {
        self.train_with(config, self.callbacks(config, false), stop)
    }

    /// [`RunDir::train`] with the given callbacks (usually [`RunDir::callbacks`] with more
    /// added, such as a progress bar).
    pub fn train_with(&self, config: &RunConfig, callbacks: Callbacks, stop: &AtomicBool) -> Result<RunResult> {
        let data = crate::train::load_data(config)?;
        self.train_on(config, data, callbacks, stop)
    }

    /// [`RunDir::train_with`] on data already loaded (as [`crate::train::load_data`] gives it).
    pub fn train_on(
        &self,
        config: &RunConfig,
        data: Mnist,
        mut callbacks: Callbacks,
        stop: &AtomicBool,
    ) -> Result<RunResult> {
        let started = std::time::Instant::now();
        let result = crate::train::run_on(config, data, &mut callbacks, stop).map_err(|e| match e {
            Error::Interrupted { epoch, .. } => Error::Interrupted { epoch, dir: self.path.clone() },
            e => e,
        })?;
        self.finish(config, &result, started.elapsed().as_secs_f64())?;
        Ok(result)
    }

    /// Writes the final weights and then `summary.json` (last: it marks the run finished).
    pub fn finish(&self, config: &RunConfig, result: &RunResult, seconds: f64) -> Result<()> {
        let model = Sequential::from_spec(&config.model)?;
        checkpoint::save_weights(&self.file(files::WEIGHTS), &model, &result.params)?;
        let summary = Summary {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            command: std::env::args().collect(),
            threads: rayon::current_num_threads(),
            simd: crate::kernels::simd::Level::current().name().to_string(),
            params: model.param_count(),
            train_samples: result.train_samples,
            validation_samples: result.validation_samples,
            test_samples: result.test_samples,
            epochs_run: result.history.epochs(),
            best_epoch: result.best_epoch,
            stopped_epoch: result.stopped_epoch,
            best_validation_epoch: result.best_validation.map(|b| b.0),
            test_loss_at_best_validation: result.best_validation.map(|b| b.1),
            test_accuracy_at_best_validation: result.best_validation.map(|b| b.2),
            test_loss: result.test_loss,
            test_accuracy: result.test_accuracy,
            epoch_seconds: result.history.epoch_seconds.clone(),
            seconds_to_first_batch: result.seconds_to_first_batch,
            total_seconds: seconds,
            config: config.clone(),
        };
        let text = serde_json::to_string_pretty(&summary).map_err(|e| Error::config("summary", e.to_string()))?;
        atomic_write(&self.file(files::SUMMARY), text.as_bytes())
    }
}

/// `summary.json`: a finished run's results and provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub crate_version: String,
    /// The command line that ran (the last one, for a resumed run).
    pub command: Vec<String>,
    pub threads: usize,
    /// The instruction set the kernels ran with (`avx512`, `avx2+fma`, `baseline`).
    #[serde(default)]
    pub simd: String,
    pub params: usize,
    pub train_samples: usize,
    pub validation_samples: usize,
    pub test_samples: usize,
    pub epochs_run: usize,
    /// The epoch (from 1) early stopping judged best.
    pub best_epoch: Option<usize>,
    /// The epoch (from 1) after which early stopping ended training.
    pub stopped_epoch: Option<usize>,
    /// The epoch (from 1) with the lowest validation loss, and the test figures of its weights.
    #[serde(default)]
    pub best_validation_epoch: Option<usize>,
    #[serde(default)]
    pub test_loss_at_best_validation: Option<f64>,
    #[serde(default)]
    pub test_accuracy_at_best_validation: Option<f64>,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub epoch_seconds: Vec<f64>,
    pub seconds_to_first_batch: f64,
    /// Seconds of the last training call (a resumed run counts from the resume).
    pub total_seconds: f64,
    pub config: RunConfig,
}

/// The data's fingerprint for `config`: its files' names, sizes and hashes (the bundled MNIST
/// is verified against its recorded sums on every load, so its name says enough).
fn data_fingerprint(config: &RunConfig) -> Result<String> {
    match &config.data.dir {
        Some(dir) => Ok(format!("{}\n{}", dir.display(), crate::data::fingerprint(dir)?)),
        None => Ok("bundled MNIST (data/mnist, verified against its SHA-256 sums)\n".into()),
    }
}

/// Reads a small text file of a run directory: a regular file of at most 16 MB.
fn read_bounded(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        return Err(Error::corrupt(path, "is not a regular file"));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Error::corrupt(
            path,
            format!("is {} bytes, more than the {MAX_CONFIG_BYTES} a run file may have", meta.len()),
        ));
    }
    fs::read_to_string(path).map_err(|e| Error::read(path, e))
}

/// Whether a process with this pid runs on this machine (Linux: /proc; elsewhere assumed).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's host name (for locks).
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Milliseconds since the epoch as a UTC time `YYYYmmdd-HHMMSS.mmm` (civil-from-days, Howard
/// Hinnant's algorithm).
fn timestamp_millis() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}.{:03}", rem / 3600, rem % 3600 / 60, rem % 60, since.subsec_millis())
}

/// The current UTC time, `YYYY-mm-dd HH:MM:SS UTC`.
pub fn utc_now() -> String {
    let t = timestamp_millis();
    format!("{}-{}-{} {}:{}:{} UTC", &t[0..4], &t[4..6], &t[6..8], &t[9..11], &t[11..13], &t[13..15])
}

/// A number that differs between processes and attempts (time, pid and attempt, mixed).
fn random_suffix(attempt: u64) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut rng = crate::rng::Rng::from_seed(nanos ^ (u64::from(std::process::id()) << 32) ^ attempt);
    rng.next_u64()
}

/// Who holds a run directory's lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// When the holder took the lock (UTC, `YYYYmmdd-HHMMSS.mmm`).
    pub started: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on {}, since {} UTC", self.pid, self.host, self.started)
    }
}

/// The live holder of the lock of the run directory `path`, if any, without changing anything
/// (a lock whose holder ran on this host and is gone counts as none; one taken on another host
/// counts as held, as its holder cannot be checked from here).
pub fn lock_holder(path: &Path) -> Option<LockHolder> {
    let text = fs::read_to_string(path.join(files::LOCK)).ok()?;
    let holder: LockHolder = serde_json::from_str(&text).ok()?;
    if holder.host == host_name() && holder.pid != 0 && !process_alive(holder.pid) {
        return None;
    }
    Some(holder)
}

/// An advisory lock on a directory: the file `.lock`, created exclusively, removed on drop.
/// A lock whose holder ran on this host and no longer runs is stale and is taken over.
#[derive(Debug)]
pub(crate) struct Lock {
    path: PathBuf,
}

impl Lock {
    pub(crate) fn acquire(dir: &Path) -> Result<Lock> {
        let path = dir.join(files::LOCK);
        let me = LockHolder { pid: std::process::id(), host: host_name(), started: timestamp_millis() };
        for _ in 0..3 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let text = serde_json::to_string(&me).unwrap_or_default();
                    f.write_all(text.as_bytes()).map_err(|e| Error::write(&path, e))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match Lock::holder(dir)? {
                    Some(holder) => return Err(Error::Locked { path: dir.to_path_buf(), holder }),
                    // Stale: its holder is gone (removed by holder()); try again.
                    None => continue,
                },
                Err(e) => return Err(Error::write(&path, e)),
            }
        }
        Err(Error::write(&path, io::Error::new(io::ErrorKind::WouldBlock, "the lock keeps changing hands")))
    }

    /// The live holder of `dir`'s lock, if any; a stale lock (its holder, on this host, is
    /// gone) is removed and reported as none.
    fn holder(dir: &Path) -> Result<Option<LockHolder>> {
        let path = dir.join(files::LOCK);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::read(&path, e)),
        };
        let holder: LockHolder = match serde_json::from_str(&text) {
            Ok(h) => h,
            // Half-written by a holder that is just taking it, or garbage: treat as held.
            Err(_) => LockHolder { pid: 0, host: "?".into(), started: "?".into() },
        };
        if holder.host == host_name() && holder.pid != 0 && !process_alive(holder.pid) {
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(holder))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        let mut c = RunConfig::article();
        c.epochs = 1;
        c
    }

    #[test]
    fn create_refuses_a_directory_that_holds_anything_and_replacing_moves_it_aside() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("run");
        let dir = RunDir::create(&path, &config()).unwrap();
        assert_eq!(dir.config().unwrap(), config());
        drop(dir);
        let err = RunDir::create(&path, &config()).unwrap_err();
        assert!(matches!(err, Error::RunDirExists { .. }), "{err}");
        fs::write(path.join("marker"), "old").unwrap();
        let (dir, moved) = RunDir::create_replacing(&path, &config()).unwrap();
        let moved = moved.unwrap();
        assert_eq!(fs::read_to_string(moved.join("marker")).unwrap(), "old");
        assert!(!dir.file("marker").exists());
        // An empty directory (made by the user beforehand) is fine.
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        RunDir::create(&empty, &config()).unwrap();
    }

    #[test]
    fn a_second_writer_is_refused_naming_the_holder_and_a_stale_lock_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("run");
        let dir = RunDir::create(&path, &config()).unwrap();
        let err = RunDir::open_for_resume(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        let err = RunDir::create_replacing(&path, &config()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop(dir);
        assert!(!path.join(files::LOCK).exists(), "the lock goes with its holder");
        // A lock left by a process that no longer exists.
        let stale = LockHolder { pid: u32::MAX - 1, host: host_name(), started: "x".into() };
        fs::write(path.join(files::LOCK), serde_json::to_string(&stale).unwrap()).unwrap();
        let held = Lock::acquire(&path).unwrap();
        drop(held);
        // One from another host cannot be judged: it holds.
        let remote = LockHolder { pid: 1, host: "elsewhere".into(), started: "x".into() };
        fs::write(path.join(files::LOCK), serde_json::to_string(&remote).unwrap()).unwrap();
        let err = Lock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains("elsewhere"), "{err}");
    }

    #[test]
    fn unique_names_never_collide() {
        let d = tempfile::tempdir().unwrap();
        let names: std::collections::BTreeSet<PathBuf> =
            (0..20).map(|_| RunDir::create_unique(d.path(), &config()).unwrap().path().to_path_buf()).collect();
        assert_eq!(names.len(), 20);
        let first = names.iter().next().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        assert!(first.contains("-elu-he_normal-seed1-"), "{first}");
    }

    #[test]
    fn opening_something_that_is_not_a_run_directory_says_so() {
        let d = tempfile::tempdir().unwrap();
        let err = RunDir::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("no config.toml"), "{err}");
        let err = RunDir::open(d.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("no such directory"), "{err}");
    }
}
