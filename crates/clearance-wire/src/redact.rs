//! Credentials out of text that leaves the gateway: a provider's error message before a client
//! sees it, a provider's error body before it is logged.
//!
//! [`redact_secrets`] replaces with [`REDACTED`] anything shaped like a credential:
//!
//! - provider and gateway keys by their prefix: `sk-`/`sk_` (OpenAI, Anthropic's `sk-ant-`,
//!   Stripe-style `sk_live_`) with 16 or more key characters after it, Google's `AIza` with 30
//!   or more, AWS `AKIA`/`ASIA` ids, Clearance's own `clr_` keys;
//! - the token after `Bearer` (any case);
//! - the value of a `name=value` or `name: value` pair whose name ends in `key`, `token`,
//!   `secret`, `password`, `passwd`, `signature`, `credential(s)` or `auth` (`?key=...`,
//!   `api_key=...`, `"x-api-key": "..."`);
//! - any run of 32 or more base64/hex characters (`A-Z a-z 0-9 + / = _ -`) that holds a digit,
//!   both letter cases, or 32 hex digits in a row: random secrets, JWT parts, long hex ids.
//!
//! It errs towards hiding: a hyphenated word ending in `sk` followed by 16 key characters
//! (`task-management-service`) loses its tail too. Nothing is matched across a character
//! outside ASCII except a pair's value, so the result is always valid UTF-8 cut at char
//! boundaries.

use std::borrow::Cow;

/// What a credential is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Prefixes that start a key, the least number of key characters that must follow, and
/// whether they are matched in any letter case.
const KEY_PREFIXES: &[(&str, usize, bool)] = &[
    ("sk-", 16, true),
    ("sk_", 16, true),
    ("AIza", 30, false),
    ("AKIA", 16, false),
    ("ASIA", 16, false),
    ("clr_", 8, true),
];

/// A pair whose name ends with one of these (in any case) has a secret value.
const SECRET_NAMES: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "credentials",
    "auth",
];

/// The shortest run of base64 or hex characters taken for a secret on its own.
const LONG_RUN: usize = 32;

/// `text` with every credential-shaped part replaced by [`REDACTED`]; borrowed when there is
/// none.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    prefixed_keys(bytes, &mut spans);
    bearer_tokens(bytes, &mut spans);
    secret_pairs(bytes, &mut spans);
    long_runs(bytes, &mut spans);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        if start >= at {
            out.push_str(&text[at..start]);
            out.push_str(REDACTED);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` with every occurrence of each of `known` (secrets the gateway holds, such as the
/// provider's own key, whatever their shape) replaced by [`REDACTED`]; borrowed when there is
/// none. A self-hosted server's key can be any string, so the shape-based
/// [`redact_secrets`] alone cannot be trusted with it.
pub fn redact_known<'t>(text: &'t str, known: &[&str]) -> Cow<'t, str> {
    let mut out = Cow::Borrowed(text);
    for secret in known.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, REDACTED));
        }
    }
    out
}

/// `text` redacted, trimmed and cut to at most `max_chars` characters (an ellipsis marks a
/// cut). Redaction comes first, so a cut never leaves part of a secret behind unredacted.
pub fn sanitise_message(text: &str, max_chars: usize) -> String {
    let redacted = redact_secrets(text);
    let trimmed = redacted.trim();
    match trimmed.char_indices().nth(max_chars) {
        None => trimmed.to_string(),
        Some((cut, _)) => {
            let mut out = trimmed[..cut].trim_end().to_string();
            out.push('…');
            out
        }
    }
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_base64_char(b: u8) -> bool {
    is_key_char(b) || matches!(b, b'+' | b'/' | b'=')
}

/// RFC 6750's `b64token`.
fn is_bearer_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// Where a pair's value ends: at space, a quote, a bracket or a separator of URLs and lists.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'"'
                | b'\''
                | b'<'
                | b'>'
                | b'#'
                | b','
                | b';'
                | b'('
                | b')'
                | b'{'
                | b'}'
                | b'['
                | b']'
                | b'\\'
        )
}

/// The end of the run of bytes satisfying `keep` that starts at `from`.
fn run_end(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|b| !keep(*b))
        .map_or(bytes.len(), |n| from + n)
}

fn starts_with_at(bytes: &[u8], at: usize, prefix: &str, any_case: bool) -> bool {
    bytes.get(at..at + prefix.len()).is_some_and(|window| {
        if any_case {
            window.eq_ignore_ascii_case(prefix.as_bytes())
        } else {
            window == prefix.as_bytes()
        }
    })
}

fn prefixed_keys(bytes: &[u8], spans: &mut Vec<(usize, usize)>) {
    for &(prefix, at_least, any_case) in KEY_PREFIXES {
        let mut i = 0;
        while i < bytes.len() {
            if starts_with_at(bytes, i, prefix, any_case) {
                let body = i + prefix.len();
                let end = run_end(bytes, body, is_key_char);
                if end - body >= at_least {
                    spans.push((i, end));
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
    }
}

fn bearer_tokens(bytes: &[u8], spans: &mut Vec<(usize, usize)>) {
    const BEARER: &str = "bearer";
    let mut i = 0;
    while i < bytes.len() {
        if starts_with_at(bytes, i, BEARER, true) {
            let gap = i + BEARER.len();
            let token = run_end(bytes, gap, |b| b == b' ' || b == b'\t');
            let end = run_end(bytes, token, is_bearer_char);
            if token > gap && end > token {
                spans.push((token, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// `name=value`, `name: value`, `"name": "value"` with a secret-sounding name.
fn secret_pairs(bytes: &[u8], spans: &mut Vec<(usize, usize)>) {
    for (at, &separator) in bytes.iter().enumerate() {
        if separator != b'=' && separator != b':' {
            continue;
        }
        // The name ends right before the separator, or before a closing quote.
        let mut name_end = at;
        if name_end > 0 && matches!(bytes[name_end - 1], b'"' | b'\'') {
            name_end -= 1;
        }
        let name_start = bytes[..name_end]
            .iter()
            .rposition(|b| !is_key_char(*b))
            .map_or(0, |n| n + 1);
        let name = &bytes[name_start..name_end];
        let secret_name = SECRET_NAMES.iter().any(|suffix| {
            name.len() >= suffix.len()
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        });
        if !secret_name {
            continue;
        }
        let mut value = run_end(bytes, at + 1, |b| b == b' ' || b == b'\t');
        if bytes.get(value).is_some_and(|b| matches!(b, b'"' | b'\'')) {
            value += 1;
        }
        let end = run_end(bytes, value, |b| !ends_value(b));
        // After `:` only a value that could be a credential: "Invalid key: the model" is prose.
        let shortest = if separator == b'=' { 1 } else { 8 };
        if end - value >= shortest {
            spans.push((value, end));
        }
    }
}

fn long_runs(bytes: &[u8], spans: &mut Vec<(usize, usize)>) {
    let mut i = 0;
    while i < bytes.len() {
        if !is_base64_char(bytes[i]) {
            i += 1;
            continue;
        }
        let end = run_end(bytes, i, is_base64_char);
        let run = &bytes[i..end];
        if run.len() >= LONG_RUN && looks_random(run) {
            spans.push((i, end));
        }
        i = end;
    }
}

/// A digit, both letter cases, or a long stretch of hex: not a word or a hyphenated name.
fn looks_random(run: &[u8]) -> bool {
    let digit = run.iter().any(u8::is_ascii_digit);
    let upper = run.iter().any(u8::is_ascii_uppercase);
    let lower = run.iter().any(u8::is_ascii_lowercase);
    if digit || (upper && lower) {
        return true;
    }
    let mut hex = 0;
    for b in run {
        hex = if b.is_ascii_hexdigit() { hex + 1 } else { 0 };
        if hex >= LONG_RUN {
            return true;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn provider_and_gateway_keys_are_redacted() {
        let cases = [
            (
                "Incorrect API key provided: sk-live-0123456789abcdef0123456789abcdef.",
                "Incorrect API key provided: [REDACTED].",
            ),
            (
                "key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345-_xyz was revoked",
                "key [REDACTED] was revoked",
            ),
            (
                "sk-proj-abcdefghijklmnopqrstu rejected",
                "[REDACTED] rejected",
            ),
            ("stripe sk_live_abcdefghijklmnop!", "stripe [REDACTED]!"),
            (
                "API key not valid: AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW.",
                "API key not valid: [REDACTED].",
            ),
            ("id AKIAIOSFODNN7EXAMPLE used", "id [REDACTED] used"),
            (
                "key clr_0011223344556677_8899aabbccddeeff8899aabbccddeeff8899aabbccddeeff8899aabbccddeeff",
                "key [REDACTED]",
            ),
            (
                "Authorization: Bearer abc.def-ghi_jkl~mno+pq/rs= failed",
                "Authorization: Bearer [REDACTED] failed",
            ),
            ("BEARER\ttok failed", "BEARER\t[REDACTED] failed"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_secrets(text), expected, "{text}");
        }
    }

    #[test]
    fn secret_query_parameters_and_pairs_are_redacted() {
        let cases = [
            (
                "GET /v1beta/models/x:generateContent?key=abc123&alt=sse",
                "GET /v1beta/models/x:generateContent?key=[REDACTED]&alt=sse",
            ),
            ("url?api_key=hunter2#frag", "url?api_key=[REDACTED]#frag"),
            (
                "access_token=t0k3n; path=/",
                "access_token=[REDACTED]; path=/",
            ),
            (
                r#"{"x-api-key": "supersecretvalue", "n": 1}"#,
                r#"{"x-api-key": "[REDACTED]", "n": 1}"#,
            ),
            ("password: correct-horse-battery", "password: [REDACTED]"),
            // Prose after a colon is left alone.
            ("Invalid key: the model", "Invalid key: the model"),
            // Names that are not secret keep their values.
            ("model=gpt-5&stream=true", "model=gpt-5&stream=true"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_secrets(text), expected, "{text}");
        }
    }

    #[test]
    fn long_random_runs_are_redacted_and_words_are_not() {
        let cases = [
            (
                "trace 0123456789abcdef0123456789abcdef ok",
                "trace [REDACTED] ok",
            ),
            (
                "sig deadbeefdeadbeefdeadbeefdeadbeef ok",
                "sig [REDACTED] ok",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
                "jwt [REDACTED].[REDACTED].[REDACTED]",
            ),
            (
                "Rate limit reached for gpt-5 on requests. Visit https://platform.openai.com/account/rate-limits to learn more.",
                "Rate limit reached for gpt-5 on requests. Visit https://platform.openai.com/account/rate-limits to learn more.",
            ),
            (
                "this-is-a-very-long-hyphenated-identifier-without-digits",
                "this-is-a-very-long-hyphenated-identifier-without-digits",
            ),
            ("Overloaded", "Overloaded"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_secrets(text), expected, "{text}");
        }
        assert!(matches!(redact_secrets("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn text_around_secrets_keeps_its_characters() {
        assert_eq!(
            redact_secrets("clé: sk-0123456789abcdefghij — fin"),
            "clé: [REDACTED] — fin"
        );
        assert_eq!(redact_secrets("key=värde&x=1"), "key=[REDACTED]&x=1");
    }

    #[test]
    fn known_secrets_are_redacted_whatever_their_shape() {
        let text = "bad key hunter2hunter2 (hunter2hunter2)";
        assert_eq!(
            redact_known(text, &["hunter2hunter2", ""]),
            "bad key [REDACTED] ([REDACTED])"
        );
        assert!(matches!(redact_known(text, &["other"]), Cow::Borrowed(_)));
    }

    #[test]
    fn messages_are_redacted_then_cut() {
        let secret = "sk-0123456789abcdef0123456789abcdef";
        let text = format!("{} {secret}", "word ".repeat(98));
        let cut = sanitise_message(&text, 500);
        assert!(!cut.contains("sk-0123"), "{cut}");
        assert_eq!(cut.chars().count(), 501, "500 characters and the ellipsis");
        assert!(cut.ends_with('…'));
        assert_eq!(sanitise_message("  short  ", 500), "short");
        assert_eq!(sanitise_message("ééé", 2), "éé…");
    }

    /// A credential in one of the shapes above, and the part of it that must not survive.
    pub(crate) fn secret() -> impl Strategy<Value = (String, String)> {
        let same = |s: String| (s.clone(), s);
        prop_oneof![
            "sk-[A-Za-z0-9]{16,48}".prop_map(same),
            "sk-ant-api03-[A-Za-z0-9_-]{20,95}".prop_map(same),
            "sk-(live|proj|svcacct)-[A-Za-z0-9]{16,64}".prop_map(same),
            "sk_live_[A-Za-z0-9]{16,40}".prop_map(same),
            "AIza[A-Za-z0-9_-]{35}".prop_map(same),
            "AKIA[A-Z0-9]{16}".prop_map(same),
            "clr_[0-9a-f]{16}_[0-9a-f]{64}".prop_map(same),
            "[0-9a-f]{32,64}".prop_map(same),
            "[0-9A-F]{32,64}".prop_map(same),
            "[A-Za-z0-9+/]{32,64}={0,2}".prop_map(same),
            "[A-Za-z0-9._~+/-]{8,64}".prop_map(|t| (format!("Bearer {t}"), t)),
            "[A-Za-z0-9]{8,40}".prop_map(|v| (format!("api_key={v}"), v)),
            "[A-Za-z0-9]{8,40}".prop_map(|v| (format!("key={v}"), v)),
            "[A-Za-z0-9]{8,40}".prop_map(|v| (format!("\"x-goog-api-key\": \"{v}\""), v)),
        ]
    }

    /// Text next to a secret: anything, printable ASCII, or characters that continue a key.
    pub(crate) fn neighbour() -> impl Strategy<Value = String> {
        prop_oneof![".{0,40}", "[ -~]{0,40}", "[A-Za-z0-9_=:/+\"' -]{0,12}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// A secret embedded anywhere in a message, next to any text, never survives.
        #[test]
        fn a_secret_embedded_anywhere_never_survives(
            (secret, core) in secret(),
            before in neighbour(),
            after in neighbour(),
        ) {
            let message = format!("{before}{secret}{after}");
            let redacted = redact_secrets(&message);
            prop_assert!(!redacted.contains(&core), "{message:?} -> {redacted:?}");
            let sanitised = sanitise_message(&message, 500);
            prop_assert!(!sanitised.contains(&core), "{message:?} -> {sanitised:?}");
        }

        /// Redaction never panics, keeps text with no credential as it is, and is stable.
        #[test]
        fn redaction_is_total_and_idempotent(text in any::<String>()) {
            let once = redact_secrets(&text).into_owned();
            prop_assert_eq!(redact_secrets(&once), once.as_str());
        }
    }
}
