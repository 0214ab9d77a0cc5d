//! `elu-lab plot-activations`: each activation and its derivative as a PNG, a grid of them all,
//! and their values at extreme inputs as Markdown and CSV.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use elu_lab::activations::Activation;
use elu_lab::report::activations::{write_activation_figures, EXTREME_INPUTS};

/// Arguments of `elu-lab plot-activations`.
#[derive(Debug, Args)]
pub struct PlotActivationsArgs {
    /// The functions, a comma list of names (default parameters) or `all` (the default): linear,
    /// relu, elu, leaky_relu, selu, prelu, srelu, celu, gelu, gelu_tanh, silu, mish, softplus,
    /// tanh, sigmoid.
    #[arg(long, value_name = "NAMES", default_value = "all")]
    pub activations: String,
    /// Directory for the figures and tables (created if missing; files of the same names are
    /// replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The activations a comma list names, in order and without repeats; `all` is every one.
/// An unknown name is an error that names `flag` and lists the valid names.
pub fn parse_list(flag: &str, list: &str) -> elu_lab::Result<Vec<Activation>> {
    let mut acts = Vec::new();
    for name in list.split(',').map(str::trim) {
        let found: Vec<Activation> = if name == "all" {
            Activation::ALL.to_vec()
        } else {
            let one = Activation::from_name(name).map_err(|_| {
                let known: Vec<_> = Activation::names().collect();
                elu_lab::Error::config(
                    flag,
                    format!("unknown activation `{name}`; expected `all` or a comma list of {}", known.join(", ")),
                )
            })?;
            vec![one]
        };
        for a in found {
            if !acts.contains(&a) {
                acts.push(a);
            }
        }
    }
    Ok(acts)
}

pub fn run(args: PlotActivationsArgs) -> anyhow::Result<()> {
    let acts = parse_list("--activations", &args.activations)?;
    let written = write_activation_figures(&args.out, &acts)?;
    let mut out = std::io::stdout().lock();
    for path in &written {
        writeln!(out, "{}", path.display())?;
    }
    let inputs: Vec<String> = EXTREME_INPUTS.iter().map(|x| x.to_string()).collect();
    writeln!(out, "{} functions on [-5, 5]; extremes at {}", acts.len(), inputs.join(", "))?;
    Ok(())
}
