//! Prometheus metrics: requests, latency and the gateway's own overhead by model, upstream
//! errors by class, and the audit writer's progress. Held in the `AppState`, not in a global.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub model: String,
    pub api: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub model: String,
    pub class: &'static str,
}

/// One attempt on a model of a route: `served`, a failure class, or why it was skipped.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub model: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

/// A directive that fired, and how: `deny`, `reroute`, or `shadow` (would have fired).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectiveLabels {
    pub directive: String,
    pub effect: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~105 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 22))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: HistogramFamily<ModelLabels>,
    pub overhead: HistogramFamily<ModelLabels>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub directive_hits: Family<DirectiveLabels, Counter>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub fallbacks: Family<ModelLabels, Counter>,
    pub breaker_open: Family<ModelLabels, Gauge>,
    pub provider_unhealthy: Family<ProviderLabels, Gauge>,
    /// 1 while an operator has the model switched off (kill switch), else 0.
    pub model_disabled: Family<ModelLabels, Gauge>,
    pub audit_written: Counter,
    /// Seconds one audit batch took to commit (durable), and how many records it carried.
    pub audit_commit_seconds: Histogram,
    pub audit_batch_records: Histogram,
    pub audit_overloaded: Counter,
    pub audit_queued: Gauge,
    /// Requests refused because the store could not commit their records in time.
    pub store_unavailable: Counter,
    /// OpenAI Responses answers that were served but could not be kept (the store failed): a
    /// later `previous_response_id` naming one is not found.
    pub responses_unkept: Counter,
    /// 1 for the directive set this replica enforces (labelled by its version), 0 for those
    /// it enforced before.
    pub policy_version: Family<PolicyLabels, Gauge>,
    /// Seconds since this replica last read the store's policy (directive set, switches, keys).
    pub policy_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Client connections open now.
    pub connections_open: Gauge,
    /// Client connections closed at once because `server.max_connections` were open.
    pub connections_refused: Counter,
    /// Signed checkpoints of this replica's log.
    pub audit_checkpoints: Counter,
    /// Records under this replica's latest signed checkpoint.
    pub audit_checkpoint_size: Gauge,
    /// Witnesses that cosigned the latest checkpoint.
    pub audit_checkpoint_cosignatures: Gauge,
    /// Submissions a witness refused or did not answer.
    pub audit_witness_failures: Counter,
    /// 1 while a route's fallback is validated for its primary, 0 when it failed its last run.
    pub fallback_validated: Family<FallbackLabels, Gauge>,
    /// Scheduled re-runs (`[validation] every`) by outcome: `ok`, `dropped` (a fallback fell
    /// below its bar), `error`.
    pub validation_runs: Family<ValidationRunLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    pub primary: String,
    pub fallback: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ValidationRunLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub version: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("clearance");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily<ModelLabels> =
            Family::new_with_constructor(latency_histogram);
        let overhead: HistogramFamily<ModelLabels> =
            Family::new_with_constructor(latency_histogram);
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let directive_hits = Family::<DirectiveLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let fallbacks = Family::<ModelLabels, Counter>::default();
        let breaker_open = Family::<ModelLabels, Gauge>::default();
        let provider_unhealthy = Family::<ProviderLabels, Gauge>::default();
        let model_disabled = Family::<ModelLabels, Gauge>::default();
        let audit_written = Counter::default();
        let audit_commit_seconds = Histogram::new(exponential_buckets(0.000_025, 2.0, 20));
        let audit_batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let audit_overloaded = Counter::default();
        let audit_queued = Gauge::default();
        let store_unavailable = Counter::default();
        let responses_unkept = Counter::default();
        let policy_version = Family::<PolicyLabels, Gauge>::default();
        let policy_age_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        let audit_checkpoints = Counter::default();
        let audit_checkpoint_size = Gauge::default();
        let audit_checkpoint_cosignatures = Gauge::default();
        let audit_witness_failures = Counter::default();
        let fallback_validated = Family::<FallbackLabels, Gauge>::default();
        let validation_runs = Family::<ValidationRunLabels, Counter>::default();
        registry.register(
            "fallback_validated",
            "1 while a route's fallback is validated for its primary, 0 when its last validation failed",
            fallback_validated.clone(),
        );
        registry.register(
            "validation_runs",
            "Scheduled validation re-runs by outcome (ok, dropped, error)",
            validation_runs.clone(),
        );
        registry.register(
            "audit_checkpoints",
            "Signed checkpoints of this replica's audit log",
            audit_checkpoints.clone(),
        );
        registry.register(
            "audit_checkpoint_size",
            "Records under this replica's latest signed checkpoint",
            audit_checkpoint_size.clone(),
        );
        registry.register(
            "audit_checkpoint_cosignatures",
            "Witnesses that cosigned this replica's latest checkpoint",
            audit_checkpoint_cosignatures.clone(),
        );
        registry.register(
            "audit_witness_failures",
            "Checkpoint submissions a witness refused or did not answer",
            audit_witness_failures.clone(),
        );
        registry.register(
            "connections_open",
            "Client connections open now",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Client connections closed at once because server.max_connections were open",
            connections_refused.clone(),
        );
        registry.register(
            "store_unavailable",
            "Requests refused with 503 because the store could not commit their audit records in time",
            store_unavailable.clone(),
        );
        registry.register(
            "responses_unkept",
            "OpenAI Responses answers served but not kept because the store failed",
            responses_unkept.clone(),
        );
        registry.register(
            "policy_version",
            "1 for the directive set version this replica enforces",
            policy_version.clone(),
        );
        registry.register(
            "policy_age_seconds",
            "Seconds since this replica last refreshed its policy from the store",
            policy_age_seconds.clone(),
        );
        registry.register(
            "requests",
            "Model requests by requested model, API and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Whole request time by model",
            duration.clone(),
        );
        registry.register(
            "overhead_seconds",
            "The gateway's own time per request, excluding the upstream",
            overhead.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by model and class",
            upstream_errors.clone(),
        );
        registry.register(
            "directive_hits",
            "Requests a directive decided (deny, reroute) or would have decided (shadow)",
            directive_hits.clone(),
        );
        registry.register(
            "attempts",
            "Attempts on the models of a route by outcome (served, a failure class, or a skip)",
            attempts.clone(),
        );
        registry.register(
            "fallbacks",
            "Requests served by a fallback, by requested model",
            fallbacks.clone(),
        );
        registry.register(
            "breaker_open",
            "1 while a model's circuit breaker is open or half open",
            breaker_open.clone(),
        );
        registry.register(
            "provider_unhealthy",
            "1 while a provider's last health check failed",
            provider_unhealthy.clone(),
        );
        registry.register(
            "model_disabled",
            "1 while an operator has switched the model off (kill switch), else 0",
            model_disabled.clone(),
        );
        registry.register(
            "audit_records_written",
            "Audit records stored",
            audit_written.clone(),
        );
        registry.register(
            "audit_commit_seconds",
            "Time one audit batch took to become durable (its commit, fsync included)",
            audit_commit_seconds.clone(),
        );
        registry.register(
            "audit_batch_records",
            "Records per audit batch (one commit)",
            audit_batch_records.clone(),
        );
        registry.register(
            "audit_overloaded",
            "Requests refused because the audit queue was full",
            audit_overloaded.clone(),
        );
        registry.register(
            "audit_queue_depth",
            "Audit records waiting for the writer",
            audit_queued.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            overhead,
            upstream_errors,
            directive_hits,
            attempts,
            fallbacks,
            breaker_open,
            provider_unhealthy,
            model_disabled,
            audit_written,
            audit_commit_seconds,
            audit_batch_records,
            audit_overloaded,
            audit_queued,
            store_unavailable,
            responses_unkept,
            policy_version,
            policy_age_seconds,
            connections_open,
            connections_refused,
            audit_checkpoints,
            audit_checkpoint_size,
            audit_checkpoint_cosignatures,
            audit_witness_failures,
            fallback_validated,
            validation_runs,
        }
    }

    /// The Prometheus/OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
