//! Anthropic Messages (`POST /v1/messages`) to and from the neutral chat model.
//!
//! - [`parse_request`] / [`render_request`]: a Messages request body. Reading accepts what the
//!   API accepts (string or block `system` and `content`, images by base64 or URL, `tool_use` /
//!   `tool_result` history, client tools, `tool_choice`, sampling, `metadata.user_id`) and
//!   refuses what has no neutral meaning (extended thinking, server tools, documents, MCP,
//!   containers...) with the JSON path of the field. Writing merges adjacent turns of one role
//!   and puts tool results first in their turn, as the API demands.
//! - [`parse_response`] / [`render_response`]: a whole `message` object.
//! - [`Decoder`] / [`Encoder`]: the SSE stream (`message_start`, `content_block_*`,
//!   `message_delta`, `message_stop`, `ping`, `error`). The encoder derives Anthropic's explicit
//!   block boundaries and indices from the neutral event order.
//!
//! What is read but deliberately has no effect is listed in [`IGNORED_FIELDS`].

use std::collections::HashMap;

use clearance_core::api::WireFormat;
use clearance_core::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, ToolDef, Usage,
};
use serde_json::{Map, Value, json};

use super::{EncoderOptions, RenderOptions, StreamDecoder, StreamEncoder, TranslateError};
use crate::sse::SseFrame;

const FORMAT: WireFormat = WireFormat::AnthropicMessages;

/// Fields of an Anthropic request (or answer) that are accepted and have no effect on the
/// answer's meaning, so a translation drops them:
/// - `service_tier`: capacity choice (priority or standard), not content.
/// - `cache_control` (top level and on system blocks, content blocks, tool results and tools):
///   prompt-caching hints; they change cost and latency, not the answer.
/// - `citations` on text blocks: where assistant text came from, not what it says.
/// - `tools[].strict`, `tools[].eager_input_streaming`: schema-conformance and streaming
///   granularity hints for tool input.
/// - `tools[].type: "custom"`: the explicit name of an ordinary client tool.
/// - `thinking: {"type": "disabled"}`: the default.
/// - `thinking` / `redacted_thinking` blocks in assistant history: the model's earlier
///   reasoning, which does not change what it is asked now.
/// - `thinking` / `redacted_thinking` blocks of an answer (and their stream deltas): the
///   reasoning behind the answer, which other formats have no place for.
pub const IGNORED_FIELDS: &[&str] = &[
    "service_tier",
    "cache_control",
    "system[].cache_control",
    "messages[].content[].cache_control",
    "messages[].content[].content[].cache_control",
    "messages[].content[].citations",
    "tools[].cache_control",
    "tools[].strict",
    "tools[].eager_input_streaming",
    "tools[].type (\"custom\")",
    "thinking ({\"type\": \"disabled\"})",
    "messages[] (assistant).content[] thinking / redacted_thinking blocks",
    "response content[] thinking / redacted_thinking blocks",
];

/// Top-level request fields read into the neutral request.
const REQUEST_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
];
const IGNORED_REQUEST_FIELDS: &[&str] = &["service_tier", "cache_control"];
/// Anthropic request fields that change the answer and exist in no other format.
const UNTRANSLATABLE_REQUEST_FIELDS: &[(&str, &str)] = &[
    (
        "container",
        "code-execution containers exist only at Anthropic",
    ),
    (
        "mcp_servers",
        "Anthropic's MCP connector exists only at Anthropic",
    ),
    (
        "context_management",
        "server-side context editing exists only at Anthropic",
    ),
    (
        "output_config",
        "effort and structured-output settings have no translation",
    ),
    (
        "output_format",
        "Anthropic structured outputs have no translation",
    ),
    (
        "inference_geo",
        "a promise about where inference runs cannot be carried to another provider",
    ),
];
/// Fields a text block may carry besides `type` and `text`, none of which change its meaning.
const IGNORED_TEXT_FIELDS: &[&str] = &["cache_control", "citations"];
/// Anthropic's stop reasons, for writing [`StopReason::Other`] back under its own name.
const STOP_REASONS: &[&str] = &[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
];
/// The answer's id when the neutral answer has none (the Messages API always has one).
const MISSING_ID: &str = "msg_unknown";

// ---------------------------------------------------------------------------------------------
// Request: Anthropic -> neutral
// ---------------------------------------------------------------------------------------------

/// Reads an Anthropic Messages request body.
pub fn parse_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let body = object(body, "")?;
    check_request_fields(body)?;
    let (tool_choice, parallel_tool_calls) = parse_tool_choice(member(body, "tool_choice"))?;
    let stream = optional_bool(body, "stream", "")?.unwrap_or(false);
    Ok(ChatRequest {
        model: required_str(body, "model", "")?.to_string(),
        system: parse_system(member(body, "system"))?,
        messages: parse_messages(body)?,
        tools: parse_tools(member(body, "tools"))?,
        tool_choice,
        parallel_tool_calls,
        max_tokens: optional_u64(body, "max_tokens", "")?,
        temperature: unit_interval(body, "temperature")?,
        top_p: unit_interval(body, "top_p")?,
        top_k: optional_u64(body, "top_k", "")?,
        stop: parse_stop_sequences(body)?,
        response_format: None,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        end_user: parse_metadata(member(body, "metadata"))?,
        stream,
        // An Anthropic stream always ends with the usage; a provider that sends it only on
        // request must be asked for it.
        include_usage: stream,
    })
}

fn check_request_fields(body: &Map<String, Value>) -> Result<(), TranslateError> {
    for key in body.keys() {
        if let Some((_, why)) = UNTRANSLATABLE_REQUEST_FIELDS.iter().find(|(k, _)| k == key) {
            return Err(untranslatable(key.as_str(), *why));
        }
        if !REQUEST_FIELDS.contains(&key.as_str())
            && !IGNORED_REQUEST_FIELDS.contains(&key.as_str())
        {
            return Err(not_a_field(key));
        }
    }
    check_thinking(member(body, "thinking"))
}

/// Extended thinking changes the answer (and adds blocks no other format has); only its
/// explicit "disabled" form, the default, translates.
fn check_thinking(thinking: Option<&Value>) -> Result<(), TranslateError> {
    let Some(thinking) = thinking else {
        return Ok(());
    };
    let disabled = thinking.get("type").and_then(Value::as_str) == Some("disabled");
    if disabled {
        Ok(())
    } else {
        Err(untranslatable(
            "thinking",
            "extended thinking exists only at Anthropic",
        ))
    }
}

fn parse_system(system: Option<&Value>) -> Result<Vec<String>, TranslateError> {
    match system {
        None => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(i, block)| parse_system_block(block, &format!("system[{i}]")))
            .collect(),
        Some(_) => Err(invalid(
            "system",
            "expected a string or an array of text blocks",
        )),
    }
}

fn parse_system_block(block: &Value, path: &str) -> Result<String, TranslateError> {
    let block = object(block, path)?;
    match required_str(block, "type", path)? {
        "text" => parse_text_block(block, path),
        other => Err(invalid(
            path,
            format!("system blocks are text blocks, not `{other}`"),
        )),
    }
}

fn parse_text_block(block: &Map<String, Value>, path: &str) -> Result<String, TranslateError> {
    check_keys(block, path, &["type", "text"], IGNORED_TEXT_FIELDS)?;
    Ok(required_str(block, "text", path)?.to_string())
}

fn parse_messages(body: &Map<String, Value>) -> Result<Vec<Message>, TranslateError> {
    let messages = member(body, "messages")
        .ok_or_else(|| invalid("messages", "required"))?
        .as_array()
        .ok_or_else(|| invalid("messages", "expected an array"))?;
    let mut parsed = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        if let Some(message) = parse_message(message, &format!("messages[{i}]"))? {
            parsed.push(message);
        }
    }
    Ok(parsed)
}

/// One message, or `None` for an assistant turn that held only (dropped) thinking blocks.
fn parse_message(message: &Value, path: &str) -> Result<Option<Message>, TranslateError> {
    let message = object(message, path)?;
    check_keys(message, path, &["role", "content"], &[])?;
    let role = match required_str(message, "role", path)? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(invalid(
                at(path, "role"),
                format!("expected \"user\" or \"assistant\", not {other:?}"),
            ));
        }
    };
    let content_path = at(path, "content");
    let content = match member(message, "content") {
        Some(Value::String(text)) => vec![Part::text(text.as_str())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let block_path = format!("{content_path}[{j}]");
                parts.extend(parse_content_block(block, role, &block_path)?);
            }
            if parts.is_empty() && !blocks.is_empty() {
                return Ok(None);
            }
            parts
        }
        Some(_) => {
            return Err(invalid(
                content_path,
                "expected a string or an array of content blocks",
            ));
        }
        None => return Err(invalid(content_path, "required")),
    };
    Ok(Some(Message { role, content }))
}

/// One content block of a `role` turn; `None` for a block dropped as documented.
fn parse_content_block(
    block: &Value,
    role: Role,
    path: &str,
) -> Result<Option<Part>, TranslateError> {
    let block = object(block, path)?;
    let kind = required_str(block, "type", path)?;
    match (kind, role) {
        ("text", _) => Ok(Some(Part::Text {
            text: parse_text_block(block, path)?,
        })),
        ("image", Role::User) => Ok(Some(Part::Image {
            image: parse_image(block, path)?,
        })),
        ("tool_result", Role::User) => parse_tool_result(block, path).map(Some),
        ("tool_use", Role::Assistant) => parse_tool_use(block, path).map(Some),
        // Earlier reasoning does not change what the model is asked now (listed in
        // IGNORED_FIELDS).
        ("thinking" | "redacted_thinking", Role::Assistant) => Ok(None),
        ("image" | "tool_result" | "tool_use" | "thinking" | "redacted_thinking", _) => {
            Err(invalid(
                path,
                format!(
                    "a `{kind}` block cannot be part of a {} turn",
                    role_name(role)
                ),
            ))
        }
        _ => Err(untranslatable(
            path,
            format!("`{kind}` content blocks exist only at Anthropic"),
        )),
    }
}

fn parse_image(block: &Map<String, Value>, path: &str) -> Result<Image, TranslateError> {
    check_keys(block, path, &["type", "source"], &["cache_control"])?;
    let source_path = at(path, "source");
    let source = object(
        member(block, "source").ok_or_else(|| invalid(&source_path, "required"))?,
        &source_path,
    )?;
    match required_str(source, "type", &source_path)? {
        "base64" => {
            check_keys(source, &source_path, &["type", "media_type", "data"], &[])?;
            Ok(Image::Base64 {
                media_type: required_str(source, "media_type", &source_path)?.to_string(),
                data: required_str(source, "data", &source_path)?.to_string(),
            })
        }
        "url" => {
            check_keys(source, &source_path, &["type", "url"], &[])?;
            Ok(Image::Url {
                url: required_str(source, "url", &source_path)?.to_string(),
            })
        }
        "file" => Err(untranslatable(
            source_path,
            "files uploaded to Anthropic's Files API exist only at Anthropic",
        )),
        other => Err(invalid(
            at(&source_path, "type"),
            format!("expected \"base64\" or \"url\", not {other:?}"),
        )),
    }
}

fn parse_tool_use(block: &Map<String, Value>, path: &str) -> Result<Part, TranslateError> {
    check_keys(
        block,
        path,
        &["type", "id", "name", "input"],
        &["cache_control"],
    )?;
    let input_path = at(path, "input");
    let arguments = match member(block, "input") {
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => return Err(invalid(input_path, "expected a JSON object")),
        None => return Err(invalid(input_path, "required")),
    };
    Ok(Part::ToolCall {
        id: required_str(block, "id", path)?.to_string(),
        name: required_str(block, "name", path)?.to_string(),
        arguments,
    })
}

fn parse_tool_result(block: &Map<String, Value>, path: &str) -> Result<Part, TranslateError> {
    check_keys(
        block,
        path,
        &["type", "tool_use_id", "content", "is_error"],
        &["cache_control"],
    )?;
    let content_path = at(path, "content");
    let content = match member(block, "content") {
        None => Vec::new(),
        Some(Value::String(text)) => vec![Part::text(text.as_str())],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(k, block)| parse_tool_result_block(block, &format!("{content_path}[{k}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                content_path,
                "expected a string or an array of content blocks",
            ));
        }
    };
    Ok(Part::ToolResult {
        call_id: required_str(block, "tool_use_id", path)?.to_string(),
        content,
        is_error: optional_bool(block, "is_error", path)?.unwrap_or(false),
    })
}

fn parse_tool_result_block(block: &Value, path: &str) -> Result<Part, TranslateError> {
    let block = object(block, path)?;
    match required_str(block, "type", path)? {
        "text" => Ok(Part::Text {
            text: parse_text_block(block, path)?,
        }),
        "image" => Ok(Part::Image {
            image: parse_image(block, path)?,
        }),
        other => Err(untranslatable(
            path,
            format!("a tool result holding a `{other}` block has no translation"),
        )),
    }
}

fn parse_tools(tools: Option<&Value>) -> Result<Vec<ToolDef>, TranslateError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| invalid("tools", "expected an array"))?;
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| parse_tool(tool, &format!("tools[{i}]")))
        .collect()
}

fn parse_tool(tool: &Value, path: &str) -> Result<ToolDef, TranslateError> {
    let tool = object(tool, path)?;
    // Server tools (web search, bash, code execution...) run at Anthropic; a client tool has
    // no `type` or the type "custom".
    match optional_str(tool, "type", path)? {
        None | Some("custom") => {}
        Some(kind) => {
            return Err(untranslatable(
                path,
                format!("the server tool `{kind}` runs only at Anthropic"),
            ));
        }
    }
    check_keys(
        tool,
        path,
        &["type", "name", "description", "input_schema"],
        &["cache_control", "strict", "eager_input_streaming"],
    )?;
    let schema_path = at(path, "input_schema");
    let parameters = match member(tool, "input_schema") {
        None => json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => return Err(invalid(schema_path, "expected a JSON Schema object")),
    };
    Ok(ToolDef {
        name: required_str(tool, "name", path)?.to_string(),
        description: optional_str(tool, "description", path)?.map(str::to_string),
        parameters,
    })
}

/// `tool_choice` and what its `disable_parallel_tool_use` says about parallel calls.
fn parse_tool_choice(
    choice: Option<&Value>,
) -> Result<(Option<ToolChoice>, Option<bool>), TranslateError> {
    let Some(choice) = choice else {
        return Ok((None, None));
    };
    let path = "tool_choice";
    let choice = object(choice, path)?;
    let kind = required_str(choice, "type", path)?;
    let known: &[&str] = match kind {
        "tool" => &["type", "name", "disable_parallel_tool_use"],
        "none" => &["type"],
        _ => &["type", "disable_parallel_tool_use"],
    };
    check_keys(choice, path, known, &[])?;
    let parsed = match kind {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Tool {
            name: required_str(choice, "name", path)?.to_string(),
        },
        other => {
            return Err(invalid(
                at(path, "type"),
                format!("expected \"auto\", \"any\", \"tool\" or \"none\", not {other:?}"),
            ));
        }
    };
    let parallel = optional_bool(choice, "disable_parallel_tool_use", path)?.map(|off| !off);
    Ok((Some(parsed), parallel))
}

fn parse_stop_sequences(body: &Map<String, Value>) -> Result<Vec<String>, TranslateError> {
    let Some(sequences) = member(body, "stop_sequences") else {
        return Ok(Vec::new());
    };
    let sequences = sequences
        .as_array()
        .ok_or_else(|| invalid("stop_sequences", "expected an array of strings"))?;
    sequences
        .iter()
        .enumerate()
        .map(|(i, sequence)| {
            sequence
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("stop_sequences[{i}]"), "expected a string"))
        })
        .collect()
}

/// `metadata.user_id`, the only metadata Anthropic defines.
fn parse_metadata(metadata: Option<&Value>) -> Result<Option<String>, TranslateError> {
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    let metadata = object(metadata, "metadata")?;
    check_keys(metadata, "metadata", &["user_id"], &[])?;
    Ok(optional_str(metadata, "user_id", "metadata")?.map(str::to_string))
}

/// A sampling parameter Anthropic bounds to 0..=1.
fn unit_interval(body: &Map<String, Value>, key: &str) -> Result<Option<f64>, TranslateError> {
    let value = optional_f64(body, key, "")?;
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => {
            Err(invalid(key, format!("must be between 0 and 1, not {v}")))
        }
        _ => Ok(value),
    }
}

// ---------------------------------------------------------------------------------------------
// Request: neutral -> Anthropic
// ---------------------------------------------------------------------------------------------

/// Writes a neutral request as an Anthropic Messages body for `upstream_model`.
pub fn render_request(
    request: &ChatRequest,
    upstream_model: &str,
    options: &RenderOptions,
) -> Result<Value, TranslateError> {
    refuse_inexpressible(request)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    let max_tokens = request.max_tokens.unwrap_or(options.default_max_tokens);
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(system) = render_system(&request.system) {
        body.insert("system".into(), system);
    }
    body.insert(
        "messages".into(),
        Value::Array(render_messages(&request.messages)?),
    );
    if !request.tools.is_empty() {
        body.insert("tools".into(), render_tools(&request.tools));
    }
    if let Some(choice) =
        render_tool_choice(request.tool_choice.as_ref(), request.parallel_tool_calls)
    {
        body.insert("tool_choice".into(), choice);
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    insert_some(&mut body, "temperature", request.temperature);
    insert_some(&mut body, "top_p", request.top_p);
    insert_some(&mut body, "top_k", request.top_k);
    if let Some(user) = &request.end_user {
        body.insert("metadata".into(), json!({ "user_id": user }));
    }
    if request.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    Ok(Value::Object(body))
}

/// Refuses what the Messages API has no field for.
fn refuse_inexpressible(request: &ChatRequest) -> Result<(), TranslateError> {
    if let Some(t) = request.temperature.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(unsupported(
            "temperature",
            format!("Anthropic accepts a temperature between 0 and 1, not {t}"),
        ));
    }
    let absent = [
        ("seed", request.seed.is_some()),
        ("presence_penalty", request.presence_penalty.is_some()),
        ("frequency_penalty", request.frequency_penalty.is_some()),
    ];
    if let Some((field, _)) = absent.iter().find(|(_, set)| *set) {
        return Err(unsupported(
            *field,
            "the Messages API has no such parameter",
        ));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => Ok(()),
        Some(_) => Err(unsupported(
            "response_format",
            "the Messages API has no JSON output mode",
        )),
    }
}

/// A single prompt as a string (the common form), several as text blocks.
fn render_system(system: &[String]) -> Option<Value> {
    let blocks: Vec<&String> = system.iter().filter(|text| !text.is_empty()).collect();
    match blocks.as_slice() {
        [] => None,
        [only] => Some(json!(only)),
        many => Some(Value::Array(
            many.iter().map(|text| text_block(text)).collect(),
        )),
    }
}

/// The messages as Anthropic turns: roles alternate (adjacent messages of one role are one
/// turn), tool results open their turn, and a turn with nothing to say is left out.
fn render_messages(messages: &[Message]) -> Result<Vec<Value>, TranslateError> {
    if messages.first().is_some_and(|m| m.role == Role::Assistant) {
        return Err(unsupported(
            "messages[0]",
            "an Anthropic conversation starts with a user turn",
        ));
    }
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let blocks = render_message_content(message, i)?;
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, content)) if *role == message.role => content.extend(blocks),
            _ => turns.push((message.role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // "tool_result blocks must come FIRST in the content array" (tool-use guide);
            // the sort is stable, so results and other blocks each keep their order.
            blocks.sort_by_key(|block| block["type"] != "tool_result");
            json!({ "role": role_name(role), "content": blocks })
        })
        .collect())
}

fn render_message_content(message: &Message, i: usize) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::with_capacity(message.content.len());
    for (j, part) in message.content.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        if let Some(block) = render_part(part, message.role, &path)? {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// One part as a content block; `None` for empty text, which Anthropic refuses and which
/// says nothing.
fn render_part(part: &Part, role: Role, path: &str) -> Result<Option<Value>, TranslateError> {
    match (part, role) {
        (Part::Text { text }, _) if text.is_empty() => Ok(None),
        (Part::Text { text }, _) => Ok(Some(text_block(text))),
        (Part::Image { image }, Role::User) => Ok(Some(image_block(image))),
        (
            Part::ToolCall {
                id,
                name,
                arguments,
            },
            Role::Assistant,
        ) => Ok(Some(tool_use_block(id, name, arguments))),
        (
            Part::ToolResult {
                call_id,
                content,
                is_error,
            },
            Role::User,
        ) => render_tool_result(call_id, content, *is_error, path).map(Some),
        (Part::Image { .. }, Role::Assistant) => Err(unsupported(
            path,
            "Anthropic takes images in user turns only",
        )),
        (Part::ToolCall { .. }, Role::User) => Err(unsupported(
            path,
            "Anthropic takes tool calls in assistant turns only",
        )),
        (Part::ToolResult { .. }, Role::Assistant) => Err(unsupported(
            path,
            "Anthropic takes tool results in user turns only",
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
        match part {
            Part::Text { text } if text.is_empty() => {}
            Part::Text { text } => blocks.push(text_block(text)),
            Part::Image { image } => blocks.push(image_block(image)),
            Part::ToolCall { .. } | Part::ToolResult { .. } => {
                return Err(unsupported(
                    format!("{path}.content[{k}]"),
                    "a tool result holds text and images only",
                ));
            }
        }
    }
    let mut block = Map::new();
    block.insert("type".into(), json!("tool_result"));
    block.insert("tool_use_id".into(), json!(call_id));
    if !blocks.is_empty() {
        block.insert("content".into(), Value::Array(blocks));
    }
    if is_error {
        block.insert("is_error".into(), Value::Bool(true));
    }
    Ok(Value::Object(block))
}

fn text_block(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

fn image_block(image: &Image) -> Value {
    let source = match image {
        Image::Base64 { media_type, data } => {
            json!({ "type": "base64", "media_type": media_type, "data": data })
        }
        Image::Url { url } => json!({ "type": "url", "url": url }),
    };
    json!({ "type": "image", "source": source })
}

fn tool_use_block(id: &str, name: &str, arguments: &Value) -> Value {
    json!({ "type": "tool_use", "id": id, "name": name, "input": arguments })
}

fn render_tools(tools: &[ToolDef]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|tool| {
                let mut out = Map::new();
                out.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    out.insert("description".into(), json!(description));
                }
                out.insert("input_schema".into(), tool.parameters.clone());
                Value::Object(out)
            })
            .collect(),
    )
}

/// `tool_choice`, carrying `disable_parallel_tool_use` when the request said anything about
/// parallel calls (with `auto`, the default choice, when it named no choice but forbade them).
fn render_tool_choice(choice: Option<&ToolChoice>, parallel: Option<bool>) -> Option<Value> {
    let choice = match (choice, parallel) {
        (Some(choice), _) => choice,
        (None, Some(false)) => &ToolChoice::Auto,
        (None, _) => return None,
    };
    let mut out = Map::new();
    match choice {
        ToolChoice::Auto => out.insert("type".into(), json!("auto")),
        ToolChoice::Required => out.insert("type".into(), json!("any")),
        // `none` takes no other field: with no calls, parallelism means nothing.
        ToolChoice::None => return Some(json!({ "type": "none" })),
        ToolChoice::Tool { name } => {
            out.insert("type".into(), json!("tool"));
            out.insert("name".into(), json!(name))
        }
    };
    if let Some(parallel) = parallel {
        out.insert("disable_parallel_tool_use".into(), Value::Bool(!parallel));
    }
    Some(Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// Reads a `message` object as the Messages API returns it.
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let body = object(body, "")?;
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(invalid("error", error_message(body.get("error"))));
    }
    let blocks = member(body, "content")
        .ok_or_else(|| invalid("content", "required"))?
        .as_array()
        .ok_or_else(|| invalid("content", "expected an array of content blocks"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        content.extend(parse_answer_block(block, &format!("content[{i}]"))?);
    }
    let stop_sequence = optional_str(body, "stop_sequence", "")?;
    let stop_reason =
        optional_str(body, "stop_reason", "")?.map(|name| stop_reason_of(name, stop_sequence));
    Ok(ChatResponse {
        id: optional_str(body, "id", "")?.map(str::to_string),
        model: optional_str(body, "model", "")?
            .unwrap_or_default()
            .to_string(),
        content,
        stop_reason,
        usage: usage_of(member(body, "usage")),
    })
}

/// One block of an answer: text and tool calls translate, reasoning is skipped (documented),
/// the results of Anthropic's server tools have no translation.
fn parse_answer_block(block: &Value, path: &str) -> Result<Option<Part>, TranslateError> {
    let block = object(block, path)?;
    match required_str(block, "type", path)? {
        "text" => Ok(Some(Part::Text {
            text: required_str(block, "text", path)?.to_string(),
        })),
        "tool_use" => {
            let input = member(block, "input")
                .filter(|input| input.is_object())
                .ok_or_else(|| invalid(at(path, "input"), "expected a JSON object"))?;
            Ok(Some(Part::ToolCall {
                id: required_str(block, "id", path)?.to_string(),
                name: required_str(block, "name", path)?.to_string(),
                arguments: input.clone(),
            }))
        }
        "thinking" | "redacted_thinking" => Ok(None),
        other => Err(untranslatable(
            path,
            format!("`{other}` content blocks exist only at Anthropic"),
        )),
    }
}

/// Writes a neutral answer as a `message` object, fields in the API's order.
pub fn render_response(response: &ChatResponse) -> Value {
    let (stop_reason, stop_sequence) = match &response.stop_reason {
        Some(reason) => {
            let (name, sequence) = stop_reason_name(reason);
            (json!(name), json!(sequence))
        }
        None => (Value::Null, Value::Null),
    };
    // An answer holds text and tool calls; images or tool results have no place in an
    // Anthropic answer, and a neutral answer does not carry them.
    let content: Vec<Value> = response
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text { text } => Some(text_block(text)),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(tool_use_block(id, name, arguments)),
            Part::Image { .. } | Part::ToolResult { .. } => None,
        })
        .collect();
    json!({
        "id": response.id.as_deref().unwrap_or(MISSING_ID),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_json(response.usage),
    })
}

fn stop_reason_of(name: &str, sequence: Option<&str>) -> StopReason {
    match name {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence(sequence.map(str::to_string)),
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// The `stop_reason` and `stop_sequence` for a neutral reason.
fn stop_reason_name(reason: &StopReason) -> (&str, Option<&str>) {
    match reason {
        StopReason::EndTurn => ("end_turn", None),
        StopReason::MaxTokens => ("max_tokens", None),
        StopReason::StopSequence(sequence) => ("stop_sequence", sequence.as_deref()),
        StopReason::ToolUse => ("tool_use", None),
        StopReason::ContentFilter => ("refusal", None),
        StopReason::Other(name) if STOP_REASONS.contains(&name.as_str()) => (name, None),
        StopReason::Other(_) => ("end_turn", None),
    }
}

/// Anthropic's counts: input is `input_tokens` plus the cached input counted apart
/// ("Total input tokens in a request is the summation of input_tokens,
/// cache_creation_input_tokens, and cache_read_input_tokens").
fn usage_of(usage: Option<&Value>) -> Usage {
    let count = |key: &str| usage.and_then(|u| u.get(key)).and_then(Value::as_u64);
    let cached = count("cache_creation_input_tokens")
        .unwrap_or(0)
        .saturating_add(count("cache_read_input_tokens").unwrap_or(0));
    Usage {
        input_tokens: count("input_tokens").map(|n| n.saturating_add(cached)),
        output_tokens: count("output_tokens"),
    }
}

/// Counts as the API writes them: always both, as integers (client SDKs read them so).
fn usage_json(usage: Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens.unwrap_or(0),
        "output_tokens": usage.output_tokens.unwrap_or(0),
    })
}

fn error_message(error: Option<&Value>) -> String {
    let field = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str);
    field("message")
        .or(field("type"))
        .unwrap_or("Anthropic reported an error")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// What a content block of the stream is, so its deltas can be read (or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    ToolUse,
    /// Reasoning (dropped as documented) or a block with no translation (reported once).
    Skipped,
}

/// Reads Anthropic's Messages SSE events.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The kind of each block opened so far, by its `index`.
    blocks: HashMap<u64, BlockKind>,
}

impl StreamDecoder for Decoder {
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>) {
        if frame.data.trim().is_empty() {
            return;
        }
        let event: Value = match serde_json::from_str(&frame.data) {
            Ok(event) => event,
            Err(e) => {
                let name = frame.event.as_deref().unwrap_or("(unnamed)");
                out.push(stream_error(format!(
                    "unreadable Anthropic stream event `{name}`: {e}"
                )));
                return;
            }
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or_default();
        match kind {
            "message_start" => self.message_start(&event, out),
            "content_block_start" => self.block_start(&event, out),
            "content_block_delta" => self.block_delta(&event, out),
            "message_delta" => message_delta(&event, out),
            "message_stop" => out.push(StreamEvent::End),
            "error" => out.push(stream_error(error_message(event.get("error")))),
            // A block's end is implied by the next block's start; `ping` is a keep-alive;
            // Anthropic's versioning policy adds event types that clients should pass over.
            _ => {}
        }
    }

    /// Anthropic ends a stream with `message_stop`; without it the stream was cut and no
    /// proper end is owed.
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) {}
}

impl Decoder {
    fn message_start(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        self.blocks.clear();
        let Some(message) = event.get("message").filter(|m| m.is_object()) else {
            out.push(stream_error("message_start without a message"));
            return;
        };
        let text = |key: &str| message.get(key).and_then(Value::as_str);
        out.push(StreamEvent::Start {
            id: text("id").map(str::to_string),
            model: text("model").unwrap_or_default().to_string(),
            usage: usage_of(message.get("usage")),
        });
    }

    fn block_start(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        let (Some(index), Some(block)) = (block_index(event), event.get("content_block")) else {
            out.push(stream_error(
                "content_block_start without an index or a content_block",
            ));
            return;
        };
        let field = |key: &str| block.get(key).and_then(Value::as_str);
        let kind = match field("type").unwrap_or_default() {
            "text" => {
                if let Some(text) = field("text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta { text: text.into() });
                }
                BlockKind::Text
            }
            "tool_use" => match (field("id"), field("name")) {
                (Some(id), Some(name)) => {
                    out.push(StreamEvent::ToolCallStart {
                        id: id.into(),
                        name: name.into(),
                    });
                    // The API opens with `input: {}` and streams the input as deltas; an
                    // input given whole is passed on as one fragment.
                    let given = block.get("input").and_then(Value::as_object);
                    if let Some(input) = given.filter(|input| !input.is_empty()) {
                        out.push(StreamEvent::ToolCallArguments {
                            json: Value::Object(input.clone()).to_string(),
                        });
                    }
                    BlockKind::ToolUse
                }
                _ => {
                    out.push(stream_error(format!(
                        "tool_use block {index} without an id or a name"
                    )));
                    BlockKind::Skipped
                }
            },
            "thinking" | "redacted_thinking" => BlockKind::Skipped,
            other => {
                out.push(stream_error(format!(
                    "content block {index} of type `{other}` has no translation"
                )));
                BlockKind::Skipped
            }
        };
        self.blocks.insert(index, kind);
    }

    fn block_delta(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        let (Some(index), Some(delta)) = (block_index(event), event.get("delta")) else {
            out.push(stream_error(
                "content_block_delta without an index or a delta",
            ));
            return;
        };
        let block = self.blocks.get(&index).copied();
        if block == Some(BlockKind::Skipped) {
            return;
        }
        let field = |key: &str| delta.get(key).and_then(Value::as_str);
        match field("type").unwrap_or_default() {
            // Text is text wherever it goes, even in a block whose start was missed.
            "text_delta" => {
                if let Some(text) = field("text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta { text: text.into() });
                }
            }
            // Arguments belong to the open tool call only; attached anywhere else they would
            // be read as another call's.
            "input_json_delta" if block == Some(BlockKind::ToolUse) => {
                if let Some(json) = field("partial_json").filter(|j| !j.is_empty()) {
                    out.push(StreamEvent::ToolCallArguments { json: json.into() });
                }
            }
            "input_json_delta" => out.push(stream_error(format!(
                "input_json_delta for block {index}, which is not a tool_use block"
            ))),
            "thinking_delta" | "signature_delta" | "citations_delta" => {}
            other => out.push(stream_error(format!(
                "content block delta of type `{other}` has no translation"
            ))),
        }
    }
}

/// `message_delta`: the stop reason, then the (cumulative) counts.
fn message_delta(event: &Value, out: &mut Vec<StreamEvent>) {
    let delta = event.get("delta");
    let field = |key: &str| delta.and_then(|d| d.get(key)).and_then(Value::as_str);
    if let Some(name) = field("stop_reason") {
        out.push(StreamEvent::Stop {
            reason: stop_reason_of(name, field("stop_sequence")),
        });
    }
    if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
        out.push(StreamEvent::Usage {
            usage: usage_of(Some(usage)),
        });
    }
}

fn block_index(event: &Value) -> Option<u64> {
    event.get("index").and_then(Value::as_u64)
}

fn stream_error(message: impl Into<String>) -> StreamEvent {
    StreamEvent::Error {
        message: message.into(),
    }
}

/// The content block the encoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    ToolUse,
}

/// Writes neutral events as Anthropic's Messages SSE events, exactly in the API's sequence:
/// `message_start`, then per block `content_block_start` / `_delta`... / `_stop` with its
/// `index`, then `message_delta` (stop reason and counts, remembered until the end) and
/// `message_stop`.
pub struct Encoder {
    options: EncoderOptions,
    started: bool,
    ended: bool,
    /// The open block and its index.
    open: Option<(u64, OpenBlock)>,
    next_index: u64,
    stop: Option<StopReason>,
    /// Counts given at the start.
    start_usage: Usage,
    /// Counts given later (`message_delta` carries these).
    later_usage: Usage,
}

impl Encoder {
    pub fn new(options: EncoderOptions) -> Encoder {
        Encoder {
            options,
            started: false,
            ended: false,
            open: None,
            next_index: 0,
            stop: None,
            start_usage: Usage::default(),
            later_usage: Usage::default(),
        }
    }

    fn start(&mut self, id: Option<&str>, usage: Usage, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.start_usage = usage;
        let id = id.unwrap_or(&self.options.fallback_id);
        let message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": self.options.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage_json(usage),
        });
        write_event(
            out,
            "message_start",
            &json!({ "type": "message_start", "message": message }),
        );
    }

    /// A stream whose first event is not `Start` still opens with `message_start`.
    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start(None, Usage::default(), out);
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        self.ensure_started(out);
        let index = match self.open {
            Some((index, OpenBlock::Text)) => index,
            _ => self.open_block(OpenBlock::Text, json!({ "type": "text", "text": "" }), out),
        };
        let delta = json!({ "type": "text_delta", "text": text });
        write_block_delta(out, index, delta);
    }

    fn tool_start(&mut self, id: &str, name: &str, out: &mut Vec<u8>) {
        self.ensure_started(out);
        let block = json!({ "type": "tool_use", "id": id, "name": name, "input": {} });
        self.open_block(OpenBlock::ToolUse, block, out);
    }

    fn tool_arguments(&mut self, json: &str, out: &mut Vec<u8>) {
        // Fragments with no open tool call belong to nothing the client could read.
        if let Some((index, OpenBlock::ToolUse)) = self.open
            && !json.is_empty()
        {
            let delta = json!({ "type": "input_json_delta", "partial_json": json });
            write_block_delta(out, index, delta);
        }
    }

    /// Closes the open block and opens the next one; returns its index.
    fn open_block(&mut self, kind: OpenBlock, content_block: Value, out: &mut Vec<u8>) -> u64 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        let start = json!({
            "type": "content_block_start",
            "index": index,
            "content_block": content_block,
        });
        write_event(out, "content_block_start", &start);
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            let stop = json!({ "type": "content_block_stop", "index": index });
            write_event(out, "content_block_stop", &stop);
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.ensure_started(out);
        self.close_block(out);
        let (stop_reason, stop_sequence) = match &self.stop {
            Some(reason) => stop_reason_name(reason),
            None => ("end_turn", None),
        };
        let output_tokens = self
            .later_usage
            .output_tokens
            .or(self.start_usage.output_tokens)
            .unwrap_or(0);
        let mut usage = Map::new();
        // Input counts learned after the start (OpenAI and Gemini give them last) go where
        // the API puts late counts.
        if let Some(input) = self.later_usage.input_tokens {
            usage.insert("input_tokens".into(), json!(input));
        }
        usage.insert("output_tokens".into(), json!(output_tokens));
        let delta = json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason, "stop_sequence": stop_sequence },
            "usage": usage,
        });
        write_event(out, "message_delta", &delta);
        write_event(out, "message_stop", &json!({ "type": "message_stop" }));
        self.ended = true;
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, usage, .. } => self.start(id.as_deref(), *usage, out),
            StreamEvent::TextDelta { text } => self.text(text, out),
            StreamEvent::ToolCallStart { id, name } => self.tool_start(id, name, out),
            StreamEvent::ToolCallArguments { json } => self.tool_arguments(json, out),
            StreamEvent::Usage { usage } => self.later_usage = self.later_usage.updated(*usage),
            StreamEvent::Stop { reason } => self.stop = Some(reason.clone()),
            StreamEvent::Error { message } => {
                let error = json!({
                    "type": "error",
                    "error": { "type": "api_error", "message": message },
                });
                write_event(out, "error", &error);
            }
            StreamEvent::End => self.end(out),
        }
    }
}

fn write_block_delta(out: &mut Vec<u8>, index: u64, delta: Value) {
    let event = json!({ "type": "content_block_delta", "index": index, "delta": delta });
    write_event(out, "content_block_delta", &event);
}

/// One SSE event as the API writes it: its name, then its data as compact JSON.
fn write_event(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

// ---------------------------------------------------------------------------------------------
// Reading JSON with paths
// ---------------------------------------------------------------------------------------------

fn untranslatable(field: impl Into<String>, why: impl Into<String>) -> TranslateError {
    TranslateError::untranslatable(field, FORMAT, why)
}

fn unsupported(field: impl Into<String>, why: impl Into<String>) -> TranslateError {
    TranslateError::unsupported(field, FORMAT, why)
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> TranslateError {
    TranslateError::invalid(field, why)
}

fn not_a_field(path: &str) -> TranslateError {
    untranslatable(path, "not a field of the Anthropic Messages API")
}

/// `path.key`, or `key` at the top level (`path` empty).
fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, TranslateError> {
    value.as_object().ok_or_else(|| {
        let field = if path.is_empty() { "body" } else { path };
        invalid(field, "expected a JSON object")
    })
}

/// Refuses any key of `object` that is neither `known` nor `ignored`.
fn check_keys(
    object: &Map<String, Value>,
    path: &str,
    known: &[&str],
    ignored: &[&str],
) -> Result<(), TranslateError> {
    match object
        .keys()
        .find(|key| !known.contains(&key.as_str()) && !ignored.contains(&key.as_str()))
    {
        Some(key) => Err(not_a_field(&at(path, key))),
        None => Ok(()),
    }
}

/// A member that is present and not `null` (the API treats `null` as absent).
fn member<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, TranslateError> {
    member(object, key)
        .map(|value| {
            value
                .as_str()
                .ok_or_else(|| invalid(at(path, key), "expected a string"))
        })
        .transpose()
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, TranslateError> {
    optional_str(object, key, path)?.ok_or_else(|| invalid(at(path, key), "required"))
}

fn optional_bool(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<bool>, TranslateError> {
    member(object, key)
        .map(|value| {
            value
                .as_bool()
                .ok_or_else(|| invalid(at(path, key), "expected true or false"))
        })
        .transpose()
}

fn optional_f64(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, TranslateError> {
    member(object, key)
        .map(|value| {
            value
                .as_f64()
                .ok_or_else(|| invalid(at(path, key), "expected a number"))
        })
        .transpose()
}

fn optional_u64(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, TranslateError> {
    member(object, key)
        .map(|value| {
            value
                .as_u64()
                .ok_or_else(|| invalid(at(path, key), "expected a non-negative integer"))
        })
        .transpose()
}

fn insert_some<T: Into<Value>>(object: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        object.insert(key.to_string(), value.into());
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}
