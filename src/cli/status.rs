//! `elu-lab status DIR`: where the trials of a sweep directory stand (done, failed, running,
//! interrupted, pending), from their directories, and its Slurm array jobs from `squeue`.

use std::path::PathBuf;
use std::process::Command;

use clap::Args;
use elu_lab::study::{self, SweepPlan, TrialStatus};
use elu_lab::Error;

use super::slurm;

/// Arguments of `elu-lab status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The sweep directory (written by `elu-lab sweep` or `elu-lab reproduce`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// List every trial, the finished ones too.
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let path = args.dir.join(study::sweep::PLAN);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::Error::from(Error::read(&path, e))
            .context(format!("{} is not a sweep directory (it has no readable sweep.toml)", args.dir.display()))
    })?;
    let plan = SweepPlan::from_toml(&text, &path)?;
    let mut counts = [0usize; 5]; // done, failed, running, interrupted, pending
    let mut lines = Vec::new();
    for t in &plan.trials {
        let holder = study::running(&args.dir, t);
        let epochs = t.config.epochs;
        let (slot, state) = match (study::status(&args.dir, t), holder) {
            (TrialStatus::Done, _) => (0, "done".to_string()),
            (TrialStatus::Failed(msg), _) => {
                (1, format!("failed: {}", msg.lines().next().unwrap_or_default().chars().take(160).collect::<String>()))
            }
            (TrialStatus::Started { epochs_done }, Some(h)) => {
                (2, format!("running, {epochs_done}/{epochs} epochs ({h})"))
            }
            (TrialStatus::Pending, Some(h)) => (2, format!("running, 0/{epochs} epochs ({h})")),
            (TrialStatus::Started { epochs_done }, None) => {
                (3, format!("interrupted after {epochs_done}/{epochs} epochs (continues from its checkpoint)"))
            }
            (TrialStatus::Pending, None) => (4, "pending".to_string()),
        };
        counts[slot] += 1;
        if args.all || slot != 0 {
            lines.push(format!("  {}  {} seed {}: {state}", t.id, t.label(), t.seed));
        }
    }
    println!(
        "{}: {} trials: {} done, {} failed, {} running, {} interrupted, {} pending",
        args.dir.display(),
        plan.trials.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    for line in lines {
        println!("{line}");
    }
    if let Some(jobs) = slurm_jobs(&args.dir) {
        println!("{jobs}");
    }
    if counts[0] == plan.trials.len() {
        println!("All done: `elu-lab report {}` writes the report.", args.dir.display());
    } else if counts[1] + counts[3] + counts[4] > 0 && counts[2] == 0 {
        println!(
            "To finish: run the same sweep again, here or as an array (`--slurm --submit`); it runs only what is missing{}.",
            if counts[1] > 0 { " (add --retry-failed for the failed trials)" } else { "" }
        );
    }
    Ok(())
}

/// The array jobs submitted for `dir` that Slurm still knows of (`squeue`), as lines; `None`
/// when none were submitted or `squeue` is not there.
fn slurm_jobs(dir: &std::path::Path) -> Option<String> {
    let ids: Vec<String> = std::fs::read_to_string(dir.join(slurm::JOBS))
        .ok()?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if ids.is_empty() {
        return None;
    }
    let squeue = slurm::find_on_path("squeue")?;
    let name = slurm::job_name(&std::fs::canonicalize(dir).ok()?);
    let out = Command::new(squeue).args(["-h", "--name", &name, "-o", "%i|%T|%M|%R"]).output().ok()?;
    if !out.status.success() {
        return Some(format!(
            "Slurm: squeue failed: {}",
            String::from_utf8_lossy(&out.stderr).trim().chars().take(300).collect::<String>()
        ));
    }
    let rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let job = l.split(['|', '_']).next().unwrap_or_default();
            ids.iter().any(|id| id == job)
        })
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            format!(
                "  {} {} {} {}",
                f.first().unwrap_or(&""),
                f.get(1).unwrap_or(&""),
                f.get(2).unwrap_or(&""),
                f.get(3).unwrap_or(&"")
            )
        })
        .collect();
    let last = ids.last().map(String::as_str).unwrap_or_default();
    Some(if rows.is_empty() {
        format!("Slurm: none of its array jobs ({}) is queued or running any more", ids.join(", "))
    } else {
        format!("Slurm (squeue; array jobs {}, the last {last}):\n{}", ids.join(", "), rows.join("\n"))
    })
}
