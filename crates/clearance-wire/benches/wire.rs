//! Per-request and per-event cost of the wire rewriting on the hot path.

use clearance_core::api::ApiSurface;
use clearance_wire::request::ClientRequest;
use clearance_wire::response::rewrite_response;
use clearance_wire::sse::SseRewriter;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn request_4kb() -> Vec<u8> {
    let filler = "lorem ipsum dolor sit amet ".repeat(150);
    format!(r#"{{"model":"mythos-5","max_tokens":256,"messages":[{{"role":"user","content":"{filler}"}}]}}"#).into_bytes()
}

fn bench(c: &mut Criterion) {
    let body = request_4kb();
    c.bench_function("request: parse + upstream body (4 KB)", |b| {
        b.iter(|| {
            let request = ClientRequest::parse(ApiSurface::AnthropicMessages, black_box(&body))
                .expect("valid");
            black_box(request.upstream_body("claude-mythos-5"))
        })
    });
    let response = br#"{"id":"msg_1","type":"message","role":"assistant","model":"up","content":[{"type":"text","text":"Hello there, this is a short answer."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":9}}"#;
    c.bench_function("response: rewrite model + read usage", |b| {
        b.iter(|| {
            black_box(rewrite_response(
                ApiSurface::AnthropicMessages,
                black_box(response),
                "mythos-5",
            ))
        })
    });
    let event = b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n";
    c.bench_function("sse: one OpenAI chunk", |b| {
        let mut rewriter = SseRewriter::new(ApiSurface::OpenaiChat, "mythos-5", true);
        b.iter(|| black_box(rewriter.push(black_box(event))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
