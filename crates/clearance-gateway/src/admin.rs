//! The admin API, behind its own bearer token (`[server] admin_token_env`), separate from
//! client keys: a client key never opens an admin route and the admin token is not a client key.
//!
//! - `GET  /admin/keys`                  keys (ids, owners, state; never secrets)
//! - `POST /admin/keys`                  `{"principal": ID, "name": N?}` → `{"id", "key"}` (shown once)
//! - `POST /admin/keys/{id}/revoke`      revoke; gateways stop accepting it within a second
//! - `GET  /admin/principals/{id}`       a principal with its derived facts
//! - `GET  /admin/audit/verify`          check the whole hash chain
//! - `GET  /admin/directives`            the active directive set (version, directives, Cedar)
//! - `POST /admin/directives/reload`     re-read the directive directory; activate if valid
//! - `PUT  /admin/directives/{file}`     write one directive file and activate the set (only
//!   if the whole set with it is valid; 422 otherwise)
//!
//! - `GET  /admin/status`                failover state: every model's breaker, route and
//!   provider health (see [`status`])
//! - `GET  /admin/models`                every configured model with its provider, tags and
//!   kill switch (`disabled`, `reason`, `since`, `actor`)
//! - `POST /admin/models/{model}/disable` `{"reason": R}` (required, at most 500 characters):
//!   switch the model off from the next request on; stored first, so it survives a restart
//! - `POST /admin/models/{model}/enable`  `{"reason": R?}`: switch it back on
//!
//! Kill switch changes are audited in the request log's hash chain (`decision: "admin"`), with
//! the actor `admin-api` and never the token.
//!
//! When no admin token is configured every admin route answers 404, as if absent.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AdminAction, AuditRecord, Decision};
use clearance_core::key::KeyId;
use clearance_core::principal::PrincipalId;
use clearance_store::{IssueKeyError, ModelSwitch, issue_key, verify_audit_chain};
use clearance_wire::error::ErrorKind;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use clearance_policy::SourceFile;

use crate::directives::{Reloaded, book_with};
use crate::error::ApiError;
use crate::state::AppState;
use crate::switches::DisabledModel;

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

/// The active directive set: its version and every directive with its compiled Cedar.
pub async fn list_directives(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let book = state.directives.current();
        let rows: Vec<_> = book
            .directives()
            .map(|d| {
                let mut row = serde_json::to_value(d.as_ref()).unwrap_or_default();
                row["cedar"] = json!(book.cedar_of(&d.id));
                row["facts_read"] = json!(book.facts_read_by(&d.id));
                row
            })
            .collect();
        Ok(Json(json!({ "version": book.version(), "data": rows })).into_response())
    })
    .await
}

fn invalid_set(errors: &clearance_policy::DirectiveErrors) -> ApiError {
    admin_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::InvalidRequest,
        "invalid_directives",
        format!(
            "{}the active set stays in force",
            errors.to_string().replace("\n  ", "\n").trim_start()
        ),
    )
}

fn reloaded_json(reloaded: &Reloaded) -> serde_json::Value {
    match reloaded {
        Reloaded::Unchanged { version } => json!({ "changed": false, "version": version }),
        Reloaded::Activated { from, to } => json!({ "changed": true, "from": from, "version": to }),
    }
}

/// Re-reads the directive directory and activates the set if all of it is valid.
async fn activate(state: &AppState) -> Result<Response, ApiError> {
    let reloaded = state
        .directives
        .reload()
        .await
        .map_err(|e| invalid_set(&e))?;
    Ok(Json(reloaded_json(&reloaded)).into_response())
}

/// Re-reads the directive directory and activates it if the whole set is valid.
pub async fn reload_directives(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(
        state,
        headers,
        |state| async move { activate(&state).await },
    )
    .await
}

/// Writes one directive file (body: its TOML or Cedar text) into the directory and activates
/// the resulting set, only if the whole set with it is valid.
pub async fn put_directive(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    guarded(state, headers, |state| async move {
        let Some(dir) = state.directives.dir().cloned() else {
            return Err(admin_error(
                StatusCode::CONFLICT,
                ErrorKind::InvalidRequest,
                "no_directive_dir",
                "this gateway has no `[directives] dir` configured",
            ));
        };
        let path = std::path::Path::new(&file);
        if path.components().count() != 1 || !clearance_policy::dir::is_directive_file(path) {
            return Err(admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "bad_file_name",
                format!(
                    "`{file}` is not a directive file name: use NAME.toml or NAME.cedar, no folders"
                ),
            ));
        }
        let draft = SourceFile {
            path: dir.join(&file),
            text: body,
        };
        // The folder watcher may activate the written file before this handler does, so
        // "changed" compares the active version before the write with the one after.
        let before = state.directives.current().version().to_string();
        let config = std::sync::Arc::clone(&state.config);
        let checked = tokio::task::spawn_blocking(move || {
            book_with(&config, &dir, std::slice::from_ref(&draft))?;
            clearance_policy::dir::write_atomically(&dir, std::slice::from_ref(&draft)).map_err(
                |e| {
                    clearance_policy::DirectiveErrors(vec![clearance_policy::DirectiveError::new(
                        &draft.path,
                        None,
                        format!("cannot write: {e}"),
                    )])
                },
            )
        })
        .await
        .map_err(internal)?;
        checked.map_err(|e| invalid_set(&e))?;
        state
            .directives
            .reload()
            .await
            .map_err(|e| invalid_set(&e))?;
        let after = state.directives.current().version().to_string();
        let reloaded = if after == before {
            Reloaded::Unchanged { version: after }
        } else {
            Reloaded::Activated {
                from: before,
                to: after,
            }
        };
        Ok(Json(reloaded_json(&reloaded)).into_response())
    })
    .await
}

/// The longest reason a kill switch change may carry.
pub const MAX_REASON_CHARS: usize = 500;

/// Who the audit log names for changes made through this API.
const ADMIN_API_ACTOR: &str = "admin-api";

/// A kill switch change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SwitchAction {
    Disable,
    Enable,
}

impl SwitchAction {
    fn audit_name(self) -> &'static str {
        match self {
            SwitchAction::Disable => "model_disable",
            SwitchAction::Enable => "model_enable",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    reason: Option<String>,
}

/// One configured model with its kill switch, as `GET /admin/models` lists it.
fn model_json(model: &clearance_config::Model, off: Option<&DisabledModel>) -> serde_json::Value {
    json!({
        "model": model.name,
        "provider": model.provider,
        "tags": model.tags,
        "disabled": off.is_some(),
        "reason": off.map(|d| d.reason.as_str()),
        "since": off.map(|d| d.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "actor": off.map(|d| d.actor.as_str()),
    })
}

/// Every configured model, in the config's order, with its kill switch.
pub async fn list_models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let disabled = state.switches.snapshot();
        let rows: Vec<_> = state
            .config
            .models
            .iter()
            .map(|m| model_json(m, disabled.get(&m.name).map(AsRef::as_ref)))
            .collect();
        Ok(Json(json!({ "data": rows })).into_response())
    })
    .await
}

/// Switches a model off from the next request on. Body: `{"reason": "..."}` (required).
pub async fn disable_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    guarded(state, headers, |state| {
        change_switch(state, model, SwitchAction::Disable, body)
    })
    .await
}

/// Switches a model back on. Body: `{"reason": "..."}` (optional; an empty body is fine).
pub async fn enable_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    guarded(state, headers, |state| {
        change_switch(state, model, SwitchAction::Enable, body)
    })
    .await
}

/// Reserves the audit record first (no change goes unrecorded; 503 when the audit log cannot
/// keep up), then stores the change, swaps the in-memory set and commits the record with the
/// status answered. The change runs in its own task: a client hanging up cannot cut it off
/// between the store and the audit log.
async fn change_switch(
    state: AppState,
    model: String,
    action: SwitchAction,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let slot = state.audit.reserve().await.map_err(|overloaded| {
        state.metrics.audit_overloaded.inc();
        admin_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Overloaded,
            "audit_overloaded",
            format!("{overloaded}; the switch was not changed"),
        )
    })?;
    let task = tokio::spawn(async move {
        let reason = switch_reason(action, &body);
        let outcome = match &reason {
            Ok(reason) => apply_switch(&state, &model, action, reason.clone()).await,
            Err(error) => Err(error.clone()),
        };
        let status = match &outcome {
            Ok(_) => StatusCode::OK,
            Err(error) => error.status,
        };
        slot.commit(admin_record(
            AdminAction {
                action: action.audit_name().to_string(),
                target: model,
                reason: reason.ok().flatten(),
                actor: ADMIN_API_ACTOR.to_string(),
            },
            status,
            outcome.as_ref().err().map(|e| e.class),
            started,
        ));
        outcome
    });
    let row = task.await.map_err(internal)??;
    Ok(Json(row).into_response())
}

/// The change's reason from the body: required (non-empty) to disable, optional to enable,
/// at most [`MAX_REASON_CHARS`] either way.
fn switch_reason(action: SwitchAction, body: &[u8]) -> Result<Option<String>, ApiError> {
    let bad = |message: String| {
        admin_error(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "invalid_request",
            message,
        )
        .with_param("reason")
    };
    let parsed: SwitchBody = if body.iter().all(u8::is_ascii_whitespace) {
        SwitchBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad(format!("the body must be {{\"reason\": \"...\"}}: {e}")))?
    };
    let reason = parsed
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(reason) = &reason {
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(bad(format!(
                "reason: {chars} characters; at most {MAX_REASON_CHARS}"
            )));
        }
    }
    if action == SwitchAction::Disable && reason.is_none() {
        return Err(bad(
            "reason: required to disable a model (say why, e.g. {\"reason\": \"incident 42\"})"
                .to_string(),
        ));
    }
    Ok(reason)
}

/// Stores the change and swaps it in; answers with the model's new state.
async fn apply_switch(
    state: &AppState,
    model: &str,
    action: SwitchAction,
    reason: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let Some(configured) = state.config.model(model) else {
        let known: Vec<&str> = state
            .config
            .models
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        return Err(admin_error(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "unknown_model",
            format!(
                "no model `{model}` in this gateway's config; configured models: {}",
                known.join(", ")
            ),
        )
        .with_code("unknown_model")
        .with_param("model"));
    };
    let switch = ModelSwitch {
        model: configured.name.clone(),
        disabled: action == SwitchAction::Disable,
        reason,
        changed_at: chrono::Utc::now(),
        actor: ADMIN_API_ACTOR.to_string(),
    };
    state
        .switches
        .set(state.store.as_ref(), switch)
        .await
        .map_err(internal)?;
    state
        .switches
        .publish(&state.metrics, [configured.name.clone()]);
    let off = state.switches.disabled(&configured.name);
    match &off {
        Some(off) => {
            tracing::warn!(model = %configured.name, reason = %off.reason, "model disabled by an operator")
        }
        None => tracing::info!(model = %configured.name, "model enabled by an operator"),
    }
    Ok(model_json(configured, off.as_deref()))
}

/// The audit record of an operator's action: no caller, no model request, the status
/// answered. The admin token is not a field of it.
fn admin_record(
    action: AdminAction,
    status: StatusCode,
    error_class: Option<&str>,
    started: std::time::Instant,
) -> AuditRecord {
    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        time: chrono::Utc::now(),
        // The admin API answers in the OpenAI error shape.
        api: ApiSurface::OpenaiChat,
        key_id: None,
        principal_id: None,
        requested_model: None,
        served_model: None,
        decision: Decision::Admin,
        directive_ids: Vec::new(),
        shadow_hits: Vec::new(),
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: false,
        status: status.as_u16(),
        upstream_status: None,
        duration_us: elapsed,
        overhead_us: elapsed,
        input_tokens: None,
        output_tokens: None,
        error_class: error_class.map(String::from),
        attempts: Vec::new(),
        admin: Some(action),
    }
}

/// `GET /admin/status`: every model's kill switch, breaker, route and provider health, and
/// every provider's health checks (see [`crate::failover::status_report`]).
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(error) = authorize(&state, &headers) {
        return error.into_response();
    }
    Json(crate::failover::status_report(&state)).into_response()
}
