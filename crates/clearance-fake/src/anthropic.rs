//! `POST /v1/messages` in Anthropic's Messages wire format: a `message` object, or the named
//! server-sent events `message_start` ... `message_stop`. The answer is one `text` or one
//! `tool_use` content block.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::{KeyCheck, check_x_api_key};
use crate::behavior::Behavior;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{AnthropicError, Api, behavior_error, insert_request_id};
use crate::faults;
use crate::prompt::Prompt;
use crate::reply::{Answer, Stop};
use crate::sse::{named_event, sse_response};
use crate::state::FakeState;

pub(crate) const PATH: &str = "/v1/messages";

pub(crate) async fn messages(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = serde_json::from_slice::<Value>(&body).ok();
    state.record(&uri, &headers, &body, json.as_ref());
    let model = json
        .as_ref()
        .and_then(|j| j.get("model"))
        .and_then(Value::as_str);
    let behavior = state.behavior_for(model);
    if behavior.refuse_connection {
        return refuse(killer.map(|Extension(k)| k)).await;
    }
    behavior.wait_before_answer().await;
    if let Some(rejection) = reject_credential(&headers, state.required_key().as_deref()) {
        return rejection;
    }
    if !headers.contains_key("anthropic-version") {
        return AnthropicError::invalid_request("anthropic-version: header is required")
            .into_response(None);
    }
    let Some(json) = json else {
        return AnthropicError::invalid_request(
            "There was an issue with the formatting of your request: the body is not valid JSON.",
        )
        .into_response(None);
    };
    let prompt = match Prompt::from_anthropic(&json) {
        Ok(prompt) => prompt,
        Err(invalid) => {
            return AnthropicError::invalid_request(invalid.message).into_response(None);
        }
    };
    state.note_model(&prompt.model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(Api::Anthropic, status, &behavior, &prompt.model);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Anthropic, prompt.stream) {
        return faults::paced(broken, &behavior);
    }
    let answered = answer(&prompt, &faults::with_huge_reply(&behavior));
    faults::paced(answered, &behavior)
}

/// The 401 Anthropic sends for a missing or wrong `x-api-key`, if the request has one.
pub(crate) fn reject_credential(headers: &HeaderMap, required: Option<&str>) -> Option<Response> {
    let message = match check_x_api_key(headers, required) {
        KeyCheck::Accepted => return None,
        KeyCheck::Missing => "x-api-key header is required",
        KeyCheck::Wrong(_) => "invalid x-api-key",
    };
    Some(AnthropicError::for_status(401, "", Some(message)).into_response(None))
}

fn answer(prompt: &Prompt, behavior: &Behavior) -> Response {
    let answer = Answer::for_prompt(prompt, behavior);
    let message = Message::new(&prompt.model);
    if prompt.stream {
        return sse_response(message.events(prompt, &answer), behavior, Api::Anthropic);
    }
    let mut response = Json(message.body(prompt, &answer)).into_response();
    insert_request_id(response.headers_mut(), Api::Anthropic);
    response
}

/// What the message object and all its events share. Bedrock's `InvokeModel` answers with the
/// same objects and events (its ids begin `msg_bdrk_`).
pub(crate) struct Message {
    id: String,
    model: String,
    /// The id of the `tool_use` block, if the answer is one.
    tool_use_id: String,
}

impl Message {
    pub(crate) fn new(model: &str) -> Message {
        Message::with_prefix(model, "msg_")
    }

    /// A message as Anthropic models on Bedrock answer it.
    pub(crate) fn on_bedrock(model: &str) -> Message {
        Message::with_prefix(model, "msg_bdrk_")
    }

    fn with_prefix(model: &str, prefix: &str) -> Message {
        let id = uuid::Uuid::now_v7().simple();
        Message {
            id: format!("{prefix}{id}"),
            model: model.to_owned(),
            tool_use_id: format!("toolu_{id}"),
        }
    }

    /// The non-streaming `message` object.
    pub(crate) fn body(&self, prompt: &Prompt, answer: &Answer) -> Value {
        let mut message = self.frame(usage(prompt, answer.tokens()));
        let block = match answer {
            Answer::Text(text) => json!({"type": "text", "text": text.text()}),
            Answer::ToolCall(call) => json!({
                "type": "tool_use",
                "id": self.tool_use_id,
                "name": call.name,
                "input": call.arguments,
            }),
        };
        message["content"] = json!([block]);
        message["stop_reason"] = json!(stop_reason(answer));
        message
    }

    /// The streamed events as server-sent events.
    fn events(&self, prompt: &Prompt, answer: &Answer) -> Vec<Bytes> {
        self.event_values(prompt, answer)
            .iter()
            .map(|(name, data)| named_event(name, data))
            .collect()
    }

    /// The streamed events (name, JSON), in the order the real API sends them for one content
    /// block: a text block grows by `text_delta`s, a `tool_use` block starts with empty `input`
    /// and grows by `input_json_delta`s of its JSON.
    pub(crate) fn event_values(
        &self,
        prompt: &Prompt,
        answer: &Answer,
    ) -> Vec<(&'static str, Value)> {
        let (content_block, deltas): (Value, Vec<Value>) = match answer {
            Answer::Text(text) => (
                json!({"type": "text", "text": ""}),
                text.pieces()
                    .iter()
                    .map(|piece| json!({"type": "text_delta", "text": piece}))
                    .collect(),
            ),
            Answer::ToolCall(call) => (
                json!({"type": "tool_use", "id": self.tool_use_id, "name": call.name, "input": {}}),
                call.argument_fragments()
                    .into_iter()
                    .map(|fragment| json!({"type": "input_json_delta", "partial_json": fragment}))
                    .collect(),
            ),
        };
        let mut events = Vec::with_capacity(deltas.len() + 6);
        // message_start reports 1 output token, as the real API does before generating.
        let start = json!({"type": "message_start", "message": self.frame(usage(prompt, 1))});
        events.push(("message_start", start));
        let block_start = json!({
            "type": "content_block_start",
            "index": 0,
            "content_block": content_block,
        });
        events.push(("content_block_start", block_start));
        events.push(("ping", json!({"type": "ping"})));
        for delta in deltas {
            let delta = json!({"type": "content_block_delta", "index": 0, "delta": delta});
            events.push(("content_block_delta", delta));
        }
        let block_stop = json!({"type": "content_block_stop", "index": 0});
        events.push(("content_block_stop", block_stop));
        let message_delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(answer), "stop_sequence": null},
            "usage": {"output_tokens": answer.tokens()},
        });
        events.push(("message_delta", message_delta));
        events.push(("message_stop", json!({"type": "message_stop"})));
        events
    }

    /// The message with no content yet: what `message_start` carries.
    fn frame(&self, usage: Value) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage,
        })
    }
}

fn stop_reason(answer: &Answer) -> &'static str {
    match answer.stop() {
        Stop::Finished => "end_turn",
        Stop::OutputCap => "max_tokens",
        Stop::ToolCall => "tool_use",
    }
}

fn usage(prompt: &Prompt, output_tokens: u64) -> Value {
    json!({
        "input_tokens": prompt.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    })
}
