//! Error responses in each provider's real shape. OpenAI:
//! `{"error":{"message","type","param","code"}}`; Anthropic:
//! `{"type":"error","error":{"type","message"},"request_id"}`; Gemini (Google's `google.rpc.Status`
//! in JSON): `{"error":{"code","message","status","details"?}}`. Each status gets the error type
//! (or Google status name) the provider's documentation gives it. Azure OpenAI's own errors
//! (`{"error":{"code","message"}}`) are in [`crate::azure`], Bedrock's (`{"message"}` and an
//! `x-amzn-errortype` header) in [`crate::bedrock`].

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
    Gemini,
    /// Azure OpenAI: OpenAI's Chat Completions behind Azure's deployments, keys and errors.
    Azure,
    /// Amazon Bedrock's runtime: Converse, and InvokeModel with Anthropic Messages bodies.
    Bedrock,
}

/// Azure sends its request id as `apim-request-id` (and repeats it as `x-request-id`), Bedrock
/// as `x-amzn-RequestId`.
pub(crate) const AZURE_REQUEST_ID: &str = "apim-request-id";
pub(crate) const BEDROCK_REQUEST_ID: &str = "x-amzn-requestid";

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

/// An error as the Gemini API reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GeminiError {
    /// The HTTP status, repeated as `code` in the body.
    pub status: u16,
    /// Google's canonical status name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, ...).
    pub kind: &'static str,
    pub message: String,
    /// `google.rpc` detail objects; left out of the body when empty, as Google does.
    pub details: Vec<Value>,
}

/// Google's wording when it refuses a caller's location, which it sends as 400.
pub(crate) const GEMINI_LOCATION_REFUSED: &str = "User location is not supported for the API use.";

impl GeminiError {
    /// The error Gemini gives for `status`, with its usual message unless one is given. 451 is
    /// answered as Google answers a region it refuses: 400 `FAILED_PRECONDITION`.
    pub(crate) fn for_status(status: u16, model: &str, message: Option<&str>) -> GeminiError {
        let (status, kind, usual) = match status {
            451 => (400, "FAILED_PRECONDITION", GEMINI_LOCATION_REFUSED.to_owned()),
            400 => (400, "INVALID_ARGUMENT", "Request contains an invalid argument.".to_owned()),
            401 => (
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.".to_owned(),
            ),
            403 => (403, "PERMISSION_DENIED", "The caller does not have permission".to_owned()),
            404 => (
                404,
                "NOT_FOUND",
                format!("models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."),
            ),
            409 => (409, "ABORTED", "The operation was aborted.".to_owned()),
            402 | 429 => (
                status,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).".to_owned(),
            ),
            499 => (499, "CANCELLED", "The operation was cancelled.".to_owned()),
            501 => (501, "UNIMPLEMENTED", "Method not implemented.".to_owned()),
            503 => (503, "UNAVAILABLE", "The model is overloaded. Please try again later.".to_owned()),
            504 => (
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.".to_owned(),
            ),
            s if s >= 500 => (
                s,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting".to_owned(),
            ),
            s => (s, "FAILED_PRECONDITION", "Precondition check failed.".to_owned()),
        };
        GeminiError {
            status,
            kind,
            message: message.map_or(usual, str::to_owned),
            details: Vec::new(),
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> GeminiError {
        GeminiError {
            status: 400,
            kind: "INVALID_ARGUMENT",
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> GeminiError {
        GeminiError {
            status: 404,
            kind: "NOT_FOUND",
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds the `RetryInfo` detail Google sends with quota errors (`"retryDelay": "7s"`).
    fn with_retry_delay(mut self, retry_after_s: Option<u64>) -> GeminiError {
        if let Some(secs) = retry_after_s.filter(|_| self.kind == "RESOURCE_EXHAUSTED") {
            self.details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{secs}s"),
            }));
        }
        self
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = json!({
            "code": self.status,
            "message": self.message,
            "status": self.kind,
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }

    pub(crate) fn into_response(self, retry_after_s: Option<u64>) -> Response {
        error_response(self.status, self.body(), Api::Gemini, retry_after_s)
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
        Api::Gemini => GeminiError::for_status(status, model, message)
            .with_retry_delay(behavior.retry_after_s)
            .into_response(behavior.retry_after_s),
        Api::Azure => crate::azure::behavior_error(status, behavior, model),
        Api::Bedrock => crate::bedrock::behavior_error(status, behavior, model),
    }
}

pub(crate) fn error_response(
    status: u16,
    body: Value,
    api: Api,
    retry_after_s: Option<u64>,
) -> Response {
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

/// Adds the provider's request-id header, as real responses carry one. Gemini sends none (its
/// bodies carry a `responseId`); Azure and Amazon use bare UUIDs.
pub(crate) fn insert_request_id(headers: &mut axum::http::HeaderMap, api: Api) {
    let (names, id): (&[&'static str], String) = match api {
        Api::OpenAi => (&[OPENAI_REQUEST_ID], new_request_id()),
        Api::Anthropic => (&[ANTHROPIC_REQUEST_ID], new_request_id()),
        Api::Gemini => return,
        Api::Azure => (
            &[AZURE_REQUEST_ID, OPENAI_REQUEST_ID],
            uuid::Uuid::now_v7().to_string(),
        ),
        Api::Bedrock => (&[BEDROCK_REQUEST_ID], uuid::Uuid::now_v7().to_string()),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        for name in names {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
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
    fn gemini_statuses_per_http_status() {
        let cases = [
            (400, 400, "INVALID_ARGUMENT"),
            (403, 403, "PERMISSION_DENIED"),
            (404, 404, "NOT_FOUND"),
            (429, 429, "RESOURCE_EXHAUSTED"),
            (451, 400, "FAILED_PRECONDITION"),
            (500, 500, "INTERNAL"),
            (503, 503, "UNAVAILABLE"),
            (504, 504, "DEADLINE_EXCEEDED"),
        ];
        for (asked, http, kind) in cases {
            let error = GeminiError::for_status(asked, "m", None);
            assert_eq!((error.status, error.kind), (http, kind), "status {asked}");
            assert_eq!(error.body()["error"]["code"], http);
            assert_eq!(error.body()["error"]["status"], kind);
            assert!(error.body()["error"].get("details").is_none());
        }
        assert_eq!(
            GeminiError::for_status(451, "m", None).message,
            GEMINI_LOCATION_REFUSED
        );
    }

    #[test]
    fn gemini_quota_errors_say_when_to_retry() {
        let body = GeminiError::for_status(429, "m", None)
            .with_retry_delay(Some(7))
            .body();
        assert_eq!(body["error"]["details"][0]["retryDelay"], "7s");
        let body = GeminiError::for_status(500, "m", None)
            .with_retry_delay(Some(7))
            .body();
        assert!(body["error"].get("details").is_none());
    }

    #[test]
    fn custom_message_wins() {
        assert_eq!(
            AnthropicError::for_status(500, "m", Some("boom")).message,
            "boom"
        );
    }
}
