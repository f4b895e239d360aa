//! The compatibility table of `docs/translation.md`, executed.
//!
//! The table (between `<!-- compat-table:start -->` and `<!-- compat-table:end -->`) has one
//! row per feature an application sends and one column per translation (client API → provider
//! kind). This test reads it and, for every cell, translates a representative request for that
//! feature, written in the column's client API, with the gateway's own functions
//! (`parse_request`, then `render_request`):
//!
//! - `yes` / `yes (note)`: the translation succeeds and the feature shows in the provider's
//!   body (the specific field: Anthropic `system`, Gemini `generationConfig.topK`, ...);
//! - ``400 `field` `` (optionally followed by a note): the translation is refused and the error
//!   names `field` (`[]` in the table stands for any index: `messages[]` matches `messages[3]`);
//! - `—`: the client API has no such feature, so the test has no request for it.
//!
//! Any other cell text, a row the test has no case for, or a case the table has no row for
//! fails, so the table and the translators cannot drift apart.
//!
//! The second test holds the doc's ignored-fields section (between
//! `<!-- ignored-fields:start -->` and `<!-- ignored-fields:end -->`) to every module's
//! `IGNORED_FIELDS`, and checks that each ignored field is accepted by its format and changes
//! nothing in what is read.

#![allow(clippy::unwrap_used)]

use clearance_core::api::WireFormat;
use clearance_core::chat::{ChatRequest, Part};
use clearance_wire::translate::{self, RenderOptions, TranslateError, anthropic, gemini, openai};
use serde_json::{Value, json};

const DOC: &str = include_str!("../../../docs/translation.md");

const OPENAI: WireFormat = WireFormat::OpenaiChat;
const ANTHROPIC: WireFormat = WireFormat::AnthropicMessages;
const GEMINI: WireFormat = WireFormat::Gemini;
const RESPONSES: WireFormat = WireFormat::OpenaiResponses;

/// The table's columns: every (client API, provider kind) pair that is a translation. No
/// provider speaks OpenAI Responses, so a Responses client is always translated.
const COLUMNS: [(&str, WireFormat, WireFormat); 9] = [
    ("OpenAI → Anthropic", OPENAI, ANTHROPIC),
    ("OpenAI → Gemini", OPENAI, GEMINI),
    ("Anthropic → OpenAI", ANTHROPIC, OPENAI),
    ("Anthropic → Gemini", ANTHROPIC, GEMINI),
    ("Gemini → OpenAI", GEMINI, OPENAI),
    ("Gemini → Anthropic", GEMINI, ANTHROPIC),
    ("Responses → OpenAI", RESPONSES, OPENAI),
    ("Responses → Anthropic", RESPONSES, ANTHROPIC),
    ("Responses → Gemini", RESPONSES, GEMINI),
];

// ---------------------------------------------------------------------------------------------
// Reading the doc
// ---------------------------------------------------------------------------------------------

/// The text between `<!-- {name}:start -->` and `<!-- {name}:end -->`.
fn section(name: &str) -> &'static str {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let from = DOC
        .find(&start)
        .unwrap_or_else(|| panic!("docs/translation.md has no `{start}` marker"));
    let rest = &DOC[from + start.len()..];
    let to = rest
        .find(&end)
        .unwrap_or_else(|| panic!("docs/translation.md has no `{end}` after `{start}`"));
    &rest[..to]
}

/// A Markdown table's header cells and rows (each a list of trimmed cells).
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('|'));
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_string())
            .collect()
    };
    let header = cells(lines.next().expect("the compatibility table has no header"));
    let separator = lines.next().expect("the compatibility table has no rows");
    assert!(
        separator
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ')),
        "the line after the table header must be its separator, not {separator:?}"
    );
    (header, lines.map(cells).collect())
}

/// What a cell promises.
#[derive(Debug, PartialEq)]
enum Expect {
    Yes,
    Refused(String),
    NoSuchFeature,
}

/// A parenthesised note, or nothing.
fn is_note(rest: &str) -> bool {
    rest.is_empty() || (rest.starts_with(" (") && rest.ends_with(')'))
}

fn parse_cell(cell: &str) -> Option<Expect> {
    if cell == "—" {
        return Some(Expect::NoSuchFeature);
    }
    if let Some(rest) = cell.strip_prefix("yes") {
        return is_note(rest).then_some(Expect::Yes);
    }
    let rest = cell.strip_prefix("400 `")?;
    let (field, rest) = rest.split_once('`')?;
    (!field.is_empty() && is_note(rest)).then(|| Expect::Refused(field.to_string()))
}

/// `messages[3].content[0]` → `messages[].content[]`.
fn without_indices(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The cases: a request per feature and client API, and what a translated body must show
// ---------------------------------------------------------------------------------------------

/// A translated request, for a case's check.
struct Rendered<'a> {
    target: WireFormat,
    neutral: &'a ChatRequest,
    body: &'a Value,
}

impl Rendered<'_> {
    fn at(&self, pointer: &str) -> Option<&Value> {
        self.body.pointer(pointer)
    }

    /// The body has `expected` at `pointer` (a JSON pointer).
    fn eq(&self, pointer: &str, expected: Value) -> Result<(), String> {
        match self.at(pointer) {
            Some(found) if *found == expected => Ok(()),
            found => Err(format!(
                "expected {expected} at {pointer}, found {}",
                found.map_or_else(|| "nothing".to_string(), Value::to_string)
            )),
        }
    }

    fn absent(&self, pointer: &str) -> Result<(), String> {
        match self.at(pointer) {
            None => Ok(()),
            Some(found) => Err(format!("expected nothing at {pointer}, found {found}")),
        }
    }

    /// Nothing in the body mentions `text`.
    fn never_mentions(&self, text: &str) -> Result<(), String> {
        if self.body.to_string().contains(text) {
            Err(format!("the body still carries {text:?}"))
        } else {
            Ok(())
        }
    }

    fn holds(&self, what: &str, condition: bool) -> Result<(), String> {
        if condition {
            Ok(())
        } else {
            Err(format!("expected {what}"))
        }
    }

    /// The id of the first tool call of the conversation, as the client wrote it.
    fn first_call_id(&self) -> String {
        self.neutral
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|part| match part {
                Part::ToolCall { id, .. } => Some(id.clone()),
                _ => None,
            })
            .expect("the case's conversation has a tool call")
    }

    fn unexpected(&self) -> Result<(), String> {
        Err(format!(
            "the case has no check for {} bodies",
            self.target.title()
        ))
    }
}

type Check = fn(&Rendered) -> Result<(), String>;

/// The check of a feature no target translates (its cells are all 400 or `—`).
fn only_refused(rendered: &Rendered) -> Result<(), String> {
    rendered.unexpected()
}

struct Case {
    /// The row's first cell, exactly as the doc writes it.
    feature: &'static str,
    /// The request in each client API, or `None` when that API has no such feature.
    openai: Option<Value>,
    anthropic: Option<Value>,
    /// The Gemini and OpenAI Responses requests (see [`new_surface_bodies`]).
    gemini: Option<Value>,
    responses: Option<Value>,
    /// What a translated body shows for the feature (only called for `yes` cells).
    check: Check,
}

impl Case {
    fn body(&self, source: WireFormat) -> Option<&Value> {
        match source {
            WireFormat::OpenaiChat => self.openai.as_ref(),
            WireFormat::AnthropicMessages => self.anthropic.as_ref(),
            WireFormat::Gemini => self.gemini.as_ref(),
            WireFormat::OpenaiResponses => self.responses.as_ref(),
            WireFormat::BedrockConverse => None,
        }
    }
}

fn case(
    feature: &'static str,
    openai: Option<Value>,
    anthropic: Option<Value>,
    check: Check,
) -> Case {
    let (gemini, responses) = new_surface_bodies(feature);
    Case {
        feature,
        openai,
        anthropic,
        gemini,
        responses,
        check,
    }
}

/// `extra` over a minimal body: `base`'s fields first, `extra`'s replacing them.
fn over(mut base: Value, extra: Value) -> Value {
    let fields = base.as_object_mut().unwrap();
    for (key, value) in extra.as_object().unwrap() {
        fields.insert(key.clone(), value.clone());
    }
    base
}

/// An OpenAI Chat Completions request: one user message, then `extra`.
fn oa(extra: Value) -> Option<Value> {
    let base = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]});
    Some(over(base, extra))
}

/// An Anthropic Messages request: one user message and `max_tokens`, then `extra`.
fn an(extra: Value) -> Option<Value> {
    let base = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}]
    });
    Some(over(base, extra))
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUg==";
const IMAGE_URL: &str = "https://example.com/cat.png";

fn schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn openai_tools() -> Value {
    json!([{"type": "function", "function": {
        "name": "weather", "description": "Current weather", "parameters": schema()
    }}])
}

fn anthropic_tools() -> Value {
    json!([{"name": "weather", "description": "Current weather", "input_schema": schema()}])
}

/// A tool call and its result, in OpenAI's shape (`result` is the tool message).
fn openai_tool_turns(result: Value) -> Value {
    json!([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_01", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}
        }]},
        result
    ])
}

/// A tool call and its result, in Anthropic's shape (`result` is the tool_result block).
fn anthropic_tool_turns(result: Value) -> Value {
    json!([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Oslo"}}
        ]},
        {"role": "user", "content": [result]}
    ])
}

/// The same check for a feature that reads the same in every target.
fn tool_choice_case(feature: &'static str, openai: Value, anthropic: Value, check: Check) -> Case {
    case(
        feature,
        oa(json!({"tools": openai_tools(), "tool_choice": openai})),
        an(json!({"tools": anthropic_tools(), "tool_choice": anthropic})),
        check,
    )
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    vec![
        case(
            "System prompt",
            oa(json!({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}
            ]})),
            an(json!({"system": "Be brief."})),
            |r| match r.target {
                ANTHROPIC => r.eq("/system", json!("Be brief.")),
                GEMINI => r.eq("/systemInstruction/parts/0/text", json!("Be brief.")),
                OPENAI => r.eq(
                    "/messages/0",
                    json!({"role": "system", "content": "Be brief."}),
                ),
                _ => r.unexpected(),
            },
        ),
        case(
            "Multi-turn history",
            oa(json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Tell me a joke"}
            ]})),
            an(json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Tell me a joke"}
            ]})),
            |r| match r.target {
                ANTHROPIC => {
                    r.eq("/messages/1/content/0/text", json!("Hello!"))?;
                    r.eq("/messages/2/role", json!("user"))
                }
                GEMINI => {
                    r.eq(
                        "/contents/1",
                        json!({"role": "model", "parts": [{"text": "Hello!"}]}),
                    )?;
                    r.eq("/contents/2/parts/0/text", json!("Tell me a joke"))
                }
                OPENAI => {
                    r.eq(
                        "/messages/1",
                        json!({"role": "assistant", "content": "Hello!"}),
                    )?;
                    r.eq("/messages/2/content", json!("Tell me a joke"))
                }
                _ => r.unexpected(),
            },
        ),
        case(
            "Conversation opening with an assistant turn",
            oa(json!({"messages": [
                {"role": "assistant", "content": "How can I help?"},
                {"role": "user", "content": "Hi"}
            ]})),
            an(json!({"messages": [
                {"role": "assistant", "content": "How can I help?"},
                {"role": "user", "content": "Hi"}
            ]})),
            |r| match r.target {
                GEMINI => r.eq("/contents/0/role", json!("model")),
                OPENAI => r.eq("/messages/0/role", json!("assistant")),
                _ => r.unexpected(),
            },
        ),
        case(
            "Conversation ending with an assistant turn (prefill)",
            oa(json!({"messages": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "The colour is"}
            ]})),
            an(json!({"messages": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "The colour is"}
            ]})),
            |r| {
                match r.target {
                ANTHROPIC => r.eq(
                    "/messages/1",
                    json!({"role": "assistant", "content": [{"type": "text", "text": "The colour is"}]}),
                ),
                GEMINI => r.eq(
                    "/contents/1",
                    json!({"role": "model", "parts": [{"text": "The colour is"}]}),
                ),
                OPENAI => r.eq(
                    "/messages/1",
                    json!({"role": "assistant", "content": "The colour is"}),
                ),
                _ => r.unexpected(),
            }
            },
        ),
        case(
            "System or developer message after the first turn",
            oa(json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "developer", "content": "From now on, answer in French."}
            ]})),
            None,
            only_refused,
        ),
        case(
            "Tool definitions",
            oa(json!({"tools": openai_tools()})),
            an(json!({"tools": anthropic_tools()})),
            |r| {
                match r.target {
                ANTHROPIC => r.eq(
                    "/tools/0",
                    json!({"name": "weather", "description": "Current weather", "input_schema": schema()}),
                ),
                GEMINI => r.eq(
                    "/tools/0/functionDeclarations/0",
                    json!({"name": "weather", "description": "Current weather", "parametersJsonSchema": schema()}),
                ),
                OPENAI => r.eq("/tools", openai_tools()),
                _ => r.unexpected(),
            }
            },
        ),
        case(
            "Legacy `functions` / `function_call`",
            oa(json!({
                "functions": [{"name": "weather", "parameters": schema()}],
                "function_call": {"name": "weather"}
            })),
            None,
            |r| match r.target {
                ANTHROPIC => {
                    r.eq("/tools/0/name", json!("weather"))?;
                    r.eq("/tool_choice", json!({"type": "tool", "name": "weather"}))
                }
                GEMINI => {
                    r.eq("/tools/0/functionDeclarations/0/name", json!("weather"))?;
                    r.eq(
                        "/toolConfig/functionCallingConfig",
                        json!({"mode": "ANY", "allowedFunctionNames": ["weather"]}),
                    )
                }
                OPENAI => r.unexpected(),
                _ => r.unexpected(),
            },
        ),
        case(
            "Tool calls and results, with ids",
            oa(json!({
                "tools": openai_tools(),
                "messages": openai_tool_turns(
                    json!({"role": "tool", "tool_call_id": "call_01", "content": "4°C"})
                )
            })),
            an(json!({
                "tools": anthropic_tools(),
                "messages": anthropic_tool_turns(
                    json!({"type": "tool_result", "tool_use_id": "toolu_01", "content": "4°C"})
                )
            })),
            |r| {
                let id = r.first_call_id();
                match r.target {
                    ANTHROPIC => {
                        r.eq(
                            "/messages/1/content/0",
                            json!({"type": "tool_use", "id": id, "name": "weather", "input": {"city": "Oslo"}}),
                        )?;
                        r.eq(
                            "/messages/2/content/0",
                            json!({"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "4°C"}]}),
                        )
                    }
                    GEMINI => {
                        r.eq(
                            "/contents/1/parts/0",
                            json!({
                                "functionCall": {"id": id, "name": "weather", "args": {"city": "Oslo"}},
                                "thoughtSignature": "skip_thought_signature_validator"
                            }),
                        )?;
                        r.eq(
                            "/contents/2/parts/0/functionResponse",
                            json!({"id": id, "name": "weather", "response": {"output": "4°C"}}),
                        )
                    }
                    OPENAI => {
                        r.eq(
                            "/messages/1/tool_calls/0",
                            json!({"id": id, "type": "function",
                                "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}),
                        )?;
                        r.eq(
                            "/messages/2",
                            json!({"role": "tool", "tool_call_id": id, "content": "4°C"}),
                        )
                    }
                    _ => r.unexpected(),
                }
            },
        ),
        tool_choice_case(
            "`tool_choice` auto",
            json!("auto"),
            json!({"type": "auto"}),
            |r| match r.target {
                ANTHROPIC => r.eq("/tool_choice", json!({"type": "auto"})),
                GEMINI => r.eq("/toolConfig/functionCallingConfig", json!({"mode": "AUTO"})),
                OPENAI => r.eq("/tool_choice", json!("auto")),
                _ => r.unexpected(),
            },
        ),
        tool_choice_case(
            "`tool_choice` none",
            json!("none"),
            json!({"type": "none"}),
            |r| match r.target {
                ANTHROPIC => r.eq("/tool_choice", json!({"type": "none"})),
                GEMINI => r.eq("/toolConfig/functionCallingConfig", json!({"mode": "NONE"})),
                OPENAI => r.eq("/tool_choice", json!("none")),
                _ => r.unexpected(),
            },
        ),
        tool_choice_case(
            "`tool_choice` required (Anthropic `any`)",
            json!("required"),
            json!({"type": "any"}),
            |r| match r.target {
                ANTHROPIC => r.eq("/tool_choice", json!({"type": "any"})),
                GEMINI => r.eq("/toolConfig/functionCallingConfig", json!({"mode": "ANY"})),
                OPENAI => r.eq("/tool_choice", json!("required")),
                _ => r.unexpected(),
            },
        ),
        tool_choice_case(
            "`tool_choice` one named tool",
            json!({"type": "function", "function": {"name": "weather"}}),
            json!({"type": "tool", "name": "weather"}),
            |r| match r.target {
                ANTHROPIC => r.eq("/tool_choice", json!({"type": "tool", "name": "weather"})),
                GEMINI => r.eq(
                    "/toolConfig/functionCallingConfig",
                    json!({"mode": "ANY", "allowedFunctionNames": ["weather"]}),
                ),
                OPENAI => r.eq(
                    "/tool_choice",
                    json!({"type": "function", "function": {"name": "weather"}}),
                ),
                _ => r.unexpected(),
            },
        ),
        case(
            "Parallel tool calls off",
            oa(json!({"tools": openai_tools(), "parallel_tool_calls": false})),
            an(json!({
                "tools": anthropic_tools(),
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}
            })),
            |r| match r.target {
                ANTHROPIC => r.eq(
                    "/tool_choice",
                    json!({"type": "auto", "disable_parallel_tool_use": true}),
                ),
                OPENAI => {
                    r.eq("/parallel_tool_calls", json!(false))?;
                    // Anthropic says it in its tool choice, `auto`; Responses on its own.
                    match r.at("/tool_choice") {
                        None => Ok(()),
                        Some(_) => r.eq("/tool_choice", json!("auto")),
                    }
                }
                GEMINI => r.unexpected(),
                _ => r.unexpected(),
            },
        ),
        case(
            "Tool result marked as error",
            None,
            an(json!({
                "tools": anthropic_tools(),
                "messages": anthropic_tool_turns(json!({
                    "type": "tool_result", "tool_use_id": "toolu_01",
                    "content": "city not found", "is_error": true
                }))
            })),
            |r| match r.target {
                OPENAI => r.eq("/messages/2/content", json!("Error: city not found")),
                GEMINI => r.eq(
                    "/contents/2/parts/0/functionResponse/response",
                    json!({"error": "city not found"}),
                ),
                ANTHROPIC => r.eq("/messages/2/content/0/is_error", json!(true)),
                _ => r.unexpected(),
            },
        ),
        case(
            "Strict tool schemas (`strict: true`)",
            oa(json!({"tools": [{"type": "function", "function": {
                "name": "weather", "parameters": schema(), "strict": true
            }}]})),
            an(json!({"tools": [{"name": "weather", "input_schema": schema(), "strict": true}]})),
            |r| {
                r.never_mentions("strict")?;
                match r.target {
                    ANTHROPIC => r.eq("/tools/0/input_schema", schema()),
                    GEMINI => r.eq(
                        "/tools/0/functionDeclarations/0/parametersJsonSchema",
                        schema(),
                    ),
                    OPENAI => r.eq("/tools/0/function/parameters", schema()),
                    _ => r.unexpected(),
                }
            },
        ),
        case(
            "Built-in / server tools (web search, code execution)",
            oa(json!({"web_search_options": {}})),
            an(json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]})),
            only_refused,
        ),
        case(
            "Images, base64",
            oa(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}
            ]}]})),
            an(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
            ]}]})),
            |r| {
                match r.target {
                ANTHROPIC => r.eq(
                    "/messages/0/content/1",
                    json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}),
                ),
                GEMINI => r.eq(
                    "/contents/0/parts/1",
                    json!({"inlineData": {"mimeType": "image/png", "data": PNG}}),
                ),
                OPENAI => r.eq(
                    "/messages/0/content/1",
                    json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}),
                ),
                _ => r.unexpected(),
            }
            },
        ),
        case(
            "Images by URL",
            oa(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}}
            ]}]})),
            an(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "url", "url": IMAGE_URL}}
            ]}]})),
            |r| match r.target {
                ANTHROPIC => r.eq(
                    "/messages/0/content/1/source",
                    json!({"type": "url", "url": IMAGE_URL}),
                ),
                OPENAI => r.eq("/messages/0/content/1/image_url/url", json!(IMAGE_URL)),
                GEMINI => r.unexpected(),
                _ => r.unexpected(),
            },
        ),
        case(
            "Image `detail` low / high",
            oa(json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}}
            ]}]})),
            None,
            only_refused,
        ),
        case(
            "Images inside tool results",
            None,
            an(json!({
                "tools": anthropic_tools(),
                "messages": anthropic_tool_turns(json!({
                    "type": "tool_result", "tool_use_id": "toolu_01", "content": [
                        {"type": "text", "text": "Radar:"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                    ]
                }))
            })),
            |r| {
                match r.target {
                ANTHROPIC => r.eq(
                    "/messages/2/content/0/content/1",
                    json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}),
                ),
                _ => r.unexpected(),
            }
            },
        ),
        case(
            "Files and PDFs",
            oa(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "Summarise"},
                {"type": "file", "file": {"file_id": "file-abc123"}}
            ]}]})),
            an(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "Summarise"},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}}
            ]}]})),
            only_refused,
        ),
        case(
            "Audio input (`input_audio` parts)",
            oa(json!({"messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
            ]}]})),
            None,
            only_refused,
        ),
        case(
            "Audio output (`modalities`)",
            oa(json!({"modalities": ["text", "audio"]})),
            None,
            only_refused,
        ),
        case(
            "Message `name` (participant names)",
            oa(json!({"messages": [{"role": "user", "name": "alice", "content": "Hi"}]})),
            None,
            only_refused,
        ),
        case(
            "Stop sequences",
            oa(json!({"stop": ["END"]})),
            an(json!({"stop_sequences": ["END"]})),
            |r| match r.target {
                ANTHROPIC => r.eq("/stop_sequences", json!(["END"])),
                GEMINI => r.eq("/generationConfig/stopSequences", json!(["END"])),
                OPENAI => r.eq("/stop", json!(["END"])),
                _ => r.unexpected(),
            },
        ),
        case(
            "Temperature 0–1",
            oa(json!({"temperature": 0.5})),
            an(json!({"temperature": 0.5})),
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/temperature", json!(0.5)),
                _ => r.eq("/temperature", json!(0.5)),
            },
        ),
        case(
            "Temperature above 1",
            oa(json!({"temperature": 1.5})),
            None,
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/temperature", json!(1.5)),
                OPENAI => r.eq("/temperature", json!(1.5)),
                _ => r.unexpected(),
            },
        ),
        case(
            "`top_p`",
            oa(json!({"top_p": 0.9})),
            an(json!({"top_p": 0.9})),
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/topP", json!(0.9)),
                _ => r.eq("/top_p", json!(0.9)),
            },
        ),
        case(
            "`top_p` above 1",
            oa(json!({"top_p": 1.5})),
            None,
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/topP", json!(1.5)),
                OPENAI => r.eq("/top_p", json!(1.5)),
                _ => r.unexpected(),
            },
        ),
        case("`top_k`", None, an(json!({"top_k": 40})), |r| {
            match r.target {
                GEMINI => r.eq("/generationConfig/topK", json!(40)),
                ANTHROPIC => r.eq("/top_k", json!(40)),
                _ => r.unexpected(),
            }
        }),
        case("`seed`", oa(json!({"seed": 7})), None, |r| match r.target {
            GEMINI => r.eq("/generationConfig/seed", json!(7)),
            OPENAI => r.eq("/seed", json!(7)),
            _ => r.unexpected(),
        }),
        case(
            "`presence_penalty`",
            oa(json!({"presence_penalty": 0.5})),
            None,
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/presencePenalty", json!(0.5)),
                OPENAI => r.eq("/presence_penalty", json!(0.5)),
                _ => r.unexpected(),
            },
        ),
        case(
            "`frequency_penalty`",
            oa(json!({"frequency_penalty": 0.5})),
            None,
            |r| match r.target {
                GEMINI => r.eq("/generationConfig/frequencyPenalty", json!(0.5)),
                OPENAI => r.eq("/frequency_penalty", json!(0.5)),
                _ => r.unexpected(),
            },
        ),
        case(
            "`logit_bias`",
            oa(json!({"logit_bias": {"50256": -100}})),
            None,
            only_refused,
        ),
        case(
            "Max tokens",
            oa(json!({"max_tokens": 300})),
            an(json!({"max_tokens": 300})),
            |r| match r.target {
                ANTHROPIC => r.eq("/max_tokens", json!(300)),
                GEMINI => r.eq("/generationConfig/maxOutputTokens", json!(300)),
                OPENAI => {
                    r.eq("/max_completion_tokens", json!(300))?;
                    r.absent("/max_tokens")
                }
                _ => r.unexpected(),
            },
        ),
        case("Max tokens omitted", oa(json!({})), None, |r| {
            match r.target {
                ANTHROPIC => r.eq(
                    "/max_tokens",
                    json!(RenderOptions::default().default_max_tokens),
                ),
                GEMINI => r.absent("/generationConfig/maxOutputTokens"),
                OPENAI => {
                    r.absent("/max_tokens")?;
                    r.absent("/max_completion_tokens")
                }
                _ => r.unexpected(),
            }
        }),
        case(
            "JSON mode (`json_object`)",
            oa(json!({"response_format": {"type": "json_object"}})),
            None,
            |r| match r.target {
                GEMINI => {
                    r.eq(
                        "/generationConfig/responseMimeType",
                        json!("application/json"),
                    )?;
                    r.absent("/generationConfig/responseJsonSchema")
                }
                OPENAI => r.eq("/response_format", json!({"type": "json_object"})),
                _ => r.unexpected(),
            },
        ),
        case(
            "JSON schema (structured output)",
            oa(
                json!({"response_format": {"type": "json_schema", "json_schema": {
                    "name": "place", "strict": true, "schema": schema()
                }}}),
            ),
            an(json!({"output_format": {"type": "json_schema", "schema": schema()}})),
            |r| match r.target {
                GEMINI => {
                    r.eq(
                        "/generationConfig/responseMimeType",
                        json!("application/json"),
                    )?;
                    r.eq("/generationConfig/responseJsonSchema", schema())
                }
                OPENAI => {
                    r.eq("/response_format/type", json!("json_schema"))?;
                    r.eq("/response_format/json_schema/schema", schema())
                }
                _ => r.unexpected(),
            },
        ),
        case(
            "Streaming",
            oa(json!({"stream": true})),
            an(json!({"stream": true})),
            |r| match r.target {
                ANTHROPIC => r.eq("/stream", json!(true)),
                // The URL says it: `:streamGenerateContent?alt=sse`, chosen from the request.
                GEMINI => {
                    r.holds("a streamed request", r.neutral.stream)?;
                    r.absent("/stream")
                }
                OPENAI => {
                    r.eq("/stream", json!(true))?;
                    r.eq("/stream_options", json!({"include_usage": true}))
                }
                _ => r.unexpected(),
            },
        ),
        case(
            "Stream usage (`include_usage`)",
            oa(json!({"stream": true, "stream_options": {"include_usage": true}})),
            None,
            |r| {
                // The client's stream gets the usage chunk when the request asked for it.
                r.holds("the usage chunk asked for", r.neutral.include_usage)?;
                match r.target {
                    ANTHROPIC => r.eq("/stream", json!(true)),
                    GEMINI => r.holds("a streamed request", r.neutral.stream),
                    OPENAI => r.unexpected(),
                    _ => r.unexpected(),
                }
            },
        ),
        case("`n` > 1", oa(json!({"n": 2})), None, only_refused),
        case(
            "`logprobs`",
            oa(json!({"logprobs": true, "top_logprobs": 3})),
            None,
            only_refused,
        ),
        case(
            "Reasoning controls (`reasoning_effort`, `thinking`)",
            oa(json!({"reasoning_effort": "low"})),
            an(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})),
            only_refused,
        ),
        case(
            "Earlier thinking blocks in assistant history",
            None,
            an(json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "A greeting.", "signature": "c2ln"},
                    {"type": "redacted_thinking", "data": "ZGF0YQ=="},
                    {"type": "text", "text": "Hello!"}
                ]},
                {"role": "user", "content": "And?"}
            ]})),
            |r| match r.target {
                OPENAI => r.eq(
                    "/messages/1",
                    json!({"role": "assistant", "content": "Hello!"}),
                ),
                GEMINI => r.eq("/contents/1/parts", json!([{"text": "Hello!"}])),
                ANTHROPIC => r.eq(
                    "/messages/1/content",
                    json!([{"type": "text", "text": "Hello!"}]),
                ),
                _ => r.unexpected(),
            },
        ),
        case(
            "Prompt-caching hints",
            oa(json!({"prompt_cache_key": "tenant-7", "prompt_cache_retention": "24h"})),
            an(json!({
                "cache_control": {"type": "ephemeral"},
                "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
            })),
            |r| r.never_mentions("cache"),
        ),
        case(
            "End-user id (`user` / `metadata.user_id`)",
            oa(json!({"user": "u-42"})),
            an(json!({"metadata": {"user_id": "u-42"}})),
            |r| match r.target {
                ANTHROPIC => r.eq("/metadata", json!({"user_id": "u-42"})),
                OPENAI => r.eq("/user", json!("u-42")),
                GEMINI => r.never_mentions("u-42"),
                _ => r.unexpected(),
            },
        ),
        case(
            "Anthropic inference region (`inference_geo`)",
            None,
            an(json!({"inference_geo": "us"})),
            only_refused,
        ),
        case(
            "Anthropic MCP connector (`mcp_servers`)",
            None,
            an(json!({"mcp_servers": [
                {"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}
            ]})),
            only_refused,
        ),
    ]
}

/// A Gemini `generateContent` request: one user turn, then `extra` (the model and whether to
/// stream are in the gateway's path).
fn ge(extra: Value) -> Option<Value> {
    let base = json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]});
    Some(over(base, extra))
}

/// An OpenAI Responses request: `input` a string, then `extra`.
fn re(extra: Value) -> Option<Value> {
    let base = json!({"model": "gpt-4o", "input": "Hi"});
    Some(over(base, extra))
}

fn gemini_config(config: Value) -> Option<Value> {
    ge(json!({"generationConfig": config}))
}

fn gemini_user(parts: Value) -> Option<Value> {
    ge(json!({"contents": [{"role": "user", "parts": parts}]}))
}

fn responses_user(content: Value) -> Option<Value> {
    re(json!({"input": [{"role": "user", "content": content}]}))
}

fn gemini_tools() -> Value {
    json!([{"functionDeclarations": [
        {"name": "weather", "description": "Current weather", "parametersJsonSchema": schema()}
    ]}])
}

fn responses_tools() -> Value {
    json!([{"type": "function", "name": "weather", "description": "Current weather", "parameters": schema()}])
}

/// A function call and its response, in Gemini's shape (`response` is the functionResponse's).
fn gemini_tool_turns(response: Value) -> Value {
    json!([
        {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"id": "call_01", "name": "weather", "args": {"city": "Oslo"}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "call_01", "name": "weather", "response": response}}
        ]}
    ])
}

/// A function call and its output, as Responses input items (`output` is the output's).
fn responses_tool_turns(output: Value) -> Value {
    json!([
        {"role": "user", "content": "Weather in Oslo?"},
        {"type": "function_call", "call_id": "call_01", "name": "weather",
         "arguments": "{\"city\":\"Oslo\"}"},
        {"type": "function_call_output", "call_id": "call_01", "output": output}
    ])
}

/// The Gemini and OpenAI Responses requests for a row's feature (`None`: that API has no
/// such feature, so its cells are `—`). Kept apart from [`cases`] so each row's OpenAI and
/// Anthropic requests stay where they were.
#[allow(clippy::too_many_lines)]
fn new_surface_bodies(feature: &str) -> (Option<Value>, Option<Value>) {
    match feature {
        "System prompt" => (
            ge(json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}})),
            re(json!({"instructions": "Be brief."})),
        ),
        "Multi-turn history" => (
            ge(json!({"contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "Tell me a joke"}]}
            ]})),
            re(json!({"input": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Tell me a joke"}
            ]})),
        ),
        "Conversation opening with an assistant turn" => (
            ge(json!({"contents": [
                {"role": "model", "parts": [{"text": "How can I help?"}]},
                {"role": "user", "parts": [{"text": "Hi"}]}
            ]})),
            re(json!({"input": [
                {"role": "assistant", "content": "How can I help?"},
                {"role": "user", "content": "Hi"}
            ]})),
        ),
        "Conversation ending with an assistant turn (prefill)" => (
            ge(json!({"contents": [
                {"role": "user", "parts": [{"text": "Name a colour."}]},
                {"role": "model", "parts": [{"text": "The colour is"}]}
            ]})),
            re(json!({"input": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "The colour is"}
            ]})),
        ),
        "System or developer message after the first turn" => (
            None,
            re(json!({"input": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "developer", "content": "From now on, answer in French."}
            ]})),
        ),
        "Tool definitions" => (
            ge(json!({"tools": gemini_tools()})),
            re(json!({"tools": responses_tools()})),
        ),
        "Tool calls and results, with ids" => (
            ge(
                json!({"tools": gemini_tools(), "contents": gemini_tool_turns(json!({"output": "4°C"}))}),
            ),
            re(json!({"tools": responses_tools(), "input": responses_tool_turns(json!("4°C"))})),
        ),
        "`tool_choice` auto" => (
            ge(
                json!({"tools": gemini_tools(), "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}),
            ),
            re(json!({"tools": responses_tools(), "tool_choice": "auto"})),
        ),
        "`tool_choice` none" => (
            ge(
                json!({"tools": gemini_tools(), "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
            ),
            re(json!({"tools": responses_tools(), "tool_choice": "none"})),
        ),
        "`tool_choice` required (Anthropic `any`)" => (
            ge(
                json!({"tools": gemini_tools(), "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
            ),
            re(json!({"tools": responses_tools(), "tool_choice": "required"})),
        ),
        "`tool_choice` one named tool" => (
            ge(
                json!({"tools": gemini_tools(), "toolConfig": {"functionCallingConfig": {
                    "mode": "ANY", "allowedFunctionNames": ["weather"]
                }}}),
            ),
            re(
                json!({"tools": responses_tools(), "tool_choice": {"type": "function", "name": "weather"}}),
            ),
        ),
        "Parallel tool calls off" => (
            None,
            re(json!({"tools": responses_tools(), "parallel_tool_calls": false})),
        ),
        "Tool result marked as error" => (
            ge(
                json!({"tools": gemini_tools(), "contents": gemini_tool_turns(json!({"error": "city not found"}))}),
            ),
            None,
        ),
        "Strict tool schemas (`strict: true`)" => (
            None,
            re(
                json!({"tools": [{"type": "function", "name": "weather", "parameters": schema(), "strict": true}]}),
            ),
        ),
        "Built-in / server tools (web search, code execution)" => (
            ge(json!({"tools": [{"googleSearch": {}}]})),
            re(json!({"tools": [{"type": "web_search"}]})),
        ),
        "Images, base64" => (
            gemini_user(json!([
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}}
            ])),
            responses_user(json!([
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")}
            ])),
        ),
        "Images by URL" => (
            gemini_user(json!([
                {"text": "What is this?"},
                {"fileData": {"mimeType": "image/png", "fileUri": IMAGE_URL}}
            ])),
            responses_user(json!([
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": IMAGE_URL}
            ])),
        ),
        "Image `detail` low / high" => (
            None,
            responses_user(
                json!([{"type": "input_image", "image_url": IMAGE_URL, "detail": "low"}]),
            ),
        ),
        "Images inside tool results" => (
            ge(json!({"tools": gemini_tools(), "contents": [
                {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"id": "call_01", "name": "weather", "args": {"city": "Oslo"}}}
                ]},
                {"role": "user", "parts": [{"functionResponse": {
                    "id": "call_01", "name": "weather", "response": {"output": "Radar:"},
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]
                }}]}
            ]})),
            re(
                json!({"tools": responses_tools(), "input": responses_tool_turns(json!([
                    {"type": "input_text", "text": "Radar:"},
                    {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")}
                ]))}),
            ),
        ),
        "Files and PDFs" => (
            gemini_user(json!([
                {"text": "Summarise"},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}}
            ])),
            responses_user(json!([
                {"type": "input_text", "text": "Summarise"},
                {"type": "input_file", "file_id": "file-abc123"}
            ])),
        ),
        "Audio input (`input_audio` parts)" => (
            gemini_user(json!([{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}])),
            None,
        ),
        "Audio output (`modalities`)" => (
            gemini_config(json!({"responseModalities": ["AUDIO"]})),
            None,
        ),
        "Stop sequences" => (gemini_config(json!({"stopSequences": ["END"]})), None),
        "Temperature 0–1" => (
            gemini_config(json!({"temperature": 0.5})),
            re(json!({"temperature": 0.5})),
        ),
        "Temperature above 1" => (
            gemini_config(json!({"temperature": 1.5})),
            re(json!({"temperature": 1.5})),
        ),
        "`top_p`" => (
            gemini_config(json!({"topP": 0.9})),
            re(json!({"top_p": 0.9})),
        ),
        "`top_p` above 1" => (
            gemini_config(json!({"topP": 1.5})),
            re(json!({"top_p": 1.5})),
        ),
        "`top_k`" => (gemini_config(json!({"topK": 40})), None),
        "`seed`" => (gemini_config(json!({"seed": 7})), None),
        "`presence_penalty`" => (gemini_config(json!({"presencePenalty": 0.5})), None),
        "`frequency_penalty`" => (gemini_config(json!({"frequencyPenalty": 0.5})), None),
        "Max tokens" => (
            gemini_config(json!({"maxOutputTokens": 300})),
            re(json!({"max_output_tokens": 300})),
        ),
        "Max tokens omitted" => (ge(json!({})), re(json!({}))),
        "JSON mode (`json_object`)" => (
            gemini_config(json!({"responseMimeType": "application/json"})),
            re(json!({"text": {"format": {"type": "json_object"}}})),
        ),
        "JSON schema (structured output)" => (
            gemini_config(
                json!({"responseMimeType": "application/json", "responseJsonSchema": schema()}),
            ),
            re(
                json!({"text": {"format": {"type": "json_schema", "name": "place", "schema": schema()}}}),
            ),
        ),
        "Streaming" => (ge(json!({})), re(json!({"stream": true}))),
        "`n` > 1" => (gemini_config(json!({"candidateCount": 2})), None),
        "`logprobs`" => (
            gemini_config(json!({"responseLogprobs": true, "logprobs": 3})),
            re(json!({"top_logprobs": 3})),
        ),
        "Reasoning controls (`reasoning_effort`, `thinking`)" => (
            gemini_config(json!({"thinkingConfig": {"thinkingBudget": 2048}})),
            re(json!({"reasoning": {"effort": "low"}})),
        ),
        "Earlier thinking blocks in assistant history" => (
            ge(json!({"contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [
                    {"text": "A greeting.", "thought": true},
                    {"text": "Hello!"}
                ]},
                {"role": "user", "parts": [{"text": "And?"}]}
            ]})),
            re(json!({"input": [
                {"role": "user", "content": "Hi"},
                {"type": "reasoning", "id": "rs_01", "summary": [{"type": "summary_text", "text": "A greeting."}]},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And?"}
            ]})),
        ),
        "Prompt-caching hints" => (
            None,
            re(json!({"prompt_cache_key": "tenant-7", "prompt_cache_retention": "24h"})),
        ),
        "End-user id (`user` / `metadata.user_id`)" => (None, re(json!({"user": "u-42"}))),
        _ => (None, None),
    }
}

// ---------------------------------------------------------------------------------------------
// The table, executed
// ---------------------------------------------------------------------------------------------

/// Gemini says in its path whether it streams (`:streamGenerateContent`): its requests for the
/// feature are taken as sent to that method, as the gateway does.
const GEMINI_STREAMED_FEATURES: &[&str] = &["Streaming"];

/// Parses and renders `body` the way the gateway translates a request.
fn translate(
    feature: &str,
    source: WireFormat,
    target: WireFormat,
    body: &Value,
) -> Result<(ChatRequest, Value), TranslateError> {
    let mut neutral = translate::parse_request(source, body)?;
    if source == GEMINI && GEMINI_STREAMED_FEATURES.contains(&feature) {
        neutral.stream = true;
    }
    let rendered = translate::render_request(target, &neutral, "m", &RenderOptions::default())?;
    Ok((neutral, rendered))
}

/// Why `cell` does not hold for `case` in the column `source → target`, if it does not.
fn check_cell(case: &Case, cell: &str, source: WireFormat, target: WireFormat) -> Option<String> {
    let Some(expect) = parse_cell(cell) else {
        return Some(format!(
            "unknown cell text {cell:?} (write `yes`, `yes (note)`, `400 `field``, optionally \
             followed by ` (note)`, or `—`)"
        ));
    };
    let body = case.body(source);
    match (expect, body) {
        (Expect::NoSuchFeature, None) => None,
        (Expect::NoSuchFeature, Some(_)) => Some(format!(
            "the cell says {} has no such feature, but the test has a request for it",
            source.title()
        )),
        (_, None) => Some(format!(
            "the test has no {} request for this feature (its cell would be `—`)",
            source.title()
        )),
        (Expect::Yes, Some(body)) => match translate(case.feature, source, target, body) {
            Ok((neutral, rendered)) => {
                let seen = Rendered {
                    target,
                    neutral: &neutral,
                    body: &rendered,
                };
                (case.check)(&seen)
                    .err()
                    .map(|why| format!("translated, but {why}; body: {rendered}"))
            }
            Err(error) => Some(format!(
                "the cell says yes, but the request is refused: {error} (field `{}`)",
                error.field()
            )),
        },
        (Expect::Refused(field), Some(body)) => match translate(case.feature, source, target, body)
        {
            Ok((_, rendered)) => Some(format!(
                "the cell says 400 `{field}`, but the request translates: {rendered}"
            )),
            Err(error) if without_indices(error.field()) == field => None,
            Err(error) => Some(format!(
                "the cell says 400 `{field}`, but the error names `{}`: {error}",
                error.field()
            )),
        },
    }
}

#[test]
fn every_cell_of_the_compatibility_table_holds() {
    let (header, rows) = table(section("compat-table"));
    let mut failures = Vec::new();

    // The columns: the feature, then each translation once, in any order.
    let mut columns = Vec::new();
    for (i, name) in header.iter().enumerate().skip(1) {
        match COLUMNS.iter().find(|(title, ..)| title == name) {
            Some(&(_, source, target)) => columns.push((i, name, source, target)),
            None => failures.push(format!("unknown column {name:?}")),
        }
    }
    for (title, ..) in COLUMNS {
        let count = header.iter().filter(|name| *name == title).count();
        if count != 1 {
            failures.push(format!("the column {title:?} appears {count} times"));
        }
    }

    let cases = cases();
    let mut seen = Vec::new();
    for row in &rows {
        let feature = row[0].as_str();
        if row.len() != header.len() {
            failures.push(format!(
                "row {feature:?} has {} cells, the header {}",
                row.len(),
                header.len()
            ));
            continue;
        }
        if seen.contains(&feature) {
            failures.push(format!("row {feature:?} appears twice"));
        }
        seen.push(feature);
        let Some(case) = cases.iter().find(|case| case.feature == feature) else {
            failures.push(format!(
                "row {feature:?}: the test has no case for it (add one to `cases()`)"
            ));
            continue;
        };
        for &(i, column, source, target) in &columns {
            if let Some(why) = check_cell(case, &row[i], source, target) {
                failures.push(format!("{feature} / {column}: {why}"));
            }
        }
    }
    for case in &cases {
        if !seen.contains(&case.feature) {
            failures.push(format!(
                "the test has a case for {:?}, which the table has no row for",
                case.feature
            ));
        }
    }
    assert!(
        rows.len() >= cases.len(),
        "the table has {} rows for {} cases",
        rows.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "docs/translation.md's compatibility table disagrees with the translators:\n- {}",
        failures.join("\n- ")
    );
}

#[test]
fn the_table_reader_understands_exactly_the_documented_cells() {
    assert_eq!(parse_cell("yes"), Some(Expect::Yes));
    assert_eq!(
        parse_cell("yes (as `max_completion_tokens`)"),
        Some(Expect::Yes)
    );
    assert_eq!(parse_cell("—"), Some(Expect::NoSuchFeature));
    assert_eq!(parse_cell("400 `n`"), Some(Expect::Refused("n".into())));
    assert_eq!(
        parse_cell("400 `parallel_tool_calls` (the neutral name)"),
        Some(Expect::Refused("parallel_tool_calls".into()))
    );
    for bad in [
        "",
        "Yes",
        "yes!",
        "no",
        "400",
        "400 ``",
        "400 `n",
        "400 `n` maybe",
        "-",
        "partly",
    ] {
        assert_eq!(parse_cell(bad), None, "{bad:?}");
    }
    assert_eq!(
        without_indices("messages[12].content[0].image_url.detail"),
        "messages[].content[].image_url.detail"
    );
}

// ---------------------------------------------------------------------------------------------
// Ignored fields
// ---------------------------------------------------------------------------------------------

/// A body carrying an ignored field and the same body without it, read as a request or as a
/// whole answer of the format.
enum Sample {
    Request(Value, Value),
    Response(Value, Value),
}

fn gemini_body(extra: Value) -> Value {
    over(
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
        extra,
    )
}

fn anthropic_answer(content: Value) -> Value {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": content, "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 3}
    })
}

/// The sample for each `IGNORED_FIELDS` entry, by format and entry.
#[allow(clippy::too_many_lines)]
fn ignored_sample(format: WireFormat, entry: &str) -> Option<Sample> {
    let with_without = |extra: Value, base: Value| Sample::Request(over(base.clone(), extra), base);
    let openai_base = || oa(json!({})).unwrap();
    let anthropic_base = || an(json!({})).unwrap();
    let ephemeral = json!({"type": "ephemeral"});
    let anthropic_messages =
        |content: Value| an(json!({"messages": [{"role": "user", "content": content}]})).unwrap();
    let anthropic_result_block = |block: Value| {
        an(json!({"messages": anthropic_tool_turns(json!({
            "type": "tool_result", "tool_use_id": "toolu_01", "content": [block]
        }))}))
        .unwrap()
    };
    let anthropic_tool = |tool: Value| an(json!({"tools": [tool]})).unwrap();
    let gemini_config = |config: Value| gemini_body(json!({"generationConfig": config}));
    let gemini_history = |model_parts: Value| {
        gemini_body(json!({"contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": model_parts},
            {"role": "user", "parts": [{"text": "And?"}]}
        ]}))
    };
    let gemini_declaration = |declaration: Value| {
        gemini_body(json!({"tools": [{"functionDeclarations": [declaration]}]}))
    };
    let sample = match (format, entry) {
        (OPENAI, "store") => with_without(json!({"store": true}), openai_base()),
        (OPENAI, "metadata") => with_without(json!({"metadata": {"team": "search"}}), openai_base()),
        (OPENAI, "service_tier") => with_without(json!({"service_tier": "auto"}), openai_base()),
        (OPENAI, "safety_identifier") => {
            with_without(json!({"safety_identifier": "u-42"}), openai_base())
        }
        (OPENAI, "prompt_cache_key") => {
            with_without(json!({"prompt_cache_key": "tenant-7"}), openai_base())
        }
        (OPENAI, "prompt_cache_retention") => {
            with_without(json!({"prompt_cache_retention": "24h"}), openai_base())
        }

        (ANTHROPIC, "service_tier") => with_without(json!({"service_tier": "auto"}), anthropic_base()),
        (ANTHROPIC, "cache_control") => {
            with_without(json!({"cache_control": ephemeral}), anthropic_base())
        }
        (ANTHROPIC, "system[].cache_control") => Sample::Request(
            an(json!({"system": [{"type": "text", "text": "Be brief.", "cache_control": ephemeral}]}))
                .unwrap(),
            an(json!({"system": [{"type": "text", "text": "Be brief."}]})).unwrap(),
        ),
        (ANTHROPIC, "messages[].content[].cache_control") => Sample::Request(
            anthropic_messages(json!([{"type": "text", "text": "Hi", "cache_control": ephemeral}])),
            anthropic_messages(json!([{"type": "text", "text": "Hi"}])),
        ),
        (ANTHROPIC, "messages[].content[].content[].cache_control") => Sample::Request(
            anthropic_result_block(json!({"type": "text", "text": "4°C", "cache_control": ephemeral})),
            anthropic_result_block(json!({"type": "text", "text": "4°C"})),
        ),
        (ANTHROPIC, "messages[].content[].citations") => Sample::Request(
            anthropic_messages(json!([{"type": "text", "text": "Hi", "citations": [{
                "type": "char_location", "cited_text": "Hi", "document_index": 0,
                "start_char_index": 0, "end_char_index": 2
            }]}])),
            anthropic_messages(json!([{"type": "text", "text": "Hi"}])),
        ),
        (ANTHROPIC, "tools[].cache_control") => Sample::Request(
            anthropic_tool(json!({"name": "weather", "input_schema": schema(), "cache_control": ephemeral})),
            anthropic_tool(json!({"name": "weather", "input_schema": schema()})),
        ),
        (ANTHROPIC, "tools[].strict") => Sample::Request(
            anthropic_tool(json!({"name": "weather", "input_schema": schema(), "strict": true})),
            anthropic_tool(json!({"name": "weather", "input_schema": schema()})),
        ),
        (ANTHROPIC, "tools[].eager_input_streaming") => Sample::Request(
            anthropic_tool(json!({"name": "weather", "input_schema": schema(), "eager_input_streaming": true})),
            anthropic_tool(json!({"name": "weather", "input_schema": schema()})),
        ),
        (ANTHROPIC, "tools[].type (\"custom\")") => Sample::Request(
            anthropic_tool(json!({"type": "custom", "name": "weather", "input_schema": schema()})),
            anthropic_tool(json!({"name": "weather", "input_schema": schema()})),
        ),
        (ANTHROPIC, "thinking ({\"type\": \"disabled\"})") => {
            with_without(json!({"thinking": {"type": "disabled"}}), anthropic_base())
        }
        (ANTHROPIC, "messages[] (assistant).content[] thinking / redacted_thinking blocks") => {
            let history = |assistant: Value| {
                an(json!({"messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": assistant},
                    {"role": "user", "content": "And?"}
                ]}))
                .unwrap()
            };
            Sample::Request(
                history(json!([
                    {"type": "thinking", "thinking": "A greeting.", "signature": "c2ln"},
                    {"type": "redacted_thinking", "data": "ZGF0YQ=="},
                    {"type": "text", "text": "Hello!"}
                ])),
                history(json!([{"type": "text", "text": "Hello!"}])),
            )
        }
        (ANTHROPIC, "response content[] thinking / redacted_thinking blocks") => Sample::Response(
            anthropic_answer(json!([
                {"type": "thinking", "thinking": "A greeting.", "signature": "c2ln"},
                {"type": "redacted_thinking", "data": "ZGF0YQ=="},
                {"type": "text", "text": "Hello!"}
            ])),
            anthropic_answer(json!([{"type": "text", "text": "Hello!"}])),
        ),
        (ANTHROPIC, "response content[].citations") => Sample::Response(
            anthropic_answer(json!([{"type": "text", "text": "Hello!", "citations": [{
                "type": "char_location", "cited_text": "Hi", "document_index": 0,
                "start_char_index": 0, "end_char_index": 2
            }]}])),
            anthropic_answer(json!([{"type": "text", "text": "Hello!"}])),
        ),

        (GEMINI, "model") => Sample::Request(
            gemini_body(json!({"model": "models/gemini-2.5-flash"})),
            gemini_body(json!({})),
        ),
        (GEMINI, "systemInstruction.role") => Sample::Request(
            gemini_body(json!({"systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]}})),
            gemini_body(json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}})),
        ),
        (GEMINI, "contents[].parts[].thoughtSignature") => Sample::Request(
            gemini_history(json!([{"text": "Hello!", "thoughtSignature": "c2ln"}])),
            gemini_history(json!([{"text": "Hello!"}])),
        ),
        (GEMINI, "contents[].parts[].thought") => Sample::Request(
            gemini_history(json!([{"text": "A greeting.", "thought": true}, {"text": "Hello!"}])),
            gemini_history(json!([{"text": "Hello!"}])),
        ),
        (GEMINI, "tools[].functionDeclarations[].response") => Sample::Request(
            gemini_declaration(json!({"name": "weather", "parametersJsonSchema": schema(),
                "response": {"type": "OBJECT"}})),
            gemini_declaration(json!({"name": "weather", "parametersJsonSchema": schema()})),
        ),
        (GEMINI, "tools[].functionDeclarations[].responseJsonSchema") => Sample::Request(
            gemini_declaration(json!({"name": "weather", "parametersJsonSchema": schema(),
                "responseJsonSchema": {"type": "object"}})),
            gemini_declaration(json!({"name": "weather", "parametersJsonSchema": schema()})),
        ),
        (GEMINI, "safetySettings (BLOCK_NONE / OFF / unspecified thresholds only)") => {
            Sample::Request(
                gemini_body(json!({"safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
                    {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}
                ]})),
                gemini_body(json!({})),
            )
        }
        (GEMINI, "generationConfig.candidateCount (1)") => Sample::Request(
            gemini_config(json!({"candidateCount": 1})),
            gemini_body(json!({})),
        ),
        (GEMINI, "generationConfig.responseModalities ([\"TEXT\"])") => Sample::Request(
            gemini_config(json!({"responseModalities": ["TEXT"]})),
            gemini_body(json!({})),
        ),
        (GEMINI, "generationConfig.responseLogprobs (false)") => Sample::Request(
            gemini_config(json!({"responseLogprobs": false})),
            gemini_body(json!({})),
        ),
        (GEMINI, "generationConfig.enableEnhancedCivicAnswers (false)") => Sample::Request(
            gemini_config(json!({"enableEnhancedCivicAnswers": false})),
            gemini_body(json!({})),
        ),
        (GEMINI, "generationConfig.thinkingConfig (includeThoughts, thinkingBudget -1)") => {
            Sample::Request(
                gemini_config(json!({"thinkingConfig": {"includeThoughts": true, "thinkingBudget": -1}})),
                gemini_body(json!({})),
            )
        }
        _ => return None,
    };
    Some(sample)
}

#[test]
fn every_ignored_field_is_documented_and_accepted_without_effect() {
    let documented = section("ignored-fields");
    let mut failures = Vec::new();
    for (format, entries) in [
        (OPENAI, openai::IGNORED_FIELDS),
        (ANTHROPIC, anthropic::IGNORED_FIELDS),
        (GEMINI, gemini::IGNORED_FIELDS),
    ] {
        for entry in entries {
            let name = format.title();
            if !documented.contains(&format!("`{entry}`")) {
                failures.push(format!(
                    "{name}: `{entry}` is in IGNORED_FIELDS but not in the doc's ignored-fields section"
                ));
            }
            let read = |with: &Value, without: &Value, response: bool| {
                if response {
                    let with = translate::parse_response(format, with).map_err(|e| e.to_string());
                    let without = translate::parse_response(format, without).unwrap();
                    with.map(|with| with == without)
                } else {
                    let with = translate::parse_request(format, with).map_err(|e| e.to_string());
                    let without = translate::parse_request(format, without).unwrap();
                    with.map(|with| with == without)
                }
            };
            let outcome = match ignored_sample(format, entry) {
                None => {
                    failures.push(format!(
                        "{name}: the test has no sample for the ignored field `{entry}` (add one to `ignored_sample`)"
                    ));
                    continue;
                }
                Some(Sample::Request(with, without)) => read(&with, &without, false),
                Some(Sample::Response(with, without)) => read(&with, &without, true),
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => failures.push(format!(
                    "{name}: `{entry}` is accepted but changes what is read"
                )),
                Err(error) => failures.push(format!("{name}: `{entry}` is refused: {error}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "ignored fields disagree with docs/translation.md or the translators:\n- {}",
        failures.join("\n- ")
    );
}
