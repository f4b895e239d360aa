//! Credential checks as each provider does them: OpenAI reads `Authorization: Bearer KEY`,
//! Anthropic reads `x-api-key: KEY`, Gemini reads `x-goog-api-key: KEY` or the `key` query
//! parameter, Azure OpenAI reads `api-key: KEY` (or a bearer token: [`crate::azure`]). Bedrock's
//! AWS signatures are checked in [`crate::bedrock`].

use axum::http::{HeaderMap, header};

/// The outcome of comparing a request's credential with the one the fake demands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// No key is required, or the right one was given.
    Accepted,
    Missing,
    /// A key was given but it is not the required one; carries it for a masked error message.
    Wrong(String),
}

pub(crate) fn check_bearer(headers: &HeaderMap, required: Option<&str>) -> KeyCheck {
    let given = header_str(headers, header::AUTHORIZATION.as_str()).map(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim()
    });
    compare(given, required)
}

pub(crate) fn check_x_api_key(headers: &HeaderMap, required: Option<&str>) -> KeyCheck {
    compare(header_str(headers, "x-api-key").map(str::trim), required)
}

/// Azure OpenAI: the `api-key` header.
pub(crate) fn check_azure_api_key(headers: &HeaderMap, required: Option<&str>) -> KeyCheck {
    compare(header_str(headers, "api-key").map(str::trim), required)
}

/// Gemini: the `x-goog-api-key` header, else the `key` query parameter.
pub(crate) fn check_goog_api_key(
    headers: &HeaderMap,
    query: Option<&str>,
    required: Option<&str>,
) -> KeyCheck {
    let from_query = crate::query::param(query, "key");
    let given = header_str(headers, "x-goog-api-key")
        .map(str::trim)
        .or(from_query.as_deref());
    compare(given, required)
}

fn compare(given: Option<&str>, required: Option<&str>) -> KeyCheck {
    match (required, given) {
        (None, _) => KeyCheck::Accepted,
        (Some(_), None) | (Some(_), Some("")) => KeyCheck::Missing,
        (Some(want), Some(got)) if want == got => KeyCheck::Accepted,
        (Some(_), Some(got)) => KeyCheck::Wrong(got.to_owned()),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Shows a key the way OpenAI's error messages do: enough to recognise, not enough to use.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn bearer_checks() {
        let h = headers("authorization", "Bearer sk-good");
        assert_eq!(check_bearer(&h, None), KeyCheck::Accepted);
        assert_eq!(check_bearer(&h, Some("sk-good")), KeyCheck::Accepted);
        assert_eq!(
            check_bearer(&h, Some("sk-other")),
            KeyCheck::Wrong("sk-good".into())
        );
        assert_eq!(
            check_bearer(&HeaderMap::new(), Some("k")),
            KeyCheck::Missing
        );
    }

    #[test]
    fn x_api_key_checks() {
        let h = headers("x-api-key", "ant-key");
        assert_eq!(check_x_api_key(&h, Some("ant-key")), KeyCheck::Accepted);
        assert_eq!(
            check_x_api_key(&HeaderMap::new(), Some("k")),
            KeyCheck::Missing
        );
    }

    #[test]
    fn goog_api_key_checks_header_then_query() {
        let h = headers("x-goog-api-key", "goog");
        assert_eq!(
            check_goog_api_key(&h, None, Some("goog")),
            KeyCheck::Accepted
        );
        let none = HeaderMap::new();
        assert_eq!(
            check_goog_api_key(&none, Some("alt=sse&key=goog"), Some("goog")),
            KeyCheck::Accepted
        );
        assert_eq!(
            check_goog_api_key(&none, Some("key=bad"), Some("goog")),
            KeyCheck::Wrong("bad".into())
        );
        assert_eq!(
            check_goog_api_key(&none, Some("key="), Some("goog")),
            KeyCheck::Missing
        );
        // The Bearer header of another API is not a Gemini key.
        let bearer = headers("authorization", "Bearer goog");
        assert_eq!(
            check_goog_api_key(&bearer, None, Some("goog")),
            KeyCheck::Missing
        );
    }

    #[test]
    fn masks_keys() {
        assert_eq!(mask_key("short"), "***");
        assert_eq!(mask_key("sk-abcdefghijkl"), "sk-***ijkl");
    }
}
