//! The `clearance` binary as an operator uses it: real processes, real files, real SQLite.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHash, ChainHead, Decision, chain_hash};
use clearance_store::{SqliteStore, Store};
use serde_json::Value;

mod common;

use common::{BIN, Served, as_str, free_port, stderr, stdout, write_file};

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }

    /// A config with one fake-backed provider of each kind (nothing needs to listen for the
    /// management commands).
    fn config(&self, openai_base: &str, anthropic_base: &str, listen: &str) -> PathBuf {
        self.write(
            "clearance.toml",
            &format!(
                r#"[server]
listen = "{listen}"

[store]
sqlite = "clearance.db"

[providers.acme]
kind = "anthropic"
base_url = "{anthropic_base}"
api_key_env = "CLI_TEST_PROVIDER_KEY"

[providers.openlab]
kind = "openai"
base_url = "{openai_base}"

[[models]]
name = "mythos-5"
provider = "acme"
upstream = "claude-mythos-5"

[[models]]
name = "gpt-5"
provider = "openlab"
"#
            ),
        )
    }

    fn default_config(&self) -> PathBuf {
        self.config("http://127.0.0.1:9/v1", "http://127.0.0.1:9", "127.0.0.1:0")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("CLI_TEST_PROVIDER_KEY", "sk-test")
            .output()
            .unwrap()
    }
}

#[test]
fn check_config_reports_every_problem_with_file_and_line() {
    let ws = Workspace::new();
    let config = ws.write(
        "bad.toml",
        "[server]\nlisten = \"nowhere\"\nspeed = 3\n\n[providers.p]\nkind = \"openai\"\nbase_url = \"ftp:/x\"\napi_key_env = \"UNSET_VAR_FOR_TEST\"\n\n[[models]]\nname = \"m\"\nprovider = \"q\"\n",
    );
    let output = ws.run(&["check-config", "--config", as_str(&config)]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    for expected in [
        "bad.toml:2:10: server.listen",
        "bad.toml:3:1: unknown key `speed` in [server]",
        "bad.toml:7:12: providers.p.base_url",
        "bad.toml:8:15: providers.p.api_key_env: environment variable UNSET_VAR_FOR_TEST is not set",
        "bad.toml:12:12: model `m`: unknown provider `q`",
        "5 problems in the config",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
}

#[test]
fn serve_refuses_to_start_on_the_same_errors() {
    let ws = Workspace::new();
    let config = ws.write(
        "bad.toml",
        "[[models]]\nname = \"m\"\nprovider = \"nobody\"\n",
    );
    let output = ws.run(&["serve", "--config", as_str(&config)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("bad.toml:3:12: model `m`: unknown provider `nobody`"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("refusing to start"));
}

#[test]
fn the_demo_config_is_valid() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/clearance.toml");
    let output = Command::new(BIN)
        .args(["check-config", "--config", as_str(&demo)])
        .env("ACME_KEY", "x")
        .env("OPENLAB_KEY", "y")
        .env("GOOGLE_KEY", "z")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_principal_file_with_bad_rows_imports_nothing_and_names_every_line() {
    let ws = Workspace::new();
    let config = ws.default_config();
    let file = ws.write(
        "people.csv",
        "id,citizenships,residence\nalice,US,FR\nbob,XX,US\ncarol,DE,Atlantis\n",
    );
    let output = ws.run(&[
        "principals",
        "import",
        as_str(&file),
        "--config",
        as_str(&config),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("people.csv:3: citizenships: `XX` is not an ISO 3166-1 alpha-2 country code"),
        "{err}"
    );
    assert!(err.contains("people.csv:4: residence: `Atlantis`"), "{err}");
    assert!(err.contains("nothing was imported"));
    let show = ws.run(&["principals", "show", "alice", "--config", as_str(&config)]);
    assert_eq!(show.status.code(), Some(1), "alice was not half-imported");
}

#[test]
fn principals_import_derives_us_person_and_reimport_updates_in_place() {
    let ws = Workspace::new();
    let config = ws.default_config();
    let csv = ws.write(
        "people.csv",
        "id,name,citizenships,permanent_residency\ndev,Dev,IN,US\nmia,Mia,FR,\n",
    );
    let output = ws.run(&[
        "principals",
        "import",
        as_str(&csv),
        "--config",
        as_str(&config),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("2 new, 0 updated"));
    let show = |id: &str| -> Value {
        let output = ws.run(&[
            "principals",
            "show",
            id,
            "--config",
            as_str(&config),
            "--format",
            "json",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let dev = show("dev");
    assert_eq!(
        (dev["us_person"].as_bool(), dev["us_citizen"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(dev["us_person_basis"], "us_permanent_resident");
    assert_eq!(show("mia")["us_person"], false);
    let jsonl = ws.write(
        "update.jsonl",
        "{\"id\":\"mia\",\"name\":\"Mia\",\"citizenships\":[\"FR\",\"US\"]}\n",
    );
    let output = ws.run(&[
        "principals",
        "import",
        as_str(&jsonl),
        "--config",
        as_str(&config),
    ]);
    assert!(
        stdout(&output).contains("0 new, 1 updated"),
        "{}",
        stdout(&output)
    );
    assert_eq!(show("mia")["us_person_basis"], "us_citizen");
}

#[test]
fn keys_are_shown_once_listed_without_secrets_and_revocable() {
    let ws = Workspace::new();
    let config = ws.default_config();
    ws.run(&[
        "principals",
        "import",
        as_str(&ws.write("p.csv", "id\nalice\n")),
        "--config",
        as_str(&config),
    ]);
    let output = ws.run(&[
        "keys",
        "create",
        "--principal",
        "alice",
        "--name",
        "ci",
        "--config",
        as_str(&config),
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let created: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    assert!(key.starts_with(&format!("clr_{id}_")));
    let list = ws.run(&[
        "keys",
        "list",
        "--config",
        as_str(&config),
        "--format",
        "json",
    ]);
    let listed = stdout(&list);
    assert!(listed.contains(id) && !listed.contains(key));
    let db = std::fs::read(ws.path("clearance.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(key.rsplit('_').next().unwrap()),
        "the secret is not stored"
    );
    assert!(
        ws.run(&["keys", "revoke", id, "--config", as_str(&config)])
            .status
            .success()
    );
    let again = ws.run(&["keys", "revoke", id, "--config", as_str(&config)]);
    assert_eq!(again.status.code(), Some(1));
    let listed: Value = serde_json::from_str(&stdout(&ws.run(&[
        "keys",
        "list",
        "--config",
        as_str(&config),
        "--format",
        "json",
    ])))
    .unwrap();
    assert!(listed[0]["revoked"].is_string());
    let unknown = ws.run(&[
        "keys",
        "create",
        "--principal",
        "nobody",
        "--config",
        as_str(&config),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("principal `nobody` is not in the registry"));
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("req-{n}"),
        time: chrono::Utc::now(),
        api: ApiSurface::OpenaiChat,
        key_id: None,
        principal_id: Some("alice".into()),
        requested_model: Some("gpt-5".into()),
        served_model: Some("gpt-5".into()),
        decision: Decision::Allow,
        directive_ids: vec![],
        shadow_hits: vec![],
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: false,
        status: 200,
        upstream_status: Some(200),
        duration_us: 1,
        overhead_us: 1,
        input_tokens: Some(1),
        output_tokens: Some(1),
        error_class: None,
        attempts: Vec::new(),
        admin: None,
        phase: clearance_core::audit::Phase::Whole,
        replica: None,
    }
}

/// A workspace whose store holds a 5-record chain.
fn workspace_with_audit_log() -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    let config = ws.default_config();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&ws.path("clearance.db")).unwrap();
        let mut head = ChainHead::EMPTY;
        let sealed: Vec<_> = (1..=5).map(|n| head.seal(&record(n))).collect();
        store.append_audit(&sealed).await.unwrap();
    });
    (ws, config)
}

fn tamper(ws: &Workspace, sql: &str) {
    rusqlite::Connection::open(ws.path("clearance.db"))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

fn verify(ws: &Workspace, config: &Path) -> (Option<i32>, String) {
    let output = ws.run(&["audit", "verify", "--config", as_str(config)]);
    (output.status.code(), stdout(&output))
}

#[test]
fn audit_verify_passes_an_intact_log() {
    let (ws, config) = workspace_with_audit_log();
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit log OK: 5 records"));
}

#[test]
fn audit_verify_names_an_edited_record() {
    let (ws, config) = workspace_with_audit_log();
    tamper(
        &ws,
        "UPDATE audit SET record = replace(record, '\"status\":200', '\"status\":403') WHERE seq = 3",
    );
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(out.contains("record #3 (id req-3) was edited"), "{out}");
}

#[test]
fn audit_verify_names_a_deleted_record() {
    let (ws, config) = workspace_with_audit_log();
    tamper(&ws, "DELETE FROM audit WHERE seq = 2");
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("record #3 (id req-3): records #2..#2 are missing"),
        "{out}"
    );
}

#[test]
fn audit_verify_catches_records_deleted_from_the_end_and_serve_refuses_to_continue_the_chain() {
    let (ws, config) = workspace_with_audit_log();
    tamper(&ws, "DELETE FROM audit WHERE seq >= 4");
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(out.contains("the log ends at record #3 but the gateway last wrote record #5: records #4..#5 were deleted"), "{out}");
    let serve = ws.run(&["serve", "--config", as_str(&config)]);
    assert_eq!(serve.status.code(), Some(1));
    assert!(
        stderr(&serve).contains("refusing to continue the chain"),
        "{}",
        stderr(&serve)
    );
}

#[test]
fn audit_verify_names_reordered_records() {
    let (ws, config) = workspace_with_audit_log();
    // Swap the contents of records 2 and 4, keeping the sequence column in order.
    tamper(
        &ws,
        "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -2;",
    );
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("record #2 (id req-4) does not follow the record before it"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_audits_every_request_drains_on_sigterm_and_the_export_verifies_independently() {
    let fake = clearance_fake::FakeServer::start("127.0.0.1:0")
        .await
        .unwrap();
    fake.set_behavior(
        None,
        clearance_fake::Behavior {
            delay_ms: Some(200),
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let config = ws.config(
        &fake.openai_base_url(),
        &fake.anthropic_base_url(),
        &format!("127.0.0.1:{}", free_port()),
    );
    ws.run(&[
        "principals",
        "import",
        as_str(&ws.write("p.csv", "id\nalice\n")),
        "--config",
        as_str(&config),
    ]);
    let created = ws.run(&[
        "keys",
        "create",
        "--principal",
        "alice",
        "--config",
        as_str(&config),
        "--format",
        "json",
    ]);
    let key = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut served = Served::start(
        ws.dir.path(),
        &config,
        &[("CLI_TEST_PROVIDER_KEY", "sk-test")],
    );
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (client, key, base) = (client.clone(), key.clone(), served.base.clone());
        tasks.push(tokio::spawn(async move {
            let (path, body) = if i % 2 == 0 {
                ("/v1/chat/completions", r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#.to_string())
            } else {
                ("/v1/messages", r#"{"model":"mythos-5","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#.to_string())
            };
            let response = client.post(format!("{base}{path}")).bearer_auth(&key).header("x-api-key", &key).body(body).send().await.unwrap();
            let status = response.status().as_u16();
            response.text().await.unwrap();
            status
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let exit = tokio::task::spawn_blocking(move || served.stop())
        .await
        .unwrap();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit:?}");

    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("24 records"), "{out}");

    let export = ws.run(&[
        "audit",
        "export",
        "--config",
        as_str(&config),
        "--format",
        "jsonl",
    ]);
    let lines: Vec<Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 24);
    let mut prev = ChainHash::GENESIS;
    for line in &lines {
        let seq = line["seq"].as_u64().unwrap();
        let json = line["record_json"].as_str().unwrap();
        let hash = chain_hash(seq, &prev, json);
        assert_eq!(
            hash.to_hex(),
            line["hash"].as_str().unwrap(),
            "export recomputes at #{seq}"
        );
        prev = hash;
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["record"]["stream"] == true)
            .count(),
        12
    );
    let csv = ws.run(&[
        "audit",
        "export",
        "--config",
        as_str(&config),
        "--format",
        "csv",
    ]);
    let csv_text = stdout(&csv);
    assert_eq!(csv_text.lines().count(), 25);
    assert!(csv_text.starts_with("seq,id,time,api,key_id,principal_id"));
}
