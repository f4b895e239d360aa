//! Request translation over any JSON: `translate::parse_request` in each wire format (OpenAI,
//! Anthropic, Gemini) returns a neutral request or an error naming a field, never panics; a
//! neutral request renders to every format as an object or an error naming the field the
//! target cannot express, and what a format renders, its own parser reads back (with the
//! provider's model name and the same stream flag).
#![no_main]

use clearance_core::api::WireFormat;
use clearance_wire::translate::{self, RenderOptions};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];

fuzz_target!(|bytes: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let options = RenderOptions::default();
    for from in FORMATS {
        let Ok(neutral) = translate::parse_request(from, &body) else {
            continue;
        };
        for to in FORMATS {
            let rendered = match translate::render_request(to, &neutral, "upstream-model", &options)
            {
                Ok(rendered) => rendered,
                Err(error) => {
                    assert!(!error.field().is_empty(), "an error names its field");
                    continue;
                }
            };
            assert!(rendered.is_object(), "a rendered request is an object");
            let back = translate::parse_request(to, &rendered).unwrap_or_else(|e| {
                panic!(
                    "{from:?} -> {to:?}: the rendered request does not parse back: {e}\n{rendered}"
                )
            });
            if to != WireFormat::Gemini {
                // Gemini names the model and the streaming choice in the URL, not the body.
                assert_eq!(back.model, "upstream-model", "{from:?} -> {to:?}");
                assert_eq!(back.stream, neutral.stream, "{from:?} -> {to:?}: stream");
            }
        }
    }
});
