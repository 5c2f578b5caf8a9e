//! Every answer rule of DESIGN.md's "Answers", asked over real UDP and TCP sockets.

use crate::support::*;
use hickory_server::proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, RData, RecordType};

const BL: &str = r#"
$SOA 600 ns1.bl.test. hostmaster.bl.test. 0 600 300 86400 120
$NS 600 ns1.bl.test. ns2.example.net.
$TTL 300
$REASON spam 127.0.0.4 "Spam from $, see https://bl.test/$"
$REASON relay 127.0.0.5 "Open relay"
192.0.2.1          spam
192.0.2.0/24       :127.0.0.6:Range listing for $
!192.0.2.99
198.51.100.7       spam
198.51.100.7       relay
198.51.100.8       spam
198.51.100.8       :127.0.0.4:Spam from $, see https://bl.test/$
2001:db8::1        spam
2001:db8:bad::/48  relay
spam.example       spam
*.spam.example     relay
"#;

fn server() -> TestServer {
    TestServer::with_files(&[
        ("bl.test.zone", BL),
        (
            "own.test.zone",
            "127.0.0.2  :127.0.0.9:own data wins\ntest  :127.0.0.9:own test\n",
        ),
        ("multi.test/a.ip4set", ":2:from a\n10.0.0.1\n"),
        ("multi.test/b.ip4set", ":3:from b\n10.0.0.1\n10.0.0.2\n"),
        (
            "dn.test.dnset",
            ":2:domain $ listed\nbad.example\n*.wild.example\n",
        ),
    ])
}

/// Runs `check` on the UDP and the TCP reply to the same question.
fn both(server: &TestServer, name: &str, rtype: RecordType, check: impl Fn(&Message, &str)) {
    check(&server.udp(name, rtype), "udp");
    check(&server.tcp(name, rtype), "tcp");
}

#[test]
fn listed_ip_answers_a_and_txt() {
    let s = server();
    both(
        &s,
        &ip4_name("192.0.2.1", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(rcode(m), ResponseCode::NoError, "{t}");
            assert!(m.metadata.authoritative, "{t}");
            // The more specific /32 wins over the /24 (ward format: longest prefix).
            assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
            assert_eq!(m.answers[0].ttl, 300, "{t}");
            assert!(
                m.authorities.is_empty(),
                "{t}: positive answers carry no authority"
            );
        },
    );
    both(
        &s,
        &ip4_name("192.0.2.1", "bl.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(
                txt_records(m),
                ["Spam from 192.0.2.1, see https://bl.test/192.0.2.1"],
                "{t}"
            );
        },
    );
    both(
        &s,
        &ip4_name("192.0.2.77", "bl.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(txt_records(m), ["Range listing for 192.0.2.77"], "{t}");
        },
    );
}

#[test]
fn several_matches_give_several_records() {
    let s = server();
    both(
        &s,
        &ip4_name("198.51.100.7", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.4", "127.0.0.5"], "{t}");
        },
    );
    both(
        &s,
        &ip4_name("198.51.100.7", "bl.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(
                txt_records(m),
                [
                    "Open relay",
                    "Spam from 198.51.100.7, see https://bl.test/198.51.100.7"
                ],
                "{t}"
            );
        },
    );
    // Two entries with the same answer give it once: an RRset has no duplicates.
    both(
        &s,
        &ip4_name("198.51.100.8", "bl.test"),
        RecordType::ANY,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
            assert_eq!(txt_records(m).len(), 1, "{t}");
        },
    );
    // Separate datasets of one zone add up (rbldnsd's behaviour).
    both(
        &s,
        &ip4_name("10.0.0.1", "multi.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(txt_records(m), ["from a", "from b"], "{t}");
        },
    );
    both(
        &s,
        &ip4_name("10.0.0.1", "multi.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.2", "127.0.0.3"], "{t}");
        },
    );
}

#[test]
fn not_listed_is_nxdomain_with_soa() {
    let s = server();
    for name in [
        ip4_name("192.0.2.99", "bl.test"),
        ip4_name("203.0.113.1", "bl.test"),
        "nothing.bl.test.".into(),
    ] {
        both(&s, &name, RecordType::A, |m, t| {
            assert_eq!(rcode(m), ResponseCode::NXDomain, "{t} {name}");
            assert!(m.metadata.authoritative, "{t}");
            assert!(m.answers.is_empty(), "{t}");
            let soa = authority_soa(m).expect("SOA in authority");
            assert_eq!(soa.name.to_ascii(), "bl.test.", "{t}");
            // RFC 2308: the smaller of the SOA TTL (600) and its minimum (120).
            assert_eq!(soa.ttl, 120, "{t}");
        });
    }
}

#[test]
fn other_types_and_empty_non_terminals_are_nodata() {
    let s = server();
    let nodata = |m: &Message, t: &str| {
        assert_eq!(rcode(m), ResponseCode::NoError, "{t}");
        assert!(m.answers.is_empty(), "{t}");
        assert!(authority_soa(m).is_some(), "{t}");
        assert!(m.metadata.authoritative, "{t}");
    };
    both(
        &s,
        &ip4_name("192.0.2.1", "bl.test"),
        RecordType::AAAA,
        nodata,
    );
    both(
        &s,
        &ip4_name("192.0.2.1", "bl.test"),
        RecordType::MX,
        nodata,
    );
    // QNAME minimisation walks down through these.
    for partial in [
        "2.0.192.bl.test.",
        "0.192.bl.test.",
        "192.bl.test.",
        "example.bl.test.",
        "example.dn.test.",
    ] {
        both(&s, partial, RecordType::A, nodata);
        both(&s, partial, RecordType::NS, nodata);
    }
    both(&s, "wild.example.dn.test.", RecordType::A, nodata);
    // ...but where nothing is listed below, the name does not exist.
    both(&s, "5.5.5.bl.test.", RecordType::A, |m, t| {
        assert_eq!(rcode(m), ResponseCode::NXDomain, "{t}")
    });
    // An IPv6 prefix with listings below it.
    both(&s, "8.b.d.0.1.0.0.2.bl.test.", RecordType::A, nodata);
    // Regression: nibble labels that also read as IPv4 octets are IPv6 prefixes too
    // (`2.Z` is above 2001:db8::1); a strict QNAME-minimising resolver starts there.
    for partial in [
        "2.bl.test.",
        "0.2.bl.test.",
        "0.0.2.bl.test.",
        "1.0.0.2.bl.test.",
    ] {
        both(&s, partial, RecordType::A, nodata);
    }
    // Regression: the names above an IPv4-mapped address of a listed IPv4 exist.
    let mapped = ip6_name("::ffff:192.0.2.1", "bl.test");
    let labels: Vec<&str> = mapped.split('.').collect();
    for skip in [1, 8, 20, 31] {
        both(&s, &labels[skip..].join("."), RecordType::A, nodata);
    }
}

#[test]
fn apex_answers_soa_ns_and_nodata() {
    let s = server();
    both(&s, "bl.test.", RecordType::SOA, |m, t| {
        assert_eq!(rcode(m), ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1, "{t}");
        let RData::SOA(soa) = &m.answers[0].data else {
            panic!("{t}: not SOA")
        };
        assert_eq!(soa.mname.to_ascii(), "ns1.bl.test.");
        assert_eq!(soa.minimum, 120);
        assert_eq!(m.answers[0].ttl, 600);
    });
    both(&s, "bl.test.", RecordType::NS, |m, t| {
        let mut ns: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_ascii()),
                _ => None,
            })
            .collect();
        ns.sort();
        assert_eq!(ns, ["ns1.bl.test.", "ns2.example.net."], "{t}");
    });
    for rtype in [RecordType::A, RecordType::TXT, RecordType::AAAA] {
        both(&s, "bl.test.", rtype, |m, t| {
            assert_eq!(rcode(m), ResponseCode::NoError, "{t}");
            assert!(m.answers.is_empty(), "{t}");
            assert!(authority_soa(m).is_some(), "{t}");
        });
    }
    both(&s, "bl.test.", RecordType::ANY, |m, t| {
        let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
        assert!(
            types.contains(&RecordType::SOA) && types.contains(&RecordType::NS),
            "{t} {types:?}"
        );
    });
    // A zone without $SOA still answers with one (negative caching needs it).
    both(&s, "multi.test.", RecordType::SOA, |m, t| {
        assert_eq!(m.answers.len(), 1, "{t}");
    });
}

#[test]
fn any_returns_a_and_txt() {
    let s = server();
    both(
        &s,
        &ip4_name("192.0.2.1", "bl.test"),
        RecordType::ANY,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
            assert_eq!(txt_records(m).len(), 1, "{t}");
        },
    );
}

#[test]
fn outside_every_zone_is_refused() {
    let s = server();
    for name in ["example.org.", "test.", "xbl.test."] {
        both(&s, name, RecordType::A, |m, t| {
            assert_eq!(rcode(m), ResponseCode::Refused, "{t} {name}");
            assert!(!m.metadata.authoritative, "{t}");
        });
    }
}

#[test]
fn names_match_case_insensitively() {
    let s = server();
    both(&s, "1.2.0.192.BL.Test.", RecordType::A, |m, t| {
        assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
        assert_eq!(
            m.queries[0].name().to_ascii(),
            "1.2.0.192.BL.Test.",
            "{t}: question echoed as asked"
        );
    });
    both(&s, "X.SPAM.Example.bl.test.", RecordType::A, |m, t| {
        assert_eq!(a_records(m), ["127.0.0.5"], "{t}");
    });
    both(
        &s,
        &ip4_name("10.0.0.1", "multi.test"),
        RecordType::A,
        |_, _| {},
    );
    // Numeric labels with leading zeros are the same address (rbldnsd compatible).
    both(&s, "1.002.0.192.bl.test.", RecordType::A, |m, t| {
        assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
    });
}

#[test]
fn rfc5782_test_points() {
    let s = server();
    both(
        &s,
        &ip4_name("127.0.0.2", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.2"], "{t}");
            assert_eq!(m.answers[0].ttl, 300, "{t}: the zone's TTL");
        },
    );
    both(
        &s,
        &ip4_name("127.0.0.1", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(rcode(m), ResponseCode::NXDomain, "{t}");
        },
    );
    both(
        &s,
        &ip6_name("::ffff:127.0.0.2", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.2"], "{t}");
        },
    );
    both(&s, "test.dn.test.", RecordType::A, |m, t| {
        assert_eq!(a_records(m), ["127.0.0.2"], "{t}");
    });
    both(&s, "invalid.dn.test.", RecordType::A, |m, t| {
        assert_eq!(rcode(m), ResponseCode::NXDomain, "{t}");
    });
    // The zone's own entries win over the test points.
    both(
        &s,
        &ip4_name("127.0.0.2", "own.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(txt_records(m), ["own data wins"], "{t}");
        },
    );
    both(&s, "test.own.test.", RecordType::A, |m, t| {
        assert_eq!(a_records(m), ["127.0.0.9"], "{t}");
    });
}

#[test]
fn test_points_can_be_switched_off() {
    let s = TestServer::with_files_and(
        &[("bl.test.zone", "192.0.2.1\n")],
        &[],
        "[zone.\"bl.test\"]\ntest_points = false\n",
    );
    both(
        &s,
        &ip4_name("127.0.0.2", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(rcode(m), ResponseCode::NXDomain, "{t}");
        },
    );
}

#[test]
fn ipv6_and_mapped_addresses() {
    let s = server();
    both(
        &s,
        &ip6_name("2001:db8::1", "bl.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(
                txt_records(m),
                ["Spam from 2001:db8::1, see https://bl.test/2001:db8::1"],
                "{t}"
            );
        },
    );
    both(
        &s,
        &ip6_name("2001:db8:bad:1::5", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.5"], "{t}");
        },
    );
    both(
        &s,
        &ip6_name("2001:db8:1::5", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(rcode(m), ResponseCode::NXDomain, "{t}");
        },
    );
    // IPv4-mapped and 6to4 names answer from the IPv4 data, `$` being the IPv4.
    both(
        &s,
        &ip6_name("::ffff:192.0.2.1", "bl.test"),
        RecordType::TXT,
        |m, t| {
            assert_eq!(
                txt_records(m),
                ["Spam from 192.0.2.1, see https://bl.test/192.0.2.1"],
                "{t}"
            );
        },
    );
    both(
        &s,
        &ip6_name("2002:c000:0201::1", "bl.test"),
        RecordType::A,
        |m, t| {
            assert_eq!(a_records(m), ["127.0.0.4"], "{t}");
        },
    );
}

#[test]
fn edns_is_echoed_and_badvers_for_unknown_versions() {
    let s = server();
    let name = ip4_name("192.0.2.1", "bl.test");
    for (reply, t) in [
        (s.udp(&name, RecordType::A), "udp"),
        (s.tcp(&name, RecordType::A), "tcp"),
    ] {
        let edns = reply.edns.as_ref().expect("OPT echoed");
        assert_eq!(edns.version(), 0, "{t}");
        assert_eq!(edns.max_payload(), 1232, "{t}");
    }
    let mut request = query_message(&name, RecordType::A, false);
    let mut edns = Edns::new();
    edns.set_version(1);
    request.set_edns(edns);
    for reply in [
        s.exchange_udp(&request).unwrap(),
        s.exchange_tcp(&request).unwrap(),
    ] {
        // 16 is BADVERS in a reply to a query without TSIG (hickory calls it BADSIG).
        assert_eq!(u16::from(rcode(&reply)), 16);
        assert!(reply.edns.is_some(), "BADVERS travels in the OPT record");
        assert!(reply.answers.is_empty());
    }
    // Without EDNS in the query, none in the reply.
    let plain = s
        .exchange_udp(&query_message(&name, RecordType::A, false))
        .unwrap();
    assert!(plain.edns.is_none());
}

#[test]
fn large_answers_set_tc_on_udp_and_come_whole_over_tcp() {
    let mut zone = String::new();
    for i in 0..12 {
        zone.push_str(&format!(
            "192.0.2.1 :127.0.0.{}:{i} {}\n",
            i + 2,
            "x".repeat(200)
        ));
    }
    let s = TestServer::with_files(&[("big.test.zone", &zone)]);
    let name = ip4_name("192.0.2.1", "big.test");
    let plain = s
        .exchange_udp(&query_message(&name, RecordType::TXT, false))
        .unwrap();
    assert!(plain.metadata.truncation, "does not fit in 512 bytes");
    assert!(plain.answers.is_empty());
    let small = s.udp(&name, RecordType::A);
    assert!(!small.metadata.truncation, "the A records fit");
    assert_eq!(a_records(&small).len(), 12);
    let edns = s.udp(&name, RecordType::TXT);
    assert!(
        edns.metadata.truncation,
        "2.4 kB does not fit in 1232 bytes either"
    );
    let tcp = s.tcp(&name, RecordType::TXT);
    assert!(!tcp.metadata.truncation);
    assert_eq!(txt_records(&tcp).len(), 12);
}

#[test]
fn long_texts_are_split_into_255_byte_strings() {
    let long = "y".repeat(400);
    let s = TestServer::with_files(&[("long.test.zone", &format!("192.0.2.1 :2:{long}\n"))]);
    both(
        &s,
        &ip4_name("192.0.2.1", "long.test"),
        RecordType::TXT,
        |m, t| {
            let RData::TXT(txt) = &m.answers[0].data else {
                panic!("{t}")
            };
            let lengths: Vec<usize> = txt.txt_data.iter().map(|s| s.len()).collect();
            assert_eq!(lengths, [255, 145], "{t}");
        },
    );
}

#[test]
fn classes_and_opcodes() {
    let s = server();
    let name = ip4_name("192.0.2.1", "bl.test");
    let chaos = s
        .exchange_udp(&query_class(&name, RecordType::A, DNSClass::CH))
        .unwrap();
    assert_eq!(rcode(&chaos), ResponseCode::Refused);
    let any_class = s
        .exchange_udp(&query_class(&name, RecordType::A, DNSClass::ANY))
        .unwrap();
    assert_eq!(a_records(&any_class), ["127.0.0.4"]);
    assert!(
        !any_class.metadata.authoritative,
        "QCLASS * answers are not authoritative"
    );
    let mut status = query_message(&name, RecordType::A, false);
    status.metadata.op_code = OpCode::Status;
    // Regression (issue 18): RD and CD were copied into the NOTIMP (ISC's EDNS
    // compliance test, `opcodeflg`, flags that); they mean nothing for other opcodes.
    status.metadata.recursion_desired = true;
    status.metadata.checking_disabled = true;
    for reply in [
        s.exchange_udp(&status).unwrap(),
        s.exchange_tcp(&status).unwrap(),
    ] {
        assert_eq!(rcode(&reply), ResponseCode::NotImp);
        assert_eq!(reply.metadata.op_code, OpCode::Status, "opcode is kept");
        assert!(!reply.metadata.recursion_desired, "no RD on another opcode");
        assert!(!reply.metadata.checking_disabled, "no CD on another opcode");
    }
    // Zone transfers are not offered (yet): refused, not "not implemented".
    let axfr = s.tcp("bl.test.", RecordType::AXFR);
    assert_eq!(rcode(&axfr), ResponseCode::Refused);
}

#[test]
fn rd_is_copied_and_ra_never_set() {
    let s = server();
    let mut request = query_message(&ip4_name("192.0.2.1", "bl.test"), RecordType::A, true);
    request.metadata.recursion_desired = true;
    for reply in [
        s.exchange_udp(&request).unwrap(),
        s.exchange_tcp(&request).unwrap(),
    ] {
        assert!(reply.metadata.recursion_desired);
        assert!(!reply.metadata.recursion_available);
        assert_eq!(reply.metadata.id, request.metadata.id);
    }
}

#[test]
fn hot_path_and_hickory_path_agree() {
    let s = server();
    let names = [
        ip4_name("192.0.2.1", "bl.test"),
        ip4_name("198.51.100.7", "bl.test"),
        ip4_name("192.0.2.99", "bl.test"),
        ip6_name("2001:db8::1", "bl.test"),
        "2.0.192.bl.test.".to_string(),
        "bl.test.".to_string(),
        "a.spam.example.bl.test.".to_string(),
        "x.wild.example.dn.test.".to_string(),
        "example.org.".to_string(),
    ];
    for name in &names {
        for rtype in [
            RecordType::A,
            RecordType::TXT,
            RecordType::AAAA,
            RecordType::SOA,
            RecordType::NS,
            RecordType::ANY,
        ] {
            let udp = s.udp(name, rtype);
            let tcp = s.tcp(name, rtype);
            assert_eq!(
                udp.metadata.response_code, tcp.metadata.response_code,
                "{name} {rtype}"
            );
            assert_eq!(
                udp.metadata.authoritative, tcp.metadata.authoritative,
                "{name} {rtype}"
            );
            assert_eq!(udp.answers, tcp.answers, "{name} {rtype}");
            assert_eq!(udp.authorities, tcp.authorities, "{name} {rtype}");
        }
    }
}

#[test]
fn hot_path_compresses_better_than_hickory() {
    let s = server();
    let name = ip4_name("198.51.100.7", "bl.test");
    let request = query_message(&name, RecordType::A, true).to_vec().unwrap();
    let udp = s.raw_udp(&request).unwrap();
    let tcp = s.raw_tcp(&request).unwrap();
    assert!(udp.len() < tcp.len(), "udp {} tcp {}", udp.len(), tcp.len());
    assert_eq!(
        Message::from_vec(&udp).unwrap().answers,
        Message::from_vec(&tcp).unwrap().answers
    );
}

/// Regression: a name covered only by exclusions (`!.sub.example` under `.example`)
/// answered NOERROR/NODATA. Nothing is listed at or below it: NXDOMAIN, as rbldnsd
/// says, in both formats.
#[test]
fn names_that_exist_only_as_exclusions_are_nxdomain() {
    let s = TestServer::with_files(&[
        ("dn.test.dnset", ":2:listed $\n.example\n!.sub.example\n"),
        ("wd.test.zone", ".example :2:listed\n!.sub.example\n"),
    ]);
    for zone in ["dn.test", "wd.test"] {
        for name in ["sub.example", "x.sub.example"] {
            both(&s, &format!("{name}.{zone}."), RecordType::A, |m, t| {
                assert_eq!(rcode(m), ResponseCode::NXDomain, "{name} {t}");
                assert!(authority_soa(m).is_some(), "{t}");
            });
        }
        both(&s, &format!("a.example.{zone}."), RecordType::A, |m, t| {
            assert_eq!(a_records(m), ["127.0.0.2"], "{t}");
        });
    }
}
