//! Credential redaction (`redact::redact_secrets`, `redact::sanitise_message`) over any text with
//! a key planted where the fuzzer chooses: the key never survives either, redaction is stable
//! (redacting twice changes nothing more), and a sanitised message is never longer than its cap
//! (plus the ellipsis that marks a cut).
//!
//! Input: two bytes choosing where the key goes, one byte for the cap (0 to 255 characters, or
//! the gateway's own cap when it is 255), then the text.
#![no_main]

use clearance_wire::error::UPSTREAM_MESSAGE_MAX_CHARS;
use clearance_wire::redact::{redact_secrets, sanitise_message};
use libfuzzer_sys::fuzz_target;

const PLANTED: &str = "sk-fuzzPlanted0123456789abcdefXYZ";

fuzz_target!(|data: &[u8]| {
    let [at_high, at_low, cap, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);

    let once = redact_secrets(&text).into_owned();
    assert_eq!(redact_secrets(&once), once.as_str(), "redaction is stable");

    let mut at = usize::from(u16::from_be_bytes([*at_high, *at_low])) % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let planted = format!("{}{PLANTED}{}", &text[..at], &text[at..]);
    let redacted = redact_secrets(&planted);
    assert!(!redacted.contains(PLANTED), "{planted:?} -> {redacted:?}");

    let cap = if *cap == u8::MAX {
        UPSTREAM_MESSAGE_MAX_CHARS
    } else {
        usize::from(*cap)
    };
    let sanitised = sanitise_message(&planted, cap);
    assert!(!sanitised.contains(PLANTED), "{planted:?} -> {sanitised:?}");
    assert!(
        sanitised.chars().count() <= cap + 1,
        "cut to {cap}: {sanitised:?}"
    );
});
