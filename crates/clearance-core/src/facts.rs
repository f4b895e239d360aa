//! The facts an access decision reads, as a snapshot that travels with the decision.
//!
//! A [`Facts`] value is what the policy engine evaluates and what the audit record keeps, so a
//! later impact preview can re-evaluate a draft directive against exactly the facts that held
//! when each request was made, even if the registry has changed since. Principal facts come from
//! the registry only; request facts come from the connection (geo-IP) and the request body. No
//! header a client sets reaches a principal fact.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::api::ApiSurface;
use crate::country::CountryCode;

/// Everything a decision may read: who is asking and what they ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub principal: PrincipalFacts,
    pub request: RequestFacts,
}

pub use crate::fact_table::PrincipalFacts;

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
