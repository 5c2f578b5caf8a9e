//! Reading a transfer request: the zone, AXFR or IXFR, the serial an IXFR comes from,
//! and whether the request had EDNS (then every reply message carries an OPT).

use crate::dns::answer::rtype;
use crate::zone::name::Name;

/// A transfer request, as read from its message.
pub(super) struct Request {
    pub(super) id: u16,
    pub(super) qname: Name,
    pub(super) qtype: u16,
    /// Where the question ends: it is copied into every message.
    pub(super) question: Vec<u8>,
    /// IXFR: the serial the secondary has.
    pub(super) serial: Option<u32>,
    /// The request has an OPT record, so every reply carries one (RFC 6891 §6.1.1).
    pub(super) edns: bool,
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        if len == 0 {
            return Some(at + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        at += 1 + usize::from(len);
    }
}

/// Whether the additional section of `message` (its records start at `records_at`)
/// holds an OPT record; `None` when the records do not parse.
fn has_opt(message: &[u8], records_at: usize) -> Option<bool> {
    let before_additional = usize::from(u16_at(message, 6)?) + usize::from(u16_at(message, 8)?);
    let total = before_additional + usize::from(u16_at(message, 10)?);
    let mut at = records_at;
    for index in 0..total {
        let fixed = skip_name(message, at)?;
        if index >= before_additional && u16_at(message, fixed)? == rtype::OPT {
            return Some(true);
        }
        at = fixed + 10 + usize::from(u16_at(message, fixed + 8)?);
    }
    Some(false)
}

pub(super) fn u16_at(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]))
}

/// Reads a transfer request; `None` when the message is no AXFR or IXFR query.
pub(super) fn read_request(message: &[u8]) -> Option<Request> {
    if message.len() < 12 || message[2] & 0x80 != 0 || (message[2] >> 3) & 0x0f != 0 {
        return None;
    }
    if u16_at(message, 4)? != 1 {
        return None;
    }
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        labels.push(message.get(at + 1..at + 1 + len)?.to_vec());
        at += 1 + len;
    }
    let qtype = u16_at(message, at)?;
    if qtype != rtype::AXFR && qtype != rtype::IXFR {
        return None;
    }
    let qname = Name::from_labels(labels.iter().map(Vec::as_slice)).ok()?;
    let question_end = at + 4;
    let mut request = Request {
        id: u16_at(message, 0)?,
        qname,
        qtype,
        question: message.get(12..question_end)?.to_vec(),
        serial: None,
        edns: false,
    };
    // IXFR: the secondary's SOA in the authority section.
    if qtype == rtype::IXFR && u16_at(message, 8)? >= 1 {
        let p = skip_name(message, question_end)?;
        if u16_at(message, p)? == rtype::SOA {
            // mname and rname, then the serial.
            let mname = p + 10;
            let serial_at = skip_name(message, skip_name(message, mname)?)?;
            let serial = message.get(serial_at..serial_at + 4)?;
            request.serial = Some(u32::from_be_bytes(serial.try_into().ok()?));
        }
    }
    request.edns = has_opt(message, question_end).unwrap_or(false);
    Some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_with_their_serial() {
        let mut axfr = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        axfr.extend_from_slice(b"\x02bl\x04test\x00\x00\xfc\x00\x01");
        let request = read_request(&axfr).unwrap();
        assert_eq!(
            (request.id, request.qtype, request.serial),
            (0xabcd, rtype::AXFR, None)
        );
        let mut ixfr = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        ixfr.extend_from_slice(b"\x02bl\x04test\x00\x00\xfb\x00\x01");
        ixfr.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 24]);
        ixfr.extend_from_slice(&[0xc0, 12, 0xc0, 12]);
        ixfr.extend_from_slice(&1234u32.to_be_bytes());
        ixfr.extend_from_slice(&[0; 16]);
        assert_eq!(read_request(&ixfr).unwrap().serial, Some(1234));
        assert!(!read_request(&ixfr).unwrap().edns);
        // An OPT after the SOA: every reply carries one.
        ixfr[11] = 1;
        ixfr.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let with_opt = read_request(&ixfr).unwrap();
        assert_eq!((with_opt.serial, with_opt.edns), (Some(1234), true));
        // A record of another type there is no OPT; records that overrun are none.
        let opt_type_at = ixfr.len() - 10;
        ixfr[opt_type_at] = 16;
        assert!(!read_request(&ixfr).unwrap().edns);
        ixfr.truncate(ixfr.len() - 3);
        assert!(!read_request(&ixfr).unwrap().edns);
        let mut query = axfr.clone();
        let qtype_at = query.len() - 3;
        query[qtype_at] = 1;
        assert!(read_request(&query).is_none(), "an A query is no transfer");
    }
}
