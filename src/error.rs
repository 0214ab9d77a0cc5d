//! The library's error type: what went wrong, naming the offending file, flag or value.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in elu-lab, with enough context to act on.
///
/// Messages are lowercase and name the file, flag or layer together with the offending value;
/// [`Error::hint`] adds what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be written (permissions, full disk, ...).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file exists but its content is not what its format promises.
    #[error("{}: {msg}", path.display())]
    Corrupt { path: PathBuf, msg: String },
    /// A file given as input is not a regular file (a directory, device, FIFO, ...) or is larger
    /// than elu-lab reads for its kind (see [`crate::limits`]).
    #[error("{}: {msg}", path.display())]
    InputFile { path: PathBuf, msg: String },
    /// A weights or checkpoint file is damaged, is not elu-lab's, belongs to another model, or
    /// holds values no training run could have saved (non-finite weights).
    #[error("{}: {msg}", path.display())]
    Checkpoint { path: PathBuf, msg: String },
    /// A label is not a class of the model (`0..classes`); `path` is the label file, if known.
    #[error("{}label {value} at index {index} is not a class of the model (0-{})", path_prefix(path), classes.saturating_sub(1))]
    Label { path: Option<PathBuf>, index: usize, value: u8, classes: usize },
    /// A bundled file's content does not match its recorded SHA-256 sum.
    #[error("{}: sha-256 of the decompressed content is {actual}, expected {expected}", path.display())]
    Checksum { path: PathBuf, expected: String, actual: String },
    /// A configuration value (command-line flag or model-file setting) is out of range.
    #[error("invalid {what}: {msg}")]
    Config { what: String, msg: String },
    /// A model file could not be parsed.
    #[error("{}: {msg}", path.display())]
    ModelFile { path: PathBuf, msg: String },
    /// Layer shapes do not fit together (found when the model is built).
    #[error("layer {index} ({layer}): {msg}")]
    Shape { index: usize, layer: String, msg: String },
    /// Training the model would need more memory than is available; the layer is the one at
    /// which the running total first exceeds it, by its name in `elu-lab summary` (`conv2d_1`).
    #[error("layer {index} ({layer}): {msg}")]
    Memory { index: usize, layer: String, msg: String },
    /// The data does not fit the model (image size, number of classes).
    #[error("data does not fit the model: {msg}")]
    DataMismatch { msg: String },
    /// Training produced a NaN or infinite loss (or weight, or validation loss): `what` became
    /// `value` at `batch` of `epoch` (both counted from 1).
    #[error("{what} became {value} at epoch {epoch}, batch {batch}; training stopped")]
    NonFinite { what: &'static str, epoch: usize, batch: usize, value: f32 },
    /// A run directory that already holds a run was given for a new one.
    #[error("{} already holds a run", path.display())]
    RunDirExists { path: PathBuf },
    /// Another process writes the run directory (its lock is held).
    #[error("{} is in use by {holder}", path.display())]
    Locked { path: PathBuf, holder: crate::rundir::LockHolder },
    /// A path given as a run directory is not one (or not a usable one).
    #[error("{} is not a run directory: {why}", path.display())]
    NotARunDir { path: PathBuf, why: String },
    /// A run's data changed between its start and a resume.
    #[error("the data of the run in {} changed since it started: it was\n{was}and is now\n{now}", path.display())]
    DataChanged { path: PathBuf, was: String, now: String },
    /// A sweep directory holds another plan than the one given.
    #[error("{}: {msg}", path.display())]
    SweepPlanDiffers { path: PathBuf, msg: String },
    /// A sweep was interrupted by a signal; its finished trials are kept.
    #[error("sweep interrupted; the finished trials are kept in {}", dir.display())]
    SweepInterrupted { dir: PathBuf },
    /// Training was interrupted by a signal; the run directory holds the state so far.
    #[error("training interrupted during epoch {epoch}; history and checkpoint saved in {}", dir.display())]
    Interrupted { epoch: usize, dir: PathBuf },
}

/// "PATH: " for a known path, nothing otherwise.
fn path_prefix(path: &Option<PathBuf>) -> String {
    path.as_ref().map_or_else(String::new, |p| format!("{}: ", p.display()))
}

/// Shorthand used throughout the library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A `hint:` line for the user, where there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Read { path, .. } if path.to_string_lossy().contains("mnist") => Some(
                "the bundled MNIST lives in data/mnist/ of the repository; run from a full clone, or pass --data DIR with the four IDX files".into(),
            ),
            Error::Read { .. } => Some("check that the path exists and is readable".into()),
            Error::Write { .. } => Some("check that the directory is writable and the disk is not full, or choose another --out".into()),
            Error::Corrupt { .. } => Some("the file is damaged (cut short, or longer than its header says) or is not an IDX file; restore it (e.g. `git checkout data/mnist`) or re-download it".into()),
            Error::InputFile { .. } => Some("elu-lab reads regular files only (a symlink to one is fine), within size limits that keep its memory bounded; docs/RELIABILITY.md lists them".into()),
            Error::Checkpoint { .. } => Some("the file was not written by elu-lab for this model, or was damaged since; start the run again without --resume, or use the weights of another run".into()),
            Error::Label { classes, .. } => Some(format!("labels are class numbers, one byte each, below the model's number of outputs ({classes}: the units of its last dense layer); check the label file, or give the model as many outputs as the data has classes")),
            Error::Memory { .. } => Some("use fewer filters or units, or shrink the images earlier (strides, pooling); `elu-lab summary --model FILE` shows each layer's size".into()),
            Error::Checksum { .. } => Some("the bundled dataset was modified; restore it with `git checkout data/mnist`".into()),
            Error::Config { what, .. } if what == crate::kernels::simd::ENV_VAR => Some(format!(
                "unset {what} to use the best level this processor supports; `elu-lab info` lists them"
            )),
            Error::Config { .. } => Some("see `elu-lab train --help` for the accepted values".into()),
            Error::ModelFile { .. } => Some("see models/article.toml for a complete, working model file".into()),
            Error::Shape { msg, .. } if msg.starts_with("invalid") => Some(
                "fix the value in the model file, or the flag that sets it (--alpha, --dropout); see models/article.toml".into(),
            ),
            Error::Shape { .. } => Some("run `elu-lab summary --model FILE` to see the shape after each layer".into()),
            Error::DataMismatch { .. } => Some("the model's input_shape must match the images (28x28x1 for MNIST)".into()),
            Error::NonFinite { .. } => Some("lower --lr, or check the data for extreme values; the last good checkpoint is kept".into()),
            Error::RunDirExists { path } => Some(format!(
                "continue it with `elu-lab train --resume {0}`, replace it with `--overwrite` (the old one is moved aside, not deleted), or choose another --out",
                path.display()
            )),
            Error::Locked { .. } => Some(
                "wait for that process to finish; if it is gone (a crash on another host), remove the directory's .lock file".into(),
            ),
            Error::NotARunDir { .. } => Some("give a directory written by `elu-lab train --out DIR`".into()),
            Error::DataChanged { .. } => Some(
                "restore the data the run started with, or start a new run on the new data".into(),
            ),
            Error::SweepPlanDiffers { .. } => Some(
                "run the same command as before to resume it, add --extend to add the new trials, or choose another --out".into(),
            ),
            Error::SweepInterrupted { .. } => Some(
                "run the same command again: finished trials are skipped and interrupted ones continue from their checkpoints".into(),
            ),
            Error::Interrupted { dir, .. } => Some(format!("continue with `elu-lab train --resume {}`", dir.display())),
        }
    }

    /// A read error for `path`.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Error::Read { path: path.to_path_buf(), source }
    }

    /// A write error for `path`.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write { path: path.to_path_buf(), source }
    }

    /// A corrupt-file error for `path`.
    pub fn corrupt(path: &Path, msg: impl Into<String>) -> Self {
        Error::Corrupt { path: path.to_path_buf(), msg: msg.into() }
    }

    /// A damaged or foreign weights or checkpoint file.
    pub fn checkpoint(path: &Path, msg: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
    }

    /// An invalid configuration value.
    pub fn config(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { what: what.into(), msg: msg.into() }
    }
}
