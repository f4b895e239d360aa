//! Anthropic Messages over real HTTP: message shape, the streaming event sequence and its
//! consistency with the non-streaming answer, error types per status, validation, `x-api-key`.
#![allow(clippy::unwrap_used)]

mod common;

use clearance_fake::Behavior;
use common::{anthropic_body, client, parse_sse, post_anthropic, start};
use serde_json::{Value, json};

#[tokio::test]
async fn non_streaming_message_has_the_real_shape() {
    let server = start().await;
    let response = post_anthropic(
        &server,
        &anthropic_body("claude-test", "hello there friend", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Fake reply from claude-test. You said: hello there friend"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["stop_sequence"].is_null());
    // "You are a test." (system) + "hello there friend" = 4 + 3 words.
    assert_eq!(body["usage"]["input_tokens"], 7);
    assert_eq!(body["usage"]["output_tokens"], 9);
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_follows_the_real_event_sequence() {
    let server = start().await;
    let plain: Value = post_anthropic(
        &server,
        &anthropic_body("claude-test", "tell me a story", false),
    )
    .await
    .json()
    .await
    .unwrap();

    let response = post_anthropic(
        &server,
        &anthropic_body("claude-test", "tell me a story", true),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&response.text().await.unwrap());

    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(
        deltas >= 3,
        "reply should arrive in several deltas: {names:?}"
    );
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for event in &events {
        // The data's `type` always repeats the event name.
        assert_eq!(event.json()["type"], event.event.as_deref().unwrap());
    }

    let start = events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert!(start["message"]["stop_reason"].is_null());
    assert_eq!(start["message"]["model"], "claude-test");
    assert_eq!(
        start["message"]["usage"]["input_tokens"],
        plain["usage"]["input_tokens"]
    );
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert_eq!(
        events[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );

    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let delta = e.json();
            assert_eq!(delta["index"], 0);
            assert_eq!(delta["delta"]["type"], "text_delta");
            delta["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, plain["content"][0]["text"]);

    let message_delta = events[events.len() - 2].json();
    assert_eq!(
        message_delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(
        message_delta["usage"]["output_tokens"],
        plain["usage"]["output_tokens"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn output_cap_stops_with_max_tokens() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            reply: Some("one two three four".into()),
            ..Behavior::default()
        },
    );
    let mut body = anthropic_body("claude-test", "hi", false);
    body["max_tokens"] = json!(3);
    let plain: Value = post_anthropic(&server, &body).await.json().await.unwrap();
    assert_eq!(plain["content"][0]["text"], "one two three");
    assert_eq!(plain["stop_reason"], "max_tokens");

    body["stream"] = json!(true);
    let events = parse_sse(&post_anthropic(&server, &body).await.text().await.unwrap());
    let message_delta = events[events.len() - 2].json();
    assert_eq!(message_delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(message_delta["usage"]["output_tokens"], 3);
    server.shutdown().await;
}

#[tokio::test]
async fn error_statuses_have_the_anthropic_types() {
    let server = start().await;
    let cases = [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ];
    for (status, kind) in cases {
        server.set_behavior(
            Some("claude-test"),
            Behavior {
                status: Some(status),
                ..Behavior::default()
            },
        );
        for stream in [false, true] {
            let response =
                post_anthropic(&server, &anthropic_body("claude-test", "hi", stream)).await;
            assert_eq!(response.status().as_u16(), status);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], kind, "status {status}");
            assert!(body["error"]["message"].is_string());
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn version_header_and_max_tokens_are_required() {
    let server = start().await;
    let url = format!("{}/v1/messages", server.anthropic_base_url());

    let no_version = client()
        .post(&url)
        .json(&anthropic_body("m", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);
    let body: Value = no_version.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    let mut no_max = anthropic_body("m", "hi", false);
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let response = post_anthropic(&server, &no_max).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "max_tokens: Field required");

    let malformed = client()
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body("{\"model\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    server.shutdown().await;
}

#[tokio::test]
async fn required_key_is_x_api_key() {
    let server = start().await;
    server.require_key(Some("ant-secret".into()));
    let url = format!("{}/v1/messages", server.anthropic_base_url());
    let body = anthropic_body("claude-test", "hi", false);
    let send = |key: Option<&'static str>, bearer: bool| {
        let mut request = client()
            .post(&url)
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some(key) = key {
            request = if bearer {
                request.bearer_auth(key)
            } else {
                request.header("x-api-key", key)
            };
        }
        request.send()
    };

    for (key, bearer) in [
        (None, false),
        (Some("wrong"), false),
        (Some("ant-secret"), true),
    ] {
        let response = send(key, bearer).await.unwrap();
        assert_eq!(response.status(), 401, "key {key:?} bearer {bearer}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "authentication_error");
    }
    assert_eq!(send(Some("ant-secret"), false).await.unwrap().status(), 200);
    server.shutdown().await;
}
