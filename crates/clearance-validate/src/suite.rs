//! Suites as people write them: TOML, or JSONL with one case per line. Every problem is
//! reported at its file and line, all of them at once.
//!
//! ```toml
//! name = "support answers"
//! judge = "gpt-5"                 # the model that grades `rubric` checks (optional)
//!
//! [[cases]]
//! id = "refund-window"
//! weight = 2.0                    # default 1
//! format = "openai"               # the client format of `messages` and `tools`:
//!                                 # openai (default), anthropic or gemini
//! messages = [{ role = "user", content = "How long do refunds take?" }]
//! checks = [
//!   { contains = "30 days" },
//!   { regex = "(?i)refund" },
//!   { similar_to = { reference = "Refunds take 30 days.", threshold = 0.6 } },
//!   { rubric = "Gives the refund window and says how to start a return" },
//! ]
//! ```
//!
//! The other checks: `not_contains`, `equals`, `json_valid = true`, `json_schema = {...}`,
//! `tool_called = { name = "...", arguments_schema = {...} }`, `max_latency_ms = N`; a rubric
//! may name its own `judge`. In JSONL each line is one case with the same keys.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::check::Check;

/// The client format a case's messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    Openai,
    Anthropic,
    Gemini,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub format: ClientFormat,
    /// The request's messages (`contents` for Gemini), as the format writes them.
    pub messages: Value,
    pub tools: Option<Value>,
    pub checks: Vec<Check>,
    pub weight: f64,
    /// Where the case starts in its file.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    /// The model that grades rubric checks that name none.
    pub judge: Option<String>,
    pub cases: Vec<Case>,
}

/// One problem in a suite file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SuiteError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found in a suite file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct SuiteErrors(pub Vec<SuiteError>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: Option<String>,
    judge: Option<String>,
    #[serde(default)]
    cases: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: String,
    format: Option<String>,
    messages: Value,
    tools: Option<Value>,
    #[serde(default)]
    checks: Vec<RawCheck>,
    weight: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    contains: Option<String>,
    not_contains: Option<String>,
    regex: Option<String>,
    equals: Option<String>,
    json_valid: Option<bool>,
    json_schema: Option<Value>,
    tool_called: Option<RawTool>,
    max_latency_ms: Option<u64>,
    similar_to: Option<RawSimilar>,
    rubric: Option<String>,
    judge: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: String,
    arguments_schema: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimilar {
    reference: String,
    threshold: f64,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads a suite by its file's extension: `.toml`, or `.jsonl`.
pub fn parse(file: &Path, text: &str) -> Result<Suite, SuiteErrors> {
    match file.extension().and_then(|e| e.to_str()) {
        Some("toml") => parse_toml(file, text),
        Some("jsonl") => parse_jsonl(file, text),
        _ => Err(SuiteErrors(vec![SuiteError {
            file: file.to_path_buf(),
            line: None,
            message: "a suite is a .toml or a .jsonl file".into(),
        }])),
    }
}

pub fn parse_toml(file: &Path, text: &str) -> Result<Suite, SuiteErrors> {
    let error = |line: Option<usize>, message: String| SuiteError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let raw: RawSuite = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        SuiteErrors(vec![error(
            line,
            format!("TOML: {}", e.message().trim_end()),
        )])
    })?;
    let cases = raw
        .cases
        .into_iter()
        .map(|spanned| {
            let line = line_of(text, spanned.span().start);
            (line, spanned.into_inner())
        })
        .collect();
    let name = raw.name.unwrap_or_else(|| file_stem(file));
    assemble(file, name, raw.judge, cases)
}

pub fn parse_jsonl(file: &Path, text: &str) -> Result<Suite, SuiteErrors> {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RawCase>(line) {
            Ok(case) => cases.push((index + 1, case)),
            Err(e) => errors.push(SuiteError {
                file: file.to_path_buf(),
                line: Some(index + 1),
                message: format!("JSON: {e}"),
            }),
        }
    }
    match assemble(file, file_stem(file), None, cases) {
        Ok(suite) if errors.is_empty() => Ok(suite),
        Ok(_) => Err(SuiteErrors(errors)),
        Err(SuiteErrors(more)) => {
            errors.extend(more);
            errors.sort_by_key(|e| e.line);
            Err(SuiteErrors(errors))
        }
    }
}

fn file_stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn assemble(
    file: &Path,
    name: String,
    judge: Option<String>,
    raw: Vec<(usize, RawCase)>,
) -> Result<Suite, SuiteErrors> {
    let mut errors = Vec::new();
    let mut ids = BTreeSet::new();
    let mut cases = Vec::new();
    for (line, case) in raw {
        let mut problem = |message: String| {
            errors.push(SuiteError {
                file: file.to_path_buf(),
                line: Some(line),
                message: format!("case `{}`: {message}", case.id),
            })
        };
        if !ids.insert(case.id.clone()) {
            problem("a second case with this id".into());
        }
        let format = match case.format.as_deref().unwrap_or("openai") {
            "openai" => Some(ClientFormat::Openai),
            "anthropic" => Some(ClientFormat::Anthropic),
            "gemini" => Some(ClientFormat::Gemini),
            other => {
                problem(format!(
                    "unknown format `{other}`: use openai, anthropic or gemini"
                ));
                None
            }
        };
        if case.messages.as_array().is_none_or(|m| m.is_empty()) {
            problem("`messages` must be a non-empty list".into());
        }
        let weight = case.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            problem(format!("`weight` must be a positive number, not {weight}"));
        }
        if case.checks.is_empty() {
            problem("a case needs at least one check".into());
        }
        let mut checks = Vec::new();
        for (n, raw) in case.checks.into_iter().enumerate() {
            match check_of(raw) {
                Ok(check) => checks.push(check),
                Err(message) => problem(format!("check {}: {message}", n + 1)),
            }
        }
        if let Some(format) = format {
            cases.push(Case {
                id: case.id,
                format,
                messages: case.messages,
                tools: case.tools,
                checks,
                weight,
                line,
            });
        }
    }
    if cases.is_empty() && errors.is_empty() {
        errors.push(SuiteError {
            file: file.to_path_buf(),
            line: None,
            message: "the suite has no cases".into(),
        });
    }
    if errors.is_empty() {
        Ok(Suite { name, judge, cases })
    } else {
        Err(SuiteErrors(errors))
    }
}

/// One check from its table: exactly one kind, `judge` only beside `rubric`.
fn check_of(raw: RawCheck) -> Result<Check, String> {
    let RawCheck {
        contains,
        not_contains,
        regex,
        equals,
        json_valid,
        json_schema,
        tool_called,
        max_latency_ms,
        similar_to,
        rubric,
        judge,
    } = raw;
    if judge.is_some() && rubric.is_none() {
        return Err("`judge` goes only with `rubric`".into());
    }
    let mut found: Vec<Result<Check, String>> = Vec::new();
    found.extend(contains.map(|s| Ok(Check::Contains(s))));
    found.extend(not_contains.map(|s| Ok(Check::NotContains(s))));
    found.extend(regex.map(|p| {
        Regex::new(&p)
            .map(Check::Regex)
            .map_err(|e| format!("`regex` {p:?} does not compile: {e}"))
    }));
    found.extend(equals.map(|s| Ok(Check::Equals(s))));
    found.extend(json_valid.map(|on| {
        if on {
            Ok(Check::JsonValid)
        } else {
            Err("`json_valid = false` checks nothing: remove it".into())
        }
    }));
    found.extend(json_schema.map(|schema| {
        jsonschema::validator_for(&schema)
            .map(|_| Check::JsonSchema(schema))
            .map_err(|e| format!("`json_schema` is not a valid JSON Schema: {e}"))
    }));
    found.extend(tool_called.map(|tool| {
        match &tool.arguments_schema {
            Some(schema) => jsonschema::validator_for(schema)
                .map(|_| Check::ToolCalled {
                    name: tool.name.clone(),
                    arguments_schema: Some(schema.clone()),
                })
                .map_err(|e| format!("`arguments_schema` is not a valid JSON Schema: {e}")),
            None => Ok(Check::ToolCalled {
                name: tool.name,
                arguments_schema: None,
            }),
        }
    }));
    found.extend(max_latency_ms.map(|ms| Ok(Check::MaxLatencyMs(ms))));
    found.extend(similar_to.map(|s| {
        if (0.0..=1.0).contains(&s.threshold) {
            Ok(Check::SimilarTo {
                reference: s.reference,
                threshold: s.threshold,
            })
        } else {
            Err(format!(
                "`similar_to.threshold` must be between 0 and 1, not {}",
                s.threshold
            ))
        }
    }));
    found.extend(rubric.map(|rubric| Ok(Check::Rubric { rubric, judge })));
    match found.len() {
        0 => Err(
            "no check: use one of contains, not_contains, regex, equals, json_valid, json_schema, \
             tool_called, max_latency_ms, similar_to, rubric"
                .into(),
        ),
        1 => found.remove(0),
        n => Err(format!(
            "{n} checks in one table: write one check per table"
        )),
    }
}
