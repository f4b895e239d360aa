//! Google Gemini's `generateContent` API: `POST /v1beta/models/MODEL:generateContent` answers one
//! `GenerateContentResponse`; `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` streams
//! them as server-sent events (`data: JSON`, CRLF CRLF, no end marker), the text spread over
//! several, each with the usage so far, the last with `finishReason`. A tool call is one
//! `functionCall` part (without an id, as Gemini models send it).
//!
//! `MODEL:batchEmbedContents` and `MODEL:countTokens` are answered by [`crate::embeddings`] and
//! [`crate::count_tokens`].
//!
//! The model and the action share one path segment (`gemini-2.5-flash:generateContent`), which
//! an axum route cannot split, so the route takes the rest of the path and
//! [`model_and_action`] splits it at the last `:`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::{KeyCheck, check_goog_api_key};
use crate::behavior::Behavior;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, GeminiError, behavior_error};
use crate::faults;
use crate::prompt::Prompt;
use crate::query;
use crate::reply::{Answer, Stop};
use crate::sse::{gemini_event, sse_response};
use crate::state::FakeState;

/// Everything Gemini serves sits under this prefix.
pub(crate) const API_PREFIX: &str = "/v1beta/";
/// `GET`: the model list.
pub(crate) const MODELS_PATH: &str = "/v1beta/models";
/// `POST`: `MODEL:generateContent` and `MODEL:streamGenerateContent`.
pub(crate) const MODEL_CALL_ROUTE: &str = "/v1beta/models/{*rest}";

const MALFORMED_JSON: &str = "Invalid JSON payload received. Unexpected token.";

const MISSING_KEY: &str = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
const INVALID_KEY: &str = "API key not valid. Please pass a valid API key.";

const NOT_STREAMED_WITHOUT_SSE: &str = "clearance-fake streams streamGenerateContent only with alt=sse (without it Gemini sends one JSON array, which this fake does not imitate).";

/// Splits `/v1beta/models/MODEL:ACTION` into the model id and the action, at the last `:` (a
/// model id may hold `:`s, an action does not). `None` for any other path.
pub(crate) fn model_and_action(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1beta/models/")?;
    let (model, action) = rest.rsplit_once(':')?;
    (!model.is_empty() && !action.is_empty()).then_some((model, action))
}

pub(crate) async fn model_call(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = serde_json::from_slice::<Value>(&body).ok();
    state.record(&uri, &headers, &body, json.as_ref());
    let Some((model, action)) = model_and_action(uri.path()) else {
        return GeminiError::not_found("Method not found.").into_response(None);
    };
    let killer = killer.map(|Extension(k)| k);
    match action {
        "batchEmbedContents" => {
            return crate::embeddings::gemini(&state, killer, &uri, &headers, model, json).await;
        }
        "countTokens" => {
            return crate::count_tokens::gemini(&state, killer, &uri, &headers, model, json).await;
        }
        _ => {}
    }
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => {
            return GeminiError::not_found(format!("Method not found: {action}."))
                .into_response(None);
        }
    };
    let behavior = match admit(&state, killer, &uri, &headers, model).await {
        Ok(behavior) => behavior,
        Err(refused) => return refused,
    };
    if stream && query::param(uri.query(), "alt").as_deref() != Some("sse") {
        return GeminiError::invalid_argument(NOT_STREAMED_WITHOUT_SSE).into_response(None);
    }
    let Some(json) = json else {
        return GeminiError::invalid_argument(MALFORMED_JSON).into_response(None);
    };
    let prompt = match Prompt::from_gemini(model, &json, stream) {
        Ok(prompt) => prompt,
        Err(invalid) => return GeminiError::invalid_argument(invalid.message).into_response(None),
    };
    state.note_model(&prompt.model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(Api::Gemini, status, &behavior, &prompt.model);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Gemini, prompt.stream) {
        return faults::paced(broken, &behavior);
    }
    let answered = answer(&prompt, &faults::with_huge_reply(&behavior));
    faults::paced(answered, &behavior)
}

/// What every model call does first: the model's behaviour (a refused connection, a delay),
/// then the key. `Err` is the answer to send instead.
pub(crate) async fn admit(
    state: &FakeState,
    killer: Option<ConnectionKiller>,
    uri: &Uri,
    headers: &HeaderMap,
    model: &str,
) -> Result<Behavior, Response> {
    let behavior = state.behavior_for(Some(model));
    if behavior.refuse_connection {
        return Err(refuse(killer).await);
    }
    behavior.wait_before_answer().await;
    let required = state.required_key();
    match reject_credential(headers, uri.query(), required.as_deref()) {
        Some(rejection) => Err(rejection),
        None => Ok(behavior),
    }
}

/// What Google answers a missing key (403 `PERMISSION_DENIED`) or a wrong one (400
/// `INVALID_ARGUMENT`, reason `API_KEY_INVALID`), if the request has one.
pub(crate) fn reject_credential(
    headers: &HeaderMap,
    query: Option<&str>,
    required: Option<&str>,
) -> Option<Response> {
    let error = match check_goog_api_key(headers, query, required) {
        KeyCheck::Accepted => return None,
        KeyCheck::Missing => GeminiError {
            status: 403,
            kind: "PERMISSION_DENIED",
            message: MISSING_KEY.to_owned(),
            details: Vec::new(),
        },
        KeyCheck::Wrong(_) => GeminiError {
            details: vec![
                json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }),
                json!({
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": INVALID_KEY,
                }),
            ],
            ..GeminiError::invalid_argument(INVALID_KEY)
        },
    };
    Some(error.into_response(None))
}

fn answer(prompt: &Prompt, behavior: &Behavior) -> Response {
    let answer = Answer::for_prompt(prompt, behavior);
    let generation = Generation::new(&prompt.model);
    if prompt.stream {
        return sse_response(generation.events(prompt, &answer), behavior, Api::Gemini);
    }
    Json(generation.body(prompt, &answer)).into_response()
}

/// What every response of one generation shares.
struct Generation {
    response_id: String,
    model: String,
}

impl Generation {
    fn new(model: &str) -> Generation {
        Generation {
            response_id: uuid::Uuid::now_v7().simple().to_string(),
            model: model.to_owned(),
        }
    }

    /// The non-streaming response: the whole answer in one candidate.
    fn body(&self, prompt: &Prompt, answer: &Answer) -> Value {
        let part = match answer {
            Answer::Text(text) => json!({"text": text.text()}),
            Answer::ToolCall(call) => {
                json!({"functionCall": {"name": call.name, "args": call.arguments}})
            }
        };
        self.response(part, Some(finish_reason(answer)), prompt, answer.tokens())
    }

    /// The streamed responses: one per text piece, each with the usage so far (as Google's
    /// are), the last with `finishReason`. A tool call comes whole, in one response.
    fn events(&self, prompt: &Prompt, answer: &Answer) -> Vec<Bytes> {
        let Answer::Text(text) = answer else {
            return vec![gemini_event(&self.body(prompt, answer))];
        };
        let pieces = text.pieces();
        if pieces.is_empty() {
            let empty = self.response(json!({"text": ""}), Some(finish_reason(answer)), prompt, 0);
            return vec![gemini_event(&empty)];
        }
        let mut so_far = 0;
        pieces
            .iter()
            .map(|piece| {
                so_far += 1;
                let last = so_far == pieces.len();
                let finish = last.then(|| finish_reason(answer));
                gemini_event(&self.response(json!({"text": piece}), finish, prompt, so_far as u64))
            })
            .collect()
    }

    fn response(
        &self,
        part: Value,
        finish_reason: Option<&str>,
        prompt: &Prompt,
        candidates_tokens: u64,
    ) -> Value {
        let mut candidate = json!({
            "content": {"parts": [part], "role": "model"},
            "index": 0,
        });
        if let Some(reason) = finish_reason {
            candidate["finishReason"] = json!(reason);
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt.prompt_tokens,
                "candidatesTokenCount": candidates_tokens,
                "totalTokenCount": prompt.prompt_tokens + candidates_tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt.prompt_tokens}],
            },
            "modelVersion": self.model,
            "responseId": self.response_id,
        })
    }
}

fn finish_reason(answer: &Answer) -> &'static str {
    match answer.stop() {
        Stop::Finished | Stop::ToolCall => "STOP",
        Stop::OutputCap => "MAX_TOKENS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_model_and_action_at_the_last_colon() {
        assert_eq!(
            model_and_action("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash", "generateContent"))
        );
        assert_eq!(
            model_and_action("/v1beta/models/tuned/a:b:streamGenerateContent"),
            Some(("tuned/a:b", "streamGenerateContent"))
        );
        for odd in [
            "/v1beta/models/gemini",
            "/v1beta/models/:generateContent",
            "/v1beta/models/gemini:",
            "/v1beta/models/",
            "/v1/chat/completions",
            "",
        ] {
            assert_eq!(model_and_action(odd), None, "{odd}");
        }
    }
}
