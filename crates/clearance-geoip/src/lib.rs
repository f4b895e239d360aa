//! Where a request comes from: which address is the client's, and which country that address
//! is in.
//!
//! Two pieces, used one after the other on the request path:
//!
//! - [`TrustedProxies`] picks the client's address out of the TCP peer and the
//!   `X-Forwarded-For` headers, believing the headers only when the peer is a proxy the
//!   operator listed (a client cannot claim another location by sending the header itself).
//! - [`GeoIp`] looks that address up in a MaxMind DB file (GeoIP2 or GeoLite2, Country or City)
//!   and answers with a [`CountryCode`], without allocating.
//!
//! This crate is an adapter: the only file it reads is the database, once, in [`GeoIp::open`];
//! it parses no config (the gateway hands it the networks `clearance-config` resolved) and keeps
//! no global state. Both types are `Send + Sync` and are meant to be shared behind an `Arc`.
//!
//! ```no_run
//! use std::net::IpAddr;
//! use std::path::Path;
//!
//! use clearance_geoip::{GeoIp, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse(&["10.0.0.0/8"])?;
//! let geoip = GeoIp::open(Path::new("GeoLite2-Country.mmdb"))?;
//! let peer: IpAddr = "10.1.2.3".parse()?;
//! let client = proxies.client_ip(peer, &["81.2.69.142, 10.0.0.7"]);
//! let country = geoip.country(client); // Some(GB)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`CountryCode`]: clearance_core::country::CountryCode

mod db;
mod proxies;

pub use db::{GeoIp, GeoIpError};
pub use proxies::{InvalidNetwork, TrustedProxies};
