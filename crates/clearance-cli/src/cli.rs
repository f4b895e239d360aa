//! The command-line surface, as clap types. Every command that touches the store takes
//! `--config` (default `clearance.toml`, or `$CLEARANCE_CONFIG`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "clearance",
    version,
    about = "Clearance: an AI gateway with targeted access directives and validated fallbacks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The gateway's config file.
    #[arg(
        long,
        short = 'c',
        env = "CLEARANCE_CONFIG",
        default_value = "clearance.toml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Validate a config file and report every problem with file and line.
    CheckConfig(ConfigArg),
    /// Manage client keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the principal registry.
    #[command(subcommand)]
    Principals(PrincipalsCommand),
    /// Verify and export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a principal. The key is printed once and never stored.
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List keys (ids and owners, never secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Revoke a key; running gateways stop accepting it within a second.
    Revoke {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImportFileFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// Import principals from CSV or JSONL; a file with any bad row imports nothing.
    Import {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        /// Defaults to the file's extension (.csv, .jsonl, .ndjson).
        #[arg(long, value_enum)]
        format: Option<ImportFileFormat>,
    },
    /// Show one principal with its derived facts.
    Show {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; names the first edited, deleted or reordered record.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Write every record with its chain fields, to stdout or a file.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}
