//! The story at the engine level: who each wording cuts, shadow vs enforce, windows to the
//! second, reroutes, missing facts, raw Cedar, and the set-level checks.

#![allow(clippy::unwrap_used)]

mod common;

use clearance_core::facts::Capability;
use clearance_policy::{Decision, Outcome, PolicyBook, Query};
use common::*;

/// `who`, from the story's registry, asks for `model` from `country` using `capabilities`.
fn decide(
    book: &PolicyBook,
    who: &str,
    country: Option<&str>,
    capabilities: &[Capability],
    model: &str,
    at_time: &str,
) -> Decision {
    let people = story();
    let p = people.iter().find(|p| p.id.as_str() == who).unwrap();
    let facts = facts_of(p, country, capabilities);
    book.decide(&Query {
        principal_id: who,
        facts: &facts,
        model,
        at: at(at_time),
    })
}

fn outcome_for(book: &PolicyBook, who: &str, model: &str, at_time: &str) -> Outcome {
    decide(book, who, Some("US"), &[], model, at_time).outcome
}

fn denied(book: &PolicyBook, model: &str) -> Vec<String> {
    story()
        .iter()
        .filter(|p| {
            outcome_for(book, p.id.as_str(), model, "2026-07-01T00:00:00Z") == Outcome::Deny
        })
        .map(|p| p.id.to_string())
        .collect()
}

#[test]
fn not_a_us_person_wording_cuts_foreign_nationals_wherever_they_are() {
    let book = book(&[directive(
        "EXD-2026-06",
        "mode = \"enforce\"\nmodels = [\"fable-5\", \"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
    )]);
    // US citizen abroad, dual national, green-card holder and refugee keep access; the Swede
    // inside the US, the person with no facts and the foreign nationals abroad lose it.
    assert_eq!(
        denied(&book, "mythos-5"),
        ["bjorn", "ghost", "li", "olga", "hans"]
    );
    assert!(
        denied(&book, "gpt-5").is_empty(),
        "models outside the directive are untouched"
    );
}

#[test]
fn not_a_us_citizen_wording_also_cuts_green_card_holders_and_refugees() {
    let book = book(&[directive(
        "EXD-CIT",
        "mode = \"enforce\"\ntags = [\"controlled\"]\nwhen = \"!principal.us_citizen\"\neffect = \"deny\"",
    )]);
    assert_eq!(
        denied(&book, "fable-5"),
        ["bjorn", "dev", "farah", "ghost", "li", "olga", "hans"]
    );
}

#[test]
fn a_person_with_no_facts_is_denied_and_the_decision_names_the_missing_facts() {
    let book = book(&[directive(
        "EXD",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
    )]);
    let decision = decide(
        &book,
        "ghost",
        None,
        &[],
        "mythos-5",
        "2026-07-01T00:00:00Z",
    );
    assert_eq!(decision.outcome, Outcome::Deny);
    assert_eq!(decision.missing_facts, ["citizenships"]);
    assert_eq!(
        decision.facts_read,
        ["context.now", "model", "principal.us_person"]
    );
}

#[test]
fn a_condition_that_misses_because_facts_are_unknown_still_says_so() {
    let book = book(&[directive(
        "D5",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = 'principal.citizenships.containsAny([\"CN\", \"RU\"]) || context.country == \"CN\"'\neffect = \"deny\"",
    )]);
    let decision = decide(
        &book,
        "ghost",
        None,
        &[],
        "mythos-5",
        "2026-07-01T00:00:00Z",
    );
    assert_eq!(decision.outcome, Outcome::Allow);
    assert_eq!(decision.missing_facts, ["citizenships", "request_country"]);
}

#[test]
fn shadow_directives_never_change_the_outcome_but_are_recorded() {
    let book = book(&[directive(
        "EXD-SHADOW",
        "mode = \"shadow\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
    )]);
    let decision = decide(
        &book,
        "bjorn",
        Some("US"),
        &[],
        "mythos-5",
        "2026-07-01T00:00:00Z",
    );
    assert_eq!(decision.outcome, Outcome::Allow);
    assert_eq!(decision.shadow_ids(), ["EXD-SHADOW"]);
    assert_eq!(decision.shadow_outcome, Some(Outcome::Deny));
    assert!(decision.directive_ids().is_empty());
}

#[test]
fn effective_and_expires_hold_to_the_second() {
    let book = book(&[directive(
        "WINDOW",
        "expires = \"2026-06-16T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"",
    )]);
    let cases = [
        ("2026-06-14T23:59:59Z", Outcome::Allow),
        ("2026-06-15T00:00:00Z", Outcome::Deny),
        ("2026-06-15T23:59:59Z", Outcome::Deny),
        ("2026-06-16T00:00:00Z", Outcome::Allow),
    ];
    for (time, expected) in cases {
        assert_eq!(
            outcome_for(&book, "alice", "mythos-5", time),
            expected,
            "at {time}"
        );
    }
}

#[test]
fn reroute_serves_an_allowed_model_and_never_a_forbidden_one() {
    let reroute = directive(
        "REROUTE",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"gpt-5\"",
    );
    let book1 = book(std::slice::from_ref(&reroute));
    assert_eq!(
        outcome_for(&book1, "bjorn", "mythos-5", "2026-07-01T00:00:00Z"),
        Outcome::Reroute { to: "gpt-5".into() }
    );
    assert_eq!(
        outcome_for(&book1, "alice", "mythos-5", "2026-07-01T00:00:00Z"),
        Outcome::Allow
    );
    // When the target is itself forbidden for this caller, the answer is a denial naming both.
    let block_target = directive(
        "NO-GPT-FOR-SE",
        "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = 'principal.citizenships.contains(\"SE\")'\neffect = \"deny\"",
    );
    let book2 = book(&[reroute, block_target]);
    let decision = decide(
        &book2,
        "bjorn",
        Some("US"),
        &[],
        "mythos-5",
        "2026-07-01T00:00:00Z",
    );
    assert_eq!(decision.outcome, Outcome::Deny);
    assert_eq!(decision.directive_ids(), ["REROUTE", "NO-GPT-FOR-SE"]);
    assert_eq!(decision.denying().unwrap().id, "NO-GPT-FOR-SE");
}

#[test]
fn capability_scoped_directives_restrict_only_that_capability() {
    let book = book(&[directive(
        "NO-TOOLS",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\ncapabilities = [\"tools\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
    )]);
    for (capabilities, expected) in [
        (vec![], Outcome::Allow),
        (vec![Capability::Tools], Outcome::Deny),
        (vec![Capability::Images], Outcome::Allow),
    ] {
        let decision = decide(
            &book,
            "bjorn",
            Some("US"),
            &capabilities,
            "mythos-5",
            "2026-07-01T00:00:00Z",
        );
        assert_eq!(decision.outcome, expected, "{capabilities:?}");
    }
}

#[test]
fn location_rules_read_the_request_country() {
    let book = book(&[directive(
        "GEO",
        "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = 'context.country == \"CN\"'\neffect = \"deny\"",
    )]);
    for (country, expected) in [
        (Some("CN"), Outcome::Deny),
        (Some("FR"), Outcome::Allow),
        (None, Outcome::Allow),
    ] {
        let decision = decide(
            &book,
            "alice",
            country,
            &[],
            "gpt-5",
            "2026-07-01T00:00:00Z",
        );
        assert_eq!(decision.outcome, expected, "{country:?}");
    }
}

#[test]
fn raw_cedar_policies_are_directives_too() {
    let cedar = toml_source(
        "d5.cedar",
        r#"// Nationals of some countries, on any model, from a date on.
@id("CEDAR-D5")
@title("Country group D:5")
@authority("EAR part 740 supplement 1")
@mode("enforce")
forbid (principal, action, resource)
when { principal.citizenships.containsAny(["CN", "RU"]) && context.now >= 1781481600 };
"#,
    );
    let book = book(&[cedar]);
    assert_eq!(denied(&book, "open-model"), ["li", "olga"]);
    assert_eq!(book.directive("CEDAR-D5").unwrap().origin.line, 2);
}

#[test]
fn the_same_files_give_the_same_version_and_any_edit_a_new_one() {
    let a = directive(
        "A",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"",
    );
    let b = directive(
        "A",
        "mode = \"shadow\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"",
    );
    assert_eq!(
        book(std::slice::from_ref(&a)).version(),
        book(std::slice::from_ref(&a)).version()
    );
    assert_ne!(book(&[a]).version(), book(&[b]).version());
}

fn check_errors(sources: &[clearance_policy::SourceFile]) -> Vec<String> {
    match PolicyBook::compile(sources, &catalog()) {
        Ok(_) => panic!("the set should have been refused"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let errors = check_errors(&[
        directive(
            "UNKNOWN-MODEL",
            "mode = \"enforce\"\nmodels = [\"mythos-6\"]\neffect = \"deny\"",
        ),
        directive(
            "UNKNOWN-TAG",
            "mode = \"enforce\"\ntags = [\"secret\"]\neffect = \"deny\"",
        ),
        directive(
            "BAD-CEDAR",
            "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"principal.us_person &&\"\neffect = \"deny\"",
        ),
        directive(
            "SELF-REROUTE",
            "mode = \"enforce\"\ntags = [\"frontier\"]\nreroute = \"gpt-5\"",
        ),
        directive(
            "TYPO",
            "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"!principal.us_persn\"\neffect = \"deny\"",
        ),
    ]);
    let joined = errors.join("\n");
    assert!(joined.contains("directives/UNKNOWN-MODEL.toml:6: `UNKNOWN-MODEL` names unknown model `mythos-6`; configured models: mythos-5, fable-5, gpt-5, open-model"), "{joined}");
    assert!(
        joined.contains(
            "directives/UNKNOWN-TAG.toml:1: `UNKNOWN-TAG` names tag `secret` that no model has"
        ),
        "{joined}"
    );
    assert!(
        joined.contains("directives/BAD-CEDAR.toml:7: `when` is not a Cedar expression"),
        "{joined}"
    );
    assert!(joined.contains("directives/SELF-REROUTE.toml:1: `SELF-REROUTE` reroutes to `gpt-5`, which the directive itself covers"), "{joined}");
    // Schema checks run in the same pass: the typo is reported beside the other problems.
    let typo = errors
        .iter()
        .find(|e| e.starts_with("directives/TYPO.toml:7: `TYPO`: Cedar schema check"))
        .unwrap_or_else(|| panic!("no schema error for TYPO in {joined}"));
    assert!(typo.contains("us_persn"), "{typo}");
}

#[test]
fn duplicate_ids_and_permit_policies_are_refused() {
    let errors = check_errors(&[
        directive(
            "SAME",
            "mode = \"enforce\"\nmodels = [\"gpt-5\"]\neffect = \"deny\"",
        ),
        toml_source(
            "other.toml",
            "id = \"SAME\"\ntitle = \"t\"\nauthority = \"a\"\neffective = \"2026-01-01T00:00:00Z\"\nmode = \"shadow\"\nmodels = [\"gpt-5\"]\neffect = \"deny\"\n",
        ),
        toml_source(
            "p.cedar",
            "@id(\"P\")\n@title(\"t\")\n@authority(\"a\")\n@mode(\"enforce\")\npermit (principal, action, resource);\n",
        ),
    ]);
    let joined = errors.join("\n");
    assert!(joined.contains("directives/other.toml:1: duplicate directive id `SAME`; first defined at directives/SAME.toml:1"), "{joined}");
    assert!(
        joined.contains("directives/p.cedar:1: only `forbid` policies are directives"),
        "{joined}"
    );
}

#[test]
fn a_condition_cannot_smuggle_in_another_clause() {
    let errors = check_errors(&[directive(
        "SMUGGLE",
        "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"false } unless { true\"\neffect = \"deny\"",
    )]);
    assert!(
        errors[0].contains("`when` is not a Cedar expression"),
        "{errors:?}"
    );
}

#[test]
fn a_request_with_no_token_limit_reads_as_unlimited_and_names_the_missing_fact() {
    let book = book(&[directive(
        "LONG",
        "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"context.max_tokens > 1000\"\neffect = \"deny\"",
    )]);
    let people = story();
    let alice = people.iter().find(|p| p.id.as_str() == "alice").unwrap();
    for (max_tokens, expected, missing) in [
        (None, Outcome::Deny, vec!["max_tokens"]),
        (Some(5000), Outcome::Deny, vec![]),
        (Some(64), Outcome::Allow, vec![]),
    ] {
        let mut facts = facts_of(alice, Some("US"), &[]);
        facts.request.max_tokens = max_tokens;
        let decision = book.decide(&Query {
            principal_id: "alice",
            facts: &facts,
            model: "gpt-5",
            at: at("2026-07-01T00:00:00Z"),
        });
        assert_eq!(decision.outcome, expected, "{max_tokens:?}");
        assert_eq!(decision.missing_facts, missing, "{max_tokens:?}");
    }
}
