//! Error bodies in each client API's own shape, so an SDK raises its usual exception type with
//! our message in it.
//!
//! OpenAI: `{"error": {"message", "type", "param", "code"}}`.
//! Anthropic: `{"type": "error", "error": {"type", "message"}}`.

use clearance_core::api::{ApiSurface, WireFormat};
use serde_json::{Value, json};

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
    /// The error `type` an SDK of `surface` expects for this kind.
    pub fn type_name(self, surface: ApiSurface) -> &'static str {
        match (self, surface) {
            (ErrorKind::InvalidRequest, _) => "invalid_request_error",
            (ErrorKind::Authentication, _) => "authentication_error",
            (ErrorKind::PermissionDenied, _) => "permission_error",
            (ErrorKind::NotFound, _) => "not_found_error",
            (ErrorKind::RequestTooLarge, ApiSurface::AnthropicMessages) => "request_too_large",
            (ErrorKind::RequestTooLarge, ApiSurface::OpenaiChat) => "invalid_request_error",
            (ErrorKind::RateLimited, _) => "rate_limit_error",
            (ErrorKind::Api, ApiSurface::OpenaiChat) => "server_error",
            (ErrorKind::Api, ApiSurface::AnthropicMessages) => "api_error",
            (ErrorKind::Overloaded, ApiSurface::AnthropicMessages) => "overloaded_error",
            (ErrorKind::Overloaded, ApiSurface::OpenaiChat) => "server_error",
            (ErrorKind::LegalBlock, _) => "permission_error",
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

/// The error JSON for `surface`. `code` is OpenAI's machine-readable code (Anthropic has none).
pub fn error_body(
    surface: ApiSurface,
    kind: ErrorKind,
    message: &str,
    code: Option<&str>,
) -> Value {
    match surface {
        ApiSurface::OpenaiChat => json!({
            "error": { "message": message, "type": kind.type_name(surface), "param": null, "code": code }
        }),
        ApiSurface::AnthropicMessages => json!({
            "type": "error",
            "error": { "type": kind.type_name(surface), "message": message }
        }),
    }
}

/// Whether `body` already is an error in `surface`'s shape (then it passes through as is).
pub fn is_error_shape(surface: ApiSurface, body: &Value) -> bool {
    match surface {
        ApiSurface::OpenaiChat => {
            body.pointer("/error/message").is_some_and(Value::is_string)
                && body.get("type").is_none()
        }
        ApiSurface::AnthropicMessages => {
            body.get("type").and_then(Value::as_str) == Some("error")
                && body.pointer("/error/type").is_some_and(Value::is_string)
        }
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

/// An upstream error body for a client of `surface`: kept when the provider speaks the client's
/// format and the body has its shape; otherwise rewritten in the client's shape with the status
/// and what the provider said (its `error.message`, which OpenAI, Anthropic and Gemini errors all
/// carry, or the start of the body). Either way the provider's model id is replaced by the name
/// the client used, as in answers.
pub fn upstream_error_body(
    surface: ApiSurface,
    status: u16,
    origin: UpstreamOrigin<'_>,
    body: &[u8],
) -> Value {
    let text = String::from_utf8_lossy(body);
    let text = if origin.upstream_model.is_empty() {
        text.into_owned()
    } else {
        text.replace(origin.upstream_model, origin.client_model)
    };
    let same_format = origin.format == WireFormat::from(surface);
    let parsed = match serde_json::from_str::<Value>(&text).ok() {
        Some(value) if same_format && is_error_shape(surface, &value) => return value,
        other => other,
    };
    let said = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .unwrap_or(&text);
    let provider = origin.provider;
    let excerpt: String = said.chars().take(300).collect();
    let message = format!(
        "provider `{provider}` returned HTTP {status}: {}",
        excerpt.trim()
    );
    error_body(
        surface,
        ErrorKind::from_status(status),
        &message,
        Some("upstream_error"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn upstream_errors_in_the_right_shape_pass_through_and_others_are_wrapped() {
        let origin = UpstreamOrigin {
            provider: "acme",
            format: WireFormat::AnthropicMessages,
            upstream_model: "claude-x-2026",
            client_model: "mythos-5",
        };
        let native = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down on claude-x-2026"}}"#;
        let kept = upstream_error_body(ApiSurface::AnthropicMessages, 429, origin, native);
        assert_eq!(
            kept["error"]["message"], "slow down on mythos-5",
            "the provider's model id stays hidden"
        );
        let wrapped = upstream_error_body(
            ApiSurface::OpenaiChat,
            502,
            origin,
            b"<html>Bad gateway</html>",
        );
        assert_eq!(wrapped["error"]["type"], "server_error");
        assert!(
            wrapped["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("HTTP 502")
        );
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
        for surface in [ApiSurface::OpenaiChat, ApiSurface::AnthropicMessages] {
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
