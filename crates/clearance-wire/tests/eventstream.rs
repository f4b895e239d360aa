//! Amazon's event-stream framing (`clearance_wire::eventstream`): messages read whole however
//! the bytes are split, broken messages reported once and never panicked on, and
//! `InvokeModelWithResponseStream` chunks unwrapped into the Anthropic events they carry.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use clearance_core::api::WireFormat;
use clearance_core::chat::{StopReason, StreamEvent};
use clearance_wire::eventstream::{
    EventStreamFramer, Framer, MALFORMED_STREAM, encode_chunk, encode_event, encode_exception,
};
use clearance_wire::sse::{SseFrame, SseFramer, StreamRewrite};
use clearance_wire::translate::{self, EncoderOptions, StreamTranslator};
use proptest::prelude::*;
use serde_json::{Value, json};

fn frame(event: &str, data: &str) -> SseFrame {
    SseFrame {
        event: Some(event.to_string()),
        data: data.to_string(),
    }
}

/// A short `ConverseStream`: the events Bedrock sends for a one-word answer, then a throttling
/// exception.
fn converse_stream() -> (Vec<u8>, Vec<SseFrame>) {
    let events = [
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcdefgh"}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ("messageStop", r#"{"stopReason":"end_turn"}"#),
    ];
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    for (event_type, payload) in events {
        bytes.extend(encode_event(event_type, payload.as_bytes()));
        frames.push(frame(event_type, payload));
    }
    let exception = r#"{"message":"Too many requests, please wait before trying again."}"#;
    bytes.extend(encode_exception(
        "throttlingException",
        exception.as_bytes(),
    ));
    frames.push(frame("exception:throttlingException", exception));
    (bytes, frames)
}

fn run(framer: &mut dyn Framer, pieces: &[&[u8]]) -> Vec<SseFrame> {
    let mut frames = Vec::new();
    for piece in pieces {
        frames.extend(framer.push(piece));
    }
    frames.extend(framer.finish());
    frames
}

fn is_malformed(frame: &SseFrame) -> bool {
    frame.event.as_deref() == Some(&format!("exception:{MALFORMED_STREAM}"))
}

#[test]
fn converse_messages_become_frames_named_by_their_event_type() {
    let (bytes, expected) = converse_stream();
    let mut framer = EventStreamFramer::converse();
    assert_eq!(run(&mut framer, &[&bytes]), expected);
    assert_eq!(framer.pending_bytes(), 0);
}

#[test]
fn a_stream_split_at_every_byte_offset_gives_the_same_frames() {
    let (bytes, expected) = converse_stream();
    for cut in 0..=bytes.len() {
        let mut framer = EventStreamFramer::converse();
        let (head, tail) = bytes.split_at(cut);
        assert_eq!(run(&mut framer, &[head, tail]), expected, "cut at {cut}");
    }
    let mut framer = EventStreamFramer::converse();
    let single_bytes: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(&mut framer, &single_bytes), expected);
}

#[test]
fn the_unfinished_message_is_held_and_counted() {
    let message = encode_event("messageStart", br#"{"role":"assistant"}"#);
    let mut framer = EventStreamFramer::converse();
    assert!(framer.push(&message[..message.len() - 1]).is_empty());
    assert_eq!(framer.pending_bytes(), message.len() - 1);
    assert_eq!(framer.push(&message[message.len() - 1..]).len(), 1);
    assert_eq!(framer.pending_bytes(), 0);
}

#[test]
fn a_corrupted_payload_fails_its_crc_and_stops_the_stream() {
    let (mut bytes, expected) = converse_stream();
    let first = encode_event("messageStart", br#"{"role":"assistant"}"#).len();
    let second = u32::from_be_bytes(bytes[first..first + 4].try_into().unwrap()) as usize;
    // A byte of the second message's payload (its last four bytes are the message CRC).
    bytes[first + second - 6] ^= 0x20;
    let mut framer = EventStreamFramer::converse();
    let frames = run(&mut framer, &[&bytes]);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0], expected[0]);
    assert!(is_malformed(&frames[1]), "{frames:?}");
    assert!(frames[1].data.contains("checksum"), "{}", frames[1].data);
    // Nothing is read after a broken message.
    assert!(framer.push(&encode_event("messageStart", b"{}")).is_empty());
    assert_eq!(framer.pending_bytes(), 0);
}

#[test]
fn a_corrupted_prelude_fails_its_crc() {
    let mut message = encode_event("messageStart", br#"{"role":"assistant"}"#);
    message[9] ^= 0xff; // the prelude CRC
    let frames = run(&mut EventStreamFramer::converse(), &[&message]);
    assert_eq!(frames.len(), 1);
    assert!(is_malformed(&frames[0]), "{frames:?}");
    assert!(frames[0].data.contains("prelude"), "{}", frames[0].data);
}

#[test]
fn an_impossible_length_fails_at_once_without_waiting_for_the_bytes() {
    for total in [0_u32, 15, 16 * 1024 * 1024 + 1, u32::MAX] {
        let mut bytes = total.to_be_bytes().to_vec();
        bytes.extend([0; 8]);
        let mut framer = EventStreamFramer::converse();
        let frames = framer.push(&bytes);
        assert_eq!(frames.len(), 1, "{total}");
        assert!(is_malformed(&frames[0]), "{frames:?}");
        assert_eq!(framer.pending_bytes(), 0);
    }
}

#[test]
fn a_stream_that_ends_inside_a_message_ends_with_an_error_frame() {
    let message = encode_event("messageStop", br#"{"stopReason":"end_turn"}"#);
    let mut framer = EventStreamFramer::converse();
    assert!(framer.push(&message[..20]).is_empty());
    let frames = framer.finish();
    assert_eq!(frames.len(), 1);
    assert!(is_malformed(&frames[0]), "{frames:?}");
    assert!(frames[0].data.contains("20 bytes"), "{}", frames[0].data);
    // A stream that ends between messages owes nothing.
    let mut framer = EventStreamFramer::converse();
    assert_eq!(framer.push(&message).len(), 1);
    assert!(framer.finish().is_empty());
}

#[test]
fn the_sse_framer_is_a_framer_too() {
    let mut framer = SseFramer::default();
    let frames = run(&mut framer, &[b"event: a\ndata: {}\n\ndata: cut"]);
    assert_eq!(frames, [frame("a", "{}")]);
}

const ANTHROPIC_EVENTS: [&str; 6] = [
    r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}"#,
    r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":4,"invocationLatency":511,"firstByteLatency":302}}"#,
];

fn invoke_stream() -> Vec<u8> {
    ANTHROPIC_EVENTS
        .iter()
        .flat_map(|event| encode_chunk(event.as_bytes()))
        .collect()
}

#[test]
fn invoke_chunks_unwrap_into_the_anthropic_events_they_carry() {
    let bytes = invoke_stream();
    let expected: Vec<SseFrame> = ANTHROPIC_EVENTS
        .iter()
        .map(|event| {
            let name = serde_json::from_str::<Value>(event).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string();
            frame(&name, event)
        })
        .collect();
    for piece in [bytes.len(), 1, 3, 50] {
        let pieces: Vec<&[u8]> = bytes.chunks(piece).collect();
        let frames = run(&mut EventStreamFramer::invoke_model_chunks(), &pieces);
        assert_eq!(frames, expected, "pieces of {piece}");
    }
    // The wrapping is the documented one: `{"bytes": base64}` under `:event-type` `chunk`.
    let converse_view = run(&mut EventStreamFramer::converse(), &[&bytes]);
    assert_eq!(converse_view[0].event.as_deref(), Some("chunk"));
    let part: Value = serde_json::from_str(&converse_view[0].data).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(part["bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, ANTHROPIC_EVENTS[0].as_bytes());
}

#[test]
fn the_anthropic_decoder_reads_unwrapped_chunks_unchanged() {
    let mut framer = EventStreamFramer::invoke_model_chunks();
    let mut decoder = translate::decoder(WireFormat::AnthropicMessages);
    let mut events = Vec::new();
    for frame in run(&mut framer, &[&invoke_stream()]) {
        decoder.decode(&frame, &mut events);
    }
    decoder.finish(&mut events);
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(&events[0], StreamEvent::Start { id: Some(id), .. } if id == "msg_bdrk_01"));
    assert_eq!(
        events[1],
        StreamEvent::TextDelta {
            text: "Hello".into()
        }
    );
    assert_eq!(
        events[2],
        StreamEvent::Stop {
            reason: StopReason::EndTurn
        }
    );
    assert_eq!(events[4], StreamEvent::End);
}

#[test]
fn invoke_exceptions_and_bad_chunks_become_anthropic_errors() {
    let exception = encode_exception(
        "throttlingException",
        br#"{"message":"Too many tokens, please wait before trying again."}"#,
    );
    let frames = run(&mut EventStreamFramer::invoke_model_chunks(), &[&exception]);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].event.as_deref(), Some("error"));
    let error: Value = serde_json::from_str(&frames[0].data).unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(
        error["error"]["message"],
        "throttlingException: Too many tokens, please wait before trying again."
    );

    for payload in [
        json!({"bytes": "not base64!"}),
        json!({"bytes": base64::engine::general_purpose::STANDARD.encode("{\"no\":\"type\"}")}),
        json!({"nothing": 1}),
    ] {
        let chunk = encode_event("chunk", payload.to_string().as_bytes());
        let frames = run(&mut EventStreamFramer::invoke_model_chunks(), &[&chunk]);
        assert_eq!(frames.len(), 1, "{payload}");
        assert_eq!(frames[0].event.as_deref(), Some("error"), "{payload}");
        let mut events = Vec::new();
        translate::decoder(WireFormat::AnthropicMessages).decode(&frames[0], &mut events);
        assert!(
            matches!(&events[..], [StreamEvent::Error { .. }]),
            "{events:?}"
        );
    }
}

#[test]
fn anthropic_on_bedrock_translates_through_a_chosen_framer() {
    let options = EncoderOptions {
        model: "claude-on-bedrock".into(),
        fallback_id: "chatcmpl-1".into(),
        own_id: None,
        created: 1_767_225_600,
        include_usage: true,
    };
    let mut translator = StreamTranslator::with_framer(
        Box::new(EventStreamFramer::invoke_model_chunks()),
        WireFormat::AnthropicMessages,
        WireFormat::OpenaiChat,
        options,
    );
    let bytes = invoke_stream();
    let mut out = Vec::new();
    for piece in bytes.chunks(17) {
        out.extend(translator.push(piece));
    }
    out.extend(translator.finish());
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"content\":\"Hello\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(translator.completed());
    assert_eq!(translator.usage().input_tokens, Some(12));
    assert_eq!(translator.usage().output_tokens, Some(4));
    assert_eq!(translator.pending_bytes(), 0);
}

#[test]
fn a_translator_reports_a_cut_event_stream_as_an_upstream_error() {
    let options = EncoderOptions {
        model: "m".into(),
        fallback_id: "msg_1".into(),
        own_id: None,
        created: 0,
        include_usage: false,
    };
    let mut translator =
        StreamTranslator::new(WireFormat::BedrockConverse, WireFormat::OpenaiChat, options);
    let message = encode_event("messageStart", br#"{"role":"assistant"}"#);
    translator.push(&message);
    translator.push(&message[..10]);
    assert_eq!(translator.pending_bytes(), 10);
    translator.finish();
    assert!(translator.upstream_error());
    assert!(!translator.completed());
}

#[test]
fn converse_streams_translate_for_an_anthropic_client() {
    let options = EncoderOptions {
        model: "claude-via-converse".into(),
        fallback_id: "msg_fallback".into(),
        own_id: None,
        created: 0,
        include_usage: false,
    };
    let mut translator = StreamTranslator::new(
        WireFormat::BedrockConverse,
        WireFormat::AnthropicMessages,
        options,
    );
    let mut bytes = Vec::new();
    for (event_type, payload) in [
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ("messageStop", r#"{"stopReason":"max_tokens"}"#),
        (
            "metadata",
            r#"{"usage":{"inputTokens":5,"outputTokens":1,"totalTokens":6},"metrics":{"latencyMs":9}}"#,
        ),
    ] {
        bytes.extend(encode_event(event_type, payload.as_bytes()));
    }
    let mut out = Vec::new();
    for piece in bytes.chunks(5) {
        out.extend(translator.push(piece));
    }
    out.extend(translator.finish());
    let text = String::from_utf8(out).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(text.contains(r#""stop_reason":"max_tokens""#), "{text}");
    assert!(text.contains(r#""msg_fallback""#), "{text}");
    assert!(translator.completed());
    assert_eq!(translator.usage().input_tokens, Some(5));
}

proptest! {
    /// Any bytes are framed or refused, never panicked on.
    #[test]
    fn any_bytes_are_never_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        run(&mut EventStreamFramer::converse(), &[&bytes]);
        run(&mut EventStreamFramer::invoke_model_chunks(), &[&bytes]);
    }

    /// Any one corrupted byte of a valid stream is caught: the frames before the broken
    /// message pass, then exactly one error frame, last.
    #[test]
    fn any_corrupted_byte_is_caught(position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (mut bytes, expected) = converse_stream();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        let frames = run(&mut EventStreamFramer::converse(), &[&bytes]);
        let (last, before) = frames.split_last().unwrap();
        prop_assert!(is_malformed(last), "{:?}", frames);
        prop_assert!(expected.starts_with(before), "{:?}", frames);
    }
}
