//! The config file as written: serde structs that mirror the TOML, with spans kept for every
//! value a later check may need to point at. These structs are the one definition of the
//! config keys; docs/config.md is checked against them by a test.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub geoip: RawGeoIp,
    pub directives: Option<RawDirectives>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub breaker: RawBreaker,
    #[serde(default)]
    pub identity: crate::identity::RawIdentity,
    #[serde(default)]
    pub validation: crate::validation::RawValidation,
    #[serde(default)]
    pub capture: crate::validation::RawCapture,
    #[serde(default)]
    pub responses: crate::responses::RawResponses,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin_token_env: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub header_read_timeout_ms: Option<Spanned<i64>>,
    pub body_read_timeout_ms: Option<Spanned<i64>>,
    pub body_idle_timeout_ms: Option<Spanned<i64>>,
    pub keep_alive_idle_ms: Option<Spanned<i64>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_in_flight_per_key: Option<Spanned<i64>>,
    pub drain_timeout_ms: Option<Spanned<i64>>,
    pub max_upstream_body_bytes: Option<Spanned<i64>>,
    pub max_upstream_event_bytes: Option<Spanned<i64>>,
    pub upstream_idle_timeout_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawStore {
    pub sqlite: Option<String>,
    pub postgres: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub replica: Option<Spanned<String>>,
    pub max_policy_age_ms: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawGeoIp {
    pub mmdb: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawDirectives {
    pub dir: Option<Spanned<String>>,
    pub watch: Option<bool>,
    pub poll_ms: Option<Spanned<i64>>,
    pub blocked_by: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawAudit {
    pub queue_capacity: Option<Spanned<i64>>,
    pub max_wait_ms: Option<Spanned<i64>>,
    pub batch_max: Option<Spanned<i64>>,
    pub linger_ms: Option<Spanned<i64>>,
    pub origin: Option<Spanned<String>>,
    pub signing_key_file: Option<Spanned<String>>,
    pub signing_key_env: Option<Spanned<String>>,
    pub checkpoint_every_records: Option<Spanned<i64>>,
    pub checkpoint_every_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub witnesses: Vec<RawWitness>,
    pub witnesses_required: Option<Spanned<i64>>,
    pub verify_at_start: Option<Spanned<bool>>,
    pub reader_token_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWitness {
    pub url: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawProvider {
    pub kind: Spanned<RawKind>,
    /// Required for every kind but `bedrock` (whose region names its endpoint).
    pub base_url: Option<Spanned<String>>,
    pub api_key_env: Option<Spanned<String>>,
    pub default_max_tokens: Option<Spanned<i64>>,
    pub health_interval_ms: Option<Spanned<i64>>,
    pub health_timeout_ms: Option<Spanned<i64>>,
    /// `azure_openai` only.
    pub api_version: Option<Spanned<String>>,
    /// `bedrock` only, as the four below.
    pub region: Option<Spanned<String>>,
    pub api: Option<Spanned<RawBedrockApi>>,
    pub access_key_id_env: Option<Spanned<String>>,
    pub secret_access_key_env: Option<Spanned<String>>,
    pub session_token_env: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawKind {
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
    Bedrock,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawBedrockApi {
    Converse,
    Anthropic,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawModel {
    pub name: Spanned<String>,
    pub provider: Spanned<String>,
    pub upstream: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub input_price_per_mtok: Option<Spanned<f64>>,
    pub output_price_per_mtok: Option<Spanned<f64>>,
    pub embedding_dimensions: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawRoute {
    pub model: Spanned<String>,
    #[serde(default)]
    pub fallbacks: Vec<Spanned<String>>,
    pub attempt_timeout_ms: Option<Spanned<i64>>,
    pub deadline_ms: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub retry_budget: Option<Spanned<f64>>,
    pub backoff_ms: Option<Spanned<i64>>,
    pub backoff_max_ms: Option<Spanned<i64>>,
    pub validated_only: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawBreaker {
    pub consecutive_failures: Option<Spanned<i64>>,
    pub error_rate: Option<Spanned<f64>>,
    pub window_ms: Option<Spanned<i64>>,
    pub min_requests: Option<Spanned<i64>>,
    pub open_ms: Option<Spanned<i64>>,
    pub half_open_probes: Option<Spanned<i64>>,
}
