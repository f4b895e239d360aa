//! Principal files (CSV with a header row, or JSONL), whatever they hold: `parse_principals`
//! imports every row or reports every bad one, never panics. A refused file's problems are in
//! line order and point at lines of the file; an accepted file has unique ids, no more
//! principals than lines, and every fact within its cap (`clearance_core::limits`).
#![no_main]

use std::collections::BTreeSet;

use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::limits::{
    MAX_COUNTRIES, MAX_NAME_CHARS, MAX_ORG_CHARS, MAX_ROLE_CHARS, MAX_ROLES, principal_id_problem,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // Lines as the CSV reader and the JSONL reader count them: `\n`, `\r\n` or a lone `\r`.
    let lines = text.matches('\n').count() + text.matches('\r').count() + 1;
    for format in [ImportFormat::Csv, ImportFormat::Jsonl] {
        match parse_principals(text, format) {
            Ok(principals) => {
                assert!(principals.len() <= lines, "{format:?}");
                let ids: BTreeSet<_> = principals.iter().map(|p| p.id.to_string()).collect();
                assert_eq!(ids.len(), principals.len(), "{format:?}: ids are unique");
                for p in &principals {
                    assert!(p.citizenships.len() <= MAX_COUNTRIES);
                    assert!(p.permanent_residency.len() <= MAX_COUNTRIES);
                    assert!(p.roles.len() <= MAX_ROLES);
                    assert!(p.roles.iter().all(|r| r.chars().count() <= MAX_ROLE_CHARS));
                    assert!(
                        p.org
                            .as_ref()
                            .is_none_or(|o| o.chars().count() <= MAX_ORG_CHARS)
                    );
                    assert!(p.name.chars().count() <= MAX_NAME_CHARS);
                    assert_eq!(principal_id_problem(p.id.as_str()), None);
                }
            }
            Err(errors) => {
                assert!(
                    !errors.is_empty(),
                    "{format:?}: a refused file names a problem"
                );
                assert!(
                    errors.windows(2).all(|w| w[0].line <= w[1].line),
                    "{format:?}: problems in line order"
                );
                for error in &errors {
                    assert!(
                        (1..=lines as u64).contains(&error.line),
                        "{format:?}: line {} of {lines}: {error}",
                        error.line
                    );
                }
            }
        }
    }
});
