//! The export answers as ward does: a small standard authoritative server (RFC 1034
//! §4.3.2 with RFC 4592's closest encloser) answers from the exported records, and
//! every query must get ward's rcode, A records and TXT texts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::*;
use crate::dns::answer::{RData, Txt, rcode, render_txt, resolve};
use crate::dns::query::Question;
use crate::load::test_snapshot_with;
use crate::store::Snapshot;
use crate::zone::name::NameBuf;

const NOW: i64 = 1_800_000_000;

/// A standard authoritative server over a record set: names that exist (owners and
/// their ancestors), and the records by owner.
struct Standard<'r> {
    owners: BTreeMap<&'r Name, Vec<&'r Rr>>,
    existing: std::collections::HashSet<Name>,
}

impl<'r> Standard<'r> {
    fn new(records: &'r [Rr]) -> Self {
        let mut owners: BTreeMap<&Name, Vec<&Rr>> = BTreeMap::new();
        let mut existing = std::collections::HashSet::new();
        for rr in records {
            owners.entry(&rr.owner).or_default().push(rr);
            let mut name = Some(rr.owner.clone());
            while let Some(n) = name {
                if !existing.insert(n.clone()) {
                    break;
                }
                name = n.parent();
            }
        }
        Standard { owners, existing }
    }

    /// The answer for `qname` (relative to the apex), type A or TXT.
    fn answer(&self, qname: &Name, qtype: u16) -> Answer {
        let data = |rrs: &[&Rr]| -> (u16, BTreeSet<Vec<u8>>, Option<u32>) {
            let rrset: Vec<&&Rr> = rrs.iter().filter(|rr| rr.data.rtype() == qtype).collect();
            let ttls: BTreeSet<u32> = rrset.iter().map(|rr| rr.ttl).collect();
            assert!(ttls.len() <= 1, "an RRset with several TTLs: {rrset:?}");
            let data = rrset
                .iter()
                .map(|rr| match &rr.data {
                    Rdata::A(a) => a.to_vec(),
                    Rdata::Txt(t) => t.clone(),
                    _ => Vec::new(),
                })
                .collect();
            (rcode::NOERROR, data, ttls.first().copied())
        };
        if let Some(rrs) = self.owners.get(qname) {
            return data(rrs);
        }
        if self.existing.contains(qname) {
            return (rcode::NOERROR, BTreeSet::new(), None);
        }
        // The closest encloser and its wildcard.
        let mut encloser = qname.parent();
        while let Some(name) = encloser {
            if name.is_root() || self.existing.contains(&name) {
                let wildcard = Name::from_labels([&b"*"[..]]).unwrap().join(&name).unwrap();
                return match self.owners.get(&wildcard) {
                    Some(rrs) => data(rrs),
                    None => (rcode::NXDOMAIN, BTreeSet::new(), None),
                };
            }
            encloser = name.parent();
        }
        (rcode::NXDOMAIN, BTreeSet::new(), None)
    }
}

/// An answer as compared: rcode, the A addresses or TXT texts, the RRset's TTL.
type Answer = (u16, BTreeSet<Vec<u8>>, Option<u32>);

fn standard(records: &[Rr], qname: &Name, qtype: u16) -> Answer {
    Standard::new(records).answer(qname, qtype)
}

/// What ward answers: rcode, the A addresses or TXT texts, and their TTL.
fn ward(snapshot: &Snapshot, zone: &str, qname: &Name, qtype: u16) -> Answer {
    let full = qname.join(&Name::parse(zone).unwrap()).unwrap();
    let question = Question {
        name: NameBuf::from_name(&full),
        qtype,
        qclass: 1,
    };
    let answer = resolve(snapshot, &question, IpAddr::from([127, 0, 0, 1]), NOW);
    let view = question.name.view();
    let rrset: Vec<_> = answer
        .answers
        .iter()
        .filter(|rr| rr.data.rtype() == qtype)
        .collect();
    let ttls: BTreeSet<u32> = rrset.iter().map(|rr| rr.ttl).collect();
    assert!(ttls.len() <= 1, "ward answered an RRset with several TTLs");
    let data = rrset
        .iter()
        .map(|rr| match rr.data {
            RData::A(a) => a.to_vec(),
            RData::Txt(txt) => {
                let mut text = Vec::new();
                render_txt(&txt, view, &mut text);
                text
            }
            _ => Vec::new(),
        })
        .collect();
    (answer.rcode, data, ttls.first().copied())
}

fn exported(snapshot: &Snapshot) -> Vec<Rr> {
    let zone = &snapshot.zones()[0];
    let records: Vec<Rr> = records(zone, NOW).collect();
    // The order is the fixed one, every record once.
    for pair in records.windows(2) {
        assert_eq!(
            record_order(&pair[0], &pair[1]),
            Ordering::Less,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    records
}

fn compare(
    files: &[(&str, &str)],
    zone: &str,
    queries: &[String],
    allow_placeholder: bool,
) -> usize {
    let exported = test_snapshot_with(files, true);
    same_answers_with_fingerprints(&exported, files, zone, queries);
    compare_in(&exported, zone, queries, allow_placeholder)
}

/// A server that transfers no zone keeps listed addresses as fingerprints of their
/// names: it must answer every query as one that keeps them whole.
fn same_answers_with_fingerprints(
    whole: &Snapshot,
    files: &[(&str, &str)],
    zone: &str,
    queries: &[String],
) {
    let fingerprinted = test_snapshot_with(files, false);
    for query in queries {
        let qname = Name::parse(query).unwrap();
        for qtype in [1u16, 16] {
            assert_eq!(
                ward(whole, zone, &qname, qtype),
                ward(&fingerprinted, zone, &qname, qtype),
                "{query} type {qtype}"
            );
        }
    }
}

/// `files` loaded as `ward serve` loads them, RFC 5782 test points included.
fn with_test_points(files: &[(&str, &str)]) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let loader = crate::load::Loader {
        dir: dir.path().to_path_buf(),
        options: crate::load::LoadOptions::default(),
        lenient: false,
    };
    loader.load_all().unwrap().take_snapshot()
}

fn compare_in(
    snapshot: &Snapshot,
    zone: &str,
    queries: &[String],
    allow_placeholder: bool,
) -> usize {
    let records = exported(snapshot);
    let server = Standard::new(&records);
    let mut compared = 0;
    for query in queries {
        let qname = Name::parse(query).unwrap();
        for qtype in [1u16, 16] {
            let theirs = server.answer(&qname, qtype);
            let ours = ward(snapshot, zone, &qname, qtype);
            let placeholder = records
                .iter()
                .any(|rr| rr.owner == qname && rr.data == Rdata::Placeholder);
            // An excluded name under a listing wildcard exists on a secondary (NODATA
            // where ward says NXDOMAIN): both mean "not listed" to every client.
            let not_listed_both = ours.1.is_empty() && theirs.1.is_empty();
            if allow_placeholder && (placeholder || not_listed_both) {
                assert!(not_listed_both, "{query}: {ours:?} {theirs:?}");
                continue;
            }
            assert_eq!(theirs, ours, "{query} type {qtype}; records: {records:#?}");
            compared += 1;
        }
    }
    compared
}

fn ip4_queries(nets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for net in nets {
        let net: ipnet::Ipv4Net = net.parse().unwrap();
        let first = u32::from(net.network());
        let last = u32::from(net.broadcast());
        for addr in [
            first.wrapping_sub(1),
            first,
            first + 1,
            first + (last - first) / 2,
            last.wrapping_sub(1),
            last,
            last.wrapping_add(1),
        ] {
            // Whole addresses: a name that is only part of one (`0.113.Z`) is an empty
            // non-terminal to ward and may match a wildcard on a secondary (documented).
            let o = addr.to_be_bytes();
            out.push(format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0]));
        }
    }
    out
}

#[test]
fn ipv4_ranges_exclusions_and_nested_entries() {
    let data = ":2:listed\n10.0.0.0/8\n!10.1.0.0/16\n10.1.2.0/24 :3:inner\n10.1.2.3 :4:single\n\
                10.200.0.0/16 :5:sixteen\n!10.200.7.7\n192.0.2.16/28 :6:twentyeight\n\
                198.51.100.10-198.51.100.20 :7:range\n172.16.0.0/12 :8:twelve\n";
    let nets = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/32",
        "10.200.0.0/16",
        "10.200.7.7/32",
        "192.0.2.16/28",
        "198.51.100.10/32",
        "198.51.100.20/32",
        "172.16.0.0/12",
        "172.31.255.0/24",
    ];
    let compared = compare(
        &[("ex.test.ip4set", data)],
        "ex.test",
        &ip4_queries(&nets),
        false,
    );
    assert!(compared > 100, "{compared}");
}

#[test]
fn several_datasets_answer_together() {
    let files = [
        ("ex.test/a.ip4set", ":2:a\n10.0.0.0/16\n"),
        ("ex.test/b.ip4set", ":3:b\n10.0.5.5\n10.0.0.0/24\n"),
        ("ex.test/c.zone", "10.0.7.0/24 :4:c\n"),
    ];
    let nets = ["10.0.0.0/16", "10.0.0.0/24", "10.0.5.5/32", "10.0.7.0/24"];
    compare(&files, "ex.test", &ip4_queries(&nets), false);
}

#[test]
fn ipv6_prefixes() {
    let data = ":2:v6\n2001:db8:1::/48\n!2001:db8:1:5::/64\n2001:db8:1:5::9/128 :3:nine\n2001:db8:ff00::/40 :4:forty\n";
    let mut queries = Vec::new();
    for addr in [
        "2001:db8:1::1",
        "2001:db8:1:4:ffff::1",
        "2001:db8:1:5::1",
        "2001:db8:1:5::9",
        "2001:db8:2::1",
        "2001:db8:ff12::7",
        "2001:db8:ff00::",
        "2001:db8:feff::1",
    ] {
        let value = u128::from(addr.parse::<std::net::Ipv6Addr>().unwrap());
        let nibbles: Vec<String> = (0..32)
            .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
            .collect();
        queries.push(nibbles.join("."));
    }
    compare(&[("v6.test.ip6trie", data)], "v6.test", &queries, false);
}

#[test]
fn names_wildcards_and_exclusions() {
    let data = ":2:listed\nspam.example\n*.wild.example\n.both.example :3:both\n!ok.wild.example\n\
                !*.y.wild.example\nx.y.wild.example :4:deep\nz.a.wild.example :5:z\nsub.spam.example :6:sub\n";
    let queries: Vec<String> = [
        "spam.example",
        "a.spam.example",
        "sub.spam.example",
        "example",
        "wild.example",
        "a.wild.example",
        "b.a.wild.example",
        "z.a.wild.example",
        "q.z.a.wild.example",
        "ok.wild.example",
        "a.ok.wild.example",
        "y.wild.example",
        "q.y.wild.example",
        "x.y.wild.example",
        "both.example",
        "x.both.example",
        "other.test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    compare(&[("dn.test.dnset", data)], "dn.test", &queries, true);
}

#[test]
fn addresses_plain_and_hashed() {
    let snapshot_files = [(
        "ad.test.zone",
        "sender1@bulk.example :8:rate\nfirst.last@example.org :9:x\n",
    )];
    let sha1 = hex::encode(crate::zone::email::DigestKind::Sha1.digest(b"sender1@bulk.example"));
    let md5 = hex::encode(crate::zone::email::DigestKind::Md5.digest(b"sender1@bulk.example"));
    let queries = vec![
        "sender1.bulk.example".to_string(),
        "first.last.example.org".to_string(),
        "first\\.last.example.org".to_string(),
        sha1.clone(),
        format!("{sha1}._email"),
        md5,
        "bulk.example".to_string(),
    ];
    // Whole digests are kept only when asked (transfers, export).
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in snapshot_files {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    let loader = crate::load::Loader {
        dir: dir.path().to_path_buf(),
        options: crate::load::LoadOptions {
            for_export: true,
            test_points: false,
            ..crate::load::LoadOptions::default()
        },
        lenient: false,
    };
    let snapshot = loader.load_all().unwrap().take_snapshot();
    let records = exported(&snapshot);
    for query in &queries {
        let qname = Name::parse(query).unwrap();
        for qtype in [1u16, 16] {
            assert_eq!(
                standard(&records, &qname, qtype),
                ward(&snapshot, "ad.test", &qname, qtype),
                "{query} {qtype}"
            );
        }
    }
    assert!(records.iter().any(|rr| rr.owner.to_string() == sha1));
}

#[test]
fn test_points_and_generic_records_and_apex() {
    let files = [
        ("tp.test/a.ip4set", ":3:x\n192.0.2.1\n"),
        ("tp.test/b.generic", "www A 127.0.0.8\n@ TXT \"apex\"\n"),
    ];
    let snapshot = with_test_points(&files);
    let records = exported(&snapshot);
    for query in [
        "2.0.0.127",
        "1.0.0.127",
        "1.2.0.192",
        "www",
        "test",
        "invalid",
    ] {
        let qname = Name::parse(query).unwrap();
        for qtype in [1u16, 16] {
            assert_eq!(
                standard(&records, &qname, qtype),
                ward(&snapshot, "tp.test", &qname, qtype),
                "{query} {qtype}"
            );
        }
    }
    let _ = Txt::Raw(b"");
}

#[test]
fn owner_order_puts_wildcards_first_and_numbers_by_value() {
    let order = |a: &str, b: &str| owner_order(&Name::parse(a).unwrap(), &Name::parse(b).unwrap());
    assert_eq!(order("*.10", "2.10"), Ordering::Less);
    assert_eq!(order("2.10", "10.10"), Ordering::Less);
    assert_eq!(order("10", "1.10"), Ordering::Less, "parent first");
    assert_eq!(order("9.x", "a.x"), Ordering::Less);
    assert_eq!(order("a.example", "b.example"), Ordering::Less);
}

/// Random lists (nested CIDRs, exclusions, ranges, two datasets) against random and
/// edge addresses: the export always answers as ward does.
#[test]
fn random_ipv4_lists_export_exactly() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..12 {
        let mut files: Vec<(String, String)> = Vec::new();
        let mut edges = Vec::new();
        for dataset in 0..2 {
            let mut text = format!(":{}:d{dataset}\n", 2 + dataset);
            for i in 0..60 {
                let len = [8u32, 12, 16, 20, 23, 24, 26, 30, 32, 32][(next() % 10) as usize];
                // Keep everything in 10/8 and 11/8 so that entries overlap often.
                let addr = (10u32 << 24 | (next() as u32 & 0x01ff_ffff))
                    & u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let ip = std::net::Ipv4Addr::from(addr);
                let value = if i % 7 == 0 {
                    "!".to_string()
                } else {
                    String::new()
                };
                let own = if i % 5 == 0 {
                    format!(" :{}:own{i}", 4 + i % 3)
                } else {
                    String::new()
                };
                if value.is_empty() {
                    text.push_str(&format!("{ip}/{len}{own}\n"));
                } else {
                    text.push_str(&format!("!{ip}/{len}\n"));
                }
                let last = addr | u32::MAX.checked_shr(len).unwrap_or(0);
                edges.extend([addr, addr.wrapping_sub(1), last, last.wrapping_add(1)]);
            }
            files.push((format!("r.test/d{dataset}.ip4trie"), text));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let queries: Vec<String> = edges
            .into_iter()
            .chain((0..200).map(|_| 10u32 << 24 | (next() as u32 & 0x01ff_ffff)))
            .map(|a| {
                let o = a.to_be_bytes();
                format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
            })
            .collect();
        let compared = compare(&refs, "r.test", &queries, false);
        assert!(compared > 400, "round {round}: {compared}");
    }
}

/// Regression (issue 18): an entry in two files with different TTLs. ward answered the
/// TXT (from one file) with that file's TTL and the A (from both) with the lowest; the
/// export gave both RRsets the lowest. One rule for both: each RRset gets the lowest
/// TTL of the listings that give it records.
#[test]
fn one_ttl_per_rrset_across_files() {
    let files = [
        ("t.test/a.ip4set", "$TTL 1200\n10.0.0.0/24 :4\n"),
        ("t.test/b.ip4set", ":127.0.0.4:Extra\n10.0.0.0/24\n"),
    ];
    let queries = ip4_queries(&["10.0.0.0/24"]);
    assert!(compare(&files, "t.test", &queries, false) > 10);
    let snapshot = test_snapshot_with(&files, true);
    let five = Name::parse("5.0.0.10").unwrap();
    assert_eq!(ward(&snapshot, "t.test", &five, 1).2, Some(1200));
    assert_eq!(ward(&snapshot, "t.test", &five, 16).2, Some(2100));
}

/// Regression (issue 18): wildcards in two files of one zone. ward answered
/// `y.x.list.example` with both codes; the records gave a secondary only the narrower
/// wildcard's (a DNS wildcard never matches below an existing name), and
/// `x.list.example` nothing.
#[test]
fn wildcards_in_two_files_answer_together() {
    let reasons = "$REASON spam-source 127.0.0.2 \"spam from $\"\n\
                   $REASON marketing 127.0.0.9 \"marketing from $\"\n";
    let files = [
        ("reasons.conf", reasons),
        ("w.test/a.zone", "$TTL 600\n*.list.example spam-source\n"),
        (
            "w.test/b.zone",
            "*.x.list.example marketing\n!no.x.list.example\n",
        ),
    ];
    let queries: Vec<String> = [
        "list.example",
        "a.list.example",
        "x.list.example",
        "y.x.list.example",
        "z.y.x.list.example",
        "no.x.list.example",
        "below.no.x.list.example",
        "other.example",
    ]
    .map(String::from)
    .to_vec();
    assert!(compare(&files, "w.test", &queries, true) >= 12);
    let snapshot = test_snapshot_with(&files, true);
    let y = Name::parse("y.x.list.example").unwrap();
    assert_eq!(ward(&snapshot, "w.test", &y, 1).1.len(), 2, "both codes");
}

/// Email addresses under a domain wildcard, in one file and across files: the records
/// carry what ward combines.
#[test]
fn addresses_under_domain_wildcards() {
    let files = [
        (
            "m.test/a.zone",
            "mail235@mx.example.org :2:address\n*.example.org :9:wildcard $\n\
             first.last@example.net :3:dotted\n",
        ),
        (
            "m.test/b.zone",
            ".mx.example.org :5:other file $\n*.example.net :6:net\n",
        ),
    ];
    let queries: Vec<String> = [
        "mail235.mx.example.org",
        "other.mx.example.org",
        "mx.example.org",
        "a.b.mx.example.org",
        "example.org",
        "first\\.last.example.net",
        "first.last.example.net",
        "last.example.net",
    ]
    .map(String::from)
    .to_vec();
    assert!(compare(&files, "m.test", &queries, true) >= 14);
}

/// Regression (issue 18): a generic dataset's own record at `2.0.0.127` replaced the
/// RFC 5782 test point in ward's answers, but the export added the test point's A and
/// TXT beside it.
#[test]
fn generic_data_at_a_test_point_replaces_it() {
    let files = [
        ("g.test/own.generic", "2.0.0.127 TXT \"own text\"\n"),
        ("g.test/list.ip4set", ":3:listed\n192.0.2.1\n"),
    ];
    let queries = vec![
        "2.0.0.127".to_string(),
        "1.2.0.192".to_string(),
        "test".to_string(),
    ];
    assert!(compare_in(&with_test_points(&files), "g.test", &queries, false) >= 6);
}

/// Random name lists in several files — domains, `*.` and `.` wildcards, exclusions,
/// addresses, their own TTLs — asked for every entry, its parent, children and
/// neighbours: the export always answers as ward does, TTLs included.
#[test]
fn random_name_lists_export_exactly() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let labels = ["a", "b", "x", "mx", "mail"];
    for round in 0..40 {
        let mut files: Vec<(String, String)> = Vec::new();
        let mut names: BTreeSet<String> = BTreeSet::new();
        for file in 0..3 {
            let mut text = format!("$TTL {}\n", [300, 600, 2100][file]);
            for i in 0..8 {
                let depth = 1 + (next() % 3) as usize;
                let domain: Vec<&str> = (0..depth)
                    .map(|_| labels[(next() % labels.len() as u64) as usize])
                    .collect();
                let domain = format!("{}.example", domain.join("."));
                let value = format!(":{}:f{file}e{i} $", 2 + (next() % 4));
                let local = labels[(next() % 2) as usize];
                let line = match next() % 8 {
                    0 => format!("*.{domain} {value}"),
                    1 => format!(".{domain} {value}"),
                    2 => format!("!{domain}"),
                    3 => format!("{local}@{domain} {value}"),
                    // An address's name with a name below it, or excluded again.
                    4 => format!("{local}.mx@{domain} {value}"),
                    5 => format!("!{local}@{domain}"),
                    _ => format!("{domain} {value}"),
                };
                text.push_str(&line);
                text.push('\n');
                names.insert(domain.clone());
                names.insert(format!("{}.{domain}", labels[(next() % 2) as usize]));
                names.insert(format!("zz.{domain}"));
                names.insert(format!("q.zz.{domain}"));
                names.insert(format!("{local}.mx.{domain}"));
                names.insert(format!("mx.{domain}"));
                if let Some((_, parent)) = domain.split_once('.') {
                    names.insert(parent.to_string());
                }
            }
            files.push((format!("n.test/f{file}.zone"), text));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let queries: Vec<String> = names.into_iter().collect();
        let compared = compare(&refs, "n.test", &queries, true);
        assert!(compared > 20, "round {round}: {compared}");
    }
}
