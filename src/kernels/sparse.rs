//! Products with a sparse left operand: a batch of MNIST images is four-fifths zeros, and the
//! first dense layer's products can leave those terms out.
//!
//! Leaving out a term x·w with x = +0 or −0 changes no bit of a chain of multiply-adds that
//! starts from +0 or from a value other than −0, when every w is finite: the product is then
//! ±0, and a ± 0 = a for a ≠ 0, while +0 + (±0) = +0 when rounding to nearest. (Only a chain that
//! is −0 when the term comes, which a start of −0 can make, would turn into +0.) So these
//! products give the bits of [`super::gemm::small_gemm`] on the dense operand, at each level:
//! fused multiply-adds where it fuses (AVX2, AVX-512), multiply then add where it does not.

use std::ops::Range;

use super::simd::{multiversion, Level};

/// A nonzero entry of a column: its row and value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Entry {
    pub row: u32,
    pub val: f32,
}

/// The nonzero entries of a row-major matrix, column by column, each column's in row order.
#[derive(Debug, Default)]
pub struct SparseColumns {
    rows: usize,
    /// Column j's entries are at `starts[j]..starts[j + 1]`, one after the other (so that a
    /// pass over the columns reads the entries in order, as few cache lines as there are
    /// entries' bytes).
    starts: Vec<u32>,
    /// The entries, from `starts[0]` to the last start; the elements past it are left over.
    entries: Vec<Entry>,
    /// Where each column's next entry goes, while the entries are listed.
    next: Vec<u32>,
}

impl SparseColumns {
    /// The nonzero entries of `x`, rows of `width` values (any −0 is left out too).
    pub fn set(&mut self, x: &[f32], width: usize) {
        set_at(Level::current(), self, x, width)
    }

    /// The nonzero entries of the images `picks` of `images` (rows of `width` bytes), in that
    /// order, a byte b standing for b / 255 as [`crate::kernels::elementwise::bytes_to_unit`]
    /// converts it: the lists [`Self::set`] makes of the converted rows, without converting
    /// the zeros.
    ///
    /// # Panics
    /// If a pick is past the last image.
    pub fn set_bytes(&mut self, images: &[u8], picks: &[usize], width: usize) {
        #[cfg(target_arch = "x86_64")]
        if picks.len() <= 32 {
            // SAFETY: SSE2, all the function needs, is part of every x86-64 processor (the
            // target's baseline).
            return unsafe { x86::set_bytes_transposed(self, images, picks, width) };
        }
        set_bytes_at(Level::current(), self, images, picks, width)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn width(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Nonzero entries in the columns before column j (j ≤ width).
    pub fn nonzeros_before(&self, j: usize) -> usize {
        self.starts[j] as usize
    }

    /// Nonzero entries in all.
    pub fn nonzeros(&self) -> usize {
        self.starts.last().map_or(0, |&n| n as usize)
    }

    /// Column j's entries, rows in order.
    pub fn col(&self, j: usize) -> &[Entry] {
        &self.entries[self.starts[j] as usize..self.starts[j + 1] as usize]
    }
}

multiversion! {
    /// [`SparseColumns::set`] compiled for `level`.
    fn set_at(a: &mut SparseColumns, x: &[f32], width: usize) {
        let rows = x.len().checked_div(width).unwrap_or(0);
        let x = &x[..rows * width];
        list(a, x.chunks_exact(width.max(1)), width, |v| v != 0.0, |v| v)
    }
}

multiversion! {
    /// [`SparseColumns::set_bytes`] compiled for `level`.
    fn set_bytes_at(a: &mut SparseColumns, images: &[u8], picks: &[usize], width: usize) {
        let table = unit_table();
        let rows = picks.iter().map(|&i| &images[i * width..(i + 1) * width]);
        list(a, rows, width, |b| b != 0, |b| table[usize::from(b)])
    }
}

/// `f32::from(b) / 255.0` for every byte b: the values [`crate::kernels::elementwise::bytes_to_unit`]
/// gives, looked up.
fn unit_table() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|b| f32::from(b as u8) / 255.0))
}

/// Lists the nonzero entries of `rows` (each `width` values long) into `a`, each as `value(v)`.
#[inline(always)]
fn list<'r, T: Copy + 'r>(
    a: &mut SparseColumns,
    rows: impl Iterator<Item = &'r [T]> + Clone,
    width: usize,
    nonzero: impl Fn(T) -> bool,
    value: impl Fn(T) -> f32,
) {
    // Each column's count (a pass the compiler turns into vector compares and adds), then
    // where each column starts; `next[j]` is then where column j's next entry goes.
    let mut next_buf = std::mem::take(&mut a.next);
    let next = &mut next_buf;
    next.clear();
    next.resize(width, 0);
    let mut count = 0;
    for row in rows.clone() {
        for (c, &v) in next.iter_mut().zip(row) {
            *c += u32::from(nonzero(v));
        }
        count += 1;
    }
    a.rows = count;
    a.starts.clear();
    a.starts.push(0);
    let mut total = 0u32;
    for c in next.iter_mut() {
        let count = *c;
        *c = total;
        total += count;
        a.starts.push(total);
    }
    if a.entries.len() < total as usize {
        a.entries.resize(total as usize, Entry::default());
    }
    // Slices held here, so that their lengths and addresses stay in registers over the stores.
    let (entries, next) = (&mut a.entries[..], &mut next[..]);
    // A row at a time (so that consecutive entries go to different columns), 32 values at
    // a time: a mask of the nonzero values, then its set bits (one loop of unforeseeable
    // length per group, not per value).
    let full = width / 32 * 32;
    for (r, row) in rows.enumerate() {
        for (j0, g) in (0..full).step_by(32).zip(row.chunks_exact(32)) {
            let mut mask = 0u32;
            for (b, &v) in g.iter().enumerate() {
                mask |= u32::from(nonzero(v)) << b;
            }
            while mask != 0 {
                let b = mask.trailing_zeros() as usize;
                let j = j0 + b;
                let at = next[j] as usize;
                entries[at] = Entry { row: r as u32, val: value(g[b]) };
                next[j] += 1;
                mask &= mask - 1;
            }
        }
        for (j, &v) in row.iter().enumerate().skip(full) {
            if nonzero(v) {
                let at = next[j] as usize;
                entries[at] = Entry { row: r as u32, val: value(v) };
                next[j] += 1;
            }
        }
    }
    a.next = next_buf;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{unit_table, Entry, SparseColumns};

    /// [`SparseColumns::set_bytes`] for at most 32 images, without a pass to count each
    /// column's entries or stores scattered over all the columns: 16 columns at a time, the
    /// images' bytes are transposed in SSE2 registers (baseline on x86-64) into a column of
    /// up to 32 bytes each, whose nonzero bytes a mask finds; each column's entries are then
    /// appended in row order, one column after the other, as the lists hold them. The columns
    /// past the last whole 16 are listed byte by byte.
    ///
    /// # Panics
    /// If there are more than 32 picks, or a pick is past the last image.
    #[target_feature(enable = "sse2")]
    pub(super) fn set_bytes_transposed(a: &mut SparseColumns, images: &[u8], picks: &[usize], width: usize) {
        assert!(picks.len() <= 32, "set_bytes_transposed: {} images, more than 32", picks.len());
        let mut image = [&[][..]; 32];
        for (row, &i) in image.iter_mut().zip(picks) {
            *row = &images[i * width..(i + 1) * width];
        }
        let table = unit_table();
        a.rows = picks.len();
        a.starts.clear();
        a.starts.push(0);
        // Room for every byte, so that entries are written in place (the lists end where
        // `starts` says, not where `entries` does).
        if a.entries.len() < picks.len() * width {
            a.entries.resize(picks.len() * width, Entry::default());
        }
        let (out, mut k) = (&mut a.entries[..], 0);
        // The transposed block: column i's bytes of rows 0..32 at cols[i].
        let mut cols = [[0u8; 32]; 16];
        let zero = _mm_setzero_si128();
        let full = width / 16 * 16;
        for j0 in (0..full).step_by(16) {
            for half in 0..2 {
                let mut x = [zero; 16];
                for (r, x) in x.iter_mut().enumerate() {
                    let row = image[half * 16 + r];
                    if !row.is_empty() {
                        // SAFETY: columns j0..j0 + 16 ≤ width of the row, which is `width` long.
                        *x = unsafe { _mm_loadu_si128(row[j0..j0 + 16].as_ptr().cast()) };
                    }
                }
                for (i, c) in transpose16(x).iter().enumerate() {
                    // SAFETY: 16 bytes into the 32 of cols[i], from byte half·16.
                    unsafe { _mm_storeu_si128(cols[i][half * 16..].as_mut_ptr().cast(), *c) };
                }
            }
            for col in &cols {
                // SAFETY: the two 16-byte halves of a 32-byte array.
                let (lo, hi) =
                    unsafe { (_mm_loadu_si128(col.as_ptr().cast()), _mm_loadu_si128(col[16..].as_ptr().cast())) };
                let zeros = |v| _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) as u32 & 0xffff;
                let mut mask = !(zeros(lo) | zeros(hi) << 16);
                while mask != 0 {
                    let r = mask.trailing_zeros() as usize;
                    out[k] = Entry { row: r as u32, val: table[usize::from(col[r])] };
                    k += 1;
                    mask &= mask - 1;
                }
                a.starts.push(k as u32);
            }
        }
        for j in full..width {
            for (r, row) in image[..picks.len()].iter().enumerate() {
                if row[j] != 0 {
                    out[k] = Entry { row: r as u32, val: table[usize::from(row[j])] };
                    k += 1;
                }
            }
            a.starts.push(k as u32);
        }
    }

    /// A 16 × 16 block of bytes transposed: row r of the result holds byte r of every row of
    /// `x`, in order (four rounds of interleaving: bytes, pairs, quads, halves).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn transpose16(x: [__m128i; 16]) -> [__m128i; 16] {
        let mut t = [x[0]; 16];
        for k in 0..8 {
            t[2 * k] = _mm_unpacklo_epi8(x[2 * k], x[2 * k + 1]);
            t[2 * k + 1] = _mm_unpackhi_epi8(x[2 * k], x[2 * k + 1]);
        }
        let mut u = t;
        for g in 0..4 {
            let b = 4 * g;
            u[b] = _mm_unpacklo_epi16(t[b], t[b + 2]);
            u[b + 1] = _mm_unpackhi_epi16(t[b], t[b + 2]);
            u[b + 2] = _mm_unpacklo_epi16(t[b + 1], t[b + 3]);
            u[b + 3] = _mm_unpackhi_epi16(t[b + 1], t[b + 3]);
        }
        let mut v = u;
        for g in 0..2 {
            let b = 8 * g;
            for i in 0..4 {
                v[b + 2 * i] = _mm_unpacklo_epi32(u[b + i], u[b + 4 + i]);
                v[b + 2 * i + 1] = _mm_unpackhi_epi32(u[b + i], u[b + 4 + i]);
            }
        }
        let mut w = v;
        for i in 0..8 {
            w[2 * i] = _mm_unpacklo_epi64(v[i], v[8 + i]);
            w[2 * i + 1] = _mm_unpackhi_epi64(v[i], v[8 + i]);
        }
        w
    }
}

/// Whether the products of `level` fuse their multiply-adds (as [`super::gemm::small_gemm`]'s do
/// at that level).
fn fuses(level: Level) -> bool {
    level >= Level::Avx2 && Level::Avx2.is_supported()
}

/// Columns per block of the output kept in registers (8 AVX2 registers).
const BLOCK: usize = 64;

/// C (rows of the parts, n) = start + A·B for A given as parts stacked by rows (the first
/// part's rows, then the next's): row i of C (`c[i·ldc..]`) is `start` (n values, or zeros)
/// plus, for each nonzero A(i, p) in column order, A(i, p)·B(p, ..n) with B(p, j) = b[p·ldb + j].
/// The bits of `small_gemm(c, start, A, false, B, ..)` on the dense A, when `start` holds no −0
/// and B is finite (see the module docs). Each of B's rows is read once for all the parts.
///
/// # Panics
/// If a slice is shorter than the shapes say, or the parts differ in width.
pub fn sparse_gemm(
    c: &mut [f32],
    ldc: usize,
    start: Option<&[f32]>,
    parts: &[&SparseColumns],
    b: &[f32],
    ldb: usize,
    n: usize,
) {
    let level = Level::current();
    sparse_gemm_at(level, c, ldc, start, parts, b, ldb, n, fuses(level))
}

multiversion! {
    /// [`sparse_gemm`] compiled for `level`; `fused`: whether to fuse (as that level's dense
    /// product does). Column p of A at a time: B's row p held in registers, added to the rows of
    /// C where a part has a nonzero, so every element's chain runs over p in order.
    pub fn sparse_gemm_at(
        c: &mut [f32],
        ldc: usize,
        start: Option<&[f32]>,
        parts: &[&SparseColumns],
        b: &[f32],
        ldb: usize,
        n: usize,
        fused: bool,
    ) {
        let width = parts.first().map_or(0, |a| a.width());
        assert!(parts.iter().all(|a| a.width() == width), "sparse_gemm: parts of different widths");
        let rows: usize = parts.iter().map(|a| a.rows()).sum();
        for j0 in (0..n).step_by(BLOCK) {
            let w = (n - j0).min(BLOCK);
            for i in 0..rows {
                let out = &mut c[i * ldc + j0..i * ldc + j0 + w];
                match start {
                    Some(s) => out.copy_from_slice(&s[j0..j0 + w]),
                    None => out.fill(0.0),
                }
            }
            for p in 0..width {
                if parts.iter().all(|a| a.col(p).is_empty()) {
                    continue;
                }
                let at = p * ldb + j0;
                if w == BLOCK {
                    let mut y = [0.0f32; BLOCK];
                    y.copy_from_slice(&b[at..at + BLOCK]);
                    let mut first = 0;
                    for a in parts {
                        for &Entry { row: i, val: x } in a.col(p) {
                            let o = (first + i as usize) * ldc + j0;
                            let out = &mut c[o..o + BLOCK];
                            if fused {
                                for (s, &y) in out.iter_mut().zip(&y) {
                                    *s = x.mul_add(y, *s);
                                }
                            } else {
                                for (s, &y) in out.iter_mut().zip(&y) {
                                    *s += x * y;
                                }
                            }
                        }
                        first += a.rows();
                    }
                } else {
                    let mut first = 0;
                    for a in parts {
                        for &Entry { row: i, val: x } in a.col(p) {
                            let o = (first + i as usize) * ldc + j0;
                            for (s, &y) in c[o..o + w].iter_mut().zip(&b[at..at + w]) {
                                *s = if fused { x.mul_add(y, *s) } else { *s + x * y };
                            }
                        }
                        first += a.rows();
                    }
                }
            }
        }
    }
}

/// The rows `rows` of C (k, n) = Aᵀ·B for A given as parts stacked by rows, each part (its
/// nonzero entries, its rows of B with row stride `ldb`): for each p of `rows` in order, row p of
/// C is formed in registers, over the parts in order and each part's rows in order, then handed to
/// `emit(p, row)`. Every element is one chain from +0 over the rows in order: the bits of
/// `small_gemm(c, Start::Zero, A, true, B, ..)` on the dense A, for B finite (see the module
/// docs). With `skip_empty`, a row p with no entry in any part (all +0) is not emitted.
///
/// # Panics
/// If a slice is shorter than the shapes say.
pub fn sparse_gemm_tn(
    parts: &[(&SparseColumns, &[f32])],
    ldb: usize,
    rows: Range<usize>,
    n: usize,
    skip_empty: bool,
    emit: &mut dyn FnMut(usize, &[f32]),
) {
    let level = Level::current();
    sparse_gemm_tn_at(level, parts, ldb, rows, n, fuses(level), skip_empty, &mut TnOut::Emit(emit));
}

/// Plain SGD on the rows of a weight matrix W, applied by [`sparse_gemm_tn_sgd`] to each row as
/// it is formed: row p of W (`n` values from `w + p·ldw`) becomes W − lr·G for G the product's
/// row p, each weight by one multiplication and one subtraction, each rounded: the bits of
/// [`crate::optim::plain_sgd`] on the gradient. The rows left out (no entry in any part: G is
/// +0) keep their values, which is what the update gives them, lr being finite and positive.
#[derive(Clone, Copy, Debug)]
pub struct SgdRows {
    w: *mut f32,
    ldw: usize,
    lr: f32,
}

impl SgdRows {
    /// The rows of W at `w`, `ldw` values apart, updated with learning rate `lr`.
    ///
    /// # Safety
    /// For every row p of the range given to [`sparse_gemm_tn_sgd`] and every column j < its
    /// `n`, `w.add(p·ldw + j)` must be valid for reads and writes, and no other thread may read or
    /// write those elements during that call.
    ///
    /// # Panics
    /// Unless `lr` is finite and positive (leaving out the empty rows needs it).
    pub unsafe fn new(w: *mut f32, ldw: usize, lr: f32) -> Self {
        assert!(lr.is_finite() && lr > 0.0, "SgdRows: learning rate {lr}, not finite and positive");
        SgdRows { w, ldw, lr }
    }

    /// Updates row p of W, columns j0..j0 + g.len(), by the gradient `g`; returns whether every
    /// updated weight is finite.
    ///
    /// # Safety
    /// Row p and those columns inside the block that [`SgdRows::new`]'s caller vouched for.
    #[inline(always)]
    unsafe fn apply(&self, p: usize, j0: usize, g: &[f32]) -> bool {
        // SAFETY: valid and used by this call alone (the caller, and `new`'s contract).
        let w = unsafe { std::slice::from_raw_parts_mut(self.w.add(p * self.ldw + j0), g.len()) };
        let mut finite = true;
        for (w, &g) in w.iter_mut().zip(g) {
            *w -= self.lr * g;
            finite &= w.is_finite();
        }
        finite
    }
}

/// [`sparse_gemm_tn`] with plain SGD applied to each row as it is formed, in registers, instead
/// of the row being handed out: the bits of `sparse_gemm_tn` with `skip_empty` followed by
/// [`crate::optim::plain_sgd`] on each row it emits, without a call per row. Returns whether
/// every weight updated is finite.
///
/// # Panics
/// If a slice is shorter than the shapes say.
pub fn sparse_gemm_tn_sgd(
    parts: &[(&SparseColumns, &[f32])],
    ldb: usize,
    rows: Range<usize>,
    n: usize,
    sgd: &SgdRows,
) -> bool {
    let level = Level::current();
    sparse_gemm_tn_at(level, parts, ldb, rows, n, fuses(level), true, &mut TnOut::Sgd(*sgd))
}

/// Where [`sparse_gemm_tn_at`]'s rows go.
pub enum TnOut<'e> {
    /// To a function, with their index.
    Emit(&'e mut dyn FnMut(usize, &[f32])),
    /// Into plain SGD's update of a weight matrix's rows.
    Sgd(SgdRows),
}

multiversion! {
    /// [`sparse_gemm_tn`] compiled for `level`, its rows handed to `out`; `fused` as in
    /// [`sparse_gemm_at`]. Returns whether every weight `out` updated is finite.
    pub fn sparse_gemm_tn_at(
        parts: &[(&SparseColumns, &[f32])],
        ldb: usize,
        rows: Range<usize>,
        n: usize,
        fused: bool,
        skip_empty: bool,
        out: &mut TnOut,
    ) -> bool {
        // The row handed out: on the stack up to two blocks wide (the column step's blocks), so
        // that the column step's twelve calls a step allocate nothing.
        let (mut stack, mut heap) = ([0.0f32; 2 * BLOCK], Vec::new());
        let row: &mut [f32] = if n <= 2 * BLOCK {
            &mut stack[..n]
        } else {
            heap.resize(n, 0.0);
            &mut heap
        };
        let mut finite = true;
        for p in rows {
            if skip_empty && parts.iter().all(|(a, _)| a.col(p).is_empty()) {
                continue;
            }
            for j0 in (0..n).step_by(BLOCK) {
                let w = (n - j0).min(BLOCK);
                if w == BLOCK {
                    // A whole block: its accumulators never indexed at run time, so that they
                    // stay in registers.
                    let mut acc = [0.0f32; BLOCK];
                    for &(a, b) in parts {
                        acc = if fused {
                            add_rows::<true>(acc, a.col(p), b, ldb, j0)
                        } else {
                            add_rows::<false>(acc, a.col(p), b, ldb, j0)
                        };
                    }
                    match out {
                        TnOut::Emit(_) => row[j0..j0 + BLOCK].copy_from_slice(&acc),
                        // SAFETY: row p of the range, columns below n (the contract of
                        // `SgdRows::new`, which `sparse_gemm_tn_sgd`'s caller has met).
                        TnOut::Sgd(sgd) => finite &= unsafe { sgd.apply(p, j0, &acc) },
                    }
                } else {
                    let acc = &mut row[j0..j0 + w];
                    acc.fill(0.0);
                    for &(a, b) in parts {
                        for &Entry { row: s, val: x } in a.col(p) {
                            let at = s as usize * ldb + j0;
                            for (o, &y) in acc.iter_mut().zip(&b[at..at + w]) {
                                *o = if fused { x.mul_add(y, *o) } else { *o + x * y };
                            }
                        }
                    }
                    if let TnOut::Sgd(sgd) = out {
                        // SAFETY: as above.
                        finite &= unsafe { sgd.apply(p, j0, acc) };
                    }
                }
            }
            if let TnOut::Emit(emit) = out {
                emit(p, row);
            }
        }
        finite
    }
}

/// acc + Σ x·B(s, j0..j0 + BLOCK) over the entries (s, x), in order; fused or not.
#[inline(always)]
fn add_rows<const FUSED: bool>(
    mut acc: [f32; BLOCK],
    entries: &[Entry],
    b: &[f32],
    ldb: usize,
    j0: usize,
) -> [f32; BLOCK] {
    for &Entry { row: s, val: x } in entries {
        let at = s as usize * ldb + j0;
        let y = &b[at..at + BLOCK];
        for (o, &y) in acc.iter_mut().zip(y) {
            *o = if FUSED { x.mul_add(y, *o) } else { *o + x * y };
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::{small_gemm_at, Start};
    use crate::rng::Rng;

    /// An MNIST-like operand: about four values in five zero (some −0), the rest in (0, 1].
    fn sparse_matrix(m: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
        (0..m * k)
            .map(|_| match rng.below(10) {
                0..=6 => 0.0,
                7 => -0.0,
                _ => rng.uniform_f32() + 0.01,
            })
            .collect()
    }

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect()
    }

    #[test]
    fn sparse_products_give_the_dense_products_bits_at_every_level() {
        let mut rng = Rng::from_seed(21);
        for (m, n, k, ldb) in [(32, 64, 784, 128), (5, 37, 50, 40), (1, 1, 1, 1), (3, 70, 9, 70), (0, 8, 8, 8)] {
            let a = sparse_matrix(m, k, &mut rng);
            let b = random(k * ldb, &mut rng);
            let bias = random(n, &mut rng);
            let mut rows = SparseColumns::default();
            rows.set(&a, k);
            assert_eq!((rows.rows(), rows.width()), (m, k));
            assert_eq!(rows.nonzeros(), a.iter().filter(|&&x| x != 0.0).count());
            let b_block: Vec<f32> = (0..k).flat_map(|p| b[p * ldb..p * ldb + n].to_vec()).collect();
            let dy = random(m * n, &mut rng);
            let h = m / 2;
            let (mut first, mut second) = (SparseColumns::default(), SparseColumns::default());
            first.set(&a[..h * k], k);
            second.set(&a[h * k..], k);
            // Weights to update, rows ldw > n apart, one of them NaN in the last case.
            let ldw = n + 3;
            let w0 = random(k * ldw, &mut rng);
            for level in Level::supported() {
                let fused = fuses(level);
                // Forward: bias + A·B, B a block of columns (row stride ldb), A as one part or
                // as two stacked.
                for parts in [vec![&rows], vec![&first, &second]] {
                    let mut dense = vec![0.0; m * n];
                    small_gemm_at(level, &mut dense, Start::Bias(&bias), &a, false, &b_block, m, n, k);
                    let mut sparse = vec![7.0; m * n];
                    sparse_gemm_at(level, &mut sparse, n, Some(&bias), &parts, &b, ldb, n, fused);
                    let same = dense.iter().zip(&sparse).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{level}: {m}x{n}x{k}, {} parts", parts.len());
                    let mut dense = vec![0.0; m * n];
                    small_gemm_at(level, &mut dense, Start::Zero, &a, false, &b_block, m, n, k);
                    sparse_gemm_at(level, &mut sparse, n, None, &parts, &b, ldb, n, fused);
                    assert!(dense.iter().zip(&sparse).all(|(x, y)| x.to_bits() == y.to_bits()), "{level}: no bias");
                }
                // Weight gradient: Aᵀ·dY over the rows in order, as one part or two.
                let mut dense = vec![0.0; k * n];
                small_gemm_at(level, &mut dense, Start::Zero, &a, true, &dy, k, n, m);
                for parts in [vec![(&rows, &dy[..])], vec![(&first, &dy[..]), (&second, &dy[h * n..])]] {
                    // The rows `range` handed to `emit`, empty ones left out with `skip`.
                    let emit_rows = |range: Range<usize>, skip: bool, emit: &mut dyn FnMut(usize, &[f32])| {
                        sparse_gemm_tn_at(level, &parts, n, range, n, fused, skip, &mut TnOut::Emit(emit))
                    };
                    let mut sparse = vec![7.0; k * n];
                    let mut seen = 0;
                    emit_rows(0..k, false, &mut |p, row| {
                        assert_eq!(p, seen);
                        seen += 1;
                        sparse[p * n..(p + 1) * n].copy_from_slice(row);
                    });
                    assert_eq!(seen, k);
                    assert!(dense.iter().zip(&sparse).all(|(x, y)| x.to_bits() == y.to_bits()), "{level}: Aᵀ·dY");
                    // Skipping the empty rows: the others in order with the same bits, and the
                    // skipped ones those of A's columns without a nonzero, all +0 in the product.
                    let mut emitted = Vec::new();
                    emit_rows(0..k, true, &mut |p, row| {
                        assert!(row.iter().zip(&dense[p * n..]).all(|(x, y)| x.to_bits() == y.to_bits()));
                        emitted.push(p);
                    });
                    // A range of the rows: those rows alone, in order, with the same bits.
                    let (lo, hi) = (k / 3, k - k / 4);
                    let mut ranged = Vec::new();
                    emit_rows(lo..hi, false, &mut |p, row| {
                        assert!(row.iter().zip(&dense[p * n..]).all(|(x, y)| x.to_bits() == y.to_bits()));
                        ranged.push(p);
                    });
                    assert_eq!(ranged, (lo..hi).collect::<Vec<_>>(), "{level}: rows of a range");
                    let nonempty: Vec<usize> = (0..k).filter(|&p| (0..m).any(|i| a[i * k + p] != 0.0)).collect();
                    assert_eq!(emitted, nonempty, "{level}: rows emitted");
                    // Plain SGD inside the product: the bits of `plain_sgd` on each row emitted,
                    // the other rows and the columns past n untouched; a NaN weight reported.
                    for poisoned in [None, nonempty.first().copied()] {
                        let mut want = w0.clone();
                        if let Some(p) = poisoned {
                            want[p * ldw] = f32::NAN;
                        }
                        let mut got = want.clone();
                        let mut finite = true;
                        emit_rows(0..k, true, &mut |p, row| {
                            finite &= crate::optim::plain_sgd(&mut want[p * ldw..p * ldw + n], row, 0.3);
                        });
                        // SAFETY: rows < k of `got`, columns < n ≤ ldw: inside it, used by nothing else.
                        let sgd = unsafe { SgdRows::new(got.as_mut_ptr(), ldw, 0.3) };
                        let ok = sparse_gemm_tn_at(level, &parts, n, 0..k, n, fused, true, &mut TnOut::Sgd(sgd));
                        assert_eq!((ok, finite), (poisoned.is_none(), poisoned.is_none()), "{level}: finite");
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&want), "{level}: SGD in the product, {} parts", parts.len());
                    }
                    for p in (0..k).filter(|p| !nonempty.contains(p)) {
                        assert!(dense[p * n..(p + 1) * n].iter().all(|g| g.to_bits() == 0), "{level}: row {p} is +0");
                    }
                }
                for j in 0..k {
                    let want: Vec<Entry> = (0..m)
                        .filter(|&i| a[i * k + j] != 0.0)
                        .map(|i| Entry { row: i as u32, val: a[i * k + j] })
                        .collect();
                    assert_eq!(rows.col(j), want, "column {j}");
                }
            }
        }
    }

    #[test]
    fn lists_from_bytes_are_the_lists_of_the_converted_images() {
        let mut rng = Rng::from_seed(5);
        // Widths below, at and past a group of 32 values, and MNIST's.
        for width in [1, 31, 32, 45, 784] {
            let images: Vec<u8> =
                (0..9 * width).map(|_| if rng.below(4) == 0 { rng.below(256) as u8 } else { 0 }).collect();
            // Picks out of order and repeated: a few, 32 (the most listed by transposing), 33.
            for count in [5, 32, 33, 0] {
                let picks: Vec<usize> = (0..count).map(|k| (k * 7 + 3) % 9).collect();
                let mut x = vec![0.0; picks.len() * width];
                for (row, &i) in x.chunks_exact_mut(width).zip(&picks) {
                    crate::kernels::elementwise::bytes_to_unit(row, &images[i * width..(i + 1) * width]);
                }
                let mut want = SparseColumns::default();
                want.set(&x, width);
                let check = |got: &SparseColumns, what: &str| {
                    assert_eq!((got.rows(), got.width(), got.nonzeros()), (count, width, want.nonzeros()), "{what}");
                    for j in 0..width {
                        let bits = |c: &[Entry]| c.iter().map(|e| (e.row, e.val.to_bits())).collect::<Vec<_>>();
                        assert_eq!(bits(got.col(j)), bits(want.col(j)), "{what}: width {width}, column {j}");
                    }
                };
                // Into lists that held others before.
                let mut got = SparseColumns::default();
                got.set(&vec![1.0; 3 * 50], 50);
                got.set_bytes(&images, &picks, width);
                check(&got, &format!("{count} picks"));
                for level in Level::supported() {
                    set_bytes_at(level, &mut got, &images, &picks, width);
                    check(&got, &format!("{level}, {count} picks"));
                }
            }
        }
    }
}
