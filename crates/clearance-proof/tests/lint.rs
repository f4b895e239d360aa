//! The linter: dead, shadowed, duplicate and erroring directives, and a caller denied every
//! model, each with the caller that shows it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use clearance_policy::SourceFile;
use clearance_proof::lint;
use clearance_proof::lint::{Finding, LintReport};
use common::*;

async fn linted(sources: &[SourceFile]) -> LintReport {
    let mut prover = prover();
    let report = lint(&mut prover, &book(sources), from_story_day())
        .await
        .unwrap();
    assert_all_reproduced(&report.not_reproduced);
    report
}

fn deny(id: &str, models: &str, condition: &str) -> SourceFile {
    directive(
        id,
        "enforce",
        &format!("models = [{models}]\nwhen = '{condition}'\neffect = \"deny\""),
    )
}

const STORY_MODELS: &str = "\"fable-5\", \"mythos-5\"";

#[tokio::test]
async fn the_story_directive_alone_is_clean() {
    let report = linted(&[story("!principal.us_person")]).await;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        report.summary(),
        format!(
            "0 findings in 1 directive ({})",
            from_story_day().describe()
        )
    );
}

#[tokio::test]
async fn a_directive_no_caller_can_meet_is_dead() {
    let report = linted(&[
        story("!principal.us_person"),
        // A US citizen is always a US person: this can never fire.
        deny(
            "IMPOSSIBLE",
            STORY_MODELS,
            "principal.us_citizen && !principal.us_person",
        ),
        // Expired before the window under study.
        directive(
            "EXPIRED",
            "enforce",
            "models = [\"gpt-5\"]\nexpires = \"2026-06-16T00:00:00Z\"\neffect = \"deny\"",
        ),
    ])
    .await;
    let dead: Vec<(&str, &str)> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Dead { directive, why } => Some((directive.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(dead.len(), 1, "{:?}", report.findings);
    assert_eq!(dead[0].0, "IMPOSSIBLE");
    assert!(dead[0].1.contains("no caller satisfies"), "{}", dead[0].1);
    // EXPIRED is live from the story's day until 2026-06-16: not dead in this window...
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.describe().starts_with("EXPIRED"))
    );
    // ...but dead from a week later.
    let mut prover = prover();
    let later = clearance_proof::Window {
        from: at("2026-06-22T00:00:00Z"),
        until: None,
    };
    let expired = directive(
        "EXPIRED",
        "enforce",
        "models = [\"gpt-5\"]\nexpires = \"2026-06-16T00:00:00Z\"\neffect = \"deny\"",
    );
    let report = lint(&mut prover, &book(&[expired]), later).await.unwrap();
    let [Finding::Dead { why, .. }] = report.findings.as_slice() else {
        panic!("{:?}", report.findings)
    };
    assert!(why.contains("expired"), "{why}");
}

#[tokio::test]
async fn shadowed_and_duplicate_directives_are_found() {
    let report = linted(&[
        story("!principal.us_person"),
        deny("CN-FABLE", "\"fable-5\"", "!principal.us_person && context.country == \"CN\""),
        deny(
            "SPELT-OUT",
            STORY_MODELS,
            "!(principal.citizenships.contains(\"US\") || principal.permanent_residency.contains(\"US\") || principal.protected_individual)",
        ),
        // Same condition, different effect: not a duplicate.
        directive(
            "REROUTE",
            "shadow",
            "models = [\"fable-5\"]\nwhen = '!principal.us_person'\nreroute = \"open-model\"",
        ),
    ])
    .await;
    let shadowed: Vec<(&str, &str)> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Shadowed { directive, by, .. } => Some((directive.as_str(), by.as_str())),
            _ => None,
        })
        .collect();
    assert!(
        shadowed.contains(&("CN-FABLE", "EXD-2026-06")),
        "{:?}",
        report.findings
    );
    let duplicates: Vec<(&str, &str)> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Duplicate { directive, of, .. } => Some((directive.as_str(), of.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        duplicates,
        [("SPELT-OUT", "EXD-2026-06")],
        "{:?}",
        report.findings
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.describe().starts_with("REROUTE")),
        "{:?}",
        report.findings
    );
    // The example shows a caller both fire for, replayed through decide.
    let example = report.findings.iter().find_map(|f| match f {
        Finding::Shadowed {
            directive, example, ..
        } if directive == "CN-FABLE" => example.clone(),
        _ => None,
    });
    let example = example.unwrap();
    assert_eq!(example.caller["context"]["country"], "CN");
    assert_eq!(example.new, "denied (451)");
}

#[tokio::test]
async fn a_condition_that_can_overflow_is_found_with_the_request_that_overflows() {
    let report = linted(&[deny(
        "LONG-ANSWERS",
        "\"gpt-5\"",
        "context.max_tokens + 1000 > 100000 && !principal.employee",
    )])
    .await;
    let example = report
        .findings
        .iter()
        .find_map(|f| match f {
            Finding::CanError { directive, example } if directive == "LONG-ANSWERS" => {
                Some(example)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    // The overflow needs a huge max_tokens (or none: no limit reads as the largest Long).
    assert!(example.caller["context"]["max_tokens"].as_i64().unwrap() > i64::MAX - 1000);
    // Cedar evaluates `&&` left to right: the sum errors before `employee` is read, so the
    // error denies employees too.
    assert_eq!(
        example.new, "denied (451)",
        "an error denies: {}",
        example.described
    );
}

#[tokio::test]
async fn a_caller_denied_every_model_is_named() {
    let everywhere = SourceFile {
        path: PathBuf::from("nk.cedar"),
        text: "@id(\"NK\")\n@title(\"No access for KP nationals\")\n@authority(\"test\")\n@mode(\"enforce\")\n\
               forbid (principal, action == Action::\"invoke\", resource)\n\
               when { principal.citizenships.contains(\"KP\") };\n"
            .into(),
    };
    let report = linted(&[everywhere.clone(), story("!principal.us_person")]).await;
    let example = report
        .findings
        .iter()
        .find_map(|f| match f {
            Finding::DeniedEverything { example } => Some(example),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    assert!(
        example.caller["principal"]["citizenships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "KP")
    );
    // Without a directive on every model, nobody is denied everything.
    let report = linted(&[story("!principal.us_person")]).await;
    assert!(
        !report
            .findings
            .iter()
            .any(|f| matches!(f, Finding::DeniedEverything { .. }))
    );
}
