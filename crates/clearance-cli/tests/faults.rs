//! Faults tried on a real `clearance serve` process (issue 14, item 5): thousands of idle client
//! connections (the connection cap holds, idle connections are closed after the header
//! timeout, memory comes back), and the disk under the SQLite store filling up (a small tmpfs:
//! requests that cannot be recorded get 503, the gateway recovers when space returns, and
//! nothing already accepted is lost).
//!
//! The disk test mounts a tmpfs, which needs root: elsewhere it says why and returns, except
//! under CI (`CI` set), where a failed mount fails the test.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads CI from the environment, and may block its own thread"
)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Served, as_str, free_port, stdout};
use serde_json::Value;
use tokio::io::AsyncReadExt;

const PROVIDER_KEY_ENV: &str = "FAULTS_TEST_PROVIDER_KEY";
const PROVIDER_KEY: &str = "sk-faults";

/// A fake provider, a store with one principal and a key, and a config for `clearance serve`.
struct Setup {
    dir: tempfile::TempDir,
    /// Kept so the provider serves as long as the setup lives.
    fake: clearance_fake::FakeServer,
    config: PathBuf,
    key: String,
}

impl Setup {
    /// The store's database is `store_dir/clearance.db`; `server_extra` goes into `[server]`,
    /// `extra` at the end.
    async fn new(store_dir: Option<&Path>, server_extra: &str, extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let fake = clearance_fake::FakeServer::start("127.0.0.1:0")
            .await
            .unwrap();
        fake.require_key(Some(PROVIDER_KEY.to_string()));
        let db = store_dir.unwrap_or(dir.path()).join("clearance.db");
        let text = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
{server_extra}

[store]
sqlite = "{db}"

[audit]
max_wait_ms = 1000

[providers.openlab]
kind = "openai"
base_url = "{openai}"
api_key_env = "{PROVIDER_KEY_ENV}"

[[models]]
name = "gpt-5"
provider = "openlab"
upstream = "gpt-5-2026"

[[models]]
name = "gpt-5-backup"
provider = "openlab"
upstream = "gpt-5-backup"

{extra}
"#,
            port = free_port(),
            db = db.display(),
            openai = fake.openai_base_url(),
        );
        let config = dir.path().join("clearance.toml");
        std::fs::write(&config, text).unwrap();
        let principals = dir.path().join("principals.csv");
        std::fs::write(&principals, "id,citizenships\nalice,US\n").unwrap();
        let mut setup = Setup {
            dir,
            fake,
            config,
            key: String::new(),
        };
        setup.cli(&["principals", "import", as_str(&principals)]);
        let created = setup.cli(&["keys", "create", "--principal", "alice", "--format", "json"]);
        setup.key = serde_json::from_str::<Value>(&created).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string();
        setup
    }

    /// Runs the CLI with this config; its stdout. Fails the test on a non-zero exit.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .args(["--config", as_str(&self.config)])
            .current_dir(self.dir.path())
            .env(PROVIDER_KEY_ENV, PROVIDER_KEY)
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

    fn serve(&self) -> Served {
        Served::start(
            self.dir.path(),
            &self.config,
            &[(PROVIDER_KEY_ENV, PROVIDER_KEY)],
        )
    }
}

/// A model request on a connection of its own: its status, request id and body, or the error
/// the client saw.
async fn ask(base: &str, key: &str) -> Result<(u16, String, Value), reqwest::Error> {
    ask_model(base, key, "gpt-5").await
}

/// [`ask`] for `model`.
async fn ask_model(
    base: &str,
    key: &str,
    model: &str,
) -> Result<(u16, String, Value), reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .body(format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#
        ))
        .send()
        .await?;
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-clearance-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, id, body))
}

/// A streamed request for `model`: its status, served model and body.
async fn ask_stream(base: &str, key: &str, model: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .body(format!(
            r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"hi"}}]}}"#
        ))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let served = response
        .headers()
        .get("x-clearance-served-model")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, served, response.text().await.unwrap())
}

/// A process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn get_status(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

/// A process's resident memory (VmRSS), in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// This process's soft limit on open files.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

/// A counter or gauge from a Prometheus text page.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_are_capped_closed_and_memory_comes_back() {
    // The test holds every idle connection open (one file each), the gateway at most its cap:
    // 3000 when the soft limit allows, fewer otherwise.
    let limit = open_files_limit();
    let idle = 3000.min(limit.saturating_sub(500));
    assert!(
        idle >= 300,
        "a soft limit of {limit} open files is too low for this test"
    );
    let max_connections = idle / 3;
    let header_timeout_ms = 1000;
    let setup = Setup::new(
        None,
        &format!(
            "max_connections = {max_connections}\nheader_read_timeout_ms = {header_timeout_ms}\n\
             keep_alive_idle_ms = {header_timeout_ms}\n"
        ),
        "",
    )
    .await;
    let mut served = setup.serve();
    let pid = served.child.id();
    let base = served.base.clone();
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    // Warm up: the workers' runtimes, upstream clients and the audit writer have their
    // steady-state memory before it is measured.
    for _ in 0..100 {
        assert_eq!(ask(&base, &setup.key).await.unwrap().0, 200);
    }
    let rss_before = rss_kib(pid);

    let opened_at = Instant::now();
    let mut closers = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connected = Instant::now();
        // Each connection sends nothing and waits for the gateway to close it: how long
        // after it connected.
        closers.push(tokio::spawn(async move {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut byte)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => Some(connected.elapsed()),
                // Bytes (never expected) or still open after 15 s.
                Ok(Ok(_)) | Err(_) => None,
            }
        }));
    }
    let all_open = opened_at.elapsed();
    let rss_peak = rss_kib(pid);

    // A fresh client while the cap is full: answered, or refused at once by a closed
    // connection; never left hanging.
    let asked = Instant::now();
    let fresh = ask(&base, &setup.key).await;
    let fresh_took = asked.elapsed();
    match &fresh {
        Ok((status, _, _)) => assert_eq!(*status, 200),
        Err(e) => assert!(!e.is_timeout(), "a fresh client was left hanging: {e}"),
    }
    let fresh_outcome = match &fresh {
        Ok((status, _, _)) => format!("HTTP {status}"),
        Err(e) => format!("refused: {e}"),
    };

    let mut closed = Vec::with_capacity(idle);
    for closer in closers {
        closed.push(closer.await.unwrap());
    }
    let wave_over = opened_at.elapsed();
    let never_closed = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(never_closed, 0, "idle connections left open by the gateway");
    let closed: Vec<Duration> = closed.into_iter().flatten().collect();
    let last_closed = closed.iter().max().copied().unwrap();
    let at_once = closed
        .iter()
        .filter(|c| **c < Duration::from_millis(header_timeout_ms / 2))
        .count();
    let by_timeout = closed.len() - at_once;
    // Those past the cap are closed at once; the others after the header timeout, counted
    // from their accept (plus scheduling slack). At most the cap at once are held, but a
    // place freed by the timeout is taken again while the wave is still being opened.
    assert!(at_once > 0, "nothing was refused past the cap");
    if all_open < Duration::from_millis(header_timeout_ms) {
        assert!(
            by_timeout <= max_connections,
            "{by_timeout} connections held past a cap of {max_connections}"
        );
    }
    assert!(
        last_closed < Duration::from_millis(header_timeout_ms + 3000),
        "an idle connection was closed only after {last_closed:?}"
    );

    // Service is back for a fresh client, and the gateway's counters agree.
    let mut after = None;
    for _ in 0..50 {
        if let Ok((200, _, _)) = ask(&base, &setup.key).await {
            after = Some(());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after.is_some(), "no 200 after the idle wave");
    let page = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = metric(&page, "clearance_connections_refused_total");
    let open_now = metric(&page, "clearance_connections_open");
    // Every connection closed at once was refused by the cap (and counted).
    assert!(
        refused >= at_once as f64,
        "{refused} refusals, {at_once} closed at once"
    );
    // Settle: memory freed by the closed connections is given back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);
    println!(
        "{idle} idle connections against max_connections = {max_connections}, \
         header_read_timeout_ms = {header_timeout_ms}: opened in {} ms, all closed {} ms after the \
         first opened; {at_once} closed at once (past the cap), {by_timeout} after the header \
         timeout (the longest held {} ms); a fresh client during the wave: {fresh_outcome} in {} ms; \
         clearance_connections_refused_total {refused}, clearance_connections_open {open_now} \
         after; gateway VmRSS {rss_before} KiB before, {rss_peak} KiB with every idle \
         connection open, {rss_after} KiB after",
        all_open.as_millis(),
        wave_over.as_millis(),
        last_closed.as_millis(),
        fresh_took.as_millis(),
    );
    // Idle connections cost the gateway a few KiB each while they last, and nothing after.
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "VmRSS {rss_before} KiB before, {rss_after} KiB after"
    );
    assert!(served.stop().success());
}

/// A tmpfs mounted at a folder, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`) at `at`; `None` (with the reason printed)
    /// where that is not allowed, except under CI, where it fails the test.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        let why = match out {
            Ok(out) if out.status.success() => {
                return Some(Tmpfs {
                    at: at.to_path_buf(),
                });
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs at {} ({why}); CI runs this test as root",
            at.display()
        );
        eprintln!(
            "skipped: cannot mount a tmpfs at {} ({why}); run as root to try a full disk",
            at.display()
        );
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Writes zeros to `path` until the file system is full; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    // The last partial block, if any, in small pieces.
    while let Ok(n) = file.write(&block[..512]) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = file.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_store_gets_503s_then_service_resumes_with_nothing_lost() {
    let mount_dir = tempfile::tempdir().unwrap();
    let store_dir = mount_dir.path().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    // Declared first, so it is dropped (unmounted) after the gateway has stopped.
    let Some(_tmpfs) = Tmpfs::mount(&store_dir, "16m") else {
        return;
    };
    let setup = Setup::new(Some(&store_dir), "", "").await;
    let mut served = setup.serve();
    let base = served.base.clone();
    let mut answered: Vec<(String, u16)> = Vec::new();
    for _ in 0..5 {
        let (status, id, _) = ask(&base, &setup.key).await.unwrap();
        assert_eq!(status, 200);
        answered.push((id, status));
    }

    let filler = store_dir.join("filler");
    let filled = fill(&filler);
    // Requests until the store cannot take their records: the WAL reuses the space it
    // already has for a while.
    let started = Instant::now();
    let mut before_full = 0;
    let refusal = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no 503 within 30 s of a full disk ({before_full} requests answered 200)"
        );
        let (status, id, body) = ask(&base, &setup.key).await.unwrap();
        answered.push((id, status));
        match status {
            200 => before_full += 1,
            503 => break body,
            other => panic!("unexpected {other}: {body}"),
        }
    };
    let first_503_after = started.elapsed();
    assert_eq!(refusal["error"]["code"], "store_unavailable", "{refusal}");
    assert!(refusal["error"]["message"].is_string(), "{refusal}");
    // While the store cannot commit: /readyz 503, and every request 503 (never an
    // unrecorded 200).
    let mut ready_while_full = 0;
    for _ in 0..50 {
        ready_while_full = get_status(&format!("{base}/readyz")).await;
        if ready_while_full == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready_while_full, 503);
    let mut refused_while_full = 0;
    for _ in 0..5 {
        let (status, id, body) = ask(&base, &setup.key).await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
        answered.push((id, status));
        refused_while_full += 1;
    }

    // Space comes back: service resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let recovered_after = loop {
        assert!(
            freed.elapsed() < Duration::from_secs(15),
            "no 200 within 15 s of freeing the disk"
        );
        let (status, id, _) = ask(&base, &setup.key).await.unwrap();
        answered.push((id, status));
        if status == 200 {
            break freed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(get_status(&format!("{base}/readyz")).await, 200);
    for _ in 0..5 {
        let (status, id, _) = ask(&base, &setup.key).await.unwrap();
        assert_eq!(status, 200);
        answered.push((id, status));
    }
    assert!(served.stop().success());

    // The trail verifies, and every request any client got an answer for (200 or 503) has
    // its decision record: nothing accepted was lost.
    let verify = Command::new(BIN)
        .args(["audit", "verify", "--format", "json", "--config"])
        .arg(&setup.config)
        .current_dir(setup.dir.path())
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&stdout(&verify)).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let export = setup.cli(&["audit", "export", "--format", "jsonl"]);
    let decided: BTreeSet<String> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .filter(|r| r["phase"] != "completion")
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect();
    let missing: Vec<&(String, u16)> = answered
        .iter()
        .filter(|(id, _)| !decided.contains(id))
        .collect();
    assert!(missing.is_empty(), "answered without a record: {missing:?}");
    let refused = answered.iter().filter(|(_, s)| *s == 503).count();
    println!(
        "full disk (16 MiB tmpfs, {filled} bytes of filler): {before_full} more requests got 200 \
         before the first 503 ({} ms); /readyz {ready_while_full} while full; {refused} requests \
         answered 503 store_unavailable in all ({refused_while_full} checked in a row); 200 \
         again {} ms after the filler was deleted; {} answers, each with its decision record; \
         audit verify ok",
        first_503_after.as_millis(),
        recovered_after.as_millis(),
        answered.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_misbehaves_costs_the_gateway_bounded_memory_and_fails_over() {
    // gpt-5 gives an attempt 1.5 s (a trickle fails over after it); gpt-5-huge, which gets
    // the 10 MB answers, 15 s: the fake builds such an answer (in this test process,
    // unoptimised) before it sends its headers, which may take more than 1.5 s on a busy
    // machine.
    const ROUTE: &str = "[[models]]\nname = \"gpt-5-huge\"\nprovider = \"openlab\"\n\
                         upstream = \"gpt-5-huge\"\n\n\
                         [[routes]]\nmodel = \"gpt-5\"\nfallbacks = [\"gpt-5-backup\"]\n\
                         attempt_timeout_ms = 1500\ndeadline_ms = 20000\n\n\
                         [[routes]]\nmodel = \"gpt-5-huge\"\nfallbacks = [\"gpt-5-backup\"]\n\
                         attempt_timeout_ms = 15000\ndeadline_ms = 30000\n\n\
                         [breaker]\nconsecutive_failures = 0\nerror_rate = 2.0\n";
    let setup = Setup::new(None, "", ROUTE).await;
    let mut served = setup.serve();
    let pid = served.child.id();
    let base = served.base.clone();
    for _ in 0..20 {
        assert_eq!(ask(&base, &setup.key).await.unwrap().0, 200);
        assert_eq!(ask_stream(&base, &setup.key, "gpt-5").await.0, 200);
    }
    let peak_before = peak_rss_kib(pid);
    let faults: [(&str, clearance_fake::Behavior); 5] = [
        (
            "garbage_body",
            clearance_fake::Behavior {
                garbage_body: true,
                ..Default::default()
            },
        ),
        (
            "endless_line",
            clearance_fake::Behavior {
                endless_line: true,
                ..Default::default()
            },
        ),
        (
            "endless_lines",
            clearance_fake::Behavior {
                endless_lines: true,
                ..Default::default()
            },
        ),
        (
            "huge_event_bytes 10 MB",
            clearance_fake::Behavior {
                huge_event_bytes: Some(10 * 1000 * 1000),
                ..Default::default()
            },
        ),
        (
            "byte_interval_ms 1000",
            clearance_fake::Behavior {
                byte_interval_ms: Some(1000),
                ..Default::default()
            },
        ),
    ];
    let mut lines = Vec::new();
    let mut peaks = Vec::new();
    // Two rounds: memory bounded per request means the second costs nothing more.
    for round in 1..=2 {
        for (name, behavior) in faults.iter().cloned() {
            let (model, upstream) = if name.starts_with("huge") {
                ("gpt-5-huge", "gpt-5-huge")
            } else {
                ("gpt-5", "gpt-5-2026")
            };
            setup.fake.set_behavior(Some(upstream), behavior);
            let started = Instant::now();
            let (status, _, body) = ask_model(&base, &setup.key, model).await.unwrap();
            let whole = started.elapsed();
            assert_eq!(status, 200, "{name}: {body}");
            assert_eq!(body["model"], "gpt-5-backup", "{name}: {body}");
            let started = Instant::now();
            let (status, served_by, text) = ask_stream(&base, &setup.key, model).await;
            let streamed = started.elapsed();
            assert_eq!(status, 200, "{name}: {text}");
            // A 10 MB event comes after the stream's first event: the stream is the primary's and
            // ends with an error event; every other fault fails over before the first event.
            if name.starts_with("huge") {
                assert_eq!(served_by, "gpt-5-huge", "{name}");
                assert!(text.contains("upstream_event_too_large"), "{name}: {text}");
            } else {
                assert_eq!(served_by, "gpt-5-backup", "{name}");
                assert!(text.ends_with("data: [DONE]\n\n"), "{name}: {text}");
            }
            lines.push(format!(
            "round {round}, {name}: whole answer 200 from gpt-5-backup in {} ms; stream 200 from {served_by} in \
             {} ms; gateway VmHWM now {} KiB",
            whole.as_millis(),
            streamed.as_millis(),
            peak_rss_kib(pid)
        ));
        }
        peaks.push(peak_rss_kib(pid));
    }
    let rss_after = rss_kib(pid);
    println!(
        "{}\ngateway VmHWM {peak_before} KiB before the faults, {peaks:?} KiB after each round; \
         VmRSS after {rss_after} KiB",
        lines.join("\n")
    );
    // A request holds at most a whole answer (8 MiB, in a buffer that doubles as it fills)
    // or one event (1 MiB); each worker thread's allocator keeps what it freed for reuse.
    // Without the caps one endless line read for the 1.5 s attempt would take gigabytes.
    // VmHWM is read from counters the kernel syncs lazily, so a later reading can be a little
    // lower than an earlier one: only growth counts.
    assert!(
        peaks[0].saturating_sub(peak_before) < 96 * 1024,
        "the first round raised the peak by {} KiB",
        peaks[0].saturating_sub(peak_before)
    );
    assert!(
        peaks[1].saturating_sub(peaks[0]) < 16 * 1024,
        "the peak kept growing: {peaks:?} KiB"
    );
    assert!(served.stop().success());
}
