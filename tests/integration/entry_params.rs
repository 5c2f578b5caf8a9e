//! Per-entry parameters (the rspamd fork's `@ ts=…;delay=…;key=…`, and the same words in
//! ward's format) over real sockets: a cooldown hides an entry until it ends, a tarpit
//! holds the reply back without holding the worker, and over TCP never longer than the
//! idle timeout.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_cooldown_hides_an_entry_until_it_ends() {
    let now = unix_now();
    let trie = format!(
        "1.2.3.0/24 listed\n10.0.0.1 COOLDOWN @ ts={now};delay=3600s\n10.0.0.2 READY @ ts={};delay=60s\n",
        now - 120
    );
    let ward = format!("10.0.0.1 :2:cooling ts={now} delay=1h\n10.0.0.2 :2:ready key=require\n");
    let s = TestServer::with_files(&[("t.test.ip4trie", &trie), ("w.test.zone", &ward)]);
    for reply in [
        s.udp(&ip4_name("10.0.0.1", "t.test"), RecordType::TXT),
        s.tcp(&ip4_name("10.0.0.1", "t.test"), RecordType::TXT),
        s.udp(&ip4_name("10.0.0.1", "w.test"), RecordType::TXT),
    ] {
        assert_eq!(rcode(&reply), ResponseCode::NXDomain, "cooling down");
    }
    assert_eq!(
        txt_records(&s.udp(&ip4_name("10.0.0.2", "t.test"), RecordType::TXT)),
        ["READY"]
    );
    // A key is required and no zone takes keys: never answered.
    assert_eq!(
        rcode(&s.udp(&ip4_name("10.0.0.2", "w.test"), RecordType::A)),
        ResponseCode::NXDomain
    );
}

/// A tarpit entry's reply comes `delay` later, from the address the query went to; a
/// single UDP worker answers other queries meanwhile (it holds nothing itself).
#[test]
fn a_tarpit_holds_the_reply_not_the_worker() {
    let s = TestServer::with_files_and(
        &[(
            "t.test.ip4trie",
            "10.0.0.1 :2:slow @ delay=4s\n10.0.0.2 :2:fast\n",
        )],
        &["--threads", "1", "--metrics", "127.0.0.1:0"],
        "",
    );
    let slow = UdpSocket::bind("127.0.0.1:0").unwrap();
    slow.connect(s.addr).unwrap();
    let request = query_message(&ip4_name("10.0.0.1", "t.test"), RecordType::TXT, false);
    slow.send(&request.to_vec().unwrap()).unwrap();
    // The worker answers another query while the first reply is held.
    let fast = s.udp(&ip4_name("10.0.0.2", "t.test"), RecordType::TXT);
    assert_eq!(txt_records(&fast), ["fast"]);
    slow.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    assert!(
        slow.recv(&mut buf).is_err(),
        "the held reply came before the other query's"
    );
    // Then it comes, from the server's address (the socket is connected to it).
    slow.set_nonblocking(false).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let len = slow.recv(&mut buf).expect("the held reply");
    let reply = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(reply.metadata.id, request.metadata.id);
    assert_eq!(txt_records(&reply), ["slow"]);
    let metrics = http_get(s.metrics.unwrap(), "/metrics").unwrap().1;
    assert_eq!(
        sample(&metrics, "ward_tarpit_replies_total{result=\"held\"}"),
        1
    );
}

/// Over TCP a tarpit never holds a reply longer than the idle timeout.
#[test]
fn a_tarpit_over_tcp_waits_at_most_the_idle_timeout() {
    let s = TestServer::with_files_and(
        &[("t.test.ip4trie", "10.0.0.1 :2:slow @ delay=1h\n")],
        &["--tcp-idle-timeout", "1"],
        "",
    );
    let mut stream = TcpStream::connect(s.addr).unwrap();
    // Far below the hour, far above the second.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = query_message(&ip4_name("10.0.0.1", "t.test"), RecordType::TXT, false)
        .to_vec()
        .unwrap();
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&request);
    stream.write_all(&framed).unwrap();
    let reply = read_tcp_message(&mut stream).expect("a reply within the idle timeout");
    assert_eq!(txt_records(&Message::from_vec(&reply).unwrap()), ["slow"]);
}
