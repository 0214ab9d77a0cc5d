//! Dense: a fully connected layer, y = x·W + b, with Keras's kernel layout (in, units).

use super::{Ctx, Layer, Shape};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::gemm::{small_gemm, transpose, Start};
use crate::kernels::sgemm;
use crate::rng::Rng;

/// Largest kernel (IN·UNITS values, here 512 KB) run with [`small_gemm`]: it fits in a core's L2
/// cache beside a slice's activations. The article's 1600 × 256 kernel is above it.
pub const SMALL_KERNEL: usize = 128 * 1024;

/// Settings of a Dense layer.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseConfig {
    pub units: usize,
    pub use_bias: bool,
    pub kernel_initializer: Init,
}

/// Dense. Parameters: kernel w: (IN, UNITS), then bias b: (UNITS).
#[derive(Debug)]
pub struct Dense {
    cfg: DenseConfig,
    input: Shape,
}

impl Dense {
    /// Builds the layer; the input must be flat (Keras applies Dense to the last axis only,
    /// which this library does not support: put a Flatten first).
    pub fn new(input: Shape, cfg: DenseConfig) -> Result<Self> {
        if cfg.units == 0 {
            return Err(Error::config("dense units", "must be at least 1, got 0"));
        }
        if input.h != 1 || input.w != 1 {
            return Err(Error::config(
                "dense input",
                format!("expects a flat input, got {}x{}x{}; add a flatten layer before it", input.h, input.w, input.c),
            ));
        }
        Ok(Dense { cfg, input })
    }

    fn n_in(&self) -> usize {
        self.input.c
    }

    /// Whether the kernel is small enough for [`small_gemm`] (which streams it from cache once per
    /// tile of rows); larger kernels go through the `gemm` crate, which packs them.
    fn small(&self) -> bool {
        self.n_in() * self.cfg.units <= SMALL_KERNEL
    }

    pub fn config(&self) -> &DenseConfig {
        &self.cfg
    }
}

impl Layer for Dense {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::Dense
    }

    fn in_shape(&self) -> Shape {
        self.input
    }

    fn out_shape(&self) -> Shape {
        Shape::flat(self.cfg.units)
    }

    fn param_count(&self) -> usize {
        self.n_in() * self.cfg.units + if self.cfg.use_bias { self.cfg.units } else { 0 }
    }

    fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = vec![("kernel", vec![self.n_in(), self.cfg.units])];
        if self.cfg.use_bias {
            v.push(("bias", vec![self.cfg.units]));
        }
        v
    }

    fn init_params(&self, params: &mut [f32], rng: &mut Rng) {
        let kl = self.n_in() * self.cfg.units;
        self.cfg.kernel_initializer.fill(&mut params[..kl], self.n_in(), self.cfg.units, rng);
        params[kl..].fill(0.0);
    }

    /// Room for the kernel transposed (UNITS, IN), which the input gradient is formed with.
    fn scratch_for(&self, _n: usize) -> usize {
        self.input_operand_len()
    }

    // out: (n, UNITS) ← inp: (n, IN) · w: (IN, UNITS) + b, the bias added first.
    fn forward(&self, out: &mut [f32], _scratch: &mut [f32], inp: &[f32], params: &[f32], n: usize, _ctx: &Ctx) {
        let (ni, u) = (self.n_in(), self.cfg.units);
        let (w, b) = params.split_at(ni * u);
        if self.small() {
            let start = if self.cfg.use_bias { Start::Bias(b) } else { Start::Zero };
            small_gemm(out, start, inp, false, w, n, u, ni);
            return;
        }
        sgemm(out, false, inp, false, w, false, n, u, ni);
        if self.cfg.use_bias {
            for row in out[..n * u].chunks_exact_mut(u) {
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
        out: &[f32],
        params: &[f32],
        n: usize,
    ) {
        self.backward_params(dparams, &[(inp, dout, n)]);
        if let Some(dinp) = dinp {
            let (wt, rest) = scratch.split_at_mut(self.input_operand_len());
            self.form_input_operand(wt, params);
            self.backward_input(dinp, dout, wt, rest, inp, out, params, n);
        }
    }

    /// The kernel transposed, (UNITS, IN), for a small kernel.
    fn input_operand_len(&self) -> usize {
        if self.small() {
            self.n_in() * self.cfg.units
        } else {
            0
        }
    }

    fn form_input_operand(&self, operand: &mut [f32], params: &[f32]) {
        if self.small() {
            let (ni, u) = (self.n_in(), self.cfg.units);
            transpose(&mut operand[..ni * u], &params[..ni * u], ni, u);
        }
    }

    /// Small kernels only: the `gemm` crate's products do not promise the bits of one product
    /// when k is cut in blocks.
    fn splits_backward(&self) -> bool {
        self.small()
    }

    fn backward_input(
        &self,
        dinp: &mut [f32],
        dout: &[f32],
        operand: &[f32],
        _scratch: &mut [f32],
        _inp: &[f32],
        _out: &[f32],
        params: &[f32],
        n: usize,
    ) {
        let (ni, u) = (self.n_in(), self.cfg.units);
        if self.small() {
            // dinp (n, IN) = dout · wᵀ, with wᵀ (UNITS, IN) the operand.
            small_gemm(dinp, Start::Zero, dout, false, operand, n, ni, u);
        } else {
            sgemm(dinp, false, dout, false, &params[..ni * u], true, n, ni, u);
        }
    }

    /// dw (IN, UNITS) = Σ over the blocks of inpᵀ · dout, as one chain of multiply-adds per
    /// element over the rows in order ([`Start::Accumulate`] continues it from block to block);
    /// db = the sum of dout's rows, in order.
    fn backward_params(&self, dparams: &mut [f32], blocks: &[(&[f32], &[f32], usize)]) {
        let (ni, u) = (self.n_in(), self.cfg.units);
        let (dw, db) = dparams.split_at_mut(ni * u);
        for (b, &(inp, dout, n)) in blocks.iter().enumerate() {
            if self.small() {
                let start = if b == 0 { Start::Zero } else { Start::Accumulate };
                small_gemm(dw, start, inp, true, dout, ni, u, n);
            } else {
                sgemm(dw, b > 0, inp, true, dout, false, ni, u, n);
            }
        }
        if self.cfg.use_bias {
            db.fill(0.0);
            for &(_, dout, n) in blocks {
                for row in dout[..n * u].chunks_exact(u) {
                    for (g, d) in db.iter_mut().zip(row) {
                        *g += d;
                    }
                }
            }
        }
    }

    fn as_dense(&self) -> Option<&Dense> {
        Some(self)
    }

    fn macs_per_sample(&self) -> (u64, u64) {
        let f = (self.n_in() * self.cfg.units) as u64;
        (f, 2 * f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};

    #[test]
    fn forward_matches_naive_and_gradients_check() {
        let mut rng = Rng::from_seed(3);
        let l =
            Dense::new(Shape::flat(7), DenseConfig { units: 5, use_bias: true, kernel_initializer: Init::HeNormal })
                .unwrap();
        let n = 3;
        let x = away_from_zero(n * 7, 0.1, 1.0, &mut rng);
        let params = away_from_zero(l.param_count(), 0.1, 0.5, &mut rng);
        let mut out = vec![0.0; n * 5];
        l.forward(&mut out, &mut [], &x, &params, n, &Ctx::inference());
        for i in 0..n {
            for j in 0..5 {
                let mut s = params[35 + j] as f64;
                for p in 0..7 {
                    s += x[i * 7 + p] as f64 * params[p * 5 + j] as f64;
                }
                assert!((out[i * 5 + j] as f64 - s).abs() < 1e-5);
            }
        }
        check_layer(&l, n, &x, &params, &Ctx::inference());
    }

    #[test]
    fn a_kernel_above_the_small_size_gives_the_same_products() {
        // 600 × 256 > SMALL_KERNEL: the gemm crate's path, checked against the naive product.
        let mut rng = Rng::from_seed(4);
        let cfg = DenseConfig { units: 256, use_bias: true, kernel_initializer: Init::HeNormal };
        let l = Dense::new(Shape::flat(600), cfg).unwrap();
        assert!(!l.small() && 600 * 256 > SMALL_KERNEL);
        let n = 5;
        let x = away_from_zero(n * 600, 0.1, 1.0, &mut rng);
        let params = away_from_zero(l.param_count(), 0.01, 0.05, &mut rng);
        let mut out = vec![0.0; n * 256];
        l.forward(&mut out, &mut [], &x, &params, n, &Ctx::inference());
        for i in 0..n {
            for j in (0..256).step_by(37) {
                let mut s = params[600 * 256 + j] as f64;
                for p in 0..600 {
                    s += x[i * 600 + p] as f64 * params[p * 256 + j] as f64;
                }
                assert!((out[i * 256 + j] as f64 - s).abs() < 1e-4, "{i} {j}");
            }
        }
    }

    #[test]
    fn zero_units_and_unflattened_input_are_errors() {
        let cfg = DenseConfig { units: 0, use_bias: true, kernel_initializer: Init::HeNormal };
        assert!(Dense::new(Shape::flat(3), cfg).unwrap_err().to_string().contains("units"));
        let cfg = DenseConfig { units: 4, use_bias: true, kernel_initializer: Init::HeNormal };
        assert!(Dense::new(Shape::new(2, 2, 1), cfg).unwrap_err().to_string().contains("flatten"));
    }

    #[test]
    fn article_dense_param_counts() {
        let cfg = |u| DenseConfig { units: u, use_bias: true, kernel_initializer: Init::HeNormal };
        assert_eq!(Dense::new(Shape::flat(1600), cfg(256)).unwrap().param_count(), 409_856);
        assert_eq!(Dense::new(Shape::flat(256), cfg(10)).unwrap().param_count(), 2_570);
    }
}
