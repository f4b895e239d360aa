//! The combine rule: the registry's facts and a token's, per fact, into one principal.
//!
//! For each fact in the table of principal facts, the preferred source (`prefer`, or
//! `prefer_fact` for that fact) supplies it when that source *holds* it; otherwise the other
//! source does. The registry holds a fact when it is known there (a non-empty set, a country or
//! text that is set) and a yes/no fact always (a principal record says yes or no). A token holds
//! a fact when its mapped claim is present with a value. A fact neither holds stays unknown,
//! exactly as for a key caller, and `missing_facts` reports it.
//!
//! Who the caller is (`active`, the name, when the registry's facts were confirmed) is always
//! the registry's. A principal the registry does not know is refused, unless the issuer says
//! `unknown_principals = "token_facts"`: then the token's facts alone make the principal.

use std::collections::BTreeMap;

use clearance_core::fact_table::PRINCIPAL_FACTS;
use clearance_core::principal::Principal;

use crate::verify::{IssuerPolicy, VerifiedToken};

/// Which source a fact comes from first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    #[default]
    Registry,
    Token,
}

/// What happens to a token whose principal the registry does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPrincipals {
    /// 403: only principals the registry knows may call.
    #[default]
    Refuse,
    /// The principal is made from the token's facts alone.
    TokenFacts,
}

/// The preference for every fact, with per-fact exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FactPreference {
    pub default: Prefer,
    /// Fact name (from the fact table) to its preference.
    pub per_fact: BTreeMap<&'static str, Prefer>,
}

impl FactPreference {
    pub fn for_fact(&self, fact: &str) -> Prefer {
        self.per_fact.get(fact).copied().unwrap_or(self.default)
    }
}

/// The principal a decision reads, and where each of its facts came from (fact name to
/// `registry` or `token:<issuer>`; a fact neither source holds is not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    pub principal: Principal,
    pub sources: BTreeMap<String, String>,
}

/// The token's principal is not in the registry and the issuer refuses unknown principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's principal is not in the registry")]
pub struct NotInRegistry;

/// Combines the registry's record of the token's principal (if any) with the token's facts.
pub fn combine(
    registry: Option<&Principal>,
    token: &VerifiedToken,
    policy: &IssuerPolicy,
) -> Result<Combined, NotInRegistry> {
    let from_token = policy.source_label();
    let mut sources = BTreeMap::new();
    let principal = match registry {
        Some(known) => {
            let mut principal = known.clone();
            for fact in PRINCIPAL_FACTS.iter().map(|spec| spec.name) {
                let in_registry = known.fact_unknown(fact) == Some(false);
                let in_token = token.facts.has(fact);
                let use_token = match policy.prefer.for_fact(fact) {
                    Prefer::Token => in_token,
                    Prefer::Registry => in_token && !in_registry,
                };
                if use_token {
                    principal.copy_fact_from(token.facts.held(), fact);
                    sources.insert(fact.to_string(), from_token.clone());
                } else if in_registry {
                    sources.insert(fact.to_string(), "registry".to_string());
                }
            }
            principal
        }
        None => match policy.unknown_principals {
            UnknownPrincipals::Refuse => return Err(NotInRegistry),
            UnknownPrincipals::TokenFacts => {
                let mut principal = Principal::new(token.principal_id.clone());
                for fact in token.facts.supplied() {
                    principal.copy_fact_from(token.facts.held(), fact);
                    sources.insert(fact.to_string(), from_token.clone());
                }
                principal
            }
        },
    };
    Ok(Combined { principal, sources })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::claims::TokenFacts;
    use clearance_core::country::CountryCode;
    use serde_json::json;

    fn token(citizenships: &[&str], residence: Option<&str>) -> VerifiedToken {
        let principal_id: clearance_core::principal::PrincipalId = "alice".parse().unwrap();
        let mut facts = TokenFacts::none(principal_id.clone());
        facts.set("citizenships", &json!(citizenships)).unwrap();
        facts.set("residence", &json!(residence)).unwrap();
        VerifiedToken {
            issuer: "https://idp".into(),
            subject: "alice".into(),
            principal_id,
            facts,
            expires_at: 0,
        }
    }

    fn registry(citizenships: &[&str]) -> Principal {
        let mut p = Principal::new("alice".parse().unwrap());
        p.name = "Alice".into();
        p.citizenships = citizenships.iter().map(|c| c.parse().unwrap()).collect();
        p.employee = true;
        p
    }

    fn policy(default: Prefer, per_fact: &[(&'static str, Prefer)]) -> IssuerPolicy {
        let mut policy = IssuerPolicy::new("https://idp", vec!["a".into()]);
        policy.prefer = FactPreference {
            default,
            per_fact: per_fact.iter().copied().collect(),
        };
        policy
    }

    #[test]
    fn registry_preferred_keeps_registry_facts_and_fills_gaps_from_the_token() {
        let combined = combine(
            Some(&registry(&["DE"])),
            &token(&["US"], Some("US")),
            &policy(Prefer::Registry, &[]),
        )
        .unwrap();
        let p = &combined.principal;
        assert_eq!(p.citizenships.iter().next().unwrap().as_str(), "DE");
        assert_eq!(p.residence, Some(CountryCode::US), "the registry had none");
        assert_eq!(combined.sources["citizenships"], "registry");
        assert_eq!(combined.sources["residence"], "token:https://idp");
        assert_eq!(combined.sources["employee"], "registry");
        assert!(!combined.sources.contains_key("org"), "neither holds it");
        assert_eq!(p.name, "Alice");
    }

    #[test]
    fn token_preferred_per_fact_overrides_the_registry_for_that_fact_only() {
        let combined = combine(
            Some(&registry(&["DE"])),
            &token(&["US"], Some("FR")),
            &policy(Prefer::Registry, &[("citizenships", Prefer::Token)]),
        )
        .unwrap();
        assert!(combined.principal.us_citizen());
        assert_eq!(combined.sources["citizenships"], "token:https://idp");
        let all_token = combine(
            Some(&registry(&["DE"])),
            &token(&[], None),
            &policy(Prefer::Token, &[]),
        )
        .unwrap();
        assert_eq!(
            all_token.sources["citizenships"], "registry",
            "a token that lacks the fact leaves the registry's"
        );
    }

    #[test]
    fn unknown_principals_are_refused_or_made_from_the_token() {
        let t = token(&["US"], None);
        let mut p = policy(Prefer::Registry, &[]);
        assert_eq!(combine(None, &t, &p), Err(NotInRegistry));
        p.unknown_principals = UnknownPrincipals::TokenFacts;
        let made = combine(None, &t, &p).unwrap();
        assert!(made.principal.us_citizen());
        assert!(made.principal.active);
        assert_eq!(made.sources.len(), 1);
    }

    #[test]
    fn a_deactivated_registry_principal_stays_deactivated() {
        let mut known = registry(&["US"]);
        known.active = false;
        let combined = combine(
            Some(&known),
            &token(&["US"], None),
            &policy(Prefer::Token, &[]),
        )
        .unwrap();
        assert!(!combined.principal.active);
    }
}
