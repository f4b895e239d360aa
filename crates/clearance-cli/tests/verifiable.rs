//! The verifiable log end to end, with the real binaries: receipts of served and denied requests
//! verified offline, tampering with a stopped gateway's store caught by checkpoints saved
//! earlier, a witness cosigning (and refusing a fork), pruning that keeps every proof valid, and
//! the same receipts on PostgreSQL.
//!
//! Tampering is done on a copy of the SQLite file with rusqlite, the way an operator with write
//! access to the database could: each tamper keeps the hash chain (and, where it says so, the
//! Merkle tree) internally consistent, so that only a signed checkpoint can catch it.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clearance_core::audit::{ChainHash, chain_hash};
use clearance_tlog::merkle::leaf_hash;
use clearance_tlog::{Checkpoint, Frontier, Note, Signer};
use common::{BIN, Served, as_str, stdout};
use serde_json::Value;

const ORIGIN: &str = "clearance.test/audit";
const WITNESS: &str = "witness.test/w1";
const PROVIDER_KEY_ENV: &str = "VERIFIABLE_TEST_PROVIDER_KEY";
const ADMIN_TOKEN_ENV: &str = "VERIFIABLE_TEST_ADMIN_TOKEN";
const ADMIN_TOKEN: &str = "verifiable-test-admin-token";
const READER_TOKEN_ENV: &str = "VERIFIABLE_TEST_READER_TOKEN";
const READER_TOKEN: &str = "verifiable-test-reader-token";
const REPLICA: &str = "gw";

const GPT: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;
const MYTHOS: &str =
    r#"{"model":"mythos-5","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;

/// A folder with a log signing key, a directive denying `mythos-5` to non-US persons, alice (US)
/// and bjorn (SE) with a key each, and a config whose `[audit]` section signs checkpoints.
struct Deployment {
    dir: tempfile::TempDir,
    _fake: clearance_fake::FakeServer,
    audit_extra: String,
    keys: BTreeMap<&'static str, String>,
    /// The log's verifier key, as `clearance audit keygen` printed it.
    log_key: String,
    config: PathBuf,
}

impl Deployment {
    async fn new(store: &str, audit_extra: &str) -> Deployment {
        let fake = clearance_fake::FakeServer::start("127.0.0.1:0")
            .await
            .unwrap();
        fake.require_key(Some("sk-verifiable".to_string()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("directives")).unwrap();
        std::fs::write(
            dir.path().join("directives/exd.toml"),
            common::directive("EXD-1", "mythos-5"),
        )
        .unwrap();
        let mut deployment = Deployment {
            config: dir.path().join("clearance.toml"),
            dir,
            audit_extra: audit_extra.to_string(),
            _fake: fake,
            keys: BTreeMap::new(),
            log_key: String::new(),
        };
        deployment.log_key = deployment
            .cli(&[
                "audit",
                "keygen",
                "--name",
                ORIGIN,
                "--out",
                as_str(&deployment.path("log.key")),
            ])
            .trim()
            .to_string();
        deployment.write_config("clearance.toml", store, true);
        let principals = deployment.path("principals.csv");
        std::fs::write(&principals, "id,citizenships\nalice,US\nbjorn,SE\n").unwrap();
        deployment.cli(&[
            "principals",
            "import",
            as_str(&principals),
            "--config",
            as_str(&deployment.config),
        ]);
        for who in ["alice", "bjorn"] {
            let created = deployment.cli(&[
                "keys",
                "create",
                "--principal",
                who,
                "--config",
                as_str(&deployment.config),
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

    async fn sqlite(audit_extra: &str) -> Deployment {
        Deployment::new("sqlite = \"clearance.db\"", audit_extra).await
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config named `name` over `store`, with the signing key or without.
    fn write_config(&self, name: &str, store: &str, signed: bool) -> PathBuf {
        let key = if signed {
            "signing_key_file = \"log.key\""
        } else {
            ""
        };
        let fake = &self._fake;
        let text = format!(
            r#"[server]
listen = "127.0.0.1:0"
admin_token_env = "{ADMIN_TOKEN_ENV}"

[store]
{store}
replica = "{REPLICA}"

[audit]
origin = "{ORIGIN}"
{key}
checkpoint_every_ms = 100
{extra}

[directives]
dir = "directives"

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
tags = ["controlled"]

[[models]]
name = "gpt-5"
provider = "openlab"
"#,
            extra = self.audit_extra,
            anthropic = fake.anthropic_base_url(),
            openai = fake.openai_base_url(),
        );
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs the CLI in the folder; `(exit code, stdout, stderr)`.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env(PROVIDER_KEY_ENV, "sk-verifiable")
            .env(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
            .output()
            .unwrap();
        (
            out.status.code(),
            stdout(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the CLI; its stdout. Fails the test on a non-zero exit.
    fn cli(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(0), "clearance {args:?} failed: {out}{err}");
        out
    }

    fn serve(&self) -> Served {
        Served::start(
            self.dir.path(),
            &self.config,
            &[
                (PROVIDER_KEY_ENV, "sk-verifiable"),
                (ADMIN_TOKEN_ENV, ADMIN_TOKEN),
                (READER_TOKEN_ENV, READER_TOKEN),
            ],
        )
    }

    /// Saves what `clearance audit checkpoint` prints (the deployment note) to `name`.
    fn save_deployment_note(&self, name: &str) -> PathBuf {
        let note = self.cli(&["audit", "checkpoint", "--config", as_str(&self.config)]);
        assert!(
            note.starts_with(&format!("{ORIGIN}/deployment\n")),
            "{note}"
        );
        let path = self.path(name);
        std::fs::write(&path, note).unwrap();
        path
    }

    /// `clearance audit verify --config CONFIG [--checkpoint SAVED]...`.
    fn verify(&self, config: &Path, saved: &[&Path]) -> (Option<i32>, String, String) {
        let mut args = vec!["audit", "verify", "--config", as_str(config)];
        for s in saved {
            args.extend(["--checkpoint", as_str(s)]);
        }
        self.run(&args)
    }

    /// `clearance audit verify-bundle FILE --key LOG_KEY EXTRA...`.
    fn verify_bundle(&self, file: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
        let mut args = vec![
            "audit",
            "verify-bundle",
            as_str(file),
            "--key",
            &self.log_key,
        ];
        args.extend(extra);
        self.run(&args)
    }
}

/// What a model request's answer said.
struct Answer {
    status: u16,
    request_id: String,
    /// `x-clearance-receipt`, parsed: log, index, leaf, policy.
    receipt: BTreeMap<String, String>,
}

async fn call(base: &str, key: &str, model_body: &str) -> Answer {
    let path = if model_body.contains("mythos") {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(model_body.to_string())
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    let request_id = header("x-clearance-request-id");
    let receipt = header("x-clearance-receipt")
        .split("; ")
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    Answer {
        status,
        request_id,
        receipt,
    }
}

/// `GET /audit/receipt/ID` with `token` as the bearer: status and body.
async fn get_receipt(base: &str, token: &str, id: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/audit/receipt/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The receipt of `id`, asked for as `token` until no longer 425 (10 s at most).
async fn wait_receipt(base: &str, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_receipt(base, token, id).await;
        match status {
            200 => return serde_json::from_str(&body).unwrap(),
            425 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("receipt of {id}: {status} {body}"),
        }
    }
}

async fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Polls `url` until its body satisfies `ok` (10 s at most); the body.
async fn wait_for_body(url: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get_text(url).await;
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: still {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// The header's leaf is one of the receipt's entries, at the index it named.
fn assert_header_in_receipt(answer: &Answer, receipt: &Value) {
    let index: u64 = answer.receipt["index"].parse().unwrap();
    let leaf = &answer.receipt["leaf"];
    assert_eq!(
        receipt["log"].as_str(),
        Some(answer.receipt["log"].as_str())
    );
    let entries = receipt["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["index"] == index
            && leaf_hash(e["record"].as_str().unwrap().as_bytes()).to_base64() == *leaf),
        "header {:?} names no entry of {receipt}",
        answer.receipt
    );
}

/// The receipt with one character of its first record changed.
fn tampered(receipt: &Value) -> Value {
    let mut receipt = receipt.clone();
    let record = receipt["entries"][0]["record"]
        .as_str()
        .unwrap()
        .to_string();
    let edited = record.replacen("\"replica\":\"gw\"", "\"replica\":\"gx\"", 1);
    assert_ne!(edited, record, "nothing to edit in {record}");
    receipt["entries"][0]["record"] = Value::String(edited);
    receipt
}

/// Receipts of a 200 and a 451 verify offline (and the proving CLI's bundle too); one edited
/// character breaks them; another client's key cannot have them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_a_200_and_a_451_verify_offline() {
    let d = Deployment::sqlite("").await;
    let mut served = d.serve();
    let base = served.base.clone();
    let (alice, bjorn) = (d.keys["alice"].clone(), d.keys["bjorn"].clone());
    let allowed = call(&base, &alice, GPT).await;
    assert_eq!(allowed.status, 200);
    let denied = call(&base, &bjorn, MYTHOS).await;
    assert_eq!(denied.status, 451);
    assert_ne!(denied.receipt["policy"], "none", "{:?}", denied.receipt);
    // Another key learns nothing of a request, not even that it awaits a checkpoint.
    let (status, body) = get_receipt(&base, &alice, &denied.request_id).await;
    assert_eq!(status, 404, "{body}");

    for (who, key, other, answer, want) in [
        ("alice", &alice, &bjorn, &allowed, "status 200"),
        ("bjorn", &bjorn, &alice, &denied, "status 451"),
    ] {
        let receipt = wait_receipt(&base, key, &answer.request_id).await;
        assert_header_in_receipt(answer, &receipt);
        let file = d.path(&format!("{who}.receipt.json"));
        write_json(&file, &receipt);
        let (code, out, err) = d.verify_bundle(&file, &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("receipt OK") && out.contains(want), "{out}");

        let bad = d.path(&format!("{who}.tampered.json"));
        write_json(&bad, &tampered(&receipt));
        let (code, out, _) = d.verify_bundle(&bad, &[]);
        assert_eq!(code, Some(1), "an edited record verifies: {out}");
        assert!(out.contains("does NOT verify"), "{out}");

        let (status, body) = get_receipt(&base, other, &answer.request_id).await;
        assert_eq!(status, 404, "another key got the receipt: {body}");

        let proved = d.path(&format!("{who}.proved.json"));
        d.cli(&[
            "audit",
            "prove",
            &answer.request_id,
            "--config",
            as_str(&d.config),
            "-o",
            as_str(&proved),
        ]);
        let (code, out, err) = d.verify_bundle(&proved, &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains(want), "{out}");
    }
    assert!(served.stop().success());
}

// --- Tampering with a stopped gateway's SQLite file -------------------------------------------

/// A consistent copy of the deployment's SQLite file, and a config over it.
fn tamper_copy(d: &Deployment, name: &str) -> (rusqlite::Connection, PathBuf) {
    let file = d.path(&format!("{name}.db"));
    let original = rusqlite::Connection::open(d.path("clearance.db")).unwrap();
    original.execute("VACUUM INTO ?1", [as_str(&file)]).unwrap();
    let config = d.write_config(
        &format!("{name}.toml"),
        &format!("sqlite = \"{name}.db\""),
        true,
    );
    (rusqlite::Connection::open(&file).unwrap(), config)
}

/// The gateway's log (the only one its replica wrote).
fn gateway_log(conn: &rusqlite::Connection) -> String {
    conn.query_row(
        "SELECT log_id FROM audit_logs WHERE replica = ?1",
        [REPLICA],
        |r| r.get(0),
    )
    .unwrap()
}

fn head_seq(conn: &rusqlite::Connection, log: &str) -> u64 {
    conn.query_row(
        "SELECT head_seq FROM audit_logs WHERE log_id = ?1",
        [log],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// Recomputes the chain hashes of `log` from record `from` on, and its head.
fn rehash_from(conn: &rusqlite::Connection, log: &str, from: u64) {
    let prev: String = conn
        .query_row(
            "SELECT prev_hash FROM audit WHERE log_id = ?1 AND seq = ?2",
            rusqlite::params![log, from as i64],
            |r| r.get(0),
        )
        .unwrap();
    let mut prev = ChainHash::from_hex(&prev).unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, record FROM audit WHERE log_id = ?1 AND seq >= ?2 ORDER BY seq")
        .unwrap()
        .query_map(rusqlite::params![log, from as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, record) in rows {
        let hash = chain_hash(seq as u64, &prev, &record);
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE log_id = ?3 AND seq = ?4",
            rusqlite::params![prev.to_hex(), hash.to_hex(), log, seq],
        )
        .unwrap();
        prev = hash;
    }
    conn.execute(
        "UPDATE audit_logs SET head_hash = ?1 WHERE log_id = ?2",
        rusqlite::params![prev.to_hex(), log],
    )
    .unwrap();
}

/// Replaces `log`'s whole Merkle tree with the one its records (as they are now) make.
fn rebuild_tree(conn: &rusqlite::Connection, log: &str) {
    conn.execute("DELETE FROM audit_tree WHERE log_id = ?1", [log])
        .unwrap();
    let records: Vec<String> = conn
        .prepare("SELECT record FROM audit WHERE log_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([log], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut frontier = Frontier::new();
    for record in records {
        for (id, hash) in frontier.append(leaf_hash(record.as_bytes())) {
            conn.execute(
                "INSERT INTO audit_tree (log_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![log, id.level, id.index as i64, &hash.0[..]],
            )
            .unwrap();
        }
    }
}

/// Rewrites record `seq` of `log` with `edit`, re-hashes the chain from it and rebuilds the
/// tree: a rewrite nothing inside the store can tell from the truth.
fn rewrite_record(conn: &rusqlite::Connection, log: &str, seq: u64, edit: impl Fn(&str) -> String) {
    let record: String = conn
        .query_row(
            "SELECT record FROM audit WHERE log_id = ?1 AND seq = ?2",
            rusqlite::params![log, seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    let edited = edit(&record);
    assert_ne!(edited, record, "the edit changes nothing");
    conn.execute(
        "UPDATE audit SET record = ?1 WHERE log_id = ?2 AND seq = ?3",
        rusqlite::params![edited, log, seq as i64],
    )
    .unwrap();
    rehash_from(conn, log, seq);
    rebuild_tree(conn, log);
}

/// (a) Deletes `log`'s records after `keep`, moves its head back to record `keep`, reopens it,
/// and deletes the tree nodes and stored checkpoints beyond.
fn truncate_tail(conn: &rusqlite::Connection, log: &str, keep: u64) {
    let keep = keep as i64;
    conn.execute(
        "DELETE FROM audit WHERE log_id = ?1 AND seq > ?2",
        rusqlite::params![log, keep],
    )
    .unwrap();
    conn.execute(
        "UPDATE audit_logs SET head_seq = ?2, closed_at = NULL,
             head_hash = (SELECT hash FROM audit WHERE log_id = ?1 AND seq = ?2)
         WHERE log_id = ?1",
        rusqlite::params![log, keep],
    )
    .unwrap();
    // A node at (level, idx) covers leaves [idx << level, (idx + 1) << level).
    conn.execute(
        "DELETE FROM audit_tree WHERE log_id = ?1 AND ((idx + 1) << level) > ?2",
        rusqlite::params![log, keep],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM audit_checkpoints WHERE log_id = ?1 AND size > ?2",
        rusqlite::params![log, keep],
    )
    .unwrap();
}

/// (c) Deletes the whole trail: records, trees, checkpoints, logs.
fn wipe_trail(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "DELETE FROM audit; DELETE FROM audit_tree; DELETE FROM audit_checkpoints; DELETE FROM audit_logs;",
    )
    .unwrap();
}

/// The seq of the record of request `id` in `log` whose text contains `needle`.
fn seq_of(conn: &rusqlite::Connection, log: &str, id: &str, needle: &str) -> u64 {
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, record FROM audit WHERE log_id = ?1 AND id = ?2 ORDER BY seq")
        .unwrap()
        .query_map([log, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.iter()
        .find(|(_, r)| r.contains(needle))
        .unwrap_or_else(|| panic!("no record of {id} with {needle}: {rows:?}"))
        .0 as u64
}

fn assert_fails_naming(what: &str, result: (Option<i32>, String, String), names: &[&str]) {
    let (code, out, err) = result;
    assert_eq!(code, Some(1), "{what}: verification passed: {out}{err}");
    for name in names {
        assert!(
            out.contains(name) || err.contains(name),
            "{what}: `{name}` not in:\n{out}{err}"
        );
    }
}

/// Each way of rewriting a stopped gateway's store is caught: by a checkpoint saved earlier, by
/// `verify` itself, or by the gateway refusing to start over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_by_checkpoints_saved_earlier() {
    let d = Deployment::sqlite("").await;
    let mut served = d.serve();
    let base = served.base.clone();
    let (alice, bjorn) = (d.keys["alice"].clone(), d.keys["bjorn"].clone());
    for _ in 0..3 {
        assert_eq!(call(&base, &alice, GPT).await.status, 200);
    }
    let denied = call(&base, &bjorn, MYTHOS).await;
    assert_eq!(denied.status, 451);
    for _ in 0..3 {
        assert_eq!(call(&base, &alice, GPT).await.status, 200);
    }
    let last = call(&base, &alice, GPT).await;
    // Once the last request is under a checkpoint, save one of the log and the deployment's.
    wait_receipt(&base, &alice, &last.request_id).await;
    let log = last.receipt["log"].clone();
    let (status, note) = get_text(&format!("{base}/audit/log/{log}/checkpoint")).await;
    assert_eq!(status, 200, "{note}");
    let saved_log = d.path("saved-log-checkpoint.txt");
    std::fs::write(&saved_log, &note).unwrap();
    let saved_size = Checkpoint::parse(&Note::parse(&note).unwrap().body)
        .unwrap()
        .size;
    let saved_note = d.save_deployment_note("saved-deployment.txt");
    assert!(served.stop().success());

    let (code, out, err) = d.verify(&d.config, &[&saved_log, &saved_note]);
    assert_eq!(code, Some(0), "the untouched trail verifies: {out}{err}");

    // (a) The tail cut off, head, tree and checkpoints made to match.
    let (conn, config) = tamper_copy(&d, "truncated");
    assert_eq!(gateway_log(&conn), log);
    assert!(saved_size > 3, "{saved_size}");
    truncate_tail(&conn, &log, saved_size - 2);
    drop(conn);
    let (code, out, err) = d.verify(&config, &[]);
    assert_eq!(code, Some(0), "(a) the cut is clean: {out}{err}");
    assert_fails_naming(
        "(a) tail truncated",
        d.verify(&config, &[&saved_log]),
        &[&log, "deleted from the end"],
    );

    // (b) The 451 rewritten to a 200 allow, chain, head and tree recomputed, checkpoints gone.
    let (conn, config) = tamper_copy(&d, "rewritten");
    let seq = seq_of(&conn, &log, &denied.request_id, "\"status\":451");
    rewrite_record(&conn, &log, seq, |r| {
        r.replace("\"decision\":\"deny\"", "\"decision\":\"allow\"")
            .replace("\"status\":451", "\"status\":200")
    });
    conn.execute("DELETE FROM audit_checkpoints WHERE log_id = ?1", [&log])
        .unwrap();
    drop(conn);
    let (code, out, err) = d.verify(&config, &[]);
    assert_eq!(
        code,
        Some(0),
        "(b) the rewrite is consistent inside the store: {out}{err}"
    );
    assert_fails_naming(
        "(b) deny rewritten to allow (log checkpoint)",
        d.verify(&config, &[&saved_log]),
        &[&log, "rewritten"],
    );
    assert_fails_naming(
        "(b) deny rewritten to allow (deployment note)",
        d.verify(&config, &[&saved_note]),
        &[&log, "rewritten"],
    );

    // (c) The whole trail deleted.
    let (conn, config) = tamper_copy(&d, "wiped");
    wipe_trail(&conn);
    drop(conn);
    assert_fails_naming(
        "(c) trail deleted",
        d.verify(&config, &[&saved_note]),
        &[&log, "gone"],
    );

    // (d) A derived column edited: the store's own verification catches it.
    let (conn, config) = tamper_copy(&d, "facts");
    let edited = conn
        .execute(
            "UPDATE audit SET facts = '{\"principal\":{\"us_person\":true}}'
             WHERE log_id = ?1 AND id = ?2 AND facts IS NOT NULL",
            [&log, &denied.request_id],
        )
        .unwrap();
    assert!(edited >= 1);
    drop(conn);
    assert_fails_naming("(d) facts column edited", d.verify(&config, &[]), &[&log]);

    // (e) A record in the middle rewritten, chain and tree recomputed, stored checkpoints kept:
    // only those checkpoints disagree, and the gateway will not start over them.
    let (conn, config) = tamper_copy(&d, "middle");
    let middle = seq_of(&conn, &log, &denied.request_id, "\"duration_us\":");
    assert!(middle > 1 && middle < head_seq(&conn, &log), "{middle}");
    rewrite_record(&conn, &log, middle, |r| {
        r.replacen("\"duration_us\":", "\"duration_us\":9", 1)
    });
    drop(conn);
    let unsigned = d.write_config("middle-nokey.toml", "sqlite = \"middle.db\"", false);
    let (code, out, err) = d.verify(&unsigned, &[]);
    assert_eq!(
        code,
        Some(0),
        "(e) without the key, chain and tree verify: {out}{err}"
    );
    assert_fails_naming(
        "(e) middle rewrite (stored checkpoints)",
        d.verify(&config, &[]),
        &[&log, "rewritten"],
    );
    let (code, err) = serve_exit(&d, &config);
    assert_ne!(code, Some(0), "(e) the gateway started: {err}");
    assert!(
        err.contains(&log) && err.contains("rewritten"),
        "(e) the refusal names neither the log nor the rewrite: {err}"
    );
}

/// `clearance serve --config CONFIG`, expected to refuse to start: its exit code and stderr.
fn serve_exit(d: &Deployment, config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--config", as_str(config)])
        .current_dir(d.dir.path())
        .env(PROVIDER_KEY_ENV, "sk-verifiable")
        .env(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
        .env("CLEARANCE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("clearance serve is still running over a tampered store");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

// --- A witness --------------------------------------------------------------------------------

/// `clearance witness keygen` into `dir/file`: the cosigner verifier key.
fn witness_keygen(dir: &Path, file: &str) -> String {
    let out = Command::new(BIN)
        .args(["witness", "keygen", "--name", WITNESS, "--out"])
        .arg(dir.join(file))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    stdout(&out).trim().to_string()
}

/// A witness cosigns the gateway's checkpoints (receipts verify with its key, the metric says
/// so), refuses a forked checkpoint of the same log, and once it is gone `/readyz` says fewer
/// witnesses than required cosigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_refuses_a_fork_and_is_missed_when_gone() {
    let wdir = tempfile::tempdir().unwrap();
    let witness_key = witness_keygen(wdir.path(), "witness.key");
    let stranger_key = witness_keygen(wdir.path(), "stranger.key");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let d = Deployment::sqlite(&format!(
        "witnesses = [{{url = \"http://{listen}\", key = \"{witness_key}\"}}]\nwitnesses_required = 1"
    ))
    .await;
    let mut witness = common::Witness::start(
        wdir.path(),
        &listen,
        WITNESS,
        &format!("{ORIGIN}/*={}", d.log_key),
    );
    let mut served = d.serve();
    let base = served.base.clone();
    let alice = d.keys["alice"].clone();
    let mut last = None;
    for _ in 0..3 {
        let answer = call(&base, &alice, GPT).await;
        assert_eq!(answer.status, 200);
        last = Some(answer);
    }
    let last = last.unwrap();

    // The receipt, once its checkpoint carries the witness's cosignature.
    let cosigned_line = format!("\n— {WITNESS} ");
    let deadline = Instant::now() + Duration::from_secs(10);
    let receipt = loop {
        let receipt = wait_receipt(&base, &alice, &last.request_id).await;
        if receipt["checkpoint"]
            .as_str()
            .unwrap()
            .contains(&cosigned_line)
        {
            break receipt;
        }
        assert!(Instant::now() < deadline, "never cosigned: {receipt}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let file = d.path("cosigned.receipt.json");
    write_json(&file, &receipt);
    let (code, out, err) = d.verify_bundle(
        &file,
        &["--witness-key", &witness_key, "--witnesses-required", "1"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("cosigned by {WITNESS}")), "{out}");
    let (code, out, _) = d.verify_bundle(
        &file,
        &["--witness-key", &stranger_key, "--witnesses-required", "1"],
    );
    assert_eq!(code, Some(1), "another witness's key counted: {out}");
    wait_for_body(&format!("{base}/metrics"), "the cosignature metric", |m| {
        m.lines()
            .any(|l| l == "clearance_audit_checkpoint_cosignatures 1")
    })
    .await;

    // A fork: the log's latest cosigned size, another root, signed with the log's own key.
    let log = &last.receipt["log"];
    let (status, note) = get_text(&format!("{base}/audit/log/{log}/checkpoint")).await;
    assert_eq!(status, 200);
    assert!(note.contains(&cosigned_line), "{note}");
    let genuine = Checkpoint::parse(&Note::parse(&note).unwrap().body).unwrap();
    let signer = Signer::parse(&std::fs::read_to_string(d.path("log.key")).unwrap()).unwrap();
    let forked = Checkpoint::new(&genuine.origin, genuine.size, leaf_hash(b"forged"));
    assert_ne!(forked.root, genuine.root);
    let body = format!(
        "old {}\n\n{}",
        genuine.size,
        signer.sign(&forked.body()).unwrap()
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/add-checkpoint", witness.base))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = answer.text().await.unwrap();
    assert_eq!(status, 409, "the fork was not refused: {text}");
    assert_ne!(
        kind.as_deref(),
        Some("text/x.tlog.size"),
        "refused for its old size, not as a fork: {text}"
    );

    // The witness gone: the next checkpoint has no cosignature, and /readyz says so.
    witness.stop();
    assert_eq!(call(&base, &alice, GPT).await.status, 200);
    let ready = wait_for_body(&format!("{base}/readyz"), "readyz", |b| {
        b.contains("0 of 1 required witnesses")
    })
    .await;
    let (status, _) = get_text(&format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    assert!(served.stop().success());
}

// --- Pruning ----------------------------------------------------------------------------------

async fn get_with_bearer(url: &str, token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// An auditor's read-only token opens the records (entry bundles) and every receipt, and
/// nothing else: not the admin API. Without it, or with a client key, the records stay shut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_token_reads_the_records_and_nothing_else() {
    let d = Deployment::sqlite(&format!("reader_token_env = \"{READER_TOKEN_ENV}\"\n")).await;
    let mut served = d.serve();
    let base = served.base.clone();
    let alice = d.keys["alice"].clone();
    let answer = call(&base, &alice, GPT).await;
    assert_eq!(answer.status, 200);
    let receipt = wait_receipt(&base, READER_TOKEN, &answer.request_id).await;
    let log = receipt["log"].as_str().unwrap().to_string();
    let checkpoint = receipt["checkpoint"].as_str().unwrap();
    let size: u64 = checkpoint.lines().nth(1).unwrap().parse().unwrap();
    assert!(size < 256, "{size}");
    let entries = format!("{base}/audit/log/{log}/tile/entries/000.p/{size}");
    let (status, body) = get_text(&entries).await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, body) = get_with_bearer(&entries, &alice).await;
    assert_eq!(status, 401, "a client key: {body}");
    let (status, body) = get_with_bearer(&entries, READER_TOKEN).await;
    assert_eq!(status, 200, "the reader token: {body}");
    assert!(body.contains(&answer.request_id), "the records are served");
    let (status, _) = get_with_bearer(&entries, ADMIN_TOKEN).await;
    assert_eq!(status, 200, "the admin token");
    let (status, body) = get_with_bearer(&format!("{base}/admin/keys"), READER_TOKEN).await;
    assert_eq!(status, 401, "the reader token opens no admin route: {body}");
    assert!(served.stop().success());
}

/// Pruned bodies leave every proof valid: the trail verifies (against a checkpoint saved
/// before), a receipt saved before verifies, the log verifies from a restarted gateway's
/// tiles, and the prune is itself on the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_keeps_proofs_valid_and_is_recorded() {
    let d = Deployment::sqlite("").await;
    let mut served = d.serve();
    let base = served.base.clone();
    let (alice, bjorn) = (d.keys["alice"].clone(), d.keys["bjorn"].clone());
    for _ in 0..3 {
        assert_eq!(call(&base, &alice, GPT).await.status, 200);
    }
    let denied = call(&base, &bjorn, MYTHOS).await;
    assert_eq!(denied.status, 451);
    let receipt = wait_receipt(&base, &bjorn, &denied.request_id).await;
    let saved_receipt = d.path("before-prune.receipt.json");
    write_json(&saved_receipt, &receipt);
    let saved_log = d.path("saved-log-checkpoint.txt");
    std::fs::write(&saved_log, receipt["checkpoint"].as_str().unwrap()).unwrap();
    assert!(served.stop().success());
    // The store compares times to the whole second: let the second of the last record pass.
    let now = chrono::Utc::now();
    let into_next = 1_050 - u64::from(now.timestamp_subsec_millis());
    std::thread::sleep(Duration::from_millis(into_next));

    let pruned = d.cli(&[
        "audit",
        "prune",
        "--config",
        as_str(&d.config),
        "--older-than-days",
        "0",
    ]);
    let count: u64 = pruned
        .strip_prefix("pruned the bodies of ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{pruned}"));
    assert!(count > 5, "{pruned}");

    let (code, out, err) = d.verify(&d.config, &[&saved_log]);
    assert_eq!(code, Some(0), "the pruned trail verifies: {out}{err}");
    let (code, out, err) = d.verify_bundle(&saved_receipt, &[]);
    assert_eq!(code, Some(0), "{out}{err}");

    let mut served = d.serve();
    let base = served.base.clone();
    // A pruned request's receipt: gone, said only to the admin (with the body, the record of
    // which key made the request is gone too).
    let (status, body) = get_receipt(&base, ADMIN_TOKEN, &denied.request_id).await;
    assert_eq!(status, 410, "a pruned request's receipt: {body}");
    for key in [&bjorn, &alice] {
        let (status, body) = get_receipt(&base, key, &denied.request_id).await;
        assert_eq!(
            status, 404,
            "a pruned request's receipt to a client: {body}"
        );
    }
    // Every log of the deployment under a checkpoint of its whole size (the new gateway signs
    // its own and the prune's change log).
    let (status, note) = get_text(&format!("{base}/audit/checkpoint")).await;
    assert_eq!(status, 200, "{note}");
    let body = Note::parse(&note).unwrap().body;
    for line in body.lines().skip(2) {
        let mut parts = line.split(' ');
        let (id, size) = (parts.next().unwrap(), parts.next().unwrap());
        wait_for_body(
            &format!("{base}/audit/log/{id}/checkpoint"),
            &format!("a checkpoint of log {id} at {size}"),
            |n| {
                Note::parse(n)
                    .ok()
                    .and_then(|n| Checkpoint::parse(&n.body).ok())
                    .is_some_and(|c| c.size.to_string() == size)
            },
        )
        .await;
    }
    let (code, out, err) = d.run(&[
        "audit",
        "verify-log",
        "--url",
        &base,
        "--key",
        &d.log_key,
        "--checkpoint",
        as_str(&saved_log),
        "--token",
        ADMIN_TOKEN,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("pruned bodies") && out.contains("verified from tiles: OK"),
        "{out}"
    );
    assert!(served.stop().success());

    let export = common::export(d.dir.path(), &d.config);
    let prune = export
        .iter()
        .map(|l| &l["record"])
        .find(|r| r["admin"]["action"] == "audit_prune")
        .unwrap_or_else(|| panic!("no audit_prune record in the export"));
    assert_eq!(prune["decision"], "admin", "{prune}");
}

// --- PostgreSQL -------------------------------------------------------------------------------

/// On PostgreSQL too: receipts of a 200 and a 451 verify, and the trail verifies against a
/// deployment note saved while the gateway ran.
#[test]
fn receipts_and_saved_checkpoints_verify_on_postgres() {
    // The scratch database is made and dropped outside the test's runtime.
    let Some(pg) = common::ScratchPg::create("receipts_and_saved_checkpoints_verify_on_postgres")
    else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(postgres_receipts(&pg.url));
    drop(pg);
}

async fn postgres_receipts(url: &str) {
    let d = Deployment::new(&format!("postgres = \"{url}\""), "").await;
    let mut served = d.serve();
    let base = served.base.clone();
    let (alice, bjorn) = (d.keys["alice"].clone(), d.keys["bjorn"].clone());
    let allowed = call(&base, &alice, GPT).await;
    assert_eq!(allowed.status, 200);
    let denied = call(&base, &bjorn, MYTHOS).await;
    assert_eq!(denied.status, 451);
    for (who, key, answer) in [("alice", &alice, &allowed), ("bjorn", &bjorn, &denied)] {
        let receipt = wait_receipt(&base, key, &answer.request_id).await;
        assert_header_in_receipt(answer, &receipt);
        let file = d.path(&format!("{who}.receipt.json"));
        write_json(&file, &receipt);
        let (code, out, err) = d.verify_bundle(&file, &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        let bad = d.path(&format!("{who}.tampered.json"));
        write_json(&bad, &tampered(&receipt));
        assert_eq!(d.verify_bundle(&bad, &[]).0, Some(1));
    }
    let saved = d.save_deployment_note("saved-deployment.txt");
    assert!(served.stop().success());
    let (code, out, err) = d.verify(&d.config, &[&saved]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("holds the"), "{out}");
}
