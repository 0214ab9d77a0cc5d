//! `elu-lab bench`: training and evaluation speed of a model, per layer, beside the GEMM peak.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use elu_lab::data::{self, Dataset};
use elu_lab::kernels::gemm::sgemm_parallel;
use elu_lab::kernels::simd::Level;
use elu_lab::model::{Engine, ModelSpec, Overrides, Sequential};
use elu_lab::optim::{Optimizer, OptimizerConfig};
use elu_lab::train::{evaluate, Batch};
use serde_json::json;

/// Arguments of `elu-lab bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub overrides: super::train::ModelOverrides,
    /// A preset's name (`elu-lab models` lists them) or a model file (TOML); default: article.
    #[arg(long, value_name = "NAME|FILE")]
    pub model: Option<PathBuf>,
    /// Samples per batch.
    #[arg(long, default_value_t = 250)]
    pub batch_size: usize,
    /// Timed training steps (after 3 warm-up steps).
    #[arg(long, default_value_t = 48)]
    pub steps: usize,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Size n of the n×n×n f32 GEMM that measures the machine's matrix-product peak (0 skips it).
    #[arg(long, default_value_t = 2048)]
    pub gemm_size: usize,
    /// Also write the figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Instead, seconds per epoch of the model with each of these activations (a comma list of
    /// names, or `all`), as a table: the same steps and test-set passes for each. Names: linear,
    /// relu, elu, leaky_relu, selu, prelu, srelu, celu, gelu, gelu_tanh, silu, mish, softplus,
    /// tanh, sigmoid.
    #[arg(long, value_name = "NAMES", conflicts_with_all = ["activation", "alpha", "negative_slope"])]
    pub activations: Option<String>,
    /// Instead, only the core-to-core round trip: two threads pass a flag back and forth, and
    /// the mean time of a return trip is printed in ns (what the two threads of a split or
    /// column step pay each time they meet; on a machine whose two CPUs are far apart it is
    /// several times longer).
    #[arg(long, conflicts_with = "activations")]
    pub round_trip: bool,
}

/// Peak resident memory of this process so far, in MB (Linux; None elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.round_trip {
        match round_trip_ns(ROUND_TRIPS) {
            Some(ns) => println!("{ns:.0}"),
            None => println!("n/a (one CPU)"),
        }
        return Ok(());
    }
    if args.batch_size == 0 || args.steps == 0 {
        return Err(elu_lab::Error::config("--batch-size/--steps", "must be at least 1").into());
    }
    let pool = super::thread_pool(args.threads)?;
    let threads = pool.current_num_threads();
    let mut spec = match &args.model {
        Some(p) => ModelSpec::from_name_or_file(p)?,
        None => ModelSpec::article(),
    };
    args.overrides.apply(&mut spec)?;
    let model = Sequential::from_spec(&spec)?;
    model.check_trainable(10)?;
    let mnist = data::bundled::load()?;
    let [h, w, c] = spec.input_shape;
    if (mnist.train.rows(), mnist.train.cols(), 1) != (h, w, c) {
        let (r, k) = (mnist.train.rows(), mnist.train.cols());
        let msg = format!("the bundled MNIST images are {r}x{k}x1 but the model's input_shape is {h}x{w}x{c}");
        return Err(elu_lab::Error::DataMismatch { msg }.into());
    }
    let train = mnist.train;
    let bs = args.batch_size;
    let n_train = train.len();
    if bs >= n_train {
        let msg = format!("must be smaller than the {n_train} training images the benchmark cycles through, got {bs}");
        return Err(elu_lab::Error::config("--batch-size", msg).into());
    }
    if let Some(list) = &args.activations {
        let acts = super::plot_activations::parse_list("--activations", list)?;
        let base = match &args.model {
            Some(p) => ModelSpec::from_name_or_file(p)?,
            None => ModelSpec::article(),
        };
        return per_activation(&args, &acts, &base, &pool, &train, &mnist.test);
    }
    // The engine is sized for the batch and the threads: check that they fit in memory first.
    model.check_memory(bs, threads)?;
    // FLOPs counted the direct way (the figure the references are compared by), and those the
    // engine actually performs (fewer: Winograd convolutions, skipped pooled-away outputs).
    let (fwd_macs, bwd_macs) = model.macs_per_sample();
    let train_flop = 2.0 * (fwd_macs + bwd_macs) as f64;
    let infer_flop = 2.0 * fwd_macs as f64;

    let mut params = model.init_params(1);
    let mut grads = vec![0.0; params.len()];
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), params.len());
    // Made inside the pool: the engine keeps one workspace per thread.
    let mut engine = pool.install(|| Engine::new(&model, bs, true));
    let (fwd_done, bwd_done) = engine.macs_performed(&model);
    let (train_flop_done, infer_flop_done) = (2.0 * (fwd_done + bwd_done) as f64, 2.0 * fwd_done as f64);
    let mut step = |engine: &mut Engine, params: &mut Vec<f32>, s: usize| {
        let start = (s * bs) % (n_train - bs);
        let ids: Vec<usize> = (start..start + bs).collect();
        let fill = Batch { data: &train, indices: &ids };
        pool.install(|| engine.train_step(&model, params, &mut grads, bs, &fill, 1, s as u64));
        opt.step(params, &grads);
    };

    // Start to first batch: data loading, model building and one training step.
    step(&mut engine, &mut params, 0);
    let first_batch = started.elapsed();
    for s in 1..3 {
        step(&mut engine, &mut params, s);
    }
    let t0 = Instant::now();
    for s in 0..args.steps {
        step(&mut engine, &mut params, 3 + s);
    }
    let train_time = t0.elapsed();
    let train_ips = (args.steps * bs) as f64 / secs(train_time);

    // Per-layer breakdown (a separate pass: timing each layer costs a little).
    engine.enable_profile(&model);
    let profile_steps = args.steps.min(16);
    let t0 = Instant::now();
    for s in 0..profile_steps {
        step(&mut engine, &mut params, 100 + s);
    }
    let profile_wall = t0.elapsed();
    let profile = engine.profile();

    // Evaluation: the best of three passes over the test set.
    let (mut test_loss, mut test_acc, mut eval_time) = (0.0, 0.0, Duration::MAX);
    for _ in 0..3 {
        let t0 = Instant::now();
        (test_loss, test_acc) = pool.install(|| evaluate(&mut engine, &model, &params, &mnist.test));
        eval_time = eval_time.min(t0.elapsed());
    }
    let eval_ips = mnist.test.len() as f64 / secs(eval_time);
    let rss = peak_rss_mb();

    // An epoch of the article's fit: 48,000 training images and 12,000 validation images.
    let epoch_s = 48_000.0 / train_ips + 12_000.0 / eval_ips;
    let epoch_flop = 48_000.0 * train_flop + 12_000.0 * infer_flop;

    let gemm_peak = (args.gemm_size > 0).then(|| gemm_gflops(args.gemm_size, threads));

    let simd = Level::current();
    println!("elu-lab bench: {} parameters, batch {bs}, {threads} threads, simd: {simd}", model.param_count());
    println!(
        "  counted work:         {:.2} MFLOP per training image (forward + backward), {:.2} MFLOP per inference image,",
        train_flop / 1e6,
        infer_flop / 1e6
    );
    println!(
        "                        counted the direct way; performed: {:.2} and {:.2} MFLOP (Winograd convolutions)",
        train_flop_done / 1e6,
        infer_flop_done / 1e6
    );
    println!("  start to first batch: {:.3} s (data load, model build, first step)", secs(first_batch));
    println!(
        "  training:             {train_ips:.0} images/s, {:.1} GFLOP/s ({} steps)",
        train_ips * train_flop / 1e9,
        args.steps
    );
    println!(
        "  evaluation:           {eval_ips:.0} images/s, {:.1} GFLOP/s (10,000 test images, best of 3)",
        eval_ips * infer_flop / 1e9
    );
    println!(
        "  seconds per epoch:    {epoch_s:.2} (48k train + 12k validation), {:.1} GFLOP/s effective",
        epoch_flop / epoch_s / 1e9
    );
    if let Some(rss) = rss {
        println!("  peak resident memory: {rss:.0} MB");
    }
    let round_trip = round_trip_ns(ROUND_TRIPS);
    match round_trip {
        Some(ns) => println!("  core-to-core round trip: {ns:.0} ns (two threads passing a flag back and forth)"),
        None => println!("  core-to-core round trip: n/a (one CPU)"),
    }
    if let Some(peak) = gemm_peak {
        println!("  f32 GEMM peak:        {peak:.1} GFLOP/s ({0}x{0}x{0}, {threads} threads); training reaches {1:.0}% of it", args.gemm_size, 100.0 * train_ips * train_flop / 1e9 / peak);
    }
    println!(
        "  (test loss {test_loss:.4}, accuracy {test_acc:.4} after {} steps: a sanity check, not a result)",
        args.steps + profile_steps + 3
    );
    println!();
    println!(
        "per-layer time per training step, summed over threads ({profile_steps} steps, {:.1} ms wall per step):",
        1000.0 * secs(profile_wall) / profile_steps as f64
    );
    println!("  {:<28}{:>12}{:>12}{:>8}", "layer", "forward ms", "backward ms", "share");
    let total: f64 = profile.iter().map(|(f, b)| secs(*f) + secs(*b)).sum();
    let mut layers_json = Vec::new();
    for (i, (f, b)) in profile.iter().enumerate() {
        let (f, b) = (1000.0 * secs(*f) / profile_steps as f64, 1000.0 * secs(*b) / profile_steps as f64);
        let name = format!("{} ({})", model.names()[i], model.layers()[i].kind().keras_class());
        println!("  {name:<28}{f:>12.2}{b:>12.2}{:>7.1}%", 100.0 * (f + b) / (1000.0 * total / profile_steps as f64));
        layers_json.push(json!({"layer": name, "forward_ms": f, "backward_ms": b}));
    }
    if let Some(path) = &args.json {
        let j = json!({
            "batch_size": bs, "threads": threads, "params": model.param_count(), "simd": simd.name(),
            "train_mflop_per_image": train_flop / 1e6, "inference_mflop_per_image": infer_flop / 1e6,
            "train_mflop_performed_per_image": train_flop_done / 1e6,
            "inference_mflop_performed_per_image": infer_flop_done / 1e6,
            "start_to_first_batch_s": secs(first_batch),
            "train_images_per_s": train_ips, "eval_images_per_s": eval_ips,
            "seconds_per_epoch": epoch_s, "effective_gflops": epoch_flop / epoch_s / 1e9,
            "train_gflops": train_ips * train_flop / 1e9,
            "peak_rss_mb": rss, "gemm_peak_gflops": gemm_peak, "round_trip_ns": round_trip,
            "layers": layers_json,
        });
        elu_lab::report::atomic_write(path, serde_json::to_string_pretty(&j)?.as_bytes())?;
    }
    Ok(())
}

/// Training and evaluation speed of one model: images per second over `steps` timed training
/// steps (after 3 warm-up steps), and over the best of three passes over `test`.
struct Speed {
    train_ips: f64,
    eval_ips: f64,
    test_loss: f64,
    test_accuracy: f64,
}

impl Speed {
    /// Seconds for an epoch of the article's fit: 48,000 training and 12,000 validation images.
    fn epoch_s(&self) -> f64 {
        48_000.0 / self.train_ips + 12_000.0 / self.eval_ips
    }
}

fn measure(
    model: &Sequential,
    pool: &rayon::ThreadPool,
    train: &Dataset,
    test: &Dataset,
    bs: usize,
    steps: usize,
) -> Speed {
    let mut params = model.init_params(1);
    let mut grads = vec![0.0; params.len()];
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), params.len());
    let mut engine = pool.install(|| Engine::new(model, bs, true));
    let n_train = train.len();
    let mut step = |engine: &mut Engine, params: &mut Vec<f32>, s: usize| {
        let start = (s * bs) % (n_train - bs);
        let ids: Vec<usize> = (start..start + bs).collect();
        let fill = Batch { data: train, indices: &ids };
        pool.install(|| engine.train_step(model, params, &mut grads, bs, &fill, 1, s as u64));
        opt.step(params, &grads);
    };
    for s in 0..3 {
        step(&mut engine, &mut params, s);
    }
    let t0 = Instant::now();
    for s in 0..steps {
        step(&mut engine, &mut params, 3 + s);
    }
    let train_ips = (steps * bs) as f64 / secs(t0.elapsed());
    let (mut test_loss, mut test_accuracy, mut eval_time) = (0.0, 0.0, Duration::MAX);
    for _ in 0..3 {
        let t0 = Instant::now();
        (test_loss, test_accuracy) = pool.install(|| evaluate(&mut engine, model, &params, test));
        eval_time = eval_time.min(t0.elapsed());
    }
    Speed { train_ips, eval_ips: test.len() as f64 / secs(eval_time), test_loss, test_accuracy }
}

/// `bench --activations`: the model with each activation in turn (`--init` and `--dropout`
/// still apply; SELU without `--init` brings lecun_normal, as in training), one table row each.
fn per_activation(
    args: &BenchArgs,
    acts: &[elu_lab::activations::Activation],
    base: &ModelSpec,
    pool: &rayon::ThreadPool,
    train: &Dataset,
    test: &Dataset,
) -> anyhow::Result<()> {
    let threads = pool.current_num_threads();
    let bs = args.batch_size;
    println!(
        "elu-lab bench --activations: batch {bs}, {threads} threads, simd: {}, {} timed steps each",
        Level::current(),
        args.steps
    );
    println!("  {:<12}{:>14}{:>14}{:>12}{:>10}", "activation", "train img/s", "eval img/s", "s/epoch", "vs first");
    let mut rows = Vec::new();
    let mut first = None;
    for &act in acts {
        let mut spec = base.clone();
        let o = Overrides {
            activation: Some(act),
            init: args.overrides.init,
            dropout: args.overrides.dropout,
            ..Default::default()
        };
        spec.apply(&o)?;
        let model = Sequential::from_spec(&spec)?;
        model.check_memory(bs, threads)?;
        let speed = measure(&model, pool, train, test, bs, args.steps);
        let epoch = speed.epoch_s();
        let base_epoch = *first.get_or_insert(epoch);
        println!(
            "  {:<12}{:>14.0}{:>14.0}{:>12.2}{:>9.2}x",
            act.name(),
            speed.train_ips,
            speed.eval_ips,
            epoch,
            epoch / base_epoch
        );
        rows.push(json!({
            "activation": act.name(), "train_images_per_s": speed.train_ips, "eval_images_per_s": speed.eval_ips,
            "seconds_per_epoch": epoch, "test_loss": speed.test_loss, "test_accuracy": speed.test_accuracy,
        }));
    }
    println!("  (s/epoch: 48k training + 12k validation images, as the article's fit)");
    if let Some(path) = &args.json {
        let j = json!({
            "batch_size": bs, "threads": threads, "simd": Level::current().name(), "steps": args.steps,
            "activations": rows,
        });
        elu_lab::report::atomic_write(path, serde_json::to_string_pretty(&j)?.as_bytes())?;
    }
    Ok(())
}

/// Return trips that [`round_trip_ns`] times.
const ROUND_TRIPS: u32 = 20_000;

/// The time, in ns, for this thread to hand a flag to another thread and get it back: the
/// median over batches of 100 trips, so that a batch in which a thread was interrupted or not
/// yet running drops out. The threads are not pinned: with two CPUs or more, two spinning
/// threads run on two of them. `None` when this process may use only one CPU (the trips would
/// measure the scheduler, slowly). A thread that has spun a while yields all the same.
fn round_trip_ns(trips: u32) -> Option<f64> {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return None;
    }
    use std::sync::atomic::{AtomicU32, Ordering};
    const BATCH: u32 = 100;
    fn wait_for(flag: &AtomicU32, value: u32) {
        let mut spins = 0u32;
        while flag.load(Ordering::Acquire) != value {
            spins += 1;
            if spins < 10_000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
    let flag = AtomicU32::new(0);
    let batches = (trips / BATCH).max(1);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..batches * BATCH {
                wait_for(&flag, 2 * i + 1);
                flag.store(2 * i + 2, Ordering::Release);
            }
        });
        let mut times: Vec<f64> = (0..batches)
            .map(|b| {
                let t0 = Instant::now();
                for i in b * BATCH..(b + 1) * BATCH {
                    flag.store(2 * i + 1, Ordering::Release);
                    wait_for(&flag, 2 * i + 2);
                }
                t0.elapsed().as_nanos() as f64 / f64::from(BATCH)
            })
            .collect();
        times.sort_by(f64::total_cmp);
        Some(times[times.len() / 2])
    })
}

/// Best of three n×n×n f32 products on `threads` threads, in GFLOP/s.
fn gemm_gflops(n: usize, threads: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; n * n];
    sgemm_parallel(&mut c, &a, &b, n, n, n, threads);
    (0..3)
        .map(|_| {
            let t0 = Instant::now();
            sgemm_parallel(&mut c, &a, &b, n, n, n, threads);
            2.0 * (n as f64).powi(3) / secs(t0.elapsed()) / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_round_trip_takes_some_time_and_ends() {
        match super::round_trip_ns(1_000) {
            Some(ns) => assert!(ns.is_finite() && ns > 0.0, "{ns}"),
            None => assert_eq!(std::thread::available_parallelism().map_or(1, |n| n.get()), 1),
        }
    }
}
