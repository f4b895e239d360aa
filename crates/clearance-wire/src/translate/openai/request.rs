//! An OpenAI Chat Completions request body, read into a [`ChatRequest`] and written from one.
//!
//! Reading refuses what has no neutral equivalent (field by field, with the JSON path) and
//! accepts only the fields OpenAI documents; writing refuses what OpenAI cannot express
//! (`top_k`, images in tool results).

use clearance_core::chat::{
    ChatRequest, Image, Message, Part, ResponseFormat, Role, ToolChoice, ToolDef,
};
use serde_json::{Map, Value, json};

use crate::translate::RenderOptions;

use super::{IGNORED_FIELDS, JSON, TranslateError, arguments_from_json_text, tool_call_json};
use crate::translate::json::{Json, at, insert_some, invalid, is_image_media_type, present};

/// Top-level fields read into the neutral request.
const TRANSLATED_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "functions",
    "tool_choice",
    "function_call",
    "parallel_tool_calls",
    "max_completion_tokens",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "response_format",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "user",
    "stream",
    "stream_options",
];

/// Reads an OpenAI Chat Completions request body.
pub fn parse_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let body = JSON.object(body, "")?;
    for (key, value) in body {
        check_top_level_field(key, value)?;
    }
    let (system, messages) = parse_messages(body.get("messages"))?;
    let max_tokens = match JSON.member(body, "", "max_completion_tokens", Json::u64)? {
        Some(max) => Some(max),
        None => JSON.member(body, "", "max_tokens", Json::u64)?,
    };
    Ok(ChatRequest {
        model: JSON.required_str(body, "", "model")?.to_string(),
        system,
        messages,
        tools: parse_tools(body)?,
        tool_choice: parse_tool_choice(body)?,
        parallel_tool_calls: JSON.member(body, "", "parallel_tool_calls", Json::bool)?,
        max_tokens,
        temperature: JSON.member(body, "", "temperature", Json::f64)?,
        top_p: JSON.member(body, "", "top_p", Json::f64)?,
        top_k: None,
        stop: parse_stop(body)?,
        response_format: present(body, "response_format")
            .map(parse_response_format)
            .transpose()?,
        seed: JSON.member(body, "", "seed", Json::i64)?,
        presence_penalty: JSON.member(body, "", "presence_penalty", Json::f64)?,
        frequency_penalty: JSON.member(body, "", "frequency_penalty", Json::f64)?,
        end_user: JSON.optional_str(body, "", "user")?.map(str::to_string),
        stream: JSON
            .member(body, "", "stream", Json::bool)?
            .unwrap_or(false),
        include_usage: parse_include_usage(body)?,
    })
}

/// Accepts a field that is translated or ignored, and refuses one that asks for something
/// only OpenAI does (unless it holds the value that asks for nothing) or that OpenAI does not
/// have.
fn check_top_level_field(key: &str, value: &Value) -> Result<(), TranslateError> {
    if TRANSLATED_FIELDS.contains(&key) || IGNORED_FIELDS.contains(&key) || value.is_null() {
        return Ok(());
    }
    let refusal = match key {
        "n" if value.as_u64() == Some(1) => return Ok(()),
        "n" => "only one choice per request can be answered by other providers",
        "logprobs" if value == &Value::Bool(false) => return Ok(()),
        "logprobs" | "top_logprobs" => "token log probabilities are only reported by OpenAI",
        "logit_bias" if value.as_object().is_some_and(Map::is_empty) => return Ok(()),
        "logit_bias" => "token ids are specific to OpenAI's tokenizers",
        "modalities" if value == &json!(["text"]) => return Ok(()),
        "modalities" | "audio" => "only text answers translate",
        "prediction" => "predicted outputs are an OpenAI feature",
        "web_search_options" => "OpenAI's built-in web search has no equivalent",
        "reasoning_effort" | "verbosity" => "reasoning and verbosity controls are OpenAI's own",
        _ => "not a field of OpenAI Chat Completions' API",
    };
    Err(JSON.untranslatable(key, refusal))
}

// --- lists and options ------------------------------------------------------------------

fn parse_stop(body: &Map<String, Value>) -> Result<Vec<String>, TranslateError> {
    match present(body, "stop") {
        None => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) => many
            .iter()
            .enumerate()
            .map(|(i, s)| JSON.str(s, &format!("stop[{i}]")).map(str::to_string))
            .collect(),
        Some(_) => Err(invalid("stop", "must be a string or an array of strings")),
    }
}

fn parse_include_usage(body: &Map<String, Value>) -> Result<bool, TranslateError> {
    let Some(options) = present(body, "stream_options") else {
        return Ok(false);
    };
    let options = JSON.object(options, "stream_options")?;
    Ok(JSON
        .member(options, "stream_options", "include_usage", Json::bool)?
        .unwrap_or(false))
}

// --- messages ----------------------------------------------------------------------------

/// The system blocks (from the leading system/developer messages) and the conversation.
fn parse_messages(messages: Option<&Value>) -> Result<(Vec<String>, Vec<Message>), TranslateError> {
    let messages = messages
        .filter(|v| !v.is_null())
        .ok_or_else(|| invalid("messages", JSON.wording.required))?;
    let mut system = Vec::new();
    let mut conversation = Conversation::default();
    for (i, message) in JSON.array(messages, "messages")?.iter().enumerate() {
        let path = format!("messages[{i}]");
        let message = JSON.object(message, &path)?;
        match JSON.required_str(message, &path, "role")? {
            "system" | "developer" if conversation.messages.is_empty() => {
                system.push(parse_system_message(message, &path)?);
            }
            "system" | "developer" => {
                return Err(JSON.untranslatable(
                    path,
                    "a system or developer message after the conversation has begun has no \
                     equivalent in other formats (their system prompt comes first)",
                ));
            }
            "user" => conversation.push(Role::User, parse_user_message(message, &path)?),
            "assistant" => {
                let content = parse_assistant_message(message, i, &mut conversation)?;
                conversation.push(Role::Assistant, content);
            }
            "tool" => {
                let result = parse_tool_message(message, &path)?;
                conversation.push_tool_result(result);
            }
            "function" => {
                let result = parse_function_message(message, &path, &conversation)?;
                conversation.push_tool_result(result);
            }
            other => {
                return Err(invalid(
                    at(&path, "role"),
                    format!("`{other}` is not a message role"),
                ));
            }
        }
    }
    Ok((system, conversation.messages))
}

/// The neutral conversation being built, and what reading later messages needs from it.
#[derive(Default)]
struct Conversation {
    messages: Vec<Message>,
    /// Whether the last message holds the results of `tool` messages (the next ones join it).
    last_holds_tool_results: bool,
    /// The id and name of the last legacy `function_call`, which a `function` message answers.
    last_legacy_call: Option<(String, String)>,
}

impl Conversation {
    fn push(&mut self, role: Role, content: Vec<Part>) {
        self.messages.push(Message { role, content });
        self.last_holds_tool_results = false;
    }

    /// Consecutive tool results form one user message (the neutral model's turn shape).
    fn push_tool_result(&mut self, result: Part) {
        match self.messages.last_mut() {
            Some(last) if self.last_holds_tool_results => last.content.push(result),
            _ => {
                self.messages.push(Message {
                    role: Role::User,
                    content: vec![result],
                });
                self.last_holds_tool_results = true;
            }
        }
    }
}

/// Refuses any key of a message or part beyond `known` (a `null` says nothing and passes).
fn check_keys(
    object: &Map<String, Value>,
    path: &str,
    known: &[&str],
) -> Result<(), TranslateError> {
    JSON.check_keys(
        object,
        path,
        |key, value| known.contains(&key) || value.is_null(),
        |key| {
            if key == "name" {
                "participant names have no equivalent in other formats"
            } else {
                "not a field of this OpenAI Chat Completions object"
            }
        },
    )
}

/// A system or developer message's text: a string, or text parts joined by line breaks.
fn parse_system_message(
    message: &Map<String, Value>,
    path: &str,
) -> Result<String, TranslateError> {
    check_keys(message, path, &["role", "content"])?;
    let content_path = at(path, "content");
    match present(message, "content") {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let texts = parts
                .iter()
                .enumerate()
                .map(|(j, part)| parse_text_part(part, &format!("{content_path}[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(texts.join("\n"))
        }
        Some(_) => Err(invalid(
            content_path,
            "must be a string or an array of text parts",
        )),
        None => Err(invalid(content_path, JSON.wording.required)),
    }
}

/// A `{"type": "text", "text": ...}` part's text; any other part is refused where only text
/// is allowed.
fn parse_text_part(part: &Value, path: &str) -> Result<String, TranslateError> {
    let part = JSON.object(part, path)?;
    match JSON.required_str(part, path, "type")? {
        "text" => {
            check_keys(part, path, &["type", "text"])?;
            Ok(JSON.required_str(part, path, "text")?.to_string())
        }
        other => Err(invalid(
            at(path, "type"),
            format!("only text parts are allowed here, not `{other}`"),
        )),
    }
}

fn parse_user_message(
    message: &Map<String, Value>,
    path: &str,
) -> Result<Vec<Part>, TranslateError> {
    check_keys(message, path, &["role", "content"])?;
    let content_path = at(path, "content");
    match present(message, "content") {
        Some(Value::String(text)) => Ok(vec![Part::text(text.as_str())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| parse_user_part(part, &format!("{content_path}[{j}]")))
            .collect(),
        Some(_) => Err(invalid(
            content_path,
            "must be a string or an array of content parts",
        )),
        None => Err(invalid(content_path, JSON.wording.required)),
    }
}

fn parse_user_part(part: &Value, path: &str) -> Result<Part, TranslateError> {
    let object = JSON.object(part, path)?;
    match JSON.required_str(object, path, "type")? {
        "text" => Ok(Part::text(parse_text_part(part, path)?)),
        "image_url" => {
            check_keys(object, path, &["type", "image_url"])?;
            let image_path = at(path, "image_url");
            let image = JSON.required(object, path, "image_url")?;
            Ok(Part::Image {
                image: parse_image_url(JSON.object(image, &image_path)?, &image_path)?,
            })
        }
        "input_audio" => Err(JSON.untranslatable(path, "audio input only reaches OpenAI models")),
        "file" => Err(JSON.untranslatable(
            path,
            "file inputs (PDFs, uploaded file ids) only reach OpenAI models",
        )),
        other => Err(invalid(
            at(path, "type"),
            format!("`{other}` is not a content part type"),
        )),
    }
}

/// `image_url: {url, detail}`: a `data:<media>;base64,<data>` URL carries the bytes inline.
fn parse_image_url(image: &Map<String, Value>, path: &str) -> Result<Image, TranslateError> {
    check_keys(image, path, &["url", "detail"])?;
    match JSON.optional_str(image, path, "detail")? {
        None | Some("auto") => {}
        Some(_) => {
            return Err(JSON.untranslatable(
                at(path, "detail"),
                "image detail levels are OpenAI's own (use \"auto\" or leave it out)",
            ));
        }
    }
    let url = JSON.required_str(image, path, "url")?;
    if url.starts_with("data:") {
        let image = parse_data_url(url).ok_or_else(|| {
            invalid(
                at(path, "url"),
                "a data URL must read `data:<media type>;base64,<data>`",
            )
        })?;
        if let Image::Base64 { media_type, .. } = &image
            && !is_image_media_type(media_type)
        {
            return Err(invalid(
                at(path, "url"),
                format!(
                    "an image's data URL must hold an image (`data:image/...`), not `{media_type}`"
                ),
            ));
        }
        return Ok(image);
    }
    Ok(Image::Url {
        url: url.to_string(),
    })
}

fn parse_data_url(url: &str) -> Option<Image> {
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    if media_type.is_empty() {
        return None;
    }
    Some(Image::Base64 {
        media_type: media_type.to_string(),
        data: data.to_string(),
    })
}

/// An assistant turn: its text (content, then any refusal), then its tool calls.
fn parse_assistant_message(
    message: &Map<String, Value>,
    i: usize,
    conversation: &mut Conversation,
) -> Result<Vec<Part>, TranslateError> {
    let path = &format!("messages[{i}]");
    check_keys(
        message,
        path,
        &[
            "role",
            "content",
            "refusal",
            "tool_calls",
            "function_call",
            "audio",
            // Web-search citations an SDK echoes back from an answer; the model does not
            // read them.
            "annotations",
        ],
    )?;
    if present(message, "audio").is_some() {
        return Err(JSON.untranslatable(
            at(path, "audio"),
            "a reference to an earlier audio answer only OpenAI can resolve",
        ));
    }
    let mut content = parse_assistant_text(message, path)?;
    if let Some(refusal) = JSON.optional_str(message, path, "refusal")? {
        content.push(Part::text(refusal));
    }
    if let Some(calls) = present(message, "tool_calls") {
        let calls_path = at(path, "tool_calls");
        for (j, call) in JSON.array(calls, &calls_path)?.iter().enumerate() {
            content.push(parse_tool_call(call, &format!("{calls_path}[{j}]"))?);
        }
    }
    if let Some(call) = present(message, "function_call") {
        let call_path = at(path, "function_call");
        let (name, arguments) = parse_function(JSON.object(call, &call_path)?, &call_path)?;
        // The legacy call has no id; one is made from its place in the history so the
        // `function` message that answers it can refer to it.
        let id = format!("call_legacy_{i}");
        conversation.last_legacy_call = Some((id.clone(), name.clone()));
        content.push(Part::ToolCall {
            id,
            name,
            arguments,
        });
    }
    Ok(content)
}

/// An assistant's `content`: a string, or text and refusal parts. Empty text is left out:
/// it says nothing, and some formats refuse empty blocks.
fn parse_assistant_text(
    message: &Map<String, Value>,
    path: &str,
) -> Result<Vec<Part>, TranslateError> {
    let content_path = at(path, "content");
    let texts = match present(message, "content") {
        None => Vec::new(),
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| parse_assistant_part(part, &format!("{content_path}[{j}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                content_path,
                "must be a string, null or an array of text parts",
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
    match JSON.required_str(object, path, "type")? {
        "refusal" => {
            check_keys(object, path, &["type", "refusal"])?;
            Ok(JSON.required_str(object, path, "refusal")?.to_string())
        }
        _ => parse_text_part(part, path),
    }
}

/// `{id, type: "function", function: {name, arguments}}`.
fn parse_tool_call(call: &Value, path: &str) -> Result<Part, TranslateError> {
    let call = JSON.object(call, path)?;
    match JSON.optional_str(call, path, "type")? {
        None | Some("function") => {}
        Some(_) => {
            return Err(JSON.untranslatable(at(path, "type"), "only function tool calls translate"));
        }
    }
    check_keys(call, path, &["id", "type", "function"])?;
    let id = JSON.required_str(call, path, "id")?.to_string();
    let function_path = at(path, "function");
    let function = JSON.required(call, path, "function")?;
    let (name, arguments) = parse_function(JSON.object(function, &function_path)?, &function_path)?;
    Ok(Part::ToolCall {
        id,
        name,
        arguments,
    })
}

/// A called function's `{name, arguments}`, the arguments read from their JSON text.
fn parse_function(
    function: &Map<String, Value>,
    path: &str,
) -> Result<(String, Value), TranslateError> {
    check_keys(function, path, &["name", "arguments"])?;
    let name = JSON.required_str(function, path, "name")?.to_string();
    let arguments_path = at(path, "arguments");
    let text = JSON.required_str(function, path, "arguments")?;
    Ok((name, arguments_from_json_text(text, &arguments_path)?))
}

/// A `tool` message: the result of the call `tool_call_id`.
fn parse_tool_message(message: &Map<String, Value>, path: &str) -> Result<Part, TranslateError> {
    check_keys(message, path, &["role", "content", "tool_call_id"])?;
    Ok(Part::ToolResult {
        call_id: JSON
            .required_str(message, path, "tool_call_id")?
            .to_string(),
        content: parse_result_content(message, path)?,
        is_error: false,
    })
}

/// A legacy `function` message: the result of the preceding assistant `function_call`.
fn parse_function_message(
    message: &Map<String, Value>,
    path: &str,
    conversation: &Conversation,
) -> Result<Part, TranslateError> {
    check_keys(message, path, &["role", "content", "name"])?;
    let name = JSON.required_str(message, path, "name")?;
    let call_id = match &conversation.last_legacy_call {
        Some((id, called)) if called == name => id.clone(),
        _ => {
            return Err(invalid(
                at(path, "name"),
                format!("no earlier assistant `function_call` of `{name}` to answer"),
            ));
        }
    };
    Ok(Part::ToolResult {
        call_id,
        content: parse_result_content(message, path)?,
        is_error: false,
    })
}

/// A tool result's content: a string or text parts.
fn parse_result_content(
    message: &Map<String, Value>,
    path: &str,
) -> Result<Vec<Part>, TranslateError> {
    let content_path = at(path, "content");
    match present(message, "content") {
        Some(Value::String(text)) => Ok(vec![Part::text(text.as_str())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| parse_text_part(part, &format!("{content_path}[{j}]")).map(Part::text))
            .collect(),
        Some(_) => Err(invalid(
            content_path,
            "must be a string or an array of text parts",
        )),
        None => Err(invalid(content_path, JSON.wording.required)),
    }
}

// --- tools -------------------------------------------------------------------------------

/// `tools` (function tools), then the legacy `functions`.
fn parse_tools(body: &Map<String, Value>) -> Result<Vec<ToolDef>, TranslateError> {
    let mut tools = Vec::new();
    if let Some(list) = present(body, "tools") {
        for (i, tool) in JSON.array(list, "tools")?.iter().enumerate() {
            tools.push(parse_tool(tool, &format!("tools[{i}]"))?);
        }
    }
    if let Some(list) = present(body, "functions") {
        for (i, function) in JSON.array(list, "functions")?.iter().enumerate() {
            let path = format!("functions[{i}]");
            tools.push(parse_function_def(JSON.object(function, &path)?, &path)?);
        }
    }
    Ok(tools)
}

fn parse_tool(tool: &Value, path: &str) -> Result<ToolDef, TranslateError> {
    let tool = JSON.object(tool, path)?;
    match JSON.required_str(tool, path, "type")? {
        "function" => {}
        other => {
            return Err(JSON.untranslatable(
                at(path, "type"),
                format!("`{other}` tools have no equivalent; only function tools translate"),
            ));
        }
    }
    check_keys(tool, path, &["type", "function"])?;
    let function_path = at(path, "function");
    let function = JSON.required(tool, path, "function")?;
    parse_function_def(JSON.object(function, &function_path)?, &function_path)
}

/// `{name, description, parameters, strict}`. `strict` asks OpenAI to hold the arguments to
/// the schema exactly; other providers treat the schema as the contract anyway, so it is
/// accepted and not carried.
fn parse_function_def(
    function: &Map<String, Value>,
    path: &str,
) -> Result<ToolDef, TranslateError> {
    check_keys(
        function,
        path,
        &["name", "description", "parameters", "strict"],
    )?;
    let parameters = match present(function, "parameters") {
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
        name: JSON.required_str(function, path, "name")?.to_string(),
        description: JSON
            .optional_str(function, path, "description")?
            .map(str::to_string),
        parameters,
    })
}

/// `tool_choice`, or the legacy `function_call` (never both).
fn parse_tool_choice(body: &Map<String, Value>) -> Result<Option<ToolChoice>, TranslateError> {
    match (present(body, "tool_choice"), present(body, "function_call")) {
        (Some(_), Some(_)) => Err(invalid(
            "function_call",
            "give `tool_choice` or the older `function_call`, not both",
        )),
        (Some(choice), None) => parse_tool_choice_value(choice).map(Some),
        (None, Some(choice)) => parse_function_call_choice(choice).map(Some),
        (None, None) => Ok(None),
    }
}

fn parse_tool_choice_value(choice: &Value) -> Result<ToolChoice, TranslateError> {
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
            check_keys(choice, PATH, &["type", "function"])?;
            let function_path = at(PATH, "function");
            let function = JSON.required(choice, PATH, "function")?;
            let function = JSON.object(function, &function_path)?;
            check_keys(function, &function_path, &["name"])?;
            Ok(ToolChoice::Tool {
                name: JSON
                    .required_str(function, &function_path, "name")?
                    .to_string(),
            })
        }
        other => Err(JSON.untranslatable(
            at(PATH, "type"),
            format!("`{other}` tool choices have no equivalent in other formats"),
        )),
    }
}

/// Legacy `function_call`: `"auto"`, `"none"` or `{"name"}`.
fn parse_function_call_choice(choice: &Value) -> Result<ToolChoice, TranslateError> {
    const PATH: &str = "function_call";
    match choice {
        Value::String(mode) if mode == "auto" => Ok(ToolChoice::Auto),
        Value::String(mode) if mode == "none" => Ok(ToolChoice::None),
        Value::Object(function) => {
            check_keys(function, PATH, &["name"])?;
            Ok(ToolChoice::Tool {
                name: JSON.required_str(function, PATH, "name")?.to_string(),
            })
        }
        _ => Err(invalid(
            PATH,
            "must be \"auto\", \"none\" or {\"name\": ...}",
        )),
    }
}

fn parse_response_format(format: &Value) -> Result<ResponseFormat, TranslateError> {
    const PATH: &str = "response_format";
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
            check_keys(format, PATH, &["type", "json_schema"])?;
            let schema_path = at(PATH, "json_schema");
            let spec = JSON.required(format, PATH, "json_schema")?;
            parse_json_schema(JSON.object(spec, &schema_path)?, &schema_path)
        }
        other => Err(invalid(
            at(PATH, "type"),
            format!("`{other}` is not a response format"),
        )),
    }
}

/// `json_schema: {name, description, schema, strict}`. A description would guide the model
/// and no other format carries one, so it is refused rather than dropped.
fn parse_json_schema(
    spec: &Map<String, Value>,
    path: &str,
) -> Result<ResponseFormat, TranslateError> {
    check_keys(spec, path, &["name", "description", "schema", "strict"])?;
    if present(spec, "description").is_some() {
        return Err(JSON.untranslatable(
            at(path, "description"),
            "a schema description has no equivalent in other formats",
        ));
    }
    let schema = match present(spec, "schema") {
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => return Err(invalid(at(path, "schema"), "must be a JSON Schema object")),
        None => return Err(invalid(at(path, "schema"), JSON.wording.required)),
    };
    Ok(ResponseFormat::JsonSchema {
        name: JSON.optional_str(spec, path, "name")?.map(str::to_string),
        schema,
        strict: JSON.member(spec, path, "strict", Json::bool)?,
    })
}

// --- writing -----------------------------------------------------------------------------

/// The name OpenAI requires for a JSON schema when the source format gave none.
const DEFAULT_SCHEMA_NAME: &str = "response";

/// Writes the request body for an OpenAI-compatible provider serving `upstream_model`.
/// A streamed request always asks for the final usage chunk: the gateway's audit log needs it.
pub fn render_request(
    request: &ChatRequest,
    upstream_model: &str,
    options: &RenderOptions,
) -> Result<Value, TranslateError> {
    if request.top_k.is_some() {
        return Err(JSON.unsupported("top_k", "OpenAI does not sample with top-k"));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    body.insert("messages".into(), Value::Array(render_messages(request)?));
    if !request.tools.is_empty() {
        body.insert(
            "tools".into(),
            request.tools.iter().map(render_tool).collect(),
        );
    }
    if let Some(choice) = &request.tool_choice {
        body.insert("tool_choice".into(), render_tool_choice(choice));
    }
    if let Some(parallel) = request.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(parallel));
    }
    let cap_field = if options.legacy_max_tokens {
        "max_tokens"
    } else {
        "max_completion_tokens"
    };
    insert_some(&mut body, cap_field, request.max_tokens);
    insert_some(&mut body, "temperature", request.temperature);
    insert_some(&mut body, "top_p", request.top_p);
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if let Some(format) = &request.response_format {
        body.insert("response_format".into(), render_response_format(format));
    }
    insert_some(&mut body, "seed", request.seed);
    insert_some(&mut body, "presence_penalty", request.presence_penalty);
    insert_some(&mut body, "frequency_penalty", request.frequency_penalty);
    insert_some(&mut body, "user", request.end_user.as_deref());
    if request.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(body))
}

/// One `system` message per block, then the conversation.
fn render_messages(request: &ChatRequest) -> Result<Vec<Value>, TranslateError> {
    let mut out: Vec<Value> = request
        .system
        .iter()
        .map(|block| json!({"role": "system", "content": block}))
        .collect();
    for (i, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::User => render_user_message(&message.content, i, &mut out)?,
            Role::Assistant => out.push(render_assistant_message(&message.content, i)?),
        }
    }
    Ok(out)
}

/// A user turn's tool results become `tool` messages, in order; its other parts follow in
/// one user message.
fn render_user_message(
    content: &[Part],
    i: usize,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (j, part) in content.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match part {
            Part::ToolResult {
                call_id,
                content,
                is_error,
            } => out.push(render_tool_result(call_id, content, *is_error, &path)?),
            Part::Text { text } => parts.push(json!({"type": "text", "text": text})),
            Part::Image { image } => parts.push(render_image(image)),
            Part::ToolCall { .. } => {
                return Err(JSON.unsupported(path, "a tool call can only come from the assistant"));
            }
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let content = match parts.as_slice() {
        [only] if only["type"] == "text" => only["text"].clone(),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn render_image(image: &Image) -> Value {
    let url = match image {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url { url } => url.clone(),
    };
    json!({"type": "image_url", "image_url": {"url": url}})
}

/// A `tool` message. OpenAI has no error flag, so an error result says so in its text.
fn render_tool_result(
    call_id: &str,
    content: &[Part],
    is_error: bool,
    path: &str,
) -> Result<Value, TranslateError> {
    let mut texts = content
        .iter()
        .enumerate()
        .map(|(k, part)| match part {
            Part::Text { text } => Ok(text.clone()),
            _ => Err(JSON.unsupported(
                format!("{path}.content[{k}]"),
                "OpenAI tool results hold text only",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if is_error {
        match texts.first_mut() {
            Some(first) => first.insert_str(0, "Error: "),
            None => texts.push("Error".to_string()),
        }
    }
    let content = match texts.as_slice() {
        [] => json!(""),
        [only] => json!(only),
        many => many
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect(),
    };
    Ok(json!({"role": "tool", "tool_call_id": call_id, "content": content}))
}

/// An assistant turn: its text as `content`, its tool calls as `tool_calls` (OpenAI keeps
/// them apart, so text written after a call moves before it).
fn render_assistant_message(content: &[Part], i: usize) -> Result<Value, TranslateError> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for (j, part) in content.iter().enumerate() {
        match part {
            Part::Text { text } => texts.push(text.as_str()),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(tool_call_json(id, name, arguments)),
            Part::Image { .. } => {
                return Err(JSON.unsupported(
                    format!("messages[{i}].content[{j}]"),
                    "OpenAI assistant messages cannot hold images",
                ));
            }
            Part::ToolResult { .. } => {
                return Err(JSON.unsupported(
                    format!("messages[{i}].content[{j}]"),
                    "a tool result can only come from the user side",
                ));
            }
        }
    }
    let text = match texts.as_slice() {
        // OpenAI requires content unless there are tool calls.
        [] if calls.is_empty() => json!(""),
        [] => Value::Null,
        [only] => json!(only),
        many => many
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect(),
    };
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}

fn render_tool(tool: &ToolDef) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        function.insert("description".into(), json!(description));
    }
    function.insert("parameters".into(), tool.parameters.clone());
    json!({"type": "function", "function": function})
}

fn render_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
    }
}

fn render_response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut spec = Map::new();
            spec.insert(
                "name".into(),
                json!(name.as_deref().unwrap_or(DEFAULT_SCHEMA_NAME)),
            );
            spec.insert("schema".into(), schema.clone());
            if let Some(strict) = strict {
                spec.insert("strict".into(), json!(strict));
            }
            json!({"type": "json_schema", "json_schema": spec})
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(body: Value) -> Result<ChatRequest, TranslateError> {
        parse_request(&body)
    }

    fn with_messages(messages: Value) -> Value {
        json!({"model": "gpt-4o", "messages": messages})
    }

    fn render(request: &ChatRequest) -> Result<Value, TranslateError> {
        render_request(request, "gpt-4o", &RenderOptions::default())
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

    fn user(content: Vec<Part>) -> Message {
        Message {
            role: Role::User,
            content,
        }
    }

    fn result(call_id: &str, text: &str) -> Part {
        Part::ToolResult {
            call_id: call_id.into(),
            content: vec![Part::text(text)],
            is_error: false,
        }
    }

    #[test]
    fn string_and_text_part_content_mean_the_same() {
        let plain = parse(with_messages(
            json!([{"role": "user", "content": "Hello!"}]),
        ))
        .unwrap();
        let parts = parse(with_messages(json!([
            {"role": "user", "content": [{"type": "text", "text": "Hello!"}]}
        ])))
        .unwrap();
        assert_eq!(plain, parts);
        assert_eq!(plain.messages, vec![user(vec![Part::text("Hello!")])]);
    }

    #[test]
    fn leading_system_and_developer_messages_become_system_blocks() {
        let request = parse(with_messages(json!([
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [
                {"type": "text", "text": "Answer in French."},
                {"type": "text", "text": "Never apologise."}
            ]},
            {"role": "user", "content": "Hi"}
        ])))
        .unwrap();
        assert_eq!(
            request.system,
            ["You are terse.", "Answer in French.\nNever apologise."]
        );
        assert_eq!(request.messages.len(), 1);
    }

    #[test]
    fn a_developer_message_mid_conversation_is_refused() {
        assert_refused(
            parse(with_messages(json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "developer", "content": "Now be rude."}
            ]))),
            "untranslatable",
            "messages[2]",
        );
    }

    #[test]
    fn consecutive_tool_messages_merge_and_a_following_user_message_stays_apart() {
        let request = parse(with_messages(json!([
            {"role": "user", "content": "Weather in Oslo and Bergen?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Bergen\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "4°C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "9°C"}]},
            {"role": "user", "content": "Thanks"}
        ])))
        .unwrap();
        assert_eq!(request.messages.len(), 4);
        assert_eq!(
            request.messages[1].content[1],
            Part::ToolCall {
                id: "call_2".into(),
                name: "weather".into(),
                arguments: json!({"city": "Bergen"})
            }
        );
        assert_eq!(
            request.messages[2],
            user(vec![result("call_1", "4°C"), result("call_2", "9°C")])
        );
        assert_eq!(request.messages[3], user(vec![Part::text("Thanks")]));
    }

    #[test]
    fn data_url_images_carry_bytes_and_https_images_stay_urls() {
        let request = parse(with_messages(json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "auto"}}
        ]}])))
        .unwrap();
        assert_eq!(
            request.messages[0].content,
            vec![
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
        let body = render(&request).unwrap();
        assert_eq!(
            body["messages"][0]["content"][0]["image_url"]["url"],
            "data:image/png;base64,iVBORw0KGgo="
        );
        assert_eq!(
            body["messages"][0]["content"][1]["image_url"]["url"],
            "https://example.com/a.jpg"
        );
    }

    #[test]
    fn a_data_url_that_is_not_base64_is_invalid() {
        for url in [
            "data:image/png,%89PNG",
            "data:;base64,AAAA",
            "data:image/png;base64",
        ] {
            assert_refused(
                parse(with_messages(json!([{"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}}
                ]}]))),
                "invalid",
                "messages[0].content[1].image_url.url",
            );
        }
    }

    #[test]
    fn image_detail_levels_are_refused() {
        assert_refused(
            parse(with_messages(json!([{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "high"}}
            ]}]))),
            "untranslatable",
            "messages[0].content[0].image_url.detail",
        );
    }

    #[test]
    fn audio_and_file_parts_are_refused() {
        for (part, field) in [
            (
                json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
                "messages[0].content[0]",
            ),
            (
                json!({"type": "file", "file": {"file_id": "file-abc"}}),
                "messages[0].content[0]",
            ),
            (json!({"type": "video"}), "messages[0].content[0].type"),
        ] {
            let kind = if field.ends_with("type") {
                "invalid"
            } else {
                "untranslatable"
            };
            assert_refused(
                parse(with_messages(json!([{"role": "user", "content": [part]}]))),
                kind,
                field,
            );
        }
    }

    #[test]
    fn legacy_functions_and_function_calls_read_as_tools() {
        let request = parse(json!({
            "model": "gpt-3.5-turbo",
            "messages": [
                {"role": "user", "content": "What is the weather like in Boston?"},
                {"role": "assistant", "content": null, "function_call": {
                    "name": "get_current_weather", "arguments": "{\n  \"location\": \"Boston, MA\"\n}"
                }},
                {"role": "function", "name": "get_current_weather", "content": "{\"temperature\": 22}"}
            ],
            "functions": [{
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
            }],
            "function_call": {"name": "get_current_weather"}
        }))
        .unwrap();
        assert_eq!(request.tools.len(), 1);
        assert_eq!(request.tools[0].name, "get_current_weather");
        assert_eq!(
            request.tool_choice,
            Some(ToolChoice::Tool {
                name: "get_current_weather".into()
            })
        );
        assert_eq!(
            request.messages[1].content,
            vec![Part::ToolCall {
                id: "call_legacy_1".into(),
                name: "get_current_weather".into(),
                arguments: json!({"location": "Boston, MA"})
            }]
        );
        assert_eq!(
            request.messages[2],
            user(vec![result("call_legacy_1", "{\"temperature\": 22}")])
        );
        let mut body = with_messages(json!([{"role": "user", "content": "x"}]));
        body["function_call"] = json!("none");
        assert_eq!(parse(body).unwrap().tool_choice, Some(ToolChoice::None));
    }

    #[test]
    fn a_function_message_must_answer_the_function_called_before_it() {
        assert_refused(
            parse(with_messages(json!([
                {"role": "user", "content": "Hi"},
                {"role": "function", "name": "lookup", "content": "42"}
            ]))),
            "invalid",
            "messages[1].name",
        );
    }

    #[test]
    fn tool_call_arguments_that_are_not_a_json_object_are_invalid() {
        for arguments in ["{\"city\": \"Oslo\"", "[\"Oslo\"]"] {
            assert_refused(
                parse(with_messages(json!([
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": arguments}}
                    ]}
                ]))),
                "invalid",
                "messages[1].tool_calls[1].function.arguments",
            );
        }
    }

    #[test]
    fn fields_only_openai_understands_are_refused_by_name() {
        for (field, value) in [
            ("n", json!(2)),
            ("logprobs", json!(true)),
            ("top_logprobs", json!(2)),
            ("logit_bias", json!({"50256": -100})),
            ("audio", json!({"voice": "alloy", "format": "wav"})),
            ("modalities", json!(["text", "audio"])),
            ("prediction", json!({"type": "content", "content": "x"})),
            ("web_search_options", json!({})),
            ("reasoning_effort", json!("low")),
            ("verbosity", json!("low")),
            ("frobnicate", json!(true)),
        ] {
            let mut body = with_messages(json!([{"role": "user", "content": "Hi"}]));
            body[field] = value;
            assert_refused(parse(body), "untranslatable", field);
        }
    }

    #[test]
    fn fields_that_ask_for_nothing_special_are_accepted() {
        let request = parse(json!({
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hi"}],
            "n": 1,
            "logprobs": false,
            "top_logprobs": null,
            "logit_bias": {},
            "modalities": ["text"],
            "audio": null,
            "store": true,
            "metadata": {"team": "search"},
            "service_tier": "auto",
            "safety_identifier": "u-1",
            "prompt_cache_key": "k",
            "prompt_cache_retention": "24h",
            "user": "user-1234",
            "stream": true,
            "stream_options": {"include_usage": true, "include_obfuscation": false}
        }))
        .unwrap();
        assert_eq!(request.end_user.as_deref(), Some("user-1234"));
        assert!(request.stream && request.include_usage);
    }

    #[test]
    fn nested_fields_without_an_equivalent_are_refused_by_path() {
        let cases = [
            (
                json!([{"role": "user", "name": "alice", "content": "Hi"}]),
                "messages[0].name",
            ),
            (
                json!([{"role": "user", "content": "Hi", "cache_control": {"type": "ephemeral"}}]),
                "messages[0].cache_control",
            ),
            (
                json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "audio": {"id": "audio_1"}}]),
                "messages[1].audio",
            ),
        ];
        for (messages, field) in cases {
            assert_refused(parse(with_messages(messages)), "untranslatable", field);
        }
        let mut body = with_messages(json!([{"role": "user", "content": "Hi"}]));
        body["tools"] = json!([{"type": "custom", "custom": {"name": "grammar"}}]);
        assert_refused(parse(body.clone()), "untranslatable", "tools[0].type");
        body["tools"] = json!([]);
        body["tool_choice"] =
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}});
        assert_refused(parse(body.clone()), "untranslatable", "tool_choice.type");
        body["tool_choice"] = Value::Null;
        body["response_format"] = json!({"type": "json_schema", "json_schema": {
            "name": "x", "description": "A person", "schema": {"type": "object"}
        }});
        assert_refused(
            parse(body),
            "untranslatable",
            "response_format.json_schema.description",
        );
    }

    #[test]
    fn malformed_values_are_invalid_and_name_the_field() {
        let base = || with_messages(json!([{"role": "user", "content": "Hi"}]));
        for (field, value, path) in [
            ("temperature", json!("hot"), "temperature"),
            ("max_tokens", json!(-1), "max_tokens"),
            ("seed", json!(1.5), "seed"),
            ("stop", json!(["a", 1]), "stop[1]"),
            ("tool_choice", json!("sometimes"), "tool_choice"),
            (
                "stream_options",
                json!({"include_usage": "yes"}),
                "stream_options.include_usage",
            ),
            (
                "messages",
                json!([{"role": "robot", "content": "x"}]),
                "messages[0].role",
            ),
            ("messages", json!([{"content": "x"}]), "messages[0].role"),
            ("messages", json!([{"role": "user"}]), "messages[0].content"),
            (
                "messages",
                json!([{"role": "user", "content": [{"type": "text"}]}]),
                "messages[0].content[0].text",
            ),
            (
                "messages",
                json!([{"role": "tool", "content": "x"}]),
                "messages[0].tool_call_id",
            ),
            ("messages", json!("Hi"), "messages"),
            ("messages", Value::Null, "messages"),
            (
                "response_format",
                json!({"type": "json_schema", "json_schema": {"name": "x"}}),
                "response_format.json_schema.schema",
            ),
        ] {
            let mut body = base();
            body[field] = value;
            assert_refused(parse(body), "invalid", path);
        }
        assert_refused(parse(json!(["not", "an", "object"])), "invalid", "");
    }

    #[test]
    fn the_cap_is_written_in_the_field_the_server_reads() {
        let request = ChatRequest {
            max_tokens: Some(99),
            messages: vec![clearance_core::chat::Message {
                role: clearance_core::chat::Role::User,
                content: vec![clearance_core::chat::Part::text("hi")],
            }],
            ..ChatRequest::default()
        };
        let modern = render_request(&request, "m", &RenderOptions::default()).unwrap();
        assert_eq!(modern["max_completion_tokens"], 99);
        assert!(modern.get("max_tokens").is_none());
        let legacy = RenderOptions {
            legacy_max_tokens: true,
            ..RenderOptions::default()
        };
        let older = render_request(&request, "m", &legacy).unwrap();
        assert_eq!(older["max_tokens"], 99);
        assert!(older.get("max_completion_tokens").is_none());
    }

    #[test]
    fn max_completion_tokens_wins_over_the_older_max_tokens() {
        let mut body = with_messages(json!([{"role": "user", "content": "Hi"}]));
        body["max_tokens"] = json!(100);
        assert_eq!(parse(body.clone()).unwrap().max_tokens, Some(100));
        body["max_completion_tokens"] = json!(300);
        assert_eq!(parse(body).unwrap().max_tokens, Some(300));
    }

    #[test]
    fn top_k_cannot_be_sent_to_openai() {
        let request = ChatRequest {
            top_k: Some(40),
            ..ChatRequest::default()
        };
        assert_refused(render(&request), "unsupported", "top_k");
    }

    #[test]
    fn a_user_turn_splits_into_tool_messages_then_the_rest() {
        let request = ChatRequest {
            messages: vec![user(vec![
                result("call_1", "4°C"),
                Part::text("and also"),
                Part::ToolResult {
                    call_id: "call_2".into(),
                    content: vec![Part::text("no such city")],
                    is_error: true,
                },
            ])],
            ..ChatRequest::default()
        };
        assert_eq!(
            render(&request).unwrap()["messages"],
            json!([
                {"role": "tool", "tool_call_id": "call_1", "content": "4°C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "Error: no such city"},
                {"role": "user", "content": "and also"}
            ])
        );
    }

    #[test]
    fn images_in_tool_results_cannot_be_sent_to_openai() {
        let request = ChatRequest {
            messages: vec![user(vec![
                Part::text("see"),
                Part::ToolResult {
                    call_id: "call_1".into(),
                    content: vec![
                        Part::text("chart:"),
                        Part::Image {
                            image: Image::Url {
                                url: "https://example.com/c.png".into(),
                            },
                        },
                    ],
                    is_error: false,
                },
            ])],
            ..ChatRequest::default()
        };
        assert_refused(
            render(&request),
            "unsupported",
            "messages[0].content[1].content[1]",
        );
    }

    #[test]
    fn an_error_result_with_no_text_still_says_error() {
        let body = render_tool_result("call_1", &[], true, "p").unwrap();
        assert_eq!(body["content"], "Error");
    }

    #[test]
    fn streaming_always_asks_for_usage_and_unset_options_are_left_out() {
        let request = ChatRequest {
            model: "claude-x".into(),
            messages: vec![user(vec![Part::text("Hi")])],
            stream: true,
            ..ChatRequest::default()
        };
        assert_eq!(
            render(&request).unwrap(),
            json!({
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "Hi"}],
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn an_assistant_turn_keeps_text_in_content_and_calls_in_tool_calls() {
        let request = ChatRequest {
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![
                    Part::text("Let me check."),
                    Part::ToolCall {
                        id: "toolu_1".into(),
                        name: "weather".into(),
                        arguments: json!({"city": "Oslo"}),
                    },
                ],
            }],
            ..ChatRequest::default()
        };
        assert_eq!(
            render(&request).unwrap()["messages"][0],
            json!({
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "toolu_1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]
            })
        );
    }

    #[test]
    fn a_schema_without_a_name_gets_the_one_openai_requires() {
        let request = ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: None,
                schema: json!({"type": "object"}),
                strict: None,
            }),
            ..ChatRequest::default()
        };
        assert_eq!(
            render(&request).unwrap()["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}})
        );
    }

    /// JSON built from the keys and values a Chat Completions body uses, so that random bodies
    /// reach deep into the parser.
    fn body_like_json() -> impl Strategy<Value = Value> {
        crate::translate::arbitrary::json_with(
            &[
                "model",
                "messages",
                "role",
                "content",
                "type",
                "text",
                "image_url",
                "url",
                "detail",
                "tool_calls",
                "tool_call_id",
                "function",
                "function_call",
                "functions",
                "name",
                "arguments",
                "tools",
                "tool_choice",
                "parameters",
                "stop",
                "response_format",
                "json_schema",
                "schema",
                "refusal",
                "stream_options",
                "include_usage",
                "n",
            ],
            &[
                "user",
                "assistant",
                "system",
                "developer",
                "tool",
                "function",
                "text",
                "image_url",
                "auto",
                "none",
                "required",
                "json_schema",
                "data:image/png;base64,AA",
                "data:",
                "{\"a\":1}",
                "{",
                "",
            ],
        )
    }

    proptest! {
        /// No body, however malformed, panics; whatever parses also renders and reads back.
        #[test]
        fn any_body_parses_or_is_refused_without_panicking(body in body_like_json()) {
            if let Ok(request) = parse_request(&body) {
                let rendered = render(&request).unwrap();
                prop_assert!(parse_request(&rendered).is_ok(), "{rendered}");
            }
        }

        #[test]
        fn any_messages_list_parses_or_is_refused_without_panicking(messages in body_like_json()) {
            let _ = parse_request(&with_messages(messages));
        }
    }
}
