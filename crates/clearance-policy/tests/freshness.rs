//! `stale_after`: facts the identity provider has not confirmed within a directive's window
//! are read as missing by that directive alone, and can only add denials, never lift one.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use clearance_core::principal::Principal;
use clearance_policy::{Decision, Outcome, PolicyBook, Query};
use common::*;

const NOW: &str = "2026-07-01T12:00:00Z";

fn confirmed(p: &Principal, hours_ago: Option<i64>) -> Principal {
    Principal {
        facts_confirmed_at: hours_ago.map(|h| at(NOW) - Duration::hours(h)),
        ..p.clone()
    }
}

fn person(id: &str) -> Principal {
    story().into_iter().find(|p| p.id.as_str() == id).unwrap()
}

fn decide(book: &PolicyBook, p: &Principal, model: &str) -> Decision {
    let facts = facts_of(p, Some("US"), &[]);
    book.decide(&Query {
        principal_id: p.id.as_str(),
        facts: &facts,
        model,
        at: at(NOW),
    })
}

fn book_with_fresh_and_stale_rules() -> PolicyBook {
    book(&[
        directive(
            "EXD-STALE",
            "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"\nstale_after = \"24h\"",
        ),
        directive(
            "NO-CN",
            "mode = \"enforce\"\nmodels = [\"fable-5\"]\nwhen = \"principal.citizenships.contains(\\\"CN\\\")\"\neffect = \"deny\"\nstale_after = \"24h\"",
        ),
        directive(
            "PLAIN",
            "mode = \"enforce\"\nmodels = [\"gpt-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
        ),
    ])
}

#[test]
fn recently_confirmed_facts_decide_as_usual() {
    let book = book_with_fresh_and_stale_rules();
    let alice = confirmed(&person("alice"), Some(1));
    let decision = decide(&book, &alice, "mythos-5");
    assert_eq!(decision.outcome, Outcome::Allow);
    assert!(
        decision.missing_facts.is_empty(),
        "{:?}",
        decision.missing_facts
    );
}

#[test]
fn facts_older_than_stale_after_or_never_confirmed_fail_closed_for_that_directive() {
    let book = book_with_fresh_and_stale_rules();
    for alice in [confirmed(&person("alice"), Some(25)), person("alice")] {
        let decision = decide(&book, &alice, "mythos-5");
        assert_eq!(
            decision.outcome,
            Outcome::Deny,
            "{:?}",
            alice.facts_confirmed_at
        );
        assert_eq!(decision.directive_ids(), ["EXD-STALE"]);
        assert!(
            decision.missing_facts.contains(&"citizenships".to_string()),
            "{:?}",
            decision.missing_facts
        );
        // A directive without `stale_after` still trusts the registry.
        assert_eq!(decide(&book, &alice, "gpt-5").outcome, Outcome::Allow);
    }
}

#[test]
fn stale_facts_never_lift_a_denial_the_facts_themselves_give() {
    let book = book_with_fresh_and_stale_rules();
    // Li holds a CN citizenship: on blank facts `contains("CN")` would be false, but stale
    // facts only ever add denials.
    let li = confirmed(&person("li"), Some(1000));
    assert_eq!(decide(&book, &li, "fable-5").outcome, Outcome::Deny);
    let hans = confirmed(&person("hans"), Some(1000));
    assert_eq!(decide(&book, &hans, "fable-5").outcome, Outcome::Allow);
}

#[test]
fn a_stale_after_that_is_not_a_duration_is_refused_with_its_line() {
    let sources = [directive(
        "BAD",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"\nstale_after = \"soon\"",
    )];
    let Err(errors) = PolicyBook::compile(&sources, &catalog()) else {
        panic!("a set with a bad stale_after compiled");
    };
    let errors = errors.to_string();
    assert!(errors.contains("stale_after"), "{errors}");
    assert!(errors.contains("BAD.toml:8:"), "{errors}");
}

#[test]
fn explain_says_the_facts_were_stale() {
    let book = book_with_fresh_and_stale_rules();
    let alice = confirmed(&person("alice"), Some(25));
    let facts = facts_of(&alice, Some("US"), &[]);
    let query = Query {
        principal_id: "alice",
        facts: &facts,
        model: "mythos-5",
        at: at(NOW),
    };
    let explanation = clearance_policy::explain::explain(&book, &query);
    let text = clearance_policy::explain::render_text(&explanation);
    assert!(text.contains("stale_after"), "{text}");
    assert!(text.contains("read them as missing"), "{text}");
}
