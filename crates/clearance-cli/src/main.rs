//! `clearance`: the gateway's command line. Parses flags, runs one command, maps its result
//! to an exit code. The only crate where `anyhow` is used.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the gateway allocates small, short-lived buffers per request; measured in
/// bench/ against the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        // `clearance audit export | head`: the reader went away; nothing is wrong.
        Err(error) if commands::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
