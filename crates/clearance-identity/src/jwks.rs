//! A JWK Set (RFC 7517) as the identity provider publishes it, reduced to the signature keys
//! this gateway may verify with.
//!
//! Each key keeps the family its key type allows (`RSA`, `EC` with its curve, `OKP`) and the
//! algorithm the key itself names, if any; [`KeySet::select`] hands a key out only for an
//! algorithm of that family (and that algorithm, when the key names one). Symmetric (`oct`)
//! keys, encryption keys and key types this crate does not know are left out as the set is
//! parsed, so a published HMAC secret can never verify anything either.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use serde::Deserialize;

use crate::algorithm::{Algorithm, KeyFamily};

/// A JWKS document that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not a JSON object with a `keys` array: {0}")]
    NotAJwks(String),
}

/// One usable signature key.
#[derive(Clone)]
struct Entry {
    kid: Option<String>,
    family: KeyFamily,
    /// The algorithm the JWK names (`alg`); the key is used for no other.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// The signature keys of one issuer, found by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    entries: Vec<Entry>,
    /// Keys in the document that were left out (symmetric, encryption, unknown type, bad).
    pub skipped: usize,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .field("skipped", &self.skipped)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// What selecting a key for a token found.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'k> {
    Found(&'k DecodingKey),
    /// No key with this `kid` (or, for a token without one, no key of the family): the
    /// identity provider may have rotated its keys since the set was fetched.
    UnknownKid,
    /// A key with this `kid` exists but is of another family, or names another algorithm.
    WrongKeyType,
    /// The token names no `kid` and more than one key could verify it.
    Ambiguous,
}

impl KeySet {
    /// Parses a JWKS document; keys this gateway cannot or must not use are counted, not kept.
    pub fn parse(document: &[u8]) -> Result<KeySet, JwksError> {
        let raw: RawSet =
            serde_json::from_slice(document).map_err(|e| JwksError::NotAJwks(e.to_string()))?;
        let mut set = KeySet::default();
        for value in raw.keys {
            match serde_json::from_value::<Jwk>(value)
                .ok()
                .and_then(|jwk| entry(&jwk))
            {
                Some(entry) => set.entries.push(entry),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The `kid`s held, for logs (a key id is public).
    pub fn kids(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e.kid.as_deref().unwrap_or("(none)"))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key that may verify a token signed with `alg` under `kid`.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let fits = |e: &&Entry| e.family == alg.family() && e.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => {
                let mut named = self
                    .entries
                    .iter()
                    .filter(|e| e.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Selection::UnknownKid;
                }
                named
                    .find(fits)
                    .map_or(Selection::WrongKeyType, |e| Selection::Found(&e.key))
            }
            None => {
                let mut fitting = self.entries.iter().filter(fits);
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Selection::Found(&only.key),
                    (None, _) => Selection::UnknownKid,
                    (Some(_), Some(_)) => Selection::Ambiguous,
                }
            }
        }
    }
}

fn entry(jwk: &Jwk) -> Option<Entry> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    // A key naming an algorithm we refuse (HS256, an encryption algorithm) is left out whole.
    let alg = match jwk.common.key_algorithm {
        Some(named) => Some(Algorithm::parse(&named.to_string()).ok()?),
        None => None,
    };
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyFamily::EcP256,
            EllipticCurve::P384 => KeyFamily::EcP384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => KeyFamily::Ed25519,
            _ => return None,
        },
        // Symmetric: never a verification key for a gateway (see `algorithm`).
        AlgorithmParameters::OctetKey(_) => return None,
    };
    if alg.is_some_and(|a| a.family() != family) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Entry {
        kid: jwk.common.key_id.clone(),
        family,
        alg,
        key,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RSA: &str = include_str!("../../clearance-fake/keys/rsa-1.jwk.json");
    const EC: &str = include_str!("../../clearance-fake/keys/ec-1.jwk.json");

    fn set(keys: &[&str]) -> KeySet {
        KeySet::parse(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).as_bytes()).unwrap()
    }

    #[test]
    fn keys_are_found_by_kid_for_their_own_family_only() {
        let keys = set(&[RSA, EC]);
        assert_eq!(keys.len(), 2);
        assert!(matches!(
            keys.select(Some("rsa-1"), Algorithm::Rs256),
            Selection::Found(_)
        ));
        assert!(matches!(
            keys.select(Some("ec-1"), Algorithm::Es256),
            Selection::Found(_)
        ));
        assert!(matches!(
            keys.select(Some("rsa-1"), Algorithm::Es256),
            Selection::WrongKeyType
        ));
        assert!(matches!(
            keys.select(Some("rsa-2"), Algorithm::Rs256),
            Selection::UnknownKid
        ));
    }

    #[test]
    fn a_key_that_names_its_algorithm_verifies_no_other() {
        // rsa-1 says `alg: RS256`: not usable for PS256 although the family matches.
        let keys = set(&[RSA]);
        assert!(matches!(
            keys.select(Some("rsa-1"), Algorithm::Ps256),
            Selection::WrongKeyType
        ));
    }

    #[test]
    fn symmetric_and_encryption_keys_are_left_out() {
        let oct = r#"{"kty":"oct","kid":"s","k":"c2VjcmV0"}"#;
        let enc = RSA.replace(r#""use": "sig""#, r#""use": "enc""#);
        let hs = RSA.replace(r#""alg": "RS256""#, r#""alg": "HS256""#);
        let keys = set(&[oct, &enc, &hs, r#"{"kty":"weird"}"#]);
        assert!(keys.is_empty());
        assert_eq!(keys.skipped, 4);
    }

    #[test]
    fn a_token_without_kid_uses_the_only_fitting_key() {
        let keys = set(&[RSA, EC]);
        assert!(matches!(
            keys.select(None, Algorithm::Es256),
            Selection::Found(_)
        ));
        let two = set(&[RSA, &RSA.replace("rsa-1", "rsa-x")]);
        assert!(matches!(
            two.select(None, Algorithm::Rs256),
            Selection::Ambiguous
        ));
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"not json").is_err());
    }
}
