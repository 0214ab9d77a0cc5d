//! Training data: the IDX file format, in-memory datasets, and the MNIST bundled with the repository.

pub mod bundled;
pub mod dataset;
pub mod idx;

pub use dataset::{data_files, fingerprint, load_dir, Dataset, Mnist};
