//! `clearance directives check|list|activate|preview`.
//!
//! Activation writes files into the directive directory and nothing else: running gateways
//! poll the directory and swap the new set in whole. A set with any problem is never written,
//! so the directory only ever holds a set that compiled here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clearance_config::Config;
use clearance_gateway::directives::{book_with, catalog, load_book};
use clearance_policy::dir::{is_directive_file, read_dir};
use clearance_policy::preview::{Draft, PreviewInput, RequestGroup, render_text};
use clearance_policy::{Directive, DirectiveErrors, Effect, PolicyBook, SourceFile};
use clearance_store::Store;
use serde_json::{Value, json};

use super::{block_on, load_config, store_of};
use crate::cli::{DirectivesCommand, OutputFormat};

pub fn run(command: DirectivesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DirectivesCommand::Check {
            dir,
            config,
            format,
        } => check(&load_config(&config.config)?, dir.as_deref(), format),
        DirectivesCommand::List { config, format } => list(&load_config(&config.config)?, format),
        DirectivesCommand::Activate {
            files,
            config,
            dry_run,
        } => activate(&load_config(&config.config)?, &files, dry_run),
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

/// The configured directive directory, for commands that need one.
fn configured_dir(config: &Config) -> anyhow::Result<&Path> {
    match &config.directives {
        Some(d) => Ok(&d.dir),
        None => bail!(
            "{} has no `[directives] dir`: add a [directives] section naming the folder of directive files",
            config.source.display()
        ),
    }
}

fn check(config: &Config, dir: Option<&Path>, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(dir) => dir,
        None => configured_dir(config).context("no directory given")?,
    };
    let compiled =
        read_dir(dir).and_then(|sources| PolicyBook::compile(&sources, &catalog(config)));
    match compiled {
        Ok(book) => {
            match format {
                OutputFormat::Json => print_json(&json!({
                    "ok": true,
                    "dir": dir.display().to_string(),
                    "version": book.version(),
                    "directives": book.directives().map(|d| directive_json(d)).collect::<Vec<_>>(),
                }))?,
                OutputFormat::Text => {
                    println!(
                        "{} OK (version {})",
                        directives(book.directives().count()),
                        book.version()
                    );
                    print!("{}", directive_table(&book));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            if format == OutputFormat::Json {
                print_json(
                    &json!({ "ok": false, "dir": dir.display().to_string(), "errors": errors_json(&errors) }),
                )?;
            }
            report_errors(&errors, "the directive set is invalid");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn list(config: &Config, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let dir = configured_dir(config)?;
    let book = match load_book(config) {
        Ok(book) => book,
        Err(errors) => {
            report_errors(
                &errors,
                "the directive directory holds an invalid set (running gateways keep the last valid one)",
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    match format {
        OutputFormat::Json => print_json(&json!({
            "dir": dir.display().to_string(),
            "version": book.version(),
            "directives": book.directives().map(|d| directive_json(d)).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => {
            println!("{} (version {})", dir.display(), book.version());
            print!("{}", directive_table(&book));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn activate(config: &Config, files: &[PathBuf], dry_run: bool) -> anyhow::Result<ExitCode> {
    let dir = configured_dir(config)?;
    let drafts = read_drafts(files)?;
    let before = load_book(config).ok().map(|b| b.version().to_string());
    let book = match book_with(config, dir, &drafts) {
        Ok(book) => book,
        Err(errors) => {
            report_errors(
                &as_given(errors, dir, &drafts),
                "nothing was activated; the directory is unchanged",
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let names: Vec<String> = drafts.iter().map(|d| file_name(&d.path)).collect();
    let was = before.unwrap_or_else(|| "an invalid set".to_string());
    if dry_run {
        println!(
            "dry run: with {} the set is valid ({}); policy version {} (now {was}); nothing was written",
            names.join(", "),
            directives(book.directives().count()),
            book.version()
        );
        return Ok(ExitCode::SUCCESS);
    }
    write_all_atomically(dir, &drafts)?;
    println!(
        "activated {} in {}: policy version {} (was {was}); {} in force once gateways reload",
        names.join(", "),
        dir.display(),
        book.version(),
        directives(book.directives().count())
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads the files to activate; refuses names the directory reader would not pick up and two
/// files of the same name.
fn read_drafts(files: &[PathBuf]) -> anyhow::Result<Vec<SourceFile>> {
    let mut drafts: Vec<SourceFile> = Vec::new();
    for path in files {
        if !is_directive_file(path) {
            bail!(
                "{}: a directive file's name must end in .toml or .cedar (and not start with a dot); nothing was activated",
                path.display()
            );
        }
        if drafts
            .iter()
            .any(|d| d.path.file_name() == path.file_name())
        {
            bail!(
                "{}: two files named {} given; nothing was activated",
                path.display(),
                file_name(path)
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        drafts.push(SourceFile {
            path: path.clone(),
            text,
        });
    }
    Ok(drafts)
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

/// Writes the files into the directory atomically (see [`clearance_policy::dir::write_atomically`]).
fn write_all_atomically(dir: &Path, drafts: &[SourceFile]) -> anyhow::Result<()> {
    clearance_policy::dir::write_atomically(dir, drafts).context("nothing was activated")
}

async fn run_preview(
    config: &Config,
    draft_path: &Path,
    since: DateTime<Utc>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(draft_path)
        .with_context(|| format!("cannot read {}", draft_path.display()))?;
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
    let store = store_of(config)?;
    let principals = store.principals().await?;
    let (requests, in_window) = request_groups(&store, since, draft.models()).await?;
    let preview = draft.preview(&PreviewInput {
        principals: &principals,
        requests: &requests,
        requests_in_window: in_window,
        since,
        now: Utc::now(),
    });
    match format {
        OutputFormat::Json => print_json(&preview)?,
        OutputFormat::Text => print!("{}", render_text(&preview)),
    }
    Ok(ExitCode::SUCCESS)
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
fn parse_since(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
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

fn report_errors(errors: &DirectiveErrors, consequence: &str) {
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
    println!("{}", serde_json::to_string_pretty(value)?);
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
