//! Amazon Bedrock's runtime API, as `bedrock-runtime.REGION.amazonaws.com` serves it:
//!
//! - `POST /model/MODEL/converse` and `/converse-stream`: the Converse API ([`converse`]), for
//!   any model id;
//! - `POST /model/MODEL/invoke` and `/invoke-with-response-stream`: `InvokeModel` with
//!   Anthropic Messages bodies, for Anthropic model ids ([`invoke`]);
//! - `POST /model/MODEL/invoke` for embedding models (`amazon.titan-embed-*`, `cohere.embed-*`)
//!   and `POST /model/MODEL/count-tokens` (`CountTokens`): answered by [`crate::embeddings`] and
//!   [`crate::count_tokens`] once the signature is checked;
//! - `GET /foundation-models`: the control plane's model list (`ListFoundationModels`), for
//!   health probes.
//!
//! Model ids come percent-encoded in the path (`anthropic.claude-3-5-sonnet-20240620-v1%3A0`,
//! inference profiles `us.anthropic...`, ARNs with `%2F`); behaviors are keyed by the decoded
//! id. Streams are Amazon event-stream messages ([`eventstream`]), `content-type:
//! application/vnd.amazon.eventstream`. Errors are Bedrock's ([`errors`]): a status, the
//! exception in `x-amzn-errortype`, `{"message": ...}`; an error after a stream began is an
//! exception message (a behavior with `status` and `drop_after_events`). With an
//! [`AwsSigningKey`] set, every request must carry a valid AWS Signature Version 4 for the
//! service `bedrock` ([`sigv4`]); without one, any request is accepted.

mod converse;
mod errors;
mod eventstream;
mod invoke;
mod sigv4;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, insert_request_id};
use crate::faults;
use crate::prompt::Prompt;
use crate::query;
use crate::reply::Answer;
use crate::sse::stream_response;
use crate::state::FakeState;

use self::errors::BedrockError;
pub use self::sigv4::AwsSigningKey;

/// `POST`: `MODEL/converse`, `MODEL/converse-stream`, `MODEL/invoke`,
/// `MODEL/invoke-with-response-stream`.
pub(crate) const MODEL_CALL_ROUTE: &str = "/model/{*rest}";
/// `GET`: `ListFoundationModels`.
pub(crate) const FOUNDATION_MODELS_PATH: &str = "/foundation-models";
/// The content type of Bedrock's streamed answers.
pub(crate) const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

const MALFORMED_JSON: &str = "Malformed input request, please reformat your input and try again.";

/// A fixed creation time keeps the list deterministic.
const CREATED_RFC3339: &str = "2025-01-01T00:00:00Z";

/// The runtime operations, by their path's last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
}

impl Operation {
    fn parse(segment: &str) -> Option<Operation> {
        Some(match segment {
            "converse" => Operation::Converse,
            "converse-stream" => Operation::ConverseStream,
            "invoke" => Operation::Invoke,
            "invoke-with-response-stream" => Operation::InvokeStream,
            "count-tokens" => Operation::CountTokens,
            _ => return None,
        })
    }

    fn streams(self) -> bool {
        matches!(self, Operation::ConverseStream | Operation::InvokeStream)
    }
}

/// Splits `/model/MODEL/OPERATION` into the percent-decoded model id and the operation, at the
/// last `/` (an ARN sent unencoded holds `/`s, an operation does not). `None` for other paths.
pub(crate) fn model_and_operation(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, operation) = rest.rsplit_once('/')?;
    (!model.is_empty() && !operation.is_empty()).then(|| (query::decode_segment(model), operation))
}

/// Whether `path` is one Bedrock serves (for the 404 of unknown paths).
pub(crate) fn serves(path: &str) -> bool {
    path.starts_with("/model/") || path == FOUNDATION_MODELS_PATH
}

/// Anthropic's models: `anthropic.claude-...`, inference profiles `us.anthropic.claude-...`,
/// and ARNs ending in either.
pub(crate) fn is_anthropic(model_id: &str) -> bool {
    let name = model_id.rsplit('/').next().unwrap_or(model_id);
    name.split('.').take(2).any(|part| part == "anthropic")
}

/// What AWS answers a path no operation has.
pub(crate) fn unknown_operation() -> Response {
    BedrockError::new(404, "UnknownOperationException", "Unknown operation").into_response(None)
}

/// The error a [`Behavior`] asks for on `model_id`, as a whole answer.
pub(crate) fn behavior_error(status: u16, behavior: &Behavior, model_id: &str) -> Response {
    errors::behavior_error(status, behavior, model_id).into_response(behavior.retry_after_s)
}

pub(crate) async fn model_call(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let json = serde_json::from_slice::<Value>(&body).ok();
    state.record(&uri, &headers, &body, json.as_ref());
    let Some((model_id, operation)) = model_and_operation(uri.path()) else {
        return unknown_operation();
    };
    let Some(operation) = Operation::parse(operation) else {
        return unknown_operation();
    };
    let behavior = state.behavior_for(Some(&model_id));
    if behavior.refuse_connection {
        return refuse(killer.map(|Extension(k)| k)).await;
    }
    behavior.wait_before_answer().await;
    if let Some(rejection) = reject_signature(&state, &method, &uri, &headers, &body) {
        return rejection;
    }
    let Some(json) = json else {
        return BedrockError::validation(MALFORMED_JSON).into_response(None);
    };
    let other = match operation {
        Operation::Invoke if crate::embeddings::is_bedrock_embed_model(&model_id) => {
            Some(crate::embeddings::bedrock(&model_id, &json))
        }
        Operation::CountTokens => Some(crate::count_tokens::bedrock(&model_id, &json)),
        _ => None,
    };
    if let Some(answered) = other {
        let response = match answered {
            Ok(response) => response,
            Err(message) => return BedrockError::validation(message).into_response(None),
        };
        state.note_model(&model_id);
        if let Some(status) = behavior.error_status() {
            return behavior_error(status, &behavior, &model_id);
        }
        let response = faults::replacement(&behavior, Api::Bedrock, false).unwrap_or(response);
        return faults::paced(response, &behavior);
    }
    let read = match operation {
        Operation::Converse | Operation::ConverseStream => {
            converse::prompt(&model_id, &json, operation.streams())
        }
        Operation::Invoke | Operation::InvokeStream | Operation::CountTokens => {
            invoke_prompt(&model_id, &json, operation.streams())
        }
    };
    let prompt = match read {
        Ok(prompt) => prompt,
        Err(error) => return error.into_response(None),
    };
    state.note_model(&model_id);
    let stream_error = match behavior.error_status() {
        Some(status) if operation.streams() && behavior.drop_after_events.is_some() => {
            Some(errors::behavior_error(status, &behavior, &model_id))
        }
        Some(status) => return behavior_error(status, &behavior, &model_id),
        None => None,
    };
    if operation.streams() && behavior.garbage_body {
        return faults::paced(garbage_stream(), &behavior);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Bedrock, operation.streams()) {
        return faults::paced(broken, &behavior);
    }
    let answer = Answer::for_prompt(&prompt, &faults::with_huge_reply(&behavior));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let response = match operation {
        Operation::Converse => {
            let body = converse::Conversation::new(latency_ms).body(&prompt, &answer);
            let mut response = Json(body).into_response();
            insert_request_id(response.headers_mut(), Api::Bedrock);
            response
        }
        Operation::ConverseStream => {
            let events = converse::Conversation::new(latency_ms).events(&prompt, &answer);
            event_stream(events, &behavior, stream_error)
        }
        // CountTokens was answered above.
        Operation::Invoke | Operation::CountTokens => {
            invoke::body_response(&prompt, &answer, latency_ms)
        }
        Operation::InvokeStream => {
            let events = invoke::events(&prompt, &answer, latency_ms);
            let mut response = event_stream(events, &behavior, stream_error);
            response.headers_mut().insert(
                HeaderName::from_static("x-amzn-bedrock-content-type"),
                HeaderValue::from_static("application/json"),
            );
            response
        }
    };
    faults::paced(response, &behavior)
}

/// `GET /foundation-models`: the models the fake has seen, as `ListFoundationModels` lists
/// them. Follows the default behavior without using up its `fail_times`.
pub(crate) async fn list_foundation_models(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let behavior = state.default_behavior();
    if behavior.refuse_connection {
        return refuse(killer.map(|Extension(k)| k)).await;
    }
    behavior.wait_before_answer().await;
    if let Some(rejection) = reject_signature(&state, &method, &uri, &headers, b"") {
        return rejection;
    }
    if let Some(status) = behavior.error_status() {
        return behavior_error(status, &behavior, "");
    }
    let summaries: Vec<Value> = state
        .known_models()
        .iter()
        .map(|id| {
            let provider = id.split('.').find(|part| part.len() > 2).unwrap_or(id);
            json!({
                "modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{id}"),
                "modelId": id,
                "modelName": id,
                "providerName": provider,
                "inputModalities": ["TEXT", "IMAGE"],
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": true,
                "customizationsSupported": [],
                "inferenceTypesSupported": ["ON_DEMAND"],
                "modelLifecycle": {"status": "ACTIVE", "startOfLifeTime": CREATED_RFC3339},
            })
        })
        .collect();
    let mut response = Json(json!({ "modelSummaries": summaries })).into_response();
    insert_request_id(response.headers_mut(), Api::Bedrock);
    response
}

/// AWS's refusal when a signing key is set and the request is not signed with it.
fn reject_signature(
    state: &FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let key = state.aws_key()?;
    sigv4::verify(&key, method, uri, headers, body, SystemTime::now())
        .err()
        .map(|error| error.into_response(None))
}

/// An `InvokeModel` body: an Anthropic Messages request, for Anthropic models only.
fn invoke_prompt(model_id: &str, body: &Value, stream: bool) -> Result<Prompt, BedrockError> {
    if !is_anthropic(model_id) {
        return Err(BedrockError::validation(format!(
            "clearance-fake answers InvokeModel only for Anthropic models (anthropic.*, us.anthropic.*, ...), whose bodies are Anthropic Messages requests; {model_id} is not one. Use Converse for it."
        )));
    }
    Prompt::from_bedrock_anthropic(model_id, body, stream)
        .map_err(|invalid| BedrockError::validation(invalid.message))
}

/// A stream of event-stream messages paced as `behavior` says; with `error`, the first
/// `drop_after_events` messages and then the error as an exception message, which ends it.
fn event_stream(
    mut events: Vec<Bytes>,
    behavior: &Behavior,
    error: Option<BedrockError>,
) -> Response {
    let mut pacing = behavior.clone();
    if let Some(error) = error {
        events.truncate(behavior.drop_after_events.unwrap_or(0));
        let payload = error.body().to_string();
        events.push(eventstream::encode_exception(
            &error.stream_exception_type(),
            payload.as_bytes(),
        ));
        pacing.drop_after_events = None;
    }
    with_event_stream_type(stream_response(events, &pacing, Api::Bedrock))
}

/// What `garbage_body` streams: a good `messageStart`, then a message whose CRC is wrong.
fn garbage_stream() -> Response {
    let events = vec![
        eventstream::converse_event("messageStart", json!({"role": "assistant"})),
        eventstream::corrupted_event("messageStop", br#"{"stopReason":"end_turn"}"#),
    ];
    with_event_stream_type(stream_response(events, &Behavior::default(), Api::Bedrock))
}

fn with_event_stream_type(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_model_and_operation() {
        assert_eq!(
            model_and_operation("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            Some((
                "anthropic.claude-3-5-sonnet-20240620-v1:0".to_owned(),
                "converse"
            ))
        );
        assert_eq!(
            model_and_operation(
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.anthropic.x/invoke"
            ),
            Some((
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.x".to_owned(),
                "invoke"
            ))
        );
        for odd in [
            "/model/",
            "/model/x",
            "/model//converse",
            "/model/x/",
            "/v1/messages",
        ] {
            assert_eq!(model_and_operation(odd), None, "{odd}");
        }
    }

    #[test]
    fn knows_anthropic_models() {
        for id in [
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws:bedrock:eu-central-1:1:inference-profile/eu.anthropic.claude-3-haiku",
        ] {
            assert!(is_anthropic(id), "{id}");
        }
        for id in [
            "amazon.nova-pro-v1:0",
            "meta.llama3-70b",
            "mistral.anthropic-ish.x.anthropic",
        ] {
            assert!(!is_anthropic(id), "{id}");
        }
    }
}
