//! Golden fixtures for the Bedrock translator (`tests/golden/bedrock/`, sources in its README):
//! every request and answer there is read, written and read back; every Converse stream is
//! encoded as an Amazon event stream, decoded in pieces of every size, re-encoded and decoded
//! again; the InvokeModel cases check the Anthropic body and its `chunk` stream.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use clearance_core::api::WireFormat;
use clearance_core::chat::{ChatRequest, StreamEvent};
use clearance_wire::eventstream::{
    EventStreamFramer, Framer, encode_chunk, encode_event, encode_exception,
};
use clearance_wire::translate::{self, bedrock};
use serde_json::{Value, json};

/// What a Converse body cannot carry: the model and the streaming choice travel in the URL,
/// and the API has no end-user id.
fn normalize(request: ChatRequest) -> ChatRequest {
    ChatRequest {
        model: String::new(),
        stream: false,
        include_usage: false,
        end_user: None,
        ..request
    }
}

/// The readable form of an event stream: `{"event_type", "payload"}` per event message,
/// `{"exception_type", "payload"}` per exception.
fn encode_listed(listed: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    for message in listed.as_array().unwrap() {
        let payload = message["payload"].to_string();
        if let Some(event_type) = message["event_type"].as_str() {
            bytes.extend(encode_event(event_type, payload.as_bytes()));
        } else {
            let exception_type = message["exception_type"].as_str().unwrap();
            bytes.extend(encode_exception(exception_type, payload.as_bytes()));
        }
    }
    bytes
}

/// Event-stream bytes back in the readable form.
fn list_encoded(bytes: &[u8]) -> Value {
    let mut framer = EventStreamFramer::converse();
    let mut frames = framer.push(bytes);
    frames.extend(framer.finish());
    assert_eq!(framer.pending_bytes(), 0);
    let listed = frames.into_iter().map(|frame| {
        let name = frame.event.unwrap();
        let payload: Value = serde_json::from_str(&frame.data).unwrap();
        match name.strip_prefix("exception:") {
            Some(exception_type) => json!({"exception_type": exception_type, "payload": payload}),
            None => json!({"event_type": name, "payload": payload}),
        }
    });
    Value::Array(listed.collect())
}

/// Decodes `bytes` framed by `framer`, fed in pieces of `piece` bytes, as `format`'s events.
fn decode(
    mut framer: Box<dyn Framer>,
    format: WireFormat,
    bytes: &[u8],
    piece: usize,
) -> Vec<StreamEvent> {
    let mut decoder = translate::decoder(format);
    let mut events = Vec::new();
    for chunk in bytes.chunks(piece) {
        for frame in framer.push(chunk) {
            decoder.decode(&frame, &mut events);
        }
    }
    for frame in framer.finish() {
        decoder.decode(&frame, &mut events);
    }
    decoder.finish(&mut events);
    events
}

fn decode_converse(bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
    decode(
        Box::new(EventStreamFramer::converse()),
        WireFormat::BedrockConverse,
        bytes,
        piece,
    )
}

fn expected_events(case: &Path) -> Vec<StreamEvent> {
    serde_json::from_value(common::read_json(&case.join("stream.events.json"))).unwrap()
}

fn check_converse_stream(case: &Path) -> usize {
    let listed = case.join("stream.events-in.json");
    if !listed.exists() {
        return 0;
    }
    let bytes = encode_listed(&common::read_json(&listed));
    let expected = expected_events(case);
    for piece in [bytes.len(), 1, 2, 7, 64] {
        assert_eq!(
            decode_converse(&bytes, piece),
            expected,
            "{}: decoded in pieces of {piece} bytes",
            listed.display()
        );
    }
    let encoded = common::encode(
        WireFormat::BedrockConverse,
        &expected,
        common::encoder_options("bedrock-model"),
    );
    let exact = case.join("stream.rendered.json");
    if exact.exists() {
        assert_eq!(
            list_encoded(&encoded),
            common::read_json(&exact),
            "{}",
            exact.display()
        );
    }
    assert_eq!(
        decode_converse(&encoded, encoded.len()),
        expected,
        "{}: encoded and decoded again:\n{:#}",
        listed.display(),
        list_encoded(&encoded)
    );
    2
}

fn check_invoke(case: &Path) -> usize {
    let mut checked = 0;
    let anthropic = case.join("invoke.anthropic.json");
    if anthropic.exists() {
        assert_eq!(
            bedrock::anthropic_invoke_body(&common::read_json(&anthropic)),
            common::read_json(&case.join("invoke.body.json")),
            "{}",
            anthropic.display()
        );
        checked += 1;
    }
    let chunks = case.join("stream.chunks-in.json");
    if chunks.exists() {
        let bytes: Vec<u8> = common::read_json(&chunks)
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|event| encode_chunk(event.to_string().as_bytes()))
            .collect();
        let expected = expected_events(case);
        for piece in [bytes.len(), 1, 3, 64] {
            let framer = Box::new(EventStreamFramer::invoke_model_chunks());
            assert_eq!(
                decode(framer, WireFormat::AnthropicMessages, &bytes, piece),
                expected,
                "{}: decoded in pieces of {piece} bytes",
                chunks.display()
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn bedrock_golden_fixtures_read_write_and_read_back() {
    let mut checked = common::check_all(WireFormat::BedrockConverse, "bedrock", normalize);
    for case in common::cases("bedrock") {
        checked += check_converse_stream(&case);
        checked += check_invoke(&case);
    }
    // 4 request cases, 3 answers and 3 streams, two checks each, and the InvokeModel body and
    // chunk stream: a fixture that stops being found must fail the suite, not shrink it.
    assert!(checked >= 22, "only {checked} golden checks ran");
}
