//! IP data as records. The IP datasets attached at one place are merged into
//! elementary spans (each with the set of listings that answer there), then each
//! top-level block (an IPv4 /8, an IPv6 /4) is covered by the fewest aligned
//! wildcards and names: a node entirely listed gets a wildcard with its most common
//! answer, and only its children that differ are described below it (their own
//! wildcard, repeating the parent's answer where it still applies); a node with a gap
//! gets no wildcard (that would list the gap) and is split.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;

use super::{AnswerRecords, Rr};
use crate::zone::Dataset;
use crate::zone::ip::PrefixMap;
use crate::zone::name::Name;

/// The listings at one address: (index of the dataset in its group, result).
type Key = SmallVec<[(u16, u32); 2]>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    first: u128,
    last: u128,
    key: Key,
}

/// IPv4 or IPv6: how addresses are cut into labels.
#[derive(Clone, Copy)]
struct Family {
    /// Address bits.
    bits: u32,
    /// Bits a label holds (8: an octet, 4: a nibble).
    step: u32,
    v6: bool,
}

const V4: Family = Family {
    bits: 32,
    step: 8,
    v6: false,
};
const V6: Family = Family {
    bits: 128,
    step: 4,
    v6: true,
};

impl Family {
    fn levels(self) -> u32 {
        self.bits / self.step
    }

    /// The label at `level` (1 = the most significant unit) of `addr`.
    fn unit(self, addr: u128, level: u32) -> u32 {
        ((addr >> (self.bits - level * self.step)) & ((1 << self.step) - 1)) as u32
    }

    /// The owner of the node `depth` units deep at `base`, or its wildcard: its wire
    /// form written directly (this runs once a node of every transfer).
    fn owner(self, base: u128, depth: u32, wildcard: bool, attach: &Name) -> Option<Name> {
        let mut wire = Vec::with_capacity(depth as usize * 4 + 2 + attach.wire().len());
        if wildcard {
            wire.extend_from_slice(b"\x01*");
        }
        let mut digits = [0u8; 3];
        for level in (1..=depth).rev() {
            let unit = self.unit(base, level);
            let text: &[u8] = if self.v6 {
                digits[0] = b"0123456789abcdef"[unit as usize & 0xf];
                &digits[..1]
            } else {
                let mut n = unit;
                let mut at = 3;
                loop {
                    at -= 1;
                    digits[at] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                &digits[at..]
            };
            wire.push(text.len() as u8);
            wire.extend_from_slice(text);
        }
        wire.extend_from_slice(attach.wire());
        (wire.len() <= 255).then(|| Name::from_lower_wire(&wire))
    }

    fn subject(self, addr: u128) -> String {
        if self.v6 {
            Ipv6Addr::from(addr).to_string()
        } else {
            Ipv4Addr::from(addr as u32).to_string()
        }
    }

    /// Nodes up to this deep must not be wildcards when the other family has data
    /// here: an IPv4 wildcard of one-digit octets would also match IPv6 names (and an
    /// IPv6 one of decimal nibbles IPv4 names, which have four labels).
    fn wildcard_allowed(self, base: u128, depth: u32, other_family: bool) -> bool {
        if depth == 0 {
            // Never at the zone's (or subzone's) apex: it would list every name.
            return false;
        }
        if !other_family {
            return true;
        }
        if self.v6 {
            depth >= 4 || (1..=depth).any(|l| self.unit(base, l) >= 10)
        } else {
            (1..=depth).any(|l| self.unit(base, l) >= 10)
        }
    }
}

pub(super) fn ip4_records<'z>(
    group: Vec<&'z Dataset>,
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let other = group.iter().any(|d| !d.ip6.is_empty());
    let maps: Vec<Intervals<'z>> = group.iter().map(|d| intervals(&d.ip4)).collect();
    Cover::new(V4, group, maps, attach, other, now)
}

pub(super) fn ip6_records<'z>(
    group: Vec<&'z Dataset>,
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let other = group.iter().any(|d| !d.ip4.is_empty());
    let maps: Vec<Intervals<'z>> = group.iter().map(|d| intervals(&d.ip6)).collect();
    Cover::new(V6, group, maps, attach, other, now)
}

/// One dataset's intervals: (first, last, result).
type Intervals<'z> = Box<dyn Iterator<Item = (u128, u128, u32)> + 'z>;

fn intervals<K: crate::zone::ip::IpKey>(map: &PrefixMap<K>) -> Intervals<'_> {
    Box::new(
        map.intervals()
            .map(|(first, last, result)| (first.to_u128(), last.to_u128(), result)),
    )
}

/// The datasets' intervals merged into elementary spans, in address order, each with
/// the listings that answer there (live ones only).
struct SpanMerge<'z> {
    group: Vec<&'z Dataset>,
    sources: Vec<std::iter::Peekable<Intervals<'z>>>,
    /// The next address not yet given out; `None` past the end of the space.
    position: Option<u128>,
    now: i64,
}

impl Iterator for SpanMerge<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        loop {
            let position = self.position?;
            // Intervals wholly before the position are done.
            for source in &mut self.sources {
                while source.peek().is_some_and(|&(_, last, _)| last < position) {
                    source.next();
                }
            }
            let start = self
                .sources
                .iter_mut()
                .filter_map(|s| s.peek().map(|&(first, _, _)| first.max(position)))
                .min()?;
            let mut end = u128::MAX;
            let mut key = Key::new();
            for (i, source) in self.sources.iter_mut().enumerate() {
                let Some(&(first, last, result)) = source.peek() else {
                    continue;
                };
                if first <= start {
                    end = end.min(last);
                    if live(self.group[i], result, self.now) {
                        key.push((i as u16, result));
                    }
                } else {
                    end = end.min(first - 1);
                }
            }
            self.position = end.checked_add(1);
            if !key.is_empty() {
                return Some(Span {
                    first: start,
                    last: end,
                    key,
                });
            }
        }
    }
}

fn live(dataset: &Dataset, result: u32, now: i64) -> bool {
    dataset
        .values
        .result(result)
        .iter()
        .any(|&id| dataset.values.value(id).is_live(now))
}

/// The records of one family, a top-level block at a time. Only the spans of the
/// current block are held (the cover is walked node by node, each node's records made
/// when reached): a transfer of a zone of millions of addresses holds one /8's spans,
/// not its records.
struct Cover<'z> {
    family: Family,
    group: Vec<&'z Dataset>,
    spans: std::iter::Peekable<SpanMerge<'z>>,
    attach: Name,
    other_family: bool,
    now: i64,
    /// The spans of the block being walked.
    block: Vec<Span>,
    /// Nodes of the block still to walk, the next on top.
    pending: Vec<Node>,
    ready: std::vec::IntoIter<Rr>,
    /// The part of a span that runs into the next block.
    carry: Option<Span>,
}

/// A node of the cover still to walk: the spans `from..to` of the block, within the
/// node at `base`, `depth` units deep.
struct Node {
    base: u128,
    depth: u32,
    from: usize,
    to: usize,
}

impl<'z> Cover<'z> {
    fn new(
        family: Family,
        group: Vec<&'z Dataset>,
        maps: Vec<Intervals<'z>>,
        attach: Name,
        other_family: bool,
        now: i64,
    ) -> Self {
        let spans = SpanMerge {
            group: group.clone(),
            sources: maps.into_iter().map(Iterator::peekable).collect(),
            position: Some(0),
            now,
        }
        .peekable();
        Cover {
            family,
            group,
            spans,
            attach,
            other_family,
            now,
            block: Vec::new(),
            pending: Vec::new(),
            ready: Vec::new().into_iter(),
            carry: None,
        }
    }

    /// Loads the spans of the next top-level block that has any; its base.
    fn next_block(&mut self) -> Option<u128> {
        let first = match self.carry.take() {
            Some(span) => span,
            None => self.spans.next()?,
        };
        let shift = self.family.bits - self.family.step;
        let block = first.first >> shift;
        let base = block << shift;
        let last = base | ((1u128 << shift) - 1);
        self.block.clear();
        let spans = &mut self.block;
        let mut push = |mut span: Span, carry: &mut Option<Span>| {
            if span.last > last {
                let mut rest = span.clone();
                rest.first = last + 1;
                *carry = Some(rest);
                span.last = last;
            }
            spans.push(span);
        };
        push(first, &mut self.carry);
        while self.carry.is_none() {
            match self.spans.peek() {
                Some(span) if span.first <= last => {
                    let span = self.spans.next()?;
                    push(span, &mut self.carry);
                }
                _ => break,
            }
        }
        Some(base)
    }

    /// Walks one node: its records into `out` (a wildcard, or an address), its
    /// children that need describing onto the pending stack, first child on top.
    fn walk(&mut self, node: Node, out: &mut Vec<Rr>) {
        let Node {
            base,
            depth,
            from,
            to,
        } = node;
        if from >= to {
            return;
        }
        let family = self.family;
        if depth == family.levels() {
            let key = self.block[from].key.clone();
            self.emit(&key, base, depth, false, out);
            return;
        }
        let spans = &self.block[from..to];
        let size_bits = family.bits - depth * family.step;
        let last = base | ((1u128 << size_bits) - 1);
        let child_bits = size_bits - family.step;
        let wildcard = (covers(spans, base, last)
            && family.wildcard_allowed(base, depth, self.other_family))
        .then(|| most_common(spans, base, last));
        let first_pending = self.pending.len();
        for (child_base, child_from, child_to) in
            children(spans, base, child_bits, 1 << family.step)
        {
            let child = &spans[child_from..child_to];
            if let Some(common) = &wildcard {
                let child_last = child_base | ((1u128 << child_bits) - 1);
                let uniform = child.len() == 1 && covers(child, child_base, child_last);
                if uniform && child[0].key == *common {
                    continue;
                }
            }
            self.pending.push(Node {
                base: child_base,
                depth: depth + 1,
                from: from + child_from,
                to: from + child_to,
            });
        }
        self.pending[first_pending..].reverse();
        if let Some(common) = wildcard {
            self.emit(&common, base, depth, true, out);
        }
    }

    /// The records of `key` at the node (or its wildcard); `$` is the node's first
    /// address, as in rbldnsd's dump.
    fn emit(&self, key: &Key, base: u128, depth: u32, wildcard: bool, out: &mut Vec<Rr>) {
        let Some(owner) = self.family.owner(base, depth, wildcard, &self.attach) else {
            return;
        };
        let subject = self.family.subject(base);
        let mut answers = AnswerRecords::default();
        for &(dataset, result) in key {
            answers.add(
                self.group[usize::from(dataset)],
                result,
                subject.as_bytes(),
                self.now,
            );
        }
        answers.into_records(&owner, out);
    }
}

impl Iterator for Cover<'_> {
    type Item = Rr;

    fn next(&mut self) -> Option<Rr> {
        loop {
            if let Some(rr) = self.ready.next() {
                return Some(rr);
            }
            let node = match self.pending.pop() {
                Some(node) => node,
                None => {
                    let base = self.next_block()?;
                    Node {
                        base,
                        depth: 1,
                        from: 0,
                        to: self.block.len(),
                    }
                }
            };
            let mut out = Vec::new();
            self.walk(node, &mut out);
            self.ready = out.into_iter();
        }
    }
}

/// Whether `spans` (sorted, disjoint) cover `[first, last]` without a gap.
fn covers(spans: &[Span], first: u128, last: u128) -> bool {
    let mut next = first;
    for span in spans {
        if span.last < next {
            continue;
        }
        if span.first > next {
            return false;
        }
        if span.last >= last {
            return true;
        }
        next = span.last + 1;
    }
    false
}

/// The key covering the most addresses of `[first, last]`.
fn most_common(spans: &[Span], first: u128, last: u128) -> Key {
    let mut counts: HashMap<&Key, u128> = HashMap::new();
    for span in spans {
        let size = (span.last.min(last) - span.first.max(first)).saturating_add(1);
        *counts.entry(&span.key).or_default() += size;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(key, _)| key.clone())
        .unwrap_or_default()
}

/// The children of a node that hold spans: (child base, the range of `spans` reaching
/// into it). Spans that reach past a child's edges are shared by its neighbours; the
/// callers clip them by the child's bounds.
fn children(
    spans: &[Span],
    base: u128,
    child_bits: u32,
    count: u128,
) -> impl Iterator<Item = (u128, usize, usize)> + '_ {
    let size = 1u128 << child_bits;
    let mut index = 0;
    std::iter::from_fn(move || {
        while index < count {
            let child_base = base + index * size;
            let child_last = child_base + (size - 1);
            index += 1;
            let from = spans.partition_point(|s| s.last < child_base);
            let to = spans.partition_point(|s| s.first <= child_last);
            if from < to {
                return Some((child_base, from, to));
            }
            // Skip straight to the child of the next span.
            if let Some(span) = spans.get(from) {
                let next = (span.first - base) >> child_bits;
                index = index.max(next);
            } else {
                return None;
            }
        }
        None
    })
}
