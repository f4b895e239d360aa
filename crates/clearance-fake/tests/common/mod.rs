//! Helpers shared by the integration tests: a started fake, request bodies for both APIs, and a
//! small server-sent-events parser.
#![allow(dead_code, clippy::unwrap_used)]

use clearance_fake::FakeServer;
use serde_json::{Value, json};

pub async fn start() -> FakeServer {
    FakeServer::start("127.0.0.1:0").await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn openai_body(model: &str, message: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a test."},
            {"role": "user", "content": message}
        ],
        "stream": stream,
    })
}

pub fn anthropic_body(model: &str, message: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "You are a test.",
        "messages": [{"role": "user", "content": message}],
        "stream": stream,
    })
}

pub async fn post_openai(server: &FakeServer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", server.openai_base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn post_anthropic(server: &FakeServer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/messages", server.anthropic_base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// One server-sent event: its `event:` name, if any, and its `data:` text.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Parses complete events (those ended by a blank line) from an SSE body.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.trim_start().to_owned());
                }
            }
            SseEvent {
                event,
                data: data.join("\n"),
            }
        })
        .collect()
}

/// Reads a streamed body until it ends or fails; returns what arrived and whether it failed.
pub async fn read_until_error(response: reqwest::Response) -> (String, bool) {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8(received).unwrap(), true),
        }
    }
    (String::from_utf8(received).unwrap(), false)
}
