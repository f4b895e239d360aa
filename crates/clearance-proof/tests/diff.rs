//! The diff proofs: the story's draft, its two wordings, and edits that quietly widen access.

#![allow(clippy::unwrap_used)]

mod common;

use clearance_policy::SourceFile;
use clearance_proof::diff::{DiffReport, Example, Gains};
use clearance_proof::{Window, diff};
use common::*;

async fn proved(old: &[SourceFile], new: &[SourceFile], window: Window) -> DiffReport {
    let mut prover = prover();
    let report = diff(&mut prover, &book(old), &book(new), window)
        .await
        .unwrap();
    assert_all_reproduced(&report.not_reproduced);
    report
}

fn gains(report: &DiffReport, model: &str) -> Vec<Example> {
    let m = report.models.iter().find(|m| m.model == model).unwrap();
    match &m.gains {
        Gains::Found { examples } => examples.clone(),
        other => panic!("expected a gain on {model}, got {other:?}"),
    }
}

fn principal_has(example: &Example, fact: &str, value: &str) -> bool {
    let v = &example.caller["principal"][fact];
    v.as_array()
        .map_or(v == value, |items| items.iter().any(|i| i == value))
}

#[tokio::test]
async fn the_story_draft_cuts_exactly_the_non_us_persons_and_nobody_gains() {
    let report = proved(&[], &[story("!principal.us_person")], from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(true), "{}", report.summary());
    let models: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(
        models,
        ["mythos-5", "fable-5"],
        "only the two models it names"
    );
    for m in &report.models {
        assert!(matches!(m.gains, Gains::Nobody));
        let [loss] = m.losses.as_slice() else {
            panic!("one directive takes access away: {:?}", m.losses)
        };
        assert_eq!(loss.directive, "EXD-2026-06");
        assert_eq!(
            loss.condition,
            format!(
                "citizenships does not contain US and permanent_residency does not contain US and \
                 not protected_individual, on fable-5, mythos-5, from 2026-06-15T00:00:00Z"
            )
        );
        for example in &loss.examples {
            assert_eq!(
                (example.old.as_str(), example.new.as_str()),
                ("served", "denied (451)")
            );
            assert_eq!(example.caller["principal"]["us_person"], false);
            assert_eq!(example.caller["model"], m.model.as_str());
        }
        // A foreign national, and a person whose citizenship nobody recorded: both lose.
        assert!(loss.examples.iter().any(|e| {
            e.caller["principal"]["citizenships"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        }));
        assert!(loss.examples.iter().any(|e| {
            e.caller["principal"]["citizenships"]
                .as_array()
                .is_some_and(|c| c.is_empty())
        }));
    }
    assert!(
        report.summary().starts_with("proved: nobody gains access"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn us_citizen_instead_of_us_person_names_green_card_holders_and_protected_individuals() {
    let person = [story("!principal.us_person")];
    let citizen = [story("!principal.us_citizen")];
    // Tightening the wording: nobody gains, and the difference is exactly who loses.
    let report = proved(&person, &citizen, from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(true));
    for m in &report.models {
        let loss = &m.losses[0];
        assert!(
            loss.examples
                .iter()
                .any(|e| principal_has(e, "permanent_residency", "US")
                    && !principal_has(e, "protected_individual", "true")),
            "a green-card holder loses {}: {:?}",
            m.model,
            loss.examples
        );
        assert!(
            loss.examples
                .iter()
                .any(|e| e.caller["principal"]["protected_individual"] == true
                    && !principal_has(e, "permanent_residency", "US")),
            "a protected individual loses {}: {:?}",
            m.model,
            loss.examples
        );
        for e in &loss.examples {
            assert!(!principal_has(e, "citizenships", "US"), "{}", e.described);
        }
    }
    // Loosening it back: the same people gain.
    let report = proved(&citizen, &person, from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(false));
    for example in gains(&report, "fable-5") {
        assert_eq!(example.old, "denied (451)");
        assert_eq!(example.new, "served");
        assert_eq!(example.caller["principal"]["us_person"], true);
        assert_eq!(example.caller["principal"]["us_citizen"], false);
    }
}

fn by_country(id: &str, countries: &str) -> SourceFile {
    directive(
        id,
        "enforce",
        &format!("models = [\"gpt-5\"]\nwhen = '{countries}'\neffect = \"deny\""),
    )
}

#[tokio::test]
async fn a_typo_in_a_country_code_is_caught_with_the_caller_it_lets_in() {
    let old = [by_country(
        "SANCTIONS",
        "context.country == \"CN\" || context.country == \"RU\"",
    )];
    let typo = [by_country(
        "SANCTIONS",
        "context.country == \"CN\" || context.country == \"RO\"",
    )];
    let report = proved(&old, &typo, from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(false), "{}", report.summary());
    let gained = gains(&report, "gpt-5");
    assert!(
        gained
            .iter()
            .all(|e| e.caller["context"]["country"] == "RU"),
        "{gained:?}"
    );
    assert!(
        report
            .summary()
            .starts_with("REFUTED: someone gains access, on gpt-5")
    );
    // ...and the typo's own victims (callers from RO) are named as losses.
    let m = &report.models[0];
    assert!(
        m.losses[0]
            .examples
            .iter()
            .all(|e| e.caller["context"]["country"] == "RO")
    );
}

#[tokio::test]
async fn or_instead_of_and_is_caught() {
    let old = [by_country(
        "SANCTIONS",
        "!principal.us_person || context.country == \"CN\"",
    )];
    let slip = [by_country(
        "SANCTIONS",
        "!principal.us_person && context.country == \"CN\"",
    )];
    let report = proved(&old, &slip, from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(false));
    for e in gains(&report, "gpt-5") {
        let us_person = e.caller["principal"]["us_person"] == true;
        let from_cn = e.caller["context"]["country"] == "CN";
        // Gained exactly where one side of the `||` held: a non-US person from elsewhere, or
        // a US person from CN.
        assert_eq!(us_person, from_cn, "{}", e.described);
    }
}

#[tokio::test]
async fn an_expiry_moved_earlier_is_caught_at_the_time_it_opens() {
    let with_expiry = |expires: &str| {
        directive(
            "EXD-2026-06",
            "enforce",
            &format!(
                "models = [\"fable-5\"]\nexpires = \"{expires}\"\nwhen = '!principal.us_person'\neffect = \"deny\""
            ),
        )
    };
    let report = proved(
        &[with_expiry("2027-06-15T00:00:00Z")],
        &[with_expiry("2026-12-31T00:00:00Z")],
        from_story_day(),
    )
    .await;
    assert_eq!(report.no_new_access(), Some(false));
    for e in gains(&report, "fable-5") {
        let at = at(e.caller["at"].as_str().unwrap());
        assert!(
            at >= at_("2026-12-31T00:00:00Z") && at < at_("2027-06-15T00:00:00Z"),
            "{}",
            e.described
        );
    }
    // Before the new expiry, nothing changes.
    let before = Window {
        from: at_("2026-07-01T00:00:00Z"),
        until: Some(at_("2026-12-31T00:00:00Z")),
    };
    let report = proved(
        &[with_expiry("2027-06-15T00:00:00Z")],
        &[with_expiry("2026-12-31T00:00:00Z")],
        before,
    )
    .await;
    assert_eq!(report.no_new_access(), Some(true), "{}", report.summary());
}

fn at_(text: &str) -> chrono::DateTime<chrono::Utc> {
    at(text)
}

#[tokio::test]
async fn reroutes_that_changed_and_shadow_directives_are_reported_apart() {
    let reroute = |to: &str, mode: &str| {
        directive(
            "EXD-2026-06",
            mode,
            &format!("models = [\"mythos-5\"]\nwhen = '!principal.us_person'\nreroute = \"{to}\""),
        )
    };
    let report = proved(
        &[reroute("gpt-5", "enforce")],
        &[reroute("open-model", "enforce")],
        from_story_day(),
    )
    .await;
    assert_eq!(report.no_new_access(), Some(true));
    let [change] = report.reroutes.as_slice() else {
        panic!("{:?}", report.reroutes)
    };
    assert_eq!(change.old, "reroute to gpt-5");
    assert_eq!(change.new, "reroute to open-model");
    assert_eq!(
        change.example.as_ref().unwrap().new,
        "rerouted to open-model"
    );
    assert!(
        report.models.iter().all(|m| m.losses.is_empty()),
        "a new target takes no access away on mythos-5"
    );

    // A shadow directive is analysed as if promoted, apart from the enforced set.
    let shadow = story("principal.citizenships.contains(\"CN\")");
    let shadow = SourceFile {
        text: shadow
            .text
            .replace("mode = \"enforce\"", "mode = \"shadow\""),
        ..shadow
    };
    let report = proved(&[], &[shadow], from_story_day()).await;
    assert_eq!(report.no_new_access(), Some(true));
    assert!(report.models.is_empty(), "nothing enforced changed");
    let [cut] = report.shadow_if_promoted.as_slice() else {
        panic!()
    };
    assert!(
        cut.examples
            .iter()
            .all(|e| principal_has(e, "citizenships", "CN"))
    );
}

#[tokio::test]
async fn a_changed_stale_after_directive_is_not_claimed_proved() {
    let fresh = |stale: &str| {
        directive(
            "FRESH",
            "enforce",
            &format!(
                "models = [\"gpt-5\"]\nstale_after = \"{stale}\"\nwhen = 'principal.citizenships.contains(\"CN\")'\neffect = \"deny\""
            ),
        )
    };
    // Unchanged on both sides: the stale reading is the same before and after.
    let same = proved(
        &[fresh("7d")],
        &[fresh("7d"), story("!principal.us_person")],
        from_story_day(),
    )
    .await;
    assert_eq!(same.no_new_access(), Some(true));
    // Loosened from 7 to 30 days: principals confirmed 8 days ago were cut and are not now.
    let report = proved(&[fresh("7d")], &[fresh("30d")], from_story_day()).await;
    assert_eq!(report.no_new_access(), None, "{}", report.summary());
    let Gains::NotProved { reason } = &report.models[0].gains else {
        panic!()
    };
    assert!(
        reason.contains("FRESH") && reason.contains("stale_after"),
        "{reason}"
    );
}
