//! The facts a directive reads from a request body fail closed: for any values in the fields
//! they come from, the gateway either refuses the request or reads exactly what a strict
//! provider-side parse of the same bytes acts on.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use clearance_core::api::ApiSurface;
use clearance_core::facts::Capability;
use clearance_wire::request::ClientRequest;
use proptest::prelude::*;
use serde_json::{Map, Value};

// --- the reference: each provider's strict parse, written apart from the gateway's --------

/// What the providers would act on. `limits` holds one entry per way a provider reads the
/// answer length limit: OpenAI Chat Completions (`max_completion_tokens`, else `max_tokens`),
/// Anthropic and OpenAI-compatible servers (`max_tokens`), OpenAI Responses
/// (`max_output_tokens`), Gemini (`generationConfig.maxOutputTokens`, in either spelling of
/// either name).
#[derive(Debug)]
struct ProviderRead {
    limits: Vec<Option<u64>>,
    tools: bool,
    images: bool,
    stream: bool,
}

/// `Err` names a field some provider would refuse.
fn strict_provider_read(body: &Map<String, Value>) -> Result<ProviderRead, String> {
    fn count(object: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
            Some(other) => Err(format!("{key}: {other}")),
        }
    }
    let completion = count(body, "max_completion_tokens")?;
    let legacy = count(body, "max_tokens")?;
    let mut limits = vec![
        completion.or(legacy),
        legacy,
        count(body, "max_output_tokens")?,
    ];
    for container in ["generationConfig", "generation_config"] {
        match body.get(container) {
            None | Some(Value::Null) => {}
            Some(Value::Object(config)) => {
                limits.push(count(config, "maxOutputTokens")?);
                limits.push(count(config, "max_output_tokens")?);
            }
            Some(other) => return Err(format!("{container}: {other}")),
        }
    }
    let mut tools = false;
    for key in ["tools", "functions"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => tools |= !list.is_empty(),
            Some(other) => return Err(format!("{key}: {other}")),
        }
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("stream: {other}")),
    };
    let images = match body.get("messages") {
        None | Some(Value::Null) => false,
        Some(Value::Array(messages)) => {
            let mut images = false;
            for message in messages {
                let message = message.as_object().ok_or("message")?;
                match message.get("content") {
                    None | Some(Value::Null) => {}
                    Some(content) => images |= content_images(content)?,
                }
            }
            images
        }
        Some(other) => return Err(format!("messages: {other}")),
    };
    Ok(ProviderRead {
        limits,
        tools,
        images,
        stream,
    })
}

/// Content is a string or a list of typed parts; a part of type `image_url`, `input_image`,
/// `image_file` or `image` is an image, and a part's own `content` (a tool result) counts.
fn content_images(content: &Value) -> Result<bool, String> {
    let parts = match content {
        Value::String(_) => return Ok(false),
        Value::Array(parts) => parts,
        other => return Err(format!("content: {other}")),
    };
    let mut images = false;
    for part in parts {
        let part = part.as_object().ok_or("part")?;
        let kind = part
            .get("type")
            .and_then(Value::as_str)
            .ok_or("part type")?;
        images |= ["image_url", "input_image", "image_file", "image"].contains(&kind);
        match part.get("content") {
            None | Some(Value::Null) => {}
            Some(nested) => images |= content_images(nested)?,
        }
    }
    Ok(images)
}

// --- bodies: arbitrary JSON, and the texts that fooled the gateway before -------------------

/// A JSON value as text: arbitrary JSON, or a number written in a form a lax reader takes
/// for an integer.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => json().prop_map(|v| v.to_string()),
        2 => prop::sample::select(vec![
            "5000", "5000.0", "5e3", "5E3", "5000e0", "\"5000\"", "-1", "-0", "0", "0.0", "1",
            "1000", "1001", "18446744073709551615", "18446744073709551616", "1.5", "null",
            "true", "[]", "{}", "\"x\"",
        ])
        .prop_map(str::to_string),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..3000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u32..3000).prop_map(|n| Value::from(f64::from(n))),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        (0u32..3000).prop_map(|n| Value::String(n.to_string())),
        prop::sample::select(vec![
            "image",
            "image_url",
            "input_image",
            "text",
            "tool_result",
            ""
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let key = prop::sample::select(vec![
            "type",
            "content",
            "role",
            "text",
            "image_url",
            "maxOutputTokens",
            "max_output_tokens",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A `generationConfig`: arbitrary, or an object with a limit in one or both spellings.
fn generation_config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        value_text(),
        (
            prop::option::of(value_text()),
            prop::option::of(value_text())
        )
            .prop_map(|(camel, snake)| {
                let mut fields = Vec::new();
                if let Some(v) = camel {
                    fields.push(format!("\"maxOutputTokens\":{v}"));
                }
                if let Some(v) = snake {
                    fields.push(format!("\"max_output_tokens\":{v}"));
                }
                format!("{{{}}}", fields.join(","))
            }),
    ]
}

/// `messages`: arbitrary, or user messages whose content parts have arbitrary types and
/// nested content.
fn messages_text() -> impl Strategy<Value = String> {
    let part =
        (value_text(), prop::option::of(value_text())).prop_map(|(kind, content)| match content {
            Some(content) => format!("{{\"type\":{kind},\"content\":{content}}}"),
            None => format!("{{\"type\":{kind}}}"),
        });
    let content = prop_oneof![
        value_text(),
        prop::collection::vec(part, 0..3).prop_map(|parts| format!("[{}]", parts.join(","))),
    ];
    prop_oneof![
        value_text(),
        prop::collection::vec(content, 0..3).prop_map(|contents| {
            let messages: Vec<String> = contents
                .iter()
                .map(|c| format!("{{\"role\":\"user\",\"content\":{c}}}"))
                .collect();
            format!("[{}]", messages.join(","))
        }),
    ]
}

/// A request body with any of the fields the facts are read from, as bytes.
fn body() -> impl Strategy<Value = String> {
    let fields = (
        prop::option::of(value_text()),
        prop::option::of(value_text()),
        prop::option::of(value_text()),
        prop::option::of(generation_config_text()),
        prop::option::of(generation_config_text()),
        prop::option::of(prop_oneof![
            value_text(),
            Just("true".to_string()),
            Just("false".to_string())
        ]),
        prop::option::of(value_text()),
        prop::option::of(value_text()),
        prop::option::of(messages_text()),
    );
    fields.prop_map(
        |(max_tokens, completion, output, camel, snake, stream, tools, functions, messages)| {
            let named = [
                ("max_tokens", max_tokens),
                ("max_completion_tokens", completion),
                ("max_output_tokens", output),
                ("generationConfig", camel),
                ("generation_config", snake),
                ("stream", stream),
                ("tools", tools),
                ("functions", functions),
                ("messages", messages),
            ];
            let mut text = String::from("{\"model\":\"m\"");
            for (name, value) in named {
                if let Some(value) = value {
                    text.push_str(&format!(",\"{name}\":{value}"));
                }
            }
            text.push('}');
            text
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Either the request is refused, or every fact is what the providers act on. And a
    /// refusal happens only when some provider would refuse the body too, or when the
    /// providers would act on different limits.
    #[test]
    fn facts_are_refused_or_read_as_a_strict_provider_reads_them(
        text in body(),
        anthropic in any::<bool>(),
    ) {
        let surface = if anthropic { ApiSurface::AnthropicMessages } else { ApiSurface::OpenaiChat };
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let reference = strict_provider_read(parsed.as_object().unwrap());
        match (ClientRequest::parse(surface, text.as_bytes()), reference) {
            (Ok(request), Ok(read)) => {
                let set: BTreeSet<u64> = read.limits.iter().flatten().copied().collect();
                prop_assert!(set.len() <= 1, "accepted disagreeing limits {set:?}: {text}");
                prop_assert_eq!(request.max_tokens(), set.first().copied(), "{}", text);
                let mut expected = BTreeSet::new();
                if read.tools {
                    expected.insert(Capability::Tools);
                }
                if read.images {
                    expected.insert(Capability::Images);
                }
                if read.stream {
                    expected.insert(Capability::Stream);
                }
                prop_assert_eq!(request.capabilities(), expected, "{}", text);
                prop_assert_eq!(request.stream, read.stream);
            }
            (Ok(request), Err(why)) => {
                prop_assert!(
                    false,
                    "accepted ({:?}, {:?}) a body a provider refuses ({}): {}",
                    request.max_tokens(), request.capabilities(), why, text
                );
            }
            (Err(error), Ok(read)) => {
                let set: BTreeSet<u64> = read.limits.iter().flatten().copied().collect();
                prop_assert!(
                    set.len() > 1,
                    "refused ({}) a body every provider reads alike: {}", error, text
                );
                prop_assert!(error.param().is_some(), "a refusal names its field: {}", error);
            }
            (Err(error), Err(_)) => {
                prop_assert!(error.param().is_some(), "a refusal names its field: {}", error);
            }
        }
    }
}
