//! `clearance.toml`: read once at start, turned into a [`Config`] that holds no invalid value.
//!
//! Parsing happens in two stages, as in the TensorZero gateway: the TOML text becomes raw serde
//! structs (`raw`), which [`Config::parse`] then resolves into validated types (URLs parsed,
//! providers referenced by models present, secrets read from the environment). Every problem
//! found along the way is collected with its file, line and the offending text, so a user fixes
//! a config in one pass instead of one error per run.
//!
//! This crate reads environment variables only through the lookup function it is given, and no
//! file but the config itself, so it is tested without touching the process environment.

mod diagnostics;
mod failover;
mod identity;
mod provider;
mod raw;
mod resolve;
mod responses;
mod scim;
mod validation;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use clearance_failover::BreakerPolicy;
pub use diagnostics::{ConfigError, ConfigErrors};
pub use failover::{HealthCheck, RouteConfig};
pub use identity::{IdentityConfig, JwksSource, OidcIssuer};
pub use provider::{AwsCredentials, BedrockApi, BedrockConfig, ProviderKind};
pub use responses::ResponsesConfig;
pub use scim::{DEFAULT_SCIM_TOKEN_ENV, ScimConfig};
pub use validation::{CaptureConfig, Price, ValidationConfig};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; relative paths in it are relative to this file's folder.
    pub source: PathBuf,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub audit: AuditConfig,
    pub providers: BTreeMap<String, Provider>,
    /// In the order the file lists them.
    pub models: Vec<Model>,
    /// `None` without `[geoip] mmdb`: no request has a known country.
    pub geoip: Option<GeoIpConfig>,
    /// `None` without `[directives] dir`.
    pub directives: Option<DirectivesConfig>,
    /// Failover routes, at most one per model, in the order the file lists them.
    pub routes: Vec<RouteConfig>,
    /// When a model's circuit breaker opens and closes (one policy for every model).
    pub breaker: BreakerPolicy,
    /// Who may sign callers in besides Clearance keys (`[identity]`).
    pub identity: IdentityConfig,
    /// How fallbacks are validated and how old a validation may grow (`[validation]`).
    pub validation: ValidationConfig,
    /// Which apps' requests and answers are sampled for drafting suites (`[capture]`).
    pub capture: CaptureConfig,
    /// How long OpenAI Responses answers are kept for `previous_response_id` (`[responses]`).
    pub responses: ResponsesConfig,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The admin API's bearer token; `None` leaves the admin API switched off.
    pub admin_token: Option<Secret>,
    /// The environment variable the admin token is read from (`[server] admin_token_env`, or
    /// `CLEARANCE_ADMIN_TOKEN`): where commands that call the admin API find the token too.
    pub admin_token_env: String,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// Connection and request limits: timeouts, caps and the shutdown drain.
    pub limits: ServerLimits,
    /// Proxies whose `X-Forwarded-For` entries are believed when looking for the client's
    /// address; empty (the default): the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How long a client may take and how much it may hold (`[server]`, docs/config.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's head (request line and headers) must arrive within this; else the
    /// connection is closed.
    pub header_read_timeout_ms: u64,
    /// A request's whole body must arrive within this (408 otherwise).
    pub body_read_timeout_ms: u64,
    /// Longest pause between two pieces of a request body (408 otherwise).
    pub body_idle_timeout_ms: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub keep_alive_idle_ms: u64,
    /// Open client connections at most; past it a new connection is accepted and closed.
    pub max_connections: usize,
    /// Requests in flight at once with one client key; past it 429.
    pub max_in_flight_per_key: usize,
    /// After a shutdown signal, how long requests in flight may take before their
    /// connections are closed.
    pub drain_timeout_ms: u64,
    /// A provider's whole (non-streaming) answer may be at most this large; a larger one is a
    /// provider fault (`upstream_too_large`): the attempt fails and the route moves on.
    pub max_upstream_body_bytes: usize,
    /// One server-sent event (or one unfinished line) of a provider's stream may be at most
    /// this large; the gateway holds no more than this of a stream at once.
    pub max_upstream_event_bytes: usize,
    /// The longest a provider's stream may go without completing an event (and a whole
    /// answer's body may take after its headers) before the attempt counts as stalled.
    pub upstream_idle_timeout_ms: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            body_idle_timeout_ms: 10_000,
            keep_alive_idle_ms: 60_000,
            max_connections: 4_096,
            max_in_flight_per_key: 256,
            drain_timeout_ms: 30_000,
            max_upstream_body_bytes: 8 << 20,
            max_upstream_event_bytes: 1 << 20,
            upstream_idle_timeout_ms: 300_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// This gateway's name in the audit trail (`[store] replica`; default: the host name).
    /// Every record it writes names it, and its log belongs to it.
    pub replica: String,
    /// How long a replica may go without reading the store's policy (directive set, kill
    /// switches, keys) before models any directive covers fail closed with 451.
    pub max_policy_age_ms: u64,
}

/// Where the store is.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// The embedded default: one file (`[store] sqlite`).
    Sqlite(PathBuf),
    /// A PostgreSQL server shared by every replica (`[store] postgres`).
    Postgres(PostgresConfig),
}

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database[?sslmode=...]`, without a password.
    pub url: String,
    /// From the environment variable `[store] password_env` names, if any.
    pub password: Option<Secret>,
    pub max_connections: u32,
}

/// The geo-IP database the gateway opens at start. The path is not checked here: a missing or
/// wrong file is reported when the gateway opens it.
#[derive(Debug, Clone)]
pub struct GeoIpConfig {
    pub mmdb: PathBuf,
}

/// Where the directive files are, and how changes to them are noticed.
#[derive(Debug, Clone)]
pub struct DirectivesConfig {
    /// The folder of directive files, if this replica has one; without it the set comes from
    /// the store (activated there by the CLI, the admin API or another replica).
    pub dir: Option<PathBuf>,
    /// Reload the directives when a file in `dir` changes.
    pub watch: bool,
    /// How often the folder is polled for changes where file events are not available.
    pub poll_ms: u64,
    /// Default target of the RFC 7725 `Link: <...>; rel="blocked-by"` header on refusals.
    pub blocked_by: Option<url::Url>,
}

/// How the audit writer batches, and how long a request may wait for room in its queue before
/// the gateway fails closed with 503.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub queue_capacity: usize,
    pub max_wait_ms: u64,
    pub batch_max: usize,
    /// How long the writer waits for more records before writing a partial batch: a few
    /// milliseconds turn one transaction per request into one per batch at moderate rates.
    pub linger_ms: u64,
    /// The verifiable log: checkpoints, their key and the witnesses that cosign them.
    pub log: VerifiableLogConfig,
}

/// How this deployment's audit logs are checkpointed (docs/verifiable-log.md).
#[derive(Debug, Clone)]
pub struct VerifiableLogConfig {
    /// The checkpoint origin prefix and the log key's name; a log's origin is
    /// `<origin>/<log id>`.
    pub origin: String,
    /// Where the Ed25519 signer key (`clearance audit keygen`) comes from; without one no
    /// checkpoints are signed (the Merkle tree is kept either way).
    pub signing_key: Option<SigningKeySource>,
    /// A checkpoint is signed once this many records are not yet under one...
    pub checkpoint_every_records: u64,
    /// ...or this long after the first record that is not (and at shutdown).
    pub checkpoint_every_ms: u64,
    pub witnesses: Vec<WitnessConfig>,
    /// Fewer cosignatures than this on the latest checkpoint is reported (metric, `/readyz`
    /// detail, a log line).
    pub witnesses_required: usize,
    /// Verify every log (chain, tree, derived columns, signed checkpoints) before serving.
    pub verify_at_start: bool,
    /// A read-only bearer token for auditors and mirrors: it opens the records (entry
    /// bundles) and every receipt, and nothing else (not the admin API).
    pub reader_token: Option<Secret>,
}

/// The signer key's place.
#[derive(Debug, Clone)]
pub enum SigningKeySource {
    /// A file holding the key (relative paths from the config file's folder).
    File(PathBuf),
    /// The key itself, read from the environment variable named in the config.
    Env { name: String, key: Secret },
}

/// A witness the gateway submits its checkpoints to (C2SP tlog-witness).
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Its submission prefix; `add-checkpoint` is posted under it.
    pub url: url::Url,
    /// Its cosigner verifier key (`name+id+key`, type 0x04).
    pub key: String,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// As the vendor's SDK writes it: with `/v1` for `openai`, the host root for `anthropic`,
    /// the resource's root for `azure_openai`, the runtime endpoint for `bedrock` (by default
    /// `https://bedrock-runtime.{region}.amazonaws.com`).
    pub base_url: url::Url,
    /// The provider's API key (`bedrock`: an Amazon Bedrock API key, sent as a bearer token
    /// instead of signing with AWS credentials).
    pub api_key: Option<Secret>,
    /// The answer cap sent to a provider that requires one (Anthropic) when a translated request
    /// names none.
    pub default_max_tokens: u64,
    /// Active health checks; `None` when `health_interval_ms` is not set (or 0).
    pub health: Option<HealthCheck>,
}

/// A model clients can ask for.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub provider: String,
    /// The provider's own model id.
    pub upstream: String,
    pub tags: Vec<String>,
    /// What the provider charges, when configured: `clearance validate` reports cost from it.
    pub price: Option<Price>,
    /// An embedding model (served at `/v1/embeddings`, never at the chat endpoints) and the
    /// length of its vectors; `None` for a chat model.
    pub embedding_dimensions: Option<u32>,
}

impl Model {
    pub fn is_embedding(&self) -> bool {
        self.embedding_dimensions.is_some()
    }
}

/// Whether provider secrets are read (and must be set) or skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretMode {
    Require,
    Skip,
    /// Provider keys only: a command that calls providers but serves nothing (`validate`).
    ProvidersOnly,
}

impl SecretMode {
    /// What the secrets of the server's own surfaces (admin token, signing key, SCIM and
    /// reader tokens) are read under.
    pub(crate) fn for_server(self) -> SecretMode {
        match self {
            SecretMode::ProvidersOnly => SecretMode::Skip,
            mode => mode,
        }
    }
}

/// A secret read from the environment. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that must send it (an upstream header, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A variable of the process environment; `None` when unset or not Unicode. The one door
/// through which Clearance reads its environment (the workspace's `.clippy.toml` forbids
/// `std::env::var` elsewhere), so every outside input a decision may depend on is found here
/// and in the config file.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place the environment is read"
)]
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Reads and validates a config file, taking secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors::unreadable(path, &e))?;
        Config::parse(&text, path, &env_var)
    }

    /// Reads and validates a config file for a command that calls no provider (key and
    /// principal management, audit): provider secrets are not read, so they need not be set.
    pub fn load_without_secrets(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors::unreadable(path, &e))?;
        resolve::resolve(&text, path, &env_var, SecretMode::Skip)
    }

    /// Reads and validates a config file for a command that calls providers but serves
    /// nothing (`clearance validate`): provider keys must be set, the server's own secrets
    /// (admin token, signing key, SCIM and reader tokens) are not read.
    pub fn load_for_providers(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors::unreadable(path, &e))?;
        resolve::resolve(&text, path, &env_var, SecretMode::ProvidersOnly)
    }

    /// Validates config text; `env` looks up environment variables.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        resolve::resolve(text, path, env, SecretMode::Require)
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The failover route whose primary is `model`, if one is configured.
    pub fn route(&self, model: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.model == model)
    }
}
