//! Row-major f32 matrix products: the `gemm` crate behind a safe, checked interface, and a
//! register-blocked kernel of our own for the small products of dense layers.

use super::lanes::{load, store, Lanes, LANES};
use super::simd::Level;

/// C = op(A)·op(B) (+ C when `accumulate`), all row-major.
///
/// `c`: (m, n). `a`: (m, k), or stored (k, m) when `ta`. `b`: (k, n), or stored (n, k) when `tb`.
/// Runs on the calling thread: callers parallelise over the batch themselves, so that the
/// partition (and with it every rounding) does not depend on the number of threads.
///
/// # Panics
/// If a slice is shorter than its shape says (a programming error, checked before any access).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(c: &mut [f32], accumulate: bool, a: &[f32], ta: bool, b: &[f32], tb: bool, m: usize, n: usize, k: usize) {
    sgemm_with(c, accumulate, a, ta, b, tb, m, n, k, gemm::Parallelism::None)
}

/// As [`sgemm`], with the `gemm` crate's own threading (used by the GEMM-peak benchmark).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_parallel(c: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize, threads: usize) {
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    sgemm_with(c, false, a, false, b, false, m, n, k, par)
}

#[allow(clippy::too_many_arguments)]
fn sgemm_with(
    c: &mut [f32],
    accumulate: bool,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    m: usize,
    n: usize,
    k: usize,
    parallelism: gemm::Parallelism,
) {
    assert!(c.len() >= m * n, "sgemm: c has {} elements, needs {m}x{n}", c.len());
    assert!(a.len() >= m * k, "sgemm: a has {} elements, needs {m}x{k}", a.len());
    assert!(b.len() >= k * n, "sgemm: b has {} elements, needs {k}x{n}", b.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    // Strides (column stride, row stride) of each operand in elements.
    let (a_cs, a_rs) = if ta { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if tb { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the asserts above prove that every element the product touches lies inside its
    // slice: A's largest offset is (m-1)·a_rs + (k-1)·a_cs = m·k − 1 in either layout, B's is
    // k·n − 1, C's is m·n − 1. `c` is borrowed mutably, so it cannot alias `a` or `b`. When
    // `read_dst` is false, `gemm` never reads C, so stale contents are harmless.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// How [`small_gemm`] starts each output element before adding the products.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// C = op(A)·B.
    Zero,
    /// C = bias + op(A)·B, `bias` holding one value per column (n).
    Bias(&'a [f32]),
    /// C = C + op(A)·B: each element's chain of multiply-adds continues from the value in C, so
    /// a product over k computed as two calls (p < k₀, then the rest with `Accumulate`) gives
    /// the bits of one call over all of k.
    Accumulate,
}

/// C = start + op(A)·B for the small products of dense layers (a slice of a batch against a
/// weight matrix that fits in cache), with the level in force ([`Level::current`]), on the
/// calling thread.
///
/// `c`: (m, n). `a`: (m, k), or stored (k, m) when `ta`. `b`: (k, n). All row-major.
///
/// Every output element is one chain of multiply-adds over p = 0, 1, …, k − 1 in that order,
/// started from its `start` value: the blocking into register tiles changes no rounding, so any
/// block of rows or columns computed on its own gives the bits it has in the whole product, and
/// the AVX2 and AVX-512 copies (both with fused multiply-adds) agree bit for bit.
///
/// # Panics
/// If a slice is shorter than its shape says (checked before any work).
#[allow(clippy::too_many_arguments)]
pub fn small_gemm(c: &mut [f32], start: Start, a: &[f32], ta: bool, b: &[f32], m: usize, n: usize, k: usize) {
    small_gemm_at(Level::current(), c, start, a, ta, b, m, n, k)
}

/// [`small_gemm`] compiled for `level` (the best supported level at or below it).
#[allow(clippy::too_many_arguments)]
pub fn small_gemm_at(
    level: Level,
    c: &mut [f32],
    start: Start,
    a: &[f32],
    ta: bool,
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
) {
    check(c, start, a, b, m, n, k);
    // SAFETY: `check` has proved that c holds the m × n elements written (row stride n), and
    // `c` is borrowed mutably, so nothing else reads or writes them during the call.
    unsafe { blocked(level, c.as_mut_ptr(), n, start, a, ta, b, n, m, n, k) }
}

/// [`small_gemm`] into a block of a larger row-major matrix, with B a block of another: C(i, j)
/// is `*c.add(i·ldc + j)` and B(p, j) is `b[p·ldb + j]`, for i < m, j < n, p < k. Each output
/// element is the same chain of multiply-adds as in [`small_gemm`], so a block computed this
/// way has the bits it has in the whole product. Used where two threads write the two column
/// blocks of one matrix at once.
///
/// # Safety
/// For every i < m and j < n, `c.add(i·ldc + j)` must be valid for reads and writes, and no
/// other thread may read or write those elements during the call (the elements of C between the
/// block's rows, outside its columns, are never touched and may be in use elsewhere).
///
/// # Panics
/// If `a`, `b` or the bias is shorter than its shape says (checked before any work).
#[allow(clippy::too_many_arguments)]
pub unsafe fn small_gemm_strided(
    c: *mut f32,
    ldc: usize,
    start: Start,
    a: &[f32],
    ta: bool,
    b: &[f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
) {
    assert!(ldc >= n && ldb >= n, "small_gemm_strided: row strides {ldc}, {ldb} below {n} columns");
    // SAFETY: the caller's contract on C; A, B and the bias are checked in `blocked`.
    unsafe { blocked(Level::current(), c, ldc, start, a, ta, b, ldb, m, n, k) }
}

/// Plain SGD's update by a product, without the product ever stored: W(i, j) −= lr·(A·B)(i, j)
/// for i < m, j < n, where W(i, j) is `*w.add(i·ldw + j)`, B(p, j) is `b[p·ldb + j]`, A as in
/// [`small_gemm`], and each (A·B)(i, j) is [`small_gemm`]'s chain from zero. So W gets the bits
/// of that product (from `Start::Zero`) followed by [`crate::optim::plain_sgd`] on it: one
/// multiplication and one subtraction, each rounded. Used where a layer's weight gradient is
/// needed only for the update. Returns whether every updated weight is finite.
///
/// # Safety
/// For every i < m and j < n, `w.add(i·ldw + j)` must be valid for reads and writes, and no
/// other thread may read or write those elements during the call.
///
/// # Panics
/// If `a` or `b` is shorter than its shape says, or k is over 256 (the products of a
/// slice of a batch; larger ones would need the gradient stored between blocks of k).
#[allow(clippy::too_many_arguments)]
pub unsafe fn small_gemm_strided_sgd(
    w: *mut f32,
    ldw: usize,
    lr: f32,
    a: &[f32],
    ta: bool,
    b: &[f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
) -> bool {
    assert!(ldw >= n && ldb >= n, "small_gemm_strided_sgd: row strides {ldw}, {ldb} below {n} columns");
    assert!(k <= K_BLOCK, "small_gemm_strided_sgd: {k} steps of p, more than {K_BLOCK}");
    let (a_rs, a_cs) = if ta { (1, m) } else { (k, 1) };
    let args = Args { c: w, ldc: ldw, start: Start::Zero, a, a_rs, a_cs, b, ldb, m, n, k, sgd: Some(lr) };
    // SAFETY: the caller's contract on W, which is C here.
    unsafe { run(Level::current(), args) }
}

/// The product in blocks of [`K_BLOCK`] steps of p: each block continues the chains of the one
/// before (`Accumulate`, which changes no rounding), so that the block of B a tile reads stays
/// in the L1 cache while every tile of rows passes over it.
///
/// # Safety
/// C(i, j) = `*c.add(i·ldc + j)` valid for reads and writes and not used by any other thread
/// during the call, for i < m, j < n.
#[allow(clippy::too_many_arguments)]
unsafe fn blocked(
    level: Level,
    c: *mut f32,
    ldc: usize,
    start: Start,
    a: &[f32],
    ta: bool,
    b: &[f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
) {
    let (a_rs, a_cs) = if ta { (1, m) } else { (k, 1) };
    let mut p0 = 0;
    loop {
        let kb = (k - p0).min(K_BLOCK);
        let start = if p0 == 0 { start } else { Start::Accumulate };
        let a = if kb == 0 { a } else { &a[p0 * a_cs..] };
        let b = if kb == 0 { b } else { &b[p0 * ldb..] };
        // SAFETY: the caller's contract on C, which `run` passes on.
        unsafe { run(level, Args { c, ldc, start, a, a_rs, a_cs, b, ldb, m, n, k: kb, sgd: None }) };
        p0 += kb;
        if p0 >= k {
            break;
        }
    }
}

/// Steps of p per pass of [`small_gemm`] over C: a 16-column block of B is then 16 KB.
const K_BLOCK: usize = 256;

/// Panics unless the slices hold the shapes.
#[allow(clippy::too_many_arguments)]
fn check(c: &[f32], start: Start, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) {
    assert!(c.len() >= m * n, "small_gemm: c has {} elements, needs {m}x{n}", c.len());
    assert!(a.len() >= m * k, "small_gemm: a has {} elements, needs {m}x{k}", a.len());
    assert!(b.len() >= k * n, "small_gemm: b has {} elements, needs {k}x{n}", b.len());
    if let Start::Bias(bias) = start {
        assert!(bias.len() >= n, "small_gemm: bias has {} elements, needs {n}", bias.len());
    }
}

/// Runs one block of k with the copy for `level`. Returns whether every weight updated is
/// finite (true unless `args.sgd`).
///
/// # Safety
/// C(i, j) = `*args.c.add(i·args.ldc + j)` valid for reads and writes and not used by any other
/// thread during the call, for i < m, j < n (A, B and the bias are checked here).
unsafe fn run(level: Level, args: Args) -> bool {
    args.check();
    match level {
        // SAFETY: the guard has just asked the processor (std's cached detection) for AVX-512
        // F/BW/VL/DQ, AVX2 and FMA, which is all `x86::avx512` needs besides the bounds that
        // `Args::check` has just proved and the caller's contract on C.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if Level::Avx512.is_supported() => unsafe { x86::avx512(args) },
        // SAFETY: as above, for AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 | Level::Avx2 if Level::Avx2.is_supported() => unsafe { x86::avx2(args) },
        // SAFETY: the caller's contract on C and the bounds just checked.
        _ => unsafe { portable(args) },
    }
}

/// The operands of one block of k of a [`small_gemm`]: C (m, n) = start + A·B, where
/// C(i, j) = c[i·ldc + j], A(i, p) = a[i·a_rs + p·a_cs] and B(p, j) = b[p·ldb + j]; or, with
/// `sgd: Some(lr)`, C −= lr·(A·B) (C holding weights, `start` then `Zero`).
struct Args<'a> {
    c: *mut f32,
    ldc: usize,
    start: Start<'a>,
    a: &'a [f32],
    a_rs: usize,
    a_cs: usize,
    b: &'a [f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
    sgd: Option<f32>,
}

impl Args<'_> {
    /// Panics unless every element of A, B and the bias that the product reads lies inside its
    /// slice.
    fn check(&self) {
        let Args { start, a, a_rs, a_cs, b, ldb, m, n, k, .. } = self;
        if *m > 0 && *k > 0 {
            assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs, "small_gemm: a shorter than its shape");
        }
        if *n > 0 && *k > 0 {
            assert!(b.len() >= (k - 1) * ldb + n, "small_gemm: b shorter than its shape");
        }
        if let Start::Bias(bias) = start {
            assert!(bias.len() >= *n, "small_gemm: bias shorter than n");
        }
    }
}

/// The copy for processors without FMA: one row at a time, [`LANES`] columns at a time,
/// multiply then add (two roundings per step).
///
/// # Safety
/// As [`run`]: C's m × n block valid and not used elsewhere; A, B and the bias checked.
unsafe fn portable(args: Args) -> bool {
    let Args { c, ldc, start, a, a_rs, a_cs, b, ldb, m, n, k, sgd } = args;
    let mut finite = true;
    for i in 0..m {
        for j0 in (0..n).step_by(LANES) {
            let w = (n - j0).min(LANES);
            // SAFETY: row i, columns j0..j0 + w of C's block (the caller's contract).
            let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc + j0), w) };
            let mut acc: Lanes = match start {
                Start::Bias(bias) => load(&bias[j0..], w),
                Start::Zero => [0.0; LANES],
                Start::Accumulate => load(out, w),
            };
            for p in 0..k {
                let x = a[i * a_rs + p * a_cs];
                let bv = load(&b[p * ldb + j0..], w);
                for (s, y) in acc.iter_mut().zip(bv) {
                    *s += x * y;
                }
            }
            match sgd {
                None => store(out, &acc, w),
                Some(lr) => {
                    for (p, g) in out.iter_mut().zip(acc) {
                        *p -= lr * g;
                        finite &= p.is_finite();
                    }
                }
            }
        }
    }
    finite
}

/// The register-tile kernels of [`small_gemm`] for x86-64, written with intrinsics so that the
/// tile's accumulators are certain to stay in vector registers over the whole k loop.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Args, Start};

    /// Expands to a `match` over (rows, vectors) that calls `$tile::<rows, vectors>($args)`:
    /// the tiles at the edges of C are smaller, each size compiled with its loops unrolled.
    macro_rules! by_size {
        ($tile:ident, $rows:expr, $vecs:expr, $full:expr, $($args:expr),*) => {
            match ($rows, $vecs, $full) {
                (6, 4, true) => $tile::<6, 4, true>($($args),*),
                (6, 4, false) => $tile::<6, 4, false>($($args),*),
                (6, 3, true) => $tile::<6, 3, true>($($args),*),
                (6, 3, false) => $tile::<6, 3, false>($($args),*),
                (6, 2, true) => $tile::<6, 2, true>($($args),*),
                (6, 2, false) => $tile::<6, 2, false>($($args),*),
                (6, 1, true) => $tile::<6, 1, true>($($args),*),
                (6, 1, false) => $tile::<6, 1, false>($($args),*),
                (5, 4, true) => $tile::<5, 4, true>($($args),*),
                (5, 4, false) => $tile::<5, 4, false>($($args),*),
                (5, 3, true) => $tile::<5, 3, true>($($args),*),
                (5, 3, false) => $tile::<5, 3, false>($($args),*),
                (5, 2, true) => $tile::<5, 2, true>($($args),*),
                (5, 2, false) => $tile::<5, 2, false>($($args),*),
                (5, 1, true) => $tile::<5, 1, true>($($args),*),
                (5, 1, false) => $tile::<5, 1, false>($($args),*),
                (4, 4, true) => $tile::<4, 4, true>($($args),*),
                (4, 4, false) => $tile::<4, 4, false>($($args),*),
                (4, 3, true) => $tile::<4, 3, true>($($args),*),
                (4, 3, false) => $tile::<4, 3, false>($($args),*),
                (4, 2, true) => $tile::<4, 2, true>($($args),*),
                (4, 2, false) => $tile::<4, 2, false>($($args),*),
                (4, 1, true) => $tile::<4, 1, true>($($args),*),
                (4, 1, false) => $tile::<4, 1, false>($($args),*),
                (3, 4, true) => $tile::<3, 4, true>($($args),*),
                (3, 4, false) => $tile::<3, 4, false>($($args),*),
                (3, 3, true) => $tile::<3, 3, true>($($args),*),
                (3, 3, false) => $tile::<3, 3, false>($($args),*),
                (3, 2, true) => $tile::<3, 2, true>($($args),*),
                (3, 2, false) => $tile::<3, 2, false>($($args),*),
                (3, 1, true) => $tile::<3, 1, true>($($args),*),
                (3, 1, false) => $tile::<3, 1, false>($($args),*),
                (2, 4, true) => $tile::<2, 4, true>($($args),*),
                (2, 4, false) => $tile::<2, 4, false>($($args),*),
                (2, 3, true) => $tile::<2, 3, true>($($args),*),
                (2, 3, false) => $tile::<2, 3, false>($($args),*),
                (2, 2, true) => $tile::<2, 2, true>($($args),*),
                (2, 2, false) => $tile::<2, 2, false>($($args),*),
                (2, 1, true) => $tile::<2, 1, true>($($args),*),
                (2, 1, false) => $tile::<2, 1, false>($($args),*),
                (1, 4, true) => $tile::<1, 4, true>($($args),*),
                (1, 4, false) => $tile::<1, 4, false>($($args),*),
                (1, 3, true) => $tile::<1, 3, true>($($args),*),
                (1, 3, false) => $tile::<1, 3, false>($($args),*),
                (1, 2, true) => $tile::<1, 2, true>($($args),*),
                (1, 2, false) => $tile::<1, 2, false>($($args),*),
                (_, _, true) => $tile::<1, 1, true>($($args),*),
                _ => $tile::<1, 1, false>($($args),*),
            }
        };
    }

    /// Where one tile's operands start, and how to step through them.
    #[derive(Clone, Copy)]
    struct Ptrs {
        /// C at (i0, j0); row stride `ldc`.
        c: *mut f32,
        ldc: usize,
        /// A at (i0, 0); `a_rs` to the next row of the tile, `a_cs` to the next p.
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        /// B at (0, j0); `ldb` to the next p.
        b: *const f32,
        ldb: usize,
        k: usize,
        /// Where each row's start values are, if not zero: the bias at j0 (`row_step` 0) or C
        /// itself (`row_step` = `ldc`).
        init: Option<(*const f32, usize)>,
        /// Columns valid in the tile's last vector (1..=lanes).
        last: usize,
        /// Plain SGD's learning rate, where C holds weights to update by the product.
        sgd: Option<f32>,
    }

    /// Walks C in tiles of up to `rows` × `vecs`·`lanes` and calls `tile` on each, with the
    /// tile's operands: rows i0..i0 + r of C and A, columns j0..j0 + width of C, B and the bias,
    /// A, B and the bias inside their slices by `Args::check` (which the caller has run), C
    /// inside its block by the contract of [`super::run`]. Returns whether every tile returned
    /// true (every weight it updated finite).
    #[inline(always)]
    fn walk(
        args: Args,
        rows: usize,
        vecs: usize,
        lanes: usize,
        mut tile: impl FnMut(usize, usize, Ptrs) -> bool,
    ) -> bool {
        let Args { c, ldc, start, a, a_rs, a_cs, b, ldb, m, n, k, sgd } = args;
        let mut finite = true;
        let mut visit = |i0: usize, j0: usize| {
            let r = (m - i0).min(rows);
            let width = (n - j0).min(vecs * lanes);
            let nv = width.div_ceil(lanes);
            // Inside C's block (the caller's contract): no reference is made to it.
            let cp = c.wrapping_add(i0 * ldc + j0);
            let ptrs = Ptrs {
                c: cp,
                ldc,
                a: if k == 0 { a.as_ptr() } else { a[i0 * a_rs..].as_ptr() },
                a_rs,
                a_cs,
                b: if k == 0 { b.as_ptr() } else { b[j0..].as_ptr() },
                ldb,
                k,
                init: match start {
                    Start::Bias(bias) => Some((bias[j0..].as_ptr(), 0)),
                    Start::Zero => None,
                    Start::Accumulate => Some((cp.cast_const(), ldc)),
                },
                last: width - (nv - 1) * lanes,
                sgd,
            };
            finite &= tile(r, nv, ptrs);
        };
        // The larger operand is read once from wherever it is, the smaller one kept in the L1
        // cache over it: a column block of B while every tile of rows passes (the usual case,
        // a slice of a batch against a kernel), or a tile of A's rows while every column block
        // passes (more rows than columns: the input layer's weight gradient, 784 × 128). Each
        // tile computes the same values in either order.
        if m > n {
            for i0 in (0..m).step_by(rows) {
                for j0 in (0..n).step_by(vecs * lanes) {
                    visit(i0, j0);
                }
            }
        } else {
            for j0 in (0..n).step_by(vecs * lanes) {
                for i0 in (0..m).step_by(rows) {
                    visit(i0, j0);
                }
            }
        }
        finite
    }

    /// The whole 8 × 8 blocks of a [`super::transpose`]: each block loaded as 8 rows of AVX
    /// registers, transposed with unpacks and shuffles, stored as 8 rows.
    ///
    /// # Safety
    /// AVX2; `dst` holds at least rows·cols elements, `src` rows of `ld` ≥ cols elements (the
    /// last one cols).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn transpose8(dst: &mut [f32], src: &[f32], rows: usize, cols: usize, ld: usize) {
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        for r0 in (0..rows / 8 * 8).step_by(8) {
            for c0 in (0..cols / 8 * 8).step_by(8) {
                let mut x = [_mm256_setzero_ps(); 8];
                for (i, x) in x.iter_mut().enumerate() {
                    // SAFETY: row r0 + i < rows, columns c0..c0 + 8 ≤ cols ≤ ld.
                    *x = unsafe { _mm256_loadu_ps(s.add((r0 + i) * ld + c0)) };
                }
                let t0 = _mm256_unpacklo_ps(x[0], x[1]);
                let t1 = _mm256_unpackhi_ps(x[0], x[1]);
                let t2 = _mm256_unpacklo_ps(x[2], x[3]);
                let t3 = _mm256_unpackhi_ps(x[2], x[3]);
                let t4 = _mm256_unpacklo_ps(x[4], x[5]);
                let t5 = _mm256_unpackhi_ps(x[4], x[5]);
                let t6 = _mm256_unpacklo_ps(x[6], x[7]);
                let t7 = _mm256_unpackhi_ps(x[6], x[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let y = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                for (j, y) in y.iter().enumerate() {
                    // SAFETY: row c0 + j < cols of dst (cols, rows), columns r0..r0 + 8 ≤ rows.
                    unsafe { _mm256_storeu_ps(d.add((c0 + j) * rows + r0), *y) };
                }
            }
        }
    }

    /// AVX-512: tiles of 6 rows × 4 vectors of 16 columns (24 accumulators of the 32 registers:
    /// 10 loads for 24 multiply-adds per step of k).
    ///
    /// # Safety
    /// The processor must have AVX-512 F/BW/VL/DQ, AVX2 and FMA, and C's block must be as
    /// [`super::run`] requires.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    pub(super) unsafe fn avx512(args: Args) -> bool {
        walk(args, 6, 4, 16, |r, nv, p| {
            // SAFETY: `walk` gives a tile inside C, A, B and the bias (see `tile512`), and the
            // caller has checked the processor's features.
            unsafe { by_size!(tile512, r, nv, p.last == 16, p) }
        })
    }

    /// One R × V·16 tile: acc = bias, C or 0; for p in 0..k: acc += A(i, p)·B(p, j); C = acc,
    /// or with `p.sgd = Some(lr)` C −= lr·acc (then returns whether every C is finite).
    /// `FULL`: the last vector is whole (plain loads of B instead of masked ones).
    ///
    /// # Safety
    /// AVX-512 F and FMA; for r < R, v < V, p < k: A at a + r·a_rs + p·a_cs, B at
    /// b + p·ldb + v·16 + (lanes valid in vector v), C at c + r·ldc + the same columns, the
    /// bias at bias + the same columns (C's rows when accumulating), all inside their slices.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    unsafe fn tile512<const R: usize, const V: usize, const FULL: bool>(p: Ptrs) -> bool {
        let mut masks = [0xffff_u16; V];
        masks[V - 1] = ((1u32 << p.last) - 1) as u16;
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        if let Some((init, row_step)) = p.init {
            for (r, row) in acc.iter_mut().enumerate() {
                for v in 0..V {
                    // SAFETY: the bias's columns of vector v, or row i0 + r of C's (masked
                    // lanes are not read).
                    row[v] = unsafe { _mm512_maskz_loadu_ps(masks[v], init.add(r * row_step + v * 16)) };
                }
            }
        }
        let (mut ap, mut bp) = (p.a, p.b);
        for _ in 0..p.k {
            let mut bv = [_mm512_setzero_ps(); V];
            for v in 0..V {
                // SAFETY: row p of B, the tile's columns of vector v (all 16 when FULL).
                bv[v] = unsafe {
                    if FULL {
                        _mm512_loadu_ps(bp.add(v * 16))
                    } else {
                        _mm512_maskz_loadu_ps(masks[v], bp.add(v * 16))
                    }
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: A(i0 + r, p).
                let x = _mm512_set1_ps(unsafe { *ap.add(r * p.a_rs) });
                for v in 0..V {
                    row[v] = _mm512_fmadd_ps(x, bv[v], row[v]);
                }
            }
            // Past the last p these point outside the slices; they are never read there.
            ap = ap.wrapping_add(p.a_cs);
            bp = bp.wrapping_add(p.ldb);
        }
        if let Some(lr) = p.sgd {
            // θ −= lr·g, as `plain_sgd`: a multiplication and a subtraction, each rounded. θ·0
            // is NaN where θ is not finite (masked lanes load as 0).
            let (lr, zero) = (_mm512_set1_ps(lr), _mm512_setzero_ps());
            let mut finite = true;
            for (r, row) in acc.iter().enumerate() {
                for v in 0..V {
                    let at = p.c.wrapping_add(r * p.ldc + v * 16);
                    // SAFETY: row i0 + r of C, the tile's columns of vector v.
                    let w = unsafe { _mm512_maskz_loadu_ps(masks[v], at) };
                    let w = _mm512_sub_ps(w, _mm512_mul_ps(lr, row[v]));
                    // SAFETY: as above.
                    unsafe { _mm512_mask_storeu_ps(at, masks[v], w) };
                    let t = _mm512_mul_ps(w, zero);
                    finite &= _mm512_cmp_ps_mask::<_CMP_ORD_Q>(t, t) == 0xffff;
                }
            }
            return finite;
        }
        for (r, row) in acc.iter().enumerate() {
            for v in 0..V {
                // SAFETY: row i0 + r of C, the tile's columns of vector v.
                unsafe { _mm512_mask_storeu_ps(p.c.add(r * p.ldc + v * 16), masks[v], row[v]) };
            }
        }
        true
    }

    /// AVX2: tiles of 6 rows × 2 vectors of 8 columns (12 accumulators of the 16 registers; 8
    /// loads for 12 multiply-adds per step of k).
    ///
    /// # Safety
    /// The processor must have AVX2 and FMA, and C's block must be as [`super::run`] requires.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2(args: Args) -> bool {
        // A masked last vector takes a register of its own: 4 rows then (8 accumulators), so
        // that the tile does not spill (the bits are those of any tile).
        let rows = if args.n.is_multiple_of(8) { 6 } else { 4 };
        walk(args, rows, 2, 8, |r, nv, p| {
            // SAFETY: as in `avx512`, for `tile256`.
            unsafe { by_size!(tile256, r, nv.min(2), p.last == 8, p) }
        })
    }

    /// Lane masks for `_mm256_maskload_ps`: 8 − n leading all-ones words select n lanes.
    static MASK8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

    /// [`tile512`] with 8-lane vectors.
    ///
    /// # Safety
    /// AVX2 and FMA; the bounds of [`tile512`], with vectors of 8 columns.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile256<const R: usize, const V: usize, const FULL: bool>(p: Ptrs) -> bool {
        let full = _mm256_set1_epi32(-1);
        let mut masks = [full; V];
        // SAFETY: 8 − last is in 0..8, so the 8 words read lie inside MASK8.
        masks[V - 1] = unsafe { _mm256_loadu_si256(MASK8[8 - p.last..].as_ptr().cast()) };
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        if let Some((init, row_step)) = p.init {
            for (r, row) in acc.iter_mut().enumerate() {
                for v in 0..V {
                    // SAFETY: the bias's columns of vector v, or row i0 + r of C's (masked
                    // lanes are not read).
                    row[v] = unsafe { _mm256_maskload_ps(init.add(r * row_step + v * 8), masks[v]) };
                }
            }
        }
        let (mut ap, mut bp) = (p.a, p.b);
        for _ in 0..p.k {
            let mut bv = [_mm256_setzero_ps(); V];
            for v in 0..V {
                // SAFETY: row p of B, the tile's columns of vector v (all 8 but in the last
                // vector of a tile that is not FULL).
                bv[v] = unsafe {
                    if FULL || v + 1 < V {
                        _mm256_loadu_ps(bp.add(v * 8))
                    } else {
                        _mm256_maskload_ps(bp.add(v * 8), masks[v])
                    }
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: A(i0 + r, p).
                let x = _mm256_set1_ps(unsafe { *ap.add(r * p.a_rs) });
                for v in 0..V {
                    row[v] = _mm256_fmadd_ps(x, bv[v], row[v]);
                }
            }
            ap = ap.wrapping_add(p.a_cs);
            bp = bp.wrapping_add(p.ldb);
        }
        if let Some(lr) = p.sgd {
            // As in `tile512`.
            let (lr, zero) = (_mm256_set1_ps(lr), _mm256_setzero_ps());
            let mut ordered = _mm256_castsi256_ps(full);
            for (r, row) in acc.iter().enumerate() {
                for v in 0..V {
                    let at = p.c.wrapping_add(r * p.ldc + v * 8);
                    // SAFETY: row i0 + r of C, the tile's columns of vector v (masked lanes
                    // are neither read, reading as 0, nor written).
                    let w = unsafe { _mm256_maskload_ps(at, masks[v]) };
                    let w = _mm256_sub_ps(w, _mm256_mul_ps(lr, row[v]));
                    // SAFETY: as above.
                    unsafe { _mm256_maskstore_ps(at, masks[v], w) };
                    let t = _mm256_mul_ps(w, zero);
                    ordered = _mm256_and_ps(ordered, _mm256_cmp_ps::<_CMP_ORD_Q>(t, t));
                }
            }
            return _mm256_movemask_ps(ordered) == 0xff;
        }
        for (r, row) in acc.iter().enumerate() {
            for v in 0..V {
                // SAFETY: row i0 + r of C, the tile's columns of vector v.
                unsafe { _mm256_maskstore_ps(p.c.add(r * p.ldc + v * 8), masks[v], row[v]) };
            }
        }
        true
    }
}

/// dst (cols, rows) ← src (rows, cols) transposed, both row-major: in 8 × 8 blocks of AVX
/// registers where the processor has AVX2, the edges element by element.
///
/// # Panics
/// If a slice is shorter than its shape says.
pub fn transpose(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    transpose_strided(dst, src, rows, cols, cols)
}

/// [`transpose`] of a block of columns: src's row r is `src[r·ld..r·ld + cols]` (ld ≥ cols);
/// dst (cols, rows) is written whole.
///
/// # Panics
/// If `ld` < `cols`, or a slice is shorter than its shape says.
pub fn transpose_strided(dst: &mut [f32], src: &[f32], rows: usize, cols: usize, ld: usize) {
    assert!(ld >= cols, "transpose: row stride {ld} below {cols} columns");
    let src_len = if rows == 0 { 0 } else { (rows - 1) * ld + cols };
    assert!(src.len() >= src_len && dst.len() >= rows * cols, "transpose: slices shorter than {rows}x{cols}");
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    if Level::current() >= Level::Avx2 && Level::Avx2.is_supported() {
        // SAFETY: AVX2 is present (just asked), and the blocks read and written lie inside
        // the rows of `src` and the rows·cols elements of `dst`, which the assert has proved.
        unsafe { x86::transpose8(dst, src, rows, cols, ld) };
    } else {
        scalar_transpose(dst, src, rows, ld, 0..r8, 0..c8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    scalar_transpose(dst, src, rows, ld, 0..r8, 0..c8);
    // The last rows (all columns) and the last columns (of the other rows).
    scalar_transpose(dst, src, rows, ld, r8..rows, 0..cols);
    scalar_transpose(dst, src, rows, ld, 0..r8, c8..cols);
}

/// The transpose of src's rows `rs` × columns `cs`, element by element.
fn scalar_transpose(
    dst: &mut [f32],
    src: &[f32],
    rows: usize,
    ld: usize,
    rs: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
) {
    for r in rs {
        for c in cs.clone() {
            dst[c * rows + r] = src[r * ld + c];
        }
    }
}

/// The naive reference for [`sgemm`]: a triple loop, accumulating in f64.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_naive(
    c: &mut [f32],
    accumulate: bool,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    m: usize,
    n: usize,
    k: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av as f64 * bv as f64;
            }
            let dst = &mut c[i * n + j];
            *dst = if accumulate { *dst + s as f32 } else { s as f32 };
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

    #[test]
    fn matches_naive_over_awkward_shapes_and_transposes() {
        let mut rng = Rng::from_seed(11);
        let sizes = [0usize, 1, 2, 3, 7, 16, 17, 33, 65];
        let mut worst = 0.0f32;
        for &m in &sizes {
            for &n in &[1usize, 5, 16, 31] {
                for &k in &sizes {
                    for (ta, tb, acc) in
                        [(false, false, false), (true, false, true), (false, true, false), (true, true, true)]
                    {
                        let a = random(m * k, &mut rng);
                        let b = random(k * n, &mut rng);
                        let c0 = random(m * n, &mut rng);
                        let mut fast = c0.clone();
                        let mut slow = c0.clone();
                        sgemm(&mut fast, acc, &a, ta, &b, tb, m, n, k);
                        sgemm_naive(&mut slow, acc, &a, ta, &b, tb, m, n, k);
                        for (x, y) in fast.iter().zip(&slow) {
                            let d = (x - y).abs();
                            worst = worst.max(d);
                            assert!(d <= 1e-5 * (1.0 + k as f32), "m{m} n{n} k{k} ta{ta} tb{tb}: {x} vs {y}");
                        }
                    }
                }
            }
        }
        eprintln!("largest |fast - naive| = {worst:e}");
    }

    #[test]
    fn small_gemm_matches_naive_at_every_level_over_awkward_shapes() {
        let mut rng = Rng::from_seed(13);
        for level in Level::supported() {
            for &m in &[1usize, 2, 3, 4, 5, 9, 64] {
                for &n in &[1usize, 10, 16, 17, 64, 65, 128, 130] {
                    for &k in &[0usize, 1, 7, 64, 129] {
                        for (ta, start) in [(false, 0), (true, 0), (false, 1), (true, 1), (false, 2), (true, 2)] {
                            let a = random(m * k, &mut rng);
                            let b = random(k * n, &mut rng);
                            let bv = random(n, &mut rng);
                            let c0 = random(m * n, &mut rng);
                            let mut fast = c0.clone();
                            let mut slow = vec![0.0; m * n];
                            let start = [Start::Zero, Start::Bias(&bv), Start::Accumulate][start];
                            small_gemm_at(level, &mut fast, start, &a, ta, &b, m, n, k);
                            sgemm_naive(&mut slow, false, &a, ta, &b, false, m, n, k);
                            for (i, (x, y)) in fast.iter().zip(&slow).enumerate() {
                                let y = match start {
                                    Start::Zero => *y,
                                    Start::Bias(bv) => y + bv[i % n],
                                    Start::Accumulate => y + c0[i],
                                };
                                let d = (x - y).abs();
                                assert!(d <= 1e-5 * (1.0 + k as f32), "{level} m{m} n{n} k{k} ta{ta}: {x} vs {y}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn small_gemm_rows_and_columns_do_not_depend_on_their_neighbours() {
        // Any row block or column block computed alone gives the same bits as in the whole
        // product: what lets a product be split across threads without changing a result.
        let mut rng = Rng::from_seed(14);
        let (m, n, k) = (37, 83, 129);
        let a = random(m * k, &mut rng);
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let b = random(k * n, &mut rng);
        let bias = random(n, &mut rng);
        for level in Level::supported() {
            let mut whole = vec![0.0; m * n];
            small_gemm_at(level, &mut whole, Start::Bias(&bias), &a, false, &b, m, n, k);
            let mut tr = vec![0.0; m * n];
            small_gemm_at(level, &mut tr, Start::Bias(&bias), &at, true, &b, m, n, k);
            assert_eq!(whole, tr, "{level}: transposed A");
            for (r0, r1) in [(0, 1), (1, 6), (6, 37)] {
                let mut part = vec![0.0; (r1 - r0) * n];
                small_gemm_at(level, &mut part, Start::Bias(&bias), &a[r0 * k..r1 * k], false, &b, r1 - r0, n, k);
                assert_eq!(part, whole[r0 * n..r1 * n], "{level}: rows {r0}..{r1}");
            }
            // Columns 16..33 alone: B and the bias cut to those columns.
            let bc: Vec<f32> = (0..k).flat_map(|p| b[p * n + 16..p * n + 33].to_vec()).collect();
            let mut part = vec![0.0; m * 17];
            small_gemm_at(level, &mut part, Start::Bias(&bias[16..33]), &a, false, &bc, m, 17, k);
            for i in 0..m {
                assert_eq!(part[i * 17..(i + 1) * 17], whole[i * n + 16..i * n + 33], "{level}: row {i}");
            }
        }
        // With fused multiply-adds, the AVX2 and AVX-512 copies agree bit for bit.
        let fused: Vec<Level> = Level::supported().into_iter().filter(|&l| l >= Level::Avx2).collect();
        let outs: Vec<Vec<f32>> = fused
            .iter()
            .map(|&l| {
                let mut c = vec![0.0; m * n];
                small_gemm_at(l, &mut c, Start::Zero, &a, false, &b, m, n, k);
                c
            })
            .collect();
        assert!(outs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn a_product_over_k_in_two_calls_gives_the_bits_of_one() {
        // C = Aᵀ·B with A stored (k, m), as a dense layer's weight gradient is formed: rows
        // p < k0 of A and B, then the rest with `Accumulate`, against all of k at once.
        let mut rng = Rng::from_seed(16);
        let (m, n, k) = (37, 83, 64);
        let a = random(k * m, &mut rng);
        let b = random(k * n, &mut rng);
        for level in Level::supported() {
            let mut whole = vec![0.0; m * n];
            small_gemm_at(level, &mut whole, Start::Zero, &a, true, &b, m, n, k);
            for k0 in [0, 1, 31, 32, 63, 64] {
                let mut split = random(m * n, &mut rng);
                small_gemm_at(level, &mut split, Start::Zero, &a[..k0 * m], true, &b[..k0 * n], m, n, k0);
                small_gemm_at(level, &mut split, Start::Accumulate, &a[k0 * m..], true, &b[k0 * n..], m, n, k - k0);
                assert_eq!(split, whole, "{level}: k split at {k0}");
            }
        }
    }

    #[test]
    fn plain_sgd_inside_the_product_gives_the_bits_of_the_product_then_the_update() {
        // W's columns 5..38 of a matrix 41 columns wide −= lr·(A·B), at every level and with A
        // either way round: the bits of the product (from zero) then `plain_sgd`, every element
        // outside the block as it was, and the finiteness of the updated weights reported.
        let mut rng = Rng::from_seed(17);
        let (m, n, k, ldw, off, lr) = (37, 33, 64, 41, 5, 0.01f32);
        let a = random(m * k, &mut rng);
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let b = random(k * n, &mut rng);
        let w0 = random(m * ldw, &mut rng);
        for level in Level::supported() {
            let mut g = vec![0.0; m * n];
            small_gemm_at(level, &mut g, Start::Zero, &a, false, &b, m, n, k);
            let mut want = w0.clone();
            for i in 0..m {
                assert!(crate::optim::plain_sgd(
                    &mut want[i * ldw + off..i * ldw + off + n],
                    &g[i * n..(i + 1) * n],
                    lr
                ));
            }
            for (ta, broken) in [(false, false), (true, false), (true, true)] {
                let (a, a_rs, a_cs) = if ta { (&at, 1, m) } else { (&a, k, 1) };
                let mut w = w0.clone();
                if broken {
                    w[3 * ldw + off + 7] = f32::INFINITY;
                }
                let args = Args {
                    c: w[off..].as_mut_ptr(),
                    ldc: ldw,
                    start: Start::Zero,
                    a,
                    a_rs,
                    a_cs,
                    b: &b,
                    ldb: n,
                    m,
                    n,
                    k,
                    sgd: Some(lr),
                };
                // SAFETY: rows i < m of columns off..off + n lie inside w (off + n ≤ ldw), which
                // this thread alone holds.
                let finite = unsafe { run(level, args) };
                assert_eq!(finite, !broken, "{level}: finiteness");
                if !broken {
                    assert!(w.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{level}, ta {ta}: weights");
                }
            }
        }
        // The public entry: the level in force, the same bits.
        let mut w = w0.clone();
        // SAFETY: as above.
        assert!(unsafe { small_gemm_strided_sgd(w[off..].as_mut_ptr(), ldw, lr, &a, false, &b, n, m, n, k) });
        let mut g = vec![0.0; m * n];
        small_gemm(&mut g, Start::Zero, &a, false, &b, m, n, k);
        for i in 0..m {
            let mut row = w0[i * ldw..(i + 1) * ldw].to_vec();
            assert!(crate::optim::plain_sgd(&mut row[off..off + n], &g[i * n..(i + 1) * n], lr));
            assert_eq!(&w[i * ldw..(i + 1) * ldw], &row[..], "row {i}");
        }
    }

    #[test]
    fn a_strided_block_gives_the_bits_of_its_columns_and_touches_nothing_else() {
        // Columns 16..49 of C = bias + A·B written at column 5 of a matrix 41 columns wide,
        // from B's columns 16..49 read in place (row stride n): the whole product's bits, and
        // every element outside the block left as it was. Also continued over k (Accumulate).
        let mut rng = Rng::from_seed(16);
        let (m, n, k) = (37, 83, 300);
        let a = random(m * k, &mut rng);
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let b = random(k * n, &mut rng);
        let bias = random(n, &mut rng);
        let (j0, j1, ldc, off) = (16, 49, 41, 5);
        for level in Level::supported() {
            let mut whole = vec![0.0; m * n];
            small_gemm_at(level, &mut whole, Start::Bias(&bias), &a, false, &b, m, n, k);
            for ta in [false, true] {
                let a = if ta { &at } else { &a };
                let mut c = vec![-7.5f32; m * ldc];
                // SAFETY: rows i < m of columns off..off + 33 lie inside c (off + 33 ≤ ldc),
                // which this thread alone holds.
                unsafe {
                    blocked(
                        level,
                        c[off..].as_mut_ptr(),
                        ldc,
                        Start::Bias(&bias[j0..]),
                        a,
                        ta,
                        &b[j0..],
                        n,
                        m,
                        j1 - j0,
                        k,
                    )
                };
                for i in 0..m {
                    let row = &c[i * ldc..(i + 1) * ldc];
                    assert_eq!(row[off..off + j1 - j0], whole[i * n + j0..i * n + j1], "{level}: row {i}");
                    assert!(row[..off].iter().chain(&row[off + j1 - j0..]).all(|&x| x == -7.5), "{level}: row {i}");
                }
            }
            // The same block over k in two calls: p < 100, then the rest continuing the chains.
            let mut c = vec![0.0f32; m * ldc];
            let a2: Vec<f32> = (0..m).flat_map(|i| a[i * k + 100..(i + 1) * k].to_vec()).collect();
            let a1: Vec<f32> = (0..m).flat_map(|i| a[i * k..i * k + 100].to_vec()).collect();
            // SAFETY: as above.
            unsafe {
                blocked(
                    level,
                    c[off..].as_mut_ptr(),
                    ldc,
                    Start::Bias(&bias[j0..]),
                    &a1,
                    false,
                    &b[j0..],
                    n,
                    m,
                    j1 - j0,
                    100,
                );
                blocked(
                    level,
                    c[off..].as_mut_ptr(),
                    ldc,
                    Start::Accumulate,
                    &a2,
                    false,
                    &b[100 * n + j0..],
                    n,
                    m,
                    j1 - j0,
                    k - 100,
                );
            }
            for i in 0..m {
                assert_eq!(
                    c[i * ldc + off..i * ldc + off + j1 - j0],
                    whole[i * n + j0..i * n + j1],
                    "{level}: row {i}"
                );
            }
        }
    }

    #[test]
    fn a_strided_transpose_reads_only_its_columns() {
        let mut rng = Rng::from_seed(17);
        for (rows, cols, ld) in [(1, 1, 1), (3, 17, 20), (33, 16, 128), (128, 64, 128), (784, 64, 128), (23, 41, 41)] {
            let src = random((rows - 1) * ld + cols, &mut rng);
            let mut dst = vec![0.0; rows * cols];
            transpose_strided(&mut dst, &src, rows, cols, ld);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * ld + c]);
                }
            }
        }
    }

    #[test]
    fn transpose_matches_the_definition() {
        let mut rng = Rng::from_seed(15);
        for (rows, cols) in [(1, 1), (3, 17), (33, 16), (128, 10), (64, 128), (23, 41)] {
            let src = random(rows * cols, &mut rng);
            let mut dst = vec![0.0; rows * cols];
            transpose(&mut dst, &src, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c]);
                }
            }
        }
    }

    #[test]
    fn parallel_matches_single_thread() {
        let mut rng = Rng::from_seed(12);
        let (m, n, k) = (130, 70, 90);
        let a = random(m * k, &mut rng);
        let b = random(k * n, &mut rng);
        let mut c1 = vec![0.0; m * n];
        let mut c2 = vec![0.0; m * n];
        sgemm(&mut c1, false, &a, false, &b, false, m, n, k);
        sgemm_parallel(&mut c2, &a, &b, m, n, k, 2);
        for (x, y) in c1.iter().zip(&c2) {
            assert!((x - y).abs() < 1e-4);
        }
    }
}
