//! The `elu-lab` command: parse arguments, run the command, print errors, set the exit code.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let args = match cli::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    match cli::run(args, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`elu-lab summary | head`) is not an error.
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("error: {err}");
            let mut shown = err.to_string();
            let mut source = err.source();
            while let Some(s) = source {
                // Messages that already end with their cause ("cannot write X: disk full") are
                // not repeated.
                let text = s.to_string();
                if !shown.ends_with(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
                source = s.source();
            }
            if let Some(hint) = err.downcast_ref::<elu_lab::Error>().and_then(|e| e.hint()) {
                eprintln!("hint: {hint}");
            }
            match err.downcast_ref::<elu_lab::Error>() {
                Some(elu_lab::Error::Interrupted { .. } | elu_lab::Error::SweepInterrupted { .. }) => {
                    ExitCode::from(130)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}
