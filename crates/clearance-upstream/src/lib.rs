//! Calls to model providers. The only crate with an HTTP client in it.
//!
//! [`UpstreamClient::send`] takes a provider from the config and an [`UpstreamCall`] (a body
//! already in the provider's own format, and the [`Operation`] it is for: a chat answer,
//! embeddings or a token count), picks the provider's endpoint for that operation, adds the
//! provider's credential in the header that provider expects, and returns the status and a
//! byte stream of the answer. An operation the provider's kind has no API for is
//! [`UpstreamError::Unsupported`] before anything is sent ([`supports`] says it beforehand;
//! [`embed_target`] and [`count_target`] name the body format `clearance-wire` writes for it). It does not parse answers (that is
//! `clearance-wire`'s job) and never puts a credential into an error message.
//!
//! Failover, retries and circuit breakers will wrap this client; they are not part of it.
//!
//! [`UpstreamClient::get_with_bearer`] and [`UpstreamClient::post_json_with_bearer`] are the
//! one other kind of call: the CLI asking a running gateway's admin API (so the CLI holds no
//! HTTP client of its own). They return the status and body as they came.

use std::time::Duration;

use bytes::Bytes;
use clearance_config::{BedrockApi, BedrockConfig, Provider, ProviderKind};
use futures::stream::{BoxStream, StreamExt};

mod aws;
mod operation;
mod transport;

pub use operation::{Operation, count_target, embed_target, supports};
pub use transport::EVENT_STREAM;

/// Why a provider could not be reached or stopped answering. Never holds a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to provider `{provider}`: {detail}")]
    Connect { provider: String, detail: String },
    #[error("provider `{provider}` did not answer in time")]
    Timeout { provider: String },
    #[error("provider `{provider}` broke off the answer: {detail}")]
    Body { provider: String, detail: String },
    #[error("request to provider `{provider}` failed: {detail}")]
    Other { provider: String, detail: String },
    /// The answer (or one event of a stream) went past the gateway's cap on what it holds.
    #[error("provider `{provider}` sent {what} larger than the gateway's limit of {limit} bytes")]
    TooLarge {
        provider: String,
        what: &'static str,
        limit: usize,
    },
    /// The provider's stream went this long without completing an event.
    #[error("provider `{provider}` sent no complete event for {} ms", idle.as_millis())]
    Stalled { provider: String, idle: Duration },
    /// The provider's kind has no API for the operation (nothing was sent).
    #[error("provider `{provider}` (kind `{kind}`) has no {} API", operation.as_str())]
    Unsupported {
        provider: String,
        kind: &'static str,
        operation: Operation,
    },
}

impl UpstreamError {
    /// A stable class name for the audit log and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "upstream_connect",
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::Body { .. } => "upstream_body",
            UpstreamError::Other { .. } => "upstream_other",
            UpstreamError::TooLarge { .. } => "upstream_too_large",
            UpstreamError::Stalled { .. } => "upstream_stalled",
            UpstreamError::Unsupported { .. } => "upstream_unsupported",
        }
    }
}

/// Client headers that change how a provider reads the request and so travel with it.
#[derive(Debug, Clone, Default)]
pub struct ForwardedHeaders {
    pub anthropic_version: Option<String>,
    pub anthropic_beta: Option<String>,
}

/// One model call: a body in the provider's own wire format.
#[derive(Debug, Clone)]
pub struct UpstreamCall<'a> {
    pub body: Vec<u8>,
    /// The provider's model id (Gemini takes it in the URL, the others in the body).
    pub upstream_model: &'a str,
    /// Whether the answer is to be streamed (Gemini picks a different method for it). Read
    /// only for [`Operation::Generate`]: embeddings and counts are never streamed.
    pub stream: bool,
    /// What the call asks for, which picks the endpoint.
    pub operation: Operation,
}

/// A provider's answer: its status and its body as it arrives.
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// The provider's `retry-after`, passed on with error answers so SDKs pace their retries.
    pub retry_after: Option<String>,
    /// AWS's `x-amzn-errortype` (Bedrock names its error there, not in the body).
    pub error_type: Option<String>,
    /// Bedrock's `x-amzn-bedrock-input-token-count`: the input tokens of an `InvokeModel` call,
    /// which some model families (Cohere Embed) give nowhere else.
    pub input_token_count: Option<u64>,
    pub body: BoxStream<'static, Result<Bytes, UpstreamError>>,
}

impl UpstreamResponse {
    /// Reads the whole body (for non-streaming answers and error bodies), at most `max_bytes`
    /// of it: a longer body is [`UpstreamError::TooLarge`], found out as soon as the cap is
    /// passed (the rest is never read).
    pub async fn collect(
        mut self,
        provider: &str,
        max_bytes: usize,
    ) -> Result<Bytes, UpstreamError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk?;
            if all.len() + chunk.len() > max_bytes {
                return Err(UpstreamError::TooLarge {
                    provider: provider.to_string(),
                    what: "an answer",
                    limit: max_bytes,
                });
            }
            all.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(all))
    }
}

/// Anthropic requires a version header; this is the one its SDKs send.
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
}

impl UpstreamClient {
    pub fn new() -> Result<UpstreamClient, UpstreamError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(300))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Other {
                provider: "-".into(),
                detail: e.to_string(),
            })?;
        Ok(UpstreamClient { http })
    }

    /// Sends `call` to `provider` and returns once the answer's headers arrive.
    pub async fn send(
        &self,
        provider: &Provider,
        call: UpstreamCall<'_>,
        forwarded: &ForwardedHeaders,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let url = endpoint(provider, call.upstream_model, call.stream, call.operation)?;
        let body = call_body(&provider.kind, call.operation, call.body);
        let mut request = self
            .http
            .post(url.as_str())
            .header("content-type", "application/json");
        request = with_credentials(request, provider, forwarded);
        request = aws::sign(request, provider, "POST", &url, &body)?;
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| classify(&provider.name, &e))?;
        let status = response.status().as_u16();
        let header_text = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header_text(reqwest::header::CONTENT_TYPE);
        let retry_after = header_text(reqwest::header::RETRY_AFTER);
        let error_type = header_text(reqwest::header::HeaderName::from_static("x-amzn-errortype"));
        let input_token_count = header_text(reqwest::header::HeaderName::from_static(
            "x-amzn-bedrock-input-token-count",
        ))
        .and_then(|count| count.trim().parse().ok());
        let name = provider.name.clone();
        let body = response
            .bytes_stream()
            .map(move |chunk| {
                chunk.map_err(|e| UpstreamError::Body {
                    provider: name.clone(),
                    detail: without_url(&e),
                })
            })
            .boxed();
        let (content_type, body) = transport::unwrap_stream(&provider.kind, content_type, body);
        Ok(UpstreamResponse {
            status,
            content_type,
            retry_after,
            error_type,
            input_token_count,
            body,
        })
    }
}

impl UpstreamClient {
    /// An active health check: the provider's model list (cheap, no tokens spent), with the
    /// provider's credential, answered within `timeout`. Returns the HTTP status; any answer
    /// below 500 other than 429 means the provider is up (a 401 still proves it answers, and
    /// is a configuration problem, not an outage, for the caller to report).
    pub async fn probe(
        &self,
        provider: &Provider,
        timeout: Duration,
    ) -> Result<u16, UpstreamError> {
        let base = provider.base_url.as_str().trim_end_matches('/');
        let url = match &provider.kind {
            ProviderKind::Openai => format!("{base}/models"),
            ProviderKind::AzureOpenai { api_version } => {
                format!("{base}/openai/models?api-version={api_version}")
            }
            ProviderKind::Anthropic => format!("{base}/v1/models"),
            ProviderKind::Gemini => format!("{base}/v1beta/models"),
            // The runtime has no model list; any signed answer below 500 shows it reachable
            // and answering (a 404 for the path included).
            ProviderKind::Bedrock(_) => format!("{base}/ping"),
        };
        let request = self.http.get(url.as_str()).timeout(timeout);
        let request = with_credentials(request, provider, &ForwardedHeaders::default());
        let request = aws::sign(request, provider, "GET", &url, b"")?;
        let response = request
            .send()
            .await
            .map_err(|e| classify(&provider.name, &e))?;
        Ok(response.status().as_u16())
    }
}

/// How long a call to a gateway's admin API may take, connection included.
const ADMIN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to a gateway's admin API got no answer. Never holds the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminCallError {
    #[error("nothing answers at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{url} did not answer within {} s", ADMIN_CALL_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("calling {url} failed: {detail}")]
    Other { url: String, detail: String },
}

/// An answer from a gateway's admin API: its status and whole body.
#[derive(Debug, Clone)]
pub struct AdminAnswer {
    pub status: u16,
    pub body: Bytes,
}

impl UpstreamClient {
    /// `GET url` with `Authorization: Bearer token`.
    pub async fn get_with_bearer(
        &self,
        url: &str,
        token: &str,
    ) -> Result<AdminAnswer, AdminCallError> {
        admin_call(url, self.http.get(url).bearer_auth(token)).await
    }

    /// `POST url` with a JSON body and `Authorization: Bearer token`.
    pub async fn post_json_with_bearer(
        &self,
        url: &str,
        token: &str,
        json: Vec<u8>,
    ) -> Result<AdminAnswer, AdminCallError> {
        let request = self
            .http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(json);
        admin_call(url, request).await
    }
}

impl UpstreamClient {
    /// `GET url`, with `Authorization: Bearer token` when a token is given: a verifier
    /// copying a gateway's tiles.
    pub async fn get(&self, url: &str, token: Option<&str>) -> Result<AdminAnswer, AdminCallError> {
        let request = self.http.get(url);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        admin_call(url, request).await
    }

    /// `POST url` with a plain-text body: a checkpoint submitted to a witness
    /// (C2SP tlog-witness `add-checkpoint`).
    pub async fn post_text(&self, url: &str, body: String) -> Result<AdminAnswer, AdminCallError> {
        let request = self
            .http
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body);
        admin_call(url, request).await
    }
}

/// Why a JSON document could not be fetched (an identity provider's discovery document or
/// JWKS). Holds the URL (configured, not a secret) and never a body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("nothing answers at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{url} did not answer within {} ms", timeout.as_millis())]
    Timeout { url: String, timeout: Duration },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered with more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("fetching {url} failed: {detail}")]
    Other { url: String, detail: String },
}

impl UpstreamClient {
    /// `GET url` for a JSON document (`Accept: application/json`): the body of a 2xx answer,
    /// at most `max_bytes`, all within `timeout`. Redirects are not followed (as for every
    /// call of this client): a JWKS location is configured or discovered, never redirected.
    pub async fn get_json(
        &self,
        url: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Bytes, FetchError> {
        let failed = |e: reqwest::Error| {
            let url = url.to_string();
            if e.is_timeout() {
                FetchError::Timeout { url, timeout }
            } else if e.is_connect() {
                FetchError::Unreachable {
                    url,
                    detail: without_url(&e),
                }
            } else {
                FetchError::Other {
                    url,
                    detail: without_url(&e),
                }
            }
        };
        // reqwest's request timeout covers connecting, the headers and the whole body.
        let fetch = async {
            let response = self
                .http
                .get(url)
                .header("accept", "application/json")
                .timeout(timeout)
                .send()
                .await
                .map_err(failed)?;
            let status = response.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let mut body = response.bytes_stream();
            let mut all = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(failed)?;
                if all.len() + chunk.len() > max_bytes {
                    return Err(FetchError::TooLarge {
                        url: url.to_string(),
                        limit: max_bytes,
                    });
                }
                all.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(all))
        };
        fetch.await
    }
}

async fn admin_call(
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<AdminAnswer, AdminCallError> {
    let failed = |e: reqwest::Error| {
        let url = url.to_string();
        if e.is_timeout() {
            AdminCallError::Timeout { url }
        } else if e.is_connect() {
            AdminCallError::Unreachable {
                url,
                detail: without_url(&e),
            }
        } else {
            AdminCallError::Other {
                url,
                detail: without_url(&e),
            }
        }
    };
    let response = request
        .timeout(ADMIN_CALL_TIMEOUT)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(failed)?;
    Ok(AdminAnswer { status, body })
}

/// `request` with the provider's credential in the header that provider expects, and the
/// headers that change how the provider reads a request.
fn with_credentials(
    request: reqwest::RequestBuilder,
    provider: &Provider,
    forwarded: &ForwardedHeaders,
) -> reqwest::RequestBuilder {
    match &provider.kind {
        ProviderKind::Openai => match &provider.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        },
        ProviderKind::AzureOpenai { .. } => match &provider.api_key {
            Some(key) => request.header("api-key", key.expose()),
            None => request,
        },
        // An Amazon Bedrock API key is a bearer token; without one the request is signed
        // (`aws::sign`) once its body is final.
        ProviderKind::Bedrock(_) => match &provider.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        },
        ProviderKind::Anthropic => {
            let version = forwarded
                .anthropic_version
                .as_deref()
                .unwrap_or(DEFAULT_ANTHROPIC_VERSION);
            let mut r = request.header("anthropic-version", version);
            if let Some(beta) = &forwarded.anthropic_beta {
                r = r.header("anthropic-beta", beta);
            }
            match &provider.api_key {
                Some(key) => r.header("x-api-key", key.expose()),
                None => r,
            }
        }
        ProviderKind::Gemini => match &provider.api_key {
            Some(key) => request.header("x-goog-api-key", key.expose()),
            None => request,
        },
    }
}

/// The body as it is sent: a chat body as its transport carries it; embeddings and counting
/// bodies as written for their endpoint (a Titan body to a Claude-on-Bedrock provider is
/// still a Titan body).
fn call_body(kind: &ProviderKind, operation: Operation, body: Vec<u8>) -> Vec<u8> {
    match operation {
        Operation::Generate => transport::request_body(kind, body),
        Operation::Embed | Operation::CountTokens => body,
    }
}

/// The provider's endpoint for `operation`, following each vendor SDK's base-URL convention;
/// [`UpstreamError::Unsupported`] when the kind has no API for it.
fn endpoint(
    provider: &Provider,
    upstream_model: &str,
    stream: bool,
    operation: Operation,
) -> Result<String, UpstreamError> {
    let base = provider.base_url.as_str().trim_end_matches('/');
    let unsupported = || UpstreamError::Unsupported {
        provider: provider.name.clone(),
        kind: provider.kind.as_str(),
        operation,
    };
    let stream = stream && operation == Operation::Generate;
    Ok(match &provider.kind {
        ProviderKind::Openai => match operation {
            Operation::Generate => format!("{base}/chat/completions"),
            Operation::Embed => format!("{base}/embeddings"),
            Operation::CountTokens => return Err(unsupported()),
        },
        ProviderKind::AzureOpenai { api_version } => {
            let deployment = path_segment(upstream_model);
            let path = match operation {
                Operation::Generate => "chat/completions",
                Operation::Embed => "embeddings",
                Operation::CountTokens => return Err(unsupported()),
            };
            format!("{base}/openai/deployments/{deployment}/{path}?api-version={api_version}")
        }
        ProviderKind::Bedrock(bedrock) => {
            bedrock_endpoint(base, bedrock, upstream_model, stream, operation)
        }
        ProviderKind::Anthropic => match operation {
            Operation::Generate => format!("{base}/v1/messages"),
            Operation::CountTokens => format!("{base}/v1/messages/count_tokens"),
            Operation::Embed => return Err(unsupported()),
        },
        ProviderKind::Gemini => {
            // Gemini's SDKs accept the id with or without its `models/` prefix.
            let model = upstream_model.trim_start_matches("models/");
            let model: String = url::form_urlencoded::byte_serialize(model.as_bytes()).collect();
            let method = match (operation, stream) {
                (Operation::Generate, true) => "streamGenerateContent?alt=sse",
                (Operation::Generate, false) => "generateContent",
                (Operation::Embed, _) => "batchEmbedContents",
                (Operation::CountTokens, _) => "countTokens",
            };
            format!("{base}/v1beta/models/{model}:{method}")
        }
    })
}

/// Bedrock runtime: `/model/{modelId}/{operation}`, the id percent-encoded whole (it holds
/// `:` and, for inference profiles, may be an ARN with `/`). Embeddings are `InvokeModel`
/// whatever API the provider speaks for chat; counts are `CountTokens`.
fn bedrock_endpoint(
    base: &str,
    bedrock: &BedrockConfig,
    model: &str,
    stream: bool,
    operation: Operation,
) -> String {
    let path = match (operation, bedrock.api, stream) {
        (Operation::Generate, BedrockApi::Converse, false) => "converse",
        (Operation::Generate, BedrockApi::Converse, true) => "converse-stream",
        (Operation::Generate, BedrockApi::Anthropic, false) => "invoke",
        (Operation::Generate, BedrockApi::Anthropic, true) => "invoke-with-response-stream",
        (Operation::Embed, _, _) => "invoke",
        (Operation::CountTokens, _, _) => "count-tokens",
    };
    format!("{base}/model/{}/{path}", path_segment(model))
}

/// `text` as one URL path segment: every byte but unreserved ones percent-encoded.
fn path_segment(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

fn classify(provider: &str, error: &reqwest::Error) -> UpstreamError {
    let provider = provider.to_string();
    if error.is_timeout() {
        UpstreamError::Timeout { provider }
    } else if error.is_connect() {
        UpstreamError::Connect {
            provider,
            detail: without_url(error),
        }
    } else {
        UpstreamError::Other {
            provider,
            detail: without_url(error),
        }
    }
}

/// reqwest's message without the URL (which could carry credentials in query strings).
fn without_url(error: &reqwest::Error) -> String {
    let mut detail = error.to_string();
    if let Some(url) = error.url() {
        detail = detail.replace(url.as_str(), "<provider url>");
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    detail
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn provider(kind: ProviderKind, base: &str) -> Provider {
        Provider {
            name: "p".into(),
            kind,
            base_url: url::Url::parse(base).unwrap(),
            api_key: None,
            default_max_tokens: 4096,
            health: None,
        }
    }

    fn bedrock(api: BedrockApi) -> Provider {
        provider(
            ProviderKind::Bedrock(BedrockConfig {
                region: "us-east-1".into(),
                api,
                credentials: None,
            }),
            "https://bedrock-runtime.us-east-1.amazonaws.com",
        )
    }

    fn url(provider: &Provider, model: &str, stream: bool, operation: Operation) -> String {
        endpoint(provider, model, stream, operation).unwrap()
    }

    fn unsupported(provider: &Provider, operation: Operation) -> UpstreamError {
        endpoint(provider, "m", false, operation).unwrap_err()
    }

    #[test]
    fn openai_endpoints() {
        let openai = provider(ProviderKind::Openai, "https://api.openai.com/v1/");
        assert_eq!(
            url(&openai, "gpt-4o", true, Operation::Generate),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            url(&openai, "text-embedding-3-small", false, Operation::Embed),
            "https://api.openai.com/v1/embeddings"
        );
        let error = unsupported(&openai, Operation::CountTokens);
        assert!(matches!(
            error,
            UpstreamError::Unsupported {
                kind: "openai",
                operation: Operation::CountTokens,
                ..
            }
        ));
        assert_eq!(error.class(), "upstream_unsupported");
        assert_eq!(
            error.to_string(),
            "provider `p` (kind `openai`) has no count_tokens API"
        );
    }

    #[test]
    fn azure_endpoints_name_the_deployment_and_version() {
        let azure = provider(
            ProviderKind::AzureOpenai {
                api_version: "2024-10-21".into(),
            },
            "https://res.openai.azure.com",
        );
        assert_eq!(
            url(&azure, "gpt 4o", false, Operation::Generate),
            "https://res.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            url(&azure, "embed-small", true, Operation::Embed),
            "https://res.openai.azure.com/openai/deployments/embed-small/embeddings?api-version=2024-10-21"
        );
        assert!(matches!(
            unsupported(&azure, Operation::CountTokens),
            UpstreamError::Unsupported {
                kind: "azure_openai",
                ..
            }
        ));
    }

    #[test]
    fn anthropic_endpoints() {
        let anthropic = provider(ProviderKind::Anthropic, "https://api.anthropic.com");
        assert_eq!(
            url(&anthropic, "claude", true, Operation::Generate),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            url(&anthropic, "claude", false, Operation::CountTokens),
            "https://api.anthropic.com/v1/messages/count_tokens"
        );
        assert!(matches!(
            unsupported(&anthropic, Operation::Embed),
            UpstreamError::Unsupported {
                kind: "anthropic",
                operation: Operation::Embed,
                ..
            }
        ));
    }

    #[test]
    fn gemini_endpoints_put_the_method_after_the_model() {
        let gemini = provider(
            ProviderKind::Gemini,
            "https://generativelanguage.googleapis.com",
        );
        let base = "https://generativelanguage.googleapis.com/v1beta/models";
        assert_eq!(
            url(
                &gemini,
                "models/gemini-2.5-flash",
                true,
                Operation::Generate
            ),
            format!("{base}/gemini-2.5-flash:streamGenerateContent?alt=sse")
        );
        assert_eq!(
            url(&gemini, "gemini-2.5-flash", false, Operation::Generate),
            format!("{base}/gemini-2.5-flash:generateContent")
        );
        // Never streamed, whatever the call says.
        assert_eq!(
            url(&gemini, "gemini-embedding-001", true, Operation::Embed),
            format!("{base}/gemini-embedding-001:batchEmbedContents")
        );
        assert_eq!(
            url(
                &gemini,
                "models/gemini-2.5-flash",
                true,
                Operation::CountTokens
            ),
            format!("{base}/gemini-2.5-flash:countTokens")
        );
    }

    #[test]
    fn bedrock_endpoints_per_api_and_operation() {
        let base = "https://bedrock-runtime.us-east-1.amazonaws.com/model";
        let converse = bedrock(BedrockApi::Converse);
        let claude = bedrock(BedrockApi::Anthropic);
        let id = "anthropic.claude-3-5-sonnet-20240620-v1:0";
        let encoded = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";
        let cases = [
            (&converse, false, Operation::Generate, "converse"),
            (&converse, true, Operation::Generate, "converse-stream"),
            (&claude, false, Operation::Generate, "invoke"),
            (
                &claude,
                true,
                Operation::Generate,
                "invoke-with-response-stream",
            ),
            (&converse, false, Operation::CountTokens, "count-tokens"),
            (&claude, true, Operation::CountTokens, "count-tokens"),
        ];
        for (provider, stream, operation, path) in cases {
            assert_eq!(
                url(provider, id, stream, operation),
                format!("{base}/{encoded}/{path}"),
                "{:?} {stream} {operation:?}",
                provider.kind
            );
        }
        for provider in [&converse, &claude] {
            assert_eq!(
                url(
                    provider,
                    "amazon.titan-embed-text-v2:0",
                    true,
                    Operation::Embed
                ),
                format!("{base}/amazon.titan-embed-text-v2%3A0/invoke")
            );
        }
        assert_eq!(
            url(
                &converse,
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.cohere.embed-v4:0",
                false,
                Operation::Embed
            ),
            format!(
                "{base}/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.cohere.embed-v4%3A0/invoke"
            )
        );
    }

    #[test]
    fn every_supported_operation_has_an_endpoint() {
        let kinds = [
            provider(ProviderKind::Openai, "http://x/v1"),
            provider(
                ProviderKind::AzureOpenai {
                    api_version: "2024-10-21".into(),
                },
                "http://x",
            ),
            provider(ProviderKind::Anthropic, "http://x"),
            provider(ProviderKind::Gemini, "http://x"),
            bedrock(BedrockApi::Converse),
            bedrock(BedrockApi::Anthropic),
        ];
        for provider in &kinds {
            for operation in [
                Operation::Generate,
                Operation::Embed,
                Operation::CountTokens,
            ] {
                assert_eq!(
                    endpoint(provider, "m", false, operation).is_ok(),
                    supports(&provider.kind, operation),
                    "{:?} {operation:?}",
                    provider.kind
                );
            }
        }
    }

    #[test]
    fn only_chat_bodies_go_through_the_transport() {
        // A Titan body sent to a Claude-on-Bedrock provider must reach the model as written:
        // the InvokeModel wrapping (anthropic_version, no model) is the chat transport's.
        let claude = bedrock(BedrockApi::Anthropic).kind;
        let titan = br#"{"inputText":"x"}"#.to_vec();
        assert_eq!(call_body(&claude, Operation::Embed, titan.clone()), titan);
        let count = br#"{"input":{"invokeModel":{"body":"e30="}}}"#.to_vec();
        assert_eq!(
            call_body(&claude, Operation::CountTokens, count.clone()),
            count
        );
        let chat = br#"{"model":"m","messages":[]}"#.to_vec();
        let wrapped: serde_json::Value =
            serde_json::from_slice(&call_body(&claude, Operation::Generate, chat)).unwrap();
        assert_eq!(wrapped["anthropic_version"], "bedrock-2023-05-31");
        assert!(wrapped.get("model").is_none());
    }
}
