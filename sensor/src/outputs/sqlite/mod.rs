//! Embedded store: flow and rollup records in a local SQLite database (the default output).
//!
//! A sensor with no output configured still answers "what happened on this link?":
//! [`SqliteOutput`] keeps flows and rollups in one SQLite file under the data directory,
//! and [`query`] answers `netsensor query` and `GET /query` from it. Design choices:
//!
//! * SQLite is compiled in (rusqlite `bundled`), so the store needs nothing installed.
//! * WAL journal with `synchronous=NORMAL`: queries read while the sensor writes, and a
//!   power loss can lose at most the last transactions, never corrupt the file.
//! * One transaction per [`Output::write_batch`]: a batch is stored whole or not at all
//!   (a line that does not parse is skipped and counted in [`StoreStats::malformed`]).
//! * Rows are keyed by `event.id`, inserted with `INSERT OR IGNORE`: a re-delivered record
//!   is stored once.
//! * Packet records are not stored (they are what the file and network outputs are for).
//! * Retention runs at open and then at most every [`RETENTION_CHECK_INTERVAL`]: by age
//!   (rows that started more than `retention_secs` before the newest stored record, or
//!   before now when the newest record lies in the future) and by size (the oldest rows go
//!   in slices until the database's used pages fit `max_bytes`; freed pages are returned
//!   to the file system with `PRAGMA incremental_vacuum`).
//!
//! See `docs/store-and-query.md` for the schema, the query modules and the time ranges.

pub mod http;
pub mod query;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netsensor_schema::RecordKind;
use rusqlite::{params, Connection};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use super::Output;

pub use netsensor_schema::time::{format_rfc3339, parse_rfc3339};

/// The schema, applied (idempotently) at every open.
const SCHEMA_SQL: &str = include_str!("schema.sql");
/// `PRAGMA user_version` of the schema this code writes.
pub const SCHEMA_VERSION: i64 = 2;
/// What turns a store of the version before into this version: (version, what it does,
/// SQL). Each runs in one transaction with its `user_version` update, so a crash leaves the
/// file at the old version or the new one, never in between.
const MIGRATIONS: [(i64, &str, &str); 1] = [(
    2,
    "migrate the schema to version 2 (tunnel columns)",
    "ALTER TABLE flows ADD COLUMN tunnel_type TEXT; ALTER TABLE flows ADD COLUMN tunnel_id INTEGER;",
)];
/// How often retention is checked at most.
pub const RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How long a writer or reader waits for a lock held by the other side.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most delete slices per size check (each removes about 1/20 of the stored time span).
const MAX_SIZE_SLICES: u32 = 64;

/// Settings of the embedded store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// The database file (created with its parent directories when missing).
    pub path: PathBuf,
    /// Keep rows whose span started at most this long before the newest stored record;
    /// 0 keeps rows regardless of age.
    pub retention_secs: u64,
    /// Largest size of the database's used pages; 0 for no limit.
    pub max_bytes: u64,
}

/// Why the store could not be opened or maintained.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The parent directory could not be created.
    #[error("cannot create the directory {path} for the embedded store")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// SQLite failed while doing `what`.
    #[error("embedded store {path}: cannot {what}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done, e.g. `apply the schema`.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer netsensor with a schema this one does not know.
    #[error(
        "embedded store {path} has schema version {found}; this netsensor writes version \
         {SCHEMA_VERSION} (use a newer netsensor or another path)"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
    },
}

/// Counters of what the store did since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Flow rows inserted.
    pub flows_stored: u64,
    /// Rollup rows inserted.
    pub rollups_stored: u64,
    /// Records ignored because a row with their `event.id` was already stored.
    pub duplicates: u64,
    /// Lines skipped because they were not a flow or rollup record.
    pub malformed: u64,
    /// Rows deleted by retention (age and size).
    pub retention_deleted: u64,
}

/// The embedded store output: flows and rollups into SQLite.
pub struct SqliteOutput {
    conn: Connection,
    settings: SqliteSettings,
    stats: StoreStats,
    last_retention: Option<Instant>,
}

impl fmt::Debug for SqliteOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOutput")
            .field("settings", &self.settings)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SqliteOutput {
    /// Opens (or creates) the store: WAL, `synchronous=NORMAL`, incremental auto-vacuum,
    /// the schema; then runs retention once.
    pub fn open(settings: &SqliteSettings) -> Result<Self, StoreError> {
        let path = &settings.path;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let sqlite = |what| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, what, source }
        };
        let conn = Connection::open(path).map_err(sqlite("open the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite("set the busy timeout"))?;
        // Only effective before the first table exists, which is when it matters.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(sqlite("enable incremental auto-vacuum"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sqlite("switch to the WAL journal"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite {
                path: path.clone(),
                what: "switch to the WAL journal",
                source: rusqlite::Error::InvalidParameterName(format!("journal_mode is {mode}")),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite("set synchronous=NORMAL"))?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite("read the schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.clone(),
                found,
            });
        }
        // Version 0 is a new, empty file: schema.sql creates it whole.
        if found > 0 {
            for (version, what, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
                conn.execute_batch(&format!(
                    "BEGIN; {sql} PRAGMA user_version = {version}; COMMIT;"
                ))
                .map_err(sqlite(what))?;
            }
        }
        conn.execute_batch(SCHEMA_SQL)
            .map_err(sqlite("apply the schema"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sqlite("write the schema version"))?;
        let mut output = SqliteOutput {
            conn,
            settings: settings.clone(),
            stats: StoreStats::default(),
            last_retention: None,
        };
        output.maybe_enforce_retention()?;
        Ok(output)
    }

    /// What the store did since it was opened.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &SqliteSettings {
        &self.settings
    }

    /// Stores one NDJSON batch of `kind` in one transaction; returns the lines skipped as
    /// malformed.
    fn store_batch(&mut self, kind: RecordKind, ndjson: &[u8]) -> Result<u64, StoreError> {
        let path = &self.settings.path;
        let sqlite = |what| {
            move |source| StoreError::Sqlite {
                path: path.clone(),
                what,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(sqlite("begin a transaction"))?;
        let mut malformed = 0u64;
        let (mut stored, mut duplicates) = (0u64, 0u64);
        {
            let sql = match kind {
                RecordKind::Flow => INSERT_FLOW,
                RecordKind::Rollup => INSERT_ROLLUP,
                RecordKind::Packet => return Ok(0),
            };
            let mut insert = tx
                .prepare_cached(sql)
                .map_err(sqlite("prepare an insert"))?;
            for line in ndjson.split(|&b| b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let inserted = match kind {
                    RecordKind::Flow => insert_flow(&mut insert, line),
                    _ => insert_rollup(&mut insert, line),
                }
                .map_err(sqlite("insert a record"))?;
                let Some(changed) = inserted else {
                    malformed += 1;
                    continue;
                };
                if changed == 0 {
                    duplicates += 1;
                } else {
                    stored += 1;
                }
            }
        }
        tx.commit().map_err(sqlite("commit a batch"))?;
        match kind {
            RecordKind::Flow => self.stats.flows_stored += stored,
            _ => self.stats.rollups_stored += stored,
        }
        self.stats.duplicates += duplicates;
        self.stats.malformed += malformed;
        Ok(malformed)
    }

    fn maybe_enforce_retention(&mut self) -> Result<(), StoreError> {
        let due = self
            .last_retention
            .is_none_or(|at| at.elapsed() >= RETENTION_CHECK_INTERVAL);
        if due {
            self.last_retention = Some(Instant::now());
            self.enforce_retention(now_ns())?;
        }
        Ok(())
    }

    /// Applies both retention rules now; returns the rows deleted.
    fn enforce_retention(&mut self, now_ns: i64) -> Result<u64, StoreError> {
        let path = &self.settings.path;
        let sqlite = |what| {
            move |source| StoreError::Sqlite {
                path: path.clone(),
                what,
                source,
            }
        };
        let mut deleted = 0u64;
        if self.settings.retention_secs > 0 {
            let newest: Option<i64> = self
                .conn
                .query_row(
                    "SELECT MAX(m) FROM (SELECT MAX(ts_start) AS m FROM flows \
                     UNION ALL SELECT MAX(ts_start) FROM rollups)",
                    [],
                    |row| row.get(0),
                )
                .map_err(sqlite("find the newest record"))?;
            if let Some(newest) = newest {
                let keep_ns = i64::try_from(self.settings.retention_secs)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000_000);
                let cutoff = newest.min(now_ns).saturating_sub(keep_ns);
                deleted += delete_before(&mut self.conn, cutoff)
                    .map_err(sqlite("delete rows past retention_secs"))?;
            }
        }
        if self.settings.max_bytes > 0 {
            let mut slices = 0;
            while used_bytes(&self.conn).map_err(sqlite("measure the database"))?
                > self.settings.max_bytes
                && slices < MAX_SIZE_SLICES
            {
                slices += 1;
                let span: (Option<i64>, Option<i64>) = self
                    .conn
                    .query_row(
                        "SELECT MIN(lo), MAX(hi) FROM (\
                         SELECT MIN(ts_start) AS lo, MAX(ts_start) AS hi FROM flows \
                         UNION ALL SELECT MIN(ts_start), MAX(ts_start) FROM rollups)",
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .map_err(sqlite("find the oldest records"))?;
                let (Some(oldest), Some(newest)) = span else {
                    break;
                };
                let slice = (newest.saturating_sub(oldest) / 20).max(1);
                deleted += delete_before(&mut self.conn, oldest.saturating_add(slice))
                    .map_err(sqlite("delete the oldest rows over max_bytes"))?;
            }
        }
        if deleted > 0 {
            incremental_vacuum(&self.conn)
                .map_err(sqlite("return free pages (incremental_vacuum)"))?;
        }
        self.stats.retention_deleted += deleted;
        Ok(deleted)
    }
}

impl Output for SqliteOutput {
    fn name(&self) -> &str {
        "sqlite"
    }

    fn write_batch(&mut self, kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        if kind == RecordKind::Packet {
            return Ok(());
        }
        let malformed = self.store_batch(kind, ndjson).map_err(io::Error::other)?;
        if malformed > 0 {
            tracing::warn!(
                output = "sqlite",
                kind = kind.name(),
                malformed,
                "skipped lines that are not {} records",
                kind.name()
            );
        }
        self.maybe_enforce_retention().map_err(io::Error::other)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every batch is already committed; flushing only gives retention its turn.
        self.maybe_enforce_retention().map_err(io::Error::other)
    }
}

/// Deletes the rows that started before `cutoff_ns`, in one transaction.
fn delete_before(conn: &mut Connection, cutoff_ns: i64) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let flows = tx.execute("DELETE FROM flows WHERE ts_start < ?1", [cutoff_ns])?;
    let rollups = tx.execute("DELETE FROM rollups WHERE ts_start < ?1", [cutoff_ns])?;
    tx.commit()?;
    Ok((flows + rollups) as u64)
}

/// Returns every free page to the file system. The pragma frees pages as it is stepped, so
/// it is stepped to the end (a single step, as `execute_batch` does, frees only some).
fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// Bytes of the database's pages in use (the file less its free pages; the WAL, which
/// checkpoints keep near 4 MiB, is not counted).
fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(u64::try_from(pages.saturating_sub(free).saturating_mul(size)).unwrap_or(0))
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Opens the store read-only for queries (never creates it).
pub(crate) fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

const INSERT_FLOW: &str = "INSERT OR IGNORE INTO flows (id, ts_start, ts_end, flow_start, \
    sequence, community_id, src_ip, src_port, dst_ip, dst_port, transport, protocol, service, \
    direction, src_country, dst_country, src_bytes, src_packets, dst_bytes, dst_packets, bytes, \
    packets, sample_rate, state, end_reason, final, tunnel_type, tunnel_id) VALUES (?1, ?2, ?3, \
    ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
    ?24, ?25, ?26, ?27, ?28)";

const INSERT_ROLLUP: &str = "INSERT OR IGNORE INTO rollups (id, ts_start, ts_end, interval_ms, \
    dimension, key, rank, bytes, packets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

// ---------------------------------------------------------------------------------------
// Parsing: borrowed views of just the stored fields.

/// A JSON string, borrowed from the line unless it contains escapes.
#[derive(Debug, Default)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}

fn text<'s>(t: &'s Option<Text<'_>>) -> Option<&'s str> {
    t.as_ref().map(|t| t.0.as_ref())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[derive(Deserialize)]
struct EventIn<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow, default)]
    start: Option<Text<'a>>,
    #[serde(borrow, default)]
    end: Option<Text<'a>>,
}

impl EventIn<'_> {
    /// `event.start` and `event.end` (else `@timestamp`) in nanoseconds.
    fn span(&self, timestamp: Option<&Text<'_>>) -> Option<(i64, i64)> {
        let start = text(&self.start).or(timestamp.map(|t| t.0.as_ref()))?;
        let start = parse_rfc3339(start)?;
        let end = match text(&self.end) {
            Some(end) => parse_rfc3339(end)?,
            None => start,
        };
        Some((start, end.max(start)))
    }
}

#[derive(Deserialize, Default)]
struct GeoIn<'a> {
    #[serde(borrow, default)]
    country_iso_code: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct EndpointIn<'a> {
    #[serde(borrow, default)]
    ip: Option<Text<'a>>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    packets: u64,
    #[serde(borrow, default)]
    geo: Option<GeoIn<'a>>,
}

impl EndpointIn<'_> {
    fn country(&self) -> Option<&str> {
        self.geo.as_ref().and_then(|g| text(&g.country_iso_code))
    }
}

#[derive(Deserialize, Default)]
struct NetworkIn<'a> {
    #[serde(borrow, default)]
    transport: Option<Text<'a>>,
    #[serde(borrow, default)]
    protocol: Option<Text<'a>>,
    #[serde(borrow, default)]
    direction: Option<Text<'a>>,
    #[serde(borrow, default)]
    community_id: Option<Text<'a>>,
    bytes: u64,
    packets: u64,
}

#[derive(Deserialize)]
struct FlowDetailsIn<'a> {
    #[serde(borrow, default)]
    state: Option<Text<'a>>,
    #[serde(rename = "final", default)]
    last: bool,
    #[serde(borrow, default)]
    start: Option<Text<'a>>,
    #[serde(default)]
    sequence: Option<u32>,
    #[serde(borrow, default)]
    end_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct TunnelIn<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Text<'a>>,
    #[serde(default)]
    id: Option<u64>,
}

#[derive(Deserialize)]
struct FlowNetsensorIn<'a> {
    #[serde(borrow, default)]
    service: Option<Text<'a>>,
    #[serde(default)]
    sample_rate: Option<u64>,
    #[serde(borrow, default)]
    tunnel: Option<TunnelIn<'a>>,
    #[serde(borrow)]
    flow: FlowDetailsIn<'a>,
}

#[derive(Deserialize)]
struct FlowIn<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    event: EventIn<'a>,
    #[serde(borrow)]
    network: NetworkIn<'a>,
    #[serde(borrow, default)]
    source: EndpointIn<'a>,
    #[serde(borrow, default)]
    destination: EndpointIn<'a>,
    #[serde(borrow)]
    netsensor: FlowNetsensorIn<'a>,
}

#[derive(Deserialize)]
struct RollupDetailsIn<'a> {
    interval_ms: u64,
    #[serde(borrow)]
    dimension: Text<'a>,
    #[serde(borrow)]
    key: Text<'a>,
    #[serde(default)]
    rank: Option<u32>,
}

#[derive(Deserialize)]
struct RollupNetsensorIn<'a> {
    #[serde(borrow)]
    rollup: RollupDetailsIn<'a>,
}

#[derive(Deserialize)]
struct VolumeIn {
    bytes: u64,
    packets: u64,
}

#[derive(Deserialize)]
struct RollupIn<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    event: EventIn<'a>,
    network: VolumeIn,
    #[serde(borrow)]
    netsensor: RollupNetsensorIn<'a>,
}

/// Inserts the flow record on `line`; `Ok(None)` when the line is not one (bad JSON, no
/// id, unreadable times), else the rows changed (0 for an id already stored).
fn insert_flow(
    insert: &mut rusqlite::Statement<'_>,
    line: &[u8],
) -> rusqlite::Result<Option<usize>> {
    let Ok(r) = serde_json::from_slice::<FlowIn<'_>>(line) else {
        return Ok(None);
    };
    let Some((ts_start, ts_end)) = r.event.span(r.timestamp.as_ref()) else {
        return Ok(None);
    };
    let flow = &r.netsensor.flow;
    let flow_start = match text(&flow.start) {
        Some(t) => match parse_rfc3339(t) {
            Some(ns) => Some(ns),
            None => return Ok(None),
        },
        None => None,
    };
    let (src, dst, net) = (&r.source, &r.destination, &r.network);
    insert
        .execute(params![
            r.event.id.0.as_ref(),
            ts_start,
            ts_end,
            flow_start,
            flow.sequence,
            text(&net.community_id),
            text(&src.ip),
            src.port,
            text(&dst.ip),
            dst.port,
            text(&net.transport),
            text(&net.protocol),
            text(&r.netsensor.service),
            text(&net.direction),
            src.country(),
            dst.country(),
            to_i64(src.bytes),
            to_i64(src.packets),
            to_i64(dst.bytes),
            to_i64(dst.packets),
            to_i64(net.bytes),
            to_i64(net.packets),
            to_i64(r.netsensor.sample_rate.unwrap_or(1).max(1)),
            text(&flow.state),
            text(&flow.end_reason),
            flow.last,
            r.netsensor.tunnel.as_ref().and_then(|t| text(&t.kind)),
            r.netsensor.tunnel.as_ref().and_then(|t| t.id).map(to_i64),
        ])
        .map(Some)
}

/// Inserts the rollup record on `line`; `Ok(None)` when the line is not one.
fn insert_rollup(
    insert: &mut rusqlite::Statement<'_>,
    line: &[u8],
) -> rusqlite::Result<Option<usize>> {
    let Ok(r) = serde_json::from_slice::<RollupIn<'_>>(line) else {
        return Ok(None);
    };
    let Some((ts_start, ts_end)) = r.event.span(r.timestamp.as_ref()) else {
        return Ok(None);
    };
    let rollup = &r.netsensor.rollup;
    insert
        .execute(params![
            r.event.id.0.as_ref(),
            ts_start,
            ts_end,
            to_i64(rollup.interval_ms),
            rollup.dimension.0.as_ref(),
            rollup.key.0.as_ref(),
            rollup.rank,
            to_i64(r.network.bytes),
            to_i64(r.network.packets),
        ])
        .map(Some)
}
