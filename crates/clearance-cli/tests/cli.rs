//! The `clearance` binary as an operator uses it: real processes, real files, real SQLite.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use clearance_core::audit::{AuditRecord, ChainHash, Phase, chain_hash};
use clearance_store::SqliteStore;
use serde_json::Value;

mod common;

use common::{
    BIN, Served, as_str, free_port, request_record, stderr, stdout, write_file, write_log,
};

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
        .env("CLEARANCE_SCIM_TOKEN", "t")
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

/// A workspace whose store holds one log: its opening record and `req-1`..`req-5` (seq 2..6).
fn workspace_with_audit_log() -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    let config = ws.default_config();
    common::block_on(async {
        let store = SqliteStore::open(&ws.path("clearance.db")).unwrap();
        let records: Vec<AuditRecord> = (1..=5).map(request_record).collect();
        write_log(&store, "log-1", &records, false).await;
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
    assert!(
        out.contains("log log-1  replica test-replica  6 records  open  OK"),
        "{out}"
    );
    assert!(out.contains("audit trail OK: 1 log, 6 records"), "{out}");
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
    assert!(out.contains("record #3 (id req-2) was edited"), "{out}");
    assert!(out.contains("BROKEN after 2 good records"), "{out}");
    assert!(out.contains("audit trail BROKEN: 1 of 1 logs"), "{out}");
}

#[test]
fn audit_verify_names_a_deleted_record() {
    let (ws, config) = workspace_with_audit_log();
    tamper(&ws, "DELETE FROM audit WHERE seq = 3");
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("record #4 (id req-3): records #3..#3 are missing"),
        "{out}"
    );
}

#[test]
fn audit_verify_catches_records_deleted_from_the_end() {
    let (ws, config) = workspace_with_audit_log();
    tamper(&ws, "DELETE FROM audit WHERE seq >= 5");
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(out.contains("the log ends at record #4 but the gateway last wrote record #6: records #5..#6 were deleted"), "{out}");
}

#[test]
fn audit_verify_names_reordered_records() {
    let (ws, config) = workspace_with_audit_log();
    // Swap the contents of records 3 and 5, keeping the sequence column in order.
    tamper(
        &ws,
        "UPDATE audit SET seq = -3 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -3;",
    );
    let (code, out) = verify(&ws, &config);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("record #3 (id req-4) does not follow the record before it"),
        "{out}"
    );
}

#[test]
fn a_decision_without_its_completion_is_reported_and_exported_as_not_completed() {
    let ws = Workspace::new();
    let config = ws.default_config();
    common::block_on(async {
        let store = SqliteStore::open(&ws.path("clearance.db")).unwrap();
        let decided = |n| AuditRecord {
            phase: Phase::Decision,
            ..request_record(n)
        };
        // req-1 completes; req-2 was cut off (its replica crashed: the log is never closed).
        let records = [
            decided(1),
            decided(2),
            decided(1).into_completion(),
            request_record(3),
        ];
        write_log(&store, "crashed", &records, false).await;
    });
    let (code, out) = verify(&ws, &config);
    assert_eq!(
        code,
        Some(0),
        "incomplete requests do not break the trail: {out}"
    );
    assert!(
        out.contains("1 request has a decision record but no completion (in flight, or cut off by a crash): req-2"),
        "{out}"
    );
    let verified = ws.run(&[
        "audit",
        "verify",
        "--config",
        as_str(&config),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&verified)).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["logs"][0]["incomplete"],
        serde_json::json!(["req-2"])
    );

    let export = ws.run(&["audit", "export", "--config", as_str(&config)]);
    let lines: Vec<Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line = |id: &str, phase: &str| {
        lines
            .iter()
            .find(|l| l["id"] == id && l["phase"] == phase)
            .unwrap_or_else(|| panic!("{id} {phase} in {lines:?}"))
    };
    assert_eq!(line("req-1", "decision")["completed"], true);
    assert_eq!(line("req-2", "decision")["completed"], false);
    assert!(line("req-1", "completion").get("completed").is_none());
    assert!(line("req-3", "whole").get("completed").is_none());
    assert_eq!(line("req-3", "whole")["log_id"], "crashed");

    let csv = ws.run(&[
        "audit",
        "export",
        "--config",
        as_str(&config),
        "--format",
        "csv",
    ]);
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (id, phase, completed) = (column("id"), column("phase"), column("completed"));
    assert_eq!(column("log_id"), 0);
    assert_eq!(phase, column("decision") + 1, "phase follows decision");
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[phase] == "decision")
        .map(|r| (r[id].to_string(), r[completed].to_string()))
        .collect();
    assert_eq!(
        rows,
        [
            ("req-1".to_string(), "true".to_string()),
            ("req-2".to_string(), "false".to_string())
        ]
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
    // Three logs: the import's and the key's (the CLI's), and the gateway's, closed at drain.
    assert!(out.contains("audit trail OK: 3 logs"), "{out}");
    assert!(!out.contains("  open  "), "every log is closed: {out}");
    assert!(!out.contains("no completion"), "{out}");

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
    let phase = |p: &str| lines.iter().filter(|l| l["phase"] == p).count();
    assert_eq!((phase("decision"), phase("completion")), (24, 24));
    assert!(
        lines
            .iter()
            .filter(|l| l["phase"] == "decision")
            .all(|l| l["completed"] == true)
    );
    // Each log's chain recomputes from the export alone.
    let mut logs: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for line in &lines {
        logs.entry(line["log_id"].as_str().unwrap().to_string())
            .or_default()
            .push(line);
    }
    assert_eq!(logs.len(), 3);
    for (log_id, mut records) in logs {
        records.sort_by_key(|l| l["seq"].as_u64());
        let mut prev = ChainHash::GENESIS;
        for line in records {
            let seq = line["seq"].as_u64().unwrap();
            let json = line["record_json"].as_str().unwrap();
            let hash = chain_hash(seq, &prev, json);
            assert_eq!(
                hash.to_hex(),
                line["hash"].as_str().unwrap(),
                "export recomputes {log_id} at #{seq}"
            );
            prev = hash;
        }
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["phase"] == "decision" && l["record"]["stream"] == true)
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
    assert_eq!(csv_text.lines().count(), lines.len() + 1);
    assert!(csv_text.starts_with("log_id,seq,id,time,api,key_id,principal_id"));
}

/// Runs the binary with its stdout read by a reader that takes `keep` bytes and then closes
/// the pipe (`clearance ... | head -c N`); `(exit status, stderr)`.
fn run_into_closed_pipe(
    ws: &Workspace,
    args: &[&str],
    keep: usize,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ws.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut kept = vec![0u8; keep];
    let mut read = 0;
    while read < keep {
        match stdout.read(&mut kept[read..]).unwrap() {
            0 => break,
            n => read += n,
        }
    }
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let ws = Workspace::new();
    let config = ws.default_config();
    let rows: String = (0..200)
        .map(|i| format!("p{i},Person {i},US;FR;DE,GB\n"))
        .collect();
    let csv = ws.write(
        "people.csv",
        &format!("id,name,citizenships,permanent_residency\n{rows}"),
    );
    let import = ws.run(&[
        "principals",
        "import",
        as_str(&csv),
        "--config",
        as_str(&config),
    ]);
    assert!(import.status.success(), "{}", stderr(&import));
    let commands: [&[&str]; 4] = [
        &[
            "principals",
            "show",
            "p1",
            "--format",
            "json",
            "--config",
            as_str(&config),
        ],
        &["principals", "show", "p1", "--config", as_str(&config)],
        &["keys", "list", "--config", as_str(&config)],
        &["audit", "export", "--config", as_str(&config)],
    ];
    for args in commands {
        // The reader gone before the first write (deterministic), and after 10 bytes.
        for keep in [0, 10] {
            let (status, err) = run_into_closed_pipe(&ws, args, keep);
            assert!(!err.contains("panicked"), "{args:?} keep {keep}: {err}");
            assert_ne!(status.code(), Some(101), "{args:?} keep {keep}: {err}");
            assert!(status.success(), "{args:?} keep {keep}: {status} {err}");
            assert!(err.is_empty(), "{args:?} keep {keep}: {err}");
        }
    }
}

#[test]
fn a_principal_file_that_is_not_utf8_is_refused_at_its_line() {
    let ws = Workspace::new();
    let config = ws.default_config();
    let csv = ws.path("people.csv");
    std::fs::write(
        &csv,
        b"id,name,citizenships\nalice,Alice,US\nbob,B\xe9b,FR\n",
    )
    .unwrap();
    let jsonl = ws.path("people.jsonl");
    std::fs::write(
        &jsonl,
        b"{\"id\":\"alice\",\"citizenships\":[\"US\"]}\n{\"id\":\"bob\",\"name\":\"\xff\"}\n",
    )
    .unwrap();
    for (file, expected) in [
        (&csv, "people.csv:3: not UTF-8 (byte 0xe9 at column 6)"),
        (&jsonl, "people.jsonl:2: not UTF-8 (byte 0xff at column 21)"),
    ] {
        let output = ws.run(&[
            "principals",
            "import",
            as_str(file),
            "--config",
            as_str(&config),
        ]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("nothing was imported"), "{err}");
    }
    let show = ws.run(&["principals", "show", "alice", "--config", as_str(&config)]);
    assert_eq!(show.status.code(), Some(1), "alice was not imported");
}
