//! `/v1/embeddings` and `/v1/messages/count_tokens` through the whole request path: the key,
//! the directives, the kill switch, failover among models of the same kind, translation to
//! each provider kind that has the operation, and the audit record.
#![allow(clippy::unwrap_used)]

mod harness;

use clearance_fake::Behavior;
use harness::{Harness, Options, outcomes};
use serde_json::{Value, json};

/// Embedding models of three kinds, two of 1024 dimensions routed to each other, and Claude on
/// Bedrock for counts. `@FAKE@` is the fake provider's root URL.
const CATALOG: &str = r#"
[providers.aws]
kind = "bedrock"
base_url = "@FAKE@"
region = "us-east-1"
access_key_id_env = "AWS_ACCESS_KEY_ID"
secret_access_key_env = "AWS_SECRET_ACCESS_KEY"

[providers.aws-claude]
kind = "bedrock"
base_url = "@FAKE@"
region = "us-east-1"
api = "anthropic"
access_key_id_env = "AWS_ACCESS_KEY_ID"
secret_access_key_env = "AWS_SECRET_ACCESS_KEY"

[[models]]
name = "embed-small"
provider = "openlab"
upstream = "text-embedding-3-small"
embedding_dimensions = 1536

[[models]]
name = "embed-gemini"
provider = "google"
upstream = "gemini-embedding-001"
embedding_dimensions = 1024

[[models]]
name = "embed-titan"
provider = "aws"
upstream = "amazon.titan-embed-text-v2:0"
embedding_dimensions = 1024

[[models]]
name = "bedrock-claude"
provider = "aws-claude"
upstream = "anthropic.claude-3-5-sonnet-20240620-v1:0"

[[routes]]
model = "embed-gemini"
fallbacks = ["embed-titan"]
"#;

async fn gateway(directives: Vec<(&'static str, String)>) -> Harness {
    Harness::start_with(Options {
        extra_config: CATALOG.to_string(),
        directives,
        ..Options::default()
    })
    .await
}

fn embed(model: &str, input: Value) -> String {
    json!({"model": model, "input": input}).to_string()
}

async fn vectors(response: reqwest::Response) -> (Value, Vec<Vec<f64>>) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let vectors = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    (body, vectors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_served_by_every_kind_that_has_them_in_openai_shape() {
    let h = gateway(Vec::new()).await;
    for (model, dimensions) in [
        ("embed-small", 1536),
        ("embed-gemini", 1024),
        ("embed-titan", 1024),
    ] {
        let response = h
            .post(
                "/v1/embeddings",
                &embed(model, json!(["first text", "second text", "first text"])),
            )
            .await;
        let id = harness::header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let (body, vectors) = vectors(response).await;
        assert_eq!(body["object"], "list");
        assert_eq!(body["model"], model);
        assert_eq!(vectors.len(), 3, "{model}");
        assert!(vectors.iter().all(|v| v.len() == dimensions), "{model}");
        // Deterministic per text, in input order, whichever API served it.
        assert_eq!(vectors[0], vectors[2], "{model}");
        assert_ne!(vectors[0], vectors[1], "{model}");
        let record = h.record_for(&id).await;
        assert_eq!(record["api"], "openai_embeddings");
        assert_eq!(record["served_model"], model);
        // Gemini's batchEmbedContents reports no token count; the others do (Titan in a
        // header), and the record keeps it.
        if model != "embed-gemini" {
            assert!(
                body["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
                "{model}"
            );
            assert!(record["input_tokens"].as_u64().unwrap() > 0, "{model}");
        }
    }
    // Titan embeds one input per call: three calls for three inputs.
    let titan_calls = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.model() == Some("amazon.titan-embed-text-v2:0"))
        .count();
    assert_eq!(titan_calls, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_embeddings_are_little_endian_floats() {
    let h = gateway(Vec::new()).await;
    let body = json!({"model": "embed-gemini", "input": "one", "encoding_format": "base64"});
    let response = h.post("/v1/embeddings", &body.to_string()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let text = body["data"][0]["embedding"].as_str().unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    assert_eq!(bytes.len(), 1024 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_model_fails_over_to_one_of_the_same_dimension() {
    let h = gateway(Vec::new()).await;
    h.fake.set_behavior(
        Some("gemini-embedding-001"),
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    );
    let response = h
        .post("/v1/embeddings", &embed("embed-gemini", json!("hello")))
        .await;
    assert_eq!(
        harness::header(&response, "x-clearance-served-model"),
        Some("embed-titan")
    );
    let id = harness::header(&response, "x-clearance-request-id")
        .unwrap()
        .to_string();
    let (_, vectors) = vectors(response).await;
    assert_eq!(vectors[0].len(), 1024);
    let record = h.record_for(&id).await;
    assert_eq!(
        outcomes(&record),
        [
            ("embed-gemini".to_string(), "overloaded".to_string()),
            ("embed-titan".to_string(), "served".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directives_and_the_kill_switch_apply_to_embeddings() {
    let directive = r#"
id = "EMBED-1"
title = "Export control: embeddings"
authority = "Order EMBED-1 under national security authorities"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
models = ["embed-small"]
when = "!principal.us_person"
effect = "deny"
review = "mailto:export-review@example.com"
"#;
    let h = gateway(vec![("embed.toml", directive.to_string())]).await;
    // bjorn is not a US person.
    let bjorn = harness::create_key(h.store.as_ref(), "bjorn").await.0;
    let mut denied = None;
    for _ in 0..100 {
        let response = h
            .post_with_key(
                "/v1/embeddings",
                &embed("embed-small", json!("x")),
                Some(&bjorn),
            )
            .await;
        if response.status() == 451 {
            denied = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let response = denied.expect("the directive denies bjorn");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EMBED-1"),
        "{body}"
    );
    // alice is a US person: served.
    let response = h
        .post("/v1/embeddings", &embed("embed-small", json!("x")))
        .await;
    assert_eq!(response.status(), 200);
    // The kill switch.
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            "/admin/models/embed-small/disable",
            Some(harness::ADMIN_TOKEN),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(status, 200);
    let response = h
        .post("/v1/embeddings", &embed("embed-small", json!("x")))
        .await;
    assert_eq!(response.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_embedding_models_stay_on_their_own_endpoints() {
    let h = gateway(Vec::new()).await;
    let response = h.post("/v1/embeddings", &embed("gpt-5", json!("x"))).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "model");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is a chat model")
    );
    let chat = json!({"model": "embed-small", "messages": [{"role": "user", "content": "hi"}]});
    let response = h.post("/v1/chat/completions", &chat.to_string()).await;
    assert_eq!(response.status(), 400);
    // A dimension the model does not answer is the request's fault, said before any call.
    let body = json!({"model": "embed-small", "input": "x", "dimensions": 256});
    let response = h.post("/v1/embeddings", &body.to_string()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "dimensions", "{body}");
    assert!(
        h.fake
            .requests()
            .iter()
            .all(|r| !r.path.contains("embeddings"))
    );
}

fn count_body(model: &str) -> String {
    json!({
        "model": model,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "how many tokens are these words"}],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts_are_the_same_from_every_kind_that_counts() {
    let h = gateway(Vec::new()).await;
    let mut counts = Vec::new();
    for model in ["mythos-5", "gemini-flash", "bedrock-claude"] {
        let response = h
            .post("/v1/messages/count_tokens", &count_body(model))
            .await;
        let id = harness::header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {body}");
        counts.push(body["input_tokens"].as_u64().unwrap());
        let record = h.record_for(&id).await;
        assert_eq!(record["api"], "anthropic_count_tokens");
    }
    assert!(counts[0] > 0);
    assert!(counts.iter().all(|c| *c == counts[0]), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_without_a_count_api_is_refused_in_anthropics_shape() {
    let h = gateway(Vec::new()).await;
    let response = h
        .post("/v1/messages/count_tokens", &count_body("gpt-5"))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gpt-5"),
        "{body}"
    );
    // And no stream on either endpoint.
    let body = json!({"model": "mythos-5", "stream": true,
        "messages": [{"role": "user", "content": "x"}]});
    let response = h.post("/v1/messages/count_tokens", &body.to_string()).await;
    assert_eq!(response.status(), 400);
}
