//! The record at scale, tried with real processes: `clearance serve` killed with SIGKILL under
//! load (SQLite and PostgreSQL), three replicas on one PostgreSQL database (a directive and a
//! kill switch activated through one hold on the others within a second, one replica killed
//! mid-load), and PostgreSQL's connections killed under load. After each, every request id a
//! client saw answered must have its decision record, and `clearance audit verify` must pass.
//!
//! PostgreSQL: a scratch database per test on the server `CLEARANCE_TEST_POSTGRES` names
//! (default `postgres://root@127.0.0.1:5432/test`), made and dropped with `psql`. Without a
//! server the PostgreSQL tests are skipped with a message, except under CI, where they fail.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Served, as_str, free_port, stdout};
use serde_json::Value;

const PROVIDER_KEY_ENV: &str = "RECORD_TEST_PROVIDER_KEY";
const ADMIN_TOKEN: &str = "record-test-admin-token";

/// A scratch PostgreSQL database, dropped when this is.
struct ScratchPg {
    server: String,
    name: String,
}

impl ScratchPg {
    fn create() -> Option<ScratchPg> {
        let server = std::env::var("CLEARANCE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string());
        let name = format!("clearance_rec_{:016x}", rand::random::<u64>());
        let made = Command::new("psql")
            .args([
                server.as_str(),
                "-qAt",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output();
        match made {
            Ok(out) if out.status.success() => Some(ScratchPg { server, name }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "PostgreSQL at {server} is not usable ({why}); CI runs these tests on it: \
                     start one with scripts/postgres.sh"
                );
                eprintln!("SKIPPED: no PostgreSQL at {server} ({why}); run scripts/postgres.sh");
                None
            }
        }
    }

    /// The scratch database's URL.
    fn url(&self) -> String {
        match self.server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.name),
            None => unreachable!("a postgres URL has a path"),
        }
    }

    /// Runs SQL in the scratch database's server (as the test's superuser).
    fn sql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([self.url().as_str(), "-qAt", "-c", sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.server.as_str(),
                "-qAt",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Where a test's gateways keep their record.
enum Backend {
    Sqlite,
    Postgres(ScratchPg),
}

impl Backend {
    fn store_section(&self) -> String {
        match self {
            Backend::Sqlite => "sqlite = \"clearance.db\"".to_string(),
            Backend::Postgres(pg) => format!("postgres = \"{}\"", pg.url()),
        }
    }
}

/// A folder with a config per replica, principals imported and a key per principal.
struct Deployment {
    dir: tempfile::TempDir,
    backend: Backend,
    fake: clearance_fake::FakeServer,
    keys: BTreeMap<&'static str, String>,
}

impl Deployment {
    async fn new(backend: Backend) -> Deployment {
        let fake = clearance_fake::FakeServer::start("127.0.0.1:0")
            .await
            .unwrap();
        fake.require_key(Some("sk-record".to_string()));
        let mut deployment = Deployment {
            dir: tempfile::tempdir().unwrap(),
            backend,
            fake,
            keys: BTreeMap::new(),
        };
        let config = deployment.config("setup");
        let principals =
            deployment.write("principals.csv", "id,citizenships\nalice,US\nbjorn,SE\n");
        deployment.cli(&[
            "principals",
            "import",
            as_str(&principals),
            "--config",
            as_str(&config),
        ]);
        for who in ["alice", "bjorn"] {
            let created = deployment.cli(&[
                "keys",
                "create",
                "--principal",
                who,
                "--config",
                as_str(&config),
                "--format",
                "json",
            ]);
            let key = serde_json::from_str::<Value>(&created).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string();
            deployment.keys.insert(who, key);
        }
        deployment
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The config of replica `replica` (its own port; the shared store).
    fn config(&self, replica: &str) -> PathBuf {
        let text = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
admin_token_env = "RECORD_TEST_ADMIN_TOKEN"

[store]
{store}
replica = "{replica}"

[audit]
max_wait_ms = 1000

[providers.acme]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "{PROVIDER_KEY_ENV}"

[providers.openlab]
kind = "openai"
base_url = "{openai}"
api_key_env = "{PROVIDER_KEY_ENV}"

[[models]]
name = "mythos-5"
provider = "acme"
upstream = "claude-mythos-5"

[[models]]
name = "gpt-5"
provider = "openlab"
upstream = "gpt-5-2026"
"#,
            port = free_port(),
            store = self.backend.store_section(),
            anthropic = self.fake.anthropic_base_url(),
            openai = self.fake.openai_base_url(),
        );
        self.write(&format!("{replica}.toml"), &text)
    }

    /// Runs the CLI; its stdout. Fails the test on a non-zero exit.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env(PROVIDER_KEY_ENV, "sk-record")
            .env("RECORD_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "clearance {args:?} failed: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    }

    fn serve(&self, replica: &str) -> Served {
        let config = self.config(replica);
        Served::start(
            self.dir.path(),
            &config,
            &[
                (PROVIDER_KEY_ENV, "sk-record"),
                ("RECORD_TEST_ADMIN_TOKEN", ADMIN_TOKEN),
            ],
        )
    }

    /// Every record of the whole trail (`clearance audit export`), and `verify`'s JSON.
    fn trail(&self) -> (Vec<Value>, Value) {
        let config = self.config("check");
        let verify = Command::new(BIN)
            .args([
                "audit",
                "verify",
                "--config",
                as_str(&config),
                "--format",
                "json",
            ])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let report: Value = serde_json::from_str(&stdout(&verify))
            .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {}", stdout(&verify)));
        let export = self.cli(&[
            "audit",
            "export",
            "--config",
            as_str(&config),
            "--format",
            "jsonl",
        ]);
        let records = export
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
            .collect();
        (records, report)
    }
}

/// What one load client saw: the request ids it got an answer for, with the status.
type Answered = Vec<(String, u16)>;

/// Requests of several kinds (served, unknown model, bad key, bad JSON, streamed) against
/// `targets` in turn until `stop`; every answer's request id and status.
async fn load(targets: Vec<String>, key: String, stop: Arc<AtomicBool>) -> Answered {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut answered = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let base = &targets[i % targets.len()];
        let (path, body, key) = match i % 5 {
            0 | 1 => (
                "/v1/chat/completions",
                r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#,
                key.as_str(),
            ),
            2 => (
                "/v1/chat/completions",
                r#"{"model":"nope-5","messages":[{"role":"user","content":"hi"}]}"#,
                key.as_str(),
            ),
            3 => (
                "/v1/messages",
                r#"{"model":"mythos-5","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
                key.as_str(),
            ),
            _ => (
                "/v1/chat/completions",
                r#"{"model":"gpt-5","messages":[]}"#,
                "sk-clr-not-a-key",
            ),
        };
        i += 1;
        let sent = client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("x-api-key", key)
            .body(body)
            .send()
            .await;
        let Ok(response) = sent else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let status = response.status().as_u16();
        let id = response
            .headers()
            .get("x-clearance-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        // The status line and headers are an answer: the record must exist from here on,
        // whether or not the body arrives.
        if let Some(id) = id {
            answered.push((id, status));
        }
        let _ = response.bytes().await;
    }
    answered
}

/// Load clients (one per key given) running against `targets` until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<Answered>>,
}

impl Load {
    fn start(targets: &[String], keys: &[String]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = keys
            .iter()
            .map(|key| tokio::spawn(load(targets.to_vec(), key.clone(), Arc::clone(&stop))))
            .collect();
        Load { stop, clients }
    }

    /// Stops every client; every answer they saw.
    async fn stop(self) -> Answered {
        self.stop.store(true, Ordering::Relaxed);
        let mut answered = Vec::new();
        for client in self.clients {
            answered.extend(client.await.unwrap());
        }
        answered
    }
}

/// Ids that have a decision (or whole) record in `records`.
fn decided_ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r["phase"] != "completion" && r["decision"] != "admin")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_every_answer_recorded(answered: &Answered, records: &[Value]) {
    let decided = decided_ids(records);
    let missing: Vec<_> = answered
        .iter()
        .filter(|(id, _)| !decided.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no decision record: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(10)]
    );
}

fn kill9(served: &mut Served) {
    served.child.kill().unwrap();
    served.child.wait().unwrap();
}

async fn kill9_under_load(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    deployment.fake.set_behavior(
        None,
        clearance_fake::Behavior {
            delay_ms: Some(5),
            ..Default::default()
        },
    );
    let mut served = deployment.serve("only");
    let load = Load::start(
        &[served.base.clone()],
        &vec![deployment.keys["alice"].clone(); 8],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill9(&mut served);
    let answered = load.stop().await;
    let statuses: BTreeSet<u16> = answered.iter().map(|(_, s)| *s).collect();
    let refused = answered.iter().filter(|(_, s)| *s == 503).count();
    eprintln!(
        "answered {} requests before the SIGKILL, {refused} of them 503",
        answered.len()
    );
    assert!(
        answered.len() > 100,
        "too little load to mean anything: {}",
        answered.len()
    );
    assert!(
        statuses.is_superset(&[200, 401, 404].into()),
        "{statuses:?}"
    );

    let (records, report) = deployment.trail();
    assert_eq!(
        report["ok"], true,
        "the trail verifies after a SIGKILL: {report}"
    );
    let log = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["replica"] == "only")
        .unwrap();
    assert_eq!(
        log["closed"], false,
        "a killed gateway cannot close its log: {report}"
    );
    eprintln!(
        "requests cut off by the SIGKILL (decision without completion): {}",
        log["incomplete"].as_array().unwrap().len()
    );
    assert_every_answer_recorded(&answered, &records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_on_sqlite_leaves_every_answered_request_recorded() {
    kill9_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_on_postgres_leaves_every_answered_request_recorded() {
    let Some(pg) = ScratchPg::create() else {
        return;
    };
    kill9_under_load(Backend::Postgres(pg)).await;
}

/// Sends `body` to `base` as `key` until the status is `want`; how long that took. Fails
/// after `within`.
async fn until_status(
    base: &str,
    path: &str,
    body: &str,
    key: &str,
    want: u16,
    within: Duration,
) -> Duration {
    let client = reqwest::Client::new();
    let since = Instant::now();
    loop {
        let status = client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("x-api-key", key)
            .body(body.to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "{base}{path}: still {status}, not {want}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const MYTHOS: &str =
    r#"{"model":"mythos-5","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;
const GPT: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;

const DIRECTIVE: &str = r#"id = "EXD-2026-06"
title = "Export control: Mythos 5"
authority = "Export control directive, 2026-06-15"
effective = "2026-06-15T00:00:00Z"
mode = "enforce"
models = ["mythos-5"]
when = "!principal.us_person"
effect = "deny"
"#;

/// A response kept on the first replica, continued on the second (its conversation sent on
/// whole), read back on the third.
async fn continue_a_conversation_across_replicas(bases: &[String], key: &str) {
    let client = reqwest::Client::new();
    let post = |base: &str, body: Value| {
        client
            .post(format!("{base}/v1/responses"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let first: Value = post(
        &bases[0],
        serde_json::json!({"model": "gpt-5", "input": "Name a fjord"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap_or_else(|| panic!("{first}"));
    let second = post(
        &bases[1],
        serde_json::json!({"model": "mythos-5", "input": "And a glacier", "previous_response_id": id}),
    )
    .await
    .unwrap();
    assert_eq!(second.status(), 200, "{}", second.text().await.unwrap());
    let second: Value = second.json().await.unwrap();
    let read: Value = client
        .get(format!(
            "{}/v1/responses/{}",
            bases[2],
            second["id"].as_str().unwrap()
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, second);
    // The usage counts the whole conversation: more input than the new turn alone.
    assert!(
        second["usage"]["input_tokens"].as_u64().unwrap()
            > first["usage"]["input_tokens"].as_u64().unwrap(),
        "{first} {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_database_share_one_policy_and_one_trail() {
    let Some(pg) = ScratchPg::create() else {
        return;
    };
    let deployment = Deployment::new(Backend::Postgres(pg)).await;
    let mut replicas: Vec<Served> = ["r1", "r2", "r3"]
        .iter()
        .map(|r| deployment.serve(r))
        .collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let callers: Vec<String> = (0..6)
        .map(|i| deployment.keys[if i % 2 == 0 { "alice" } else { "bjorn" }].clone())
        .collect();
    let load = Load::start(&bases, &callers);
    let bjorn = deployment.keys["bjorn"].clone();
    let alice = deployment.keys["alice"].clone();
    for base in &bases {
        until_status(
            base,
            "/v1/messages",
            MYTHOS,
            &bjorn,
            200,
            Duration::from_secs(5),
        )
        .await;
    }

    // An OpenAI Responses conversation kept by r1 is continued on r2 and read back on r3.
    continue_a_conversation_across_replicas(&bases, &alice).await;

    // A directive activated through r1 (which has no directive folder: the store holds the set).
    let admin = reqwest::Client::new();
    let put = admin
        .put(format!("{}/admin/directives/EXD-2026-06.toml", bases[0]))
        .bearer_auth(ADMIN_TOKEN)
        .body(DIRECTIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let activated = Instant::now();
    for base in &bases[1..] {
        until_status(
            base,
            "/v1/messages",
            MYTHOS,
            &bjorn,
            451,
            Duration::from_secs(1),
        )
        .await;
    }
    assert!(
        activated.elapsed() < Duration::from_secs(1),
        "denied everywhere within 1 s"
    );
    for base in &bases {
        until_status(
            base,
            "/v1/messages",
            MYTHOS,
            &alice,
            200,
            Duration::from_secs(1),
        )
        .await;
    }
    for base in &bases {
        let status: Value = admin
            .get(format!("{base}/admin/status"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["replica"]["directive_set_version"], 1, "{status}");
    }

    // A kill switch set through r2 holds on r1 and r3 within a second.
    let disabled = admin
        .post(format!("{}/admin/models/gpt-5/disable", bases[1]))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"reason": "vendor incident"}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let switched = Instant::now();
    for base in [&bases[0], &bases[2]] {
        until_status(
            base,
            "/v1/chat/completions",
            GPT,
            &alice,
            503,
            Duration::from_secs(1),
        )
        .await;
    }
    assert!(
        switched.elapsed() < Duration::from_secs(1),
        "switched off everywhere within 1 s"
    );

    // r3 dies mid-load; the others go on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill9(&mut replicas[2]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answered = load.stop().await;
    for replica in &mut replicas[..2] {
        assert!(replica.stop().success());
    }

    let (records, report) = deployment.trail();
    assert_eq!(report["ok"], true, "{report}");
    let logs = report["logs"].as_array().unwrap();
    let by_replica: BTreeMap<&str, bool> = logs
        .iter()
        .filter(|l| ["r1", "r2", "r3"].contains(&l["replica"].as_str().unwrap()))
        .map(|l| {
            (
                l["replica"].as_str().unwrap(),
                l["closed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_replica,
        [("r1", true), ("r2", true), ("r3", false)].into(),
        "{report}"
    );
    assert_every_answer_recorded(&answered, &records);
    // Every record names the replica that wrote it; the activation and the switch are there.
    assert!(
        records.iter().all(|r| r["replica"].is_string()),
        "records without a replica"
    );
    let actions: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["admin"]["action"].as_str())
        .collect();
    assert!(
        actions.contains("directives_activate") && actions.contains("model_disable"),
        "{actions:?}"
    );
    let denied_after: Vec<&Value> = records
        .iter()
        .filter(|r| r["decision"] == "deny" && r["phase"] != "completion")
        .collect();
    assert!(!denied_after.is_empty());
    assert!(
        denied_after
            .iter()
            .all(|r| r["principal_id"] == "bjorn" && r["policy_version"].is_string()),
        "only bjorn is denied, by a named policy version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_under_load_give_503s_then_service_resumes_with_nothing_lost() {
    let Some(pg) = ScratchPg::create() else {
        return;
    };
    let deployment = Deployment::new(Backend::Postgres(pg)).await;
    let mut served = deployment.serve("only");
    let load = Load::start(
        &[served.base.clone()],
        &vec![deployment.keys["alice"].clone(); 4],
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let Backend::Postgres(pg) = &deployment.backend else {
        unreachable!()
    };
    // Kill every connection of the gateway, again and again, for a second.
    let killing = Instant::now();
    while killing.elapsed() < Duration::from_secs(1) {
        pg.sql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            pg.name
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Service resumes by itself.
    until_status(
        &served.base,
        "/v1/chat/completions",
        GPT,
        &deployment.keys["alice"],
        200,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answered = load.stop().await;
    assert!(served.stop().success());
    let served_ok = answered.iter().filter(|(_, s)| *s == 200).count();
    assert!(served_ok > 20, "{served_ok}");
    let (records, report) = deployment.trail();
    assert_eq!(report["ok"], true, "{report}");
    assert_every_answer_recorded(&answered, &records);
}
