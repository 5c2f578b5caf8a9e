//! Lists of email addresses: every query shape over real DNS, normalisation, several
//! reasons for one address, temporary listings expiring while the server runs, the
//! reason catalogue, and the shipped zones answering for every reason of the seeds.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RecordType};
use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;

const REASONS: &str = r#"
$1 https://help.test/t?q=
$REASON rate-evasion 127.0.0.8 "$ dodged the hourly limit. $1$"
$REASON marketing 127.0.0.9 "$ sent marketing mail"
"#;

const SENDERS: &str = "
Bad.Guy+x@GoogleMail.com   rate-evasion
first.last@example.com     marketing
sender1@bulk.example       rate-evasion
sender1@bulk.example       marketing
sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d marketing
";

fn server() -> TestServer {
    TestServer::with_files(&[("reasons.conf", REASONS), ("senders.test.zone", SENDERS)])
}

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn plain_address_queries() {
    let s = server();
    let reply = s.udp("sender1.bulk.example.senders.test.", RecordType::TXT);
    assert_eq!(
        txt_records(&reply),
        [
            "sender1@bulk.example dodged the hourly limit. https://help.test/t?q=sender1@bulk.example",
            "sender1@bulk.example sent marketing mail",
        ],
        "two reasons for one address: two TXT"
    );
    assert_eq!(
        a_records(&s.udp("SENDER1.Bulk.Example.senders.test.", RecordType::A)),
        ["127.0.0.8", "127.0.0.9"]
    );
    // The local part `first.last` is one label: `first\.last`.
    let dotted =
        Name::from_labels([&b"first.last"[..], b"example", b"com", b"senders", b"test"]).unwrap();
    let reply = s.udp(&dotted.to_ascii(), RecordType::A);
    assert_eq!(a_records(&reply), ["127.0.0.9"]);
    // Regression: rspamd joins strings, so the dots of the local part arrive as label
    // separators; and it normalises before the plain lookup too.
    let reply = s.udp("first.last.example.com.senders.test.", RecordType::TXT);
    assert_eq!(
        txt_records(&reply),
        ["first.last.example.com sent marketing mail"]
    );
    let reply = s.udp("badguy.gmail.com.senders.test.", RecordType::TXT);
    assert_eq!(
        txt_records(&reply),
        ["badguy@gmail.com dodged the hourly limit. https://help.test/t?q=badguy@gmail.com"]
    );
    let plus = Name::from_labels([
        &b"bad"[..],
        b"guy+x",
        b"googlemail",
        b"com",
        b"senders",
        b"test",
    ])
    .unwrap();
    let reply = s
        .exchange_udp(&query_for(plus, RecordType::A, false))
        .unwrap();
    assert_eq!(a_records(&reply), ["127.0.0.8"]);
    // An address of the same labels is another address.
    assert_eq!(
        rcode(&s.udp("first.other.example.com.senders.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
}

#[test]
fn hashed_queries_every_shape() {
    let s = server();
    let normalised = "badguy@gmail.com";
    for hex in [
        md5_hex(normalised),
        sha1_hex(normalised),
        sha256_hex(normalised)[..32].to_string(),
    ] {
        for name in [
            format!("{hex}.senders.test."),
            format!("{hex}._email.senders.test."),
            format!("{}.senders.test.", hex.to_uppercase()),
            format!("{}._EMAIL.senders.test.", hex.to_uppercase()),
        ] {
            assert_eq!(
                a_records(&s.udp(&name, RecordType::A)),
                ["127.0.0.8"],
                "{name}"
            );
            assert_eq!(
                a_records(&s.tcp(&name, RecordType::A)),
                ["127.0.0.8"],
                "{name}"
            );
        }
    }
    // A sha256 cut anywhere from 32 to 63 hex digits (rspamd `hash_len`).
    let sha256 = sha256_hex(normalised);
    assert_eq!(
        a_records(&s.udp(&format!("{}.senders.test.", &sha256[..63]), RecordType::A)),
        ["127.0.0.8"]
    );
    // `$` in a hashed answer is the hash: hashing is there so the address is not shown.
    let sha1 = sha1_hex(normalised);
    let txt = txt_records(&s.udp(&format!("{sha1}._email.senders.test."), RecordType::TXT));
    assert_eq!(
        txt,
        [format!(
            "{sha1} dodged the hourly limit. https://help.test/t?q={sha1}"
        )]
    );
    // A pre-hashed entry (sha1 of "hello").
    assert_eq!(
        a_records(&s.udp(
            &format!("{}.senders.test.", sha1_hex("hello")),
            RecordType::A
        )),
        ["127.0.0.9"]
    );
    // Hashes of the address as written (Exim hashes without normalising) match too.
    let raw = "bad.guy+x@googlemail.com";
    assert_eq!(
        a_records(&s.udp(&format!("{}.senders.test.", sha1_hex(raw)), RecordType::A)),
        ["127.0.0.8"]
    );
    let exim = sha1_hex(raw).to_uppercase();
    assert_eq!(
        a_records(&s.udp(&format!("{exim}.senders.test."), RecordType::A)),
        ["127.0.0.8"]
    );
    // Unknown digests, and hex of the wrong length, are not listed.
    for name in [
        format!("{}.senders.test.", sha1_hex("nobody@example.com")),
        format!("{}.senders.test.", &sha1_hex(normalised)[..38]),
        "zz.senders.test.".to_string(),
    ] {
        assert_eq!(
            rcode(&s.udp(&name, RecordType::A)),
            ResponseCode::NXDomain,
            "{name}"
        );
    }
}

#[test]
fn normalisation_vectors() {
    use ward::normalise;
    for (input, expected) in [
        ("Bad.Guy+x@GoogleMail.com", "badguy@gmail.com"),
        ("badguy@gmail.com", "badguy@gmail.com"),
        ("b.a.d.g.u.y@gmail.com", "badguy@gmail.com"),
        ("User+tag+more@Example.ORG", "user@example.org"),
        ("first.last@example.org", "first.last@example.org"),
    ] {
        assert_eq!(normalise(input).as_deref(), Some(expected), "{input}");
    }
}

#[test]
fn normalisation_can_be_switched_off_per_zone() {
    let s = TestServer::with_files_and(
        &[("reasons.conf", REASONS), ("senders.test.zone", SENDERS)],
        &[],
        "[zone.\"senders.test\"]\nnormalise_addresses = false\n",
    );
    let normalised = format!("{}.senders.test.", sha1_hex("badguy@gmail.com"));
    assert_eq!(
        rcode(&s.udp(&normalised, RecordType::A)),
        ResponseCode::NXDomain
    );
    let as_written = format!("{}.senders.test.", sha1_hex("bad.guy+x@googlemail.com"));
    assert_eq!(a_records(&s.udp(&as_written, RecordType::A)), ["127.0.0.8"]);
}

#[test]
fn listings_expire_while_the_server_runs() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // RFC 3339 of `now + 2` seconds.
    let expires = {
        let at = now + 2;
        let days = at.div_euclid(86400);
        let secs = at.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    };
    let zone = format!(
        "temp@bulk.example :127.0.0.8:temporary expires={expires}\nkeep@bulk.example :127.0.0.9:permanent\n192.0.2.1 :2:temporary ip expires={expires}\n"
    );
    let s = TestServer::with_files(&[("exp.test.zone", &zone)]);
    assert_eq!(
        a_records(&s.udp("temp.bulk.example.exp.test.", RecordType::A)),
        ["127.0.0.8"]
    );
    assert_eq!(
        a_records(&s.udp(&ip4_name("192.0.2.1", "exp.test"), RecordType::A)),
        ["127.0.0.2"]
    );
    let hashed = format!("{}.exp.test.", sha1_hex("temp@bulk.example"));
    assert_eq!(a_records(&s.udp(&hashed, RecordType::A)), ["127.0.0.8"]);
    // Wait past the expiry; nothing reloads in this test (no watcher runs here).
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        <= now + 2
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in [
        "temp.bulk.example.exp.test.".to_string(),
        hashed,
        ip4_name("192.0.2.1", "exp.test"),
    ] {
        assert_eq!(
            rcode(&s.udp(&name, RecordType::A)),
            ResponseCode::NXDomain,
            "{name}"
        );
        assert_eq!(
            rcode(&s.tcp(&name, RecordType::TXT)),
            ResponseCode::NXDomain,
            "{name}"
        );
    }
    assert_eq!(
        a_records(&s.udp("keep.bulk.example.exp.test.", RecordType::A)),
        ["127.0.0.9"]
    );
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn catalogue_errors_point_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path();
    std::fs::write(
        zones.join("reasons.conf"),
        "$REASON good 127.0.0.4 \"fine\"\n$REASON bad 127.0.0.1 \"reserved\"\n$REASON twin 127.0.0.4 \"same code\"\nnonsense\n",
    )
    .unwrap();
    std::fs::write(
        zones.join("z.test.zone"),
        "$REASON local 127.0.0.7 \"local\"\n192.0.2.1 local\n192.0.2.2 good\n192.0.2.3 missing\n",
    )
    .unwrap();
    let loader = ward::Loader {
        dir: zones.to_path_buf(),
        options: Default::default(),
        lenient: false,
    };
    let load = loader.load_all().unwrap();
    let errors: Vec<String> = load.errors().map(|e| e.to_string()).collect();
    let file = |name: &str| zones.join(name).display().to_string();
    assert_eq!(
        errors,
        [
            format!(
                "{}:2:13: expected a return code in 127.0.0.0/8 such as 127.0.0.4 (127.0.0.1 is reserved by RFC 5782)",
                file("reasons.conf")
            ),
            format!(
                "{}:3:9: return code 127.0.0.4 is already used by reason `good`: each reason needs its own code so filters can tell them apart",
                file("reasons.conf")
            ),
            format!(
                "{}:4:1: expected `$REASON name code \"text\"` or a variable `$0`…`$9 text`",
                file("reasons.conf")
            ),
            format!(
                "{}:4:11: unknown reason `missing`: expected one of good, local, twin",
                file("z.test.zone")
            ),
        ]
    );
}

#[test]
fn shipped_zones_answer_for_every_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let catalogue = std::fs::read_to_string(root.join("reasons.conf")).unwrap();
    let reasons: Vec<(String, String)> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("$REASON "))
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap().to_string(),
                words.next().unwrap().to_string(),
            )
        })
        .collect();
    assert!(reasons.len() >= 19, "{reasons:?}");
    let s = TestServer::shipped();
    let mut answered = BTreeSet::new();
    for zone in [
        "senders.block.example",
        "recipients.block.example",
        "domains.block.example",
    ] {
        let text = std::fs::read_to_string(root.join(format!("{zone}.zone"))).unwrap();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('$'))
        {
            let mut words = line.split_whitespace();
            let (Some(key), Some(reason)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((_, code)) = reasons.iter().find(|(name, _)| name == reason) else {
                panic!("{zone}: {line}: unknown reason");
            };
            let name = match key.split_once('@') {
                Some((local, domain)) => Name::from_labels([local.as_bytes()])
                    .unwrap()
                    .append_domain(&Name::from_ascii(format!("{domain}.{zone}.")).unwrap())
                    .unwrap()
                    .to_ascii(),
                None => format!("{key}.{zone}."),
            };
            let reply = s.udp(&name, RecordType::A);
            assert_eq!(a_records(&reply), std::slice::from_ref(code), "{name}");
            let txt = txt_records(&s.udp(&name, RecordType::TXT));
            assert_eq!(txt.len(), 1, "{name}");
            assert!(
                txt[0].len() <= 255,
                "{name}: one string, for Exim: {}",
                txt[0]
            );
            answered.insert(reason.to_string());
        }
    }
    for ip in ["203.0.113.7", "203.0.113.70", "198.51.100.12"] {
        let reply = s.udp(&ip4_name(ip, "ips.block.example"), RecordType::A);
        let code = &a_records(&reply)[0];
        answered.insert(reasons.iter().find(|(_, c)| c == code).unwrap().0.clone());
    }
    let all: BTreeSet<String> = reasons.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        answered, all,
        "every reason in the catalogue has a shipped example"
    );
}
