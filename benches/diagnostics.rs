//! What `--diagnostics` costs, as a share of a training epoch, on the article's convnet and on
//! the ELU paper's fully connected net (SGD, batch 64), on the bundled MNIST.
//!
//!     cargo bench --bench diagnostics [-- ROUNDS]
//!
//! Two ways, in one run:
//! - *by parts*: the measurement of the 1,000 sampled images (timed alone, the median of
//!   several) plus an epoch's gradient norms (one per batch, timed alone), divided by the
//!   training phase of an epoch (`train_seconds` of a run without diagnostics);
//! - *whole runs*: ROUNDS pairs of runs of EPOCHS epochs without and with the diagnostics
//!   callback, alternating; the difference of their medians per epoch, which also holds the
//!   measurement before training and the plot at the end, divided by the run's mean epoch.
//!
//! Prints one line per figure; nothing is asserted (tests assert behaviour, not time).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use elu_lab::data::Mnist;
use elu_lab::model::{ModelSpec, Sequential};
use elu_lab::optim::OptimizerConfig;
use elu_lab::train::callbacks::{Callbacks, Diagnostics};
use elu_lab::train::config::DIAGNOSTICS_SAMPLE;
use elu_lab::train::diagnostics::{activation_stats, add_gradient_norms, layers_with_parameters, sample_indices};
use elu_lab::train::{self, RunConfig};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// One run of `config`, with or without diagnostics: (wall seconds, mean epoch seconds, mean
/// training seconds per epoch, the final weights).
fn one_run(config: &RunConfig, data: &Mnist, diagnostics: bool) -> Res<(f64, f64, f64, Vec<f32>)> {
    let dir = std::env::temp_dir().join(format!("elu-lab-bench-diagnostics-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut callbacks = Callbacks::new();
    if diagnostics {
        callbacks.push(Diagnostics::new(
            dir.join("diagnostics.csv"),
            dir.join("diagnostics.png"),
            false,
            DIAGNOSTICS_SAMPLE,
            config.seed,
        ));
    }
    let started = Instant::now();
    let result = train::run_on(config, data.clone(), &mut callbacks, &AtomicBool::new(false))?;
    let wall = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;
    let h = &result.history;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok((wall, mean(&h.epoch_seconds), mean(&h.train_seconds), result.params))
}

fn bench(name: &str, config: &RunConfig, data: &Mnist, rounds: usize) -> Res<()> {
    let model = Sequential::from_spec(&config.model)?;
    let (mut without, mut with, mut epochs, mut trains) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut params = Vec::new();
    for _ in 0..rounds {
        let (wall, epoch, train, p) = one_run(config, data, false)?;
        without.push(wall);
        epochs.push(epoch);
        trains.push(train);
        params = p;
        with.push(one_run(config, data, true)?.0);
    }
    let (epoch, train) = (median(epochs), median(trains));

    // By parts, on the trained weights and the run's own sample of training images.
    let train_images = data.train.len() - (data.train.len() as f64 * config.data.validation_split) as usize;
    let sample = data.train.select(&sample_indices(train_images, DIAGNOSTICS_SAMPLE, config.seed));
    let all: Vec<usize> = (0..sample.len()).collect();
    let measure = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(activation_stats(&model, &params, &sample, &all));
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let grads: Vec<f32> = params.iter().map(|p| p * 1e-3).collect();
    let mut sums = vec![0.0; layers_with_parameters(&model).len()];
    let calls = 200;
    let norms = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..calls {
                    add_gradient_norms(&model, std::hint::black_box(&grads), &mut sums);
                }
                t.elapsed().as_secs_f64() / calls as f64
            })
            .collect(),
    );
    let batches = train_images.div_ceil(config.batch_size);
    let parts = measure + norms * batches as f64;
    let whole = (median(with) - median(without)) / config.epochs as f64;
    println!("{name}: {} epochs, {rounds} rounds", config.epochs);
    println!("  epoch {epoch:.3} s, of which training {train:.3} s ({batches} batches)");
    println!(
        "  by parts: measurement of {DIAGNOSTICS_SAMPLE} images {measure:.4} s + gradient norms {:.4} s per epoch = {:.2}% of an epoch's training, {:.2}% of an epoch",
        norms * batches as f64,
        100.0 * parts / train,
        100.0 * parts / epoch
    );
    println!("  whole runs: {whole:+.4} s per epoch = {:+.2}% of an epoch", 100.0 * whole / epoch);
    Ok(())
}

fn main() -> Res<()> {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3);
    println!("CPU: {}; {} threads", cpu_name(), rayon::current_num_threads());
    let data = train::load_data(&RunConfig::article())?;

    let mut article = RunConfig::article();
    article.epochs = 2;
    bench("article (Adam, batch 250)", &article, &data, rounds)?;

    let mut fc = RunConfig::article();
    fc.model = ModelSpec::preset("paper_fc")?;
    fc.optimizer = OptimizerConfig::Sgd { lr: 0.01, momentum: 0.0 };
    fc.batch_size = 64;
    fc.data.validation_split = 10_000.0 / 60_000.0;
    fc.epochs = 3;
    bench("paper_fc (SGD, batch 64)", &fc, &data, rounds)?;
    Ok(())
}
