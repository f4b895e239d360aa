//! Verifying a caller's JWT against one issuer's policy and keys.
//!
//! The order is fixed so that nothing a token claims is believed before its signature is
//! checked: the header's algorithm against the allow-list (unsigned and `none` tokens stop
//! here), the key by `kid` (of the algorithm's own family), the signature, then `iss` and `aud`
//! (exact string matches) and `exp`/`nbf` against the `now` the caller passes, within the
//! issuer's clock skew. Only then are the claims mapped to a principal and facts.
//!
//! Errors say what was wrong in words a client can act on and never contain the token, its
//! claims or its key id: the text is safe to return in a 401 and to log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_core::principal::PrincipalId;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde_json::Value;

use crate::algorithm::{Algorithm, AlgorithmRefused};
use crate::claims::{ClaimMapping, TokenFacts};
use crate::combine::{FactPreference, UnknownPrincipals};
use crate::jwks::{KeySet, Selection};

/// Everything about one trusted issuer that verification and the combine rule need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    /// Must equal the token's `iss` exactly.
    pub issuer: String,
    /// The token's `aud` must name at least one of these.
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    /// Seconds of tolerance on `exp` and `nbf` for clocks that disagree.
    pub clock_skew_s: u64,
    pub claims: ClaimMapping,
    pub prefer: FactPreference,
    pub unknown_principals: UnknownPrincipals,
}

impl IssuerPolicy {
    /// An issuer with the defaults: RS256 and ES256, 60 s skew, the principal from `sub`, no
    /// facts from the token, registry facts preferred, unknown principals refused.
    pub fn new(issuer: &str, audiences: Vec<String>) -> IssuerPolicy {
        IssuerPolicy {
            issuer: issuer.to_string(),
            audiences,
            algorithms: Algorithm::DEFAULT.to_vec(),
            clock_skew_s: 60,
            claims: ClaimMapping::default(),
            prefer: FactPreference::default(),
            unknown_principals: UnknownPrincipals::Refuse,
        }
    }

    /// What the audit record says a fact from this issuer's tokens came from.
    pub fn source_label(&self) -> String {
        format!("token:{}", self.issuer)
    }
}

/// A token that passed every check, reduced to what the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub issuer: String,
    /// The `sub` claim (or, without one, the principal claim's value as mapped).
    pub subject: String,
    pub principal_id: PrincipalId,
    pub facts: TokenFacts,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

/// Why a token was refused. The message is safe for the client and for logs: it names what
/// was wrong, never the token, a claim's value or the key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the bearer token is not a well-formed JWT ({0})")]
    Malformed(&'static str),
    #[error("the token is unsigned; only signed tokens are accepted")]
    Unsigned,
    #[error("the token's algorithm is `none`; unsigned tokens are never accepted")]
    AlgorithmNone,
    #[error("the token is signed with {0}, which this gateway does not accept for its issuer")]
    AlgorithmNotAllowed(String),
    #[error("the token's issuer (`iss`) is not one this gateway trusts")]
    UnknownIssuer,
    #[error(
        "the token's key id (`kid`) is not among the issuer's current signing keys (JWKS); if the identity provider has just rotated its keys, retry shortly"
    )]
    UnknownKeyId,
    #[error(
        "the token names no key id (`kid`) and the issuer has several keys that could verify it"
    )]
    AmbiguousKey,
    #[error("the token's key id names a key of another type than its algorithm needs")]
    WrongKeyType,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's issuer (`iss`) does not match")]
    WrongIssuer,
    #[error("the token's audience (`aud`) does not name this gateway")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the token's `{claim}` claim {reason}")]
    BadClaim { claim: String, reason: String },
}

impl TokenError {
    pub(crate) fn bad_claim(claim: String, reason: impl Into<String>) -> TokenError {
        TokenError::BadClaim {
            claim,
            reason: reason.into(),
        }
    }

    /// A stable code for the error body and the audit record's `error_class`.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "token_malformed",
            TokenError::Unsigned | TokenError::AlgorithmNone => "token_unsigned",
            TokenError::AlgorithmNotAllowed(_) => "token_algorithm_not_allowed",
            TokenError::UnknownIssuer => "token_unknown_issuer",
            TokenError::UnknownKeyId => "token_unknown_kid",
            TokenError::AmbiguousKey | TokenError::WrongKeyType => "token_key_mismatch",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::WrongIssuer => "token_wrong_issuer",
            TokenError::WrongAudience => "token_wrong_audience",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::MissingClaim(_) => "token_missing_claim",
            TokenError::BadClaim { .. } => "token_bad_claim",
        }
    }
}

/// Whether a presented credential has the shape of a JWS compact serialisation (three
/// base64url segments, the last possibly empty for an unsigned token). Clearance keys never
/// contain a `.`, so the two kinds cannot be confused.
pub fn looks_like_jwt(text: &str) -> bool {
    let mut parts = text.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !header.is_empty()
        && !payload.is_empty()
        && base64url(header)
        && base64url(payload)
        && base64url(signature)
}

fn segments(token: &str) -> Result<[&str; 3], TokenError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        _ => Err(TokenError::Malformed("not three dot-separated parts")),
    }
}

fn json_segment(segment: &str, what: &'static str) -> Result<Value, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed(what))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(what))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(TokenError::Malformed(what))
    }
}

/// The token's unverified `iss`, only to pick which configured issuer's policy and keys to
/// verify it with (verification checks it again).
pub fn peek_issuer(token: &str) -> Result<String, TokenError> {
    let [_, payload, _] = segments(token)?;
    let claims = json_segment(payload, "the payload is not base64url JSON")?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TokenError::MissingClaim("iss".into()))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    /// RFC 7515 4.1.11: extensions the recipient must understand; we understand none.
    crit: Option<Value>,
}

/// Verifies `token` for `policy` with `keys` at `now` (Unix seconds).
pub fn verify_token(
    token: &str,
    policy: &IssuerPolicy,
    keys: &KeySet,
    now: i64,
) -> Result<VerifiedToken, TokenError> {
    let [header, _, signature] = segments(token)?;
    let header: Header =
        serde_json::from_value(json_segment(header, "the header is not base64url JSON")?)
            .map_err(|_| TokenError::Malformed("the header has no `alg`"))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed(
            "critical header extensions (`crit`) are not supported",
        ));
    }
    let alg = match Algorithm::parse(&header.alg) {
        Ok(alg) if policy.algorithms.contains(&alg) => alg,
        Err(AlgorithmRefused::None) => return Err(TokenError::AlgorithmNone),
        Ok(alg) => return Err(TokenError::AlgorithmNotAllowed(alg.to_string())),
        Err(AlgorithmRefused::Symmetric(_)) => {
            return Err(TokenError::AlgorithmNotAllowed("an HMAC algorithm".into()));
        }
        Err(AlgorithmRefused::Unknown(_)) => {
            return Err(TokenError::AlgorithmNotAllowed(
                "an unknown algorithm".into(),
            ));
        }
    };
    if signature.is_empty() {
        return Err(TokenError::Unsigned);
    }
    let key = match keys.select(header.kid.as_deref(), alg) {
        Selection::Found(key) => key,
        Selection::UnknownKid => return Err(TokenError::UnknownKeyId),
        Selection::WrongKeyType => return Err(TokenError::WrongKeyType),
        Selection::Ambiguous => return Err(TokenError::AmbiguousKey),
    };
    let mut validation = jsonwebtoken::Validation::new(alg.to_jsonwebtoken());
    // Time is checked below against the `now` we were given (this crate reads no clock).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[&policy.issuer]);
    validation.set_audience(&policy.audiences);
    let claims = jsonwebtoken::decode::<Value>(token, key, &validation)
        .map_err(|e| from_jsonwebtoken(e.kind()))?
        .claims;
    check_time(&claims, policy.clock_skew_s, now)?;
    let principal_id = policy.claims.principal_id(&claims)?;
    let facts = policy.claims.facts(&claims, &principal_id)?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .map_or_else(|| principal_id.to_string(), str::to_string);
    Ok(VerifiedToken {
        issuer: policy.issuer.clone(),
        subject,
        principal_id,
        facts,
        expires_at: claims.get("exp").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// `exp` is required (a token without it would never expire); `nbf` is checked when present.
fn check_time(claims: &Value, skew_s: u64, now: i64) -> Result<(), TokenError> {
    let skew = i64::try_from(skew_s).unwrap_or(i64::MAX);
    let number = |name: &str| -> Result<Option<i64>, TokenError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            // NumericDate may be fractional; whole seconds decide.
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| TokenError::bad_claim(name.to_string(), "is not a number")),
        }
    };
    let exp = number("exp")?.ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
    if exp.saturating_add(skew) <= now {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = number("nbf")?
        && nbf.saturating_sub(skew) > now
    {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

fn from_jsonwebtoken(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenError::AlgorithmNotAllowed("an algorithm its key cannot verify".into())
        }
        ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => TokenError::Malformed("a part is not valid base64url JSON"),
        ErrorKind::InvalidClaimFormat(_) => {
            TokenError::Malformed("a registered claim has the wrong type")
        }
        // A key the provider published that cannot verify (bad RSA components, a bad curve
        // point): nothing the caller can fix, and nothing that verifies.
        _ => TokenError::BadSignature,
    }
}
