//! Bedrock's errors: an HTTP status, the exception's name in `x-amzn-errortype`
//! (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`), and
//! `{"message": "..."}` as the body, which is how AWS's SDKs read them. Authentication errors
//! come from AWS's front door, named in the `com.amazon.coral.service` namespace. Mid-stream,
//! the same error is an exception message whose `:exception-type` is the name in lower camel
//! case (`throttlingException`).

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::errors::{Api, error_response};

/// What Bedrock answers for Anthropic models when the caller's country is one Anthropic does
/// not serve (a `ValidationException`, HTTP 400).
pub(crate) const ANTHROPIC_COUNTRY_REFUSED: &str = "Access to Anthropic models is not allowed from unsupported countries, regions, or territories. Please refer to https://www.anthropic.com/supported-countries for more information on the countries and regions Anthropic currently supports.";

/// What Bedrock answers for a model the account may not use in this region.
pub(crate) const NO_MODEL_ACCESS: &str =
    "You don't have access to the model with the specified model ID.";

/// Where an error comes from, which names its namespace in `x-amzn-errortype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Bedrock itself.
    Bedrock,
    /// AWS's authentication in front of every service.
    Coral,
}

/// An error as Bedrock reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BedrockError {
    pub status: u16,
    /// The exception's name, `ThrottlingException`.
    pub kind: String,
    pub message: String,
    pub source: Source,
}

impl BedrockError {
    pub(crate) fn new(status: u16, kind: &str, message: impl Into<String>) -> BedrockError {
        BedrockError {
            status,
            kind: kind.to_owned(),
            message: message.into(),
            source: Source::Bedrock,
        }
    }

    /// An authentication error from AWS's front door (always HTTP 403 on Bedrock).
    pub(crate) fn auth(kind: &str, message: impl Into<String>) -> BedrockError {
        BedrockError {
            source: Source::Coral,
            ..BedrockError::new(403, kind, message)
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> BedrockError {
        BedrockError::new(400, "ValidationException", message)
    }

    /// The error Bedrock gives for `status` on `model_id`, with its usual message unless one is
    /// given, named `kind` when that is given. 451 is answered as Bedrock refuses a region: for
    /// Anthropic models the 400 Anthropic's country check gives, for others the 403 of a model
    /// the account cannot use.
    pub(crate) fn for_status(
        status: u16,
        model_id: &str,
        message: Option<&str>,
        kind: Option<&str>,
    ) -> BedrockError {
        let (status, usual_kind, usual_message) = match status {
            451 if super::is_anthropic(model_id) => {
                (400, "ValidationException", ANTHROPIC_COUNTRY_REFUSED)
            }
            451 | 401 | 403 => (403, "AccessDeniedException", NO_MODEL_ACCESS),
            404 => (
                404,
                "ResourceNotFoundException",
                "The specified resource ARN was not found. Check the ARN and try your request again.",
            ),
            408 => (
                408,
                "ModelTimeoutException",
                "Model has timed out in processing the request. Try your request again.",
            ),
            424 => (
                424,
                "ModelErrorException",
                "The request failed due to an error while processing the model.",
            ),
            429 => (
                429,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            503 => (
                503,
                "ServiceUnavailableException",
                "Bedrock is unable to process your request.",
            ),
            s if s >= 500 => (
                s,
                "InternalServerException",
                "An internal server error occurred. Retry your request.",
            ),
            s => (
                s,
                "ValidationException",
                "Input validation failed. Check your request parameters and retry the request.",
            ),
        };
        let kind = kind.unwrap_or(usual_kind);
        let message = message.unwrap_or_else(|| usual_message_of(kind).unwrap_or(usual_message));
        BedrockError::new(status, kind, message)
    }

    pub(crate) fn body(&self) -> Value {
        json!({ "message": self.message })
    }

    /// The `x-amzn-errortype` value.
    pub(crate) fn error_type(&self) -> String {
        let namespace = match self.source {
            Source::Bedrock => "com.amazon.bedrock",
            Source::Coral => "com.amazon.coral.service",
        };
        format!(
            "{}:http://internal.amazon.com/coral/{namespace}/",
            self.kind
        )
    }

    /// The name a stream's exception message carries: `throttlingException`.
    pub(crate) fn stream_exception_type(&self) -> String {
        let mut chars = self.kind.chars();
        match chars.next() {
            Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }

    pub(crate) fn into_response(self, retry_after_s: Option<u64>) -> Response {
        let mut response = error_response(self.status, self.body(), Api::Bedrock, retry_after_s);
        if let Ok(value) = HeaderValue::from_str(&self.error_type()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-amzn-errortype"), value);
        }
        response
    }
}

/// The usual message of exceptions a behavior may name with `error_type`.
fn usual_message_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ModelNotReadyException" => {
            "Model is not ready for inference. Wait and try your request again."
        }
        "ModelStreamErrorException" => "An error occurred while streaming the response.",
        "ServiceQuotaExceededException" => {
            "Your request exceeds the service quota for your account."
        }
        _ => return None,
    })
}

/// The error a [`Behavior`] asks for on `model_id`.
pub(crate) fn behavior_error(status: u16, behavior: &Behavior, model_id: &str) -> BedrockError {
    BedrockError::for_status(
        status,
        model_id,
        behavior.error_message.as_deref(),
        behavior.error_type.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_name_bedrock_exceptions() {
        let cases = [
            (400, 400, "ValidationException"),
            (403, 403, "AccessDeniedException"),
            (404, 404, "ResourceNotFoundException"),
            (408, 408, "ModelTimeoutException"),
            (424, 424, "ModelErrorException"),
            (429, 429, "ThrottlingException"),
            (500, 500, "InternalServerException"),
            (503, 503, "ServiceUnavailableException"),
        ];
        for (asked, http, kind) in cases {
            let error = BedrockError::for_status(asked, "amazon.nova-pro-v1:0", None, None);
            assert_eq!((error.status, error.kind.as_str()), (http, kind), "{asked}");
            assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn a_region_block_depends_on_the_model() {
        let anthropic = BedrockError::for_status(
            451,
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            None,
            None,
        );
        assert_eq!(anthropic.status, 400);
        assert_eq!(anthropic.kind, "ValidationException");
        assert_eq!(anthropic.message, ANTHROPIC_COUNTRY_REFUSED);
        let nova = BedrockError::for_status(451, "amazon.nova-pro-v1:0", None, None);
        assert_eq!(
            (nova.status, nova.kind.as_str()),
            (403, "AccessDeniedException")
        );
        assert_eq!(nova.message, NO_MODEL_ACCESS);
    }

    #[test]
    fn a_named_exception_keeps_the_status() {
        let error = BedrockError::for_status(429, "m", None, Some("ModelNotReadyException"));
        assert_eq!(
            (error.status, error.kind.as_str()),
            (429, "ModelNotReadyException")
        );
        assert!(error.message.starts_with("Model is not ready"));
        assert_eq!(error.stream_exception_type(), "modelNotReadyException");
        assert_eq!(
            error.error_type(),
            "ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        );
        let auth = BedrockError::auth("InvalidSignatureException", "x");
        assert!(auth.error_type().ends_with("/com.amazon.coral.service/"));
    }
}
