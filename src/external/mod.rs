//! Other lists, asked for the people who are blocked: "is my server listed anywhere?"
//! The lookup page, the bounce explainer and `ward lookup --external` ask the public
//! lists the admin configured (`[external."zen.spamhaus.org"]`) through the resolver
//! the admin names — every list in parallel, each within its timeout, answers kept
//! for their TTL (negative ones for the SOA's minimum), and all outbound questions
//! under one cap a second, so the page can be used neither to flood other lists nor
//! as a query proxy.
//!
//! A list's answer is read with its documented codes: a code it defines is a listing,
//! 127.255.255.0/24 and the codes it names as errors say the question failed ("your
//! resolver is refused", "too many queries"), and any other code is "unknown", never a
//! listing. A list that times out, SERVFAILs or refuses is "not checked", with why.
//!
//! Uses `dns` (the stub resolver) and `zone` (address digests); the layers above show
//! what comes out.

mod list;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;

pub(crate) use crate::dns::resolver::ResolverError;
use crate::dns::resolver::{Outcome, StubResolver};
pub(crate) use list::{CodeTable, List, ListSpec, Subject};

/// How ward asks the public lists.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) lists: Vec<List>,
    /// The recursive resolver; `None`: the system's.
    pub(crate) resolver: Option<SocketAddr>,
    /// The longest any list may take.
    pub(crate) timeout: Duration,
    /// Outbound questions a second, all lists together.
    pub(crate) max_per_second: u32,
}

impl Settings {
    pub(crate) const TIMEOUT: Duration = Duration::from_millis(1500);
    pub(crate) const MAX_PER_SECOND: u32 = 20;
}

/// What one list says about one value, as the page and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ListResult {
    /// The list's zone as people know it (without any access key).
    pub(crate) zone: String,
    pub(crate) name: String,
    /// `listed`, `not listed` or `not checked`.
    pub(crate) status: &'static str,
    /// The listing codes it answered.
    pub(crate) codes: Vec<String>,
    /// What each listing code means, as the list documents it.
    pub(crate) meanings: Vec<String>,
    /// Why it was not checked, or what else it answered (an error or unknown code).
    pub(crate) detail: Option<String>,
    /// The list's page for this value.
    pub(crate) link: Option<String>,
}

/// An answer kept until it expires.
struct Cached {
    outcome: Outcome,
    until: Instant,
}

/// Answers kept at most: a page cannot grow the cache without bound.
const CACHE_ENTRIES: usize = 100_000;
/// How long a failure (timeout, SERVFAIL) is kept: the list is not asked again at once.
const FAILURE_TTL: u32 = 60;
/// The negative TTL when an answer has no SOA.
const NEGATIVE_TTL: u32 = 300;

/// The public lists, the resolver, the cache and the cap.
pub(crate) struct ExternalLists {
    lists: Vec<List>,
    resolver: StubResolver,
    cache: Mutex<HashMap<String, Cached>>,
    cap: DefaultDirectRateLimiter,
    stats: Stats,
}

impl std::fmt::Debug for ExternalLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalLists")
            .field("lists", &self.lists.len())
            .finish_non_exhaustive()
    }
}

impl ExternalLists {
    pub(crate) fn new(settings: &Settings) -> Result<ExternalLists, ResolverError> {
        let per_second = NonZeroU32::new(settings.max_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let slowest = settings
            .lists
            .iter()
            .map(List::timeout)
            .chain([settings.timeout])
            .max()
            .unwrap_or(settings.timeout);
        Ok(ExternalLists {
            lists: settings.lists.clone(),
            resolver: StubResolver::new(settings.resolver, slowest)?,
            cache: Mutex::new(HashMap::new()),
            cap: RateLimiter::direct(Quota::per_second(per_second)),
            stats: Stats::new(&settings.lists),
        })
    }

    /// The lists, for the explainer: which zone names a configured list.
    pub(crate) fn lists(&self) -> &[List] {
        &self.lists
    }

    /// Asks every list that lists this kind of value, all at once.
    pub(crate) async fn check(self: &Arc<Self>, subject: &Subject) -> Vec<ListResult> {
        let mut asked = tokio::task::JoinSet::new();
        for (index, list) in self.lists.iter().enumerate() {
            let Some(qname) = list.query_name(subject) else {
                continue;
            };
            let this = self.clone();
            let link = list.link_for(subject);
            asked.spawn(async move {
                let result = this.ask(index, &qname, link).await;
                (index, result)
            });
        }
        let mut results = Vec::new();
        while let Some(done) = asked.join_next().await {
            if let Ok(done) = done {
                results.push(done);
            }
        }
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(_, result)| result).collect()
    }

    /// Only the lists whose zone is `zone` (the explainer, for a bounce naming it).
    pub(crate) async fn check_list(
        self: &Arc<Self>,
        zone: &str,
        subject: &Subject,
    ) -> Option<ListResult> {
        let index = self
            .lists
            .iter()
            .position(|l| l.zone.eq_ignore_ascii_case(zone))?;
        let list = &self.lists[index];
        let qname = list.query_name(subject)?;
        Some(self.ask(index, &qname, list.link_for(subject)).await)
    }

    async fn ask(&self, index: usize, qname: &str, link: Option<String>) -> ListResult {
        let list = &self.lists[index];
        let outcome = match self.cached(qname) {
            Some(outcome) => {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                outcome
            }
            None if self.cap.check().is_err() => {
                self.stats.capped.fetch_add(1, Ordering::Relaxed);
                return list.result(
                    &Outcome::Failed(
                        "ward asks other lists only so often; try again in a minute".into(),
                    ),
                    link,
                );
            }
            None => {
                let started = Instant::now();
                let outcome = tokio::time::timeout(list.timeout(), self.resolver.a(qname))
                    .await
                    .unwrap_or(Outcome::Timeout);
                self.keep(qname, &outcome);
                let result = list.result(&outcome, link);
                self.stats
                    .count(index, &outcome, &result, started.elapsed());
                return result;
            }
        };
        list.result(&outcome, link)
    }

    fn cached(&self, qname: &str) -> Option<Outcome> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(qname)?;
        (cached.until > Instant::now()).then(|| cached.outcome.clone())
    }

    fn keep(&self, qname: &str, outcome: &Outcome) {
        let ttl = match outcome {
            Outcome::Found(records) => records.iter().map(|(_, ttl)| *ttl).min().unwrap_or(0),
            Outcome::NotFound { negative_ttl } => negative_ttl.unwrap_or(NEGATIVE_TTL),
            _ => FAILURE_TTL,
        };
        if ttl == 0 {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let now = Instant::now();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, cached| cached.until > now);
            if cache.len() >= CACHE_ENTRIES {
                // Still full of live answers: make room, they are only a cache.
                cache.clear();
            }
        }
        cache.insert(
            qname.to_string(),
            Cached {
                outcome: outcome.clone(),
                until: now + Duration::from_secs(u64::from(ttl)),
            },
        );
    }

    /// The counters, for the metrics endpoint.
    pub(crate) fn stats(&self) -> StatsView<'_> {
        StatsView {
            lists: &self.lists,
            stats: &self.stats,
        }
    }
}

/// Outcomes counted per list, in slot order.
const OUTCOMES: [&str; 7] = [
    "listed",
    "not_listed",
    "error_code",
    "timeout",
    "servfail",
    "refused",
    "failed",
];

/// Questions sent, by list and outcome, and the time they took.
struct Stats {
    sent: Vec<[AtomicU64; OUTCOMES.len()]>,
    micros: Vec<AtomicU64>,
    cache_hits: AtomicU64,
    capped: AtomicU64,
}

impl Stats {
    fn new(lists: &[List]) -> Stats {
        Stats {
            sent: lists.iter().map(|_| Default::default()).collect(),
            micros: lists.iter().map(|_| AtomicU64::new(0)).collect(),
            cache_hits: AtomicU64::new(0),
            capped: AtomicU64::new(0),
        }
    }

    fn count(&self, list: usize, outcome: &Outcome, result: &ListResult, took: Duration) {
        let slot = match outcome {
            Outcome::Found(_) if result.status == "listed" => 0,
            Outcome::Found(_) if result.status == "not listed" => 1,
            Outcome::Found(_) => 2,
            Outcome::NotFound { .. } => 1,
            Outcome::Timeout => 3,
            Outcome::ServFail => 4,
            Outcome::Refused => 5,
            Outcome::Failed(_) => 6,
        };
        if let Some(cells) = self.sent.get(list) {
            cells[slot].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(micros) = self.micros.get(list) {
            micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        }
    }
}

/// The counters as the metrics endpoint reads them.
pub(crate) struct StatsView<'e> {
    lists: &'e [List],
    stats: &'e Stats,
}

impl StatsView<'_> {
    /// `(list zone, outcome, questions)` for every list and outcome.
    pub(crate) fn sent(&self) -> impl Iterator<Item = (&str, &'static str, u64)> + '_ {
        self.lists
            .iter()
            .zip(&self.stats.sent)
            .flat_map(|(list, cells)| {
                OUTCOMES.iter().zip(cells).map(move |(outcome, cell)| {
                    (list.zone.as_str(), *outcome, cell.load(Ordering::Relaxed))
                })
            })
    }

    /// `(list zone, seconds)` spent waiting for each list's answers.
    pub(crate) fn seconds(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.lists
            .iter()
            .zip(&self.stats.micros)
            .map(|(list, micros)| {
                (
                    list.zone.as_str(),
                    micros.load(Ordering::Relaxed) as f64 / 1e6,
                )
            })
    }

    pub(crate) fn cache_hits(&self) -> u64 {
        self.stats.cache_hits.load(Ordering::Relaxed)
    }

    pub(crate) fn capped(&self) -> u64 {
        self.stats.capped.load(Ordering::Relaxed)
    }
}

/// The value a text names, as the lists are asked about it.
pub(crate) fn subject_of(text: &str) -> Option<Subject> {
    let text = text.trim().trim_end_matches('.');
    // What people look up never has blanks, markup or quotes: never ask about those.
    if text.len() > 320
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"'`()[]{};,\\".contains(c))
    {
        return None;
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(Subject::Ip(ip.to_canonical()));
    }
    if text.contains('@') {
        return Some(Subject::Email(text.to_string()));
    }
    crate::zone::name::Name::parse(text)
        .ok()
        .filter(|name| name.label_count() >= 2)
        .map(Subject::Domain)
}
