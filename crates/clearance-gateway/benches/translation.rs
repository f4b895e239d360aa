//! The gateway's overhead for a translated request next to a same-format one, in one run,
//! over real HTTP against the in-process fake providers.
//!
//! Two measures per case, each a 4 KB non-streaming request:
//! - `latency`: the whole round trip as the client sees it (gateway + fake + loopback);
//! - `overhead`: the gateway's own time per request as it reports it in
//!   `x-clearance-overhead-ms` (time not spent waiting on the provider), which is what
//!   translation adds to. Compare a translated case with the same-format case of its client
//!   API: the difference is the translation's cost inside the full request path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use harness::Harness;
use serde_json::json;

const PARAGRAPH: &str =
    "The quarterly report covers revenue, churn and the hiring plan for the platform team. ";

fn openai_body(model: &str) -> String {
    json!({
        "model": model,
        "max_completion_tokens": 64,
        "messages": [
            {"role": "system", "content": PARAGRAPH.repeat(8)},
            {"role": "user", "content": PARAGRAPH.repeat(24)},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": format!("{} Summarise it.", PARAGRAPH.repeat(14))}
        ]
    })
    .to_string()
}

fn anthropic_body(model: &str) -> String {
    json!({
        "model": model,
        "max_tokens": 64,
        "system": PARAGRAPH.repeat(8),
        "messages": [
            {"role": "user", "content": PARAGRAPH.repeat(24)},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": format!("{} Summarise it.", PARAGRAPH.repeat(14))}
        ]
    })
    .to_string()
}

/// (label, client path, body): same-format first for each client API.
fn cases() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "openai -> openai (same format)",
            "/v1/chat/completions",
            openai_body("gpt-5"),
        ),
        (
            "openai -> anthropic",
            "/v1/chat/completions",
            openai_body("mythos-5"),
        ),
        (
            "openai -> gemini",
            "/v1/chat/completions",
            openai_body("gemini-flash"),
        ),
        (
            "anthropic -> anthropic (same format)",
            "/v1/messages",
            anthropic_body("mythos-5"),
        ),
        (
            "anthropic -> openai",
            "/v1/messages",
            anthropic_body("gpt-5"),
        ),
        (
            "anthropic -> gemini",
            "/v1/messages",
            anthropic_body("gemini-flash"),
        ),
    ]
}

/// Sends one request, checks it was served, and returns the gateway's reported overhead.
async fn served(h: &Harness, path: &str, body: &str) -> Duration {
    let response = h.post(path, body).await;
    assert_eq!(response.status(), 200, "{path} {body}");
    let overhead_ms: f64 = harness::header(&response, "x-clearance-overhead-ms")
        .unwrap()
        .parse()
        .unwrap();
    black_box(response.bytes().await.unwrap());
    Duration::from_secs_f64(overhead_ms / 1000.0)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = runtime.block_on(Harness::start());
    for (_, _, body) in cases() {
        assert!(
            (4000..4600).contains(&body.len()),
            "a 4 KB body, not {}",
            body.len()
        );
    }
    let mut latency = c.benchmark_group("gateway latency, 4 KB non-streaming");
    for (label, path, body) in cases() {
        latency.bench_function(label, |b| {
            b.iter(|| runtime.block_on(served(&h, path, &body)));
        });
    }
    latency.finish();
    let mut overhead = c.benchmark_group("gateway overhead (x-clearance-overhead-ms), 4 KB");
    for (label, path, body) in cases() {
        overhead.bench_function(label, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += served(&h, path, &body).await;
                    }
                    total
                })
            });
        });
    }
    overhead.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
