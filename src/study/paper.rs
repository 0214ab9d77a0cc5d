//! The ELU paper's MNIST experiment (Clevert, Unterthiner & Hochreiter 2015, section 4.1 and
//! figure 2) as a study: the settings of its trials, `curves.csv`, the paper's two panels (median
//! unit mean and training cross-entropy per epoch, mean and band over seeds) and a verdict per
//! claim, computed from the data, in `PAPER.md` and `PAPER.html`.
//!
//! The claims, as checked here, for ELU against each other activation B, on the epochs
//! 1..=E that every run has (epoch 0, before training, is shown but not judged):
//!
//! - *lower median unit mean*: the mean over seeds of ELU's median unit mean (all hidden units
//!   pooled) is below B's at every epoch;
//! - *training loss falls faster*: the mean over seeds of ELU's training cross-entropy (the
//!   whole training set in inference mode after each epoch) is below B's at every epoch.
//!
//! Each check also gives the per-seed average over epochs 1..=E (for the loss: the area under
//! its curve divided by E) and a paired t-test of ELU − B over the seeds both have; a claim
//! that holds at every epoch with a paired p ≥ 0.05 is reported as holding without support
//! from the test.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::document::Provenance;
use super::plan::SweepPlan;
use super::report::TrialRow;
use super::stats;
use super::svg::{self, LineChart, Run, Series};
use crate::error::{Error, Result};
use crate::report::atomic_write;
use crate::train::diagnostics::ALL_LAYERS;

/// The plan's `study` of the paper's experiment.
pub const STUDY: &str = "paper-mnist";
/// The activations compared, ELU first (the others are judged against it).
pub const ACTIVATIONS: [&str; 4] = ["elu", "relu", "leaky_relu", "srelu"];
/// The paper's LeakyReLU slope.
pub const LEAKY_RELU_SLOPE: f32 = 0.1;
/// The validation fraction that holds out the last 10,000 of MNIST's 60,000 training images.
pub const VALIDATION_SPLIT: f64 = 1.0 / 6.0;

/// Picks one quantity's curve of a run.
type Pick = fn(&Curves) -> &Vec<f64>;

/// One run's curves, indexed by epoch (0: before training).
#[derive(Clone, Debug, PartialEq)]
pub struct Curves {
    pub activation: String,
    pub seed: u64,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub val_accuracy: Vec<f64>,
    pub median_unit_mean: Vec<f64>,
    pub dead_fraction: Vec<f64>,
}

/// The curves of every finished trial that recorded them (diagnostics and the training set's
/// loss), in trial order.
pub fn curves_of(rows: &[TrialRow]) -> Vec<Curves> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.status == "done" && !r.train_eval.is_empty()) {
        let activation = r.trial.settings.iter().find(|(k, _)| k == "activation").map_or("", |(_, v)| v.as_str());
        let epochs = r.train_eval.iter().map(|e| e.epoch + 1).max().unwrap_or(0);
        let mut c = Curves {
            activation: activation.to_string(),
            seed: r.trial.seed,
            train_loss: vec![f64::NAN; epochs],
            val_loss: vec![f64::NAN; epochs],
            val_accuracy: vec![f64::NAN; epochs],
            median_unit_mean: vec![f64::NAN; epochs],
            dead_fraction: vec![f64::NAN; epochs],
        };
        for e in &r.train_eval {
            c.train_loss[e.epoch] = e.train_loss;
            c.val_loss[e.epoch] = e.val_loss;
            c.val_accuracy[e.epoch] = e.val_accuracy;
        }
        for d in r.diagnostics.iter().filter(|d| d.layer == ALL_LAYERS && d.epoch < epochs) {
            c.median_unit_mean[d.epoch] = d.median_unit_mean;
            c.dead_fraction[d.epoch] = d.dead_fraction;
        }
        out.push(c);
    }
    out
}

/// `curves.csv`: one row per run and epoch.
pub fn curves_csv(curves: &[Curves]) -> String {
    let num = |v: f64| if v.is_nan() { String::new() } else { format!("{v}") };
    let mut out =
        String::from("activation,seed,epoch,train_loss,val_loss,val_accuracy,median_unit_mean,dead_fraction\n");
    for c in curves {
        for e in 0..c.train_loss.len() {
            let _ = writeln!(
                out,
                "{},{},{e},{},{},{},{},{}",
                c.activation,
                c.seed,
                num(c.train_loss[e]),
                num(c.val_loss[e]),
                num(c.val_accuracy[e]),
                num(c.median_unit_mean[e]),
                num(c.dead_fraction[e])
            );
        }
    }
    out
}

/// One claim checked for ELU against one other activation.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The epochs judged: 1..=epochs.
    pub epochs: usize,
    /// Epochs at which ELU's mean over seeds is not below the other's.
    pub not_lower: Vec<usize>,
    /// Mean over seeds of the per-seed average over the judged epochs: ELU's, the other's.
    pub average: (f64, f64),
    /// Paired t-test of ELU − other on the per-seed averages over the seeds both have.
    pub paired: stats::Stat<stats::TTest>,
    pub pairs: usize,
}

impl Check {
    /// Whether ELU's mean is below the other's at every judged epoch (and there is one).
    pub fn holds(&self) -> bool {
        self.epochs > 0 && self.not_lower.is_empty()
    }

    /// Whether the paired test finds ELU's per-seed averages lower at p < 0.05.
    pub fn significant(&self) -> bool {
        matches!(self.paired, Ok(t) if t.p < 0.05 && t.t < 0.0)
    }
}

/// The mean over runs at each epoch of `0..len` (NaN where no run has a finite value).
fn mean_curve(runs: &[(u64, &[f64])], len: usize) -> Vec<f64> {
    (0..len)
        .map(|e| {
            let xs: Vec<f64> = runs.iter().filter_map(|(_, v)| v.get(e).copied()).filter(|v| v.is_finite()).collect();
            stats::mean(&xs).unwrap_or(f64::NAN)
        })
        .collect()
}

/// Checks "ELU's value is lower at every epoch" on (seed, values by epoch from 0) runs.
pub fn check(elu: &[(u64, &[f64])], other: &[(u64, &[f64])]) -> Check {
    let epochs = elu.iter().chain(other).map(|(_, v)| v.len()).min().unwrap_or(0).saturating_sub(1);
    let (a, b) = (mean_curve(elu, epochs + 1), mean_curve(other, epochs + 1));
    let not_lower = (1..=epochs).filter(|&e| a[e].partial_cmp(&b[e]) != Some(Ordering::Less)).collect();
    let average = |v: &[f64]| if epochs == 0 { f64::NAN } else { v[1..=epochs].iter().sum::<f64>() / epochs as f64 };
    let per_seed = |runs: &[(u64, &[f64])]| runs.iter().map(|(s, v)| (*s, average(v))).collect::<Vec<_>>();
    let (sa, sb) = (per_seed(elu), per_seed(other));
    let mut pa = Vec::new();
    let mut pb = Vec::new();
    for (seed, x) in &sa {
        if let Some((_, y)) = sb.iter().find(|(s, _)| s == seed) {
            pa.push(*x);
            pb.push(*y);
        }
    }
    let mean_of = |xs: Vec<f64>| stats::mean(&xs).unwrap_or(f64::NAN);
    Check {
        epochs,
        not_lower,
        average: (mean_of(sa.iter().map(|x| x.1).collect()), mean_of(sb.iter().map(|x| x.1).collect())),
        paired: stats::paired_t_test(&pa, &pb),
        pairs: pa.len(),
    }
}

/// Epochs as "1, 2, 5" (at most ten, then "and N more").
fn epoch_list(epochs: &[usize]) -> String {
    let mut t = epochs.iter().take(10).map(|e| e.to_string()).collect::<Vec<_>>().join(", ");
    if epochs.len() > 10 {
        let _ = write!(t, " and {} more", epochs.len() - 10);
    }
    t
}

/// The verdict sentence of one check: `what` names the quantity ("median unit mean").
pub fn verdict(what: &str, other: &str, c: &Check) -> String {
    let test = match c.paired {
        Ok(t) if t.p < 0.001 => format!("paired t over {} seeds: t = {:.2}, p < 0.001", c.pairs, t.t),
        Ok(t) => format!("paired t over {} seeds: t = {:.2}, p = {:.3}", c.pairs, t.t, t.p),
        Err(_) => format!("no paired test with {} shared seed(s)", c.pairs),
    };
    let averages =
        format!("average over epochs 1–{}: ELU {:.4}, {other} {:.4} ({test})", c.epochs, c.average.0, c.average.1);
    if c.epochs == 0 {
        return format!("Undecided: no finished epochs to compare ELU's {what} with {other}'s.");
    }
    if c.holds() {
        let support = if c.significant() {
            "the paired test supports it".to_string()
        } else {
            "but the paired test does not support it at p < 0.05".to_string()
        };
        format!(
            "Holds: ELU's mean {what} is lower than {other}'s at every epoch 1–{}; {support}; {averages}.",
            c.epochs
        )
    } else if c.not_lower.len() == c.epochs {
        format!("Fails: ELU's mean {what} is not lower than {other}'s at any epoch 1–{}; {averages}.", c.epochs)
    } else {
        format!(
            "Fails: ELU's mean {what} is lower than {other}'s at {} of {} epochs, not at epoch(s) {}; {averages}.",
            c.epochs - c.not_lower.len(),
            c.epochs,
            epoch_list(&c.not_lower)
        )
    }
}

/// The runs of `activation` in `curves`, one quantity.
fn runs_of<'a>(curves: &'a [Curves], activation: &str, pick: Pick) -> Vec<(u64, &'a [f64])> {
    curves.iter().filter(|c| c.activation == activation).map(|c| (c.seed, pick(c).as_slice())).collect()
}

/// The activations present, in [`ACTIVATIONS`] order, then any others.
fn activations(curves: &[Curves]) -> Vec<String> {
    let mut out: Vec<String> =
        ACTIVATIONS.iter().filter(|a| curves.iter().any(|c| c.activation == **a)).map(|a| a.to_string()).collect();
    for c in curves {
        if !out.contains(&c.activation) {
            out.push(c.activation.clone());
        }
    }
    out
}

/// (what, quantity) of the two claims.
const CLAIMS: [(&str, &str, Pick); 2] = [
    ("Lower median unit mean", "median unit mean", |c| &c.median_unit_mean),
    ("Training loss falls faster", "training loss", |c| &c.train_loss),
];

/// Every verdict: (claim title, [(other activation, sentence)]).
pub fn verdicts(curves: &[Curves]) -> Vec<(String, Vec<(String, String)>)> {
    let acts = activations(curves);
    CLAIMS
        .iter()
        .map(|(title, what, pick)| {
            let elu = runs_of(curves, "elu", *pick);
            let lines = acts
                .iter()
                .filter(|a| *a != "elu")
                .map(|other| {
                    let c = check(&elu, &runs_of(curves, other, *pick));
                    (other.clone(), verdict(what, other, &c))
                })
                .collect();
            (title.to_string(), lines)
        })
        .collect()
}

/// The paper's two panels (and the validation accuracy) as SVG charts, with their file names.
fn figures(curves: &[Curves]) -> Vec<(String, String, String)> {
    let acts = activations(curves);
    let panels: [(&str, &str, &str, Pick); 3] = [
        ("paper-median-unit-mean", "Median unit mean (all 1,024 hidden units)", "median unit mean", |c| {
            &c.median_unit_mean
        }),
        ("paper-train-loss", "Training cross-entropy (inference mode, whole training set)", "cross-entropy", |c| {
            &c.train_loss
        }),
        ("paper-val-accuracy", "Validation accuracy (last 10,000 training images)", "accuracy", |c| &c.val_accuracy),
    ];
    panels
        .iter()
        .map(|(file, title, y, pick)| {
            let series = acts
                .iter()
                .map(|a| Series {
                    name: a.clone(),
                    runs: runs_of(curves, a, *pick)
                        .into_iter()
                        .map(|(seed, v)| Run { label: format!("seed {seed}"), values: v.to_vec() })
                        .collect(),
                    dashed: false,
                })
                .collect();
            let chart = LineChart {
                title: title.to_string(),
                x_label: "epoch (0: before training)".into(),
                y_label: y.to_string(),
                series,
                first_epoch: 0,
            };
            (format!("figures/{file}.svg"), title.to_string(), svg::line_chart(&chart))
        })
        .collect()
}

/// "0.1234 ± 0.0012" over the runs' values at `epoch`.
fn at_epoch(runs: &[(u64, &[f64])], epoch: usize, decimals: usize) -> String {
    let xs: Vec<f64> = runs.iter().filter_map(|(_, v)| v.get(epoch).copied()).filter(|v| v.is_finite()).collect();
    match (stats::mean(&xs), stats::sd(&xs)) {
        (Ok(m), Ok(s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
        (Ok(m), Err(_)) => format!("{m:.decimals$}"),
        _ => "–".into(),
    }
}

/// What is measured, for both documents.
const PROTOCOL: [&str; 7] = [
    "Network: 784 → 8 × 128 → 10 fully connected (the `paper_fc` preset), He normal initialisation, zero biases, no dropout.",
    "Training: SGD, learning rate 0.01, no momentum, batches of 64 (the last batch of an epoch holds the remaining 16 images), reshuffled every epoch; the first 50,000 MNIST training images train, the last 10,000 validate.",
    "Activations: ELU (α = 1), ReLU, LeakyReLU (slope 0.1) and the shifted ReLU max(−1, x) (SReLU); each with the same seeds, so a seed's runs share the shuffling order and the diagnostics sample.",
    "Median unit mean: on a fixed sample of 1,000 training images drawn by the run's seed, each hidden unit's mean activation, then the median over all 1,024 hidden units. Dead fraction: the share of hidden units inactive on every image of the sample (pre-activation ≤ 0; for SReLU, ≤ −1, where its gradient is zero).",
    "Training loss: the cross-entropy of the whole training set in inference mode with the weights at the end of each epoch (not the running average over the epoch's batches).",
    "Epoch 0 is measured before training; epoch k after k epochs. The bands are the 95% t-intervals of the mean over seeds.",
    "Verdicts compare the means over seeds at every epoch from 1 on, and add a paired t-test over seeds of each run's average over those epochs.",
];

/// Writes `curves.csv`, the figures, `PAPER.md` and `PAPER.html` into the sweep directory.
pub fn write(dir: &Path, plan: &SweepPlan, rows: &[TrialRow], provenance: &Provenance) -> Result<()> {
    let curves = curves_of(rows);
    atomic_write(&dir.join("curves.csv"), curves_csv(&curves).as_bytes())?;
    let figures = figures(&curves);
    let fig_dir = dir.join("figures");
    fs::create_dir_all(&fig_dir).map_err(|e| Error::write(&fig_dir, e))?;
    for (file, _, svg) in &figures {
        atomic_write(&dir.join(file), svg.as_bytes())?;
    }
    let verdicts = verdicts(&curves);
    let acts = activations(&curves);
    let last = curves.iter().map(|c| c.train_loss.len()).min().unwrap_or(1).saturating_sub(1);
    let seeds = plan.seeds.len();
    let table_head = [
        "activation".to_string(),
        "runs".to_string(),
        format!("training loss, epoch {last}"),
        format!("validation accuracy, epoch {last}"),
        "median unit mean, epoch 0".to_string(),
        format!("median unit mean, epoch {last}"),
        format!("dead fraction, epoch {last}"),
    ];
    let table: Vec<Vec<String>> = acts
        .iter()
        .map(|a| {
            let n = curves.iter().filter(|c| &c.activation == a).count();
            vec![
                a.clone(),
                n.to_string(),
                at_epoch(&runs_of(&curves, a, |c| &c.train_loss), last, 4),
                at_epoch(&runs_of(&curves, a, |c| &c.val_accuracy), last, 4),
                at_epoch(&runs_of(&curves, a, |c| &c.median_unit_mean), 0, 4),
                at_epoch(&runs_of(&curves, a, |c| &c.median_unit_mean), last, 4),
                at_epoch(&runs_of(&curves, a, |c| &c.dead_fraction), last, 4),
            ]
        })
        .collect();
    let title = format!("The ELU paper's MNIST experiment: {} activations × {seeds} seeds × {last} epochs", acts.len());
    let provenance_lines = [
        format!(
            "elu-lab {}{}",
            provenance.version,
            provenance.commit.as_ref().map_or(String::new(), |c| format!(", commit {c}"))
        ),
        format!("command: `{}`", provenance.command),
        format!("machine: {}", provenance.machine),
        format!("report written: {}", provenance.date),
    ];

    let mut md = format!("# {title}\n\n## What is measured\n\n");
    for p in PROTOCOL {
        let _ = writeln!(md, "- {p}");
    }
    md.push_str("\n## Results\n\nMean ± standard deviation over seeds.\n\n");
    let _ = writeln!(md, "| {} |\n|{}", table_head.join(" | "), "---|".repeat(table_head.len()));
    for row in &table {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md.push_str("\n## Verdicts\n\n");
    for (claim, lines) in &verdicts {
        let _ = writeln!(md, "### {claim}\n");
        for (other, text) in lines {
            let _ = writeln!(md, "- ELU vs {other}: {text}");
        }
        md.push('\n');
    }
    md.push_str("## Figures\n\n");
    for (file, title, _) in &figures {
        let _ = writeln!(md, "![{title}]({file})\n");
    }
    md.push_str("## Provenance\n\n");
    for l in &provenance_lines {
        let _ = writeln!(md, "- {l}");
    }
    md.push_str("\nEvery run's curves: `curves.csv`; per-trial test figures: `results.csv`; the sweep's own report: `REPORT.md`.\n");
    atomic_write(&dir.join("PAPER.md"), md.as_bytes())?;

    let e = svg::escape;
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    let _ = writeln!(h, "<title>{}</title>", e(&title));
    h.push_str("<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}th{background:#f4f4f4}figure{margin:1.5rem 0}svg{max-width:100%;height:auto}</style>\n</head>\n<body>\n");
    let _ = writeln!(h, "<h1>{}</h1>\n<h2>What is measured</h2>\n<ul>", e(&title));
    for p in PROTOCOL {
        let _ = writeln!(h, "<li>{}</li>", e(&p.replace('`', "")));
    }
    h.push_str("</ul>\n<h2>Results</h2>\n<p>Mean ± standard deviation over seeds.</p>\n<table>\n<tr>");
    for head in &table_head {
        let _ = write!(h, "<th>{}</th>", e(head));
    }
    h.push_str("</tr>\n");
    for row in &table {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", e(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<h2>Verdicts</h2>\n");
    for (claim, lines) in &verdicts {
        let _ = writeln!(h, "<h3>{}</h3>\n<ul>", e(claim));
        for (other, text) in lines {
            let _ = writeln!(h, "<li>ELU vs {}: {}</li>", e(other), e(text));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    for (_, title, svg) in &figures {
        let _ = writeln!(h, "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>", e(title));
    }
    h.push_str("<h2>Provenance</h2>\n<ul>\n");
    for l in &provenance_lines {
        let _ = writeln!(h, "<li>{}</li>", e(&l.replace('`', "")));
    }
    h.push_str("</ul>\n</body>\n</html>\n");
    atomic_write(&dir.join("PAPER.html"), h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(values: &[Vec<f64>]) -> Vec<(u64, &[f64])> {
        values.iter().enumerate().map(|(i, v)| (i as u64 + 1, v.as_slice())).collect()
    }

    /// Three seeds of a curve `f(epoch) + noise(seed)` over epochs 0..=4.
    fn curves(f: impl Fn(usize) -> f64) -> Vec<Vec<f64>> {
        (0..3).map(|s| (0..5).map(|e| f(e) + 0.001 * s as f64 * (e % 2) as f64).collect()).collect()
    }

    #[test]
    fn a_claim_that_holds_at_every_epoch_with_a_clear_difference_holds_and_is_supported() {
        let elu = curves(|e| 1.0 / (e + 1) as f64);
        let relu: Vec<Vec<f64>> =
            (0..3).map(|s| (0..5).map(|e| 1.2 / (e + 1) as f64 + 0.01 + 0.003 * s as f64).collect()).collect();
        let c = check(&runs(&elu), &runs(&relu));
        assert_eq!(c.epochs, 4);
        assert!(c.holds() && c.not_lower.is_empty(), "{c:?}");
        assert!(c.significant(), "{c:?}");
        assert_eq!(c.pairs, 3);
        let text = verdict("training loss", "relu", &c);
        assert!(text.starts_with("Holds: ELU's mean training loss is lower than relu's at every epoch 1–4"), "{text}");
        assert!(text.contains("the paired test supports it"), "{text}");
    }

    #[test]
    fn a_claim_that_fails_at_some_epochs_fails_and_names_them() {
        // ELU lower except at epochs 2 and 3 (epoch 0 is not judged, and is higher here).
        let elu = curves(|e| [9.0, 0.5, 0.9, 0.9, 0.3][e]);
        let other = curves(|e| [0.1, 0.6, 0.8, 0.8, 0.4][e]);
        let c = check(&runs(&elu), &runs(&other));
        assert!(!c.holds());
        assert_eq!(c.not_lower, [2, 3]);
        let text = verdict("median unit mean", "srelu", &c);
        assert!(
            text.starts_with(
                "Fails: ELU's mean median unit mean is lower than srelu's at 2 of 4 epochs, not at epoch(s) 2, 3;"
            ),
            "{text}"
        );
    }

    #[test]
    fn equal_curves_fail_and_a_small_difference_holds_without_support() {
        let same = curves(|e| e as f64);
        let c = check(&runs(&same), &runs(&same));
        assert_eq!(c.not_lower, [1, 2, 3, 4], "equal is not lower");
        let text = verdict("training loss", "relu", &c);
        assert!(
            text.starts_with("Fails: ELU's mean training loss is not lower than relu's at any epoch 1–4"),
            "{text}"
        );
        // Lower at every epoch by a hair in the mean, but one seed is higher on average.
        let elu = vec![vec![0.0, 1.0, 1.0], vec![0.0, 0.5, 0.5], vec![0.0, 1.2, 1.2]];
        let other = vec![vec![0.0, 0.9, 0.9], vec![0.0, 0.7, 0.7], vec![0.0, 1.2, 1.2]];
        let c = check(&runs(&elu), &runs(&other));
        assert!(c.holds() && !c.significant(), "{c:?}");
        assert!(verdict("training loss", "relu", &c).contains("does not support it"));
    }

    #[test]
    fn runs_of_different_lengths_are_judged_on_the_epochs_they_share_and_no_epochs_is_undecided() {
        let elu = vec![vec![0.0, 0.1, 0.2, 0.3]];
        let other = vec![vec![0.0, 0.2, 0.3]];
        let c = check(&runs(&elu), &runs(&other));
        assert_eq!(c.epochs, 2);
        assert!(c.holds());
        assert!(c.paired.is_err(), "one seed: no test");
        assert!(verdict("x", "relu", &c).contains("no paired test with 1 shared seed"));
        let c = check(&runs(&[vec![0.0]]), &runs(&[vec![0.0]]));
        assert!(!c.holds());
        assert!(verdict("x", "relu", &c).starts_with("Undecided"));
    }

    #[test]
    fn the_validation_split_holds_out_exactly_the_last_ten_thousand() {
        assert_eq!(crate::data::dataset::split_point(60_000, VALIDATION_SPLIT).unwrap(), 50_000);
        assert_eq!(crate::data::dataset::split_point(6_000, VALIDATION_SPLIT).unwrap(), 5_000);
        let text = format!("{VALIDATION_SPLIT}");
        assert_eq!(text.parse::<f64>().unwrap(), VALIDATION_SPLIT, "the flag's text parses back exactly");
    }
}
