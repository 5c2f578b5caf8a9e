//! The hash index of a [`NameTable`](super::name::NameTable): which slot holds a
//! name, found by the name's 64-bit hash. Open addressing with linear probing over one
//! array of words, each `tag << 32 | slot + 1`, where the tag (the hash's top 32 bits)
//! both filters candidates before a name is compared and says where the word belongs.
//!
//! Two things hashbrown's table does not offer: the place a lookup reads first is
//! known from the hash alone, so a caller that knows its next hashes (a big list's
//! names, hashed on another thread) can prefetch it; and growing moves words by their
//! tags, hashing no name again.

use crate::memory::prefetch;

/// At most this share of places is used (3/4): linear probing stays short.
const LOAD_NUMERATOR: usize = 3;
const LOAD_DENOMINATOR: usize = 4;

#[derive(Default)]
pub(crate) struct SlotIndex {
    /// `tag << 32 | (slot + 1)`; 0 is a free place. The length is a power of two.
    words: Vec<u64>,
    /// A word belongs at the top `bits` bits of its tag.
    bits: u32,
    len: usize,
}

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl SlotIndex {
    fn home(&self, tag: u32) -> usize {
        if self.bits == 0 {
            0
        } else {
            (tag >> (32 - self.bits)) as usize
        }
    }

    /// The slot whose word has `hash`'s tag and for which `is_it` says yes.
    pub(crate) fn find(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.words.is_empty() {
            return None;
        }
        let tag = tag_of(hash);
        let mask = self.words.len() - 1;
        let mut at = self.home(tag);
        loop {
            let word = self.words[at];
            if word == 0 {
                return None;
            }
            let slot = (word as u32).wrapping_sub(1);
            if (word >> 32) as u32 == tag && is_it(slot) {
                return Some(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// The first slot with `hash`'s tag, unverified: what a lookup of that hash will
    /// most likely read next, to warm it.
    pub(crate) fn likely(&self, hash: u64) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// Warms the place a lookup of `hash` reads first.
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(word) = self.words.get(self.home(tag_of(hash))) {
            prefetch(word);
        }
    }

    /// Adds `slot` under `hash`; the caller knows no word of that name is there.
    pub(crate) fn insert_unique(&mut self, hash: u64, slot: u32) {
        self.reserve(1);
        self.place(((tag_of(hash) as u64) << 32) | u64::from(slot + 1));
        self.len += 1;
    }

    /// Makes room for `more` words without growing.
    pub(crate) fn reserve(&mut self, more: usize) {
        let wanted = self.len + more;
        if wanted * LOAD_DENOMINATOR <= self.words.len() * LOAD_NUMERATOR {
            return;
        }
        let places = (wanted * LOAD_DENOMINATOR / LOAD_NUMERATOR + 1)
            .next_power_of_two()
            .max(16);
        let old = std::mem::replace(&mut self.words, vec![0; places]);
        self.bits = places.trailing_zeros();
        for word in old.into_iter().filter(|&w| w != 0) {
            self.place(word);
        }
    }

    fn place(&mut self, word: u64) {
        let mask = self.words.len() - 1;
        let mut at = self.home((word >> 32) as u32);
        while self.words[at] != 0 {
            at = (at + 1) & mask;
        }
        self.words[at] = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes that share tags, homes and runs that wrap around the end of the array:
    /// every slot is found under its hash (and only where `is_it` agrees), through
    /// every growth.
    #[test]
    fn every_slot_is_found_under_its_hash_through_growth() {
        let hash = |i: u64| -> u64 {
            match i % 4 {
                // The same tag for many: only `is_it` tells them apart.
                0 => (0xffff_ffff << 32) | i,
                // Homes at the very end: their runs wrap around.
                1 => (0xfff0_0000_u64 + i) << 32,
                _ => i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            }
        };
        let mut index = SlotIndex::default();
        assert_eq!(index.find(hash(0), |_| true), None);
        let count = 5_000u32;
        for slot in 0..count {
            index.insert_unique(hash(u64::from(slot)), slot);
            if slot % 997 == 0 {
                for earlier in 0..=slot {
                    let found = index.find(hash(u64::from(earlier)), |s| s == earlier);
                    assert_eq!(found, Some(earlier));
                }
            }
        }
        for slot in 0..count {
            assert_eq!(index.find(hash(u64::from(slot)), |s| s == slot), Some(slot));
        }
        assert_eq!(index.find(hash(u64::from(count)), |s| s == count), None);
        assert!(index.len * LOAD_DENOMINATOR <= index.words.len() * LOAD_NUMERATOR);
    }

    #[test]
    fn likely_is_the_first_slot_with_the_tag() {
        let mut index = SlotIndex::default();
        index.insert_unique(7 << 32, 3);
        index.insert_unique(7 << 32 | 1, 9);
        assert_eq!(index.likely(7 << 32 | 5), Some(3));
        assert_eq!(index.likely(8 << 32), None);
    }
}
