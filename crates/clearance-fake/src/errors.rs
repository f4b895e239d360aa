//! Error responses in each provider's real shape. OpenAI:
//! `{"error":{"message","type","param","code"}}`; Anthropic:
//! `{"type":"error","error":{"type","message"},"request_id"}`, with the error type each status
//! has in the provider's documentation.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::behavior::Behavior;

/// OpenAI sends the request id as `x-request-id`, Anthropic as `request-id`.
pub(crate) const OPENAI_REQUEST_ID: &str = "x-request-id";
pub(crate) const ANTHROPIC_REQUEST_ID: &str = "request-id";

/// Which provider's conventions a response follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

/// An error as OpenAI reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenAiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl OpenAiError {
    /// The error OpenAI gives for `status`, with its usual message unless one is given.
    pub(crate) fn for_status(status: u16, model: &str, message: Option<&str>) -> OpenAiError {
        let (kind, code, usual) = match status {
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.".to_owned(),
            ),
            403 => (
                "request_forbidden",
                Some("unsupported_country_region_territory"),
                "Country, region, or territory not supported".to_owned(),
            ),
            404 => (
                "invalid_request_error",
                Some("model_not_found"),
                format!("The model `{model}` does not exist or you do not have access to it."),
            ),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                format!("Rate limit reached for {model} on requests."),
            ),
            503 => (
                "server_error",
                None,
                "The engine is currently overloaded, please try again later.".to_owned(),
            ),
            s if s >= 500 => (
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!"
                    .to_owned(),
            ),
            _ => ("invalid_request_error", None, "Invalid request.".to_owned()),
        };
        OpenAiError {
            status,
            message: message.map_or(usual, str::to_owned),
            kind,
            param: None,
            code,
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> OpenAiError {
        OpenAiError {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    pub(crate) fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    pub(crate) fn into_response(self, retry_after_s: Option<u64>) -> Response {
        error_response(self.status, self.body(), Api::OpenAi, retry_after_s)
    }
}

/// An error as Anthropic reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnthropicError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl AnthropicError {
    /// The error Anthropic gives for `status`, with its usual message unless one is given.
    pub(crate) fn for_status(status: u16, model: &str, message: Option<&str>) -> AnthropicError {
        let kind = anthropic_error_type(status);
        let usual = match status {
            401 => "invalid x-api-key".to_owned(),
            403 => {
                "Your API key does not have permission to use the specified resource.".to_owned()
            }
            404 => format!("model: {model}"),
            413 => "Request exceeds the maximum allowed number of bytes.".to_owned(),
            429 => "Number of request tokens has exceeded your per-minute rate limit.".to_owned(),
            529 => "Overloaded".to_owned(),
            s if s >= 500 => "Internal server error".to_owned(),
            _ => "Invalid request.".to_owned(),
        };
        AnthropicError {
            status,
            kind,
            message: message.map_or(usual, str::to_owned),
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> AnthropicError {
        AnthropicError {
            status: 400,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    pub(crate) fn body(&self) -> Value {
        json!({
            "type": "error",
            "error": {"type": self.kind, "message": self.message},
            "request_id": new_request_id(),
        })
    }

    pub(crate) fn into_response(self, retry_after_s: Option<u64>) -> Response {
        error_response(self.status, self.body(), Api::Anthropic, retry_after_s)
    }
}

/// Anthropic's documented error type per HTTP status; other 4xx are `invalid_request_error`,
/// other 5xx `api_error`.
pub(crate) fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The error a [`Behavior`] asks for, in `api`'s shape.
pub(crate) fn behavior_error(api: Api, status: u16, behavior: &Behavior, model: &str) -> Response {
    let message = behavior.error_message.as_deref();
    match api {
        Api::OpenAi => {
            OpenAiError::for_status(status, model, message).into_response(behavior.retry_after_s)
        }
        Api::Anthropic => {
            AnthropicError::for_status(status, model, message).into_response(behavior.retry_after_s)
        }
    }
}

fn error_response(status: u16, body: Value, api: Api, retry_after_s: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Some(secs) = retry_after_s {
        headers.insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(secs),
        );
    }
    insert_request_id(headers, api);
    response
}

/// Adds the provider's request-id header, as real responses carry one.
pub(crate) fn insert_request_id(headers: &mut axum::http::HeaderMap, api: Api) {
    let name = match api {
        Api::OpenAi => OPENAI_REQUEST_ID,
        Api::Anthropic => ANTHROPIC_REQUEST_ID,
    };
    if let Ok(value) = HeaderValue::from_str(&new_request_id()) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

pub(crate) fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_types_per_status() {
        let cases = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (503, "api_error"),
            (529, "overloaded_error"),
        ];
        for (status, kind) in cases {
            assert_eq!(anthropic_error_type(status), kind, "status {status}");
        }
    }

    #[test]
    fn openai_body_shape() {
        let body = OpenAiError::for_status(429, "m", None).body();
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert!(body["error"]["param"].is_null());
    }

    #[test]
    fn custom_message_wins() {
        assert_eq!(
            AnthropicError::for_status(500, "m", Some("boom")).message,
            "boom"
        );
    }
}
