//! The HTML dependency report opened in a real browser: Debian's Chromium, headless, reads the
//! file from disk (no server, no network) and gives back the DOM it built and a screenshot.
//!
//! Chromium is found at `$CHROMIUM`, else `/usr/bin/chromium`; `bash scripts/chromium.sh`
//! installs it. Without it these tests fail: a report nobody has seen rendered is not tested.

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use clearance_validate::deps::{
    Access, Call, CallOutcome, DepsBuilder, DepsReport, RouteInfo, Validation, Window, render_html,
};

/// A cold start of Chromium takes about a second; a hung one must fail the test, not hold it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
const HOSTILE: &str = "<script>document.title='owned'</script>";

#[allow(
    clippy::disallowed_methods,
    reason = "a test finds its browser in the environment, as scripts/chromium.sh does"
)]
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no Chromium at {} (set CHROMIUM or run `bash scripts/chromium.sh` to install Debian's \
         chromium)",
        path.display()
    );
    path
}

/// Runs Chromium headless on `page` with `args`; its stdout, once it has exited successfully.
/// Each run has a profile of its own, so runs in parallel do not fight over one.
fn run_chromium(dir: &Path, name: &str, page: &Path, args: &[&str]) -> String {
    let out_path = dir.join(format!("{name}.stdout"));
    let started = Instant::now();
    let mut child = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("{name}.profile")).display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        // Stdout to a file: a pipe nobody reads while we wait could fill and stall the browser.
        .stdout(File::create(&out_path).unwrap())
        // Chromium's stderr is noise (D-Bus, GPU); only the exit status and stdout matter.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {name} did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(status.success(), "chromium {name} exited with {status}");
    eprintln!("chromium {name}: {:?}", started.elapsed());
    std::fs::read_to_string(out_path).unwrap()
}

struct Policy;

impl Access for Policy {
    fn may_use(&self, principal: &str, model: &str) -> bool {
        !(principal == "contractor" && model == "claude-sonnet")
    }

    fn draft_may_use(&self, _principal: &str, model: &str) -> Option<bool> {
        Some(model != "deepseek-r1")
    }
}

fn report() -> DepsReport {
    let validated = Validation {
        score: 0.9,
        bar: 0.8,
        at: Utc.with_ymd_and_hms(2025, 5, 20, 0, 0, 0).unwrap(),
        suite: "support-v3".into(),
        validated: true,
        reason: None,
    };
    let routes = [
        RouteInfo {
            primary: "gpt-4o".into(),
            fallbacks: vec![("claude-sonnet".into(), Some(validated.clone()))],
            validated_only: true,
        },
        RouteInfo {
            primary: "llama-70b".into(),
            fallbacks: vec![("claude-sonnet".into(), Some(validated))],
            validated_only: false,
        },
    ];
    let traffic: [(&str, &str, &str, usize); 6] = [
        ("support-bot", "support", "gpt-4o", 120),
        ("support-bot", "support", "claude-sonnet", 30),
        ("batch", "contractor", "llama-70b", 90),
        ("research", "alice", "deepseek-r1", 40),
        ("research", "alice", "gpt-4o", 10),
        (HOSTILE, "mallory", "gpt-4o", 5),
    ];
    let mut builder = DepsBuilder::new();
    for (app, principal, model, n) in traffic {
        for _ in 0..n {
            builder.add(&Call {
                app,
                principal,
                requested: model,
                served: Some(model),
                outcome: CallOutcome::Served,
                tokens: 400,
            });
        }
    }
    let window = Window {
        since: Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap(),
        until: Utc.with_ymd_and_hms(2025, 5, 31, 0, 0, 0).unwrap(),
        draft: Some("drafts/deepseek-ban.toml".into()),
    };
    builder.finish(&routes, &Policy, window)
}

fn write_page(dir: &Path, report: &DepsReport) -> PathBuf {
    let page = dir.join("deps.html");
    std::fs::write(&page, render_html(report)).unwrap();
    page
}

#[test]
fn chromium_builds_a_bar_per_app_a_row_per_dependency_and_marks_the_spof() {
    let dir = tempfile::tempdir().unwrap();
    let report = report();
    let page = write_page(dir.path(), &report);
    let dom = run_chromium(dir.path(), "dump-dom", &page, &["--dump-dom"]);

    assert!(dom.contains("data-testid=\"deps-report\""), "{dom}");
    let bars = dom.matches("data-testid=\"app-bar\"").count();
    assert_eq!(bars, report.apps.len(), "one SVG bar per app");
    assert!(
        dom.contains("<svg class=\"chart\""),
        "the chart is parsed as SVG"
    );
    let rows: usize = report.apps.iter().map(|a| a.rows.len()).sum();
    assert_eq!(dom.matches("data-testid=\"dep-row\"").count(), rows);
    for app in ["support-bot", "batch", "research"] {
        assert!(dom.contains(&format!("data-app=\"{app}\"")), "{app}");
    }

    // support-bot/claude-sonnet (no route), batch (its fallback forbidden to the contractor),
    // research/deepseek-r1 (no route): the rows the report flags.
    let spof = report.summary.single_points_of_failure;
    assert_eq!(spof, 3);
    assert_eq!(dom.matches("data-testid=\"spof-marker\"").count(), spof);
    assert_eq!(dom.matches("data-spof=\"true\"").count(), spof);
    assert_eq!(
        dom.matches("data-testid=\"loses-primary-marker\"").count(),
        1
    );

    // The hostile key name is text in the browser's DOM, never an element.
    assert!(
        !dom.contains("<script"),
        "a key name became a script element"
    );
    assert!(dom.contains("&lt;script&gt;document.title='owned'&lt;/script&gt;"));
    assert!(dom.contains("<title>Model dependencies</title>"));
}

#[test]
fn chromium_screenshots_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path(), &report());
    let png = dir.path().join("deps.png");
    run_chromium(
        dir.path(),
        "screenshot",
        &page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,800",
        ],
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // IHDR, the first chunk: width and height, big-endian, after its length and type.
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 800));
    // A blank 1200x800 page compresses to a few KB; text, bars and a table do not.
    assert!(bytes.len() > 30_000, "{} bytes", bytes.len());
}
