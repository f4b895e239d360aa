//! How each provider says it will not serve: its region or access block, read from its error
//! answer in its own format and handed on as a typed [`ProviderSignal`], so failover judges a
//! signal and never a body.
//!
//! The blocks, as the providers send them (the provider sees the *gateway's* address, so a
//! region block says where the gateway stands, not who the caller is):
//!
//! - **OpenAI** (Chat Completions): HTTP 403, `{"error":{"code":"unsupported_country_region_territory","message":"Country, region,
//!   or territory not supported","param":null,"type":"request_forbidden"}}`. Seen in
//!   home-assistant/core#120072, songquanpeng/one-api#1692, continuedev/continue#11449.
//!   OpenAI-compatible servers with the same restriction answer 403 with the same message and
//!   a numeric code, `{"error":{"code":403,"message":"Country, region, or territory not
//!   supported"}}` (W&B / CoreWeave Serverless Inference, docs.wandb.ai). Both are recognised.
//!   **Azure OpenAI** answers a caller its resource's network rules do not admit with HTTP 403,
//!   `{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall
//!   rules."}}` (learn.microsoft.com, Azure AI services virtual networks).
//! - **Anthropic** (Messages): HTTP 403, `{"error":{"type":"forbidden","message":"Request not
//!   allowed"}}` from a country Anthropic does not serve (anthropics/anthropic-sdk-typescript#457,
//!   anthropics/claude-code#1613, enricoros/big-AGI#485; list:
//!   docs.anthropic.com/en/api/supported-regions). Anthropic's *documented* 403,
//!   `permission_error` ("your API key does not have permission to use the specified
//!   resource", docs.anthropic.com/en/api/errors), is not a block and is not matched.
//! - **Gemini**: HTTP **400**, `{"error":{"code":400,"message":"User location is not supported
//!   for the API use.","status":"FAILED_PRECONDITION"}}` (google-gemini/gemini-cli#1614,
//!   gemini-api-php/client#32; a variant ends "... without a billing account linked.", so the
//!   message is matched by its start). Also HTTP 403, `{"error":{"code":403,"message":"Region
//!   not supported.","status":"PERMISSION_DENIED"}}` (iBUHub/AIStudioToAPI#212). Any other
//!   Gemini 400 is the request's fault.
//! - **Amazon Bedrock** (every runtime API, Converse and InvokeModel alike: the error shape is
//!   Bedrock's, not the wrapped format's): HTTP 403 with `x-amzn-errortype:
//!   AccessDeniedException` and `{"message":"You don't have access to the model with the
//!   specified model ID."}`: the model is not enabled for the account in this region (the
//!   region names the endpoint), strands-agents/harness-sdk#38, anomalyco/opencode#467. An
//!   For Anthropic models from a country Anthropic does not serve, HTTP 400
//!   `ValidationException`, `{"message":"Access to Anthropic models is not allowed from
//!   unsupported countries, regions, or territories. Please refer to ..."}`. An
//!   `AccessDeniedException` about the caller's IAM rights ("... is not authorized to perform
//!   ...") is a configuration problem and not matched.

use clearance_core::api::WireFormat;
pub use clearance_core::signal::ProviderSignal;
use serde_json::Value;

/// A provider's error answer: what the signal is read from.
#[derive(Debug, Clone, Copy)]
pub struct ErrorAnswer<'a> {
    pub status: u16,
    /// AWS's `x-amzn-errortype` header, where Bedrock names its error.
    pub error_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The signal in `answer`, read the way the provider whose errors come in `dialect` writes
/// them (a provider's error dialect: its format, or `BedrockConverse` for every Bedrock API).
/// Never panics; an unreadable body is [`ProviderSignal::Plain`].
pub fn read(dialect: WireFormat, answer: &ErrorAnswer<'_>) -> ProviderSignal {
    let blocked = match dialect {
        WireFormat::OpenaiChat | WireFormat::OpenaiResponses => openai_block(answer),
        WireFormat::AnthropicMessages => anthropic_block(answer),
        WireFormat::Gemini => gemini_block(answer),
        WireFormat::BedrockConverse => bedrock_block(answer),
    };
    if blocked {
        ProviderSignal::ProviderBlock
    } else {
        ProviderSignal::Plain
    }
}

fn openai_block(answer: &ErrorAnswer<'_>) -> bool {
    if let Some(error) = error_object(answer, 403, b"territory") {
        return text(&error, "code") == "unsupported_country_region_territory"
            || text(&error, "message").starts_with("Country, region, or territory not supported");
    }
    // Azure OpenAI: the resource's network rules do not admit the gateway's address.
    error_object(answer, 403, AZURE_FIREWALL.as_bytes())
        .is_some_and(|error| text(&error, "message") == AZURE_FIREWALL)
}

const AZURE_FIREWALL: &str = "Access denied due to Virtual Network/Firewall rules.";

fn anthropic_block(answer: &ErrorAnswer<'_>) -> bool {
    let Some(error) = error_object(answer, 403, b"Request not allowed") else {
        return false;
    };
    text(&error, "type") == "forbidden" && text(&error, "message") == "Request not allowed"
}

fn gemini_block(answer: &ErrorAnswer<'_>) -> bool {
    match answer.status {
        400 => error_object(answer, 400, b"User location is not supported").is_some_and(|e| {
            text(&e, "status") == "FAILED_PRECONDITION"
                && text(&e, "message").starts_with("User location is not supported")
        }),
        403 => error_object(answer, 403, b"Region not supported.").is_some_and(|e| {
            text(&e, "status") == "PERMISSION_DENIED"
                && text(&e, "message") == "Region not supported."
        }),
        _ => false,
    }
}

fn bedrock_block(answer: &ErrorAnswer<'_>) -> bool {
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

/// The error object of a `status` answer whose body contains `marker` (most 400s and 403s
/// lack it and are not parsed): `error` when the body has one, else the body itself.
fn error_object(answer: &ErrorAnswer<'_>, status: u16, marker: &[u8]) -> Option<Value> {
    if answer.status != status || !answer.body.windows(marker.len()).any(|w| w == marker) {
        return None;
    }
    let json: Value = serde_json::from_slice(answer.body).ok()?;
    // Gemini's streaming endpoint may wrap its error in a one-element array.
    let root = match json {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    match root {
        Value::Object(mut object) => match object.remove("error") {
            Some(error @ Value::Object(_)) => Some(error),
            Some(_) => None,
            None => Some(Value::Object(object)),
        },
        _ => None,
    }
}

fn text<'v>(object: &'v Value, key: &str) -> &'v str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(
        dialect: WireFormat,
        status: u16,
        error_type: Option<&str>,
        body: &str,
    ) -> ProviderSignal {
        read(
            dialect,
            &ErrorAnswer {
                status,
                error_type,
                body: body.as_bytes(),
            },
        )
    }

    const MODEL_ACCESS: &str =
        r#"{"message":"You don't have access to the model with the specified model ID."}"#;

    #[test]
    fn bedrock_model_access_denial_is_a_provider_block() {
        for error_type in [
            "AccessDeniedException",
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ] {
            assert_eq!(
                signal(
                    WireFormat::BedrockConverse,
                    403,
                    Some(error_type),
                    MODEL_ACCESS
                ),
                ProviderSignal::ProviderBlock
            );
        }
    }

    #[test]
    fn bedrock_anthropic_country_refusal_is_a_provider_block() {
        let body = r#"{"message":"Access to Anthropic models is not allowed from unsupported countries, regions, or territories. Please refer to https://www.anthropic.com/supported-countries for more information."}"#;
        assert_eq!(
            signal(
                WireFormat::BedrockConverse,
                400,
                Some("ValidationException"),
                body
            ),
            ProviderSignal::ProviderBlock
        );
        let other = r#"{"message":"The provided model identifier is invalid."}"#;
        assert_eq!(
            signal(
                WireFormat::BedrockConverse,
                400,
                Some("ValidationException"),
                other
            ),
            ProviderSignal::Plain
        );
    }

    #[test]
    fn azure_firewall_refusal_is_a_provider_block() {
        let body = r#"{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall rules."}}"#;
        assert_eq!(
            signal(WireFormat::OpenaiChat, 403, None, body),
            ProviderSignal::ProviderBlock
        );
        let key = r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
        assert_eq!(
            signal(WireFormat::OpenaiChat, 403, None, key),
            ProviderSignal::Plain
        );
    }

    #[test]
    fn bedrock_iam_denials_and_other_errors_are_plain() {
        let iam = r#"{"message":"User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:InvokeModel"}"#;
        assert_eq!(
            signal(
                WireFormat::BedrockConverse,
                403,
                Some("AccessDeniedException"),
                iam
            ),
            ProviderSignal::Plain
        );
        // The header is what names the error: the same message under another type is not it.
        assert_eq!(
            signal(
                WireFormat::BedrockConverse,
                403,
                Some("ValidationException"),
                MODEL_ACCESS
            ),
            ProviderSignal::Plain
        );
        assert_eq!(
            signal(WireFormat::BedrockConverse, 403, None, MODEL_ACCESS),
            ProviderSignal::Plain
        );
        assert_eq!(
            signal(
                WireFormat::BedrockConverse,
                400,
                Some("AccessDeniedException"),
                MODEL_ACCESS
            ),
            ProviderSignal::Plain
        );
    }

    #[test]
    fn a_block_is_read_only_in_its_own_dialect() {
        let anthropic =
            r#"{"type":"error","error":{"type":"forbidden","message":"Request not allowed"}}"#;
        assert_eq!(
            signal(WireFormat::AnthropicMessages, 403, None, anthropic),
            ProviderSignal::ProviderBlock
        );
        for dialect in [
            WireFormat::OpenaiChat,
            WireFormat::Gemini,
            WireFormat::BedrockConverse,
        ] {
            assert_eq!(
                signal(dialect, 403, Some("AccessDeniedException"), anthropic),
                ProviderSignal::Plain
            );
        }
        assert_eq!(
            signal(
                WireFormat::AnthropicMessages,
                403,
                Some("AccessDeniedException"),
                MODEL_ACCESS
            ),
            ProviderSignal::Plain
        );
    }

    #[test]
    fn unreadable_bodies_are_plain() {
        for body in ["", "not json", "[]", "null", "{\"error\":7}", "[7]"] {
            for dialect in [
                WireFormat::OpenaiChat,
                WireFormat::AnthropicMessages,
                WireFormat::Gemini,
                WireFormat::BedrockConverse,
            ] {
                assert_eq!(
                    signal(dialect, 403, Some("AccessDeniedException"), body),
                    ProviderSignal::Plain
                );
            }
        }
    }
}
