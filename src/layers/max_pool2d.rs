//! MaxPooling2D: the maximum over each pool window (padding "valid"), per channel.

use super::{Ctx, Layer, Shape};
use crate::error::{Error, Result};
use crate::kernels::simd::{multiversion, Level};
use crate::kernels::ConvGeometry;

/// MaxPooling2D(pool_size, strides); strides default to the pool size, as in Keras.
#[derive(Debug)]
pub struct MaxPool2d {
    geo: ConvGeometry,
}

impl MaxPool2d {
    /// Builds the layer, checking that the window fits the input.
    pub fn new(input: Shape, pool_size: [usize; 2], strides: Option<[usize; 2]>) -> Result<Self> {
        let [ph, pw] = pool_size;
        let [sh, sw] = strides.unwrap_or(pool_size);
        let geo = ConvGeometry::valid(input.h, input.w, input.c, ph, pw, sh, sw).ok_or_else(|| {
            Error::config(
                "max_pooling2d pool_size",
                format!("pool {ph}x{pw} with strides {sh}x{sw} does not fit a {}x{} input (all must be >= 1 and the pool no larger than the input)", input.h, input.w),
            )
        })?;
        Ok(MaxPool2d { geo })
    }
}

impl MaxPool2d {
    /// The pooling window's geometry over one sample.
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geo
    }

    /// Whether the windows tile the input (strides equal to the pool size).
    pub fn tiles(&self) -> bool {
        self.geo.sh == self.geo.kh && self.geo.sw == self.geo.kw
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::MaxPooling2d
    }

    fn as_max_pool2d(&self) -> Option<&MaxPool2d> {
        Some(self)
    }

    fn in_shape(&self) -> Shape {
        Shape::new(self.geo.h, self.geo.w, self.geo.c)
    }

    fn out_shape(&self) -> Shape {
        Shape::new(self.geo.oh, self.geo.ow, self.geo.c)
    }

    fn scratch_len(&self) -> usize {
        self.geo.out_pixels() * self.geo.c
    }

    // out[b, oy, ox, c] = max over the window of inp[b, oy·sh + ky, ox·sw + kx, c];
    // scratch[b, oy, ox, c] = the window position (ky·KW + kx) of the first maximum.
    fn forward(&self, out: &mut [f32], scratch: &mut [f32], inp: &[f32], _params: &[f32], n: usize, _ctx: &Ctx) {
        forward_at(Level::current(), out, scratch, inp, n, &self.geo);
    }

    // The gradient goes to the saved position of each window's maximum (TensorFlow's choice:
    // the first maximum in row-major order).
    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        _dparams: &mut [f32],
        dout: &[f32],
        scratch: &mut [f32],
        _inp: &[f32],
        _out: &[f32],
        _params: &[f32],
        n: usize,
    ) {
        let Some(dinp) = dinp else { return };
        backward_at(Level::current(), dinp, dout, scratch, n, &self.geo, self.tiles());
    }
}

multiversion! {
    /// [`MaxPool2d`]'s forward compiled for `level`: out (n, OH, OW, C) and scratch (the argmax
    /// positions) ← inp (n, H, W, C).
    fn forward_at(out: &mut [f32], scratch: &mut [f32], inp: &[f32], n: usize, g: &ConvGeometry) {
        let c = g.c;
        for b in 0..n {
            let x = &inp[b * g.h * g.w * c..(b + 1) * g.h * g.w * c];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let o = ((b * g.oh + oy) * g.ow + ox) * c;
                    let (y, arg) = (&mut out[o..o + c], &mut scratch[o..o + c]);
                    let first = (oy * g.sh * g.w + ox * g.sw) * c;
                    y.copy_from_slice(&x[first..first + c]);
                    arg.fill(0.0);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let i = ((oy * g.sh + ky) * g.w + ox * g.sw + kx) * c;
                            let pos = (ky * g.kw + kx) as f32;
                            // Branch-free over channels: strict `>` keeps the first maximum.
                            for ((y, a), &v) in y.iter_mut().zip(arg.iter_mut()).zip(&x[i..i + c]) {
                                let more = v > *y;
                                *y = if more { v } else { *y };
                                *a = if more { pos } else { *a };
                            }
                        }
                    }
                }
            }
        }
        }
}

multiversion! {
    /// [`MaxPool2d`]'s backward compiled for `level`: dinp (n, H, W, C) ← dout routed to the saved
    /// argmax positions in scratch; `tiles`: the windows tile the input.
    fn backward_at(dinp: &mut [f32], dout: &[f32], scratch: &[f32], n: usize, g: &ConvGeometry, tiles: bool) {
        let c = g.c;
        let per = g.h * g.w * c;
        if !tiles || g.oh * g.kh != g.h || g.ow * g.kw != g.w {
            // Overlapping windows, or rows/columns no window covers: start from zero.
            dinp[..n * per].fill(0.0);
        }
        for b in 0..n {
            let dx = &mut dinp[b * per..(b + 1) * per];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let o = ((b * g.oh + oy) * g.ow + ox) * c;
                    let (dy, arg) = (&dout[o..o + c], &scratch[o..o + c]);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let i = ((oy * g.sh + ky) * g.w + ox * g.sw + kx) * c;
                            let pos = (ky * g.kw + kx) as f32;
                            let d = &mut dx[i..i + c];
                            if tiles {
                                // Each input lies in exactly one window: write it once, branch-free.
                                for ((d, &dy), &a) in d.iter_mut().zip(dy).zip(arg) {
                                    *d = if a == pos { dy } else { 0.0 };
                                }
                            } else {
                                for ((d, &dy), &a) in d.iter_mut().zip(dy).zip(arg) {
                                    *d += if a == pos { dy } else { 0.0 };
                                }
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
    use crate::layers::gradcheck::check_layer;
    use crate::rng::Rng;

    #[test]
    fn forward_takes_window_maxima_and_floors_odd_sizes() {
        let l = MaxPool2d::new(Shape::new(5, 5, 1), [2, 2], None).unwrap();
        assert_eq!(l.out_shape(), Shape::new(2, 2, 1));
        let x: Vec<f32> = (0..25).map(|i| i as f32).collect();
        let mut out = vec![0.0; 4];
        l.forward(&mut out, &mut [0.0; 4], &x, &[], 1, &Ctx::inference());
        assert_eq!(out, vec![6.0, 8.0, 16.0, 18.0]);
        // Article shapes: 26 -> 13, 11 -> 5.
        assert_eq!(MaxPool2d::new(Shape::new(11, 11, 64), [2, 2], None).unwrap().out_shape(), Shape::new(5, 5, 64));
    }

    #[test]
    fn every_level_matches_the_naive_pooling() {
        let mut rng = crate::rng::Rng::from_seed(3);
        // Tiling and overlapping windows, odd sizes, a channel count off the vector width.
        for (pool, strides) in [([2, 2], None), ([3, 3], Some([2, 2])), ([2, 3], Some([1, 1]))] {
            let l = MaxPool2d::new(Shape::new(7, 9, 19), pool, strides).unwrap();
            let (g, n) = (*l.geometry(), 3);
            let x: Vec<f32> = (0..n * g.h * g.w * g.c).map(|_| (rng.below(7) as f32) - 3.0).collect();
            let dy: Vec<f32> = (0..n * g.out_pixels() * g.c).map(|_| rng.uniform_f32()).collect();
            // Naive: the first maximum of each window, and the gradient summed onto it.
            let (mut y_ref, mut dx_ref) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
            for b in 0..n {
                for (oy, ox, c) in
                    (0..g.oh).flat_map(|oy| (0..g.ow).flat_map(move |ox| (0..g.c).map(move |c| (oy, ox, c))))
                {
                    let at = |ky: usize, kx: usize| ((b * g.h + oy * g.sh + ky) * g.w + ox * g.sw + kx) * g.c + c;
                    let mut best = at(0, 0);
                    for (ky, kx) in (0..g.kh).flat_map(|ky| (0..g.kw).map(move |kx| (ky, kx))) {
                        if x[at(ky, kx)] > x[best] {
                            best = at(ky, kx);
                        }
                    }
                    let o = ((b * g.oh + oy) * g.ow + ox) * g.c + c;
                    y_ref[o] = x[best];
                    dx_ref[best] += dy[o];
                }
            }
            for level in Level::supported() {
                let (mut y, mut arg) = (vec![f32::NAN; dy.len()], vec![f32::NAN; dy.len()]);
                forward_at(level, &mut y, &mut arg, &x, n, &g);
                assert_eq!(y, y_ref, "forward at {level}, pool {pool:?}");
                let mut dx = vec![f32::NAN; x.len()];
                backward_at(level, &mut dx, &dy, &arg, n, &g, l.tiles());
                let worst = dx.iter().zip(&dx_ref).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(worst <= 1e-6, "backward at {level}, pool {pool:?}: {worst}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Distinct, well-separated values so no window has a near-tie within the FD step.
        let mut rng = Rng::from_seed(9);
        let n = 2;
        for (shape, pool, strides) in [(Shape::new(4, 5, 2), [2, 2], None), (Shape::new(5, 5, 1), [3, 2], Some([1, 2]))]
        {
            let l = MaxPool2d::new(shape, pool, strides).unwrap();
            let mut x: Vec<f32> = (0..n * shape.len()).map(|i| i as f32 * 0.05).collect();
            rng.shuffle(&mut x);
            check_layer(&l, n, &x, &[], &Ctx::inference());
        }
    }

    #[test]
    fn pool_larger_than_input_is_an_error() {
        assert!(MaxPool2d::new(Shape::new(1, 1, 4), [2, 2], None).is_err());
        assert!(MaxPool2d::new(Shape::new(4, 4, 4), [0, 2], None).is_err());
    }
}
