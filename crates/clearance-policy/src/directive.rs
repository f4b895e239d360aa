//! Directives as compliance officers write them: one TOML file per directive, read into a
//! [`Directive`] with every problem reported at its line.
//!
//! ```toml
//! id = "EXD-2026-06"
//! title = "Export control: Fable 5 and Mythos 5"
//! authority = "Export control directive under national security authorities, 2026-06-15"
//! effective = "2026-06-15T00:00:00Z"
//! mode = "enforce"
//! models = ["fable-5", "mythos-5"]
//! when = "!principal.us_person"
//! effect = "deny"
//! ```
//!
//! Reading checks only what one file can know (types, dates, names of modes and capabilities).
//! Whether the models exist and the condition type-checks is decided when the whole set is
//! compiled against the model catalog and the Cedar schema ([`crate::book`]).

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clearance_core::facts::Capability;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{DirectiveError, line_of};

/// Whether a directive changes answers or only records what it would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Shadow,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Enforce => "enforce",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Mode> {
        match text {
            "shadow" => Some(Mode::Shadow),
            "enforce" => Some(Mode::Enforce),
            _ => None,
        }
    }
}

/// What happens to a request the directive covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// HTTP 451 naming the directive.
    Deny,
    /// Served by the named model instead, if the caller may use it.
    Reroute(String),
}

/// Which requests a directive covers before its condition is read. Empty `models` and `tags`
/// (raw Cedar policies) means every model.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scope {
    pub models: Vec<String>,
    pub tags: Vec<String>,
    /// When not empty, the directive covers only requests using one of these.
    pub capabilities: Vec<Capability>,
}

impl Scope {
    pub fn covers_every_model(&self) -> bool {
        self.models.is_empty() && self.tags.is_empty()
    }
}

/// Where a directive came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    /// The line of the condition, where Cedar's complaints about it are reported.
    pub condition_line: usize,
    pub kind: SourceKind,
    /// The line of each entry of `scope.models`, in order, where an unknown model is reported
    /// (empty for a Cedar policy: its models are reported at `line`).
    #[serde(skip)]
    pub model_lines: Vec<usize>,
}

impl Origin {
    /// The line of the `index`th model the directive names.
    pub fn model_line(&self, index: usize) -> usize {
        self.model_lines.get(index).copied().unwrap_or(self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Toml,
    Cedar,
}

/// One access directive, from a TOML file or a raw Cedar policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Directive {
    pub id: String,
    pub title: String,
    /// The legal reference the directive carries out.
    pub authority: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// In effect from this second (inclusive); raw Cedar policies state their own window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<DateTime<Utc>>,
    /// No longer in effect from this second (exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    pub mode: Mode,
    pub scope: Scope,
    /// The Cedar condition over `principal` and `context`; `None` covers everyone in scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    pub effect: Effect,
    /// Shown to a denied caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who imposes the block (RFC 7725 `Link: <...>; rel="blocked-by"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// How a denied caller can ask for review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// The oldest principal facts this directive trusts, in seconds since the identity
    /// provider last confirmed them: older (or never confirmed) facts are read as missing, so
    /// a broken provisioning feed fails closed here and nowhere else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_after_s: Option<u64>,
    pub origin: Origin,
}

impl Directive {
    /// Whether `at` falls inside the directive's effective window (always, for raw Cedar
    /// policies, whose conditions carry their own).
    pub fn in_effect_at(&self, at: DateTime<Utc>) -> bool {
        self.effective.is_none_or(|from| at >= from) && self.expires.is_none_or(|until| at < until)
    }

    pub fn reroute_target(&self) -> Option<&str> {
        match &self.effect {
            Effect::Reroute(target) => Some(target),
            Effect::Deny => None,
        }
    }
}

/// A date in a directive: an RFC 3339 string, or a TOML datetime written without quotes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTime {
    Text(String),
    Toml(toml::value::Datetime),
}

/// Every field of [`RawDirective`]: a key not listed here is reported (all of them, each at its
/// line) before the file is read. Keep in step with the struct.
const FIELDS: &[&str] = &[
    "id",
    "title",
    "authority",
    "issued",
    "effective",
    "expires",
    "mode",
    "models",
    "tags",
    "capabilities",
    "when",
    "effect",
    "reroute",
    "message",
    "blocked_by",
    "review",
    "stale_after",
];

/// Unknown keys are refused by [`unknown_fields`], every one at its line, not here (serde's
/// `deny_unknown_fields` stops at the first).
#[derive(Debug, Deserialize)]
struct RawDirective {
    id: Spanned<String>,
    title: Spanned<String>,
    authority: Spanned<String>,
    issued: Option<Spanned<RawTime>>,
    effective: Spanned<RawTime>,
    expires: Option<Spanned<RawTime>>,
    mode: Spanned<String>,
    #[serde(default)]
    models: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    capabilities: Vec<Spanned<String>>,
    when: Option<Spanned<String>>,
    effect: Option<Spanned<String>>,
    reroute: Option<Spanned<String>>,
    message: Option<String>,
    blocked_by: Option<Spanned<String>>,
    review: Option<String>,
    stale_after: Option<Spanned<String>>,
}

/// Collects problems for one file.
struct FileProblems<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<DirectiveError>,
}

impl FileProblems<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.errors
            .push(DirectiveError::new(self.file, Some(line), message));
    }
}

/// Reads one TOML directive file; every problem the file alone shows is reported.
pub fn parse_toml(file: &Path, text: &str) -> Result<Directive, Vec<DirectiveError>> {
    let unknown = unknown_fields(file, text);
    let raw: RawDirective = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let line = error.span().map(|span| line_of(text, span.start));
            let mut errors = unknown;
            errors.push(DirectiveError::new(
                file,
                line,
                format!("TOML: {}", error.message().trim_end()),
            ));
            return Err(errors);
        }
    };
    let mut problems = FileProblems {
        file,
        text,
        errors: unknown,
    };
    let directive = read_directive(raw, &mut problems);
    match directive {
        Some(d) if problems.errors.is_empty() => Ok(d),
        _ => Err(problems.errors),
    }
}

/// Every top-level key that is not a directive field, each at its line. A file that is not
/// valid TOML has none here: the TOML error is reported instead.
fn unknown_fields(file: &Path, text: &str) -> Vec<DirectiveError> {
    let Ok(table) = toml::de::DeTable::parse(text) else {
        return Vec::new();
    };
    let expected = FIELDS
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut unknown: Vec<DirectiveError> = table
        .get_ref()
        .keys()
        .filter(|key| !FIELDS.contains(&key.get_ref().as_ref()))
        .map(|key| {
            DirectiveError::new(
                file,
                Some(line_of(text, key.span().start)),
                format!(
                    "unknown field `{}`, expected one of {expected}",
                    key.get_ref()
                ),
            )
        })
        .collect();
    unknown.sort_by_key(|e| e.line);
    unknown
}

fn read_directive(raw: RawDirective, problems: &mut FileProblems<'_>) -> Option<Directive> {
    check_id(&raw.id, problems);
    for field in [&raw.title, &raw.authority] {
        if field.get_ref().trim().is_empty() {
            problems.at(field.span(), "must not be empty");
        }
    }
    let effective = read_time(&raw.effective, "effective", problems);
    let expires = raw
        .expires
        .as_ref()
        .and_then(|t| read_time(t, "expires", problems));
    let issued = raw
        .issued
        .as_ref()
        .and_then(|t| read_time(t, "issued", problems))
        .map(|t| t.to_rfc3339());
    if let (Some(from), Some(until), Some(span)) =
        (effective, expires, raw.expires.as_ref().map(Spanned::span))
        && until <= from
    {
        problems.at(span, "`expires` must be later than `effective`");
    }
    let mode = Mode::parse(raw.mode.get_ref());
    if mode.is_none() {
        problems.at(
            raw.mode.span(),
            format!(
                "unknown mode `{}`: use \"shadow\" or \"enforce\"",
                raw.mode.get_ref()
            ),
        );
    }
    let scope = read_scope(&raw, problems);
    let condition = read_condition(&raw.when, problems);
    let effect = read_effect(&raw, problems);
    let blocked_by = raw.blocked_by.as_ref().map(|b| {
        if !looks_like_uri(b.get_ref()) {
            problems.at(
                b.span(),
                format!(
                    "`blocked_by` must be an absolute URI (https://..., mailto:...), not `{}`",
                    b.get_ref()
                ),
            );
        }
        b.get_ref().clone()
    });
    let stale_after_s = raw
        .stale_after
        .as_ref()
        .and_then(|text| read_stale_after(text, problems));
    let model_lines = raw
        .models
        .iter()
        .map(|m| line_of(problems.text, m.span().start))
        .collect();
    let condition_line = raw
        .when
        .as_ref()
        .map_or(1, |w| line_of(problems.text, w.span().start));
    Some(Directive {
        id: raw.id.get_ref().trim().to_string(),
        title: raw.title.into_inner(),
        authority: raw.authority.into_inner(),
        issued,
        effective: Some(effective?),
        expires,
        mode: mode?,
        scope,
        condition,
        effect: effect?,
        message: raw.message,
        blocked_by,
        review: raw.review,
        stale_after_s,
        origin: Origin {
            file: problems.file.to_path_buf(),
            line: line_of(problems.text, raw.id.span().start),
            condition_line,
            kind: SourceKind::Toml,
            model_lines,
        },
    })
}

/// `stale_after = "24h"`: a positive whole number of seconds, written as humans write it.
fn read_stale_after(text: &Spanned<String>, problems: &mut FileProblems<'_>) -> Option<u64> {
    match humantime::parse_duration(text.get_ref().trim()) {
        Ok(age) if age.as_secs() > 0 && age.subsec_nanos() == 0 => Some(age.as_secs()),
        Ok(_) => {
            problems.at(
                text.span(),
                format!(
                    "`stale_after` = `{}` must be a whole number of seconds, at least 1s",
                    text.get_ref()
                ),
            );
            None
        }
        Err(error) => {
            problems.at(
                text.span(),
                format!(
                    "`stale_after` = `{}` is not a duration like \"24h\", \"7d\" or \"90m\" ({error})",
                    text.get_ref()
                ),
            );
            None
        }
    }
}

/// Directive ids appear in HTTP headers and audit records: short, printable, no spaces.
pub(crate) fn id_problem(id: &str) -> Option<String> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    (!valid).then(|| {
        format!(
            "directive id `{id}` must be 1 to 64 characters of letters, digits, `-`, `_`, `.` or `:`"
        )
    })
}

fn check_id(id: &Spanned<String>, problems: &mut FileProblems<'_>) {
    if let Some(message) = id_problem(id.get_ref().trim()) {
        problems.at(id.span(), message);
    }
}

fn read_time(
    raw: &Spanned<RawTime>,
    field: &str,
    problems: &mut FileProblems<'_>,
) -> Option<DateTime<Utc>> {
    let text = match raw.get_ref() {
        RawTime::Text(text) => text.clone(),
        RawTime::Toml(datetime) => datetime.to_string(),
    };
    match DateTime::parse_from_rfc3339(text.trim()) {
        // Windows hold to the second, and the compiled policy compares whole seconds: a
        // fraction would make the two disagree inside that second.
        Ok(time) if time.timestamp_subsec_nanos() != 0 => {
            problems.at(
                raw.span(),
                format!("`{field}` = `{text}` has a fraction of a second; directives take effect on whole seconds"),
            );
            None
        }
        Ok(time) => Some(time.with_timezone(&Utc)),
        Err(error) => {
            problems.at(
                raw.span(),
                format!(
                    "`{field}` = `{text}` is not an RFC 3339 time with a zone, like 2026-06-15T00:00:00Z ({error})"
                ),
            );
            None
        }
    }
}

fn read_scope(raw: &RawDirective, problems: &mut FileProblems<'_>) -> Scope {
    if raw.models.is_empty() && raw.tags.is_empty() {
        problems.at(
            raw.id.span(),
            "a directive must name what it restricts: give `models = [...]` or `tags = [...]`",
        );
    }
    let mut capabilities = Vec::new();
    for capability in &raw.capabilities {
        match Capability::parse(capability.get_ref()) {
            Some(c) => capabilities.push(c),
            None => problems.at(
                capability.span(),
                format!(
                    "unknown capability `{}`: use {}",
                    capability.get_ref(),
                    Capability::ALL
                        .map(|c| format!("\"{}\"", c.as_str()))
                        .join(", ")
                ),
            ),
        }
    }
    Scope {
        models: raw.models.iter().map(|m| m.get_ref().clone()).collect(),
        tags: raw.tags.iter().map(|t| t.get_ref().clone()).collect(),
        capabilities,
    }
}

fn read_condition(
    when: &Option<Spanned<String>>,
    problems: &mut FileProblems<'_>,
) -> Option<String> {
    let when = when.as_ref()?;
    if when.get_ref().trim().is_empty() {
        problems.at(
            when.span(),
            "`when` is empty: leave it out to cover everyone in scope, or write a Cedar condition",
        );
        return None;
    }
    Some(when.get_ref().trim().to_string())
}

fn read_effect(raw: &RawDirective, problems: &mut FileProblems<'_>) -> Option<Effect> {
    match (&raw.effect, &raw.reroute) {
        (Some(effect), None) if effect.get_ref() == "deny" => Some(Effect::Deny),
        (Some(effect), None) => {
            problems.at(
                effect.span(),
                format!(
                    "unknown effect `{}`: write `effect = \"deny\"`, or `reroute = \"MODEL\"` to serve another model",
                    effect.get_ref()
                ),
            );
            None
        }
        (None, Some(target)) if target.get_ref().trim().is_empty() => {
            problems.at(target.span(), "`reroute` names no model");
            None
        }
        (None, Some(target)) => Some(Effect::Reroute(target.get_ref().trim().to_string())),
        (Some(effect), Some(_)) => {
            problems.at(
                effect.span(),
                "give either `effect = \"deny\"` or `reroute = \"MODEL\"`, not both",
            );
            None
        }
        (None, None) => {
            problems.at(
                raw.id.span(),
                "a directive needs an effect: `effect = \"deny\"` or `reroute = \"MODEL\"`",
            );
            None
        }
    }
}

/// An absolute URI with a scheme (`https:`, `mailto:`, `urn:`), no spaces.
pub(crate) fn looks_like_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && !text.contains(char::is_whitespace)
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"id = "EXD-2026-06"
title = "Export control: Fable 5 and Mythos 5"
authority = "Export control directive, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
expires = 2027-06-15T00:00:00Z
mode = "enforce"
models = ["fable-5", "mythos-5"]
capabilities = ["tools"]
when = "!principal.us_person"
effect = "deny"
blocked_by = "https://www.bis.gov"
"#;

    #[test]
    fn reads_a_directive_with_quoted_and_bare_dates() {
        let d = parse_toml(Path::new("d.toml"), GOOD).unwrap();
        assert_eq!(d.id, "EXD-2026-06");
        assert_eq!(d.mode, Mode::Enforce);
        assert_eq!(d.effect, Effect::Deny);
        assert_eq!(d.scope.capabilities, vec![Capability::Tools]);
        assert_eq!(d.expires.unwrap().to_rfc3339(), "2027-06-15T00:00:00+00:00");
        assert_eq!(d.origin.condition_line, 9);
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let text = GOOD
            .replace("\"enforce\"", "\"enforced\"")
            .replace("[\"tools\"]", "[\"telepathy\"]")
            .replace(
                "expires = 2027-06-15T00:00:00Z",
                "expires = \"2025-01-01T00:00:00Z\"",
            )
            .replace("https://www.bis.gov", "the government");
        let errors = parse_toml(Path::new("d.toml"), &text).unwrap_err();
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{rendered:#?}");
        assert!(
            rendered[0].starts_with("d.toml:5: `expires` must be later"),
            "{rendered:#?}"
        );
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("d.toml:6: unknown mode `enforced`"))
        );
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("d.toml:8: unknown capability `telepathy`"))
        );
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("d.toml:11: `blocked_by` must be an absolute URI"))
        );
    }

    #[test]
    fn fractions_of_a_second_are_refused() {
        let text = GOOD.replace("2026-06-15T00:00:00Z", "2026-06-15T00:00:00.5Z");
        let errors = parse_toml(Path::new("d.toml"), &text).unwrap_err();
        assert!(
            errors[0].message.contains("fraction of a second"),
            "{errors:?}"
        );
        assert_eq!(errors[0].line, Some(4));
    }

    #[test]
    fn toml_errors_name_the_line() {
        let text = GOOD.replace("mode = \"enforce\"", "mode = \"enforce\"\nmodle = 3");
        let errors = parse_toml(Path::new("d.toml"), &text).unwrap_err();
        assert_eq!(errors[0].line, Some(7), "{errors:?}");
        assert!(
            errors[0].message.contains("unknown field `modle`"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_unknown_field_is_reported_at_its_line() {
        let text = GOOD
            .replace("mode = \"enforce\"", "mode = \"enforce\"\nmodle = 3")
            .replace(
                "effect = \"deny\"",
                "effect = \"deny\"\nefect = \"deny\"\n[extra]\nx = 1",
            );
        let errors = parse_toml(Path::new("d.toml"), &text).unwrap_err();
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{rendered:#?}");
        assert!(
            rendered[0].starts_with("d.toml:7: unknown field `modle`"),
            "{rendered:#?}"
        );
        assert!(
            rendered[1].starts_with("d.toml:12: unknown field `efect`"),
            "{rendered:#?}"
        );
        assert!(
            rendered[2].starts_with("d.toml:13: unknown field `extra`"),
            "{rendered:#?}"
        );
        assert!(
            rendered[0].contains("expected one of `id`"),
            "{rendered:#?}"
        );
    }

    #[test]
    fn unknown_fields_are_reported_with_the_other_problems() {
        let text = GOOD
            .replace("\"enforce\"", "\"enforced\"")
            .replace("when =", "modle = 1\nwhen =");
        let errors = parse_toml(Path::new("d.toml"), &text).unwrap_err();
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{rendered:#?}");
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("d.toml:9: unknown field `modle`"))
        );
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("d.toml:6: unknown mode `enforced`"))
        );
    }

    #[test]
    fn every_field_of_the_struct_is_known() {
        let text = format!(
            "{GOOD}tags = [\"t\"]\nissued = \"2026-06-01T00:00:00Z\"\nmessage = \"m\"\nreview = \"r\"\n"
        );
        let d = parse_toml(Path::new("d.toml"), &text).unwrap();
        assert_eq!(d.origin.model_lines, vec![7, 7]);
        let rerouting = text.replace("effect = \"deny\"", "reroute = \"open-model\"");
        parse_toml(Path::new("d.toml"), &rerouting).unwrap();
    }

    #[test]
    fn effect_and_reroute_are_exclusive_and_one_is_required() {
        let both = GOOD.replace(
            "effect = \"deny\"",
            "effect = \"deny\"\nreroute = \"open-model\"",
        );
        assert!(
            parse_toml(Path::new("d.toml"), &both).unwrap_err()[0]
                .message
                .contains("not both")
        );
        let neither = GOOD.replace("effect = \"deny\"\n", "");
        assert!(
            parse_toml(Path::new("d.toml"), &neither).unwrap_err()[0]
                .message
                .contains("needs an effect")
        );
    }

    #[test]
    fn window_is_inclusive_at_the_start_and_exclusive_at_the_end() {
        let d = parse_toml(Path::new("d.toml"), GOOD).unwrap();
        let from = d.effective.unwrap();
        let until = d.expires.unwrap();
        assert!(!d.in_effect_at(from - chrono::Duration::seconds(1)));
        assert!(d.in_effect_at(from));
        assert!(d.in_effect_at(until - chrono::Duration::seconds(1)));
        assert!(!d.in_effect_at(until));
    }
}
