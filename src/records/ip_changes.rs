//! The IP records that differ between two versions of the data attached at one place,
//! made only where the data changed. A version's records are a function of its
//! elementary spans (see `ip`): a node of the cover whose spans are the same in both
//! versions, and which its parent's wildcard covers alike in both, has the same
//! records below it. So the two versions' intervals are compared first (sorted arrays,
//! linear and cheap), the regions where they differ are the dirty ones, and the two
//! covers are walked side by side from the top-level blocks down, entering only nodes
//! that touch a dirty region — plus the children a changed wildcard starts or stops
//! covering.

use std::collections::HashMap;

use super::Rr;
use super::ip::{DEAD, Key, Side, Signature, Span, answer_signature, children, covers, skipped};
use crate::zone::ip::{IpKey, PrefixMap};

/// Address regions (first, last) where two versions differ: sorted, disjoint.
pub(super) struct Dirty(Vec<(u128, u128)>);

impl Dirty {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The dirty regions that reach into `[lo, hi]`, clipped to it.
    fn within(&self, lo: u128, hi: u128) -> impl Iterator<Item = (u128, u128)> + '_ {
        let from = self.0.partition_point(|&(_, last)| last < lo);
        self.0[from..]
            .iter()
            .take_while(move |&&(first, _)| first <= hi)
            .map(move |&(first, last)| (first.max(lo), last.min(hi)))
    }

    fn touches(&self, lo: u128, hi: u128) -> bool {
        self.within(lo, hi).next().is_some()
    }
}

/// Each dataset's results numbered by what they answer, the same numbers in both
/// versions: (old, new), per dataset of the group.
type Answers = Vec<(Vec<u32>, Vec<u32>)>;

fn shared_answers<'z>(old: &Side<'z>, new: &Side<'z>) -> Answers {
    let mut numbers: HashMap<Signature<'z>, u32> = HashMap::new();
    let mut number = |side: &Side<'z>, dataset: usize| -> Vec<u32> {
        let values: &'z crate::zone::value::ValueTable = &side.group[dataset].values;
        side.canon[dataset]
            .iter()
            .map(|&canonical| {
                if canonical == DEAD {
                    return DEAD;
                }
                let next = numbers.len() as u32;
                *numbers
                    .entry(answer_signature(values, canonical, side.now))
                    .or_insert(next)
            })
            .collect()
    };
    (0..old.group.len())
        .map(|d| (number(old, d), number(new, d)))
        .collect()
}

/// Where the two versions' intervals differ: every interval of one that the other does
/// not have, with the same bounds and the same answer. Both versions' groups hold the
/// same number of datasets.
pub(super) fn dirty_regions(old: &Side<'_>, new: &Side<'_>) -> Dirty {
    let answers = shared_answers(old, new);
    let mut marks = Vec::new();
    for (dataset, (old_answers, new_answers)) in answers.iter().enumerate() {
        let (a, b) = (old.group[dataset], new.group[dataset]);
        // The same parse (a file that did not change, see `load::cache`), answering
        // the same at both build times: nothing to compare in a list of any size.
        if std::ptr::eq(a, b) && old_answers == new_answers {
            continue;
        }
        if old.family.is_v6() {
            mark_changes(&a.ip6, &b.ip6, old_answers, new_answers, &mut marks);
        } else {
            mark_changes(&a.ip4, &b.ip4, old_answers, new_answers, &mut marks);
        }
    }
    marks.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(marks.len());
    for (first, last) in marks {
        match merged.last_mut() {
            Some(previous) if first <= previous.1.saturating_add(1) => {
                previous.1 = previous.1.max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    Dirty(merged)
}

/// Marks the single addresses and the ranges of one map that the other lacks.
fn mark_changes<K: IpKey>(
    old: &PrefixMap<K>,
    new: &PrefixMap<K>,
    old_answers: &[u32],
    new_answers: &[u32],
    marks: &mut Vec<(u128, u128)>,
) {
    let (old_singles, old_results) = old.singles();
    let (new_singles, new_results) = new.singles();
    symmetric_difference(
        old_singles
            .iter()
            .zip(old_results)
            .map(|(&a, &r)| (a, a, old_answers[r as usize])),
        new_singles
            .iter()
            .zip(new_results)
            .map(|(&a, &r)| (a, a, new_answers[r as usize])),
        marks,
    );
    let (old_starts, old_ends, old_results) = old.ranges();
    let (new_starts, new_ends, new_results) = new.ranges();
    symmetric_difference(
        old_starts
            .iter()
            .zip(old_ends)
            .zip(old_results)
            .map(|((&s, &e), &r)| (s, e, old_answers[r as usize])),
        new_starts
            .iter()
            .zip(new_ends)
            .zip(new_results)
            .map(|((&s, &e), &r)| (s, e, new_answers[r as usize])),
        marks,
    );
}

/// Marks every interval of either sorted stream that the other lacks.
fn symmetric_difference<K: IpKey>(
    old: impl Iterator<Item = (K, K, u32)>,
    new: impl Iterator<Item = (K, K, u32)>,
    marks: &mut Vec<(u128, u128)>,
) {
    let (mut old, mut new) = (old.peekable(), new.peekable());
    let mut mark = |(first, last, _): (K, K, u32)| marks.push((first.to_u128(), last.to_u128()));
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => return,
            (Some(_), None) => mark(old.next().expect("peeked")),
            (None, Some(_)) => mark(new.next().expect("peeked")),
            (Some(a), Some(b)) if a == b => {
                old.next();
                new.next();
            }
            (Some(a), Some(b)) if a.0 < b.0 => mark(old.next().expect("peeked")),
            (Some(a), Some(b)) if a.0 > b.0 => mark(new.next().expect("peeked")),
            (Some(_), Some(_)) => {
                mark(old.next().expect("peeked"));
                mark(new.next().expect("peeked"));
            }
        }
    }
}

/// The records of the dirty parts of both versions: (old's, new's).
pub(super) fn changed_records(old: &Side<'_>, new: &Side<'_>, dirty: &Dirty) -> (Vec<Rr>, Vec<Rr>) {
    let mut walk = Walk {
        old,
        new,
        dirty,
        removed: Vec::new(),
        added: Vec::new(),
    };
    let family = old.family;
    let mut blocks: Vec<u128> = dirty
        .0
        .iter()
        .flat_map(|&(first, last)| {
            let (from, to) = (family.node_base(first, 1), family.node_base(last, 1));
            let step = family.node_last(0, 1) + 1;
            (0..)
                .map(move |i: u128| from + i * step)
                .take_while(move |&base| base <= to)
        })
        .collect();
    blocks.dedup();
    for base in blocks {
        walk.node(base, 1, [false, false]);
    }
    (walk.removed, walk.added)
}

struct Walk<'w, 'z> {
    old: &'w Side<'z>,
    new: &'w Side<'z>,
    dirty: &'w Dirty,
    removed: Vec<Rr>,
    added: Vec<Rr>,
}

impl Walk<'_, '_> {
    /// One node of both covers; `skipped` says, per version, that the parent's
    /// wildcard answers for all of it (it then has no records of its own).
    fn node(&mut self, base: u128, depth: u32, skipped_in: [bool; 2]) {
        let family = self.old.family;
        match skipped_in {
            [true, true] => return,
            [true, false] => return full(self.new, base, depth, &mut self.added),
            [false, true] => return full(self.old, base, depth, &mut self.removed),
            [false, false] => {}
        }
        let last = family.node_last(base, depth);
        if depth == family.levels() {
            for (side, out) in [(self.old, &mut self.removed), (self.new, &mut self.added)] {
                if let Some(span) = side.spans(base, base).first() {
                    side.emit(&span.key, base, depth, false, out);
                }
            }
            return;
        }
        let [old_covered, new_covered] =
            [covered(self.old, base, last), covered(self.new, base, last)];
        let wildcards = [
            old_covered
                .as_ref()
                .and_then(|spans| self.old.wildcard(spans, base, depth)),
            new_covered
                .as_ref()
                .and_then(|spans| self.new.wildcard(spans, base, depth)),
        ];
        if let Some(key) = &wildcards[0] {
            self.old.emit(key, base, depth, true, &mut self.removed);
        }
        if let Some(key) = &wildcards[1] {
            self.new.emit(key, base, depth, true, &mut self.added);
        }
        let child_depth = depth + 1;
        let child_bits = family.bits_below(child_depth);
        if wildcards[0].is_none() && wildcards[1].is_none() {
            // No child is skipped: only those that touch a dirty region can differ.
            let mut bases: Vec<u128> = Vec::new();
            for (lo, hi) in self.dirty.within(base, last) {
                for side in [self.old, self.new] {
                    let spans = side.spans(lo, hi);
                    bases.extend(
                        children(&spans, base, child_bits, 1 << family.step).map(|(b, _, _)| b),
                    );
                }
            }
            bases.sort_unstable();
            bases.dedup();
            for child in bases {
                self.node(child, child_depth, [false, false]);
            }
            return;
        }
        // A wildcard in either version: every child may start or stop being skipped.
        let spans = [
            old_covered.unwrap_or_else(|| self.old.spans(base, last)),
            new_covered.unwrap_or_else(|| self.new.spans(base, last)),
        ];
        let mut bases: Vec<u128> = spans
            .iter()
            .flat_map(|s| children(s, base, child_bits, 1 << family.step).map(|(b, _, _)| b))
            .collect();
        bases.sort_unstable();
        bases.dedup();
        for child in bases {
            let child_last = family.node_last(child, child_depth);
            let within = |spans: &[Span]| -> Vec<Span> {
                let from = spans.partition_point(|s| s.last < child);
                let to = spans.partition_point(|s| s.first <= child_last);
                spans[from..to].to_vec()
            };
            let skips = [0, 1].map(|v| {
                skipped(
                    family,
                    wildcards[v].as_ref(),
                    &within(&spans[v]),
                    child,
                    child_depth,
                )
            });
            if self.dirty.touches(child, child_last) {
                self.node(child, child_depth, skips);
            } else if skips[0] != skips[1] {
                // The same spans, covered by the wildcard in one version only.
                self.node(child, child_depth, skips);
            }
        }
    }
}

/// The node's spans when they cover it whole (only then may it have a wildcard);
/// stops at the first gap.
fn covered(side: &Side<'_>, base: u128, last: u128) -> Option<Vec<Span>> {
    let mut spans = Vec::new();
    let mut next = base;
    for span in side.spans_from(base, last) {
        if span.first > next {
            return None;
        }
        next = span.last.saturating_add(1);
        spans.push(span);
        if spans.last().is_some_and(|s| s.last >= last) {
            return covers(&spans, base, last).then_some(spans);
        }
    }
    None
}

/// Every record of one version below (and at) a node, as the cover makes them.
fn full(side: &Side<'_>, base: u128, depth: u32, out: &mut Vec<Rr>) {
    let family = side.family;
    let last = family.node_last(base, depth);
    let spans = side.spans(base, last);
    if spans.is_empty() {
        return;
    }
    if depth == family.levels() {
        side.emit(&spans[0].key, base, depth, false, out);
        return;
    }
    let wildcard: Option<Key> = side.wildcard(&spans, base, depth);
    let child_depth = depth + 1;
    for (child, from, to) in children(
        &spans,
        base,
        family.bits_below(child_depth),
        1 << family.step,
    ) {
        if skipped(
            family,
            wildcard.as_ref(),
            &spans[from..to],
            child,
            child_depth,
        ) {
            continue;
        }
        full(side, child, child_depth, out);
    }
    if let Some(key) = wildcard {
        side.emit(&key, base, depth, true, out);
    }
}
