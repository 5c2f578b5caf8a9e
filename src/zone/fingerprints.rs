//! A frozen map from 64-bit fingerprints (digest prefixes, hashes of names) to small
//! numbers, packed for memory: sorted keys, a directory on their top 16 bits so each
//! key keeps only its other 48 bits (6 bytes), and values as narrow as the largest one
//! allows (1, 2 or 4 bytes). A million keys with under 256 distinct values cost about
//! 7.3 bytes each, where a key and a 32-bit value side by side cost 12.

use super::ip::Warm;
use crate::memory::{copy_on_huge_pages, prefetch};

/// Below this many keys the directory (256 KiB) would cost more than it saves: keys
/// are kept whole and searched whole.
const DIRECTORY_FROM: usize = 1 << 16;
const DIRECTORY_BITS: u32 = 16;
const STORED_BYTES: usize = 6;

/// Sorts `items` by their 64-bit fingerprint `key`, stably: one counting pass on the
/// top 16 bits (fingerprints are hashes, spread evenly: about 15 a bucket in a
/// million), then each bucket on its own. Quicker than a comparison sort of the whole,
/// and the last thing a big list's load waits for. The scatter lands on huge pages: it
/// writes all over the vector.
pub(crate) fn sort_by_fingerprint<T: Copy>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if items.len() < DIRECTORY_FROM {
        items.sort_by_key(&key);
        return;
    }
    let bucket = |item: &T| (key(item) >> (64 - DIRECTORY_BITS)) as usize;
    let mut next = vec![0usize; (1 << DIRECTORY_BITS) + 1];
    for item in items.iter() {
        next[bucket(item) + 1] += 1;
    }
    for b in 1..next.len() {
        next[b] += next[b - 1];
    }
    let starts = next.clone();
    let mut sorted = copy_on_huge_pages(items);
    for item in items.iter() {
        let at = &mut next[bucket(item)];
        sorted[*at] = *item;
        *at += 1;
    }
    for bounds in starts.windows(2) {
        sorted[bounds[0]..bounds[1]].sort_by_key(&key);
    }
    *items = sorted;
}

#[derive(Default)]
pub(crate) struct FingerprintMap {
    /// Per top-16-bit prefix p: the index of the first key ≥ p, and one more entry;
    /// empty when keys are kept whole.
    directory: Box<[u32]>,
    /// With a directory, each key's low 48 bits (big-endian, 6 bytes); without, whole
    /// keys (8 bytes).
    keys: Box<[u8]>,
    values: Values,
    len: usize,
}

enum Values {
    Narrow(Box<[u8]>),
    Middle(Box<[u16]>),
    Wide(Box<[u32]>),
}

impl Default for Values {
    fn default() -> Self {
        Values::Narrow(Box::default())
    }
}

impl Values {
    fn prefetch(&self, index: usize) {
        match self {
            Values::Narrow(v) => prefetch(&v[index]),
            Values::Middle(v) => prefetch(&v[index]),
            Values::Wide(v) => prefetch(&v[index]),
        }
    }

    fn get(&self, index: usize) -> u32 {
        match self {
            Values::Narrow(v) => u32::from(v[index]),
            Values::Middle(v) => u32::from(v[index]),
            Values::Wide(v) => v[index],
        }
    }
}

impl FingerprintMap {
    /// Freezes `entries`; of a key given twice the first value counts (callers combine
    /// an entry's values before).
    pub(crate) fn build(mut entries: Vec<(u64, u32)>) -> Self {
        // Digest maps come sorted and unique already: one pass to see it.
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.sort_by_key(|&(key, _)| key);
            entries.dedup_by_key(|&mut (key, _)| key);
        }
        let len = entries.len();
        let largest = entries.iter().map(|&(_, v)| v).max().unwrap_or(0);
        let values = if largest <= u32::from(u8::MAX) {
            Values::Narrow(entries.iter().map(|&(_, v)| v as u8).collect())
        } else if largest <= u32::from(u16::MAX) {
            Values::Middle(entries.iter().map(|&(_, v)| v as u16).collect())
        } else {
            Values::Wide(entries.iter().map(|&(_, v)| v).collect())
        };
        let (directory, keys) = if len < DIRECTORY_FROM {
            let keys = entries.iter().flat_map(|&(k, _)| k.to_be_bytes()).collect();
            (Box::default(), keys)
        } else {
            let mut directory = Vec::with_capacity((1 << DIRECTORY_BITS) + 1);
            let mut next = 0usize;
            for prefix in 0..=(1u64 << DIRECTORY_BITS) {
                while next < len && top(entries[next].0) < prefix {
                    next += 1;
                }
                directory.push(next as u32);
            }
            let keys = entries
                .iter()
                .flat_map(|&(k, _)| {
                    let bytes = k.to_be_bytes();
                    <[u8; STORED_BYTES]>::try_from(&bytes[8 - STORED_BYTES..]).unwrap_or_default()
                })
                .collect();
            (directory.into_boxed_slice(), keys)
        };
        FingerprintMap {
            directory,
            keys,
            values,
            len,
        }
    }

    /// Warms what a [`get`](Self::get) of `key` reads, in the two steps of a batch (see
    /// [`super::ip::PrefixMap::prefetch`]): the directory entry, then the keys and
    /// values of its prefix (about 15 of each in a million: a line or two).
    pub(crate) fn prefetch(&self, key: u64, warm: Warm) {
        if self.directory.is_empty() {
            return;
        }
        let prefix = top(key) as usize;
        match warm {
            Warm::Bucket => prefetch(&self.directory[prefix]),
            Warm::Entries => {
                let (from, to) = (
                    self.directory[prefix] as usize,
                    self.directory[prefix + 1] as usize,
                );
                if from < to {
                    prefetch(&self.keys[from * STORED_BYTES]);
                    prefetch(&self.keys[to * STORED_BYTES - 1]);
                    self.values.prefetch(from);
                    self.values.prefetch(to - 1);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let (width, from, to, wanted) = if self.directory.is_empty() {
            (8, 0, self.len, key)
        } else {
            let prefix = top(key) as usize;
            let from = self.directory[prefix] as usize;
            let to = self.directory[prefix + 1] as usize;
            (
                STORED_BYTES,
                from,
                to,
                key & ((1 << (8 * STORED_BYTES)) - 1),
            )
        };
        // Fixed-size reads: a copy of a width known only at run time is a call to memcpy.
        let stored = |i: usize| -> u64 {
            let bytes = &self.keys[i * width..(i + 1) * width];
            match <[u8; 8]>::try_from(bytes) {
                Ok(whole) => u64::from_be_bytes(whole),
                Err(_) => {
                    let low: [u8; STORED_BYTES] = bytes.try_into().unwrap_or_default();
                    let [a, b, c, d, e, f] = low;
                    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
                }
            }
        };
        let (mut low, mut high) = (from, to);
        while low < high {
            let middle = low + (high - low) / 2;
            match stored(middle).cmp(&wanted) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(self.values.get(middle)),
            }
        }
        None
    }
}

fn top(key: u64) -> u64 {
    key >> (64 - DIRECTORY_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket sort orders as a stable comparison sort does, below and above the
    /// size it starts at, with keys given several times (their items keep their order)
    /// and keys sharing their top bits.
    #[test]
    fn sort_by_fingerprint_is_a_stable_sort() {
        for count in [0, 1, 1000, DIRECTORY_FROM + 4321] {
            let mut items: Vec<(u64, usize)> = keys(count, 7)
                .into_iter()
                .enumerate()
                .map(|(i, key)| match i % 10 {
                    // the key of an earlier item: a name given on several lines
                    3 => (keys(1, 7)[0], i),
                    // same top bits, other low bits
                    5 => (0xabcd_0000_0000_0000 | (i as u64 % 7), i),
                    _ => (key, i),
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|&(key, _)| key);
            sort_by_fingerprint(&mut items, |&(key, _)| key);
            assert_eq!(items, expected, "{count} items");
        }
    }

    /// A splitmix64 stream: keys spread like digests.
    fn keys(count: usize, seed: u64) -> Vec<u64> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            })
            .collect()
    }

    fn check(count: usize, value_of: impl Fn(usize) -> u32) {
        let listed = keys(count, 1);
        let map = FingerprintMap::build(
            listed
                .iter()
                .enumerate()
                .map(|(i, &k)| (k, value_of(i)))
                .collect(),
        );
        for (i, &key) in listed.iter().enumerate() {
            assert_eq!(map.get(key), Some(value_of(i)), "key {i} of {count}");
        }
        for key in keys(count.min(10_000), 2) {
            assert_eq!(map.get(key), None);
        }
        // The same low 48 bits under another prefix is another key.
        if let Some(&key) = listed.first() {
            assert_eq!(map.get(key ^ (1 << 63)), None);
        }
    }

    #[test]
    fn small_maps_keep_whole_keys() {
        check(0, |_| 0);
        check(1000, |i| (i % 7) as u32);
    }

    #[test]
    fn large_maps_find_every_key_at_every_value_width() {
        check(100_000, |i| (i % 200) as u32);
        check(100_000, |i| (i % 60_000) as u32);
        check(100_000, |i| i as u32 * 1000);
    }

    #[test]
    fn the_first_value_of_a_key_counts() {
        let map = FingerprintMap::build(vec![(5, 1), (5, 2), (3, 9)]);
        assert_eq!(map.get(5), Some(1));
        assert_eq!(map.get(3), Some(9));
    }
}
