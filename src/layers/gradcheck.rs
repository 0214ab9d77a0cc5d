//! Central finite-difference gradient checks shared by the layer tests.

use super::{Ctx, Layer};
use crate::rng::Rng;

/// Random values in ±[lo, hi] (kept away from 0 so kinks such as ReLU's are not crossed).
pub fn away_from_zero(n: usize, lo: f32, hi: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let m = lo + (hi - lo) * rng.uniform_f32();
            if rng.uniform() < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect()
}

/// Checks backward against central differences of L = Σ out·r for random r, over every input
/// and every parameter. Returns the largest absolute difference seen.
pub fn check_layer(layer: &dyn Layer, n: usize, inp: &[f32], params: &[f32], ctx: &Ctx) -> f64 {
    let out_len = n * layer.out_shape().len();
    let mut rng = Rng::from_seed(99);
    let r: Vec<f32> = (0..out_len).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect();
    let mut scratch = vec![0.0; layer.scratch_for(n)];
    let loss = |inp: &[f32], params: &[f32]| -> f64 {
        let mut out = vec![0.0; out_len];
        let mut s = vec![0.0; layer.scratch_for(n)];
        layer.forward(&mut out, &mut s, inp, params, n, ctx);
        out.iter().zip(&r).map(|(o, r)| *o as f64 * *r as f64).sum()
    };
    let mut out = vec![0.0; out_len];
    layer.forward(&mut out, &mut scratch, inp, params, n, ctx);
    let mut dinp = vec![f32::NAN; inp.len()];
    let mut dparams = vec![f32::NAN; params.len()];
    layer.backward(Some(&mut dinp), &mut dparams, &r, &mut scratch, inp, &out, params, n);

    let h = 1e-3f32;
    let mut worst = 0.0f64;
    let mut check = |analytic: f32, plus: f64, minus: f64, what: &str| {
        let numeric = (plus - minus) / (2.0 * h as f64);
        let d = (numeric - analytic as f64).abs();
        worst = worst.max(d);
        assert!(d <= 2e-3 + 1e-2 * numeric.abs(), "{:?} {what}: analytic {analytic}, numeric {numeric}", layer.kind());
    };
    for i in 0..inp.len() {
        let mut x = inp.to_vec();
        x[i] += h;
        let p = loss(&x, params);
        x[i] -= 2.0 * h;
        let m = loss(&x, params);
        check(dinp[i], p, m, &format!("input {i}"));
    }
    for i in 0..params.len() {
        let mut w = params.to_vec();
        w[i] += h;
        let p = loss(inp, &w);
        w[i] -= 2.0 * h;
        let m = loss(inp, &w);
        check(dparams[i], p, m, &format!("param {i}"));
    }
    worst
}
