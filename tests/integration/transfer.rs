//! Zone transfers over real sockets: AXFR and IXFR hold what queries answer, only the
//! allowed and the signed get them, a secondary that stops reading costs its own
//! connection and nothing else, NOTIFY reaches the secondaries on every change.
//! Signatures are checked both ways against kdig (Knot's client) and a small signer
//! written here from RFC 8945.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{RData, Record, RecordType};
use hmac::{KeyInit, Mac};

const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ==";

fn ward_toml(extra: &str) -> String {
    format!(
        r#"
[zone."ips.test".transfer]
allow = ["127.0.0.1/32"]

[zone."dom.test".transfer]
key = "xfr.key"

[key."xfr.key"]
algorithm = "hmac-sha256"
secret = "{SECRET}"
{extra}"#
    )
}

const IPS: &str = "\
:127.0.0.2:Listed: $
192.0.2.0/24
!192.0.2.77
198.51.100.7 :3:Snowshoe $
10.0.0.0/8 :4:Private space
";

const DOMAINS: &str = "\
:127.0.0.2:Spam from $
spam.example
*.spam.example
bulk.example :9:Bulk mail
!ok.spam.example
";

/// ward serving `zones` with `toml` as its ward.toml; reloading as `ward serve` does,
/// but polling five times a second, when `reloading`.
fn transfer_server(zones: &Path, toml: &str, flags: &[&str], reloading: bool) -> TestServer {
    let settings = if reloading {
        let mut settings =
            reloading_settings(zones, &[&["--debounce", "50"], flags].concat(), toml);
        // Finer than the flag's whole seconds, so a change is seen at once.
        settings.reload.poll_interval = Some(Duration::from_millis(200));
        settings
    } else {
        serve_settings(zones, flags, toml)
    };
    TestServer::start(settings)
}

fn static_server(toml: &str) -> (tempfile::TempDir, TestServer) {
    let (dir, zones) = write_zones(&[("ips.test.ip4set", IPS), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, toml, &[], false);
    (dir, server)
}

/// A transfer request: AXFR, or IXFR from `serial`.
fn transfer_request(id: u16, zone: &str, ixfr_from: Option<u32>) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    let authority = u8::from(ixfr_from.is_some());
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, authority, 0, 0]);
    out.extend_from_slice(&wire_name(zone));
    let qtype: u16 = if ixfr_from.is_some() { 251 } else { 252 };
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    if let Some(serial) = ixfr_from {
        out.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0]);
        let mut rdata = vec![0xc0, 12, 0xc0, 12];
        rdata.extend_from_slice(&serial.to_be_bytes());
        rdata.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.to_ascii_lowercase().as_bytes());
    }
    out.push(0);
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `message` with hmac-sha256 key `key` at `time` (RFC 8945 §4.3); the MAC.
fn sign(message: &mut Vec<u8>, key: &str, secret_b64: &str, time: u64) -> Vec<u8> {
    use base64::Engine;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret_b64)
        .unwrap();
    let key_name = wire_name(key);
    let algorithm = wire_name("hmac-sha256");
    let time_bytes = &time.to_be_bytes()[2..];
    let mut variables = key_name.clone();
    variables.extend_from_slice(&[0, 255, 0, 0, 0, 0]);
    variables.extend_from_slice(&algorithm);
    variables.extend_from_slice(time_bytes);
    variables.extend_from_slice(&[1, 44, 0, 0, 0, 0]);
    let mut hmac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    hmac.update(message);
    hmac.update(&variables);
    let mac = hmac.finalize().into_bytes().to_vec();
    let id = [message[0], message[1]];
    message.extend_from_slice(&key_name);
    message.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    let mut rdata = algorithm;
    rdata.extend_from_slice(time_bytes);
    rdata.extend_from_slice(&[1, 44, 0, 32]);
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&id);
    rdata.extend_from_slice(&[0, 0, 0, 0]);
    message.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    message.extend_from_slice(&rdata);
    let additional = u16::from_be_bytes([message[10], message[11]]) + 1;
    message[10..12].copy_from_slice(&additional.to_be_bytes());
    mac
}

/// Skips a (possibly compressed) name at `at`; the offset after it.
fn skip_name(message: &[u8], mut at: usize) -> usize {
    loop {
        let len = message[at];
        if len == 0 {
            return at + 1;
        }
        if len & 0xc0 == 0xc0 {
            return at + 2;
        }
        at += 1 + usize::from(len);
    }
}

/// The TSIG record ending `message`: (error, MAC length), or `None` if unsigned.
fn tsig_of(message: &[u8]) -> Option<(u16, usize)> {
    let count = |at: usize| usize::from(u16::from_be_bytes([message[at], message[at + 1]]));
    let records = count(6) + count(8) + count(10);
    let mut at = 12;
    for _ in 0..count(4) {
        at = skip_name(message, at) + 4;
    }
    let mut last = None;
    for _ in 0..records {
        let rdata = skip_name(message, at) + 10;
        let rtype = count(rdata - 10);
        last = (rtype == 250).then_some(rdata);
        at = rdata + count(rdata - 2);
    }
    let rdata = last?;
    let after_algorithm = skip_name(message, rdata) + 8;
    let mac_len = count(after_algorithm);
    let error = count(after_algorithm + 2 + mac_len + 2) as u16;
    Some((error, mac_len))
}

/// One transfer over a fresh connection from `source`: every message, raw.
fn transfer_from(source: &str, addr: SocketAddr, request: &[u8]) -> Vec<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(2))
        .unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(request);
    stream.write_all(&framed).unwrap();
    let mut messages = Vec::new();
    let mut soa_serials: Vec<u32> = Vec::new();
    let mut records = 0usize;
    while let Some(message) = read_tcp_message(&mut stream) {
        let parsed = Message::from_vec(&message).expect("a transfer message parses");
        messages.push(message);
        if parsed.metadata.response_code != ResponseCode::NoError {
            break;
        }
        for record in &parsed.answers {
            records += 1;
            if let RData::SOA(soa) = &record.data {
                soa_serials.push(soa.serial);
            }
        }
        let Some(last) = parsed.answers.last() else {
            break;
        };
        let last_is_final_soa =
            matches!(&last.data, RData::SOA(soa) if Some(&soa.serial) == soa_serials.first());
        let first = soa_serials[0];
        let finals = soa_serials.iter().filter(|&&s| s == first).count();
        if last_is_final_soa
            && (records == 1 || (soa_serials.len().is_multiple_of(2) && finals >= 2))
        {
            break;
        }
    }
    messages
}

fn transfer(addr: SocketAddr, request: &[u8]) -> Vec<Vec<u8>> {
    transfer_from("127.0.0.1", addr, request)
}

fn records_of(messages: &[Vec<u8>]) -> Vec<Record> {
    messages
        .iter()
        .flat_map(|m| Message::from_vec(m).unwrap().answers)
        .collect()
}

fn rcode_of(message: &[u8]) -> u8 {
    message[3] & 0x0f
}

fn serial_of(server: &TestServer, zone: &str) -> u32 {
    let reply = server.udp(zone, RecordType::SOA);
    match &reply.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not an SOA: {other:?}"),
    }
}

/// Records by owner: A values and TXT texts, as sets.
type Contents = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn contents(records: &[Record]) -> Contents {
    let mut out = Contents::new();
    for record in records {
        let owner = record.name.to_ascii().to_lowercase();
        let entry = out.entry(owner).or_default();
        match &record.data {
            RData::A(a) => {
                entry.0.insert(a.0.to_string());
            }
            RData::TXT(txt) => {
                let text: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                entry.1.insert(String::from_utf8_lossy(&text).into_owned());
            }
            _ => {}
        }
    }
    out.retain(|_, (a, txt)| !a.is_empty() || !txt.is_empty());
    out
}

/// A name a wildcard owner stands for: in an IPv4 zone a full address, elsewhere any
/// name below it.
fn wildcard_instance(owner: &str, zone: &str) -> String {
    let Some(rest) = owner.strip_prefix("*.") else {
        return owner.to_string();
    };
    if zone == "ips.test" {
        let octets = rest.trim_end_matches(".ips.test.").split('.').count();
        format!("{}{rest}", "1.".repeat(4 - octets))
    } else {
        format!("probe-name.{rest}")
    }
}

/// `count` addresses, none in the same /24 as another (so none merge into a wildcard).
fn scattered_addresses(count: u32) -> String {
    (0..count)
        .map(|i| format!("10.{}.{}.1\n", i / 250, i % 250))
        .collect()
}

#[test]
fn axfr_holds_what_queries_answer() {
    let (_dir, server) = static_server(&ward_toml(""));
    let mut request = transfer_request(0x4242, "dom.test", None);
    sign(&mut request, "xfr.key", SECRET, unix_now());
    for (zone, request) in [
        ("ips.test", transfer_request(0x4141, "ips.test", None)),
        ("dom.test", request),
    ] {
        let messages = transfer(server.addr, &request);
        assert!(!messages.is_empty(), "{zone}: no transfer");
        for message in &messages {
            assert_eq!(
                &message[..2],
                &request[..2],
                "{zone}: every message has the request's ID"
            );
            assert!(message[2] & 0x04 != 0, "{zone}: authoritative");
        }
        let records = records_of(&messages);
        let serial = serial_of(&server, zone);
        for end in [records.first(), records.last()] {
            match end.map(|r| &r.data) {
                Some(RData::SOA(soa)) => assert_eq!(soa.serial, serial, "{zone}"),
                other => panic!("{zone}: a transfer starts and ends with the SOA, not {other:?}"),
            }
        }
        assert!(
            records.iter().any(|r| r.record_type() == RecordType::NS),
            "{zone}: the apex NS is transferred"
        );
        let transferred = contents(&records);
        assert!(transferred.len() > 3, "{zone}: {transferred:?}");
        for (owner, (a, txt)) in &transferred {
            let name = wildcard_instance(owner, zone);
            let answer = server.udp(&name, RecordType::A);
            let answered: BTreeSet<String> = a_records(&answer).into_iter().collect();
            assert_eq!(&answered, a, "{zone}: A of {name}");
            let answer = server.udp(&name, RecordType::TXT);
            let answered: BTreeSet<String> = txt_records(&answer).into_iter().collect();
            assert_eq!(&answered, txt, "{zone}: TXT of {name}");
        }
    }
    // Not listed, so not transferred: the exclusions and what is outside the lists.
    let messages = transfer(server.addr, &transfer_request(1, "ips.test", None));
    let transferred = contents(&records_of(&messages));
    assert!(!transferred.contains_key("77.2.0.192.ips.test."));
    assert!(transferred.contains_key("76.2.0.192.ips.test."));
    assert!(
        transferred.contains_key("*.10.ips.test."),
        "a /8 is one wildcard: {:?}",
        transferred
            .keys()
            .filter(|k| k.contains("10.ips"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_large_zone_is_sent_in_messages_of_at_most_16_kib() {
    let mut ips = String::from(":127.0.0.2:Listed address $ for a long enough reason text\n");
    ips.push_str(&scattered_addresses(20_000));
    let (_dir, zones) = write_zones(&[("ips.test.ip4set", &ips), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, &ward_toml(""), &[], false);
    let messages = transfer(server.addr, &transfer_request(7, "ips.test", None));
    assert!(messages.len() > 20, "{} messages", messages.len());
    assert!(messages.iter().all(|m| m.len() <= 16 * 1024));
    let records = records_of(&messages);
    let a = records
        .iter()
        .filter(|r| {
            r.record_type() == RecordType::A && r.name.to_ascii().ends_with(".10.ips.test.")
        })
        .count();
    assert_eq!(a, 20_000, "one A per listed address");
    assert!(
        messages
            .iter()
            .all(|m| Message::from_vec(m).unwrap().edns.is_none()),
        "no OPT when the request had none"
    );
    // A request with EDNS gets an OPT record in every message (RFC 6891 §6.1.1), within
    // the same 16 KiB, before the TSIG when signed.
    let mut request = with_edns(transfer_request(8, "dom.test", None));
    sign(&mut request, "xfr.key", SECRET, unix_now());
    let signed = transfer(server.addr, &request);
    assert!(!signed.is_empty());
    for message in &signed {
        assert!(Message::from_vec(message).unwrap().edns.is_some());
        assert_eq!(tsig_of(message), Some((0, 32)), "the TSIG comes last");
    }
    let messages = transfer(
        server.addr,
        &with_edns(transfer_request(9, "ips.test", None)),
    );
    assert!(messages.len() > 20, "{} messages", messages.len());
    for message in &messages {
        assert!(message.len() <= 16 * 1024);
        assert!(Message::from_vec(message).unwrap().edns.is_some());
    }
}

/// `request` with an OPT record (payload 1232) in its additional section.
fn with_edns(mut request: Vec<u8>) -> Vec<u8> {
    request.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    let additional = u16::from_be_bytes([request[10], request[11]]) + 1;
    request[10..12].copy_from_slice(&additional.to_be_bytes());
    request
}

/// Regression: a zone's IXFR difference was made on the reload thread, so while a big
/// zone's was made (36 s on 10M entries) no other zone reloaded. The slow zone here
/// holds its difference until released: the other zone reloads meanwhile, the slow
/// one is served at once (a full transfer until its difference is kept), and the
/// difference and the NOTIFY follow.
#[test]
fn a_slow_difference_holds_back_no_reload() {
    const SLOW: &str = "ward-fault-injection-slow-difference.test";
    let toml = format!("[zone.\"{SLOW}\".transfer]\nallow = [\"127.0.0.1/32\"]\n");
    let (_dir, zones) = write_zones(&[
        (&format!("{SLOW}.ip4set"), IPS),
        ("quiet.test.ip4set", "192.0.2.1 :2:before\n"),
    ]);
    let server = transfer_server(&zones, &toml, &[], true);
    let first = serial_of(&server, SLOW);
    std::thread::sleep(Duration::from_millis(1100));
    let changed = IPS.replace("198.51.100.7 :3:Snowshoe $\n", "203.0.113.9 :5:Added\n");
    std::fs::write(zones.join(format!("{SLOW}.ip4set")), changed).unwrap();
    eventually(
        Duration::from_secs(10),
        "the slow zone's new version",
        || serial_of(&server, SLOW) != first,
    );
    std::fs::write(zones.join("quiet.test.ip4set"), "192.0.2.1 :2:after\n").unwrap();
    let name = ip4_name("192.0.2.1", "quiet.test");
    eventually(
        Duration::from_secs(10),
        "the other zone's reload, while the slow difference is held",
        || txt_records(&server.udp(&name, RecordType::TXT)) == ["after"],
    );
    let soa_serials = |from: u32| -> Vec<u32> {
        records_of(&transfer(
            server.addr,
            &transfer_request(1, SLOW, Some(from)),
        ))
        .iter()
        .filter_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .collect()
    };
    let second = serial_of(&server, SLOW);
    assert_eq!(
        soa_serials(first),
        [second, second],
        "a full transfer while the difference is held"
    );
    // Two more versions while the first difference is still being made: they wait as
    // one change, from the second version to the newest.
    let mut serial = second;
    for version in 3..=4 {
        std::thread::sleep(Duration::from_millis(1100));
        let text = format!("{IPS}203.0.113.{version} :5:Version {version}\n");
        std::fs::write(zones.join(format!("{SLOW}.ip4set")), text).unwrap();
        eventually(Duration::from_secs(10), "the next version", || {
            serial_of(&server, SLOW) != serial
        });
        serial = serial_of(&server, SLOW);
    }
    let newest = serial;
    ward::faults::release_held_differences();
    eventually(Duration::from_secs(10), "the differences kept", || {
        soa_serials(first).len() > 2
    });
    eventually(Duration::from_secs(10), "the waiting change kept", || {
        soa_serials(second) == [newest, second, newest, newest]
    });
    assert_eq!(
        soa_serials(first),
        [newest, first, second, second, newest, newest],
        "one chain: first to second, second to newest"
    );
}

#[test]
fn ixfr_sends_the_difference_and_axfr_when_the_journal_cannot() {
    let (_dir, zones) = write_zones(&[("ips.test.ip4set", IPS), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, &ward_toml(""), &[], true);
    let first = serial_of(&server, "ips.test");
    // Same serial: the SOA alone says "up to date".
    let messages = transfer(server.addr, &transfer_request(1, "ips.test", Some(first)));
    let records = records_of(&messages);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].record_type(), RecordType::SOA);

    std::thread::sleep(Duration::from_millis(1100));
    let changed = IPS.replace(
        "198.51.100.7 :3:Snowshoe $\n",
        "203.0.113.9 :5:Added later\n",
    );
    std::fs::write(zones.join("ips.test.ip4set"), changed).unwrap();
    eventually(Duration::from_secs(10), "the reload", || {
        serial_of(&server, "ips.test") != first
    });
    let second = serial_of(&server, "ips.test");
    let soa_serials = |records: &[Record]| -> Vec<u32> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            })
            .collect()
    };
    // The difference is kept just after the new version is served (a query in between
    // gets the whole zone, which is correct too): ask until it is there.
    let mut records = Vec::new();
    eventually(Duration::from_secs(10), "an incremental answer", || {
        records = records_of(&transfer(
            server.addr,
            &transfer_request(2, "ips.test", Some(first)),
        ));
        soa_serials(&records).len() > 2
    });
    assert_eq!(
        soa_serials(&records),
        [second, first, second, second],
        "RFC 1995 layout"
    );
    let second_soa = records
        .iter()
        .skip(1)
        .position(|r| {
            r.record_type() == RecordType::SOA
                && matches!(&r.data, RData::SOA(s) if s.serial == second)
        })
        .unwrap()
        + 1;
    let removed = contents(&records[1..second_soa]);
    let added = contents(&records[second_soa..]);
    assert_eq!(
        removed.keys().collect::<Vec<_>>(),
        ["7.100.51.198.ips.test."]
    );
    assert_eq!(added.keys().collect::<Vec<_>>(), ["9.113.0.203.ips.test."]);
    assert_eq!(
        added["9.113.0.203.ips.test."].0,
        BTreeSet::from(["127.0.0.5".to_string()])
    );

    // A serial the journal never saw: the whole zone, as AXFR sends it.
    let messages = transfer(
        server.addr,
        &transfer_request(3, "ips.test", Some(first - 1000)),
    );
    let records = records_of(&messages);
    assert_eq!(
        records[1].record_type(),
        RecordType::NS,
        "a full zone, not a difference"
    );
    let full = contents(&records);
    assert!(full.contains_key("9.113.0.203.ips.test."));
    assert!(!full.contains_key("7.100.51.198.ips.test."));
}

#[test]
fn only_allowed_addresses_and_signed_requests_get_a_zone() {
    let (_dir, server) = static_server(&ward_toml(""));
    let addr = server.addr;
    let refused = |messages: Vec<Vec<u8>>| messages.len() == 1 && rcode_of(&messages[0]) == 5;
    // Address-limited zone: 127.0.0.1 only.
    assert!(!refused(transfer_from(
        "127.0.0.1",
        addr,
        &transfer_request(1, "ips.test", None)
    )));
    assert!(refused(transfer_from(
        "127.0.0.2",
        addr,
        &transfer_request(1, "ips.test", None)
    )));
    // A zone without `transfer`: nobody.
    let (_other, unlisted) =
        static_server("[zone.\"ips.test\".transfer]\nallow = [\"127.0.0.1/32\"]\n");
    assert!(refused(transfer(
        unlisted.addr,
        &transfer_request(1, "dom.test", None)
    )));
    // Key-limited zone: unsigned is refused, signed is served and signed back.
    assert!(refused(transfer(
        addr,
        &transfer_request(1, "dom.test", None)
    )));
    let mut signed = transfer_request(2, "dom.test", None);
    sign(&mut signed, "xfr.key", SECRET, unix_now());
    let messages = transfer(addr, &signed);
    assert!(!messages.is_empty() && rcode_of(&messages[0]) == 0);
    for message in &messages {
        assert_eq!(tsig_of(message), Some((0, 32)), "every message is signed");
    }
    // Wrong secret: NOTAUTH with BADSIG, unsigned. Unknown key: BADKEY.
    let mut wrong = transfer_request(3, "dom.test", None);
    sign(&mut wrong, "xfr.key", "d3Jvbmctc2VjcmV0", unix_now());
    let messages = transfer(addr, &wrong);
    assert_eq!(rcode_of(&messages[0]), 9, "NOTAUTH");
    assert_eq!(tsig_of(&messages[0]), Some((16, 0)), "BADSIG, no MAC");
    let mut unknown = transfer_request(4, "dom.test", None);
    sign(&mut unknown, "other.key", SECRET, unix_now());
    assert_eq!(
        tsig_of(&transfer(addr, &unknown)[0]),
        Some((17, 0)),
        "BADKEY"
    );
    // Right key, clock 20 minutes off: BADTIME, signed so the client can trust it.
    let mut stale = transfer_request(5, "dom.test", None);
    sign(&mut stale, "xfr.key", SECRET, unix_now() - 1200);
    let messages = transfer(addr, &stale);
    assert_eq!(rcode_of(&messages[0]), 9);
    assert_eq!(tsig_of(&messages[0]), Some((18, 32)), "BADTIME with a MAC");
    // Over UDP a transfer is refused (RFC 5936 §4.2: AXFR is TCP only).
    let reply = server
        .raw_udp(&transfer_request(6, "ips.test", None))
        .unwrap();
    assert_eq!(rcode_of(&reply), 5);
    // IXFR over UDP (RFC 1995 §2): one who may transfer the zone gets its SOA alone —
    // "up to date", or "ask again over TCP"; anyone else is refused.
    let serial = serial_of(&server, "ips.test");
    for from in [serial, serial - 1] {
        let reply = server
            .raw_udp(&transfer_request(7, "ips.test", Some(from)))
            .unwrap();
        let parsed = Message::from_vec(&reply).unwrap();
        assert_eq!(parsed.metadata.response_code, ResponseCode::NoError);
        assert!(parsed.metadata.authoritative);
        assert_eq!(parsed.queries[0].query_type(), RecordType::IXFR);
        let serials: Vec<u32> = parsed
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::SOA(soa) => soa.serial,
                other => panic!("not an SOA: {other:?}"),
            })
            .collect();
        assert_eq!(serials, [serial], "IXFR from {from}");
    }
    let elsewhere = raw_udp_from(
        "127.0.0.2",
        addr,
        &transfer_request(8, "ips.test", Some(serial - 1)),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(
        rcode_of(&elsewhere),
        5,
        "IXFR over UDP from outside `allow`"
    );
    let unsigned = server
        .raw_udp(&transfer_request(9, "dom.test", Some(1)))
        .unwrap();
    assert_eq!(
        rcode_of(&unsigned),
        5,
        "unsigned IXFR over UDP of a keyed zone"
    );
    let mut signed = transfer_request(10, "dom.test", Some(1));
    sign(&mut signed, "xfr.key", SECRET, unix_now());
    let reply = server.raw_udp(&signed).unwrap();
    assert_eq!(rcode_of(&reply), 0);
    assert_eq!(tsig_of(&reply), Some((0, 32)), "signed back");
    let answers = Message::from_vec(&reply).unwrap().answers;
    assert!(
        matches!(&answers[..], [soa] if matches!(&soa.data, RData::SOA(s) if s.serial == serial_of(&server, "dom.test"))),
        "{answers:?}"
    );
    // A signed SOA query over UDP (what a secondary's refresh sends) is answered signed.
    let mut soa = query_message("dom.test.", RecordType::SOA, false)
        .to_vec()
        .unwrap();
    sign(&mut soa, "xfr.key", SECRET, unix_now());
    let reply = server.raw_udp(&soa).unwrap();
    assert_eq!(rcode_of(&reply), 0);
    assert_eq!(tsig_of(&reply), Some((0, 32)));
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
}

fn kdig() -> Option<&'static str> {
    let found = std::process::Command::new("kdig")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kdig (knot-dnsutils) is installed in CI: .ci/run installs it"
        );
        eprintln!("kdig is not installed; skipping its half of the TSIG checks");
    }
    found.then_some("kdig")
}

/// Knot's client checks every signature of a multi-message signed transfer.
#[test]
fn kdig_verifies_signed_transfers_and_queries() {
    let Some(kdig) = kdig() else { return };
    let mut ips = String::from(":127.0.0.2:Listed $\n");
    ips.push_str(&scattered_addresses(3000));
    let toml = format!(
        "{}\n[zone.\"big.test\".transfer]\nkey = \"xfr.key\"\n",
        ward_toml("")
    );
    let (_dir, zones) = write_zones(&[("big.test.ip4set", &ips), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, &toml, &[], false);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(kdig)
            .args([
                &format!("@{}", server.addr.ip()),
                "-p",
                &server.addr.port().to_string(),
                "-y",
                &format!("hmac-sha256:xfr.key:{SECRET}"),
            ])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr)
    };
    let axfr = run(&["AXFR", "big.test"]);
    assert!(
        !axfr.contains(";; WARNING") && !axfr.contains(";; ERROR"),
        "{axfr}"
    );
    assert!(axfr.contains("messages"), "{axfr}");
    let messages: usize = axfr
        .split("Received ")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(messages > 1, "a multi-message transfer: {axfr}");
    let listed = axfr
        .lines()
        .filter(|l| l.contains(".10.big.test.") && l.contains("\tA\t"))
        .count();
    assert_eq!(listed, 3000);
    // With EDNS every message also carries an OPT, and the signatures still hold.
    let with_edns = run(&["AXFR", "big.test", "+edns"]);
    assert!(
        !with_edns.contains(";; WARNING") && !with_edns.contains(";; ERROR"),
        "{with_edns}"
    );
    assert_eq!(
        with_edns
            .lines()
            .filter(|l| l.contains(".10.big.test.") && l.contains("\tA\t"))
            .count(),
        3000
    );
    for transport in ["+notcp", "+tcp"] {
        let soa = run(&["SOA", "dom.test", transport]);
        assert!(
            soa.contains("NOERROR") && !soa.contains(";; WARNING"),
            "{soa}"
        );
        assert!(soa.contains("TSIG"), "{soa}");
    }
}

/// A secondary that asks for a big zone and stops reading holds a few messages of
/// memory and its own connection; everyone else is answered, and the connection is
/// closed once the write deadline passes.
#[test]
fn a_secondary_that_stops_reading_costs_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut ips = String::from(":127.0.0.2:Listed address $, with a reason long enough to weigh\n");
    ips.push_str(&scattered_addresses(60_000));
    std::fs::create_dir_all(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/ips.test.ip4set"), ips).unwrap();
    std::fs::write(dir.path().join("ward.toml"), ward_toml("")).unwrap();
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tcp-idle-timeout",
            "3",
        ],
    );
    let addr = ward.addr();
    let before = ward.status_kb("VmRSS");
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = transfer_request(9, "ips.test", None);
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&request);
    stream.write_all(&framed).unwrap();
    // Read one message, then stop reading.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(read_tcp_message(&mut stream).is_some());
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..50 {
        let name = ip4_name(&format!("10.0.{i}.1"), "ips.test");
        let reply = raw_udp(
            addr,
            &query_message(&name, RecordType::A, false).to_vec().unwrap(),
            Duration::from_secs(2),
        );
        assert!(reply.is_some(), "UDP answered during the stalled transfer");
        let mut tcp = TcpStream::connect(addr).unwrap();
        let query = query_message(&name, RecordType::TXT, false)
            .to_vec()
            .unwrap();
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        tcp.write_all(&framed).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert!(read_tcp_message(&mut tcp).is_some(), "TCP answered too");
    }
    let during = ward.status_kb("VmRSS");
    // The whole transfer is some 20 MB of messages; a few of them may wait in memory.
    assert!(
        during < before + 8 * 1024,
        "resident size grew from {before} kB to {during} kB"
    );
    // Past the write deadline the server gives up on the stalled connection.
    ward.wait_for(
        "abandoned: the secondary stopped reading",
        Duration::from_secs(30),
    );
    let mut rest = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        rest.len() < 20 * 1024 * 1024,
        "the transfer did not complete"
    );
}

/// NOTIFY at start and after every change, retried until acknowledged, signed with
/// the zone's key.
#[test]
fn secondaries_are_notified_of_every_change() {
    let secondary = UdpSocket::bind("127.0.0.1:0").unwrap();
    secondary
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let target = secondary.local_addr().unwrap();
    let toml = ward_toml("").replace(
        "key = \"xfr.key\"\n",
        &format!("key = \"xfr.key\"\nnotify = [\"{target}\"]\n"),
    );
    let (_dir, zones) = write_zones(&[("ips.test.ip4set", IPS), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, &toml, &[], true);
    let mut buffer = [0u8; 2048];
    let mut receive = || {
        let (len, from) = secondary.recv_from(&mut buffer).expect("a NOTIFY");
        (buffer[..len].to_vec(), from)
    };
    let serial_in = |notify: &[u8]| {
        let message = Message::from_vec(notify).unwrap();
        assert_eq!(u8::from(message.metadata.op_code), 4, "opcode NOTIFY");
        assert!(message.metadata.authoritative);
        assert_eq!(message.queries[0].name().to_ascii(), "dom.test.");
        assert_eq!(message.queries[0].query_type(), RecordType::SOA);
        match &message.answers[0].data {
            RData::SOA(soa) => soa.serial,
            other => panic!("{other:?}"),
        }
    };
    // At start. Not acknowledged: sent again.
    let (first, _) = receive();
    assert_eq!(tsig_of(&first), Some((0, 32)), "signed with the zone's key");
    let serial = serial_in(&first);
    assert_eq!(serial, serial_of(&server, "dom.test"));
    let (again, from) = receive();
    assert_eq!(serial_in(&again), serial, "retried");
    let mut ack = again.clone();
    ack[2] |= 0x80;
    secondary.send_to(&ack[..ack.len()], from).unwrap();
    // A change: a new NOTIFY with the new serial.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        zones.join("dom.test.dnset"),
        format!("{DOMAINS}new.example\n"),
    )
    .unwrap();
    let changed = loop {
        let (notify, _) = receive();
        let notified = serial_in(&notify);
        if notified != serial {
            break notified;
        }
    };
    assert_eq!(changed, serial_of(&server, "dom.test"));
}

/// An entry in its cooldown (`@ ts=…;delay=…`) is left out of transfers; when the
/// cooldown ends the zone changes by itself: a NOTIFY with a new serial at that second,
/// and an IXFR that adds the entry.
#[test]
fn an_entry_reaches_secondaries_when_its_cooldown_ends() {
    let secondary = UdpSocket::bind("127.0.0.1:0").unwrap();
    secondary
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let target = secondary.local_addr().unwrap();
    let toml = ward_toml("").replace(
        "allow = [\"127.0.0.1/32\"]\n",
        &format!("allow = [\"127.0.0.1/32\"]\nnotify = [\"{target}\"]\n"),
    );
    let ready_at = unix_now() + 3;
    let trie = format!(
        "192.0.2.1 :2:base\n10.0.0.1 :3:cooled @ ts={};delay=3\n",
        ready_at - 3
    );
    let (_dir, zones) = write_zones(&[("ips.test.ip4trie", &trie)]);
    let server = transfer_server(&zones, &toml, &[], true);
    let first = serial_of(&server, "ips.test");
    let cooled = "1.0.0.10.ips.test.";
    let full = contents(&records_of(&transfer(
        server.addr,
        &transfer_request(1, "ips.test", None),
    )));
    assert!(full.contains_key("1.2.0.192.ips.test."));
    assert!(!full.contains_key(cooled), "cooling down: not transferred");
    let mut buffer = [0u8; 2048];
    let notified = loop {
        let (len, from) = secondary.recv_from(&mut buffer).expect("a NOTIFY");
        let message = Message::from_vec(&buffer[..len]).unwrap();
        let mut ack = buffer[..len].to_vec();
        ack[2] |= 0x80;
        secondary.send_to(&ack, from).unwrap();
        let RData::SOA(soa) = &message.answers[0].data else {
            panic!("no SOA in the NOTIFY")
        };
        if soa.serial != first {
            break soa.serial;
        }
    };
    assert!(unix_now() >= ready_at, "not before the cooldown ends");
    assert_eq!(notified, serial_of(&server, "ips.test"));
    let mut records = Vec::new();
    eventually(Duration::from_secs(10), "an incremental answer", || {
        records = records_of(&transfer(
            server.addr,
            &transfer_request(2, "ips.test", Some(first)),
        ));
        records.len() > 2 && records[1].record_type() == RecordType::SOA
    });
    let added = contents(&records);
    assert_eq!(
        added.get(cooled).map(|(a, _)| a.clone()),
        Some(BTreeSet::from(["127.0.0.3".to_string()]))
    );
}

/// `ward check` counts the records a secondary gets, and says what it will answer
/// differently.
#[test]
fn check_counts_what_a_transfer_sends() {
    let (dir, server) = static_server(&ward_toml(""));
    std::fs::write(dir.path().join("ward.toml"), ward_toml("")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    for zone in ["ips.test", "dom.test"] {
        let records = records_of(&transfer(server.addr, &{
            let mut request = transfer_request(3, zone, None);
            sign(&mut request, "xfr.key", SECRET, unix_now());
            request
        }));
        // The transfer repeats the SOA at its end.
        let expected = format!("{} records to transfer", records.len() - 1);
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{zone}:")))
            .unwrap();
        assert!(line.contains(&expected), "{line} (want {expected})");
    }
    assert!(text.contains("no $NS"), "{text}");
    assert!(text.contains("a range's TXT has `$`"), "{text}");
}

/// A serial ward raised (a reload of a file whose written serial did not change) is
/// not lost in a restart: secondaries holding it would otherwise ignore ward.
#[test]
fn serials_never_go_back_and_stay_for_the_same_data_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let zone = "$SOA 3600 ns1.ips.test. hostmaster.ips.test. 5 600 300 86400 60\n$NS 3600 ns1.ips.test.\n192.0.2.1 :2:Listed\n";
    std::fs::create_dir_all(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/ips.test.zone"), zone).unwrap();
    std::fs::write(dir.path().join("ward.toml"), ward_toml("")).unwrap();
    let args = ["serve", "--listen", "127.0.0.1:0", "--debounce", "50"];
    let serial = |addr: SocketAddr| -> u32 {
        let reply = raw_udp(
            addr,
            &query_message("ips.test.", RecordType::SOA, false)
                .to_vec()
                .unwrap(),
            Duration::from_secs(2),
        )
        .expect("an answer");
        match &Message::from_vec(&reply).unwrap().answers[0].data {
            RData::SOA(soa) => soa.serial,
            other => panic!("{other:?}"),
        }
    };
    let mut ward = WardProcess::spawn(dir.path(), "", &args);
    let addr = ward.addr();
    assert_eq!(serial(addr), 5, "the written serial");
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        dir.path().join("zones/ips.test.zone"),
        format!("{zone}192.0.2.2 :2:Listed\n"),
    )
    .unwrap();
    eventually(Duration::from_secs(10), "the reload", || serial(addr) == 6);
    ward.signal("TERM");
    assert!(ward.wait_exit(Duration::from_secs(10)).is_some());
    let kept = std::fs::read_to_string(dir.path().join("state/serials")).unwrap();
    assert!(kept.contains("ips.test 6 "), "{kept}");
    // The same data after a restart: the same serial, so secondaries transfer nothing.
    let mut ward = WardProcess::spawn(dir.path(), "", &args);
    assert_eq!(serial(ward.addr()), 6, "unchanged data keeps its serial");
    ward.signal("TERM");
    assert!(ward.wait_exit(Duration::from_secs(10)).is_some());
    // Data changed while ward was down (the written serial still says 5): higher.
    std::fs::write(
        dir.path().join("zones/ips.test.zone"),
        format!("{zone}192.0.2.3 :2:Listed\n"),
    )
    .unwrap();
    let ward = WardProcess::spawn(dir.path(), "", &args);
    let after = serial(ward.addr());
    assert!(
        after > 6,
        "serial {after} after a change and a restart: it went back"
    );
}

/// Transfers served and refused, and NOTIFY outcomes, are in the metrics.
#[test]
fn transfers_are_counted_in_the_metrics() {
    let (_dir, zones) = write_zones(&[("ips.test.ip4set", IPS), ("dom.test.dnset", DOMAINS)]);
    let server = transfer_server(&zones, &ward_toml(""), &["--metrics", "127.0.0.1:0"], false);
    transfer(server.addr, &transfer_request(1, "ips.test", None));
    transfer(server.addr, &transfer_request(2, "ips.test", None));
    let serial = serial_of(&server, "ips.test");
    transfer(server.addr, &transfer_request(3, "ips.test", Some(serial)));
    transfer(server.addr, &transfer_request(4, "dom.test", None));
    let (status, metrics) = http_get(server.metrics.unwrap(), "/metrics").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        sample(&metrics, "ward_xfr_total{type=\"axfr\"}"),
        2,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "ward_xfr_total{type=\"ixfr\"}"), 1);
    assert_eq!(
        sample(&metrics, "ward_xfr_refused_total"),
        1,
        "dom.test unsigned"
    );
}
