//! The report of a sweep: one row per trial (`results.csv`), gathered from the trials' run
//! directories, grouped by configuration (every setting but the seed).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::plan::{SweepPlan, Trial};
use super::sweep::{status, trial_dir, TrialStatus, PLAN};
use crate::error::{Error, Result};
use crate::report::atomic_write;
use crate::rundir::{files, Summary};

/// One trial's results.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRow {
    pub trial: Trial,
    /// `done`, `failed`, `started` or `pending`.
    pub status: &'static str,
    /// The failure's message, for a failed trial.
    pub message: String,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub epochs_run: usize,
    /// The epoch (from 1) with the lowest validation loss, and the validation figures there.
    pub best_epoch: Option<usize>,
    pub best_val_loss: f64,
    pub best_val_accuracy: f64,
    pub wall_seconds: f64,
}

/// The history keys the report reads from `history.json`.
#[derive(Deserialize, Default)]
struct HistoryJson {
    #[serde(default)]
    val_loss: Vec<Option<f64>>,
    #[serde(default)]
    val_accuracy: Vec<Option<f64>>,
}

/// Reads the plan of a sweep directory.
pub fn read_plan(dir: &Path) -> Result<SweepPlan> {
    let path = dir.join(PLAN);
    let text = fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
    SweepPlan::from_toml(&text, &path)
}

/// The rows of every trial of the plan, in plan order.
pub fn collect(dir: &Path, plan: &SweepPlan) -> Result<Vec<TrialRow>> {
    plan.trials.iter().map(|t| row(dir, t)).collect()
}

fn row(dir: &Path, trial: &Trial) -> Result<TrialRow> {
    let mut row = TrialRow {
        trial: trial.clone(),
        status: "pending",
        message: String::new(),
        test_loss: f64::NAN,
        test_accuracy: f64::NAN,
        epochs_run: 0,
        best_epoch: None,
        best_val_loss: f64::NAN,
        best_val_accuracy: f64::NAN,
        wall_seconds: f64::NAN,
    };
    match status(dir, trial) {
        TrialStatus::Pending => {}
        TrialStatus::Started { epochs_done } => {
            row.status = "started";
            row.epochs_run = epochs_done;
        }
        TrialStatus::Failed(msg) => {
            row.status = "failed";
            row.message = msg;
        }
        TrialStatus::Done => {
            let t = trial_dir(dir, &trial.id);
            let path = t.join(files::SUMMARY);
            let text = fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
            let s: Summary = serde_json::from_str(&text).map_err(|e| Error::corrupt(&path, e.to_string()))?;
            row.status = "done";
            row.test_loss = s.test_loss;
            row.test_accuracy = s.test_accuracy;
            row.epochs_run = s.epochs_run;
            row.wall_seconds = s.epoch_seconds.iter().sum();
            let h: HistoryJson = fs::read_to_string(t.join(files::HISTORY_JSON))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            let best =
                h.val_loss.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, v)) = best {
                row.best_epoch = Some(i + 1);
                row.best_val_loss = v;
                row.best_val_accuracy = h.val_accuracy.get(i).copied().flatten().unwrap_or(f64::NAN);
            }
        }
    }
    Ok(row)
}

/// A number for CSV: empty for NaN, else the shortest text that parses back.
fn num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// A CSV field, quoted when it needs to be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: one row per trial; a column per swept setting, then seed, trial id, status
/// and the figures.
pub fn results_csv(plan: &SweepPlan, rows: &[TrialRow]) -> String {
    let mut out = String::new();
    for (name, _) in &plan.axes {
        out.push_str(&field(name));
        out.push(',');
    }
    out.push_str("seed,trial_id,status,test_loss,test_accuracy,epochs_run,best_epoch,val_loss_at_best,val_accuracy_at_best,wall_seconds,message\n");
    for r in rows {
        for (name, _) in &plan.axes {
            let v = r.trial.settings.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
            out.push_str(&field(v));
            out.push(',');
        }
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.trial.seed,
            r.trial.id,
            r.status,
            num(r.test_loss),
            num(r.test_accuracy),
            r.epochs_run,
            r.best_epoch.map_or(String::new(), |e| e.to_string()),
            num(r.best_val_loss),
            num(r.best_val_accuracy),
            num(r.wall_seconds),
            field(&r.message)
        );
    }
    out
}

/// Writes `results.csv` into the sweep directory; returns the rows.
pub fn write_results(dir: &Path) -> Result<(SweepPlan, Vec<TrialRow>)> {
    let plan = read_plan(dir)?;
    let rows = collect(dir, &plan)?;
    atomic_write(&dir.join("results.csv"), results_csv(&plan, &rows).as_bytes())?;
    Ok((plan, rows))
}
