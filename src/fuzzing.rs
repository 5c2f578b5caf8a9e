//! The bodies of the fuzz targets: arbitrary bytes in, and what must hold for any input
//! checked with assertions (a failed one is a crash the fuzzer keeps). `fuzz/` drives
//! them with cargo-fuzz (nightly); `tests/fuzz_corpus.rs` replays the checked-in corpus
//! and every crash ever found through them on stable, so `cargo test` keeps them fixed.
//! Not part of ward's interface.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use hickory_server::proto::op::{Message, MessageType};

use crate::config::FileConfig;
use crate::dns::batch::{BatchAnswerer, Datagram};
use crate::dns::fallback::DnsSettings;
use crate::dns::query::{self, Parsed, Query};
use crate::dns::transfers::TransferService;
use crate::dns::tsig::TsigKey;
use crate::load::files::{contents_text, parse_contents};
use crate::load::{LoadOptions, Loader};
use crate::store::Store;
use crate::xfr::{TransferConfig, Transfers, ZoneTransfer};
use crate::zone::DatasetKind;
use crate::zone::name::Name;
use crate::zone::parse::ParseOptions;
use crate::zone::parse::catalogue::parse_catalogue;
use crate::zone::reason::Catalogue;

/// The reason catalogue of the fuzz zones and of every `.zone` input: the names the
/// shipped zones and the tests use, so that seeds taken from them parse.
const REASONS: &str = concat!(
    "$1 https://help.example/?q=$\n",
    "$REASON spam 127.0.0.2 \"Spam from $; see $1\"\n",
    "$REASON hacked 127.0.0.3 \"Hacked\"\n",
    "$REASON spam-source 127.0.0.10 \"$ sent spam. $1$\"\n",
    "$REASON compromised-host 127.0.0.11 \"$ looks hacked\"\n",
    "$REASON compromised-form 127.0.0.12 \"A web form at $\"\n",
    "$REASON abusive-panel 127.0.0.13 \"panel\"\n",
    "$REASON cron-noise 127.0.0.14 \"cron\"\n",
    "$REASON invalid-recipients 127.0.0.15 \"$ mailed many addresses\"\n",
    "$REASON rate-evasion 127.0.0.16 \"$ dodged the hourly limit. $1$\"\n",
    "$REASON marketing 127.0.0.17 \"marketing\"\n",
    "$REASON missing-spf 127.0.0.18 \"spf\"\n",
    "$REASON spoofed-domain 127.0.0.19 \"spoofed\"\n",
    "$REASON invalid-sender 127.0.0.20 \"$ cannot receive bounces\"\n",
    "$REASON policy-violation 127.0.0.21 \"policy\"\n",
    "$REASON sms-gateway 127.0.0.22 \"sms\"\n",
    "$REASON unwanted-recipient 127.0.0.23 \"unwanted\"\n",
    "$REASON trap-hit 127.0.0.24 \"trap\"\n",
    "$REASON local 127.0.0.25 \"local\"\n",
);

/// [`REASONS`], parsed once.
fn catalogue_of_reasons() -> Arc<Catalogue> {
    static CATALOGUE: OnceLock<Arc<Catalogue>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            let (catalogue, diagnostics) =
                parse_catalogue(REASONS.as_bytes(), Path::new("reasons.conf").into());
            assert!(diagnostics.is_clean(), "fuzz reasons: {diagnostics:?}");
            Arc::new(catalogue)
        })
        .clone()
}

/// Zones with every kind of data, the test points, an ACL and a zone under another,
/// so that random queries reach every answer shape.
const ZONES: &[(&str, &str)] = &[
    ("reasons.conf", REASONS),
    (
        "mixed.test.zone",
        "$SOA 3600 ns1.mixed.test. hostmaster.mixed.test. 0 600 300 86400 60\n$NS 3600 ns1.mixed.test.\n$TTL 300\n192.0.2.1 spam\n192.0.2.0/24 hacked\n!192.0.2.7\n198.51.100.10-198.51.100.20 :127.0.0.4:range $\n2001:db8::/32 spam\n2001:db8::1 hacked expires=2099-01-01\nspam.example spam\n*.wild.example hacked\n.both.example :5:both\n!ok.wild.example\nuser@mail.example spam\nfirst.last+tag@gmail.com hacked\nsha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d spam\n",
    ),
    (
        "rbl.test/a.ip4set",
        ":127.0.0.2:Listed $\n10.0.0.0/8\n!10.1.1.1\n10.2.3.4 :3:own\n172.16-31\n",
    ),
    (
        "rbl.test/b.ip6trie",
        "2001:db8:1::/48 :2:v6 $\n::ffff:10.9.9.9 :4:\n",
    ),
    (
        "rbl.test/c.dnset",
        ":2:name $\n.spam.test\n!ok.spam.test\n*.deep.test\n",
    ),
    (
        "rbl.test/d.generic",
        "@ TXT \"apex text\"\nwww A 192.0.2.99\nmx MX 10 mail.rbl.test\n",
    ),
    (
        "combo.test.combined",
        "$TTL 60\n$DATASET ip4set ip @\n:2:combined\n192.0.2.0/25\n$DATASET dnset:names dn sub.dn\nexample.org :3:named\n",
    ),
    ("sub.rbl.test.zone", "192.0.2.2 :6:sub\n"),
    ("acl.test/list.ip4set", "192.0.2.3 :2:acl\n"),
    (
        "acl.test/clients.acl",
        "127.0.0.2 :refuse\n127.0.0.3 :ignore\n127.0.0.4 :empty\n127.0.0.5 :127.255.255.254:not here\n",
    ),
];

fn snapshot() -> &'static Arc<Store> {
    static STORE: OnceLock<Arc<Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ward-fuzz-zones-{}", std::process::id()));
        for (path, text) in ZONES {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(&path, text);
        }
        let loader = Loader {
            dir: dir.clone(),
            // Whole digests, as ward keeps them when zones are transferred.
            options: LoadOptions {
                for_export: true,
                ..LoadOptions::default()
            },
            lenient: false,
        };
        let snapshot = match loader.load_all() {
            Ok(mut load) => {
                let errors: Vec<String> = load.errors().map(ToString::to_string).collect();
                assert!(errors.is_empty(), "fuzz zones: {errors:?}");
                load.take_snapshot()
            }
            Err(error) => panic!("fuzz zones: {error}"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        Arc::new(Store::new(snapshot))
    })
}

/// The TSIG key of the fuzz zones' transfers (its secret is in the seeds' generator).
pub(crate) const FUZZ_KEY: (&str, &str) =
    ("fuzz.key", "ZnV6ei1rZXktZm9yLXRoZS10c2lnLXBhdGhzLTAxMjM=");

/// The answer paths' settings with zone transfers on, so that transfer requests, TSIG
/// records and IXFR over UDP reach the code that reads them: `mixed.test` for anyone on
/// 127.0.0.0/8, `rbl.test` only signed with [`FUZZ_KEY`].
fn dns_settings() -> DnsSettings {
    static TRANSFERS: OnceLock<Option<Arc<Transfers>>> = OnceLock::new();
    let transfers = TRANSFERS.get_or_init(|| {
        let key = TsigKey::new(FUZZ_KEY.0, "hmac-sha256", FUZZ_KEY.1).ok()?;
        let mut config = TransferConfig::default();
        config.keys.insert(key);
        let open = ZoneTransfer {
            allow: vec!["127.0.0.0/8".parse().ok()?],
            key: None,
            notify: Vec::new(),
        };
        let keyed = ZoneTransfer {
            allow: Vec::new(),
            key: Some(Name::parse(FUZZ_KEY.0).ok()?),
            notify: Vec::new(),
        };
        config.zones.insert(Name::parse("mixed.test").ok()?, open);
        config.zones.insert(Name::parse("rbl.test").ok()?, keyed);
        Some(Arc::new(Transfers::new(config)))
    });
    DnsSettings {
        transfers: transfers
            .clone()
            .map(|t| Arc::new(t) as Arc<dyn TransferService>),
        ..DnsSettings::default()
    }
}

/// `data` with the RDATA of its OPT record (the EDNS options) emptied.
fn without_edns_options(data: &[u8], query: &Query) -> Option<Vec<u8>> {
    // The OPT record after the question: root name, TYPE, CLASS, TTL, RDLENGTH.
    let rdlength_at = query.question_end + 1 + 2 + 2 + 4;
    query.edns?;
    let mut out = data.get(..rdlength_at)?.to_vec();
    out.extend_from_slice(&[0, 0]);
    Some(out)
}

/// The hot path's parser: never panics, and what it accepts is a well-formed query.
/// EDNS options must be whole (code, length, data), but their contents are not read:
/// ward implements none, and RFC 6891 §6.1.2 says options not understood are ignored,
/// where hickory reads some (a client subnet of an unknown family is an error to it).
pub fn query_parse(data: &[u8]) {
    let mut query = Query::default();
    if query::parse(data, &mut query) == Parsed::Query {
        assert!(query.question_end <= data.len());
        assert!(query.question.name.view().wire().len() <= crate::zone::name::MAX_NAME_WIRE);
        let read = Message::from_vec(data).or_else(|error| {
            without_edns_options(data, &query)
                .and_then(|plain| Message::from_vec(&plain).ok())
                .ok_or(error)
        });
        let hickory = match read {
            Ok(hickory) => hickory,
            Err(error) => panic!("what the hot path takes, hickory reads: {error:?}"),
        };
        assert_eq!(hickory.queries.len(), 1);
        assert_eq!(
            u16::from(hickory.queries[0].query_type()),
            query.question.qtype
        );
    }
}

/// A datagram through the whole UDP answer path: the first byte picks the sender
/// (127.0.0.1-5: the ACL's clients), the rest is the packet. A reply, if any, is a
/// response hickory reads, with the query's id and (when the query was readable) its
/// question.
pub fn udp_answer(data: &[u8]) {
    let Some((&who, packet)) = data.split_first() else {
        return;
    };
    let peer = SocketAddr::from(([127, 0, 0, 1 + who % 5], 40000));
    let store = snapshot();
    let snapshot = store.load();
    let mut answerer = BatchAnswerer::new(dns_settings());
    // Twice in one batch: the second must get the same reply (no state leaks).
    let datagrams = [
        Datagram {
            bytes: Some(packet),
            peer,
        },
        Datagram {
            bytes: Some(packet),
            peer,
        },
    ];
    answerer.answer(&snapshot, &datagrams, 1_800_000_000);
    assert_eq!(answerer.failures(), 0, "a query hit an internal error");
    let ready = answerer.ready().to_vec();
    assert!(ready.is_empty() || ready == [0, 1], "{ready:?}");
    if ready.is_empty() {
        return;
    }
    let replies = answerer.replies();
    assert_eq!(replies[0], replies[1]);
    check_reply(packet, &replies[0], 1232);
}

/// What every reply to `request` must be.
fn check_reply(request: &[u8], reply: &[u8], limit: usize) {
    assert!(reply.len() <= limit.max(512), "{} bytes", reply.len());
    let response = Message::from_vec(reply).expect("every reply parses");
    assert_eq!(response.metadata.message_type, MessageType::Response);
    assert_eq!(&reply[..2], &request[..2], "the id is echoed");
    if let Ok(query) = Message::from_vec(request)
        && response.queries.len() == 1
    {
        assert_eq!(response.queries, query.queries, "the question is echoed");
    }
}

/// A TCP byte stream through the connection handler: every reply it writes is framed
/// and parses.
pub fn tcp_stream(data: &[u8]) {
    // One runtime per thread, not per input: building one costs far more than a
    // stream. Nothing outlives `replay_stream` (it joins its two halves), so no input
    // leaves tasks or timers behind for the next.
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .ok();
    }
    let store = snapshot().clone();
    let Some(out) = RUNTIME.with(|runtime| {
        runtime.as_ref().map(|runtime| {
            runtime.block_on(crate::dns::tcp::replay_stream(store, dns_settings(), data))
        })
    }) else {
        return;
    };
    let mut rest = &out[..];
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        assert!(rest.len() >= 2 + len, "a reply frame is cut short");
        let reply = &rest[2..2 + len];
        let response = Message::from_vec(reply).expect("every TCP reply parses");
        assert_eq!(response.metadata.message_type, MessageType::Response);
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes after the last frame");
}

const KINDS: [DatasetKind; 12] = [
    DatasetKind::Ward,
    DatasetKind::Ip4Set,
    DatasetKind::Ip4Tset,
    DatasetKind::Ip4Trie,
    DatasetKind::Ip6Tset,
    DatasetKind::Ip6Trie,
    DatasetKind::Dnset,
    DatasetKind::Combined,
    DatasetKind::Generic,
    DatasetKind::Acl,
    DatasetKind::Dnhash,
    DatasetKind::Aclkey,
];

/// A data file of any kind (the first byte picks it), plain or gzip: parse errors are
/// fine, panics are not, and every error points at a line that exists.
pub fn zone_file(data: &[u8]) {
    let Some((&which, contents)) = data.split_first() else {
        return;
    };
    parse_and_check(which, contents);
}

/// A gzip data file, whatever the input: every input goes through the loader's gzip
/// branch. The first byte picks the kind as in [`zone_file`]; the second how the rest
/// becomes the file:
/// - bit 0 clear: the gzip magic, then the rest as is (a damaged or hostile file:
///   header flags, deflate blocks, trailer, members, all from the fuzzer);
/// - bit 0 set: the rest, compressed — as two gzip members when bits 1–6 are not
///   zero (the first member takes that many 64ths of it), with the last `cut` bytes
///   (the third byte) dropped (a file cut short while it was written).
pub fn gzip_file(data: &[u8]) {
    let [which, mode, cut, rest @ ..] = data else {
        return;
    };
    let file = if mode & 1 == 0 {
        let mut file = GZIP_MAGIC.to_vec();
        file.extend_from_slice(rest);
        file
    } else {
        let mut file = match usize::from((mode >> 1) & 0x3f) {
            0 => gzip(rest),
            sixty_fourths => {
                let (first, second) = rest.split_at(rest.len() * sixty_fourths / 64);
                let mut file = gzip(first);
                file.extend(gzip(second));
                file
            }
        };
        file.truncate(file.len().saturating_sub(usize::from(*cut)));
        file
    };
    parse_and_check(*which, &file);
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One gzip member holding `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// Parses `contents` as the loader would a file of the kind `which` picks, and checks
/// that every diagnostic points at a line the (gunzipped) text has.
fn parse_and_check(which: u8, contents: &[u8]) {
    let kind = KINDS[usize::from(which) % KINDS.len()];
    let options = ParseOptions {
        now: 1_800_000_000,
        catalogue: catalogue_of_reasons(),
        keep_entries: which & 0x80 != 0,
        ..ParseOptions::default()
    };
    let text = contents_text(contents);
    let parsed = parse_contents(contents, Path::new("fuzz.data"), kind, &options);
    // A read error mid-file is reported at the line it cut, one past the last whole one.
    let lines = text.split(|&c| c == b'\n').count() as u32;
    for diagnostic in parsed
        .diagnostics
        .errors
        .iter()
        .chain(&parsed.diagnostics.warnings)
    {
        assert!(
            diagnostic.line <= lines,
            "{diagnostic} (the file has {lines} lines)"
        );
    }
}

/// `reasons.conf`: errors, never panics.
pub fn catalogue(data: &[u8]) {
    let (catalogue, diagnostics) = parse_catalogue(data, Path::new("reasons.conf").into());
    for reason in catalogue.iter() {
        assert!(reason.text.len() <= crate::zone::reason::MAX_TEMPLATE);
    }
    let _ = diagnostics;
}

/// `ward.toml`: errors with a position, never panics.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FileConfig::parse(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reply to a seed of `udp_answer` (its first byte is the sender).
    fn udp_reply(seed: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/udp_answer")
            .join(seed);
        let data = std::fs::read(&path).expect("the seed exists (python3 fuzz/seeds.py)");
        let store = snapshot();
        let mut answerer = BatchAnswerer::new(dns_settings());
        let datagram = Datagram {
            bytes: Some(&data[1..]),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        };
        answerer.answer(&store.load(), &[datagram], 1_800_000_000);
        assert_eq!(answerer.ready(), [0], "{seed} is answered");
        answerer.replies()[0].clone()
    }

    /// The seeds reach the transfer paths they are meant for: the signed ones verify
    /// (fuzz/seeds.py signs as ward checks) and an IXFR over UDP gets the SOA.
    #[test]
    fn transfer_seeds_reach_their_paths() {
        let raw = udp_reply("xfr-soa-signed");
        let signed = Message::from_vec(&raw).unwrap();
        assert_eq!(u16::from(signed.metadata.response_code), 0);
        // The reply ends in a TSIG of the same key (TYPE 250, CLASS ANY), error 0.
        let tsig_owner = b"\x04fuzz\x03key\x00\x00\xfa\x00\xff";
        assert!(
            raw.windows(tsig_owner.len()).any(|w| w == tsig_owner),
            "signed back"
        );
        assert_eq!(raw[raw.len() - 4..raw.len() - 2], [0, 0], "TSIG error 0");
        let wrong = Message::from_vec(&udp_reply("xfr-axfr-wrong-key")).unwrap();
        assert_eq!(u16::from(wrong.metadata.response_code), 9, "NOTAUTH");
        let ixfr = Message::from_vec(&udp_reply("xfr-ixfr-old-edns")).unwrap();
        assert_eq!(ixfr.answers.len(), 1);
        assert_eq!(
            u16::from(ixfr.answers[0].record_type()),
            crate::dns::answer::rtype::SOA
        );
        let keyed = Message::from_vec(&udp_reply("xfr-ixfr-keyed-unsigned")).unwrap();
        assert_eq!(u16::from(keyed.metadata.response_code), 5, "REFUSED");
    }
}
