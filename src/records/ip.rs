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
use crate::zone::name::Name;

/// The listings at one address: (index of the dataset in its group, result). Results
/// are canonical ([`canonical_results`]): two keys are equal exactly when they answer
/// the same, so the records depend on what is listed, never on how it was numbered.
pub(super) type Key = SmallVec<[(u16, u32); 2]>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) first: u128,
    pub(super) last: u128,
    pub(super) key: Key,
}

/// IPv4 or IPv6: how addresses are cut into labels.
#[derive(Clone, Copy)]
pub(super) struct Family {
    /// Address bits.
    pub(super) bits: u32,
    /// Bits a label holds (8: an octet, 4: a nibble).
    pub(super) step: u32,
    v6: bool,
}

pub(super) const V4: Family = Family {
    bits: 32,
    step: 8,
    v6: false,
};
pub(super) const V6: Family = Family {
    bits: 128,
    step: 4,
    v6: true,
};

impl Family {
    pub(super) fn levels(self) -> u32 {
        self.bits / self.step
    }

    pub(super) fn is_v6(self) -> bool {
        self.v6
    }

    /// Address bits a node `depth` units deep spans.
    pub(super) fn bits_below(self, depth: u32) -> u32 {
        self.bits - depth * self.step
    }

    /// The first address of the node `depth` units deep that holds `addr`.
    pub(super) fn node_base(self, addr: u128, depth: u32) -> u128 {
        addr & !self.node_last(0, depth)
    }

    /// The last address of the node `depth` units deep at `base`.
    pub(super) fn node_last(self, base: u128, depth: u32) -> u128 {
        let size_bits = self.bits - depth * self.step;
        if size_bits >= 128 {
            u128::MAX
        } else {
            base | ((1u128 << size_bits) - 1)
        }
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
    let side = Side::new(V4, group, attach, now);
    Cover::new(side)
}

pub(super) fn ip6_records<'z>(
    group: Vec<&'z Dataset>,
    attach: Name,
    now: i64,
) -> impl Iterator<Item = Rr> + 'z {
    let side = Side::new(V6, group, attach, now);
    Cover::new(side)
}

/// One family of the IP data attached at one place, as of `now`: what its records are
/// made from.
pub(super) struct Side<'z> {
    pub(super) family: Family,
    pub(super) group: Vec<&'z Dataset>,
    pub(super) attach: Name,
    /// The other family has data here too (see [`Family::wildcard_allowed`]).
    pub(super) other_family: bool,
    pub(super) now: i64,
    /// Per dataset, each result's canonical result ([`canonical_results`]).
    pub(super) canon: Vec<Vec<u32>>,
}

/// A result none of whose values is live.
pub(super) const DEAD: u32 = u32::MAX;

impl<'z> Side<'z> {
    pub(super) fn new(family: Family, group: Vec<&'z Dataset>, attach: Name, now: i64) -> Self {
        let other_family = group.iter().any(|d| {
            if family.v6 {
                !d.ip4.is_empty()
            } else {
                !d.ip6.is_empty()
            }
        });
        let canon = group.iter().map(|d| canonical_results(d, now)).collect();
        Side {
            family,
            group,
            attach,
            other_family,
            now,
            canon,
        }
    }

    /// One dataset's intervals reaching into `[lo, hi]`.
    pub(super) fn intervals(&self, dataset: usize, lo: u128, hi: u128) -> Intervals<'z> {
        let d = self.group[dataset];
        if self.family.v6 {
            Box::new(d.ip6.intervals_in(lo, hi))
        } else {
            let (lo, hi) = (
                lo.min(u128::from(u32::MAX)) as u32,
                hi.min(u128::from(u32::MAX)) as u32,
            );
            Box::new(
                d.ip4
                    .intervals_in(lo, hi)
                    .map(|(f, l, r)| (u128::from(f), u128::from(l), r)),
            )
        }
    }

    /// The elementary spans from `lo` on (clipped to `[lo, hi]`), in address order.
    pub(super) fn spans_from(&self, lo: u128, hi: u128) -> SpanMerge<'_> {
        SpanMerge {
            canon: &self.canon,
            sources: (0..self.group.len())
                .map(|d| self.intervals(d, lo, hi).peekable())
                .collect(),
            position: Some(lo),
            end: hi,
        }
    }

    /// The elementary spans within `[lo, hi]`.
    pub(super) fn spans(&self, lo: u128, hi: u128) -> Vec<Span> {
        self.spans_from(lo, hi).collect()
    }

    /// The records of `key` at the node (or its wildcard); `$` is the node's first
    /// address, as in rbldnsd's dump.
    pub(super) fn emit(
        &self,
        key: &Key,
        base: u128,
        depth: u32,
        wildcard: bool,
        out: &mut Vec<Rr>,
    ) {
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

    /// The key of a node's wildcard: one when its spans cover it and a wildcard may
    /// stand there, with the answer covering most of it.
    pub(super) fn wildcard(&self, spans: &[Span], base: u128, depth: u32) -> Option<Key> {
        let last = self.family.node_last(base, depth);
        (covers(spans, base, last) && self.family.wildcard_allowed(base, depth, self.other_family))
            .then(|| most_common(spans, base, last))
    }
}

/// Each result's representative: the first result answering the same (the same
/// return codes and texts live at `now`), [`DEAD`] for one with nothing live. Two
/// results differ in their values' expiries and answer the same while both live.
pub(super) fn canonical_results(dataset: &Dataset, now: i64) -> Vec<u32> {
    let values = &dataset.values;
    let mut seen: HashMap<Signature<'_>, u32> = HashMap::new();
    (0..values.result_count())
        .map(|result| {
            let signature = answer_signature(values, result, now);
            if signature.is_empty() {
                return DEAD;
            }
            *seen.entry(signature).or_insert(result)
        })
        .collect()
}

/// What a result answers: its live return codes and texts, sorted.
pub(super) type Signature<'v> = Vec<([u8; 4], Option<&'v crate::zone::reason::Template>)>;

/// What a result answers at `now`.
pub(super) fn answer_signature(
    values: &crate::zone::value::ValueTable,
    result: u32,
    now: i64,
) -> Signature<'_> {
    let mut signature: Vec<_> = values
        .result(result)
        .iter()
        .map(|&id| values.value(id))
        .filter(|value| value.is_live(now))
        .map(|value| (value.a, values.txt(value)))
        .collect();
    signature.sort_unstable();
    signature.dedup();
    signature
}

/// Each result of `dataset` numbered by what it answers at `now`: equal numbers for
/// equal answers, across every dataset and version numbered with the same `numbers`.
pub(super) fn answer_numbers<'z>(
    numbers: &mut HashMap<Signature<'z>, u32>,
    dataset: &'z Dataset,
    now: i64,
) -> Vec<u32> {
    (0..dataset.values.result_count())
        .map(|result| {
            let next = numbers.len() as u32;
            *numbers
                .entry(answer_signature(&dataset.values, result, now))
                .or_insert(next)
        })
        .collect()
}

/// One dataset's intervals: (first, last, result).
pub(super) type Intervals<'z> = Box<dyn Iterator<Item = (u128, u128, u32)> + 'z>;

/// The datasets' intervals merged into elementary spans, in address order, each with
/// the listings that answer there (live ones only).
pub(super) struct SpanMerge<'s> {
    canon: &'s [Vec<u32>],
    sources: Vec<std::iter::Peekable<Intervals<'s>>>,
    /// The next address not yet given out; `None` past the end.
    position: Option<u128>,
    /// The last address to give out.
    end: u128,
}

impl Iterator for SpanMerge<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        loop {
            let position = self.position.filter(|&p| p <= self.end)?;
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
            if start > self.end {
                self.position = None;
                return None;
            }
            let mut end = self.end;
            let mut key = Key::new();
            for (i, source) in self.sources.iter_mut().enumerate() {
                let Some(&(first, last, result)) = source.peek() else {
                    continue;
                };
                if first <= start {
                    end = end.min(last);
                    let canonical = self.canon[i][result as usize];
                    if canonical != DEAD {
                        key.push((i as u16, canonical));
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

/// The records of one family, a top-level block at a time. Only the spans of the
/// current block are held (the cover is walked node by node, each node's records made
/// when reached): a transfer of a zone of millions of addresses holds one /8's spans,
/// not its records.
struct Cover<'z> {
    side: Side<'z>,
    /// Where the next block is looked for; `None` past the end.
    next: Option<u128>,
    /// The spans of the block being walked.
    block: Vec<Span>,
    /// Nodes of the block still to walk, the next on top.
    pending: Vec<Node>,
    ready: std::vec::IntoIter<Rr>,
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
    fn new(side: Side<'z>) -> Self {
        Cover {
            side,
            next: Some(0),
            block: Vec::new(),
            pending: Vec::new(),
            ready: Vec::new().into_iter(),
        }
    }

    /// Loads the spans of the next top-level block that has any; its base.
    fn next_block(&mut self) -> Option<u128> {
        let from = self.next?;
        let first = self.side.spans_from(from, u128::MAX).next()?;
        let base = self.side.family.node_base(first.first, 1);
        let last = self.side.family.node_last(base, 1);
        self.block = self.side.spans(base, last);
        self.next = last.checked_add(1);
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
        let family = self.side.family;
        if depth == family.levels() {
            self.side
                .emit(&self.block[from].key, base, depth, false, out);
            return;
        }
        let spans = &self.block[from..to];
        let wildcard = self.side.wildcard(spans, base, depth);
        let child_bits = family.bits_below(depth + 1);
        let first_pending = self.pending.len();
        for (child_base, child_from, child_to) in
            children(spans, base, child_bits, 1 << family.step)
        {
            let child = &spans[child_from..child_to];
            if skipped(family, wildcard.as_ref(), child, child_base, depth + 1) {
                continue;
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
            self.side.emit(&common, base, depth, true, out);
        }
    }
}

/// Whether a child node needs no records of its own: its parent's wildcard answers for
/// all of it, the same everywhere.
pub(super) fn skipped(
    family: Family,
    wildcard: Option<&Key>,
    child: &[Span],
    child_base: u128,
    child_depth: u32,
) -> bool {
    let Some(common) = wildcard else {
        return false;
    };
    let child_last = family.node_last(child_base, child_depth);
    child.len() == 1 && covers(child, child_base, child_last) && child[0].key == *common
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
pub(super) fn covers(spans: &[Span], first: u128, last: u128) -> bool {
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

/// The key covering the most addresses of `[first, last]`; of keys covering as many,
/// the one met first, so that the choice depends on what is listed where, never on
/// how results happen to be numbered.
fn most_common(spans: &[Span], first: u128, last: u128) -> Key {
    let mut counts: HashMap<&Key, (u128, usize)> = HashMap::new();
    for (at, span) in spans.iter().enumerate() {
        let size = (span.last.min(last) - span.first.max(first)).saturating_add(1);
        counts.entry(&span.key).or_insert((0, at)).0 += size;
    }
    counts
        .into_iter()
        .max_by(|a, b| (a.1).0.cmp(&(b.1).0).then_with(|| (b.1).1.cmp(&(a.1).1)))
        .map(|(key, _)| key.clone())
        .unwrap_or_default()
}

/// The children of a node that hold spans: (child base, the range of `spans` reaching
/// into it). Spans that reach past a child's edges are shared by its neighbours; the
/// callers clip them by the child's bounds.
pub(super) fn children(
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
