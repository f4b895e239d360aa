//! The URL query string: Gemini's `alt=sse` asks for server-sent events and `key=` may carry the
//! API key; Azure's `api-version` names the API version. Also the recorded form of a query, with
//! key values redacted, and the decoding of percent-encoded path segments (Bedrock model ids).

/// What a recorded query shows instead of a `key` value.
pub(crate) const REDACTED: &str = "REDACTED";

/// The first value of parameter `name`, percent-decoded (`+` is a space, as in forms).
pub(crate) fn param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| percent_decode(key) == name)
        .map(|(_, value)| percent_decode(value))
}

/// `query` with the value of every `key` parameter replaced by [`REDACTED`], so the record of
/// requests shows that a key came in the URL without holding it.
pub(crate) fn redacted(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if percent_decode(key) == "key" => format!("{key}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A URL path segment percent-decoded (`anthropic.claude-v2%3A1` → `anthropic.claude-v2:1`);
/// unlike a query, `+` stays a plus.
pub(crate) fn decode_segment(segment: &str) -> String {
    percent_decode_with(segment, false)
}

/// Decodes `%XX` escapes and `+`; a malformed escape is kept as it is, bytes that are not
/// UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    percent_decode_with(text, true)
}

fn percent_decode_with(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => decoded.push(b' '),
            b'%' => {
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(byte) = escaped {
                    decoded.push(byte);
                    i += 3;
                    continue;
                }
                decoded.push(b'%');
            }
            byte => decoded.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters() {
        let query = Some("alt=sse&key=AIza%2Bx+y&flag");
        assert_eq!(param(query, "alt").as_deref(), Some("sse"));
        assert_eq!(param(query, "key").as_deref(), Some("AIza+x y"));
        assert_eq!(param(query, "flag").as_deref(), Some(""));
        assert_eq!(param(query, "other"), None);
        assert_eq!(param(None, "alt"), None);
    }

    #[test]
    fn odd_escapes_do_not_panic() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9%FF"), "é\u{fffd}");
        assert_eq!(percent_decode("é%"), "é%");
    }

    #[test]
    fn decodes_path_segments() {
        assert_eq!(
            decode_segment("us.anthropic.claude-3-5-sonnet-20240620-v1%3A0"),
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
        );
        assert_eq!(decode_segment("a+b%2Fc"), "a+b/c");
    }

    #[test]
    fn redacts_key_values_only() {
        assert_eq!(redacted("alt=sse&key=secret"), "alt=sse&key=REDACTED");
        assert_eq!(
            redacted("key=a&key=b&keys=c"),
            "key=REDACTED&key=REDACTED&keys=c"
        );
        assert_eq!(redacted("alt=sse"), "alt=sse");
        assert_eq!(redacted(""), "");
    }
}
