//! The Gemini (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent`) and OpenAI
//! Responses (`/v1/responses`) client surfaces, over real HTTP against fake providers of every
//! kind: plain answers, streams (read as the client's format), tools, directive denials in the
//! surface's own error shape, failover to a fallback, the audit record, and a Gemini key sent in
//! `?key=` that never reaches a log line, an audit record or the store.
//!
//! Its own test binary: one test installs a global `tracing` subscriber to read the whole log.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads the store's files with std::fs"
)]

mod harness;

use clearance_fake::{Behavior, RecordedRequest, ToolCall};
use harness::capture::Capture;
use harness::{Harness, Options, PROVIDER_KEY, header, outcomes, sse_events};
use serde_json::{Value, json};

/// Client-facing model, its provider kind, the provider path a plain call reaches, and its
/// upstream id.
const TARGETS: [(&str, &str, &str, &str); 3] = [
    ("gpt-5", "openai", "/v1/chat/completions", "gpt-5-2026"),
    ("mythos-5", "anthropic", "/v1/messages", "claude-mythos-5"),
    (
        "gemini-flash",
        "gemini",
        "/v1beta/models/gemini-3-flash:generateContent",
        "gemini-3-flash",
    ),
];

const QUESTION: &str = "What is the capital of Norway?";

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn gemini_path(model: &str, stream: bool, sse: bool) -> String {
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    let alt = if sse { "?alt=sse" } else { "" };
    format!("/v1beta/models/{model}:{method}{alt}")
}

fn gemini_body(extra: Value) -> Value {
    let mut body = json!({
        "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.5},
    });
    merge(&mut body, extra);
    body
}

fn responses_body(model: &str, extra: Value) -> Value {
    let mut body = json!({
        "model": model,
        "instructions": "Answer briefly.",
        "input": QUESTION,
        "max_output_tokens": 256,
    });
    merge(&mut body, extra);
    body
}

fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(body), Value::Object(extra)) = (body, extra) {
        body.extend(extra);
    }
}

/// A Gemini call with `key` in `x-goog-api-key`, as Google's SDKs send it.
async fn gemini_call(
    h: &Harness,
    key: &str,
    model: &str,
    stream: bool,
    sse: bool,
    body: &Value,
) -> reqwest::Response {
    h.http
        .post(h.url(&gemini_path(model, stream, sse)))
        .header("x-goog-api-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn gemini(h: &Harness, model: &str, stream: bool, body: &Value) -> reqwest::Response {
    gemini_call(h, &h.key, model, stream, true, body).await
}

async fn responses_call(h: &Harness, key: &str, body: &Value) -> reqwest::Response {
    h.http
        .post(h.url("/v1/responses"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn responses(h: &Harness, body: &Value) -> reqwest::Response {
    responses_call(h, &h.key, body).await
}

/// The one model call the fake received since it was last cleared.
fn only_call(h: &Harness) -> RecordedRequest {
    let calls = h.fake.requests();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    calls.into_iter().next().unwrap()
}

async fn record_of(h: &Harness, response: &reqwest::Response) -> Value {
    h.record_for(header(response, "x-clearance-request-id").unwrap())
        .await
}

fn weather_tool() -> Behavior {
    Behavior {
        tool_call: Some(ToolCall {
            name: "get_weather".into(),
            arguments: json!({"city": "Oslo", "days": 2})
                .as_object()
                .unwrap()
                .clone(),
        }),
        ..Behavior::default()
    }
}

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"]
    })
}

// ---------------------------------------------------------------------------------------------
// Reading answers in the client's format
// ---------------------------------------------------------------------------------------------

/// The text of a Gemini answer's first candidate.
fn gemini_text(answer: &Value) -> String {
    answer["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// A Gemini stream's chunks: the data of each server-sent event (`alt=sse`), or the elements
/// of the JSON array (without it). Every chunk must be a JSON object.
async fn gemini_chunks(response: reqwest::Response, sse: bool) -> Vec<Value> {
    let content_type = header(&response, "content-type")
        .unwrap_or_default()
        .to_string();
    let body = response.text().await.unwrap();
    let chunks: Vec<Value> = if sse {
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        sse_events(&body.replace("\r\n", "\n"))
            .into_iter()
            .map(|(name, data)| {
                assert!(name.is_none(), "Gemini events have no name: {body}");
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))
            })
            .collect()
    } else {
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        match serde_json::from_str(&body) {
            Ok(Value::Array(chunks)) => chunks,
            other => panic!("not a JSON array: {other:?}: {body}"),
        }
    };
    assert!(!chunks.is_empty(), "{body}");
    for chunk in &chunks {
        assert!(chunk.is_object(), "{chunk}");
        assert!(chunk.get("error").is_none(), "{chunk}");
    }
    chunks
}

fn chunks_text(chunks: &[Value]) -> String {
    chunks.iter().map(gemini_text).collect()
}

/// A Responses stream's events, each checked: the SSE event name is the data's `type`, and
/// `sequence_number` counts from 0.
async fn responses_events(response: reqwest::Response) -> Vec<Value> {
    assert!(
        header(&response, "content-type")
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    let events: Vec<Value> = sse_events(&body)
        .into_iter()
        .map(|(name, data)| {
            let event: Value =
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
            assert_eq!(name.as_deref(), event["type"].as_str(), "{body}");
            event
        })
        .collect();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], i, "{body}");
    }
    assert_eq!(events[0]["type"], "response.created", "{body}");
    events
}

fn event_types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().unwrap())
        .filter(|part| part["type"] == "output_text")
        .filter_map(|part| part["text"].as_str())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_gemini_client_is_answered_by_every_provider_kind() {
    let h = Harness::start().await;
    for (model, kind, path, upstream) in TARGETS {
        h.fake.clear_requests();
        let sent = gemini_body(json!({}));
        let response = gemini(&h, model, false, &sent).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(header(&response, "x-clearance-served-model"), Some(model));
        let record = record_of(&h, &response).await;
        let answer: Value = response.json().await.unwrap();
        assert!(
            gemini_text(&answer).contains("capital of Norway"),
            "{model}: {answer}"
        );
        assert_eq!(answer["candidates"][0]["content"]["role"], "model");
        assert_eq!(answer["candidates"][0]["finishReason"], "STOP", "{answer}");
        assert_eq!(answer["modelVersion"], model, "{answer}");
        assert!(
            answer["usageMetadata"]["promptTokenCount"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert!(
            answer["usageMetadata"]["candidatesTokenCount"]
                .as_u64()
                .unwrap()
                > 0
        );

        let call = only_call(&h);
        assert_eq!(call.path, path, "{model}");
        assert_eq!(call.header("x-goog-api-key").is_some(), kind == "gemini");
        match kind {
            // Same format: the body passes through as sent (the model is in the URL).
            "gemini" => {
                assert_eq!(call.body, sent);
                assert_eq!(call.header("x-goog-api-key"), Some(PROVIDER_KEY));
            }
            "openai" => {
                assert_eq!(call.body["model"], upstream);
                assert_eq!(call.body["messages"][0]["content"], "Answer briefly.");
                assert_eq!(call.body["messages"][1]["content"], QUESTION);
                assert_eq!(call.body["max_tokens"], 256);
            }
            _ => {
                assert_eq!(call.body["model"], upstream);
                assert_eq!(call.body["system"], "Answer briefly.");
                assert_eq!(call.body["max_tokens"], 256);
            }
        }

        assert_eq!(record["api"], "gemini");
        assert_eq!(record["requested_model"], model);
        assert_eq!(record["served_model"], model);
        assert_eq!(record["stream"], false);
        assert_eq!(record["status"], 200);
        assert!(record["input_tokens"].as_u64().unwrap() > 0, "{record}");
        assert!(record["output_tokens"].as_u64().unwrap() > 0, "{record}");
        assert!(record["error_class"].is_null(), "{record}");
    }
    // The `models/` segment is optional, as in Google's own resource names, and Google's `v1`
    // path serves too.
    for path in [
        "/v1beta/gemini-flash:generateContent",
        "/v1/models/gemini-flash:generateContent",
    ] {
        let response = h
            .http
            .post(h.url(path))
            .header("x-goog-api-key", &h.key)
            .json(&gemini_body(json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["modelVersion"], "gemini-flash", "{path}");
    }
}

#[tokio::test]
async fn gemini_streams_from_every_provider_kind_as_events_or_a_json_array() {
    let h = Harness::start().await;
    for (model, kind, _, _) in TARGETS {
        for sse in [true, false] {
            h.fake.clear_requests();
            let response = gemini_call(&h, &h.key, model, true, sse, &gemini_body(json!({}))).await;
            assert_eq!(response.status(), 200, "{model}");
            let id = header(&response, "x-clearance-request-id")
                .unwrap()
                .to_string();
            let chunks = gemini_chunks(response, sse).await;
            assert!(chunks.len() > 1, "{model}: streamed in pieces: {chunks:?}");
            assert!(
                chunks_text(&chunks).contains("capital of Norway"),
                "{model}: {chunks:?}"
            );
            let last = chunks.last().unwrap();
            assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{last}");
            assert!(
                last["usageMetadata"]["candidatesTokenCount"]
                    .as_u64()
                    .unwrap()
                    > 0
            );
            for chunk in &chunks {
                if chunk.get("modelVersion").is_some() {
                    assert_eq!(chunk["modelVersion"], model, "{chunk}");
                }
            }
            // The provider was always asked for its stream (Gemini: as server-sent events).
            let call = only_call(&h);
            match kind {
                "gemini" => {
                    assert_eq!(
                        call.path,
                        "/v1beta/models/gemini-3-flash:streamGenerateContent"
                    );
                    assert_eq!(call.query.as_deref(), Some("alt=sse"));
                }
                _ => assert_eq!(call.body["stream"], true, "{model}"),
            }
            let record = h.record_for(&id).await;
            assert_eq!(record["api"], "gemini");
            assert_eq!(record["stream"], true);
            assert!(record["error_class"].is_null(), "{model}: {record}");
            assert!(record["output_tokens"].as_u64().unwrap() > 0, "{record}");
        }
    }
}

#[tokio::test]
async fn gemini_tool_calls_and_results_work_with_every_provider_kind() {
    let h = Harness::start().await;
    let tools = json!({"tools": [{"functionDeclarations": [{
        "name": "get_weather",
        "description": "Weather by city",
        "parametersJsonSchema": weather_schema(),
    }]}]});
    for (model, kind, _, upstream) in TARGETS {
        h.fake.set_behavior(Some(upstream), weather_tool());
        h.fake.clear_requests();
        let response = gemini(&h, model, false, &gemini_body(tools.clone())).await;
        assert_eq!(response.status(), 200, "{model}");
        let answer: Value = response.json().await.unwrap();
        let call = &answer["candidates"][0]["content"]["parts"][0]["functionCall"];
        assert_eq!(call["name"], "get_weather", "{model}: {answer}");
        assert_eq!(call["args"], json!({"city": "Oslo", "days": 2}));
        let sent = only_call(&h);
        match kind {
            "openai" => assert_eq!(sent.body["tools"][0]["function"]["name"], "get_weather"),
            "anthropic" => assert_eq!(sent.body["tools"][0]["input_schema"], weather_schema()),
            _ => assert_eq!(sent.body["tools"], tools["tools"]),
        }

        // Streamed: the call arrives whole in one chunk.
        let response = gemini(&h, model, true, &gemini_body(tools.clone())).await;
        let chunks = gemini_chunks(response, true).await;
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["candidates"][0]["content"]["parts"].as_array())
            .flatten()
            .filter_map(|p| p.get("functionCall"))
            .collect();
        assert_eq!(calls.len(), 1, "{model}: {chunks:?}");
        assert_eq!(calls[0]["args"], json!({"city": "Oslo", "days": 2}));

        // The result goes back as a functionResponse; the fake answers with what it got.
        let mut with_result = gemini_body(tools.clone());
        with_result["contents"] = json!([
            {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
            {"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Oslo"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"output": "sunny, 21 C"}}}]}
        ]);
        let response = gemini(&h, model, false, &with_result).await;
        assert_eq!(response.status(), 200, "{model}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            gemini_text(&answer).contains("sunny, 21 C"),
            "{model}: {answer}"
        );
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}

#[tokio::test]
async fn gemini_errors_come_in_googles_shape() {
    let h = Harness::start().await;
    let body = gemini_body(json!({}));
    let check = |status: u16, name: &str, answer: &Value| {
        assert_eq!(answer["error"]["code"], status, "{answer}");
        assert_eq!(answer["error"]["status"], name, "{answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    };

    let response = gemini(&h, "no-such-model", false, &body).await;
    assert_eq!(response.status(), 404);
    let answer: Value = response.json().await.unwrap();
    check(404, "NOT_FOUND", &answer);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model")
    );

    let response = h
        .http
        .post(h.url(&gemini_path("gemini-flash", false, false)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let answer: Value = response.json().await.unwrap();
    check(401, "UNAUTHENTICATED", &answer);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-goog-api-key")
    );

    let response = gemini_call(&h, "clr_nope_nope", "gemini-flash", false, true, &body).await;
    assert_eq!(response.status(), 401);
    check(401, "UNAUTHENTICATED", &response.json().await.unwrap());

    // A fact a directive reads that cannot be read: 400 naming the field.
    let bad = json!({"contents": [{"role": "user", "parts": {"inlineData": {}}}]});
    let response = gemini(&h, "gemini-flash", false, &bad).await;
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    check(400, "INVALID_ARGUMENT", &answer);
    let violation = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .unwrap();
    assert_eq!(
        violation["fieldViolations"][0]["field"],
        "contents[0].parts"
    );

    let cached = gemini_body(json!({"cachedContent": "cachedContents/abc"}));
    let response = gemini(&h, "gemini-flash", false, &cached).await;
    assert_eq!(response.status(), 400);
    check(400, "INVALID_ARGUMENT", &response.json().await.unwrap());

    // What the serving model's API cannot express is refused before any call.
    let untranslatable = gemini_body(json!({"generationConfig": {"topK": 40}}));
    let response = gemini(&h, "gpt-5", false, &untranslatable).await;
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    check(400, "INVALID_ARGUMENT", &answer);
    // Found while writing the provider's request: the neutral name (docs/translation.md).
    let violation = &answer["error"]["details"][1]["fieldViolations"][0];
    assert_eq!(violation["field"], "top_k", "{answer}");
    assert!(h.fake.requests().is_empty(), "nothing was sent");

    for (path, status, name) in [
        ("/v1beta/models/gemini-flash:countTokens", 404, "NOT_FOUND"),
        ("/v1beta/models/gemini-flash", 404, "NOT_FOUND"),
        (
            "/v1beta/models/gemini-flash:streamGenerateContent?alt=proto",
            400,
            "INVALID_ARGUMENT",
        ),
    ] {
        let response = h
            .http
            .post(h.url(path))
            .header("x-goog-api-key", &h.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        check(status, name, &response.json().await.unwrap());
    }

    // A Gemini provider's own error keeps Google's status name.
    h.fake.set_behavior(
        Some("gemini-3-flash"),
        Behavior {
            status: Some(429),
            ..Behavior::default()
        },
    );
    let response = gemini(&h, "gemini-flash", false, &body).await;
    assert_eq!(response.status(), 429);
    check(429, "RESOURCE_EXHAUSTED", &response.json().await.unwrap());
    assert!(
        h.fake
            .requests()
            .iter()
            .all(|r| r.path.contains("gemini-3-flash"))
    );
}

#[tokio::test]
async fn the_gemini_model_list_is_in_geminis_shape() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(h.url(&format!("/v1beta/models?key={}", h.key)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    let names: Vec<&str> = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/gemini-flash"), "{list}");
    assert!(names.contains(&"models/mythos-5"), "{list}");
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_responses_client_is_answered_by_every_provider_kind() {
    let h = Harness::start().await;
    for (model, kind, path, upstream) in TARGETS {
        h.fake.clear_requests();
        let response = responses(&h, &responses_body(model, json!({}))).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(header(&response, "x-clearance-served-model"), Some(model));
        let record = record_of(&h, &response).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["object"], "response", "{answer}");
        assert_eq!(answer["status"], "completed", "{answer}");
        assert_eq!(answer["model"], model);
        assert!(
            output_text(&answer).contains("capital of Norway"),
            "{answer}"
        );
        assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
        assert!(answer["usage"]["output_tokens"].as_u64().unwrap() > 0);

        let call = only_call(&h);
        assert_eq!(call.path, path, "{model}");
        match kind {
            "openai" => {
                assert_eq!(call.body["model"], upstream);
                assert_eq!(call.body["messages"][1]["content"], QUESTION);
            }
            "anthropic" => {
                assert_eq!(call.body["system"], "Answer briefly.");
                assert_eq!(call.body["max_tokens"], 256);
            }
            _ => {
                assert_eq!(
                    call.body["systemInstruction"]["parts"][0]["text"],
                    "Answer briefly."
                );
                assert_eq!(call.body["generationConfig"]["maxOutputTokens"], 256);
            }
        }

        assert_eq!(record["api"], "openai_responses");
        assert_eq!(record["served_model"], model);
        assert_eq!(record["stream"], false);
        assert!(record["output_tokens"].as_u64().unwrap() > 0, "{record}");
        assert!(record["error_class"].is_null(), "{record}");
    }
}

#[tokio::test]
async fn responses_streams_from_every_provider_kind_are_typed_events() {
    let h = Harness::start().await;
    for (model, _, _, _) in TARGETS {
        let response = responses(&h, &responses_body(model, json!({"stream": true}))).await;
        assert_eq!(response.status(), 200, "{model}");
        let id = header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let events = responses_events(response).await;
        let types = event_types(&events);
        assert!(types.contains(&"response.output_text.delta"), "{types:?}");
        assert_eq!(
            types.last(),
            Some(&"response.completed"),
            "{model}: {types:?}"
        );
        let deltas: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .filter_map(|e| e["delta"].as_str())
            .collect();
        assert!(deltas.contains("capital of Norway"), "{model}: {deltas}");
        let done = &events.last().unwrap()["response"];
        assert_eq!(done["model"], model);
        assert_eq!(output_text(done), deltas);
        assert!(
            done["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{done}"
        );
        let record = h.record_for(&id).await;
        assert_eq!(record["api"], "openai_responses");
        assert_eq!(record["stream"], true);
        assert!(record["error_class"].is_null(), "{model}: {record}");
        assert!(record["output_tokens"].as_u64().unwrap() > 0, "{record}");
    }
}

#[tokio::test]
async fn responses_function_calls_and_outputs_work_with_every_provider_kind() {
    let h = Harness::start().await;
    let tools = json!({"tools": [{
        "type": "function",
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": weather_schema(),
    }]});
    for (model, kind, _, upstream) in TARGETS {
        h.fake.set_behavior(Some(upstream), weather_tool());
        h.fake.clear_requests();
        let response = responses(&h, &responses_body(model, tools.clone())).await;
        assert_eq!(response.status(), 200, "{model}");
        let answer: Value = response.json().await.unwrap();
        let call = answer["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["type"] == "function_call")
            .unwrap_or_else(|| panic!("{model}: no function call in {answer}"));
        assert_eq!(call["name"], "get_weather");
        let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "Oslo", "days": 2}));
        let call_id = call["call_id"].as_str().unwrap().to_string();
        let sent = only_call(&h);
        match kind {
            "openai" => assert_eq!(
                sent.body["tools"][0]["function"]["parameters"],
                weather_schema()
            ),
            "anthropic" => assert_eq!(sent.body["tools"][0]["name"], "get_weather"),
            _ => assert_eq!(
                sent.body["tools"][0]["functionDeclarations"][0]["name"],
                "get_weather"
            ),
        }

        // Streamed: the arguments arrive as deltas and are repeated whole when done.
        let response = responses(
            &h,
            &responses_body(model, {
                let mut t = tools.clone();
                t["stream"] = json!(true);
                t
            }),
        )
        .await;
        let events = responses_events(response).await;
        let done = events
            .iter()
            .find(|e| e["type"] == "response.function_call_arguments.done")
            .unwrap_or_else(|| panic!("{model}: {:?}", event_types(&events)));
        let arguments: Value = serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "Oslo", "days": 2}));

        // The result goes back as a function_call_output item.
        let with_output = responses_body(
            model,
            json!({
                "tools": tools["tools"],
                "input": [
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
                    {"type": "function_call_output", "call_id": call_id, "output": "sunny, 21 C"}
                ]
            }),
        );
        let response = responses(&h, &with_output).await;
        assert_eq!(response.status(), 200, "{model}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            output_text(&answer).contains("sunny, 21 C"),
            "{model}: {answer}"
        );
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}

#[tokio::test]
async fn responses_state_the_gateway_does_not_keep_is_refused_by_name() {
    let h = Harness::start().await;
    h.fake.clear_requests();
    for (extra, param) in [
        (json!({"conversation": "conv_1"}), "conversation"),
        (json!({"background": true}), "background"),
        (json!({"store": "yes"}), "store"),
        (json!({"previous_response_id": 7}), "previous_response_id"),
    ] {
        let response = responses(&h, &responses_body("gpt-5", extra)).await;
        assert_eq!(response.status(), 400, "{param}");
        let record = record_of(&h, &response).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["param"], param, "{answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(param), "{message}");
        assert_eq!(record["api"], "openai_responses");
        assert_eq!(record["error_class"], "invalid_request");
    }
    assert!(h.fake.requests().is_empty(), "nothing refused was sent");

    for (method, path, says) in [
        (
            reqwest::Method::GET,
            "/v1/responses/resp_abc",
            "No response found with id 'resp_abc'",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/responses/resp_abc",
            "No response found with id 'resp_abc'",
        ),
        (
            reqwest::Method::GET,
            "/v1/responses/resp_abc/input_items",
            "lists no input items",
        ),
        (
            reqwest::Method::POST,
            "/v1/responses/resp_abc/cancel",
            "nothing in the background",
        ),
    ] {
        let response = h
            .http
            .request(method.clone(), h.url(path))
            .bearer_auth(&h.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["type"], "not_found_error");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    // Reading kept responses takes a client key like any other call.
    let response = h
        .http
        .get(h.url("/v1/responses/resp_abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// The user messages and assistant texts a provider was sent, in order, read from its own
/// format.
fn conversation_sent(kind: &str, body: &Value) -> Vec<(String, String)> {
    let text_of = |content: &Value, key: &str| -> String {
        match content {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p[key].as_str()).collect(),
            _ => String::new(),
        }
    };
    match kind {
        "openai" => body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] != "system")
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_string(),
                    text_of(&m["content"], "text"),
                )
            })
            .collect(),
        "anthropic" => body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_string(),
                    text_of(&m["content"], "text"),
                )
            })
            .collect(),
        _ => body["contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let role = if c["role"] == "model" {
                    "assistant"
                } else {
                    "user"
                };
                (role.to_string(), text_of(&c["parts"], "text"))
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_kept_response_is_continued_by_any_provider_kind_streamed_or_not() {
    let h = Harness::start().await;
    let questions = [
        QUESTION,
        "And of Sweden?",
        "And of Denmark?",
        "And of Finland?",
    ];
    // Each turn on the next kind; the third streamed.
    let turns = [TARGETS[0], TARGETS[1], TARGETS[2], TARGETS[0]];
    let mut previous: Option<String> = None;
    let mut said: Vec<(String, String)> = Vec::new();
    for (turn, ((model, kind, _, _), question)) in turns.iter().zip(questions).enumerate() {
        h.fake.clear_requests();
        let stream = turn == 2;
        let mut body = responses_body(model, json!({"input": question, "stream": stream}));
        if let Some(id) = &previous {
            body["previous_response_id"] = json!(id);
        }
        let response = responses(&h, &body).await;
        assert_eq!(response.status(), 200, "turn {turn}");
        let request_id = header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let answer = if stream {
            let events = responses_events(response).await;
            let created = events[0]["response"]["id"].clone();
            let last = events.last().unwrap()["response"].clone();
            assert_eq!(
                last["id"], created,
                "one id from the first event to the last"
            );
            last
        } else {
            response.json().await.unwrap()
        };
        // The gateway names the answer, after the request's audit records.
        let id = answer["id"].as_str().unwrap().to_string();
        assert_eq!(id, format!("resp_{}", request_id.replace('-', "")));

        // The provider was sent every earlier turn, then this one.
        said.push(("user".into(), question.to_string()));
        let sent = conversation_sent(kind, &only_call(&h).body);
        assert_eq!(sent, said, "turn {turn} on {model}");
        let text = output_text(&answer);
        assert!(text.contains(question), "turn {turn}: {text}");
        said.push(("assistant".into(), text));

        // The caller reads it back as it was answered.
        let kept: Value = h
            .http
            .get(h.url(&format!("/v1/responses/{id}")))
            .bearer_auth(&h.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(kept, answer);
        previous = Some(id);
    }
}

#[tokio::test]
async fn a_kept_function_call_is_continued_with_its_output() {
    let h = Harness::start().await;
    let (model, _, _, upstream) = TARGETS[1];
    h.fake.set_behavior(Some(upstream), weather_tool());
    let tools =
        json!([{"type": "function", "name": "get_weather", "parameters": weather_schema()}]);
    let response = responses(&h, &responses_body(model, json!({"tools": tools}))).await;
    let first: Value = response.json().await.unwrap();
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("{first}"))
        .clone();
    h.fake.set_behavior(Some(upstream), Behavior::default());
    h.fake.clear_requests();
    let body = responses_body(
        model,
        json!({
            "previous_response_id": first["id"],
            "tools": tools,
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21 C"}],
        }),
    );
    let response = responses(&h, &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert!(output_text(&answer).contains("sunny, 21 C"), "{answer}");
    // Anthropic was sent the question, the model's tool use and its result.
    let sent = only_call(&h).body;
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(messages[1]["content"][0]["id"], call["call_id"]);
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
}

#[tokio::test]
async fn kept_responses_are_their_callers_own_until_deleted() {
    let h = Harness::start_with(Options {
        keys_for: &["bjorn"],
        ..Options::default()
    })
    .await;
    let other = h.keys["bjorn"].clone();
    let answer: Value = responses(&h, &responses_body("gpt-5", json!({})))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap().to_string();
    let path = format!("/v1/responses/{id}");
    let call = |method: reqwest::Method, key: &str| {
        h.http.request(method, h.url(&path)).bearer_auth(key).send()
    };

    // Another caller can neither continue, read nor delete it: to them it does not exist.
    let continued = responses_body("gpt-5", json!({"previous_response_id": id}));
    let response = responses_call(&h, &other, &continued).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "previous_response_not_found");
    assert_eq!(error["error"]["param"], "previous_response_id");
    assert_eq!(
        call(reqwest::Method::GET, &other).await.unwrap().status(),
        404
    );
    assert_eq!(
        call(reqwest::Method::DELETE, &other)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        call(reqwest::Method::GET, &h.key).await.unwrap().status(),
        200
    );

    // Its caller deletes it; then it is gone for them too.
    let deleted: Value = call(reqwest::Method::DELETE, &h.key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response.deleted", "deleted": true})
    );
    assert_eq!(
        call(reqwest::Method::GET, &h.key).await.unwrap().status(),
        404
    );
    let response = responses(&h, &continued).await;
    assert_eq!(response.status(), 400);

    // `store: false` keeps nothing to continue.
    let unkept: Value = responses(&h, &responses_body("gpt-5", json!({"store": false})))
        .await
        .json()
        .await
        .unwrap();
    let continued = responses_body("gpt-5", json!({"previous_response_id": unkept["id"]}));
    let response = responses(&h, &continued).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["code"], "previous_response_not_found",
        "{error}"
    );
}

#[tokio::test]
async fn a_gateway_that_keeps_nothing_refuses_store_and_previous_response_id() {
    let h = Harness::start_with(Options {
        extra_config: "[responses]\nkeep_days = 0\n".into(),
        ..Options::default()
    })
    .await;
    for (extra, param) in [
        (json!({"store": true}), "store"),
        (
            json!({"previous_response_id": "resp_abc"}),
            "previous_response_id",
        ),
    ] {
        let response = responses(&h, &responses_body("gpt-5", extra)).await;
        assert_eq!(response.status(), 400, "{param}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["param"], param, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("keep_days = 0"), "{message}");
    }
    // Served without `store`, and nothing kept.
    let answer: Value = responses(&h, &responses_body("gpt-5", json!({})))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    let response = h
        .http
        .get(h.url(&format!("/v1/responses/{id}")))
        .bearer_auth(&h.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

fn directive(id: &str, body: &str) -> (&'static str, String) {
    let name: &'static str = Box::leak(format!("{id}.toml").into_boxed_str());
    (
        name,
        format!(
            "id = \"{id}\"\ntitle = \"Directive {id}\"\nauthority = \"Order {id}\"\n\
             effective = \"2026-01-01T00:00:00Z\"\nreview = \"mailto:review@example.com\"\n{body}\n"
        ),
    )
}

#[tokio::test]
async fn directives_read_the_new_surfaces_and_deny_in_their_error_shapes() {
    let h = Harness::start_with(Options {
        directives: vec![
            directive(
                "DIR-API",
                "mode = \"enforce\"\nmodels = [\"gpt-5\", \"mythos-5\", \"gemini-flash\"]\n\
                 when = 'context.api == \"gemini\" || context.api == \"openai_responses\"'\n\
                 effect = \"deny\"",
            ),
            directive(
                "DIR-IMAGES",
                "mode = \"enforce\"\nmodels = [\"open-model\"]\ncapabilities = [\"images\"]\neffect = \"deny\"",
            ),
            directive(
                "DIR-TOOLS",
                "mode = \"enforce\"\nmodels = [\"fable-5\"]\ncapabilities = [\"tools\"]\neffect = \"deny\"",
            ),
        ],
        ..Options::default()
    })
    .await;
    h.fake.clear_requests();
    for (model, _, _, _) in TARGETS {
        // Gemini: 451, Google's shape, the directive named, RFC 7725's Link.
        let response = gemini(&h, model, false, &gemini_body(json!({}))).await;
        assert_eq!(response.status(), 451, "{model}");
        let link = header(&response, "link").unwrap_or_default().to_string();
        assert!(link.contains("rel=\"blocked-by\""), "{link}");
        let record = record_of(&h, &response).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], 451, "{answer}");
        assert_eq!(answer["error"]["status"], "FAILED_PRECONDITION");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("DIR-API")
        );
        assert_eq!(record["api"], "gemini");
        assert_eq!(record["decision"], "deny");
        assert_eq!(record["directive_ids"], json!(["DIR-API"]));

        // Responses: 451 in OpenAI's shape.
        let response = responses(&h, &responses_body(model, json!({"stream": true}))).await;
        assert_eq!(response.status(), 451, "{model}");
        assert!(
            header(&response, "link")
                .unwrap_or_default()
                .contains("blocked-by")
        );
        let record = record_of(&h, &response).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["type"], "permission_error");
        assert_eq!(answer["error"]["code"], "unavailable_for_legal_reasons");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("DIR-API")
        );
        assert_eq!(record["api"], "openai_responses");
        assert_eq!(record["decision"], "deny");
    }
    assert!(
        h.fake.requests().is_empty(),
        "a denied request never reaches a provider"
    );
    // The same models through Chat Completions: `context.api` differs, so served.
    let response = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(response.status(), 200);

    // Capabilities are read from each surface's own fields.
    let image = json!({"contents": [{"role": "user", "parts": [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    ]}]});
    let response = gemini(&h, "open-model", false, &image).await;
    assert_eq!(response.status(), 451);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DIR-IMAGES")
    );
    let plain = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    assert_eq!(gemini(&h, "open-model", false, &plain).await.status(), 200);

    let image_input = json!({"model": "open-model", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    ]}]});
    assert_eq!(responses(&h, &image_input).await.status(), 451);

    let gemini_tools = json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f"}]}]
    });
    let response = gemini(&h, "fable-5", false, &gemini_tools).await;
    assert_eq!(response.status(), 451);
    assert_eq!(gemini(&h, "fable-5", false, &plain).await.status(), 200);
    let responses_tools = json!({"model": "fable-5", "input": "hi", "max_output_tokens": 64,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]});
    let response = responses(&h, &responses_tools).await;
    assert_eq!(response.status(), 451);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DIR-TOOLS")
    );

    // A continued conversation is judged whole: an image in a kept earlier turn (allowed on
    // fable-5) is in the request a continuation on open-model makes.
    let mut with_image = image_input.clone();
    with_image["model"] = json!("fable-5");
    let response = responses(&h, &with_image).await;
    assert_eq!(response.status(), 200);
    let kept: Value = response.json().await.unwrap();
    let continued = json!({"model": "open-model", "input": "And now?",
        "previous_response_id": kept["id"]});
    let response = responses(&h, &continued).await;
    assert_eq!(response.status(), 451);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DIR-IMAGES"),
        "{answer}"
    );
    let fresh = json!({"model": "open-model", "input": "And now?"});
    assert_eq!(responses(&h, &fresh).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_surfaces_fail_over_to_a_fallback_of_another_kind() {
    let routes = "\
        [[routes]]\nmodel = \"gpt-5\"\nfallbacks = [\"mythos-5\"]\nattempt_timeout_ms = 2000\n\n\
        [[routes]]\nmodel = \"mythos-5\"\nfallbacks = [\"gemini-flash\"]\nattempt_timeout_ms = 2000\n\n\
        [[routes]]\nmodel = \"gemini-flash\"\nfallbacks = [\"gpt-5\"]\nattempt_timeout_ms = 2000\n";
    let h = Harness::start_with(Options {
        extra_config: routes.to_string(),
        ..Options::default()
    })
    .await;
    let fallback_of = |model: &str| match model {
        "gpt-5" => "mythos-5",
        "mythos-5" => "gemini-flash",
        _ => "gpt-5",
    };
    for (model, _, _, upstream) in TARGETS {
        h.fake.set_behavior(
            Some(upstream),
            Behavior {
                status: Some(503),
                ..Behavior::default()
            },
        );
        let fallback = fallback_of(model);
        for stream in [false, true] {
            // Gemini.
            let response = gemini(&h, model, stream, &gemini_body(json!({}))).await;
            assert_eq!(response.status(), 200, "{model}");
            assert_eq!(
                header(&response, "x-clearance-served-model"),
                Some(fallback)
            );
            assert_eq!(header(&response, "x-clearance-decision"), Some("fallback"));
            let record = record_of(&h, &response).await;
            let text = if stream {
                chunks_text(&gemini_chunks(response, true).await)
            } else {
                gemini_text(&response.json().await.unwrap())
            };
            assert!(text.contains("capital of Norway"), "{model}: {text}");
            assert_eq!(record["api"], "gemini");
            assert_eq!(record["decision"], "fallback");
            assert_eq!(record["served_model"], fallback);
            let tried = outcomes(&record);
            assert_eq!(
                tried.first().map(|(m, _)| m.as_str()),
                Some(model),
                "{tried:?}"
            );
            assert_eq!(
                tried.last(),
                Some(&(fallback.to_string(), "served".to_string()))
            );

            // Responses.
            let body = responses_body(model, json!({"stream": stream}));
            let response = responses(&h, &body).await;
            assert_eq!(response.status(), 200, "{model}");
            assert_eq!(
                header(&response, "x-clearance-served-model"),
                Some(fallback)
            );
            let record = record_of(&h, &response).await;
            let text = if stream {
                let events = responses_events(response).await;
                output_text(&events.last().unwrap()["response"])
            } else {
                output_text(&response.json().await.unwrap())
            };
            assert!(text.contains("capital of Norway"), "{model}: {text}");
            assert_eq!(record["api"], "openai_responses");
            assert_eq!(record["decision"], "fallback");
            assert_eq!(record["served_model"], fallback);
        }
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}

/// Every line logged by any crate, at every level, since this binary's first call.
fn log_capture() -> Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone()).unwrap();
            capture
        })
        .clone()
}

#[tokio::test]
async fn a_gemini_key_in_the_query_string_reaches_no_log_record_or_provider() {
    let capture = log_capture();
    let h = Harness::start().await;
    let secret = h.key.rsplit('_').next().unwrap().to_string();
    assert!(secret.len() >= 16, "{secret}");
    let body = gemini_body(json!({}));
    let mut ids = Vec::new();
    for (model, _, _, _) in TARGETS {
        for (stream, alt) in [(false, ""), (true, "&alt=sse"), (true, "")] {
            let method = if stream {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            let url = h.url(&format!(
                "/v1beta/models/{model}:{method}?key={}{alt}",
                h.key
            ));
            let response = h.http.post(url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 200, "{model} {method}{alt}");
            ids.push(
                header(&response, "x-clearance-request-id")
                    .unwrap()
                    .to_string(),
            );
            let text = response.text().await.unwrap();
            assert!(!text.contains(&secret));
        }
    }
    // Refusals too: an unknown model, a bad body.
    for (model, body) in [
        ("no-such-model", body.clone()),
        ("gemini-flash", json!({"contents": 5})),
    ] {
        let url = h.url(&format!(
            "/v1beta/models/{model}:generateContent?key={}",
            h.key
        ));
        let response = h.http.post(url).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16() / 100, 4);
        ids.push(
            header(&response, "x-clearance-request-id")
                .unwrap()
                .to_string(),
        );
    }
    for id in &ids {
        let record = h.record_for(id).await;
        assert_eq!(record["api"], "gemini");
        assert_eq!(
            record["key_id"], h.key_id,
            "the key authenticated: {record}"
        );
    }
    let records = serde_json::to_string(&h.audit_records().await).unwrap();
    assert!(!records.contains(&secret), "the key is in an audit record");
    for call in h.fake.requests() {
        let seen = serde_json::to_string(&call).unwrap();
        assert!(
            !seen.contains(&secret),
            "the key reached a provider: {seen}"
        );
        if call.path.starts_with("/v1beta/") {
            assert_eq!(call.header("x-goog-api-key"), Some(PROVIDER_KEY));
        }
    }
    let lines = capture.lines();
    assert!(!lines.is_empty(), "the capture sees the gateway's log");
    assert!(
        lines.iter().all(|line| !line.contains(&secret)),
        "the key is in the log"
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(h.db_path.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the key is in the store's files"
    );
}

#[tokio::test]
async fn a_stream_cut_mid_answer_ends_with_an_error_in_each_surfaces_stream_format() {
    let h = Harness::start().await;
    for (model, _, _, upstream) in TARGETS {
        h.fake.set_behavior(
            Some(upstream),
            Behavior {
                // Past the first text (a translated stream starts with it).
                drop_after_events: Some(6),
                ..Behavior::default()
            },
        );
        // Gemini, as events and as a JSON array: the last chunk is Google's error, and the
        // array is still one JSON array.
        for sse in [true, false] {
            let response = gemini_call(&h, &h.key, model, true, sse, &gemini_body(json!({}))).await;
            assert_eq!(response.status(), 200, "{model}");
            let record_id = header(&response, "x-clearance-request-id")
                .unwrap()
                .to_string();
            let body = response.text().await.unwrap();
            let chunks: Vec<Value> = if sse {
                sse_events(&body.replace("\r\n", "\n"))
                    .into_iter()
                    .map(|(_, data)| serde_json::from_str(&data).unwrap())
                    .collect()
            } else {
                serde_json::from_str::<Vec<Value>>(&body)
                    .unwrap_or_else(|e| panic!("{model}: {e}: {body}"))
            };
            let last = chunks.last().unwrap();
            assert_eq!(last["error"]["status"], "UNAVAILABLE", "{model}: {body}");
            assert_eq!(last["error"]["code"], 502);
            let record = h.record_for(&record_id).await;
            assert_eq!(record["error_class"], "upstream_stream_broken", "{record}");
        }
        // Responses: an `error` event.
        let response = responses(&h, &responses_body(model, json!({"stream": true}))).await;
        assert_eq!(response.status(), 200, "{model}");
        let body = response.text().await.unwrap();
        let (name, data) = sse_events(&body).pop().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{model}: {body}");
        let event: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(event["type"], "error");
        assert_eq!(event["code"], "upstream_stream_broken");
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}
