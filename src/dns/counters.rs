//! What the DNS side counts, and where: one table per UDP worker, written only by that
//! worker (a relaxed load and store, no locked instruction, on cache lines no other
//! core writes), one for TCP (shared by its tasks, off the hot path), summed when a
//! scrape reads them. Zones are counted by a slot each zone gets when it is first
//! loaded, so a reload keeps its counters; access keys likewise, by a slot per zone and
//! key (and one per zone for queries naming no known key).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::zone::slot::{KEY_SLOTS, NO_KEY, NO_ZONE, ZONE_SLOTS};

/// Query types counted by name, in slot order; every other type is `other`.
pub(crate) const QTYPES: [(u16, &str); 9] = [
    (1, "A"),
    (28, "AAAA"),
    (16, "TXT"),
    (255, "ANY"),
    (6, "SOA"),
    (2, "NS"),
    (15, "MX"),
    (252, "AXFR"),
    (251, "IXFR"),
];
const QTYPE_SLOTS: usize = QTYPES.len() + 1;

/// Response codes counted by name, in slot order; every other code is `other`.
pub(crate) const RCODES: [(u16, &str); 7] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (16, "BADVERS"),
];
const RCODE_SLOTS: usize = RCODES.len() + 1;

/// ACL actions counted, in slot order.
pub(crate) const ACL_ACTIONS: [&str; 4] = ["refuse", "ignore", "empty", "answer"];

/// REFUSED, for the access keys' count of refusals.
const REFUSED: u16 = 5;

const ANSWER_CELLS: usize = ZONE_SLOTS * QTYPE_SLOTS * RCODE_SLOTS * 2;

fn qtype_slot(qtype: u16) -> usize {
    QTYPES
        .iter()
        .position(|&(t, _)| t == qtype)
        .unwrap_or(QTYPES.len())
}

fn rcode_slot(rcode: u16) -> usize {
    RCODES
        .iter()
        .position(|&(r, _)| r == rcode)
        .unwrap_or(RCODES.len())
}

/// What one answered query counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) zone_slot: u16,
    pub(crate) qtype: u16,
    /// Extended rcode.
    pub(crate) rcode: u16,
    /// The answer lists the name (A/TXT of a listing), not just any NOERROR.
    pub(crate) listed: bool,
    /// What access control did, in a zone that has some.
    pub(crate) guard: Option<Guarded>,
}

/// What a zone's access control did with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Guarded {
    /// The client ACL's action when it did not pass the client, as an index into
    /// [`ACL_ACTIONS`].
    pub(crate) acl: Option<u8>,
    /// The access key's counter slot ([`NO_KEY`] when keys did not apply).
    pub(crate) key: u16,
    /// Which label of the query name is an access key (counted from the left), so
    /// the query log can leave it out.
    pub(crate) key_label: Option<u8>,
}

/// Per access key: queries, those answered with a listing, those refused (REFUSED, or
/// no reply at all).
const KEY_CELLS: usize = 3;

impl Outcome {
    /// A reply to something that was no answerable question (FORMERR and the like).
    pub(crate) fn error(rcode: u16) -> Self {
        Outcome {
            zone_slot: NO_ZONE,
            qtype: 0,
            rcode,
            listed: false,
            guard: None,
        }
    }
}

/// One table of counters.
pub(crate) struct QueryCounters {
    answers: Box<[AtomicU64]>,
    acl: Box<[AtomicU64]>,
    keys: Box<[AtomicU64]>,
    /// Per zone: bytes of queries in, of replies out (rbldnsd's `-s` statistics).
    zone_bytes: Box<[AtomicU64]>,
    pub(crate) truncated: AtomicU64,
    pub(crate) response_bytes: AtomicU64,
    /// Packets that got no reply: not a query, or too broken for one.
    pub(crate) dropped: AtomicU64,
    /// Queries lost to an internal error (a bug).
    pub(crate) internal_errors: AtomicU64,
    /// Response rate limiting: answers not sent, sent truncated (slipped), and, in
    /// log-only mode, answers that would have been limited.
    pub(crate) rrl_dropped: AtomicU64,
    pub(crate) rrl_slipped: AtomicU64,
    pub(crate) rrl_would_limit: AtomicU64,
    /// Tarpit: replies held back to be sent later, and replies dropped because the
    /// worker held as many as it may.
    pub(crate) tarpit_held: AtomicU64,
    pub(crate) tarpit_full: AtomicU64,
}

impl Default for QueryCounters {
    fn default() -> Self {
        QueryCounters {
            answers: (0..ANSWER_CELLS).map(|_| AtomicU64::new(0)).collect(),
            acl: (0..ZONE_SLOTS * ACL_ACTIONS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            keys: (0..KEY_SLOTS * KEY_CELLS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            zone_bytes: (0..ZONE_SLOTS * 2).map(|_| AtomicU64::new(0)).collect(),
            truncated: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            internal_errors: AtomicU64::new(0),
            rrl_dropped: AtomicU64::new(0),
            rrl_slipped: AtomicU64::new(0),
            rrl_would_limit: AtomicU64::new(0),
            tarpit_held: AtomicU64::new(0),
            tarpit_full: AtomicU64::new(0),
        }
    }
}

/// Who writes a table: one thread (plain load and store suffice) or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writers {
    One,
    Many,
}

/// Adds `n` to `cell`.
#[inline]
pub(crate) fn add(cell: &AtomicU64, n: u64, writers: Writers) {
    match writers {
        Writers::One => cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed),
        Writers::Many => {
            cell.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl QueryCounters {
    /// Counts one reply of `bytes` bytes.
    #[inline]
    pub(crate) fn count(&self, outcome: Outcome, bytes: usize, truncated: bool, writers: Writers) {
        let zone = usize::from(outcome.zone_slot).min(ZONE_SLOTS - 1);
        let cell = ((zone * QTYPE_SLOTS + qtype_slot(outcome.qtype)) * RCODE_SLOTS
            + rcode_slot(outcome.rcode))
            * 2
            + usize::from(outcome.listed);
        add(&self.answers[cell], 1, writers);
        add(&self.response_bytes, bytes as u64, writers);
        if truncated {
            add(&self.truncated, 1, writers);
        }
        // One branch for a zone anyone may query.
        if let Some(guard) = outcome.guard {
            let refused = outcome.rcode == REFUSED;
            self.count_guarded(zone, guard, outcome.listed, refused, writers);
        }
    }

    /// Counts only the access control of a query that got no reply (`ignore`).
    pub(crate) fn count_unanswered(&self, outcome: Outcome, writers: Writers) {
        if let Some(guard) = outcome.guard {
            let zone = usize::from(outcome.zone_slot).min(ZONE_SLOTS - 1);
            self.count_guarded(zone, guard, false, true, writers);
        }
    }

    fn count_guarded(
        &self,
        zone: usize,
        guard: Guarded,
        listed: bool,
        refused: bool,
        writers: Writers,
    ) {
        if let Some(action) = guard.acl {
            let cell = zone * ACL_ACTIONS.len() + usize::from(action).min(ACL_ACTIONS.len() - 1);
            add(&self.acl[cell], 1, writers);
        }
        if guard.key != NO_KEY {
            let cell = usize::from(guard.key).min(KEY_SLOTS - 1) * KEY_CELLS;
            add(&self.keys[cell], 1, writers);
            if listed {
                add(&self.keys[cell + 1], 1, writers);
            }
            if refused {
                add(&self.keys[cell + 2], 1, writers);
            }
        }
    }

    /// Every non-zero answer cell: (zone slot, qtype label, rcode label, listed, count).
    pub(crate) fn answers(
        &self,
    ) -> impl Iterator<Item = (usize, &'static str, &'static str, bool, u64)> + '_ {
        self.answers.iter().enumerate().filter_map(|(cell, count)| {
            let count = count.load(Ordering::Relaxed);
            if count == 0 {
                return None;
            }
            let listed = cell % 2 == 1;
            let rest = cell / 2;
            let rcode = rest % RCODE_SLOTS;
            let rest = rest / RCODE_SLOTS;
            let qtype = rest % QTYPE_SLOTS;
            let zone = rest / QTYPE_SLOTS;
            Some((
                zone,
                QTYPES.get(qtype).map_or("other", |&(_, name)| name),
                RCODES.get(rcode).map_or("other", |&(_, name)| name),
                listed,
                count,
            ))
        })
    }

    /// Counts a query of `query_bytes` and its reply of `reply_bytes` in zone slot
    /// `zone` (only for rbldnsd's `-s` statistics: nothing else asks for it).
    pub(crate) fn count_zone_bytes(
        &self,
        zone: u16,
        (query_bytes, reply_bytes): (usize, usize),
        writers: Writers,
    ) {
        let zone = usize::from(zone).min(ZONE_SLOTS - 1);
        add(&self.zone_bytes[zone * 2], query_bytes as u64, writers);
        add(&self.zone_bytes[zone * 2 + 1], reply_bytes as u64, writers);
    }

    /// Bytes of queries in and replies out of zone slot `zone`.
    pub(crate) fn zone_bytes(&self, zone: usize) -> (u64, u64) {
        let zone = zone.min(ZONE_SLOTS - 1);
        (
            self.zone_bytes[zone * 2].load(Ordering::Relaxed),
            self.zone_bytes[zone * 2 + 1].load(Ordering::Relaxed),
        )
    }

    /// Every access key with queries: (key slot, [queries, listed, refused]).
    pub(crate) fn keys(&self) -> impl Iterator<Item = (usize, [u64; KEY_CELLS])> + '_ {
        self.keys
            .chunks_exact(KEY_CELLS)
            .enumerate()
            .filter_map(|(slot, cells)| {
                let counts = [0, 1, 2].map(|i| cells[i].load(Ordering::Relaxed));
                (counts[0] > 0).then_some((slot, counts))
            })
    }

    /// Every non-zero ACL cell: (zone slot, action, count).
    pub(crate) fn acl_actions(&self) -> impl Iterator<Item = (usize, &'static str, u64)> + '_ {
        self.acl.iter().enumerate().filter_map(|(cell, count)| {
            let count = count.load(Ordering::Relaxed);
            (count > 0).then(|| {
                (
                    cell / ACL_ACTIONS.len(),
                    ACL_ACTIONS[cell % ACL_ACTIONS.len()],
                    count,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::name::Name;
    use crate::zone::slot::{zone_label, zone_slot};

    #[test]
    fn cells_round_trip_their_labels() {
        let counters = QueryCounters::default();
        let zone = zone_slot(&Name::parse("stats.test").unwrap());
        assert_eq!(
            zone_slot(&Name::parse("stats.test").unwrap()),
            zone,
            "stable"
        );
        assert_eq!(zone_label(usize::from(zone)), "stats.test");
        let outcome = Outcome {
            zone_slot: zone,
            qtype: 16,
            rcode: 3,
            listed: false,
            guard: Some(Guarded {
                acl: Some(2),
                key: NO_KEY,
                key_label: None,
            }),
        };
        counters.count(outcome, 100, true, Writers::One);
        counters.count(outcome, 50, false, Writers::Many);
        counters.count_zone_bytes(zone, (30, 100), Writers::One);
        counters.count_zone_bytes(zone, (60, 60), Writers::Many);
        counters.count(
            Outcome {
                qtype: 99,
                rcode: 9,
                listed: true,
                ..outcome
            },
            10,
            false,
            Writers::One,
        );
        assert_eq!(counters.zone_bytes(usize::from(zone)), (90, 160));
        let mut cells: Vec<_> = counters.answers().collect();
        cells.sort();
        assert_eq!(
            cells,
            [
                (usize::from(zone), "TXT", "NXDOMAIN", false, 2),
                (usize::from(zone), "other", "other", true, 1)
            ]
        );
        assert_eq!(counters.response_bytes.load(Ordering::Relaxed), 160);
        assert_eq!(counters.truncated.load(Ordering::Relaxed), 1);
        let acl: Vec<_> = counters.acl_actions().collect();
        assert_eq!(acl, [(usize::from(zone), "empty", 3)]);
    }
}
