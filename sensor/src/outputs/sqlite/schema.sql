-- Embedded store of flow and rollup records (netsensor outputs/sqlite).
-- Applied at every open; every statement is idempotent. Times are integer nanoseconds since
-- the Unix epoch; `id` is the record's event.id, so a re-delivered record is ignored
-- (INSERT OR IGNORE). Bump `user_version` in mod.rs when a change needs a migration, and
-- add the migration to `MIGRATIONS` there (version 2: the tunnel columns).

CREATE TABLE IF NOT EXISTS flows (
    id           TEXT PRIMARY KEY,   -- event.id
    ts_start     INTEGER NOT NULL,   -- event.start: start of the span this record counts
    ts_end       INTEGER NOT NULL,   -- event.end
    flow_start   INTEGER,            -- netsensor.flow.start (constant over a flow's records)
    sequence     INTEGER,            -- netsensor.flow.sequence
    community_id TEXT,               -- network.community_id
    src_ip       TEXT,               -- source.ip (initiator)
    src_port     INTEGER,
    dst_ip       TEXT,               -- destination.ip (responder)
    dst_port     INTEGER,
    transport    TEXT,               -- network.transport
    protocol     TEXT,               -- network.protocol
    service      TEXT,               -- netsensor.service
    direction    TEXT,               -- network.direction
    src_country  TEXT,               -- source.geo.country_iso_code
    dst_country  TEXT,               -- destination.geo.country_iso_code
    src_bytes    INTEGER NOT NULL,   -- sent by the initiator in this span
    src_packets  INTEGER NOT NULL,
    dst_bytes    INTEGER NOT NULL,   -- sent by the responder in this span
    dst_packets  INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,   -- network.bytes
    packets      INTEGER NOT NULL,   -- network.packets
    sample_rate  INTEGER NOT NULL,   -- netsensor.sample_rate (1 unless load shedding)
    tunnel_type  TEXT,               -- netsensor.tunnel.type (decapsulated traffic)
    tunnel_id    INTEGER,            -- netsensor.tunnel.id (VNI, GRE key, ERSPAN session)
    state        TEXT,               -- netsensor.flow.state
    end_reason   TEXT,               -- netsensor.flow.end_reason
    final        INTEGER NOT NULL    -- netsensor.flow.final (0/1)
);
CREATE INDEX IF NOT EXISTS flows_ts_start ON flows (ts_start);

CREATE TABLE IF NOT EXISTS rollups (
    id          TEXT PRIMARY KEY,    -- event.id
    ts_start    INTEGER NOT NULL,    -- event.start: start of the interval
    ts_end      INTEGER NOT NULL,    -- event.end
    interval_ms INTEGER NOT NULL,
    dimension   TEXT NOT NULL,       -- transport, service, direction, size_class, ...
    key         TEXT NOT NULL,
    rank        INTEGER,             -- top-N dimensions only
    bytes       INTEGER NOT NULL,
    packets     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rollups_ts_start ON rollups (ts_start);
CREATE INDEX IF NOT EXISTS rollups_dimension_ts_start ON rollups (dimension, ts_start);
