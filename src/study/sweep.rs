//! Running a sweep: every trial of a plan in its own run directory, resumable, several at once.
//!
//! `DIR/sweep.toml` holds the plan; each trial runs in `DIR/trials/<id>/`, a [`RunDir`] (its
//! `summary.json`, written last, marks it finished). Running a sweep again skips the finished
//! trials, continues the interrupted ones from their checkpoints, and leaves failed ones (a
//! `failed.json` beside their files) alone unless asked to retry them.
//!
//! Several processes may work in one sweep directory at once, on one machine or on the nodes of
//! a cluster sharing the filesystem (a [`Shard`] each, e.g. the tasks of a Slurm array): the
//! plan file is created exclusively and compared, never overwritten with another plan; each
//! trial is taken under its own lock (`trials/<id>/.lock`) before anything in its directory is
//! looked at, and a trial another process holds is left to it.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::plan::{Shard, SweepPlan, Trial};
use crate::data::Mnist;
use crate::error::{Error, Result};
use crate::report::atomic_write;
use crate::rundir::{files, Lock, LockHolder, RunDir};
use crate::train::callbacks::ProgressBar;
use crate::train::RunResult;

/// The plan file of a sweep directory.
pub const PLAN: &str = "sweep.toml";
/// The file that marks a failed trial.
pub const FAILED: &str = "failed.json";

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Trials run at once.
    pub jobs: usize,
    /// Worker threads in all (shared out among the jobs); 0 = all cores.
    pub threads: usize,
    /// Run failed trials again (from their checkpoints).
    pub retry_failed: bool,
    /// 0 silent, 1 progress, 2 one line per epoch of each trial (with one job).
    pub verbose: u8,
    /// Only this part of the plan (`None`: all of it).
    pub shard: Option<Shard>,
}

/// Where a trial stands, from its directory.
#[derive(Clone, Debug, PartialEq)]
pub enum TrialStatus {
    /// Nothing written yet.
    Pending,
    /// Started and not finished (interrupted, or running now).
    Started {
        epochs_done: usize,
    },
    Done,
    /// Failed with this message.
    Failed(String),
}

/// A failed trial's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

/// The directory of a trial.
pub fn trial_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join("trials").join(id)
}

/// Where a trial stands.
pub fn status(dir: &Path, trial: &Trial) -> TrialStatus {
    let t = trial_dir(dir, &trial.id);
    if t.join(files::SUMMARY).is_file() {
        return TrialStatus::Done;
    }
    if let Ok(text) = fs::read_to_string(t.join(FAILED)) {
        let f: Option<Failure> = serde_json::from_str(&text).ok();
        return TrialStatus::Failed(f.map_or(text, |f| f.message));
    }
    if t.join(files::CHECKPOINT).is_file() {
        let epochs_done = RunDir::open(&t).and_then(|d| d.history()).map_or(0, |h| h.epochs());
        return TrialStatus::Started { epochs_done };
    }
    TrialStatus::Pending
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepOutcome {
    /// Trials already finished before this call.
    pub skipped: usize,
    /// Trials this call finished.
    pub finished: usize,
    /// Trials that failed (this call, or earlier and not retried): (id, label, message).
    pub failed: Vec<(String, String, String)>,
    /// Trials left alone because another process runs them: (id, label, that process).
    pub running_elsewhere: Vec<(String, String, String)>,
    /// Whether `stop` ended the sweep early.
    pub interrupted: bool,
    pub seconds: f64,
}

/// Prepares `dir` for `plan`: writes `sweep.toml` for a new sweep; for an existing one, checks
/// that the plan is the same (or, with `extend`, adds the new trials to it). Returns the plan
/// to run (the stored one, extended).
pub fn prepare(dir: &Path, plan: &SweepPlan, extend: bool) -> Result<SweepPlan> {
    plan.validate()?;
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let path = dir.join(PLAN);
    let stored = match fs::read_to_string(&path) {
        Ok(text) => SweepPlan::from_toml(&text, &path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create_plan_file(&path, plan)? {
            None => return Ok(plan.clone()),
            // Another process (a shard started at the same time) wrote one first: compare.
            Some(theirs) => theirs,
        },
        Err(e) => return Err(Error::read(&path, e)),
    };
    let plan = match stored {
        old if old.ids() == plan.ids() => return Ok(old),
        mut old if extend => {
            old.extend(plan);
            old
        }
        old => {
            let (o, n) = (old.ids(), plan.ids());
            let missing = o.difference(&n).count();
            let new = n.difference(&o).count();
            return Err(Error::SweepPlanDiffers {
                path: path.clone(),
                msg: format!(
                    "its plan has {} trials; this one has {} ({new} not in it, {missing} of it not here)",
                    o.len(),
                    n.len()
                ),
            });
        }
    };
    // Extended: the stored plan with the new trials after its own, so that every trial keeps its
    // index (and its shard).
    atomic_write(&path, plan.to_toml().as_bytes())?;
    Ok(plan)
}

/// Writes `plan` to `path` unless a plan is there: written to a temporary file, then linked to
/// its name (which fails if the name exists), so two processes creating it at once never mix
/// their writes. Returns the plan found there instead, if any.
fn create_plan_file(path: &Path, plan: &SweepPlan) -> Result<Option<SweepPlan>> {
    let tmp = crate::report::files::TempFile::next_to(path, "tmp").map_err(|e| Error::write(path, e))?;
    fs::write(tmp.path(), plan.to_toml()).map_err(|e| Error::write(path, e))?;
    match fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
            SweepPlan::from_toml(&text, path).map(Some)
        }
        Err(e) => Err(Error::write(path, e)),
    }
}

/// The shards (of `count`) that hold a trial still to run: not finished, and not failed unless
/// `retry_failed`. The tasks to submit to finish a sweep.
pub fn pending_shards(dir: &Path, plan: &SweepPlan, count: usize, retry_failed: bool) -> Vec<usize> {
    let mut pending = vec![false; count.max(1)];
    for (i, t) in plan.trials.iter().enumerate() {
        let todo = match status(dir, t) {
            TrialStatus::Done => false,
            TrialStatus::Failed(_) => retry_failed,
            _ => true,
        };
        if todo {
            pending[i % count.max(1)] = true;
        }
    }
    pending.iter().enumerate().filter(|(_, &p)| p).map(|(i, _)| i).collect()
}

/// The process running a trial now, if any (from its lock; read only).
pub fn running(dir: &Path, trial: &Trial) -> Option<LockHolder> {
    crate::rundir::lock_holder(&trial_dir(dir, &trial.id))
}

/// Runs the trials of `plan` in `dir` that are not finished (see the module docs). `stop`
/// interrupts the running trials after their current batch; finished trials are never touched.
pub fn run_sweep(dir: &Path, plan: &SweepPlan, opts: &SweepOptions, stop: &AtomicBool) -> Result<SweepOutcome> {
    let started = Instant::now();
    if let Some(shard) = opts.shard {
        shard.check(plan.trials.len())?;
    }
    let mine: Vec<&Trial> = plan
        .trials
        .iter()
        .enumerate()
        .filter(|(i, _)| opts.shard.is_none_or(|s| s.contains(*i)))
        .map(|(_, t)| t)
        .collect();
    let mut outcome = SweepOutcome::default();
    let mut todo = VecDeque::new();
    for t in mine.iter().copied() {
        match status(dir, t) {
            TrialStatus::Done => outcome.skipped += 1,
            TrialStatus::Failed(msg) if !opts.retry_failed => outcome.failed.push((t.id.clone(), t.label(), msg)),
            _ => todo.push_back(t),
        }
    }
    let total = mine.len();
    let jobs = opts.jobs.clamp(1, todo.len().max(1));
    let cores =
        if opts.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { opts.threads };
    let threads_per_job = (cores / jobs).max(1);
    let multi = indicatif::MultiProgress::new();
    let bar = overall_bar(opts.verbose, total as u64, outcome.skipped as u64).map(|b| multi.add(b));
    let shared = Mutex::new((todo, outcome));
    let data = DataCache::default();
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads_per_job).build() {
                    Ok(p) => p,
                    Err(e) => {
                        let e = Error::config("threads", format!("cannot start {threads_per_job} worker threads: {e}"));
                        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        return;
                    }
                };
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Some(trial) = shared.lock().unwrap_or_else(|p| p.into_inner()).0.pop_front() else { return };
                    let t0 = Instant::now();
                    // Under the overall bar, each running trial's own; or its epoch lines (--verbose 2,
                    // one job); or nothing.
                    let progress = match (&bar, opts.verbose) {
                        (Some(_), _) => {
                            Some(ProgressBar::nested(multi.clone(), format!("{} seed {}", trial.label(), trial.seed)))
                        }
                        (None, 2) if jobs == 1 => Some(ProgressBar::new(2)),
                        _ => None,
                    };
                    let result = pool.install(|| run_trial(dir, trial, &data, progress, stop));
                    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                    let out = &mut guard.1;
                    let line = match result {
                        Ok(None) => {
                            out.skipped += 1;
                            format!("{} seed {}: finished by another process", trial.label(), trial.seed)
                        }
                        Err(Error::Locked { holder, .. }) => {
                            out.running_elsewhere.push((trial.id.clone(), trial.label(), holder.to_string()));
                            format!("{} seed {}: left to {holder}, which runs it", trial.label(), trial.seed)
                        }
                        Ok(Some(r)) => {
                            out.finished += 1;
                            format!(
                                "{} seed {}: test accuracy {:.4}, loss {:.4} ({} epochs, {:.0} s)",
                                trial.label(),
                                trial.seed,
                                r.test_accuracy,
                                r.test_loss,
                                r.history.epochs(),
                                t0.elapsed().as_secs_f64()
                            )
                        }
                        Err(Error::Interrupted { .. }) => {
                            out.interrupted = true;
                            format!("{} seed {}: interrupted", trial.label(), trial.seed)
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            let record = Failure { message: msg.clone(), hint: e.hint() };
                            let path = trial_dir(dir, &trial.id).join(FAILED);
                            let written = fs::create_dir_all(trial_dir(dir, &trial.id))
                                .map_err(|e| Error::write(&path, e))
                                .and_then(|()| {
                                    atomic_write(
                                        &path,
                                        serde_json::to_string_pretty(&record).unwrap_or(msg.clone()).as_bytes(),
                                    )
                                });
                            if let Err(w) = written {
                                first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(w);
                            }
                            out.failed.push((trial.id.clone(), trial.label(), msg.clone()));
                            format!("{} seed {}: FAILED: {msg}", trial.label(), trial.seed)
                        }
                    };
                    if let Some(bar) = &bar {
                        bar.inc(1);
                        if opts.verbose > 0 {
                            bar.println(line);
                        }
                    } else if opts.verbose > 0 {
                        crate::train::callbacks::progress::say(format_args!("{line}"));
                    }
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (_, mut outcome) = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    outcome.interrupted |= stop.load(Ordering::SeqCst);
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Runs (or continues) one trial in its directory, under the trial's lock ([`Error::Locked`]
/// if another process holds it). `None` if it turns out finished (by another process).
fn run_trial(
    dir: &Path,
    trial: &Trial,
    data: &DataCache,
    progress: Option<ProgressBar>,
    stop: &AtomicBool,
) -> Result<Option<RunResult>> {
    let t = trial_dir(dir, &trial.id);
    fs::create_dir_all(&t).map_err(|e| Error::write(&t, e))?;
    let lock = Lock::acquire(&t)?;
    if t.join(files::SUMMARY).is_file() {
        return Ok(None);
    }
    let _ = fs::remove_file(t.join(FAILED));
    let run = if t.join(files::CHECKPOINT).is_file() {
        RunDir::resume_locked(&t, lock)?
    } else {
        // A directory without a checkpoint never finished an epoch: nothing to keep but the lock.
        for entry in fs::read_dir(&t).map_err(|e| Error::read(&t, e))? {
            let path = entry.map_err(|e| Error::read(&t, e))?.path();
            if path.file_name().is_some_and(|n| n == files::LOCK) {
                continue;
            }
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.map_err(|e| Error::write(&path, e))?;
        }
        RunDir::create_locked(&t, &trial.config, lock)?
    };
    let config = run.config()?;
    let mut callbacks = run.callbacks(&config, false);
    if let Some(progress) = progress {
        callbacks.list.insert(0, Box::new(progress));
    }
    run.train_on(&config, data.get(&config)?, callbacks, stop).map(Some)
}

/// Loads each dataset once per sweep; trials get their own copy.
#[derive(Default)]
struct DataCache {
    loaded: Mutex<HashMap<Option<PathBuf>, Arc<Mnist>>>,
}

impl DataCache {
    fn get(&self, config: &crate::train::RunConfig) -> Result<Mnist> {
        let key = config.data.dir.clone();
        if let Some(d) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Mnist::clone(d));
        }
        let data = Arc::new(crate::train::load_data(config)?);
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::clone(&data));
        Ok(Mnist::clone(&data))
    }
}

/// The bar of trials done / total (on a terminal, with verbose ≥ 1).
fn overall_bar(verbose: u8, total: u64, done: u64) -> Option<indicatif::ProgressBar> {
    if verbose == 0 || !std::io::stdout().is_terminal() {
        return None;
    }
    // Hidden until it is added to the sweep's MultiProgress, which draws it.
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::hidden());
    let style =
        indicatif::ProgressStyle::with_template("trials {pos}/{len} [{bar:30}] {elapsed_precise} elapsed, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_position(done);
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::RunConfig;

    fn tiny(seed: u64) -> Trial {
        let mut c = RunConfig::article();
        c.seed = seed;
        c.epochs = 1;
        c.data.limit = Some(300);
        Trial::new(vec![("activation".into(), "elu".into())], c)
    }

    fn plan(seeds: &[u64]) -> SweepPlan {
        SweepPlan {
            axes: vec![("activation".into(), vec!["elu".into()])],
            seeds: seeds.to_vec(),
            fixed: vec![],
            trials: seeds.iter().map(|&s| tiny(s)).collect(),
            ..Default::default()
        }
    }

    fn opts() -> SweepOptions {
        SweepOptions { jobs: 2, threads: 2, retry_failed: false, verbose: 0, shard: None }
    }

    #[test]
    fn a_sweep_runs_each_trial_once_and_skips_finished_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = prepare(d.path(), &plan(&[1, 2]), false).unwrap();
        let stop = AtomicBool::new(false);
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.skipped, o.finished, o.failed.len(), o.interrupted), (0, 2, 0, false));
        for t in &p.trials {
            assert_eq!(status(d.path(), t), TrialStatus::Done);
        }
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.skipped, o.finished), (2, 0));
        // Another plan is refused; --extend adds its trials.
        let err = prepare(d.path(), &plan(&[1, 2, 3]), false).unwrap_err().to_string();
        assert!(err.contains("its plan has 2 trials; this one has 3 (1 not in it, 0 of it not here)"), "{err}");
        let p = prepare(d.path(), &plan(&[1, 2, 3]), true).unwrap();
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.skipped, o.finished), (2, 1));
    }

    #[test]
    fn a_failing_trial_is_recorded_and_the_sweep_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let mut bad = tiny(5);
        bad.config.optimizer = crate::optim::OptimizerConfig::Sgd { lr: 1e30, momentum: 0.0 };
        bad = Trial::new(bad.settings.clone(), bad.config);
        let mut p = plan(&[1]);
        p.trials.push(bad.clone());
        p.seeds.push(5);
        let p = prepare(d.path(), &p, false).unwrap();
        let stop = AtomicBool::new(false);
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.finished, o.failed.len()), (1, 1));
        assert!(matches!(status(d.path(), &bad), TrialStatus::Failed(m) if m.contains("became")));
        // Not retried unless asked.
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.skipped, o.finished, o.failed.len()), (1, 0, 1));
        let o = run_sweep(d.path(), &p, &SweepOptions { retry_failed: true, ..opts() }, &stop).unwrap();
        assert_eq!((o.skipped, o.finished, o.failed.len()), (1, 0, 1), "it fails again, the same way");
    }

    #[test]
    fn a_trial_another_process_holds_is_left_to_it_and_shards_split_the_plan() {
        let d = tempfile::tempdir().unwrap();
        let p = prepare(d.path(), &plan(&[1, 2, 3]), false).unwrap();
        // Trial 1 is held (by a live process: this one).
        let held = trial_dir(d.path(), &p.trials[1].id);
        fs::create_dir_all(&held).unwrap();
        let lock = Lock::acquire(&held).unwrap();
        let stop = AtomicBool::new(false);
        let o = run_sweep(d.path(), &p, &opts(), &stop).unwrap();
        assert_eq!((o.finished, o.failed.len(), o.running_elsewhere.len()), (2, 0, 1));
        assert_eq!(o.running_elsewhere[0].0, p.trials[1].id);
        assert!(!held.join(FAILED).exists() && !held.join(files::CONFIG).exists(), "the held trial is untouched");
        assert_eq!(running(d.path(), &p.trials[1]).map(|h| h.pid), Some(std::process::id()));
        assert_eq!(pending_shards(d.path(), &p, 2, false), [1]);
        drop(lock);
        assert_eq!(running(d.path(), &p.trials[1]), None);
        // Shard 1/2 holds trial 1 (and 3, which has none): it runs it; shard 0/2 has nothing left.
        let shard = |i| SweepOptions { shard: Some(Shard { index: i, count: 2 }), ..opts() };
        let o = run_sweep(d.path(), &p, &shard(0), &stop).unwrap();
        assert_eq!((o.skipped, o.finished), (2, 0));
        let o = run_sweep(d.path(), &p, &shard(1), &stop).unwrap();
        assert_eq!((o.skipped, o.finished), (0, 1));
        assert!(pending_shards(d.path(), &p, 2, false).is_empty());
        // A shard beyond the plan is refused.
        let err = run_sweep(d.path(), &p, &SweepOptions { shard: Some(Shard { index: 3, count: 4 }), ..opts() }, &stop);
        assert!(err.unwrap_err().to_string().contains("holds no trial"));
    }

    #[test]
    fn the_plan_file_is_created_once_and_a_different_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        // Many shards starting at once all agree on one plan file.
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| prepare(d.path(), &plan(&[1, 2]), false))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().all(|r| r.as_ref().unwrap() == &plan(&[1, 2])));
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [PLAN], "no temporary file is left");
        let err = prepare(d.path(), &plan(&[1, 3]), false).unwrap_err().to_string();
        assert!(err.contains("its plan has 2 trials"), "{err}");
        assert_eq!(create_plan_file(&d.path().join(PLAN), &plan(&[4])).unwrap(), Some(plan(&[1, 2])));
    }
}
