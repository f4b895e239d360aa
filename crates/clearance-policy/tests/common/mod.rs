//! Shared fixtures: the demo catalog, the story's principals, and a directive writer.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_core::principal::Principal;
use clearance_policy::{Catalog, CatalogModel, PolicyBook, SourceFile};

pub fn catalog() -> Catalog {
    let model = |name: &str, provider: &str, tags: &[&str]| CatalogModel {
        name: name.into(),
        provider: provider.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    Catalog {
        models: vec![
            model("mythos-5", "acme", &["frontier", "controlled"]),
            model("fable-5", "acme", &["frontier", "controlled"]),
            model("gpt-5", "openlab", &["frontier"]),
            model("open-model", "openlab", &["open-weights"]),
        ],
    }
}

pub fn principal(
    id: &str,
    citizenships: &[&str],
    residency: &[&str],
    protected: bool,
    residence: Option<&str>,
) -> Principal {
    Principal {
        id: id.parse().unwrap(),
        name: id.to_string(),
        citizenships: citizenships.iter().map(|c| c.parse().unwrap()).collect(),
        permanent_residency: residency.iter().map(|c| c.parse().unwrap()).collect(),
        protected_individual: protected,
        residence: residence.map(|c| c.parse().unwrap()),
        org: Some("acme".into()),
        employee: true,
        roles: BTreeSet::new(),
        screening: None,
        active: true,
        facts_confirmed_at: None,
    }
}

/// The story's registry: who each person is decides what each wording does to them.
pub fn story() -> Vec<Principal> {
    vec![
        principal("alice", &["US"], &[], false, Some("FR")), // US citizen abroad
        principal("bjorn", &["SE"], &[], false, Some("US")), // foreign national employee in the US
        principal("carla", &["US", "MX"], &[], false, Some("MX")), // dual national
        principal("dev", &["IN"], &["US"], false, Some("US")), // green-card holder
        principal("farah", &["SY"], &[], true, Some("US")),  // refugee
        Principal {
            org: None,
            employee: false,
            ..principal("ghost", &[], &[], false, None)
        }, // no facts
        principal("li", &["CN"], &[], false, Some("CN")),
        principal("olga", &["RU"], &[], false, Some("DE")),
        principal("hans", &["DE"], &[], false, Some("DE")),
    ]
}

pub fn facts_of(p: &Principal, country: Option<&str>, capabilities: &[Capability]) -> Facts {
    Facts {
        principal: p.into(),
        request: RequestFacts {
            country: country.map(|c| c.parse().unwrap()),
            capabilities: capabilities.iter().copied().collect(),
            api: ApiSurface::OpenaiChat,
            max_tokens: None,
            app: None,
        },
    }
}

pub fn no_principal_facts() -> PrincipalFacts {
    (&story()[5]).into()
}

pub fn toml_source(name: &str, text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(format!("directives/{name}")),
        text: text.to_string(),
    }
}

/// A directive file with the given lines after the fixed header.
pub fn directive(id: &str, body: &str) -> SourceFile {
    toml_source(
        &format!("{id}.toml"),
        &format!(
            "id = \"{id}\"\ntitle = \"Directive {id}\"\nauthority = \"Order {id}\"\neffective = \"2026-06-15T00:00:00Z\"\n{body}\n"
        ),
    )
}

pub fn book(sources: &[SourceFile]) -> PolicyBook {
    PolicyBook::compile(sources, &catalog()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}
