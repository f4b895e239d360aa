//! The gateway over real HTTP against fake providers that speak the real wire formats.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::{Duration, Instant};

use clearance_fake::Behavior;
use clearance_store::Store;
use futures::StreamExt;
use harness::{ANTHROPIC_BODY, Harness, OPENAI_BODY, Options, PROVIDER_KEY, header, sse_events};
use serde_json::Value;

#[tokio::test]
async fn openai_request_is_served_under_the_client_model_name_with_gateway_headers() {
    let h = Harness::start().await;
    let response = h.post("/v1/chat/completions", OPENAI_BODY).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clearance-served-model"), Some("gpt-5"));
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let overhead: f64 = header(&response, "x-clearance-overhead-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead >= 0.0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "gpt-5");
    assert_eq!(body["object"], "chat.completion");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("secret prompt text")
    );
    let record = h.record_for(&request_id).await;
    assert_eq!(record["principal_id"], "alice");
    assert_eq!(record["key_id"], h.key_id);
    assert_eq!(record["requested_model"], "gpt-5");
    assert_eq!(record["served_model"], "gpt-5");
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["status"], 200);
    assert_eq!(record["input_tokens"], body["usage"]["prompt_tokens"]);
    assert_eq!(record["output_tokens"], body["usage"]["completion_tokens"]);
}

#[tokio::test]
async fn unknown_fields_pass_through_and_the_provider_gets_its_own_key_not_the_clients() {
    let h = Harness::start().await;
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        200
    );
    assert_eq!(h.post("/v1/messages", ANTHROPIC_BODY).await.status(), 200);
    let seen = h.fake.requests();
    let openai = seen
        .iter()
        .find(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(openai.body["model"], "gpt-5-2026");
    assert_eq!(openai.body["vendor_extension"]["keep"], true);
    assert_eq!(
        openai.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    let anthropic = seen.iter().find(|r| r.path == "/v1/messages").unwrap();
    assert_eq!(anthropic.body["model"], "claude-mythos-5");
    assert_eq!(anthropic.header("x-api-key"), Some(PROVIDER_KEY));
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    for request in &seen {
        for value in request.headers.values() {
            assert!(
                !value.contains(&h.key),
                "the client's gateway key reached the provider"
            );
        }
    }
}

#[tokio::test]
async fn anthropic_stream_is_relayed_event_by_event_with_the_real_sequence() {
    let h = Harness::start().await;
    let body = ANTHROPIC_BODY.replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true");
    let response = h.post("/v1/messages", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"content_block_delta") && names.contains(&"message_delta"));
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["model"], "mythos-5");
    let record = h.record_for(&request_id).await;
    assert_eq!(record["stream"], true);
    assert!(record["error_class"].is_null(), "{record}");
    assert!(record["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn openai_stream_hides_the_usage_chunk_unless_asked_and_still_audits_tokens() {
    let h = Harness::start().await;
    let body = r#"{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"count my tokens"}]}"#;
    let response = h.post("/v1/chat/completions", body).await;
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(
        !text.contains("\"usage\":{"),
        "client did not ask for usage: {text}"
    );
    let chunks: Vec<Value> = sse_events(&text)
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["model"] == "gpt-5"));
    assert!(
        h.record_for(&request_id).await["output_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let asked = body.replace(
        "\"stream\":true",
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}",
    );
    let text = h
        .post("/v1/chat/completions", &asked)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"usage\":{"),
        "client asked for usage: {text}"
    );
}

#[tokio::test]
async fn streams_are_not_buffered() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("claude-mythos-5"),
        Behavior {
            chunk_delay_ms: Some(150),
            reply: Some("one two three four five six".into()),
            ..Default::default()
        },
    );
    let body = ANTHROPIC_BODY.replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true");
    let started = Instant::now();
    let response = h.post("/v1/messages", &body).await;
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    while stream.next().await.is_some() {}
    let total = started.elapsed();
    assert!(
        total >= Duration::from_millis(900),
        "the fake paces ~10 events 150 ms apart: {total:?}"
    );
    assert!(
        first_at < total / 3,
        "first event after {first_at:?} of {total:?}: the answer was held back"
    );
}

#[tokio::test]
async fn a_stream_cut_by_the_provider_ends_with_an_error_event_and_is_audited() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("claude-mythos-5"),
        Behavior {
            drop_after_events: Some(4),
            ..Default::default()
        },
    );
    let body = ANTHROPIC_BODY.replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true");
    let response = h.post("/v1/messages", &body).await;
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"), "{text}");
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "api_error");
    assert!(!text.contains("message_stop"));
    assert_eq!(
        h.record_for(&request_id).await["error_class"],
        "upstream_stream_broken"
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_is_still_audited() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            chunk_delay_ms: Some(200),
            ..Default::default()
        },
    );
    let body = r#"{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}"#;
    let response = h.post("/v1/chat/completions", body).await;
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let record = h.record_for(&request_id).await;
    assert_eq!(record["error_class"], "client_disconnected");
    assert_eq!(record["served_model"], "gpt-5");
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert!(
        header(&response, "x-clearance-request-id").is_some(),
        "every answer carries a request id"
    );
    assert!(
        header(&response, "x-clearance-overhead-ms").is_some(),
        "every answer carries the overhead"
    );
    (status, response.json().await.unwrap())
}

fn assert_openai_error(body: &Value, kind: &str, fragment: &str) {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(fragment),
        "{body}"
    );
    assert!(
        body.get("type").is_none(),
        "OpenAI errors have no top-level type: {body}"
    );
}

fn assert_anthropic_error(body: &Value, kind: &str, fragment: &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(fragment),
        "{body}"
    );
}

#[tokio::test]
async fn missing_and_invalid_keys_get_401_in_each_apis_shape() {
    let h = Harness::start().await;
    let (status, body) = error_of(
        h.post_with_key("/v1/chat/completions", OPENAI_BODY, None)
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_openai_error(&body, "authentication_error", "no API key");
    let (status, body) = error_of(
        h.post_with_key("/v1/messages", ANTHROPIC_BODY, Some("clr_nope"))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_anthropic_error(&body, "authentication_error", "invalid");
    let last = if h.key.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &h.key[..h.key.len() - 1]);
    let (status, _) = error_of(
        h.post_with_key("/v1/chat/completions", OPENAI_BODY, Some(&forged))
            .await,
    )
    .await;
    assert_eq!(status, 401, "a key with a wrong secret is refused");
    assert!(h.fake.requests().is_empty(), "nothing reached a provider");
}

#[tokio::test]
async fn malformed_json_gets_400_saying_what_is_wrong() {
    let h = Harness::start().await;
    let (status, body) = error_of(
        h.post("/v1/chat/completions", "{\"model\": \"gpt-5\",")
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_openai_error(&body, "invalid_request_error", "not valid JSON");
    let (status, body) = error_of(h.post("/v1/messages", "{\"max_tokens\": 5}").await).await;
    assert_eq!(status, 400);
    assert_anthropic_error(&body, "invalid_request_error", "no `model` field");
}

#[tokio::test]
async fn unknown_model_gets_404() {
    let h = Harness::start().await;
    let (status, body) = error_of(
        h.post("/v1/chat/completions", r#"{"model":"gpt-9","messages":[]}"#)
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_openai_error(&body, "not_found_error", "`gpt-9` does not exist");
    assert_eq!(body["error"]["code"], "model_not_found");
    let (status, body) = error_of(
        h.post(
            "/v1/messages",
            r#"{"model":"gpt-9","max_tokens":1,"messages":[]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_anthropic_error(&body, "not_found_error", "`gpt-9`");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let h = Harness::start_with(Options {
        max_body_bytes: 2048,
        ..Default::default()
    })
    .await;
    let big = format!(
        r#"{{"model":"gpt-5","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let (status, body) = error_of(h.post("/v1/chat/completions", &big).await).await;
    assert_eq!(status, 413);
    assert_openai_error(&body, "invalid_request_error", "limit of 2048 bytes");
    let big = big.replace("gpt-5", "mythos-5");
    let (status, body) = error_of(h.post("/v1/messages", &big).await).await;
    assert_eq!(status, 413);
    assert_anthropic_error(&body, "request_too_large", "2048");
}

#[tokio::test]
async fn upstream_errors_keep_their_status_in_the_clients_shape() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            status: Some(429),
            ..Default::default()
        },
    );
    h.fake.set_behavior(
        Some("claude-mythos-5"),
        Behavior {
            status: Some(529),
            ..Default::default()
        },
    );
    let response = h.post("/v1/chat/completions", OPENAI_BODY).await;
    let request_id = header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let (status, body) = error_of(response).await;
    assert_eq!(status, 429);
    // The provider's status, its own error type and its (sanitised) message, in OpenAI's shape.
    assert_openai_error(&body, "requests", "Rate limit");
    let (status, body) = error_of(h.post("/v1/messages", ANTHROPIC_BODY).await).await;
    assert_eq!(status, 529);
    assert_eq!(body["error"]["type"], "overloaded_error");
    let record = h.record_for(&request_id).await;
    assert_eq!(
        (
            record["status"].as_u64(),
            record["upstream_status"].as_u64()
        ),
        (Some(429), Some(429))
    );
    assert_eq!(record["error_class"], "upstream_status");
}

#[tokio::test]
async fn a_provider_rate_limit_keeps_its_retry_after_and_hides_the_upstream_model_id() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("gpt-5-2026"),
        Behavior {
            status: Some(429),
            retry_after_s: Some(7),
            ..Default::default()
        },
    );
    let response = h.post("/v1/chat/completions", OPENAI_BODY).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), Some("7"));
    let body = response.text().await.unwrap();
    assert!(!body.contains("gpt-5-2026"), "{body}");
}

#[tokio::test]
async fn a_provider_refusing_the_gateways_own_key_is_a_502_not_the_clients_fault() {
    let h = Harness::start().await;
    h.fake.require_key(Some("a-different-provider-key".into()));
    let (status, body) = error_of(h.post("/v1/messages", ANTHROPIC_BODY).await).await;
    assert_eq!(status, 502);
    assert_anthropic_error(&body, "api_error", "refused the gateway's credentials");
    assert!(!body.to_string().contains(PROVIDER_KEY));
}

#[tokio::test]
async fn an_unreachable_provider_gets_502_without_leaking_its_key() {
    let h = Harness::start_with(Options {
        dead_provider: true,
        ..Default::default()
    })
    .await;
    let (status, body) = error_of(
        h.post(
            "/v1/chat/completions",
            r#"{"model":"dead-model","messages":[]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 502);
    assert_openai_error(&body, "server_error", "cannot connect to provider `dead`");
    assert!(!body.to_string().contains(PROVIDER_KEY));
}

#[tokio::test]
async fn every_request_is_audited_without_prompt_text_and_the_chain_verifies() {
    let mut h = Harness::start().await;
    let mut statuses = Vec::new();
    for body in [OPENAI_BODY, "{not json", r#"{"model":"nope"}"#] {
        statuses.push(h.post("/v1/chat/completions", body).await.status().as_u16());
    }
    statuses.push(
        h.post_with_key("/v1/messages", ANTHROPIC_BODY, None)
            .await
            .status()
            .as_u16(),
    );
    statuses.push(
        h.post("/v1/messages", ANTHROPIC_BODY)
            .await
            .status()
            .as_u16(),
    );
    h.stop().await;
    let stored = h.stored_records().await;
    let recorded: Vec<u64> = h
        .audit_records()
        .await
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        recorded,
        statuses.iter().map(|s| u64::from(*s)).collect::<Vec<_>>()
    );
    for record in &stored {
        assert!(!record.record_json.contains("secret prompt text"));
        assert!(!record.record_json.contains(&h.key));
        assert!(!record.record_json.contains(PROVIDER_KEY));
    }
    let report = clearance_store::verify_audit_trail(h.store.as_ref())
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    let log = &report.logs[0];
    assert!(log.closed, "a stopped gateway closes its log");
    assert!(log.incomplete.is_empty(), "{:?}", log.incomplete);
    // Every request left a decision and a completion record; the log opens and closes.
    assert_eq!(log.verified.seq as usize, 2 * statuses.len() + 2);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_a_second() {
    let h = Harness::start().await;
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        200
    );
    let key_id = clearance_core::key::KeyId::parse(&h.key_id).unwrap();
    assert!(
        h.store
            .revoke_key(&key_id, chrono::Utc::now())
            .await
            .unwrap()
    );
    h.await_key_status(&h.key, 401, "a revoked key is refused")
        .await;
}

#[tokio::test]
async fn shutdown_drains_every_accepted_record() {
    let mut h = Harness::start().await;
    h.fake.set_behavior(
        None,
        Behavior {
            delay_ms: Some(300),
            ..Default::default()
        },
    );
    let mut in_flight = Vec::new();
    for _ in 0..20 {
        let client = h.http.clone();
        let url = h.url("/v1/chat/completions");
        let key = h.key.clone();
        in_flight.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .body(OPENAI_BODY)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    let mut served = 0;
    for task in in_flight {
        if task.await.unwrap().ok() == Some(200) {
            served += 1;
        }
    }
    assert_eq!(
        served, 20,
        "in-flight requests finish during a graceful shutdown"
    );
    let records = h.audit_records().await;
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| r["status"] == 200), "{records:?}");
}

#[tokio::test]
async fn a_stalled_store_gets_503s_and_a_503_readyz_never_an_unrecorded_200() {
    let h = Harness::start_with(Options {
        max_wait_ms: 200,
        ..Default::default()
    })
    .await;
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        200
    );
    // Another connection holds the database's write lock: nothing can be committed.
    let blocker = rusqlite::Connection::open(&h.db_path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut statuses = Vec::new();
    let mut refusal = None;
    for body in [
        OPENAI_BODY,
        r#"{"model":"nope","messages":[]}"#,
        OPENAI_BODY,
        OPENAI_BODY,
    ] {
        let response = h.post("/v1/chat/completions", body).await;
        statuses.push(response.status().as_u16());
        refusal = Some(response.json::<Value>().await.unwrap());
    }
    assert_eq!(
        statuses,
        [503, 503, 503, 503],
        "nothing answered unrecorded"
    );
    let refusal = refusal.unwrap();
    assert_eq!(refusal["error"]["code"], "store_unavailable", "{refusal}");
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let anthropic = h.post("/v1/messages", ANTHROPIC_BODY).await;
    assert_eq!(anthropic.status(), 503);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(body["type"], "error", "the client's error shape: {body}");

    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    let since = std::time::Instant::now();
    while h.post("/v1/chat/completions", OPENAI_BODY).await.status() != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "service resumes by itself"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        h.http.get(h.url("/readyz")).send().await.unwrap().status(),
        200
    );
    // The last answer's completion record is written after the answer: wait for it.
    let mut records = h.audit_records().await;
    for _ in 0..200 {
        if records.iter().filter(|r| r["status"] == 200).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        records = h.audit_records().await;
    }
    let served: Vec<_> = records.iter().filter(|r| r["status"] == 200).collect();
    assert!(served.len() >= 2, "{records:?}");
    assert!(
        records
            .iter()
            .filter(|r| r["status"] == 503)
            .all(|r| r["error_class"] == "store_unavailable"),
        "{records:?}"
    );
    let report = clearance_store::verify_audit_trail(h.store.as_ref())
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

#[tokio::test]
async fn models_list_in_both_sdk_shapes_and_requires_a_key() {
    let h = Harness::start().await;
    let openai: Value = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(&h.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["mythos-5", "fable-5", "gpt-5", "open-model", "gemini-flash"]
    );
    let anthropic: Value = h
        .http
        .get(h.url("/v1/models"))
        .header("x-api-key", &h.key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(
        h.http
            .get(h.url("/v1/models"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let h = Harness::start().await;
    h.post("/v1/chat/completions", OPENAI_BODY).await;
    h.fake.set_behavior(
        None,
        Behavior {
            status: Some(500),
            ..Default::default()
        },
    );
    h.post("/v1/chat/completions", OPENAI_BODY).await;
    h.post("/v1/chat/completions", r#"{"model":"made-up-name"}"#)
        .await;
    assert_eq!(
        h.http.get(h.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        h.http.get(h.url("/readyz")).send().await.unwrap().status(),
        200
    );
    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains(
            r#"clearance_requests_total{model="gpt-5",api="openai_chat",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"clearance_requests_total{model="gpt-5",api="openai_chat",status="500"} 1"#
        )
    );
    assert!(
        metrics.contains(
            r#"clearance_upstream_errors_total{model="gpt-5",class="upstream_status"} 1"#
        )
    );
    assert!(metrics.contains("clearance_request_duration_seconds_bucket{"));
    assert!(metrics.contains("clearance_overhead_seconds_count{model=\"gpt-5\"} 2"));
    assert!(
        !metrics.contains("made-up-name"),
        "client input never becomes a metric label"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_an_error_shape() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(h.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_openai_error(
        &body,
        "invalid_request_error",
        "GET is not allowed on /v1/chat/completions",
    );
    let response = h
        .http
        .post(h.url("/v1/completions"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_openai_error(&body, "not_found_error", "no route /v1/completions");
}

#[tokio::test]
async fn a_hostile_request_cannot_write_more_than_a_few_kb_to_the_record() {
    let mut h = Harness::start_with(Options {
        max_body_bytes: 4_000_000,
        ..Default::default()
    })
    .await;
    let huge = "m".repeat(1 << 20);
    let bodies = [
        format!(r#"{{"model":"{huge}","messages":[{{"role":"user","content":"hi"}}]}}"#),
        format!(
            r#"{{"model":"gpt-5","messages":[{{"role":"user","content":"{huge}"}}],"user":"{huge}","metadata":{{"x":"{huge}"}}}}"#
        ),
    ];
    let first = h.post("/v1/chat/completions", &bodies[0]).await;
    assert_eq!(first.status(), 400);
    let error: Value = first.json().await.unwrap();
    assert_eq!(error["error"]["param"], "model", "{error}");
    assert!(
        error.to_string().len() < 1_000,
        "the error does not echo the name"
    );
    assert_eq!(
        h.post("/v1/chat/completions", &bodies[1]).await.status(),
        200
    );
    let garbage = format!("{{\"model\": \"{huge}");
    assert_eq!(h.post("/v1/chat/completions", &garbage).await.status(), 400);
    h.stop().await;
    for stored in h.stored_records().await {
        assert!(
            stored.record_json.len() < 4_096,
            "a record of {} bytes: {}...",
            stored.record_json.len(),
            &stored.record_json[..200]
        );
    }
    let records = h.audit_records().await;
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[0]["requested_model"],
        Value::Null,
        "the name was never recorded"
    );
    assert_eq!(records[0]["error_class"], "model_name_too_long");
}

#[tokio::test]
async fn a_replica_that_cannot_refresh_its_policy_fails_closed_on_directed_models_only() {
    let h = Harness::start_with(Options {
        max_policy_age_ms: 400,
        directives: vec![(
            "SHADOW.toml",
            "id = \"SHADOW\"\ntitle = \"t\"\nauthority = \"a\"\neffective = \"2026-01-01T00:00:00Z\"\n\
             mode = \"shadow\"\nmodels = [\"mythos-5\"]\nwhen = \"true\"\neffect = \"deny\"\n"
                .to_string(),
        )],
        ..Default::default()
    })
    .await;
    assert_eq!(h.post("/v1/messages", ANTHROPIC_BODY).await.status(), 200);
    // Another replica activates a set this one cannot compile (a model it does not know): it
    // keeps the set it has, but its policy is no longer the store's.
    let foreign = clearance_store::DirectiveSet {
        version: 0,
        policy_version: "f0f0f0f0f0f0f0f0".into(),
        files: vec![clearance_store::DirectiveFile {
            name: "NEW.toml".into(),
            content: "id = \"NEW\"\ntitle = \"t\"\nauthority = \"a\"\neffective = \"2026-01-01T00:00:00Z\"\n\
                      mode = \"enforce\"\nmodels = [\"model-of-a-newer-config\"]\nwhen = \"true\"\neffect = \"deny\"\n"
                .into(),
        }],
        activated_at: chrono::Utc::now(),
        actor: "cli".into(),
    };
    h.store.activate_directive_set(&foreign).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let refused = h.post("/v1/messages", ANTHROPIC_BODY).await;
    assert_eq!(refused.status(), 451);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error", "the Anthropic error shape: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("directive set"),
        "{body}"
    );
    assert_eq!(
        h.post("/v1/chat/completions", OPENAI_BODY).await.status(),
        200,
        "models no directive covers are served"
    );
    let status = h.admin_json("/admin/status").await;
    assert!(
        status["replica"]["policy_age_ms"].as_u64().unwrap() >= 400,
        "{status}"
    );
}
