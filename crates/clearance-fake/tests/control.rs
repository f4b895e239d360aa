//! The `/_fake/` control plane and `GET /v1/models`, driven over HTTP as scripts do.
#![allow(clippy::unwrap_used)]

mod common;

use clearance_fake::{Behavior, RecordedRequest};
use common::{
    anthropic_body, client, gemini_body, gemini_url, openai_body, post_anthropic, post_openai,
    start,
};
use serde_json::{Value, json};

#[tokio::test]
async fn behaviors_are_set_read_and_reset_over_http() {
    let server = start().await;
    let base = format!("http://{}", server.addr());
    let http = client();

    let put = http
        .put(format!("{base}/_fake/behavior"))
        .json(&json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    // Model ids may contain slashes.
    let put = http
        .put(format!("{base}/_fake/behavior/meta-llama/Llama-3-8B"))
        .json(&json!({"reply": "llama here", "delay_ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);

    let shown: Value = http
        .get(format!("{base}/_fake/behavior"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["default"]["status"], 500);
    assert_eq!(
        shown["models"]["meta-llama/Llama-3-8B"]["reply"],
        "llama here"
    );
    assert_eq!(server.behaviors().default.status, Some(500));

    assert_eq!(
        post_openai(&server, &openai_body("gpt", "hi", false))
            .await
            .status(),
        500
    );
    let llama: Value = post_openai(&server, &openai_body("meta-llama/Llama-3-8B", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(llama["choices"][0]["message"]["content"], "llama here");

    let deleted = http
        .delete(format!("{base}/_fake/behavior/meta-llama/Llama-3-8B"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        post_openai(&server, &openai_body("meta-llama/Llama-3-8B", "hi", false))
            .await
            .status(),
        500
    );

    let reset = http
        .delete(format!("{base}/_fake/behavior"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(
        post_openai(&server, &openai_body("gpt", "hi", false))
            .await
            .status(),
        200
    );
    assert_eq!(server.behaviors().default, Behavior::default());
    server.shutdown().await;
}

#[tokio::test]
async fn bad_behaviors_are_rejected() {
    let server = start().await;
    let base = format!("http://{}", server.addr());
    let http = client();
    for body in [
        r#"{"status": "five hundred"}"#,
        r#"{"stauts": 500}"#,
        r#"{"status": 70000}"#,
        "{",
    ] {
        let response = http
            .put(format!("{base}/_fake/behavior"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].is_string());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn recorded_requests_are_listed_and_cleared_over_http() {
    let server = start().await;
    let base = format!("http://{}", server.addr());
    let http = client();
    post_openai(&server, &openai_body("gpt-a", "one", false)).await;
    post_anthropic(&server, &anthropic_body("claude-a", "two", false)).await;

    let listed: Vec<RecordedRequest> = http
        .get(format!("{base}/_fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, server.requests());
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].model(), Some("claude-a"));

    let cleared = http
        .delete(format!("{base}/_fake/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(server.requests().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_requests_are_recorded_with_model_action_and_redacted_query() {
    let server = start().await;
    let http = client();
    http.post(gemini_url(&server, "gemini-2.5-flash", false))
        .header("x-goog-api-key", "AIza-header-key")
        .json(&gemini_body("first"))
        .send()
        .await
        .unwrap();
    http.post(format!(
        "{}&key=AIza-query-key",
        gemini_url(&server, "gemini-2.5-pro", true)
    ))
    .json(&gemini_body("second"))
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let plain = &requests[0];
    assert_eq!(plain.method, "POST");
    assert_eq!(
        plain.path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(plain.query, None);
    assert_eq!(plain.header("x-goog-api-key"), Some("AIza-header-key"));
    assert_eq!(plain.model(), Some("gemini-2.5-flash"));
    assert_eq!(plain.body["contents"][0]["parts"][0]["text"], "first");
    assert_eq!(
        plain.body["systemInstruction"]["parts"][0]["text"],
        "You are a test."
    );

    let streamed = &requests[1];
    assert_eq!(
        streamed.path,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    );
    assert_eq!(streamed.query.as_deref(), Some("alt=sse&key=REDACTED"));
    assert_eq!(streamed.header("x-goog-api-key"), None);
    assert_eq!(streamed.model(), Some("gemini-2.5-pro"));

    // Over HTTP the query is there when there is one, and the key never is.
    let listed: Value = http
        .get(format!("http://{}/_fake/requests", server.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed[0].get("query").is_none());
    assert_eq!(listed[1]["query"], "alt=sse&key=REDACTED");
    assert!(!listed.to_string().contains("AIza-query-key"));
    let parsed: Vec<RecordedRequest> = serde_json::from_value(listed).unwrap();
    assert_eq!(parsed, requests);
    server.shutdown().await;
}

#[tokio::test]
async fn models_are_listed_in_each_api_shape() {
    let server = start().await;
    post_openai(&server, &openai_body("gpt-seen", "hi", false)).await;
    server.set_behavior(Some("claude-configured"), Behavior::default());
    let http = client();

    let openai: Value = http
        .get(format!("{}/models", server.openai_base_url()))
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
    assert_eq!(ids, ["claude-configured", "gpt-seen"]);
    assert_eq!(openai["data"][0]["object"], "model");
    assert!(openai["data"][0]["created"].is_i64());
    assert!(openai["data"][0]["owned_by"].is_string());

    let anthropic: Value = http
        .get(format!("{}/v1/models", server.anthropic_base_url()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["first_id"], "claude-configured");
    server.shutdown().await;
}

#[tokio::test]
async fn models_follow_the_default_behavior_and_key() {
    let server = start().await;
    let url = format!("{}/models", server.openai_base_url());
    let http = client();
    server.set_behavior(
        None,
        Behavior {
            status: Some(503),
            fail_times: Some(1),
            ..Behavior::default()
        },
    );
    // Health checks see the failure but do not use it up.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    assert_eq!(
        post_openai(&server, &openai_body("m", "hi", false))
            .await
            .status(),
        503
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    server.require_key(Some("k".into()));
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("k")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_get_404_in_the_callers_shape() {
    let server = start().await;
    let http = client();
    let openai = http
        .post(format!("{}/completions", server.openai_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 404);
    let body: Value = openai.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let anthropic = http
        .post(format!("{}/v1/complete", server.anthropic_base_url()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 404);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
    server.shutdown().await;
}
