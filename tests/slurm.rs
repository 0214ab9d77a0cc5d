//! Sweeps as Slurm array jobs on a real Slurm (a one-node one from `scripts/slurm-local.sh`,
//! which `.ci/run` starts): the array's results equal a local run's bit for bit, and an array
//! task cancelled with `scancel` is finished by submitting again, with identical results.
//!
//! They run when `ELU_LAB_SLURM=1` (with `SLURM_CONF` pointing at the cluster's slurm.conf) and
//! say that they were skipped otherwise; with `ELU_LAB_SLURM=1` a missing `sbatch` or a
//! controller that does not answer is a failure, not a skip.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

/// One test at a time: they share the cluster's few CPUs.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether to run, checking that Slurm is there when asked to.
fn slurm() -> bool {
    if std::env::var("ELU_LAB_SLURM").as_deref() != Ok("1") {
        // Straight to stderr, past the test harness's capture, so that the skip is seen.
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped: set ELU_LAB_SLURM=1 with a Slurm running (scripts/slurm-local.sh start) to run the Slurm tests"
        );
        return false;
    }
    for tool in ["sbatch", "squeue", "scancel", "scontrol"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        assert!(found.status.success(), "ELU_LAB_SLURM=1 but {tool} is not on PATH (apt-get install slurm-wlm)");
    }
    let ping = Command::new("scontrol").arg("ping").output().unwrap();
    let (out, err) = text(&ping);
    assert!(
        ping.status.success() && out.contains("UP"),
        "ELU_LAB_SLURM=1 but the Slurm controller does not answer (scripts/slurm-local.sh start; SLURM_CONF={:?}):\n{out}{err}",
        std::env::var("SLURM_CONF").ok()
    );
    true
}

/// The grid of a test: train flags with small data and few epochs, one thread.
fn grid(epochs: &str) -> Vec<String> {
    ["--activation", "relu,elu", "--seeds", "2", "--limit", "2000", "--epochs", epochs, "--threads", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Runs `elu-lab sweep --out DIR GRID MORE` and asserts success; returns stdout.
fn sweep(dir: &Path, grid: &[String], more: &[&str]) -> String {
    let mut args = vec!["sweep".to_string(), "--out".into(), s(dir).into(), "--verbose".into(), "0".into()];
    args.extend(grid.iter().cloned());
    args.extend(more.iter().map(|s| s.to_string()));
    text(&run_ok(&args)).0
}

/// Submits the sweep of `grid` in `dir` as an array job; returns its id.
fn submit(dir: &Path, grid: &[String], more: &[&str]) -> String {
    let mut all = vec!["--slurm", "--submit"];
    all.extend(more);
    let out = sweep(dir, grid, &all);
    let id = out.lines().find(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
    id.unwrap_or_else(|| panic!("no job id in the output of --submit:\n{out}")).to_string()
}

/// Slurm's state of the tasks of job `id` (empty once they are all gone from the queue).
fn queued(id: &str) -> String {
    let o = Command::new("squeue").args(["-h", "-j", id, "-o", "%i %T"]).output().unwrap();
    // squeue refuses the id of a job it has forgotten: nothing queued either.
    if o.status.success() {
        text(&o).0
    } else {
        String::new()
    }
}

/// Waits until no task of job `id` is pending or running (10 minutes at most).
fn wait_for_queue(id: &str, dir: &Path) {
    let start = Instant::now();
    while !queued(id).trim().is_empty() {
        if start.elapsed() > Duration::from_secs(600) {
            let logs: Vec<String> = std::fs::read_dir(dir.join("logs"))
                .map(|r| r.filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok()).collect())
                .unwrap_or_default();
            panic!("job {id} still queued after 10 minutes: {}\nlogs:\n{}", queued(id), logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// results.csv without its wall-clock column (the one value two runs cannot share).
fn results_without_times(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_seconds").unwrap();
    text.lines()
        .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != wall).map(|(_, v)| v).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that two sweep directories hold the same results: results.csv (but its seconds),
/// and each trial's final weights and history, byte for byte.
fn assert_same_results(local: &Path, array: &Path) {
    let (a, b) = (results_without_times(local), results_without_times(array));
    assert_eq!(a.matches(",done,").count(), 4, "{a}");
    assert_eq!(a, b, "results.csv differs between the local run and the array");
    for entry in std::fs::read_dir(local.join("trials")).unwrap() {
        let id = entry.unwrap().file_name();
        for file in ["weights.safetensors", "history.csv"] {
            let (x, y) = (local.join("trials").join(&id).join(file), array.join("trials").join(&id).join(file));
            assert!(
                std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(),
                "{} differs from {}",
                x.display(),
                y.display()
            );
        }
    }
}

fn status(dir: &Path) -> String {
    text(&run_ok(&["status", s(dir)])).0
}

#[test]
fn an_array_sweep_equals_a_local_one_bit_for_bit() {
    if !slurm() {
        return;
    }
    let _cluster = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let d = tempfile::tempdir().unwrap();
    let (local, array) = (d.path().join("local"), d.path().join("array"));
    let grid = grid("2");
    sweep(&local, &grid, &[]);
    // Two trials per task: two tasks, one at a time.
    let id = submit(&array, &grid, &["--trials-per-task", "2", "--array-parallelism", "1"]);
    let script = std::fs::read_to_string(array.join("sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1%1\n"), "{script}");
    wait_for_queue(&id, &array);
    let st = status(&array);
    assert!(st.contains("4 trials: 4 done, 0 failed, 0 running, 0 interrupted, 0 pending"), "{st}");
    assert!(!array.join("results.csv").exists(), "a shard writes no report");
    run_ok(&["report", s(&array)]);
    assert_same_results(&local, &array);
    // Nothing is left to run: --slurm says so and submits nothing.
    let out = sweep(&array, &grid, &["--slurm", "--submit"]);
    assert!(out.contains("Every trial") && !out.lines().any(|l| l.chars().all(|c| c.is_ascii_digit())), "{out}");
}

#[test]
fn a_cancelled_array_task_is_finished_by_submitting_again_with_identical_results() {
    if !slurm() {
        return;
    }
    let _cluster = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let d = tempfile::tempdir().unwrap();
    let (local, array) = (d.path().join("local"), d.path().join("cancelled"));
    let epochs = 12;
    let grid = grid(&epochs.to_string());
    // Task 0 runs trials 0 and 2 (relu seed 1, elu seed 1), task 1 trials 1 and 3.
    let id = submit(&array, &grid, &["--trials-per-task", "2"]);
    // Cancel task 0 once its first trial has finished an epoch.
    let plan = std::fs::read_to_string(array.join("sweep.toml")).unwrap();
    let first = plan.lines().find_map(|l| l.strip_prefix("id = \"")).map(|l| l.trim_end_matches('"')).unwrap();
    let trial = array.join("trials").join(first);
    let start = Instant::now();
    while csv_rows(&trial) < 1 {
        assert!(start.elapsed() < Duration::from_secs(300), "task 0 did not finish an epoch in 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancel = Command::new("scancel").arg(format!("{id}_0")).output().unwrap();
    assert!(cancel.status.success(), "scancel failed: {:?}", text(&cancel));
    wait_for_queue(&id, &array);
    let done = csv_rows(&trial);
    assert!(done < epochs, "the cancelled trial ran to its end ({done} epochs) before scancel reached it");
    let st = status(&array);
    assert!(st.contains("4 trials: 2 done, 0 failed, 0 running, 1 interrupted, 1 pending"), "{st}");
    assert!(st.contains(&format!("interrupted after {done}/{epochs} epochs")), "{st}");
    // Submitting again runs task 0 only, which continues its trial from the checkpoint.
    let again = submit(&array, &grid, &["--trials-per-task", "2"]);
    let script = std::fs::read_to_string(array.join("sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0\n"), "{script}");
    wait_for_queue(&again, &array);
    run_ok(&["report", s(&array)]);
    let log = std::fs::read_to_string(array.join("logs").join(format!("{again}_0.out"))).unwrap();
    assert!(log.contains("2 trials finished now, 0 finished before"), "{log}");
    sweep(&local, &grid, &[]);
    assert_same_results(&local, &array);
}
