//! Diagnostics for the ELU paper's claims: mean activations near zero, no dead units, and
//! gradients that do not vanish, measured per layer.
//!
//! [`activation_stats`] runs the model's reference forward ([`Sequential::forward_first_into`]:
//! layer by layer, no fused kernels, inference mode, up to the last activation layer, into
//! buffers that each worker keeps from one slice of images to the next) over a sample of
//! images and reports, for
//! each activation layer (PReLU included) and for all of them together, the paper's measure
//! (the median over units of each unit's mean activation), the mean and standard deviation of
//! the outputs, the fraction of *dead* units (inactive, [`Activation::is_inactive`], on every
//! image of the sample) and the fraction of *saturated* outputs ([`Activation::is_saturated`]).
//! A unit is a neuron of a dense output or a channel of a convolutional one (its mean then runs
//! over positions too). [`add_gradient_norms`] and [`weight_norms`] give the L2 norm of each
//! layer's parameter gradient and parameters; [`sample_indices`] draws the sample by seed.

use rayon::prelude::*;
use serde::Serialize;

use crate::activations::{Activation, Regions};
use crate::data::Dataset;
use crate::kernels::simd::{multiversion, Level};
use crate::model::exec::SLICE;
use crate::model::Sequential;
use crate::rng::{Rng, Stream};

/// The name of the row that pools every activation layer's units.
pub const ALL_LAYERS: &str = "all";

/// Statistics of one activation layer's outputs (or of all of them: [`ALL_LAYERS`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivationStats {
    /// Keras-style layer name, e.g. "elu_1", or [`ALL_LAYERS`].
    pub layer: String,
    /// Units: channels of a conv output, neurons of a dense one.
    pub units: usize,
    /// Mean and standard deviation of every output value on the sample.
    pub mean: f64,
    pub std: f64,
    /// The median over units of each unit's mean output (the ELU paper's measure).
    pub median_unit_mean: f64,
    /// Fraction of units inactive on every value of the sample.
    pub dead_fraction: f64,
    /// Fraction of output values within 1% of a bound the function saturates to.
    pub saturated_fraction: f64,
}

/// The sample of `n` images of a set of `len` (all of them when `n ≥ len`), drawn without
/// replacement by `seed` from its own stream, in increasing order.
pub fn sample_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    let mut all: Vec<usize> = (0..len).collect();
    Rng::stream(seed, Stream::Diagnostics, &[]).shuffle(&mut all);
    let mut sample = all[..n].to_vec();
    sample.sort_unstable();
    sample
}

/// Running sums of one activation layer's values, per unit (the totals over units are taken
/// at the end, so that the loop over values has no reduction across units and vectorises).
#[derive(Clone, Debug)]
struct Sums {
    unit_sum: Vec<f64>,
    unit_sum_sq: Vec<f64>,
    /// 1 where the unit was active on some value so far.
    unit_active: Vec<u8>,
    unit_saturated: Vec<u64>,
    count: usize,
}

multiversion! {
    /// Adds rows of `units` pre-activations `pre` and outputs `out` to the per-unit sums; the
    /// activation's [`Regions`] say which values are inactive or saturated.
    fn add_rows(
        regions: Regions,
        pre: &[f32],
        out: &[f32],
        sum: &mut [f64],
        sum_sq: &mut [f64],
        active: &mut [u8],
        saturated: &mut [u64],
    ) {
        let units = sum.len();
        let (sum_sq, active, saturated) = (&mut sum_sq[..units], &mut active[..units], &mut saturated[..units]);
        let Regions { inactive_at_most, saturated_at_most, saturated_at_least } = regions;
        for (x_row, y_row) in pre.chunks_exact(units).zip(out.chunks_exact(units)) {
            for u in 0..units {
                let (x, y) = (x_row[u], y_row[u]);
                let y64 = f64::from(y);
                sum[u] += y64;
                sum_sq[u] += y64 * y64;
                // Active unless x ≤ the threshold (so active for NaN x or a NaN threshold).
                active[u] |= u8::from(x <= inactive_at_most) ^ 1;
                saturated[u] += u64::from(y <= saturated_at_most || y >= saturated_at_least);
            }
        }
    }
}

impl Sums {
    fn new(units: usize) -> Self {
        Sums {
            unit_sum: vec![0.0; units],
            unit_sum_sq: vec![0.0; units],
            unit_active: vec![0; units],
            unit_saturated: vec![0; units],
            count: 0,
        }
    }

    /// Adds the outputs `out` of pre-activations `pre` (rows of `units` values).
    fn add(&mut self, act: Activation, pre: &[f32], out: &[f32]) {
        add_rows(
            Level::current(),
            act.regions(),
            pre,
            out,
            &mut self.unit_sum,
            &mut self.unit_sum_sq,
            &mut self.unit_active,
            &mut self.unit_saturated,
        );
        self.count += out.len();
    }

    /// Adds another chunk's sums (in chunk order, so the result does not depend on threads).
    fn merge(&mut self, other: &Sums) {
        for (a, b) in self.unit_sum.iter_mut().zip(&other.unit_sum) {
            *a += b;
        }
        for (a, b) in self.unit_sum_sq.iter_mut().zip(&other.unit_sum_sq) {
            *a += b;
        }
        for (a, b) in self.unit_active.iter_mut().zip(&other.unit_active) {
            *a |= b;
        }
        for (a, b) in self.unit_saturated.iter_mut().zip(&other.unit_saturated) {
            *a += b;
        }
        self.count += other.count;
    }

    /// The sum and sum of squares of every value, and the count of saturated ones.
    fn totals(&self) -> (f64, f64, u64) {
        (self.unit_sum.iter().sum(), self.unit_sum_sq.iter().sum(), self.unit_saturated.iter().sum())
    }

    /// Each unit's mean.
    fn unit_means(&self) -> Vec<f64> {
        let per_unit = (self.count / self.unit_sum.len().max(1)).max(1) as f64;
        self.unit_sum.iter().map(|s| s / per_unit).collect()
    }
}

/// The median of `xs` (the mean of the middle two for an even count; NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn stats_of(layer: String, sums: &[&Sums]) -> ActivationStats {
    let units: usize = sums.iter().map(|s| s.unit_sum.len()).sum();
    let (sum, sum_sq, saturated) =
        sums.iter().map(|s| s.totals()).fold((0.0, 0.0, 0), |(a, b, c), (s, q, n)| (a + s, b + q, c + n));
    let count: usize = sums.iter().map(|s| s.count).sum();
    let means: Vec<f64> = sums.iter().flat_map(|s| s.unit_means()).collect();
    let dead = sums.iter().flat_map(|s| &s.unit_active).filter(|&&a| a == 0).count();
    let n = count.max(1) as f64;
    let mean = sum / n;
    ActivationStats {
        layer,
        units,
        mean,
        std: (sum_sq / n - mean * mean).max(0.0).sqrt(),
        median_unit_mean: median(&means),
        dead_fraction: dead as f64 / units.max(1) as f64,
        saturated_fraction: saturated as f64 / n,
    }
}

/// One worker's buffers for [`activation_stats`], kept from one slice of the sample to the next.
#[derive(Default)]
struct Buffers {
    x: Vec<f32>,
    labels: Vec<u8>,
    acts: Vec<Vec<f32>>,
    scratch: Vec<f32>,
}

/// Activation statistics of every hidden activation layer on the images `sample` of `data`,
/// then those of all of them together (the row [`ALL_LAYERS`]; none when the model has no
/// activation layer). Slices of the sample run in parallel; the result does not depend on the
/// thread count.
pub fn activation_stats(model: &Sequential, params: &[f32], data: &Dataset, sample: &[usize]) -> Vec<ActivationStats> {
    let layers = model.layers();
    let watched: Vec<(usize, Activation)> =
        layers.iter().enumerate().filter_map(|(i, l)| l.kind().activation().map(|a| (i, a))).collect();
    if watched.is_empty() {
        return Vec::new();
    }
    let input = model.input_shape().len();
    // Nothing after the last activation layer is looked at.
    let depth = watched[watched.len() - 1].0 + 1;
    let chunks: Vec<Vec<Sums>> = sample
        .par_chunks(SLICE)
        .map_init(Buffers::default, |buf, chunk| {
            let m = chunk.len();
            buf.x.resize(m * input, 0.0);
            buf.labels.resize(m, 0);
            data.fill_batch(chunk, &mut buf.x, &mut buf.labels);
            model.forward_first_into(params, &buf.x, m, depth, &mut buf.acts, &mut buf.scratch);
            watched
                .iter()
                .map(|&(i, act)| {
                    let len = m * layers[i].out_shape().len();
                    let mut s = Sums::new(layers[i].out_shape().c);
                    // A PReLU's inputs are its pre-activations like any other's.
                    let pre = if i == 0 { &buf.x[..len] } else { &buf.acts[i - 1][..len] };
                    s.add(act, pre, &buf.acts[i][..len]);
                    s
                })
                .collect()
        })
        .collect();
    let mut totals: Vec<Sums> = watched.iter().map(|&(i, _)| Sums::new(layers[i].out_shape().c)).collect();
    for chunk in &chunks {
        for (t, s) in totals.iter_mut().zip(chunk) {
            t.merge(s);
        }
    }
    let mut out: Vec<ActivationStats> =
        watched.iter().zip(&totals).map(|(&(i, _), s)| stats_of(model.names()[i].clone(), &[s])).collect();
    out.push(stats_of(ALL_LAYERS.to_string(), &totals.iter().collect::<Vec<_>>()));
    out
}

/// Values summed in f32 before their sum joins the f64 total in [`sum_of_squares`]: short
/// enough that the f32 rounding stays near 1e-7 of the result.
const SQUARES_BLOCK: usize = 1024;

multiversion! {
    /// The sum of squares of `v` (it runs on every batch's gradient): in 16 f32 lanes within
    /// each block of [`SQUARES_BLOCK`] values, the blocks' sums added in f64.
    fn sum_of_squares_at(v: &[f32]) -> f64 {
        let mut total = 0.0f64;
        for block in v.chunks(SQUARES_BLOCK) {
            let mut acc = [0.0f32; 16];
            let lanes = block.chunks_exact(16);
            let rest: f32 = lanes.remainder().iter().map(|&x| x * x).sum();
            for c in lanes {
                for (a, &x) in acc.iter_mut().zip(c) {
                    *a += x * x;
                }
            }
            total += f64::from(acc.iter().sum::<f32>() + rest);
        }
        total
    }
}

fn sum_of_squares(v: &[f32]) -> f64 {
    sum_of_squares_at(Level::current(), v)
}

/// The indices of the layers with parameters, in model order.
fn trainable(model: &Sequential) -> impl Iterator<Item = usize> + '_ {
    (0..model.layers().len()).filter(|&i| !model.param_range(i).is_empty())
}

/// The names of the layers with parameters, in model order: those of [`weight_norms`] and
/// [`add_gradient_norms`].
pub fn layers_with_parameters(model: &Sequential) -> Vec<String> {
    trainable(model).map(|i| model.names()[i].clone()).collect()
}

/// Adds the L2 norm of each layer's gradient (the layers of [`layers_with_parameters`], in
/// order) to `sums`, without allocating: what diagnostics do on every batch.
pub fn add_gradient_norms(model: &Sequential, grads: &[f32], sums: &mut [f64]) {
    for (sum, i) in sums.iter_mut().zip(trainable(model)) {
        *sum += sum_of_squares(&grads[model.param_range(i)]).sqrt();
    }
}

/// (layer name, L2 norm of its parameters) for every layer with parameters.
pub fn weight_norms(model: &Sequential, params: &[f32]) -> Vec<(String, f64)> {
    trainable(model).map(|i| (model.names()[i].clone(), sum_of_squares(&params[model.param_range(i)]).sqrt())).collect()
}

/// The columns of `diagnostics.csv`, in order.
pub const CSV_COLUMNS: &str =
    "epoch,layer,units,mean,sd,median_unit_mean,dead_fraction,saturated_fraction,grad_norm,weight_norm";

/// One row of `diagnostics.csv`: one layer (or [`ALL_LAYERS`]) after one epoch (epoch 0: before
/// training). Activation layers have the activation figures, layers with parameters the norms;
/// what a layer does not have is NaN (an empty cell).
#[derive(Clone, Debug, PartialEq)]
pub struct DiagnosticsRow {
    pub epoch: usize,
    pub layer: String,
    /// Units of an activation layer (0 for a layer that only has parameters).
    pub units: usize,
    pub mean: f64,
    pub sd: f64,
    pub median_unit_mean: f64,
    pub dead_fraction: f64,
    pub saturated_fraction: f64,
    /// The mean over the epoch's batches of the L2 norm of the layer's batch-mean gradient.
    pub grad_norm: f64,
    /// The L2 norm of the layer's parameters at the end of the epoch.
    pub weight_norm: f64,
}

impl DiagnosticsRow {
    /// A row of `layer` at `epoch` with every figure missing.
    pub fn empty(epoch: usize, layer: &str) -> Self {
        let nan = f64::NAN;
        DiagnosticsRow {
            epoch,
            layer: layer.to_string(),
            units: 0,
            mean: nan,
            sd: nan,
            median_unit_mean: nan,
            dead_fraction: nan,
            saturated_fraction: nan,
            grad_norm: nan,
            weight_norm: nan,
        }
    }

    /// The row as a CSV line (without the line break); NaN is an empty cell.
    pub fn to_csv(&self) -> String {
        let num = |v: f64| if v.is_nan() { String::new() } else { format!("{v}") };
        format!(
            "{},{},{},{},{},{},{},{},{},{}",
            self.epoch,
            self.layer,
            self.units,
            num(self.mean),
            num(self.sd),
            num(self.median_unit_mean),
            num(self.dead_fraction),
            num(self.saturated_fraction),
            num(self.grad_norm),
            num(self.weight_norm)
        )
    }

    /// Parses a line written by [`DiagnosticsRow::to_csv`]; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.trim_end().split(',').collect();
        if f.len() != 10 {
            return None;
        }
        let num = |s: &str| if s.is_empty() { Some(f64::NAN) } else { s.parse::<f64>().ok() };
        Some(DiagnosticsRow {
            epoch: f[0].parse().ok()?,
            layer: f[1].to_string(),
            units: f[2].parse().ok()?,
            mean: num(f[3])?,
            sd: num(f[4])?,
            median_unit_mean: num(f[5])?,
            dead_fraction: num(f[6])?,
            saturated_fraction: num(f[7])?,
            grad_norm: num(f[8])?,
            weight_norm: num(f[9])?,
        })
    }

    /// The rows of a `diagnostics.csv` text (its header and lines that are not rows skipped).
    pub fn parse_csv(text: &str) -> Vec<Self> {
        text.lines().filter_map(Self::parse).collect()
    }
}

/// The rows of one measurement: per layer in model order (activation layers with their
/// statistics, layers with parameters with their norms), then [`ALL_LAYERS`]. `grad_norms` are
/// the epoch's mean gradient norms per layer with parameters (none before training).
pub fn rows(
    epoch: usize,
    model: &Sequential,
    stats: &[ActivationStats],
    grad_norms: Option<&[(String, f64)]>,
    params: &[f32],
) -> Vec<DiagnosticsRow> {
    let weights = weight_norms(model, params);
    let mut out = Vec::new();
    for name in model.names().iter().map(String::as_str).chain([ALL_LAYERS]) {
        let mut row = DiagnosticsRow::empty(epoch, name);
        let mut any = false;
        if let Some(s) = stats.iter().find(|s| s.layer == name) {
            row.units = s.units;
            row.mean = s.mean;
            row.sd = s.std;
            row.median_unit_mean = s.median_unit_mean;
            row.dead_fraction = s.dead_fraction;
            row.saturated_fraction = s.saturated_fraction;
            any = true;
        }
        if let Some((_, w)) = weights.iter().find(|(n, _)| n == name) {
            row.weight_norm = *w;
            row.grad_norm = grad_norms.and_then(|g| g.iter().find(|(n, _)| n == name)).map_or(f64::NAN, |(_, g)| *g);
            any = true;
        }
        if any {
            out.push(row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSpec, Overrides};

    fn dataset(n: usize) -> Dataset {
        let mut rng = crate::rng::Rng::from_seed(4);
        let images = (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Dataset::new(images, labels, 28, 28).unwrap()
    }

    fn all(n: usize) -> Vec<usize> {
        (0..n).collect()
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
        let stats = activation_stats(&model, &params, &dataset(40), &all(40));
        assert_eq!(stats.len(), 4);
        assert_eq!(stats[0].layer, "re_lu");
        assert_eq!(stats[0].units, 32);
        assert!((stats[0].dead_fraction - 0.25).abs() < 1e-9, "{:?}", stats[0]);
        assert!(stats.iter().all(|s| s.mean >= 0.0 && s.saturated_fraction == 0.0), "ReLU outputs are non-negative");
        // The pooled row: the dead units of all 32 + 64 + 256 units.
        assert_eq!(stats[3].layer, ALL_LAYERS);
        assert_eq!(stats[3].units, 352);
        let dead: f64 = stats[..3].iter().map(|s| s.dead_fraction * s.units as f64).sum();
        assert!((stats[3].dead_fraction - dead / 352.0).abs() < 1e-9, "{:?}", stats[3]);

        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let stats = activation_stats(&model, &model.init_params(1), &dataset(40), &all(40));
        assert_eq!(stats[2].layer, "elu_2");
        assert!(stats.iter().all(|s| s.mean.is_finite() && s.std > 0.0 && s.median_unit_mean.is_finite()));
    }

    /// The measures by hand on a dense ELU layer whose units are set up to be dead, saturated,
    /// or neither.
    #[test]
    fn median_unit_mean_dead_and_saturated_fractions_by_hand() {
        let text = "input_shape = [1, 2, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 3\n\
                    [[layers]]\ntype = \"elu\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n";
        let spec = ModelSpec::parse(text, std::path::Path::new("t.toml")).unwrap();
        let model = Sequential::from_spec(&spec).unwrap();
        let mut params = model.init_params(1);
        // Dense (in 2, units 3): kernel (2, 3) then bias. Unit 0: x0 (active where x0 > 0);
        // unit 1: bias -10 (dead, saturated at -1); unit 2: bias 2 (always active).
        let r = model.param_range(1);
        params[r.clone()].copy_from_slice(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -10.0, 2.0]);
        // Two images: pixels (255, 0) and (0, 0): x0 = 1 then 0.
        let data = Dataset::new(vec![255, 0, 0, 0], vec![0, 1], 1, 2).unwrap();
        let stats = activation_stats(&model, &params, &data, &[0, 1]);
        let s = &stats[0];
        assert_eq!((s.layer.as_str(), s.units), ("elu", 3));
        let sat = Activation::Elu { alpha: 1.0 }.value(-10.0) as f64;
        // Unit means: 0.5 (1 and 0), elu(-10), 2.
        assert!((s.median_unit_mean - 0.5).abs() < 1e-7, "{s:?}");
        assert!((s.dead_fraction - 1.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s.saturated_fraction - 2.0 / 6.0).abs() < 1e-12, "{s:?}");
        assert!((s.mean - (1.0 + 2.0 * sat + 4.0) / 6.0).abs() < 1e-6, "{s:?}");
        assert_eq!(stats[1].layer, ALL_LAYERS);
        assert_eq!(stats[1].median_unit_mean, s.median_unit_mean);
    }

    #[test]
    fn prelu_layers_are_watched_like_the_other_activations() {
        let mut spec = ModelSpec::article();
        spec.apply(&Overrides { activation: Some(Activation::Prelu { init: 0.25 }), ..Default::default() }).unwrap();
        let model = Sequential::from_spec(&spec).unwrap();
        let stats = activation_stats(&model, &model.init_params(1), &dataset(20), &all(20));
        let names: Vec<_> = stats.iter().map(|s| s.layer.as_str()).collect();
        assert_eq!(names, ["p_re_lu", "p_re_lu_1", "p_re_lu_2", ALL_LAYERS]);
        assert!(stats.iter().all(|s| s.mean.is_finite() && s.std > 0.0));
    }

    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        let model = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
        let params = model.init_params(3);
        let data = dataset(150);
        let sample = sample_indices(150, 130, 9);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let a = one.install(|| activation_stats(&model, &params, &data, &sample));
        let b = three.install(|| activation_stats(&model, &params, &data, &sample));
        assert_eq!(a, b);
        assert_eq!(a.len(), 9);
    }

    #[test]
    fn samples_are_drawn_by_seed_without_replacement_and_clamped() {
        let a = sample_indices(50_000, 1000, 1);
        assert_eq!(a.len(), 1000);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        assert!(*a.last().unwrap() < 50_000);
        assert_eq!(a, sample_indices(50_000, 1000, 1));
        assert_ne!(a, sample_indices(50_000, 1000, 2));
        assert_eq!(sample_indices(30, 1000, 1), (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn sums_of_squares_of_any_length_at_every_level() {
        for n in [0usize, 1, 7, 16, 17, 100, 1023, 1024, 1025, 409_856] {
            let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 1e-3).collect();
            let plain: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
            for level in Level::supported() {
                let got = sum_of_squares_at(level, &v);
                assert!((got - plain).abs() <= 1e-6 * plain, "{n} {level}: {got} against {plain}");
            }
        }
        assert_eq!(sum_of_squares(&[3.0, 4.0]), 25.0);
    }

    /// The statistics computed the plain way: the whole sample through
    /// [`Sequential::forward_reference`], then every value by itself through
    /// [`Activation::is_inactive`] and [`Activation::is_saturated`].
    fn plain_stats(model: &Sequential, params: &[f32], data: &Dataset, sample: &[usize]) -> Vec<ActivationStats> {
        let mut x = vec![0.0; sample.len() * model.input_shape().len()];
        let mut labels = vec![0; sample.len()];
        data.fill_batch(sample, &mut x, &mut labels);
        let acts = model.forward_reference(params, &x, sample.len());
        let mut out = Vec::new();
        let mut pooled = (Vec::new(), Vec::new(), 0.0, 0.0, 0usize, 0usize);
        for (i, layer) in model.layers().iter().enumerate() {
            let Some(act) = layer.kind().activation() else { continue };
            let units = layer.out_shape().c;
            let (mut unit_sum, mut active) = (vec![0.0f64; units], vec![false; units]);
            let (mut sum, mut sum_sq, mut saturated) = (0.0f64, 0.0f64, 0usize);
            for (j, (&x, &y)) in acts[i].iter().zip(&acts[i + 1]).enumerate() {
                unit_sum[j % units] += f64::from(y);
                active[j % units] |= !act.is_inactive(x);
                sum += f64::from(y);
                sum_sq += f64::from(y) * f64::from(y);
                saturated += usize::from(act.is_saturated(y));
            }
            let count = acts[i + 1].len();
            let means: Vec<f64> = unit_sum.iter().map(|s| s / (count / units) as f64).collect();
            let dead = active.iter().filter(|a| !**a).count();
            let mean = sum / count as f64;
            out.push(ActivationStats {
                layer: model.names()[i].clone(),
                units,
                mean,
                std: (sum_sq / count as f64 - mean * mean).max(0.0).sqrt(),
                median_unit_mean: median(&means),
                dead_fraction: dead as f64 / units as f64,
                saturated_fraction: saturated as f64 / count as f64,
            });
            pooled.0.extend(means);
            pooled.1.push(dead);
            (pooled.2, pooled.3, pooled.4, pooled.5) =
                (pooled.2 + sum, pooled.3 + sum_sq, pooled.4 + saturated, pooled.5 + count);
        }
        let units: usize = out.iter().map(|s| s.units).sum();
        let mean = pooled.2 / pooled.5 as f64;
        out.push(ActivationStats {
            layer: ALL_LAYERS.to_string(),
            units,
            mean,
            std: (pooled.3 / pooled.5 as f64 - mean * mean).max(0.0).sqrt(),
            median_unit_mean: median(&pooled.0),
            dead_fraction: pooled.1.iter().sum::<usize>() as f64 / units as f64,
            saturated_fraction: pooled.4 as f64 / pooled.5 as f64,
        });
        out
    }

    /// The fast measurement (buffers reused over slices, per-unit sums, comparisons without a
    /// branch) against the plain one, for every activation on a convnet and a dense net, on a
    /// sample whose last slice is shorter than the others.
    #[test]
    fn the_measures_are_those_of_the_plain_computation() {
        let data = dataset(150);
        let sample = sample_indices(150, 137, 5);
        for preset in ["article", "paper_fc"] {
            for act in Activation::ALL {
                let mut spec = ModelSpec::preset(preset).unwrap();
                spec.apply(&Overrides { activation: Some(act), ..Default::default() }).unwrap();
                let model = Sequential::from_spec(&spec).unwrap();
                let mut params = model.init_params(2);
                // Biases that make some units dead and some saturated.
                for i in 0..model.layers().len() {
                    let r = model.param_range(i);
                    if let Some(last) = params[r].last_mut() {
                        *last = -50.0;
                    }
                }
                let fast = activation_stats(&model, &params, &data, &sample);
                let plain = plain_stats(&model, &params, &data, &sample);
                assert_eq!(fast.len(), plain.len(), "{preset} {act:?}");
                for (f, p) in fast.iter().zip(&plain) {
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-3);
                    assert_eq!((&f.layer, f.units), (&p.layer, p.units), "{preset} {act:?}");
                    assert_eq!(f.dead_fraction, p.dead_fraction, "{preset} {act:?} {}", f.layer);
                    assert_eq!(f.saturated_fraction, p.saturated_fraction, "{preset} {act:?} {}", f.layer);
                    assert!(close(f.mean, p.mean) && close(f.std, p.std), "{preset} {act:?}: {f:?} against {p:?}");
                    assert!(close(f.median_unit_mean, p.median_unit_mean), "{preset} {act:?}: {f:?} against {p:?}");
                }
            }
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn gradient_and_weight_norms_cover_layers_with_parameters() {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let mut grads = vec![0.0; model.param_count()];
        grads[model.param_range(0)][0] = 3.0;
        grads[model.param_range(0)][1] = 4.0;
        // The norms of a gradient, as the weights' norms are taken.
        let norms = weight_norms(&model, &grads);
        assert_eq!(norms.len(), 4);
        let mut sums = vec![1.0; 4];
        add_gradient_norms(&model, &grads, &mut sums);
        assert_eq!(sums, [6.0, 1.0, 1.0, 1.0]);
        let names: Vec<String> = norms.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(layers_with_parameters(&model), names);
        assert_eq!(norms[0], ("conv2d".to_string(), 5.0));
        assert_eq!(norms[3].1, 0.0);
        // Gradient norms added to zero are the same norms.
        let mut from_zero = vec![0.0; 4];
        add_gradient_norms(&model, &grads, &mut from_zero);
        assert_eq!(from_zero, norms.iter().map(|(_, v)| *v).collect::<Vec<_>>());
    }
}
