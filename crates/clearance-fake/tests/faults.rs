//! Injected faults over real HTTP, as a gateway's client sees them: delays, paced streams,
//! streams cut mid-way, refused connections, per-model overrides, recovery after `fail_times`,
//! in each of the three APIs.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use common::{
    anthropic_body, gemini_body, gemini_url, openai_body, parse_sse, post_anthropic, post_gemini,
    post_openai, read_until_error, start,
};
use futures::StreamExt;
use serde_json::Value;

#[tokio::test]
async fn delay_holds_back_the_answer() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            delay_ms: Some(300),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let response = post_openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    let response = post_anthropic(&server, &anthropic_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    let response = post_gemini(&server, "m", &gemini_body("hi"), false).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.shutdown().await;
}

#[tokio::test]
async fn chunk_delay_paces_the_stream() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            chunk_delay_ms: Some(40),
            reply: Some("a b c d e".into()),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let response = post_openai(&server, &openai_body("m", "hi", true)).await;
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    let total = started.elapsed();
    // 8 events (role, 5 words, finish, [DONE]) means 7 gaps of 40 ms.
    assert!(total >= Duration::from_millis(280), "{total:?}");
    assert!(
        first_at + Duration::from_millis(200) < total,
        "first event must not wait for the last"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn openai_stream_dropped_mid_way_is_an_error() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            drop_after_events: Some(3),
            ..Behavior::default()
        },
    );
    let response = post_openai(&server, &openai_body("m", "tell me a long story", true)).await;
    assert_eq!(response.status(), 200);
    let (received, failed) = read_until_error(response).await;
    assert!(failed, "client must see the cut as an error");
    let events = parse_sse(&received);
    assert_eq!(events.len(), 3, "{received}");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    // Non-streaming requests are not affected by a stream cut.
    assert_eq!(
        post_openai(&server, &openai_body("m", "hi", false))
            .await
            .status(),
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_stream_dropped_mid_way_is_an_error() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            drop_after_events: Some(4),
            ..Behavior::default()
        },
    );
    let response =
        post_anthropic(&server, &anthropic_body("m", "tell me a long story", true)).await;
    let (received, failed) = read_until_error(response).await;
    assert!(failed);
    let names: Vec<String> = parse_sse(&received)
        .into_iter()
        .map(|e| e.event.unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_stream_dropped_mid_way_is_an_error() {
    let server = start().await;
    server.set_behavior(
        Some("gemini-flaky"),
        Behavior {
            drop_after_events: Some(2),
            chunk_delay_ms: Some(5),
            ..Behavior::default()
        },
    );
    let response = post_gemini(
        &server,
        "gemini-flaky",
        &gemini_body("tell me a long story"),
        true,
    )
    .await;
    assert_eq!(response.status(), 200);
    let (received, failed) = read_until_error(response).await;
    assert!(failed, "client must see the cut as an error");
    let events = parse_sse(&received);
    assert_eq!(events.len(), 2, "{received}");
    for event in &events {
        assert!(
            event.json()["candidates"][0].get("finishReason").is_none(),
            "the cut comes before the finish"
        );
    }
    assert_eq!(
        post_gemini(&server, "gemini-flaky", &gemini_body("hi"), false)
            .await
            .status(),
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_failures_run_out_after_fail_times() {
    let server = start().await;
    server.set_behavior(
        Some("gemini-flaky"),
        Behavior {
            status: Some(503),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    let first = post_gemini(&server, "gemini-flaky", &gemini_body("hi"), true).await;
    assert_eq!(first.status(), 503);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    let second = post_gemini(&server, "gemini-flaky", &gemini_body("hi"), true).await;
    assert_eq!(second.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn refused_connection_is_a_transport_error() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            refuse_connection: true,
            ..Behavior::default()
        },
    );
    let client = common::client();
    let openai = client
        .post(format!("{}/chat/completions", server.openai_base_url()))
        .json(&openai_body("m", "hi", false))
        .send()
        .await;
    let error = openai.expect_err("a refused connection must not produce a response");
    assert!(error.status().is_none());

    let anthropic = client
        .post(format!("{}/v1/messages", server.anthropic_base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("m", "hi", true))
        .send()
        .await;
    assert!(anthropic.is_err());

    for stream in [false, true] {
        let gemini = client
            .post(gemini_url(&server, "gemini-test", stream))
            .json(&gemini_body("hi"))
            .send()
            .await;
        let error = gemini.expect_err("a refused connection must not produce a response");
        assert!(error.status().is_none());
    }

    server.set_behavior(None, Behavior::default());
    assert_eq!(
        post_openai(&server, &openai_body("m", "hi", false))
            .await
            .status(),
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn behavior_is_chosen_per_model() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            status: Some(500),
            ..Behavior::default()
        },
    );
    server.set_behavior(Some("healthy"), Behavior::default());
    server.set_behavior(
        Some("limited"),
        Behavior {
            status: Some(429),
            ..Behavior::default()
        },
    );

    assert_eq!(
        post_openai(&server, &openai_body("healthy", "hi", false))
            .await
            .status(),
        200
    );
    assert_eq!(
        post_openai(&server, &openai_body("limited", "hi", false))
            .await
            .status(),
        429
    );
    assert_eq!(
        post_openai(&server, &openai_body("anything", "hi", false))
            .await
            .status(),
        500
    );
    assert_eq!(
        post_anthropic(&server, &anthropic_body("limited", "hi", false))
            .await
            .status(),
        429
    );
    assert_eq!(
        post_anthropic(&server, &anthropic_body("healthy", "hi", false))
            .await
            .status(),
        200
    );

    server.reset();
    assert_eq!(
        post_openai(&server, &openai_body("limited", "hi", false))
            .await
            .status(),
        200
    );
    assert_eq!(server.requests().len(), 1, "reset forgets earlier requests");
    server.shutdown().await;
}

#[tokio::test]
async fn fail_times_lets_the_provider_recover() {
    let server = start().await;
    server.set_behavior(
        Some("flaky"),
        Behavior {
            status: Some(503),
            fail_times: Some(2),
            ..Behavior::default()
        },
    );
    let statuses = [
        post_openai(&server, &openai_body("flaky", "hi", false))
            .await
            .status()
            .as_u16(),
        post_openai(&server, &openai_body("flaky", "hi", false))
            .await
            .status()
            .as_u16(),
        post_openai(&server, &openai_body("flaky", "hi", false))
            .await
            .status()
            .as_u16(),
    ];
    assert_eq!(statuses, [503, 503, 200]);
    server.shutdown().await;
}

#[tokio::test]
async fn requests_are_recorded_with_selected_headers() {
    let server = start().await;
    let client = common::client();
    client
        .post(format!("{}/chat/completions", server.openai_base_url()))
        .bearer_auth("sk-test")
        .header("user-agent", "not-recorded")
        .json(&openai_body("gpt-a", "first", false))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{}/v1/messages", server.anthropic_base_url()))
        .header("x-api-key", "ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("claude-b", "second", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].header("user-agent"), None);
    assert_eq!(requests[0].model(), Some("gpt-a"));
    assert_eq!(requests[1].path, "/v1/messages");
    assert_eq!(requests[1].header("x-api-key"), Some("ant-test"));
    assert_eq!(requests[1].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(requests[1].body["messages"][0]["content"], "second");
    assert_eq!(requests[1].body["stream"], Value::Bool(true));
    assert!(requests.iter().all(|r| r.query.is_none()));

    server.clear_requests();
    assert!(server.requests().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn refused_connection_writes_nothing_at_all() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start().await;
    server.set_behavior(
        Some("down"),
        Behavior {
            refuse_connection: true,
            ..Behavior::default()
        },
    );
    let body = r#"{"model":"down","messages":[]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    // Either a clean close (EOF) or a reset, but never a byte of HTTP.
    if let Ok(Ok(_)) = read {
        assert!(
            received.is_empty(),
            "{}",
            String::from_utf8_lossy(&received)
        );
    } else {
        assert!(
            matches!(read, Ok(Err(_))),
            "connection was neither closed nor reset"
        );
    }
    server.shutdown().await;
}

// Broken answers: what a gateway must survive with bounded memory.

fn broken(behavior: Behavior) -> Behavior {
    Behavior {
        fail_times: Some(1),
        ..behavior
    }
}

#[tokio::test]
async fn garbage_body_is_a_200_that_is_not_json_then_recovers() {
    let server = start().await;
    server.set_behavior(
        Some("m"),
        broken(Behavior {
            garbage_body: true,
            ..Behavior::default()
        }),
    );
    let response = post_openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "{body:?}");
    // fail_times: the next answer is a normal one.
    let response = post_openai(&server, &openai_body("m", "hi", false)).await;
    assert!(response.json::<Value>().await.unwrap()["choices"].is_array());

    // Streams: one event whose data is not JSON, then the end, in every API.
    let garbage = Behavior {
        garbage_body: true,
        ..Behavior::default()
    };
    server.set_behavior(Some("m"), garbage);
    let streams = [
        post_openai(&server, &openai_body("m", "hi", true)).await,
        post_anthropic(&server, &anthropic_body("m", "hi", true)).await,
        post_gemini(&server, "m", &gemini_body("hi"), true).await,
    ];
    for response in streams {
        assert_eq!(response.status(), 200);
        let events = parse_sse(&response.text().await.unwrap());
        assert_eq!(events.len(), 1);
        assert!(serde_json::from_str::<Value>(&events[0].data).is_err());
    }
    server.shutdown().await;
}

/// Reads up to `limit` bytes of the body; returns them and whether the body ended first.
async fn read_at_most(response: reqwest::Response, limit: usize) -> (Vec<u8>, bool) {
    let mut stream = response.bytes_stream();
    let mut read = Vec::new();
    while read.len() < limit {
        match stream.next().await {
            Some(chunk) => read.extend_from_slice(&chunk.unwrap()),
            None => return (read, true),
        }
    }
    (read, false)
}

#[tokio::test]
async fn endless_line_never_sends_a_newline() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            endless_line: true,
            ..Behavior::default()
        },
    );
    let response = post_anthropic(&server, &anthropic_body("m", "hi", true)).await;
    assert_eq!(response.status(), 200);
    let (read, ended) = read_at_most(response, 4 << 20).await;
    assert!(!ended, "the body must not end");
    assert!(read.starts_with(b"data: x"));
    assert!(!read.contains(&b'\n'));

    let response = post_openai(&server, &openai_body("m", "hi", false)).await;
    let (read, ended) = read_at_most(response, 1 << 20).await;
    assert!(!ended);
    assert!(read.starts_with(b"{\"text\":\"xxx"));
    assert!(serde_json::from_slice::<Value>(&read).is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn endless_lines_never_end_the_event() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            endless_lines: true,
            ..Behavior::default()
        },
    );
    let response = post_gemini(&server, "m", &gemini_body("hi"), true).await;
    assert_eq!(response.status(), 200);
    let (read, ended) = read_at_most(response, 4 << 20).await;
    assert!(!ended);
    assert!(read.starts_with(b"data: x"));
    assert!(read.iter().filter(|b| **b == b'\n').count() > 1000);
    assert!(!read.windows(2).any(|w| w == b"\n\n"), "no event may end");
    server.shutdown().await;
}

#[tokio::test]
async fn huge_event_bytes_sends_one_event_that_large() {
    const HUGE: usize = 10 * 1000 * 1000;
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            huge_event_bytes: Some(HUGE),
            ..Behavior::default()
        },
    );
    let response = post_openai(&server, &openai_body("m", "hi", true)).await;
    let events = parse_sse(&response.text().await.unwrap());
    let sizes: Vec<usize> = events.iter().map(|e| e.data.len()).collect();
    assert_eq!(sizes.iter().filter(|s| **s > HUGE).count(), 1, "{sizes:?}");
    assert_eq!(events.last().unwrap().data, "[DONE]");

    let response = post_anthropic(&server, &anthropic_body("m", "hi", false)).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["content"][0]["text"].as_str().unwrap().len(), HUGE);
    server.shutdown().await;
}

#[tokio::test]
async fn byte_interval_trickles_the_body() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            byte_interval_ms: Some(5),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let response = post_openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200, "headers come at once");
    let mut stream = response.bytes_stream();
    let mut chunks = 0;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= 2, "one byte at a time (two may coalesce)");
        chunks += 1;
        body.extend_from_slice(&chunk);
        if chunks == 40 {
            break;
        }
    }
    // 40 bytes, 39 gaps of 5 ms.
    assert!(started.elapsed() >= Duration::from_millis(195));
    assert!(body.starts_with(b"{\""));
    server.shutdown().await;
}
