//! Interface selection: which interfaces a capture covers, by name patterns.
//!
//! A capture names interfaces with include patterns and exclude patterns (`eth*`, `!docker*`
//! in the configuration). Patterns are shell globs: `*` any run of characters, `?` one
//! character, `[abc]`, `[a-z]` and `[!a-z]` one character of (or not of) a set; anything
//! else matches itself. An interface is selected when an include matches it and no exclude
//! does. A [`Selector`], polled every rescan period, reports the interfaces that appeared
//! and disappeared, so captures are opened for new ones and closed for gone ones.
//!
//! Interfaces are listed with if_nameindex(3), which asks the kernel over netlink, so the
//! list is the calling thread's network namespace (sysfs shows the namespace it was
//! mounted in).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::time::{Duration, Instant};

/// Whether `name` matches the glob `pattern`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point (the last `*`): linear in practice and
    // never recursive, whatever the pattern.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => {
                p += 1;
                n += 1;
                continue;
            }
            Some('[') => {
                if let Some((matched, next)) = class_match(&pattern, p, name[n]) {
                    if matched {
                        p = next;
                        n += 1;
                        continue;
                    }
                } else if name[n] == '[' {
                    // An unclosed `[` is a literal.
                    p += 1;
                    n += 1;
                    continue;
                }
            }
            Some(&literal) if literal == name[n] => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((star_p, star_n)) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`; returns whether it
/// matched and where the pattern continues, or `None` when the class is not closed.
fn class_match(pattern: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let current = *pattern.get(i)?;
        if current == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&e| e != ']') {
            let end = pattern[i + 2];
            matched |= current <= c && c <= end;
            i += 3;
        } else {
            matched |= current == c;
            i += 1;
        }
    }
}

/// Include and exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns {
    /// An interface must match one of these.
    pub include: Vec<String>,
    /// And none of these.
    pub exclude: Vec<String>,
}

impl Patterns {
    /// Patterns from one list where a leading `!` marks an exclude (`["eth*", "!eth9"]`).
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Patterns {
        let mut patterns = Patterns::default();
        for item in list {
            match item.as_ref().strip_prefix('!') {
                Some(exclude) => patterns.exclude.push(exclude.to_string()),
                None => patterns.include.push(item.as_ref().to_string()),
            }
        }
        patterns
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        matches(&self.include, &self.exclude, name)
    }
}

/// Whether `name` matches an include pattern and no exclude pattern.
pub fn matches(include: &[String], exclude: &[String], name: &str) -> bool {
    include.iter().any(|p| glob_match(p, name)) && !exclude.iter().any(|p| glob_match(p, name))
}

/// The interfaces of this thread's network namespace with their indexes, sorted by name.
pub fn list_interfaces() -> io::Result<Vec<(String, u32)>> {
    // SAFETY: if_nameindex takes no arguments; it returns NULL or an array that ends with
    // a zero entry, freed below with if_freenameindex.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(io::Error::last_os_error());
    }
    let mut interfaces = Vec::new();
    let mut entry = list;
    loop {
        // SAFETY: `entry` points into the array, at most at its terminating zero entry.
        let current = unsafe { &*entry };
        if current.if_index == 0 || current.if_name.is_null() {
            break;
        }
        // SAFETY: a non-terminating entry holds a NUL-terminated name owned by the array.
        let name = unsafe { CStr::from_ptr(current.if_name) };
        interfaces.push((name.to_string_lossy().into_owned(), current.if_index));
        // SAFETY: this entry was not the terminating one, so the next one exists.
        entry = unsafe { entry.add(1) };
    }
    // SAFETY: `list` came from if_nameindex and is freed once; nothing borrows it now.
    unsafe { libc::if_freenameindex(list) };
    interfaces.sort();
    Ok(interfaces)
}

/// The names of the selected interfaces, sorted.
pub fn select(include: &[String], exclude: &[String]) -> io::Result<Vec<String>> {
    Ok(list_interfaces()?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| matches(include, exclude, name))
        .collect())
}

/// What changed since the previous poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Selected interfaces that appeared (or were re-created under the same name).
    pub added: Vec<String>,
    /// Selected interfaces that disappeared (or were re-created under the same name).
    pub removed: Vec<String>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Tracks the selected interfaces between polls. An interface deleted and created again
/// between two polls has a new index: it is reported removed and added, since a capture
/// opened on the old one sees nothing of the new one.
#[derive(Debug)]
pub struct Selector {
    patterns: Patterns,
    rescan: Duration,
    current: BTreeMap<String, u32>,
    last_scan: Option<Instant>,
}

impl Selector {
    /// A selector with nothing selected yet: the first [`poll`](Selector::poll) reports
    /// every selected interface as added.
    pub fn new(include: &[String], exclude: &[String], rescan: Duration) -> Selector {
        Selector {
            patterns: Patterns {
                include: include.to_vec(),
                exclude: exclude.to_vec(),
            },
            rescan,
            current: BTreeMap::new(),
            last_scan: None,
        }
    }

    /// The interfaces selected at the last poll, sorted.
    pub fn current(&self) -> Vec<String> {
        self.current.keys().cloned().collect()
    }

    /// Lists the interfaces now and reports what changed since the previous poll.
    pub fn poll(&mut self) -> io::Result<Changes> {
        let now: BTreeMap<String, u32> = list_interfaces()?
            .into_iter()
            .filter(|(name, _)| self.patterns.matches(name))
            .collect();
        self.last_scan = Some(Instant::now());
        let mut changes = Changes::default();
        for (name, index) in &self.current {
            if now.get(name) != Some(index) {
                changes.removed.push(name.clone());
            }
        }
        for (name, index) in &now {
            if self.current.get(name) != Some(index) {
                changes.added.push(name.clone());
            }
        }
        self.current = now;
        Ok(changes)
    }

    /// Polls when the rescan period has passed since the last poll (or none was made);
    /// `None` otherwise.
    pub fn poll_if_due(&mut self, now: Instant) -> Option<io::Result<Changes>> {
        match self.last_scan {
            Some(last) if now.saturating_duration_since(last) < self.rescan => None,
            _ => Some(self.poll()),
        }
    }

    /// How long until the next poll is due.
    pub fn until_due(&self, now: Instant) -> Duration {
        match self.last_scan {
            Some(last) => self
                .rescan
                .saturating_sub(now.saturating_duration_since(last)),
            None => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, name, expected) in [
            ("eth*", "eth0", true),
            ("eth*", "eth", true),
            ("eth*", "veth0", false),
            ("*eth*", "veth0", true),
            ("eth?", "eth0", true),
            ("eth?", "eth10", false),
            ("eth[0-3]", "eth2", true),
            ("eth[0-3]", "eth4", false),
            ("eth[!0-3]", "eth4", true),
            ("eth[!0-3]", "eth2", false),
            ("eth[^0]", "eth1", true),
            ("br-[ab]x", "br-bx", true),
            ("[]]", "]", true),
            ("a[-z]", "a-", true),
            ("eth[0", "eth[0", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("lo", "lo", true),
            ("lo", "lo0", false),
            ("*.100", "eth0.100", true),
            ("e*h*0", "eth-bridge0", true),
            ("e*h*0", "eth-bridge1", false),
            ("***", "abc", true),
            ("a*b*c*d", "aXbXcXe", false),
        ] {
            assert_eq!(
                glob_match(pattern, name),
                expected,
                "{pattern:?} vs {name:?}"
            );
        }
    }

    #[test]
    fn includes_and_excludes() {
        let patterns = Patterns::from_list(&["eth*", "en*", "!eth9", "!*.10?"]);
        assert_eq!(patterns.include, ["eth*", "en*"]);
        assert_eq!(patterns.exclude, ["eth9", "*.10?"]);
        assert!(patterns.matches("eth0"));
        assert!(patterns.matches("enp3s0"));
        assert!(!patterns.matches("eth9"));
        assert!(!patterns.matches("eth0.100"));
        assert!(patterns.matches("eth0.20"));
        assert!(!patterns.matches("docker0"));
        // Excludes alone select nothing.
        assert!(!Patterns::from_list(&["!docker*"]).matches("eth0"));
    }

    #[test]
    fn loopback_is_listed_with_its_index() {
        let interfaces = list_interfaces().unwrap();
        assert!(
            interfaces
                .iter()
                .any(|(name, index)| name == "lo" && *index > 0),
            "{interfaces:?}"
        );
    }

    #[test]
    fn first_poll_adds_and_second_reports_nothing() {
        let mut selector = Selector::new(&["lo".into()], &[], Duration::from_secs(3600));
        let now = Instant::now();
        assert_eq!(selector.until_due(now), Duration::ZERO);
        let first = selector.poll_if_due(now).unwrap().unwrap();
        assert_eq!(first.added, ["lo"]);
        assert!(first.removed.is_empty());
        assert!(selector.poll_if_due(Instant::now()).is_none());
        assert!(selector.poll().unwrap().is_empty());
        assert_eq!(selector.current(), ["lo"]);
    }
}
