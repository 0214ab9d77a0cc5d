//! im2col / col2im for NHWC convolutions: unfold patches into rows so a convolution is a GEMM.
//!
//! Row `(b, oy, ox)` of the column matrix holds the receptive field of output pixel (oy, ox) of
//! sample b, ordered (ky, kx, c) to match a Keras kernel of shape (KH, KW, C, OC) read as a
//! (KH·KW·C, OC) matrix. Padding positions are zeros.

/// Geometry of a 2-D convolution or pooling window over one NHWC sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeometry {
    /// `valid` padding (no padding): out = floor((in − k) / s) + 1. `None` if the window does not fit.
    pub fn valid(h: usize, w: usize, c: usize, kh: usize, kw: usize, sh: usize, sw: usize) -> Option<Self> {
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > h || kw > w {
            return None;
        }
        Some(ConvGeometry {
            h,
            w,
            c,
            kh,
            kw,
            sh,
            sw,
            pad_top: 0,
            pad_left: 0,
            oh: (h - kh) / sh + 1,
            ow: (w - kw) / sw + 1,
        })
    }

    /// `same` padding as TensorFlow defines it: out = ceil(in / s), the total padding
    /// max((out − 1)·s + k − in, 0) split with the smaller half on top/left.
    pub fn same(h: usize, w: usize, c: usize, kh: usize, kw: usize, sh: usize, sw: usize) -> Option<Self> {
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || h == 0 || w == 0 {
            return None;
        }
        let (oh, ow) = (h.div_ceil(sh), w.div_ceil(sw));
        let pad_h = ((oh - 1) * sh + kh).saturating_sub(h);
        let pad_w = ((ow - 1) * sw + kw).saturating_sub(w);
        Some(ConvGeometry { h, w, c, kh, kw, sh, sw, pad_top: pad_h / 2, pad_left: pad_w / 2, oh, ow })
    }

    /// Columns of the unfolded matrix: KH·KW·C.
    pub fn patch_len(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Output pixels per sample: OH·OW.
    pub fn out_pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// Input row of output row `oy` and kernel row `ky`, or `None` in the padding.
    #[inline(always)]
    fn in_y(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky).checked_sub(self.pad_top).filter(|&y| y < self.h)
    }

    #[inline(always)]
    fn in_x(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.sw + kx).checked_sub(self.pad_left).filter(|&x| x < self.w)
    }

    /// The input row and column of the top-left of output pixel (oy, ox)'s receptive field,
    /// when the whole field lies inside the input (no padding involved).
    #[inline(always)]
    pub fn inside(&self, oy: usize, ox: usize) -> Option<(usize, usize)> {
        let (top, left) = (oy * self.sh, ox * self.sw);
        let fits = top >= self.pad_top
            && left >= self.pad_left
            && top + self.kh <= self.h + self.pad_top
            && left + self.kw <= self.w + self.pad_left;
        fits.then(|| (top - self.pad_top, left - self.pad_left))
    }

    /// For output column `ox`: the kernel columns kx0..kx1 that fall inside the input, and the
    /// input column of kx0 (the in-bounds part of a kernel row is one contiguous run).
    #[inline(always)]
    fn x_run(&self, ox: usize) -> (usize, usize, usize) {
        let left = ox * self.sw;
        let kx0 = self.pad_left.saturating_sub(left).min(self.kw);
        let kx1 = (self.w + self.pad_left).saturating_sub(left).min(self.kw).max(kx0);
        (kx0, kx1, left + kx0 - self.pad_left.min(left + kx0))
    }
}

/// col: (N·OH·OW, KH·KW·C) ← x: (N, H, W, C). Copies whole channel runs at a time.
pub fn im2col(col: &mut [f32], x: &[f32], n: usize, g: &ConvGeometry) {
    let (c, k) = (g.c, g.patch_len());
    debug_assert!(col.len() >= n * g.out_pixels() * k && x.len() >= n * g.h * g.w * c);
    for b in 0..n {
        let xb = &x[b * g.h * g.w * c..(b + 1) * g.h * g.w * c];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let row = ((b * g.oh + oy) * g.ow + ox) * k;
                patch(&mut col[row..row + k], xb, g, oy, ox);
            }
        }
    }
}

/// dst: (KH·KW·C) ← the receptive field of output pixel (oy, ox) in one sample xb: (H, W, C).
#[inline(always)]
pub fn patch(dst: &mut [f32], xb: &[f32], g: &ConvGeometry, oy: usize, ox: usize) {
    let c = g.c;
    if let Some((iy, ix)) = g.inside(oy, ox) {
        // Entirely inside the input (always, with `valid` padding): KH contiguous runs.
        let run = g.kw * c;
        for (ky, d) in dst[..g.kh * run].chunks_exact_mut(run).enumerate() {
            let s = ((iy + ky) * g.w + ix) * c;
            copy_run(d, &xb[s..s + run]);
        }
        return;
    }
    for ky in 0..g.kh {
        let d = &mut dst[ky * g.kw * c..(ky + 1) * g.kw * c];
        let Some(iy) = g.in_y(oy, ky) else {
            d.fill(0.0);
            continue;
        };
        // The kernel row's in-bounds pixels are contiguous in the input: one copy.
        let (kx0, kx1, ix0) = g.x_run(ox);
        d[..kx0 * c].fill(0.0);
        d[kx1 * c..].fill(0.0);
        if kx1 > kx0 {
            let src = &xb[(iy * g.w + ix0) * c..(iy * g.w + ix0 + kx1 - kx0) * c];
            copy_run(&mut d[kx0 * c..kx1 * c], src);
        }
    }
}

/// dst ← src for short runs: 16 floats at a time as fixed-size moves (a `memcpy` call per
/// run of a few hundred bytes costs more than the copy).
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        for (d, s) in d.iter_mut().zip(s) {
            *d = *s;
        }
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// dx: (N, H, W, C) ← Σ over patches of dcol: (N·OH·OW, KH·KW·C). Overwrites dx.
pub fn col2im(dx: &mut [f32], dcol: &[f32], n: usize, g: &ConvGeometry) {
    let (c, k) = (g.c, g.patch_len());
    debug_assert!(dcol.len() >= n * g.out_pixels() * k && dx.len() >= n * g.h * g.w * c);
    dx[..n * g.h * g.w * c].fill(0.0);
    for b in 0..n {
        let xb = &mut dx[b * g.h * g.w * c..(b + 1) * g.h * g.w * c];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let row = ((b * g.oh + oy) * g.ow + ox) * k;
                let src = &dcol[row..row + k];
                for ky in 0..g.kh {
                    let Some(iy) = g.in_y(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_x(ox, kx) else { continue };
                        let s = &src[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                        let d = &mut xb[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                        for (d, s) in d.iter_mut().zip(s) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

/// Naive reference for [`im2col`]: one element at a time, padding tested with signed indices.
pub fn im2col_naive(col: &mut [f32], x: &[f32], n: usize, g: &ConvGeometry) {
    let k = g.patch_len();
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        for ci in 0..g.c {
                            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                            let v = if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                x[((b * g.h + iy as usize) * g.w + ix as usize) * g.c + ci]
                            } else {
                                0.0
                            };
                            col[((b * g.oh + oy) * g.ow + ox) * k + (ky * g.kw + kx) * g.c + ci] = v;
                        }
                    }
                }
            }
        }
    }
}

/// Naive reference for [`col2im`].
pub fn col2im_naive(dx: &mut [f32], dcol: &[f32], n: usize, g: &ConvGeometry) {
    let k = g.patch_len();
    dx[..n * g.h * g.w * g.c].fill(0.0);
    for b in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        for ci in 0..g.c {
                            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                dx[((b * g.h + iy as usize) * g.w + ix as usize) * g.c + ci] +=
                                    dcol[((b * g.oh + oy) * g.ow + ox) * k + (ky * g.kw + kx) * g.c + ci];
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn geometries() -> Vec<ConvGeometry> {
        let mut gs = Vec::new();
        for &(h, w, c) in &[(1usize, 1usize, 1usize), (5, 4, 3), (7, 7, 1), (6, 9, 2)] {
            for &(kh, kw) in &[(1usize, 1usize), (3, 3), (2, 3)] {
                for &(sh, sw) in &[(1usize, 1usize), (2, 2), (2, 1)] {
                    gs.extend(ConvGeometry::valid(h, w, c, kh, kw, sh, sw));
                    gs.extend(ConvGeometry::same(h, w, c, kh, kw, sh, sw));
                }
            }
        }
        gs
    }

    #[test]
    fn same_padding_follows_tensorflow() {
        let g = ConvGeometry::same(28, 28, 1, 3, 3, 1, 1).unwrap();
        assert_eq!((g.oh, g.ow, g.pad_top, g.pad_left), (28, 28, 1, 1));
        let g = ConvGeometry::same(5, 5, 1, 2, 2, 2, 2).unwrap();
        assert_eq!((g.oh, g.pad_top), (3, 0)); // total pad 1 goes to the bottom
        let g = ConvGeometry::valid(28, 28, 1, 3, 3, 1, 1).unwrap();
        assert_eq!((g.oh, g.ow), (26, 26));
        assert!(ConvGeometry::valid(2, 2, 1, 3, 3, 1, 1).is_none());
    }

    #[test]
    fn fast_matches_naive() {
        let mut rng = Rng::from_seed(4);
        for g in geometries() {
            let n = 2;
            let x: Vec<f32> = (0..n * g.h * g.w * g.c).map(|_| rng.uniform_f32()).collect();
            let len = n * g.out_pixels() * g.patch_len();
            let (mut a, mut b) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            im2col(&mut a, &x, n, &g);
            im2col_naive(&mut b, &x, n, &g);
            assert_eq!(a, b, "{g:?}");
            let dcol: Vec<f32> = (0..len).map(|_| rng.uniform_f32()).collect();
            let (mut da, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
            col2im(&mut da, &dcol, n, &g);
            col2im_naive(&mut db, &dcol, n, &g);
            for (p, q) in da.iter().zip(&db) {
                assert!((p - q).abs() < 1e-5, "{g:?}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), d> = <x, col2im(d)> for all x, d.
        let mut rng = Rng::from_seed(5);
        for g in geometries() {
            let x: Vec<f32> = (0..g.h * g.w * g.c).map(|_| rng.uniform_f32()).collect();
            let len = g.out_pixels() * g.patch_len();
            let d: Vec<f32> = (0..len).map(|_| rng.uniform_f32()).collect();
            let mut col = vec![0.0; len];
            im2col(&mut col, &x, 1, &g);
            let mut dx = vec![0.0; x.len()];
            col2im(&mut dx, &d, 1, &g);
            let lhs: f64 = col.iter().zip(&d).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{g:?}");
        }
    }
}
