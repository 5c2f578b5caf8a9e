//! A small DNS client for the tests: hickory-proto messages over real sockets, and
//! the answers read back as plain strings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

pub fn read_tcp_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).ok()?;
    Some(reply)
}

pub fn raw_udp(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    raw_udp_from("127.0.0.1", addr, packet, wait)
}

/// A query as a stub resolver sends it: RD off (we ask an authority), EDNS optional.
pub fn query_message(name: &str, rtype: RecordType, edns: bool) -> Message {
    query_for(Name::from_ascii(name).unwrap(), rtype, edns)
}

/// A query for a name with any bytes in its labels (`+`, `.` inside a label).
pub fn query_for(name: Name, rtype: RecordType, edns: bool) -> Message {
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name, rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        message.set_edns(e);
    }
    message
}

pub fn query_class(name: &str, rtype: RecordType, class: DNSClass) -> Message {
    let mut message = query_message(name, rtype, false);
    let mut query = Query::query(Name::from_ascii(name).unwrap(), rtype);
    query.set_query_class(class);
    message.queries = vec![query];
    message
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x2a00);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn rcode(message: &Message) -> ResponseCode {
    message.metadata.response_code
}

/// The A records of the answer, as dotted strings, sorted.
pub fn a_records(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The TXT records of the answer, each as its joined strings, sorted.
pub fn txt_records(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(""),
            ),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

pub fn authority_soa(message: &Message) -> Option<&Record> {
    message
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
}

/// The reverse-octet query name of an IPv4 address under `zone`.
pub fn ip4_name(ip: &str, zone: &str) -> String {
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    let o = ip.octets();
    format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
}

/// The 32-nibble query name of an IPv6 address under `zone`.
pub fn ip6_name(ip: &str, zone: &str) -> String {
    let ip: std::net::Ipv6Addr = ip.parse().unwrap();
    let value = u128::from(ip);
    let nibbles: Vec<String> = (0..32)
        .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
        .collect();
    format!("{}.{zone}.", nibbles.join("."))
}

/// Polls `check` until it holds, for at most `limit`: liveness, not speed.
#[track_caller]
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what}: not seen within {limit:?}");
}

/// Like [`raw_udp`], sent from another loopback address (all of 127.0.0.0/8 is local).
pub fn raw_udp_from(
    source: &str,
    addr: SocketAddr,
    packet: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(format!("{source}:0")).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, addr).unwrap();
    let mut buf = vec![0; 65535];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// One TCP exchange from another loopback address.
pub fn raw_tcp_from(source: &str, addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let local: SocketAddr = format!("{source}:0").parse().ok()?;
    socket.bind(&local.into()).ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(2))
        .ok()?;
    tcp_exchange(socket.into(), packet)
}

/// Sends one length-prefixed DNS message and reads the reply.
pub(crate) fn tcp_exchange(mut stream: TcpStream, packet: &[u8]) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).ok()?;
    read_tcp_message(&mut stream)
}
