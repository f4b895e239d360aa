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
//!   if the whole set with it is valid; 422 otherwise). The change is proved first and the
//!   answer carries the proof (`proof`: who gains, who loses); with
//!   `?require_no_new_access=true` a change not proved to widen nobody's access is refused (409)
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
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AdminAction, AuditRecord};
use clearance_core::key::KeyId;
use clearance_core::principal::PrincipalId;
use clearance_store::{IssueKeyError, ModelSwitch, issue_key, verify_audit_trail};
use clearance_wire::error::ErrorKind;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use clearance_policy::SourceFile;

use crate::directives::{ActivateError, ProofRequest, Proved, Reloaded};
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
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
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

/// Runs `handler` only for a caller with the admin token. A wrong token is recorded.
async fn guarded<F, Fut>(state: AppState, headers: HeaderMap, handler: F) -> Response
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    match authorize(&state, &headers) {
        Ok(()) => handler(state)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(error) => {
            if error.status == StatusCode::UNAUTHORIZED {
                record_failed_authentication(&state, &ADMIN_API).await;
            }
            error.into_response()
        }
    }
}

/// Failed admin authentications recorded per minute at most; the rest are counted and the
/// count goes into the next one recorded, so a flood cannot fill the log but is never hidden.
pub const MAX_RECORDED_AUTH_FAILURES_PER_MINUTE: u32 = 10;

/// Rate limit of [`record_failed_authentication`].
#[derive(Debug)]
pub struct AuthFailures {
    state: std::sync::Mutex<AuthFailureWindow>,
}

#[derive(Debug)]
struct AuthFailureWindow {
    started: std::time::Instant,
    recorded: u32,
    suppressed: u64,
}

impl Default for AuthFailures {
    fn default() -> Self {
        AuthFailures {
            state: std::sync::Mutex::new(AuthFailureWindow {
                started: std::time::Instant::now(),
                recorded: 0,
                suppressed: 0,
            }),
        }
    }
}

impl AuthFailures {
    /// `Some(suppressed before this one)` when this failure is to be recorded.
    pub(crate) fn admit(&self) -> Option<u64> {
        let mut window = self.state.lock().ok()?;
        if window.started.elapsed() >= std::time::Duration::from_secs(60) {
            window.started = std::time::Instant::now();
            window.recorded = 0;
        }
        if window.recorded >= MAX_RECORDED_AUTH_FAILURES_PER_MINUTE {
            window.suppressed += 1;
            return None;
        }
        window.recorded += 1;
        Some(std::mem::take(&mut window.suppressed))
    }
}

/// A surface whose failed authentications are recorded: what the record calls the failure,
/// its target and its error class.
pub(crate) struct AuthSurface {
    pub action: &'static str,
    pub target: &'static str,
    pub error_class: &'static str,
}

const ADMIN_API: AuthSurface = AuthSurface {
    action: "admin_auth_failed",
    target: "admin-api",
    error_class: "invalid_admin_token",
};

/// Records a failed authentication on `surface`, within the budget every surface shares (at
/// most [`MAX_RECORDED_AUTH_FAILURES_PER_MINUTE`] a minute, the rest counted into the next
/// record), so a guessing credential is seen, never the guess itself.
pub(crate) async fn record_failed_authentication(state: &AppState, surface: &AuthSurface) {
    let Some(suppressed) = state.auth_failures.admit() else {
        return;
    };
    let Ok(slot) = state.audit.reserve().await else {
        return;
    };
    let action = AdminAction {
        action: surface.action.to_string(),
        target: surface.target.to_string(),
        reason: None,
        actor: "unknown".to_string(),
        details: Some(json!({ "unrecorded_failures_before": suppressed })),
    };
    slot.commit(admin_record(
        action,
        StatusCode::UNAUTHORIZED,
        Some(surface.error_class),
        std::time::Instant::now(),
    ));
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
        let change = Change {
            action: "key_create",
            target: principal.to_string(),
            reason: None,
        };
        recorded_change(&state, change, move |state| async move {
            let name = request.name;
            let key = issue_key(state.store.as_ref(), &principal, name.clone())
                .await
                .map_err(|e| match e {
                    IssueKeyError::UnknownPrincipal(_) => admin_error(
                        StatusCode::NOT_FOUND,
                        ErrorKind::NotFound,
                        "unknown_principal",
                        e.to_string(),
                    ),
                    IssueKeyError::NameTooLong(_) => admin_error(
                        StatusCode::BAD_REQUEST,
                        ErrorKind::InvalidRequest,
                        "invalid_request",
                        e.to_string(),
                    ),
                    IssueKeyError::Store(e) => internal(e),
                })?;
            let body = json!({ "id": key.id.as_str(), "key": key.plaintext, "principal": principal.as_str() });
            let details = json!({ "key_id": key.id.as_str(), "principal": principal.as_str(), "name": name });
            Ok((StatusCode::CREATED, body, Some(details)))
        })
        .await
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
        let change = Change {
            action: "key_revoke",
            target: key_id.to_string(),
            reason: None,
        };
        recorded_change(&state, change, move |state| async move {
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
            let body = json!({ "id": key_id.as_str(), "revoked": true });
            Ok((StatusCode::OK, body, None))
        })
        .await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreeningReviewBody {
    principal: String,
    /// `ofac-sdn:1234`, `bis-dpl:…`, `csl:EL:…`: as the principal's screening evidence names it.
    entry: String,
    /// `confirm` or `clear`.
    decision: String,
    reason: String,
    /// Who decided: the audit record's details name them.
    by: String,
}

/// `POST /admin/screening/reviews`: a person's decision on one of a principal's screening
/// matches, stored with the principal re-screened under it, and recorded with who and why.
pub async fn review_screening(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ScreeningReviewBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    use crate::screening::{ReviewError, ReviewRequest, parse_entry_name};
    use clearance_core::screening::ReviewDecision;
    guarded(state, headers, |state| async move {
        let bad = |message: String| {
            admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "invalid_request",
                message,
            )
        };
        let Json(body) = body.map_err(|e| bad(e.body_text()))?;
        let principal: PrincipalId = body
            .principal
            .parse()
            .map_err(|e| bad(format!("principal: {e}")))?;
        let (list_source, entity_id) = parse_entry_name(&body.entry).ok_or_else(|| {
            bad(format!(
                "entry: `{}` is not `<list>:<entity id>` (e.g. ofac-sdn:1234, csl:EL:5678)",
                body.entry
            ))
        })?;
        let decision = match body.decision.as_str() {
            "confirm" => ReviewDecision::Confirm,
            "clear" => ReviewDecision::Clear,
            other => return Err(bad(format!("decision: `{other}` is not `confirm` or `clear`"))),
        };
        if body.by.trim().is_empty() {
            return Err(bad("by: name who decided".into()));
        }
        let request = ReviewRequest {
            principal: principal.clone(),
            list_source,
            entity_id,
            decision,
            reason: body.reason,
            actor: body.by.trim().to_string(),
        };
        let change = Change {
            action: "screening_review",
            target: principal.to_string(),
            reason: Some(request.reason.clone()),
        };
        recorded_change(&state, change, move |state| async move {
            let lists = state
                .screening
                .current(state.store.as_ref())
                .await
                .map_err(internal)?;
            let now = chrono::Utc::now();
            let outcome = crate::screening::review(state.store.as_ref(), lists.as_deref(), &request, now)
                .await
                .map_err(|e| match e {
                    ReviewError::UnknownPrincipal(_) => admin_error(
                        StatusCode::NOT_FOUND,
                        ErrorKind::NotFound,
                        "unknown_principal",
                        e.to_string(),
                    ),
                    ReviewError::NoLists | ReviewError::NoReason | ReviewError::NoSuchMatch { .. } => {
                        admin_error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            ErrorKind::InvalidRequest,
                            "not_reviewable",
                            e.to_string(),
                        )
                    }
                    other => internal(other),
                })?;
            if let Err(error) = state.registry.refresh(state.store.as_ref()).await {
                tracing::warn!(%error, "registry reload after a screening review failed; the next poll retries");
            }
            let entry = format!("{}:{}", request.list_source, request.entity_id);
            let details = json!({
                "entry": entry,
                "decision": request.decision.as_str(),
                "by": request.actor,
                "review_id": outcome.review_id,
                "screening": {
                    "from": outcome.before.map(|s| s.as_str()),
                    "to": outcome.after.as_str(),
                },
            });
            let body = json!({
                "principal": principal.as_str(),
                "review_id": outcome.review_id,
                "screening": outcome.principal.screening,
            });
            Ok((StatusCode::OK, body, Some(details)))
        })
        .await
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
        let report = verify_audit_trail(state.store.as_ref())
            .await
            .map_err(internal)?;
        Ok(Json(trail_json(&report)).into_response())
    })
    .await
}

/// A trail check as JSON: the whole verdict and one entry per log.
pub fn trail_json(report: &clearance_store::TrailReport) -> serde_json::Value {
    let logs: Vec<_> = report
        .logs
        .iter()
        .map(|l| {
            json!({
                "log_id": l.log.log_id,
                "replica": l.log.replica,
                "opened_at": l.log.opened_at,
                "closed_at": l.log.closed_at,
                "closed": l.closed,
                "verified_records": l.verified.seq,
                "head_hash": l.verified.hash.to_hex(),
                "problem": l.broken.as_ref().map(ToString::to_string),
                "incomplete": l.incomplete,
            })
        })
        .collect();
    json!({ "ok": report.ok(), "verified_records": report.records(), "logs": logs })
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

fn invalid_set(error: &ActivateError) -> ApiError {
    match error {
        ActivateError::Invalid(errors) => admin_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::InvalidRequest,
            "invalid_directives",
            format!(
                "{}the active set stays in force",
                errors.to_string().replace("\n  ", "\n").trim_start()
            ),
        ),
        ActivateError::NotProved(why) => admin_error(
            StatusCode::CONFLICT,
            ErrorKind::InvalidRequest,
            "access_not_proved_unchanged",
            format!(
                "require_no_new_access: {why}; nothing was activated, the active set stays in force"
            ),
        ),
        ActivateError::Store(error) => internal(error),
        ActivateError::Unrecorded(why) => admin_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Overloaded,
            "store_unavailable",
            format!("the activation could not be recorded: {why}"),
        ),
    }
}

fn reloaded_json(reloaded: &Reloaded, store_version: i64) -> serde_json::Value {
    match reloaded {
        Reloaded::Unchanged { version } => {
            json!({ "changed": false, "version": version, "store_version": store_version })
        }
        Reloaded::Activated { from, to } => {
            json!({ "changed": true, "from": from, "version": to, "store_version": store_version })
        }
    }
}

/// Re-reads the directive directory and activates it if the whole set is valid. The
/// activation is stored and recorded (with every file's hash) before the answer.
pub async fn reload_directives(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let reloaded = state
            .directives
            .reload(ADMIN_API_ACTOR)
            .await
            .map_err(|e| invalid_set(&e))?;
        let store_version = state.directives.store_version();
        Ok(Json(reloaded_json(&reloaded, store_version)).into_response())
    })
    .await
}

/// Adds or replaces one directive file (body: its TOML or Cedar text) in the active set and
/// activates the result, only if the whole set with it is valid. Works on replicas without a
/// directive folder: the set is taken from, and stored to, the store.
pub async fn put_directive(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    // Bytes, not String: axum's String extractor answers a body that is not UTF-8 with plain
    // text, before authentication, instead of the admin API's JSON error shape.
    body: bytes::Bytes,
) -> Response {
    guarded(state, headers, |state| async move {
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
        let text = clearance_core::text::utf8(body.to_vec()).map_err(|e| {
            admin_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "body_not_utf8",
                format!("{file}:{}: {e}", e.line),
            )
        })?;
        let proof = proof_request(query.as_deref())?;
        let draft = SourceFile {
            path: std::path::PathBuf::from(&file),
            text,
        };
        let (reloaded, proved) = state
            .directives
            .put(vec![draft], ADMIN_API_ACTOR, proof)
            .await
            .map_err(|e| invalid_set(&e))?;
        let store_version = state.directives.store_version();
        let mut body = reloaded_json(&reloaded, store_version);
        if let Some(proved) = proved {
            body["proof"] = proof_json(&proved);
        }
        Ok(Json(body).into_response())
    })
    .await
}

/// `?require_no_new_access=true|false` (the only parameter `PUT /admin/directives/{file}`
/// takes).
fn proof_request(query: Option<&str>) -> Result<ProofRequest, ApiError> {
    let bad = |name: &str, message: String| {
        admin_error(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "bad_parameter",
            message,
        )
        .with_param(name.to_string())
    };
    let mut request = ProofRequest::default();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, "true"));
        let flag = match value {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(bad(
                    name,
                    format!("`{name}` takes true or false, not `{value}`"),
                ));
            }
        };
        match name {
            "require_no_new_access" => request.require_no_new_access = flag,
            _ => {
                return Err(bad(
                    name,
                    format!("unknown parameter `{name}`: the only one is `require_no_new_access`"),
                ));
            }
        }
    }
    Ok(request)
}

/// An activation's proof as JSON: the report with its verdict and summary, or why no proof
/// was made.
fn proof_json(proved: &Proved) -> serde_json::Value {
    match proved {
        Ok(report) => report.to_json(),
        Err(why) => json!({ "error": why }),
    }
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
/// keep up), then stores the change, swaps the in-memory set and records it.
async fn change_switch(
    state: AppState,
    model: String,
    action: SwitchAction,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let reason = switch_reason(action, &body);
    let recorded_reason = reason.clone().ok().flatten();
    let change = Change {
        action: action.audit_name(),
        target: model.clone(),
        reason: recorded_reason,
    };
    recorded_change(&state, change, move |state| async move {
        let row = apply_switch(&state, &model, action, reason?).await?;
        Ok((StatusCode::OK, row, None))
    })
    .await
}

/// An operator's change as the audit log names it.
struct Change {
    action: &'static str,
    target: String,
    reason: Option<String>,
}

/// What a change answered: status, body, and what changed (for the record).
type Changed = (StatusCode, serde_json::Value, Option<serde_json::Value>);

/// Makes a change and records it in the audit log, durably, before answering. Room for the
/// record is reserved first (503 when the audit log cannot take it; nothing is changed then).
/// The change and its record run in a task of their own, so a client hanging up cannot cut
/// them apart. A refused change (4xx) is recorded too, with the status it got.
async fn recorded_change<F, Fut>(
    state: &AppState,
    change: Change,
    make: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(AppState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Changed, ApiError>> + Send + 'static,
{
    let started = std::time::Instant::now();
    let mut slot = state.audit.reserve().await.map_err(|unavailable| {
        state.metrics.audit_overloaded.inc();
        admin_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Overloaded,
            unavailable.code(),
            format!("{unavailable}; nothing was changed"),
        )
    })?;
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let outcome = make(task_state).await;
        let (status, details) = match &outcome {
            Ok((status, _, details)) => (*status, details.clone()),
            Err(error) => (error.status, None),
        };
        let action = AdminAction {
            action: change.action.to_string(),
            target: change.target,
            reason: change.reason,
            actor: ADMIN_API_ACTOR.to_string(),
            details,
        };
        let record = admin_record(
            action,
            status,
            outcome.as_ref().err().map(|e| e.class),
            started,
        );
        let max_wait = slot.max_wait();
        let durable = slot.submit_durable(record);
        drop(slot);
        if let Err(unavailable) = durable.wait(max_wait).await {
            return Err(admin_error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Overloaded,
                unavailable.code(),
                "the change was made, but its audit record is not durable yet (the store is not \
                 committing); it is kept and written when the store recovers",
            ));
        }
        outcome
    });
    let (status, body, _) = task.await.map_err(internal)??;
    Ok((status, Json(body)).into_response())
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
pub(crate) fn admin_record(
    action: AdminAction,
    status: StatusCode,
    error_class: Option<&str>,
    started: std::time::Instant,
) -> AuditRecord {
    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    AuditRecord {
        duration_us: elapsed,
        overhead_us: elapsed,
        error_class: error_class.map(String::from),
        ..AuditRecord::admin(
            uuid::Uuid::now_v7().to_string(),
            chrono::Utc::now(),
            action,
            status.as_u16(),
        )
    }
}

/// `GET /admin/status`: every model's kill switch, breaker, route and provider health, and
/// every provider's health checks (see [`crate::failover::status_report`]).
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guarded(state, headers, |state| async move {
        let mut report = crate::failover::status_report(&state);
        let writer = state.audit.writer();
        report["replica"] = json!({
            "name": writer.replica,
            "log_id": writer.log_id,
            "policy_version": state.directives.current().version(),
            "directive_set_version": state.directives.store_version(),
            "policy_age_ms": u64::try_from(state.freshness.age().as_millis()).unwrap_or(u64::MAX),
            "store_stalled": state.audit.stalled(),
        });
        Ok(Json(report).into_response())
    })
    .await
}
