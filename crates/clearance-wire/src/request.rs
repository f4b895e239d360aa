//! A client's request body: the few fields the gateway must understand, and the rewrite that
//! sends it to a provider. Every field the gateway does not read passes through untouched and
//! in its original order (serde_json's `preserve_order`), so new provider features work
//! without a gateway release.

use clearance_core::api::ApiSurface;
use serde_json::{Map, Value};

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
    body: Map<String, Value>,
}

impl ClientRequest {
    pub fn parse(surface: ApiSurface, bytes: &[u8]) -> Result<ClientRequest, RequestError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RequestError::NotJson(e.to_string()))?;
        let Value::Object(body) = value else {
            return Err(RequestError::NotAnObject);
        };
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

    /// The body to send upstream: the same fields, with the provider's model id.
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(upstream_model.to_string()));
        if self.surface == ApiSurface::OpenaiChat && self.stream && !self.client_wants_usage_chunk()
        {
            let options = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(options) = options {
                options.insert("include_usage".into(), Value::Bool(true));
            }
        }
        serde_json::to_vec(&body).expect("a JSON map always serialises")
    }
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
