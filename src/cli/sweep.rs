//! `elu-lab sweep` and `elu-lab reproduce`: a grid of train settings × seeds, run as resumable
//! trials, then reported.

use std::path::{Path, PathBuf};

use clap::{Args, Parser};
use elu_lab::activations::Activation;
use elu_lab::model::Overrides;
use elu_lab::study::{self, paper, SweepOptions, SweepPlan, Trial};
use elu_lab::train::callbacks::progress::say;
use elu_lab::Error;

use super::slurm::{self, SlurmFlags};
use super::train::TrainArgs;

/// The train flags a sweep can vary, each a comma-separated list (one value: the same for
/// every trial).
#[derive(Debug, Args, Clone, Default)]
pub struct GridFlags {
    /// Hidden activations, e.g. relu,elu.
    #[arg(long, value_name = "LIST")]
    pub activation: Option<String>,
    /// ELU's α values.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub alpha: Option<String>,
    /// Kernel initialisers, e.g. he_normal,glorot_uniform.
    #[arg(long, value_name = "LIST")]
    pub init: Option<String>,
    /// Dropout rates, e.g. 0.25,0.5.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub dropout: Option<String>,
    /// Epoch counts.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub epochs: Option<String>,
    /// Batch sizes.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub batch_size: Option<String>,
    /// Validation fractions (Keras's validation_split).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub validation_split: Option<String>,
    /// Learning rates.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub lr: Option<String>,
    /// Optimisers: adam, sgd.
    #[arg(long, value_name = "LIST")]
    pub optimizer: Option<String>,
    /// SGD momentum values.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub momentum: Option<String>,
    /// Numbers of training images used (before the validation split).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub limit: Option<String>,
    /// Data directories.
    #[arg(long, value_name = "LIST")]
    pub data: Option<String>,
    /// Preset names or model files.
    #[arg(long, value_name = "LIST")]
    pub model: Option<String>,
    /// Early stopping patience values (turns early stopping on).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub patience: Option<String>,
    /// Quantities early stopping watches: val_loss, val_accuracy, loss, accuracy.
    #[arg(long, value_name = "LIST")]
    pub monitor: Option<String>,
    /// Early stopping's minimum improvements.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub min_delta: Option<String>,
}

impl GridFlags {
    /// (flag name, list) of every flag given, in the order above.
    fn given(&self) -> Vec<(&'static str, &str)> {
        let all: [(&str, &Option<String>); 16] = [
            ("activation", &self.activation),
            ("alpha", &self.alpha),
            ("init", &self.init),
            ("dropout", &self.dropout),
            ("epochs", &self.epochs),
            ("batch-size", &self.batch_size),
            ("validation-split", &self.validation_split),
            ("lr", &self.lr),
            ("optimizer", &self.optimizer),
            ("momentum", &self.momentum),
            ("limit", &self.limit),
            ("data", &self.data),
            ("model", &self.model),
            ("patience", &self.patience),
            ("monitor", &self.monitor),
            ("min-delta", &self.min_delta),
        ];
        all.into_iter().filter_map(|(n, v)| v.as_deref().map(|v| (n, v))).collect()
    }

    /// The names `given` can return (for grid files and messages).
    const NAMES: [&'static str; 16] = [
        "activation",
        "alpha",
        "init",
        "dropout",
        "epochs",
        "batch-size",
        "validation-split",
        "lr",
        "optimizer",
        "momentum",
        "limit",
        "data",
        "model",
        "patience",
        "monitor",
        "min-delta",
    ];
}

/// How a sweep runs (shared by `sweep` and `reproduce`).
#[derive(Debug, Args, Clone)]
pub struct RunFlags {
    /// The sweep directory: sweep.toml, trials/<id>/, and the report.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seeds 1..=N for every configuration.
    #[arg(long, value_name = "N", conflicts_with = "seed")]
    pub seeds: Option<String>,
    /// Explicit seeds, e.g. 3,7,11.
    #[arg(long, value_name = "LIST")]
    pub seed: Option<String>,
    /// Trials run at once, the threads shared out among them; 0 = one per core (on 2 cores, 2 jobs
    /// of 1 thread finish a sweep about 1.2 times sooner than 1 job of 2 threads: BENCHMARKS.md).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Worker threads in all (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Add the trials of this plan to an existing sweep directory with another plan.
    #[arg(long)]
    pub extend: bool,
    /// Run the trials that failed before again.
    #[arg(long)]
    pub retry_failed: bool,
    /// 0 silent, 1 a line per trial (on a terminal: the sweep's bar with each running trial's below it), 2 also each trial's epochs
    /// (with one job).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub verbose: u8,
    /// Run only the trials whose index in the plan is ≡ I mod N (one of N processes sharing DIR,
    /// e.g. on a cluster). Inside a Slurm array task it defaults to the task's place in the array
    /// (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT). A shard writes no
    /// report: run `elu-lab report DIR` when every shard is done.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

/// Arguments of `elu-lab sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub run: RunFlags,
    #[command(flatten)]
    pub grid: GridFlags,
    /// A grid file (TOML): keys are the flags above (`activation = ["relu", "elu"]`, `epochs = 25`,
    /// `seeds = 5` or `seed = [3, 7]`); flags given on the command line come after it.
    #[arg(long, value_name = "FILE")]
    pub grid_file: Option<PathBuf>,
    /// Run the plan stored in DIR/sweep.toml by an earlier sweep (no grid flags); what Slurm's
    /// array tasks run.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub slurm: SlurmFlags,
}

/// Arguments of `elu-lab reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    #[command(flatten)]
    pub run: RunFlags,
    /// Also the article's long runs: {relu, elu} × he_normal, 250 epochs, dropout 0.5.
    #[arg(long)]
    pub long: bool,
    /// The ELU paper's MNIST experiment instead: 784 → 8 × 128 → 10 (paper_fc), SGD lr 0.01,
    /// batch 64, the first 50,000 training images against the last 10,000, {elu, relu,
    /// leaky_relu 0.1, srelu} × 5 seeds, 25 epochs (--epochs 300 for the paper's length), with
    /// diagnostics; adds curves.csv and PAPER.md/PAPER.html with a verdict per claim.
    #[arg(long, conflicts_with = "long")]
    pub paper_mnist: bool,
    /// Any train setting, to narrow the study for a quick look (e.g. --epochs 1 --limit 6000).
    #[command(flatten)]
    pub grid: GridFlags,
    #[command(flatten)]
    pub slurm: SlurmFlags,
}

/// Parses the train flags of one trial.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct OneTrial {
    #[command(flatten)]
    args: TrainArgs,
}

/// Splits a comma list, rejecting empty entries.
fn split_list(flag: &str, list: &str) -> elu_lab::Result<Vec<String>> {
    let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(Error::config(format!("--{flag}"), format!("{list:?} has an empty entry")));
    }
    Ok(values)
}

/// The seeds of `--seeds N` or `--seed LIST` (default: seed 1).
fn seeds(run: &RunFlags) -> elu_lab::Result<Vec<u64>> {
    let parse = |flag: &str, v: &str| {
        v.parse::<u64>().map_err(|_| Error::config(flag, format!("must be a whole number ≥ 0, got {v:?}")))
    };
    match (&run.seeds, &run.seed) {
        (Some(n), _) => match parse("--seeds", n)? {
            0 => Err(Error::config("--seeds", "must be at least 1, got 0")),
            n => Ok((1..=n).collect()),
        },
        (None, Some(list)) => split_list("seed", list)?.iter().map(|v| parse("--seed", v)).collect(),
        (None, None) => Ok(vec![1]),
    }
}

/// The plan of `axes` (each flag with its values; one value is a fixed setting) × `seeds`:
/// every trial's flags are parsed and checked as `train` would, before anything runs.
fn plan(axes: &[(String, Vec<String>)], seeds: &[u64]) -> anyhow::Result<SweepPlan> {
    let mut plan = SweepPlan { seeds: seeds.to_vec(), ..Default::default() };
    for (flag, values) in axes {
        if values.len() == 1 {
            plan.fixed.push((flag.clone(), values[0].clone()));
        } else {
            plan.axes.push((flag.clone(), values.clone()));
        }
    }
    // The cartesian product, first axis slowest, seeds fastest.
    let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
    for (flag, values) in &plan.axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((flag.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    for settings in combos {
        for &seed in seeds {
            let mut argv: Vec<String> = Vec::new();
            for (flag, value) in plan.fixed.iter().chain(&settings) {
                argv.push(format!("--{flag}"));
                argv.push(value.clone());
            }
            argv.extend(["--seed".to_string(), seed.to_string()]);
            let parsed = OneTrial::try_parse_from(&argv).map_err(|e| {
                let first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
                Error::config("sweep", format!("the trial {}: {first}", argv.join(" ")))
            })?;
            let config = parsed.args.to_config()?;
            plan.trials.push(Trial::new(settings.clone(), config));
        }
    }
    plan.validate()?;
    Ok(plan)
}

/// The grid flags as (flag, values), the grid file's first, then the command line's.
fn axes_of(grid: &GridFlags, file: Option<&Path>, run: &mut RunFlags) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    let mut set = |flag: &str, values: Vec<String>| match axes.iter_mut().find(|(f, _)| f == flag) {
        Some((_, v)) => *v = values,
        None => axes.push((flag.to_string(), values)),
    };
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| Error::ModelFile {
            path: path.to_path_buf(),
            msg: e.to_string().chars().take(300).collect(),
        })?;
        for (key, value) in table {
            let flag = key.replace('_', "-");
            let scalar = |v: &toml::Value| match v {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Float(f) => Some(f.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            };
            let values: Option<Vec<String>> = match &value {
                toml::Value::Array(items) => items.iter().map(scalar).collect(),
                v => scalar(v).map(|s| vec![s]),
            };
            let bad = |msg: String| Error::ModelFile { path: path.to_path_buf(), msg };
            let values = values.ok_or_else(|| bad(format!("`{key}` must be a value or a list of values")))?;
            match flag.as_str() {
                "seeds" if run.seeds.is_none() && run.seed.is_none() => run.seeds = values.first().cloned(),
                "seed" if run.seeds.is_none() && run.seed.is_none() => run.seed = Some(values.join(",")),
                "seeds" | "seed" => {}
                f if GridFlags::NAMES.contains(&f) => set(f, values),
                _ => {
                    return Err(bad(format!(
                        "unknown key `{key}`; the keys are seeds, seed, {}",
                        GridFlags::NAMES.join(", ").replace('-', "_")
                    ))
                    .into())
                }
            }
        }
    }
    for (flag, list) in grid.given() {
        set(flag, split_list(flag, list)?);
    }
    Ok(axes)
}

pub fn sweep(mut args: SweepArgs) -> anyhow::Result<()> {
    if args.resume {
        return execute(&args.run, stored_plan(&args)?, &args.slurm);
    }
    let axes = axes_of(&args.grid, args.grid_file.as_deref(), &mut args.run)?;
    let plan = plan(&axes, &seeds(&args.run)?)?;
    execute(&args.run, plan, &args.slurm)
}

/// The plan of `sweep --resume`: DIR/sweep.toml, with no grid flags beside it.
fn stored_plan(args: &SweepArgs) -> anyhow::Result<SweepPlan> {
    let given: Vec<String> = args
        .grid
        .given()
        .iter()
        .map(|(f, _)| format!("--{f}"))
        .chain(args.grid_file.as_ref().map(|_| "--grid-file".to_string()))
        .chain(args.run.seeds.as_ref().map(|_| "--seeds".to_string()))
        .chain(args.run.seed.as_ref().map(|_| "--seed".to_string()))
        .chain(args.run.extend.then(|| "--extend".to_string()))
        .collect();
    if !given.is_empty() {
        anyhow::bail!(
            "--resume runs the plan stored in {}; it takes no {} (run the sweep without --resume to change the plan)",
            args.run.out.join(study::sweep::PLAN).display(),
            given.join(", ")
        );
    }
    let path = args.run.out.join(study::sweep::PLAN);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{} has no sweep plan ({} is missing): --resume continues a sweep started with `elu-lab sweep --out DIR ...`",
            args.run.out.display(),
            path.display()
        ),
        Err(e) => return Err(Error::read(&path, e).into()),
    };
    Ok(SweepPlan::from_toml(&text, &path)?)
}

pub fn reproduce(mut args: ReproduceArgs) -> anyhow::Result<()> {
    if args.run.seeds.is_none() && args.run.seed.is_none() {
        args.run.seeds = Some("5".into());
    }
    let seeds = seeds(&args.run)?;
    let narrowed = axes_of(&args.grid, None, &mut args.run)?;
    // The article's 2 × 2 study, 25 epochs, dropout 0.25 (ELU's α = 1, the default).
    let article = |mut axes: Vec<(String, Vec<String>)>| {
        for (flag, values) in &narrowed {
            match axes.iter_mut().find(|(f, _)| f == flag) {
                Some((_, v)) => *v = values.clone(),
                None => axes.push((flag.clone(), values.clone())),
            }
        }
        axes
    };
    let list = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    if args.paper_mnist {
        let axes = article(vec![
            ("activation".into(), list(&paper::ACTIVATIONS)),
            ("model".into(), list(&["paper_fc"])),
            ("optimizer".into(), list(&["sgd"])),
            ("lr".into(), list(&["0.01"])),
            ("momentum".into(), list(&["0"])),
            ("batch-size".into(), list(&["64"])),
            ("validation-split".into(), vec![paper::VALIDATION_SPLIT.to_string()]),
            ("epochs".into(), list(&["25"])),
        ]);
        return execute(&args.run, paper_plan(plan(&axes, &seeds)?)?, &args.slurm);
    }
    let mut study = plan(
        &article(vec![
            ("activation".into(), list(&["relu", "elu"])),
            ("init".into(), list(&["glorot_uniform", "he_normal"])),
            ("epochs".into(), list(&["25"])),
            ("dropout".into(), list(&["0.25"])),
        ]),
        &seeds,
    )?;
    if args.long {
        let long = plan(
            &article(vec![
                ("activation".into(), list(&["relu", "elu"])),
                ("init".into(), list(&["he_normal"])),
                ("epochs".into(), list(&["250"])),
                ("dropout".into(), list(&["0.5"])),
            ]),
            &seeds,
        )?;
        study.extend(&long);
    }
    execute(&args.run, study, &args.slurm)
}

/// The paper's settings that are not flags: LeakyReLU's slope 0.1, diagnostics on the default
/// 1,000 training images, the training set's loss after every epoch; the trials' ids follow.
fn paper_plan(mut plan: SweepPlan) -> anyhow::Result<SweepPlan> {
    for trial in &mut plan.trials {
        let mut config = trial.config.clone();
        if config.model.layers.iter().any(|l| matches!(l.activation(), Some(Activation::LeakyRelu { .. }))) {
            let slope = Overrides { negative_slope: Some(paper::LEAKY_RELU_SLOPE), ..Default::default() };
            config.model.apply(&slope)?;
        }
        config.callbacks.diagnostics = true;
        config.callbacks.evaluate_training_set = true;
        *trial = Trial::new(trial.settings.clone(), config);
    }
    plan.study = Some(paper::STUDY.to_string());
    plan.validate()?;
    Ok(plan)
}

/// Runs the plan in the sweep directory and reports (or, with `--slurm`, writes the array job
/// that runs it; or, as a shard, runs its part).
fn execute(run: &RunFlags, plan: SweepPlan, slurm_flags: &SlurmFlags) -> anyhow::Result<()> {
    super::check_threads(run.threads)?;
    if slurm_flags.slurm {
        if run.shard.is_some() {
            anyhow::bail!("--shard and --slurm cannot be used together: the array job gives each task its shard");
        }
        let sbatch = slurm::check(slurm_flags, &run.out)?;
        let plan = study::prepare(&run.out, &plan, run.extend)?;
        return slurm::write(&run.out, &plan, slurm_flags, run.retry_failed, sbatch.as_deref());
    }
    // Checked before anything is written.
    let shard = slurm::shard(run.shard.as_deref(), plan.trials.len())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match (run.jobs, run.threads) {
        (0, 0) => cores,
        (0, t) => t.min(cores).max(1),
        (j, _) => j,
    };
    let plan = study::prepare(&run.out, &plan, run.extend)?;
    if run.verbose > 0 {
        match shard {
            Some(s) => say(format_args!("Sweep {}: shard {s} of its {} trials", run.out.display(), plan.trials.len())),
            None => say(format_args!("Sweep {}: {} trials", run.out.display(), plan.trials.len())),
        }
    }
    let stop = super::train::stop_flag()?;
    let opts = SweepOptions { jobs, threads: run.threads, retry_failed: run.retry_failed, verbose: run.verbose, shard };
    let outcome = study::run_sweep(&run.out, &plan, &opts, &stop)?;
    if run.verbose > 0 {
        say(format_args!(
            "{} trials finished now, {} finished before, {} failed, in {:.0} s",
            outcome.finished,
            outcome.skipped,
            outcome.failed.len(),
            outcome.seconds
        ));
    }
    for (id, label, msg) in &outcome.failed {
        say(format_args!("  failed: {label} (trials/{id}): {msg}"));
    }
    for (id, label, holder) in &outcome.running_elsewhere {
        say(format_args!("  left to {holder}: {label} (trials/{id})"));
    }
    if outcome.interrupted {
        return Err(Error::SweepInterrupted { dir: run.out.clone() }.into());
    }
    if shard.is_some() {
        // The other shards may still run: the report is written once they are all done.
        if run.verbose > 0 {
            say(format_args!(
                "When every shard is done: `elu-lab report {}` (`elu-lab status {}` shows where they stand)",
                run.out.display(),
                run.out.display()
            ));
        }
    } else {
        super::report::write(&run.out, run.verbose)?;
    }
    if !outcome.failed.is_empty() {
        anyhow::bail!(
            "{} of {} trials failed; rerun with --retry-failed to try them again",
            outcome.failed.len(),
            plan.trials.len()
        );
    }
    Ok(())
}
