//! Zone transfers to secondaries: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, every
//! message TSIG-signed when the request was, and at most 16 KiB (what Knot and NSD
//! send). A transfer's records are made and encoded on a thread of their own and
//! handed to the connection through a queue of a few messages: the socket's pace sets
//! the pace, a reader that stops reading costs those few messages and nothing else,
//! and UDP answers never wait for it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout;

use super::answer::{CLASS_IN, rcode, rtype};
use super::notify;
use super::tsig::{self, Keyring, ResponseSigner, TsigKey, Verified};
use crate::export::journal::{Delta, Journal, JournalLimits, diff};
use crate::export::{Rdata, Rr, records};
use crate::store::{Snapshot, Store};
use crate::zone::name::{Labels, Name};
use crate::zone::{Soa, Zone};

/// Largest message of a transfer.
const MESSAGE_SIZE: usize = 16 * 1024;
/// Transfers served at once; more wait their turn.
const CONCURRENT: usize = 8;

/// Who may transfer one zone, and whom to notify.
#[derive(Debug, Clone, Default)]
pub struct ZoneTransfer {
    pub allow: Vec<IpNet>,
    /// The key requests must be signed with.
    pub key: Option<Name>,
    pub notify: Vec<SocketAddr>,
}

/// Transfer settings: per zone, the keys, the journal's limits.
#[derive(Debug, Clone, Default)]
pub struct TransferConfig {
    pub zones: HashMap<Name, ZoneTransfer>,
    pub keys: Keyring,
    pub journal: JournalLimits,
}

impl TransferConfig {
    pub(crate) fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    fn key(&self, name: &Name) -> Option<&TsigKey> {
        self.keys.get(name)
    }
}

/// Transfer counters, for the metrics.
#[derive(Debug, Default)]
pub struct TransferStats {
    pub axfr: AtomicU64,
    pub ixfr: AtomicU64,
    pub refused: AtomicU64,
    pub notify_acknowledged: AtomicU64,
    pub notify_failed: AtomicU64,
}

/// The transfer side of a running server: settings, journals, counters.
pub struct Transfers {
    pub(crate) config: TransferConfig,
    journals: Mutex<HashMap<Name, Journal>>,
    /// Per zone, a number that grows with every change: NOTIFY retries of an older
    /// change stop once there is a newer one.
    notify_generations: Mutex<HashMap<Name, u64>>,
    slots: Semaphore,
    pub stats: TransferStats,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers")
            .field("zones", &self.config.zones.len())
            .finish_non_exhaustive()
    }
}

impl Transfers {
    pub fn new(config: TransferConfig) -> Self {
        Transfers {
            config,
            journals: Mutex::new(HashMap::new()),
            notify_generations: Mutex::new(HashMap::new()),
            slots: Semaphore::new(CONCURRENT),
            stats: TransferStats::default(),
        }
    }

    /// A zone changed from `old` to `new` (a reload, an expiry): keep the difference
    /// for IXFR. Off the query path; linear in the zone's size.
    pub(crate) fn record_change(&self, old: &Zone, new: &Zone) {
        if !self.config.zones.contains_key(&new.name) || old.soa.serial == new.soa.serial {
            return;
        }
        #[cfg(feature = "fault-injection")]
        crate::faults::difference(new.name.labels().next());
        let delta = diff(old, new);
        tracing::info!(
            zone = %new.name,
            from = delta.from,
            to = delta.to,
            removed = delta.removed.len(),
            added = delta.added.len(),
            "journal: difference kept for IXFR"
        );
        if let Ok(mut journals) = self.journals.lock() {
            journals
                .entry(new.name.clone())
                .or_default()
                .push(delta, self.config.journal);
        }
    }

    /// The secondaries to notify of `zone`'s changes, and the key to sign with.
    pub(crate) fn notify_targets(&self, zone: &Name) -> Option<(Vec<SocketAddr>, Option<TsigKey>)> {
        let settings = self.config.zones.get(zone)?;
        if settings.notify.is_empty() {
            return None;
        }
        let key = settings
            .key
            .as_ref()
            .and_then(|k| self.config.key(k))
            .cloned();
        Some((settings.notify.clone(), key))
    }

    pub(crate) fn next_notify_generation(&self, zone: &Name) -> u64 {
        let Ok(mut generations) = self.notify_generations.lock() else {
            return 0;
        };
        let generation = generations.entry(zone.clone()).or_default();
        *generation += 1;
        *generation
    }

    pub(crate) fn notify_generation(&self, zone: &Name) -> u64 {
        self.notify_generations
            .lock()
            .ok()
            .and_then(|g| g.get(zone).copied())
            .unwrap_or(0)
    }

    fn since(&self, zone: &Name, serial: u32, current: u32) -> Option<Vec<Delta>> {
        self.journals.lock().ok()?.get(zone)?.since(serial, current)
    }
}

/// Notifies the secondaries of every zone being served (at start).
pub(crate) fn notify_loaded(transfers: &Arc<Transfers>, snapshot: &Snapshot) {
    for zone in snapshot.zones() {
        notify::notify_all(transfers, &zone.name, &zone.soa);
    }
}

/// A transfer request, as read from its message.
struct Request {
    id: u16,
    qname: Name,
    qtype: u16,
    /// Where the question ends: it is copied into every message.
    question: Vec<u8>,
    /// IXFR: the serial the secondary has.
    serial: Option<u32>,
    /// The request has an OPT record, so every reply carries one (RFC 6891 §6.1.1).
    edns: bool,
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

/// The OPT record of ward's replies: payload size, extended rcode 0, version 0, no
/// flags, no options.
const OPT_RECORD: [u8; 11] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

fn u16_at(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]))
}

/// Reads a transfer request; `None` when the message is no AXFR or IXFR query.
fn read_request(message: &[u8]) -> Option<Request> {
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

/// Whether `message` asks for a zone transfer (which [`serve`] then answers).
pub(crate) fn is_transfer(message: &[u8]) -> bool {
    read_request(message).is_some()
}

/// Writes one message in progress: header, question, records.
struct MessageWriter {
    out: Vec<u8>,
    count: u16,
    edns: bool,
    /// The last owner written (relative to the apex), and for each of its labels where
    /// the name from that label on stands in the message: the next owner points at
    /// the suffix it shares (a record's neighbours share all or most of their labels).
    previous: Vec<u8>,
    previous_at: Vec<u16>,
}

impl MessageWriter {
    fn new(request: &Request) -> Self {
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
        }
    }

    fn fits(&self, rr_len: usize) -> bool {
        let trailer = usize::from(tsig::TSIG_SPACE) + OPT_RECORD.len();
        self.count == 0 || self.out.len() + rr_len + trailer <= MESSAGE_SIZE
    }

    /// The message as sent (before any TSIG): with its OPT record when the request had
    /// one.
    fn into_message(self) -> Vec<u8> {
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
        // A pointer holds 14 bits of offset.
        let pointer = self.previous_at.get(previous.len() - shared).copied();
        if pointer.is_none_or(|offset| offset >= 0x4000) {
            shared = 0;
        }
        let own = labels.len() - shared;
        let mut at = Vec::with_capacity(labels.len());
        for label in &labels[..own] {
            at.push(u16::try_from(self.out.len()).unwrap_or(u16::MAX));
            self.out.push(label.len() as u8);
            self.out.extend_from_slice(label);
        }
        let target = match pointer {
            Some(offset) if shared > 0 => {
                at.extend_from_slice(&self.previous_at[previous.len() - shared..]);
                offset
            }
            _ => 12,
        };
        self.out.extend_from_slice(&(0xc000 | target).to_be_bytes());
        self.previous.clear();
        self.previous.extend_from_slice(owner.wire());
        self.previous_at = at;
    }

    fn soa(&mut self, soa: &Soa) {
        self.record(&Name::root(), soa.ttl, rtype::SOA, |out| {
            write_name(out, &soa.mname);
            write_name(out, &soa.rname);
            for field in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                out.extend_from_slice(&field.to_be_bytes());
            }
        });
    }

    fn rr(&mut self, rr: &Rr) {
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

/// Serves one transfer request on `stream`. Returns whether the connection may go on.
pub(crate) async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    message: &[u8],
    peer: SocketAddr,
    store: &Store,
    transfers: &Arc<Transfers>,
    write_timeout: Duration,
) -> bool {
    let Some(request) = read_request(message) else {
        return false;
    };
    let now = crate::clock::unix_now();
    let verified = tsig::verify_request(&transfers.config.keys, message, now as u64);
    let refuse = |code: u16| {
        let mut reply = MessageWriter::new(&request).into_message();
        reply[3] = (reply[3] & 0xf0) | code as u8;
        reply
    };
    let (zone, signed) = match (
        &verified,
        authorise(&request.qname, &verified, peer, &store.load(), transfers),
    ) {
        (Verified::Failed(failure), _) => {
            let mut reply = refuse(0);
            tsig::refuse(&mut reply, failure, now as u64);
            transfers.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, zone = %request.qname, "transfer refused: bad TSIG");
            return write_frame(stream, &reply, write_timeout).await;
        }
        (_, Err(why)) => {
            transfers.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, zone = %request.qname, "transfer refused: {why}");
            let mut reply = refuse(rcode::REFUSED);
            if let Verified::Signed(signed) = &verified {
                ResponseSigner::new(signed.clone()).sign(&mut reply, now as u64);
            }
            return write_frame(stream, &reply, write_timeout).await;
        }
        (Verified::Signed(signed), Ok(zone)) => (zone, Some(signed.clone())),
        (Verified::Unsigned, Ok(zone)) => (zone, None),
    };
    let Ok(_slot) = transfers.slots.acquire().await else {
        return false;
    };
    let kind = if request.qtype == rtype::IXFR {
        transfers.stats.ixfr.fetch_add(1, Ordering::Relaxed);
        "IXFR"
    } else {
        transfers.stats.axfr.fetch_add(1, Ordering::Relaxed);
        "AXFR"
    };
    // Made on a thread of its own, at the pace the socket takes them.
    let (sender, mut messages) = mpsc::channel::<Vec<u8>>(4);
    let transfers_for_maker = transfers.clone();
    let serial = zone.soa.serial;
    let maker = tokio::task::spawn_blocking(move || {
        make_messages(&request, &zone, signed, &transfers_for_maker, now, &sender)
    });
    let mut messages_sent = 0u64;
    let mut ok = true;
    while let Some(message) = messages.recv().await {
        if !write_frame(stream, &message, write_timeout).await {
            ok = false;
            break;
        }
        messages_sent += 1;
    }
    drop(messages);
    let records = maker.await.unwrap_or(0);
    if ok {
        tracing::info!(%peer, serial, records, messages = messages_sent, "{kind} served");
    } else {
        tracing::warn!(%peer, serial, "{kind} abandoned: the secondary stopped reading");
    }
    ok
}

/// Who may have this zone: the zone exists and is not per-client, the peer is in the
/// allowed networks, and the request is signed with the zone's key when it has one.
fn authorise(
    qname: &Name,
    verified: &Verified,
    peer: SocketAddr,
    snapshot: &Snapshot,
    transfers: &Transfers,
) -> Result<Arc<Zone>, &'static str> {
    let zone = snapshot
        .zone(qname)
        .cloned()
        .ok_or("not a zone ward serves")?;
    let settings = transfers
        .config
        .zones
        .get(&zone.name)
        .ok_or("transfers are not configured for this zone")?;
    if zone.acl.is_some() {
        return Err("its answers depend on the client (acl): a secondary cannot serve it");
    }
    let client: IpAddr = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if settings.allow.is_empty() && settings.key.is_none() {
        return Err("neither `allow` nor `key` is set: nobody may transfer it");
    }
    if !settings.allow.is_empty() && !settings.allow.iter().any(|net| net.contains(&client)) {
        return Err("the client's address is not allowed");
    }
    if let Some(key) = &settings.key {
        match verified {
            Verified::Signed(signed) if signed.key_name() == key => {}
            Verified::Signed(_) => return Err("signed with another key"),
            _ => return Err("the request is not signed with the zone's key"),
        }
    }
    Ok(zone)
}

/// Whether `packet` is an IXFR over UDP that gets the zone's SOA alone (RFC 1995 §2):
/// from a client that may transfer the zone, the current SOA says "up to date" or
/// "ask again over TCP", as Knot answers. Anyone else is refused as before, counted
/// but not logged (a UDP source may be forged).
pub(crate) fn answers_udp_ixfr(
    packet: &[u8],
    verified: &Verified,
    peer: SocketAddr,
    snapshot: &Snapshot,
    transfers: &Transfers,
) -> bool {
    let Some(request) = read_request(packet).filter(|r| r.qtype == rtype::IXFR) else {
        return false;
    };
    let allowed = authorise(&request.qname, verified, peer, snapshot, transfers).is_ok();
    if !allowed {
        transfers.stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    allowed
}

/// Makes the messages of one transfer and queues them; the records sent.
fn make_messages(
    request: &Request,
    zone: &Zone,
    signed: Option<tsig::Signed>,
    transfers: &Transfers,
    now: i64,
    queue: &mpsc::Sender<Vec<u8>>,
) -> u64 {
    let mut signer = signed.map(ResponseSigner::new);
    let mut sent = 0u64;
    let mut writer = MessageWriter::new(request);
    let mut finish = |writer: &mut MessageWriter, last: bool| -> bool {
        let mut next = MessageWriter::new(request);
        std::mem::swap(writer, &mut next);
        let mut message = next.into_message();
        if let Some(signer) = &mut signer {
            signer.sign(&mut message, now as u64);
        }
        let _ = last;
        queue.blocking_send(message).is_ok()
    };
    let mut add = |writer: &mut MessageWriter, rr: Option<&Rr>, soa: Option<&Soa>| -> bool {
        let len = rr.map_or(200, Rr::wire_len);
        if !writer.fits(len) && !finish(writer, false) {
            return false;
        }
        match (rr, soa) {
            (Some(rr), _) => writer.rr(rr),
            (None, Some(soa)) => writer.soa(soa),
            _ => {}
        }
        sent += 1;
        true
    };
    let current = &zone.soa;
    let incremental = match (request.qtype, request.serial) {
        (rtype::IXFR, Some(serial)) if serial == current.serial => Some(Vec::new()),
        (rtype::IXFR, Some(serial)) => transfers.since(&zone.name, serial, current.serial),
        _ => None,
    };
    match incremental {
        // Up to date: the SOA alone says so.
        Some(deltas) if deltas.is_empty() => {
            add(&mut writer, None, Some(current));
        }
        Some(deltas) => {
            if !add(&mut writer, None, Some(current)) {
                return sent;
            }
            for delta in &deltas {
                let old = Soa {
                    serial: delta.from,
                    ..current.clone()
                };
                let new = Soa {
                    serial: delta.to,
                    ..current.clone()
                };
                if !add(&mut writer, None, Some(&old)) {
                    return sent;
                }
                for rr in &delta.removed {
                    if !add(&mut writer, Some(rr), None) {
                        return sent;
                    }
                }
                if !add(&mut writer, None, Some(&new)) {
                    return sent;
                }
                for rr in &delta.added {
                    if !add(&mut writer, Some(rr), None) {
                        return sent;
                    }
                }
            }
            add(&mut writer, None, Some(current));
        }
        // AXFR, or an IXFR the journal cannot serve: the whole zone between SOAs.
        None => {
            if !add(&mut writer, None, Some(current)) {
                return sent;
            }
            for rr in records(zone, zone.built_at) {
                if !add(&mut writer, Some(&rr), None) {
                    return sent;
                }
            }
            add(&mut writer, None, Some(current));
        }
    }
    if writer.count > 0 {
        finish(&mut writer, true);
    }
    sent
}

async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    message: &[u8],
    limit: Duration,
) -> bool {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    matches!(timeout(limit, stream.write_all(&framed)).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests {
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
