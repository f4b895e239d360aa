//! The admin API, behind its own bearer token (`[server] admin_token_env`), separate from
//! client keys: a client key never opens an admin route and the admin token is not a client key.
//!
//! - `GET  /admin/keys`                  keys (ids, owners, state; never secrets)
//! - `POST /admin/keys`                  `{"principal": ID, "name": N?}` → `{"id", "key"}` (shown once)
//! - `POST /admin/keys/{id}/revoke`      revoke; gateways stop accepting it within a second
//! - `GET  /admin/principals/{id}`       a principal with its derived facts
//! - `GET  /admin/audit/verify`          check the whole hash chain
//!
//! When no admin token is configured every admin route answers 404, as if absent.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use clearance_core::api::ApiSurface;
use clearance_core::key::KeyId;
use clearance_core::principal::PrincipalId;
use clearance_store::{IssueKeyError, issue_key, verify_audit_chain};
use clearance_wire::error::ErrorKind;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Admin errors use the OpenAI error shape: it is the most widely parsed one.
fn admin_error(
    status: StatusCode,
    kind: ErrorKind,
    class: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::new(ApiSurface::OpenaiChat, status, kind, class, message)
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    admin_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Api,
        "store_error",
        error.to_string(),
    )
}

/// Checks the admin bearer token in constant time.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.config.server.admin_token else {
        return Err(admin_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "admin_disabled",
            "not found",
        ));
    };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let matches: bool = presented
        .as_bytes()
        .ct_eq(expected.expose().as_bytes())
        .into();
    if matches {
        Ok(())
    } else {
        Err(admin_error(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            "invalid_admin_token",
            "the admin API needs `Authorization: Bearer <admin token>`",
        ))
    }
}

/// Runs `handler` only for a caller with the admin token.
async fn guarded<F, Fut>(state: AppState, headers: HeaderMap, handler: F) -> Response
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    match authorize(&state, &headers) {
        Ok(()) => handler(state)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(error) => error.into_response(),
    }
}

pub async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let keys = state.store.keys().await.map_err(internal)?;
        let rows: Vec<_> = keys.iter().map(|k| k.public_json()).collect();
        Ok(Json(json!({ "data": rows })).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    principal: String,
    name: Option<String>,
}

pub async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateKey>, axum::extract::rejection::JsonRejection>,
) -> Response {
    guarded(state, headers, |state| async move {
        let Json(request) = body.map_err(|e| {
            admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "invalid_request",
                e.body_text(),
            )
        })?;
        let principal: PrincipalId = request.principal.parse().map_err(|e| {
            admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "invalid_request",
                format!("principal: {e}"),
            )
        })?;
        let key = issue_key(state.store.as_ref(), &principal, request.name)
            .await
            .map_err(|e| match e {
                IssueKeyError::UnknownPrincipal(_) => admin_error(
                    StatusCode::NOT_FOUND,
                    ErrorKind::NotFound,
                    "unknown_principal",
                    e.to_string(),
                ),
                IssueKeyError::Store(e) => internal(e),
            })?;
        let body =
            json!({ "id": key.id.as_str(), "key": key.plaintext, "principal": principal.as_str() });
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
    .await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    guarded(state, headers, |state| async move {
        let key_id = KeyId::parse(&id).ok_or_else(|| {
            admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "invalid_request",
                "not a key id",
            )
        })?;
        let revoked = state
            .store
            .revoke_key(&key_id, chrono::Utc::now())
            .await
            .map_err(internal)?;
        if !revoked {
            return Err(admin_error(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "unknown_key",
                format!("no active key {key_id}"),
            ));
        }
        Ok(Json(json!({ "id": key_id.as_str(), "revoked": true })).into_response())
    })
    .await
}

pub async fn show_principal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    guarded(state, headers, |state| async move {
        let not_found = || {
            admin_error(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "unknown_principal",
                format!("no principal `{id}`"),
            )
        };
        let principal_id: PrincipalId = id.parse().map_err(|_| not_found())?;
        let principal = state
            .store
            .principal(&principal_id)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)?;
        let view = principal.with_derived_facts();
        Ok(Json(view).into_response())
    })
    .await
}

pub async fn verify_audit(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let report = verify_audit_chain(state.store.as_ref())
            .await
            .map_err(internal)?;
        Ok(Json(json!({
            "ok": report.broken.is_none(),
            "verified_records": report.verified.seq,
            "head_hash": report.verified.hash.to_hex(),
            "problem": report.broken.map(|b| b.to_string()),
        }))
        .into_response())
    })
    .await
}
