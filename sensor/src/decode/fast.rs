//! Fast header path for flow-only processing (work in progress; see issue 8).
