//! Google Gemini `generateContent` and `streamGenerateContent?alt=sse` (API v1beta) ⇄ the
//! neutral chat model.
//!
//! What is particular to Gemini, and how this module deals with it:
//! - The model and the streaming choice are in the URL, not the body: a parsed request has an
//!   empty `model` and `stream: false`, and a rendered body carries neither.
//! - Field names: the documented JSON form is lowerCamelCase, but the API also accepts the
//!   proto's snake_case names (Google's own curl examples write `system_instruction`,
//!   `inline_data`), so reading accepts both; writing uses lowerCamelCase.
//! - Tool calls may come without an `id` (older models and bodies): ids are invented,
//!   deterministically — `call_<responseId or "gemini">_<n>` in answers (n counts the calls of
//!   the answer), `call_gemini_<n>` in requests (n counts the calls of the conversation, so ids
//!   stay unique across turns) — and a `functionResponse` without an id answers the oldest
//!   unanswered call of the same name.
//! - Tool results are matched to calls by name: rendering looks the name up with
//!   [`ChatRequest::tool_name_of`] and writes the result as `{"output": text}` (or
//!   `{"error": text}`), which reading turns back into text; any other response object is read
//!   as its JSON text.
//! - Gemini 3 validates a thought signature on function calls in the history; calls that came
//!   from another provider are written with the value Google documents for that case.
//! - A stream has no terminal event: [`Decoder::finish`] ends it once a `finishReason` went by.
//!
//! Reading is strict: a field that changes the answer and has no neutral equivalent is refused
//! ([`TranslateError::Untranslatable`]), as is a field this module does not know; the fields
//! that are read and dropped are listed in [`IGNORED_FIELDS`].

pub(crate) mod errors;

use clearance_core::api::WireFormat;
use clearance_core::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, ToolDef, Usage,
};
use serde_json::{Map, Value, json};

use super::json::{Json, Wording, at, insert_some, invalid, is_image_media_type};
use super::{
    EncoderOptions, RenderOptions, StreamDecoder, StreamEncoder, TranslateError, push_turn,
    total_tokens, write_sse_event,
};
use crate::sse::SseFrame;

/// Request fields that are read and dropped because they do not change what the model is
/// asked (the compatibility table in the docs is generated from this list):
/// - `model`: the URL names the model; a copy in the body is ignored, as the API ignores it.
/// - `systemInstruction.role`: a system instruction has no speaker.
/// - `contents[].parts[].thoughtSignature`: an opaque token of Gemini's own reasoning state
///   that no other provider can read.
/// - `contents[].parts[].thought`: thought parts in earlier model turns are skipped (as
///   Anthropic thinking blocks in assistant history are): they are not what the model is
///   asked now.
/// - `tools[].functionDeclarations[].response` / `responseJsonSchema`: a schema of what the
///   function returns; the results in the conversation say it.
/// - `safetySettings` whose every threshold is `BLOCK_NONE`, `OFF` or unspecified: it only
///   loosens (or keeps) Google's own filter, which other providers do not have; a stricter
///   setting asks for filtering another provider cannot promise, and is refused.
/// - `generationConfig.candidateCount` = 1, `responseModalities` = `["TEXT"]`,
///   `responseLogprobs` = false, `enableEnhancedCivicAnswers` = false: the defaults.
/// - `generationConfig.thinkingConfig` holding only `includeThoughts` and/or
///   `thinkingBudget: -1` (dynamic thinking, the default): thoughts are never part of a
///   translated answer; any other thinking setting is refused.
pub const IGNORED_FIELDS: &[&str] = &[
    "model",
    "systemInstruction.role",
    "contents[].parts[].thoughtSignature",
    "contents[].parts[].thought",
    "tools[].functionDeclarations[].response",
    "tools[].functionDeclarations[].responseJsonSchema",
    "safetySettings (BLOCK_NONE / OFF / unspecified thresholds only)",
    "generationConfig.candidateCount (1)",
    "generationConfig.responseModalities ([\"TEXT\"])",
    "generationConfig.responseLogprobs (false)",
    "generationConfig.enableEnhancedCivicAnswers (false)",
    "generationConfig.thinkingConfig (includeThoughts, thinkingBudget -1)",
];

/// Gemini 3 rejects a conversation whose model turns hold function calls without a thought
/// signature. Calls that came from another provider have none; Google documents this value
/// for exactly that case ("transferring a trace from a different model"), on the first
/// function call of each model turn, for both the Gemini API and Vertex AI.
const FOREIGN_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Every `Candidate.FinishReason` the API documents, so that a neutral `Other` reason can be
/// written back under its own name when it is one of them.
const FINISH_REASONS: &[&str] = &[
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_OTHER",
    "NO_IMAGE",
    "IMAGE_RECITATION",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

/// The finish reasons that mean a filter cut or refused the answer.
const FILTER_REASONS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
];

// ---------------------------------------------------------------------------------------
// Errors and field access
// ---------------------------------------------------------------------------------------

/// Gemini's errors say what a value "must be"; a body that is not an object is named `body`.
const JSON: Json = Json {
    format: WireFormat::Gemini,
    wording: &Wording::MUST,
    root: "body",
};

const UNKNOWN_FIELD: &str = "not a field of Gemini's API, or one with no translation";

/// The proto (snake_case) spelling of a lowerCamelCase field name.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The lowerCamelCase spelling of a field name written either way.
fn camel_case(key: &str) -> String {
    if key.chars().any(|c| c.is_ascii_uppercase()) || !key.contains('_') {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for (i, c) in key.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON object of the Gemini API and its path in the body, for error messages. Fields are
/// looked up by their lowerCamelCase name and found under either spelling; `null` counts as
/// absent, as in the API's own (proto3) JSON reading.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn of(value: &'a Value, path: String) -> Result<Obj<'a>, TranslateError> {
        let map = JSON.object(value, &path)?;
        Ok(Obj { map, path })
    }

    fn field(&self, name: &str) -> String {
        at(&self.path, name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .get(name)
            .or_else(|| self.map.get(&snake_case(name)))
            .filter(|value| !value.is_null())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of `name` read by `read` (one of [`Json`]'s), with the field's path.
    fn read<T>(
        &self,
        name: &str,
        read: impl FnOnce(Json, &'a Value, &str) -> Result<T, TranslateError>,
    ) -> Result<Option<T>, TranslateError> {
        self.get(name)
            .map(|value| read(JSON, value, &self.field(name)))
            .transpose()
    }

    fn object(&self, name: &str) -> Result<Option<Obj<'a>>, TranslateError> {
        self.get(name)
            .map(|value| Obj::of(value, self.field(name)))
            .transpose()
    }

    fn array(&self, name: &str) -> Result<Option<&'a [Value]>, TranslateError> {
        Ok(self.read(name, Json::array)?.map(Vec::as_slice))
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>, TranslateError> {
        self.read(name, Json::str)
    }

    fn required_string(&self, name: &str) -> Result<&'a str, TranslateError> {
        self.string(name)?.ok_or_else(|| self.missing(name))
    }

    /// The error for a required field `name` that is absent.
    fn missing(&self, name: &str) -> TranslateError {
        invalid(self.field(name), JSON.wording.required)
    }

    fn number(&self, name: &str) -> Result<Option<f64>, TranslateError> {
        self.read(name, Json::f64)
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, TranslateError> {
        self.read(name, Json::i64)
    }

    fn count(&self, name: &str) -> Result<Option<u64>, TranslateError> {
        self.read(name, Json::u64)
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, TranslateError> {
        self.read(name, Json::bool)
    }

    /// Refuses the first field (by its lowerCamelCase name) that is not in `known`.
    fn reject_unknown(&self, known: &[&str]) -> Result<(), TranslateError> {
        JSON.check_keys(
            self.map,
            &self.path,
            |key, _| known.contains(&camel_case(key).as_str()),
            |_| UNKNOWN_FIELD,
        )
    }
}

/// The items of the array at `path`, each required to be an object.
fn each_object<'a>(
    items: &'a [Value],
    path: &str,
) -> impl Iterator<Item = Result<Obj<'a>, TranslateError>> {
    items
        .iter()
        .enumerate()
        .map(move |(i, item)| Obj::of(item, format!("{path}[{i}]")))
}

// ---------------------------------------------------------------------------------------
// Requests: Gemini → neutral
// ---------------------------------------------------------------------------------------

const REQUEST_FIELDS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
];

/// Reads a `GenerateContentRequest` body. The model and the streaming choice are in the URL:
/// `model` is left empty and `stream` false for the caller to fill in.
pub fn parse_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let body = Obj::of(body, String::new())?;
    body.reject_unknown(REQUEST_FIELDS)?;
    if body.has("cachedContent") {
        return Err(JSON.untranslatable(
            "cachedContent",
            "a Gemini context cache lives inside Google; no other provider can read it",
        ));
    }
    check_safety_settings(&body)?;
    let mut request = ChatRequest {
        system: parse_system(&body)?,
        messages: parse_contents(&body)?,
        tools: parse_tools(&body)?,
        tool_choice: parse_tool_config(&body)?,
        ..ChatRequest::default()
    };
    if let Some(config) = body.object("generationConfig")? {
        read_generation_config(&config, &mut request)?;
    }
    Ok(request)
}

fn parse_system(body: &Obj) -> Result<Vec<String>, TranslateError> {
    let Some(system) = body.object("systemInstruction")? else {
        return Ok(Vec::new());
    };
    system.reject_unknown(&["parts", "role"])?;
    let parts = system.array("parts")?.unwrap_or_default();
    let mut blocks = Vec::with_capacity(parts.len());
    for part in each_object(parts, &system.field("parts")) {
        let part = part?;
        let Some(text) = part.string("text")? else {
            return Err(JSON.untranslatable(
                part.path.clone(),
                "a system instruction other than text has no translation",
            ));
        };
        part.reject_unknown(&["text"])?;
        blocks.push(text.to_string());
    }
    Ok(blocks)
}

/// Invents ids for calls that have none and pairs results with their calls.
#[derive(Default)]
struct CallIds {
    calls: usize,
    /// Calls not answered yet: (id, name), oldest first.
    open: Vec<(String, String)>,
}

impl CallIds {
    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = match id {
            Some(id) => id.to_string(),
            None => format!("call_gemini_{}", self.calls),
        };
        self.calls += 1;
        self.open.push((id.clone(), name.to_string()));
        id
    }

    /// The id of the unanswered call a result answers: the one with the result's id, or
    /// else the oldest of the result's name (Gemini itself pairs them by name).
    fn result(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let by_id = id.and_then(|id| self.open.iter().position(|(open, _)| open == id));
        let position = by_id.or_else(|| self.open.iter().position(|(_, open)| open == name))?;
        Some(self.open.remove(position).0)
    }
}

fn parse_contents(body: &Obj) -> Result<Vec<Message>, TranslateError> {
    let contents = body
        .array("contents")?
        .ok_or_else(|| body.missing("contents"))?;
    let mut ids = CallIds::default();
    let mut messages = Vec::with_capacity(contents.len());
    for content in each_object(contents, "contents") {
        let content = content?;
        content.reject_unknown(&["role", "parts"])?;
        let role = match content.string("role")? {
            None | Some("user") | Some("function") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(invalid(
                    content.field("role"),
                    format!("`{other}` is not a role: \"user\" or \"model\""),
                ));
            }
        };
        let parts = content
            .array("parts")?
            .ok_or_else(|| content.missing("parts"))?;
        let mut message = Message {
            role,
            content: Vec::with_capacity(parts.len()),
        };
        for part in each_object(parts, &content.field("parts")) {
            let part = part?;
            if let Some(part) = parse_part(&part, role, &mut ids)? {
                message.content.push(part);
            }
        }
        // A model turn made only of thoughts says nothing the model is asked now.
        if !message.content.is_empty() {
            messages.push(message);
        }
    }
    Ok(messages)
}

/// The `Part.data` oneof.
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

fn part_data(part: &Obj) -> Result<&'static str, TranslateError> {
    let present: Vec<&'static str> = PART_DATA
        .iter()
        .copied()
        .filter(|key| part.has(key))
        .collect();
    match present.as_slice() {
        [one] => Ok(one),
        [] => Err(invalid(
            part.path.clone(),
            "a part holds one of text, inlineData, fileData, functionCall, functionResponse",
        )),
        _ => Err(invalid(
            part.path.clone(),
            format!(
                "a part holds only one kind of data, not {}",
                present.join(" and ")
            ),
        )),
    }
}

/// One request part; `None` for a thought of the model, which is skipped.
fn parse_part(part: &Obj, role: Role, ids: &mut CallIds) -> Result<Option<Part>, TranslateError> {
    let mut known = PART_DATA.to_vec();
    known.extend(["thought", "thoughtSignature"]);
    part.reject_unknown(&known)?;
    let data = part_data(part)?;
    if part.boolean("thought")? == Some(true) {
        return match role {
            Role::Assistant => Ok(None),
            Role::User => Err(invalid(
                part.field("thought"),
                "only model turns hold thoughts",
            )),
        };
    }
    let field = part.field(data);
    match data {
        "text" => Ok(Some(Part::text(part.required_string("text")?))),
        "inlineData" => parse_inline_data(part).map(Some),
        "functionCall" if role == Role::Assistant => parse_function_call(part, ids).map(Some),
        "functionCall" => Err(invalid(field, "only model turns call functions")),
        "functionResponse" if role == Role::User => parse_function_response(part, ids).map(Some),
        "functionResponse" => Err(invalid(field, "function responses belong to user turns")),
        "fileData" => {
            Err(JSON.untranslatable(field, "an uploaded-file URI is readable only by Gemini"))
        }
        _ => Err(JSON.untranslatable(
            field,
            "code execution exists only with Gemini's codeExecution tool",
        )),
    }
}

fn parse_inline_data(part: &Obj) -> Result<Part, TranslateError> {
    let Some(blob) = part.object("inlineData")? else {
        return Err(part.missing("inlineData"));
    };
    blob.reject_unknown(&["mimeType", "data"])?;
    let media_type = blob.required_string("mimeType")?;
    let data = blob.required_string("data")?;
    if !is_image_media_type(media_type) {
        return Err(JSON.untranslatable(
            blob.field("mimeType"),
            format!("only images have a translation, not `{media_type}`"),
        ));
    }
    Ok(Part::Image {
        image: Image::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        },
    })
}

fn parse_function_call(part: &Obj, ids: &mut CallIds) -> Result<Part, TranslateError> {
    let Some(call) = part.object("functionCall")? else {
        return Err(part.missing("functionCall"));
    };
    call.reject_unknown(&["id", "name", "args"])?;
    let name = call.required_string("name")?;
    let arguments = arguments_of(&call)?;
    Ok(Part::ToolCall {
        id: ids.call(call.string("id")?, name),
        name: name.to_string(),
        arguments,
    })
}

/// A call's `args`: a JSON object, `{}` when absent.
fn arguments_of(call: &Obj) -> Result<Value, TranslateError> {
    match call.get("args") {
        None => Ok(Value::Object(Map::new())),
        Some(args @ Value::Object(_)) => Ok(args.clone()),
        Some(_) => Err(invalid(call.field("args"), JSON.wording.object)),
    }
}

fn parse_function_response(part: &Obj, ids: &mut CallIds) -> Result<Part, TranslateError> {
    let Some(result) = part.object("functionResponse")? else {
        return Err(part.missing("functionResponse"));
    };
    result.reject_unknown(&["id", "name", "response"])?;
    let name = result.required_string("name")?;
    let Some(response) = result.get("response").filter(|value| value.is_object()) else {
        return Err(invalid(result.field("response"), JSON.wording.object));
    };
    let call_id = ids.result(result.string("id")?, name).ok_or_else(|| {
        invalid(
            result.field("name"),
            format!("answers no earlier unanswered functionCall named `{name}`"),
        )
    })?;
    let (text, is_error) = tool_output(response);
    Ok(Part::ToolResult {
        call_id,
        content: text_content(text),
        is_error,
    })
}

/// A function response object read as the tool's text output: `{"output": text}` and
/// `{"error": text}` (how results are written to Gemini) give the text, anything else its
/// compact JSON.
fn tool_output(response: &Value) -> (String, bool) {
    if let Some(map) = response.as_object().filter(|map| map.len() == 1) {
        for (key, is_error) in [("output", false), ("error", true)] {
            if let Some(Value::String(text)) = map.get(key) {
                return (text.clone(), is_error);
            }
        }
    }
    (response.to_string(), false)
}

fn text_content(text: String) -> Vec<Part> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text { text }]
    }
}

fn parse_tools(body: &Obj) -> Result<Vec<ToolDef>, TranslateError> {
    let mut defs = Vec::new();
    let Some(tools) = body.array("tools")? else {
        return Ok(defs);
    };
    for tool in each_object(tools, "tools") {
        let tool = tool?;
        if let Some(key) = tool
            .map
            .keys()
            .find(|key| camel_case(key) != "functionDeclarations")
        {
            return Err(JSON.untranslatable(
                tool.field(key),
                "only function declarations translate; Gemini's built-in tools run inside Google",
            ));
        }
        let declarations = tool.array("functionDeclarations")?.unwrap_or_default();
        for declaration in each_object(declarations, &tool.field("functionDeclarations")) {
            let declaration = declaration?;
            defs.push(parse_declaration(&declaration)?);
        }
    }
    Ok(defs)
}

fn parse_declaration(declaration: &Obj) -> Result<ToolDef, TranslateError> {
    declaration.reject_unknown(&[
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
    ])?;
    let parameters = match (
        declaration.get("parameters"),
        declaration.get("parametersJsonSchema"),
    ) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                declaration.field("parametersJsonSchema"),
                "cannot be sent with `parameters`",
            ));
        }
        (Some(openapi), None) => json_schema_of_openapi(openapi),
        (None, Some(schema)) => schema.clone(),
        (None, None) => json!({"type": "object", "properties": {}}),
    };
    Ok(ToolDef {
        name: declaration.required_string("name")?.to_string(),
        description: declaration.string("description")?.map(str::to_string),
        parameters,
    })
}

/// A Gemini `Schema` (an OpenAPI 3.0 subset, whose `type` is an enum written `"OBJECT"`,
/// `"STRING"`...) as JSON Schema, which spells types in lower case. Other keywords are kept.
fn json_schema_of_openapi(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let converted = map.iter().map(|(key, value)| {
        let value = match (key.as_str(), value) {
            ("type", Value::String(name)) => Value::String(name.to_ascii_lowercase()),
            ("properties", Value::Object(properties)) => Value::Object(
                properties
                    .iter()
                    .map(|(name, property)| (name.clone(), json_schema_of_openapi(property)))
                    .collect(),
            ),
            ("items", items) => json_schema_of_openapi(items),
            ("anyOf", Value::Array(options)) => {
                Value::Array(options.iter().map(json_schema_of_openapi).collect())
            }
            _ => value.clone(),
        };
        (key.clone(), value)
    });
    Value::Object(converted.collect())
}

fn parse_tool_config(body: &Obj) -> Result<Option<ToolChoice>, TranslateError> {
    let Some(config) = body.object("toolConfig")? else {
        return Ok(None);
    };
    if let Some(key) = config
        .map
        .keys()
        .find(|key| camel_case(key) != "functionCallingConfig")
    {
        return Err(JSON.untranslatable(
            config.field(key),
            "configures Gemini's built-in tools, which run inside Google",
        ));
    }
    let Some(calling) = config.object("functionCallingConfig")? else {
        return Ok(None);
    };
    calling.reject_unknown(&["mode", "allowedFunctionNames"])?;
    let names = calling.array("allowedFunctionNames")?.unwrap_or_default();
    let names_field = calling.field("allowedFunctionNames");
    let mode = calling
        .string("mode")?
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    if !names.is_empty() && mode != "ANY" {
        return Err(JSON.untranslatable(
            names_field,
            "limiting the callable functions without requiring a call has no translation",
        ));
    }
    match mode.as_str() {
        "" | "MODE_UNSPECIFIED" => Ok(None),
        "AUTO" => Ok(Some(ToolChoice::Auto)),
        "NONE" => Ok(Some(ToolChoice::None)),
        "ANY" => match names {
            [] => Ok(Some(ToolChoice::Required)),
            [Value::String(name)] => Ok(Some(ToolChoice::Tool { name: name.clone() })),
            [_] => Err(invalid(format!("{names_field}[0]"), "must be a string")),
            _ => Err(JSON.untranslatable(
                names_field,
                "requiring a call to one of several named functions has no translation",
            )),
        },
        "VALIDATED" => Err(JSON.untranslatable(
            calling.field("mode"),
            "schema-validated function calling exists only in Gemini",
        )),
        _ => Err(invalid(
            calling.field("mode"),
            "must be AUTO, ANY, NONE or VALIDATED",
        )),
    }
}

/// Safety settings that only loosen Google's filter are accepted (other providers have no
/// such filter to loosen); a stricter one asks for filtering they cannot promise.
fn check_safety_settings(body: &Obj) -> Result<(), TranslateError> {
    let Some(settings) = body.array("safetySettings")? else {
        return Ok(());
    };
    for setting in each_object(settings, "safetySettings") {
        let setting = setting?;
        setting.reject_unknown(&["category", "threshold"])?;
        setting.required_string("category")?;
        let threshold = setting.required_string("threshold")?;
        if !matches!(
            threshold,
            "BLOCK_NONE" | "OFF" | "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
        ) {
            return Err(JSON.untranslatable(
                setting.field("threshold"),
                format!(
                    "`{threshold}` asks for Google's content filter, which other providers do not have"
                ),
            ));
        }
    }
    Ok(())
}

const GENERATION_FIELDS: &[&str] = &[
    "candidateCount",
    "stopSequences",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "_responseJsonSchema",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "responseModalities",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];

fn read_generation_config(config: &Obj, request: &mut ChatRequest) -> Result<(), TranslateError> {
    config.reject_unknown(GENERATION_FIELDS)?;
    refuse_generation_options(config)?;
    request.stop = match config.array("stopSequences")? {
        None => Vec::new(),
        Some(sequences) => sequences
            .iter()
            .enumerate()
            .map(|(i, sequence)| {
                sequence.as_str().map(str::to_string).ok_or_else(|| {
                    invalid(
                        format!("{}[{i}]", config.field("stopSequences")),
                        "must be a string",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    request.max_tokens = config.count("maxOutputTokens")?;
    request.temperature = config.number("temperature")?;
    request.top_p = config.number("topP")?;
    request.top_k = config.count("topK")?;
    request.seed = config.integer("seed")?;
    request.presence_penalty = config.number("presencePenalty")?;
    request.frequency_penalty = config.number("frequencyPenalty")?;
    request.response_format = parse_response_format(config)?;
    Ok(())
}

/// The generation options that change the answer and exist only in Gemini.
fn refuse_generation_options(config: &Obj) -> Result<(), TranslateError> {
    if let Some(count) = config
        .integer("candidateCount")?
        .filter(|count| *count != 1)
    {
        return Err(JSON.untranslatable(
            config.field("candidateCount"),
            format!("{count} candidates: translated answers have one"),
        ));
    }
    if config.boolean("responseLogprobs")? == Some(true) || config.has("logprobs") {
        let field = if config.has("logprobs") {
            "logprobs"
        } else {
            "responseLogprobs"
        };
        return Err(JSON.untranslatable(
            config.field(field),
            "token log-probabilities have no translation",
        ));
    }
    if config.boolean("enableEnhancedCivicAnswers")? == Some(true) {
        return Err(JSON.untranslatable(
            config.field("enableEnhancedCivicAnswers"),
            "exists only in Gemini",
        ));
    }
    if let Some(modalities) = config.array("responseModalities")?
        && modalities.iter().any(|modality| modality != "TEXT")
    {
        return Err(JSON.untranslatable(
            config.field("responseModalities"),
            "only text answers translate",
        ));
    }
    for (field, why) in [
        ("speechConfig", "only text answers translate"),
        ("imageConfig", "only text answers translate"),
        (
            "mediaResolution",
            "how Gemini tokenizes media has no translation",
        ),
    ] {
        if config.has(field) {
            return Err(JSON.untranslatable(config.field(field), why));
        }
    }
    check_thinking_config(config)
}

/// Only the defaults translate: thinking budgets and levels are Gemini's own dials.
fn check_thinking_config(config: &Obj) -> Result<(), TranslateError> {
    let Some(thinking) = config.object("thinkingConfig")? else {
        return Ok(());
    };
    thinking.reject_unknown(&["includeThoughts", "thinkingBudget", "thinkingLevel"])?;
    thinking.boolean("includeThoughts")?;
    if thinking.has("thinkingLevel") {
        return Err(JSON.untranslatable(
            thinking.field("thinkingLevel"),
            "Gemini's reasoning level has no translation",
        ));
    }
    match thinking.integer("thinkingBudget")? {
        None | Some(-1) => Ok(()),
        Some(_) => Err(JSON.untranslatable(
            thinking.field("thinkingBudget"),
            "Gemini's reasoning budget has no translation",
        )),
    }
}

fn parse_response_format(config: &Obj) -> Result<Option<ResponseFormat>, TranslateError> {
    let openapi = config.get("responseSchema");
    let json_schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("_responseJsonSchema"));
    let schema = match (openapi, json_schema) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                config.field("responseJsonSchema"),
                "cannot be sent with `responseSchema`",
            ));
        }
        (Some(openapi), None) => Some(json_schema_of_openapi(openapi)),
        (None, schema) => schema.cloned(),
    };
    let mime_field = config.field("responseMimeType");
    match (config.string("responseMimeType")?, schema) {
        (None, None) => Ok(None),
        (Some("application/json"), None) => Ok(Some(ResponseFormat::JsonObject)),
        (Some("application/json"), Some(schema)) => Ok(Some(ResponseFormat::JsonSchema {
            name: None,
            schema,
            strict: None,
        })),
        (Some("text/plain"), None) => Ok(Some(ResponseFormat::Text)),
        (None | Some("text/plain"), Some(_)) => Err(invalid(
            mime_field,
            "a response schema needs \"application/json\"",
        )),
        (Some(other), _) => Err(JSON.untranslatable(
            mime_field,
            format!("only text and JSON answers translate, not `{other}`"),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Requests: neutral → Gemini
// ---------------------------------------------------------------------------------------

/// Writes the body for `POST /v1beta/models/{model}:generateContent` (or
/// `:streamGenerateContent?alt=sse`); the model and the streaming choice go in the URL.
pub fn render_request(
    request: &ChatRequest,
    _upstream_model: &str,
    _options: &RenderOptions,
) -> Result<Value, TranslateError> {
    if request.parallel_tool_calls == Some(false) {
        return Err(JSON.unsupported(
            "parallel_tool_calls",
            "Gemini cannot be told to call one function at a time",
        ));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(render_contents(request)?));
    if !request.tools.is_empty() {
        body.insert("tools".into(), render_tools(&request.tools));
    }
    insert_some(
        &mut body,
        "toolConfig",
        request.tool_choice.as_ref().map(render_tool_choice),
    );
    if !request.system.is_empty() {
        let parts: Vec<Value> = request
            .system
            .iter()
            .map(|text| json!({"text": text}))
            .collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    let config = render_generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

/// The conversation as `contents`, adjacent messages of one role merged into one turn: Gemini
/// reads a model turn's parallel calls, and the user turn of their responses, each as one
/// content.
fn render_contents(request: &ChatRequest) -> Result<Vec<Value>, TranslateError> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.iter().enumerate() {
        let mut parts = Vec::with_capacity(message.content.len());
        for (j, part) in message.content.iter().enumerate() {
            let path = format!("messages[{i}].content[{j}]");
            parts.push(render_part(request, message.role, part, &path)?);
        }
        push_turn(&mut turns, message.role, parts);
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut parts)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => {
                    sign_first_call(&mut parts);
                    "model"
                }
            };
            json!({"role": role, "parts": parts})
        })
        .collect())
}

fn sign_first_call(parts: &mut [Value]) {
    if let Some(Value::Object(part)) = parts
        .iter_mut()
        .find(|part| part.get("functionCall").is_some())
    {
        part.insert(
            "thoughtSignature".into(),
            Value::String(FOREIGN_THOUGHT_SIGNATURE.into()),
        );
    }
}

fn render_part(
    request: &ChatRequest,
    role: Role,
    part: &Part,
    path: &str,
) -> Result<Value, TranslateError> {
    match (part, role) {
        (Part::Text { text }, _) => Ok(json!({"text": text})),
        (Part::Image { image }, _) => render_image(image, path),
        (
            Part::ToolCall {
                id,
                name,
                arguments,
            },
            Role::Assistant,
        ) => {
            if !arguments.is_object() {
                return Err(invalid(
                    format!("{path}.arguments"),
                    "must be a JSON object",
                ));
            }
            Ok(json!({"functionCall": {"id": id, "name": name, "args": arguments}}))
        }
        (Part::ToolCall { .. }, Role::User) => {
            Err(invalid(path, "a tool call belongs to an assistant message"))
        }
        (
            Part::ToolResult {
                call_id,
                content,
                is_error,
            },
            Role::User,
        ) => render_tool_result(request, call_id, content, *is_error, path),
        (Part::ToolResult { .. }, Role::Assistant) => {
            Err(invalid(path, "a tool result belongs to a user message"))
        }
    }
}

fn render_image(image: &Image, path: &str) -> Result<Value, TranslateError> {
    match image {
        Image::Base64 { media_type, data } => {
            Ok(json!({"inlineData": {"mimeType": media_type, "data": data}}))
        }
        Image::Url { .. } => Err(JSON.unsupported(
            path,
            "Gemini takes images as inline data or uploaded-file URIs, not web URLs",
        )),
    }
}

fn render_tool_result(
    request: &ChatRequest,
    call_id: &str,
    content: &[Part],
    is_error: bool,
    path: &str,
) -> Result<Value, TranslateError> {
    let name = request.tool_name_of(call_id).ok_or_else(|| {
        invalid(
            format!("{path}.call_id"),
            format!("no earlier tool call has the id `{call_id}`, and Gemini needs its name"),
        )
    })?;
    let mut texts = Vec::with_capacity(content.len());
    for (k, part) in content.iter().enumerate() {
        match part {
            Part::Text { text } => texts.push(text.as_str()),
            Part::Image { .. } => {
                return Err(JSON.unsupported(
                    format!("{path}.content[{k}]"),
                    "Gemini function responses carry no images",
                ));
            }
            Part::ToolCall { .. } | Part::ToolResult { .. } => {
                return Err(invalid(
                    format!("{path}.content[{k}]"),
                    "a tool result holds text and images only",
                ));
            }
        }
    }
    let text = texts.join("\n");
    let response = if is_error {
        json!({"error": text})
    } else {
        json!({"output": text})
    };
    Ok(json!({"functionResponse": {"id": call_id, "name": name, "response": response}}))
}

fn render_tools(tools: &[ToolDef]) -> Value {
    let declarations: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let mut declaration = Map::new();
            declaration.insert("name".into(), Value::String(tool.name.clone()));
            insert_some(&mut declaration, "description", tool.description.as_deref());
            declaration.insert("parametersJsonSchema".into(), tool.parameters.clone());
            Value::Object(declaration)
        })
        .collect();
    json!([{"functionDeclarations": declarations}])
}

fn render_tool_choice(choice: &ToolChoice) -> Value {
    let config = match choice {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Tool { name } => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    };
    json!({"functionCallingConfig": config})
}

/// Gemini's integer options are 32-bit.
fn int32<T: TryInto<i32> + Copy>(value: T, field: &str) -> Result<Value, TranslateError> {
    value
        .try_into()
        .map(Value::from)
        .map_err(|_| JSON.unsupported(field, "Gemini takes a 32-bit integer here"))
}

fn render_generation_config(request: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    if let Some(max) = request.max_tokens {
        config.insert("maxOutputTokens".into(), int32(max, "max_tokens")?);
    }
    insert_some(&mut config, "temperature", request.temperature);
    insert_some(&mut config, "topP", request.top_p);
    if let Some(top_k) = request.top_k {
        config.insert("topK".into(), int32(top_k, "top_k")?);
    }
    if let Some(seed) = request.seed {
        config.insert("seed".into(), int32(seed, "seed")?);
    }
    insert_some(&mut config, "presencePenalty", request.presence_penalty);
    insert_some(&mut config, "frequencyPenalty", request.frequency_penalty);
    match &request.response_format {
        None => {}
        Some(ResponseFormat::Text) => {
            config.insert("responseMimeType".into(), json!("text/plain"));
        }
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    Ok(config)
}

// ---------------------------------------------------------------------------------------
// Answers: one GenerateContentResponse (a whole answer or one streamed chunk)
// ---------------------------------------------------------------------------------------

/// What one `GenerateContentResponse` says, before tool calls get their ids.
struct Chunk {
    id: Option<String>,
    model: Option<String>,
    parts: Vec<ChunkPart>,
    /// The candidate's `finishReason`, or the prompt's `blockReason` as a filter stop.
    stop: Option<Stop>,
    usage: Option<Usage>,
}

enum ChunkPart {
    Text(String),
    Call {
        id: Option<String>,
        name: String,
        args: Value,
    },
}

enum Stop {
    Finished(String),
    PromptBlocked,
}

/// Reads the first candidate of a response, its usage and, when there is no candidate, whether
/// the prompt was blocked.
fn read_chunk(body: &Value) -> Result<Chunk, TranslateError> {
    let body = Obj::of(body, String::new())?;
    let mut chunk = Chunk {
        id: body.string("responseId")?.map(str::to_string),
        model: body.string("modelVersion")?.map(str::to_string),
        parts: Vec::new(),
        stop: None,
        usage: body
            .object("usageMetadata")?
            .map(|u| read_usage(&u))
            .transpose()?,
    };
    let candidates = body.array("candidates")?.unwrap_or_default();
    if let Some(candidate) = candidates.first() {
        let candidate = Obj::of(candidate, "candidates[0]".into())?;
        if let Some(content) = candidate.object("content")? {
            let parts = content.array("parts")?.unwrap_or_default();
            for part in each_object(parts, &content.field("parts")) {
                let part = part?;
                if let Some(part) = read_answer_part(&part)? {
                    chunk.parts.push(part);
                }
            }
        }
        chunk.stop = candidate
            .string("finishReason")?
            .filter(|reason| *reason != "FINISH_REASON_UNSPECIFIED")
            .map(|reason| Stop::Finished(reason.to_string()));
    } else if let Some(feedback) = body.object("promptFeedback")?
        && feedback.string("blockReason")?.is_some()
    {
        chunk.stop = Some(Stop::PromptBlocked);
    }
    Ok(chunk)
}

/// One part of the model's answer; `None` for thoughts and empty text, which say nothing.
fn read_answer_part(part: &Obj) -> Result<Option<ChunkPart>, TranslateError> {
    if part.boolean("thought")? == Some(true) {
        return Ok(None);
    }
    if let Some(text) = part.string("text")? {
        return Ok((!text.is_empty()).then(|| ChunkPart::Text(text.to_string())));
    }
    if let Some(call) = part.object("functionCall")? {
        return Ok(Some(ChunkPart::Call {
            id: call.string("id")?.map(str::to_string),
            name: call.required_string("name")?.to_string(),
            args: arguments_of(&call)?,
        }));
    }
    // Metadata of the part (its thought signature) is not content.
    match part.map.keys().find(|key| {
        !matches!(
            camel_case(key).as_str(),
            "thoughtSignature" | "partMetadata"
        )
    }) {
        Some(key) => Err(JSON.untranslatable(
            part.field(key),
            "only text and function calls in an answer translate",
        )),
        None => Ok(None),
    }
}

fn read_usage(usage: &Obj) -> Result<Usage, TranslateError> {
    let candidates = usage.count("candidatesTokenCount")?;
    let thoughts = usage.count("thoughtsTokenCount")?;
    let output = match (candidates, thoughts) {
        (None, None) => None,
        (candidates, thoughts) => Some(
            candidates
                .unwrap_or(0)
                .saturating_add(thoughts.unwrap_or(0)),
        ),
    };
    Ok(Usage {
        input_tokens: usage.count("promptTokenCount")?,
        output_tokens: output,
    })
}

fn stop_reason(stop: &Stop, called_tools: bool) -> StopReason {
    match stop {
        Stop::PromptBlocked => StopReason::ContentFilter,
        Stop::Finished(reason) => match reason.as_str() {
            "STOP" if called_tools => StopReason::ToolUse,
            "STOP" => StopReason::EndTurn,
            "MAX_TOKENS" => StopReason::MaxTokens,
            filter if FILTER_REASONS.contains(&filter) => StopReason::ContentFilter,
            other => StopReason::Other(other.to_string()),
        },
    }
}

fn finish_reason(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence(_) | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        StopReason::Other(name) if FINISH_REASONS.contains(&name.as_str()) => name,
        StopReason::Other(_) => "OTHER",
    }
}

/// The id of a call the answer gave none: `call_<responseId or "gemini">_<n>`.
fn invented_call_id(response_id: Option<&str>, n: usize) -> String {
    format!("call_{}_{n}", response_id.unwrap_or("gemini"))
}

fn render_usage(usage: &Usage) -> Option<Value> {
    let total = total_tokens(*usage)?;
    let mut metadata = Map::new();
    insert_some(&mut metadata, "promptTokenCount", usage.input_tokens);
    insert_some(&mut metadata, "candidatesTokenCount", usage.output_tokens);
    metadata.insert("totalTokenCount".into(), json!(total));
    Some(Value::Object(metadata))
}

/// One `GenerateContentResponse` around a single candidate.
fn response_body(
    candidate: Option<Value>,
    usage: Option<Value>,
    model: &str,
    id: Option<&str>,
) -> Value {
    let mut body = Map::new();
    insert_some(
        &mut body,
        "candidates",
        candidate.map(|candidate| json!([candidate])),
    );
    insert_some(&mut body, "usageMetadata", usage);
    body.insert("modelVersion".into(), json!(model));
    if let Some(id) = id {
        body.insert("responseId".into(), json!(id));
    }
    Value::Object(body)
}

fn candidate(parts: Vec<Value>, finish: Option<&str>) -> Value {
    let mut candidate = Map::new();
    candidate.insert("content".into(), json!({"parts": parts, "role": "model"}));
    if let Some(finish) = finish {
        candidate.insert("finishReason".into(), json!(finish));
    }
    candidate.insert("index".into(), json!(0));
    Value::Object(candidate)
}

// ---------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------

/// Reads a `generateContent` answer (its first candidate: translated requests ask for one).
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    if let Some(error) = body.get("error") {
        return Err(invalid("error", error_message(error)));
    }
    let chunk = read_chunk(body)?;
    let mut calls = 0;
    let content: Vec<Part> = chunk
        .parts
        .into_iter()
        .map(|part| match part {
            ChunkPart::Text(text) => Part::Text { text },
            ChunkPart::Call { id, name, args } => {
                let id = id.unwrap_or_else(|| invented_call_id(chunk.id.as_deref(), calls));
                calls += 1;
                Part::ToolCall {
                    id,
                    name,
                    arguments: args,
                }
            }
        })
        .collect();
    Ok(ChatResponse {
        id: chunk.id,
        model: chunk.model.unwrap_or_default(),
        content,
        stop_reason: chunk.stop.map(|stop| stop_reason(&stop, calls > 0)),
        usage: chunk.usage.unwrap_or_default(),
    })
}

/// Writes a `generateContent` answer.
pub fn render_response(response: &ChatResponse) -> Value {
    let parts: Vec<Value> = response.content.iter().filter_map(answer_part).collect();
    let finish = response.stop_reason.as_ref().map(finish_reason);
    response_body(
        Some(candidate(parts, finish)),
        render_usage(&response.usage),
        &response.model,
        response.id.as_deref(),
    )
}

/// A part of the model's answer. Answers hold no tool results (those are the user side's).
fn answer_part(part: &Part) -> Option<Value> {
    match part {
        Part::Text { text } => Some(json!({"text": text})),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => Some(json!({"functionCall": {"id": id, "name": name, "args": arguments}})),
        Part::Image {
            image: Image::Base64 { media_type, data },
        } => Some(json!({"inlineData": {"mimeType": media_type, "data": data}})),
        // An answer cannot fail, and a URL is what Gemini's URI-data part holds.
        Part::Image {
            image: Image::Url { url },
        } => Some(json!({"fileData": {"fileUri": url}})),
        Part::ToolResult { .. } => None,
    }
}

// ---------------------------------------------------------------------------------------
// Streams: Gemini SSE → neutral events
// ---------------------------------------------------------------------------------------

/// Reads `streamGenerateContent?alt=sse`: every event is a whole `GenerateContentResponse`
/// holding the next piece of the answer. Function calls arrive whole, so each becomes a
/// `ToolCallStart` and one `ToolCallArguments`.
#[derive(Default)]
pub struct Decoder {
    started: bool,
    response_id: Option<String>,
    calls: usize,
    usage: Usage,
    stopped: bool,
    ended: bool,
}

impl StreamDecoder for Decoder {
    fn decode(&mut self, frame: &SseFrame, out: &mut Vec<StreamEvent>) {
        let data = frame.data.trim();
        if data.is_empty() {
            return;
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(e) => {
                return out.push(StreamEvent::Error {
                    message: format!("unreadable Gemini stream event (not JSON: {e})"),
                });
            }
        };
        if let Some(error) = value.get("error") {
            return out.push(StreamEvent::Error {
                message: error_message(error),
            });
        }
        match read_chunk(&value) {
            Ok(chunk) => self.emit(chunk, out),
            Err(e) => out.push(StreamEvent::Error {
                message: format!("unreadable Gemini stream event: {e}"),
            }),
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.stopped && !self.ended {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}

impl Decoder {
    fn emit(&mut self, chunk: Chunk, out: &mut Vec<StreamEvent>) {
        let mut changed_usage = None;
        if !self.started {
            self.started = true;
            self.response_id = chunk.id.clone();
            self.usage = chunk.usage.unwrap_or_default();
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model.unwrap_or_default(),
                usage: self.usage,
            });
        } else if let Some(usage) = chunk.usage.filter(|usage| *usage != self.usage) {
            self.usage = usage;
            changed_usage = Some(usage);
        }
        for part in chunk.parts {
            match part {
                ChunkPart::Text(text) => out.push(StreamEvent::TextDelta { text }),
                ChunkPart::Call { id, name, args } => {
                    let id = id.unwrap_or_else(|| {
                        invented_call_id(self.response_id.as_deref(), self.calls)
                    });
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart { id, name });
                    out.push(StreamEvent::ToolCallArguments {
                        json: args.to_string(),
                    });
                }
            }
        }
        // Only the first finish reason counts; the stream ends after it.
        if let Some(stop) = chunk.stop.filter(|_| !self.stopped) {
            self.stopped = true;
            out.push(StreamEvent::Stop {
                reason: stop_reason(&stop, self.calls > 0),
            });
        }
        if let Some(usage) = changed_usage {
            out.push(StreamEvent::Usage { usage });
        }
    }
}

/// The message of a Google error object (`{"code", "message", "status"}`).
fn error_message(error: &Value) -> String {
    match error.get("message").and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None => format!("Gemini reported an error: {error}"),
    }
}

// ---------------------------------------------------------------------------------------
// Streams: neutral events → Gemini SSE
// ---------------------------------------------------------------------------------------

/// Writes a stream as `streamGenerateContent?alt=sse` does: `data: <GenerateContentResponse>`
/// events ending in CRLF CRLF, each stamped with the answer's `responseId` and the model.
/// A tool call is written once whole (its arguments buffered until the next block starts);
/// the finish reason is held back so that the usage that follows it rides in the same, last
/// chunk, as Gemini writes it.
pub struct Encoder {
    options: EncoderOptions,
    id: Option<String>,
    /// Start's counts, written on the first chunk.
    start_usage: Option<Usage>,
    /// All counts so far.
    usage: Usage,
    call: Option<PendingCall>,
    stop: Option<StopReason>,
}

struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

impl Encoder {
    pub fn new(options: EncoderOptions) -> Encoder {
        Encoder {
            options,
            id: None,
            start_usage: None,
            usage: Usage::default(),
            call: None,
            stop: None,
        }
    }

    fn write(&mut self, candidate: Option<Value>, usage: Option<Usage>, out: &mut Vec<u8>) {
        let usage = match self.start_usage.take() {
            Some(start) => Some(usage.unwrap_or(start)),
            None => usage,
        };
        let id = self.id.as_deref().unwrap_or(&self.options.fallback_id);
        let body = response_body(
            candidate,
            usage.as_ref().and_then(render_usage),
            &self.options.model,
            Some(id),
        );
        write_event(&body, out);
    }

    fn write_text(&mut self, text: &str, out: &mut Vec<u8>) {
        let chunk = candidate(vec![json!({"text": text})], None);
        self.write(Some(chunk), None, out);
    }

    fn flush_call(&mut self, out: &mut Vec<u8>) {
        let Some(call) = self.call.take() else {
            return;
        };
        let arguments = if call.arguments.trim().is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            serde_json::from_str::<Value>(&call.arguments)
        };
        match arguments {
            Ok(args @ Value::Object(_)) => {
                let part =
                    json!({"functionCall": {"id": call.id, "name": call.name, "args": args}});
                self.write(Some(candidate(vec![part], None)), None, out);
            }
            _ => write_error(
                &format!(
                    "the arguments of the call to `{}` are not a JSON object",
                    call.name
                ),
                out,
            ),
        }
    }

    /// The last chunk: the finish reason with every count so far.
    fn flush_stop(&mut self, out: &mut Vec<u8>) {
        let Some(reason) = self.stop.take() else {
            return;
        };
        let chunk = candidate(vec![json!({"text": ""})], Some(finish_reason(&reason)));
        let usage = self.usage;
        self.write(Some(chunk), Some(usage), out);
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, usage, .. } => {
                self.id = id.clone();
                self.usage = *usage;
                self.start_usage = Some(*usage);
            }
            StreamEvent::TextDelta { text } => {
                self.flush_call(out);
                self.write_text(text, out);
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.flush_call(out);
                self.call = Some(PendingCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallArguments { json } => {
                if let Some(call) = &mut self.call {
                    call.arguments.push_str(json);
                }
            }
            StreamEvent::Usage { usage } => {
                self.usage = self.usage.updated(*usage);
                // Before the finish, counts go out at once so they keep their place.
                if self.stop.is_none() {
                    let usage = self.usage;
                    self.write(None, Some(usage), out);
                }
            }
            StreamEvent::Stop { reason } => {
                self.flush_call(out);
                self.stop = Some(reason.clone());
            }
            StreamEvent::Error { message } => {
                self.flush_call(out);
                self.flush_stop(out);
                write_error(message, out);
            }
            StreamEvent::End => {
                self.flush_call(out);
                self.flush_stop(out);
            }
        }
    }
}

/// One SSE event as Google writes them: data only, lines ended by CRLF.
fn write_event(body: &Value, out: &mut Vec<u8>) {
    write_sse_event(out, None, body, "\r\n");
}

/// An error as Google writes one inside a stream.
fn write_error(message: &str, out: &mut Vec<u8>) {
    let body = json!({"error": {"code": 500, "message": message, "status": "INTERNAL"}});
    write_event(&body, out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON, with keys drawn from Gemini's own names so that deep paths get reached.
    fn gemini_like_json() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "contents",
            "parts",
            "role",
            "text",
            "thought",
            "functionCall",
            "functionResponse",
            "name",
            "args",
            "response",
            "id",
            "inlineData",
            "mimeType",
            "data",
            "systemInstruction",
            "tools",
            "functionDeclarations",
            "parameters",
            "toolConfig",
            "functionCallingConfig",
            "mode",
            "generationConfig",
            "responseMimeType",
            "responseSchema",
            "type",
            "candidates",
            "content",
            "finishReason",
            "usageMetadata",
            "promptTokenCount",
            "promptFeedback",
            "blockReason",
            "output",
            "error",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec!["user", "model", "STOP", "ANY", "image/png", "x", ""])
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

    /// Conversations Gemini could be sent: user and model turns of any length holding the
    /// parts each side may hold, with call ids or without.
    fn gemini_conversation() -> impl Strategy<Value = Value> {
        let name = prop::sample::select(vec!["get_weather", "get_time"]);
        let id = prop::option::of(prop::sample::select(vec!["c1", "c2", "c3"]));
        let text = "[a-z ]{0,6}";
        let image = Just(json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}));
        let call = (id.clone(), name.clone(), any::<i32>()).prop_map(|(id, name, n)| {
            let mut call = json!({"name": name, "args": {"n": n}});
            if let Some(id) = id {
                call["id"] = json!(id);
            }
            json!({"functionCall": call})
        });
        let result = (id, name, text, 0..3).prop_map(|(id, name, text, kind)| {
            let response = match kind {
                0 => json!({"output": text}),
                1 => json!({"error": text}),
                _ => json!({"value": text, "ok": true}),
            };
            let mut result = json!({"name": name, "response": response});
            if let Some(id) = id {
                result["id"] = json!(id);
            }
            json!({"functionResponse": result})
        });
        let user_part = prop_oneof![
            text.prop_map(|text| json!({"text": text})),
            image.clone(),
            result
        ];
        let model_part = prop_oneof![
            text.prop_map(|text| json!({"text": text})),
            text.prop_map(|text| json!({"text": text, "thought": true})),
            image,
            call
        ];
        let user = (
            prop::sample::select(vec!["user", "function"]),
            prop::collection::vec(user_part, 1..4),
        )
            .prop_map(|(role, parts)| json!({"role": role, "parts": parts}));
        let model = prop::collection::vec(model_part, 1..4)
            .prop_map(|parts| json!({"role": "model", "parts": parts}));
        prop::collection::vec(prop_oneof![user, model], 0..7)
            .prop_map(|contents| json!({"contents": contents}))
    }

    proptest! {
        /// Whatever conversation is read, writing it and reading it back gives it again (up
        /// to how adjacent turns of one role are split, which writing merges).
        #[test]
        fn conversations_read_back_as_they_were_written(body in gemini_conversation()) {
            if let Ok(request) = parse_request(&body) {
                let rendered = render_request(&request, "m", &RenderOptions::default());
                prop_assert!(rendered.is_ok(), "{rendered:?}");
                let again = parse_request(&rendered.unwrap()).map(ChatRequest::with_merged_turns);
                prop_assert_eq!(again, Ok(request.with_merged_turns()));
            }
        }

        /// No body panics the translator, and what it reads and writes reads back the same.
        #[test]
        fn any_body_is_translated_or_refused_never_panicked_on(body in gemini_like_json()) {
            let _ = parse_response(&body);
            let mut events = Vec::new();
            let mut decoder = Decoder::default();
            decoder.decode(&SseFrame { event: None, data: body.to_string() }, &mut events);
            decoder.finish(&mut events);
            if let Ok(request) = parse_request(&body)
                && let Ok(rendered) = render_request(&request, "m", &RenderOptions::default())
            {
                prop_assert_eq!(parse_request(&rendered), Ok(request));
            }
        }
    }

    fn parse(body: Value) -> ChatRequest {
        parse_request(&body).unwrap()
    }

    fn parse_error(body: Value) -> TranslateError {
        parse_request(&body).unwrap_err()
    }

    fn user_text(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    fn assert_untranslatable(error: TranslateError, field: &str) {
        assert!(
            matches!(error, TranslateError::Untranslatable { .. }),
            "{error:?}"
        );
        assert_eq!(error.field(), field, "{error}");
    }

    fn assert_unsupported(error: TranslateError, field: &str) {
        assert!(
            matches!(error, TranslateError::Unsupported { .. }),
            "{error:?}"
        );
        assert_eq!(error.field(), field, "{error}");
    }

    fn assert_invalid(error: TranslateError, field: &str) {
        assert!(matches!(error, TranslateError::Invalid { .. }), "{error:?}");
        assert_eq!(error.field(), field, "{error}");
    }

    fn decode_all(chunks: &[Value]) -> Vec<StreamEvent> {
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        for chunk in chunks {
            let frame = SseFrame {
                event: None,
                data: chunk.to_string(),
            };
            decoder.decode(&frame, &mut events);
        }
        decoder.finish(&mut events);
        events
    }

    fn encode_all(events: &[StreamEvent]) -> String {
        let mut encoder = Encoder::new(EncoderOptions {
            model: "client-model".into(),
            fallback_id: "gen-fallback".into(),
            own_id: None,
            created: 0,
            include_usage: false,
        });
        let mut out = Vec::new();
        for event in events {
            encoder.encode(event, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    fn chunks_of(sse: &str) -> Vec<Value> {
        sse.split("\r\n\r\n")
            .filter(|event| !event.is_empty())
            .map(|event| serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn snake_case_field_names_read_like_camel_case_ones() {
        let request = parse(json!({
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [
                {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}}
            ]}],
            "generation_config": {"max_output_tokens": 100, "stop_sequences": ["END"]}
        }));
        assert_eq!(request.system, ["Be brief."]);
        assert_eq!(request.max_tokens, Some(100));
        assert_eq!(request.stop, ["END"]);
        assert!(matches!(
            &request.messages[0].content[0],
            Part::Image { image: Image::Base64 { media_type, .. } } if media_type == "image/png"
        ));
    }

    #[test]
    fn calls_without_ids_get_deterministic_ids_unique_across_the_conversation() {
        let body = json!({"contents": [
            user_text("Weather in Oslo and Paris?"),
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            ]},
            {"role": "function", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "5°C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "12°C"}}}
            ]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_time", "args": {}}}
            ]}
        ]});
        let request = parse(body.clone());
        let ids: Vec<&str> = request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .map(|part| match part {
                Part::ToolCall { id, .. } => id.as_str(),
                Part::ToolResult { call_id, .. } => call_id.as_str(),
                Part::Text { text } => text.as_str(),
                Part::Image { .. } => "",
            })
            .collect();
        assert_eq!(
            ids,
            [
                "Weather in Oslo and Paris?",
                "call_gemini_0",
                "call_gemini_1",
                "call_gemini_0",
                "call_gemini_1",
                "call_gemini_2"
            ]
        );
        assert_eq!(request.messages[2].role, Role::User);
        assert_eq!(parse(body), request, "same body, same ids");
    }

    #[test]
    fn a_response_that_answers_no_call_is_invalid() {
        let error = parse_error(json!({"contents": [
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "5°C"}}}
            ]}
        ]}));
        assert_invalid(error, "contents[0].parts[0].functionResponse.name");
    }

    #[test]
    fn function_responses_read_output_error_and_other_objects() {
        let request = parse(json!({"contents": [
            user_text("go"),
            {"role": "model", "parts": [
                {"functionCall": {"id": "a", "name": "f", "args": {}}},
                {"functionCall": {"id": "b", "name": "f", "args": {}}},
                {"functionCall": {"id": "c", "name": "f", "args": {}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "a", "name": "f", "response": {"output": "fine"}}},
                {"functionResponse": {"id": "b", "name": "f", "response": {"error": "boom"}}},
                {"functionResponse": {"id": "c", "name": "f", "response": {"temp": 5, "unit": "C"}}}
            ]}
        ]}));
        let results = &request.messages[2].content;
        assert_eq!(
            results[0],
            Part::ToolResult {
                call_id: "a".into(),
                content: vec![Part::text("fine")],
                is_error: false
            }
        );
        assert_eq!(
            results[1],
            Part::ToolResult {
                call_id: "b".into(),
                content: vec![Part::text("boom")],
                is_error: true
            }
        );
        assert_eq!(
            results[2],
            Part::ToolResult {
                call_id: "c".into(),
                content: vec![Part::text(r#"{"temp":5,"unit":"C"}"#)],
                is_error: false
            }
        );
    }

    #[test]
    fn thoughts_in_model_history_are_skipped() {
        let request = parse(json!({"contents": [
            user_text("hi"),
            {"role": "model", "parts": [
                {"text": "Planning a greeting.", "thought": true},
                {"text": "Hello!", "thoughtSignature": "CiQBjz1rX..."}
            ]},
            {"role": "model", "parts": [{"text": "only thinking", "thought": true}]},
            user_text("bye")
        ]}));
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[1].content, vec![Part::text("Hello!")]);
        assert_invalid(
            parse_error(json!({"contents": [
                {"role": "user", "parts": [{"text": "x", "thought": true}]}
            ]})),
            "contents[0].parts[0].thought",
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                json!({"cachedContent": "cachedContents/abc"}),
                "cachedContent",
            ),
            (
                json!({"generationConfig": {"candidateCount": 2}}),
                "generationConfig.candidateCount",
            ),
            (
                json!({"tools": [{"googleSearch": {}}]}),
                "tools[0].googleSearch",
            ),
            (
                json!({"tools": [{"codeExecution": {}}]}),
                "tools[0].codeExecution",
            ),
            (
                json!({"safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE"}
                ]}),
                "safetySettings[0].threshold",
            ),
            (
                json!({"generationConfig": {"responseLogprobs": true}}),
                "generationConfig.responseLogprobs",
            ),
            (
                json!({"generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),
                "generationConfig.responseModalities",
            ),
            (
                json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}),
                "generationConfig.thinkingConfig.thinkingBudget",
            ),
            (
                json!({"generationConfig": {"responseMimeType": "text/x.enum"}}),
                "generationConfig.responseMimeType",
            ),
            (json!({"store": true}), "store"),
            (
                json!({"generationConfig": {"temprature": 1}}),
                "generationConfig.temprature",
            ),
        ];
        for (extra, field) in cases {
            let mut body = json!({"contents": [user_text("hi")]});
            for (key, value) in extra.as_object().unwrap() {
                body[key] = value.clone();
            }
            assert_untranslatable(parse_error(body), field);
        }
    }

    #[test]
    fn file_data_and_non_image_inline_data_are_refused() {
        let file = parse_error(json!({"contents": [{"role": "user", "parts": [
            {"fileData": {"mimeType": "application/pdf", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}
        ]}]}));
        assert_untranslatable(file, "contents[0].parts[0].fileData");
        let audio = parse_error(json!({"contents": [{"role": "user", "parts": [
            {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}}
        ]}]}));
        assert_untranslatable(audio, "contents[0].parts[0].inlineData.mimeType");
    }

    #[test]
    fn loosening_safety_settings_and_default_thinking_are_ignored() {
        let request = parse(json!({
            "contents": [user_text("hi")],
            "safetySettings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}
            ],
            "generationConfig": {
                "candidateCount": 1,
                "thinkingConfig": {"includeThoughts": true, "thinkingBudget": -1}
            }
        }));
        assert_eq!(request.messages.len(), 1);
    }

    #[test]
    fn malformed_bodies_are_invalid_at_their_path() {
        let cases = [
            (json!([]), "body"),
            (json!({}), "contents"),
            (
                json!({"contents": [{"role": "bot", "parts": []}]}),
                "contents[0].role",
            ),
            (json!({"contents": [{"role": "user"}]}), "contents[0].parts"),
            (
                json!({"contents": [{"parts": [{}]}]}),
                "contents[0].parts[0]",
            ),
            (
                json!({"contents": [{"parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": ""}}]}]}),
                "contents[0].parts[0]",
            ),
            (
                json!({"contents": [{"parts": [{"text": 5}]}]}),
                "contents[0].parts[0].text",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": "{}"}}]}]}),
                "contents[0].parts[0].functionCall.args",
            ),
            (
                json!({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]}),
                "contents[0].parts[0].functionCall",
            ),
            (
                json!({"contents": [], "generationConfig": {"maxOutputTokens": -3}}),
                "generationConfig.maxOutputTokens",
            ),
            (
                json!({"contents": [], "generationConfig": {"responseSchema": {"type": "OBJECT"}}}),
                "generationConfig.responseMimeType",
            ),
            (
                json!({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
                "toolConfig.functionCallingConfig.mode",
            ),
        ];
        for (body, field) in cases {
            assert_invalid(parse_error(body), field);
        }
    }

    #[test]
    fn tool_config_modes_read_and_write_back() {
        let config = |calling: Value| {
            parse_request(
                &json!({"contents": [], "toolConfig": {"functionCallingConfig": calling}}),
            )
        };
        assert_eq!(
            config(json!({"mode": "AUTO"})).unwrap().tool_choice,
            Some(ToolChoice::Auto)
        );
        assert_eq!(
            config(json!({"mode": "none"})).unwrap().tool_choice,
            Some(ToolChoice::None)
        );
        assert_eq!(
            config(json!({"mode": "ANY"})).unwrap().tool_choice,
            Some(ToolChoice::Required)
        );
        assert_eq!(
            config(json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}))
                .unwrap()
                .tool_choice,
            Some(ToolChoice::Tool {
                name: "get_weather".into()
            })
        );
        assert_untranslatable(
            config(json!({"mode": "ANY", "allowedFunctionNames": ["a", "b"]})).unwrap_err(),
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        );
        assert_untranslatable(
            config(json!({"mode": "AUTO", "allowedFunctionNames": ["a"]})).unwrap_err(),
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        );
        assert_untranslatable(
            config(json!({"mode": "VALIDATED"})).unwrap_err(),
            "toolConfig.functionCallingConfig.mode",
        );
        for (choice, expected) in [
            (ToolChoice::Auto, json!({"mode": "AUTO"})),
            (ToolChoice::None, json!({"mode": "NONE"})),
            (ToolChoice::Required, json!({"mode": "ANY"})),
            (
                ToolChoice::Tool { name: "f".into() },
                json!({"mode": "ANY", "allowedFunctionNames": ["f"]}),
            ),
        ] {
            assert_eq!(
                render_tool_choice(&choice),
                json!({"functionCallingConfig": expected})
            );
        }
    }

    #[test]
    fn response_schema_and_response_json_schema_both_read_as_json_schema() {
        let format = |config: Value| {
            parse(json!({"contents": [], "generationConfig": config})).response_format
        };
        let openapi = format(json!({
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {
                "tags": {"type": "ARRAY", "items": {"type": "STRING"}}
            }}
        }));
        let expected_schema = json!({"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string"}}
        }});
        assert_eq!(
            openapi,
            Some(ResponseFormat::JsonSchema {
                name: None,
                schema: expected_schema.clone(),
                strict: None
            })
        );
        let json_schema = format(json!({
            "responseMimeType": "application/json",
            "responseJsonSchema": expected_schema.clone()
        }));
        assert_eq!(json_schema, openapi);
        assert_eq!(
            format(json!({"responseMimeType": "application/json"})),
            Some(ResponseFormat::JsonObject)
        );
        assert_invalid(
            parse_error(json!({"contents": [], "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT"},
                "responseJsonSchema": {"type": "object"}
            }})),
            "generationConfig.responseJsonSchema",
        );
        let request = ChatRequest {
            response_format: json_schema,
            ..ChatRequest::default()
        };
        let body = render_request(&request, "m", &RenderOptions::default()).unwrap();
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json", "responseJsonSchema": expected_schema})
        );
    }

    fn conversation_with_tool_result(call_id: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![Part::text("Weather in Oslo?")],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        Part::text("Checking."),
                        Part::ToolCall {
                            id: "toolu_01".into(),
                            name: "get_weather".into(),
                            arguments: json!({"city": "Oslo"}),
                        },
                        Part::ToolCall {
                            id: "toolu_02".into(),
                            name: "get_time".into(),
                            arguments: json!({}),
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![Part::ToolResult {
                        call_id: call_id.into(),
                        content: vec![Part::text("5°C")],
                        is_error: true,
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Part::text("Thanks")],
                },
            ],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn tool_results_are_named_by_their_call_and_turns_merge() {
        let body = render_request(
            &conversation_with_tool_result("toolu_01"),
            "m",
            &RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
                {"role": "model", "parts": [
                    {"text": "Checking."},
                    {"functionCall": {"id": "toolu_01", "name": "get_weather", "args": {"city": "Oslo"}},
                     "thoughtSignature": FOREIGN_THOUGHT_SIGNATURE},
                    {"functionCall": {"id": "toolu_02", "name": "get_time", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "toolu_01", "name": "get_weather", "response": {"error": "5°C"}}},
                    {"text": "Thanks"}
                ]}
            ])
        );
        let error = render_request(
            &conversation_with_tool_result("toolu_99"),
            "m",
            &RenderOptions::default(),
        )
        .unwrap_err();
        assert_invalid(error, "messages[2].content[0].call_id");
    }

    #[test]
    fn render_refusals_use_neutral_names() {
        let mut request = conversation_with_tool_result("toolu_01");
        request.parallel_tool_calls = Some(false);
        assert_unsupported(
            render_request(&request, "m", &RenderOptions::default()).unwrap_err(),
            "parallel_tool_calls",
        );

        let mut request = conversation_with_tool_result("toolu_01");
        request.messages[3].content.push(Part::Image {
            image: Image::Url {
                url: "https://example.com/cat.png".into(),
            },
        });
        assert_unsupported(
            render_request(&request, "m", &RenderOptions::default()).unwrap_err(),
            "messages[3].content[1]",
        );

        let mut request = conversation_with_tool_result("toolu_01");
        if let Part::ToolResult { content, .. } = &mut request.messages[2].content[0] {
            content.push(Part::Image {
                image: Image::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                },
            });
        }
        assert_unsupported(
            render_request(&request, "m", &RenderOptions::default()).unwrap_err(),
            "messages[2].content[0].content[1]",
        );

        let request = ChatRequest {
            seed: Some(1 << 40),
            ..ChatRequest::default()
        };
        assert_unsupported(
            render_request(&request, "m", &RenderOptions::default()).unwrap_err(),
            "seed",
        );
    }

    #[test]
    fn rendered_bodies_carry_no_model_stream_or_end_user() {
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
        let body = render_request(&request, "gemini-2.5-flash", &RenderOptions::default()).unwrap();
        assert_eq!(
            body,
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        );
    }

    #[test]
    fn answer_call_ids_are_invented_from_the_response_id() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "a", "args": {}}},
                {"functionCall": {"id": "given", "name": "b", "args": {}}},
                {"functionCall": {"name": "c"}}
            ]}, "finishReason": "STOP", "index": 0}],
            "responseId": "r1"
        });
        let response = parse_response(&body).unwrap();
        let ids: Vec<&str> = response
            .content
            .iter()
            .filter_map(|part| match part {
                Part::ToolCall { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["call_r1_0", "given", "call_r1_2"]);
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        let mut anonymous = body.clone();
        anonymous.as_object_mut().unwrap().remove("responseId");
        let response = parse_response(&anonymous).unwrap();
        assert!(matches!(&response.content[0], Part::ToolCall { id, .. } if id == "call_gemini_0"));
    }

    #[test]
    fn a_blocked_prompt_is_an_empty_filtered_answer() {
        let response = parse_response(&json!({
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            "modelVersion": "gemini-2.5-flash"
        }))
        .unwrap();
        assert!(response.content.is_empty());
        assert_eq!(response.stop_reason, Some(StopReason::ContentFilter));
        assert_eq!(response.usage.input_tokens, Some(7));
    }

    #[test]
    fn finish_reasons_map_both_ways() {
        for (finish, reason) in [
            ("STOP", StopReason::EndTurn),
            ("MAX_TOKENS", StopReason::MaxTokens),
            ("SAFETY", StopReason::ContentFilter),
            ("RECITATION", StopReason::ContentFilter),
            ("SPII", StopReason::ContentFilter),
            (
                "MALFORMED_FUNCTION_CALL",
                StopReason::Other("MALFORMED_FUNCTION_CALL".into()),
            ),
        ] {
            assert_eq!(
                stop_reason(&Stop::Finished(finish.into()), false),
                reason,
                "{finish}"
            );
        }
        assert_eq!(finish_reason(&StopReason::ToolUse), "STOP");
        assert_eq!(
            finish_reason(&StopReason::StopSequence(Some("x".into()))),
            "STOP"
        );
        assert_eq!(finish_reason(&StopReason::ContentFilter), "SAFETY");
        assert_eq!(
            finish_reason(&StopReason::Other("LANGUAGE".into())),
            "LANGUAGE"
        );
        assert_eq!(
            finish_reason(&StopReason::Other("pause_turn".into())),
            "OTHER"
        );
    }

    #[test]
    fn thoughts_and_empty_text_in_answers_are_skipped_and_thoughts_count_as_output() {
        let response = parse_response(&json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me think.", "thought": true},
                {"text": ""},
                {"text": "42", "thoughtSignature": "Cs0BAdHtim"}
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2, "thoughtsTokenCount": 30, "totalTokenCount": 42}
        }))
        .unwrap();
        assert_eq!(response.content, vec![Part::text("42")]);
        assert_eq!(response.usage.output_tokens, Some(32));
    }

    #[test]
    fn huge_counts_saturate_and_error_bodies_are_refused() {
        let response = parse_response(&json!({
            "usageMetadata": {"candidatesTokenCount": u64::MAX, "thoughtsTokenCount": 5, "promptTokenCount": 1}
        }))
        .unwrap();
        assert_eq!(response.usage.output_tokens, Some(u64::MAX));
        assert_eq!(
            render_usage(&response.usage).unwrap()["totalTokenCount"],
            json!(u64::MAX)
        );
        let error = parse_response(&json!({"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}))
            .unwrap_err();
        assert_invalid(error, "error");
    }

    #[test]
    fn answers_with_code_execution_are_untranslatable() {
        let error = parse_response(
            &json!({"candidates": [{"content": {"role": "model", "parts": [
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
            ]}}]}),
        )
        .unwrap_err();
        assert_untranslatable(error, "candidates[0].content.parts[0].executableCode");
    }

    #[test]
    fn stream_calls_get_one_start_and_whole_arguments_and_stop_is_tool_use() {
        let events = decode_all(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking"}]}, "index": 0}],
                   "usageMetadata": {"promptTokenCount": 20, "totalTokenCount": 20},
                   "modelVersion": "gemini-2.5-flash", "responseId": "abc"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [
                       {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
                   ]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "totalTokenCount": 29},
                   "modelVersion": "gemini-2.5-flash", "responseId": "abc"}),
        ]);
        assert_eq!(
            events,
            [
                StreamEvent::Start {
                    id: Some("abc".into()),
                    model: "gemini-2.5-flash".into(),
                    usage: Usage {
                        input_tokens: Some(20),
                        output_tokens: None
                    }
                },
                StreamEvent::TextDelta {
                    text: "Checking".into()
                },
                StreamEvent::ToolCallStart {
                    id: "call_abc_0".into(),
                    name: "get_weather".into()
                },
                StreamEvent::ToolCallArguments {
                    json: r#"{"city":"Oslo"}"#.into()
                },
                StreamEvent::Stop {
                    reason: StopReason::ToolUse
                },
                StreamEvent::Usage {
                    usage: Usage {
                        input_tokens: Some(20),
                        output_tokens: Some(9)
                    }
                },
                StreamEvent::End,
            ]
        );
    }

    #[test]
    fn a_stream_whose_prompt_is_blocked_stops_on_the_filter_and_ends() {
        let events = decode_all(&[json!({
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
            "modelVersion": "gemini-2.5-flash"
        })]);
        assert_eq!(
            events[1..],
            [
                StreamEvent::Stop {
                    reason: StopReason::ContentFilter
                },
                StreamEvent::End
            ]
        );
    }

    #[test]
    fn counts_reported_before_the_finish_keep_their_place_in_their_own_chunk() {
        let events = [
            StreamEvent::Start {
                id: Some("r".into()),
                model: "m".into(),
                usage: Usage::default(),
            },
            StreamEvent::TextDelta { text: "a".into() },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(3),
                    output_tokens: Some(1),
                },
            },
            StreamEvent::TextDelta { text: "b".into() },
        ];
        let chunks = chunks_of(&encode_all(&events));
        assert_eq!(chunks.len(), 3);
        assert!(chunks[1].get("candidates").is_none());
        assert_eq!(chunks[1]["usageMetadata"]["totalTokenCount"], 4);
        let decoded = decode_all(&chunks);
        assert_eq!(decoded[1..], events[1..]);
    }

    #[test]
    fn a_stream_without_a_finish_reason_does_not_end() {
        let events = decode_all(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}),
        ]);
        assert!(!events.contains(&StreamEvent::End), "{events:?}");
    }

    #[test]
    fn stream_errors_and_garbage_become_error_events() {
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        for data in [
            r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#,
            "{not json",
            r#"{"candidates": [{"content": {"parts": [{"executableCode": {"code": "1"}}]}}]}"#,
        ] {
            let frame = SseFrame {
                event: None,
                data: data.into(),
            };
            decoder.decode(&frame, &mut events);
        }
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0],
            StreamEvent::Error {
                message: "The model is overloaded.".into()
            }
        );
        assert!(
            matches!(&events[1], StreamEvent::Error { message } if message.contains("not JSON"))
        );
        assert!(
            matches!(&events[2], StreamEvent::Error { message } if message.contains("executableCode"))
        );
    }

    #[test]
    fn the_encoder_buffers_call_arguments_and_folds_usage_into_the_last_chunk() {
        let sse = encode_all(&[
            StreamEvent::Start {
                id: Some("chatcmpl-1".into()),
                model: "gpt-4o".into(),
                usage: Usage::default(),
            },
            StreamEvent::ToolCallStart {
                id: "call_1".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "{\"ci".into(),
            },
            StreamEvent::ToolCallArguments {
                json: "ty\":\"Oslo\"}".into(),
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse,
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(12),
                    output_tokens: Some(7),
                },
            },
            StreamEvent::End,
        ]);
        assert!(sse.ends_with("\r\n\r\n"));
        let chunks = chunks_of(&sse);
        assert_eq!(
            chunks,
            [
                json!({"candidates": [{"content": {"parts": [
                          {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Oslo"}}}
                      ], "role": "model"}, "index": 0}],
                      "modelVersion": "client-model", "responseId": "chatcmpl-1"}),
                json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"},
                                       "finishReason": "STOP", "index": 0}],
                      "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19},
                      "modelVersion": "client-model", "responseId": "chatcmpl-1"}),
            ]
        );
    }

    #[test]
    fn the_encoder_reports_unreadable_arguments_and_errors_as_google_errors() {
        let sse = encode_all(&[
            StreamEvent::Start {
                id: None,
                model: "m".into(),
                usage: Usage::default(),
            },
            StreamEvent::ToolCallStart {
                id: "c".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArguments { json: "[1".into() },
            StreamEvent::Error {
                message: "upstream went away".into(),
            },
        ]);
        let chunks = chunks_of(&sse);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["error"]["status"], "INTERNAL");
        assert_eq!(
            chunks[1],
            json!({"error": {"code": 500, "message": "upstream went away", "status": "INTERNAL"}})
        );
    }

    #[test]
    fn the_encoder_uses_the_fallback_id_and_writes_start_usage_on_the_first_chunk() {
        let sse = encode_all(&[
            StreamEvent::Start {
                id: None,
                model: "m".into(),
                usage: Usage {
                    input_tokens: Some(9),
                    output_tokens: Some(1),
                },
            },
            StreamEvent::TextDelta { text: "Hi".into() },
            StreamEvent::TextDelta { text: "!".into() },
        ]);
        let chunks = chunks_of(&sse);
        assert_eq!(chunks[0]["responseId"], "gen-fallback");
        assert_eq!(chunks[0]["usageMetadata"]["promptTokenCount"], 9);
        assert!(chunks[1].get("usageMetadata").is_none());
        assert_eq!(
            chunks[1]["candidates"][0]["content"]["parts"][0]["text"],
            "!"
        );
    }
}
