//! Property tests: a conversation keeps its meaning through every wire format and between any
//! two of them.
//!
//! The generated conversations use only what all three formats can express (text, base64
//! images, tools, tool calls and results, tool choice, sampling, stop sequences, caps), so
//! nothing may be refused and nothing may change. OpenAI Responses can express all of it but
//! stop sequences: its answers and streams are checked with the others', its requests
//! without stop sequences. What a format legitimately writes
//! differently is normalised first (see [`normalize`]): adjacent turns of one role merged,
//! and the request fields a format carries outside its body (Gemini's model and stream flag;
//! OpenAI's usage request).

#![allow(clippy::unwrap_used)]

mod common;

use clearance_core::api::WireFormat;
use clearance_core::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, ToolDef, Usage,
};
use clearance_wire::translate::{self, RenderOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];

/// The formats whose answers and streams are checked: [`FORMATS`] and OpenAI Responses.
const ANSWER_FORMATS: [WireFormat; 4] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
    WireFormat::OpenaiResponses,
];

fn words() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 .,!?'é]{0,24}"
}

fn tool_names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z][a-z_]{0,11}", 0..4)
        .prop_map(|names| names.into_iter().collect())
}

fn tool_def(name: String, description: Option<String>) -> ToolDef {
    ToolDef {
        name,
        description,
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]
        }),
    }
}

fn arguments() -> impl Strategy<Value = Value> {
    (words(), proptest::option::of(0u32..30)).prop_map(|(city, days)| match days {
        Some(days) => json!({"city": city, "days": days}),
        None => json!({"city": city}),
    })
}

fn image() -> impl Strategy<Value = Part> {
    (
        prop_oneof![Just("image/png"), Just("image/jpeg")],
        "[A-Za-z0-9+/]{4,40}",
    )
        .prop_map(|(media_type, data)| Part::Image {
            image: Image::Base64 {
                media_type: media_type.to_string(),
                data: format!("{data}=="),
            },
        })
}

/// One exchange: a user turn, then the assistant's answer (text and/or tool calls); tool
/// calls are answered in the next user turn.
#[derive(Debug, Clone)]
struct Exchange {
    user_text: String,
    image: Option<Part>,
    answer: Option<String>,
    calls: Vec<(usize, Value)>,
    results: Vec<String>,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        words(),
        proptest::option::of(image()),
        proptest::option::of(words()),
        proptest::collection::vec((0usize..4, arguments()), 0..3),
        proptest::collection::vec(words(), 3),
    )
        .prop_map(|(user_text, image, answer, calls, results)| Exchange {
            user_text,
            image,
            answer,
            calls,
            results,
        })
}

/// A valid conversation: starts with the user, every tool call answered with its id.
fn conversation(tools: &[String], exchanges: Vec<Exchange>) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut pending_results: Vec<Part> = Vec::new();
    let mut call_count = 0;
    for exchange in exchanges {
        let mut user = std::mem::take(&mut pending_results);
        user.push(Part::text(exchange.user_text));
        user.extend(exchange.image);
        messages.push(Message {
            role: Role::User,
            content: user,
        });
        let mut assistant: Vec<Part> = exchange.answer.into_iter().map(Part::text).collect();
        if !tools.is_empty() {
            for ((tool, args), result) in exchange.calls.into_iter().zip(exchange.results) {
                call_count += 1;
                let id = format!("call_{call_count}");
                assistant.push(Part::ToolCall {
                    id: id.clone(),
                    name: tools[tool % tools.len()].clone(),
                    arguments: args,
                });
                pending_results.push(Part::ToolResult {
                    call_id: id,
                    content: vec![Part::text(result)],
                    is_error: false,
                });
            }
        }
        if assistant.is_empty() {
            assistant.push(Part::text("ok"));
        }
        messages.push(Message {
            role: Role::Assistant,
            content: assistant,
        });
    }
    if !pending_results.is_empty() {
        messages.push(Message {
            role: Role::User,
            content: pending_results,
        });
    }
    messages
}

prop_compose! {
    fn request()(
        system in proptest::collection::vec(words(), 0..3),
        tools in tool_names(),
        descriptions in proptest::collection::vec(proptest::option::of(words()), 4),
        exchanges in proptest::collection::vec(exchange(), 1..4),
        choice in 0u8..5,
        max_tokens in 1u64..100_000,
        temperature in proptest::option::of((0u32..=100).prop_map(|t| f64::from(t) / 100.0)),
        top_p in proptest::option::of((1u32..=100).prop_map(|t| f64::from(t) / 100.0)),
        stop in proptest::collection::vec("[a-z#]{1,6}", 0..3),
        stream in any::<bool>(),
    ) -> ChatRequest {
        let tool_choice = match (tools.first(), choice) {
            (None, _) | (_, 0) => None,
            (_, 1) => Some(ToolChoice::Auto),
            (_, 2) => Some(ToolChoice::None),
            (_, 3) => Some(ToolChoice::Required),
            (Some(first), _) => Some(ToolChoice::Tool { name: first.clone() }),
        };
        let messages = conversation(&tools, exchanges);
        ChatRequest {
            model: "some-model".into(),
            system,
            messages,
            tools: tools.into_iter().zip(descriptions).map(|(n, d)| tool_def(n, d)).collect(),
            tool_choice,
            max_tokens: Some(max_tokens),
            temperature,
            top_p,
            stop,
            response_format: Some(ResponseFormat::Text).filter(|_| choice == 4),
            stream,
            ..ChatRequest::default()
        }
    }
}

/// The request as `format`'s body can carry it.
fn normalize(format: WireFormat, request: ChatRequest) -> ChatRequest {
    let mut request = request.with_merged_turns();
    request.include_usage = false;
    if request.response_format == Some(ResponseFormat::Text) {
        // "Plain text" is every format's default; not all of them can say it explicitly.
        request.response_format = None;
    }
    if format == WireFormat::Gemini {
        request.model = String::new();
        request.stream = false;
    }
    request
}

fn through(format: WireFormat, request: &ChatRequest) -> ChatRequest {
    let body =
        translate::render_request(format, request, &request.model, &RenderOptions::default())
            .unwrap_or_else(|e| panic!("{format:?} refused a common request: {e}"));
    translate::parse_request(format, &body)
        .unwrap_or_else(|e| panic!("{format:?} cannot read its own body: {e}\n{body:#}"))
}

/// Text and tool calls in the order produced, a stop reason and usage.
fn response() -> impl Strategy<Value = ChatResponse> {
    (
        proptest::option::of(words()),
        proptest::collection::vec(("[a-z]{1,8}", arguments()), 0..3),
        any::<bool>(),
        (1u64..10_000, 1u64..10_000),
    )
        .prop_map(|(text, calls, capped, (input, output))| {
            let mut content: Vec<Part> = text.into_iter().map(Part::text).collect();
            let has_calls = !calls.is_empty();
            for (i, (name, arguments)) in calls.into_iter().enumerate() {
                content.push(Part::ToolCall {
                    id: format!("call_{i}"),
                    name,
                    arguments,
                });
            }
            let stop_reason = match (has_calls, capped) {
                (true, _) => StopReason::ToolUse,
                (false, true) => StopReason::MaxTokens,
                (false, false) => StopReason::EndTurn,
            };
            ChatResponse {
                id: Some("resp_1".into()),
                model: "some-model".into(),
                content,
                stop_reason: Some(stop_reason),
                usage: Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(output),
                },
            }
        })
}

/// What a stream means: its blocks (text joined; tool calls with parsed arguments), how it
/// stopped, its final usage, whether it ended properly.
#[derive(Debug, PartialEq)]
struct Meaning {
    blocks: Vec<(String, String, Value)>,
    stop: Option<StopReason>,
    usage: Usage,
    ended: bool,
}

fn meaning(events: &[StreamEvent]) -> Meaning {
    let mut blocks: Vec<(String, String, String)> = Vec::new();
    let mut stop = None;
    let mut usage = Usage::default();
    let mut ended = false;
    for event in events {
        match event {
            StreamEvent::Start { usage: u, .. } | StreamEvent::Usage { usage: u } => {
                usage = usage.updated(*u);
            }
            StreamEvent::TextDelta { text } => match blocks.last_mut() {
                Some((kind, _, body)) if kind == "text" => body.push_str(text),
                _ => blocks.push(("text".into(), String::new(), text.clone())),
            },
            StreamEvent::ToolCallStart { id, name } => {
                blocks.push((format!("tool:{id}"), name.clone(), String::new()));
            }
            StreamEvent::ToolCallArguments { json } => {
                if let Some((_, _, body)) = blocks.last_mut() {
                    body.push_str(json);
                }
            }
            StreamEvent::Stop { reason } => stop = Some(reason.clone()),
            StreamEvent::Error { message } => panic!("error event: {message}"),
            StreamEvent::End => ended = true,
        }
    }
    let blocks = blocks
        .into_iter()
        .map(|(kind, name, body)| {
            let value = if kind == "text" {
                Value::String(body)
            } else {
                serde_json::from_str(&body).unwrap_or(Value::Null)
            };
            (kind, name, value)
        })
        .collect();
    Meaning {
        blocks,
        stop,
        usage,
        ended,
    }
}

/// A stream's events as a provider might send them: text in pieces, tool calls with their
/// arguments split, a stop reason and usage.
fn stream() -> impl Strategy<Value = Vec<StreamEvent>> {
    (
        proptest::collection::vec(words(), 0..4),
        proptest::collection::vec(("[a-z]{1,8}", arguments(), 1usize..4), 0..3),
        (1u64..10_000, 1u64..10_000),
    )
        .prop_map(|(texts, calls, (input, output))| {
            let mut events = vec![StreamEvent::Start {
                id: Some("resp_1".into()),
                model: "some-model".into(),
                usage: Usage::default(),
            }];
            events.extend(
                texts
                    .into_iter()
                    .map(|text| StreamEvent::TextDelta { text }),
            );
            let has_calls = !calls.is_empty();
            for (i, (name, arguments, pieces)) in calls.into_iter().enumerate() {
                events.push(StreamEvent::ToolCallStart {
                    id: format!("call_{i}"),
                    name,
                });
                let json = arguments.to_string();
                let cut = json.len() / pieces;
                let mut rest = json.as_str();
                while !rest.is_empty() {
                    let at = (1..=cut.max(1).min(rest.len()))
                        .rev()
                        .find(|&at| rest.is_char_boundary(at))
                        .unwrap_or(rest.len());
                    events.push(StreamEvent::ToolCallArguments {
                        json: rest[..at].to_string(),
                    });
                    rest = &rest[at..];
                }
            }
            events.push(StreamEvent::Stop {
                reason: if has_calls {
                    StopReason::ToolUse
                } else {
                    StopReason::EndTurn
                },
            });
            events.push(StreamEvent::Usage {
                usage: Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(output),
                },
            });
            events.push(StreamEvent::End);
            events
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Written in a format and read back, a request means what it meant.
    #[test]
    fn requests_survive_each_format(request in request()) {
        for format in FORMATS {
            prop_assert_eq!(
                normalize(format, through(format, &request)),
                normalize(format, request.clone()),
                "through {:?}", format
            );
        }
    }

    /// A client's request read in its format and sent to a provider of another arrives with
    /// the same meaning.
    #[test]
    fn requests_survive_every_client_to_provider_pair(request in request()) {
        for client in FORMATS {
            let as_client_sent = through(client, &request);
            for provider in FORMATS {
                let arrived = through(provider, &as_client_sent);
                prop_assert_eq!(
                    normalize(WireFormat::Gemini, arrived),
                    normalize(WireFormat::Gemini, request.clone()),
                    "{:?} client to {:?} provider", client, provider
                );
            }
        }
    }

    /// The Responses API has no stop sequences, the one thing the generated requests hold
    /// that it cannot say; without them, a request keeps its meaning through it, as the
    /// client's format and as the provider's.
    #[test]
    fn requests_without_stop_sequences_survive_the_responses_api(request in request()) {
        let request = ChatRequest { stop: Vec::new(), ..request };
        let responses = WireFormat::OpenaiResponses;
        prop_assert_eq!(
            normalize(responses, through(responses, &request)),
            normalize(responses, request.clone())
        );
        for other in FORMATS {
            let to_other = through(other, &through(responses, &request));
            prop_assert_eq!(
                normalize(WireFormat::Gemini, to_other),
                normalize(WireFormat::Gemini, request.clone()),
                "{:?} client to {:?} provider", responses, other
            );
            let from_other = through(responses, &through(other, &request));
            prop_assert_eq!(
                normalize(WireFormat::Gemini, from_other),
                normalize(WireFormat::Gemini, request.clone()),
                "{:?} client to {:?} provider", other, responses
            );
        }
    }

    /// A whole answer written in a format and read back is the same answer.
    #[test]
    fn answers_survive_each_format(answer in response()) {
        for format in ANSWER_FORMATS {
            let body = translate::render_response(format, &answer, common::CREATED);
            let again = translate::parse_response(format, &body)
                .unwrap_or_else(|e| panic!("{format:?}: {e}\n{body:#}"));
            prop_assert_eq!(&again, &answer, "through {:?}", format);
        }
    }

    /// A stream encoded for any client from any provider's decoding keeps its blocks, stop
    /// reason, usage and proper end.
    #[test]
    fn streams_keep_their_meaning_across_formats(events in stream()) {
        let expected = meaning(&events);
        for provider in ANSWER_FORMATS {
            let provider_bytes = common::encode(provider, &events, common::encoder_options("some-model"));
            let decoded = common::decode(provider, &provider_bytes, 5);
            prop_assert_eq!(meaning(&decoded), meaning(&events), "provider {:?}", provider);
            for client in ANSWER_FORMATS {
                let client_bytes = common::encode(client, &decoded, common::encoder_options("some-model"));
                let seen = common::decode(client, &client_bytes, 3);
                prop_assert_eq!(&meaning(&seen), &expected, "{:?} provider to {:?} client", provider, client);
            }
        }
    }
}
