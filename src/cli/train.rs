//! `elu-lab train`: flags → [`RunConfig`] → [`RunDir::train`] → the test line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use elu_lab::activations::Activation;
use elu_lab::init::Init;
use elu_lab::model::{ModelSpec, Overrides, Sequential};
use elu_lab::optim::OptimizerConfig;
use elu_lab::rundir::RunDir;
use elu_lab::train::callbacks::progress::say;
use elu_lab::train::callbacks::ProgressBar;
use elu_lab::train::{
    CallbackConfig, DataConfig, EarlyStoppingConfig, Mode, ModelCheckpointConfig, Monitor, RunConfig,
};
use elu_lab::Error;
use serde::{Deserialize, Serialize};

/// The flags that rewrite a model file's layers (shared by `train`, `summary` and `bench`).
#[derive(Debug, Args, Clone, Default, Serialize, Deserialize)]
pub struct ModelOverrides {
    /// Function of every activation layer, with its default parameters (the final softmax
    /// stays). selu without --init also sets every kernel initialiser to lecun_normal, its own.
    #[arg(long, value_name = "NAME", value_parser = activation_parser())]
    #[serde(default, with = "activation_name")]
    pub activation: Option<Activation>,
    /// α (> 0) in every ELU and CELU layer. The article's results use ELU with α = 1.0.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f32>,
    /// LeakyReLU's negative slope (>= 0) in every LeakyReLU layer (default 0.3, as in Keras).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(default)]
    pub negative_slope: Option<f32>,
    /// Kernel initialiser of every Conv2D and Dense layer (Keras's definitions); default: the
    /// model's (he_normal in the article's), or lecun_normal with --activation selu.
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
#[derive(Debug, Args)]
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
    /// Run directory (must not hold a run yet); default: a new runs/<time>-<activation>-<init>-seed<N>-<id>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: if DIR holds a run, move it aside (to DIR.replaced-<time>) and start afresh.
    #[arg(long)]
    pub overwrite: bool,
    /// 0 silent, 1 progress bar (one line per epoch when stdout is not a terminal), 2 one line per epoch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub verbose: u8,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    pub threads: usize,

    /// EarlyStopping: stop after N epochs without improvement of --monitor (Keras's patience;
    /// 0 stops at the first epoch without improvement). Off unless given.
    #[arg(long, value_name = "N", allow_negative_numbers = true, help_heading = "Early stopping and checkpoints")]
    pub patience: Option<usize>,
    /// Quantity early stopping and --save-best-only watch: val_loss, val_accuracy, loss or accuracy.
    #[arg(long, default_value = "val_loss", help_heading = "Early stopping and checkpoints")]
    pub monitor: String,
    /// EarlyStopping: an improvement must exceed this absolute change.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0, help_heading = "Early stopping and checkpoints")]
    pub min_delta: f64,
    /// Whether --monitor improves by falling (min), rising (max), or as its name says (auto).
    #[arg(long, default_value = "auto", help_heading = "Early stopping and checkpoints")]
    pub mode: String,
    /// EarlyStopping: stop after --patience epochs unless --monitor beats this value.
    #[arg(long, allow_negative_numbers = true, help_heading = "Early stopping and checkpoints")]
    pub baseline: Option<f64>,
    /// EarlyStopping: end with the best epoch's weights, whether or not training stopped early
    /// (Keras 2 restored only on an early stop).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", help_heading = "Early stopping and checkpoints")]
    pub restore_best_weights: bool,
    /// EarlyStopping: epochs (from 0) to wait before watching for improvement.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, help_heading = "Early stopping and checkpoints")]
    pub start_from_epoch: usize,
    /// ModelCheckpoint: save the weights after each epoch to this file name (in the run
    /// directory), e.g. 'ckpt-{epoch:02d}-{val_loss:.4f}.safetensors'.
    #[arg(long, value_name = "TEMPLATE", help_heading = "Early stopping and checkpoints")]
    pub checkpoint: Option<String>,
    /// ModelCheckpoint: save only when --monitor improves on the best so far.
    #[arg(long, help_heading = "Early stopping and checkpoints")]
    pub save_best_only: bool,
    /// Before training and after every epoch, measure what the ELU paper claims on a sample of
    /// training images drawn by the seed: per activation layer the median over units of each
    /// unit's mean activation, the mean and sd of its outputs, the fractions of dead units and
    /// saturated outputs; per layer the gradient norm (mean over the epoch's batches) and weight
    /// norm. Written to diagnostics.csv and diagnostics.png.
    #[arg(long)]
    pub diagnostics: bool,
    /// Training images the diagnostics measure (more than the training set: all of it, with a
    /// warning).
    #[arg(long, value_name = "N", requires = "diagnostics")]
    pub diagnostics_sample: Option<usize>,
    /// Continue the interrupted run in DIR from its last checkpoint, with its saved settings
    /// (only --threads and --verbose may be given with it). Ends with the same numbers as an
    /// uninterrupted run.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerChoice {
    Adam,
    Sgd,
}

/// The flags a config field comes from, for error messages (the library names fields).
pub const FLAGS: [(&str, &str); 19] = [
    ("epochs", "--epochs"),
    ("batch_size", "--batch-size"),
    ("optimizer.lr", "--lr"),
    ("optimizer.momentum", "--momentum"),
    ("data.validation_split", "--validation-split"),
    ("data.limit", "--limit"),
    ("callbacks.early_stopping.monitor", "--monitor"),
    ("callbacks.early_stopping.min_delta", "--min-delta"),
    ("callbacks.early_stopping.baseline", "--baseline"),
    ("callbacks.model_checkpoint.monitor", "--monitor"),
    ("callbacks.model_checkpoint.filepath", "--checkpoint"),
    ("callbacks.diagnostics_sample", "--diagnostics-sample"),
    ("monitor", "--monitor"),
    ("mode", "--mode"),
    ("elu alpha", "--alpha"),
    ("celu alpha", "--alpha"),
    ("leaky_relu negative_slope", "--negative-slope"),
    ("dropout rate", "--dropout"),
    ("threads", "--threads"),
];

impl TrainArgs {
    /// The run these flags describe (the model file read, overrides applied, paths absolute).
    pub fn to_config(&self) -> anyhow::Result<RunConfig> {
        let mut model = match &self.model {
            Some(p) => ModelSpec::from_name_or_file(p)?,
            None => ModelSpec::article(),
        };
        self.overrides.apply(&mut model)?;
        let optimizer = match self.optimizer {
            OptimizerChoice::Adam => OptimizerConfig::adam(self.lr),
            OptimizerChoice::Sgd => OptimizerConfig::Sgd { lr: self.lr, momentum: self.momentum },
        };
        // Stored absolute, so a resume from another directory finds the same files.
        let dir = match &self.data {
            Some(d) => Some(std::fs::canonicalize(d).map_err(|e| Error::read(d, e))?),
            None => None,
        };
        let monitor = Monitor::parse(&self.monitor)?;
        let mode = Mode::parse(&self.mode)?;
        let early_stopping = self.patience.map(|patience| EarlyStoppingConfig {
            monitor,
            min_delta: self.min_delta,
            patience,
            mode,
            baseline: self.baseline,
            restore_best_weights: self.restore_best_weights,
            start_from_epoch: self.start_from_epoch,
        });
        let model_checkpoint = self.checkpoint.as_ref().map(|filepath| ModelCheckpointConfig {
            filepath: filepath.clone(),
            save_best_only: self.save_best_only,
            monitor,
            mode,
        });
        if self.save_best_only && model_checkpoint.is_none() {
            return Err(Error::config("--save-best-only", "needs --checkpoint TEMPLATE").into());
        }
        if self.validation_split == 0.0 && monitor.needs_validation() {
            let watcher = match (self.patience.is_some(), self.save_best_only) {
                (true, _) => Some("--patience"),
                (false, true) => Some("--save-best-only"),
                _ => None,
            };
            if let Some(flag) = watcher {
                return Err(Error::config(
                    flag,
                    format!("watches --monitor {}, which needs --validation-split > 0", monitor.name()),
                )
                .into());
            }
        }
        let config = RunConfig {
            seed: self.seed,
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer,
            data: DataConfig { dir, limit: self.limit, validation_split: self.validation_split },
            callbacks: CallbackConfig {
                early_stopping,
                model_checkpoint,
                diagnostics: self.diagnostics,
                diagnostics_sample: self.diagnostics_sample,
                evaluate_training_set: false,
            },
            model,
        };
        config.validate()?;
        let built = Sequential::from_spec(&config.model)?;
        built.check_trainable(built.output_shape().len())?;
        Ok(config)
    }
}

/// Ctrl-C and SIGTERM raise the returned flag (the fit loop stops after the current batch);
/// a second signal removes the temporary files of writes in progress and ends the process with
/// status 130. The signals are handled on a thread of their own, where cleaning up is safe.
pub(super) fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let raised = Arc::clone(&flag);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if raised.swap(true, std::sync::atomic::Ordering::SeqCst) {
                elu_lab::report::remove_temp_files_in_progress();
                std::process::exit(130);
            }
        }
    });
    Ok(flag)
}

/// The flags given on the command line besides those a resumed run accepts.
fn flags_besides_resume(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| !["resume", "threads", "verbose"].contains(&id.as_str()))
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| format!("--{}", id.as_str().replace('_', "-")))
        .collect()
}

pub fn run(args: TrainArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    super::check_threads(args.threads)?;
    let (dir, config, data) = match &args.resume {
        Some(path) => {
            let given = flags_besides_resume(matches);
            if !given.is_empty() {
                return Err(Error::config(
                    "--resume",
                    format!(
                        "continues with the settings saved in {}; only --threads and --verbose may be given with it, got {}",
                        path.join("config.toml").display(),
                        given.join(", ")
                    ),
                )
                .into());
            }
            let dir = RunDir::open_for_resume(path)?;
            let config = dir.config()?;
            let data = elu_lab::train::load_data(&config)?;
            (dir, config, data)
        }
        None => {
            let config = args.to_config().with_context(|| {
                let model = match &args.model {
                    Some(p) if ModelSpec::preset(&p.to_string_lossy()).is_ok() => {
                        format!("preset model {}", p.display())
                    }
                    Some(p) => format!("model file {}", p.display()),
                    None => "the article's model".into(),
                };
                let flags = if args.overrides.any() {
                    " (after --activation/--alpha/--negative-slope/--init/--dropout)"
                } else {
                    ""
                };
                format!("{model}{flags} cannot be trained")
            })?;
            // Data and model are checked before anything is written.
            let data = elu_lab::train::load_data(&config)?;
            elu_lab::train::check(&config, &data)?;
            let dir = match (&args.out, args.overwrite) {
                (Some(out), true) => {
                    let (dir, moved) = RunDir::create_replacing(out, &config)?;
                    if let Some(old) = moved.filter(|_| args.verbose > 0) {
                        say(format_args!("Moved the earlier run in {} to {}", out.display(), old.display()));
                    }
                    dir
                }
                (Some(out), false) => RunDir::create(out, &config)?,
                (None, true) => return Err(Error::config("--overwrite", "needs --out DIR").into()),
                (None, false) => RunDir::create_unique("runs", &config)?,
            };
            (dir, config, data)
        }
    };
    let pool = super::thread_pool(args.threads)?;
    if args.verbose > 0 {
        let done = dir.history().map_or(0, |h| h.epochs());
        if args.resume.is_some() {
            say(format_args!("Resuming {} after epoch {done}", dir.path().display()));
        }
        say(format_args!("Run directory {}", dir.path().display()));
    }
    let stop = stop_flag()?;
    let mut callbacks = dir.callbacks(&config, args.verbose > 0);
    callbacks.list.insert(0, Box::new(ProgressBar::new(args.verbose)));
    let result = pool.install(|| dir.train_on(&config, data, callbacks, &stop))?;
    if args.verbose > 0 {
        if let (Some(stopped), Some(best)) = (result.stopped_epoch, result.best_epoch) {
            say(format_args!("Epoch {stopped}: early stopping; the weights are those of epoch {best}"));
        } else if let Some(best) = result
            .best_epoch
            .filter(|_| config.callbacks.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights))
        {
            say(format_args!("Restored the weights of the best epoch, {best}"));
        }
        say(format_args!(
            "Trained on {} samples, validated on {}; results in {}",
            result.train_samples,
            result.validation_samples,
            dir.path().display()
        ));
    }
    // The one line of output that matters: a failure to write it is an error (a closed pipe,
    // as in `elu-lab train | head`, is not: main treats it as success).
    writeln!(std::io::stdout(), "Test loss: {:.4} / Test accuracy: {:.4}", result.test_loss, result.test_accuracy)
        .and_then(|()| std::io::stdout().flush())
        .context("cannot write the test results to standard output (they are in summary.json)")?;
    Ok(())
}
