//! Row-major f32 matrix products on top of the `gemm` crate, behind a safe, checked interface.

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
