//! The fake's output against example bodies from the providers' API references
//! (`tests/fixtures/`, sources in its README): every key a real body has, the fake has too, with
//! the same JSON type, and the same `object` / `type` constants.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    SseEvent, anthropic_body, gemini_body, openai_body, parse_sse, post_anthropic, post_gemini,
    post_openai, start,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// Fails, naming the path, where `fake` lacks a key of `real` or has another JSON type there.
/// A `null` in the real body is a nullable field: the fake may put anything there.
fn assert_same_shape(real: &Value, fake: &Value, path: &str) {
    match (real, fake) {
        (Value::Null, _) => {}
        (Value::Object(real), Value::Object(fake)) => {
            for (key, real_value) in real {
                let child = format!("{path}.{key}");
                let fake_value = fake
                    .get(key)
                    .unwrap_or_else(|| panic!("fake lacks {child}"));
                if key == "object" || key == "type" {
                    assert_eq!(fake_value, real_value, "constant at {child}");
                }
                assert_same_shape(real_value, fake_value, &child);
            }
        }
        (Value::Array(real), Value::Array(fake)) => {
            if let Some(real_item) = real.first() {
                assert!(!fake.is_empty(), "fake has an empty array at {path}");
                for (i, fake_item) in fake.iter().enumerate() {
                    assert_same_shape(real_item, fake_item, &format!("{path}[{i}]"));
                }
            }
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Number(r), Value::Number(f)) => {
            assert_eq!(r.is_f64(), f.is_f64(), "integer vs float at {path}");
        }
        _ => panic!("type differs at {path}: real {real}, fake {fake}"),
    }
}

#[test]
fn shape_check_catches_differences() {
    let real: Value = serde_json::json!({"a": {"b": 1, "c": null}, "type": "x"});
    assert_same_shape(
        &real,
        &serde_json::json!({"a": {"b": 2, "c": "s"}, "type": "x", "extra": 1}),
        "$",
    );
    let missing = std::panic::catch_unwind(|| {
        assert_same_shape(&real, &serde_json::json!({"a": {}, "type": "x"}), "$")
    });
    assert!(missing.is_err());
    let wrong_type = std::panic::catch_unwind(|| {
        assert_same_shape(
            &real,
            &serde_json::json!({"a": {"b": "1"}, "type": "x"}),
            "$",
        )
    });
    assert!(wrong_type.is_err());
}

#[tokio::test]
async fn openai_completion_matches_the_reference() {
    let server = start().await;
    let fake: Value = post_openai(&server, &openai_body("gpt-4o-mini", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    assert_same_shape(&fixture_json("openai_chat_completion.json"), &fake, "$");
    server.shutdown().await;
}

#[tokio::test]
async fn openai_chunks_match_the_reference() {
    let real: Vec<Value> = fixture("openai_chat_completion_chunks.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let server = start().await;
    let text = post_openai(&server, &openai_body("gpt-4o-mini", "hi", true))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let fake: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(SseEvent::json)
        .collect();
    let (role, content, finish) = (&real[0], &real[1], &real[2]);
    assert_same_shape(role, &fake[0], "$role_chunk");
    for (i, chunk) in fake[1..fake.len() - 1].iter().enumerate() {
        assert_same_shape(content, chunk, &format!("$content_chunk{i}"));
    }
    assert_same_shape(finish, fake.last().unwrap(), "$finish_chunk");
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_message_matches_the_reference() {
    let server = start().await;
    let fake: Value = post_anthropic(&server, &anthropic_body("claude-sonnet-4-5", "hi", false))
        .await
        .json()
        .await
        .unwrap();
    assert_same_shape(&fixture_json("anthropic_message.json"), &fake, "$");
    server.shutdown().await;
}

/// Event names with runs of the same name collapsed, so the number of deltas does not matter.
fn collapsed_names(events: &[SseEvent]) -> Vec<String> {
    let mut names: Vec<String> = events.iter().map(|e| e.event.clone().unwrap()).collect();
    names.dedup();
    names
}

#[tokio::test]
async fn anthropic_stream_matches_the_reference() {
    let real = parse_sse(&fixture("anthropic_stream.sse"));
    let server = start().await;
    let text = post_anthropic(&server, &anthropic_body("claude-sonnet-4-5", "hi", true))
        .await
        .text()
        .await
        .unwrap();
    let fake = parse_sse(&text);
    assert_eq!(collapsed_names(&fake), collapsed_names(&real));
    for fake_event in &fake {
        let name = fake_event.event.as_deref().unwrap();
        let real_event = real
            .iter()
            .find(|e| e.event.as_deref() == Some(name))
            .unwrap();
        assert_same_shape(&real_event.json(), &fake_event.json(), &format!("${name}"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_response_matches_the_reference() {
    let server = start().await;
    let fake: Value = post_gemini(&server, "gemini-2.5-flash", &gemini_body("hi"), false)
        .await
        .json()
        .await
        .unwrap();
    assert_same_shape(&fixture_json("gemini_generate_content.json"), &fake, "$");
    server.shutdown().await;
}

#[tokio::test]
async fn gemini_stream_matches_the_reference() {
    let real = parse_sse(&fixture("gemini_stream.sse"));
    assert_eq!(real.len(), 2);
    let server = start().await;
    let text = post_gemini(&server, "gemini-2.5-flash", &gemini_body("hi"), true)
        .await
        .text()
        .await
        .unwrap();
    let fake: Vec<Value> = parse_sse(&text).iter().map(SseEvent::json).collect();
    assert!(fake.len() >= 2, "{text}");
    let (middle, last) = (real[0].json(), real[1].json());
    for (i, chunk) in fake[..fake.len() - 1].iter().enumerate() {
        assert_same_shape(&middle, chunk, &format!("$chunk{i}"));
        assert!(chunk["candidates"][0].get("finishReason").is_none());
    }
    assert_same_shape(&last, fake.last().unwrap(), "$last_chunk");
    server.shutdown().await;
}
