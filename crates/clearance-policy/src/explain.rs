//! A decision in words: which directives covered the request, which fired and why, which did
//! not and why not, and the facts each read with their values.
//!
//! Each covering directive is evaluated on its own with Cedar (and its condition on its own,
//! for TOML directives), so "why" is what Cedar computed, not a re-implementation of it.

use std::str::FromStr;

use cedar_policy::{Policy, PolicyId};
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::book::{Outcome, PolicyBook, Query};
use crate::compile::describe;
use crate::directive::{Directive, Effect, SourceKind};
use crate::facts::{context_attributes, principal_attributes};

/// The full explanation; `--format json` prints it as is.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub principal: String,
    pub model: String,
    pub at: String,
    pub decision: String,
    /// The model that would serve: the requested one, a reroute target, or none.
    pub served_model: Option<String>,
    pub summary: String,
    pub policy_version: String,
    pub directives: Vec<Verdict>,
    pub missing_facts: Vec<String>,
    pub facts: Value,
}

/// One covering directive and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub id: String,
    pub title: String,
    pub authority: String,
    pub mode: String,
    pub effect: String,
    /// The model it was evaluated on (a reroute target's directives appear too).
    pub model: String,
    pub fired: bool,
    pub reason: String,
    pub facts_read: Map<String, Value>,
}

/// Explains the decision for `query`.
pub fn explain(book: &PolicyBook, query: &Query<'_>) -> Explanation {
    let decision = book.decide(query);
    let facts = facts_json(query);
    let mut models = vec![query.model.to_string()];
    for hit in &decision.enforced {
        if !models.contains(&hit.model) {
            models.push(hit.model.clone());
        }
    }
    if let Outcome::Reroute { to } = &decision.outcome
        && !models.contains(to)
    {
        models.push(to.clone());
    }
    let directives = models
        .iter()
        .flat_map(|model| {
            let on_model = Query { model, ..*query };
            book.covering(model)
                .into_iter()
                .map(|d| verdict(book, d, &on_model, &facts))
                .collect::<Vec<_>>()
        })
        .collect();
    let served_model = match &decision.outcome {
        Outcome::Allow => Some(query.model.to_string()),
        Outcome::Reroute { to } => Some(to.clone()),
        Outcome::Deny => None,
    };
    let summary = summary(query, &decision);
    Explanation {
        principal: query.principal_id.to_string(),
        model: query.model.to_string(),
        at: query.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        decision: decision.outcome.as_str().to_string(),
        served_model,
        summary,
        policy_version: decision.policy_version.clone(),
        directives,
        missing_facts: decision.missing_facts.clone(),
        facts,
    }
}

fn summary(query: &Query<'_>, decision: &crate::Decision) -> String {
    let who = query.principal_id;
    let model = query.model;
    let enforced = decision.directive_ids().join(", ");
    let mut text = match &decision.outcome {
        Outcome::Allow => format!("{who} may use {model}: no enforced directive fired."),
        Outcome::Deny => {
            format!("{who} may not use {model}: denied (HTTP 451) by {enforced}.")
        }
        Outcome::Reroute { to } => {
            format!("{who} asking for {model} is served by {to} instead, by {enforced}.")
        }
    };
    if !decision.shadow.is_empty() {
        text.push_str(&format!(
            " Shadow directives that would have fired: {}.",
            decision.shadow_ids().join(", ")
        ));
    }
    if !decision.missing_facts.is_empty() {
        text.push_str(&format!(
            " Facts the registry does not hold, treated as unknown (not a US person, not a US citizen): {}.",
            decision.missing_facts.join(", ")
        ));
    }
    text
}

fn facts_json(query: &Query<'_>) -> Value {
    let principal: Map<String, Value> = principal_attributes(&query.facts.principal)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect();
    let context: Map<String, Value> =
        context_attributes(&query.facts.request, query.at.timestamp())
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
    serde_json::json!({ "principal": principal, "context": context })
}

fn effect_words(d: &Directive) -> String {
    match &d.effect {
        Effect::Deny => "deny".to_string(),
        Effect::Reroute(to) => format!("reroute to {to}"),
    }
}

fn verdict(book: &PolicyBook, d: &Directive, query: &Query<'_>, facts: &Value) -> Verdict {
    let facts_read: Map<String, Value> = book
        .facts_read_by(&d.id)
        .iter()
        .filter_map(|name| {
            let (root, attribute) = name.split_once('.')?;
            let value = facts.get(root).and_then(|v| v.get(attribute))?;
            Some((name.clone(), value.clone()))
        })
        .collect();
    let fired = book
        .policy_of(&d.id)
        .map(|policy| book.fires_alone(policy, query));
    if let (Some(Ok(false)), Some(max_age)) = (&fired, stale_age(d, query)) {
        let blank = clearance_core::facts::Facts {
            principal: query.facts.principal.without_stored_facts(),
            request: query.facts.request.clone(),
        };
        let blank_query = Query {
            facts: &blank,
            ..*query
        };
        if let Some(Ok(true) | Err(_)) = book
            .policy_of(&d.id)
            .map(|policy| book.fires_alone(policy, &blank_query))
        {
            return Verdict {
                fired: true,
                reason: format!(
                    "the principal's facts were {}, longer ago than its stale_after ({max_age} s): it read them as missing, and then it fires",
                    match query.facts.principal.confirmed_at {
                        Some(at) =>
                            format!("last confirmed by the identity provider at Unix time {at}"),
                        None => "never confirmed by the identity provider".to_string(),
                    }
                ),
                ..verdict_of(d, query, facts_read, false, String::new())
            };
        }
    }
    let (fired, reason) = match fired {
        Some(Ok(true)) => (true, fired_reason(d, query)),
        Some(Ok(false)) => (false, not_fired_reason(book, d, query)),
        Some(Err(error)) => (
            true,
            format!(
                "Cedar could not evaluate it ({error}); it counts as fired, so the request is not let through"
            ),
        ),
        None => (false, "not compiled".to_string()),
    };
    verdict_of(d, query, facts_read, fired, reason)
}

fn verdict_of(
    d: &Directive,
    query: &Query<'_>,
    facts_read: Map<String, Value>,
    fired: bool,
    reason: String,
) -> Verdict {
    Verdict {
        id: d.id.clone(),
        title: d.title.clone(),
        authority: d.authority.clone(),
        mode: d.mode.as_str().to_string(),
        effect: effect_words(d),
        model: query.model.to_string(),
        fired,
        reason,
        facts_read,
    }
}

/// The directive's `stale_after` when the principal's facts are older than that.
fn stale_age(d: &Directive, query: &Query<'_>) -> Option<u64> {
    let max_age = d.stale_after_s?;
    crate::book::facts_are_stale(
        query.facts.principal.confirmed_at,
        query.at.timestamp(),
        max_age,
    )
    .then_some(max_age)
}

fn scope_words(d: &Directive, model: &str) -> String {
    if d.scope.covers_every_model() {
        "it covers every model".to_string()
    } else if d.scope.models.iter().any(|m| m == model) {
        format!("it names {model}")
    } else {
        format!("it covers models tagged {}", d.scope.tags.join(" or "))
    }
}

fn fired_reason(d: &Directive, query: &Query<'_>) -> String {
    let mut parts = vec![scope_words(d, query.model)];
    if let Some(from) = d.effective {
        parts.push(format!(
            "it is in effect since {}",
            from.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    if !d.scope.capabilities.is_empty() {
        parts.push(format!(
            "the request uses {}",
            d.scope
                .capabilities
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    match (&d.condition, d.origin.kind) {
        (Some(condition), SourceKind::Toml) => {
            parts.push(format!("its condition `{condition}` holds for this caller"))
        }
        (_, SourceKind::Cedar) => parts.push("its Cedar policy is satisfied".to_string()),
        (None, _) => parts.push("it has no condition: it covers everyone".to_string()),
    }
    format!("fired: {}", parts.join("; "))
}

fn not_fired_reason(book: &PolicyBook, d: &Directive, query: &Query<'_>) -> String {
    let at = query.at;
    if let Some(from) = d.effective.filter(|from| at < *from) {
        return format!(
            "did not fire: not in effect yet (effective from {})",
            from.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    if let Some(until) = d.expires.filter(|until| at >= *until) {
        return format!(
            "did not fire: expired at {}",
            until.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    let capabilities = &d.scope.capabilities;
    if !capabilities.is_empty()
        && !capabilities
            .iter()
            .any(|c| query.facts.request.capabilities.contains(c))
    {
        let names: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
        return format!(
            "did not fire: it covers only requests using {}, and this request uses none",
            names.join(" or ")
        );
    }
    match (&d.condition, d.origin.kind) {
        (Some(condition), SourceKind::Toml) => match condition_holds(book, condition, query) {
            Ok(false) => {
                format!("did not fire: its condition `{condition}` is false for this caller")
            }
            Ok(true) => "did not fire".to_string(),
            Err(error) => format!("did not fire: {error}"),
        },
        _ => "did not fire: its Cedar policy is not satisfied".to_string(),
    }
}

/// Evaluates a TOML directive's condition on its own.
fn condition_holds(book: &PolicyBook, condition: &str, query: &Query<'_>) -> Result<bool, String> {
    let text = format!("forbid (principal, action, resource) when {{ {condition} }};");
    let policy = Policy::parse(Some(PolicyId::new("condition")), text).map_err(|e| describe(&e))?;
    let _ = cedar_policy::Expression::from_str(condition).map_err(|e| describe(&e))?;
    book.fires_alone(&policy, query)
}

/// The explanation as text for a person.
pub fn render_text(e: &Explanation) -> String {
    let mut out = format!(
        "Decision: {} (policy version {})\n{}\n",
        e.decision.to_uppercase(),
        e.policy_version,
        e.summary
    );
    if e.directives.is_empty() {
        out.push_str("\nNo directive covers this model.\n");
    }
    for v in &e.directives {
        out.push_str(&format!(
            "\n{} [{}, {}] on {}: {}\n  {}\n  authority: {}\n",
            v.id, v.mode, v.effect, v.model, v.title, v.reason, v.authority
        ));
        for (name, value) in &v.facts_read {
            out.push_str(&format!("  read {name} = {value}\n"));
        }
    }
    if !e.missing_facts.is_empty() {
        out.push_str(&format!(
            "\nMissing facts: {}\n",
            e.missing_facts.join(", ")
        ));
    }
    out
}
