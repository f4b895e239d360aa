//! From a verified token's claims to a principal id and the facts the token carries.
//!
//! Which claim holds what is the deployment's choice (`[identity.oidc.claims]`): identity
//! providers name custom claims freely (`citizenships`, `extension_<app>_residence`,
//! `https://example.com/org`) or nest them (`ext.employee_id`). A [`ClaimPath`] finds either:
//! the whole name as one claim first (so namespaced URL claims with dots work), then the
//! dotted path through nested objects.
//!
//! Facts are named as the table of principal facts names them
//! ([`clearance_core::fact_table`]), so a fact added to the table can be mapped from a claim
//! with no change here. Values are checked by the principal file import's own parser
//! ([`clearance_core::import::set_fact_from_value`]: ISO country codes, the caps in
//! [`clearance_core::limits`]): a token is no more trusted than a CSV row.
//! A claim a mapping names but the token lacks is simply not supplied by the token; a claim
//! that is present but malformed refuses the token, as a malformed row refuses an import.

use std::collections::BTreeSet;

use clearance_core::fact_table::{provided_fact, provided_facts};
use clearance_core::import::set_fact_from_value;
use clearance_core::principal::{Principal, PrincipalId};
use serde_json::Value;

use crate::verify::TokenError;

/// A claim name, or a dotted path to a nested claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(String);

impl ClaimPath {
    /// `None` for an empty name or a path with an empty segment (`a..b`, `.a`).
    pub fn parse(text: &str) -> Option<ClaimPath> {
        let text = text.trim();
        if text.is_empty() || text.split('.').any(str::is_empty) && !text.contains("://") {
            return None;
        }
        Some(ClaimPath(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The claim's value: the whole name as one claim, else the dotted path.
    pub fn find<'c>(&self, claims: &'c Value) -> Option<&'c Value> {
        if let Some(value) = claims.get(&self.0) {
            return Some(value);
        }
        let mut at = claims;
        for segment in self.0.split('.') {
            at = at.get(segment)?;
        }
        Some(at)
    }
}

/// A fact name that is not in the table of principal facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a principal fact a token may carry (those are: {list})", list = fact_names().join(", "))]
pub struct UnknownFact(pub String);

/// The principal facts a token may carry: every provided fact of the fact table (not
/// `screening`, which only screening sets).
pub fn fact_names() -> Vec<&'static str> {
    provided_facts().map(|spec| spec.name).collect()
}

/// The table's spelling of a fact name, or why it is not one a token may carry (a derived fact
/// such as `us_person` follows from the stored ones; `screening` is the gateway's own).
pub fn principal_fact(name: &str) -> Result<&'static str, UnknownFact> {
    provided_fact(name)
        .map(|spec| spec.name)
        .ok_or_else(|| UnknownFact(name.to_string()))
}

/// Which claim names the principal and which claims carry which facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim holding the principal's registry id (default `sub`).
    pub principal: ClaimPath,
    /// Put before the claim's value to make the registry id (e.g. `okta:`), so ids from two
    /// issuers cannot collide.
    pub principal_prefix: Option<String>,
    /// Fact (a name from the fact table) to claim; a fact not listed is never taken from the
    /// token.
    pub facts: Vec<(&'static str, ClaimPath)>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            principal: ClaimPath("sub".into()),
            principal_prefix: None,
            facts: Vec::new(),
        }
    }
}

/// What a token says about its holder: the facts its mapped claims hold, kept as a principal
/// would hold them, and which of them the token supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    held: Principal,
    supplied: BTreeSet<&'static str>,
}

impl TokenFacts {
    /// A token that supplies no facts about `id`.
    pub fn none(id: PrincipalId) -> TokenFacts {
        TokenFacts {
            held: Principal::new(id),
            supplied: BTreeSet::new(),
        }
    }

    /// Whether the token supplies the fact: its claim is present and holds a known value (an
    /// empty list or string is no value, so it never overrides the registry's).
    pub fn has(&self, fact: &str) -> bool {
        self.supplied.contains(fact)
    }

    /// The facts supplied, in the table's order.
    pub fn supplied(&self) -> impl Iterator<Item = &'static str> + '_ {
        provided_facts()
            .map(|spec| spec.name)
            .filter(|name| self.supplied.contains(name))
    }

    /// The token's facts as a principal holds them; a fact not supplied is unknown there.
    pub fn held(&self) -> &Principal {
        &self.held
    }

    /// Sets `fact` from a claim's value, checked as a principal file's fact is checked.
    pub fn set(&mut self, fact: &str, value: &Value) -> Result<(), String> {
        let fact = principal_fact(fact).map_err(|e| e.to_string())?;
        set_fact_from_value(&mut self.held, fact, value)?;
        if self.held.fact_unknown(fact) == Some(false) && !value.is_null() {
            self.supplied.insert(fact);
        } else {
            self.supplied.remove(fact);
        }
        Ok(())
    }
}

impl ClaimMapping {
    /// Maps `fact` (a name from the fact table) to the claim at `path`.
    pub fn map_fact(&mut self, fact: &str, path: ClaimPath) -> Result<(), UnknownFact> {
        let fact = principal_fact(fact)?;
        self.facts.retain(|(mapped, _)| *mapped != fact);
        self.facts.push((fact, path));
        Ok(())
    }

    /// The registry id the token names.
    pub fn principal_id(&self, claims: &Value) -> Result<PrincipalId, TokenError> {
        let claim = || self.principal.as_str().to_string();
        let value = self
            .principal
            .find(claims)
            .ok_or_else(|| TokenError::MissingClaim(claim()))?;
        let text = match value {
            Value::String(s) => s.clone(),
            // Some providers put numeric employee ids in claims.
            Value::Number(n) => n.to_string(),
            _ => return Err(TokenError::bad_claim(claim(), "is not a string")),
        };
        let id = format!("{}{text}", self.principal_prefix.as_deref().unwrap_or(""));
        if let Some(problem) = clearance_core::limits::principal_id_problem(&id) {
            return Err(TokenError::bad_claim(claim(), problem));
        }
        id.parse::<PrincipalId>()
            .map_err(|e| TokenError::bad_claim(claim(), e.to_string()))
    }

    /// The facts the mapped claims carry about principal `id`, each checked as the import
    /// checks it (so a token is no more trusted than a principal file's row).
    pub fn facts(&self, claims: &Value, id: &PrincipalId) -> Result<TokenFacts, TokenError> {
        let mut facts = TokenFacts::none(id.clone());
        for (fact, path) in &self.facts {
            let Some(value) = path.find(claims) else {
                continue;
            };
            facts.set(fact, value).map_err(|problem| {
                TokenError::bad_claim(path.as_str().to_string(), claim_problem(fact, &problem))
            })?;
        }
        Ok(facts)
    }
}

/// The import's message for a fact (`residence: `XX` is not ...`), reworded for a claim.
fn claim_problem(fact: &str, problem: &str) -> String {
    let detail: Vec<&str> = problem
        .split("; ")
        .map(|part| part.strip_prefix(&format!("{fact}: ")[..]).unwrap_or(part))
        .collect();
    format!("is not a valid {fact}: {}", detail.join("; "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clearance_core::fact_table::FactKind;
    use clearance_core::limits::MAX_COUNTRIES;
    use serde_json::json;

    fn mapping(pairs: &[(&str, &str)]) -> ClaimMapping {
        let mut m = ClaimMapping::default();
        for (fact, path) in pairs {
            m.map_fact(fact, ClaimPath::parse(path).unwrap()).unwrap();
        }
        m
    }

    fn alice() -> PrincipalId {
        "alice".parse().unwrap()
    }

    #[test]
    fn nested_paths_and_namespaced_claims_are_both_found() {
        let claims = json!({
            "ext": {"hr": {"residence": "de"}},
            "https://example.com/org": "research",
        });
        let facts = mapping(&[
            ("residence", "ext.hr.residence"),
            ("org", "https://example.com/org"),
        ])
        .facts(&claims, &alice())
        .unwrap();
        assert_eq!(facts.held().residence.unwrap().as_str(), "DE");
        assert_eq!(facts.held().org.as_deref(), Some("research"));
        assert_eq!(facts.supplied().collect::<Vec<_>>(), ["residence", "org"]);
    }

    #[test]
    fn list_facts_come_from_arrays_or_separated_strings() {
        let m = mapping(&[("citizenships", "cit"), ("roles", "roles")]);
        let from_array = m
            .facts(&json!({"cit": ["US", "de"], "roles": "a; b,c"}), &alice())
            .unwrap();
        assert_eq!(from_array.held().citizenships.len(), 2);
        assert_eq!(from_array.held().roles.len(), 3);
        let from_string = m.facts(&json!({"cit": "US;DE"}), &alice()).unwrap();
        assert_eq!(from_string.held().citizenships.len(), 2);
        assert!(
            !from_string.has("roles"),
            "an absent claim supplies nothing"
        );
        let empty = m
            .facts(&json!({"cit": [], "roles": null}), &alice())
            .unwrap();
        assert!(
            !empty.has("citizenships") && !empty.has("roles"),
            "an empty list or null is no value"
        );
    }

    #[test]
    fn bad_values_are_refused_as_the_import_refuses_them() {
        let m = mapping(&[("citizenships", "cit"), ("employee", "emp")]);
        let error = m.facts(&json!({"cit": ["XX"]}), &alice()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the token's `cit` claim is not a valid citizenships: `XX` is not an ISO 3166-1 alpha-2 country code"
        );
        let too_many: Vec<String> = (0..=MAX_COUNTRIES).map(|_| "US".into()).collect();
        assert!(
            m.facts(&json!({"cit": too_many}), &alice()).is_ok(),
            "duplicates count once"
        );
        assert!(m.facts(&json!({"emp": "maybe"}), &alice()).is_err());
        assert!(m.facts(&json!({"emp": 7}), &alice()).is_err());
        assert!(
            m.facts(&json!({"emp": "TRUE"}), &alice())
                .unwrap()
                .held()
                .employee
        );
    }

    /// The mapping walks the fact table: every fact in it, whatever its kind, can come from a
    /// claim, so a fact added to the table needs no code here.
    #[test]
    fn every_fact_in_the_table_can_be_mapped_from_a_claim() {
        let mut m = ClaimMapping::default();
        let mut claims = serde_json::Map::new();
        for spec in provided_facts() {
            m.map_fact(
                spec.name,
                ClaimPath::parse(&format!("x.{}", spec.name)).unwrap(),
            )
            .unwrap();
            let value = match spec.kind {
                FactKind::Countries => json!(["US"]),
                FactKind::Country => json!("US"),
                FactKind::Flag => json!(true),
                FactKind::Text | FactKind::Labels => json!("a"),
                FactKind::Screening => unreachable!("not provided"),
            };
            claims.insert(spec.name.to_string(), value);
        }
        let facts = m.facts(&json!({ "x": claims }), &alice()).unwrap();
        assert_eq!(facts.supplied().collect::<Vec<_>>(), fact_names());
        assert_eq!(
            facts.held().missing_facts(),
            ["screening"],
            "the gateway's own"
        );
    }

    #[test]
    fn only_stored_facts_can_be_mapped() {
        let mut m = ClaimMapping::default();
        let path = ClaimPath::parse("x").unwrap();
        let error = m.map_fact("us_person", path.clone()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("citizenships, permanent_residency"),
            "{error}"
        );
        assert!(m.map_fact("citizenship", path.clone()).is_err());
        assert!(
            m.map_fact("screening", path).is_err(),
            "a token cannot clear its holder"
        );
    }

    #[test]
    fn the_principal_id_gets_the_prefix_and_the_import_rules() {
        let mut m = ClaimMapping {
            principal: ClaimPath::parse("ext.employee_id").unwrap(),
            principal_prefix: Some("okta:".into()),
            facts: Vec::new(),
        };
        let claims = json!({"sub": "x", "ext": {"employee_id": 4711}});
        assert_eq!(m.principal_id(&claims).unwrap().as_str(), "okta:4711");
        m.principal = ClaimPath::parse("sub").unwrap();
        assert!(
            m.principal_id(&json!({"sub": "a b"})).is_err(),
            "a space is not allowed"
        );
        assert!(matches!(
            m.principal_id(&json!({})),
            Err(TokenError::MissingClaim(_))
        ));
    }

    #[test]
    fn claim_paths_refuse_empty_segments() {
        assert!(ClaimPath::parse("").is_none());
        assert!(ClaimPath::parse("a..b").is_none());
        assert!(ClaimPath::parse("https://example.com/x").is_some());
    }
}
