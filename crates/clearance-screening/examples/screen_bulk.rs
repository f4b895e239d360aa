//! Screens 100,000 synthetic principal names against the real SDN list (tests/data/lists) and
//! prints throughput and per-name latency:
//!
//! ```text
//! cargo run --release -p clearance-screening --example screen_bulk [-- COUNT]
//! ```
//!
//! The names are generated deterministically (a fixed-seed SplitMix64): 60% people from common
//! given names and surnames of many languages, 38% companies from common business words and
//! legal forms, 2% variants of listed SDN names (order swapped, one letter changed). First every
//! name is screened one at a time on one thread, timing each (p50, p99, max); then all of them
//! with `Screener::screen_all` on rayon's pool (all cores), timing the whole.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clearance_screening::{PartyKind, Query, Screener, ScreeningStatus, parse};

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Maria",
    "Jose",
    "Juan",
    "Carlos",
    "Ana",
    "Luis",
    "Mohammed",
    "Ahmed",
    "Ali",
    "Fatima",
    "Omar",
    "Wei",
    "Li",
    "Hiroshi",
    "Yuki",
    "Priya",
    "Rahul",
    "Amit",
    "Olga",
    "Sergei",
    "Ivan",
    "Anna",
    "Pierre",
    "Sophie",
    "Lukas",
    "Emma",
    "Giulia",
    "Marco",
    "Lars",
    "Ingrid",
    "Kwame",
    "Aisha",
    "Chen",
    "Min-jun",
    "Seo-yeon",
    "Thomas",
    "Sarah",
    "Daniel",
    "Laura",
    "Hassan",
];
const SURNAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Khan",
    "Ahmed",
    "Hussain",
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Kim",
    "Lee",
    "Park",
    "Nguyen",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Singh",
    "Kumar",
    "Sharma",
    "Patel",
    "Ivanov",
    "Petrov",
    "Smirnov",
    "Muller",
    "Schmidt",
    "Schneider",
    "Dubois",
    "Martin",
    "Rossi",
    "Russo",
    "Jensen",
    "Hansen",
    "Kowalski",
    "Novak",
    "Okafor",
    "Mensah",
    "Haddad",
    "Cohen",
    "Silva",
    "Santos",
    "Pereira",
];
const BUSINESS: &[&str] = &[
    "Global",
    "International",
    "Trading",
    "Holdings",
    "Group",
    "Solutions",
    "Systems",
    "Tech",
    "Analytics",
    "Logistics",
    "Capital",
    "Partners",
    "Consulting",
    "Services",
    "Industries",
    "Blue",
    "River",
    "North",
    "Star",
    "Summit",
    "Green",
    "Valley",
    "Pacific",
    "Atlantic",
    "Alpha",
    "Nova",
    "Digital",
    "Data",
    "Cloud",
    "Health",
    "Energy",
    "Foods",
    "Media",
    "Labs",
    "Ventures",
];
const LEGAL: &[&str] = &[
    "Ltd", "LLC", "Inc.", "GmbH", "S.A.", "AG", "Pty Ltd", "B.V.", "", "",
];

fn names(count: usize, sdn: &[String]) -> Vec<Query> {
    let mut rng = SplitMix(0x5EED_2021);
    (0..count)
        .map(|_| {
            let roll = rng.next() % 100;
            if roll < 60 {
                let name = format!("{} {}", rng.pick(GIVEN), rng.pick(SURNAMES));
                Query::new(&name, PartyKind::Individual)
            } else if roll < 98 {
                let name = format!(
                    "{} {} {}",
                    rng.pick(BUSINESS),
                    rng.pick(BUSINESS),
                    rng.pick(LEGAL)
                );
                Query::new(name.trim(), PartyKind::Organisation)
            } else {
                let listed = &sdn[(rng.next() % sdn.len() as u64) as usize];
                let mut chars: Vec<char> = listed.chars().collect();
                if chars.len() > 6 && rng.next() & 1 == 0 {
                    let at = 3 + (rng.next() % (chars.len() as u64 - 5)) as usize;
                    if chars[at].is_alphabetic() {
                        chars[at] = 'E';
                    }
                }
                let name: String = chars.into_iter().collect();
                let name = match name.split_once(", ") {
                    Some((surname, given)) => format!("{given} {surname}"),
                    None => name,
                };
                Query::new(&name, PartyKind::Unknown)
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn main() -> ExitCode {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lists/ofac-sdn");
    let started = Instant::now();
    let sdn = match parse::load_ofac_sdn_dir(&dir) {
        Ok(sdn) => sdn,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let parsed = started.elapsed();
    let listed: Vec<String> = sdn.entries.iter().map(|e| e.name.clone()).collect();
    let started = Instant::now();
    let screener = Screener::new(vec![sdn]);
    let indexed = started.elapsed();
    println!(
        "SDN: {} entries, {} names indexed; parsed in {parsed:.2?}, indexed in {indexed:.2?}",
        screener.entry_count(),
        screener.name_count()
    );
    let queries = names(count, &listed);

    let mut latencies = Vec::with_capacity(queries.len());
    let started = Instant::now();
    for query in &queries {
        let t = Instant::now();
        let result = screener.screen(query);
        latencies.push(t.elapsed());
        std::hint::black_box(result);
    }
    let sequential = started.elapsed();
    latencies.sort_unstable();
    println!(
        "one thread: {count} names in {:.2} s ({:.0} names/s); per name p50 {:.1?}, p99 {:.1?}, p99.9 {:.1?}, max {:.1?}",
        sequential.as_secs_f64(),
        count as f64 / sequential.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or_default(),
    );

    let started = Instant::now();
    let results = screener.screen_all(&queries);
    let parallel = started.elapsed();
    let flagged = |s: ScreeningStatus| results.iter().filter(|r| r.status == s).count();
    println!(
        "all threads ({}): {count} names in {:.2} s ({:.0} names/s); {} match, {} potential, {} clear",
        rayon::current_num_threads(),
        parallel.as_secs_f64(),
        count as f64 / parallel.as_secs_f64(),
        flagged(ScreeningStatus::Match),
        flagged(ScreeningStatus::PotentialMatch),
        flagged(ScreeningStatus::Clear),
    );
    println!("first flagged synthetic (not listed-variant) names:");
    let flagged_synthetic = queries
        .iter()
        .zip(&results)
        .filter(|(q, r)| q.kind != PartyKind::Unknown && r.status != ScreeningStatus::Clear)
        .take(12);
    for (query, result) in flagged_synthetic {
        if let Some(top) = result.matches.first() {
            println!(
                "  {:?} -> {} {:?} {:.3}",
                query.name, top.entity_id, top.matched_name, top.score
            );
        }
    }
    ExitCode::SUCCESS
}
