//! Admin inputs checked the same everywhere (issue 19): every key the zone parser
//! takes passes the API, the command line and request acceptance alike; times are
//! real times; `by` is one word on every call; scheme names are case-insensitive;
//! keys that list loopback or everything need `force`.

use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use serde_json::json;

use crate::support::web::{TOKEN, delete, encode, get, removal_from, start, ward_cli};
use crate::support::{a_records, eventually, ip6_name};

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// Regression: IPv6 keys written with a leading `::` were refused by the API's key
/// check although zone files take them, so a removal request for `::2` could be
/// accepted by no one. They pass the API, the command line and acceptance alike.
#[test]
fn ipv6_keys_with_a_leading_double_colon_pass_everywhere() {
    let web = start(&[]);
    for key in ["::2", "::ffff:192.0.2.80", "::2:0/112"] {
        let added = web.admin_post(
            "/api/v1/entries",
            &json!({"zone": "ips.block.example", "key": key, "reason": "spam-source"}),
        );
        assert_eq!(added.status, 201, "{key}: {}", added.body);
        let url = web.admin_url(&format!(
            "/api/v1/entries?zone=ips.block.example&key={}",
            encode(key)
        ));
        let removed = delete(&url, &[("authorization", &bearer())]);
        assert_eq!(removed.status, 200, "{key}: {}", removed.body);
    }
    let dir = web.root.path();
    let (ok, out, err) = ward_cli(dir, &["add", "ips.block.example", "::3", "spam-source"]);
    assert!(ok, "{err}");
    assert!(out.contains("added ::3  spam-source"), "{out}");
    // A request for ::3, accepted through the API and (for ::5) the command line.
    let (ok, _, err) = ward_cli(dir, &["add", "ips.block.example", "::5", "spam-source"]);
    assert!(ok, "{err}");
    let served = ip6_name("::3", "ips.block.example");
    eventually(Duration::from_secs(10), "::3 is served", || {
        a_records(&web.server.udp(&served, RecordType::A)) == ["127.0.0.2"]
    });
    removal_from(&web, "ips.block.example", "::3", "a@example.org", "fixed");
    removal_from(&web, "ips.block.example", "::5", "b@example.org", "fixed");
    let accepted = web.admin_post("/api/v1/requests/1/accept", &json!({"answer": "ok"}));
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.json()["removed"][0]["key"], "::3");
    let (ok, out, err) = ward_cli(dir, &["requests", "accept", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed ::5"), "{out}");
}

/// Regression: `expires` of 2027-02-30 became 2027-03-02, an offset of +99:99
/// shifted the time by days. Both are refused with what is wrong.
#[test]
fn impossible_expiry_times_are_refused() {
    let web = start(&[]);
    for (expires, why) in [
        ("2027-02-30", "no such date: month 2 has 28 days"),
        (
            "2027-03-01T00:00:00+99:99",
            "offset from UTC within -23:59 and +23:59",
        ),
    ] {
        let refused = web.admin_post(
            "/api/v1/entries",
            &json!({"zone": "ips.block.example", "key": "192.0.2.70", "reason": "spam-source", "expires": expires}),
        );
        assert_eq!(refused.status, 400, "{expires}");
        assert!(refused.body.contains(why), "{expires}: {}", refused.body);
        let (ok, _, err) = ward_cli(
            web.root.path(),
            &[
                "add",
                "ips.block.example",
                "192.0.2.70",
                "spam-source",
                "--expires",
                expires,
            ],
        );
        assert!(!ok && err.contains(why), "{expires}: {err}");
    }
}

/// Regression: `by` was checked on add only; a DELETE, an accept or a reject took any
/// text, newlines included, into the audit log as the actor.
#[test]
fn by_is_checked_on_every_call() {
    let web = start(&[]);
    let added = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": "ips.block.example", "key": "192.0.2.71", "reason": "spam-source"}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let url = web.admin_url(&format!(
        "/api/v1/entries?zone=ips.block.example&key=192.0.2.71&by={}",
        encode("mallory\n{\"action\":\"forged\"}")
    ));
    let refused = delete(&url, &[("authorization", &bearer())]);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("by: expected"), "{}", refused.body);
    removal_from(
        &web,
        "ips.block.example",
        "192.0.2.71",
        "c@example.org",
        "fixed",
    );
    for action in ["accept", "reject"] {
        let refused = web.admin_post(
            &format!("/api/v1/requests/1/{action}"),
            &json!({"answer": "no", "by": "two words"}),
        );
        assert_eq!(refused.status, 400, "{action}: {}", refused.body);
    }
    let (ok, _, err) = ward_cli(
        web.root.path(),
        &["requests", "reject", "1", "--answer", "no", "--by", "a\nb"],
    );
    assert!(!ok && err.contains("by: expected"), "{err}");
    let audit = std::fs::read_to_string(web.state.join("audit.log")).unwrap();
    assert!(
        !audit.contains("mallory") && !audit.contains("two words"),
        "{audit}"
    );
}

/// Regression: `Authorization: bearer …` was refused; scheme names are
/// case-insensitive (RFC 7235 §2.1).
#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let web = start(&[]);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let listed = get(
            &web.admin_url("/api/v1/entries"),
            &[("authorization", &format!("{scheme} {TOKEN}"))],
        );
        assert_eq!(listed.status, 200, "{scheme}: {}", listed.body);
    }
    let wrong = get(
        &web.admin_url("/api/v1/entries"),
        &[("authorization", &format!("Basic {TOKEN}"))],
    );
    assert_eq!(wrong.status, 401);
}

/// Regression: 0.0.0.0/0, ::/0 and 127.0.0.0/8 went live through the API without a
/// word. They need `"force": true` (`ward add --force`); `ward check` warns.
#[test]
fn keys_that_list_loopback_or_everything_need_force() {
    let web = start(&[]);
    for key in ["0.0.0.0/0", "::/0", "127.0.0.0/8", "::1"] {
        let refused = web.admin_post(
            "/api/v1/entries",
            &json!({"zone": "ips.block.example", "key": key, "reason": "spam-source"}),
        );
        assert_eq!(refused.status, 400, "{key}: {}", refused.body);
        assert!(
            refused.body.contains("\\\"force\\\": true"),
            "{key}: {}",
            refused.body
        );
    }
    let forced = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": "ips.block.example", "key": "0.0.0.0/0", "reason": "spam-source", "force": true}),
    );
    assert_eq!(forced.status, 201, "{}", forced.body);
    let dir = web.root.path();
    let (ok, _, err) = ward_cli(dir, &["add", "ips.block.example", "::/0", "spam-source"]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, _, err) = ward_cli(
        dir,
        &["add", "ips.block.example", "::/0", "spam-source", "--force"],
    );
    assert!(ok, "{err}");
    let (_, out, _) = ward_cli(dir, &["check"]);
    assert!(out.contains("of all IPv4 addresses (0.0.0.0/0?)"), "{out}");
    assert!(out.contains("of all IPv6 addresses (::/0?)"), "{out}");
    assert!(out.contains("127.0.0.1 is listed"), "{out}");
}
