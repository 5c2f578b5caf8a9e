//! TSIG (RFC 8945): shared-secret signatures on the messages between ward and its
//! secondaries — transfer requests and their (many-message) answers, SOA checks,
//! NOTIFY. hmac-sha256 and hmac-sha512, and hmac-sha1 for old BIND.
//!
//! The MAC covers the message as it was before the TSIG record was added (original ID,
//! additional count without it) and the TSIG variables; an answer's MAC also covers the
//! request's MAC; each later message of a transfer covers the MAC before it, the
//! message and the timers (§5.3.1). Keys come from `ward.toml` and are never logged.
//!
//! Why not hickory-proto's `TSigner`: it sits behind the DNSSEC features (a crypto
//! backend ward does not otherwise need) and signs hickory `Message`s, while transfer
//! messages are encoded by hand so they can be streamed; what is left to write is the
//! byte layout above over the `hmac` crate. kdig and Knot/NSD check it in the tests.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use hmac::{KeyInit, Mac};

use super::answer::{CLASS_ANY, rtype};
use crate::zone::name::Name;

/// TSIG error codes (the TSIG record's own error field).
pub(crate) const BADSIG: u16 = 16;
pub(crate) const BADKEY: u16 = 17;
pub(crate) const BADTIME: u16 = 18;
/// The most a TSIG record takes: a 255-byte key name, the longest algorithm name and
/// MAC (hmac-sha512), the other data of a BADTIME answer. Replies leave room for it.
pub(crate) const TSIG_SPACE: u16 = 255 + 10 + 13 + 6 + 2 + 2 + 64 + 6 + 2 + 6;
/// The rcode of a refused signature: NOTAUTH.
pub(crate) const NOTAUTH: u16 = 9;
/// Seconds of clock difference a signature may have.
const FUDGE: u16 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn from_text(text: &str) -> Option<Algorithm> {
        match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha1" => Some(Algorithm::Sha1),
            "hmac-sha256" => Some(Algorithm::Sha256),
            "hmac-sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn wire_name(self) -> Name {
        let text = match self {
            Algorithm::Sha1 => "hmac-sha1",
            Algorithm::Sha256 => "hmac-sha256",
            Algorithm::Sha512 => "hmac-sha512",
        };
        Name::parse(text).unwrap_or_default()
    }

    fn mac(self, secret: &[u8], data: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(secret: &[u8], data: &[&[u8]]) -> Vec<u8> {
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(secret) else {
                return Vec::new();
            };
            for part in data {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Algorithm::Sha1 => run::<hmac::Hmac<sha1::Sha1>>(secret, data),
            Algorithm::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(secret, data),
            Algorithm::Sha512 => run::<hmac::Hmac<sha2::Sha512>>(secret, data),
        }
    }
}

/// One shared secret.
#[derive(Clone)]
pub(crate) struct TsigKey {
    name: Name,
    algorithm: Algorithm,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        write!(f, "TsigKey({} {:?})", self.name, self.algorithm)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("key {0}: unknown algorithm `{1}` (use hmac-sha256, hmac-sha512 or hmac-sha1)")]
    Algorithm(String, String),
    #[error("key {0}: the secret is not base64")]
    Secret(String),
    #[error("key {0}: `{0}` is not a domain name")]
    Name(String),
}

impl TsigKey {
    /// A key from its name, algorithm and base64 secret.
    pub(crate) fn new(
        name: &str,
        algorithm: &str,
        secret_base64: &str,
    ) -> Result<TsigKey, KeyError> {
        let algorithm = Algorithm::from_text(algorithm)
            .ok_or_else(|| KeyError::Algorithm(name.to_string(), algorithm.to_string()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_base64.trim())
            .map_err(|_| KeyError::Secret(name.to_string()))?;
        let name = Name::parse(name).map_err(|_| KeyError::Name(name.to_string()))?;
        Ok(TsigKey {
            name,
            algorithm,
            secret,
        })
    }
}

/// The keys ward knows, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyring {
    keys: HashMap<Name, TsigKey>,
}

impl Keyring {
    pub(crate) fn insert(&mut self, key: TsigKey) {
        self.keys.insert(key.name.clone(), key);
    }

    pub(crate) fn get(&self, name: &Name) -> Option<&TsigKey> {
        self.keys.get(name)
    }
}

/// The TSIG record at the end of a message.
#[derive(Debug, Clone)]
pub(crate) struct TsigRecord {
    /// Where the record starts in the message.
    start: usize,
    pub(crate) key_name: Name,
    algorithm: Name,
    time: u64,
    fudge: u16,
    mac: Vec<u8>,
    original_id: u16,
    pub(crate) error: u16,
}

/// What a request's signature says.
#[derive(Debug)]
pub(crate) enum Verified {
    /// No TSIG record.
    Unsigned,
    /// Signed with a known key and checked: answers are signed with it.
    Signed(Signed),
    /// Signed, but not acceptably: the answer is NOTAUTH with this TSIG error (and,
    /// for BADTIME, signed).
    Failed(Failure),
}

#[derive(Debug, Clone)]
pub(crate) struct Signed {
    key: TsigKey,
    request_mac: Vec<u8>,
    pub(crate) original_id: u16,
}

impl Signed {
    pub(crate) fn key_name(&self) -> &Name {
        &self.key.name
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) error: u16,
    key_name: Name,
    algorithm: Name,
    original_id: u16,
    /// BADTIME answers are signed (with the request's MAC), the others are not.
    signed_with: Option<(TsigKey, Vec<u8>)>,
}

/// Reads a DNS name at `at` (following compression pointers); the offset after it.
fn read_name(message: &[u8], mut at: usize) -> Option<(Name, usize)> {
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *message.get(at)?;
        match len {
            0 => {
                end.get_or_insert(at + 1);
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let pointer = (usize::from(l & 0x3f) << 8) | usize::from(*message.get(at + 1)?);
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 64 || pointer >= at {
                    return None;
                }
                at = pointer;
            }
            l if l & 0xc0 == 0 => {
                let label = message.get(at + 1..at + 1 + usize::from(l))?;
                labels.push(label.to_vec());
                at += 1 + usize::from(l);
            }
            _ => return None,
        }
    }
    let name = Name::from_labels(labels.iter().map(Vec::as_slice)).ok()?;
    Some((name, end?))
}

fn u16_at(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]))
}

/// Finds the TSIG record that ends `message`, if it is one.
pub(crate) fn find_tsig(message: &[u8]) -> Option<TsigRecord> {
    let counts: Vec<usize> = (0..4)
        .map(|i| u16_at(message, 4 + 2 * i).map(usize::from))
        .collect::<Option<_>>()?;
    if counts[3] == 0 {
        return None;
    }
    let mut at = 12;
    for _ in 0..counts[0] {
        at = read_name(message, at)?.1 + 4;
    }
    let records = counts[1] + counts[2] + counts[3];
    for i in 0..records {
        let start = at;
        let (owner, after) = read_name(message, at)?;
        let rr_type = u16_at(message, after)?;
        let rdlen = usize::from(u16_at(message, after + 8)?);
        let rdata = after + 10;
        at = rdata + rdlen;
        if at > message.len() {
            return None;
        }
        if i + 1 == records && rr_type == rtype::TSIG {
            if at != message.len() {
                return None;
            }
            let (algorithm, mut p) = read_name(message, rdata)?;
            let time = (u64::from(u16_at(message, p)?) << 32)
                | u64::from(u32::from_be_bytes(
                    message.get(p + 2..p + 6)?.try_into().ok()?,
                ));
            let fudge = u16_at(message, p + 6)?;
            let mac_len = usize::from(u16_at(message, p + 8)?);
            p += 10;
            let mac = message.get(p..p + mac_len)?.to_vec();
            p += mac_len;
            let original_id = u16_at(message, p)?;
            let error = u16_at(message, p + 2)?;
            return Some(TsigRecord {
                start,
                key_name: owner,
                algorithm,
                time,
                fudge,
                mac,
                original_id,
                error,
            });
        }
    }
    None
}

/// The TSIG variables (RFC 8945 §4.3.3), as the MAC covers them.
fn variables(
    key: &Name,
    algorithm: &Name,
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&canonical(key));
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&canonical(algorithm));
    out.extend_from_slice(&time_bytes(time));
    out.extend_from_slice(&fudge.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(other.len() as u16).to_be_bytes());
    out.extend_from_slice(other);
    out
}

fn canonical(name: &Name) -> Vec<u8> {
    let mut wire = name.wire().to_vec();
    wire.push(0);
    wire
}

fn time_bytes(time: u64) -> [u8; 6] {
    let bytes = time.to_be_bytes();
    [bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
}

/// The message as it was before `tsig` was added: original ID, one additional fewer.
fn unsigned_part(message: &[u8], tsig: &TsigRecord) -> Vec<u8> {
    let mut out = message[..tsig.start].to_vec();
    out[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    let additional = u16_at(message, 10).unwrap_or(1).saturating_sub(1);
    out[10..12].copy_from_slice(&additional.to_be_bytes());
    out
}

/// `message` without its TSIG record (ID as sent), to answer as if unsigned.
pub(crate) fn without_tsig(message: &[u8]) -> Option<Vec<u8>> {
    let tsig = find_tsig(message)?;
    let mut out = message.get(..tsig.start)?.to_vec();
    let additional = u16_at(message, 10)?.checked_sub(1)?;
    out[10..12].copy_from_slice(&additional.to_be_bytes());
    Some(out)
}

/// What a received message's MAC covers: the message as it was before its TSIG record
/// was added, and the TSIG variables it carries.
fn signed_parts(message: &[u8], tsig: &TsigRecord, key: &TsigKey) -> (Vec<u8>, Vec<u8>) {
    let body = unsigned_part(message, tsig);
    let vars = variables(
        &key.name,
        &tsig.algorithm,
        tsig.time,
        tsig.fudge,
        tsig.error,
        &[],
    );
    (body, vars)
}

/// Checks a request's signature against `keyring` at `now` (Unix seconds).
pub(crate) fn verify_request(keyring: &Keyring, message: &[u8], now: u64) -> Verified {
    let Some(tsig) = find_tsig(message) else {
        return Verified::Unsigned;
    };
    let failure = |error, signed_with| {
        Verified::Failed(Failure {
            error,
            key_name: tsig.key_name.clone(),
            algorithm: tsig.algorithm.clone(),
            original_id: tsig.original_id,
            signed_with,
        })
    };
    let Some(key) = keyring
        .get(&tsig.key_name)
        .filter(|key| key.algorithm.wire_name() == tsig.algorithm)
    else {
        return failure(BADKEY, None);
    };
    let (body, vars) = signed_parts(message, &tsig, key);
    let expected = key.algorithm.mac(&key.secret, &[&body, &vars]);
    if !constant_time_eq(&expected, &tsig.mac) {
        return failure(BADSIG, None);
    }
    if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
        return failure(BADTIME, Some((key.clone(), tsig.mac.clone())));
    }
    Verified::Signed(Signed {
        key: key.clone(),
        request_mac: tsig.mac,
        original_id: tsig.original_id,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Appends a TSIG record to `message` and counts it in the header.
/// The fields of a TSIG record to write.
struct Fields<'a> {
    key_name: &'a Name,
    algorithm: &'a Name,
    time: u64,
    mac: &'a [u8],
    original_id: u16,
    error: u16,
    other: &'a [u8],
}

fn append_tsig(message: &mut Vec<u8>, fields: &Fields<'_>) {
    let Fields {
        key_name,
        algorithm,
        time,
        mac,
        original_id,
        error,
        other,
    } = *fields;
    message.extend_from_slice(&canonical(key_name));
    message.extend_from_slice(&rtype::TSIG.to_be_bytes());
    message.extend_from_slice(&CLASS_ANY.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    let rdata_len = canonical(algorithm).len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    message.extend_from_slice(&(rdata_len as u16).to_be_bytes());
    message.extend_from_slice(&canonical(algorithm));
    message.extend_from_slice(&time_bytes(time));
    message.extend_from_slice(&FUDGE.to_be_bytes());
    message.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    message.extend_from_slice(mac);
    message.extend_from_slice(&original_id.to_be_bytes());
    message.extend_from_slice(&error.to_be_bytes());
    message.extend_from_slice(&(other.len() as u16).to_be_bytes());
    message.extend_from_slice(other);
    let additional = u16_at(message, 10).unwrap_or(0) + 1;
    message[10..12].copy_from_slice(&additional.to_be_bytes());
}

/// Signs the messages of one answer: the first covers the request's MAC, each later
/// one the MAC before it (a transfer of many messages).
pub(crate) struct ResponseSigner {
    signed: Signed,
    previous: Option<Vec<u8>>,
}

impl ResponseSigner {
    pub(crate) fn new(signed: Signed) -> Self {
        ResponseSigner {
            signed,
            previous: None,
        }
    }

    /// Signs `message` (complete but for its TSIG record) at `now`.
    pub(crate) fn sign(&mut self, message: &mut Vec<u8>, now: u64) {
        let key = &self.signed.key;
        let algorithm = key.algorithm.wire_name();
        let mac = match &self.previous {
            None => {
                let request = &self.signed.request_mac;
                let vars = variables(&key.name, &algorithm, now, FUDGE, 0, &[]);
                key.algorithm.mac(
                    &key.secret,
                    &[
                        &(request.len() as u16).to_be_bytes(),
                        request,
                        message,
                        &vars,
                    ],
                )
            }
            Some(previous) => {
                let mut timers = time_bytes(now).to_vec();
                timers.extend_from_slice(&FUDGE.to_be_bytes());
                key.algorithm.mac(
                    &key.secret,
                    &[
                        &(previous.len() as u16).to_be_bytes(),
                        previous,
                        message,
                        &timers,
                    ],
                )
            }
        };
        append_tsig(
            message,
            &Fields {
                key_name: &key.name,
                algorithm: &algorithm,
                time: now,
                mac: &mac,
                original_id: self.signed.original_id,
                error: 0,
                other: &[],
            },
        );
        self.previous = Some(mac);
    }
}

/// Turns `message` (a reply header and question) into the NOTAUTH answer a failed
/// signature gets (RFC 8945 §5.2): a TSIG record with the error, unsigned but for
/// BADTIME, which carries the server's time.
pub(crate) fn refuse(message: &mut Vec<u8>, failure: &Failure, now: u64) {
    if message.len() < 12 {
        return;
    }
    message[3] = (message[3] & 0xf0) | (NOTAUTH as u8 & 0x0f);
    match &failure.signed_with {
        Some((key, request_mac)) => {
            let other = time_bytes(now);
            let vars = variables(
                &key.name,
                &failure.algorithm,
                now,
                FUDGE,
                failure.error,
                &other,
            );
            let mac = key.algorithm.mac(
                &key.secret,
                &[
                    &(request_mac.len() as u16).to_be_bytes(),
                    request_mac,
                    message,
                    &vars,
                ],
            );
            append_tsig(
                message,
                &Fields {
                    key_name: &failure.key_name,
                    algorithm: &failure.algorithm,
                    time: now,
                    mac: &mac,
                    original_id: failure.original_id,
                    error: failure.error,
                    other: &other,
                },
            );
        }
        None => append_tsig(
            message,
            &Fields {
                key_name: &failure.key_name,
                algorithm: &failure.algorithm,
                time: now,
                mac: &[],
                original_id: failure.original_id,
                error: failure.error,
                other: &[],
            },
        ),
    }
}

/// Signs a request ward sends (a NOTIFY) with `key` at `now`; the MAC, to check the
/// answer with.
pub(crate) fn sign_request(message: &mut Vec<u8>, key: &TsigKey, now: u64) -> Vec<u8> {
    let algorithm = key.algorithm.wire_name();
    let original_id = u16_at(message, 0).unwrap_or(0);
    let vars = variables(&key.name, &algorithm, now, FUDGE, 0, &[]);
    let mac = key.algorithm.mac(&key.secret, &[message, &vars]);
    append_tsig(
        message,
        &Fields {
            key_name: &key.name,
            algorithm: &algorithm,
            time: now,
            mac: &mac,
            original_id,
            error: 0,
            other: &[],
        },
    );
    mac
}

/// Checks the signature of an answer to a request whose MAC was `request_mac`.
pub(crate) fn verify_answer(key: &TsigKey, message: &[u8], request_mac: &[u8]) -> bool {
    let Some(tsig) = find_tsig(message) else {
        return false;
    };
    let (body, vars) = signed_parts(message, &tsig, key);
    let expected = key.algorithm.mac(
        &key.secret,
        &[
            &(request_mac.len() as u16).to_be_bytes(),
            request_mac,
            &body,
            &vars,
        ],
    );
    tsig.error == 0 && constant_time_eq(&expected, &tsig.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(algorithm: &str) -> TsigKey {
        TsigKey::new(
            "transfer.test.",
            algorithm,
            "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ==",
        )
        .unwrap()
    }

    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x02bl\x04test\x00\x00\xfc\x00\x01");
        q
    }

    #[test]
    fn a_signed_request_verifies_and_its_answer_chain_too() {
        for algorithm in ["hmac-sha256", "hmac-sha512", "hmac-sha1"] {
            let key = key(algorithm);
            let mut keyring = Keyring::default();
            keyring.insert(key.clone());
            let mut request = query();
            let request_mac = sign_request(&mut request, &key, 1_800_000_000);
            let Verified::Signed(signed) = verify_request(&keyring, &request, 1_800_000_100) else {
                panic!("{algorithm}: the request verifies");
            };
            let mut signer = ResponseSigner::new(signed);
            let mut first = query();
            first[2] = 0x84;
            signer.sign(&mut first, 1_800_000_100);
            assert!(verify_answer(&key, &first, &request_mac), "{algorithm}");
            // A changed byte breaks it.
            let mut forged = request.clone();
            forged[13] ^= 1;
            assert!(matches!(
                verify_request(&keyring, &forged, 1_800_000_100),
                Verified::Failed(Failure { error: BADSIG, .. })
            ));
        }
    }

    #[test]
    fn unknown_keys_stale_times_and_unsigned_requests() {
        let key = key("hmac-sha256");
        let mut keyring = Keyring::default();
        keyring.insert(key.clone());
        assert!(matches!(
            verify_request(&keyring, &query(), 0),
            Verified::Unsigned
        ));
        let other = TsigKey::new("other.test.", "hmac-sha256", "c2VjcmV0").unwrap();
        let mut request = query();
        sign_request(&mut request, &other, 1_800_000_000);
        assert!(matches!(
            verify_request(&keyring, &request, 1_800_000_000),
            Verified::Failed(Failure { error: BADKEY, .. })
        ));
        let mut stale = query();
        sign_request(&mut stale, &key, 1_800_000_000);
        let Verified::Failed(failure) = verify_request(&keyring, &stale, 1_800_001_000) else {
            panic!("stale")
        };
        assert_eq!(failure.error, BADTIME);
        let mut answer = query();
        refuse(&mut answer, &failure, 1_800_001_000);
        assert_eq!(answer[3] & 0x0f, NOTAUTH as u8);
        assert_eq!(find_tsig(&answer).unwrap().error, BADTIME);
    }

    #[test]
    fn secrets_are_not_printed() {
        let shown = format!("{:?}", key("hmac-sha256"));
        assert!(!shown.contains("c2Vj"), "{shown}");
        assert!(TsigKey::new("k.", "hmac-md5", "AAAA").is_err());
        assert!(TsigKey::new("k.", "hmac-sha256", "not base64!").is_err());
    }
}
