//! Per-zone client ACLs: rbldnsd `.acl` datasets and `allow` in ward.toml. Clients are
//! told apart by their source address within 127.0.0.0/8.

use std::time::Duration;

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

fn ask(server: &TestServer, source: &str, name: &str, rtype: RecordType) -> [Option<Message>; 2] {
    let packet = query_message(name, rtype, false).to_vec().unwrap();
    let udp = raw_udp_from(source, server.addr, &packet, Duration::from_millis(300));
    let tcp = raw_tcp_from(source, server.addr, &packet);
    [udp, tcp].map(|reply| reply.map(|bytes| Message::from_vec(&bytes).unwrap()))
}

const ACL: &str = "
127.0.0.0/8 :pass
127.0.0.2   :refuse
127.0.0.3   :ignore
127.0.0.4   :empty
127.0.0.5   :2:forced for $
";

#[test]
fn rbldnsd_acl_actions() {
    let s = TestServer::with_files(&[
        ("bl.test/data.ip4set", ":3:listed\n192.0.2.1\n"),
        ("bl.test/gen.generic", "www A 127.0.0.8\n"),
        ("bl.test/clients.acl", ACL),
    ]);
    let listed = ip4_name("192.0.2.1", "bl.test");
    let unlisted = ip4_name("192.0.2.2", "bl.test");
    for reply in ask(&s, "127.0.0.1", &listed, RecordType::A) {
        assert_eq!(a_records(&reply.expect("passed")), ["127.0.0.3"]);
    }
    for reply in ask(&s, "127.0.0.2", &listed, RecordType::A) {
        assert_eq!(rcode(&reply.expect("a reply")), ResponseCode::Refused);
    }
    let [udp, _] = ask(&s, "127.0.0.3", &listed, RecordType::A);
    assert!(udp.is_none(), "ignored clients get no reply");
    for reply in ask(&s, "127.0.0.4", &listed, RecordType::A) {
        assert_eq!(
            rcode(&reply.expect("a reply")),
            ResponseCode::NXDomain,
            ":empty hides listings"
        );
    }
    for reply in ask(&s, "127.0.0.4", "www.bl.test.", RecordType::A) {
        assert_eq!(
            a_records(&reply.expect("a reply")),
            ["127.0.0.8"],
            "generic records stay (rbldnsd's man page)"
        );
    }
    for name in [&listed, &unlisted] {
        for reply in ask(&s, "127.0.0.5", name, RecordType::TXT) {
            assert_eq!(
                txt_records(&reply.expect("a reply")),
                ["forced for 127.0.0.5"],
                "{name}"
            );
        }
    }
    for reply in ask(&s, "127.0.0.5", "bl.test.", RecordType::SOA) {
        assert_eq!(
            reply.expect("a reply").answers.len(),
            1,
            "the apex is not forced"
        );
    }
}

/// `refused` is what ward.toml says the others get: `refuse` or `error-answer`.
fn allow_only_localhost(refused: &str) -> TestServer {
    TestServer::with_files_and(
        &[
            ("private.test.zone", "192.0.2.1 :3:listed\n"),
            ("public.test.zone", "192.0.2.1 :3:listed\n"),
        ],
        &[],
        &format!(
            "[zone.\"private.test\"]\nallow = [\"127.0.0.1/32\", \"::1/128\"]\nrefused = \"{refused}\"\n"
        ),
    )
}

#[test]
fn allow_list_refuses_others() {
    let s = allow_only_localhost("refuse");
    let name = ip4_name("192.0.2.1", "private.test");
    for reply in ask(&s, "127.0.0.1", &name, RecordType::A) {
        assert_eq!(a_records(&reply.unwrap()), ["127.0.0.3"]);
    }
    for reply in ask(&s, "127.0.0.9", &name, RecordType::A) {
        assert_eq!(rcode(&reply.unwrap()), ResponseCode::Refused);
    }
    for reply in ask(
        &s,
        "127.0.0.9",
        &ip4_name("192.0.2.1", "public.test"),
        RecordType::A,
    ) {
        assert_eq!(
            a_records(&reply.unwrap()),
            ["127.0.0.3"],
            "other zones are unaffected"
        );
    }
}

#[test]
fn allow_list_with_spamhaus_style_error_answer() {
    let s = allow_only_localhost("error-answer");
    for ip in ["192.0.2.1", "192.0.2.2"] {
        for reply in ask(
            &s,
            "127.0.0.9",
            &ip4_name(ip, "private.test"),
            RecordType::A,
        ) {
            assert_eq!(a_records(&reply.unwrap()), ["127.255.255.254"], "{ip}");
        }
    }
    for reply in ask(
        &s,
        "127.0.0.9",
        &ip4_name("192.0.2.1", "private.test"),
        RecordType::TXT,
    ) {
        assert_eq!(
            txt_records(&reply.unwrap()),
            ["Queries to this list are not allowed from your resolver"]
        );
    }
    for reply in ask(
        &s,
        "127.0.0.1",
        &ip4_name("192.0.2.2", "private.test"),
        RecordType::A,
    ) {
        assert_eq!(rcode(&reply.unwrap()), ResponseCode::NXDomain);
    }
}

/// Regression: an `empty` client got NODATA for the empty non-terminals above hidden
/// listings (`2.0.192.bl.test`), which told it that something is listed below. It sees
/// the zone as listing nothing: NXDOMAIN, as for any other name. Generic records and
/// the names above them stay visible.
#[test]
fn empty_clients_see_no_empty_non_terminals_of_hidden_data() {
    let s = TestServer::with_files(&[
        ("bl.test/data.ip4set", ":3:listed\n192.0.2.1\n"),
        ("bl.test/gen.generic", "a.b.deep A 127.0.0.8\n"),
        ("bl.test/clients.acl", ACL),
    ]);
    for name in ["2.0.192.bl.test.", "0.192.bl.test.", "192.bl.test."] {
        for reply in ask(&s, "127.0.0.1", name, RecordType::A) {
            assert_eq!(
                rcode(&reply.expect("a reply")),
                ResponseCode::NoError,
                "{name}"
            );
        }
        for reply in ask(&s, "127.0.0.4", name, RecordType::A) {
            assert_eq!(
                rcode(&reply.expect("a reply")),
                ResponseCode::NXDomain,
                "{name}: nothing listed is shown, not even that something is"
            );
        }
    }
    for reply in ask(&s, "127.0.0.4", "b.deep.bl.test.", RecordType::A) {
        let reply = reply.expect("a reply");
        assert_eq!(rcode(&reply), ResponseCode::NoError, "above a shown record");
        assert!(reply.answers.is_empty());
    }
}
