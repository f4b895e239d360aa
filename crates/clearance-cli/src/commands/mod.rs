//! One module per command group; each returns the process exit code.

/// `print!` that tolerates a closed stdout (`clearance ... | head`): see [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::write_out(format_args!($($arg)*))
    };
}

/// `println!` that tolerates a closed stdout (`clearance ... | head`): see [`write_out`].
macro_rules! outln {
    () => {
        $crate::commands::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::commands::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod admin_api;
mod audit;
mod audit_log;
mod config;
mod copy;
mod deps;
mod directives;
mod explain;
mod keys;
mod migrate;
mod models;
mod principals;
mod proof;
mod screening;
mod serve;
mod status;
mod validate;
mod witness;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clearance_config::{Config, StoreBackend};
use clearance_core::audit::{AdminAction, AuditRecord};
use clearance_store::{Store, record_changes};

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&args.config),
        Command::CheckConfig(args) => config::check(&args.config),
        Command::Keys(command) => keys::run(command),
        Command::Principals(command) => principals::run(command),
        Command::Lists(command) => screening::lists(command),
        Command::Screen(args) => screening::screen(args),
        Command::Screening(command) => screening::review(command),
        Command::Audit(command) => audit::run(command),
        Command::Directives(command) => directives::run(command),
        Command::Explain(args) => explain::run(&args),
        Command::Models(command) => models::run(command),
        Command::Status(args) => status::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Store(command) => copy::run(command),
        Command::Witness(command) => witness::run(command),
        Command::Validate(args) => validate::run(&args),
        Command::Suites(command) => validate::suites(command),
        Command::Deps(args) => deps::run(&args),
    }
}

/// A single-threaded runtime: the management commands make a handful of store calls. A
/// store must be opened and used within one `block_on` (a PostgreSQL store's connections
/// belong to the runtime it was opened on).
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    Ok(runtime.block_on(future))
}

/// Reads a config for commands that call no provider (provider secrets are not needed).
fn load_config(config_path: &Path) -> anyhow::Result<Config> {
    Config::load_without_secrets(config_path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Opens the store a config names (SQLite or PostgreSQL), bringing its schema up to date.
/// Call it inside the `block_on` that uses the store.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    clearance_gateway::server::open_store(&config.store)
        .await
        .with_context(|| {
            format!(
                "opening {} (named in {})",
                store_name(config),
                config.source.display()
            )
        })
}

/// Loads the config at `config_path` and opens its store.
async fn open_store_at(config_path: &Path) -> anyhow::Result<(Config, Arc<dyn Store>)> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    Ok((config, store))
}

/// The store a config names, for messages: `the SQLite store at PATH` or `the PostgreSQL store
/// at URL` (the URL never holds a password: the config refuses one).
fn store_name(config: &Config) -> String {
    match &config.store.backend {
        StoreBackend::Sqlite(path) => format!("the SQLite store at {}", path.display()),
        StoreBackend::Postgres(pg) => format!("the PostgreSQL store at {}", pg.url),
    }
}

/// Who the audit trail names for changes made with this command.
pub const CLI_ACTOR: &str = "cli";

/// An operator's action taken with the CLI, as the audit trail records it.
fn cli_action(
    action: &str,
    target: impl Into<String>,
    details: Option<serde_json::Value>,
) -> AdminAction {
    AdminAction {
        action: action.to_string(),
        target: target.into(),
        reason: None,
        actor: CLI_ACTOR.to_string(),
        details,
    }
}

/// Records a change the CLI has just made in the store's audit trail (a short log of its own,
/// durable before this returns). Call it only after the change succeeded. A change whose
/// record cannot be written is an error: the command fails and says so.
async fn record_change(store: &dyn Store, action: AdminAction) -> anyhow::Result<()> {
    record_change_parts(store, vec![action]).await
}

/// Records one change made of several actions (e.g. a large import, in parts), in one log.
async fn record_change_parts(store: &dyn Store, actions: Vec<AdminAction>) -> anyhow::Result<()> {
    let what = actions
        .first()
        .map(|a| format!("{} {}", a.action, a.target))
        .unwrap_or_default();
    let records = actions
        .into_iter()
        .map(|action| AuditRecord::admin(uuid::Uuid::now_v7().to_string(), Utc::now(), action, 200))
        .collect();
    record_changes(store, CLI_ACTOR, records)
        .await
        .map(drop)
        .with_context(|| {
            format!(
                "the change was made ({what}) but its audit record could not be written; \
                 the audit trail does not show it"
            )
        })
}

/// At most this many ids are listed in one record's details (the rest are counted).
const MAX_LISTED: usize = 1_000;

/// Writes command output to stdout. A reader that went away (`| head -c 200`) ends the
/// process quietly with success, as `head`'s writers expect; any other write error ends it
/// with a message and failure. `println!` would panic instead.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {error}");
        std::process::exit(1);
    }
}

/// Whether an error comes from writing to a reader that went away (a closed pipe).
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
