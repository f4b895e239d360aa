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
    /// A field a directive may read holds a value the gateway cannot read exactly as a
    /// provider would; refused rather than read as absent.
    #[error("`{field}` {reason}")]
    InvalidField { field: String, reason: &'static str },
    /// Two fields that set the answer length limit disagree: which one a provider honours
    /// differs between providers, so no single fact can be read.
    #[error(
        "`{first}` is {first_value} but `{second}` is {second_value}: both set the answer length limit; \
         send one of them, or the same value in both"
    )]
    ConflictingLimits {
        first: &'static str,
        first_value: u64,
        second: &'static str,
        second_value: u64,
    },
}

impl RequestError {
    /// The request field the error is about (OpenAI's `param`).
    pub fn param(&self) -> Option<&str> {
        match self {
            RequestError::NotJson(_) | RequestError::NotAnObject => None,
            RequestError::MissingModel | RequestError::ModelNotString => Some("model"),
            RequestError::StreamNotBool => Some("stream"),
            RequestError::InvalidField { field, .. } => Some(field),
            RequestError::ConflictingLimits { second, .. } => Some(second),
        }
    }
}

/// Every field that sets the answer length limit in some provider's API, as a path from the
/// body: OpenAI Chat Completions (`max_completion_tokens`, and the older `max_tokens`, which
/// OpenAI-compatible servers read), Anthropic (`max_tokens`), OpenAI Responses and
/// OpenAI-compatible servers (`max_output_tokens`), Gemini (`generationConfig.maxOutputTokens`,
/// which Google's JSON parser also takes in snake case). A body passes through to the provider
/// with every field it has, so every one of them is read, whichever API the client speaks.
const LIMIT_FIELDS: &[(&str, &[&str])] = &[
    ("max_completion_tokens", &["max_completion_tokens"]),
    ("max_tokens", &["max_tokens"]),
    ("max_output_tokens", &["max_output_tokens"]),
    (
        "generationConfig.maxOutputTokens",
        &["generationConfig", "maxOutputTokens"],
    ),
    (
        "generationConfig.max_output_tokens",
        &["generationConfig", "max_output_tokens"],
    ),
    (
        "generation_config.maxOutputTokens",
        &["generation_config", "maxOutputTokens"],
    ),
    (
        "generation_config.max_output_tokens",
        &["generation_config", "max_output_tokens"],
    ),
];

/// Objects that hold a limit field; present, they must be objects.
const LIMIT_CONTAINERS: &[&str] = &["generationConfig", "generation_config"];

/// Tool definitions in either API (`functions` is OpenAI's older spelling).
const TOOL_FIELDS: &[&str] = &["tools", "functions"];

/// Content part types that carry an image: OpenAI `image_url` (and the Responses API's
/// `input_image`, Assistants' `image_file`), Anthropic `image`.
const IMAGE_PART_TYPES: &[&str] = &["image_url", "input_image", "image_file", "image"];

const NOT_A_COUNT: &str = "must be a non-negative integer written as a JSON integer \
     (not a string, and without a fraction or exponent)";

/// A parsed client request.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub surface: ApiSurface,
    /// The model name the client asked for.
    pub model: String,
    pub stream: bool,
    /// What the request uses, read once when it is parsed.
    capabilities: BTreeSet<Capability>,
    /// The answer length limit every limit field agrees on, if any is set.
    max_tokens: Option<u64>,
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
        let max_tokens = read_max_tokens(&body)?;
        let mut capabilities = BTreeSet::new();
        if read_has_tools(&body)? {
            capabilities.insert(Capability::Tools);
        }
        if read_has_images(&body)? {
            capabilities.insert(Capability::Images);
        }
        if stream {
            capabilities.insert(Capability::Stream);
        }
        Ok(ClientRequest {
            surface,
            model,
            stream,
            capabilities,
            max_tokens,
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
        self.capabilities.clone()
    }

    /// The answer length the client asked for: the value of every limit field it set (they
    /// must agree), `None` when it set none.
    pub fn max_tokens(&self) -> Option<u64> {
        self.max_tokens
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

/// A field as a provider reads it: absent and JSON `null` are both "not given" (every API
/// accepts `null` for an optional field).
fn given<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn invalid(field: impl Into<String>, reason: &'static str) -> RequestError {
    RequestError::InvalidField {
        field: field.into(),
        reason,
    }
}

/// The answer length limit from every field that sets it. Each must be a JSON integer of at
/// least 0 (`5000.0`, `5e3` and `"5000"` are refused: serde_json reads the first two as floats,
/// and a provider that does not read them as 5000 would answer with its own default), and all
/// that are set must agree.
fn read_max_tokens(body: &Value) -> Result<Option<u64>, RequestError> {
    let Some(fields) = body.as_object() else {
        return Ok(None);
    };
    for container in LIMIT_CONTAINERS {
        if given(fields, container).is_some_and(|v| !v.is_object()) {
            return Err(invalid(*container, "must be a JSON object"));
        }
    }
    let mut agreed: Option<(&'static str, u64)> = None;
    for &(name, path) in LIMIT_FIELDS {
        let Some(value) = path
            .iter()
            .try_fold(body, |at, key| at.as_object().and_then(|o| given(o, key)))
        else {
            continue;
        };
        // `as_u64` is `Some` only for a JSON integer (serde_json reads `5000.0` and `5e3` as
        // floats) of at least 0.
        let Some(limit) = value.as_u64() else {
            return Err(invalid(name, NOT_A_COUNT));
        };
        match agreed {
            None => agreed = Some((name, limit)),
            Some((first, first_value)) if first_value != limit => {
                return Err(RequestError::ConflictingLimits {
                    first,
                    first_value,
                    second: name,
                    second_value: limit,
                });
            }
            Some(_) => {}
        }
    }
    Ok(agreed.map(|(_, limit)| limit))
}

/// Whether the body defines a tool: a non-empty `tools` or `functions` array. Either field,
/// present and not an array, is refused (a provider would refuse it too; reading it as "no
/// tools" would let it past a tools directive).
fn read_has_tools(body: &Value) -> Result<bool, RequestError> {
    let Some(fields) = body.as_object() else {
        return Ok(false);
    };
    let mut found = false;
    for field in TOOL_FIELDS {
        match given(fields, field) {
            None => {}
            Some(Value::Array(tools)) => found |= !tools.is_empty(),
            Some(_) => return Err(invalid(*field, "must be an array")),
        }
    }
    Ok(found)
}

/// Whether any message holds an image part, at any depth of nested content (Anthropic tool
/// results carry content of their own). The structure an image could hide in is checked as
/// the providers check it: `messages` an array of objects, each `content` a string or an
/// array of objects with a string `type`.
fn read_has_images(body: &Value) -> Result<bool, RequestError> {
    let Some(messages) = body.as_object().and_then(|o| given(o, "messages")) else {
        return Ok(false);
    };
    let Value::Array(messages) = messages else {
        return Err(invalid("messages", "must be an array"));
    };
    let mut found = false;
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(invalid(format!("messages[{i}]"), "must be a JSON object"));
        };
        if let Some(content) = given(message, "content") {
            found |= content_has_image(content, &format!("messages[{i}].content"))?;
        }
    }
    Ok(found)
}

/// Whether message content (a string, or an array of parts) holds an image part: one of
/// [`IMAGE_PART_TYPES`], at any depth of nested content.
fn content_has_image(content: &Value, path: &str) -> Result<bool, RequestError> {
    let parts = match content {
        Value::String(_) => return Ok(false),
        Value::Array(parts) => parts,
        _ => {
            return Err(invalid(
                path,
                "must be a string or an array of content parts",
            ));
        }
    };
    let mut found = false;
    for (j, part) in parts.iter().enumerate() {
        let part_path = format!("{path}[{j}]");
        let Value::Object(part) = part else {
            return Err(invalid(part_path, "must be a JSON object"));
        };
        match part.get("type") {
            Some(Value::String(kind)) => found |= IMAGE_PART_TYPES.contains(&kind.as_str()),
            _ => return Err(invalid(format!("{part_path}.type"), "must be a string")),
        }
        if let Some(nested) = given(part, "content") {
            found |= content_has_image(nested, &format!("{part_path}.content"))?;
        }
    }
    Ok(found)
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

    fn refusal(surface: ApiSurface, raw: &str) -> RequestError {
        match ClientRequest::parse(surface, raw.as_bytes()) {
            Ok(_) => panic!("accepted: {raw}"),
            Err(error) => error,
        }
    }

    #[test]
    fn a_token_limit_must_be_a_json_integer_of_at_least_zero() {
        for surface in [ApiSurface::OpenaiChat, ApiSurface::AnthropicMessages] {
            for field in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
                for value in [
                    "5000.0",
                    "\"5000\"",
                    "5e3",
                    "5E3",
                    "5000e0",
                    "-1",
                    "-0.5",
                    "18446744073709551616",
                    "true",
                    "[5000]",
                    "{\"value\":5000}",
                ] {
                    let raw = format!(r#"{{"model":"m","{field}":{value},"messages":[]}}"#);
                    let error = refusal(surface, &raw);
                    assert_eq!(error.param(), Some(field), "{raw}");
                    assert!(
                        error.to_string().contains("must be a non-negative integer"),
                        "{error}"
                    );
                }
                let raw = format!(r#"{{"model":"m","{field}":5000}}"#);
                let request = ClientRequest::parse(surface, raw.as_bytes()).unwrap();
                assert_eq!(request.max_tokens(), Some(5000), "{raw}");
                let raw = format!(r#"{{"model":"m","{field}":null}}"#);
                let request = ClientRequest::parse(surface, raw.as_bytes()).unwrap();
                assert_eq!(request.max_tokens(), None, "{raw}");
            }
        }
    }

    #[test]
    fn geminis_limit_is_read_in_either_spelling_and_its_container_must_be_an_object() {
        for (raw, expected) in [
            (
                r#"{"model":"m","generationConfig":{"maxOutputTokens":7}}"#,
                Some(7),
            ),
            (
                r#"{"model":"m","generationConfig":{"max_output_tokens":7}}"#,
                Some(7),
            ),
            (
                r#"{"model":"m","generation_config":{"maxOutputTokens":7}}"#,
                Some(7),
            ),
            (
                r#"{"model":"m","generation_config":{"max_output_tokens":7}}"#,
                Some(7),
            ),
            (
                r#"{"model":"m","generationConfig":{"temperature":1}}"#,
                None,
            ),
            (r#"{"model":"m","generationConfig":null}"#, None),
        ] {
            let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw.as_bytes()).unwrap();
            assert_eq!(request.max_tokens(), expected, "{raw}");
        }
        let error = refusal(
            ApiSurface::OpenaiChat,
            r#"{"model":"m","generationConfig":{"maxOutputTokens":5000.0}}"#,
        );
        assert_eq!(error.param(), Some("generationConfig.maxOutputTokens"));
        for container in ["generationConfig", "generation_config"] {
            for value in ["\"x\"", "[]", "5"] {
                let raw = format!(r#"{{"model":"m","{container}":{value}}}"#);
                let error = refusal(ApiSurface::AnthropicMessages, &raw);
                assert_eq!(error.param(), Some(container), "{raw}");
            }
        }
    }

    #[test]
    fn limits_set_in_several_fields_must_agree() {
        let error = refusal(
            ApiSurface::OpenaiChat,
            r#"{"model":"m","max_completion_tokens":1,"max_tokens":5000}"#,
        );
        assert_eq!(
            error,
            RequestError::ConflictingLimits {
                first: "max_completion_tokens",
                first_value: 1,
                second: "max_tokens",
                second_value: 5000,
            }
        );
        assert_eq!(error.param(), Some("max_tokens"));
        // The order in the body does not matter.
        let error = refusal(
            ApiSurface::AnthropicMessages,
            r#"{"model":"m","max_tokens":5000,"max_completion_tokens":1}"#,
        );
        assert!(
            error
                .to_string()
                .contains("both set the answer length limit"),
            "{error}"
        );
        let error = refusal(
            ApiSurface::OpenaiChat,
            r#"{"model":"m","max_tokens":10,"generationConfig":{"maxOutputTokens":5000}}"#,
        );
        assert_eq!(error.param(), Some("generationConfig.maxOutputTokens"));
        // A malformed value is refused even beside a readable one.
        let error = refusal(
            ApiSurface::OpenaiChat,
            r#"{"model":"m","max_completion_tokens":1,"max_tokens":"5000"}"#,
        );
        assert_eq!(error.param(), Some("max_tokens"));
        // The same value in several fields is one limit; `null` is no value.
        let request = ClientRequest::parse(
            ApiSurface::OpenaiChat,
            br#"{"model":"m","max_completion_tokens":64,"max_tokens":64,"max_output_tokens":null}"#,
        )
        .unwrap();
        assert_eq!(request.max_tokens(), Some(64));
    }

    #[test]
    fn stream_must_be_a_boolean() {
        for value in ["\"true\"", "1", "0", "[]", "{}"] {
            let raw = format!(r#"{{"model":"m","stream":{value}}}"#);
            let error = refusal(ApiSurface::OpenaiChat, &raw);
            assert_eq!(error, RequestError::StreamNotBool, "{raw}");
            assert_eq!(error.param(), Some("stream"));
        }
        let request =
            ClientRequest::parse(ApiSurface::OpenaiChat, br#"{"model":"m","stream":null}"#)
                .unwrap();
        assert!(!request.stream);
        assert!(request.capabilities().is_empty());
    }

    #[test]
    fn malformed_tools_are_refused_not_read_as_no_tools() {
        for field in ["tools", "functions"] {
            for value in ["\"x\"", "{}", "{\"name\":\"f\"}", "1", "true"] {
                let raw = format!(r#"{{"model":"m","{field}":{value}}}"#);
                let error = refusal(ApiSurface::OpenaiChat, &raw);
                assert_eq!(error.param(), Some(field), "{raw}");
                assert_eq!(error.to_string(), format!("`{field}` must be an array"));
            }
            let raw = format!(r#"{{"model":"m","{field}":null}}"#);
            let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw.as_bytes()).unwrap();
            assert!(request.capabilities().is_empty(), "{raw}");
        }
        let request = ClientRequest::parse(
            ApiSurface::OpenaiChat,
            br#"{"model":"m","tools":[],"functions":[{"name":"f"}]}"#,
        )
        .unwrap();
        assert_eq!(request.capabilities(), [Capability::Tools].into());
    }

    #[test]
    fn malformed_messages_are_refused_where_an_image_could_hide() {
        let cases = [
            (r#""messages":"x""#, "messages"),
            (r#""messages":{"role":"user"}"#, "messages"),
            (r#""messages":[1]"#, "messages[0]"),
            (
                r#""messages":[{"role":"user","content":5}]"#,
                "messages[0].content",
            ),
            (
                r#""messages":[{"role":"user","content":{"type":"image"}}]"#,
                "messages[0].content",
            ),
            (
                r#""messages":[{"role":"user","content":["hi"]}]"#,
                "messages[0].content[0]",
            ),
            (
                r#""messages":[{"role":"user","content":[{"image_url":{"url":"https://x/y.png"}}]}]"#,
                "messages[0].content[0].type",
            ),
            (
                r#""messages":[{"role":"user","content":[{"type":["image"]}]}]"#,
                "messages[0].content[0].type",
            ),
            (
                r#""messages":[{"role":"user","content":"ok"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":7}]}]"#,
                "messages[1].content[0].content",
            ),
        ];
        for (fields, param) in cases {
            let raw = format!(r#"{{"model":"m",{fields}}}"#);
            let error = refusal(ApiSurface::AnthropicMessages, &raw);
            assert_eq!(error.param(), Some(param), "{raw}");
        }
        for fields in [
            r#""messages":null"#,
            r#""messages":[]"#,
            r#""messages":[{"role":"assistant","content":null,"tool_calls":[]}]"#,
            r#""messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]"#,
        ] {
            let raw = format!(r#"{{"model":"m",{fields}}}"#);
            let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw.as_bytes()).unwrap();
            assert!(request.capabilities().is_empty(), "{raw}");
        }
    }

    #[test]
    fn unknown_fields_still_pass_through_beside_the_facts() {
        let raw = br#"{"model":"m","max_tokens":64,"vendor_limit":"5000","generationConfig":{"maxOutputTokens":64,"x":[1.5]},"tools":[{"type":"function","function":{"name":"f"}}]}"#;
        let request = ClientRequest::parse(ApiSurface::OpenaiChat, raw).unwrap();
        assert_eq!(request.max_tokens(), Some(64));
        let upstream = String::from_utf8(request.upstream_body("m")).unwrap();
        assert_eq!(upstream.as_bytes(), raw);
    }
}
