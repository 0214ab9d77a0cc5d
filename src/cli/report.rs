//! `elu-lab report DIR`: the report of a sweep directory (also written at the end of a sweep).

use std::path::{Path, PathBuf};

use clap::Args;
use elu_lab::study::report;
use elu_lab::train::callbacks::progress::say;

/// Arguments of `elu-lab report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The sweep directory (written by `elu-lab sweep` or `elu-lab reproduce`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    write(&args.dir, 1)
}

/// Writes the report files of `dir` and says where they are.
pub fn write(dir: &Path, verbose: u8) -> anyhow::Result<()> {
    let (_, rows) = report::write_results(dir)?;
    if verbose > 0 {
        let done = rows.iter().filter(|r| r.status == "done").count();
        say(format_args!("Report of {done} finished trials of {}: {}", rows.len(), dir.join("results.csv").display()));
    }
    Ok(())
}
