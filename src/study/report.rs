//! The report of a sweep, gathered from the trials' run directories: one row per trial
//! (`results.csv`), per configuration (every setting but the seed) the statistics of its runs
//! (`summary.csv`), the natural comparisons between configurations (`comparisons.csv`), and
//! `REPORT.md` / `REPORT.html` with the article's table beside ours, a verdict per comparison,
//! the curves with seed bands and a dot plot of the final test accuracies.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::plan::{SweepPlan, Trial};
use super::stats;
use super::sweep::{status, trial_dir, TrialStatus, PLAN};
use crate::error::{Error, Result};
use crate::report::atomic_write;
use crate::rundir::{files, Summary};
use crate::train::callbacks::train_eval::TrainEvalRow;
use crate::train::diagnostics::DiagnosticsRow;

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
    /// The test figures of the best validation epoch's weights (NaN when not recorded).
    pub test_loss_at_best: f64,
    pub test_accuracy_at_best: f64,
    pub epochs_run: usize,
    /// The epoch (from 1) with the lowest validation loss, and the validation figures there.
    pub best_epoch: Option<usize>,
    pub best_val_loss: f64,
    pub best_val_accuracy: f64,
    pub wall_seconds: f64,
    /// Per epoch (Keras's keys): loss, accuracy, val_loss, val_accuracy; empty unless done.
    pub curves: [Vec<f64>; 4],
    /// The rows of `diagnostics.csv` (empty unless done with diagnostics).
    pub diagnostics: Vec<DiagnosticsRow>,
    /// The rows of `train_eval.csv` (empty unless done with the training set evaluated).
    pub train_eval: Vec<TrainEvalRow>,
}

/// The history keys the report reads from `history.json`.
#[derive(Deserialize, Default)]
struct HistoryJson {
    #[serde(default)]
    loss: Vec<Option<f64>>,
    #[serde(default)]
    accuracy: Vec<Option<f64>>,
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
        test_loss_at_best: f64::NAN,
        test_accuracy_at_best: f64::NAN,
        epochs_run: 0,
        best_epoch: None,
        best_val_loss: f64::NAN,
        best_val_accuracy: f64::NAN,
        wall_seconds: f64::NAN,
        curves: Default::default(),
        diagnostics: Vec::new(),
        train_eval: Vec::new(),
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
            row.test_loss_at_best = s.test_loss_at_best_validation.unwrap_or(f64::NAN);
            row.test_accuracy_at_best = s.test_accuracy_at_best_validation.unwrap_or(f64::NAN);
            row.epochs_run = s.epochs_run;
            row.wall_seconds = s.epoch_seconds.iter().sum();
            let h: HistoryJson = fs::read_to_string(t.join(files::HISTORY_JSON))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            let best =
                h.val_loss.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).min_by(|a, b| a.1.total_cmp(&b.1));
            let nan = |xs: &[Option<f64>]| xs.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<_>>();
            row.curves = [nan(&h.loss), nan(&h.accuracy), nan(&h.val_loss), nan(&h.val_accuracy)];
            let read = |name: &str| fs::read_to_string(t.join(name)).unwrap_or_default();
            row.diagnostics = DiagnosticsRow::parse_csv(&read(files::DIAGNOSTICS));
            row.train_eval = TrainEvalRow::parse_csv(&read(files::TRAIN_EVAL));
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
    out.push_str("seed,trial_id,status,test_loss,test_accuracy,epochs_run,best_epoch,val_loss_at_best,val_accuracy_at_best,test_loss_at_best,test_accuracy_at_best,wall_seconds,message\n");
    for r in rows {
        for (name, _) in &plan.axes {
            let v = r.trial.settings.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
            out.push_str(&field(v));
            out.push(',');
        }
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.trial.seed,
            r.trial.id,
            r.status,
            num(r.test_loss),
            num(r.test_accuracy),
            r.epochs_run,
            r.best_epoch.map_or(String::new(), |e| e.to_string()),
            num(r.best_val_loss),
            num(r.best_val_accuracy),
            num(r.test_loss_at_best),
            num(r.test_accuracy_at_best),
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

/// A configuration: the trials that share every setting but the seed.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    pub settings: Vec<(String, String)>,
    /// Its finished trials, by seed.
    pub rows: Vec<&'a TrialRow>,
}

impl Group<'_> {
    /// `activation=elu init=he_normal`.
    pub fn label(&self) -> String {
        self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }

    /// The value of `metric` in each finished run, in seed order.
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        self.rows.iter().map(|r| metric.of(r)).collect()
    }

    fn seeds(&self) -> Vec<u64> {
        self.rows.iter().map(|r| r.trial.seed).collect()
    }

    fn setting(&self, name: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The per-run figures the statistics are taken of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Of the final weights (the last epoch's, or the best with `restore_best_weights`).
    TestAccuracy,
    TestLoss,
    /// Of the weights of the epoch with the lowest validation loss.
    TestAccuracyAtBest,
    TestLossAtBest,
    ValAccuracyAtBest,
    ValLossAtBest,
}

impl Metric {
    pub const ALL: [Metric; 4] =
        [Metric::TestAccuracy, Metric::TestLoss, Metric::ValAccuracyAtBest, Metric::ValLossAtBest];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TestAccuracy => "test_accuracy",
            Metric::TestLoss => "test_loss",
            Metric::TestAccuracyAtBest => "test_accuracy_at_best",
            Metric::TestLossAtBest => "test_loss_at_best",
            Metric::ValAccuracyAtBest => "val_accuracy_at_best",
            Metric::ValLossAtBest => "val_loss_at_best",
        }
    }

    fn of(self, r: &TrialRow) -> f64 {
        match self {
            Metric::TestAccuracy => r.test_accuracy,
            Metric::TestLoss => r.test_loss,
            Metric::TestAccuracyAtBest => r.test_accuracy_at_best,
            Metric::TestLossAtBest => r.test_loss_at_best,
            Metric::ValAccuracyAtBest => r.best_val_accuracy,
            Metric::ValLossAtBest => r.best_val_loss,
        }
    }
}

/// The configurations of `rows`, in plan order, with their finished trials sorted by seed.
pub fn groups<'a>(rows: &'a [TrialRow]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|g| g.settings == r.trial.settings) {
            Some(i) => i,
            None => {
                out.push(Group { settings: r.trial.settings.clone(), rows: Vec::new() });
                out.len() - 1
            }
        };
        if r.status == "done" {
            out[i].rows.push(r);
        }
    }
    for g in &mut out {
        g.rows.sort_by_key(|r| r.trial.seed);
    }
    out
}

/// Seed of the bootstrap of every summary (fixed: the report is reproducible).
const BOOTSTRAP_SEED: u64 = 2015;

fn stat_num(v: stats::Stat<f64>) -> String {
    v.map_or(String::new(), num)
}

fn interval(v: stats::Stat<stats::Interval>) -> (String, String) {
    v.map_or((String::new(), String::new()), |i| (num(i.lo), num(i.hi)))
}

/// `summary.csv`: per configuration and metric, n, mean, sd, the 95% t-interval, a seeded 95%
/// percentile bootstrap interval (10,000 resamples), min and max.
pub fn summary_csv(plan: &SweepPlan, groups: &[Group]) -> String {
    let mut out = String::new();
    for (name, _) in &plan.axes {
        out.push_str(&field(name));
        out.push(',');
    }
    out.push_str("metric,n,mean,sd,t95_lo,t95_hi,bootstrap95_lo,bootstrap95_hi,min,max\n");
    for g in groups {
        for metric in Metric::ALL {
            let xs: Vec<f64> = g.values(metric).into_iter().filter(|x| x.is_finite()).collect();
            for (name, _) in &plan.axes {
                out.push_str(&field(g.setting(name).unwrap_or("")));
                out.push(',');
            }
            match stats::summarize(&xs, stats::DEFAULT_LEVEL, BOOTSTRAP_SEED) {
                Ok(s) => {
                    let (tl, th) = interval(s.t_interval);
                    let (bl, bh) = interval(s.bootstrap);
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{tl},{th},{bl},{bh},{},{}",
                        metric.name(),
                        s.n,
                        num(s.mean),
                        stat_num(s.sd),
                        num(s.min),
                        num(s.max)
                    );
                }
                Err(_) => {
                    let _ = writeln!(out, "{},{},,,,,,,,", metric.name(), xs.len());
                }
            }
        }
    }
    out
}

/// One natural comparison: configuration `a` against `b`, which differ in one setting.
#[derive(Clone, Debug)]
pub struct Pair<'g, 'a> {
    /// The setting that differs, and its value in each.
    pub axis: String,
    pub a: &'g Group<'a>,
    pub b: &'g Group<'a>,
    /// The settings they share, as `name=value` text.
    pub context: String,
}

/// The natural comparisons: for each swept setting, every value against the first one listed,
/// at equal other settings (with two values, e.g. the two inits, that is one against the other).
pub fn pairs<'g, 'a>(plan: &SweepPlan, groups: &'g [Group<'a>]) -> Vec<Pair<'g, 'a>> {
    let mut out = Vec::new();
    for (axis, values) in &plan.axes {
        let Some(first) = values.first() else { continue };
        for b in groups.iter().filter(|g| g.setting(axis) == Some(first)) {
            for v in values.iter().skip(1) {
                let partner = groups.iter().find(|a| {
                    a.setting(axis) == Some(v.as_str())
                        && a.settings.iter().all(|(k, x)| k == axis || b.setting(k) == Some(x.as_str()))
                });
                if let Some(a) = partner {
                    let context = b
                        .settings
                        .iter()
                        .filter(|(k, _)| k != axis)
                        .map(|(k, x)| format!("{k}={x}"))
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.push(Pair { axis: axis.clone(), a, b, context });
                }
            }
        }
    }
    out
}

/// The statistics of one pair on one metric, with its Holm-adjusted p.
#[derive(Clone, Debug)]
pub struct Compared<'p, 'g, 'a> {
    pub pair: &'p Pair<'g, 'a>,
    pub metric: Metric,
    pub cmp: stats::Comparison,
    pub holm_p: Option<f64>,
}

/// Every pair compared on `metric`; the Holm adjustment runs over this family (its Welch p's).
pub fn compare_all<'p, 'g, 'a>(pairs: &'p [Pair<'g, 'a>], metric: Metric) -> Vec<Compared<'p, 'g, 'a>> {
    let mut out: Vec<Compared> = pairs
        .iter()
        .map(|pair| {
            let (a, b) = (pair.a.values(metric), pair.b.values(metric));
            // Paired when both have the same seeds (in seed order, so a[i] and b[i] share one).
            let paired = pair.a.seeds() == pair.b.seeds();
            Compared { pair, metric, cmp: stats::compare(&a, &b, paired), holm_p: None }
        })
        .collect();
    let ps: Vec<f64> = out.iter().map(|c| c.cmp.welch.map_or(f64::NAN, |w| w.p)).collect();
    if let Ok(adjusted) = stats::holm(&ps) {
        for (c, p) in out.iter_mut().zip(adjusted) {
            c.holm_p = p.is_finite().then_some(p);
        }
    }
    out
}

/// `comparisons.csv`: per metric and pair, the difference of means with its Welch 95% interval,
/// Welch's t-test, Mann–Whitney U (exact for small samples without ties), the paired t-test
/// when the seeds are shared, Hedges' g, P(A>B), and the Holm-adjusted Welch p over the metric's
/// family of comparisons.
pub fn comparisons_csv(all: &[Compared]) -> String {
    let mut out = String::from(
        "metric,setting,a,b,at,n_a,n_b,mean_a,mean_b,difference,difference95_lo,difference95_hi,welch_t,welch_df,welch_p,mann_whitney_u,mann_whitney_p,mann_whitney_method,paired_t,paired_p,hedges_g,p_a_gt_b,holm_p\n",
    );
    for c in all {
        let p = c.pair;
        let mean = |g: &Group| stats::mean(&g.values(c.metric)).map_or(String::new(), num);
        let (d, dl, dh) = c
            .cmp
            .difference
            .map_or((String::new(), String::new(), String::new()), |d| (num(d.estimate), num(d.ci.lo), num(d.ci.hi)));
        let (wt, wdf, wp) =
            c.cmp.welch.map_or((String::new(), String::new(), String::new()), |w| (num(w.t), num(w.df), num(w.p)));
        let (mu, mp, mm) = c.cmp.mann_whitney.map_or((String::new(), String::new(), String::new()), |m| {
            (num(m.u), num(m.p), if m.method == stats::MwuMethod::Exact { "exact" } else { "asymptotic" }.to_string())
        });
        let (pt, pp) = match c.cmp.paired {
            Some(Ok(t)) => (num(t.t), num(t.p)),
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{d},{dl},{dh},{wt},{wdf},{wp},{mu},{mp},{mm},{pt},{pp},{},{},{}",
            c.metric.name(),
            field(&p.axis),
            field(p.a.setting(&p.axis).unwrap_or("")),
            field(p.b.setting(&p.axis).unwrap_or("")),
            field(&p.context),
            c.cmp.n_a,
            c.cmp.n_b,
            mean(p.a),
            mean(p.b),
            stat_num(c.cmp.hedges_g),
            stat_num(c.cmp.p_a_gt_b),
            c.holm_p.map_or(String::new(), num)
        );
    }
    out
}

/// The plain-words verdict of a comparison.
pub fn verdict(c: &Compared) -> String {
    let p = c.pair;
    let a = p.a.setting(&p.axis).unwrap_or("?");
    let b = p.b.setting(&p.axis).unwrap_or("?");
    let context = if p.context.is_empty() { String::new() } else { format!("at {}", p.context) };
    format!("{}: {}", c.metric.name(), stats::verdict(a, b, &context, &c.cmp, c.holm_p))
}

/// Writes every report file into the sweep directory `dir`: `results.csv`, `summary.csv`,
/// `comparisons.csv`, `REPORT.md` with its figures under `figures/`, and `REPORT.html`.
/// Returns the trial rows.
pub fn write_report(dir: &Path, provenance: super::document::Provenance) -> Result<Vec<TrialRow>> {
    let (plan, rows) = write_results(dir)?;
    let groups = groups(&rows);
    atomic_write(&dir.join("summary.csv"), summary_csv(&plan, &groups).as_bytes())?;
    let pairs = pairs(&plan, &groups);
    let mut compared = Vec::new();
    for metric in Metric::ALL {
        compared.extend(compare_all(&pairs, metric));
    }
    atomic_write(&dir.join("comparisons.csv"), comparisons_csv(&compared).as_bytes())?;
    let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    if plan.study.as_deref() == Some(super::paper::STUDY) {
        super::paper::write(dir, &plan, &rows, &provenance)?;
    }
    let doc = super::document::build(&plan, &rows, &format!("elu-lab study: {name}"), provenance);
    let figures = dir.join("figures");
    fs::create_dir_all(&figures).map_err(|e| Error::write(&figures, e))?;
    for f in &doc.figures {
        atomic_write(&dir.join(&f.file), f.svg.as_bytes())?;
    }
    atomic_write(&dir.join("REPORT.md"), doc.markdown().as_bytes())?;
    atomic_write(&dir.join("REPORT.html"), doc.html().as_bytes())?;
    Ok(rows)
}
