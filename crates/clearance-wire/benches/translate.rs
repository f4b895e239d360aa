//! What translation costs on the hot path, next to the same-format rewrite it replaces, in the
//! same run: a 4 KB request, a whole answer, and one streamed event.
//!
//! Issue target: a translated non-streaming request adds at most 50 µs over a same-format one
//! for a 4 KB body (request translation + answer translation − the same-format rewrites).

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_wire::request::ClientRequest;
use clearance_wire::response::rewrite_response;
use clearance_wire::sse::SseRewriter;
use clearance_wire::translate::{
    EncoderOptions, RenderOptions, StreamTranslator, translate_response,
};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;

/// A realistic ~4 KB chat request: a system prompt, a few turns, one tool and a tool round trip.
fn openai_request_4kb() -> Vec<u8> {
    let paragraph =
        "The quarterly report covers revenue, churn and the hiring plan for the platform team. ";
    json!({
        "model": "m",
        "max_completion_tokens": 512,
        "temperature": 0.3,
        "messages": [
            {"role": "system", "content": paragraph.repeat(8)},
            {"role": "user", "content": paragraph.repeat(20)},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "lookup_metric", "arguments": "{\"metric\":\"churn\",\"quarter\":\"Q3\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": paragraph.repeat(12)},
            {"role": "user", "content": "Summarise the three most important points."}
        ],
        "tools": [{"type": "function", "function": {"name": "lookup_metric", "description": "Reads a metric",
            "parameters": {"type": "object", "properties": {"metric": {"type": "string"},
            "quarter": {"type": "string"}}, "required": ["metric"]}}}]
    })
    .to_string()
    .into_bytes()
}

fn anthropic_request_4kb() -> Vec<u8> {
    let paragraph =
        "The quarterly report covers revenue, churn and the hiring plan for the platform team. ";
    json!({
        "model": "m",
        "max_tokens": 512,
        "system": paragraph.repeat(8),
        "messages": [
            {"role": "user", "content": paragraph.repeat(20)},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup_metric",
                "input": {"metric": "churn", "quarter": "Q3"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": paragraph.repeat(12)}, {"type": "text", "text": "Summarise the three most important points."}]}
        ],
        "tools": [{"name": "lookup_metric", "description": "Reads a metric", "input_schema": {"type": "object",
            "properties": {"metric": {"type": "string"}, "quarter": {"type": "string"}}, "required": ["metric"]}}]
    })
    .to_string()
    .into_bytes()
}

fn names() -> EncoderOptions {
    EncoderOptions {
        model: "client-model".into(),
        fallback_id: "gen-1".into(),
        own_id: None,
        created: 1_767_225_600,
        include_usage: false,
    }
}

fn requests(c: &mut Criterion) {
    let options = RenderOptions::default();
    let openai = openai_request_4kb();
    let anthropic = anthropic_request_4kb();
    for body in [&openai, &anthropic] {
        let size = body.len();
        assert!(
            (4000..4400).contains(&size),
            "a 4 KB body, not {size} bytes"
        );
    }
    let mut group = c.benchmark_group("request 4 KB");
    group.bench_function("openai -> openai (same format)", |b| {
        b.iter(|| {
            let request =
                ClientRequest::parse(ApiSurface::OpenaiChat, black_box(&openai)).expect("valid");
            black_box(request.upstream_body("up"))
        })
    });
    for (label, target) in [
        ("openai -> anthropic", WireFormat::AnthropicMessages),
        ("openai -> gemini", WireFormat::Gemini),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                let request = ClientRequest::parse(ApiSurface::OpenaiChat, black_box(&openai))
                    .expect("valid");
                black_box(
                    request
                        .translated_body(target, "up", &options)
                        .expect("translates"),
                )
            })
        });
    }
    group.bench_function("anthropic -> anthropic (same format)", |b| {
        b.iter(|| {
            let request =
                ClientRequest::parse(ApiSurface::AnthropicMessages, black_box(&anthropic))
                    .expect("valid");
            black_box(request.upstream_body("up"))
        })
    });
    for (label, target) in [
        ("anthropic -> openai", WireFormat::OpenaiChat),
        ("anthropic -> gemini", WireFormat::Gemini),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                let request =
                    ClientRequest::parse(ApiSurface::AnthropicMessages, black_box(&anthropic))
                        .expect("valid");
                black_box(
                    request
                        .translated_body(target, "up", &options)
                        .expect("translates"),
                )
            })
        });
    }
    group.finish();
}

const OPENAI_ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"Revenue grew 12 percent, churn fell to 2.1 percent, and the platform team will hire four engineers in Q4.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":980,"completion_tokens":31,"total_tokens":1011}}"#;
const ANTHROPIC_ANSWER: &[u8] = br#"{"id":"msg_1","type":"message","role":"assistant","model":"up","content":[{"type":"text","text":"Revenue grew 12 percent, churn fell to 2.1 percent, and the platform team will hire four engineers in Q4."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":980,"output_tokens":31}}"#;
const GEMINI_ANSWER: &[u8] = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Revenue grew 12 percent, churn fell to 2.1 percent, and the platform team will hire four engineers in Q4."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":980,"candidatesTokenCount":31,"totalTokenCount":1011},"modelVersion":"up","responseId":"r1"}"#;

fn answers(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer");
    group.bench_function("openai -> openai (same format)", |b| {
        b.iter(|| {
            black_box(rewrite_response(
                ApiSurface::OpenaiChat,
                black_box(OPENAI_ANSWER),
                "client-model",
            ))
        })
    });
    for (label, from, body) in [
        (
            "anthropic -> openai",
            WireFormat::AnthropicMessages,
            ANTHROPIC_ANSWER,
        ),
        ("gemini -> openai", WireFormat::Gemini, GEMINI_ANSWER),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(translate_response(
                    from,
                    WireFormat::OpenaiChat,
                    black_box(body),
                    &names(),
                ))
            })
        });
    }
    group.bench_function("anthropic -> anthropic (same format)", |b| {
        b.iter(|| {
            black_box(rewrite_response(
                ApiSurface::AnthropicMessages,
                black_box(ANTHROPIC_ANSWER),
                "client-model",
            ))
        })
    });
    for (label, from, body) in [
        ("openai -> anthropic", WireFormat::OpenaiChat, OPENAI_ANSWER),
        ("gemini -> anthropic", WireFormat::Gemini, GEMINI_ANSWER),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(translate_response(
                    from,
                    WireFormat::AnthropicMessages,
                    black_box(body),
                    &names(),
                ))
            })
        });
    }
    group.finish();
}

const OPENAI_EVENT: &[u8] = b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n";
const ANTHROPIC_EVENT: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \"}}\n\n";
const GEMINI_EVENT: &[u8] = b"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello \"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":980,\"candidatesTokenCount\":3,\"totalTokenCount\":983},\"modelVersion\":\"up\",\"responseId\":\"r1\"}\r\n\r\n";

/// A translator already past the stream's start, so each iteration is one text event.
fn started(from: WireFormat, to: WireFormat, first: &[u8]) -> StreamTranslator {
    let mut translator = StreamTranslator::new(from, to, names());
    translator.push(first);
    translator
}

fn stream_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream event");
    group.bench_function("openai -> openai (same format)", |b| {
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "client-model", true);
        b.iter(|| black_box(rewriter.push(black_box(OPENAI_EVENT))))
    });
    let anthropic_start = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":980,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    for (label, from, to, start, event) in [
        (
            "anthropic -> openai",
            WireFormat::AnthropicMessages,
            WireFormat::OpenaiChat,
            &anthropic_start[..],
            ANTHROPIC_EVENT,
        ),
        (
            "gemini -> openai",
            WireFormat::Gemini,
            WireFormat::OpenaiChat,
            GEMINI_EVENT,
            GEMINI_EVENT,
        ),
        (
            "openai -> anthropic",
            WireFormat::OpenaiChat,
            WireFormat::AnthropicMessages,
            OPENAI_EVENT,
            OPENAI_EVENT,
        ),
        (
            "gemini -> anthropic",
            WireFormat::Gemini,
            WireFormat::AnthropicMessages,
            GEMINI_EVENT,
            GEMINI_EVENT,
        ),
    ] {
        group.bench_function(label, |b| {
            let mut translator = started(from, to, start);
            b.iter(|| black_box(translator.push(black_box(event))))
        });
    }
    group.finish();
}

criterion_group!(benches, requests, answers, stream_events);
criterion_main!(benches);
