//! How each provider says it will not serve: its region or access block, read from its error
//! answer in its own format and handed on as a typed [`ProviderSignal`], so failover judges a
//! signal and never a body.
//!
//! Each format's module owns its provider's block (`translate::<format>::errors::blocked`,
//! with the provider's own words and where they were seen); this module reads an answer with
//! the right one. The provider sees the *gateway's* address, so a region block says where the
//! gateway stands, not who the caller is.

use clearance_core::api::WireFormat;
pub use clearance_core::signal::ProviderSignal;
use serde_json::Value;

use crate::translate::{anthropic, bedrock, gemini, openai};

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
        WireFormat::OpenaiChat | WireFormat::OpenaiResponses => openai::errors::blocked(answer),
        WireFormat::AnthropicMessages => anthropic::errors::blocked(answer),
        WireFormat::Gemini => gemini::errors::blocked(answer),
        WireFormat::BedrockConverse => bedrock::errors::blocked(answer),
    };
    if blocked {
        ProviderSignal::ProviderBlock
    } else {
        ProviderSignal::Plain
    }
}

/// The error object of a `status` answer whose body contains `marker` (most 400s and 403s
/// lack it and are not parsed): `error` when the body has one, else the body itself.
pub(crate) fn error_object(answer: &ErrorAnswer<'_>, status: u16, marker: &[u8]) -> Option<Value> {
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

pub(crate) fn text<'v>(object: &'v Value, key: &str) -> &'v str {
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
