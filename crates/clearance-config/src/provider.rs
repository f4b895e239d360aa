//! `[providers.NAME]`: the closed set of provider kinds, each with the fields it needs.
//!
//! A kind says three things: the wire format its API speaks ([`ProviderKind::format`]), where
//! its endpoints are (`clearance-upstream` builds them from the kind's fields) and how it is
//! authenticated (a key in the kind's own header, or AWS SigV4 for `bedrock`). Adding a kind is
//! one variant here, one arm per `match` the compiler then points at.

use clearance_core::api::WireFormat;

use crate::Secret;
use crate::diagnostics::Diagnostics;
use crate::raw::{RawBedrockApi, RawKind, RawProvider};
use crate::resolve::{Env, required_env};

/// What kind of API a provider is, with what that kind needs to be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...).
    Openai,
    /// Azure OpenAI: OpenAI Chat Completions at a deployment's URL
    /// (`{base}/openai/deployments/{model.upstream}/chat/completions?api-version=...`), the key
    /// in an `api-key` header.
    AzureOpenai {
        api_version: String,
    },
    Anthropic,
    /// Google Gemini (`generateContent` / `streamGenerateContent`).
    Gemini,
    /// Amazon Bedrock's runtime, in its own Converse API or Anthropic Messages over
    /// `InvokeModel`, signed with AWS SigV4 (or an Amazon Bedrock API key).
    Bedrock(BedrockConfig),
}

/// Which of Bedrock's runtime APIs a `bedrock` provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedrockApi {
    /// `Converse` / `ConverseStream`: one format for every model family on Bedrock.
    Converse,
    /// `InvokeModel` / `InvokeModelWithResponseStream` with an Anthropic Messages body: Claude
    /// on Bedrock exactly as Anthropic's API has it (fields Converse lacks included).
    Anthropic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockConfig {
    /// The AWS region (`us-east-1`), which also names the signing scope.
    pub region: String,
    pub api: BedrockApi,
    /// `None` when the provider authenticates with an API key (or secrets are not read).
    pub credentials: Option<AwsCredentials>,
}

/// AWS credentials, read from the environment variables the config names.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl PartialEq for AwsCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.access_key_id.expose() == other.access_key_id.expose()
            && self.secret_access_key.expose() == other.secret_access_key.expose()
            && self.session_token.as_ref().map(Secret::expose)
                == other.session_token.as_ref().map(Secret::expose)
    }
}

impl Eq for AwsCredentials {}

impl ProviderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai { .. } => "azure_openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock(_) => "bedrock",
        }
    }

    /// The wire format this kind of provider speaks.
    pub fn format(&self) -> WireFormat {
        match self {
            ProviderKind::Openai | ProviderKind::AzureOpenai { .. } => WireFormat::OpenaiChat,
            ProviderKind::Anthropic => WireFormat::AnthropicMessages,
            ProviderKind::Gemini => WireFormat::Gemini,
            ProviderKind::Bedrock(bedrock) => match bedrock.api {
                BedrockApi::Converse => WireFormat::BedrockConverse,
                BedrockApi::Anthropic => WireFormat::AnthropicMessages,
            },
        }
    }

    /// The format the provider's *errors* come in: its own format, except on Bedrock, whose
    /// errors are Bedrock's whatever API carried the request.
    pub fn error_dialect(&self) -> WireFormat {
        match self {
            ProviderKind::Bedrock(_) => WireFormat::BedrockConverse,
            other => other.format(),
        }
    }

    /// Whether requests to this kind carry the model id in the body (the others name it in
    /// the URL: Gemini's method, Azure's deployment, Bedrock's model path).
    pub fn model_in_body(&self) -> bool {
        matches!(self, ProviderKind::Openai | ProviderKind::Anthropic)
    }
}

/// The kind of `[providers.{name}]` with its kind-specific fields; every field given to a kind
/// that does not read it is reported (it would otherwise be silently ignored).
pub(crate) fn resolve_kind(
    key: &str,
    raw: &RawProvider,
    env: Env<'_>,
    read_secrets: bool,
    diag: &mut Diagnostics<'_>,
) -> Option<ProviderKind> {
    let kind = *raw.kind.get_ref();
    refuse_foreign_fields(key, kind, raw, diag);
    match kind {
        RawKind::Openai => Some(ProviderKind::Openai),
        RawKind::Anthropic => Some(ProviderKind::Anthropic),
        RawKind::Gemini => Some(ProviderKind::Gemini),
        RawKind::AzureOpenai => {
            let Some(version) = &raw.api_version else {
                diag.at(
                    Some(raw.kind.span()),
                    format!(
                        "{key}: an `azure_openai` provider needs `api_version` (the Azure OpenAI \
                         REST version, e.g. \"2024-10-21\")"
                    ),
                );
                return None;
            };
            let text = version.get_ref().trim();
            if !is_api_version(text) {
                diag.at(
                    Some(version.span()),
                    format!(
                        "{key}.api_version: `{text}` is not an Azure OpenAI API version \
                         (YYYY-MM-DD, optionally with -preview)"
                    ),
                );
                return None;
            }
            Some(ProviderKind::AzureOpenai {
                api_version: text.to_string(),
            })
        }
        RawKind::Bedrock => resolve_bedrock(key, raw, env, read_secrets, diag),
    }
}

fn resolve_bedrock(
    key: &str,
    raw: &RawProvider,
    env: Env<'_>,
    read_secrets: bool,
    diag: &mut Diagnostics<'_>,
) -> Option<ProviderKind> {
    let Some(region) = &raw.region else {
        diag.at(
            Some(raw.kind.span()),
            format!("{key}: a `bedrock` provider needs `region` (e.g. \"us-east-1\")"),
        );
        return None;
    };
    let region_text = region.get_ref().trim();
    if !is_region(region_text) {
        diag.at(
            Some(region.span()),
            format!("{key}.region: `{region_text}` is not an AWS region name (like \"us-east-1\")"),
        );
        return None;
    }
    let api = match raw.api.as_ref().map(|a| *a.get_ref()) {
        None | Some(RawBedrockApi::Converse) => BedrockApi::Converse,
        Some(RawBedrockApi::Anthropic) => BedrockApi::Anthropic,
    };
    let named = [
        &raw.access_key_id_env,
        &raw.secret_access_key_env,
        &raw.session_token_env,
    ];
    let signs = named.iter().any(|n| n.is_some());
    if signs && raw.api_key_env.is_some() {
        diag.at(
            raw.api_key_env.as_ref().map(|k| k.span()),
            format!(
                "{key}: give either `api_key_env` (an Amazon Bedrock API key) or \
                 `access_key_id_env` and `secret_access_key_env` (AWS credentials), not both"
            ),
        );
        return None;
    }
    if !signs && raw.api_key_env.is_none() {
        diag.at(
            Some(raw.kind.span()),
            format!(
                "{key}: a `bedrock` provider needs credentials: `access_key_id_env` and \
                 `secret_access_key_env` (and `session_token_env` for temporary ones), or \
                 `api_key_env` for an Amazon Bedrock API key"
            ),
        );
        return None;
    }
    let credentials = if signs {
        let (Some(id_env), Some(secret_env)) = (&raw.access_key_id_env, &raw.secret_access_key_env)
        else {
            diag.at(
                Some(raw.kind.span()),
                format!(
                    "{key}: AWS credentials need both `access_key_id_env` and \
                     `secret_access_key_env`"
                ),
            );
            return None;
        };
        if read_secrets {
            let id = required_env(id_env, &format!("{key}.access_key_id_env"), env, diag);
            let secret = required_env(
                secret_env,
                &format!("{key}.secret_access_key_env"),
                env,
                diag,
            );
            let token = raw
                .session_token_env
                .as_ref()
                .and_then(|t| required_env(t, &format!("{key}.session_token_env"), env, diag));
            Some(AwsCredentials {
                access_key_id: id?,
                secret_access_key: secret?,
                session_token: token,
            })
        } else {
            None
        }
    } else {
        None
    };
    Some(ProviderKind::Bedrock(BedrockConfig {
        region: region_text.to_string(),
        api,
        credentials,
    }))
}

/// The runtime endpoint of a region, for a `bedrock` provider without a `base_url`.
pub(crate) fn bedrock_endpoint(region: &str) -> Option<url::Url> {
    url::Url::parse(&format!("https://bedrock-runtime.{region}.amazonaws.com")).ok()
}

fn refuse_foreign_fields(key: &str, kind: RawKind, raw: &RawProvider, diag: &mut Diagnostics<'_>) {
    let bedrock = matches!(kind, RawKind::Bedrock);
    let azure = matches!(kind, RawKind::AzureOpenai);
    let fields = [
        (
            "api_version",
            raw.api_version.as_ref().map(|f| f.span()),
            azure,
            "azure_openai",
        ),
        (
            "region",
            raw.region.as_ref().map(|f| f.span()),
            bedrock,
            "bedrock",
        ),
        (
            "api",
            raw.api.as_ref().map(|f| f.span()),
            bedrock,
            "bedrock",
        ),
        (
            "access_key_id_env",
            raw.access_key_id_env.as_ref().map(|f| f.span()),
            bedrock,
            "bedrock",
        ),
        (
            "secret_access_key_env",
            raw.secret_access_key_env.as_ref().map(|f| f.span()),
            bedrock,
            "bedrock",
        ),
        (
            "session_token_env",
            raw.session_token_env.as_ref().map(|f| f.span()),
            bedrock,
            "bedrock",
        ),
    ];
    for (field, span, allowed, owner) in fields {
        if let (Some(span), false) = (span, allowed) {
            diag.at(
                Some(span),
                format!("{key}.{field}: only `{owner}` providers take `{field}`"),
            );
        }
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`.
fn is_api_version(text: &str) -> bool {
    let date = text.strip_suffix("-preview").unwrap_or(text);
    let bytes = date.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// Lowercase letters, digits and hyphens, starting with a letter: `us-east-1`, `eu-central-2`.
fn is_region(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.contains('-')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_dates_with_an_optional_preview() {
        assert!(is_api_version("2024-10-21"));
        assert!(is_api_version("2025-04-01-preview"));
        assert!(!is_api_version("2024-1-21"));
        assert!(!is_api_version("latest"));
        assert!(!is_api_version("2024-10-21-beta"));
    }

    #[test]
    fn regions_look_like_aws_regions() {
        assert!(is_region("us-east-1"));
        assert!(is_region("ap-southeast-2"));
        assert!(!is_region("US-EAST-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("us east 1"));
    }
}
