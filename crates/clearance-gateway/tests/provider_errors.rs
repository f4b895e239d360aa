//! A provider's error reaches the client only as its status, its error type and a sanitised
//! message: a credential or an internal detail it echoes stays out of the client's answer,
//! and out of the log, where operators find the whole body redacted the same way.
//!
//! Its own test binary: it installs a global `tracing` subscriber to read the debug log.
#![allow(clippy::unwrap_used)]

mod harness;

use clearance_fake::Behavior;
use harness::Harness;
use harness::capture::Capture;
use serde_json::{Value, json};

const SECRET: &str = "sk-live-0123456789abcdef0123456789abcdef";

fn openai_body(model: &str) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string()
}

fn anthropic_body(model: &str) -> String {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

#[tokio::test]
async fn a_credential_a_provider_echoes_reaches_neither_the_client_nor_the_log() {
    let capture = Capture::clearance_only();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();
    let h = Harness::start().await;
    let echoed = format!(
        "Incorrect API key provided: {SECRET}. You can find your API key at https://platform.example/account/api-keys."
    );
    for upstream in ["gpt-5-2026", "claude-mythos-5", "gemini-3-flash"] {
        h.fake.set_behavior(
            Some(upstream),
            Behavior {
                status: Some(400),
                error_message: Some(echoed.clone()),
                ..Behavior::default()
            },
        );
    }
    // Each provider format, to a client of its own API and of the other one.
    let cases = [
        ("/v1/chat/completions", "gpt-5"),
        ("/v1/messages", "mythos-5"),
        ("/v1/chat/completions", "mythos-5"),
        ("/v1/messages", "gpt-5"),
        ("/v1/messages", "gemini-flash"),
        ("/v1/chat/completions", "gemini-flash"),
    ];
    for (path, model) in cases {
        let body = if path == "/v1/messages" {
            anthropic_body(model)
        } else {
            openai_body(model)
        };
        let response = h.post(path, &body).await;
        assert_eq!(response.status(), 400, "{path} {model}");
        let text = response.text().await.unwrap();
        assert!(!text.contains(SECRET), "{path} {model}: {text}");
        assert!(
            !text.contains("0123456789abcdef0123456789abcdef"),
            "{path} {model}: {text}"
        );
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{text}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Incorrect API key provided: [REDACTED]."),
            "{path} {model}: {message}"
        );
        // Nothing but the status, the type and the message (and OpenAI's `code`, one it
        // documents or `upstream_error`): no provider request id, `param` or details.
        let expected_keys: &[&str] = if path == "/v1/messages" {
            assert_eq!(error.as_object().unwrap().len(), 2, "{text}");
            &["message", "type"]
        } else {
            assert_eq!(error.as_object().unwrap().len(), 1, "{text}");
            assert_eq!(error["error"]["code"], "upstream_error");
            &["code", "message", "param", "type"]
        };
        let mut keys: Vec<&str> = error["error"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, expected_keys, "{text}");
    }
    let lines = capture.lines();
    let logged: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("provider error body"))
        .collect();
    assert_eq!(logged.len(), cases.len(), "{lines:#?}");
    for line in logged {
        assert!(
            line.contains("Incorrect API key provided: [REDACTED]"),
            "{line}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.contains(SECRET)),
        "a logged line holds the secret: {lines:#?}"
    );
}
