//! Embeddings and token counts end to end below the gateway, for every provider kind that has
//! them: the body `clearance-wire` writes, sent by [`UpstreamClient`] with the kind's
//! credential (AWS SigV4 for Bedrock) to the endpoint of the operation, answered by the fake
//! provider in its real wire format, and read back by `clearance-wire`.
#![allow(clippy::unwrap_used)]

use clearance_config::{AwsCredentials, BedrockApi, BedrockConfig, Provider, ProviderKind, Secret};
use clearance_fake::{AwsSigningKey, FakeServer};
use clearance_upstream::{
    ForwardedHeaders, Operation, UpstreamCall, UpstreamClient, UpstreamError, count_target,
    embed_target,
};
use clearance_wire::count_tokens;
use clearance_wire::embeddings::{self, EncodingFormat};
use clearance_wire::translate::RenderOptions;
use serde_json::{Value, json};

const KEY: &str = "provider-key";
const KEY_ID: &str = "AKIAFAKEFAKEFAKE0003";
const SECRET: &str = "fake/secret/for/clearance/tests/0000002";

async fn fake() -> FakeServer {
    let fake = FakeServer::start("127.0.0.1:0").await.unwrap();
    fake.require_key(Some(KEY.into()));
    fake.require_aws_signature(Some(AwsSigningKey {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        region: Some("us-east-1".into()),
    }));
    fake
}

fn provider(kind: ProviderKind, base: String) -> Provider {
    let signs = matches!(kind, ProviderKind::Bedrock(_));
    Provider {
        name: kind.as_str().into(),
        kind,
        base_url: url::Url::parse(&base).unwrap(),
        api_key: (!signs).then(|| Secret::new(KEY.into())),
        default_max_tokens: 1024,
        health: None,
    }
}

fn bedrock(fake: &FakeServer, api: BedrockApi) -> Provider {
    let kind = ProviderKind::Bedrock(BedrockConfig {
        region: "us-east-1".into(),
        api,
        credentials: Some(AwsCredentials {
            access_key_id: Secret::new(KEY_ID.into()),
            secret_access_key: Secret::new(SECRET.into()),
            session_token: None,
        }),
    });
    provider(kind, fake.bedrock_endpoint())
}

/// Sends one body; the answer's JSON and Bedrock's token-count header.
async fn call(
    client: &UpstreamClient,
    provider: &Provider,
    model: &str,
    body: &Value,
    operation: Operation,
) -> (Value, Option<u64>) {
    let call = UpstreamCall {
        body: serde_json::to_vec(body).unwrap(),
        upstream_model: model,
        stream: false,
        operation,
    };
    let response = client
        .send(provider, call, &ForwardedHeaders::default())
        .await
        .unwrap();
    let status = response.status;
    let tokens = response.input_token_count;
    let bytes = response.collect(&provider.name, 1 << 24).await.unwrap();
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, 200, "{}: {json}", provider.name);
    (json, tokens)
}

/// What the gateway does for `POST /v1/embeddings` against one model.
async fn embed(
    client: &UpstreamClient,
    provider: &Provider,
    model: &str,
    client_body: &Value,
    dimensions: u32,
) -> Value {
    let request = embeddings::parse_request(client_body).unwrap();
    let target = embed_target(&provider.kind, model).unwrap();
    let bodies = embeddings::render_request(target, client_body, &request, model).unwrap();
    let mut parts = Vec::new();
    for body in &bodies {
        let (answer, header_tokens) = call(client, provider, model, body, Operation::Embed).await;
        let part = embeddings::parse_response(target, &answer).unwrap();
        parts.push(part.or_input_tokens(header_tokens));
    }
    let merged = embeddings::merge(parts);
    embeddings::check_answer(&merged, &request, dimensions).unwrap();
    embeddings::render_response(&merged, request.encoding_format, &request.model)
}

#[tokio::test]
async fn every_kind_with_embeddings_embeds_through_the_client() {
    let fake = fake().await;
    let client = UpstreamClient::new().unwrap();
    let azure = provider(
        ProviderKind::AzureOpenai {
            api_version: "2024-10-21".into(),
        },
        fake.azure_endpoint(),
    );
    let cases = [
        (
            provider(ProviderKind::Openai, fake.openai_base_url()),
            "text-embedding-3-small",
        ),
        (azure, "embed-deployment"),
        (
            provider(ProviderKind::Gemini, fake.gemini_base_url()),
            "gemini-embedding-001",
        ),
        (
            bedrock(&fake, BedrockApi::Converse),
            "amazon.titan-embed-text-v2:0",
        ),
        // Embeddings on a Claude-on-Bedrock provider: the Titan body is not rewritten.
        (
            bedrock(&fake, BedrockApi::Anthropic),
            "amazon.titan-embed-text-v2:0",
        ),
        (bedrock(&fake, BedrockApi::Converse), "cohere.embed-v4:0"),
    ];
    let texts = ["the quick brown fox", "jumps", "over the dog"];
    let mut first_vectors = Vec::new();
    for (provider, model) in &cases {
        let client_body = json!({"model": "my-embed", "input": texts, "dimensions": 256});
        let answer = embed(&client, provider, model, &client_body, 256).await;
        assert_eq!(answer["model"], "my-embed", "{model}");
        let data = answer["data"].as_array().unwrap();
        assert_eq!(data.len(), 3, "{model}");
        assert_eq!(data[2]["index"], 2);
        first_vectors.push(data[0]["embedding"].clone());
        // Words plus one per input, where the provider counts (not Gemini).
        let expected_tokens = if matches!(provider.kind, ProviderKind::Gemini) {
            0
        } else {
            4 + 1 + 3 + 3
        };
        assert_eq!(answer["usage"]["prompt_tokens"], expected_tokens, "{model}");
    }
    // The fake derives a vector from its text alone: the same text, the same vector, from
    // every provider and through every body format.
    assert!(first_vectors.windows(2).all(|w| w[0] == w[1]));

    // Titan takes one input per call.
    let titan_calls = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("titan-embed") && r.path.ends_with("/invoke"))
        .count();
    assert_eq!(titan_calls, 2 * texts.len());

    // base64 for the client, whatever the provider wrote.
    let client_body = json!({"model": "e", "input": "x", "encoding_format": "base64",
        "dimensions": 256});
    let gemini = provider(ProviderKind::Gemini, fake.gemini_base_url());
    let answer = embed(&client, &gemini, "gemini-embedding-001", &client_body, 256).await;
    assert!(answer["data"][0]["embedding"].is_string());
    let request = embeddings::parse_request(&client_body).unwrap();
    assert_eq!(request.encoding_format, EncodingFormat::Base64);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_length_other_than_configured_is_caught() {
    let fake = fake().await;
    let client = UpstreamClient::new().unwrap();
    let openai = provider(ProviderKind::Openai, fake.openai_base_url());
    // The model answers 1536 (the fake's default for `small`); the config says 1024.
    let client_body = json!({"model": "e", "input": "x"});
    let request = embeddings::parse_request(&client_body).unwrap();
    let target = embed_target(&openai.kind, "text-embedding-3-small").unwrap();
    let bodies =
        embeddings::render_request(target, &client_body, &request, "text-embedding-3-small")
            .unwrap();
    let (answer, _) = call(
        &client,
        &openai,
        "text-embedding-3-small",
        &bodies[0],
        Operation::Embed,
    )
    .await;
    let parsed = embeddings::parse_response(target, &answer).unwrap();
    let error = embeddings::check_dimensions(&parsed, 1024).unwrap_err();
    assert!(error.to_string().contains("1536"), "{error}");
    assert!(!error.is_request_error());
    fake.shutdown().await;
}

#[tokio::test]
async fn every_kind_with_a_count_counts_one_conversation_alike() {
    let fake = fake().await;
    let client = UpstreamClient::new().unwrap();
    let cases = [
        (
            provider(ProviderKind::Anthropic, fake.anthropic_base_url()),
            "claude-sonnet-4-20250514",
        ),
        (
            provider(ProviderKind::Gemini, fake.gemini_base_url()),
            "gemini-2.5-flash",
        ),
        (
            bedrock(&fake, BedrockApi::Anthropic),
            "anthropic.claude-sonnet-4-20250514-v1:0",
        ),
        (
            bedrock(&fake, BedrockApi::Converse),
            "anthropic.claude-sonnet-4-20250514-v1:0",
        ),
    ];
    let client_body = json!({
        "model": "claude",
        "system": "You are a careful scientist.",
        "messages": [
            {"role": "user", "content": "Hello, Claude"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello there."}]},
            {"role": "user", "content": "What is the boiling point of water?"},
        ],
        "tools": [{"name": "lookup", "description": "Looks things up",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    });
    // 5 + 2 + 2 + 7 words, plus 3 per request.
    let expected = 19;
    let options = RenderOptions {
        default_max_tokens: 1024,
        legacy_max_tokens: false,
    };
    for (provider, model) in &cases {
        let target = count_target(&provider.kind).unwrap();
        let body = count_tokens::render_request(target, &client_body, model, &options).unwrap();
        let (answer, _) = call(&client, provider, model, &body, Operation::CountTokens).await;
        let count = count_tokens::parse_response(target, &answer).unwrap();
        assert_eq!(count, expected, "{:?}: {answer}", provider.kind);
        assert_eq!(
            count_tokens::render_response(count),
            json!({"input_tokens": expected})
        );
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn an_operation_a_kind_lacks_is_refused_before_anything_is_sent() {
    let fake = fake().await;
    let client = UpstreamClient::new().unwrap();
    let anthropic = provider(ProviderKind::Anthropic, fake.anthropic_base_url());
    let openai = provider(ProviderKind::Openai, fake.openai_base_url());
    for (provider, operation) in [
        (&anthropic, Operation::Embed),
        (&openai, Operation::CountTokens),
    ] {
        let call = UpstreamCall {
            body: b"{}".to_vec(),
            upstream_model: "m",
            stream: false,
            operation,
        };
        let error = client
            .send(provider, call, &ForwardedHeaders::default())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, UpstreamError::Unsupported { operation: o, .. } if o == operation),
            "{error}"
        );
    }
    assert!(fake.requests().is_empty());
    assert!(count_target(&openai.kind).is_err());
    assert!(embed_target(&anthropic.kind, "claude").is_err());
    fake.shutdown().await;
}
