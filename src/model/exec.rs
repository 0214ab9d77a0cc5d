//! Batch execution: forward, loss and backward over fixed-size slices of the batch in parallel.
//!
//! A batch is cut into slices of [`SLICE`] samples. Each slice has its own preallocated
//! workspace (activations, saved state, gradient buffers, parameter gradients) and runs the
//! whole model on its samples; the slices' parameter gradients are then summed in slice order.
//! The partition depends only on the batch size, never on the number of threads, so results
//! are bitwise identical with 1, 2 or more threads. Nothing is allocated inside the batch loop.

use rayon::prelude::*;

use super::Sequential;
use crate::layers::Ctx;
use crate::loss::softmax_cross_entropy;

/// Samples per slice: small enough to spread a batch of 250 over the cores, large enough to
/// keep each GEMM efficient.
pub const SLICE: usize = 32;

/// Fills a slice: (index of the first sample in the batch, images (n, H, W, C), labels (n)).
pub type FillFn<'a> = dyn Fn(usize, &mut [f32], &mut [u8]) + Sync + 'a;

/// Per-slice buffers, sized once for the model.
#[derive(Debug)]
struct Workspace {
    /// acts[0] is the input; acts[i + 1] the output of layer i.
    acts: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    /// Gradient w.r.t. the current layer's output, and w.r.t. its input (swapped per layer).
    dout: Vec<f32>,
    dinp: Vec<f32>,
    dparams: Vec<f32>,
    labels: Vec<u8>,
    loss: f64,
    correct: usize,
}

impl Workspace {
    fn new(model: &Sequential, with_grads: bool) -> Self {
        let mut acts = vec![vec![0.0; SLICE * model.input_shape().len()]];
        acts.extend(model.layers().iter().map(|l| vec![0.0; SLICE * l.out_shape().len()]));
        let scratch = model.layers().iter().map(|l| vec![0.0; SLICE * l.scratch_len()]).collect();
        let widest = model.layers().iter().map(|l| l.in_shape().len().max(l.out_shape().len())).max().unwrap_or(0);
        let g = if with_grads { SLICE * widest } else { 0 };
        Workspace {
            acts,
            scratch,
            dout: vec![0.0; g],
            dinp: vec![0.0; g],
            dparams: vec![0.0; if with_grads { model.param_count() } else { 0 }],
            labels: vec![0; SLICE],
            loss: 0.0,
            correct: 0,
        }
    }

    /// Forward through every layer on the first `n` samples of acts[0].
    fn forward(&mut self, model: &Sequential, params: &[f32], n: usize, ctx: Ctx) {
        for (i, layer) in model.layers().iter().enumerate() {
            let (before, after) = self.acts.split_at_mut(i + 1);
            let ctx = Ctx { layer: i, ..ctx };
            layer.forward(&mut after[0], &mut self.scratch[i], &before[i], &params[model.param_range(i)], n, &ctx);
        }
    }

    /// Loss and accuracy of the last forward (the model ends in a softmax); with `scale`, also
    /// the gradient w.r.t. the logits into `dout`.
    fn loss(&mut self, model: &Sequential, n: usize, scale: Option<f32>) {
        let l = model.layers().len();
        let classes = model.output_shape().len();
        let (probs, logits) = (&self.acts[l], &self.acts[l - 1]);
        let d = scale.map(|_| &mut self.dout[..]);
        let (loss, correct) = softmax_cross_entropy(
            d,
            &probs[..n * classes],
            &logits[..n * classes],
            &self.labels[..n],
            classes,
            scale.unwrap_or(1.0),
        );
        self.loss = loss;
        self.correct = correct;
    }

    /// Backward from the logits' gradient in `dout` down to the first layer (the softmax is
    /// fused into the loss; the first layer's input gradient is not computed).
    fn backward(&mut self, model: &Sequential, params: &[f32], n: usize) {
        self.dparams.fill(0.0);
        let layers = model.layers();
        for i in (0..layers.len() - 1).rev() {
            let r = model.param_range(i);
            let dinp = if i > 0 { Some(&mut self.dinp[..]) } else { None };
            layers[i].backward(
                dinp,
                &mut self.dparams[r.clone()],
                &self.dout,
                &mut self.scratch[i],
                &self.acts[i],
                &self.acts[i + 1],
                &params[r],
                n,
            );
            std::mem::swap(&mut self.dout, &mut self.dinp);
        }
    }
}

/// Runs a model on batches of up to `batch_size` samples, in parallel over slices.
#[derive(Debug)]
pub struct Engine {
    slices: Vec<Workspace>,
    batch_size: usize,
}

impl Engine {
    /// Workspaces for batches of up to `batch_size`; `training` adds gradient buffers.
    pub fn new(model: &Sequential, batch_size: usize, training: bool) -> Self {
        let n = batch_size.div_ceil(SLICE).max(1);
        Engine { slices: (0..n).map(|_| Workspace::new(model, training)).collect(), batch_size }
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// One training step's forward and backward on `n` samples (n ≤ batch size).
    /// Writes the batch-mean gradient into `grads`; returns (sum of losses, correct count).
    /// `seed` and `step` key the dropout masks.
    #[allow(clippy::too_many_arguments)]
    pub fn train_step(
        &mut self,
        model: &Sequential,
        params: &[f32],
        grads: &mut [f32],
        n: usize,
        fill: &FillFn,
        seed: u64,
        step: u64,
    ) -> (f64, usize) {
        debug_assert!(n <= self.batch_size && grads.len() == model.param_count());
        let used = n.div_ceil(SLICE);
        let scale = 1.0 / n as f32;
        self.slices[..used].par_iter_mut().enumerate().for_each(|(s, ws)| {
            let first = s * SLICE;
            let m = SLICE.min(n - first);
            fill(first, &mut ws.acts[0], &mut ws.labels);
            let ctx = Ctx { train: true, seed, step, first_sample: first as u64, layer: 0 };
            ws.forward(model, params, m, ctx);
            ws.loss(model, m, Some(scale));
            ws.backward(model, params, m);
        });
        // Sum the slices' gradients in slice order (parallel over parameters, not slices).
        let slices = &self.slices[..used];
        grads.par_chunks_mut(8192).enumerate().for_each(|(c, g)| {
            let r = c * 8192..c * 8192 + g.len();
            g.copy_from_slice(&slices[0].dparams[r.clone()]);
            for ws in &slices[1..] {
                for (g, d) in g.iter_mut().zip(&ws.dparams[r.clone()]) {
                    *g += d;
                }
            }
        });
        self.totals(used)
    }

    /// Inference on `n` samples: (sum of losses, correct count).
    pub fn evaluate(&mut self, model: &Sequential, params: &[f32], n: usize, fill: &FillFn) -> (f64, usize) {
        let used = n.div_ceil(SLICE);
        self.slices[..used].par_iter_mut().enumerate().for_each(|(s, ws)| {
            let first = s * SLICE;
            let m = SLICE.min(n - first);
            fill(first, &mut ws.acts[0], &mut ws.labels);
            ws.forward(model, params, m, Ctx::inference());
            ws.loss(model, m, None);
        });
        self.totals(used)
    }

    fn totals(&self, used: usize) -> (f64, usize) {
        self.slices[..used].iter().fold((0.0, 0), |(l, c), ws| (l + ws.loss, c + ws.correct))
    }
}
