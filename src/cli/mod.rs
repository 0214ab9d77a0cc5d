//! Command-line interface: one file per subcommand, each turning arguments into a validated config.

mod bench;
mod evaluate;
mod info;
mod models;
mod plot_activations;
mod predict;
mod report;
mod slurm;
mod status;
mod summary;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

/// Fast, reproducible activation-function experiments: the convnet of "How to use ELU with
/// Keras" (ELU vs ReLU, He vs Glorot) on MNIST, in Rust.
#[derive(Debug, Parser)]
#[command(name = "elu-lab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model (the article's by default) and evaluate it on the test set.
    Train(Box<train::TrainArgs>),
    /// Print the model's layers, output shapes and parameter counts, like Keras's model.summary().
    Summary(summary::SummaryArgs),
    /// List the preset models that `--model NAME` accepts.
    Models(models::ModelsArgs),
    /// Measure training and evaluation speed, memory and a per-layer breakdown, beside the
    /// machine's f32 GEMM peak.
    Bench(bench::BenchArgs),
    /// Evaluate a trained run on a test set: loss, accuracy, per-class metrics, confusion matrix.
    Evaluate(evaluate::EvaluateArgs),
    /// Predict the digit in image files with a trained run's model.
    Predict(predict::PredictArgs),
    /// Run a grid of train settings × seeds as resumable trials (each flag a comma list), then
    /// write the report; --shard I/N runs one part of it, --slurm writes (--submit submits) a
    /// Slurm array job that runs it (docs/CLUSTER.md).
    Sweep(Box<sweep::SweepArgs>),
    /// The article's study as a sweep: {relu, elu} × {glorot_uniform, he_normal}, 25 epochs,
    /// dropout 0.25, 5 seeds (--long adds the 250-epoch runs).
    Reproduce(Box<sweep::ReproduceArgs>),
    /// Write the report of a sweep directory: results.csv, summary.csv, comparisons.csv, REPORT.md
    /// and REPORT.html.
    Report(report::ReportArgs),
    /// Show where the trials of a sweep directory stand (done, failed, running, interrupted,
    /// pending), with its Slurm array jobs from `squeue` when there are any.
    Status(status::StatusArgs),
    /// Print the version, the processor's instruction sets and the SIMD level the kernels run with.
    Info(info::InfoArgs),
    /// Draw each activation function and its derivative (one PNG each, and a grid of all) and
    /// tabulate their values at extreme inputs, the article's −5,000,000 included (extremes.md,
    /// extremes.csv).
    PlotActivations(plot_activations::PlotActivationsArgs),
}

/// Runs the parsed command (`matches`: what clap parsed it from, to tell given flags apart).
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    // A bad ELU_LAB_SIMD is an error before any work starts (the library alone would warn and
    // fall back); see `elu_lab::kernels::simd`.
    elu_lab::kernels::simd::Level::from_env()?;
    let sub = matches.subcommand().map(|(_, m)| m).unwrap_or(matches);
    let result = match cli.command {
        Command::Train(args) => train::run(*args, sub),
        Command::Summary(args) => summary::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Models(args) => models::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Sweep(args) => sweep::sweep(*args),
        Command::Reproduce(args) => sweep::reproduce(*args),
        Command::Report(args) => report::run(args),
        Command::Status(args) => status::run(args),
        Command::Info(args) => info::run(args),
        Command::PlotActivations(args) => plot_activations::run(args),
    };
    result.map_err(name_flags)
}

/// The library names a config field (`data.validation_split`); the command line names the
/// flag that sets it (`--validation-split`).
fn name_flags(mut err: anyhow::Error) -> anyhow::Error {
    if let Some(elu_lab::Error::Config { what, .. }) = err.downcast_mut::<elu_lab::Error>() {
        if let Some((_, flag)) = train::FLAGS.iter().find(|(field, _)| field == what) {
            *what = flag.to_string();
        }
    }
    err
}

/// The most worker threads `--threads` accepts (a batch has far fewer slices to share out).
const MAX_THREADS: usize = 1024;

/// Rejects a `--threads` value no machine could use.
pub fn check_threads(threads: usize) -> elu_lab::Result<()> {
    if threads > MAX_THREADS {
        return Err(elu_lab::Error::config(
            "threads",
            format!("must be at most {MAX_THREADS} (0 = all cores), got {threads}"),
        ));
    }
    Ok(())
}

/// A rayon pool with `threads` workers (0 = all cores).
pub fn thread_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    check_threads(threads)?;
    let n = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    Ok(rayon::ThreadPoolBuilder::new().num_threads(n).build()?)
}
