//! A PNG picture of a confusion matrix: one cell per (true, predicted) class pair, shaded by
//! the fraction of the true class it holds, with the count written in it.

use std::fs;
use std::io;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::files::{sync_file, sync_parent_dir, temp_path};
use super::plot::{ensure_font, FONT};
use crate::error::{Error, Result};

/// Picture size in pixels (square).
const SIDE: u32 = 760;
/// Space left of and below the matrix for labels, and above it for the title.
const MARGIN: i32 = 90;
const TOP: i32 = 60;
/// Shade of a cell holding all of its row (matplotlib's "Blues" at its dark end).
const DARK: (f64, f64, f64) = (8.0, 48.0, 107.0);

/// Draws `confusion[t][p]` (rows: true class, columns: predicted class) to the PNG file
/// `path`, atomically (rendered next to it, then renamed); failures are [`Error::Write`].
pub fn plot_confusion(path: &Path, title: &str, confusion: &[Vec<usize>]) -> Result<()> {
    ensure_font().map_err(|msg| Error::write(path, io::Error::other(msg)))?;
    let tmp = temp_path(path, "tmp.png").map_err(|e| Error::write(path, e))?;
    let result = draw(&tmp, title, confusion)
        .map_err(io::Error::other)
        .and_then(|()| sync_file(&tmp))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::write(path, e));
    }
    sync_parent_dir(path);
    Ok(())
}

/// Colour of a cell holding `fraction` of its row: white to dark blue.
fn shade(fraction: f64) -> RGBColor {
    let f = fraction.clamp(0.0, 1.0);
    let mix = |dark: f64| (255.0 + (dark - 255.0) * f).round() as u8;
    RGBColor(mix(DARK.0), mix(DARK.1), mix(DARK.2))
}

fn draw(tmp: &Path, title: &str, confusion: &[Vec<usize>]) -> std::result::Result<(), String> {
    let k = confusion.len().max(1) as i32;
    let root = BitMapBackend::new(tmp, (SIDE, SIDE)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let cell = (SIDE as i32 - MARGIN - 20).min(SIDE as i32 - TOP - MARGIN) / k;
    let (x0, y0) = (MARGIN, TOP);
    let font = |pt: u32| (FONT, pt).into_font().color(&BLACK);
    let centred = |pt: u32, color: &RGBColor| TextStyle {
        font: (FONT, pt).into_font(),
        color: color.to_backend_color(),
        pos: Pos::new(HPos::Center, VPos::Center),
    };
    root.draw(&Text::new(title.to_string(), (x0, 18), font(24))).map_err(|e| e.to_string())?;
    let count_pt = (cell as u32 / 3).clamp(8, 18);
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (p, &n) in row.iter().enumerate() {
            let (x, y) = (x0 + p as i32 * cell, y0 + t as i32 * cell);
            let fraction = n as f64 / total;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], shade(fraction).filled()))
                .map_err(|e| e.to_string())?;
            let ink = if fraction > 0.5 { WHITE } else { BLACK };
            root.draw(&Text::new(n.to_string(), (x + cell / 2, y + cell / 2), centred(count_pt, &ink)))
                .map_err(|e| e.to_string())?;
        }
    }
    let grey = RGBColor(90, 90, 90);
    root.draw(&Rectangle::new([(x0, y0), (x0 + k * cell, y0 + k * cell)], grey.stroke_width(1)))
        .map_err(|e| e.to_string())?;
    for c in 0..k {
        let mid = c * cell + cell / 2;
        root.draw(&Text::new(c.to_string(), (x0 + mid, y0 + k * cell + 14), centred(16, &BLACK)))
            .map_err(|e| e.to_string())?;
        root.draw(&Text::new(c.to_string(), (x0 - 16, y0 + mid), centred(16, &BLACK))).map_err(|e| e.to_string())?;
    }
    root.draw(&Text::new("predicted class", (x0 + k * cell / 2, y0 + k * cell + 44), centred(20, &BLACK)))
        .map_err(|e| e.to_string())?;
    let rotated = TextStyle {
        font: (FONT, 20).into_font().transform(FontTransform::Rotate270),
        color: BLACK.to_backend_color(),
        pos: Pos::new(HPos::Center, VPos::Center),
    };
    root.draw(&Text::new("true class", (28, y0 + k * cell / 2), rotated)).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_of_the_matrix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let m: Vec<Vec<usize>> = (0..10).map(|t| (0..10).map(|p| if t == p { 95 } else { t % 3 }).collect()).collect();
        plot_confusion(&path, "Confusion matrix", &m).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let img = ::image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (SIDE, SIDE));
        // The diagonal cell of class 0 is dark, the one beside it light.
        let cell = (SIDE as i32 - MARGIN - 20).min(SIDE as i32 - TOP - MARGIN) / 10;
        let at = |t: i32, p: i32| img.get_pixel((MARGIN + p * cell + 3) as u32, (TOP + t * cell + 3) as u32).0;
        assert!(at(0, 0)[0] < 60, "{:?}", at(0, 0));
        assert!(at(0, 1)[0] > 200, "{:?}", at(0, 1));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
