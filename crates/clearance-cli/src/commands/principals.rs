//! `clearance principals import|show`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::principal::PrincipalId;
use clearance_store::Store;

use super::{block_on, open_store};
use crate::cli::{ImportFileFormat, OutputFormat, PrincipalsCommand};

pub fn run(command: PrincipalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        PrincipalsCommand::Import {
            file,
            config,
            format,
        } => {
            let format = match format {
                Some(ImportFileFormat::Csv) => ImportFormat::Csv,
                Some(ImportFileFormat::Jsonl) => ImportFormat::Jsonl,
                None => ImportFormat::from_file_name(&file.to_string_lossy()).with_context(|| {
                    format!("cannot tell the format of {} from its name; pass --format csv or --format jsonl", file.display())
                })?,
            };
            let store = open_store(&config.config)?;
            block_on(import(&store, &file, format))?
        }
        PrincipalsCommand::Show { id, config, format } => {
            let store = open_store(&config.config)?;
            block_on(show(&store, &id, format))?
        }
    }
}

async fn import(store: &dyn Store, file: &Path, format: ImportFormat) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match parse_principals(&text, format) {
        Ok(principals) => {
            let summary = store.upsert_principals(&principals).await?;
            println!(
                "imported {} principals from {}: {} new, {} updated",
                principals.len(),
                file.display(),
                summary.inserted,
                summary.updated
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{}:{}: {}", file.display(), error.line, error.message);
            }
            eprintln!(
                "{} problem(s) in {}; nothing was imported",
                errors.len(),
                file.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn show(store: &dyn Store, id: &str, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let principal_id: PrincipalId = id
        .parse()
        .with_context(|| format!("invalid principal id `{id}`"))?;
    let Some(principal) = store.principal(&principal_id).await? else {
        bail!("no principal `{principal_id}` in the registry");
    };
    let view = principal.with_derived_facts();
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&view)?),
        OutputFormat::Text => {
            if let Some(object) = view.as_object() {
                for (key, value) in object {
                    println!("{key:<22} {value}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
