//! The dependency report of `clearance deps`: counts per app, principal and model; fallbacks
//! with their validation and whether the caller may use them; single points of failure; what a
//! draft directive takes away; and the text, Markdown, JSON and HTML renderings.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use clearance_validate::deps::{
    Access, Call, CallOutcome, DepsBuilder, DepsReport, RouteInfo, Validation, Window, render_html,
    render_markdown, render_text, to_json,
};
use serde_json::{Value, json};

const HOSTILE: &str = "<script>alert(\"x\")</script>";

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, day, 0, 0, 0).unwrap()
}

fn validation(score: f64, validated: bool) -> Validation {
    Validation {
        score,
        bar: 0.8,
        at: at(20),
        suite: "support-v3".into(),
        validated,
        reason: (!validated).then(|| format!("score {score:.2} below the bar 0.80")),
    }
}

/// gpt-4o falls back to claude-sonnet (validated) then mistral-large (failed); claude-sonnet to
/// gpt-4o (never tested); llama-70b to claude-sonnet (validated); deepseek-r1 has no route.
fn routes() -> Vec<RouteInfo> {
    let route = |primary: &str, fallbacks: Vec<(&str, Option<Validation>)>| RouteInfo {
        primary: primary.into(),
        fallbacks: fallbacks
            .into_iter()
            .map(|(m, v)| (m.to_string(), v))
            .collect(),
        validated_only: primary == "gpt-4o",
    };
    vec![
        route(
            "gpt-4o",
            vec![
                ("claude-sonnet", Some(validation(0.91, true))),
                ("mistral-large", Some(validation(0.62, false))),
            ],
        ),
        route("claude-sonnet", vec![("gpt-4o", None)]),
        route(
            "llama-70b",
            vec![("claude-sonnet", Some(validation(0.88, true)))],
        ),
    ]
}

/// Today: the contractor may not use claude-sonnet. The draft also takes deepseek-r1 from
/// everyone and gpt-4o from `support`.
struct Policy {
    draft: bool,
}

impl Access for Policy {
    fn may_use(&self, principal: &str, model: &str) -> bool {
        !(principal == "contractor" && model == "claude-sonnet")
    }

    fn draft_may_use(&self, principal: &str, model: &str) -> Option<bool> {
        self.draft.then(|| {
            self.may_use(principal, model)
                && model != "deepseek-r1"
                && !(principal == "support" && model == "gpt-4o")
        })
    }
}

fn call<'a>(
    app: &'a str,
    principal: &'a str,
    requested: &'a str,
    served: Option<&'a str>,
    outcome: CallOutcome,
    tokens: u64,
) -> Call<'a> {
    Call {
        app,
        principal,
        requested,
        served,
        outcome,
        tokens,
    }
}

/// support-bot: 8 requests (support on gpt-4o and claude-sonnet, agent on gpt-4o);
/// batch: 4 (contractor on llama-70b); research: 3 (alice on deepseek-r1); the hostile name: 1.
fn calls() -> Vec<Call<'static>> {
    use CallOutcome::*;
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(call(
            "support-bot",
            "support",
            "gpt-4o",
            Some("gpt-4o"),
            Served,
            100,
        ));
    }
    calls.push(call(
        "support-bot",
        "support",
        "gpt-4o",
        Some("claude-sonnet"),
        FellBack,
        120,
    ));
    calls.push(call(
        "support-bot",
        "agent",
        "gpt-4o",
        Some("gpt-4o"),
        Served,
        50,
    ));
    calls.push(call(
        "support-bot",
        "support",
        "claude-sonnet",
        Some("claude-sonnet"),
        Served,
        80,
    ));
    calls.push(call(
        "support-bot",
        "support",
        "claude-sonnet",
        None,
        Failed,
        0,
    ));
    for _ in 0..3 {
        calls.push(call(
            "batch",
            "contractor",
            "llama-70b",
            Some("llama-70b"),
            Served,
            1000,
        ));
    }
    calls.push(call("batch", "contractor", "llama-70b", None, Denied, 0));
    calls.push(call(
        "research",
        "alice",
        "deepseek-r1",
        Some("deepseek-r1"),
        Served,
        300,
    ));
    calls.push(call(
        "research",
        "alice",
        "deepseek-r1",
        Some("deepseek-r1"),
        Served,
        300,
    ));
    calls.push(call(
        "research",
        "alice",
        "deepseek-r1",
        Some("gpt-4o"),
        Rerouted,
        200,
    ));
    calls.push(call(
        HOSTILE,
        "mallory\"",
        "gpt-4o",
        Some("gpt-4o"),
        Served,
        10,
    ));
    calls
}

fn window(draft: bool) -> Window {
    Window {
        since: at(1),
        until: at(31),
        draft: draft.then(|| "drafts/deepseek-ban.toml".to_string()),
    }
}

fn report_of(calls: &[Call<'_>], draft: bool) -> DepsReport {
    let mut builder = DepsBuilder::new();
    for c in calls {
        builder.add(c);
    }
    builder.finish(&routes(), &Policy { draft }, window(draft))
}

fn report(draft: bool) -> DepsReport {
    report_of(&calls(), draft)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn app<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == name)
        .unwrap()
}

fn row<'a>(json: &'a Value, app_name: &str, principal: &str, model: &str) -> &'a Value {
    app(json, app_name)["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["principal"] == principal && r["model"] == model)
        .unwrap()
}

#[test]
fn json_names_every_field_deliberately() {
    let json = to_json(&report(true));
    assert_eq!(keys(&json), ["window", "summary", "apps"]);
    assert_eq!(
        json["window"],
        json!({"since": "2025-05-01T00:00:00Z", "until": "2025-05-31T00:00:00Z",
               "draft": "drafts/deepseek-ban.toml"})
    );
    assert_eq!(
        json["summary"],
        json!({
            "apps": 4, "rows": 6, "requests": 16, "tokens": 4460,
            "single_points_of_failure": 3,
            "apps_with_single_point_of_failure": 3,
            "rows_losing_primary": 2,
            "apps_losing_primary": 2,
        })
    );
    let support = app(&json, "support-bot");
    assert_eq!(
        keys(support),
        [
            "app",
            "requests",
            "share",
            "tokens",
            "principals",
            "single_points_of_failure",
            "rows_losing_primary",
            "models",
            "rows"
        ]
    );
    assert_eq!(support["requests"], 8);
    assert_eq!(support["share"], 0.5);
    assert_eq!(support["tokens"], 650);
    assert_eq!(support["principals"], 2);
    assert_eq!(support["single_points_of_failure"], 1);
    assert_eq!(support["rows_losing_primary"], 1);
    assert_eq!(
        support["models"],
        json!([{"model": "gpt-4o", "requests": 6}, {"model": "claude-sonnet", "requests": 2}])
    );
}

#[test]
fn a_row_with_a_validated_fallback_the_draft_still_permits() {
    let json = to_json(&report(true));
    assert_eq!(
        *row(&json, "support-bot", "support", "gpt-4o"),
        json!({
            "principal": "support",
            "model": "gpt-4o",
            "requests": 5,
            "share": 0.625,
            "tokens": 520,
            "served": [{"model": "gpt-4o", "requests": 4}, {"model": "claude-sonnet", "requests": 1}],
            "fell_back": 1,
            "rerouted": 0,
            "denied": 0,
            "failed": 0,
            "route": {
                "configured": true,
                "validated_only": true,
                "fallbacks": [
                    {
                        "model": "claude-sonnet",
                        "status": "validated",
                        "permitted": true,
                        "draft_permitted": true,
                        "validation": {
                            "score": 0.91, "bar": 0.8, "at": "2025-05-20T00:00:00Z",
                            "suite": "support-v3", "validated": true, "reason": null
                        }
                    },
                    {
                        "model": "mistral-large",
                        "status": "failed",
                        "permitted": true,
                        "draft_permitted": true,
                        "validation": {
                            "score": 0.62, "bar": 0.8, "at": "2025-05-20T00:00:00Z",
                            "suite": "support-v3", "validated": false,
                            "reason": "score 0.62 below the bar 0.80"
                        }
                    }
                ]
            },
            "validated_fallback": "claude-sonnet",
            "single_point_of_failure": false,
            "loses_primary": true,
            "draft_fallback": "claude-sonnet"
        })
    );
}

#[test]
fn an_untested_fallback_leaves_a_single_point_of_failure() {
    let json = to_json(&report(true));
    let r = row(&json, "support-bot", "support", "claude-sonnet");
    assert_eq!(r["failed"], 1);
    assert_eq!(
        r["served"],
        json!([{"model": "claude-sonnet", "requests": 1}])
    );
    assert_eq!(
        r["route"]["fallbacks"],
        json!([{"model": "gpt-4o", "status": "untested", "permitted": true,
                "draft_permitted": false, "validation": null}])
    );
    assert_eq!(r["validated_fallback"], Value::Null);
    assert_eq!(r["single_point_of_failure"], true);
    assert_eq!(r["loses_primary"], false);
}

#[test]
fn a_validated_fallback_the_principal_may_not_use_is_no_fallback() {
    let json = to_json(&report(true));
    let r = row(&json, "batch", "contractor", "llama-70b");
    assert_eq!(r["denied"], 1);
    assert_eq!(r["route"]["fallbacks"][0]["status"], "validated");
    assert_eq!(r["route"]["fallbacks"][0]["permitted"], false);
    assert_eq!(r["single_point_of_failure"], true);
    assert_eq!(r["draft_fallback"], Value::Null);
}

#[test]
fn a_model_without_a_route_that_the_draft_forbids_loses_its_primary_with_no_way_out() {
    let json = to_json(&report(true));
    let r = row(&json, "research", "alice", "deepseek-r1");
    assert_eq!(r["rerouted"], 1);
    assert_eq!(
        r["route"],
        json!({"configured": false, "validated_only": false, "fallbacks": []})
    );
    assert_eq!(r["single_point_of_failure"], true);
    assert_eq!(r["loses_primary"], true);
    assert_eq!(r["draft_fallback"], Value::Null);
}

#[test]
fn without_a_draft_the_draft_fields_are_null() {
    let json = to_json(&report(false));
    assert_eq!(json["window"]["draft"], Value::Null);
    assert_eq!(json["summary"]["rows_losing_primary"], Value::Null);
    assert_eq!(json["summary"]["apps_losing_primary"], Value::Null);
    let r = row(&json, "support-bot", "support", "gpt-4o");
    assert_eq!(r["loses_primary"], Value::Null);
    assert_eq!(r["draft_fallback"], Value::Null);
    assert_eq!(r["route"]["fallbacks"][0]["draft_permitted"], Value::Null);
    assert_eq!(app(&json, "batch")["rows_losing_primary"], Value::Null);
}

#[test]
fn apps_are_ordered_by_requests_then_name_and_rows_by_requests() {
    let json = to_json(&report(true));
    let apps: Vec<&str> = json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["support-bot", "batch", "research", HOSTILE]);
    let rows: Vec<(&str, &str)> = app(&json, "support-bot")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["principal"].as_str().unwrap(),
                r["model"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("support", "gpt-4o"),
            ("support", "claude-sonnet"),
            ("agent", "gpt-4o")
        ]
    );
}

#[test]
fn the_same_calls_in_any_order_give_the_same_report() {
    let forward = calls();
    let mut backward = forward.clone();
    backward.reverse();
    // Odd places first, then even ones: a third order unlike either.
    let interleaved: Vec<Call<'_>> = forward
        .iter()
        .skip(1)
        .step_by(2)
        .chain(forward.iter().step_by(2))
        .copied()
        .collect();
    let a = report_of(&forward, true);
    for other in [&backward, &interleaved] {
        let b = report_of(other, true);
        assert_eq!(to_json(&a), to_json(&b));
        assert_eq!(render_text(&a), render_text(&b));
        assert_eq!(render_markdown(&a), render_markdown(&b));
        assert_eq!(render_html(&a), render_html(&b));
    }
}

#[test]
fn text_is_an_aligned_table_with_spof_rows_marked() {
    let text = render_text(&report(true));
    let expected = r#"Model dependencies, 2025-05-01 00:00 UTC to 2025-05-31 00:00 UTC, draft drafts/deepseek-ban.toml
4 apps, 6 rows, 16 requests, 4,460 tokens
3 single points of failure in 3 apps
Under the draft, 2 apps lose their primary (2 rows)

      APP                          PRINCIPAL   MODEL          REQUESTS   SHARE  FELL BACK  DENIED  FAILED  TOKENS  SERVED BY                  FALLBACKS                                                                           DRAFT
      support-bot                  support     gpt-4o                5   62.5%          1       0       0     520  gpt-4o 4, claude-sonnet 1  claude-sonnet validated 0.91 2025-05-20; mistral-large failed 0.62<0.80 2025-05-20  loses primary, falls back to claude-sonnet
SPOF  support-bot                  support     claude-sonnet         2   25.0%          0       0       1      80  claude-sonnet 1            gpt-4o untested (draft forbids)
      support-bot                  agent       gpt-4o                1   12.5%          0       0       0      50  gpt-4o 1                   claude-sonnet validated 0.91 2025-05-20; mistral-large failed 0.62<0.80 2025-05-20
SPOF  batch                        contractor  llama-70b             4  100.0%          0       1       0   3,000  llama-70b 3                claude-sonnet validated 0.88 2025-05-20 (not permitted)
SPOF  research                     alice       deepseek-r1           3  100.0%          0       0       0     800  deepseek-r1 2, gpt-4o 1    no route                                                                            loses primary, no validated fallback
      <script>alert("x")</script>  mallory"    gpt-4o                1  100.0%          0       0       0      10  gpt-4o 1                   claude-sonnet validated 0.91 2025-05-20; mistral-large failed 0.62<0.80 2025-05-20

SPOF: single point of failure, no fallback both validated and permitted for this principal.
"#;
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn text_escapes_control_characters_in_names() {
    let calls = [call(
        "evil\u{1b}[2J",
        "p",
        "gpt-4o",
        Some("gpt-4o"),
        CallOutcome::Served,
        1,
    )];
    let text = render_text(&report_of(&calls, false));
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("evil\\u{1b}[2J"), "{text}");
}

#[test]
fn markdown_is_a_table_with_names_escaped() {
    let md = render_markdown(&report(true));
    assert!(
        md.starts_with(
            "# Model dependencies\n\n2025-05-01 00:00 UTC to 2025-05-31 00:00 UTC, draft \
             drafts/deepseek-ban.toml\n\n- 4 apps, 6 rows, 16 requests, 4,460 tokens\n"
        ),
        "{md}"
    );
    assert!(
        md.contains("- 3 single points of failure in 3 apps\n"),
        "{md}"
    );
    assert!(md.contains(
        "| **SPOF** | research | alice | deepseek-r1 | 3 | 100.0% | 0 | 0 | 0 | 800 | \
         deepseek-r1 2, gpt-4o 1 | no route | **loses primary, no validated fallback** |\n"
    ));
    assert!(md.contains(
        "|  | \\<script\\>alert(\"x\")\\</script\\> | mallory\" | gpt-4o | 1 | 100.0% |"
    ));
    assert!(!md.contains("<script>"));
    // Header, rule and one line per row, all with the same number of cells.
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + 6);
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    assert!(table.iter().all(|l| cells(l) == cells(table[0])));
}

#[test]
fn html_escapes_every_name_from_the_data() {
    let html = render_html(&report(true));
    assert!(!html.contains("<script"), "a key name became markup");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(html.contains("data-app=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\""));
    assert!(html.contains("<td class=\"principal\">mallory&quot;</td>"));
}

#[test]
fn html_is_self_contained() {
    let html = render_html(&report(true));
    for external in [
        "http://", "https://", "<link", "<img", "<script", "@import", "url(http",
    ] {
        let found = html
            .match_indices(external)
            .map(|(i, _)| &html[i.saturating_sub(20)..(i + 40).min(html.len())])
            .filter(|around| !around.contains("xmlns=\"http://www.w3.org/2000/svg\""))
            .collect::<Vec<_>>();
        assert!(found.is_empty(), "{external}: {found:?}");
    }
}

#[test]
fn html_has_a_bar_per_app_and_marks_spof_and_lost_primaries() {
    let html = render_html(&report(true));
    assert_eq!(html.matches("data-testid=\"app-bar\"").count(), 4);
    assert_eq!(html.matches("data-testid=\"dep-row\"").count(), 6);
    assert_eq!(html.matches("data-testid=\"spof-marker\"").count(), 3);
    assert_eq!(
        html.matches("data-testid=\"loses-primary-marker\"").count(),
        2
    );
    assert!(html.contains("data-testid=\"legend\""));
    assert!(html.contains("fill=\"url(#hatch)\""));
}

/// A month of a busy gateway: a million requests over 40 apps, 400 principals and 6 models.
#[test]
fn a_million_calls_are_counted_well_under_a_second() {
    let apps: Vec<String> = (0..40).map(|i| format!("app-{i}")).collect();
    let principals: Vec<String> = (0..400)
        .map(|i| format!("principal-{i}@example.com"))
        .collect();
    let models = [
        "gpt-4o",
        "claude-sonnet",
        "llama-70b",
        "deepseek-r1",
        "mistral-large",
        "o3",
    ];
    let calls: Vec<Call<'_>> = (0..1_000_000usize)
        .map(|i| {
            let model = models[i % models.len()];
            call(
                &apps[i % apps.len()],
                &principals[(i / 7) % principals.len()],
                model,
                Some(model),
                CallOutcome::Served,
                500,
            )
        })
        .collect();
    let started = Instant::now();
    let mut builder = DepsBuilder::new();
    for c in &calls {
        builder.add(c);
    }
    let counted = started.elapsed();
    let report = builder.finish(&routes(), &Policy { draft: true }, window(true));
    assert_eq!(report.summary.requests, 1_000_000);
    // The bound is for the CLI's build (release: about 60 ms here). Unoptimised test builds
    // run hashing some 20 times slower (about 1.1 s here): their bound only catches a count
    // that stopped being constant-time per call.
    let bound_ms = if cfg!(debug_assertions) { 5000 } else { 500 };
    eprintln!("1,000,000 adds: {counted:?}");
    assert!(counted.as_millis() < bound_ms, "{counted:?}");
}
