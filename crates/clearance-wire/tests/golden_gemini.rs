//! Golden fixtures for the Gemini translator (`tests/golden/gemini/`, sources in its README):
//! every request, answer and stream there is read, written and read back.

mod common;

use clearance_core::api::WireFormat;
use clearance_core::chat::ChatRequest;

/// What a Gemini body cannot carry: the model and the streaming choice travel in the URL, and
/// the API has no end-user id.
fn normalize(request: ChatRequest) -> ChatRequest {
    ChatRequest {
        model: String::new(),
        stream: false,
        include_usage: false,
        end_user: None,
        ..request
    }
}

#[test]
fn gemini_golden_fixtures_read_write_and_read_back() {
    let checked = common::check_all(WireFormat::Gemini, "gemini", normalize);
    // 5 request cases, 3 answers and 3 streams, two checks each: a fixture that stops being
    // found must fail the suite, not shrink it.
    assert!(checked >= 22, "only {checked} golden checks ran");
}
