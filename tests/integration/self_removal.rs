//! Removal by the listed themselves (issue 21): a reason marked `self-remove=30d` in
//! reasons.conf lets the lookup page remove a listing the API or fail2ban made, once
//! in the period per value; `check=spf` first reads the domain's SPF record through
//! the resolver (a stand-in ward, authoritative for the domain, here). Listings from
//! admins' own files, and reasons without the mark, never go this way.

use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use serde_json::{Value, json};

use crate::support::web::{
    Reply, TOKEN, Web, encode, form, get, launch_toml, post, sample, ward_cli,
};
use crate::support::{TestServer, a_records, eventually, http_get};

const ZONE: &str = "lists.test";

/// The ward under test: the shipped zones and reasons, plus `lists.test` with an
/// admin's own file, asking `resolver` for SPF records.
fn start(resolver: std::net::SocketAddr) -> Web {
    let toml = format!(
        r#"
[resolver]
address = "{resolver}"
timeout = 1.0

[self_removal]
spf_include = ["_spf.hosting.example"]
spf_networks = ["192.0.2.0/24"]
"#
    );
    launch_toml(
        &[(
            "lists.test/admin.zone",
            "own@corp.example  invalid-recipients\n",
        )],
        &["--metrics", "127.0.0.1:0"],
        &toml,
        |_| {},
    )
}

/// A stand-in authoritative server for `spf.test`, whose `customer` has `spf`.
fn dns_with_spf(spf: &str) -> TestServer {
    TestServer::with_files(&[("spf.test/records.generic", &spf_record(spf))])
}

fn spf_record(spf: &str) -> String {
    format!("customer TXT \"{spf}\"\n")
}

fn list(web: &Web, key: &str, reason: &str, by: &str) {
    let reply = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": ZONE, "key": key, "reason": reason, "by": by,
                "ticket": "ward-invalid-recipients", "expires": "2099-01-01T00:00:00Z"}),
    );
    assert!(matches!(reply.status, 200 | 201), "{key}: {}", reply.body);
}

/// The lookup JSON's view of `ZONE` for `q`, once `q` is listed there.
fn zone_view(web: &Web, q: &str) -> Value {
    let mut found = Value::Null;
    eventually(Duration::from_secs(10), "the listing is served", || {
        let reply = get(&web.url(&format!("/api/v1/lookup?q={}", encode(q))), &[]);
        found = reply.json()["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == ZONE && z["listed"] == true)
            .cloned()
            .unwrap_or(Value::Null);
        !found.is_null()
    });
    found
}

fn listed_in_dns(web: &Web, name: &str) -> bool {
    !a_records(&web.server.udp(&format!("{name}.{ZONE}"), RecordType::A)).is_empty()
}

/// The page's "I fixed it" form, sent as a browser sends it.
fn self_remove(web: &Web, q: &str, contact: &str) -> Reply {
    self_remove_from(web, &format!("/lookup?q={}", encode(q)), q, contact)
}

/// The form sent with the cookie and token of `page`, which need not offer it (a
/// crafted request).
fn self_remove_from(web: &Web, page: &str, q: &str, contact: &str) -> Reply {
    let mut reply = web.submit(
        page,
        "/self-remove",
        &[("zone", ZONE), ("q", q), ("contact", contact)],
    );
    // What the page says, as a visitor reads it.
    reply.body = reply
        .body
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    reply
}

#[test]
fn a_listing_removes_itself_once_per_period() {
    let dns = dns_with_spf("v=spf1 -all");
    let web = start(dns.addr);
    list(&web, "news@shop.example", "invalid-recipients", "fail2ban");
    list(&web, "promo@shop.example", "marketing", "api");
    // Listed by an admin's file too: removing the API's entry would change nothing.
    list(&web, "own@corp.example", "invalid-recipients", "fail2ban");

    let news = zone_view(&web, "news@shop.example");
    assert_eq!(news["self_removal"]["allowed"], true, "{news:#}");
    assert!(news["self_removal"]["check"].is_null(), "{news:#}");
    let page = get(&web.url("/lookup?q=news%40shop.example"), &[]);
    assert!(
        page.body.contains("I fixed it: remove it now"),
        "{}",
        page.body
    );
    for (q, why) in [
        ("promo@shop.example", "marketing is not self-removable"),
        ("own@corp.example", "an admin's own file lists it"),
    ] {
        let view = zone_view(&web, q);
        assert!(view.get("self_removal").is_none(), "{why}: {view:#}");
        let page = get(&web.url(&format!("/lookup?q={}", encode(q))), &[]);
        assert!(!page.body.contains("I fixed it"), "{why}");
        // A crafted form is refused just the same, and the listing stays.
        let reply = self_remove_from(&web, "/explain", q, "");
        assert_eq!(reply.status, 409, "{why}: {}", reply.body);
        assert!(
            reply.body.contains("cannot be removed here"),
            "{}",
            reply.body
        );
        assert!(listed_in_dns(&web, &q.replace('@', ".")), "{why}");
    }
    // Without the page's CSRF token nothing happens.
    let forged = post(
        &web.url("/self-remove"),
        "application/x-www-form-urlencoded",
        &form(&[("zone", ZONE), ("q", "news@shop.example"), ("csrf", "x")]),
        &[],
    );
    assert_ne!(forged.status, 200, "{}", forged.body);
    assert!(listed_in_dns(&web, "news.shop.example"));
    let bad_contact = self_remove(&web, "news@shop.example", "not an address");
    assert_eq!(bad_contact.status, 400, "{}", bad_contact.body);

    let removed = self_remove(&web, "news@shop.example", "owner@shop.example");
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(
        removed.body.contains("is no longer listed"),
        "{}",
        removed.body
    );
    eventually(Duration::from_secs(10), "the removal is served", || {
        !listed_in_dns(&web, "news.shop.example")
    });
    let api_zone = std::fs::read_to_string(web.zones.join(ZONE).join("api.zone")).unwrap();
    assert!(!api_zone.contains("news@shop.example"), "{api_zone}");
    assert!(api_zone.contains("promo@shop.example"), "{api_zone}");
    let own = std::fs::read_to_string(web.zones.join(ZONE).join("admin.zone")).unwrap();
    assert_eq!(
        own, "own@corp.example  invalid-recipients\n",
        "admins' files untouched"
    );
    let audit = std::fs::read_to_string(web.state.join("audit.log")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("self-remove"))
        .unwrap_or_else(|| panic!("audited: {audit}"));
    assert!(
        line.contains("news@shop.example") && line.contains("127.0.0.1"),
        "{line}"
    );

    // The admin sees it: the API, the command line, the metrics.
    let admin = get(
        &web.admin_url("/api/v1/self-removals"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .json();
    let records = admin["self_removals"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{admin:#}");
    assert_eq!(records[0]["what"], "news@shop.example");
    assert_eq!(records[0]["zone"], ZONE);
    assert_eq!(records[0]["reason"], "invalid-recipients");
    assert_eq!(records[0]["client_ip"], "127.0.0.1");
    assert_eq!(records[0]["contact"], "owner@shop.example");
    let (ok, out, err) = ward_cli(web.root.path(), &["requests", "self-removals"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("news@shop.example in lists.test (invalid-recipients) removed by its owner from 127.0.0.1 <owner@shop.example>"),
        "{out}"
    );
    let (ok, out, err) = ward_cli(web.root.path(), &["requests", "fail2ban"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("own@corp.example in lists.test (invalid-recipients) until 2099"),
        "{out}"
    );
    assert!(
        !out.contains("promo@shop.example"),
        "listed by the API, not fail2ban: {out}"
    );
    let metrics = web.server.metrics.expect("metrics are on");
    let (_, text) = http_get(metrics, "/metrics").expect("metrics answer");
    assert_eq!(sample(&text, "ward_self_removals_total"), 1, "{text}");
    assert_eq!(
        sample(&text, "ward_api_listings_added_total{by=\"fail2ban\"}"),
        2,
        "{text}"
    );
    assert_eq!(
        sample(&text, "ward_api_listings_added_total{by=\"other\"}"),
        1
    );

    // Listed again within the period: no second free pass.
    list(&web, "news@shop.example", "invalid-recipients", "fail2ban");
    let again = zone_view(&web, "news@shop.example");
    assert_eq!(again["self_removal"]["allowed"], false, "{again:#}");
    assert!(
        again["self_removal"]["again"].as_str().is_some(),
        "{again:#}"
    );
    let page = get(&web.url("/lookup?q=news%40shop.example"), &[]);
    assert!(!page.body.contains("I fixed it"), "{}", page.body);
    assert!(
        page.body.contains("a removal needs a request"),
        "{}",
        page.body
    );
    let refused = self_remove_from(&web, "/explain", "news@shop.example", "");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("needs a request"), "{}", refused.body);
    assert!(
        refused.body.contains("/request/new?zone=lists.test"),
        "{}",
        refused.body
    );
    assert!(listed_in_dns(&web, "news.shop.example"));
}

#[test]
fn an_spf_listing_goes_once_the_record_is_fixed() {
    let dns = dns_with_spf("v=spf1 ip4:198.51.100.0/24 -all");
    let web = start(dns.addr);
    list(&web, "customer.spf.test", "missing-spf", "fail2ban");
    let view = zone_view(&web, "customer.spf.test");
    assert_eq!(view["self_removal"]["allowed"], true, "{view:#}");
    assert_eq!(view["self_removal"]["check"], "spf", "{view:#}");

    let refused = self_remove(&web, "customer.spf.test", "");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("v=spf1 ip4:198.51.100.0/24 -all")
            && refused
                .body
                .contains("include:_spf.hosting.example or ip4:192.0.2.0/24"),
        "what the record says and what it lacks: {}",
        refused.body
    );
    assert!(listed_in_dns(&web, "customer.spf.test"));
    let still = zone_view(&web, "customer.spf.test");
    assert_eq!(
        still["self_removal"]["allowed"], true,
        "a refused check is no removal"
    );

    // The customer fixes the record; the next try goes through.
    std::fs::write(
        dns.zones.join("spf.test/records.generic"),
        spf_record("v=spf1 ip4:198.51.100.0/24 include:_spf.hosting.example -all"),
    )
    .unwrap();
    dns.reload();
    let accepted = self_remove(&web, "customer.spf.test", "");
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    eventually(Duration::from_secs(10), "the removal is served", || {
        !listed_in_dns(&web, "customer.spf.test")
    });
}

/// Without a `[self_removal]` policy ward cannot tell a fixed record from a broken one:
/// the listing stays and the page says to open a request.
#[test]
fn an_spf_check_without_a_policy_refuses() {
    let dns = dns_with_spf("v=spf1 include:_spf.hosting.example -all");
    let web = launch_toml(
        &[("lists.test/admin.zone", "")],
        &[],
        &format!("[resolver]\naddress = \"{}\"\n", dns.addr),
        |_| {},
    );
    list(&web, "customer.spf.test", "missing-spf", "api");
    zone_view(&web, "customer.spf.test");
    let refused = self_remove(&web, "customer.spf.test", "");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("open a removal request"),
        "{}",
        refused.body
    );
    assert!(listed_in_dns(&web, "customer.spf.test"));
}
