//! Everything the hot path does not take — every TCP message, and UDP packets of an
//! unusual shape (compression in the question, several questions, other opcodes, EDNS
//! versions, garbage) — parsed and encoded by hickory-proto, which knows every corner
//! of RFC 1035. The answer itself comes from the same [`answer::resolve`] as the hot
//! path's, so the two cannot disagree.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{Name as HName, RData as HRData, Record};
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use super::answer::{self, Hold, Owner, RData, rcode, rtype};
use super::query::Question;
use super::transfers::TransferService;
use super::tsig::{self, Keyring, ResponseSigner, TSIG_SPACE, Verified};
use super::wire::{self, reply_header, udp_reply_limit};
use crate::dns::counters::Outcome;
use crate::store::Snapshot;
use crate::zone::name::{Labels, Name, NameBuf, NameRef};

/// How a message arrived: it decides the size limit of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Settings the answer path needs.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// UDP payload size ward advertises and accepts (RFC 6891; 1232 avoids IP
    /// fragmentation, as the 2020 DNS flag day recommends).
    pub(crate) udp_payload: u16,
    /// Zone transfers and their TSIG keys, when any zone has `transfer` set.
    pub(crate) transfers: Option<Arc<dyn TransferService>>,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            udp_payload: 1232,
            transfers: None,
        }
    }
}

impl DnsSettings {
    fn keys(&self) -> &Keyring {
        static NONE: std::sync::LazyLock<Keyring> = std::sync::LazyLock::new(Keyring::default);
        self.transfers.as_ref().map_or(&NONE, |t| t.keys())
    }
}

/// A reply, and what it counts as.
pub(crate) struct Reply {
    pub(crate) bytes: Vec<u8>,
    pub(crate) outcome: Outcome,
    /// When it goes out: now, or after a listing's tarpit delay.
    pub(crate) hold: Hold,
}

impl Reply {
    /// The TC bit: the answer did not fit.
    pub(crate) fn truncated(&self) -> bool {
        self.bytes.get(2).is_some_and(|flags| flags & 0x02 != 0)
    }
}

/// Answers a message the way a full DNS parser would: no reply when the header is
/// unreadable or the message is a response, FORMERR when the rest does not parse.
/// A TSIG-signed message (a secondary's SOA check) is answered signed with the same
/// key, or NOTAUTH when its signature does not hold (RFC 8945 §5.2).
pub(crate) fn answer_message(
    snapshot: &Snapshot,
    settings: &DnsSettings,
    packet: &[u8],
    peer: SocketAddr,
    transport: Transport,
    now: i64,
) -> Option<Reply> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    let verified = tsig::verify_request(settings.keys(), packet, now as u64);
    let soa_for_ixfr = transport == Transport::Udp
        && settings
            .transfers
            .as_ref()
            .is_some_and(|t| t.answers_udp_ixfr(packet, &verified, peer, snapshot));
    let answering = Answering {
        snapshot,
        settings,
        peer,
        transport,
        now,
        soa_for_ixfr,
    };
    match verified {
        Verified::Unsigned => answering.unsigned(packet, 0),
        Verified::Failed(failure) => {
            let mut bytes = reply_header(packet)?;
            tsig::refuse(&mut bytes, &failure, now as u64);
            Some(Reply {
                bytes,
                outcome: Outcome::error(tsig::NOTAUTH),
                hold: Hold::NOW,
            })
        }
        Verified::Signed(signed) => {
            let unsigned = tsig::without_tsig(packet)?;
            let mut reply = answering.unsigned(&unsigned, TSIG_SPACE)?;
            ResponseSigner::new(signed).sign(&mut reply.bytes, now as u64);
            Some(reply)
        }
    }
}

/// One message being answered: where from, how, and against what.
struct Answering<'a> {
    snapshot: &'a Snapshot,
    settings: &'a DnsSettings,
    peer: SocketAddr,
    transport: Transport,
    now: i64,
    /// An IXFR over UDP from a client that may transfer the zone: answered with the
    /// zone's SOA ([`TransferService::answers_udp_ixfr`]).
    soa_for_ixfr: bool,
}

impl Answering<'_> {
    /// Answers a message without a TSIG record, in `reserve` bytes fewer than the
    /// limit.
    fn unsigned(&self, packet: &[u8], reserve: u16) -> Option<Reply> {
        let Answering {
            snapshot,
            settings,
            peer,
            transport,
            now,
            soa_for_ixfr,
        } = *self;
        let mut decoder = BinDecoder::new(packet);
        let header = Header::read(&mut decoder).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        // A reply echoes the question as it was sent: one question, without compression
        // pointers (they would point into the reply's header). Anything else gets a bare
        // header.
        if header.counts.queries != 1 {
            let code = if header.metadata.op_code == OpCode::Query {
                ResponseCode::FormErr
            } else {
                ResponseCode::NotImp
            };
            return Some(Reply {
                bytes: bare_reply(&header.metadata, code),
                outcome: Outcome::error(u16::from(code)),
                hold: Hold::NOW,
            });
        }
        let plain = wire::with_plain_question(packet);
        let packet = plain.as_deref().unwrap_or(packet);
        let protocol = match transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        };
        let Ok(request) = Request::from_bytes(packet.to_vec(), peer, protocol) else {
            return Some(Reply {
                bytes: bare_reply(&header.metadata, ResponseCode::FormErr),
                outcome: Outcome::error(rcode::FORMERR),
                hold: Hold::NOW,
            });
        };
        let max_size = match transport {
            Transport::Udp => udp_reply_limit(
                request.edns.as_ref().map(Edns::max_payload),
                settings.udp_payload,
            ),
            Transport::Tcp => u16::MAX,
        }
        .saturating_sub(reserve);
        // The OPT of a reply: our payload size, version 0 (as the hot path writes it).
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(settings.udp_payload);
            edns.set_version(0);
            edns
        });
        let builder = || MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let metadata = response_metadata(&request.metadata);
        let error = |code: ResponseCode| {
            let mut metadata = metadata;
            metadata.response_code = code;
            metadata
        };
        let failed = |code: ResponseCode, rcode: u16| {
            let bytes = emit(builder().build_no_records(error(code)), max_size)?;
            Some(Reply {
                bytes,
                outcome: Outcome::error(rcode),
                hold: Hold::NOW,
            })
        };
        if request.metadata.op_code != OpCode::Query {
            return failed(ResponseCode::NotImp, rcode::NOTIMP);
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return failed(ResponseCode::BADVERS, rcode::BADVERS);
        }
        let Ok(info) = request.request_info() else {
            return failed(ResponseCode::FormErr, rcode::FORMERR);
        };
        let query = info.query;
        let mut question = Question {
            name: NameBuf::default(),
            qtype: u16::from(query.query_type()),
            qclass: u16::from(query.query_class()),
        };
        let original = query.original().name().clone();
        for label in original.iter() {
            if question.name.push_label(label).is_err() {
                return failed(ResponseCode::FormErr, rcode::FORMERR);
            }
        }
        // The SOA stands for the zone; the reply still echoes the IXFR question.
        let asked = question.qtype;
        if soa_for_ixfr && asked == rtype::IXFR {
            question.qtype = rtype::SOA;
        }
        let answer = answer::resolve(snapshot, &question, peer.ip(), now);
        if answer.hold == Hold::NEVER {
            return None;
        }
        let mut metadata = metadata;
        metadata.authoritative = answer.authoritative;
        metadata.response_code =
            ResponseCode::from((answer.rcode >> 4) as u8, (answer.rcode & 0xf) as u8);
        let qname = question.name.view();
        let answers = to_records(&answer.answers, qname, answer.apex_skip, &original);
        let authority = to_records(&answer.authority, qname, answer.apex_skip, &original);
        let bytes = emit(
            builder().build(metadata, answers.iter(), authority.iter(), [], []),
            max_size,
        )?;
        Some(Reply {
            bytes,
            outcome: answer.outcome(asked),
            hold: answer.hold,
        })
    }
}

/// Encodes a response within `max_size` bytes (hickory sets TC when records are left
/// out).
fn emit<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    max_size: u16,
) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max_size);
    match response.destructive_emit(&mut encoder) {
        Ok(_) => Some(bytes),
        Err(error) => {
            tracing::debug!(%error, "could not encode a reply");
            None
        }
    }
}

/// A reply of a header only, with `code`.
fn bare_reply(request: &Metadata, code: ResponseCode) -> Vec<u8> {
    let mut metadata = response_metadata(request);
    metadata.response_code = code;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut bytes = Vec::with_capacity(12);
    let mut encoder = BinEncoder::new(&mut bytes);
    let _ = header.emit(&mut encoder);
    bytes
}

/// The header of a reply to `request`. RD and CD are copied for standard queries
/// only (RFC 1035 §4.1.1, RFC 6840 §5.9): for an opcode ward does not implement, the
/// meaning of those bits is unknown, and ISC's EDNS compliance test (`opcodeflg`)
/// expects them clear, as BIND and Unbound send them.
fn response_metadata(request: &Metadata) -> Metadata {
    let mut metadata = Metadata::response_from_request(request);
    if request.op_code != OpCode::Query {
        metadata.recursion_desired = false;
        metadata.checking_disabled = false;
    }
    metadata
}

/// Converts a ward name to hickory's.
pub(crate) fn to_hickory_name(wire: &[u8]) -> HName {
    HName::from_labels(Labels::of_wire(wire)).unwrap_or_else(|_| HName::root())
}

/// Turns an [`Answer`]'s records into hickory records for `qname`.
fn to_records(
    records: &answer::Records<'_>,
    qname: NameRef<'_>,
    apex_skip: usize,
    original: &HName,
) -> Vec<Record> {
    let apex = to_hickory_name(qname.suffix(apex_skip).wire());
    let mut txt = Vec::new();
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    for rr in records {
        let owner = match rr.owner {
            Owner::QName => original.clone(),
            Owner::Apex => apex.clone(),
        };
        let data = match &rr.data {
            RData::A(a) => HRData::A(A::from(std::net::Ipv4Addr::from(*a))),
            RData::Txt(text) => {
                txt.clear();
                answer::render_txt(text, qname, &mut txt);
                let chunks: Vec<&[u8]> = if txt.is_empty() {
                    vec![&[][..]]
                } else {
                    txt.chunks(255).collect()
                };
                let record = HRData::TXT(TXT::from_bytes(chunks));
                if out.iter().any(|r| r.data == record) {
                    continue;
                }
                record
            }
            RData::Soa(soa) => HRData::SOA(SOA::new(
                name_of(&soa.mname),
                name_of(&soa.rname),
                soa.serial,
                soa.refresh as i32,
                soa.retry as i32,
                soa.expire as i32,
                soa.minimum,
            )),
            RData::Ns(name) => HRData::NS(NS(name_of(name))),
            RData::Mx(preference, host) => HRData::MX(MX::new(*preference, name_of(host))),
        };
        out.push(Record::from_rdata(owner, rr.ttl, data));
    }
    out
}

fn name_of(name: &Name) -> HName {
    to_hickory_name(name.wire())
}
