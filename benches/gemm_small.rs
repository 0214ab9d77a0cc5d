//! The dense layers' matrix products at the sizes of the ELU paper's fully connected network
//! (batch slices of 64, 784 → 8 × 128 → 10): the `gemm` crate against `small_gemm`, in GFLOP/s.
//!
//!     cargo bench --bench gemm_small [-- REPEATS]
//!
//! Prints one line per shape and kernel; nothing is asserted (tests assert behaviour, not time).

use std::time::Instant;

use elu_lab::kernels::gemm::{sgemm, small_gemm, transpose, Start};
use elu_lab::kernels::simd::Level;

/// GFLOP/s of the fastest of many short batches of calls: on a busy machine, the batches that
/// ran undisturbed.
fn best_of<F: FnMut()>(repeats: usize, flop: f64, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..200 {
        let t = Instant::now();
        for _ in 0..repeats {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / repeats as f64);
    }
    flop / best / 1e9
}

fn main() {
    let repeats: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20);
    println!("level in force: {}", Level::current());
    // (what, m, n, k, A transposed, B transposed)
    let shapes = [
        ("hidden forward   x·W", 64, 128, 128, false, false),
        ("hidden dW        xᵀ·dy", 128, 128, 64, true, false),
        ("hidden dX        dy·Wᵀ", 64, 128, 128, false, true),
        ("input forward    x·W", 64, 128, 784, false, false),
        ("input dW         xᵀ·dy", 784, 128, 64, true, false),
        ("output forward   x·W", 64, 10, 128, false, false),
    ];
    for (what, m, n, k, ta, tb) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let mut bt = vec![0.0f32; k * n];
        let flop = 2.0 * (m * n * k) as f64;
        let crate_gf = best_of(repeats, flop, || sgemm(&mut c, false, &a, ta, &b, tb, m, n, k));
        let own_gf = best_of(repeats, flop, || {
            if tb {
                // B is stored (n, k): transposed into (k, n) first, as the dense layer does.
                transpose(&mut bt, &b, n, k);
                small_gemm(&mut c, Start::Zero, &a, ta, &bt, m, n, k);
            } else {
                small_gemm(&mut c, Start::Zero, &a, ta, &b, m, n, k);
            }
        });
        println!("{what}  {m:>4}x{n:>4}x{k:>4}  gemm crate {crate_gf:7.1} GFLOP/s  small_gemm {own_gf:7.1} GFLOP/s");
    }
}
