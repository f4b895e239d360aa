//! From a verified token's claims to a principal id and the facts the token carries.
//!
//! Which claim holds what is the deployment's choice (`[identity.oidc.claims]`): identity
//! providers name custom claims freely (`citizenships`, `extension_<app>_residence`,
//! `https://example.com/org`) or nest them (`ext.employee_id`). A [`ClaimPath`] finds either:
//! the whole name as one claim first (so namespaced URL claims with dots work), then the
//! dotted path through nested objects.
//!
//! Values are checked as strictly as a principal file import checks its columns (ISO country
//! codes, the caps in [`clearance_core::limits`]): a token is no more trusted than a CSV row.
//! A claim a mapping names but the token lacks is simply not supplied by the token; a claim
//! that is present but malformed refuses the token, as a malformed row refuses an import.

use std::collections::BTreeSet;

use clearance_core::country::CountryCode;
use clearance_core::limits::{MAX_COUNTRIES, MAX_ORG_CHARS, MAX_ROLE_CHARS, MAX_ROLES};
use clearance_core::principal::PrincipalId;
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

/// The principal facts a token may carry, named as the registry and the audit record name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenFact {
    Citizenships,
    PermanentResidency,
    ProtectedIndividual,
    Residence,
    Org,
    Employee,
    Roles,
}

impl TokenFact {
    pub const ALL: [TokenFact; 7] = [
        TokenFact::Citizenships,
        TokenFact::PermanentResidency,
        TokenFact::ProtectedIndividual,
        TokenFact::Residence,
        TokenFact::Org,
        TokenFact::Employee,
        TokenFact::Roles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenFact::Citizenships => "citizenships",
            TokenFact::PermanentResidency => "permanent_residency",
            TokenFact::ProtectedIndividual => "protected_individual",
            TokenFact::Residence => "residence",
            TokenFact::Org => "org",
            TokenFact::Employee => "employee",
            TokenFact::Roles => "roles",
        }
    }

    pub fn parse(name: &str) -> Option<TokenFact> {
        TokenFact::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Which claim names the principal and which claims carry which facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim holding the principal's registry id (default `sub`).
    pub principal: ClaimPath,
    /// Put before the claim's value to make the registry id (e.g. `okta:`), so ids from two
    /// issuers cannot collide.
    pub principal_prefix: Option<String>,
    /// Fact to claim; a fact not listed is never taken from the token.
    pub facts: Vec<(TokenFact, ClaimPath)>,
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

/// What a token says about its holder: the principal id and each fact it carries (`None`:
/// the token does not supply that fact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFacts {
    pub citizenships: Option<BTreeSet<CountryCode>>,
    pub permanent_residency: Option<BTreeSet<CountryCode>>,
    pub protected_individual: Option<bool>,
    pub residence: Option<CountryCode>,
    pub org: Option<String>,
    pub employee: Option<bool>,
    pub roles: Option<BTreeSet<String>>,
}

impl TokenFacts {
    pub fn has(&self, fact: TokenFact) -> bool {
        match fact {
            TokenFact::Citizenships => self.citizenships.is_some(),
            TokenFact::PermanentResidency => self.permanent_residency.is_some(),
            TokenFact::ProtectedIndividual => self.protected_individual.is_some(),
            TokenFact::Residence => self.residence.is_some(),
            TokenFact::Org => self.org.is_some(),
            TokenFact::Employee => self.employee.is_some(),
            TokenFact::Roles => self.roles.is_some(),
        }
    }
}

impl ClaimMapping {
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

    /// The facts the mapped claims carry, each checked as the import checks it.
    pub fn facts(&self, claims: &Value) -> Result<TokenFacts, TokenError> {
        let mut facts = TokenFacts::default();
        for (fact, path) in &self.facts {
            let Some(value) = path.find(claims) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            let bad = |why: String| TokenError::bad_claim(path.as_str().to_string(), why);
            match fact {
                TokenFact::Citizenships => {
                    facts.citizenships = Some(countries(value).map_err(bad)?);
                }
                TokenFact::PermanentResidency => {
                    facts.permanent_residency = Some(countries(value).map_err(bad)?);
                }
                TokenFact::ProtectedIndividual => {
                    facts.protected_individual = Some(flag(value).map_err(bad)?);
                }
                TokenFact::Employee => facts.employee = Some(flag(value).map_err(bad)?),
                TokenFact::Residence => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| bad("is not a string".into()))?;
                    facts.residence = Some(country(text).map_err(bad)?);
                }
                TokenFact::Org => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| bad("is not a string".into()))?;
                    let text = text.trim();
                    if text.chars().count() > MAX_ORG_CHARS {
                        return Err(bad(format!(
                            "is longer than the {MAX_ORG_CHARS} characters allowed"
                        )));
                    }
                    if !text.is_empty() {
                        facts.org = Some(text.to_string());
                    }
                }
                TokenFact::Roles => facts.roles = Some(roles(value).map_err(bad)?),
            }
        }
        Ok(facts)
    }
}

/// A list claim's entries: a JSON array of strings, or one string separated by `;` or `,`
/// (providers that cannot emit arrays for custom attributes join them).
fn entries(value: &Value) -> Result<Vec<&str>, String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| "has an entry that is not a string".to_string())
            })
            .collect(),
        Value::String(text) => Ok(text
            .split([';', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()),
        _ => Err("is neither a list nor a string".into()),
    }
}

fn country(text: &str) -> Result<CountryCode, String> {
    // The error names the offending entry only if it is short: a claim is not a place to echo
    // arbitrary text from.
    text.parse::<CountryCode>().map_err(|_| {
        if text.chars().count() <= 8 {
            format!(
                "`{}` is not an ISO 3166-1 alpha-2 country code",
                text.trim()
            )
        } else {
            "holds an entry that is not an ISO 3166-1 alpha-2 country code".into()
        }
    })
}

fn countries(value: &Value) -> Result<BTreeSet<CountryCode>, String> {
    let codes = entries(value)?
        .into_iter()
        .map(country)
        .collect::<Result<BTreeSet<_>, _>>()?;
    if codes.len() > MAX_COUNTRIES {
        return Err(format!(
            "holds {} countries, more than the {MAX_COUNTRIES} allowed",
            codes.len()
        ));
    }
    Ok(codes)
}

fn roles(value: &Value) -> Result<BTreeSet<String>, String> {
    let mut roles = BTreeSet::new();
    for role in entries(value)? {
        if role.chars().count() > MAX_ROLE_CHARS {
            return Err(format!(
                "has a role longer than the {MAX_ROLE_CHARS} characters allowed"
            ));
        }
        roles.insert(role.to_string());
    }
    if roles.len() > MAX_ROLES {
        return Err(format!(
            "holds {} roles, more than the {MAX_ROLES} allowed",
            roles.len()
        ));
    }
    Ok(roles)
}

/// A yes/no claim: a JSON boolean, or the strings `true`/`false` (directory extension
/// attributes often arrive as strings).
fn flag(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err("is not a boolean".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(pairs: &[(TokenFact, &str)]) -> ClaimMapping {
        ClaimMapping {
            facts: pairs
                .iter()
                .map(|(f, p)| (*f, ClaimPath::parse(p).unwrap()))
                .collect(),
            ..ClaimMapping::default()
        }
    }

    #[test]
    fn nested_paths_and_namespaced_claims_are_both_found() {
        let claims = json!({
            "ext": {"hr": {"residence": "de"}},
            "https://example.com/org": "research",
        });
        let facts = mapping(&[
            (TokenFact::Residence, "ext.hr.residence"),
            (TokenFact::Org, "https://example.com/org"),
        ])
        .facts(&claims)
        .unwrap();
        assert_eq!(facts.residence.unwrap().as_str(), "DE");
        assert_eq!(facts.org.as_deref(), Some("research"));
    }

    #[test]
    fn list_facts_come_from_arrays_or_separated_strings() {
        let m = mapping(&[
            (TokenFact::Citizenships, "cit"),
            (TokenFact::Roles, "roles"),
        ]);
        let from_array = m
            .facts(&json!({"cit": ["US", "de"], "roles": "a; b,c"}))
            .unwrap();
        assert_eq!(from_array.citizenships.unwrap().len(), 2);
        assert_eq!(from_array.roles.unwrap().len(), 3);
        let from_string = m.facts(&json!({"cit": "US;DE"})).unwrap();
        assert_eq!(from_string.citizenships.unwrap().len(), 2);
        assert!(
            from_string.roles.is_none(),
            "an absent claim supplies nothing"
        );
    }

    #[test]
    fn bad_values_are_refused_as_the_import_refuses_them() {
        let m = mapping(&[
            (TokenFact::Citizenships, "cit"),
            (TokenFact::Employee, "emp"),
        ]);
        let error = m.facts(&json!({"cit": ["XX"]})).unwrap_err();
        assert!(error.to_string().contains("`XX` is not an ISO"), "{error}");
        let too_many: Vec<String> = (0..=MAX_COUNTRIES).map(|_| "US".into()).collect();
        assert!(
            m.facts(&json!({"cit": too_many})).is_ok(),
            "duplicates count once"
        );
        assert!(m.facts(&json!({"emp": "yes"})).is_err());
        assert_eq!(
            m.facts(&json!({"emp": "TRUE"})).unwrap().employee,
            Some(true)
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
