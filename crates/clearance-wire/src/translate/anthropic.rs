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

pub(crate) mod errors;

use std::collections::HashMap;

use clearance_core::api::WireFormat;
use clearance_core::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, ToolDef, Usage,
};
use serde_json::{Map, Value, json};

use super::json::{Json, Wording, at, insert_some, invalid, is_image_media_type, present};
use super::{
    EncoderOptions, RenderOptions, StreamDecoder, StreamEncoder, TranslateError, push_turn,
    write_sse_event,
};
use crate::sse::SseFrame;

const FORMAT: WireFormat = WireFormat::AnthropicMessages;

/// Fields of an Anthropic request (or answer) that are accepted and have no effect on the
/// answer's meaning, so a translation drops them:
/// - `service_tier`: capacity choice (priority or standard), not content.
/// - `cache_control` (top level and on system blocks, content blocks, tool results and tools):
///   prompt-caching hints; they change cost and latency, not the answer.
/// - `citations` on text blocks (and `citations_delta` in streams): where text came from, not
///   what it says.
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
    "response content[].citations",
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
    let body = JSON.object(body, "")?;
    check_request_fields(body)?;
    let (tool_choice, parallel_tool_calls) = parse_tool_choice(present(body, "tool_choice"))?;
    let stream = JSON
        .member(body, "", "stream", Json::bool)?
        .unwrap_or(false);
    Ok(ChatRequest {
        model: JSON.required_str(body, "", "model")?.to_string(),
        system: parse_system(present(body, "system"))?,
        messages: parse_messages(body)?,
        tools: parse_tools(present(body, "tools"))?,
        tool_choice,
        parallel_tool_calls,
        max_tokens: JSON.member(body, "", "max_tokens", Json::u64)?,
        temperature: unit_interval(body, "temperature")?,
        top_p: unit_interval(body, "top_p")?,
        top_k: JSON.member(body, "", "top_k", Json::u64)?,
        stop: parse_stop_sequences(body)?,
        response_format: None,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        end_user: parse_metadata(present(body, "metadata"))?,
        stream,
        // An Anthropic stream always ends with the usage; a provider that sends it only on
        // request must be asked for it.
        include_usage: stream,
    })
}

fn check_request_fields(body: &Map<String, Value>) -> Result<(), TranslateError> {
    for key in body.keys() {
        if let Some((_, why)) = UNTRANSLATABLE_REQUEST_FIELDS.iter().find(|(k, _)| k == key) {
            return Err(JSON.untranslatable(key.as_str(), *why));
        }
        if !REQUEST_FIELDS.contains(&key.as_str())
            && !IGNORED_REQUEST_FIELDS.contains(&key.as_str())
        {
            return Err(not_a_field(key));
        }
    }
    check_thinking(present(body, "thinking"))
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
        Err(JSON.untranslatable("thinking", "extended thinking exists only at Anthropic"))
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
    let block = JSON.object(block, path)?;
    match JSON.required_str(block, path, "type")? {
        "text" => parse_text_block(block, path),
        other => Err(invalid(
            path,
            format!("system blocks are text blocks, not `{other}`"),
        )),
    }
}

fn parse_text_block(block: &Map<String, Value>, path: &str) -> Result<String, TranslateError> {
    check_keys(block, path, &["type", "text"], IGNORED_TEXT_FIELDS)?;
    Ok(JSON.required_str(block, path, "text")?.to_string())
}

fn parse_messages(body: &Map<String, Value>) -> Result<Vec<Message>, TranslateError> {
    let messages = JSON.array(JSON.required(body, "", "messages")?, "messages")?;
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
    let message = JSON.object(message, path)?;
    check_keys(message, path, &["role", "content"], &[])?;
    let role = match JSON.required_str(message, path, "role")? {
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
    let content = match present(message, "content") {
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
        None => return Err(invalid(content_path, JSON.wording.required)),
    };
    Ok(Some(Message { role, content }))
}

/// One content block of a `role` turn; `None` for a block dropped as documented.
fn parse_content_block(
    block: &Value,
    role: Role,
    path: &str,
) -> Result<Option<Part>, TranslateError> {
    let block = JSON.object(block, path)?;
    let kind = JSON.required_str(block, path, "type")?;
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
        _ => Err(JSON.untranslatable(
            path,
            format!("`{kind}` content blocks exist only at Anthropic"),
        )),
    }
}

fn parse_image(block: &Map<String, Value>, path: &str) -> Result<Image, TranslateError> {
    check_keys(block, path, &["type", "source"], &["cache_control"])?;
    let source_path = at(path, "source");
    let source = JSON.object(JSON.required(block, path, "source")?, &source_path)?;
    match JSON.required_str(source, &source_path, "type")? {
        "base64" => {
            check_keys(source, &source_path, &["type", "media_type", "data"], &[])?;
            let media_type = JSON.required_str(source, &source_path, "media_type")?;
            if !is_image_media_type(media_type) {
                return Err(invalid(
                    at(&source_path, "media_type"),
                    format!("an image's media type must be `image/...`, not `{media_type}`"),
                ));
            }
            Ok(Image::Base64 {
                media_type: media_type.to_string(),
                data: JSON.required_str(source, &source_path, "data")?.to_string(),
            })
        }
        "url" => {
            check_keys(source, &source_path, &["type", "url"], &[])?;
            Ok(Image::Url {
                url: JSON.required_str(source, &source_path, "url")?.to_string(),
            })
        }
        "file" => Err(JSON.untranslatable(
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
    let arguments = match present(block, "input") {
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => return Err(invalid(input_path, JSON.wording.object)),
        None => return Err(invalid(input_path, JSON.wording.required)),
    };
    Ok(Part::ToolCall {
        id: JSON.required_str(block, path, "id")?.to_string(),
        name: JSON.required_str(block, path, "name")?.to_string(),
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
    let content = match present(block, "content") {
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
        call_id: JSON.required_str(block, path, "tool_use_id")?.to_string(),
        content,
        is_error: JSON
            .member(block, path, "is_error", Json::bool)?
            .unwrap_or(false),
    })
}

fn parse_tool_result_block(block: &Value, path: &str) -> Result<Part, TranslateError> {
    let block = JSON.object(block, path)?;
    match JSON.required_str(block, path, "type")? {
        "text" => Ok(Part::Text {
            text: parse_text_block(block, path)?,
        }),
        "image" => Ok(Part::Image {
            image: parse_image(block, path)?,
        }),
        other => Err(JSON.untranslatable(
            path,
            format!("a tool result holding a `{other}` block has no translation"),
        )),
    }
}

fn parse_tools(tools: Option<&Value>) -> Result<Vec<ToolDef>, TranslateError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let tools = JSON.array(tools, "tools")?;
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| parse_tool(tool, &format!("tools[{i}]")))
        .collect()
}

fn parse_tool(tool: &Value, path: &str) -> Result<ToolDef, TranslateError> {
    let tool = JSON.object(tool, path)?;
    // Server tools (web search, bash, code execution...) run at Anthropic; a client tool has
    // no `type` or the type "custom".
    match JSON.optional_str(tool, path, "type")? {
        None | Some("custom") => {}
        Some(kind) => {
            return Err(JSON.untranslatable(
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
    let parameters = match present(tool, "input_schema") {
        None => json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => return Err(invalid(schema_path, "expected a JSON Schema object")),
    };
    Ok(ToolDef {
        name: JSON.required_str(tool, path, "name")?.to_string(),
        description: JSON
            .optional_str(tool, path, "description")?
            .map(str::to_string),
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
    let choice = JSON.object(choice, path)?;
    let kind = JSON.required_str(choice, path, "type")?;
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
            name: JSON.required_str(choice, path, "name")?.to_string(),
        },
        other => {
            return Err(invalid(
                at(path, "type"),
                format!("expected \"auto\", \"any\", \"tool\" or \"none\", not {other:?}"),
            ));
        }
    };
    let parallel = JSON
        .member(choice, path, "disable_parallel_tool_use", Json::bool)?
        .map(|off| !off);
    Ok((Some(parsed), parallel))
}

fn parse_stop_sequences(body: &Map<String, Value>) -> Result<Vec<String>, TranslateError> {
    let Some(sequences) = present(body, "stop_sequences") else {
        return Ok(Vec::new());
    };
    let sequences = sequences
        .as_array()
        .ok_or_else(|| invalid("stop_sequences", "expected an array of strings"))?;
    sequences
        .iter()
        .enumerate()
        .map(|(i, sequence)| {
            JSON.str(sequence, &format!("stop_sequences[{i}]"))
                .map(str::to_string)
        })
        .collect()
}

/// `metadata.user_id`, the only metadata Anthropic defines.
fn parse_metadata(metadata: Option<&Value>) -> Result<Option<String>, TranslateError> {
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    let metadata = JSON.object(metadata, "metadata")?;
    check_keys(metadata, "metadata", &["user_id"], &[])?;
    Ok(JSON
        .optional_str(metadata, "metadata", "user_id")?
        .map(str::to_string))
}

/// A sampling parameter Anthropic bounds to 0..=1.
fn unit_interval(body: &Map<String, Value>, key: &str) -> Result<Option<f64>, TranslateError> {
    let value = JSON.member(body, "", key, Json::f64)?;
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
        return Err(JSON.unsupported(
            "temperature",
            format!("Anthropic accepts a temperature between 0 and 1, not {t}"),
        ));
    }
    if let Some(p) = request.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(JSON.unsupported(
            "top_p",
            format!("Anthropic accepts a top_p between 0 and 1, not {p}"),
        ));
    }
    let absent = [
        ("seed", request.seed.is_some()),
        ("presence_penalty", request.presence_penalty.is_some()),
        ("frequency_penalty", request.frequency_penalty.is_some()),
    ];
    if let Some((field, _)) = absent.iter().find(|(_, set)| *set) {
        return Err(JSON.unsupported(*field, "the Messages API has no such parameter"));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => Ok(()),
        Some(_) => Err(JSON.unsupported(
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
        return Err(JSON.unsupported(
            "messages[0]",
            "an Anthropic conversation starts with a user turn",
        ));
    }
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        push_turn(
            &mut turns,
            message.role,
            render_message_content(message, i)?,
        );
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
        (Part::Image { .. }, Role::Assistant) => {
            Err(JSON.unsupported(path, "Anthropic takes images in user turns only"))
        }
        (Part::ToolCall { .. }, Role::User) => {
            Err(JSON.unsupported(path, "Anthropic takes tool calls in assistant turns only"))
        }
        (Part::ToolResult { .. }, Role::Assistant) => {
            Err(JSON.unsupported(path, "Anthropic takes tool results in user turns only"))
        }
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
                return Err(JSON.unsupported(
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
    let body = JSON.object(body, "")?;
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(invalid("error", error_message(body.get("error"))));
    }
    let blocks = JSON
        .required(body, "", "content")?
        .as_array()
        .ok_or_else(|| invalid("content", "expected an array of content blocks"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        content.extend(parse_answer_block(block, &format!("content[{i}]"))?);
    }
    let stop_sequence = JSON.optional_str(body, "", "stop_sequence")?;
    let stop_reason = JSON
        .optional_str(body, "", "stop_reason")?
        .map(|name| stop_reason_of(name, stop_sequence));
    Ok(ChatResponse {
        id: JSON.optional_str(body, "", "id")?.map(str::to_string),
        model: JSON
            .optional_str(body, "", "model")?
            .unwrap_or_default()
            .to_string(),
        content,
        stop_reason,
        usage: usage_of(present(body, "usage")),
    })
}

/// One block of an answer: text and tool calls translate, reasoning is skipped (documented),
/// the results of Anthropic's server tools have no translation.
fn parse_answer_block(block: &Value, path: &str) -> Result<Option<Part>, TranslateError> {
    let block = JSON.object(block, path)?;
    match JSON.required_str(block, path, "type")? {
        "text" => Ok(Some(Part::Text {
            text: JSON.required_str(block, path, "text")?.to_string(),
        })),
        "tool_use" => {
            let input = present(block, "input")
                .filter(|input| input.is_object())
                .ok_or_else(|| invalid(at(path, "input"), JSON.wording.object))?;
            Ok(Some(Part::ToolCall {
                id: JSON.required_str(block, path, "id")?.to_string(),
                name: JSON.required_str(block, path, "name")?.to_string(),
                arguments: input.clone(),
            }))
        }
        "thinking" | "redacted_thinking" => Ok(None),
        other => Err(JSON.untranslatable(
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
    write_sse_event(out, Some(name), data, "\n");
}

// ---------------------------------------------------------------------------------------------
// Reading JSON with paths
// ---------------------------------------------------------------------------------------------

/// Anthropic's errors say what a value was "expected" to be; a body that is not an object is
/// named `body`.
const JSON: Json = Json {
    format: FORMAT,
    wording: &Wording::EXPECTED,
    root: "body",
};

const NOT_A_FIELD: &str = "not a field of the Anthropic Messages API";

fn not_a_field(path: &str) -> TranslateError {
    JSON.untranslatable(path, NOT_A_FIELD)
}

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

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sse::StreamRewrite;
    use proptest::prelude::*;

    fn parse(body: Value) -> ChatRequest {
        parse_request(&body).unwrap()
    }

    fn refused(body: Value) -> TranslateError {
        parse_request(&body).unwrap_err()
    }

    /// A minimal valid body with `extra` fields added on top.
    fn body_with(extra: Value) -> Value {
        let mut body = json!({
            "model": "claude-opus-4-6",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Hello"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    }

    fn user_says(content: Value) -> Value {
        body_with(json!({"messages": [{"role": "user", "content": content}]}))
    }

    fn is_untranslatable(error: &TranslateError, field: &str) -> bool {
        matches!(error, TranslateError::Untranslatable { .. }) && error.field() == field
    }

    fn is_unsupported(error: &TranslateError, field: &str) -> bool {
        matches!(error, TranslateError::Unsupported { .. }) && error.field() == field
    }

    fn is_invalid(error: &TranslateError, field: &str) -> bool {
        matches!(error, TranslateError::Invalid { .. }) && error.field() == field
    }

    fn user(content: Vec<Part>) -> Message {
        Message {
            role: Role::User,
            content,
        }
    }

    fn assistant(content: Vec<Part>) -> Message {
        Message {
            role: Role::Assistant,
            content,
        }
    }

    fn render(request: &ChatRequest) -> Result<Value, TranslateError> {
        render_request(request, "claude-up", &RenderOptions::default())
    }

    fn saying(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages,
            ..ChatRequest::default()
        }
    }

    fn tool_call(id: &str) -> Part {
        Part::ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: json!({"location": "Oslo"}),
        }
    }

    fn tool_result(id: &str, text: &str) -> Part {
        Part::ToolResult {
            call_id: id.into(),
            content: vec![Part::text(text)],
            is_error: false,
        }
    }

    // --- reading requests -------------------------------------------------------------------

    #[test]
    fn system_as_string_or_blocks_reads_as_blocks_and_empty_means_none() {
        assert_eq!(
            parse(body_with(json!({"system": "Be brief."}))).system,
            ["Be brief."]
        );
        let blocks = json!({"system": [
            {"type": "text", "text": "One."},
            {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral"}},
        ]});
        assert_eq!(parse(body_with(blocks)).system, ["One.", "Two."]);
        assert!(parse(body_with(json!({"system": ""}))).system.is_empty());
        let image = json!({"system": [{"type": "image", "source": {}}]});
        assert!(is_invalid(&refused(body_with(image)), "system[0]"));
    }

    #[test]
    fn string_content_is_shorthand_for_one_text_block() {
        let short = parse(user_says(json!("Hello, Claude")));
        let long = parse(user_says(
            json!([{"type": "text", "text": "Hello, Claude"}]),
        ));
        assert_eq!(short, long);
        assert_eq!(short.messages[0].content, [Part::text("Hello, Claude")]);
    }

    #[test]
    fn images_read_by_base64_and_by_url_and_files_are_refused() {
        let request = parse(user_says(json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        ])));
        assert_eq!(
            request.messages[0].content,
            [
                Part::Image {
                    image: Image::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into()
                    }
                },
                Part::Image {
                    image: Image::Url {
                        url: "https://example.com/a.jpg".into()
                    }
                },
            ]
        );
        let file = user_says(json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
        ]));
        assert!(is_untranslatable(
            &refused(file),
            "messages[0].content[1].source"
        ));
        let no_data = user_says(
            json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
        );
        assert!(is_invalid(
            &refused(no_data),
            "messages[0].content[0].source.data"
        ));
    }

    fn tool_history(result: Value) -> Value {
        body_with(json!({"messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Oslo"}}
            ]},
            {"role": "user", "content": [result]},
        ]}))
    }

    fn only_result(request: &ChatRequest) -> &Part {
        &request.messages[2].content[0]
    }

    #[test]
    fn tool_results_read_from_a_string_from_blocks_or_from_nothing() {
        let string = parse(tool_history(
            json!({"type": "tool_result", "tool_use_id": "toolu_01", "content": "15 degrees"}),
        ));
        let blocks = parse(tool_history(
            json!({"type": "tool_result", "tool_use_id": "toolu_01",
            "content": [{"type": "text", "text": "15 degrees"}]}),
        ));
        assert_eq!(only_result(&string), &tool_result("toolu_01", "15 degrees"));
        assert_eq!(string, blocks);
        let empty = parse(tool_history(
            json!({"type": "tool_result", "tool_use_id": "toolu_01"}),
        ));
        assert_eq!(
            only_result(&empty),
            &Part::ToolResult {
                call_id: "toolu_01".into(),
                content: vec![],
                is_error: false
            }
        );
    }

    #[test]
    fn tool_results_keep_the_error_flag_and_images() {
        let request = parse(tool_history(json!({
            "type": "tool_result", "tool_use_id": "toolu_01", "is_error": true,
            "content": [
                {"type": "text", "text": "Camera offline; last frame:"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/f.jpg"}},
            ],
        })));
        let Part::ToolResult {
            content, is_error, ..
        } = only_result(&request)
        else {
            panic!("not a tool result");
        };
        assert!(is_error);
        assert_eq!(content.len(), 2);
        assert!(matches!(content[1], Part::Image { .. }));
    }

    #[test]
    fn tool_results_holding_documents_are_refused_at_their_path() {
        let document = tool_history(json!({
            "type": "tool_result", "tool_use_id": "toolu_01",
            "content": [
                {"type": "text", "text": "See the attached report."},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "15 degrees"}},
            ],
        }));
        assert!(is_untranslatable(
            &refused(document),
            "messages[2].content[0].content[1]"
        ));
    }

    #[test]
    fn tool_use_input_must_be_an_object() {
        let body = body_with(json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": "{\"location\": \"Oslo\"}"}
            ]},
        ]}));
        assert!(is_invalid(&refused(body), "messages[1].content[0].input"));
    }

    #[test]
    fn blocks_in_the_wrong_turn_are_invalid() {
        let tool_use_from_user = user_says(json!([
            {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {}}
        ]));
        assert!(is_invalid(
            &refused(tool_use_from_user),
            "messages[0].content[0]"
        ));
        let thinking_from_user =
            user_says(json!([{"type": "thinking", "thinking": "hm", "signature": "x"}]));
        assert!(is_invalid(
            &refused(thinking_from_user),
            "messages[0].content[0]"
        ));
        let system_role =
            body_with(json!({"messages": [{"role": "system", "content": "Be brief."}]}));
        assert!(is_invalid(&refused(system_role), "messages[0].role"));
    }

    #[test]
    fn server_tools_are_refused_and_client_tools_read() {
        let tools = body_with(json!({"tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ]}));
        let error = refused(tools);
        assert!(is_untranslatable(&error, "tools[1]"), "{error}");
        assert!(error.to_string().contains("web_search_20250305"));
        let custom = body_with(json!({"tools": [
            {"type": "custom", "name": "get_weather", "strict": true, "cache_control": {"type": "ephemeral"}}
        ]}));
        assert_eq!(
            parse(custom).tools,
            [ToolDef {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
            }]
        );
        let examples = body_with(json!({"tools": [
            {"name": "f", "input_schema": {"type": "object"}, "input_examples": [{}]}
        ]}));
        assert!(is_untranslatable(
            &refused(examples),
            "tools[0].input_examples"
        ));
    }

    #[test]
    fn extended_thinking_is_refused_unless_disabled() {
        let enabled = body_with(json!({"thinking": {"type": "enabled", "budget_tokens": 16000}}));
        assert!(is_untranslatable(&refused(enabled), "thinking"));
        let adaptive = body_with(json!({"thinking": {"type": "adaptive"}}));
        assert!(is_untranslatable(&refused(adaptive), "thinking"));
        let disabled = body_with(json!({"thinking": {"type": "disabled"}}));
        assert_eq!(parse(disabled), parse(body_with(json!({}))));
    }

    #[test]
    fn thinking_in_assistant_history_is_dropped() {
        let body = body_with(json!({"messages": [
            {"role": "user", "content": "GCD of 1071 and 462?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Euclid: 1071 = 2 × 462 + 147...", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."},
                {"type": "text", "text": "21."},
            ]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}]},
            {"role": "user", "content": "Thanks"},
        ]}));
        let request = parse(body);
        assert_eq!(request.messages.len(), 3, "the thinking-only turn is gone");
        assert_eq!(request.messages[1], assistant(vec![Part::text("21.")]));
    }

    #[test]
    fn blocks_only_anthropic_has_are_refused_at_their_path() {
        for kind in [
            "document",
            "search_result",
            "server_tool_use",
            "container_upload",
        ] {
            let body = user_says(json!([{"type": "text", "text": "Hi"}, {"type": kind}]));
            let error = refused(body);
            assert!(
                is_untranslatable(&error, "messages[0].content[1]"),
                "{kind}: {error}"
            );
        }
    }

    #[test]
    fn fields_with_no_translation_are_refused_and_ignored_ones_accepted() {
        for field in [
            "container",
            "mcp_servers",
            "context_management",
            "output_config",
            "inference_geo",
        ] {
            let error = refused(body_with(json!({ field: {} })));
            assert!(is_untranslatable(&error, field), "{field}: {error}");
        }
        let unknown = refused(body_with(json!({"frequency_penalty": 0.5})));
        assert!(is_untranslatable(&unknown, "frequency_penalty"));
        assert!(unknown.to_string().contains("not a field"));
        let ignored =
            body_with(json!({"service_tier": "auto", "cache_control": {"type": "ephemeral"}}));
        assert_eq!(parse(ignored), parse(body_with(json!({}))));
    }

    #[test]
    fn every_field_ignored_in_code_is_listed_for_the_docs() {
        let top_level = IGNORED_REQUEST_FIELDS.iter().map(|f| f.to_string());
        let in_text = IGNORED_TEXT_FIELDS
            .iter()
            .map(|f| format!("messages[].content[].{f}"));
        for field in top_level.chain(in_text) {
            assert!(
                IGNORED_FIELDS.contains(&field.as_str()),
                "{field} missing from IGNORED_FIELDS"
            );
        }
    }

    #[test]
    fn sampling_out_of_anthropic_range_is_invalid_in_the_source() {
        assert!(is_invalid(
            &refused(body_with(json!({"temperature": 1.5}))),
            "temperature"
        ));
        assert!(is_invalid(
            &refused(body_with(json!({"top_p": -0.1}))),
            "top_p"
        ));
        assert!(is_invalid(
            &refused(body_with(json!({"max_tokens": "1024"}))),
            "max_tokens"
        ));
        let sampled = parse(body_with(
            json!({"temperature": 0.2, "top_p": 0.9, "top_k": 40}),
        ));
        assert_eq!(
            (sampled.temperature, sampled.top_p, sampled.top_k),
            (Some(0.2), Some(0.9), Some(40))
        );
    }

    #[test]
    fn tool_choice_and_parallel_calls_read_both_ways() {
        let read = |choice: Value| {
            let request = parse(body_with(json!({ "tool_choice": choice })));
            (request.tool_choice, request.parallel_tool_calls)
        };
        assert_eq!(
            read(json!({"type": "auto"})),
            (Some(ToolChoice::Auto), None)
        );
        assert_eq!(
            read(json!({"type": "any"})),
            (Some(ToolChoice::Required), None)
        );
        assert_eq!(
            read(json!({"type": "none"})),
            (Some(ToolChoice::None), None)
        );
        assert_eq!(
            read(json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true})),
            (
                Some(ToolChoice::Tool {
                    name: "get_weather".into()
                }),
                Some(false)
            )
        );
        assert_eq!(
            read(json!({"type": "auto", "disable_parallel_tool_use": false})),
            (Some(ToolChoice::Auto), Some(true))
        );
        let nameless = refused(body_with(json!({"tool_choice": {"type": "tool"}})));
        assert!(is_invalid(&nameless, "tool_choice.name"));
        let unknown = refused(body_with(json!({"tool_choice": {"type": "sometimes"}})));
        assert!(is_invalid(&unknown, "tool_choice.type"));
    }

    #[test]
    fn metadata_user_id_is_the_end_user_and_streams_ask_for_usage() {
        let request = parse(body_with(
            json!({"metadata": {"user_id": "u-42"}, "stream": true}),
        ));
        assert_eq!(request.end_user.as_deref(), Some("u-42"));
        assert!(request.stream && request.include_usage);
        let other = refused(body_with(json!({"metadata": {"tenant": "x"}})));
        assert!(is_untranslatable(&other, "metadata.tenant"));
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        assert!(is_invalid(&refused(json!([1, 2])), "body"));
        assert!(is_invalid(&refused(json!({"model": "m"})), "messages"));
        assert!(is_invalid(
            &refused(body_with(json!({"messages": {"role": "user"}}))),
            "messages"
        ));
        assert!(is_invalid(
            &refused(body_with(json!({"messages": [{"role": "user"}]}))),
            "messages[0].content"
        ));
        assert!(is_invalid(
            &refused(user_says(json!([{"type": "text", "text": 7}]))),
            "messages[0].content[0].text"
        ));
        assert!(is_invalid(
            &refused(body_with(json!({"stop_sequences": ["a", 1]}))),
            "stop_sequences[1]"
        ));
    }

    // --- writing requests -------------------------------------------------------------------

    #[test]
    fn max_tokens_defaults_when_the_request_has_none() {
        let mut request = saying(vec![user(vec![Part::text("Hi")])]);
        let options = RenderOptions {
            default_max_tokens: 777,
            ..RenderOptions::default()
        };
        let body = render_request(&request, "claude-up", &options).unwrap();
        assert_eq!(body["max_tokens"], 777);
        assert_eq!(body["model"], "claude-up");
        request.max_tokens = Some(50);
        assert_eq!(render(&request).unwrap()["max_tokens"], 50);
    }

    #[test]
    fn temperature_above_one_is_refused() {
        let mut request = saying(vec![user(vec![Part::text("Hi")])]);
        request.temperature = Some(1.5);
        assert!(is_unsupported(
            &render(&request).unwrap_err(),
            "temperature"
        ));
        request.temperature = Some(1.0);
        assert_eq!(render(&request).unwrap()["temperature"], 1.0);
    }

    #[test]
    fn parameters_anthropic_lacks_are_refused_by_their_neutral_name() {
        let base = saying(vec![user(vec![Part::text("Hi")])]);
        let cases: [(&str, ChatRequest); 5] = [
            (
                "seed",
                ChatRequest {
                    seed: Some(7),
                    ..base.clone()
                },
            ),
            (
                "presence_penalty",
                ChatRequest {
                    presence_penalty: Some(0.5),
                    ..base.clone()
                },
            ),
            (
                "frequency_penalty",
                ChatRequest {
                    frequency_penalty: Some(0.5),
                    ..base.clone()
                },
            ),
            (
                "response_format",
                ChatRequest {
                    response_format: Some(ResponseFormat::JsonObject),
                    ..base.clone()
                },
            ),
            (
                "response_format",
                ChatRequest {
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: Some("answer".into()),
                        schema: json!({"type": "object"}),
                        strict: Some(true),
                    }),
                    ..base.clone()
                },
            ),
        ];
        for (field, request) in cases {
            assert!(
                is_unsupported(&render(&request).unwrap_err(), field),
                "{field}"
            );
        }
        let text = ChatRequest {
            response_format: Some(ResponseFormat::Text),
            ..base
        };
        assert!(render(&text).is_ok());
    }

    #[test]
    fn a_conversation_starting_with_the_assistant_is_refused() {
        let request = saying(vec![
            assistant(vec![Part::text("How can I help?")]),
            user(vec![Part::text("Hi")]),
        ]);
        assert!(is_unsupported(
            &render(&request).unwrap_err(),
            "messages[0]"
        ));
    }

    #[test]
    fn adjacent_turns_of_one_role_merge_with_tool_results_first() {
        let request = saying(vec![
            user(vec![Part::text("Weather in Oslo and Bergen?")]),
            assistant(vec![tool_call("toolu_01")]),
            assistant(vec![tool_call("toolu_02")]),
            user(vec![
                Part::text("Here you go:"),
                tool_result("toolu_01", "3 degrees"),
            ]),
            user(vec![tool_result("toolu_02", "9 degrees")]),
        ]);
        let body = render(&request).unwrap();
        let turns = body["messages"].as_array().unwrap();
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[1]["content"].as_array().unwrap().len(), 2);
        let last: Vec<&str> = turns[2]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|block| {
                block["tool_use_id"]
                    .as_str()
                    .or(block["text"].as_str())
                    .unwrap()
            })
            .collect();
        assert_eq!(last, ["toolu_01", "toolu_02", "Here you go:"]);
    }

    #[test]
    fn part_errors_name_the_neutral_message_and_part() {
        let request = saying(vec![
            user(vec![Part::text("a")]),
            user(vec![Part::text("b")]),
            user(vec![Part::text("c"), tool_call("toolu_01")]),
        ]);
        assert!(is_unsupported(
            &render(&request).unwrap_err(),
            "messages[2].content[1]"
        ));
        let image_from_assistant = saying(vec![
            user(vec![Part::text("Draw")]),
            assistant(vec![Part::Image {
                image: Image::Url {
                    url: "https://example.com/a.png".into(),
                },
            }]),
        ]);
        assert!(is_unsupported(
            &render(&image_from_assistant).unwrap_err(),
            "messages[1].content[0]"
        ));
        let nested = saying(vec![user(vec![Part::ToolResult {
            call_id: "toolu_01".into(),
            content: vec![tool_call("toolu_02")],
            is_error: false,
        }])]);
        assert!(is_unsupported(
            &render(&nested).unwrap_err(),
            "messages[0].content[0].content[0]"
        ));
    }

    #[test]
    fn empty_text_is_not_sent_and_a_turn_with_nothing_left_out() {
        let request = saying(vec![
            user(vec![Part::text("Hi")]),
            assistant(vec![Part::text(""), tool_call("toolu_01")]),
            user(vec![tool_result("toolu_01", "")]),
            user(vec![Part::text("")]),
        ]);
        let body = render(&request).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Oslo"}}
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01"}]},
            ])
        );
    }

    #[test]
    fn disable_parallel_tool_use_is_written_both_ways() {
        let with = |choice: Option<ToolChoice>, parallel: Option<bool>| {
            let request = ChatRequest {
                tool_choice: choice,
                parallel_tool_calls: parallel,
                ..saying(vec![user(vec![Part::text("Hi")])])
            };
            render(&request).unwrap().get("tool_choice").cloned()
        };
        assert_eq!(
            with(None, Some(false)),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            with(Some(ToolChoice::Required), Some(false)),
            Some(json!({"type": "any", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            with(Some(ToolChoice::Tool { name: "f".into() }), Some(true)),
            Some(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": false}))
        );
        assert_eq!(
            with(Some(ToolChoice::None), Some(false)),
            Some(json!({"type": "none"}))
        );
        assert_eq!(
            with(Some(ToolChoice::Auto), None),
            Some(json!({"type": "auto"}))
        );
        assert_eq!(with(None, None), None);
        assert_eq!(with(None, Some(true)), None);
    }

    #[test]
    fn system_end_user_and_stream_are_written_as_anthropic_names_them() {
        let mut request = saying(vec![user(vec![Part::text("Hi")])]);
        assert!(render(&request).unwrap().get("system").is_none());
        request.system = vec!["Be brief.".into()];
        request.end_user = Some("u-42".into());
        request.stream = true;
        request.include_usage = true;
        request.stop = vec!["END".into()];
        let body = render(&request).unwrap();
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["metadata"], json!({"user_id": "u-42"}));
        assert_eq!(body["stream"], true);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert!(body.get("stream_options").is_none() && body.get("include_usage").is_none());
        request.system.push("Answer in French.".into());
        assert_eq!(
            render(&request).unwrap()["system"],
            json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}])
        );
    }

    // --- answers ----------------------------------------------------------------------------

    fn answer(stop_reason: &str, stop_sequence: Value) -> Value {
        json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        })
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        let read = |name: &str| {
            parse_response(&answer(name, Value::Null))
                .unwrap()
                .stop_reason
                .unwrap()
        };
        assert_eq!(read("end_turn"), StopReason::EndTurn);
        assert_eq!(read("max_tokens"), StopReason::MaxTokens);
        assert_eq!(read("tool_use"), StopReason::ToolUse);
        assert_eq!(read("refusal"), StopReason::ContentFilter);
        assert_eq!(read("pause_turn"), StopReason::Other("pause_turn".into()));
        assert_eq!(
            read("model_context_window_exceeded"),
            StopReason::Other("model_context_window_exceeded".into())
        );
        assert_eq!(read("stop_sequence"), StopReason::StopSequence(None));
        let written = |reason: StopReason| {
            let response = ChatResponse {
                id: Some("msg_01".into()),
                model: "m".into(),
                content: vec![],
                stop_reason: Some(reason),
                usage: Usage::default(),
            };
            let body = render_response(&response);
            (body["stop_reason"].clone(), body["stop_sequence"].clone())
        };
        assert_eq!(
            written(StopReason::ContentFilter),
            (json!("refusal"), Value::Null)
        );
        assert_eq!(
            written(StopReason::Other("pause_turn".into())),
            (json!("pause_turn"), Value::Null)
        );
        assert_eq!(
            written(StopReason::Other("SAFETY".into())),
            (json!("end_turn"), Value::Null)
        );
        assert_eq!(
            written(StopReason::StopSequence(Some("END".into()))),
            (json!("stop_sequence"), json!("END"))
        );
    }

    #[test]
    fn answers_skip_thinking_and_refuse_server_tool_blocks() {
        let mut body = answer("end_turn", Value::Null);
        body["content"] = json!([
            {"type": "thinking", "thinking": "Short answer.", "signature": "EqQB"},
            {"type": "text", "text": "Hi"},
        ]);
        assert_eq!(parse_response(&body).unwrap().content, [Part::text("Hi")]);
        body["content"] = json!([
            {"type": "server_tool_use", "id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB", "name": "web_search", "input": {"query": "weather"}},
        ]);
        assert!(is_untranslatable(
            &parse_response(&body).unwrap_err(),
            "content[0]"
        ));
    }

    #[test]
    fn error_bodies_and_broken_answers_are_invalid() {
        let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let refused = parse_response(&error).unwrap_err();
        assert!(is_invalid(&refused, "error") && refused.to_string().contains("Overloaded"));
        let mut body = answer("tool_use", Value::Null);
        body["content"] = json!([{"type": "tool_use", "id": "toolu_01", "name": "f", "input": []}]);
        assert!(is_invalid(
            &parse_response(&body).unwrap_err(),
            "content[0].input"
        ));
        assert!(is_invalid(
            &parse_response(&json!({"id": "msg_01"})).unwrap_err(),
            "content"
        ));
    }

    #[test]
    fn answers_without_id_or_counts_still_render_what_clients_read() {
        let response = ChatResponse {
            id: None,
            model: "m".into(),
            content: vec![Part::text("Hi")],
            stop_reason: None,
            usage: Usage::default(),
        };
        let body = render_response(&response);
        assert_eq!(body["id"], MISSING_ID);
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 0, "output_tokens": 0})
        );
        assert_eq!(body["stop_reason"], Value::Null);
    }

    // --- stream decoding --------------------------------------------------------------------

    fn frame(name: &str, data: Value) -> SseFrame {
        SseFrame {
            event: Some(name.into()),
            data: data.to_string(),
        }
    }

    fn decode_frames(frames: &[SseFrame]) -> Vec<StreamEvent> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        for frame in frames {
            decoder.decode(frame, &mut out);
        }
        decoder.finish(&mut out);
        out
    }

    fn block_start(index: u64, block: Value) -> SseFrame {
        frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    }

    fn block_delta(index: u64, delta: Value) -> SseFrame {
        frame(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn text(text: &str) -> StreamEvent {
        StreamEvent::TextDelta { text: text.into() }
    }

    #[test]
    fn an_opening_text_and_a_whole_tool_input_are_not_lost() {
        let events = decode_frames(&[
            block_start(0, json!({"type": "text", "text": "Hel"})),
            block_delta(0, json!({"type": "text_delta", "text": "lo"})),
            block_start(
                1,
                json!({"type": "tool_use", "id": "toolu_01", "name": "f", "input": {"a": 1}}),
            ),
        ]);
        assert_eq!(
            events,
            [
                text("Hel"),
                text("lo"),
                StreamEvent::ToolCallStart {
                    id: "toolu_01".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallArguments {
                    json: "{\"a\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn thinking_blocks_and_their_deltas_are_skipped() {
        let events = decode_frames(&[
            block_start(0, json!({"type": "thinking", "thinking": ""})),
            block_delta(
                0,
                json!({"type": "thinking_delta", "thinking": "1071 = 2 × 462 + 147"}),
            ),
            block_delta(
                0,
                json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."}),
            ),
            block_start(1, json!({"type": "text", "text": ""})),
            block_delta(1, json!({"type": "text_delta", "text": "21"})),
        ]);
        assert_eq!(events, [text("21")]);
    }

    #[test]
    fn blocks_with_no_translation_are_reported_and_their_input_not_misattributed() {
        let events = decode_frames(&[
            block_start(
                0,
                json!({"type": "tool_use", "id": "toolu_01", "name": "f", "input": {}}),
            ),
            block_delta(0, json!({"type": "input_json_delta", "partial_json": "{}"})),
            block_start(
                1,
                json!({"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}),
            ),
            block_delta(
                1,
                json!({"type": "input_json_delta", "partial_json": "{\"query\": \"x\"}"}),
            ),
        ]);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            matches!(&events[2], StreamEvent::Error { message } if message.contains("server_tool_use"))
        );
        let orphan = decode_frames(&[block_delta(
            4,
            json!({"type": "input_json_delta", "partial_json": "{"}),
        )]);
        assert!(matches!(&orphan[..], [StreamEvent::Error { .. }]));
    }

    #[test]
    fn unreadable_data_and_error_events_become_errors_and_pings_nothing() {
        let events = decode_frames(&[
            frame("ping", json!({"type": "ping"})),
            SseFrame {
                event: Some("content_block_delta".into()),
                data: "{\"type\": \"content_blo".into(),
            },
            frame(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
            frame("some_future_event", json!({"type": "some_future_event"})),
        ]);
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[0], StreamEvent::Error { message } if message.contains("content_block_delta"))
        );
        assert_eq!(
            events[1],
            StreamEvent::Error {
                message: "Overloaded".into()
            }
        );
    }

    #[test]
    fn a_cut_stream_has_no_end_and_cached_input_is_counted() {
        let events = decode_frames(&[
            frame(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-6", "content": [],
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 5, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1},
                }}),
            ),
            frame(
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 9}}),
            ),
        ]);
        assert_eq!(
            events,
            [
                StreamEvent::Start {
                    id: Some("msg_01".into()),
                    model: "claude-opus-4-6".into(),
                    usage: Usage {
                        input_tokens: Some(115),
                        output_tokens: Some(1)
                    },
                },
                StreamEvent::Stop {
                    reason: StopReason::StopSequence(Some("END".into()))
                },
                StreamEvent::Usage {
                    usage: Usage {
                        input_tokens: Some(105),
                        output_tokens: Some(9)
                    }
                },
            ]
        );
    }

    #[test]
    fn an_anthropic_stream_through_the_translator_completes_with_its_usage() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let options = EncoderOptions {
            model: "mythos-5".into(),
            fallback_id: "gen-1".into(),
            own_id: None,
            created: 0,
            include_usage: false,
        };
        let mut translator = super::super::StreamTranslator::new(FORMAT, FORMAT, options);
        let mut out = translator.push(stream.as_bytes());
        out.extend(translator.finish());
        let out = String::from_utf8(out).unwrap();
        assert!(translator.completed());
        assert_eq!(
            translator.usage(),
            Usage {
                input_tokens: Some(9),
                output_tokens: Some(15)
            }
        );
        assert!(out.contains("\"model\":\"mythos-5\"") && !out.contains("\"model\":\"up\""));
        assert!(out.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    }

    // --- stream encoding --------------------------------------------------------------------

    fn encode_events(events: &[StreamEvent]) -> Vec<(String, Value)> {
        let mut encoder = Encoder::new(EncoderOptions {
            model: "mythos-5".into(),
            fallback_id: "msg_fallback".into(),
            own_id: None,
            created: 0,
            include_usage: false,
        });
        let mut out = Vec::new();
        for event in events {
            encoder.encode(event, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.is_empty() || text.ends_with("\n\n"));
        text.split_terminator("\n\n")
            .map(|event| {
                let (name, data) = event.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap().to_string();
                let data = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                (name, data)
            })
            .collect()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn start() -> StreamEvent {
        StreamEvent::Start {
            id: Some("msg_01".into()),
            model: "upstream".into(),
            usage: Usage {
                input_tokens: Some(12),
                output_tokens: None,
            },
        }
    }

    #[test]
    fn block_boundaries_and_indices_follow_the_neutral_order() {
        let encoded = encode_events(&[
            start(),
            text("Let me check."),
            StreamEvent::ToolCallStart {
                id: "toolu_01".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "{\"location\":".into(),
            },
            StreamEvent::ToolCallArguments {
                json: " \"Oslo\"}".into(),
            },
            StreamEvent::ToolCallStart {
                id: "toolu_02".into(),
                name: "get_time".into(),
            },
            text("Done"),
            text("."),
            StreamEvent::End,
        ]);
        let shape: Vec<(&str, Option<u64>)> = encoded
            .iter()
            .map(|(name, data)| (name.as_str(), data["index"].as_u64()))
            .collect();
        assert_eq!(
            shape,
            [
                ("message_start", None),
                ("content_block_start", Some(0)),
                ("content_block_delta", Some(0)),
                ("content_block_stop", Some(0)),
                ("content_block_start", Some(1)),
                ("content_block_delta", Some(1)),
                ("content_block_delta", Some(1)),
                ("content_block_stop", Some(1)),
                ("content_block_start", Some(2)),
                ("content_block_stop", Some(2)),
                ("content_block_start", Some(3)),
                ("content_block_delta", Some(3)),
                ("content_block_delta", Some(3)),
                ("content_block_stop", Some(3)),
                ("message_delta", None),
                ("message_stop", None),
            ]
        );
        assert_eq!(
            encoded[4].1["content_block"],
            json!({"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}})
        );
        assert_eq!(
            encoded[6].1["delta"],
            json!({"type": "input_json_delta", "partial_json": " \"Oslo\"}"})
        );
        assert_eq!(encoded[0].1["message"]["model"], "mythos-5");
        assert_eq!(
            encoded[0].1["message"]["usage"],
            json!({"input_tokens": 12, "output_tokens": 0})
        );
    }

    #[test]
    fn stop_and_usage_are_held_until_the_end() {
        let encoded = encode_events(&[
            start(),
            text("a"),
            StreamEvent::Stop {
                reason: StopReason::StopSequence(Some("END".into())),
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(20),
                    output_tokens: Some(3),
                },
            },
            StreamEvent::End,
        ]);
        assert_eq!(
            names(&encoded),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            encoded[4].1,
            json!({"type": "message_delta",
                "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                "usage": {"input_tokens": 20, "output_tokens": 3}})
        );
    }

    #[test]
    fn a_stream_with_no_content_or_no_start_is_still_a_valid_sequence() {
        let empty = encode_events(&[StreamEvent::End]);
        assert_eq!(
            names(&empty),
            ["message_start", "message_delta", "message_stop"]
        );
        assert_eq!(empty[0].1["message"]["id"], "msg_fallback");
        assert_eq!(empty[1].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(empty[1].1["usage"], json!({"output_tokens": 0}));
        let no_start = encode_events(&[text("Hi"), StreamEvent::End]);
        assert_eq!(no_start[0].0, "message_start");
        assert_eq!(no_start.len(), 6);
    }

    #[test]
    fn errors_are_anthropic_error_events_and_nothing_follows_the_end() {
        let encoded = encode_events(&[
            start(),
            StreamEvent::ToolCallArguments { json: "{}".into() },
            StreamEvent::Error {
                message: "upstream overloaded".into(),
            },
            StreamEvent::End,
            text("late"),
            StreamEvent::End,
        ]);
        assert_eq!(
            names(&encoded),
            ["message_start", "error", "message_delta", "message_stop"]
        );
        assert_eq!(
            encoded[1].1,
            json!({"type": "error", "error": {"type": "api_error", "message": "upstream overloaded"}})
        );
    }

    // --- no input panics --------------------------------------------------------------------

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec![
                "text",
                "image",
                "tool_use",
                "tool_result",
                "user",
                "assistant",
                "base64",
                "url",
                "message_start",
                "content_block_start",
                "content_block_delta",
                "text_delta",
                "input_json_delta",
                "tool",
                "any",
                "auto",
                "none",
                "thinking",
                "disabled",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "model",
                            "messages",
                            "role",
                            "content",
                            "type",
                            "text",
                            "source",
                            "system",
                            "tools",
                            "tool_choice",
                            "input",
                            "id",
                            "name",
                            "index",
                            "delta",
                            "message",
                            "usage",
                            "content_block",
                            "tool_use_id",
                            "is_error",
                            "input_schema",
                            "partial_json",
                            "stop_reason",
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        #[test]
        fn no_body_or_event_makes_the_translator_panic(value in any_json()) {
            let _ = parse_request(&value);
            let _ = parse_response(&value);
            let mut decoder = Decoder::default();
            let mut events = Vec::new();
            for name in ["message_start", "content_block_start", "content_block_delta", "message_delta"] {
                decoder.decode(&SseFrame { event: Some(name.into()), data: value.to_string() }, &mut events);
            }
            if let Ok(request) = parse_request(&value) {
                let _ = render_request(&request, "m", &RenderOptions::default());
            }
            if let Ok(response) = parse_response(&value) {
                let _ = render_response(&response);
            }
        }
    }
}
