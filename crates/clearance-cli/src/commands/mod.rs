//! One module per command group; each returns the process exit code.

mod admin_api;
mod audit;
mod config;
mod directives;
mod explain;
mod keys;
mod models;
mod principals;
mod serve;
mod status;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clearance_config::Config;
use clearance_store::SqliteStore;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&args.config),
        Command::CheckConfig(args) => config::check(&args.config),
        Command::Keys(command) => keys::run(command),
        Command::Principals(command) => principals::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Directives(command) => directives::run(command),
        Command::Explain(args) => explain::run(&args),
        Command::Models(command) => models::run(command),
        Command::Status(args) => status::run(&args),
    }
}

/// A single-threaded runtime: the management commands make a handful of store calls.
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    Ok(runtime.block_on(future))
}

/// Opens the store named by a config, for commands that call no provider.
fn open_store(config_path: &Path) -> anyhow::Result<SqliteStore> {
    let config = load_config(config_path)?;
    store_of(&config)
}

/// Reads a config for commands that call no provider (provider secrets are not needed).
fn load_config(config_path: &Path) -> anyhow::Result<Config> {
    Config::load_without_secrets(config_path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn store_of(config: &Config) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(&config.store.sqlite).context("opening the store")
}
