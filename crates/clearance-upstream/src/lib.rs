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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use clearance_config::{BedrockApi, BedrockConfig, Provider, ProviderKind};
use futures::stream::{BoxStream, Stream, StreamExt};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

mod aws;
mod egress;
mod operation;
mod transport;

use egress::{Connecting, Egress, EgressIo, ProxyConnect, Route};
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

/// How long connecting to a provider may take, name lookup included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a provider may keep the gateway waiting for its answer's headers (from the call's
/// start), and then between two pieces of its body.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Idle keep-alive connections kept per provider host, and for how long.
const POOL_MAX_IDLE_PER_HOST: usize = 256;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on provider connections (reqwest's defaults, which the model calls
/// were made with before they moved to hyper-util's client).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The pooled HTTP/1.1 client the model calls go through.
type CallClient = PooledClient<Connector, Full<Bytes>>;

#[derive(Clone)]
pub struct UpstreamClient {
    /// Model calls ([`UpstreamClient::send`], the hot path): hyper-util's pooled keep-alive
    /// client over plain TCP, HTTP/1.1, no redirects followed.
    calls: CallClient,
    /// See [`READ_TIMEOUT`].
    read_timeout: Duration,
    /// The HTTP proxy the model calls go through, if any (see [`egress`]); the same rules
    /// as the connector's.
    egress: Egress,
    /// Every other call: health probes, the admin API, JWKS and witness fetches.
    http: reqwest::Client,
}

impl UpstreamClient {
    /// A client whose model calls go through the HTTP proxy the environment names, if any:
    /// `HTTP_PROXY` / `http_proxy`, else `ALL_PROXY` / `all_proxy`, but for the hosts in
    /// `NO_PROXY` / `no_proxy` (read now, once; see [`egress`]).
    pub fn new() -> Result<UpstreamClient, UpstreamError> {
        UpstreamClient::with_timeouts(Egress::from_env(), CONNECT_TIMEOUT, READ_TIMEOUT)
    }

    /// A client whose model calls follow `proxies` instead of the environment's.
    #[cfg(test)]
    fn with_proxies(proxies: hyper_util::client::proxy::matcher::Matcher) -> UpstreamClient {
        UpstreamClient::with_timeouts(Egress::new(proxies), CONNECT_TIMEOUT, READ_TIMEOUT)
            .expect("a client")
    }

    fn with_timeouts(
        egress: Egress,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<UpstreamClient, UpstreamError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Other {
                provider: "-".into(),
                detail: e.to_string(),
            })?;
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_interval(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        tcp.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        let calls = PooledClient::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(Connector {
                tcp,
                timeout: connect_timeout,
                egress: egress.clone(),
            });
        Ok(UpstreamClient {
            calls,
            read_timeout,
            egress,
            http,
        })
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
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let uri = call_uri(provider, url.as_str(), &mut headers)?;
        let route = self
            .egress
            .route(&uri)
            .map_err(|e| UpstreamError::Connect {
                provider: provider.name.clone(),
                detail: e.to_string(),
            })?;
        if let Route::Proxy {
            authorization: Some(authorization),
            ..
        } = route
        {
            headers.insert(header::PROXY_AUTHORIZATION, authorization);
        }
        with_credentials(&mut headers, provider, forwarded)?;
        aws::sign(&mut headers, provider, "POST", &url, &body)?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| UpstreamError::Other {
                provider: provider.name.clone(),
                detail: e.to_string(),
            })?;
        *request.headers_mut() = headers;
        // Like reqwest's read timeout, the wait for the headers counts from the call's start.
        let response =
            match tokio::time::timeout(self.read_timeout, self.calls.request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return Err(classify(&provider.name, &e)),
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        provider: provider.name.clone(),
                    });
                }
            };
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        let header_text = |name: HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header_text(header::CONTENT_TYPE);
        let retry_after = header_text(header::RETRY_AFTER);
        let error_type = header_text(HeaderName::from_static("x-amzn-errortype"));
        let input_token_count =
            header_text(HeaderName::from_static("x-amzn-bedrock-input-token-count"))
                .and_then(|count| count.trim().parse().ok());
        let body = AnswerBody {
            body,
            idle: None,
            armed: false,
            read_timeout: self.read_timeout,
            provider: provider.name.clone(),
            done: false,
        }
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

/// The URI a model call goes to: `url` as it is, but for credentials in the base URL
/// (`http://user:password@host`), which go into a basic `authorization` header instead, as
/// reqwest put them. Plain `http://` only: the gateway is built without TLS, so an
/// `https://` provider is refused here, before any connection is tried.
fn call_uri(provider: &Provider, url: &str, headers: &mut HeaderMap) -> Result<Uri, UpstreamError> {
    let base = &provider.base_url;
    if base.scheme() != "http" {
        return Err(UpstreamError::Connect {
            provider: provider.name.clone(),
            detail: format!(
                "its base URL is `{}://`, and the gateway calls providers over plain `http://` \
                 only (it is built without TLS)",
                base.scheme()
            ),
        });
    }
    let invalid = |detail: String| UpstreamError::Other {
        provider: provider.name.clone(),
        detail: format!("invalid provider URL: {detail}"),
    };
    if base.username().is_empty() && base.password().is_none() {
        return Uri::try_from(url).map_err(|e| invalid(e.to_string()));
    }
    let mut url = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    headers.append(
        header::AUTHORIZATION,
        sensitive(provider, "authorization", &format!("Basic {basic}"))?,
    );
    Uri::try_from(url.as_str()).map_err(|e| invalid(e.to_string()))
}

/// Connects to a provider: a TCP connection (`TCP_NODELAY`, keep-alive probes) within a
/// timeout that covers the name lookup too. Plain `http://` only ([`HttpConnector`] refuses
/// any other scheme). A provider behind the egress proxy ([`egress`]) is reached through a
/// connection to the proxy, marked as proxied so requests go out with absolute-form URIs.
#[derive(Clone)]
struct Connector {
    tcp: HttpConnector,
    timeout: Duration,
    egress: Egress,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for Connector {
    type Response = EgressIo;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let (to, proxied) = match self.egress.route(&dst) {
            Ok(Route::Direct) => (dst, false),
            Ok(Route::Proxy { proxy, .. }) => (proxy, true),
            Err(unusable) => return Box::pin(std::future::ready(Err(unusable.into()))),
        };
        let connecting = self.tcp.call(to);
        let timeout = self.timeout;
        Box::pin(async move {
            let connected = match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(BoxError::from),
                Err(_) => Err(TimedOut.into()),
            };
            match connected {
                Ok(io) => Ok(EgressIo::new(io, proxied)),
                Err(e) if proxied => Err(ProxyConnect(e).into()),
                Err(e) => Err(e),
            }
        })
    }
}

/// A connection, or the answer's body, took longer than the client waits.
#[derive(Debug, thiserror::Error)]
#[error("operation timed out")]
struct TimedOut;

/// An answer's body as it arrives: its data frames (trailers are dropped), each within the
/// read timeout of the one before (reqwest's `read_timeout`, which resets with every frame).
/// Errors are [`UpstreamError::Body`]; the stream ends after one.
struct AnswerBody {
    body: Incoming,
    /// Armed (reset to now + `read_timeout`) when the body has nothing ready; made on the
    /// first such wait, so an answer that came in whole with its headers never makes one.
    idle: Option<Pin<Box<Sleep>>>,
    armed: bool,
    read_timeout: Duration,
    provider: String,
    done: bool,
}

impl Stream for AnswerBody {
    type Item = Result<Bytes, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.armed = false;
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(UpstreamError::Body {
                        provider: this.provider.clone(),
                        detail: error_chain(&e),
                    })));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if !this.armed {
                        let deadline = tokio::time::Instant::now() + this.read_timeout;
                        match &mut this.idle {
                            Some(idle) => idle.as_mut().reset(deadline),
                            None => this.idle = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                        this.armed = true;
                    }
                    let Some(idle) = &mut this.idle else {
                        return Poll::Pending;
                    };
                    if idle.as_mut().poll(cx).is_ready() {
                        this.done = true;
                        return Poll::Ready(Some(Err(UpstreamError::Body {
                            provider: this.provider.clone(),
                            detail: format!(
                                "{TimedOut}: nothing arrived for {} ms",
                                this.read_timeout.as_millis()
                            ),
                        })));
                    }
                    return Poll::Pending;
                }
            }
        }
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
        let mut headers = HeaderMap::new();
        with_credentials(&mut headers, provider, &ForwardedHeaders::default())?;
        aws::sign(&mut headers, provider, "GET", &url, b"")?;
        let response = self
            .http
            .get(url.as_str())
            .timeout(timeout)
            .headers(headers)
            .send()
            .await
            .map_err(|e| classify_reqwest(&provider.name, &e))?;
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

/// The provider's credential in the header that provider expects, and the headers that
/// change how the provider reads a request, appended to `headers`.
fn with_credentials(
    headers: &mut HeaderMap,
    provider: &Provider,
    forwarded: &ForwardedHeaders,
) -> Result<(), UpstreamError> {
    let key = provider.api_key.as_ref().map(|key| key.expose());
    match &provider.kind {
        // An Amazon Bedrock API key is a bearer token; without one the request is signed
        // (`aws::sign`) once its body is final.
        ProviderKind::Openai | ProviderKind::Bedrock(_) => {
            if let Some(key) = key {
                let value = sensitive(provider, "authorization", &format!("Bearer {key}"))?;
                headers.append(header::AUTHORIZATION, value);
            }
        }
        ProviderKind::AzureOpenai { .. } => {
            if let Some(key) = key {
                let value = sensitive(provider, "api-key", key)?;
                headers.append(HeaderName::from_static("api-key"), value);
            }
        }
        ProviderKind::Anthropic => {
            let version = forwarded
                .anthropic_version
                .as_deref()
                .unwrap_or(DEFAULT_ANTHROPIC_VERSION);
            let version = plain(provider, "anthropic-version", version)?;
            headers.append(HeaderName::from_static("anthropic-version"), version);
            if let Some(beta) = &forwarded.anthropic_beta {
                let beta = plain(provider, "anthropic-beta", beta)?;
                headers.append(HeaderName::from_static("anthropic-beta"), beta);
            }
            if let Some(key) = key {
                let value = sensitive(provider, "x-api-key", key)?;
                headers.append(HeaderName::from_static("x-api-key"), value);
            }
        }
        ProviderKind::Gemini => {
            if let Some(key) = key {
                let value = sensitive(provider, "x-goog-api-key", key)?;
                headers.append(HeaderName::from_static("x-goog-api-key"), value);
            }
        }
    }
    Ok(())
}

/// `value` as the value of header `name`, or why it cannot be one (without the value).
fn plain(provider: &Provider, name: &str, value: &str) -> Result<HeaderValue, UpstreamError> {
    HeaderValue::from_str(value).map_err(|_| UpstreamError::Other {
        provider: provider.name.clone(),
        detail: format!("the value for header `{name}` is not a valid header value"),
    })
}

/// [`plain`], marked sensitive (a credential: kept out of HPACK tables and `Debug` output).
fn sensitive(provider: &Provider, name: &str, value: &str) -> Result<HeaderValue, UpstreamError> {
    let mut value = plain(provider, name, value)?;
    value.set_sensitive(true);
    Ok(value)
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

/// A model call's failure before its answer's headers: a timeout (connecting, or HTTP's own),
/// a connection that could not be made, or anything else. hyper never puts a URI in an error,
/// so the detail holds no URL (which could carry a credential in its query string).
fn classify(provider: &str, error: &hyper_util::client::legacy::Error) -> UpstreamError {
    let provider = provider.to_string();
    if timed_out(error) {
        UpstreamError::Timeout { provider }
    } else if error.is_connect() {
        UpstreamError::Connect {
            provider,
            detail: error_chain(error),
        }
    } else {
        UpstreamError::Other {
            provider,
            detail: error_chain(error),
        }
    }
}

/// Whether `error`, or one of its causes, is a timeout (as reqwest's `is_timeout` tells).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<TimedOut>()
            || error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
            || error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// `error`'s message followed by its causes', `: `-separated.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    detail
}

fn classify_reqwest(provider: &str, error: &reqwest::Error) -> UpstreamError {
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
    use hyper_util::client::proxy::matcher::Matcher;

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

    /// A provider of `kind` at `base`, with key `k`.
    fn keyed(kind: ProviderKind, base: &str) -> Provider {
        Provider {
            api_key: Some(clearance_config::Secret::new("k".into())),
            ..provider(kind, base)
        }
    }

    fn chat() -> UpstreamCall<'static> {
        UpstreamCall {
            body: br#"{"model":"m","messages":[]}"#.to_vec(),
            upstream_model: "m",
            stream: false,
            operation: Operation::Generate,
        }
    }

    /// A client whose reads time out after 300 ms.
    fn impatient() -> UpstreamClient {
        UpstreamClient::with_timeouts(
            Egress::new(Matcher::builder().build()),
            Duration::from_secs(10),
            Duration::from_millis(300),
        )
        .unwrap()
    }

    /// A client that calls providers directly, whatever proxy the environment names.
    fn direct() -> UpstreamClient {
        UpstreamClient::with_proxies(Matcher::builder().build())
    }

    async fn send(
        client: &UpstreamClient,
        provider: &Provider,
    ) -> Result<UpstreamResponse, UpstreamError> {
        client
            .send(provider, chat(), &ForwardedHeaders::default())
            .await
    }

    /// Reads one HTTP/1.1 request's head and body from `stream`; `None` once the client has
    /// closed the connection.
    async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8(seen[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = seen[head_end..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&buf[..n]);
        }
        Some((head, body))
    }

    /// A provider that answers every request with `answer`, as many as come on a connection;
    /// sends each request's head and body, and the number of the connection it came on.
    async fn answering(
        answer: &'static [u8],
    ) -> (
        String,
        tokio::sync::mpsc::UnboundedReceiver<(usize, String, Vec<u8>)>,
    ) {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for connection in 0.. {
                let (mut stream, _) = listener.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    while let Some((head, body)) = read_request(&mut stream).await {
                        let _ = seen.send((connection, head, body));
                        stream.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        (format!("http://{address}"), requests)
    }

    #[tokio::test]
    async fn sends_the_call_with_its_headers_over_one_pooled_connection() {
        let (base, mut requests) = answering(
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
              retry-after: 7\r\nx-amzn-errortype: ThrottlingException:http://internal\r\n\
              x-amzn-bedrock-input-token-count: 12\r\ncontent-length: 2\r\n\r\n{}",
        )
        .await;
        let client = direct();
        let anthropic = keyed(ProviderKind::Anthropic, &base);
        let forwarded = ForwardedHeaders {
            anthropic_version: None,
            anthropic_beta: Some("tools-2024".into()),
        };
        for _ in 0..2 {
            let answer = client.send(&anthropic, chat(), &forwarded).await.unwrap();
            assert_eq!(answer.status, 429);
            assert_eq!(answer.content_type.as_deref(), Some("application/json"));
            assert_eq!(answer.retry_after.as_deref(), Some("7"));
            assert_eq!(
                answer.error_type.as_deref(),
                Some("ThrottlingException:http://internal")
            );
            assert_eq!(answer.input_token_count, Some(12));
            assert_eq!(&answer.collect("p", 100).await.unwrap()[..], b"{}");
        }
        let address = base.trim_start_matches("http://");
        for _ in 0..2 {
            let (connection, head, body) = requests.recv().await.unwrap();
            // Both calls went over the first connection, kept alive in the pool.
            assert_eq!(connection, 0);
            let head = head.to_ascii_lowercase();
            assert!(head.starts_with("post /v1/messages http/1.1\r\n"), "{head}");
            for line in [
                &format!("host: {address}"),
                "content-type: application/json",
                "accept: */*",
                "anthropic-version: 2023-06-01",
                "anthropic-beta: tools-2024",
                "x-api-key: k",
                &format!("content-length: {}", chat().body.len()),
            ] {
                assert!(
                    head.contains(&format!("{line}\r\n")),
                    "{line} not in {head}"
                );
            }
            assert_eq!(body, chat().body);
        }
    }

    #[tokio::test]
    async fn credentials_in_the_base_url_become_basic_authorization() {
        let (base, mut requests) = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let base = base.replace("http://", "http://us%20er:p%40ss@") + "/v1";
        let openai = keyed(ProviderKind::Openai, &base);
        let answer = send(&direct(), &openai).await.unwrap();
        assert_eq!(answer.status, 200);
        let (_, head, _) = requests.recv().await.unwrap();
        assert!(
            head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
            "{head}"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("us er:p@ss");
        let authorization: Vec<&str> = head
            .lines()
            .filter_map(|line| line.strip_prefix("authorization: "))
            .collect();
        // Basic first (from the URL), then the provider's own key, as reqwest sent them.
        assert_eq!(
            authorization,
            [format!("Basic {basic}").as_str(), "Bearer k"]
        );
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_a_connect_error_without_its_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let gemini = provider(
            ProviderKind::Gemini,
            &format!("http://{address}/?key=SECRET"),
        );
        let error = send(&direct(), &gemini).await.err().unwrap();
        assert!(matches!(error, UpstreamError::Connect { .. }), "{error:?}");
        assert_eq!(error.class(), "upstream_connect");
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains("SECRET") && !text.contains(&address.to_string()),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_https_provider_is_refused_before_connecting() {
        let openai = keyed(ProviderKind::Openai, "https://127.0.0.1:9/v1?key=SECRET");
        let error = send(&direct(), &openai).await.err().unwrap();
        assert!(matches!(error, UpstreamError::Connect { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("`https://`") && text.contains("plain `http://`"),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }

    /// A provider that accepts, reads the request, sends `answer`, and then holds the
    /// connection open without another byte.
    async fn stalling(answer: &'static [u8]) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let _ = read_request(&mut stream).await;
                    stream.write_all(answer).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn no_headers_within_the_read_timeout_is_a_timeout() {
        let openai = keyed(ProviderKind::Openai, &stalling(b"").await);
        let started = std::time::Instant::now();
        let error = send(&impatient(), &openai).await.err().unwrap();
        assert!(matches!(error, UpstreamError::Timeout { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_body_idle_past_the_read_timeout_breaks_off() {
        let openai = keyed(
            ProviderKind::Openai,
            &stalling(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await,
        );
        let mut answer = send(&impatient(), &openai).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body.next().await.unwrap().unwrap()[..], b"abc");
        let started = std::time::Instant::now();
        let error = answer.body.next().await.unwrap().unwrap_err();
        // A body that stops mid-way is `Body` (as it was with reqwest), whatever stopped it.
        assert!(matches!(error, UpstreamError::Body { .. }), "{error:?}");
        assert!(error.to_string().contains("timed out"), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(answer.body.next().await.is_none());
    }

    #[tokio::test]
    async fn a_body_that_keeps_coming_is_not_timed_out() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            // Five pieces 200 ms apart: 1 s in all, each well within the 300 ms timeout.
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                stream.write_all(b"1\r\nx\r\n").await.unwrap();
            }
            stream.write_all(b"0\r\n\r\n").await.unwrap();
        });
        let openai = keyed(ProviderKind::Openai, &format!("http://{address}"));
        let answer = send(&impatient(), &openai).await.unwrap();
        assert_eq!(&answer.collect("p", 100).await.unwrap()[..], b"xxxxx");
    }

    /// An HTTP proxy that answers every request itself with a chat completion, as many as
    /// come on a connection; sends each request's head and the number of its connection.
    /// An HTTP proxy that answers every request with a chat completion itself; sends each
    /// request's head and the number of the connection it came on.
    async fn fake_proxy() -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<(usize, String)>,
    ) {
        const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
            content-length: 230\r\n\r\n\
            {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";
        let (base, mut requests) = answering(ANSWER).await;
        let address = base.trim_start_matches("http://").parse().unwrap();
        let (heads, seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((connection, head, _)) = requests.recv().await {
                let _ = heads.send((connection, head));
            }
        });
        (address, seen)
    }

    #[tokio::test]
    async fn calls_go_through_the_http_proxy_in_absolute_form_with_its_credentials() {
        let (proxy, mut requests) = fake_proxy().await;
        let client = UpstreamClient::with_proxies(
            Matcher::builder()
                .http(format!("http://proxy%20user:p%40ssw0rd@{proxy}"))
                .no("localhost, 10.0.0.0/8")
                .build(),
        );
        // A host that does not resolve: only the proxy can answer for it.
        let openai = keyed(ProviderKind::Openai, "http://provider.invalid:8080/v1");
        for _ in 0..2 {
            let answer = send(&client, &openai).await.unwrap();
            assert_eq!(answer.status, 200);
            let body = answer.collect("p", 10_000).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["choices"][0]["message"]["content"], "hi");
        }
        let basic = base64::engine::general_purpose::STANDARD.encode("proxy user:p@ssw0rd");
        for _ in 0..2 {
            let (connection, head) = requests.recv().await.unwrap();
            // Both calls went over one connection to the proxy, kept alive in the pool.
            assert_eq!(connection, 0);
            assert!(
                head.starts_with(
                    "POST http://provider.invalid:8080/v1/chat/completions HTTP/1.1\r\n"
                ),
                "{head}"
            );
            for line in [
                "host: provider.invalid:8080".to_string(),
                format!("proxy-authorization: Basic {basic}"),
                "authorization: Bearer k".to_string(),
            ] {
                assert!(
                    head.contains(&format!("\r\n{line}\r\n")),
                    "{line} not in {head}"
                );
            }
        }
    }

    #[tokio::test]
    async fn all_proxy_serves_http_destinations_and_without_credentials_sends_none() {
        let (proxy, mut requests) = fake_proxy().await;
        let client =
            UpstreamClient::with_proxies(Matcher::builder().all(format!("http://{proxy}")).build());
        let openai = keyed(ProviderKind::Openai, "http://provider.invalid/v1");
        assert_eq!(send(&client, &openai).await.unwrap().status, 200);
        let (_, head) = requests.recv().await.unwrap();
        assert!(
            head.starts_with("POST http://provider.invalid/v1/chat/completions HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("proxy-authorization"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_host_in_no_proxy_is_called_directly() {
        let (proxy, mut proxied) = fake_proxy().await;
        let (base, mut requests) =
            answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        let client = UpstreamClient::with_proxies(
            Matcher::builder()
                .http(format!("http://user:SECRET@{proxy}"))
                .no("example.com, 127.0.0.1")
                .build(),
        );
        let openai = keyed(ProviderKind::Openai, &format!("{base}/v1"));
        let answer = send(&client, &openai).await.unwrap();
        assert_eq!(&answer.collect("p", 100).await.unwrap()[..], b"{}");
        let (_, head, _) = requests.recv().await.unwrap();
        assert!(
            head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("proxy-authorization"),
            "{head}"
        );
        assert!(proxied.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_proxy_other_than_plain_http_is_refused_without_its_credentials() {
        for (proxy, scheme) in [
            ("https://user:SECRET@127.0.0.1:9", "`https://`"),
            ("socks5h://user:SECRET@127.0.0.1:9", "`socks5h://`"),
        ] {
            let client = UpstreamClient::with_proxies(Matcher::builder().all(proxy).build());
            let openai = keyed(ProviderKind::Openai, "http://provider.invalid/v1");
            let error = send(&client, &openai).await.err().unwrap();
            assert!(matches!(error, UpstreamError::Connect { .. }), "{error:?}");
            let text = format!("{error} {error:?}");
            assert!(
                text.contains(scheme) && text.contains("ALL_PROXY") && text.contains("HTTP_PROXY"),
                "{text}"
            );
            assert!(!text.contains("SECRET") && !text.contains("user"), "{text}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_proxy_is_a_connect_error_without_its_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client = UpstreamClient::with_proxies(
            Matcher::builder()
                .http(format!("http://user:SECRET@{address}"))
                .build(),
        );
        let openai = keyed(ProviderKind::Openai, "http://provider.invalid/v1");
        let error = send(&client, &openai).await.err().unwrap();
        assert!(matches!(error, UpstreamError::Connect { .. }), "{error:?}");
        let text = format!("{error} {error:?}");
        assert!(text.contains("HTTP proxy"), "{text}");
        assert!(
            !text.contains("SECRET") && !text.contains(&address.to_string()),
            "{text}"
        );
    }
}
