//! The hot path's query parser: accepts the one shape nearly every query has — a
//! standard query, one question without compression, at most an EDNS(0) OPT — and
//! hands anything else to hickory (`Fallback`), which knows every corner of RFC 1035.

use crate::zone::name::NameBuf;

pub(crate) const HEADER_LEN: usize = 12;
pub(crate) const TYPE_OPT: u16 = 41;

/// What the answer logic needs to know about the question.
#[derive(Default)]
pub struct Question {
    /// Lowercased, with label offsets (same layout as in the packet).
    pub(crate) name: NameBuf,
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
}

/// EDNS(0) as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientEdns {
    pub(crate) payload: u16,
    pub(crate) version: u8,
}

/// A parsed standard query.
#[derive(Default)]
pub struct Query {
    pub(crate) id: u16,
    pub(crate) recursion_desired: bool,
    pub(crate) checking_disabled: bool,
    pub question: Question,
    /// End of the question section: `packet[12..question_end]` is echoed as is.
    pub(crate) question_end: usize,
    pub(crate) edns: Option<ClientEdns>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// `Query` holds a standard query.
    Query,
    /// Not worth a reply: too short for a header, or a response (never answer those,
    /// or two servers can be made to talk to each other forever).
    Drop,
    /// Something less common; let the full parser decide.
    Fallback,
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// Whether `options` is a run of whole EDNS options (code, length, data).
fn options_fit(mut options: &[u8]) -> bool {
    while !options.is_empty() {
        let Some(&[_, _, high, low]) = options.first_chunk::<4>() else {
            return false;
        };
        let Some(rest) = options.get(4 + usize::from(u16::from_be_bytes([high, low]))..) else {
            return false;
        };
        options = rest;
    }
    true
}

/// Parses `packet` into `query` (reused between packets, so nothing is allocated).
pub fn parse(packet: &[u8], query: &mut Query) -> Parsed {
    if packet.len() < HEADER_LEN {
        return Parsed::Drop;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Parsed::Drop;
    }
    let opcode = (flags >> 11) & 0xf;
    let counts = [
        u16::from_be_bytes([packet[4], packet[5]]),
        u16::from_be_bytes([packet[6], packet[7]]),
        u16::from_be_bytes([packet[8], packet[9]]),
        u16::from_be_bytes([packet[10], packet[11]]),
    ];
    if opcode != 0 || counts[0] != 1 || counts[1] != 0 || counts[2] != 0 || counts[3] > 1 {
        return Parsed::Fallback;
    }
    query.id = u16::from_be_bytes([packet[0], packet[1]]);
    query.recursion_desired = flags & 0x0100 != 0;
    query.checking_disabled = flags & 0x0010 != 0;
    // Compression pointers (and the reserved label types) are legal but unusual in a
    // question: hickory follows them safely.
    let Some(name_len) = packet
        .get(HEADER_LEN..)
        .and_then(|question| query.question.name.read_uncompressed(question))
    else {
        return Parsed::Fallback;
    };
    let mut at = HEADER_LEN + name_len;
    let (Some(qtype), Some(qclass)) = (u16_at(packet, at), u16_at(packet, at + 2)) else {
        return Parsed::Fallback;
    };
    query.question.qtype = qtype;
    query.question.qclass = qclass;
    at += 4;
    query.question_end = at;
    query.edns = None;
    if counts[3] == 1 {
        // Only a well-formed OPT of version 0 stays on the fast path.
        if packet.get(at) != Some(&0) || u16_at(packet, at + 1) != Some(TYPE_OPT) {
            return Parsed::Fallback;
        }
        let (Some(payload), Some(&version), Some(rdlen)) = (
            u16_at(packet, at + 3),
            packet.get(at + 6),
            u16_at(packet, at + 9),
        ) else {
            return Parsed::Fallback;
        };
        if version != 0 {
            return Parsed::Fallback;
        }
        // The options must fill the RDATA exactly (RFC 6891 §6.1.2); anything else is
        // for the full parser, which answers FORMERR.
        let Some(options) = packet.get(at + 11..at + 11 + usize::from(rdlen)) else {
            return Parsed::Fallback;
        };
        if !options_fit(options) {
            return Parsed::Fallback;
        }
        at += 11 + usize::from(rdlen);
        query.edns = Some(ClientEdns { payload, version });
    }
    if at != packet.len() {
        return Parsed::Fallback;
    }
    Parsed::Query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(name: &[&[u8]], qtype: u16, opt: Option<(u16, u8)>) -> Vec<u8> {
        let mut p = vec![
            0x12,
            0x34,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(opt.is_some()),
        ];
        for label in name {
            p.push(label.len() as u8);
            p.extend_from_slice(label);
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        if let Some((payload, version)) = opt {
            p.push(0);
            p.extend_from_slice(&TYPE_OPT.to_be_bytes());
            p.extend_from_slice(&payload.to_be_bytes());
            p.extend_from_slice(&[0, version, 0, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn parses_standard_query_with_edns() {
        let mut query = Query::default();
        let p = packet(&[b"7", b"113", b"IPS", b"example"], 16, Some((1232, 0)));
        assert_eq!(parse(&p, &mut query), Parsed::Query);
        assert_eq!(query.id, 0x1234);
        assert!(query.recursion_desired);
        assert_eq!(query.question.qtype, 16);
        assert_eq!(query.question.name.view().label(2), b"ips");
        assert_eq!(
            query.edns,
            Some(ClientEdns {
                payload: 1232,
                version: 0
            })
        );
        assert_eq!(query.question_end, p.len() - 11);
    }

    #[test]
    fn unusual_shapes_fall_back_or_drop() {
        let mut query = Query::default();
        assert_eq!(parse(&[0; 5], &mut query), Parsed::Drop);
        let mut response = packet(&[b"a"], 1, None);
        response[2] |= 0x80;
        assert_eq!(parse(&response, &mut query), Parsed::Drop);
        let badvers = packet(&[b"a"], 1, Some((512, 1)));
        assert_eq!(parse(&badvers, &mut query), Parsed::Fallback);
        let mut truncated = packet(&[b"abc"], 1, None);
        truncated.truncate(15);
        assert_eq!(parse(&truncated, &mut query), Parsed::Fallback);
        let mut trailing = packet(&[b"a"], 1, None);
        trailing.push(0);
        assert_eq!(parse(&trailing, &mut query), Parsed::Fallback);
        let mut pointer = packet(&[], 1, None);
        pointer[12] = 0xc0;
        assert_eq!(parse(&pointer, &mut query), Parsed::Fallback);
    }

    /// Found by fuzzing: an OPT whose RDATA is not a run of whole options (RFC 6891
    /// malformed: FORMERR) was answered by the hot path as if well formed.
    #[test]
    fn edns_options_must_fill_the_opt_exactly() {
        let mut query = Query::default();
        let with_options = |rdata: &[u8]| {
            let mut p = packet(&[b"a"], 1, Some((1232, 0)));
            let len = p.len();
            p[len - 2..].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
            p.extend_from_slice(rdata);
            p
        };
        // A cookie option (code 10) of 8 bytes: fine.
        let cookie = with_options(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(parse(&cookie, &mut query), Parsed::Query);
        for bad in [
            &[0u8][..],
            &[0, 10, 0],
            &[0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8],
        ] {
            assert_eq!(
                parse(&with_options(bad), &mut query),
                Parsed::Fallback,
                "{bad:?}"
            );
        }
    }
}
