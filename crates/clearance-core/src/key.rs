//! Client keys: what a client presents, what the store keeps, and how the two are compared.
//!
//! A key reads `clr_<id>_<secret>`. The id is public (it names the key in lists, logs and the
//! audit log); the secret is 256 random bits that exist only in the client's hands. The store
//! keeps the SHA-256 of the secret: a fast hash is right here because the secret is random, not
//! a password, so there is nothing to brute-force. Verification looks the key up by id and then
//! compares hashes in constant time, so timing reveals nothing about the secret.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "clr_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// The public id of a key, e.g. `9f86d081884c7d65`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts only what [`NewKey::generate`] produces: lowercase hex of the right length.
    pub fn parse(text: &str) -> Option<KeyId> {
        let valid = text.len() == ID_BYTES * 2
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| KeyId(text.to_string()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// SHA-256 of a key's secret: what the store keeps instead of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<SecretHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(SecretHash(bytes))
    }

    /// Constant-time equality, so a wrong guess takes as long whatever its prefix.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A freshly generated key: the full text is shown once, then only the hash is kept.
pub struct NewKey {
    pub id: KeyId,
    pub hash: SecretHash,
    /// The complete key a client sends. Never log it.
    pub plaintext: String,
}

impl NewKey {
    pub fn generate(rng: &mut impl RngCore) -> NewKey {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut secret);
        let id = KeyId(hex::encode(id));
        let secret = hex::encode(secret);
        NewKey {
            hash: SecretHash::of(&secret),
            plaintext: format!("{PREFIX}{id}_{secret}"),
            id,
        }
    }
}

/// A key as a client presented it, split into its id and secret. Holds the secret, so it has
/// no `Debug` that could print it.
pub struct PresentedKey<'a> {
    pub id: KeyId,
    secret: &'a str,
}

impl<'a> PresentedKey<'a> {
    /// Splits `clr_<id>_<secret>`; anything else is not one of our keys.
    pub fn parse(text: &'a str) -> Option<PresentedKey<'a>> {
        let rest = text.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if secret.len() != SECRET_BYTES * 2 {
            return None;
        }
        Some(PresentedKey {
            id: KeyId::parse(id)?,
            secret,
        })
    }

    pub fn matches(&self, stored: &SecretHash) -> bool {
        SecretHash::of(self.secret).matches(stored)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_verifies_against_its_hash_and_nothing_else() {
        let mut rng = rand::rng();
        let key = NewKey::generate(&mut rng);
        let presented = PresentedKey::parse(&key.plaintext).unwrap();
        assert_eq!(presented.id, key.id);
        assert!(presented.matches(&key.hash));
        let other = NewKey::generate(&mut rng);
        assert!(!presented.matches(&other.hash));
    }

    #[test]
    fn tampered_secret_does_not_verify() {
        let key = NewKey::generate(&mut rand::rng());
        let mut tampered = key.plaintext.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        assert!(!PresentedKey::parse(&tampered).unwrap().matches(&key.hash));
    }

    #[test]
    fn malformed_keys_are_not_parsed() {
        for bad in [
            "",
            "sk-abc",
            "clr_",
            "clr_zz_00",
            "clr_0011223344556677_short",
        ] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hash_round_trips_through_hex() {
        let hash = SecretHash::of("secret");
        assert!(SecretHash::from_hex(&hash.to_hex()).unwrap().matches(&hash));
    }
}

/// A key as the store keeps it: never the key itself, only the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: KeyId,
    pub principal_id: crate::principal::PrincipalId,
    pub name: Option<String>,
    pub hash: SecretHash,
    pub created: chrono::DateTime<chrono::Utc>,
    pub revoked: Option<chrono::DateTime<chrono::Utc>>,
}

impl StoredKey {
    /// What may be shown about a key (lists, the admin API): never the secret, nor its hash.
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.as_str(),
            "principal": self.principal_id.as_str(),
            "name": self.name,
            "created": self.created.to_rfc3339(),
            "revoked": self.revoked.map(|t| t.to_rfc3339()),
        })
    }
}
