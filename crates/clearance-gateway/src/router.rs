//! Routes, and which credential each sits behind.
//!
//! - Outside authentication: `GET /healthz`, `GET /readyz`, `GET /metrics` (operators scrape
//!   these; they show no caller data).
//! - Behind a client key (checked in the handlers, so the error has the right API shape):
//!   `POST /v1/chat/completions` (OpenAI Chat Completions), `POST /v1/messages` (Anthropic
//!   Messages), `POST /v1/responses` (OpenAI Responses), `POST
//!   /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (Gemini; also under
//!   `/v1/models/`), `GET /v1/models` and `GET /v1beta/models`.
//! - Behind a client key too: `GET` and `DELETE` `/v1/responses/{id}`, a response the gateway
//!   kept for that caller (see [`crate::kept`]).
//! - Behind the admin token (a separate credential; see [`crate::admin`]): `/admin/...`.
//! - Behind the SCIM token (its own credential; see [`crate::scim`]): `/scim/v2/...`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use bytes::Bytes;
use clearance_config::Model;
use clearance_core::api::ApiSurface;
use clearance_policy::Outcome;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use crate::access;
use crate::admin;
use crate::audit_http;
use crate::auth::{GOOG_API_KEY, authenticate};
use crate::limits;
use crate::proxy;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    Router::new()
        .route(
            "/v1/chat/completions",
            client_surface(ApiSurface::OpenaiChat),
        )
        .route(
            "/v1/messages",
            client_surface(ApiSurface::AnthropicMessages),
        )
        .route(
            "/v1/messages/count_tokens",
            client_surface(ApiSurface::AnthropicCountTokens),
        )
        .route(
            "/v1/embeddings",
            client_surface(ApiSurface::OpenaiEmbeddings),
        )
        .route("/v1/responses", client_surface(ApiSurface::OpenaiResponses))
        .route("/v1/responses/{*rest}", any(kept_response))
        .route("/v1/models", get(models))
        .route("/v1/models/{*rest}", post(gemini))
        .route("/v1beta/models", get(gemini_models))
        .route("/v1beta/{*rest}", post(gemini))
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

/// `POST` for a client surface whose request names everything in its body (model, stream):
/// the body read under the size limit, then the request path for `surface`.
fn client_surface(surface: ApiSurface) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              headers: HeaderMap,
              body: Body| async move {
            let body = read_body(&state, body).await;
            proxy::handle(state, surface, peer, headers, body).await
        },
    )
}

/// `GET`, `DELETE` `/v1/responses/{id}` and the routes under it: see [`crate::kept`].
async fn kept_response(
    State(state): State<AppState>,
    method: http::Method,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    crate::kept::route(&state, &method, &headers, &rest).await
}

/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (the `models/`
/// segment optional; also under `/v1/models/`). The model and the method come from the path;
/// the key from `x-goog-api-key`, `Authorization: Bearer`, or the `key` query parameter,
/// which is moved into the `x-goog-api-key` header here and so never read from, or kept with,
/// the URL. A stream is server-sent events with `alt=sse`, else Google's JSON array.
async fn gemini(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    mut headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((model, method)) = rest.rsplit_once(':') else {
        return gemini_error(
            StatusCode::NOT_FOUND,
            clearance_wire::error::ErrorKind::NotFound,
            format!(
                "no route for `{rest}`: Gemini requests go to POST \
                 /v1beta/models/{{model}}:generateContent or :streamGenerateContent"
            ),
        );
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        other => {
            return gemini_error(
                StatusCode::NOT_FOUND,
                clearance_wire::error::ErrorKind::NotFound,
                format!(
                    "method `{other}` is not served by this gateway: only generateContent and \
                     streamGenerateContent are"
                ),
            );
        }
    };
    let mut key = None;
    let mut sse = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (&*name, &*value) {
            ("key", _) => key = Some(value.into_owned()),
            ("alt" | "$alt", "sse") => sse = true,
            ("alt" | "$alt", "json") => sse = false,
            ("alt" | "$alt", other) => {
                return gemini_error(
                    StatusCode::BAD_REQUEST,
                    clearance_wire::error::ErrorKind::InvalidRequest,
                    format!(
                        "`alt={other}` is not supported: answers are JSON, and streams are \
                         server-sent events with `alt=sse` or one JSON array without it"
                    ),
                );
            }
            _ => {}
        }
    }
    let has_credential = [header::AUTHORIZATION.as_str(), "x-api-key", GOOG_API_KEY]
        .iter()
        .any(|name| headers.contains_key(*name));
    if !has_credential && let Some(value) = key.and_then(|k| HeaderValue::from_str(&k).ok()) {
        headers.insert(GOOG_API_KEY, value);
    }
    let path = proxy::GeminiPath {
        model: model.to_string(),
        stream,
        sse,
    };
    let body = read_body(&state, body).await;
    proxy::handle_gemini(state, path, peer, headers, body).await
}

/// An error in Google's shape, for a Gemini request refused before the request path.
fn gemini_error(
    status: StatusCode,
    kind: clearance_wire::error::ErrorKind,
    message: String,
) -> Response {
    let body = clearance_wire::error::error_body_with_status(
        ApiSurface::Gemini,
        status.as_u16(),
        kind,
        &message,
        None,
    );
    (status, axum::Json(body)).into_response()
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
    list_models(state, peer, headers, surface).await
}

/// `GET /v1beta/models`: the same list in Gemini's shape (the key also in `?key=`).
async fn gemini_models(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    mut headers: HeaderMap,
) -> Response {
    let key = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned());
    if !headers.contains_key(GOOG_API_KEY)
        && let Some(value) = key.and_then(|k| HeaderValue::from_str(&k).ok())
    {
        headers.insert(GOOG_API_KEY, value);
    }
    list_models(state, peer, headers, ApiSurface::Gemini).await
}

async fn list_models(
    state: AppState,
    peer: SocketAddr,
    headers: HeaderMap,
    surface: ApiSurface,
) -> Response {
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
        ApiSurface::OpenaiChat | ApiSurface::OpenaiResponses | ApiSurface::OpenaiEmbeddings => {
            json!({
                "object": "list",
                "data": listed.iter().map(|(m, reroute)| {
                    let mut entry = json!({ "id": m.name, "object": "model", "created": 0, "owned_by": m.provider });
                    annotate(&mut entry, reroute);
                    entry
                }).collect::<Vec<_>>()
            })
        }
        ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => json!({
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
        ApiSurface::Gemini => json!({
            "models": listed.iter().map(|(m, reroute)| {
                let mut entry = json!({
                    "name": format!("models/{}", m.name),
                    "displayName": m.name,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                });
                annotate(&mut entry, reroute);
                entry
            }).collect::<Vec<_>>()
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
        "no route {}; model requests go to POST /v1/chat/completions, POST /v1/messages, \
         POST /v1/responses or POST /v1beta/models/{{model}}:generateContent",
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
