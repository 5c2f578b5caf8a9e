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

use crate::memory::{on_huge_pages, prefetch};

/// An address as an unsigned integer (IPv4: `u32`, IPv6: `u128`; digest keys: `u64`).
pub(crate) trait IpKey: Copy + Ord + Eq + Hash + Debug + Send + Sync + 'static {
    const BITS: u8;
    fn zero() -> Self;
    /// The network mask with `len` leading ones.
    fn netmask(len: u8) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn not(self) -> Self;
    fn add_one(self) -> Option<Self>;
    fn sub_one(self) -> Self;
    /// The 16 bits after the first `skip` bits.
    fn bits_after(self, skip: u32) -> usize;
    /// Leading bits `self` and `other` share.
    fn common_bits(self, other: Self) -> u32;
    /// Number of trailing zero bits (alignment of a block starting here).
    fn trailing_zeros(self) -> u32;
    fn to_u128(self) -> u128;
}

macro_rules! ip_key {
    ($t:ty, $bits:expr) => {
        impl IpKey for $t {
            const BITS: u8 = $bits;
            fn zero() -> Self {
                0
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
            fn bits_after(self, skip: u32) -> usize {
                ((self << skip) >> ($bits - 16)) as usize
            }
            fn common_bits(self, other: Self) -> u32 {
                (self ^ other).leading_zeros()
            }
            fn trailing_zeros(self) -> u32 {
                <$t>::trailing_zeros(self)
            }
            fn to_u128(self) -> u128 {
                self as u128
            }
        }
    };
}

ip_key!(u32, 32);
ip_key!(u64, 64);
ip_key!(u128, 128);

/// Index of an interned result (a set of values) in a dataset's value table.
pub(crate) type ResultId = u32;

/// Disjoint address intervals, each with the result that applies there; addresses in
/// no interval are not listed.
///
/// A lookup first finds its bucket: the 16 bits after the prefix every listed address
/// shares (for IPv4 usually the top 16 bits; for an IPv6 list inside 2001:db8::/32,
/// bits 32-47). One index entry gives where both the bucket's single addresses and its
/// ranges start, so a miss costs one index read and two short binary searches.
pub(crate) struct PrefixMap<K: IpKey> {
    singles: Vec<K>,
    single_results: Vec<ResultId>,
    starts: Vec<K>,
    ends: Vec<K>,
    range_results: Vec<ResultId>,
    /// Per bucket b: [first single, first range] in bucket ≥ b; empty for small maps.
    /// The top bit of the range entry says a range starting in an earlier bucket reaches
    /// into this one; without it, a bucket without ranges needs no range check at all.
    buckets: Vec<[u32; 2]>,
    /// Bits shared by every listed address, skipped when bucketing.
    shared: u32,
    /// Lowest and highest listed address.
    span: Option<(K, K)>,
}

impl<K: IpKey> Default for PrefixMap<K> {
    fn default() -> Self {
        PrefixMap {
            singles: Vec::new(),
            single_results: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            range_results: Vec::new(),
            buckets: Vec::new(),
            shared: 0,
            span: None,
        }
    }
}

/// Where in a [`PrefixMap`] an address can be listed: a window of singles, and a window of
/// ranges to search, or none when no range starts in its bucket or reaches into it.
struct Candidates {
    singles: (usize, usize),
    ranges: Option<(usize, usize)>,
}

/// The two steps of [`PrefixMap::prefetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warm {
    Bucket,
    Entries,
}

/// Maps with fewer intervals than this are searched whole.
const BUCKETED_FROM: usize = 1024;

/// See [`PrefixMap::buckets`].
const REACHED: u32 = 1 << 31;

impl<K: IpKey> PrefixMap<K> {
    /// Computes the span and the bucket index once the intervals are in.
    fn index(&mut self) {
        let first = [self.singles.first(), self.starts.first()]
            .into_iter()
            .flatten()
            .min()
            .copied();
        let last = [self.singles.last(), self.ends.last()]
            .into_iter()
            .flatten()
            .max()
            .copied();
        self.span = first.zip(last);
        self.buckets = Vec::new();
        let Some((first, last)) = self.span else {
            return;
        };
        if self.len() < BUCKETED_FROM {
            return;
        }
        self.shared = first.common_bits(last).min(u32::from(K::BITS) - 16);
        let shared = self.shared;
        let mut index = Vec::with_capacity((1 << 16) + 1);
        let (mut s, mut r) = (0, 0);
        // The furthest bucket reached by a range started so far.
        let mut reach: Option<usize> = None;
        for b in 0..1usize << 16 {
            while s < self.singles.len() && self.singles[s].bits_after(shared) < b {
                s += 1;
            }
            while r < self.starts.len() && self.starts[r].bits_after(shared) < b {
                let end_bucket = if self.ends[r].common_bits(first) >= shared {
                    self.ends[r].bits_after(shared)
                } else {
                    usize::MAX
                };
                reach = Some(reach.map_or(end_bucket, |e| e.max(end_bucket)));
                r += 1;
            }
            let reached = reach.is_some_and(|e| e >= b);
            index.push([s as u32, r as u32 | if reached { REACHED } else { 0 }]);
        }
        index.push([self.singles.len() as u32, self.starts.len() as u32]);
        self.buckets = index;
    }

    /// Whether `addr` lies between the lowest and the highest listed address.
    fn spans(&self, addr: K) -> bool {
        self.span
            .is_some_and(|(first, last)| first <= addr && addr <= last)
    }

    /// The single addresses and ranges that may hold `addr`, as index ranges; `None`
    /// when `addr` lies outside every interval's span.
    fn candidates(&self, addr: K) -> Option<Candidates> {
        if !self.spans(addr) {
            return None;
        }
        if self.buckets.is_empty() {
            return Some(Candidates {
                singles: (0, self.singles.len()),
                ranges: Some((0, self.starts.len())),
            });
        }
        let b = addr.bits_after(self.shared);
        let (from, to) = (self.buckets[b], self.buckets[b + 1]);
        let (range_from, range_to) = ((from[1] & !REACHED) as usize, (to[1] & !REACHED) as usize);
        let reached = from[1] & REACHED != 0;
        Some(Candidates {
            singles: (from[0] as usize, to[0] as usize),
            ranges: (range_from != range_to || reached).then_some((range_from, range_to)),
        })
    }

    /// Starts fetching the memory a [`get`](Self::get) of `addr` will read, so that a
    /// batch of lookups waits for memory once, not once each: between two batches the
    /// kernel's network stack has evicted the index from the caches, and a lookup is
    /// otherwise three dependent cache (and TLB) misses. [`Warm::Bucket`] first, for
    /// every address of the batch, then [`Warm::Entries`], which reads the bucket.
    pub(crate) fn prefetch(&self, addr: K, warm: Warm) {
        if self.buckets.is_empty() || !self.spans(addr) {
            return;
        }
        match warm {
            Warm::Bucket => prefetch(&self.buckets[addr.bits_after(self.shared)]),
            Warm::Entries => {
                let Some(Candidates { singles, ranges }) = self.candidates(addr) else {
                    return;
                };
                let (lo, hi) = singles;
                if lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    prefetch(&self.singles[lo]);
                    prefetch(&self.singles[mid]);
                    prefetch(&self.singles[hi - 1]);
                    prefetch(&self.single_results[mid]);
                }
                if let Some((lo, hi)) = ranges {
                    let near = lo.saturating_sub(1);
                    prefetch(&self.starts[near]);
                    prefetch(&self.ends[near]);
                    if hi > lo {
                        prefetch(&self.starts[hi - 1]);
                    }
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.singles.is_empty() && self.starts.is_empty()
    }

    /// Number of intervals (listed address runs).
    pub(crate) fn len(&self) -> usize {
        self.singles.len() + self.starts.len()
    }

    pub(crate) fn get(&self, addr: K) -> Option<ResultId> {
        let Candidates { singles, ranges } = self.candidates(addr)?;
        let (lo, hi) = singles;
        if let Ok(i) = self.singles[lo..hi].binary_search(&addr) {
            return Some(self.single_results[lo + i]);
        }
        // The interval holding `addr`, if any, is the last one starting at or before it;
        // it may start in an earlier bucket, hence the look one slot back.
        let (lo, hi) = ranges?;
        let after = lo + self.starts[lo..hi].partition_point(|&s| s <= addr);
        let i = after.checked_sub(1)?;
        (self.ends[i] >= addr).then(|| self.range_results[i])
    }

    /// Whether any listed address lies in `[lo, hi]`: decides if a partial IP name such as
    /// `0.113.Z` is an empty non-terminal (names exist below it) or does not exist.
    pub(crate) fn any_in(&self, lo: K, hi: K) -> bool {
        let i = self.singles.partition_point(|&s| s < lo);
        if self.singles.get(i).is_some_and(|&s| s <= hi) {
            return true;
        }
        let j = self.ends.partition_point(|&e| e < lo);
        self.starts.get(j).is_some_and(|&s| s <= hi)
    }

    /// The single addresses, in order, and their results.
    pub(crate) fn singles(&self) -> (&[K], &[ResultId]) {
        (&self.singles, &self.single_results)
    }

    /// The ranges (first, last), in order and disjoint, and their results.
    pub(crate) fn ranges(&self) -> (&[K], &[K], &[ResultId]) {
        (&self.starts, &self.ends, &self.range_results)
    }

    /// The intervals that reach into `[lo, hi]`, in address order, unclipped: a
    /// difference of two versions looks only where something changed.
    pub(crate) fn intervals_in(&self, lo: K, hi: K) -> impl Iterator<Item = (K, K, ResultId)> + '_ {
        let (from, to) = (
            self.singles.partition_point(|&s| s < lo),
            self.singles.partition_point(|&s| s <= hi),
        );
        // Ranges are disjoint and sorted: their ends are sorted too.
        let (range_from, range_to) = (
            self.ends.partition_point(|&e| e < lo),
            self.starts.partition_point(|&s| s <= hi),
        );
        let singles = self.singles[from..to]
            .iter()
            .zip(&self.single_results[from..to])
            .map(|(&a, &r)| (a, a, r));
        let range_to = range_to.max(range_from);
        let ranges = self.starts[range_from..range_to]
            .iter()
            .zip(&self.ends[range_from..range_to])
            .zip(&self.range_results[range_from..range_to])
            .map(|((&s, &e), &r)| (s, e, r));
        in_order(singles, ranges)
    }

    /// All intervals in address order: (first, last, result).
    pub(crate) fn intervals(&self) -> impl Iterator<Item = (K, K, ResultId)> + '_ {
        self.intervals_in(K::zero(), K::zero().not())
    }
}

/// Single addresses and ranges (each sorted, all disjoint) as one sorted stream.
fn in_order<K: IpKey>(
    singles: impl Iterator<Item = (K, K, ResultId)>,
    ranges: impl Iterator<Item = (K, K, ResultId)>,
) -> impl Iterator<Item = (K, K, ResultId)> {
    let (mut singles, mut ranges) = (singles.peekable(), ranges.peekable());
    std::iter::from_fn(move || match (singles.peek(), ranges.peek()) {
        (Some(a), Some(b)) if a.0 < b.0 => singles.next(),
        (Some(_), Some(_)) => ranges.next(),
        (Some(_), None) => singles.next(),
        (None, _) => ranges.next(),
    })
}

/// How entries for the same prefix combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SamePrefix {
    /// All listings answer together; one exclusion beats them (ip4set, ward format).
    Union,
    /// The first entry wins; later ones are reported as duplicates (rbldnsd's tries).
    FirstWins,
}

/// What one entry says about its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Value(u32),
    Excluded,
}

#[derive(Debug, Clone, Copy)]
struct PrefixEntry<K> {
    start: K,
    len: u8,
    /// A value id, or [`EXCLUDED`]: packed, since a zone has millions of these.
    listing: u32,
    /// Source line, to name duplicates.
    line: u32,
}

const EXCLUDED: u32 = u32::MAX;

impl Listing {
    fn pack(self) -> u32 {
        match self {
            Listing::Value(v) => v,
            Listing::Excluded => EXCLUDED,
        }
    }
}

/// A prefix given twice where only the first counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub(crate) line: u32,
    pub(crate) first_line: u32,
}

/// Collects prefixes, then flattens them into a [`PrefixMap`].
pub(crate) struct PrefixMapBuilder<K: IpKey> {
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
    pub(crate) fn reserve(&mut self, entries: usize) {
        self.entries.reserve(entries);
    }

    /// Adds `start/len`; host bits of `start` are cleared.
    pub(crate) fn add(&mut self, start: K, len: u8, listing: Listing, line: u32) {
        let len = len.min(K::BITS);
        self.entries.push(PrefixEntry {
            start: start.and(K::netmask(len)),
            len,
            listing: listing.pack(),
            line,
        });
    }

    /// Adds the inclusive range `[first, last]` as the fewest CIDR blocks.
    pub(crate) fn add_range(&mut self, first: K, last: K, listing: Listing, line: u32) {
        for (start, len) in range_to_cidrs(first, last) {
            self.add(start, len, listing, line);
        }
    }

    /// Flattens the prefixes. `intern` turns a set of value ids (sorted, deduplicated)
    /// into a result id.
    pub(crate) fn build(
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
        let mut values: Vec<u32> = Vec::new();
        let entries = &self.entries;
        let mut i = 0;
        // One (first, last, result) per distinct prefix, straight into the sweep.
        let prefixes = std::iter::from_fn(|| {
            let first = *entries.get(i)?;
            let mut j = i + 1;
            while j < entries.len()
                && entries[j].start == first.start
                && entries[j].len == first.len
            {
                j += 1;
            }
            let group = &entries[i..j];
            i = j;
            let result = match rule {
                SamePrefix::FirstWins => {
                    duplicates.extend(group[1..].iter().map(|e| Duplicate {
                        line: e.line,
                        first_line: first.line,
                    }));
                    (first.listing != EXCLUDED).then(|| intern(&[first.listing]))
                }
                SamePrefix::Union => {
                    if group.iter().any(|e| e.listing == EXCLUDED) {
                        None
                    } else {
                        values.clear();
                        values.extend(group.iter().map(|e| e.listing));
                        values.sort_unstable();
                        values.dedup();
                        Some(intern(&values))
                    }
                }
            };
            Some((
                first.start,
                first.start.or(K::netmask(first.len).not()),
                result,
            ))
        });
        let map = flatten(prefixes, self.entries.len());
        (map, duplicates)
    }
}

/// Sweeps prefixes sorted by (start, outer first) — a laminar family: any two are nested
/// or disjoint — and emits where each one is the innermost, skipping exclusions.
fn flatten<K: IpKey>(
    prefixes: impl Iterator<Item = (K, K, Option<ResultId>)>,
    expected: usize,
) -> PrefixMap<K> {
    let mut out = IntervalSink::with_capacity(expected);
    // Open prefixes, innermost last: (last address, result).
    let mut stack: Vec<(K, Option<ResultId>)> = Vec::with_capacity(8);
    // First address not yet emitted; `None` once the whole space is done.
    let mut cursor: Option<K> = Some(K::zero());
    for (start, last, result) in prefixes {
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

/// Collects the flattened intervals straight into a [`PrefixMap`]'s vectors, merging
/// adjacent intervals of the same result.
struct IntervalSink<K: IpKey> {
    map: PrefixMap<K>,
    /// The last interval, not yet stored: the next one may extend it.
    pending: Option<(K, K, ResultId)>,
}

impl<K: IpKey> IntervalSink<K> {
    fn with_capacity(prefixes: usize) -> Self {
        let mut map = PrefixMap::default();
        // Nearly all intervals of a real list are single addresses.
        map.singles.reserve(prefixes);
        map.single_results.reserve(prefixes);
        IntervalSink { map, pending: None }
    }

    fn push(&mut self, first: K, last: K, result: Option<ResultId>) {
        let Some(result) = result else { return };
        if let Some(pending) = &mut self.pending
            && pending.2 == result
            && pending.1.add_one() == Some(first)
        {
            pending.1 = last;
            return;
        }
        self.store();
        self.pending = Some((first, last, result));
    }

    fn store(&mut self) {
        let Some((first, last, result)) = self.pending.take() else {
            return;
        };
        let map = &mut self.map;
        if first == last {
            map.singles.push(first);
            map.single_results.push(result);
        } else {
            map.starts.push(first);
            map.ends.push(last);
            map.range_results.push(result);
        }
    }

    fn finish(mut self) -> PrefixMap<K> {
        self.store();
        let map = self.map;
        // Copied once into place: exact size, large ones on huge pages.
        let mut map = PrefixMap {
            singles: on_huge_pages(map.singles),
            single_results: on_huge_pages(map.single_results),
            starts: on_huge_pages(map.starts),
            ends: on_huge_pages(map.ends),
            range_results: on_huge_pages(map.range_results),
            ..PrefixMap::default()
        };
        // The bucket index (65,537 entries, 512 KiB) is built at its exact size.
        map.index();
        map
    }
}

/// The fewest CIDR blocks covering `[first, last]` exactly.
pub(crate) fn range_to_cidrs<K: IpKey>(first: K, last: K) -> impl Iterator<Item = (K, u8)> {
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
pub(crate) fn range_to_ip4set_blocks(first: u32, last: u32) -> impl Iterator<Item = (u32, u8)> {
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
    fn clustered_ipv6_lists_use_buckets_below_their_shared_prefix() {
        let base: u128 = 0x2001_0db8 << 96;
        let mut builder = PrefixMapBuilder::default();
        let mut listed = Vec::new();
        for i in 0..5000u128 {
            let addr = base | (i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) >> 32);
            listed.push(addr);
            builder.add(addr, 128, Listing::Value((i % 3) as u32), 0);
        }
        builder.add(base | (0xffff << 80), 48, Listing::Value(9), 0);
        let (map, _) = builder.build(SamePrefix::Union, |v| v[0]);
        assert!(!map.buckets.is_empty());
        assert_eq!(map.shared, 32);
        for (i, &addr) in listed.iter().enumerate() {
            if addr >> 80 != (base | (0xffff << 80)) >> 80 {
                assert_eq!(map.get(addr), Some((i % 3) as u32));
            }
        }
        assert_eq!(map.get(base | (0xffff << 80) | 5), Some(9));
        assert_eq!(map.get(0x2001_0db9 << 96), None, "outside the span");
        assert_eq!(map.get(1), None);
        assert_eq!(map.get(u128::MAX), None);
    }

    /// Ranges that span many buckets, start before a bucket or end inside one, checked
    /// against a plain longest-prefix search on every probe.
    #[test]
    fn bucketed_lookups_match_a_linear_longest_prefix_search() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut entries = Vec::new();
        let mut builder = PrefixMapBuilder::default();
        for i in 0..4000u32 {
            let len: u8 = [32, 32, 32, 28, 24, 20, 16, 12, 9][(next() % 9) as usize];
            let start = (next() as u32) & !(u32::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            let listing = if i % 11 == 0 {
                Listing::Excluded
            } else {
                Listing::Value(i % 5)
            };
            builder.add(start, len, listing, i);
            entries.push((start, len, listing));
        }
        let (map, _) = builder.build(SamePrefix::FirstWins, |v| v[0]);
        assert!(!map.buckets.is_empty());
        let linear = |addr: u32| {
            let mut best: Option<(u8, Listing)> = None;
            for &(start, len, listing) in &entries {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                if addr & mask == start && best.is_none_or(|(l, _)| len > l) {
                    best = Some((len, listing));
                }
            }
            match best {
                Some((_, Listing::Value(v))) => Some(v),
                _ => None,
            }
        };
        let edges = entries.iter().flat_map(|&(start, len, _)| {
            let last = start | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            [start.wrapping_sub(1), start, last, last.wrapping_add(1)]
        });
        let probes: Vec<u32> = edges.chain((0..20_000).map(|_| next() as u32)).collect();
        for addr in probes {
            // Warming reads the same windows as `get`: it must not index out of them.
            map.prefetch(addr, Warm::Bucket);
            map.prefetch(addr, Warm::Entries);
            assert_eq!(
                map.get(addr),
                linear(addr),
                "addr {}",
                std::net::Ipv4Addr::from(addr)
            );
        }
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
