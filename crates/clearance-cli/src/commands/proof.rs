//! `clearance directives diff|lint`, and the proof `activate` and `preview` show.
//!
//! The proofs run cvc5 (`$CVC5`, else `cvc5` on PATH). Without it, `diff` and `lint` fail
//! with how to install it; `activate` and `preview` still work and say the proof was not
//! made (and `--require-no-new-access` then refuses, since nothing was proved).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clearance_config::Config;
use clearance_gateway::directives::{catalog, with_drafts};
use clearance_policy::dir::read_dir;
use clearance_policy::{PolicyBook, SourceFile};
use clearance_proof::report::{render_diff, render_lint};
use clearance_proof::{DiffReport, ProofError, Prover, Window};
use serde_json::{Value, json};

use super::directives::{active_sources, read_drafts, report_errors};
use super::{block_on, load_config, open_store};
use crate::cli::{OutputFormat, WindowArg};

fn solver() -> String {
    clearance_proof::prover::solver_program(clearance_config::env_var)
}

/// The window `--at`, `--from` and `--until` name (default: from now on).
pub fn window_of(arg: &WindowArg, now: DateTime<Utc>) -> anyhow::Result<Window> {
    let parse = |flag: &str, text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                anyhow::anyhow!(
                    "--{flag} `{text}`: not an RFC 3339 time such as 2026-06-15T00:00:00Z ({e})"
                )
            })
    };
    if let Some(at) = &arg.at {
        return Ok(Window::at(parse("at", at)?));
    }
    let from = arg
        .from
        .as_deref()
        .map(|t| parse("from", t))
        .transpose()?
        .unwrap_or(now);
    let until = arg
        .until
        .as_deref()
        .map(|t| parse("until", t))
        .transpose()?;
    if until.is_some_and(|u| u <= from) {
        bail!("--until must be later than --from");
    }
    Ok(Window { from, until })
}

/// A set compiled, or its problems reported.
fn compiled(config: &Config, sources: &[SourceFile], what: &str) -> anyhow::Result<PolicyBook> {
    PolicyBook::compile(sources, &catalog(config)).map_err(|errors| {
        report_errors(&errors, &format!("{what} is invalid; nothing was proved"));
        anyhow::anyhow!("{what} does not compile")
    })
}

fn folder(path: &Path) -> anyhow::Result<Vec<SourceFile>> {
    read_dir(path).map_err(|errors| {
        report_errors(&errors, "nothing was proved");
        anyhow::anyhow!("{} holds an invalid directive set", path.display())
    })
}

/// `directives diff`.
pub fn diff(
    paths: &[PathBuf],
    active: bool,
    config_path: &Path,
    window: &WindowArg,
    require_no_new_access: bool,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let window = window_of(window, Utc::now())?;
    block_on(async {
        let (old_sources, place, new_paths) = if active {
            let store = open_store(&config).await?;
            let (sources, dir) = active_sources(&config, store.as_ref()).await?;
            (sources, dir, paths)
        } else {
            let (old, rest) = paths
                .split_first()
                .context("give the old set's folder, then the new set (or use --active)")?;
            if !old.is_dir() {
                bail!(
                    "{}: the old set must be a folder of directives (or use --active)",
                    old.display()
                );
            }
            if rest.is_empty() {
                bail!("give the new set after the old set's folder: a folder, or directive files");
            }
            (folder(old)?, old.clone(), rest)
        };
        let new_sources = match new_paths {
            [dir] if dir.is_dir() => folder(dir)?,
            files => {
                let drafts = read_drafts(files, "nothing was proved")?;
                with_drafts(old_sources.clone(), &place, &drafts)
            }
        };
        let old = compiled(&config, &old_sources, "the old set")?;
        let new = compiled(&config, &new_sources, "the new set")?;
        let mut prover = Prover::start(&solver())?;
        let report = clearance_proof::diff(&mut prover, &old, &new, window).await?;
        match format {
            OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report.to_json())?),
            OutputFormat::Text => out!("{}", render_diff(&report)),
        }
        Ok(
            if require_no_new_access && report.no_new_access() != Some(true) {
                eprintln!("--require-no-new-access: {}", report.summary());
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            },
        )
    })?
}

/// `directives lint`.
pub fn lint(
    dir: Option<&Path>,
    config_path: &Path,
    window: &WindowArg,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let window = window_of(window, Utc::now())?;
    block_on(async {
        let sources = match dir {
            Some(dir) => folder(dir)?,
            None => {
                let store = open_store(&config).await?;
                active_sources(&config, store.as_ref()).await?.0
            }
        };
        let book = compiled(&config, &sources, "the set")?;
        let mut prover = Prover::start(&solver())?;
        let report = clearance_proof::lint(&mut prover, &book, window).await?;
        match format {
            OutputFormat::Json => {
                let mut value = serde_json::to_value(&report)?;
                value["summary"] = json!(report.summary());
                outln!("{}", serde_json::to_string_pretty(&value)?);
            }
            OutputFormat::Text => out!("{}", render_lint(&report)),
        }
        Ok(if report.findings.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })?
}

/// The proof of a change from now on, or why none was made.
pub async fn prove_change(old: &PolicyBook, new: &PolicyBook) -> Result<DiffReport, ProofError> {
    let window = Window {
        from: Utc::now(),
        until: None,
    };
    clearance_proof::prove_change(&solver(), old, new, window).await
}

/// The proof's summary line, or why there is none.
pub fn proof_line(proof: &Result<DiffReport, impl std::fmt::Display>) -> String {
    match proof {
        Ok(report) => format!("proof: {}", report.summary()),
        Err(error) => format!("proof: not made: {error}"),
    }
}

/// The proof as JSON: the report with its verdict and summary, or the error.
pub fn proof_json(proof: &Result<DiffReport, impl std::fmt::Display>) -> Value {
    match proof {
        Ok(report) => report.to_json(),
        Err(error) => json!({ "error": error.to_string() }),
    }
}
