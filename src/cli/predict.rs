//! `elu-lab predict`: the digit in each image file, by a trained run's model.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use elu_lab::infer::{self, Prediction, Preprocess};
use serde_json::json;

/// Arguments of `elu-lab predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Run directory written by `elu-lab train`.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Image files (PNG, JPEG, PGM/PPM or BMP), one digit each.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<PathBuf>,
    /// CSV on standard output: file,class,probability,p0,...,p9.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// JSON on standard output: one object per file.
    #[arg(long)]
    pub json: bool,
    /// How many of the most probable classes to show per file (text and JSON).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// Feed the images as they are (they must be 28x28, white digit on black, as MNIST)
    /// instead of making them MNIST-style (grayscale, invert a light background, crop to the
    /// ink, fit into 20x20, centre by mass in 28x28).
    #[arg(long)]
    pub no_preprocess: bool,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let pool = super::thread_pool(args.threads)?;
    let (_, model, params) = infer::open_trained(&args.run)?;
    let classes = model.output_shape().len();
    let preprocess = if args.no_preprocess { Preprocess::None } else { Preprocess::MnistStyle };
    let results = pool.install(|| infer::predict_files(&model, &params, &args.images, preprocess));

    let mut out = std::io::stdout().lock();
    if args.csv {
        let mut header = String::from("file,class,probability");
        (0..classes).for_each(|c| header.push_str(&format!(",p{c}")));
        writeln!(out, "{header}")?;
    }
    let top = usize::try_from(args.top).unwrap_or(usize::MAX);
    let mut objects = Vec::new();
    let mut failed = 0;
    for result in &results {
        match result {
            Ok(p) if args.csv => writeln!(out, "{}", csv_row(p))?,
            Ok(p) if args.json => objects.push(json_object(p, top)),
            Ok(p) => writeln!(out, "{}", text_line(p, top))?,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&objects)?)?;
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} of {} files could not be predicted (see the errors above)", results.len());
    }
    Ok(())
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(p: &Prediction) -> String {
    let c = p.class();
    let mut row = format!("{},{c},{}", csv_field(&p.file.to_string_lossy()), p.probabilities[c]);
    p.probabilities.iter().for_each(|v| row.push_str(&format!(",{v}")));
    row
}

fn json_object(p: &Prediction, top: usize) -> serde_json::Value {
    let c = p.class();
    let top: Vec<_> = p
        .top(top)
        .into_iter()
        .map(|(class, probability)| json!({ "class": class, "probability": probability }))
        .collect();
    json!({
        "file": p.file,
        "class": c,
        "probability": p.probabilities[c],
        "top": top,
        "probabilities": p.probabilities,
    })
}

fn text_line(p: &Prediction, top: usize) -> String {
    let ranked: Vec<String> = p.top(top).into_iter().map(|(c, v)| format!("{c} ({v:.4})")).collect();
    format!("{}: {}", p.file.display(), ranked.join(", "))
}
