//! The hot path's encoder: writes an [`Answer`] straight into a reused buffer. Owner
//! names are pointers into the question, and names in record data are compressed
//! against it too (hickory writes the answer name out again: ~19 bytes more a record).

use super::answer::{Answer, Owner, RData, render_txt};
use super::query::{HEADER_LEN, Query, TYPE_OPT};
use crate::zone::name::{Labels, Name, NameRef};

/// Largest UDP reply for a query: 512 without EDNS, else the client's size within
/// [512, ours] (RFC 6891 §6.2.5). Both encoders use this one rule.
pub fn udp_reply_limit(client_payload: Option<u16>, server_payload: u16) -> u16 {
    match client_payload {
        Some(payload) => payload.clamp(512, server_payload.max(512)),
        None => 512,
    }
}

/// Encodes the reply to `query` (from `packet`) into `out`. `max_size` bounds it: if the
/// records do not fit, the reply carries only the question with TC set, so the client
/// retries over TCP. `scratch` is reused for TXT rendering.
pub fn encode(
    packet: &[u8],
    query: &Query,
    answer: &Answer<'_>,
    max_size: usize,
    server_payload: u16,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
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
}

/// The OPT record of a reply: our payload size, version 0, the rcode's upper bits.
pub fn write_opt(out: &mut Vec<u8>, payload: u16, extended_rcode: u8) {
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
