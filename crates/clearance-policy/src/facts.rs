//! Facts as Cedar sees them: principal and model entities, and the request context.
//!
//! One function per side lists the attributes with their values; the same list builds the
//! Cedar entity and the JSON an explanation prints, so what Cedar evaluated and what a person
//! reads can never drift apart.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Context, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use clearance_core::fact_table::{self, MISSING_FACTS};
use clearance_core::facts::{PrincipalFacts, RequestFacts};

pub use clearance_core::fact_table::FactValue;

fn to_cedar(value: &FactValue) -> RestrictedExpression {
    match value {
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

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> FactValue {
    FactValue::strings(items)
}

/// The principal's attributes, named as in the schema. Unknown facts are empty.
pub fn principal_attributes(p: &PrincipalFacts) -> Vec<(&'static str, FactValue)> {
    let mut attributes = p.stored_values();
    attributes.extend(p.derived_values());
    attributes.push((MISSING_FACTS, strings(p.missing.iter().map(String::as_str))));
    attributes
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
    if let Some(fact) = attribute.strip_prefix("principal.") {
        return fact_table::missing_fact_for(fact);
    }
    match attribute {
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
        .map(|(name, value)| (name.to_string(), to_cedar(&value)))
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
        ("tags".to_string(), to_cedar(&FactValue::Set(tags.to_vec()))),
    ]);
    let parents = tags.iter().map(|t| uid("ModelTag", t)).collect();
    Entity::new(uid("Model", name), attrs, parents).map_err(|e| FactsError(e.to_string()))
}

pub(crate) fn context(r: &RequestFacts, now_unix: i64) -> Result<Context, FactsError> {
    Context::from_pairs(
        context_attributes(r, now_unix)
            .into_iter()
            .map(|(name, value)| (name.to_string(), to_cedar(&value))),
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

/// Checks the entities and context built for a request against the schema, as Cedar's own
/// validation does. Not run per request (the builders above are the only producers and this
/// costs more than a decision): the tests run it, so a drift between the fact table, the
/// builders and the schema fails a test instead of every request.
pub fn check_against_schema(
    principal_id: &str,
    facts: &clearance_core::facts::Facts,
    now_unix: i64,
) -> Result<(), FactsError> {
    let schema = crate::schema::schema();
    let principal = principal_entity(principal_id, &facts.principal)?;
    let model = model_entity("schema-check", "schema-check", &["schema-check-tag".into()])?;
    cedar_policy::Entities::from_entities([principal, model], Some(schema))
        .map_err(|e| FactsError(format!("entities do not match the schema: {e}")))?;
    cedar_policy::Request::new(
        uid("Principal", principal_id),
        action(),
        uid("Model", "schema-check"),
        context(&facts.request, now_unix)?,
        Some(schema),
    )
    .map_err(|e| FactsError(format!("the request does not match the schema: {e}")))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clearance_core::fact_table::{FactKind, PRINCIPAL_FACTS};
    use clearance_core::facts::{Capability, Facts, RequestFacts};
    use clearance_core::principal::Principal;

    use super::*;

    fn facts_of(principal: &Principal) -> Facts {
        Facts {
            principal: PrincipalFacts::from(principal),
            request: RequestFacts {
                country: Some("DE".parse().unwrap()),
                capabilities: [Capability::Tools, Capability::Stream].into(),
                api: clearance_core::api::ApiSurface::OpenaiChat,
                max_tokens: Some(10),
                app: Some("app".into()),
            },
        }
    }

    #[test]
    fn entities_built_for_any_principal_match_the_schema() {
        let empty = Principal::new("nobody".parse().unwrap());
        let mut full = Principal::new("everything".parse().unwrap());
        for spec in PRINCIPAL_FACTS {
            match full.fact_mut(spec.name).unwrap() {
                clearance_core::fact_table::FactSlot::Countries(set) => {
                    set.extend([
                        clearance_core::country::CountryCode::US,
                        "DE".parse().unwrap(),
                    ]);
                }
                clearance_core::fact_table::FactSlot::Country(c) => {
                    *c = Some("FR".parse().unwrap())
                }
                clearance_core::fact_table::FactSlot::Flag(f) => *f = true,
                clearance_core::fact_table::FactSlot::Text(t) => *t = Some("acme".into()),
                clearance_core::fact_table::FactSlot::Labels(l) => {
                    l.insert("engineer".into());
                }
                clearance_core::fact_table::FactSlot::Screening(s) => {
                    *s = Some(clearance_core::screening::ScreeningFact::from_matches(
                        vec![],
                        vec!["ofac-sdn@1".into()],
                        "test",
                        chrono::Utc::now(),
                    ));
                }
            }
        }
        for principal in [&empty, &full] {
            check_against_schema(principal.id.as_str(), &facts_of(principal), 1_800_000_000)
                .unwrap();
        }
    }

    #[test]
    fn every_fact_in_the_table_is_a_schema_attribute_and_nothing_else_is() {
        let built: Vec<&str> = principal_attributes(&PrincipalFacts::default())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let text = crate::schema::schema_text();
        for name in &built {
            assert!(
                text.contains(&format!("\"{name}\":")),
                "{name} missing from the schema"
            );
        }
        let principal_block = text
            .split("entity Principal = {")
            .nth(1)
            .and_then(|rest| rest.split("};").next())
            .unwrap();
        assert_eq!(principal_block.matches(':').count(), built.len());
        assert!(PRINCIPAL_FACTS.iter().all(|s| built.contains(&s.name)));
    }

    #[test]
    fn a_builder_that_drifts_from_the_schema_is_caught() {
        // What a hand-written builder got wrong before the table: a flag sent as a string.
        let flag = PRINCIPAL_FACTS
            .iter()
            .find(|s| s.kind == FactKind::Flag)
            .unwrap();
        let attrs: HashMap<String, RestrictedExpression> =
            principal_attributes(&PrincipalFacts::default())
                .into_iter()
                .map(|(name, value)| {
                    let value = if name == flag.name {
                        FactValue::Str("yes".into())
                    } else {
                        value
                    };
                    (name.to_string(), to_cedar(&value))
                })
                .collect();
        let drifted = Entity::new(uid("Principal", "p"), attrs, HashSet::new()).unwrap();
        let checked =
            cedar_policy::Entities::from_entities([drifted], Some(crate::schema::schema()));
        assert!(
            checked.is_err(),
            "a Bool attribute given a String must be refused"
        );
    }
}
