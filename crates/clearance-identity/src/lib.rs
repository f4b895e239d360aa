//! Callers signed in through an identity provider, as pure functions.
//!
//! A caller may present an OIDC ID or access token (a JWT) instead of a Clearance key. This
//! crate decides everything about such a token that needs no IO:
//!
//! - [`algorithm`]: the signature algorithms a deployment may allow. `none` and the HMAC
//!   family cannot be named at all: a gateway holds only the identity provider's *public*
//!   keys, so a symmetric algorithm could only ever be "verified" with public bytes.
//! - [`jwks`]: a JWK Set parsed into [`KeySet`], keys found by `kid`, each with the one
//!   algorithm family its key type allows (an RSA key never verifies an HS256 token).
//! - [`verify`]: [`verify_token`] checks the signature, `iss`, `aud`, `exp` and `nbf` (with
//!   clock skew) with the `jsonwebtoken` crate and gives the verified claims; every refusal is a
//!   [`TokenError`] that says what was wrong and never repeats the token.
//! - [`claims`]: which claim (or dotted path to a nested claim) names the principal and which
//!   carry its facts; values are checked as the principal file import checks them.
//! - [`combine`]: the registry's facts and the token's, combined per fact by the configured
//!   preference into the [`clearance_core::principal::Principal`] a decision reads, with where
//!   each fact came from.
//!
//! Fetching a JWKS, caching it and refetching on an unknown `kid` is the gateway's business
//! (`clearance-gateway/src/oidc.rs`). **Invariant:** no IO, no async, no clock reads (`now` is
//! a parameter).
//!
//! ```
//! use clearance_identity::{Algorithm, IssuerPolicy, KeySet, verify_token};
//! let keys = KeySet::parse(br#"{"keys": []}"#).unwrap();
//! let policy = IssuerPolicy::new("https://idp.example.com", vec!["clearance".into()]);
//! // A token signed by no key in the set is refused, and the error names no token text.
//! let refused = verify_token("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln", &policy, &keys, 0);
//! assert!(refused.is_err());
//! assert_eq!(policy.algorithms, vec![Algorithm::Rs256, Algorithm::Es256]);
//! ```

pub mod algorithm;
pub mod claims;
pub mod combine;
pub mod jwks;
pub mod verify;

pub use algorithm::{Algorithm, AlgorithmRefused};
pub use claims::{ClaimMapping, ClaimPath, TokenFacts, UnknownFact, fact_names, principal_fact};
pub use combine::{Combined, FactPreference, NotInRegistry, Prefer, UnknownPrincipals, combine};
pub use jwks::{JwksError, KeySet};
pub use verify::{
    IssuerPolicy, TokenError, VerifiedToken, looks_like_jwt, peek_issuer, verify_token,
};
