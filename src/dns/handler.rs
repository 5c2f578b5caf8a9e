//! The hickory side: a `RequestHandler` for TCP (through hickory's `Server`) and for UDP
//! queries the hot path hands over. It asks the same [`answer::resolve`] and only turns
//! the result into hickory records.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{Name as HName, RData as HRData, Record};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use super::answer::{self, Answer, Owner, RData};
use super::query::Question;
use crate::store::{Store, unix_now};
use crate::zone::name::{Labels, Name, NameBuf, NameRef};

/// Settings the answer path needs.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// UDP payload size ward advertises and accepts (RFC 6891; 1232 avoids IP
    /// fragmentation, as the 2020 DNS flag day recommends).
    pub udp_payload: u16,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings { udp_payload: 1232 }
    }
}

#[derive(Clone)]
pub struct WardHandler {
    store: Arc<Store>,
    settings: DnsSettings,
}

impl WardHandler {
    pub fn new(store: Arc<Store>, settings: DnsSettings) -> Self {
        WardHandler { store, settings }
    }

    /// Answers a raw UDP packet the hot path did not take, as hickory's own server
    /// would: no reply when the header is unreadable or the packet is a response,
    /// FORMERR when the rest does not parse. Returns the reply bytes.
    pub fn answer_udp_fallback(&self, packet: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
        let mut decoder = BinDecoder::new(packet);
        let header = Header::read(&mut decoder).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let request = match Request::from_bytes(packet.to_vec(), src, Protocol::Udp) {
            Ok(request) => request,
            Err(_) => return Some(formerr(&header.metadata)),
        };
        let max_size = match &request.edns {
            Some(edns) => edns
                .max_payload()
                .clamp(512, self.settings.udp_payload.max(512)),
            None => 512,
        };
        let capture = Capture {
            max_size,
            bytes: Arc::new(Mutex::new(None)),
        };
        pollster::block_on(
            self.handle_request::<_, hickory_server::net::runtime::TokioTime>(
                &request,
                capture.clone(),
            ),
        );
        capture.bytes.lock().ok()?.take()
    }

    /// The EDNS record of a reply: our payload size, version 0.
    fn reply_edns(&self, request: &Request) -> Option<Edns> {
        request.edns.as_ref().map(|client| {
            let mut edns = Edns::new();
            // On UDP, hickory's encoder limits the reply to this size.
            let payload = match request.protocol() {
                Protocol::Udp => client
                    .max_payload()
                    .clamp(512, self.settings.udp_payload.max(512)),
                _ => self.settings.udp_payload,
            };
            edns.set_max_payload(payload);
            edns.set_version(0);
            edns
        })
    }
}

fn formerr(request: &Metadata) -> Vec<u8> {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::FormErr;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut bytes = Vec::with_capacity(12);
    let mut encoder = BinEncoder::new(&mut bytes);
    let _ = hickory_server::proto::serialize::binary::BinEncodable::emit(&header, &mut encoder);
    bytes
}

/// Converts a ward name to hickory's.
pub fn to_hickory_name(wire: &[u8]) -> HName {
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

#[async_trait::async_trait]
impl RequestHandler for WardHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = self.reply_edns(request);
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let send_error = |code: ResponseCode| {
            let mut metadata = metadata;
            metadata.response_code = code;
            metadata
        };
        if request.metadata.op_code != OpCode::Query {
            let reply = builder.build_no_records(send_error(ResponseCode::NotImp));
            return send(&mut response_handle, reply, &metadata).await;
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            let reply = builder.build_no_records(send_error(ResponseCode::BADVERS));
            return send(&mut response_handle, reply, &metadata).await;
        }
        let Ok(info) = request.request_info() else {
            let reply = builder.build_no_records(send_error(ResponseCode::FormErr));
            return send(&mut response_handle, reply, &metadata).await;
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
                let reply = builder.build_no_records(send_error(ResponseCode::FormErr));
                return send(&mut response_handle, reply, &metadata).await;
            }
        }
        let snapshot = self.store.load();
        let answer: Answer<'_> =
            answer::resolve(&snapshot, &question, request.src().ip(), unix_now());
        if answer.drop {
            return ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            });
        }
        metadata.authoritative = answer.authoritative;
        metadata.response_code =
            ResponseCode::from((answer.rcode >> 4) as u8, (answer.rcode & 0xf) as u8);
        let qname = question.name.view();
        let answers = to_records(&answer.answers, qname, answer.apex_skip, &original);
        let authority = to_records(&answer.authority, qname, answer.apex_skip, &original);
        let reply = builder.build(metadata, answers.iter(), authority.iter(), [], []);
        send(&mut response_handle, reply, &metadata).await
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    reply: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    metadata: &Metadata,
) -> ResponseInfo {
    match handle.send_response(reply).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not send a reply");
            let mut metadata = *metadata;
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}

/// A `ResponseHandler` that keeps the encoded reply instead of sending it, so UDP
/// fallback replies go out through the hot path's own socket.
#[derive(Clone)]
struct Capture {
    max_size: u16,
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(self.max_size);
        let info = response.destructive_emit(&mut encoder)?;
        if let Ok(mut slot) = self.bytes.lock() {
            *slot = Some(bytes);
        }
        Ok(info)
    }
}
