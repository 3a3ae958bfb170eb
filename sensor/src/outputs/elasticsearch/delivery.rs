//! The delivery thread: memory queue and spool → `_bulk` requests → the cluster.
//!
//! One loop (on a current-thread tokio runtime) builds requests and keeps up to
//! `max_in_flight` of them running as tasks. Each task owns its request until every
//! document in it is delivered (201, or 409 = already there) or dead-lettered: it retries
//! the whole request on connection errors, 408, 429 and 5xx, and only the failed items
//! when the answer is partial, sleeping an exponential backoff with full jitter in
//! between. Refused credentials and TLS failures are not retried in a tight loop: one clear
//! error a minute, the output marked down, `max_backoff` between attempts, and the queue
//! spills into the spool meanwhile.
//!
//! Each task keeps what it still has to deliver in a shared [`Pending`], so that at
//! shutdown whatever has not landed can be spooled rather than lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use netsensor_elastic::bulk::{self, Outcome};
use netsensor_elastic::connection::check_status;
use netsensor_elastic::{names, Cluster, Error};
use netsensor_schema::RecordKind;
use reqwest::Method;
use tokio::task::{Id, JoinSet};
use tracing::{error, warn};

use super::dead_letter::{DeadLetter, Rejected};
use super::{kind_of, Mode, Shared, NAME};
use crate::outputs::spool::EntryId;

/// Most emptied buffers kept for reuse.
const POOL: usize = 64;

/// Where a request's documents came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The memory queue: spooled at shutdown if not delivered.
    Memory,
    /// A spool entry (by local key): left in the spool if not delivered.
    Spool(u64),
}

/// One document of a request: its kind and where its line is in the body.
#[derive(Debug, Clone)]
struct Item {
    kind: RecordKind,
    start: usize,
    end: usize,
}

/// A request's remaining work.
#[derive(Debug)]
struct Pending {
    body: Vec<u8>,
    items: Vec<Item>,
    origin: Origin,
}

/// State shared by the loop and its tasks.
struct Ctx {
    shared: Arc<Shared>,
    clusters: Vec<Cluster>,
    current: AtomicUsize,
    /// The data stream of each record kind, indexed by spool tag.
    indices: [String; 3],
    dead_letter: Mutex<DeadLetter>,
    last_progress: Mutex<Instant>,
}

impl Ctx {
    fn index(&self, kind: RecordKind) -> &str {
        let i = usize::from(super::tag_of(kind));
        self.indices.get(i).map_or("", String::as_str)
    }

    fn cluster(&self) -> &Cluster {
        let i = self.current.load(Ordering::Relaxed) % self.clusters.len().max(1);
        &self.clusters[i]
    }

    /// Moves on to the next node URL (after a connection failure).
    fn rotate(&self) {
        if self.clusters.len() > 1 {
            self.current.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn progress(&self) {
        *lock(&self.last_progress) = Instant::now();
    }

    /// Backoff before attempt `attempt` (1-based): full jitter over an exponential cap.
    fn backoff(&self, attempt: u32) -> Duration {
        let s = &self.shared.settings;
        let initial = u64::try_from(s.initial_backoff.as_millis()).unwrap_or(u64::MAX);
        let max = u64::try_from(s.max_backoff.as_millis()).unwrap_or(u64::MAX);
        let cap = initial
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
            .min(max);
        Duration::from_millis(fastrand::u64(0..=cap))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A spool entry being cut into requests.
struct Lane {
    key: u64,
    kind: RecordKind,
    data: Vec<u8>,
    pos: usize,
}

/// A spool entry with requests in flight.
struct Tracked {
    id: EntryId,
    open: usize,
    split_done: bool,
}

/// The delivery loop; returns when the output is closed and its work is done or handed
/// to the spool.
pub(super) async fn run(shared: Arc<Shared>, clusters: Vec<Cluster>) {
    let namespace = shared.settings.namespace.clone();
    let dead_letter = DeadLetter::new(shared.settings.dead_letter_path.clone());
    let ctx = Arc::new(Ctx {
        indices: RecordKind::ALL.map(|k| names::data_stream(k, &namespace)),
        clusters,
        current: AtomicUsize::new(0),
        dead_letter: Mutex::new(dead_letter),
        last_progress: Mutex::new(Instant::now()),
        shared,
    });
    let shared = Arc::clone(&ctx.shared);
    let settings = &shared.settings;
    let mut tasks: JoinSet<Origin> = JoinSet::new();
    let mut running: HashMap<Id, Arc<Mutex<Pending>>> = HashMap::new();
    let mut tracked: HashMap<u64, Tracked> = HashMap::new();
    let mut lane: Option<Lane> = None;
    let mut next_key = 0u64;
    let mut closing_since: Option<Instant> = None;
    let mut spool_pause_until: Option<Instant> = None;

    loop {
        while let Some(done) = tasks.try_join_next_with_id() {
            finished(&ctx, done, &mut running, &mut tracked);
        }
        let closing = shared.closing.load(Ordering::Relaxed);
        if closing && closing_since.is_none() {
            closing_since = Some(Instant::now());
        }
        // Start requests while there are free slots and work.
        while tasks.len() < settings.max_in_flight {
            let mut pending = take_memory(&ctx, closing);
            if pending.is_none() {
                let up = shared.up.load(Ordering::Relaxed);
                let paused = spool_pause_until.is_some_and(|t| Instant::now() < t);
                // While the cluster is down, only one request probes it.
                let live_closing = closing && settings.mode == Mode::Live;
                let spool_allowed = !live_closing && !paused && (up || tasks.is_empty());
                if spool_allowed {
                    match take_spool(&ctx, &mut lane, &mut tracked, &mut next_key) {
                        Ok(p) => pending = p,
                        Err(err) => {
                            if let Some(s) = shared.warnings.allow("elasticsearch.spool_read") {
                                error!(output = NAME, error = %err, "Cannot read the spool{s}.");
                            }
                            spool_pause_until = Some(Instant::now() + Duration::from_secs(5));
                        }
                    }
                }
            }
            let Some(pending) = pending else { break };
            let pending = Arc::new(Mutex::new(pending));
            let handle = tasks.spawn(deliver(Arc::clone(&ctx), Arc::clone(&pending)));
            running.insert(handle.id(), pending);
        }
        shared
            .metrics
            .in_flight
            .set(i64::try_from(tasks.len()).unwrap_or(i64::MAX));

        if let Some(since) = closing_since {
            let queue_empty = shared.state().queue.is_empty();
            let spool_done =
                settings.mode == Mode::Live || (lane.is_none() && shared.spool().is_drained());
            if tasks.is_empty() && queue_empty && spool_done {
                break;
            }
            let give_up = match settings.mode {
                Mode::Live => since.elapsed() >= settings.shutdown_timeout,
                Mode::Replay => {
                    // A slow request is not a dead cluster: while it is up, allow a
                    // whole request timeout without an answer.
                    let last = (*lock(&ctx.last_progress)).max(since);
                    let mut patience = settings.shutdown_timeout;
                    if shared.up.load(Ordering::Relaxed) {
                        patience += settings.request_timeout;
                    }
                    last.elapsed() >= patience
                }
            };
            if give_up {
                tasks.abort_all();
                while let Some(done) = tasks.join_next_with_id().await {
                    finished(&ctx, done, &mut running, &mut tracked);
                }
                spool_leftovers(&ctx, running.drain().map(|(_, p)| p));
                break;
            }
        }

        let wait = next_wait(&ctx, closing_since.is_some(), !tasks.is_empty());
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                finished(&ctx, done, &mut running, &mut tracked);
            }
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    shared.metrics.in_flight.set(0);
    let mut dead_letter = lock(&ctx.dead_letter);
    if let Err(err) = dead_letter.flush() {
        error!(output = NAME, error = %err, path = %dead_letter.path().display(),
            "Cannot write the dead-letter file.");
    }
}

/// How long the loop may sleep before it must look again.
fn next_wait(ctx: &Ctx, closing: bool, busy: bool) -> Duration {
    let settings = &ctx.shared.settings;
    if closing {
        return Duration::from_millis(50);
    }
    let state = ctx.shared.state();
    match state.queue.front() {
        Some(first) => settings
            .max_wait
            .saturating_sub(first.queued.elapsed())
            .max(Duration::from_millis(1)),
        // Spooled records wait for a free slot or for the cluster to come back.
        None if busy => Duration::from_millis(500),
        None => Duration::from_millis(250),
    }
}

/// Handles a finished task: a spool entry whose requests are all done is acknowledged.
fn finished(
    ctx: &Ctx,
    done: Result<(Id, Origin), tokio::task::JoinError>,
    running: &mut HashMap<Id, Arc<Mutex<Pending>>>,
    tracked: &mut HashMap<u64, Tracked>,
) {
    let (id, origin) = match done {
        Ok((id, origin)) => (id, Some(origin)),
        // Aborted at shutdown: its leftovers are still in `running` for the caller.
        Err(err) if err.is_cancelled() => return,
        Err(err) => {
            error!(output = NAME, error = %err, "A delivery task failed.");
            (err.id(), None)
        }
    };
    let pending = running.remove(&id);
    let origin = origin.or_else(|| pending.as_ref().map(|p| lock(p).origin));
    if let Some(Origin::Spool(key)) = origin {
        if let Some(t) = tracked.get_mut(&key) {
            t.open = t.open.saturating_sub(1);
            if t.open == 0 && t.split_done {
                let entry = t.id;
                tracked.remove(&key);
                ack(ctx, entry);
            }
        }
    }
}

fn ack(ctx: &Ctx, entry: EntryId) {
    let shared = &ctx.shared;
    let mut spool = shared.spool();
    if let Err(err) = spool.ack(entry) {
        if let Some(s) = shared.warnings.allow("elasticsearch.spool_ack") {
            error!(output = NAME, error = %err, "Cannot delete a delivered spool segment{s}.");
        }
    }
    shared.publish_spool(&spool);
}

/// Builds a request from the memory queue when it is due: full by count or bytes, or its
/// first record has waited `max_wait`, or the output is closing.
fn take_memory(ctx: &Ctx, closing: bool) -> Option<Pending> {
    let shared = &ctx.shared;
    let settings = &shared.settings;
    let mut state = shared.state();
    let first = state.queue.front()?;
    let due = closing
        || state.queued_bytes >= settings.max_bytes as u64
        || first.queued.elapsed() >= settings.max_wait
        || state.queued_docs >= settings.max_docs as u64;
    if !due {
        return None;
    }
    let mut pending = Pending {
        body: Vec::with_capacity(settings.max_bytes.min(16 << 20) + 4096),
        items: Vec::new(),
        origin: Origin::Memory,
    };
    while let Some(chunk) = state.queue.front_mut() {
        let before = chunk.pos;
        chunk.pos = fill(ctx, &mut pending, chunk.kind, &chunk.data, chunk.pos);
        let taken = (chunk.pos - before) as u64;
        let taken_lines = chunk.data[before..chunk.pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let exhausted = chunk.pos >= chunk.data.len();
        state.queued_bytes = state.queued_bytes.saturating_sub(taken);
        state.queued_docs = state.queued_docs.saturating_sub(taken_lines);
        if exhausted {
            if let Some(chunk) = state.queue.pop_front() {
                if state.free.len() < POOL {
                    state.free.push(chunk.data);
                }
            }
        }
        if is_full(ctx, &pending) {
            break;
        }
    }
    shared
        .metrics
        .queue_bytes
        .set(i64::try_from(state.queued_bytes).unwrap_or(i64::MAX));
    drop(state);
    shared.room.notify_all();
    (!pending.items.is_empty()).then_some(pending)
}

fn is_full(ctx: &Ctx, pending: &Pending) -> bool {
    let settings = &ctx.shared.settings;
    pending.items.len() >= settings.max_docs || pending.body.len() >= settings.max_bytes
}

/// Appends lines of `data` from `pos` to the request until it is full; returns the new
/// position (after the last line taken).
fn fill(ctx: &Ctx, pending: &mut Pending, kind: RecordKind, data: &[u8], mut pos: usize) -> usize {
    let index = ctx.index(kind);
    while pos < data.len() && !is_full(ctx, pending) {
        let rest = &data[pos..];
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..len];
        pos += len + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let id = bulk::event_id(line);
        bulk::push_create(&mut pending.body, index, id.as_deref(), line);
        let end = pending.body.len() - 1;
        pending.items.push(Item {
            kind,
            start: end - line.len(),
            end,
        });
    }
    pos.min(data.len())
}

/// Builds a request from the spool: the entry being cut, else the next one.
fn take_spool(
    ctx: &Ctx,
    lane: &mut Option<Lane>,
    tracked: &mut HashMap<u64, Tracked>,
    next_key: &mut u64,
) -> Result<Option<Pending>, crate::outputs::spool::SpoolError> {
    let shared = &ctx.shared;
    loop {
        if lane.is_none() {
            let entry = {
                let mut spool = shared.spool();
                let entry = spool.read_next()?;
                shared
                    .metrics
                    .spool_corrupt
                    .inc_by(spool.corrupt_entries() - shared.metrics.spool_corrupt.get());
                shared.publish_spool(&spool);
                entry
            };
            let Some(entry) = entry else {
                return Ok(None);
            };
            let Some(kind) = kind_of(entry.tag) else {
                // Not ours (a newer version's tag?): count it and move on.
                shared.metrics.spool_corrupt.inc();
                ack(ctx, entry.id);
                continue;
            };
            *next_key += 1;
            tracked.insert(
                *next_key,
                Tracked {
                    id: entry.id,
                    open: 0,
                    split_done: false,
                },
            );
            *lane = Some(Lane {
                key: *next_key,
                kind,
                data: entry.payload,
                pos: 0,
            });
        }
        let Some(current) = lane.as_mut() else {
            return Ok(None);
        };
        let mut pending = Pending {
            body: Vec::with_capacity(current.data.len().min(16 << 20) + 4096),
            items: Vec::new(),
            origin: Origin::Spool(current.key),
        };
        current.pos = fill(ctx, &mut pending, current.kind, &current.data, current.pos);
        let key = current.key;
        let exhausted = current.pos >= current.data.len();
        if exhausted {
            *lane = None;
        }
        let Some(t) = tracked.get_mut(&key) else {
            continue;
        };
        t.split_done = exhausted;
        if pending.items.is_empty() {
            if t.open == 0 && exhausted {
                let entry = t.id;
                tracked.remove(&key);
                ack(ctx, entry);
            }
            continue;
        }
        t.open += 1;
        return Ok(Some(pending));
    }
}

/// At a shutdown that ran out of time: records from memory that did not land go to the
/// spool (records from the spool stay there, unacknowledged).
fn spool_leftovers(ctx: &Ctx, leftovers: impl Iterator<Item = Arc<Mutex<Pending>>>) {
    let shared = &ctx.shared;
    let mut by_kind: [Vec<u8>; 3] = Default::default();
    for pending in leftovers {
        let pending = lock(&pending);
        if pending.origin != Origin::Memory {
            continue;
        }
        for item in &pending.items {
            if let Some(buf) = by_kind.get_mut(usize::from(super::tag_of(item.kind))) {
                buf.extend_from_slice(&pending.body[item.start..item.end]);
                buf.push(b'\n');
            }
        }
    }
    let mut state = shared.state();
    while let Some(chunk) = state.queue.pop_front() {
        if let Some(buf) = by_kind.get_mut(usize::from(super::tag_of(chunk.kind))) {
            buf.extend_from_slice(chunk.data.get(chunk.pos..).unwrap_or_default());
        }
    }
    state.queued_bytes = 0;
    state.queued_docs = 0;
    shared.metrics.queue_bytes.set(0);
    drop(state);
    for kind in RecordKind::ALL {
        if let Some(buf) = by_kind.get(usize::from(super::tag_of(kind))) {
            shared.spool_records(kind, buf);
        }
    }
    let mut spool = shared.spool();
    if let Err(err) = spool.flush() {
        error!(output = NAME, error = %err, "Cannot fsync the spool.");
    }
}

/// What to do after a failed attempt.
enum Failure {
    /// Worth retrying soon (backoff).
    Transient,
    /// Credentials or TLS: the output is down; retry after `max_backoff`.
    Refused,
}

/// Delivers one request: retries until every document is delivered or dead-lettered.
async fn deliver(ctx: Arc<Ctx>, pending: Arc<Mutex<Pending>>) -> Origin {
    let shared = Arc::clone(&ctx.shared);
    let metrics = &shared.metrics;
    let mut attempt = 0u32;
    loop {
        let (body, count, origin) = {
            let p = lock(&pending);
            (p.body.clone(), p.items.len(), p.origin)
        };
        if count == 0 {
            return origin;
        }
        if attempt > 0 {
            metrics.retries.inc_by(count as u64);
        }
        attempt += 1;
        let cluster = ctx.cluster().clone();
        let started = Instant::now();
        let result = cluster
            .send(Method::POST, "/_bulk", Some((bulk::CONTENT_TYPE, body)))
            .await;
        metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
        let url = cluster.url_of("/_bulk");
        let failure = match result {
            Err(err) => {
                shared.set_up(false);
                let refused = matches!(err, Error::Tls { .. } | Error::Config(_));
                if matches!(err, Error::Unreachable { .. }) {
                    ctx.rotate();
                }
                report(&shared, &err, refused);
                if refused {
                    Failure::Refused
                } else {
                    Failure::Transient
                }
            }
            Ok(answer) if answer.status == 200 => {
                match bulk::parse_response(&url, answer.body.as_bytes(), count) {
                    Ok(results) => {
                        ctx.progress();
                        shared.set_up(true);
                        match settle(&ctx, &pending, results) {
                            None => return origin,
                            Some(failure) => failure,
                        }
                    }
                    Err(err) => {
                        report(&shared, &err, false);
                        Failure::Transient
                    }
                }
            }
            Ok(answer) => {
                let err = match check_status(&Method::POST, &url, &answer) {
                    Err(err) => err,
                    Ok(()) => Error::Protocol {
                        url: url.clone(),
                        reason: format!("unexpected HTTP {}", answer.status),
                    },
                };
                match answer.status {
                    401 | 403 => {
                        report(&shared, &err, true);
                        Failure::Refused
                    }
                    408 | 429 => {
                        report(&shared, &err, false);
                        Failure::Transient
                    }
                    s if s >= 500 => {
                        shared.set_up(false);
                        report(&shared, &err, false);
                        Failure::Transient
                    }
                    status => {
                        // The cluster refuses the request as a whole (e.g. 413: too
                        // large): every document goes to the dead-letter file.
                        let reason = err.to_string();
                        reject_all(&ctx, &pending, status, &reason);
                        return origin;
                    }
                }
            }
        };
        let pause = match failure {
            Failure::Transient => ctx.backoff(attempt),
            Failure::Refused => {
                shared.set_up(false);
                shared.settings.max_backoff
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Logs a failed attempt, at most once a minute per kind of failure.
fn report(shared: &Shared, err: &Error, refused: bool) {
    let key = match err {
        Error::Auth { .. } => "elasticsearch.auth",
        Error::Tls { .. } => "elasticsearch.tls",
        Error::Unreachable { .. } => "elasticsearch.unreachable",
        Error::Config(_) => "elasticsearch.config",
        Error::Status { .. } => "elasticsearch.status",
        Error::Protocol { .. } => "elasticsearch.protocol",
    };
    if let Some(s) = shared.warnings.allow(key) {
        if refused {
            error!(output = NAME, error = %err,
                "The cluster refuses the sensor (credentials, permissions or TLS); records are kept and spooled, and sending is retried every retry.max_backoff_ms{s}.");
        } else {
            warn!(output = NAME, error = %err, "A _bulk request failed; retrying with backoff{s}.");
        }
    }
}

/// Applies the item results: delivered items are counted, rejected ones dead-lettered;
/// the retryable ones stay in `pending`. Returns how to wait before the next attempt,
/// or `None` when nothing is left.
fn settle(ctx: &Ctx, pending: &Mutex<Pending>, results: bulk::Results) -> Option<Failure> {
    let shared = &ctx.shared;
    let metrics = &shared.metrics;
    let mut p = lock(pending);
    let delivered = results.delivered() as u64;
    metrics.records.sent.inc_by(delivered);
    metrics.duplicates.inc_by(results.already_existed as u64);
    if results.failed.is_empty() {
        let bytes: usize = p.items.iter().map(|i| i.end - i.start + 1).sum();
        metrics.records.bytes.inc_by(bytes as u64);
        p.items.clear();
        p.body.clear();
        return None;
    }
    let mut retry: Vec<Item> = Vec::new();
    let mut refused = false;
    let mut failed_bytes = 0usize;
    {
        let mut dead_letter = lock(&ctx.dead_letter);
        for (position, outcome) in &results.failed {
            let Some(item) = p.items.get(*position).cloned() else {
                continue;
            };
            failed_bytes += item.end - item.start + 1;
            match outcome {
                Outcome::Retry(e) => {
                    refused |= e.status == 401 || e.status == 403;
                    retry.push(item);
                }
                Outcome::Reject(e) => {
                    metrics.dead_lettered.inc();
                    metrics.records.failed.inc();
                    let rejected = Rejected {
                        index: ctx.index(item.kind),
                        status: e.status,
                        kind: &e.kind,
                        reason: &e.reason,
                        record: &p.body[item.start..item.end],
                    };
                    if let Err(err) = dead_letter.write(&rejected) {
                        if let Some(s) = shared.warnings.allow("elasticsearch.dead_letter") {
                            error!(output = NAME, error = %err, path = %dead_letter.path().display(),
                                "Cannot write a rejected record to the dead-letter file{s}.");
                        }
                    }
                    if let Some(s) = shared.warnings.allow("elasticsearch.rejected") {
                        warn!(output = NAME, index = rejected.index, status = e.status, error = %e.reason,
                            path = %dead_letter.path().display(),
                            "The cluster rejected a record; it went to the dead-letter file{s}.");
                    }
                }
                Outcome::Created | Outcome::AlreadyExists => {}
            }
        }
        if let Err(err) = dead_letter.flush() {
            if let Some(s) = shared.warnings.allow("elasticsearch.dead_letter") {
                error!(output = NAME, error = %err, "Cannot write the dead-letter file{s}.");
            }
        }
    }
    let all: usize = p.items.iter().map(|i| i.end - i.start + 1).sum();
    metrics
        .records
        .bytes
        .inc_by(all.saturating_sub(failed_bytes) as u64);
    if retry.is_empty() {
        p.items.clear();
        p.body.clear();
        return None;
    }
    // Rebuild the request from the items to retry.
    let mut body = Vec::with_capacity(p.body.len());
    let mut items = Vec::with_capacity(retry.len());
    for item in &retry {
        let line = &p.body[item.start..item.end];
        let id = bulk::event_id(line);
        bulk::push_create(&mut body, ctx.index(item.kind), id.as_deref(), line);
        let end = body.len() - 1;
        items.push(Item {
            kind: item.kind,
            start: end - line.len(),
            end,
        });
    }
    p.body = body;
    p.items = items;
    if refused {
        let err = Error::Auth {
            method: "POST".into(),
            url: ctx.cluster().url_of("/_bulk"),
            status: 403,
            reason: "the cluster refuses to index some records for these credentials".into(),
        };
        report(shared, &err, true);
        Some(Failure::Refused)
    } else {
        Some(Failure::Transient)
    }
}

/// Dead-letters every document of a request the cluster refused as a whole.
fn reject_all(ctx: &Ctx, pending: &Mutex<Pending>, status: u16, reason: &str) {
    let shared = &ctx.shared;
    let mut p = lock(pending);
    let mut dead_letter = lock(&ctx.dead_letter);
    if let Some(s) = shared.warnings.allow("elasticsearch.request_rejected") {
        error!(output = NAME, status, error = %reason, path = %dead_letter.path().display(),
            "The cluster rejected a whole _bulk request; its records went to the dead-letter file{s}.");
    }
    for item in &p.items {
        let rejected = Rejected {
            index: ctx.index(item.kind),
            status,
            kind: "request_rejected",
            reason,
            record: &p.body[item.start..item.end],
        };
        let _ = dead_letter.write(&rejected);
        shared.metrics.dead_lettered.inc();
        shared.metrics.records.failed.inc();
    }
    let _ = dead_letter.flush();
    p.items.clear();
    p.body.clear();
}
