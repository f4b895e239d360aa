//! The facts an access decision reads, as a snapshot that travels with the decision.
//!
//! A [`Facts`] value is what the policy engine evaluates and what the audit record keeps, so a
//! later impact preview can re-evaluate a draft directive against exactly the facts that held
//! when each request was made, even if the registry has changed since. Principal facts come from
//! the registry only; request facts come from the connection (geo-IP) and the request body. No
//! header a client sets reaches a principal fact.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::ApiSurface;
use crate::country::CountryCode;
use crate::principal::Principal;

/// Everything a decision may read: who is asking and what they ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub principal: PrincipalFacts,
    pub request: RequestFacts,
}

/// A principal's registry facts plus the derived ones, at one moment. The default holds
/// no facts at all (and so lists none as missing either).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalFacts {
    pub citizenships: BTreeSet<CountryCode>,
    pub permanent_residency: BTreeSet<CountryCode>,
    pub protected_individual: bool,
    pub us_citizen: bool,
    pub us_person: bool,
    pub residence: Option<CountryCode>,
    pub org: Option<String>,
    pub employee: bool,
    pub roles: BTreeSet<String>,
    /// Facts the registry does not hold; a decision that read them treated them as unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// When the identity provider last confirmed the registry's facts (Unix seconds); absent
    /// when it never has. Directives with `stale_after` read older facts as missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<i64>,
    /// Where each fact came from when not every fact came from the registry (a signed-in
    /// caller's token may supply some): fact name to `registry` or `token:<issuer>`.
    /// Empty (and absent from the record) when the registry supplied them all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, String>,
}

impl From<&Principal> for PrincipalFacts {
    fn from(p: &Principal) -> PrincipalFacts {
        PrincipalFacts {
            citizenships: p.citizenships.clone(),
            permanent_residency: p.permanent_residency.clone(),
            protected_individual: p.protected_individual,
            us_citizen: p.us_citizen(),
            us_person: p.us_person(),
            residence: p.residence,
            org: p.org.clone(),
            employee: p.employee,
            roles: p.roles.clone(),
            missing: p.missing_facts().into_iter().map(String::from).collect(),
            confirmed_at: p.facts_confirmed_at.map(|at| at.timestamp()),
            sources: BTreeMap::new(),
        }
    }
}

/// What a request asks for, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    /// The request country from geo-IP; `None` when there is no database or no match.
    pub country: Option<CountryCode>,
    pub capabilities: BTreeSet<Capability>,
    pub api: ApiSurface,
    /// The answer length the client asked for, when it asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// The application: the name of the key the request came with, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// Something a request uses that a directive may restrict on its own (e.g. tool use only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Tool or function definitions are present.
    Tools,
    /// Image input is present.
    Images,
    /// The answer is streamed.
    Stream,
}

impl Capability {
    pub const ALL: [Capability; 3] = [Capability::Tools, Capability::Images, Capability::Stream];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Tools => "tools",
            Capability::Images => "images",
            Capability::Stream => "stream",
        }
    }

    pub fn parse(text: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips_through_json() {
        let facts = Facts {
            principal: PrincipalFacts {
                citizenships: ["US".parse().unwrap(), "MX".parse().unwrap()].into(),
                permanent_residency: BTreeSet::new(),
                protected_individual: false,
                us_citizen: true,
                us_person: true,
                residence: Some("MX".parse().unwrap()),
                org: Some("acme".into()),
                employee: true,
                roles: ["engineer".to_string()].into(),
                missing: vec![],
                ..PrincipalFacts::default()
            },
            request: RequestFacts {
                country: Some("DE".parse().unwrap()),
                capabilities: [Capability::Tools].into(),
                api: ApiSurface::OpenaiChat,
                max_tokens: Some(100),
                app: None,
            },
        };
        let json = serde_json::to_string(&facts).unwrap();
        assert_eq!(serde_json::from_str::<Facts>(&json).unwrap(), facts);
    }

    #[test]
    fn capability_names_parse_back() {
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(c));
        }
        assert_eq!(Capability::parse("telepathy"), None);
    }
}
