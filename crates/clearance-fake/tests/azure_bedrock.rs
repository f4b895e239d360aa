//! Azure OpenAI and Amazon Bedrock over real HTTP, as their clients see them: Azure's
//! deployments, keys, `api-version` and content-filter results; Bedrock's Converse and
//! InvokeModel answers, event streams decoded with `aws-smithy-eventstream`, exceptions, and
//! AWS Signature Version 4 checked against requests signed with `aws-sigv4`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use clearance_fake::{AwsSigningKey, Behavior, FakeServer, ToolCall};
use common::{bedrock_path, client, parse_sse, read_until_error, sigv4_headers, start};
use serde_json::{Map, Value, json};

const API_VERSION: &str = "2024-10-21";
const DEPLOYMENT: &str = "my-gpt-4o";
const NOVA: &str = "amazon.nova-pro-v1:0";
const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const KEY_ID: &str = "AKIAFAKEFAKEFAKE0001";
const SECRET: &str = "fake/secret/for/clearance/tests/0000000";

// ---------------------------------------------------------------- helpers

fn azure_url(server: &FakeServer, deployment: &str, api_version: Option<&str>) -> String {
    let base = format!(
        "{}/openai/deployments/{deployment}/chat/completions",
        server.azure_endpoint()
    );
    match api_version {
        Some(version) => format!("{base}?api-version={version}"),
        None => base,
    }
}

/// A Chat Completions body as Azure clients send it: no `model`.
fn azure_body(message: &str, stream: bool) -> Value {
    json!({
        "messages": [
            {"role": "system", "content": "You are a test."},
            {"role": "user", "content": message}
        ],
        "stream": stream,
    })
}

async fn post_azure(server: &FakeServer, body: &Value) -> reqwest::Response {
    client()
        .post(azure_url(server, DEPLOYMENT, Some(API_VERSION)))
        .header("api-key", "azure-key")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `/model/MODEL/OPERATION` with the model id percent-encoded, as AWS SDKs send it.
fn converse_body(message: &str) -> Value {
    json!({
        "system": [{"text": "You are a test."}],
        "messages": [{"role": "user", "content": [{"text": message}]}],
        "inferenceConfig": {"maxTokens": 256},
    })
}

fn invoke_body(message: &str) -> Value {
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "system": "You are a test.",
        "messages": [{"role": "user", "content": message}],
    })
}

/// A Bedrock request, signed with `secret` for `region` when `secret` is given.
async fn post_bedrock(
    server: &FakeServer,
    path: &str,
    body: &Value,
    secret: Option<&str>,
    region: &str,
) -> reqwest::Response {
    let key = secret.map(|secret| (KEY_ID, secret));
    common::post_bedrock(server, path, body, key, region).await
}

/// Decodes every whole event-stream message of `bytes`; `Err` at the first broken one.
fn decode_messages(bytes: &[u8]) -> Result<Vec<Message>, String> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buffer = bytes;
    let mut messages = Vec::new();
    loop {
        match decoder.decode_frame(&mut buffer) {
            Ok(DecodedFrame::Complete(message)) => messages.push(message),
            Ok(DecodedFrame::Incomplete) => return Ok(messages),
            Err(e) => return Err(format!("after {} messages: {e}", messages.len())),
        }
    }
}

fn header(message: &Message, name: &str) -> Option<String> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .map(|h| h.value().as_string().unwrap().as_str().to_owned())
}

/// `(event type, JSON payload)` of each event message; exceptions as `exception:TYPE`.
fn events(messages: &[Message]) -> Vec<(String, Value)> {
    messages
        .iter()
        .map(|m| {
            let name = match header(m, ":message-type").as_deref() {
                Some("exception") => format!("exception:{}", header(m, ":exception-type").unwrap()),
                _ => header(m, ":event-type").unwrap(),
            };
            (name, serde_json::from_slice(m.payload()).unwrap())
        })
        .collect()
}

/// The Anthropic events a `chunk` stream wraps, decoded from base64.
fn unwrap_chunks(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .map(|(name, payload)| {
            assert_eq!(name, "chunk");
            let bytes =
                aws_smithy_types::base64::decode(payload["bytes"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}

async fn stream_events(response: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let bytes = response.bytes().await.unwrap();
    events(&decode_messages(&bytes).unwrap())
}

fn weather_call() -> Behavior {
    let mut arguments = Map::new();
    arguments.insert("city".into(), json!("Zürich"));
    arguments.insert("days".into(), json!([1, 2]));
    Behavior {
        tool_call: Some(ToolCall {
            name: "get_weather".into(),
            arguments,
        }),
        ..Behavior::default()
    }
}

fn failing(status: u16) -> Behavior {
    Behavior {
        status: Some(status),
        ..Behavior::default()
    }
}

// ---------------------------------------------------------------- Azure OpenAI

#[tokio::test]
async fn azure_answers_as_the_deployment_with_filter_results() {
    let server = start().await;
    let response = post_azure(&server, &azure_body("hello azure", false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("apim-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], DEPLOYMENT);
    let choice = &body["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        format!("Fake reply from {DEPLOYMENT}. You said: hello azure")
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["content_filter_results"]["hate"]["filtered"], false);
    assert_eq!(body["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(body["usage"]["prompt_tokens"], 6);

    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].model(), Some(DEPLOYMENT));
    assert_eq!(recorded[0].header("api-key"), Some("azure-key"));
    assert_eq!(recorded[0].query.as_deref(), Some("api-version=2024-10-21"));
    server.shutdown().await;
}

#[tokio::test]
async fn azure_streams_after_a_prompt_filter_chunk() {
    let server = start().await;
    server.set_behavior(
        Some(DEPLOYMENT),
        Behavior {
            reply: Some("one two three".into()),
            ..Behavior::default()
        },
    );
    let response = post_azure(&server, &azure_body("hi", true)).await;
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let first = events[0].json();
    assert_eq!(first["choices"], json!([]));
    assert_eq!(first["prompt_filter_results"][0]["prompt_index"], 0);
    let chunks: Vec<Value> = events[1..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "one two three");
    assert!(chunks.iter().all(|c| c["model"] == DEPLOYMENT));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn azure_api_version_is_required_and_checked() {
    let server = start().await;
    let body = azure_body("hi", false);
    let missing = client()
        .post(azure_url(&server, DEPLOYMENT, None))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(
        error,
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );
    let unknown = client()
        .post(azure_url(&server, DEPLOYMENT, Some("2031-01-01-preview")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(
        error,
        json!({"error": {"code": "BadRequest", "message": "API version not supported"}})
    );
    let preview = client()
        .post(azure_url(&server, DEPLOYMENT, Some("2025-01-01-preview")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn azure_checks_the_api_key_or_bearer_token() {
    let server = start().await;
    server.require_key(Some("azure-key".into()));
    let url = azure_url(&server, DEPLOYMENT, Some(API_VERSION));
    let body = azure_body("hi", false);
    let send = |name: &'static str, value: &'static str| {
        let request = client().post(&url).json(&body);
        let request = if name.is_empty() {
            request
        } else {
            request.header(name, value)
        };
        async move { request.send().await.unwrap() }
    };
    let missing = send("", "").await;
    assert_eq!(missing.status(), 401);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "401");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Access denied due to invalid subscription key")
    );
    assert_eq!(send("api-key", "wrong").await.status(), 401);
    assert_eq!(send("api-key", "azure-key").await.status(), 200);
    assert_eq!(
        send("authorization", "Bearer azure-key").await.status(),
        200
    );
    let bad_token = send("authorization", "Bearer eyJ.not.it").await;
    assert_eq!(bad_token.status(), 401);
    let error: Value = bad_token.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unauthorized. Access token is missing")
    );
    // An OpenAI-style request to the same fake still uses the OpenAI rules.
    assert_eq!(
        common::post_openai(&server, &common::openai_body("m", "hi", false))
            .await
            .status(),
        401
    );
    server.shutdown().await;
}

#[tokio::test]
async fn azure_errors_take_azure_shape_where_azure_answers() {
    let server = start().await;
    let body = azure_body("hi", false);

    server.set_behavior(
        Some(DEPLOYMENT),
        Behavior {
            status: Some(429),
            retry_after_s: Some(3),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    let limited = post_azure(&server, &body).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "3");
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "429");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Please retry after 3 seconds")
    );
    assert_eq!(post_azure(&server, &body).await.status(), 200, "recovered");

    server.set_behavior(Some(DEPLOYMENT), failing(451));
    let blocked = post_azure(&server, &body).await;
    assert_eq!(blocked.status(), 403);
    let error: Value = blocked.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "Access denied due to Virtual Network/Firewall rules."
    );

    server.set_behavior(Some(DEPLOYMENT), failing(404));
    let error: Value = post_azure(&server, &body).await.json().await.unwrap();
    assert_eq!(error["error"]["code"], "DeploymentNotFound");

    // What the model behind Azure answers keeps OpenAI's shape.
    server.set_behavior(Some(DEPLOYMENT), failing(500));
    let failed = post_azure(&server, &body).await;
    assert_eq!(failed.status(), 500);
    let error: Value = failed.json().await.unwrap();
    assert_eq!(error["error"]["type"], "server_error");

    // Behaviors are keyed by deployment: another deployment answers normally.
    let other = client()
        .post(azure_url(&server, "other-deployment", Some(API_VERSION)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn azure_tool_calls_delays_cuts_and_lists() {
    let server = start().await;
    server.set_behavior(Some(DEPLOYMENT), weather_call());
    let body: Value = post_azure(&server, &azure_body("weather?", false))
        .await
        .json()
        .await
        .unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["city"], "Zürich");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    server.set_behavior(
        Some(DEPLOYMENT),
        Behavior {
            delay_ms: Some(200),
            drop_after_events: Some(2),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let response = post_azure(&server, &azure_body("tell me a long story", true)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let (received, failed) = read_until_error(response).await;
    assert!(failed, "the cut must be an error");
    assert_eq!(parse_sse(&received).len(), 2);

    for path in ["/openai/models", "/openai/deployments"] {
        let url = format!(
            "{}{path}?api-version={API_VERSION}",
            server.azure_endpoint()
        );
        let list: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["object"], "list");
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == DEPLOYMENT),
            "{list}"
        );
    }
    let unversioned = client()
        .get(format!("{}/openai/models", server.azure_endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), 404);
    server.shutdown().await;
}

// ---------------------------------------------------------------- Bedrock Converse

#[tokio::test]
async fn converse_answers_from_the_prompt() {
    let server = start().await;
    let path = bedrock_path(NOVA, "converse");
    let response = post_bedrock(&server, &path, &converse_body("hello bedrock"), None, "").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"]["message"]["role"], "assistant");
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        format!("Fake reply from {NOVA}. You said: hello bedrock")
    );
    assert_eq!(body["stopReason"], "end_turn");
    assert_eq!(body["usage"]["inputTokens"], 6);
    let output = body["usage"]["outputTokens"].as_u64().unwrap();
    assert_eq!(body["usage"]["totalTokens"].as_u64().unwrap(), 6 + output);
    assert!(body["metrics"]["latencyMs"].is_u64());

    let recorded = server.requests();
    assert_eq!(recorded[0].model(), Some(NOVA));
    assert_eq!(recorded[0].path, path);

    // The output cap cuts the answer, as maxTokens does.
    let mut capped = converse_body("hello bedrock");
    capped["inferenceConfig"]["maxTokens"] = json!(2);
    let body: Value = post_bedrock(&server, &path, &capped, None, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["stopReason"], "max_tokens");
    assert_eq!(body["usage"]["outputTokens"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn converse_stream_sends_the_event_sequence() {
    let server = start().await;
    let plain: Value = post_bedrock(
        &server,
        &bedrock_path(NOVA, "converse"),
        &converse_body("stream this"),
        None,
        "",
    )
    .await
    .json()
    .await
    .unwrap();
    let response = post_bedrock(
        &server,
        &bedrock_path(NOVA, "converse-stream"),
        &converse_body("stream this"),
        None,
        "",
    )
    .await;
    let events = stream_events(response).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "messageStart");
    assert_eq!(events[0].1["role"], "assistant");
    let deltas = names.iter().filter(|n| **n == "contentBlockDelta").count();
    assert!(deltas >= 3, "{names:?}");
    assert_eq!(
        names[deltas + 1..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "contentBlockDelta")
        .map(|(_, e)| e["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, plain["output"]["message"]["content"][0]["text"]);
    assert_eq!(events[deltas + 2].1["stopReason"], "end_turn");
    assert_eq!(events[deltas + 3].1["usage"], plain["usage"]);
    server.shutdown().await;
}

#[tokio::test]
async fn converse_tool_calls_and_results() {
    let server = start().await;
    server.set_behavior(Some(NOVA), weather_call());
    let mut body = converse_body("weather?");
    body["toolConfig"] = json!({"tools": [{"toolSpec": {
        "name": "get_weather",
        "inputSchema": {"json": {"type": "object"}},
    }}]});

    let answer: Value = post_bedrock(&server, &bedrock_path(NOVA, "converse"), &body, None, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stopReason"], "tool_use");
    let call = &answer["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Zürich", "days": [1, 2]}));
    let id = call["toolUseId"].as_str().unwrap();
    assert!(id.starts_with("tooluse_"));

    let events = stream_events(
        post_bedrock(
            &server,
            &bedrock_path(NOVA, "converse-stream"),
            &body,
            None,
            "",
        )
        .await,
    )
    .await;
    assert_eq!(events[1].0, "contentBlockStart");
    assert_eq!(events[1].1["start"]["toolUse"]["name"], "get_weather");
    let input: String = events
        .iter()
        .filter(|(n, _)| n == "contentBlockDelta")
        .map(|(_, e)| e["delta"]["toolUse"]["input"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        call["input"]
    );
    let stop = events.iter().find(|(n, _)| n == "messageStop").unwrap();
    assert_eq!(stop.1["stopReason"], "tool_use");

    // The tool result comes back; the fake echoes it and the loop ends.
    let mut follow_up = body.clone();
    let messages = follow_up["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": [{"toolUse": call}]}));
    messages.push(json!({"role": "user", "content": [{"toolResult": {
        "toolUseId": id,
        "content": [{"text": "18 degrees"}],
    }}]}));
    let answer: Value = post_bedrock(
        &server,
        &bedrock_path(NOVA, "converse"),
        &follow_up,
        None,
        "",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        answer["output"]["message"]["content"][0]["text"],
        "tool result: 18 degrees"
    );
    assert_eq!(answer["stopReason"], "end_turn");

    // Tool blocks without a toolConfig are refused, as Bedrock refuses them.
    follow_up.as_object_mut().unwrap().remove("toolConfig");
    let refused = post_bedrock(
        &server,
        &bedrock_path(NOVA, "converse"),
        &follow_up,
        None,
        "",
    )
    .await;
    assert_eq!(refused.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn converse_takes_images_and_refuses_broken_ones() {
    let server = start().await;
    let path = bedrock_path(NOVA, "converse");
    let image = |bytes: &str| {
        json!({"messages": [{"role": "user", "content": [
            {"text": "what is in this picture"},
            {"image": {"format": "png", "source": {"bytes": bytes}}},
        ]}]})
    };
    let png = aws_smithy_types::base64::encode(b"\x89PNG\r\n\x1a\n fake image bytes");
    let answer: Value = post_bedrock(&server, &path, &image(&png), None, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["output"]["message"]["content"][0]["text"],
        format!("Fake reply from {NOVA}. You said: what is in this picture")
    );
    let broken = post_bedrock(&server, &path, &image("%%% not base64"), None, "").await;
    assert_eq!(broken.status(), 400);
    assert!(
        broken.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException:")
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- Bedrock InvokeModel

#[tokio::test]
async fn invoke_answers_anthropic_messages() {
    let server = start().await;
    let path = bedrock_path(CLAUDE, "invoke");
    let response = post_bedrock(&server, &path, &invoke_body("hello claude"), None, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amzn-bedrock-input-token-count"], "6");
    assert!(
        response
            .headers()
            .contains_key("x-amzn-bedrock-output-token-count")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert!(body["id"].as_str().unwrap().starts_with("msg_bdrk_"));
    assert_eq!(body["model"], CLAUDE);
    assert_eq!(
        body["content"][0]["text"],
        format!("Fake reply from {CLAUDE}. You said: hello claude")
    );
    assert_eq!(body["stop_reason"], "end_turn");

    // An Anthropic API body (model, no anthropic_version) is refused as Bedrock refuses it.
    let mut anthropic_api = invoke_body("hi");
    anthropic_api["model"] = json!("claude-3-5-sonnet-20240620");
    anthropic_api
        .as_object_mut()
        .unwrap()
        .remove("anthropic_version");
    let refused = post_bedrock(&server, &path, &anthropic_api, None, "").await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        error["message"],
        "Malformed input request: #: required key [anthropic_version] not found#: extraneous key [model] is not permitted, please reformat your input and try again."
    );
    // Only Anthropic models take Anthropic bodies.
    let other = post_bedrock(
        &server,
        &bedrock_path(NOVA, "invoke"),
        &invoke_body("hi"),
        None,
        "",
    )
    .await;
    assert_eq!(other.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn invoke_stream_wraps_anthropic_events_in_chunks() {
    let server = start().await;
    let profile = format!("us.{CLAUDE}");
    let response = post_bedrock(
        &server,
        &bedrock_path(&profile, "invoke-with-response-stream"),
        &invoke_body("stream me"),
        None,
        "",
    )
    .await;
    assert_eq!(
        response.headers()["x-amzn-bedrock-content-type"],
        "application/json"
    );
    let inner = unwrap_chunks(&stream_events(response).await);
    let types: Vec<&str> = inner.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "message_start");
    assert_eq!(types[1], "content_block_start");
    assert!(!types.contains(&"ping"), "Bedrock sends no ping: {types:?}");
    assert_eq!(
        types[types.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = inner
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| e["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        text,
        format!("Fake reply from {profile}. You said: stream me")
    );
    let metrics = &inner.last().unwrap()["amazon-bedrock-invocationMetrics"];
    assert_eq!(metrics["inputTokenCount"], 6);
    assert!(metrics["outputTokenCount"].as_u64().unwrap() > 0);

    // A tool call streams as Anthropic's tool_use block.
    server.set_behavior(Some(&profile), weather_call());
    let response = post_bedrock(
        &server,
        &bedrock_path(&profile, "invoke-with-response-stream"),
        &invoke_body("weather?"),
        None,
        "",
    )
    .await;
    let inner = unwrap_chunks(&stream_events(response).await);
    assert_eq!(inner[1]["content_block"]["type"], "tool_use");
    assert_eq!(inner[1]["content_block"]["name"], "get_weather");
    let json: String = inner
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({"city": "Zürich", "days": [1, 2]})
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- Bedrock faults

#[tokio::test]
async fn bedrock_errors_name_the_exception() {
    let server = start().await;
    let path = bedrock_path(NOVA, "converse");
    let body = converse_body("hi");
    let cases = [
        (400, 400, "ValidationException"),
        (403, 403, "AccessDeniedException"),
        (404, 404, "ResourceNotFoundException"),
        (429, 429, "ThrottlingException"),
        (500, 500, "InternalServerException"),
        (503, 503, "ServiceUnavailableException"),
    ];
    for (asked, status, kind) in cases {
        server.set_behavior(Some(NOVA), failing(asked));
        let response = post_bedrock(&server, &path, &body, None, "").await;
        assert_eq!(response.status(), status, "{asked}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")
        );
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    server.set_behavior(
        Some(NOVA),
        Behavior {
            status: Some(429),
            error_type: Some("ModelNotReadyException".into()),
            error_message: Some("warming up".into()),
            retry_after_s: Some(2),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    let response = post_bedrock(&server, &path, &body, None, "").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert!(
        response.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ModelNotReadyException:")
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "warming up"})
    );
    assert_eq!(
        post_bedrock(&server, &path, &body, None, "").await.status(),
        200,
        "recovered after fail_times"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bedrock_region_block() {
    let server = start().await;
    server.set_behavior(None, failing(451));
    let claude = post_bedrock(
        &server,
        &bedrock_path(CLAUDE, "invoke"),
        &invoke_body("hi"),
        None,
        "",
    )
    .await;
    assert_eq!(claude.status(), 400);
    assert!(
        claude.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException:")
    );
    let error: Value = claude.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Access to Anthropic models is not allowed from unsupported countries")
    );
    let nova = post_bedrock(
        &server,
        &bedrock_path(NOVA, "converse"),
        &converse_body("hi"),
        None,
        "",
    )
    .await;
    assert_eq!(nova.status(), 403);
    let error: Value = nova.json().await.unwrap();
    assert_eq!(
        error["message"],
        "You don't have access to the model with the specified model ID."
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bedrock_stream_errors_come_as_exception_messages() {
    let server = start().await;
    server.set_behavior(
        Some(NOVA),
        Behavior {
            status: Some(503),
            drop_after_events: Some(2),
            ..Behavior::default()
        },
    );
    let events = stream_events(
        post_bedrock(
            &server,
            &bedrock_path(NOVA, "converse-stream"),
            &converse_body("tell me a long story"),
            None,
            "",
        )
        .await,
    )
    .await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "exception:serviceUnavailableException"
        ]
    );
    assert_eq!(
        events[2].1["message"],
        "Bedrock is unable to process your request."
    );

    // The same on an Anthropic chunk stream, named by error_type.
    server.set_behavior(
        Some(CLAUDE),
        Behavior {
            status: Some(429),
            error_type: Some("ThrottlingException".into()),
            drop_after_events: Some(1),
            ..Behavior::default()
        },
    );
    let events = stream_events(
        post_bedrock(
            &server,
            &bedrock_path(CLAUDE, "invoke-with-response-stream"),
            &invoke_body("hi"),
            None,
            "",
        )
        .await,
    )
    .await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, "chunk");
    assert_eq!(events[1].0, "exception:throttlingException");
    server.shutdown().await;
}

#[tokio::test]
async fn bedrock_streams_are_cut_delayed_and_broken_on_demand() {
    let server = start().await;
    let path = bedrock_path(NOVA, "converse-stream");
    let body = converse_body("tell me a long story");

    server.set_behavior(
        Some(NOVA),
        Behavior {
            drop_after_events: Some(3),
            ..Behavior::default()
        },
    );
    let response = post_bedrock(&server, &path, &body, None, "").await;
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let mut failed = false;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the cut must be an error");
    assert_eq!(decode_messages(&received).unwrap().len(), 3);

    server.set_behavior(
        Some(NOVA),
        Behavior {
            delay_ms: Some(200),
            chunk_delay_ms: Some(20),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let events = stream_events(post_bedrock(&server, &path, &body, None, "").await).await;
    // 200 ms before the first byte, 20 ms between each of the events after it.
    let least = 200 + 20 * (events.len() as u64 - 1);
    assert!(started.elapsed() >= Duration::from_millis(least));

    server.set_behavior(
        Some(NOVA),
        Behavior {
            garbage_body: true,
            ..Behavior::default()
        },
    );
    let response = post_bedrock(&server, &path, &body, None, "").await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let error = decode_messages(&bytes).unwrap_err();
    assert!(error.starts_with("after 1 messages"), "{error}");

    server.set_behavior(
        Some(NOVA),
        Behavior {
            refuse_connection: true,
            ..Behavior::default()
        },
    );
    let refused = client()
        .post(format!("{}{path}", server.bedrock_endpoint()))
        .json(&body)
        .send()
        .await;
    assert!(refused.is_err());
    server.shutdown().await;
}

// ---------------------------------------------------------------- AWS Signature Version 4

fn signing_key(region: Option<&str>) -> AwsSigningKey {
    AwsSigningKey {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        region: region.map(str::to_owned),
    }
}

#[tokio::test]
async fn sigv4_is_verified() {
    let server = start().await;
    server.require_aws_signature(Some(signing_key(Some("us-east-1"))));
    let path = bedrock_path(CLAUDE, "converse");
    let body = converse_body("signed?");

    let signed = post_bedrock(&server, &path, &body, Some(SECRET), "us-east-1").await;
    assert_eq!(signed.status(), 200);
    let answer: Value = signed.json().await.unwrap();
    assert!(answer["output"]["message"]["content"][0]["text"].is_string());

    let streamed = post_bedrock(
        &server,
        &bedrock_path(CLAUDE, "invoke-with-response-stream"),
        &invoke_body("signed stream"),
        Some(SECRET),
        "us-east-1",
    )
    .await;
    assert!(!stream_events(streamed).await.is_empty());

    let wrong = post_bedrock(&server, &path, &body, Some("not-the-secret"), "us-east-1").await;
    assert_eq!(wrong.status(), 403);
    assert!(
        wrong.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("InvalidSignatureException:")
    );
    let error: Value = wrong.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated does not match")
    );

    let other_region = post_bedrock(&server, &path, &body, Some(SECRET), "eu-west-1").await;
    assert_eq!(other_region.status(), 403);

    let unsigned = post_bedrock(&server, &path, &body, None, "").await;
    assert_eq!(unsigned.status(), 403);
    assert!(
        unsigned.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("MissingAuthenticationTokenException:")
    );

    // A body changed after signing is refused.
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut tampered = client()
        .post(format!("{}{path}", server.bedrock_endpoint()))
        .header("content-type", "application/json");
    for (name, value) in sigv4_headers(
        &server.addr().to_string(),
        "POST",
        &path,
        &bytes,
        (KEY_ID, SECRET),
        "us-east-1",
    ) {
        tampered = tampered.header(name, value);
    }
    let tampered = tampered
        .body(serde_json::to_vec(&converse_body("something else")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 403);

    // The model list is signed too.
    let list_path = "/foundation-models";
    let mut list = client()
        .get(format!("{}{list_path}", server.bedrock_endpoint()))
        .header("content-type", "application/json");
    for (name, value) in sigv4_headers(
        &server.addr().to_string(),
        "GET",
        list_path,
        b"",
        (KEY_ID, SECRET),
        "us-east-1",
    ) {
        list = list.header(name, value);
    }
    let list: Value = list.send().await.unwrap().json().await.unwrap();
    assert!(
        list["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["modelId"] == CLAUDE),
        "{list}"
    );

    // Without a key, anything goes.
    server.require_aws_signature(None);
    assert_eq!(
        post_bedrock(&server, &path, &body, None, "").await.status(),
        200
    );
    server.shutdown().await;
}

/// The binary's flags turn the check on.
#[cfg(unix)]
#[tokio::test]
async fn binary_takes_aws_credentials() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_clearance-fake"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--aws-access-key-id",
            KEY_ID,
            "--aws-secret-access-key",
            SECRET,
            "--aws-region",
            "us-west-2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("clearance-fake listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let path = bedrock_path(NOVA, "converse");
    let body = serde_json::to_vec(&converse_body("hi")).unwrap();
    let host = addr.to_string();
    let send = |secret: &'static str| {
        let signed = sigv4_headers(&host, "POST", &path, &body, (KEY_ID, secret), "us-west-2");
        let mut request = client()
            .post(format!("http://{addr}{path}"))
            .header("content-type", "application/json");
        for (name, value) in signed {
            request = request.header(name, value);
        }
        request.body(body.clone()).send()
    };
    assert_eq!(send(SECRET).await.unwrap().status(), 200);
    assert_eq!(send("wrong-secret").await.unwrap().status(), 403);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("clearance-fake did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
