//! Client request bodies, as every client surface (OpenAI Chat Completions, Anthropic Messages)
//! reads them: `ClientRequest::parse` never panics, and what it accepts keeps its facts through
//! the rewrite for the provider (`upstream_body` names the provider's model and reads back with
//! the same stream flag, capabilities and answer limit) and translates to every wire format
//! (OpenAI, Anthropic, Gemini) either into a JSON object or into an error naming a field.
#![no_main]

use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::facts::Capability;
use clearance_wire::request::ClientRequest;
use clearance_wire::translate::RenderOptions;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SURFACES: [ApiSurface; 2] = [ApiSurface::OpenaiChat, ApiSurface::AnthropicMessages];
const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];
const UPSTREAM: &str = "upstream-model-id";

fuzz_target!(|bytes: &[u8]| {
    for surface in SURFACES {
        let Ok(request) = ClientRequest::parse(surface, bytes) else {
            continue;
        };
        check_accepted(surface, &request);
    }
});

fn check_accepted(surface: ApiSurface, request: &ClientRequest) {
    let capabilities = request.capabilities();
    assert_eq!(
        capabilities.contains(&Capability::Stream),
        request.stream,
        "the stream capability is the stream flag"
    );

    let upstream = request.upstream_body(UPSTREAM);
    let body: Value = serde_json::from_slice(&upstream).expect("the upstream body is JSON");
    assert_eq!(body.get("model").and_then(Value::as_str), Some(UPSTREAM));
    let again = ClientRequest::parse(surface, &upstream).expect("the upstream body parses again");
    assert_eq!(again.model, UPSTREAM);
    assert_eq!(again.stream, request.stream);
    assert_eq!(again.capabilities(), capabilities);
    assert_eq!(again.max_tokens(), request.max_tokens());

    for legacy_max_tokens in [false, true] {
        let options = RenderOptions {
            default_max_tokens: 4096,
            legacy_max_tokens,
        };
        for target in FORMATS {
            match request.translated_body(target, UPSTREAM, &options) {
                Ok(translated) => {
                    let value: Value =
                        serde_json::from_slice(&translated).expect("a translated body is JSON");
                    assert!(value.is_object(), "a translated body is a JSON object");
                }
                Err(error) => {
                    assert!(!error.to_string().is_empty());
                }
            }
        }
    }
}
