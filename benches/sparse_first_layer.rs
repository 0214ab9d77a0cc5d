//! The first layer of the ELU paper's fully connected network (784 → 128) on MNIST batches, as
//! one thread of the two-thread column step runs it: 64 random training images in two halves
//! of 32, one block of 64 of the 128 output columns. Times, per step and per nonzero pixel:
//! converting the images to floats, listing their nonzeros from the floats and straight from the
//! bytes, the forward product from the lists, and the weight gradient with plain SGD applied
//! row by row: by a function given each row, and inside the product (`sparse_gemm_tn_sgd`).
//!
//!     cargo bench --bench sparse_first_layer [-- STEPS]
//!
//! Prints the times; nothing is asserted (tests assert behaviour, not time).

use std::time::Instant;

use elu_lab::data::bundled;
use elu_lab::kernels::simd::Level;
use elu_lab::kernels::sparse::{sparse_gemm, sparse_gemm_tn, sparse_gemm_tn_sgd, SgdRows, SparseColumns};
use elu_lab::rng::Rng;

const BATCH: usize = 64;
const UNITS: usize = 128;
const WIDTH: usize = 64;

fn main() -> elu_lab::Result<()> {
    let steps: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let mnist = bundled::load()?;
    let train = &mnist.train;
    let n_in = train.image_len();
    println!("level in force: {}", Level::current());
    let mut rng = Rng::from_seed(1);
    let mut w: Vec<f32> = (0..n_in * UNITS).map(|_| rng.uniform_f32() * 0.1 - 0.05).collect();
    let bias = vec![0.0f32; WIDTH];
    let dz: Vec<f32> = (0..BATCH * WIDTH).map(|_| rng.uniform_f32() * 1e-3).collect();
    let mut x = vec![0.0f32; BATCH * n_in];
    let mut y = vec![0u8; BATCH];
    let mut z = vec![0.0f32; BATCH * WIDTH];
    let mut halves = [SparseColumns::default(), SparseColumns::default()];
    // Seconds in all: converting, listing from floats, from bytes, forward, weight gradient
    // handed out row by row and updated, and with the update applied in the product.
    let mut t = [0.0f64; 6];
    let mut nonzeros = 0usize;
    let h = BATCH / 2;
    for _ in 0..steps {
        let idx: Vec<usize> = (0..BATCH).map(|_| rng.below(train.len())).collect();
        // The images come from memory the first time they are read (here, by the conversion),
        // as in training, where the trainer prefetches them a step ahead.
        let t0 = Instant::now();
        train.fill_batch(&idx, &mut x, &mut y);
        let t1 = Instant::now();
        halves[0].set(&x[..h * n_in], n_in);
        halves[1].set(&x[h * n_in..], n_in);
        let t2 = Instant::now();
        train.list_batch(&idx[..h], &mut halves[0], &mut y);
        train.list_batch(&idx[h..], &mut halves[1], &mut y);
        let t3 = Instant::now();
        sparse_gemm(&mut z, WIDTH, Some(&bias), &[&halves[0], &halves[1]], &w, UNITS, WIDTH);
        let t4 = Instant::now();
        let parts = [(&halves[0], &dz[..]), (&halves[1], &dz[h * WIDTH..])];
        sparse_gemm_tn(&parts, WIDTH, 0..n_in, WIDTH, true, &mut |r, row| {
            for (p, g) in w[r * UNITS..r * UNITS + WIDTH].iter_mut().zip(row) {
                *p -= 0.01 * g;
            }
        });
        let t5 = Instant::now();
        // SAFETY: rows < n_in of `w`, columns < WIDTH ≤ UNITS: inside `w`, used by nothing else.
        let sgd = unsafe { SgdRows::new(w.as_mut_ptr(), UNITS, 0.01) };
        assert!(sparse_gemm_tn_sgd(&parts, WIDTH, 0..n_in, WIDTH, &sgd));
        let t6 = Instant::now();
        for (acc, (a, b)) in t.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)]) {
            *acc += (b - a).as_secs_f64();
        }
        nonzeros += halves[0].nonzeros() + halves[1].nonzeros();
    }
    println!("{steps} steps of {BATCH} images, {:.0} nonzero pixels a step", nonzeros as f64 / steps as f64);
    let what = [
        "convert to floats",
        "list from floats",
        "list from bytes",
        "forward",
        "weight gradient + SGD",
        "the same, SGD fused",
    ];
    for (what, t) in what.iter().zip(t) {
        let (per_step, per_nz) = (t / steps as f64 * 1e6, t / nonzeros as f64 * 1e9);
        println!("{what:<22} {per_step:7.1} µs/step  {per_nz:5.2} ns/nonzero");
    }
    Ok(())
}
