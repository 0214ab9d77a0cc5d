//! `diagnostics.png`: a run's diagnostics per epoch in three panels: the median unit mean of
//! each activation layer, its dead fraction, and each layer's gradient norm on a log scale.

use std::path::Path;

use plotters::prelude::*;

use super::plot::{write_png, FONT, PALETTE};
use crate::error::Result;
use crate::train::diagnostics::DiagnosticsRow;

/// Size of the picture in pixels (three panels stacked).
const SIZE: (u32, u32) = (900, 1200);

/// One panel's curves: (layer, points (epoch, value)).
type Curves = Vec<(String, Vec<(f64, f64)>)>;

/// The curves of one column of `rows`, one per layer that has it (in first-seen order).
fn curves(rows: &[DiagnosticsRow], value: impl Fn(&DiagnosticsRow) -> f64, positive: bool) -> Curves {
    let mut out: Curves = Vec::new();
    for r in rows {
        let v = value(r);
        if !v.is_finite() || (positive && v <= 0.0) {
            continue;
        }
        match out.iter_mut().find(|(l, _)| *l == r.layer) {
            Some((_, points)) => points.push((r.epoch as f64, v)),
            None => out.push((r.layer.clone(), vec![(r.epoch as f64, v)])),
        }
    }
    out
}

/// Draws `diagnostics.png` from the rows of `diagnostics.csv`, written atomically.
pub fn plot_diagnostics(path: &Path, rows: &[DiagnosticsRow]) -> Result<()> {
    write_png(path, |tmp| draw(tmp, rows))
}

fn draw(tmp: &Path, rows: &[DiagnosticsRow]) -> std::result::Result<(), String> {
    let msg = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| msg(&e))?;
    let panels = root.split_evenly((3, 1));
    let last = rows.iter().map(|r| r.epoch).max().unwrap_or(0).max(1) as f64;
    let specs: [(&str, &str, Curves, bool); 3] = [
        ("Median unit mean per layer", "median unit mean", curves(rows, |r| r.median_unit_mean, false), false),
        ("Dead units per layer", "dead fraction", curves(rows, |r| r.dead_fraction, false), false),
        ("Gradient norm per layer (mean over batches)", "gradient L2 norm", curves(rows, |r| r.grad_norm, true), true),
    ];
    for (area, (title, y_label, curves, log)) in panels.iter().zip(specs) {
        let values = curves.iter().flat_map(|(_, p)| p.iter().map(|&(_, v)| v));
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo > hi {
            (0.0, 1.0)
        } else if log {
            (lo / 1.5, hi * 1.5)
        } else {
            let m = ((hi - lo) * 0.08).max(0.02);
            (lo - m, hi + m)
        };
        let mut builder = ChartBuilder::on(area);
        builder.caption(title, (FONT, 22)).margin(10).margin_right(24).x_label_area_size(40).y_label_area_size(80);
        let x = -0.2..last + 0.2;
        let x_fmt = |v: &f64| if (v - v.round()).abs() < 1e-9 { format!("{v:.0}") } else { String::new() };
        let decimals = (2.0 - (hi - lo).log10().floor()).clamp(0.0, 5.0) as usize;
        let y_fmt = move |v: &f64| {
            if log {
                format!("{v:.0e}")
            } else {
                // No "-0.00".
                let t = format!("{v:.decimals$}");
                if t.trim_start_matches(['-', '0', '.']).is_empty() {
                    format!("{:.decimals$}", 0.0)
                } else {
                    t
                }
            }
        };
        let x_labels = (last as usize + 1).min(11);
        // Two chart types (linear and log y); the drawing is the same.
        macro_rules! panel {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("epoch (0: before training)")
                    .y_desc(y_label)
                    .x_labels(x_labels)
                    .x_label_formatter(&x_fmt)
                    .y_label_formatter(&y_fmt)
                    .label_style((FONT, 14))
                    .axis_desc_style((FONT, 16))
                    .light_line_style(TRANSPARENT)
                    .draw()
                    .map_err(|e| msg(&e))?;
                for (k, (layer, points)) in curves.iter().enumerate() {
                    let color = PALETTE[k % PALETTE.len()];
                    chart
                        .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                        .map_err(|e| msg(&e))?
                        .label(layer.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
                }
                if !curves.is_empty() {
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .label_font((FONT, 13))
                        .background_style(WHITE.mix(0.85))
                        .border_style(RGBColor(190, 190, 190))
                        .draw()
                        .map_err(|e| msg(&e))?;
                }
            }};
        }
        if log {
            panel!(builder.build_cartesian_2d(x, (lo..hi).log_scale()).map_err(|e| msg(&e))?);
        } else {
            panel!(builder.build_cartesian_2d(x, lo..hi).map_err(|e| msg(&e))?);
        }
    }
    root.present().map_err(|e| msg(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_written_for_rows_and_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        for epoch in 0..4 {
            let mut r = DiagnosticsRow::empty(epoch, "elu");
            r.units = 128;
            r.median_unit_mean = 0.1 * epoch as f64;
            r.dead_fraction = 0.0;
            rows.push(r);
            let mut d = DiagnosticsRow::empty(epoch, "dense");
            d.weight_norm = 3.0;
            d.grad_norm = if epoch == 0 { f64::NAN } else { 10f64.powi(-(epoch as i32)) };
            rows.push(d);
        }
        let path = dir.path().join("diagnostics.png");
        plot_diagnostics(&path, &rows).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        plot_diagnostics(&path, &[]).unwrap();
        assert!(curves(&rows, |r| r.grad_norm, true)[0].1.len() == 3, "epoch 0 has no gradient");
    }
}
