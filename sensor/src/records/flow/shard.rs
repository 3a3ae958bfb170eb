//! Storage for the flow table: a dense slab of entries and a small hash index into it.
//!
//! A plain `HashMap<Key, Entry>` keeps every bucket the size of a key and an entry, and
//! runs between 7/16 and 7/8 full, so a flow costs up to twice its size. Here the hash
//! index holds only 4-byte slot numbers (so its own slack is cheap) and the entries sit in
//! a slab that grows by an eighth at a time and reuses freed slots, so a flow costs little
//! more than its entry. IPv4 flows are kept apart from IPv6 ones, with 4-byte addresses
//! instead of IPv4-mapped 16-byte ones.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::key::{Endpoint, FlowKey, TunnelKey};

/// A flow key as stored in a shard.
pub(super) trait StoredKey: Copy + Eq + Hash {
    /// The stored form of `key` (whose family matches the shard).
    fn pack(key: &FlowKey) -> Self;
    /// The full key back.
    fn unpack(&self) -> FlowKey;
}

/// An IPv4 flow key: the same endpoints and order as its [`FlowKey`], in 24 bytes
/// instead of 48.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct V4Key {
    addrs: [[u8; 4]; 2],
    ports: [u16; 2],
    vlans: [u16; 2],
    tunnel: TunnelKey,
    protocol: u8,
}

impl StoredKey for V4Key {
    fn pack(key: &FlowKey) -> Self {
        let v4 = |e: &Endpoint| [e.addr[12], e.addr[13], e.addr[14], e.addr[15]];
        V4Key {
            addrs: [v4(&key.low), v4(&key.high)],
            ports: [key.low.port, key.high.port],
            vlans: key.vlans,
            tunnel: key.tunnel,
            protocol: key.protocol,
        }
    }

    fn unpack(&self) -> FlowKey {
        let endpoint = |addr: [u8; 4], port| Endpoint {
            addr: std::net::Ipv4Addr::from(addr).to_ipv6_mapped().octets(),
            port,
        };
        FlowKey {
            low: endpoint(self.addrs[0], self.ports[0]),
            high: endpoint(self.addrs[1], self.ports[1]),
            protocol: self.protocol,
            v6: false,
            vlans: self.vlans,
            tunnel: self.tunnel,
        }
    }
}

impl StoredKey for FlowKey {
    fn pack(key: &FlowKey) -> Self {
        *key
    }

    fn unpack(&self) -> FlowKey {
        *self
    }
}

/// One slab slot: a held flow, or a free slot waiting for reuse (which one is kept in the
/// shard's `live` bitmap, not here: a flag byte would pad every slot by up to 8 bytes).
#[derive(Debug)]
struct Slot<K, E> {
    entry: E,
    key: K,
}

/// Flows of one address family.
#[derive(Debug)]
pub(super) struct Shard<K, E> {
    /// Slot numbers, found by the key's hash.
    index: HashTable<u32>,
    slots: Vec<Slot<K, E>>,
    /// One bit per slot: set while the slot holds a flow.
    live: Vec<u64>,
    /// Free slot numbers, reused before the slab grows.
    free: Vec<u32>,
    /// foldhash: several times faster than SipHash on these short keys, randomly seeded per
    /// process, so crafted traffic cannot aim at one bucket.
    hasher: foldhash::fast::RandomState,
}

impl<K: StoredKey, E> Shard<K, E> {
    /// An empty shard.
    pub(super) fn new() -> Self {
        Shard {
            index: HashTable::new(),
            slots: Vec::new(),
            live: Vec::new(),
            free: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Flows held.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Bytes of one slab slot.
    pub(super) const fn slot_bytes() -> usize {
        std::mem::size_of::<Slot<K, E>>()
    }

    /// Heap bytes held: the slab, the index (a power of two of buckets of a 4-byte slot
    /// number and a control byte, plus one group of trailing control bytes) and the free
    /// list.
    pub(super) fn memory_bytes(&self) -> usize {
        let index_buckets = match self.index.capacity() {
            0 => 0,
            capacity if capacity < 8 => (capacity + 1).next_power_of_two(),
            capacity => (capacity * 8 / 7).next_power_of_two(),
        };
        let index = if index_buckets == 0 {
            0
        } else {
            index_buckets * (std::mem::size_of::<u32>() + 1) + 16
        };
        self.slots.capacity() * Self::slot_bytes()
            + index
            + self.free.capacity() * 4
            + self.live.capacity() * 8
    }

    fn is_live(&self, i: usize) -> bool {
        self.live
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    fn set_live(&mut self, i: usize, live: bool) {
        if self.live.len() <= i / 64 {
            self.live.resize(i / 64 + 1, 0);
        }
        let bit = 1u64 << (i % 64);
        if live {
            self.live[i / 64] |= bit;
        } else {
            self.live[i / 64] &= !bit;
        }
    }

    fn find(&self, key: &K) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i as usize].key == *key)
            .copied()
    }

    /// The entry of `key`, if held.
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut E> {
        let i = self.find(key)?;
        Some(&mut self.slots[i as usize].entry)
    }

    /// Holds a new flow; `key` must not be held yet.
    pub(super) fn insert(&mut self, key: K, entry: E) -> &mut E {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Slot { entry, key };
                i
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by an eighth (at least 256 slots): the slack stays small and
                    // the copies stay amortised O(1).
                    self.slots.reserve_exact((self.slots.len() / 8).max(256));
                }
                self.slots.push(Slot { entry, key });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.set_live(i as usize, true);
        let hash = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(slots[j as usize].key));
        &mut self.slots[i as usize].entry
    }

    /// Frees slot `i` (live) and drops it from the index.
    fn release(&mut self, i: u32) {
        let key = self.slots[i as usize].key;
        let hash = self.hasher.hash_one(key);
        if let Ok(found) = self.index.find_entry(hash, |&j| j == i) {
            found.remove();
        }
        self.set_live(i as usize, false);
        self.free.push(i);
    }

    /// Removes `key`'s flow and returns its entry.
    pub(super) fn remove(&mut self, key: &K) -> Option<E>
    where
        E: Copy,
    {
        let i = self.find(key)?;
        let entry = self.slots[i as usize].entry;
        self.release(i);
        Some(entry)
    }

    /// Keeps the flows for which `keep` is true, in slab order.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut E) -> bool) {
        for i in 0..self.slots.len() {
            if !self.is_live(i) {
                continue;
            }
            let slot = &mut self.slots[i];
            if !keep(&slot.key, &mut slot.entry) {
                self.release(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }

    /// Every held flow's entry.
    pub(super) fn entries(&self) -> impl Iterator<Item = &E> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, _)| self.is_live(*i))
            .map(|(_, s)| &s.entry)
    }

    /// Hands every held flow to `take` and empties the shard, keeping its memory.
    pub(super) fn drain(&mut self, mut take: impl FnMut(&K, &mut E)) {
        let live = &self.live;
        let is_live = |i: usize| live.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if is_live(i) {
                take(&slot.key, &mut slot.entry);
            }
        }
        self.slots.clear();
        self.live.clear();
        self.free.clear();
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32, v6: bool) -> FlowKey {
        let ip = |n: u32| -> std::net::IpAddr {
            if v6 {
                std::net::Ipv6Addr::from(u128::from(n) << 64 | 1).into()
            } else {
                std::net::Ipv4Addr::from(n).into()
            }
        };
        FlowKey::new(
            Endpoint::new(ip(0x0a00_0000 + i), 40_000),
            Endpoint::new(ip(0xc000_0201), 443),
            6,
            v6,
            [7, 0],
        )
        .0
    }

    #[test]
    fn v4_keys_pack_and_unpack_losslessly() {
        for i in [0, 1, 0xffff] {
            let k = key(i, false);
            assert_eq!(V4Key::pack(&k).unpack(), k);
            let tunnelled = k.in_tunnel(TunnelKey::new(
                crate::decode::TunnelKind::Vxlan,
                Some(0xff_ff00 + i),
                2,
            ));
            assert_eq!(V4Key::pack(&tunnelled).unpack(), tunnelled);
        }
        assert_eq!(std::mem::size_of::<V4Key>(), 24);
    }

    #[test]
    fn slots_are_reused_and_lookups_follow_moves() {
        let mut shard: Shard<V4Key, u64> = Shard::new();
        for i in 0..1000 {
            shard.insert(V4Key::pack(&key(i, false)), u64::from(i));
        }
        assert_eq!(shard.len(), 1000);
        shard.retain(|_, v| *v % 2 == 0);
        assert_eq!(shard.len(), 500);
        assert_eq!(shard.remove(&V4Key::pack(&key(2, false))), Some(2));
        assert_eq!(shard.remove(&V4Key::pack(&key(3, false))), None);
        let slab = shard.slots.capacity();
        for i in 1000..1300 {
            shard.insert(V4Key::pack(&key(i, false)), u64::from(i));
        }
        assert_eq!(shard.slots.capacity(), slab, "freed slots are reused");
        for i in (0..1300).filter(|i| *i >= 1000 || (*i % 2 == 0 && *i != 2)) {
            assert_eq!(
                shard.get_mut(&V4Key::pack(&key(i, false))).copied(),
                Some(u64::from(i))
            );
        }
        let mut seen = 0;
        shard.drain(|_, _| seen += 1);
        assert_eq!(seen, 799);
        assert_eq!(shard.len(), 0);
        assert!(shard.get_mut(&V4Key::pack(&key(4, false))).is_none());
    }

    #[test]
    fn v6_shard_holds_full_keys() {
        let mut shard: Shard<FlowKey, u8> = Shard::new();
        shard.insert(key(1, true), 1);
        assert_eq!(shard.get_mut(&key(1, true)).copied(), Some(1));
        assert!(shard.get_mut(&key(2, true)).is_none());
    }
}
