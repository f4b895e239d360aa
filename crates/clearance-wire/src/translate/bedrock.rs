//! Amazon Bedrock's Converse API (`POST /model/{modelId}/converse` and `/converse-stream`) to
//! and from the neutral chat model, and the body Bedrock's `InvokeModel` takes for Anthropic
//! models ([`anthropic_invoke_body`]).
//!
//! What is particular to Converse, and how this module deals with it:
//! - The model and the streaming choice are in the URL: a parsed request has an empty `model`
//!   and `stream: false`, and a rendered body carries neither.
//! - Content blocks are objects with one member naming their kind (`{"text": ...}`,
//!   `{"toolUse": {...}}`); images travel as bytes (base64 in JSON) with a `format` (`png`,
//!   `jpeg`, `gif`, `webp`), never as web URLs.
//! - Sampling has a common set (`inferenceConfig`: `maxTokens`, `temperature`, `topP`,
//!   `stopSequences`) and a model-specific one (`additionalModelRequestFields`, passed to the
//!   model as it is). `top_k` is written there under Anthropic's name (`{"top_k": n}`), the
//!   one this gateway sends to Bedrock (Claude); it is the only model-specific field read back,
//!   and a model that has no such parameter refuses it upstream. Seed, penalties and JSON
//!   output modes have no place in Converse and are refused ([`TranslateError::Unsupported`]).
//! - `toolChoice` has no "none": a request that forbids tool calls is written without its
//!   tools (a model cannot call a tool it was not given) when the conversation holds no tool
//!   calls or results; Bedrock demands the tools beside those, so such a request is refused.
//! - Answers have no id and no model name; a stream is an Amazon event stream (read by
//!   [`crate::eventstream::EventStreamFramer::converse`], whose frames are named by each
//!   message's `:event-type`) that ends with `metadata` (the counts) after `messageStop`:
//!   [`Decoder`] ends the stream there, or at the close once a stop reason went by.
//!
//! Reading is strict: a field that changes the answer and has no neutral equivalent is refused
//! ([`TranslateError::Untranslatable`]), as is a field this module does not know; the fields
//! that are read and dropped are listed in [`IGNORED_FIELDS`].

pub(crate) mod errors;

use std::collections::HashMap;

use clearance_core::api::WireFormat;
use clearance_core::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, ToolDef, Usage,
};
use serde_json::{Map, Value, json};

use super::json::{Json, Wording, at, insert_some, invalid, present};
use super::{
    EncoderOptions, RenderOptions, StreamDecoder, StreamEncoder, TranslateError, push_turn,
    total_tokens,
};
use crate::eventstream::{encode_event, encode_exception};
use crate::sse::SseFrame;

/// Request fields that are read and dropped because they do not change what the model is
/// asked (the compatibility table in the docs can be generated from this list):
/// - `requestMetadata`: tags for Bedrock's invocation logs.
/// - `performanceConfig`, `serviceTier`: which of Bedrock's capacity serves, not what it says.
/// - `cachePoint` blocks (in `system`, `messages[].content`, `toolConfig.tools`): prompt-cache
///   checkpoints; they change cost and latency, not the answer.
/// - `reasoningContent` blocks in assistant history: the model's earlier reasoning, which does
///   not change what it is asked now (as Anthropic `thinking` blocks are dropped).
/// - `reasoningContent` blocks of an answer (and their stream deltas): reasoning behind the
///   answer, which other formats have no place for.
/// - `toolConfig.tools[].toolSpec.strict`: a schema-conformance hint for tool input.
pub const IGNORED_FIELDS: &[&str] = &[
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "system[].cachePoint",
    "messages[].content[].cachePoint",
    "toolConfig.tools[].cachePoint",
    "toolConfig.tools[].toolSpec.strict",
    "messages[] (assistant).content[].reasoningContent",
    "response output.message.content[].reasoningContent",
];

/// The `additionalModelRequestFields` member this module reads and writes: Anthropic's top-k.
pub const TOP_K_FIELD: &str = "top_k";

/// The `anthropic_version` Bedrock's `InvokeModel` demands of Anthropic Messages bodies.
pub const ANTHROPIC_BEDROCK_VERSION: &str = "bedrock-2023-05-31";

const REQUEST_FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
];
const IGNORED_REQUEST_FIELDS: &[&str] = &["requestMetadata", "performanceConfig", "serviceTier"];
/// Converse request fields that change the answer and exist in no other format.
const UNTRANSLATABLE_REQUEST_FIELDS: &[(&str, &str)] = &[
    (
        "guardrailConfig",
        "Bedrock guardrails run only inside Bedrock",
    ),
    (
        "additionalModelResponseFieldPaths",
        "model-specific answer fields have no translation",
    ),
    (
        "promptVariables",
        "prompts from Bedrock's Prompt management exist only in Bedrock",
    ),
    (
        "outputConfig",
        "Converse structured output has no translation here",
    ),
];

/// Every `stopReason` Bedrock documents, so that a neutral `Other` reason can be written back
/// under its own name when it is one of them.
const STOP_REASONS: &[&str] = &[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
];

/// The image formats Converse takes, with their media types.
const IMAGE_FORMATS: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
];

/// The exception an encoded stream reports a neutral error with.
const STREAM_ERROR_EXCEPTION: &str = "modelStreamErrorException";

// ---------------------------------------------------------------------------------------------
// Errors and field access
// ---------------------------------------------------------------------------------------------

/// Converse errors say what a value "must be"; a body that is not an object is named `body`.
const JSON: Json = Json {
    format: WireFormat::BedrockConverse,
    wording: &Wording::MUST,
    root: "body",
};

const NOT_A_FIELD: &str = "not a field of Bedrock's Converse API";

/// Refuses any key of `object` that is neither `known` nor `ignored`.
fn check_keys(
    object: &Map<String, Value>,
    path: &str,
    known: &[&str],
    ignored: &[&str],
) -> Result<(), TranslateError> {
    JSON.check_keys(
        object,
        path,
        |key, _| known.contains(&key) || ignored.contains(&key),
        |_| NOT_A_FIELD,
    )
}

/// The one member of a union object (a content block, a tool, a tool choice): its name, its
/// value and its path.
fn union_member<'a>(
    value: &'a Value,
    path: &str,
) -> Result<(&'a str, &'a Value, String), TranslateError> {
    let object = JSON.object(value, path)?;
    let mut members = object.iter().filter(|(_, value)| !value.is_null());
    match (members.next(), members.next()) {
        (Some((key, value)), None) => Ok((key.as_str(), value, at(path, key))),
        (None, _) => Err(invalid(path, "must hold exactly one member, not none")),
        (Some((first, _)), Some((second, _))) => Err(invalid(
            path,
            format!("must hold exactly one member, not both `{first}` and `{second}`"),
        )),
    }
}

/// The items of the array at `path`.
fn items<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], TranslateError> {
    Ok(JSON.array(value, path)?.as_slice())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: Converse → neutral
// ---------------------------------------------------------------------------------------------

/// Reads a Converse request body. The model and the streaming choice are in the URL: `model`
/// is left empty and `stream` false for the caller to fill in.
pub fn parse_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let body = JSON.object(body, "")?;
    check_request_fields(body)?;
    let mut request = ChatRequest {
        system: parse_system(present(body, "system"))?,
        messages: parse_messages(body)?,
        ..ChatRequest::default()
    };
    if let Some(config) = present(body, "toolConfig") {
        let (tools, choice) = parse_tool_config(config)?;
        request.tools = tools;
        request.tool_choice = choice;
    }
    if let Some(config) = present(body, "inferenceConfig") {
        read_inference_config(config, &mut request)?;
    }
    if let Some(fields) = present(body, "additionalModelRequestFields") {
        request.top_k = parse_additional_fields(fields)?;
    }
    Ok(request)
}

fn check_request_fields(body: &Map<String, Value>) -> Result<(), TranslateError> {
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        if let Some((_, why)) = UNTRANSLATABLE_REQUEST_FIELDS.iter().find(|(k, _)| k == key) {
            return Err(JSON.untranslatable(key.as_str(), *why));
        }
    }
    check_keys(body, "", REQUEST_FIELDS, IGNORED_REQUEST_FIELDS)
}

fn parse_system(system: Option<&Value>) -> Result<Vec<String>, TranslateError> {
    let Some(system) = system else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (i, block) in items(system, "system")?.iter().enumerate() {
        let path = format!("system[{i}]");
        match union_member(block, &path)? {
            ("text", text, field) => blocks.push(JSON.str(text, &field)?.to_string()),
            ("cachePoint", _, _) => {}
            ("guardContent", _, field) => {
                return Err(JSON.untranslatable(
                    field,
                    "content for Bedrock guardrails to check exists only in Bedrock",
                ));
            }
            (other, _, field) => {
                return Err(JSON.untranslatable(
                    field,
                    format!("a system block of kind `{other}` has no translation"),
                ));
            }
        }
    }
    Ok(blocks)
}

fn parse_messages(body: &Map<String, Value>) -> Result<Vec<Message>, TranslateError> {
    let messages = items(JSON.required(body, "", "messages")?, "messages")?;
    let mut parsed = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        if let Some(message) = parse_message(message, &format!("messages[{i}]"))? {
            parsed.push(message);
        }
    }
    Ok(parsed)
}

/// One message, or `None` for one that held only blocks dropped as documented.
fn parse_message(message: &Value, path: &str) -> Result<Option<Message>, TranslateError> {
    let message = JSON.object(message, path)?;
    check_keys(message, path, &["role", "content"], &[])?;
    let role = match JSON.required_str(message, path, "role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(invalid(
                at(path, "role"),
                format!("must be \"user\" or \"assistant\", not {other:?}"),
            ));
        }
    };
    let content_path = at(path, "content");
    let blocks = items(JSON.required(message, path, "content")?, &content_path)?;
    let mut content = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.iter().enumerate() {
        content.extend(parse_content_block(
            block,
            role,
            &format!("{content_path}[{j}]"),
        )?);
    }
    if content.is_empty() && !blocks.is_empty() {
        return Ok(None);
    }
    Ok(Some(Message { role, content }))
}

/// One content block of a `role` turn; `None` for a block dropped as documented.
fn parse_content_block(
    block: &Value,
    role: Role,
    path: &str,
) -> Result<Option<Part>, TranslateError> {
    let (kind, value, field) = union_member(block, path)?;
    match (kind, role) {
        ("text", _) => Ok(Some(Part::text(JSON.str(value, &field)?))),
        ("image", _) => Ok(Some(Part::Image {
            image: parse_image(value, &field)?,
        })),
        ("toolUse", Role::Assistant) => parse_tool_use(value, &field).map(Some),
        ("toolResult", Role::User) => parse_tool_result(value, &field).map(Some),
        ("cachePoint", _) | ("reasoningContent", Role::Assistant) => Ok(None),
        ("toolUse" | "toolResult" | "reasoningContent", _) => Err(invalid(
            field,
            format!(
                "a `{kind}` block cannot be part of a {} message",
                role_name(role)
            ),
        )),
        ("guardContent", _) => Err(JSON.untranslatable(
            field,
            "content for Bedrock guardrails to check exists only in Bedrock",
        )),
        ("document" | "video" | "audio" | "citationsContent" | "searchResult", _) => {
            Err(JSON.untranslatable(field, format!("`{kind}` content has no translation")))
        }
        _ => Err(JSON.untranslatable(field, NOT_A_FIELD)),
    }
}

fn parse_image(image: &Value, path: &str) -> Result<Image, TranslateError> {
    let object = JSON.object(image, path)?;
    check_keys(object, path, &["format", "source"], &[])?;
    let format = JSON.required_str(object, path, "format")?;
    let Some((_, media_type)) = IMAGE_FORMATS.iter().find(|(name, _)| *name == format) else {
        return Err(invalid(
            at(path, "format"),
            format!("must be png, jpeg, gif or webp, not {format:?}"),
        ));
    };
    let source_path = at(path, "source");
    match union_member(JSON.required(object, path, "source")?, &source_path)? {
        ("bytes", bytes, field) => Ok(Image::Base64 {
            media_type: (*media_type).to_string(),
            data: JSON.str(bytes, &field)?.to_string(),
        }),
        ("s3Location", _, field) => {
            Err(JSON.untranslatable(field, "an image in Amazon S3 is readable only by Bedrock"))
        }
        (_, _, field) => Err(JSON.untranslatable(field, NOT_A_FIELD)),
    }
}

fn parse_tool_use(block: &Value, path: &str) -> Result<Part, TranslateError> {
    let block = JSON.object(block, path)?;
    check_keys(block, path, &["toolUseId", "name", "input"], &[])?;
    let arguments = match present(block, "input") {
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => return Err(invalid(at(path, "input"), JSON.wording.object)),
        None => return Err(invalid(at(path, "input"), JSON.wording.required)),
    };
    Ok(Part::ToolCall {
        id: JSON.required_str(block, path, "toolUseId")?.to_string(),
        name: JSON.required_str(block, path, "name")?.to_string(),
        arguments,
    })
}

fn parse_tool_result(block: &Value, path: &str) -> Result<Part, TranslateError> {
    let block = JSON.object(block, path)?;
    check_keys(block, path, &["toolUseId", "content", "status"], &[])?;
    let is_error = match JSON.optional_str(block, path, "status")? {
        None | Some("success") => false,
        Some("error") => true,
        Some(other) => {
            return Err(invalid(
                at(path, "status"),
                format!("must be \"success\" or \"error\", not {other:?}"),
            ));
        }
    };
    let content_path = at(path, "content");
    let blocks = items(JSON.required(block, path, "content")?, &content_path)?;
    let mut content = Vec::with_capacity(blocks.len());
    for (k, item) in blocks.iter().enumerate() {
        let item_path = format!("{content_path}[{k}]");
        content.push(match union_member(item, &item_path)? {
            ("text", text, field) => Part::text(JSON.str(text, &field)?),
            // A JSON result is read as its text, which is how every other format carries it.
            ("json", value, _) => Part::text(value.to_string()),
            ("image", image, field) => Part::Image {
                image: parse_image(image, &field)?,
            },
            (kind, _, field) => {
                return Err(JSON.untranslatable(
                    field,
                    format!("a tool result holding `{kind}` content has no translation"),
                ));
            }
        });
    }
    Ok(Part::ToolResult {
        call_id: JSON.required_str(block, path, "toolUseId")?.to_string(),
        content,
        is_error,
    })
}

fn parse_tool_config(config: &Value) -> Result<(Vec<ToolDef>, Option<ToolChoice>), TranslateError> {
    let path = "toolConfig";
    let config = JSON.object(config, path)?;
    check_keys(config, path, &["tools", "toolChoice"], &[])?;
    let mut tools = Vec::new();
    let tools_path = at(path, "tools");
    let listed = present(config, "tools")
        .map(|tools| items(tools, &tools_path))
        .transpose()?
        .unwrap_or_default();
    for (i, tool) in listed.iter().enumerate() {
        let tool_path = format!("{tools_path}[{i}]");
        match union_member(tool, &tool_path)? {
            ("toolSpec", spec, field) => tools.push(parse_tool_spec(spec, &field)?),
            ("cachePoint", _, _) => {}
            ("systemTool", _, field) => {
                return Err(
                    JSON.untranslatable(field, "Bedrock's system tools run only inside Bedrock")
                );
            }
            (_, _, field) => return Err(JSON.untranslatable(field, NOT_A_FIELD)),
        }
    }
    let choice = present(config, "toolChoice")
        .map(|choice| parse_tool_choice(choice, &at(path, "toolChoice")))
        .transpose()?;
    Ok((tools, choice))
}

fn parse_tool_spec(spec: &Value, path: &str) -> Result<ToolDef, TranslateError> {
    let spec = JSON.object(spec, path)?;
    check_keys(
        spec,
        path,
        &["name", "description", "inputSchema"],
        &["strict"],
    )?;
    let schema_path = at(path, "inputSchema");
    let parameters = match present(spec, "inputSchema") {
        None => json!({"type": "object", "properties": {}}),
        Some(schema) => match union_member(schema, &schema_path)? {
            ("json", schema @ Value::Object(_), _) => schema.clone(),
            ("json", _, field) => return Err(invalid(field, "must be a JSON Schema object")),
            (_, _, field) => return Err(JSON.untranslatable(field, NOT_A_FIELD)),
        },
    };
    Ok(ToolDef {
        name: JSON.required_str(spec, path, "name")?.to_string(),
        description: JSON
            .optional_str(spec, path, "description")?
            .map(str::to_string),
        parameters,
    })
}

fn parse_tool_choice(choice: &Value, path: &str) -> Result<ToolChoice, TranslateError> {
    let (kind, value, field) = union_member(choice, path)?;
    let value = JSON.object(value, &field)?;
    match kind {
        "auto" => {
            check_keys(value, &field, &[], &[])?;
            Ok(ToolChoice::Auto)
        }
        "any" => {
            check_keys(value, &field, &[], &[])?;
            Ok(ToolChoice::Required)
        }
        "tool" => {
            check_keys(value, &field, &["name"], &[])?;
            Ok(ToolChoice::Tool {
                name: JSON.required_str(value, &field, "name")?.to_string(),
            })
        }
        other => Err(invalid(
            path,
            format!("must be `auto`, `any` or `tool`, not `{other}`"),
        )),
    }
}

fn read_inference_config(config: &Value, request: &mut ChatRequest) -> Result<(), TranslateError> {
    let path = "inferenceConfig";
    let config = JSON.object(config, path)?;
    check_keys(
        config,
        path,
        &["maxTokens", "temperature", "topP", "stopSequences"],
        &[],
    )?;
    request.max_tokens = JSON.member(config, path, "maxTokens", Json::u64)?;
    request.temperature = unit_interval(config, path, "temperature")?;
    request.top_p = unit_interval(config, path, "topP")?;
    if let Some(sequences) = present(config, "stopSequences") {
        let sequences_path = at(path, "stopSequences");
        request.stop = items(sequences, &sequences_path)?
            .iter()
            .enumerate()
            .map(|(i, sequence)| {
                JSON.str(sequence, &format!("{sequences_path}[{i}]"))
                    .map(str::to_string)
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// A sampling parameter Converse bounds to 0..=1.
fn unit_interval(
    config: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<f64>, TranslateError> {
    let value = JSON.member(config, path, key, Json::f64)?;
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(invalid(
            at(path, key),
            format!("must be between 0 and 1, not {v}"),
        )),
        _ => Ok(value),
    }
}

/// `additionalModelRequestFields`: Anthropic's `top_k` translates; any other model-specific
/// parameter means something only to the model it was written for.
fn parse_additional_fields(fields: &Value) -> Result<Option<u64>, TranslateError> {
    let path = "additionalModelRequestFields";
    let fields = JSON.object(fields, path)?;
    JSON.check_keys(
        fields,
        path,
        |key, _| key == TOP_K_FIELD,
        |_| "a model-specific inference parameter has no translation",
    )?;
    JSON.member(fields, path, TOP_K_FIELD, Json::u64)
}

// ---------------------------------------------------------------------------------------------
// Requests: neutral → Converse
// ---------------------------------------------------------------------------------------------

/// Writes the body for `POST /model/{modelId}/converse` (or `/converse-stream`); the model and
/// the streaming choice go in the URL, and the end-user id has no place in Converse (its
/// `requestMetadata` only tags invocation logs). `maxTokens` is written only when the request
/// caps the answer: Converse's default is the model's own maximum.
pub fn render_request(
    request: &ChatRequest,
    _upstream_model: &str,
    _options: &RenderOptions,
) -> Result<Value, TranslateError> {
    refuse_inexpressible(request)?;
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(render_messages(&request.messages)?),
    );
    let system: Vec<Value> = request
        .system
        .iter()
        .filter(|text| !text.is_empty())
        .map(|text| json!({ "text": text }))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let config = render_inference_config(request)?;
    if !config.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(config));
    }
    insert_some(&mut body, "toolConfig", render_tool_config(request)?);
    if let Some(top_k) = request.top_k {
        body.insert(
            "additionalModelRequestFields".into(),
            json!({ TOP_K_FIELD: top_k }),
        );
    }
    Ok(Value::Object(body))
}

/// Refuses what Converse has no field for.
fn refuse_inexpressible(request: &ChatRequest) -> Result<(), TranslateError> {
    for (field, value) in [
        ("temperature", request.temperature),
        ("top_p", request.top_p),
    ] {
        if let Some(v) = value.filter(|v| !(0.0..=1.0).contains(v)) {
            return Err(JSON.unsupported(
                field,
                format!("Converse accepts a {field} between 0 and 1, not {v}"),
            ));
        }
    }
    let absent = [
        ("seed", request.seed.is_some()),
        ("presence_penalty", request.presence_penalty.is_some()),
        ("frequency_penalty", request.frequency_penalty.is_some()),
    ];
    if let Some((field, _)) = absent.iter().find(|(_, set)| *set) {
        return Err(JSON.unsupported(*field, "the Converse API has no such parameter"));
    }
    if request.parallel_tool_calls == Some(false) {
        return Err(JSON.unsupported(
            "parallel_tool_calls",
            "Converse cannot be told to call one tool at a time",
        ));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => Ok(()),
        Some(_) => Err(JSON.unsupported(
            "response_format",
            "JSON output modes are not translated to Converse",
        )),
    }
}

/// The messages as Converse turns: roles alternate (adjacent messages of one role are one
/// turn), tool results open their turn (Anthropic models on Bedrock demand it), and a turn
/// with nothing to say is left out.
fn render_messages(messages: &[Message]) -> Result<Vec<Value>, TranslateError> {
    if messages.first().is_some_and(|m| m.role == Role::Assistant) {
        return Err(JSON.unsupported(
            "messages[0]",
            "a Converse conversation starts with a user message",
        ));
    }
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let mut blocks = Vec::with_capacity(message.content.len());
        for (j, part) in message.content.iter().enumerate() {
            let path = format!("messages[{i}].content[{j}]");
            blocks.extend(render_part(part, message.role, &path)?);
        }
        push_turn(&mut turns, message.role, blocks);
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // The sort is stable: results and other blocks each keep their order.
            blocks.sort_by_key(|block| block.get("toolResult").is_none());
            json!({ "role": role_name(role), "content": blocks })
        })
        .collect())
}

/// One part as a content block; `None` for empty text, which Bedrock refuses and which says
/// nothing.
fn render_part(part: &Part, role: Role, path: &str) -> Result<Option<Value>, TranslateError> {
    match (part, role) {
        (Part::Text { text }, _) if text.is_empty() => Ok(None),
        (Part::Text { text }, _) => Ok(Some(json!({ "text": text }))),
        (Part::Image { image }, _) => render_image(image, path).map(Some),
        (
            Part::ToolCall {
                id,
                name,
                arguments,
            },
            Role::Assistant,
        ) => {
            if !arguments.is_object() {
                return Err(invalid(at(path, "arguments"), JSON.wording.object));
            }
            Ok(Some(
                json!({ "toolUse": { "toolUseId": id, "name": name, "input": arguments } }),
            ))
        }
        (
            Part::ToolResult {
                call_id,
                content,
                is_error,
            },
            Role::User,
        ) => render_tool_result(call_id, content, *is_error, path).map(Some),
        (Part::ToolCall { .. }, Role::User) => {
            Err(invalid(path, "a tool call belongs to an assistant message"))
        }
        (Part::ToolResult { .. }, Role::Assistant) => {
            Err(invalid(path, "a tool result belongs to a user message"))
        }
    }
}

fn render_image(image: &Image, path: &str) -> Result<Value, TranslateError> {
    match image {
        Image::Base64 { media_type, data } => {
            let Some((format, _)) = IMAGE_FORMATS.iter().find(|(_, media)| media == media_type)
            else {
                return Err(JSON.unsupported(
                    path,
                    format!("Converse takes png, jpeg, gif and webp images, not `{media_type}`"),
                ));
            };
            Ok(json!({ "image": { "format": format, "source": { "bytes": data } } }))
        }
        Image::Url { .. } => Err(JSON.unsupported(
            path,
            "Converse takes images as bytes or from Amazon S3, not from web URLs",
        )),
    }
}

fn render_tool_result(
    call_id: &str,
    content: &[Part],
    is_error: bool,
    path: &str,
) -> Result<Value, TranslateError> {
    let mut blocks = Vec::with_capacity(content.len());
    for (k, part) in content.iter().enumerate() {
        let part_path = format!("{path}.content[{k}]");
        match part {
            Part::Text { text } if text.is_empty() => {}
            Part::Text { text } => blocks.push(json!({ "text": text })),
            Part::Image { image } => blocks.push(render_image(image, &part_path)?),
            Part::ToolCall { .. } | Part::ToolResult { .. } => {
                return Err(invalid(
                    part_path,
                    "a tool result holds text and images only",
                ));
            }
        }
    }
    let mut result = Map::new();
    result.insert("toolUseId".into(), json!(call_id));
    result.insert("content".into(), Value::Array(blocks));
    // Only some models read `status`; a successful result is the default.
    if is_error {
        result.insert("status".into(), json!("error"));
    }
    Ok(json!({ "toolResult": result }))
}

/// Converse's integer options are 32-bit.
fn int32(value: u64, field: &str) -> Result<Value, TranslateError> {
    i32::try_from(value)
        .map(Value::from)
        .map_err(|_| JSON.unsupported(field, "Converse takes a 32-bit integer here"))
}

fn render_inference_config(request: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    if let Some(max) = request.max_tokens {
        config.insert("maxTokens".into(), int32(max, "max_tokens")?);
    }
    insert_some(&mut config, "temperature", request.temperature);
    insert_some(&mut config, "topP", request.top_p);
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    Ok(config)
}

/// `toolConfig`, or nothing when there are no tools, or when calls are forbidden and the
/// conversation holds none (so the tools can be left out).
fn render_tool_config(request: &ChatRequest) -> Result<Option<Value>, TranslateError> {
    if request.tools.is_empty() {
        return match &request.tool_choice {
            None | Some(ToolChoice::Auto | ToolChoice::None) => Ok(None),
            Some(_) => Err(invalid(
                "tool_choice",
                "requires a tool call but the request defines no tools",
            )),
        };
    }
    let choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({ "auto": {} })),
        Some(ToolChoice::Required) => Some(json!({ "any": {} })),
        Some(ToolChoice::Tool { name }) => Some(json!({ "tool": { "name": name } })),
        Some(ToolChoice::None) => {
            let has_tool_parts = request
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .any(|p| matches!(p, Part::ToolCall { .. } | Part::ToolResult { .. }));
            if has_tool_parts {
                return Err(JSON.unsupported(
                    "tool_choice",
                    "Converse cannot forbid tool calls in a conversation that holds some \
                     (it demands the tools beside them)",
                ));
            }
            return Ok(None);
        }
    };
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let mut spec = Map::new();
            spec.insert("name".into(), json!(tool.name));
            insert_some(&mut spec, "description", tool.description.as_deref());
            spec.insert("inputSchema".into(), json!({ "json": tool.parameters }));
            json!({ "toolSpec": spec })
        })
        .collect();
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(tools));
    insert_some(&mut config, "toolChoice", choice);
    Ok(Some(Value::Object(config)))
}

// ---------------------------------------------------------------------------------------------
// InvokeModel for Anthropic models
// ---------------------------------------------------------------------------------------------

/// The body Bedrock's `InvokeModel` (and `InvokeModelWithResponseStream`) takes for an
/// Anthropic model, made from an Anthropic Messages body: the model is in the URL, streaming
/// is chosen by the operation, and `anthropic_version` names Bedrock's version of the
/// Messages API. The answer is a plain Anthropic Messages answer. A body that is not an object
/// is returned as it is, for the API to refuse.
pub fn anthropic_invoke_body(anthropic_messages_body: &Value) -> Value {
    let Value::Object(fields) = anthropic_messages_body else {
        return anthropic_messages_body.clone();
    };
    let mut body = Map::with_capacity(fields.len() + 1);
    body.insert("anthropic_version".into(), json!(ANTHROPIC_BEDROCK_VERSION));
    for (key, value) in fields {
        if !matches!(key.as_str(), "model" | "stream" | "anthropic_version") {
            body.insert(key.clone(), value.clone());
        }
    }
    Value::Object(body)
}

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// Reads a Converse answer. Converse gives no id and no model name.
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let body = JSON.object(body, "")?;
    if !body.contains_key("output")
        && let Some(message) = body.get("message").and_then(Value::as_str)
    {
        // Bedrock's error body.
        return Err(invalid("error", message));
    }
    let output_path = "output";
    let output = JSON.object(JSON.required(body, "", output_path)?, output_path)?;
    let message_path = at(output_path, "message");
    let message = JSON.object(
        JSON.required(output, output_path, "message")?,
        &message_path,
    )?;
    let content_path = at(&message_path, "content");
    let blocks = items(
        JSON.required(message, &message_path, "content")?,
        &content_path,
    )?;
    let mut content = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        content.extend(parse_answer_block(block, &format!("{content_path}[{i}]"))?);
    }
    Ok(ChatResponse {
        id: None,
        model: String::new(),
        content,
        stop_reason: JSON
            .optional_str(body, "", "stopReason")?
            .map(stop_reason_of),
        usage: present(body, "usage")
            .map(|usage| usage_of(usage, "usage"))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// One block of an answer: text and tool calls translate, reasoning is skipped (documented),
/// anything else has no translation.
fn parse_answer_block(block: &Value, path: &str) -> Result<Option<Part>, TranslateError> {
    match union_member(block, path)? {
        ("text", text, field) => Ok(Some(Part::text(JSON.str(text, &field)?))),
        ("toolUse", call, field) => parse_tool_use(call, &field).map(Some),
        ("reasoningContent", _, _) => Ok(None),
        (kind, _, field) => Err(JSON.untranslatable(
            field,
            format!("an answer holding `{kind}` content has no translation"),
        )),
    }
}

/// Writes a Converse answer. Neutral answers hold text and tool calls; Converse has no place
/// for an answer's id or model name, and latency metrics are the provider's to measure.
pub fn render_response(response: &ChatResponse) -> Value {
    let content: Vec<Value> = response
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text { text } => Some(json!({ "text": text })),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(json!({ "toolUse": { "toolUseId": id, "name": name, "input": arguments } })),
            Part::Image { .. } | Part::ToolResult { .. } => None,
        })
        .collect();
    let mut body = Map::new();
    body.insert(
        "output".into(),
        json!({ "message": { "role": "assistant", "content": content } }),
    );
    insert_some(
        &mut body,
        "stopReason",
        response.stop_reason.as_ref().map(stop_reason_name),
    );
    insert_some(&mut body, "usage", render_usage(response.usage));
    Value::Object(body)
}

fn stop_reason_of(name: &str) -> StopReason {
    match name {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        // Converse does not say which sequence stopped the answer.
        "stop_sequence" => StopReason::StopSequence(None),
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

fn stop_reason_name(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence(_) => "stop_sequence",
        StopReason::ContentFilter => "content_filtered",
        StopReason::Other(name) if STOP_REASONS.contains(&name.as_str()) => name,
        StopReason::Other(_) => "end_turn",
    }
}

/// Bedrock's counts: the input is `inputTokens` plus the prompt-cache reads and writes Bedrock
/// counts apart (as Anthropic's own API does).
fn usage_of(usage: &Value, path: &str) -> Result<Usage, TranslateError> {
    let usage = JSON.object(usage, path)?;
    let count = |key| JSON.member(usage, path, key, Json::u64);
    let cached = count("cacheReadInputTokens")?
        .unwrap_or(0)
        .saturating_add(count("cacheWriteInputTokens")?.unwrap_or(0));
    Ok(Usage {
        input_tokens: count("inputTokens")?.map(|n| n.saturating_add(cached)),
        output_tokens: count("outputTokens")?,
    })
}

/// Converse's usage object (all three counts, as the API always writes them); `None` when no
/// count is known.
fn render_usage(usage: Usage) -> Option<Value> {
    let total = total_tokens(usage)?;
    Some(json!({
        "inputTokens": usage.input_tokens.unwrap_or(0),
        "outputTokens": usage.output_tokens.unwrap_or(0),
        "totalTokens": total,
    }))
}

// ---------------------------------------------------------------------------------------------
// Streams: ConverseStream → neutral events
// ---------------------------------------------------------------------------------------------

/// What a content block of the stream is, so that its deltas can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    ToolUse,
    /// A block with no translation (reported at its start).
    Skipped,
}

/// Reads `ConverseStream` events, as [`crate::eventstream::EventStreamFramer::converse`]
/// frames them: `messageStart`, `contentBlockStart` (tool calls only: text blocks start with
/// their first delta), `contentBlockDelta`, `contentBlockStop`, `messageStop`, `metadata`, and
/// `exception:<type>` frames.
#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    /// Blocks opened by a `contentBlockStart`, by `contentBlockIndex`.
    blocks: HashMap<u64, BlockKind>,
    stopped: bool,
    ended: bool,
}

impl StreamDecoder for Decoder {
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>) {
        let name = frame.event.as_deref().unwrap_or_default();
        let event: Value = match serde_json::from_str(&frame.data) {
            Ok(event) => event,
            Err(e) => {
                return out.push(stream_error(format!(
                    "unreadable Bedrock stream event `{name}` (not JSON: {e})"
                )));
            }
        };
        if let Some(exception) = name.strip_prefix("exception:") {
            let message = event
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            return out.push(stream_error(format!("{exception}: {message}")));
        }
        if self.ended {
            return;
        }
        match name {
            "messageStart" => self.start(out),
            "contentBlockStart" => self.block_start(&event, out),
            "contentBlockDelta" => self.block_delta(&event, out),
            "messageStop" => self.message_stop(&event, out),
            "metadata" => self.metadata(&event, out),
            // A block's end is implied by what follows it; Bedrock may add event types, which
            // clients should pass over.
            _ => {}
        }
    }

    /// A stream whose `metadata` never came still ended properly once a stop reason went by.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.stopped && !self.ended {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}

impl Decoder {
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: None,
                model: String::new(),
                usage: Usage::default(),
            });
        }
    }

    fn block_start(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        self.start(out);
        let (Some(index), Some(start)) = (block_index(event), event.get("start")) else {
            return out.push(stream_error(
                "contentBlockStart without a contentBlockIndex or a start",
            ));
        };
        let call = start.get("toolUse");
        let field = |key: &str| call.and_then(|c| c.get(key)).and_then(Value::as_str);
        let kind = match (field("toolUseId"), field("name")) {
            (Some(id), Some(name)) => {
                out.push(StreamEvent::ToolCallStart {
                    id: id.into(),
                    name: name.into(),
                });
                BlockKind::ToolUse
            }
            _ => {
                out.push(stream_error(format!(
                    "content block {index} starts as {start}, which has no translation"
                )));
                BlockKind::Skipped
            }
        };
        self.blocks.insert(index, kind);
    }

    fn block_delta(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        self.start(out);
        let (Some(index), Some(delta)) = (block_index(event), event.get("delta")) else {
            return out.push(stream_error(
                "contentBlockDelta without a contentBlockIndex or a delta",
            ));
        };
        let block = self.blocks.get(&index).copied();
        if block == Some(BlockKind::Skipped) {
            return;
        }
        if let Some(text) = delta.get("text").and_then(Value::as_str) {
            if !text.is_empty() {
                out.push(StreamEvent::TextDelta { text: text.into() });
            }
        } else if let Some(call) = delta.get("toolUse") {
            // Arguments belong to the open tool call only; attached anywhere else they would
            // be read as another call's.
            if block != Some(BlockKind::ToolUse) {
                return out.push(stream_error(format!(
                    "tool input for block {index}, which is not a tool call"
                )));
            }
            if let Some(json) = call
                .get("input")
                .and_then(Value::as_str)
                .filter(|j| !j.is_empty())
            {
                out.push(StreamEvent::ToolCallArguments { json: json.into() });
            }
        } else if delta.get("reasoningContent").is_none() && delta.get("citation").is_none() {
            out.push(stream_error(format!(
                "content block delta {delta} has no translation"
            )));
        }
    }

    fn message_stop(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        self.start(out);
        let Some(name) = event.get("stopReason").and_then(Value::as_str) else {
            return out.push(stream_error("messageStop without a stopReason"));
        };
        if !self.stopped {
            self.stopped = true;
            out.push(StreamEvent::Stop {
                reason: stop_reason_of(name),
            });
        }
    }

    /// The counts, then the end: `metadata` is the stream's last event.
    fn metadata(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        self.start(out);
        if let Some(usage) = event.get("usage") {
            match usage_of(usage, "usage") {
                Ok(usage) => out.push(StreamEvent::Usage { usage }),
                Err(e) => out.push(stream_error(format!("unreadable Bedrock usage: {e}"))),
            }
        }
        if self.stopped {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}

fn block_index(event: &Value) -> Option<u64> {
    event.get("contentBlockIndex").and_then(Value::as_u64)
}

fn stream_error(message: impl Into<String>) -> StreamEvent {
    StreamEvent::Error {
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Streams: neutral events → ConverseStream
// ---------------------------------------------------------------------------------------------

/// The content block the encoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    ToolUse,
}

/// Writes neutral events as `ConverseStream` does, as event-stream messages: `messageStart`,
/// per block its deltas (a tool call opened by `contentBlockStart`) and `contentBlockStop`,
/// then `messageStop` and, at the end, `metadata` with every count so far. Errors are
/// exception messages: a Bedrock exception read from a stream keeps its type, any other error
/// is a `modelStreamErrorException`. Converse has no id or model name to show.
pub struct Encoder {
    started: bool,
    open: Option<(u64, OpenBlock)>,
    next_index: u64,
    stopped: bool,
    ended: bool,
    usage: Usage,
}

impl Encoder {
    pub fn new(_options: EncoderOptions) -> Encoder {
        Encoder {
            started: false,
            open: None,
            next_index: 0,
            stopped: false,
            ended: false,
            usage: Usage::default(),
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            write_event(out, "messageStart", &json!({ "role": "assistant" }));
        }
    }

    /// Closes the open block and opens one of `kind`; returns its index.
    fn open_block(&mut self, kind: OpenBlock, out: &mut Vec<u8>) -> u64 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            write_event(
                out,
                "contentBlockStop",
                &json!({ "contentBlockIndex": index }),
            );
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        self.ensure_started(out);
        let index = match self.open {
            Some((index, OpenBlock::Text)) => index,
            _ => self.open_block(OpenBlock::Text, out),
        };
        let delta = json!({ "contentBlockIndex": index, "delta": { "text": text } });
        write_event(out, "contentBlockDelta", &delta);
    }

    fn tool_start(&mut self, id: &str, name: &str, out: &mut Vec<u8>) {
        self.ensure_started(out);
        let index = self.open_block(OpenBlock::ToolUse, out);
        let start = json!({
            "contentBlockIndex": index,
            "start": { "toolUse": { "toolUseId": id, "name": name } },
        });
        write_event(out, "contentBlockStart", &start);
    }

    fn tool_arguments(&mut self, json: &str, out: &mut Vec<u8>) {
        // Fragments with no open tool call belong to nothing the client could read.
        if let Some((index, OpenBlock::ToolUse)) = self.open
            && !json.is_empty()
        {
            let delta =
                json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": json } } });
            write_event(out, "contentBlockDelta", &delta);
        }
    }

    fn stop(&mut self, reason: &StopReason, out: &mut Vec<u8>) {
        if self.stopped {
            return;
        }
        self.ensure_started(out);
        self.close_block(out);
        self.stopped = true;
        write_event(
            out,
            "messageStop",
            &json!({ "stopReason": stop_reason_name(reason) }),
        );
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.stop(&StopReason::EndTurn, out);
        let mut metadata = Map::new();
        insert_some(&mut metadata, "usage", render_usage(self.usage));
        write_event(out, "metadata", &Value::Object(metadata));
        self.ended = true;
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { usage, .. } => {
                self.usage = self.usage.updated(*usage);
                self.ensure_started(out);
            }
            StreamEvent::TextDelta { text } => self.text(text, out),
            StreamEvent::ToolCallStart { id, name } => self.tool_start(id, name, out),
            StreamEvent::ToolCallArguments { json } => self.tool_arguments(json, out),
            StreamEvent::Usage { usage } => self.usage = self.usage.updated(*usage),
            StreamEvent::Stop { reason } => self.stop(reason, out),
            StreamEvent::Error { message } => {
                let (exception_type, message) = exception_of(message);
                let payload = json!({ "message": message });
                out.extend(encode_exception(
                    exception_type,
                    payload.to_string().as_bytes(),
                ));
            }
            StreamEvent::End => self.end(out),
        }
    }
}

/// The exception type and message for a neutral error: a Bedrock exception the decoder read
/// (`"throttlingException: ..."`) keeps its type, anything else is a model stream error.
fn exception_of(message: &str) -> (&str, &str) {
    match message.split_once(": ") {
        Some((kind, rest))
            if kind.ends_with("Exception") && kind.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            (kind, rest)
        }
        _ => (STREAM_ERROR_EXCEPTION, message),
    }
}

fn write_event(out: &mut Vec<u8>, event_type: &str, payload: &Value) {
    out.extend(encode_event(event_type, payload.to_string().as_bytes()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::eventstream::{EventStreamFramer, Framer};
    use proptest::prelude::*;

    fn parse(body: Value) -> ChatRequest {
        parse_request(&body).unwrap()
    }

    fn parse_error(body: Value) -> TranslateError {
        parse_request(&body).unwrap_err()
    }

    fn render(request: &ChatRequest) -> Result<Value, TranslateError> {
        render_request(
            request,
            "anthropic.claude-sonnet-4-5",
            &RenderOptions::default(),
        )
    }

    fn user_text(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    fn assert_kind(error: &TranslateError, field: &str, kind: &str) {
        let matches = match error {
            TranslateError::Unsupported { .. } => kind == "unsupported",
            TranslateError::Untranslatable { .. } => kind == "untranslatable",
            TranslateError::Invalid { .. } => kind == "invalid",
        };
        assert!(matches, "expected {kind}: {error:?}");
        assert_eq!(error.field(), field, "{error}");
    }

    fn conversation() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![Part::text("Weather in Oslo?")],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![Part::ToolCall {
                        id: "tooluse_1".into(),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Oslo"}),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Part::ToolResult {
                        call_id: "tooluse_1".into(),
                        content: vec![Part::text("4 °C")],
                        is_error: false,
                    }],
                },
            ],
            tools: vec![ToolDef {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object"}),
            }],
            ..ChatRequest::default()
        }
    }

    /// Converse-shaped JSON with keys drawn from the API's own names, so that deep paths get
    /// reached.
    fn converse_like_json() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "messages",
            "role",
            "content",
            "text",
            "image",
            "format",
            "source",
            "bytes",
            "toolUse",
            "toolUseId",
            "name",
            "input",
            "toolResult",
            "status",
            "json",
            "system",
            "inferenceConfig",
            "maxTokens",
            "toolConfig",
            "tools",
            "toolSpec",
            "inputSchema",
            "toolChoice",
            "auto",
            "any",
            "tool",
            "additionalModelRequestFields",
            "top_k",
            "output",
            "message",
            "stopReason",
            "usage",
            "inputTokens",
            "contentBlockIndex",
            "start",
            "delta",
            "reasoningContent",
            "cachePoint",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![
                "user",
                "assistant",
                "png",
                "end_turn",
                "error",
                "x",
                ""
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 96, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(key, value)| (key.to_string(), value))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Conversations Converse could be sent: user and assistant turns holding the blocks each
    /// side may hold.
    fn converse_conversation() -> impl Strategy<Value = Value> {
        let text = "[a-z ]{1,6}";
        let image = Just(json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}));
        let call = (prop::sample::select(vec!["t1", "t2"]), any::<i32>()).prop_map(
            |(id, n)| json!({"toolUse": {"toolUseId": id, "name": "f", "input": {"n": n}}}),
        );
        let result = (prop::sample::select(vec!["t1", "t2"]), text, any::<bool>()).prop_map(
            |(id, text, error)| {
                let mut result = json!({"toolUseId": id, "content": [{"text": text}]});
                if error {
                    result["status"] = json!("error");
                }
                json!({"toolResult": result})
            },
        );
        let user_block = prop_oneof![
            text.prop_map(|text| json!({"text": text})),
            image.clone(),
            result
        ];
        let assistant_block = prop_oneof![text.prop_map(|text| json!({"text": text})), call];
        // Tool results open their turn, as Anthropic models on Bedrock demand.
        let user = prop::collection::vec(user_block, 1..4).prop_map(|mut content| {
            content.sort_by_key(|block| block.get("toolResult").is_none());
            json!({"role": "user", "content": content})
        });
        let assistant = prop::collection::vec(assistant_block, 1..4)
            .prop_map(|content| json!({"role": "assistant", "content": content}));
        // Roles alternate, as Converse demands (adjacent turns of one role would be merged,
        // and their tool results moved to the front).
        (
            user.clone(),
            prop::collection::vec((assistant, user), 0..3),
            prop::option::of(Just(
                json!({"role": "assistant", "content": [{"text": "ok"}]}),
            )),
        )
            .prop_map(|(first, rest, last)| {
                let mut messages = vec![first];
                for (assistant, user) in rest {
                    messages.push(assistant);
                    messages.push(user);
                }
                messages.extend(last);
                json!({"messages": messages})
            })
    }

    proptest! {
        /// Whatever conversation is read, writing it and reading it back gives it again.
        #[test]
        fn conversations_read_back_as_they_were_written(body in converse_conversation()) {
            let request = parse_request(&body);
            prop_assert!(request.is_ok(), "{request:?}");
            let request = request.unwrap();
            let rendered = render(&request);
            prop_assert!(rendered.is_ok(), "{rendered:?}");
            prop_assert_eq!(parse_request(&rendered.unwrap()), Ok(request));
        }

        /// No body panics the translator, and a body it writes reads back into the same body.
        #[test]
        fn any_body_is_translated_or_refused_never_panicked_on(body in converse_like_json()) {
            let _ = parse_response(&body);
            let mut events = Vec::new();
            let mut decoder = Decoder::default();
            for name in ["messageStart", "contentBlockStart", "contentBlockDelta", "messageStop", "metadata"] {
                decoder.decode(&SseFrame { event: Some(name.into()), data: body.to_string() }, &mut events);
            }
            decoder.finish(&mut events);
            if let Ok(request) = parse_request(&body)
                && let Ok(rendered) = render(&request)
            {
                let again = parse_request(&rendered).and_then(|request| render(&request));
                prop_assert_eq!(again, Ok(rendered));
            }
        }
    }

    #[test]
    fn the_url_carries_model_and_stream_and_the_body_neither() {
        let request = ChatRequest {
            model: "gpt-4o".into(),
            stream: true,
            include_usage: true,
            end_user: Some("user-42".into()),
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("hi")],
            }],
            ..ChatRequest::default()
        };
        assert_eq!(
            render(&request).unwrap(),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        );
        let parsed = parse(json!({"messages": [user_text("hi")]}));
        assert_eq!(parsed.model, "");
        assert!(!parsed.stream);
    }

    #[test]
    fn top_k_travels_in_additional_model_request_fields() {
        let request = ChatRequest {
            top_k: Some(40),
            ..conversation()
        };
        let body = render(&request).unwrap();
        assert_eq!(body["additionalModelRequestFields"], json!({"top_k": 40}));
        assert_eq!(parse_request(&body).unwrap().top_k, Some(40));
        // Any other model-specific field means something only to its model.
        let error = parse_error(json!({
            "messages": [user_text("hi")],
            "additionalModelRequestFields": {"top_k": 5, "thinking": {"type": "enabled"}},
        }));
        assert_kind(
            &error,
            "additionalModelRequestFields.thinking",
            "untranslatable",
        );
    }

    #[test]
    fn what_converse_cannot_express_is_refused_by_its_neutral_name() {
        let cases: Vec<(ChatRequest, &str)> = vec![
            (
                ChatRequest {
                    seed: Some(7),
                    ..conversation()
                },
                "seed",
            ),
            (
                ChatRequest {
                    presence_penalty: Some(0.5),
                    ..conversation()
                },
                "presence_penalty",
            ),
            (
                ChatRequest {
                    frequency_penalty: Some(0.5),
                    ..conversation()
                },
                "frequency_penalty",
            ),
            (
                ChatRequest {
                    temperature: Some(1.5),
                    ..conversation()
                },
                "temperature",
            ),
            (
                ChatRequest {
                    parallel_tool_calls: Some(false),
                    ..conversation()
                },
                "parallel_tool_calls",
            ),
            (
                ChatRequest {
                    response_format: Some(ResponseFormat::JsonObject),
                    ..conversation()
                },
                "response_format",
            ),
            (
                ChatRequest {
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: Some("answer".into()),
                        schema: json!({"type": "object"}),
                        strict: Some(true),
                    }),
                    ..conversation()
                },
                "response_format",
            ),
            (
                ChatRequest {
                    tool_choice: Some(ToolChoice::None),
                    ..conversation()
                },
                "tool_choice",
            ),
            (
                ChatRequest {
                    max_tokens: Some(1 << 40),
                    ..conversation()
                },
                "max_tokens",
            ),
        ];
        for (request, field) in cases {
            assert_kind(&render(&request).unwrap_err(), field, "unsupported");
        }
        let mut request = conversation();
        request.messages[0].content.push(Part::Image {
            image: Image::Url {
                url: "https://example.com/cat.png".into(),
            },
        });
        assert_kind(
            &render(&request).unwrap_err(),
            "messages[0].content[1]",
            "unsupported",
        );
        let mut request = conversation();
        request.messages[0].content.push(Part::Image {
            image: Image::Base64 {
                media_type: "image/tiff".into(),
                data: "AAAA".into(),
            },
        });
        assert_kind(
            &render(&request).unwrap_err(),
            "messages[0].content[1]",
            "unsupported",
        );
        let mut request = conversation();
        request.messages.remove(0);
        assert_kind(&render(&request).unwrap_err(), "messages[0]", "unsupported");
    }

    #[test]
    fn forbidding_tool_calls_leaves_the_tools_out_when_no_call_went_before() {
        let request = ChatRequest {
            messages: vec![conversation().messages.remove(0)],
            tool_choice: Some(ToolChoice::None),
            ..conversation()
        };
        let body = render(&request).unwrap();
        assert!(body.get("toolConfig").is_none(), "{body}");
        let request = ChatRequest {
            tools: Vec::new(),
            tool_choice: Some(ToolChoice::Required),
            ..conversation()
        };
        assert_kind(&render(&request).unwrap_err(), "tool_choice", "invalid");
    }

    #[test]
    fn tool_choices_read_and_write_back() {
        for (choice, wire) in [
            (ToolChoice::Auto, json!({"auto": {}})),
            (ToolChoice::Required, json!({"any": {}})),
            (
                ToolChoice::Tool {
                    name: "get_weather".into(),
                },
                json!({"tool": {"name": "get_weather"}}),
            ),
        ] {
            let request = ChatRequest {
                tool_choice: Some(choice.clone()),
                ..conversation()
            };
            let body = render(&request).unwrap();
            assert_eq!(body["toolConfig"]["toolChoice"], wire);
            assert_eq!(parse_request(&body).unwrap().tool_choice, Some(choice));
        }
    }

    #[test]
    fn tool_results_open_their_turn_and_say_only_errors() {
        let mut request = conversation();
        request.messages.push(Message {
            role: Role::User,
            content: vec![Part::text("And in Bergen?")],
        });
        request.messages.insert(
            2,
            Message {
                role: Role::User,
                content: vec![Part::text("Here is the result.")],
            },
        );
        if let Part::ToolResult { is_error, .. } = &mut request.messages[3].content[0] {
            *is_error = true;
        }
        let body = render(&request).unwrap();
        let turn = &body["messages"][2]["content"];
        assert_eq!(turn[0]["toolResult"]["toolUseId"], "tooluse_1");
        assert_eq!(turn[0]["toolResult"]["status"], "error");
        assert_eq!(turn[1]["text"], "Here is the result.");
        assert_eq!(turn[2]["text"], "And in Bergen?");
        let body = render(&conversation()).unwrap();
        assert!(
            body["messages"][2]["content"][0]["toolResult"]
                .get("status")
                .is_none()
        );
    }

    #[test]
    fn json_tool_results_read_as_their_text() {
        let request = parse(json!({"messages": [
            user_text("Weather?"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "status": "success",
                "content": [{"json": {"temp": 4}}, {"text": "sunny"}]}}]},
        ]}));
        assert_eq!(
            request.messages[2].content[0],
            Part::ToolResult {
                call_id: "t1".into(),
                content: vec![Part::text("{\"temp\":4}"), Part::text("sunny")],
                is_error: false,
            }
        );
    }

    #[test]
    fn refusals_and_errors_name_the_field() {
        let cases = [
            (
                json!({"messages": [user_text("hi")], "guardrailConfig": {"guardrailIdentifier": "g"}}),
                "guardrailConfig",
                "untranslatable",
            ),
            (
                json!({"messages": [user_text("hi")], "outputConfig": {}}),
                "outputConfig",
                "untranslatable",
            ),
            (
                json!({"messages": [user_text("hi")], "unknown": 1}),
                "unknown",
                "untranslatable",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"document": {"format": "pdf", "name": "a", "source": {"bytes": ""}}}]}]}),
                "messages[0].content[0].document",
                "untranslatable",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}]}]}),
                "messages[0].content[0].image.source.s3Location",
                "untranslatable",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": ""}}}]}]}),
                "messages[0].content[0].image.format",
                "invalid",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}),
                "messages[0].content[0]",
                "invalid",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}]}),
                "messages[0].content[0].toolUse",
                "invalid",
            ),
            (
                json!({"messages": [user_text("hi")], "system": [{"guardContent": {"text": {"text": "x"}}}]}),
                "system[0].guardContent",
                "untranslatable",
            ),
            (
                json!({"messages": [user_text("hi")], "toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}]}}),
                "toolConfig.tools[0].systemTool",
                "untranslatable",
            ),
            (
                json!({"messages": [user_text("hi")], "inferenceConfig": {"temperature": 2}}),
                "inferenceConfig.temperature",
                "invalid",
            ),
            (
                json!({"messages": [user_text("hi")], "inferenceConfig": {"topK": 2}}),
                "inferenceConfig.topK",
                "untranslatable",
            ),
            (json!({"messages": "hi"}), "messages", "invalid"),
            (json!({}), "messages", "invalid"),
            (json!([]), "body", "invalid"),
        ];
        for (body, field, kind) in cases {
            assert_kind(&parse_error(body), field, kind);
        }
    }

    #[test]
    fn cache_points_reasoning_and_log_tags_are_read_and_dropped() {
        let request = parse(json!({
            "messages": [
                {"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default"}}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}},
                    {"text": "hello"}
                ]},
                {"role": "assistant", "content": [{"reasoningContent": {"redactedContent": "eA=="}}]},
            ],
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
            "toolConfig": {"tools": [{"cachePoint": {"type": "default"}}]},
            "requestMetadata": {"team": "a"},
            "performanceConfig": {"latency": "optimized"},
            "serviceTier": {"type": "priority"},
        }));
        assert_eq!(request.system, ["Be brief."]);
        assert_eq!(request.messages.len(), 2);
        assert_eq!(request.messages[1].content, [Part::text("hello")]);
        assert!(request.tools.is_empty());
    }

    #[test]
    fn answers_read_text_calls_stop_reasons_and_cached_input() {
        let response = parse_response(&json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "think"}}},
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather", "input": {"city": "Oslo"}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 60,
                      "cacheReadInputTokens": 25, "cacheWriteInputTokens": 5},
            "metrics": {"latencyMs": 812},
        }))
        .unwrap();
        assert_eq!(response.content.len(), 2);
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: Some(40),
                output_tokens: Some(20)
            }
        );
        assert_eq!(response.id, None);
        for (name, reason) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence(None)),
            ("guardrail_intervened", StopReason::ContentFilter),
            ("content_filtered", StopReason::ContentFilter),
            (
                "model_context_window_exceeded",
                StopReason::Other("model_context_window_exceeded".into()),
            ),
        ] {
            assert_eq!(stop_reason_of(name), reason);
        }
        assert_eq!(
            stop_reason_name(&StopReason::Other("pause_turn".into())),
            "end_turn"
        );
        assert_eq!(
            stop_reason_name(&StopReason::Other("malformed_tool_use".into())),
            "malformed_tool_use"
        );
        let error = parse_response(&json!({"message": "The security token is invalid."}));
        assert_kind(&error.unwrap_err(), "error", "invalid");
        let error = parse_response(&json!({"output": {"message": {"role": "assistant",
            "content": [{"image": {"format": "png", "source": {"bytes": ""}}}]}}}));
        assert_kind(
            &error.unwrap_err(),
            "output.message.content[0].image",
            "untranslatable",
        );
    }

    #[test]
    fn answers_without_counts_write_no_usage() {
        let response = ChatResponse {
            id: Some("x".into()),
            model: "m".into(),
            content: vec![Part::text("hi")],
            stop_reason: None,
            usage: Usage::default(),
        };
        assert_eq!(
            render_response(&response),
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}})
        );
    }

    #[test]
    fn invoke_bodies_lose_model_and_stream_and_name_bedrocks_version() {
        let body = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "stream": true,
            "anthropic_version": "2023-06-01",
            "messages": [{"role": "user", "content": "Hello"}],
            "metadata": {"user_id": "u1"},
        });
        assert_eq!(
            anthropic_invoke_body(&body),
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": "Hello"}],
                "metadata": {"user_id": "u1"},
            })
        );
        assert_eq!(anthropic_invoke_body(&json!("x")), json!("x"));
    }

    fn frames_of(bytes: &[u8]) -> Vec<SseFrame> {
        let mut framer = EventStreamFramer::converse();
        let mut frames = framer.push(bytes);
        frames.extend(framer.finish());
        frames
    }

    fn decode_bytes(bytes: &[u8]) -> Vec<StreamEvent> {
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        for frame in frames_of(bytes) {
            decoder.decode(&frame, &mut events);
        }
        decoder.finish(&mut events);
        events
    }

    fn encode_all(events: &[StreamEvent]) -> Vec<u8> {
        let mut encoder = Encoder::new(EncoderOptions {
            model: "m".into(),
            fallback_id: "id".into(),
            own_id: None,
            created: 0,
            include_usage: true,
        });
        let mut out = Vec::new();
        for event in events {
            encoder.encode(event, &mut out);
        }
        out
    }

    #[test]
    fn the_encoder_writes_converse_stream_events_in_order() {
        let events = [
            StreamEvent::Start {
                id: Some("msg_1".into()),
                model: "claude".into(),
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: None,
                },
            },
            StreamEvent::TextDelta { text: "Let".into() },
            StreamEvent::TextDelta { text: " me".into() },
            StreamEvent::ToolCallStart {
                id: "tooluse_1".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "{\"city\":".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "\"Oslo\"}".into(),
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse,
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: None,
                    output_tokens: Some(30),
                },
            },
            StreamEvent::End,
        ];
        let frames = frames_of(&encode_all(&events));
        let names: Vec<&str> = frames.iter().filter_map(|f| f.event.as_deref()).collect();
        assert_eq!(
            names,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata",
            ]
        );
        let metadata: Value = serde_json::from_str(&frames[9].data).unwrap();
        assert_eq!(
            metadata,
            json!({"usage": {"inputTokens": 9, "outputTokens": 30, "totalTokens": 39}})
        );
        let start: Value = serde_json::from_str(&frames[4].data).unwrap();
        assert_eq!(
            start,
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}})
        );
        // Read back: the same events, but for what Converse does not carry (the answer's id,
        // the model, the counts at the start).
        let decoded = decode_bytes(&encode_all(&events));
        assert_eq!(
            decoded[0],
            StreamEvent::Start {
                id: None,
                model: String::new(),
                usage: Usage::default()
            }
        );
        assert_eq!(decoded[1..7], events[1..7]);
        assert_eq!(
            decoded[7],
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: Some(30)
                }
            }
        );
        assert_eq!(decoded[8], StreamEvent::End);
    }

    #[test]
    fn errors_are_exceptions_and_nothing_follows_the_end() {
        let bytes = encode_all(&[
            StreamEvent::TextDelta { text: "a".into() },
            StreamEvent::Error {
                message: "upstream broke".into(),
            },
            StreamEvent::End,
            StreamEvent::TextDelta {
                text: "late".into(),
            },
        ]);
        let frames = frames_of(&bytes);
        assert_eq!(
            frames[2],
            SseFrame {
                event: Some("exception:modelStreamErrorException".into()),
                data: "{\"message\":\"upstream broke\"}".into()
            }
        );
        assert!(!frames.iter().any(|f| f.data.contains("late")));
        let events = decode_bytes(&bytes);
        assert!(events.contains(&StreamEvent::Error {
            message: "modelStreamErrorException: upstream broke".into()
        }));
        assert_eq!(events.last(), Some(&StreamEvent::End));
        // A Bedrock exception read from a stream keeps its type when written again.
        let bytes = encode_all(&[StreamEvent::Error {
            message: "throttlingException: Too many requests".into(),
        }]);
        assert_eq!(
            frames_of(&bytes)[0],
            SseFrame {
                event: Some("exception:throttlingException".into()),
                data: "{\"message\":\"Too many requests\"}".into()
            }
        );
        assert_eq!(exception_of("a: b"), (STREAM_ERROR_EXCEPTION, "a: b"));
    }

    #[test]
    fn the_decoder_ends_at_metadata_or_at_the_close_once_stopped() {
        let stop = encode_event("messageStop", br#"{"stopReason":"end_turn"}"#);
        let events = decode_bytes(&stop);
        assert_eq!(events.last(), Some(&StreamEvent::End));
        assert_eq!(events.iter().filter(|e| **e == StreamEvent::End).count(), 1);
        // Without a stop reason, the stream was cut.
        let start = encode_event("messageStart", br#"{"role":"assistant"}"#);
        assert!(!decode_bytes(&start).contains(&StreamEvent::End));
    }

    #[test]
    fn misplaced_tool_input_and_unreadable_events_are_errors() {
        let mut bytes = encode_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{}"}}}"#,
        );
        bytes.extend(encode_event("contentBlockDelta", b"not json"));
        bytes.extend(encode_event(
            "contentBlockStart",
            br#"{"contentBlockIndex":1,"start":{"image":{"format":"png"}}}"#,
        ));
        bytes.extend(encode_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":1,"delta":{"image":{}}}"#,
        ));
        let events = decode_bytes(&bytes);
        let errors = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Error { .. }))
            .count();
        assert_eq!(errors, 3, "{events:?}");
        assert!(matches!(events[0], StreamEvent::Start { .. }));
    }
}
