//! PReLU: a leaky ReLU whose negative slope is learned, one slope per channel.

use super::{Ctx, Layer, LayerKind, Shape};
use crate::activations::Activation;
use crate::error::Result;
use crate::rng::Rng;

/// PReLU (He et al. 2015). Parameters: slopes a: (C), shared over height and width.
#[derive(Debug)]
pub struct PRelu {
    shape: Shape,
    init: f32,
}

impl PRelu {
    /// Builds the layer with every slope starting at `init` (0.25 in He et al. and PyTorch).
    pub fn new(shape: Shape, init: f32) -> Result<Self> {
        Activation::Prelu { init }.validate()?;
        Ok(PRelu { shape, init })
    }
}

impl Layer for PRelu {
    fn kind(&self) -> LayerKind {
        LayerKind::Activation(Activation::Prelu { init: self.init })
    }

    fn in_shape(&self) -> Shape {
        self.shape
    }

    fn out_shape(&self) -> Shape {
        self.shape
    }

    fn param_count(&self) -> usize {
        self.shape.c
    }

    fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        vec![("alpha", vec![self.shape.c])]
    }

    fn init_params(&self, params: &mut [f32], _rng: &mut Rng) {
        params.fill(self.init);
    }

    // out = x if x > 0 else a[c]·x
    fn forward(&self, out: &mut [f32], _scratch: &mut [f32], inp: &[f32], params: &[f32], n: usize, _ctx: &Ctx) {
        let c = self.shape.c;
        for (yrow, xrow) in out[..n * self.shape.len()].chunks_exact_mut(c).zip(inp.chunks_exact(c)) {
            for ((y, &x), &a) in yrow.iter_mut().zip(xrow).zip(params) {
                *y = if x > 0.0 { x } else { a * x };
            }
        }
    }

    // dinp = dout·(1 or a[c]); da[c] = Σ dout·x over x ≤ 0
    fn backward(
        &self,
        dinp: Option<&mut [f32]>,
        dparams: &mut [f32],
        dout: &[f32],
        _scratch: &mut [f32],
        inp: &[f32],
        _out: &[f32],
        params: &[f32],
        n: usize,
    ) {
        let (c, len) = (self.shape.c, n * self.shape.len());
        dparams.fill(0.0);
        for (dyrow, xrow) in dout[..len].chunks_exact(c).zip(inp.chunks_exact(c)) {
            for ((g, &dy), &x) in dparams.iter_mut().zip(dyrow).zip(xrow) {
                if x <= 0.0 {
                    *g += dy * x;
                }
            }
        }
        if let Some(dinp) = dinp {
            for ((dxrow, dyrow), xrow) in
                dinp[..len].chunks_exact_mut(c).zip(dout.chunks_exact(c)).zip(inp.chunks_exact(c))
            {
                for (((dx, &dy), &x), &a) in dxrow.iter_mut().zip(dyrow).zip(xrow).zip(params) {
                    *dx = if x > 0.0 { dy } else { a * dy };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{away_from_zero, check_layer};

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_seed(5);
        let l = PRelu::new(Shape::new(2, 2, 3), 0.25).unwrap();
        let x = away_from_zero(2 * 12, 0.05, 2.0, &mut rng);
        let mut params = vec![0.0; 3];
        l.init_params(&mut params, &mut rng);
        assert_eq!(params, vec![0.25; 3]);
        params[1] = 0.6;
        check_layer(&l, 2, &x, &params, &Ctx::inference());
    }
}
