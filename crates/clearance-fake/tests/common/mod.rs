//! Helpers shared by the integration tests: a started fake, request bodies for the three APIs,
//! a small server-sent-events parser, and Bedrock requests signed with `aws-sigv4`.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
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

/// A Bedrock runtime path for `model_id` (percent-encoded, as the AWS SDKs send it).
pub fn bedrock_path(model_id: &str, operation: &str) -> String {
    let encoded = model_id.replace(':', "%3A").replace('/', "%2F");
    format!("/model/{encoded}/{operation}")
}

/// A Bedrock request, signed with `key = (access key id, secret)` for `region` when given.
pub async fn post_bedrock(
    server: &FakeServer,
    path: &str,
    body: &Value,
    key: Option<(&str, &str)>,
    region: &str,
) -> reqwest::Response {
    let body = serde_json::to_vec(body).unwrap();
    let mut request = client()
        .post(format!("{}{path}", server.bedrock_endpoint()))
        .header("content-type", "application/json");
    if let Some((key_id, secret)) = key {
        let host = server.addr().to_string();
        for (name, value) in sigv4_headers(&host, "POST", path, &body, (key_id, secret), region) {
            request = request.header(name, value);
        }
    }
    request.body(body).send().await.unwrap()
}

/// The headers `aws-sigv4` adds to sign a request to the fake at `host` (`host:port`, as
/// reqwest sends it).
pub fn sigv4_headers(
    host: &str,
    method: &str,
    path: &str,
    body: &[u8],
    (key_id, secret): (&str, &str),
    region: &str,
) -> Vec<(String, String)> {
    let request = SignableRequest::new(
        method,
        path,
        [("host", host), ("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let identity = Credentials::new(key_id, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}
