//! Shared fixtures: the demo catalog, directive sets from text, a solver.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clearance_policy::{PolicyBook, SourceFile};
use clearance_proof::{Prover, Window};

/// The demo catalog the policy crate's tests use: mythos-5 and fable-5 (`frontier`,
/// `controlled`), gpt-5 (`frontier`), open-model (`open-weights`).
#[path = "../../../clearance-policy/tests/common/mod.rs"]
mod policy_common;

pub use policy_common::catalog;

/// Every counterexample of a report reproduced through `decide`.
pub fn assert_all_reproduced(not_reproduced: &[clearance_proof::diff::NotReproduced]) {
    assert!(
        not_reproduced.is_empty(),
        "every counterexample reproduces: {not_reproduced:?}"
    );
}

/// A TOML directive with the fields every test needs, plus `extra` lines.
pub fn directive(id: &str, mode: &str, extra: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(format!("{id}.toml")),
        text: format!(
            "id = \"{id}\"\ntitle = \"{id}\"\nauthority = \"test\"\neffective = \"2026-06-15T00:00:00Z\"\nmode = \"{mode}\"\n{extra}\n"
        ),
    }
}

pub fn book(sources: &[SourceFile]) -> PolicyBook {
    PolicyBook::compile(sources, &catalog()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Requests from the story's day onwards.
pub fn from_story_day() -> Window {
    Window {
        from: at("2026-06-15T00:00:00Z"),
        until: None,
    }
}

pub fn prover() -> Prover {
    let program = clearance_config::env_var(clearance_proof::prover::SOLVER_ENV)
        .unwrap_or_else(|| clearance_proof::prover::DEFAULT_SOLVER.to_string());
    Prover::start(&program).expect("cvc5 is installed (scripts/test.sh installs it)")
}

/// The story's directive: Fable 5 and Mythos 5, no access for persons who are not US persons.
pub fn story(condition: &str) -> SourceFile {
    directive(
        "EXD-2026-06",
        "enforce",
        &format!("models = [\"fable-5\", \"mythos-5\"]\nwhen = '{condition}'\neffect = \"deny\""),
    )
}
