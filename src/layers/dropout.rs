//! Dropout with inverted scaling: active in training only, the identity at inference.

use super::{Ctx, Layer, Shape};
use crate::error::{Error, Result};
use crate::kernels::elementwise;
use crate::kernels::simd::{multiversion, Level};
use crate::rng::{hash32, Rng, Stream};

/// Dropout(rate): in training each value is zeroed with probability `rate` and the survivors
/// are scaled by 1 / (1 − rate), so inference needs no rescaling (Keras's and PyTorch's form).
///
/// The mask of sample `i` of step `t` in layer `l` comes from the stream (seed, t, i, l), so it
/// does not depend on how a batch is split across threads.
#[derive(Debug)]
pub struct Dropout {
    rate: f32,
    shape: Shape,
}

impl Dropout {
    /// Builds the layer; `rate` must be in [0, 1).
    pub fn new(shape: Shape, rate: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::config("dropout rate", format!("must be in [0, 1), got {rate}")));
        }
        Ok(Dropout { rate, shape })
    }

    pub fn rate(&self) -> f32 {
        self.rate
    }
}

impl Layer for Dropout {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::Dropout
    }

    fn in_shape(&self) -> Shape {
        self.shape
    }

    fn out_shape(&self) -> Shape {
        self.shape
    }

    fn scratch_len(&self) -> usize {
        self.shape.len()
    }

    // out = inp · mask, mask ∈ {0, 1/(1−rate)} saved in scratch (training); out = inp (inference)
    fn forward(&self, out: &mut [f32], scratch: &mut [f32], inp: &[f32], _params: &[f32], n: usize, ctx: &Ctx) {
        let len = self.shape.len();
        if !ctx.train || self.rate == 0.0 {
            out[..n * len].copy_from_slice(&inp[..n * len]);
            scratch[..n * len].fill(1.0);
            return;
        }
        let scale = 1.0 / (1.0 - self.rate);
        // A value is dropped when its uniform 32-bit draw falls below rate·2³².
        let threshold = (self.rate as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32;
        let level = Level::current();
        for i in 0..n {
            let sample = ctx.first_sample + i as u64;
            let (k0, k1) = Rng::key32(ctx.seed, Stream::Dropout, &[ctx.step, sample, ctx.layer as u64]);
            let (y, m, x) = (&mut out[i * len..(i + 1) * len], &mut scratch[i * len..(i + 1) * len], &inp[i * len..]);
            mask_at(level, y, m, x, (k0, k1), threshold, scale);
        }
    }

    // dinp = dout · mask
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
        let len = n * self.shape.len();
        elementwise::mul(&mut dinp[..len], &dout[..len], &scratch[..len]);
    }
}

multiversion! {
    /// One sample's mask and output: mask[j] = 0 when the draw for value j, keyed by `key`, falls
    /// below `threshold`, else `scale`; out = x · mask. Compiled for `level`.
    fn mask_at(out: &mut [f32], mask: &mut [f32], x: &[f32], key: (u32, u32), threshold: u32, scale: f32) {
        let (k0, k1) = key;
        for (j, m) in mask.iter_mut().enumerate() {
            let draw = hash32(hash32(j as u32 ^ k0).wrapping_add(k1));
            *m = if draw < threshold { 0.0 } else { scale };
        }
        for ((y, &x), &m) in out.iter_mut().zip(x).zip(mask.iter()) {
            *y = x * m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};

    fn train_ctx(step: u64) -> Ctx {
        Ctx { train: true, seed: 1, step, first_sample: 0, layer: 3 }
    }

    #[test]
    fn drops_the_right_fraction_and_scales_survivors() {
        let l = Dropout::new(Shape::new(10, 10, 10), 0.25).unwrap();
        let n = 20;
        let x = vec![1.0; n * 1000];
        let mut out = vec![0.0; x.len()];
        let mut mask = vec![0.0; x.len()];
        l.forward(&mut out, &mut mask, &x, &[], n, &train_ctx(0));
        let dropped = out.iter().filter(|&&y| y == 0.0).count() as f64 / out.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "dropped {dropped}");
        assert!(out.iter().all(|&y| y == 0.0 || (y - 1.0 / 0.75).abs() < 1e-6));
        let mean = out.iter().map(|&y| y as f64).sum::<f64>() / out.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "expectation preserved, got {mean}");
    }

    #[test]
    fn identity_at_inference_and_masks_independent_of_split() {
        let l = Dropout::new(Shape::flat(64), 0.5).unwrap();
        let x: Vec<f32> = (0..4 * 64).map(|i| i as f32).collect();
        let mut out = vec![0.0; x.len()];
        let mut mask = vec![0.0; x.len()];
        l.forward(&mut out, &mut mask, &x, &[], 4, &Ctx::inference());
        assert_eq!(out, x);
        // Whole batch at once vs. two halves with first_sample offsets: same masks.
        l.forward(&mut out, &mut mask, &x, &[], 4, &train_ctx(7));
        let mut half = vec![0.0; 2 * 64];
        let mut m2 = vec![0.0; 2 * 64];
        let ctx = Ctx { first_sample: 2, ..train_ctx(7) };
        l.forward(&mut half, &mut m2, &x[128..], &[], 2, &ctx);
        assert_eq!(&out[128..], &half[..]);
        // Another step draws another mask.
        let mut other = vec![0.0; x.len()];
        l.forward(&mut other, &mut mask, &x, &[], 4, &train_ctx(8));
        assert_ne!(out, other);
    }

    #[test]
    fn every_level_draws_the_scalar_loops_mask() {
        let (key, threshold, scale) = ((0x1234_5678, 0x9abc_def0), 1 << 30, 4.0 / 3.0);
        for len in [1, 15, 16, 17, 1000] {
            let x: Vec<f32> = (0..len).map(|i| i as f32 - 3.5).collect();
            let m_ref: Vec<f32> = (0..len)
                .map(|j| if hash32(hash32(j as u32 ^ key.0).wrapping_add(key.1)) < threshold { 0.0 } else { scale })
                .collect();
            for level in Level::supported() {
                let (mut y, mut m) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                mask_at(level, &mut y, &mut m, &x, key, threshold, scale);
                assert_eq!(m, m_ref, "mask at {level}, {len} values");
                assert!(y.iter().zip(&x).zip(&m).all(|((y, x), m)| y.to_bits() == (x * m).to_bits()), "{level}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_seed(7);
        let l = Dropout::new(Shape::flat(10), 0.3).unwrap();
        let x = away_from_zero(20, 0.1, 1.0, &mut rng);
        check_layer(&l, 2, &x, &[], &train_ctx(1));
    }

    #[test]
    fn rate_outside_unit_interval_is_rejected() {
        for r in [1.0f32, 1.5, -0.1, f32::NAN] {
            let err = Dropout::new(Shape::flat(3), r).unwrap_err().to_string();
            assert!(err.contains("must be in [0, 1)"), "{err}");
        }
    }
}
