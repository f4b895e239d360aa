//! Authentication: which key a request carries and whose it is.
//!
//! Keys arrive as the official SDKs send them: `Authorization: Bearer KEY` (OpenAI) or
//! `x-api-key: KEY` (Anthropic). The principal and its facts come from the registry, never
//! from the request: no header a client sets changes who it is.

use std::sync::Arc;

use clearance_core::api::ApiSurface;
use clearance_core::key::{KeyId, PresentedKey};
use clearance_core::principal::Principal;
use http::HeaderMap;
use http::StatusCode;

use crate::error::ApiError;
use crate::registry::Registry;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: KeyId,
    pub principal: Arc<Principal>,
    /// The key's name: the application, as directives see it (`context.app`).
    pub app: Option<String>,
}

/// The key text a request carries, if any.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Checks the request's key against the registry, in constant time for the secret.
pub fn authenticate(
    registry: &Registry,
    headers: &HeaderMap,
    surface: ApiSurface,
) -> Result<Caller, ApiError> {
    let text = presented_key(headers).ok_or_else(|| ApiError::missing_key(surface))?;
    let presented = PresentedKey::parse(text).ok_or_else(|| ApiError::invalid_key(surface))?;
    let active = registry
        .key(&presented.id)
        .ok_or_else(|| ApiError::invalid_key(surface))?;
    if !presented.matches(&active.hash) {
        return Err(ApiError::invalid_key(surface));
    }
    let principal = registry.principal(&active.principal_id).ok_or_else(|| {
        ApiError::new(
            surface,
            StatusCode::FORBIDDEN,
            clearance_wire::error::ErrorKind::PermissionDenied,
            "unknown_principal",
            format!(
                "this key belongs to principal `{}`, who is not in the registry",
                active.principal_id
            ),
        )
    })?;
    Ok(Caller {
        key_id: active.id,
        principal,
        app: active.name,
    })
}
