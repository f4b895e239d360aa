//! The parsers against the real list files (tests/data/lists), counted independently of the
//! parsers, and against broken copies of them.

mod common;

use clearance_screening::parse::{self, Input, ParseError};
use clearance_screening::{AliasType, DateOfBirth, EntityKind, IdentifierKind, ListSource};
use sha2::{Digest, Sha256};

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(common::data_dir().join(rel)).expect("test data is present")
}

/// Lines that begin a record in OFAC's files: they start with the ent_num's digits and a comma.
fn ofac_rows(rel: &str) -> usize {
    String::from_utf8(bytes(rel))
        .expect("utf-8")
        .lines()
        .filter(|l| {
            let digits = l.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0 && l.as_bytes().get(digits) == Some(&b',')
        })
        .count()
}

#[test]
fn sdn_counts_are_the_files_counts() {
    let list = common::sdn();
    let (sdn_rows, alt_rows) = (ofac_rows("ofac-sdn/sdn.csv"), ofac_rows("ofac-sdn/alt.csv"));
    assert_eq!((sdn_rows, alt_rows), (8_976, 11_910), "the README's counts");
    assert_eq!(list.version.record_count, sdn_rows);
    assert_eq!(list.entries.len(), sdn_rows);
    assert_eq!(list.version.alias_count, alt_rows);
    assert_eq!(
        list.entries.iter().map(|e| e.aliases.len()).sum::<usize>(),
        alt_rows
    );
    assert_eq!(list.version.source, "ofac-sdn");
    let files: Vec<String> = ["sdn.csv", "alt.csv", "add.csv"]
        .iter()
        .map(|f| hex::encode(Sha256::digest(bytes(&format!("ofac-sdn/{f}")))))
        .collect();
    let got: Vec<String> = list
        .version
        .files
        .iter()
        .map(|f| f.sha256.clone())
        .collect();
    assert_eq!(got, files);
    assert_eq!(list.version.sha256.len(), 64);
}

#[test]
fn sdn_entries_carry_remarks_facts_and_addresses() {
    let list = common::sdn();
    let zawahiri = list
        .entries
        .iter()
        .find(|e| e.entity_id == "2676")
        .expect("entry 2676");
    assert_eq!(zawahiri.name, "AL ZAWAHIRI, Dr. Ayman");
    assert_eq!(zawahiri.kind, EntityKind::Individual);
    assert_eq!(zawahiri.source, ListSource::OfacSdn);
    assert!(
        zawahiri
            .dates_of_birth
            .contains(&DateOfBirth::ymd(1951, 6, 19).expect("date"))
    );
    let passports: Vec<&str> = zawahiri
        .identifiers
        .iter()
        .filter(|i| i.kind == IdentifierKind::Passport)
        .map(|i| i.normalized.as_str())
        .collect();
    assert_eq!(passports, vec!["1084010", "19820215"]);
    assert_eq!(zawahiri.programs, vec!["SDGT".to_string()]);

    let bnc = list
        .entries
        .iter()
        .find(|e| e.entity_id == "306")
        .expect("entry 306");
    assert_eq!(bnc.kind, EntityKind::Entity);
    assert!(
        bnc.aliases
            .iter()
            .any(|a| a.name == "NATIONAL BANK OF CUBA" && a.alias_type == AliasType::Aka)
    );
    // From add.csv: Zurich, Madrid, Tokyo, ...
    for code in ["CH", "ES", "JP"] {
        assert!(
            bnc.countries.iter().any(|c| c == code),
            "{code} in {:?}",
            bnc.countries
        );
    }
    let vessels = list
        .entries
        .iter()
        .filter(|e| e.kind == EntityKind::Vessel)
        .count();
    let aircraft = list
        .entries
        .iter()
        .filter(|e| e.kind == EntityKind::Aircraft)
        .count();
    assert_eq!((vessels, aircraft), (406, 277));
    let with_dob = list
        .entries
        .iter()
        .filter(|e| !e.dates_of_birth.is_empty())
        .count();
    assert!(with_dob > 3_000, "{with_dob} entries with a date of birth");
}

#[test]
fn dpl_counts_and_fields() {
    let list = common::dpl();
    let text = String::from_utf8(bytes("bis-dpl.txt")).expect("utf-8");
    let rows = text.lines().filter(|l| !l.trim().is_empty()).count() - 1;
    assert_eq!(rows, 581);
    assert_eq!(list.version.record_count, rows);
    assert_eq!(list.entries.len(), rows);
    assert_eq!(list.version.alias_count, 0);
    assert_eq!(list.version.published, None);
    let villa = list
        .entries
        .iter()
        .find(|e| e.name == "AARON ABRAHAM VILLA")
        .expect("a row");
    assert_eq!(villa.source, ListSource::BisDpl);
    assert!(villa.entity_id.starts_with("dpl-"));
    assert_eq!(villa.kind, EntityKind::Unknown);
    let mut ids: Vec<&str> = list.entries.iter().map(|e| e.entity_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(
        ids.len() >= rows - 5,
        "derived ids are nearly all distinct: {}",
        ids.len()
    );
}

#[test]
fn csl_counts_sources_and_lists_in_columns() {
    let list = common::csl();
    // Counted with the csv crate directly: rows, and the `;`-separated alt_names.
    let data = bytes("csl-sample.csv");
    let mut reader = csv::Reader::from_reader(data.as_slice());
    let alt = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "alt_names")
        .expect("alt_names");
    let (mut rows, mut aliases) = (0, 0);
    for record in reader.records() {
        let record = record.expect("record");
        rows += 1;
        aliases += record
            .get(alt)
            .unwrap_or("")
            .split(';')
            .filter(|a| !a.trim().is_empty())
            .count();
    }
    assert_eq!(rows, 115);
    assert_eq!(list.version.record_count, rows);
    assert_eq!(list.version.alias_count, aliases);
    assert!(
        list.entries
            .iter()
            .any(|e| e.source == ListSource::Csl("SDN".into()))
    );
    assert!(
        list.entries
            .iter()
            .any(|e| e.source == ListSource::Csl("EL".into()))
    );
    let holdings = list
        .entries
        .iter()
        .find(|e| e.name == "200G PSA HOLDINGS LLC")
        .expect("row");
    assert_eq!(holdings.entity_id, "20264");
    assert_eq!(holdings.kind, EntityKind::Entity);
    assert_eq!(holdings.identifiers.len(), 1);
    assert_eq!(holdings.identifiers[0].kind, IdentifierKind::TaxId);
    assert_eq!(holdings.identifiers[0].normalized, "800890696");
    let akbari = list
        .entries
        .iter()
        .find(|e| e.name == "AKBARI, Mohammadreza Ali")
        .expect("row");
    assert_eq!(
        akbari.dates_of_birth,
        vec![DateOfBirth::ymd(1967, 10, 31).expect("date")]
    );
    assert_eq!(akbari.identifiers[0].kind, IdentifierKind::Passport);
    let mazidih = list
        .entries
        .iter()
        .find(|e| e.name.starts_with("AL MAZIDIH"))
        .expect("row");
    assert_eq!(
        mazidih.dates_of_birth,
        vec![DateOfBirth::year(1974), DateOfBirth::year(1975)]
    );
    let canada = list
        .entries
        .iter()
        .find(|e| e.name == "2904977 CANADA, INC.")
        .expect("row");
    assert_eq!(canada.aliases.len(), 2);
    assert!(canada.countries.contains(&"CA".to_string()));
}

fn line_start(text: &[u8], line: usize) -> usize {
    let mut seen = 1;
    for (i, b) in text.iter().enumerate() {
        if seen == line {
            return i;
        }
        if *b == b'\n' {
            seen += 1;
        }
    }
    text.len()
}

#[test]
fn a_truncated_sdn_file_errors_at_its_last_line() {
    let sdn = bytes("ofac-sdn/sdn.csv");
    let alt = bytes("ofac-sdn/alt.csv");
    let cut = line_start(&sdn, 5_000) + 12;
    let err = parse::ofac_sdn(
        Input::new("sdn.csv", &sdn[..cut]),
        Input::new("alt.csv", &alt),
        None,
    )
    .expect_err("a truncated file is an error");
    match &err {
        ParseError::Csv { file, line, .. } => {
            assert_eq!((file.as_str(), *line), ("sdn.csv", 5_000));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("cut short"), "{err}");

    // Cut inside a quoted field, then given a line break: the quotes no longer pair up, which
    // a CSV reader alone would not notice (it takes the rest as the last field).
    let text = String::from_utf8(bytes("bis-dpl.txt")).expect("utf-8");
    let mut cut = text[..50_000].to_string();
    if cut.matches('"').count().is_multiple_of(2) {
        cut.push('"');
    }
    cut.push('\n');
    let err = parse::bis_dpl(Input::new("dpl.txt", cut.as_bytes())).expect_err("cut short");
    assert!(
        err.to_string().contains("a quoted field is never closed"),
        "{err}"
    );
    // The whole file cut inside a line, wherever, never imports quietly (a cut exactly at a
    // line end is what `lists import` refuses by the count of entries).
    let full = bytes("bis-dpl.txt");
    for at in (1_000..full.len() - 1).step_by(7_919) {
        assert!(
            parse::bis_dpl(Input::new("dpl.txt", &full[..at])).is_err(),
            "a copy cut at byte {at} imported"
        );
    }
}

#[test]
fn a_garbled_file_errors_with_file_and_line() {
    let mut alt = bytes("ofac-sdn/alt.csv");
    let at = line_start(&alt, 777) + 20;
    alt[at] = 0xFF;
    let sdn = bytes("ofac-sdn/sdn.csv");
    let err = parse::ofac_sdn(
        Input::new("sdn.csv", &sdn),
        Input::new("alt.csv", &alt),
        None,
    )
    .expect_err("not UTF-8");
    assert_eq!(err.to_string(), "alt.csv:777: not valid UTF-8");

    // An alias for an entry that is not in sdn.csv.
    let mut alt = bytes("ofac-sdn/alt.csv");
    assert_eq!(alt.pop(), Some(0x1A), "OFAC's end-of-file mark");
    alt.extend_from_slice(b"99999999,1,\"aka\",\"NOBODY\",-0- \r\n");
    let err = parse::ofac_sdn(
        Input::new("sdn.csv", &sdn),
        Input::new("alt.csv", &alt),
        None,
    )
    .expect_err("unknown ent_num");
    assert!(
        err.to_string().contains("99999999 is not in the SDN file"),
        "{err}"
    );
    assert!(err.to_string().starts_with("alt.csv:11911:"), "{err}");

    // A DPL without its Name column; a CSL row with a missing column.
    let dpl = String::from_utf8(bytes("bis-dpl.txt"))
        .expect("utf-8")
        .replacen("\"Name\"", "\"Nom\"", 1);
    let err = parse::bis_dpl(Input::new("dpl.txt", dpl.as_bytes())).expect_err("no Name");
    assert_eq!(err.to_string(), "dpl.txt: header: no column \"Name\"");
    let csl = String::from_utf8(bytes("csl-sample.csv")).expect("utf-8");
    let mut lines: Vec<String> = csl.lines().map(str::to_string).collect();
    lines[9] = "Denied Persons List (DPL) - Bureau of Industry and Security,,,,SHORT ROW".into();
    let err = parse::csl(Input::new("csl.csv", (lines.join("\n") + "\n").as_bytes()))
        .expect_err("short row");
    assert!(
        err.to_string()
            .starts_with("csl.csv:10: expected 28 columns, found 5"),
        "{err}"
    );
    // Empty and non-numeric ids.
    let err = parse::ofac_sdn(
        Input::new(
            "sdn.csv",
            b"x,\"A\",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n",
        ),
        Input::new("alt.csv", b""),
        None,
    )
    .expect_err("bad id");
    assert_eq!(
        err.to_string(),
        "sdn.csv:1: column ent_num: \"x\" is not a number"
    );
    let err = parse::csl(Input::new("empty.csv", b"")).expect_err("empty");
    assert_eq!(err.to_string(), "empty.csv: header: the file is empty");
}
