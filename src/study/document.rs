//! `REPORT.md` and `REPORT.html` of a sweep: the article's table with ours beside it, a verdict
//! per comparison, the curves of each configuration with seed bands, a dot plot of the final
//! test accuracies, and provenance. The HTML is one self-contained file (inline SVG, no scripts,
//! no network); the Markdown links the same figures, written as SVG files beside it.

use std::fmt::Write as _;

use super::plan::SweepPlan;
use super::report::{compare_all, groups, pairs, verdict, Group, Metric, TrialRow};
use super::stats;
use super::svg::{self, DotPlot, DotRow, LineChart, Run, Series};
use crate::train::diagnostics::{DiagnosticsRow, ALL_LAYERS};

/// The article's single-run results: (activation, init, long run, test loss, test accuracy).
/// The long runs are 250 epochs with dropout 0.5, the others 25 epochs with dropout 0.25.
pub const ARTICLE: [(&str, &str, bool, f64, f64); 6] = [
    ("relu", "glorot_uniform", false, 0.0308, 0.9915),
    ("elu", "glorot_uniform", false, 0.0492, 0.9906),
    ("relu", "he_normal", false, 0.0305, 0.9918),
    ("elu", "he_normal", false, 0.0293, 0.9922),
    ("relu", "he_normal", true, 0.0430, 0.9924),
    ("elu", "he_normal", true, 0.0862, 0.9909),
];

/// What the report says about where and how it was made.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub version: String,
    pub commit: Option<String>,
    pub command: String,
    pub machine: String,
    pub date: String,
}

/// A figure: its file name (for the Markdown) and its SVG.
pub struct Figure {
    pub file: String,
    pub title: String,
    pub svg: String,
}

/// Everything the two documents show, computed once.
pub struct Document {
    pub title: String,
    pub provenance: Provenance,
    /// (label, settings summary, n, mean ± sd text) per configuration with the article's figures
    /// where it has them: the rows of the main table.
    pub table: Vec<[String; 7]>,
    pub verdicts: Vec<String>,
    pub figures: Vec<Figure>,
    pub trials: (usize, usize, usize),
    pub total_seconds: f64,
}

/// The value of `name` in a configuration, or in the plan's fixed settings.
fn setting<'a>(plan: &'a SweepPlan, g: &'a Group, name: &str) -> Option<&'a str> {
    g.settings.iter().chain(plan.fixed.iter()).find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `0.9912 ± 0.0004 (95% CI 0.9907–0.9917)`, or what is known of it.
fn mean_sd_ci(xs: &[f64], decimals: usize) -> String {
    match stats::summarize(xs, stats::DEFAULT_LEVEL, 2015) {
        Ok(s) => {
            let mut t = format!("{:.decimals$}", s.mean);
            if let Ok(sd) = s.sd {
                let _ = write!(t, " ± {sd:.decimals$}");
            }
            if let Ok(ci) = s.t_interval {
                let _ = write!(t, " (95% CI {:.decimals$}–{:.decimals$})", ci.lo, ci.hi);
            }
            t
        }
        Err(_) => "–".into(),
    }
}

/// Builds the document of a sweep's rows.
pub fn build(plan: &SweepPlan, rows: &[TrialRow], title: &str, provenance: Provenance) -> Document {
    let groups = groups(rows);
    let mut table = Vec::new();
    for g in &groups {
        let act = setting(plan, g, "activation").unwrap_or("");
        let init = setting(plan, g, "init").unwrap_or("");
        let long = setting(plan, g, "dropout") == Some("0.5");
        let article = ARTICLE.iter().find(|(a, i, l, _, _)| *a == act && *i == init && *l == long);
        let epochs = setting(plan, g, "epochs").unwrap_or("25");
        table.push([
            g.label(),
            epochs.to_string(),
            g.rows.len().to_string(),
            article.map_or("–".into(), |(_, _, _, loss, acc)| format!("{loss:.4} / {acc:.4}")),
            mean_sd_ci(&g.values(Metric::TestLoss), 4),
            mean_sd_ci(&g.values(Metric::TestAccuracy), 4),
            mean_sd_ci(&g.values(Metric::TestAccuracyAtBest), 4),
        ]);
    }
    let pairs = pairs(plan, &groups);
    let mut verdicts = Vec::new();
    for metric in [Metric::TestAccuracy, Metric::TestLoss] {
        verdicts.extend(compare_all(&pairs, metric).iter().map(verdict));
    }
    let mut figures = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let runs = |k: usize| -> Vec<Run> {
            g.rows
                .iter()
                .map(|r| Run { label: format!("seed {}", r.trial.seed), values: r.curves[k].clone() })
                .collect()
        };
        for (metric, train, val, y) in
            [("accuracy", 1, 3, "accuracy"), ("loss", 0, 2, "loss (categorical cross-entropy)")]
        {
            let chart = LineChart {
                title: format!("{}: training and validation {metric}", g.label()),
                x_label: "epoch".into(),
                y_label: y.into(),
                series: vec![
                    Series { name: format!("training {metric}"), runs: runs(train), dashed: false },
                    Series { name: format!("validation {metric}"), runs: runs(val), dashed: true },
                ],
                first_epoch: 1,
            };
            figures.push(Figure {
                file: format!("figures/{metric}-{}.svg", i + 1),
                title: chart.title.clone(),
                svg: svg::line_chart(&chart),
            });
        }
    }
    for (i, g) in groups.iter().enumerate() {
        figures.extend(diagnostics_figures(g, i + 1));
    }
    let dots = DotPlot {
        title: "Final test accuracy of every run".into(),
        x_label: "test accuracy".into(),
        rows: groups
            .iter()
            .map(|g| DotRow {
                label: g.label(),
                values: g.values(Metric::TestAccuracy),
                run_labels: g.rows.iter().map(|r| format!("seed {}", r.trial.seed)).collect(),
            })
            .collect(),
    };
    figures.push(Figure {
        file: "figures/test-accuracy.svg".into(),
        title: dots.title.clone(),
        svg: svg::dot_plot(&dots),
    });
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    Document {
        title: title.to_string(),
        provenance,
        table,
        verdicts,
        figures,
        trials: (count("done"), count("failed"), rows.len()),
        total_seconds: rows.iter().map(|r| r.wall_seconds).filter(|s| s.is_finite()).sum(),
    }
}

/// The diagnostics of a configuration aggregated over its seeds: the median unit mean and the
/// dead fraction of each activation layer (and of all pooled) per epoch, mean and band; none
/// when its runs recorded no diagnostics.
fn diagnostics_figures(g: &Group, index: usize) -> Vec<Figure> {
    let mut layers: Vec<&str> = Vec::new();
    for r in &g.rows {
        for d in r.diagnostics.iter().filter(|d| d.units > 0) {
            if !layers.contains(&d.layer.as_str()) {
                layers.push(&d.layer);
            }
        }
    }
    if layers.is_empty() {
        return Vec::new();
    }
    type Pick = fn(&DiagnosticsRow) -> f64;
    let quantities: [(&str, &str, Pick); 2] = [
        ("median-unit-mean", "median unit mean", |d| d.median_unit_mean),
        ("dead-fraction", "dead fraction", |d| d.dead_fraction),
    ];
    quantities
        .iter()
        .map(|(file, what, pick)| {
            let series = layers
                .iter()
                .map(|layer| Series {
                    name: layer.to_string(),
                    runs: g
                        .rows
                        .iter()
                        .map(|r| {
                            let epochs = r.diagnostics.iter().map(|d| d.epoch + 1).max().unwrap_or(0);
                            let mut values = vec![f64::NAN; epochs];
                            for d in r.diagnostics.iter().filter(|d| d.layer == *layer) {
                                values[d.epoch] = pick(d);
                            }
                            Run { label: format!("seed {}", r.trial.seed), values }
                        })
                        .collect(),
                    dashed: *layer == ALL_LAYERS,
                })
                .collect();
            let chart = LineChart {
                title: format!("{}: {what} per activation layer", g.label()),
                x_label: "epoch (0: before training)".into(),
                y_label: what.to_string(),
                series,
                first_epoch: 0,
            };
            Figure {
                file: format!("figures/{file}-{index}.svg"),
                title: chart.title.clone(),
                svg: svg::line_chart(&chart),
            }
        })
        .collect()
}

const HEADERS: [&str; 7] = [
    "configuration",
    "epochs",
    "runs",
    "article: test loss / accuracy (one run)",
    "ours: test loss",
    "ours: test accuracy",
    "ours: test accuracy at the best validation epoch",
];

impl Document {
    fn provenance_lines(&self) -> Vec<String> {
        let p = &self.provenance;
        let (done, failed, total) = self.trials;
        vec![
            format!("elu-lab {}{}", p.version, p.commit.as_ref().map_or(String::new(), |c| format!(", commit {c}"))),
            format!("command: `{}`", p.command),
            format!("machine: {}", p.machine),
            format!("report written: {}", p.date),
            format!(
                "trials: {done} finished, {failed} failed, of {total}; {:.0} s of training in all ({:.1} h)",
                self.total_seconds,
                self.total_seconds / 3600.0
            ),
        ]
    }

    /// The Markdown report (figures are linked SVG files under `figures/`).
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n", self.title);
        md.push_str("Mean ± standard deviation over seeds, with the 95% t-interval of the mean. The article's figures are single runs.\n\n");
        md.push_str(&format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len())));
        for row in &self.table {
            md.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        md.push_str("\n## Verdicts\n\nEach line: the difference of means (A − B) with its Welch 95% interval, Welch's p and the Holm-adjusted p over the metric's comparisons; below 0.05 after adjustment counts as a difference.\n\n");
        for v in &self.verdicts {
            md.push_str(&format!("- {v}\n"));
        }
        md.push_str("\n## Figures\n\n");
        for f in &self.figures {
            md.push_str(&format!("![{}]({})\n\n", f.title, f.file));
        }
        md.push_str("## Provenance\n\n");
        for l in self.provenance_lines() {
            md.push_str(&format!("- {l}\n"));
        }
        md.push_str("\nPer-trial figures: `results.csv`; per configuration: `summary.csv`; comparisons with every statistic: `comparisons.csv`.\n");
        md
    }

    /// The HTML report: one self-contained file with the figures inline.
    pub fn html(&self) -> String {
        let e = svg::escape;
        let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        let _ = writeln!(h, "<title>{}</title>", e(&self.title));
        h.push_str("<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}th{background:#f4f4f4}figure{margin:1.5rem 0}svg{max-width:100%;height:auto}</style>\n</head>\n<body>\n");
        let _ = writeln!(h, "<h1>{}</h1>", e(&self.title));
        h.push_str("<p>Mean ± standard deviation over seeds, with the 95% t-interval of the mean. The article's figures are single runs.</p>\n<table>\n<tr>");
        for head in HEADERS {
            let _ = write!(h, "<th>{}</th>", e(head));
        }
        h.push_str("</tr>\n");
        for row in &self.table {
            h.push_str("<tr>");
            for cell in row {
                let _ = write!(h, "<td>{}</td>", e(cell));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n<h2>Verdicts</h2>\n<p>Each line: the difference of means (A − B) with its Welch 95% interval, Welch's p and the Holm-adjusted p over the metric's comparisons; below 0.05 after adjustment counts as a difference.</p>\n<ul>\n");
        for v in &self.verdicts {
            let _ = writeln!(h, "<li>{}</li>", e(v));
        }
        h.push_str("</ul>\n<h2>Figures</h2>\n");
        for f in &self.figures {
            let _ = writeln!(h, "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>", f.svg, e(&f.title));
        }
        h.push_str("<h2>Provenance</h2>\n<ul>\n");
        for l in self.provenance_lines() {
            let _ = writeln!(h, "<li>{}</li>", e(&l.replace('`', "")));
        }
        h.push_str("</ul>\n</body>\n</html>\n");
        h
    }
}
