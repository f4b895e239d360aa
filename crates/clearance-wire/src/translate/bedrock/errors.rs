//! How Amazon Bedrock says it will not serve. Every runtime API, Converse and InvokeModel
//! alike, answers errors in Bedrock's own shape (`{"message"}` with the error's name in the
//! `x-amzn-errortype` header), not the wrapped format's.
//!
//! The blocks: HTTP 403 with `x-amzn-errortype: AccessDeniedException` and `{"message":"You
//! don't have access to the model with the specified model ID."}`: the model is not enabled
//! for the account in this region (the region names the endpoint), strands-agents/harness-sdk#38,
//! anomalyco/opencode#467. For Anthropic models from a country Anthropic does not serve, HTTP
//! 400 `ValidationException`, `{"message":"Access to Anthropic models is not allowed from
//! unsupported countries, regions, or territories. Please refer to ..."}`. An
//! `AccessDeniedException` about the caller's IAM rights ("... is not authorized to perform
//! ...") is a configuration problem and not matched.

use crate::signal::{ErrorAnswer, error_object, text};

/// Whether `answer` is Bedrock's refusal of the model in this region, or of Anthropic models
/// from the gateway's country.
pub(crate) fn blocked(answer: &ErrorAnswer<'_>) -> bool {
    // `x-amzn-errortype` is `AccessDeniedException` or `AccessDeniedException:<namespace>`.
    let error_type = answer
        .error_type
        .and_then(|t| t.split(':').next())
        .unwrap_or("");
    match (answer.status, error_type) {
        (403, "AccessDeniedException") => error_object(answer, 403, b"access to the model")
            .is_some_and(|e| text(&e, "message").starts_with("You don't have access to the model")),
        (400, "ValidationException") => error_object(answer, 400, b"unsupported countries")
            .is_some_and(|e| text(&e, "message").starts_with(ANTHROPIC_COUNTRIES)),
        _ => false,
    }
}

/// Bedrock's refusal of Anthropic models from a country Anthropic does not serve.
const ANTHROPIC_COUNTRIES: &str =
    "Access to Anthropic models is not allowed from unsupported countries, regions, or territories";
