//! Activation layers (ELU, ReLU, LeakyReLU, SELU): f applied element-wise, f' in backward.

use super::{Ctx, Layer, Shape};
use crate::activations::Activation;
use crate::error::Result;
use crate::kernels::elementwise;

/// An element-wise activation over any input shape.
#[derive(Debug)]
pub struct ActivationLayer {
    act: Activation,
    shape: Shape,
}

impl ActivationLayer {
    /// Builds the layer, rejecting parameters outside the function's domain.
    pub fn new(shape: Shape, act: Activation) -> Result<Self> {
        act.validate()?;
        Ok(ActivationLayer { act, shape })
    }

    pub fn activation(&self) -> Activation {
        self.act
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        match self.act {
            Activation::Elu { .. } => "ELU",
            Activation::Relu => "ReLU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Selu => "SELU",
        }
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.act)
    }

    fn in_shape(&self) -> Shape {
        self.shape
    }

    fn out_shape(&self) -> Shape {
        self.shape
    }

    // out = f(inp), element-wise
    fn forward(&self, out: &mut [f32], _scratch: &mut [f32], inp: &[f32], _params: &[f32], n: usize, _ctx: &Ctx) {
        let len = n * self.shape.len();
        elementwise::activation_forward(self.act, &mut out[..len], &inp[..len]);
    }

    // dinp = dout · f'(inp), with f' taken from the saved input and output
    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        _dparams: &mut [f32],
        dout: &[f32],
        _scratch: &mut [f32],
        inp: &[f32],
        out: &[f32],
        _params: &[f32],
        n: usize,
    ) {
        let Some(dinp) = dinp else { return };
        let len = n * self.shape.len();
        elementwise::activation_backward(self.act, &mut dinp[..len], &dout[..len], &inp[..len], &out[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};
    use crate::rng::Rng;

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_seed(4);
        for act in [
            Activation::Elu { alpha: 1.0 },
            Activation::Elu { alpha: 0.1 },
            Activation::Relu,
            Activation::LeakyRelu { negative_slope: 0.3 },
            Activation::Selu,
        ] {
            let l = ActivationLayer::new(Shape::new(2, 3, 2), act).unwrap();
            let x = away_from_zero(2 * 12, 0.05, 2.0, &mut rng);
            check_layer(&l, 2, &x, &[], &Ctx::inference());
        }
    }

    #[test]
    fn invalid_alpha_is_rejected_at_build() {
        let err = ActivationLayer::new(Shape::flat(3), Activation::Elu { alpha: -0.5 }).unwrap_err();
        assert!(err.to_string().contains("got -0.5"), "{err}");
    }
}
