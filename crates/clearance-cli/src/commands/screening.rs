//! `clearance lists import|list`, `clearance screen` and `clearance screening review`.
//!
//! A list import and a review are changes to who may do what: each is stored together with the
//! principals it re-screens, in one transaction, and then recorded in the audit trail (actor
//! `cli` for imports, the reviewer for reviews) with what changed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use clearance_core::audit::AdminAction;
use clearance_core::principal::PrincipalId;
use clearance_core::screening::{ReviewDecision, ScreeningFact};
use clearance_gateway::screening::{
    ListFiles, ListKind, Lists, ReviewRequest, StoredFile, entry_name, parse_entry_name,
    review as store_review,
};
use clearance_screening::{DateOfBirth, Evidence, PartyKind, Query};
use clearance_store::Store;
use rayon::prelude::*;
use serde_json::json;

use super::{CLI_ACTOR, MAX_LISTED, block_on, cli_action, open_store_at, record_change};
use crate::cli::{ListSourceArg, ListsCommand, OutputFormat, ScreenArgs, ScreeningCommand};

pub fn lists(command: ListsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ListsCommand::Import {
            source,
            path,
            allow_shrink,
            config,
        } => {
            let kind = match source {
                ListSourceArg::OfacSdn => ListKind::OfacSdn,
                ListSourceArg::BisDpl => ListKind::BisDpl,
                ListSourceArg::Csl => ListKind::Csl,
            };
            // Read and parsed before the store is opened: a bad file changes nothing.
            let files = read_list(kind, &path)?;
            let parsed = match files.parse() {
                Ok(parsed) => parsed,
                Err(error) => {
                    eprintln!("error: {error}");
                    eprintln!(
                        "nothing was imported; the previous version of the list stays in force"
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            block_on(async {
                let (_, store) = open_store_at(&config.config).await?;
                import(store.as_ref(), files, parsed, allow_shrink).await
            })?
        }
        ListsCommand::List { config, format } => block_on(async {
            let (_, store) = open_store_at(&config.config).await?;
            list_versions(store.as_ref(), format).await
        })?,
    }
}

/// A list as published: the SDN folder's files, or the one file of the others.
fn read_list(kind: ListKind, path: &Path) -> anyhow::Result<ListFiles> {
    let read = |path: &Path| -> anyhow::Result<StoredFile> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(StoredFile { name, bytes })
    };
    let files = match ListFiles::file_names(kind) {
        [] => vec![read(path)?],
        names => {
            if !path.is_dir() {
                bail!(
                    "{} is not a folder: the {} list is published as {} in one folder",
                    path.display(),
                    kind.as_str(),
                    names.join(", ")
                );
            }
            let mut files = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let file = path.join(name);
                // The first two are required; `add.csv` (addresses) is optional.
                if i < 2 || file.exists() {
                    files.push(read(&file)?);
                }
            }
            files
        }
    };
    Ok(ListFiles {
        source: kind.as_str().to_string(),
        files,
    })
}

async fn import(
    store: &dyn Store,
    files: ListFiles,
    parsed: clearance_screening::ParsedList,
    allow_shrink: bool,
) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let data = files.to_stored(&parsed, CLI_ACTOR, now);
    let version_id = data.meta.version_id.clone();
    let stored = store.screening_lists().await?;
    let current = stored.iter().find(|v| v.source == data.meta.source);
    if stored.iter().any(|v| v.version_id == version_id) {
        match current {
            Some(c) if c.version_id != version_id => outln!(
                "{version_id} was imported before, but {} is current: nothing changed (a version \
                 is stored once; a newer publication replaces it)",
                c.version_id
            ),
            _ => outln!("{version_id} is already imported (same SHA-256): nothing changed"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(current) = current
        && data.meta.record_count * 2 < current.record_count
        && !allow_shrink
    {
        eprintln!(
            "error: {version_id} holds {} entries, fewer than half of the current {} ({}): a \
             cut-short download would clear everyone the lost entries matched",
            data.meta.record_count, current.version_id, current.record_count
        );
        eprintln!("nothing was imported; if the list really shrank, import it with --allow-shrink");
        return Ok(ExitCode::FAILURE);
    }
    // The other sources' current versions, and this one in place of its source's.
    let mut current = Vec::new();
    for other in store.current_screening_lists().await? {
        if other.meta.source != data.meta.source {
            let parsed = ListFiles::from_stored(&other)?.parse()?;
            current.push((other.meta, parsed));
        }
    }
    current.push((data.meta.clone(), parsed));
    let lists = Lists::new(current);
    let reviews = store.screening_reviews(None).await?;
    let mut principals = store.principals().await?;
    let before: HashMap<PrincipalId, Option<&'static str>> = principals
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                p.screening.as_ref().map(|s| s.status.as_str()),
            )
        })
        .collect();
    let progress = progress_bar(principals.len(), "re-screening the registry");
    principals.par_iter_mut().for_each(|principal| {
        principal.screening = Some(lists.screen_principal(principal, &reviews, now));
        progress.inc(1);
    });
    progress.finish_and_clear();
    let changed: Vec<serde_json::Value> = principals
        .iter()
        .filter_map(|p| {
            let after = p.screening.as_ref().map(|s| s.status.as_str());
            let was = before.get(&p.id).copied().flatten();
            (was != after).then(|| json!({ "id": p.id, "from": was, "to": after }))
        })
        .collect();
    store
        .put_screening_list(&data, &principals)
        .await
        .context("storing the list version and the re-screened principals")?;
    let meta = &data.meta;
    let details = json!({
        "source": meta.source,
        "sha256": meta.sha256,
        "published": meta.published,
        "records": meta.record_count,
        "aliases": meta.alias_count,
        "rescreened": principals.len(),
        "status_changes": changed.len(),
        "changed": changed.iter().take(MAX_LISTED).collect::<Vec<_>>(),
    });
    record_change(
        store,
        cli_action("screening_list_import", &version_id, Some(details)),
    )
    .await?;
    outln!(
        "imported {version_id}: {} entries, {} aliases; re-screened {} principals, {} changed status",
        meta.record_count,
        meta.alias_count,
        principals.len(),
        changed.len()
    );
    for change in changed.iter().take(20) {
        outln!(
            "  {}: {} -> {}",
            change["id"].as_str().unwrap_or_default(),
            change["from"].as_str().unwrap_or("unscreened"),
            change["to"].as_str().unwrap_or("unscreened")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_versions(store: &dyn Store, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let versions = store.screening_lists().await?;
    match format {
        OutputFormat::Json => {
            let rows: Vec<_> = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version_id, "source": v.source, "sha256": v.sha256,
                        "published": v.published, "records": v.record_count,
                        "aliases": v.alias_count, "imported_at": v.imported_at, "by": v.actor,
                    })
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&rows)?);
        }
        OutputFormat::Text if versions.is_empty() => {
            outln!(
                "no list imported yet (clearance lists import --source ofac-sdn|bis-dpl|csl PATH)"
            );
        }
        OutputFormat::Text => {
            for v in &versions {
                outln!(
                    "{:<28} {:>6} entries {:>6} aliases  imported {} by {}",
                    v.version_id,
                    v.record_count,
                    v.alias_count,
                    v.imported_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    v.actor
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal's stderr; hidden otherwise (pipes, CI).
fn progress_bar(len: usize, message: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || len < 100 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}

async fn current_lists(store: &dyn Store) -> anyhow::Result<Lists> {
    match Lists::load(store).await? {
        Some(lists) => Ok(lists),
        None => bail!(
            "no denied-party list is imported; import one first: clearance lists import --source ofac-sdn|bis-dpl|csl PATH"
        ),
    }
}

pub fn screen(args: ScreenArgs) -> anyhow::Result<ExitCode> {
    let query = match &args.name {
        Some(name) => Some(query(name, &args)?),
        None => None,
    };
    block_on(async {
        let (_, store) = open_store_at(&args.config.config).await?;
        let lists = current_lists(store.as_ref()).await?;
        match query {
            Some(query) => screen_name(&lists, &query, args.format),
            None => screen_registry(store.as_ref(), &lists, args.format).await,
        }
    })?
}

fn query(name: &str, args: &ScreenArgs) -> anyhow::Result<Query> {
    if name.trim().is_empty() {
        bail!("--name is empty");
    }
    let kind = if args.org {
        PartyKind::Organisation
    } else {
        PartyKind::Individual
    };
    let mut query = Query::new(name, kind);
    if let Some(country) = &args.country {
        let code: clearance_core::country::CountryCode = country.parse().map_err(|_| {
            anyhow::anyhow!("--country `{country}` is not an ISO 3166-1 alpha-2 code")
        })?;
        query = query.with_country(code.as_str());
    }
    if let Some(dob) = &args.dob {
        let date = chrono::NaiveDate::parse_from_str(dob, "%Y-%m-%d")
            .map_err(|e| anyhow::anyhow!("--dob `{dob}` is not a date like 1960-01-12: {e}"))?;
        use chrono::Datelike;
        let dob = DateOfBirth::ymd(date.year(), date.month(), date.day())
            .with_context(|| format!("--dob `{dob}` is not a usable date"))?;
        query = query.with_date_of_birth(dob);
    }
    Ok(query)
}

fn evidence_json(lists: &Lists, e: &Evidence) -> serde_json::Value {
    // Named as a principal's screening evidence names them.
    let list = lists
        .versions()
        .iter()
        .find(|v| v.sha256 == e.list_version)
        .map_or_else(|| e.list_version.clone(), |v| v.version_id.clone());
    json!({
        "list": list,
        "source": e.source.to_string(),
        "entity_id": e.entity_id,
        "entry": format!("{}:{}", e.source, e.entity_id),
        "entity_name": e.entity_name,
        "matched_name": e.matched_name,
        "alias_type": e.alias_type.map(|a| format!("{a:?}").to_lowercase()),
        "score": (e.score * 1000.0).round() / 1000.0,
        "algorithm": e.algorithm_version,
        "reasons": e.reasons,
    })
}

fn screen_name(lists: &Lists, query: &Query, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let result = lists.screener().screen(query);
    let status = match result.status {
        clearance_screening::ScreeningStatus::Clear => "clear",
        clearance_screening::ScreeningStatus::PotentialMatch => "potential_match",
        clearance_screening::ScreeningStatus::Match => "match",
    };
    match format {
        OutputFormat::Json => {
            let body = json!({
                "name": query.name,
                "status": status,
                "lists": lists.versions().iter().map(|v| &v.version_id).collect::<Vec<_>>(),
                "matches": result.matches.iter().map(|e| evidence_json(lists, e)).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&body)?);
        }
        OutputFormat::Text => {
            outln!("{}: {status}", query.name);
            for e in &result.matches {
                outln!(
                    "  {:.3}  {}:{}  {}{}",
                    e.score,
                    e.source,
                    e.entity_id,
                    e.matched_name,
                    if e.matched_name == e.entity_name {
                        String::new()
                    } else {
                        format!(" (a.k.a. of {})", e.entity_name)
                    }
                );
                for reason in &e.reasons {
                    outln!("         {reason}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn screen_registry(
    store: &dyn Store,
    lists: &Lists,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let principals = store.principals().await?;
    let reviews = store.screening_reviews(None).await?;
    let now = Utc::now();
    let progress = progress_bar(principals.len(), "screening the registry");
    let results: Vec<(PrincipalId, ScreeningFact)> = principals
        .par_iter()
        .map(|principal| {
            let fact = lists.screen_principal(principal, &reviews, now);
            progress.inc(1);
            (principal.id.clone(), fact)
        })
        .collect();
    progress.finish_and_clear();
    match format {
        OutputFormat::Json => {
            let rows: Vec<_> = results
                .iter()
                .map(|(id, fact)| json!({ "id": id, "screening": fact }))
                .collect();
            outln!("{}", serde_json::to_string_pretty(&rows)?);
        }
        OutputFormat::Text => {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (id, fact) in &results {
                *counts.entry(fact.status.as_str()).or_default() += 1;
                outln!("{id}: {}", fact.status.as_str());
                for m in &fact.matches {
                    let review = m.review.as_ref().map_or_else(String::new, |r| {
                        format!("  [{} by {}: {}]", r.decision.as_str(), r.actor, r.reason)
                    });
                    outln!(
                        "  {:.3}  {:<20} {} ({}){review}",
                        f64::from(m.score_milli) / 1000.0,
                        entry_name(m),
                        m.matched_name,
                        m.subject
                    );
                }
            }
            outln!(
                "{} principals: {} clear, {} potential_match, {} match (lists: {})",
                results.len(),
                counts.get("clear").copied().unwrap_or(0),
                counts.get("potential_match").copied().unwrap_or(0),
                counts.get("match").copied().unwrap_or(0),
                lists
                    .versions()
                    .iter()
                    .map(|v| v.version_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn review(command: ScreeningCommand) -> anyhow::Result<ExitCode> {
    let ScreeningCommand::Review {
        principal,
        entry,
        confirm,
        clear: _,
        reason,
        by,
        config,
    } = command;
    let principal: PrincipalId = principal
        .parse()
        .map_err(|e| anyhow::anyhow!("`{principal}` is not a principal id: {e}"))?;
    let decision = if confirm {
        ReviewDecision::Confirm
    } else {
        ReviewDecision::Clear
    };
    block_on(async {
        let (_, store) = open_store_at(&config.config).await?;
        let lists = current_lists(store.as_ref()).await?;
        let (list_source, entity_id) = match entry {
            Some(text) => parse_entry_name(&text).with_context(|| {
                format!(
                    "--entry `{text}` is not `<list>:<entity id>` (e.g. ofac-sdn:1234, csl:EL:5678)"
                )
            })?,
            None => only_match(store.as_ref(), &lists, &principal).await?,
        };
        let request = ReviewRequest {
            principal: principal.clone(),
            list_source,
            entity_id,
            decision,
            reason,
            actor: by,
        };
        let outcome = store_review(store.as_ref(), Some(&lists), &request, Utc::now()).await?;
        let entry = format!("{}:{}", request.list_source, request.entity_id);
        let details = json!({
            "entry": entry,
            "decision": decision.as_str(),
            "reason": request.reason,
            "review_id": outcome.review_id,
            "screening": {
                "from": outcome.before.map(|s| s.as_str()),
                "to": outcome.after.as_str(),
            },
        });
        record_change(
            store.as_ref(),
            AdminAction {
                action: "screening_review".to_string(),
                target: principal.to_string(),
                reason: Some(request.reason.clone()),
                actor: request.actor.clone(),
                details: Some(details),
            },
        )
        .await?;
        outln!(
            "{}: {entry} {}; screening now {}",
            principal,
            match decision {
                ReviewDecision::Confirm => "confirmed",
                ReviewDecision::Clear => "cleared",
            },
            outcome.after.as_str()
        );
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })?
}

/// The principal's one match, when `--entry` is left out.
async fn only_match(
    store: &dyn Store,
    lists: &Lists,
    principal: &PrincipalId,
) -> anyhow::Result<(String, String)> {
    let p = store
        .principal(principal)
        .await?
        .with_context(|| format!("no principal `{principal}`"))?;
    let reviews = store.screening_reviews(Some(principal.as_str())).await?;
    let fact = lists.screen_principal(&p, &reviews, Utc::now());
    match fact.matches.as_slice() {
        [] => bail!("`{principal}` matches no list entry: there is nothing to review"),
        [only] => Ok((only.source.clone(), only.entity_id.clone())),
        many => bail!(
            "`{principal}` has {} matches; name one with --entry: {}",
            many.len(),
            many.iter().map(entry_name).collect::<Vec<_>>().join(", ")
        ),
    }
}
