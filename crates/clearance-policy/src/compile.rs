//! From directives to Cedar: the policy text a TOML directive means, raw `.cedar` files read
//! into directives, and Cedar's own complaints mapped back to file and line.
//!
//! A TOML directive becomes one `forbid` policy; its parts are separate `when` clauses so the
//! compiled text reads like the directive:
//!
//! ```cedar
//! @id("EXD-2026-06")
//! forbid (principal, action == Action::"invoke", resource)
//! when { resource in [Model::"fable-5", Model::"mythos-5"] }
//! when { context.now >= 1781481600 }
//! when { !principal.us_person };
//! ```
//!
//! Everything not forbidden is allowed (a base `permit` sits beside the directives), so
//! Cedar's decision is `Deny` exactly when some directive fires, and its reasons name them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Effect as CedarEffect, Expression, Policy, PolicyId, PolicySet};
use miette::Diagnostic;

use crate::directive::{
    Directive, Effect, Mode, Origin, Scope, SourceKind, id_problem, looks_like_uri,
};
use crate::error::{DirectiveError, line_of};

/// The id of the policy that permits everything no directive forbids.
pub(crate) const BASE_PERMIT_ID: &str = "clearance:base-permit";

pub(crate) fn base_permit() -> Policy {
    Policy::parse(
        Some(PolicyId::new(BASE_PERMIT_ID)),
        "permit (principal, action, resource);",
    )
    .expect("the base permit parses")
}

/// A Cedar string literal for any text (Rust's escapes are a subset of Cedar's).
pub(crate) fn cedar_string(text: &str) -> String {
    format!("\"{}\"", text.escape_default())
}

/// The Cedar policy a TOML directive means.
pub fn cedar_text(d: &Directive) -> String {
    let mut text = format!(
        "@id({})\nforbid (principal, action == Action::\"invoke\", resource)\n",
        cedar_string(&d.id)
    );
    // One `in` per entity type: Cedar's type check refuses a set mixing Model and ModelTag.
    let in_set = |type_name: &str, names: &[String]| {
        let uids: Vec<String> = names
            .iter()
            .map(|n| format!("{type_name}::{}", cedar_string(n)))
            .collect();
        (!names.is_empty()).then(|| format!("resource in [{}]", uids.join(", ")))
    };
    let scope: Vec<String> = [
        in_set("Model", &d.scope.models),
        in_set("ModelTag", &d.scope.tags),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !scope.is_empty() {
        text.push_str(&format!("when {{ {} }}\n", scope.join(" || ")));
    }
    if let Some(from) = d.effective {
        text.push_str(&format!("when {{ context.now >= {} }}\n", from.timestamp()));
    }
    if let Some(until) = d.expires {
        text.push_str(&format!("when {{ context.now < {} }}\n", until.timestamp()));
    }
    if !d.scope.capabilities.is_empty() {
        let names: Vec<String> = d
            .scope
            .capabilities
            .iter()
            .map(|c| cedar_string(c.as_str()))
            .collect();
        text.push_str(&format!(
            "when {{ context.capabilities.containsAny([{}]) }}\n",
            names.join(", ")
        ));
    }
    if let Some(condition) = &d.condition {
        // The brace on its own line: a condition may end in a `//` comment.
        text.push_str(&format!("when {{ {condition}\n}}\n"));
    }
    text.push(';');
    text
}

/// Compiles a TOML directive to its Cedar policy, reporting a bad condition at its line.
pub(crate) fn compile_toml(d: &Directive) -> Result<Policy, DirectiveError> {
    let at_condition = |message: String| {
        DirectiveError::new(&d.origin.file, Some(d.origin.condition_line), message)
    };
    if let Some(condition) = &d.condition {
        // Parsed alone first, so a condition can only ever be one expression: text such as
        // `true } permit (...` cannot smuggle a second clause or policy into the directive.
        Expression::from_str(condition).map_err(|errors| {
            at_condition(format!(
                "`when` is not a Cedar expression: {}",
                describe(&errors)
            ))
        })?;
    }
    Policy::parse(Some(PolicyId::new(&d.id)), cedar_text(d))
        .map_err(|errors| at_condition(format!("Cedar: {}", describe(&errors))))
}

/// A Cedar error with its help text, on one line.
pub(crate) fn describe(error: &(impl Diagnostic + ?Sized)) -> String {
    let mut text = error.to_string();
    if let Some(related) = error.related() {
        for more in related {
            text.push_str("; ");
            text.push_str(&more.to_string());
        }
    }
    if let Some(help) = error.help() {
        text.push_str(&format!(" (help: {help})"));
    }
    text
}

/// Annotations a raw Cedar directive may carry.
const CEDAR_ANNOTATIONS: [&str; 9] = [
    "id",
    "title",
    "authority",
    "mode",
    "reroute",
    "message",
    "blocked_by",
    "review",
    "issued",
];

/// Reads a `.cedar` file: each policy is one directive, described by its annotations.
pub(crate) fn parse_cedar_file(
    file: &Path,
    text: &str,
) -> Result<Vec<(Directive, Policy)>, Vec<DirectiveError>> {
    let set = PolicySet::from_str(text).map_err(|errors| {
        let line = first_label_line(&errors, text);
        vec![DirectiveError::new(
            file,
            line,
            format!("Cedar: {}", describe(&errors)),
        )]
    })?;
    let mut problems = Vec::new();
    let mut directives = Vec::new();
    let mut policies: Vec<&Policy> = set.policies().collect();
    let position = |p: &Policy| p.to_cedar().and_then(|src| text.find(&src)).unwrap_or(0);
    policies.sort_by_key(|p| position(p));
    for policy in policies {
        let line = line_of(text, position(policy));
        match cedar_directive(file, line, policy) {
            Ok(d) => {
                let renamed = policy.new_id(PolicyId::new(&d.id));
                directives.push((d, renamed));
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(directives)
    } else {
        Err(problems)
    }
}

fn cedar_directive(
    file: &Path,
    line: usize,
    policy: &Policy,
) -> Result<Directive, Vec<DirectiveError>> {
    let mut problems = Vec::new();
    let mut problem =
        |message: String| problems.push(DirectiveError::new(file, Some(line), message));
    if policy.effect() != CedarEffect::Forbid {
        problem(
            "only `forbid` policies are directives: everything no directive forbids is already allowed"
                .to_string(),
        );
    }
    for (key, _) in policy.annotations() {
        if !CEDAR_ANNOTATIONS.contains(&key) {
            problem(format!(
                "unknown annotation `@{key}`; directives use @{}",
                CEDAR_ANNOTATIONS.join(", @")
            ));
        }
    }
    let mut required = |key: &str| match policy.annotation(key) {
        Some(value) if !value.trim().is_empty() => value.trim().to_string(),
        _ => {
            problem(format!("a directive policy needs `@{key}(\"...\")`"));
            String::new()
        }
    };
    let id = required("id");
    let title = required("title");
    let authority = required("authority");
    let mode_text = required("mode");
    if let Some(message) = (!id.is_empty()).then(|| id_problem(&id)).flatten() {
        problem(message);
    }
    let mode = Mode::parse(&mode_text);
    if mode.is_none() && !mode_text.is_empty() {
        problem(format!(
            "unknown mode `{mode_text}`: use \"shadow\" or \"enforce\""
        ));
    }
    let blocked_by = policy.annotation("blocked_by").map(str::to_string);
    if let Some(uri) = blocked_by.as_deref().filter(|u| !looks_like_uri(u)) {
        problem(format!(
            "`@blocked_by` must be an absolute URI, not `{uri}`"
        ));
    }
    let effect = match policy.annotation("reroute") {
        Some(target) => Effect::Reroute(target.trim().to_string()),
        None => Effect::Deny,
    };
    match mode {
        Some(mode) if problems.is_empty() => Ok(Directive {
            id,
            title,
            authority,
            issued: policy.annotation("issued").map(str::to_string),
            effective: None,
            expires: None,
            mode,
            scope: Scope::default(),
            condition: policy.to_cedar(),
            effect,
            message: policy.annotation("message").map(str::to_string),
            blocked_by,
            review: policy.annotation("review").map(str::to_string),
            stale_after_s: None,
            origin: Origin {
                file: file.to_path_buf(),
                line,
                condition_line: line,
                kind: SourceKind::Cedar,
                model_lines: Vec::new(),
            },
        }),
        _ => Err(problems),
    }
}

fn first_label_line(error: &(impl Diagnostic + ?Sized), text: &str) -> Option<usize> {
    error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| line_of(text, label.offset()))
}

/// The attributes a directive reads: `principal.x` and `context.x` named in its condition,
/// plus what its scope implies.
pub(crate) fn facts_read(d: &Directive) -> Vec<String> {
    let mut read = BTreeSet::new();
    if let Some(condition) = &d.condition {
        for root in ["principal.", "context.", "resource."] {
            for (start, _) in condition.match_indices(root) {
                let rest = &condition[start + root.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let preceded_by_ident = condition[..start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                if !name.is_empty() && !preceded_by_ident {
                    read.insert(format!("{root}{name}"));
                }
            }
        }
    }
    if !d.scope.covers_every_model() {
        read.insert("model".to_string());
    }
    if d.effective.is_some() || d.expires.is_some() {
        read.insert("context.now".to_string());
    }
    if !d.scope.capabilities.is_empty() {
        read.insert("context.capabilities".to_string());
    }
    read.into_iter().collect()
}

/// Maps Cedar validation errors to the directives they belong to.
pub(crate) fn validation_errors(
    set: &PolicySet,
    by_id: &HashMap<String, &Directive>,
) -> Vec<DirectiveError> {
    let validator = cedar_policy::Validator::new(crate::schema::schema().clone());
    let result = validator.validate(set, cedar_policy::ValidationMode::Strict);
    result
        .validation_errors()
        .map(|error| {
            let id = error.policy_id().to_string();
            match by_id.get(&id) {
                Some(d) => DirectiveError::new(
                    &d.origin.file,
                    Some(d.origin.condition_line),
                    format!("`{id}`: Cedar schema check: {}", describe(error)),
                ),
                None => DirectiveError::new(
                    Path::new("<schema>"),
                    None,
                    format!("Cedar schema check: {}", describe(error)),
                ),
            }
        })
        .collect()
}
