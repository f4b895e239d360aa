//! Gemini `generateContent` / `streamGenerateContent?alt=sse` over real HTTP: response shape, the
//! stream's chunks and their consistency with the non-streaming answer, output caps, the API key
//! in header or query, validation, Google's error shape per status, odd paths.
#![allow(clippy::unwrap_used)]

mod common;

use clearance_fake::Behavior;
use common::{client, gemini_body, gemini_url, parse_sse, post_gemini, start};
use serde_json::{Value, json};

/// The `error` object of a Google error body, after checking the status and the shape.
async fn google_error(response: reqwest::Response, http: u16, status: &str) -> Value {
    assert_eq!(response.status().as_u16(), http);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["code"], http, "{body}");
    assert_eq!(error["status"], status, "{body}");
    assert!(error["message"].as_str().unwrap().len() > 3, "{body}");
    error
}

#[tokio::test]
async fn non_streaming_answer_has_the_real_shape() {
    let server = start().await;
    let response = post_gemini(
        &server,
        "gemini-test",
        &gemini_body("hello there friend"),
        false,
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();

    let candidate = &body["candidates"][0];
    assert_eq!(body["candidates"].as_array().unwrap().len(), 1);
    assert_eq!(candidate["index"], 0);
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": "Fake reply from gemini-test. You said: hello there friend"}])
    );
    // "You are a test." (system instruction) + "hello there friend" = 4 + 3 words.
    let usage = &body["usageMetadata"];
    assert_eq!(usage["promptTokenCount"], 7);
    assert_eq!(usage["candidatesTokenCount"], 9);
    assert_eq!(usage["totalTokenCount"], 16);
    assert_eq!(body["modelVersion"], "gemini-test");
    assert!(!body["responseId"].as_str().unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_splits_the_text_and_ends_with_finish_and_usage() {
    let server = start().await;
    let plain: Value = post_gemini(
        &server,
        "gemini-test",
        &gemini_body("tell me a story"),
        false,
    )
    .await
    .json()
    .await
    .unwrap();

    let response = post_gemini(
        &server,
        "gemini-test",
        &gemini_body("tell me a story"),
        true,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    // Google frames each event with CRLF CRLF and sends no end marker.
    assert!(text.ends_with("}\r\n\r\n"), "{text:?}");
    assert!(!text.replace("\r\n\r\n", "").contains('\n'), "{text:?}");
    let events = parse_sse(&text);
    assert!(
        events.len() >= 3,
        "the text should arrive in several chunks: {text}"
    );
    assert!(events.iter().all(|e| e.event.is_none()));
    let chunks: Vec<Value> = events.iter().map(|e| e.json()).collect();

    let id = &chunks[0]["responseId"];
    let mut text_so_far = String::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        assert_eq!(&chunk["responseId"], id);
        assert_eq!(chunk["modelVersion"], "gemini-test");
        let candidate = &chunk["candidates"][0];
        assert_eq!(candidate["content"]["role"], "model");
        assert_eq!(candidate["index"], 0);
        assert_eq!(
            candidate.get("finishReason").is_some(),
            last,
            "only the last chunk finishes: {chunk}"
        );
        text_so_far.push_str(candidate["content"]["parts"][0]["text"].as_str().unwrap());
        // Like Google's, every chunk carries the usage so far.
        let usage = &chunk["usageMetadata"];
        // "You are a test." + "tell me a story" = 4 + 4 words.
        assert_eq!(usage["promptTokenCount"], 8);
        assert_eq!(usage["candidatesTokenCount"], i + 1);
    }
    let final_chunk = chunks.last().unwrap();
    assert_eq!(final_chunk["candidates"][0]["finishReason"], "STOP");
    assert_eq!(final_chunk["usageMetadata"], plain["usageMetadata"]);
    assert_eq!(
        text_so_far,
        plain["candidates"][0]["content"]["parts"][0]["text"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_without_alt_sse_is_refused() {
    let server = start().await;
    let url = format!(
        "{}/v1beta/models/gemini-test:streamGenerateContent",
        server.gemini_base_url()
    );
    let response = client()
        .post(&url)
        .json(&gemini_body("hi"))
        .send()
        .await
        .unwrap();
    let error = google_error(response, 400, "INVALID_ARGUMENT").await;
    assert!(
        error["message"].as_str().unwrap().contains("alt=sse"),
        "{error}"
    );
    let json_alt = client()
        .post(format!("{url}?alt=json"))
        .json(&gemini_body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_alt.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn max_output_tokens_cuts_with_max_tokens() {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            reply: Some("one two three four five".into()),
            ..Behavior::default()
        },
    );
    let mut body = gemini_body("hi");
    body["generationConfig"] = json!({"maxOutputTokens": 2});
    let plain: Value = post_gemini(&server, "g", &body, false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        plain["candidates"][0]["content"]["parts"][0]["text"],
        "one two"
    );
    assert_eq!(plain["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(plain["usageMetadata"]["candidatesTokenCount"], 2);

    let text = post_gemini(&server, "g", &body, true)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(
        events[1].json()["candidates"][0]["finishReason"],
        "MAX_TOKENS"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn required_key_is_read_from_the_header_or_the_query() {
    let server = start().await;
    server.require_key(Some("AIza-fake-secret-1234".into()));
    let url = gemini_url(&server, "gemini-test", false);
    let body = gemini_body("hi");

    // No key: Google refuses an unidentified caller with 403.
    let missing = client().post(&url).json(&body).send().await.unwrap();
    google_error(missing, 403, "PERMISSION_DENIED").await;

    // Another API's credential is no Gemini key.
    let bearer = client()
        .post(&url)
        .bearer_auth("AIza-fake-secret-1234")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 403);

    let wrong = client()
        .post(&url)
        .header("x-goog-api-key", "AIza-wrong-key-9999")
        .json(&body)
        .send()
        .await
        .unwrap();
    let error = google_error(wrong, 400, "INVALID_ARGUMENT").await;
    assert_eq!(
        error["message"],
        "API key not valid. Please pass a valid API key."
    );
    assert_eq!(error["details"][0]["reason"], "API_KEY_INVALID");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert!(!error.to_string().contains("AIza-wrong-key-9999"));

    let wrong_in_query = client()
        .post(format!("{url}?key=AIza-wrong-key-9999"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_in_query.status(), 400);

    let header = client()
        .post(&url)
        .header("x-goog-api-key", "AIza-fake-secret-1234")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), 200);
    let query = client()
        .post(format!("{url}?key=AIza-fake-secret-1234"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let streamed = client()
        .post(format!(
            "{}&key=AIza-fake-secret-1234",
            gemini_url(&server, "gemini-test", true)
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);

    server.require_key(None);
    let open = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(open.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_get_400_invalid_argument_in_the_real_words() {
    let server = start().await;
    let url = gemini_url(&server, "gemini-test", false);
    let malformed = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    google_error(malformed, 400, "INVALID_ARGUMENT").await;

    let cases = [
        (json!({}), "contents is not specified"),
        (json!({"contents": []}), "contents is not specified"),
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "Please use a valid role: user, model.",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{}]}]}),
            "required oneof field 'data' must have one initialized field",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": ""}}]}]}),
            "oneof field 'data' is already set",
        ),
        (
            json!({"contents": [
                {"role": "user", "parts": [{"text": "x"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"response": {"output": "y"}}}]}
            ]}),
            "contents[2].parts[0].function_response.name: Name cannot be empty.",
        ),
    ];
    for (body, wording) in cases {
        for stream in [false, true] {
            let response = post_gemini(&server, "gemini-test", &body, stream).await;
            let error = google_error(response, 400, "INVALID_ARGUMENT").await;
            assert!(
                error["message"].as_str().unwrap().contains(wording),
                "{body}: {error}"
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn odd_paths_get_google_404s_and_never_break_the_server() {
    let server = start().await;
    let base = server.gemini_base_url();
    for path in [
        "/v1beta/models/gemini-test",
        // A method Gemini has and the fake does not serve (countTokens it does).
        "/v1beta/models/gemini-test:embedContent",
        "/v1beta/models/:generateContent",
        "/v1beta/models/gemini-test:",
        "/v1beta/models/%3A%3A:%E2%9C%93",
        "/v1beta/nothing/here",
    ] {
        let response = client()
            .post(format!("{base}{path}"))
            .json(&gemini_body("hi"))
            .send()
            .await
            .unwrap();
        google_error(response, 404, "NOT_FOUND").await;
    }
    // Model ids with slashes or colons still work.
    let response = post_gemini(&server, "tunedModels/a:b", &gemini_body("hi"), false).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["modelVersion"], "tunedModels/a:b");
    server.shutdown().await;
}

#[tokio::test]
async fn error_statuses_have_the_google_shape() {
    let server = start().await;
    let cases = [
        (400, 400, "INVALID_ARGUMENT"),
        (403, 403, "PERMISSION_DENIED"),
        (404, 404, "NOT_FOUND"),
        (429, 429, "RESOURCE_EXHAUSTED"),
        // Google refuses a region with 400 FAILED_PRECONDITION, never with 451.
        (451, 400, "FAILED_PRECONDITION"),
        (500, 500, "INTERNAL"),
        (503, 503, "UNAVAILABLE"),
        (504, 504, "DEADLINE_EXCEEDED"),
    ];
    for (asked, http, status) in cases {
        server.set_behavior(
            None,
            Behavior {
                status: Some(asked),
                ..Behavior::default()
            },
        );
        for stream in [false, true] {
            let response = post_gemini(&server, "gemini-test", &gemini_body("hi"), stream).await;
            let error = google_error(response, http, status).await;
            assert!(error.get("details").is_none(), "{error}");
            if asked == 451 {
                assert_eq!(
                    error["message"],
                    "User location is not supported for the API use."
                );
            }
            if asked == 404 {
                assert!(
                    error["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("models/gemini-test is not found")
                );
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn error_message_and_retry_delay_are_configurable() {
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
    let response = post_gemini(&server, "gemini-test", &gemini_body("hi"), false).await;
    assert_eq!(response.headers()["retry-after"], "7");
    let error = google_error(response, 429, "RESOURCE_EXHAUSTED").await;
    assert_eq!(error["message"], "slow down");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    assert_eq!(error["details"][0]["retryDelay"], "7s");
    server.shutdown().await;
}

#[tokio::test]
async fn models_are_listed_in_gemini_shape() {
    let server = start().await;
    post_gemini(&server, "gemini-seen", &gemini_body("hi"), false).await;
    server.require_key(Some("k".into()));
    let url = format!("{}/v1beta/models", server.gemini_base_url());
    let refused = client().get(&url).send().await.unwrap();
    google_error(refused, 403, "PERMISSION_DENIED").await;

    let listed: Value = client()
        .get(format!("{url}?key=k"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let model = &listed["models"][0];
    assert_eq!(model["name"], "models/gemini-seen");
    assert_eq!(
        model["supportedGenerationMethods"],
        json!(["generateContent", "streamGenerateContent"])
    );
    server.shutdown().await;
}
