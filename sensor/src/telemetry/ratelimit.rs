//! Rate limiting for repetitive log messages.
//!
//! A malformed packet or a failing output can repeat thousands of times a second; the log
//! should say so once per interval and count the rest:
//!
//! ```
//! # use netsensor::telemetry::ratelimit::RateLimiter;
//! # use std::time::Duration;
//! let limiter = RateLimiter::new(Duration::from_secs(10));
//! if let Some(suppressed) = limiter.allow("capture.malformed_record") {
//!     tracing::warn!(suppressed = suppressed.count(), "Skipped a malformed record{suppressed}.");
//! }
//! ```
//!
//! The check is a few atomic operations (a shared read lock to find the key); a caller that
//! wants no lock at all keeps its own [`RateGate`]. Keys are `&'static str`, so they come
//! from a bounded set, never from input.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Most distinct keys one limiter tracks; further keys share one gate.
const MAX_KEYS: usize = 1024;

/// A source of monotonic time in nanoseconds, injectable for tests.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    fn now_ns(&self) -> u64;
}

/// The real clock: [`Instant`] since the limiter was created.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to (for tests). Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now_ns: Arc<AtomicU64>,
}

impl ManualClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.now_ns.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now_ns.load(Ordering::SeqCst)
    }
}

/// How many occurrences were held back since the last message that got through.
///
/// Displays as nothing when zero, else as ` (N similar messages suppressed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed(pub u64);

impl Suppressed {
    /// The number of suppressed occurrences.
    pub const fn count(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(" (1 similar message suppressed)"),
            n => write!(f, " ({n} similar messages suppressed)"),
        }
    }
}

/// One rate-limited message: lock-free, lets one occurrence through per interval.
#[derive(Debug, Default)]
pub struct RateGate {
    /// Time from which the next occurrence may pass.
    next_ns: AtomicU64,
    /// Occurrences held back since the last one that passed.
    suppressed: AtomicU64,
}

impl RateGate {
    /// A gate that lets the first occurrence through.
    pub const fn new() -> Self {
        RateGate {
            next_ns: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some` (with the count held back since the last pass) if an occurrence at `now_ns`
    /// may be logged, `None` (and counted) if it falls inside the current interval.
    pub fn allow(&self, now_ns: u64, interval_ns: u64) -> Option<Suppressed> {
        let next = self.next_ns.load(Ordering::Acquire);
        if now_ns >= next
            && self
                .next_ns
                .compare_exchange(
                    next,
                    now_ns.saturating_add(interval_ns),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            return Some(Suppressed(self.suppressed.swap(0, Ordering::AcqRel)));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

/// At most one message per key per interval, counting the rest.
#[derive(Debug)]
pub struct RateLimiter<C: Clock = MonotonicClock> {
    interval_ns: u64,
    clock: C,
    gates: RwLock<HashMap<&'static str, RateGate>>,
    overflow: RateGate,
}

impl RateLimiter<MonotonicClock> {
    /// A limiter letting one message per key through every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self::with_clock(interval, MonotonicClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter on a given clock.
    pub fn with_clock(interval: Duration, clock: C) -> Self {
        RateLimiter {
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            clock,
            gates: RwLock::new(HashMap::new()),
            overflow: RateGate::new(),
        }
    }

    /// `Some` if a message for `key` may be logged now (carrying how many were suppressed
    /// since the last one), `None` if it should be skipped.
    pub fn allow(&self, key: &'static str) -> Option<Suppressed> {
        let now = self.clock.now_ns();
        {
            let gates = self.gates.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(gate) = gates.get(key) {
                return gate.allow(now, self.interval_ns);
            }
        }
        let mut gates = self.gates.write().unwrap_or_else(PoisonError::into_inner);
        if gates.len() >= MAX_KEYS && !gates.contains_key(key) {
            return self.overflow.allow(now, self.interval_ns);
        }
        gates.entry(key).or_default().allow(now, self.interval_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_with_suppressed_count() {
        let clock = ManualClock::default();
        let limiter = RateLimiter::with_clock(Duration::from_secs(10), clock.clone());
        assert_eq!(limiter.allow("a"), Some(Suppressed(0)));
        for _ in 0..5 {
            clock.advance(Duration::from_secs(1));
            assert_eq!(limiter.allow("a"), None);
        }
        // t = 5 s: still inside the interval.
        clock.advance(Duration::from_millis(4999));
        assert_eq!(limiter.allow("a"), None);
        // t = 10 s: the interval is over; six were held back.
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.allow("a"), Some(Suppressed(6)));
        // The count restarts after a pass.
        assert_eq!(limiter.allow("a"), None);
        clock.advance(Duration::from_secs(60));
        assert_eq!(limiter.allow("a"), Some(Suppressed(1)));
        clock.advance(Duration::from_secs(10));
        assert_eq!(limiter.allow("a"), Some(Suppressed(0)));
    }

    #[test]
    fn keys_are_independent() {
        let clock = ManualClock::default();
        let limiter = RateLimiter::with_clock(Duration::from_secs(1), clock.clone());
        assert!(limiter.allow("decode.ipv4").is_some());
        assert!(limiter.allow("decode.tcp").is_some());
        assert!(limiter.allow("decode.ipv4").is_none());
        assert!(limiter.allow("decode.tcp").is_none());
        assert!(limiter.allow("decode.tcp").is_none());
        clock.advance(Duration::from_secs(1));
        assert_eq!(limiter.allow("decode.ipv4"), Some(Suppressed(1)));
        assert_eq!(limiter.allow("decode.tcp"), Some(Suppressed(2)));
    }

    #[test]
    fn display_reports_the_count() {
        assert_eq!(Suppressed(0).to_string(), "");
        assert_eq!(Suppressed(1).to_string(), " (1 similar message suppressed)");
        assert_eq!(
            Suppressed(42).to_string(),
            " (42 similar messages suppressed)"
        );
    }

    #[test]
    fn concurrent_callers_lose_no_count() {
        let clock = ManualClock::default();
        let limiter = Arc::new(RateLimiter::with_clock(
            Duration::from_secs(1),
            clock.clone(),
        ));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || {
                    let (mut passed, mut reported) = (0u64, 0u64);
                    for _ in 0..10_000 {
                        if let Some(s) = limiter.allow("k") {
                            passed += 1;
                            reported += s.count();
                        }
                    }
                    (passed, reported)
                })
            })
            .collect();
        let (mut passed, mut reported) = (0, 0);
        for t in threads {
            let (p, r) = t.join().unwrap();
            passed += p;
            reported += r;
        }
        // The clock never moved: exactly one call passed.
        assert_eq!(passed, 1);
        clock.advance(Duration::from_secs(1));
        let last = limiter.allow("k").unwrap();
        assert_eq!(reported + last.count(), 40_000 - 1);
    }

    #[test]
    fn key_overflow_shares_one_gate() {
        let limiter = RateLimiter::with_clock(Duration::from_secs(1), ManualClock::default());
        let keys: Vec<&'static str> = (0..MAX_KEYS + 2)
            .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
            .collect();
        for key in &keys[..MAX_KEYS] {
            assert!(limiter.allow(key).is_some());
        }
        assert!(limiter.allow(keys[MAX_KEYS]).is_some());
        assert!(limiter.allow(keys[MAX_KEYS + 1]).is_none());
    }

    #[test]
    fn real_clock_moves_forward() {
        let clock = MonotonicClock::default();
        let a = clock.now_ns();
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock.now_ns() >= a + 1_000_000);
    }
}
