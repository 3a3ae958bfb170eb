//! Interface selection by name globs (work in progress; see issue 10).
