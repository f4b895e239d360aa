//! Golden-fixture checks shared by the per-format suites (`golden_<format>.rs`).
//!
//! A case is a folder `tests/golden/<format>/<case>/` holding any of:
//! - `request.json` + `request.neutral.json`: reading the body gives the neutral request;
//!   writing that neutral request and reading it back gives it again (after the suite's
//!   `normalize`, for what the format does not carry); `request.rendered.json`, when present,
//!   is exactly what writing it gives.
//! - `response.json` + `response.neutral.json`: the same for a whole answer
//!   (`response.rendered.json` optional, written with `created` = [`CREATED`]).
//! - `stream.sse` + `stream.events.json`: decoding the stream (fed in pieces of every size
//!   from 1 byte up, so framing cannot matter) gives the events; encoding them and decoding
//!   again gives them back; `stream.rendered.sse`, when present, is exactly what encoding
//!   gives with [`encoder_options`] for the case.
//!
//! The fixtures are written from the providers' published API references.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use clearance_core::api::WireFormat;
use clearance_core::chat::{ChatRequest, ChatResponse, StreamEvent};
use clearance_wire::sse::SseFramer;
use clearance_wire::translate::{self, EncoderOptions, RenderOptions};
use serde_json::Value;

pub const CREATED: i64 = 1_767_225_600;

pub fn cases(format_dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format_dir);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no golden cases under {}",
        root.display()
    );
    cases
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_typed<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_value(read_json(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn encoder_options(model: &str) -> EncoderOptions {
    EncoderOptions {
        model: model.to_string(),
        fallback_id: "gen-fixture".into(),
        own_id: None,
        created: CREATED,
        include_usage: true,
    }
}

/// Runs every fixture of every case in `format_dir`; returns how many files were checked.
pub fn check_all(
    format: WireFormat,
    format_dir: &str,
    normalize: fn(ChatRequest) -> ChatRequest,
) -> usize {
    let mut checked = 0;
    for case in cases(format_dir) {
        checked += check_request(format, &case, normalize);
        checked += check_response(format, &case);
        checked += check_stream(format, &case);
    }
    checked
}

fn check_request(
    format: WireFormat,
    case: &Path,
    normalize: fn(ChatRequest) -> ChatRequest,
) -> usize {
    let body = case.join("request.json");
    if !body.exists() {
        return 0;
    }
    let expected: ChatRequest = read_typed(&case.join("request.neutral.json"));
    let parsed = translate::parse_request(format, &read_json(&body))
        .unwrap_or_else(|e| panic!("{}: {e}", body.display()));
    assert_eq!(parsed, expected, "{}: parsed", body.display());
    let model = if expected.model.is_empty() {
        "upstream-model"
    } else {
        &expected.model
    };
    let rendered = translate::render_request(format, &expected, model, &RenderOptions::default())
        .unwrap_or_else(|e| panic!("{}: render: {e}", body.display()));
    let exact = case.join("request.rendered.json");
    if exact.exists() {
        assert_eq!(rendered, read_json(&exact), "{}", exact.display());
    }
    let again = translate::parse_request(format, &rendered)
        .unwrap_or_else(|e| panic!("{}: reading back: {e}\n{rendered:#}", body.display()));
    assert_eq!(
        normalize(again),
        normalize(expected),
        "{}: round trip",
        body.display()
    );
    2
}

fn check_response(format: WireFormat, case: &Path) -> usize {
    let body = case.join("response.json");
    if !body.exists() {
        return 0;
    }
    let expected: ChatResponse = read_typed(&case.join("response.neutral.json"));
    let parsed = translate::parse_response(format, &read_json(&body))
        .unwrap_or_else(|e| panic!("{}: {e}", body.display()));
    assert_eq!(parsed, expected, "{}: parsed", body.display());
    let rendered = translate::render_response(format, &expected, CREATED);
    let exact = case.join("response.rendered.json");
    if exact.exists() {
        assert_eq!(rendered, read_json(&exact), "{}", exact.display());
    }
    let again = translate::parse_response(format, &rendered)
        .unwrap_or_else(|e| panic!("{}: reading back: {e}\n{rendered:#}", body.display()));
    assert_eq!(again, expected, "{}: round trip", body.display());
    2
}

fn check_stream(format: WireFormat, case: &Path) -> usize {
    let sse = case.join("stream.sse");
    if !sse.exists() {
        return 0;
    }
    let bytes = std::fs::read(&sse).unwrap();
    let expected: Vec<StreamEvent> = read_typed(&case.join("stream.events.json"));
    for piece in [bytes.len().max(1), 1, 2, 7, 64] {
        assert_eq!(
            decode(format, &bytes, piece),
            expected,
            "{}: decoded in pieces of {piece} bytes",
            sse.display()
        );
    }
    let model = expected
        .iter()
        .find_map(|e| match e {
            StreamEvent::Start { model, .. } => Some(model.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let encoded = encode(format, &expected, encoder_options(&model));
    let exact = case.join("stream.rendered.sse");
    if exact.exists() {
        assert_eq!(
            String::from_utf8_lossy(&encoded),
            std::fs::read_to_string(&exact).unwrap(),
            "{}",
            exact.display()
        );
    }
    assert_eq!(
        decode(format, &encoded, encoded.len().max(1)),
        expected,
        "{}: encoded and decoded again:\n{}",
        sse.display(),
        String::from_utf8_lossy(&encoded)
    );
    2
}

/// Decodes `bytes` fed in pieces of `piece` bytes, then the end of the stream.
pub fn decode(format: WireFormat, bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
    let mut framer = SseFramer::default();
    let mut decoder = translate::decoder(format);
    let mut events = Vec::new();
    for chunk in bytes.chunks(piece) {
        for frame in framer.push(chunk) {
            decoder.decode(&frame, &mut events);
        }
    }
    decoder.finish(&mut events);
    events
}

pub fn encode(format: WireFormat, events: &[StreamEvent], options: EncoderOptions) -> Vec<u8> {
    let mut encoder = translate::encoder(format, options);
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    out
}
