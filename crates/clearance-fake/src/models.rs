//! `GET /v1/models` and `GET /v1beta/models`: the model list, cheap enough for health checks.
//! `/v1beta/models` answers in Gemini's shape; `/v1/models` in Anthropic's when the request
//! carries `anthropic-version` (as Anthropic clients do), otherwise in OpenAI's. Follows the
//! default behavior without using up its `fail_times`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use crate::connection::{ConnectionKiller, refuse};
use crate::errors::{Api, behavior_error, insert_request_id};
use crate::state::FakeState;
use crate::{anthropic, azure, bedrock, gemini, openai};

/// A fixed creation time keeps the list deterministic.
const CREATED_UNIX: i64 = 1_735_689_600;
const CREATED_RFC3339: &str = "2025-01-01T00:00:00Z";

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
    let api = api_of(uri.path(), &headers);
    let required = state.required_key();
    let rejection = match api {
        Api::OpenAi => openai::reject_credential(&headers, required.as_deref()),
        Api::Anthropic => anthropic::reject_credential(&headers, required.as_deref()),
        Api::Gemini => gemini::reject_credential(&headers, uri.query(), required.as_deref()),
        // Not routed here: Azure and Bedrock list under their own paths (crate::azure::list,
        // crate::bedrock::list_foundation_models).
        Api::Azure | Api::Bedrock => None,
    };
    if let Some(rejection) = rejection {
        return rejection;
    }
    if let Some(status) = behavior.error_status() {
        return behavior_error(api, status, &behavior, "");
    }
    let models = state.known_models();
    let body = match api {
        Api::Anthropic => anthropic_list(&models),
        Api::Gemini => gemini_list(&models),
        Api::OpenAi | Api::Azure | Api::Bedrock => openai_list(&models),
    };
    let mut response = Json(body).into_response();
    insert_request_id(response.headers_mut(), api);
    response
}

/// Gemini lives under `/v1beta/`, Azure OpenAI under `/openai/`, Bedrock under `/model/` (and
/// its model list at `/foundation-models`); of the other two, Anthropic's SDKs always send
/// `anthropic-version` and OpenAI's never do.
pub(crate) fn api_of(path: &str, headers: &HeaderMap) -> Api {
    if path.starts_with(gemini::API_PREFIX) {
        Api::Gemini
    } else if path.starts_with(azure::API_PREFIX) {
        Api::Azure
    } else if bedrock::serves(path) {
        Api::Bedrock
    } else if headers.contains_key("anthropic-version") {
        Api::Anthropic
    } else {
        Api::OpenAi
    }
}

fn openai_list(models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": CREATED_UNIX, "owned_by": "clearance-fake"}))
        .collect();
    json!({"object": "list", "data": data})
}

fn anthropic_list(models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": CREATED_RFC3339}))
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first(),
        "last_id": models.last(),
    })
}

fn gemini_list(models: &[String]) -> Value {
    let models: Vec<Value> = models
        .iter()
        .map(|id| {
            json!({
                "name": format!("models/{id}"),
                "version": "001",
                "displayName": id,
                "description": "A model served by clearance-fake.",
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            })
        })
        .collect();
    json!({ "models": models })
}
