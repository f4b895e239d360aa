//! A provider's non-streaming answer: shown to the client under the model name the client
//! used, with token usage read out for the audit log.

use clearance_core::api::ApiSurface;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::Usage;

/// A JSON object read only one level deep: each value stays the exact text the provider sent.
type ShallowObject = indexmap::IndexMap<String, Box<RawValue>>;

/// Where `surface`'s answers name the model and hold the token usage: `model` and `usage`, but
/// Gemini's `modelVersion` and `usageMetadata`.
pub fn model_and_usage_fields(surface: ApiSurface) -> (&'static str, &'static str) {
    match surface {
        ApiSurface::Gemini => ("modelVersion", "usageMetadata"),
        ApiSurface::OpenaiChat
        | ApiSurface::AnthropicMessages
        | ApiSurface::OpenaiResponses
        | ApiSurface::OpenaiEmbeddings
        | ApiSurface::AnthropicCountTokens => ("model", "usage"),
    }
}

/// Rewrites the model name (`model`, Gemini's `modelVersion`) to `client_model` and reads
/// usage. A body that is not a JSON object passes through unchanged (with no usage): the
/// client sees what the provider sent.
///
/// Only the top level is parsed (every nested value is carried as raw text), because on the
/// hot path the answer needs one field changed and one read, not a full round trip.
pub fn rewrite_response(surface: ApiSurface, body: &[u8], client_model: &str) -> (Vec<u8>, Usage) {
    let Ok(mut object) = serde_json::from_slice::<ShallowObject>(body) else {
        return (body.to_vec(), Usage::default());
    };
    let (model_field, usage_field) = model_and_usage_fields(surface);
    if let Some(model) = object.get_mut(model_field) {
        *model = serde_json::value::to_raw_value(client_model).expect("a string always serialises");
    }
    let usage = object
        .get(usage_field)
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .map(|u| usage_of(surface, &u))
        .unwrap_or_default();
    (
        serde_json::to_vec(&object).expect("a JSON map always serialises"),
        usage,
    )
}

/// Reads a `usage` object in `surface`'s field names (Gemini: `usageMetadata`, whose output
/// is the answer's tokens and the thinking tokens, as translation counts them).
pub fn usage_of(surface: ApiSurface, usage: &Value) -> Usage {
    let field = |name: &str| usage.get(name).and_then(Value::as_u64);
    match surface {
        ApiSurface::OpenaiChat | ApiSurface::OpenaiEmbeddings => Usage {
            input_tokens: field("prompt_tokens"),
            output_tokens: field("completion_tokens"),
        },
        ApiSurface::AnthropicMessages
        | ApiSurface::OpenaiResponses
        | ApiSurface::AnthropicCountTokens => Usage {
            input_tokens: field("input_tokens"),
            output_tokens: field("output_tokens"),
        },
        ApiSurface::Gemini => Usage {
            input_tokens: field("promptTokenCount"),
            output_tokens: match (field("candidatesTokenCount"), field("thoughtsTokenCount")) {
                (None, None) => None,
                (answer, thoughts) => {
                    Some(answer.unwrap_or(0).saturating_add(thoughts.unwrap_or(0)))
                }
            },
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openai_answer_gets_client_model_and_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-x-2026","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#;
        let (out, usage) = rewrite_response(ApiSurface::OpenaiChat, body, "mythos-5");
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["model"], "mythos-5");
        assert_eq!(out["object"], "chat.completion");
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(7),
                output_tokens: Some(3)
            }
        );
    }

    #[test]
    fn anthropic_usage_is_read() {
        let body =
            br#"{"type":"message","model":"claude","usage":{"input_tokens":12,"output_tokens":4}}"#;
        let (_, usage) = rewrite_response(ApiSurface::AnthropicMessages, body, "m");
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(12),
                output_tokens: Some(4)
            }
        );
    }

    #[test]
    fn gemini_answer_gets_client_model_version_and_usage_metadata_is_read() {
        let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":3,"thoughtsTokenCount":4,"totalTokenCount":18},"modelVersion":"gemini-3-flash-001","responseId":"r1"}"#;
        let (out, usage) = rewrite_response(ApiSurface::Gemini, body, "gemini-flash");
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["modelVersion"], "gemini-flash");
        assert!(out.get("model").is_none());
        assert_eq!(out["candidates"][0]["content"]["parts"][0]["text"], "hi");
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(11),
                output_tokens: Some(7)
            }
        );
        let (_, usage) = rewrite_response(
            ApiSurface::Gemini,
            br#"{"usageMetadata":{"promptTokenCount":2}}"#,
            "m",
        );
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(2),
                output_tokens: None
            }
        );
    }

    #[test]
    fn non_json_passes_through() {
        let (out, usage) = rewrite_response(ApiSurface::OpenaiChat, b"plain text", "m");
        assert_eq!(out, b"plain text");
        assert_eq!(usage, Usage::default());
    }
}
