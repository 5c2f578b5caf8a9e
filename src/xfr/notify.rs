//! NOTIFY (RFC 1996): tell the secondaries a zone changed, so they ask for the new
//! serial at once instead of at their next refresh. Sent over UDP, signed with the
//! zone's key when it has one, retried at 1, 2, 4, 8 and 16 s until the secondary
//! acknowledges; a newer change of the same zone stops the retries of an older one.

use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::Transfers;
use crate::dns::answer::{CLASS_IN, rtype};
use crate::dns::tsig::{self, TsigKey};
use crate::zone::Soa;
use crate::zone::name::Name;

const OPCODE_NOTIFY: u8 = 4;
/// Waits between the tries: 31 s in all, then the secondary's own refresh takes over.
const RETRY_AFTER: [u64; 5] = [1, 2, 4, 8, 16];

/// The NOTIFY message for `zone` at `soa`, with ID `id`: the question is the zone's
/// SOA, and the answer carries the new SOA as a hint (§3.7).
fn message(id: u16, zone: &Name, soa: &Soa) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&id.to_be_bytes());
    // Opcode NOTIFY, AA.
    out.extend_from_slice(&[OPCODE_NOTIFY << 3 | 0x04, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    write_name(&mut out, zone);
    out.extend_from_slice(&rtype::SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&[0xc0, 12]);
    out.extend_from_slice(&rtype::SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&soa.ttl.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    write_name(&mut out, &soa.mname);
    write_name(&mut out, &soa.rname);
    for field in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    let length = (out.len() - length_at - 2) as u16;
    out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    out
}

fn write_name(out: &mut Vec<u8>, name: &Name) {
    out.extend_from_slice(name.wire());
    out.push(0);
}

/// Whether `reply` acknowledges the NOTIFY `id` (and is signed when `key` is set).
fn acknowledges(reply: &[u8], id: u16, key: Option<(&TsigKey, &[u8])>) -> Result<(), String> {
    if reply.len() < 12 || reply[..2] != id.to_be_bytes() || reply[2] & 0x80 == 0 {
        return Err("not an answer to it".to_string());
    }
    if (reply[2] >> 3) & 0x0f != OPCODE_NOTIFY {
        return Err("an answer of another opcode".to_string());
    }
    let rcode = reply[3] & 0x0f;
    if rcode != 0 {
        return Err(format!("rcode {rcode}"));
    }
    match key {
        Some((key, mac)) if !tsig::verify_answer(key, reply, mac) => {
            Err("its TSIG signature does not hold".to_string())
        }
        _ => Ok(()),
    }
}

/// Notifies every secondary of `zone`'s new `soa` (each on a task of its own).
pub(crate) fn notify_all(transfers: &Arc<Transfers>, zone: &Name, soa: &Soa) {
    let Some((targets, key)) = transfers.notify_targets(zone) else {
        return;
    };
    let generation = transfers.next_notify_generation(zone);
    for target in targets {
        let transfers = transfers.clone();
        let zone = zone.clone();
        let soa = soa.clone();
        let key = key.clone();
        tokio::spawn(async move {
            notify_one(&transfers, &zone, &soa, target, key.as_ref(), generation).await;
        });
    }
}

async fn notify_one(
    transfers: &Transfers,
    zone: &Name,
    soa: &Soa,
    target: SocketAddr,
    key: Option<&TsigKey>,
    generation: u64,
) {
    let local: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!(zone = %zone, %target, %error, "cannot send NOTIFY");
            return;
        }
    };
    let mut last_error = String::new();
    for (attempt, wait) in RETRY_AFTER.iter().enumerate() {
        if transfers.notify_generation(zone) != generation {
            return;
        }
        let id = (RandomState::new().hash_one(attempt) & 0xffff) as u16;
        let mut request = message(id, zone, soa);
        let mac =
            key.map(|key| tsig::sign_request(&mut request, key, crate::time::unix_now() as u64));
        if let Err(error) = socket.send_to(&request, target).await {
            last_error = error.to_string();
        } else {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(*wait);
            let mut buffer = [0u8; 1024];
            loop {
                let received =
                    tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
                let Ok(Ok((len, from))) = received else {
                    if last_error.is_empty() {
                        last_error = "no answer".to_string();
                    }
                    break;
                };
                if from != target {
                    continue;
                }
                let signature = key.zip(mac.as_deref());
                match acknowledges(&buffer[..len], id, signature) {
                    Ok(()) => {
                        transfers
                            .stats
                            .notify_acknowledged
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::info!(zone = %zone, %target, serial = soa.serial, "NOTIFY acknowledged");
                        return;
                    }
                    Err(why) => last_error = why,
                }
            }
        }
    }
    transfers
        .stats
        .notify_failed
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        zone = %zone,
        %target,
        serial = soa.serial,
        "NOTIFY not acknowledged after {} tries ({last_error}); the secondary refreshes on its SOA timer",
        RETRY_AFTER.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_is_an_authoritative_soa_question_with_the_soa_as_hint() {
        let zone = Name::parse("bl.test").unwrap();
        let soa = Soa {
            ttl: 3600,
            mname: Name::parse("ns.bl.test").unwrap(),
            rname: Name::parse("hostmaster.bl.test").unwrap(),
            serial: 7,
            refresh: 600,
            retry: 300,
            expire: 86400,
            minimum: 60,
        };
        let notify = message(0x1234, &zone, &soa);
        assert_eq!(&notify[..4], &[0x12, 0x34, 0x24, 0x00]);
        assert_eq!(&notify[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        let serial_at = notify.len() - 20;
        assert_eq!(&notify[serial_at..serial_at + 4], &7u32.to_be_bytes());
        let mut ack = notify[..12].to_vec();
        ack[2] |= 0x80;
        assert!(acknowledges(&ack, 0x1234, None).is_ok());
        assert!(acknowledges(&ack, 0x1235, None).is_err(), "another ID");
        ack[3] = 5;
        assert!(acknowledges(&ack, 0x1234, None).is_err(), "REFUSED");
    }
}
