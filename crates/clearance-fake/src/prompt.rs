//! Reads what the fakes need from a request body (model, last user text, a prompt token count,
//! the output cap, streaming options), and rejects bodies the real API would reject.

use serde_json::Value;

use crate::reply::count_tokens;

/// The parts of a chat request that decide the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub model: String,
    pub last_user_text: Option<String>,
    pub prompt_tokens: u64,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// A body the real API answers with 400, with what its error JSON says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidRequest {
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl InvalidRequest {
    fn new(message: impl Into<String>) -> InvalidRequest {
        InvalidRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }
}

impl Prompt {
    /// An OpenAI Chat Completions body. Error wording follows what the real API returns.
    pub(crate) fn from_openai(body: &Value) -> Result<Prompt, InvalidRequest> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| InvalidRequest::new("you must provide a model parameter"))?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or(InvalidRequest {
                message: "Missing required parameter: 'messages'.".to_owned(),
                param: Some("messages"),
                code: Some("missing_required_parameter"),
            })?;
        // max_completion_tokens replaced max_tokens; clients still send either.
        let max_tokens = body
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| body.get("max_tokens").and_then(Value::as_u64));
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Prompt {
            model: model.to_owned(),
            last_user_text: last_user_text(messages),
            prompt_tokens: message_tokens(messages),
            max_tokens,
            stream: is_streaming(body),
            include_usage,
        })
    }

    /// An Anthropic Messages body: `model`, `max_tokens` and `messages` are required; the
    /// system prompt is a top-level field.
    pub(crate) fn from_anthropic(body: &Value) -> Result<Prompt, InvalidRequest> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| InvalidRequest::new("model: Field required"))?;
        let max_tokens = body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .ok_or_else(|| InvalidRequest::new("max_tokens: Field required"))?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| InvalidRequest::new("messages: Field required"))?;
        let system_tokens = body
            .get("system")
            .map_or(0, |s| count_tokens(&content_text(s)));
        Ok(Prompt {
            model: model.to_owned(),
            last_user_text: last_user_text(messages),
            prompt_tokens: system_tokens + message_tokens(messages),
            max_tokens: Some(max_tokens),
            stream: is_streaming(body),
            include_usage: false,
        })
    }
}

fn is_streaming(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn last_user_text(messages: &[Value]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .filter(|t| !t.trim().is_empty())
}

fn message_tokens(messages: &[Value]) -> u64 {
    messages
        .iter()
        .filter_map(|m| m.get("content"))
        .map(|c| count_tokens(&content_text(c)))
        .sum()
}

/// Message content is a string or a list of parts (`{"type":"text","text":..}`, images, ...);
/// both APIs share this shape, and only the text parts matter here.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_openai_body() {
        let body = json!({
            "model": "gpt-x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
            ],
            "max_completion_tokens": 7,
            "stream": true,
            "stream_options": {"include_usage": true}
        });
        let p = Prompt::from_openai(&body).unwrap();
        assert_eq!(p.model, "gpt-x");
        assert_eq!(p.last_user_text.as_deref(), Some("hello there"));
        assert_eq!(p.prompt_tokens, 4);
        assert_eq!(p.max_tokens, Some(7));
        assert!(p.stream && p.include_usage);
    }

    #[test]
    fn openai_requires_model_and_messages() {
        assert!(Prompt::from_openai(&json!({"messages": []})).is_err());
        let err = Prompt::from_openai(&json!({"model": "m"})).unwrap_err();
        assert_eq!(err.param, Some("messages"));
    }

    #[test]
    fn reads_anthropic_body() {
        let body = json!({
            "model": "claude-x",
            "max_tokens": 100,
            "system": "you are terse",
            "messages": [{"role": "user", "content": "ping"}]
        });
        let p = Prompt::from_anthropic(&body).unwrap();
        assert_eq!(p.prompt_tokens, 4);
        assert_eq!(p.last_user_text.as_deref(), Some("ping"));
        assert!(!p.stream);
    }

    #[test]
    fn anthropic_requires_max_tokens() {
        let err = Prompt::from_anthropic(&json!({"model": "m", "messages": []})).unwrap_err();
        assert_eq!(err.message, "max_tokens: Field required");
    }
}
