//! Command-line interface: one file per subcommand, each turning arguments into a validated config.

mod bench;
mod info;
mod progress;
mod summary;
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
    Train(train::TrainArgs),
    /// Print the model's layers, output shapes and parameter counts, like Keras's model.summary().
    Summary(summary::SummaryArgs),
    /// Measure training and evaluation speed, memory and a per-layer breakdown, beside the
    /// machine's f32 GEMM peak.
    Bench(bench::BenchArgs),
    /// Print the version, the processor's instruction sets and the SIMD level the kernels run with.
    Info(info::InfoArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // A bad ELU_LAB_SIMD is an error before any work starts (the library alone would warn and
    // fall back); see `elu_lab::kernels::simd`.
    elu_lab::kernels::simd::Level::from_env()?;
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Info(args) => info::run(args),
    }
}

/// The most worker threads `--threads` accepts (a batch has far fewer slices to share out).
const MAX_THREADS: usize = 1024;

/// Rejects a `--threads` value no machine could use.
pub fn check_threads(threads: usize) -> elu_lab::Result<()> {
    if threads > MAX_THREADS {
        return Err(elu_lab::Error::config(
            "--threads",
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
