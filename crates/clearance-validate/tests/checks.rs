//! Every check kind, passing and failing; suites read from TOML and JSONL with every problem at
//! its line; weighted scores.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use clearance_validate::check::{judge_prompt, judge_verdict};
use clearance_validate::{
    Answer, CaseResult, Check, ClientFormat, ToolCall, Verdict, parse, score,
};
use serde_json::json;

fn answer(text: &str) -> Answer {
    Answer {
        text: text.into(),
        tool_calls: Vec::new(),
        latency_ms: 120,
    }
}

fn passes(check: &Check, a: &Answer) -> bool {
    check.evaluate(a) == Verdict::Pass
}

fn fails_saying(check: &Check, a: &Answer, words: &str) {
    match check.evaluate(a) {
        Verdict::Fail(why) => assert!(why.contains(words), "{why}"),
        other => panic!("{} should fail: {other:?}", check.kind()),
    }
}

#[test]
fn text_checks_pass_and_fail() {
    let a = answer("Refunds take 30 days.");
    assert!(passes(&Check::Contains("30 days".into()), &a));
    fails_saying(
        &Check::Contains("60 days".into()),
        &a,
        "does not contain \"60 days\"",
    );
    assert!(passes(&Check::NotContains("never".into()), &a));
    fails_saying(
        &Check::NotContains("Refunds".into()),
        &a,
        "contains \"Refunds\"",
    );
    assert!(passes(
        &Check::Regex(regex::Regex::new(r"\d+ days").unwrap()),
        &a
    ));
    fails_saying(
        &Check::Regex(regex::Regex::new(r"^\d+$").unwrap()),
        &a,
        "does not match",
    );
    assert!(passes(
        &Check::Equals("Refunds take 30 days.".into()),
        &answer("  Refunds take 30 days.\n")
    ));
    fails_saying(&Check::Equals("Refunds take 30 days".into()), &a, "is not");
}

#[test]
fn json_checks_pass_and_fail() {
    let schema = json!({"type": "object", "required": ["days"], "properties": {"days": {"type": "integer"}}});
    let good = answer("```json\n{\"days\": 30}\n```");
    assert!(passes(&Check::JsonValid, &good));
    fails_saying(&Check::JsonValid, &answer("thirty days"), "not JSON");
    assert!(passes(&Check::JsonSchema(schema.clone()), &good));
    fails_saying(
        &Check::JsonSchema(schema.clone()),
        &answer("{\"days\": \"thirty\"}"),
        "/days",
    );
    fails_saying(
        &Check::JsonSchema(schema),
        &answer("{}"),
        "the answer: schema violation at /: \"days\" is a required property",
    );
}

#[test]
fn tool_called_checks_the_name_and_the_arguments() {
    let schema = json!({"type": "object", "required": ["order_id"]});
    let with = |name: &str, arguments: serde_json::Value| Answer {
        tool_calls: vec![ToolCall {
            name: name.into(),
            arguments,
        }],
        ..answer("")
    };
    let check = Check::ToolCalled {
        name: "lookup_order".into(),
        arguments_schema: Some(schema),
    };
    assert!(passes(
        &check,
        &with("lookup_order", json!({"order_id": "A-1"}))
    ));
    fails_saying(
        &check,
        &with("lookup_order", json!({"id": "A-1"})),
        "lookup_order's arguments: schema violation at /: \"order_id\" is a required property",
    );
    fails_saying(
        &check,
        &with("send_email", json!({})),
        "lookup_order was not called (called: send_email)",
    );
    fails_saying(
        &check,
        &answer("I cannot look that up."),
        "no tool was called",
    );
}

#[test]
fn latency_similarity_and_rubric() {
    assert!(passes(&Check::MaxLatencyMs(200), &answer("x")));
    fails_saying(
        &Check::MaxLatencyMs(100),
        &answer("x"),
        "120 ms, more than 100 ms",
    );
    let similar = Check::SimilarTo {
        reference: "Refunds are issued within 30 days.".into(),
        threshold: 0.6,
    };
    assert!(passes(
        &similar,
        &answer("We issue refunds within 30 days.")
    ));
    fails_saying(&similar, &answer("Our store opens at nine."), "below 0.60");
    let rubric = Check::Rubric {
        rubric: "States the refund window".into(),
        judge: None,
    };
    assert_eq!(rubric.evaluate(&answer("30 days")), Verdict::NeedsJudge);
    let prompt = judge_prompt("States the refund window", "How long?", "30 days");
    assert!(
        prompt.contains("RUBRIC:\nStates the refund window") && prompt.contains("ANSWER:\n30 days")
    );
    assert_eq!(judge_verdict("PASS. It gives the window."), Verdict::Pass);
    assert!(matches!(judge_verdict("fail: no window"), Verdict::Fail(_)));
    assert!(
        matches!(judge_verdict("I think it is fine"), Verdict::Fail(why) if why.contains("did not start with PASS or FAIL"))
    );
}

const SUITE: &str = r#"name = "support answers"
judge = "gpt-5"

[[cases]]
id = "refund-window"
weight = 2.0
messages = [{ role = "user", content = "How long do refunds take?" }]
checks = [
  { contains = "30 days" },
  { similar_to = { reference = "Refunds take 30 days.", threshold = 0.6 } },
  { rubric = "Gives the refund window", judge = "claude" },
]

[[cases]]
id = "order-lookup"
format = "anthropic"
messages = [{ role = "user", content = "Where is order A-1?" }]
tools = [{ name = "lookup_order", input_schema = { type = "object" } }]
checks = [{ tool_called = { name = "lookup_order", arguments_schema = { type = "object", required = ["order_id"] } } }]
"#;

#[test]
fn a_toml_suite_reads_every_case_and_check() {
    let suite = parse(Path::new("support.toml"), SUITE).unwrap();
    assert_eq!(suite.name, "support answers");
    assert_eq!(suite.judge.as_deref(), Some("gpt-5"));
    assert_eq!(suite.cases.len(), 2);
    let first = &suite.cases[0];
    assert_eq!(
        (first.id.as_str(), first.weight, first.format),
        ("refund-window", 2.0, ClientFormat::Openai)
    );
    let kinds: Vec<&str> = first.checks.iter().map(Check::kind).collect();
    assert_eq!(kinds, ["contains", "similar_to", "rubric"]);
    assert!(matches!(&first.checks[2], Check::Rubric { judge: Some(j), .. } if j == "claude"));
    assert_eq!(suite.cases[1].format, ClientFormat::Anthropic);
    assert!(suite.cases[1].line > first.line);
}

#[test]
fn every_problem_in_a_suite_is_named_with_its_line() {
    let bad = r#"[[cases]]
id = "a"
messages = [{ role = "user", content = "hi" }]
checks = [{ contains = "x", regex = "y" }, { regex = "(" }]

[[cases]]
id = "a"
format = "cohere"
messages = []
weight = -1
checks = [{ similar_to = { reference = "r", threshold = 2 } }, { judge = "gpt-5" }]
"#;
    let errors = parse(Path::new("bad.toml"), bad).unwrap_err().to_string();
    for expected in [
        "bad.toml:1: case `a`: check 1: 2 checks in one table",
        "bad.toml:1: case `a`: check 2: `regex` \"(\" does not compile",
        "bad.toml:6: case `a`: a second case with this id",
        "bad.toml:6: case `a`: unknown format `cohere`",
        "bad.toml:6: case `a`: `messages` must be a non-empty list",
        "bad.toml:6: case `a`: `weight` must be a positive number",
        "threshold` must be between 0 and 1",
        "`judge` goes only with `rubric`",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    let unknown = parse(Path::new("s.toml"), "[[cases]]\nid = \"a\"\nmesages = []\n").unwrap_err();
    assert!(
        unknown
            .to_string()
            .starts_with("s.toml:3: TOML: unknown field `mesages`"),
        "{unknown}"
    );
}

#[test]
fn a_jsonl_suite_is_one_case_per_line_and_names_bad_lines() {
    let text = "{\"id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"checks\": [{\"json_valid\": true}]}\n\n\
                {\"id\": \"b\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"checks\": [{\"max_latency_ms\": 500}], \"weight\": 3}\n";
    let suite = parse(Path::new("evals/smoke.jsonl"), text).unwrap();
    assert_eq!(suite.name, "smoke");
    assert_eq!(
        suite.cases.iter().map(|c| c.line).collect::<Vec<_>>(),
        [1, 3]
    );
    let broken = "{\"id\": \"a\", \"messages\": [1], \"checks\": [{\"equals\": \"x\"}]}\n{not json\n{\"id\": \"c\", \"messages\": [1]}\n";
    let errors = parse(Path::new("b.jsonl"), broken).unwrap_err().to_string();
    assert!(errors.contains("b.jsonl:2: JSON:"), "{errors}");
    assert!(
        errors.contains("b.jsonl:3: case `c`: a case needs at least one check"),
        "{errors}"
    );
    assert!(
        parse(Path::new("s.yaml"), "")
            .unwrap_err()
            .to_string()
            .contains(".toml or a .jsonl")
    );
}

#[test]
fn the_score_is_the_weighted_share_of_cases_whose_every_check_passed() {
    let results = [
        CaseResult {
            case_id: "a".into(),
            weight: 2.0,
            verdicts: vec![("contains", Verdict::Pass), ("regex", Verdict::Pass)],
        },
        CaseResult {
            case_id: "b".into(),
            weight: 1.0,
            verdicts: vec![
                ("contains", Verdict::Pass),
                ("regex", Verdict::Fail("no".into())),
            ],
        },
        CaseResult {
            case_id: "c".into(),
            weight: 1.0,
            verdicts: vec![("rubric", Verdict::Fail("judge said no".into()))],
        },
    ];
    let s = score(&results);
    assert!((s.pass_rate - 0.5).abs() < 1e-9, "{s:?}");
    assert_eq!((s.cases, s.passed), (3, 1));
    assert_eq!(s.failures_per_check.get("regex"), Some(&1));
    assert_eq!(s.failures_per_check.get("rubric"), Some(&1));
    assert_eq!(s.failures_per_check.get("contains"), None);
}
