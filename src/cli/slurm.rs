//! Sweeps on a Slurm cluster: the shard of an array task, `--slurm` (write `DIR/sweep.sbatch`,
//! an array job running the sweep's shards) and `--submit` (hand it to `sbatch`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use elu_lab::study::{self, Shard, SweepPlan};
use elu_lab::train::callbacks::progress::say;

/// The array job script in a sweep directory.
pub const SCRIPT: &str = "sweep.sbatch";
/// The ids of the array jobs submitted for a sweep directory, one a line (for `status`).
pub const JOBS: &str = "slurm-jobs.txt";

/// Flags of `sweep --slurm` (and `reproduce --slurm`).
#[derive(Debug, Args, Clone, Default)]
pub struct SlurmFlags {
    /// Write DIR/sweep.sbatch, a Slurm array job whose tasks run the unfinished trials (one task per
    /// --trials-per-task trials), and print how to submit it; nothing runs here.
    #[arg(long, help_heading = "Slurm")]
    pub slurm: bool,
    /// With --slurm: submit the script with `sbatch` and print the job id.
    #[arg(long, requires = "slurm", help_heading = "Slurm")]
    pub submit: bool,
    /// Trials per array task (each task runs the trials whose index ≡ task id mod the number of
    /// tasks).
    #[arg(long, value_name = "K", default_value_t = 1, requires = "slurm", help_heading = "Slurm")]
    pub trials_per_task: usize,
    /// At most K tasks of the array at once (sbatch's `--array=…%K`).
    #[arg(long, value_name = "K", requires = "slurm", help_heading = "Slurm")]
    pub array_parallelism: Option<usize>,
    /// CPUs per task (sbatch's --cpus-per-task); the task's trials share them.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "slurm", help_heading = "Slurm")]
    pub cpus_per_task: usize,
    /// Time limit per task (sbatch's --time, e.g. 2:00:00).
    #[arg(long, value_name = "TIME", requires = "slurm", help_heading = "Slurm")]
    pub time: Option<String>,
    /// Partition (sbatch's --partition).
    #[arg(long, value_name = "NAME", requires = "slurm", help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Any other sbatch option, written as an `#SBATCH` line (repeatable), e.g.
    /// --sbatch-arg=--account=lab --sbatch-arg=--requeue.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true, requires = "slurm", help_heading = "Slurm")]
    pub sbatch_arg: Vec<String>,
}

/// The shard this process runs: `--shard I/N` if given, else that of the Slurm array task it
/// runs in (`SLURM_ARRAY_TASK_ID`), else none. Checked against a plan of `trials` trials.
pub fn shard(flag: Option<&str>, trials: usize) -> anyhow::Result<Option<Shard>> {
    let shard = match flag {
        Some(text) => Some(Shard::parse(text)?),
        None => Shard::from_slurm(|name| std::env::var(name).ok())?,
    };
    if let Some(s) = shard {
        s.check(trials)?;
    }
    Ok(shard)
}

/// Rejects bad Slurm settings before anything is written; finds `sbatch` when submitting.
pub fn check(flags: &SlurmFlags, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if flags.trials_per_task == 0 {
        anyhow::bail!("invalid --trials-per-task: must be at least 1, got 0");
    }
    if flags.array_parallelism == Some(0) {
        anyhow::bail!("invalid --array-parallelism: must be at least 1, got 0");
    }
    if flags.cpus_per_task == 0 {
        anyhow::bail!("invalid --cpus-per-task: must be at least 1, got 0");
    }
    for arg in &flags.sbatch_arg {
        if !arg.starts_with('-') || arg.contains(['\n', '\r']) {
            anyhow::bail!("invalid --sbatch-arg {arg:?}: must be one sbatch option, e.g. --sbatch-arg=--account=lab");
        }
    }
    for (flag, value) in [("--time", &flags.time), ("--partition", &flags.partition)] {
        if let Some(v) = value.as_deref().filter(|v| v.is_empty() || v.contains(char::is_whitespace)) {
            anyhow::bail!("invalid {flag}: {v:?} must be one word");
        }
    }
    let text = dir.to_string_lossy();
    if text.contains(|c: char| c.is_whitespace() || "%'\"\\".contains(c)) {
        anyhow::bail!(
            "invalid --out {}: a directory for --slurm must not contain spaces, quotes, backslashes or %, which sbatch's #SBATCH lines cannot hold",
            dir.display()
        );
    }
    if !flags.submit {
        return Ok(None);
    }
    match find_on_path("sbatch") {
        Some(sbatch) => Ok(Some(sbatch)),
        None => anyhow::bail!(
            "sbatch is not on PATH, so --submit cannot submit the array job\n\
             hint: run this on a login node of the cluster (or load its Slurm module, e.g. `module load slurm`); \
             without --submit, --slurm writes {} for you to submit",
            dir.join(SCRIPT).display()
        ),
    }
}

/// Writes `DIR/sweep.sbatch` for the trials of `plan` still to run (and submits it with
/// `sbatch`, given), then says what to do next.
pub fn write(
    dir: &Path,
    plan: &SweepPlan,
    flags: &SlurmFlags,
    retry_failed: bool,
    sbatch: Option<&Path>,
) -> anyhow::Result<()> {
    let dir = fs::canonicalize(dir).map_err(|e| elu_lab::Error::read(dir, e))?;
    if let Some(tmp) = node_local(&dir) {
        eprintln!(
            "warning: {} is in {tmp}, a node-local temporary directory on most clusters: the compute nodes may not see it; \
             give --out a directory on a shared filesystem",
            dir.display()
        );
    }
    let total = plan.trials.len();
    let tasks = total.div_ceil(flags.trials_per_task);
    let pending = study::pending_shards(&dir, plan, tasks, retry_failed);
    if pending.is_empty() {
        say(format_args!(
            "Every trial of {} is finished (or failed: --retry-failed runs those again); `elu-lab report {}` writes the report",
            dir.display(),
            dir.display()
        ));
        return Ok(());
    }
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| elu_lab::Error::write(&logs, e))?;
    let exe = std::env::current_exe().map_err(|e| elu_lab::Error::read(Path::new("the elu-lab executable"), e))?;
    let script = script(&dir, &exe, tasks, &pending, flags, retry_failed);
    let path = dir.join(SCRIPT);
    elu_lab::report::atomic_write(&path, script.as_bytes())?;
    say(format_args!(
        "Wrote {}: {} of {tasks} array tasks ({} trials, {} per task) still to run; logs go to {}",
        path.display(),
        pending.len(),
        total,
        flags.trials_per_task,
        logs.display()
    ));
    let Some(sbatch) = sbatch else {
        say(format_args!("Submit it with:  sbatch {}", path.display()));
        say(format_args!("then follow it with `elu-lab status {}`", dir.display()));
        return Ok(());
    };
    let out = Command::new(sbatch)
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", sbatch.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "sbatch refused {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim().chars().take(2000).collect::<String>()
        );
    }
    // `--parsable` prints "JOBID" or "JOBID;CLUSTER".
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("sbatch did not print a job id: {:?}", stdout.trim());
    }
    let jobs = dir.join(JOBS);
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jobs)
        .and_then(|mut f| writeln!(f, "{id}"))
        .map_err(|e| elu_lab::Error::write(&jobs, e))?;
    say(format_args!("Submitted array job {id} ({} tasks)", pending.len()));
    println!("{id}");
    say(format_args!(
        "Follow it with `elu-lab status {}`; when it is done, `elu-lab report {}`",
        dir.display(),
        dir.display()
    ));
    Ok(())
}

/// The array job script: task `t` of `tasks` runs shard `t/tasks` of the sweep in `dir`.
fn script(dir: &Path, exe: &Path, tasks: usize, pending: &[usize], flags: &SlurmFlags, retry_failed: bool) -> String {
    let d = dir.display();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# Written by `elu-lab sweep --slurm`: the sweep in {d} as a Slurm array job. Task T runs the\n\
         # trials whose index in sweep.toml is ≡ T mod {tasks}; finished trials are skipped and interrupted\n\
         # ones continue from their checkpoints, so submitting it again runs only what is missing.\n\
         # Follow it with `elu-lab status {d}`; when it is done, `elu-lab report {d}`.\n"
    ));
    s.push_str(&format!("#SBATCH --job-name={}\n", job_name(dir)));
    let parallel = flags.array_parallelism.map(|k| format!("%{k}")).unwrap_or_default();
    s.push_str(&format!("#SBATCH --array={}{parallel}\n", ranges(pending)));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", flags.cpus_per_task));
    s.push_str("#SBATCH --ntasks=1\n");
    if let Some(t) = &flags.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(p) = &flags.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    s.push_str(&format!("#SBATCH --output={d}/logs/%A_%a.out\n"));
    // A requeued or resubmitted task adds to its log instead of replacing it.
    s.push_str("#SBATCH --open-mode=append\n");
    for arg in &flags.sbatch_arg {
        s.push_str(&format!("#SBATCH {arg}\n"));
    }
    s.push_str("set -eu\n");
    s.push_str("echo \"elu-lab: array job ${SLURM_ARRAY_JOB_ID:-?} task ${SLURM_ARRAY_TASK_ID:-?} on $(hostname) at $(date -u)\"\n");
    let retry = if retry_failed { " --retry-failed" } else { "" };
    s.push_str(&format!(
        "exec {} sweep --out {} --resume --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"{retry}\n",
        quote(&exe.to_string_lossy()),
        quote(&dir.to_string_lossy())
    ));
    s
}

/// A word for the shell: single-quoted.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The job name of a sweep directory's array: `elu-lab-<its name>` (for `squeue --name`).
pub fn job_name(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    format!("elu-lab-{clean}")
}

/// Sorted task ids as sbatch's `--array` list: `0-3,5,7-8`.
fn ranges(ids: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { ids[i].to_string() } else { format!("{}-{}", ids[i], ids[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// The node-local temporary directory `dir` lies in, if any (`/tmp`, `/var/tmp`, `/dev/shm`,
/// `$TMPDIR`).
fn node_local(dir: &Path) -> Option<String> {
    let mut local: Vec<PathBuf> = ["/tmp", "/var/tmp", "/dev/shm"].iter().map(PathBuf::from).collect();
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        local.push(PathBuf::from(t));
    }
    local
        .into_iter()
        .filter_map(|p| fs::canonicalize(&p).ok())
        .find(|p| dir.starts_with(p))
        .map(|p| p.display().to_string())
}

/// `name` found in a directory of `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_are_compressed_into_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(ranges(&[4]), "4");
    }

    #[test]
    fn the_script_runs_the_shard_of_its_task_with_the_given_settings() {
        let flags = SlurmFlags {
            slurm: true,
            array_parallelism: Some(2),
            cpus_per_task: 4,
            time: Some("1:00:00".into()),
            partition: Some("short".into()),
            sbatch_arg: vec!["--requeue".into()],
            ..Default::default()
        };
        let s = script(Path::new("/shared/grid"), Path::new("/opt/elu lab"), 5, &[0, 1, 4], &flags, false);
        for line in [
            "#SBATCH --array=0-1,4%2\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --time=1:00:00\n",
            "#SBATCH --partition=short\n",
            "#SBATCH --requeue\n",
            "#SBATCH --output=/shared/grid/logs/%A_%a.out\n",
            "exec '/opt/elu lab' sweep --out '/shared/grid' --resume --shard \"${SLURM_ARRAY_TASK_ID}/5\" --threads \"${SLURM_CPUS_PER_TASK:-1}\"\n",
        ] {
            assert!(s.contains(line), "{line:?} not in\n{s}");
        }
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
