//! "Is my server listed anywhere?" (issue 20): the lookup page, its JSON, the bounce
//! explainer and `ward lookup --external` also ask public lists. Stand-ins for them
//! run on loopback: a second ward, authoritative for a list that lists the test IP, one
//! that answers 127.255.255.254 to everything (Spamhaus' "your resolver is refused"),
//! one with an undocumented code, one whose queries are dropped (a timeout), a zone it
//! does not serve (REFUSED) and a domain list; the ward under test asks it as its
//! resolver. (The interop suite does the same behind a real unbound, with rbldnsd.)

use std::time::Duration;

use serde_json::Value;

use crate::support::web::{Web, encode, get, launch_toml, ward_cli};
use crate::support::{TestServer, http_get};

const LISTED_IP: &str = "192.0.2.99";

/// The stand-in public lists, on one authoritative ward with metrics (to count the
/// questions it gets).
fn stand_in() -> TestServer {
    TestServer::with_files_and(
        &[
            (
                "listed.test.zone",
                "192.0.2.99 :127.0.0.4:Exploited host\n2001:db8::99 :127.0.0.2:Spam source\n",
            ),
            (
                "refuses.test.ip4set",
                "0.0.0.0/0 :127.255.255.254:Refused\n",
            ),
            ("odd.test.ip4set", "192.0.2.99 :127.0.0.99:Odd\n"),
            ("dom.test.dnset", "spam.example :127.0.1.2:Spam domain\n"),
            ("slow.test/data.ip4set", "192.0.2.99 :127.0.0.2:x\n"),
            // Every query of slow.test is dropped: the resolver times out.
            ("slow.test/clients.acl", "0.0.0.0/0 :ignore\n::/0 :ignore\n"),
        ],
        &["--metrics", "127.0.0.1:0", "--no-test-points"],
        "",
    )
}

/// ward.toml for the ward under test: the stand-in as its resolver, and the lists.
fn toml(resolver: std::net::SocketAddr, per_second: u32) -> String {
    format!(
        r#"
[resolver]
address = "{resolver}"
timeout = 1.0
max_queries_per_second = {per_second}

[external."listed.test"]
name = "Stand-in list"
lists = ["ipv4", "ipv6"]
link = "https://lists.example/lookup?ip=$"
[external."listed.test".codes]
"127.0.0.2" = "a spam source"
"127.0.0.4-127.0.0.7" = "an exploited host"

[external."refuses.test"]
name = "Refusing list"
lists = ["ipv4"]
[external."refuses.test".codes]
"127.0.0.2" = "listed"

[external."odd.test"]
name = "Odd list"
lists = ["ipv4"]
[external."odd.test".codes]
"127.0.0.2" = "listed"

[external."slow.test"]
name = "Silent list"
lists = ["ipv4"]
[external."slow.test".codes]
"127.0.0.2" = "listed"

[external."gone.test"]
name = "Gone list"
lists = ["ipv4"]
[external."gone.test".codes]
"127.0.0.2" = "listed"

[external."dom.test"]
name = "Domain list"
lists = ["domain"]
[external."dom.test".codes]
"127.0.1.2" = "a spam domain"
"#
    )
}

fn launch(stand_in: &TestServer, per_second: u32) -> Web {
    launch_toml(&[], &[], &toml(stand_in.addr, per_second), |web| {
        web.pages = ward::Budget {
            per_client: 10_000,
            period: Duration::from_secs(60),
        };
    })
}

fn lookup(web: &Web, q: &str) -> Value {
    let reply = get(&web.url(&format!("/api/v1/lookup?q={}", encode(q))), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn list<'v>(view: &'v Value, zone: &str) -> &'v Value {
    view["external"]
        .as_array()
        .unwrap_or_else(|| panic!("no external in {view:#}"))
        .iter()
        .find(|l| l["zone"] == zone)
        .unwrap_or_else(|| panic!("no {zone} in {view:#}"))
}

/// Questions the stand-in has answered so far, all zones.
fn questions(stand_in: &TestServer) -> u64 {
    let (_, body) = http_get(stand_in.metrics.unwrap(), "/metrics").unwrap();
    body.lines()
        .filter(|l| l.starts_with("ward_dns_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn every_list_says_listed_not_listed_or_why_it_could_not_check() {
    let stand_in = stand_in();
    let web = launch(&stand_in, 100);
    let view = lookup(&web, LISTED_IP);
    let listed = list(&view, "listed.test");
    assert_eq!(listed["status"], "listed");
    assert_eq!(listed["codes"], serde_json::json!(["127.0.0.4"]));
    assert_eq!(listed["meanings"], serde_json::json!(["an exploited host"]));
    assert_eq!(listed["link"], "https://lists.example/lookup?ip=192.0.2.99");
    let refused = list(&view, "refuses.test");
    assert_eq!(
        refused["status"], "not checked",
        "127.255.255.254 is no listing"
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("refuses the resolver")
    );
    let odd = list(&view, "odd.test");
    assert_eq!(
        odd["status"], "not checked",
        "an undocumented code is no listing"
    );
    assert!(
        odd["detail"]
            .as_str()
            .unwrap()
            .contains("unknown answer 127.0.0.99")
    );
    let silent = list(&view, "slow.test");
    assert_eq!(silent["status"], "not checked");
    assert!(
        silent["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within 1.0 s")
    );
    let gone = list(&view, "gone.test");
    assert_eq!(gone["status"], "not checked");
    assert!(
        gone["detail"].as_str().unwrap().contains("refused"),
        "{gone}"
    );
    assert!(
        view["external"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["zone"] != "dom.test"),
        "a domain list is not asked about an IP"
    );
    let clean = lookup(&web, "192.0.2.100");
    assert_eq!(list(&clean, "listed.test")["status"], "not listed");
    let v6 = lookup(&web, "2001:db8::99");
    assert_eq!(
        list(&v6, "listed.test")["meanings"],
        serde_json::json!(["a spam source"])
    );
    let domain = lookup(&web, "spam.example");
    assert_eq!(list(&domain, "dom.test")["status"], "listed");
    assert_eq!(domain["external"].as_array().unwrap().len(), 1);
    // The page says the same in words.
    let page = get(&web.url(&format!("/lookup?q={LISTED_IP}")), &[]);
    assert!(page.body.contains("Other lists"), "{}", page.body);
    assert!(page.body.contains("an exploited host"));
    assert!(page.body.contains("could not check"));
    assert!(page.body.contains("unknown answer 127.0.0.99"));
}

/// A second identical lookup is answered from the cache: no question reaches the
/// lists.
#[test]
fn a_second_lookup_asks_no_list_again() {
    let stand_in = stand_in();
    let web = launch_toml(
        &[],
        &["--metrics", "127.0.0.1:0"],
        &toml(stand_in.addr, 100),
        |_| {},
    );
    lookup(&web, "192.0.2.50");
    let after_first = questions(&stand_in);
    assert!(after_first >= 4, "{after_first} questions");
    lookup(&web, "192.0.2.50");
    let page = get(&web.url("/lookup?q=192.0.2.50"), &[]);
    assert_eq!(page.status, 200);
    assert_eq!(questions(&stand_in), after_first, "answered from the cache");
    // The metrics count the questions by list and outcome, and the cache hits.
    let (_, metrics) = http_get(web.server.metrics.unwrap(), "/metrics").unwrap();
    let sample = |series: &str| crate::support::sample(&metrics, series);
    assert_eq!(
        sample("ward_external_queries_total{list=\"listed.test\",outcome=\"not_listed\"}"),
        1
    );
    assert_eq!(
        sample("ward_external_queries_total{list=\"slow.test\",outcome=\"timeout\"}"),
        1
    );
    assert!(sample("ward_external_cache_hits_total") >= 5, "{metrics}");
    assert!(metrics.contains("ward_external_query_seconds_sum{list=\"slow.test\"}"));
}

/// A burst of lookups of distinct IPs stays within the outbound cap: the page cannot
/// be used to flood other lists.
#[test]
fn a_burst_of_lookups_stays_within_the_outbound_cap() {
    let stand_in = stand_in();
    // Two lists that answer at once (no timeouts to pace the burst).
    let toml = format!(
        "[resolver]\naddress = \"{}\"\nmax_queries_per_second = 5\n\
         [external.\"listed.test\"]\nlists = [\"ipv4\"]\n[external.\"listed.test\".codes]\n\"127.0.0.4\" = \"x\"\n\
         [external.\"refuses.test\"]\nlists = [\"ipv4\"]\n",
        stand_in.addr
    );
    let web = launch_toml(&[], &[], &toml, |web| {
        web.pages = ward::Budget {
            per_client: 10_000,
            period: Duration::from_secs(60),
        };
    });
    let before = questions(&stand_in);
    let started = std::time::Instant::now();
    let mut capped = 0;
    for i in 0..1000u32 {
        let ip = format!("198.18.{}.{}", i / 250, i % 250 + 1);
        let view = lookup(&web, &ip);
        capped += view["external"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("only so often"))
            })
            .count();
    }
    let seconds = started.elapsed().as_secs() + 1;
    let sent = questions(&stand_in) - before;
    assert!(
        sent <= 5 * seconds + 5,
        "{sent} questions in {seconds} s with a cap of 5 a second"
    );
    assert!(capped > 1000, "lookups over the cap say so: {capped}");
}

#[test]
fn the_explainer_and_the_command_line_ask_the_lists_too() {
    let stand_in = stand_in();
    let web = launch(&stand_in, 100);
    let bounce = format!(
        "554 5.7.1 Service unavailable; Client host [{LISTED_IP}] blocked using listed.test; see https://lists.example/"
    );
    let reply = web.submit("/explain", "/explain", &[("text", &bounce)]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains(
            "listed.test (Stand-in list) lists 192.0.2.99 as 127.0.0.4: an exploited host."
        ),
        "{}",
        reply.body
    );
    assert!(
        !reply.body.contains("is not one of our lists"),
        "{}",
        reply.body
    );
    let unknown = web.submit(
        "/explain",
        "/explain",
        &[("text", "550 blocked using gone.test: 192.0.2.99 is listed")],
    );
    assert!(
        unknown
            .body
            .contains("We could not check whether gone.test lists 192.0.2.99"),
        "{}",
        unknown.body
    );
    let (ok, out, err) = ward_cli(web.root.path(), &["lookup", "--external", LISTED_IP]);
    assert!(ok, "listed by a public list: exit 0; {err}");
    assert!(
        out.contains("Stand-in list (listed.test): listed: 127.0.0.4 (an exploited host)"),
        "{out}"
    );
    assert!(
        out.contains("Silent list (slow.test): could not check: no answer within 1.0 s"),
        "{out}"
    );
}

/// Access keys in zone names (Spamhaus DQS) are asked with, and never shown.
#[test]
fn access_keys_are_used_and_never_shown() {
    let stand_in = TestServer::with_files_and(
        &[("secret123.keyed.test.zone", "192.0.2.99 :127.0.0.2:keyed\n")],
        &["--no-test-points"],
        "",
    );
    let toml = format!(
        "[resolver]\naddress = \"{}\"\n[external.\"keyed.test\"]\nlists = [\"ipv4\"]\nkey = \"secret123\"\n[external.\"keyed.test\".codes]\n\"127.0.0.2\" = \"listed\"\n",
        stand_in.addr
    );
    let web = launch_toml(&[], &[], &toml, |_| {});
    let reply = get(&web.url(&format!("/api/v1/lookup?q={LISTED_IP}")), &[]);
    assert_eq!(list(&reply.json(), "keyed.test")["status"], "listed");
    assert!(!reply.body.contains("secret123"), "{}", reply.body);
    let page = get(&web.url(&format!("/lookup?q={LISTED_IP}")), &[]);
    assert!(!page.body.contains("secret123"));
}
