//! Enrichment: facts that are not in the frame itself.
//!
//! The [`Enricher`] is built once at start-up (databases opened, keys read) and is
//! read-only afterwards, so every capture worker shares it behind an `Arc` without locks.

pub mod community_id;
pub mod geoip;
mod iso3166;
pub mod os_guess;
pub mod privacy;
pub mod service;

pub use geoip::{GeoIp, GeoPaths};
pub use privacy::Pseudonymizer;

/// Read-only lookups shared by all workers.
#[derive(Debug)]
pub struct Enricher {
    /// GeoIP and ASN databases (empty when none are configured).
    pub geoip: GeoIp,
    /// Community ID seed (0 unless configured).
    pub community_id_seed: u16,
    /// Whether to guess the OS of SYN and SYN-ACK senders.
    pub os_guess: bool,
    /// Whether to decode DNS, TLS and HTTP summaries.
    pub app_layer: bool,
    /// Whether to scrub credentials and secret query values from URLs.
    pub scrub_urls: bool,
    /// Keyed pseudonymisation of addresses, when configured.
    pub pseudonymizer: Option<Pseudonymizer>,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher {
            geoip: GeoIp::empty(),
            community_id_seed: 0,
            os_guess: true,
            app_layer: true,
            scrub_urls: true,
            pseudonymizer: None,
        }
    }
}
