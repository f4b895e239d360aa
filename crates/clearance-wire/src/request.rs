//! A client's request body: the few fields the gateway must understand, and the rewrite that
//! sends it to a provider. Every field the gateway does not read passes through untouched and
//! in its original order (serde_json's `preserve_order`), so new provider features work
//! without a gateway release.

use std::collections::BTreeSet;

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::facts::Capability;
use serde_json::{Map, Value};

use crate::translate::{self, RenderOptions, TranslateError};

/// Why a request body cannot be served. The messages are shown to the client as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the request body must be a JSON object")]
    NotAnObject,
    #[error("the request body has no `model` field; name the model to use")]
    MissingModel,
    #[error("`model` must be a string")]
    ModelNotString,
    #[error("`stream` must be true or false")]
    StreamNotBool,
}

/// A parsed client request.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub surface: ApiSurface,
    /// The model name the client asked for.
    pub model: String,
    pub stream: bool,
    /// Always a JSON object.
    body: Value,
}

impl ClientRequest {
    pub fn parse(surface: ApiSurface, bytes: &[u8]) -> Result<ClientRequest, RequestError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RequestError::NotJson(e.to_string()))?;
        if !value.is_object() {
            return Err(RequestError::NotAnObject);
        }
        let body = value;
        let model = match body.get("model") {
            None | Some(Value::Null) => return Err(RequestError::MissingModel),
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(RequestError::ModelNotString),
        };
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(RequestError::StreamNotBool),
        };
        Ok(ClientRequest {
            surface,
            model,
            stream,
            body,
        })
    }

    /// Whether an OpenAI streaming client asked for the final usage chunk itself. When it did
    /// not, the gateway still asks the provider for it (the audit log wants token counts) and
    /// removes it from what the client receives.
    pub fn client_wants_usage_chunk(&self) -> bool {
        self.body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// What the request uses that a directive may restrict on its own: tools, images, stream.
    pub fn capabilities(&self) -> BTreeSet<Capability> {
        let mut found = BTreeSet::new();
        if self.has_tools() {
            found.insert(Capability::Tools);
        }
        if self.has_images() {
            found.insert(Capability::Images);
        }
        if self.stream {
            found.insert(Capability::Stream);
        }
        found
    }

    /// The answer length the client asked for (`max_completion_tokens` or `max_tokens`).
    pub fn max_tokens(&self) -> Option<u64> {
        ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|field| self.body.get(*field).and_then(Value::as_u64))
    }

    /// Tool definitions in either API (`functions` is OpenAI's older spelling).
    fn has_tools(&self) -> bool {
        ["tools", "functions"].iter().any(|field| {
            self.body
                .get(*field)
                .and_then(Value::as_array)
                .is_some_and(|tools| !tools.is_empty())
        })
    }

    /// Image parts anywhere in the conversation, including inside Anthropic tool results.
    fn has_images(&self) -> bool {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .is_some_and(|messages| {
                messages
                    .iter()
                    .any(|m| m.get("content").is_some_and(content_has_image))
            })
    }

    /// The body to send upstream: the same fields, with the provider's model id.
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
        let mut body = self.body.clone();
        if let Value::Object(fields) = &mut body {
            fields.insert("model".into(), Value::String(upstream_model.to_string()));
        }
        if self.surface == ApiSurface::OpenaiChat
            && self.stream
            && !self.client_wants_usage_chunk()
            && let Value::Object(body_fields) = &mut body
        {
            let options = body_fields
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(options) = options {
                options.insert("include_usage".into(), Value::Bool(true));
            }
        }
        serde_json::to_vec(&body).expect("a JSON map always serialises")
    }

    /// The body for a provider speaking `target`, translated through the neutral model; what
    /// `target` cannot express is refused, never dropped.
    pub fn translated_body(
        &self,
        target: WireFormat,
        upstream_model: &str,
        options: &RenderOptions,
    ) -> Result<Vec<u8>, TranslateError> {
        let neutral = translate::parse_request(self.surface.into(), &self.body)?;
        let body = translate::render_request(target, &neutral, upstream_model, options)?;
        Ok(serde_json::to_vec(&body).expect("a JSON value always serialises"))
    }
}

/// Whether message content (a string, or an array of parts) holds an image part: OpenAI
/// `image_url` / `input_image`, Anthropic `image`, at any depth of nested content.
fn content_has_image(content: &Value) -> bool {
    let Some(parts) = content.as_array() else {
        return false;
    };
    parts.iter().any(|part| {
        let kind = part.get("type").and_then(Value::as_str);
        matches!(kind, Some("image_url" | "input_image" | "image"))
            || part.get("content").is_some_and(content_has_image)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_pass_through_in_order_with_the_upstream_model() {
        let raw = br#"{"zeta":1,"model":"mythos-5","messages":[{"role":"user","content":"hi"}],"vendor_x":{"a":true}}"#;
        let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw).unwrap();
        assert_eq!(request.model, "mythos-5");
        let upstream = String::from_utf8(request.upstream_body("claude-mythos-5")).unwrap();
        assert_eq!(
            upstream,
            r#"{"zeta":1,"model":"claude-mythos-5","messages":[{"role":"user","content":"hi"}],"vendor_x":{"a":true}}"#
        );
    }

    #[test]
    fn openai_streams_ask_upstream_for_usage() {
        let raw = br#"{"model":"m","stream":true}"#;
        let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw).unwrap();
        assert!(!request.client_wants_usage_chunk());
        let upstream: Value = serde_json::from_slice(&request.upstream_body("u")).unwrap();
        assert_eq!(upstream["stream_options"]["include_usage"], true);
    }

    #[test]
    fn capabilities_are_read_from_either_api() {
        let cases: [(ApiSurface, &str, &[Capability], Option<u64>); 5] = [
            (
                ApiSurface::OpenaiChat,
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                &[],
                None,
            ),
            (
                ApiSurface::OpenaiChat,
                r#"{"model":"m","stream":true,"max_completion_tokens":64,"tools":[{"type":"function","function":{"name":"f"}}],
                   "messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
                &[Capability::Tools, Capability::Images, Capability::Stream],
                Some(64),
            ),
            (
                ApiSurface::OpenaiChat,
                r#"{"model":"m","tools":[],"max_tokens":5}"#,
                &[],
                Some(5),
            ),
            (
                ApiSurface::AnthropicMessages,
                r#"{"model":"m","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}]}"#,
                &[Capability::Images],
                Some(1024),
            ),
            (
                ApiSurface::AnthropicMessages,
                r#"{"model":"m","max_tokens":1,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"messages":[]}"#,
                &[Capability::Tools],
                Some(1),
            ),
        ];
        for (surface, raw, expected, max_tokens) in cases {
            let request = ClientRequest::parse(surface, raw.as_bytes()).unwrap();
            let expected: BTreeSet<Capability> = expected.iter().copied().collect();
            assert_eq!(request.capabilities(), expected, "{raw}");
            assert_eq!(request.max_tokens(), max_tokens, "{raw}");
        }
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (b"{\"model\": ", "not valid JSON: EOF while parsing"),
            (b"[1,2]", "must be a JSON object"),
            (b"{\"messages\":[]}", "no `model` field"),
            (b"{\"model\":5}", "`model` must be a string"),
            (
                b"{\"model\":\"m\",\"stream\":\"yes\"}",
                "`stream` must be true or false",
            ),
        ];
        for (raw, expected) in cases {
            let error = ClientRequest::parse(ApiSurface::AnthropicMessages, raw)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
