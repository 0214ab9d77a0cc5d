//! The activation functions as figures and tables: each function and its derivative as a PNG,
//! a grid of them all, and their values and derivatives at extreme inputs (Markdown and CSV).
//!
//! The numbers are those training uses: [`Activation::value`] and [`Activation::derivative`]
//! in f32.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::files::atomic_write;
use super::plot::{write_png, FONT};
use crate::activations::Activation;
use crate::error::{Error, Result};

/// The inputs of the extremes table: the article's −5,000,000, then ±10,000, ±100, ±1 and 0.
pub const EXTREME_INPUTS: [f32; 8] = [-5e6, -1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4];

/// The x range of the figures.
pub const PLOT_RANGE: (f32, f32) = (-5.0, 5.0);

/// Size in pixels of one function's figure.
pub const FUNCTION_PNG_SIZE: (u32, u32) = (900, 600);

/// Size in pixels of one cell of the grid; the grid has [`GRID_COLUMNS`] of them a row, under a
/// title band of [`GRID_TITLE`] pixels.
pub const GRID_CELL: (u32, u32) = (420, 300);
/// Cells per row of the grid.
pub const GRID_COLUMNS: usize = 4;
/// Height of the grid's title band.
pub const GRID_TITLE: u32 = 50;

/// Name of the grid figure in the output directory.
pub const GRID_PNG: &str = "activations.png";
/// Name of the extremes table (Markdown) in the output directory.
pub const EXTREMES_MD: &str = "extremes.md";
/// Name of the extremes table (CSV) in the output directory.
pub const EXTREMES_CSV: &str = "extremes.csv";

/// Points per curve over [`PLOT_RANGE`].
const SAMPLES: usize = 801;
const VALUE_COLOR: RGBColor = RGBColor(31, 119, 180);
const DERIVATIVE_COLOR: RGBColor = RGBColor(255, 127, 14);
const GRID: RGBColor = RGBColor(225, 225, 225);
const AXIS: RGBColor = RGBColor(90, 90, 90);
const ZERO: RGBColor = RGBColor(150, 150, 150);

/// One row of the extremes table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExtremeValue {
    pub activation: Activation,
    pub x: f32,
    /// f(x).
    pub value: f32,
    /// f'(x).
    pub derivative: f32,
}

/// f(x) and f'(x) of each activation at each input, activations in the order given.
pub fn extreme_values(activations: &[Activation], inputs: &[f32]) -> Vec<ExtremeValue> {
    let mut rows = Vec::with_capacity(activations.len() * inputs.len());
    for &activation in activations {
        for &x in inputs {
            let value = activation.value(x);
            rows.push(ExtremeValue { activation, x, value, derivative: activation.derivative(x, value) });
        }
    }
    rows
}

/// The activation's name with its parameters, as the figures and tables label it
/// (`elu (alpha = 1)`, `gelu`).
pub fn label(activation: &Activation) -> String {
    let params: Vec<String> = match toml::Value::try_from(activation) {
        Ok(toml::Value::Table(t)) => {
            t.iter().filter(|(k, _)| *k != "type").map(|(k, v)| format!("{k} = {}", number(v))).collect()
        }
        _ => Vec::new(),
    };
    if params.is_empty() {
        activation.name().to_string()
    } else {
        format!("{} ({})", activation.name(), params.join(", "))
    }
}

/// A TOML parameter value as a short number.
fn number(v: &toml::Value) -> String {
    match v.as_float() {
        Some(f) => format!("{}", f as f32),
        None => v.to_string(),
    }
}

/// A value in the tables: Rust's shortest text that reads back as the same f32, in exponent
/// form when it is very large or very small (`-5e6`, `4.539993e-5`, `0`, `inf`).
pub fn format_value(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.is_finite() && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// An input as a column heading: integers with thousands separators (−5,000,000).
fn heading(x: f32) -> String {
    if x.fract() != 0.0 || !x.is_finite() {
        return format_value(x);
    }
    let digits = format!("{}", x.abs() as u64);
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if x < 0.0 {
        format!("−{grouped}")
    } else {
        grouped
    }
}

/// The activations in `rows`, in order of first appearance, and the inputs likewise.
fn axes(rows: &[ExtremeValue]) -> (Vec<Activation>, Vec<f32>) {
    let (mut acts, mut xs) = (Vec::new(), Vec::new());
    for r in rows {
        if !acts.contains(&r.activation) {
            acts.push(r.activation);
        }
        if !xs.iter().any(|x: &f32| x.to_bits() == r.x.to_bits()) {
            xs.push(r.x);
        }
    }
    (acts, xs)
}

/// The extremes table in Markdown: a table of values, one of derivatives (a row per function,
/// a column per input), and each function's Keras and PyTorch code.
pub fn extremes_markdown(rows: &[ExtremeValue]) -> String {
    let (acts, xs) = axes(rows);
    let find = |a: &Activation, x: f32| rows.iter().find(|r| r.activation == *a && r.x.to_bits() == x.to_bits());
    let mut md = String::from("# Activation functions at extreme inputs\n\n");
    md.push_str(
        "f(x) and f'(x) as elu-lab computes them in f32, the numbers training uses (−5,000,000 is the \
         article's example input). Written by `elu-lab plot-activations`.\n",
    );
    for (title, pick) in [("f(x)", 0), ("f'(x)", 1)] {
        let _ = write!(md, "\n## {title}\n\n| activation |");
        for &x in &xs {
            let _ = write!(md, " {} |", heading(x));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(xs.len()));
        md.push('\n');
        for a in &acts {
            let _ = write!(md, "| {} |", label(a));
            for &x in &xs {
                let cell =
                    find(a, x).map_or(String::new(), |r| format_value(if pick == 0 { r.value } else { r.derivative }));
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
    }
    md.push_str("\n## In Keras and PyTorch\n\n| activation | Keras 3 | PyTorch |\n|---|---|---|\n");
    for a in &acts {
        let _ = writeln!(md, "| {} | `{}` | `{}` |", label(a), a.keras_code(), a.torch_code());
    }
    md
}

/// The extremes table as CSV: `activation,x,value,derivative`, one row per function and input
/// (the activation by name; its parameters are the defaults unless the label says otherwise).
pub fn extremes_csv(rows: &[ExtremeValue]) -> String {
    let mut csv = String::from("activation,x,value,derivative\n");
    for r in rows {
        let name =
            if r.activation.has_default_parameters() { r.activation.name().to_string() } else { label(&r.activation) };
        let name = if name.contains(',') { format!("\"{name}\"") } else { name };
        let _ = writeln!(csv, "{name},{},{},{}", format_value(r.x), format_value(r.value), format_value(r.derivative));
    }
    csv
}

/// The file name of an activation's figure: `elu.png`, or with its parameters when they are
/// not the defaults (`elu-alpha-0.5.png`).
pub fn figure_name(activation: &Activation) -> String {
    if activation.has_default_parameters() {
        return format!("{}.png", activation.name());
    }
    let l = label(activation);
    let slug: String = l
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c } else { '-' })
        .collect();
    let mut out = String::new();
    for part in slug.split('-').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    format!("{out}.png")
}

/// Writes into `dir` (created if missing) one figure per activation ([`figure_name`]), the grid
/// of them all ([`GRID_PNG`]) and the extremes tables at [`EXTREME_INPUTS`] ([`EXTREMES_MD`],
/// [`EXTREMES_CSV`]); every file atomically. Returns the paths written, in that order.
///
/// ```
/// use elu_lab::activations::Activation;
/// use elu_lab::report::activations::write_activation_figures;
///
/// let dir = std::env::temp_dir().join(format!("elu-lab-doc-{}", std::process::id()));
/// let written = write_activation_figures(&dir, &[Activation::Elu { alpha: 1.0 }, Activation::Gelu])?;
/// assert_eq!(written.len(), 5); // elu.png, gelu.png, the grid, extremes.md, extremes.csv
/// let csv = std::fs::read_to_string(dir.join("extremes.csv"))?;
/// assert!(csv.contains("elu,-5e6,-1,0\n"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_activation_figures(dir: &Path, activations: &[Activation]) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let mut written = Vec::new();
    for a in activations {
        let path = dir.join(figure_name(a));
        plot_activation(&path, a)?;
        written.push(path);
    }
    let grid = dir.join(GRID_PNG);
    plot_activation_grid(&grid, activations)?;
    written.push(grid);
    let rows = extreme_values(activations, &EXTREME_INPUTS);
    for (name, text) in [(EXTREMES_MD, extremes_markdown(&rows)), (EXTREMES_CSV, extremes_csv(&rows))] {
        let path = dir.join(name);
        atomic_write(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Draws f and f' over [`PLOT_RANGE`] to the PNG file `path` ([`FUNCTION_PNG_SIZE`]),
/// atomically; failures are [`Error::Write`].
pub fn plot_activation(path: &Path, activation: &Activation) -> Result<()> {
    render(path, FUNCTION_PNG_SIZE, |root| {
        draw_function(root, activation, &format!("{}: f(x) and f'(x)", label(activation)), true)
    })
}

/// Draws every activation's f and f' in a grid of [`GRID_COLUMNS`] columns to the PNG file
/// `path`, atomically; failures are [`Error::Write`].
pub fn plot_activation_grid(path: &Path, activations: &[Activation]) -> Result<()> {
    let rows = activations.len().div_ceil(GRID_COLUMNS).max(1);
    let cols = activations.len().clamp(1, GRID_COLUMNS);
    let size = (cols as u32 * GRID_CELL.0, rows as u32 * GRID_CELL.1 + GRID_TITLE);
    render(path, size, |root| {
        let (title, body) = root.split_vertically(GRID_TITLE);
        let text = "Activation functions f(x) (blue) and their derivatives f'(x) (orange) on [−5, 5]";
        title.titled(text, (FONT, 26).into_font().color(&BLACK)).map_err(|e| e.to_string())?;
        for (cell, a) in body.split_evenly((rows, cols)).iter().zip(activations) {
            draw_function(cell, a, &label(a), false)?;
        }
        Ok(())
    })
}

/// Renders into a temporary PNG next to `path`, then renames it into place.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    write_png(path, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    })
}

/// Points of a curve.
type Points = Vec<(f64, f64)>;

/// The points (x, f(x)) and (x, f'(x)) over [`PLOT_RANGE`].
fn curves(activation: &Activation) -> (Points, Points) {
    let (lo, hi) = PLOT_RANGE;
    let (mut f, mut d) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for i in 0..SAMPLES {
        let x = lo + (hi - lo) * i as f32 / (SAMPLES - 1) as f32;
        let y = activation.value(x);
        f.push((x as f64, y as f64));
        d.push((x as f64, activation.derivative(x, y) as f64));
    }
    (f, d)
}

/// One chart: both curves, the axes through 0, and (`large`) axis labels and a legend.
fn draw_function(
    area: &DrawingArea<BitMapBackend, Shift>,
    activation: &Activation,
    title: &str,
    large: bool,
) -> std::result::Result<(), String> {
    let msg = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (f, d) = curves(activation);
    let (mut lo, mut hi) = f
        .iter()
        .chain(&d)
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    lo = lo.min(0.0);
    hi = hi.max(1.0);
    let margin = 0.06 * (hi - lo);
    let (lo, hi) = (lo - margin, hi + margin);
    let (title_pt, tick_pt, label_area) = if large { (28, 17, 60) } else { (20, 13, 36) };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, title_pt))
        .margin(if large { 16 } else { 8 })
        .margin_right(if large { 32 } else { 16 })
        .x_label_area_size(label_area)
        .y_label_area_size(label_area + 10)
        .build_cartesian_2d(PLOT_RANGE.0 as f64..PLOT_RANGE.1 as f64, lo..hi)
        .map_err(msg)?;
    let fmt = |v: &f64| format!("{}", (v * 100.0).round() / 100.0);
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(11)
        .y_labels(if large { 8 } else { 5 })
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style((FONT, tick_pt).into_font().color(&BLACK))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS);
    if large {
        mesh.x_desc("x").axis_desc_style((FONT, 20).into_font().color(&BLACK));
    }
    mesh.draw().map_err(msg)?;
    let zero = ZERO.stroke_width(1);
    chart.draw_series(LineSeries::new([(PLOT_RANGE.0 as f64, 0.0), (PLOT_RANGE.1 as f64, 0.0)], zero)).map_err(msg)?;
    chart.draw_series(LineSeries::new([(0.0, lo), (0.0, hi)], zero)).map_err(msg)?;
    let width = 2;
    let finite = |pts: Points| pts.into_iter().filter(|p| p.1.is_finite()).collect::<Points>();
    let value = VALUE_COLOR.stroke_width(width);
    let slope = DERIVATIVE_COLOR.stroke_width(width);
    chart
        .draw_series(LineSeries::new(finite(f), value))
        .map_err(msg)?
        .label("f(x)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], value));
    chart
        .draw_series(LineSeries::new(finite(d), slope))
        .map_err(msg)?
        .label("f'(x)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], slope));
    if large {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .legend_area_size(44)
            .margin(10)
            .label_font((FONT, 20).into_font().color(&BLACK))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(190, 190, 190))
            .draw()
            .map_err(msg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extremes_table_has_each_function_at_each_input() {
        let rows = extreme_values(&Activation::ALL, &EXTREME_INPUTS);
        assert_eq!(rows.len(), Activation::ALL.len() * EXTREME_INPUTS.len());
        let at = |name: &str, x: f32| {
            let r = rows.iter().find(|r| r.activation.name() == name && r.x == x).unwrap();
            (r.value, r.derivative)
        };
        assert_eq!(at("elu", -5e6), (-1.0, 0.0));
        assert_eq!(at("softplus", 1e4), (1e4, 1.0));
        assert_eq!(at("sigmoid", -1e4), (0.0, 0.0));
        assert_eq!(at("tanh", 1e4), (1.0, 0.0));
        assert_eq!(at("relu", -100.0), (0.0, 0.0));
        assert!(rows.iter().all(|r| r.value.is_finite() && r.derivative.is_finite()), "{rows:?}");

        let md = extremes_markdown(&rows);
        assert!(md.contains("| activation | −5,000,000 | −10,000 | −100 | −1 | 0 | 1 | 100 | 10,000 |"), "{md}");
        assert!(md.contains("| elu (alpha = 1) | -1 | -1 | -1 | -0.63212055 | 0 | 1 | 100 | 10000 |"), "{md}");
        assert!(md.contains("| gelu | `keras.layers.Activation(\"gelu\")` | `torch.nn.GELU()` |"), "{md}");
        let csv = extremes_csv(&rows);
        assert_eq!(csv.lines().count(), 1 + rows.len());
        assert!(csv.contains("elu,-5e6,-1,0\n") && csv.contains("softplus,10000,10000,1\n"), "{csv}");
        // Every value in the CSV reads back as the same f32.
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let r = rows.iter().find(|r| r.activation.name() == f[0] && r.x == f[1].parse::<f32>().unwrap()).unwrap();
            assert_eq!((f[2].parse::<f32>().unwrap(), f[3].parse::<f32>().unwrap()), (r.value, r.derivative), "{line}");
        }
    }

    #[test]
    fn labels_and_file_names_carry_non_default_parameters() {
        assert_eq!(label(&Activation::Elu { alpha: 1.0 }), "elu (alpha = 1)");
        assert_eq!(label(&Activation::Gelu), "gelu");
        assert_eq!(figure_name(&Activation::Gelu), "gelu.png");
        assert_eq!(figure_name(&Activation::Elu { alpha: 0.5 }), "elu-alpha-0.5.png");
        assert_eq!(format_value(4.539_993e-5), "4.539993e-5");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(heading(-5e6), "−5,000,000");
        assert_eq!(heading(100.0), "100");
    }
}
