//! What the policy benches share: the countries drawn from, and random principals with their
//! request facts.

use std::collections::BTreeSet;

use clearance_core::api::ApiSurface;
use clearance_core::facts::{Capability, Facts, RequestFacts};
use clearance_core::principal::Principal;
use rand::Rng;
use rand::rngs::StdRng;

pub const COUNTRIES: [&str; 12] = [
    "US", "DE", "FR", "CN", "RU", "IN", "MX", "SE", "SY", "BR", "JP", "GB",
];

/// `n` principals with random citizenships, residence, org and employment, each asking from a
/// random country, a third of them with tools.
pub fn principals(n: usize, rng: &mut StdRng) -> Vec<(String, Facts)> {
    (0..n)
        .map(|i| {
            let citizenships: BTreeSet<_> = (0..rng.random_range(0..3))
                .map(|_| COUNTRIES[rng.random_range(0..12)].parse().unwrap())
                .collect();
            let p = Principal {
                id: format!("p{i}").parse().unwrap(),
                name: format!("Person {i}"),
                citizenships,
                permanent_residency: BTreeSet::new(),
                protected_individual: rng.random_bool(0.01),
                residence: Some(COUNTRIES[rng.random_range(0..12)].parse().unwrap()),
                org: Some(format!("org-{}", i % 40)),
                employee: rng.random_bool(0.5),
                roles: BTreeSet::new(),
                screening: None,
                active: true,
                facts_confirmed_at: None,
            };
            let facts = Facts {
                principal: (&p).into(),
                request: RequestFacts {
                    country: Some(COUNTRIES[rng.random_range(0..12)].parse().unwrap()),
                    capabilities: if rng.random_bool(0.3) {
                        [Capability::Tools].into()
                    } else {
                        BTreeSet::new()
                    },
                    api: ApiSurface::OpenaiChat,
                    max_tokens: Some(512),
                    app: None,
                },
            };
            (format!("p{i}"), facts)
        })
        .collect()
}
