//! Property tests: a directive means what its compiled Cedar policy means (issue 4, item 8).
//!
//! Each generated condition is a small AST with two readings written here: `to_cedar` (the
//! text a compliance officer would write) and `eval` (what it means, in plain Rust, over the
//! same facts). The properties:
//!
//! 1. `PolicyBook::decide` fires a random TOML directive exactly when its reference meaning
//!    holds (model covered by name or tag, `effective <= at < expires`, one of the scoped
//!    capabilities used, condition true).
//! 2. Remembered results never differ from a fresh evaluation: a book whose memo is warm from a
//!    sequence of requests decides each request like a freshly compiled book.
//! 3. `compile::cedar_text` evaluated with Cedar directly (own authorizer, own entities built
//!    from the facts by schema attribute name, no Rust pre-checks) agrees with the meaning.
//! 4. A set of 1–3 directives decides as the reference reading of the set (deny wins, reroutes
//!    are followed, a loop is a deny), and a reroute target is always allowed for that caller.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fmt;

use cedar_policy::{
    Authorizer, Context, Entities, EntityUid, Policy, PolicyId, PolicySet, Request,
};
use chrono::{DateTime, TimeZone, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_policy::{Catalog, Outcome, PolicyBook, Query, SourceFile};
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The world: the catalog of tests/common, a few countries, orgs, roles and instants.

const MODELS: [&str; 4] = ["mythos-5", "fable-5", "gpt-5", "open-model"];
const TAGS: [&str; 3] = ["frontier", "controlled", "open-weights"];
const COUNTRIES: [&str; 8] = ["US", "CN", "RU", "DE", "FR", "SE", "IN", "MX"];
/// Org names, including ones that need escaping in Cedar and in TOML.
const ORGS: [&str; 5] = ["acme", "globex", "Acme Corp", "q\"uo\\te", "Zürich AG"];
const ROLES: [&str; 2] = ["engineer", "admin"];
const MISSING: [&str; 3] = ["citizenships", "residence", "org"];
const MAX_TOKENS: [u64; 5] = [0, 1, 100, 101, 4096];
const THRESHOLDS: [i64; 3] = [0, 100, 1000];
const PRINCIPAL_ID: &str = "caller";

/// 2026-06-15T00:00:00Z.
const BASE: i64 = 1_781_481_600;
const DAY: i64 = 86_400;

fn catalog() -> Catalog {
    common::catalog()
}

fn tags_of(model: &str) -> Vec<&'static str> {
    match model {
        "mythos-5" | "fable-5" => vec!["frontier", "controlled"],
        "gpt-5" => vec!["frontier"],
        "open-model" => vec!["open-weights"],
        other => panic!("model `{other}` is not in the test catalog"),
    }
}

fn provider_of(model: &str) -> &'static str {
    match model {
        "mythos-5" | "fable-5" => "acme",
        _ => "openlab",
    }
}

fn time(unix: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, nanos).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Conditions: an AST with a Cedar text and a Rust meaning.

/// What a condition can see.
struct Env<'a> {
    principal: &'a PrincipalFacts,
    request: &'a RequestFacts,
    model: &'a str,
    now: i64,
}

#[derive(Clone, PartialEq)]
enum Cond {
    UsPerson,
    UsCitizen,
    Employee,
    Protected,
    Citizen(&'static str),
    CitizenAny(Vec<&'static str>),
    PermanentResident(&'static str),
    Residence(&'static str),
    Org(&'static str),
    HasRole(&'static str),
    MissingFact(&'static str),
    Country(&'static str),
    Api(ApiSurface),
    UsesCapability(Capability),
    Stream,
    MaxTokensAbove(i64),
    NowAtLeast(i64),
    ModelTagged(&'static str),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// `{"v":c}.v`: the same value through a record literal.
    Record(Box<Cond>),
}

fn cedar_str(text: &str) -> String {
    format!("\"{}\"", text.escape_default())
}

impl Cond {
    /// Binding strength, for printing only the parentheses Cedar needs.
    fn precedence(&self) -> u8 {
        match self {
            Cond::Or(..) => 1,
            Cond::And(..) => 2,
            Cond::Residence(_)
            | Cond::Org(_)
            | Cond::Country(_)
            | Cond::Api(_)
            | Cond::MaxTokensAbove(_)
            | Cond::NowAtLeast(_) => 3,
            Cond::Not(_) => 4,
            _ => 5,
        }
    }

    fn to_cedar_at(&self, min: u8) -> String {
        let text = self.to_cedar();
        if self.precedence() < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn to_cedar(&self) -> String {
        let list = |items: &[&str]| {
            items
                .iter()
                .map(|c| cedar_str(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Cond::UsPerson => "principal.us_person".into(),
            Cond::UsCitizen => "principal.us_citizen".into(),
            Cond::Employee => "principal.employee".into(),
            Cond::Protected => "principal.protected_individual".into(),
            Cond::Citizen(c) => format!("principal.citizenships.contains({})", cedar_str(c)),
            Cond::CitizenAny(cs) => format!("principal.citizenships.containsAny([{}])", list(cs)),
            Cond::PermanentResident(c) => {
                format!("principal.permanent_residency.contains({})", cedar_str(c))
            }
            Cond::Residence(c) => format!("principal.residence == {}", cedar_str(c)),
            Cond::Org(o) => format!("principal.org == {}", cedar_str(o)),
            Cond::HasRole(r) => format!("principal.roles.contains({})", cedar_str(r)),
            Cond::MissingFact(f) => format!("principal.missing_facts.contains({})", cedar_str(f)),
            Cond::Country(c) => format!("context.country == {}", cedar_str(c)),
            Cond::Api(a) => format!("context.api == {}", cedar_str(a.as_str())),
            Cond::UsesCapability(c) => {
                format!("context.capabilities.contains({})", cedar_str(c.as_str()))
            }
            Cond::Stream => "context.stream".into(),
            Cond::MaxTokensAbove(n) => format!("context.max_tokens > {n}"),
            Cond::NowAtLeast(n) => format!("context.now >= {n}"),
            Cond::ModelTagged(t) => format!("resource.tags.contains({})", cedar_str(t)),
            Cond::Not(c) => format!("!{}", c.to_cedar_at(4)),
            Cond::And(a, b) => format!("{} && {}", a.to_cedar_at(2), b.to_cedar_at(3)),
            Cond::Or(a, b) => format!("{} || {}", a.to_cedar_at(1), b.to_cedar_at(2)),
            Cond::Record(c) => format!("{{\"v\":{}}}.v", c.to_cedar()),
        }
    }

    /// The attributes the condition reads, as `root.attribute`.
    fn reads(&self, out: &mut BTreeSet<String>) {
        let attribute = match self {
            Cond::UsPerson => "principal.us_person",
            Cond::UsCitizen => "principal.us_citizen",
            Cond::Employee => "principal.employee",
            Cond::Protected => "principal.protected_individual",
            Cond::Citizen(_) | Cond::CitizenAny(_) => "principal.citizenships",
            Cond::PermanentResident(_) => "principal.permanent_residency",
            Cond::Residence(_) => "principal.residence",
            Cond::Org(_) => "principal.org",
            Cond::HasRole(_) => "principal.roles",
            Cond::MissingFact(_) => "principal.missing_facts",
            Cond::Country(_) => "context.country",
            Cond::Api(_) => "context.api",
            Cond::UsesCapability(_) => "context.capabilities",
            Cond::Stream => "context.stream",
            Cond::MaxTokensAbove(_) => "context.max_tokens",
            Cond::NowAtLeast(_) => "context.now",
            Cond::ModelTagged(_) => "resource.tags",
            Cond::Not(c) | Cond::Record(c) => return c.reads(out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.reads(out);
                return b.reads(out);
            }
        };
        out.insert(attribute.to_string());
    }

    /// What the condition means, read straight off the facts (unknown values are the schema's
    /// empty values: "" for strings; `max_tokens` not given is the largest Long, as many as the
    /// provider allows).
    fn eval(&self, env: &Env<'_>) -> bool {
        let p = env.principal;
        let r = env.request;
        let has = |set: &BTreeSet<clearance_core::country::CountryCode>, c: &str| {
            set.iter().any(|x| x.as_str() == c)
        };
        match self {
            Cond::UsPerson => p.us_person,
            Cond::UsCitizen => p.us_citizen,
            Cond::Employee => p.employee,
            Cond::Protected => p.protected_individual,
            Cond::Citizen(c) => has(&p.citizenships, c),
            Cond::CitizenAny(cs) => cs.iter().any(|c| has(&p.citizenships, c)),
            Cond::PermanentResident(c) => has(&p.permanent_residency, c),
            Cond::Residence(c) => p.residence.is_some_and(|x| x.as_str() == *c),
            Cond::Org(o) => p.org.as_deref().unwrap_or("") == *o,
            Cond::HasRole(role) => p.roles.contains(*role),
            Cond::MissingFact(f) => p.missing.iter().any(|m| m == f),
            Cond::Country(c) => r.country.is_some_and(|x| x.as_str() == *c),
            Cond::Api(a) => r.api == *a,
            Cond::UsesCapability(c) => r.capabilities.contains(c),
            Cond::Stream => r.capabilities.contains(&Capability::Stream),
            Cond::MaxTokensAbove(n) => {
                i64::try_from(r.max_tokens.unwrap_or(u64::MAX)).unwrap_or(i64::MAX) > *n
            }
            Cond::NowAtLeast(n) => env.now >= *n,
            Cond::ModelTagged(t) => tags_of(env.model).contains(t),
            Cond::Not(c) => !c.eval(env),
            Cond::And(a, b) => a.eval(env) && b.eval(env),
            Cond::Or(a, b) => a.eval(env) || b.eval(env),
            Cond::Record(c) => c.eval(env),
        }
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cedar())
    }
}

/// Which generators to switch on. `fractional_times` stays off: directives refuse a fraction
/// of a second (see `fractions_of_a_second_are_refused` at the end), so no such directive ever
/// compiles.
#[derive(Clone, Copy, Debug)]
struct Grammar {
    /// Directives naming both `models` and `tags`.
    mixed_scope: bool,
    /// Conditions reading attributes inside a record literal: `{"v":principal.us_person}.v`.
    record_literals: bool,
    /// `effective` and `expires` with a fraction of a second.
    fractional_times: bool,
}

const GRAMMAR: Grammar = Grammar {
    mixed_scope: true,
    record_literals: true,
    fractional_times: false,
};

fn arb_atom() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::UsPerson),
        Just(Cond::UsCitizen),
        Just(Cond::Employee),
        Just(Cond::Protected),
        select(&COUNTRIES[..]).prop_map(Cond::Citizen),
        subsequence(&COUNTRIES[..], 1..=3).prop_map(Cond::CitizenAny),
        select(&COUNTRIES[..]).prop_map(Cond::PermanentResident),
        select(&COUNTRIES[..]).prop_map(Cond::Residence),
        select(&ORGS[..]).prop_map(Cond::Org),
        select(&ROLES[..]).prop_map(Cond::HasRole),
        select(&MISSING[..]).prop_map(Cond::MissingFact),
        select(&COUNTRIES[..]).prop_map(Cond::Country),
        prop_oneof![
            Just(ApiSurface::OpenaiChat),
            Just(ApiSurface::AnthropicMessages)
        ]
        .prop_map(Cond::Api),
        select(&Capability::ALL[..]).prop_map(Cond::UsesCapability),
        Just(Cond::Stream),
        select(&THRESHOLDS[..]).prop_map(Cond::MaxTokensAbove),
        select(&[BASE - DAY, BASE, BASE + DAY][..]).prop_map(Cond::NowAtLeast),
        select(&TAGS[..]).prop_map(Cond::ModelTagged),
    ]
}

/// Conditions of depth at most 3 over the atoms.
fn arb_cond(grammar: Grammar) -> impl Strategy<Value = Cond> {
    arb_atom().prop_recursive(3, 16, 2, move |inner| {
        let record = if grammar.record_literals { 2 } else { 0 };
        prop_oneof![
            2 => inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            record => inner.prop_map(|c| Cond::Record(Box::new(c))),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Directives: a TOML file and a Rust meaning.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Enforce,
    Shadow,
}

#[derive(Clone)]
struct Dir {
    id: String,
    mode: Mode,
    models: Vec<&'static str>,
    tags: Vec<&'static str>,
    capabilities: Vec<Capability>,
    effective: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    condition: Option<Cond>,
    /// `None`: deny.
    reroute: Option<&'static str>,
}

fn toml_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| toml_str(i.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

impl Dir {
    fn covers(&self, model: &str) -> bool {
        self.models.contains(&model) || tags_of(model).iter().any(|t| self.tags.contains(t))
    }

    fn toml(&self) -> String {
        let mut text = format!(
            "id = \"{id}\"\ntitle = \"Directive {id}\"\nauthority = \"Order {id}\"\neffective = {}\n",
            toml_str(&self.effective.to_rfc3339()),
            id = self.id
        );
        if let Some(expires) = self.expires {
            text.push_str(&format!("expires = {}\n", toml_str(&expires.to_rfc3339())));
        }
        let mode = match self.mode {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        };
        text.push_str(&format!("mode = \"{mode}\"\n"));
        if !self.models.is_empty() {
            text.push_str(&format!("models = {}\n", toml_list(&self.models)));
        }
        if !self.tags.is_empty() {
            text.push_str(&format!("tags = {}\n", toml_list(&self.tags)));
        }
        if !self.capabilities.is_empty() {
            let names = self.capabilities.iter().map(|c| c.as_str());
            text.push_str(&format!("capabilities = {}\n", toml_list(names)));
        }
        if let Some(condition) = &self.condition {
            text.push_str(&format!("when = {}\n", toml_str(&condition.to_cedar())));
        }
        match self.reroute {
            Some(target) => text.push_str(&format!("reroute = {}\n", toml_str(target))),
            None => text.push_str("effect = \"deny\"\n"),
        }
        text
    }

    fn source(&self) -> SourceFile {
        common::toml_source(&format!("{}.toml", self.id), &self.toml())
    }

    /// The reference meaning: does this directive fire for this request?
    fn fires(&self, facts: &Facts, model: &str, at: DateTime<Utc>) -> bool {
        let in_window = self.effective <= at && self.expires.is_none_or(|until| at < until);
        let uses_capability = self.capabilities.is_empty()
            || self
                .capabilities
                .iter()
                .any(|c| facts.request.capabilities.contains(c));
        let env = Env {
            principal: &facts.principal,
            request: &facts.request,
            model,
            now: at.timestamp(),
        };
        self.covers(model)
            && in_window
            && uses_capability
            && self.condition.as_ref().is_none_or(|c| c.eval(&env))
    }

    /// The attributes the directive reads: its condition's, the model and the clock (every
    /// generated directive has a scope and a window), and the capabilities if it scopes them.
    fn reads(&self) -> BTreeSet<String> {
        let mut read = BTreeSet::from(["model".to_string(), "context.now".to_string()]);
        if !self.capabilities.is_empty() {
            read.insert("context.capabilities".into());
        }
        if let Some(condition) = &self.condition {
            condition.reads(&mut read);
        }
        read
    }

    /// The instants where the directive's answer may change, and next to them.
    fn edges(&self) -> Vec<i64> {
        let from = self.effective.timestamp();
        let mut edges = vec![from - DAY, from - 1, from, from + 1];
        match self.expires {
            Some(until) => {
                let until = until.timestamp();
                edges.extend([(from + until) / 2, until - 1, until, until + 1, until + DAY]);
            }
            None => edges.extend([from + DAY, from + 30 * DAY]),
        }
        edges
    }
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n--- {}.toml\n{}---", self.id, self.toml())
    }
}

/// Scope (non-empty), capabilities, window, condition; the effect is decided by the caller.
#[derive(Clone, Debug)]
struct DirParts {
    mode: Mode,
    models: Vec<&'static str>,
    tags: Vec<&'static str>,
    capabilities: Vec<Capability>,
    effective: i64,
    /// Seconds after `effective`.
    lasts: Option<i64>,
    /// Fractions of a second on `effective` and `expires`.
    nanos: (u32, u32),
    condition: Option<Cond>,
    reroute: Option<Index>,
}

fn arb_parts(grammar: Grammar, condition_weight: f64) -> impl Strategy<Value = DirParts> {
    let models = || subsequence(&MODELS[..], 1..=2);
    let tags = || subsequence(&TAGS[..], 1..=2);
    let both = if grammar.mixed_scope { 2 } else { 0 };
    let scope = prop_oneof![
        2 => models().prop_map(|m| (m, Vec::new())),
        2 => tags().prop_map(|t| (Vec::new(), t)),
        both => (models(), tags()),
    ];
    (
        prop_oneof![3 => Just(Mode::Enforce), 1 => Just(Mode::Shadow)],
        scope,
        prop_oneof![
            3 => Just(Vec::new()),
            1 => subsequence(&Capability::ALL[..], 1..=2),
        ],
        select(&[BASE - DAY, BASE, BASE + 7][..]),
        prop::option::of(select(&[1, 3_600, 30 * DAY][..])),
        prop::option::weighted(condition_weight, arb_cond(grammar)),
        prop::option::of(any::<Index>()),
        if grammar.fractional_times {
            (
                select(&[0_u32, 500_000_000][..]),
                select(&[0_u32, 500_000_000][..]),
            )
                .boxed()
        } else {
            Just((0, 0)).boxed()
        },
    )
        .prop_map(
            |(mode, (models, tags), capabilities, effective, lasts, condition, reroute, nanos)| {
                DirParts {
                    mode,
                    models,
                    tags,
                    capabilities,
                    effective,
                    lasts,
                    nanos,
                    condition,
                    reroute,
                }
            },
        )
}

impl DirParts {
    fn build(self, id: String) -> Dir {
        let mut dir = Dir {
            id,
            mode: self.mode,
            models: self.models,
            tags: self.tags,
            capabilities: self.capabilities,
            effective: time(self.effective, self.nanos.0),
            expires: self.lasts.map(|s| time(self.effective + s, self.nanos.1)),
            condition: self.condition,
            reroute: None,
        };
        // A reroute may only name a model the directive does not itself cover.
        let targets: Vec<&'static str> = MODELS.into_iter().filter(|m| !dir.covers(m)).collect();
        dir.reroute = self
            .reroute
            .filter(|_| !targets.is_empty())
            .map(|i| *i.get(&targets));
        dir
    }
}

// ---------------------------------------------------------------------------------------------
// Facts.

fn arb_principal() -> impl Strategy<Value = Principal> {
    (
        subsequence(&COUNTRIES[..], 0..=3),
        subsequence(&COUNTRIES[..], 0..=2),
        any::<bool>(),
        prop::option::of(select(&COUNTRIES[..])),
        prop::option::of(select(&ORGS[..])),
        any::<bool>(),
        subsequence(&ROLES[..], 0..=2),
    )
        .prop_map(
            |(citizenships, residency, protected, residence, org, employee, roles)| Principal {
                id: PRINCIPAL_ID.parse().unwrap(),
                name: "Caller".into(),
                citizenships: citizenships.iter().map(|c| c.parse().unwrap()).collect(),
                permanent_residency: residency.iter().map(|c| c.parse().unwrap()).collect(),
                protected_individual: protected,
                residence: residence.map(|c| c.parse().unwrap()),
                org: org.map(String::from),
                employee,
                roles: roles.into_iter().map(String::from).collect(),
                screening: None,
                active: true,
                facts_confirmed_at: None,
            },
        )
}

fn arb_request() -> impl Strategy<Value = RequestFacts> {
    (
        prop::option::of(select(&COUNTRIES[..])),
        subsequence(&Capability::ALL[..], 0..=3),
        prop_oneof![
            3 => Just(ApiSurface::OpenaiChat),
            1 => Just(ApiSurface::AnthropicMessages)
        ],
        prop::option::of(select(&MAX_TOKENS[..])),
    )
        .prop_map(|(country, capabilities, api, max_tokens)| RequestFacts {
            country: country.map(|c| c.parse().unwrap()),
            capabilities: capabilities.into_iter().collect(),
            api,
            max_tokens,
            app: None,
        })
}

fn facts_of(principal: &Principal, request: &RequestFacts) -> Facts {
    Facts {
        principal: PrincipalFacts::from(principal),
        request: request.clone(),
    }
}

/// A principal on one line, with the derived facts.
fn show_principal(p: &Principal) -> String {
    let facts = PrincipalFacts::from(p);
    let list = |set: &BTreeSet<clearance_core::country::CountryCode>| {
        set.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
    };
    format!(
        "citizenships=[{}] permanent_residency=[{}] protected={} residence={:?} org={:?} employee={} roles={:?} => us_citizen={} us_person={} missing={:?}",
        list(&p.citizenships),
        list(&p.permanent_residency),
        p.protected_individual,
        p.residence.map(|c| c.as_str().to_string()),
        p.org,
        p.employee,
        p.roles,
        facts.us_citizen,
        facts.us_person,
        facts.missing
    )
}

fn show_request(r: &RequestFacts) -> String {
    format!(
        "country={:?} capabilities={:?} api={} max_tokens={:?}",
        r.country.map(|c| c.as_str().to_string()),
        r.capabilities,
        r.api.as_str(),
        r.max_tokens
    )
}

// ---------------------------------------------------------------------------------------------
// Cedar, directly: the compiled text beside a base permit, entities built here from the facts.

fn cedar_schema() -> &'static cedar_policy::Schema {
    clearance_policy::schema::schema()
}

fn cedar_uid(type_name: &str, id: &str) -> EntityUid {
    EntityUid::from_json(json!({ "type": type_name, "id": id })).unwrap()
}

fn principal_json(p: &PrincipalFacts) -> Value {
    let codes = |set: &BTreeSet<clearance_core::country::CountryCode>| -> Vec<String> {
        set.iter().map(|c| c.as_str().to_string()).collect()
    };
    json!({
        "uid": { "type": "Principal", "id": PRINCIPAL_ID },
        "attrs": {
            "citizenships": codes(&p.citizenships),
            "permanent_residency": codes(&p.permanent_residency),
            "protected_individual": p.protected_individual,
            "us_citizen": p.us_citizen,
            "us_person": p.us_person,
            "residence": p.residence.map(|c| c.as_str().to_string()).unwrap_or_default(),
            "org": p.org.clone().unwrap_or_default(),
            "employee": p.employee,
            "roles": p.roles.iter().collect::<Vec<_>>(),
            "screening": p.screening.as_ref().map(|s| s.status.as_str()).unwrap_or_default(),
            "missing_facts": p.missing,
        },
        "parents": [],
    })
}

fn context_json(r: &RequestFacts, now: i64) -> Value {
    json!({
        "now": now,
        "country": r.country.map(|c| c.as_str().to_string()).unwrap_or_default(),
        "capabilities": r.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "api": r.api.as_str(),
        "stream": r.capabilities.contains(&Capability::Stream),
        "max_tokens": r.max_tokens.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        "app": r.app.clone().unwrap_or_default(),
    })
}

/// Whether Cedar, asked directly, forbids the request under `policy_text`.
fn cedar_forbids(
    policy_text: &str,
    facts: &Facts,
    model: &str,
    at: DateTime<Utc>,
) -> Result<bool, String> {
    let base = Policy::parse(
        Some(PolicyId::new("base")),
        "permit(principal, action, resource);",
    )
    .unwrap();
    let policy = Policy::parse(Some(PolicyId::new("directive")), policy_text)
        .map_err(|e| format!("the compiled text does not parse: {e}"))?;
    let set = PolicySet::from_policies([base, policy]).map_err(|e| e.to_string())?;
    let tags = tags_of(model);
    let mut entities = vec![
        principal_json(&facts.principal),
        json!({
            "uid": { "type": "Model", "id": model },
            "attrs": { "provider": provider_of(model), "tags": tags },
            "parents": tags.iter().map(|t| json!({ "type": "ModelTag", "id": t })).collect::<Vec<_>>(),
        }),
    ];
    entities
        .extend(TAGS.iter().map(
            |t| json!({ "uid": { "type": "ModelTag", "id": t }, "attrs": {}, "parents": [] }),
        ));
    let entities = Entities::from_json_value(Value::Array(entities), Some(cedar_schema()))
        .map_err(|e| format!("entities: {e}"))?;
    let action = cedar_uid("Action", "invoke");
    let context = Context::from_json_value(
        context_json(&facts.request, at.timestamp()),
        Some((cedar_schema(), &action)),
    )
    .map_err(|e| format!("context: {e}"))?;
    let request = Request::new(
        cedar_uid("Principal", PRINCIPAL_ID),
        action,
        cedar_uid("Model", model),
        context,
        Some(cedar_schema()),
    )
    .map_err(|e| format!("request: {e}"))?;
    let response = Authorizer::new().is_authorized(&request, &set, &entities);
    if let Some(error) = response.diagnostics().errors().next() {
        return Err(format!("Cedar could not evaluate the policy: {error}"));
    }
    Ok(response.decision() == cedar_policy::Decision::Deny)
}

/// `cases` cases; failures are printed (shrunk), not saved to a regressions file.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 16_384,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Property 1 and 3: one directive, one request.

struct SingleCase {
    dir: Dir,
    principal: Principal,
    request: RequestFacts,
    model: &'static str,
    at: DateTime<Utc>,
}

impl fmt::Debug for SingleCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:?}", self.dir)?;
        writeln!(f, "principal: {}", show_principal(&self.principal))?;
        writeln!(f, "request:   {}", show_request(&self.request))?;
        write!(
            f,
            "model:     {}\nat:        {} ({})",
            self.model,
            self.at.to_rfc3339(),
            self.at.timestamp()
        )
    }
}

fn arb_single(grammar: Grammar) -> impl Strategy<Value = SingleCase> {
    (
        arb_parts(grammar, 0.85),
        arb_principal(),
        arb_request(),
        prop::bool::weighted(0.75),
        any::<Index>(),
        any::<Index>(),
        select(&[0_u32, 500_000_000, 999_999_999][..]),
    )
        .prop_map(|(parts, principal, request, covered, model, edge, nanos)| {
            let dir = parts.build("D".to_string());
            // Mostly a model the directive covers, so its other clauses decide.
            let covering: Vec<&'static str> =
                MODELS.into_iter().filter(|m| dir.covers(m)).collect();
            let model = *model.get(if covered { &covering } else { &MODELS[..] });
            let at = time(*edge.get(&dir.edges()), nanos);
            SingleCase {
                dir,
                principal,
                request,
                model,
                at,
            }
        })
}

fn check_single(case: &SingleCase) -> Result<(), TestCaseError> {
    let book = PolicyBook::compile(&[case.dir.source()], &catalog())
        .map_err(|e| TestCaseError::fail(format!("the directive does not compile: {e}")))?;
    let facts = facts_of(&case.principal, &case.request);
    let expected = case.dir.fires(&facts, case.model, case.at);
    let decision = book.decide(&Query {
        principal_id: PRINCIPAL_ID,
        facts: &facts,
        model: case.model,
        at: case.at,
    });
    let errors: Vec<_> = decision
        .enforced
        .iter()
        .chain(&decision.shadow)
        .filter_map(|h| h.error.clone())
        .collect();
    prop_assert!(errors.is_empty(), "Cedar errors: {errors:?}");
    let id = vec![case.dir.id.clone()];
    let none: Vec<String> = Vec::new();
    match case.dir.mode {
        Mode::Enforce => {
            let fired_outcome = match case.dir.reroute {
                Some(to) => Outcome::Reroute { to: to.into() },
                None => Outcome::Deny,
            };
            let want = if expected {
                fired_outcome
            } else {
                Outcome::Allow
            };
            prop_assert_eq!(&decision.outcome, &want, "engine vs meaning");
            prop_assert_eq!(
                decision.directive_ids(),
                if expected { id } else { none.clone() }
            );
            prop_assert_eq!(decision.shadow_ids(), none);
        }
        Mode::Shadow => {
            prop_assert_eq!(&decision.outcome, &Outcome::Allow);
            prop_assert_eq!(
                decision.shadow_ids(),
                if expected { id } else { none.clone() },
                "engine (shadow) vs meaning"
            );
            prop_assert_eq!(decision.directive_ids(), none);
        }
    }

    // Property 3: the compiled text, with Cedar alone.
    let directive = book.directive(&case.dir.id).unwrap();
    let text = clearance_policy::compile::cedar_text(directive);
    let forbids = cedar_forbids(&text, &facts, case.model, case.at).map_err(TestCaseError::fail)?;
    prop_assert_eq!(
        forbids,
        expected,
        "Cedar alone vs meaning; compiled:\n{}",
        text
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Properties 1 and 3: the engine and Cedar alone both fire the directive exactly when its
    /// meaning holds. (Record literals are on: a fresh book decides once, so its memo is cold.)
    #[test]
    fn a_directive_fires_exactly_when_its_meaning_holds(
        case in arb_single(Grammar { record_literals: true, ..GRAMMAR })
    ) {
        check_single(&case)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Property 2 and 4: directive sets and request sequences.

/// The reference reading of a set: shadow directives on the requested model; enforced ones
/// along the reroute path, deny winning over reroute, the first reroute (in id order) taken,
/// a reroute back to a model already tried is a deny.
fn reference_decide(
    dirs: &[Dir],
    facts: &Facts,
    model: &str,
    at: DateTime<Utc>,
) -> (Outcome, Vec<String>, Vec<String>) {
    let mut sorted: Vec<&Dir> = dirs.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let shadow: Vec<String> = sorted
        .iter()
        .filter(|d| d.mode == Mode::Shadow && d.fires(facts, model, at))
        .map(|d| d.id.clone())
        .collect();
    let mut enforced: Vec<String> = Vec::new();
    let mut visited = vec![model.to_string()];
    let mut current = model.to_string();
    let outcome = loop {
        let hits: Vec<&Dir> = sorted
            .iter()
            .copied()
            .filter(|d| d.mode == Mode::Enforce && d.fires(facts, &current, at))
            .collect();
        for hit in &hits {
            if !enforced.contains(&hit.id) {
                enforced.push(hit.id.clone());
            }
        }
        if hits.is_empty() {
            break if current == model {
                Outcome::Allow
            } else {
                Outcome::Reroute { to: current }
            };
        }
        if hits.iter().any(|d| d.reroute.is_none()) {
            break Outcome::Deny;
        }
        let target = hits.iter().find_map(|d| d.reroute).unwrap();
        if visited.iter().any(|v| v == target) {
            break Outcome::Deny;
        }
        visited.push(target.to_string());
        current = target.to_string();
    };
    (outcome, enforced, shadow)
}

/// Unknown facts read by the directives covering the requested model (in either mode).
fn reference_missing(dirs: &[Dir], facts: &Facts, model: &str) -> Vec<String> {
    let read: BTreeSet<String> = dirs
        .iter()
        .filter(|d| d.covers(model))
        .flat_map(Dir::reads)
        .collect();
    let missing = |fact: &str| facts.principal.missing.iter().any(|m| m == fact);
    let mut unknown = BTreeSet::new();
    for attribute in &read {
        match attribute.as_str() {
            "principal.citizenships" | "principal.us_citizen" | "principal.us_person"
                if missing("citizenships") =>
            {
                unknown.insert("citizenships");
            }
            "principal.residence" if missing("residence") => {
                unknown.insert("residence");
            }
            "principal.org" if missing("org") => {
                unknown.insert("org");
            }
            "context.country" if facts.request.country.is_none() => {
                unknown.insert("request_country");
            }
            "context.max_tokens" if facts.request.max_tokens.is_none() => {
                unknown.insert("max_tokens");
            }
            _ => {}
        }
    }
    unknown.into_iter().map(String::from).collect()
}

fn arb_dirs(grammar: Grammar) -> impl Strategy<Value = Vec<Dir>> {
    prop::collection::vec(arb_parts(grammar, 0.6), 1..=3).prop_map(|parts| {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.build(format!("D{i}")))
            .collect()
    })
}

fn set_sources(dirs: &[Dir]) -> Vec<SourceFile> {
    dirs.iter().map(Dir::source).collect()
}

fn set_edges(dirs: &[Dir]) -> Vec<i64> {
    let mut edges: Vec<i64> = dirs.iter().flat_map(Dir::edges).collect();
    edges.sort_unstable();
    edges.dedup();
    edges
}

struct Step {
    principal: usize,
    request: usize,
    model: &'static str,
    at: DateTime<Utc>,
}

struct SetCase {
    dirs: Vec<Dir>,
    principals: Vec<Principal>,
    requests: Vec<RequestFacts>,
    steps: Vec<Step>,
}

impl fmt::Debug for SetCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for dir in &self.dirs {
            writeln!(f, "{dir:?}")?;
        }
        for (i, p) in self.principals.iter().enumerate() {
            writeln!(f, "principal {i}: {}", show_principal(p))?;
        }
        for (i, r) in self.requests.iter().enumerate() {
            writeln!(f, "request {i}:   {}", show_request(r))?;
        }
        for (n, s) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "step {n}: principal {} request {} model {} at {} ({})",
                s.principal,
                s.request,
                s.model,
                s.at.to_rfc3339(),
                s.at.timestamp()
            )?;
        }
        Ok(())
    }
}

fn arb_set_case(
    grammar: Grammar,
    steps: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = SetCase> {
    (
        arb_dirs(grammar),
        prop::collection::vec(arb_principal(), 1..=3),
        prop::collection::vec(arb_request(), 1..=2),
        prop::collection::vec(
            (
                any::<Index>(),
                any::<Index>(),
                select(&MODELS[..]),
                any::<Index>(),
                select(&[0_u32, 500_000_000][..]),
            ),
            steps,
        ),
    )
        .prop_map(|(dirs, principals, requests, raw_steps)| {
            let edges = set_edges(&dirs);
            let steps = raw_steps
                .into_iter()
                .map(|(p, r, model, edge, nanos)| Step {
                    principal: p.index(principals.len()),
                    request: r.index(requests.len()),
                    model,
                    at: time(*edge.get(&edges), nanos),
                })
                .collect();
            SetCase {
                dirs,
                principals,
                requests,
                steps,
            }
        })
}

fn compile_set(dirs: &[Dir]) -> Result<PolicyBook, TestCaseError> {
    PolicyBook::compile(&set_sources(dirs), &catalog())
        .map_err(|e| TestCaseError::fail(format!("the set does not compile: {e}")))
}

/// Property 2: a warm book decides every request as a cold one.
fn check_memo(case: &SetCase) -> Result<(), TestCaseError> {
    let warm = compile_set(&case.dirs)?;
    for (n, step) in case.steps.iter().enumerate() {
        let facts = facts_of(
            &case.principals[step.principal],
            &case.requests[step.request],
        );
        let query = Query {
            principal_id: PRINCIPAL_ID,
            facts: &facts,
            model: step.model,
            at: step.at,
        };
        let a = warm.decide(&query);
        let b = compile_set(&case.dirs)?.decide(&query);
        prop_assert_eq!(&a.outcome, &b.outcome, "outcome at step {}", n);
        prop_assert_eq!(
            a.directive_ids(),
            b.directive_ids(),
            "directives at step {}",
            n
        );
        prop_assert_eq!(a.shadow_ids(), b.shadow_ids(), "shadow at step {}", n);
        prop_assert_eq!(
            &a.shadow_outcome,
            &b.shadow_outcome,
            "shadow outcome at step {}",
            n
        );
        prop_assert_eq!(
            &a.missing_facts,
            &b.missing_facts,
            "missing facts at step {}",
            n
        );
        prop_assert_eq!(&a.facts_read, &b.facts_read, "facts read at step {}", n);
    }
    Ok(())
}

/// Property 4: the set decides as its reference reading, and a reroute's target is allowed.
fn check_set(case: &SetCase) -> Result<(), TestCaseError> {
    let book = compile_set(&case.dirs)?;
    for (n, step) in case.steps.iter().enumerate() {
        let facts = facts_of(
            &case.principals[step.principal],
            &case.requests[step.request],
        );
        let decision = book.decide(&Query {
            principal_id: PRINCIPAL_ID,
            facts: &facts,
            model: step.model,
            at: step.at,
        });
        let (outcome, enforced, shadow) = reference_decide(&case.dirs, &facts, step.model, step.at);
        prop_assert_eq!(&decision.outcome, &outcome, "outcome at step {}", n);
        prop_assert_eq!(
            &decision.directive_ids(),
            &enforced,
            "directives at step {}",
            n
        );
        prop_assert_eq!(&decision.shadow_ids(), &shadow, "shadow at step {}", n);
        let fired_reads: BTreeSet<String> = case
            .dirs
            .iter()
            .filter(|d| enforced.contains(&d.id) || shadow.contains(&d.id))
            .flat_map(Dir::reads)
            .collect();
        prop_assert_eq!(
            decision.facts_read.iter().cloned().collect::<BTreeSet<_>>(),
            fired_reads,
            "facts read at step {}",
            n
        );
        prop_assert_eq!(
            &decision.missing_facts,
            &reference_missing(&case.dirs, &facts, step.model),
            "missing facts at step {}",
            n
        );
        if let Outcome::Reroute { to } = &decision.outcome {
            let direct = book.decide(&Query {
                principal_id: PRINCIPAL_ID,
                facts: &facts,
                model: to,
                at: step.at,
            });
            prop_assert_eq!(
                &direct.outcome,
                &Outcome::Allow,
                "reroute target {} at step {}",
                to,
                n
            );
            prop_assert!(direct.directive_ids().is_empty());
            let firing: Vec<&str> = case
                .dirs
                .iter()
                .filter(|d| d.mode == Mode::Enforce && d.fires(&facts, to, step.at))
                .map(|d| d.id.as_str())
                .collect();
            prop_assert!(
                firing.is_empty(),
                "{:?} fire on reroute target {}",
                firing,
                to
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    /// Property 2: remembered results never differ from a fresh evaluation.
    #[test]
    fn remembered_results_never_differ_from_a_fresh_evaluation(
        case in arb_set_case(GRAMMAR, 4..=12)
    ) {
        check_memo(&case)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Property 4: a directive set decides as its meaning; reroute targets are always allowed.
    #[test]
    fn a_set_decides_as_its_meaning_and_reroutes_only_to_allowed_models(
        case in arb_set_case(GRAMMAR, 1..=6)
    ) {
        check_set(&case)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal cases of bugs these properties found, kept as regression tests.

fn bjorn_and_alice() -> (Facts, Facts) {
    let people = common::story();
    let request = RequestFacts {
        country: Some("US".parse().unwrap()),
        capabilities: BTreeSet::new(),
        api: ApiSurface::OpenaiChat,
        max_tokens: None,
        app: None,
    };
    (
        facts_of(&people[1], &request),
        facts_of(&people[0], &request),
    )
}

fn decide(book: &PolicyBook, facts: &Facts, model: &str, at: &str) -> Outcome {
    book.decide(&Query {
        principal_id: PRINCIPAL_ID,
        facts,
        model,
        at: common::at(at),
    })
    .outcome
}

/// Was a bug: `resource in [Model::"open-model", ModelTag::"controlled"]` mixed entity types
/// in one set literal, which Cedar's strict validation refuses.
#[test]
fn a_directive_may_name_models_and_tags_together() {
    let source = common::directive(
        "MIXED",
        "mode = \"enforce\"\nmodels = [\"open-model\"]\ntags = [\"controlled\"]\neffect = \"deny\"",
    );
    let book = PolicyBook::compile(&[source], &catalog()).unwrap_or_else(|e| panic!("{e}"));
    let (bjorn, _) = bjorn_and_alice();
    for (model, expected) in [
        ("open-model", Outcome::Deny),
        ("mythos-5", Outcome::Deny),
        ("gpt-5", Outcome::Allow),
    ] {
        assert_eq!(
            decide(&book, &bjorn, model, "2026-07-01T00:00:00Z"),
            expected,
            "{model}"
        );
    }
}

/// Was a bug: the memo's key lists the attributes `plain_reads` finds, and it skipped a word right
/// after `:`, so `{"v":principal.us_person}.v` reads `us_person` without it being in the key:
/// the first caller's answer is remembered for everyone.
#[test]
fn record_literal_reads_are_remembered_with_their_inputs() {
    let book = common::book(&[common::directive(
        "REC",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = '!{\"v\":principal.us_person}.v'\neffect = \"deny\"",
    )]);
    let (bjorn, alice) = bjorn_and_alice();
    let at = "2026-07-01T00:00:00Z";
    assert_eq!(decide(&book, &alice, "mythos-5", at), Outcome::Allow);
    assert_eq!(
        decide(&book, &bjorn, "mythos-5", at),
        Outcome::Deny,
        "bjorn is not a US person"
    );
}

/// Was a bug (usability, not safety): a condition ending in a `//` comment is a valid Cedar
/// expression, but `cedar_text` puts the closing `}` on the same line, so the comment swallows
/// it and the whole set is refused with a Cedar parse error.
#[test]
fn a_condition_may_end_in_a_comment() {
    let source = common::directive(
        "NOTE",
        "mode = \"enforce\"\nmodels = [\"mythos-5\"]\nwhen = \"\"\"\n!principal.us_person // EAR 772.1\n\"\"\"\neffect = \"deny\"",
    );
    let book = PolicyBook::compile(&[source], &catalog()).unwrap_or_else(|e| panic!("{e}"));
    let (bjorn, alice) = bjorn_and_alice();
    assert_eq!(
        decide(&book, &bjorn, "mythos-5", "2026-07-01T00:00:00Z"),
        Outcome::Deny
    );
    assert_eq!(
        decide(&book, &alice, "mythos-5", "2026-07-01T00:00:00Z"),
        Outcome::Allow
    );
}

/// Windows hold to the second and the compiled policy compares whole seconds, so a fraction of
/// a second (where Rust's pre-check and Cedar disagreed, and a remembered result could leak
/// across times) is refused outright.
#[test]
fn fractions_of_a_second_are_refused() {
    for field in [
        "effective = \"2026-06-15T00:00:00.5Z\"",
        "expires = \"2026-06-16T00:00:00.5Z\"",
    ] {
        let text = format!(
            "id = \"FRAC\"\ntitle = \"t\"\nauthority = \"a\"\n{}\nmode = \"enforce\"\nmodels = [\"mythos-5\"]\neffect = \"deny\"\n",
            if field.starts_with("effective") {
                field.to_string()
            } else {
                format!("effective = \"2026-06-15T00:00:00Z\"\n{field}")
            }
        );
        let errors =
            match PolicyBook::compile(&[common::toml_source("FRAC.toml", &text)], &catalog()) {
                Ok(_) => panic!("a fractional time compiled: {field}"),
                Err(errors) => errors.to_string(),
            };
        assert!(errors.contains("fraction of a second"), "{errors}");
    }
}
