//! Self-contained SVG charts for the HTML report: seed bands per epoch and dot plots.
//!
//! The output is a standalone `<svg>` element (no scripts, no CSS, no external fonts or links),
//! so it can be inlined into one HTML file that reads without a network or JavaScript. Every
//! point carries an SVG `<title>`, which browsers show on hover. Styling is done with
//! attributes only, so several charts inlined in one page cannot interfere. Non-finite values
//! are skipped; empty inputs give an empty frame with a "no data" note, never invalid SVG.

use crate::study::stats;

/// Colours of the series, in order: Okabe & Ito's palette (readable with colour blindness), its
/// pale yellow replaced by olive for contrast on white.
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"];

/// Approximate width of one character of the 12 px sans-serif labels, for layout.
const CHAR_W: f64 = 7.0;

/// One run of a series: its values per epoch (epoch 1 first) and a label shown on hover.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub label: String,
    pub values: Vec<f64>,
}

/// One series of a line chart: a configuration's runs of one metric (e.g. "ELU, He:
/// validation accuracy"), drawn as faint run lines, a mean line and a shaded 95% t-band.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub runs: Vec<Run>,
    /// Dashed mean line (e.g. for the validation curve beside the training curve).
    pub dashed: bool,
}

/// A line chart of metrics per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// The epoch of each run's first value: 1 for per-epoch metrics, 0 for curves that start
    /// with a measurement before training.
    pub first_epoch: usize,
}

/// One row of a dot plot: a configuration and one value per run.
#[derive(Clone, Debug, PartialEq)]
pub struct DotRow {
    pub label: String,
    pub values: Vec<f64>,
    /// Hover labels of the runs, in the order of `values` (e.g. "seed 3"); may be empty.
    pub run_labels: Vec<String>,
}

/// A dot plot: one row per configuration, each run a dot, the mean with its 95% t-interval.
#[derive(Clone, Debug, PartialEq)]
pub struct DotPlot {
    pub title: String,
    pub x_label: String,
    pub rows: Vec<DotRow>,
}

/// `text` with the five XML special characters escaped, safe in text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `x` to 6 significant digits for hover text ("0.991230" → "0.99123").
fn value(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let decimals = if x == 0.0 { 0 } else { (5.0 - x.abs().log10().floor()).clamp(0.0, 15.0) as usize };
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// About `target` round tick values (1, 2 or 5 times a power of ten, at least `min_step` apart)
/// inside `[lo, hi]`, with the number of decimals their labels need.
fn ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> (Vec<f64>, usize) {
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let step = step.max(min_step);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), decimals)
}

/// `[lo, hi]` of the finite values, widened so that it is never empty or zero-width.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.01 };
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// The plot area on the canvas and the data range it shows.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * self.width
    }

    fn py(&self, y: f64) -> f64 {
        self.top + self.height - (y - self.y.0) / (self.y.1 - self.y.0) * self.height
    }

    /// Axes, grid lines, tick labels and axis labels; `y_ticks` false leaves the y axis
    /// unlabelled (the dot plot labels its rows instead).
    fn axes(&self, out: &mut String, x_label: &str, y_label: &str, x_integer: bool, y_ticks: bool) {
        let (bottom, right) = (self.top + self.height, self.left + self.width);
        let (xt, xd) = ticks(self.x.0, self.x.1, 6, if x_integer { 1.0 } else { 0.0 });
        for t in &xt {
            let x = self.px(*t);
            out.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#e5e5e5\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.xd$}</text>\n",
                self.top,
                bottom + 16.0
            ));
        }
        if y_ticks {
            let (yt, yd) = ticks(self.y.0, self.y.1, 5, 0.0);
            for t in &yt {
                let y = self.py(*t);
                out.push_str(&format!(
                    "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t:.yd$}</text>\n",
                    self.left,
                    self.left - 6.0,
                    y + 4.0
                ));
            }
        }
        out.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444\"/>\n",
            self.left, self.top, self.width, self.height
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            self.left + self.width / 2.0,
            bottom + 36.0,
            escape(x_label)
        ));
        if !y_label.is_empty() {
            let (x, y) = (14.0, self.top + self.height / 2.0);
            out.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>\n",
                escape(y_label)
            ));
        }
    }

    /// A "no data" note centred in the plot area at height `y` (the middle when `None`).
    fn no_data(&self, out: &mut String, y: Option<f64>) {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n",
            self.left + self.width / 2.0,
            y.unwrap_or(self.top + self.height / 2.0) + 4.0
        ));
    }
}

/// The opening of an SVG document of the given size, with its title for screen readers.
fn open_svg(out: &mut String, width: f64, height: f64, title: &str) {
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        escape(title),
        width / 2.0,
        escape(title)
    ));
}

/// An SVG path through the points, broken where a point is missing.
fn broken_path(points: &[Option<(f64, f64)>]) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for p in points {
        match p {
            Some((x, y)) => {
                d.push_str(&format!("{}{x:.1} {y:.1} ", if pen_down { "L" } else { "M" }));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_string()
}

/// Per-epoch statistics of one series: finite values, mean and 95% t-interval at each epoch.
struct EpochStats {
    n: Vec<usize>,
    mean: Vec<Option<f64>>,
    band: Vec<Option<stats::Interval>>,
}

fn epoch_stats(series: &Series) -> EpochStats {
    let epochs = series.runs.iter().map(|r| r.values.len()).max().unwrap_or(0);
    let mut s = EpochStats { n: Vec::new(), mean: Vec::new(), band: Vec::new() };
    for e in 0..epochs {
        let vals: Vec<f64> =
            series.runs.iter().filter_map(|r| r.values.get(e).copied()).filter(|v| v.is_finite()).collect();
        s.n.push(vals.len());
        s.mean.push(stats::mean(&vals).ok());
        s.band.push(stats::t_interval(&vals, stats::DEFAULT_LEVEL).ok());
    }
    s
}

/// A line chart of per-epoch metrics: for each series its runs as faint lines, the mean across
/// runs as a solid (or dashed) line with a dot per epoch, and the 95% t-interval of the mean
/// as a shaded band (where at least 2 runs have a finite value), with a legend on the right.
/// Hovering a dot shows the epoch, mean, interval and run count; hovering a run line, its label.
pub fn line_chart(chart: &LineChart) -> String {
    let all = chart.series.iter().map(epoch_stats).collect::<Vec<_>>();
    let epochs = all.iter().map(|s| s.mean.len()).max().unwrap_or(0);
    let values = chart.series.iter().flat_map(|s| s.runs.iter().flat_map(|r| r.values.iter().copied()));
    let bands = all.iter().flat_map(|s| s.band.iter().flatten().flat_map(|b| [b.lo, b.hi]));
    let y = range(values.chain(bands));
    let legend_w = chart.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64 * CHAR_W + 40.0;
    let (width, height) = (560.0 + legend_w, 380.0);
    let first = chart.first_epoch;
    let x = (first as f64 - 0.5, (first + epochs.max(1)) as f64 - 0.5);
    let frame = Frame { left: 70.0, top: 34.0, width: 460.0, height: 290.0, x, y };

    let mut out = String::new();
    open_svg(&mut out, width, height, &chart.title);
    frame.axes(&mut out, &chart.x_label, &chart.y_label, true, true);
    if epochs == 0 {
        frame.no_data(&mut out, None);
    }
    for (k, (series, st)) in chart.series.iter().zip(&all).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let name = escape(&series.name);
        out.push_str(&format!("<g>\n<title>{name}</title>\n"));
        // The band: one closed shape per stretch of epochs where the interval exists.
        let mut e = 0;
        while e < st.band.len() {
            if st.band[e].is_none() {
                e += 1;
                continue;
            }
            let start = e;
            while e < st.band.len() && st.band[e].is_some() {
                e += 1;
            }
            let band: Vec<stats::Interval> = st.band[start..e].iter().flatten().copied().collect();
            let upper =
                band.iter().enumerate().map(|(i, b)| Some((frame.px((start + i + first) as f64), frame.py(b.hi))));
            let lower =
                band.iter().enumerate().rev().map(|(i, b)| (frame.px((start + i + first) as f64), frame.py(b.lo)));
            let mut d = broken_path(&upper.collect::<Vec<_>>());
            for (x, y) in lower {
                d.push_str(&format!(" L{x:.1} {y:.1}"));
            }
            out.push_str(&format!("<path d=\"{d} Z\" fill=\"{colour}\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"));
        }
        for run in &series.runs {
            let points: Vec<Option<(f64, f64)>> = run
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| v.is_finite().then(|| (frame.px((i + first) as f64), frame.py(*v))))
                .collect();
            out.push_str(&format!(
                "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-opacity=\"0.3\" stroke-width=\"1\"><title>{name}: {}</title></path>\n",
                broken_path(&points),
                escape(&run.label)
            ));
        }
        let mean: Vec<Option<(f64, f64)>> =
            st.mean.iter().enumerate().map(|(i, m)| m.map(|m| (frame.px((i + first) as f64), frame.py(m)))).collect();
        let dash = if series.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        out.push_str(&format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n",
            broken_path(&mean)
        ));
        for (i, point) in mean.iter().enumerate() {
            let (Some((x, y)), Some(m)) = (point, st.mean[i]) else { continue };
            let ci = match st.band[i] {
                Some(b) => format!(", 95% CI {} to {}", value(b.lo), value(b.hi)),
                None => String::new(),
            };
            let runs = if st.n[i] == 1 { "1 run".to_string() } else { format!("{} runs", st.n[i]) };
            out.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"><title>{name}, epoch {}: mean {}{ci} ({runs})</title></circle>\n",
                i + first,
                value(m)
            ));
        }
        out.push_str("</g>\n");
        // Legend entry: a line in the series' style and its name.
        let (lx, ly) = (frame.left + frame.width + 20.0, frame.top + 10.0 + 20.0 * k as f64);
        out.push_str(&format!(
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// A dot plot: one row per configuration, each run's value a dot (with its label and value on
/// hover), and the mean with its 95% t-interval drawn as a bar with a tick. A row with no
/// finite value is labelled "no data"; one with a single run has no interval.
pub fn dot_plot(plot: &DotPlot) -> String {
    let label_w = plot.rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(0) as f64 * CHAR_W + 20.0;
    let finite = |r: &DotRow| r.values.iter().copied().filter(|v| v.is_finite()).collect::<Vec<f64>>();
    let intervals: Vec<Option<stats::Interval>> =
        plot.rows.iter().map(|r| stats::t_interval(&finite(r), stats::DEFAULT_LEVEL).ok()).collect();
    let values = plot.rows.iter().flat_map(|r| r.values.iter().copied());
    let x = range(values.chain(intervals.iter().flatten().flat_map(|b| [b.lo, b.hi])));
    let row_h = 28.0;
    let rows = plot.rows.len().max(1) as f64;
    let frame = Frame { left: label_w.max(60.0), top: 34.0, width: 460.0, height: rows * row_h, x, y: (0.0, rows) };
    let (width, height) = (frame.left + frame.width + 30.0, frame.top + frame.height + 50.0);

    let mut out = String::new();
    open_svg(&mut out, width, height, &plot.title);
    frame.axes(&mut out, &plot.x_label, "", false, false);
    if plot.rows.is_empty() {
        frame.no_data(&mut out, None);
    }
    for (k, (row, ci)) in plot.rows.iter().zip(&intervals).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let name = escape(&row.label);
        let cy = frame.top + (k as f64 + 0.5) * row_h;
        out.push_str(&format!(
            "<g>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{name}</text>\n",
            frame.left - 8.0,
            cy + 4.0
        ));
        let vals = finite(row);
        match stats::mean(&vals) {
            Err(_) => frame.no_data(&mut out, Some(cy)),
            Ok(m) => {
                let ci_text = match ci {
                    Some(b) => {
                        out.push_str(&format!(
                            "<line x1=\"{:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
                            frame.px(b.lo),
                            frame.px(b.hi)
                        ));
                        format!(", 95% CI {} to {}", value(b.lo), value(b.hi))
                    }
                    None => String::new(),
                };
                let n = vals.len();
                out.push_str(&format!(
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"3\">\
                     <title>{name}: mean {}{ci_text} ({n} run{})</title></line>\n",
                    cy - 9.0,
                    cy + 9.0,
                    value(m),
                    if n == 1 { "" } else { "s" },
                    x = frame.px(m)
                ));
            }
        }
        for (i, v) in row.values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            // Alternate runs slightly above and below the row line so that equal values stay visible.
            let dy = [-4.0, 4.0, 0.0][i % 3];
            let label = row.run_labels.get(i).map(|l| format!(" {}", escape(l))).unwrap_or_default();
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\" fill-opacity=\"0.55\"><title>{name}{label}: {}</title></circle>\n",
                frame.px(*v),
                cy + dy,
                value(*v)
            ));
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"))
    }

    fn count(doc: &roxmltree::Document, tag: &str) -> usize {
        doc.descendants().filter(|n| n.has_tag_name(tag)).count()
    }

    fn titles(doc: &roxmltree::Document) -> Vec<String> {
        doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).map(String::from).collect()
    }

    fn run(label: &str, values: &[f64]) -> Run {
        Run { label: label.into(), values: values.to_vec() }
    }

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "Accuracy <train & validation>".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series,
            first_epoch: 1,
        }
    }

    #[test]
    fn line_chart_draws_runs_means_bands_and_hover_titles() {
        let elu = Series {
            name: "ELU, He: validation".into(),
            runs: (0..3).map(|s| run(&format!("seed {s}"), &[0.97 + 0.001 * s as f64, 0.98, 0.985, 0.99])).collect(),
            dashed: true,
        };
        let relu = Series {
            name: "ReLU \"He\"".into(),
            runs: vec![run("seed 0", &[0.96, 0.975, 0.98, 0.988]), run("seed 1", &[0.962, 0.976, 0.981, 0.987])],
            dashed: false,
        };
        let svg = line_chart(&chart(vec![elu, relu]));
        let doc = parse(&svg);
        // 5 runs + 2 means + 2 bands.
        assert_eq!(count(&doc, "path"), 9);
        assert_eq!(count(&doc, "circle"), 8, "one dot per epoch per series");
        let t = titles(&doc);
        assert_eq!(t[0], "Accuracy <train & validation>", "the escaped title survives the round trip");
        assert!(t
            .iter()
            .any(|t| t.starts_with("ELU, He: validation, epoch 2: mean 0.98, 95% CI") && t.ends_with("(3 runs)")));
        assert!(t.iter().any(|t| t == "ReLU \"He\": seed 1"));
        assert!(svg.contains("stroke-dasharray"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn line_chart_survives_nan_ragged_and_empty_input() {
        let ragged = Series {
            name: "diverged".into(),
            runs: vec![run("a", &[0.5, f64::NAN, 0.7, f64::INFINITY]), run("b", &[0.4, 0.6])],
            dashed: false,
        };
        let svg = line_chart(&chart(vec![ragged]));
        let doc = parse(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Epochs 1-3 have a mean, epoch 4 has none; the band exists at epochs 1 and 2 only.
        assert_eq!(count(&doc, "circle"), 3);
        assert!(titles(&doc).iter().any(|t| t == "diverged, epoch 3: mean 0.7 (1 run)"));

        for series in [vec![], vec![Series { name: "none".into(), runs: vec![], dashed: false }]] {
            let svg = line_chart(&chart(series));
            let doc = parse(&svg);
            assert!(svg.contains("no data"));
            assert_eq!(count(&doc, "circle"), 0);
        }
        let all_nan = Series { name: "nan".into(), runs: vec![run("a", &[f64::NAN; 3])], dashed: false };
        let svg = line_chart(&chart(vec![all_nan]));
        parse(&svg);
        assert!(!svg.contains("NaN"), "{svg}");
    }

    #[test]
    fn dot_plot_has_a_dot_per_run_and_a_mean_per_row() {
        let plot = DotPlot {
            title: "Final test accuracy".into(),
            x_label: "test accuracy".into(),
            rows: vec![
                DotRow {
                    label: "ELU, He".into(),
                    values: vec![0.9912, 0.9908, 0.9915, 0.9910, 0.9917],
                    run_labels: (1..=5).map(|s| format!("seed {s}")).collect(),
                },
                DotRow { label: "ReLU & <Glorot>".into(), values: vec![0.9905, f64::NAN], run_labels: vec![] },
                DotRow { label: "empty".into(), values: vec![], run_labels: vec![] },
            ],
        };
        let svg = dot_plot(&plot);
        let doc = parse(&svg);
        assert_eq!(count(&doc, "circle"), 6, "the NaN run is not drawn");
        let t = titles(&doc);
        assert!(t.iter().any(|t| t == "ELU, He seed 3: 0.9915"));
        assert!(t.iter().any(|t| t.starts_with("ELU, He: mean 0.99124, 95% CI ") && t.ends_with("(5 runs)")));
        assert!(t.iter().any(|t| t == "ReLU & <Glorot>: mean 0.9905 (1 run)"));
        assert!(svg.contains("no data"));
        assert!(!svg.contains("NaN"));
        let empty = dot_plot(&DotPlot { title: "t".into(), x_label: "x".into(), rows: vec![] });
        parse(&empty);
    }

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        let (t, d) = ticks(0.9853, 0.9931, 5, 0.0);
        assert_eq!(d, 3);
        assert!(t.len() >= 3 && t.iter().all(|v| (0.9853..=0.9931).contains(v)));
        assert_eq!(ticks(0.5, 1.5, 6, 1.0), (vec![1.0], 0), "one epoch: one integer tick");
        assert_eq!(ticks(0.5, 25.5, 6, 1.0), (vec![5.0, 10.0, 15.0, 20.0, 25.0], 0));
        assert_eq!(value(0.99123), "0.99123");
        assert_eq!(value(0.0312345678), "0.0312346");
        assert_eq!(value(1234.5), "1234.5");
        assert_eq!(escape("a<b & 'c' \"d\">"), "a&lt;b &amp; &apos;c&apos; &quot;d&quot;&gt;");
    }
}
