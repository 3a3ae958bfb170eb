//! Test support for the integration tests (in progress).
