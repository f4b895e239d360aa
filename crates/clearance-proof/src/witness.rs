//! From the solver's counterexample to a caller the gateway could really see, and back
//! through the real decision.
//!
//! The solver answers with Cedar entities and a context. They are read back into a
//! `Principal` and `RequestFacts` (the types the registry and the gateway hold), the derived
//! facts are computed again by the code that computes them in production, and the result must
//! give Cedar exactly the attributes the solver chose. Only then is the caller replayed through
//! [`PolicyBook::decide`]; a counterexample that fails either step is a bug in the analysis
//! (or in Cedar's symbolic compiler) and is reported as one, never as a finding.

use std::collections::BTreeMap;

use cedar_policy::{EntityUid, EvalResult};
use cedar_policy_symcc::Env;
use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::fact_table::{FactSlot, FactValue, PRINCIPAL_FACTS};
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_core::screening::{ScreeningFact, ScreeningStatus};
use clearance_policy::facts::{context_attributes, principal_attributes};
use clearance_policy::{Outcome, PolicyBook, Query};
use serde_json::{Value, json};

/// A concrete caller and request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub principal_id: String,
    pub facts: Facts,
    pub model: String,
    pub at: DateTime<Utc>,
}

/// Why a counterexample is not a caller the gateway could see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotACaller(pub String);

impl Caller {
    pub fn query(&self) -> Query<'_> {
        Query {
            principal_id: &self.principal_id,
            facts: &self.facts,
            model: &self.model,
            at: self.at,
        }
    }

    /// What `book` decides for this caller.
    pub fn outcome(&self, book: &PolicyBook) -> Outcome {
        book.decide(&self.query()).outcome
    }

    /// The same caller asking for another model.
    pub fn on_model(&self, model: &str) -> Caller {
        Caller {
            model: model.to_string(),
            ..self.clone()
        }
    }

    /// The caller in words: the facts that are set, then the request.
    pub fn describe(&self) -> String {
        let p = &self.facts.principal;
        let mut facts: Vec<String> = principal_attributes(p)
            .into_iter()
            .filter(|(name, _)| *name != clearance_core::fact_table::MISSING_FACTS)
            .filter_map(|(name, value)| match value {
                FactValue::Bool(true) => Some(name.to_string()),
                FactValue::Bool(false) => None,
                FactValue::Str(s) if s.is_empty() => None,
                FactValue::Str(s) => Some(format!("{name} {s}")),
                FactValue::Set(items) if items.is_empty() => None,
                FactValue::Set(items) => Some(format!("{name} [{}]", items.join(", "))),
                FactValue::Long(n) => Some(format!("{name} {n}")),
            })
            .collect();
        if !p.us_person {
            facts.push("not a US person".into());
        }
        if !p.missing.is_empty() {
            facts.push(format!("unknown: {}", p.missing.join(", ")));
        }
        let r = &self.facts.request;
        let mut request = vec![format!("asks for {} ({})", self.model, r.api.as_str())];
        match r.country {
            Some(country) => request.push(format!("from {}", country.as_str())),
            None => request.push("from an unknown country".into()),
        }
        if !r.capabilities.is_empty() {
            let used: Vec<&str> = r.capabilities.iter().map(|c| c.as_str()).collect();
            request.push(format!("using {}", used.join(", ")));
        }
        if let Some(n) = r.max_tokens {
            request.push(format!("max_tokens {n}"));
        }
        if let Some(app) = &r.app {
            request.push(format!("app {app:?}"));
        }
        request.push(format!(
            "at {}",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
        let who = if facts.is_empty() {
            "a principal with no facts".to_string()
        } else {
            format!("a principal with {}", facts.join("; "))
        };
        format!("{who}, {}", request.join(", "))
    }

    pub fn to_json(&self) -> Value {
        let principal: serde_json::Map<String, Value> = principal_attributes(&self.facts.principal)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_json()))
            .collect();
        let context: serde_json::Map<String, Value> =
            context_attributes(&self.facts.request, self.at.timestamp())
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.to_json()))
                .collect();
        json!({
            "principal_id": self.principal_id,
            "principal": principal,
            "model": self.model,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "context": context,
        })
    }
}

/// Reads a counterexample back into a caller, refusing one whose attributes no registry
/// principal and no gateway request could have.
pub fn caller_of(env: &Env) -> Result<Caller, NotACaller> {
    let request = &env.request;
    let (Some(principal_uid), Some(resource_uid), Some(context)) =
        (request.principal(), request.resource(), request.context())
    else {
        return Err(NotACaller(
            "the counterexample has no principal, model or context".into(),
        ));
    };
    let principal_attrs = entity_attributes(env, principal_uid)?;
    let context_attrs: BTreeMap<String, FactValue> = [
        "now",
        "country",
        "capabilities",
        "api",
        "stream",
        "max_tokens",
        "app",
    ]
    .into_iter()
    .map(|name| {
        context
            .get(name)
            .ok_or_else(|| NotACaller(format!("the context has no `{name}`")))
            .and_then(|value| fact_value(name, &value).map(|v| (name.to_string(), v)))
    })
    .collect::<Result<_, _>>()?;
    let principal = principal_from(&principal_attrs)?;
    let facts = Facts {
        principal: PrincipalFacts::from(&principal),
        request: request_from(&context_attrs)?,
    };
    let now = long(&context_attrs, "now")?;
    let at = DateTime::from_timestamp(now, 0)
        .ok_or_else(|| NotACaller(format!("context.now {now} is not a time")))?;
    let caller = Caller {
        principal_id: principal_uid.id().unescaped().to_string(),
        facts,
        model: resource_uid.id().unescaped().to_string(),
        at,
    };
    same_attributes(
        "principal",
        &principal_attrs,
        principal_attributes(&caller.facts.principal),
    )?;
    same_attributes(
        "context",
        &context_attrs,
        context_attributes(&caller.facts.request, now),
    )?;
    Ok(caller)
}

/// The facts rebuilt by production code must be the ones the solver chose: anything else
/// means an assumption is missing and the counterexample describes nobody.
fn same_attributes(
    what: &str,
    chosen: &BTreeMap<String, FactValue>,
    rebuilt: Vec<(&'static str, FactValue)>,
) -> Result<(), NotACaller> {
    for (name, value) in rebuilt {
        let chosen_value = chosen.get(name).map(normalised);
        if chosen_value.as_ref() != Some(&normalised(&value)) {
            return Err(NotACaller(format!(
                "the solver chose {what}.{name} = {:?}, but a caller with those facts has {:?}",
                chosen.get(name),
                value
            )));
        }
    }
    Ok(())
}

fn normalised(value: &FactValue) -> FactValue {
    match value {
        FactValue::Set(items) => {
            let mut items = items.clone();
            items.sort();
            items.dedup();
            FactValue::Set(items)
        }
        other => other.clone(),
    }
}

fn entity_attributes(
    env: &Env,
    uid: &EntityUid,
) -> Result<BTreeMap<String, FactValue>, NotACaller> {
    let entity = env
        .entities
        .get(uid)
        .ok_or_else(|| NotACaller(format!("the counterexample has no entity {uid}")))?;
    let mut attributes = BTreeMap::new();
    for (name, _) in principal_attributes(&PrincipalFacts::default()) {
        let value = entity
            .attr(name)
            .ok_or_else(|| NotACaller(format!("the principal has no `{name}`")))?
            .map_err(|e| NotACaller(format!("principal.{name}: {e}")))?;
        attributes.insert(name.to_string(), fact_value(name, &value)?);
    }
    Ok(attributes)
}

fn fact_value(name: &str, value: &EvalResult) -> Result<FactValue, NotACaller> {
    Ok(match value {
        EvalResult::Bool(b) => FactValue::Bool(*b),
        EvalResult::Long(n) => FactValue::Long(*n),
        EvalResult::String(s) => FactValue::Str(s.clone()),
        EvalResult::Set(items) => FactValue::Set(
            items
                .iter()
                .map(|item| match item {
                    EvalResult::String(s) => Ok(s.clone()),
                    other => Err(NotACaller(format!("{name} holds {other:?}"))),
                })
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(NotACaller(format!("{name} is {other:?}"))),
    })
}

fn principal_from(attrs: &BTreeMap<String, FactValue>) -> Result<Principal, NotACaller> {
    let id = "counterexample"
        .parse()
        .map_err(|_| NotACaller("a fixed principal id".into()))?;
    let mut principal = Principal::new(id);
    for spec in PRINCIPAL_FACTS {
        let value = attrs
            .get(spec.name)
            .ok_or_else(|| NotACaller(format!("no `{}`", spec.name)))?;
        let slot = principal
            .fact_mut(spec.name)
            .ok_or_else(|| NotACaller(format!("no slot for `{}`", spec.name)))?;
        set_slot(spec.name, slot, value)?;
    }
    // Fresh facts: a directive's `stale_after` is not what a counterexample is about.
    principal.facts_confirmed_at = Some(Utc::now());
    Ok(principal)
}

fn set_slot(name: &str, slot: FactSlot<'_>, value: &FactValue) -> Result<(), NotACaller> {
    let bad = || NotACaller(format!("principal.{name} cannot hold {value:?}"));
    let country = |text: &str| text.parse().map_err(|_| bad());
    match (slot, value) {
        (FactSlot::Countries(set), FactValue::Set(items)) => {
            *set = items.iter().map(|c| country(c)).collect::<Result<_, _>>()?;
        }
        (FactSlot::Country(c), FactValue::Str(text)) => {
            *c = (!text.is_empty()).then(|| country(text)).transpose()?;
        }
        (FactSlot::Flag(f), FactValue::Bool(b)) => *f = *b,
        (FactSlot::Text(t), FactValue::Str(text)) => *t = (!text.is_empty()).then(|| text.clone()),
        (FactSlot::Labels(labels), FactValue::Set(items)) => {
            *labels = items.iter().cloned().collect();
        }
        (FactSlot::Screening(s), FactValue::Str(text)) => {
            let status = match text.as_str() {
                "" => None,
                "clear" => Some(ScreeningStatus::Clear),
                "potential_match" => Some(ScreeningStatus::PotentialMatch),
                "match" => Some(ScreeningStatus::Match),
                _ => return Err(bad()),
            };
            *s = status.map(|status| ScreeningFact {
                status,
                ..ScreeningFact::from_matches(Vec::new(), Vec::new(), "counterexample", Utc::now())
            });
        }
        _ => return Err(bad()),
    }
    Ok(())
}

fn long(attrs: &BTreeMap<String, FactValue>, name: &str) -> Result<i64, NotACaller> {
    match attrs.get(name) {
        Some(FactValue::Long(n)) => Ok(*n),
        other => Err(NotACaller(format!("context.{name} is {other:?}"))),
    }
}

fn text<'a>(attrs: &'a BTreeMap<String, FactValue>, name: &str) -> Result<&'a str, NotACaller> {
    match attrs.get(name) {
        Some(FactValue::Str(s)) => Ok(s),
        other => Err(NotACaller(format!("context.{name} is {other:?}"))),
    }
}

fn request_from(attrs: &BTreeMap<String, FactValue>) -> Result<RequestFacts, NotACaller> {
    let country = text(attrs, "country")?;
    let country = (!country.is_empty())
        .then(|| country.parse())
        .transpose()
        .map_err(|_| NotACaller(format!("context.country {country:?} is not a country")))?;
    let capabilities = match attrs.get("capabilities") {
        Some(FactValue::Set(items)) => items
            .iter()
            .map(|c| {
                Capability::parse(c)
                    .ok_or_else(|| NotACaller(format!("capability {c:?} does not exist")))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(NotACaller(format!("context.capabilities is {other:?}"))),
    };
    let api = text(attrs, "api")?;
    let api = ApiSurface::ALL
        .into_iter()
        .find(|a| a.as_str() == api)
        .ok_or_else(|| NotACaller(format!("context.api {api:?} does not exist")))?;
    let max_tokens = match long(attrs, "max_tokens")? {
        i64::MAX => None,
        n => Some(u64::try_from(n).map_err(|_| NotACaller(format!("context.max_tokens is {n}")))?),
    };
    let app = text(attrs, "app")?;
    Ok(RequestFacts {
        country,
        capabilities,
        api,
        max_tokens,
        app: (!app.is_empty()).then(|| app.to_string()),
    })
}
