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
    /// The data does not fit the model (image size, number of classes).
    #[error("data does not fit the model: {msg}")]
    DataMismatch { msg: String },
    /// Training produced a NaN or infinite loss (or weight, or validation loss): `what` became
    /// `value` at `batch` of `epoch` (both counted from 1).
    #[error("{what} became {value} at epoch {epoch}, batch {batch}; training stopped")]
    NonFinite { what: &'static str, epoch: usize, batch: usize, value: f32 },
    /// Training was interrupted by a signal; the run directory holds the state so far.
    #[error("training interrupted during epoch {epoch}; history and checkpoint saved in {}", dir.display())]
    Interrupted { epoch: usize, dir: PathBuf },
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
            Error::Corrupt { .. } => Some("the file looks truncated or is not an IDX file; restore it (e.g. `git checkout data/mnist`) or re-download it".into()),
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

    /// An invalid configuration value.
    pub fn config(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { what: what.into(), msg: msg.into() }
    }
}
