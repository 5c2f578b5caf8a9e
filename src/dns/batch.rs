//! Answering a batch of UDP queries: the hot path. Parse every packet, locate each
//! query name in the snapshot once and start fetching the index entries its lookup
//! will read, then answer: the cache misses of a batch overlap instead of following one
//! another. No allocation per query; buffers are reused from batch to batch.
//!
//! A bug costs the one query that triggers it — it gets no answer and is counted —
//! never the other queries of its batch, nor the worker.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use smallvec::SmallVec;

use super::answer;
use super::fallback::{DnsSettings, Transport, answer_message};
use super::query::{self, Parsed, Query};
use super::wire;
use crate::store::{Located, Snapshot};
use crate::zone::Prefetch;
use crate::zone::ip::Warm;

/// Most packets one batch holds (one `recvmmsg`).
pub const BATCH: usize = 32;

/// One received datagram: its bytes (`None` when it was too large to be a query) and
/// its sender.
#[derive(Clone, Copy)]
pub struct Datagram<'a> {
    pub bytes: Option<&'a [u8]>,
    pub peer: SocketAddr,
}

/// Reusable state for answering batches.
pub struct BatchAnswerer {
    settings: DnsSettings,
    queries: Vec<Query>,
    replies: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    ready: Vec<usize>,
    /// Queries lost to an internal error, since the start.
    failures: u64,
}

impl BatchAnswerer {
    pub fn new(settings: DnsSettings) -> Self {
        BatchAnswerer {
            settings,
            queries: (0..BATCH).map(|_| Query::default()).collect(),
            replies: (0..BATCH).map(|_| Vec::with_capacity(1500)).collect(),
            scratch: Vec::with_capacity(1024),
            ready: Vec::with_capacity(BATCH),
            failures: 0,
        }
    }

    /// Answers up to [`BATCH`] datagrams from `snapshot` at `now` (Unix seconds).
    /// Afterwards [`ready`](Self::ready) lists the datagrams that get a reply, which
    /// is in [`replies`](Self::replies) at the same index.
    pub fn answer(&mut self, snapshot: &Snapshot, datagrams: &[Datagram<'_>], now: i64) {
        self.ready.clear();
        let count = datagrams.len().min(BATCH);
        let mut parsed = [Parsed::Drop; BATCH];
        let mut located: [Option<Located<'_>>; BATCH] = [None; BATCH];
        let mut plans: SmallVec<[Prefetch<'_>; BATCH]> = SmallVec::new();
        for (i, datagram) in datagrams.iter().enumerate().take(count) {
            let Some(packet) = datagram.bytes else {
                continue;
            };
            let query = &mut self.queries[i];
            let step = catch_unwind(AssertUnwindSafe(|| {
                let kind = query::parse(packet, query);
                if kind != Parsed::Query {
                    return (kind, None, None);
                }
                let qname = query.question.name.view();
                let Some(place) = snapshot.locate(qname) else {
                    return (kind, None, None);
                };
                let plan = place.zone.prefetch_targets(place.relative(qname), place.ip);
                plan.warm(Warm::Bucket);
                (kind, Some(place), Some(plan))
            }));
            match step {
                Ok((kind, place, plan)) => {
                    parsed[i] = kind;
                    located[i] = place;
                    plans.extend(plan);
                }
                Err(_) => self.failures += 1,
            }
        }
        for plan in &plans {
            plan.warm(Warm::Entries);
        }
        for (i, datagram) in datagrams.iter().enumerate().take(count) {
            let Some(packet) = datagram.bytes else {
                continue;
            };
            let (query, reply) = (&self.queries[i], &mut self.replies[i]);
            let (settings, scratch) = (&self.settings, &mut self.scratch);
            let answered = catch_unwind(AssertUnwindSafe(|| match parsed[i] {
                Parsed::Query => {
                    let answer = answer::resolve_located(
                        located[i],
                        &query.question,
                        datagram.peer.ip(),
                        now,
                    );
                    if answer.drop {
                        return false;
                    }
                    let limit =
                        wire::udp_reply_limit(query.edns.map(|e| e.payload), settings.udp_payload);
                    wire::encode(
                        packet,
                        query,
                        &answer,
                        usize::from(limit),
                        settings.udp_payload,
                        reply,
                        scratch,
                    );
                    true
                }
                Parsed::Drop => false,
                Parsed::Fallback => {
                    match answer_message(
                        snapshot,
                        settings,
                        packet,
                        datagram.peer,
                        Transport::Udp,
                        now,
                    ) {
                        Some(bytes) => {
                            *reply = bytes;
                            true
                        }
                        None => false,
                    }
                }
            }));
            match answered {
                Ok(true) => self.ready.push(i),
                Ok(false) => {}
                Err(_) => self.failures += 1,
            }
        }
    }

    /// Indexes of the datagrams of the last batch that get a reply.
    pub fn ready(&self) -> &[usize] {
        &self.ready
    }

    /// Reply buffers, by datagram index.
    pub fn replies(&self) -> &[Vec<u8>] {
        &self.replies
    }

    /// Queries lost to an internal error since this answerer was made.
    pub fn failures(&self) -> u64 {
        self.failures
    }
}
