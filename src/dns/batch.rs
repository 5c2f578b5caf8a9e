//! Answering a batch of UDP queries: the hot path. Parse every packet, locate each
//! query name in the snapshot once and start fetching the index entries its lookup
//! will read, then answer: the cache misses of a batch overlap instead of following one
//! another. No allocation per query; buffers are reused from batch to batch.
//!
//! A bug costs the one query that triggers it — it gets no answer and is counted —
//! never the other queries of its batch, nor the worker. Counting answers (metrics),
//! rate limiting and the query log are each one branch per query when off. A reply a
//! listing holds back (a tarpit) goes to the worker's [`Tarpit`]: the worker never
//! waits.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use smallvec::SmallVec;

use super::answer::{self, Hold};
use super::fallback::{DnsSettings, Transport, answer_message};
use super::query::{self, Parsed, Query};
use super::tarpit::Tarpit;
use super::wire;
use crate::dns::counters::{Outcome, QueryCounters, Writers, add};
use crate::dns::rrl::{Limiter, Verdict};
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

/// What a worker does besides answering.
#[derive(Clone, Default)]
pub(crate) struct Extras {
    /// Count every answer by zone, type, rcode (the metrics are on).
    pub(crate) count_answers: bool,
    /// Also count bytes in and out per zone (rbldnsd's `-s` statistics).
    pub(crate) count_zone_bytes: bool,
    /// Response rate limiting, shared by the workers.
    pub(crate) limiter: Option<Arc<Limiter>>,
    /// Log one query in this many (0: none).
    pub(crate) query_log_every: u32,
}

/// What became of one datagram.
enum Handled {
    /// A reply is in the buffer: what it counts as, whether it is truncated, and where
    /// its question ends.
    Reply(Outcome, bool, usize),
    /// The same, to be sent this many seconds later (a listing's tarpit).
    Held(Outcome, bool, usize, u32),
    /// No reply; an ACL that ignores the client still counts.
    Silent(Option<Outcome>),
}

/// Reusable state for answering batches.
pub struct BatchAnswerer {
    settings: DnsSettings,
    extras: Extras,
    counters: Arc<QueryCounters>,
    queries: Vec<Query>,
    replies: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    ready: Vec<usize>,
    /// Limited responses so far, for `slip`.
    limited: u64,
    /// Queries so far, for the sampled query log.
    seen: u64,
    /// Where held-back replies go; without one they are sent at once.
    tarpit: Option<Tarpit>,
}

impl BatchAnswerer {
    pub fn new(settings: DnsSettings) -> Self {
        Self::with(settings, Extras::default(), Arc::default())
    }

    /// An answerer that also does `extras`, counting into `counters` (which only this
    /// answerer writes).
    pub(crate) fn with(
        settings: DnsSettings,
        extras: Extras,
        counters: Arc<QueryCounters>,
    ) -> Self {
        BatchAnswerer {
            settings,
            extras,
            counters,
            queries: (0..BATCH).map(|_| Query::default()).collect(),
            replies: (0..BATCH).map(|_| Vec::with_capacity(1500)).collect(),
            scratch: Vec::with_capacity(1024),
            ready: Vec::with_capacity(BATCH),
            limited: 0,
            seen: 0,
            tarpit: None,
        }
    }

    /// Replies a listing holds back go to `tarpit`.
    pub(crate) fn with_tarpit(mut self, tarpit: Tarpit) -> Self {
        self.tarpit = Some(tarpit);
        self
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
                Err(_) => add(&self.counters.internal_errors, 1, Writers::One),
            }
        }
        for plan in &plans {
            plan.warm(Warm::Entries);
        }
        for (i, datagram) in datagrams.iter().enumerate().take(count) {
            let Some(packet) = datagram.bytes else {
                add(&self.counters.dropped, 1, Writers::One);
                continue;
            };
            let (query, reply) = (&self.queries[i], &mut self.replies[i]);
            let (settings, scratch) = (&self.settings, &mut self.scratch);
            let handled = catch_unwind(AssertUnwindSafe(|| match parsed[i] {
                Parsed::Query => {
                    let answer = answer::resolve_located(
                        located[i],
                        &query.question,
                        datagram.peer.ip(),
                        now,
                    );
                    let outcome = answer.outcome(query.question.qtype);
                    let limit =
                        wire::udp_reply_limit(query.edns.map(|e| e.payload), settings.udp_payload);
                    let mut encode = || {
                        wire::encode(
                            packet,
                            query,
                            &answer,
                            usize::from(limit),
                            settings.udp_payload,
                            reply,
                            scratch,
                        )
                    };
                    // One branch, as `ignore` alone cost before tarpits: the usual reply
                    // goes out now.
                    match answer.hold {
                        Hold::NOW => Handled::Reply(outcome, encode(), query.question_end),
                        Hold::NEVER => Handled::Silent(Some(outcome)),
                        Hold(seconds) => {
                            Handled::Held(outcome, encode(), query.question_end, seconds)
                        }
                    }
                }
                Parsed::Drop => Handled::Silent(None),
                Parsed::Fallback => {
                    let answered = answer_message(
                        snapshot,
                        settings,
                        packet,
                        datagram.peer,
                        Transport::Udp,
                        now,
                    );
                    match answered {
                        Some(answered) => {
                            let truncated = answered.truncated();
                            let (outcome, bytes) = (answered.outcome, answered.bytes);
                            let question_end = wire::question_end(&bytes).unwrap_or(bytes.len());
                            *reply = bytes;
                            match answered.hold {
                                Hold::NOW => Handled::Reply(outcome, truncated, question_end),
                                Hold(seconds) => {
                                    Handled::Held(outcome, truncated, question_end, seconds)
                                }
                            }
                        }
                        None => Handled::Silent(None),
                    }
                }
            }));
            let standard = parsed[i] == Parsed::Query;
            match handled {
                Ok(Handled::Reply(outcome, truncated, question_end)) => {
                    if self.deliver(i, datagram, outcome, (truncated, question_end), standard) {
                        self.ready.push(i);
                    }
                }
                Ok(Handled::Held(outcome, truncated, question_end, seconds)) => {
                    if self.deliver(i, datagram, outcome, (truncated, question_end), standard) {
                        self.hold_back(i, datagram, seconds);
                    }
                }
                Ok(Handled::Silent(outcome)) => {
                    add(&self.counters.dropped, 1, Writers::One);
                    if let Some(outcome) = outcome.filter(|_| self.extras.count_answers) {
                        self.counters.count_unanswered(outcome, Writers::One);
                    }
                }
                Err(_) => add(&self.counters.internal_errors, 1, Writers::One),
            }
        }
    }

    /// What comes before sending reply `i` (truncated or not, its question ending at
    /// `question_end`): rate limiting, counting, the query log. Whether to send it.
    fn deliver(
        &mut self,
        i: usize,
        datagram: &Datagram<'_>,
        outcome: Outcome,
        (truncated, question_end): (bool, usize),
        standard: bool,
    ) -> bool {
        if !self.send_after_limits(i, datagram, outcome, question_end) {
            return false;
        }
        if self.extras.count_answers {
            let bytes = self.replies[i].len();
            self.counters.count(outcome, bytes, truncated, Writers::One);
            if self.extras.count_zone_bytes {
                let query = datagram.bytes.map_or(0, <[u8]>::len);
                let zone = outcome.zone_slot;
                self.counters
                    .count_zone_bytes(zone, (query, bytes), Writers::One);
            }
        }
        if self.extras.query_log_every > 0 {
            self.log_query(i, datagram, outcome, standard);
        }
        true
    }

    /// Hands reply `i` to the tarpit, to go out `seconds` later; sent at once when
    /// this answerer has no tarpit (benchmarks, fuzzing), dropped when it is full.
    fn hold_back(&mut self, i: usize, datagram: &Datagram<'_>, seconds: u32) {
        let Some(tarpit) = &self.tarpit else {
            self.ready.push(i);
            return;
        };
        if tarpit.hold(datagram.peer, &self.replies[i], seconds) {
            add(&self.counters.tarpit_held, 1, Writers::One);
        } else {
            add(&self.counters.tarpit_full, 1, Writers::One);
        }
    }

    /// Response rate limiting for reply `i`: whether to send it (perhaps made an empty
    /// truncated reply: a slip).
    fn send_after_limits(
        &mut self,
        i: usize,
        datagram: &Datagram<'_>,
        outcome: Outcome,
        question_end: usize,
    ) -> bool {
        let Some(limiter) = &self.extras.limiter else {
            return true;
        };
        let reply = &mut self.replies[i];
        let class = limiter.class(outcome.rcode, outcome.listed, reply.len());
        if limiter.check(datagram.peer.ip(), class, outcome.zone_slot) == Verdict::Send {
            return true;
        }
        let counters = &self.counters;
        if limiter.settings().log_only {
            add(&counters.rrl_would_limit, 1, Writers::One);
            return true;
        }
        self.limited += 1;
        let slip = u64::from(limiter.settings().slip);
        if slip > 0 && self.limited.is_multiple_of(slip) {
            wire::truncate_reply(reply, question_end);
            add(&counters.rrl_slipped, 1, Writers::One);
            true
        } else {
            add(&counters.rrl_dropped, 1, Writers::One);
            false
        }
    }

    /// Logs every `query_log_every`-th query (a sample, for debugging).
    fn log_query(&mut self, i: usize, datagram: &Datagram<'_>, outcome: Outcome, standard: bool) {
        self.seen += 1;
        if !self
            .seen
            .is_multiple_of(u64::from(self.extras.query_log_every))
        {
            return;
        }
        let mut qname = String::new();
        if standard {
            let name = self.queries[i].question.name.view();
            match outcome.guard.and_then(|g| g.key_label) {
                // The label that may name an access key is left out: keys are secrets.
                Some(key) => {
                    let key = usize::from(key);
                    if key > 0 {
                        let _ = crate::zone::name::write_presentation(
                            name.prefix(key).wire(),
                            &mut qname,
                        );
                        qname.push('.');
                    }
                    qname.push_str("[key].");
                    let _ = crate::zone::name::write_presentation(
                        name.suffix(key + 1).wire(),
                        &mut qname,
                    );
                }
                None => {
                    let _ = crate::zone::name::write_presentation(name.wire(), &mut qname);
                }
            }
        } else {
            qname.push_str("(an unusual packet)");
        }
        let reply = &self.replies[i];
        let answers = reply
            .get(6..8)
            .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
        tracing::info!(
            target: "ward::query",
            client = %datagram.peer.ip(),
            qname,
            qtype = outcome.qtype,
            qclass = if standard { self.queries[i].question.qclass } else { 0 },
            rcode = outcome.rcode,
            listed = outcome.listed,
            answers,
            bytes = reply.len(),
            "query"
        );
    }

    /// Indexes of the datagrams of the last batch that get a reply.
    pub fn ready(&self) -> &[usize] {
        &self.ready
    }

    /// Reply buffers, by datagram index.
    pub(crate) fn replies(&self) -> &[Vec<u8>] {
        &self.replies
    }

    /// Queries lost to an internal error since this answerer was made.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn failures(&self) -> u64 {
        self.counters
            .internal_errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
