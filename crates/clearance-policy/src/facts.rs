//! Facts as Cedar sees them: principal and model entities, and the request context.
//!
//! One function per side lists the attributes with their values; the same list builds the
//! Cedar entity and the JSON an explanation prints, so what Cedar evaluated and what a person
//! reads can never drift apart.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Context, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use clearance_core::facts::{PrincipalFacts, RequestFacts};
use serde_json::Value;

/// A fact's value in the schema's types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FactValue {
    Str(String),
    Bool(bool),
    Long(i64),
    Set(Vec<String>),
}

impl FactValue {
    pub fn to_json(&self) -> Value {
        match self {
            FactValue::Str(s) => Value::String(s.clone()),
            FactValue::Bool(b) => Value::Bool(*b),
            FactValue::Long(n) => Value::from(*n),
            FactValue::Set(items) => Value::from(items.clone()),
        }
    }

    fn to_cedar(&self) -> RestrictedExpression {
        match self {
            FactValue::Str(s) => RestrictedExpression::new_string(s.clone()),
            FactValue::Bool(b) => RestrictedExpression::new_bool(*b),
            FactValue::Long(n) => RestrictedExpression::new_long(*n),
            FactValue::Set(items) => RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            ),
        }
    }
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> FactValue {
    FactValue::Set(items.into_iter().map(String::from).collect())
}

/// The principal's attributes, named as in the schema. Unknown facts are empty.
pub fn principal_attributes(p: &PrincipalFacts) -> Vec<(&'static str, FactValue)> {
    vec![
        (
            "citizenships",
            strings(p.citizenships.iter().map(|c| c.as_str())),
        ),
        (
            "permanent_residency",
            strings(p.permanent_residency.iter().map(|c| c.as_str())),
        ),
        (
            "protected_individual",
            FactValue::Bool(p.protected_individual),
        ),
        ("us_citizen", FactValue::Bool(p.us_citizen)),
        ("us_person", FactValue::Bool(p.us_person)),
        (
            "residence",
            FactValue::Str(
                p.residence
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            ),
        ),
        ("org", FactValue::Str(p.org.clone().unwrap_or_default())),
        ("employee", FactValue::Bool(p.employee)),
        ("roles", strings(p.roles.iter().map(String::as_str))),
        (
            "missing_facts",
            strings(p.missing.iter().map(String::as_str)),
        ),
    ]
}

/// The request context's attributes, named as in the schema.
pub fn context_attributes(r: &RequestFacts, now_unix: i64) -> Vec<(&'static str, FactValue)> {
    vec![
        ("now", FactValue::Long(now_unix)),
        (
            "country",
            FactValue::Str(
                r.country
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            ),
        ),
        (
            "capabilities",
            strings(r.capabilities.iter().map(|c| c.as_str())),
        ),
        ("api", FactValue::Str(r.api.as_str().to_string())),
        (
            "stream",
            FactValue::Bool(
                r.capabilities
                    .contains(&clearance_core::facts::Capability::Stream),
            ),
        ),
        (
            "max_tokens",
            FactValue::Long(
                // No limit given: the provider may answer at its own (possibly model-maximum)
                // length, so the fact is the largest there is, never 0 (which would pass
                // `context.max_tokens > N`).
                r.max_tokens
                    .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX)),
            ),
        ),
        ("app", FactValue::Str(r.app.clone().unwrap_or_default())),
    ]
}

/// The name of the missing-fact entry that makes an attribute unknown, if any.
pub(crate) fn missing_fact_for(attribute: &str) -> Option<&'static str> {
    match attribute {
        "principal.citizenships" | "principal.us_citizen" | "principal.us_person" => {
            Some("citizenships")
        }
        "principal.residence" => Some("residence"),
        "principal.org" => Some("org"),
        "context.country" => Some("request_country"),
        "context.max_tokens" => Some("max_tokens"),
        _ => None,
    }
}

pub(crate) fn uid(type_name: &str, id: &str) -> EntityUid {
    let type_name: EntityTypeName = type_name
        .parse()
        .expect("entity type names used here are fixed identifiers");
    EntityUid::from_type_name_and_id(type_name, EntityId::new(id))
}

pub(crate) fn action() -> EntityUid {
    uid("Action", "invoke")
}

/// Why facts could not be turned into Cedar values (never expected: the values are literals).
#[derive(Debug, thiserror::Error)]
#[error("could not build the Cedar request: {0}")]
pub struct FactsError(String);

pub(crate) fn principal_entity(id: &str, p: &PrincipalFacts) -> Result<Entity, FactsError> {
    let attrs: HashMap<String, RestrictedExpression> = principal_attributes(p)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_cedar()))
        .collect();
    Entity::new(uid("Principal", id), attrs, HashSet::new()).map_err(|e| FactsError(e.to_string()))
}

pub(crate) fn model_entity(
    name: &str,
    provider: &str,
    tags: &[String],
) -> Result<Entity, FactsError> {
    let attrs = HashMap::from([
        (
            "provider".to_string(),
            RestrictedExpression::new_string(provider.to_string()),
        ),
        ("tags".to_string(), FactValue::Set(tags.to_vec()).to_cedar()),
    ]);
    let parents = tags.iter().map(|t| uid("ModelTag", t)).collect();
    Entity::new(uid("Model", name), attrs, parents).map_err(|e| FactsError(e.to_string()))
}

pub(crate) fn context(r: &RequestFacts, now_unix: i64) -> Result<Context, FactsError> {
    Context::from_pairs(
        context_attributes(r, now_unix)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_cedar())),
    )
    .map_err(|e| FactsError(e.to_string()))
}

impl FactsError {
    pub(crate) fn unknown_model(model: &str) -> FactsError {
        FactsError(format!("model `{model}` is not in the catalog"))
    }

    pub(crate) fn other(message: String) -> FactsError {
        FactsError(message)
    }
}
