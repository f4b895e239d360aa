//! What a call asks of a provider ([`Operation`]), which kinds have it, and which of
//! `clearance-wire`'s body formats a kind's API takes for it.
//!
//! | Kind | `Generate` | `Embed` | `CountTokens` |
//! |---|---|---|---|
//! | `openai` | `/chat/completions` | `/embeddings` | — |
//! | `azure_openai` | `.../chat/completions` | `/openai/deployments/{d}/embeddings` | — |
//! | `anthropic` | `/v1/messages` | — | `/v1/messages/count_tokens` |
//! | `gemini` | `:generateContent` | `:batchEmbedContents` | `:countTokens` |
//! | `bedrock` | `converse` / `invoke` | `invoke` (Titan, Cohere) | `count-tokens` |

use clearance_config::{BedrockApi, ProviderKind};
use clearance_wire::count_tokens::{CountError, CountTarget};
use clearance_wire::embeddings::{EmbedError, EmbedTarget};

pub use clearance_core::api::Operation;

/// Whether providers of `kind` have an API for `operation`. (On Bedrock, embeddings also
/// depend on the model's family: [`embed_target`].)
pub fn supports(kind: &ProviderKind, operation: Operation) -> bool {
    match operation {
        Operation::Generate => true,
        Operation::Embed => !matches!(kind, ProviderKind::Anthropic),
        Operation::CountTokens => !matches!(
            kind,
            ProviderKind::Openai | ProviderKind::AzureOpenai { .. }
        ),
    }
}

/// The embeddings body format for a model `upstream_model` of a provider of `kind`:
/// OpenAI's for `openai` and `azure_openai`, Gemini's for `gemini`, the model family's on
/// `bedrock` (`amazon.titan-embed-*`, `cohere.embed-*`). [`EmbedError::NotSupported`] for
/// `anthropic` (no embeddings API) and for other Bedrock families.
pub fn embed_target(kind: &ProviderKind, upstream_model: &str) -> Result<EmbedTarget, EmbedError> {
    match kind {
        ProviderKind::Openai | ProviderKind::AzureOpenai { .. } => Ok(EmbedTarget::Openai),
        ProviderKind::Gemini => Ok(EmbedTarget::Gemini),
        ProviderKind::Anthropic => Err(EmbedError::NotSupported {
            what: "a provider of kind `anthropic`".into(),
        }),
        ProviderKind::Bedrock(_) => {
            EmbedTarget::for_bedrock_model(upstream_model).ok_or_else(|| EmbedError::NotSupported {
                what: format!(
                    "the Bedrock model `{upstream_model}` (embeddings are spoken for Amazon \
                         Titan `amazon.titan-embed-*` and Cohere `cohere.embed-*` models)"
                ),
            })
        }
    }
}

/// The token-counting body format for a provider of `kind`. [`CountError::NotSupported`] for
/// `openai` and `azure_openai`, which have no counting API.
pub fn count_target(kind: &ProviderKind) -> Result<CountTarget, CountError> {
    match kind {
        ProviderKind::Anthropic => Ok(CountTarget::Anthropic),
        ProviderKind::Gemini => Ok(CountTarget::Gemini),
        ProviderKind::Bedrock(bedrock) => Ok(match bedrock.api {
            BedrockApi::Anthropic => CountTarget::BedrockInvoke,
            BedrockApi::Converse => CountTarget::BedrockConverse,
        }),
        ProviderKind::Openai | ProviderKind::AzureOpenai { .. } => Err(CountError::NotSupported {
            kind: kind.as_str().to_string(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clearance_config::BedrockConfig;

    use super::*;

    fn bedrock(api: BedrockApi) -> ProviderKind {
        ProviderKind::Bedrock(BedrockConfig {
            region: "us-east-1".into(),
            api,
            credentials: None,
        })
    }

    fn kinds() -> Vec<ProviderKind> {
        vec![
            ProviderKind::Openai,
            ProviderKind::AzureOpenai {
                api_version: "2024-10-21".into(),
            },
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            bedrock(BedrockApi::Converse),
            bedrock(BedrockApi::Anthropic),
        ]
    }

    #[test]
    fn targets_agree_with_what_each_kind_supports() {
        for kind in kinds() {
            assert!(supports(&kind, Operation::Generate));
            assert_eq!(
                supports(&kind, Operation::CountTokens),
                count_target(&kind).is_ok(),
                "{kind:?}"
            );
            assert_eq!(
                supports(&kind, Operation::Embed),
                embed_target(&kind, "amazon.titan-embed-text-v2:0").is_ok(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn picks_each_kinds_body_format() {
        let azure = ProviderKind::AzureOpenai {
            api_version: "2024-10-21".into(),
        };
        assert_eq!(
            embed_target(&azure, "my-deployment"),
            Ok(EmbedTarget::Openai)
        );
        assert_eq!(
            embed_target(&ProviderKind::Gemini, "gemini-embedding-001"),
            Ok(EmbedTarget::Gemini)
        );
        assert_eq!(
            embed_target(&bedrock(BedrockApi::Anthropic), "cohere.embed-v4:0"),
            Ok(EmbedTarget::BedrockCohere)
        );
        let error =
            embed_target(&bedrock(BedrockApi::Converse), "amazon.nova-pro-v1:0").unwrap_err();
        assert!(
            error.to_string().contains("amazon.nova-pro-v1:0"),
            "{error}"
        );
        let error = embed_target(&ProviderKind::Anthropic, "claude").unwrap_err();
        assert!(error.to_string().contains("`anthropic`"), "{error}");

        assert_eq!(
            count_target(&bedrock(BedrockApi::Anthropic)),
            Ok(CountTarget::BedrockInvoke)
        );
        assert_eq!(
            count_target(&bedrock(BedrockApi::Converse)),
            Ok(CountTarget::BedrockConverse)
        );
        assert_eq!(
            count_target(&ProviderKind::Anthropic),
            Ok(CountTarget::Anthropic)
        );
        assert_eq!(count_target(&ProviderKind::Gemini), Ok(CountTarget::Gemini));
        let error = count_target(&azure).unwrap_err();
        assert!(error.to_string().contains("`azure_openai`"), "{error}");
        assert!(error.is_request_error());
    }
}
