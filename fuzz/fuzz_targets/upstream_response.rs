//! A provider's whole (non-streaming) answer or error body, whatever the bytes: the same-format
//! rewrite (`response::rewrite_response`) shows the client's model name in a JSON object and
//! passes anything else through byte for byte; the cross-format `translate_response` gives a
//! JSON answer or an error; `upstream_error_body` always gives an error in the client's own
//! shape with the provider's message cut to its cap.
#![no_main]

use std::collections::HashMap;

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_wire::error::{UPSTREAM_MESSAGE_MAX_CHARS, UpstreamOrigin, is_error_shape};
use clearance_wire::translate::{self, EncoderOptions};
use clearance_wire::{error, response};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;

const SURFACES: [ApiSurface; 2] = [ApiSurface::OpenaiChat, ApiSurface::AnthropicMessages];
const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];
const CLIENT_MODEL: &str = "client-model";

fuzz_target!(|body: &[u8]| {
    let object = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object);
    for surface in SURFACES {
        rewrite(surface, body, object.as_ref());
        for format in FORMATS {
            upstream_error(surface, format, body);
        }
    }
    let names = EncoderOptions {
        model: CLIENT_MODEL.to_string(),
        fallback_id: "fallback-id".to_string(),
        created: 1_767_225_600,
        include_usage: true,
    };
    for from in FORMATS {
        for to in FORMATS {
            if let Ok((bytes, _usage)) = translate::translate_response(from, to, body, &names) {
                let answer: Value =
                    serde_json::from_slice(&bytes).expect("a translated answer is JSON");
                assert!(answer.is_object(), "a translated answer is a JSON object");
            }
        }
    }
});

fn rewrite(surface: ApiSurface, body: &[u8], object: Option<&Value>) {
    let (out, usage) = response::rewrite_response(surface, body, CLIENT_MODEL);
    let Some(object) = object else {
        // Not a JSON object (or not JSON at all): the client sees what the provider sent.
        if out != body {
            // The rewrite reads only the top level: an object whose values a full parse
            // refuses (a number out of range) is still an object to it.
            let shallow = serde_json::from_slice::<HashMap<String, Box<RawValue>>>(&out);
            assert!(shallow.is_ok(), "only an object is rewritten");
        }
        return;
    };
    let rewritten: Value = serde_json::from_slice(&out).expect("a rewritten answer is JSON");
    if object.get("model").is_some() {
        assert_eq!(
            rewritten.get("model").and_then(Value::as_str),
            Some(CLIENT_MODEL),
            "the client sees its own model name"
        );
    }
    if usage != Default::default() {
        assert!(object.get("usage").is_some(), "usage comes from `usage`");
    }
}

fn upstream_error(surface: ApiSurface, format: WireFormat, body: &[u8]) {
    let origin = UpstreamOrigin {
        provider: "acme",
        format,
        upstream_model: "upstream-model-id",
        client_model: CLIENT_MODEL,
    };
    for status in [400, 429, 503] {
        let error = error::upstream_error_body(surface, status, origin, body);
        assert!(is_error_shape(surface, &error), "{error}");
        let message = error
            .pointer("/error/message")
            .and_then(Value::as_str)
            .expect("an error has a message");
        let prefix = if format == WireFormat::from(surface) {
            0
        } else {
            "provider `acme` returned HTTP 503: ".chars().count()
        };
        assert!(
            message.chars().count() <= prefix + UPSTREAM_MESSAGE_MAX_CHARS + 1,
            "the provider's message is cut to its cap"
        );
    }
}
