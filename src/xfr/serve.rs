//! Zone transfers to secondaries: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, every
//! message TSIG-signed when the request was, and at most 16 KiB (what Knot and NSD
//! send). A transfer's records are made and encoded on a thread of their own and
//! handed to the connection through a queue of a few messages: the socket's pace sets
//! the pace, a reader that stops reading costs those few messages and nothing else,
//! and UDP answers never wait for it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::Transfers;
use super::message::MessageWriter;
use super::request::{Request, read_request};
use crate::dns::answer::{rcode, rtype};
use crate::dns::tsig::{self, ResponseSigner, Verified};
use crate::records::{Rr, records};
use crate::store::{Snapshot, Store};
use crate::zone::name::Name;
use crate::zone::{Soa, Zone};

/// Serves one transfer request on `stream`. Returns whether the connection may go on.
pub(super) async fn serve<S: AsyncWrite + Unpin + ?Sized>(
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
    let now = crate::time::unix_now();
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
    if zone.access.is_some() {
        return Err(
            "its answers depend on the client (acl) or on access keys (aclkey): a secondary cannot serve it",
        );
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
pub(super) fn answers_udp_ixfr(
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

async fn write_frame<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    message: &[u8],
    limit: Duration,
) -> bool {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    matches!(timeout(limit, stream.write_all(&framed)).await, Ok(Ok(())))
}
