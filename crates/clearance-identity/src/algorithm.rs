//! The JWS algorithms a deployment may allow for its callers' tokens.
//!
//! Only asymmetric algorithms exist here. `none` would accept an unsigned token; an HMAC
//! algorithm (`HS256`...) would be verified with a secret the gateway does not have, and the
//! classic attack is to sign with the identity provider's *public* key bytes as the HMAC
//! secret. Neither can be named in the config, so no code path can ever verify with them.

use std::fmt;

/// An allowed signature algorithm, named as JWS (RFC 7518) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// The kind of public key an algorithm verifies with; a JWK of another kind is never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    /// EC on P-256.
    EcP256,
    /// EC on P-384.
    EcP384,
    /// Ed25519 (`OKP`).
    Ed25519,
}

/// Why an algorithm name cannot be allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmRefused {
    #[error("algorithm `none` accepts unsigned tokens and is never allowed")]
    None,
    #[error(
        "algorithm `{0}` is symmetric (HMAC): the gateway holds only the identity provider's public keys, and an HMAC \"verified\" with public bytes proves nothing; use an asymmetric algorithm (RS256, ES256, ...)"
    )]
    Symmetric(String),
    #[error("unknown algorithm `{0}` (expected one of {list})", list = Algorithm::NAMES.join(", "))]
    Unknown(String),
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ];
    const NAMES: [&'static str; 9] = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ];
    /// What a deployment allows when its config names none: what Okta, Entra ID, Google and
    /// Keycloak sign with by default (RS256), and the common EC choice.
    pub const DEFAULT: [Algorithm; 2] = [Algorithm::Rs256, Algorithm::Es256];

    pub fn as_str(self) -> &'static str {
        let index = Algorithm::ALL
            .iter()
            .position(|a| *a == self)
            .expect("every algorithm is in ALL");
        Algorithm::NAMES[index]
    }

    /// The algorithm a header's `alg` or a config entry names. Exact match, as JWS requires.
    pub fn parse(name: &str) -> Result<Algorithm, AlgorithmRefused> {
        if name.eq_ignore_ascii_case("none") {
            return Err(AlgorithmRefused::None);
        }
        if name.to_ascii_uppercase().starts_with("HS") {
            return Err(AlgorithmRefused::Symmetric(name.to_string()));
        }
        Algorithm::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Algorithm::ALL[i])
            .ok_or_else(|| AlgorithmRefused::Unknown(name.to_string()))
    }

    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => KeyFamily::Rsa,
            Algorithm::Es256 => KeyFamily::EcP256,
            Algorithm::Es384 => KeyFamily::EcP384,
            Algorithm::EdDsa => KeyFamily::Ed25519,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::Rs256 => J::RS256,
            Algorithm::Rs384 => J::RS384,
            Algorithm::Rs512 => J::RS512,
            Algorithm::Ps256 => J::PS256,
            Algorithm::Ps384 => J::PS384,
            Algorithm::Ps512 => J::PS512,
            Algorithm::Es256 => J::ES256,
            Algorithm::Es384 => J::ES384,
            Algorithm::EdDsa => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn none_and_every_hmac_algorithm_are_refused_by_name() {
        assert_eq!(Algorithm::parse("none"), Err(AlgorithmRefused::None));
        assert_eq!(Algorithm::parse("NONE"), Err(AlgorithmRefused::None));
        for hs in ["HS256", "HS384", "HS512", "hs256"] {
            assert!(matches!(
                Algorithm::parse(hs),
                Err(AlgorithmRefused::Symmetric(_))
            ));
        }
    }

    #[test]
    fn asymmetric_algorithms_round_trip_their_names() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()), Ok(alg));
        }
        assert!(matches!(
            Algorithm::parse("rs256"),
            Err(AlgorithmRefused::Unknown(_))
        ));
    }
}
