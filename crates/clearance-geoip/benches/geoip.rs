//! The two per-request steps: finding the client's address behind proxies, and its country.
//! Run with `cargo bench -p clearance-geoip`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use clearance_geoip::{GeoIp, TrustedProxies};
use criterion::{Criterion, criterion_group, criterion_main};

const GEOLITE2_COUNTRY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/geoip/GeoLite2-Country-Test.mmdb"
);

fn country(c: &mut Criterion) {
    let db = GeoIp::open(Path::new(GEOLITE2_COUNTRY)).unwrap();
    let mut group = c.benchmark_group("country");
    for (name, ip) in [
        ("ipv4_found", "81.2.69.142"),
        ("ipv6_found", "2001:218::1"),
        ("not_found", "192.0.2.1"),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        group.bench_function(name, |b| b.iter(|| db.country(black_box(ip))));
    }
    group.finish();
}

fn client_ip(c: &mut Criterion) {
    let proxies = TrustedProxies::parse(&["10.0.0.0/8", "172.16.0.0/12", "fd00::/8"]).unwrap();
    let mut group = c.benchmark_group("client_ip");
    let trusted_peer: IpAddr = "10.0.0.1".parse().unwrap();
    let untrusted_peer: IpAddr = "81.2.69.142".parse().unwrap();
    group.bench_function("untrusted_peer", |b| {
        b.iter(|| proxies.client_ip(black_box(untrusted_peer), black_box(&["1.2.3.4"])))
    });
    group.bench_function("two_trusted_hops", |b| {
        b.iter(|| {
            proxies.client_ip(
                black_box(trusted_peer),
                black_box(&["6.6.6.6, 81.2.69.142, 172.16.0.9", "10.1.2.3:4711"]),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, country, client_ip);
criterion_main!(benches);
