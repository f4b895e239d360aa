//! The failover part of the config: `[[routes]]`, `[breaker]` and the providers' health-check
//! keys, resolved into durations and checked against the models the file defines.

use std::collections::HashMap;
use std::time::Duration;

use toml::Spanned;

use clearance_failover::BreakerPolicy;

use crate::Model;
use crate::diagnostics::Diagnostics;
use crate::raw::{RawBreaker, RawProvider, RawRoute};
use crate::resolve::{at_least, non_negative, positive};

const DEFAULT_ATTEMPT_TIMEOUT_MS: i64 = 30_000;
const DEFAULT_DEADLINE_MS: i64 = 120_000;
const DEFAULT_BACKOFF_MS: i64 = 25;
const DEFAULT_BACKOFF_MAX_MS: i64 = 1_000;
const DEFAULT_RETRY_BUDGET: f64 = 0.2;
const DEFAULT_HEALTH_TIMEOUT_MS: i64 = 2_000;
/// Probing more often than this loads a provider for no gain in reaction time.
const MIN_HEALTH_INTERVAL_MS: i64 = 100;

/// A model's failover route: where its requests go when it cannot answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// The primary: requests naming this model follow the route.
    pub model: String,
    /// Tried in this order after the primary.
    pub fallbacks: Vec<String>,
    /// Time to the first byte of one attempt.
    pub attempt_timeout: Duration,
    /// The whole request, every attempt and backoff included.
    pub deadline: Duration,
    /// Same-model retries after a failed attempt, on every model of the route.
    pub retries: u32,
    /// Retries allowed per request in steady state (the retry budget's ratio).
    pub retry_budget: f64,
    /// The first retry's backoff ceiling (full jitter: the wait is random below it).
    pub backoff: Duration,
    /// The most any backoff waits.
    pub backoff_max: Duration,
    /// Only fallbacks validated for this primary (`clearance validate`) are tried; the others
    /// are skipped, and the audit record's attempts say so (`unvalidated`).
    pub validated_only: bool,
}

/// A provider's active health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    pub interval: Duration,
    pub timeout: Duration,
}

fn millis(value: i64) -> Duration {
    Duration::from_millis(value as u64)
}

fn count(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A fallback serves what its primary serves: a chat model for a chat model, an embedding
/// model of the same vector length for an embedding model (vectors of another length, or of
/// another model's space of the same length, are the caller's to accept: the length is what
/// breaks a vector store at once).
fn same_kind_of_model(
    primary: &str,
    fallback: &Spanned<String>,
    models: &[Model],
    diag: &mut Diagnostics<'_>,
) -> bool {
    let find = |name: &str| models.iter().find(|m| m.name == name);
    let (Some(primary_model), Some(fallback_model)) = (find(primary), find(fallback.get_ref()))
    else {
        return true; // an unknown name is reported on its own
    };
    let problem = match (
        primary_model.embedding_dimensions,
        fallback_model.embedding_dimensions,
    ) {
        (None, None) => return true,
        (Some(a), Some(b)) if a == b => return true,
        (Some(a), Some(b)) => format!(
            "its vectors have {b} dimensions and `{primary}`'s have {a}; an embedding model falls \
             back only to one of the same dimension"
        ),
        (Some(_), None) => "it is a chat model and the primary an embedding model".to_string(),
        (None, Some(_)) => "it is an embedding model and the primary a chat model".to_string(),
    };
    diag.at(
        Some(fallback.span()),
        format!(
            "route `{primary}`: fallback `{}` cannot serve its requests: {problem}",
            fallback.get_ref()
        ),
    );
    false
}

pub(crate) fn resolve_routes(
    raw: &[RawRoute],
    models: &[Model],
    diag: &mut Diagnostics<'_>,
) -> Vec<RouteConfig> {
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut routes = Vec::new();
    for route in raw {
        let name = route.model.get_ref().as_str();
        if !is_model(name, route.model.span(), "routes.model", models, diag) {
            continue;
        }
        if let Some(first) = first_seen.get(name) {
            let line = diag.line_of(*first);
            diag.at(
                Some(route.model.span()),
                format!("duplicate route for model `{name}` (first defined on line {line})"),
            );
            continue;
        }
        first_seen.insert(name, route.model.span().start);
        if let Some(resolved) = resolve_route(route, models, diag) {
            routes.push(resolved);
        }
    }
    routes
}

fn resolve_route(
    raw: &RawRoute,
    models: &[Model],
    diag: &mut Diagnostics<'_>,
) -> Option<RouteConfig> {
    let name = raw.model.get_ref().as_str();
    let mut ok = true;
    let mut fallbacks: Vec<String> = Vec::new();
    for fallback in &raw.fallbacks {
        let target = fallback.get_ref().as_str();
        ok &= is_model(target, fallback.span(), "routes.fallbacks", models, diag);
        if target == name {
            diag.at(
                Some(fallback.span()),
                format!("route `{name}`: a model cannot be its own fallback (use `retries`)"),
            );
            ok = false;
        } else if fallbacks.iter().any(|f| f == target) {
            diag.at(
                Some(fallback.span()),
                format!("route `{name}`: fallback `{target}` is listed twice"),
            );
            ok = false;
        }
        ok &= same_kind_of_model(name, fallback, models, diag);
        fallbacks.push(target.to_string());
    }
    let attempt_timeout = positive(
        raw.attempt_timeout_ms.as_ref(),
        DEFAULT_ATTEMPT_TIMEOUT_MS,
        "routes.attempt_timeout_ms",
        diag,
    );
    let deadline = positive(
        raw.deadline_ms.as_ref(),
        DEFAULT_DEADLINE_MS,
        "routes.deadline_ms",
        diag,
    );
    if let Some(written) = &raw.deadline_ms
        && deadline < attempt_timeout
    {
        diag.at(
            Some(written.span()),
            format!(
                "route `{name}`: deadline_ms ({deadline}) is shorter than attempt_timeout_ms ({attempt_timeout}); \
                 the whole request cannot end before its first attempt may"
            ),
        );
        ok = false;
    }
    let retries = non_negative(raw.retries.as_ref(), 0, "routes.retries", diag);
    let retry_budget = ratio(
        raw.retry_budget.as_ref(),
        DEFAULT_RETRY_BUDGET,
        "routes.retry_budget",
        diag,
    );
    let backoff = non_negative(
        raw.backoff_ms.as_ref(),
        DEFAULT_BACKOFF_MS,
        "routes.backoff_ms",
        diag,
    );
    let backoff_max = non_negative(
        raw.backoff_max_ms.as_ref(),
        DEFAULT_BACKOFF_MAX_MS.max(backoff),
        "routes.backoff_max_ms",
        diag,
    );
    ok.then(|| RouteConfig {
        model: name.to_string(),
        fallbacks,
        attempt_timeout: millis(attempt_timeout),
        deadline: millis(deadline),
        retries: count(retries),
        retry_budget,
        backoff: millis(backoff),
        backoff_max: millis(backoff_max.max(backoff)),
        validated_only: raw.validated_only.unwrap_or(false),
    })
}

fn is_model(
    name: &str,
    span: std::ops::Range<usize>,
    key: &str,
    models: &[Model],
    diag: &mut Diagnostics<'_>,
) -> bool {
    if models.iter().any(|m| m.name == name) {
        return true;
    }
    let known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    diag.at(
        Some(span),
        format!(
            "{key}: unknown model `{name}` (defined models: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
    );
    false
}

/// A number from 0 to 1 (a share of requests).
pub(crate) fn ratio(
    value: Option<&Spanned<f64>>,
    default: f64,
    key: &str,
    diag: &mut Diagnostics<'_>,
) -> f64 {
    match value {
        None => default,
        Some(v) if (0.0..=1.0).contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            diag.at(
                Some(v.span()),
                format!("{key} must be between 0 and 1, not {}", v.get_ref()),
            );
            default
        }
    }
}

pub(crate) fn resolve_breaker(raw: &RawBreaker, diag: &mut Diagnostics<'_>) -> BreakerPolicy {
    let defaults = BreakerPolicy::default();
    let error_rate = match &raw.error_rate {
        None => defaults.error_rate,
        // Above 1 is allowed: it is how the error-rate trigger is switched off.
        Some(v) if *v.get_ref() > 0.0 => *v.get_ref(),
        Some(v) => {
            diag.at(
                Some(v.span()),
                format!(
                    "breaker.error_rate must be above 0 (a share of failed requests; above 1 switches it off), not {}",
                    v.get_ref()
                ),
            );
            defaults.error_rate
        }
    };
    BreakerPolicy {
        consecutive_failures: count(non_negative(
            raw.consecutive_failures.as_ref(),
            i64::from(defaults.consecutive_failures),
            "breaker.consecutive_failures",
            diag,
        )),
        error_rate,
        window: millis(at_least(
            100,
            "at least 100",
            raw.window_ms.as_ref(),
            defaults.window.as_millis() as i64,
            "breaker.window_ms",
            diag,
        )),
        min_requests: count(positive(
            raw.min_requests.as_ref(),
            i64::from(defaults.min_requests),
            "breaker.min_requests",
            diag,
        )),
        open_for: millis(positive(
            raw.open_ms.as_ref(),
            defaults.open_for.as_millis() as i64,
            "breaker.open_ms",
            diag,
        )),
        half_open_probes: count(positive(
            raw.half_open_probes.as_ref(),
            i64::from(defaults.half_open_probes),
            "breaker.half_open_probes",
            diag,
        )),
    }
}

/// The provider's health check, when `health_interval_ms` is set and not 0.
pub(crate) fn resolve_health(
    key: &str,
    raw: &RawProvider,
    diag: &mut Diagnostics<'_>,
) -> Option<HealthCheck> {
    let interval = raw.health_interval_ms.as_ref()?;
    if *interval.get_ref() == 0 {
        return None;
    }
    let interval = at_least(
        MIN_HEALTH_INTERVAL_MS,
        &format!("0 (off) or at least {MIN_HEALTH_INTERVAL_MS}"),
        Some(interval),
        MIN_HEALTH_INTERVAL_MS,
        &format!("{key}.health_interval_ms"),
        diag,
    );
    let timeout = positive(
        raw.health_timeout_ms.as_ref(),
        DEFAULT_HEALTH_TIMEOUT_MS.min(interval),
        &format!("{key}.health_timeout_ms"),
        diag,
    );
    Some(HealthCheck {
        interval: millis(interval),
        timeout: millis(timeout),
    })
}
