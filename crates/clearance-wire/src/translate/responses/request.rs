//! An OpenAI Responses request body, read into a [`ChatRequest`] and written from one.
//!
//! Reading refuses what has no neutral equivalent (field by field, with the JSON path) and
//! accepts only the fields the API documents; writing refuses what the API cannot express
//! (stop sequences, `top_k`, `seed`, penalties).

use clearance_core::chat::{
    ChatRequest, Image, Message, Part, ResponseFormat, Role, ToolChoice, ToolDef,
};
use serde_json::{Map, Value, json};

use super::{
    JSON, TranslateError, arguments_from_json_text, check_keys, function_call_item, image_url_of,
    output_text_part, parse_data_url,
};
use crate::translate::json::{Json, at, insert_some, invalid, is_image_media_type, present};
use crate::translate::{RenderOptions, push_turn};

/// Top-level fields read into the neutral request.
const TRANSLATED_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "text",
    "user",
    "stream",
];

/// Top-level fields accepted and dropped whatever they hold (see
/// [`IGNORED_FIELDS`](super::IGNORED_FIELDS)).
const IGNORED_TOP_LEVEL_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "stream_options",
];

/// Reads an OpenAI Responses request body.
pub fn parse_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let body = JSON.object(body, "")?;
    for (key, value) in body {
        check_top_level_field(key, value)?;
    }
    let mut system = Vec::new();
    if let Some(instructions) = JSON.optional_str(body, "", "instructions")? {
        system.push(instructions.to_string());
    }
    let messages = parse_input(JSON.required(body, "", "input")?, &mut system)?;
    Ok(ChatRequest {
        model: JSON.required_str(body, "", "model")?.to_string(),
        system,
        messages,
        tools: parse_tools(body)?,
        tool_choice: present(body, "tool_choice")
            .map(parse_tool_choice)
            .transpose()?,
        parallel_tool_calls: JSON.member(body, "", "parallel_tool_calls", Json::bool)?,
        max_tokens: JSON.member(body, "", "max_output_tokens", Json::u64)?,
        temperature: JSON.member(body, "", "temperature", Json::f64)?,
        top_p: JSON.member(body, "", "top_p", Json::f64)?,
        top_k: None,
        stop: Vec::new(),
        response_format: parse_text(body)?,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        end_user: JSON.optional_str(body, "", "user")?.map(str::to_string),
        stream: JSON
            .member(body, "", "stream", Json::bool)?
            .unwrap_or(false),
        // The API's streams always end with the usage; there is nothing to ask for.
        include_usage: false,
    })
}

/// Accepts a field that is translated or ignored, and refuses one that asks for something
/// only OpenAI does (unless it holds the value that asks for nothing) or that the API does
/// not have.
fn check_top_level_field(key: &str, value: &Value) -> Result<(), TranslateError> {
    if TRANSLATED_FIELDS.contains(&key)
        || IGNORED_TOP_LEVEL_FIELDS.contains(&key)
        || value.is_null()
    {
        return Ok(());
    }
    let refusal = match key {
        "previous_response_id" => {
            "it names a response stored at OpenAI, whose conversation only OpenAI holds \
             (or send the whole conversation in `input`)"
        }
        "conversation" => {
            "it names a conversation stored at OpenAI (or send the whole conversation in `input`)"
        }
        "prompt" => "it names a prompt template stored at OpenAI",
        "truncation" if value == "disabled" => return Ok(()),
        "truncation" => "dropping input items to fit the context window is OpenAI's own",
        "background" if value == &Value::Bool(false) => return Ok(()),
        "background" => "background responses are stored at OpenAI and polled there",
        "include" if value.as_array().is_some_and(Vec::is_empty) => return Ok(()),
        "include" => {
            "the extra output it asks for (log probabilities, encrypted reasoning, built-in \
             tool results) only OpenAI produces"
        }
        "reasoning"
            if value
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_null)) =>
        {
            return Ok(());
        }
        "reasoning" => "reasoning effort and summaries are OpenAI's own controls",
        "top_logprobs" if value.as_u64() == Some(0) => return Ok(()),
        "top_logprobs" => "token log probabilities are only reported by OpenAI",
        "max_tool_calls" => "it caps calls of OpenAI's built-in tools",
        "context_management" => "context compaction is OpenAI's own",
        _ => "not a field of OpenAI Responses' API",
    };
    Err(JSON.untranslatable(key, refusal))
}

// --- input -------------------------------------------------------------------------------

/// What one input item adds to the request.
enum Item {
    /// A `system` or `developer` message: a system block when it comes first.
    System(String),
    /// Parts of the conversation, on one side.
    Turn(Role, Vec<Part>),
    /// An item that is read and has no effect (reasoning).
    Skipped,
}

/// `input`: a string (one user message) or a list of items. Adjacent items of one side join
/// into one neutral message; system and developer messages before the conversation become
/// system blocks, after `instructions`.
fn parse_input(input: &Value, system: &mut Vec<String>) -> Result<Vec<Message>, TranslateError> {
    let items = match input {
        Value::String(text) => {
            return Ok(vec![Message {
                role: Role::User,
                content: vec![Part::text(text.as_str())],
            }]);
        }
        Value::Array(items) => items,
        _ => {
            return Err(invalid(
                "input",
                "must be a string or an array of input items",
            ));
        }
    };
    let mut turns: Vec<(Role, Vec<Part>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        match parse_item(JSON.object(item, &path)?, &path)? {
            Item::System(text) if turns.is_empty() => system.push(text),
            Item::System(_) => {
                return Err(JSON.untranslatable(
                    path,
                    "a system or developer message after the conversation has begun has no \
                     equivalent in other formats",
                ));
            }
            Item::Turn(role, parts) => push_turn(&mut turns, role, parts),
            Item::Skipped => {}
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, content)| Message { role, content })
        .collect())
}

/// One input item; an item without `type` is a message (the API's "easy" input message).
fn parse_item(item: &Map<String, Value>, path: &str) -> Result<Item, TranslateError> {
    match JSON.optional_str(item, path, "type")?.unwrap_or("message") {
        "message" => parse_message(item, path),
        "function_call" => Ok(Item::Turn(
            Role::Assistant,
            vec![parse_function_call(item, path)?],
        )),
        "function_call_output" => Ok(Item::Turn(
            Role::User,
            vec![parse_function_call_output(item, path)?],
        )),
        "reasoning" => Ok(Item::Skipped),
        "item_reference" => Err(JSON.untranslatable(
            path,
            "it names an item stored at OpenAI (send the item itself)",
        )),
        other => Err(JSON.untranslatable(
            at(path, "type"),
            format!(
                "`{other}` items (OpenAI's built-in and custom tools, compaction) have no \
                 equivalent in other formats"
            ),
        )),
    }
}

fn parse_message(item: &Map<String, Value>, path: &str) -> Result<Item, TranslateError> {
    check_keys(
        item,
        path,
        &["type", "role", "content", "id", "status", "phase"],
    )?;
    let content = JSON.required(item, path, "content")?;
    let content_path = at(path, "content");
    match JSON.required_str(item, path, "role")? {
        "system" | "developer" => Ok(Item::System(parse_system_content(content, &content_path)?)),
        "user" => Ok(Item::Turn(
            Role::User,
            parse_user_content(content, &content_path)?,
        )),
        "assistant" => Ok(Item::Turn(
            Role::Assistant,
            parse_assistant_content(content, &content_path)?,
        )),
        other => Err(invalid(
            at(path, "role"),
            format!("`{other}` is not a message role"),
        )),
    }
}

/// A system or developer message's text: a string, or text parts joined by line breaks.
fn parse_system_content(content: &Value, path: &str) -> Result<String, TranslateError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let part_path = format!("{path}[{j}]");
                match parse_input_part(part, &part_path)? {
                    Part::Text { text } => texts.push(text),
                    _ => {
                        return Err(JSON.untranslatable(
                            part_path,
                            "system instructions hold text only in other formats",
                        ));
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(invalid(path, "must be a string or an array of text parts")),
    }
}

fn parse_user_content(content: &Value, path: &str) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::String(text) => Ok(vec![Part::text(text.as_str())]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| parse_input_part(part, &format!("{path}[{j}]")))
            .collect(),
        _ => Err(invalid(
            path,
            "must be a string or an array of content parts",
        )),
    }
}

/// An input content part: text or an image (also a function call's output parts).
fn parse_input_part(part: &Value, path: &str) -> Result<Part, TranslateError> {
    let object = JSON.object(part, path)?;
    match JSON.required_str(object, path, "type")? {
        "input_text" => {
            check_keys(object, path, &["type", "text"])?;
            Ok(Part::text(JSON.required_str(object, path, "text")?))
        }
        "input_image" => Ok(Part::Image {
            image: parse_input_image(object, path)?,
        }),
        "input_file" => Err(JSON.untranslatable(
            path,
            "file inputs (PDFs, uploaded files) only reach OpenAI models",
        )),
        "input_audio" => Err(JSON.untranslatable(path, "audio input only reaches OpenAI models")),
        other => Err(invalid(
            at(path, "type"),
            format!("`{other}` is not an input content type"),
        )),
    }
}

/// `{type: "input_image", image_url, file_id, detail}`: a URL, or a `data:` URL carrying the
/// bytes. An uploaded file's id means something only to OpenAI.
fn parse_input_image(image: &Map<String, Value>, path: &str) -> Result<Image, TranslateError> {
    check_keys(image, path, &["type", "image_url", "file_id", "detail"])?;
    if present(image, "file_id").is_some() {
        return Err(JSON.untranslatable(
            at(path, "file_id"),
            "an uploaded file's id only resolves at OpenAI (or send the image as `image_url`, a \
             URL or a data URL)",
        ));
    }
    match JSON.optional_str(image, path, "detail")? {
        None | Some("auto") => {}
        Some(_) => {
            return Err(JSON.untranslatable(
                at(path, "detail"),
                "image detail levels are OpenAI's own (use \"auto\" or leave it out)",
            ));
        }
    }
    let url_path = at(path, "image_url");
    let url = JSON.required_str(image, path, "image_url")?;
    if !url.starts_with("data:") {
        return Ok(Image::Url {
            url: url.to_string(),
        });
    }
    match parse_data_url(url) {
        Some(Image::Base64 { media_type, .. }) if !is_image_media_type(&media_type) => {
            Err(invalid(
                url_path,
                format!(
                    "an image's data URL must hold an image (`data:image/...`), not `{media_type}`"
                ),
            ))
        }
        Some(image) => Ok(image),
        None => Err(invalid(
            url_path,
            "a data URL must read `data:<media type>;base64,<data>`",
        )),
    }
}

/// An assistant message's text: a string, or `output_text` / `refusal` parts (and
/// `input_text`, which the API also accepts there). Empty text says nothing and is left out.
fn parse_assistant_content(content: &Value, path: &str) -> Result<Vec<Part>, TranslateError> {
    let texts = match content {
        Value::String(text) => vec![text.clone()],
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| parse_assistant_part(part, &format!("{path}[{j}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                path,
                "must be a string or an array of output_text parts",
            ));
        }
    };
    Ok(texts
        .into_iter()
        .filter(|text| !text.is_empty())
        .map(Part::text)
        .collect())
}

fn parse_assistant_part(part: &Value, path: &str) -> Result<String, TranslateError> {
    let object = JSON.object(part, path)?;
    let (known, key): (&[&str], &str) = match JSON.required_str(object, path, "type")? {
        "output_text" => (&["type", "text", "annotations", "logprobs"], "text"),
        "input_text" => (&["type", "text"], "text"),
        "refusal" => (&["type", "refusal"], "refusal"),
        other => {
            return Err(invalid(
                at(path, "type"),
                format!("an assistant message holds output_text and refusal parts, not `{other}`"),
            ));
        }
    };
    check_keys(object, path, known)?;
    Ok(JSON.required_str(object, path, key)?.to_string())
}

/// `{type: "function_call", call_id, name, arguments}`: `call_id` threads the call to its
/// output; the item's own `id` is OpenAI's bookkeeping.
fn parse_function_call(item: &Map<String, Value>, path: &str) -> Result<Part, TranslateError> {
    check_keys(
        item,
        path,
        &["type", "id", "status", "call_id", "name", "arguments"],
    )?;
    let arguments = JSON.required_str(item, path, "arguments")?;
    Ok(Part::ToolCall {
        id: JSON.required_str(item, path, "call_id")?.to_string(),
        name: JSON.required_str(item, path, "name")?.to_string(),
        arguments: arguments_from_json_text(arguments, &at(path, "arguments"))?,
    })
}

/// `{type: "function_call_output", call_id, output}`: the output is a string, or text and
/// image parts.
fn parse_function_call_output(
    item: &Map<String, Value>,
    path: &str,
) -> Result<Part, TranslateError> {
    check_keys(item, path, &["type", "id", "status", "call_id", "output"])?;
    let output_path = at(path, "output");
    let content = match JSON.required(item, path, "output")? {
        Value::String(text) => vec![Part::text(text.as_str())],
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(k, part)| parse_input_part(part, &format!("{output_path}[{k}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                output_path,
                "must be a string or an array of content parts",
            ));
        }
    };
    Ok(Part::ToolResult {
        call_id: JSON.required_str(item, path, "call_id")?.to_string(),
        content,
        is_error: false,
    })
}

// --- tools and options -------------------------------------------------------------------

fn parse_tools(body: &Map<String, Value>) -> Result<Vec<ToolDef>, TranslateError> {
    let Some(tools) = present(body, "tools") else {
        return Ok(Vec::new());
    };
    JSON.array(tools, "tools")?
        .iter()
        .enumerate()
        .map(|(i, tool)| parse_tool(tool, &format!("tools[{i}]")))
        .collect()
}

/// A function tool, flat: `{type: "function", name, description, parameters, strict}`.
/// Built-in tools run inside OpenAI, and custom tools take free-form text: neither has an
/// equivalent elsewhere.
fn parse_tool(tool: &Value, path: &str) -> Result<ToolDef, TranslateError> {
    let tool = JSON.object(tool, path)?;
    match JSON.required_str(tool, path, "type")? {
        "function" => {}
        other => {
            return Err(JSON.untranslatable(
                at(path, "type"),
                format!(
                    "`{other}` tools are OpenAI's own (built-in or free-form); only function \
                     tools translate"
                ),
            ));
        }
    }
    check_keys(
        tool,
        path,
        &["type", "name", "description", "parameters", "strict"],
    )?;
    let parameters = match present(tool, "parameters") {
        None => json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(invalid(
                at(path, "parameters"),
                "must be a JSON Schema object",
            ));
        }
    };
    Ok(ToolDef {
        name: JSON.required_str(tool, path, "name")?.to_string(),
        description: JSON
            .optional_str(tool, path, "description")?
            .map(str::to_string),
        parameters,
    })
}

fn parse_tool_choice(choice: &Value) -> Result<ToolChoice, TranslateError> {
    const PATH: &str = "tool_choice";
    if let Some(mode) = choice.as_str() {
        return match mode {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid(PATH, format!("`{other}` is not a tool choice"))),
        };
    }
    let choice = JSON.object(choice, PATH)?;
    match JSON.required_str(choice, PATH, "type")? {
        "function" => {
            check_keys(choice, PATH, &["type", "name"])?;
            Ok(ToolChoice::Tool {
                name: JSON.required_str(choice, PATH, "name")?.to_string(),
            })
        }
        "allowed_tools" => Err(JSON.untranslatable(
            PATH,
            "restricting the model to some of its tools has no equivalent in other formats",
        )),
        other => Err(JSON.untranslatable(
            at(PATH, "type"),
            format!("`{other}` tool choices name tools only OpenAI has"),
        )),
    }
}

/// `text: {format, verbosity}`: the answer's format; verbosity is OpenAI's own control.
fn parse_text(body: &Map<String, Value>) -> Result<Option<ResponseFormat>, TranslateError> {
    let Some(text) = present(body, "text") else {
        return Ok(None);
    };
    let text = JSON.object(text, "text")?;
    if present(text, "verbosity").is_some() {
        return Err(JSON.untranslatable("text.verbosity", "verbosity controls are OpenAI's own"));
    }
    check_keys(text, "text", &["format"])?;
    present(text, "format").map(parse_format).transpose()
}

fn parse_format(format: &Value) -> Result<ResponseFormat, TranslateError> {
    const PATH: &str = "text.format";
    let format = JSON.object(format, PATH)?;
    match JSON.required_str(format, PATH, "type")? {
        "text" => {
            check_keys(format, PATH, &["type"])?;
            Ok(ResponseFormat::Text)
        }
        "json_object" => {
            check_keys(format, PATH, &["type"])?;
            Ok(ResponseFormat::JsonObject)
        }
        "json_schema" => {
            check_keys(
                format,
                PATH,
                &["type", "name", "description", "schema", "strict"],
            )?;
            // A description would guide the model, and no other format carries one.
            if present(format, "description").is_some() {
                return Err(JSON.untranslatable(
                    at(PATH, "description"),
                    "a schema description has no equivalent in other formats",
                ));
            }
            let schema = match JSON.required(format, PATH, "schema")? {
                schema @ Value::Object(_) => schema.clone(),
                _ => return Err(invalid(at(PATH, "schema"), "must be a JSON Schema object")),
            };
            Ok(ResponseFormat::JsonSchema {
                name: JSON.optional_str(format, PATH, "name")?.map(str::to_string),
                schema,
                strict: JSON.member(format, PATH, "strict", Json::bool)?,
            })
        }
        other => Err(invalid(
            at(PATH, "type"),
            format!("`{other}` is not a text format"),
        )),
    }
}

// --- writing -----------------------------------------------------------------------------

/// The name the API requires for a JSON schema when the source format gave none.
const DEFAULT_SCHEMA_NAME: &str = "response";

/// Writes the request body for an OpenAI provider serving `upstream_model` (see the module
/// doc for `store` and `strict`).
pub fn render_request(
    request: &ChatRequest,
    upstream_model: &str,
    _options: &RenderOptions,
) -> Result<Value, TranslateError> {
    refuse_inexpressible(request)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    let mut blocks = request.system.iter();
    if let Some(first) = blocks.next() {
        body.insert("instructions".into(), json!(first));
    }
    let mut input: Vec<Value> = blocks
        .map(|block| json!({"type": "message", "role": "system", "content": block}))
        .collect();
    for (i, message) in request.messages.iter().enumerate() {
        render_message(message, i, &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    if !request.tools.is_empty() {
        body.insert(
            "tools".into(),
            request.tools.iter().map(render_tool).collect(),
        );
    }
    if let Some(choice) = &request.tool_choice {
        body.insert("tool_choice".into(), render_tool_choice(choice));
    }
    insert_some(
        &mut body,
        "parallel_tool_calls",
        request.parallel_tool_calls,
    );
    insert_some(&mut body, "max_output_tokens", request.max_tokens);
    insert_some(&mut body, "temperature", request.temperature);
    insert_some(&mut body, "top_p", request.top_p);
    if let Some(format) = &request.response_format {
        body.insert("text".into(), json!({"format": render_format(format)}));
    }
    insert_some(&mut body, "user", request.end_user.as_deref());
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    body.insert("store".into(), json!(false));
    Ok(Value::Object(body))
}

/// The neutral fields this API has no place for.
fn refuse_inexpressible(request: &ChatRequest) -> Result<(), TranslateError> {
    if !request.stop.is_empty() {
        return Err(JSON.unsupported("stop", "the Responses API has no stop sequences"));
    }
    if request.top_k.is_some() {
        return Err(JSON.unsupported("top_k", "OpenAI does not sample with top-k"));
    }
    if request.seed.is_some() {
        return Err(JSON.unsupported("seed", "the Responses API has no seed"));
    }
    if request.presence_penalty.is_some() {
        return Err(JSON.unsupported(
            "presence_penalty",
            "the Responses API has no presence penalty",
        ));
    }
    if request.frequency_penalty.is_some() {
        return Err(JSON.unsupported(
            "frequency_penalty",
            "the Responses API has no frequency penalty",
        ));
    }
    Ok(())
}

/// One neutral message as input items, in order: a user turn's text and images as `message`
/// items and its tool results as `function_call_output` items; an assistant turn's text as
/// `message` items and its tool calls as `function_call` items.
fn render_message(
    message: &Message,
    i: usize,
    input: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let mut parts: Vec<Value> = Vec::new();
    for (j, part) in message.content.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        let item = match (message.role, part) {
            (Role::User, Part::Text { text }) => {
                parts.push(json!({"type": "input_text", "text": text}));
                continue;
            }
            (Role::User, Part::Image { image }) => {
                parts.push(input_image(image));
                continue;
            }
            (Role::Assistant, Part::Text { text }) => {
                parts.push(output_text_part(text));
                continue;
            }
            (
                Role::User,
                Part::ToolResult {
                    call_id,
                    content,
                    is_error,
                },
            ) => render_tool_result(call_id, content, *is_error, &path)?,
            (
                Role::Assistant,
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                },
            ) => function_call_item(id, name, arguments),
            (Role::User, Part::ToolCall { .. }) => {
                return Err(JSON.unsupported(path, "a tool call can only come from the assistant"));
            }
            (Role::Assistant, Part::Image { .. }) => {
                return Err(JSON.unsupported(path, "assistant messages cannot hold images"));
            }
            (Role::Assistant, Part::ToolResult { .. }) => {
                return Err(
                    JSON.unsupported(path, "a tool result can only come from the user side")
                );
            }
        };
        flush_message(role, &mut parts, input);
        input.push(item);
    }
    flush_message(role, &mut parts, input);
    Ok(())
}

/// Writes the content parts gathered so far as one `message` item.
fn flush_message(role: &str, parts: &mut Vec<Value>, input: &mut Vec<Value>) {
    if !parts.is_empty() {
        let content = std::mem::take(parts);
        input.push(json!({"type": "message", "role": role, "content": content}));
    }
}

fn input_image(image: &Image) -> Value {
    json!({"type": "input_image", "image_url": image_url_of(image), "detail": "auto"})
}

/// A `function_call_output` item: a string when the result is one text, else text and image
/// parts. The API has no error flag, so an error result says so in its text.
fn render_tool_result(
    call_id: &str,
    content: &[Part],
    is_error: bool,
    path: &str,
) -> Result<Value, TranslateError> {
    let mut parts = content
        .iter()
        .enumerate()
        .map(|(k, part)| match part {
            Part::Text { text } => Ok(json!({"type": "input_text", "text": text})),
            Part::Image { image } => Ok(input_image(image)),
            _ => Err(JSON.unsupported(
                format!("{path}.content[{k}]"),
                "a function call's output holds text and images",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if is_error {
        match parts.first_mut() {
            Some(first) if first["type"] == "input_text" => {
                let text = first["text"].as_str().unwrap_or_default();
                first["text"] = json!(format!("Error: {text}"));
            }
            _ => parts.insert(0, json!({"type": "input_text", "text": "Error"})),
        }
    }
    let output = match parts.as_slice() {
        [] => json!(""),
        [only] if only["type"] == "input_text" => only["text"].clone(),
        _ => Value::Array(parts),
    };
    Ok(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
}

fn render_tool(tool: &ToolDef) -> Value {
    let mut function = Map::new();
    function.insert("type".into(), json!("function"));
    function.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        function.insert("description".into(), json!(description));
    }
    function.insert("parameters".into(), tool.parameters.clone());
    function.insert("strict".into(), json!(false));
    Value::Object(function)
}

fn render_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
    }
}

fn render_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut spec = Map::new();
            spec.insert("type".into(), json!("json_schema"));
            spec.insert(
                "name".into(),
                json!(name.as_deref().unwrap_or(DEFAULT_SCHEMA_NAME)),
            );
            spec.insert("schema".into(), schema.clone());
            insert_some(&mut spec, "strict", *strict);
            Value::Object(spec)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(body: Value) -> Result<ChatRequest, TranslateError> {
        parse_request(&body)
    }

    fn with_input(input: Value) -> Value {
        json!({"model": "gpt-4.1", "input": input})
    }

    fn render(request: &ChatRequest) -> Result<Value, TranslateError> {
        render_request(request, "gpt-4.1", &RenderOptions::default())
    }

    /// Asserts the error kind and the field it names.
    #[track_caller]
    fn assert_refused(
        result: Result<impl std::fmt::Debug, TranslateError>,
        kind: &str,
        field: &str,
    ) {
        let error = result.expect_err("should be refused");
        let actual = match &error {
            TranslateError::Unsupported { .. } => "unsupported",
            TranslateError::Untranslatable { .. } => "untranslatable",
            TranslateError::Invalid { .. } => "invalid",
        };
        assert_eq!((actual, error.field()), (kind, field), "{error}");
    }

    fn user_says(text: &str) -> Value {
        json!([{"role": "user", "content": text}])
    }

    #[test]
    fn previous_response_id_is_refused_as_untranslatable() {
        let mut body = with_input(user_says("And in French?"));
        body["previous_response_id"] = json!("resp_68af4030592c81938ec0a5fbab4a3e9f");
        assert_refused(
            parse(body.clone()),
            "untranslatable",
            "previous_response_id",
        );
        let error = parse(body).unwrap_err().to_string();
        assert!(error.contains("OpenAI Responses"), "{error}");
        // `null` asks for nothing.
        let mut body = with_input(user_says("Hi"));
        body["previous_response_id"] = Value::Null;
        assert!(parse(body).is_ok());
    }

    #[test]
    fn built_in_tools_are_refused_as_untranslatable() {
        for (tool, field) in [
            (json!({"type": "web_search"}), "tools[1].type"),
            (json!({"type": "web_search_preview"}), "tools[1].type"),
            (
                json!({"type": "file_search", "vector_store_ids": ["vs_1234567890"]}),
                "tools[1].type",
            ),
            (
                json!({"type": "code_interpreter", "container": {"type": "auto"}}),
                "tools[1].type",
            ),
            (
                json!({"type": "mcp", "server_label": "dmcp", "server_url": "https://dmcp.example.com/mcp"}),
                "tools[1].type",
            ),
            (
                json!({"type": "custom", "name": "code_exec"}),
                "tools[1].type",
            ),
        ] {
            let mut body = with_input(user_says("What was a positive news story from today?"));
            body["tools"] = json!([
                {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}},
                tool,
            ]);
            assert_refused(parse(body), "untranslatable", field);
        }
    }

    #[test]
    fn an_image_given_by_file_id_is_refused_as_untranslatable() {
        let body = with_input(json!([{"role": "user", "content": [
            {"type": "input_text", "text": "what's in this image?"},
            {"type": "input_image", "file_id": "file-abc123", "detail": "auto"},
        ]}]));
        assert_refused(parse(body), "untranslatable", "input[0].content[1].file_id");
    }

    #[test]
    fn what_only_openai_can_do_is_refused_by_name() {
        let cases = [
            (
                "conversation",
                json!("conv_689667905b048191b4740501625afd940c7533ace33a2dab"),
            ),
            ("prompt", json!({"id": "pmpt_abc123", "version": "2"})),
            ("truncation", json!("auto")),
            ("background", json!(true)),
            ("include", json!(["reasoning.encrypted_content"])),
            ("reasoning", json!({"effort": "high"})),
            ("top_logprobs", json!(5)),
            ("max_tool_calls", json!(3)),
            ("stop", json!(["END"])),
            ("seed", json!(7)),
        ];
        for (key, value) in cases {
            let mut body = with_input(user_says("Hi"));
            body[key] = value;
            assert_refused(parse(body), "untranslatable", key);
        }
        let mut body = with_input(user_says("Hi"));
        body["text"] = json!({"format": {"type": "text"}, "verbosity": "low"});
        assert_refused(parse(body), "untranslatable", "text.verbosity");
        let mut body = with_input(user_says("Hi"));
        body["tool_choice"] = json!({"type": "allowed_tools", "mode": "auto", "tools": []});
        assert_refused(parse(body), "untranslatable", "tool_choice");
        let mut body = with_input(user_says("Hi"));
        body["tool_choice"] = json!({"type": "web_search_preview"});
        assert_refused(parse(body), "untranslatable", "tool_choice.type");
    }

    #[test]
    fn input_only_openai_can_read_is_refused_by_path() {
        let cases = [
            (
                json!([{"type": "item_reference", "id": "msg_123"}]),
                "input[0]",
            ),
            (
                json!([{"type": "web_search_call", "id": "ws_1", "status": "completed"}]),
                "input[0].type",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_file", "file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}]}]),
                "input[0].content[0]",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png", "detail": "high"}]}]),
                "input[0].content[0].detail",
            ),
            (
                json!([{"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}", "namespace": "crm"}]),
                "input[0].namespace",
            ),
            (
                json!([{"role": "user", "content": "Hi"}, {"role": "developer", "content": "Answer in French."}]),
                "input[1]",
            ),
            (
                json!([{"role": "system", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]),
                "input[0].content[0]",
            ),
        ];
        for (input, field) in cases {
            assert_refused(parse(with_input(input)), "untranslatable", field);
        }
    }

    #[test]
    fn malformed_input_is_invalid_and_names_the_field() {
        let cases = [
            (json!({"model": "gpt-4.1"}), "input"),
            (with_input(json!(7)), "input"),
            (
                with_input(json!([{"role": "tool", "content": "x"}])),
                "input[0].role",
            ),
            (
                with_input(
                    json!([{"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":"}]),
                ),
                "input[0].arguments",
            ),
            (
                with_input(json!([{"type": "function_call_output", "output": "ok"}])),
                "input[0].call_id",
            ),
            (
                with_input(
                    json!([{"role": "user", "content": [{"type": "input_image", "image_url": "data:application/pdf;base64,JVBERi0="}]}]),
                ),
                "input[0].content[0].image_url",
            ),
            (
                with_input(
                    json!([{"role": "assistant", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]),
                ),
                "input[0].content[0].type",
            ),
        ];
        for (body, field) in cases {
            assert_refused(parse(body), "invalid", field);
        }
    }

    #[test]
    fn defaults_and_bookkeeping_are_accepted_and_change_nothing() {
        let plain = parse(with_input(user_says("Hi"))).unwrap();
        let mut body = with_input(json!([
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "user", "content": "Hi", "id": "msg_1", "status": "completed"},
        ]));
        for (key, value) in [
            ("store", json!(true)),
            ("metadata", json!({"app": "demo"})),
            ("service_tier", json!("auto")),
            ("safety_identifier", json!("u-hash")),
            ("prompt_cache_key", json!("k")),
            ("stream_options", json!({"include_obfuscation": false})),
            ("truncation", json!("disabled")),
            ("background", json!(false)),
            ("include", json!([])),
            ("reasoning", json!({"effort": null, "summary": null})),
            ("top_logprobs", json!(0)),
        ] {
            body[key] = value;
        }
        assert_eq!(parse(body).unwrap(), plain);
    }

    #[test]
    fn adjacent_items_of_one_side_join_into_one_message_in_order() {
        let request = parse(with_input(json!([
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "14°C"},
            {"type": "function_call_output", "call_id": "call_b", "output": [
                {"type": "input_text", "text": "3°C"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
            ]},
        ])))
        .unwrap();
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[1].role, Role::Assistant);
        assert_eq!(request.messages[1].content.len(), 3);
        assert_eq!(request.messages[2].role, Role::User);
        assert!(matches!(
            &request.messages[2].content[1],
            Part::ToolResult { call_id, content, .. } if call_id == "call_b" && content.len() == 2
        ));
        let again = parse_request(&render(&request).unwrap()).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn several_system_blocks_become_instructions_then_system_messages() {
        let request = ChatRequest {
            model: "m".into(),
            system: vec!["Be brief.".into(), "Answer in French.".into()],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("Hi")],
            }],
            ..ChatRequest::default()
        };
        let body = render(&request).unwrap();
        assert_eq!(body["instructions"], "Be brief.");
        assert_eq!(
            body["input"][0],
            json!({"type": "message", "role": "system", "content": "Answer in French."})
        );
        assert_eq!(body["store"], false);
        assert_eq!(parse_request(&body).unwrap().system, request.system);
    }

    #[test]
    fn what_the_api_cannot_say_is_refused_when_writing() {
        let base = ChatRequest {
            model: "m".into(),
            ..ChatRequest::default()
        };
        let cases = [
            (
                ChatRequest {
                    stop: vec!["END".into()],
                    ..base.clone()
                },
                "stop",
            ),
            (
                ChatRequest {
                    top_k: Some(40),
                    ..base.clone()
                },
                "top_k",
            ),
            (
                ChatRequest {
                    seed: Some(1),
                    ..base.clone()
                },
                "seed",
            ),
            (
                ChatRequest {
                    frequency_penalty: Some(0.5),
                    ..base.clone()
                },
                "frequency_penalty",
            ),
            (
                ChatRequest {
                    messages: vec![Message {
                        role: Role::Assistant,
                        content: vec![Part::Image {
                            image: Image::Url {
                                url: "https://example.com/a.png".into(),
                            },
                        }],
                    }],
                    ..base.clone()
                },
                "messages[0].content[0]",
            ),
        ];
        for (request, field) in cases {
            assert_refused(render(&request), "unsupported", field);
        }
    }

    #[test]
    fn an_error_result_says_so_in_its_text() {
        let request = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    call_id: "toolu_01".into(),
                    content: vec![Part::text("city not found")],
                    is_error: true,
                }],
            }],
            ..ChatRequest::default()
        };
        let body = render(&request).unwrap();
        assert_eq!(
            body["input"][0],
            json!({"type": "function_call_output", "call_id": "toolu_01", "output": "Error: city not found"})
        );
    }

    #[test]
    fn function_tools_are_written_flat_and_not_strict() {
        let request = ChatRequest {
            tools: vec![ToolDef {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            tool_choice: Some(ToolChoice::Tool {
                name: "get_weather".into(),
            }),
            ..ChatRequest::default()
        };
        let body = render(&request).unwrap();
        assert_eq!(
            body["tools"][0],
            json!({"type": "function", "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false})
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "name": "get_weather"})
        );
    }

    fn body_like_json() -> impl Strategy<Value = Value> {
        crate::translate::arbitrary::json_with(
            &[
                "model",
                "input",
                "instructions",
                "role",
                "content",
                "type",
                "text",
                "tools",
                "name",
                "parameters",
                "call_id",
                "arguments",
                "output",
                "image_url",
                "file_id",
                "detail",
                "tool_choice",
                "format",
                "schema",
                "strict",
            ],
            &[
                "message",
                "user",
                "assistant",
                "system",
                "function_call",
                "function_call_output",
                "input_text",
                "input_image",
                "output_text",
                "function",
                "json_schema",
                "data:image/png;base64,AAAA",
                "{\"a\":1}",
            ],
        )
    }

    proptest! {
        /// Whatever a client sends, reading never panics, and what is read is written.
        #[test]
        fn any_body_reads_without_panicking(input in body_like_json(), tools in body_like_json()) {
            let body = json!({"model": "m", "input": input, "tools": tools});
            if let Ok(request) = parse_request(&body) {
                let _ = render(&request);
            }
        }
    }
}
