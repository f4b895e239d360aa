//! Failover on the request path: the attempt loop that walks a model's route until a model
//! that may serve this caller answers.
//!
//! The rules come from `clearance-failover` (plan, classification, breakers, retry budget,
//! backoff); this module runs them with real time, real providers and the caller's directives:
//!
//! 1. policy comes first: before the loop, the access layer has judged every model of the
//!    route for this caller ([`crate::access::Candidates`]); a forbidden one is skipped, never
//!    tried, and the loop itself judges only availability;
//! 2. a disabled model (kill switch), an unhealthy provider (active health checks) or an open
//!    breaker is skipped without waiting;
//! 3. a same-model retry spends the route's retry budget and backs off (jittered, bounded);
//! 4. an attempt has `attempt_timeout` to its first byte, and the request `deadline` overall;
//! 5. a failure the provider caused moves on; a 4xx the request caused returns at once;
//! 6. a stream is only handed to the client once its first bytes are in hand, so a stream
//!    that breaks (or opens with an error or unreadable event) before it says anything moves
//!    on too;
//! 7. what one answer may hold is capped (`[server] max_upstream_body_bytes` for a whole
//!    answer, `max_upstream_event_bytes` for one event of a stream) and a stream must complete
//!    an event every `upstream_idle_timeout_ms`: a provider that sends garbage, an endless
//!    line, a huge event or one byte a second fails its attempt and the route moves on.
//!
//! Every model without a configured route has a route of its own (no fallbacks, no retries,
//! no timeouts beyond the upstream client's), so one loop serves every request and the
//! breakers and kill switch apply to every model.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clearance_config::{Config, RouteConfig};
use clearance_core::api::Operation;
use clearance_core::audit::{Attempt, AttemptOutcome};
use clearance_failover::{
    Admission, Breakers, BudgetPolicy, FailureClass, RetryBudget, Route, TransportFailure, Verdict,
    backoff, classify_status, classify_transport, plan,
};
use clearance_policy::Decision;
use clearance_upstream::{UpstreamCall, UpstreamError, UpstreamResponse};
use clearance_wire::Usage;
use clearance_wire::signal::ErrorAnswer;
use clearance_wire::sse::StreamRewrite;
use clearance_wire::translate::TranslateError;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::access::Candidates;
use crate::exchange::{Exchange, Part};
use crate::health::ProviderHealth;
use crate::metrics::{AttemptLabels, ModelLabels};
use crate::state::{AppState, ModelEntry};

/// The failover state shared by every worker: breakers, provider health, routes and their
/// retry budgets.
pub struct Failover {
    pub breakers: Breakers,
    pub health: Arc<ProviderHealth>,
    routes: HashMap<String, RouteState>,
}

struct RouteState {
    route: Route,
    /// `None` for a model without a configured route: no extra timeouts, no backoff.
    config: Option<RouteConfig>,
    budget: RetryBudget,
}

impl Failover {
    pub fn new(config: &Config) -> Failover {
        let now = Instant::now();
        let breakers = Breakers::new(
            config.breaker.clone(),
            config.models.iter().map(|m| m.name.clone()),
            now,
        );
        let routes = config
            .models
            .iter()
            .map(|model| {
                let configured = config.route(&model.name).cloned();
                let route = Route {
                    primary: model.name.clone(),
                    fallbacks: configured
                        .as_ref()
                        .map(|r| r.fallbacks.clone())
                        .unwrap_or_default(),
                    retries: configured.as_ref().map_or(0, |r| r.retries),
                };
                let budget = RetryBudget::new(BudgetPolicy {
                    ratio: configured
                        .as_ref()
                        .map_or(BudgetPolicy::default().ratio, |r| r.retry_budget),
                    ..BudgetPolicy::default()
                });
                let state = RouteState {
                    route,
                    config: configured,
                    budget,
                };
                (model.name.clone(), state)
            })
            .collect();
        Failover {
            breakers,
            health: Arc::new(ProviderHealth::new(config)),
            routes,
        }
    }

    /// The models of `model`'s route, primary first, each once.
    pub(crate) fn route_models<'a>(&'a self, model: &'a str) -> Vec<&'a str> {
        match self.routes.get(model) {
            Some(state) => std::iter::once(state.route.primary.as_str())
                .chain(state.route.fallbacks.iter().map(String::as_str))
                .collect(),
            None => vec![model],
        }
    }

    /// Whether `model` has a configured route with at least one fallback.
    pub fn has_fallbacks(&self, model: &str) -> bool {
        self.routes
            .get(model)
            .is_some_and(|r| !r.route.fallbacks.is_empty())
    }
}

/// What the attempt loop needs to know about the request: the exchange (what each attempt
/// sends and gets back) and which of the route's models this caller may use.
pub(crate) struct Ask<'a> {
    pub state: &'a AppState,
    pub exchange: &'a Exchange<'a>,
    pub candidates: &'a Candidates,
    pub started: Instant,
}

/// The answer of the model that served, ready to relay.
pub(crate) struct Served {
    pub entry: ModelEntry,
    pub status: u16,
    pub answer: Answer,
}

pub(crate) enum Answer {
    /// A whole answer, already in the client's format.
    Whole { body: Vec<u8>, usage: Usage },
    /// A stream whose first client bytes are in hand.
    Stream {
        rewriter: Box<dyn StreamRewrite>,
        first: Bytes,
        rest: BoxStream<'static, Result<Bytes, UpstreamError>>,
        limits: AnswerLimits,
    },
}

/// What one provider answer may hold and how long its stream may stall (`[server]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AnswerLimits {
    pub max_body: usize,
    pub max_event: usize,
    pub idle: Duration,
}

impl AnswerLimits {
    pub(crate) fn of(config: &Config) -> AnswerLimits {
        let limits = &config.server.limits;
        AnswerLimits {
            max_body: limits.max_upstream_body_bytes,
            max_event: limits.max_upstream_event_bytes,
            idle: Duration::from_millis(limits.upstream_idle_timeout_ms),
        }
    }
}

/// Why the last tried model did not serve.
pub(crate) enum Failure {
    /// The provider answered with an error status.
    Status {
        entry: ModelEntry,
        status: u16,
        body: Bytes,
        retry_after: Option<String>,
    },
    /// No answer: connection, timeout, or a body that broke.
    Transport {
        entry: ModelEntry,
        error: UpstreamError,
    },
    /// The model's API cannot express this request.
    Untranslatable {
        entry: ModelEntry,
        error: TranslateError,
    },
    /// The provider's answer could not be read in its own format.
    Unreadable {
        entry: ModelEntry,
        error: TranslateError,
    },
}

/// Nothing served; what the caller is told depends on why.
#[derive(Default)]
pub(crate) struct NotServed {
    /// The last failure of a model that was tried.
    pub last_failure: Option<Failure>,
    /// Models this caller may not use, with the decision that says so.
    pub forbidden: Vec<(String, Decision)>,
    /// Disabled models and the operator's reason.
    pub disabled: Vec<(String, String)>,
    /// The soonest an open breaker may admit again.
    pub retry_in: Option<Duration>,
    /// Some candidate ended otherwise than forbidden (tried, or skipped for availability).
    pub not_only_forbidden: bool,
}

impl NotServed {
    /// Every candidate was forbidden to this caller: the refusal is a directive's (451).
    pub(crate) fn everything_forbidden(&self) -> bool {
        !self.forbidden.is_empty() && !self.not_only_forbidden
    }
}

pub(crate) enum Ending {
    Served(Served),
    /// A failure the request caused: back to the caller at once.
    ReturnToCaller(Failure),
    NotServed(NotServed),
}

/// The result of the loop: how it ended, every attempt, and the time spent waiting (on
/// providers and backoff), which is not the gateway's overhead.
pub(crate) struct Attempted {
    pub ending: Ending,
    pub attempts: Vec<Attempt>,
    pub waited: Duration,
    /// Whether the model that served is not the first candidate.
    pub fell_back: bool,
}

/// Where a skipped or failed attempt leaves the loop.
enum Step {
    Next,
    Done(Box<Ending>),
}

/// Walks the route of `first` (the requested model, or a directive's reroute target) over the
/// models `ask.candidates` permits.
pub(crate) async fn attempt(ask: &Ask<'_>, first: &ModelEntry) -> Attempted {
    let failover = &ask.state.failover;
    let mut run = Run {
        ask,
        attempts: Vec::new(),
        waited: Duration::ZERO,
        not_served: NotServed::default(),
        skip: Vec::new(),
    };
    let Some(route) = failover.routes.get(&first.model.name) else {
        // Unreachable: every configured model has a route of its own.
        return run.end(Ending::NotServed(NotServed::default()), false);
    };
    route.budget.deposit();
    let deadline = route.config.as_ref().map(|c| ask.started + c.deadline);
    for candidate in plan(&route.route) {
        let model = candidate.model;
        if run.skip.iter().any(|m| m == model) {
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            run.note(model, AttemptOutcome::Deadline, Duration::ZERO, None);
            break;
        }
        let Some(entry) = ask.state.models.get(model) else {
            continue;
        };
        if let Some(decision) = ask.candidates.forbidden(model) {
            run.skip_model(model, AttemptOutcome::Forbidden);
            run.not_served
                .forbidden
                .push((model.to_string(), decision.clone()));
            continue;
        }
        if candidate.is_fallback()
            && route.config.as_ref().is_some_and(|c| c.validated_only)
            && !ask
                .state
                .validations
                .is_validated(&route.route.primary, model)
        {
            // `validated_only`: a fallback nobody has tested is not tried (the record says so).
            run.skip_model(model, AttemptOutcome::Unvalidated);
            continue;
        }
        if let Some(off) = ask.state.switches.disabled(model) {
            run.skip_model(model, AttemptOutcome::Disabled);
            run.not_served
                .disabled
                .push((model.to_string(), off.reason.clone()));
            continue;
        }
        if !failover.health.is_healthy(&entry.provider.name) {
            run.skip_model(model, AttemptOutcome::Unhealthy);
            continue;
        }
        if candidate.is_retry() {
            if !route.budget.try_spend() {
                run.skip_model(model, AttemptOutcome::NoRetryBudget);
                continue;
            }
            run.back_off(route, candidate.attempt, deadline).await;
        }
        let admission = failover.breakers.admit(model, Instant::now());
        let admission = match admission {
            // A model with nowhere to move on to is still called while its breaker is open:
            // the provider's own answer says more than a 503 of ours, and the breaker (which
            // this call does not feed) still shows the model's state and guards it wherever it
            // is a fallback.
            Admission::Rejected { .. } if route.route.fallbacks.is_empty() => None,
            admission => Some(admission),
        };
        if let Some(Admission::Rejected { retry_in }) = admission {
            run.not_served.retry_in = Some(
                run.not_served
                    .retry_in
                    .map_or(retry_in, |r| r.min(retry_in)),
            );
            run.skip_model(model, AttemptOutcome::BreakerOpen);
            continue;
        }
        let limit = attempt_limit(route.config.as_ref(), deadline);
        let held = Held {
            breakers: &failover.breakers,
            model,
            admission,
        };
        match run.try_model(entry, held, limit, deadline).await {
            Step::Next => continue,
            Step::Done(ending) => {
                let ending = *ending;
                let fell_back = model != first.model.name;
                return run.end(ending, fell_back);
            }
        }
    }
    let not_served = std::mem::take(&mut run.not_served);
    run.end(Ending::NotServed(not_served), false)
}

/// The time one attempt may take to its first byte: the route's attempt timeout, cut to what
/// is left of the deadline.
fn attempt_limit(config: Option<&RouteConfig>, deadline: Option<Instant>) -> Option<Duration> {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match (config.map(|c| c.attempt_timeout), left) {
        (Some(timeout), Some(left)) => Some(timeout.min(left)),
        (timeout, left) => timeout.or(left),
    }
}

/// Runs `future` within `limit` (no limit: as long as it takes); `None` when time ran out.
async fn within<F: std::future::Future>(limit: Option<Duration>, future: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

/// A breaker's admission for one attempt, handed back exactly once: settled with the
/// attempt's outcome, or released when dropped unsettled (the client went away mid-call and the
/// attempt's future was dropped). Without that, a half-open breaker would count a vanished
/// probe as in flight forever and never admit again. `admission` is `None` for an untracked
/// call (a model with nowhere to move on to, sent while its breaker is open).
struct Held<'a> {
    breakers: &'a Breakers,
    model: &'a str,
    admission: Option<Admission>,
}

impl Held<'_> {
    /// `Some(success)` records the outcome; `None` says the attempt told nothing about the
    /// model.
    fn settle(mut self, outcome: Option<bool>) {
        let Some(admission) = self.admission.take() else {
            return;
        };
        match outcome {
            Some(success) => self
                .breakers
                .record(self.model, Instant::now(), admission, success),
            None => self.breakers.release(self.model, admission),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            self.breakers.release(self.model, admission);
        }
    }
}

struct Run<'a, 'b> {
    ask: &'a Ask<'b>,
    attempts: Vec<Attempt>,
    waited: Duration,
    not_served: NotServed,
    /// Models not to try again on this request (forbidden, disabled, dark).
    skip: Vec<String>,
}

impl Run<'_, '_> {
    fn end(mut self, ending: Ending, fell_back: bool) -> Attempted {
        // A request served by its first attempt needs no list: the record already says so.
        if self.attempts.len() == 1 && matches!(ending, Ending::Served(_)) {
            self.attempts.clear();
        }
        Attempted {
            ending,
            attempts: self.attempts,
            waited: self.waited,
            fell_back,
        }
    }

    fn note(&mut self, model: &str, outcome: AttemptOutcome, took: Duration, status: Option<u16>) {
        if outcome != AttemptOutcome::Forbidden {
            self.not_served.not_only_forbidden = true;
        }
        self.ask
            .state
            .metrics
            .attempts
            .get_or_create(&AttemptLabels {
                model: model.to_string(),
                outcome: outcome.as_str().to_string(),
            })
            .inc();
        self.attempts.push(Attempt {
            model: model.to_string(),
            outcome,
            ms: took.as_millis() as u64,
            status,
        });
    }

    fn skip_model(&mut self, model: &str, why: AttemptOutcome) {
        self.note(model, why, Duration::ZERO, None);
        self.skip.push(model.to_string());
    }

    async fn back_off(&mut self, route: &RouteState, attempt: u32, deadline: Option<Instant>) {
        let Some(config) = &route.config else { return };
        let mut wait = backoff(
            attempt.saturating_sub(2),
            config.backoff,
            config.backoff_max,
            rand::random::<f64>(),
        );
        if let Some(deadline) = deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            self.waited += wait;
        }
    }

    /// One call to one model, judged.
    async fn try_model(
        &mut self,
        entry: &ModelEntry,
        admission: Held<'_>,
        limit: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Step {
        let ask = self.ask;
        let model = entry.model.name.as_str();
        let mut bodies = match ask.exchange.bodies_for(entry) {
            Ok(bodies) => bodies,
            Err(error) => {
                admission.settle(None);
                self.skip_model(model, AttemptOutcome::Untranslatable);
                self.remember(Failure::Untranslatable {
                    entry: entry.clone(),
                    error,
                });
                return Step::Next;
            }
        };
        if ask.exchange.operation() != Operation::Generate {
            return self.try_operation(entry, admission, bodies, limit).await;
        }
        let call = UpstreamCall {
            body: bodies.pop().unwrap_or_default(),
            upstream_model: &entry.model.upstream,
            stream: ask.exchange.request.stream,
            operation: Operation::Generate,
        };
        let started = Instant::now();
        let sent = within(
            limit,
            ask.state
                .upstream
                .send(&entry.provider, call, ask.exchange.forwarded),
        )
        .await;
        let sent = match sent {
            Some(Ok(upstream)) => upstream,
            Some(Err(error)) => return self.transport_failed(entry, admission, started, error),
            None => {
                let error = UpstreamError::Timeout {
                    provider: entry.provider.name.clone(),
                };
                return self.transport_failed(entry, admission, started, error);
            }
        };
        if !(200..300).contains(&sent.status) {
            return self
                .status_failed(entry, admission, started, sent, limit)
                .await;
        }
        let left = limit.map(|l| l.saturating_sub(started.elapsed()));
        let answer = self.read_answer(entry, sent, left, limit, deadline).await;
        let took = started.elapsed();
        self.waited += took;
        match answer {
            Ok(served) => {
                admission.settle(Some(true));
                self.note(model, AttemptOutcome::Served, took, Some(served.status));
                Step::Done(Box::new(Ending::Served(served)))
            }
            Err((class, failure)) => {
                admission.settle(Some(false));
                self.note(model, class.outcome(), took, None);
                self.remember(failure);
                Step::Next
            }
        }
    }

    /// An embeddings or count attempt: its calls one after the other, each answer read whole
    /// (within what is left of the attempt), then the answers as one. Any call's failure is
    /// the attempt's, judged as a chat attempt's would be.
    async fn try_operation(
        &mut self,
        entry: &ModelEntry,
        admission: Held<'_>,
        bodies: Vec<Vec<u8>>,
        limit: Option<Duration>,
    ) -> Step {
        let ask = self.ask;
        let model = entry.model.name.as_str();
        let max_body = ask_limits(ask).max_body;
        let started = Instant::now();
        let left = || limit.map(|l| l.saturating_sub(started.elapsed()));
        let timed_out = || UpstreamError::Timeout {
            provider: entry.provider.name.clone(),
        };
        let mut parts = Vec::with_capacity(bodies.len());
        for body in bodies {
            let call = UpstreamCall {
                body,
                upstream_model: &entry.model.upstream,
                stream: false,
                operation: ask.exchange.operation(),
            };
            let upstream = ask
                .state
                .upstream
                .send(&entry.provider, call, ask.exchange.forwarded);
            let sent = match within(left(), upstream).await {
                Some(Ok(sent)) => sent,
                Some(Err(error)) => return self.transport_failed(entry, admission, started, error),
                None => return self.transport_failed(entry, admission, started, timed_out()),
            };
            if !(200..300).contains(&sent.status) {
                return self
                    .status_failed(entry, admission, started, sent, limit)
                    .await;
            }
            let input_tokens = sent.input_token_count;
            let body = match within(left(), sent.collect(&entry.provider.name, max_body)).await {
                Some(Ok(body)) => body,
                Some(Err(error)) => return self.transport_failed(entry, admission, started, error),
                None => return self.transport_failed(entry, admission, started, timed_out()),
            };
            parts.push(Part { body, input_tokens });
        }
        let took = started.elapsed();
        self.waited += took;
        match ask.exchange.operation_answer(entry, parts) {
            Ok((body, usage)) => {
                admission.settle(Some(true));
                self.note(model, AttemptOutcome::Served, took, Some(200));
                Step::Done(Box::new(Ending::Served(Served {
                    entry: entry.clone(),
                    status: 200,
                    answer: Answer::Whole { body, usage },
                })))
            }
            Err(error) => {
                admission.settle(Some(false));
                self.note(model, AttemptOutcome::ServerError, took, None);
                self.remember(Failure::Unreadable {
                    entry: entry.clone(),
                    error,
                });
                Step::Next
            }
        }
    }

    fn remember(&mut self, failure: Failure) {
        // A provider's own failure says more than the gateway's "could not translate".
        let keep_old = matches!(failure, Failure::Untranslatable { .. })
            && self
                .not_served
                .last_failure
                .as_ref()
                .is_some_and(|f| !matches!(f, Failure::Untranslatable { .. }));
        if !keep_old {
            self.not_served.last_failure = Some(failure);
        }
    }

    fn transport_failed(
        &mut self,
        entry: &ModelEntry,
        admission: Held<'_>,
        started: Instant,
        error: UpstreamError,
    ) -> Step {
        let took = started.elapsed();
        self.waited += took;
        let kind = match error {
            UpstreamError::Timeout { .. } | UpstreamError::Stalled { .. } => {
                TransportFailure::TimeoutBeforeFirstByte
            }
            UpstreamError::Body { .. } | UpstreamError::TooLarge { .. } => {
                TransportFailure::BrokenBeforeFirstByte
            }
            // `Unsupported` was never sent: the caller checks `clearance_upstream::supports`.
            UpstreamError::Connect { .. }
            | UpstreamError::Other { .. }
            | UpstreamError::Unsupported { .. } => TransportFailure::Connect,
        };
        // Every failure without a status moves on (`classify_transport`).
        let class = kind.class();
        admission.settle(classify_transport(kind).breaker_outcome());
        self.note(&entry.model.name, class.outcome(), took, None);
        self.remember(Failure::Transport {
            entry: entry.clone(),
            error,
        });
        Step::Next
    }

    async fn status_failed(
        &mut self,
        entry: &ModelEntry,
        admission: Held<'_>,
        started: Instant,
        upstream: UpstreamResponse,
        limit: Option<Duration>,
    ) -> Step {
        let status = upstream.status;
        let retry_after = upstream.retry_after.clone();
        let error_type = upstream.error_type.clone();
        let left = limit.map(|l| l.saturating_sub(started.elapsed()));
        let max_body = ask_limits(self.ask).max_body;
        let body = within(left, upstream.collect(&entry.provider.name, max_body))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        let took = started.elapsed();
        self.waited += took;
        let signal = clearance_wire::signal::read(
            entry.provider.kind.error_dialect(),
            &ErrorAnswer {
                status,
                error_type: error_type.as_deref(),
                body: &body,
            },
        );
        let verdict = classify_status(status, signal);
        admission.settle(verdict.breaker_outcome());
        let failure = Failure::Status {
            entry: entry.clone(),
            status,
            body,
            retry_after,
        };
        match verdict {
            Verdict::MoveOn(class) => {
                self.note(&entry.model.name, class.outcome(), took, Some(status));
                self.remember(failure);
                Step::Next
            }
            Verdict::ReturnToCaller => {
                self.note(
                    &entry.model.name,
                    AttemptOutcome::RefusedRequest,
                    took,
                    Some(status),
                );
                Step::Done(Box::new(Ending::ReturnToCaller(failure)))
            }
        }
    }

    /// Reads a 2xx answer far enough to know it is one: a whole body, or a stream's first
    /// client bytes. A stream's first event must come within what is left of the attempt
    /// (`first_byte`); a whole answer's body, once its headers are in, gets the attempt's time
    /// again (`attempt`): reading a body that has already arrived must not fail because the
    /// headers used up the attempt, and a body trickled in still ends within it.
    async fn read_answer(
        &self,
        entry: &ModelEntry,
        upstream: UpstreamResponse,
        first_byte: Option<Duration>,
        attempt: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<Served, (FailureClass, Failure)> {
        let ask = self.ask;
        let status = upstream.status;
        let is_sse = upstream
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let broken = |error: UpstreamError| {
            (
                FailureClass::BrokenStream,
                Failure::Transport {
                    entry: entry.clone(),
                    error,
                },
            )
        };
        let timed_out = || UpstreamError::Timeout {
            provider: entry.provider.name.clone(),
        };
        let limits = ask_limits(ask);
        let provider = entry.provider.name.as_str();
        if ask.exchange.request.stream && is_sse {
            let mut rewriter = ask.exchange.stream_for(entry);
            let mut rest = upstream.body;
            let first = within(
                first_byte,
                first_output(&mut rest, rewriter.as_mut(), provider, limits),
            )
            .await;
            return match first {
                Some(Ok(first)) => Ok(Served {
                    entry: entry.clone(),
                    status,
                    answer: Answer::Stream {
                        rewriter,
                        first,
                        rest,
                        limits,
                    },
                }),
                Some(Err(error @ UpstreamError::Stalled { .. })) => Err((
                    FailureClass::Timeout,
                    Failure::Transport {
                        entry: entry.clone(),
                        error,
                    },
                )),
                Some(Err(error)) => Err(broken(error)),
                None => Err((
                    FailureClass::Timeout,
                    Failure::Transport {
                        entry: entry.clone(),
                        error: timed_out(),
                    },
                )),
            };
        }
        // A whole answer is the attempt's first "event": its body must be in within the
        // attempt's time, the deadline and the idle timeout, whichever ends first.
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let body_limit = [attempt, left, Some(limits.idle)]
            .into_iter()
            .flatten()
            .min();
        let body = match within(body_limit, upstream.collect(provider, limits.max_body)).await {
            Some(Ok(body)) => body,
            Some(Err(error)) => return Err(broken(error)),
            None => {
                return Err((
                    FailureClass::Timeout,
                    Failure::Transport {
                        entry: entry.clone(),
                        error: timed_out(),
                    },
                ));
            }
        };
        match ask.exchange.whole_answer(entry, &body) {
            Ok((body, usage)) => Ok(Served {
                entry: entry.clone(),
                status,
                answer: Answer::Whole { body, usage },
            }),
            Err(error) => Err((
                FailureClass::ServerError,
                Failure::Unreadable {
                    entry: entry.clone(),
                    error,
                },
            )),
        }
    }
}

fn ask_limits(ask: &Ask<'_>) -> AnswerLimits {
    AnswerLimits::of(&ask.state.config)
}

/// Pulls the provider's stream until the rewriter has client bytes to send. A stream that
/// ends or breaks before that has said nothing: it is a failure, not an answer; so is one
/// that opens with an error event or an event the gateway cannot read (nothing has reached
/// the client yet, so another model may still answer).
async fn first_output(
    stream: &mut BoxStream<'static, Result<Bytes, UpstreamError>>,
    rewriter: &mut dyn StreamRewrite,
    provider: &str,
    limits: AnswerLimits,
) -> Result<Bytes, UpstreamError> {
    match next_output(stream, rewriter, provider, limits).await? {
        Some(_) if rewriter.upstream_error() => Err(UpstreamError::Body {
            provider: provider.to_string(),
            detail: "the stream opened with an error event or an event that is not JSON".into(),
        }),
        Some(first) => Ok(first),
        None => Err(UpstreamError::Body {
            provider: provider.to_string(),
            detail: "the stream ended before its first event".into(),
        }),
    }
}

/// Pulls the provider's stream until the rewriter has client bytes to send (`None`: the
/// stream ended), holding at most `limits.max_event` bytes of an unfinished event and waiting
/// at most `limits.idle` for an event to complete. Bytes that complete no event are not
/// progress: a provider trickling one byte a second stalls like a silent one.
pub(crate) async fn next_output(
    stream: &mut BoxStream<'static, Result<Bytes, UpstreamError>>,
    rewriter: &mut dyn StreamRewrite,
    provider: &str,
    limits: AnswerLimits,
) -> Result<Option<Bytes>, UpstreamError> {
    let mut stall_at = tokio::time::Instant::now() + limits.idle;
    loop {
        let Ok(next) = tokio::time::timeout_at(stall_at, stream.next()).await else {
            return Err(UpstreamError::Stalled {
                provider: provider.to_string(),
                idle: limits.idle,
            });
        };
        match next {
            Some(Ok(chunk)) => {
                let held = rewriter.pending_bytes() + chunk.len();
                let out = rewriter.push(&chunk);
                let pending = rewriter.pending_bytes();
                if pending > limits.max_event {
                    return Err(UpstreamError::TooLarge {
                        provider: provider.to_string(),
                        what: "a stream event",
                        limit: limits.max_event,
                    });
                }
                if pending < held {
                    // At least one event completed.
                    stall_at = tokio::time::Instant::now() + limits.idle;
                }
                if !out.is_empty() {
                    return Ok(Some(Bytes::from(out)));
                }
            }
            Some(Err(error)) => return Err(error),
            None => return Ok(None),
        }
    }
}

/// Breaker and health gauges, refreshed when `/metrics` is read.
pub fn refresh_gauges(state: &AppState) {
    let failover = &state.failover;
    for snapshot in failover.breakers.snapshot(Instant::now()) {
        let open = i64::from(snapshot.state != clearance_failover::BreakerStateName::Closed);
        state
            .metrics
            .breaker_open
            .get_or_create(&ModelLabels {
                model: snapshot.model,
            })
            .set(open);
    }
    for health in failover.health.snapshot(&state.config) {
        state
            .metrics
            .provider_unhealthy
            .get_or_create(&crate::metrics::ProviderLabels {
                provider: health.provider,
            })
            .set(i64::from(!health.healthy));
    }
}

/// The status as JSON (also what `clearance status` prints).
pub fn status_report(state: &AppState) -> serde_json::Value {
    let failover = &state.failover;
    let breakers = failover.breakers.snapshot(Instant::now());
    let now = chrono::Utc::now();
    let models: Vec<serde_json::Value> = state
        .config
        .models
        .iter()
        .map(|model| {
            let breaker = breakers.iter().find(|b| b.model == model.name);
            let route = failover
                .routes
                .get(&model.name)
                .and_then(|r| r.config.as_ref().map(|c| (c, r.budget.available())));
            let disabled = state.switches.disabled(&model.name);
            serde_json::json!({
                "model": model.name,
                "provider": model.provider,
                "disabled": disabled.as_ref().map(|d| serde_json::json!({
                    "reason": d.reason, "since": d.since, "actor": d.actor,
                })),
                "provider_healthy": failover.health.is_healthy(&model.provider),
                "breaker": breaker,
                "route": route.map(|(c, budget)| serde_json::json!({
                    "fallbacks": c.fallbacks,
                    "validated_only": c.validated_only,
                    "validation": fallback_validation(state, &model.name, &c.fallbacks, now),
                    "retries": c.retries,
                    "attempt_timeout_ms": c.attempt_timeout.as_millis() as u64,
                    "deadline_ms": c.deadline.as_millis() as u64,
                    "retry_budget_available": budget,
                })),
            })
        })
        .collect();
    serde_json::json!({
        "models": models,
        "providers": failover.health.snapshot(&state.config),
    })
}

/// Each fallback's validation for the status: state, score, bar, suite and date.
fn fallback_validation(
    state: &AppState,
    primary: &str,
    fallbacks: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<serde_json::Value> {
    fallbacks
        .iter()
        .map(|fallback| {
            let standing = state.validations.standing(primary, fallback);
            let standing = standing.as_deref();
            let status = crate::validations::FallbackState::of(standing, &state.config, now);
            serde_json::json!({
                "model": fallback,
                "state": status.as_str(),
                "score": standing.map(|s| s.score),
                "bar": standing.map(|s| s.bar),
                "suite": standing.map(|s| &s.suite_name),
                "suite_hash": standing.map(|s| &s.suite_hash),
                "at": standing.map(|s| s.at),
                "run_id": standing.map(|s| &s.run_id),
                "reason": standing.and_then(|s| s.reason.as_ref()),
            })
        })
        .collect()
}
