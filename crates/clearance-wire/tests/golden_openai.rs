//! OpenAI Chat Completions golden fixtures (`tests/golden/openai/`), written from the examples
//! in OpenAI's API reference (`openai/openai-openapi`) and function-calling guide: each case's
//! request, answer and stream read into the neutral model, and write back as OpenAI would send
//! them.

mod common;

use clearance_core::api::WireFormat;
use clearance_core::chat::ChatRequest;

/// What an OpenAI body written by the gateway says differently without changing the request:
/// a streamed request always asks for the usage chunk (the audit log needs it), and tool
/// results followed by user text in one turn are written as separate messages.
fn normalize(request: ChatRequest) -> ChatRequest {
    ChatRequest {
        include_usage: false,
        ..request.with_merged_turns()
    }
}

/// Nine cases: seven with a request, four with an answer, two with a stream (each checked as
/// two files).
const FILES_AT_LEAST: usize = 2 * (7 + 4 + 2);

#[test]
fn openai_golden_cases_read_and_write_back() {
    let checked = common::check_all(WireFormat::OpenaiChat, "openai", normalize);
    assert!(
        checked >= FILES_AT_LEAST,
        "only {checked} golden files checked; is tests/golden/openai complete?"
    );
}
