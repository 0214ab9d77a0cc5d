//! Activation layers: f applied element-wise, f' in backward ([`build`] makes the layer of
//! any [`Activation`], PReLU's included).

use super::{Ctx, Layer, LayerKind, PRelu, Shape};
use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::kernels::elementwise;

/// The layer applying `act` to inputs of `shape`: a [`PRelu`] for PReLU (it learns its
/// slopes), an [`ActivationLayer`] otherwise.
pub fn build(shape: Shape, act: Activation) -> Result<Box<dyn Layer>> {
    match act {
        Activation::Prelu { init } => Ok(Box::new(PRelu::new(shape, init)?)),
        _ => Ok(Box::new(ActivationLayer::new(shape, act)?)),
    }
}

/// An element-wise activation without learned parameters, over any input shape.
#[derive(Debug)]
pub struct ActivationLayer {
    act: Activation,
    shape: Shape,
}

impl ActivationLayer {
    /// Builds the layer, rejecting parameters outside the function's domain and functions
    /// with learned parameters (see [`build`]).
    pub fn new(shape: Shape, act: Activation) -> Result<Self> {
        act.validate()?;
        if act.is_learned() {
            return Err(Error::config(
                act.name(),
                "learns its parameters, so it is a layer of its own (layers::activation::build makes it)",
            ));
        }
        Ok(ActivationLayer { act, shape })
    }

    pub fn activation(&self) -> Activation {
        self.act
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> LayerKind {
        LayerKind::Activation(self.act)
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
        let extra = [Activation::Elu { alpha: 0.1 }, Activation::LeakyRelu { negative_slope: 0.01 }];
        for act in Activation::ALL.into_iter().chain(extra) {
            let l = build(Shape::new(2, 3, 2), act).unwrap();
            assert_eq!(l.kind(), LayerKind::Activation(act));
            let x = away_from_zero(2 * 12, 0.05, 2.0, &mut rng);
            let mut params = vec![0.0; l.param_count()];
            l.init_params(&mut params, &mut rng);
            check_layer(l.as_ref(), 2, &x, &params, &Ctx::inference());
        }
    }

    #[test]
    fn invalid_alpha_is_rejected_at_build() {
        let err = ActivationLayer::new(Shape::flat(3), Activation::Elu { alpha: -0.5 }).unwrap_err();
        assert!(err.to_string().contains("got -0.5"), "{err}");
        let err = ActivationLayer::new(Shape::flat(3), Activation::Prelu { init: 0.25 }).unwrap_err();
        assert!(err.to_string().contains("learns"), "{err}");
    }
}
