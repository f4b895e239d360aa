//! Token counting: Anthropic's `POST /v1/messages/count_tokens` (a Messages request without
//! `max_tokens`: `model`, `messages`, `system`, `tools`, `tool_choice`, `thinking`) written for
//! each provider's counting API, and the count read back as `{"input_tokens": n}`.
//!
//! | Target ([`CountTarget`]) | Endpoint | Body | Answer |
//! |---|---|---|---|
//! | Anthropic | `/v1/messages/count_tokens` | the client's, `model` swapped | `{"input_tokens"}` |
//! | Claude on Bedrock (`api = "anthropic"`) | `/model/{id}/count-tokens` | `{"input": {"invokeModel": {"body": "<base64 of the InvokeModel body>"}}}` | `{"inputTokens"}` |
//! | Bedrock Converse | `/model/{id}/count-tokens` | `{"input": {"converse": {"messages", "system", "toolConfig", "additionalModelRequestFields"}}}` | `{"inputTokens"}` |
//! | Gemini | `/v1beta/models/{id}:countTokens` | `{"generateContentRequest": {"model": "models/ID", "contents", "systemInstruction", "tools", "toolConfig"}}` | `{"totalTokens"}` |
//!
//! OpenAI and Azure OpenAI have no counting API: `clearance_upstream::count_target` answers
//! [`CountError::NotSupported`] for them, which the gateway turns into a 400.
//!
//! Reading: the translating targets (Converse, Gemini) read the body with the Anthropic
//! translator ([`crate::translate::anthropic::parse_request`], which does not demand
//! `max_tokens`, so no placeholder is needed to read it) after taking `thinking` out: a thinking
//! setting changes how an answer is made, not what the prompt is, and the translator refuses it
//! (it has no equivalent elsewhere). What else the translator refuses (server tools, documents,
//! MCP servers...) is refused here too, naming the field. `disable_parallel_tool_use` is
//! dropped for them: it says how the answer may call tools, and Gemini has no such setting.
//! The pass-through targets (Anthropic, Claude on Bedrock) send the body as it came; Bedrock's
//! `InvokeModel` body requires `max_tokens`, so when the client sent none (count_tokens has
//! none) a placeholder is inserted: the provider's default answer cap, raised above
//! `thinking.budget_tokens` when thinking is on (Anthropic demands `max_tokens` greater than
//! the budget). It does not change the count: only the input is counted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clearance_core::chat::ChatRequest;
use serde_json::{Map, Value, json};

use crate::translate::{RenderOptions, TranslateError, anthropic, bedrock, gemini};

/// Why a count cannot be asked for or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountError {
    /// The provider kind has no token-counting API (400: the client asked a model whose
    /// provider cannot count; another model could).
    #[error(
        "token counting is not supported by providers of kind `{kind}` (they have no token-counting API)"
    )]
    NotSupported { kind: String },
    /// The body is not a count_tokens request (400).
    #[error("`{field}`: {why}")]
    Invalid { field: String, why: String },
    /// The body cannot be written for the target (400), in the translator's words.
    #[error(transparent)]
    Untranslatable(#[from] TranslateError),
    /// The provider's answer holds no count (502).
    #[error("the provider's token count cannot be read: {why}")]
    BadAnswer { why: String },
}

impl CountError {
    /// The request field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            CountError::Invalid { field, .. } => Some(field),
            CountError::Untranslatable(error) => Some(error.field()),
            _ => None,
        }
    }

    /// Whether the request (or the model's provider) is at fault (400), rather than the
    /// provider's answer (502).
    pub fn is_request_error(&self) -> bool {
        !matches!(self, CountError::BadAnswer { .. })
    }

    fn invalid(field: &str, why: impl Into<String>) -> CountError {
        CountError::Invalid {
            field: field.to_string(),
            why: why.into(),
        }
    }
}

/// Which counting API a body is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountTarget {
    /// Anthropic `POST /v1/messages/count_tokens`.
    Anthropic,
    /// Bedrock `CountTokens` with an Anthropic `InvokeModel` body (Claude on Bedrock, `api =
    /// "anthropic"`).
    BedrockInvoke,
    /// Bedrock `CountTokens` with a Converse input (`api = "converse"`).
    BedrockConverse,
    /// Gemini `models/{id}:countTokens`.
    Gemini,
}

/// Checks the shape every target needs: an object with a `model` string and a `messages`
/// array. (The pass-through targets leave the rest to the provider, as a Messages call does.)
pub fn check_request(body: &Value) -> Result<(), CountError> {
    let Value::Object(fields) = body else {
        return Err(CountError::invalid("", "the body must be a JSON object"));
    };
    match fields.get("model") {
        Some(Value::String(model)) if !model.is_empty() => {}
        Some(_) => return Err(CountError::invalid("model", "expected a model name")),
        None => return Err(CountError::invalid("model", "is required")),
    }
    match fields.get("messages") {
        Some(Value::Array(_)) => Ok(()),
        Some(_) => Err(CountError::invalid("messages", "expected an array")),
        None => Err(CountError::invalid("messages", "is required")),
    }
}

/// The request in the neutral model, read by the Anthropic translator with `thinking` taken
/// out (see the module documentation).
pub fn parse_request(body: &Value) -> Result<ChatRequest, CountError> {
    check_request(body)?;
    let mut body = body.clone();
    if let Value::Object(fields) = &mut body {
        fields.remove("thinking");
    }
    let mut request = anthropic::parse_request(&body)?;
    request.parallel_tool_calls = None;
    Ok(request)
}

/// The body for `target`'s counting API, for the provider's model `upstream_model`.
/// `options.default_max_tokens` is the provider's default answer cap (the placeholder
/// `max_tokens` of a Bedrock `InvokeModel` body).
pub fn render_request(
    target: CountTarget,
    body: &Value,
    upstream_model: &str,
    options: &RenderOptions,
) -> Result<Value, CountError> {
    check_request(body)?;
    match target {
        CountTarget::Anthropic => {
            let mut body = body.clone();
            if let Value::Object(fields) = &mut body {
                fields.insert("model".into(), Value::String(upstream_model.to_string()));
            }
            Ok(body)
        }
        CountTarget::BedrockInvoke => {
            let mut invoke = bedrock::anthropic_invoke_body(body);
            if let Value::Object(fields) = &mut invoke
                && !fields.contains_key("max_tokens")
            {
                let budget = body
                    .pointer("/thinking/budget_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let placeholder = options.default_max_tokens.max(budget.saturating_add(1));
                fields.insert("max_tokens".into(), json!(placeholder));
            }
            let bytes = serde_json::to_vec(&invoke)
                .map_err(|e| CountError::invalid("", format!("cannot be written: {e}")))?;
            Ok(json!({"input": {"invokeModel": {"body": BASE64.encode(bytes)}}}))
        }
        CountTarget::BedrockConverse => {
            let request = parse_request(body)?;
            let converse = bedrock::render_request(&request, upstream_model, options)?;
            let input = pick(
                &converse,
                &[
                    "messages",
                    "system",
                    "toolConfig",
                    "additionalModelRequestFields",
                ],
            );
            Ok(json!({"input": {"converse": input}}))
        }
        CountTarget::Gemini => {
            let request = parse_request(body)?;
            let generate = gemini::render_request(&request, upstream_model, options)?;
            let mut inner = Map::new();
            let model = upstream_model.trim_start_matches("models/");
            inner.insert("model".into(), Value::String(format!("models/{model}")));
            if let Value::Object(picked) = pick(
                &generate,
                &["contents", "systemInstruction", "tools", "toolConfig"],
            ) {
                inner.extend(picked);
            }
            Ok(json!({ "generateContentRequest": inner }))
        }
    }
}

/// `keys` of the object `value`, in that order.
fn pick(value: &Value, keys: &[&str]) -> Value {
    let mut picked = Map::new();
    for key in keys {
        if let Some(v) = value.get(*key) {
            picked.insert((*key).to_string(), v.clone());
        }
    }
    Value::Object(picked)
}

/// The count in `target`'s answer: Anthropic `{"input_tokens": n}`, Bedrock `{"inputTokens":
/// n}`, Gemini `{"totalTokens": n}` (a proto3 JSON answer leaves a zero out, so an answer
/// without it, and without an error, is 0).
pub fn parse_response(target: CountTarget, body: &Value) -> Result<u64, CountError> {
    let Value::Object(fields) = body else {
        return Err(CountError::BadAnswer {
            why: "the answer is not a JSON object".into(),
        });
    };
    let field = match target {
        CountTarget::Anthropic => "input_tokens",
        CountTarget::BedrockInvoke | CountTarget::BedrockConverse => "inputTokens",
        CountTarget::Gemini => "totalTokens",
    };
    match fields.get(field) {
        Some(n) => n.as_u64().ok_or_else(|| CountError::BadAnswer {
            why: format!("`{field}` is {n}, not a count"),
        }),
        None if target == CountTarget::Gemini && !fields.contains_key("error") => Ok(0),
        None => Err(CountError::BadAnswer {
            why: format!("no `{field}`"),
        }),
    }
}

/// The answer in Anthropic's shape.
pub fn render_response(input_tokens: u64) -> Value {
    json!({ "input_tokens": input_tokens })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn options() -> RenderOptions {
        RenderOptions {
            default_max_tokens: 4096,
            legacy_max_tokens: false,
        }
    }

    /// docs.anthropic.com/en/api/messages-count-tokens, the example request.
    fn reference_request() -> Value {
        json!({
            "model": "claude-sonnet-4-20250514",
            "system": "You are a scientist",
            "messages": [{"role": "user", "content": "Hello, Claude"}]
        })
    }

    fn decoded_invoke_body(body: &Value) -> Value {
        let encoded = body["input"]["invokeModel"]["body"].as_str().unwrap();
        serde_json::from_slice(&BASE64.decode(encoded).unwrap()).unwrap()
    }

    #[test]
    fn anthropic_passes_through_with_the_model_swapped() {
        let mut body = reference_request();
        body["tools"] = json!([{"name": "t", "input_schema": {"type": "object"}}]);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        let rendered =
            render_request(CountTarget::Anthropic, &body, "claude-x", &options()).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("claude-x");
        assert_eq!(rendered, expected);
    }

    /// docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CountTokens.html: the
    /// `invokeModel` input is the InvokeModel body, base64 in JSON.
    #[test]
    fn bedrock_invoke_wraps_the_invoke_model_body() {
        let rendered = render_request(
            CountTarget::BedrockInvoke,
            &reference_request(),
            "anthropic.claude-sonnet-4-20250514-v1:0",
            &options(),
        )
        .unwrap();
        assert_eq!(rendered["input"].as_object().unwrap().len(), 1);
        assert_eq!(
            decoded_invoke_body(&rendered),
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "system": "You are a scientist",
                "messages": [{"role": "user", "content": "Hello, Claude"}],
                "max_tokens": 4096,
            })
        );
    }

    #[test]
    fn the_placeholder_cap_stays_above_a_thinking_budget() {
        let mut body = reference_request();
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 10000});
        let rendered = render_request(CountTarget::BedrockInvoke, &body, "m", &options()).unwrap();
        let invoke = decoded_invoke_body(&rendered);
        assert_eq!(invoke["max_tokens"], 10001);
        assert_eq!(invoke["thinking"]["budget_tokens"], 10000);
        body["max_tokens"] = json!(7);
        let rendered = render_request(CountTarget::BedrockInvoke, &body, "m", &options()).unwrap();
        assert_eq!(decoded_invoke_body(&rendered)["max_tokens"], 7);
    }

    #[test]
    fn converse_input_carries_messages_system_and_tools() {
        let mut body = reference_request();
        body["tools"] = json!([{"name": "get_weather", "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
        body["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        let rendered =
            render_request(CountTarget::BedrockConverse, &body, "m", &options()).unwrap();
        let converse = &rendered["input"]["converse"];
        assert_eq!(
            converse["messages"],
            json!([{"role": "user", "content": [{"text": "Hello, Claude"}]}])
        );
        assert_eq!(converse["system"], json!([{"text": "You are a scientist"}]));
        assert_eq!(
            converse["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "get_weather"
        );
        assert!(converse.get("inferenceConfig").is_none());
    }

    /// ai.google.dev/api/tokens: `generateContentRequest` with its `model`.
    #[test]
    fn gemini_counts_a_generate_content_request() {
        let mut body = reference_request();
        body["tools"] = json!([{"name": "get_weather", "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
        let rendered =
            render_request(CountTarget::Gemini, &body, "gemini-2.5-flash", &options()).unwrap();
        let inner = &rendered["generateContentRequest"];
        assert_eq!(inner["model"], "models/gemini-2.5-flash");
        assert_eq!(
            inner["contents"],
            json!([{"role": "user", "parts": [{"text": "Hello, Claude"}]}])
        );
        assert_eq!(
            inner["systemInstruction"],
            json!({"parts": [{"text": "You are a scientist"}]})
        );
        assert_eq!(
            inner["tools"][0]["functionDeclarations"][0]["name"],
            "get_weather"
        );
        assert!(inner.get("generationConfig").is_none());
        assert_eq!(rendered.as_object().unwrap().len(), 1);
    }

    #[test]
    fn what_the_translator_refuses_is_refused_naming_the_field() {
        let mut body = reference_request();
        body["mcp_servers"] = json!([{"type": "url", "url": "https://x", "name": "x"}]);
        for target in [CountTarget::Gemini, CountTarget::BedrockConverse] {
            let error = render_request(target, &body, "m", &options()).unwrap_err();
            assert_eq!(error.field(), Some("mcp_servers"), "{target:?}");
            assert!(error.is_request_error());
        }
        // The pass-through targets leave it to the provider.
        assert!(render_request(CountTarget::Anthropic, &body, "m", &options()).is_ok());
    }

    #[test]
    fn refuses_what_is_not_a_count_request() {
        for (body, field) in [
            (json!("x"), ""),
            (json!({"messages": []}), "model"),
            (json!({"model": "m"}), "messages"),
            (json!({"model": "m", "messages": {}}), "messages"),
        ] {
            for target in [
                CountTarget::Anthropic,
                CountTarget::BedrockInvoke,
                CountTarget::BedrockConverse,
                CountTarget::Gemini,
            ] {
                let error = render_request(target, &body, "m", &options()).unwrap_err();
                assert_eq!(error.field(), Some(field), "{body} {target:?}");
            }
        }
    }

    #[test]
    fn reads_each_providers_count() {
        let cases = [
            (CountTarget::Anthropic, json!({"input_tokens": 14}), 14),
            (CountTarget::BedrockInvoke, json!({"inputTokens": 19}), 19),
            (CountTarget::BedrockConverse, json!({"inputTokens": 3}), 3),
            (
                CountTarget::Gemini,
                json!({"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}),
                31,
            ),
            (CountTarget::Gemini, json!({}), 0),
        ];
        for (target, body, count) in cases {
            assert_eq!(parse_response(target, &body), Ok(count), "{body}");
        }
        for (target, body) in [
            (CountTarget::Anthropic, json!({"inputTokens": 3})),
            (CountTarget::BedrockInvoke, json!({"input_tokens": 3})),
            (CountTarget::Gemini, json!({"error": {"code": 400}})),
            (CountTarget::Gemini, json!({"totalTokens": "3"})),
            (CountTarget::Anthropic, json!([])),
        ] {
            let error = parse_response(target, &body).unwrap_err();
            assert!(!error.is_request_error(), "{body}");
        }
        assert_eq!(render_response(14), json!({"input_tokens": 14}));
    }

    #[test]
    fn not_supported_names_the_kind() {
        let error = CountError::NotSupported {
            kind: "openai".into(),
        };
        assert!(error.to_string().contains("`openai`"));
        assert!(error.is_request_error());
    }
}
