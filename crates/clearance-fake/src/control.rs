//! The control plane under `/_fake/`, so shell scripts and Python tests can drive the standalone
//! binary the way Rust tests drive [`crate::FakeServer`] in-process.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::behavior::Behavior;
use crate::state::FakeState;

/// `GET /_fake/behavior`: the default and per-model behaviors in force.
pub(crate) async fn get_behaviors(State(state): State<Arc<FakeState>>) -> Response {
    Json(state.behaviors()).into_response()
}

/// `PUT /_fake/behavior`: sets the default behavior (an empty body means "answer normally").
pub(crate) async fn put_default(State(state): State<Arc<FakeState>>, body: Bytes) -> Response {
    match parse_behavior(&body) {
        Ok(behavior) => {
            state.set_behavior(None, behavior);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(reason) => bad_request(&reason),
    }
}

/// `PUT /_fake/behavior/{model}`: sets one model's behavior (model ids may contain `/`).
pub(crate) async fn put_model(
    State(state): State<Arc<FakeState>>,
    Path(model): Path<String>,
    body: Bytes,
) -> Response {
    match parse_behavior(&body) {
        Ok(behavior) => {
            state.set_behavior(Some(&model), behavior);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(reason) => bad_request(&reason),
    }
}

/// `DELETE /_fake/behavior/{model}`: the model goes back to the default behavior.
pub(crate) async fn delete_model(
    State(state): State<Arc<FakeState>>,
    Path(model): Path<String>,
) -> StatusCode {
    state.remove_behavior(&model);
    StatusCode::NO_CONTENT
}

/// `DELETE /_fake/behavior`: every model answers normally again.
pub(crate) async fn reset_behaviors(State(state): State<Arc<FakeState>>) -> StatusCode {
    state.clear_behaviors();
    StatusCode::NO_CONTENT
}

/// `GET /_fake/requests`: the model calls received, oldest first.
pub(crate) async fn list_requests(State(state): State<Arc<FakeState>>) -> Response {
    Json(state.requests()).into_response()
}

/// `DELETE /_fake/requests`: forgets the model calls received.
pub(crate) async fn clear_requests(State(state): State<Arc<FakeState>>) -> StatusCode {
    state.clear_requests();
    StatusCode::NO_CONTENT
}

/// The behavior in a control request body, or why it is not one.
fn parse_behavior(body: &[u8]) -> Result<Behavior, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Behavior::default());
    }
    let behavior: Behavior = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if let Some(status) = behavior.status.filter(|s| !(100..=999).contains(s)) {
        return Err(format!("status {status} is not an HTTP status code"));
    }
    if behavior
        .tool_call
        .as_ref()
        .is_some_and(|call| call.name.is_empty())
    {
        return Err("tool_call.name must not be empty".to_owned());
    }
    if let Some(kind) = &behavior.error_type {
        let name_like = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric());
        if !name_like {
            return Err(format!(
                "error_type {kind:?} is not an exception name (letters and digits, e.g. ModelNotReadyException)"
            ));
        }
    }
    Ok(behavior)
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
