//! The fit loop: Keras's `model.fit` semantics over an [`Engine`].
//!
//! Each epoch reshuffles the training part (the validation part was split off before, as the
//! last fraction, by `Dataset::split_validation`), runs the batches in order (the last one
//! may be smaller), reports training loss and accuracy averaged over the epoch weighted by
//! batch size, then evaluates the validation part in inference mode.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::callbacks::{BatchLogs, Callback, Control, EpochEnd};
use super::history::{EpochMetrics, History};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::aligned::LineAligned;
use crate::kernels::simd::{multiversion, Level};
use crate::kernels::sparse::SparseColumns;
use crate::model::exec::{Samples, Update};
use crate::model::{Engine, Sequential};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::{Rng, Stream};

/// Settings of `fit`.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Fixes initialisation, shuffling and dropout.
    pub seed: u64,
    /// Reshuffle the training samples every epoch (Keras's default).
    pub shuffle: bool,
}

impl FitConfig {
    /// Rejects values that cannot train, naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config("epochs", "must be at least 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1, got 0"));
        }
        Ok(())
    }
}

/// Called after every epoch, once all callbacks have seen it: (trainer, history, callbacks,
/// whether a callback stopped training). The run's backup is written here.
pub type EpochHook<'a> = dyn FnMut(&Trainer, &History, &[Box<dyn Callback>], bool) -> Result<()> + 'a;

/// A model's parameters and optimiser, and the buffers to train it.
#[derive(Debug)]
pub struct Trainer<'m> {
    pub model: &'m Sequential,
    pub params: Vec<f32>,
    pub optimizer: Optimizer,
    /// The weights while an epoch's batches run (copied from `params` before them and back
    /// after), and the gradient: both start at a cache line (see [`LineAligned`]).
    work: LineAligned,
    grads: LineAligned,
    engine: Engine,
}

impl<'m> Trainer<'m> {
    /// A trainer with freshly initialised parameters (seeded) and a fresh optimiser. Make it
    /// inside the thread pool that will train it (its engine keeps one workspace per thread).
    pub fn new(model: &'m Sequential, opt: OptimizerConfig, batch_size: usize, seed: u64) -> Self {
        let params = model.init_params(seed);
        Self::with_state(model, params, Optimizer::new(opt, model.param_count()), batch_size)
    }

    /// A trainer continuing from saved parameters and optimiser state.
    pub fn with_state(model: &'m Sequential, params: Vec<f32>, optimizer: Optimizer, batch_size: usize) -> Self {
        let n = model.param_count();
        Trainer {
            model,
            work: LineAligned::from_slice(&params),
            params,
            optimizer,
            grads: LineAligned::zeros(n),
            engine: Engine::new(model, batch_size, true),
        }
    }

    /// Trains epochs `start_epoch..cfg.epochs`, appending to `history` and calling `callbacks`
    /// (epoch and batch events; `on_train_begin` and `on_train_end` are the caller's), then
    /// `hook` after each epoch. Returns whether a callback stopped training.
    ///
    /// Stops with [`Error::NonFinite`] when an update makes a weight NaN or infinite, or when the
    /// validation loss is (and, with [`super::callbacks::TerminateOnNaN`], when a batch's loss
    /// is); callbacks and the hook have then seen only good epochs, so the last checkpoint is a
    /// good one. Stops with [`Error::Interrupted`] when `stop` is raised (after finishing the
    /// current batch).
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        &mut self,
        train: &Dataset,
        val: Option<&Dataset>,
        cfg: &FitConfig,
        start_epoch: usize,
        history: &mut History,
        callbacks: &mut [Box<dyn Callback>],
        hook: &mut EpochHook,
        stop: Option<&AtomicBool>,
    ) -> Result<bool> {
        cfg.validate()?;
        let n = train.len();
        if n == 0 {
            return Err(Error::DataMismatch { msg: "the training set is empty".into() });
        }
        let batches = n.div_ceil(cfg.batch_size);
        let mut order: Vec<usize> = (0..n).collect();
        for epoch in start_epoch..cfg.epochs {
            let t0 = Instant::now();
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            if cfg.shuffle {
                Rng::stream(cfg.seed, Stream::Shuffle, &[epoch as u64]).shuffle(&mut order);
            }
            callbacks.iter_mut().for_each(|c| c.on_epoch_begin(epoch, batches));
            // The batches run on the aligned copy of the weights, which goes back to `params`
            // however they end.
            self.work.copy_from_slice(&self.params);
            let ran = self.batches(train, cfg, epoch, &order, callbacks, stop);
            self.params.copy_from_slice(&self.work);
            let (loss_sum, correct) = ran?;
            let train_seconds = t0.elapsed().as_secs_f64();
            let (val_loss, val_accuracy) = match val {
                Some(v) => {
                    let (l, a) = evaluate(&mut self.engine, self.model, &self.params, v);
                    if !l.is_finite() {
                        let value = l as f32;
                        return Err(Error::NonFinite {
                            what: "validation loss",
                            epoch: epoch + 1,
                            batch: batches,
                            value,
                        });
                    }
                    (Some(l), Some(a))
                }
                None => (None, None),
            };
            let metrics = EpochMetrics {
                loss: loss_sum / n as f64,
                accuracy: correct as f64 / n as f64,
                val_loss,
                val_accuracy,
                seconds: t0.elapsed().as_secs_f64(),
            };
            history.push(metrics);
            history.train_seconds.push(train_seconds);
            let end = EpochEnd {
                epoch,
                logs: &metrics,
                history,
                model: self.model,
                params: &self.params,
                gradients: &self.grads,
            };
            // Every callback sees the epoch, as in Keras, before a stop takes effect.
            let mut stopped = false;
            for c in callbacks.iter_mut() {
                stopped |= c.on_epoch_end(&end)? == Control::Stop;
            }
            hook(self, history, callbacks, stopped)?;
            // A run that has finished is not interrupted, whatever the signal.
            if stopped {
                return Ok(true);
            }
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) && epoch + 1 < cfg.epochs {
                return Err(Error::Interrupted { epoch: epoch + 1, dir: Default::default() });
            }
        }
        Ok(false)
    }

    /// One epoch's batches, in `order`, on the aligned weights (`work`): (sum of losses, correct
    /// count).
    #[allow(clippy::too_many_arguments)]
    fn batches(
        &mut self,
        train: &Dataset,
        cfg: &FitConfig,
        epoch: usize,
        order: &[usize],
        callbacks: &mut [Box<dyn Callback>],
        stop: Option<&AtomicBool>,
    ) -> Result<(f64, usize)> {
        let n = train.len();
        let batches = n.div_ceil(cfg.batch_size);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        // Each step's gradient is kept only for callbacks that read it, and for the epoch's
        // end (`EpochEnd::gradients`).
        let read = callbacks.iter().any(|c| c.reads_gradients());
        for b in 0..batches {
            self.engine.keep_gradients(read || b + 1 == batches);
            let idx = &order[b * cfg.batch_size..((b + 1) * cfg.batch_size).min(n)];
            // The next batch's images, on their way into the caches during this step.
            train.prefetch(order.get((b + 1) * cfg.batch_size..((b + 2) * cfg.batch_size).min(n)).unwrap_or(&[]));
            let fill = Batch { data: train, indices: idx };
            let step = self.optimizer.iterations;
            let (params, grads, m) = (&mut self.work[..], &mut self.grads[..], idx.len());
            // Plain SGD is applied by the engine to each layer as soon as its gradient is
            // formed, where it can (the same bits as the optimizer's own step).
            // `updated`: whether every weight it updated is finite, if it did.
            let ((l, c), updated) = match self.optimizer.plain_sgd_lr() {
                Some(lr) => self.engine.train_step_updating(
                    self.model,
                    params,
                    grads,
                    m,
                    &fill,
                    cfg.seed,
                    step,
                    Update::PlainSgd(lr),
                ),
                None => (self.engine.train_step(self.model, params, grads, m, &fill, cfg.seed, step), None),
            };
            callbacks.iter_mut().for_each(|c| c.on_gradients(self.model, &self.grads));
            if updated.is_some() {
                self.optimizer.count_step();
            } else {
                self.optimizer.step(&mut self.work, &self.grads);
            }
            loss_sum += l;
            correct += c;
            let seen = ((b + 1) * cfg.batch_size).min(n) as f64;
            let logs = BatchLogs {
                loss: l / idx.len() as f64,
                running_loss: loss_sum / seen,
                running_accuracy: correct as f64 / seen,
            };
            for c in callbacks.iter_mut() {
                c.on_batch_end(epoch, b, &logs)?;
            }
            // A finite loss can still take an update to infinity (a huge learning rate):
            // stop here, or the end of the epoch would checkpoint the broken weights.
            if !updated.unwrap_or_else(|| all_finite(&self.work)) {
                let value = self.work.iter().copied().find(|p| !p.is_finite()).unwrap_or(f32::NAN);
                return Err(Error::NonFinite { what: "a weight", epoch: epoch + 1, batch: b + 1, value });
            }
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) && b + 1 < batches {
                return Err(Error::Interrupted { epoch: epoch + 1, dir: Default::default() });
            }
        }
        Ok((loss_sum, correct))
    }

    /// The batch-mean gradient of the last training step (the flat parameter layout).
    pub fn gradients(&self) -> &[f32] {
        &self.grads
    }

    /// Loss and accuracy on `data` in inference mode.
    pub fn evaluate(&mut self, data: &Dataset) -> (f64, f64) {
        evaluate(&mut self.engine, self.model, &self.params, data)
    }
}

/// Whether every value is finite: one vectorised pass without early exit (x · 0 is 0 for a
/// finite x, NaN for an infinite or NaN one, and a NaN stays in its lane's sum).
fn all_finite(xs: &[f32]) -> bool {
    all_finite_at(Level::current(), xs)
}

multiversion! {
    /// [`all_finite`] compiled for `level`.
    fn all_finite_at(xs: &[f32]) -> bool {
        const W: usize = 16;
        let mut acc = [0.0f32; W];
        let chunks = xs.chunks_exact(W);
        let tail = chunks.remainder();
        for c in chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += x * 0.0;
            }
        }
        acc.iter().chain(tail).all(|v| v.is_finite())
    }
}

/// Mean loss and accuracy of `params` on `data`, in inference mode, batch by batch.
pub fn evaluate(engine: &mut Engine, model: &Sequential, params: &[f32], data: &Dataset) -> (f64, f64) {
    let n = data.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let bs = engine.batch_size();
    let (mut loss, mut correct) = (0.0, 0);
    let ids: Vec<usize> = (0..n).collect();
    for start in (0..n).step_by(bs) {
        let idx = &ids[start..(start + bs).min(n)];
        let fill = |r: Range<usize>, x: &mut [f32], y: &mut [u8]| data.fill_batch(&idx[r], x, y);
        let (l, c) = engine.evaluate(model, params, idx.len(), &fill);
        loss += l;
        correct += c;
    }
    (loss / n as f64, correct as f64 / n as f64)
}

/// The samples `indices` of a data set, in that order, as a training step takes them.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub data: &'a Dataset,
    pub indices: &'a [usize],
}

impl Samples for Batch<'_> {
    fn fill(&self, rows: Range<usize>, x: &mut [f32], y: &mut [u8]) {
        self.data.fill_batch(&self.indices[rows], x, y)
    }

    fn fill_lists(&self, rows: Range<usize>, lists: &mut SparseColumns, y: &mut [u8]) -> bool {
        self.data.list_batch(&self.indices[rows], lists, y);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::model::ActivationArg;
    use crate::model::{LayerSpec, ModelSpec};

    /// Flatten + dense softmax on 2x2 images: small enough to make diverge at will.
    fn tiny() -> Sequential {
        let dense = LayerSpec::Dense {
            units: 10,
            use_bias: true,
            kernel_initializer: Init::GlorotUniform,
            activation: Some(ActivationArg::Softmax),
        };
        Sequential::from_spec(&ModelSpec { input_shape: [2, 2, 1], layers: vec![LayerSpec::Flatten, dense] }).unwrap()
    }

    fn data(n: usize, salt: usize) -> Dataset {
        let images = (0..n * 4).map(|i| ((i + salt) * 67 % 256) as u8).collect();
        Dataset::new(images, (0..n).map(|i| (i % 10) as u8).collect(), 2, 2).unwrap()
    }

    /// Records the epochs the callbacks were told about (what a checkpointing callback saves).
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

    impl Callback for Seen {
        fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
            let m = end.logs;
            assert!(m.loss.is_finite() && m.val_loss.is_none_or(f64::is_finite));
            assert!(end.params.iter().all(|p| p.is_finite()), "epoch {} ended with a non-finite weight", end.epoch);
            self.0.lock().unwrap().push(end.epoch);
            Ok(Control::Continue)
        }
    }

    fn no_hook() -> impl FnMut(&Trainer, &History, &[Box<dyn Callback>], bool) -> Result<()> {
        |_, _, _, _| Ok(())
    }

    /// Trains two good epochs, then continues with learning rate `lr`; returns the error and
    /// the epochs the callbacks saw.
    fn diverge(batch_size: usize, train_n: usize, lr: f32) -> (Error, Vec<usize>) {
        diverge_with(batch_size, train_n, lr, 0.9)
    }

    /// [`diverge`] with SGD's momentum `momentum` after the good epochs (0: plain SGD, which
    /// the engine applies itself in a split step and checks as it updates).
    fn diverge_with(batch_size: usize, train_n: usize, lr: f32, momentum: f32) -> (Error, Vec<usize>) {
        let model = tiny();
        let (train, val) = (data(train_n, 0), data(10, 3));
        let mut trainer = Trainer::new(&model, OptimizerConfig::Sgd { lr: 0.01, momentum: 0.0 }, batch_size, 1);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut callbacks: Vec<Box<dyn Callback>> =
            vec![Box::new(super::super::callbacks::TerminateOnNaN), Box::new(Seen(seen.clone()))];
        let mut history = History::default();
        let cfg = FitConfig { epochs: 2, batch_size, seed: 1, shuffle: true };
        trainer.fit(&train, Some(&val), &cfg, 0, &mut history, &mut callbacks, &mut no_hook(), None).unwrap();
        assert_eq!(*seen.lock().unwrap(), [0, 1]);
        trainer.optimizer.config = OptimizerConfig::Sgd { lr, momentum };
        let cfg = FitConfig { epochs: 20, ..cfg };
        let err =
            trainer.fit(&train, Some(&val), &cfg, 2, &mut history, &mut callbacks, &mut no_hook(), None).unwrap_err();
        // Every epoch before the failing one, and only those, finished (and was checkpointable).
        let Error::NonFinite { epoch, .. } = err else { panic!("expected a non-finite error, got {err:?}") };
        assert_eq!(*seen.lock().unwrap(), (0..epoch - 1).collect::<Vec<_>>());
        assert_eq!(history.epochs(), epoch - 1);
        let seen = seen.lock().unwrap().clone();
        (err, seen)
    }

    /// Records every batch's logs.
    struct Batches(std::sync::Arc<std::sync::Mutex<Vec<BatchLogs>>>);

    impl Callback for Batches {
        fn on_batch_end(&mut self, _epoch: usize, _batch: usize, logs: &BatchLogs) -> Result<()> {
            self.0.lock().unwrap().push(*logs);
            Ok(())
        }
    }

    /// Records the gradient of each epoch's end, and (when `reads`) the sum of every step's.
    struct Gradients {
        reads: bool,
        steps: std::sync::Arc<std::sync::Mutex<Vec<f64>>>,
        ends: std::sync::Arc<std::sync::Mutex<Vec<Vec<f32>>>>,
    }

    impl Callback for Gradients {
        fn reads_gradients(&self) -> bool {
            self.reads
        }
        fn on_gradients(&mut self, _model: &Sequential, gradients: &[f32]) {
            if self.reads {
                self.steps.lock().unwrap().push(gradients.iter().map(|&g| f64::from(g)).sum());
            }
        }
        fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
            self.ends.lock().unwrap().push(end.gradients.to_vec());
            Ok(Control::Continue)
        }
    }

    #[test]
    fn gradients_not_read_are_not_kept_and_the_weights_are_the_same() {
        // A dense net the engine runs as column steps under plain SGD, with sparse inputs.
        let text = "input_shape = [6, 6, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 48\nactivation = \"elu\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
        let model = Sequential::from_spec(&ModelSpec::parse(text, std::path::Path::new("x.toml")).unwrap()).unwrap();
        let images = (0..100 * 36).map(|i| if i % 4 == 0 { (i * 67 % 256) as u8 } else { 0 }).collect();
        let train = Dataset::new(images, (0..100).map(|i| (i % 10) as u8).collect(), 6, 6).unwrap();
        let run = |reads: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            pool.install(|| {
                let mut trainer = Trainer::new(&model, OptimizerConfig::Sgd { lr: 0.05, momentum: 0.0 }, 16, 1);
                let (steps, ends) = Default::default();
                let g = Gradients { reads, steps: std::sync::Arc::clone(&steps), ends: std::sync::Arc::clone(&ends) };
                let mut callbacks: Vec<Box<dyn Callback>> = vec![Box::new(g)];
                let cfg = FitConfig { epochs: 2, batch_size: 16, seed: 1, shuffle: true };
                let mut history = History::default();
                trainer.fit(&train, None, &cfg, 0, &mut history, &mut callbacks, &mut no_hook(), None).unwrap();
                let (steps, ends) = (steps.lock().unwrap().clone(), ends.lock().unwrap().clone());
                (trainer.params, steps, ends)
            })
        };
        let (kept_params, kept_steps, kept_ends) = run(true);
        let (unkept_params, unkept_steps, unkept_ends) = run(false);
        assert_eq!(kept_steps.len(), 2 * 7);
        assert!(kept_steps.iter().all(|s| s.is_finite() && *s != 0.0));
        assert!(unkept_steps.is_empty());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&kept_params), bits(&unkept_params), "the weights differ");
        assert_eq!(kept_ends.len(), 2);
        for (a, b) in kept_ends.iter().zip(&unkept_ends) {
            assert_eq!(bits(a), bits(b), "the gradient at an epoch's end differs");
        }
    }

    #[test]
    fn running_metrics_are_over_the_samples_seen_and_end_at_the_epochs() {
        // 45 samples in batches of 10: the running loss after each batch is the mean over the
        // samples so far, and after the last (5 samples) it is the epoch's loss.
        let model = tiny();
        let train = data(45, 0);
        let mut trainer = Trainer::new(&model, OptimizerConfig::Sgd { lr: 0.01, momentum: 0.0 }, 10, 1);
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut callbacks: Vec<Box<dyn Callback>> = vec![Box::new(Batches(logs.clone()))];
        let mut history = History::default();
        let cfg = FitConfig { epochs: 1, batch_size: 10, seed: 1, shuffle: true };
        trainer.fit(&train, None, &cfg, 0, &mut history, &mut callbacks, &mut no_hook(), None).unwrap();
        let logs = logs.lock().unwrap().clone();
        assert_eq!(logs.len(), 5);
        let (mut sum, mut seen) = (0.0, 0.0);
        for (b, l) in logs.iter().enumerate() {
            let m = if b < 4 { 10.0 } else { 5.0 };
            sum += l.loss * m;
            seen += m;
            assert!((l.running_loss - sum / seen).abs() < 1e-12, "batch {b}: {} vs {}", l.running_loss, sum / seen);
        }
        let last = logs.last().unwrap();
        assert!((last.running_loss - history.loss[0]).abs() < 1e-12, "{} vs {}", last.running_loss, history.loss[0]);
        assert!((last.running_accuracy - history.accuracy[0]).abs() < 1e-12);
        // The weights trained are the trainer's.
        assert_ne!(trainer.params, model.init_params(1));
    }

    #[test]
    fn all_finite_finds_any_infinity_or_nan_at_every_level() {
        for level in crate::kernels::simd::Level::supported() {
            for len in [0usize, 1, 15, 16, 17, 100] {
                let xs: Vec<f32> = (0..len).map(|i| i as f32 * 1e30 - 3.0).collect();
                assert!(all_finite_at(level, &xs), "{level} {len}");
                for at in 0..len {
                    for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
                        let mut ys = xs.clone();
                        ys[at] = bad;
                        assert!(!all_finite_at(level, &ys), "{level} len {len}: {bad} at {at}");
                    }
                }
            }
        }
    }

    /// A weight that plain SGD's update breaks is caught by the check made as the engine updates
    /// each layer (batches of 10: split steps), as by the trainer's own check.
    #[test]
    fn a_weight_broken_inside_the_engines_update_is_caught() {
        let model = tiny();
        assert!(crate::model::Engine::new(&model, 10, true).splits(10), "a split step");
        // An infinite learning rate breaks the weights in the first step of epoch 3.
        let (err, seen) = diverge_with(10, 40, f32::INFINITY, 0.0);
        assert_eq!(seen, [0, 1]);
        match err {
            Error::NonFinite { epoch, batch, value, what } => {
                assert_eq!((what, epoch, batch), ("a weight", 3, 1));
                assert!(!value.is_finite(), "{value}");
            }
            other => panic!("expected a non-finite error, got {other:?}"),
        }
    }

    #[test]
    fn a_non_finite_loss_names_epoch_and_batch_and_only_good_epochs_are_observed() {
        let (err, seen) = diverge(10, 40, f32::MAX);
        assert!(seen.len() >= 2);
        match err {
            Error::NonFinite { epoch, batch, value, what } => {
                assert!(epoch >= 3 && (1..=4).contains(&batch) && !value.is_finite(), "{what} {value} {epoch} {batch}");
            }
            other => panic!("expected a non-finite error, got {other:?}"),
        }
    }

    #[test]
    fn weights_broken_by_an_epochs_last_update_are_never_observed() {
        // One batch per epoch: the update that breaks the weights is the epoch's last, so only
        // the weight and validation checks can stop the epoch from being checkpointed.
        // An infinite learning rate makes the first update's weights infinite, its loss finite.
        let (err, seen) = diverge(40, 40, f32::INFINITY);
        assert_eq!(seen, [0, 1]);
        let msg = err.to_string();
        match err {
            Error::NonFinite { epoch: 3, batch: 1, what, .. } => assert_eq!(what, "a weight", "{msg}"),
            other => panic!("expected a non-finite weight or validation loss at epoch 3, got {other:?}"),
        }
        assert!(msg.contains("at epoch 3, batch 1; training stopped"), "{msg}");
    }

    #[test]
    fn a_raised_stop_flag_ends_the_epoch_after_the_current_batch() {
        struct StopAt<'a>(&'a AtomicBool, usize);
        impl Callback for StopAt<'_> {
            fn on_batch_end(&mut self, _: usize, batch: usize, _: &BatchLogs) -> Result<()> {
                if batch == self.1 {
                    self.0.store(true, Ordering::SeqCst);
                }
                Ok(())
            }
        }
        let model = tiny();
        let train = data(40, 0);
        let mut trainer = Trainer::new(&model, OptimizerConfig::adam(1e-3), 10, 1);
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let cfg = FitConfig { epochs: 3, batch_size: 10, seed: 1, shuffle: true };
        let mut history = History::default();
        let mut callbacks: Vec<Box<dyn Callback>> = vec![Box::new(StopAt(stop, 1))];
        let err =
            trainer.fit(&train, None, &cfg, 0, &mut history, &mut callbacks, &mut no_hook(), Some(stop)).unwrap_err();
        assert!(matches!(err, Error::Interrupted { epoch: 1, .. }), "{err:?}");
        assert_eq!(trainer.optimizer.iterations, 2, "the batch in progress finishes, no other starts");
        assert_eq!(history.epochs(), 0);
    }
}
