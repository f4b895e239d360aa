//! Caps on what an import may put in the registry, and so in every audit record.
//!
//! The audit log is append-only and permanent, and each record keeps a snapshot of the caller's
//! principal facts ([`crate::facts::PrincipalFacts`]). A fact that an import may make as large as
//! it likes would be copied, at that size, into every record of every request that principal
//! makes, for ever. So every principal fact that comes from a principal file has a cap, checked
//! by [`crate::import::parse_principals`] (a row over a cap is refused with its line, like any
//! other bad row, and the file imports not at all).
//!
//! Lengths are counted in characters (Unicode scalar values), after the surrounding whitespace is
//! trimmed, that is: as stored. List caps count distinct entries, as stored (a list is a set).
//!
//! | cap | value | why |
//! |---|---|---|
//! | [`MAX_PRINCIPAL_ID_CHARS`] | 256 | In every record (`principal_id`) and every key; long enough for any email address (at most 254) or employee number. |
//! | [`PRINCIPAL_ID_PUNCTUATION`] | `. _ - @ :` | An id holds only ASCII letters, digits and these, and starts with a letter or digit: no path separators (`../../q8`), CSV or list separators (`q7,evil`), spaces, quotes or look-alike letters from other scripts. Email addresses (`alice@example.com`), `domain:user` and `first.last` ids pass. |
//! | [`MAX_NAME_CHARS`] | 256 | A display name; not in the facts snapshot, but shown by `principals show` and the admin API. Equal to the id cap because an absent name defaults to the id. |
//! | [`MAX_ORG_CHARS`] | 128 | In every record's facts; an organisation or department name, not a description. |
//! | [`MAX_ROLE_CHARS`] | 64 | Each role is in every record's facts; a role is a short name (`engineer`, `export-reviewer`). |
//! | [`MAX_ROLES`] | 32 | Roles per principal; with [`MAX_ROLE_CHARS`] this bounds the largest fact in a record. |
//! | [`MAX_COUNTRIES`] | 16 | Entries in each of `citizenships` and `permanent_residency`; each entry is a two-letter code already, and nobody holds more than a handful. |
//!
//! `name`, `org` and each role also hold no control characters (a control character is six bytes
//! of JSON escape in a record, and an escape sequence on an operator's terminal). `residence`,
//! `protected_individual` and `employee` need no cap of their own: a country code or a yes/no.
//!
//! Together the caps bound a principal's facts snapshot to about 9 KiB of JSON at worst (every
//! cap reached with four-byte characters; tested below), and in practice a few hundred bytes.
//!
//! Principals already in a store are not re-checked when they are read back: these caps gate
//! what an import may add, and a principal stored before them still loads (see
//! [`crate::principal::PrincipalId`]).

/// The largest audit record, in bytes of JSON: a record is a leaf of the verifiable log, and
/// C2SP tlog-tiles entry bundles carry each entry's length in two bytes. Requests' records are
/// far below it (a few KiB at every cap: `limits.rs` in the gateway's tests); operators' changes
/// that list many things (an import, a deletion, a directive set's texts) are split into parts or
/// list by hash to stay within [`CHANGE_DETAILS_BUDGET`].
pub const MAX_RECORD_BYTES: usize = 65_535;

/// The most JSON a change record's `details` may take, leaving room under [`MAX_RECORD_BYTES`]
/// for the rest of the record.
pub const CHANGE_DETAILS_BUDGET: usize = 48 * 1024;

/// Splits `entries` into consecutive parts whose JSON stays within `budget` bytes and `max`
/// entries (at least one entry a part, and one empty part for no entries): how a change that
/// lists many things is recorded whole, in as many records as it takes.
pub fn parts_within<T: serde::Serialize>(entries: &[T], budget: usize, max: usize) -> Vec<&[T]> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size = serde_json::to_string(entry).map_or(0, |s| s.len()) + 1;
        if i > start && (bytes + size > budget || i - start >= max) {
            parts.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < entries.len() || parts.is_empty() {
        parts.push(&entries[start..]);
    }
    parts
}

/// The longest principal id, in characters.
pub const MAX_PRINCIPAL_ID_CHARS: usize = 256;

/// The punctuation a principal id may hold besides ASCII letters and digits (its first character
/// must be a letter or digit).
pub const PRINCIPAL_ID_PUNCTUATION: &[char] = &['.', '_', '-', '@', ':'];

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// The longest `org`, in characters.
pub const MAX_ORG_CHARS: usize = 128;

/// The longest single role, in characters.
pub const MAX_ROLE_CHARS: usize = 64;

/// The most roles one principal may have.
pub const MAX_ROLES: usize = 32;

/// The most entries in each country list (`citizenships`, `permanent_residency`).
pub const MAX_COUNTRIES: usize = 16;

/// A requested model name that names no configured model is recorded as asked (and answered
/// 404) up to this length, or the longest configured name if that is longer; a longer name is
/// refused with 400 before it reaches the record.
pub const MAX_REQUESTED_MODEL_BYTES: usize = 256;

/// A client key's name: it is the `app` fact of every request made with the key, so it is in
/// every record those requests leave.
pub const MAX_KEY_NAME_CHARS: usize = 64;

/// Whether `c` may appear in a principal id imported from a file (anywhere but first).
pub fn principal_id_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || PRINCIPAL_ID_PUNCTUATION.contains(&c)
}

/// Why `id` (already trimmed) may not be imported as a principal id, or `None` when it may:
/// the length cap, then the character set, then the first character. The message does not
/// repeat an over-long id.
pub fn principal_id_problem(id: &str) -> Option<String> {
    let len = id.chars().count();
    if len > MAX_PRINCIPAL_ID_CHARS {
        return Some(format!(
            "{len} characters, more than the {MAX_PRINCIPAL_ID_CHARS} allowed"
        ));
    }
    if let Some(bad) = id.chars().find(|c| !principal_id_char_allowed(*c)) {
        return Some(format!(
            "`{}` contains {}; an id may hold only ASCII letters, digits and {}",
            id.escape_debug(),
            describe_char(bad),
            allowed_punctuation()
        ));
    }
    match id.chars().next() {
        Some(first) if !first.is_ascii_alphanumeric() => Some(format!(
            "`{id}` starts with `{first}`; an id starts with an ASCII letter or digit"
        )),
        _ => None,
    }
}

fn allowed_punctuation() -> String {
    PRINCIPAL_ID_PUNCTUATION
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A character as a message shows it: visible ones quoted, the rest by code point.
pub(crate) fn describe_char(c: char) -> String {
    if c == ' ' {
        "a space".into()
    } else if c.is_control() || c.is_whitespace() {
        format!("the character U+{:04X}", u32::from(c))
    } else if !c.is_ascii() {
        format!("`{c}` (U+{:04X})", u32::from(c))
    } else {
        format!("`{c}`")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::facts::PrincipalFacts;
    use crate::principal::Principal;

    #[test]
    fn real_ids_pass() {
        for id in [
            "alice",
            "alice@example.com",
            "first.last@sub.example.co.uk",
            "CORP:jdoe",
            "svc-batch_01",
            "12345",
            "a",
        ] {
            assert_eq!(principal_id_problem(id), None, "{id}");
        }
    }

    #[test]
    fn hostile_ids_are_refused_with_the_character_named() {
        let comma = principal_id_problem("q7,evil").unwrap();
        assert!(comma.contains("`,`"), "{comma}");
        let path = principal_id_problem("../../q8").unwrap();
        assert!(path.contains("`/`"), "{path}");
        assert!(
            principal_id_problem("a b")
                .unwrap()
                .contains("contains a space")
        );
        assert!(
            principal_id_problem("a\u{1b}[31m")
                .unwrap()
                .contains("U+001B")
        );
        // Look-alike letters from another script (Cyrillic `а`).
        let cyrillic = principal_id_problem("\u{430}lice").unwrap();
        assert!(cyrillic.contains("U+0430"), "{cyrillic}");
        assert!(
            principal_id_problem("..")
                .unwrap()
                .contains("starts with `.`")
        );
        assert!(
            principal_id_problem("-rf")
                .unwrap()
                .contains("starts with `-`")
        );
    }

    #[test]
    fn an_id_at_the_cap_passes_and_one_over_is_refused() {
        assert_eq!(
            principal_id_problem(&"a".repeat(MAX_PRINCIPAL_ID_CHARS)),
            None
        );
        let over = principal_id_problem(&"a".repeat(MAX_PRINCIPAL_ID_CHARS + 1)).unwrap();
        assert!(
            over.contains("257 characters") && over.contains("256"),
            "{over}"
        );
    }

    #[test]
    fn parts_keep_every_entry_in_order_within_the_budget() {
        let ids: Vec<String> = (0..500).map(|n| format!("{n:0>90}")).collect();
        let parts = parts_within(&ids, 4096, 1000);
        assert_eq!(parts.concat(), ids, "every entry, in order");
        for part in &parts {
            assert!(serde_json::to_string(part).unwrap().len() <= 4096 + 2);
        }
        assert_eq!(
            parts_within(&ids, 1 << 20, 7).len(),
            72,
            "at most `max` a part"
        );
        let none: &[String] = &[];
        assert_eq!(parts_within(none, 10, 10), vec![none], "one empty part");
        // An entry larger than the budget still gets a part of its own.
        let big = vec!["x".repeat(100)];
        assert_eq!(parts_within(&big, 10, 10).len(), 1);
    }

    #[test]
    fn principal_facts_at_every_cap_stay_under_20_kib_of_json() {
        // Four-byte characters: the most bytes a character-counted cap lets through.
        let wide = |n: usize| "\u{1F600}".repeat(n);
        let countries: BTreeSet<_> = [
            "US", "CA", "MX", "GB", "FR", "DE", "IT", "ES", "PT", "NL", "BE", "LU", "CH", "AT",
            "DK", "SE",
        ]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
        assert_eq!(countries.len(), MAX_COUNTRIES);
        let principal = Principal {
            id: "x".repeat(MAX_PRINCIPAL_ID_CHARS).parse().unwrap(),
            name: wide(MAX_NAME_CHARS),
            citizenships: countries.clone(),
            permanent_residency: countries,
            protected_individual: true,
            residence: Some("US".parse().unwrap()),
            org: Some(wide(MAX_ORG_CHARS)),
            employee: true,
            roles: (0..MAX_ROLES)
                .map(|i| format!("{i:02}{}", wide(MAX_ROLE_CHARS - 2)))
                .collect(),
            screening: Some(screening_at_its_caps(&wide)),
            active: true,
            facts_confirmed_at: None,
        };
        assert_eq!(principal.roles.len(), MAX_ROLES);
        let json = serde_json::to_vec(&PrincipalFacts::from(&principal)).unwrap();
        // Every decision record carries these facts once, beside request facts of a few hundred
        // bytes: far under MAX_RECORD_BYTES (64 KiB), with screening evidence at its caps.
        assert!(json.len() <= 20 * 1024, "{} bytes", json.len());
    }

    fn screening_at_its_caps(wide: &dyn Fn(usize) -> String) -> crate::screening::ScreeningFact {
        use crate::screening::*;
        let review = AppliedReview {
            decision: ReviewDecision::Confirm,
            actor: wide(64),
            at: chrono::Utc::now(),
            reason: wide(2000),
        };
        let matches = (0..MAX_SCREENING_MATCHES + 3)
            .map(|_| ScreeningMatch {
                subject: "name".into(),
                list: wide(400),
                source: wide(400),
                entity_id: wide(400),
                matched_name: wide(400),
                score_milli: 1000,
                status: ScreeningStatus::Match,
                review: Some(review.clone()),
            })
            .collect();
        let lists = vec!["csl@0123456789abcdef".to_string(); 3];
        ScreeningFact::from_matches(matches, lists, "token-jaro-winkler/1", chrono::Utc::now())
    }
}
