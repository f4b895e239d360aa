//! Impact preview at the engine level: who a draft cuts from the registry and which recorded
//! requests it would have refused, next to a blanket block of the same models.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use clearance_core::facts::{Capability, Facts};
use clearance_core::principal::Principal;
use clearance_policy::preview::{Draft, Preview, PreviewInput, RequestGroup, Tally, render_text};
use clearance_policy::{DirectiveErrors, SourceFile};
use common::*;

const NOT_A_US_PERSON: &str = "mode = \"enforce\"\nmodels = [\"fable-5\", \"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"";

fn now() -> DateTime<Utc> {
    at("2026-07-01T12:00:00Z")
}

fn run(draft: &SourceFile, principals: &[Principal], requests: &[RequestGroup]) -> Preview {
    try_run(draft, principals, requests).unwrap_or_else(|e| panic!("{e}"))
}

fn try_run(
    draft: &SourceFile,
    principals: &[Principal],
    requests: &[RequestGroup],
) -> Result<Preview, DirectiveErrors> {
    let draft = Draft::compile(draft, &catalog())?;
    Ok(draft.preview(&PreviewInput {
        principals,
        requests,
        requests_in_window: 0,
        since: at("2026-06-01T00:00:00Z"),
        now: now(),
    }))
}

fn tally(denied: u64, rerouted: u64) -> Tally {
    Tally { denied, rerouted }
}

fn person<'a>(people: &'a [Principal], id: &str) -> &'a Principal {
    people.iter().find(|p| p.id.as_str() == id).unwrap()
}

fn group(p: &Principal, model: &str, facts: Option<&Facts>, count: u64) -> RequestGroup {
    RequestGroup {
        principal_id: p.id.to_string(),
        model: model.to_string(),
        facts_json: facts.map(|f| serde_json::to_string(f).unwrap()),
        count,
        first: at("2026-06-20T00:00:00Z"),
        last: at("2026-06-30T00:00:00Z"),
    }
}

#[test]
fn not_a_us_person_draft_cuts_the_foreign_nationals_and_a_blanket_block_cuts_everyone() {
    let people = story();
    let p = run(&directive("EXD-2026-06", NOT_A_US_PERSON), &people, &[]);
    let draft = &p.draft.principals;
    assert_eq!(draft.registry, 9);
    assert_eq!(draft.ids, ["bjorn", "ghost", "hans", "li", "olga"]);
    assert_eq!((draft.affected, draft.denied, draft.rerouted), (5, 5, 0));
    assert_eq!(draft.by_model["mythos-5"], tally(5, 0));
    assert_eq!(draft.by_model["fable-5"], tally(5, 0));
    assert_eq!(draft.by_model.len(), 2, "only covered models are listed");
    assert_eq!(draft.by_citizenship["SE"], tally(1, 0));
    assert_eq!(draft.by_citizenship["unknown"], tally(1, 0), "ghost");
    assert!(!draft.by_citizenship.contains_key("US"));
    assert_eq!(draft.by_residence["DE"], tally(2, 0), "olga and hans");
    assert_eq!(draft.by_residence["unknown"], tally(1, 0));
    assert_eq!(draft.by_org["acme"], tally(4, 0));
    assert_eq!(draft.by_org["unknown"], tally(1, 0));
    assert!(!draft.ids_capped);

    let blanket = &p.blanket.principals;
    assert_eq!((blanket.affected, blanket.denied), (9, 9));
    // Each citizenship counts: carla (US, MX) is under both.
    assert_eq!(blanket.by_citizenship["US"], tally(2, 0));
    assert_eq!(blanket.by_citizenship["MX"], tally(1, 0));
    assert_eq!(p.directive.models, ["mythos-5", "fable-5"]);
}

#[test]
fn not_a_us_citizen_draft_also_cuts_the_green_card_holder_and_the_refugee() {
    let draft = directive(
        "EXD-CIT",
        "mode = \"enforce\"\ntags = [\"controlled\"]\nwhen = \"!principal.us_citizen\"\neffect = \"deny\"",
    );
    let p = run(&draft, &story(), &[]);
    assert_eq!(
        p.draft.principals.ids,
        ["bjorn", "dev", "farah", "ghost", "hans", "li", "olga"]
    );
}

#[test]
fn recorded_requests_are_re_evaluated_against_the_facts_recorded_with_them() {
    let people = story();
    let (alice, bjorn, li) = (
        person(&people, "alice"),
        person(&people, "bjorn"),
        person(&people, "li"),
    );
    let alice_fr = facts_of(alice, Some("FR"), &[]);
    let bjorn_us = facts_of(bjorn, Some("US"), &[Capability::Stream]);
    let li_cn = facts_of(li, Some("CN"), &[]);
    // Li's facts as recorded: a US citizen then. The recorded facts decide, not today's registry.
    let mut li_then = li_cn.clone();
    li_then.principal.us_person = true;
    let requests = [
        group(alice, "mythos-5", Some(&alice_fr), 10),
        group(bjorn, "mythos-5", Some(&bjorn_us), 7),
        group(bjorn, "fable-5", Some(&bjorn_us), 3),
        group(li, "mythos-5", Some(&li_cn), 4),
        group(li, "mythos-5", Some(&li_then), 2),
        group(li, "mythos-5", None, 5),
        group(li, "gpt-5", Some(&li_cn), 100),
    ];
    let p = run(
        &directive("EXD-2026-06", NOT_A_US_PERSON),
        &people,
        &requests,
    );
    let draft = &p.draft.requests;
    assert_eq!(
        (draft.in_window, draft.in_scope, draft.without_facts),
        (131, 31, 5)
    );
    assert_eq!((draft.denied, draft.rerouted), (14, 0));
    assert_eq!(draft.by_model["mythos-5"], tally(11, 0));
    assert_eq!(draft.by_model["fable-5"], tally(3, 0));
    assert_eq!(draft.by_country["US"], tally(10, 0));
    assert_eq!(draft.by_country["CN"], tally(4, 0));
    assert_eq!(draft.by_principal["bjorn"], tally(10, 0));
    assert_eq!(draft.by_principal["li"], tally(4, 0));
    assert!(!draft.by_principal.contains_key("alice"));
    assert_eq!(draft.by_org["acme"], tally(14, 0));

    let blanket = &p.blanket.requests;
    assert_eq!((blanket.in_scope, blanket.without_facts), (31, 5));
    assert_eq!(blanket.denied, 26, "every in-scope request with facts");
    assert_eq!(blanket.by_principal["alice"], tally(10, 0));
    assert_eq!(
        p.window.first_request.as_deref(),
        Some("2026-06-20T00:00:00Z")
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("5 in-scope recorded requests hold no facts"))
    );
}

#[test]
fn unreadable_recorded_facts_are_counted_as_without_facts_and_named_in_a_note() {
    let people = story();
    let mut broken = group(person(&people, "li"), "mythos-5", None, 3);
    broken.facts_json = Some("{\"principal\":42}".into());
    let p = run(
        &directive("EXD-2026-06", NOT_A_US_PERSON),
        &people,
        &[broken],
    );
    assert_eq!(p.draft.requests.without_facts, 3);
    assert_eq!(p.draft.requests.denied, 0);
    assert!(
        p.notes.iter().any(|n| n.contains("cannot read")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_shadow_draft_is_previewed_as_enforced() {
    let draft = directive(
        "EXD-SHADOW",
        &NOT_A_US_PERSON.replace("\"enforce\"", "\"shadow\""),
    );
    let p = run(&draft, &story(), &[]);
    assert_eq!(p.directive.mode, "shadow");
    assert_eq!(p.draft.principals.affected, 5);
    assert!(p.notes.iter().any(|n| n.contains("shadow mode")));
}

#[test]
fn a_future_dated_draft_is_evaluated_from_its_effective_time() {
    let draft = toml_source(
        "future.toml",
        "id = \"EXD-FUT\"\ntitle = \"Later\"\nauthority = \"Order\"\neffective = \"2027-01-01T00:00:00Z\"\nexpires = \"2027-02-01T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"\n",
    );
    let p = run(&draft, &story(), &[]);
    assert_eq!(p.evaluated_at, "2027-01-01T00:00:00Z");
    assert_eq!(p.draft.principals.affected, 5);
    assert_eq!(p.blanket.principals.affected, 9);
}

#[test]
fn an_expired_draft_cuts_nothing_and_says_so() {
    let draft = toml_source(
        "old.toml",
        "id = \"EXD-OLD\"\ntitle = \"Over\"\nauthority = \"Order\"\neffective = \"2026-01-01T00:00:00Z\"\nexpires = \"2026-02-01T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"\n",
    );
    let p = run(&draft, &story(), &[]);
    assert_eq!(
        (p.draft.principals.affected, p.blanket.principals.affected),
        (0, 0)
    );
    assert!(p.notes.iter().any(|n| n.contains("expired")));
}

#[test]
fn a_reroute_draft_reroutes_where_the_blanket_block_denies() {
    let draft = directive(
        "EXD-RR",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"!principal.us_person\"\nreroute = \"open-model\"",
    );
    let people = story();
    let bjorn = person(&people, "bjorn");
    let requests = [group(
        bjorn,
        "mythos-5",
        Some(&facts_of(bjorn, Some("US"), &[])),
        6,
    )];
    let p = run(&draft, &people, &requests);
    assert_eq!(
        (p.draft.principals.denied, p.draft.principals.rerouted),
        (0, 5)
    );
    assert_eq!(p.draft.principals.by_model["mythos-5"], tally(0, 5));
    assert_eq!(p.blanket.principals.by_model["mythos-5"], tally(9, 0));
    assert_eq!(p.draft.requests.by_model["mythos-5"], tally(0, 6));
    assert_eq!(p.blanket.requests.by_model["mythos-5"], tally(6, 0));
    assert_eq!(p.directive.reroute_to.as_deref(), Some("open-model"));
}

#[test]
fn a_capability_scoped_draft_assumes_principals_use_it_and_counts_only_such_requests() {
    let draft = directive(
        "EXD-TOOLS",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\ncapabilities = [\"tools\"]\nwhen = \"!principal.us_person\"\neffect = \"deny\"",
    );
    let people = story();
    let li = person(&people, "li");
    let requests = [
        group(
            li,
            "mythos-5",
            Some(&facts_of(li, Some("CN"), &[Capability::Tools])),
            2,
        ),
        group(li, "mythos-5", Some(&facts_of(li, Some("CN"), &[])), 9),
    ];
    let p = run(&draft, &people, &requests);
    assert_eq!(p.draft.principals.affected, 5);
    assert_eq!(p.draft.requests.denied, 2, "only the tool-using requests");
    assert_eq!(p.blanket.requests.denied, 11);
    assert_eq!(p.directive.capabilities, ["tools"]);
}

#[test]
fn a_condition_naming_a_principal_decides_each_principal_on_its_own() {
    // hans and a clone with identical facts: only the named one is cut.
    let mut people = story();
    let mut twin = person(&people, "hans").clone();
    twin.id = "hans2".parse().unwrap();
    people.push(twin);
    let draft = directive(
        "EXD-ONE",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"principal == Principal::\\\"hans\\\"\"\neffect = \"deny\"",
    );
    let p = run(&draft, &people, &[]);
    assert_eq!(p.draft.principals.ids, ["hans"]);
}

#[test]
fn an_invalid_draft_reports_every_problem_at_its_line() {
    let draft = directive(
        "EXD-BAD",
        "mode = \"enforce\"\nmodels = [\"mythos-6\"]\nwhen = \"principal.shoe_size > 3\"\neffect = \"deny\"",
    );
    let errors = try_run(&draft, &story(), &[]).unwrap_err().to_string();
    assert!(
        errors.contains("directives/EXD-BAD.toml:6: `EXD-BAD` names unknown model `mythos-6`"),
        "{errors}"
    );
    let cedar = toml_source("x.cedar", "forbid (principal, action, resource);");
    let errors = try_run(&cedar, &story(), &[]).unwrap_err().to_string();
    assert!(
        errors.contains("a preview takes one TOML directive"),
        "{errors}"
    );
}

#[test]
fn the_json_keys_are_the_documented_ones() {
    let p = run(&directive("EXD-2026-06", NOT_A_US_PERSON), &story(), &[]);
    let json = serde_json::to_value(&p).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        [
            "directive",
            "evaluated_at",
            "window",
            "draft",
            "blanket",
            "notes"
        ]
    );
    assert_eq!(keys(&json["draft"]), ["principals", "requests"]);
    assert_eq!(
        keys(&json["draft"]["principals"]),
        [
            "registry",
            "affected",
            "denied",
            "rerouted",
            "by_model",
            "by_org",
            "by_citizenship",
            "by_residence",
            "ids",
            "ids_capped"
        ]
    );
    assert_eq!(
        keys(&json["blanket"]["requests"]),
        [
            "in_window",
            "in_scope",
            "without_facts",
            "denied",
            "rerouted",
            "by_model",
            "by_org",
            "by_country",
            "by_principal",
            "by_principal_capped"
        ]
    );
    assert_eq!(
        keys(&json["directive"]),
        [
            "id",
            "title",
            "authority",
            "file",
            "mode",
            "effect",
            "reroute_to",
            "scope_models",
            "scope_tags",
            "capabilities",
            "models",
            "condition",
            "effective",
            "expires"
        ]
    );
    assert_eq!(
        keys(&json["window"]),
        ["since", "until", "first_request", "last_request"]
    );
    assert_eq!(
        keys(&json["draft"]["principals"]["by_model"]["mythos-5"]),
        ["denied", "rerouted"]
    );
}

#[test]
fn text_puts_the_draft_beside_the_blanket_block() {
    let p = run(&directive("EXD-2026-06", NOT_A_US_PERSON), &story(), &[]);
    let text = render_text(&p);
    assert!(text.contains("DRAFT"), "{text}");
    assert!(text.contains("BLANKET"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("lose access or rerouted"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().rev().take(2).collect();
    assert_eq!(numbers, ["9", "5"], "{text}");
    assert!(text.contains("bjorn, ghost, hans, li, olga"), "{text}");
}

#[test]
fn many_affected_principals_are_counted_in_full_and_listed_up_to_the_cap() {
    let people: Vec<Principal> = (0..1_500)
        .map(|i| principal(&format!("p{i:04}"), &["DE"], &[], false, Some("DE")))
        .collect();
    let p = run(&directive("EXD-2026-06", NOT_A_US_PERSON), &people, &[]);
    assert_eq!(p.draft.principals.affected, 1_500);
    assert_eq!(p.draft.principals.ids.len(), 1_000);
    assert!(p.draft.principals.ids_capped);
}

#[test]
fn requests_of_uncovered_models_may_be_left_out_and_counted_apart() {
    let people = story();
    let li = person(&people, "li");
    let facts = facts_of(li, Some("CN"), &[]);
    let draft = Draft::compile(&directive("EXD-2026-06", NOT_A_US_PERSON), &catalog()).unwrap();
    assert_eq!(draft.models(), ["mythos-5", "fable-5"]);
    let p = draft.preview(&PreviewInput {
        principals: &people,
        requests: &[group(li, "mythos-5", Some(&facts), 4)],
        requests_in_window: 104,
        since: at("2026-06-01T00:00:00Z"),
        now: now(),
    });
    let r = &p.draft.requests;
    assert_eq!((r.in_window, r.in_scope, r.denied), (104, 4, 4));
}
