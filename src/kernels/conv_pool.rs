//! Convolution fused with the max pooling after it, for a first layer with a small kernel.
//!
//! The article's first layer (3×3 kernels on one channel, K = 9) is a poor GEMM: the
//! im2col matrix is 9 columns wide, and the 26×26×32 output is written, re-read by the
//! activation, the pooling and their backward passes. Here each pooling window's four
//! convolution outputs are computed, reduced to their maximum and argmax on the spot, and
//! only the pooled pre-activations (a quarter of the values) are stored. In the backward pass
//! only the argmax positions receive gradient, so the kernel gradient is gathered from the
//! saved argmax without ever forming the full-size tensor. The input gradient is not computed
//! (this is for the first layer). The tests compare it with im2col + GEMM + max pooling.

use super::im2col::{patch, ConvGeometry};
use super::lanes::{max_and_position, whole, Lanes, LANES};
use super::simd::{multiversion, Level};

/// Scratch floats per call: one patch per pooling-window position plus one accumulator row.
pub fn scratch_len(conv: &ConvGeometry, oc: usize, pool: &ConvGeometry) -> usize {
    pool.kh * pool.kw * conv.patch_len() + oc
}

/// pooled: (n, PH, PW, OC) ← max over each pool window of conv(x; w, b); arg: the window
/// position (ky·PW + kx) of each maximum, first one on ties, as f32. x: (n, H, W, C),
/// w: (K, OC) with K = KH·KW·C, b: (OC) or empty. `pool` has strides equal to its size.
///
/// Runs with the instruction set of [`Level::current`]; [`forward_at`] takes the level.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    pooled: &mut [f32],
    arg: &mut [f32],
    scratch: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    forward_at(Level::current(), pooled, arg, scratch, x, w, b, n, conv, oc, pool)
}

multiversion! {
    /// [`forward`] compiled for `level`.
    pub fn forward_at(
        pooled: &mut [f32],
        arg: &mut [f32],
        scratch: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: &[f32],
        n: usize,
        conv: &ConvGeometry,
        oc: usize,
        pool: &ConvGeometry,
    ) {
        if one_channel_3x3(conv, oc, pool) {
            return forward_one_channel_3x3(pooled, arg, x, w, b, n, conv, oc, pool);
        }
        forward_general(pooled, arg, scratch, x, w, b, n, conv, oc, pool)
    }
}

/// [`forward`] for any geometry.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_general(
    pooled: &mut [f32],
    arg: &mut [f32],
    scratch: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    let k = conv.patch_len();
    let (p, acc) = scratch.split_at_mut(k);
    let acc = &mut acc[..oc];
    let in_len = conv.h * conv.w * conv.c;
    for bi in 0..n {
        let xb = &x[bi * in_len..(bi + 1) * in_len];
        for py in 0..pool.oh {
            for px in 0..pool.ow {
                let o = ((bi * pool.oh + py) * pool.ow + px) * oc;
                let (y, a) = (&mut pooled[o..o + oc], &mut arg[o..o + oc]);
                if let Some(at) = window4(conv, pool, py, px).filter(|_| oc.is_multiple_of(16)) {
                    window4_direct(y, a, xb, conv, at, w, b);
                    continue;
                }
                for ky in 0..pool.kh {
                    for kx in 0..pool.kw {
                        let (cy, cx) = (py * pool.sh + ky, px * pool.sw + kx);
                        patch(p, xb, conv, cy, cx);
                        dot_rows(acc, p, w, b);
                        let pos = (ky * pool.kw + kx) as f32;
                        if pos == 0.0 {
                            y.copy_from_slice(acc);
                            a.fill(0.0);
                        } else {
                            for ((y, a), &v) in y.iter_mut().zip(a.iter_mut()).zip(acc.iter()) {
                                let more = v > *y;
                                *y = if more { v } else { *y };
                                *a = if more { pos } else { *a };
                            }
                        }
                    }
                }
            }
        }
    }
}

/// acc (OC) = b + p (K) · w (K, OC). Sixteen outputs at a time are summed in a fixed-size
/// array, which the compiler keeps in one vector register across the whole K loop.
#[inline(always)]
fn dot_rows(acc: &mut [f32], p: &[f32], w: &[f32], b: &[f32]) {
    const L: usize = 16;
    let oc = acc.len();
    let mut j = 0;
    while j + L <= oc {
        let mut r = [0.0f32; L];
        if !b.is_empty() {
            r.copy_from_slice(&b[j..j + L]);
        }
        for (k, &xv) in p.iter().enumerate() {
            let wk = &w[k * oc + j..k * oc + j + L];
            for (s, &wv) in r.iter_mut().zip(wk) {
                *s = xv.mul_add(wv, *s);
            }
        }
        acc[j..j + L].copy_from_slice(&r);
        j += L;
    }
    for (jj, s) in acc.iter_mut().enumerate().skip(j) {
        let mut v = b.get(jj).copied().unwrap_or(0.0);
        for (k, &xv) in p.iter().enumerate() {
            v = xv.mul_add(w[k * oc + jj], v);
        }
        *s = v;
    }
}

/// For a 2×2 pooling window whose four convolution outputs all have their receptive fields
/// inside the input: the fields' top-left input pixels, in window order (ky·2 + kx).
#[inline(always)]
fn window4(conv: &ConvGeometry, pool: &ConvGeometry, py: usize, px: usize) -> Option<[(usize, usize); 4]> {
    if (pool.kh, pool.kw) != (2, 2) {
        return None;
    }
    let (cy, cx) = (py * pool.sh, px * pool.sw);
    Some([conv.inside(cy, cx)?, conv.inside(cy, cx + 1)?, conv.inside(cy + 1, cx)?, conv.inside(cy + 1, cx + 1)?])
}

/// The four convolution outputs of a 2×2 pooling window at once, reduced to their maximum
/// and its first position. Four accumulators per 16 channels are independent FMA chains, so
/// the FMA latency is hidden (one chain per output pixel would wait on it). OC must be a
/// multiple of 16; the patches are read in place (KH runs of KW·C values each).
#[inline(always)]
fn window4_direct(
    y: &mut [f32],
    a: &mut [f32],
    xb: &[f32],
    g: &ConvGeometry,
    at: [(usize, usize); 4],
    w: &[f32],
    b: &[f32],
) {
    const L: usize = LANES;
    let (oc, run) = (y.len(), g.kw * g.c);
    for j in (0..oc).step_by(L) {
        let mut r = [[0.0f32; L]; 4];
        if !b.is_empty() {
            for rq in &mut r {
                rq.copy_from_slice(&b[j..j + L]);
            }
        }
        for ky in 0..g.kh {
            let base = at.map(|(iy, ix)| ((iy + ky) * g.w + ix) * g.c);
            for kk in 0..run {
                let wk = &w[(ky * run + kk) * oc + j..(ky * run + kk) * oc + j + L];
                for (rq, &bq) in r.iter_mut().zip(&base) {
                    let xv = xb[bq + kk];
                    for (s, &wv) in rq.iter_mut().zip(wk) {
                        *s = xv.mul_add(wv, *s);
                    }
                }
            }
        }
        let (best, pos) = max_and_position(&r);
        y[j..j + L].copy_from_slice(&best);
        a[j..j + L].copy_from_slice(&pos);
    }
}

/// dw (K', OC) += x (K')ᵀ · m (OC), vectorised over OC.
#[inline(always)]
fn outer_add(dw: &mut [f32], x: &[f32], m: &[f32]) {
    for (&xv, dwk) in x.iter().zip(dw.chunks_exact_mut(m.len())) {
        for (g, &mv) in dwk.iter_mut().zip(m) {
            *g = xv.mul_add(mv, *g);
        }
    }
}

/// dw (K, OC) and db (OC) ← dpooled (n, PH, PW, OC), the gradient at the pooled outputs,
/// routed to each window's saved argmax. Overwrites dw and db.
///
/// Runs with the instruction set of [`Level::current`]; [`backward_params_at`] takes the level.
#[allow(clippy::too_many_arguments)]
pub fn backward_params(
    dw: &mut [f32],
    db: &mut [f32],
    scratch: &mut [f32],
    dpooled: &[f32],
    arg: &[f32],
    x: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    backward_params_at(Level::current(), dw, db, scratch, dpooled, arg, x, n, conv, oc, pool)
}

multiversion! {
    /// [`backward_params`] compiled for `level`.
    pub fn backward_params_at(
        dw: &mut [f32],
        db: &mut [f32],
        scratch: &mut [f32],
        dpooled: &[f32],
        arg: &[f32],
        x: &[f32],
        n: usize,
        conv: &ConvGeometry,
        oc: usize,
        pool: &ConvGeometry,
    ) {
        if one_channel_3x3(conv, oc, pool) {
            return backward_one_channel_3x3(dw, db, dpooled, arg, x, n, conv, oc, pool);
        }
        backward_general(dw, db, scratch, dpooled, arg, x, n, conv, oc, pool)
    }
}

/// [`backward_params`] for any geometry.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_general(
    dw: &mut [f32],
    db: &mut [f32],
    scratch: &mut [f32],
    dpooled: &[f32],
    arg: &[f32],
    x: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    let k = conv.patch_len();
    let (p, masked) = scratch.split_at_mut(k);
    let masked = &mut masked[..oc];
    dw[..k * oc].fill(0.0);
    db.fill(0.0);
    let in_len = conv.h * conv.w * conv.c;
    for bi in 0..n {
        let xb = &x[bi * in_len..(bi + 1) * in_len];
        for py in 0..pool.oh {
            for px in 0..pool.ow {
                let o = ((bi * pool.oh + py) * pool.ow + px) * oc;
                let (dy, a) = (&dpooled[o..o + oc], &arg[o..o + oc]);
                for (g, &d) in db.iter_mut().zip(dy) {
                    *g += d;
                }
                for ky in 0..pool.kh {
                    for kx in 0..pool.kw {
                        let pos = (ky * pool.kw + kx) as f32;
                        // The gradient of the channels whose maximum sits at this position.
                        let mut any = false;
                        for ((m, &d), &ai) in masked.iter_mut().zip(dy).zip(a) {
                            *m = if ai == pos { d } else { 0.0 };
                            any |= ai == pos;
                        }
                        if !any {
                            continue;
                        }
                        let (cy, cx) = (py * pool.sh + ky, px * pool.sw + kx);
                        // dw (K, OC) += patchᵀ · masked, vectorised over OC; the patch is read
                        // in place when it lies inside the input.
                        let run = conv.kw * conv.c;
                        match conv.inside(cy, cx) {
                            Some((iy, ix)) => {
                                for (ky, dwr) in dw[..k * oc].chunks_exact_mut(run * oc).enumerate() {
                                    let s = ((iy + ky) * conv.w + ix) * conv.c;
                                    outer_add(dwr, &xb[s..s + run], masked);
                                }
                            }
                            None => {
                                patch(p, xb, conv, cy, cx);
                                outer_add(&mut dw[..k * oc], p, masked);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether the specialised kernels below apply: one input channel, a 3×3 kernel with stride 1
/// and no padding, a 2×2 pool with stride 2, and OC a multiple of 16 (the article's first layer).
#[inline(always)]
fn one_channel_3x3(conv: &ConvGeometry, oc: usize, pool: &ConvGeometry) -> bool {
    (conv.c, conv.kh, conv.kw, conv.sh, conv.sw, conv.pad_top, conv.pad_left) == (1, 3, 3, 1, 1, 0, 0)
        && (pool.kh, pool.kw, pool.sh, pool.sw) == (2, 2, 2, 2)
        && oc.is_multiple_of(LANES)
}

/// The 4×4 input values under a 2×2 pooling window of 3×3 convolutions: `p[r][s]`, from the
/// window's top-left input pixel (2·py, 2·px). One channel.
#[inline(always)]
fn window_inputs(xb: &[f32], w: usize, py: usize, px: usize) -> [[f32; 4]; 4] {
    let top = 2 * py * w + 2 * px;
    std::array::from_fn(|r| {
        let mut row = [0.0; 4];
        row.copy_from_slice(&xb[top + r * w..][..4]);
        row
    })
}

/// [`forward`] for [`one_channel_3x3`]: for each block of 16 channels, the nine kernel vectors
/// and the bias stay in registers across every window of the batch, and each window's four
/// outputs are four independent FMA chains over its 4×4 inputs. The sums run in the same order
/// (bias, then ky, kx) as the general path, so both give the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_one_channel_3x3(
    pooled: &mut [f32],
    arg: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    let in_len = conv.h * conv.w;
    for j in (0..oc).step_by(LANES) {
        let wv: [Lanes; 9] = std::array::from_fn(|k| whole(&w[k * oc + j..]));
        let bv = if b.is_empty() { [0.0; LANES] } else { whole(&b[j..]) };
        for bi in 0..n {
            let xb = &x[bi * in_len..][..in_len];
            for py in 0..pool.oh {
                for px in 0..pool.ow {
                    let p = window_inputs(xb, conv.w, py, px);
                    let mut acc = [bv; 4];
                    for (k, wk) in wv.iter().enumerate() {
                        let (ky, kx) = (k / 3, k % 3);
                        for (q, aq) in acc.iter_mut().enumerate() {
                            let xv = p[q / 2 + ky][q % 2 + kx];
                            for (s, &wl) in aq.iter_mut().zip(wk) {
                                *s = xv.mul_add(wl, *s);
                            }
                        }
                    }
                    let (best, pos) = max_and_position(&acc);
                    let o = ((bi * pool.oh + py) * pool.ow + px) * oc + j;
                    pooled[o..][..LANES].copy_from_slice(&best);
                    arg[o..][..LANES].copy_from_slice(&pos);
                }
            }
        }
    }
}

/// [`backward_params`] for [`one_channel_3x3`]: for each block of 16 channels, the nine kernel
/// gradient vectors and the bias gradient are summed in registers over every window of the
/// batch, each window adding its gradient at the argmax position times the inputs there. The
/// order of the sums is the general path's, so both give the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_one_channel_3x3(
    dw: &mut [f32],
    db: &mut [f32],
    dpooled: &[f32],
    arg: &[f32],
    x: &[f32],
    n: usize,
    conv: &ConvGeometry,
    oc: usize,
    pool: &ConvGeometry,
) {
    let in_len = conv.h * conv.w;
    for j in (0..oc).step_by(LANES) {
        let mut acc = [[0.0f32; LANES]; 9];
        let mut bacc = [0.0f32; LANES];
        for bi in 0..n {
            let xb = &x[bi * in_len..][..in_len];
            for py in 0..pool.oh {
                for px in 0..pool.ow {
                    let o = ((bi * pool.oh + py) * pool.ow + px) * oc + j;
                    let dy = whole(&dpooled[o..]);
                    let a = whole(&arg[o..]);
                    for (g, d) in bacc.iter_mut().zip(dy) {
                        *g += d;
                    }
                    let p = window_inputs(xb, conv.w, py, px);
                    for q in 0..4 {
                        let m: [f32; LANES] = std::array::from_fn(|l| if a[l] == q as f32 { dy[l] } else { 0.0 });
                        for (k, gk) in acc.iter_mut().enumerate() {
                            let xv = p[q / 2 + k / 3][q % 2 + k % 3];
                            for (g, &ml) in gk.iter_mut().zip(&m) {
                                *g = xv.mul_add(ml, *g);
                            }
                        }
                    }
                }
            }
        }
        for (k, gk) in acc.iter().enumerate() {
            dw[k * oc + j..][..LANES].copy_from_slice(gk);
        }
        if !db.is_empty() {
            db[j..][..LANES].copy_from_slice(&bacc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{im2col, sgemm};
    use crate::rng::Rng;

    /// im2col + GEMM + bias, then max pooling with first-maximum argmax: the reference.
    fn reference(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        n: usize,
        conv: &ConvGeometry,
        oc: usize,
        pool: &ConvGeometry,
    ) -> (Vec<f32>, Vec<f32>) {
        let m = n * conv.out_pixels();
        let mut col = vec![0.0; m * conv.patch_len()];
        im2col(&mut col, x, n, conv);
        let mut out = vec![0.0; m * oc];
        sgemm(&mut out, false, &col, false, w, false, m, oc, conv.patch_len());
        for row in out.chunks_exact_mut(oc) {
            for (y, b) in row.iter_mut().zip(b) {
                *y += b;
            }
        }
        let mut pooled = vec![0.0; n * pool.out_pixels() * oc];
        let mut arg = vec![0.0; pooled.len()];
        for bi in 0..n {
            for py in 0..pool.oh {
                for px in 0..pool.ow {
                    for c in 0..oc {
                        let mut best = (f32::NEG_INFINITY, 0.0);
                        for ky in 0..pool.kh {
                            for kx in 0..pool.kw {
                                let (cy, cx) = (py * pool.sh + ky, px * pool.sw + kx);
                                let v = out[((bi * conv.oh + cy) * conv.ow + cx) * oc + c];
                                if v > best.0 {
                                    best = (v, (ky * pool.kw + kx) as f32);
                                }
                            }
                        }
                        let o = ((bi * pool.oh + py) * pool.ow + px) * oc + c;
                        (pooled[o], arg[o]) = best;
                    }
                }
            }
        }
        (pooled, arg)
    }

    #[test]
    fn matches_im2col_gemm_and_pooling() {
        let mut rng = Rng::from_seed(21);
        for (h, w_, c, k, oc) in
            [(28usize, 28usize, 1usize, 3usize, 32usize), (8, 8, 2, 3, 16), (9, 7, 2, 3, 5), (6, 6, 1, 2, 3)]
        {
            let conv = ConvGeometry::valid(h, w_, c, k, k, 1, 1).unwrap();
            let pool = ConvGeometry::valid(conv.oh, conv.ow, oc, 2, 2, 2, 2).unwrap();
            let n = 3;
            let x: Vec<f32> = (0..n * h * w_ * c).map(|_| rng.uniform_f32()).collect();
            let w: Vec<f32> = (0..conv.patch_len() * oc).map(|_| rng.uniform_f32() - 0.5).collect();
            let b: Vec<f32> = (0..oc).map(|_| rng.uniform_f32() - 0.5).collect();
            let (want, want_arg) = reference(&x, &w, &b, n, &conv, oc, &pool);
            let r: Vec<f32> = (0..want.len()).map(|_| rng.uniform_f32() - 0.5).collect();
            let mut first = None;
            for level in Level::supported() {
                let mut got = vec![0.0; want.len()];
                let mut arg = vec![0.0; want.len()];
                let mut scratch = vec![0.0; scratch_len(&conv, oc, &pool)];
                forward_at(level, &mut got, &mut arg, &mut scratch, &x, &w, &b, n, &conv, oc, &pool);
                let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-5, "largest difference {worst} at {level}");
                // Argmax agrees wherever the top two candidates are not within rounding.
                let agree = arg.iter().zip(&want_arg).filter(|(a, b)| a == b).count();
                assert!(agree as f64 >= 0.999 * arg.len() as f64, "{agree} of {}", arg.len());

                // Backward: against the gradient of Σ pooled·r through the unfused path, i.e. r
                // scattered to the argmax positions, then colᵀ · d.
                let mut dconv = vec![0.0; n * conv.out_pixels() * oc];
                for bi in 0..n {
                    for py in 0..pool.oh {
                        for px in 0..pool.ow {
                            for ch in 0..oc {
                                let o = ((bi * pool.oh + py) * pool.ow + px) * oc + ch;
                                let pos = arg[o] as usize;
                                let (cy, cx) = (py * 2 + pos / 2, px * 2 + pos % 2);
                                dconv[((bi * conv.oh + cy) * conv.ow + cx) * oc + ch] += r[o];
                            }
                        }
                    }
                }
                let m = n * conv.out_pixels();
                let mut col = vec![0.0; m * conv.patch_len()];
                im2col(&mut col, &x, n, &conv);
                let mut want_dw = vec![0.0; conv.patch_len() * oc];
                sgemm(&mut want_dw, false, &col, true, &dconv, false, conv.patch_len(), oc, m);
                let mut dw = vec![f32::NAN; want_dw.len()];
                let mut db = vec![f32::NAN; oc];
                backward_params_at(level, &mut dw, &mut db, &mut scratch, &r, &arg, &x, n, &conv, oc, &pool);
                let worst = dw.iter().zip(&want_dw).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-4, "largest dw difference {worst} at {level}");
                for (c, g) in db.iter().enumerate() {
                    let s: f32 = r.iter().skip(c).step_by(oc).sum();
                    assert!((g - s).abs() < 1e-4);
                }
                // Every level computes the same operations in the same order: the same bits.
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let this = [bits(&got), bits(&arg), bits(&dw), bits(&db)];
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
    fn one_channel_kernels_give_the_general_paths_bits() {
        let mut rng = Rng::from_seed(23);
        let conv = ConvGeometry::valid(12, 9, 1, 3, 3, 1, 1).unwrap();
        let (oc, n) = (32, 3);
        let pool = ConvGeometry::valid(conv.oh, conv.ow, oc, 2, 2, 2, 2).unwrap();
        assert!(one_channel_3x3(&conv, oc, &pool));
        let x: Vec<f32> = (0..n * 12 * 9).map(|_| rng.uniform_f32()).collect();
        let w: Vec<f32> = (0..9 * oc).map(|_| rng.uniform_f32() - 0.5).collect();
        let b: Vec<f32> = (0..oc).map(|_| rng.uniform_f32() - 0.5).collect();
        let len = n * pool.out_pixels() * oc;
        let mut scratch = vec![0.0; scratch_len(&conv, oc, &pool)];
        let (mut y1, mut a1, mut y2, mut a2) = (vec![0.0; len], vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        forward_one_channel_3x3(&mut y1, &mut a1, &x, &w, &b, n, &conv, oc, &pool);
        forward_general(&mut y2, &mut a2, &mut scratch, &x, &w, &b, n, &conv, oc, &pool);
        assert!(y1.iter().zip(&y2).all(|(p, q)| p.to_bits() == q.to_bits()) && a1 == a2);
        let r: Vec<f32> = (0..len).map(|_| rng.uniform_f32() - 0.5).collect();
        let (mut dw1, mut db1, mut dw2, mut db2) = (vec![0.0; 9 * oc], vec![0.0; oc], vec![0.0; 9 * oc], vec![0.0; oc]);
        backward_one_channel_3x3(&mut dw1, &mut db1, &r, &a1, &x, n, &conv, oc, &pool);
        backward_general(&mut dw2, &mut db2, &mut scratch, &r, &a1, &x, n, &conv, oc, &pool);
        assert!(dw1.iter().zip(&dw2).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert!(db1.iter().zip(&db2).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
