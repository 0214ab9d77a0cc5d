//! Flatten: (H, W, C) → (H·W·C), a copy in NHWC order (Keras's channels-last order).

use super::{Ctx, Layer, Shape};

/// Flatten; parameter-free.
#[derive(Debug)]
pub struct Flatten {
    input: Shape,
}

impl Flatten {
    pub fn new(input: Shape) -> Self {
        Flatten { input }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> super::LayerKind {
        super::LayerKind::Flatten
    }

    fn in_shape(&self) -> Shape {
        self.input
    }

    fn out_shape(&self) -> Shape {
        Shape::flat(self.input.len())
    }

    fn forward(&self, out: &mut [f32], _scratch: &mut [f32], inp: &[f32], _params: &[f32], n: usize, _ctx: &Ctx) {
        let len = n * self.input.len();
        out[..len].copy_from_slice(&inp[..len]);
    }

    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        _dparams: &mut [f32],
        dout: &[f32],
        _scratch: &mut [f32],
        _inp: &[f32],
        _out: &[f32],
        _params: &[f32],
        n: usize,
    ) {
        if let Some(dinp) = dinp {
            let len = n * self.input.len();
            dinp[..len].copy_from_slice(&dout[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};
    use crate::rng::Rng;

    #[test]
    fn gradients_match_finite_differences() {
        let l = Flatten::new(Shape::new(2, 3, 2));
        assert_eq!(l.out_shape(), Shape::flat(12));
        let x = away_from_zero(24, 0.1, 1.0, &mut Rng::from_seed(8));
        check_layer(&l, 2, &x, &[], &Ctx::inference());
    }
}
