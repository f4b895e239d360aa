//! A grid of concrete callers: every combination of a few values per fact, on every catalog
//! model, from a few countries, at a few times. The linter uses a sample of it to tell
//! directives apart without a solver; the property tests use all of it as the exhaustive
//! check a proof must agree with.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::country::CountryCode;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_core::screening::{ScreeningFact, ScreeningStatus};
use clearance_policy::Catalog;

use crate::assume::Window;
use crate::witness::Caller;

/// The most callers [`callers`] returns.
const SAMPLE: usize = 4_000;

fn countries(codes: &[&str]) -> BTreeSet<CountryCode> {
    codes.iter().filter_map(|c| c.parse().ok()).collect()
}

/// Every principal of the grid.
pub fn principals() -> Vec<Principal> {
    let citizenships: [&[&str]; 5] = [&[], &["US"], &["IN"], &["CN"], &["US", "IN"]];
    let residency: [&[&str]; 2] = [&[], &["US"]];
    let residences = [None, Some("US"), Some("CN")];
    let orgs = [None, Some("acme")];
    let roles: [&[&str]; 2] = [&[], &["admin"]];
    let screenings = [
        None,
        Some(ScreeningStatus::Clear),
        Some(ScreeningStatus::Match),
    ];
    let mut all = Vec::new();
    for c in citizenships {
        for r in residency {
            for protected in [false, true] {
                for employee in [false, true] {
                    for residence in residences {
                        for org in orgs {
                            for role in roles {
                                for screening in screenings {
                                    let id = format!("grid-{}", all.len());
                                    let Ok(id) = id.parse() else { continue };
                                    let mut p = Principal::new(id);
                                    p.citizenships = countries(c);
                                    p.permanent_residency = countries(r);
                                    p.protected_individual = protected;
                                    p.employee = employee;
                                    p.residence = residence.and_then(|r| r.parse().ok());
                                    p.org = org.map(String::from);
                                    p.roles = role.iter().map(|s| s.to_string()).collect();
                                    p.screening = screening.map(|status| ScreeningFact {
                                        status,
                                        ..ScreeningFact::from_matches(
                                            Vec::new(),
                                            Vec::new(),
                                            "grid",
                                            DateTime::<Utc>::UNIX_EPOCH,
                                        )
                                    });
                                    p.facts_confirmed_at = Some(Utc::now());
                                    all.push(p);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    all
}

/// Every request of the grid for one model at one time.
pub fn requests() -> Vec<RequestFacts> {
    let mut all = Vec::new();
    for country in [None, Some("US"), Some("CN"), Some("DE")] {
        for capabilities in [vec![], vec![Capability::Tools, Capability::Stream]] {
            for max_tokens in [None, Some(100)] {
                all.push(RequestFacts {
                    country: country.and_then(|c| c.parse().ok()),
                    capabilities: capabilities.iter().copied().collect(),
                    api: ApiSurface::OpenaiChat,
                    max_tokens,
                    app: None,
                });
            }
        }
    }
    all
}

/// Every grid caller on every model at every one of `times`.
pub fn all_callers(catalog: &Catalog, times: &[DateTime<Utc>]) -> Vec<Caller> {
    let principals = principals();
    let requests = requests();
    let mut all = Vec::new();
    for p in &principals {
        let facts = PrincipalFacts::from(p);
        for request in &requests {
            for model in &catalog.models {
                for at in times {
                    all.push(Caller {
                        principal_id: p.id.as_str().to_string(),
                        facts: Facts {
                            principal: facts.clone(),
                            request: request.clone(),
                        },
                        model: model.name.clone(),
                        at: *at,
                    });
                }
            }
        }
    }
    all
}

/// A spread sample of the grid in `window` (its start, and a year later when open-ended).
pub fn callers(catalog: &Catalog, window: &Window) -> Vec<Caller> {
    let later = window
        .until
        .map(|u| u - chrono::Duration::seconds(1))
        .unwrap_or(window.from + chrono::Duration::days(365));
    let times = if later > window.from {
        vec![window.from, later]
    } else {
        vec![window.from]
    };
    let all = all_callers(catalog, &times);
    if all.len() <= SAMPLE {
        return all;
    }
    // A stride coprime with the grid's size visits a spread of every dimension.
    let stride = (0..)
        .map(|k| all.len() / SAMPLE + 1 + k)
        .find(|s| gcd(*s, all.len()) == 1)
        .unwrap_or(1);
    (0..SAMPLE)
        .map(|i| all[(i * stride) % all.len()].clone())
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The kind of caller, in the terms US-person rules are written in (see
/// `diff::profile`): US citizen, US permanent resident, protected, citizenship unknown.
pub fn kind(caller: &Caller) -> [bool; 4] {
    let p = &caller.facts.principal;
    [
        p.citizenships.contains(&CountryCode::US),
        p.permanent_residency.contains(&CountryCode::US),
        p.protected_individual,
        p.citizenships.is_empty(),
    ]
}

/// How many things about a caller a reader would find unusual: asked later than the window's
/// start, with capabilities or a limit, facts unknown, roles or a screening match, from
/// somewhere other than where they live.
fn unusual(c: &Caller, window: &Window) -> usize {
    let p = &c.facts.principal;
    let r = &c.facts.request;
    [
        c.at != window.from,
        !r.capabilities.is_empty(),
        r.max_tokens.is_some(),
        !p.missing.is_empty(),
        !p.roles.is_empty(),
        p.screening
            .as_ref()
            .is_some_and(|s| s.status != ScreeningStatus::Clear),
        r.country != p.residence,
    ]
    .into_iter()
    .filter(|unusual| *unusual)
    .count()
}

/// A sample of concrete callers the analyses try before asking the solver: a finding a grid
/// caller shows needs no query (and its example is an ordinary person), and two directives a
/// grid caller tells apart are not one shadowing the other.
pub struct Sample {
    pub callers: Vec<Caller>,
}

impl Sample {
    /// The grid sample, most ordinary callers first, so the example a finding shows is the
    /// most ordinary caller of its kind.
    pub fn new(catalog: &Catalog, window: &Window) -> Sample {
        let mut callers = callers(catalog, window);
        callers.sort_by_key(|c| unusual(c, window));
        Sample { callers }
    }

    /// Up to `most` callers on `model` for whom `check` holds, each of a different [`kind`]:
    /// first callers that differ in US citizenship, residency or protection, then ones that
    /// differ only in whether the citizenship is known.
    pub fn find(&self, model: &str, most: usize, check: impl Fn(&Caller) -> bool) -> Vec<&Caller> {
        let mut found: Vec<&Caller> = Vec::new();
        let status = |c: &Caller| {
            let [citizen, resident, protected, _] = kind(c);
            [citizen, resident, protected]
        };
        let on_model = || self.callers.iter().filter(|c| c.model == model);
        for caller in on_model() {
            if found.len() == most {
                return found;
            }
            if !found.iter().any(|f| status(f) == status(caller)) && check(caller) {
                found.push(caller);
            }
        }
        for caller in on_model() {
            if found.len() == most {
                break;
            }
            if !found.iter().any(|f| kind(f) == kind(caller)) && check(caller) {
                found.push(caller);
            }
        }
        found
    }
}
