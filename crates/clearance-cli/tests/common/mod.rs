//! What the CLI test suites share: the binary, files in a temporary folder, process output.
#![allow(dead_code, clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_clearance");

/// Writes `text` to `name` under `dir`, returning the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn as_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `clearance serve` process: started and waited for until it listens; stopped with SIGTERM
/// by [`Served::stop`], killed if dropped still running.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    /// `clearance serve --config CONFIG` in `dir`, with `env` set.
    pub fn start(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--config", as_str(config)])
            .envs(env.iter().copied())
            .env("CLEARANCE_LOG", "warn")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("clearance listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line}"))
            .to_string();
        Served { child, base }
    }

    /// SIGTERM, then waits (up to 10 s) for the drain; the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        terminate(&mut self.child, "clearance serve")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        kill_if_running(&mut self.child);
    }
}

/// SIGTERM, then waits up to 10 s for `child` to exit; its exit status.
pub fn terminate(child: &mut Child, what: &str) -> ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{what} did not exit within 10 s of SIGTERM");
}

/// Kills `child` if it still runs (a test that failed before stopping it).
pub fn kill_if_running(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A running `clearance witness serve` named `name` with its key in `dir/witness.key` and its
/// state in `dir/witness.sqlite`, witnessing `--log log_flag`; killed if dropped still running.
pub struct Witness {
    pub child: Child,
    /// The cosigner verifier key it printed.
    pub key: String,
    pub base: String,
}

impl Witness {
    pub fn start(dir: &Path, listen: &str, name: &str, log_flag: &str) -> Witness {
        let mut child = Command::new(BIN)
            .args(["witness", "serve", "--listen", listen, "--name", name])
            .args(["--key", as_str(&dir.join("witness.key"))])
            .args(["--log", log_flag])
            .args(["--state", as_str(&dir.join("witness.sqlite"))])
            .env("CLEARANCE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let second = lines.next().unwrap().unwrap();
        let key = first
            .strip_prefix("witness cosigner key: ")
            .unwrap_or_else(|| panic!("unexpected: {first}"))
            .to_string();
        assert_eq!(second, format!("witness listening on {listen}"));
        Witness {
            child,
            key,
            base: format!("http://{listen}"),
        }
    }

    /// SIGTERM; the exit status (within 10 s).
    pub fn stop(&mut self) -> ExitStatus {
        terminate(&mut self.child, "the witness")
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        kill_if_running(&mut self.child);
    }
}

/// Runs `future` on a runtime of its own (tests that drive the store directly are plain
/// `#[test]`s: a PostgreSQL store must be opened and used on one runtime).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Appends `records` to a new log `log_id` (its opening record first) in `store`, and closes
/// it with its closing record when `close`; returns the sealed records as stored.
pub async fn write_log(
    store: &dyn clearance_store::Store,
    log_id: &str,
    records: &[clearance_core::audit::AuditRecord],
    close: bool,
) -> Vec<clearance_core::audit::SealedRecord> {
    use clearance_core::audit::LOG_CLOSE;
    let at = chrono::Utc::now();
    let mut head = clearance_store::open_log(store, log_id, "test-replica", at)
        .await
        .unwrap();
    let mut sealed: Vec<_> = records.iter().map(|r| head.seal(r)).collect();
    if close {
        let closing = clearance_store::log_record(LOG_CLOSE, log_id, "test-replica");
        sealed.push(head.seal(&closing));
    }
    store.append_audit(log_id, &sealed).await.unwrap();
    if close {
        store.close_log(log_id, chrono::Utc::now()).await.unwrap();
    }
    sealed
}

/// A request's record as a test writes it: `req-N`, allowed, served.
pub fn request_record(n: u64) -> clearance_core::audit::AuditRecord {
    use clearance_core::audit::{AuditRecord, Decision};
    AuditRecord {
        key_id: None,
        token: None,
        principal_id: Some("alice".into()),
        requested_model: Some("gpt-5".into()),
        served_model: Some("gpt-5".into()),
        decision: Decision::Allow,
        status: 200,
        upstream_status: Some(200),
        duration_us: 1,
        overhead_us: 1,
        input_tokens: Some(1),
        output_tokens: Some(1),
        ..AuditRecord::new_request(
            format!("req-{n}"),
            chrono::Utc::now(),
            clearance_core::api::ApiSurface::OpenaiChat,
        )
    }
}

/// A PostgreSQL database of its own for one test, created on the server
/// `$CLEARANCE_TEST_POSTGRES` names (default `postgres://root@127.0.0.1:5432/test`) and
/// dropped when this is dropped.
pub struct ScratchPg {
    admin_url: String,
    name: String,
    /// The scratch database's URL.
    pub url: String,
}

impl ScratchPg {
    /// `None` (with a message) when no server answers, unless `$CI` is set: then the test
    /// fails, so a CI run never passes by skipping.
    pub fn create(test: &str) -> Option<ScratchPg> {
        let admin_url = std::env::var("CLEARANCE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string());
        let name = format!("clearance_cli_{}", uuid::Uuid::now_v7().simple());
        let created = block_on(pg_execute(&admin_url, &format!("CREATE DATABASE {name}")));
        match created {
            Ok(()) => {
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&format!("/{name}"));
                Some(ScratchPg {
                    admin_url,
                    name,
                    url: url.to_string(),
                })
            }
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("{test}: PostgreSQL at {admin_url} is not usable and CI is set: {error}")
            }
            Err(error) => {
                eprintln!(
                    "skipping {test}: PostgreSQL at {admin_url} is not usable ({error}); set CLEARANCE_TEST_POSTGRES"
                );
                None
            }
        }
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let drop_it = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = block_on(pg_execute(&self.admin_url, &drop_it)) {
            eprintln!("could not drop the scratch database {}: {error}", self.name);
        }
    }
}

async fn pg_execute(url: &str, sql: &str) -> Result<(), String> {
    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    let connect = sqlx_postgres::PgConnection::connect(url);
    let mut conn = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    Executor::execute(&mut conn, sql)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// A config whose `[store]` section is `store` (e.g. `sqlite = "clearance.db"`), with two
/// providers nothing needs to reach and two models (`mythos-5` tagged `controlled`).
pub fn config_text(store: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[store]
{store}

[providers.acme]
kind = "anthropic"
base_url = "http://127.0.0.1:9"

[providers.openlab]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "mythos-5"
provider = "acme"
tags = ["frontier", "controlled"]

[[models]]
name = "gpt-5"
provider = "openlab"
tags = ["frontier"]
"#
    )
}

/// A directive denying `model` to anyone who is not a US person.
pub fn directive(id: &str, model: &str) -> String {
    format!(
        "id = \"{id}\"\ntitle = \"Export control\"\nauthority = \"Directive 2026-06-15\"\n\
         effective = \"2026-06-15T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"{model}\"]\n\
         when = \"!principal.us_person\"\neffect = \"deny\"\n"
    )
}

/// Runs the binary in `dir`; `(exit code, stdout, stderr)`.
pub fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (output.status.code(), stdout(&output), stderr(&output))
}

/// The audit trail as `clearance audit export` writes it (JSONL), one value per record.
pub fn export(dir: &Path, config: &Path) -> Vec<serde_json::Value> {
    let (code, out, err) = run_in(dir, &["audit", "export", "--config", as_str(config)]);
    assert_eq!(code, Some(0), "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The CLI's change records in an export (log openings and closings left out), in order.
pub fn cli_changes(export: &[serde_json::Value]) -> Vec<serde_json::Value> {
    export
        .iter()
        .map(|l| &l["record"])
        .filter(|r| r["admin"]["actor"] == "cli")
        .filter(|r| {
            !matches!(
                r["admin"]["action"].as_str(),
                Some("log_open" | "log_close")
            )
        })
        .cloned()
        .collect()
}
