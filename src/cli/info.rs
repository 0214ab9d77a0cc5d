//! `elu-lab info`: the version, and the instruction set the kernels run with on this processor.

use clap::Args;
use elu_lab::kernels::simd::{Level, ENV_VAR};

/// Arguments of `elu-lab info` (none).
#[derive(Debug, Args)]
pub struct InfoArgs {}

pub fn run(_args: InfoArgs) -> anyhow::Result<()> {
    let current = Level::current();
    let supported: Vec<&str> = Level::supported().iter().map(|l| l.name()).collect();
    println!("elu-lab {}", env!("CARGO_PKG_VERSION"));
    println!("arch: {}", std::env::consts::ARCH);
    println!("simd: {current}");
    println!("simd supported: {}", supported.join(", "));
    let forced = std::env::var(ENV_VAR).ok().filter(|v| !v.trim().is_empty());
    match forced {
        Some(v) => println!("simd chosen by: {ENV_VAR}={v}"),
        None => println!("simd chosen by: the processor (set {ENV_VAR}=baseline|avx2|avx512 to force a lower level)"),
    }
    println!("threads: {}", std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(())
}
