//! `clearance keys create|list|revoke`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use clearance_core::key::KeyId;
use clearance_core::principal::PrincipalId;
use clearance_store::{Store, issue_key};
use serde_json::json;

use super::{block_on, open_store};
use crate::cli::{KeysCommand, OutputFormat};

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            principal,
            name,
            config,
            format,
        } => {
            let store = open_store(&config.config)?;
            block_on(create(&store, &principal, name, format))?
        }
        KeysCommand::List { config, format } => {
            let store = open_store(&config.config)?;
            block_on(list(&store, format))?
        }
        KeysCommand::Revoke { id, config } => {
            let store = open_store(&config.config)?;
            block_on(revoke(&store, &id))?
        }
    }
}

async fn create(
    store: &dyn Store,
    principal: &str,
    name: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let principal_id: PrincipalId = principal
        .parse()
        .with_context(|| format!("invalid principal id `{principal}`"))?;
    let key = issue_key(store, &principal_id, name.clone()).await?;
    match format {
        OutputFormat::Json => {
            println!(
                "{}",
                json!({ "id": key.id.as_str(), "key": key.plaintext, "principal": principal_id.as_str(), "name": name })
            );
        }
        OutputFormat::Text => {
            println!("created key {} for principal {principal_id}", key.id);
            println!("{}", key.plaintext);
            eprintln!("This is the only time the key is shown; store it now.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &dyn Store, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let keys = store.keys().await?;
    match format {
        OutputFormat::Json => {
            let rows: Vec<_> = keys.iter().map(|k| k.public_json()).collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        OutputFormat::Text => {
            println!(
                "{:<18} {:<24} {:<16} {:<26} STATUS",
                "ID", "PRINCIPAL", "NAME", "CREATED"
            );
            for k in &keys {
                let status = k.revoked.map_or("active".to_string(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                let name = k.name.as_deref().unwrap_or("-");
                println!(
                    "{:<18} {:<24} {:<16} {:<26} {status}",
                    k.id,
                    k.principal_id,
                    name,
                    k.created.to_rfc3339()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(store: &dyn Store, id: &str) -> anyhow::Result<ExitCode> {
    let Some(key_id) = KeyId::parse(id) else {
        bail!("`{id}` is not a key id (16 hex characters, as `clearance keys list` shows)");
    };
    if store.revoke_key(&key_id, Utc::now()).await? {
        println!("revoked key {key_id}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("no active key {key_id} (unknown or already revoked)");
        Ok(ExitCode::FAILURE)
    }
}
