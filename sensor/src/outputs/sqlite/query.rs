//! Questions the embedded store answers: query modules, time ranges, filters and formats.
//!
//! Shared by `netsensor query` and `GET /query`, so both accept the same modules and time
//! ranges and fail with the same messages. Each module is one SQL statement over the
//! `flows` or `rollups` table; which table answers is decided per query and reported in
//! [`QueryResult::source`]:
//!
//! * `traffic`: rollups (dimension `size_class`, else `direction`, else `transport`, summed
//!   per interval); else flows in 60 s buckets of their start.
//! * `protocols`: rollups `transport`; else flows by `network.transport`.
//! * `services`: rollups `service`; else flows by `netsensor.service`.
//! * `top-destinations`: flows (the bytes each address received, from both sides of every
//!   flow); else rollups `destination` (per-interval top N, summed).
//! * `countries`: rollups `source_country` and `destination_country`; else flows.
//! * `conversations`: flows: address pairs with bytes and packets each way.
//! * `flows`: flows: the rows themselves.
//!
//! Rollups count every packet exactly (before load shedding), so they win when present;
//! flow-based sums are scaled by `netsensor.sample_rate`. Missing values are grouped under
//! `unknown`, as rollups do. A record belongs to a range when its span *starts* in it
//! (`START <= start < END`), like a date histogram over `@timestamp`.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{format_rfc3339, open_read_only, parse_rfc3339};

/// Time range used when none is given: the hour up to the newest stored record.
pub const DEFAULT_RANGE: &str = "last-1h:last";

/// The accepted time-range forms, for help texts and error messages.
pub const RANGE_FORMS: &str = "-5m:0 or -1h:-5m (relative to now), last-5m:last or \
     last-1h:last-5m (relative to the newest stored record), \
     2024-01-01T00:00:00Z,2024-01-02T00:00:00Z (absolute RFC 3339 START,END); units s, m, h, d";

/// Parameters `GET /query` accepts.
pub const HTTP_PARAMETERS: &str = "module, time, format, addr, port, limit";

/// Bucket of the flow-based `traffic` module.
const FLOW_BUCKET_NS: i64 = 60_000_000_000;

/// One flow across its records (SQL over `flows`): records of a flow share its Community
/// ID, its first-seen time and its tunnel (two VNIs can carry the same inner 5-tuple).
const FLOW_KEY: &str = "COALESCE(community_id, id) || '/' || COALESCE(flow_start, ts_start) \
    || '/' || COALESCE(tunnel_type, '') || COALESCE(tunnel_id, '')";
/// Rows at most, whatever `limit` asks.
pub const MAX_LIMIT: usize = 100_000;

const NS_PER_SEC: i64 = 1_000_000_000;

/// Why a query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No module was given.
    #[error("no query module given; valid modules: {}", Module::names())]
    MissingModule,
    /// The module name is not one of [`Module::ALL`].
    #[error("unknown query module {given:?}; valid modules: {}", Module::names())]
    UnknownModule {
        /// What was asked for.
        given: String,
    },
    /// The time range does not parse or is empty.
    #[error("invalid time range {given:?}: {reason}; accepted forms: {RANGE_FORMS}")]
    BadRange {
        /// The range as given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output format is not `table` or `json`.
    #[error("unknown format {given:?}; valid formats: table, json")]
    UnknownFormat {
        /// What was asked for.
        given: String,
    },
    /// An HTTP query parameter that `/query` does not know.
    #[error("unknown query parameter {name:?}; accepted parameters: {HTTP_PARAMETERS}")]
    UnknownParameter {
        /// The parameter name.
        name: String,
    },
    /// A parameter given twice.
    #[error("query parameter {name:?} given more than once")]
    RepeatedParameter {
        /// The parameter name.
        name: String,
    },
    /// A filter or limit value that does not parse.
    #[error("invalid {name} {value:?}: expected {expected}")]
    BadParameter {
        /// The parameter name.
        name: &'static str,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A filter given for a module it does not apply to.
    #[error("filter {name} applies to modules flows and conversations, not {module}")]
    FilterNotApplicable {
        /// The filter name.
        name: &'static str,
        /// The module asked for.
        module: Module,
    },
    /// The database file does not exist.
    #[error(
        "no embedded store at {path} (the sensor creates it when it runs with the sqlite \
         output, the default when no output is configured)"
    )]
    NoStore {
        /// The database file looked for.
        path: PathBuf,
    },
    /// SQLite failed.
    #[error("cannot query the embedded store {path}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

impl QueryError {
    /// True when the request was at fault (HTTP 400), false for store problems.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, QueryError::NoStore { .. } | QueryError::Sqlite { .. })
    }
}

/// A query module: one question the store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// Bytes and packets per interval.
    Traffic,
    /// Bytes and packets by transport (`tcp`, `udp`, …).
    Protocols,
    /// Bytes and packets by service (`https`, `dns`, …).
    Services,
    /// Addresses that received the most bytes.
    TopDestinations,
    /// Bytes and packets by source and by destination country.
    Countries,
    /// Address pairs with bytes and packets each way.
    Conversations,
    /// Flow rows, filterable by address and port.
    Flows,
    /// Decapsulated traffic by tunnel type and id (VNI, GRE key, ERSPAN session).
    Tunnels,
}

impl Module {
    /// Every module, in documentation order.
    pub const ALL: [Module; 8] = [
        Module::Traffic,
        Module::Protocols,
        Module::Services,
        Module::TopDestinations,
        Module::Countries,
        Module::Conversations,
        Module::Flows,
        Module::Tunnels,
    ];

    /// The module's name on the command line and in `module=`.
    pub const fn name(self) -> &'static str {
        match self {
            Module::Traffic => "traffic",
            Module::Protocols => "protocols",
            Module::Services => "services",
            Module::TopDestinations => "top-destinations",
            Module::Countries => "countries",
            Module::Conversations => "conversations",
            Module::Flows => "flows",
            Module::Tunnels => "tunnels",
        }
    }

    /// Every module name, comma-separated.
    pub fn names() -> String {
        Module::ALL.map(Module::name).join(", ")
    }

    /// Rows returned when no limit is given (`None`: all).
    const fn default_limit(self) -> Option<usize> {
        match self {
            Module::TopDestinations => Some(20),
            Module::Conversations => Some(100),
            Module::Flows => Some(1000),
            _ => None,
        }
    }

    const fn takes_flow_filters(self) -> bool {
        matches!(self, Module::Flows | Module::Conversations)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Module {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Module::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| QueryError::UnknownModule {
                given: s.to_owned(),
            })
    }
}

/// What a relative bound counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The current time.
    Now,
    /// The end of the newest stored record.
    Last,
}

/// One end of a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `offset_ns` (≤ 0) from an anchor.
    Relative {
        /// What the offset counts from.
        anchor: Anchor,
        /// Nanoseconds added to the anchor (0 or negative).
        offset_ns: i64,
    },
    /// An absolute instant, nanoseconds since the epoch.
    Absolute(i64),
}

/// A time range as given: `-5m:0`, `last-1h:last-5m` or `START,END` in RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Bound,
    /// Exclusive end.
    pub end: Bound,
}

impl TimeRange {
    /// Parses a range in one of the forms of [`RANGE_FORMS`].
    pub fn parse(s: &str) -> Result<Self, QueryError> {
        let bad = |reason: &str| QueryError::BadRange {
            given: s.to_owned(),
            reason: reason.to_owned(),
        };
        let text = s.trim();
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let range = if let Some((start, end)) = text.split_once(',') {
            let parse = |t: &str| {
                parse_rfc3339(t.trim()).ok_or_else(|| {
                    bad("START and END must be RFC 3339 date-times such as 2024-01-01T00:00:00Z")
                })
            };
            TimeRange {
                start: Bound::Absolute(parse(start)?),
                end: Bound::Absolute(parse(end)?),
            }
        } else if let Some((start, end)) = text.split_once(':') {
            TimeRange {
                start: parse_bound(start.trim()).map_err(|r| bad(&format!("start: {r}")))?,
                end: parse_bound(end.trim()).map_err(|r| bad(&format!("end: {r}")))?,
            }
        } else {
            return Err(bad("expected START:END or START,END"));
        };
        // Bounds on the same footing can be checked before any data is looked at.
        let ordered = match (range.start, range.end) {
            (Bound::Absolute(a), Bound::Absolute(b)) => a < b,
            (
                Bound::Relative {
                    anchor: a,
                    offset_ns: x,
                },
                Bound::Relative {
                    anchor: b,
                    offset_ns: y,
                },
            ) if a == b => x < y,
            _ => true,
        };
        if !ordered {
            return Err(bad("the start is not before the end"));
        }
        Ok(range)
    }

    /// The range as `[start, end)` in nanoseconds, given the current time and the end of
    /// the newest stored record (`None` for an empty store: `last` is then now).
    pub fn resolve(&self, now_ns: i64, last_ns: Option<i64>) -> Result<(i64, i64), QueryError> {
        let at = |b: Bound| match b {
            Bound::Absolute(t) => t,
            Bound::Relative { anchor, offset_ns } => {
                let base = match anchor {
                    Anchor::Now => now_ns,
                    Anchor::Last => last_ns.unwrap_or(now_ns),
                };
                base.saturating_add(offset_ns)
            }
        };
        let (start, end) = (at(self.start), at(self.end));
        if start >= end {
            return Err(QueryError::BadRange {
                given: self.to_string(),
                reason: format!(
                    "the start ({}) is not before the end ({})",
                    format_rfc3339(start),
                    format_rfc3339(end)
                ),
            });
        }
        Ok((start, end))
    }
}

impl Default for TimeRange {
    /// [`DEFAULT_RANGE`].
    fn default() -> Self {
        TimeRange {
            start: Bound::Relative {
                anchor: Anchor::Last,
                offset_ns: -3600 * NS_PER_SEC,
            },
            end: Bound::Relative {
                anchor: Anchor::Last,
                offset_ns: 0,
            },
        }
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bound = |b: Bound| match b {
            Bound::Absolute(t) => format_rfc3339(t),
            Bound::Relative { anchor, offset_ns } => {
                let base = match anchor {
                    Anchor::Now if offset_ns == 0 => "0",
                    Anchor::Now => "",
                    Anchor::Last => "last",
                };
                if offset_ns == 0 {
                    base.to_owned()
                } else {
                    format!("{base}-{}s", offset_ns.unsigned_abs() / 1_000_000_000)
                }
            }
        };
        let sep = if matches!(self.start, Bound::Absolute(_)) {
            ','
        } else {
            ':'
        };
        write!(f, "{}{sep}{}", bound(self.start), bound(self.end))
    }
}

/// `0`, `-5m`, `last`, `last-5m`.
fn parse_bound(text: &str) -> Result<Bound, String> {
    let (anchor, rest) = match text.strip_prefix("last") {
        Some(rest) => (Anchor::Last, rest),
        None if text == "0" => (Anchor::Now, ""),
        None => (Anchor::Now, text),
    };
    if rest.is_empty() {
        return if anchor == Anchor::Now && text != "0" {
            Err("empty bound".to_owned())
        } else {
            Ok(Bound::Relative {
                anchor,
                offset_ns: 0,
            })
        };
    }
    let Some(amount) = rest.strip_prefix('-') else {
        return Err(format!(
            "{text:?} is not 0, last, -N<unit> or last-N<unit> (offsets count back in time)"
        ));
    };
    let unit_at = amount
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (s, m, h or d)"))?;
    let (digits, unit) = amount.split_at(unit_at);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} has unit {unit:?}; units are s, m, h and d"
            ))
        }
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} needs a whole number before its unit"))?;
    let offset_ns = n
        .checked_mul(scale)
        .and_then(|s| s.checked_mul(NS_PER_SEC))
        .ok_or_else(|| format!("{text:?} is too far back"))?;
    Ok(Bound::Relative {
        anchor,
        offset_ns: -offset_ns,
    })
}

/// Output format of a query result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned text columns under a header.
    Table,
    /// A JSON array of objects, one per row.
    #[default]
    Json,
}

impl FromStr for Format {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            t if t.eq_ignore_ascii_case("table") => Ok(Format::Table),
            t if t.eq_ignore_ascii_case("json") => Ok(Format::Json),
            _ => Err(QueryError::UnknownFormat {
                given: s.to_owned(),
            }),
        }
    }
}

/// Filters and limits of a query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only flows with this address on either side (`flows`, `conversations`).
    pub addr: Option<IpAddr>,
    /// Only flows with this port on either side (`flows`, `conversations`).
    pub port: Option<u16>,
    /// Most rows returned (default per module; at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

impl Filters {
    /// Parses `addr`, `port` and `limit` values as given on a command line or in a URL.
    pub fn parse(
        addr: Option<&str>,
        port: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Self, QueryError> {
        let bad = |name, value: &str, expected| QueryError::BadParameter {
            name,
            value: value.to_owned(),
            expected,
        };
        Ok(Filters {
            addr: addr
                .map(|a| {
                    a.trim()
                        .parse()
                        .map_err(|_| bad("addr", a, "an IPv4 or IPv6 address"))
                })
                .transpose()?,
            port: port
                .map(|p| {
                    p.trim()
                        .parse()
                        .map_err(|_| bad("port", p, "a port number 0-65535"))
                })
                .transpose()?,
            limit: limit
                .map(|l| {
                    l.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad("limit", l, "a row count from 1 to 100000"))
                })
                .transpose()?,
        })
    }
}

/// One query: what, over which time, with which filters, in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// The question.
    pub module: Module,
    /// The time range.
    pub range: TimeRange,
    /// Filters and row limit.
    pub filters: Filters,
    /// How the answer is rendered by [`QueryResult::render`].
    pub format: Format,
}

impl QueryRequest {
    /// Builds a request from text as typed (module name, optional range, filters), with
    /// the same checks and messages on the command line and over HTTP.
    pub fn new(
        module: &str,
        range: Option<&str>,
        filters: Filters,
        format: Format,
    ) -> Result<Self, QueryError> {
        let module: Module = module.parse()?;
        let range = match range {
            Some(r) => TimeRange::parse(r)?,
            None => TimeRange::default(),
        };
        if !module.takes_flow_filters() {
            if filters.addr.is_some() {
                return Err(QueryError::FilterNotApplicable {
                    name: "addr",
                    module,
                });
            }
            if filters.port.is_some() {
                return Err(QueryError::FilterNotApplicable {
                    name: "port",
                    module,
                });
            }
        }
        Ok(QueryRequest {
            module,
            range,
            filters,
            format,
        })
    }
}

/// Parses the query string of `GET /query` (`module=NAME&time=RANGE&format=…&addr=…&port=…
/// &limit=…`). Values are percent-decoded; `+` stays a plus sign, so an RFC 3339 offset
/// such as `+01:00` may be written as is. The format defaults to JSON.
pub fn parse_http_query(query_string: &str) -> Result<QueryRequest, QueryError> {
    let mut fields: [(&str, Option<String>); 6] = [
        ("module", None),
        ("time", None),
        ("format", None),
        ("addr", None),
        ("port", None),
        ("limit", None),
    ];
    for pair in query_string.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        let slot = fields
            .iter_mut()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| QueryError::UnknownParameter { name: name.clone() })?;
        if slot.1.is_some() {
            return Err(QueryError::RepeatedParameter { name });
        }
        slot.1 = Some(percent_decode(value));
    }
    let [(_, module), (_, time), (_, format), (_, addr), (_, port), (_, limit)] = fields;
    let module = module.ok_or(QueryError::MissingModule)?;
    let format = format
        .as_deref()
        .map(Format::from_str)
        .transpose()?
        .unwrap_or_default();
    let filters = Filters::parse(addr.as_deref(), port.as_deref(), limit.as_deref())?;
    QueryRequest::new(&module, time.as_deref(), filters, format)
}

/// Decodes `%XX` escapes; invalid escapes and invalid UTF-8 are kept as text.
fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |at: usize| b.get(at).and_then(|h| (*h as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The module that answered.
    pub module: Module,
    /// Resolved start of the range (inclusive), nanoseconds since the epoch.
    pub start_ns: i64,
    /// Resolved end of the range (exclusive).
    pub end_ns: i64,
    /// Where the figures come from, e.g. `rollups (size_class)` or `flows`.
    pub source: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    /// The rows as a JSON array of objects keyed by column name.
    pub fn to_json(&self) -> String {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let object: Map<String, Value> = self
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect();
                Value::Object(object)
            })
            .collect();
        Value::Array(rows).to_string()
    }

    /// The rows as aligned text under a header line and a `#` line naming the range and the
    /// source; numbers are right-aligned, missing values shown as `-`.
    pub fn to_table(&self) -> String {
        let cell = |v: &Value| match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(cell).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .any(|r| r.get(i).is_some_and(Value::is_number))
            })
            .collect();
        let mut out = format!(
            "# {} from {} to {}, source: {}, {} row{}\n",
            self.module,
            format_rfc3339(self.start_ns),
            format_rfc3339(self.end_ns),
            self.source,
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" }
        );
        let line = |values: &[String], out: &mut String| {
            let mut text = String::new();
            for (i, (v, w)) in values.iter().zip(&widths).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                if numeric.get(i).copied().unwrap_or(false) {
                    let _ = write!(text, "{v:>w$}");
                } else {
                    let _ = write!(text, "{v:<w$}");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.columns, &mut out);
        for row in &cells {
            line(row, &mut out);
        }
        out
    }

    /// Renders in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.to_table(),
            Format::Json => self.to_json(),
        }
    }
}

/// How a column's stored value is shown.
#[derive(Clone, Copy)]
enum Col {
    /// Integer nanoseconds shown as RFC 3339.
    Time,
    /// Integer 0/1 shown as a boolean.
    Bool,
    /// As stored.
    Plain,
}

/// Runs `req` against the store at `db_path` (opened read-only), with `now_ns` as "now".
pub fn run(db_path: &Path, req: &QueryRequest, now_ns: i64) -> Result<QueryResult, QueryError> {
    if !db_path.exists() {
        return Err(QueryError::NoStore {
            path: db_path.to_owned(),
        });
    }
    let sqlite = |source| QueryError::Sqlite {
        path: db_path.to_owned(),
        source,
    };
    let conn = open_read_only(db_path).map_err(sqlite)?;
    run_on(&conn, req, now_ns).map_err(|e| match e {
        RunError::Query(q) => q,
        RunError::Sqlite(s) => sqlite(s),
    })
}

enum RunError {
    Query(QueryError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for RunError {
    fn from(e: rusqlite::Error) -> Self {
        RunError::Sqlite(e)
    }
}

/// The end of the newest stored record (just after its start when it has no length).
fn newest_end(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MAX(m) FROM (SELECT MAX(MAX(ts_end, ts_start + 1)) AS m FROM flows \
         UNION ALL SELECT MAX(MAX(ts_end, ts_start + 1)) FROM rollups)",
        [],
        |row| row.get(0),
    )
}

fn run_on(conn: &Connection, req: &QueryRequest, now_ns: i64) -> Result<QueryResult, RunError> {
    // One read transaction, so every statement sees the same snapshot.
    conn.execute_batch("BEGIN")?;
    let last = newest_end(conn)?;
    let (start, end) = req.range.resolve(now_ns, last).map_err(RunError::Query)?;
    let limit = req
        .filters
        .limit
        .or(req.module.default_limit())
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT) as i64;
    let has_rollups = |dimension: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM rollups WHERE dimension = ?1 AND ts_start >= ?2 \
             AND ts_start < ?3)",
            rusqlite::params![dimension, start, end],
            |row| row.get(0),
        )
    };
    let has_flows = || -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM flows WHERE ts_start >= ?1 AND ts_start < ?2)",
            [start, end],
            |row| row.get(0),
        )
    };
    let (addr, port) = (
        req.filters.addr.map(|a| a.to_string()),
        req.filters.port.map(i64::from),
    );
    // Parameters: ?1 start, ?2 end, ?3 limit, ?4 dimension / addr, ?5 port.
    let by_key = |dimension: &str, name: &str| -> Table {
        Table {
            source: format!("rollups ({dimension})"),
            columns: vec![
                (name.to_owned(), Col::Plain),
                plain("bytes"),
                plain("packets"),
            ],
            sql: "SELECT key, SUM(bytes) AS b, SUM(packets) FROM rollups WHERE dimension = ?4 \
                  AND ts_start >= ?1 AND ts_start < ?2 GROUP BY key ORDER BY b DESC, key \
                  LIMIT ?3"
                .to_owned(),
            params: vec![dimension.to_owned().into()],
        }
    };
    let flows_by = |column: &str, name: &str| -> Table {
        Table {
            source: "flows".to_owned(),
            columns: vec![
                (name.to_owned(), Col::Plain),
                plain("bytes"),
                plain("packets"),
            ],
            sql: format!(
                "SELECT COALESCE({column}, 'unknown') AS k, SUM(bytes * sample_rate) AS b, \
                 SUM(packets * sample_rate) FROM flows WHERE ts_start >= ?1 AND ts_start < ?2 \
                 GROUP BY k ORDER BY b DESC, k LIMIT ?3"
            ),
            params: Vec::new(),
        }
    };
    let table = match req.module {
        Module::Traffic => {
            let mut dimension = None;
            for d in ["size_class", "direction", "transport"] {
                if has_rollups(d)? {
                    dimension = Some(d);
                    break;
                }
            }
            let columns = vec![
                ("start".to_owned(), Col::Time),
                ("end".to_owned(), Col::Time),
                plain("bytes"),
                plain("packets"),
            ];
            match dimension {
                Some(d) => Table {
                    source: format!("rollups ({d})"),
                    columns,
                    sql: "SELECT ts_start, MAX(ts_end), SUM(bytes), SUM(packets) FROM rollups \
                          WHERE dimension = ?4 AND ts_start >= ?1 AND ts_start < ?2 \
                          GROUP BY ts_start ORDER BY ts_start LIMIT ?3"
                        .to_owned(),
                    params: vec![d.to_owned().into()],
                },
                None => Table {
                    source: format!("flows ({} s buckets)", FLOW_BUCKET_NS / NS_PER_SEC),
                    columns,
                    sql: format!(
                        "SELECT b, b + {FLOW_BUCKET_NS}, SUM(bytes * sample_rate), \
                         SUM(packets * sample_rate) FROM (SELECT ts_start - \
                         (((ts_start % {FLOW_BUCKET_NS}) + {FLOW_BUCKET_NS}) % {FLOW_BUCKET_NS}) \
                         AS b, bytes, packets, sample_rate FROM flows WHERE ts_start >= ?1 \
                         AND ts_start < ?2) GROUP BY b ORDER BY b LIMIT ?3"
                    ),
                    params: Vec::new(),
                },
            }
        }
        Module::Protocols if has_rollups("transport")? => by_key("transport", "transport"),
        Module::Protocols => flows_by("transport", "transport"),
        Module::Services if has_rollups("service")? => by_key("service", "service"),
        Module::Services => flows_by("service", "service"),
        Module::TopDestinations if !has_flows()? && has_rollups("destination")? => {
            let mut t = by_key("destination", "destination");
            t.source = "rollups (destination, per-interval top N summed)".to_owned();
            t
        }
        Module::TopDestinations => Table {
            source: "flows".to_owned(),
            columns: vec![plain("destination"), plain("bytes"), plain("packets")],
            // What each address received: the initiator's bytes went to the responder and
            // the responder's to the initiator.
            sql: "SELECT a, SUM(b) AS sb, SUM(p) AS sp FROM (\
                  SELECT dst_ip AS a, src_bytes * sample_rate AS b, \
                  src_packets * sample_rate AS p FROM flows \
                  WHERE ts_start >= ?1 AND ts_start < ?2 AND dst_ip IS NOT NULL \
                  UNION ALL SELECT src_ip, dst_bytes * sample_rate, dst_packets * sample_rate \
                  FROM flows WHERE ts_start >= ?1 AND ts_start < ?2 AND src_ip IS NOT NULL) \
                  GROUP BY a HAVING sp > 0 ORDER BY sb DESC, a LIMIT ?3"
                .to_owned(),
            params: Vec::new(),
        },
        Module::Countries => {
            let columns = vec![
                plain("country"),
                plain("source_bytes"),
                plain("source_packets"),
                plain("destination_bytes"),
                plain("destination_packets"),
            ];
            if has_rollups("source_country")? || has_rollups("destination_country")? {
                Table {
                    source: "rollups (source_country, destination_country)".to_owned(),
                    columns,
                    sql: "SELECT key, \
                          SUM(CASE WHEN dimension = 'source_country' THEN bytes ELSE 0 END) AS sb, \
                          SUM(CASE WHEN dimension = 'source_country' THEN packets ELSE 0 END), \
                          SUM(CASE WHEN dimension = 'destination_country' THEN bytes ELSE 0 END) \
                          AS db, \
                          SUM(CASE WHEN dimension = 'destination_country' THEN packets ELSE 0 END) \
                          FROM rollups WHERE dimension IN ('source_country', \
                          'destination_country') AND ts_start >= ?1 AND ts_start < ?2 \
                          GROUP BY key ORDER BY sb + db DESC, key LIMIT ?3"
                        .to_owned(),
                    params: Vec::new(),
                }
            } else {
                Table {
                    source: "flows".to_owned(),
                    columns,
                    // A side's own bytes were sent from its country, the other side's
                    // bytes were sent to it.
                    sql: "SELECT c, SUM(sb) AS tsb, SUM(sp), SUM(db) AS tdb, SUM(dp) FROM (\
                          SELECT COALESCE(src_country, 'unknown') AS c, \
                          src_bytes * sample_rate AS sb, src_packets * sample_rate AS sp, \
                          dst_bytes * sample_rate AS db, dst_packets * sample_rate AS dp \
                          FROM flows WHERE ts_start >= ?1 AND ts_start < ?2 \
                          UNION ALL SELECT COALESCE(dst_country, 'unknown'), \
                          dst_bytes * sample_rate, dst_packets * sample_rate, \
                          src_bytes * sample_rate, src_packets * sample_rate \
                          FROM flows WHERE ts_start >= ?1 AND ts_start < ?2) \
                          GROUP BY c HAVING tsb + tdb > 0 ORDER BY tsb + tdb DESC, c LIMIT ?3"
                        .to_owned(),
                    params: Vec::new(),
                }
            }
        }
        Module::Conversations => Table {
            source: "flows".to_owned(),
            columns: [
                "address_a",
                "address_b",
                "bytes_a_to_b",
                "packets_a_to_b",
                "bytes_b_to_a",
                "packets_b_to_a",
                "bytes",
                "packets",
                "flows",
            ]
            .map(plain)
            .to_vec(),
            sql: format!(
                "SELECT a, b, SUM(ab), SUM(abp), SUM(ba), SUM(bap), SUM(ab + ba) AS t, \
                 SUM(abp + bap), COUNT(DISTINCT fk) FROM (SELECT \
                 CASE WHEN src_ip <= dst_ip THEN src_ip ELSE dst_ip END AS a, \
                 CASE WHEN src_ip <= dst_ip THEN dst_ip ELSE src_ip END AS b, \
                 (CASE WHEN src_ip <= dst_ip THEN src_bytes ELSE dst_bytes END) * sample_rate \
                 AS ab, \
                 (CASE WHEN src_ip <= dst_ip THEN src_packets ELSE dst_packets END) \
                 * sample_rate AS abp, \
                 (CASE WHEN src_ip <= dst_ip THEN dst_bytes ELSE src_bytes END) * sample_rate \
                 AS ba, \
                 (CASE WHEN src_ip <= dst_ip THEN dst_packets ELSE src_packets END) \
                 * sample_rate AS bap, \
                 {FLOW_KEY} AS fk \
                 FROM flows WHERE ts_start >= ?1 AND ts_start < ?2 AND src_ip IS NOT NULL \
                 AND dst_ip IS NOT NULL{}) GROUP BY a, b ORDER BY t DESC, a, b LIMIT ?3",
                flow_filter_sql(addr.is_some(), port.is_some())
            ),
            params: flow_filter_params(&addr, port),
        },
        Module::Flows => Table {
            source: "flows".to_owned(),
            columns: vec![
                ("start".to_owned(), Col::Time),
                ("end".to_owned(), Col::Time),
                plain("source_ip"),
                plain("source_port"),
                plain("destination_ip"),
                plain("destination_port"),
                plain("transport"),
                plain("protocol"),
                plain("service"),
                plain("source_country"),
                plain("destination_country"),
                plain("source_bytes"),
                plain("source_packets"),
                plain("destination_bytes"),
                plain("destination_packets"),
                plain("bytes"),
                plain("packets"),
                plain("state"),
                plain("end_reason"),
                ("final".to_owned(), Col::Bool),
                plain("sample_rate"),
                plain("tunnel_type"),
                plain("tunnel_id"),
            ],
            sql: format!(
                "SELECT ts_start, ts_end, src_ip, src_port, dst_ip, dst_port, transport, \
                 protocol, service, src_country, dst_country, src_bytes, src_packets, \
                 dst_bytes, dst_packets, bytes, packets, state, end_reason, final, \
                 sample_rate, tunnel_type, tunnel_id FROM flows \
                 WHERE ts_start >= ?1 AND ts_start < ?2{} ORDER BY ts_start, id LIMIT ?3",
                flow_filter_sql(addr.is_some(), port.is_some())
            ),
            params: flow_filter_params(&addr, port),
        },
        Module::Tunnels => Table {
            source: "flows (decapsulated)".to_owned(),
            columns: ["tunnel_type", "tunnel_id", "bytes", "packets", "flows"]
                .map(plain)
                .to_vec(),
            sql: format!(
                "SELECT tunnel_type, tunnel_id, SUM(bytes * sample_rate) AS b, \
                 SUM(packets * sample_rate), COUNT(DISTINCT {FLOW_KEY}) FROM flows \
                 WHERE ts_start >= ?1 AND ts_start < ?2 AND tunnel_type IS NOT NULL \
                 GROUP BY tunnel_type, tunnel_id ORDER BY b DESC, tunnel_type, tunnel_id \
                 LIMIT ?3"
            ),
            params: Vec::new(),
        },
    };
    let rows = table.fetch(conn, start, end, limit)?;
    conn.execute_batch("COMMIT")?;
    Ok(QueryResult {
        module: req.module,
        start_ns: start,
        end_ns: end,
        source: table.source,
        columns: table.columns.into_iter().map(|(name, _)| name).collect(),
        rows,
    })
}

fn plain(name: &str) -> (String, Col) {
    (name.to_owned(), Col::Plain)
}

/// `AND` clauses for the `addr` (?4) and `port` (?4 or ?5) filters.
fn flow_filter_sql(addr: bool, port: bool) -> String {
    let mut sql = String::new();
    if addr {
        sql.push_str(" AND (src_ip = ?4 OR dst_ip = ?4)");
    }
    if port {
        let n = if addr { 5 } else { 4 };
        let _ = write!(sql, " AND (src_port = ?{n} OR dst_port = ?{n})");
    }
    sql
}

fn flow_filter_params(addr: &Option<String>, port: Option<i64>) -> Vec<SqlValue> {
    let mut params = Vec::new();
    if let Some(a) = addr {
        params.push(SqlValue::Text(a.clone()));
    }
    if let Some(p) = port {
        params.push(SqlValue::Integer(p));
    }
    params
}

/// One module's statement: `?1` start, `?2` end, `?3` limit, then `params` from `?4`.
struct Table {
    source: String,
    columns: Vec<(String, Col)>,
    sql: String,
    params: Vec<SqlValue>,
}

impl Table {
    fn fetch(
        &self,
        conn: &Connection,
        start: i64,
        end: i64,
        limit: i64,
    ) -> rusqlite::Result<Vec<Vec<Value>>> {
        let mut stmt = conn.prepare(&self.sql)?;
        let mut all: Vec<SqlValue> = vec![start.into(), end.into(), limit.into()];
        all.extend(self.params.iter().cloned());
        let mut rows = stmt.query(rusqlite::params_from_iter(all))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(self.columns.len());
            for (i, (_, col)) in self.columns.iter().enumerate() {
                let v: SqlValue = row.get(i)?;
                values.push(to_json(v, *col));
            }
            out.push(values);
        }
        Ok(out)
    }
}

fn to_json(v: SqlValue, col: Col) -> Value {
    match (v, col) {
        (SqlValue::Null, _) => Value::Null,
        (SqlValue::Integer(t), Col::Time) => Value::String(format_rfc3339(t)),
        (SqlValue::Integer(b), Col::Bool) => Value::Bool(b != 0),
        (SqlValue::Integer(n), _) => Value::from(n),
        (SqlValue::Real(x), _) => Value::from(x),
        (SqlValue::Text(s), _) => Value::String(s),
        (SqlValue::Blob(b), _) => Value::String(String::from_utf8_lossy(&b).into_owned()),
    }
}
