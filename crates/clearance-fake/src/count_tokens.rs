//! Token counting in each provider's wire format:
//!
//! - Anthropic `POST /v1/messages/count_tokens`: a Messages request without `max_tokens`
//!   (`max_tokens` and `stream` are refused as the API refuses extra inputs), answered
//!   `{"input_tokens": n}`;
//! - Gemini `POST /v1beta/models/MODEL:countTokens` ([`gemini`], reached through
//!   [`crate::gemini`]): `{"contents"}` or `{"generateContentRequest": {"model":
//!   "models/...", "contents", "systemInstruction", ...}}`, never both, answered
//!   `{"totalTokens": n, "promptTokensDetails"}`;
//! - Bedrock `POST /model/MODEL/count-tokens` ([`bedrock`], reached through
//!   [`crate::bedrock`]): `{"input": {"invokeModel": {"body": "<base64>"}}}` (for Anthropic
//!   models a complete `InvokeModel` body: `anthropic_version`, `max_tokens`, `messages`) or
//!   `{"input": {"converse": {"messages", "system", ...}}}`, answered `{"inputTokens": n}`;
//!   models other than Anthropic's are refused, as Bedrock counts only for some models.
//!
//! The count is the same in every format for the same conversation: the whitespace-separated
//! words of the prompt's text (every `text` string, and `content` and `system` given as
//! strings) plus [`TOKENS_PER_REQUEST`]. Behaviors apply as to the chat routes, keyed by the
//! model.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::anthropic;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{AnthropicError, Api, GeminiError, behavior_error, insert_request_id};
use crate::faults;
use crate::prompt::Prompt;
use crate::state::FakeState;

/// `POST`: Anthropic's token counting.
pub(crate) const ANTHROPIC_PATH: &str = "/v1/messages/count_tokens";

/// Tokens a request counts for besides its words.
pub(crate) const TOKENS_PER_REQUEST: u64 = 3;

/// The fake's count for a request body (or any part of one): words of its text plus
/// [`TOKENS_PER_REQUEST`].
pub(crate) fn count(prompt: &Value) -> u64 {
    words(prompt, None) + TOKENS_PER_REQUEST
}

fn words(value: &Value, key: Option<&str>) -> u64 {
    match value {
        Value::String(text) if matches!(key, Some("text" | "content" | "system")) => {
            text.split_whitespace().count() as u64
        }
        Value::Array(items) => items.iter().map(|item| words(item, key)).sum(),
        Value::Object(fields) => fields.iter().map(|(k, v)| words(v, Some(k))).sum(),
        _ => 0,
    }
}

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn anthropic(
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
        .and_then(Value::as_str)
        .map(str::to_owned);
    let behavior = state.behavior_for(model.as_deref());
    if behavior.refuse_connection {
        return refuse(killer.map(|Extension(k)| k)).await;
    }
    behavior.wait_before_answer().await;
    if let Some(rejection) = anthropic::reject_credential(&headers, state.required_key().as_deref())
    {
        return rejection;
    }
    if !headers.contains_key("anthropic-version") {
        return AnthropicError::invalid_request("anthropic-version: header is required")
            .into_response(None);
    }
    let invalid = |message: &str| AnthropicError::invalid_request(message).into_response(None);
    let Some(json) = json else {
        return invalid(
            "There was an issue with the formatting of your request: the body is not valid JSON.",
        );
    };
    let Some(model) = model else {
        return invalid("model: Field required");
    };
    if !json.get("messages").is_some_and(Value::is_array) {
        return invalid("messages: Field required");
    }
    for extra in ["max_tokens", "stream"] {
        if json.get(extra).is_some() {
            return invalid(&format!("{extra}: Extra inputs are not permitted"));
        }
    }
    state.note_model(&model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(Api::Anthropic, status, &behavior, &model);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Anthropic, false) {
        return faults::paced(broken, &behavior);
    }
    let mut response = Json(json!({ "input_tokens": count(&json) })).into_response();
    insert_request_id(response.headers_mut(), Api::Anthropic);
    faults::paced(response, &behavior)
}

/// `MODEL:countTokens`, once [`crate::gemini::model_call`] has recorded the request and split
/// the path.
pub(crate) async fn gemini(
    state: &FakeState,
    killer: Option<ConnectionKiller>,
    uri: &Uri,
    headers: &HeaderMap,
    model: &str,
    json: Option<Value>,
) -> Response {
    let behavior = match crate::gemini::admit(state, killer, uri, headers, model).await {
        Ok(behavior) => behavior,
        Err(refused) => return refused,
    };
    let invalid = |message: &str| GeminiError::invalid_argument(message).into_response(None);
    let Some(json) = json else {
        return invalid("Invalid JSON payload received.");
    };
    let prompt = match (json.get("contents"), json.get("generateContentRequest")) {
        (Some(_), Some(_)) => {
            return invalid(
                "generate_content_request and contents are mutually exclusive; send one of them.",
            );
        }
        (Some(contents), None) => contents.clone(),
        (None, Some(request)) => {
            let named = request.get("model").and_then(Value::as_str);
            if !named.is_some_and(|m| m.starts_with("models/")) {
                return invalid(
                    "* CountTokensRequest.generate_content_request.model: unexpected model name format",
                );
            }
            if !request.get("contents").is_some_and(Value::is_array) {
                return invalid(
                    "* CountTokensRequest.generate_content_request.contents: contents is not specified",
                );
            }
            json!({
                "contents": request.get("contents"),
                "systemInstruction": request.get("systemInstruction"),
            })
        }
        (None, None) => return invalid("* CountTokensRequest: contents is not specified"),
    };
    state.note_model(model);
    if let Some(status) = behavior.error_status() {
        return behavior_error(Api::Gemini, status, &behavior, model);
    }
    if let Some(broken) = faults::replacement(&behavior, Api::Gemini, false) {
        return faults::paced(broken, &behavior);
    }
    let total = count(&prompt);
    let answer = json!({
        "totalTokens": total,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
    });
    faults::paced(Json(answer).into_response(), &behavior)
}

/// `CountTokens`, once [`crate::bedrock::model_call`] has recorded the request, applied the
/// behavior's delay and connection refusal, checked the signature and read the JSON. `Err`
/// is the message of the `ValidationException` Bedrock answers with.
pub(crate) fn bedrock(model_id: &str, body: &Value) -> Result<Response, String> {
    if !crate::bedrock::is_anthropic(model_id) {
        return Err("The provided model doesn't support counting tokens.".into());
    }
    let Some(Value::Object(input)) = body.get("input") else {
        return Err("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null".into());
    };
    let counted = match (input.get("invokeModel"), input.get("converse"), input.len()) {
        (Some(invoke), None, 1) => {
            let encoded = invoke
                .get("body")
                .and_then(Value::as_str)
                .ok_or("Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null")?;
            let bytes = aws_smithy_types::base64::decode(encoded)
                .map_err(|_| "input.invokeModel.body is not valid base64".to_string())?;
            let invoke_body: Value = serde_json::from_slice(&bytes).map_err(|_| {
                "Malformed input request, please reformat your input and try again.".to_string()
            })?;
            // The body must be one InvokeModel itself would take.
            Prompt::from_bedrock_anthropic(model_id, &invoke_body, false)
                .map_err(|invalid| invalid.message)?;
            count(&invoke_body)
        }
        (None, Some(converse), 1) => {
            if !converse.get("messages").is_some_and(Value::is_array) {
                return Err(
                    "The model returned the following errors: messages: Field required".into(),
                );
            }
            count(&json!({
                "messages": converse.get("messages"),
                "system": converse.get("system"),
            }))
        }
        _ => {
            return Err(
                "input: exactly one of invokeModel or converse must be set (CountTokensInput is a union)"
                    .into(),
            );
        }
    };
    let mut response = Json(json!({ "inputTokens": counted })).into_response();
    insert_request_id(response.headers_mut(), Api::Bedrock);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conversation_counts_alike_in_every_format() {
        let anthropic = json!({"model": "m", "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello there, Claude"},
                         {"role": "assistant", "content": [{"type": "text", "text": "Hi."}]}]});
        let gemini = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Hello there, Claude"}]},
                         {"role": "model", "parts": [{"text": "Hi."}]}]});
        let converse = json!({"system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hello there, Claude"}]},
                         {"role": "assistant", "content": [{"text": "Hi."}]}]});
        let expected = 2 + 3 + 1 + TOKENS_PER_REQUEST;
        assert_eq!(count(&anthropic), expected);
        assert_eq!(count(&gemini), expected);
        assert_eq!(count(&converse), expected);
    }

    #[test]
    fn only_prompt_text_counts() {
        let body = json!({"model": "many words here", "tools": [{"name": "x",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}}}],
            "messages": [{"role": "user", "content": [{"type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]}]});
        assert_eq!(count(&body), TOKENS_PER_REQUEST);
    }
}
