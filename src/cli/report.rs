//! `elu-lab report DIR`: the report of a sweep directory (also written at the end of a sweep).

use std::path::{Path, PathBuf};

use clap::Args;
use elu_lab::study::document::Provenance;
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
    let rows = report::write_report(dir, provenance())?;
    if verbose > 0 {
        let done = rows.iter().filter(|r| r.status == "done").count();
        say(format_args!(
            "Report of {done} finished trials of {}: {} (and results.csv, summary.csv, comparisons.csv, REPORT.md)",
            rows.len(),
            dir.join("REPORT.html").display()
        ));
    }
    Ok(())
}

/// Version, commit (when run inside a git checkout), command line, machine and date.
fn provenance() -> Provenance {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Provenance {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: format!("{cpu}, {cores} cores, simd {}", elu_lab::kernels::simd::Level::current().name()),
        date: elu_lab::rundir::utc_now(),
    }
}
