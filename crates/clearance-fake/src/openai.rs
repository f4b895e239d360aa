//! `POST /v1/chat/completions` in OpenAI's Chat Completions wire format: a `chat.completion`
//! object, or `chat.completion.chunk` server-sent events ending in `data: [DONE]`. The answer is
//! text or one `function` tool call.
//!
//! The same code serves Azure OpenAI's deployments ([`Service::Azure`], routed by
//! [`crate::azure`]): the deployment is the model, the key and the `api-version` are checked
//! Azure's way, some errors take Azure's shape, and answers carry Azure's content-filter
//! results (a stream opens with a chunk that has no choices, only `prompt_filter_results`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::{KeyCheck, check_bearer, mask_key};
use crate::azure;
use crate::behavior::Behavior;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, OpenAiError, behavior_error, insert_request_id};
use crate::faults;
use crate::prompt::Prompt;
use crate::reply::{Answer, Stop, ToolCallAnswer};
use crate::sse::{data_event, done_event, sse_response};
use crate::state::FakeState;

pub(crate) const PATH: &str = "/v1/chat/completions";

/// Marks answers as the fake's; real values look like `fp_44709d6fcb`.
const SYSTEM_FINGERPRINT: &str = "fp_clearance_fake";

const MALFORMED_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

/// Who serves Chat Completions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Service<'a> {
    /// OpenAI itself: the body names the model, the key is a bearer token.
    OpenAi,
    /// An Azure OpenAI deployment (percent-decoded from the path), which names the model.
    Azure { deployment: &'a str },
}

impl Service<'_> {
    fn api(self) -> Api {
        match self {
            Service::OpenAi => Api::OpenAi,
            Service::Azure { .. } => Api::Azure,
        }
    }
}

pub(crate) async fn chat_completions(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let killer = killer.map(|Extension(k)| k);
    serve(&state, killer, &uri, &headers, &body, Service::OpenAi).await
}

/// One Chat Completions call, for OpenAI or an Azure deployment: record it, apply the behavior,
/// check the credential (and Azure's `api-version`), read the body, answer.
pub(crate) async fn serve(
    state: &FakeState,
    killer: Option<ConnectionKiller>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    service: Service<'_>,
) -> Response {
    let json = serde_json::from_slice::<Value>(body).ok();
    state.record(uri, headers, body, json.as_ref());
    let model = match service {
        Service::OpenAi => json
            .as_ref()
            .and_then(|j| j.get("model"))
            .and_then(Value::as_str),
        Service::Azure { deployment } => Some(deployment),
    };
    let behavior = state.behavior_for(model);
    if behavior.refuse_connection {
        return refuse(killer).await;
    }
    behavior.wait_before_answer().await;
    let required = state.required_key();
    let rejection = match service {
        Service::OpenAi => reject_credential(headers, required.as_deref()),
        Service::Azure { .. } => azure::reject_credential(headers, required.as_deref())
            .or_else(|| azure::reject_api_version(uri.query())),
    };
    if let Some(rejection) = rejection {
        return rejection;
    }
    let Some(json) = json else {
        let error = OpenAiError::invalid_request(MALFORMED_JSON);
        return crate::errors::error_response(error.status, error.body(), service.api(), None);
    };
    let read = match service {
        Service::OpenAi => Prompt::from_openai(&json),
        Service::Azure { deployment } => Prompt::from_azure(deployment, &json),
    };
    let prompt = match read {
        Ok(prompt) => prompt,
        Err(invalid) => return invalid_request(invalid, service.api()),
    };
    state.note_model(&prompt.model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(service.api(), status, &behavior, &prompt.model);
    }
    if let Some(broken) = faults::replacement(&behavior, service.api(), prompt.stream) {
        return faults::paced(broken, &behavior);
    }
    let answered = answer(&prompt, &faults::with_huge_reply(&behavior), service);
    faults::paced(answered, &behavior)
}

/// The 401 OpenAI sends for a missing or wrong bearer token, if the request has one.
pub(crate) fn reject_credential(headers: &HeaderMap, required: Option<&str>) -> Option<Response> {
    let (message, code) = match check_bearer(headers, required) {
        KeyCheck::Accepted => return None,
        KeyCheck::Missing => (
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned(),
            None,
        ),
        KeyCheck::Wrong(key) => (
            format!("Incorrect API key provided: {}.", mask_key(&key)),
            Some("invalid_api_key"),
        ),
    };
    let error = OpenAiError {
        status: 401,
        message,
        kind: "invalid_request_error",
        param: None,
        code,
    };
    Some(error.into_response(None))
}

/// A body the API refuses, in OpenAI's error shape (which Azure passes on for bodies too).
fn invalid_request(invalid: crate::prompt::InvalidRequest, api: Api) -> Response {
    let mut error = OpenAiError::invalid_request(invalid.message);
    error.param = invalid.param;
    error.code = invalid.code;
    crate::errors::error_response(error.status, error.body(), api, None)
}

fn answer(prompt: &Prompt, behavior: &Behavior, service: Service<'_>) -> Response {
    let answer = Answer::for_prompt(prompt, behavior);
    let completion = Completion::new(&prompt.model, matches!(service, Service::Azure { .. }));
    if prompt.stream {
        return sse_response(completion.events(prompt, &answer), behavior, service.api());
    }
    let mut response = Json(completion.body(prompt, &answer)).into_response();
    insert_request_id(response.headers_mut(), service.api());
    response
}

/// What every object of one completion shares.
struct Completion {
    id: String,
    created: i64,
    model: String,
    /// The id of the tool call, if the answer is one.
    call_id: String,
    /// Azure OpenAI: add the content-filter results Azure's filters attach.
    azure: bool,
}

impl Completion {
    fn new(model: &str, azure: bool) -> Completion {
        Completion {
            id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
            created: chrono::Utc::now().timestamp(),
            model: model.to_owned(),
            call_id: format!("call_{}", uuid::Uuid::now_v7().simple()),
            azure,
        }
    }

    /// The non-streaming `chat.completion` object.
    fn body(&self, prompt: &Prompt, answer: &Answer) -> Value {
        let message = match answer {
            Answer::Text(text) => json!({
                "role": "assistant",
                "content": text.text(),
                "refusal": null,
                "annotations": [],
            }),
            Answer::ToolCall(call) => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": self.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }],
                "refusal": null,
                "annotations": [],
            }),
        };
        let mut body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": finish_reason(answer),
            }],
            "usage": usage(prompt, answer),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        });
        if self.azure {
            body["choices"][0]["content_filter_results"] = azure::completion_filter_results();
            body["prompt_filter_results"] = azure::prompt_filter_results();
        }
        body
    }

    /// The streamed events: role chunk, one chunk per text piece (or per fragment of the tool
    /// call's arguments), finish chunk, optional usage chunk, `[DONE]`.
    fn events(&self, prompt: &Prompt, answer: &Answer) -> Vec<Bytes> {
        let deltas = match answer {
            Answer::Text(text) => {
                let role = json!({"role": "assistant", "content": "", "refusal": null});
                let pieces = text
                    .pieces()
                    .iter()
                    .map(|piece| json!({ "content": piece }));
                std::iter::once(role).chain(pieces).collect()
            }
            Answer::ToolCall(call) => self.tool_call_deltas(call),
        };
        let mut events = Vec::with_capacity(deltas.len() + 4);
        if self.azure {
            events.push(data_event(&azure::prompt_filter_chunk()));
        }
        for delta in deltas {
            events.push(data_event(&self.chunk(prompt, delta, None)));
        }
        let finish = self.chunk(prompt, json!({}), Some(finish_reason(answer)));
        events.push(data_event(&finish));
        if prompt.include_usage {
            events.push(data_event(&self.usage_chunk(prompt, answer)));
        }
        events.push(done_event());
        events
    }

    /// The call's id and name with empty arguments, then the arguments in fragments.
    fn tool_call_deltas(&self, call: &ToolCallAnswer) -> Vec<Value> {
        let opening = json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "index": 0,
                "id": self.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }],
            "refusal": null,
        });
        let fragments = call.argument_fragments().into_iter().map(
            |fragment| json!({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}),
        );
        std::iter::once(opening).chain(fragments).collect()
    }

    fn chunk(&self, prompt: &Prompt, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = self.chunk_frame(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]));
        // With include_usage the real API puts `"usage": null` on every chunk but the last.
        if prompt.include_usage {
            chunk["usage"] = Value::Null;
        }
        if self.azure {
            chunk["choices"][0]["content_filter_results"] = if finish_reason.is_some() {
                json!({})
            } else {
                azure::completion_filter_results()
            };
        }
        chunk
    }

    fn usage_chunk(&self, prompt: &Prompt, answer: &Answer) -> Value {
        let mut chunk = self.chunk_frame(json!([]));
        chunk["usage"] = usage(prompt, answer);
        chunk
    }

    fn chunk_frame(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        })
    }
}

fn finish_reason(answer: &Answer) -> &'static str {
    match answer.stop() {
        Stop::Finished => "stop",
        Stop::OutputCap => "length",
        Stop::ToolCall => "tool_calls",
    }
}

fn usage(prompt: &Prompt, answer: &Answer) -> Value {
    json!({
        "prompt_tokens": prompt.prompt_tokens,
        "completion_tokens": answer.tokens(),
        "total_tokens": prompt.prompt_tokens + answer.tokens(),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}
