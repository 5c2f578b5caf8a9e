//! Malformed packets: random bytes, truncated headers, huge label counts, compression
//! loops, lying TCP lengths. None may crash or stall the server; afterwards it still
//! answers over UDP and TCP.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

fn server() -> TestServer {
    TestServer::with_files(&[("bl.test.zone", "192.0.2.1 :2:listed\n")])
}

#[track_caller]
fn still_answers(server: &TestServer) {
    let name = ip4_name("192.0.2.1", "bl.test");
    assert_eq!(a_records(&server.udp(&name, RecordType::A)), ["127.0.0.2"]);
    assert_eq!(a_records(&server.tcp(&name, RecordType::A)), ["127.0.0.2"]);
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A header for one question, with the given flag bytes and counts.
fn header(flags: [u8; 2], counts: [u16; 4]) -> Vec<u8> {
    let mut packet = vec![0xab, 0xcd, flags[0], flags[1]];
    for count in counts {
        packet.extend_from_slice(&count.to_be_bytes());
    }
    packet
}

#[test]
fn random_bytes_over_udp() {
    let s = server();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Lcg(7);
    for i in 0..3000 {
        let len = (rng.next() % 700) as usize;
        let mut packet = rng.bytes(len);
        // Half of them look like queries up to the header, to get past the first checks.
        if i % 2 == 0 && packet.len() >= 12 {
            packet[2] &= 0x7f;
            packet[4] = 0;
            packet[5] = 1;
        }
        socket.send_to(&packet, s.addr).unwrap();
    }
    still_answers(&s);
}

#[test]
fn truncated_and_odd_headers() {
    let s = server();
    let silence = Duration::from_millis(150);
    for len in 0..12 {
        assert_eq!(
            raw_udp(s.addr, &vec![0u8; len], silence),
            None,
            "a {len}-byte packet gets no reply"
        );
    }
    // A response (QR set) is never answered: no reflection loops.
    let mut response = query_message("1.2.0.192.bl.test.", RecordType::A, false)
        .to_vec()
        .unwrap();
    response[2] |= 0x80;
    assert_eq!(raw_udp(s.addr, &response, silence), None);
    // A readable header with a broken question: FORMERR, id kept.
    let mut broken = header([0x00, 0x00], [1, 0, 0, 0]);
    broken.extend_from_slice(&[5, b'a', b'b']);
    let reply = s.raw_udp(&broken).expect("a reply");
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, 0xabcd);
    // No question at all.
    let empty = header([0x00, 0x00], [0, 0, 0, 0]);
    let reply = Message::from_vec(&s.raw_udp(&empty).expect("a reply")).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    still_answers(&s);
}

#[test]
fn huge_label_counts_and_long_names() {
    let s = server();
    // 127 one-byte labels: the longest legal name by label count.
    let mut packet = header([0x00, 0x00], [1, 0, 0, 0]);
    for _ in 0..127 {
        packet.extend_from_slice(&[1, b'a']);
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    let reply = Message::from_vec(&s.raw_udp(&packet).expect("a reply")).unwrap();
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::Refused,
        "legal, but in no zone"
    );
    // 200 labels: longer than 255 bytes, not a name.
    let mut packet = header([0x00, 0x00], [1, 0, 0, 0]);
    for _ in 0..200 {
        packet.extend_from_slice(&[1, b'a']);
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    let reply = s.raw_udp(&packet);
    if let Some(reply) = reply {
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    }
    // A label longer than 63 bytes.
    let mut packet = header([0x00, 0x00], [1, 0, 0, 0]);
    packet.push(64);
    packet.extend_from_slice(&[b'a'; 64]);
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    let _ = s.raw_udp(&packet);
    still_answers(&s);
}

#[test]
fn compression_loops() {
    let s = server();
    // A question name that points at itself.
    let mut self_loop = header([0x00, 0x00], [1, 0, 0, 0]);
    self_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    // Two pointers pointing at each other.
    let mut mutual = header([0x00, 0x00], [1, 0, 0, 0]);
    mutual.extend_from_slice(&[1, b'a', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1]);
    // A pointer past the end.
    let mut outside = header([0x00, 0x00], [1, 0, 0, 0]);
    outside.extend_from_slice(&[0xc3, 0xff, 0, 1, 0, 1]);
    // An OPT record whose length runs past the packet.
    let mut bad_opt = query_message("1.2.0.192.bl.test.", RecordType::A, true)
        .to_vec()
        .unwrap();
    let last = bad_opt.len() - 1;
    bad_opt[last - 1] = 0xff;
    for packet in [&self_loop, &mutual, &outside, &bad_opt] {
        if let Some(reply) = s.raw_udp(packet) {
            let reply = Message::from_vec(&reply).unwrap();
            assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        }
        let _ = s.raw_tcp(packet);
    }
    still_answers(&s);
}

#[test]
fn tcp_garbage_and_lying_lengths() {
    let s = server();
    let mut rng = Lcg(11);
    for _ in 0..50 {
        let mut stream = TcpStream::connect(s.addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let len = (rng.next() % 300) as usize;
        let mut frame = (len as u16).to_be_bytes().to_vec();
        frame.extend(rng.bytes(len));
        let _ = stream.write_all(&frame);
    }
    // A length that promises more than is sent, then silence: held open.
    let mut liar = TcpStream::connect(s.addr).unwrap();
    liar.write_all(&[0x03, 0xe8, 1, 2, 3]).unwrap();
    // A connection that sends nothing at all.
    let _idle = TcpStream::connect(s.addr).unwrap();
    // A zero-length frame.
    let mut zero = TcpStream::connect(s.addr).unwrap();
    zero.write_all(&[0, 0]).unwrap();
    // Several queries pipelined on one connection all get answers.
    let mut pipelined = TcpStream::connect(s.addr).unwrap();
    pipelined
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for i in 0..5 {
        let name = ip4_name(&format!("192.0.2.{i}"), "bl.test");
        let packet = query_message(&name, RecordType::A, false).to_vec().unwrap();
        let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
        frame.extend(packet);
        pipelined.write_all(&frame).unwrap();
    }
    for _ in 0..5 {
        let reply = read_tcp_message(&mut pipelined).expect("pipelined reply");
        Message::from_vec(&reply).unwrap();
    }
    still_answers(&s);
}

/// Regression: a UDP query for the root name panicked the encoder (no label to point
/// the SOA owner at), which dropped its whole batch. It is outside every zone: REFUSED.
#[test]
fn root_name_is_refused_over_udp_and_tcp() {
    let s = server();
    for rtype in [
        RecordType::SOA,
        RecordType::A,
        RecordType::NS,
        RecordType::ANY,
    ] {
        for edns in [false, true] {
            let request = query_message(".", rtype, edns);
            let udp = s.exchange_udp(&request).expect("UDP reply to a root query");
            assert_eq!(rcode(&udp), ResponseCode::Refused, "{rtype} over UDP");
            assert_eq!(udp.queries, request.queries);
            let tcp = s.exchange_tcp(&request).expect("TCP reply to a root query");
            assert_eq!(rcode(&tcp), ResponseCode::Refused, "{rtype} over TCP");
        }
    }
    assert_eq!(s.internal_errors(), 0);
    still_answers(&s);
}

/// A query that makes answering panic (a test-only fault) costs that query alone: the
/// queries around it, sent back to back so that they share `recvmmsg` batches, are all
/// answered, and the failure is counted.
#[test]
fn a_query_that_panics_costs_only_itself() {
    let s = server();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let good = query_message(&ip4_name("192.0.2.1", "bl.test"), RecordType::A, false);
    let bad = query_message(
        "ward-fault-injection-panic.1.2.0.192.bl.test.",
        RecordType::A,
        false,
    );
    let mut expected = std::collections::HashSet::new();
    for round in 0..8u16 {
        for i in 0..8u16 {
            let mut message = if i % 4 == 2 {
                bad.clone()
            } else {
                good.clone()
            };
            let id = round * 100 + i;
            message.metadata.id = id;
            if i % 4 != 2 {
                expected.insert(id);
            }
            socket.send_to(&message.to_vec().unwrap(), s.addr).unwrap();
        }
    }
    let mut buf = vec![0; 4096];
    while !expected.is_empty() {
        let (len, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|_| panic!("no reply for {} queries: {expected:?}", expected.len()));
        let reply = Message::from_vec(&buf[..len]).unwrap();
        assert!(
            expected.remove(&reply.metadata.id),
            "unexpected reply {}",
            reply.metadata.id
        );
        assert_eq!(a_records(&reply), ["127.0.0.2"]);
    }
    eventually(Duration::from_secs(5), "16 failures counted", || {
        s.internal_errors() == 16
    });
    still_answers(&s);
}

/// Found by fuzzing: a reply echoed the question as sent, compression pointers and all,
/// so a pointer into the request's header pointed into the reply's (a different byte)
/// and the reply did not parse; several questions were all echoed in a FORMERR. Now the
/// question is echoed written out, and a message of several questions gets a bare
/// FORMERR.
#[test]
fn every_reply_to_a_compressed_or_multiple_question_parses() {
    let s = server();
    // `1.2.0.192.bl.test.` with `bl.test.` as a pointer to the additional section, and a
    // name that points at the header's flag byte (0x00 in the request: the root).
    let mut pointer_ahead = header([0x00, 0x00], [1, 0, 0, 0]);
    pointer_ahead.extend_from_slice(&[1, b'1', 1, b'2', 1, b'0', 3, b'1', b'9', b'2', 0xc0, 28]);
    pointer_ahead.extend_from_slice(&[0, 1, 0, 1]);
    pointer_ahead.extend_from_slice(b"\x02bl\x04test\x00");
    let mut into_header = header([0x00, 0x00], [1, 0, 0, 0]);
    into_header.extend_from_slice(&[0xc0, 2, 0, 6, 0, 1]);
    let mut several = header([0x00, 0x00], [17, 0, 0, 0]);
    for _ in 0..17 {
        several.extend_from_slice(&[0xc0, 2, 0, 1, 0, 1]);
    }
    for (packet, what) in [
        (&pointer_ahead, "pointer ahead"),
        (&into_header, "pointer into the header"),
        (&several, "17 questions"),
    ] {
        for reply in [s.raw_udp(packet), s.raw_tcp(packet)].into_iter().flatten() {
            let parsed = Message::from_vec(&reply).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(&reply[..2], &packet[..2], "{what}");
            if what == "17 questions" {
                assert_eq!(parsed.metadata.response_code, ResponseCode::FormErr);
                assert!(parsed.queries.is_empty());
            }
        }
    }
    let reply = Message::from_vec(&s.raw_udp(&pointer_ahead).unwrap()).unwrap();
    assert_eq!(
        a_records(&reply),
        ["127.0.0.2"],
        "the compressed question is answered"
    );
    assert_eq!(reply.queries[0].name().to_ascii(), "1.2.0.192.bl.test.");
    still_answers(&s);
}
