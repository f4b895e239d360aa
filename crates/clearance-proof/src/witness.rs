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

use crate::prover::Answer;
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
        let facts: Vec<String> = principal_attributes(p)
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
        let mut notes = Vec::new();
        if !p.us_person {
            notes.push("not a US person".to_string());
        }
        if !p.missing.is_empty() {
            notes.push(format!("unknown: {}", p.missing.join(", ")));
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
        let mut who = if facts.is_empty() {
            "a principal with no facts on record".to_string()
        } else {
            format!("a principal with {}", facts.join("; "))
        };
        if !notes.is_empty() {
            who.push_str(&format!(" ({})", notes.join("; ")));
        }
        format!("{who}: {}", request.join(", "))
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
/// principal and no gateway request could have. Attributes the query did not constrain
/// (`answer.reads`) get ordinary values instead of the solver's arbitrary ones: the query
/// holds whatever they are.
pub fn caller_of(answer: &Answer) -> Result<Caller, NotACaller> {
    let request = &answer.env.request;
    let (Some(principal_uid), Some(resource_uid), Some(context)) =
        (request.principal(), request.resource(), request.context())
    else {
        return Err(NotACaller(
            "the counterexample has no principal, model or context".into(),
        ));
    };
    let read = |name: &str| answer.reads.as_ref().is_none_or(|r| r.contains(name));
    let principal_attrs = entity_attributes(&answer.env, principal_uid)?;
    let default_now = answer.default_now.map_or(0, |t| t.timestamp());
    let mut context_attrs = BTreeMap::new();
    for (name, ordinary) in ordinary_context(default_now) {
        let value = if read(&format!("context.{name}")) {
            let value = context
                .get(name)
                .ok_or_else(|| NotACaller(format!("the context has no `{name}`")))?;
            fact_value(name, &value)?
        } else {
            ordinary
        };
        context_attrs.insert(name.to_string(), value);
    }
    let principal = principal_from(&principal_attrs, &|name| read(&format!("principal.{name}")))?;
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
    let principal_read = |name: &&str| read(&format!("principal.{name}"));
    same_attributes(
        "principal",
        &principal_attrs,
        principal_attributes(&caller.facts.principal)
            .into_iter()
            .filter(|(name, _)| principal_read(name))
            .collect(),
    )?;
    let context_read = |name: &&str| read(&format!("context.{name}"));
    same_attributes(
        "context",
        &context_attrs,
        context_attributes(&caller.facts.request, now)
            .into_iter()
            .filter(|(name, _)| context_read(name))
            .collect(),
    )?;
    Ok(caller)
}

/// The request attributes of an ordinary request: at `now`, from an unknown country, nothing
/// special asked for.
fn ordinary_context(now: i64) -> [(&'static str, FactValue); 7] {
    [
        ("now", FactValue::Long(now)),
        ("country", FactValue::Str(String::new())),
        ("capabilities", FactValue::Set(Vec::new())),
        (
            "api",
            FactValue::Str(ApiSurface::OpenaiChat.as_str().to_string()),
        ),
        ("stream", FactValue::Bool(false)),
        ("max_tokens", FactValue::Long(i64::MAX)),
        ("app", FactValue::Str(String::new())),
    ]
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

/// A principal with the solver's value for every stored fact `read` names, the others unknown.
fn principal_from(
    attrs: &BTreeMap<String, FactValue>,
    read: &dyn Fn(&str) -> bool,
) -> Result<Principal, NotACaller> {
    let id = "counterexample"
        .parse()
        .map_err(|_| NotACaller("a fixed principal id".into()))?;
    let mut principal = Principal::new(id);
    for spec in PRINCIPAL_FACTS.iter().filter(|spec| read(spec.name)) {
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
