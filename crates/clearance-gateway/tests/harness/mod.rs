//! A real gateway on a real port in front of real fake providers, for the tests in this folder.
#![allow(dead_code, clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

pub mod capture;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clearance_config::Config;
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::key::{NewKey, StoredKey};
use clearance_fake::FakeServer;
use clearance_gateway::Gateway;
use clearance_store::{SqliteStore, Store};
use tokio::sync::oneshot;

pub const PROVIDER_KEY: &str = "sk-provider-secret-123";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The AWS credentials the gateway signs Bedrock calls with (`AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` in the config's environment), and the fake checks them.
pub const AWS_ACCESS_KEY_ID: &str = "AKIDCLEARANCETEST";
pub const AWS_SECRET_ACCESS_KEY: &str = "clearance/test/secret+access+key";
/// The SCIM token, when a test's config has `[identity.scim] token_env = "SCIM_TOKEN"`.
pub const SCIM_TOKEN: &str = "scim-token-for-tests";

pub const PRINCIPALS: &str = "id,name,citizenships,residence,org,employee\n\
    alice,Alice,US,FR,acme,true\n\
    bjorn,Bjorn,SE,US,acme,true\n";

/// The story's registry: a US citizen abroad, a foreign national employee inside the US, a
/// dual national, a green-card holder, a refugee, a person with no facts, and people of
/// several other countries.
pub const STORY_PRINCIPALS: &str = "id,name,citizenships,permanent_residency,protected_individual,residence,org,employee\n\
    alice,Alice Adams,US,,false,FR,acme,true\n\
    bjorn,Bjorn Berg,SE,,false,US,acme,true\n\
    carla,Carla Cruz,US;MX,,false,MX,partner,false\n\
    dev,Dev Patel,IN,US,false,US,acme,true\n\
    farah,Farah Haddad,SY,,true,US,acme,true\n\
    ghost,Unknown Contractor,,,false,,,false\n\
    li,Li Wei,CN,,false,CN,partner,false\n\
    olga,Olga Ivanova,RU,,false,DE,partner,false\n\
    hans,Hans Meier,DE,,false,DE,acme,true\n";

/// MaxMind's published test database (shared test data).
pub const GEOIP_TEST_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/geoip/GeoIP2-Country-Test.mmdb"
);

pub struct Harness {
    pub base: String,
    pub key: String,
    /// The key the gateway sends its providers.
    pub provider_key: String,
    pub key_id: String,
    /// Keys for `Options::keys_for`, created before the gateway started.
    pub keys: std::collections::BTreeMap<&'static str, String>,
    pub fake: FakeServer,
    pub store: Arc<SqliteStore>,
    pub db_path: PathBuf,
    pub http: reqwest::Client,
    /// The config the gateway runs with (for `restart`).
    config: Config,
    admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// Options that differ between tests.
pub struct Options {
    pub max_body_bytes: usize,
    pub queue_capacity: usize,
    pub max_wait_ms: u64,
    /// A provider whose port nothing listens on.
    pub dead_provider: bool,
    /// Directive files (name, text) written into a `[directives] dir` polled every 50 ms.
    pub directives: Vec<(&'static str, String)>,
    pub geoip: bool,
    pub trusted_proxies: &'static [&'static str],
    pub principals: &'static str,
    /// Principals that get a key before the gateway starts (see `Harness::keys`).
    pub keys_for: &'static [&'static str],
    /// TOML appended to the config (routes, a breaker policy, more providers and models).
    pub extra_config: String,
    pub max_policy_age_ms: u64,
    /// TOML lines added to `[server]` (timeouts and caps).
    pub server_extra: String,
    /// The key the gateway sends its providers (and the fake requires).
    pub provider_key: String,
    /// The admin API's bearer token.
    pub admin_token: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body_bytes: 1_000_000,
            queue_capacity: 1024,
            max_wait_ms: 2000,
            dead_provider: false,
            directives: Vec::new(),
            geoip: false,
            trusted_proxies: &[],
            principals: PRINCIPALS,
            keys_for: &[],
            extra_config: String::new(),
            max_policy_age_ms: 60_000,
            server_extra: String::new(),
            provider_key: PROVIDER_KEY.to_string(),
            admin_token: ADMIN_TOKEN.to_string(),
        }
    }
}

fn config_text(fake: &FakeServer, dir: &std::path::Path, options: &Options) -> String {
    let dead = if options.dead_provider {
        // Port 1 on loopback refuses connections.
        "[providers.dead]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n[[models]]\nname = \"dead-model\"\nprovider = \"dead\"\n"
    } else {
        ""
    };
    let mut extra = String::new();
    if !options.directives.is_empty() {
        let directives = dir.join("directives");
        extra.push_str(&format!(
            "[directives]\ndir = \"{}\"\npoll_ms = 50\n\n",
            directives.display()
        ));
    }
    if options.geoip {
        extra.push_str(&format!("[geoip]\nmmdb = \"{GEOIP_TEST_DB}\"\n\n"));
    }
    let trusted: Vec<String> = options
        .trusted_proxies
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    format!(
        r#"
{extra}
[server]
listen = "127.0.0.1:0"
admin_token_env = "ADMIN_TOKEN"
max_body_bytes = {max_body}
trusted_proxies = [{trusted}]
{server_extra}

[store]
sqlite = "{db}"
max_policy_age_ms = {policy_age}

[audit]
queue_capacity = {cap}
max_wait_ms = {wait}
batch_max = 64

[providers.acme]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "PROVIDER_KEY"

[providers.openlab]
kind = "openai"
base_url = "{openai}"
api_key_env = "PROVIDER_KEY"

[providers.google]
kind = "gemini"
base_url = "{gemini}"
api_key_env = "PROVIDER_KEY"

[[models]]
name = "mythos-5"
provider = "acme"
upstream = "claude-mythos-5"
tags = ["frontier", "controlled"]

[[models]]
name = "fable-5"
provider = "acme"
upstream = "claude-fable-5"
tags = ["frontier", "controlled"]

[[models]]
name = "gpt-5"
provider = "openlab"
upstream = "gpt-5-2026"
tags = ["frontier"]

[[models]]
name = "open-model"
provider = "openlab"
upstream = "llama-4-70b-instruct"
tags = ["open-weights"]

[[models]]
name = "gemini-flash"
provider = "google"
upstream = "gemini-3-flash"
tags = ["frontier"]

{dead}

{extra_config}
"#,
        extra_config = options.extra_config,
        server_extra = options.server_extra,
        trusted = trusted.join(", "),
        max_body = options.max_body_bytes,
        db = dir.join("gateway.db").display(),
        cap = options.queue_capacity,
        wait = options.max_wait_ms,
        policy_age = options.max_policy_age_ms,
        anthropic = fake.anthropic_base_url(),
        openai = fake.openai_base_url(),
        gemini = fake.gemini_base_url(),
    )
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeServer::start("127.0.0.1:0").await.unwrap();
        fake.require_key(Some(options.provider_key.clone()));
        fake.require_aws_signature(Some(clearance_fake::AwsSigningKey {
            access_key_id: AWS_ACCESS_KEY_ID.to_string(),
            secret_access_key: AWS_SECRET_ACCESS_KEY.to_string(),
            region: Some("us-east-1".to_string()),
        }));
        // `@FAKE@` in a test's extra config is the fake's root URL (`http://ADDR`).
        let text =
            config_text(&fake, dir.path(), &options).replace("@FAKE@", &fake.anthropic_base_url());
        if !options.directives.is_empty() {
            let directives = dir.path().join("directives");
            std::fs::create_dir_all(&directives).unwrap();
            for (name, text) in &options.directives {
                std::fs::write(directives.join(name), text).unwrap();
            }
        }
        let env = |name: &str| match name {
            "PROVIDER_KEY" => Some(options.provider_key.clone()),
            "ADMIN_TOKEN" => Some(options.admin_token.clone()),
            "SCIM_TOKEN" => Some(SCIM_TOKEN.to_string()),
            "AWS_ACCESS_KEY_ID" => Some(AWS_ACCESS_KEY_ID.to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some(AWS_SECRET_ACCESS_KEY.to_string()),
            _ => None,
        };
        let config = Config::parse(&text, &dir.path().join("clearance.toml"), &env).unwrap();
        let clearance_config::StoreBackend::Sqlite(db_path) = config.store.backend.clone() else {
            panic!("the harness runs on SQLite")
        };
        let store = Arc::new(SqliteStore::open(&db_path).unwrap());
        store
            .upsert_principals(&parse_principals(options.principals, ImportFormat::Csv).unwrap())
            .await
            .unwrap();
        let (key, key_id) = create_key(store.as_ref(), "alice").await;
        let mut keys = std::collections::BTreeMap::new();
        for who in options.keys_for {
            keys.insert(*who, create_key(store.as_ref(), who).await.0);
        }
        let (base, tx, server) = serve(config.clone(), Arc::clone(&store)).await;
        Harness {
            base,
            key,
            key_id,
            keys,
            fake,
            store,
            db_path,
            http: reqwest::Client::new(),
            config,
            admin_token: options.admin_token.clone(),
            provider_key: options.provider_key.clone(),
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }

    /// The folder the gateway reads directives from.
    pub fn directives_dir(&self) -> PathBuf {
        self._dir.path().join("directives")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` to an API path with the harness key in that API's usual header.
    pub async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        self.post_with_key(path, body, Some(&self.key)).await
    }

    pub async fn post_with_key(
        &self,
        path: &str,
        body: &str,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = if path == "/v1/messages" {
                request
                    .header("x-api-key", key)
                    .header("anthropic-version", "2023-06-01")
            } else {
                request.bearer_auth(key)
            };
        }
        request.send().await.unwrap()
    }

    /// Stops the gateway (draining it) and starts a new one with the same config on the same
    /// SQLite file, opened afresh: what a process restart keeps, and only that. The new
    /// gateway listens on a new port; `base` follows it.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.store = Arc::new(SqliteStore::open(&self.db_path).unwrap());
        let (base, tx, server) = serve(self.config.clone(), Arc::clone(&self.store)).await;
        self.base = base;
        self.shutdown = Some(tx);
        self.server = Some(server);
    }

    /// Stops the gateway the way SIGTERM does and waits until the audit log is drained.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(40), server)
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Every stored record of every log, in log order then chain order.
    pub async fn stored_records(&self) -> Vec<clearance_core::audit::SealedRecord> {
        let mut all = Vec::new();
        for log in self.store.audit_logs().await.unwrap() {
            all.extend(
                self.store
                    .audit_page(&log.log_id, 0, 1_000_000)
                    .await
                    .unwrap(),
            );
        }
        all
    }

    /// Every request and operator action on record, one entry each, in the order recorded:
    /// a request's decision record merged with its completion record (a decision without one
    /// stands alone, with `phase: "decision"`); logs' opening and closing records left out.
    pub async fn audit_records(&self) -> Vec<serde_json::Value> {
        use clearance_core::audit::{AuditRecord, Phase};
        let records: Vec<AuditRecord> = self
            .stored_records()
            .await
            .iter()
            .map(|r| serde_json::from_str(&r.record_json).unwrap())
            .collect();
        let completions: std::collections::HashMap<&str, &AuditRecord> = records
            .iter()
            .filter(|r| r.phase == Phase::Completion)
            .map(|r| (r.id.as_str(), r))
            .collect();
        records
            .iter()
            .filter(|r| r.phase != Phase::Completion && !r.is_log_boundary())
            .map(|r| match completions.get(r.id.as_str()) {
                Some(completion) if r.phase == Phase::Decision => {
                    r.clone().completed_by(completion)
                }
                _ => r.clone(),
            })
            .map(|r| serde_json::to_value(&r).unwrap())
            .collect()
    }

    /// Waits until the writer has stored at least `n` whole records (requests with their
    /// completion, and operator actions).
    pub async fn wait_for_records(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let records = self.audit_records().await;
            let complete = records.iter().filter(|r| r.get("phase").is_none()).count();
            if complete >= n {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "fewer than {n} audit records after 4 s: {:?}",
            self.audit_records().await.len()
        );
    }

    /// Sends a chat request with `key` until it gets `status`; fails after one second (how soon
    /// a key change must reach a running gateway).
    pub async fn await_key_status(&self, key: &str, status: u16, what: &str) {
        let since = std::time::Instant::now();
        while self
            .post_with_key("/v1/chat/completions", OPENAI_BODY, Some(key))
            .await
            .status()
            != status
        {
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "{what}: not within a second"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// GET an admin route with the admin token; its JSON.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self
            .admin(reqwest::Method::GET, path, Some(&self.admin_token), None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Calls an admin route with `token` (if any) and a JSON `body` (if any): the status and
    /// the answer's JSON (null when it is not JSON).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn record_for(&self, request_id: &str) -> serde_json::Value {
        for _ in 0..200 {
            if let Some(r) = self
                .audit_records()
                .await
                .into_iter()
                .find(|r| r["id"] == request_id && r.get("phase").is_none())
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no audit record {request_id}");
    }
}

/// Starts a gateway on a free port: its base URL, its shutdown trigger and its task.
async fn serve(
    config: Config,
    store: Arc<SqliteStore>,
) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gateway = Gateway::with_store(config, store as Arc<dyn Store>, listener)
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        gateway.run(async { rx.await.unwrap_or(()) }).await.unwrap();
    });
    (base, tx, server)
}

pub async fn create_key(store: &dyn Store, principal: &str) -> (String, String) {
    let key = NewKey::generate(&mut rand::rng());
    store
        .insert_key(&StoredKey {
            id: key.id.clone(),
            principal_id: principal.parse().unwrap(),
            name: None,
            hash: key.hash.clone(),
            created: chrono::Utc::now(),
            revoked: None,
        })
        .await
        .unwrap();
    (key.plaintext, key.id.to_string())
}

/// A record's attempts as (model, outcome) pairs, in the order they were tried.
pub fn outcomes(record: &serde_json::Value) -> Vec<(String, String)> {
    record["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["model"].as_str().unwrap().to_string(),
                        x["outcome"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Splits an SSE body into (event name, data) pairs.
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_string);
            let data = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n");
            (name, data)
        })
        .collect()
}

pub const OPENAI_BODY: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"secret prompt text"}],"vendor_extension":{"keep":true}}"#;
pub const ANTHROPIC_BODY: &str = r#"{"model":"mythos-5","max_tokens":64,"messages":[{"role":"user","content":"secret prompt text"}]}"#;
