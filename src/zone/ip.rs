//! IP indexes: every IP dataset, whatever its matching rule, is flattened at load time
//! into disjoint address intervals, each mapped to the result that rule gives there.
//!
//! rbldnsd's `ip4set` (decide at the most specific of /32, /24, /16, /8 that has an
//! entry), the tries (longest prefix) and the ward format (longest prefix, several
//! values per prefix) only differ in how entries for the *same* prefix combine; after
//! that, all three are "longest prefix wins", which a single sweep turns into intervals.
//! A lookup is then one binary search, and a CIDR costs one interval, never one entry
//! per address. Intervals of one address (the bulk of real lists) are stored apart at
//! 8 bytes each, half of rbldnsd's 16.

use std::fmt::Debug;
use std::hash::Hash;

/// An address as an unsigned integer (IPv4: `u32`, IPv6: `u128`).
pub trait IpKey: Copy + Ord + Eq + Hash + Debug + Send + Sync + 'static {
    const BITS: u8;
    /// Addresses are bucketed by their top 16 bits before the binary search when there
    /// are enough of them to matter (IPv4). IPv6 lists cluster in a few /32s, where the
    /// top bits would not spread them, so IPv6 uses one bucket.
    const BUCKET_BITS: u8;
    fn zero() -> Self;
    fn max_value() -> Self;
    /// The network mask with `len` leading ones.
    fn netmask(len: u8) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn not(self) -> Self;
    fn add_one(self) -> Option<Self>;
    fn sub_one(self) -> Self;
    fn bucket(self) -> usize;
    /// Number of trailing zero bits (alignment of a block starting here).
    fn trailing_zeros(self) -> u32;
    fn from_u128(v: u128) -> Self;
    fn to_u128(self) -> u128;
}

macro_rules! ip_key {
    ($t:ty, $bits:expr, $bucket_bits:expr) => {
        impl IpKey for $t {
            const BITS: u8 = $bits;
            const BUCKET_BITS: u8 = $bucket_bits;
            fn zero() -> Self {
                0
            }
            fn max_value() -> Self {
                <$t>::MAX
            }
            fn netmask(len: u8) -> Self {
                if len == 0 {
                    0
                } else {
                    <$t>::MAX << ($bits - len)
                }
            }
            fn and(self, other: Self) -> Self {
                self & other
            }
            fn or(self, other: Self) -> Self {
                self | other
            }
            fn not(self) -> Self {
                !self
            }
            fn add_one(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn sub_one(self) -> Self {
                self.wrapping_sub(1)
            }
            fn bucket(self) -> usize {
                if $bucket_bits == 0 {
                    0
                } else {
                    (self >> ($bits - $bucket_bits)) as usize
                }
            }
            fn trailing_zeros(self) -> u32 {
                <$t>::trailing_zeros(self)
            }
            fn from_u128(v: u128) -> Self {
                v as $t
            }
            fn to_u128(self) -> u128 {
                self as u128
            }
        }
    };
}

ip_key!(u32, 32, 16);
ip_key!(u128, 128, 0);

/// Index of an interned result (a set of values) in a dataset's value table.
pub type ResultId = u32;

/// Disjoint address intervals, each with the result that applies there; addresses in
/// no interval are not listed.
pub struct PrefixMap<K: IpKey> {
    singles: Vec<K>,
    single_results: Vec<ResultId>,
    single_buckets: Vec<u32>,
    starts: Vec<K>,
    ends: Vec<K>,
    range_results: Vec<ResultId>,
    range_buckets: Vec<u32>,
}

impl<K: IpKey> Default for PrefixMap<K> {
    fn default() -> Self {
        PrefixMap {
            singles: Vec::new(),
            single_results: Vec::new(),
            single_buckets: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            range_results: Vec::new(),
            range_buckets: Vec::new(),
        }
    }
}

/// For each bucket b, the index of the first key whose bucket is ≥ b (plus a final
/// entry = len), so bucket b's keys are `keys[index[b]..index[b+1]]`.
fn bucket_index<K: IpKey>(keys: &[K]) -> Vec<u32> {
    if K::BUCKET_BITS == 0 || keys.len() < 1024 {
        return Vec::new();
    }
    let buckets = 1usize << K::BUCKET_BITS;
    let mut index = Vec::with_capacity(buckets + 1);
    let mut i = 0;
    for b in 0..buckets {
        while i < keys.len() && keys[i].bucket() < b {
            i += 1;
        }
        index.push(i as u32);
    }
    index.push(keys.len() as u32);
    index
}

fn bucket_bounds(index: &[u32], key_bucket: usize, len: usize) -> (usize, usize) {
    if index.is_empty() {
        (0, len)
    } else {
        (index[key_bucket] as usize, index[key_bucket + 1] as usize)
    }
}

impl<K: IpKey> PrefixMap<K> {
    pub fn is_empty(&self) -> bool {
        self.singles.is_empty() && self.starts.is_empty()
    }

    /// Number of intervals (listed address runs).
    pub fn len(&self) -> usize {
        self.singles.len() + self.starts.len()
    }

    pub fn get(&self, addr: K) -> Option<ResultId> {
        let bucket = addr.bucket();
        if !self.singles.is_empty() {
            let (lo, hi) = bucket_bounds(&self.single_buckets, bucket, self.singles.len());
            if let Ok(i) = self.singles[lo..hi].binary_search(&addr) {
                return Some(self.single_results[lo + i]);
            }
        }
        if self.starts.is_empty() {
            return None;
        }
        // The interval holding `addr`, if any, is the last one starting at or before it;
        // it may start in an earlier bucket, hence the look one slot back.
        let (lo, hi) = bucket_bounds(&self.range_buckets, bucket, self.starts.len());
        let after = lo + self.starts[lo..hi].partition_point(|&s| s <= addr);
        let i = after.checked_sub(1)?;
        (self.ends[i] >= addr).then(|| self.range_results[i])
    }

    /// Whether any listed address lies in `[lo, hi]`: decides if a partial IP name such as
    /// `0.113.Z` is an empty non-terminal (names exist below it) or does not exist.
    pub fn any_in(&self, lo: K, hi: K) -> bool {
        let i = self.singles.partition_point(|&s| s < lo);
        if self.singles.get(i).is_some_and(|&s| s <= hi) {
            return true;
        }
        let j = self.ends.partition_point(|&e| e < lo);
        self.starts.get(j).is_some_and(|&s| s <= hi)
    }

    /// All intervals in address order: (first, last, result).
    pub fn intervals(&self) -> impl Iterator<Item = (K, K, ResultId)> + '_ {
        let mut singles = self
            .singles
            .iter()
            .zip(&self.single_results)
            .map(|(&a, &r)| (a, a, r))
            .peekable();
        let mut ranges = self
            .starts
            .iter()
            .zip(&self.ends)
            .zip(&self.range_results)
            .map(|((&s, &e), &r)| (s, e, r))
            .peekable();
        std::iter::from_fn(move || match (singles.peek(), ranges.peek()) {
            (Some(a), Some(b)) if a.0 < b.0 => singles.next(),
            (Some(_), Some(_)) => ranges.next(),
            (Some(_), None) => singles.next(),
            (None, _) => ranges.next(),
        })
    }

    pub fn heap_bytes(&self) -> usize {
        let k = std::mem::size_of::<K>();
        self.singles.capacity() * k
            + self.single_results.capacity() * 4
            + self.single_buckets.capacity() * 4
            + (self.starts.capacity() + self.ends.capacity()) * k
            + self.range_results.capacity() * 4
            + self.range_buckets.capacity() * 4
    }
}

/// How entries for the same prefix combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamePrefix {
    /// All listings answer together; one exclusion beats them (ip4set, ward format).
    Union,
    /// The first entry wins; later ones are reported as duplicates (rbldnsd's tries).
    FirstWins,
}

/// What one entry says about its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Value(u32),
    Excluded,
}

#[derive(Debug, Clone, Copy)]
struct PrefixEntry<K> {
    start: K,
    len: u8,
    listing: Listing,
    /// Source line, to name duplicates.
    line: u32,
}

/// A prefix given twice where only the first counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub line: u32,
    pub first_line: u32,
}

/// Collects prefixes, then flattens them into a [`PrefixMap`].
pub struct PrefixMapBuilder<K: IpKey> {
    entries: Vec<PrefixEntry<K>>,
}

impl<K: IpKey> Default for PrefixMapBuilder<K> {
    fn default() -> Self {
        PrefixMapBuilder {
            entries: Vec::new(),
        }
    }
}

impl<K: IpKey> PrefixMapBuilder<K> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `start/len`; host bits of `start` are cleared.
    pub fn add(&mut self, start: K, len: u8, listing: Listing, line: u32) {
        let len = len.min(K::BITS);
        self.entries.push(PrefixEntry {
            start: start.and(K::netmask(len)),
            len,
            listing,
            line,
        });
    }

    /// Adds the inclusive range `[first, last]` as the fewest CIDR blocks.
    pub fn add_range(&mut self, first: K, last: K, listing: Listing, line: u32) {
        for (start, len) in range_to_cidrs(first, last) {
            self.add(start, len, listing, line);
        }
    }

    /// Flattens the prefixes. `intern` turns a set of value ids (sorted, deduplicated)
    /// into a result id.
    pub fn build(
        mut self,
        rule: SamePrefix,
        mut intern: impl FnMut(&[u32]) -> ResultId,
    ) -> (PrefixMap<K>, Vec<Duplicate>) {
        // Outer prefixes first at equal starts. Only FirstWins needs file order among
        // equal prefixes (a stable sort); a union does not care, and unstable is faster.
        match rule {
            SamePrefix::FirstWins => self.entries.sort_by_key(|e| (e.start, e.len)),
            SamePrefix::Union => self.entries.sort_unstable_by_key(|e| (e.start, e.len)),
        }
        let mut duplicates = Vec::new();
        let mut resolved: Vec<(K, K, Option<ResultId>)> = Vec::with_capacity(self.entries.len());
        let mut values: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < self.entries.len() {
            let first = self.entries[i];
            let mut j = i + 1;
            while j < self.entries.len()
                && self.entries[j].start == first.start
                && self.entries[j].len == first.len
            {
                j += 1;
            }
            let group = &self.entries[i..j];
            let result = match rule {
                SamePrefix::FirstWins => {
                    duplicates.extend(group[1..].iter().map(|e| Duplicate {
                        line: e.line,
                        first_line: first.line,
                    }));
                    match first.listing {
                        Listing::Value(v) => Some(intern(&[v])),
                        Listing::Excluded => None,
                    }
                }
                SamePrefix::Union => {
                    if group.iter().any(|e| e.listing == Listing::Excluded) {
                        None
                    } else {
                        values.clear();
                        values.extend(group.iter().filter_map(|e| match e.listing {
                            Listing::Value(v) => Some(v),
                            Listing::Excluded => None,
                        }));
                        values.sort_unstable();
                        values.dedup();
                        Some(intern(&values))
                    }
                }
            };
            let last = first.start.or(K::netmask(first.len).not());
            resolved.push((first.start, last, result));
            i = j;
        }
        drop(self.entries);
        (flatten(&resolved), duplicates)
    }
}

/// Sweeps prefixes sorted by (start, outer first) — a laminar family: any two are nested
/// or disjoint — and emits where each one is the innermost, skipping exclusions.
fn flatten<K: IpKey>(prefixes: &[(K, K, Option<ResultId>)]) -> PrefixMap<K> {
    let mut out = IntervalSink::default();
    // Open prefixes, innermost last: (last address, result).
    let mut stack: Vec<(K, Option<ResultId>)> = Vec::with_capacity(8);
    // First address not yet emitted; `None` once the whole space is done.
    let mut cursor: Option<K> = Some(K::zero());
    for &(start, last, result) in prefixes {
        while let Some(&(top_last, top_result)) = stack.last() {
            if top_last >= start {
                break;
            }
            if let Some(from) = cursor
                && from <= top_last
            {
                out.push(from, top_last, top_result);
            }
            cursor = top_last.add_one();
            stack.pop();
        }
        if let (Some(&(_, top_result)), Some(from)) = (stack.last(), cursor)
            && from < start
        {
            out.push(from, start.sub_one(), top_result);
        }
        cursor = Some(start);
        stack.push((last, result));
    }
    while let Some((top_last, top_result)) = stack.pop() {
        if let Some(from) = cursor
            && from <= top_last
        {
            out.push(from, top_last, top_result);
        }
        cursor = top_last.add_one();
    }
    out.finish()
}

struct IntervalSink<K: IpKey> {
    intervals: Vec<(K, K, ResultId)>,
}

impl<K: IpKey> Default for IntervalSink<K> {
    fn default() -> Self {
        IntervalSink {
            intervals: Vec::new(),
        }
    }
}

impl<K: IpKey> IntervalSink<K> {
    fn push(&mut self, first: K, last: K, result: Option<ResultId>) {
        let Some(result) = result else { return };
        if let Some(prev) = self.intervals.last_mut()
            && prev.2 == result
            && prev.1.add_one() == Some(first)
        {
            prev.1 = last;
            return;
        }
        self.intervals.push((first, last, result));
    }

    fn finish(self) -> PrefixMap<K> {
        let singles_count = self.intervals.iter().filter(|i| i.0 == i.1).count();
        let mut map = PrefixMap {
            singles: Vec::with_capacity(singles_count),
            single_results: Vec::with_capacity(singles_count),
            starts: Vec::with_capacity(self.intervals.len() - singles_count),
            ends: Vec::with_capacity(self.intervals.len() - singles_count),
            range_results: Vec::with_capacity(self.intervals.len() - singles_count),
            ..PrefixMap::default()
        };
        for (first, last, result) in self.intervals {
            if first == last {
                map.singles.push(first);
                map.single_results.push(result);
            } else {
                map.starts.push(first);
                map.ends.push(last);
                map.range_results.push(result);
            }
        }
        map.single_buckets = bucket_index(&map.singles);
        map.range_buckets = bucket_index(&map.starts);
        map
    }
}

/// The fewest CIDR blocks covering `[first, last]` exactly.
pub fn range_to_cidrs<K: IpKey>(first: K, last: K) -> impl Iterator<Item = (K, u8)> {
    let mut next = (first <= last).then_some(first);
    std::iter::from_fn(move || {
        let start = next?;
        // Largest block aligned at `start` that does not pass `last`.
        let mut len = K::BITS - (start.trailing_zeros().min(u32::from(K::BITS)) as u8);
        loop {
            let block_last = start.or(K::netmask(len).not());
            if block_last <= last {
                next = if block_last == last {
                    None
                } else {
                    block_last.add_one()
                };
                return Some((start, len));
            }
            len += 1;
        }
    })
}

/// rbldnsd's `ip4set` storage: a range becomes aligned blocks of /32, /24, /16 and /8
/// only (a /20 is 16 /24 blocks, a /26 is 64 /32s). The level a block sits at decides
/// which entries it competes with, so this expansion is part of the semantics.
pub fn range_to_ip4set_blocks(first: u32, last: u32) -> impl Iterator<Item = (u32, u8)> {
    let end = u64::from(last);
    let mut next = u64::from(first);
    std::iter::from_fn(move || {
        if next > end {
            return None;
        }
        let start = next;
        let chosen = [8u8, 16, 24]
            .into_iter()
            .find(|&len| {
                let size = 1u64 << (32 - len);
                start % size == 0 && start + size - 1 <= end
            })
            .unwrap_or(32);
        next = start + (1u64 << (32 - chosen));
        Some((start as u32, chosen))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    fn build(entries: &[(&str, u8, Listing)], rule: SamePrefix) -> PrefixMap<u32> {
        let mut builder = PrefixMapBuilder::default();
        for (line, &(addr, len, listing)) in entries.iter().enumerate() {
            builder.add(ip(addr), len, listing, line as u32);
        }
        let mut sets: Vec<Vec<u32>> = Vec::new();
        let (map, _) = builder.build(rule, |values| {
            if let Some(i) = sets.iter().position(|s| s == values) {
                return i as u32;
            }
            sets.push(values.to_vec());
            sets.len() as u32 - 1
        });
        map
    }

    #[test]
    fn longest_prefix_with_exclusions() {
        use Listing::*;
        let map = build(
            &[
                ("10.20.0.0", 23, Value(1)),
                ("10.20.1.0", 24, Excluded),
                ("10.20.1.128", 25, Value(2)),
            ],
            SamePrefix::FirstWins,
        );
        assert_eq!(map.get(ip("10.20.0.5")), Some(0));
        assert_eq!(map.get(ip("10.20.1.1")), None);
        assert_eq!(map.get(ip("10.20.1.129")), Some(1));
        assert_eq!(map.get(ip("10.20.2.0")), None);
        assert_eq!(map.get(ip("10.19.255.255")), None);
    }

    #[test]
    fn nested_prefix_ending_with_its_parent() {
        use Listing::*;
        let map = build(
            &[
                ("10.0.0.0", 24, Value(1)),
                ("10.0.0.128", 25, Excluded),
                ("10.0.1.0", 24, Value(2)),
            ],
            SamePrefix::Union,
        );
        assert_eq!(map.get(ip("10.0.0.5")), Some(0));
        assert_eq!(map.get(ip("10.0.0.200")), None);
        assert_eq!(map.get(ip("10.0.1.5")), Some(1));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn union_combines_same_prefix_and_exclusion_wins() {
        use Listing::*;
        let map = build(
            &[
                ("172.17.0.0", 24, Value(20)),
                ("172.17.0.0", 24, Value(21)),
                ("172.18.0.0", 24, Value(1)),
                ("172.18.0.0", 24, Excluded),
            ],
            SamePrefix::Union,
        );
        assert_eq!(map.get(ip("172.17.0.9")), Some(0));
        assert_eq!(map.get(ip("172.18.0.9")), None);
    }

    #[test]
    fn whole_space_and_edges() {
        use Listing::*;
        let map = build(
            &[("0.0.0.0", 0, Value(1)), ("255.255.255.255", 32, Excluded)],
            SamePrefix::Union,
        );
        assert_eq!(map.get(0), Some(0));
        assert_eq!(map.get(ip("255.255.255.254")), Some(0));
        assert_eq!(map.get(u32::MAX), None);
    }

    #[test]
    fn many_singles_use_buckets() {
        let mut builder = PrefixMapBuilder::default();
        for i in 0..5000u32 {
            builder.add(i.wrapping_mul(2_654_435_761), 32, Listing::Value(i % 3), i);
        }
        builder.add(ip("10.0.0.0"), 8, Listing::Value(7), 9999);
        let (map, _) = builder.build(SamePrefix::Union, |v| v[0]);
        for i in 0..5000u32 {
            let addr = i.wrapping_mul(2_654_435_761);
            if addr >> 24 != 10 {
                assert_eq!(map.get(addr), Some(i % 3), "addr {addr:#x}");
            }
        }
        assert!(map.get(ip("10.200.1.1")).is_some());
        assert!(map.any_in(ip("10.0.0.0"), ip("10.0.0.255")));
    }

    #[test]
    fn any_in_finds_overlaps() {
        let map = build(&[("127.0.0.2", 32, Listing::Value(1))], SamePrefix::Union);
        assert!(map.any_in(ip("127.0.0.0"), ip("127.0.0.255")));
        assert!(map.any_in(ip("127.0.0.0"), ip("127.255.255.255")));
        assert!(!map.any_in(ip("127.0.1.0"), ip("127.0.1.255")));
    }

    #[test]
    fn adjacent_equal_intervals_merge() {
        let mut builder = PrefixMapBuilder::default();
        builder.add_range(
            ip("198.51.100.10"),
            ip("198.51.100.20"),
            Listing::Value(0),
            1,
        );
        let (map, _) = builder.build(SamePrefix::Union, |v| v[0]);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(ip("198.51.100.15")), Some(0));
        assert_eq!(map.get(ip("198.51.100.21")), None);
    }

    #[test]
    fn cidr_decomposition_is_minimal_and_exact() {
        let blocks: Vec<_> = range_to_cidrs(ip("198.51.100.10"), ip("198.51.100.20")).collect();
        assert_eq!(
            blocks,
            vec![
                (ip("198.51.100.10"), 31),
                (ip("198.51.100.12"), 30),
                (ip("198.51.100.16"), 30),
                (ip("198.51.100.20"), 32)
            ]
        );
        let all: Vec<_> = range_to_cidrs(0u32, u32::MAX).collect();
        assert_eq!(all, vec![(0, 0)]);
        let v6: Vec<_> = range_to_cidrs(0u128, u128::MAX).collect();
        assert_eq!(v6, vec![(0, 0)]);
    }

    #[test]
    fn ip4set_blocks_follow_rbldnsd_levels() {
        let blocks: Vec<_> =
            range_to_ip4set_blocks(ip("172.16.0.0"), ip("172.16.15.255")).collect();
        assert_eq!(blocks.len(), 16);
        assert!(blocks.iter().all(|&(_, len)| len == 24));
        let blocks: Vec<_> = range_to_ip4set_blocks(ip("10.0.0.0"), ip("10.0.0.63")).collect();
        assert_eq!(blocks.len(), 64);
        assert!(blocks.iter().all(|&(_, len)| len == 32));
        let blocks: Vec<_> = range_to_ip4set_blocks(0, u32::MAX).collect();
        assert_eq!(blocks.len(), 256);
    }
}
