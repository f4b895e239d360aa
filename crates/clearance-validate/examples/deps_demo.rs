//! A realistic `clearance deps --format html` report, for looking at and for the screenshot in
//! `docs/img/deps.png`: six apps over a month, one of them a single point of failure
//! (invoice-ocr: its only fallback was never tested), one losing its primary under a draft
//! directive (code-assist: the draft forbids qwen-2.5-coder; a validated fallback remains).
//!
//! ```text
//! cargo run -p clearance-validate --example deps_demo -- target/deps.html docs/img/deps.png
//! ```
//!
//! writes the HTML and, when a PNG path is given, has headless Chromium (`$CHROMIUM`, else
//! `chromium`; `bash scripts/chromium.sh` installs it) take the screenshot.

use std::process::{Command, ExitCode};

use chrono::{DateTime, TimeZone, Utc};
use clearance_validate::deps::{
    Access, Call, CallOutcome, DepsBuilder, DepsReport, RouteInfo, Validation, Window, render_html,
};

/// Tall enough for the summary, the chart and the whole table.
const SCREENSHOT_SIZE: &str = "--window-size=1200,1080";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(html_path) = args.first() else {
        eprintln!("usage: deps_demo OUT.html [OUT.png]");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::write(html_path, render_html(&demo_report())) {
        eprintln!("cannot write {html_path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("wrote {html_path}");
    match args.get(1) {
        Some(png) => screenshot(html_path, png),
        None => ExitCode::SUCCESS,
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "an example finds its browser in the environment, as scripts/chromium.sh does"
)]
fn screenshot(html_path: &str, png: &str) -> ExitCode {
    let page = match std::fs::canonicalize(html_path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{html_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let status = Command::new(&chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            SCREENSHOT_SIZE,
        ])
        .arg(format!("--screenshot={png}"))
        .arg(format!("file://{}", page.display()))
        .status();
    match status {
        Ok(s) if s.success() => {
            println!("wrote {png}");
            ExitCode::SUCCESS
        }
        Ok(s) => {
            eprintln!("{chromium} exited with {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot run {chromium} ({e}): bash scripts/chromium.sh installs it");
            ExitCode::FAILURE
        }
    }
}

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, d, 9, 30, 0)
        .single()
        .expect("a valid date")
}

fn validation(score: f64, at: u32, suite: &str) -> Option<Validation> {
    let validated = score >= 0.8;
    Some(Validation {
        score,
        bar: 0.8,
        at: day(at),
        suite: suite.into(),
        validated,
        reason: (!validated).then(|| format!("score {score:.2} below the bar 0.80")),
    })
}

fn routes() -> Vec<RouteInfo> {
    let route = |primary: &str, fallbacks: Vec<(&str, Option<Validation>)>| RouteInfo {
        primary: primary.into(),
        fallbacks: fallbacks.into_iter().map(|(m, v)| (m.into(), v)).collect(),
        validated_only: true,
    };
    vec![
        route(
            "gpt-4o",
            vec![
                ("claude-sonnet-4", validation(0.92, 12, "support-v3")),
                ("mistral-large", validation(0.71, 12, "support-v3")),
            ],
        ),
        route(
            "qwen-2.5-coder",
            vec![("claude-sonnet-4", validation(0.87, 9, "code-review-v2"))],
        ),
        route(
            "llama-3.3-70b",
            vec![("gpt-4o-mini", validation(0.84, 15, "summaries-v1"))],
        ),
        route("gemini-2.5-pro", vec![("gpt-4o", None)]),
        route(
            "claude-sonnet-4",
            vec![("gpt-4o", validation(0.89, 3, "contracts-v5"))],
        ),
        route(
            "gpt-4o-mini",
            vec![("llama-3.3-70b", validation(0.81, 15, "summaries-v1"))],
        ),
    ]
}

/// Today every principal may use every model; the draft forbids qwen-2.5-coder.
struct Policy;

impl Access for Policy {
    fn may_use(&self, _principal: &str, _model: &str) -> bool {
        true
    }

    fn draft_may_use(&self, _principal: &str, model: &str) -> Option<bool> {
        Some(model != "qwen-2.5-coder")
    }
}

/// (app, principal, requested model, requests, one in how many fell back).
const TRAFFIC: [(&str, &str, &str, u32, u32); 9] = [
    ("support-bot", "support-eu", "gpt-4o", 27_140, 90),
    ("support-bot", "support-us", "gpt-4o", 17_905, 90),
    ("support-bot", "support-us", "gpt-4o-mini", 3_165, 200),
    ("code-assist", "engineering", "qwen-2.5-coder", 24_310, 60),
    ("code-assist", "engineering", "claude-sonnet-4", 7_244, 150),
    (
        "search-summaries",
        "search-svc",
        "llama-3.3-70b",
        22_010,
        40,
    ),
    ("invoice-ocr", "finance-ops", "gemini-2.5-pro", 9_420, 0),
    ("contract-review", "legal", "claude-sonnet-4", 6_112, 120),
    (
        "(token) login.example.com",
        "j.doe@example.com",
        "gpt-4o-mini",
        1_980,
        0,
    ),
];

fn demo_report() -> DepsReport {
    let routes = routes();
    let mut builder = DepsBuilder::new();
    for (app, principal, model, requests, fall_back_every) in TRAFFIC {
        let fallback = routes
            .iter()
            .find(|r| r.primary == model)
            .and_then(|r| r.fallbacks.first())
            .map(|(m, _)| m.as_str());
        for i in 0..requests {
            let fell_back = fall_back_every > 0 && i % fall_back_every == 0;
            let (served, outcome) = match fallback {
                Some(to) if fell_back => (Some(to), CallOutcome::FellBack),
                _ => (Some(model), CallOutcome::Served),
            };
            builder.add(&Call {
                app,
                principal,
                requested: model,
                served,
                outcome,
                tokens: 600 + u64::from(i % 900),
            });
        }
    }
    let window = Window {
        since: day(1),
        until: day(30),
        draft: Some("drafts/prc-models.toml".into()),
    };
    builder.finish(&routes, &Policy, window)
}
