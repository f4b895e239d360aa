//! What a signed-in caller costs per request against a key caller, in one run: verifying an
//! RS256 and an ES256 JWT with its key already cached (`KeySet`), and the key path's own check
//! (`PresentedKey::parse` and the SHA-256 constant-time compare). Prints the ratios at the end.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use clearance_core::key::{NewKey, PresentedKey};
use clearance_identity::{ClaimPath, IssuerPolicy, KeySet, verify_token};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../clearance-fake/keys");
const NOW: i64 = 1_800_000_000;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

struct Setup {
    keys: KeySet,
    policy: IssuerPolicy,
    rs256: String,
    es256: String,
    key_text: String,
    key_hash: clearance_core::key::SecretHash,
}

fn setup() -> Setup {
    let doc = format!(
        r#"{{"keys":[{},{}]}}"#,
        read("rsa-1.jwk.json"),
        read("ec-1.jwk.json")
    );
    let keys = KeySet::parse(doc.as_bytes()).unwrap();
    let mut policy = IssuerPolicy::new("https://idp.example.com", vec!["clearance".into()]);
    policy.claims.facts = vec![
        ("citizenships", ClaimPath::parse("citizenships").unwrap()),
        ("residence", ClaimPath::parse("residence").unwrap()),
    ];
    let claims = json!({"iss": "https://idp.example.com", "aud": "clearance", "sub": "alice",
        "exp": NOW + 300, "citizenships": ["US"], "residence": "US"});
    let sign = |alg, kid: &str, key: EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        encode(&header, &claims, &key).unwrap()
    };
    let rs256 = sign(
        jsonwebtoken::Algorithm::RS256,
        "rsa-1",
        EncodingKey::from_rsa_pem(read("rsa-1.pem").as_bytes()).unwrap(),
    );
    let es256 = sign(
        jsonwebtoken::Algorithm::ES256,
        "ec-1",
        EncodingKey::from_ec_pem(read("ec-1.pem").as_bytes()).unwrap(),
    );
    let new_key = NewKey::generate(&mut rand::rng());
    Setup {
        keys,
        policy,
        rs256,
        es256,
        key_text: new_key.plaintext.clone(),
        key_hash: new_key.hash,
    }
}

fn per_call(mut f: impl FnMut(), n: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_secs_f64() / f64::from(n)
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("authenticate");
    group.bench_function("key_hash_check", |b| {
        b.iter(|| {
            let presented = PresentedKey::parse(std::hint::black_box(&s.key_text)).unwrap();
            assert!(presented.matches(&s.key_hash));
        });
    });
    group.bench_function("jwt_rs256_cached_key", |b| {
        b.iter(|| verify_token(std::hint::black_box(&s.rs256), &s.policy, &s.keys, NOW).unwrap());
    });
    group.bench_function("jwt_es256_cached_key", |b| {
        b.iter(|| verify_token(std::hint::black_box(&s.es256), &s.policy, &s.keys, NOW).unwrap());
    });
    group.finish();

    // The ratio, measured back to back in this run (criterion's own figures above).
    let key = per_call(
        || {
            let p = PresentedKey::parse(&s.key_text).unwrap();
            assert!(p.matches(&s.key_hash));
        },
        200_000,
    );
    let rs = per_call(
        || drop(verify_token(&s.rs256, &s.policy, &s.keys, NOW).unwrap()),
        2_000,
    );
    let es = per_call(
        || drop(verify_token(&s.es256, &s.policy, &s.keys, NOW).unwrap()),
        2_000,
    );
    println!(
        "\nper request: key {:.2} us, RS256 JWT {:.1} us ({:.0}x the key), ES256 JWT {:.1} us ({:.0}x)",
        key * 1e6,
        rs * 1e6,
        rs / key,
        es * 1e6,
        es / key
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
