//! `elu-lab train`: train a model on MNIST (or any dataset in its layout) and evaluate it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use elu_lab::activations::Activation;
use elu_lab::data::{self, Dataset};
use elu_lab::init::Init;
use elu_lab::model::{LayerSpec, ModelSpec, Overrides, Sequential};
use elu_lab::optim::OptimizerConfig;
use elu_lab::report;
use elu_lab::train::checkpoint::{self, BestEpoch, Checkpoint};
use elu_lab::train::diagnostics;
use elu_lab::train::{EpochMetrics, FitConfig, History, Observer, Trainer};
use elu_lab::Error;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::progress::Progress;

/// The flags that rewrite a model file's layers (shared by `train`, `summary` and `bench`).
#[derive(Debug, Args, Clone, Default, Serialize, Deserialize)]
pub struct ModelOverrides {
    /// Function of every activation layer, with its default parameters (the final softmax
    /// stays).
    #[arg(long, value_name = "NAME", value_parser = activation_parser())]
    #[serde(default, with = "activation_name")]
    pub activation: Option<Activation>,
    /// ELU's α (> 0) in every ELU layer. The article's results use α = 1.0.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f32>,
    /// LeakyReLU's negative slope (>= 0) in every LeakyReLU layer (default 0.3, as in Keras).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(default)]
    pub negative_slope: Option<f32>,
    /// Kernel initialiser of every Conv2D and Dense layer (Keras's definitions).
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Rate of every Dropout layer, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub dropout: Option<f32>,
}

impl ModelOverrides {
    pub fn to_overrides(&self) -> Overrides {
        Overrides {
            activation: self.activation,
            alpha: self.alpha,
            negative_slope: self.negative_slope,
            init: self.init,
            dropout: self.dropout,
        }
    }

    /// Whether any flag is given.
    pub fn any(&self) -> bool {
        self.to_overrides() != Overrides::default()
    }

    /// Applies the flags to `spec`; an error names the flag.
    pub fn apply(&self, spec: &mut ModelSpec) -> elu_lab::Result<()> {
        spec.apply(&self.to_overrides()).map_err(|e| match e {
            Error::Config { what, msg } => Error::Config { what: format!("--{}", what.replace('_', "-")), msg },
            e => e,
        })
    }
}

/// `--activation`'s parser: the names of [`Activation::ALL`], listed in `--help` and in the
/// error for any other name.
fn activation_parser() -> impl clap::builder::TypedValueParser<Value = Activation> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Activation::names()).try_map(|name| name.parse::<Activation>())
}

/// `--activation` in the saved arguments: the name (the parameters are the defaults).
mod activation_name {
    use elu_lab::activations::Activation;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Option<Activation>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_some(a.name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Activation>, D::Error> {
        Option::<String>::deserialize(d)?.map(|name| name.parse().map_err(D::Error::custom)).transpose()
    }
}

/// Arguments of `elu-lab train`. Defaults reproduce the article: ELU (α = 1), he_normal,
/// Adam, batch 250, 25 epochs, validation_split 0.2, dropout 0.25.
#[derive(Debug, Args, Serialize, Deserialize)]
pub struct TrainArgs {
    #[command(flatten)]
    pub overrides: ModelOverrides,
    /// Number of epochs.
    #[arg(long, allow_negative_numbers = true, default_value_t = 25)]
    pub epochs: usize,
    /// Samples per batch.
    #[arg(long, allow_negative_numbers = true, default_value_t = 250)]
    pub batch_size: usize,
    /// Fraction of the training data held out for validation: the last fraction, taken before
    /// shuffling (Keras's validation_split). 0 disables validation.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.2)]
    pub validation_split: f64,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-3)]
    pub lr: f32,
    /// Optimiser: Keras's Adam (β 0.9/0.999, ε 1e-7) or SGD.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerChoice,
    /// Momentum for --optimizer sgd.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    pub momentum: f32,
    /// Seed for initialisation, shuffling and dropout: same seed, same numbers.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    pub seed: u64,
    /// Directory with the four MNIST-layout IDX files (gzipped or raw); default: the bundled MNIST.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Use only the first N training images (before the validation split), for quick runs.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub limit: Option<usize>,
    /// A preset's name (`elu-lab models` lists them) or a model file (TOML); default: article,
    /// the article's model (models/article.toml).
    #[arg(long, value_name = "NAME|FILE")]
    pub model: Option<PathBuf>,
    /// Run directory for history, plots, weights and summary; default: runs/<time>-<activation>-<init>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// 0 silent, 1 progress bar (one line per epoch when stdout is not a terminal), 2 one line per epoch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub verbose: u8,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    pub threads: usize,
    /// Stop when val_loss has not improved for N epochs, and keep the best epoch's weights.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub patience: Option<usize>,
    /// After every epoch, measure what the ELU paper claims: per activation layer the mean and
    /// standard deviation of its outputs and the fraction of dead units (never positive on 2,000
    /// validation images), and each layer's gradient norm; written to diagnostics.csv.
    #[arg(long)]
    #[serde(default)]
    pub diagnostics: bool,
    /// Continue the interrupted run in DIR from its last checkpoint, with its saved settings
    /// (only --threads and --verbose may be given with it). Ends with the same numbers as an
    /// uninterrupted run.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerChoice {
    Adam,
    Sgd,
}

impl TrainArgs {
    fn optimizer(&self) -> OptimizerConfig {
        match self.optimizer {
            OptimizerChoice::Adam => OptimizerConfig::adam(self.lr),
            OptimizerChoice::Sgd => OptimizerConfig::Sgd { lr: self.lr, momentum: self.momentum },
        }
    }

    /// Checks every flag that the library does not check itself.
    fn validate(&self) -> elu_lab::Result<()> {
        let v = self.validation_split;
        if !(0.0..1.0).contains(&v) {
            return Err(Error::config(
                "--validation-split",
                format!("must be in [0, 1) (0 disables validation), got {v}"),
            ));
        }
        if self.limit == Some(0) {
            return Err(Error::config("--limit", "must be at least 1, got 0"));
        }
        super::check_threads(self.threads)?;
        if self.patience == Some(0) {
            return Err(Error::config("--patience", "must be at least 1, got 0"));
        }
        if self.patience.is_some() && v == 0.0 {
            return Err(Error::config(
                "--patience",
                "early stopping watches val_loss, so it needs --validation-split > 0",
            ));
        }
        self.optimizer().validate()?;
        FitConfig { epochs: self.epochs, batch_size: self.batch_size, seed: self.seed, shuffle: true }.validate()
    }
}

/// The checkpoint file of a run directory.
const CHECKPOINT: &str = "checkpoint.safetensors";

/// Settings, model and training state of a run to continue.
struct Resumed {
    args: TrainArgs,
    spec: ModelSpec,
    dir: PathBuf,
}

/// Reads the saved settings of the run in `dir`.
fn resume_settings(dir: &Path, cli: &TrainArgs) -> elu_lab::Result<Resumed> {
    let given = flags_besides_defaults(cli);
    if !given.is_empty() {
        return Err(Error::config(
            "--resume",
            format!(
                "continues with the settings saved in {}; only --threads and --verbose may be given with it, got {}",
                dir.join(CHECKPOINT).display(),
                given.join(", ")
            ),
        ));
    }
    let path = dir.join(CHECKPOINT);
    let meta = checkpoint::checkpoint_metadata(&path)?;
    let get = |k: &str| meta.get(k).ok_or_else(|| Error::corrupt(&path, format!("checkpoint has no {k} entry")));
    let mut args: TrainArgs =
        serde_json::from_str(get("args")?).map_err(|e| Error::corrupt(&path, format!("saved arguments: {e}")))?;
    let spec = ModelSpec::parse(get("model")?, &path)?;
    args.threads = cli.threads;
    args.verbose = cli.verbose;
    args.out = Some(dir.to_path_buf());
    Ok(Resumed { args, spec, dir: dir.to_path_buf() })
}

/// The flags of `cli` (besides --threads, --verbose and --resume) whose values differ from
/// their defaults: those that a resumed run would ignore.
fn flags_besides_defaults(cli: &TrainArgs) -> Vec<String> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        args: TrainArgs,
    }
    let Ok(defaults) = <Defaults as clap::Parser>::try_parse_from(["elu-lab"]) else { return Vec::new() };
    // Both serialise to objects, one level nested (the model overrides).
    let flat = |a: &TrainArgs| -> Vec<(String, serde_json::Value)> {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(a) else { return Vec::new() };
        map.into_iter()
            .flat_map(|(k, v)| match v {
                serde_json::Value::Object(inner) => inner.into_iter().collect::<Vec<_>>(),
                v => vec![(k, v)],
            })
            .collect()
    };
    let default_values: std::collections::HashMap<_, _> = flat(&defaults.args).into_iter().collect();
    flat(cli)
        .into_iter()
        .filter(|(k, v)| !["threads", "verbose"].contains(&k.as_str()) && default_values.get(k) != Some(v))
        .map(|(k, _)| format!("--{}", k.replace('_', "-")))
        .collect()
}

/// Ctrl-C and SIGTERM raise the returned flag (the fit loop stops after the current batch);
/// a second signal ends the process at once.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

pub fn run(cli: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let resumed = match &cli.resume {
        Some(dir) => Some(resume_settings(dir, &cli)?),
        None => None,
    };
    let args = resumed.as_ref().map_or(&cli, |r| &r.args);
    args.validate()?;
    let pool = super::thread_pool(args.threads)?;

    // Model.
    let spec = match (&resumed, &args.model) {
        (Some(r), _) => r.spec.clone(),
        (None, Some(p)) => {
            let mut spec = ModelSpec::from_name_or_file(p)?;
            args.overrides.apply(&mut spec)?;
            spec
        }
        (None, None) => {
            let mut spec = ModelSpec::article();
            args.overrides.apply(&mut spec)?;
            spec
        }
    };
    let model_name = match (&resumed, &args.model) {
        (Some(r), _) => format!("the model saved in {}", r.dir.join(CHECKPOINT).display()),
        (None, Some(p)) => format!("model file {}", p.display()),
        (None, None) => "the article's model".to_string(),
    };
    let model = Sequential::from_spec(&spec).and_then(|m| m.check_trainable(10).map(|()| m)).with_context(|| {
        let flags = if resumed.is_none() && args.overrides.any() {
            " (after --activation/--alpha/--negative-slope/--init/--dropout)"
        } else {
            ""
        };
        format!("{model_name}{flags} cannot be trained")
    })?;

    // Data.
    let (mnist, data_name) = match &args.data {
        Some(dir) => (data::load_dir(dir, false)?, format!("--data {}", dir.display())),
        None => (data::bundled::load()?, "the bundled MNIST".to_string()),
    };
    let [h, w, c] = spec.input_shape;
    if (mnist.train.rows(), mnist.train.cols(), 1) != (h, w, c) {
        return Err(Error::DataMismatch {
            msg: format!(
                "the images of {data_name} are {}x{}x1 but the input_shape of {model_name} is {h}x{w}x{c}",
                mnist.train.rows(),
                mnist.train.cols()
            ),
        }
        .into());
    }
    // Each step frees what it no longer needs: only the split sets stay in memory.
    let data::Mnist { train: full, test } = mnist;
    let all = match args.limit {
        Some(n) => {
            let first = full.take(n);
            drop(full);
            first
        }
        None => full,
    };
    let (train, val) = if args.validation_split > 0.0 {
        let (t, v) = all.into_split_validation(args.validation_split)?;
        (t, Some(v))
    } else {
        (all, None)
    };

    // Run directory: created and written before training, so a bad --out fails at once.
    let out = match &resumed {
        Some(r) => r.dir.clone(),
        None => args.out.clone().unwrap_or_else(|| default_run_dir(&spec, args)),
    };
    std::fs::create_dir_all(&out).map_err(|e| Error::write(&out, e))?;
    report::atomic_write(&out.join("model.toml"), spec.to_toml().as_bytes())?;

    let fit = FitConfig { epochs: args.epochs, batch_size: args.batch_size, seed: args.seed, shuffle: true };
    // A batch never holds more than the training set: a larger --batch-size means one batch of
    // everything (as in Keras), and must not size the buffers.
    let engine_batch = args.batch_size.min(train.len()).max(1);
    let extra = std::collections::HashMap::from([
        ("args".to_string(), serde_json::to_string(args)?),
        ("model".to_string(), spec.to_toml()),
    ]);
    let (mut trainer, mut history, start_epoch, best) = match &resumed {
        Some(_) => {
            let ck = checkpoint::load_checkpoint(&out.join(CHECKPOINT), &model)?;
            let trainer = pool.install(|| Trainer::with_state(&model, ck.params, ck.optimizer, engine_batch));
            (trainer, ck.history, ck.epoch, ck.best)
        }
        None => {
            let trainer = pool.install(|| Trainer::new(&model, args.optimizer(), engine_batch, args.seed));
            let ck = Checkpoint {
                epoch: 0,
                params: trainer.params.clone(),
                optimizer: trainer.optimizer.clone(),
                history: History::default(),
                best: None,
                extra: extra.clone(),
            };
            checkpoint::save_checkpoint(&out.join(CHECKPOINT), &model, &ck)?;
            (trainer, History::default(), 0, None)
        }
    };
    let mut observer = RunObserver {
        progress: Progress::new(args.verbose, args.epochs),
        out: &out,
        history: history.clone(),
        extra,
        patience: args.patience,
        best,
        diagnostics: args.diagnostics.then(|| (val.as_ref().unwrap_or(&train), earlier_diagnostics(&out, start_epoch))),
    };
    if args.verbose > 0 {
        if start_epoch > 0 {
            say(format_args!("Resuming {} after epoch {start_epoch}", out.display()));
        }
        say(format_args!(
            "Training on {} samples, validating on {}; {} parameters; run directory {}",
            train.len(),
            val.as_ref().map_or(0, Dataset::len),
            model.param_count(),
            out.display()
        ));
    }
    let first_batch_s = started.elapsed().as_secs_f64();
    let stop = stop_flag()?;
    // A resumed run that had already stopped early (or finished) trains no further.
    if !observer.stopped_early(start_epoch) {
        let result = pool
            .install(|| trainer.fit(&train, val.as_ref(), &fit, start_epoch, &mut history, &mut observer, Some(&stop)));
        match result {
            Err(Error::Interrupted { epoch, .. }) => return Err(Error::Interrupted { epoch, dir: out }.into()),
            other => other?,
        }
    }

    // Keep the best epoch's weights when early stopping was asked for.
    let mut best_epoch = None;
    if let Some(best) = observer.best.take() {
        trainer.params = best.params;
        best_epoch = Some(best.epoch);
    }
    let (test_loss, test_acc) = pool.install(|| trainer.evaluate(&test));
    checkpoint::save_weights(&out.join("weights.safetensors"), &model, &trainer.params)?;

    let summary = json!({
        "crate_version": env!("CARGO_PKG_VERSION"),
        "command": std::env::args().collect::<Vec<_>>(),
        "config": args,
        "threads": pool.current_num_threads(),
        "model": spec,
        "params": model.param_count(),
        "train_samples": train.len(),
        "validation_samples": val.as_ref().map_or(0, Dataset::len),
        "test_samples": test.len(),
        "epochs_run": history.epochs(),
        "best_epoch": best_epoch,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "epoch_seconds": history.epoch_seconds,
        "seconds_to_first_batch": first_batch_s,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    report::atomic_write(&out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    if args.verbose > 0 {
        say(format_args!("Results in {}", out.display()));
    }
    // The one line of output that matters: a failure to write it is an error (a closed pipe,
    // as in `elu-lab train | head`, is not: main treats it as success).
    writeln!(std::io::stdout(), "Test loss: {test_loss:.4} / Test accuracy: {test_acc:.4}")
        .and_then(|()| std::io::stdout().flush())
        .context("cannot write the test results to standard output (they are in summary.json)")?;
    Ok(())
}

/// Prints a progress line; a standard output that cannot be written (closed, or a full disk)
/// does not stop training, whose results go to the run directory.
pub(super) fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Writes history and plots after every epoch and does early stopping.
struct RunObserver<'a> {
    progress: Progress,
    out: &'a Path,
    history: History,
    /// Saved with every checkpoint: the run's arguments and model file.
    extra: std::collections::HashMap<String, String>,
    patience: Option<usize>,
    /// The best epoch so far (lowest val_loss), with --patience; saved in every checkpoint.
    best: Option<BestEpoch>,
    /// With --diagnostics: the images to measure activations on, and the CSV rows so far.
    diagnostics: Option<(&'a Dataset, String)>,
}

/// The diagnostics.csv rows of the epochs before `start_epoch` (when resuming a run).
fn earlier_diagnostics(out: &Path, start_epoch: usize) -> String {
    let text = std::fs::read_to_string(out.join("diagnostics.csv")).unwrap_or_default();
    let keep =
        |line: &&str| line.split(',').next().and_then(|e| e.parse::<usize>().ok()).is_some_and(|e| e < start_epoch);
    text.lines().skip(1).filter(keep).map(|l| format!("{l}\n")).collect()
}

/// Images the activation diagnostics look at after each epoch.
const DIAGNOSTIC_SAMPLES: usize = 2000;

impl RunObserver<'_> {
    /// Measures activations and gradients, prints a summary line, and rewrites diagnostics.csv.
    fn diagnose(&mut self, epoch: usize, trainer: &Trainer) -> elu_lab::Result<()> {
        let Some((data, rows)) = &mut self.diagnostics else { return Ok(()) };
        let stats = diagnostics::activation_stats(trainer.model, &trainer.params, data, DIAGNOSTIC_SAMPLES);
        let norms = diagnostics::gradient_norms(trainer.model, trainer.gradients());
        let mut line = String::from("  diagnostics:");
        for s in &stats {
            for (metric, v) in
                [("mean_activation", s.mean), ("std_activation", s.std), ("dead_fraction", s.dead_fraction)]
            {
                rows.push_str(&format!("{epoch},{},{metric},{v}\n", s.layer));
            }
            line.push_str(&format!(
                " {} mean {:+.3} sd {:.3} dead {:.1}% |",
                s.layer,
                s.mean,
                s.std,
                100.0 * s.dead_fraction
            ));
        }
        line.push_str(" gradient norms");
        for (layer, norm) in &norms {
            rows.push_str(&format!("{epoch},{layer},grad_norm,{norm}\n"));
            line.push_str(&format!(" {layer} {norm:.2e}"));
        }
        if self.progress.verbose() > 0 {
            say(format_args!("{line}"));
        }
        let csv = format!("epoch,layer,metric,value\n{rows}");
        report::atomic_write(&self.out.join("diagnostics.csv"), csv.as_bytes())
    }
}

impl RunObserver<'_> {
    /// Whether early stopping ends the run after `epochs` epochs.
    fn stopped_early(&self, epochs: usize) -> bool {
        match (self.patience, &self.best) {
            (Some(patience), Some(best)) => epochs.saturating_sub(best.epoch) >= patience,
            _ => false,
        }
    }
}

impl Observer for RunObserver<'_> {
    fn epoch_begin(&mut self, epoch: usize, batches: usize) {
        self.progress.epoch_begin(epoch, batches);
    }

    fn batch_end(&mut self, batch: usize, loss: f64, accuracy: f64) {
        self.progress.batch_end(batch, loss, accuracy);
    }

    fn epoch_end(&mut self, epoch: usize, m: &EpochMetrics, trainer: &Trainer) -> elu_lab::Result<bool> {
        self.progress.epoch_end(m);
        self.history.push(*m);
        self.diagnose(epoch, trainer)?;
        if self.patience.is_some() {
            let vl = m.val_loss.unwrap_or(f64::INFINITY);
            if self.best.as_ref().is_none_or(|b| vl < b.val_loss) {
                self.best = Some(BestEpoch { epoch: epoch + 1, val_loss: vl, params: trainer.params.clone() });
            }
        }
        report::write_history(self.out, &self.history)?;
        report::write_plots(self.out, &self.history)?;
        let ck = Checkpoint {
            epoch: epoch + 1,
            params: trainer.params.clone(),
            optimizer: trainer.optimizer.clone(),
            history: self.history.clone(),
            best: self.best.clone(),
            extra: self.extra.clone(),
        };
        checkpoint::save_checkpoint(&self.out.join(CHECKPOINT), trainer.model, &ck)?;
        if !self.stopped_early(epoch + 1) {
            return Ok(true);
        }
        if let (Some(patience), Some(best)) = (self.patience, &self.best) {
            say(format_args!(
                "Early stopping: val_loss has not improved for {patience} epochs; restoring the weights of epoch {}",
                best.epoch
            ));
        }
        Ok(false)
    }
}

/// runs/<UTC time>-<activation>-<init>.
fn default_run_dir(spec: &ModelSpec, args: &TrainArgs) -> PathBuf {
    let act = spec.layers.iter().find(|l| l.is_hidden_activation()).map_or("model", LayerSpec::type_name);
    let init = spec.kernel_initializer().map_or("model", |i| i.name());
    PathBuf::from("runs").join(format!("{}-{act}-{init}-seed{}", utc_timestamp(), args.seed))
}

/// The current UTC time as YYYYmmdd-HHMMSS (civil-from-days, Howard Hinnant's algorithm).
fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
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
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
