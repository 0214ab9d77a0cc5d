//! Softmax over the last axis; the loss fuses its backward pass (see `loss`).

use super::{Ctx, Layer, Shape};

/// Softmax over a flat input, computed stably (the row maximum is subtracted first).
#[derive(Debug)]
pub struct Softmax {
    shape: Shape,
}

impl Softmax {
    pub fn new(shape: Shape) -> Self {
        Softmax { shape }
    }
}

/// Softmax of one row, in place into `y`.
#[inline]
pub fn softmax_row(y: &mut [f32], x: &[f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - max).exp();
        sum += *y;
    }
    let inv = 1.0 / sum;
    for y in y.iter_mut() {
        *y *= inv;
    }
}

impl Layer for Softmax {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::Softmax
    }

    fn in_shape(&self) -> Shape {
        self.shape
    }

    fn out_shape(&self) -> Shape {
        self.shape
    }

    fn forward(&self, out: &mut [f32], _scratch: &mut [f32], inp: &[f32], _params: &[f32], n: usize, _ctx: &Ctx) {
        let c = self.shape.len();
        for (y, x) in out[..n * c].chunks_exact_mut(c).zip(inp.chunks_exact(c)) {
            softmax_row(y, x);
        }
    }

    // dinp = y ⊙ (dout − Σ dout·y), the Jacobian-vector product of softmax
    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        _dparams: &mut [f32],
        dout: &[f32],
        _scratch: &mut [f32],
        _inp: &[f32],
        out: &[f32],
        _params: &[f32],
        n: usize,
    ) {
        let Some(dinp) = dinp else { return };
        let c = self.shape.len();
        for ((dx, dy), y) in dinp[..n * c].chunks_exact_mut(c).zip(dout.chunks_exact(c)).zip(out.chunks_exact(c)) {
            let dot: f32 = dy.iter().zip(y).map(|(a, b)| a * b).sum();
            for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
                *dx = y * (dy - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};
    use crate::rng::Rng;

    #[test]
    fn rows_sum_to_one_even_for_large_logits() {
        let mut y = [0.0; 3];
        softmax_row(&mut y, &[1000.0, 1001.0, 999.0]);
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(y[1] > y[0] && y[0] > y[2]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_seed(6);
        let l = Softmax::new(Shape::flat(5));
        let x = away_from_zero(3 * 5, 0.0, 2.0, &mut rng);
        check_layer(&l, 3, &x, &[], &Ctx::inference());
    }
}
