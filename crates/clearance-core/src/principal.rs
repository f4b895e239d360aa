//! Principals: the people and services who call models, with the facts directives read.
//!
//! Facts come from the gateway's registry (imported from HR or an identity provider), never from
//! anything a client sends. `us_person` is derived from the other facts under the EAR individual
//! definition (15 CFR 772.1) and is never imported, so a file cannot assert it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::fact_table::PRINCIPAL_FACTS;
use crate::limits::MAX_PRINCIPAL_ID_CHARS;

/// A principal's registry id: non-empty, at most [`MAX_PRINCIPAL_ID_CHARS`] characters, no
/// control characters.
///
/// An id imported from a principal file must also keep to a safe character set
/// ([`crate::limits::principal_id_problem`]: ASCII letters, digits and `. _ - @ :`). That rule is
/// checked by [`crate::import::parse_principals`], not here: this type is also what a stored
/// principal or key is read back into, and one stored before the rule must still load (and
/// still be found by `principals show` or `keys create --principal`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPrincipalId {
    #[error("principal id is empty")]
    Empty,
    #[error("principal id is longer than {MAX_PRINCIPAL_ID_CHARS} characters")]
    TooLong,
    #[error("principal id contains a control character")]
    ControlCharacter,
}

impl PrincipalId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PrincipalId {
    type Error = InvalidPrincipalId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(InvalidPrincipalId::Empty);
        }
        if trimmed.chars().count() > MAX_PRINCIPAL_ID_CHARS {
            return Err(InvalidPrincipalId::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidPrincipalId::ControlCharacter);
        }
        Ok(PrincipalId(trimmed.to_string()))
    }
}

impl std::str::FromStr for PrincipalId {
    type Err = InvalidPrincipalId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PrincipalId::try_from(s.to_string())
    }
}

impl From<PrincipalId> for String {
    fn from(id: PrincipalId) -> String {
        id.0
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Which legal definition a derived `us_person` fact follows. Regimes differ at the edges, so a
/// derived fact always says which one it applied.
pub const US_PERSON_DEFINITION: &str = "EAR 15 CFR 772.1 (individuals)";

pub use crate::fact_table::Principal;

/// A principal's `us_person` fact with the reason it holds, for explanations and audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsPersonBasis {
    UsCitizen,
    UsPermanentResident,
    ProtectedIndividual,
    /// None of the above holds, or the registry holds no citizenship facts at all.
    NotUsPerson,
}

impl Principal {
    /// A US citizen: one US citizenship among any number makes a dual national a US citizen.
    pub fn us_citizen(&self) -> bool {
        self.citizenships.contains(&CountryCode::US)
    }

    /// Why this principal is, or is not, a US person under [`US_PERSON_DEFINITION`].
    pub fn us_person_basis(&self) -> UsPersonBasis {
        if self.us_citizen() {
            UsPersonBasis::UsCitizen
        } else if self.permanent_residency.contains(&CountryCode::US) {
            UsPersonBasis::UsPermanentResident
        } else if self.protected_individual {
            UsPersonBasis::ProtectedIndividual
        } else {
            UsPersonBasis::NotUsPerson
        }
    }

    /// Missing facts never pass silently: no citizenship facts means not a US person.
    pub fn us_person(&self) -> bool {
        self.us_person_basis() != UsPersonBasis::NotUsPerson
    }

    /// The stored facts plus the derived ones (`us_citizen`, `us_person` with its basis and the
    /// definition it follows, `missing_facts`): what `principals show` and the admin API print.
    pub fn with_derived_facts(&self) -> serde_json::Value {
        let mut view = serde_json::to_value(self).expect("a Principal always serialises");
        if let Some(object) = view.as_object_mut() {
            object.insert("us_citizen".into(), self.us_citizen().into());
            object.insert("us_person".into(), self.us_person().into());
            let basis =
                serde_json::to_value(self.us_person_basis()).expect("an enum always serialises");
            object.insert("us_person_basis".into(), basis);
            object.insert("us_person_definition".into(), US_PERSON_DEFINITION.into());
            object.insert("missing_facts".into(), self.missing_facts().into());
        }
        view
    }

    /// Names of facts the registry does not hold for this principal, so a decision can say
    /// which facts it had to treat as unknown.
    pub fn missing_facts(&self) -> Vec<&'static str> {
        PRINCIPAL_FACTS
            .iter()
            .filter(|spec| spec.tracked && self.fact_unknown(spec.name) == Some(true))
            .map(|spec| spec.name)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn person(citizenships: &[&str], residency: &[&str], protected: bool) -> Principal {
        Principal {
            id: "p1".parse().unwrap(),
            name: "Test".into(),
            citizenships: citizenships.iter().map(|c| c.parse().unwrap()).collect(),
            permanent_residency: residency.iter().map(|c| c.parse().unwrap()).collect(),
            protected_individual: protected,
            residence: None,
            org: None,
            employee: false,
            roles: BTreeSet::new(),
            screening: None,
            active: true,
            facts_confirmed_at: None,
        }
    }

    #[test]
    fn us_citizen_abroad_is_a_us_person() {
        assert_eq!(
            person(&["US"], &[], false).us_person_basis(),
            UsPersonBasis::UsCitizen
        );
    }

    #[test]
    fn dual_national_with_us_citizenship_is_a_us_citizen() {
        let dual = person(&["DE", "US"], &[], false);
        assert!(dual.us_citizen());
        assert!(dual.us_person());
    }

    #[test]
    fn green_card_holder_is_a_us_person_but_not_a_us_citizen() {
        let holder = person(&["IN"], &["US"], false);
        assert!(holder.us_person());
        assert!(!holder.us_citizen());
        assert_eq!(holder.us_person_basis(), UsPersonBasis::UsPermanentResident);
    }

    #[test]
    fn refugee_is_a_us_person() {
        assert!(person(&["SY"], &[], true).us_person());
    }

    #[test]
    fn foreign_national_is_not_a_us_person() {
        assert!(!person(&["FR"], &["CA"], false).us_person());
    }

    #[test]
    fn person_with_no_facts_is_not_a_us_person_and_says_what_is_missing() {
        let unknown = person(&[], &[], false);
        assert!(!unknown.us_person());
        assert!(unknown.missing_facts().contains(&"citizenships"));
    }

    #[test]
    fn principal_id_rejects_empty_and_control_characters() {
        assert_eq!("  ".parse::<PrincipalId>(), Err(InvalidPrincipalId::Empty));
        assert_eq!(
            "a\u{7}b".parse::<PrincipalId>(),
            Err(InvalidPrincipalId::ControlCharacter)
        );
        assert_eq!("alice".parse::<PrincipalId>().unwrap().as_str(), "alice");
        assert_eq!(
            InvalidPrincipalId::TooLong.to_string(),
            "principal id is longer than 256 characters"
        );
    }
}
