//! The geo-IP database: a MaxMind DB file read into memory once at start, then looked up on
//! every request to find the client's country.
//!
//! Not for: choosing which address to look up (that is [`crate::TrustedProxies`]), nor
//! reloading a newer file (open a new [`GeoIp`] and swap it in whole).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clearance_core::country::CountryCode;
use maxminddb::{PathElement, Reader};

/// Where a GeoIP2/GeoLite2 Country or City record keeps the country code. `country`, not
/// `registered_country`: where the address is used, not where its block was registered.
const COUNTRY_ISO_CODE: [PathElement<'static>; 2] =
    [PathElement::Key("country"), PathElement::Key("iso_code")];

/// Words in `database_type` naming the MaxMind (and MaxMind-compatible) databases whose records
/// carry `country.iso_code`: GeoIP2/GeoLite2 Country and City, their regional editions,
/// Enterprise, and DB-IP's `DBIP-Country-Lite`/`DBIP-City-Lite`.
const TYPES_WITH_COUNTRY: [&str; 3] = ["Country", "City", "Enterprise"];

/// A MaxMind DB held in memory. Cheap to query from many threads at once.
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
    codes: CountryCodes,
}

/// Why a geo-IP database could not be opened. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("geo-IP database {}: cannot read the file: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("geo-IP database {}: not a MaxMind DB (.mmdb) file: {reason}", path.display())]
    NotMmdb { path: PathBuf, reason: String },
    #[error(
        "geo-IP database {}: its type `{database_type}` holds no country data; \
         use a GeoIP2 or GeoLite2 Country or City database",
        path.display()
    )]
    NoCountryData {
        path: PathBuf,
        database_type: String,
    },
}

impl GeoIp {
    /// Reads the whole file into memory and checks that it is a database with country data.
    pub fn open(path: &Path) -> Result<GeoIp, GeoIpError> {
        let bytes = std::fs::read(path).map_err(|error| GeoIpError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        let reader = Reader::from_source(bytes).map_err(|e| GeoIpError::NotMmdb {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let database_type = &reader.metadata().database_type;
        if !TYPES_WITH_COUNTRY
            .iter()
            .any(|kind| database_type.contains(kind))
        {
            return Err(GeoIpError::NoCountryData {
                path: path.to_path_buf(),
                database_type: database_type.clone(),
            });
        }
        Ok(GeoIp {
            reader,
            codes: CountryCodes::new(),
        })
    }

    /// The country the database places `ip` in; `None` when the address is not in it, its
    /// record has no country (anycast and satellite blocks, for instance), the code is not an
    /// assigned ISO 3166-1 code, or the record cannot be read. An IPv4-mapped IPv6 address is
    /// looked up as its IPv4 address.
    ///
    /// Allocates nothing for a well-formed record: the code is read as a slice of the
    /// in-memory file and checked against a table built at open.
    pub fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        let found = self.reader.lookup(ip.to_canonical()).ok()?;
        let code: &str = found.decode_path(&COUNTRY_ISO_CODE).ok()??;
        self.codes.get(code)
    }

    /// The database's own name for what it is, such as `GeoLite2-Country`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built, in seconds since the Unix epoch: logged at start so that
    /// an operator sees a stale file.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.database_type())
            .field("build_epoch", &self.build_epoch())
            .finish_non_exhaustive()
    }
}

/// Every two-letter code, validated once: `CountryCode::from_str` allocates, and the lookup
/// runs on every request.
struct CountryCodes([Option<CountryCode>; 26 * 26]);

impl CountryCodes {
    fn new() -> CountryCodes {
        CountryCodes(std::array::from_fn(|i| {
            let letters = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
            std::str::from_utf8(&letters).ok()?.parse().ok()
        }))
    }

    fn get(&self, code: &str) -> Option<CountryCode> {
        let [first, second] = code.as_bytes() else {
            return None;
        };
        let index = |b: &u8| {
            let b = b.to_ascii_uppercase();
            b.is_ascii_uppercase().then(|| usize::from(b - b'A'))
        };
        *self.0.get(index(first)? * 26 + index(second)?)?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const GEOLITE2_COUNTRY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/geoip/GeoLite2-Country-Test.mmdb"
    );
    const GEOIP2_COUNTRY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/geoip/GeoIP2-Country-Test.mmdb"
    );
    const GEOIP2_CITY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/geoip/GeoIP2-City-Test.mmdb"
    );

    fn open(path: &str) -> GeoIp {
        GeoIp::open(Path::new(path)).unwrap()
    }

    fn country(db: &GeoIp, ip: &str) -> Option<String> {
        db.country(ip.parse().unwrap()).map(|c| c.to_string())
    }

    #[test]
    fn geolite2_country_answers_where_the_address_is_used_not_where_it_was_registered() {
        let db = open(GEOLITE2_COUNTRY);
        // From GeoLite2-Country-Test.json: (network, country.iso_code, registered_country).
        for (ip, expected) in [
            ("81.2.69.142", "GB"),     // 81.2.69.142/31, registered US
            ("89.160.20.130", "SE"),   // 89.160.20.128/25, registered DE
            ("216.160.83.60", "US"),   // 216.160.83.56/29, registered GB
            ("67.43.156.1", "BT"),     // 67.43.156.0/24, registered RO
            ("2001:218::1", "JP"),     // 2001:218::/32
            ("2a02:d180::beef", "DE"), // 2a02:d180::/29
        ] {
            assert_eq!(country(&db, ip).as_deref(), Some(expected), "{ip}");
        }
    }

    #[test]
    fn geoip2_country_and_city_databases_answer_too() {
        let db = open(GEOIP2_COUNTRY);
        assert_eq!(country(&db, "214.78.120.5").as_deref(), Some("US"));
        assert_eq!(country(&db, "2001:220::1").as_deref(), Some("KR"));
        let city = open(GEOIP2_CITY);
        assert_eq!(city.database_type(), "GeoIP2-City");
        assert_eq!(country(&city, "89.160.20.128").as_deref(), Some("SE"));
        assert_eq!(country(&city, "81.2.69.160").as_deref(), Some("GB"));
    }

    #[test]
    fn an_address_outside_the_database_or_without_a_country_has_none() {
        let db = open(GEOLITE2_COUNTRY);
        assert_eq!(
            country(&db, "192.0.2.1"),
            None,
            "TEST-NET-1 is in no database"
        );
        assert_eq!(country(&db, "::1"), None);
        // 2a02:d500::/29 carries only a continent.
        assert_eq!(country(&db, "2a02:d500::1"), None);
        // 214.1.1.0/24 in the GeoIP2 test database carries only traits.
        assert_eq!(country(&open(GEOIP2_COUNTRY), "214.1.1.1"), None);
    }

    #[test]
    fn an_ipv4_mapped_address_is_looked_up_as_ipv4() {
        let db = open(GEOLITE2_COUNTRY);
        assert_eq!(country(&db, "::ffff:81.2.69.142").as_deref(), Some("GB"));
    }

    #[test]
    fn metadata_is_there_for_the_start_up_log() {
        let db = open(GEOLITE2_COUNTRY);
        assert_eq!(db.database_type(), "GeoLite2-Country");
        assert!(db.build_epoch() > 1_000_000_000, "{}", db.build_epoch());
        let debug = format!("{db:?}");
        assert!(debug.contains("GeoLite2-Country"), "{debug}");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let error = GeoIp::open(Path::new("/nonexistent/GeoLite2-Country.mmdb")).unwrap_err();
        assert!(
            matches!(error, GeoIpError::Unreadable { ref error, .. } if error.kind() == std::io::ErrorKind::NotFound)
        );
        let shown = error.to_string();
        assert!(
            shown.contains("/nonexistent/GeoLite2-Country.mmdb: cannot read the file"),
            "{shown}"
        );
    }

    #[test]
    fn a_file_that_is_not_an_mmdb_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "country,network\nUS,10.0.0.0/8\n").unwrap();
        let error = GeoIp::open(file.path()).unwrap_err();
        assert!(matches!(error, GeoIpError::NotMmdb { .. }), "{error:?}");
        assert!(error.to_string().contains("not a MaxMind DB"), "{error}");
    }

    #[test]
    fn a_database_without_country_data_is_refused() {
        // The Country test database relabelled, same length, as a type with no countries.
        let bytes = std::fs::read(GEOIP2_COUNTRY).unwrap();
        let (from, to) = (b"GeoIP2-Country", b"GeoIP2-ASNxxxx");
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut relabelled = bytes.clone();
        relabelled[at..at + from.len()].copy_from_slice(to);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), relabelled).unwrap();

        let error = GeoIp::open(file.path()).unwrap_err();
        assert!(
            matches!(&error, GeoIpError::NoCountryData { database_type, .. } if database_type == "GeoIP2-ASNxxxx"),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("holds no country data"),
            "{error}"
        );
    }

    #[test]
    fn country_codes_are_checked_against_iso_3166() {
        let codes = CountryCodes::new();
        assert_eq!(codes.get("US"), Some(CountryCode::US));
        assert_eq!(codes.get("us"), Some(CountryCode::US));
        for bad in ["XX", "ZZ", "U", "USA", "", "1A", "Ü"] {
            assert_eq!(codes.get(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_database_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GeoIp>();
    }
}
