//! Tool calls in the three APIs, streamed and not, as `Behavior::tool_call` asks for them, and the
//! echo of a tool result a request ends with (`tool result: TEXT`), so a test sees the result
//! make the trip.
#![allow(clippy::unwrap_used)]

mod common;

use clearance_fake::{Behavior, FakeServer, ToolCall};
use common::{
    anthropic_body, client, gemini_body, openai_body, parse_sse, post_anthropic, post_gemini,
    post_openai, start,
};
use serde_json::{Map, Value, json};

fn weather_arguments() -> Map<String, Value> {
    match json!({"city": "Zürich", "days": [1, 2], "unit": "celsius"}) {
        Value::Object(arguments) => arguments,
        _ => unreachable!("a JSON object literal"),
    }
}

/// A fake whose default behavior calls `get_weather` (and would otherwise reply with text).
async fn calling_fake() -> FakeServer {
    let server = start().await;
    server.set_behavior(
        None,
        Behavior {
            tool_call: Some(ToolCall {
                name: "get_weather".into(),
                arguments: weather_arguments(),
            }),
            reply: Some("not this text".into()),
            ..Behavior::default()
        },
    );
    server
}

#[tokio::test]
async fn openai_answers_with_a_function_tool_call() {
    let server = calling_fake().await;
    let body: Value = post_openai(&server, &openai_body("gpt-test", "weather?", false))
        .await
        .json()
        .await
        .unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let message = &choice["message"];
    assert_eq!(message["role"], "assistant");
    assert!(message["content"].is_null());
    let calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, Value::Object(weather_arguments()));
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    server.shutdown().await;
}

#[tokio::test]
async fn openai_streams_the_call_then_its_arguments_in_fragments() {
    let server = calling_fake().await;
    let plain: Value = post_openai(&server, &openai_body("gpt-test", "weather?", false))
        .await
        .json()
        .await
        .unwrap();
    let mut body = openai_body("gpt-test", "weather?", true);
    body["stream_options"] = json!({"include_usage": true});
    let events = parse_sse(&post_openai(&server, &body).await.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();

    let opening = &chunks[0]["choices"][0]["delta"];
    assert_eq!(opening["role"], "assistant");
    let call = &opening["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "");

    let usage_chunk = chunks.last().unwrap();
    let finish_chunk = &chunks[chunks.len() - 2];
    assert_eq!(finish_chunk["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(usage_chunk["usage"], plain["usage"]);

    let fragments: Vec<&str> = chunks[1..chunks.len() - 2]
        .iter()
        .map(|c| {
            let call = &c["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            assert!(
                call.get("id").is_none(),
                "only the first chunk names the call"
            );
            call["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert!(fragments.len() >= 2, "{fragments:?}");
    let arguments: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(arguments, Value::Object(weather_arguments()));
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_answers_with_a_tool_use_block() {
    let server = calling_fake().await;
    let body: Value = post_anthropic(&server, &anthropic_body("claude-test", "weather?", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["stop_reason"], "tool_use");
    let content = body["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["type"], "tool_use");
    assert!(content[0]["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(content[0]["name"], "get_weather");
    assert_eq!(content[0]["input"], Value::Object(weather_arguments()));
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_streams_tool_use_as_input_json_deltas() {
    let server = calling_fake().await;
    let plain: Value = post_anthropic(&server, &anthropic_body("claude-test", "weather?", false))
        .await
        .json()
        .await
        .unwrap();
    let text = post_anthropic(&server, &anthropic_body("claude-test", "weather?", true))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(deltas >= 2, "{names:?}");
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);

    let block = &events[1].json()["content_block"];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({}));

    let partial: String = events[3..3 + deltas]
        .iter()
        .map(|e| {
            let delta = &e.json()["delta"];
            assert_eq!(delta["type"], "input_json_delta");
            delta["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    let input: Value = serde_json::from_str(&partial).unwrap();
    assert_eq!(input, Value::Object(weather_arguments()));

    let message_delta = events[events.len() - 2].json();
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        message_delta["usage"]["output_tokens"],
        plain["usage"]["output_tokens"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_answers_with_a_function_call_part() {
    let server = calling_fake().await;
    let body: Value = post_gemini(&server, "gemini-test", &gemini_body("weather?"), false)
        .await
        .json()
        .await
        .unwrap();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": weather_arguments()}}]),
        "one functionCall part, without an id"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_streams_the_function_call_in_one_chunk() {
    let server = calling_fake().await;
    let plain: Value = post_gemini(&server, "gemini-test", &gemini_body("weather?"), false)
        .await
        .json()
        .await
        .unwrap();
    let text = post_gemini(&server, "gemini-test", &gemini_body("weather?"), true)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events.len(), 1, "{text}");
    let chunk = events[0].json();
    assert_eq!(chunk["candidates"], plain["candidates"]);
    assert_eq!(chunk["usageMetadata"], plain["usageMetadata"]);
    server.shutdown().await;
}

#[tokio::test]
async fn tool_call_applies_only_to_the_model_it_is_set_for() {
    let server = start().await;
    server.set_behavior(
        Some("caller"),
        Behavior {
            tool_call: Some(ToolCall {
                name: "noop".into(),
                arguments: Map::new(),
            }),
            ..Behavior::default()
        },
    );
    let other: Value = post_openai(&server, &openai_body("other", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["choices"][0]["finish_reason"], "stop");
    let caller: Value = post_openai(&server, &openai_body("caller", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    let call = &caller["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "noop");
    assert_eq!(call["arguments"], "{}");
    server.shutdown().await;
}

#[tokio::test]
async fn openai_tool_result_is_echoed() {
    let server = calling_fake().await;
    let body = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"}
            }]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees and sunny"}
        ]
    });
    let plain: Value = post_openai(&server, &body).await.json().await.unwrap();
    let choice = &plain["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        choice["message"]["content"],
        "tool result: 18 degrees and sunny"
    );
    assert!(choice["message"].get("tool_calls").is_none());

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = parse_sse(&post_openai(&server, &streamed).await.text().await.unwrap());
    let text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "tool result: 18 degrees and sunny");
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_tool_result_is_echoed() {
    let server = calling_fake().await;
    let body = json!({
        "model": "claude-test",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees and sunny"}
            ]}
        ]
    });
    let plain: Value = post_anthropic(&server, &body).await.json().await.unwrap();
    assert_eq!(plain["stop_reason"], "end_turn");
    assert_eq!(
        plain["content"],
        json!([{"type": "text", "text": "tool result: 18 degrees and sunny"}])
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = parse_sse(
        &post_anthropic(&server, &streamed)
            .await
            .text()
            .await
            .unwrap(),
    );
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| e.json()["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "tool result: 18 degrees and sunny");
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_function_response_is_echoed() {
    let server = calling_fake().await;
    let turn = |response: Value| {
        json!({"contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": response}}]}
        ]})
    };
    let cases = [
        (json!({"output": "18 degrees"}), "tool result: 18 degrees"),
        // Keys in sorted order, so the compact JSON is the same with or without serde_json's
        // preserve_order.
        (
            json!({"sky": "clear", "temp": 18}),
            r#"tool result: {"sky":"clear","temp":18}"#,
        ),
    ];
    for (response, expected) in cases {
        let plain: Value = post_gemini(&server, "gemini-test", &turn(response.clone()), false)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            plain["candidates"][0]["content"]["parts"],
            json!([{"text": expected}])
        );
        let text = post_gemini(&server, "gemini-test", &turn(response), true)
            .await
            .text()
            .await
            .unwrap();
        let streamed: String = parse_sse(&text)
            .iter()
            .map(|e| {
                e.json()["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(streamed, expected);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn tool_call_behavior_is_set_over_http_and_checked() {
    let server = start().await;
    let base = format!("http://{}", server.addr());
    let http = client();
    let put = http
        .put(format!("{base}/_fake/behavior/gpt-tools"))
        .json(&json!({"tool_call": {"name": "lookup", "arguments": {"q": "rust"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let answer: Value = post_openai(&server, &openai_body("gpt-tools", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    let call = &answer["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["arguments"], r#"{"q":"rust"}"#);
    assert_eq!(
        server.behaviors().models["gpt-tools"]
            .tool_call
            .as_ref()
            .unwrap()
            .name,
        "lookup"
    );

    for bad in [
        json!({"tool_call": {"name": "f", "arguments": [1, 2]}}),
        json!({"tool_call": {"name": "", "arguments": {}}}),
        json!({"tool_call": {"arguments": {}}}),
        json!({"tool_call": {"name": "f", "args": {}}}),
    ] {
        let response = http
            .put(format!("{base}/_fake/behavior"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    server.shutdown().await;
}
