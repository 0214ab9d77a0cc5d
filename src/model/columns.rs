//! The column step: a one-slice training batch of a fully connected net on two threads, each
//! thread owning one block of every dense layer's output columns.
//!
//! In the halves of a split step (see [`super::Engine::train_step`]) each thread reads every
//! layer's weights, which the other thread has just updated, and the parameter gradients then
//! read both halves' activations, so each step moves most of the weights' cache lines from one
//! core to the other. Here every dense layer's output columns are cut into two blocks, and chunk
//! c (one of two units of work) computes block c of everything that has columns: the
//! pre-activations and activations, the weight gradient's columns and the update of the
//! weights' columns; and block c of each layer's input gradient, from the weights' rows of that
//! block, transposed. Only the activations, output gradients (64 × 128 values a layer) and those
//! rows of weights cross between the cores. The cut is put at a cache-line boundary of the
//! weights' rows where it can be (the trainer keeps the weights and gradient line-aligned), so
//! that no line is written by both threads.
//!
//! The first layer's products leave out the inputs' zeros when at most a third of the inputs
//! are nonzero (MNIST: a fifth), which gives the same bits ([`crate::kernels::sparse`]); a
//! source that lists its samples' nonzeros itself (a [`crate::train::Batch`] of MNIST's bytes)
//! spares converting the zeros and storing the converted images.
//!
//! # Phases
//! A step is a sequence of phases, each of one or two chunks, and no chunk of a phase starts
//! before every chunk of the phase before it is done:
//!
//! 1. *fill*: chunk c lists the nonzero inputs of its half of the samples (the first ⌈n/2⌉,
//!    the rest) column by column, straight from the source where it can
//!    ([`super::exec::Samples::fill_lists`]), and copies the inputs themselves into its input
//!    buffer where the source cannot or the first layer's products will want them;
//! 2. *forward k*, for each dense layer k but the last, in order: chunk c forms block c of the
//!    layer's pre-activations from every block of its input and applies the activation after
//!    it (where the activation's derivative comes from its output alone, as the ReLU and ELU
//!    families' do, the pre-activations are formed in a scratch buffer and not kept);
//! 3. *head*: chunk c forms the logits of half c of the samples (all of the last layer's
//!    columns, from every block of the layer below), the softmax, the loss and the logits'
//!    gradient (into its rows of every block of the last layer's output gradient), then its
//!    rows of the last layer's input gradient and of the gradient of the activation below, in
//!    every block;
//! 4. *backward k*, for each dense layer k from the one before the last down to the first:
//!    chunk c forms the columns J_c of layer k + 1's weight and bias gradients and updates
//!    those columns of its weights (held back from the phase before, so that no weight of
//!    layer k + 1 changes while it is read there); then block c of layer k's input gradient,
//!    from every block of the output gradient and the kernel's rows of block c, which it
//!    transposes first; then the gradient of the activation below. In the last phase (k = 0) it
//!    forms and updates layer 0's columns J_c instead of an input gradient; there the kernel's
//!    rows formed from the inputs' nonzeros are cut into ranges of about as many nonzeros, and
//!    every range but the first, of every block, is a chunk of its own, so that the thread done
//!    first takes over the other's last ranges.
//!
//! Every value is one chain of operations in the order the whole slice on one thread uses:
//! products run through [`small_gemm_strided`], whose column blocks and continued chains
//! (`Start::Accumulate`) give the whole product's bits, or through the sparse products, which
//! give the dense ones' bits; activations are element-wise; the
//! weight and bias gradients run over the samples in order; the losses are added half by half
//! as the split step adds them. So the results are bitwise those of the split step, on any
//! number of threads (tests below).
//!
//! # Threads
//! Both threads run [`ColumnStep::run`] over all phases; in each, a thread first *claims* its
//! own chunks (thread t, chunks t, t + 2, …), then any chunk still unclaimed (the other's, from
//! the last), and runs what it claimed;
//! then it waits until every chunk of the phase is done. A thread only ever waits for a chunk
//! that the other thread has claimed and is running, so the step cannot deadlock: with one
//! thread (or when the second starts late, or never) the first claims and runs everything.
//! A chunk that panics marks itself failed, and a thread waiting for it panics in turn.
//!
//! # Sharing the weights and gradients
//! The buffers of activations and gradients are each behind a lock. The weights and their
//! gradient are the caller's slices, shared through [`Shared`], under these rules: a
//! *forward* or *head* chunk reads the weights and never writes them or the gradient; a chunk
//! of phase *backward k* reads layer k's kernel (any of its elements) and writes none of it,
//! and of layer k + 1 (and in the last phase, layer 0) reads and writes only the elements in
//! its own columns J_c of the weights, bias and gradients (never the others'); in the last
//! phase a chunk of a range of layer 0's kernel rows touches only those rows, and block c's
//! own chunk then leaves them alone. Blocks J_0 and J_1 and the ranges are disjoint, a chunk
//! runs on the one thread that claimed it, no phase writes a layer whose weights it reads,
//! every phase's chunks run only while no chunk of another phase runs, and the end of a chunk
//! is published with a release store that the other thread's acquire load sees before it
//! starts the next phase. So no element is ever written by one thread while another reads or
//! writes it.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::exec::{FillFn, Update, Weights, SLICE};
use super::Sequential;
use crate::activations::Activation;
use crate::kernels::elementwise;
use crate::kernels::gemm::{small_gemm_strided, small_gemm_strided_sgd, transpose_strided, Start};
use crate::kernels::sparse::{sparse_gemm, sparse_gemm_tn, sparse_gemm_tn_sgd, SgdRows, SparseColumns};
use crate::layers::{Ctx, Layer, LayerKind};
use crate::loss::softmax_cross_entropy;

/// A dense layer of the net, as the column step runs it.
#[derive(Debug)]
struct DenseLayer {
    /// Its index in the model.
    layer: usize,
    /// The activation right after it (none for the last one, or one followed by a dense layer).
    act: Option<Activation>,
    n_in: usize,
    units: usize,
    bias: bool,
    /// Its parameters in the model's vector: the kernel (n_in, units), then the bias.
    params: Range<usize>,
    /// The two blocks of output columns.
    cols: [Range<usize>; 2],
}

impl DenseLayer {
    /// Whether its activation's derivative comes from the output alone
    /// ([`Activation::derivative_from_output`]): the pre-activations are then not kept.
    fn output_only(&self) -> bool {
        self.act.is_some_and(|a| a.derivative_from_output())
    }
}

/// One chunk's buffers for one dense layer, (n, block width) row-major unless said.
#[derive(Debug)]
struct Block {
    /// Pre-activations (unused where only the output is kept, see
    /// [`DenseLayer::output_only`], and in the last layer, whose logits the head phase forms).
    z: RwLock<Vec<f32>>,
    /// Activations (unused without one: the next layer reads `z`).
    a: RwLock<Vec<f32>>,
}

/// Ranges of the first layer's kernel rows, besides the first, that are chunks of the last
/// phase of their own (see [`ColumnStep::first_rows`]).
const FIRST_RANGES: usize = 5;

/// Where each chunk of each phase stands.
const OPEN: u8 = 0;
const CLAIMED: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;

/// The column step's layers, buffers and phase flags (see the module docs), made once per engine.
#[derive(Debug)]
pub(super) struct ColumnStep {
    dense: Vec<DenseLayer>,
    /// The softmax, the model's last layer.
    softmax: usize,
    classes: usize,
    /// Each chunk's half of the samples, (rows, input_len), its nonzero values, and its labels.
    inputs: [RwLock<Vec<f32>>; 2],
    sparse: [RwLock<SparseColumns>; 2],
    /// Whether each chunk's input buffer holds its half's inputs this step (its nonzeros are
    /// listed either way).
    filled: [AtomicBool; 2],
    labels: [RwLock<Vec<u8>>; 2],
    blocks: Vec<[Block; 2]>,
    /// Each chunk's input gradient before the activation, (n, block width).
    dacts: [RwLock<Vec<f32>>; 2],
    /// Each chunk's block of the gradients w.r.t. the pre-activations, (n, block width): layer
    /// k's in `dzs[k % 3]`. A backward phase uses three layers' (see [`Self::dz`]).
    dzs: [[RwLock<Vec<f32>>; 2]; 3],
    /// Each chunk's rows of a kernel (its block of the layer's inputs) transposed, (units,
    /// block width), to form its block of the input gradient from.
    kernel_t: [RwLock<Vec<f32>>; 2],
    /// Each chunk's columns of a kernel's gradient, (n_in, block width), when the weights are
    /// updated from it without the gradient being kept (see [`ColumnStep::step`]).
    kernel_grads: [RwLock<Vec<f32>>; 2],
    /// Each half's logits, probabilities and the logits' gradient, (rows, classes), and its
    /// (sum of losses, correct count).
    logits: [RwLock<Vec<f32>>; 2],
    probs: [RwLock<Vec<f32>>; 2],
    dlogits: [RwLock<Vec<f32>>; 2],
    totals: [RwLock<(f64, usize)>; 2],
    /// flags[phase][chunk]: two chunks a phase (one a block), and in the last phase
    /// 2·[`FIRST_RANGES`] more (see [`ColumnStep::first_rows`]).
    flags: Vec<Box<[AtomicU8]>>,
    /// Where in its cache line the weights the blocks were cut for start (`None`: not cut yet).
    cut_for: Option<usize>,
}

/// One step's operands, shared by both threads.
struct Job<'a> {
    params: Shared,
    grads: Shared,
    update: Option<Update<'a>>,
    fill: &'a FillFn<'a>,
    n: usize,
    /// Samples in the first half.
    h: usize,
    /// Whether `grads` must hold the gradient after the step (see [`ColumnStep::step`]).
    keep: bool,
    /// Plain SGD's learning rate when the kernels' gradient is not kept: the update is then
    /// applied inside the products that form it, and the weights whose gradient is +0 are
    /// passed over.
    fused_sgd: Option<f32>,
    scale: f32,
    model: &'a Sequential,
    /// Whether every updated weight is finite.
    finite: AtomicBool,
}

/// The caller's weights or gradients, read and written by both threads of a column step under
/// the rules in the module docs.
#[derive(Clone, Copy)]
struct Shared {
    ptr: *mut f32,
    len: usize,
    writable: bool,
}

// SAFETY: `Shared` is a pointer into a slice that outlives the step (the step borrows it for
// its whole length, mutably when `writable`), and every access through it follows the rules of
// the module docs, under which no element is written by one thread while another uses it.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn read(s: &[f32]) -> Self {
        Shared { ptr: s.as_ptr().cast_mut(), len: s.len(), writable: false }
    }

    fn write(s: &mut [f32]) -> Self {
        Shared { ptr: s.as_mut_ptr(), len: s.len(), writable: true }
    }

    /// The elements `r`, read-only.
    ///
    /// # Safety
    /// No thread writes any of them while the borrow lives.
    unsafe fn slice(&self, r: Range<usize>) -> &[f32] {
        assert!(r.start <= r.end && r.end <= self.len, "column step: {r:?} outside {}", self.len);
        // SAFETY: inside the borrowed slice (just checked); not written meanwhile (the caller).
        unsafe { std::slice::from_raw_parts(self.ptr.add(r.start), r.len()) }
    }

    /// The elements `r`, to write.
    ///
    /// # Safety
    /// No other thread reads or writes any of them while the borrow lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice_mut(&self, r: Range<usize>) -> &mut [f32] {
        assert!(self.writable, "column step: writing through a read-only slice");
        assert!(r.start <= r.end && r.end <= self.len, "column step: {r:?} outside {}", self.len);
        // SAFETY: inside the slice, which the step borrows mutably (`writable`), and used by
        // no one else meanwhile (the caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }

    /// A pointer to element `at` (writable), for a strided block of a product.
    fn ptr_mut(&self, at: usize) -> *mut f32 {
        assert!(self.writable && at <= self.len, "column step: element {at} outside {}", self.len);
        self.ptr.wrapping_add(at)
    }
}

fn rd<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn wr<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Cuts `units` columns into two blocks of about half each, the first a multiple of 8 columns
/// (16 from 32 columns on) where it can be. Where every row of the kernel starts at the same
/// place in a cache line of 16 values, `offset` (the rows a multiple of 16 long, the kernel's
/// start a multiple of 8 values into its line), the cut is put at a line boundary: the two
/// blocks' rows then share no line, which the two threads would otherwise both write.
fn halves(units: usize, offset: usize) -> [Range<usize>; 2] {
    let mid = units.div_ceil(2);
    let s = if units >= 32 && units.is_multiple_of(16) && offset.is_multiple_of(8) {
        // The boundaries are the j with (offset + j) % 16 == 0: the nearest to the middle.
        let first = (16 - offset % 16) % 16;
        let below = first + mid.saturating_sub(first) / 16 * 16;
        if below > 0 && mid - below <= 8 {
            below
        } else {
            below + 16
        }
    } else {
        mid.next_multiple_of(if units >= 32 { 16 } else { 8 }).min(units)
    };
    [0..s, s..units]
}

/// Whether a start value is −0 (which a left-out zero term would turn into +0).
fn start_has_negative_zero(start: Start) -> bool {
    matches!(start, Start::Bias(b) if b.iter().any(|v| v.to_bits() == (-0.0f32).to_bits()))
}

/// What a phase does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Fill,
    Forward(usize),
    Head,
    Backward(usize),
}

impl ColumnStep {
    /// The column step for `model`, if it is a fully connected net it can run: flatten layers,
    /// then two dense layers or more with at most [`crate::layers::dense::SMALL_KERNEL`]
    /// weights, each but the last followed by an activation without parameters or directly by
    /// the next dense layer, the last by the softmax that ends the model.
    pub(super) fn for_model(model: &Sequential) -> Option<Self> {
        let layers = model.layers();
        let mut dense: Vec<DenseLayer> = Vec::new();
        let mut i = 0;
        while i < layers.len() && layers[i].kind() == LayerKind::Flatten {
            i += 1;
        }
        let softmax = layers.len().checked_sub(1)?;
        if layers[softmax].kind() != LayerKind::Softmax || i >= softmax {
            return None;
        }
        while i < softmax {
            let d = layers[i].as_dense()?;
            if !d.splits_backward() {
                return None;
            }
            let mut act = None;
            if let Some(a) = layers.get(i + 1).and_then(|l| l.kind().activation()) {
                if a.is_learned() {
                    return None;
                }
                act = Some(a);
            }
            let units = d.config().units;
            dense.push(DenseLayer {
                layer: i,
                act,
                n_in: d.in_shape().len(),
                units,
                bias: d.config().use_bias,
                params: model.param_range(i),
                cols: halves(units, 0),
            });
            i += if act.is_some() { 2 } else { 1 };
        }
        // At least two dense layers: the head phase forms the last one's input gradient from
        // the layer below's activations (a single layer runs as halves).
        if dense.len() < 2 || dense.last()?.act.is_some() || model.first_trainable() != dense[0].layer {
            return None;
        }
        let classes = model.output_shape().len();
        let rows = SLICE.div_ceil(2);
        let input_len = model.input_shape().len();
        let last = dense.len() - 1;
        let blocks = dense
            .iter()
            .enumerate()
            .map(|(k, d)| {
                // Room for a block of any width, so that the cut can move (see `halves`). The
                // last layer's outputs are the head phase's logits, in buffers of their own.
                let u = d.units;
                let keeps_z = k < last && !d.output_only();
                [(); 2].map(|_| Block {
                    z: RwLock::new(vec![0.0; if keeps_z { SLICE * u } else { 0 }]),
                    a: RwLock::new(vec![0.0; if d.act.is_some() { SLICE * u } else { 0 }]),
                })
            })
            .collect();
        let widest = dense.iter().map(|d| d.units).max().unwrap_or(0);
        let largest_kernel = dense.iter().skip(1).map(|d| d.n_in * d.units).max().unwrap_or(0);
        let phases = 2 * dense.len();
        Some(ColumnStep {
            softmax,
            classes,
            inputs: [(); 2].map(|_| RwLock::new(vec![0.0; rows * input_len])),
            sparse: [(); 2].map(|_| RwLock::new(SparseColumns::default())),
            filled: [AtomicBool::new(false), AtomicBool::new(false)],
            labels: [(); 2].map(|_| RwLock::new(vec![0; rows])),
            blocks,
            dacts: [(); 2].map(|_| RwLock::new(vec![0.0; SLICE * widest])),
            kernel_t: [(); 2].map(|_| RwLock::new(vec![0.0; largest_kernel])),
            dzs: [(); 3].map(|_| [(); 2].map(|_| RwLock::new(vec![0.0; SLICE * widest]))),
            kernel_grads: [(); 2].map(|_| RwLock::new(vec![0.0; largest_kernel])),
            logits: [(); 2].map(|_| RwLock::new(vec![0.0; rows * classes])),
            probs: [(); 2].map(|_| RwLock::new(vec![0.0; rows * classes])),
            dlogits: [(); 2].map(|_| RwLock::new(vec![0.0; rows * classes])),
            totals: [(); 2].map(|_| RwLock::new((0.0, 0))),
            flags: (0..phases)
                .map(|p| {
                    let chunks = if p + 1 == phases { 2 + 2 * FIRST_RANGES } else { 2 };
                    (0..chunks).map(|_| AtomicU8::new(OPEN)).collect()
                })
                .collect(),
            dense,
            cut_for: None,
        })
    }

    /// One training step on `n` samples (2 ≤ n ≤ [`SLICE`]): the batch-mean gradient into
    /// `grads` and, with [`Weights::Update`], each weight updated by it. With an update and
    /// `keep` false, the kernels' gradients may be left out of `grads` (its kernel elements are
    /// then unspecified): each block of columns updates its weights from the rows of the
    /// gradient as they are formed, in a buffer of its own, which spares writing and reading
    /// back a gradient as large as the weights. Plain SGD ([`Update::PlainSgd`]) goes further:
    /// it is applied inside the products that form the gradient ([`small_gemm_strided_sgd`],
    /// and for the first layer's rows formed from the inputs' nonzeros,
    /// [`sparse_gemm_tn_sgd`]), and the first layer's weights whose gradient is +0 (inputs
    /// zero in every sample) are passed over, which leaves them as the update would.
    /// Returns the totals (sum of losses, correct count) and whether every updated weight is
    /// finite (true when none is updated).
    pub(super) fn step(
        &mut self,
        model: &Sequential,
        weights: Weights,
        grads: &mut [f32],
        n: usize,
        fill: &FillFn,
        keep: bool,
    ) -> ((f64, usize), bool) {
        assert!((2..=SLICE).contains(&n), "column step: {n} samples");
        let (params, update) = match weights {
            Weights::Read(p) => (Shared::read(p), None),
            Weights::Update(p, f) => (Shared::write(p), Some(f)),
        };
        for f in self.flags.iter_mut().flat_map(|f| f.iter_mut()) {
            *f.get_mut() = OPEN;
        }
        // Cut the blocks at cache-line boundaries of the weights as they lie in memory.
        let offset = params.ptr as usize % 64 / size_of::<f32>();
        if self.cut_for != Some(offset) {
            for d in &mut self.dense {
                d.cols = halves(d.units, offset + d.params.start);
            }
            self.cut_for = Some(offset);
        }
        let job = Job {
            params,
            grads: Shared::write(grads),
            update,
            fill,
            n,
            h: n.div_ceil(2),
            keep: keep || update.is_none(),
            fused_sgd: update.and_then(|u| u.plain_sgd_lr()).filter(|_| !keep),
            scale: 1.0 / n as f32,
            model,
            finite: AtomicBool::new(true),
        };
        let this = &*self;
        rayon::join(|| this.run(0, &job), || this.run(1, &job));
        // The halves' losses added in order, as the split step adds them.
        let ((l0, c0), (l1, c1)) = (*rd(&self.totals[0]), *rd(&self.totals[1]));
        ((l0 + l1, c0 + c1), job.finite.load(Ordering::Relaxed))
    }

    fn phase(&self, p: usize) -> Phase {
        let last = self.dense.len() - 1;
        match p {
            0 => Phase::Fill,
            p if p <= last => Phase::Forward(p - 1),
            p if p == last + 1 => Phase::Head,
            p => Phase::Backward(2 * last + 1 - p),
        }
    }

    /// One thread's part of a step: every phase in order, claiming and running chunks, waiting
    /// for the phase's other chunk (see the module docs).
    fn run(&self, t: usize, job: &Job) {
        for (p, flags) in self.flags.iter().enumerate() {
            let phase = self.phase(p);
            // Its own chunks first, in order, then the other thread's from the last.
            let n = flags.len();
            for c in (t..n).step_by(2).chain((1 - t..n).step_by(2).rev()) {
                if flags[c].compare_exchange(OPEN, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    // Marks the chunk failed if it panics, so that the other thread stops waiting.
                    struct Failed<'f>(&'f AtomicU8);
                    impl Drop for Failed<'_> {
                        fn drop(&mut self) {
                            self.0.store(FAILED, Ordering::Release);
                        }
                    }
                    let guard = Failed(&flags[c]);
                    self.chunk(phase, c, job);
                    std::mem::forget(guard);
                    flags[c].store(DONE, Ordering::Release);
                }
            }
            for flag in flags {
                let mut spins = 0u32;
                loop {
                    match flag.load(Ordering::Acquire) {
                        DONE => break,
                        FAILED => panic!("column step: the other thread's chunk failed"),
                        _ => {}
                    }
                    spins += 1;
                    if spins < 4096 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }

    fn chunk(&self, phase: Phase, c: usize, job: &Job) {
        match phase {
            Phase::Fill => {
                let rows = if c == 0 { 0..job.h } else { job.h..job.n };
                let m = rows.len();
                let n_in = self.dense[0].n_in;
                let (mut lists, mut labels) = (wr(&self.sparse[c]), wr(&self.labels[c]));
                // The nonzero inputs straight from the source where it can list them; the
                // inputs themselves too where the products will want them (see `dense_rows`).
                let listed = job.fill.fill_lists(rows.clone(), &mut lists, &mut labels);
                let filled = !listed || self.first_needs_dense(job, lists.nonzeros(), m);
                if filled {
                    let mut x = wr(&self.inputs[c]);
                    job.fill.fill(rows, &mut x, &mut labels);
                    if !listed {
                        lists.set(&x[..m * n_in], n_in);
                    }
                }
                self.filled[c].store(filled, Ordering::Relaxed);
            }
            Phase::Forward(k) => self.forward(k, c, job),
            Phase::Head => self.head(c, job),
            Phase::Backward(0) if c >= 2 => self.first_rows(c % 2, c / 2, job),
            Phase::Backward(k) => self.backward(k, c, job),
        }
    }

    /// The rows of each half: (first row, rows).
    fn halves_of(job: &Job) -> [(usize, usize); 2] {
        [(0, job.h), (job.h, job.n - job.h)]
    }

    fn forward(&self, k: usize, c: usize, job: &Job) {
        let d = &self.dense[k];
        let cols = d.cols[c].clone();
        let (w, n) = (cols.len(), job.n);
        if w == 0 {
            return;
        }
        // SAFETY: a forward phase: no thread writes the weights (module docs).
        let params = unsafe { job.params.slice(d.params.clone()) };
        let (kernel, bias) = params.split_at(d.n_in * d.units);
        let start = if d.bias { Start::Bias(&bias[cols.clone()]) } else { Start::Zero };
        let block = &self.blocks[k][c];
        // The pre-activations, or where they are not kept, into this chunk's scratch (its
        // buffer for input gradients, which no forward phase uses).
        let mut z = wr(if d.output_only() { &self.dacts[c] } else { &block.z });
        if k == 0 {
            let sparse = [0, 1].map(|half| !self.dense_rows(job, half));
            let bias = if let Start::Bias(b) = start { Some(b) } else { None };
            if sparse == [true, true] {
                // The inputs' zeros left out (the same bits, see `kernels::sparse`), both
                // halves in one pass over the kernel's rows.
                let (s0, s1) = (rd(&self.sparse[0]), rd(&self.sparse[1]));
                sparse_gemm(&mut z, w, bias, &[&s0, &s1], &kernel[cols.start..], d.units, w);
            } else {
                for (half, (r0, m)) in Self::halves_of(job).into_iter().enumerate() {
                    if sparse[half] {
                        let lists = rd(&self.sparse[half]);
                        sparse_gemm(&mut z[r0 * w..], w, bias, &[&lists], &kernel[cols.start..], d.units, w);
                        continue;
                    }
                    let x = rd(&self.inputs[half]);
                    // SAFETY: rows r0..r0 + m of `z`, a slice of ours (n·w elements), row stride w.
                    unsafe {
                        small_gemm_strided(
                            z[r0 * w..].as_mut_ptr(),
                            w,
                            start,
                            &x[..m * d.n_in],
                            false,
                            &kernel[cols.start..],
                            d.units,
                            m,
                            w,
                            d.n_in,
                        )
                    };
                }
            }
        } else {
            let below = &self.dense[k - 1];
            let mut first = true;
            for (b, inp) in below.cols.iter().enumerate() {
                if inp.is_empty() {
                    continue;
                }
                let x = self.output(k - 1, b);
                let s = if first { start } else { Start::Accumulate };
                first = false;
                // SAFETY: all n rows of `z`, a slice of ours (n·w elements), row stride w.
                unsafe {
                    small_gemm_strided(
                        z.as_mut_ptr(),
                        w,
                        s,
                        &x[..n * inp.len()],
                        false,
                        &kernel[inp.start * d.units + cols.start..],
                        d.units,
                        n,
                        w,
                        inp.len(),
                    )
                };
            }
        }
        if let Some(act) = d.act {
            elementwise::activation_forward(act, &mut wr(&block.a)[..n * w], &z[..n * w]);
        }
    }

    /// Whether the first layer's forward product for a half of `rows` samples with `nonzeros`
    /// nonzero inputs takes the inputs themselves rather than their nonzeros: where more than a
    /// third of them are nonzero (MNIST's images: a fifth), so that leaving out the zeros does
    /// not pay, or where the bias holds a −0, which the sparse product would not keep.
    fn first_needs_dense(&self, job: &Job, nonzeros: usize, rows: usize) -> bool {
        let d = &self.dense[0];
        // SAFETY: the fill and forward phases, in which no thread writes the weights.
        let bias = unsafe { job.params.slice(d.params.start + d.n_in * d.units..d.params.end) };
        3 * nonzeros > rows * d.n_in || start_has_negative_zero(Start::Bias(bias))
    }

    /// Whether the first layer's forward product takes half `half`'s inputs themselves (see
    /// [`Self::first_needs_dense`]); they were filled then.
    fn dense_rows(&self, job: &Job, half: usize) -> bool {
        let (_, m) = Self::halves_of(job)[half];
        self.filled[half].load(Ordering::Relaxed) && self.first_needs_dense(job, rd(&self.sparse[half]).nonzeros(), m)
    }

    /// Whether the first layer's weight gradient is formed from the inputs' nonzeros: unless
    /// both halves' inputs were filled and more than a third of them are nonzero. (The lists
    /// are always there; the bits are the same either way.)
    fn sparse_weight_grad(&self, job: &Job) -> bool {
        let nonzeros: usize = self.sparse.iter().map(|s| rd(s).nonzeros()).sum();
        let filled = self.filled.iter().all(|f| f.load(Ordering::Relaxed));
        !filled || 3 * nonzeros <= job.n * self.dense[0].n_in
    }

    /// The input of layer `d`'s activation that its derivative is formed from, in `block`: the
    /// pre-activations, or the activations where only they are kept (which gives the same bits,
    /// see [`DenseLayer::output_only`]).
    fn saved_input<'b>(d: &DenseLayer, block: &'b Block) -> RwLockReadGuard<'b, Vec<f32>> {
        if d.output_only() {
            rd(&block.a)
        } else {
            rd(&block.z)
        }
    }

    /// Block `b` of the gradient w.r.t. dense layer k's pre-activations. Three buffers take
    /// turns: phase *backward k* reads layers k + 1's and k's and writes layer k − 1's, *head*
    /// writes the last two layers', and a layer's is not used again after the phase that
    /// reads it last, so no two live at once share a buffer.
    fn dz(&self, k: usize, b: usize) -> &RwLock<Vec<f32>> {
        &self.dzs[k % 3][b]
    }

    /// Block `b` of dense layer k's output: its activations, or its pre-activations without one.
    fn output(&self, k: usize, b: usize) -> RwLockReadGuard<'_, Vec<f32>> {
        let block = &self.blocks[k][b];
        if self.dense[k].act.is_some() {
            rd(&block.a)
        } else {
            rd(&block.z)
        }
    }

    /// Phase *head*, for half c of the samples: their logits (all of the last layer's columns,
    /// from every block of the layer below), the softmax, the loss and the logits' gradient,
    /// written into their rows of every block of the last layer's output gradient; then their
    /// rows of the last layer's input gradient (against its kernel transposed) and of the
    /// gradient of the activation below, in every block.
    fn head(&self, c: usize, job: &Job) {
        let classes = self.classes;
        let (r0, m) = Self::halves_of(job)[c];
        let last = self.dense.len() - 1;
        let (d, below) = (&self.dense[last], &self.dense[last - 1]);
        // SAFETY: the head phase: no thread writes the weights (module docs).
        let params = unsafe { job.params.slice(d.params.clone()) };
        let (kernel, bias) = params.split_at(d.n_in * d.units);
        let start = if d.bias { Start::Bias(bias) } else { Start::Zero };
        let mut logits = wr(&self.logits[c]);
        let logits = &mut logits[..m * classes];
        let mut first = true;
        for (b, inp) in below.cols.iter().enumerate() {
            if inp.is_empty() {
                continue;
            }
            let x = self.output(last - 1, b);
            let s = if first { start } else { Start::Accumulate };
            first = false;
            // SAFETY: all m rows of `logits`, a slice of ours (m·classes elements), row stride
            // `classes`.
            unsafe {
                small_gemm_strided(
                    logits.as_mut_ptr(),
                    classes,
                    s,
                    &x[r0 * inp.len()..(r0 + m) * inp.len()],
                    false,
                    &kernel[inp.start * d.units..],
                    d.units,
                    m,
                    classes,
                    inp.len(),
                )
            };
        }
        let mut probs = wr(&self.probs[c]);
        let softmax = &job.model.layers()[self.softmax];
        softmax.forward(&mut probs, &mut [], logits, &[], m, &Ctx::inference());
        let mut dlogits = wr(&self.dlogits[c]);
        let dlogits = &mut dlogits[..m * classes];
        *wr(&self.totals[c]) = softmax_cross_entropy(
            Some(dlogits),
            &probs[..m * classes],
            logits,
            &rd(&self.labels[c])[..m],
            classes,
            job.scale,
        );
        for (b, cols) in d.cols.iter().enumerate() {
            let w = cols.len();
            if w == 0 {
                continue;
            }
            let mut dz = wr(self.dz(last, b));
            for (zr, row) in dz[r0 * w..].chunks_exact_mut(w).zip(dlogits.chunks_exact(classes)) {
                zr.copy_from_slice(&row[cols.clone()]);
            }
        }
        // The input gradient's rows: one chain over the classes in order, as the column blocks
        // of the output gradient give it.
        let mut kt = wr(&self.kernel_t[c]);
        transpose_strided(&mut kt, kernel, d.n_in, d.units, d.units);
        let mut da = wr(&self.dacts[c]);
        for (b, inp) in below.cols.iter().enumerate() {
            let wi = inp.len();
            if wi == 0 {
                continue;
            }
            // SAFETY: m rows of `da`, a slice of ours (at least m·wi elements), row stride wi.
            unsafe {
                small_gemm_strided(
                    da.as_mut_ptr(),
                    wi,
                    Start::Zero,
                    dlogits,
                    false,
                    &kt[inp.start..],
                    d.n_in,
                    m,
                    wi,
                    classes,
                )
            };
            let block = &self.blocks[last - 1][b];
            let rows = r0 * wi..(r0 + m) * wi;
            let mut dz = wr(self.dz(last - 1, b));
            match below.act {
                Some(act) => elementwise::activation_backward(
                    act,
                    &mut dz[rows.clone()],
                    &da[..m * wi],
                    &Self::saved_input(below, block)[rows.clone()],
                    &rd(&block.a)[rows],
                ),
                None => dz[rows].copy_from_slice(&da[..m * wi]),
            }
        }
    }

    /// Phase *backward k*: the weight gradient and update of layer k + 1 (held back from the
    /// phase before, so that layer k's weights are read there before they change), block c of
    /// layer k's input gradient, and layer 0's weights in the last phase.
    fn backward(&self, k: usize, c: usize, job: &Job) {
        if k + 1 < self.dense.len() {
            self.weights(k + 1, c, job);
        }
        if k > 0 {
            self.input_grad(k, c, job);
        } else {
            self.weights(0, c, job);
        }
    }

    /// Columns J_c of dense layer k's weight and bias gradients, and their update.
    fn weights(&self, k: usize, c: usize, job: &Job) {
        let d = &self.dense[k];
        let cols = d.cols[c].clone();
        let (w, n) = (cols.len(), job.n);
        let dz = rd(self.dz(k, c));
        let dz = &dz[..n * w];
        if w > 0 {
            let (p0, kernel_len) = (d.params.start, d.n_in * d.units);
            // The weight gradient's columns J_c: one chain over the samples in order.
            let sparse_first = k == 0 && self.sparse_weight_grad(job);
            if sparse_first {
                // The first of the ranges of rows (the others are chunks of their own).
                self.sparse_rows(c, 0, job, dz);
            } else if k == 0 {
                for (half, (r0, m)) in Self::halves_of(job).into_iter().enumerate() {
                    let x = rd(&self.inputs[half]);
                    let start = if half == 0 { Start::Zero } else { Start::Accumulate };
                    // SAFETY: rows < n_in of columns J_c of this layer's kernel gradient, inside
                    // `grads`; only this chunk uses J_c in a backward phase (module docs).
                    unsafe {
                        small_gemm_strided(
                            job.grads.ptr_mut(p0 + cols.start),
                            d.units,
                            start,
                            &x[..m * d.n_in],
                            true,
                            &dz[r0 * w..],
                            w,
                            d.n_in,
                            w,
                            m,
                        )
                    };
                }
            } else if let Some(lr) = job.fused_sgd {
                // Plain SGD inside the products: each block of rows of the kernel's columns J_c
                // updated by its gradient, which is never stored.
                let mut ok = true;
                for (b, inp) in self.dense[k - 1].cols.iter().enumerate() {
                    if inp.is_empty() {
                        continue;
                    }
                    let x = self.output(k - 1, b);
                    let at = p0 + inp.start * d.units + cols.start;
                    // SAFETY: rows `inp` of columns J_c of the kernel: this chunk's alone in a
                    // backward phase (module docs).
                    ok &= unsafe {
                        small_gemm_strided_sgd(
                            job.params.ptr_mut(at),
                            d.units,
                            lr,
                            &x[..n * inp.len()],
                            true,
                            dz,
                            w,
                            inp.len(),
                            w,
                            n,
                        )
                    };
                }
                if !ok {
                    job.finite.store(false, Ordering::Relaxed);
                }
            } else {
                // Into the kernel's gradient, or into this chunk's own buffer (n_in, w) when the
                // gradient is not kept.
                let mut own = (!job.keep).then(|| wr(&self.kernel_grads[c]));
                for (b, inp) in self.dense[k - 1].cols.iter().enumerate() {
                    if inp.is_empty() {
                        continue;
                    }
                    let x = self.output(k - 1, b);
                    let (out, ldc) = match own.as_mut() {
                        Some(g) => (g[inp.start * w..].as_mut_ptr(), w),
                        None => (job.grads.ptr_mut(p0 + inp.start * d.units + cols.start), d.units),
                    };
                    // SAFETY: rows `inp` of columns J_c of the kernel gradient, as above, or
                    // rows `inp` of this chunk's buffer (n_in·w elements, row stride w).
                    unsafe {
                        small_gemm_strided(out, ldc, Start::Zero, &x[..n * inp.len()], true, dz, w, inp.len(), w, n)
                    };
                }
            }
            let bias = p0 + kernel_len + cols.start..p0 + kernel_len + cols.end;
            if d.bias {
                // SAFETY: the bias gradient's columns J_c: this chunk's alone (module docs).
                let db = unsafe { job.grads.slice_mut(bias.clone()) };
                db.fill(0.0);
                for row in dz.chunks_exact(w) {
                    for (g, x) in db.iter_mut().zip(row) {
                        *g += x;
                    }
                }
            }
            if let Some(update) = job.update {
                let mut ok = true;
                // The kernel's rows (unless updated as they were formed), then the bias.
                let formed = sparse_first || (k > 0 && job.fused_sgd.is_some());
                let rows = (0..if formed { 0 } else { d.n_in })
                    .map(|r| p0 + r * d.units + cols.start..p0 + r * d.units + cols.end);
                let own = (!job.keep && k > 0 && !formed).then(|| rd(&self.kernel_grads[c]));
                for (i, r) in rows.chain(d.bias.then_some(bias)).enumerate() {
                    // SAFETY: columns J_c of a row of the kernel (or of the bias) and of its
                    // gradient: this chunk's alone in a backward phase (module docs).
                    let p = unsafe { job.params.slice_mut(r.clone()) };
                    let g = match &own {
                        Some(own) if i < d.n_in => &own[i * w..(i + 1) * w],
                        // SAFETY: as above.
                        _ => unsafe { job.grads.slice(r) },
                    };
                    ok &= update.apply(p, g);
                }
                if !ok {
                    job.finite.store(false, Ordering::Relaxed);
                }
            }
        }
    }

    /// Range r (≥ 1) of the first layer's kernel rows, columns J_c: their gradient from the
    /// inputs' nonzeros and their update, where the weight gradient is formed from the nonzeros
    /// (range 0 is formed with the rest of the layer's columns J_c, in [`Self::weights`]).
    /// Chunks of the last phase of their own, which either thread may run, so that the thread
    /// done first takes over the other's last ranges.
    fn first_rows(&self, c: usize, r: usize, job: &Job) {
        let w = self.dense[0].cols[c].len();
        if w > 0 && self.sparse_weight_grad(job) {
            self.sparse_rows(c, r, job, &rd(self.dz(0, c))[..job.n * w]);
        }
    }

    /// The first layer's kernel rows of range r ([`Self::first_range`]), columns J_c: each row
    /// of the gradient formed from the inputs' nonzeros (the same bits, see `kernels::sparse`),
    /// kept and used for the update while in cache.
    fn sparse_rows(&self, c: usize, r: usize, job: &Job, dz: &[f32]) {
        let d = &self.dense[0];
        let cols = d.cols[c].clone();
        let (w, p0) = (cols.len(), d.params.start);
        let (s0, s1) = (rd(&self.sparse[0]), rd(&self.sparse[1]));
        let parts = [(&*s0, dz), (&*s1, &dz[job.h * w..])];
        let range = self.first_range(r);
        let ok = match job.fused_sgd.filter(|lr| *lr > 0.0 && lr.is_finite()) {
            // Plain SGD applied to each row as it is formed, the gradient not kept. θ − lr·(+0)
            // is θ for a finite lr > 0 (a −0 stays −0), so the rows without a nonzero input
            // are passed over.
            Some(lr) => {
                // SAFETY: the rows of range r of the kernel, columns J_c (w of them from
                // cols.start, row p at p0 + p·units): inside the weights, and this chunk's
                // alone in the last phase (module docs).
                let sgd = unsafe { SgdRows::new(job.params.ptr_mut(p0 + cols.start), d.units, lr) };
                sparse_gemm_tn_sgd(&parts, w, range, w, &sgd)
            }
            None => {
                let mut ok = true;
                sparse_gemm_tn(&parts, w, range, w, false, &mut |row_index, row| {
                    let at = p0 + row_index * d.units + cols.start;
                    if job.keep {
                        // SAFETY: columns J_c of a row of range r of the kernel's gradient:
                        // this chunk's alone in the last phase (module docs).
                        unsafe { job.grads.slice_mut(at..at + w) }.copy_from_slice(row);
                    }
                    if let Some(update) = job.update {
                        // SAFETY: columns J_c of a row of range r of the kernel, as above.
                        ok &= update.apply(unsafe { job.params.slice_mut(at..at + w) }, row);
                    }
                });
                ok
            }
        };
        if !ok {
            job.finite.store(false, Ordering::Relaxed);
        }
    }

    /// Range r of the first layer's kernel rows (inputs): [`FIRST_RANGES`] + 1 ranges in order,
    /// cut where about as many of the batch's nonzero inputs lie in each.
    fn first_range(&self, r: usize) -> Range<usize> {
        let (s0, s1) = (rd(&self.sparse[0]), rd(&self.sparse[1]));
        let width = s0.width();
        let total = s0.nonzeros() + s1.nonzeros();
        let ranges = FIRST_RANGES + 1;
        // The first input with at least `target` nonzeros before it.
        let cut = |i: usize| {
            if i == 0 {
                return 0;
            }
            if i == ranges {
                return width;
            }
            let target = total * i / ranges;
            let (mut lo, mut hi) = (0, width);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if s0.nonzeros_before(mid) + s1.nonzeros_before(mid) < target {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        cut(r)..cut(r + 1)
    }

    /// Block c of dense layer k's input gradient (k > 0), and the gradient of the activation
    /// below it: every block of the output gradient against the kernel's rows of block c
    /// (the layer below's columns `inp`), transposed.
    fn input_grad(&self, k: usize, c: usize, job: &Job) {
        let d = &self.dense[k];
        let n = job.n;
        let below = &self.dense[k - 1];
        let inp = below.cols[c].clone();
        let wi = inp.len();
        if wi == 0 {
            return;
        }
        let mut kt = wr(&self.kernel_t[c]);
        // SAFETY: a backward phase of layer k: no thread writes its weights (module docs).
        let kernel = unsafe { job.params.slice(d.params.start..d.params.start + d.n_in * d.units) };
        transpose_strided(&mut kt, &kernel[inp.start * d.units..], wi, d.units, d.units);
        let mut da = wr(&self.dacts[c]);
        let mut first = true;
        for (b, out) in d.cols.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            let dzb = rd(self.dz(k, b));
            let s = if first { Start::Zero } else { Start::Accumulate };
            first = false;
            // SAFETY: all n rows of `da`, a slice of ours (at least n·wi elements), stride wi.
            unsafe {
                small_gemm_strided(
                    da.as_mut_ptr(),
                    wi,
                    s,
                    &dzb[..n * out.len()],
                    false,
                    &kt[out.start * wi..],
                    wi,
                    n,
                    wi,
                    out.len(),
                )
            };
        }
        let block = &self.blocks[k - 1][c];
        let mut dzb = wr(self.dz(k - 1, c));
        match below.act {
            Some(act) => elementwise::activation_backward(
                act,
                &mut dzb[..n * wi],
                &da[..n * wi],
                &Self::saved_input(below, block)[..n * wi],
                &rd(&block.a)[..n * wi],
            ),
            None => dzb[..n * wi].copy_from_slice(&da[..n * wi]),
        }
    }
}

/// Chooses between the column step and the split step's halves, which give the same bits, by
/// timing both now and then: every [`Chooser::PERIOD`] split steps, [`Chooser::TRIAL`] steps of
/// each (columns first), then the one whose trial steps took less time (their median, the first
/// two of each trial left out) until the next trials. On a machine whose two CPUs slow each
/// other down when both compute (two hardware threads of one core, say), the halves, which meet
/// twice a step instead of twenty times, are the faster; elsewhere the columns are.
#[derive(Debug, Default)]
pub(super) struct Chooser {
    steps: u64,
    columns: Vec<std::time::Duration>,
    halves: Vec<std::time::Duration>,
    use_halves: bool,
}

impl Chooser {
    pub(super) const PERIOD: u64 = 1024;
    pub(super) const TRIAL: u64 = 12;

    /// Whether the next split step runs as a column step.
    pub(super) fn columns_next(&self) -> bool {
        match self.steps % Self::PERIOD {
            p if p < Self::TRIAL => true,
            p if p < 2 * Self::TRIAL => false,
            _ => !self.use_halves,
        }
    }

    /// The time the step just run took, `columns` saying which way it ran.
    pub(super) fn record(&mut self, columns: bool, took: std::time::Duration) {
        let p = self.steps % Self::PERIOD;
        if p < 2 * Self::TRIAL && p % Self::TRIAL >= 2 {
            if columns { &mut self.columns } else { &mut self.halves }.push(took);
        }
        if p == 2 * Self::TRIAL - 1 {
            let median = |v: &mut Vec<std::time::Duration>| {
                v.sort_unstable();
                let m = v.get(v.len() / 2).copied();
                v.clear();
                m
            };
            if let (Some(c), Some(h)) = (median(&mut self.columns), median(&mut self.halves)) {
                self.use_halves = h < c;
            }
        }
        self.steps += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `steps` split steps through `c`, each taking `columns` or `halves` by the way it ran;
    /// returns how many ran as column steps.
    fn run(c: &mut Chooser, steps: u64, columns: Duration, halves: Duration) -> u64 {
        let mut n = 0;
        for _ in 0..steps {
            let by_columns = c.columns_next();
            n += u64::from(by_columns);
            c.record(by_columns, if by_columns { columns } else { halves });
        }
        n
    }

    #[test]
    fn the_chooser_tries_both_then_keeps_the_faster_until_the_next_trials() {
        let (fast, slow) = (Duration::from_micros(500), Duration::from_micros(800));
        let mut c = Chooser::default();
        // The first steps are column steps (so that a short run exercises them), then halves.
        assert_eq!(run(&mut c, Chooser::TRIAL, slow, fast), Chooser::TRIAL);
        assert_eq!(run(&mut c, Chooser::TRIAL, slow, fast), 0);
        // Halves were faster: the rest of the period runs them.
        assert_eq!(run(&mut c, Chooser::PERIOD - 2 * Chooser::TRIAL, slow, fast), 0);
        // The next trials find the columns faster now, and the period after them uses them.
        assert_eq!(run(&mut c, 2 * Chooser::TRIAL, fast, slow), Chooser::TRIAL);
        assert_eq!(run(&mut c, Chooser::PERIOD - 2 * Chooser::TRIAL, fast, slow), Chooser::PERIOD - 2 * Chooser::TRIAL);
        // A trial's first two steps (cold caches) do not count: slow ones there change nothing.
        let mut c = Chooser::default();
        for s in 0..2 * Chooser::TRIAL {
            let by_columns = c.columns_next();
            let t = if s % Chooser::TRIAL < 2 && by_columns {
                Duration::from_secs(1)
            } else if by_columns {
                fast
            } else {
                slow
            };
            c.record(by_columns, t);
        }
        assert!(c.columns_next(), "columns were faster once warm");
    }
}
