//! The request path, top to bottom:
//!
//! reserve audit places → authenticate the key → load the principal's facts → read the
//! body → resolve the model → decide → record the decision (its commit runs while the provider
//! is called) → call the provider → wait until the decision record is durable → stream or send
//! the answer back → record the completion (on every path, including errors and client
//! hang-ups, through [`PendingAudit`]'s `Drop`).
//!
//! No answer leaves before its request's decision record is durable: every response is built
//! with an [`AnswerGate`] in its extensions, and [`handle`] waits on it (bounded by
//! `audit.max_wait_ms`, then 503) before the response is returned to hyper.
//!
//! Every answer carries `x-clearance-request-id` (the audit record's id) and
//! `x-clearance-overhead-ms` (the gateway's own time so far, excluding waits on the provider);
//! an answer a model produced also carries `x-clearance-served-model`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use clearance_config::Secret;
use clearance_core::api::{ApiSurface, Operation};
use clearance_core::audit::{AuditRecord, Decision, Phase, TokenCaller};
use clearance_policy::Outcome;
use clearance_upstream::{ForwardedHeaders, UpstreamError};
use clearance_wire::Usage;
use clearance_wire::error::{
    ErrorKind, UpstreamOrigin, error_body, error_body_with_status, upstream_error_body,
};
use clearance_wire::redact::{redact_known, redact_secrets};
use clearance_wire::request::ClientRequest;
use clearance_wire::sse::{JsonArrayWriter, StreamRewrite};
use clearance_wire::translate::TranslateError;
use futures::stream::BoxStream;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::access::{self, Candidates};
use crate::audit_writer::{AuditSlot, AuditUnavailable, Durable, Placement};
use crate::auth::{Caller, Credential, authenticate};
use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::failover::{
    self, Answer, AnswerLimits, Ask, Ending, Failure, NotServed, Served, next_output,
};
use crate::kept::{Keep, StreamKeeper};
use crate::limits::{BodyFailure, InFlightGuard};
use crate::metrics::{DirectiveLabels, Metrics, ModelLabels, RequestLabels, UpstreamErrorLabels};
use crate::state::{AppState, ModelEntry};

pub const REQUEST_ID: &str = "x-clearance-request-id";
pub const SERVED_MODEL: &str = "x-clearance-served-model";
pub const OVERHEAD_MS: &str = "x-clearance-overhead-ms";
/// Where the request's decision record sits in the verifiable log:
/// `log=<id>; index=<leaf>; leaf=<base64 leaf hash>; policy=<version>`. With it the caller asks
/// `GET /audit/receipt/{request id}` for the proof, once a checkpoint covers the record.
pub const RECEIPT: &str = "x-clearance-receipt";

/// What a Gemini request's path says: the model, whether to stream, and how.
#[derive(Debug, Clone)]
pub struct GeminiPath {
    /// The model segment of `/v1beta/models/{model}:{method}` (the `models/` prefix optional).
    pub model: String,
    /// `:streamGenerateContent` rather than `:generateContent`.
    pub stream: bool,
    /// `alt=sse`: server-sent events. Without it Google streams one JSON array, which the
    /// gateway writes from the same events ([`JsonArrayWriter`]).
    pub sse: bool,
}

/// Serves one model request on `surface` (whose body names the model) from the connection
/// peer `peer`.
pub async fn handle(
    state: AppState,
    surface: ApiSurface,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BodyFailure>,
) -> Response {
    handle_route(state, surface, None, peer, headers, body).await
}

/// Serves one Gemini `generateContent` / `streamGenerateContent` request.
pub async fn handle_gemini(
    state: AppState,
    path: GeminiPath,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BodyFailure>,
) -> Response {
    handle_route(state, ApiSurface::Gemini, Some(path), peer, headers, body).await
}

async fn handle_route(
    state: AppState,
    surface: ApiSurface,
    gemini: Option<GeminiPath>,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Result<Bytes, BodyFailure>,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::now_v7().to_string();
    let slot = match state.audit.reserve().await {
        Ok(slot) => slot,
        Err(unavailable) => {
            record_refusal(&state, surface, &request_id, started, unavailable);
            return refuse_unaudited(&state, surface, &request_id, started, unavailable);
        }
    };
    let audit = PendingAudit::new(
        slot,
        Arc::clone(&state.metrics),
        AuditRecord::new_request(request_id.clone(), Utc::now(), surface),
        started,
    );
    let mut response = serve(
        &state,
        surface,
        gemini.as_ref(),
        peer,
        &headers,
        body,
        audit,
    )
    .await;
    let Some(gate) = response.extensions_mut().remove::<AnswerGate>() else {
        return response;
    };
    match gate.wait().await {
        Ok(placement) => {
            if let Some(placement) = placement {
                gate.attach_receipt(&mut response, placement);
            }
            response
        }
        Err(unavailable) => {
            // The answer is dropped unsent (its completion record says what the client got);
            // the decision record stays queued and is stored when the store comes back.
            drop(response);
            refuse_unaudited(&state, surface, &request_id, started, unavailable)
        }
    }
}

/// Shared by a request's response and its [`PendingAudit`]: the decision record's ticket, which
/// [`handle`] waits on before answering, and whether that wait failed (the client then got a
/// 503 instead, and the completion record says so).
#[derive(Clone)]
struct AnswerGate(Arc<GateState>);

struct GateState {
    ticket: std::sync::Mutex<Option<Durable>>,
    max_wait: Duration,
    failed: AtomicBool,
    /// This process's log, and the policy version that decided: for the receipt header.
    log_id: String,
    policy_version: Option<String>,
}

impl AnswerGate {
    /// Waits for the decision record; where it landed in the log, the first time.
    async fn wait(&self) -> Result<Option<Placement>, AuditUnavailable> {
        let ticket = self
            .0
            .ticket
            .lock()
            .map(|mut t| t.take())
            .unwrap_or_default();
        let Some(ticket) = ticket else {
            return Ok(None);
        };
        let waited = ticket.wait(self.0.max_wait).await;
        if waited.is_err() {
            self.0.failed.store(true, Ordering::Release);
        }
        waited.map(Some)
    }

    fn attach_receipt(&self, response: &mut Response, placement: Placement) {
        let value = format!(
            "log={}; index={}; leaf={}; policy={}",
            self.0.log_id,
            placement.index,
            placement.leaf.to_base64(),
            self.0.policy_version.as_deref().unwrap_or("none")
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(RECEIPT, value);
        }
    }

    fn failed(&self) -> bool {
        self.0.failed.load(Ordering::Acquire)
    }
}

/// A request refused before it could reserve room for its records: nothing was decided or
/// served, but the refusal itself goes on the record when there is room, stored once the
/// store takes records again.
fn record_refusal(
    state: &AppState,
    surface: ApiSurface,
    request_id: &str,
    started: Instant,
    unavailable: AuditUnavailable,
) {
    let mut record = AuditRecord::new_request(request_id.to_string(), Utc::now(), surface);
    record.status = StatusCode::SERVICE_UNAVAILABLE.as_u16();
    record.error_class = Some(unavailable.code().to_string());
    record.duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state.audit.try_commit(record);
}

/// The audit queue is full or the store is stalled: refuse without serving (fail closed).
/// Nothing was served, so no answer is missing a record; the refusal shows in the metrics.
fn refuse_unaudited(
    state: &AppState,
    surface: ApiSurface,
    request_id: &str,
    started: Instant,
    unavailable: AuditUnavailable,
) -> Response {
    match unavailable {
        AuditUnavailable::Overloaded => state.metrics.audit_overloaded.inc(),
        AuditUnavailable::StoreStalled => state.metrics.store_unavailable.inc(),
    };

    let error = ApiError::new(
        surface,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Overloaded,
        unavailable.code(),
        unavailable.to_string(),
    )
    .with_code(unavailable.code());
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
    gemini: Option<&GeminiPath>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BodyFailure>,
    mut audit: PendingAudit,
) -> Response {
    let prepared = prepare(state, surface, gemini, headers, body, &mut audit).await;
    let Prepared {
        caller,
        request,
        requested,
        keep,
    } = match prepared {
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
    if book.covers(&requested.model.name)
        && state.freshness.stale(state.config.store.max_policy_age_ms)
    {
        return audit.answer_error(stale_policy(state, surface, &requested.model.name));
    }
    let decision = access::decide(&book, &caller, &facts, &request.model, Utc::now());
    let (first, first_forbidden) = match first_target(state, surface, &requested, &decision) {
        Ok(first) => first,
        Err(refusal) => {
            access::record(&mut audit.record, facts, &decision);
            return audit.refuse(*refusal);
        }
    };
    let forwarded = forwarded_headers(headers);
    let request_id = audit.record.id.clone();
    let exchange = Exchange::new(&request, &forwarded, &request_id);
    // Policy before availability: every model of the route judged for this caller now, so
    // the attempt loop only walks what may serve.
    let route = state.failover.route_models(&first.model.name);
    let candidates = Candidates::judge(&book, &caller, &facts, &route, first_forbidden, Utc::now());
    let ask = Ask {
        state,
        exchange: &exchange,
        candidates: &candidates,
        started: audit.started,
    };
    // Recorded before the attempts, and committed while they run: a caller who hangs up
    // mid-call still leaves the decision and its facts in the record, and the answer waits
    // only for whatever of the commit the provider call did not hide.
    access::record(&mut audit.record, facts.clone(), &decision);
    audit.record_decision();
    let attempted = failover::attempt(&ask, &first).await;
    audit.decision = Some(decision);
    audit.add_upstream_wait(attempted.waited);
    audit.record.attempts = attempted.attempts;
    match attempted.ending {
        Ending::Served(served) => {
            if attempted.fell_back {
                audit.fall_back(&requested.model.name);
            }
            if let Answer::Whole { body, .. } = &served.answer
                && surface.operation() == Operation::Generate
            {
                crate::capture::maybe_capture(
                    state,
                    caller.app.as_deref(),
                    &request,
                    &served.entry.model.name,
                    body,
                );
            }
            // Kept before the client has it whole, so it can be continued at once.
            // Read only when kept: other answers are relayed as bytes.
            let whole = match (&keep, &served.answer) {
                (Some(_), Answer::Whole { body, .. }) => Some(serde_json::from_slice(body)),
                _ => None,
            };
            let keeper = match (keep, whole) {
                (Some(keep), Some(response)) => {
                    keep.save_read(state, response).await;
                    None
                }
                (Some(keep), None) => Some(StreamKeeper::new(keep, state.clone())),
                (None, _) => None,
            };
            // Gemini without `alt=sse`: the stream is one JSON array.
            let json_array = gemini.is_some_and(|path| !path.sse);
            answer_served(surface, served, json_array, keeper, audit)
        }
        Ending::ReturnToCaller(failure) => answer_failure(state, surface, failure, audit),
        Ending::NotServed(not_served) => {
            answer_not_served(state, surface, &requested, not_served, audit)
        }
    }
}

/// This replica could not read the store's policy for longer than `max_policy_age_ms`: a
/// directive activated meanwhile elsewhere may be missing here, so models directives cover
/// fail closed (451) until the store is back.
fn stale_policy(state: &AppState, surface: ApiSurface, model: &str) -> ApiError {
    let age = state.freshness.age().as_secs();
    ApiError::new(
        surface,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        ErrorKind::LegalBlock,
        "policy_stale",
        format!(
            "`{model}` is subject to access directives, and this gateway has not been able to \
             read the current directive set for {age} s (more than the allowed {} ms); it \
             refuses such models until it can. Try again shortly.",
            state.config.store.max_policy_age_ms
        ),
    )
    .with_code("policy_stale")
}

/// The first model to try after the decision: the requested one, or a reroute target (which
/// the decision has already checked this caller may use), with the denial when the caller may
/// not use the requested model but its route has fallbacks to try. A denial without
/// fallbacks, or a reroute target this endpoint cannot reach, is the HTTP 451 refusal.
fn first_target(
    state: &AppState,
    surface: ApiSurface,
    requested: &ModelEntry,
    decision: &clearance_policy::Decision,
) -> Result<(ModelEntry, Option<clearance_policy::Decision>), Box<Response>> {
    match &decision.outcome {
        Outcome::Deny if state.failover.has_fallbacks(&requested.model.name) => {
            Ok((requested.clone(), Some(decision.clone())))
        }
        _ => served_entry(state, surface, requested, decision).map(|entry| (entry, None)),
    }
}

/// A model answered: relay its answer (whole, or streamed event by event; as a JSON array for
/// a Gemini client that did not ask for `alt=sse`).
fn answer_served(
    surface: ApiSurface,
    served: Served,
    json_array: bool,
    keeper: Option<StreamKeeper>,
    mut audit: PendingAudit,
) -> Response {
    let Served {
        entry,
        status,
        answer,
    } = served;
    audit.record.upstream_status = Some(status);
    audit.record.served_model = Some(entry.model.name.clone());
    match answer {
        Answer::Whole { body, usage } => {
            audit.set_usage(usage);
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            set_header(&mut response, SERVED_MODEL, &entry.model.name);
            audit.finish_response(response)
        }
        Answer::Stream {
            rewriter,
            first,
            rest,
            limits,
        } => {
            let array = json_array.then(JsonArrayWriter::default);
            let stream = ClientStream {
                rewriter,
                array,
                keeper,
            };
            stream_answer(surface, &entry, stream, first, rest, limits, audit)
        }
    }
}

/// The request failed on a model in a way that is the caller's to see: the provider's error
/// in the client's shape, a 502/504 when it could not be reached, a 400 when the request
/// cannot be expressed in the model's API.
fn answer_failure(
    state: &AppState,
    surface: ApiSurface,
    failure: Failure,
    audit: PendingAudit,
) -> Response {
    match failure {
        Failure::Status {
            entry,
            status,
            body,
            retry_after,
        } => relay_upstream_error(state, surface, &entry, status, &body, retry_after, audit),
        Failure::Transport { entry, error } => {
            count_upstream_error(state, &entry, error.class());
            audit.answer_error(upstream_unreachable(surface, &entry, &error))
        }
        Failure::Untranslatable { entry, error } => {
            audit.answer_error(untranslatable(surface, &entry, &error))
        }
        Failure::Unreadable { entry, error } => {
            audit.answer_error(unreadable_answer(surface, &entry, &error))
        }
    }
}

/// No model on the route served. When every one was forbidden to this caller: 451 naming the
/// directives. When one was tried and failed: that failure. When every one was skipped
/// without a call (open breaker, unhealthy provider, kill switch): 503, with `retry-after`.
fn answer_not_served(
    state: &AppState,
    surface: ApiSurface,
    requested: &ModelEntry,
    not_served: NotServed,
    mut audit: PendingAudit,
) -> Response {
    let all_forbidden = not_served.everything_forbidden();
    let NotServed {
        last_failure,
        forbidden,
        disabled,
        retry_in,
        ..
    } = not_served;
    if all_forbidden && let Some((_, decision)) = forbidden.first() {
        let blocked_by = blocked_by(state);
        let mut ids = audit.record.directive_ids.clone();
        let mut also = Vec::new();
        for (model, other) in forbidden.iter().skip(1) {
            let other_ids = other.directive_ids();
            also.push(format!("`{model}` ({})", other_ids.join(", ")));
            ids.extend(other_ids);
        }
        ids.dedup();
        audit.record.directive_ids = ids;
        let note = (!also.is_empty())
            .then(|| format!("Its fallbacks are refused to you too: {}.", also.join(", ")));
        let response = access::denial(
            surface,
            &requested.model.name,
            decision,
            blocked_by,
            note.as_deref(),
        );
        return audit.refuse(response);
    }
    if let Some(failure) = last_failure {
        return answer_failure(state, surface, failure, audit);
    }
    let (code, message) =
        unavailable_message(&requested.model.name, &audit.record.attempts, &disabled);
    let mut response = ApiError::new(
        surface,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Overloaded,
        code,
        message,
    )
    .with_code(code)
    .into_response();
    let seconds = retry_in.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
    set_header(&mut response, "retry-after", &seconds.to_string());
    audit.record.error_class = Some(code.to_string());
    audit.finish_response(response)
}

/// Why no model could be called, model by model.
fn unavailable_message(
    model: &str,
    attempts: &[clearance_core::audit::Attempt],
    disabled: &[(String, String)],
) -> (&'static str, String) {
    let reasons: Vec<String> = attempts
        .iter()
        .map(|a| match disabled.iter().find(|(m, _)| *m == a.model) {
            Some((_, reason)) => format!("`{}` is disabled by an operator ({reason})", a.model),
            None => format!("`{}`: {}", a.model, a.outcome.as_str().replace('_', " ")),
        })
        .collect();
    let code = if disabled.len() == attempts.len() && !disabled.is_empty() {
        "model_disabled"
    } else {
        "no_model_available"
    };
    let message = format!(
        "model `{model}` cannot answer now and no model on its route can: {}",
        reasons.join("; ")
    );
    (code, message)
}

fn blocked_by(state: &AppState) -> Option<&str> {
    state
        .config
        .directives
        .as_ref()
        .and_then(|d| d.blocked_by.as_ref())
        .map(url::Url::as_str)
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

/// What a request is once it can be decided on.
struct Prepared {
    caller: Caller,
    request: ClientRequest,
    requested: ModelEntry,
    /// How its answer is kept (OpenAI Responses), when it is.
    keep: Option<Keep>,
}

/// Authenticate, read the body (and, for OpenAI Responses, the conversation it continues),
/// resolve the model: everything before a decision.
async fn prepare(
    state: &AppState,
    surface: ApiSurface,
    gemini: Option<&GeminiPath>,
    headers: &HeaderMap,
    body: Result<Bytes, BodyFailure>,
    audit: &mut PendingAudit,
) -> Result<Prepared, ApiError> {
    let caller = authenticate(state, headers, surface).await?;
    audit.set_caller(&caller);
    audit.in_flight = Some(in_flight_place(state, surface, &caller)?);
    let body = read_body(surface, body, state.config.server.max_body_bytes)?;
    let (body, keep) = if surface == ApiSurface::OpenaiResponses {
        crate::kept::prepare(state, &caller, &audit.record.id, body).await?
    } else {
        (body, None)
    };
    let parsed = match gemini {
        Some(path) => ClientRequest::parse_gemini(&path.model, path.stream, &body),
        None => ClientRequest::parse(surface, &body),
    };
    let request = parsed.map_err(|e| {
        let error = ApiError::new(
            surface,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "invalid_request",
            e.to_string(),
        );
        match e.param() {
            Some(param) => error.with_param(param),
            None => error,
        }
    })?;
    // A name this long names no model; refused before it can reach the record (or the error
    // message), so a client cannot grow the permanent log with it.
    if request.model.len() > state.max_model_name_bytes {
        return Err(ApiError::new(
            surface,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "model_name_too_long",
            format!(
                "`model` is {} bytes long; model names on this gateway are at most {} bytes",
                request.model.len(),
                state.max_model_name_bytes
            ),
        )
        .with_param("model"));
    }
    audit.record.requested_model = Some(request.model.clone());
    audit.record.stream = request.stream;
    let requested = resolve_model(state, surface, &request.model)?;
    audit.metrics_model = Some(requested.model.name.clone());
    Ok(Prepared {
        caller,
        request,
        requested,
        keep,
    })
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
    let blocked_by = blocked_by(state);
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
    body: Result<Bytes, BodyFailure>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|failure| match failure {
        BodyFailure::TooLarge => ApiError::new(
            surface,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RequestTooLarge,
            "request_too_large",
            format!("the request body is larger than this gateway's limit of {limit} bytes"),
        )
        .with_code("request_too_large"),
        BodyFailure::TimedOut => ApiError::new(
            surface,
            StatusCode::REQUEST_TIMEOUT,
            ErrorKind::InvalidRequest,
            "body_timeout",
            "the request body did not arrive in time",
        )
        .with_code("request_timeout"),
        BodyFailure::Broken(text) => ApiError::new(
            surface,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "invalid_request",
            format!("the request body could not be read: {text}"),
        ),
    })
}

/// A place among this key's requests in flight (`server.max_in_flight_per_key`), held by the
/// request's [`PendingAudit`] until its answer has ended; none left is 429.
fn in_flight_place(
    state: &AppState,
    surface: ApiSurface,
    caller: &Caller,
) -> Result<InFlightGuard, ApiError> {
    let cap = state.config.server.limits.max_in_flight_per_key;
    state
        .in_flight
        .acquire(&caller.in_flight_key(), cap)
        .ok_or_else(|| {
            ApiError::new(
                surface,
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimited,
                "too_many_requests",
                format!("this caller has {cap} requests in flight already; retry when one ends"),
            )
            .with_code("too_many_requests")
            .with_retry_after(1)
        })
}

fn resolve_model(
    state: &AppState,
    surface: ApiSurface,
    name: &str,
) -> Result<ModelEntry, ApiError> {
    let entry = state.models.get(name).cloned().ok_or_else(|| {
        ApiError::new(
            surface,
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "unknown_model",
            format!("the model `{name}` does not exist on this gateway; GET /v1/models lists the models you can use"),
        )
        .with_code("model_not_found")
    })?;
    let embeds = surface.operation() == Operation::Embed;
    if entry.model.is_embedding() != embeds {
        let why = if embeds {
            format!("`{name}` is a chat model; /v1/embeddings serves embedding models")
        } else {
            format!("`{name}` is an embedding model; send its requests to /v1/embeddings")
        };
        return Err(ApiError::new(
            surface,
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            "wrong_model_kind",
            why,
        )
        .with_code("model_not_supported")
        .with_param("model"));
    }
    Ok(entry)
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
/// with the provider's `retry-after`, the provider's error type (when its API documents it)
/// and a sanitised message (credentials redacted, length capped: `upstream_error_body`);
/// nothing else of the body. Operators find the whole body, redacted the same way, in the
/// log at debug level. A 401 from the provider is about the gateway's own credentials, not
/// the client's key, so it becomes a 502 that says so.
fn relay_upstream_error(
    state: &AppState,
    surface: ApiSurface,
    entry: &ModelEntry,
    status: u16,
    body: &[u8],
    retry_after: Option<String>,
    mut audit: PendingAudit,
) -> Response {
    audit.record.upstream_status = Some(status);
    // The provider's own key first: it may echo it, and it need not look like a key.
    let own_key = entry.provider.api_key.as_ref().map(Secret::expose);
    let text = String::from_utf8_lossy(body);
    let text = redact_known(&text, own_key.as_slice());
    let body = text.as_bytes();
    tracing::debug!(
        provider = %entry.provider.name,
        model = %entry.model.name,
        status,
        body = %redact_secrets(&text),
        "provider error body"
    );
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
    let json = upstream_error_body(surface, status, origin, body);
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

/// The client's side of a relayed stream: the provider's events rewritten or translated into
/// the client's server-sent events, and, for a Gemini client without `alt=sse`, those events
/// written as Google's JSON array.
struct ClientStream {
    rewriter: Box<dyn StreamRewrite>,
    array: Option<JsonArrayWriter>,
    /// Keeps an OpenAI Responses answer before its last event goes out.
    keeper: Option<StreamKeeper>,
}

impl ClientStream {
    /// Client bytes for client SSE bytes.
    fn frame(&mut self, sse: Vec<u8>) -> Vec<u8> {
        match &mut self.array {
            Some(array) => array.push(&sse),
            None => sse,
        }
    }

    /// The end of the client's stream: `]` for a JSON array, nothing for SSE.
    fn close(&mut self) -> Vec<u8> {
        self.array
            .as_mut()
            .map(JsonArrayWriter::close)
            .unwrap_or_default()
    }
}

/// A streamed answer: its first bytes (already read, so a stream that failed before them could
/// still move on to another model), then the rest relayed event by event as it arrives.
fn stream_answer(
    surface: ApiSurface,
    entry: &ModelEntry,
    mut stream: ClientStream,
    first: Bytes,
    upstream: BoxStream<'static, Result<Bytes, UpstreamError>>,
    limits: AnswerLimits,
    mut audit: PendingAudit,
) -> Response {
    // Until the stream ends properly, a dropped body means the client went away.
    audit.record.error_class = Some("client_disconnected".into());
    audit.record.status = 200;
    let mut response = Response::new(Body::empty());
    let content_type = if stream.array.is_some() {
        "application/json"
    } else {
        "text/event-stream"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set_header(&mut response, SERVED_MODEL, &entry.model.name);
    stamp(&mut response, &audit);
    audit.gate(&mut response);
    let first = Bytes::from(stream.frame(first.to_vec()));
    let relay = Relay {
        first: Some(first),
        upstream,
        stream,
        audit,
        surface,
        provider: entry.provider.name.clone(),
        limits,
        done: false,
    };
    *response.body_mut() = Body::from_stream(futures::stream::unfold(relay, Relay::next_bytes));
    response
}

/// State of one relayed stream; owns the pending audit record, so the record is written when
/// the stream ends however it ends.
struct Relay {
    /// The client bytes read before the response was sent.
    first: Option<Bytes>,
    upstream: BoxStream<'static, Result<Bytes, UpstreamError>>,
    stream: ClientStream,
    audit: PendingAudit,
    surface: ApiSurface,
    provider: String,
    limits: AnswerLimits,
    done: bool,
}

impl Relay {
    async fn next_bytes(mut self) -> Option<(Result<Bytes, Infallible>, Relay)> {
        let bytes = self.next_client_bytes().await?;
        if let Some(keeper) = &mut self.stream.keeper {
            keeper.observe(&bytes).await;
        }
        Some((Ok(bytes), self))
    }

    async fn next_client_bytes(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        let waited = Instant::now();
        let next = next_output(
            &mut self.upstream,
            self.stream.rewriter.as_mut(),
            &self.provider,
            self.limits,
        )
        .await;
        self.audit.add_upstream_wait(waited.elapsed());
        match next {
            Ok(Some(out)) => Some(Bytes::from(self.stream.frame(out.to_vec()))),
            Err(error) => Some(self.end_with_error(&error)),
            Ok(None) => self.end_normally(),
        }
    }

    fn end_normally(&mut self) -> Option<Bytes> {
        self.done = true;
        // Finishing first: a format with no terminal event (Gemini) completes on close.
        let rest = self.stream.rewriter.finish();
        let mut rest = self.stream.frame(rest);
        rest.extend(self.stream.close());
        let rewriter = &self.stream.rewriter;
        self.audit.set_usage(rewriter.usage());
        self.audit.record.error_class = if !rewriter.completed() {
            Some("upstream_stream_incomplete".into())
        } else if rewriter.upstream_error() {
            Some("upstream_stream_error".into())
        } else {
            None
        };
        (!rest.is_empty()).then(|| Bytes::from(rest))
    }

    /// The provider broke off mid-stream, stalled, or went past the event cap: tell the client
    /// in its own stream format. An unfinished event is dropped, not passed on.
    fn end_with_error(&mut self, error: &UpstreamError) -> Bytes {
        self.done = true;
        self.audit.set_usage(self.stream.rewriter.usage());
        let class = match error {
            UpstreamError::Stalled { .. } | UpstreamError::Timeout { .. } => {
                "upstream_stream_stalled"
            }
            UpstreamError::TooLarge { .. } => "upstream_event_too_large",
            _ => "upstream_stream_broken",
        };
        self.audit.record.error_class = Some(class.into());
        let message = error.to_string();
        let mut out = match error {
            // What is held is the oversized or unfinished event itself.
            UpstreamError::TooLarge { .. } | UpstreamError::Stalled { .. } => Vec::new(),
            _ => self.stream.rewriter.finish(),
        };
        out.extend_from_slice(stream_error_event(self.surface, &message, class).as_bytes());
        let mut out = self.stream.frame(out);
        out.extend(self.stream.close());
        Bytes::from(out)
    }
}

/// The event that tells a streaming client of `surface` its stream broke off, in that API's
/// own stream format: OpenAI Chat `data: {"error": ...}`; Anthropic `event: error`; OpenAI
/// Responses an `error` event (`type`, `code`, `message`, `param`); Gemini a chunk holding
/// Google's `{"error": {"code", "message", "status"}}` (an element of the JSON array when the
/// client did not ask for `alt=sse`).
fn stream_error_event(surface: ApiSurface, message: &str, class: &str) -> String {
    match surface {
        // Embeddings and token counts are never streamed.
        ApiSurface::OpenaiChat | ApiSurface::OpenaiEmbeddings => {
            let body = error_body(surface, ErrorKind::Api, message, Some(class));
            format!("data: {body}\n\n")
        }
        ApiSurface::AnthropicMessages | ApiSurface::AnthropicCountTokens => {
            let body = error_body(surface, ErrorKind::Api, message, Some(class));
            format!("event: error\ndata: {body}\n\n")
        }
        ApiSurface::OpenaiResponses => {
            let body = serde_json::json!({
                "type": "error", "code": class, "message": message, "param": null,
            });
            format!("event: error\ndata: {body}\n\n")
        }
        ApiSurface::Gemini => {
            let status = StatusCode::BAD_GATEWAY.as_u16();
            let body =
                error_body_with_status(surface, status, ErrorKind::Api, message, Some(class));
            format!("data: {body}\n\n")
        }
    }
}

/// The audit records of a request in flight: its decision record, handed over once the
/// decision is made (or, for a request refused earlier, when its answer is built), and its
/// completion record, handed over exactly once, when this value is dropped.
pub struct PendingAudit {
    slot: Option<AuditSlot>,
    record: AuditRecord,
    /// Set once the decision record is handed over.
    gate: Option<AnswerGate>,
    metrics: Arc<Metrics>,
    started: Instant,
    upstream_wait: Duration,
    /// The configured model, once resolved; metrics never take a label from unchecked input.
    metrics_model: Option<String>,
    /// The access decision, once made: every answer after it says what it was.
    decision: Option<clearance_policy::Decision>,
    /// Served by a fallback: the answer says so (`x-clearance-decision: fallback`).
    fallback: bool,
    /// This request's place among its key's requests in flight, given back with the record.
    in_flight: Option<InFlightGuard>,
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
            gate: None,
            metrics,
            started,
            upstream_wait: Duration::ZERO,
            metrics_model: None,
            decision: None,
            fallback: false,
            in_flight: None,
        }
    }

    /// Hands the decision record over (once): everything known so far about who asked for what
    /// and what was decided. Its commit starts now; the answer waits for it.
    fn record_decision(&mut self) {
        if self.gate.is_some() {
            return;
        }
        let Some(slot) = self.slot.as_mut() else {
            return;
        };
        let decision = AuditRecord {
            phase: Phase::Decision,
            ..self.record.clone()
        };
        let max_wait = slot.max_wait();
        let log_id = slot.log_id().to_string();
        let policy_version = decision.policy_version.clone();
        let ticket = slot.submit_durable(decision);
        self.gate = Some(AnswerGate(Arc::new(GateState {
            ticket: std::sync::Mutex::new(Some(ticket)),
            max_wait,
            failed: AtomicBool::new(false),
            log_id,
            policy_version,
        })));
    }

    /// Makes the response wait for the decision record (recording it now if that has not
    /// happened yet).
    fn gate(&mut self, response: &mut Response) {
        self.record_decision();
        if let Some(gate) = &self.gate {
            response.extensions_mut().insert(gate.clone());
        }
    }

    fn set_caller(&mut self, caller: &Caller) {
        match &caller.credential {
            Credential::Key(id) => self.record.key_id = Some(id.to_string()),
            Credential::Token { issuer, subject } => {
                self.record.token = Some(TokenCaller {
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                });
            }
        }
        self.record.principal_id = Some(caller.principal.id.to_string());
    }

    /// The answer comes from a fallback on `requested`'s route.
    fn fall_back(&mut self, requested: &str) {
        self.fallback = true;
        self.record.decision = Decision::Fallback;
        self.metrics
            .fallbacks
            .get_or_create(&ModelLabels {
                model: requested.to_string(),
            })
            .inc();
    }

    fn set_usage(&mut self, usage: Usage) {
        self.record.input_tokens = usage.input_tokens;
        self.record.output_tokens = usage.output_tokens;
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
        self.gate(&mut response);
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
    if audit.fallback {
        set_header(response, access::DECISION, "fallback");
    }
    set_header(response, REQUEST_ID, &audit.record.id);
    set_header(response, OVERHEAD_MS, &millis(audit.overhead()));
}

impl Drop for PendingAudit {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        if self.gate.as_ref().is_some_and(AnswerGate::failed) {
            self.record.status = StatusCode::SERVICE_UNAVAILABLE.as_u16();
            self.record.error_class = Some(AuditUnavailable::StoreStalled.code().to_string());
        }
        if crate::limits::cutting_off() {
            // Still in flight at the drain deadline: its connection was closed by shutdown.
            self.record.error_class = Some("shutdown".to_string());
        }
        self.in_flight.take();
        let overhead = self.overhead();
        let duration = self.started.elapsed();
        self.record.duration_us = duration.as_micros() as u64;
        self.record.overhead_us = overhead.as_micros() as u64;
        let model = self.metrics_model.take().unwrap_or_else(|| "-".into());
        record_metrics(&self.metrics, &self.record, model, duration, overhead);
        let api = self.record.api;
        let placeholder = AuditRecord::new_request(String::new(), self.record.time, api);
        let record = std::mem::replace(&mut self.record, placeholder);
        if self.gate.is_some() {
            slot.commit(record.into_completion());
        } else {
            // Dropped before any answer was built (the connection went away while the request
            // was being read or decided): the record is whole, and nothing was answered.
            slot.commit(record);
        }
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
