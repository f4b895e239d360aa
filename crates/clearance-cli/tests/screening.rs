//! Denied-party screening through the `clearance` binary: `lists import|list`, `screen` and
//! `screening review`, on the real OFAC SDN, BIS Denied Persons and Consolidated Screening List
//! files (crates/clearance-screening/tests/data/lists/, a 2021 snapshot). Real processes, a real
//! SQLite store (and once PostgreSQL, when a server answers); what the store holds is read back
//! through the CLI (`principals show`, `lists list`) and the audit trail (`audit export`,
//! `audit verify`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

use common::{ScratchPg, as_str, config_text, export, run_in, write_file};

/// The real list files.
fn lists_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clearance-screening/tests/data/lists")
}

fn sdn_dir() -> PathBuf {
    lists_dir().join("ofac-sdn")
}

/// The demo registry, plus a listed person (by name) and a person whose org is listed.
const REGISTRY: &str =
    "id,name,citizenships,permanent_residency,protected_individual,residence,org,employee,roles
alice,Alice Adams,US,,false,FR,acme-labs,true,engineer
bjorn,Björn Berg,SE,,false,US,acme-labs,true,engineer
carla,Carla Cruz,US;MX,,false,US,partner-co,false,analyst
dev,Dev Patel,IN,US,false,US,acme-labs,true,engineer
farah,Farah Haddad,SY,,true,US,acme-labs,true,researcher
ghost,Unknown Contractor,,,false,,,false,
zaw,Ayman al-Zawahiri,EG,,false,,,false,
karl,Karl Schmidt,DE,,false,DE,Banco Nacional de Cuba,false,
";

struct Workspace {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace::with_store("sqlite = \"clearance.db\"")
    }

    /// A workspace whose config's `[store]` section is `store`.
    fn with_store(store: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let config = write_file(dir.path(), "clearance.toml", &config_text(store));
        Workspace { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary with `--config` appended.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let mut all = args.to_vec();
        all.extend(["--config", as_str(&self.config)]);
        run_in(self.dir.path(), &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        out
    }

    /// Runs a command that must fail (exit 1); its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(1), "{args:?} should fail: {out}{err}");
        err
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn import_registry(&self) {
        let file = write_file(self.dir.path(), "principals.csv", REGISTRY);
        self.ok(&["principals", "import", as_str(&file)]);
    }

    fn import_list(&self, source: &str, path: &Path) -> String {
        self.ok(&["lists", "import", "--source", source, as_str(path)])
    }

    /// `principals show ID --format json`'s `screening` (`null` when unscreened).
    fn screening(&self, id: &str) -> Value {
        self.json(&["principals", "show", id, "--format", "json"])["screening"].clone()
    }

    fn versions(&self) -> Vec<Value> {
        let listed = self.json(&["lists", "list", "--format", "json"]);
        listed.as_array().unwrap().clone()
    }

    /// `screen --name NAME [extra] --format json`.
    fn screen(&self, name: &str, extra: &[&str]) -> Value {
        let mut args = vec!["screen", "--name", name, "--format", "json"];
        args.extend(extra);
        self.json(&args)
    }

    /// The audit trail's change records with admin action `action`, in order.
    fn recorded(&self, action: &str) -> Vec<Value> {
        export(self.dir.path(), &self.config)
            .iter()
            .map(|line| line["record"].clone())
            .filter(|r| r["admin"]["action"] == action)
            .collect()
    }

    fn audit_verifies(&self) {
        let out = self.ok(&["audit", "verify"]);
        assert!(out.contains("audit trail OK"), "{out}");
    }
}

/// Records of a header-less CSV file, counted with the csv crate (OFAC's files end with a DOS
/// end-of-file mark, 0x1A, on a line of its own: not a record).
fn ofac_rows(path: &Path) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap();
    reader
        .byte_records()
        .map(Result::unwrap)
        .filter(|r| !(r.len() == 1 && r.get(0).unwrap().iter().all(|b| *b == 0x1A)))
        .count()
}

/// `(records, aliases)` of the CSL file: rows, and the `;`-separated items of `alt_names`.
fn csl_counts(path: &Path) -> (usize, usize) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "alt_names")
        .unwrap();
    let (mut rows, mut aliases) = (0, 0);
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        aliases += record[column]
            .split(';')
            .filter(|a| !a.trim().is_empty())
            .count();
    }
    (rows, aliases)
}

/// Rows of the tab-separated DPL file under its header.
fn dpl_rows(path: &Path) -> usize {
    csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .count()
}

/// The version row of `source` in `lists list --format json`.
fn version_of<'a>(versions: &'a [Value], source: &str) -> &'a Value {
    versions
        .iter()
        .find(|v| v["source"] == source)
        .unwrap_or_else(|| panic!("no {source} version in {versions:?}"))
}

#[test]
fn each_real_list_imports_with_the_record_and_alias_counts_of_its_files_and_again_changes_nothing()
{
    let ws = Workspace::new();
    let out = ws.ok(&["lists", "list"]);
    assert!(out.contains("no list imported yet"), "{out}");

    let sdn = (
        ofac_rows(&sdn_dir().join("sdn.csv")),
        ofac_rows(&sdn_dir().join("alt.csv")),
    );
    let dpl = (dpl_rows(&lists_dir().join("bis-dpl.txt")), 0);
    let csl = csl_counts(&lists_dir().join("csl-sample.csv"));
    // As the data's README states them.
    assert_eq!((sdn, dpl.0, csl.0), ((8_976, 11_910), 581, 115));

    let imports = [
        ("ofac-sdn", sdn_dir(), sdn),
        ("bis-dpl", lists_dir().join("bis-dpl.txt"), dpl),
        ("csl", lists_dir().join("csl-sample.csv"), csl),
    ];
    for (source, path, (records, aliases)) in &imports {
        let out = ws.import_list(source, path);
        assert!(out.starts_with(&format!("imported {source}@")), "{out}");
        assert!(
            out.contains(&format!(
                ": {records} entries, {aliases} aliases; re-screened 0 principals"
            )),
            "{out}"
        );
    }

    let versions = ws.versions();
    assert_eq!(versions.len(), 3, "{versions:?}");
    // Newest first.
    let sources: Vec<&str> = versions
        .iter()
        .map(|v| v["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["csl", "bis-dpl", "ofac-sdn"]);
    for (source, _, (records, aliases)) in &imports {
        let v = version_of(&versions, source);
        assert_eq!(v["records"], *records as u64, "{source}");
        assert_eq!(v["aliases"], *aliases as u64, "{source}");
        assert_eq!(v["by"], "cli");
        let sha = v["sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64);
        assert_eq!(v["version"], format!("{source}@{}", &sha[..16]));
    }
    // A one-file list's digest is the SHA-256 of the SHA-256 of its file.
    let dpl_bytes = std::fs::read(lists_dir().join("bis-dpl.txt")).unwrap();
    let expected = hex(&Sha256::digest(Sha256::digest(&dpl_bytes)));
    assert_eq!(version_of(&versions, "bis-dpl")["sha256"], expected);

    // The same files again: nothing changes, nothing is recorded.
    for (source, path, _) in &imports {
        let out = ws.import_list(source, path);
        assert!(
            out.contains("is already imported (same SHA-256): nothing changed"),
            "{out}"
        );
    }
    assert_eq!(ws.versions(), versions);
    let recorded = ws.recorded("screening_list_import");
    assert_eq!(recorded.len(), 3);
    let text = ws.ok(&["lists", "list"]);
    let sdn_line = text
        .lines()
        .find(|l| {
            l.starts_with(
                version_of(&versions, "ofac-sdn")["version"]
                    .as_str()
                    .unwrap(),
            )
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        sdn_line.contains(" 8976 entries  11910 aliases  imported "),
        "{text}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A copy of the SDN folder in `ws` under `name`, with `sdn.csv` and `alt.csv` passed through
/// `edit_sdn` and `edit_alt` (each gets the file's bytes without OFAC's end-of-file mark,
/// which is put back after).
fn sdn_copy(
    ws: &Workspace,
    name: &str,
    edit_sdn: impl FnOnce(&mut Vec<u8>),
    edit_alt: impl FnOnce(&mut Vec<u8>),
) -> PathBuf {
    let dir = ws.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let read = |file: &str| {
        let mut bytes = std::fs::read(sdn_dir().join(file)).unwrap();
        assert_eq!(bytes.pop(), Some(0x1A), "{file} ends with OFAC's EOF mark");
        bytes
    };
    let (mut sdn, mut alt) = (read("sdn.csv"), read("alt.csv"));
    edit_sdn(&mut sdn);
    edit_alt(&mut alt);
    for (file, mut bytes) in [("sdn.csv", sdn), ("alt.csv", alt)] {
        bytes.push(0x1A);
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    std::fs::copy(sdn_dir().join("add.csv"), dir.join("add.csv")).unwrap();
    dir
}

/// The first `lines` lines of `bytes`.
fn first_lines(bytes: &[u8], lines: usize) -> Vec<u8> {
    let mut end = 0;
    for _ in 0..lines {
        end += bytes[end..].iter().position(|b| *b == b'\n').unwrap() + 1;
    }
    bytes[..end].to_vec()
}

#[test]
fn a_bad_list_file_is_refused_with_its_file_and_line_and_the_previous_version_stays_in_force() {
    let ws = Workspace::new();
    ws.import_registry();
    ws.import_list("ofac-sdn", &sdn_dir());
    let versions = ws.versions();
    let zaw = ws.screening("zaw");
    assert_eq!(zaw["status"], "match");
    let alice = ws.screening("alice");
    assert_eq!(alice["status"], "clear");

    // A row cut short after its third column (line 51).
    let cut_row = sdn_copy(
        &ws,
        "cut-row",
        |sdn| {
            *sdn = first_lines(sdn, 50);
            sdn.extend_from_slice(b"7746,\"MRDJA, Darko\",\"individual\"\r\n");
        },
        |_| {},
    );
    // A download cut off part way (inside a quoted field of sdn.csv): alt.csv then names
    // entries sdn.csv no longer has.
    let truncated = ws.path("truncated");
    std::fs::create_dir_all(&truncated).unwrap();
    let sdn = std::fs::read(sdn_dir().join("sdn.csv")).unwrap();
    std::fs::write(truncated.join("sdn.csv"), &sdn[..100_000]).unwrap();
    std::fs::copy(sdn_dir().join("alt.csv"), truncated.join("alt.csv")).unwrap();
    // Not UTF-8 on line 3 of the DPL (Latin-1 bytes).
    let mut dpl = first_lines(&std::fs::read(lists_dir().join("bis-dpl.txt")).unwrap(), 2);
    dpl.extend_from_slice(b"\"CAF\xC9 M\xDcLLER\"\t\"1 MAIN ST\"\t\"BERLIN\"\t\"\"\t\"DE\"\t\"10115\"\t\"01/01/2020\"\t\"01/01/2030\"\t\"Y\"\t\"2020-01-01\"\t\"ADDED\"\t\"85 F.R. 1\"\n");
    let latin1 = write_file(ws.dir.path(), "latin1-dpl.txt", "");
    std::fs::write(&latin1, dpl).unwrap();
    // A CSL row with a column missing (line 4).
    let csl = std::fs::read_to_string(lists_dir().join("csl-sample.csv")).unwrap();
    let mut lines: Vec<&str> = csl.lines().take(4).collect();
    let short = lines[3].rsplit_once(',').unwrap().0.to_string();
    lines[3] = &short;
    let short_csl = write_file(ws.dir.path(), "short.csv", &(lines.join("\n") + "\n"));
    // Only the header: an empty list would clear everyone it used to match.
    let header_only = write_file(
        ws.dir.path(),
        "empty-dpl.txt",
        std::str::from_utf8(&first_lines(
            &std::fs::read(lists_dir().join("bis-dpl.txt")).unwrap(),
            1,
        ))
        .unwrap(),
    );

    let cases: [(&str, &Path, &str); 5] = [
        (
            "ofac-sdn",
            &cut_row,
            "error: sdn.csv:51: expected 12 columns, found 3",
        ),
        (
            "ofac-sdn",
            &truncated,
            "the last line has no line break: the file looks cut short",
        ),
        (
            "bis-dpl",
            &latin1,
            "error: latin1-dpl.txt:3: not valid UTF-8",
        ),
        (
            "csl",
            &short_csl,
            "error: short.csv:4: expected 28 columns, found 27",
        ),
        ("bis-dpl", &header_only, "error: bis-dpl holds no entries"),
    ];
    for (source, path, message) in cases {
        let err = ws.fails(&["lists", "import", "--source", source, as_str(path)]);
        assert!(err.contains(message), "`{message}` in: {err}");
        assert!(
            err.contains("nothing was imported; the previous version of the list stays in force"),
            "{err}"
        );
    }

    assert_eq!(ws.versions(), versions);
    assert_eq!(
        ws.screening("zaw"),
        zaw,
        "screened as before, at the same time"
    );

    assert_eq!(ws.screening("alice"), alice);
    assert_eq!(ws.recorded("screening_list_import").len(), 1);
    ws.audit_verifies();

    // A copy cut exactly at a line end parses; it is refused for holding fewer than half the
    // current version's entries, unless the operator says the list really shrank.
    let dpl = lists_dir().join("bis-dpl.txt");
    ws.import_list("bis-dpl", &dpl);
    let versions = ws.versions();
    let head = first_lines(&std::fs::read(&dpl).unwrap(), 101);
    let shrunk = write_file(
        ws.dir.path(),
        "shrunk-dpl.txt",
        std::str::from_utf8(&head).unwrap(),
    );
    let err = ws.fails(&["lists", "import", "--source", "bis-dpl", as_str(&shrunk)]);
    assert!(err.contains("fewer than half of the current"), "{err}");
    assert!(err.contains("--allow-shrink"), "{err}");
    assert_eq!(ws.versions(), versions, "nothing imported");
    ws.ok(&[
        "lists",
        "import",
        "--source",
        "bis-dpl",
        as_str(&shrunk),
        "--allow-shrink",
    ]);
    assert_eq!(ws.versions().len(), versions.len() + 1);
}

/// `(status, entries)` of a `screen --format json` answer.
fn found(answer: &Value) -> (String, Vec<String>) {
    let entries = answer["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entry"].as_str().unwrap().to_string())
        .collect();
    (answer["status"].as_str().unwrap().to_string(), entries)
}

#[test]
fn listed_names_are_found_in_several_spellings_and_similar_unrelated_names_are_not() {
    let ws = Workspace::new();
    ws.import_list("ofac-sdn", &sdn_dir());
    ws.import_list("bis-dpl", &lists_dir().join("bis-dpl.txt"));
    ws.import_list("csl", &lists_dir().join("csl-sample.csv"));

    // (query, --org, the entry it must find, how the spelling differs from the list's)
    let listed: [(&str, bool, &str, &str); 12] = [
        (
            "Ayman al-Zawahiri",
            false,
            "ofac-sdn:2676",
            "as a registry writes it",
        ),
        (
            "Zawahiri, Ayman",
            false,
            "ofac-sdn:2676",
            "surname first, no article",
        ),
        ("Ayman Zawahiri", false, "ofac-sdn:2676", "no article"),
        (
            "Ayman al Zawahiry",
            false,
            "ofac-sdn:2676",
            "a letter changed",
        ),
        (
            "Ahmad Fuad Salim",
            false,
            "ofac-sdn:2676",
            "an alias, given names first",
        ),
        (
            "Ramón Ulises Carvajal Reyes",
            false,
            "ofac-sdn:11956",
            "an alias, with an accent",
        ),
        ("BANCO NACIONAL DE CUBA", true, "ofac-sdn:306", "exact"),
        (
            "National Bank of Cuba",
            true,
            "ofac-sdn:306",
            "the English alias",
        ),
        (
            "Aaron Abraham Villa",
            false,
            "bis-dpl:",
            "exact, Denied Persons List",
        ),
        ("Villa, Aaron Abraham", false, "bis-dpl:", "surname first"),
        ("Aron Abraham Villa", false, "bis-dpl:", "a letter missing"),
        (
            "183rd Guard Air Defence Missile Regiment",
            true,
            "csl:ISN:",
            "British spelling",
        ),
    ];
    for (name, org, entry, why) in listed {
        let answer = ws.screen(name, if org { &["--org"] } else { &[] });
        let (status, entries) = found(&answer);
        assert_eq!(status, "match", "{name} ({why}): {answer:#}");
        assert!(
            entries.iter().any(|e| e.starts_with(entry)),
            "{name} ({why}) finds {entry}: {answer:#}"
        );
        let first = &answer["matches"][0];
        for field in ["list", "entity_name", "matched_name", "score", "algorithm"] {
            assert!(!first[field].is_null(), "{field} in {first}");
        }
    }

    // Similar, not listed: a listed given name with another surname, a listed surname's
    // neighbour, banks and traders that share words with listed ones, the demo registry.
    let unrelated: [(&str, bool); 9] = [
        ("Ayman Hassan", false),
        ("Ayman Zawadzki", false),
        ("Aaron Villanueva", false),
        ("Banco Nacional de Mexico", true),
        ("Banco Nacional de Kuba", true),
        ("Cuba Trading Ltd", true),
        ("Acme Labs", true),
        ("Alice Adams", false),
        ("Farah Haddad", false),
    ];
    for (name, org) in unrelated {
        let answer = ws.screen(name, if org { &["--org"] } else { &[] });
        assert_eq!(
            found(&answer),
            ("clear".to_string(), Vec::new()),
            "{name}: {answer:#}"
        );
    }

    // A date of birth the entry contradicts (listed: 19 Jun 1951) turns an exact name into a
    // potential match; one that agrees keeps it a match.
    let answer = ws.screen("Ayman al-Zawahiri", &["--dob", "1990-01-01"]);
    assert_eq!(found(&answer).0, "potential_match", "{answer:#}");
    let answer = ws.screen(
        "Ayman al-Zawahiri",
        &["--dob", "1951-06-19", "--country", "EG"],
    );
    assert_eq!(found(&answer).0, "match", "{answer:#}");

    let (_, out, _) = ws.run(&["screen", "--name", "Zawahiri Ayman"]);
    assert!(out.starts_with("Zawahiri Ayman: match\n"), "{out}");
    assert!(
        out.contains("ofac-sdn:2676  AL ZAWAHIRI, Dr. Ayman"),
        "{out}"
    );
}

#[test]
fn a_list_import_screens_the_registry_and_is_recorded() {
    let ws = Workspace::new();
    ws.import_registry();
    // Before any list: unscreened, and the fact is missing (directives reading it fail closed).
    let zaw = ws.json(&["principals", "show", "zaw", "--format", "json"]);
    assert!(zaw["screening"].is_null(), "{zaw:#}");
    assert!(
        zaw["missing_facts"]
            .as_array()
            .unwrap()
            .contains(&Value::from("screening")),
        "{zaw:#}"
    );
    let err = ws.fails(&["screen", "--principals"]);
    assert!(err.contains("no denied-party list is imported"), "{err}");

    let out = ws.import_list("ofac-sdn", &sdn_dir());
    assert!(
        out.contains("re-screened 8 principals, 8 changed status"),
        "{out}"
    );
    assert!(out.contains("  zaw: unscreened -> match\n"), "{out}");
    assert!(out.contains("  karl: unscreened -> match\n"), "{out}");
    assert!(out.contains("  alice: unscreened -> clear\n"), "{out}");
    let version = ws.versions()[0]["version"].as_str().unwrap().to_string();

    let zaw = ws.json(&["principals", "show", "zaw", "--format", "json"]);
    assert!(
        !zaw["missing_facts"]
            .as_array()
            .unwrap()
            .contains(&Value::from("screening")),
        "{zaw:#}"
    );
    let screening = &zaw["screening"];
    assert_eq!(screening["status"], "match");
    assert_eq!(screening["lists"], serde_json::json!([version]));
    let evidence = &screening["matches"][0];
    assert_eq!(evidence["subject"], "name");
    assert_eq!(evidence["list"], version);
    assert_eq!(evidence["source"], "ofac-sdn");
    assert_eq!(evidence["entity_id"], "2676");
    assert_eq!(evidence["matched_name"], "AL ZAWAHIRI, Dr. Ayman");
    assert_eq!(evidence["score_milli"], 1000);

    // Karl's org is listed (its country, Cuba, is not his: a little below 1).
    let karl = ws.screening("karl");
    assert_eq!(karl["status"], "match");
    let evidence = &karl["matches"][0];
    assert_eq!(
        (&evidence["subject"], &evidence["entity_id"]),
        (&Value::from("org"), &Value::from("306"))
    );
    for id in ["alice", "bjorn", "carla", "dev", "farah", "ghost"] {
        let s = ws.screening(id);
        assert_eq!(s["status"], "clear", "{id}: {s}");
        // No evidence (the field is left out when there is none).
        assert!(
            s["matches"].as_array().is_none_or(Vec::is_empty),
            "{id}: {s}"
        );
    }

    let registry = ws.json(&["screen", "--principals", "--format", "json"]);
    let statuses: Vec<(String, String)> = registry
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["screening"]["status"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(_, s)| s != "clear")
        .collect();
    assert_eq!(
        statuses,
        [
            ("karl".into(), "match".into()),
            ("zaw".into(), "match".into())
        ]
    );
    let text = ws.ok(&["screen", "--principals"]);
    assert!(
        text.contains(&format!(
            "8 principals: 6 clear, 0 potential_match, 2 match (lists: {version})"
        )),
        "{text}"
    );

    let recorded = ws.recorded("screening_list_import");
    assert_eq!(recorded.len(), 1);
    let admin = &recorded[0]["admin"];
    assert_eq!(admin["actor"], "cli");
    assert_eq!(admin["target"], version);
    let details = &admin["details"];
    assert_eq!(details["source"], "ofac-sdn");
    assert_eq!(details["records"], 8_976);
    assert_eq!(details["aliases"], 11_910);
    assert_eq!(details["rescreened"], 8);
    assert_eq!(details["status_changes"], 8);
    assert!(
        details["changed"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"id": "zaw", "from": null, "to": "match"})),
        "{details:#}"
    );
    ws.audit_verifies();

    // A principal imported once lists are in force is screened before it is stored.
    let newcomer = write_file(
        ws.dir.path(),
        "newcomer.csv",
        "id,name\nbnc,Aiman Muhammad Rabi al-Zawahiri\n",
    );
    ws.ok(&["principals", "import", as_str(&newcomer)]);
    assert_ne!(ws.screening("bnc")["status"], "clear");
}

/// Appends a made-up entry to `sdn.csv` (a list version in which entry 2676 is unchanged).
fn add_an_entry(sdn: &mut Vec<u8>) {
    sdn.extend_from_slice(
        b"99999001,\"EXAMPLE TEST TRADING LTD\",-0- ,\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n",
    );
}

/// Appends an alias of entry 2676 to `alt.csv` (a list version in which it changed).
fn change_2676(alt: &mut Vec<u8>) {
    alt.extend_from_slice(b"2676,99999002,\"aka\",\"AL-ZAWAHIRI, Aymen\",-0- \r\n");
}

/// The import + review flow, on whichever store `ws` is configured with.
fn review_flow(ws: &Workspace) {
    ws.import_registry();
    let err = ws.fails(&[
        "screening",
        "review",
        "zaw",
        "--clear",
        "--reason",
        "not him",
        "--by",
        "ana",
    ]);
    assert!(
        err.contains("no denied-party list is imported; import one first"),
        "{err}"
    );
    ws.import_list("ofac-sdn", &sdn_dir());
    assert_eq!(ws.screening("zaw")["status"], "match");

    let reason = "Different person: born 1990 in Alexandria, passport seen";
    let out = ws.ok(&[
        "screening",
        "review",
        "zaw",
        "--entry",
        "ofac-sdn:2676",
        "--clear",
        "--reason",
        reason,
        "--by",
        "ana",
    ]);
    assert_eq!(out, "zaw: ofac-sdn:2676 cleared; screening now clear\n");
    let screening = ws.screening("zaw");
    assert_eq!(screening["status"], "clear", "{screening:#}");
    // The evidence stays, with the review that cleared it.
    let evidence = &screening["matches"][0];
    assert_eq!(evidence["entity_id"], "2676");
    assert_eq!(evidence["review"]["decision"], "clear", "{evidence:#}");
    assert_eq!(evidence["review"]["actor"], "ana");
    assert_eq!(evidence["review"]["reason"], reason);

    // A new version in which entry 2676 is as it was: still cleared.
    let v2 = sdn_copy(ws, "sdn-v2", add_an_entry, |_| {});
    let out = ws.import_list("ofac-sdn", &v2);
    assert!(out.contains("8977 entries, 11910 aliases"), "{out}");
    assert!(out.contains("0 changed status"), "{out}");
    let v2_id = ws.versions()[0]["version"].as_str().unwrap().to_string();
    let screening = ws.screening("zaw");
    assert_eq!(screening["status"], "clear", "{screening:#}");
    assert_eq!(screening["lists"], serde_json::json!([v2_id]));
    assert_eq!(screening["matches"][0]["list"], v2_id);
    assert_eq!(screening["matches"][0]["review"]["actor"], "ana");

    // A version that changes entry 2676 (a new alias): the review lapses.
    let v3 = sdn_copy(ws, "sdn-v3", add_an_entry, change_2676);
    let out = ws.import_list("ofac-sdn", &v3);
    assert!(out.contains("  zaw: clear -> match\n"), "{out}");
    let screening = ws.screening("zaw");
    assert_eq!(screening["status"], "match", "{screening:#}");
    assert!(screening["matches"][0]["review"].is_null(), "{screening:#}");

    // Confirming keeps a match a match, with who confirmed it; `--entry` may be left out when
    // there is one match.
    let out = ws.ok(&[
        "screening",
        "review",
        "karl",
        "--confirm",
        "--reason",
        "it is the bank",
        "--by",
        "ana",
    ]);
    assert_eq!(out, "karl: ofac-sdn:306 confirmed; screening now match\n");
    assert_eq!(
        ws.screening("karl")["matches"][0]["review"]["decision"],
        "confirm"
    );

    let reviews = ws.recorded("screening_review");
    assert_eq!(reviews.len(), 2);
    let admin = &reviews[0]["admin"];
    assert_eq!(admin["actor"], "ana");
    assert_eq!(admin["target"], "zaw");
    assert_eq!(admin["reason"], reason);
    let details = &admin["details"];
    assert_eq!(details["entry"], "ofac-sdn:2676");
    assert_eq!(details["decision"], "clear");
    assert_eq!(details["reason"], reason);
    assert_eq!(
        details["screening"],
        serde_json::json!({"from": "match", "to": "clear"})
    );
    assert_eq!(reviews[1]["admin"]["details"]["decision"], "confirm");
    assert_eq!(ws.recorded("screening_list_import").len(), 3);
    ws.audit_verifies();
}

#[test]
fn a_cleared_match_stays_cleared_while_the_entry_is_unchanged_and_the_review_is_recorded() {
    review_flow(&Workspace::new());
}

#[test]
fn import_and_review_on_postgres() {
    let Some(pg) = ScratchPg::create("import_and_review_on_postgres") else {
        return;
    };
    review_flow(&Workspace::with_store(&format!(
        "postgres = \"{}\"",
        pg.url
    )));
}

#[test]
fn a_review_with_nothing_to_review_is_refused_and_not_recorded() {
    let ws = Workspace::new();
    ws.import_registry();
    ws.import_list("ofac-sdn", &sdn_dir());
    let review = |principal: &str, extra: &[&str]| {
        let mut args = vec!["screening", "review", principal];
        args.extend(extra);
        args.extend(["--clear", "--reason", "checked", "--by", "ana"]);
        ws.fails(&args)
    };
    let err = review("alice", &["--entry", "ofac-sdn:2676"]);
    assert!(
        err.contains(
            "`ofac-sdn:2676` does not match `alice` now, so there is nothing to review; its matches: none"
        ),
        "{err}"
    );
    let err = review("alice", &[]);
    assert!(
        err.contains("`alice` matches no list entry: there is nothing to review"),
        "{err}"
    );
    let err = review("zaw", &["--entry", "ofac-sdn:306"]);
    assert!(
        err.contains("its matches: ofac-sdn:2676 (AL ZAWAHIRI, Dr. Ayman)"),
        "{err}"
    );
    let err = review("zaw", &["--entry", "2676"]);
    assert!(err.contains("is not `<list>:<entity id>`"), "{err}");
    let err = review("nobody", &[]);
    assert!(err.contains("no principal `nobody`"), "{err}");
    assert!(ws.recorded("screening_review").is_empty());
    assert_eq!(ws.screening("zaw")["status"], "match");
}

#[test]
fn a_principal_file_with_a_screening_column_is_refused() {
    let ws = Workspace::new();
    let csv = write_file(
        ws.dir.path(),
        "people.csv",
        "id,name,screening\nmallory,Mallory,clear\n",
    );
    let err = ws.fails(&["principals", "import", as_str(&csv)]);
    assert!(
        err.contains("people.csv:1: unknown column `screening`"),
        "{err}"
    );
    assert!(
        err.contains(
            "screening cannot be imported: it is set only by screening against the imported lists"
        ),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    let jsonl = write_file(
        ws.dir.path(),
        "people.jsonl",
        "{\"id\":\"mallory\",\"name\":\"Mallory\",\"screening\":\"clear\"}\n",
    );
    let err = ws.fails(&["principals", "import", as_str(&jsonl)]);
    assert!(
        err.contains("people.jsonl:1: unknown field `screening`"),
        "{err}"
    );
    assert!(err.contains("screening cannot be imported"), "{err}");
    let (code, _, _) = ws.run(&["principals", "show", "mallory"]);
    assert_ne!(code, Some(0));
}

#[test]
fn a_directive_on_screening_denies_listed_and_unscreened_principals() {
    let ws = Workspace::new();
    ws.import_registry();
    let directive = write_file(
        ws.dir.path(),
        "scr-1.toml",
        "id = \"SCR-1\"\ntitle = \"Denied parties\"\nauthority = \"Sanctions policy 2026-12\"\n\
         effective = \"2026-01-01T00:00:00Z\"\nmode = \"enforce\"\nmodels = [\"gpt-5\"]\n\
         when = \"principal.screening != \\\"clear\\\"\"\neffect = \"deny\"\n",
    );
    ws.ok(&["directives", "activate", as_str(&directive)]);
    let explain = |id: &str| ws.ok(&["explain", "--principal", id, "--model", "gpt-5"]);
    // Unscreened: the fact is missing, and the directive fails closed.
    let out = explain("alice");
    assert!(out.starts_with("Decision: DENY"), "{out}");
    assert!(out.contains("Missing facts: screening"), "{out}");

    ws.import_list("ofac-sdn", &sdn_dir());
    let out = explain("alice");
    assert!(out.starts_with("Decision: ALLOW"), "{out}");
    let out = explain("zaw");
    assert!(out.starts_with("Decision: DENY"), "{out}");
    assert!(
        out.contains("read principal.screening = \"match\""),
        "{out}"
    );
    ws.ok(&[
        "screening",
        "review",
        "zaw",
        "--clear",
        "--reason",
        "not him",
        "--by",
        "ana",
    ]);
    let out = explain("zaw");
    assert!(out.starts_with("Decision: ALLOW"), "{out}");
}
