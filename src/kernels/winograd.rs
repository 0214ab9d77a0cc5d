//! Winograd F(2×2, 3×3) convolution: 3×3 kernels, stride 1, forward and backward.
//!
//! The output is cut into 2×2 tiles; each tile is computed from a 4×4 input tile as
//! `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ` (the kernel, transformed once per call) and `V = Bᵀ d B`
//! (the input tile). Over channels, the element-wise product becomes 16 independent matrix
//! products, one per position ξ of the 4×4 transformed tile: `M[ξ] (T, OC) = V[ξ] (T, C) ·
//! U[ξ] (C, OC)` over the T tiles of the batch. That is 16·C·OC multiply-adds per 2×2 outputs
//! instead of 36·C·OC: 2.25 times fewer (1.89 for the article's 11×11 output, whose last tile row
//! and column are half outside; 2.72 when a 2×2 max pooling follows, fused into the output
//! transform, since the pooling drops that row and column and their tiles are not computed).
//!
//! The backward pass is the exact adjoint of these steps (no separate Winograd algorithm for the
//! gradients): `dM = A dY Aᵀ`, `dU[ξ] = V[ξ]ᵀ dM[ξ]`, `dV[ξ] = dM[ξ] U[ξ]ᵀ`, `dx += B dV Bᵀ` over
//! the overlapping input tiles, and `dg = Gᵀ dU G`. So the weight and input gradients also cost
//! 16 instead of 36 multiply-adds per tile and channel pair, and they are the gradients of
//! exactly the function the forward pass computes.
//!
//! The transforms use only 0, ±1 and ±½, so the rounding error stays within a few units in the
//! last place of the im2col + GEMM result (the tests compare the two against a naive direct
//! convolution). Transforms run over channel blocks of [`LANES`] in fixed-size arrays, so
//! nothing is allocated and the compiler vectorises them.

use super::gemm::sgemm;
use super::im2col::ConvGeometry;
use super::lanes::{add, add_to, load, max_and_position, neg, store, sub, whole, Lanes, LANES};
use super::simd::{multiversion, Level};

/// G (4×3): U = G g Gᵀ.
const G: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// Whether `g` is a convolution this module computes: 3×3 kernel, stride 1 (any padding).
pub fn applies(g: &ConvGeometry) -> bool {
    g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1
}

/// Tiles per sample: (rows, columns) of 2×2 output tiles, the last ones partly outside.
pub fn tiles(g: &ConvGeometry) -> (usize, usize) {
    (g.oh.div_ceil(2), g.ow.div_ceil(2))
}

/// Whether a max pooling with geometry `pool` after the convolution `g` can be fused into the
/// output transform: 2×2 windows with stride 2 and no padding are exactly the output tiles.
pub fn pools_tiles(g: &ConvGeometry, pool: &ConvGeometry) -> bool {
    (pool.kh, pool.kw, pool.sh, pool.sw, pool.pad_top, pool.pad_left) == (2, 2, 2, 2, 0, 0)
        && (pool.h, pool.w) == (g.oh, g.ow)
}

/// What becomes of each tile's 2×2 outputs (plus bias).
pub enum Outputs<'a> {
    /// Stored: y (n, OH, OW, OC). The tiles cover OH×OW, the last ones partly outside.
    Store(&'a mut [f32]),
    /// Max-pooled 2×2 with stride 2 (see [`pools_tiles`]): pooled (n, OH/2, OW/2, OC) ← the
    /// maximum, arg ← its position in the window (row·2 + column, the first on ties) as f32.
    /// Only the tiles the pooling keeps are computed: with an odd OH or OW, the last row or
    /// column of outputs, which the pooling drops, never is.
    Pool { pooled: &'a mut [f32], arg: &'a mut [f32] },
}

/// The gradient that reaches the outputs, matching [`Outputs`].
pub enum OutputGrads<'a> {
    /// dy: (n, OH, OW, OC).
    Store(&'a [f32]),
    /// dpooled: (n, OH/2, OW/2, OC) and the forward pass's arg: the gradient goes to each
    /// window's maximum.
    Pool { dpooled: &'a [f32], arg: &'a [f32] },
}

/// The tiles computed per sample: (rows, columns).
#[inline(always)]
fn grid(g: &ConvGeometry, pooled: bool) -> (usize, usize) {
    if pooled {
        (g.oh / 2, g.ow / 2)
    } else {
        tiles(g)
    }
}

/// Tiles transformed and multiplied at a time: small enough that a chunk's V (16·C per tile)
/// and M (16·OC per tile) stay in a core's L2 cache between the transforms and the products.
const CHUNK_TILES: usize = 128;

/// Scratch floats for `n` samples: U and dU (16·C·OC each), and V (16·C) and M (16·OC) for up
/// to `CHUNK_TILES` tiles. Nothing here grows with `n` beyond one chunk: the backward pass
/// transforms the input again rather than keeping V for the whole batch (keeping it was measured
/// no faster: reading it back costs what transforming again does).
pub fn scratch_len(g: &ConvGeometry, oc: usize, n: usize) -> usize {
    let (th, tw) = tiles(g);
    let chunk = (n * th * tw).min(CHUNK_TILES);
    2 * 16 * g.c * oc + 16 * (plane(chunk, g.c) + plane(chunk, oc))
}

/// Floats between the 16 planes of V or M for a chunk of `tc` tiles of `width` channels: one
/// cache line more than the plane, so that the 16 values of a tile, written and read together,
/// do not all fall into the same L1 cache set (plane sizes are multiples of 4 KiB).
#[inline(always)]
fn plane(tc: usize, width: usize) -> usize {
    tc * width + LANES
}

/// The scratch's four parts: (U, dU, V, M), V and M for chunks of `chunk` tiles.
#[inline(always)]
fn split<'a>(scratch: &'a mut [f32], g: &ConvGeometry, oc: usize, chunk: usize) -> [&'a mut [f32]; 4] {
    let ulen = 16 * g.c * oc;
    let (u, rest) = scratch.split_at_mut(ulen);
    let (du, rest) = rest.split_at_mut(ulen);
    let (v, rest) = rest.split_at_mut(16 * plane(chunk, g.c));
    [u, du, v, &mut rest[..16 * plane(chunk, oc)]]
}

/// A batch's tiles: `n` samples of a (rows, columns) grid of tiles over the convolution `g`.
#[derive(Clone, Copy)]
struct Tiles<'g> {
    g: &'g ConvGeometry,
    th: usize,
    tw: usize,
    n: usize,
}

impl Tiles<'_> {
    /// Chunks of at most [`CHUNK_TILES`]: (first tile, tiles in the chunk).
    #[inline(always)]
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> {
        let t = self.n * self.th * self.tw;
        (0..t).step_by(CHUNK_TILES).map(move |t0| (t0, CHUNK_TILES.min(t - t0)))
    }

    /// The largest chunk: all the tiles, or [`CHUNK_TILES`].
    #[inline(always)]
    fn chunk_len(&self) -> usize {
        (self.n * self.th * self.tw).min(CHUNK_TILES)
    }

    /// The sample, tile row and tile column of tile `t`.
    #[inline(always)]
    fn at(&self, t: usize) -> (usize, usize, usize) {
        (t / (self.th * self.tw), t / self.tw % self.th, t % self.tw)
    }
}

/// The outputs of conv(x; w) + b, stored or pooled (see [`Outputs`]). x: (n, H, W, C),
/// w: (3, 3, C, OC), b: (OC) or empty. `scratch` (see [`scratch_len`]) keeps U for [`backward`].
///
/// Runs with the instruction set of [`Level::current`]; [`forward_at`] takes the level.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    out: Outputs,
    scratch: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    n: usize,
    g: &ConvGeometry,
    oc: usize,
) {
    forward_at(Level::current(), out, scratch, x, w, b, n, g, oc)
}

multiversion! {
    /// [`forward`] compiled for `level`.
    pub fn forward_at(
        out: Outputs,
        scratch: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: &[f32],
        n: usize,
        g: &ConvGeometry,
        oc: usize,
    ) {
        let mut out = out;
        debug_assert!(applies(g));
        let (th, tw) = grid(g, matches!(out, Outputs::Pool { .. }));
        let tiles = Tiles { g, th, tw, n };
        let c = g.c;
        let [u, _, v, m] = split(scratch, g, oc, tiles.chunk_len());
        transform_kernel(u, w, c, oc);
        for (t0, tc) in tiles.chunks() {
            transform_input(v, x, t0, tc, tiles);
            for xi in 0..16 {
                let (vx, ux) = (&v[xi * plane(tc, c)..][..tc * c], &u[xi * c * oc..][..c * oc]);
                sgemm(&mut m[xi * plane(tc, oc)..][..tc * oc], false, vx, false, ux, false, tc, oc, c);
            }
            transform_output(&mut out, m, b, t0, tc, tiles, oc);
        }
    }
}

/// dx (when asked for), dw: (3, 3, C, OC) and db: (OC) or empty ← the gradient at the outputs,
/// after [`forward`] on the same `scratch` and x: (n, H, W, C). dx: (n, H, W, C) is overwritten.
///
/// Runs with the instruction set of [`Level::current`]; [`backward_at`] takes the level.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    grads: OutputGrads,
    scratch: &mut [f32],
    x: &[f32],
    n: usize,
    g: &ConvGeometry,
    oc: usize,
) {
    backward_at(Level::current(), dx, dw, db, grads, scratch, x, n, g, oc)
}

multiversion! {
    /// [`backward`] compiled for `level`.
    pub fn backward_at(
        dx: Option<&mut [f32]>,
        dw: &mut [f32],
        db: &mut [f32],
        grads: OutputGrads,
        scratch: &mut [f32],
        x: &[f32],
        n: usize,
        g: &ConvGeometry,
        oc: usize,
    ) {
        let mut dx = dx;
        let (th, tw) = grid(g, matches!(grads, OutputGrads::Pool { .. }));
        let tiles = Tiles { g, th, tw, n };
        let c = g.c;
        let [u, du, v, dm] = split(scratch, g, oc, tiles.chunk_len());
        if let Some(dx) = dx.as_deref_mut() {
            dx[..n * g.h * g.w * c].fill(0.0);
        }
        du.fill(0.0);
        for (t0, tc) in tiles.chunks() {
            transform_input(v, x, t0, tc, tiles);
            transform_output_adjoint(dm, &grads, t0, tc, tiles, oc);
            for xi in 0..16 {
                let (vx, dmx) = (&v[xi * plane(tc, c)..][..tc * c], &dm[xi * plane(tc, oc)..][..tc * oc]);
                sgemm(&mut du[xi * c * oc..][..c * oc], true, vx, true, dmx, false, c, oc, tc);
            }
            if let Some(dx) = dx.as_deref_mut() {
                // dV over V's storage (V is no longer needed), then folded back onto the input.
                for xi in 0..16 {
                    let (dmx, ux) = (&dm[xi * plane(tc, oc)..][..tc * oc], &u[xi * c * oc..][..c * oc]);
                    sgemm(&mut v[xi * plane(tc, c)..][..tc * c], false, dmx, false, ux, true, tc, c, oc);
                }
                transform_input_adjoint(dx, v, t0, tc, tiles);
            }
        }
        transform_kernel_adjoint(dw, du, c, oc);
        if !db.is_empty() {
            let dy = match grads {
                OutputGrads::Store(dy) => &dy[..n * g.out_pixels() * oc],
                OutputGrads::Pool { dpooled, .. } => &dpooled[..n * th * tw * oc],
            };
            db.fill(0.0);
            for row in dy.chunks_exact(oc) {
                for (g, d) in db.iter_mut().zip(row) {
                    *g += d;
                }
            }
        }
    }
}

/// u: (16, C, OC) ← G g Gᵀ for every (c, o); w: (3, 3, C, OC). Each (C, OC) plane of u is a
/// combination of the nine contiguous planes of w.
#[inline(always)]
fn transform_kernel(u: &mut [f32], w: &[f32], c: usize, oc: usize) {
    let plane = c * oc;
    for i in 0..4 {
        for j in 0..4 {
            let dst = &mut u[(i * 4 + j) * plane..][..plane];
            dst.fill(0.0);
            for ky in 0..3 {
                for kx in 0..3 {
                    let f = G[i][ky] * G[j][kx];
                    if f != 0.0 {
                        let src = &w[(ky * 3 + kx) * plane..][..plane];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += f * s;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`transform_kernel`]: dw (3, 3, C, OC) ← Gᵀ du G (overwritten).
#[inline(always)]
fn transform_kernel_adjoint(dw: &mut [f32], du: &[f32], c: usize, oc: usize) {
    let plane = c * oc;
    for ky in 0..3 {
        for kx in 0..3 {
            let dst = &mut dw[(ky * 3 + kx) * plane..][..plane];
            dst.fill(0.0);
            for i in 0..4 {
                for j in 0..4 {
                    let f = G[i][ky] * G[j][kx];
                    if f != 0.0 {
                        let src = &du[(i * 4 + j) * plane..][..plane];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += f * s;
                        }
                    }
                }
            }
        }
    }
}

/// Bᵀ x for a column of four vectors; Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
#[inline(always)]
fn bt(x: [Lanes; 4]) -> [Lanes; 4] {
    [sub(x[0], x[2]), add(x[1], x[2]), sub(x[2], x[1]), sub(x[1], x[3])]
}

/// B x, the adjoint of [`bt`]; B = [[1, 0, 0, 0], [0, 1, −1, 1], [−1, 1, 1, 0], [0, 0, 0, −1]].
#[inline(always)]
fn b(x: [Lanes; 4]) -> [Lanes; 4] {
    [x[0], add(sub(x[1], x[2]), x[3]), sub(add(x[1], x[2]), x[0]), neg(x[3])]
}

/// Aᵀ x for a column of four vectors; Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
#[inline(always)]
fn at_(x: [Lanes; 4]) -> [Lanes; 2] {
    [add(add(x[0], x[1]), x[2]), sub(sub(x[1], x[2]), x[3])]
}

/// A x, the adjoint of [`at`]; A = [[1, 0], [1, 1], [1, −1], [0, −1]].
#[inline(always)]
fn a(x: [Lanes; 2]) -> [Lanes; 4] {
    [x[0], add(x[0], x[1]), sub(x[0], x[1]), neg(x[1])]
}

/// The input row (or column) of tile offset `r` of a tile starting at output row `start`, when
/// it lies inside the input.
#[inline(always)]
fn in_range(start: usize, r: usize, pad: usize, size: usize) -> Option<usize> {
    (start + r).checked_sub(pad).filter(|&i| i < size)
}

/// v: (16, tc, C), planes `plane(tc, C)` apart, ← Bᵀ d B of the 4×4 input tiles d (zeros
/// outside the input) of tiles t0..t0 + tc of the batch; x: (n, H, W, C).
#[inline(always)]
fn transform_input(v: &mut [f32], x: &[f32], t0: usize, tc: usize, tiles: Tiles) {
    let (g, c) = (tiles.g, tiles.g.c);
    for t in 0..tc {
        let (bi, ty, tx) = tiles.at(t0 + t);
        let xb = &x[bi * g.h * g.w * c..][..g.h * g.w * c];
        let (rows, cols) = window(g, ty, tx);
        if let Some((iy, ix)) = inside(&rows, &cols, c) {
            // The common case, kept free of the branches below: the whole 4×4 tile inside the
            // input, whole channel blocks.
            input_tile_inside(v, &xb[(iy * g.w + ix) * c..], g.w * c, c, plane(tc, c), t * c);
            continue;
        }
        for c0 in (0..c).step_by(LANES) {
            let cw = LANES.min(c - c0);
            let at = |r: usize, s: usize| match (rows[r], cols[s]) {
                (Some(iy), Some(ix)) => load(&xb[(iy * g.w + ix) * c + c0..], cw),
                _ => [0.0; LANES],
            };
            // Bᵀ d B: B along each row of d (Bᵀ on its transpose), then Bᵀ down each column.
            let r0 = bt([at(0, 0), at(0, 1), at(0, 2), at(0, 3)]);
            let r1 = bt([at(1, 0), at(1, 1), at(1, 2), at(1, 3)]);
            let r2 = bt([at(2, 0), at(2, 1), at(2, 2), at(2, 3)]);
            let r3 = bt([at(3, 0), at(3, 1), at(3, 2), at(3, 3)]);
            for j in 0..4 {
                let col = bt([r0[j], r1[j], r2[j], r3[j]]);
                for (i, val) in col.iter().enumerate() {
                    store(&mut v[(i * 4 + j) * plane(tc, c) + t * c + c0..], val, cw);
                }
            }
        }
    }
}

/// The input rows and columns of tile (ty, tx)'s 4×4 window, `None` where they fall outside.
#[inline(always)]
fn window(g: &ConvGeometry, ty: usize, tx: usize) -> ([Option<usize>; 4], [Option<usize>; 4]) {
    (
        std::array::from_fn(|r| in_range(2 * ty, r, g.pad_top, g.h)),
        std::array::from_fn(|s| in_range(2 * tx, s, g.pad_left, g.w)),
    )
}

/// The window's top-left input pixel when the whole window lies inside the input and C is a
/// multiple of [`LANES`]: the case the branch-free tile functions handle.
#[inline(always)]
fn inside(rows: &[Option<usize>; 4], cols: &[Option<usize>; 4], c: usize) -> Option<(usize, usize)> {
    match (rows[0], cols[0], rows[3], cols[3]) {
        (Some(iy), Some(ix), Some(_), Some(_)) if c.is_multiple_of(LANES) => Some((iy, ix)),
        _ => None,
    }
}

/// [`transform_input`] of one tile that lies inside the input, C a multiple of [`LANES`]: x
/// starts at the tile's top-left pixel, rows `row` floats apart; V's planes are `plane` floats
/// apart and the tile's values start at `at` in each.
#[inline(always)]
fn input_tile_inside(v: &mut [f32], x: &[f32], row: usize, c: usize, plane: usize, at: usize) {
    let x = &x[..3 * row + 4 * c];
    for c0 in (0..c).step_by(LANES) {
        // A macro, not a closure: a closure is a function of its own, which the compiler may
        // leave uninlined and so compiled without the caller's instruction set.
        macro_rules! ld {
            ($r:expr, $s:expr) => {
                whole(&x[$r * row + $s * c + c0..])
            };
        }
        let r0 = bt([ld!(0, 0), ld!(0, 1), ld!(0, 2), ld!(0, 3)]);
        let r1 = bt([ld!(1, 0), ld!(1, 1), ld!(1, 2), ld!(1, 3)]);
        let r2 = bt([ld!(2, 0), ld!(2, 1), ld!(2, 2), ld!(2, 3)]);
        let r3 = bt([ld!(3, 0), ld!(3, 1), ld!(3, 2), ld!(3, 3)]);
        for j in 0..4 {
            let col = bt([r0[j], r1[j], r2[j], r3[j]]);
            for (i, val) in col.iter().enumerate() {
                v[(i * 4 + j) * plane + at + c0..][..LANES].copy_from_slice(val);
            }
        }
    }
}

/// The adjoint of [`transform_input`]: dx (n, H, W, C) += B dv Bᵀ of tiles t0..t0 + tc at their
/// input positions (tiles overlap by two rows and columns).
#[inline(always)]
fn transform_input_adjoint(dx: &mut [f32], dv: &[f32], t0: usize, tc: usize, tiles: Tiles) {
    let (g, c) = (tiles.g, tiles.g.c);
    for t in 0..tc {
        let (bi, ty, tx) = tiles.at(t0 + t);
        let dxb = &mut dx[bi * g.h * g.w * c..][..g.h * g.w * c];
        let (rows, cols) = window(g, ty, tx);
        if let Some((iy, ix)) = inside(&rows, &cols, c) {
            input_tile_inside_adjoint(&mut dxb[(iy * g.w + ix) * c..], dv, g.w * c, c, plane(tc, c), t * c);
            continue;
        }
        for c0 in (0..c).step_by(LANES) {
            let cw = LANES.min(c - c0);
            let at = |i: usize, j: usize| load(&dv[(i * 4 + j) * plane(tc, c) + t * c + c0..], cw);
            // B dv Bᵀ: B down each column of dv, then B along each row.
            let k0 = b([at(0, 0), at(1, 0), at(2, 0), at(3, 0)]);
            let k1 = b([at(0, 1), at(1, 1), at(2, 1), at(3, 1)]);
            let k2 = b([at(0, 2), at(1, 2), at(2, 2), at(3, 2)]);
            let k3 = b([at(0, 3), at(1, 3), at(2, 3), at(3, 3)]);
            for (r, &iy) in rows.iter().enumerate() {
                let Some(iy) = iy else { continue };
                let row = b([k0[r], k1[r], k2[r], k3[r]]);
                for (s, &ix) in cols.iter().enumerate() {
                    if let Some(ix) = ix {
                        add_to(&mut dxb[(iy * g.w + ix) * c + c0..], &row[s], cw);
                    }
                }
            }
        }
    }
}

/// [`transform_input_adjoint`] of one tile that lies inside the input, C a multiple of
/// [`LANES`]; the arguments as for [`input_tile_inside`].
#[inline(always)]
fn input_tile_inside_adjoint(dx: &mut [f32], dv: &[f32], row: usize, c: usize, plane: usize, at: usize) {
    let dx = &mut dx[..3 * row + 4 * c];
    for c0 in (0..c).step_by(LANES) {
        // A macro, not a closure (see input_tile_inside).
        macro_rules! ld {
            ($i:expr, $j:expr) => {
                whole(&dv[($i * 4 + $j) * plane + at + c0..])
            };
        }
        let k0 = b([ld!(0, 0), ld!(1, 0), ld!(2, 0), ld!(3, 0)]);
        let k1 = b([ld!(0, 1), ld!(1, 1), ld!(2, 1), ld!(3, 1)]);
        let k2 = b([ld!(0, 2), ld!(1, 2), ld!(2, 2), ld!(3, 2)]);
        let k3 = b([ld!(0, 3), ld!(1, 3), ld!(2, 3), ld!(3, 3)]);
        for r in 0..4 {
            let vals = b([k0[r], k1[r], k2[r], k3[r]]);
            for (s, val) in vals.iter().enumerate() {
                add_to(&mut dx[r * row + s * c + c0..], val, LANES);
            }
        }
    }
}

/// The outputs (see [`Outputs`]) ← Aᵀ m A + b of tiles t0..t0 + tc; m: (16, tc, OC).
#[inline(always)]
fn transform_output(out: &mut Outputs, m: &[f32], bias: &[f32], t0: usize, tc: usize, tiles: Tiles, oc: usize) {
    let g = tiles.g;
    for t in 0..tc {
        let (bi, ty, tx) = tiles.at(t0 + t);
        for o0 in (0..oc).step_by(LANES) {
            let ow = LANES.min(oc - o0);
            let bv = if bias.is_empty() { [0.0; LANES] } else { load(&bias[o0..], ow) };
            let at = |i: usize, j: usize| load(&m[(i * 4 + j) * plane(tc, oc) + t * oc + o0..], ow);
            // Aᵀ m A: Aᵀ down each column, then A along each of the two rows.
            let c0 = at_([at(0, 0), at(1, 0), at(2, 0), at(3, 0)]);
            let c1 = at_([at(0, 1), at(1, 1), at(2, 1), at(3, 1)]);
            let c2 = at_([at(0, 2), at(1, 2), at(2, 2), at(3, 2)]);
            let c3 = at_([at(0, 3), at(1, 3), at(2, 3), at(3, 3)]);
            let [r0, r1] = [at_([c0[0], c1[0], c2[0], c3[0]]), at_([c0[1], c1[1], c2[1], c3[1]])];
            let ys = [r0[0], r0[1], r1[0], r1[1]].map(|y| add(y, bv));
            match out {
                Outputs::Store(y) => {
                    let yb = &mut y[bi * g.out_pixels() * oc..][..g.out_pixels() * oc];
                    for (q, val) in ys.iter().enumerate() {
                        let (oy, ox) = (2 * ty + q / 2, 2 * tx + q % 2);
                        if oy < g.oh && ox < g.ow {
                            store(&mut yb[(oy * g.ow + ox) * oc + o0..], val, ow);
                        }
                    }
                }
                Outputs::Pool { pooled, arg } => {
                    let (best, pos) = max_and_position(&ys);
                    let o = ((bi * tiles.th + ty) * tiles.tw + tx) * oc + o0;
                    store(&mut pooled[o..], &best, ow);
                    store(&mut arg[o..], &pos, ow);
                }
            }
        }
    }
}

/// The adjoint of [`transform_output`]: dm (16, tc, OC) ← A dy Aᵀ of the 2×2 output tiles
/// t0..t0 + tc (zeros for outputs outside OH×OW, or off the window's maximum when pooled).
#[inline(always)]
fn transform_output_adjoint(dm: &mut [f32], grads: &OutputGrads, t0: usize, tc: usize, tiles: Tiles, oc: usize) {
    let g = tiles.g;
    for t in 0..tc {
        let (bi, ty, tx) = tiles.at(t0 + t);
        for o0 in (0..oc).step_by(LANES) {
            let ow = LANES.min(oc - o0);
            let d: [Lanes; 4] = match grads {
                OutputGrads::Store(dy) => {
                    let dyb = &dy[bi * g.out_pixels() * oc..][..g.out_pixels() * oc];
                    std::array::from_fn(|q| {
                        let (oy, ox) = (2 * ty + q / 2, 2 * tx + q % 2);
                        if oy < g.oh && ox < g.ow {
                            load(&dyb[(oy * g.ow + ox) * oc + o0..], ow)
                        } else {
                            [0.0; LANES]
                        }
                    })
                }
                OutputGrads::Pool { dpooled, arg } => {
                    let o = ((bi * tiles.th + ty) * tiles.tw + tx) * oc + o0;
                    let (dp, a) = (load(&dpooled[o..], ow), load(&arg[o..], ow));
                    std::array::from_fn(|q| std::array::from_fn(|l| if a[l] == q as f32 { dp[l] } else { 0.0 }))
                }
            };
            // A dy Aᵀ: A along each of the two rows, then A down each column.
            let (r0, r1) = (a([d[0], d[1]]), a([d[2], d[3]]));
            for (j, (&x0, &x1)) in r0.iter().zip(&r1).enumerate() {
                let col = a([x0, x1]);
                for (i, val) in col.iter().enumerate() {
                    store(&mut dm[(i * 4 + j) * plane(tc, oc) + t * oc + o0..], val, ow);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect()
    }

    /// Direct convolution and its gradients in f64: (y, dx, dw, db) for upstream gradient dy.
    #[allow(clippy::type_complexity)]
    fn naive(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        dy: &[f32],
        n: usize,
        g: &ConvGeometry,
        oc: usize,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let c = g.c;
        let mut y = vec![0.0; n * g.out_pixels() * oc];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        let mut db = vec![0.0; oc];
        for bi in 0..n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for o in 0..oc {
                        let yi = ((bi * g.oh + oy) * g.ow + ox) * oc + o;
                        let mut s = b[o] as f64;
                        let d = dy[yi] as f64;
                        db[o] += d;
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (Some(iy), Some(ix)) =
                                    (in_range(oy, ky, g.pad_top, g.h), in_range(ox, kx, g.pad_left, g.w))
                                else {
                                    continue;
                                };
                                for ci in 0..c {
                                    let xi = ((bi * g.h + iy) * g.w + ix) * c + ci;
                                    let wi = ((ky * 3 + kx) * c + ci) * oc + o;
                                    s += x[xi] as f64 * w[wi] as f64;
                                    dx[xi] += d * w[wi] as f64;
                                    dw[wi] += d * x[xi] as f64;
                                }
                            }
                        }
                        y[yi] = s;
                    }
                }
            }
        }
        (y, dx, dw, db)
    }

    fn worst(fast: &[f32], slow: &[f64]) -> f64 {
        assert_eq!(fast.len(), slow.len());
        let scale = slow.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        fast.iter().zip(slow).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max) / scale
    }

    #[test]
    fn forward_and_gradients_match_the_direct_convolution_over_awkward_shapes() {
        let mut rng = Rng::from_seed(21);
        let mut largest = 0.0f64;
        // (H, W, C, OC, same padding): odd and even outputs, 1 and 2 tile rows, channel counts
        // below, at and above a block of 16, the article's second layer, and several chunks.
        for (h, w, c, oc, same) in [
            (3, 3, 1, 1, false),
            (4, 5, 3, 2, false),
            (5, 4, 17, 5, false),
            (6, 6, 16, 16, true),
            (7, 3, 2, 33, true),
            (1, 2, 4, 3, true),
            (13, 13, 32, 64, false),
            (20, 17, 5, 3, true), // 270 tiles: three chunks, the last one short
        ] {
            let g = if same {
                ConvGeometry::same(h, w, c, 3, 3, 1, 1).unwrap()
            } else {
                ConvGeometry::valid(h, w, c, 3, 3, 1, 1).unwrap()
            };
            assert!(applies(&g));
            let n = 3;
            let x = random(n * h * w * c, &mut rng);
            let wt = random(9 * c * oc, &mut rng);
            let b = random(oc, &mut rng);
            let dy = random(n * g.out_pixels() * oc, &mut rng);
            let (ry, rdx, rdw, rdb) = naive(&x, &wt, &b, &dy, n, &g, oc);

            let mut first = None;
            for level in Level::supported() {
                let mut scratch = vec![f32::NAN; scratch_len(&g, oc, n)];
                let mut y = vec![f32::NAN; ry.len()];
                forward_at(level, Outputs::Store(&mut y), &mut scratch, &x, &wt, &b, n, &g, oc);
                let (mut dx, mut dw, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; wt.len()], vec![f32::NAN; oc]);
                backward_at(
                    level,
                    Some(&mut dx),
                    &mut dw,
                    &mut db,
                    OutputGrads::Store(&dy),
                    &mut scratch,
                    &x,
                    n,
                    &g,
                    oc,
                );
                for (what, e) in [
                    ("y", worst(&y, &ry)),
                    ("dx", worst(&dx, &rdx)),
                    ("dw", worst(&dw, &rdw)),
                    ("db", worst(&db, &rdb)),
                ] {
                    largest = largest.max(e);
                    assert!(e < 2e-6, "{h}x{w}x{c}->{oc} same={same} at {level}: {what} relative difference {e:e}");
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let this = [bits(&y), bits(&dx), bits(&dw), bits(&db)];
                assert_eq!(
                    this,
                    *first.get_or_insert_with(|| this.clone()),
                    "{level} differs from {}",
                    Level::Baseline
                );
            }
        }
        eprintln!("largest difference from the direct convolution, relative to the largest value: {largest:e}");
    }

    #[test]
    fn without_input_gradient_or_bias_the_rest_is_unchanged() {
        let mut rng = Rng::from_seed(22);
        let g = ConvGeometry::valid(8, 7, 5, 3, 3, 1, 1).unwrap();
        let (n, oc) = (2, 6);
        let x = random(n * 8 * 7 * 5, &mut rng);
        let wt = random(9 * 5 * oc, &mut rng);
        let dy = random(n * g.out_pixels() * oc, &mut rng);
        let (ry, _, rdw, _) = naive(&x, &wt, &vec![0.0; oc], &dy, n, &g, oc);
        let mut scratch = vec![0.0; scratch_len(&g, oc, n)];
        let mut y = vec![0.0; ry.len()];
        forward(Outputs::Store(&mut y), &mut scratch, &x, &wt, &[], n, &g, oc);
        let mut dw = vec![0.0; wt.len()];
        backward(None, &mut dw, &mut [], OutputGrads::Store(&dy), &mut scratch, &x, n, &g, oc);
        assert!(worst(&y, &ry) < 2e-6 && worst(&dw, &rdw) < 2e-6);
    }

    #[test]
    fn pooled_outputs_and_their_gradients_match_pooling_the_direct_convolution() {
        let mut rng = Rng::from_seed(24);
        // (H, W, C, OC, same): odd outputs (the last row and column dropped by the pooling),
        // even ones, a partial channel block, and the article's second layer.
        for (h, w, c, oc, same) in
            [(13, 13, 32, 64, false), (8, 9, 3, 5, false), (6, 7, 17, 16, true), (4, 4, 2, 3, false)]
        {
            let g = if same {
                ConvGeometry::same(h, w, c, 3, 3, 1, 1).unwrap()
            } else {
                ConvGeometry::valid(h, w, c, 3, 3, 1, 1).unwrap()
            };
            let pool = ConvGeometry::valid(g.oh, g.ow, oc, 2, 2, 2, 2).unwrap();
            assert!(pools_tiles(&g, &pool));
            let n = 3;
            let x = random(n * h * w * c, &mut rng);
            let wt = random(9 * c * oc, &mut rng);
            let b = random(oc, &mut rng);
            let plen = n * pool.out_pixels() * oc;
            // The reference: the direct convolution, pooled with first-maximum argmax; the
            // pooled gradient routed back to the argmax, then the direct convolution's gradients.
            let (ry, ..) = naive(&x, &wt, &b, &vec![0.0; n * g.out_pixels() * oc], n, &g, oc);
            let (mut want, mut want_arg) = (vec![0.0f64; plen], vec![0.0f32; plen]);
            for bi in 0..n {
                for py in 0..pool.oh {
                    for px in 0..pool.ow {
                        for o in 0..oc {
                            let at = |q: usize| ry[((bi * g.oh + 2 * py + q / 2) * g.ow + 2 * px + q % 2) * oc + o];
                            let best = (1..4).fold(0, |k, q| if at(q) > at(k) { q } else { k });
                            let i = ((bi * pool.oh + py) * pool.ow + px) * oc + o;
                            (want[i], want_arg[i]) = (at(best), best as f32);
                        }
                    }
                }
            }
            let dp = random(plen, &mut rng);
            let mut first = None;
            for level in Level::supported() {
                let mut scratch = vec![f32::NAN; scratch_len(&g, oc, n)];
                let (mut pooled, mut arg) = (vec![f32::NAN; plen], vec![f32::NAN; plen]);
                forward_at(
                    level,
                    Outputs::Pool { pooled: &mut pooled, arg: &mut arg },
                    &mut scratch,
                    &x,
                    &wt,
                    &b,
                    n,
                    &g,
                    oc,
                );
                assert!(worst(&pooled, &want) < 2e-6, "{h}x{w}x{c}->{oc} at {level}: pooled");
                let agree = arg.iter().zip(&want_arg).filter(|(p, q)| p == q).count();
                assert!(agree as f64 >= 0.999 * plen as f64, "argmax agrees at {agree} of {plen}");

                let mut dy = vec![0.0f32; n * g.out_pixels() * oc];
                for bi in 0..n {
                    for py in 0..pool.oh {
                        for px in 0..pool.ow {
                            for o in 0..oc {
                                let i = ((bi * pool.oh + py) * pool.ow + px) * oc + o;
                                let q = arg[i] as usize;
                                dy[((bi * g.oh + 2 * py + q / 2) * g.ow + 2 * px + q % 2) * oc + o] = dp[i];
                            }
                        }
                    }
                }
                let (_, rdx, rdw, rdb) = naive(&x, &wt, &b, &dy, n, &g, oc);
                let (mut dx, mut dw, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; wt.len()], vec![f32::NAN; oc]);
                let grads = OutputGrads::Pool { dpooled: &dp, arg: &arg };
                backward_at(level, Some(&mut dx), &mut dw, &mut db, grads, &mut scratch, &x, n, &g, oc);
                for (what, e) in [("dx", worst(&dx, &rdx)), ("dw", worst(&dw, &rdw)), ("db", worst(&db, &rdb))] {
                    assert!(
                        e < 2e-6,
                        "{h}x{w}x{c}->{oc} same={same} at {level}: pooled {what} relative difference {e:e}"
                    );
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let this = [bits(&pooled), bits(&arg), bits(&dx), bits(&dw), bits(&db)];
                assert_eq!(
                    this,
                    *first.get_or_insert_with(|| this.clone()),
                    "{level} differs from {}",
                    Level::Baseline
                );
            }
        }
    }

    #[test]
    fn only_3x3_stride_1_applies() {
        assert!(applies(&ConvGeometry::valid(13, 13, 32, 3, 3, 1, 1).unwrap()));
        assert!(!applies(&ConvGeometry::valid(13, 13, 32, 3, 3, 2, 1).unwrap()));
        assert!(!applies(&ConvGeometry::valid(13, 13, 32, 3, 2, 1, 1).unwrap()));
        assert!(!applies(&ConvGeometry::valid(13, 13, 32, 5, 5, 1, 1).unwrap()));
    }
}
