//! Error bodies in each client API's own shape, so an SDK raises its usual exception type with
//! our message in it. What a kind of failure is called in each API is decided here; each
//! shape, and the types and codes its API documents, belong to the format's module
//! (`translate::<format>::errors`).

use std::borrow::Cow;

use clearance_core::api::{ApiSurface, WireFormat};
use serde_json::Value;

use crate::redact::sanitise_message;
use crate::translate::{anthropic, gemini, openai};

/// What went wrong, independent of the API that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RequestTooLarge,
    RateLimited,
    /// Something failed on our side or upstream.
    Api,
    /// The gateway or a provider is overloaded (e.g. the audit writer is behind).
    Overloaded,
    /// Refused for legal reasons (HTTP 451).
    LegalBlock,
}

impl ErrorKind {
    /// The error `type` an SDK of `surface` expects for this kind (for Gemini, the `status`
    /// Google's API gives it at the kind's usual HTTP status).
    pub fn type_name(self, surface: ApiSurface) -> &'static str {
        match surface {
            ApiSurface::Gemini => self.google_status(self.default_status()),
            ApiSurface::AnthropicMessages
            | ApiSurface::AnthropicCountTokens
            | ApiSurface::OpenaiChat
            | ApiSurface::OpenaiResponses
            | ApiSurface::OpenaiEmbeddings => {
                let anthropic = matches!(
                    surface,
                    ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens
                );
                match self {
                    ErrorKind::InvalidRequest => "invalid_request_error",
                    ErrorKind::Authentication => "authentication_error",
                    ErrorKind::PermissionDenied => "permission_error",
                    ErrorKind::NotFound => "not_found_error",
                    ErrorKind::RequestTooLarge if anthropic => "request_too_large",
                    ErrorKind::RequestTooLarge => "invalid_request_error",
                    ErrorKind::RateLimited => "rate_limit_error",
                    ErrorKind::Api if anthropic => "api_error",
                    ErrorKind::Api => "server_error",
                    ErrorKind::Overloaded if anthropic => "overloaded_error",
                    ErrorKind::Overloaded => "server_error",
                    ErrorKind::LegalBlock => "permission_error",
                }
            }
        }
    }

    /// The HTTP status this kind is usually answered with.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Api => 500,
            ErrorKind::Overloaded => 503,
            ErrorKind::LegalBlock => 451,
        }
    }

    /// Google's canonical error `status` for this kind answered with HTTP `status`. A refusal
    /// for legal reasons is `FAILED_PRECONDITION`, the status of Gemini's own refusal of a
    /// region it does not serve ("User location is not supported for the API use").
    pub fn google_status(self, status: u16) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::LegalBlock => "FAILED_PRECONDITION",
            ErrorKind::Overloaded => "UNAVAILABLE",
            ErrorKind::Api if matches!(status, 502..=504) => "UNAVAILABLE",
            ErrorKind::Api => "INTERNAL",
        }
    }

    /// The kind an upstream HTTP status stands for.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimited,
            451 => ErrorKind::LegalBlock,
            503 | 529 => ErrorKind::Overloaded,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Api,
        }
    }
}

/// The error JSON for `surface`, answered with the kind's usual HTTP status
/// ([`ErrorKind::default_status`]; see [`error_body_with_status`]). `code` is the
/// machine-readable code (OpenAI's `code`, Gemini's `ErrorInfo` reason; Anthropic has none).
pub fn error_body(
    surface: ApiSurface,
    kind: ErrorKind,
    message: &str,
    code: Option<&str>,
) -> Value {
    error_body_with_status(surface, kind.default_status(), kind, message, code)
}

/// The error JSON for `surface` in an answer with HTTP `status` (Gemini's error repeats the
/// status as `code`, and its `status` name depends on it).
pub fn error_body_with_status(
    surface: ApiSurface,
    status: u16,
    kind: ErrorKind,
    message: &str,
    code: Option<&str>,
) -> Value {
    let type_name = match surface {
        ApiSurface::Gemini => kind.google_status(status),
        _ => kind.type_name(surface),
    };
    typed_error_body(surface, status, type_name, message, code)
}

fn typed_error_body(
    surface: ApiSurface,
    status: u16,
    type_name: &str,
    message: &str,
    code: Option<&str>,
) -> Value {
    match surface {
        ApiSurface::OpenaiChat | ApiSurface::OpenaiResponses | ApiSurface::OpenaiEmbeddings => {
            openai::errors::body(type_name, message, code)
        }
        ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {
            anthropic::errors::body(type_name, message)
        }
        ApiSurface::Gemini => gemini::errors::body(status, type_name, message, code),
    }
}

/// Whether `body` already is an error in `surface`'s shape (then it passes through as is).
pub fn is_error_shape(surface: ApiSurface, body: &Value) -> bool {
    match surface {
        ApiSurface::OpenaiChat | ApiSurface::OpenaiResponses | ApiSurface::OpenaiEmbeddings => {
            openai::errors::is_error(body)
        }
        ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {
            anthropic::errors::is_error(body)
        }
        ApiSurface::Gemini => gemini::errors::is_error(body),
    }
}

/// Which provider and model an upstream error came from, and the name the client used.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamOrigin<'a> {
    pub provider: &'a str,
    /// The wire format the provider speaks.
    pub format: WireFormat,
    pub upstream_model: &'a str,
    pub client_model: &'a str,
}

/// The most of a provider's own error message a client sees, in characters.
pub const UPSTREAM_MESSAGE_MAX_CHARS: usize = 500;

/// An upstream error for a client of `surface`, rebuilt from what is safe to show, whatever
/// the provider sent: the status; the provider's error `type` (and OpenAI `code`) when the
/// provider speaks the client's API and the value is one that API documents, else the client
/// API's type for the status (and the code `upstream_error`); and what the provider said (its
/// `error.message`, which OpenAI, Anthropic and Gemini errors all carry, or else the body)
/// with the provider's model id replaced by the name the client used, every credential-shaped
/// part redacted ([`redact_secrets`]) and at most [`UPSTREAM_MESSAGE_MAX_CHARS`] characters of
/// it kept. From a provider of another format the message says where it came from:
/// ``provider `NAME` returned HTTP STATUS: ...``. Nothing else of the body (request ids,
/// `param`, details, echoed input) reaches the client.
///
/// [`redact_secrets`]: crate::redact::redact_secrets
pub fn upstream_error_body(
    surface: ApiSurface,
    status: u16,
    origin: UpstreamOrigin<'_>,
    body: &[u8],
) -> Value {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let text = String::from_utf8_lossy(body);
    let said = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .unwrap_or(&text);
    let said = if origin.upstream_model.is_empty() {
        Cow::Borrowed(said)
    } else {
        Cow::Owned(said.replace(origin.upstream_model, origin.client_model))
    };
    let said = sanitise_message(&said, UPSTREAM_MESSAGE_MAX_CHARS);
    let said = if said.is_empty() {
        "(no message)"
    } else {
        &said
    };
    let (type_field, known_types, known_codes) = match surface {
        ApiSurface::OpenaiChat | ApiSurface::OpenaiResponses | ApiSurface::OpenaiEmbeddings => {
            ("/error/type", openai::errors::TYPES, openai::errors::CODES)
        }
        ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {
            ("/error/type", anthropic::errors::TYPES, &[][..])
        }
        ApiSurface::Gemini => ("/error/status", gemini::errors::STATUSES, &[][..]),
    };
    let same_format = origin.format == WireFormat::from(surface);
    let own = |pointer: &str, known: &[&'static str]| -> Option<&'static str> {
        let value = parsed
            .as_ref()
            .filter(|_| same_format)?
            .pointer(pointer)?
            .as_str()?;
        known.iter().find(|k| **k == value).copied()
    };
    let kind = ErrorKind::from_status(status);
    let type_name = own(type_field, known_types).unwrap_or_else(|| match surface {
        ApiSurface::Gemini => kind.google_status(status),
        _ => kind.type_name(surface),
    });
    let code = own("/error/code", known_codes).unwrap_or("upstream_error");
    let message = if same_format {
        said.to_string()
    } else {
        format!(
            "provider `{}` returned HTTP {status}: {said}",
            origin.provider
        )
    };
    typed_error_body(surface, status, type_name, &message, Some(code))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_shape_has_message_type_param_code() {
        let body = error_body(
            ApiSurface::OpenaiChat,
            ErrorKind::NotFound,
            "no such model",
            Some("model_not_found"),
        );
        assert_eq!(body["error"]["type"], "not_found_error");
        assert_eq!(body["error"]["code"], "model_not_found");
        assert!(body["error"]["param"].is_null());
        assert!(is_error_shape(ApiSurface::OpenaiChat, &body));
    }

    #[test]
    fn anthropic_shape_has_type_error() {
        let body = error_body(
            ApiSurface::AnthropicMessages,
            ErrorKind::Overloaded,
            "busy",
            None,
        );
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        assert!(is_error_shape(ApiSurface::AnthropicMessages, &body));
        assert!(!is_error_shape(ApiSurface::OpenaiChat, &body));
    }

    #[test]
    fn gemini_shape_has_the_http_status_and_googles_status_name() {
        let body = error_body_with_status(
            ApiSurface::Gemini,
            400,
            ErrorKind::InvalidRequest,
            "bad",
            Some("invalid_request"),
        );
        assert_eq!(
            body,
            json!({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT", "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "invalid_request", "domain": "clearance"}
            ]}})
        );
        assert!(is_error_shape(ApiSurface::Gemini, &body));
        assert!(!is_error_shape(ApiSurface::AnthropicMessages, &body));
        let cases = [
            (ErrorKind::Authentication, 401, "UNAUTHENTICATED"),
            (ErrorKind::PermissionDenied, 403, "PERMISSION_DENIED"),
            (ErrorKind::NotFound, 404, "NOT_FOUND"),
            (ErrorKind::RequestTooLarge, 413, "INVALID_ARGUMENT"),
            (ErrorKind::RateLimited, 429, "RESOURCE_EXHAUSTED"),
            (ErrorKind::LegalBlock, 451, "FAILED_PRECONDITION"),
            (ErrorKind::Api, 500, "INTERNAL"),
            (ErrorKind::Api, 502, "UNAVAILABLE"),
            (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
        ];
        for (kind, status, name) in cases {
            let body = error_body(ApiSurface::Gemini, kind, "m", None);
            assert_eq!(
                body["error"]["status"],
                kind.google_status(kind.default_status())
            );
            let body = error_body_with_status(ApiSurface::Gemini, status, kind, "m", None);
            assert_eq!(body["error"]["code"], status, "{kind:?}");
            assert_eq!(body["error"]["status"], name, "{kind:?}");
            assert!(body["error"].get("details").is_none());
        }
    }

    #[test]
    fn responses_errors_are_in_openais_shape() {
        let body = error_body(
            ApiSurface::OpenaiResponses,
            ErrorKind::Overloaded,
            "busy",
            Some("audit_overloaded"),
        );
        assert_eq!(
            body,
            error_body(
                ApiSurface::OpenaiChat,
                ErrorKind::Overloaded,
                "busy",
                Some("audit_overloaded")
            )
        );
        assert!(is_error_shape(ApiSurface::OpenaiResponses, &body));
    }

    const ACME: UpstreamOrigin<'static> = UpstreamOrigin {
        provider: "acme",
        format: WireFormat::AnthropicMessages,
        upstream_model: "claude-x-2026",
        client_model: "mythos-5",
    };

    const OPENLAB: UpstreamOrigin<'static> = UpstreamOrigin {
        provider: "openlab",
        format: WireFormat::OpenaiChat,
        upstream_model: "gpt-x-2026",
        client_model: "gpt-5",
    };

    #[test]
    fn upstream_errors_keep_only_status_type_and_a_sanitised_message() {
        let native = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down on claude-x-2026","details":{"org":"org-internal-7"}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#;
        let kept = upstream_error_body(ApiSurface::AnthropicMessages, 429, ACME, native);
        assert_eq!(
            kept,
            json!({"type": "error", "error": {
                "type": "rate_limit_error",
                "message": "slow down on mythos-5",
            }}),
            "the provider's model id, request id and details stay hidden"
        );
        let openai = br#"{"error":{"message":"Rate limit reached for gpt-x-2026 on requests.","type":"requests","param":"internal","code":"rate_limit_exceeded"},"extra":1}"#;
        let kept = upstream_error_body(ApiSurface::OpenaiChat, 429, OPENLAB, openai);
        assert_eq!(
            kept,
            json!({"error": {
                "message": "Rate limit reached for gpt-5 on requests.",
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded",
            }})
        );
        // A code OpenAI does not document is not passed on.
        let odd = br#"{"error":{"message":"m","type":"requests","code":"shard-7 sk-0123456789abcdef0123"}}"#;
        let body = upstream_error_body(ApiSurface::OpenaiChat, 429, OPENLAB, odd);
        assert_eq!(body["error"]["code"], "upstream_error");
        let wrapped = upstream_error_body(
            ApiSurface::OpenaiChat,
            502,
            ACME,
            b"<html>Bad gateway</html>",
        );
        assert_eq!(wrapped["error"]["type"], "server_error");
        assert_eq!(
            wrapped["error"]["message"],
            "provider `acme` returned HTTP 502: <html>Bad gateway</html>"
        );
        let empty = upstream_error_body(ApiSurface::AnthropicMessages, 500, ACME, b"");
        assert_eq!(empty["error"]["type"], "api_error");
        assert_eq!(empty["error"]["message"], "(no message)");
    }

    #[test]
    fn a_type_the_api_does_not_know_becomes_the_generic_one_for_the_status() {
        let odd = br#"{"type":"error","error":{"type":"internal_db_error sk-0123456789abcdef0123","message":"x"}}"#;
        let body = upstream_error_body(ApiSurface::AnthropicMessages, 503, ACME, odd);
        assert_eq!(body["error"]["type"], "overloaded_error");
        // A type from another API is not taken either: `overloaded_error` is Anthropic's.
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let body = upstream_error_body(ApiSurface::OpenaiChat, 529, ACME, anthropic);
        assert_eq!(body["error"]["type"], "server_error");
        let not_a_string = br#"{"error":{"type":{"name":"x"},"message":"m"}}"#;
        let body = upstream_error_body(ApiSurface::OpenaiChat, 400, OPENLAB, not_a_string);
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn credentials_in_a_provider_message_are_redacted_and_the_message_is_capped() {
        let echo = br#"{"error":{"message":"Incorrect API key provided: sk-live-0123456789abcdef0123456789abcdef. Header was Bearer abc.def, url ?key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW","type":"invalid_request_error"}}"#;
        let body = upstream_error_body(ApiSurface::OpenaiChat, 400, OPENLAB, echo);
        let message = body["error"]["message"].as_str().unwrap();
        assert_eq!(
            message,
            "Incorrect API key provided: [REDACTED]. Header was Bearer [REDACTED], url ?[REDACTED]"
        );
        let long = format!(
            r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"{}"}}}}"#,
            "too long ".repeat(200)
        );
        let body = upstream_error_body(ApiSurface::AnthropicMessages, 400, ACME, long.as_bytes());
        let said = body["error"]["message"].as_str().unwrap();
        assert_eq!(said.chars().count(), UPSTREAM_MESSAGE_MAX_CHARS + 1);
        assert!(said.ends_with('…'));
    }

    proptest::proptest! {
        /// A secret embedded anywhere in a provider's error message, or in a body that is not
        /// JSON, never reaches the client, in either API's shape.
        #[test]
        fn a_secret_in_a_provider_error_never_reaches_the_client(
            (secret, core) in crate::redact::tests::secret(),
            before in crate::redact::tests::neighbour(),
            after in crate::redact::tests::neighbour(),
            json_body in proptest::bool::ANY,
            same_format in proptest::bool::ANY,
        ) {
            let said = format!("{before}{secret}{after}");
            let body = if json_body {
                json!({"type": "error", "error": {"type": "api_error", "message": said}}).to_string()
            } else {
                said
            };
            let surface = if same_format { ApiSurface::AnthropicMessages } else { ApiSurface::OpenaiChat };
            let answer = upstream_error_body(surface, 500, ACME, body.as_bytes());
            let message = answer.pointer("/error/message").and_then(Value::as_str).unwrap();
            proptest::prop_assert!(!message.contains(&core), "{body} -> {message}");
        }
    }

    #[test]
    fn errors_from_another_format_are_rewritten_in_the_clients_shape() {
        let origin = UpstreamOrigin {
            provider: "google",
            format: WireFormat::Gemini,
            upstream_model: "gemini-x",
            client_model: "fallback",
        };
        let gemini = br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota) for gemini-x.","status":"RESOURCE_EXHAUSTED"}}"#;
        // A Gemini client of a Gemini provider keeps the provider's status name and message.
        let body = upstream_error_body(ApiSurface::Gemini, 429, origin, gemini);
        assert_eq!(body["error"]["code"], 429);
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(
            body["error"]["message"],
            "Resource has been exhausted (e.g. check quota) for fallback."
        );
        let odd = br#"{"error":{"code":400,"message":"m","status":"SHARD_7_DOWN"}}"#;
        let body = upstream_error_body(ApiSurface::Gemini, 400, origin, odd);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        // From another format, Google's name for the status.
        let body = upstream_error_body(ApiSurface::Gemini, 503, OPENLAB, b"busy");
        assert!(is_error_shape(ApiSurface::Gemini, &body), "{body}");
        assert_eq!(body["error"]["status"], "UNAVAILABLE");
        assert_eq!(
            body["error"]["message"],
            "provider `openlab` returned HTTP 503: busy"
        );
        for surface in [
            ApiSurface::OpenaiChat,
            ApiSurface::AnthropicMessages,
            ApiSurface::OpenaiResponses,
        ] {
            let body = upstream_error_body(surface, 429, origin, gemini);
            assert!(is_error_shape(surface, &body), "{body}");
            assert_eq!(body["error"]["type"], "rate_limit_error");
            assert_eq!(
                body["error"]["message"],
                "provider `google` returned HTTP 429: Resource has been exhausted (e.g. check quota) for fallback."
            );
        }
    }
}
