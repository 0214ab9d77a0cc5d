//! PNG charts of learning curves (one run's training and validation metrics, or one metric
//! of several runs), drawn with plotters and the font bundled in `epaint_default_fonts`.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::files::{sync_file, sync_parent_dir, TempFile};
use crate::error::{Error, Result};
use crate::train::history::History;

/// Name of the accuracy chart inside a run directory.
pub const ACCURACY_PNG: &str = "accuracy.png";
/// Name of the loss chart inside a run directory.
pub const LOSS_PNG: &str = "loss.png";

/// Chart size in pixels.
const SIZE: (u32, u32) = (900, 600);
/// The font family the bundled font is registered under.
pub(crate) const FONT: &str = "elu-lab-sans";
const TITLE_PT: u32 = 28;
const AXIS_DESC_PT: u32 = 20;
const TICK_PT: u32 = 17;
const LEGEND_PT: u32 = 18;
/// Up to this many epochs every value is marked with a dot.
const MARK_POINTS_UP_TO: usize = 40;
const MARKER_RADIUS: u32 = 4;
/// Width (pixels) of the line sample in front of each legend entry.
const LEGEND_SAMPLE: u32 = 36;
const LEGEND_MARGIN: u32 = 10;
/// Space between a legend entry's line sample and its text.
const LEGEND_GAP: u32 = 8;

/// Matplotlib's "tab10" colours, the ones the article's Keras plots use.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const GRID: RGBColor = RGBColor(225, 225, 225);
const AXIS: RGBColor = RGBColor(90, 90, 90);

/// Drawing failures, as the message plotters gives.
pub(crate) type DrawResult = std::result::Result<(), String>;

/// Turns a plotters error into its message.
fn msg(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws a line chart of `series` (name, one value per epoch) to the PNG file `path`.
///
/// The x axis counts epochs from 1; NaN values leave gaps and a series without any finite
/// value is left out. The y range spans the finite values with a small margin, the legend
/// goes to the corner where it hides the least of the curves, and every value is marked
/// with a dot when there are few epochs. The file is written atomically (rendered to a
/// hidden `.NAME….tmp.png` next to it, then renamed); failures are [`Error::Write`].
pub fn plot_curves(path: &Path, title: &str, y_label: &str, series: &[(&str, &[f64])]) -> Result<()> {
    write_png(path, |tmp| draw(tmp, title, y_label, series))
}

/// Writes the PNG that `render` draws into the temporary path it is given, atomically: the
/// font is checked first, the picture is rendered to a hidden `.NAME….tmp.png` next to `path`,
/// synced and renamed into place; failures are [`Error::Write`] naming `path`. `render` must
/// drop its backend before it returns, so the temporary file is complete (or abandoned) before
/// it is renamed (or, when it fails, removed).
pub(crate) fn write_png(path: &Path, render: impl FnOnce(&Path) -> DrawResult) -> Result<()> {
    ensure_font().map_err(|msg| Error::write(path, io::Error::other(msg)))?;
    let tmp = TempFile::next_to(path, "tmp.png").map_err(|e| Error::write(path, e))?;
    render(tmp.path())
        .map_err(io::Error::other)
        .and_then(|()| sync_file(tmp.path()))
        .and_then(|()| tmp.persist(path))
        .map_err(|e| Error::write(path, e))?;
    sync_parent_dir(path);
    Ok(())
}

/// Overlays the same metric of several runs (e.g. ELU vs ReLU validation accuracy): each run
/// is a `(name, values per epoch)` pair; runs may have different lengths.
/// Drawn as [`plot_curves`] draws.
pub fn plot_comparison(path: &Path, title: &str, y_label: &str, runs: &[(String, Vec<f64>)]) -> Result<()> {
    let series: Vec<(&str, &[f64])> = runs.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    plot_curves(path, title, y_label, &series)
}

/// Writes `accuracy.png` ("Training and validation accuracy") and `loss.png` ("Training and
/// validation loss") of a run into `dir` (created if missing). When the run had no validation
/// split (validation values all NaN) the validation curves are left out and the titles say
/// "Training accuracy" and "Training loss".
pub fn write_plots(dir: &Path, h: &History) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let validated = h.val_loss.iter().chain(&h.val_accuracy).any(|v| !v.is_nan());
    let charts = [
        (ACCURACY_PNG, "accuracy", "Accuracy", &h.accuracy, &h.val_accuracy),
        (LOSS_PNG, "loss", "Loss (categorical cross-entropy)", &h.loss, &h.val_loss),
    ];
    for (file, metric, y_label, train, val) in charts {
        let train_name = format!("Training {metric}");
        let val_name = format!("Validation {metric}");
        let mut series = vec![(train_name.as_str(), train.as_slice())];
        let title = if validated {
            series.push((val_name.as_str(), val.as_slice()));
            format!("Training and validation {metric}")
        } else {
            train_name.clone()
        };
        plot_curves(&dir.join(file), &title, y_label, &series)?;
    }
    Ok(())
}

/// Registers the bundled font with plotters once per process.
pub(crate) fn ensure_font() -> std::result::Result<(), &'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let font = epaint_default_fonts::UBUNTU_LIGHT;
        // "sans-serif" is plotters' default family; registering it too keeps any text drawn
        // without an explicit family legible.
        register_font(FONT, FontStyle::Normal, font).is_ok()
            && register_font("sans-serif", FontStyle::Normal, font).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("cannot load the bundled chart font (epaint_default_fonts::UBUNTU_LIGHT)")
    }
}

/// A series ready to draw: legend name, colour and its runs of finite points.
struct Curve<'a> {
    name: &'a str,
    color: RGBColor,
    segments: Vec<Vec<(f64, f64)>>,
}

/// Renders the chart into the PNG file `tmp` (plotters picks the encoder by its extension).
fn draw(tmp: &Path, title: &str, y_label: &str, series: &[(&str, &[f64])]) -> DrawResult {
    let epochs = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0).max(1);
    let x = x_axis(epochs);
    let y = y_axis(series.iter().flat_map(|(_, v)| v.iter().copied()));
    let decimals = y.decimals;
    let marked = epochs <= MARK_POINTS_UP_TO;
    let curves: Vec<Curve> = series
        .iter()
        .enumerate()
        .map(|(i, (name, values))| Curve { name, color: PALETTE[i % PALETTE.len()], segments: finite_segments(values) })
        .filter(|c| !c.segments.is_empty())
        .collect();

    let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(msg)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, TITLE_PT))
        .margin_top(12)
        .margin_left(16)
        .margin_right(32)
        .margin_bottom(12)
        .x_label_area_size(60)
        .y_label_area_size(86)
        .build_cartesian_2d(x, y)
        .map_err(msg)?;
    let x_fmt = |v: &f64| format!("{v:.0}");
    let y_fmt = move |v: &f64| format!("{v:.decimals$}");
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc(y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, TICK_PT).into_font().color(&BLACK))
        .axis_desc_style((FONT, AXIS_DESC_PT).into_font().color(&BLACK))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .draw()
        .map_err(msg)?;

    for curve in &curves {
        let color = curve.color;
        let line = color.stroke_width(2);
        for (k, segment) in curve.segments.iter().enumerate() {
            let anno = chart.draw_series(LineSeries::new(segment.iter().copied(), line)).map_err(msg)?;
            if k == 0 {
                // The legend entry: a line sample, with a dot when points are marked;
                // `at` is its left end, vertically centred.
                let radius = if marked { MARKER_RADIUS } else { 0 };
                let w = LEGEND_SAMPLE as i32;
                anno.label(curve.name).legend(move |at| {
                    EmptyElement::at(at)
                        + PathElement::new(vec![(0, 0), (w, 0)], line)
                        + Circle::new((w / 2, 0), radius, color.filled())
                });
            }
            if marked || segment.len() == 1 {
                chart
                    .draw_series(segment.iter().map(|&p| Circle::new(p, MARKER_RADIUS, color.filled())))
                    .map_err(msg)?;
            }
        }
    }

    if !curves.is_empty() {
        let font: TextStyle = (FONT, LEGEND_PT).into_font().color(&BLACK);
        let mut text = MultiLineText::<(i32, i32), &str>::new((0, 0), &font);
        for curve in &curves {
            text.push_line(curve.name);
        }
        let (text_w, text_h) = text.estimate_dimension().map_err(msg)?;
        let margin = LEGEND_MARGIN as i32;
        let legend = (text_w + (LEGEND_SAMPLE + LEGEND_GAP) as i32 + 2 * margin, text_h + 2 * margin);
        let area = chart.plotting_area().dim_in_pixel();
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let pixels: Vec<Vec<(i32, i32)>> = curves
            .iter()
            .flat_map(|c| &c.segments)
            .map(|segment| {
                segment
                    .iter()
                    .map(|p| {
                        let (px, py) = chart.backend_coord(p);
                        (px - xs.start, py - ys.start)
                    })
                    .collect()
            })
            .collect();
        chart
            .configure_series_labels()
            .position(legend_position(&pixels, area, legend))
            .legend_area_size(LEGEND_SAMPLE + LEGEND_GAP)
            .margin(LEGEND_MARGIN)
            .label_font(font)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(190, 190, 190))
            .draw()
            .map_err(msg)?;
    }
    root.present().map_err(msg)?;
    Ok(())
}

/// The runs of consecutive finite values as `(epoch, value)` points, epochs counted from 1.
fn finite_segments(values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() {
            current.push(((i + 1) as f64, v));
        } else if !current.is_empty() {
            segments.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// One linear axis with its own tick positions (plotters' `WithKeyPoints` loses the label
/// formatter of `f64` ranges) and the decimals its tick labels need.
#[derive(Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    decimals: usize,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let t = if span > 0.0 { (value - self.lo) / span } else { 0.5 };
        // `as` saturates (NaN becomes 0): an odd value cannot panic here.
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines and labels at the ticks only; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Epoch axis for `epochs` epochs: integer ticks at 1 and at round steps (at most about
/// ten labels), with a little room left of the first and right of the last epoch.
fn x_axis(epochs: usize) -> Axis {
    let n = epochs.max(1);
    let pad = if n == 1 { 0.5 } else { 0.03 * (n - 1) as f64 };
    let step =
        (0..).flat_map(|k: u32| [1, 2, 5].map(|m| m * 10usize.saturating_pow(k))).find(|&s| n / s <= 10).unwrap_or(n);
    let mut ticks: Vec<f64> = (1..=n / step).map(|k| (k * step) as f64).collect();
    // Epoch 1 gets its own tick unless the first round tick is too close to it.
    if ticks.first().is_none_or(|&t| t - 1.0 > step as f64 / 2.0) {
        ticks.insert(0, 1.0);
    }
    Axis { lo: 1.0 - pad, hi: n as f64 + pad, ticks, decimals: 0 }
}

/// Value axis spanning the finite `values` with a margin of 6% of their span (5% of their
/// size, at least 0.05, when they are all equal); ticks at a round step, about 6 of them.
fn y_axis(values: impl Iterator<Item = f64>) -> Axis {
    let (min, max) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if min > max {
        (0.0, 1.0)
    } else if max - min <= 1e-9 * max.abs().max(min.abs()) {
        let m = (max.abs() * 0.05).max(0.05);
        (min - m, max + m)
    } else {
        let m = (max - min) * 0.06;
        (min - m, max + m)
    };
    let (step, decimals) = tick_step(lo, hi);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    Axis { lo, hi, ticks, decimals }
}

/// The round step (1, 2, 2.5 or 5 times a power of ten) that puts closest to 6 ticks into
/// `lo..=hi` (the larger step on a tie), and the decimals its multiples need.
fn tick_step(lo: f64, hi: f64) -> (f64, usize) {
    let exp = ((hi - lo) / 6.0).log10().floor() as i32;
    let count = |step: f64| ((hi / step).floor() - (lo / step).ceil() + 1.0).max(0.0);
    let mut best = (f64::INFINITY, 1.0, 0);
    for e in (exp - 1..=exp + 1).rev() {
        for (mult, extra) in [(5.0, 0), (2.5, 1), (2.0, 0), (1.0, 0)] {
            let step = mult * 10f64.powi(e);
            let miss = (count(step) - 6.0).abs();
            if miss < best.0 {
                let decimals = if e <= 0 { e.unsigned_abs() as usize + extra } else { 0 };
                best = (miss, step, decimals);
            }
        }
    }
    (best.1, best.2)
}

/// Where plotters puts a legend box of size `legend` in a plotting area of size `area`
/// (its `SeriesLabelPosition` layout: 5 pixels from the edges).
fn legend_rect(pos: &SeriesLabelPosition, area: (u32, u32), legend: (i32, i32)) -> (i32, i32) {
    let (aw, ah) = (area.0 as i32, area.1 as i32);
    let x = match pos {
        SeriesLabelPosition::UpperLeft | SeriesLabelPosition::LowerLeft => 5,
        _ => aw - legend.0 - 5,
    };
    let y = match pos {
        SeriesLabelPosition::UpperLeft | SeriesLabelPosition::UpperRight => 5,
        _ => ah - legend.1 - 5,
    };
    (x, y)
}

/// The corner of the plotting area (size `area`) where a legend box of size `legend` hides
/// the fewest samples of the curves (`curves`: polylines in plotting-area pixels); ties go
/// to the first of lower right, upper right, upper left, lower left.
fn legend_position(curves: &[Vec<(i32, i32)>], area: (u32, u32), legend: (i32, i32)) -> SeriesLabelPosition {
    let pad = MARKER_RADIUS as i32 + 3;
    let candidates = [
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerLeft,
    ];
    let hidden = |pos: &SeriesLabelPosition| {
        let (x0, y0) = legend_rect(pos, area, legend);
        let inside = |(x, y): (f64, f64)| {
            x >= f64::from(x0 - pad)
                && x <= f64::from(x0 + legend.0 + pad)
                && y >= f64::from(y0 - pad)
                && y <= f64::from(y0 + legend.1 + pad)
        };
        let mut count = 0usize;
        for curve in curves {
            let points = curve.iter().map(|&(x, y)| (f64::from(x), f64::from(y)));
            let mut prev: Option<(f64, f64)> = None;
            for p in points {
                match prev {
                    None => count += usize::from(inside(p)),
                    Some(q) => {
                        // Sample the segment every ~2 pixels.
                        let steps = ((p.0 - q.0).hypot(p.1 - q.1) / 2.0).ceil().max(1.0) as usize;
                        count += (1..=steps)
                            .map(|s| {
                                let t = s as f64 / steps as f64;
                                (q.0 + t * (p.0 - q.0), q.1 + t * (p.1 - q.1))
                            })
                            .filter(|&s| inside(s))
                            .count();
                    }
                }
                prev = Some(p);
            }
        }
        count
    };
    let mut best = (usize::MAX, SeriesLabelPosition::LowerRight);
    for pos in candidates {
        let n = hidden(&pos);
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::history::EpochMetrics;

    /// A plausible run: accuracies rising, losses falling, towards the article's numbers.
    fn history(epochs: usize, validation: bool) -> History {
        let mut h = History::default();
        for e in 0..epochs {
            let t = e as f64 / epochs.max(2).saturating_sub(1) as f64;
            h.push(EpochMetrics {
                loss: 0.3 - 0.28 * t.sqrt(),
                accuracy: 0.90 + 0.095 * t.sqrt(),
                val_loss: validation.then_some(0.08 - 0.05 * t),
                val_accuracy: validation.then_some(0.975 + 0.016 * t),
                seconds: 10.0,
            });
        }
        h
    }

    /// Checks the PNG signature and the 900x600 size in its IHDR chunk.
    fn assert_png(path: &Path) {
        let bytes = fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), SIZE);
        assert!(bytes.len() > 5_000, "{} is only {} bytes", path.display(), bytes.len());
        assert!(bytes.len() < 2_000_000, "{} is {} bytes", path.display(), bytes.len());
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn write_plots_makes_two_pngs_for_one_and_many_epochs() {
        for epochs in [1, 2, 30, 250] {
            let dir = tempfile::tempdir().unwrap();
            write_plots(dir.path(), &history(epochs, true)).unwrap();
            assert_eq!(names_in(dir.path()), [ACCURACY_PNG, LOSS_PNG], "{epochs} epochs");
            assert_png(&dir.path().join(ACCURACY_PNG));
            assert_png(&dir.path().join(LOSS_PNG));
        }
    }

    #[test]
    fn write_plots_without_validation_and_replaces_old_charts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOSS_PNG), "stale").unwrap();
        write_plots(dir.path(), &history(5, false)).unwrap();
        assert_png(&dir.path().join(LOSS_PNG));
        assert_eq!(names_in(dir.path()), [ACCURACY_PNG, LOSS_PNG]);
    }

    #[test]
    fn plots_survive_empty_and_non_finite_series() {
        let dir = tempfile::tempdir().unwrap();
        let gaps = [0.5, f64::NAN, 0.7, f64::INFINITY, 0.9, 0.95];
        let nan = [f64::NAN; 4];
        let cases: [&[(&str, &[f64])]; 4] =
            [&[], &[("empty", &[])], &[("all NaN", &nan)], &[("gaps", &gaps), ("constant", &[0.5, 0.5, 0.5])]];
        for (i, series) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("case{i}.png"));
            plot_curves(&path, "Edge case", "Value", series).unwrap();
            assert_png(&path);
        }
    }

    #[test]
    fn comparison_overlays_runs_of_different_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compare.png");
        let runs = vec![
            ("ELU".to_string(), vec![0.975, 0.982, 0.986, 0.989, 0.991]),
            ("ReLU".to_string(), vec![0.972, 0.980, 0.984]),
        ];
        plot_comparison(&path, "Validation accuracy", "Accuracy", &runs).unwrap();
        assert_png(&path);
        assert_eq!(names_in(dir.path()), ["compare.png"]);
    }

    #[test]
    fn plot_into_unwritable_place_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // Root ignores permission bits; a parent that is a regular file stops anyone.
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let path = blocker.join("loss.png");
        let err = plot_curves(&path, "Loss", "Loss", &[("loss", &[0.3, 0.2])]).unwrap_err();
        assert!(matches!(&err, Error::Write { path: p, .. } if p == &path), "{err}");
        let missing = dir.path().join("missing").join("acc.png");
        assert!(plot_curves(&missing, "A", "A", &[("a", &[0.5])]).is_err());
        assert!(write_plots(&blocker, &history(3, true)).is_err());
        assert_eq!(names_in(dir.path()), ["file"]);
    }

    #[test]
    fn plot_over_a_directory_is_an_error_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accuracy.png");
        fs::create_dir(&path).unwrap();
        assert!(plot_curves(&path, "A", "A", &[("a", &[0.5, 0.6])]).is_err());
        assert_eq!(names_in(dir.path()), ["accuracy.png"]);
    }

    #[test]
    fn epoch_ticks_are_integers_starting_at_one() {
        assert_eq!(x_axis(1).ticks, [1.0]);
        assert!(x_axis(1).lo < 1.0 && x_axis(1).hi > 1.0);
        assert_eq!(x_axis(5).ticks, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(x_axis(10).ticks.len(), 10);
        assert_eq!(x_axis(12).ticks, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        assert_eq!(x_axis(25).ticks, [1.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(x_axis(20).ticks, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]);
        let many = x_axis(250);
        assert_eq!(many.ticks.first(), Some(&1.0));
        assert_eq!(many.ticks.last(), Some(&250.0));
        assert!(many.ticks.len() <= 11);
        for n in 1..=1000 {
            let a = x_axis(n);
            assert!(a.ticks.iter().all(|t| t.fract() == 0.0 && *t >= 1.0 && *t <= n as f64));
            assert!(!a.ticks.is_empty() && a.ticks.len() <= 11, "{n}: {:?}", a.ticks);
            assert!(a.lo < 1.0 && a.hi > n as f64);
        }
    }

    #[test]
    fn value_axis_has_a_margin_and_ignores_nan() {
        let a = y_axis([0.9, f64::NAN, 0.995, f64::INFINITY].into_iter());
        assert!(a.lo < 0.9 && a.lo > 0.88, "{a:?}");
        assert!(a.hi > 0.995 && a.hi < 1.01, "{a:?}");
        assert!(a.ticks.len() >= 4 && a.ticks.len() <= 8, "{a:?}");
        assert!(a.ticks.iter().all(|t| *t >= a.lo && *t <= a.hi));
        assert_eq!(a.decimals, 2);
        let single = y_axis([0.97].into_iter());
        assert!(single.lo < 0.97 && single.hi > 0.97 && !single.ticks.is_empty());
        let zero = y_axis([0.0, 0.0].into_iter());
        assert!(zero.lo < 0.0 && zero.hi > 0.0);
        let none = y_axis([f64::NAN].into_iter());
        assert_eq!((none.lo, none.hi), (0.0, 1.0));
    }

    #[test]
    fn tick_steps_are_round_and_their_decimals_fit() {
        assert_eq!(tick_step(0.011, 0.317), (0.05, 2));
        assert_eq!(tick_step(0.894, 1.001), (0.02, 2));
        assert_eq!(tick_step(0.9725, 0.9935), (0.005, 3));
        assert_eq!(tick_step(0.97, 0.98), (0.002, 3));
        assert_eq!(tick_step(0.0, 0.125), (0.025, 3));
        assert_eq!(tick_step(0.0, 1.0), (0.2, 1));
        assert_eq!(tick_step(-0.05, 0.05), (0.025, 3));
        assert_eq!(tick_step(0.0, 30.0), (5.0, 0));
        assert_eq!(tick_step(0.0, 3.0), (0.5, 1));
    }

    #[test]
    fn legend_goes_where_the_curves_are_not() {
        let area = (800, 500);
        let legend = (220, 70);
        // Rising curve from lower left to upper right (pixel y grows downwards).
        let rising = vec![(0..=80).map(|i| (i * 10, 480 - i * 5)).collect::<Vec<_>>()];
        assert_eq!(legend_position(&rising, area, legend), SeriesLabelPosition::LowerRight);
        let falling = vec![(0..=80).map(|i| (i * 10, 20 + i * 5)).collect::<Vec<_>>()];
        assert_eq!(legend_position(&falling, area, legend), SeriesLabelPosition::UpperRight);
        // A curve hugging the bottom and the right edge leaves the upper left free.
        let hook = vec![vec![(0, 490), (790, 490), (790, 0)]];
        assert_eq!(legend_position(&hook, area, legend), SeriesLabelPosition::UpperLeft);
    }
}
