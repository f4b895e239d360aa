//! From raw structs to a validated [`Config`], collecting every problem with its place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostics::{ConfigErrors, Diagnostics};
use crate::raw::{
    RawAudit, RawConfig, RawDirectives, RawGeoIp, RawModel, RawProvider, RawServer, RawStore,
};
use crate::{
    AuditConfig, Config, DirectivesConfig, GeoIpConfig, Model, PostgresConfig, Provider,
    ProviderKind, Secret, SecretMode, ServerConfig, ServerLimits, SigningKeySource, StoreBackend,
    StoreConfig, VerifiableLogConfig, WitnessConfig,
};

const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const DEFAULT_ADMIN_TOKEN_ENV: &str = "CLEARANCE_ADMIN_TOKEN";
const DEFAULT_SQLITE: &str = "clearance.db";
const DEFAULT_MAX_BODY_BYTES: i64 = 4 * 1024 * 1024;
const DEFAULT_POLL_MS: i64 = 1_000;
/// Polling faster than this costs more than it gains: a directive edit is not that urgent.
const MIN_POLL_MS: i64 = 50;
/// What Anthropic's own quick-start asks for; only used when a translated request names no cap.
const DEFAULT_MAX_TOKENS: i64 = 4_096;

pub(crate) type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

pub(crate) fn resolve(
    text: &str,
    path: &Path,
    env: Env<'_>,
    secrets: SecretMode,
) -> Result<Config, ConfigErrors> {
    let mut diag = Diagnostics::new(text, path);
    let (tree, syntax_errors) = DeTable::parse_recoverable(text);
    for error in &syntax_errors {
        diag.at(error.span(), format!("TOML syntax: {}", error.message()));
    }
    if diag.has_errors() {
        return diag.fail();
    }
    let raw = match deserialize_noting_unknown_keys(&tree, &mut diag) {
        Some(raw) => raw,
        None => return diag.fail(),
    };
    let provider_secrets = secrets;
    let secrets = secrets.for_server();
    let server = resolve_server(&raw.server, env, secrets, &mut diag);
    let audit = resolve_audit(
        &raw.audit,
        path.parent().unwrap_or(Path::new(".")),
        env,
        secrets,
        &mut diag,
    );
    let providers = raw
        .providers
        .iter()
        .filter_map(|(name, p)| resolve_provider(name, p, env, provider_secrets, &mut diag))
        .map(|p| (p.name.clone(), p))
        .collect();
    let models = resolve_models(&raw.models, &raw, &mut diag);
    let base = path.parent().unwrap_or(Path::new("."));
    let store = resolve_store(&raw.store, base, env, &mut diag);
    let geoip = resolve_geoip(&raw.geoip, base, &mut diag);
    let directives = raw.directives.as_ref().and_then(|directives| {
        let (section, _) = locate_key(&tree, &["directives".to_string()]);
        resolve_directives(directives, section, base, &mut diag)
    });
    let routes = crate::failover::resolve_routes(&raw.routes, &models, &mut diag);
    let breaker = crate::failover::resolve_breaker(&raw.breaker, &mut diag);
    let mut identity = crate::identity::resolve_identity(&raw.identity, &mut diag);
    identity.scim = crate::scim::resolve_scim(raw.identity.scim.as_ref(), env, secrets, &mut diag);
    let validation = crate::validation::resolve_validation(&raw.validation, &mut diag);
    let capture = crate::validation::resolve_capture(&raw.capture, &mut diag);
    let responses = crate::responses::resolve_responses(&raw.responses, &mut diag);
    let config = Config {
        source: path.to_path_buf(),
        server: server.unwrap_or_else(fallback_server),
        store,
        audit,
        providers,
        models,
        geoip,
        directives,
        routes,
        breaker,
        identity,
        validation,
        capture,
        responses,
    };
    diag.finish(config)
}

/// A file with more type errors than this is reported up to here; the rest come after a fix.
const MAX_TYPE_ERRORS: usize = 100;

/// Deserialises the raw structs; every key serde did not use becomes an "unknown key" problem
/// located through the spanned tree.
///
/// serde stops at the first value of the wrong type, so each such value is reported, replaced
/// by a stand-in of the type serde expected (or taken out), and the rest deserialised again: a
/// file with three mistyped values gets three problems in one run. The stand-ins only let the
/// search go on: nothing is resolved from a file that had a type error.
fn deserialize_noting_unknown_keys(
    tree: &Spanned<DeTable<'_>>,
    diag: &mut Diagnostics<'_>,
) -> Option<RawConfig> {
    let mut remaining = tree.clone();
    let mut patched: Vec<Range<usize>> = Vec::new();
    let mut type_errors = 0;
    loop {
        let mut unknown: Vec<Vec<String>> = Vec::new();
        let de = toml::de::Deserializer::from(remaining.clone());
        let result = serde_ignored::deserialize(de, |path| unknown.push(path_segments(&path)));
        let error = match result {
            Ok(raw) => {
                report_unknown_keys(tree, &unknown, diag);
                return (type_errors == 0).then_some(raw);
            }
            Err(error) => error,
        };
        let span = error.span();
        // An error inside a stand-in is the stand-in's, not the file's: take it out instead.
        let in_a_stand_in = span
            .as_ref()
            .is_some_and(|span| patched.iter().any(|p| contains(p, span)));
        if !in_a_stand_in {
            diag.at(span.clone(), error.message().to_string());
            type_errors += 1;
        }
        let stand_in = (!in_a_stand_in)
            .then(|| stand_in_for(error.message()))
            .flatten();
        let fixed = span
            .filter(|_| type_errors < MAX_TYPE_ERRORS)
            .filter(|span| patch_at(remaining.get_mut(), span, stand_in));
        match fixed {
            Some(span) => patched.push(span),
            None => {
                report_unknown_keys(tree, &unknown, diag);
                return None;
            }
        }
    }
}

fn report_unknown_keys(
    tree: &Spanned<DeTable<'_>>,
    unknown: &[Vec<String>],
    diag: &mut Diagnostics<'_>,
) {
    for segments in unknown {
        let (span, table) = locate_key(tree, segments);
        let key = segments.last().map_or("", String::as_str);
        let where_ = if table.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{table}]")
        };
        diag.at(span, format!("unknown key `{key}` {where_}"));
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// A value of the type a serde "invalid type" or "unknown variant" message says it expected,
/// so that a wrongly typed required key does not also come back as a missing one.
fn stand_in_for(message: &str) -> Option<DeValue<'static>> {
    let (_, expected) = message.rsplit_once("expected ")?;
    if let Some(variants) = expected.strip_prefix("one of `") {
        let first = variants.split('`').next()?;
        return Some(DeValue::String(first.to_string().into()));
    }
    let toml = match expected.trim_start_matches("a ").trim_start_matches("an ") {
        "string" => "\"\"",
        "i64" | "u64" | "i32" | "u32" | "u16" | "usize" | "integer" => "0",
        "f64" | "float" => "0.0",
        "boolean" | "bool" => "false",
        "sequence" => "[]",
        _ => return None,
    };
    DeValue::parse(toml).ok().map(Spanned::into_inner)
}

/// Puts `stand_in` (or, without one, nothing) in place of the innermost entry whose key or
/// value lies at `span`, or, for a span that is a whole table or array item (a missing field),
/// that item. False when nothing in the tree lies there. A table's span is its header only,
/// so every table is searched, not just the ones whose span covers `span`.
fn patch_at<'i>(
    table: &mut DeTable<'i>,
    span: &Range<usize>,
    stand_in: Option<DeValue<'i>>,
) -> bool {
    let mut target = None;
    for (key, value) in table.iter_mut() {
        let value_span = value.span();
        if key.span() == *span || value_span == *span {
            target = Some(key.get_ref().clone());
            break;
        }
        if patch_nested(value.get_mut(), span, stand_in.clone()) {
            return true;
        }
        if contains(&value_span, span) {
            target = Some(key.get_ref().clone());
        }
    }
    let Some(key) = target else {
        return false;
    };
    match (stand_in, table.get_mut(key.as_ref())) {
        (Some(stand_in), Some(value)) => *value.get_mut() = stand_in,
        _ => {
            table.remove(key.as_ref());
        }
    }
    true
}

fn patch_nested<'i>(
    value: &mut DeValue<'i>,
    span: &Range<usize>,
    stand_in: Option<DeValue<'i>>,
) -> bool {
    match value {
        DeValue::Table(table) => patch_at(table, span, stand_in),
        DeValue::Array(items) => {
            let Some(index) = items.iter().position(|item| item.span() == *span) else {
                return items
                    .as_mut()
                    .iter_mut()
                    .any(|item| patch_nested(item.get_mut(), span, stand_in.clone()));
            };
            match stand_in {
                Some(stand_in) => *items.as_mut()[index].get_mut() = stand_in,
                None => {
                    *items = std::mem::replace(items, toml::de::DeArray::new())
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, item)| (i != index).then_some(item))
                        .collect();
                }
            }
            true
        }
        _ => false,
    }
}

fn path_segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => push(path_segments(parent), index.to_string()),
        P::Map { parent, key } => push(path_segments(parent), key.clone()),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            path_segments(parent)
        }
    }
}

fn push(mut segments: Vec<String>, segment: String) -> Vec<String> {
    segments.push(segment);
    segments
}

/// Finds the span of the last key in `segments`, and a readable name of the table holding it.
fn locate_key(tree: &Spanned<DeTable<'_>>, segments: &[String]) -> (Option<Range<usize>>, String) {
    let mut table = tree.get_ref();
    let mut value: Option<&DeValue<'_>> = None;
    let mut names: Vec<&str> = Vec::new();
    let Some((last, parents)) = segments.split_last() else {
        return (None, String::new());
    };
    for segment in parents {
        let next = match value {
            Some(DeValue::Array(items)) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(Spanned::get_ref),
            _ => table.get(segment.as_str()).map(Spanned::get_ref),
        };
        match next {
            Some(DeValue::Table(t)) => {
                table = t;
                value = None;
            }
            Some(other) => value = Some(other),
            None => return (None, names.join(".")),
        }
        if segment.parse::<usize>().is_err() {
            names.push(segment);
        }
    }
    let span = table
        .iter()
        .find(|(k, _)| k.get_ref() == last)
        .map(|(k, _)| k.span());
    (span, names.join("."))
}

fn resolve_server(
    raw: &RawServer,
    env: Env<'_>,
    secrets: SecretMode,
    diag: &mut Diagnostics<'_>,
) -> Option<ServerConfig> {
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN.parse().ok(),
        Some(text) => text
            .get_ref()
            .parse::<SocketAddr>()
            .map_err(|_| {
                diag.at(
                    Some(text.span()),
                    format!(
                        "server.listen: `{}` is not an address like 127.0.0.1:8787",
                        text.get_ref()
                    ),
                )
            })
            .ok(),
    };
    let admin_token = match &raw.admin_token_env {
        // The default variable is optional: without it the admin API stays off.
        None => env(DEFAULT_ADMIN_TOKEN_ENV)
            .filter(|v| !v.is_empty())
            .map(Secret::new),
        Some(_) if secrets == SecretMode::Skip => None,
        Some(name) => required_env(name, "server.admin_token_env", env, diag),
    };
    let max_body_bytes = positive(
        raw.max_body_bytes.as_ref(),
        DEFAULT_MAX_BODY_BYTES,
        "server.max_body_bytes",
        diag,
    );
    let limits = resolve_limits(raw, diag);
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .filter_map(|entry| parse_network(entry, diag))
        .collect();
    let admin_token_env = raw
        .admin_token_env
        .as_ref()
        .map_or(DEFAULT_ADMIN_TOKEN_ENV, |name| name.get_ref().as_str())
        .to_string();
    Some(ServerConfig {
        listen: listen?,
        admin_token,
        admin_token_env,
        max_body_bytes: max_body_bytes as usize,
        limits,
        trusted_proxies,
    })
}

/// The `[server]` timeouts and caps: each a positive integer, defaulted when absent.
fn resolve_limits(raw: &RawServer, diag: &mut Diagnostics<'_>) -> ServerLimits {
    let d = ServerLimits::default();
    let mut key = |value: &Option<Spanned<i64>>, default: u64, name: &str| {
        positive(value.as_ref(), default as i64, name, diag) as u64
    };
    ServerLimits {
        header_read_timeout_ms: key(
            &raw.header_read_timeout_ms,
            d.header_read_timeout_ms,
            "server.header_read_timeout_ms",
        ),
        body_read_timeout_ms: key(
            &raw.body_read_timeout_ms,
            d.body_read_timeout_ms,
            "server.body_read_timeout_ms",
        ),
        body_idle_timeout_ms: key(
            &raw.body_idle_timeout_ms,
            d.body_idle_timeout_ms,
            "server.body_idle_timeout_ms",
        ),
        keep_alive_idle_ms: key(
            &raw.keep_alive_idle_ms,
            d.keep_alive_idle_ms,
            "server.keep_alive_idle_ms",
        ),
        max_connections: key(
            &raw.max_connections,
            d.max_connections as u64,
            "server.max_connections",
        ) as usize,
        max_in_flight_per_key: key(
            &raw.max_in_flight_per_key,
            d.max_in_flight_per_key as u64,
            "server.max_in_flight_per_key",
        ) as usize,
        drain_timeout_ms: key(
            &raw.drain_timeout_ms,
            d.drain_timeout_ms,
            "server.drain_timeout_ms",
        ),
        max_upstream_body_bytes: key(
            &raw.max_upstream_body_bytes,
            d.max_upstream_body_bytes as u64,
            "server.max_upstream_body_bytes",
        ) as usize,
        max_upstream_event_bytes: key(
            &raw.max_upstream_event_bytes,
            d.max_upstream_event_bytes as u64,
            "server.max_upstream_event_bytes",
        ) as usize,
        upstream_idle_timeout_ms: key(
            &raw.upstream_idle_timeout_ms,
            d.upstream_idle_timeout_ms,
            "server.upstream_idle_timeout_ms",
        ),
    }
}

/// A CIDR network, or a single address standing for itself alone (/32 or /128).
fn parse_network(entry: &Spanned<String>, diag: &mut Diagnostics<'_>) -> Option<ipnet::IpNet> {
    let text = entry.get_ref().trim();
    let parsed = text
        .parse::<ipnet::IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
    match parsed {
        Ok(net) => Some(net),
        Err(_) => {
            diag.at(
                Some(entry.span()),
                format!(
                    "server.trusted_proxies: `{}` is not an IP network (CIDR like 10.0.0.0/8 or a single address)",
                    entry.get_ref()
                ),
            );
            None
        }
    }
}

fn fallback_server() -> ServerConfig {
    ServerConfig {
        listen: DEFAULT_LISTEN
            .parse()
            .expect("the default listen address parses"),
        admin_token: None,
        admin_token_env: DEFAULT_ADMIN_TOKEN_ENV.to_string(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES as usize,
        limits: ServerLimits::default(),
        trusted_proxies: Vec::new(),
    }
}

fn resolve_geoip(raw: &RawGeoIp, base: &Path, diag: &mut Diagnostics<'_>) -> Option<GeoIpConfig> {
    let mmdb = non_empty_path(raw.mmdb.as_ref()?, "geoip.mmdb", "a .mmdb file", diag)?;
    Some(GeoIpConfig {
        mmdb: base.join(mmdb),
    })
}

const DEFAULT_MAX_POLICY_AGE_MS: i64 = 60_000;
const DEFAULT_PG_CONNECTIONS: i64 = 16;

/// `[store]`: SQLite (the default) or PostgreSQL, never both; the PostgreSQL password only
/// from the environment variable `password_env` names, never from the file.
fn resolve_store(
    raw: &RawStore,
    base: &Path,
    env: Env<'_>,
    diag: &mut Diagnostics<'_>,
) -> StoreConfig {
    let backend = match (&raw.postgres, &raw.sqlite) {
        (Some(url), sqlite) => {
            if sqlite.is_some() {
                diag.at(
                    Some(url.span()),
                    "[store] names both `sqlite` and `postgres`: keep the one this gateway uses",
                );
            }
            resolve_postgres(raw, url, env, diag)
        }
        (None, sqlite) => {
            StoreBackend::Sqlite(base.join(sqlite.as_deref().unwrap_or(DEFAULT_SQLITE)))
        }
    };
    let replica = match &raw.replica {
        Some(name) if valid_replica_name(name.get_ref()) => name.get_ref().clone(),
        Some(name) => {
            diag.at(
                Some(name.span()),
                "store.replica: 1 to 64 letters, digits, `.`, `_` or `-`",
            );
            default_replica()
        }
        None => default_replica(),
    };
    let max_policy_age_ms = positive(
        raw.max_policy_age_ms.as_ref(),
        DEFAULT_MAX_POLICY_AGE_MS,
        "store.max_policy_age_ms",
        diag,
    ) as u64;
    StoreConfig {
        backend,
        replica,
        max_policy_age_ms,
    }
}

fn resolve_postgres(
    raw: &RawStore,
    url: &Spanned<String>,
    env: Env<'_>,
    diag: &mut Diagnostics<'_>,
) -> StoreBackend {
    match url::Url::parse(url.get_ref()) {
        Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
            if parsed.password().is_some() {
                diag.at(
                    Some(url.span()),
                    "store.postgres must not hold a password: put it in an environment variable and name it with `password_env`",
                );
            }
        }
        _ => diag.at(
            Some(url.span()),
            "store.postgres: expected a URL like postgres://user@host:5432/database",
        ),
    }
    // Read even when provider secrets are skipped (`SecretMode::Skip`): every CLI command
    // that opens the store needs it.
    let password = match &raw.password_env {
        Some(name) => required_env(name, "store.password_env", env, diag),
        None => None,
    };
    let max_connections = positive(
        raw.max_connections.as_ref(),
        DEFAULT_PG_CONNECTIONS,
        "store.max_connections",
        diag,
    );
    StoreBackend::Postgres(PostgresConfig {
        url: url.get_ref().clone(),
        password,
        max_connections: u32::try_from(max_connections).unwrap_or(u32::MAX),
    })
}

fn valid_replica_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The host name, which tells replicas apart in most deployments (one per container or
/// machine); `gateway` where it cannot be read.
fn default_replica() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| valid_replica_name(h))
        .unwrap_or_else(|| "gateway".to_string())
}

/// `section` locates the `[directives]` header, for the problem of a section without `dir`.
fn resolve_directives(
    raw: &RawDirectives,
    section: Option<Range<usize>>,
    base: &Path,
    diag: &mut Diagnostics<'_>,
) -> Option<DirectivesConfig> {
    let poll_ms = at_least(
        MIN_POLL_MS,
        &format!("at least {MIN_POLL_MS}"),
        raw.poll_ms.as_ref(),
        DEFAULT_POLL_MS,
        "directives.poll_ms",
        diag,
    );
    let blocked_by = raw
        .blocked_by
        .as_ref()
        .and_then(|url| parse_http_url(url, "directives.blocked_by", diag));
    // Without `dir` the set comes from the store; `section` is kept for problems of the
    // section as a whole.
    let _ = section;
    let dir = match &raw.dir {
        Some(dir) => Some(base.join(non_empty_path(
            dir,
            "directives.dir",
            "the folder of directive files",
            diag,
        )?)),
        None => None,
    };
    Some(DirectivesConfig {
        dir,
        watch: raw.watch.unwrap_or(true),
        poll_ms: poll_ms as u64,
        blocked_by,
    })
}

/// The path as written, unless it is blank; relative paths are joined to the config's folder by
/// the caller.
fn non_empty_path<'r>(
    raw: &'r Spanned<String>,
    key: &str,
    what: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<&'r Path> {
    if raw.get_ref().trim().is_empty() {
        diag.at(
            Some(raw.span()),
            format!(
                "{key} must not be empty: give the path of {what}, relative to this file's folder"
            ),
        );
        return None;
    }
    Some(Path::new(raw.get_ref()))
}

fn resolve_audit(
    raw: &RawAudit,
    base: &Path,
    env: Env<'_>,
    secrets: SecretMode,
    diag: &mut Diagnostics<'_>,
) -> AuditConfig {
    AuditConfig {
        queue_capacity: positive(
            raw.queue_capacity.as_ref(),
            65_536,
            "audit.queue_capacity",
            diag,
        ) as usize,
        max_wait_ms: positive(raw.max_wait_ms.as_ref(), 2_000, "audit.max_wait_ms", diag) as u64,
        batch_max: positive(raw.batch_max.as_ref(), 512, "audit.batch_max", diag) as usize,
        linger_ms: non_negative(raw.linger_ms.as_ref(), 0, "audit.linger_ms", diag) as u64,
        log: resolve_verifiable_log(raw, base, env, secrets, diag),
    }
}

const DEFAULT_ORIGIN: &str = "clearance.local/audit";

fn resolve_verifiable_log(
    raw: &RawAudit,
    base: &Path,
    env: Env<'_>,
    secrets: SecretMode,
    diag: &mut Diagnostics<'_>,
) -> VerifiableLogConfig {
    let origin = match &raw.origin {
        None => DEFAULT_ORIGIN.to_string(),
        Some(origin) => {
            let text = origin.get_ref();
            if text.is_empty() || text.contains([' ', '+', '\n', '\t']) || text.ends_with('/') {
                diag.at(
                    Some(origin.span()),
                    format!(
                        "audit.origin: `{text}` must be a schema-less URL like example.com/audit: no spaces, no `+`, no trailing `/`"
                    ),
                );
            }
            text.clone()
        }
    };
    let signing_key = match (&raw.signing_key_file, &raw.signing_key_env) {
        (Some(file), Some(_)) => {
            diag.at(
                Some(file.span()),
                "audit: give signing_key_file or signing_key_env, not both".to_string(),
            );
            None
        }
        (Some(file), None) => {
            non_empty_path(file, "audit.signing_key_file", "the signer key file", diag)
                .map(|p| SigningKeySource::File(base.join(p)))
        }
        // Commands that sign nothing read the key only if it is there (to check checkpoints).
        (None, Some(name)) if secrets == SecretMode::Skip => env(name.get_ref())
            .filter(|v| !v.is_empty())
            .map(|key| SigningKeySource::Env {
                name: name.get_ref().clone(),
                key: Secret::new(key),
            }),
        (None, Some(name)) => required_env(name, "audit.signing_key_env", env, diag).map(|key| {
            SigningKeySource::Env {
                name: name.get_ref().clone(),
                key,
            }
        }),
        (None, None) => None,
    };
    let witnesses: Vec<WitnessConfig> = raw
        .witnesses
        .iter()
        .filter_map(|w| {
            let url = url::Url::parse(w.url.get_ref())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            if url.is_none() {
                diag.at(
                    Some(w.url.span()),
                    format!("audit.witnesses: `{}` is not an http(s) URL", w.url.get_ref()),
                );
            }
            let key = w.key.get_ref().trim();
            let parts: Vec<&str> = key.splitn(3, '+').collect();
            if parts.len() != 3 || parts[0].is_empty() || parts[1].len() != 8 {
                diag.at(
                    Some(w.key.span()),
                    "audit.witnesses: key must be a witness verifier key `name+<8 hex>+<base64>` (what `clearance witness keygen` prints)".to_string(),
                );
            }
            Some(WitnessConfig {
                url: url?,
                key: key.to_string(),
            })
        })
        .collect();
    let witnesses_required = non_negative(
        raw.witnesses_required.as_ref(),
        0,
        "audit.witnesses_required",
        diag,
    ) as usize;
    if witnesses_required > raw.witnesses.len()
        && let Some(required) = &raw.witnesses_required
    {
        diag.at(
            Some(required.span()),
            format!(
                "audit.witnesses_required = {witnesses_required}, but only {} witnesses are configured",
                raw.witnesses.len()
            ),
        );
    }
    VerifiableLogConfig {
        origin,
        signing_key,
        checkpoint_every_records: positive(
            raw.checkpoint_every_records.as_ref(),
            1_000,
            "audit.checkpoint_every_records",
            diag,
        ) as u64,
        checkpoint_every_ms: positive(
            raw.checkpoint_every_ms.as_ref(),
            1_000,
            "audit.checkpoint_every_ms",
            diag,
        ) as u64,
        witnesses,
        witnesses_required,
        verify_at_start: raw.verify_at_start.as_ref().is_none_or(|v| *v.get_ref()),
        reader_token: match &raw.reader_token_env {
            Some(_) if secrets == SecretMode::Skip => None,
            Some(name) => required_env(name, "audit.reader_token_env", env, diag),
            None => None,
        },
    }
}

pub(crate) fn non_negative(
    value: Option<&Spanned<i64>>,
    default: i64,
    key: &str,
    diag: &mut Diagnostics<'_>,
) -> i64 {
    at_least(0, "zero or more", value, default, key, diag)
}

pub(crate) fn positive(
    value: Option<&Spanned<i64>>,
    default: i64,
    key: &str,
    diag: &mut Diagnostics<'_>,
) -> i64 {
    at_least(1, "a positive number", value, default, key, diag)
}

/// The value if it is at least `min`; otherwise a problem at its place, and the default.
pub(crate) fn at_least(
    min: i64,
    wanted: &str,
    value: Option<&Spanned<i64>>,
    default: i64,
    key: &str,
    diag: &mut Diagnostics<'_>,
) -> i64 {
    match value {
        None => default,
        Some(v) if *v.get_ref() >= min => *v.get_ref(),
        Some(v) => {
            diag.at(
                Some(v.span()),
                format!("{key} must be {wanted}, not {}", v.get_ref()),
            );
            default
        }
    }
}

pub(crate) fn required_env(
    name: &Spanned<String>,
    key: &str,
    env: Env<'_>,
    diag: &mut Diagnostics<'_>,
) -> Option<Secret> {
    match env(name.get_ref()) {
        Some(value) if !value.is_empty() => Some(Secret::new(value)),
        Some(_) => {
            diag.at(
                Some(name.span()),
                format!("{key}: environment variable {} is empty", name.get_ref()),
            );
            None
        }
        None => {
            diag.at(
                Some(name.span()),
                format!("{key}: environment variable {} is not set", name.get_ref()),
            );
            None
        }
    }
}

fn resolve_provider(
    name: &str,
    raw: &RawProvider,
    env: Env<'_>,
    secrets: SecretMode,
    diag: &mut Diagnostics<'_>,
) -> Option<Provider> {
    let key = format!("providers.{name}");
    let read_secrets = matches!(secrets, SecretMode::Require | SecretMode::ProvidersOnly);
    let api_key = match read_secrets {
        true => raw
            .api_key_env
            .as_ref()
            .and_then(|v| required_env(v, &format!("{key}.api_key_env"), env, diag)),
        false => None,
    };
    let kind = crate::provider::resolve_kind(&key, raw, env, read_secrets, diag);
    let base_url = match (&raw.base_url, &kind) {
        (Some(url), _) => parse_http_url(url, &format!("{key}.base_url"), diag),
        (None, Some(ProviderKind::Bedrock(bedrock))) => {
            crate::provider::bedrock_endpoint(&bedrock.region)
        }
        (None, _) => {
            diag.at(
                Some(raw.kind.span()),
                format!("{key}: `base_url` is required (the provider's API root)"),
            );
            None
        }
    };
    let default_max_tokens = at_least(
        1,
        "at least 1",
        raw.default_max_tokens.as_ref(),
        DEFAULT_MAX_TOKENS,
        &format!("{key}.default_max_tokens"),
        diag,
    );
    let health = crate::failover::resolve_health(&key, raw, diag);
    Some(Provider {
        name: name.to_string(),
        kind: kind?,
        base_url: base_url?,
        api_key,
        default_max_tokens: default_max_tokens as u64,
        health,
    })
}

/// An absolute `http` or `https` URL with a host.
fn parse_http_url(
    raw: &Spanned<String>,
    key: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<url::Url> {
    let problem = match url::Url::parse(raw.get_ref()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            return Some(url);
        }
        Ok(url) => format!(
            "scheme `{}` is not http or https, or the URL has no host",
            url.scheme()
        ),
        Err(e) => e.to_string(),
    };
    diag.at(
        Some(raw.span()),
        format!("{key}: `{}` is not a valid URL: {problem}", raw.get_ref()),
    );
    None
}

fn resolve_models(
    raw_models: &[RawModel],
    raw: &RawConfig,
    diag: &mut Diagnostics<'_>,
) -> Vec<Model> {
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut models = Vec::new();
    for model in raw_models {
        let name = model.name.get_ref().trim();
        if name.is_empty() {
            diag.at(Some(model.name.span()), "models.name must not be empty");
            continue;
        }
        if let Some(first_offset) = first_seen.get(name) {
            let first_line = diag.line_of(*first_offset);
            diag.at(
                Some(model.name.span()),
                format!("duplicate model `{name}` (first defined on line {first_line})"),
            );
            continue;
        }
        first_seen.insert(name, model.name.span().start);
        let provider = model.provider.get_ref();
        if !raw.providers.contains_key(provider) {
            let known: Vec<&str> = raw.providers.keys().map(String::as_str).collect();
            diag.at(
                Some(model.provider.span()),
                format!(
                    "model `{name}`: unknown provider `{provider}` (defined providers: {})",
                    list_or_none(&known)
                ),
            );
            continue;
        }
        let embedding_dimensions =
            embedding_dimensions(name, model, &raw.providers[provider], diag);
        models.push(Model {
            name: name.to_string(),
            provider: provider.clone(),
            upstream: model.upstream.clone().unwrap_or_else(|| name.to_string()),
            tags: model.tags.clone(),
            price: crate::validation::resolve_price(model, diag),
            embedding_dimensions,
        });
    }
    models
}

/// `embedding_dimensions`: a positive vector length, on a provider kind with an embeddings API
/// (every kind but `anthropic`, which has none).
fn embedding_dimensions(
    name: &str,
    model: &RawModel,
    provider: &RawProvider,
    diag: &mut Diagnostics<'_>,
) -> Option<u32> {
    let dimensions = model.embedding_dimensions.as_ref()?;
    let value = *dimensions.get_ref();
    let Some(value) = u32::try_from(value).ok().filter(|v| *v > 0) else {
        diag.at(
            Some(dimensions.span()),
            format!("model `{name}`: embedding_dimensions must be a positive integer, not {value}"),
        );
        return None;
    };
    if matches!(provider.kind.get_ref(), crate::raw::RawKind::Anthropic) {
        diag.at(
            Some(dimensions.span()),
            format!(
                "model `{name}`: an `anthropic` provider has no embeddings API; serve embedding \
                 models through an `openai`, `azure_openai`, `gemini` or `bedrock` provider"
            ),
        );
        return None;
    }
    Some(value)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
