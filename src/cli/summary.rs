//! `elu-lab summary`: the model's layers, output shapes and parameter counts.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use elu_lab::model::{ModelSpec, Sequential};

/// Arguments of `elu-lab summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// A preset's name (`elu-lab models` lists them) or a model file (TOML); default: article.
    #[arg(long, value_name = "NAME|FILE")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: super::train::ModelOverrides,
}

pub fn run(args: SummaryArgs) -> anyhow::Result<()> {
    let mut spec = match &args.model {
        Some(p) => ModelSpec::from_name_or_file(p)?,
        None => ModelSpec::article(),
    };
    args.overrides.apply(&mut spec)?;
    let model = Sequential::from_spec(&spec)?;
    let mut out = std::io::stdout().lock();
    out.write_all(model.summary().as_bytes())?;
    Ok(())
}
