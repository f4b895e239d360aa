//! The request path, top to bottom:
//!
//! reserve an audit place → authenticate the key → load the principal's facts → read the
//! body → resolve the model → decide → call the provider → stream or send the answer back →
//! audit (on every path, including errors and client hang-ups, through [`PendingAudit`]'s
//! `Drop`).
//!
//! Every answer carries `x-clearance-request-id` (the audit record's id) and
//! `x-clearance-overhead-ms` (the gateway's own time so far, excluding waits on the provider);
//! an answer a model produced also carries `x-clearance-served-model`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use clearance_core::api::{ApiSurface, WireFormat};
use clearance_core::audit::{AuditRecord, Decision};
use clearance_policy::Outcome;
use clearance_upstream::{ForwardedHeaders, UpstreamCall, UpstreamError, UpstreamResponse};
use clearance_wire::Usage;
use clearance_wire::error::{ErrorKind, UpstreamOrigin, error_body, upstream_error_body};
use clearance_wire::request::ClientRequest;
use clearance_wire::response::rewrite_response;
use clearance_wire::sse::{SseRewriter, StreamRewrite};
use clearance_wire::translate::{
    EncoderOptions, RenderOptions, StreamTranslator, TranslateError, translate_response,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::access;
use crate::audit_writer::AuditSlot;
use crate::auth::{Caller, authenticate};
use crate::error::ApiError;
use crate::metrics::{DirectiveLabels, Metrics, ModelLabels, RequestLabels, UpstreamErrorLabels};
use crate::state::{AppState, ModelEntry};

pub const REQUEST_ID: &str = "x-clearance-request-id";
pub const SERVED_MODEL: &str = "x-clearance-served-model";
pub const OVERHEAD_MS: &str = "x-clearance-overhead-ms";

/// Serves one model request on `surface` from the connection peer `peer`.
pub async fn handle(
    state: AppState,
    surface: ApiSurface,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::now_v7().to_string();
    let slot = match state.audit.reserve().await {
        Ok(slot) => slot,
        Err(overloaded) => {
            return refuse_unaudited(
                &state,
                surface,
                &request_id,
                started,
                &overloaded.to_string(),
            );
        }
    };
    let audit = PendingAudit::new(
        slot,
        Arc::clone(&state.metrics),
        base_record(&request_id, surface),
        started,
    );
    serve(&state, surface, peer, &headers, body, audit).await
}

fn base_record(request_id: &str, surface: ApiSurface) -> AuditRecord {
    AuditRecord {
        id: request_id.to_string(),
        time: Utc::now(),
        api: surface,
        key_id: None,
        principal_id: None,
        requested_model: None,
        served_model: None,
        decision: Decision::Rejected,
        directive_ids: Vec::new(),
        shadow_hits: Vec::new(),
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: false,
        status: 0,
        upstream_status: None,
        duration_us: 0,
        overhead_us: 0,
        input_tokens: None,
        output_tokens: None,
        error_class: None,
        attempts: Vec::new(),
        admin: None,
    }
}

/// The audit queue is full: refuse without serving (fail closed). Nothing was decided, so
/// there is nothing a record could be missing; the refusal shows in the metrics.
fn refuse_unaudited(
    state: &AppState,
    surface: ApiSurface,
    request_id: &str,
    started: Instant,
    message: &str,
) -> Response {
    state.metrics.audit_overloaded.inc();
    let error = ApiError::new(
        surface,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Overloaded,
        "audit_overloaded",
        message,
    )
    .with_code("audit_overloaded");
    let mut response = error.into_response();
    set_header(&mut response, REQUEST_ID, request_id);
    set_header(&mut response, OVERHEAD_MS, &millis(started.elapsed()));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn serve(
    state: &AppState,
    surface: ApiSurface,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    mut audit: PendingAudit,
) -> Response {
    let prepared = prepare(state, surface, headers, body, &mut audit);
    let (caller, request, requested) = match prepared {
        Ok(ready) => ready,
        Err(error) => return audit.answer_error(error),
    };
    let facts = access::facts_for(
        &caller,
        surface,
        Some(&request),
        state.origin.country(peer, headers),
    );
    let book = state.directives.current();
    let decision = access::decide(&book, &caller, &facts, &request.model, Utc::now());
    access::record(&mut audit.record, facts, &decision);
    let entry = match served_entry(state, surface, &requested, &decision) {
        Ok(entry) => entry,
        Err(refusal) => return audit.refuse(*refusal),
    };
    audit.decision = Some(decision);
    let forwarded = forwarded_headers(headers);
    let body = match upstream_body(&request, &entry) {
        Ok(body) => body,
        Err(error) => return audit.answer_error(untranslatable(surface, &entry, &error)),
    };
    let call = UpstreamCall {
        body,
        upstream_model: &entry.model.upstream,
        stream: request.stream,
    };
    audit.mark_upstream_start();
    let sent = state.upstream.send(&entry.provider, call, &forwarded).await;
    audit.mark_upstream_end();
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(error) => {
            count_upstream_error(state, &entry, error.class());
            return audit.answer_error(upstream_unreachable(surface, &entry, &error));
        }
    };
    audit.record.upstream_status = Some(upstream.status);
    if !(200..300).contains(&upstream.status) {
        return relay_upstream_error(state, surface, &entry, upstream, audit).await;
    }
    audit.record.served_model = Some(entry.model.name.clone());
    let is_sse = upstream
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if request.stream && is_sse {
        stream_answer(surface, &request, &entry, upstream, audit)
    } else {
        whole_answer(surface, &entry, upstream, audit).await
    }
}

/// The body for the provider: the client's own body (model id swapped) when the provider speaks
/// the client's format, otherwise the request translated into the provider's format.
fn upstream_body(request: &ClientRequest, entry: &ModelEntry) -> Result<Vec<u8>, TranslateError> {
    let target = entry.provider.kind.format();
    if target == WireFormat::from(request.surface) {
        return Ok(request.upstream_body(&entry.model.upstream));
    }
    let options = RenderOptions {
        default_max_tokens: entry.provider.default_max_tokens,
        // Only OpenAI's own API insists on the newer name; compatible servers read the older.
        legacy_max_tokens: entry.provider.base_url.host_str() != Some("api.openai.com"),
    };
    request.translated_body(target, &entry.model.upstream, &options)
}

/// A request the serving model's API cannot express: 400, naming the field.
fn untranslatable(surface: ApiSurface, entry: &ModelEntry, error: &TranslateError) -> ApiError {
    ApiError::new(
        surface,
        StatusCode::BAD_REQUEST,
        ErrorKind::InvalidRequest,
        "untranslatable",
        format!("model `{}`: {error}", entry.model.name),
    )
    .with_code("untranslatable")
    .with_param(error.field())
}

/// Whether the answer comes back in another format than the client's.
fn is_translated(surface: ApiSurface, entry: &ModelEntry) -> bool {
    entry.provider.kind.format() != WireFormat::from(surface)
}

/// What an answer written for the client says that the provider's answer may not.
fn answer_names(request_id: &str, entry: &ModelEntry, include_usage: bool) -> EncoderOptions {
    EncoderOptions {
        model: entry.model.name.clone(),
        fallback_id: format!("gen-{request_id}"),
        created: Utc::now().timestamp(),
        include_usage,
    }
}

/// Authenticate, read the body, resolve the model: everything before a decision.
fn prepare(
    state: &AppState,
    surface: ApiSurface,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    audit: &mut PendingAudit,
) -> Result<(Caller, ClientRequest, ModelEntry), ApiError> {
    let caller = authenticate(&state.registry, headers, surface)?;
    audit.set_caller(&caller);
    let body = read_body(surface, body, state.config.server.max_body_bytes)?;
    let request = ClientRequest::parse(surface, &body).map_err(|e| {
        ApiError::new(
            surface,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "invalid_request",
            e.to_string(),
        )
    })?;
    audit.record.requested_model = Some(request.model.clone());
    audit.record.stream = request.stream;
    let entry = resolve_model(state, surface, &request.model)?;
    audit.metrics_model = Some(entry.model.name.clone());
    Ok((caller, request, entry))
}

/// The model that serves after the decision: the requested one, or a reroute target (which
/// the decision has already checked this caller may use). A denial, or a reroute target this
/// endpoint cannot reach, is the HTTP 451 refusal.
fn served_entry(
    state: &AppState,
    surface: ApiSurface,
    requested: &ModelEntry,
    decision: &clearance_policy::Decision,
) -> Result<ModelEntry, Box<Response>> {
    let blocked_by = state
        .config
        .directives
        .as_ref()
        .and_then(|d| d.blocked_by.as_ref())
        .map(url::Url::as_str);
    let refuse = |note: Option<&str>| {
        Box::new(access::denial(
            surface,
            &requested.model.name,
            decision,
            blocked_by,
            note,
        ))
    };
    match &decision.outcome {
        Outcome::Allow => Ok(requested.clone()),
        Outcome::Deny => Err(refuse(None)),
        Outcome::Reroute { to } => match state.models.get(to) {
            Some(target) => Ok(target.clone()),
            None => Err(refuse(Some(&format!(
                "The directive reroutes to `{to}`, which this gateway does not serve."
            )))),
        },
    }
}

fn read_body(
    surface: ApiSurface,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                surface,
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::RequestTooLarge,
                "request_too_large",
                format!("the request body is larger than this gateway's limit of {limit} bytes"),
            )
            .with_code("request_too_large")
        } else {
            ApiError::new(
                surface,
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                "invalid_request",
                rejection.body_text(),
            )
        }
    })
}

fn resolve_model(
    state: &AppState,
    surface: ApiSurface,
    name: &str,
) -> Result<ModelEntry, ApiError> {
    state.models.get(name).cloned().ok_or_else(|| {
        ApiError::new(
            surface,
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "unknown_model",
            format!("the model `{name}` does not exist on this gateway; GET /v1/models lists the models you can use"),
        )
        .with_code("model_not_found")
    })
}

fn forwarded_headers(headers: &HeaderMap) -> ForwardedHeaders {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    ForwardedHeaders {
        anthropic_version: text("anthropic-version"),
        anthropic_beta: text("anthropic-beta"),
    }
}

fn upstream_unreachable(
    surface: ApiSurface,
    entry: &ModelEntry,
    error: &UpstreamError,
) -> ApiError {
    let (status, kind) = match error {
        UpstreamError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, ErrorKind::Api),
        _ => (StatusCode::BAD_GATEWAY, ErrorKind::Api),
    };
    ApiError::new(
        surface,
        status,
        kind,
        error.class(),
        format!("model `{}`: {error}", entry.model.name),
    )
    .with_code("upstream_error")
}

fn count_upstream_error(state: &AppState, entry: &ModelEntry, class: &'static str) {
    state
        .metrics
        .upstream_errors
        .get_or_create(&UpstreamErrorLabels {
            model: entry.model.name.clone(),
            class,
        })
        .inc();
}

/// The provider answered with an error status: the client gets that status, in its own shape,
/// with the provider's `retry-after`. A 401 from the provider is about the gateway's own
/// credentials, not the client's key, so it becomes a 502 that says so.
async fn relay_upstream_error(
    state: &AppState,
    surface: ApiSurface,
    entry: &ModelEntry,
    upstream: UpstreamResponse,
    mut audit: PendingAudit,
) -> Response {
    let status = upstream.status;
    let retry_after = upstream.retry_after.clone();
    audit.mark_upstream_start();
    let body = upstream.collect().await.unwrap_or_default();
    audit.mark_upstream_end();
    if status == 401 {
        count_upstream_error(state, entry, "upstream_credentials");
        return audit.answer_error(provider_refused_credentials(surface, entry));
    }
    count_upstream_error(state, entry, "upstream_status");
    let origin = UpstreamOrigin {
        provider: &entry.provider.name,
        format: entry.provider.kind.format(),
        upstream_model: &entry.model.upstream,
        client_model: &entry.model.name,
    };
    let json = upstream_error_body(surface, status, origin, &body);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    audit.record.error_class = Some("upstream_status".into());
    let mut response = (status, axum::Json(json)).into_response();
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    audit.finish_response(response)
}

fn provider_refused_credentials(surface: ApiSurface, entry: &ModelEntry) -> ApiError {
    ApiError::new(
        surface,
        StatusCode::BAD_GATEWAY,
        ErrorKind::Api,
        "upstream_credentials",
        format!(
            "provider `{}` refused the gateway's credentials for model `{}`; this is a gateway configuration \
             problem, not a problem with your key",
            entry.provider.name, entry.model.name
        ),
    )
    .with_code("upstream_credentials")
}

/// A non-streaming answer: read whole, shown under the client's model name.
async fn whole_answer(
    surface: ApiSurface,
    entry: &ModelEntry,
    upstream: UpstreamResponse,
    mut audit: PendingAudit,
) -> Response {
    let status = StatusCode::from_u16(upstream.status).unwrap_or(StatusCode::OK);
    audit.mark_upstream_start();
    let collected = upstream.collect().await;
    audit.mark_upstream_end();
    let body = match collected {
        Ok(body) => body,
        Err(error) => return audit.answer_error(upstream_unreachable(surface, entry, &error)),
    };
    let (body, usage) = if is_translated(surface, entry) {
        let names = answer_names(&audit.record.id, entry, false);
        let from = entry.provider.kind.format();
        match translate_response(from, surface.into(), &body, &names) {
            Ok(translated) => translated,
            Err(error) => return audit.answer_error(unreadable_answer(surface, entry, &error)),
        }
    } else {
        rewrite_response(surface, &body, &entry.model.name)
    };
    audit.set_usage(usage);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_header(&mut response, SERVED_MODEL, &entry.model.name);
    audit.finish_response(response)
}

/// The provider's answer could not be read in its own format: 502, saying what was wrong.
fn unreadable_answer(surface: ApiSurface, entry: &ModelEntry, error: &TranslateError) -> ApiError {
    ApiError::new(
        surface,
        StatusCode::BAD_GATEWAY,
        ErrorKind::Api,
        "upstream_unreadable",
        format!(
            "model `{}`: the provider's answer could not be read as {}: {error}",
            entry.model.name,
            entry.provider.kind.format().title()
        ),
    )
    .with_code("upstream_error")
}

/// A streamed answer: relayed event by event as the provider sends it.
fn stream_answer(
    surface: ApiSurface,
    request: &ClientRequest,
    entry: &ModelEntry,
    upstream: UpstreamResponse,
    mut audit: PendingAudit,
) -> Response {
    let wants_usage = request.client_wants_usage_chunk();
    let rewriter: Box<dyn StreamRewrite> = if is_translated(surface, entry) {
        let names = answer_names(&audit.record.id, entry, wants_usage);
        let from = entry.provider.kind.format();
        Box::new(StreamTranslator::new(from, surface.into(), names))
    } else {
        let strip_usage = surface == ApiSurface::OpenaiChat && !wants_usage;
        Box::new(SseRewriter::new(surface, &entry.model.name, strip_usage))
    };
    // Until the stream ends properly, a dropped body means the client went away.
    audit.record.error_class = Some("client_disconnected".into());
    audit.record.status = 200;
    let mut response = Response::new(Body::empty());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set_header(&mut response, SERVED_MODEL, &entry.model.name);
    stamp(&mut response, &audit);
    let relay = Relay {
        upstream: upstream.body,
        rewriter,
        audit,
        surface,
        done: false,
    };
    *response.body_mut() = Body::from_stream(futures::stream::unfold(relay, Relay::next_bytes));
    response
}

/// State of one relayed stream; owns the pending audit record, so the record is written when
/// the stream ends however it ends.
struct Relay {
    upstream: BoxStream<'static, Result<Bytes, UpstreamError>>,
    rewriter: Box<dyn StreamRewrite>,
    audit: PendingAudit,
    surface: ApiSurface,
    done: bool,
}

impl Relay {
    async fn next_bytes(mut self) -> Option<(Result<Bytes, Infallible>, Relay)> {
        if self.done {
            return None;
        }
        loop {
            let waited = Instant::now();
            let next = self.upstream.next().await;
            self.audit.add_upstream_wait(waited.elapsed());
            match next {
                Some(Ok(chunk)) => {
                    let out = self.rewriter.push(&chunk);
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), self));
                    }
                }
                Some(Err(error)) => return Some((Ok(self.end_with_error(&error)), self)),
                None => return self.end_normally(),
            }
        }
    }

    fn end_normally(mut self) -> Option<(Result<Bytes, Infallible>, Relay)> {
        self.done = true;
        // Finishing first: a format with no terminal event (Gemini) completes on close.
        let rest = self.rewriter.finish();
        self.audit.set_usage(self.rewriter.usage());
        self.audit.record.error_class = if !self.rewriter.completed() {
            Some("upstream_stream_incomplete".into())
        } else if self.rewriter.upstream_error() {
            Some("upstream_stream_error".into())
        } else {
            None
        };
        if rest.is_empty() {
            None
        } else {
            Some((Ok(Bytes::from(rest)), self))
        }
    }

    /// The provider broke off mid-stream: tell the client in its own stream format.
    fn end_with_error(&mut self, error: &UpstreamError) -> Bytes {
        self.done = true;
        self.audit.set_usage(self.rewriter.usage());
        self.audit.record.error_class = Some("upstream_stream_broken".into());
        let message = error.to_string();
        let body = error_body(
            self.surface,
            ErrorKind::Api,
            &message,
            Some("upstream_stream_broken"),
        );
        let mut out = self.rewriter.finish();
        match self.surface {
            ApiSurface::OpenaiChat => out.extend_from_slice(format!("data: {body}\n\n").as_bytes()),
            ApiSurface::AnthropicMessages => {
                out.extend_from_slice(format!("event: error\ndata: {body}\n\n").as_bytes())
            }
        }
        Bytes::from(out)
    }
}

/// The audit record of a request in flight. Whatever path the request takes, the record is
/// handed to the writer exactly once, when this value is dropped.
pub struct PendingAudit {
    slot: Option<AuditSlot>,
    record: AuditRecord,
    metrics: Arc<Metrics>,
    started: Instant,
    upstream_wait: Duration,
    upstream_since: Option<Instant>,
    /// The configured model, once resolved; metrics never take a label from unchecked input.
    metrics_model: Option<String>,
    /// The access decision, once made: every answer after it says what it was.
    decision: Option<clearance_policy::Decision>,
}

impl PendingAudit {
    fn new(
        slot: AuditSlot,
        metrics: Arc<Metrics>,
        record: AuditRecord,
        started: Instant,
    ) -> PendingAudit {
        PendingAudit {
            slot: Some(slot),
            record,
            metrics,
            started,
            upstream_wait: Duration::ZERO,
            upstream_since: None,
            metrics_model: None,
            decision: None,
        }
    }

    fn set_caller(&mut self, caller: &Caller) {
        self.record.key_id = Some(caller.key_id.to_string());
        self.record.principal_id = Some(caller.principal.id.to_string());
    }

    fn set_usage(&mut self, usage: Usage) {
        self.record.input_tokens = usage.input_tokens;
        self.record.output_tokens = usage.output_tokens;
    }

    fn mark_upstream_start(&mut self) {
        self.upstream_since = Some(Instant::now());
    }

    fn mark_upstream_end(&mut self) {
        if let Some(since) = self.upstream_since.take() {
            self.upstream_wait += since.elapsed();
        }
    }

    fn add_upstream_wait(&mut self, waited: Duration) {
        self.upstream_wait += waited;
    }

    /// The gateway's own time so far.
    fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.upstream_wait)
    }

    /// A refusal built elsewhere (HTTP 451): recorded as a denial by a directive (also when a
    /// reroute's target cannot be reached on this endpoint).
    fn refuse(mut self, response: Response) -> Response {
        self.record.decision = Decision::Deny;
        self.record.error_class = Some("directive".to_string());
        self.finish_response(response)
    }

    fn answer_error(mut self, error: ApiError) -> Response {
        self.record.error_class = Some(error.class.to_string());
        self.finish_response(error.into_response())
    }

    /// Stamps the response and hands the record over once the body has been sent: the
    /// audit hand-off (and any wake-up of the writer) stays off the client's critical path.
    fn finish_response(mut self, mut response: Response) -> Response {
        self.record.status = response.status().as_u16();
        stamp(&mut response, &self);
        response.map(|body| {
            Body::new(AuditedBody {
                inner: body,
                audit: Some(self),
            })
        })
    }
}

/// A response body that holds its request's [`PendingAudit`] until the body has been sent (or
/// dropped, if the client went away), and commits it then.
struct AuditedBody {
    inner: Body,
    audit: Option<PendingAudit>,
}

impl http_body::Body for AuditedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.audit.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Adds the request id, the overhead so far and, once decided, the decision.
fn stamp(response: &mut Response, audit: &PendingAudit) {
    if let Some(decision) = &audit.decision {
        access::stamp_decision(response, decision);
    }
    set_header(response, REQUEST_ID, &audit.record.id);
    set_header(response, OVERHEAD_MS, &millis(audit.overhead()));
}

impl Drop for PendingAudit {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let overhead = self.overhead();
        let duration = self.started.elapsed();
        self.record.duration_us = duration.as_micros() as u64;
        self.record.overhead_us = overhead.as_micros() as u64;
        let model = self.metrics_model.take().unwrap_or_else(|| "-".into());
        record_metrics(&self.metrics, &self.record, model, duration, overhead);
        let api = self.record.api;
        let record = std::mem::replace(&mut self.record, base_record("", api));
        slot.commit(record);
    }
}

fn record_metrics(
    metrics: &Metrics,
    record: &AuditRecord,
    model: String,
    duration: Duration,
    overhead: Duration,
) {
    metrics
        .requests
        .get_or_create(&RequestLabels {
            model: model.clone(),
            api: record.api.as_str(),
            status: record.status,
        })
        .inc();
    for (ids, effect) in [
        (&record.directive_ids, record.decision.as_str()),
        (&record.shadow_hits, "shadow"),
    ] {
        for directive in ids {
            metrics
                .directive_hits
                .get_or_create(&DirectiveLabels {
                    directive: directive.clone(),
                    effect,
                })
                .inc();
        }
    }
    let labels = ModelLabels { model };
    metrics
        .duration
        .get_or_create(&labels)
        .observe(duration.as_secs_f64());
    metrics
        .overhead
        .get_or_create(&labels)
        .observe(overhead.as_secs_f64());
}

fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}
