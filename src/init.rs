//! Keras's weight initialisers, with Keras's definitions of fans and truncation.
//!
//! `VarianceScaling(scale, mode, distribution)` as Keras defines it: for a Conv2D kernel of
//! shape (KH, KW, C, OC), fan_in = KH·KW·C and fan_out = KH·KW·OC; for a Dense kernel (in,
//! units), fan_in = in and fan_out = units. Truncated normals are re-drawn beyond 2σ, where σ
//! before truncation is the target standard deviation divided by 0.87962566103423978 (the
//! standard deviation of a standard normal truncated to [−2, 2]), so the realised standard
//! deviation is the target one.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Standard deviation of a standard normal truncated to [−2, 2].
#[allow(clippy::excessive_precision)] // the constant as Keras writes it
pub const TRUNCATED_NORMAL_STD: f64 = 0.879_625_661_034_239_78;

/// A kernel initialiser (biases are always zeros, as in Keras's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Init {
    /// Truncated normal, realised σ = sqrt(2 / fan_in).
    #[value(alias = "he")]
    HeNormal,
    /// Uniform on ±sqrt(6 / fan_in).
    HeUniform,
    /// Uniform on ±sqrt(6 / (fan_in + fan_out)); Keras's default for Conv2D and Dense.
    #[value(alias = "glorot")]
    GlorotUniform,
    /// Truncated normal, realised σ = sqrt(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Truncated normal, realised σ = sqrt(1 / fan_in); the partner of SELU.
    LecunNormal,
    /// All zeros.
    Zeros,
}

impl Init {
    /// Keras's name of the initialiser.
    pub fn name(&self) -> &'static str {
        match self {
            Init::HeNormal => "he_normal",
            Init::HeUniform => "he_uniform",
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::LecunNormal => "lecun_normal",
            Init::Zeros => "zeros",
        }
    }

    /// Fills `w` for a kernel with the given fans.
    pub fn fill(&self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match self {
            Init::HeNormal => truncated_normal(w, (2.0 / fi).sqrt(), rng),
            Init::GlorotNormal => truncated_normal(w, (2.0 / (fi + fo)).sqrt(), rng),
            Init::LecunNormal => truncated_normal(w, (1.0 / fi).sqrt(), rng),
            Init::HeUniform => uniform(w, (6.0 / fi).sqrt(), rng),
            Init::GlorotUniform => uniform(w, (6.0 / (fi + fo)).sqrt(), rng),
            Init::Zeros => w.fill(0.0),
        }
    }
}

/// Normal with σ = `target_std` / 0.8796…, re-drawn beyond 2σ: realised std = `target_std`.
fn truncated_normal(w: &mut [f32], target_std: f64, rng: &mut Rng) {
    let sigma = target_std / TRUNCATED_NORMAL_STD;
    for x in w {
        let z = loop {
            let z = rng.normal();
            if z.abs() <= 2.0 {
                break z;
            }
        };
        *x = (z * sigma) as f32;
    }
}

/// Uniform on [−limit, limit).
fn uniform(w: &mut [f32], limit: f64, rng: &mut Rng) {
    for x in w {
        *x = ((rng.uniform() * 2.0 - 1.0) * limit) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(w: &[f32]) -> (f64, f64, f64) {
        let n = w.len() as f64;
        let mean = w.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = w.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let max = w.iter().map(|&x| (x as f64).abs()).fold(0.0, f64::max);
        (mean, var.sqrt(), max)
    }

    #[test]
    fn he_normal_realised_std_and_truncation() {
        // The article's second conv layer: 3x3x32 -> fan_in 288.
        let mut w = vec![0.0f32; 400_000];
        Init::HeNormal.fill(&mut w, 288, 576, &mut Rng::from_seed(1));
        let (mean, std, max) = stats(&w);
        let target = (2.0f64 / 288.0).sqrt();
        let sigma = target / TRUNCATED_NORMAL_STD;
        assert!(mean.abs() < 4.0 * target / (w.len() as f64).sqrt(), "mean {mean}");
        assert!((std / target - 1.0).abs() < 0.005, "std {std} vs {target}");
        assert!(max <= 2.0 * sigma * (1.0 + 1e-6), "max {max} beyond 2 sigma {sigma}");
        assert!(max > 1.95 * sigma, "truncation point should be reached, max {max}");
    }

    #[test]
    fn glorot_uniform_limit_and_std() {
        let mut w = vec![0.0f32; 300_000];
        let (fi, fo) = (1600, 256);
        Init::GlorotUniform.fill(&mut w, fi, fo, &mut Rng::from_seed(2));
        let limit = (6.0f64 / (fi + fo) as f64).sqrt();
        let (mean, std, max) = stats(&w);
        assert!(max <= limit);
        assert!(max > 0.999 * limit);
        assert!(mean.abs() < 1e-4);
        assert!((std / (limit / 3f64.sqrt()) - 1.0).abs() < 0.005);
    }

    #[test]
    fn other_initialisers_have_keras_std() {
        let cases = [
            (Init::HeUniform, (2.0f64 / 100.0).sqrt()),
            (Init::GlorotNormal, (2.0f64 / 150.0).sqrt()),
            (Init::LecunNormal, (1.0f64 / 100.0).sqrt()),
        ];
        for (init, target) in cases {
            let mut w = vec![0.0f32; 200_000];
            init.fill(&mut w, 100, 50, &mut Rng::from_seed(3));
            let (_, std, _) = stats(&w);
            assert!((std / target - 1.0).abs() < 0.01, "{init:?}: {std} vs {target}");
        }
        let mut w = vec![1.0f32; 10];
        Init::Zeros.fill(&mut w, 3, 3, &mut Rng::from_seed(0));
        assert!(w.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn same_seed_same_weights() {
        let mut a = vec![0.0f32; 100];
        let mut b = vec![0.0f32; 100];
        Init::HeNormal.fill(&mut a, 9, 32, &mut Rng::from_seed(5));
        Init::HeNormal.fill(&mut b, 9, 32, &mut Rng::from_seed(5));
        assert_eq!(a, b);
    }
}
