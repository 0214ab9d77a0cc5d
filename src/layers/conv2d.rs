//! Conv2D: 2-D convolution over NHWC input, as im2col + GEMM or Winograd F(2×2, 3×3), with
//! Keras's kernel layout.

use serde::{Deserialize, Serialize};

use super::{Ctx, Layer, Shape};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::{col2im, im2col, sgemm, winograd, ConvGeometry};
use crate::rng::Rng;

/// Keras's `padding` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the output shrinks by kernel − 1.
    #[default]
    Valid,
    /// Zero padding so that out = ceil(in / stride), as TensorFlow defines it.
    Same,
}

/// Settings of a Conv2D layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dConfig {
    /// Number of output channels.
    pub filters: usize,
    /// (KH, KW).
    pub kernel_size: [usize; 2],
    /// (SH, SW); Keras's default (1, 1).
    pub strides: [usize; 2],
    pub padding: Padding,
    pub use_bias: bool,
    pub kernel_initializer: Init,
}

/// Input channels from which a 3×3, stride-1 convolution runs as Winograd F(2×2, 3×3) rather
/// than im2col + GEMM (with fewer, its 16 matrix products are too thin to pay).
const WINOGRAD_MIN_CHANNELS: usize = 8;

/// Conv2D. Parameters: kernel w: (KH, KW, C, OC), then bias b: (OC).
///
/// Computed as Winograd F(2×2, 3×3) (`kernels::winograd`) when the kernel is 3×3 with stride 1
/// and the input has at least `WINOGRAD_MIN_CHANNELS` channels, and as im2col + GEMM otherwise.
#[derive(Debug)]
pub struct Conv2d {
    cfg: Conv2dConfig,
    geo: ConvGeometry,
    input: Shape,
    winograd: bool,
}

impl Conv2d {
    /// Builds the layer for `input`, checking that the kernel fits.
    pub fn new(input: Shape, cfg: Conv2dConfig) -> Result<Self> {
        let [kh, kw] = cfg.kernel_size;
        let [sh, sw] = cfg.strides;
        if cfg.filters == 0 {
            return Err(Error::config("conv2d filters", "must be at least 1, got 0"));
        }
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::config(
                "conv2d kernel_size/strides",
                format!("must be at least 1, got kernel_size {:?}, strides {:?}", cfg.kernel_size, cfg.strides),
            ));
        }
        let (h, w, c) = (input.h, input.w, input.c);
        let geo = match cfg.padding {
            Padding::Valid => ConvGeometry::valid(h, w, c, kh, kw, sh, sw),
            Padding::Same => ConvGeometry::same(h, w, c, kh, kw, sh, sw),
        }
        .ok_or_else(|| {
            Error::config(
                "conv2d kernel_size",
                format!("kernel {kh}x{kw} is larger than its {h}x{w} input (with padding \"valid\")"),
            )
        })?;
        let winograd = winograd::applies(&geo) && geo.c >= WINOGRAD_MIN_CHANNELS;
        Ok(Conv2d { cfg, geo, input, winograd })
    }

    /// Whether this layer runs as Winograd F(2×2, 3×3).
    pub fn is_winograd(&self) -> bool {
        self.winograd
    }

    pub fn config(&self) -> &Conv2dConfig {
        &self.cfg
    }

    /// The convolution's geometry over one sample.
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geo
    }

    /// Number of kernel weights (the bias follows them in the parameters).
    pub fn kernel_len(&self) -> usize {
        self.geo.patch_len() * self.cfg.filters
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::Conv2d
    }

    fn as_conv2d(&self) -> Option<&Conv2d> {
        Some(self)
    }

    fn in_shape(&self) -> Shape {
        self.input
    }

    fn out_shape(&self) -> Shape {
        Shape::new(self.geo.oh, self.geo.ow, self.cfg.filters)
    }

    fn param_count(&self) -> usize {
        self.kernel_len() + if self.cfg.use_bias { self.cfg.filters } else { 0 }
    }

    fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        let [kh, kw] = self.cfg.kernel_size;
        let oc = self.cfg.filters;
        let mut v = vec![("kernel", vec![kh, kw, self.geo.c, oc])];
        if self.cfg.use_bias {
            v.push(("bias", vec![oc]));
        }
        v
    }

    fn init_params(&self, params: &mut [f32], rng: &mut Rng) {
        let (kl, oc) = (self.kernel_len(), self.cfg.filters);
        let ksz = self.cfg.kernel_size[0] * self.cfg.kernel_size[1];
        self.cfg.kernel_initializer.fill(&mut params[..kl], ksz * self.geo.c, ksz * oc, rng);
        params[kl..].fill(0.0);
    }

    /// Per sample on the im2col path: the column matrix's rows of this sample.
    fn scratch_len(&self) -> usize {
        self.geo.out_pixels() * self.geo.patch_len()
    }

    /// im2col's columns, or Winograd's buffers (which do not grow with `n` beyond one chunk).
    fn scratch_for(&self, n: usize) -> usize {
        if self.winograd {
            winograd::scratch_len(&self.geo, self.cfg.filters, n)
        } else {
            n * self.scratch_len()
        }
    }

    // out: (n, OH, OW, OC), scratch: col (n·OH·OW, KH·KW·C) or Winograd's, inp: (n, H, W, C)
    fn forward(&self, out: &mut [f32], scratch: &mut [f32], inp: &[f32], params: &[f32], n: usize, _ctx: &Ctx) {
        let (m, k, oc) = (n * self.geo.out_pixels(), self.geo.patch_len(), self.cfg.filters);
        let (w, b) = params.split_at(self.kernel_len());
        if self.winograd {
            return winograd::forward(winograd::Outputs::Store(out), scratch, inp, w, b, n, &self.geo, oc);
        }
        im2col(scratch, inp, n, &self.geo);
        sgemm(out, false, scratch, false, w, false, m, oc, k);
        if self.cfg.use_bias {
            for row in out[..m * oc].chunks_exact_mut(oc) {
                for (y, b) in row.iter_mut().zip(b) {
                    *y += b;
                }
            }
        }
    }

    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        dparams: &mut [f32],
        dout: &[f32],
        scratch: &mut [f32],
        inp: &[f32],
        _out: &[f32],
        params: &[f32],
        n: usize,
    ) {
        let (m, k, oc) = (n * self.geo.out_pixels(), self.geo.patch_len(), self.cfg.filters);
        let (dw, db) = dparams.split_at_mut(self.kernel_len());
        if self.winograd {
            let grads = winograd::OutputGrads::Store(dout);
            return winograd::backward(dinp, dw, db, grads, scratch, inp, n, &self.geo, oc);
        }
        // dw (K, OC) = colᵀ · dout
        sgemm(dw, false, scratch, true, dout, false, k, oc, m);
        if self.cfg.use_bias {
            db.fill(0.0);
            for row in dout[..m * oc].chunks_exact(oc) {
                for (g, d) in db.iter_mut().zip(row) {
                    *g += d;
                }
            }
        }
        if let Some(dinp) = dinp {
            // dcol (M, K) = dout · wᵀ, written over col (no longer needed), then folded back.
            let w = &params[..self.kernel_len()];
            sgemm(scratch, false, dout, false, w, true, m, k, oc);
            col2im(dinp, scratch, n, &self.geo);
        }
    }

    fn macs_per_sample(&self) -> (u64, u64) {
        let f = (self.geo.out_pixels() * self.geo.patch_len() * self.cfg.filters) as u64;
        (f, 2 * f)
    }
}

/// Direct convolution, the naive reference the tests compare against.
#[cfg(test)]
fn conv_naive(out: &mut [f32], inp: &[f32], w: &[f32], b: &[f32], n: usize, g: &ConvGeometry, oc: usize) {
    for bi in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for o in 0..oc {
                    let mut s = b.get(o).copied().unwrap_or(0.0) as f64;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                            if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                                continue;
                            }
                            for c in 0..g.c {
                                let x = inp[((bi * g.h + iy as usize) * g.w + ix as usize) * g.c + c];
                                s += x as f64 * w[((ky * g.kw + kx) * g.c + c) * oc + o] as f64;
                            }
                        }
                    }
                    out[((bi * g.oh + oy) * g.ow + ox) * oc + o] = s as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};

    fn layer(input: Shape, filters: usize, k: [usize; 2], s: [usize; 2], padding: Padding) -> Conv2d {
        let cfg = Conv2dConfig {
            filters,
            kernel_size: k,
            strides: s,
            padding,
            use_bias: true,
            kernel_initializer: Init::GlorotUniform,
        };
        Conv2d::new(input, cfg).unwrap()
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let mut rng = Rng::from_seed(1);
        for (input, f, k, s, p) in [
            (Shape::new(28, 28, 1), 32, [3, 3], [1, 1], Padding::Valid),
            (Shape::new(7, 5, 3), 4, [3, 2], [2, 1], Padding::Same),
            (Shape::new(6, 6, 2), 5, [1, 1], [1, 1], Padding::Valid),
            (Shape::new(5, 5, 2), 3, [5, 5], [1, 1], Padding::Valid),
            (Shape::new(9, 8, 8), 5, [3, 3], [1, 1], Padding::Valid),
            (Shape::new(6, 7, 17), 16, [3, 3], [1, 1], Padding::Same),
        ] {
            let l = layer(input, f, k, s, p);
            assert_eq!(l.is_winograd(), input.c >= 8, "{input:?}");
            let n = 3;
            let x: Vec<f32> = (0..n * input.len()).map(|_| rng.uniform_f32()).collect();
            let mut params = vec![0.0; l.param_count()];
            l.init_params(&mut params, &mut rng);
            for b in &mut params[l.kernel_len()..] {
                *b = rng.uniform_f32();
            }
            let out_len = n * l.out_shape().len();
            let (mut fast, mut slow) = (vec![0.0; out_len], vec![0.0; out_len]);
            let mut scratch = vec![0.0; l.scratch_for(n)];
            l.forward(&mut fast, &mut scratch, &x, &params, n, &Ctx::inference());
            let (w, b) = params.split_at(l.kernel_len());
            conv_naive(&mut slow, &x, w, b, n, &l.geo, f);
            let worst = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-5, "largest difference {worst}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_seed(2);
        for (input, p, s) in
            [(Shape::new(5, 4, 2), Padding::Valid, [1, 1]), (Shape::new(4, 5, 2), Padding::Same, [2, 1])]
        {
            let l = layer(input, 3, [3, 2], s, p);
            let n = 2;
            let x = away_from_zero(n * input.len(), 0.1, 1.0, &mut rng);
            let params = away_from_zero(l.param_count(), 0.1, 0.5, &mut rng);
            check_layer(&l, n, &x, &params, &Ctx::inference());
        }
        // The Winograd path, with valid and same padding.
        for (input, p) in [(Shape::new(5, 4, 8), Padding::Valid), (Shape::new(3, 4, 8), Padding::Same)] {
            let l = layer(input, 2, [3, 3], [1, 1], p);
            assert!(l.is_winograd());
            let n = 2;
            let x = away_from_zero(n * input.len(), 0.1, 1.0, &mut rng);
            let params = away_from_zero(l.param_count(), 0.1, 0.5, &mut rng);
            check_layer(&l, n, &x, &params, &Ctx::inference());
        }
    }

    #[test]
    fn kernel_larger_than_input_is_an_error() {
        let cfg = Conv2dConfig {
            filters: 2,
            kernel_size: [5, 5],
            strides: [1, 1],
            padding: Padding::Valid,
            use_bias: true,
            kernel_initializer: Init::HeNormal,
        };
        let err = Conv2d::new(Shape::new(3, 3, 1), cfg).unwrap_err().to_string();
        assert!(err.contains("larger than its 3x3 input"), "{err}");
    }

    #[test]
    fn article_layer_has_keras_param_count() {
        assert_eq!(layer(Shape::new(28, 28, 1), 32, [3, 3], [1, 1], Padding::Valid).param_count(), 320);
        assert_eq!(layer(Shape::new(13, 13, 32), 64, [3, 3], [1, 1], Padding::Valid).param_count(), 18_496);
    }
}
