//! Embeddings and token counting over real HTTP, as each provider's clients see them: OpenAI's
//! and Azure's `embeddings`, Gemini's `batchEmbedContents` and `countTokens`, Anthropic's
//! `count_tokens`, Bedrock's `InvokeModel` for Titan and Cohere and `CountTokens` (signed with
//! `aws-sigv4` when the fake demands it), and the fault behaviors on each.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use clearance_fake::{AwsSigningKey, Behavior, FakeServer};
use common::{bedrock_path, client, start};
use serde_json::{Value, json};

const KEY_ID: &str = "AKIAFAKEFAKEFAKE0002";
const SECRET: &str = "fake/secret/for/clearance/tests/0000001";
const TITAN: &str = "amazon.titan-embed-text-v2:0";
const COHERE: &str = "cohere.embed-english-v3";
const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

// ---------------------------------------------------------------- helpers

async fn post(url: String, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn openai_embed(server: &FakeServer, body: &Value) -> reqwest::Response {
    post(
        format!("{}/embeddings", server.openai_base_url()),
        body,
        &[],
    )
    .await
}

async fn gemini_call(
    server: &FakeServer,
    model: &str,
    method: &str,
    body: &Value,
) -> reqwest::Response {
    let url = format!(
        "{}/v1beta/models/{model}:{method}",
        server.gemini_base_url()
    );
    post(url, body, &[]).await
}

async fn anthropic_count(server: &FakeServer, body: &Value) -> reqwest::Response {
    let url = format!("{}/v1/messages/count_tokens", server.anthropic_base_url());
    post(url, body, &[("anthropic-version", "2023-06-01")]).await
}

/// A Bedrock request, signed with [`SECRET`] when `signed`.
async fn post_bedrock(
    server: &FakeServer,
    path: &str,
    body: &Value,
    signed: bool,
) -> reqwest::Response {
    let key = signed.then_some((KEY_ID, SECRET));
    common::post_bedrock(server, path, body, key, "us-east-1").await
}

/// Bedrock's `x-amzn-errortype`: the exception's name, a colon, a namespace.
fn error_type(response: &reqwest::Response) -> String {
    response.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|x| x * x).sum::<f32>().sqrt()
}

// ---------------------------------------------------------------- embeddings

#[tokio::test]
async fn openai_embeds_each_input_deterministically() {
    let server = start().await;
    let body = json!({"model": "text-embedding-3-small", "input": ["the cat sat", "a dog"]});
    let response = openai_embed(&server, &body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "list");
    assert_eq!(answer["model"], "text-embedding-3-small");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["object"], "embedding");
    let first = floats(&data[0]["embedding"]);
    let second = floats(&data[1]["embedding"]);
    assert_eq!(first.len(), 1536, "`small` models default to 1536");
    assert!((norm(&first) - 1.0).abs() < 1e-3);
    assert_ne!(first, second);
    // Words plus one per input: (3 + 1) + (2 + 1).
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 7, "total_tokens": 7})
    );

    let again: Value = openai_embed(
        &server,
        &json!({"model": "other-large", "input": "the cat sat"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let large = floats(&again["data"][0]["embedding"]);
    assert_eq!(large.len(), 3072, "`large` models default to 3072");
    assert_eq!(
        large[..8],
        vector_of(&server, "the cat sat", 3072).await[..8]
    );
    server.shutdown().await;
}

async fn vector_of(server: &FakeServer, text: &str, dimensions: u64) -> Vec<f32> {
    let body = json!({"model": "m", "input": text, "dimensions": dimensions});
    let answer: Value = openai_embed(server, &body).await.json().await.unwrap();
    floats(&answer["data"][0]["embedding"])
}

#[tokio::test]
async fn openai_dimensions_base64_and_token_inputs() {
    let server = start().await;
    let body =
        json!({"model": "m", "input": "hello", "dimensions": 8, "encoding_format": "base64"});
    let answer: Value = openai_embed(&server, &body).await.json().await.unwrap();
    let encoded = answer["data"][0]["embedding"].as_str().unwrap();
    let bytes = aws_smithy_types::base64::decode(encoded).unwrap();
    assert_eq!(bytes.len(), 8 * 4);
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, vector_of(&server, "hello", 8).await);

    let tokens = json!({"model": "m", "input": [[1, 2, 3], [4]], "dimensions": 4});
    let answer: Value = openai_embed(&server, &tokens).await.json().await.unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(answer["usage"]["prompt_tokens"], 4);

    for (bad, param) in [
        (json!({"input": "x"}), "model"),
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": []}), "input"),
        (
            json!({"model": "m", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
        (
            json!({"model": "m", "input": "x", "encoding_format": "int8"}),
            "encoding_format",
        ),
    ] {
        let response = openai_embed(&server, &bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], param, "{bad}");
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn azure_embeds_at_the_deployment() {
    let server = start().await;
    server.require_key(Some("azure-key".into()));
    let url = |version: &str| {
        format!(
            "{}/openai/deployments/my-embed-small/embeddings?api-version={version}",
            server.azure_endpoint()
        )
    };
    let body = json!({"input": ["one two"], "dimensions": 16});
    let response = post(url("2024-10-21"), &body, &[("api-key", "azure-key")]).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("apim-request-id"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["model"], "my-embed-small");
    assert_eq!(floats(&answer["data"][0]["embedding"]).len(), 16);

    let wrong_key = post(url("2024-10-21"), &body, &[("api-key", "nope")]).await;
    assert_eq!(wrong_key.status(), 401);
    let no_version = post(
        format!(
            "{}/openai/deployments/d/embeddings",
            server.azure_endpoint()
        ),
        &body,
        &[("api-key", "azure-key")],
    )
    .await;
    assert_eq!(no_version.status(), 404);
    let recorded = server.requests().pop().unwrap();
    assert_eq!(recorded.path_model.as_deref(), Some("d"));
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_batch_embeds_with_the_batchs_model() {
    let server = start().await;
    let request = |text: &str, dims: Option<u64>| {
        let mut one = json!({"model": "models/gemini-embedding-001",
            "content": {"parts": [{"text": text}]}});
        if let Some(n) = dims {
            one["outputDimensionality"] = json!(n);
        }
        one
    };
    let body = json!({"requests": [request("What is the meaning of life?", Some(768)),
        request("How much wood?", None)]});
    let response = gemini_call(&server, "gemini-embedding-001", "batchEmbedContents", &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let embeddings = answer["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 2);
    assert_eq!(floats(&embeddings[0]["values"]).len(), 768);
    assert_eq!(floats(&embeddings[1]["values"]).len(), 1024);

    let mismatched = json!({"requests": [{"model": "models/other",
        "content": {"parts": [{"text": "x"}]}}]});
    let response = gemini_call(
        &server,
        "gemini-embedding-001",
        "batchEmbedContents",
        &mismatched,
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
    server.shutdown().await;
}

#[tokio::test]
async fn bedrock_titan_and_cohere_embed_over_invoke_model() {
    let server = start().await;
    server.require_aws_signature(Some(AwsSigningKey {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        region: Some("us-east-1".into()),
    }));
    let titan = json!({"inputText": "hello there world", "dimensions": 256, "normalize": true});
    let response = post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &titan, true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amzn-bedrock-input-token-count"], "4");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(floats(&answer["embedding"]).len(), 256);
    assert_eq!(answer["inputTextTokenCount"], 4);
    assert_eq!(answer["embeddingsByType"]["float"], answer["embedding"]);

    let unsigned = post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &titan, false).await;
    assert_eq!(unsigned.status(), 403);

    let cohere = json!({"texts": ["a b", "c"], "input_type": "search_document"});
    let response = post_bedrock(&server, &bedrock_path(COHERE, "invoke"), &cohere, true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amzn-bedrock-input-token-count"], "5");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response_type"], "embeddings_floats");
    let vectors = answer["embeddings"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(floats(&vectors[0]).len(), 1024);
    // The same text gets the same vector whichever provider embeds it.
    let titan_again = json!({"inputText": "a b"});
    let titan_answer: Value =
        post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &titan_again, true)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(titan_answer["embedding"], vectors[0]);

    let by_type =
        json!({"texts": ["a"], "input_type": "search_query", "embedding_types": ["float"]});
    let answer: Value = post_bedrock(&server, &bedrock_path(COHERE, "invoke"), &by_type, true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response_type"], "embeddings_by_type");
    assert_eq!(answer["embeddings"]["float"].as_array().unwrap().len(), 1);

    let no_type = json!({"texts": ["a"]});
    let response = post_bedrock(&server, &bedrock_path(COHERE, "invoke"), &no_type, true).await;
    assert_eq!(response.status(), 400);
    assert!(error_type(&response).starts_with("ValidationException:"));
    let no_text = json!({"dimensions": 256});
    let response = post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &no_text, true).await;
    assert_eq!(response.status(), 400);
    server.shutdown().await;
}

// ---------------------------------------------------------------- token counting

#[tokio::test]
async fn each_provider_counts_one_conversation_alike() {
    let server = start().await;
    server.require_aws_signature(Some(AwsSigningKey {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        region: Some("us-east-1".into()),
    }));
    // 3 + 3 words, plus 3 per request.
    let expected = 9;
    let anthropic = json!({"model": "claude-sonnet-4", "system": "You are terse.",
        "messages": [{"role": "user", "content": "Hello there, Claude"}]});
    let response = anthropic_count(&server, &anthropic).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"input_tokens": expected})
    );

    let gemini = json!({"generateContentRequest": {"model": "models/gemini-2.5-flash",
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello there, Claude"}]}]}});
    let answer: Value = gemini_call(&server, "gemini-2.5-flash", "countTokens", &gemini)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["totalTokens"], expected);
    let contents_only = json!({"contents": gemini["generateContentRequest"]["contents"]});
    let answer: Value = gemini_call(&server, "gemini-2.5-flash", "countTokens", &contents_only)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["totalTokens"], expected - 3);

    let invoke_body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
        "system": "You are terse.", "messages": [{"role": "user", "content": "Hello there, Claude"}]});
    let encoded = aws_smithy_types::base64::encode(serde_json::to_vec(&invoke_body).unwrap());
    let count = json!({"input": {"invokeModel": {"body": encoded}}});
    let response = post_bedrock(&server, &bedrock_path(CLAUDE, "count-tokens"), &count, true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"inputTokens": expected})
    );

    let converse = json!({"input": {"converse": {"system": [{"text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"text": "Hello there, Claude"}]}]}}});
    let response = post_bedrock(
        &server,
        &bedrock_path(CLAUDE, "count-tokens"),
        &converse,
        true,
    )
    .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"inputTokens": expected})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn counting_refuses_what_each_provider_refuses() {
    let server = start().await;
    let with_cap = json!({"model": "claude", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let response = anthropic_count(&server, &with_cap).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "max_tokens: Extra inputs are not permitted"
    );

    let both =
        json!({"contents": [], "generateContentRequest": {"model": "models/g", "contents": []}});
    let response = gemini_call(&server, "g", "countTokens", &both).await;
    assert_eq!(response.status(), 400);

    // An InvokeModel body without max_tokens is not one InvokeModel would take.
    let invoke_body = json!({"anthropic_version": "bedrock-2023-05-31",
        "messages": [{"role": "user", "content": "hi"}]});
    let encoded = aws_smithy_types::base64::encode(serde_json::to_vec(&invoke_body).unwrap());
    let count = json!({"input": {"invokeModel": {"body": encoded}}});
    let response = post_bedrock(
        &server,
        &bedrock_path(CLAUDE, "count-tokens"),
        &count,
        false,
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("max_tokens"),
        "{error}"
    );
    let nova = json!({"input": {"converse": {"messages": []}}});
    let response = post_bedrock(
        &server,
        &bedrock_path("amazon.nova-pro-v1:0", "count-tokens"),
        &nova,
        false,
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["message"],
        "The provided model doesn't support counting tokens."
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- behaviors

#[tokio::test]
async fn fault_behaviors_apply_to_embeddings_and_counts() {
    let server = start().await;
    server.set_behavior(
        Some("embed-down"),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    let response = openai_embed(&server, &json!({"model": "embed-down", "input": "x"})).await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "server_error");

    server.set_behavior(
        Some("gemini-embedding-001"),
        Behavior {
            status: Some(451),
            ..Behavior::default()
        },
    );
    let body = json!({"requests": [{"model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "x"}]}}]});
    let response = gemini_call(&server, "gemini-embedding-001", "batchEmbedContents", &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["status"], "FAILED_PRECONDITION");

    server.set_behavior(
        Some(TITAN),
        Behavior {
            status: Some(429),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    let titan = json!({"inputText": "x"});
    let response = post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &titan, false).await;
    assert_eq!(response.status(), 429);
    assert!(error_type(&response).starts_with("ThrottlingException:"));
    let response = post_bedrock(&server, &bedrock_path(TITAN, "invoke"), &titan, false).await;
    assert_eq!(
        response.status(),
        200,
        "the provider recovers after fail_times"
    );

    server.set_behavior(
        Some("claude-slow"),
        Behavior {
            delay_ms: Some(200),
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let count = json!({"model": "claude-slow", "messages": [{"role": "user", "content": "hi"}]});
    let response = anthropic_count(&server, &count).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    server.set_behavior(
        Some("gone"),
        Behavior {
            refuse_connection: true,
            ..Behavior::default()
        },
    );
    let refused = client()
        .post(format!(
            "{}/v1beta/models/gone:countTokens",
            server.gemini_base_url()
        ))
        .json(&json!({"contents": []}))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a refused connection must not produce a response"
    );
    let refused = client()
        .post(format!("{}/embeddings", server.openai_base_url()))
        .json(&json!({"model": "gone", "input": "x"}))
        .send()
        .await;
    assert!(refused.is_err());

    let recorded = server.requests();
    assert!(
        recorded
            .iter()
            .any(|r| r.path.ends_with(":batchEmbedContents"))
    );
    assert!(
        recorded
            .iter()
            .any(|r| r.path == "/v1/messages/count_tokens")
    );
    server.shutdown().await;
}
