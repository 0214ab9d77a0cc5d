//! Image files for prediction: bounded decoding (PNG, JPEG, PGM/PPM, BMP) into grayscale, and
//! the preprocessing that turns a scanned or photographed digit into an MNIST-style input.
//!
//! MNIST's digits were made this way (LeCun et al.): white ink on black, the digit's bounding
//! box scaled to fit a 20×20 box keeping its aspect ratio (anti-aliased), then placed in the
//! 28×28 image so that its centre of mass is at the centre. [`mnist_style`] does the same to
//! a photo: grayscale, invert a light background, stretch the contrast between paper and ink,
//! crop to the ink (a threshold), fit into 20×20 by area averaging, and place by centre of
//! mass. The steps are pure functions on [`Gray`] images, tested on synthetic ones.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Largest image file accepted, in bytes (64 MiB: far more than any photo of a digit).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest width and height accepted (pixels), whatever the file's header claims.
pub const MAX_SIDE: u32 = 16_384;
/// Most pixels accepted (16 megapixels, a 4096×4096 image or a phone's photo), which bounds
/// the memory of the conversion and preprocessing that follow decoding (a few hundred MB).
pub const MAX_PIXELS: u64 = 16 << 20;
/// Most memory the decoder may allocate for one image (256 MiB).
pub const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Ink darker (after inversion: brighter) than this fraction of the paper-to-ink range belongs
/// to the digit when cropping.
const INK_THRESHOLD: f32 = 0.5;

/// A grayscale image, values in [0, 1], row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl Gray {
    /// A `width`×`height` image of `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Gray { width, height, pixels: vec![value; width * height] }
    }

    /// The value at column `x`, row `y`.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }
}

/// Reads an image file into grayscale, refusing what could exhaust memory: `path` must be a
/// regular file of at most [`MAX_FILE_BYTES`], the header may claim at most [`MAX_PIXELS`], and
/// the decoder is held to [`MAX_SIDE`] pixels a side and [`MAX_DECODE_BYTES`] of memory, so a
/// header claiming a huge image is an error, not an allocation. Colour is converted to luma; transparent pixels count as white paper.
/// Errors name the file.
pub fn load_gray(path: &Path) -> Result<Gray> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        return Err(Error::corrupt(path, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::corrupt(
            path,
            format!("the file has {} bytes, more than the {MAX_FILE_BYTES} accepted for an image", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` bounds the read even if the file grew since its size was checked.
    File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::read(path, e))?;
    if bytes.is_empty() {
        return Err(Error::corrupt(path, "the file is empty"));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::corrupt(path, format!("the file grew beyond {MAX_FILE_BYTES} bytes while being read")));
    }
    decode_gray(&bytes).map_err(|msg| Error::corrupt(path, msg))
}

/// Decodes an image held in memory (format guessed from its first bytes) into grayscale,
/// within the limits of [`load_gray`].
pub fn decode_gray(bytes: &[u8]) -> std::result::Result<Gray, String> {
    let reader = || -> std::result::Result<_, String> {
        let mut limits = ::image::io::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        let mut reader = ::image::io::Reader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot read the image: {e}"))?;
        if reader.format().is_none() {
            return Err("not an image in a known format (PNG, JPEG, PGM/PPM or BMP)".to_string());
        }
        reader.limits(limits);
        Ok(reader)
    };
    // The header first: the pixel count bounds everything that follows decoding.
    let (w, h) = reader()?.into_dimensions().map_err(|e| format!("cannot decode the image: {e}"))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("the image is {w}x{h}, more than the {MAX_PIXELS} pixels accepted (limit)"));
    }
    let img = reader()?.decode().map_err(|e| format!("cannot decode the image: {e}"))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    if width == 0 || height == 0 {
        return Err("the image has no pixels".into());
    }
    let la = img.to_luma_alpha8();
    drop(img);
    // Composite over white paper: a transparent background is paper, not black ink.
    let pixels = la
        .pixels()
        .map(|p| {
            let (v, a) = (f32::from(p.0[0]) / 255.0, f32::from(p.0[1]) / 255.0);
            (v * a + (1.0 - a)).clamp(0.0, 1.0)
        })
        .collect();
    Ok(Gray { width, height, pixels })
}

/// The median of the image's border pixels: the paper's colour for a digit on a sheet.
pub fn border_level(img: &Gray) -> f32 {
    let (w, h) = (img.width, img.height);
    let mut border: Vec<f32> = (0..w).flat_map(|x| [img.at(x, 0), img.at(x, h - 1)]).collect();
    border.extend((0..h).flat_map(|y| [img.at(0, y), img.at(w - 1, y)]));
    border.sort_by(f32::total_cmp);
    border[border.len() / 2]
}

/// White ink on black, as MNIST: inverts a light background (border level above 0.5), then
/// stretches the values so that the background is 0 and the strongest ink is 1 (a photo's
/// grey paper and faded ink become MNIST's black and white). A blank image stays all 0.
pub fn to_ink(img: &Gray) -> Gray {
    let light = border_level(img) > 0.5;
    let mut out = img.clone();
    if light {
        out.pixels.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    let bg = border_level(&out);
    let max = out.pixels.iter().copied().fold(0.0f32, f32::max);
    let range = max - bg;
    for v in &mut out.pixels {
        *v = if range > 1e-3 { ((*v - bg) / range).clamp(0.0, 1.0) } else { 0.0 };
    }
    out
}

/// The smallest rectangle (x, y, width, height) holding every pixel above `threshold`, or
/// `None` when there is none.
pub fn ink_box(img: &Gray, threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..img.height {
        for x in 0..img.width {
            if img.at(x, y) > threshold {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    (x0 != usize::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// The rectangle (x, y, width, height) of `img`.
pub fn crop(img: &Gray, (x, y, w, h): (usize, usize, usize, usize)) -> Gray {
    let pixels =
        (y..y + h).flat_map(|r| img.pixels[r * img.width + x..r * img.width + x + w].iter().copied()).collect();
    Gray { width: w, height: h, pixels }
}

/// Resamples `img` to `width`×`height` by area averaging: each output pixel is the mean of
/// the input area it covers (fractional pixels weighted by their covered fraction), the
/// anti-aliased scaling MNIST's digits went through.
pub fn resize_area(img: &Gray, width: usize, height: usize) -> Gray {
    let (sx, sy) = (img.width as f64 / width as f64, img.height as f64 / height as f64);
    // Per output column (row): the input columns (rows) it covers with their weights.
    let spans = |n_out: usize, n_in: usize, s: f64| -> Vec<Vec<(usize, f64)>> {
        (0..n_out)
            .map(|o| {
                let (a, b) = (o as f64 * s, ((o + 1) as f64 * s).min(n_in as f64));
                let first = a.floor() as usize;
                let last = (b.ceil() as usize).clamp(first + 1, n_in);
                (first..last).map(|i| (i, ((i + 1) as f64).min(b) - (i as f64).max(a))).collect()
            })
            .collect()
    };
    let (cols, rows) = (spans(width, img.width, sx), spans(height, img.height, sy));
    let mut out = Gray::filled(width, height, 0.0);
    for (oy, row) in rows.iter().enumerate() {
        for (ox, col) in cols.iter().enumerate() {
            let mut sum = 0.0f64;
            for &(y, wy) in row {
                for &(x, wx) in col {
                    sum += img.at(x, y) as f64 * wx * wy;
                }
            }
            out.pixels[oy * width + ox] = (sum / (sx * sy)) as f32;
        }
    }
    out
}

/// Scales `img` so its longer side is `side` pixels (the shorter one in proportion, at least
/// one pixel), by area averaging.
pub fn fit_into(img: &Gray, side: usize) -> Gray {
    let long = img.width.max(img.height) as f64;
    let scale = |n: usize| ((n as f64 * side as f64 / long).round() as usize).clamp(1, side);
    resize_area(img, scale(img.width), scale(img.height))
}

/// The centre of mass (x, y) of the image's values, in pixel-centre coordinates (the centre of
/// the top-left pixel is (0.5, 0.5)); the image's centre for an all-zero image.
pub fn centre_of_mass(img: &Gray) -> (f64, f64) {
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..img.height {
        for x in 0..img.width {
            let v = img.at(x, y) as f64;
            m += v;
            mx += v * (x as f64 + 0.5);
            my += v * (y as f64 + 0.5);
        }
    }
    if m <= 0.0 {
        return (img.width as f64 / 2.0, img.height as f64 / 2.0);
    }
    (mx / m, my / m)
}

/// `img` pasted into a black `width`×`height` canvas so that its centre of mass lands on the
/// canvas's centre (shifted by whole pixels; what falls outside is cut off).
pub fn place_by_mass(img: &Gray, width: usize, height: usize) -> Gray {
    let (cx, cy) = centre_of_mass(img);
    let dx = (width as f64 / 2.0 - cx).round() as isize;
    let dy = (height as f64 / 2.0 - cy).round() as isize;
    let mut out = Gray::filled(width, height, 0.0);
    for y in 0..img.height {
        for x in 0..img.width {
            let (tx, ty) = (x as isize + dx, y as isize + dy);
            if (0..width as isize).contains(&tx) && (0..height as isize).contains(&ty) {
                out.pixels[ty as usize * width + tx as usize] = img.at(x, y);
            }
        }
    }
    out
}

/// A photo or scan of one digit → an MNIST-style `width`×`height` input (28×28 for MNIST):
/// [`to_ink`], crop to the ink ([`ink_box`] at half the ink's strength), [`fit_into`] a box of
/// 20/28 of the side, scale the strongest value to 1 (thin strokes thinned further by the
/// scaling stay visible), [`place_by_mass`]. Errors when the image holds no ink.
pub fn mnist_style(img: &Gray, width: usize, height: usize) -> std::result::Result<Gray, String> {
    let ink = to_ink(img);
    let bbox = ink_box(&ink, INK_THRESHOLD).ok_or("no digit found: the image is blank")?;
    let side = (width.min(height) * 20).div_ceil(28).max(1);
    let mut fitted = fit_into(&crop(&ink, bbox), side);
    let max = fitted.pixels.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        fitted.pixels.iter_mut().for_each(|v| *v = (*v / max).min(1.0));
    }
    Ok(place_by_mass(&fitted, width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` canvas of `paper` with a `rw`×`rh` rectangle of `ink` at (x, y).
    fn rect(w: usize, h: usize, paper: f32, ink: f32, (x, y, rw, rh): (usize, usize, usize, usize)) -> Gray {
        let mut img = Gray::filled(w, h, paper);
        for r in y..y + rh {
            for c in x..x + rw {
                img.pixels[r * w + c] = ink;
            }
        }
        img
    }

    #[test]
    fn a_light_background_is_inverted_and_the_contrast_stretched() {
        // Grey paper (0.8) with darker ink (0.3): ink becomes 1, paper 0.
        let ink = to_ink(&rect(10, 10, 0.8, 0.3, (3, 3, 2, 4)));
        assert_eq!(ink.at(3, 3), 1.0);
        assert_eq!(ink.at(0, 0), 0.0);
        assert_eq!(ink.pixels.iter().filter(|&&v| v == 1.0).count(), 8);
        // Already white on black: kept.
        let ink = to_ink(&rect(10, 10, 0.0, 1.0, (3, 3, 2, 4)));
        assert_eq!(ink, rect(10, 10, 0.0, 1.0, (3, 3, 2, 4)));
        // Blank: all zero.
        assert!(to_ink(&Gray::filled(5, 5, 1.0)).pixels.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_ink_box_is_the_smallest_rectangle_above_the_threshold() {
        let img = rect(20, 10, 0.0, 0.9, (4, 2, 6, 3));
        assert_eq!(ink_box(&img, 0.5), Some((4, 2, 6, 3)));
        assert_eq!(ink_box(&img, 0.95), None);
        let c = crop(&img, (4, 2, 6, 3));
        assert_eq!((c.width, c.height), (6, 3));
        assert!(c.pixels.iter().all(|&v| v == 0.9));
    }

    #[test]
    fn area_resampling_keeps_the_mean_and_averages_blocks() {
        // 4x4 → 2x2: each output is the mean of a 2x2 block.
        let img = Gray { width: 4, height: 4, pixels: (0..16).map(|i| i as f32).collect() };
        let r = resize_area(&img, 2, 2);
        assert_eq!(r.pixels, [2.5, 4.5, 10.5, 12.5]);
        // 3 → 2 (fractional coverage) keeps the mean.
        let img = Gray { width: 3, height: 1, pixels: vec![0.0, 1.0, 0.5] };
        let r = resize_area(&img, 2, 1);
        let mean = |g: &Gray| g.pixels.iter().sum::<f32>() / g.pixels.len() as f32;
        assert!((mean(&r) - mean(&img)).abs() < 1e-6, "{r:?}");
        assert!((r.pixels[0] - 1.0 / 3.0).abs() < 1e-6, "{r:?}");
        // Upscaling repeats pixels.
        let r = resize_area(&Gray { width: 2, height: 1, pixels: vec![0.0, 1.0] }, 4, 2);
        assert_eq!(r.pixels, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio() {
        let tall = Gray::filled(50, 200, 1.0);
        let f = fit_into(&tall, 20);
        assert_eq!((f.width, f.height), (5, 20));
        let wide = Gray::filled(300, 100, 1.0);
        assert_eq!((fit_into(&wide, 20).width, fit_into(&wide, 20).height), (20, 7));
        let line = Gray::filled(1, 400, 1.0);
        assert_eq!((fit_into(&line, 20).width, fit_into(&line, 20).height), (1, 20));
    }

    #[test]
    fn placement_puts_the_centre_of_mass_at_the_centre() {
        // A 4x4 block whose mass is off its own centre (heavier right column).
        let mut img = Gray::filled(4, 4, 0.5);
        (0..4).for_each(|y| img.pixels[y * 4 + 3] = 1.0);
        let (cx, cy) = centre_of_mass(&img);
        assert!((cy - 2.0).abs() < 1e-9 && cx > 2.0);
        let placed = place_by_mass(&img, 28, 28);
        let (px, py) = centre_of_mass(&placed);
        assert!((px - 14.0).abs() <= 0.5 && (py - 14.0).abs() <= 0.5, "({px}, {py})");
        let total = |g: &Gray| g.pixels.iter().sum::<f32>();
        assert_eq!(total(&placed), total(&img), "nothing is cut off");
    }

    #[test]
    fn a_dark_digit_off_centre_on_a_big_sheet_becomes_a_centred_20_pixel_mnist_digit() {
        // A 30x90 stroke in the top-left corner of a 400x300 white sheet.
        let sheet = rect(400, 300, 0.95, 0.1, (20, 10, 30, 90));
        let x = mnist_style(&sheet, 28, 28).unwrap();
        assert_eq!((x.width, x.height), (28, 28));
        let bbox = ink_box(&x, 0.5).unwrap();
        assert_eq!(bbox.3, 20, "the long side fills 20 pixels: {bbox:?}");
        assert_eq!(bbox.2, 7, "the short side in proportion (30/90 of 20): {bbox:?}");
        let (cx, cy) = centre_of_mass(&x);
        assert!((cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5, "({cx}, {cy})");
        assert_eq!(x.pixels.iter().copied().fold(0.0, f32::max), 1.0);
        assert!(mnist_style(&Gray::filled(50, 50, 1.0), 28, 28).unwrap_err().contains("blank"));
    }

    #[test]
    fn decoding_reads_a_pgm_and_refuses_garbage() {
        let mut pgm = b"P5\n3 2\n255\n".to_vec();
        pgm.extend([0, 255, 51, 102, 0, 255]);
        let g = decode_gray(&pgm).unwrap();
        assert_eq!((g.width, g.height), (3, 2));
        assert!((g.at(2, 0) - 0.2).abs() < 1e-6 && g.at(1, 0) == 1.0);
        assert!(decode_gray(b"hello, world").unwrap_err().contains("known format"));
        // A header claiming more pixels than accepted is refused before decoding.
        let big = b"P5\n5000 5000\n255\n".to_vec();
        assert!(decode_gray(&big).unwrap_err().contains("5000x5000"), "{:?}", decode_gray(&big));
        assert!(decode_gray(&pgm[..14]).is_err(), "truncated");
    }

    #[test]
    fn transparent_pixels_are_white_paper() {
        // 2x1 RGBA: transparent black, then opaque black ink.
        let img = ::image::RgbaImage::from_raw(2, 1, vec![0, 0, 0, 0, 0, 0, 0, 255]).unwrap();
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ::image::ImageOutputFormat::Png).unwrap();
        assert_eq!(decode_gray(&png).unwrap().pixels, [1.0, 0.0]);
    }
}
