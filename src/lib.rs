//! elu-lab: fast, reproducible activation-function experiments on small convnets.
//!
//! The first experiment is the one of "How to use ELU with Keras" (after Clevert, Unterthiner &
//! Hochreiter, 2015): a small convnet on MNIST with ELU versus ReLU and He versus Glorot
//! initialisation, with Keras's semantics for the initialisers, Adam and `validation_split`.
//!
//! The flow of a training run:
//! `data` (IDX files → [`data::Dataset`]) → `train` (split, shuffle, batches) → `model`
//! (forward, loss, backward) → `optim` (Adam) → `train::History` → `report` (CSV, JSON, plots).
//!
//! And of inference: `infer::open_trained` (a run directory → model and weights) →
//! [`model::Engine::infer`] (images → class probabilities, no labels); `infer::evaluate` (a
//! labelled test set → loss, accuracy, confusion matrix) and `infer::predict_files` (image
//! files → MNIST-style inputs → probabilities).

pub mod activations;
pub mod data;
pub mod error;
pub mod infer;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod limits;
pub mod loss;
pub mod model;
pub mod optim;
pub mod report;
pub mod rng;
pub mod rundir;
pub mod study;
pub mod train;

pub use error::{Error, Result};
