//! The operator's window: Prometheus metrics at `/metrics`, liveness at `/healthz` and
//! readiness at `/readyz`, on their own listener (`--metrics`).
//!
//! Nothing here runs per query. The workers count into their own tables (see
//! `stats`); a scrape sums them and the reload statistics into a fresh Prometheus
//! registry and renders it. The listener starts before the first load, so `/readyz`
//! can say 503 until every zone is loaded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio_util::sync::CancellationToken;

use crate::dns::counters::QueryCounters;
use crate::dns::server::ServerStats;
use crate::external::ExternalLists;
use crate::reload::ReloadStats;
use crate::store::Store;
use crate::web::{ListenLimits, TrustedProxies, WebStats, serve_http};
use crate::xfr::{TransferStats, Transfers};
use crate::zone::slot::{key_label, zone_label};

/// What the endpoint reports: set as serving starts.
#[derive(Default)]
pub(crate) struct Observed {
    ready: AtomicBool,
    server: OnceLock<ServerStats>,
    reloads: OnceLock<Arc<ReloadStats>>,
    store: OnceLock<Arc<Store>>,
    transfers: OnceLock<Arc<Transfers>>,
    external: OnceLock<Arc<ExternalLists>>,
    web: OnceLock<Arc<WebStats>>,
    process: metrics_process::Collector,
}

impl Observed {
    /// Every zone is loaded and served: ready.
    pub(crate) fn serving(
        &self,
        server: ServerStats,
        reloads: Arc<ReloadStats>,
        store: Arc<Store>,
    ) {
        let _ = self.server.set(server);
        let _ = self.reloads.set(reloads);
        let _ = self.store.set(store);
        self.ready.store(true, Ordering::Release);
    }

    /// The web side runs: report its janitor work.
    pub(crate) fn serving_web(&self, web: Arc<WebStats>) {
        let _ = self.web.set(web);
    }

    /// Public lists are asked: report the questions sent.
    pub(crate) fn asking_lists(&self, external: Arc<ExternalLists>) {
        let _ = self.external.set(external);
    }

    /// Zone transfers are on: report them too.
    pub(crate) fn transferring(&self, transfers: Arc<Transfers>) {
        let _ = self.transfers.set(transfers);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the metrics listener (before anything slow: a wrong address fails at once).
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, MetricsError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })
}

/// Serves the endpoints until `stop`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    observed: Arc<Observed>,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(observed);
    // Bounded connections and deadlines, as the page has: a slow scraper (or a port
    // scan) cannot hold descriptors the DNS side needs.
    serve_http(
        listener,
        app,
        stop,
        TrustedProxies::default(),
        ListenLimits::default(),
    )
    .await;
}

async fn readiness(State(observed): State<Arc<Observed>>) -> impl IntoResponse {
    if observed.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "loading the zones\n")
    }
}

async fn scrape(State(observed): State<Arc<Observed>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&observed),
    )
}

/// The exposition text, from the counters as they are now.
pub(crate) fn render(observed: &Observed) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        describe();
        gauge!("ward_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        gauge!("ward_ready").set(if observed.ready.load(Ordering::Acquire) {
            1.0
        } else {
            0.0
        });
        if let Some(server) = observed.server.get() {
            report_queries(server);
        }
        if let Some(reloads) = observed.reloads.get() {
            report_zones(reloads, observed.store.get());
        }
        if let Some(transfers) = observed.transfers.get() {
            report_transfers(&transfers.stats);
        }
        if let Some(external) = observed.external.get() {
            report_external(external);
        }
        if let Some(web) = observed.web.get() {
            report_web(web);
        }
        observed.process.describe();
        observed.process.collect();
    });
    recorder.handle().render()
}

fn describe() {
    describe_counter!(
        "ward_dns_requests_total",
        "DNS queries answered, by zone, protocol and query type"
    );
    describe_counter!(
        "ward_dns_responses_total",
        "DNS responses, by zone, protocol, query type, rcode and whether the name is listed"
    );
    describe_counter!(
        "ward_dns_response_bytes_total",
        "Bytes of DNS responses sent"
    );
    describe_counter!(
        "ward_dns_truncated_total",
        "Responses sent with TC set (too large for UDP)"
    );
    describe_counter!(
        "ward_dns_dropped_total",
        "Packets that got no reply: not a query, unreadable, or from an ignored client"
    );
    describe_counter!(
        "ward_dns_internal_errors_total",
        "Queries lost to an internal error (a bug; the log has it)"
    );
    describe_counter!(
        "ward_acl_actions_total",
        "Queries whose client a zone ACL did not pass, by action"
    );
    describe_counter!(
        "ward_rrl_dropped_total",
        "Responses response rate limiting did not send"
    );
    describe_counter!(
        "ward_rrl_slipped_total",
        "Responses response rate limiting sent empty with TC set"
    );
    describe_counter!(
        "ward_rrl_would_limit_total",
        "Responses rate limiting in log-only mode would have limited"
    );
    describe_counter!(
        "ward_key_queries_total",
        "Queries to a zone with access keys (aclkey), by key; key=\"_unknown\" counts those naming no known key"
    );
    describe_counter!(
        "ward_key_listed_total",
        "Of those, the ones answered with a listing, by key"
    );
    describe_counter!(
        "ward_key_refused_total",
        "Of those, the ones refused (REFUSED, or no reply: ignore), by key"
    );
    describe_counter!(
        "ward_tarpit_replies_total",
        "Replies a listing's tarpit (@ delay=) held back, by result (held; dropped: the worker held as many as it may)"
    );
    describe_gauge!("ward_tcp_connections", "Open TCP connections");
    describe_counter!(
        "ward_tcp_evicted_total",
        "TCP connections closed to make room (the idle one longest)"
    );
    describe_counter!(
        "ward_tcp_refused_total",
        "TCP connections closed at once: every open one was busy"
    );
    describe_counter!(
        "ward_tcp_accept_errors_total",
        "accept() failures for lack of descriptors or memory"
    );
    describe_gauge!("ward_zone_entries", "Entries of the zone as served");
    describe_gauge!("ward_zone_serial", "SOA serial of the zone as served");
    describe_gauge!(
        "ward_zone_last_reload_timestamp_seconds",
        "When the zone last loaded successfully"
    );
    describe_counter!("ward_zone_reloads_total", "Successful reloads of the zone");
    describe_counter!(
        "ward_zone_reload_errors_total",
        "Reloads of the zone that failed (it kept its previous data)"
    );
    describe_gauge!(
        "ward_zone_reload_failing",
        "1 while the zone's last reload failed; the log names file:line:column"
    );
}

fn report_transfers(stats: &TransferStats) {
    describe_counter!(
        "ward_xfr_total",
        "Zone transfers served, by type (axfr, ixfr)"
    );
    describe_counter!(
        "ward_xfr_refused_total",
        "Transfer requests refused (not allowed, unsigned, bad TSIG)"
    );
    describe_counter!(
        "ward_notify_total",
        "NOTIFY messages to secondaries, by result (acknowledged, failed after every retry)"
    );
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    counter!("ward_xfr_total", "type" => "axfr").absolute(load(&stats.axfr));
    counter!("ward_xfr_total", "type" => "ixfr").absolute(load(&stats.ixfr));
    counter!("ward_xfr_refused_total").absolute(load(&stats.refused));
    counter!("ward_notify_total", "result" => "acknowledged")
        .absolute(load(&stats.notify_acknowledged));
    counter!("ward_notify_total", "result" => "failed").absolute(load(&stats.notify_failed));
}

/// (zone, type, rcode, listed) -> count, summed over tables.
type Cells = BTreeMap<(usize, &'static str, &'static str, bool), u64>;

fn sum<'a>(tables: impl IntoIterator<Item = &'a QueryCounters>) -> Cells {
    let mut cells = Cells::new();
    for table in tables {
        for (zone, qtype, rcode, listed, count) in table.answers() {
            *cells.entry((zone, qtype, rcode, listed)).or_default() += count;
        }
    }
    cells
}

fn report_queries(server: &ServerStats) {
    let udp = server.udp_counters();
    let tcp = server.tcp_counters();
    for (proto, cells) in [
        ("udp", sum(udp.iter().map(Arc::as_ref))),
        ("tcp", sum([tcp])),
    ] {
        let mut requests: BTreeMap<(usize, &str), u64> = BTreeMap::new();
        for (&(zone, qtype, rcode, listed), &count) in &cells {
            *requests.entry((zone, qtype)).or_default() += count;
            counter!(
                "ward_dns_responses_total",
                "zone" => zone_label(zone),
                "proto" => proto,
                "type" => qtype,
                "rcode" => rcode,
                "listed" => if listed { "true" } else { "false" }
            )
            .absolute(count);
        }
        for ((zone, qtype), count) in requests {
            counter!("ward_dns_requests_total", "zone" => zone_label(zone), "proto" => proto, "type" => qtype)
                .absolute(count);
        }
    }
    let tables: Vec<(&str, &QueryCounters)> = udp
        .iter()
        .map(|t| ("udp", t.as_ref()))
        .chain([("tcp", tcp)])
        .collect();
    let total = |proto: &str, field: fn(&QueryCounters) -> &std::sync::atomic::AtomicU64| {
        tables
            .iter()
            .filter(|(p, _)| *p == proto)
            .map(|(_, t)| field(t).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    for proto in ["udp", "tcp"] {
        counter!("ward_dns_response_bytes_total", "proto" => proto)
            .absolute(total(proto, |t| &t.response_bytes));
        counter!("ward_dns_truncated_total", "proto" => proto)
            .absolute(total(proto, |t| &t.truncated));
        counter!("ward_dns_dropped_total", "proto" => proto).absolute(total(proto, |t| &t.dropped));
    }
    counter!("ward_dns_internal_errors_total").absolute(server.internal_errors());
    counter!("ward_rrl_dropped_total").absolute(total("udp", |t| &t.rrl_dropped));
    counter!("ward_rrl_slipped_total").absolute(total("udp", |t| &t.rrl_slipped));
    counter!("ward_rrl_would_limit_total").absolute(total("udp", |t| &t.rrl_would_limit));
    // Only once a tarpit was used: most lists have none.
    let held = total("udp", |t| &t.tarpit_held) + total("tcp", |t| &t.tarpit_held);
    let full = total("udp", |t| &t.tarpit_full);
    if held + full > 0 {
        counter!("ward_tarpit_replies_total", "result" => "held").absolute(held);
        counter!("ward_tarpit_replies_total", "result" => "dropped").absolute(full);
    }
    let mut acl: BTreeMap<(usize, &str), u64> = BTreeMap::new();
    for (_, table) in &tables {
        for (zone, action, count) in table.acl_actions() {
            *acl.entry((zone, action)).or_default() += count;
        }
    }
    for ((zone, action), count) in acl {
        counter!("ward_acl_actions_total", "zone" => zone_label(zone), "action" => action)
            .absolute(count);
    }
    let mut keys: BTreeMap<usize, [u64; 3]> = BTreeMap::new();
    for (_, table) in &tables {
        for (slot, counts) in table.keys() {
            let sums = keys.entry(slot).or_default();
            for (sum, count) in sums.iter_mut().zip(counts) {
                *sum += count;
            }
        }
    }
    for (slot, [queries, listed, refused]) in keys {
        let (zone, key) = key_label(slot);
        let labels = [("zone", zone), ("key", key)];
        counter!("ward_key_queries_total", &labels).absolute(queries);
        counter!("ward_key_listed_total", &labels).absolute(listed);
        counter!("ward_key_refused_total", &labels).absolute(refused);
    }
    let tcp_stats = server.tcp();
    gauge!("ward_tcp_connections").set(server.tcp_connections() as f64);
    counter!("ward_tcp_evicted_total").absolute(tcp_stats.evicted.load(Ordering::Relaxed));
    counter!("ward_tcp_refused_total").absolute(tcp_stats.refused.load(Ordering::Relaxed));
    counter!("ward_tcp_accept_errors_total")
        .absolute(tcp_stats.accept_errors.load(Ordering::Relaxed));
}

fn report_zones(reloads: &ReloadStats, store: Option<&Arc<Store>>) {
    let served: Vec<String> = store.map_or_else(Vec::new, |store| {
        store
            .load()
            .zones()
            .iter()
            .map(|z| z.name.to_string())
            .collect()
    });
    for (name, zone) in reloads.all() {
        if !served.contains(&name) {
            continue;
        }
        let label = || name.clone();
        gauge!("ward_zone_entries", "zone" => label()).set(zone.entries as f64);
        gauge!("ward_zone_serial", "zone" => label()).set(f64::from(zone.serial));
        if let Some(at) = zone.last_loaded {
            let seconds = at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            gauge!("ward_zone_last_reload_timestamp_seconds", "zone" => label()).set(seconds);
        }
        counter!("ward_zone_reloads_total", "zone" => label()).absolute(zone.reloads);
        counter!("ward_zone_reload_errors_total", "zone" => label()).absolute(zone.failures);
        gauge!("ward_zone_reload_failing", "zone" => label()).set(if zone.last_error.is_some() {
            1.0
        } else {
            0.0
        });
    }
}

fn report_external(external: &ExternalLists) {
    describe_counter!(
        "ward_external_queries_total",
        "Questions sent to public lists for the lookup page, by list and outcome"
    );
    describe_gauge!(
        "ward_external_query_seconds_sum",
        "Seconds spent waiting for the public lists' answers, by list (with the queries: the mean latency)"
    );
    describe_counter!(
        "ward_external_cache_hits_total",
        "Questions to public lists answered from ward's cache"
    );
    describe_counter!(
        "ward_external_capped_total",
        "Questions to public lists not sent: over the outbound cap"
    );
    let stats = external.stats();
    for (list, outcome, count) in stats.sent() {
        counter!("ward_external_queries_total", "list" => list.to_string(), "outcome" => outcome)
            .absolute(count);
    }
    for (list, seconds) in stats.seconds() {
        gauge!("ward_external_query_seconds_sum", "list" => list.to_string()).set(seconds);
    }
    counter!("ward_external_cache_hits_total").absolute(stats.cache_hits());
    counter!("ward_external_capped_total").absolute(stats.capped());
}

fn report_web(web: &WebStats) {
    describe_counter!(
        "ward_api_listings_added_total",
        "Listings the admin API added, by whether fail2ban added them"
    );
    describe_counter!(
        "ward_self_removals_total",
        "Listings their owners removed themselves from the lookup page"
    );
    let (fail2ban, others, self_removals) = web.counts();
    counter!("ward_api_listings_added_total", "by" => "fail2ban").absolute(fail2ban);
    counter!("ward_api_listings_added_total", "by" => "other").absolute(others);
    counter!("ward_self_removals_total").absolute(self_removals);
}
