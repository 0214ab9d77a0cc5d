//! Sweep overheads: the time a trial costs beyond its training epochs (start, data, files,
//! test evaluation, report), and the time `report` takes over many trials.
//!
//!     cargo bench --bench sweep [-- TRIALS_FOR_REPORT]
//!
//! Prints one line per figure; nothing is asserted (tests assert behaviour, not time).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use elu_lab::study::report;
use elu_lab::study::{prepare, run_sweep, SweepOptions, SweepPlan, Trial};
use elu_lab::train::RunConfig;

fn tiny(seed: u64, limit: usize) -> Trial {
    let mut c = RunConfig::article();
    c.seed = seed;
    c.epochs = 1;
    c.data.limit = Some(limit);
    Trial::new(vec![("activation".into(), "elu".into())], c)
}

fn plan(trials: Vec<Trial>) -> SweepPlan {
    SweepPlan {
        axes: vec![("activation".into(), vec!["elu".into()])],
        seeds: trials.iter().map(|t| t.seed).collect(),
        fixed: vec![],
        trials,
        study: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let report_trials: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("cpu: {cpu}");

    // Per-trial overhead: 12 one-epoch trials of 300 images (a few batches), one job.
    let d = tempfile::tempdir()?;
    let p = prepare(d.path(), &plan((1..=12).map(|s| tiny(s, 300)).collect()), false)?;
    let opts = SweepOptions { jobs: 1, threads: 0, retry_failed: false, verbose: 0, shard: None };
    let t0 = Instant::now();
    let outcome = run_sweep(d.path(), &p, &opts, &AtomicBool::new(false))?;
    let wall = t0.elapsed().as_secs_f64();
    let (_, rows) = report::write_results(d.path())?;
    let epochs: f64 = rows.iter().map(|r| r.wall_seconds).sum();
    let n = outcome.finished as f64;
    // The test evaluation every trial ends with (10,000 images): work, not overhead.
    let config = &p.trials[0].config;
    let data = elu_lab::train::load_data(config)?;
    let model = elu_lab::model::Sequential::from_spec(&config.model)?;
    let mut trainer = elu_lab::train::Trainer::new(&model, config.optimizer, config.batch_size, 1);
    let t0 = Instant::now();
    trainer.evaluate(&data.test);
    let eval = t0.elapsed().as_secs_f64();
    println!(
        "per-trial: {:.3} s wall, of which {:.3} s training epochs and {eval:.3} s evaluating the 10,000 test images; overhead {:.3} s per trial (start, data copy, run files and plots, checkpoints, summary)",
        wall / n,
        epochs / n,
        (wall - epochs) / n - eval
    );

    // Report over many finished trials: copy one trial's files under new ids.
    let src = d.path().join("trials").join(&p.trials[0].id);
    let big = tempfile::tempdir()?;
    let trials: Vec<Trial> = (1..=report_trials as u64).map(|s| tiny(s, 300)).collect();
    let big_plan = prepare(big.path(), &plan(trials), false)?;
    for t in &big_plan.trials {
        let dst = big.path().join("trials").join(&t.id);
        std::fs::create_dir_all(&dst)?;
        for name in ["config.toml", "summary.json", "history.json"] {
            std::fs::copy(src.join(name), dst.join(name))?;
        }
    }
    let t0 = Instant::now();
    let (_, rows) = report::write_results(big.path())?;
    println!("report over {} trials: {:.3} s", rows.len(), t0.elapsed().as_secs_f64());
    Ok(())
}
