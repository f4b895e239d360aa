//! Golden fixtures for the Anthropic Messages translator (`tests/golden/anthropic/`).
//!
//! The bodies and streams come from Anthropic's published documentation: the Messages API
//! reference (request and `message` examples), the tool-use guide (`tool_use` / `tool_result`
//! history, `is_error`), the vision guide (base64 and URL images) and the streaming guide (the
//! basic text stream with its `ping`, the `get_weather` stream with `input_json_delta`
//! fragments, the `error` event).

mod common;

use clearance_core::api::WireFormat;
use clearance_core::chat::ChatRequest;
use clearance_wire::translate::RenderOptions;

/// What an Anthropic body cannot tell apart after a round trip: `max_tokens` is required, so
/// a request without one comes back with the default; parallel tool calls allowed is the
/// default, so saying so may not survive.
fn normalize(mut request: ChatRequest) -> ChatRequest {
    if request.max_tokens == Some(RenderOptions::default().default_max_tokens) {
        request.max_tokens = None;
    }
    if request.parallel_tool_calls == Some(true) {
        request.parallel_tool_calls = None;
    }
    request
}

#[test]
fn anthropic_golden_fixtures_read_write_and_round_trip() {
    let checked = common::check_all(WireFormat::AnthropicMessages, "anthropic", normalize);
    // 4 request cases, 3 response cases, 3 stream cases, 2 checks each.
    assert!(checked >= 20, "only {checked} golden files checked");
}
