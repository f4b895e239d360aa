//! Authentication: which credential a request carries and whose it is.
//!
//! Credentials arrive as the official SDKs send their API key: `Authorization: Bearer ...`
//! (OpenAI), `x-api-key: ...` (Anthropic) or `x-goog-api-key: ...` (Google; a Gemini request's
//! `?key=` query parameter is moved into that header by the router, so the key never needs to
//! be read from, or kept with, the URL). Two kinds are accepted:
//!
//! - a **Clearance key** (`clr_<id>_<secret>`): its principal and facts come from the
//!   registry, never from the request;
//! - a **signed token** (a JWT from a configured `[[identity.oidc]]` issuer), recognised by
//!   its shape (three base64url parts) and only when issuers are configured: verified by
//!   `oidc.rs`, its principal taken from the mapped claim, and its facts combined with the
//!   registry's by the issuer's rule (`clearance_identity::combine`), each fact's source kept
//!   for the audit record.
//!
//! Either way a principal the registry marks inactive (deactivated by provisioning) is refused
//! with 403 `principal_deactivated`. A refused token gets 401 with what was wrong; the token
//! itself never appears in an answer, a log line or a record.

use std::collections::BTreeMap;
use std::sync::Arc;

use clearance_core::api::ApiSurface;
use clearance_core::key::{KeyId, PresentedKey};
use clearance_core::principal::Principal;
use clearance_identity::{TokenError, looks_like_jwt};
use clearance_wire::error::ErrorKind;
use http::HeaderMap;
use http::StatusCode;

use crate::error::ApiError;
use crate::registry::Registry;
use crate::state::AppState;

/// The credential a caller authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A Clearance key, by its public id.
    Key(KeyId),
    /// A token from a trusted issuer, by issuer and subject (`sub`).
    Token { issuer: String, subject: String },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    /// The principal as decisions see it: the registry's, or for a token caller the registry
    /// and the token combined.
    pub principal: Arc<Principal>,
    /// The key's name: the application, as directives see it (`context.app`). Tokens name
    /// none.
    pub app: Option<String>,
    /// Where each principal fact came from, for a token caller (fact name to `registry` or
    /// `token:<issuer>`); empty for a key caller, whose facts all come from the registry.
    pub fact_sources: BTreeMap<String, String>,
}

impl Caller {
    /// Whose requests in flight this one counts among (`server.max_in_flight_per_key`): the
    /// key's, or a token caller's principal's (a token can be had anew; the person cannot).
    pub fn in_flight_key(&self) -> String {
        match &self.credential {
            Credential::Key(id) => id.as_str().to_string(),
            // Key ids are hex, so this cannot name a key's count.
            Credential::Token { .. } => format!("principal:{}", self.principal.id),
        }
    }
}

/// Google's API key header (the Gemini SDKs send the key in it).
pub const GOOG_API_KEY: &str = "x-goog-api-key";

/// The credential text a request carries, if any.
fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get(GOOG_API_KEY).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Authenticates a request by key or, when issuers are configured, by token.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    surface: ApiSurface,
) -> Result<Caller, ApiError> {
    let text = presented_credential(headers).ok_or_else(|| ApiError::missing_key(surface))?;
    let caller = if state.oidc.enabled() && looks_like_jwt(text) {
        authenticate_token(state, text, surface).await?
    } else {
        authenticate_key(&state.registry, text, surface)?
    };
    if !caller.principal.active {
        return Err(ApiError::new(
            surface,
            StatusCode::FORBIDDEN,
            ErrorKind::PermissionDenied,
            "principal_deactivated",
            format!(
                "principal `{}` has been deactivated by the identity provider",
                caller.principal.id
            ),
        )
        .with_code("principal_deactivated"));
    }
    Ok(caller)
}

/// Checks a key against the registry, in constant time for the secret.
fn authenticate_key(
    registry: &Registry,
    text: &str,
    surface: ApiSurface,
) -> Result<Caller, ApiError> {
    let presented = PresentedKey::parse(text).ok_or_else(|| ApiError::invalid_key(surface))?;
    let active = registry
        .key(&presented.id)
        .ok_or_else(|| ApiError::invalid_key(surface))?;
    if !presented.matches(&active.hash) {
        return Err(ApiError::invalid_key(surface));
    }
    let principal = registry.principal(&active.principal_id).ok_or_else(|| {
        unknown_principal(
            surface,
            format!(
                "this key belongs to principal `{}`, who is not in the registry",
                active.principal_id
            ),
        )
    })?;
    Ok(Caller {
        credential: Credential::Key(active.id),
        principal,
        app: active.name,
        fact_sources: BTreeMap::new(),
    })
}

/// Verifies a token and combines its facts with the registry's.
async fn authenticate_token(
    state: &AppState,
    token: &str,
    surface: ApiSurface,
) -> Result<Caller, ApiError> {
    let (issuer, verified) = state
        .oidc
        .verify(token, &state.upstream)
        .await
        .map_err(|e| token_refused(surface, &e))?;
    let known = state.registry.principal(&verified.principal_id);
    let combined = clearance_identity::combine(known.as_deref(), &verified, &issuer.config.policy)
        .map_err(|_| {
            unknown_principal(
                surface,
                format!(
                    "the token's principal `{}` is not in the registry",
                    verified.principal_id
                ),
            )
        })?;
    Ok(Caller {
        credential: Credential::Token {
            issuer: verified.issuer,
            subject: verified.subject,
        },
        principal: Arc::new(combined.principal),
        app: None,
        fact_sources: combined.sources,
    })
}

fn unknown_principal(surface: ApiSurface, message: String) -> ApiError {
    ApiError::new(
        surface,
        StatusCode::FORBIDDEN,
        ErrorKind::PermissionDenied,
        "unknown_principal",
        message,
    )
}

/// 401 in the client's error shape, with what was wrong (the message never holds the token).
fn token_refused(surface: ApiSurface, error: &TokenError) -> ApiError {
    ApiError::new(
        surface,
        StatusCode::UNAUTHORIZED,
        ErrorKind::Authentication,
        error.code(),
        error.to_string(),
    )
    .with_code(error.code())
}
