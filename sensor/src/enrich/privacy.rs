//! Keyed pseudonymisation of IP addresses for sites that must not store real addresses.
//!
//! Each address is replaced by the leading bytes of HMAC-SHA256(key, address) in the same
//! family, so the same address always maps to the same pseudonym (flows, top talkers and
//! Kibana filters keep working) but nobody without the key can map it back. Geo and AS
//! lookups use the real address before it is replaced; Community IDs are computed over the
//! pseudonyms so they cannot be matched against other tools' real-address ids.
//! DNS resolved addresses get the same pseudonyms (so they still match later connections),
//! while MAC addresses and DNS answer texts are dropped from records.
//! IPv4 pseudonyms have 32 bits: two addresses can collide (birthday bound ~65 k hosts).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Maps addresses to keyed pseudonyms.
#[derive(Clone)]
pub struct Pseudonymizer {
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { key: **REDACTED** }")
    }
}

impl Pseudonymizer {
    /// Builds a pseudonymizer from a secret key (any length; 32 random bytes recommended).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Pseudonymizer { keyed }
    }

    /// The pseudonym of `ip`, in the same address family.
    pub fn pseudonym(&self, ip: IpAddr) -> IpAddr {
        let mut mac = self.keyed.clone();
        match ip {
            IpAddr::V4(v4) => {
                mac.update(&v4.octets());
                let digest = mac.finalize().into_bytes();
                IpAddr::V4(Ipv4Addr::new(digest[0], digest[1], digest[2], digest[3]))
            }
            IpAddr::V6(v6) => {
                mac.update(&v6.octets());
                let digest = mac.finalize().into_bytes();
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&digest[..16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_keep_the_family() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let one = Pseudonymizer::new(b"key one");
        let two = Pseudonymizer::new(b"key two");
        assert_eq!(one.pseudonym(a), one.pseudonym(a));
        assert_ne!(one.pseudonym(a), a);
        assert_ne!(one.pseudonym(a), two.pseudonym(a));
        assert!(one.pseudonym(a).is_ipv4());
        assert!(one.pseudonym(b).is_ipv6());
        assert_ne!(one.pseudonym(b), b);
    }
}
