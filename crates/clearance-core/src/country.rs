//! ISO 3166-1 alpha-2 country codes, validated once at the edge so that the rest of the code
//! never holds a misspelt country.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid, upper-case ISO 3166-1 alpha-2 code such as `US` or `DE`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

/// The text was not an assigned ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 3166-1 alpha-2 country code")]
pub struct InvalidCountry(pub String);

impl CountryCode {
    pub const US: CountryCode = CountryCode(*b"US");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("constructed from two ASCII letters")
    }

    /// Every assigned code: what a country fact can hold (the proofs assume nothing else).
    pub fn all() -> impl Iterator<Item = CountryCode> {
        isocountry::CountryCode::iter().map(|c| {
            let bytes = c.alpha2().as_bytes();
            CountryCode([bytes[0], bytes[1]])
        })
    }
}

impl FromStr for CountryCode {
    type Err = InvalidCountry;

    /// Accepts any letter case and surrounding spaces (HR exports vary), nothing else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        match isocountry::CountryCode::for_alpha2(&upper) {
            Ok(_) => {
                let bytes = upper.as_bytes();
                Ok(CountryCode([bytes[0], bytes[1]]))
            }
            Err(_) => Err(InvalidCountry(s.to_string())),
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_assigned_codes_in_any_case() {
        assert_eq!(
            "us".parse::<CountryCode>().map(|c| c.to_string()),
            Ok("US".into())
        );
        assert_eq!(
            " de ".parse::<CountryCode>().map(|c| c.to_string()),
            Ok("DE".into())
        );
    }

    #[test]
    fn rejects_unassigned_and_malformed_codes() {
        for bad in ["XX", "USA", "U", "", "1A", "ÜS"] {
            assert!(
                bad.parse::<CountryCode>().is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
