//! The one router serving the five provider APIs and the control plane, plus a 404 in the shape
//! of whichever API the caller speaks. No route needs authentication except the model calls and
//! lists, which check the required key (Bedrock: the AWS signature) themselves, each in its
//! API's way.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post, put};

use crate::errors::{AnthropicError, Api, GeminiError, OpenAiError};
use crate::models::api_of;
use crate::state::FakeState;
use crate::{anthropic, azure, bedrock, control, count_tokens, embeddings, gemini, models, openai};

/// Benchmarks send long prompts; axum's 2 MB default would reject them before the fake sees them.
const BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn router(state: Arc<FakeState>) -> Router {
    Router::new()
        .route(openai::PATH, post(openai::chat_completions))
        .route(anthropic::PATH, post(anthropic::messages))
        .route(embeddings::PATH, post(embeddings::openai))
        .route(count_tokens::ANTHROPIC_PATH, post(count_tokens::anthropic))
        .route("/v1/models", get(models::list))
        .route(gemini::MODEL_CALL_ROUTE, post(gemini::model_call))
        .route(gemini::MODELS_PATH, get(models::list))
        .route(azure::CHAT_ROUTE, post(azure::chat_completions))
        .route(embeddings::AZURE_ROUTE, post(embeddings::azure))
        .route(azure::MODELS_PATH, get(azure::list))
        .route(azure::DEPLOYMENTS_PATH, get(azure::list))
        .route(bedrock::MODEL_CALL_ROUTE, post(bedrock::model_call))
        .route(
            bedrock::FOUNDATION_MODELS_PATH,
            get(bedrock::list_foundation_models),
        )
        .route(
            "/_fake/behavior",
            get(control::get_behaviors)
                .put(control::put_default)
                .delete(control::reset_behaviors),
        )
        .route(
            "/_fake/behavior/{*model}",
            put(control::put_model).delete(control::delete_model),
        )
        .route(
            "/_fake/requests",
            get(control::list_requests).delete(control::clear_requests),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    match api_of(uri.path(), &headers) {
        Api::OpenAi => {
            let message = format!("Invalid URL ({method} {})", uri.path());
            let mut error = OpenAiError::invalid_request(message);
            error.status = 404;
            error.into_response(None)
        }
        Api::Anthropic => {
            AnthropicError::for_status(404, "", Some("Not Found")).into_response(None)
        }
        Api::Gemini => GeminiError::not_found("Method not found.").into_response(None),
        Api::Azure => azure::resource_not_found(),
        Api::Bedrock => bedrock::unknown_operation(),
    }
}
