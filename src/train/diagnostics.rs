//! Diagnostics for the ELU paper's claims: mean activations near zero, no dead units, and
//! gradients that do not vanish, measured per layer.
//!
//! [`activation_stats`] runs the model's reference forward ([`Sequential::forward_reference`]:
//! layer by layer, no fused kernels, inference mode) over a sample of images and reports, for
//! each activation layer (PReLU included), the mean and standard
//! deviation of its outputs and the fraction of *dead* units: channels (or neurons) whose
//! output is never positive on any of the images. [`gradient_norms`] gives the L2 norm of each
//! layer's parameter gradient.

use serde::Serialize;

use crate::data::Dataset;
use crate::model::exec::SLICE;
use crate::model::Sequential;

/// Statistics of one activation layer's outputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivationStats {
    /// Keras-style layer name, e.g. "elu_1".
    pub layer: String,
    pub mean: f64,
    pub std: f64,
    /// Fraction of units (channels of a conv output, neurons of a dense one) never > 0.
    pub dead_fraction: f64,
}

/// Activation statistics of every hidden activation layer over the first `max_samples` images
/// of `data`.
pub fn activation_stats(
    model: &Sequential,
    params: &[f32],
    data: &Dataset,
    max_samples: usize,
) -> Vec<ActivationStats> {
    let layers = model.layers();
    let watched: Vec<usize> = (0..layers.len()).filter(|&i| layers[i].kind().activation().is_some()).collect();
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); layers.len()];
    let mut unit_max: Vec<Vec<f32>> = layers.iter().map(|l| vec![f32::NEG_INFINITY; l.out_shape().c]).collect();
    let mut x = vec![0.0; SLICE * model.input_shape().len()];
    let mut labels = vec![0u8; SLICE];
    let n = data.len().min(max_samples);
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(SLICE) {
        let m = chunk.len();
        data.fill_batch(chunk, &mut x, &mut labels);
        let acts = model.forward_reference(params, &x[..m * model.input_shape().len()], m);
        for &i in &watched {
            let c = layers[i].out_shape().c;
            let out = &acts[i + 1][..m * layers[i].out_shape().len()];
            let (s, s2, cnt) = &mut sums[i];
            for row in out.chunks_exact(c) {
                for (mx, &v) in unit_max[i].iter_mut().zip(row) {
                    *s += v as f64;
                    *s2 += (v as f64) * (v as f64);
                    *mx = mx.max(v);
                }
            }
            *cnt += out.len();
        }
    }
    watched
        .iter()
        .map(|&i| {
            let (s, s2, cnt) = sums[i];
            let cnt = cnt.max(1) as f64;
            let mean = s / cnt;
            let dead = unit_max[i].iter().filter(|&&m| m <= 0.0).count();
            ActivationStats {
                layer: model.names()[i].clone(),
                mean,
                std: (s2 / cnt - mean * mean).max(0.0).sqrt(),
                dead_fraction: dead as f64 / unit_max[i].len() as f64,
            }
        })
        .collect()
}

/// (layer name, L2 norm of its parameter gradient) for every layer with parameters.
pub fn gradient_norms(model: &Sequential, grads: &[f32]) -> Vec<(String, f64)> {
    (0..model.layers().len())
        .filter(|&i| !model.param_range(i).is_empty())
        .map(|i| {
            let norm = grads[model.param_range(i)].iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>().sqrt();
            (model.names()[i].clone(), norm)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activations::Activation;
    use crate::model::{ModelSpec, Overrides};

    fn dataset(n: usize) -> Dataset {
        let mut rng = crate::rng::Rng::from_seed(4);
        let images = (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Dataset::new(images, labels, 28, 28).unwrap()
    }

    #[test]
    fn relu_units_with_negative_bias_are_dead_and_elu_means_are_computed() {
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Relu), ..Default::default() }).unwrap();
        let model = Sequential::from_spec(&spec).unwrap();
        let mut params = model.init_params(1);
        // Kill 8 of the 32 channels of the first layer: zero kernel, negative bias.
        let r = model.param_range(0);
        let (w, b) = params[r].split_at_mut(9 * 32);
        for k in 0..9 {
            for c in 0..8 {
                w[k * 32 + c] = 0.0;
            }
        }
        b[..8].fill(-1.0);
        let stats = activation_stats(&model, &params, &dataset(40), 40);
        assert_eq!(stats.len(), 3);
        assert_eq!(stats[0].layer, "re_lu");
        assert!((stats[0].dead_fraction - 0.25).abs() < 1e-9, "{:?}", stats[0]);
        assert!(stats.iter().all(|s| s.mean >= 0.0), "ReLU outputs are non-negative");

        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let stats = activation_stats(&model, &model.init_params(1), &dataset(40), 40);
        assert_eq!(stats[2].layer, "elu_2");
        assert!(stats.iter().all(|s| s.mean.is_finite() && s.std > 0.0));
    }

    #[test]
    fn prelu_layers_are_watched_like_the_other_activations() {
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Prelu { init: 0.25 }), ..Default::default() }).unwrap();
        let model = Sequential::from_spec(&spec).unwrap();
        let stats = activation_stats(&model, &model.init_params(1), &dataset(20), 20);
        let names: Vec<_> = stats.iter().map(|s| s.layer.as_str()).collect();
        assert_eq!(names, ["p_re_lu", "p_re_lu_1", "p_re_lu_2"]);
        assert!(stats.iter().all(|s| s.mean.is_finite() && s.std > 0.0));
    }

    #[test]
    fn gradient_norms_cover_layers_with_parameters() {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let mut grads = vec![0.0; model.param_count()];
        grads[model.param_range(0)][0] = 3.0;
        grads[model.param_range(0)][1] = 4.0;
        let norms = gradient_norms(&model, &grads);
        assert_eq!(norms.len(), 4);
        assert_eq!(norms[0], ("conv2d".to_string(), 5.0));
        assert_eq!(norms[3].1, 0.0);
    }
}
