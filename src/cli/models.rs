//! `elu-lab models`: the preset models, one line each.

use std::io::Write;

use clap::Args;
use elu_lab::model::PRESETS;

/// Arguments of `elu-lab models` (none).
#[derive(Debug, Args)]
pub struct ModelsArgs {}

pub fn run(_args: ModelsArgs) -> anyhow::Result<()> {
    // The first preset is the default model.
    let names: Vec<String> = PRESETS
        .iter()
        .enumerate()
        .map(|(i, p)| if i == 0 { format!("{} (default)", p.name) } else { p.name.into() })
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (name, p) in names.iter().zip(PRESETS) {
        writeln!(out, "{name:<width$}  {} [{}]", p.description, p.file)?;
    }
    Ok(())
}
