//! `clearance keys create|list|revoke`. Creating and revoking a key are recorded in the audit
//! trail (actor `cli`) once the store has made the change.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use clearance_core::key::KeyId;
use clearance_core::principal::PrincipalId;
use clearance_store::{Store, issue_key};
use serde_json::json;

use super::{block_on, cli_action, open_store_at, record_change};
use crate::cli::{KeysCommand, OutputFormat};

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            principal,
            name,
            config,
            format,
        } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            create(store.as_ref(), &principal, name, format).await
        })?,
        KeysCommand::List { config, format } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            list(store.as_ref(), format).await
        })?,
        KeysCommand::Revoke { id, config } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            revoke(store.as_ref(), &id).await
        })?,
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
    let details =
        json!({ "key_id": key.id.as_str(), "principal": principal_id.as_str(), "name": name });
    // The key is shown only once its creation is on record; a key whose record failed is
    // never shown, so nobody holds it.
    record_change(
        store,
        cli_action("key_create", principal_id.as_str(), Some(details)),
    )
    .await
    .with_context(|| {
        format!(
            "key {} was not shown; revoke it with `clearance keys revoke {}`",
            key.id, key.id
        )
    })?;
    match format {
        OutputFormat::Json => {
            outln!(
                "{}",
                json!({ "id": key.id.as_str(), "key": key.plaintext, "principal": principal_id.as_str(), "name": name })
            );
        }
        OutputFormat::Text => {
            outln!("created key {} for principal {principal_id}", key.id);
            outln!("{}", key.plaintext);
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
            outln!("{}", serde_json::to_string_pretty(&rows)?);
        }
        OutputFormat::Text => {
            outln!(
                "{:<18} {:<24} {:<16} {:<26} STATUS",
                "ID",
                "PRINCIPAL",
                "NAME",
                "CREATED"
            );
            for k in &keys {
                let status = k.revoked.map_or("active".to_string(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                let name = k.name.as_deref().unwrap_or("-");
                outln!(
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
    if !store.revoke_key(&key_id, Utc::now()).await? {
        eprintln!("no active key {key_id} (unknown or already revoked)");
        return Ok(ExitCode::FAILURE);
    }
    record_change(store, cli_action("key_revoke", key_id.as_str(), None))
        .await
        .with_context(|| format!("key {key_id} is revoked"))?;
    outln!("revoked key {key_id}");
    Ok(ExitCode::SUCCESS)
}
