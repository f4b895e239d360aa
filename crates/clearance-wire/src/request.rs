//! A client's request body: the few fields the gateway must understand, and the rewrite that
//! sends it to a provider. Every field the gateway does not read passes through untouched and
//! in its original order (serde_json's `preserve_order`), so new provider features work
//! without a gateway release.

use std::collections::BTreeSet;

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::chat::ChatRequest;
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
    /// The request asks for state the gateway does not keep: conversations, background
    /// responses, or (when it reaches the request's reading) a response to continue, which the
    /// gateway resolves before reading a request when it keeps responses.
    #[error(
        "`{field}` {what}: this gateway keeps no conversations and runs nothing in the \
         background; send the whole conversation in `input`, or continue a response the gateway \
         kept with `previous_response_id`"
    )]
    Stateful {
        field: &'static str,
        what: &'static str,
    },
    /// A Gemini request names content cached inside Google: what it holds (images, tools)
    /// cannot be read, so no directive could be applied to it.
    #[error(
        "`{field}` names a context cache kept inside Google, whose content the gateway cannot \
         read or check against its access directives; send the content in the request instead"
    )]
    CachedContent { field: &'static str },
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
            RequestError::Stateful { field, .. } | RequestError::CachedContent { field } => {
                Some(field)
            }
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

/// Tool definitions in every API (`functions` is OpenAI's older spelling; Gemini's function
/// declarations and built-in tools are elements of `tools` too).
const TOOL_FIELDS: &[&str] = &["tools", "functions"];

/// Content part types that carry an image: OpenAI `image_url` (and the Responses API's
/// `input_image`, Assistants' `image_file`), Anthropic `image`.
const IMAGE_PART_TYPES: &[&str] = &["image_url", "input_image", "image_file", "image"];

/// Gemini part fields that carry media (in both of Google's spellings): inline bytes and
/// files by URI. Either is `images` whatever its MIME type says: Gemini reads images out of
/// PDFs and video frames too.
const GEMINI_MEDIA_FIELDS: &[&str] = &["inlineData", "inline_data", "fileData", "file_data"];

/// Gemini fields that hold a `Content` object or a list of them, in both spellings.
const GEMINI_SYSTEM_FIELDS: &[&str] = &["systemInstruction", "system_instruction"];

/// A function result's own parts (Gemini 3 returns images from tools this way).
const GEMINI_RESPONSE_FIELDS: &[&str] = &["functionResponse", "function_response"];

/// Gemini's context cache, in both spellings.
const GEMINI_CACHE_FIELDS: &[&str] = &["cachedContent", "cached_content"];

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
    /// A request whose body names the model and whether to stream (`model`, `stream`): every
    /// surface but Gemini, whose path says both (see [`ClientRequest::parse_gemini`]).
    pub fn parse(surface: ApiSurface, bytes: &[u8]) -> Result<ClientRequest, RequestError> {
        let body = json_object(bytes)?;
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
        if surface == ApiSurface::OpenaiResponses {
            refuse_stateful(&body)?;
        }
        if stream && surface.operation() != clearance_core::api::Operation::Generate {
            return Err(RequestError::InvalidField {
                field: "stream".into(),
                reason: "cannot be true here: this endpoint answers once, never as a stream",
            });
        }
        ClientRequest::with_facts(surface, model, stream, body)
    }

    /// A Gemini `generateContent` (`stream` false) or `streamGenerateContent` (`stream` true)
    /// request for the model named in its path (with or without the `models/` prefix). The
    /// body is a `GenerateContentRequest`; a `model` field in it is not read, and is not sent
    /// on (the provider's model id goes in the provider's URL).
    pub fn parse_gemini(
        model: &str,
        stream: bool,
        bytes: &[u8],
    ) -> Result<ClientRequest, RequestError> {
        let body = json_object(bytes)?;
        let model = model.strip_prefix("models/").unwrap_or(model);
        if model.is_empty() {
            return Err(RequestError::MissingModel);
        }
        if let Some(fields) = body.as_object()
            && let Some(field) = GEMINI_CACHE_FIELDS
                .iter()
                .find(|f| given(fields, f).is_some())
        {
            return Err(RequestError::CachedContent { field });
        }
        ClientRequest::with_facts(ApiSurface::Gemini, model.to_string(), stream, body)
    }

    /// Reads the facts a directive may use from `body` (a JSON object) as `surface` has it.
    fn with_facts(
        surface: ApiSurface,
        model: String,
        stream: bool,
        body: Value,
    ) -> Result<ClientRequest, RequestError> {
        let max_tokens = read_max_tokens(&body)?;
        let mut capabilities = BTreeSet::new();
        if read_has_tools(surface, &body)? {
            capabilities.insert(Capability::Tools);
        }
        if read_has_images(surface, &body)? {
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

    /// The body to send upstream: the same fields, with the provider's model id (a Gemini
    /// body without any: Gemini takes the model in the URL, so a `model` field is removed
    /// rather than left to contradict it).
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
        let mut body = self.body.clone();
        if let Value::Object(fields) = &mut body {
            if self.surface == ApiSurface::Gemini {
                fields.shift_remove("model");
            } else {
                fields.insert("model".into(), Value::String(upstream_model.to_string()));
            }
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
        render_neutral(&self.neutral()?, target, upstream_model, options)
    }

    /// The body as the client sent it (a JSON object).
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The request in the neutral model (what every translation starts from): read once per
    /// request by the gateway, which renders it for each model it tries.
    pub fn neutral(&self) -> Result<ChatRequest, TranslateError> {
        let mut neutral = translate::parse_request(self.surface.into(), &self.body)?;
        // Gemini says these in its path, not in its body.
        neutral.model.clone_from(&self.model);
        neutral.stream = self.stream;
        Ok(neutral)
    }
}

/// A body for a provider speaking `target`, written from the neutral request; what `target`
/// cannot express is refused, never dropped.
pub fn render_neutral(
    neutral: &ChatRequest,
    target: WireFormat,
    upstream_model: &str,
    options: &RenderOptions,
) -> Result<Vec<u8>, TranslateError> {
    let body = translate::render_request(target, neutral, upstream_model, options)?;
    Ok(serde_json::to_vec(&body).expect("a JSON value always serialises"))
}

/// The body as a JSON object.
fn json_object(bytes: &[u8]) -> Result<Value, RequestError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| RequestError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(RequestError::NotAnObject);
    }
    Ok(value)
}

/// OpenAI Responses fields that look up state the request does not carry. The gateway sends
/// every Responses request to a provider of another API, which keeps nothing: these are
/// refused rather than dropped (the answer would silently lack the earlier turns, or never be
/// retrievable). `store` is not among them: whether an answer is kept is the gateway's to
/// decide before the request is read, and so is `previous_response_id`, which it replaces by
/// the conversation it names; one left in the body is refused here.
fn refuse_stateful(body: &Value) -> Result<(), RequestError> {
    let Some(fields) = body.as_object() else {
        return Ok(());
    };
    let refused = [
        (
            "previous_response_id",
            given(fields, "previous_response_id").is_some(),
            "names a response that was not read before this request",
        ),
        (
            "conversation",
            given(fields, "conversation").is_some(),
            "continues a conversation stored at the provider",
        ),
        (
            "background",
            given(fields, "background").is_some_and(|v| v != &Value::Bool(false)),
            "asks for a response to be fetched later",
        ),
    ];
    match refused.into_iter().find(|(_, refused, _)| *refused) {
        Some((field, _, what)) => Err(RequestError::Stateful { field, what }),
        None => Ok(()),
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

/// Whether the body defines a tool: a non-empty `tools` or `functions` array (any tool: a
/// function, or a provider's built-in tool such as Gemini's `googleSearch`). Either field,
/// present and not an array, is refused (a provider would refuse it too; reading it as "no
/// tools" would let it past a tools directive). A Gemini `tools` list must hold objects, and
/// their `functionDeclarations` must be arrays.
fn read_has_tools(surface: ApiSurface, body: &Value) -> Result<bool, RequestError> {
    let Some(fields) = body.as_object() else {
        return Ok(false);
    };
    let mut found = false;
    for field in TOOL_FIELDS {
        match given(fields, field) {
            None => {}
            Some(Value::Array(tools)) => {
                found |= !tools.is_empty();
                if surface == ApiSurface::Gemini && *field == "tools" {
                    check_gemini_tools(tools)?;
                }
            }
            Some(_) => return Err(invalid(*field, "must be an array")),
        }
    }
    Ok(found)
}

fn check_gemini_tools(tools: &[Value]) -> Result<(), RequestError> {
    for (i, tool) in tools.iter().enumerate() {
        let Value::Object(tool) = tool else {
            return Err(invalid(format!("tools[{i}]"), "must be a JSON object"));
        };
        for name in ["functionDeclarations", "function_declarations"] {
            match given(tool, name) {
                None | Some(Value::Array(_)) => {}
                Some(_) => return Err(invalid(format!("tools[{i}].{name}"), "must be an array")),
            }
        }
    }
    Ok(())
}

/// Whether the request holds an image, wherever `surface`'s body can carry one: in `messages`
/// (OpenAI Chat Completions, Anthropic; read for every surface), in Responses' `input` and
/// `instructions`, in Gemini's `contents` and `systemInstruction`.
fn read_has_images(surface: ApiSurface, body: &Value) -> Result<bool, RequestError> {
    let Some(fields) = body.as_object() else {
        return Ok(false);
    };
    let mut found = read_messages_images(fields)?;
    match surface {
        ApiSurface::OpenaiChat
        | ApiSurface::AnthropicMessages
        | ApiSurface::AnthropicCountTokens
        | ApiSurface::OpenaiEmbeddings => {}
        ApiSurface::OpenaiResponses => found |= read_responses_images(fields)?,
        ApiSurface::Gemini => found |= read_gemini_images(fields)?,
    }
    Ok(found)
}

/// Whether any message holds an image part, at any depth of nested content (Anthropic tool
/// results carry content of their own). The structure an image could hide in is checked as
/// the providers check it: `messages` an array of objects, each `content` a string or an
/// array of objects with a string `type`.
fn read_messages_images(fields: &Map<String, Value>) -> Result<bool, RequestError> {
    let Some(messages) = given(fields, "messages") else {
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

/// OpenAI Responses: `input` is a string or an array of item objects; an item's `content` (a
/// message) and `output` (a function call's result) are strings or arrays of typed parts, and
/// a part of type `input_image` (any of [`IMAGE_PART_TYPES`]) is an image. `instructions` is a
/// string (an array is read as items).
fn read_responses_images(fields: &Map<String, Value>) -> Result<bool, RequestError> {
    let mut found = false;
    for name in ["input", "instructions"] {
        let items = match given(fields, name) {
            None | Some(Value::String(_)) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => return Err(invalid(name, "must be a string or an array of items")),
        };
        for (i, item) in items.iter().enumerate() {
            let Value::Object(item) = item else {
                return Err(invalid(format!("{name}[{i}]"), "must be a JSON object"));
            };
            for key in ["content", "output"] {
                if let Some(content) = given(item, key) {
                    found |= content_has_image(content, &format!("{name}[{i}].{key}"))?;
                }
            }
        }
    }
    Ok(found)
}

/// Gemini: `contents` is an array of `Content` objects and `systemInstruction` one `Content`
/// (or, as Google's parser also takes, an array of them); a `Content`'s `parts` is an array
/// of part objects; a part with `inlineData` or `fileData` (either spelling) is an image, and
/// a `functionResponse`'s own `parts` are read the same way.
fn read_gemini_images(fields: &Map<String, Value>) -> Result<bool, RequestError> {
    let mut found = false;
    if let Some(contents) = given(fields, "contents") {
        let Value::Array(contents) = contents else {
            return Err(invalid("contents", "must be an array"));
        };
        for (i, content) in contents.iter().enumerate() {
            found |= gemini_content_has_image(content, &format!("contents[{i}]"))?;
        }
    }
    for name in GEMINI_SYSTEM_FIELDS {
        match given(fields, name) {
            None => {}
            Some(Value::Array(contents)) => {
                for (i, content) in contents.iter().enumerate() {
                    found |= gemini_content_has_image(content, &format!("{name}[{i}]"))?;
                }
            }
            Some(content) => found |= gemini_content_has_image(content, name)?,
        }
    }
    Ok(found)
}

fn gemini_content_has_image(content: &Value, path: &str) -> Result<bool, RequestError> {
    let Value::Object(content) = content else {
        return Err(invalid(path, "must be a JSON object"));
    };
    match given(content, "parts") {
        None => Ok(false),
        Some(parts) => gemini_parts_have_image(parts, &format!("{path}.parts")),
    }
}

fn gemini_parts_have_image(parts: &Value, path: &str) -> Result<bool, RequestError> {
    let Value::Array(parts) = parts else {
        return Err(invalid(path, "must be an array"));
    };
    let mut found = false;
    for (j, part) in parts.iter().enumerate() {
        let part_path = format!("{path}[{j}]");
        let Value::Object(part) = part else {
            return Err(invalid(part_path, "must be a JSON object"));
        };
        found |= GEMINI_MEDIA_FIELDS
            .iter()
            .any(|name| given(part, name).is_some());
        for name in GEMINI_RESPONSE_FIELDS {
            match given(part, name) {
                None => {}
                Some(Value::Object(response)) => {
                    if let Some(nested) = given(response, "parts") {
                        found |=
                            gemini_parts_have_image(nested, &format!("{part_path}.{name}.parts"))?;
                    }
                }
                Some(_) => {
                    return Err(invalid(
                        format!("{part_path}.{name}"),
                        "must be a JSON object",
                    ));
                }
            }
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
    use serde_json::json;

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

    fn gemini(model: &str, stream: bool, raw: &str) -> Result<ClientRequest, RequestError> {
        ClientRequest::parse_gemini(model, stream, raw.as_bytes())
    }

    #[test]
    fn gemini_model_and_stream_come_from_the_path() {
        let raw = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        let request = gemini("models/gemini-flash", true, raw).unwrap();
        assert_eq!(request.model, "gemini-flash");
        assert!(request.stream);
        assert_eq!(request.capabilities(), [Capability::Stream].into());
        assert_eq!(request.surface, ApiSurface::Gemini);
        let request = gemini("gemini-flash", false, raw).unwrap();
        assert_eq!(request.model, "gemini-flash");
        assert!(request.capabilities().is_empty());
        assert_eq!(
            gemini("models/", false, raw).unwrap_err(),
            RequestError::MissingModel
        );
        assert_eq!(
            gemini("m", false, "[1]").unwrap_err(),
            RequestError::NotAnObject
        );
        // A `model` in the body is neither read nor sent on: the provider's URL names it.
        let request = gemini("m", false, r#"{"model":"models/other","contents":[]}"#).unwrap();
        assert_eq!(request.model, "m");
        assert_eq!(
            request.upstream_body("gemini-3-flash"),
            br#"{"contents":[]}"#
        );
    }

    #[test]
    fn gemini_capabilities_are_read_from_its_own_fields() {
        let cases: [(&str, &[Capability], Option<u64>); 9] = [
            (
                r#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":64}}"#,
                &[],
                Some(64),
            ),
            (
                r#"{"tools":[{"functionDeclarations":[{"name":"f"}]}],"contents":[]}"#,
                &[Capability::Tools],
                None,
            ),
            (
                r#"{"tools":[{"googleSearch":{}}]}"#,
                &[Capability::Tools],
                None,
            ),
            (r#"{"tools":[]}"#, &[], None),
            (
                r#"{"contents":[{"role":"user","parts":[{"text":"x"},{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"contents":[{"role":"user","parts":[{"file_data":{"file_uri":"gs://b/x.png"}}]}]}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"system_instruction":{"parts":[{"inline_data":{"mime_type":"image/png","data":"AA=="}}]}}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{},"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}]}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generation_config":{"max_output_tokens":9},"max_tokens":9}"#,
                &[],
                Some(9),
            ),
        ];
        for (raw, expected, max_tokens) in cases {
            let request = gemini("m", false, raw).unwrap();
            let expected: BTreeSet<Capability> = expected.iter().copied().collect();
            assert_eq!(request.capabilities(), expected, "{raw}");
            assert_eq!(request.max_tokens(), max_tokens, "{raw}");
        }
    }

    #[test]
    fn malformed_gemini_bodies_are_refused_where_a_fact_could_hide() {
        let cases = [
            (r#"{"contents":{"parts":[]}}"#, "contents"),
            (r#"{"contents":[5]}"#, "contents[0]"),
            (
                r#"{"contents":[{"parts":{"inlineData":{}}}]}"#,
                "contents[0].parts",
            ),
            (r#"{"contents":[{"parts":["x"]}]}"#, "contents[0].parts[0]"),
            (
                r#"{"contents":[{"parts":[{"functionResponse":"x"}]}]}"#,
                "contents[0].parts[0].functionResponse",
            ),
            (
                r#"{"contents":[{"parts":[{"functionResponse":{"name":"f","parts":{}}}]}]}"#,
                "contents[0].parts[0].functionResponse.parts",
            ),
            (r#"{"systemInstruction":"be brief"}"#, "systemInstruction"),
            (r#"{"tools":{"functionDeclarations":[]}}"#, "tools"),
            (r#"{"tools":["f"]}"#, "tools[0]"),
            (
                r#"{"tools":[{"functionDeclarations":{"name":"f"}}]}"#,
                "tools[0].functionDeclarations",
            ),
            (
                r#"{"generationConfig":{"maxOutputTokens":"64"}}"#,
                "generationConfig.maxOutputTokens",
            ),
            (r#"{"cachedContent":"cachedContents/abc"}"#, "cachedContent"),
            (
                r#"{"cached_content":"cachedContents/abc"}"#,
                "cached_content",
            ),
        ];
        for (raw, param) in cases {
            let error = gemini("m", false, raw).unwrap_err();
            assert_eq!(error.param(), Some(param), "{raw}: {error}");
        }
        for raw in [
            r#"{"contents":null,"systemInstruction":null,"tools":null,"cachedContent":null}"#,
            r#"{"contents":[{"role":"user"}],"systemInstruction":{"parts":[{"text":"x"}]}}"#,
        ] {
            let request = gemini("m", false, raw).unwrap();
            assert!(request.capabilities().is_empty(), "{raw}");
        }
    }

    fn responses(raw: &str) -> Result<ClientRequest, RequestError> {
        ClientRequest::parse(ApiSurface::OpenaiResponses, raw.as_bytes())
    }

    #[test]
    fn responses_capabilities_are_read_from_input_tools_and_max_output_tokens() {
        let cases: [(&str, &[Capability], Option<u64>); 6] = [
            (r#"{"model":"m","input":"hi"}"#, &[], None),
            (
                r#"{"model":"m","input":"hi","stream":true,"max_output_tokens":32}"#,
                &[Capability::Stream],
                Some(32),
            ),
            (
                r#"{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":{}}]}"#,
                &[Capability::Tools],
                None,
            ),
            (
                r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,AA=="}]}]}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x/y.png"}]}]}"#,
                &[Capability::Images],
                None,
            ),
            (
                r#"{"model":"m","instructions":"be brief","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}]}"#,
                &[],
                None,
            ),
        ];
        for (raw, expected, max_tokens) in cases {
            let request = responses(raw).unwrap();
            let expected: BTreeSet<Capability> = expected.iter().copied().collect();
            assert_eq!(request.capabilities(), expected, "{raw}");
            assert_eq!(request.max_tokens(), max_tokens, "{raw}");
        }
        for (raw, param) in [
            (r#"{"model":"m","input":5}"#, "input"),
            (r#"{"model":"m","input":["hi"]}"#, "input[0]"),
            (
                r#"{"model":"m","input":[{"role":"user","content":[{"image_url":"x"}]}]}"#,
                "input[0].content[0].type",
            ),
            (
                r#"{"model":"m","input":[{"type":"function_call_output","output":7}]}"#,
                "input[0].output",
            ),
            (
                r#"{"model":"m","instructions":{"text":"x"}}"#,
                "instructions",
            ),
            (r#"{"model":"m","tools":{}}"#, "tools"),
            (
                r#"{"model":"m","max_output_tokens":1.5}"#,
                "max_output_tokens",
            ),
        ] {
            let error = responses(raw).unwrap_err();
            assert_eq!(error.param(), Some(param), "{raw}: {error}");
        }
    }

    #[test]
    fn responses_state_kept_at_the_provider_is_refused_by_name() {
        for (fields, param) in [
            (
                r#""previous_response_id":"resp_123""#,
                "previous_response_id",
            ),
            (r#""conversation":"conv_1""#, "conversation"),
            (r#""conversation":{"id":"conv_1"}"#, "conversation"),
            (r#""background":true"#, "background"),
        ] {
            let raw = format!(r#"{{"model":"m","input":"hi",{fields}}}"#);
            let error = responses(&raw).unwrap_err();
            assert_eq!(error.param(), Some(param), "{raw}");
            assert!(
                error.to_string().contains("keeps no conversations"),
                "{error}"
            );
        }
        for fields in [
            r#""store":true"#,
            r#""store":false"#,
            r#""store":null"#,
            r#""previous_response_id":null"#,
            r#""background":false"#,
        ] {
            let raw = format!(r#"{{"model":"m","input":"hi",{fields}}}"#);
            responses(&raw).unwrap();
        }
        // The other surfaces have no such fields: an OpenAI Chat `store` is OpenAI's own.
        ClientRequest::parse(ApiSurface::OpenaiChat, br#"{"model":"m","store":true}"#).unwrap();
    }

    /// Arbitrary JSON over the keys Gemini and Responses bodies hide images in.
    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u32..5).prop_map(Value::from),
            prop::sample::select(vec!["input_image", "input_text", "text", "user", ""])
                .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            let key = prop::sample::select(vec![
                "parts",
                "inlineData",
                "inline_data",
                "fileData",
                "file_data",
                "functionResponse",
                "function_response",
                "text",
                "role",
                "type",
                "content",
                "output",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    /// Gemini `contents`: arbitrary JSON, or turns of parts whose fields are drawn from those
    /// that carry media (nested in function responses too), with arbitrary values.
    fn gemini_contents() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let field = prop::sample::select(vec![
            "inlineData",
            "inline_data",
            "fileData",
            "file_data",
            "text",
            "thought",
        ]);
        let flat_part = prop::collection::btree_map(field, arbitrary_json(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        let part = flat_part.prop_recursive(2, 12, 3, |inner| {
            let response = prop_oneof![
                arbitrary_json(),
                prop::collection::vec(inner, 0..3)
                    .prop_map(|parts| json!({"name": "f", "parts": parts})),
            ];
            (
                prop::sample::select(vec!["functionResponse", "function_response"]),
                response,
            )
                .prop_map(|(key, response)| json!({ key: response }))
        });
        let parts = prop_oneof![
            3 => prop::collection::vec(part, 0..4).prop_map(Value::Array),
            1 => arbitrary_json(),
        ];
        let content = prop_oneof![
            3 => parts.prop_map(|parts| json!({"role": "user", "parts": parts})),
            1 => arbitrary_json(),
        ];
        prop_oneof![
            3 => prop::collection::vec(content, 0..4).prop_map(Value::Array),
            1 => arbitrary_json(),
        ]
    }

    /// Responses `input`: arbitrary JSON, or items whose `content` or `output` are typed parts.
    fn responses_input() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let kind = prop_oneof![
            4 => prop::sample::select(vec!["input_image", "input_text", "image_url", "input_file"])
                .prop_map(|k| Value::String(k.to_string())),
            1 => arbitrary_json(),
        ];
        let part = (kind, proptest::option::of(arbitrary_json())).prop_map(|(kind, content)| {
            let mut part = json!({ "type": kind });
            if let Some(content) = content {
                part["content"] = content;
            }
            part
        });
        let content = prop_oneof![
            3 => prop::collection::vec(part, 0..4).prop_map(Value::Array),
            1 => arbitrary_json(),
        ];
        let item = (prop::sample::select(vec!["content", "output"]), content)
            .prop_map(|(key, content)| json!({ key: content }));
        let item = prop_oneof![3 => item, 1 => arbitrary_json()];
        prop_oneof![
            3 => prop::collection::vec(item, 0..4).prop_map(Value::Array),
            1 => arbitrary_json(),
        ]
    }

    /// Google's strict reading, written apart from the gateway's: `Err` where Google refuses.
    fn google_reads_images(contents: &Value) -> Result<bool, ()> {
        fn parts(value: &Value) -> Result<bool, ()> {
            let Value::Array(list) = value else {
                return Err(());
            };
            let mut images = false;
            for part in list {
                let part = part.as_object().ok_or(())?;
                let set = |k: &str| part.get(k).is_some_and(|v| !v.is_null());
                images |= ["inlineData", "inline_data", "fileData", "file_data"]
                    .iter()
                    .any(|k| set(k));
                for k in ["functionResponse", "function_response"] {
                    match part.get(k) {
                        None | Some(Value::Null) => {}
                        Some(Value::Object(response)) => match response.get("parts") {
                            None | Some(Value::Null) => {}
                            Some(nested) => images |= parts(nested)?,
                        },
                        Some(_) => return Err(()),
                    }
                }
            }
            Ok(images)
        }
        match contents {
            Value::Null => Ok(false),
            Value::Array(contents) => {
                let mut images = false;
                for content in contents {
                    match content.as_object().ok_or(())?.get("parts") {
                        None | Some(Value::Null) => {}
                        Some(p) => images |= parts(p)?,
                    }
                }
                Ok(images)
            }
            _ => Err(()),
        }
    }

    /// OpenAI's strict reading of Responses `input`: `Err` where OpenAI refuses.
    fn openai_reads_images(input: &Value) -> Result<bool, ()> {
        fn content(value: &Value) -> Result<bool, ()> {
            match value {
                Value::Null | Value::String(_) => Ok(false),
                Value::Array(parts) => {
                    let mut images = false;
                    for part in parts {
                        let part = part.as_object().ok_or(())?;
                        let kind = part.get("type").and_then(Value::as_str).ok_or(())?;
                        images |= IMAGE_PART_TYPES.contains(&kind);
                        if let Some(nested) = part.get("content") {
                            images |= content(nested)?;
                        }
                    }
                    Ok(images)
                }
                _ => Err(()),
            }
        }
        match input {
            Value::Null | Value::String(_) => Ok(false),
            Value::Array(items) => {
                let mut images = false;
                for item in items {
                    let item = item.as_object().ok_or(())?;
                    for key in ["content", "output"] {
                        if let Some(value) = item.get(key) {
                            images |= content(value)?;
                        }
                    }
                }
                Ok(images)
            }
            _ => Err(()),
        }
    }

    proptest::proptest! {
        /// Whatever `contents` holds, the gateway reads exactly the images Google's strict
        /// reading finds, or refuses what Google would refuse.
        #[test]
        fn gemini_images_are_read_as_google_reads_them_or_refused(contents in gemini_contents()) {
            let raw = json!({"contents": contents}).to_string();
            let expected = google_reads_images(&contents);
            match ClientRequest::parse_gemini("m", false, raw.as_bytes()) {
                Ok(request) => proptest::prop_assert_eq!(
                    Ok(request.capabilities().contains(&Capability::Images)),
                    expected,
                    "{}", raw
                ),
                Err(error) => proptest::prop_assert!(expected.is_err(), "{raw}: {error}"),
            }
        }

        /// The same for a Responses `input`.
        #[test]
        fn responses_images_are_read_as_openai_reads_them_or_refused(input in responses_input()) {
            let raw = json!({"model": "m", "input": input}).to_string();
            let expected = openai_reads_images(&input);
            match ClientRequest::parse(ApiSurface::OpenaiResponses, raw.as_bytes()) {
                Ok(request) => proptest::prop_assert_eq!(
                    Ok(request.capabilities().contains(&Capability::Images)),
                    expected,
                    "{}", raw
                ),
                Err(error) => proptest::prop_assert!(expected.is_err(), "{raw}: {error}"),
            }
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
