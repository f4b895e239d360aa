//! Any client to any model: OpenAI and Anthropic clients answered by models of every provider
//! kind, over real HTTP against fake providers speaking their real wire formats. Each test
//! checks both sides: what the client got, and what the provider was sent.
#![allow(clippy::unwrap_used)]

mod harness;

use clearance_fake::{Behavior, RecordedRequest, ToolCall};
use harness::{Harness, PROVIDER_KEY, header, sse_events};
use serde_json::{Value, json};

const OPENAI: &str = "/v1/chat/completions";
const ANTHROPIC: &str = "/v1/messages";

/// Client-facing model, the provider path it must reach, and its upstream id.
const TARGETS: [(&str, &str, &str); 3] = [
    ("mythos-5", "/v1/messages", "claude-mythos-5"),
    ("gpt-5", "/v1/chat/completions", "gpt-5-2026"),
    (
        "gemini-flash",
        "/v1beta/models/gemini-3-flash:generateContent",
        "gemini-3-flash",
    ),
];

fn openai_body(model: &str, extra: Value) -> String {
    let mut body = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of Norway?"}
        ]
    });
    merge(&mut body, extra);
    body.to_string()
}

fn anthropic_body(model: &str, extra: Value) -> String {
    let mut body = json!({
        "model": model,
        "max_tokens": 256,
        "system": "Answer briefly.",
        "messages": [{"role": "user", "content": "What is the capital of Norway?"}]
    });
    merge(&mut body, extra);
    body.to_string()
}

fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(body), Value::Object(extra)) = (body, extra) {
        body.extend(extra);
    }
}

/// The one model call the fake received since it was last cleared.
fn only_call(h: &Harness) -> RecordedRequest {
    let calls = h.fake.requests();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    calls.into_iter().next().unwrap()
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

const OPENAI_TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]"#;
const ANTHROPIC_TOOLS: &str = r#"[{"name":"get_weather","description":"Weather by city","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}]"#;

#[tokio::test]
async fn an_openai_client_is_answered_by_every_provider_kind() {
    let h = Harness::start().await;
    for (model, path, upstream) in TARGETS {
        h.fake.clear_requests();
        let response = h.post(OPENAI, &openai_body(model, json!({}))).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(header(&response, "x-clearance-served-model"), Some(model));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion", "{model}: {body}");
        assert_eq!(body["model"], model);
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(text.contains("capital of Norway"), "{model}: {text}");
        assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);

        let sent = only_call(&h);
        assert_eq!(sent.path, path, "{model}");
        match model {
            "mythos-5" => {
                assert_eq!(sent.body["model"], upstream);
                assert_eq!(sent.body["system"], "Answer briefly.");
                assert_eq!(sent.body["max_tokens"], 4096, "the configured default");
                assert_eq!(sent.header("x-api-key"), Some(PROVIDER_KEY));
            }
            "gemini-flash" => {
                assert!(sent.body.get("model").is_none());
                assert_eq!(
                    sent.body["systemInstruction"]["parts"][0]["text"],
                    "Answer briefly."
                );
                assert_eq!(sent.body["contents"][0]["role"], "user");
                assert_eq!(sent.header("x-goog-api-key"), Some(PROVIDER_KEY));
            }
            _ => assert_eq!(sent.body["model"], upstream),
        }
    }
}

#[tokio::test]
async fn an_anthropic_client_is_answered_by_every_provider_kind() {
    let h = Harness::start().await;
    for (model, path, _) in TARGETS {
        h.fake.clear_requests();
        let response = h.post(ANTHROPIC, &anthropic_body(model, json!({}))).await;
        assert_eq!(response.status(), 200, "{model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "message", "{model}: {body}");
        assert_eq!(body["model"], model);
        assert_eq!(body["stop_reason"], "end_turn");
        assert_eq!(body["content"][0]["type"], "text");
        assert!(
            body["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("capital of Norway")
        );
        assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
        let sent = only_call(&h);
        assert_eq!(sent.path, path, "{model}");
        if model == "gpt-5" {
            assert_eq!(sent.body["messages"][0]["role"], "system");
            // A compatible server (not api.openai.com) reads the older name.
            assert_eq!(sent.body["max_tokens"], 256);
            assert!(sent.body.get("max_completion_tokens").is_none());
        }
        if model == "gemini-flash" {
            assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 256);
        }
    }
}

#[tokio::test]
async fn an_openai_stream_from_another_format_has_chunks_usage_and_done() {
    let h = Harness::start().await;
    for (model, _, _) in TARGETS {
        let body = openai_body(
            model,
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        );
        let response = h.post(OPENAI, &body).await;
        assert_eq!(response.status(), 200, "{model}");
        let request_id = header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let text = response.text().await.unwrap();
        let events = sse_events(&text);
        assert_eq!(events.last().unwrap().1, "[DONE]", "{model}: {text}");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|(_, data)| serde_json::from_str(data).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert!(chunks.iter().all(|c| c["model"] == model));
        let joined: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(joined.contains("capital of Norway"), "{model}: {joined}");
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")], "{model}");
        let usage = &chunks.last().unwrap()["usage"];
        assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{model}");
        let record = h.record_for(&request_id).await;
        assert_eq!(record["served_model"], model);
        assert!(record["output_tokens"].as_u64().unwrap() > 0);
        assert!(record["error_class"].is_null(), "{record}");
    }
}

#[tokio::test]
async fn an_anthropic_stream_from_another_format_has_the_full_event_sequence() {
    let h = Harness::start().await;
    for (model, _, _) in TARGETS {
        let response = h
            .post(ANTHROPIC, &anthropic_body(model, json!({"stream": true})))
            .await;
        assert_eq!(response.status(), 200, "{model}");
        let text = response.text().await.unwrap();
        let events = sse_events(&text);
        let names: Vec<&str> = events
            .iter()
            .filter_map(|(name, _)| name.as_deref())
            .filter(|name| *name != "ping")
            .collect();
        assert_eq!(names.first(), Some(&"message_start"), "{model}: {text}");
        assert_eq!(names[1], "content_block_start");
        assert!(names.contains(&"content_block_delta"));
        assert_eq!(
            &names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"],
            "{model}"
        );
        let data = |name: &str| -> Value {
            let (_, data) = events
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .unwrap();
            serde_json::from_str(data).unwrap()
        };
        assert_eq!(data("message_start")["message"]["model"], model);
        assert_eq!(data("message_delta")["delta"]["stop_reason"], "end_turn");
        assert!(
            data("message_delta")["usage"]["output_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
        let joined: String = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
            .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
            .filter_map(|d| d["delta"]["text"].as_str().map(str::to_string))
            .collect();
        assert!(joined.contains("capital of Norway"), "{model}: {joined}");
    }
}

#[tokio::test]
async fn tool_calls_reach_an_openai_client_from_every_provider_kind() {
    let h = Harness::start().await;
    for (model, _, upstream) in TARGETS {
        h.fake.set_behavior(Some(upstream), weather_tool());
        let extra = json!({"tools": serde_json::from_str::<Value>(OPENAI_TOOLS).unwrap(), "tool_choice": "auto"});
        let response = h.post(OPENAI, &openai_body(model, extra.clone())).await;
        assert_eq!(response.status(), 200, "{model}");
        let body: Value = response.json().await.unwrap();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {body}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "Oslo", "days": 2}), "{model}");
        let call_id = call["id"].as_str().unwrap().to_string();

        // The same, streamed: tool-call deltas assemble into the same call.
        let mut streamed = extra.clone();
        merge(&mut streamed, json!({"stream": true}));
        let text = h
            .post(OPENAI, &openai_body(model, streamed))
            .await
            .text()
            .await
            .unwrap();
        let chunks: Vec<Value> = sse_events(&text)
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap())
            .collect();
        let deltas: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
            .collect();
        assert_eq!(
            deltas[0]["function"]["name"], "get_weather",
            "{model}: {text}"
        );
        let streamed_arguments: String = deltas
            .iter()
            .filter_map(|d| d["function"]["arguments"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&streamed_arguments).unwrap(),
            arguments
        );
        assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{model}");

        // The tool loop closes: the result goes back under the call's id and reaches the model.
        h.fake.clear_requests();
        let follow_up = json!({
            "model": model,
            "tools": serde_json::from_str::<Value>(OPENAI_TOOLS).unwrap(),
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"}
            ]
        });
        let answer: Value = h
            .post(OPENAI, &follow_up.to_string())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["choices"][0]["message"]["content"], "tool result: sunny, 21 C",
            "{model}: {answer}"
        );
        let sent = only_call(&h);
        match model {
            "mythos-5" => {
                let result = &sent.body["messages"][2]["content"][0];
                assert_eq!(result["type"], "tool_result");
                assert_eq!(result["tool_use_id"], call_id.as_str());
            }
            "gemini-flash" => {
                let part = &sent.body["contents"][2]["parts"][0]["functionResponse"];
                assert_eq!(part["name"], "get_weather", "{}", sent.body);
                assert_eq!(part["id"], call_id.as_str());
            }
            _ => assert_eq!(sent.body["messages"][2]["tool_call_id"], call_id.as_str()),
        }
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}

#[tokio::test]
async fn tool_calls_reach_an_anthropic_client_from_every_provider_kind_streamed() {
    let h = Harness::start().await;
    for (model, _, upstream) in TARGETS {
        h.fake.set_behavior(Some(upstream), weather_tool());
        let extra = json!({
            "tools": serde_json::from_str::<Value>(ANTHROPIC_TOOLS).unwrap(),
            "tool_choice": {"type": "auto"},
            "stream": true
        });
        let text = h
            .post(ANTHROPIC, &anthropic_body(model, extra))
            .await
            .text()
            .await
            .unwrap();
        let events: Vec<(String, Value)> = sse_events(&text)
            .into_iter()
            .map(|(n, d)| (n.unwrap_or_default(), serde_json::from_str(&d).unwrap()))
            .collect();
        let start = events
            .iter()
            .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{model}: no tool_use block in {text}"));
        assert_eq!(start.1["content_block"]["name"], "get_weather");
        let index = &start.1["index"];
        let input: String = events
            .iter()
            .filter(|(n, d)| n == "content_block_delta" && &d["index"] == index)
            .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&input).unwrap(),
            json!({"city": "Oslo", "days": 2}),
            "{model}"
        );
        let delta = &events.iter().find(|(n, _)| n == "message_delta").unwrap().1;
        assert_eq!(delta["delta"]["stop_reason"], "tool_use", "{model}");
        h.fake.set_behavior(Some(upstream), Behavior::default());
    }
}

#[tokio::test]
async fn what_the_target_cannot_express_is_refused_naming_the_field_and_never_sent() {
    let h = Harness::start().await;
    h.fake.clear_requests();
    let cases = [
        (
            OPENAI,
            openai_body("mythos-5", json!({"logprobs": true})),
            "logprobs",
        ),
        (OPENAI, openai_body("gemini-flash", json!({"n": 2})), "n"),
        (OPENAI, openai_body("mythos-5", json!({"seed": 7})), "seed"),
        (
            ANTHROPIC,
            anthropic_body("gpt-5", json!({"top_k": 5})),
            "top_k",
        ),
        (
            ANTHROPIC,
            anthropic_body(
                "gemini-flash",
                json!({"messages": [{"role": "user", "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                    {"type": "text", "text": "What is this?"}
                ]}]}),
            ),
            "messages[0].content[0]",
        ),
        (
            ANTHROPIC,
            anthropic_body(
                "gpt-5",
                json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
            ),
            "thinking",
        ),
    ];
    for (path, body, field) in cases {
        let response = h.post(path, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let request_id = header(&response, "x-clearance-request-id")
            .unwrap()
            .to_string();
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
        if path == OPENAI {
            assert_eq!(error["error"]["param"], field);
            assert_eq!(error["error"]["code"], "untranslatable");
        } else {
            assert_eq!(error["type"], "error");
            assert_eq!(error["error"]["type"], "invalid_request_error");
        }
        let record = h.record_for(&request_id).await;
        assert_eq!(record["error_class"], "untranslatable");
        assert_eq!(record["status"], 400);
    }
    assert!(h.fake.requests().is_empty(), "nothing reached a provider");
}

#[tokio::test]
async fn a_provider_error_reaches_the_client_in_its_own_shape() {
    let h = Harness::start().await;
    h.fake.set_behavior(
        Some("gemini-3-flash"),
        Behavior {
            status: Some(429),
            retry_after_s: Some(7),
            ..Behavior::default()
        },
    );
    let response = h
        .post(ANTHROPIC, &anthropic_body("gemini-flash", json!({})))
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), Some("7"));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    let response = h
        .post(OPENAI, &openai_body("gemini-flash", json!({})))
        .await;
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(error.get("type").is_none());
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("HTTP 429"), "{message}");
    assert!(
        !message.contains("gemini-3-flash"),
        "the upstream id stays hidden: {message}"
    );
}
