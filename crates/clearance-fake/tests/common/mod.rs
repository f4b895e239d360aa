//! Helpers shared by the integration tests: a started fake, request bodies for the three APIs,
//! and a small server-sent-events parser.
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

/// A Gemini body: a system instruction and one user turn (Gemini streams by URL, not body).
pub fn gemini_body(message: &str) -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "You are a test."}]},
        "contents": [{"role": "user", "parts": [{"text": message}]}],
    })
}

/// `MODEL:generateContent`, or with `stream` `MODEL:streamGenerateContent?alt=sse`.
pub fn gemini_url(server: &FakeServer, model: &str, stream: bool) -> String {
    let action = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    format!(
        "{}/v1beta/models/{model}:{action}",
        server.gemini_base_url()
    )
}

pub async fn post_gemini(
    server: &FakeServer,
    model: &str,
    body: &Value,
    stream: bool,
) -> reqwest::Response {
    client()
        .post(gemini_url(server, model, stream))
        .json(body)
        .send()
        .await
        .unwrap()
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

/// Parses complete events (those ended by a blank line) from an SSE body; lines may end in LF
/// or CRLF (Gemini's).
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.replace("\r\n", "\n")
        .split("\n\n")
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
