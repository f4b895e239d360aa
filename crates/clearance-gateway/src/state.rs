//! Everything a request handler needs, built once at start and passed in (no globals).

use std::collections::HashMap;
use std::sync::Arc;

use clearance_config::{Config, Model, Provider};
use clearance_store::Store;
use clearance_upstream::UpstreamClient;

use crate::access::Origin;
use crate::audit_writer::AuditSink;
use crate::directives::Directives;
use crate::failover::Failover;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::switches::ModelSwitches;

/// A model clients can ask for, with the provider that serves it.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub model: Model,
    pub provider: Provider,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub models: Arc<HashMap<String, ModelEntry>>,
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub upstream: UpstreamClient,
    pub audit: AuditSink,
    pub metrics: Arc<Metrics>,
    pub directives: Arc<Directives>,
    pub origin: Origin,
    pub failover: Arc<Failover>,
    /// Kill switches: `switches.disabled(model)` on the request path.
    pub switches: Arc<ModelSwitches>,
    /// How old this replica's copy of the store's policy is.
    pub freshness: Arc<crate::refresh::Freshness>,
    /// The longest model name a request may ask for (the longest configured one, at least
    /// `MAX_REQUESTED_MODEL_BYTES`): a longer one is refused before it is recorded.
    pub max_model_name_bytes: usize,
    /// Rate limit on recording failed admin authentications.
    pub auth_failures: Arc<crate::admin::AuthFailures>,
    /// Model requests in flight per client key (`server.max_in_flight_per_key`).
    pub in_flight: Arc<crate::limits::InFlight>,
    /// The audit log key, when one is configured (checkpoints, the deployment note).
    pub log: Option<Arc<crate::checkpoints::LogSigning>>,
    /// How many witnesses cosigned the latest checkpoint (`/readyz` reports a shortfall).
    pub witnesses: Arc<crate::checkpoints::WitnessStatus>,
    /// The deployment note last signed, and when: `GET /audit/checkpoint` is public and reads
    /// every log's head, so it is signed at most once a second, however many ask.
    pub deployment_note: Arc<tokio::sync::Mutex<Option<(std::time::Instant, String)>>>,
    /// Trusted identity providers and their cached signing keys (`[[identity.oidc]]`).
    pub oidc: Arc<crate::oidc::Oidc>,
    /// The imported denied-party lists, indexed, reloaded when the store's `screening` change
    /// version moves: principals provisioned here are screened with them before they are
    /// stored, and the admin API's reviews use them.
    pub screening: Arc<crate::screening::ListCache>,
    /// Which fallbacks are validated for which primaries (`clearance validate`), reloaded when
    /// the store's `validations` change version moves.
    pub validations: Arc<crate::validations::Validations>,
}

/// Pairs each configured model with its provider (the config guarantees the provider exists).
pub fn model_table(config: &Config) -> HashMap<String, ModelEntry> {
    config
        .models
        .iter()
        .filter_map(|m| {
            let provider = config.providers.get(&m.provider)?.clone();
            Some((
                m.name.clone(),
                ModelEntry {
                    model: m.clone(),
                    provider,
                },
            ))
        })
        .collect()
}
