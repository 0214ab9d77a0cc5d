//! Batch execution: forward, loss and backward over fixed-size slices of the batch in parallel.
//!
//! A training batch is cut into slices of [`SLICE`] samples (an inference batch into slices of
//! [`EVAL_SLICE`]), and each slice runs through the whole model on one thread, in that thread's
//! preallocated workspace (activations, saved state, gradient buffers), writing its parameter
//! gradient into a buffer of its own; the slices' gradients are
//! then summed in slice order. The partition depends only on the batch size, never on the
//! number of threads, so results are bitwise identical with 1, 2 or more threads. Workspaces
//! exist once per thread, not per slice, which keeps memory small. Nothing is allocated inside
//! the batch loop.
//!
//! A batch of one slice would leave every thread but one idle. When the model is made of layers
//! that split their backward pass (dense layers and those without parameters: the fully connected
//! nets), such a batch runs as a *split step*: its two halves go through the forward pass, the
//! loss and the input gradients on two threads, then the layers' parameter gradients are formed
//! in parallel over the layers, each over both halves' samples in order. A net of dense layers
//! and activations without parameters ending in a softmax (the ELU paper's, say) runs its split
//! steps as a *column step* instead (`model/columns.rs`): each thread owns one block of every
//! dense layer's output columns through the whole step; now and then the engine times both ways
//! and keeps the faster. Either way every value is the one the whole slice on one thread gives,
//! bit for bit.

use std::ops::Range;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::columns::{Chooser, ColumnStep};
use super::Sequential;
use crate::activations::Activation;
use crate::kernels::sparse::SparseColumns;
use crate::kernels::{conv_pool, elementwise, winograd};
use crate::layers::{Conv2d, Ctx, Layer, LayerKind, MaxPool2d};
use crate::loss::softmax_cross_entropy;

/// Samples per slice in training: small enough to spread a batch of 250 over the cores, large
/// enough to keep each GEMM (the dense layers' weight gradients above all) efficient.
pub const SLICE: usize = 64;

/// Samples per slice in inference: no weight gradients to form, so smaller slices, whose
/// activations stay in a core's L2 cache, are faster (about 1.3 times at 16 than at 64).
pub const EVAL_SLICE: usize = 16;

/// Where a step's samples come from: [`Samples::fill`] writes a slice of them, the samples
/// given as positions in the batch. Any `Fn(Range<usize>, &mut [f32], &mut [u8]) + Sync` is one
/// (it is `fill`).
pub trait Samples: Sync {
    /// Writes the samples `rows` of the batch: their inputs (n, H, W, C) into `x`, their labels
    /// (n) into `y`, n being the length of the range.
    fn fill(&self, rows: Range<usize>, x: &mut [f32], y: &mut [u8]);

    /// Lists the nonzero inputs of the samples `rows` into `lists`, as
    /// [`SparseColumns::set`] lists what [`Samples::fill`] writes (the same values), and their
    /// labels into `y`, for a step that needs only those; returns false, having written nothing,
    /// where the source has no faster way than filling (the default).
    fn fill_lists(&self, rows: Range<usize>, lists: &mut SparseColumns, y: &mut [u8]) -> bool {
        let _ = (rows, lists, y);
        false
    }
}

impl<F: Fn(Range<usize>, &mut [f32], &mut [u8]) + Sync> Samples for F {
    fn fill(&self, rows: Range<usize>, x: &mut [f32], y: &mut [u8]) {
        self(rows, x, y)
    }
}

/// A step's samples, as the engine's steps take them.
pub type FillFn<'a> = dyn Samples + 'a;

/// An element-wise update of weights from their gradient, `update(params, grads)`, that
/// [`Engine::train_step_updating`] applies layer by layer ([`Update::Each`]); it returns whether
/// every weight it updated is finite.
pub type UpdateFn<'a> = dyn Fn(&mut [f32], &[f32]) -> bool + Sync + 'a;

/// The update that [`Engine::train_step_updating`] applies to each layer's weights as soon as
/// their gradient is formed.
#[derive(Clone, Copy)]
pub enum Update<'a> {
    /// Plain SGD with this learning rate, θ −= lr·g: the bits of [`crate::optim::plain_sgd`].
    /// Knowing it, a step that need not keep the gradient (see [`Engine::keep_gradients`]) may
    /// apply it inside the products that form the gradient, and may pass over the weights whose
    /// gradient is +0, which it leaves as they are.
    PlainSgd(f32),
    /// Any element-wise update, applied to each layer's weights and gradient.
    Each(&'a UpdateFn<'a>),
}

impl Update<'_> {
    /// Applies the update to `params` from `grads`; returns whether every updated weight is
    /// finite.
    pub fn apply(&self, params: &mut [f32], grads: &[f32]) -> bool {
        match self {
            Update::PlainSgd(lr) => crate::optim::plain_sgd(params, grads, *lr),
            Update::Each(f) => f(params, grads),
        }
    }

    /// The learning rate, for plain SGD.
    pub fn plain_sgd_lr(&self) -> Option<f32> {
        match self {
            Update::PlainSgd(lr) => Some(*lr),
            Update::Each(_) => None,
        }
    }
}

impl std::fmt::Debug for Update<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Update::PlainSgd(lr) => f.debug_tuple("PlainSgd").field(lr).finish(),
            Update::Each(_) => f.write_str("Each(..)"),
        }
    }
}

/// The weights of a split step: only read, or also updated once each layer's gradient is formed.
pub(super) enum Weights<'p> {
    Read(&'p [f32]),
    Update(&'p mut [f32], Update<'p>),
}

/// Per-thread buffers, sized once for the model and a slice.
#[derive(Debug)]
struct Workspace {
    /// acts[0] is the input; acts[i + 1] the output of layer i.
    acts: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    /// Gradient w.r.t. the current layer's output, and w.r.t. its input (swapped per layer).
    dout: Vec<f32>,
    dinp: Vec<f32>,
    /// douts[i]: the gradient w.r.t. layer i's output, kept for every layer by a half of a
    /// split step (empty otherwise).
    douts: Vec<Vec<f32>>,
    labels: Vec<u8>,
    /// Per-layer (forward, backward) time, summed over calls, when profiling.
    times: Option<Vec<(Duration, Duration)>>,
}

impl Workspace {
    /// Buffers for slices of up to [`SLICE`] samples; `with_grads` adds the gradient buffers of a
    /// training slice, `split` those of a half of a split step.
    fn new(model: &Sequential, with_grads: bool, split: bool) -> Self {
        let mut acts = vec![vec![0.0; SLICE * model.input_shape().len()]];
        acts.extend(model.layers().iter().map(|l| vec![0.0; SLICE * l.out_shape().len()]));
        let scratch = model.layers().iter().map(|l| vec![0.0; l.scratch_for(SLICE)]).collect();
        let widest = model.layers().iter().map(|l| l.in_shape().len().max(l.out_shape().len())).max().unwrap_or(0);
        let g = if with_grads { SLICE * widest } else { 0 };
        let douts = if split {
            model.layers().iter().map(|l| vec![0.0; SLICE * l.out_shape().len()]).collect()
        } else {
            Vec::new()
        };
        Workspace { acts, scratch, dout: vec![0.0; g], dinp: vec![0.0; g], douts, labels: vec![0; SLICE], times: None }
    }

    /// Forward through every layer on the first `n` samples of acts[0].
    fn forward(&mut self, plan: &[Step], model: &Sequential, params: &[f32], n: usize, ctx: Ctx) {
        let layers = model.layers();
        for &step in plan {
            let t0 = self.times.as_ref().map(|_| Instant::now());
            let i = match step {
                Step::One(i) => {
                    let (before, after) = self.acts.split_at_mut(i + 1);
                    let ctx = Ctx { layer: i, ..ctx };
                    layers[i].forward(
                        &mut after[0],
                        &mut self.scratch[i],
                        &before[i],
                        &params[model.param_range(i)],
                        n,
                        &ctx,
                    );
                    i
                }
                Step::ConvActPool(i, act) | Step::WinogradActPool(i, act) => {
                    // Pooled pre-activations into acts[i + 1] (argmax in the pool's scratch),
                    // then the activation into acts[i + 3], the pooling layer's output.
                    let (conv, pool) = conv_act_pool(model, i);
                    let (w, b) = params[model.param_range(i)].split_at(conv.kernel_len());
                    let (before, after) = self.acts.split_at_mut(i + 1);
                    let (s_conv, s_rest) = self.scratch.split_at_mut(i + 1);
                    let (pooled, out) = after.split_at_mut(2);
                    let oc = conv.config().filters;
                    let (cg, pg) = (conv.geometry(), pool.geometry());
                    let (pooled, arg, scratch, x) = (&mut pooled[0], &mut s_rest[1], &mut s_conv[i], &before[i]);
                    if let Step::WinogradActPool(..) = step {
                        let outputs = winograd::Outputs::Pool { pooled: &mut pooled[..], arg };
                        winograd::forward(outputs, scratch, x, w, b, n, cg, oc);
                    } else {
                        conv_pool::forward(pooled, arg, scratch, x, w, b, n, cg, oc, pg);
                    }
                    let len = n * pg.out_pixels() * oc;
                    elementwise::activation_forward(act, &mut out[0][..len], &pooled[..len]);
                    i
                }
                Step::ActPool(i, act) => {
                    // Pool the pre-activations into acts[i + 1], then activate into acts[i + 2].
                    let (before, after) = self.acts.split_at_mut(i + 1);
                    let pool = &layers[i + 1];
                    pool.forward(
                        &mut after[0],
                        &mut self.scratch[i + 1],
                        &before[i],
                        &[],
                        n,
                        &Ctx { layer: i + 1, ..ctx },
                    );
                    let len = n * pool.out_shape().len();
                    let (pooled, out) = after.split_at_mut(1);
                    elementwise::activation_forward(act, &mut out[0][..len], &pooled[0][..len]);
                    i
                }
            };
            if let (Some(times), Some(t0)) = (&mut self.times, t0) {
                times[i].0 += t0.elapsed();
            }
        }
    }

    /// (Sum of losses, correct count) of the last forward (the model ends in a softmax); with
    /// `scale`, also the gradient w.r.t. the logits into `dout`.
    fn loss(&mut self, model: &Sequential, n: usize, scale: Option<f32>) -> (f64, usize) {
        let d = scale.map(|_| &mut self.dout[..]);
        loss_of(&self.acts, &self.labels, d, model, n, scale)
    }

    /// One half of a split step (see [`Engine::train_step`]): the samples `rows` of the batch
    /// through the forward pass, the loss (each sample's gradient scaled by `scale`), and the
    /// backward pass's input gradients, every layer's output gradient kept in `douts`; the
    /// parameter gradients are left to [`split_params`]. Returns (sum of losses, correct count).
    #[allow(clippy::too_many_arguments)]
    fn half(
        &mut self,
        plan: &[Step],
        model: &Sequential,
        params: &[f32],
        fill: &FillFn,
        operands: &[Vec<f32>],
        rows: Range<usize>,
        scale: f32,
        seed: u64,
        step: u64,
    ) -> (f64, usize) {
        let m = rows.len();
        let ctx = Ctx { train: true, seed, step, first_sample: rows.start as u64, layer: 0 };
        fill.fill(rows, &mut self.acts[0], &mut self.labels);
        self.forward(plan, model, params, m, ctx);
        let layers = model.layers();
        let l = layers.len();
        // The softmax (the last layer) is fused into the loss: the logits' gradient goes to
        // douts[l - 2], the output gradient of the layer before it.
        let totals = loss_of(&self.acts, &self.labels, Some(&mut self.douts[l - 2][..]), model, m, Some(scale));
        // Input gradients down to the first layer with parameters, whose own is not needed.
        for i in (model.first_trainable() + 1..l - 1).rev() {
            let t0 = self.times.as_ref().map(|_| Instant::now());
            let (below, here) = self.douts.split_at_mut(i);
            let (inp, out) = (&self.acts[i], &self.acts[i + 1]);
            let p = &params[model.param_range(i)];
            let (dinp, dout, operand) = (&mut below[i - 1], &here[0], &operands[i]);
            layers[i].backward_input(dinp, dout, operand, &mut self.scratch[i], inp, out, p, m);
            if let (Some(times), Some(t0)) = (&mut self.times, t0) {
                times[i].1 += t0.elapsed();
            }
        }
        totals
    }

    /// Backward from the logits' gradient in `dout` down to the first layer with parameters
    /// (the softmax is fused into the loss; that layer's input gradient, and anything below it,
    /// is not computed).
    fn backward(&mut self, dparams: &mut [f32], plan: &[Step], model: &Sequential, params: &[f32], n: usize) {
        let layers = model.layers();
        let first = model.first_trainable();
        // The last step is the softmax, fused into the loss.
        for &step in plan[..plan.len() - 1].iter().rev() {
            let (Step::One(i) | Step::ActPool(i, _) | Step::ConvActPool(i, _) | Step::WinogradActPool(i, _)) = step;
            if i < first {
                break;
            }
            let t0 = self.times.as_ref().map(|_| Instant::now());
            let i = match step {
                Step::One(i) => {
                    let r = model.param_range(i);
                    let dinp = if i > first { Some(&mut self.dinp[..]) } else { None };
                    let (dout, scratch) = (&self.dout, &mut self.scratch[i]);
                    layers[i].backward(
                        dinp,
                        &mut dparams[r.clone()],
                        dout,
                        scratch,
                        &self.acts[i],
                        &self.acts[i + 1],
                        &params[r],
                        n,
                    );
                    i
                }
                Step::ConvActPool(i, act) | Step::WinogradActPool(i, act) => {
                    // Through the activation at the pooled positions (into dout), then the
                    // convolution's gradients from the pooled gradient and the saved argmax.
                    let (conv, pool) = conv_act_pool(model, i);
                    let (cg, pg, oc) = (conv.geometry(), pool.geometry(), conv.config().filters);
                    let len = n * pg.out_pixels() * oc;
                    let (pooled, out) = (&self.acts[i + 1][..len], &self.acts[i + 3][..len]);
                    elementwise::activation_backward(act, &mut self.dinp[..len], &self.dout[..len], pooled, out);
                    std::mem::swap(&mut self.dout, &mut self.dinp);
                    let (dw, db) = dparams[model.param_range(i)].split_at_mut(conv.kernel_len());
                    let (s_conv, s_rest) = self.scratch.split_at_mut(i + 1);
                    let (dpooled, arg, scratch, x) =
                        (&self.dout[..len], &s_rest[1][..len], &mut s_conv[i], &self.acts[i]);
                    if let Step::WinogradActPool(..) = step {
                        let dx = if i > first { Some(&mut self.dinp[..]) } else { None };
                        let grads = winograd::OutputGrads::Pool { dpooled, arg };
                        winograd::backward(dx, dw, db, grads, scratch, x, n, cg, oc);
                    } else {
                        // The kernel gradient only: a ConvActPool is layer 0.
                        conv_pool::backward_params(dw, db, scratch, dpooled, arg, x, n, cg, oc, pg);
                    }
                    i
                }
                Step::ActPool(i, act) => {
                    if i > first {
                        // Through the activation at the pooled positions, then routed by the pool.
                        let pool = &layers[i + 1];
                        let len = n * pool.out_shape().len();
                        let (pooled, out) = (&self.acts[i + 1][..len], &self.acts[i + 2][..len]);
                        elementwise::activation_backward(act, &mut self.dinp[..len], &self.dout[..len], pooled, out);
                        std::mem::swap(&mut self.dout, &mut self.dinp);
                        let (dout, scratch) = (&self.dout, &mut self.scratch[i + 1]);
                        pool.backward(
                            Some(&mut self.dinp[..]),
                            &mut [],
                            dout,
                            scratch,
                            &self.acts[i],
                            &self.acts[i + 1],
                            &[],
                            n,
                        );
                    }
                    i
                }
            };
            std::mem::swap(&mut self.dout, &mut self.dinp);
            if let (Some(times), Some(t0)) = (&mut self.times, t0) {
                times[i].1 += t0.elapsed();
            }
        }
    }
}

/// (Sum of losses, correct count) of the forward pass whose outputs are `acts` (the model ends
/// in a softmax) on the first `n` samples; with `d`, also the gradient w.r.t. the logits, each
/// sample's scaled by `scale`.
fn loss_of(
    acts: &[Vec<f32>],
    labels: &[u8],
    d: Option<&mut [f32]>,
    model: &Sequential,
    n: usize,
    scale: Option<f32>,
) -> (f64, usize) {
    let l = model.layers().len();
    let classes = model.output_shape().len();
    let (probs, logits) = (&acts[l], &acts[l - 1]);
    softmax_cross_entropy(d, &probs[..n * classes], &logits[..n * classes], &labels[..n], classes, scale.unwrap_or(1.0))
}

/// Whether the engine runs a one-slice training batch of `batch_size` as a split step: the plan
/// is layer by layer and every layer splits its backward pass ([`Layer::splits_backward`]).
fn splits(model: &Sequential, plan: &[Step], batch_size: usize) -> bool {
    (2..=SLICE).contains(&batch_size)
        && plan.iter().all(|s| matches!(s, Step::One(_)))
        && model.layers().iter().all(|l| l.splits_backward())
}

/// The parameter gradients of a split step into `grads`, from the halves' inputs and output
/// gradients (`a` holds the first `h` samples, `b` the rest of the `n`): one task per layer with
/// parameters, in parallel; each layer's gradient is one [`Layer::backward_params`] over the two
/// blocks in order, so its bits do not depend on the threads. Returns each task's (layer, time).
#[allow(clippy::too_many_arguments)]
fn split_params(
    model: &Sequential,
    grads: &mut [f32],
    update: Option<(&mut [f32], Update)>,
    a: &Workspace,
    b: &Workspace,
    h: usize,
    n: usize,
    timed: bool,
) -> Vec<(usize, Duration, bool)> {
    let layers = model.layers();
    let (mut weights, apply) = match update {
        Some((p, f)) => (p, Some(f)),
        None => (&mut [][..], None),
    };
    let mut tasks: Vec<(usize, &mut [f32], &mut [f32])> = Vec::new();
    let mut rest = grads;
    for i in 0..layers.len() {
        let len = model.param_range(i).len();
        let (g, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        let (p, tail) = std::mem::take(&mut weights).split_at_mut(if apply.is_some() { len } else { 0 });
        weights = tail;
        if !g.is_empty() {
            tasks.push((i, g, p));
        }
    }
    tasks
        .into_par_iter()
        .with_max_len(1)
        .map(|(i, g, p)| {
            let t0 = timed.then(Instant::now);
            let (inp, out) = (layers[i].in_shape().len(), layers[i].out_shape().len());
            let blocks = [
                (&a.acts[i][..h * inp], &a.douts[i][..h * out], h),
                (&b.acts[i][..(n - h) * inp], &b.douts[i][..(n - h) * out], n - h),
            ];
            layers[i].backward_params(g, &blocks);
            let finite = apply.is_none_or(|f| f.apply(p, g));
            (i, t0.map(|t| t.elapsed()).unwrap_or_default(), finite)
        })
        .collect()
}

/// One step of the engine's plan over the model's layers.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Layer i on its own.
    One(usize),
    /// A monotone activation (layer i) followed by max pooling (layer i + 1), run as pooling
    /// then activation: since f is non-decreasing, max f(x) = f(max x), so the activation and
    /// its derivative are evaluated on a quarter of the values. The argmax is taken on x.
    ActPool(usize, Activation),
    /// The first layer, a Conv2D with a small kernel, followed by a monotone activation and a
    /// tiling max pooling: computed by `kernels::conv_pool` without the full-size output.
    ConvActPool(usize, Activation),
    /// A Winograd Conv2D (layer i), a monotone activation and a 2×2 max pooling with stride 2:
    /// the pooling is done in Winograd's output transform (a 2×2 output tile is a pooling
    /// window), so the full-size output is never stored, and the outputs the pooling drops
    /// (the last row and column of an odd-sized output) are never computed.
    WinogradActPool(usize, Activation),
}

/// The Conv2D and MaxPooling2D of a `ConvActPool` or `WinogradActPool` step (checked when the
/// plan was made).
fn conv_act_pool(model: &Sequential, i: usize) -> (&Conv2d, &MaxPool2d) {
    let layers = model.layers();
    match (layers[i].as_conv2d(), layers[i + 2].as_max_pool2d()) {
        (Some(c), Some(p)) => (c, p),
        _ => unreachable!("plan() fuses only conv2d, activation, max_pooling2d"),
    }
}

/// Largest kernel (KH·KW·C) for which the fused first-layer kernel beats im2col + GEMM.
const SMALL_PATCH: usize = 32;

/// The activation of layer `i`, if it is one that commutes with a max pooling after it.
fn monotone_activation(layers: &[Box<dyn Layer>], i: usize) -> Option<Activation> {
    layers.get(i)?.kind().activation().filter(Activation::is_monotone)
}

/// The plan for `model`: its layers in order, with activation + max-pooling pairs fused.
/// Fusions are chosen by layer kind and by [`Activation::is_monotone`], never by name.
fn plan(model: &Sequential) -> Vec<Step> {
    let layers = model.layers();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        if i == 0 && layers.len() > 3 {
            let conv = layers[0].as_conv2d().filter(|c| c.geometry().patch_len() <= SMALL_PATCH);
            let act = monotone_activation(layers, 1);
            let pool = layers[2].as_max_pool2d().filter(|p| p.tiles());
            if let (Some(_), Some(act), Some(_)) = (conv, act, pool) {
                steps.push(Step::ConvActPool(0, act));
                i = 3;
                continue;
            }
        }
        let winograd = layers[i].as_conv2d().filter(|c| c.is_winograd()).and_then(|c| {
            let act = monotone_activation(layers, i + 1)?;
            let pool = layers.get(i + 2)?.as_max_pool2d()?;
            winograd::pools_tiles(c.geometry(), pool.geometry()).then_some(act)
        });
        if let Some(act) = winograd {
            steps.push(Step::WinogradActPool(i, act));
            i += 3;
            continue;
        }
        let pool_next = layers.get(i + 1).is_some_and(|l| l.kind() == LayerKind::MaxPooling2d);
        match monotone_activation(layers, i).filter(|_| pool_next) {
            Some(act) => {
                steps.push(Step::ActPool(i, act));
                i += 2;
            }
            None => {
                steps.push(Step::One(i));
                i += 1;
            }
        }
    }
    steps
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
    plan: Vec<Step>,
    /// Whether a one-slice training batch runs as a split step (see [`Engine::train_step`]).
    split: bool,
    /// Per layer, the operand of its input gradient ([`Layer::form_input_operand`]), formed
    /// once per split step for both halves.
    operands: Vec<Vec<f32>>,
    /// The column step, which runs a split step of a fully connected net whose layers it
    /// supports (see `model/columns.rs`), and which of it and the halves runs each step.
    columns: Option<ColumnStep>,
    chooser: Chooser,
    /// Whether [`Engine::train_step_updating`] leaves the gradient in `grads` (see
    /// [`Engine::keep_gradients`]).
    keep_grads: bool,
}

/// The calling thread's workspace. The lock is uncontended when the pool has no more threads
/// than the engine has workspaces (it was made in that pool); otherwise threads take turns.
fn worker(workers: &[Mutex<Workspace>]) -> MutexGuard<'_, Workspace> {
    let i = rayon::current_thread_index().unwrap_or(0) % workers.len();
    workers[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Buffers for batches of up to `batch_size`; `training` adds gradient buffers. Call it
    /// inside the thread pool that will run it: it makes one workspace per thread.
    pub fn new(model: &Sequential, batch_size: usize, training: bool) -> Self {
        let slices = batch_size.div_ceil(SLICE).max(1);
        let eval_slices = batch_size.div_ceil(EVAL_SLICE).max(1);
        // One workspace per thread, but no more than a training batch has slices: a workspace
        // holds a training slice's activations (megabytes), and on a many-core machine more
        // would sit idle in training. Inference then runs its smaller slices on those.
        let plan = plan(model);
        let split = training && splits(model, &plan, batch_size);
        // A split step runs its two halves in two workspaces, whatever the number of threads.
        let threads = rayon::current_num_threads().clamp(1, slices).max(if split { 2 } else { 1 });
        let grad_len = if training && !split { model.param_count() } else { 0 };
        Engine {
            workers: (0..threads).map(|_| Mutex::new(Workspace::new(model, training, split))).collect(),
            slice_grads: if training { (0..slices).map(|_| vec![0.0; grad_len]).collect() } else { Vec::new() },
            slice_totals: vec![(0.0, 0); eval_slices], // EVAL_SLICE ≤ SLICE: the most slices
            batch_size,
            plan,
            split,
            operands: if split {
                model.layers().iter().map(|l| vec![0.0; l.input_operand_len()]).collect()
            } else {
                Vec::new()
            },
            columns: if split { ColumnStep::for_model(model) } else { None },
            chooser: Chooser::default(),
            keep_grads: true,
        }
    }

    /// Whether [`Engine::train_step_updating`] must leave the batch-mean gradient in `grads`
    /// (the default). Without it, a step that updates the weights itself may update them from
    /// the gradient as it is formed and leave `grads` partly unwritten (its values are then
    /// unspecified), which spares writing and reading back a gradient as large as the weights:
    /// for a trainer whose callbacks do not read the gradient. The weights are the same.
    pub fn keep_gradients(&mut self, keep: bool) {
        self.keep_grads = keep;
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Whether a training step of `n` samples runs as a split step (see
    /// [`Engine::train_step`]), in which [`Engine::train_step_updating`] applies the update.
    pub fn splits(&self, n: usize) -> bool {
        self.split && n >= 2
    }

    /// Multiply-adds per sample that the plan performs, (forward, backward): as
    /// [`Sequential::macs_per_sample`] counts them, but with each Winograd convolution at 16·C·OC
    /// per computed 2×2 tile instead of KH·KW·C·OC per output (and, fused with a pooling, only
    /// the tiles the pooling keeps). The transforms' additions are not counted.
    pub fn macs_performed(&self, model: &Sequential) -> (u64, u64) {
        let (mut fwd, mut bwd) = model.macs_per_sample();
        for &step in &self.plan {
            let (i, pooled) = match step {
                Step::One(i) => (i, false),
                Step::WinogradActPool(i, _) => (i, true),
                Step::ActPool(..) | Step::ConvActPool(..) => continue,
            };
            let Some(conv) = model.layers()[i].as_conv2d().filter(|c| c.is_winograd()) else { continue };
            let g = conv.geometry();
            let tiles = if pooled { (g.oh / 2) * (g.ow / 2) } else { g.oh.div_ceil(2) * g.ow.div_ceil(2) };
            let (direct, _) = conv.macs_per_sample();
            let done = (16 * g.c * conv.config().filters * tiles) as u64;
            // Backward: the weight gradient, and the input gradient except for the first layer.
            let passes = if i == 0 { 1 } else { 2 };
            fwd = fwd - direct + done;
            bwd = bwd - passes * direct + passes * done;
        }
        (fwd, bwd)
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
    ///
    /// A batch of one slice ([`SLICE`] samples or fewer, at least 2) of a model whose layers
    /// all split (dense nets) runs as a *split step*: its two halves' forward passes, losses
    /// and input gradients on two threads, then the parameter gradients in parallel over the
    /// layers, each one chain over the samples in order, so that the bits are those of the
    /// whole slice on any number of threads. A fully connected net without dropout or learned
    /// activations runs it as a column step instead (see the module docs), with the same bits.
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
        if self.splits(n) {
            return self.split_step(model, Weights::Read(params), grads, n, fill, seed, step).0;
        }
        let (workers, plan) = (&self.workers, &self.plan);
        if used == 1 {
            // One slice: its gradient is the batch's, formed in place (no copy, no fork).
            let mut guard = worker(workers);
            let ws = &mut *guard;
            fill.fill(0..n, &mut ws.acts[0], &mut ws.labels);
            let ctx = Ctx { train: true, seed, step, first_sample: 0, layer: 0 };
            ws.forward(plan, model, params, n, ctx);
            let totals = ws.loss(model, n, Some(scale));
            ws.backward(grads, plan, model, params, n);
            self.slice_totals[0] = totals;
            return self.totals(1);
        }
        let slices = self.slice_grads[..used].par_iter_mut().zip(&mut self.slice_totals[..used]);
        slices.enumerate().for_each(|(s, (dparams, totals))| {
            let mut guard = worker(workers);
            let ws = &mut *guard;
            let first = s * SLICE;
            let m = SLICE.min(n - first);
            fill.fill(first..first + m, &mut ws.acts[0], &mut ws.labels);
            let ctx = Ctx { train: true, seed, step, first_sample: first as u64, layer: 0 };
            ws.forward(plan, model, params, m, ctx);
            *totals = ws.loss(model, m, Some(scale));
            ws.backward(dparams, plan, model, params, m);
        });
        // Sum the slices' gradients in slice order (parallel over parameters, not slices).
        let slices = &self.slice_grads[..used];
        grads.par_chunks_mut(8192).enumerate().for_each(|(c, g)| {
            let r = c * 8192..c * 8192 + g.len();
            g.copy_from_slice(&slices[0][r.clone()]);
            for d in &slices[1..] {
                elementwise::add_assign(g, &d[r.clone()]);
            }
        });
        self.totals(used)
    }

    /// [`Engine::train_step`] that may also update the weights: where the step is split (a
    /// one-slice batch of a dense net, see [`Engine::train_step`]), `update` is applied to each
    /// layer's parameters as soon as that layer's gradient is formed, while both are still in
    /// cache. Returns the step's totals and, when the update was applied, whether every updated
    /// weight is finite (`None`: not applied, and the caller updates the weights itself). `grads`
    /// holds the batch-mean gradient either way, unless [`Engine::keep_gradients`] said otherwise
    /// and the update was applied. The update must be element-wise, so that applying it per
    /// layer is applying it to the whole.
    #[allow(clippy::too_many_arguments)]
    pub fn train_step_updating(
        &mut self,
        model: &Sequential,
        params: &mut [f32],
        grads: &mut [f32],
        n: usize,
        fill: &FillFn,
        seed: u64,
        step: u64,
        update: Update,
    ) -> ((f64, usize), Option<bool>) {
        if self.splits(n) {
            let (totals, finite) = self.split_step(model, Weights::Update(params, update), grads, n, fill, seed, step);
            (totals, Some(finite))
        } else {
            (self.train_step(model, params, grads, n, fill, seed, step), None)
        }
    }

    /// A split step: the first half of the samples and the second run their forward pass,
    /// loss and input gradients on two threads, in two workspaces, then the layers' parameter
    /// gradients are formed in parallel over the layers from both halves (and, with
    /// `Weights::Update`, each layer's weights updated at once). Each sample's values are those of the whole
    /// slice, and each parameter gradient is one chain of multiply-adds over the samples in
    /// order, as in a one-slice step: the bits do not depend on the number of threads. Returns
    /// the totals and whether every updated weight is finite (true when none is updated).
    #[allow(clippy::too_many_arguments)]
    fn split_step(
        &mut self,
        model: &Sequential,
        weights: Weights,
        grads: &mut [f32],
        n: usize,
        fill: &FillFn,
        seed: u64,
        step: u64,
    ) -> ((f64, usize), bool) {
        let profiling = self.workers[0].get_mut().unwrap_or_else(|p| p.into_inner()).times.is_some();
        let Some(columns) = self.columns.as_mut().filter(|_| !profiling) else {
            return self.halves_step(model, weights, grads, n, fill, seed, step);
        };
        // Both ways give the same bits; the faster one lately runs (see `Chooser`).
        let by_columns = self.chooser.columns_next();
        let t0 = Instant::now();
        let out = if by_columns {
            let (totals, finite) = columns.step(model, weights, grads, n, fill, self.keep_grads);
            self.slice_totals[0] = totals;
            (self.totals(1), finite)
        } else {
            self.halves_step(model, weights, grads, n, fill, seed, step)
        };
        self.chooser.record(by_columns, t0.elapsed());
        out
    }

    /// The split step in halves (see [`Engine::split_step`]).
    #[allow(clippy::too_many_arguments)]
    fn halves_step(
        &mut self,
        model: &Sequential,
        weights: Weights,
        grads: &mut [f32],
        n: usize,
        fill: &FillFn,
        seed: u64,
        step: u64,
    ) -> ((f64, usize), bool) {
        let params: &[f32] = match &weights {
            Weights::Read(p) => p,
            Weights::Update(p, _) => p,
        };
        let scale = 1.0 / n as f32;
        let h = n.div_ceil(2);
        // The operands of the input gradients first (none below the first layer with
        // parameters, whose input gradient is not formed), in parallel over the layers.
        let skip = model.first_trainable() + 1;
        self.operands.par_iter_mut().enumerate().skip(skip).with_max_len(1).for_each(|(i, o)| {
            model.layers()[i].form_input_operand(o, &params[model.param_range(i)]);
        });
        let (plan, model_ref, operands) = (&self.plan, model, &self.operands);
        let [a, b] = &mut self.workers[..2] else { unreachable!("a split engine has two workspaces") };
        let (a, b) = (a.get_mut().unwrap_or_else(|p| p.into_inner()), b.get_mut().unwrap_or_else(|p| p.into_inner()));
        let ((l0, c0), (l1, c1)) = rayon::join(
            || a.half(plan, model_ref, params, fill, operands, 0..h, scale, seed, step),
            || b.half(plan, model_ref, params, fill, operands, h..n, scale, seed, step),
        );
        let timed = a.times.is_some();
        let update = match weights {
            Weights::Read(_) => None,
            Weights::Update(p, f) => Some((p, f)),
        };
        let mut finite = true;
        for (i, t, ok) in split_params(model, grads, update, a, b, h, n, timed) {
            if let Some(times) = &mut a.times {
                times[i].1 += t;
            }
            finite &= ok;
        }
        self.slice_totals[0] = (l0 + l1, c0 + c1);
        (self.totals(1), finite)
    }

    /// Inference on `n` samples: (sum of losses, correct count).
    pub fn evaluate(&mut self, model: &Sequential, params: &[f32], n: usize, fill: &FillFn) -> (f64, usize) {
        debug_assert!(n <= self.batch_size);
        let used = n.div_ceil(EVAL_SLICE);
        let (workers, plan) = (&self.workers, &self.plan);
        self.slice_totals[..used].par_iter_mut().enumerate().for_each(|(s, totals)| {
            let mut guard = worker(workers);
            let ws = &mut *guard;
            let first = s * EVAL_SLICE;
            let m = EVAL_SLICE.min(n - first);
            fill.fill(first..first + m, &mut ws.acts[0], &mut ws.labels);
            ws.forward(plan, model, params, m, Ctx::inference());
            *totals = ws.loss(model, m, None);
        });
        self.totals(used)
    }

    /// The model's outputs for `images` ((n, H, W, C), n = `images.len()` / the input size,
    /// any n): class probabilities (n, classes) for a model ending in a softmax. No labels.
    ///
    /// The images are cut into batches of [`Engine::batch_size`] and each batch into the same
    /// slices [`Engine::evaluate`] runs, so on the same batches the probabilities are bitwise
    /// those whose loss and accuracy `evaluate` reports (and they do not depend on the number of
    /// threads). Errors when `images` is not a whole number of images.
    ///
    /// ```
    /// use elu_lab::model::{Engine, ModelSpec, Sequential};
    ///
    /// let model = Sequential::from_spec(&ModelSpec::article())?;
    /// let params = model.init_params(1);
    /// let mut engine = Engine::new(&model, 64, false);
    /// let images = vec![0.0; 3 * 28 * 28]; // three blank 28×28 images
    /// let probs = engine.infer(&model, &params, &images)?;
    /// assert_eq!(probs.len(), 3 * 10);
    /// for p in probs.chunks(10) {
    ///     assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    /// }
    /// # Ok::<(), elu_lab::Error>(())
    /// ```
    pub fn infer(&mut self, model: &Sequential, params: &[f32], images: &[f32]) -> crate::Result<Vec<f32>> {
        let per = model.input_shape().len();
        if !images.len().is_multiple_of(per) {
            return Err(crate::Error::DataMismatch {
                msg: format!("{} values are not a whole number of {per}-value images", images.len()),
            });
        }
        let classes = model.output_shape().len();
        let mut probs = vec![0.0; images.len() / per * classes];
        let (workers, plan, last) = (&self.workers, &self.plan, model.layers().len());
        let bs = self.batch_size.max(1);
        for (xs, ps) in images.chunks(bs * per).zip(probs.chunks_mut(bs * classes)) {
            ps.par_chunks_mut(EVAL_SLICE * classes).enumerate().for_each(|(s, p)| {
                let mut guard = worker(workers);
                let ws = &mut *guard;
                let m = p.len() / classes;
                let x = &xs[s * EVAL_SLICE * per..][..m * per];
                ws.acts[0][..m * per].copy_from_slice(x);
                ws.forward(plan, model, params, m, Ctx::inference());
                p.copy_from_slice(&ws.acts[last][..m * classes]);
            });
        }
        Ok(probs)
    }

    /// Totals over the used slices, added in slice order.
    fn totals(&self, used: usize) -> (f64, usize) {
        self.slice_totals[..used].iter().fold((0.0, 0), |(l, c), t| (l + t.0, c + t.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::argmax;
    use crate::model::{ModelSpec, Trace};
    use crate::rng::Rng;

    /// The whole batch through every layer in order, unfused and unsliced: the reference.
    fn reference(
        model: &Sequential,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        train: bool,
        step: u64,
    ) -> (f64, Vec<f32>) {
        let n = labels.len();
        let layers = model.layers();
        let ctx = Ctx { train, seed: 3, step, first_sample: 0, layer: 0 };
        let Trace { acts, mut scratch } = model.forward_trace(params, x, n, ctx);
        let classes = model.output_shape().len();
        let mut dout = vec![0.0; n * classes];
        let (loss, _) = softmax_cross_entropy(
            Some(&mut dout),
            &acts[layers.len()],
            &acts[layers.len() - 1],
            labels,
            classes,
            1.0 / n as f32,
        );
        let mut grads = vec![0.0; params.len()];
        for i in (0..layers.len() - 1).rev() {
            let r = model.param_range(i);
            let mut dinp = vec![0.0; n * layers[i].in_shape().len()];
            layers[i].backward(
                Some(&mut dinp),
                &mut grads[r.clone()],
                &dout,
                &mut scratch[i],
                &acts[i],
                &acts[i + 1],
                &params[r],
                n,
            );
            dout = dinp;
        }
        (loss, grads)
    }

    #[test]
    fn plans_fuse_by_kind_and_monotonicity() {
        use crate::activations::Activation;
        use crate::model::Overrides;
        let kinds = |spec: &ModelSpec| {
            let plan = plan(&Sequential::from_spec(spec).unwrap());
            plan.iter()
                .map(|s| match s {
                    Step::One(_) => "one",
                    Step::ActPool(..) => "act_pool",
                    Step::ConvActPool(..) => "conv_act_pool",
                    Step::WinogradActPool(..) => "winograd_act_pool",
                })
                .collect::<Vec<_>>()
        };
        let fused = ["conv_act_pool", "one", "winograd_act_pool", "one", "one", "one", "one", "one", "one"];
        // Every monotone activation fuses as ELU does.
        for act in Activation::ALL.into_iter().filter(Activation::is_monotone) {
            let mut spec = ModelSpec::article();
            spec.apply(&Overrides { activation: Some(act), ..Default::default() }).unwrap();
            assert_eq!(kinds(&spec), fused, "{act:?}");
        }
        // PReLU (learned slopes) and GELU, SiLU, Mish (not monotone) run layer by layer: the
        // activation before the pooling.
        for act in Activation::ALL.into_iter().filter(|a| !a.is_monotone()) {
            let mut spec = ModelSpec::article();
            spec.apply(&Overrides { activation: Some(act), ..Default::default() }).unwrap();
            assert_eq!(kinds(&spec), ["one"; 13], "{act:?}");
        }
        // An activation then a pooling with no convolution before: pooling first.
        let text = "input_shape = [4, 4, 2]\n[[layers]]\ntype = 'relu'\n[[layers]]\ntype = 'max_pooling2d'\n";
        let spec = ModelSpec::parse(text, std::path::Path::new("x")).unwrap();
        assert_eq!(kinds(&spec), ["act_pool"]);
    }

    #[test]
    fn non_monotone_activations_are_applied_before_the_pooling() {
        // One 2×2 window holding −4 and −1: max(f(x)) is f(−4) for GELU, SiLU and Mish (they
        // dip below 0 and come back), while f(max x) would be f(−1).
        let x = [-4.0f32, -1.0, -4.0, -1.0];
        for act in Activation::ALL {
            let text = format!(
                "input_shape = [2, 2, 1]\n[[layers]]\ntype = '{}'\n[[layers]]\ntype = 'max_pooling2d'\n",
                act.name()
            );
            let model = Sequential::from_spec(&ModelSpec::parse(&text, std::path::Path::new("x")).unwrap()).unwrap();
            let params = model.init_params(1);
            let mut engine = Engine::new(&model, 1, false);
            let got = engine.infer(&model, &params, &x).unwrap()[0];
            let act = model.layers()[0].kind().activation().unwrap();
            let after = x.iter().map(|&v| act.value(v)).fold(f32::NEG_INFINITY, f32::max);
            let before = act.value(x.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            assert_eq!(got, after, "{act:?}: the engine computes max f(x)");
            if act.is_monotone() {
                assert_eq!(before, after, "{act:?}");
            } else if !act.is_learned() {
                assert!(after > before + 0.1, "{act:?}: pooling first would give {before}, not {after}");
            }
        }
    }

    #[test]
    fn sliced_fused_engine_matches_the_plain_layer_by_layer_reference() {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let plan = plan(&model);
        assert!(
            matches!(plan[0], Step::ConvActPool(0, _)) && matches!(plan[2], Step::WinogradActPool(4, _)),
            "{plan:?}"
        );
        let params = model.init_params(7);
        let mut rng = Rng::from_seed(8);
        let n = 2 * SLICE + 5; // three slices, the last one short
        let x: Vec<f32> = (0..n * 784).map(|_| rng.uniform_f32()).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
        let (ref_loss, ref_grads) = reference(&model, &params, &x, &labels, true, 11);

        let mut engine = Engine::new(&model, n, true);
        let mut grads = vec![0.0; params.len()];
        let fill = |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
            let m = r.len();
            xs[..m * 784].copy_from_slice(&x[r.start * 784..r.end * 784]);
            ys[..m].copy_from_slice(&labels[r]);
        };
        let (loss, _) = engine.train_step(&model, &params, &mut grads, n, &fill, 3, 11);
        assert!((loss - ref_loss).abs() < 1e-5 * ref_loss.abs(), "loss {loss} vs {ref_loss}");
        let scale = ref_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let worst = grads.iter().zip(&ref_grads).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("largest gradient difference {worst:e} (largest gradient {scale:e})");
        assert!(worst <= 1e-4 * scale, "largest gradient difference {worst} (scale {scale})");

        // Winograd does the second convolution in 25 tiles of 16·32·64 multiply-adds instead of
        // 121 outputs of 9·32·64; the rest is counted as Sequential counts it.
        let ((fd, bd), (fw, bw)) = (model.macs_per_sample(), engine.macs_performed(&model));
        let (direct, wino) = (121 * 9 * 32 * 64, 25 * 16 * 32 * 64);
        assert_eq!((fd - fw, bd - bw), (direct - wino, 2 * (direct - wino)));

        let (eval_loss, _) = engine.evaluate(&model, &params, n, &fill);
        let (ref_eval, _) = reference(&model, &params, &x, &labels, false, 0);
        assert!((eval_loss - ref_eval).abs() < 1e-5 * ref_eval.abs(), "inference loss {eval_loss} vs {ref_eval}");
        assert_ne!(eval_loss, loss, "dropout is off at inference");
    }

    #[test]
    fn every_activation_fused_or_not_matches_the_reference() {
        use crate::model::Overrides;
        let mut rng = Rng::from_seed(12);
        let n = SLICE + 3;
        let x: Vec<f32> = (0..n * 784).map(|_| rng.uniform_f32()).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
        for act in Activation::ALL.into_iter().chain([Activation::Celu { alpha: 0.5 }]) {
            let mut spec = ModelSpec::article();
            spec.apply(&Overrides { activation: Some(act), ..Default::default() }).unwrap();
            let model = Sequential::from_spec(&spec).unwrap();
            let params = model.init_params(3);
            let (ref_loss, ref_grads) = reference(&model, &params, &x, &labels, true, 2);
            let mut engine = Engine::new(&model, n, true);
            let mut grads = vec![0.0; params.len()];
            let fill = |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
                let m = r.len();
                xs[..m * 784].copy_from_slice(&x[r.start * 784..r.end * 784]);
                ys[..m].copy_from_slice(&labels[r]);
            };
            let (loss, _) = engine.train_step(&model, &params, &mut grads, n, &fill, 3, 2);
            let scale = ref_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let worst = grads.iter().zip(&ref_grads).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            eprintln!("{:<10} loss {loss:.6} vs {ref_loss:.6}, largest gradient difference {worst:e}", act.name());
            assert!((loss - ref_loss).abs() < 1e-5 * ref_loss.abs(), "{act:?}: loss {loss} vs {ref_loss}");
            assert!(worst <= 1e-4 * scale, "{act:?}: largest gradient difference {worst} (scale {scale})");
        }
    }

    #[test]
    fn a_one_slice_batch_of_the_fully_connected_net_gives_the_same_bits_on_any_number_of_threads() {
        // Batch 64 is one slice, run as a split step (two halves on two threads when there are two).
        let model = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
        let params = model.init_params(2);
        let mut rng = Rng::from_seed(4);
        let n = SLICE;
        let x: Vec<f32> = (0..n * 784).map(|_| rng.uniform_f32()).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
        let fill = |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
            xs[..r.len() * 784].copy_from_slice(&x[r.start * 784..r.end * 784]);
            ys[..r.len()].copy_from_slice(&labels[r]);
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut engine = Engine::new(&model, n, true);
                let mut grads = vec![0.0; params.len()];
                let (loss, _) = engine.train_step(&model, &params, &mut grads, n, &fill, 1, 0);
                (loss, grads)
            })
        };
        let (loss1, grads1) = run(1);
        let (ref_loss, ref_grads) = reference(&model, &params, &x, &labels, true, 0);
        assert!((loss1 - ref_loss).abs() < 1e-5 * ref_loss.abs(), "loss {loss1} vs {ref_loss}");
        let scale = ref_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let worst = grads1.iter().zip(&ref_grads).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4 * scale, "largest gradient difference {worst} (scale {scale})");
        for threads in [2, 3] {
            let (loss, grads) = run(threads);
            assert_eq!(loss.to_bits(), loss1.to_bits(), "{threads} threads");
            assert!(grads.iter().zip(&grads1).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads");
        }
    }

    /// `n` random 28 × 28 images and labels, drawn by `seed`.
    fn mnist_shaped_batch(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = Rng::from_seed(seed);
        let x: Vec<f32> = (0..n * 784).map(|_| rng.uniform_f32()).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.below(10) as u8).collect();
        (x, labels)
    }

    /// The fill function of a batch of 28 × 28 images held in memory.
    fn fill_from<'a>(x: &'a [f32], labels: &'a [u8]) -> impl Fn(Range<usize>, &mut [f32], &mut [u8]) + Sync + 'a {
        move |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
            xs[..r.len() * 784].copy_from_slice(&x[r.start * 784..r.end * 784]);
            ys[..r.len()].copy_from_slice(&labels[r]);
        }
    }

    /// Samples that list their own nonzeros (as a data set of bytes does), from `x`.
    struct Listing<'a> {
        x: &'a [f32],
        labels: &'a [u8],
    }

    impl Samples for Listing<'_> {
        fn fill(&self, r: Range<usize>, xs: &mut [f32], ys: &mut [u8]) {
            fill_from(self.x, self.labels)(r, xs, ys)
        }

        fn fill_lists(&self, r: Range<usize>, lists: &mut SparseColumns, ys: &mut [u8]) -> bool {
            lists.set(&self.x[r.start * 784..r.end * 784], 784);
            ys[..r.len()].copy_from_slice(&self.labels[r]);
            true
        }
    }

    #[test]
    fn a_split_step_gives_the_bits_of_the_whole_batch_through_the_plain_layers() {
        // The two halves' input gradients are per sample, and each parameter gradient is one
        // chain over the samples in order: exactly the reference's gradients, dropout included
        // (its masks are keyed by sample). Odd batches split 19 + 18.
        let text = "input_shape = [28, 28, 1]\n\
            [[layers]]\ntype = \"flatten\"\n\
            [[layers]]\ntype = \"dense\"\nunits = 40\n\
            [[layers]]\ntype = \"elu\"\n\
            [[layers]]\ntype = \"dropout\"\nrate = 0.3\n\
            [[layers]]\ntype = \"dense\"\nunits = 24\n\
            [[layers]]\ntype = \"relu\"\n\
            [[layers]]\ntype = \"dense\"\nunits = 10\n\
            [[layers]]\ntype = \"softmax\"\n";
        let spec = ModelSpec::parse(text, std::path::Path::new("split.toml")).unwrap();
        for (model, n) in [
            (Sequential::from_spec(&spec).unwrap(), 37),
            (Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap(), SLICE),
        ] {
            let params = model.init_params(5);
            let (x, labels) = mnist_shaped_batch(n, 6);
            let fill = fill_from(&x, &labels);
            let (ref_loss, ref_grads) = reference(&model, &params, &x, &labels, true, 9);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (loss, grads) = pool.install(|| {
                    let mut engine = Engine::new(&model, n, true);
                    assert!(engine.split, "{n} samples through dense layers split");
                    let mut grads = vec![0.0; params.len()];
                    let (loss, _) = engine.train_step(&model, &params, &mut grads, n, &fill, 3, 9);
                    (loss, grads)
                });
                assert!((loss - ref_loss).abs() < 1e-12 * ref_loss.abs(), "loss {loss} vs {ref_loss}");
                let same = grads.iter().zip(&ref_grads).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{threads} threads: gradients differ from the reference's");
            }
        }
        // Convolutions do not split; neither does a batch of more than one slice.
        let article = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert!(!Engine::new(&article, SLICE, true).split);
        let fc = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
        assert!(!Engine::new(&fc, SLICE + 1, true).split && !Engine::new(&fc, SLICE, false).split);
    }

    /// A step that updates the weights itself, layer by layer, leaves the gradient and the
    /// weights of a step followed by the update of the whole: on a split engine (which applies
    /// it, on 1 and 2 threads) and on one of several slices (which leaves it to the caller).
    #[test]
    fn a_step_that_updates_gives_the_bits_of_a_step_then_the_update() {
        let model = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
        let n = 2 * SLICE;
        let (x, labels) = mnist_shaped_batch(n, 8);
        let fill = fill_from(&x, &labels);
        let each = |p: &mut [f32], g: &[f32]| crate::optim::plain_sgd(p, g, 0.01);
        let kinds = [Update::PlainSgd(0.01), Update::Each(&each)];
        for ((batch, m, applies), update) in
            [(SLICE, SLICE, true), (SLICE, 37, true), (n, n, false)].into_iter().flat_map(|b| kinds.map(|u| (b, u)))
        {
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let mut engine = Engine::new(&model, batch, true);
                    let (mut p_ref, mut g_ref) = (model.init_params(4), vec![0.0; model.param_count()]);
                    let (mut p, mut g) = (p_ref.clone(), g_ref.clone());
                    for step in 0..3 {
                        let totals_ref = engine.train_step(&model, &p_ref, &mut g_ref, m, &fill, 1, step);
                        assert!(crate::optim::plain_sgd(&mut p_ref, &g_ref, 0.01));
                        let (totals, applied) =
                            engine.train_step_updating(&model, &mut p, &mut g, m, &fill, 1, step, update);
                        assert_eq!(applied.is_some(), applies, "batch {batch}, {m} samples");
                        assert_ne!(applied, Some(false), "finite weights");
                        if applied.is_none() {
                            assert!(crate::optim::plain_sgd(&mut p, &g, 0.01));
                        }
                        assert_eq!(totals, totals_ref);
                        assert!(g.iter().zip(&g_ref).all(|(a, b)| a.to_bits() == b.to_bits()), "gradients");
                        assert!(p.iter().zip(&p_ref).all(|(a, b)| a.to_bits() == b.to_bits()), "weights");
                    }
                });
            }
        }
    }

    /// A fully connected net of `dense` layers (units, activation after it or none), 28 × 28
    /// inputs, a softmax at the end; `bias` for every dense layer.
    fn dense_net(dense: &[(usize, Option<&str>)], bias: bool) -> Sequential {
        let mut text = String::from("input_shape = [28, 28, 1]\n[[layers]]\ntype = \"flatten\"\n");
        for (units, act) in dense {
            text += &format!("[[layers]]\ntype = \"dense\"\nunits = {units}\nuse_bias = {bias}\n");
            if let Some(act) = act {
                text += &format!("[[layers]]\ntype = \"{act}\"\n");
            }
        }
        text += "[[layers]]\ntype = \"softmax\"\n";
        Sequential::from_spec(&ModelSpec::parse(&text, std::path::Path::new("net.toml")).unwrap()).unwrap()
    }

    /// The column step gives the bits of the plain layers (the reference) and of the split
    /// step's halves, with and without the update, on 1, 2 and 3 threads: over odd widths (a
    /// block of one column, an empty block), dense layers without an activation between them,
    /// layers without bias, every activation without parameters, and batches of 2 to 64.
    #[test]
    fn a_column_step_gives_the_bits_of_the_plain_layers_and_of_the_halves() {
        let mut nets = vec![
            (dense_net(&[(40, Some("elu")), (24, None), (17, Some("relu")), (1, Some("tanh")), (10, None)], true), 37),
            (dense_net(&[(100, Some("selu")), (10, None)], false), 2),
            (dense_net(&[(128, Some("elu")), (128, Some("elu")), (10, None)], true), SLICE),
        ];
        for act in Activation::ALL.into_iter().filter(|a| !a.is_learned()) {
            nets.push((dense_net(&[(48, Some(act.name())), (33, Some(act.name())), (10, None)], true), 3));
        }
        // Dense inputs, and MNIST-like ones (four pixels in five zero, some −0), whose zeros the
        // first layer's products leave out.
        let sparse = |n: usize| {
            let (mut x, labels) = mnist_shaped_batch(n, 6);
            for (i, v) in x.iter_mut().enumerate() {
                if i % 5 != 0 {
                    *v = if i % 7 == 0 { -0.0 } else { 0.0 };
                }
            }
            (x, labels)
        };
        // Inputs: dense; MNIST-like (the first layer's products from the nonzeros of both
        // halves); MNIST-like in the first half only; MNIST-like with a −0 in the first layer's
        // bias (which keeps its forward products on the dense inputs). Each given by a source
        // that fills them, and by one that lists their nonzeros itself.
        let nets: Vec<_> = nets
            .iter()
            .flat_map(|(m, n)| [(m, *n, 0), (m, *n, 1), (m, *n, 2), (m, *n, 3)])
            .flat_map(|(m, n, inputs)| [(m, n, inputs, false), (m, n, inputs, true)])
            .collect();
        let each = |p: &mut [f32], g: &[f32]| crate::optim::plain_sgd(p, g, 0.01);
        let update = Update::PlainSgd(0.01);
        for &(model, n, inputs, listed) in &nets {
            let zeros = inputs > 0;
            // Biases away from zero, and for the last kind of inputs one of the first layer's
            // −0.
            let mut params = model.init_params(5);
            for (i, p) in params.iter_mut().enumerate() {
                *p += (i % 17) as f32 * 1e-3 - 8e-3;
            }
            if inputs == 3 {
                let r = model.param_range(1);
                params[r.end - 1] = -0.0;
            }
            let (mut x, labels) = if zeros { sparse(n) } else { mnist_shaped_batch(n, 6) };
            if inputs == 2 {
                // The second half dense: its block of the first layer's products takes the
                // inputs themselves, the first half's their nonzeros.
                let h = n.div_ceil(2);
                x[h * 784..].copy_from_slice(&mnist_shaped_batch(n, 6).0[h * 784..]);
            }
            let (filling, listing) = (fill_from(&x, &labels), Listing { x: &x, labels: &labels });
            let fill: &FillFn = if listed { &listing } else { &filling };
            let (ref_loss, ref_grads) = reference(model, &params, &x, &labels, true, 9);
            let mut halves = None;
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (loss, grads, updated) = pool.install(|| {
                    let mut engine = Engine::new(model, n, true);
                    assert!(engine.columns.is_some(), "{model:?}");
                    let mut grads = vec![0.0; params.len()];
                    let (loss, _) = engine.train_step(model, &params, &mut grads, n, fill, 3, 9);
                    let mut p = params.clone();
                    let mut g = vec![0.0; params.len()];
                    let (totals, finite) = engine.train_step_updating(model, &mut p, &mut g, n, fill, 3, 9, update);
                    assert_eq!((totals.0.to_bits(), finite), (loss.to_bits(), Some(true)));
                    assert!(g.iter().zip(&grads).all(|(a, b)| a.to_bits() == b.to_bits()), "updating: gradients");
                    // Without keeping the gradient: the same weights, and kernels' gradients
                    // left unwritten (the column step updates from its own buffers, or inside
                    // the products for plain SGD), with either kind of update.
                    engine.keep_gradients(false);
                    for kind in [update, Update::Each(&each)] {
                        let mut q = params.clone();
                        let mut unkept = vec![f32::NAN; params.len()];
                        let (t, f) = engine.train_step_updating(model, &mut q, &mut unkept, n, fill, 3, 9, kind);
                        assert_eq!((t.0.to_bits(), f), (loss.to_bits(), Some(true)), "{kind:?}");
                        assert!(q.iter().zip(&p).all(|(a, b)| a.to_bits() == b.to_bits()), "unkept, {kind:?}: weights");
                        assert!(unkept.iter().any(|g| g.is_nan()), "unkept, {kind:?}: every gradient was written");
                    }
                    engine.keep_gradients(true);
                    if halves.is_none() {
                        engine.columns = None;
                        let mut g = vec![0.0; params.len()];
                        let (l, _) = engine.train_step(model, &params, &mut g, n, fill, 3, 9);
                        halves = Some((l, g));
                    }
                    (loss, grads, p)
                });
                let (half_loss, half_grads) = halves.as_ref().unwrap();
                assert_eq!(loss.to_bits(), half_loss.to_bits(), "{threads} threads, {n} samples: loss");
                assert!((loss - ref_loss).abs() < 1e-12 * ref_loss.abs(), "loss {loss} vs {ref_loss}");
                let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same(&grads, &ref_grads),
                    "{threads} threads, {n} samples: gradients differ from the reference's"
                );
                assert!(same(&grads, half_grads), "{threads} threads, {n} samples: gradients differ from the halves'");
                let mut p = params.clone();
                assert!(crate::optim::plain_sgd(&mut p, &ref_grads, 0.01));
                assert!(same(&updated, &p), "{threads} threads, {n} samples: updated weights");
            }
        }
        // What it does not run: convolutions, dropout, learned activations, an activation
        // before the softmax.
        for (text, what) in [
            ("[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 8\n[[layers]]\ntype = \"dropout\"\nrate = 0.5\n", "dropout"),
            ("[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 8\n[[layers]]\ntype = \"prelu\"\n", "prelu"),
            ("[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\n[[layers]]\ntype = \"relu\"\n", "relu"),
        ] {
            let text = format!("input_shape = [28, 28, 1]\n{text}[[layers]]\ntype = \"dense\"\nunits = 10\n[[layers]]\ntype = \"softmax\"\n");
            let text = if what == "relu" { text.replace("units = 10\n[[layers]]\ntype = \"softmax\"", "units = 10\n[[layers]]\ntype = \"relu\"\n[[layers]]\ntype = \"softmax\"") } else { text };
            let model = Sequential::from_spec(&ModelSpec::parse(&text, std::path::Path::new("x.toml")).unwrap()).unwrap();
            let engine = Engine::new(&model, SLICE, true);
            assert!(engine.columns.is_none(), "{what}");
        }
        // Nor a single dense layer (a softmax regression): its split step runs in halves.
        let text = "input_shape = [28, 28, 1]
[[layers]]
type = \"flatten\"
[[layers]]
type = \"dense\"
units = 10
[[layers]]
type = \"softmax\"
";
        let model = Sequential::from_spec(&ModelSpec::parse(text, std::path::Path::new("x.toml")).unwrap()).unwrap();
        assert!(Engine::new(&model, SLICE, true).columns.is_none(), "one dense layer");
        let article = Sequential::from_spec(&ModelSpec::article()).unwrap();
        assert!(ColumnStep::for_model(&article).is_none());
    }

    /// A chunk that panics stops the step with a panic on the calling thread, not a hang, and
    /// two trainings whose steps share a pool of two threads both finish with their own bits.
    #[test]
    fn a_column_step_neither_hangs_on_a_panic_nor_on_a_shared_pool() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let model = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
            let params = model.init_params(3);
            let (x, labels) = mnist_shaped_batch(SLICE, 4);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let bad = |r: Range<usize>, _: &mut [f32], _: &mut [u8]| assert!(r.start == 0, "no second half");
            let failed = pool.install(|| {
                let mut engine = Engine::new(&model, SLICE, true);
                let mut grads = vec![0.0; params.len()];
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    engine.train_step(&model, &params, &mut grads, SLICE, &bad, 1, 0)
                }))
                .is_err()
            });
            let fill = fill_from(&x, &labels);
            let train = |steps: u64| {
                let mut engine = Engine::new(&model, SLICE, true);
                let (mut p, mut g) = (params.clone(), vec![0.0; params.len()]);
                for step in 0..steps {
                    engine.train_step_updating(&model, &mut p, &mut g, SLICE, &fill, 1, step, Update::PlainSgd(0.01));
                }
                p
            };
            let (a, b) = pool.install(|| rayon::join(|| train(20), || train(20)));
            let alone = pool.install(|| train(20));
            tx.send((failed, a == alone && b == alone)).unwrap();
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(120));
        assert_eq!(got, Ok((true, true)), "a panicking chunk fails the step; shared-pool trainings agree");
    }

    #[test]
    fn many_slices_on_more_threads_than_workspaces_finish() {
        // Slices spread over the pool hold their workspace's lock while they run; nothing inside
        // a slice may wait on a task that wants the same lock. Run it on a watchdog.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let model = Sequential::from_spec(&ModelSpec::preset("paper_fc").unwrap()).unwrap();
            let params = model.init_params(3);
            let n = 3 * SLICE + 5;
            let x: Vec<f32> = (0..n * 784).map(|i| (i % 251) as f32 / 251.0).collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let fill = |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
                xs[..r.len() * 784].copy_from_slice(&x[r.start * 784..r.end * 784]);
                ys[..r.len()].copy_from_slice(&labels[r]);
            };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let mut engine = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| {
                Engine::new(&model, n, true) // two workspaces for three threads
            });
            let mut grads = vec![0.0; params.len()];
            for step in 0..20 {
                pool.install(|| engine.train_step(&model, &params, &mut grads, n, &fill, 1, step));
                pool.install(|| engine.evaluate(&model, &params, n, &fill));
            }
            pool.install(|| engine.infer(&model, &params, &x)).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_secs(120)).is_ok(), "training did not finish");
    }

    #[test]
    fn infer_gives_the_reference_probabilities_and_evaluates_argmax_on_the_same_values() {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let params = model.init_params(5);
        let mut rng = Rng::from_seed(9);
        let n = 3 * EVAL_SLICE + 7; // two batches of 40 (the second short), slices of 16 in each
        let x: Vec<f32> = (0..n * 784).map(|_| rng.uniform_f32()).collect();
        let acts = model.forward_reference(&params, &x, n);
        let reference = acts.last().unwrap();

        let mut engine = Engine::new(&model, 40, false);
        let probs = engine.infer(&model, &params, &x).unwrap();
        assert_eq!(probs.len(), n * 10);
        let worst = probs.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("largest probability difference to the reference {worst:e}");
        assert!(worst < 1e-5, "largest probability difference {worst}");

        // Labelled with infer's own argmax, evaluate (same batches, same slices) counts every
        // sample correct; shifted by one class, none.
        let predicted: Vec<u8> = probs.chunks(10).map(|p| argmax(p) as u8).collect();
        for (shift, expect) in [(0, n), (1, 0)] {
            let labels: Vec<u8> = predicted.iter().map(|&c| (c + shift) % 10).collect();
            let mut correct = 0;
            for start in (0..n).step_by(40) {
                let end = (start + 40).min(n);
                let fill = |r: Range<usize>, xs: &mut [f32], ys: &mut [u8]| {
                    let (a, b) = (start + r.start, start + r.end);
                    xs[..(b - a) * 784].copy_from_slice(&x[a * 784..b * 784]);
                    ys[..b - a].copy_from_slice(&labels[a..b]);
                };
                correct += engine.evaluate(&model, &params, end - start, &fill).1;
            }
            assert_eq!(correct, expect, "labels shifted by {shift}");
        }
        assert!(engine.infer(&model, &params, &x[..784 + 1]).is_err(), "not a whole image");
        assert!(engine.infer(&model, &params, &[]).unwrap().is_empty());
    }
}
