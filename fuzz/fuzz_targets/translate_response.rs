//! Answer translation over any JSON: `translate::parse_response` in each wire format (OpenAI,
//! Anthropic, Gemini) returns a neutral answer or an error, never panics; the neutral answer
//! renders to every format as a JSON object that the format's own parser reads back with the
//! token counts it was given.
#![no_main]

use clearance_core::api::WireFormat;
use clearance_wire::translate;
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
    for from in FORMATS {
        let Ok(answer) = translate::parse_response(from, &body) else {
            continue;
        };
        for to in FORMATS {
            let rendered = translate::render_response(to, &answer, 1_767_225_600);
            assert!(rendered.is_object(), "a rendered answer is an object");
            let back = translate::parse_response(to, &rendered).unwrap_or_else(|e| {
                panic!(
                    "{from:?} -> {to:?}: the rendered answer does not parse back: {e}\n{rendered}"
                )
            });
            // A format that always states usage writes 0 for a count it was not given.
            for (read, given) in [
                (back.usage.input_tokens, answer.usage.input_tokens),
                (back.usage.output_tokens, answer.usage.output_tokens),
            ] {
                if given.is_some() {
                    assert_eq!(read, given, "{from:?} -> {to:?}: usage");
                }
            }
        }
    }
});
