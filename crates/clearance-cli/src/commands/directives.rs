//! `clearance directives check|list|activate|preview` (and `diff|lint` in [`super::proof`]).
//!
//! The store is the source of truth for the set every gateway enforces. Activation compiles
//! the whole set (the active one, or the configured folder's, with the given files added or
//! replacing files of the same name), and only if it is valid stores it as a new version,
//! records the activation in the audit trail (with every file's SHA-256) and, where
//! `[directives] dir` is configured, writes the files into the folder too. Running gateways
//! swap the new set in whole.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clearance_config::Config;
use clearance_gateway::directives::{
    activation_action, catalog, sources_of, stored_set, with_drafts,
};
use clearance_policy::dir::{is_directive_file, read_dir};
use clearance_policy::preview::{Draft, PreviewInput, RequestGroup, render_text};
use clearance_policy::{Directive, DirectiveErrors, Effect, PolicyBook, SourceFile};
use clearance_store::Store;
use serde_json::{Value, json};

use super::{CLI_ACTOR, block_on, load_config, open_store, record_change};
use crate::cli::{DirectivesCommand, OutputFormat};

pub fn run(command: DirectivesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DirectivesCommand::Check {
            dir,
            config,
            format,
        } => {
            let config = load_config(&config.config)?;
            match dir.as_deref().or(configured_dir(&config)) {
                Some(dir) => {
                    let label = SetOrigin::Folder(dir.to_path_buf());
                    check(&config, read_dir(dir), &label, format)
                }
                None => block_on(async {
                    let store = open_store(&config).await?;
                    let (sources, label) = stored_sources(store.as_ref()).await?;
                    check(&config, Ok(sources), &label, format)
                })?,
            }
        }
        DirectivesCommand::List { config, format } => {
            let config = load_config(&config.config)?;
            match configured_dir(&config) {
                Some(dir) => list(
                    &config,
                    read_dir(dir),
                    &SetOrigin::Folder(dir.to_path_buf()),
                    format,
                ),
                None => block_on(async {
                    let store = open_store(&config).await?;
                    let (sources, label) = stored_sources(store.as_ref()).await?;
                    list(&config, Ok(sources), &label, format)
                })?,
            }
        }
        DirectivesCommand::Activate {
            files,
            config,
            dry_run,
            require_no_new_access,
        } => {
            let config = load_config(&config.config)?;
            let drafts = read_drafts(&files, "nothing was activated")?;
            block_on(async {
                let store = open_store(&config).await?;
                let proof = Proof {
                    require_no_new_access,
                };
                activate(&config, store.as_ref(), &drafts, dry_run, proof).await
            })?
        }
        DirectivesCommand::Diff {
            paths,
            active,
            config,
            window,
            require_no_new_access,
            format,
        } => super::proof::diff(
            &paths,
            active,
            &config.config,
            &window,
            require_no_new_access,
            format,
        ),
        DirectivesCommand::Lint {
            dir,
            config,
            window,
            format,
        } => super::proof::lint(dir.as_deref(), &config.config, &window, format),
        DirectivesCommand::Preview {
            draft,
            config,
            since,
            format,
        } => {
            let since = parse_since(&since, Utc::now())?;
            let config = load_config(&config.config)?;
            block_on(run_preview(&config, &draft, since, format))?
        }
    }
}

/// The configured directive folder, if any.
fn configured_dir(config: &Config) -> Option<&Path> {
    config.directives.as_ref().and_then(|d| d.dir.as_deref())
}

/// Where a listed or checked set comes from.
enum SetOrigin {
    Folder(PathBuf),
    /// The store's active set: its version (`None`: nothing activated yet).
    Store(Option<i64>),
}

impl SetOrigin {
    fn describe(&self) -> String {
        match self {
            SetOrigin::Folder(dir) => dir.display().to_string(),
            SetOrigin::Store(Some(version)) => {
                format!("the store's active set (store version {version})")
            }
            SetOrigin::Store(None) => "the store (no directive set activated yet)".to_string(),
        }
    }

    /// `dir` (or null) and `store_version` (or null), for JSON output.
    fn json_fields(&self, object: &mut Value) {
        let (dir, version) = match self {
            SetOrigin::Folder(dir) => (json!(dir.display().to_string()), Value::Null),
            SetOrigin::Store(version) => (Value::Null, json!(version)),
        };
        object["dir"] = dir;
        object["store_version"] = version;
    }
}

/// The store's active set's files (none before any activation).
async fn stored_sources(store: &dyn Store) -> anyhow::Result<(Vec<SourceFile>, SetOrigin)> {
    let active = store
        .active_directive_set()
        .await
        .context("reading the store's active directive set")?;
    Ok(match active {
        Some(set) => (sources_of(&set), SetOrigin::Store(Some(set.version))),
        None => (Vec::new(), SetOrigin::Store(None)),
    })
}

/// The files of the set in force and the folder drafts are placed in: the configured
/// folder's, or without one the store's active set (placed nowhere).
pub(super) async fn active_sources(
    config: &Config,
    store: &dyn Store,
) -> anyhow::Result<(Vec<SourceFile>, PathBuf)> {
    match configured_dir(config) {
        Some(dir) => match read_dir(dir) {
            Ok(sources) => Ok((sources, dir.to_path_buf())),
            Err(errors) => {
                report_errors(&errors, "the active folder is invalid");
                bail!("{} holds an invalid directive set", dir.display())
            }
        },
        None => Ok((stored_sources(store).await?.0, PathBuf::new())),
    }
}

/// What `activate` proves before it writes.
struct Proof {
    /// Refuse unless it is proved that nobody gains access.
    require_no_new_access: bool,
}

/// The set in force: the configured folder's, or without one the store's active set.
pub(super) async fn active_book(
    config: &Config,
    store: &dyn Store,
) -> anyhow::Result<Result<PolicyBook, DirectiveErrors>> {
    let sources = match configured_dir(config) {
        Some(dir) => read_dir(dir),
        None => Ok(stored_sources(store).await?.0),
    };
    Ok(sources.and_then(|sources| PolicyBook::compile(&sources, &catalog(config))))
}

fn check(
    config: &Config,
    sources: Result<Vec<SourceFile>, DirectiveErrors>,
    origin: &SetOrigin,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let compiled = sources.and_then(|sources| PolicyBook::compile(&sources, &catalog(config)));
    match compiled {
        Ok(book) => {
            match format {
                OutputFormat::Json => {
                    let mut out = json!({
                        "ok": true,
                        "version": book.version(),
                        "directives": book.directives().map(|d| directive_json(d)).collect::<Vec<_>>(),
                    });
                    origin.json_fields(&mut out);
                    print_json(&out)?;
                }
                OutputFormat::Text => {
                    outln!(
                        "{} OK (version {})",
                        directives(book.directives().count()),
                        book.version()
                    );
                    out!("{}", directive_table(&book));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            if format == OutputFormat::Json {
                let mut out = json!({ "ok": false, "errors": errors_json(&errors) });
                origin.json_fields(&mut out);
                print_json(&out)?;
            }
            report_errors(&errors, "the directive set is invalid");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn list(
    config: &Config,
    sources: Result<Vec<SourceFile>, DirectiveErrors>,
    origin: &SetOrigin,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let book = match sources.and_then(|sources| PolicyBook::compile(&sources, &catalog(config))) {
        Ok(book) => book,
        Err(errors) => {
            report_errors(
                &errors,
                &format!(
                    "{} holds an invalid set (running gateways keep the last valid one)",
                    origin.describe()
                ),
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    match format {
        OutputFormat::Json => {
            let mut out = json!({
                "version": book.version(),
                "directives": book.directives().map(|d| directive_json(d)).collect::<Vec<_>>(),
            });
            origin.json_fields(&mut out);
            print_json(&out)?;
        }
        OutputFormat::Text => {
            outln!("{} (version {})", origin.describe(), book.version());
            out!("{}", directive_table(&book));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn activate(
    config: &Config,
    store: &dyn Store,
    drafts: &[SourceFile],
    dry_run: bool,
    proof: Proof,
) -> anyhow::Result<ExitCode> {
    let dir = configured_dir(config);
    let active = store
        .active_directive_set()
        .await
        .context("reading the store's active directive set")?;
    let catalog = catalog(config);
    let from = active.as_ref().map_or_else(
        || PolicyBook::empty(&catalog).version().to_string(),
        |set| set.policy_version.clone(),
    );
    let place = dir.unwrap_or(Path::new(""));
    let base = match dir {
        Some(dir) => match read_dir(dir) {
            Ok(sources) => sources,
            Err(errors) => {
                report_errors(&errors, "nothing was activated");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => active.as_ref().map(sources_of).unwrap_or_default(),
    };
    let before = PolicyBook::compile(&base, &catalog);
    let sources = with_drafts(base, place, drafts);
    let book = match PolicyBook::compile(&sources, &catalog) {
        Ok(book) => book,
        Err(errors) => {
            let unchanged = match dir {
                Some(_) => "nothing was activated; the store and the directory are unchanged",
                None => "nothing was activated; the store is unchanged",
            };
            report_errors(&as_given(errors, place, drafts), unchanged);
            return Ok(ExitCode::FAILURE);
        }
    };
    let names: Vec<String> = drafts.iter().map(|d| file_name(&d.path)).collect();
    let old = before.unwrap_or_else(|_| PolicyBook::empty(&catalog));
    let proved = super::proof::prove_change(&old, &book).await;
    outln!("{}", super::proof::proof_line(&proved));
    if proof.require_no_new_access && !matches!(&proved, Ok(r) if r.no_new_access() == Some(true)) {
        if let Ok(report) = &proved {
            eprint!("{}", clearance_proof::report::render_diff(report));
        }
        eprintln!(
            "--require-no-new-access: it is not proved that nobody gains access; nothing was activated"
        );
        return Ok(ExitCode::FAILURE);
    }
    if dry_run {
        outln!(
            "dry run: with {} the set is valid ({}); policy version {} (now {from}); nothing was written",
            names.join(", "),
            directives(book.directives().count()),
            book.version()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let already = active
        .as_ref()
        .is_some_and(|set| set.policy_version == book.version());
    let mut store_version = active.as_ref().map_or(0, |set| set.version);
    if !already {
        let mut set = stored_set(&book, &sources, CLI_ACTOR);
        set.version = store
            .activate_directive_set(&set)
            .await
            .context("storing the directive set; nothing was activated")?;
        store_version = set.version;
        record_change(store, activation_action(&set, &from, CLI_ACTOR))
            .await
            .with_context(|| format!("directive set version {} is active", set.version))?;
    }
    if let Some(dir) = dir {
        clearance_policy::dir::write_atomically(dir, drafts).with_context(|| {
            format!(
                "the set is active in the store (version {store_version}), but its files could not be \
                 written to {}; gateways that read the folder would activate its old set again: fix \
                 the folder and activate the files again",
                dir.display()
            )
        })?;
    }
    let written = dir.map_or(String::new(), |d| format!(", written to {}", d.display()));
    if already {
        outln!(
            "the set with {} is already active: policy version {} (store version {store_version}); nothing was activated{written}",
            names.join(", "),
            book.version()
        );
    } else {
        outln!(
            "activated {}: store version {store_version}, policy version {} (was {from}){written}; {} in force once gateways reload",
            names.join(", "),
            book.version(),
            directives(book.directives().count())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads draft directive files; refuses names the directory reader would not pick up and two
/// files of the same name (saying `consequence`).
pub(super) fn read_drafts(files: &[PathBuf], consequence: &str) -> anyhow::Result<Vec<SourceFile>> {
    let mut drafts: Vec<SourceFile> = Vec::new();
    for path in files {
        if !is_directive_file(path) {
            bail!(
                "{}: a directive file's name must end in .toml or .cedar (and not start with a dot); {consequence}",
                path.display()
            );
        }
        if drafts
            .iter()
            .any(|d| d.path.file_name() == path.file_name())
        {
            bail!(
                "{}: two files named {} given; {consequence}",
                path.display(),
                file_name(path)
            );
        }
        let text = read_text(path)?;
        drafts.push(SourceFile {
            path: path.clone(),
            text,
        });
    }
    Ok(drafts)
}

/// A directive file's text; one that is not UTF-8 is refused at its first bad line.
fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    clearance_core::text::utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), e.line))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Problems in a draft are reported against the path the user gave, not the place in the
/// directory it would have been written to.
fn as_given(errors: DirectiveErrors, dir: &Path, drafts: &[SourceFile]) -> DirectiveErrors {
    let mut errors = errors;
    for error in &mut errors.0 {
        if let Some(draft) = drafts.iter().find(|d| {
            d.path
                .file_name()
                .is_some_and(|name| error.file == dir.join(name))
        }) {
            error.file.clone_from(&draft.path);
        }
    }
    errors
}

async fn run_preview(
    config: &Config,
    draft_path: &Path,
    since: DateTime<Utc>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let text = read_text(draft_path)?;
    let source = SourceFile {
        path: draft_path.to_path_buf(),
        text,
    };
    let draft = match Draft::compile(&source, &catalog(config)) {
        Ok(draft) => draft,
        Err(errors) => {
            report_errors(&errors, "the draft is invalid; nothing was previewed");
            return Ok(ExitCode::FAILURE);
        }
    };
    let store = open_store(config).await?;
    let principals = store.principals().await?;
    let (requests, in_window) = request_groups(store.as_ref(), since, draft.models()).await?;
    let preview = draft.preview(&PreviewInput {
        principals: &principals,
        requests: &requests,
        requests_in_window: in_window,
        since,
        now: Utc::now(),
    });
    let proof = preview_proof(config, store.as_ref(), &source).await?;
    match format {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&preview)?;
            value["proof"] = super::proof::proof_json(&proof);
            print_json(&value)?;
        }
        OutputFormat::Text => {
            out!("{}", render_text(&preview));
            outln!("\n{}", super::proof::proof_line(&proof));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The proof beside the preview's counts: the active set against the active set with the
/// draft added (or replacing the file of the same name). Never fails the preview.
async fn preview_proof(
    config: &Config,
    store: &dyn Store,
    draft: &SourceFile,
) -> anyhow::Result<Result<clearance_proof::DiffReport, String>> {
    let (active, place) = active_sources(config, store).await?;
    let catalog = catalog(config);
    let old = match PolicyBook::compile(&active, &catalog) {
        Ok(book) => book,
        Err(errors) => return Ok(Err(format!("the active set does not compile: {errors}"))),
    };
    let with_draft = with_drafts(active, &place, std::slice::from_ref(draft));
    let new = match PolicyBook::compile(&with_draft, &catalog) {
        Ok(book) => book,
        Err(errors) => {
            return Ok(Err(format!(
                "the active set with the draft does not compile: {errors}"
            )));
        }
    };
    Ok(super::proof::prove_change(&old, &new)
        .await
        .map_err(|e| e.to_string()))
}

/// The recorded requests since `since` for `models`, grouped by the store, and how many
/// requests of any model the window holds.
async fn request_groups(
    store: &dyn Store,
    since: DateTime<Utc>,
    models: &[String],
) -> anyhow::Result<(Vec<RequestGroup>, u64)> {
    let found = store
        .audit_fact_groups(since, Some(models))
        .await
        .context("reading recorded requests")?;
    let groups = found
        .groups
        .into_iter()
        .map(|g| RequestGroup {
            principal_id: g.principal_id,
            model: g.requested_model,
            facts_json: g.facts_json,
            count: g.count,
            first: g.first,
            last: g.last,
        })
        .collect();
    Ok((groups, found.records))
}

/// `--since`: a duration back from `now` (`30d`, `12h`, `90m`, `45s`, `2w`) or an RFC 3339 time.
pub(super) fn parse_since(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let bad = || {
        anyhow::anyhow!(
            "--since `{text}`: give a duration such as 30d, 12h, 90m, 45s or 2w, or an RFC 3339 time such as 2026-06-01T00:00:00Z"
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(seconds_per_unit)
        .and_then(Duration::try_seconds)
        .and_then(|back| now.checked_sub_signed(back))
        .ok_or_else(bad)
}

pub(super) fn report_errors(errors: &DirectiveErrors, consequence: &str) {
    for error in &errors.0 {
        eprintln!("{error}");
    }
    let count = errors.0.len();
    eprintln!(
        "{count} problem{} in the directive set; {consequence}",
        if count == 1 { "" } else { "s" }
    );
}

fn errors_json(errors: &DirectiveErrors) -> Vec<Value> {
    errors
        .0
        .iter()
        .map(|e| json!({ "file": e.file.display().to_string(), "line": e.line, "message": e.message }))
        .collect()
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn directive_json(d: &Directive) -> Value {
    let (effect, reroute_to) = match &d.effect {
        Effect::Deny => ("deny", None),
        Effect::Reroute(to) => ("reroute", Some(to.as_str())),
    };
    json!({
        "id": d.id,
        "title": d.title,
        "authority": d.authority,
        "mode": d.mode.as_str(),
        "effect": effect,
        "reroute_to": reroute_to,
        "scope": {
            "models": d.scope.models,
            "tags": d.scope.tags,
            "capabilities": d.scope.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        },
        "condition": d.condition,
        "window": { "effective": time(d.effective), "expires": time(d.expires) },
        "file": d.origin.file.display().to_string(),
        "line": d.origin.line,
    })
}

fn scope_words(d: &Directive) -> String {
    let mut parts = Vec::new();
    if !d.scope.models.is_empty() {
        parts.push(format!("models {}", d.scope.models.join(",")));
    }
    if !d.scope.tags.is_empty() {
        parts.push(format!("tags {}", d.scope.tags.join(",")));
    }
    if parts.is_empty() {
        parts.push("every model".to_string());
    }
    if !d.scope.capabilities.is_empty() {
        let names: Vec<&str> = d.scope.capabilities.iter().map(|c| c.as_str()).collect();
        parts.push(format!("only {}", names.join(",")));
    }
    parts.join("; ")
}

fn window_words(d: &Directive) -> String {
    match (time(d.effective), time(d.expires)) {
        (Some(from), Some(until)) => format!("{from} .. {until}"),
        (Some(from), None) => format!("from {from}"),
        (None, Some(until)) => format!("until {until}"),
        (None, None) => "in the policy".to_string(),
    }
}

fn directives(count: usize) -> String {
    format!("{count} directive{}", if count == 1 { "" } else { "s" })
}

/// One line per directive, columns aligned; nothing for an empty set.
fn directive_table(book: &PolicyBook) -> String {
    if book.directives().next().is_none() {
        return String::new();
    }
    let rows: Vec<[String; 7]> = book
        .directives()
        .map(|d| {
            let effect = match &d.effect {
                Effect::Deny => "deny".to_string(),
                Effect::Reroute(to) => format!("reroute:{to}"),
            };
            [
                d.id.clone(),
                d.mode.as_str().to_string(),
                effect,
                scope_words(d),
                window_words(d),
                format!("{}:{}", d.origin.file.display(), d.origin.line),
                d.title.clone(),
            ]
        })
        .collect();
    let header = ["ID", "MODE", "EFFECT", "SCOPE", "WINDOW", "FILE", "TITLE"].map(String::from);
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times_and_names_what_it_wants() {
        let now = DateTime::parse_from_rfc3339("2026-07-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let back = |text: &str| parse_since(text, now).map(|t| t.to_rfc3339());
        assert_eq!(back("30d").unwrap(), "2026-06-01T00:00:00+00:00");
        assert_eq!(back("12h").unwrap(), "2026-06-30T12:00:00+00:00");
        assert_eq!(back("90m").unwrap(), "2026-06-30T22:30:00+00:00");
        assert_eq!(back("2w").unwrap(), "2026-06-17T00:00:00+00:00");
        assert_eq!(
            back("2026-06-15T00:00:00Z").unwrap(),
            "2026-06-15T00:00:00+00:00"
        );
        for bad in ["", "30", "d", "30x", "-3d", "1.5h", "99999999999999999d"] {
            let error = back(bad).unwrap_err().to_string();
            assert!(
                error.contains("give a duration such as 30d"),
                "{bad}: {error}"
            );
        }
    }
}
