//! `clearance models list|disable|enable`: the kill switch, through the running gateway's
//! admin API. The CLI does not write the store itself: the gateway stores the change, puts it
//! in force from the next request on and audits it, so the audit chain keeps a single writer.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::{Value, json};

use super::admin_api::{self, AdminApi, text};
use super::block_on;
use crate::cli::{ModelsCommand, OutputFormat};

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::List {
            gateway,
            format,
            json,
        } => {
            let admin = AdminApi::resolve(&gateway)?;
            let format = if json { OutputFormat::Json } else { format };
            block_on(list(&admin, format))?
        }
        ModelsCommand::Disable {
            model,
            reason,
            gateway,
            format,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason is empty: say why {model} is switched off (it is audited)");
            }
            let admin = AdminApi::resolve(&gateway)?;
            block_on(change(&admin, &model, "disable", Some(reason), format))?
        }
        ModelsCommand::Enable {
            model,
            reason,
            gateway,
            format,
        } => {
            let admin = AdminApi::resolve(&gateway)?;
            block_on(change(&admin, &model, "enable", reason, format))?
        }
    }
}

async fn list(admin: &AdminApi, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let body = admin.call(&["admin", "models"], None).await?;
    let rows = body["data"]
        .as_array()
        .ok_or_else(|| anyhow!("the gateway's model list has no `data` array: {body}"))?;
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Text => out!("{}", table(rows)),
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(
    admin: &AdminApi,
    model: &str,
    action: &str,
    reason: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "reason": reason });
    let row = admin
        .call(&["admin", "models", model, action], Some(body))
        .await?;
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&row)?),
        OutputFormat::Text if row["disabled"] == true => outln!(
            "{model} is disabled from the next request on: {}",
            text(&row["reason"])
        ),
        OutputFormat::Text => outln!("{model} is enabled from the next request on"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The model list as a table.
fn table(rows: &[Value]) -> String {
    let header = [
        "MODEL", "PROVIDER", "TAGS", "STATE", "SINCE", "ACTOR", "REASON",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let tags = row["tags"]
                .as_array()
                .map(|tags| tags.iter().map(text).collect::<Vec<_>>().join(","))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "-".to_string());
            let state = if row["disabled"] == true {
                "DISABLED"
            } else {
                "enabled"
            };
            [
                text(&row["model"]),
                text(&row["provider"]),
                tags,
                state.to_string(),
                text(&row["since"]),
                text(&row["actor"]),
                text(&row["reason"]),
            ]
        })
        .collect();
    admin_api::table(header, &cells)
}
