//! IXFR's journal (RFC 1995): the differences between successive versions of a zone,
//! computed at each reload by walking the old and the new records side by side (both
//! come out in the same fixed order), and kept within limits of versions and bytes,
//! as Knot's journal does. A secondary at a kept serial gets only the differences.

use std::collections::VecDeque;

use crate::records::{Rr, changed_records, record_order, records};
use crate::zone::Zone;

/// What changed from one serial to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) removed: Vec<Rr>,
    pub(crate) added: Vec<Rr>,
    /// Made from what changed, or (where that does not apply) by comparing every record:
    /// logged, so an operator sees why a difference took long.
    pub(crate) from_changes: bool,
}

impl Delta {
    fn bytes(&self) -> usize {
        self.removed
            .iter()
            .chain(&self.added)
            .map(Rr::wire_len)
            .sum()
    }
}

/// The records of `old` missing from `new`, and those of `new` missing from `old`, each
/// as built (and so as transferred). Linear in the zones' size; memory only for the
/// differences. The old records are made on a second thread while this one makes the
/// new ones: on a 10M-entry zone that halves the wait between a reload and the NOTIFY.
pub(crate) fn diff(old: &Zone, new: &Zone) -> Delta {
    if let Some((removed, added)) = changed_records(old, new) {
        return Delta {
            from: old.soa.serial,
            to: new.soa.serial,
            removed,
            added,
            from_changes: true,
        };
    }
    every_record_compared(old, new)
}

/// [`diff`] by comparing every record of both versions.
pub(crate) fn every_record_compared(old: &Zone, new: &Zone) -> Delta {
    const BATCH: usize = 1 << 16;
    let mut removed = Vec::new();
    let mut added = Vec::new();
    std::thread::scope(|scope| {
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Rr>>(2);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for rr in records(old, old.built_at) {
                batch.push(rr);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if batches.send(full).is_err() {
                        return;
                    }
                }
            }
            let _ = batches.send(batch);
        });
        let mut old_records = received.into_iter().flatten().peekable();
        let mut new_records = records(new, new.built_at).peekable();
        loop {
            match (old_records.peek(), new_records.peek()) {
                (None, None) => break,
                (Some(_), None) => removed.extend(old_records.next()),
                (None, Some(_)) => added.extend(new_records.next()),
                (Some(a), Some(b)) => match record_order(a, b) {
                    std::cmp::Ordering::Less => removed.extend(old_records.next()),
                    std::cmp::Ordering::Greater => added.extend(new_records.next()),
                    std::cmp::Ordering::Equal => {
                        old_records.next();
                        new_records.next();
                    }
                },
            }
        }
    });
    Delta {
        from: old.soa.serial,
        to: new.soa.serial,
        removed,
        added,
        from_changes: false,
    }
}

/// Limits of one zone's journal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JournalLimits {
    pub(crate) versions: usize,
    pub(crate) bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            versions: 100,
            bytes: 64 << 20,
        }
    }
}

/// The kept differences of one zone, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    deltas: VecDeque<Delta>,
    bytes: usize,
}

impl Journal {
    /// Adds the newest difference, dropping the oldest beyond the limits. A difference
    /// that does not follow the newest kept one starts the journal afresh.
    pub(crate) fn push(&mut self, delta: Delta, limits: JournalLimits) {
        if self.deltas.back().is_some_and(|last| last.to != delta.from) {
            self.deltas.clear();
            self.bytes = 0;
        }
        self.bytes += delta.bytes();
        self.deltas.push_back(delta);
        while self.deltas.len() > limits.versions.max(1) || self.bytes > limits.bytes {
            let Some(oldest) = self.deltas.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes();
        }
    }

    /// The differences that bring a secondary at `serial` to `current`, oldest first;
    /// `None` when the journal does not reach back to it (a full transfer then).
    pub(crate) fn since(&self, serial: u32, current: u32) -> Option<Vec<Delta>> {
        let start = self.deltas.iter().position(|d| d.from == serial)?;
        let chain: Vec<Delta> = self.deltas.iter().skip(start).cloned().collect();
        (chain.last()?.to == current).then_some(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::test_snapshot;
    use crate::records::Rdata;
    use crate::zone::name::Name;

    #[test]
    fn a_diff_holds_only_what_changed() {
        let mut old_text = String::from(":2:listed\n");
        for i in 0..2000u32 {
            old_text.push_str(&format!("10.0.{}.{}\n", i / 250, i % 250));
        }
        let new_text = old_text.replace("10.0.3.7\n", "") + "192.0.2.1 :3:new\n";
        let old = test_snapshot(&[("d.test.ip4set", &old_text)]);
        let new = test_snapshot(&[("d.test.ip4set", &new_text)]);
        let delta = diff(&old.zones()[0], &new.zones()[0]);
        let owners =
            |rrs: &[Rr]| -> Vec<String> { rrs.iter().map(|r| r.owner.to_string()).collect() };
        assert_eq!(owners(&delta.removed), ["7.3.0.10", "7.3.0.10"]);
        assert_eq!(owners(&delta.added), ["1.2.0.192", "1.2.0.192"]);
        assert!(
            delta
                .added
                .iter()
                .any(|r| r.data == Rdata::A([127, 0, 0, 3]))
        );
    }

    fn delta(from: u32, to: u32, size: usize) -> Delta {
        Delta {
            from,
            to,
            from_changes: true,
            removed: Vec::new(),
            added: (0..size)
                .map(|i| Rr {
                    owner: Name::parse(&format!("{i}.x")).unwrap(),
                    ttl: 1,
                    data: Rdata::A([127, 0, 0, 2]),
                })
                .collect(),
        }
    }

    #[test]
    fn the_journal_keeps_a_chain_within_its_limits() {
        let limits = JournalLimits {
            versions: 3,
            bytes: 1 << 20,
        };
        let mut journal = Journal::default();
        for serial in 1..=5 {
            journal.push(delta(serial, serial + 1, 1), limits);
        }
        assert_eq!(journal.deltas.len(), 3);
        assert!(journal.since(2, 6).is_none(), "dropped");
        let chain = journal.since(3, 6).unwrap();
        assert_eq!(chain.iter().map(|d| d.to).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(journal.since(5, 6).unwrap().len(), 1);
        // A gap starts afresh.
        journal.push(delta(10, 11, 1), limits);
        assert_eq!(journal.deltas.len(), 1);
        // Bytes bound it too.
        let tight = JournalLimits {
            versions: 100,
            bytes: 150,
        };
        let mut small = Journal::default();
        small.push(delta(1, 2, 5), tight);
        small.push(delta(2, 3, 5), tight);
        assert_eq!(small.deltas.len(), 1);
    }
}
