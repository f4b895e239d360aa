//! Which address is the client's: the TCP peer, or, when the peer is a proxy the operator
//! trusts, the address the proxies recorded in `X-Forwarded-For`.
//!
//! The header is believed only as far as the chain of trusted proxies reaches: anyone can send
//! `X-Forwarded-For`, so an entry written by an untrusted hop is the client's own claim and is
//! never taken. Not for: the RFC 7239 `Forwarded` header, or deciding who may use the gateway.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};

/// The proxies (load balancers, ingress) whose `X-Forwarded-For` entries are believed.
/// Empty by default: the peer address is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A trusted-proxy entry that is neither a network nor a single address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP network (CIDR like 10.0.0.0/8 or a single address)")]
pub struct InvalidNetwork(pub String);

impl TrustedProxies {
    /// From already parsed networks, such as `clearance-config`'s `server.trusted_proxies`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> TrustedProxies {
        TrustedProxies {
            nets: nets.into_iter().map(unmapped_net).collect(),
        }
    }

    /// From CIDR strings; a bare address stands for itself alone (/32 or /128).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, InvalidNetwork> {
        let nets = entries
            .iter()
            .map(|entry| parse_network(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies::new(nets))
    }

    /// Whether `ip` (IPv4-mapped IPv6 counts as IPv4) is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address. `x_forwarded_for` holds the raw value of every `X-Forwarded-For`
    /// header of the request, in the order received (pass a value that is not text as `""`:
    /// it then counts as malformed).
    ///
    /// An untrusted peer is the client, whatever the header says. Behind a trusted peer the
    /// entries are read from the right: trusted proxies are skipped and the first untrusted
    /// address is the client. A malformed entry stops the walk at the last good hop, the
    /// trusted proxy that passed it on; when every entry is trusted, the leftmost one is the
    /// client. IPv4-mapped IPv6 addresses are answered as IPv4.
    pub fn client_ip(&self, peer: IpAddr, x_forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut last_good = peer;
        let entries_from_the_right = x_forwarded_for
            .iter()
            .rev()
            .flat_map(|header| header.rsplit(','));
        for entry in entries_from_the_right {
            match parse_hop(entry) {
                Some(ip) if self.is_trusted(ip) => last_good = ip,
                Some(ip) => return ip,
                None => return last_good,
            }
        }
        last_good
    }
}

fn parse_network(entry: &str) -> Result<IpNet, InvalidNetwork> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| InvalidNetwork(entry.to_string()))
}

/// `::ffff:10.0.0.0/104` is written as the IPv4 network it means, so that it matches the
/// canonical (IPv4) form addresses are compared in.
fn unmapped_net(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else {
        return net;
    };
    v6.addr()
        .to_ipv4_mapped()
        .zip(v6.prefix_len().checked_sub(96))
        .and_then(|(v4, prefix)| Ipv4Net::new(v4, prefix).ok())
        .map_or(net, IpNet::V4)
}

/// One `X-Forwarded-For` entry: an address with optional surrounding whitespace, IPv4 with a
/// `:port`, or `[IPv6]` with or without a `:port`. Anything else is `None`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_ascii();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8", "192.0.2.7"]).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_claims() {
        let client = proxies().client_ip(ip("81.2.69.142"), &["1.2.3.4", "10.0.0.1"]);
        assert_eq!(client, ip("81.2.69.142"));
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_always_the_client() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("10.0.0.1"), &["1.2.3.4"]), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_entry_from_the_right_is_the_client() {
        let client = proxies().client_ip(
            ip("10.0.0.1"),
            &["6.6.6.6, 81.2.69.142, 10.9.9.9", "192.0.2.7"],
        );
        assert_eq!(
            client,
            ip("81.2.69.142"),
            "6.6.6.6 is the client's own claim"
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(proxies().client_ip(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_is_the_client() {
        let client = proxies().client_ip(ip("10.0.0.1"), &["10.1.1.1, 10.2.2.2"]);
        assert_eq!(client, ip("10.1.1.1"));
    }

    #[test]
    fn a_malformed_entry_stops_at_the_proxy_that_passed_it_on() {
        let p = proxies();
        for header in [
            "81.2.69.142, unknown, 10.2.2.2",
            "81.2.69.142, , 10.2.2.2",
            "81.2.69.142, 1.2.3, 10.2.2.2",
            "81.2.69.142, 1.2.3.4:99999, 10.2.2.2",
            "81.2.69.142, fe80::1%eth0, 10.2.2.2",
        ] {
            assert_eq!(
                p.client_ip(ip("10.0.0.1"), &[header]),
                ip("10.2.2.2"),
                "{header}"
            );
        }
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &["81.2.69.142", "garbage"]),
            ip("10.0.0.1"),
            "malformed right after the peer: the peer is the last good hop"
        );
    }

    #[test]
    fn entries_may_carry_whitespace_ports_and_brackets() {
        let p = proxies();
        for (header, expected) in [
            ("  81.2.69.142\t", "81.2.69.142"),
            ("81.2.69.142:4711", "81.2.69.142"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("81.2.69.142,[fd00::5]:80 , 10.0.0.9:1", "81.2.69.142"),
        ] {
            assert_eq!(
                p.client_ip(ip("10.0.0.1"), &[header]),
                ip(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let p = proxies();
        assert_eq!(
            p.client_ip(
                ip("::ffff:10.0.0.1"),
                &["::ffff:81.2.69.142, ::ffff:10.3.3.3"]
            ),
            ip("81.2.69.142")
        );
        assert_eq!(
            p.client_ip(ip("::ffff:81.2.69.142"), &[]),
            ip("81.2.69.142")
        );
        let mapped = TrustedProxies::parse(&["::ffff:172.16.0.0/108"]).unwrap();
        assert!(mapped.is_trusted(ip("172.16.1.1")));
        assert!(!mapped.is_trusted(ip("172.32.0.1")));
    }

    #[test]
    fn a_bare_address_trusts_that_address_alone() {
        let p = TrustedProxies::parse(&["127.0.0.1", " ::1 "]).unwrap();
        assert!(p.is_trusted(ip("127.0.0.1")));
        assert!(p.is_trusted(ip("::1")));
        assert!(!p.is_trusted(ip("127.0.0.2")));
    }

    #[test]
    fn a_bad_network_is_refused_with_its_text() {
        for bad in ["10.0.0.0/33", "10.0.0", "localhost", "", "fd00::/129"] {
            let error = TrustedProxies::parse(&["10.0.0.0/8", bad]).unwrap_err();
            assert_eq!(error, InvalidNetwork(bad.trim().to_string()));
        }
        assert!(
            InvalidNetwork("10.0.0.0/33".into())
                .to_string()
                .contains("CIDR like 10.0.0.0/8")
        );
    }

    /// An address as a proxy might write it: plain, with a port, bracketed, padded.
    fn written(ip: IpAddr, style: u8, port: u16) -> String {
        match (ip, style % 4) {
            (_, 0) => ip.to_string(),
            (IpAddr::V4(v4), 1) => format!("{v4}:{port}"),
            (IpAddr::V6(v6), 1) => format!("[{v6}]:{port}"),
            (IpAddr::V6(v6), 2) => format!("[{v6}]"),
            (IpAddr::V4(v4), 2) => format!("::ffff:{v4}"),
            _ => format!(" {ip}\t"),
        }
    }

    /// Joins entries with commas, starting a new header where `breaks` says.
    fn headers(entries: &[String], breaks: &[bool]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match out.last_mut() {
                Some(last) if !breaks.get(i).copied().unwrap_or(false) => {
                    last.push(',');
                    last.push_str(entry);
                }
                _ => out.push(entry.clone()),
            }
        }
        out
    }

    fn trusted_hop() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::from([10, a, b, c])),
            any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from((bits >> 8) | (0xfd << 120)))),
        ]
    }

    /// Anything a header might hold: addresses in every style, junk, and empty entries.
    fn any_entry() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<IpAddr>(), any::<u8>(), any::<u16>()).prop_map(|(ip, s, p)| written(ip, s, p)),
            (trusted_hop(), any::<u8>(), any::<u16>()).prop_map(|(ip, s, p)| written(ip, s, p)),
            "[^,]{0,20}",
            Just("unknown".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_always_wins(
            peer in any::<IpAddr>(),
            entries in prop::collection::vec(any_entry(), 0..8),
            breaks in prop::collection::vec(any::<bool>(), 0..8),
        ) {
            let p = proxies();
            prop_assume!(!p.is_trusted(peer));
            let headers = headers(&entries, &breaks);
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            prop_assert_eq!(p.client_ip(peer, &headers), peer.to_canonical());
        }

        #[test]
        fn behind_a_chain_of_trusted_hops_the_first_untrusted_from_the_right_is_the_client(
            peer in trusted_hop(),
            claims in prop::collection::vec(any_entry(), 0..4),
            client in any::<IpAddr>(),
            client_style in any::<(u8, u16)>(),
            hops in prop::collection::vec((trusted_hop(), any::<u8>(), any::<u16>()), 0..5),
            breaks in prop::collection::vec(any::<bool>(), 0..10),
        ) {
            let p = proxies();
            prop_assume!(!p.is_trusted(client));
            // Whatever the client claimed sits left of the address the first proxy saw.
            let mut entries = claims;
            entries.push(written(client, client_style.0, client_style.1));
            entries.extend(hops.into_iter().map(|(ip, s, port)| written(ip, s, port)));
            let headers = headers(&entries, &breaks);
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            prop_assert_eq!(p.client_ip(peer, &headers), client.to_canonical());
        }
    }
}
