//! Directive files, whatever they hold: the TOML directive reader (`directive::parse_toml`) and
//! the whole check-and-compile (`PolicyBook::compile`, the file read both as `.toml` and as a
//! raw `.cedar` policy) return a directive set or every problem found, never panic, and each
//! problem names the file and a line inside it. A set that compiles decides a request for every
//! catalog model: a deny names its directive, a reroute goes to another catalog model.
#![no_main]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::facts::{Capability, Facts, PrincipalFacts, RequestFacts};
use clearance_policy::directive::parse_toml;
use clearance_policy::{
    Catalog, CatalogModel, DirectiveError, Outcome, PolicyBook, Query, SourceFile,
};
use libfuzzer_sys::fuzz_target;

/// The demo's catalog (demo/clearance.toml).
fn catalog() -> Catalog {
    let model = |name: &str, provider: &str, tags: &[&str]| CatalogModel {
        name: name.to_string(),
        provider: provider.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    Catalog {
        models: vec![
            model("mythos-5", "acme", &["frontier", "controlled"]),
            model("fable-5", "acme", &["frontier", "controlled"]),
            model("gpt-5", "openlab", &["frontier"]),
            model("open-model", "openlab", &["open-weights", "self-hosted"]),
            model("gemini-flash", "google", &["frontier"]),
        ],
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let lines = text.lines().count();
    let toml = Path::new("directives/fuzz.toml");
    if let Err(errors) = parse_toml(toml, text) {
        assert!(!errors.is_empty(), "a refused directive names a problem");
        check_errors(&errors, toml, lines);
    }
    let catalog = catalog();
    for path in ["directives/fuzz.toml", "directives/fuzz.cedar"] {
        let source = SourceFile {
            path: PathBuf::from(path),
            text: text.to_string(),
        };
        match PolicyBook::compile(&[source], &catalog) {
            Ok(book) => decide_every_model(&book, &catalog),
            Err(errors) => {
                assert!(!errors.0.is_empty(), "a refused set names a problem");
                check_errors(&errors.0, Path::new(path), lines);
                let _ = errors.to_string();
            }
        }
    }
});

fn check_errors(errors: &[DirectiveError], file: &Path, lines: usize) {
    for error in errors {
        assert_eq!(error.file, file, "{error}");
        if let Some(line) = error.line {
            assert!(
                (1..=lines + 1).contains(&line),
                "line {line} of a {lines}-line file: {error}"
            );
        }
    }
}

fn decide_every_model(book: &PolicyBook, catalog: &Catalog) {
    let nobody = Facts {
        principal: PrincipalFacts::default(),
        request: RequestFacts {
            country: None,
            capabilities: BTreeSet::new(),
            api: ApiSurface::OpenaiChat,
            max_tokens: None,
            app: None,
        },
    };
    let everything = Facts {
        principal: PrincipalFacts {
            us_person: true,
            us_citizen: true,
            employee: true,
            org: Some("acme-labs".to_string()),
            roles: BTreeSet::from(["engineer".to_string()]),
            ..PrincipalFacts::default()
        },
        request: RequestFacts {
            country: None,
            capabilities: Capability::ALL.into_iter().collect(),
            api: ApiSurface::AnthropicMessages,
            max_tokens: Some(5000),
            app: Some("fuzz-app".to_string()),
        },
    };
    let at = Utc
        .with_ymd_and_hms(2026, 7, 1, 12, 0, 0)
        .single()
        .expect("a valid time");
    for model in &catalog.models {
        for facts in [&nobody, &everything] {
            let decision = book.decide(&Query {
                principal_id: "fuzz",
                facts,
                model: &model.name,
                at,
            });
            assert_eq!(decision.policy_version, book.version());
            match &decision.outcome {
                Outcome::Allow => {}
                Outcome::Deny => assert!(decision.denying().is_some(), "a deny names a directive"),
                Outcome::Reroute { to } => {
                    assert_ne!(to, &model.name, "a reroute goes elsewhere");
                    assert!(
                        catalog.models.iter().any(|m| &m.name == to),
                        "a reroute goes to a catalog model"
                    );
                }
            }
        }
    }
}
