//! Server-sent event streams from a provider, cut into pieces where the fuzzer chooses: the
//! framer (`SseFramer`), the same-format rewriter (`SseRewriter`, either client surface) and the
//! cross-format `StreamTranslator` (any provider format to any client format) give the same
//! bytes, events and progress however the stream is cut, never panic, and the translator
//! writes only well-formed events (each `data:` a JSON value or OpenAI's `[DONE]`).
//!
//! Input: one options byte (the translator's source and target formats, the rewriter's
//! surface, whether it strips OpenAI's usage chunk, whether the client asked for usage), one
//! byte counting cut points (at most 15), a little-endian `u16` per cut, then the stream. A
//! seed is an options byte, `00` and a real stream (`fuzz/make_seeds.py`).
#![no_main]

use arbitrary::Unstructured;
use clearance_core::api::{ApiSurface, WireFormat};
use clearance_wire::sse::{SseFrame, SseFramer, SseRewriter, StreamRewrite};
use clearance_wire::translate::{EncoderOptions, StreamTranslator};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenaiChat,
    WireFormat::AnthropicMessages,
    WireFormat::Gemini,
];

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let (Ok(options), Ok(cut_count)) = (input.arbitrary::<u8>(), input.arbitrary::<u8>()) else {
        return;
    };
    let mut cuts = Vec::new();
    for _ in 0..cut_count % 16 {
        let Ok(cut) = input.arbitrary::<u16>() else {
            return;
        };
        cuts.push(cut);
    }
    let stream = input.take_rest();
    let pieces = cut(stream, &cuts);

    let frames_whole = SseFramer::default().push(stream);
    let mut framer = SseFramer::default();
    let frames_cut: Vec<SseFrame> = pieces.iter().flat_map(|p| framer.push(p)).collect();
    assert_eq!(
        frames_whole, frames_cut,
        "framing does not depend on the cuts"
    );

    // One translation per input (all nine pairs on every input made each run nine times
    // slower): the options byte picks it.
    let from = FORMATS[usize::from(options % 3)];
    let to = FORMATS[usize::from(options / 3 % 3)];
    let surface = if options / 9 % 2 == 0 {
        ApiSurface::OpenaiChat
    } else {
        ApiSurface::AnthropicMessages
    };
    let strip_usage_chunk = options / 18 % 2 == 1;
    let include_usage = options / 36 % 2 == 1;

    let rewriter = || SseRewriter::new(surface, "client-model", strip_usage_chunk);
    same_however_cut(rewriter, stream, &pieces);

    let translator = || {
        StreamTranslator::new(
            from,
            to,
            EncoderOptions {
                model: "client-model".to_string(),
                fallback_id: "fallback-id".to_string(),
                created: 1_767_225_600,
                include_usage,
            },
        )
    };
    let out = same_however_cut(translator, stream, &pieces);
    for frame in SseFramer::default().push(&out) {
        assert!(
            frame.data == "[DONE]" || serde_json::from_str::<Value>(&frame.data).is_ok(),
            "{from:?} -> {to:?} wrote an event that is not JSON: {frame:?}"
        );
    }
});

/// `stream` split at `cuts` (offsets taken modulo its length, in order).
fn cut<'a>(stream: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut offsets: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) % (stream.len() + 1))
        .collect();
    offsets.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for offset in offsets {
        pieces.push(&stream[at..offset]);
        at = offset;
    }
    pieces.push(&stream[at..]);
    pieces
}

/// Runs a fresh rewrite over the whole stream and over its pieces; both must agree.
fn same_however_cut<R: StreamRewrite>(
    new: impl Fn() -> R,
    stream: &[u8],
    pieces: &[&[u8]],
) -> Vec<u8> {
    let mut whole = new();
    let mut out_whole = whole.push(stream);
    out_whole.extend(whole.finish());

    let mut split = new();
    let mut out_split = Vec::new();
    for piece in pieces {
        out_split.extend(split.push(piece));
    }
    out_split.extend(split.finish());

    assert_eq!(
        out_whole, out_split,
        "the output does not depend on the cuts"
    );
    assert_eq!(whole.progress(), split.progress());
    out_whole
}
