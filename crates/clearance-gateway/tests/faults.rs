//! Providers that answer 200 and then misbehave (issue 14, item 5): a body that is not JSON,
//! an SSE line that never ends, lines that never end their event, a 10 MB event, one byte a
//! second. Each must cost bounded memory and a bounded time: with a fallback the request is
//! served by it, without one the client gets a clean error in its own shape, after the first
//! event the stream ends with the client's error event, and the gateway stays healthy.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use harness::{Harness, Options, outcomes, sse_events};
use serde_json::Value;

/// mythos-5 (Anthropic, the client's own format: passed through) and open-model (OpenAI,
/// translated for an Anthropic client) fall back to gpt-5 and gemini-flash; fable-5 has
/// nowhere to go. Every attempt gets `attempt_timeout_ms`.
fn routes(attempt_timeout_ms: u64) -> String {
    format!(
        r#"
[[routes]]
model = "mythos-5"
fallbacks = ["gpt-5"]
attempt_timeout_ms = {attempt_timeout_ms}
deadline_ms = 20000

[[routes]]
model = "open-model"
fallbacks = ["gemini-flash"]
attempt_timeout_ms = {attempt_timeout_ms}
deadline_ms = 20000

[[routes]]
model = "fable-5"
attempt_timeout_ms = {attempt_timeout_ms}
deadline_ms = 20000

[breaker]
consecutive_failures = 0
error_rate = 2.0
"#
    )
}

/// The idle timeout between events, short so a stall after the first event ends quickly.
const IDLE_MS: u64 = 1500;

/// A gateway whose routes give each attempt one second.
async fn gateway() -> Harness {
    gateway_with(1000).await
}

/// The fake builds a 10 MB answer (in this test process, unoptimised) before it sends its
/// headers, which takes longer than a second: the cases with one give each attempt more.
async fn gateway_with(attempt_timeout_ms: u64) -> Harness {
    Harness::start_with(Options {
        extra_config: routes(attempt_timeout_ms),
        server_extra: format!("upstream_idle_timeout_ms = {IDLE_MS}\n"),
        ..Options::default()
    })
    .await
}

const TEN_MB: usize = 10 * 1000 * 1000;

/// Each fault: its name, the behavior, and the attempt outcome the record must show for a
/// whole answer and for a stream.
fn faults() -> Vec<(&'static str, Behavior, &'static str, &'static str)> {
    vec![
        (
            "garbage_body",
            Behavior {
                garbage_body: true,
                ..Behavior::default()
            },
            "server_error",
            "broken_stream",
        ),
        (
            "endless_line",
            Behavior {
                endless_line: true,
                ..Behavior::default()
            },
            "broken_stream",
            "broken_stream",
        ),
        (
            "endless_lines",
            Behavior {
                endless_lines: true,
                ..Behavior::default()
            },
            "broken_stream",
            "broken_stream",
        ),
        (
            "byte_interval_ms",
            Behavior {
                byte_interval_ms: Some(1000),
                ..Behavior::default()
            },
            "timeout",
            "timeout",
        ),
    ]
}

fn anthropic(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":64,"stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

fn openai(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

fn header(response: &reqwest::Response, name: &str) -> String {
    harness::header(response, name).unwrap_or("").to_string()
}

/// A normal request to every model of the test answers 200 from that model, and `/readyz`
/// is 200: nothing a fault did outlives its request.
async fn assert_healthy(h: &Harness) {
    h.fake.reset();
    for model in ["mythos-5", "open-model", "fable-5"] {
        for stream in [false, true] {
            let response = h.post("/v1/messages", &anthropic(model, stream)).await;
            assert_eq!(response.status(), 200, "{model} stream {stream}");
            assert_eq!(header(&response, "x-clearance-served-model"), model);
            let text = response.text().await.unwrap();
            if stream {
                assert!(text.contains("event: message_stop"), "{text}");
            }
        }
    }
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_fault_fails_over_to_the_fallback() {
    let h = gateway().await;
    // (primary, its upstream id, the fallback that must serve)
    let routes = [
        ("mythos-5", "claude-mythos-5", "gpt-5"),
        ("open-model", "llama-4-70b-instruct", "gemini-flash"),
    ];
    for (name, behavior, whole_outcome, stream_outcome) in faults() {
        for (primary, upstream, fallback) in routes {
            for stream in [false, true] {
                let outcome = if stream {
                    stream_outcome
                } else {
                    whole_outcome
                };
                h.fake.set_behavior(Some(upstream), behavior.clone());
                let started = Instant::now();
                let response = h.post("/v1/messages", &anthropic(primary, stream)).await;
                let status = response.status();
                let served = header(&response, "x-clearance-served-model");
                let id = header(&response, "x-clearance-request-id");
                let text = response.text().await.unwrap();
                let took = started.elapsed();
                println!(
                    "{name} on {primary} (stream {stream}): {status}, served by {served}, {} ms",
                    took.as_millis()
                );
                let case = format!("{name} on {primary} (stream {stream})");
                assert_eq!(status, 200, "{case}: {text}");
                assert_eq!(served, fallback, "{case}");
                if stream {
                    assert!(text.contains("event: message_stop"), "{case}: {text}");
                    assert!(!text.contains("event: error"), "{case}: {text}");
                } else {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(body["type"], "message", "{case}: {text}");
                    assert_eq!(body["model"], fallback);
                }
                // The attempt timeout (1 s) bounds a trickle; the caps end the others at once.
                assert!(took < Duration::from_secs(4), "{case}: {took:?}");
                let record = h.record_for(&id).await;
                assert_eq!(record["served_model"], fallback, "{record}");
                assert_eq!(
                    outcomes(&record),
                    [
                        (primary.to_string(), outcome.to_string()),
                        (fallback.to_string(), "served".to_string())
                    ],
                    "{case}: {record}"
                );
            }
        }
    }
    assert_healthy(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_answer_fails_over_or_is_a_clean_error() {
    let h = gateway_with(15_000).await;
    let huge = Behavior {
        huge_event_bytes: Some(TEN_MB),
        ..Behavior::default()
    };
    for (primary, upstream, fallback) in [
        ("mythos-5", "claude-mythos-5", "gpt-5"),
        ("open-model", "llama-4-70b-instruct", "gemini-flash"),
    ] {
        h.fake.set_behavior(Some(upstream), huge.clone());
        let started = Instant::now();
        let response = h.post("/v1/messages", &anthropic(primary, false)).await;
        let status = response.status();
        let served = header(&response, "x-clearance-served-model");
        let id = header(&response, "x-clearance-request-id");
        let body: Value = response.json().await.unwrap();
        println!(
            "10 MB answer from {primary}: {status}, served by {served}, {} ms",
            started.elapsed().as_millis()
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(served, fallback);
        assert_eq!(body["model"], fallback);
        let record = h.record_for(&id).await;
        assert_eq!(
            outcomes(&record),
            [
                (primary.to_string(), "broken_stream".to_string()),
                (fallback.to_string(), "served".to_string())
            ],
            "{record}"
        );
    }
    h.fake.set_behavior(Some("claude-fable-5"), huge);
    let response = h.post("/v1/messages", &anthropic("fable-5", false)).await;
    let status = response.status().as_u16();
    let id = header(&response, "x-clearance-request-id");
    let body: Value = response.json().await.unwrap();
    println!("10 MB answer from fable-5 (no fallback): {status} {body}");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the gateway's limit"),
        "{body}"
    );
    let record = h.record_for(&id).await;
    assert_eq!(record["error_class"], "upstream_too_large", "{record}");
    assert_healthy(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fallback_each_fault_is_a_clean_error_in_the_clients_shape() {
    let h = gateway().await;
    for (name, behavior, _, _) in faults() {
        for stream in [false, true] {
            h.fake
                .set_behavior(Some("claude-fable-5"), behavior.clone());
            let expected = if name == "byte_interval_ms" { 504 } else { 502 };
            // Anthropic's own client, and an OpenAI client (translated).
            let response = h.post("/v1/messages", &anthropic("fable-5", stream)).await;
            let status = response.status().as_u16();
            let id = header(&response, "x-clearance-request-id");
            let body: Value = response.json().await.unwrap();
            println!("{name} (stream {stream}), Anthropic client: {status} {body}");
            assert_eq!(status, expected, "{name} stream {stream}: {body}");
            assert_eq!(body["type"], "error", "{body}");
            assert_eq!(body["error"]["type"], "api_error", "{body}");
            let record = h.record_for(&id).await;
            assert_eq!(record["status"], expected, "{record}");
            assert!(record["error_class"].is_string(), "{record}");

            let response = h
                .post("/v1/chat/completions", &openai("fable-5", stream))
                .await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            println!("{name} (stream {stream}), OpenAI client: {status} {body}");
            assert_eq!(status, expected, "{name} stream {stream}: {body}");
            assert_eq!(body["error"]["code"], "upstream_error", "{body}");
        }
    }
    assert_healthy(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_first_event_a_huge_event_ends_the_stream_with_an_error_event() {
    let h = gateway_with(15_000).await;
    for (primary, upstream) in [
        ("mythos-5", "claude-mythos-5"),
        ("open-model", "llama-4-70b-instruct"),
    ] {
        h.fake.set_behavior(
            Some(upstream),
            Behavior {
                huge_event_bytes: Some(TEN_MB),
                ..Behavior::default()
            },
        );
        let started = Instant::now();
        let response = h.post("/v1/messages", &anthropic(primary, true)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-clearance-served-model"), primary);
        let id = header(&response, "x-clearance-request-id");
        let text = response.text().await.unwrap();
        println!(
            "huge event on {primary}: 200, {} bytes relayed, {} ms",
            text.len(),
            started.elapsed().as_millis()
        );
        assert!(text.len() < 64 * 1024, "the huge event is not relayed");
        let events = sse_events(&text);
        assert_eq!(events[0].0.as_deref(), Some("message_start"), "{text}");
        let (name, data) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{text}");
        let error: Value = serde_json::from_str(data).unwrap();
        assert_eq!(error["error"]["type"], "api_error");
        let record = h.record_for(&id).await;
        assert_eq!(
            record["error_class"], "upstream_event_too_large",
            "{record}"
        );
        assert_eq!(record["served_model"], primary);
    }
    // An OpenAI client gets OpenAI's error chunk.
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            huge_event_bytes: Some(TEN_MB),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/chat/completions", &openai("gpt-5", true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let last = sse_events(&text).pop().unwrap().1;
    let error: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(error["error"]["code"], "upstream_event_too_large", "{text}");
    assert_healthy(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_first_event_a_stalled_stream_ends_with_an_error_event() {
    let h = gateway().await;
    // The first event comes at once, the next ones 5 s apart: past the 1.5 s idle timeout.
    let stalling = Behavior {
        chunk_delay_ms: Some(5_000),
        ..Behavior::default()
    };
    for (primary, upstream) in [
        ("mythos-5", "claude-mythos-5"),
        ("open-model", "llama-4-70b-instruct"),
    ] {
        h.fake.set_behavior(Some(upstream), stalling.clone());
        let started = Instant::now();
        let response = h.post("/v1/messages", &anthropic(primary, true)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-clearance-served-model"), primary);
        let id = header(&response, "x-clearance-request-id");
        let text = response.text().await.unwrap();
        let took = started.elapsed();
        println!(
            "stall after the first event on {primary}: 200, ended after {} ms",
            took.as_millis()
        );
        assert!(took >= Duration::from_millis(IDLE_MS), "{took:?}");
        assert!(took < Duration::from_millis(IDLE_MS + 2_500), "{took:?}");
        let events = sse_events(&text);
        assert_eq!(events[0].0.as_deref(), Some("message_start"), "{text}");
        let (name, data) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{text}");
        assert!(
            data.contains("sent no complete event for 1500 ms"),
            "{data}"
        );
        let record = h.record_for(&id).await;
        assert_eq!(record["error_class"], "upstream_stream_stalled", "{record}");
    }
    // A trickle after the first event stalls the same way: bytes are not events.
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            byte_interval_ms: Some(2),
            reply: Some("x".repeat(4_000)),
            ..Behavior::default()
        },
    );
    let response = h.post("/v1/chat/completions", &openai("gpt-5", true)).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-clearance-request-id");
    let text = response.text().await.unwrap();
    assert!(text.contains("upstream_stream_stalled"), "{text}");
    let record = h.record_for(&id).await;
    assert_eq!(record["error_class"], "upstream_stream_stalled", "{record}");
    assert_healthy(&h).await;
}
