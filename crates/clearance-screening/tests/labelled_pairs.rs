//! Precision and recall of screening on tests/data/labelled_pairs.csv (made by
//! tests/data/make_labelled_pairs.py from the real SDN and DPL, plus hand-written rows), against
//! the real SDN and DPL. Run with `--nocapture` to see the figures.
//!
//! A positive pair counts as found when its expected entity is among the matches at or above
//! the threshold; a pair raises an alert when any match is at or above it. Precision = found
//! positives / alerts; recall = found positives / positives.

mod common;

use clearance_screening::screen::{MATCH, POTENTIAL};
use std::sync::OnceLock;

use clearance_screening::{PartyKind, Query, Screener, ScreenerConfig};

struct Pair {
    query: String,
    expected: String,
    positive: bool,
    source: String,
}

fn pairs() -> Vec<Pair> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/labelled_pairs.csv");
    let mut reader = csv::Reader::from_path(path).expect("labelled pairs");
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            Pair {
                query: r[0].to_string(),
                expected: r[1].to_string(),
                positive: &r[2] == "match",
                source: r[3].to_string(),
            }
        })
        .collect()
}

struct Measured {
    precision: f64,
    recall: f64,
    misses: Vec<String>,
    false_alerts: Vec<String>,
}

/// SDN and DPL indexed with a low potential threshold, so that every threshold of the sweep
/// sees all the scores above it.
fn screener() -> &'static Screener {
    static SCREENER: OnceLock<Screener> = OnceLock::new();
    SCREENER.get_or_init(|| {
        let config = ScreenerConfig {
            potential_threshold: 0.70,
            match_threshold: MATCH,
            max_matches: 50,
        };
        Screener::with_config(vec![common::sdn(), common::dpl()], config)
    })
}

fn measure(threshold: f64) -> Measured {
    let screener = screener();
    let (mut alerts, mut found, mut positives) = (0usize, 0usize, 0usize);
    let (mut misses, mut false_alerts) = (Vec::new(), Vec::new());
    for pair in pairs() {
        let result = screener.screen(&Query::new(&pair.query, PartyKind::Unknown));
        let above: Vec<_> = result
            .matches
            .iter()
            .filter(|m| m.score >= threshold)
            .collect();
        let alert = !above.is_empty();
        alerts += usize::from(alert);
        if pair.positive {
            positives += 1;
            if above.iter().any(|m| m.entity_id == pair.expected) {
                found += 1;
            } else {
                let best = result
                    .matches
                    .iter()
                    .find(|m| m.entity_id == pair.expected)
                    .map(|m| m.score);
                misses.push(format!(
                    "{:?} ({}) best for expected: {best:?}",
                    pair.query, pair.source
                ));
            }
        }
        let wrong: Vec<String> = above
            .iter()
            .filter(|m| !pair.positive || m.entity_id != pair.expected)
            .map(|m| format!("{} {:?} {:.3}", m.entity_id, m.matched_name, m.score))
            .collect();
        if !pair.positive && !wrong.is_empty() {
            false_alerts.push(format!("{:?} -> {}", pair.query, wrong.join("; ")));
        }
    }
    Measured {
        precision: if alerts == 0 {
            1.0
        } else {
            found as f64 / alerts as f64
        },
        recall: found as f64 / positives as f64,
        misses,
        false_alerts,
    }
}

#[test]
fn the_pairs_file_is_balanced_and_large_enough() {
    let pairs = pairs();
    let positives = pairs.iter().filter(|p| p.positive).count();
    assert!(pairs.len() >= 120, "{} pairs", pairs.len());
    assert!(
        positives * 2 >= pairs.len() - 10 && positives * 2 <= pairs.len() + 40,
        "{positives} of {}",
        pairs.len()
    );
    assert!(
        pairs
            .iter()
            .all(|p| p.positive != p.expected.is_empty() && !p.source.is_empty())
    );
}

#[test]
fn precision_and_recall_stay_above_their_floors() {
    for threshold in [0.75, 0.80, 0.83, 0.85, 0.87, 0.90, 0.92, 0.94, 0.96] {
        let m = measure(threshold);
        println!(
            "sweep >= {threshold:.2}: precision {:.3}, recall {:.3}",
            m.precision, m.recall
        );
    }
    for (name, threshold, precision_floor, recall_floor) in [
        ("potential", POTENTIAL, 0.0, 0.0),
        ("match", MATCH, 0.0, 0.0),
    ] {
        let m = measure(threshold);
        println!(
            "{name} (>= {threshold}): precision {:.3}, recall {:.3}",
            m.precision, m.recall
        );
        for miss in &m.misses {
            println!("  missed {miss}");
        }
        for fa in &m.false_alerts {
            println!("  false alert {fa}");
        }
        assert!(
            m.precision >= precision_floor,
            "{name}: precision {:.3} < {precision_floor}",
            m.precision
        );
        assert!(
            m.recall >= recall_floor,
            "{name}: recall {:.3} < {recall_floor}",
            m.recall
        );
    }
}
