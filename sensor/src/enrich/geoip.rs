//! GeoIP and autonomous-system enrichment from MaxMind DB (`.mmdb`) files.
//!
//! Up to three databases are opened once at start-up and only read afterwards:
//! country, city and ASN. Each may use either of two record layouts, and both are
//! read by one tolerant record type, so no per-database mode is needed:
//!
//! - MaxMind GeoIP2/GeoLite2: `country.iso_code`, `continent.code`, `city.names.en`,
//!   `location.latitude`/`longitude`;
//! - the flat layout of the `@ip-location-db` packages: `country_code`, `city`,
//!   `latitude`, `longitude`;
//! - ASN, the same in both: `autonomous_system_number`, `autonomous_system_organization`.
//!
//! A lookup allocates nothing: records decode into structs that borrow `&str` from the
//! database buffer, and country and continent names come from the compiled
//! ISO 3166 table in `iso3166.rs` rather than from the database's localized name maps.
//!
//! Addresses that are not globally routed never reach a database; see
//! [`is_public`] for the list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use maxminddb::{MaxMindDbError, Reader};
use netsensor_schema::{AutonomousSystem, Geo, GeoPoint, Organization};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::iso3166;

/// Paths of the databases to open; `None` leaves that kind out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoPaths {
    /// Country database (`enrichment.geoip.country_database`).
    pub country: Option<PathBuf>,
    /// City database (`enrichment.geoip.city_database`); also gives the country.
    pub city: Option<PathBuf>,
    /// ASN database (`enrichment.geoip.asn_database`).
    pub asn: Option<PathBuf>,
}

/// Which of the three databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Country database.
    Country,
    /// City database.
    City,
    /// ASN database.
    Asn,
}

impl DatabaseKind {
    /// Lower-case name, as in the config keys (`country`, `city`, `asn`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Country => "country",
            DatabaseKind::City => "city",
            DatabaseKind::Asn => "asn",
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failure to open a database; always names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The file is missing, unreadable or not a valid MaxMind DB.
    #[error("cannot open GeoIP {kind} database {}", path.display())]
    Open {
        /// Which database.
        kind: DatabaseKind,
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        #[source]
        source: MaxMindDbError,
    },
    /// The file's `database_type` says it holds another kind of data, e.g. an ASN
    /// database given as `country_database`.
    #[error(
        "GeoIP {kind} database {} has database_type {database_type:?}, which is not {kind} data",
        path.display()
    )]
    WrongKind {
        /// Which database it was given as.
        kind: DatabaseKind,
        /// The file.
        path: PathBuf,
        /// The `database_type` from the file's metadata.
        database_type: String,
    },
}

/// Facts about one opened database, for the start-up log.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseInfo<'a> {
    /// Which database.
    pub kind: DatabaseKind,
    /// The file it was read from.
    pub path: &'a Path,
    /// `database_type` from its metadata (e.g. `GeoLite2-City`).
    pub database_type: &'a str,
    /// `build_epoch` from its metadata, seconds since the Unix epoch.
    pub build_epoch: u64,
}

struct Db {
    kind: DatabaseKind,
    path: PathBuf,
    reader: Reader<Vec<u8>>,
    ipv6: bool,
}

/// The opened GeoIP/ASN databases: read-only after [`GeoIp::open`], shared by reference.
pub struct GeoIp {
    country: Option<Db>,
    city: Option<Db>,
    asn: Option<Db>,
    decode_errors: AtomicU64,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.databases()).finish()
    }
}

impl GeoIp {
    /// Reads every configured database into memory. The error names the file.
    pub fn open(paths: &GeoPaths) -> Result<GeoIp, GeoError> {
        Ok(GeoIp {
            country: open_db(DatabaseKind::Country, paths.country.as_deref())?,
            city: open_db(DatabaseKind::City, paths.city.as_deref())?,
            asn: open_db(DatabaseKind::Asn, paths.asn.as_deref())?,
            decode_errors: AtomicU64::new(0),
        })
    }

    /// No databases: every lookup answers `(None, None)`.
    pub fn empty() -> GeoIp {
        GeoIp {
            country: None,
            city: None,
            asn: None,
            decode_errors: AtomicU64::new(0),
        }
    }

    /// True when no database is open, so callers can skip lookups altogether.
    pub fn is_empty(&self) -> bool {
        self.country.is_none() && self.city.is_none() && self.asn.is_none()
    }

    /// The opened databases, in the order city, country, ASN.
    pub fn databases(&self) -> impl Iterator<Item = DatabaseInfo<'_>> {
        [&self.city, &self.country, &self.asn]
            .into_iter()
            .flatten()
            .map(|db| DatabaseInfo {
                kind: db.kind,
                path: &db.path,
                database_type: &db.reader.metadata().database_type,
                build_epoch: db.reader.metadata().build_epoch,
            })
    }

    /// Records that were found but could not be decoded (a corrupt or unexpected
    /// database) since start-up; such lookups answer `None`. For a metric.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors.load(Ordering::Relaxed)
    }

    /// Geo from a country code alone (names from the ISO 3166 table), for flow records whose
    /// addresses were pseudonymised after the packet's lookup.
    pub fn country_geo(code: &str) -> Option<Geo<'static>> {
        let country = iso3166::country(code)?;
        Some(Geo {
            country_iso_code: Some(country.code),
            country_name: Some(country.name),
            continent_name: Some(country.continent.name()),
            city_name: None,
            location: None,
        })
    }

    /// Geo and AS of a public address; `None` for addresses that [`is_public`] rejects,
    /// and for fields no database has. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
    /// (`64:ff9b::a.b.c.d`) addresses are looked up as the IPv4 address they carry.
    ///
    /// Geo comes from the city database, then (for a country the city database lacks)
    /// from the country database; AS from the ASN database, then from the others.
    /// Country and continent names are `&'static str` from the ISO 3166 table; the city and
    /// organization names borrow from the database.
    pub fn lookup(&self, ip: IpAddr) -> (Option<Geo<'_>>, Option<AutonomousSystem<'_>>) {
        let Some(ip) = public_address(ip) else {
            return (None, None);
        };
        let city = self.record(self.city.as_ref(), ip);
        let has_country = city.as_ref().is_some_and(|r| r.country_code().is_some());
        let country = if has_country {
            None
        } else {
            self.record(self.country.as_ref(), ip)
        };
        let asn = self.record(self.asn.as_ref(), ip);

        let mut geo = Geo::default();
        for record in [&city, &country].into_iter().flatten() {
            record.fill_geo(&mut geo);
        }
        let mut as_ = AutonomousSystem::default();
        for record in [&asn, &city, &country].into_iter().flatten() {
            record.fill_as(&mut as_);
        }
        let geo = (geo.country_iso_code.is_some()
            || geo.continent_name.is_some()
            || geo.city_name.is_some()
            || geo.location.is_some())
        .then_some(geo);
        let as_ = (as_.number.is_some() || as_.organization.is_some()).then_some(as_);
        (geo, as_)
    }

    fn record<'a>(&'a self, db: Option<&'a Db>, ip: IpAddr) -> Option<Record<'a>> {
        let db = db?;
        if ip.is_ipv6() && !db.ipv6 {
            return None;
        }
        let decoded = db
            .reader
            .lookup(ip)
            .and_then(|found| found.decode::<Record<'a>>());
        match decoded {
            Ok(record) => record,
            Err(_) => {
                self.decode_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

fn open_db(kind: DatabaseKind, path: Option<&Path>) -> Result<Option<Db>, GeoError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let reader = Reader::open_readfile(path).map_err(|source| GeoError::Open {
        kind,
        path: path.to_owned(),
        source,
    })?;
    let metadata = reader.metadata();
    if !kind_matches(kind, &metadata.database_type) {
        return Err(GeoError::WrongKind {
            kind,
            path: path.to_owned(),
            database_type: metadata.database_type.clone(),
        });
    }
    let ipv6 = metadata.ip_version == 6;
    Ok(Some(Db {
        kind,
        path: path.to_owned(),
        reader,
        ipv6,
    }))
}

/// Rejects only clear mix-ups, judged by `database_type`: an ASN-only database given
/// as country/city, or a country/city-only database given as ASN. Unknown types
/// (custom or combined databases) are accepted.
fn kind_matches(kind: DatabaseKind, database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    let geo = t.contains("country") || t.contains("city");
    let asn = t.contains("asn");
    match kind {
        DatabaseKind::Country | DatabaseKind::City => geo || !asn,
        DatabaseKind::Asn => asn || !geo,
    }
}

/// True for an address worth a GeoIP lookup: one that can be routed on the public
/// internet. False for (IPv4) `0.0.0.0/8` "this network", `10/8`, `172.16/12`,
/// `192.168/16` private, `100.64/10` shared/CGNAT, `127/8` loopback, `169.254/16`
/// link-local, `192.0.0.0/24` IETF protocol assignments, `192.0.2/24`,
/// `198.51.100/24`, `203.0.113/24` documentation, `198.18/15` benchmarking, `224/4`
/// multicast, `240/4` reserved and broadcast; (IPv6) `::/96` unspecified, loopback and
/// IPv4-compatible, `64:ff9b:1::/48` local-use NAT64, `100::/64` discard-only,
/// `2001:2::/48` benchmarking, `2001:db8::/32` and `3fff::/20` documentation,
/// `5f00::/16` SRv6 SIDs, `fc00::/7` unique-local, `fe80::/10` link-local, `fec0::/10`
/// site-local, `ff00::/8` multicast. IPv4-mapped `::ffff:0:0/96` and NAT64
/// `64:ff9b::/96` addresses are judged by the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    public_address(ip).is_some()
}

/// The address to look up (IPv4 for mapped/NAT64 forms), or `None` if not public.
fn public_address(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => public_v4(v4).then_some(ip),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| nat64_v4(v6)) {
                return public_v4(v4).then_some(IpAddr::V4(v4));
            }
            public_v6(v6).then_some(ip)
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from_be_bytes(net) & mask
}

fn public_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || in_v4(ip, [0, 0, 0, 0], 8)
        || in_v4(ip, [100, 64, 0, 0], 10)
        || in_v4(ip, [192, 0, 0, 0], 24)
        || in_v4(ip, [198, 18, 0, 0], 15)
        || in_v4(ip, [240, 0, 0, 0], 4))
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The IPv4 address in the RFC 6052 well-known NAT64 prefix `64:ff9b::/96`.
fn nat64_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
        .then(|| Ipv4Addr::from(u128::from(ip) as u32))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    const fn net(s0: u16, s1: u16, s2: u16) -> Ipv6Addr {
        Ipv6Addr::new(s0, s1, s2, 0, 0, 0, 0, 0)
    }
    const NOT_PUBLIC: [(Ipv6Addr, u32); 11] = [
        (net(0, 0, 0), 96),          // unspecified, loopback, IPv4-compatible
        (net(0x64, 0xff9b, 1), 48),  // local-use NAT64 (RFC 8215)
        (net(0x100, 0, 0), 64),      // discard-only
        (net(0x2001, 2, 0), 48),     // benchmarking
        (net(0x2001, 0xdb8, 0), 32), // documentation
        (net(0x3fff, 0, 0), 20),     // documentation (RFC 9637)
        (net(0x5f00, 0, 0), 16),     // SRv6 SIDs (RFC 9602)
        (net(0xfc00, 0, 0), 7),      // unique-local
        (net(0xfe80, 0, 0), 10),     // link-local
        (net(0xfec0, 0, 0), 10),     // site-local (deprecated)
        (net(0xff00, 0, 0), 8),      // multicast
    ];
    !NOT_PUBLIC
        .iter()
        .any(|&(prefix, len)| in_v6(ip, prefix, len))
}

/// One database record in either layout; only the fields the sensor uses. Every
/// string borrows from the database buffer.
#[derive(Debug, Default, Deserialize)]
struct Record<'a> {
    // MaxMind layout.
    #[serde(borrow)]
    country: Option<MmCountry<'a>>,
    #[serde(borrow)]
    continent: Option<MmContinent<'a>>,
    /// A map with `names` (MaxMind) or a plain string (flat).
    #[serde(borrow)]
    city: Option<CityField<'a>>,
    location: Option<MmLocation>,
    // Flat layout.
    country_code: Option<&'a str>,
    latitude: Option<Number>,
    longitude: Option<Number>,
    // ASN, both layouts.
    autonomous_system_number: Option<AsNumber>,
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct MmCountry<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct MmContinent<'a> {
    code: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct MmCity<'a> {
    #[serde(borrow)]
    names: Option<MmNames<'a>>,
}

#[derive(Debug, Deserialize)]
struct MmNames<'a> {
    en: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct MmLocation {
    latitude: Option<Number>,
    longitude: Option<Number>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

impl<'a> Record<'a> {
    fn country_code(&self) -> Option<&'a str> {
        non_empty(self.country.as_ref().and_then(|c| c.iso_code)).or(non_empty(self.country_code))
    }

    fn city_name(&self) -> Option<&'a str> {
        match self.city {
            Some(CityField::Flat(name)) => non_empty(Some(name)),
            Some(CityField::Names(en)) => non_empty(en),
            None => None,
        }
    }

    fn location(&self) -> Option<GeoPoint> {
        let (lat, lon) = match &self.location {
            Some(MmLocation {
                latitude: Some(lat),
                longitude: Some(lon),
            }) => (lat.0, lon.0),
            _ => (self.latitude?.0, self.longitude?.0),
        };
        let valid = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        valid.then_some(GeoPoint { lat, lon })
    }

    /// Sets the geo fields that are still `None`.
    fn fill_geo(&self, geo: &mut Geo<'a>) {
        if geo.country_iso_code.is_none() {
            if let Some(code) = self.country_code() {
                match iso3166::country(code) {
                    Some(c) => {
                        geo.country_iso_code = Some(c.code);
                        geo.country_name = Some(c.name);
                        geo.continent_name = Some(c.continent.name());
                    }
                    None => geo.country_iso_code = Some(code),
                }
            }
        }
        // The database's own continent wins over the table's default for the country.
        if let Some(name) = self
            .continent
            .as_ref()
            .and_then(|c| c.code)
            .and_then(iso3166::continent_name)
        {
            geo.continent_name = Some(name);
        }
        if geo.city_name.is_none() {
            geo.city_name = self.city_name();
        }
        if geo.location.is_none() {
            geo.location = self.location();
        }
    }

    /// Sets the AS fields that are still `None`.
    fn fill_as(&self, as_: &mut AutonomousSystem<'a>) {
        if as_.number.is_none() {
            as_.number = self.autonomous_system_number.map(|n| n.0);
        }
        if as_.organization.is_none() {
            as_.organization =
                non_empty(self.autonomous_system_organization).map(|name| Organization { name });
        }
    }
}

/// `city`: `{names: {en: …}}` in the MaxMind layout, a string in the flat one.
#[derive(Debug)]
enum CityField<'a> {
    Flat(&'a str),
    Names(Option<&'a str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for CityField<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CityVisitor;
        impl<'de> Visitor<'de> for CityVisitor {
            type Value = CityField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a city name or a map with `names`")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CityField::Flat(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let city = MmCity::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CityField::Names(city.names.and_then(|n| n.en)))
            }
        }
        deserializer.deserialize_any(CityVisitor)
    }
}

/// A coordinate stored as double (MaxMind), float or integer.
#[derive(Debug, Clone, Copy)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// An AS number stored as any unsigned (or non-negative signed) integer type.
#[derive(Debug, Clone, Copy)]
struct AsNumber(u32);

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AsVisitor;
        impl Visitor<'_> for AsVisitor {
            type Value = AsNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number (0..=4294967295)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }
        deserializer.deserialize_any(AsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn fixture(name: &str) -> Option<PathBuf> {
        Some(repo().join("dev/fixtures/geo").join(name))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn open(country: &str, city: &str, asn: &str) -> GeoIp {
        let pick = |n: &str| if n.is_empty() { None } else { fixture(n) };
        GeoIp::open(&GeoPaths {
            country: pick(country),
            city: pick(city),
            asn: pick(asn),
        })
        .unwrap()
    }

    /// (iso, name, continent, city, (lat, lon)) of a lookup, for compact asserts.
    type GeoTuple<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<(f64, f64)>,
    );

    fn geo_tuple<'a>(g: &Geo<'a>) -> GeoTuple<'a> {
        (
            g.country_iso_code,
            g.country_name,
            g.continent_name,
            g.city_name,
            g.location.map(|p| (p.lat, p.lon)),
        )
    }

    fn as_tuple<'a>(a: &AutonomousSystem<'a>) -> (Option<u32>, Option<&'a str>) {
        (a.number, a.organization.map(|o| o.name))
    }

    #[test]
    fn maxmind_layout_exact_values() {
        let g = open("", "maxmind-city.mmdb", "asn.mmdb");
        let (geo, as_) = g.lookup(ip("81.2.69.142"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("GB"),
                Some("United Kingdom"),
                Some("Europe"),
                Some("London"),
                Some((51.5, -0.125))
            )
        );
        assert_eq!(
            as_tuple(&as_.unwrap()),
            (Some(64496), Some("Example Transit Ltd"))
        );

        let (geo, as_) = g.lookup(ip("89.160.20.128"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("SE"),
                Some("Sweden"),
                Some("Europe"),
                Some("Linköping"),
                Some((58.375, 15.625))
            )
        );
        assert_eq!(
            as_tuple(&as_.unwrap()),
            (Some(64497), Some("Exempel Nät AB"))
        );

        let (geo, as_) = g.lookup(ip("2a02:ff0:1234::1"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("DE"),
                Some("Germany"),
                Some("Europe"),
                Some("Berlin"),
                Some((52.5, 13.375))
            )
        );
        assert_eq!(
            as_tuple(&as_.unwrap()),
            (Some(64498), Some("Beispiel GmbH"))
        );
        assert_eq!(g.decode_errors(), 0);
    }

    #[test]
    fn country_only_record_leaves_city_and_location_empty() {
        let g = open("", "maxmind-city.mmdb", "asn.mmdb");
        let (geo, as_) = g.lookup(ip("12.34.56.78"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("US"),
                Some("United States"),
                Some("North America"),
                None,
                None
            )
        );
        assert_eq!(
            as_tuple(&as_.unwrap()),
            (Some(4_200_000_001), Some("Thirty-Two Bit Org"))
        );
    }

    #[test]
    fn flat_layout_exact_values() {
        let g = open("", "flat-city.mmdb", "asn.mmdb");
        let (geo, as_) = g.lookup(ip("175.16.199.37"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("CN"),
                Some("China"),
                Some("Asia"),
                Some("Changchun"),
                Some((43.875, 125.3125))
            )
        );
        assert_eq!(as_tuple(&as_.unwrap()), (Some(64499), None));

        let (geo, as_) = g.lookup(ip("2001:480:1:2::3"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("US"),
                Some("United States"),
                Some("North America"),
                Some("San Diego"),
                Some((32.75, -117.125))
            )
        );
        assert!(as_.is_none());

        let (geo, _) = g.lookup(ip("202.196.224.9"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (Some("PH"), Some("Philippines"), Some("Asia"), None, None)
        );
        assert_eq!(g.decode_errors(), 0);
    }

    #[test]
    fn flat_country_database() {
        let g = open("flat-country.mmdb", "", "");
        let (geo, as_) = g.lookup(ip("216.160.83.60"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("US"),
                Some("United States"),
                Some("North America"),
                None,
                None
            )
        );
        assert!(as_.is_none());
        // Lower-case code in the database: normalized through the table.
        let (geo, _) = g.lookup(ip("67.43.156.1"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (Some("BT"), Some("Bhutan"), Some("Asia"), None, None)
        );
        // Not an ISO code: passed through, nothing else known.
        let (geo, _) = g.lookup(ip("5.145.9.9"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (Some("EU"), None, None, None, None)
        );
        // Not in the database at all.
        assert!(g.lookup(ip("9.9.9.9")).0.is_none());
        // IPv6 address, IPv4-only database: no answer and no error.
        assert_eq!(
            g.lookup(ip("2a02:ff0::1")).0.map(|g| g.country_iso_code),
            None
        );
        assert_eq!(g.decode_errors(), 0);
    }

    #[test]
    fn country_database_fills_in_when_city_database_has_no_country() {
        let g = open("flat-country.mmdb", "flat-city.mmdb", "");
        // Not in the city db, in the country db.
        let (geo, _) = g.lookup(ip("81.2.69.1"));
        assert_eq!(
            geo_tuple(&geo.unwrap()),
            (
                Some("GB"),
                Some("United Kingdom"),
                Some("Europe"),
                None,
                None
            )
        );
        // In the city db.
        let (geo, _) = g.lookup(ip("175.16.199.1"));
        assert_eq!(geo.unwrap().city_name, Some("Changchun"));
    }

    #[test]
    fn mapped_and_nat64_addresses_use_the_ipv4_address() {
        let g = open("", "maxmind-city.mmdb", "asn.mmdb");
        for s in ["::ffff:81.2.69.142", "64:ff9b::5102:458e"] {
            let (geo, as_) = g.lookup(ip(s));
            assert_eq!(geo.unwrap().city_name, Some("London"), "{s}");
            assert_eq!(as_.unwrap().number, Some(64496), "{s}");
        }
        // A mapped private address stays private.
        assert_eq!(
            g.lookup(ip("::ffff:10.1.2.3"))
                .0
                .map(|g| g.country_iso_code),
            None
        );
    }

    #[test]
    fn non_public_addresses_are_never_looked_up() {
        let g = open("", "maxmind-city.mmdb", "asn.mmdb");
        // 10.0.0.0/8 has data in the fixture; the answer must still be None.
        let (geo, as_) = g.lookup(ip("10.1.2.3"));
        assert!(geo.is_none() && as_.is_none());
        let not_public = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::10.1.2.3",
            "::ffff:127.0.0.1",
            "64:ff9b::c0a8:101",
            "64:ff9b:1::1",
            "100::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::fb",
        ];
        for s in not_public {
            assert!(!is_public(ip(s)), "{s} should not be public");
            assert!(g.lookup(ip(s)).0.is_none(), "{s}");
        }
        let public = [
            "1.1.1.1",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2001:db9::1",
            "2a02:ff0::1",
            "2002:c000:201::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for s in public {
            assert!(is_public(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn empty_answers_nothing() {
        let g = GeoIp::empty();
        assert!(g.is_empty());
        assert!(g.databases().next().is_none());
        let (geo, as_) = g.lookup(ip("81.2.69.142"));
        assert!(geo.is_none() && as_.is_none());
    }

    #[test]
    fn databases_reports_metadata() {
        let g = open("flat-country.mmdb", "maxmind-city.mmdb", "asn.mmdb");
        let found: Vec<_> = g
            .databases()
            .map(|d| (d.kind, d.database_type, d.build_epoch))
            .collect();
        assert_eq!(
            found,
            [
                (DatabaseKind::City, "GeoLite2-City", 1_700_000_000),
                (DatabaseKind::Country, "country ipv4", 1_700_000_000),
                (DatabaseKind::Asn, "GeoLite2-ASN", 1_700_000_000),
            ]
        );
    }

    #[test]
    fn open_errors_name_the_file() {
        let missing = repo().join("dev/fixtures/geo/no-such.mmdb");
        let err = GeoIp::open(&GeoPaths {
            country: Some(missing.clone()),
            ..GeoPaths::default()
        })
        .unwrap_err();
        assert!(matches!(
            err,
            GeoError::Open {
                kind: DatabaseKind::Country,
                ..
            }
        ));
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );

        // Not an mmdb at all.
        let script = repo().join("dev/fixtures/geo/make-test-dbs.py");
        let err = GeoIp::open(&GeoPaths {
            city: Some(script.clone()),
            ..GeoPaths::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("make-test-dbs.py"), "{err}");

        // An ASN database given as the country database, and the reverse.
        let err = GeoIp::open(&GeoPaths {
            country: fixture("asn.mmdb"),
            ..GeoPaths::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                GeoError::WrongKind {
                    kind: DatabaseKind::Country,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("asn.mmdb"), "{err}");
        let err = GeoIp::open(&GeoPaths {
            asn: fixture("maxmind-city.mmdb"),
            ..GeoPaths::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                GeoError::WrongKind {
                    kind: DatabaseKind::Asn,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn kind_check_accepts_real_database_types() {
        for t in [
            "GeoLite2-Country",
            "GeoIP2-City",
            "DBIP-City-Lite",
            "country ipvAll",
            "x",
        ] {
            assert!(kind_matches(DatabaseKind::Country, t), "{t}");
        }
        for t in [
            "GeoLite2-ASN",
            "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
            "ip-location-db-asn",
        ] {
            assert!(kind_matches(DatabaseKind::Asn, t), "{t}");
            assert!(!kind_matches(DatabaseKind::City, t), "{t}");
        }
        assert!(kind_matches(DatabaseKind::Asn, "GeoIP2-ISP"));
        assert!(!kind_matches(DatabaseKind::Asn, "GeoLite2-Country"));
    }

    #[test]
    fn geoip_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<GeoIp>();
    }

    /// The databases that `make geo` (dev/geo/install.sh) installs.
    #[test]
    fn default_databases_know_well_known_addresses() {
        let dir = std::env::var_os("NETSENSOR_GEO_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".cache/geo"));
        let country = dir.join("country.mmdb");
        let asn = dir.join("asn.mmdb");
        for path in [&country, &asn] {
            assert!(
                path.is_file(),
                "{} is missing: run `make geo` (dev/geo/install.sh) to install the default \
                 GeoIP databases, or set NETSENSOR_GEO_DIR to where they are",
                path.display()
            );
        }
        let g = GeoIp::open(&GeoPaths {
            country: Some(country),
            city: None,
            asn: Some(asn),
        })
        .unwrap();

        let (geo, as_) = g.lookup(ip("8.8.8.8"));
        let geo = geo.unwrap();
        assert_eq!(geo.country_iso_code, Some("US"));
        assert_eq!(geo.country_name, Some("United States"));
        assert_eq!(geo.continent_name, Some("North America"));
        assert_eq!((geo.city_name, geo.location.is_some()), (None, false));
        let as_ = as_.unwrap();
        assert_eq!(as_.number, Some(15169));
        assert!(as_.organization.unwrap().name.contains("Google"), "{as_:?}");

        let as_ = g.lookup(ip("1.1.1.1")).1.unwrap();
        assert_eq!(as_.number, Some(13335));
        assert!(
            as_.organization.unwrap().name.contains("Cloudflare"),
            "{as_:?}"
        );

        let (geo, as_) = g.lookup(ip("2001:4860:4860::8888"));
        assert_eq!(geo.unwrap().country_iso_code, Some("US"));
        assert_eq!(as_.unwrap().number, Some(15169));
        assert_eq!(g.decode_errors(), 0);
    }
}
