//! Where the real list files are, and loading them once per test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use clearance_screening::{ParsedList, Screener, parse};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lists")
}

pub fn sdn() -> ParsedList {
    parse::load_ofac_sdn_dir(&data_dir().join("ofac-sdn")).expect("the real SDN files parse")
}

pub fn dpl() -> ParsedList {
    parse::load_bis_dpl(&data_dir().join("bis-dpl.txt")).expect("the real DPL parses")
}

pub fn csl() -> ParsedList {
    parse::load_csl(&data_dir().join("csl-sample.csv")).expect("the real CSL sample parses")
}

/// SDN and DPL together, indexed once.
pub fn screener() -> &'static Screener {
    static SCREENER: OnceLock<Screener> = OnceLock::new();
    SCREENER.get_or_init(|| Screener::new(vec![sdn(), dpl()]))
}
