//! What a client may hold (`[server]` limits): the header and body read timeouts, the cap on
//! requests in flight per key, the cap on connections, and the drain deadline at shutdown.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use harness::{ANTHROPIC_BODY, Harness, OPENAI_BODY, Options, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn options(server_extra: &str) -> Options {
    Options {
        server_extra: server_extra.to_string(),
        keys_for: &["bjorn"],
        ..Options::default()
    }
}

fn host_port(h: &Harness) -> String {
    h.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes): whatever it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

#[tokio::test]
async fn a_client_that_stops_mid_request_line_is_disconnected_after_the_header_timeout() {
    let h = Harness::start_with(options("header_read_timeout_ms = 300")).await;
    let mut stream = TcpStream::connect(host_port(&h)).await.unwrap();
    stream.write_all(b"POST /v1/chat/compl").await.unwrap();
    let since = Instant::now();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "the connection was still open after 5 s with a 300 ms header timeout"
    );
    assert!(since.elapsed() >= Duration::from_millis(250));
    // Others are still served.
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        200
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let h = Harness::start_with(options(
        "keep_alive_idle_ms = 300\nheader_read_timeout_ms = 20000",
    ))
    .await;
    let mut stream = TcpStream::connect(host_port(&h)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then nothing more: closed long before the header timeout.
    let since = Instant::now();
    let rest = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the idle connection was closed within 5 s");
    assert!(rest.is_empty());
    assert!(since.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_body_trickled_slower_than_the_idle_timeout_gets_408_and_is_recorded() {
    let h = Harness::start_with(options(
        "body_idle_timeout_ms = 300\nbody_read_timeout_ms = 5000",
    ))
    .await;
    let mut stream = TcpStream::connect(host_port(&h)).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        h.key,
        OPENAI_BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&OPENAI_BODY.as_bytes()[..10])
        .await
        .unwrap();
    // Then nothing for longer than the idle timeout.
    let received = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the gateway answered and closed within 5 s");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("\"type\":\"invalid_request_error\""),
        "{text}"
    );
    let records = h.wait_for_records(1).await;
    let record = records
        .iter()
        .find(|r| r["status"] == 408)
        .expect("the 408 is on the record");
    assert_eq!(record["error_class"], "body_timeout");
    assert_eq!(record["key_id"], h.key_id);
    assert!(h.fake.requests().is_empty(), "nothing reached the provider");
}

#[tokio::test]
async fn a_body_that_keeps_trickling_is_cut_at_the_total_read_timeout() {
    let h = Harness::start_with(options(
        "body_idle_timeout_ms = 1000\nbody_read_timeout_ms = 600",
    ))
    .await;
    let mut stream = TcpStream::connect(host_port(&h)).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        h.key,
        ANTHROPIC_BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let since = Instant::now();
    let mut answer = Vec::new();
    // One byte every 100 ms: never idle for long, never done in time.
    for byte in ANTHROPIC_BODY.as_bytes() {
        if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::ZERO, stream.read(&mut buf)).await {
            answer.extend_from_slice(&buf[..n]);
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(5), "no answer in 5 s");
    }
    if let Some(rest) = read_until_closed(&mut stream, Duration::from_secs(5)).await {
        answer.extend(rest);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // Anthropic's error shape.
    assert!(text.contains("\"type\":\"error\""), "{text}");
    let records = h.wait_for_records(1).await;
    assert!(
        records
            .iter()
            .any(|r| r["status"] == 408 && r["error_class"] == "body_timeout")
    );
}

#[tokio::test]
async fn past_the_in_flight_cap_a_key_gets_429_with_retry_after_in_its_shape_while_other_keys_are_served()
 {
    let h = Harness::start_with(options("max_in_flight_per_key = 2")).await;
    let slow = Behavior {
        delay_ms: Some(1_500),
        ..Behavior::default()
    };
    h.fake.set_behavior(Some("gpt-5-2026"), slow);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let http = h.http.clone();
            let url = h.url("/v1/chat/completions");
            let key = h.key.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(OPENAI_BODY)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // Both are in flight once the provider has them.
    let since = Instant::now();
    while h.fake.requests().len() < 2 {
        assert!(since.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let refused = h.post("/v1/chat/completions", OPENAI_BODY).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");

    let refused = h.post("/v1/messages", ANTHROPIC_BODY).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    // Another key is not held back by this one's requests.
    let other = h
        .post_with_key("/v1/messages", ANTHROPIC_BODY, Some(&h.keys["bjorn"]))
        .await;
    assert_eq!(other.status(), 200);

    for request in held {
        assert_eq!(request.await.unwrap(), 200);
    }
    // Once they have ended, the key is served again.
    assert_eq!(h.post("/v1/messages", ANTHROPIC_BODY).await.status(), 200);
    let records = h.wait_for_records(6).await;
    let refusals: Vec<_> = records.iter().filter(|r| r["status"] == 429).collect();
    assert_eq!(refusals.len(), 2, "{records:?}");
    for refusal in refusals {
        assert_eq!(refusal["error_class"], "too_many_requests");
        assert_eq!(refusal["key_id"], h.key_id);
    }
}

#[tokio::test]
async fn a_stream_counts_against_its_key_until_it_ends() {
    let h = Harness::start_with(options("max_in_flight_per_key = 1")).await;
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            chunk_delay_ms: Some(300),
            ..Behavior::default()
        },
    );
    let body = OPENAI_BODY.replacen('{', "{\"stream\":true,", 1);
    let stream = h.post("/v1/chat/completions", &body).await;
    assert_eq!(stream.status(), 200);
    // The stream's head is here; its events are still coming.
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        429
    );
    let text = stream.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    let since = Instant::now();
    while h.post("/v1/chat/completions", OPENAI_BODY).await.status() != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_is_closed_at_once_and_counted() {
    let h = Harness::start_with(options("max_connections = 2")).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(host_port(&h)).await.unwrap();
        // A whole request, so the connection is known to be served (and kept alive).
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        open.push(stream);
    }
    let mut third = TcpStream::connect(host_port(&h)).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("the connection past the cap was closed");
    assert!(answer.is_empty(), "it got no answer");

    // One slot freed: a new connection is served again (the metrics scrape is one).
    drop(open.pop());
    let since = Instant::now();
    let metrics = loop {
        if let Ok(response) = h.http.get(h.url("/metrics")).send().await {
            break response.text().await.unwrap();
        }
        assert!(since.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A scrape tried before the dropped connection was closed is refused too.
    assert!(
        metric(&metrics, "clearance_connections_refused_total") >= 1.0,
        "{metrics}"
    );
    let open = metric(&metrics, "clearance_connections_open");
    assert!((1.0..=2.0).contains(&open), "{metrics}");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn a_stuck_stream_does_not_hold_shutdown_past_the_drain_deadline() {
    let mut h = Harness::start_with(options("drain_timeout_ms = 1000")).await;
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            chunk_delay_ms: Some(60_000),
            ..Behavior::default()
        },
    );
    let body = OPENAI_BODY.replacen('{', "{\"stream\":true,", 1);
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let reader = tokio::spawn(async move { response.text().await });

    let since = Instant::now();
    h.stop().await;
    let took = since.elapsed();
    assert!(
        took < Duration::from_millis(2_000),
        "shutdown took {took:?} with a 1 s drain deadline"
    );
    // The client saw its connection end.
    let _ = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .expect("the client's stream ended");

    let record = h.record_for(&request_id).await;
    assert_eq!(record["error_class"], "shutdown", "{record}");
    let report = clearance_store::verify_audit_trail(h.store.as_ref())
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    let log = &report.logs[0];
    assert!(log.closed, "a stopped gateway closes its log");
    assert!(log.incomplete.is_empty(), "{:?}", log.incomplete);
}
