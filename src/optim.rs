//! Optimisers over the flat parameter buffer: Adam in Keras's form, and SGD with momentum.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::simd::{multiversion, Level};

/// Settings of an optimiser, as given on the command line or in a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Keras's Adam: lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-7 by default.
    Adam { lr: f32, beta_1: f64, beta_2: f64, epsilon: f64 },
    /// Keras's SGD: v ← μv − lr·g; θ ← θ + v (plain SGD when μ = 0).
    Sgd { lr: f32, momentum: f32 },
}

impl OptimizerConfig {
    /// Adam with Keras's defaults and the given learning rate.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam { lr, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }

    /// Rejects values that cannot train.
    pub fn validate(&self) -> Result<()> {
        let (lr, extra) = match *self {
            OptimizerConfig::Adam { lr, beta_1, beta_2, epsilon } => {
                for (name, b) in [("beta_1", beta_1), ("beta_2", beta_2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::config(format!("adam {name}"), format!("must be in [0, 1), got {b}")));
                    }
                }
                (lr, epsilon)
            }
            OptimizerConfig::Sgd { lr, momentum } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(Error::config("optimizer.momentum", format!("must be in [0, 1), got {momentum}")));
                }
                (lr, 1.0)
            }
        };
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::config("optimizer.lr", format!("learning rate must be a finite number > 0, got {lr}")));
        }
        if !(extra > 0.0 && extra.is_finite()) {
            return Err(Error::config("adam epsilon", format!("must be a finite number > 0, got {extra}")));
        }
        Ok(())
    }
}

/// An optimiser with its state: moments share the parameters' flat layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Steps taken so far (Keras's `iterations`).
    pub iterations: u64,
    /// Adam's first moment, or SGD's velocity.
    pub m: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    pub v: Vec<f32>,
}

impl Optimizer {
    /// A fresh optimiser for `n_params` parameters.
    pub fn new(config: OptimizerConfig, n_params: usize) -> Self {
        let v = match config {
            OptimizerConfig::Adam { .. } => vec![0.0; n_params],
            OptimizerConfig::Sgd { .. } => Vec::new(),
        };
        Optimizer { config, iterations: 0, m: vec![0.0; n_params], v }
    }

    /// One update of `params` with `grads` (the batch-mean gradient).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.iterations += 1;
        match self.config {
            OptimizerConfig::Adam { lr, beta_1, beta_2, epsilon } => {
                // Keras: lr_t = lr·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ); θ −= lr_t·m/(sqrt(v) + ε)
                let t = self.iterations as i32;
                // β and ε are double-precision constants, as in Keras, rounded to f32 once here.
                let lr_t = (lr as f64 * (1.0 - beta_2.powi(t)).sqrt() / (1.0 - beta_1.powi(t))) as f32;
                let (a1, a2, epsilon) = ((1.0 - beta_1) as f32, (1.0 - beta_2) as f32, epsilon as f32);
                // Element-wise, so splitting it across threads cannot change a bit.
                const CHUNK: usize = 16 * 1024;
                let parts = params.par_chunks_mut(CHUNK).zip(grads.par_chunks(CHUNK));
                let level = Level::current();
                parts
                    .zip(self.m.par_chunks_mut(CHUNK))
                    .zip(self.v.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), m), v)| adam_at(level, p, g, m, v, (a1, a2), lr_t, epsilon));
            }
            OptimizerConfig::Sgd { lr, momentum } => {
                // Element-wise, as Adam's.
                const CHUNK: usize = 64 * 1024;
                let level = Level::current();
                let parts = params.par_chunks_mut(CHUNK).zip(grads.par_chunks(CHUNK));
                if momentum == 0.0 {
                    // The trainer checks the weights itself after an update it made.
                    parts.for_each(|(p, g)| {
                        plain_sgd_at(level, p, g, lr);
                    });
                } else {
                    parts
                        .zip(self.m.par_chunks_mut(CHUNK))
                        .for_each(|((p, g), m)| sgd_at(level, p, g, m, lr, momentum));
                }
            }
        }
    }
}

impl Optimizer {
    /// The learning rate of plain SGD (momentum 0), whose update θ −= lr·g has no state and is
    /// element-wise, so that the engine may apply it layer by layer ([`plain_sgd`],
    /// [`crate::model::Engine::train_step_updating`]); `None` for any other optimizer. A step
    /// applied that way is counted with [`Optimizer::count_step`].
    pub fn plain_sgd_lr(&self) -> Option<f32> {
        match self.config {
            OptimizerConfig::Sgd { lr, momentum: 0.0 } => Some(lr),
            _ => None,
        }
    }

    /// Counts a step whose update was applied elsewhere (see [`Optimizer::plain_sgd_lr`]).
    pub fn count_step(&mut self) {
        self.iterations += 1;
    }
}

/// Plain SGD's update θ −= lr·g (Keras's SGD with momentum 0, no velocity kept), at the level in
/// force: the bits of [`Optimizer::step`] for that optimizer. Returns whether every updated
/// weight is finite, tested in the same pass over the weights (what the trainer checks after
/// every step), so that the engine's per-layer update needs no pass of its own.
pub fn plain_sgd(params: &mut [f32], grads: &[f32], lr: f32) -> bool {
    plain_sgd_at(Level::current(), params, grads, lr)
}

multiversion! {
    /// [`plain_sgd`] compiled for `level`, the finiteness test as the trainer's (θ·0 is 0 for a
    /// finite θ and NaN otherwise, summed in 16 lanes, so that one NaN or infinity anywhere
    /// leaves a NaN).
    fn plain_sgd_at(p: &mut [f32], g: &[f32], lr: f32) -> bool {
        const W: usize = 16;
        let n = p.len().min(g.len());
        let (p, g) = (&mut p[..n], &g[..n]);
        let mut acc = [0.0f32; W];
        let split = n / W * W;
        let (p_body, p_tail) = p.split_at_mut(split);
        let (g_body, g_tail) = g.split_at(split);
        for (pc, gc) in p_body.chunks_exact_mut(W).zip(g_body.chunks_exact(W)) {
            for ((a, p), &g) in acc.iter_mut().zip(pc).zip(gc) {
                *p -= lr * g;
                *a += *p * 0.0;
            }
        }
        let mut finite = true;
        for (p, &g) in p_tail.iter_mut().zip(g_tail) {
            *p -= lr * g;
            finite &= p.is_finite();
        }
        finite && acc.iter().all(|a| a.is_finite())
    }
}

multiversion! {
    /// SGD's update of one chunk, compiled for `level`: v ← μv − lr·g; θ ← θ + v (no fused
    /// multiply-add at any level, so every level gives the same bits).
    fn sgd_at(p: &mut [f32], g: &[f32], vel: &mut [f32], lr: f32, momentum: f32) {
        for ((p, &g), vel) in p.iter_mut().zip(g).zip(vel) {
            *vel = momentum * *vel - lr * g;
            *p += *vel;
        }
    }
}

multiversion! {
    /// Adam's update of one chunk, compiled for `level`: m += (g − m)·(1 − β₁);
    /// v += (g² − v)·(1 − β₂); p −= lr_t·m/(sqrt(v) + ε). `a` is (1 − β₁, 1 − β₂).
    fn adam_at(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], a: (f32, f32), lr_t: f32, epsilon: f32) {
        let (a1, a2) = a;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            *m += (g - *m) * a1;
            *v += (g * g - *v) * a2;
            *p -= lr_t * *m / (v.sqrt() + epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_update_gives_the_scalar_loops_bits_at_every_level() {
        let n = 1003;
        let g: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3).collect();
        let m0: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 1e-4).collect();
        let v0: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 1e-6).collect();
        let (a1, a2, lr_t, eps) = (0.1f32, 0.001f32, 3e-4f32, 1e-7f32);
        let (mut p_ref, mut m_ref, mut v_ref) = (vec![0.5f32; n], m0.clone(), v0.clone());
        for i in 0..n {
            m_ref[i] += (g[i] - m_ref[i]) * a1;
            v_ref[i] += (g[i] * g[i] - v_ref[i]) * a2;
            p_ref[i] -= lr_t * m_ref[i] / (v_ref[i].sqrt() + eps);
        }
        for level in Level::supported() {
            let (mut p, mut m, mut v) = (vec![0.5f32; n], m0.clone(), v0.clone());
            adam_at(level, &mut p, &g, &mut m, &mut v, (a1, a2), lr_t, eps);
            assert_eq!((&p, &m, &v), (&p_ref, &m_ref, &v_ref), "{level}");
        }
    }

    #[test]
    fn adam_first_steps_match_hand_computation() {
        // θ₀ = 1, g = 0.5 at every step, Keras defaults.
        // t=1: m = 0.05, v = 0.00025, lr_t = 1e-3·sqrt(0.001)/0.1 = 3.16227766e-4,
        //      Δ = lr_t·0.05/(0.0158113883 + 1e-7) = 9.99993676e-4  → θ₁ = 0.999000006
        // t=2: m = 0.095, v = 0.00049975, lr_t = 1e-3·sqrt(0.001999)/0.19 = 2.35314e-4,
        //      Δ = lr_t·0.095/(0.0223550 + 1e-7) = 9.99995e-4      → θ₂ = 0.998000011
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), 1);
        let mut p = [1.0f32];
        opt.step(&mut p, &[0.5]);
        assert!((p[0] as f64 - 0.999_000_006).abs() < 2e-7, "{}", p[0]);
        assert!((opt.m[0] - 0.05).abs() < 1e-9 && (opt.v[0] - 0.00025).abs() < 1e-10, "{} {}", opt.m[0], opt.v[0]);
        opt.step(&mut p, &[0.5]);
        assert!((p[0] as f64 - 0.998_000_011).abs() < 3e-7, "{}", p[0]);
        assert_eq!(opt.iterations, 2);
    }

    #[test]
    fn adam_epsilon_is_added_to_sqrt_v() {
        // With g = 0 from the start, m = v = 0 and the step is 0 (no division by zero).
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), 2);
        let mut p = [1.0f32, -2.0];
        opt.step(&mut p, &[0.0, 0.0]);
        assert_eq!(p, [1.0, -2.0]);
        // A tiny gradient: the step is lr_t·m/(sqrt(v)+ε), visibly less than lr when |g| ~ ε.
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), 1);
        let mut p = [0.0f32];
        opt.step(&mut p, &[1e-7]);
        // m = 1e-8, sqrt(v) = sqrt(1e-17) = 3.162e-9, lr_t = 3.162e-4 → Δ = 3.162e-4·1e-8/(1.03162e-7) = 3.065e-5
        assert!((p[0] + 3.065e-5).abs() < 2e-7, "{}", p[0]);
    }

    #[test]
    fn sgd_with_and_without_momentum() {
        let mut opt = Optimizer::new(OptimizerConfig::Sgd { lr: 0.1, momentum: 0.0 }, 1);
        let mut p = [1.0f32];
        opt.step(&mut p, &[2.0]);
        assert!((p[0] - 0.8).abs() < 1e-7);
        let mut opt = Optimizer::new(OptimizerConfig::Sgd { lr: 0.1, momentum: 0.9 }, 1);
        let mut p = [1.0f32];
        opt.step(&mut p, &[1.0]); // v = -0.1
        opt.step(&mut p, &[1.0]); // v = -0.09 - 0.1 = -0.19
        assert!((p[0] - (1.0 - 0.1 - 0.19)).abs() < 1e-6);
    }

    /// θ −= lr·g (no velocity) gives the bits of the velocity form v ← 0·v − lr·g; θ ← θ + v,
    /// at every level, through `step` and through the per-layer `plain_sgd`.
    #[test]
    fn plain_sgd_gives_the_bits_of_the_velocity_form_without_momentum() {
        let n = 1003;
        let g: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 1.7e-3).collect();
        let p0: Vec<f32> = (0..n).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.013).collect();
        let lr = 0.01f32;
        let (mut expected, mut vel) = (p0.clone(), vec![0.25f32; n]);
        for _ in 0..3 {
            for ((p, v), &g) in expected.iter_mut().zip(&mut vel).zip(&g) {
                *v = 0.0 * *v - lr * g;
                *p += *v;
            }
        }
        for level in Level::supported() {
            let mut p = p0.clone();
            for _ in 0..3 {
                assert!(plain_sgd_at(level, &mut p, &g, lr));
            }
            assert_eq!(p, expected, "{level}");
        }
        let mut opt = Optimizer::new(OptimizerConfig::Sgd { lr, momentum: 0.0 }, n);
        assert_eq!(opt.plain_sgd_lr(), Some(lr));
        let (mut a, mut b) = (p0.clone(), p0);
        for _ in 0..3 {
            opt.step(&mut a, &g);
            assert!(plain_sgd(&mut b, &g, lr));
        }
        assert_eq!((a, opt.iterations), (expected.clone(), 3));
        assert_eq!(b, expected);
        opt.count_step();
        assert_eq!(opt.iterations, 4);
        assert_eq!(Optimizer::new(OptimizerConfig::Sgd { lr, momentum: 0.5 }, 1).plain_sgd_lr(), None);
        assert_eq!(Optimizer::new(OptimizerConfig::adam(1e-3), 1).plain_sgd_lr(), None);
    }

    /// The update gives the bits of the scalar θ −= lr·g and finds any infinity or NaN it
    /// makes, at every level and position, the tail past the last 16 included.
    #[test]
    fn plain_sgd_gives_the_scalar_bits_and_finds_non_finite_weights() {
        for level in Level::supported() {
            for len in [0usize, 1, 15, 16, 17, 40] {
                let g: Vec<f32> = (0..len).map(|i| (i as f32 - 7.0) * 0.3).collect();
                let p0: Vec<f32> = (0..len).map(|i| i as f32 * 1e30 - 3.0).collect();
                let (mut a, mut b) = (p0.clone(), p0.clone());
                for (p, &g) in a.iter_mut().zip(&g) {
                    *p -= 0.01 * g;
                }
                assert!(plain_sgd_at(level, &mut b, &g, 0.01), "{level} {len}");
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{level} {len}");
                for at in 0..len {
                    for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
                        let mut q = p0.clone();
                        q[at] = bad;
                        assert!(!plain_sgd_at(level, &mut q, &g, 0.01), "{level} len {len}: {bad} at {at}");
                    }
                    // A huge step takes a finite weight to infinity.
                    let mut q = p0.clone();
                    q[at] = f32::MAX;
                    let mut huge = g.clone();
                    huge[at] = -1e38;
                    assert!(!plain_sgd_at(level, &mut q, &huge, 1e10), "{level} len {len}: overflow at {at}");
                }
            }
        }
    }

    #[test]
    fn bad_learning_rates_are_rejected() {
        for lr in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            let err = OptimizerConfig::adam(lr).validate().unwrap_err().to_string();
            assert!(err.contains("optimizer.lr"), "{err}");
        }
        assert!(OptimizerConfig::Sgd { lr: 0.1, momentum: 1.5 }.validate().is_err());
    }
}
