//! docs/threat-model.md points each mitigation at the test that proves it; every test it
//! names (`file.rs::test_name`) must exist, so a renamed or deleted test cannot leave the
//! threat model citing nothing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

const DOC: &str = include_str!("../../../docs/threat-model.md");

/// Every `fn NAME` in the workspace's Rust files.
fn functions(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            functions(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let Some((_, after)) = line.split_once("fn ") else {
                    continue;
                };
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
    }
}

/// The test names cited as `` `something.rs::name` `` (or `…::module::name`).
fn cited() -> Vec<String> {
    DOC.split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.contains(".rs") && code.contains("::"))
        .filter_map(|code| code.rsplit("::").next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_test_the_threat_model_cites_exists() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = BTreeSet::new();
    functions(&crates, &mut found);
    let cited = cited();
    assert!(cited.len() > 30, "few citations found: {cited:?}");
    let missing: Vec<&String> = cited.iter().filter(|name| !found.contains(*name)).collect();
    assert!(
        missing.is_empty(),
        "docs/threat-model.md cites tests that do not exist: {missing:?}"
    );
}
