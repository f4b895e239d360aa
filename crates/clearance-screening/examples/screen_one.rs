//! Screens the names given as arguments against the real SDN list and the DPL (in
//! tests/data/lists) and prints each result: `cargo run --release -p clearance-screening
//! --example screen_one -- "Ayman al Zawahiri" "ACME TRADING LTD"`. A name prefixed with
//! `org:` or `ind:` is screened as an organisation or an individual (default: unknown kind).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clearance_screening::{PartyKind, Query, Screener, parse};

fn main() -> ExitCode {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lists");
    let lists = parse::load_ofac_sdn_dir(&dir.join("ofac-sdn"))
        .and_then(|sdn| Ok(vec![sdn, parse::load_bis_dpl(&dir.join("bis-dpl.txt"))?]));
    let lists = match lists {
        Ok(lists) => lists,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let screener = Screener::new(lists);
    for arg in std::env::args().skip(1) {
        let (kind, name) = match arg.split_once(':') {
            Some(("org", name)) => (PartyKind::Organisation, name),
            Some(("ind", name)) => (PartyKind::Individual, name),
            _ => (PartyKind::Unknown, arg.as_str()),
        };
        let started = Instant::now();
        let result = screener.screen(&Query::new(name, kind));
        let took = started.elapsed();
        println!("{name:?} ({kind:?}): {:?} in {took:?}", result.status);
        for m in &result.matches {
            println!(
                "  {:.3} {} {} {:?} via {:?} {:?}",
                m.score, m.source, m.entity_id, m.matched_name, m.alias_type, m.reasons
            );
        }
    }
    ExitCode::SUCCESS
}
