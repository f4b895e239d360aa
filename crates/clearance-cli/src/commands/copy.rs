//! `clearance store copy`: everything one store holds, into another, empty one (SQLite to
//! PostgreSQL when a deployment grows to several replicas, or back). The audit trail is copied
//! record by record with its hashes as they are, so the copy verifies on its own; the copy
//! itself is recorded in the target's trail. Denied-party list versions are copied oldest
//! first (so each source's current version stays current) and screening reviews in the order
//! they were made; principals carry their screening facts with them.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clearance_config::Config;
use clearance_store::{Store, TrailReport, verify_audit_trail};
use serde_json::json;

use super::audit::trail_text;
use super::{block_on, cli_action, load_config, open_store, record_change, store_name};
use crate::cli::StoreCommand;

/// Rows read and written at a time: the audit trail is copied in constant memory.
const PAGE: usize = 10_000;

pub fn run(command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Copy {
            from_config,
            to_config,
        } => {
            let from = load_config(&from_config)?;
            let to = load_config(&to_config)?;
            block_on(copy(&from, &to))?
        }
    }
}

/// What was copied.
#[derive(Debug, Default)]
struct Copied {
    principals: usize,
    keys: usize,
    revoked_keys: usize,
    switched_models: usize,
    switch_changes: usize,
    directive_sets: usize,
    /// SCIM Users and Groups (with their versions, so ETags carry over).
    scim_resources: usize,
    /// Denied-party list versions, every one (not only the current ones).
    screening_lists: usize,
    screening_reviews: usize,
    logs: usize,
    records: u64,
    /// Differences between the two stores after the copy that the store API cannot avoid
    /// (none expected).
    warnings: Vec<String>,
}

async fn copy(from: &Config, to: &Config) -> anyhow::Result<ExitCode> {
    let (from_name, to_name) = (store_name(from), store_name(to));
    let source = open_store(from).await?;
    let target = open_store(to).await?;
    refuse_used(target.as_ref(), &to_name).await?;
    let report = verify_audit_trail(source.as_ref())
        .await
        .with_context(|| format!("checking the audit trail of {from_name}"))?;
    if !report.ok() {
        eprint!("{}", trail_text(&report));
        bail!(
            "the audit trail of {from_name} does not verify, and a copy cannot carry the break as \
             it is; nothing was copied"
        );
    }
    if let Some(log) = report.logs.iter().find(|l| l.pruned > 0) {
        bail!(
            "audit log {} of {from_name} has {} pruned records: the copy derives each log's Merkle tree \
             from the records' bodies, so it would not match the log's signed checkpoints; copy \
             before pruning (nothing was copied)",
            log.log.log_id,
            log.pruned
        );
    }
    let copied = copy_all(source.as_ref(), target.as_ref(), &report)
        .await
        .with_context(|| {
            format!(
                "the copy stopped part way: {to_name} holds a partial copy; empty it (a new \
                 database) before copying again"
            )
        })?;
    let details = json!({
        "from": from_name,
        "principals": copied.principals,
        "keys": copied.keys,
        "kill_switch_changes": copied.switch_changes,
        "directive_sets": copied.directive_sets,
        "scim_resources": copied.scim_resources,
        "screening_lists": copied.screening_lists,
        "screening_reviews": copied.screening_reviews,
        "audit_logs": copied.logs,
        "audit_records": copied.records,
    });
    record_change(
        target.as_ref(),
        cli_action("store_copy", from_name.clone(), Some(details)),
    )
    .await
    .context("everything was copied")?;
    outln!("copied {from_name} to {to_name}:");
    outln!("  principals      {}", copied.principals);
    outln!(
        "  keys            {} ({} revoked)",
        copied.keys,
        copied.revoked_keys
    );
    outln!(
        "  kill switches   {} models, {} changes",
        copied.switched_models,
        copied.switch_changes
    );
    outln!("  directive sets  {}", copied.directive_sets);
    outln!("  SCIM resources  {}", copied.scim_resources);
    outln!(
        "  screening       {} list versions, {} reviews",
        copied.screening_lists,
        copied.screening_reviews
    );
    outln!(
        "  audit logs      {}, {} records",
        copied.logs,
        copied.records
    );
    for warning in &copied.warnings {
        eprintln!("warning: {warning}");
    }
    let check = verify_audit_trail(target.as_ref())
        .await
        .with_context(|| format!("verifying the audit trail of {to_name}"))?;
    outln!("the copy's audit trail:");
    out!("{}", trail_text(&check));
    Ok(if check.ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("the copy's audit trail does not verify; do not use {to_name}");
        ExitCode::FAILURE
    })
}

/// Refuses a target that already holds anything: a copy onto a used store would mix two
/// registries and two trails.
async fn refuse_used(target: &dyn Store, name: &str) -> anyhow::Result<()> {
    let mut held = Vec::new();
    let mut count = |n: usize, what: &str| {
        if n > 0 {
            held.push(format!("{n} {what}"));
        }
    };
    count(target.audit_logs().await?.len(), "audit log(s)");
    count(target.principals().await?.len(), "principal(s)");
    count(target.keys().await?.len(), "key(s)");
    count(target.model_switches().await?.len(), "kill switch(es)");
    count(target.directive_sets().await?.len(), "directive set(s)");
    count(
        target.scim_snapshot().await?.resources.len(),
        "SCIM resource(s)",
    );
    count(
        target.screening_lists().await?.len(),
        "screening list version(s)",
    );
    count(
        target.screening_reviews(None).await?.len(),
        "screening review(s)",
    );
    if !held.is_empty() {
        bail!(
            "{name} is not empty (it holds {}); `clearance store copy` copies only into an empty \
             store, so nothing was copied",
            held.join(", ")
        );
    }
    Ok(())
}

async fn copy_all(
    source: &dyn Store,
    target: &dyn Store,
    report: &TrailReport,
) -> anyhow::Result<Copied> {
    let mut copied = Copied::default();

    let principals = source.principals().await.context("reading principals")?;
    for chunk in principals.chunks(PAGE) {
        target
            .upsert_principals(chunk)
            .await
            .context("writing principals")?;
    }
    copied.principals = principals.len();
    drop(principals);

    // Provisioned Users and Groups as they are (their principals were copied above).
    let scim = source
        .scim_snapshot()
        .await
        .context("reading SCIM resources")?;
    copied.scim_resources = scim.resources.len();
    let expected_version = target.scim_snapshot().await?.version;
    target
        .scim_commit(&clearance_store::ScimCommit {
            expected_version,
            put: scim.resources,
            ..clearance_store::ScimCommit::default()
        })
        .await
        .context("writing SCIM resources")?;

    copy_screening(source, target, &mut copied).await?;

    for key in source.keys().await.context("reading keys")? {
        target.insert_key(&key).await.context("writing keys")?;
        copied.keys += 1;
        copied.revoked_keys += usize::from(key.revoked.is_some());
    }

    let switches = source
        .model_switches()
        .await
        .context("reading kill switches")?;
    for current in &switches {
        let history = source
            .model_switch_history(&current.model)
            .await
            .context("reading a kill switch's history")?;
        for change in &history {
            target
                .set_model_switch(change)
                .await
                .context("writing kill switch history")?;
        }
        copied.switch_changes += history.len();
        if history.last() != Some(current) {
            // A switch whose history does not end in its current state: set it as it is.
            target
                .set_model_switch(current)
                .await
                .context("writing a kill switch")?;
            copied.warnings.push(format!(
                "model {}: its kill switch history does not end in its current state; the current \
                 state was written after the history",
                current.model
            ));
        }
        copied.switched_models += 1;
    }

    for set in source
        .directive_sets()
        .await
        .context("reading directive sets")?
    {
        let version = target
            .activate_directive_set(&set)
            .await
            .context("writing directive sets")?;
        if version != set.version {
            copied.warnings.push(format!(
                "directive set version {} was stored as version {version}",
                set.version
            ));
        }
        copied.directive_sets += 1;
    }

    // The logs as they were checked: records written after the check (a gateway still
    // running on the source) are not copied, so every copied log ends where it verified.
    for checked in &report.logs {
        let log = &checked.log;
        target
            .open_log(&log.log_id, &log.replica, log.opened_at)
            .await
            .with_context(|| format!("registering audit log {}", log.log_id))?;
        let end = checked.verified.seq;
        let mut after = 0;
        while after < end {
            let mut page = source
                .audit_page(&log.log_id, after, PAGE)
                .await
                .with_context(|| format!("reading audit log {}", log.log_id))?;
            page.retain(|r| r.seq <= end);
            let Some(last) = page.last() else { break };
            after = last.seq;
            target
                .append_audit(&log.log_id, &page)
                .await
                .with_context(|| format!("writing audit log {}", log.log_id))?;
            copied.records += page.len() as u64;
        }
        // The tree is re-derived from the same records, so every signed checkpoint (and its
        // cosignatures) holds for the copy as it did for the source.
        for checkpoint in source
            .checkpoints(&log.log_id)
            .await
            .with_context(|| format!("reading checkpoints of audit log {}", log.log_id))?
            .into_iter()
            .filter(|c| c.size <= end)
        {
            target
                .put_checkpoint(&checkpoint)
                .await
                .with_context(|| format!("writing checkpoints of audit log {}", log.log_id))?;
        }
        if let Some(closed_at) = log.closed_at {
            target
                .close_log(&log.log_id, closed_at)
                .await
                .with_context(|| format!("closing audit log {}", log.log_id))?;
        }
        copied.logs += 1;
    }
    Ok(copied)
}

/// Every list version, oldest first (the store makes the latest stored its source's current
/// one), each with its files; then every review in the order made. Nothing is re-screened:
/// the principals, copied before, carry the screening facts they had.
async fn copy_screening(
    source: &dyn Store,
    target: &dyn Store,
    copied: &mut Copied,
) -> anyhow::Result<()> {
    let versions = source
        .screening_lists()
        .await
        .context("reading screening list versions")?;
    for version in versions.iter().rev() {
        let data = source
            .screening_list(&version.version_id)
            .await
            .with_context(|| format!("reading screening list version {}", version.version_id))?
            .with_context(|| {
                format!(
                    "screening list version {} was listed but could not be read",
                    version.version_id
                )
            })?;
        target
            .put_screening_list(&data, &[])
            .await
            .with_context(|| format!("writing screening list version {}", version.version_id))?;
        copied.screening_lists += 1;
    }
    for review in source
        .screening_reviews(None)
        .await
        .context("reading screening reviews")?
    {
        let id = target
            .add_screening_review(&review, None)
            .await
            .context("writing screening reviews")?;
        if id != review.id {
            // The audit trail names reviews by id (`screening_review` records' `review_id`).
            copied.warnings.push(format!(
                "screening review {} was stored as review {id}",
                review.id
            ));
        }
        copied.screening_reviews += 1;
    }
    Ok(())
}
