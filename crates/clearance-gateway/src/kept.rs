//! OpenAI Responses answers the gateway keeps, so that a conversation goes on across requests
//! whichever provider serves each turn.
//!
//! As at OpenAI, an answer is kept unless the request says `store: false`, for
//! `responses.keep_days` (30 by default; 0 keeps nothing and refuses `store: true` and
//! `previous_response_id`). A request with `previous_response_id` is sent on as the whole
//! conversation (every earlier turn's input and output items, oldest first, then its own), so
//! failover and translation work on a continued conversation as on any other, and the
//! directives judge it like any other request. What is kept is the caller's own: the key that
//! made it, or for a token caller the principal; anyone else's id reads as not found. It is
//! held apart from the audit log (whose records never hold what was said) and goes when it
//! expires or its caller deletes it.
//!
//! An answer is kept before the client sees it end (a whole answer before it is sent, a stream
//! before its `response.completed` event), so the client can continue it at once. If the
//! store fails then, the answer is still served, the failure is logged and counted
//! (`clearance_responses_unkept`), and a continuation of it is not found.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_store::{KeptResponse, StoreError};
use clearance_wire::error::ErrorKind;
use clearance_wire::sse::SseFramer;
use clearance_wire::translate::responses::kept::{continue_from, input_items, output_items};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

const SURFACE: ApiSurface = ApiSurface::OpenaiResponses;

/// The id the gateway gives the answer to request `request_id` (a UUID): its own, so that it
/// is unique across providers and names the request's audit records too.
pub(crate) fn response_id(request_id: &str) -> String {
    format!("resp_{}", request_id.replace('-', ""))
}

/// Whose kept responses a caller's are.
fn owner(caller: &Caller) -> String {
    caller.in_flight_key()
}

/// What keeping a request's answer needs, settled before the request is read.
pub(crate) struct Keep {
    id: String,
    owner: String,
    previous: Option<String>,
    /// This turn's input items (JSON text).
    input: String,
    keep_for: Duration,
}

impl Keep {
    /// Keeps the answer (`response`, the object the client gets); a failure is logged and
    /// counted, never the client's.
    pub(crate) async fn save(self, state: &AppState, response: &Value) {
        let now = Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(self.keep_for).unwrap_or(chrono::Duration::MAX / 2);
        let kept = KeptResponse {
            id: self.id,
            owner: self.owner,
            previous: self.previous,
            created_at: now,
            expires_at,
            input: self.input,
            response: response.to_string(),
        };
        if let Err(error) = state.store.put_response(&kept).await {
            state.metrics.responses_unkept.inc();
            tracing::error!(
                response = %kept.id,
                %error,
                "a Responses answer was served but could not be kept; continuing it will fail"
            );
        }
    }

    /// Keeps an answer as read from the bytes the client gets (a whole answer, or a stream's
    /// last event); one that does not read is counted as not kept.
    pub(crate) async fn save_read(
        self,
        state: &AppState,
        response: Result<Value, serde_json::Error>,
    ) {
        match response {
            Ok(response) => self.save(state, &response).await,
            Err(error) => {
                state.metrics.responses_unkept.inc();
                tracing::error!(%error, "a Responses answer to keep does not read as JSON");
            }
        }
    }
}

/// Reads `store` and `previous_response_id` from a Responses request body: the body to read
/// on (the whole conversation when it continues a kept response) and, when its answer is to
/// be kept, how. A body that is not a JSON object is left for the request's reading to refuse.
pub(crate) async fn prepare(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    body: Bytes,
) -> Result<(Bytes, Option<Keep>), ApiError> {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body) else {
        return Ok((body, None));
    };
    let store = asks_to_store(&fields)?;
    let previous = previous_id(&fields)?;
    let Some(keep_for) = state.config.responses.keep_for else {
        return refuse_when_keeping_nothing(store, previous.as_deref()).map(|()| (body, None));
    };
    let owner = owner(caller);
    let input = input_items(&fields).map(|items| Value::Array(items).to_string());
    let body = match &previous {
        Some(id) => {
            let earlier = conversation(state, &owner, id).await?;
            continue_from(&mut fields, earlier);
            Bytes::from(Value::Object(fields).to_string())
        }
        None => body,
    };
    let keep = match (store != Some(false), input) {
        (true, Some(input)) => Some(Keep {
            id: response_id(request_id),
            owner,
            previous,
            input,
            keep_for,
        }),
        _ => None,
    };
    Ok((body, keep))
}

/// `store` as the request gives it (absent or `null`: `None`, which keeps, as at OpenAI).
fn asks_to_store(fields: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match fields.get("store") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(store)) => Ok(Some(*store)),
        Some(_) => Err(invalid("store", "`store` must be true or false")),
    }
}

fn previous_id(fields: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match fields.get("previous_response_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.is_empty() => Ok(Some(id.clone())),
        Some(_) => Err(invalid(
            "previous_response_id",
            "`previous_response_id` must be the id of an earlier response (`resp_...`)",
        )),
    }
}

/// With `responses.keep_days = 0` nothing is kept: asking for it is refused, not ignored (the
/// client would count on an answer it can never continue).
fn refuse_when_keeping_nothing(
    store: Option<bool>,
    previous: Option<&str>,
) -> Result<(), ApiError> {
    if previous.is_some() {
        return Err(invalid(
            "previous_response_id",
            "`previous_response_id`: this gateway keeps no responses (its operator set \
             `responses.keep_days = 0`); send the whole conversation in `input` instead",
        ));
    }
    if store == Some(true) {
        return Err(invalid(
            "store",
            "`store: true`: this gateway keeps no responses (its operator set \
             `responses.keep_days = 0`); send `store: false`, or leave it out",
        ));
    }
    Ok(())
}

/// Every earlier turn's items of the conversation that ends at `owner`'s response `id`,
/// oldest first.
async fn conversation(state: &AppState, owner: &str, id: &str) -> Result<Vec<Value>, ApiError> {
    let max = state.config.responses.max_chain;
    let chain = state
        .store
        .response_chain(owner, id, Utc::now(), max)
        .await
        .map_err(unreadable)?;
    let Some(first) = chain.first() else {
        return Err(invalid(
            "previous_response_id",
            format!("Previous response with id '{id}' not found."),
        )
        .with_code("previous_response_not_found"));
    };
    if let Some(gone) = &first.previous {
        let why = if chain.len() >= max {
            format!(
                "the conversation that ends at '{id}' is longer than this gateway keeps going \
                 ({max} responses, `responses.max_chain`); start a new one with the whole \
                 conversation in `input`"
            )
        } else {
            format!(
                "the conversation that ends at '{id}' continues '{gone}', which is no longer \
                 kept (deleted, or older than this gateway keeps responses); send the whole \
                 conversation in `input` instead"
            )
        };
        return Err(invalid("previous_response_id", why).with_code("previous_response_not_found"));
    }
    let mut items = Vec::new();
    for kept in &chain {
        let input: Value = serde_json::from_str(&kept.input).map_err(|e| corrupt(&kept.id, e))?;
        let response: Value =
            serde_json::from_str(&kept.response).map_err(|e| corrupt(&kept.id, e))?;
        items.extend(input.as_array().cloned().unwrap_or_default());
        items.extend(output_items(&response));
    }
    Ok(items)
}

fn invalid(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        SURFACE,
        StatusCode::BAD_REQUEST,
        ErrorKind::InvalidRequest,
        "invalid_request",
        message,
    )
    .with_param(param)
}

fn unreadable(error: StoreError) -> ApiError {
    tracing::error!(%error, "kept responses could not be read");
    ApiError::new(
        SURFACE,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Overloaded,
        "store_unavailable",
        "the gateway's store could not be read to find the earlier response; retry shortly",
    )
    .with_code("store_unavailable")
    .with_retry_after(1)
}

fn corrupt(id: &str, error: serde_json::Error) -> ApiError {
    unreadable(StoreError::Corrupt {
        what: "kept response",
        detail: format!("{id}: {error}"),
    })
}

/// Watches a Responses stream on its way to the client and keeps its answer when its last
/// event (`response.completed` or `response.incomplete`) goes by, before that event is sent.
pub(crate) struct StreamKeeper {
    keep: Option<Keep>,
    framer: SseFramer,
    state: AppState,
}

impl StreamKeeper {
    pub(crate) fn new(keep: Keep, state: AppState) -> StreamKeeper {
        StreamKeeper {
            keep: Some(keep),
            framer: SseFramer::default(),
            state,
        }
    }

    /// Reads the client bytes about to be sent; keeps the answer when they end it.
    pub(crate) async fn observe(&mut self, client_bytes: &[u8]) {
        if self.keep.is_none() {
            return;
        }
        for frame in self.framer.push(client_bytes) {
            // The gateway's encoder names every event, so only the last one is read.
            let last = matches!(
                frame.event.as_deref(),
                Some("response.completed" | "response.incomplete")
            );
            if !last {
                continue;
            }
            let Some(keep) = self.keep.take() else {
                return;
            };
            let response = serde_json::from_str::<Value>(&frame.data).map(|mut event| {
                event
                    .get_mut("response")
                    .map(Value::take)
                    .unwrap_or_default()
            });
            keep.save_read(&self.state, response).await;
            return;
        }
    }
}

/// `GET` and `DELETE` `/v1/responses/{id}`, and the routes under it: a caller reads back or
/// deletes a response the gateway kept for it. Its conversation's input items are not listed
/// and nothing runs in the background to cancel.
pub(crate) async fn route(
    state: &AppState,
    method: &http::Method,
    headers: &http::HeaderMap,
    rest: &str,
) -> Response {
    match route_inner(state, method, headers, rest).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route_inner(
    state: &AppState,
    method: &http::Method,
    headers: &http::HeaderMap,
    rest: &str,
) -> Result<Response, ApiError> {
    let caller = crate::auth::authenticate(state, headers, SURFACE).await?;
    let owner = owner(&caller);
    let (id, under) = match rest.split_once('/') {
        Some((id, under)) => (id, Some(under)),
        None => (rest, None),
    };
    let not_found = || {
        ApiError::new(
            SURFACE,
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "response_not_found",
            format!("No response found with id '{id}'."),
        )
        .with_code("response_not_found")
    };
    match (method.as_str(), under) {
        ("GET", None) => {
            let chain = state
                .store
                .response_chain(&owner, id, Utc::now(), 1)
                .await
                .map_err(unreadable)?;
            let kept = chain.into_iter().next_back().ok_or_else(not_found)?;
            let response: Value =
                serde_json::from_str(&kept.response).map_err(|e| corrupt(&kept.id, e))?;
            Ok(axum::Json(response).into_response())
        }
        ("DELETE", None) => {
            let deleted = state
                .store
                .delete_response(&owner, id)
                .await
                .map_err(unreadable)?;
            if !deleted {
                return Err(not_found());
            }
            let body = json!({"id": id, "object": "response.deleted", "deleted": true});
            Ok(axum::Json(body).into_response())
        }
        (_, Some(under)) => Err(ApiError::new(
            SURFACE,
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "response_not_found",
            format!(
                "`/v1/responses/{id}/{under}` is not served: this gateway keeps a response and \
                 its conversation for `previous_response_id` and `GET`/`DELETE`, but lists no \
                 input items and runs nothing in the background to cancel"
            ),
        )
        .with_code("not_found")),
        _ => Err(ApiError::new(
            SURFACE,
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::InvalidRequest,
            "method_not_allowed",
            format!("`{method} /v1/responses/{id}`: use GET or DELETE"),
        )),
    }
}
