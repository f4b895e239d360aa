//! Routes, and which credential each sits behind.
//!
//! - Outside authentication: `GET /healthz`, `GET /readyz`, `GET /metrics` (operators scrape
//!   these; they show no caller data).
//! - Behind a client key (checked in the handlers, so the error has the right API shape):
//!   `POST /v1/chat/completions`, `POST /v1/messages`, `GET /v1/models`.
//! - Behind the admin token (a separate credential; see [`crate::admin`]): `/admin/...`.
//! - Behind the SCIM token (its own credential; see [`crate::scim`]): `/scim/v2/...`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use clearance_config::Model;
use clearance_core::api::ApiSurface;
use clearance_policy::Outcome;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use crate::access;
use crate::admin;
use crate::audit_http;
use crate::auth::authenticate;
use crate::limits;
use crate::proxy;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/admin/keys", get(admin::list_keys).post(admin::create_key))
        .route("/admin/keys/{id}/revoke", post(admin::revoke_key))
        .route("/admin/principals/{id}", get(admin::show_principal))
        .route("/admin/screening/reviews", post(admin::review_screening))
        .route("/admin/audit/verify", get(admin::verify_audit))
        .route("/admin/directives", get(admin::list_directives))
        .route("/admin/directives/reload", post(admin::reload_directives))
        .route(
            "/admin/directives/{file}",
            axum::routing::put(admin::put_directive),
        )
        .route("/admin/models", get(admin::list_models))
        .route("/admin/models/{model}/disable", post(admin::disable_model))
        .route("/admin/models/{model}/enable", post(admin::enable_model))
        .merge(crate::scim::router())
        .layer(DefaultBodyLimit::max(body_limit))
        .route("/admin/status", get(admin::status))
        .route("/audit/checkpoint", get(audit_http::checkpoint))
        .route(
            "/audit/log/{log}/checkpoint",
            get(audit_http::log_checkpoint),
        )
        .route("/audit/log/{log}/tile/{*rest}", get(audit_http::tile))
        .route("/audit/proof/inclusion", get(audit_http::inclusion))
        .route("/audit/proof/consistency", get(audit_http::consistency))
        .route("/audit/receipt/{request_id}", get(audit_http::receipt))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

async fn chat_completions(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read_body(&state, body).await;
    proxy::handle(state, ApiSurface::OpenaiChat, peer, headers, body).await
}

async fn messages(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read_body(&state, body).await;
    proxy::handle(state, ApiSurface::AnthropicMessages, peer, headers, body).await
}

/// A model request's body, within `server.max_body_bytes` and the body read timeouts.
async fn read_body(state: &AppState, body: Body) -> Result<Bytes, limits::BodyFailure> {
    let server = &state.config.server;
    limits::read_body(
        body,
        server.max_body_bytes,
        std::time::Duration::from_millis(server.limits.body_read_timeout_ms),
        std::time::Duration::from_millis(server.limits.body_idle_timeout_ms),
    )
    .await
}

/// A listed model that would be served by another: the target and the deciding directives.
type Rerouted = (String, Vec<String>);

/// The models this caller may use now, in the shape of the SDK asking (Anthropic's SDK sends
/// `anthropic-version`, OpenAI's does not). Each model is decided for this caller as a plain
/// request from here would be; a denied model is left out, a rerouted one is listed with the
/// model that would serve it.
async fn models(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let surface = if headers.contains_key("anthropic-version") {
        ApiSurface::AnthropicMessages
    } else {
        ApiSurface::OpenaiChat
    };
    let caller = match authenticate(&state, &headers, surface).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let facts = access::facts_for(&caller, surface, None, state.origin.country(peer, &headers));
    let book = state.directives.current();
    let now = chrono::Utc::now();
    let listed: Vec<(&Model, Option<Rerouted>)> = state
        .config
        .models
        .iter()
        .filter_map(|m| {
            let decision = access::decide(&book, &caller, &facts, &m.name, now);
            match &decision.outcome {
                Outcome::Allow => Some((m, None)),
                Outcome::Reroute { to } => Some((m, Some((to.clone(), decision.directive_ids())))),
                Outcome::Deny => None,
            }
        })
        .collect();
    let annotate = |entry: &mut serde_json::Value, reroute: &Option<Rerouted>| {
        if let Some((to, ids)) = reroute {
            entry["clearance"] =
                json!({ "decision": "reroute", "served_by": to, "directives": ids });
        }
    };
    let body = match surface {
        ApiSurface::OpenaiChat => json!({
            "object": "list",
            "data": listed.iter().map(|(m, reroute)| {
                let mut entry = json!({ "id": m.name, "object": "model", "created": 0, "owned_by": m.provider });
                annotate(&mut entry, reroute);
                entry
            }).collect::<Vec<_>>()
        }),
        ApiSurface::AnthropicMessages => json!({
            "data": listed.iter().map(|(m, reroute)| {
                let mut entry = json!({
                    "type": "model", "id": m.name, "display_name": m.name, "created_at": "1970-01-01T00:00:00Z"
                });
                annotate(&mut entry, reroute);
                entry
            }).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": listed.first().map(|(m, _)| m.name.as_str()),
            "last_id": listed.last().map(|(m, _)| m.name.as_str()),
        }),
    };
    axum::Json(body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store commits and answers: without it no answer could leave (each waits
/// for its decision record) and no change could land. Answers at once: a stalled store is
/// known from the audit writer, and a store read gets the same bounded wait as a request.
async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    };
    if state.audit.stalled() {
        return not_ready("the store is not committing audit records".to_string());
    }
    let wait = std::time::Duration::from_millis(state.config.audit.max_wait_ms);
    match tokio::time::timeout(wait, state.store.change_versions()).await {
        // Too few cosignatures is reported, not a reason to take the replica out: the record
        // itself is durable; what is missing is outside confirmation of it.
        Ok(Ok(_)) => match state.witnesses.shortfall() {
            Some(shortfall) => (StatusCode::OK, format!("ready; {shortfall}\n")).into_response(),
            None => (StatusCode::OK, "ready\n").into_response(),
        },
        Ok(Err(error)) => not_ready(error.to_string()),
        Err(_) => not_ready(format!(
            "the store did not answer within {} ms",
            wait.as_millis()
        )),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.audit_queued.set(state.audit.queued() as i64);
    crate::failover::refresh_gauges(&state);
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Unknown paths answer in the OpenAI error shape (the most widely parsed one), not with an
/// empty body an SDK cannot read.
async fn unknown_route(uri: http::Uri) -> Response {
    let message = format!(
        "no route {}; model requests go to POST /v1/chat/completions or POST /v1/messages",
        uri.path()
    );
    let body = clearance_wire::error::error_body(
        ApiSurface::OpenaiChat,
        clearance_wire::error::ErrorKind::NotFound,
        &message,
        Some("unknown_route"),
    );
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn wrong_method(method: http::Method, uri: http::Uri) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    let body = clearance_wire::error::error_body(
        ApiSurface::OpenaiChat,
        clearance_wire::error::ErrorKind::InvalidRequest,
        &message,
        Some("method_not_allowed"),
    );
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
