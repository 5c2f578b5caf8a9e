//! Writing the messages of a transfer: header, question, records, each owner name
//! compressed against the previous owner or the apex, with pointer chains kept short:
//! RFC 1035 sets no limit, but some readers do (dnspython refuses more than 16 hops),
//! and a chain grows by one with every name that adds a label to the one before.

use super::request::Request;
use crate::dns::answer::{CLASS_IN, rtype};
use crate::dns::tsig;
use crate::records::{Rdata, Rr};
use crate::zone::Soa;
use crate::zone::name::{Labels, Name};

/// Largest message of a transfer.
pub(super) const MESSAGE_SIZE: usize = 16 * 1024;

/// Most compression pointers a reader follows to read one owner name.
const MAX_POINTER_HOPS: u8 = 8;

/// The OPT record of ward's replies: payload size, extended rcode 0, version 0, no
/// flags, no options.
const OPT_RECORD: [u8; 11] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

/// Writes one message in progress: header, question, records.
pub(super) struct MessageWriter {
    out: Vec<u8>,
    pub(super) count: u16,
    edns: bool,
    /// The last owner written (relative to the apex), and for each of its labels where
    /// the name from that label on stands in the message: the next owner points at
    /// the suffix it shares (a record's neighbours share all or most of their labels).
    previous: Vec<u8>,
    previous_at: Vec<u16>,
    /// For each of those places, the pointers a reader follows from there to the end.
    previous_hops: Vec<u8>,
}

impl MessageWriter {
    pub(super) fn new(request: &Request) -> Self {
        let mut out = Vec::with_capacity(MESSAGE_SIZE);
        out.extend_from_slice(&request.id.to_be_bytes());
        // QR, AA; opcode QUERY; NOERROR.
        out.extend_from_slice(&[0x84, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&request.question);
        MessageWriter {
            out,
            count: 0,
            edns: request.edns,
            previous: Vec::new(),
            previous_at: Vec::new(),
            previous_hops: Vec::new(),
        }
    }

    pub(super) fn fits(&self, rr_len: usize) -> bool {
        let trailer = usize::from(tsig::TSIG_SPACE) + OPT_RECORD.len();
        self.count == 0 || self.out.len() + rr_len + trailer <= MESSAGE_SIZE
    }

    /// The message as sent (before any TSIG): with its OPT record when the request had
    /// one.
    pub(super) fn into_message(self) -> Vec<u8> {
        let mut out = self.out;
        if self.edns {
            out.extend_from_slice(&OPT_RECORD);
            out[10..12].copy_from_slice(&1u16.to_be_bytes());
        }
        out
    }

    /// A record whose owner is relative to the apex (the question's name, offset 12).
    fn record(&mut self, owner: &Name, ttl: u32, rtype: u16, rdata: impl FnOnce(&mut Vec<u8>)) {
        self.owner(owner);
        self.out.extend_from_slice(&rtype.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        let length_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        rdata(&mut self.out);
        let length = (self.out.len() - length_at - 2) as u16;
        self.out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        self.count += 1;
        self.out[6..8].copy_from_slice(&self.count.to_be_bytes());
    }

    /// Writes `owner` compressed against the previous owner, else against the apex.
    fn owner(&mut self, owner: &Name) {
        let labels: Vec<&[u8]> = Labels::of_wire(owner.wire()).collect();
        let previous: Vec<&[u8]> = Labels::of_wire(&self.previous).collect();
        let mut shared = labels
            .iter()
            .rev()
            .zip(previous.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        // A shorter suffix of the previous owner has a shorter chain behind it. At the
        // limit, point at one with at most half of it: this name costs a few labels
        // more, and the names after it compress against it cheaply again.
        if shared > 0 && self.previous_hops[previous.len() - shared] >= MAX_POINTER_HOPS {
            while shared > 0 && self.previous_hops[previous.len() - shared] > MAX_POINTER_HOPS / 2 {
                shared -= 1;
            }
        }
        // A pointer holds 14 bits of offset.
        let pointer = self.previous_at.get(previous.len() - shared).copied();
        if pointer.is_none_or(|offset| offset >= 0x4000) {
            shared = 0;
        }
        let own = labels.len() - shared;
        // The question's name (the apex, at 12) is written out: no pointer behind it.
        let (target, target_hops) = match pointer {
            Some(offset) if shared > 0 => (offset, self.previous_hops[previous.len() - shared]),
            _ => (12, 0),
        };
        let mut at = Vec::with_capacity(labels.len());
        let mut hops = Vec::with_capacity(labels.len());
        for label in &labels[..own] {
            at.push(u16::try_from(self.out.len()).unwrap_or(u16::MAX));
            hops.push(target_hops + 1);
            self.out.push(label.len() as u8);
            self.out.extend_from_slice(label);
        }
        if shared > 0 {
            at.extend_from_slice(&self.previous_at[previous.len() - shared..]);
            hops.extend_from_slice(&self.previous_hops[previous.len() - shared..]);
        }
        self.out.extend_from_slice(&(0xc000 | target).to_be_bytes());
        self.previous.clear();
        self.previous.extend_from_slice(owner.wire());
        self.previous_at = at;
        self.previous_hops = hops;
    }

    pub(super) fn soa(&mut self, soa: &Soa) {
        self.record(&Name::root(), soa.ttl, rtype::SOA, |out| {
            write_name(out, &soa.mname);
            write_name(out, &soa.rname);
            for field in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                out.extend_from_slice(&field.to_be_bytes());
            }
        });
    }

    pub(super) fn rr(&mut self, rr: &Rr) {
        self.record(&rr.owner, rr.ttl, rr.data.rtype(), |out| match &rr.data {
            Rdata::A(a) => out.extend_from_slice(a),
            Rdata::Ns(name) => write_name(out, name),
            Rdata::Mx(preference, host) => {
                out.extend_from_slice(&preference.to_be_bytes());
                write_name(out, host);
            }
            Rdata::Txt(text) => {
                if text.is_empty() {
                    out.push(0);
                }
                for chunk in text.chunks(255) {
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
            Rdata::Placeholder => {
                for text in [&b"ward"[..], b"not listed"] {
                    out.push(text.len() as u8);
                    out.extend_from_slice(text);
                }
            }
        });
    }
}

fn write_name(out: &mut Vec<u8>, name: &Name) {
    out.extend_from_slice(name.wire());
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::super::request::read_request;
    use super::*;

    #[test]
    fn owners_point_at_the_suffix_they_share_with_the_previous_one() {
        let mut axfr = vec![0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        axfr.extend_from_slice(b"\x02bl\x04test\x00\x00\xfc\x00\x01");
        let request = read_request(&axfr).unwrap();
        let mut writer = MessageWriter::new(&request);
        let start = writer.out.len();
        let name = |text: &str| Name::parse(text).unwrap();
        writer.owner(&name("4.3.2.1"));
        assert_eq!(&writer.out[start..], b"\x014\x013\x012\x011\xc0\x0c");
        let second = writer.out.len();
        writer.owner(&name("4.3.2.1"));
        assert_eq!(
            &writer.out[second..],
            &[0xc0, start as u8],
            "the same owner"
        );
        let third = writer.out.len();
        writer.owner(&name("9.3.2.1"));
        let at_3 = (start + 2) as u8;
        assert_eq!(&writer.out[third..], &[1, b'9', 0xc0, at_3], "9 then 3.2.1");
        let fourth = writer.out.len();
        writer.owner(&name("7.5.1"));
        let at_1 = (start + 6) as u8;
        assert_eq!(
            &writer.out[fourth..],
            &[1, b'7', 1, b'5', 0xc0, at_1],
            "only 1 shared"
        );
        let fifth = writer.out.len();
        writer.owner(&Name::root());
        assert_eq!(&writer.out[fifth..], &[0xc0, 12], "the apex");
    }

    /// The pointers a reader follows to read the name at `at` of `message`.
    fn hops(message: &[u8], mut at: usize) -> usize {
        let mut hops = 0;
        loop {
            let len = message[at];
            if len == 0 {
                return hops;
            }
            if len & 0xc0 == 0xc0 {
                hops += 1;
                at = usize::from(u16::from_be_bytes([len & 0x3f, message[at + 1]]));
                continue;
            }
            at += 1 + usize::from(len);
        }
    }

    /// Regression (issue 18): names that each add a label to the one before (IPv6
    /// nibbles, nested ranges) made pointer chains of 17–18 hops, which dnspython
    /// refuses. Every owner is now read within a few hops, and still compressed.
    #[test]
    fn pointer_chains_stay_short() {
        let mut axfr = vec![0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        axfr.extend_from_slice(b"\x02bl\x04test\x00\x00\xfc\x00\x01");
        let request = read_request(&axfr).unwrap();
        let mut writer = MessageWriter::new(&request);
        let mut starts = Vec::new();
        let mut name = String::from("0");
        for depth in 1..32 {
            for sibling in ["1", "2"] {
                starts.push(writer.out.len());
                writer.owner(&Name::parse(&format!("{sibling}.{name}")).unwrap());
            }
            name = format!("{}.{name}", depth % 10);
            starts.push(writer.out.len());
            writer.owner(&Name::parse(&name).unwrap());
        }
        let longest = starts
            .iter()
            .map(|&at| hops(&writer.out, at))
            .max()
            .unwrap();
        assert!(longest <= usize::from(MAX_POINTER_HOPS), "{longest} hops");
        assert!(
            writer.out.len() < starts.len() * 12,
            "still compressed: {} bytes for {} names",
            writer.out.len(),
            starts.len()
        );
    }
}
