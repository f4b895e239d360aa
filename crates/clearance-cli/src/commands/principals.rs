//! `clearance principals import|delete|show`. Imports and deletions are recorded in the audit
//! trail (actor `cli`) once the store has made them, with what changed: the principals added,
//! every changed field of the ones replaced (old and new value), the ones deleted.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::principal::{Principal, PrincipalId};
use clearance_store::Store;
use serde_json::{Map, Value, json};

use super::{MAX_LISTED, block_on, cli_action, open_store_at, record_change};
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
            block_on(async {
                let (_, store) = open_store_at(&config.config).await?;
                import(store.as_ref(), &file, format).await
            })?
        }
        PrincipalsCommand::Delete { ids, config } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            delete(store.as_ref(), &ids).await
        })?,
        PrincipalsCommand::Show { id, config, format } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            show(store.as_ref(), &id, format).await
        })?,
    }
}

async fn import(store: &dyn Store, file: &Path, format: ImportFormat) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let principals = match parse_principals(&text, format) {
        Ok(principals) => principals,
        Err(errors) => {
            for error in &errors {
                eprintln!("{}:{}: {}", file.display(), error.line, error.message);
            }
            eprintln!(
                "{} problem(s) in {}; nothing was imported",
                errors.len(),
                file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let before: HashMap<PrincipalId, Principal> = store
        .principals()
        .await
        .context("reading the registry before the import")?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let changes = ImportChanges::between(&before, &principals);
    drop(before);
    store.upsert_principals(&principals).await?;
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    record_change(
        store,
        cli_action("principals_import", file_name, Some(changes.details())),
    )
    .await
    .with_context(|| format!("{} principals were imported", principals.len()))?;
    println!(
        "imported {} principals from {}: {} new, {} updated, {} unchanged",
        principals.len(),
        file.display(),
        changes.inserted.len(),
        changes.updated.len(),
        changes.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// What an import changes in the registry.
#[derive(Debug, Default, PartialEq)]
struct ImportChanges {
    inserted: Vec<String>,
    /// Each replaced principal whose facts differ: its id and `{field: [old, new]}`.
    updated: Vec<(String, Map<String, Value>)>,
    unchanged: usize,
}

impl ImportChanges {
    fn between(before: &HashMap<PrincipalId, Principal>, imported: &[Principal]) -> ImportChanges {
        let mut changes = ImportChanges::default();
        for principal in imported {
            match before.get(&principal.id) {
                None => changes.inserted.push(principal.id.to_string()),
                Some(old) => {
                    let changed = changed_fields(old, principal);
                    if changed.is_empty() {
                        changes.unchanged += 1;
                    } else {
                        changes.updated.push((principal.id.to_string(), changed));
                    }
                }
            }
        }
        changes
    }

    /// The audit record's details: the principals added and changed (changed ones first, at
    /// most [`MAX_LISTED`] listed in all) and every count.
    fn details(&self) -> Value {
        let updated: Vec<Value> = self
            .updated
            .iter()
            .take(MAX_LISTED)
            .map(|(id, changed)| json!({ "id": id, "changed": changed }))
            .collect();
        let room = MAX_LISTED - updated.len();
        let inserted: Vec<&String> = self.inserted.iter().take(room).collect();
        let listed = updated.len() + inserted.len();
        json!({
            "inserted": inserted,
            "updated": updated,
            "counts": {
                "inserted": self.inserted.len(),
                "updated": self.updated.len(),
                "unchanged": self.unchanged,
            },
            "unlisted": self.inserted.len() + self.updated.len() - listed,
        })
    }
}

/// Every field whose value differs, as `{field: [old, new]}`.
fn changed_fields(old: &Principal, new: &Principal) -> Map<String, Value> {
    let as_map = |p: &Principal| match serde_json::to_value(p) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|field| {
            let (was, now) = (
                old.get(field).unwrap_or(&Value::Null),
                new.get(field).unwrap_or(&Value::Null),
            );
            (was != now).then(|| (field.clone(), json!([was, now])))
        })
        .collect()
}

async fn delete(store: &dyn Store, ids: &[String]) -> anyhow::Result<ExitCode> {
    let mut wanted: Vec<PrincipalId> = Vec::new();
    for id in ids {
        let id: PrincipalId = id
            .parse()
            .with_context(|| format!("invalid principal id `{id}`; nothing was deleted"))?;
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for id in wanted {
        if store.principal(&id).await?.is_some() {
            present.push(id);
        } else {
            missing.push(id.to_string());
        }
    }
    for id in &missing {
        eprintln!("no principal `{id}` in the registry");
    }
    if present.is_empty() {
        eprintln!("nothing was deleted");
        return Ok(ExitCode::FAILURE);
    }
    store.delete_principals(&present).await?;
    let deleted: Vec<String> = present.iter().map(ToString::to_string).collect();
    let details = json!({
        "deleted": deleted.iter().take(MAX_LISTED).collect::<Vec<_>>(),
        "missing": missing.iter().take(MAX_LISTED).collect::<Vec<_>>(),
        "counts": { "deleted": deleted.len(), "missing": missing.len() },
    });
    let target = if deleted.len() == 1 {
        deleted[0].clone()
    } else {
        format!("{} principals", deleted.len())
    };
    record_change(
        store,
        cli_action("principals_delete", target, Some(details)),
    )
    .await
    .with_context(|| format!("deleted {}", deleted.join(", ")))?;
    println!(
        "deleted {} principal{}: {}; their keys no longer authenticate",
        deleted.len(),
        if deleted.len() == 1 { "" } else { "s" },
        deleted.join(", ")
    );
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn principals(csv: &str) -> Vec<Principal> {
        parse_principals(csv, ImportFormat::Csv).unwrap()
    }

    #[test]
    fn an_import_lists_new_ids_and_each_changed_field_with_old_and_new_value() {
        let before: HashMap<PrincipalId, Principal> =
            principals("id,name,citizenships,residence\nmia,Mia,FR,FR\nbo,Bo,SE,SE\n")
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
        let imported = principals(
            "id,name,citizenships,residence\nmia,Mia,FR;US,FR\nbo,Bo,SE,SE\nzed,Zed,DE,DE\n",
        );
        let changes = ImportChanges::between(&before, &imported);
        assert_eq!(changes.inserted, ["zed"]);
        assert_eq!(changes.unchanged, 1);
        let details = changes.details();
        assert_eq!(
            details["updated"],
            json!([{ "id": "mia", "changed": { "citizenships": [["FR"], ["FR", "US"]] } }])
        );
        assert_eq!(
            details["counts"],
            json!({ "inserted": 1, "updated": 1, "unchanged": 1 })
        );
        assert_eq!(details["unlisted"], 0);
    }

    #[test]
    fn at_most_a_thousand_principals_are_listed_and_the_rest_counted() {
        let mut csv = String::from("id\n");
        for n in 0..1_500 {
            csv.push_str(&format!("p{n}\n"));
        }
        let changes = ImportChanges::between(&HashMap::new(), &principals(&csv));
        let details = changes.details();
        assert_eq!(details["inserted"].as_array().unwrap().len(), MAX_LISTED);
        assert_eq!(details["counts"]["inserted"], 1_500);
        assert_eq!(details["unlisted"], 500);
    }
}
