//! The lookup page, the bounce explainer, removal requests and the admin API, spoken
//! to over real HTTP (and DNS) on 127.0.0.1 against a running ward.

use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use serde_json::json;

use crate::support::web::{
    Reply, TOKEN, delete, encode, get, launch_with, lookup_json, post, removal_from, start,
    ward_cli,
};
use crate::support::{a_records, eventually, ip4_name};

/// A TXT with markup in it, to check that zone data is shown as text.
const XSS_ZONE: (&str, &str) = (
    "ips.block.example/xss.zone",
    "192.0.2.66 :127.0.0.2:<script>alert('txt')</script> listed $\n",
);

fn zone<'v>(view: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    view["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == name)
        .unwrap_or_else(|| panic!("no zone {name} in {view:#}"))
}

#[test]
fn lookups_of_listed_and_unlisted_values_as_json_and_html() {
    let web = start(&[]);
    // IPv4, listed: reason, code with its name, since, ticket, the query name.
    let view = lookup_json(&web, "203.0.113.7");
    assert_eq!(view["listed"], true);
    assert_eq!(view["kind"], "IPv4 address");
    let ips = zone(&view, "ips.block.example");
    assert_eq!(
        ips["codes"],
        json!([{"code": "127.0.0.3", "reason": "compromised-host"}])
    );
    assert!(ips["reasons"][0].as_str().unwrap().contains("looks hacked"));
    assert_eq!(ips["entries"][0]["since"], "2026-11-20");
    assert_eq!(ips["entries"][0]["ticket"], "4711");
    assert_eq!(ips["entries"][0]["until"], serde_json::Value::Null);
    assert_eq!(ips["queries"][0]["qname"], "7.113.0.203.ips.block.example.");
    assert_eq!(
        ips["removal"],
        "/request/new?zone=ips.block.example&q=203.0.113.7"
    );
    // IPv4, not listed.
    let view = lookup_json(&web, "203.0.113.8");
    assert_eq!(view["listed"], false);
    let ips = zone(&view, "ips.block.example");
    assert_eq!(ips["queries"][0]["answer"], "NXDOMAIN (not listed)");
    assert_eq!(ips["removal"], serde_json::Value::Null);
    // IPv6.
    let view = lookup_json(&web, "2001:db8::25");
    assert_eq!(view["kind"], "IPv6 address");
    let ips = zone(&view, "ips.block.example");
    assert_eq!(ips["listed"], true);
    assert!(
        ips["queries"][0]["qname"]
            .as_str()
            .unwrap()
            .starts_with("5.2.0.0.0.0.0.0.")
    );
    assert_eq!(lookup_json(&web, "2001:db8::26")["listed"], false);
    // A domain (listed by a wildcard), and one that is not.
    let view = lookup_json(&web, "mail.spam.example");
    let domains = zone(&view, "domains.block.example");
    assert_eq!(domains["listed"], true);
    assert_eq!(domains["codes"][0]["reason"], "spam-source");
    assert_eq!(
        domains["queries"][0]["qname"],
        "mail.spam.example.domains.block.example."
    );
    assert_eq!(lookup_json(&web, "good.example")["listed"], false);
    // An address: the plain and the hashed names, an expiry.
    let view = lookup_json(&web, "sender1@bulk.example");
    assert_eq!(view["kind"], "email address");
    let senders = zone(&view, "senders.block.example");
    assert_eq!(senders["listed"], true);
    assert_eq!(senders["entries"][0]["until"], "2027-06-01T00:00:00Z");
    let names: Vec<&str> = senders["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["listed"] == true)
        .map(|q| q["qname"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"sender1.bulk.example.senders.block.example."));
    assert!(
        names.contains(&"0e8f926a6f57c8938c2d534ebebdfba4abd3aa8a.senders.block.example."),
        "{names:?}"
    );
    assert_eq!(lookup_json(&web, "nobody@good.example")["listed"], false);

    // The page says the same in words.
    let page = get(&web.url("/lookup?q=203.0.113.7"), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for text in [
        "203.0.113.7 is listed in 1 of our lists",
        "looks hacked",
        "127.0.0.3",
        "(compromised-host)",
        "Listed since</dt><dd>2026-11-20",
        "until removed",
        "7.113.0.203.ips.block.example.",
        "Request removal from ips.block.example",
    ] {
        assert!(page.body.contains(text), "{text:?} missing:\n{}", page.body);
    }
    let page = get(&web.url("/lookup?q=good.example"), &[]);
    assert!(
        page.body.contains("good.example is not listed"),
        "{}",
        page.body
    );
    let page = get(&web.url("/lookup?q=nobody%40good.example"), &[]);
    assert!(page.body.contains("is not listed"), "{}", page.body);
    // Not a value at all: a 400 with the reason, as HTML and as JSON.
    let page = get(&web.url("/lookup?q=not%20a%20name"), &[]);
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("is not an IP address, domain name or email address")
    );
    let reply = get(&web.url("/api/v1/lookup?q=a%20b"), &[]);
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("not an IP")
    );
}

#[test]
fn the_start_page_offers_the_visitors_own_address() {
    let web = start(&[]);
    // No proxy is trusted: what a client claims to be is ignored.
    let page = get(&web.url("/"), &[("x-forwarded-for", "198.51.100.7")]);
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("name=\"q\" type=\"text\" value=\"127.0.0.1\""),
        "{}",
        page.body
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(!page.body.contains("<script"), "no script on any page");
    let css = get(&web.url("/ward.css"), &[]);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

/// Bounces as mail servers write them, each with the listing it should find.
const BOUNCES: &[(&str, &str, &str)] = &[
    (
        "Postfix, client IP in brackets",
        "<joe@receiver.example>: host mx.receiver.example[198.51.100.25] said: 554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using ips.block.example; 203.0.113.7 looks hacked: it sends spam its owner does not know about. (in reply to RCPT TO command)",
        "Our list ips.block.example caused this bounce: 203.0.113.7 is listed there.",
    ),
    (
        "Postfix RHSBL, sender domain",
        "554 5.7.1 <news@mail.spam.example>: Sender address rejected: Service unavailable; Sender address [news@mail.spam.example] blocked using domains.block.example; mail.spam.example sent spam to our users",
        "Our list domains.block.example caused this bounce: mail.spam.example is listed there.",
    ),
    (
        "Exim, IPv6 without brackets",
        "SMTP error from remote mail server after RCPT TO:<joe@receiver.example>:\n    550-2001:db8::25 is listed by ips.block.example (127.0.0.3): 2001:db8::25 looks\n    550 hacked: it sends spam its owner does not know about.",
        "Our list ips.block.example caused this bounce: 2001:db8::25 is listed there.",
    ),
    (
        "Microsoft Exchange NDR",
        "Delivery has failed to these recipients or groups:\n\njoe@receiver.example\nYour message wasn't delivered because the recipient's email provider rejected it.\n\nDiagnostic information for administrators:\n\nGenerating server: EXCH01.corp.example\n\njoe@receiver.example\nRemote Server returned '550 5.7.1 Client host 198.51.100.12 blocked using ips.block.example'\n\nOriginal message headers:\nReceived: from EXCH01.corp.example (10.1.2.3) by EXCH02.corp.example",
        "Our list ips.block.example caused this bounce: 198.51.100.12 is listed there.",
    ),
    (
        "Gmail-style, recipient address",
        "** Message blocked **\n\nYour message to annoyed@receiver.example has been blocked. See technical details below for more information.\n\nThe response from the remote server was:\n550 5.7.1 <annoyed@receiver.example>: Recipient address rejected: listed by recipients.block.example",
        "Our list recipients.block.example caused this bounce: annoyed@receiver.example is listed there.",
    ),
    (
        "rspamd-style sender address, hashed list",
        "550 5.7.1 Spam message rejected; sender <Sender1@Bulk.example> is listed in senders.block.example",
        "Our list senders.block.example caused this bounce: sender1@bulk.example is listed there.",
    ),
];

#[test]
fn the_explainer_finds_the_listing_in_real_world_bounces() {
    let web = start(&[]);
    for (shape, bounce, expected) in BOUNCES {
        let reply = web.submit("/explain", "/explain", &[("text", bounce)]);
        assert_eq!(reply.status, 200, "{shape}: {}", reply.body);
        let expected = expected.replace('\'', "&#x27;");
        assert!(
            reply.body.contains(&expected),
            "{shape}: expected {expected:?} in\n{}",
            reply.body
        );
        assert!(reply.body.contains("Request removal"), "{shape}");
    }
    // A GET with the text works too (no JavaScript, links can be shared).
    let reply = get(
        &web.url(&format!(
            "/explain?text={}",
            encode("554 5.7.1 Client host [203.0.113.7] blocked using ips.block.example")
        )),
        &[],
    );
    assert!(
        reply
            .body
            .contains("Our list ips.block.example caused this bounce")
    );
}

#[test]
fn the_explainer_says_when_the_list_is_not_ours_or_no_longer_lists_it() {
    let web = start(&[]);
    let reply = web.submit(
        "/explain",
        "/explain",
        &[(
            "text",
            "554 5.7.1 Service unavailable; Client host [192.0.2.99] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.99",
        )],
    );
    assert!(
        reply
            .body
            .contains("zen.spamhaus.org is not one of our lists: ask its operator"),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("caused this bounce"), "{}", reply.body);
    let reply = web.submit(
        "/explain",
        "/explain",
        &[(
            "text",
            "554 5.7.1 Service unavailable; Client host [203.0.113.8] blocked using ips.block.example",
        )],
    );
    assert!(
        reply.body.contains(
            "The bounce names our list ips.block.example, but nothing in it is listed there now"
        ),
        "{}",
        reply.body
    );
    let reply = web.submit(
        "/explain",
        "/explain",
        &[("text", "421 4.7.0 Try again later, closing connection.")],
    );
    assert!(
        reply
            .body
            .contains("Nothing in this text is listed in our lists")
    );
}

#[test]
fn forms_need_their_csrf_token() {
    let web = start(&[]);
    let text = crate::support::web::form(&[("text", "203.0.113.7"), ("csrf", "0123")]);
    let reply = post(
        &web.url("/explain"),
        "application/x-www-form-urlencoded",
        &text,
        &[],
    );
    assert_eq!(reply.status, 403, "no cookie");
    let page = get(&web.url("/explain"), &[]);
    let cookie = page.cookie().unwrap();
    let form = crate::support::web::form(&[("text", "203.0.113.7"), ("csrf", &page.csrf())]);
    let reply = post(
        &web.url("/explain"),
        "application/x-www-form-urlencoded",
        &form,
        &[("cookie", &cookie), ("origin", "http://evil.example")],
    );
    assert_eq!(reply.status, 403, "another origin");
    let reply = post(
        &web.url("/request"),
        "application/x-www-form-urlencoded",
        &crate::support::web::form(&[("zone", "ips.block.example"), ("q", "203.0.113.7")]),
        &[("cookie", &cookie)],
    );
    assert_eq!(reply.status, 403, "no token");
}

/// Posts a removal request for `q` in `zone`, with the cookie and token a browser got
/// from an earlier page.
fn request_removal(web: &crate::support::web::Web, zone: &str, q: &str, message: &str) -> Reply {
    web.submit(
        "/explain",
        "/request",
        &[
            ("zone", zone),
            ("q", q),
            ("email", "owner@sender.example"),
            ("message", message),
        ],
    )
}

#[test]
fn a_removal_request_is_stored_visible_at_its_url_and_decided_by_the_admin() {
    let web = start(&[]);
    // A listing the API owns, so accepting the request can remove it.
    let added = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": "ips.block.example", "key": "192.0.2.77", "reason": "spam-source", "ticket": "T-1"}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let name = ip4_name("192.0.2.77", "ips.block.example");
    eventually(Duration::from_secs(10), "the API's entry is served", || {
        a_records(&web.server.udp(&name, RecordType::A)) == ["127.0.0.2"]
    });
    let form = get(
        &web.url("/request/new?zone=ips.block.example&q=192.0.2.77"),
        &[],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body
            .contains("Request removal of 192.0.2.77 from ips.block.example")
    );
    assert!(form.body.contains("Send removal request"));
    let reply = request_removal(
        &web,
        "ips.block.example",
        "192.0.2.77",
        "Fixed: the script is gone.",
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.header("location").unwrap().to_string();
    let token = location.strip_prefix("/request/").unwrap();
    assert_eq!(token.len(), 32, "an unguessable token, not a number");
    let page = get(&web.url(&location), &[]);
    assert_eq!(page.status, 200);
    for text in [
        "This request is <strong>open</strong>",
        "Fixed: the script is gone.",
        "192.0.2.77",
        "ips.block.example",
    ] {
        assert!(page.body.contains(text), "{text:?}:\n{}", page.body);
    }
    // One open request per listing.
    let again = request_removal(&web, "ips.block.example", "192.0.2.77", "again");
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already open"));
    // Only listed values can be requested.
    let unlisted = request_removal(&web, "ips.block.example", "203.0.113.8", "not listed");
    assert_eq!(unlisted.status, 400);
    // Stored in SQLite in the state directory, with what the brief asks for.
    let store = ward::RequestStore::open(&web.state).unwrap();
    let open = store.list(ward::StateFilter::Open, 10).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].what.as_str(),
            open[0].email.as_str(),
            open[0].client_ip.as_str(),
            open[0].state.as_str()
        ),
        ("192.0.2.77", "owner@sender.example", "127.0.0.1", "open")
    );
    // The admin sees it and accepts it: the entry leaves api.zone and DNS.
    let auth = format!("Bearer {TOKEN}");
    let listed = get(
        &web.admin_url("/api/v1/requests"),
        &[("authorization", &auth)],
    )
    .json();
    let id = listed["requests"][0]["id"].as_i64().unwrap();
    assert_eq!(
        listed["requests"][0]["message"],
        "Fixed: the script is gone."
    );
    assert!(
        listed["requests"][0].get("token").is_none(),
        "the requester's secret stays theirs"
    );
    let accepted = web.admin_post(
        &format!("/api/v1/requests/{id}/accept"),
        &json!({"answer": "Thanks, removed."}),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let accepted = accepted.json();
    assert_eq!(accepted["request"]["state"], "accepted");
    assert_eq!(accepted["removed"][0]["key"], "192.0.2.77");
    assert_eq!(accepted["still_listed"], false);
    eventually(Duration::from_secs(10), "the removal is served", || {
        a_records(&web.server.udp(&name, RecordType::A)).is_empty()
    });
    let page = get(&web.url(&location), &[]);
    assert!(
        page.body
            .contains("This request is <strong>accepted</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Thanks, removed."));
    assert!(page.body.contains("Listed now</dt><dd>no"), "{}", page.body);
    // Deciding twice is refused; a rejection needs an answer.
    let twice = web.admin_post(
        &format!("/api/v1/requests/{id}/reject"),
        &json!({"answer": "no"}),
    );
    assert_eq!(twice.status, 409);
    // A request for an entry in an admin's own file: rejected with an answer.
    let reply = request_removal(&web, "ips.block.example", "203.0.113.7", "please");
    assert_eq!(reply.status, 303, "{}", reply.body);
    let second = get(
        &web.admin_url("/api/v1/requests"),
        &[("authorization", &auth)],
    )
    .json();
    let id = second["requests"][0]["id"].as_i64().unwrap();
    let bare = web.admin_post(&format!("/api/v1/requests/{id}/reject"), &json!({}));
    assert_eq!(bare.status, 400, "{}", bare.body);
    let rejected = web.admin_post(
        &format!("/api/v1/requests/{id}/reject"),
        &json!({"answer": "Still sending spam."}),
    );
    assert_eq!(rejected.json()["request"]["state"], "rejected");
    let page = get(&web.url(reply.header("location").unwrap()), &[]);
    assert!(
        page.body.contains("<strong>rejected</strong>")
            && page.body.contains("Still sending spam.")
    );
    // Every change is in the audit log.
    let audit = std::fs::read_to_string(web.state.join("audit.log")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["add", "request", "remove", "accept", "request", "reject"]
    );
    // Unknown or malformed tokens find nothing.
    assert_eq!(
        get(&web.url("/request/00000000000000000000000000000000"), &[]).status,
        404
    );
    assert_eq!(get(&web.url("/request/1"), &[]).status, 404);
}

/// Behind a reverse proxy (nginx, Caddy, HAProxy) every connection comes from the
/// proxy: with the proxy trusted, the page offers, limits and records the client that
/// `X-Forwarded-For` names, and a forged entry left of it changes nothing.
#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_offered_limited_and_recorded() {
    let web = launch_with(&[], &["--trusted-proxy", "127.0.0.0/8"], |settings| {
        settings.requests = ward::Budget {
            per_client: 1,
            period: Duration::from_secs(3600),
        };
    });
    let page = get(
        &web.url("/"),
        &[("x-forwarded-for", "203.0.113.99, 198.51.100.7")],
    );
    assert!(
        page.body
            .contains("name=\"q\" type=\"text\" value=\"198.51.100.7\""),
        "{}",
        page.body
    );
    let added = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": "ips.block.example", "key": "192.0.2.78", "reason": "spam-source"}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let name = ip4_name("192.0.2.78", "ips.block.example");
    eventually(Duration::from_secs(10), "the API's entry is served", || {
        a_records(&web.server.udp(&name, RecordType::A)) == ["127.0.0.2"]
    });
    let request_as = |forwarded: &str, q: &str| {
        web.submit_with(
            "/explain",
            "/request",
            &[
                ("zone", "ips.block.example"),
                ("q", q),
                ("email", "owner@sender.example"),
                ("message", "fixed"),
            ],
            &[("x-forwarded-for", forwarded)],
        )
    };
    assert_eq!(request_as("198.51.100.7", "192.0.2.78").status, 303);
    // The client's budget of one is spent, whatever it forges left of its address.
    let forged = request_as("198.51.100.200, 198.51.100.7", "203.0.113.8");
    assert_eq!(forged.status, 429, "{}", forged.body);
    // Another client behind the same proxy has its own budget.
    assert_eq!(request_as("192.0.2.200", "203.0.113.8").status, 400);
    let store = ward::RequestStore::open(&web.state).unwrap();
    let open = store.list(ward::StateFilter::Open, 10).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_ip, "198.51.100.7");
}

#[test]
fn too_many_requests_from_one_client_get_429() {
    let web = start(&[]);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let reply = request_removal(
            &web,
            "ips.block.example",
            &format!("203.0.113.{}", 100 + i),
            "x",
        );
        statuses.push(reply.status);
        if reply.status == 429 {
            assert!(reply.header("retry-after").is_some());
            assert!(reply.body.contains("Too many requests"));
        }
    }
    // The budget is five an hour: the sixth is refused before anything else is looked at.
    assert_eq!(statuses[..5], [400; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
}

#[test]
fn the_admin_api_refuses_without_the_right_token_and_is_not_on_the_public_listener() {
    let web = start(&[]);
    let body = json!({"zone": "ips.block.example", "key": "192.0.2.80", "reason": "spam-source"})
        .to_string();
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token-0123456789abcdef")],
        vec![("authorization", "Bearer ")],
        vec![("authorization", TOKEN)],
    ] {
        let reply = post(
            &web.admin_url("/api/v1/entries"),
            "application/json",
            &body,
            &headers,
        );
        assert_eq!(reply.status, 401, "{headers:?}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        let reply = get(&web.admin_url("/api/v1/requests"), &headers);
        assert_eq!(reply.status, 401);
    }
    assert!(!web.zones.join("ips.block.example/api.zone").exists());
    // Nothing of the admin API answers on the public listener.
    let auth = format!("Bearer {TOKEN}");
    let reply = post(
        &web.url("/api/v1/entries"),
        "application/json",
        &body,
        &[("authorization", &auth)],
    );
    assert!(
        reply.status == 404 || reply.status == 405,
        "{}",
        reply.status
    );
    assert_eq!(
        get(&web.url("/api/v1/requests"), &[("authorization", &auth)]).status,
        404
    );
    assert!(!web.zones.join("ips.block.example/api.zone").exists());
}

#[test]
fn the_admin_api_checks_entries_with_the_real_parser() {
    let web = start(&[]);
    let auth = format!("Bearer {TOKEN}");
    let cases = [
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.300", "reason": "spam-source"}),
            400,
            "expected an IPv4 address",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1 #", "reason": "spam-source"}),
            400,
            "as one word",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1", "reason": "no-such-reason"}),
            400,
            "unknown reason `no-such-reason`",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1", "reason": "spam-source", "expires": "2001-01-01"}),
            400,
            "in the past",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1", "reason": "spam-source", "expires": "soon"}),
            400,
            "RFC 3339",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1", "reason": "spam-source", "ticket": "a b"}),
            400,
            "ticket",
        ),
        (
            json!({"zone": "../etc", "key": "192.0.2.1", "reason": "spam-source"}),
            400,
            "not a zone name",
        ),
        (
            json!({"zone": "nope.example", "key": "192.0.2.1", "reason": "spam-source"}),
            404,
            "no zone `nope.example`",
        ),
        (
            json!({"zone": "senders.block.example", "key": "x@y.example", "reason": "spam-source"}),
            409,
            "make the zone a directory first",
        ),
        (
            json!({"zone": "ips.block.example", "key": "192.0.2.1"}),
            400,
            "missing field `reason`",
        ),
    ];
    for (body, status, text) in cases {
        let reply = web.admin_post("/api/v1/entries", &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(
            reply.json()["error"].as_str().unwrap().contains(text),
            "{body}: {}",
            reply.body
        );
    }
    assert!(
        !web.zones.join("ips.block.example/api.zone").exists(),
        "nothing was written"
    );
    // A good one, replaced by a second add of the same key, listed, then removed.
    let add = json!({"zone": "ips.block.example", "key": "198.18.0.0/24", "reason": "spam-source", "expires": "2099-01-01T00:00:00Z", "ticket": "T-2"});
    assert_eq!(web.admin_post("/api/v1/entries", &add).status, 201);
    let again = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": "ips.block.example", "key": "198.18.0.0/24", "reason": "compromised-host"}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["replaced"], true);
    let listed = get(
        &web.admin_url("/api/v1/entries"),
        &[("authorization", &auth)],
    )
    .json();
    assert_eq!(listed["entries"].as_array().unwrap().len(), 1, "{listed:#}");
    assert_eq!(listed["entries"][0]["reason"], "compromised-host");
    assert_eq!(listed["entries"][0]["by"], "api");
    let text = std::fs::read_to_string(web.zones.join("ips.block.example/api.zone")).unwrap();
    assert!(
        text.contains("198.18.0.0/24  compromised-host  added="),
        "{text}"
    );
    let removed = delete(
        &web.admin_url("/api/v1/entries?zone=ips.block.example&key=198.18.0.0%2F24"),
        &[("authorization", &auth)],
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    let missing = delete(
        &web.admin_url("/api/v1/entries?zone=ips.block.example&key=198.18.0.0%2F24"),
        &[("authorization", &auth)],
    );
    assert_eq!(missing.status, 404);
    // The admins' own file was never touched.
    let own = std::fs::read(web.zones.join("ips.block.example/manual.zone")).unwrap();
    let shipped = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("zones/ips.block.example/manual.zone"),
    )
    .unwrap();
    assert_eq!(own, shipped);
}

#[test]
fn fifty_concurrent_adds_all_land_in_api_zone_and_are_served() {
    let web = start(&[]);
    let url = web.admin_url("/api/v1/entries");
    let threads: Vec<_> = (1..=50)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = json!({"zone": "ips.block.example", "key": format!("198.51.99.{i}"), "reason": "spam-source", "ticket": format!("C-{i}")});
                post(&url, "application/json", &body.to_string(), &[("authorization", &format!("Bearer {TOKEN}"))]).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    let text = std::fs::read_to_string(web.zones.join("ips.block.example/api.zone")).unwrap();
    for i in 1..=50 {
        assert!(
            text.contains(&format!("198.51.99.{i}  spam-source  added=")),
            "198.51.99.{i} missing:\n{text}"
        );
    }
    assert_eq!(
        text.lines().filter(|l| l.starts_with("198.51.99.")).count(),
        50
    );
    eventually(
        Duration::from_secs(20),
        "all 50 are served over DNS",
        || {
            (1..=50).all(|i| {
                a_records(&web.server.udp(
                    &ip4_name(&format!("198.51.99.{i}"), "ips.block.example"),
                    RecordType::A,
                )) == ["127.0.0.2"]
            })
        },
    );
    let audit = std::fs::read_to_string(web.state.join("audit.log")).unwrap();
    assert_eq!(audit.lines().count(), 50);
}

#[test]
fn markup_from_zone_files_queries_and_requests_comes_back_escaped() {
    let web = start(&[XSS_ZONE]);
    // In a TXT from a zone file.
    let page = get(&web.url("/lookup?q=192.0.2.66"), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("&lt;script&gt;alert(&#x27;txt&#x27;)&lt;&#x2f;script&gt; listed 192.0.2.66"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script"), "{}", page.body);
    let json = lookup_json(&web, "192.0.2.66");
    assert_eq!(
        zone(&json, "ips.block.example")["reasons"][0],
        "<script>alert('txt')</script> listed 192.0.2.66",
        "JSON carries text, as text"
    );
    // In the query.
    let probe = "<script>alert('q')</script>";
    let page = get(&web.url(&format!("/lookup?q={}", encode(probe))), &[]);
    assert_eq!(page.status, 400);
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(&#x27;q&#x27;)"),
        "{}",
        page.body
    );
    let page = get(
        &web.url(&format!(
            "/explain?text={}",
            encode(&format!(
                "{probe} 192.0.2.66 \"><img src=x onerror=alert(1)>"
            ))
        )),
        &[],
    );
    assert!(
        !page.body.contains("<script") && !page.body.contains("<img"),
        "{}",
        page.body
    );
    // In a request's message.
    let reply = request_removal(
        &web,
        "ips.block.example",
        "192.0.2.66",
        "<script>alert('msg')</script><b>bold</b>",
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
    let page = get(&web.url(reply.header("location").unwrap()), &[]);
    assert!(
        !page.body.contains("<script") && !page.body.contains("<b>bold"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("&lt;script&gt;alert(&#x27;msg&#x27;)"),
        "{}",
        page.body
    );
    // Stored as typed, not as HTML.
    let store = ward::RequestStore::open(&web.state).unwrap();
    let stored = store.list(ward::StateFilter::Open, 1).unwrap();
    assert_eq!(
        stored[0].message,
        "<script>alert('msg')</script><b>bold</b>"
    );
}

#[test]
fn errors_say_what_to_do_and_nothing_of_the_inside() {
    let web = start(&[]);
    let pages = [
        get(&web.url("/no/such/page"), &[]),
        get(
            &web.url("/request/new?zone=ips.block.example&q=203.0.113.8"),
            &[],
        ),
        post(&web.url("/explain"), "text/plain", "text=x", &[]),
        post(
            &web.url("/explain"),
            "application/x-www-form-urlencoded",
            &"a".repeat(70 * 1024),
            &[],
        ),
        get(&web.url(&format!("/lookup?q={}", "a".repeat(400))), &[]),
    ];
    let statuses: Vec<u16> = pages.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [404, 400, 415, 413, 400]);
    for page in &pages {
        for inside in ["panicked", "rusqlite", "src/", "Failed to", "serde", ".rs:"] {
            assert!(!page.body.contains(inside), "{inside:?} in:\n{}", page.body);
        }
        assert!(page.header("content-security-policy").is_some());
    }
}

#[test]
fn kill_9_while_writing_leaves_api_zone_old_or_new_never_partial() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let root = tempfile::tempdir().unwrap();
    crate::support::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zones"),
        &root.path().join("zones"),
    );
    std::fs::write(root.path().join("admin.token"), TOKEN).unwrap();
    // A big file, so each rewrite takes a while and a kill lands mid-write.
    const PREFILL: usize = 20_000;
    let mut text = String::from("# prefilled\n");
    for i in 0..PREFILL {
        text.push_str(&format!(
            "10.{}.{}.{}  spam-source  added=2026-01-01T00:00:00Z by=prefill\n",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    let api_zone = root.path().join("zones/ips.block.example/api.zone");
    std::fs::write(&api_zone, &text).unwrap();
    let mut acked_all: Vec<String> = Vec::new();
    let mut killed_mid_write = 0;
    for round in 0..3 {
        let ward = crate::support::WardProcess::spawn(
            root.path(),
            "",
            &[
                "serve",
                "--zones",
                "zones",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--admin-token-file",
                "admin.token",
                "--state",
                "state",
                "--no-watch",
                "--poll-interval",
                "0",
            ],
        );
        let line = ward.wait_for("serving the admin listener", Duration::from_secs(60));
        let addr = line[line.find("addr=").unwrap() + 5..].trim().to_string();
        let url = format!("http://{addr}/api/v1/entries");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
                std::thread::spawn(move || {
                    for n in 0..500 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("172.{}.{writer}.{n}", 16 + round);
                        let body = json!({"zone": "ips.block.example", "key": key, "reason": "spam-source"}).to_string();
                        match crate::support::web::try_post(&url, &body, &[("authorization", &format!("Bearer {TOKEN}"))]) {
                            Some(reply) if reply.status == 201 => acked.lock().unwrap().push(key),
                            Some(reply) => panic!("{}: {}", reply.status, reply.body),
                            None => break,
                        }
                    }
                })
            })
            .collect();
        eventually(Duration::from_secs(60), "some adds acknowledged", || {
            acked.lock().unwrap().len() >= 8 + round * 5
        });
        // Kill the moment a rewrite is under way: its temp file exists between
        // creation and rename (parsing, which takes longer, happens before).
        let temp = root.path().join("zones/ips.block.example/.api.zone.tmp");
        let _ = std::fs::remove_file(&temp);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !temp.exists() && std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let mut ward = ward;
        ward.child.kill().unwrap(); // SIGKILL
        let _ = ward.child.wait();
        if temp.exists() {
            killed_mid_write += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().unwrap();
        }
        acked_all.extend(acked.lock().unwrap().iter().cloned());
        let text = std::fs::read_to_string(&api_zone).unwrap();
        assert!(text.ends_with('\n'), "round {round}: a cut file");
        let entries: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        for line in &entries {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words.len() >= 4
                    && words[1] == "spam-source"
                    && words[2].starts_with("added=")
                    && words[3].starts_with("by="),
                "round {round}: a partial line {line:?}"
            );
        }
        assert_eq!(
            entries.iter().filter(|l| l.starts_with("10.")).count(),
            PREFILL,
            "round {round}: entries lost"
        );
        for key in &acked_all {
            assert!(
                entries.iter().any(|l| l.starts_with(&format!("{key} "))),
                "round {round}: acknowledged {key} is not in the file"
            );
        }
        let check = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["check", "--zones", "zones"])
            .current_dir(root.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    assert!(
        killed_mid_write > 0,
        "no kill landed while a temp file was being written: the test did not test"
    );
    eprintln!("{killed_mid_write} of 3 kills landed while api.zone was being rewritten");
}

#[test]
fn ward_add_remove_and_requests_do_what_the_api_does() {
    let web = start(&[]);
    let dir = web.root.path();
    let (ok, out, err) = ward_cli(
        dir,
        &[
            "add",
            "ips.block.example",
            "192.0.2.91",
            "compromised-host",
            "--ticket",
            "T-7",
            "--expires",
            "2099-01-01",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("zones/ips.block.example/api.zone: added 192.0.2.91  compromised-host  expires=2099-01-01  added="), "{out}");
    assert!(out.contains("by=cli:alice ticket=T-7"), "{out}");
    // The running server serves what the command line wrote.
    let name = ip4_name("192.0.2.91", "ips.block.example");
    eventually(Duration::from_secs(10), "the CLI's entry is served", || {
        a_records(&web.server.udp(&name, RecordType::A)) == ["127.0.0.3"]
    });
    let (ok, _, err) = ward_cli(
        dir,
        &["add", "ips.block.example", "192.0.2.999", "spam-source"],
    );
    assert!(!ok && err.contains("expected an IPv4 address"), "{err}");
    let (ok, _, err) = ward_cli(
        dir,
        &["add", "senders.block.example", "a@b.example", "spam-source"],
    );
    assert!(
        !ok && err.contains("make the zone a directory first"),
        "{err}"
    );
    // A request through the page, decided on the command line.
    let reply = request_removal(&web, "ips.block.example", "192.0.2.91", "fixed it");
    assert_eq!(reply.status, 303, "{}", reply.body);
    let (ok, out, _) = ward_cli(dir, &["requests"]);
    assert!(
        ok && out.contains(
            "#1 open 192.0.2.91 in ips.block.example from 127.0.0.1 <owner@sender.example>"
        ),
        "{out}"
    );
    assert!(out.contains("    | fixed it"), "{out}");
    let (ok, out, err) = ward_cli(dir, &["requests", "accept", "1", "--answer", "ok"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("removed 192.0.2.91") && out.contains("#1 accepted"),
        "{out}"
    );
    eventually(Duration::from_secs(10), "the removal is served", || {
        a_records(&web.server.udp(&name, RecordType::A)).is_empty()
    });
    let (ok, _, err) = ward_cli(dir, &["requests", "reject", "1", "--answer", "no"]);
    assert!(!ok && err.contains("already accepted"), "{err}");
    // Accepting a request for an entry of the admins' own files says it stays listed.
    let reply = request_removal(&web, "ips.block.example", "203.0.113.7", "please");
    assert_eq!(reply.status, 303);
    let (ok, out, _) = ward_cli(dir, &["requests", "accept", "2"]);
    assert!(
        ok && out.contains("warning: 203.0.113.7 is still listed in ips.block.example"),
        "{out}"
    );
    let (ok, _, err) = ward_cli(dir, &["remove", "ips.block.example", "192.0.2.91"]);
    assert!(
        !ok && err.contains("has no entry for `192.0.2.91`"),
        "{err}"
    );
    let audit = std::fs::read_to_string(web.state.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .next()
            .unwrap()
            .contains("\"by\":\"cli:alice\""),
        "{audit}"
    );
}

/// `(command, output)` for docs/web.md's `$ curl …` and `$ ward add|remove|requests …`
/// lines, in order.
fn web_doc_examples() -> Vec<(String, String)> {
    let text = crate::support::docs::document("docs/web.md");
    let blocks = crate::support::docs::blocks_of(std::path::Path::new("docs/web.md"), &text);
    let mut examples = crate::support::docs::examples_in(&blocks, "curl");
    examples.extend(crate::support::docs::examples_in(&blocks, "ward"));
    // In the order they stand in the document: the ward commands come last there.
    examples
        .into_iter()
        .filter(|(c, _)| {
            c.starts_with("curl ")
                || c.starts_with("ward add ")
                || c.starts_with("ward remove ")
                || c.starts_with("ward requests")
        })
        .collect()
}

/// RFC 3339 times (`2026-11-30T01:22:04Z`) replaced: they are when the test ran.
fn without_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let fits = bytes.len() - i >= shape.len()
            && shape.iter().zip(&bytes[i..]).all(|(s, b)| match s {
                b'd' => b.is_ascii_digit(),
                s => s == b,
            });
        if fits {
            out.push_str("<time>");
            i += shape.len();
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// docs/web.md's curl and command-line examples, run in order against a ward serving
/// the shipped zones, print what the page shows (times aside). With
/// `WARD_README_PRINT=1` the outputs are printed instead, to paste after a change.
#[test]
fn web_doc_examples_print_what_the_docs_show() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var_os("CI").is_some() {
            panic!("curl is not installed (apt-get install curl)");
        }
        eprintln!("SKIPPED: curl is not installed (apt-get install curl)");
        return;
    }
    let print = std::env::var_os("WARD_README_PRINT").is_some();
    let web = start(&[]);
    let examples = web_doc_examples();
    assert!(examples.len() >= 9, "{examples:?}");
    for (command, expected) in examples {
        if command.ends_with("http://127.0.0.1:8081/api/v1/requests") {
            removal_from(
                &web,
                "ips.block.example",
                "192.0.2.77",
                "admin@sender.example",
                "The script is gone.",
            );
        }
        if command == "ward requests" {
            removal_from(
                &web,
                "ips.block.example",
                "203.0.113.7",
                "owner@sender.example",
                "The hacked account is closed.",
            );
            removal_from(
                &web,
                "senders.block.example",
                "sender1@bulk.example",
                "news@bulk.example",
                "We stopped the second sender.",
            );
        }
        let script = command
            .replace("http://127.0.0.1:8081", &web.admin_url(""))
            .replace("http://127.0.0.1:8080", &web.url(""));
        let script = match script.strip_prefix("ward ") {
            Some(rest) => format!("'{}' {rest}", env!("CARGO_BIN_EXE_ward")),
            None => script,
        };
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(web.root.path())
            .env("USER", "alice")
            .env_remove("SUDO_USER")
            .output()
            .unwrap();
        let actual = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string();
        if print {
            println!("$ {command}\n{actual}");
            continue;
        }
        assert!(
            output.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            without_times(&actual),
            without_times(expected.trim_end()),
            "{command}"
        );
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use std::io::{Read, Write};
    let web = start(&[]);
    let mut slow = std::net::TcpStream::connect(web.http).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // The page still answers others meanwhile.
    assert_eq!(get(&web.url("/"), &[]).status, 200);
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match slow.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(error) => break error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    assert!(closed, "the slow connection is closed by the server");
}
