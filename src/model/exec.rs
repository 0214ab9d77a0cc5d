//! Batch execution: forward, loss and backward over fixed-size slices of the batch in parallel.
//!
//! A batch is cut into slices of [`SLICE`] samples, and each slice runs through the whole model
//! on one thread, in that thread's preallocated workspace (activations, saved state, gradient
//! buffers), writing its parameter gradient into a buffer of its own; the slices' gradients are
//! then summed in slice order. The partition depends only on the batch size, never on the
//! number of threads, so results are bitwise identical with 1, 2 or more threads. Workspaces
//! exist once per thread, not per slice, which keeps memory small. Nothing is allocated inside
//! the batch loop.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::Sequential;
use crate::layers::Ctx;
use crate::loss::softmax_cross_entropy;

/// Samples per slice: small enough to spread a batch of 250 over the cores, large enough to
/// keep each GEMM efficient.
pub const SLICE: usize = 32;

/// Fills a slice: (index of the first sample in the batch, images (n, H, W, C), labels (n)).
pub type FillFn<'a> = dyn Fn(usize, &mut [f32], &mut [u8]) + Sync + 'a;

/// Per-thread buffers, sized once for the model and a slice.
#[derive(Debug)]
struct Workspace {
    /// acts[0] is the input; acts[i + 1] the output of layer i.
    acts: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    /// Gradient w.r.t. the current layer's output, and w.r.t. its input (swapped per layer).
    dout: Vec<f32>,
    dinp: Vec<f32>,
    labels: Vec<u8>,
    /// Per-layer (forward, backward) time, summed over calls, when profiling.
    times: Option<Vec<(Duration, Duration)>>,
}

impl Workspace {
    fn new(model: &Sequential, with_grads: bool) -> Self {
        let mut acts = vec![vec![0.0; SLICE * model.input_shape().len()]];
        acts.extend(model.layers().iter().map(|l| vec![0.0; SLICE * l.out_shape().len()]));
        let scratch = model.layers().iter().map(|l| vec![0.0; SLICE * l.scratch_len()]).collect();
        let widest = model.layers().iter().map(|l| l.in_shape().len().max(l.out_shape().len())).max().unwrap_or(0);
        let g = if with_grads { SLICE * widest } else { 0 };
        Workspace { acts, scratch, dout: vec![0.0; g], dinp: vec![0.0; g], labels: vec![0; SLICE], times: None }
    }

    /// Forward through every layer on the first `n` samples of acts[0].
    fn forward(&mut self, model: &Sequential, params: &[f32], n: usize, ctx: Ctx) {
        for (i, layer) in model.layers().iter().enumerate() {
            let (before, after) = self.acts.split_at_mut(i + 1);
            let ctx = Ctx { layer: i, ..ctx };
            let t0 = self.times.as_ref().map(|_| Instant::now());
            layer.forward(&mut after[0], &mut self.scratch[i], &before[i], &params[model.param_range(i)], n, &ctx);
            if let (Some(times), Some(t0)) = (&mut self.times, t0) {
                times[i].0 += t0.elapsed();
            }
        }
    }

    /// (Sum of losses, correct count) of the last forward (the model ends in a softmax); with
    /// `scale`, also the gradient w.r.t. the logits into `dout`.
    fn loss(&mut self, model: &Sequential, n: usize, scale: Option<f32>) -> (f64, usize) {
        let l = model.layers().len();
        let classes = model.output_shape().len();
        let (probs, logits) = (&self.acts[l], &self.acts[l - 1]);
        let d = scale.map(|_| &mut self.dout[..]);
        softmax_cross_entropy(
            d,
            &probs[..n * classes],
            &logits[..n * classes],
            &self.labels[..n],
            classes,
            scale.unwrap_or(1.0),
        )
    }

    /// Backward from the logits' gradient in `dout` down to the first layer (the softmax is
    /// fused into the loss; the first layer's input gradient is not computed).
    fn backward(&mut self, dparams: &mut [f32], model: &Sequential, params: &[f32], n: usize) {
        let layers = model.layers();
        for i in (0..layers.len() - 1).rev() {
            let r = model.param_range(i);
            let dinp = if i > 0 { Some(&mut self.dinp[..]) } else { None };
            let t0 = self.times.as_ref().map(|_| Instant::now());
            layers[i].backward(
                dinp,
                &mut dparams[r.clone()],
                &self.dout,
                &mut self.scratch[i],
                &self.acts[i],
                &self.acts[i + 1],
                &params[r],
                n,
            );
            if let (Some(times), Some(t0)) = (&mut self.times, t0) {
                times[i].1 += t0.elapsed();
            }
            std::mem::swap(&mut self.dout, &mut self.dinp);
        }
    }
}

/// Runs a model on batches of up to `batch_size` samples, in parallel over slices.
#[derive(Debug)]
pub struct Engine {
    /// One workspace per thread of the pool the engine was made in.
    workers: Vec<Mutex<Workspace>>,
    /// Each slice's parameter gradient (training only).
    slice_grads: Vec<Vec<f32>>,
    /// Each slice's (sum of losses, correct count).
    slice_totals: Vec<(f64, usize)>,
    batch_size: usize,
}

/// The calling thread's workspace (a lock that is never contended within one pool).
fn worker(workers: &[Mutex<Workspace>]) -> MutexGuard<'_, Workspace> {
    let i = rayon::current_thread_index().unwrap_or(0) % workers.len();
    workers[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Buffers for batches of up to `batch_size`; `training` adds gradient buffers. Call it
    /// inside the thread pool that will run it: it makes one workspace per thread.
    pub fn new(model: &Sequential, batch_size: usize, training: bool) -> Self {
        let slices = batch_size.div_ceil(SLICE).max(1);
        let threads = rayon::current_num_threads().clamp(1, slices);
        let grad_len = if training { model.param_count() } else { 0 };
        Engine {
            workers: (0..threads).map(|_| Mutex::new(Workspace::new(model, training))).collect(),
            slice_grads: (0..slices).map(|_| vec![0.0; grad_len]).collect(),
            slice_totals: vec![(0.0, 0); slices],
            batch_size,
        }
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Starts (or restarts) timing every layer's forward and backward pass.
    pub fn enable_profile(&mut self, model: &Sequential) {
        for ws in &mut self.workers {
            ws.get_mut().unwrap_or_else(|p| p.into_inner()).times =
                Some(vec![Default::default(); model.layers().len()]);
        }
    }

    /// Per-layer (forward, backward) time summed over all threads (thread time, not wall time).
    pub fn profile(&mut self) -> Vec<(Duration, Duration)> {
        let mut total: Vec<(Duration, Duration)> = Vec::new();
        for ws in &mut self.workers {
            if let Some(times) = &ws.get_mut().unwrap_or_else(|p| p.into_inner()).times {
                total.resize(times.len(), Default::default());
                for (t, s) in total.iter_mut().zip(times) {
                    t.0 += s.0;
                    t.1 += s.1;
                }
            }
        }
        total
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
        let workers = &self.workers;
        let slices = self.slice_grads[..used].par_iter_mut().zip(&mut self.slice_totals[..used]);
        slices.enumerate().for_each(|(s, (dparams, totals))| {
            let mut guard = worker(workers);
            let ws = &mut *guard;
            let first = s * SLICE;
            let m = SLICE.min(n - first);
            fill(first, &mut ws.acts[0], &mut ws.labels);
            let ctx = Ctx { train: true, seed, step, first_sample: first as u64, layer: 0 };
            ws.forward(model, params, m, ctx);
            *totals = ws.loss(model, m, Some(scale));
            ws.backward(dparams, model, params, m);
        });
        // Sum the slices' gradients in slice order (parallel over parameters, not slices).
        let slices = &self.slice_grads[..used];
        grads.par_chunks_mut(8192).enumerate().for_each(|(c, g)| {
            let r = c * 8192..c * 8192 + g.len();
            g.copy_from_slice(&slices[0][r.clone()]);
            for d in &slices[1..] {
                for (g, d) in g.iter_mut().zip(&d[r.clone()]) {
                    *g += d;
                }
            }
        });
        self.totals(used)
    }

    /// Inference on `n` samples: (sum of losses, correct count).
    pub fn evaluate(&mut self, model: &Sequential, params: &[f32], n: usize, fill: &FillFn) -> (f64, usize) {
        let used = n.div_ceil(SLICE);
        let workers = &self.workers;
        self.slice_totals[..used].par_iter_mut().enumerate().for_each(|(s, totals)| {
            let mut guard = worker(workers);
            let ws = &mut *guard;
            let first = s * SLICE;
            let m = SLICE.min(n - first);
            fill(first, &mut ws.acts[0], &mut ws.labels);
            ws.forward(model, params, m, Ctx::inference());
            *totals = ws.loss(model, m, None);
        });
        self.totals(used)
    }

    /// Totals over the used slices, added in slice order.
    fn totals(&self, used: usize) -> (f64, usize) {
        self.slice_totals[..used].iter().fold((0.0, 0), |(l, c), t| (l + t.0, c + t.1))
    }
}
