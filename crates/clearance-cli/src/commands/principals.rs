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

use super::{MAX_LISTED, block_on, cli_action, open_store_at, record_change_parts};
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

/// A file holds facts, not provisioning state: a principal the identity provider deactivated
/// stays deactivated whatever a file says, and keeps its confirmation time only when the file
/// leaves its facts as they were (facts a file changed were not confirmed by the provider).
/// Nor does a file hold screening results: each principal keeps its own until it is screened
/// again (see [`screen_new_and_changed`]).
fn carry_over_provisioning(
    before: &HashMap<PrincipalId, Principal>,
    principals: Vec<Principal>,
) -> Vec<Principal> {
    principals
        .into_iter()
        .map(|mut p| {
            if let Some(old) = before.get(&p.id) {
                p.active = old.active;
                p.facts_confirmed_at = old.facts_confirmed_at;
                p.screening.clone_from(&old.screening);
                if p != *old {
                    p.facts_confirmed_at = None;
                }
            }
            p
        })
        .collect()
}

async fn import(store: &dyn Store, file: &Path, format: ImportFormat) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = clearance_core::text::utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}:{}: {e}; nothing was imported", file.display(), e.line))?;
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
    let mut principals = carry_over_provisioning(&before, principals);
    let changes = ImportChanges::between(&before, &principals);
    screen_new_and_changed(store, &before, &mut principals).await?;
    drop(before);
    store.upsert_principals(&principals).await?;
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let parts = changes
        .details_parts()
        .into_iter()
        .map(|details| cli_action("principals_import", file_name.clone(), Some(details)))
        .collect();
    record_change_parts(store, parts)
        .await
        .with_context(|| format!("{} principals were imported", principals.len()))?;
    outln!(
        "imported {} principals from {}: {} new, {} updated, {} unchanged",
        principals.len(),
        file.display(),
        changes.inserted.len(),
        changes.updated.len(),
        changes.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// Screens the principals the file adds or changes against the imported lists before they
/// are stored, so new facts never take effect unscreened; unchanged ones keep their result
/// (every list import re-screens the whole registry). Without imported lists the fact stays
/// unknown.
async fn screen_new_and_changed(
    store: &dyn Store,
    before: &HashMap<PrincipalId, Principal>,
    principals: &mut [Principal],
) -> anyhow::Result<()> {
    let Some(lists) = clearance_gateway::screening::Lists::load(store)
        .await
        .context("loading the denied-party lists to screen the imported principals")?
    else {
        return Ok(());
    };
    let reviews = store.screening_reviews(None).await?;
    let now = chrono::Utc::now();
    for principal in principals.iter_mut() {
        if before.get(&principal.id) != Some(principal) {
            principal.screening = Some(lists.screen_principal(principal, &reviews, now));
        }
    }
    Ok(())
}

/// Principals listed in one record of an import: an import of any size is recorded whole, in
/// as many records as it takes, each bounded by this and by the caps on a principal's facts
/// (`clearance_core::limits`), so the trail alone can replay the registry.
const PRINCIPALS_PER_RECORD: usize = 100;

/// What an import changes in the registry.
#[derive(Debug, Default, PartialEq)]
struct ImportChanges {
    /// New principals, with every fact.
    inserted: Vec<Principal>,
    /// Each replaced principal whose facts differ: its id and `{field: [old, new]}`.
    updated: Vec<(String, Map<String, Value>)>,
    unchanged: usize,
}

impl ImportChanges {
    fn between(before: &HashMap<PrincipalId, Principal>, imported: &[Principal]) -> ImportChanges {
        let mut changes = ImportChanges::default();
        for principal in imported {
            match before.get(&principal.id) {
                None => changes.inserted.push(principal.clone()),
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

    /// The audit records' details, one per part of at most [`PRINCIPALS_PER_RECORD`]
    /// principals: the changed ones (each changed field, old and new), then the new ones (every
    /// fact). Every part carries the import's counts and its place (`part` of `parts`).
    fn details_parts(&self) -> Vec<Value> {
        let updated = self
            .updated
            .iter()
            .map(|(id, changed)| ("updated", json!({ "id": id, "changed": changed })));
        let inserted = self
            .inserted
            .iter()
            .map(|p| ("inserted", serde_json::to_value(p).unwrap_or(Value::Null)));
        let entries: Vec<(&str, Value)> = updated.chain(inserted).collect();
        let counts = json!({
            "inserted": self.inserted.len(),
            "updated": self.updated.len(),
            "unchanged": self.unchanged,
        });
        let chunks = clearance_core::limits::parts_within(
            &entries,
            clearance_core::limits::CHANGE_DETAILS_BUDGET,
            PRINCIPALS_PER_RECORD,
        );
        let parts = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let pick = |kind: &str| -> Vec<&Value> {
                    chunk
                        .iter()
                        .filter(|(k, _)| *k == kind)
                        .map(|(_, v)| v)
                        .collect()
                };
                json!({
                    "part": i + 1,
                    "parts": parts,
                    "inserted": pick("inserted"),
                    "updated": pick("updated"),
                    "counts": counts,
                })
            })
            .collect()
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
    let target = if deleted.len() == 1 {
        deleted[0].clone()
    } else {
        format!("{} principals", deleted.len())
    };
    // Every deleted id is in the trail, in as many records as it takes (each fits a log entry);
    // ids that were not there are listed in the first, up to a quarter of its room.
    let budget = clearance_core::limits::CHANGE_DETAILS_BUDGET;
    let listed_missing = clearance_core::limits::parts_within(&missing, budget / 4, MAX_LISTED)[0];
    let parts = clearance_core::limits::parts_within(&deleted, budget - budget / 4, usize::MAX);
    let count = parts.len();
    let actions = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let details = json!({
                "part": i + 1,
                "parts": count,
                "deleted": part,
                "missing": if i == 0 { listed_missing } else { &[] },
                "counts": { "deleted": deleted.len(), "missing": missing.len() },
            });
            cli_action("principals_delete", target.clone(), Some(details))
        })
        .collect();
    record_change_parts(store, actions)
        .await
        .with_context(|| format!("deleted {}", deleted.join(", ")))?;
    outln!(
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
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&view)?),
        OutputFormat::Text => {
            if let Some(object) = view.as_object() {
                for (key, value) in object {
                    outln!("{key:<22} {value}");
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
    fn an_import_lists_new_principals_and_each_changed_field_with_old_and_new_value() {
        let before: HashMap<PrincipalId, Principal> =
            principals("id,name,citizenships,residence\nmia,Mia,FR,FR\nbo,Bo,SE,SE\n")
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
        let imported = principals(
            "id,name,citizenships,residence\nmia,Mia,FR;US,FR\nbo,Bo,SE,SE\nzed,Zed,DE,DE\n",
        );
        let changes = ImportChanges::between(&before, &imported);
        assert_eq!(changes.unchanged, 1);
        let parts = changes.details_parts();
        assert_eq!(parts.len(), 1);
        let details = &parts[0];
        assert_eq!(
            details["updated"],
            json!([{ "id": "mia", "changed": { "citizenships": [["FR"], ["FR", "US"]] } }])
        );
        assert_eq!(details["inserted"][0]["id"], "zed");
        assert_eq!(
            details["inserted"][0]["citizenships"],
            json!(["DE"]),
            "every fact: {details}"
        );
        assert_eq!(
            details["counts"],
            json!({ "inserted": 1, "updated": 1, "unchanged": 1 })
        );
    }

    #[test]
    fn a_file_never_reactivates_a_deactivated_principal_nor_confirms_facts_it_changed() {
        let confirmed = chrono::Utc::now();
        let before: HashMap<PrincipalId, Principal> =
            principals("id,citizenships\nmia,FR\nbo,SE\n")
                .into_iter()
                .map(|mut p| {
                    p.active = p.id.as_str() != "mia";
                    p.facts_confirmed_at = Some(confirmed);
                    (p.id.clone(), p)
                })
                .collect();
        let imported =
            carry_over_provisioning(&before, principals("id,citizenships\nmia,FR\nbo,US\n"));
        let (mia, bo) = (&imported[0], &imported[1]);
        assert!(!mia.active, "still deactivated");
        assert_eq!(
            mia.facts_confirmed_at,
            Some(confirmed),
            "facts unchanged: still confirmed"
        );
        assert!(bo.active);
        assert_eq!(
            bo.facts_confirmed_at, None,
            "facts changed by a file are not confirmed"
        );
        assert_eq!(ImportChanges::between(&before, &imported).unchanged, 1);
    }

    #[test]
    fn a_large_import_is_recorded_whole_in_bounded_parts() {
        let mut csv = String::from("id,org\n");
        for n in 0..1_050 {
            csv.push_str(&format!(
                "p{n},{}\n",
                "o".repeat(clearance_core::limits::MAX_ORG_CHARS)
            ));
        }
        let changes = ImportChanges::between(&HashMap::new(), &principals(&csv));
        let parts = changes.details_parts();
        assert_eq!(parts.len(), 11);
        let listed: usize = parts
            .iter()
            .map(|p| p["inserted"].as_array().unwrap().len())
            .sum();
        assert_eq!(listed, 1_050, "every principal is in the trail");
        for part in &parts {
            assert_eq!(part["counts"]["inserted"], 1_050);
            assert!(part.to_string().len() < 100 * 1024, "each record bounded");
        }
        assert_eq!(parts[10]["part"], 11);
    }

    /// Principals at every cap, with four-byte characters: parts stay within the budget, so
    /// each record fits an entry bundle of the verifiable log.
    #[test]
    fn parts_of_the_widest_principals_fit_a_log_entry() {
        use clearance_core::limits::{CHANGE_DETAILS_BUDGET, MAX_ORG_CHARS, MAX_RECORD_BYTES};
        let mut csv = String::from("id,name,org\n");
        for n in 0..300 {
            csv.push_str(&format!(
                "p{n},{},{}\n",
                "\u{1F600}".repeat(200),
                "\u{1F600}".repeat(MAX_ORG_CHARS)
            ));
        }
        let changes = ImportChanges::between(&HashMap::new(), &principals(&csv));
        let parts = changes.details_parts();
        assert!(parts.len() > 3, "{} parts", parts.len());
        let listed: usize = parts
            .iter()
            .map(|p| p["inserted"].as_array().unwrap().len())
            .sum();
        assert_eq!(listed, 300);
        for part in &parts {
            let len = part.to_string().len();
            assert!(len <= CHANGE_DETAILS_BUDGET + 1024, "{len}");
            // The rest of a change record (who, when, what) is well under 4 KiB.
            assert!(len + 4096 < MAX_RECORD_BYTES, "{len}");
        }
    }
}
