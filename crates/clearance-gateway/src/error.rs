//! Client-facing errors. Building one has no side effect; the wire shape (OpenAI, Anthropic or
//! Google error JSON) is chosen here from the surface the client spoke.

use axum::Json;
use axum::response::{IntoResponse, Response};
use clearance_core::api::ApiSurface;
use clearance_wire::error::{ErrorKind, error_body_with_status};
use http::StatusCode;

/// An error to show a client, with the class the audit log and metrics record.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub surface: ApiSurface,
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    /// OpenAI's machine-readable `code`.
    pub code: Option<&'static str>,
    /// Stable class for the audit log, e.g. `unknown_model`.
    pub class: &'static str,
    /// The request field the error is about (OpenAI's `param`, a Google `BadRequest` field
    /// violation; Anthropic's shape has none).
    pub param: Option<String>,
    /// Seconds the client should wait before trying again (`retry-after`).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(
        surface: ApiSurface,
        status: StatusCode,
        kind: ErrorKind,
        class: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            surface,
            status,
            kind,
            message: message.into(),
            code: None,
            class,
            param: None,
            retry_after: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn missing_key(surface: ApiSurface) -> Self {
        let message = match surface {
            ApiSurface::Gemini => {
                "no API key: send `x-goog-api-key: <key>`, `?key=<key>` or `Authorization: Bearer <key>`"
            }
            _ => "no API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
        };
        ApiError::new(
            surface,
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            "missing_key",
            message,
        )
        .with_code("missing_api_key")
    }

    pub fn invalid_key(surface: ApiSurface) -> Self {
        ApiError::new(
            surface,
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            "invalid_key",
            "invalid or revoked API key",
        )
        .with_code("invalid_api_key")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = error_body_with_status(
            self.surface,
            self.status.as_u16(),
            self.kind,
            &self.message,
            self.code,
        );
        if let (Some(param), Some(error)) = (self.param, body.get_mut("error")) {
            match self.surface {
                ApiSurface::OpenaiChat
                | ApiSurface::OpenaiResponses
                | ApiSurface::OpenaiEmbeddings => {
                    error["param"] = param.into();
                }
                // Google names the field in a `BadRequest` detail.
                ApiSurface::Gemini => {
                    let violation = serde_json::json!({
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": param, "description": self.message}],
                    });
                    match error.get_mut("details").and_then(|d| d.as_array_mut()) {
                        Some(details) => details.push(violation),
                        None => error["details"] = serde_json::json!([violation]),
                    }
                }
                ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {}
            }
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}
