//! OpenAI Chat Completions over real HTTP: object shapes, streaming sequence and consistency,
//! output caps, error shapes per status, request validation and the bearer key.
#![allow(clippy::unwrap_used)]

mod common;

use clearance_fake::Behavior;
use common::{client, openai_body, parse_sse, post_openai, start};
use serde_json::{Value, json};

#[tokio::test]
async fn non_streaming_completion_has_the_real_shape() {
    let server = start().await;
    let response = post_openai(
        &server,
        &openai_body("gpt-test", "hello there friend", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "gpt-test");
    assert!(body["system_fingerprint"].is_string());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        choice["message"]["content"],
        "Fake reply from gpt-test. You said: hello there friend"
    );
    let usage = &body["usage"];
    // "You are a test." + "hello there friend" = 4 + 3 words.
    assert_eq!(usage["prompt_tokens"], 7);
    assert_eq!(usage["completion_tokens"], 9);
    assert_eq!(usage["total_tokens"], 16);
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_matches_non_streaming() {
    let server = start().await;
    let plain: Value = post_openai(&server, &openai_body("gpt-test", "tell me a story", false))
        .await
        .json()
        .await
        .unwrap();

    let mut body = openai_body("gpt-test", "tell me a story", true);
    body["stream_options"] = json!({"include_usage": true});
    let response = post_openai(&server, &body).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let events = parse_sse(&response.text().await.unwrap());

    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["model"], "gpt-test");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert!(chunks[0]["usage"].is_null());

    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let finish_chunk = &chunks[chunks.len() - 2];
    assert_eq!(finish_chunk["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish_chunk["choices"][0]["delta"], json!({}));

    let deltas: Vec<&str> = chunks[1..chunks.len() - 2]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert!(
        deltas.len() >= 3,
        "reply should arrive in several chunks: {deltas:?}"
    );
    assert_eq!(deltas.concat(), plain["choices"][0]["message"]["content"]);
    assert_eq!(usage_chunk["usage"], plain["usage"]);
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_without_include_usage_has_no_usage_chunk() {
    let server = start().await;
    let response = post_openai(&server, &openai_body("gpt-test", "hi", true)).await;
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    for event in &events[..events.len() - 1] {
        let chunk = event.json();
        assert!(chunk.get("usage").is_none(), "{chunk}");
        assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn output_cap_cuts_with_length() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            reply: Some("one two three four five".into()),
            ..Behavior::default()
        },
    );
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut body = openai_body("gpt-test", "hi", false);
        body[field] = json!(2);
        let plain: Value = post_openai(&server, &body).await.json().await.unwrap();
        assert_eq!(plain["choices"][0]["message"]["content"], "one two");
        assert_eq!(plain["choices"][0]["finish_reason"], "length");
        assert_eq!(plain["usage"]["completion_tokens"], 2);

        body["stream"] = json!(true);
        let events = parse_sse(&post_openai(&server, &body).await.text().await.unwrap());
        let finish = events[events.len() - 2].json();
        assert_eq!(finish["choices"][0]["finish_reason"], "length");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn reply_behavior_sets_the_text() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            reply: Some("Exactly this.".into()),
            ..Behavior::default()
        },
    );
    let plain: Value = post_openai(&server, &openai_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plain["choices"][0]["message"]["content"], "Exactly this.");
    server.shutdown().await;
}

#[tokio::test]
async fn error_statuses_have_the_openai_shape() {
    let server = start().await;
    let cases = [
        (400, "invalid_request_error", Value::Null),
        (401, "invalid_request_error", json!("invalid_api_key")),
        (
            403,
            "request_forbidden",
            json!("unsupported_country_region_territory"),
        ),
        (404, "invalid_request_error", json!("model_not_found")),
        (429, "requests", json!("rate_limit_exceeded")),
        (500, "server_error", Value::Null),
        (503, "server_error", Value::Null),
    ];
    for (status, kind, code) in cases {
        server.set_behavior(
            None,
            Behavior {
                status: Some(status),
                ..Behavior::default()
            },
        );
        for stream in [false, true] {
            let response = post_openai(&server, &openai_body("gpt-test", "hi", stream)).await;
            assert_eq!(response.status().as_u16(), status);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            let body: Value = response.json().await.unwrap();
            let error = &body["error"];
            assert_eq!(error["type"], kind, "status {status}");
            assert_eq!(error["code"], code, "status {status}");
            assert!(error["message"].as_str().unwrap().len() > 3);
            assert!(error.get("param").unwrap().is_null());
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn error_message_and_retry_after_are_configurable() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            status: Some(429),
            error_message: Some("slow down".into()),
            retry_after_s: Some(7),
            ..Behavior::default()
        },
    );
    let response = post_openai(&server, &openai_body("gpt-test", "hi", false)).await;
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "slow down");
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_get_400() {
    let server = start().await;
    let url = format!("{}/chat/completions", server.openai_base_url());
    let malformed = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let no_messages = client()
        .post(&url)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_messages.status(), 400);
    let body: Value = no_messages.json().await.unwrap();
    assert_eq!(body["error"]["param"], "messages");
    assert_eq!(body["error"]["code"], "missing_required_parameter");

    let no_model = client()
        .post(&url)
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_model.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn required_key_is_a_bearer_token() {
    let server = start().await;
    server.require_key(Some("sk-fake-secret-1234".into()));
    let url = format!("{}/chat/completions", server.openai_base_url());
    let body = openai_body("gpt-test", "hi", false);

    let missing = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["code"].is_null());

    let wrong = client()
        .post(&url)
        .bearer_auth("sk-wrong-key-9999")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert!(
        !error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sk-wrong-key-9999")
    );

    // An Anthropic-style key does not satisfy the OpenAI API.
    let x_api_key = client()
        .post(&url)
        .header("x-api-key", "sk-fake-secret-1234")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(x_api_key.status(), 401);

    let right = client()
        .post(&url)
        .bearer_auth("sk-fake-secret-1234")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    server.require_key(None);
    let open = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(open.status(), 200);
    server.shutdown().await;
}
