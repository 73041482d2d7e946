//! Which session a received control packet belongs to (RFC 5880 §6.3), and discriminator
//! allocation (§6.8.1: nonzero, unique per system).
//!
//! A packet with a nonzero Your Discriminator is matched by it alone; with zero (the peer
//! has not learnt ours yet, only legal in Down/AdminDown) it is matched by the key of where
//! it came from — the caller's session key, e.g. the peer's address and single/multi hop.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::packet::ControlPacket;

/// Session keys by local discriminator, and back.
#[derive(Debug, Clone)]
pub struct Demux<K> {
    by_discr: BTreeMap<u32, K>,
    by_key: BTreeMap<K, u32>,
    next: u32,
}

impl<K: Ord + Clone> Demux<K> {
    /// An empty table; `seed` picks where discriminator allocation starts (a restarted
    /// speaker should not reuse the previous run's values, so the caller passes a random
    /// one).
    pub fn new(seed: u32) -> Self {
        Demux {
            by_discr: BTreeMap::new(),
            by_key: BTreeMap::new(),
            next: seed.max(1),
        }
    }

    /// The discriminator of `key`, allocating a fresh nonzero one if it has none.
    pub fn insert(&mut self, key: K) -> u32 {
        if let Some(d) = self.by_key.get(&key) {
            return *d;
        }
        while self.next == 0 || self.by_discr.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let d = self.next;
        self.next = self.next.wrapping_add(1);
        self.by_discr.insert(d, key.clone());
        self.by_key.insert(key, d);
        d
    }

    /// Forgets `key`; returns its discriminator.
    pub fn remove(&mut self, key: &K) -> Option<u32> {
        let d = self.by_key.remove(key)?;
        self.by_discr.remove(&d);
        Some(d)
    }

    /// The discriminator of `key`.
    pub fn discriminator(&self, key: &K) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The session a packet from `source` belongs to (`None`: discard, §6.8.6).
    pub fn lookup<'a>(&'a self, pkt: &ControlPacket, source: &'a K) -> Option<&'a K> {
        if pkt.your_discr != 0 {
            self.by_discr.get(&pkt.your_discr)
        } else {
            self.by_key.get_key_value(source).map(|(k, _)| k)
        }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}
