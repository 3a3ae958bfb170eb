//! Interface selection: which interfaces a capture covers, by name patterns.
//!
//! A capture names interfaces with include and exclude globs (`eth*`, `!docker*`; matched
//! by [`InterfaceSelection::matches`]). A [`Selector`], polled every rescan period,
//! reports the selected interfaces that appeared and disappeared, so captures are opened
//! for new ones and closed for gone ones.
//!
//! Interfaces are listed with if_nameindex(3), which asks the kernel over netlink, so the
//! list is the calling thread's network namespace (sysfs shows the namespace it was
//! mounted in).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::time::{Duration, Instant};

use crate::config::{CaptureConfig, InterfaceSelection};

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

/// The names of the interfaces `selection` selects now, sorted. Only network interfaces
/// are listed (not libpcap's pseudo-devices such as `any` or `nflog`).
pub fn select(selection: &InterfaceSelection) -> io::Result<Vec<String>> {
    Ok(list_interfaces()?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| selection.matches(name))
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
    selection: InterfaceSelection,
    rescan: Duration,
    current: BTreeMap<String, u32>,
    last_scan: Option<Instant>,
}

impl Selector {
    /// A selector with nothing selected yet: the first [`poll`](Selector::poll) reports
    /// every selected interface as added.
    pub fn new(selection: InterfaceSelection, rescan: Duration) -> Selector {
        Selector {
            selection,
            rescan,
            current: BTreeMap::new(),
            last_scan: None,
        }
    }

    /// The selector of a configured capture (its selection and rescan period).
    pub fn for_capture(capture: &CaptureConfig) -> Selector {
        Selector::new(capture.selection.clone(), capture.rescan)
    }

    /// The interfaces selected at the last poll, sorted.
    pub fn current(&self) -> Vec<String> {
        self.current.keys().cloned().collect()
    }

    /// Forgets `name`, so the next poll reports it as added again if it is still there
    /// (after a capture on it failed to open, for another try).
    pub fn forget(&mut self, name: &str) {
        self.current.remove(name);
    }

    /// Lists the interfaces now and reports what changed since the previous poll.
    pub fn poll(&mut self) -> io::Result<Changes> {
        let now: BTreeMap<String, u32> = list_interfaces()?
            .into_iter()
            .filter(|(name, _)| self.selection.matches(name))
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

    fn selection(include: &[&str], exclude: &[&str]) -> InterfaceSelection {
        InterfaceSelection {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn select_lists_only_matching_interfaces() {
        assert_eq!(select(&selection(&["l?"], &[])).unwrap(), ["lo"]);
        assert!(select(&selection(&["*"], &["*"])).unwrap().is_empty());
        // Network interfaces only: libpcap's pseudo-device `any` is not one.
        assert!(!select(&selection(&["*"], &[]))
            .unwrap()
            .contains(&"any".to_string()));
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
        let mut selector = Selector::new(selection(&["lo"], &[]), Duration::from_secs(3600));
        let now = Instant::now();
        assert_eq!(selector.until_due(now), Duration::ZERO);
        let first = selector.poll_if_due(now).unwrap().unwrap();
        assert_eq!(first.added, ["lo"]);
        assert!(first.removed.is_empty());
        assert!(selector.poll_if_due(Instant::now()).is_none());
        assert!(selector.poll().unwrap().is_empty());
        assert_eq!(selector.current(), ["lo"]);
    }

    #[test]
    fn a_forgotten_interface_is_added_again() {
        let mut selector = Selector::new(selection(&["lo"], &[]), Duration::from_secs(3600));
        assert_eq!(selector.poll().unwrap().added, ["lo"]);
        selector.forget("lo");
        let again = selector.poll().unwrap();
        assert_eq!(
            (again.added, again.removed),
            (vec!["lo".to_owned()], vec![])
        );
    }
}
