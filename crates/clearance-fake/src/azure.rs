//! Azure OpenAI: `POST /openai/deployments/DEPLOYMENT/chat/completions?api-version=VERSION`,
//! OpenAI's Chat Completions behind Azure's resource layout. The answer comes from the OpenAI
//! fake ([`openai::serve`] with [`Service::Azure`]); this module holds what Azure does its own
//! way:
//!
//! - the deployment names the model (behaviors are keyed by it, a `model` field in the body is
//!   ignored and may be absent);
//! - the key comes in the `api-key` header, or as `Authorization: Bearer TOKEN` (a Microsoft
//!   Entra ID token on the real service; the fake has no Entra ID, so the token must be the
//!   required key), and a wrong one is a 401 in Azure's `{"error":{"code","message"}}` shape;
//! - `api-version` is required: missing or not a date-shaped version it is a 404 `Resource not
//!   found`, date-shaped but not one Azure serves a 400 `API version not supported`;
//! - statuses Azure itself answers (401, 403, 404 `DeploymentNotFound`, 429 with Azure's
//!   rate-limit wording; 451 as the 403 of Azure's network rules) take Azure's shape; the rest
//!   (400, 5xx) OpenAI's, which Azure passes on from the model;
//! - answers carry `prompt_filter_results` and per-choice `content_filter_results`, and a stream
//!   opens with a chunk without choices that carries only the prompt's filter results;
//! - `GET /openai/models` and `GET /openai/deployments` (with `api-version`) list what the fake
//!   has seen, for health probes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::{KeyCheck, check_azure_api_key, check_bearer};
use crate::behavior::Behavior;
use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, OpenAiError, error_response, insert_request_id};
use crate::openai::{self, Service};
use crate::query;
use crate::state::FakeState;

/// Everything Azure OpenAI serves sits under this prefix.
pub(crate) const API_PREFIX: &str = "/openai/";
/// `POST`: Chat Completions of one deployment.
pub(crate) const CHAT_ROUTE: &str = "/openai/deployments/{deployment}/chat/completions";
/// `GET`: the models of the resource.
pub(crate) const MODELS_PATH: &str = "/openai/models";
/// `GET`: the deployments of the resource.
pub(crate) const DEPLOYMENTS_PATH: &str = "/openai/deployments";

/// The inference `api-version`s Azure OpenAI serves Chat Completions under (GA and preview).
const API_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2023-03-15-preview",
    "2023-05-15",
    "2023-06-01-preview",
    "2023-07-01-preview",
    "2023-08-01-preview",
    "2023-09-01-preview",
    "2023-10-01-preview",
    "2023-12-01-preview",
    "2024-02-01",
    "2024-02-15-preview",
    "2024-03-01-preview",
    "2024-04-01-preview",
    "2024-05-01-preview",
    "2024-06-01",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
];

const INVALID_KEY: &str = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";
const INVALID_TOKEN: &str = "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.";
const FIREWALL: &str = "Access denied due to Virtual Network/Firewall rules.";
const DEPLOYMENT_NOT_FOUND: &str = "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.";

/// A fixed creation time keeps the lists deterministic.
const CREATED_UNIX: i64 = 1_735_689_600;

/// `POST /openai/deployments/{deployment}/chat/completions`.
pub(crate) async fn chat_completions(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let killer = killer.map(|Extension(k)| k);
    // The route matched, so the path has a deployment segment; an empty one is Azure's 404.
    let Some(deployment) = deployment_in(uri.path()) else {
        return resource_not_found();
    };
    let service = Service::Azure {
        deployment: &deployment,
    };
    openai::serve(&state, killer, &uri, &headers, &body, service).await
}

/// `GET /openai/models` and `GET /openai/deployments`: what the fake has seen, as Azure lists
/// models and deployments. Follows the default behavior without using up its `fail_times`.
pub(crate) async fn list(
    State(state): State<Arc<FakeState>>,
    killer: Option<Extension<ConnectionKiller>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let behavior = state.default_behavior();
    if behavior.refuse_connection {
        return refuse(killer.map(|Extension(k)| k)).await;
    }
    behavior.wait_before_answer().await;
    if let Some(rejection) = reject_credential(&headers, state.required_key().as_deref()) {
        return rejection;
    }
    if let Some(rejection) = reject_api_version(uri.query()) {
        return rejection;
    }
    if let Some(status) = behavior.error_status() {
        return behavior_error(status, &behavior, "");
    }
    let names = state.known_models();
    let data: Vec<Value> = if uri.path() == DEPLOYMENTS_PATH {
        names
            .iter()
            .map(|name| {
                json!({
                    "scale_settings": {"scale_type": "standard"},
                    "model": name,
                    "owner": "organization-owner",
                    "id": name,
                    "status": "succeeded",
                    "created_at": CREATED_UNIX,
                    "updated_at": CREATED_UNIX,
                    "object": "deployment",
                })
            })
            .collect()
    } else {
        names
            .iter()
            .map(|name| {
                json!({
                    "status": "succeeded",
                    "capabilities": {
                        "fine_tune": false,
                        "inference": true,
                        "completion": false,
                        "chat_completion": true,
                        "embeddings": false,
                    },
                    "lifecycle_status": "generally-available",
                    "id": name,
                    "created_at": CREATED_UNIX,
                    "object": "model",
                })
            })
            .collect()
    };
    let mut response = Json(json!({"data": data, "object": "list"})).into_response();
    insert_request_id(response.headers_mut(), Api::Azure);
    response
}

/// The deployment a `/openai/deployments/DEPLOYMENT/...` path names, percent-decoded.
pub(crate) fn deployment_in(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (segment, operation) = rest.split_once('/')?;
    (!segment.is_empty() && !operation.is_empty()).then(|| query::decode_segment(segment))
}

/// The 401 Azure sends for a missing or wrong key (`api-key`) or a wrong bearer token, if the
/// request has one.
pub(crate) fn reject_credential(headers: &HeaderMap, required: Option<&str>) -> Option<Response> {
    let message = if headers.contains_key("api-key") {
        match check_azure_api_key(headers, required) {
            KeyCheck::Accepted => return None,
            KeyCheck::Missing | KeyCheck::Wrong(_) => INVALID_KEY,
        }
    } else if headers.contains_key(axum::http::header::AUTHORIZATION) {
        match check_bearer(headers, required) {
            KeyCheck::Accepted => return None,
            KeyCheck::Missing | KeyCheck::Wrong(_) => INVALID_TOKEN,
        }
    } else if required.is_none() {
        return None;
    } else {
        INVALID_KEY
    };
    Some(AzureError::new(401, "401", message).into_response(None))
}

/// Azure's answer when the `api-version` query parameter is missing, malformed, or a version
/// Azure does not serve; `None` when it is one Azure serves.
pub(crate) fn reject_api_version(query: Option<&str>) -> Option<Response> {
    let Some(version) = query::param(query, "api-version") else {
        return Some(resource_not_found());
    };
    if API_VERSIONS.contains(&version.as_str()) {
        return None;
    }
    if is_version_shaped(&version) {
        Some(AzureError::new(400, "BadRequest", "API version not supported").into_response(None))
    } else {
        Some(resource_not_found())
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`.
fn is_version_shaped(version: &str) -> bool {
    let date = version.strip_suffix("-preview").unwrap_or(version);
    let bytes = date.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// Azure's 404 for a path (or version) it does not serve.
pub(crate) fn resource_not_found() -> Response {
    AzureError::new(404, "404", "Resource not found").into_response(None)
}

/// The error a [`Behavior`] asks for: Azure's own shape for what Azure itself answers, OpenAI's
/// (with Azure's request ids) for what the model behind it answers.
pub(crate) fn behavior_error(status: u16, behavior: &Behavior, deployment: &str) -> Response {
    let given = behavior.error_message.as_deref();
    let error = match status {
        401 => AzureError::new(401, "401", given.unwrap_or(INVALID_KEY)),
        403 | 451 => AzureError::new(403, "403", given.unwrap_or(FIREWALL)),
        404 => AzureError::new(
            404,
            "DeploymentNotFound",
            given.unwrap_or(DEPLOYMENT_NOT_FOUND),
        ),
        429 => {
            let usual = rate_limited(behavior.retry_after_s.unwrap_or(1));
            AzureError::new(429, "429", given.unwrap_or(&usual))
        }
        _ => {
            let error = OpenAiError::for_status(status, deployment, given);
            return error_response(
                error.status,
                error.body(),
                Api::Azure,
                behavior.retry_after_s,
            );
        }
    };
    error.into_response(behavior.retry_after_s)
}

fn rate_limited(retry_after_s: u64) -> String {
    format!(
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {retry_after_s} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
    )
}

/// An error as Azure itself reports it: `{"error":{"code","message"}}`, the code a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AzureError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl AzureError {
    fn new(status: u16, code: &str, message: &str) -> AzureError {
        AzureError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub(crate) fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }

    pub(crate) fn into_response(self, retry_after_s: Option<u64>) -> Response {
        error_response(self.status, self.body(), Api::Azure, retry_after_s)
    }
}

/// What Azure's content filters report for a harmless prompt, per prompt.
pub(crate) fn prompt_filter_results() -> Value {
    json!([{
        "prompt_index": 0,
        "content_filter_results": {
            "hate": {"filtered": false, "severity": "safe"},
            "jailbreak": {"filtered": false, "detected": false},
            "self_harm": {"filtered": false, "severity": "safe"},
            "sexual": {"filtered": false, "severity": "safe"},
            "violence": {"filtered": false, "severity": "safe"},
        },
    }])
}

/// What Azure's content filters report for a harmless completion.
pub(crate) fn completion_filter_results() -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "protected_material_code": {"filtered": false, "detected": false},
        "protected_material_text": {"filtered": false, "detected": false},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"},
    })
}

/// The chunk an Azure stream opens with: no choices, empty ids, only the prompt's filter
/// results (a client that reads `choices[0]` of every chunk fails on it, as on Azure).
pub(crate) fn prompt_filter_chunk() -> Value {
    json!({
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": prompt_filter_results(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_deployment_in_the_path() {
        assert_eq!(
            deployment_in("/openai/deployments/gpt-4o%20mini/chat/completions").as_deref(),
            Some("gpt-4o mini")
        );
        assert_eq!(deployment_in("/openai/deployments//chat/completions"), None);
        assert_eq!(deployment_in("/openai/deployments/x"), None);
        assert_eq!(deployment_in("/v1/chat/completions"), None);
    }

    #[test]
    fn api_versions_are_checked_like_azure() {
        assert!(reject_api_version(Some("api-version=2024-10-21")).is_none());
        assert!(reject_api_version(Some("api-version=2025-01-01-preview")).is_none());
        let status = |q: Option<&str>| reject_api_version(q).map(|r| r.status().as_u16());
        assert_eq!(status(None), Some(404));
        assert_eq!(status(Some("foo=bar")), Some(404));
        assert_eq!(status(Some("api-version=0301")), Some(404));
        assert_eq!(status(Some("api-version=2031-01-01")), Some(400));
        assert_eq!(status(Some("api-version=2024-05-13-preview")), Some(400));
    }

    #[test]
    fn version_shape() {
        assert!(is_version_shaped("2024-10-21"));
        assert!(is_version_shaped("2024-10-01-preview"));
        assert!(!is_version_shaped("2024-1-21"));
        assert!(!is_version_shaped("v1"));
        assert!(!is_version_shaped("2024-10-21-beta"));
    }
}
