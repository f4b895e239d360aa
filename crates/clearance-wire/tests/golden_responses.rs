//! Golden fixtures for the OpenAI Responses translator (`tests/golden/responses/`, sources in
//! its README): every request, answer and stream there is read, written and read back.

mod common;

use clearance_core::api::WireFormat;
use clearance_core::chat::ChatRequest;

/// What a Responses body cannot carry: the API's streams always end with the usage, so there
/// is no request for it.
fn normalize(request: ChatRequest) -> ChatRequest {
    ChatRequest {
        include_usage: false,
        ..request
    }
}

#[test]
fn responses_golden_fixtures_read_write_and_read_back() {
    let checked = common::check_all(WireFormat::OpenaiResponses, "responses", normalize);
    // 5 request cases, 3 answers and 2 streams, two checks each: a fixture that stops being
    // found must fail the suite, not shrink it.
    assert!(checked >= 20, "only {checked} golden checks ran");
}
