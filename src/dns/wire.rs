//! The hot path's encoder: writes an [`Answer`] straight into a reused buffer. Owner
//! names are pointers into the question, and names in record data are compressed
//! against it too (hickory writes the answer name out again: ~19 bytes more a record).

use super::answer::{Answer, Owner, RData, render_txt};
use super::query::{HEADER_LEN, Query, TYPE_OPT};
use crate::zone::name::{Labels, Name, NameRef};

/// Largest UDP reply for a query: 512 without EDNS, else the client's size within
/// [512, ours] (RFC 6891 §6.2.5). Both encoders use this one rule.
pub(crate) fn udp_reply_limit(client_payload: Option<u16>, server_payload: u16) -> u16 {
    match client_payload {
        Some(payload) => payload.clamp(512, server_payload.max(512)),
        None => 512,
    }
}

/// Encodes the reply to `query` (from `packet`) into `out`. `max_size` bounds it: if the
/// records do not fit, the reply carries only the question with TC set, so the client
/// retries over TCP (the return value says so). `scratch` is reused for TXT rendering.
pub fn encode(
    packet: &[u8],
    query: &Query,
    answer: &Answer<'_>,
    max_size: usize,
    server_payload: u16,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> bool {
    out.clear();
    let question = &packet[HEADER_LEN..query.question_end];
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(question);
    let qname = query.question.name.view();
    // The root name (`.`) has no label to point at: its zero byte is the apex then.
    let apex_offset = HEADER_LEN + qname.suffix_offset(answer.apex_skip);
    let mut writer = RecordWriter {
        out,
        qname,
        apex_offset,
        scratch,
        txt_spans: Default::default(),
    };
    let answers = writer.records(&answer.answers);
    let authority = writer.records(&answer.authority);
    let opt_len = if query.edns.is_some() { 11 } else { 0 };
    let mut truncated = false;
    let (mut answers, mut authority) = (answers, authority);
    if out.len() + opt_len > max_size {
        out.truncate(HEADER_LEN + question.len());
        truncated = true;
        answers = 0;
        authority = 0;
    }
    let additional = u16::from(query.edns.is_some());
    if query.edns.is_some() {
        write_opt(out, server_payload, (answer.rcode >> 4) as u8);
    }
    let header = [
        (query.id >> 8) as u8,
        query.id as u8,
        0x80 | if answer.authoritative { 0x04 } else { 0 }
            | if truncated { 0x02 } else { 0 }
            | u8::from(query.recursion_desired),
        if query.checking_disabled { 0x10 } else { 0 } | (answer.rcode & 0xf) as u8,
        0,
        1,
        (answers >> 8) as u8,
        answers as u8,
        (authority >> 8) as u8,
        authority as u8,
        0,
        additional as u8,
    ];
    out[..HEADER_LEN].copy_from_slice(&header);
    truncated
}

/// Turns an encoded reply into the empty, truncated reply of rate limiting's "slip":
/// the header and the question only, TC set, so a real resolver retries over TCP.
/// `question_end` is where the question section ends.
pub(crate) fn truncate_reply(reply: &mut Vec<u8>, question_end: usize) {
    if reply.len() < HEADER_LEN || question_end > reply.len() {
        return;
    }
    reply.truncate(question_end);
    reply[2] |= 0x02;
    reply[6..HEADER_LEN].fill(0);
}

/// The start of a reply to `request`: its header (QR set, AA and TC clear, the counts
/// but the question's zero) and its question. `None` if the question is cut short.
/// A compressed question is echoed written out; one that cannot be (several
/// questions, a pointer loop) is left out, as a pointer in it would point at the
/// reply's own bytes.
pub(crate) fn reply_header(request: &[u8]) -> Option<Vec<u8>> {
    let plain = with_plain_question(request);
    let request = plain.as_deref().unwrap_or(request);
    let end = question_end(request)?;
    let mut reply = request[..end].to_vec();
    reply[2] = (reply[2] | 0x80) & !0x06;
    reply[3] &= 0x10;
    reply[6..HEADER_LEN].fill(0);
    if questions_compressed(&reply) {
        reply.truncate(HEADER_LEN);
        reply[4..6].fill(0);
    }
    Some(reply)
}

/// Whether a name in the question section of `message` holds a compression pointer.
fn questions_compressed(message: &[u8]) -> bool {
    let count = u16::from_be_bytes([message[4], message[5]]);
    let mut at = HEADER_LEN;
    for _ in 0..count {
        loop {
            match message.get(at) {
                None => return false,
                Some(0) => break,
                Some(len) if len & 0xc0 != 0 => return true,
                Some(&len) => at += 1 + usize::from(len),
            }
        }
        at += 1 + 4;
    }
    false
}

/// `message` with its one question's name written out in full, when it was compressed
/// (`None` when it was not, or cannot be read). A reply echoes the question; a pointer
/// in it would point at the reply's bytes, not the request's.
pub(crate) fn with_plain_question(message: &[u8]) -> Option<Vec<u8>> {
    let mut name = Vec::with_capacity(64);
    let mut at = HEADER_LEN;
    // Where the name ends in the message: just after its first pointer.
    let mut name_end = None;
    // A name has at most 127 labels; more steps than that is a pointer loop.
    for _ in 0..128 {
        let len = *message.get(at)?;
        if len == 0 {
            let end = name_end?;
            name.push(0);
            let rest = message.get(end..)?;
            if rest.len() < 4 || name.len() > 255 {
                return None;
            }
            let mut out = Vec::with_capacity(HEADER_LEN + name.len() + rest.len());
            out.extend_from_slice(&message[..HEADER_LEN]);
            out.extend_from_slice(&name);
            out.extend_from_slice(rest);
            return Some(out);
        }
        match len & 0xc0 {
            0xc0 => {
                let low = *message.get(at + 1)?;
                name_end.get_or_insert(at + 2);
                at = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            0 => {
                name.extend_from_slice(message.get(at..at + 1 + usize::from(len))?);
                at += 1 + usize::from(len);
            }
            _ => return None,
        }
    }
    None
}

/// Where the question section of a message ends, read from the message itself (for
/// replies hickory encoded). `None` if the message is cut short.
pub(crate) fn question_end(message: &[u8]) -> Option<usize> {
    let count = u16::from_be_bytes([*message.get(4)?, *message.get(5)?]);
    let mut at = HEADER_LEN;
    for _ in 0..count {
        loop {
            let len = *message.get(at)?;
            match len {
                0 => {
                    at += 1;
                    break;
                }
                l if l & 0xc0 == 0xc0 => {
                    at += 2;
                    break;
                }
                l => at += 1 + usize::from(l),
            }
        }
        at += 4;
    }
    (at <= message.len()).then_some(at)
}

/// The OPT record of a reply: our payload size, version 0, the rcode's upper bits.
pub(crate) fn write_opt(out: &mut Vec<u8>, payload: u16, extended_rcode: u8) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[extended_rcode, 0, 0, 0, 0, 0]);
}

struct RecordWriter<'a, 'q> {
    out: &'a mut Vec<u8>,
    qname: NameRef<'q>,
    apex_offset: usize,
    scratch: &'a mut Vec<u8>,
    /// (start, len) of TXT rdata already written, to drop texts that render the same.
    txt_spans: smallvec::SmallVec<[(usize, usize); 8]>,
}

impl RecordWriter<'_, '_> {
    /// Writes records, returning how many were written.
    fn records(&mut self, records: &[super::answer::Rr<'_>]) -> u16 {
        let mut count = 0u16;
        for rr in records {
            let start = self.out.len();
            let owner = match rr.owner {
                Owner::QName => HEADER_LEN,
                Owner::Apex => self.apex_offset,
            };
            self.pointer(owner);
            self.out.extend_from_slice(&rr.data.rtype().to_be_bytes());
            self.out.extend_from_slice(&1u16.to_be_bytes());
            self.out.extend_from_slice(&rr.ttl.to_be_bytes());
            let rdlength_at = self.out.len();
            self.out.extend_from_slice(&[0, 0]);
            match &rr.data {
                RData::A(addr) => self.out.extend_from_slice(addr),
                RData::Txt(txt) => {
                    self.scratch.clear();
                    render_txt(txt, self.qname, self.scratch);
                    let rdata_start = self.out.len();
                    if self.scratch.is_empty() {
                        self.out.push(0);
                    }
                    for chunk in self.scratch.chunks(255) {
                        self.out.push(chunk.len() as u8);
                        self.out.extend_from_slice(chunk);
                    }
                    let span = (rdata_start, self.out.len() - rdata_start);
                    let rdata = &self.out[rdata_start..];
                    if self
                        .txt_spans
                        .iter()
                        .any(|&(s, l)| self.out[s..s + l] == *rdata)
                    {
                        self.out.truncate(start);
                        continue;
                    }
                    self.txt_spans.push(span);
                }
                RData::Soa(soa) => {
                    self.name(&soa.mname);
                    self.name(&soa.rname);
                    for field in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                        self.out.extend_from_slice(&field.to_be_bytes());
                    }
                }
                RData::Ns(name) => self.name(name),
                RData::Mx(preference, host) => {
                    self.out.extend_from_slice(&preference.to_be_bytes());
                    self.name(host);
                }
            }
            let rdlength = (self.out.len() - rdlength_at - 2) as u16;
            self.out[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
            count += 1;
        }
        count
    }

    fn pointer(&mut self, offset: usize) {
        self.out
            .extend_from_slice(&(0xc000 | offset as u16).to_be_bytes());
    }

    /// Writes `name`, pointing into the question for the longest suffix they share.
    fn name(&mut self, name: &Name) {
        let wire = name.wire();
        let mut starts = [0u8; 128];
        let mut count = 0;
        let mut at = 0;
        for label in Labels::of_wire(wire) {
            starts[count] = at as u8;
            count += 1;
            at += 1 + label.len();
        }
        let q = self.qname.label_count();
        for shared in (1..=count.min(q)).rev() {
            let name_at = usize::from(starts[count - shared]);
            if wire[name_at..] == *self.qname.suffix(q - shared).wire() {
                self.out.extend_from_slice(&wire[..name_at]);
                self.pointer(HEADER_LEN + self.qname.label_offset(q - shared));
                return;
            }
        }
        self.out.extend_from_slice(wire);
        self.out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::dns::answer::{resolve, rtype};
    use crate::dns::query::{Parsed, parse};
    use crate::load::test_snapshot;

    fn packet(name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut p = vec![
            0xbe,
            0xef,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(edns.is_some()),
        ];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        if let Some(payload) = edns {
            write_opt(&mut p, payload, 0);
        }
        p
    }

    fn encode_reply(files: &[(&str, &str)], name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let snapshot = test_snapshot(files);
        let request = packet(name, qtype, edns);
        let mut query = Query::default();
        assert_eq!(parse(&request, &mut query), Parsed::Query);
        let answer = resolve(&snapshot, &query.question, IpAddr::from([127, 0, 0, 1]), 0);
        let limit = udp_reply_limit(query.edns.map(|e| e.payload), 1232);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        encode(
            &request,
            &query,
            &answer,
            usize::from(limit),
            1232,
            &mut out,
            &mut scratch,
        );
        out
    }

    #[test]
    fn the_one_edns_size_rule() {
        assert_eq!(udp_reply_limit(None, 1232), 512);
        assert_eq!(
            udp_reply_limit(Some(100), 1232),
            512,
            "below 512 counts as 512"
        );
        assert_eq!(udp_reply_limit(Some(4096), 1232), 1232, "never above ours");
        assert_eq!(udp_reply_limit(Some(1000), 1232), 1000);
        assert_eq!(
            udp_reply_limit(Some(4096), 100),
            512,
            "ours is at least 512"
        );
    }

    #[test]
    fn header_and_compressed_owner_names() {
        let reply = encode_reply(
            &[("bl.test.zone", "192.0.2.1 :2:x\n")],
            "1.2.0.192.bl.test",
            rtype::A,
            None,
        );
        assert_eq!(&reply[..2], &[0xbe, 0xef]);
        assert_eq!(reply[2], 0x80 | 0x04 | 0x01, "QR, AA, RD copied");
        assert_eq!(&reply[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        let question_end = 12 + 19 + 4;
        assert_eq!(
            &reply[question_end..question_end + 2],
            &[0xc0, 12],
            "owner points at the question"
        );
        assert_eq!(&reply[reply.len() - 4..], &[127, 0, 0, 2]);
    }

    #[test]
    fn negative_answer_points_its_soa_owner_at_the_apex() {
        let reply = encode_reply(
            &[("bl.test.zone", "192.0.2.1 :2:x\n")],
            "9.9.9.9.bl.test",
            rtype::A,
            Some(1232),
        );
        assert_eq!(reply[3] & 0xf, 3, "NXDOMAIN");
        assert_eq!(&reply[8..10], &[0, 1], "one authority record");
        assert_eq!(&reply[10..12], &[0, 1], "the OPT");
        let question_end = 12 + 17 + 4;
        // `bl.test` starts after the four one-digit labels: 12 + 4 * 2.
        assert_eq!(&reply[question_end..question_end + 2], &[0xc0, 20]);
    }

    #[test]
    fn an_answer_that_does_not_fit_is_truncated_to_the_question() {
        let mut zone = String::new();
        for i in 0..10 {
            zone.push_str(&format!("192.0.2.1 :2:{i}{}\n", "t".repeat(200)));
        }
        let reply = encode_reply(
            &[("bl.test.zone", &zone)],
            "1.2.0.192.bl.test",
            rtype::TXT,
            None,
        );
        assert!(reply.len() <= 512);
        assert_ne!(reply[2] & 0x02, 0, "TC");
        assert_eq!(&reply[6..12], &[0, 0, 0, 0, 0, 0]);
    }

    /// Regression: the root name has no label to point the SOA owner at.
    #[test]
    fn a_compressed_question_is_written_out_for_the_echo() {
        // 1.example. A, the "example." part a pointer to a name in the request's
        // additional section: the echo must not point anywhere.
        let mut packet = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&[1, b'1', 0xc0, 20, 0, 1, 0, 1]);
        packet.extend_from_slice(b"\x07example\x00");
        let plain = with_plain_question(&packet).unwrap();
        assert_eq!(&plain[12..23], b"\x011\x07example\x00");
        assert_eq!(&plain[23..27], &[0, 1, 0, 1]);
        assert!(with_plain_question(&plain[..27]).is_none(), "nothing to do");
        let mut looped = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(with_plain_question(&looped).is_none(), "a pointer loop");
    }

    /// Regression (fuzzing, udp_answer with transfers on): a request with a TSIG that
    /// fails and a question pointing into its header got a NOTAUTH echoing that
    /// pointer, which then pointed into the reply's own header.
    #[test]
    fn a_refusal_header_never_echoes_a_pointer() {
        // te\x01\x02\x00 + a pointer to offset 0.
        let mut pointer_into_header = vec![0x2a, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        pointer_into_header.extend_from_slice(&[5, b't', b'e', 1, 2, 0, 0xc0, 0, 0, 1, 0, 1]);
        let reply = reply_header(&pointer_into_header).unwrap();
        assert_eq!(
            reply,
            [0x2a, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "no question"
        );
        // A pointer to a name later in the message: written out.
        let mut later = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        later.extend_from_slice(&[1, b'1', 0xc0, 20, 0, 1, 0, 1]);
        later.extend_from_slice(b"\x07example\x00");
        let reply = reply_header(&later).unwrap();
        assert_eq!(&reply[4..6], &[0, 1]);
        assert_eq!(&reply[12..], b"\x011\x07example\x00\x00\x01\x00\x01");
        // Two questions, the second compressed: neither.
        let mut two = vec![0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        two.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01\x01b\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(reply_header(&two).unwrap().len(), HEADER_LEN);
        // Plain: unchanged.
        let plain = packet(".", rtype::SOA, None);
        assert_eq!(reply_header(&plain).unwrap()[12..], plain[12..17]);
    }

    #[test]
    fn a_root_query_encodes() {
        let snapshot = test_snapshot(&[("bl.test.zone", "192.0.2.1\n")]);
        let request = packet(".", rtype::SOA, None);
        let mut query = Query::default();
        assert_eq!(parse(&request, &mut query), Parsed::Query);
        let mut answer = resolve(&snapshot, &query.question, IpAddr::from([127, 0, 0, 1]), 0);
        assert_eq!(answer.rcode, crate::dns::answer::rcode::REFUSED);
        // Even an answer with an apex-owned record for the root (no such zone exists)
        // points at the root's zero byte instead of past the name.
        let soa = &snapshot.zones()[0].soa;
        answer.authority.push(crate::dns::answer::Rr {
            owner: crate::dns::answer::Owner::Apex,
            ttl: 1,
            data: crate::dns::answer::RData::Soa(soa),
        });
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        encode(&request, &query, &answer, 512, 1232, &mut out, &mut scratch);
        assert_eq!(&out[17..19], &[0xc0, 12]);
    }
}
