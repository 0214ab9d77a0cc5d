//! `elu-lab models`: the preset models, one line each.

use std::io::Write;

use clap::Args;
use elu_lab::model::PRESETS;

/// Arguments of `elu-lab models` (none).
#[derive(Debug, Args)]
pub struct ModelsArgs {}

pub fn run(_args: ModelsArgs) -> anyhow::Result<()> {
    let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (i, p) in PRESETS.iter().enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        writeln!(out, "{:<width$}  {}{default}  [{}]", p.name, p.description, p.file)?;
    }
    Ok(())
}
