//! `elu-lab evaluate`: a trained run's test loss and accuracy, per-class metrics and confusion
//! matrix, written next to the run.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use elu_lab::data;
use elu_lab::infer::{self, Evaluation};
use elu_lab::report::{self, atomic_write};
use elu_lab::Error;
use serde_json::json;

/// Arguments of `elu-lab evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Run directory written by `elu-lab train` (model.toml, weights.safetensors, summary.json).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Directory with the four MNIST-layout IDX files whose test set to use; default: the data
    /// the run was trained on.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Where to write evaluation.json, per_class.csv, confusion.csv and confusion.png;
    /// default: RUN_DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let pool = super::thread_pool(args.threads)?;
    let (_, model, params) = infer::open_trained(&args.run)?;
    let summary = infer::read_summary(&args.run)?;
    let data_dir = args.data.clone().or(summary.data.clone());
    let (mnist, data_name) = match &data_dir {
        Some(dir) => (data::load_dir(dir, false)?, dir.display().to_string()),
        None => (data::bundled::load()?, "the bundled MNIST".to_string()),
    };
    let test = mnist.test;
    let eval = pool.install(|| infer::evaluate(&model, &params, &test, summary.eval_batch))?;

    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    std::fs::create_dir_all(&out).map_err(|e| Error::write(&out, e))?;
    let per_class = eval.per_class();
    let file = json!({
        "run": args.run,
        "data": data_dir,
        "samples": eval.samples,
        "loss": eval.loss,
        "accuracy": eval.accuracy,
        "per_class": per_class,
        "confusion": eval.confusion,
    });
    atomic_write(&out.join("evaluation.json"), serde_json::to_string_pretty(&file)?.as_bytes())?;
    atomic_write(&out.join("per_class.csv"), eval.per_class_csv().as_bytes())?;
    atomic_write(&out.join("confusion.csv"), eval.confusion_csv().as_bytes())?;
    let title = format!("Confusion matrix ({} test images)", eval.samples);
    report::plot_confusion(&out.join("confusion.png"), &title, &eval.confusion)?;

    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text(&eval, &data_name).as_bytes())?;
    writeln!(stdout, "Results in {}", out.display())?;
    Ok(())
}

/// The report printed to standard output: the test line of `train`, then the per-class table.
fn text(eval: &Evaluation, data_name: &str) -> String {
    let mut s = format!("Evaluated on the {} test images of {data_name}\n", eval.samples);
    s.push_str(&format!("Test loss: {:.4} / Test accuracy: {:.4}\n", eval.loss, eval.accuracy));
    s.push_str("class  precision  recall      f1  support\n");
    for m in eval.per_class() {
        s.push_str(&format!(
            "{:>5}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}\n",
            m.class, m.precision, m.recall, m.f1, m.support
        ));
    }
    s
}
