//! Differential test: rbldnsd (Debian's package) and ward serve the same data files,
//! and several thousand queries must get the same answers — rcode, A records, TXT
//! texts and their TTLs — except where ward deliberately follows the RFCs instead
//! (empty non-terminals answer NODATA, not NXDOMAIN). Names that exist only as
//! exclusions, and a client whose ACL action is `empty`, get no such allowance: there
//! nothing exists, and both must say NXDOMAIN.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{RData, RecordType};

/// One dataset of the corpus: zone, rbldnsd type, file name, contents.
const CORPUS: &[(&str, &str, &str, &str)] = &[
    (
        "set.test",
        "ip4set",
        "set.ip4set",
        "$SOA 1h ns1.set.test. hostmaster.set.test. 1 2h 30m 1w 5m
$TTL 1h
$1 see http://bl.test/
:127.0.0.2:Listed $ $1
10.1.2
10.2/16 :3
127.0.0/24 :4:
10.3.0.1-10.3.0.9 plain text
10.4.0.1-3
10.5-7 :5:$$ five
192.0.2.8:8:no space
!10.1.2.201
10.9.0.1   # default
172.16.0.0/20 :16:sixteen
172.16.0.0/23 :17:seventeen
172.17.0.0/24 :20:twenty
172.17.0.0/24 :21:twentyone
10.23.5.7 :7
!10.23.5.0/24
10.0.0.0/8 :9:ten $
!10.200.0.0/16
10.200.5.5 :11
192.0.2.16/28 :12:$ in sixteen
!192.0.2.20
192.0.2.100 :2:quoted \"text\" ; with # marks
192.0.2.101 :2:  leading spaces
192.0.2.102 :1.2:odd A
192.0.2.103 :13 :spaced value
",
    ),
    (
        "multi.test",
        "ip4set",
        "a.ip4set",
        ":2:from a\n10.0.0.1\n10.0.0.3\n!10.0.0.4\n10.0.0.0/24 :4:block a\n",
    ),
    (
        "multi.test",
        "ip4set",
        "b.ip4set",
        ":3:from b\n10.0.0.1\n10.0.0.2\n10.0.0.4\n",
    ),
    (
        "base.test",
        "ip4set",
        "base.ip4set",
        "$= See http://bl.test/?$= ($) for details\n127.0.0.2\tr123\n127.0.0.3\n127.0.0.4\t=Other lists explain $\n127.0.0.5 :5:\n",
    ),
    (
        "tset.test",
        "ip4tset",
        "tset.ip4tset",
        "10.0.0.1 ignored text\n:5:shared $\n10.0.0.2\n:6:later ignored\n10.0.0.3\n",
    ),
    (
        "trie.test",
        "ip4trie",
        "trie.ip4trie",
        "$TTL 300\n:2:default $\n10.20.0.0/23 :2:a\n!10.20.1.0/24\n10.20.1.128/25 :3:b\n0.0.0.0/1 :4:half\n192.168.1 :5\n10.30.0.0/16\n10.30.0.0/16 :6:duplicate ignored\n",
    ),
    (
        "v6.test",
        "ip6trie",
        "v6.ip6trie",
        ":2:v6 $\n2001:db8:2:3\n2001:DB8::1/128 :3:\n!2001:db8:2:3::5\n2001:db8:ff00::/40 :4:forty\n::1 :5:loopback\n",
    ),
    (
        "v6s.test",
        "ip6tset",
        "v6s.ip6tset",
        ":4:tset $\n2001:db8:0:1\n2001:db8:0:2\n!2001:db8:0:1::5\n",
    ),
    (
        "dn.test",
        "dnset",
        "dn.dnset",
        ":2:domain $\nbad.example\n*.wild.example\n.both.example :3\n!ok.wild.example\n!*.y.wild.example\nx.y.wild.example :4:deep\nUPPER.Example.\nmulti.example :5:one\nmulti.example :6:two\n",
    ),
    (
        "gen.test",
        "generic",
        "gen.generic",
        "$TTL 600\nwww A 127.0.0.9\nwww 60 TXT \"short ttl\"\nwww TXT long ttl\nabout TXT \"combined list\"\nmail MX 10 mx.example.\nsub.deep A 127.0.0.10\n",
    ),
    (
        "comb.test",
        "combined",
        "comb.combined",
        "$SOA 1h ns1.comb.test. hostmaster.comb.test. 1 2h 30m 1w 5m\n$TTL 300\n$1 common\n\
$DATASET ip4set:proxy proxies @\n:2:Proxy $ $1\n10.0.0.1\n\
$DATASET ip4set relays @\n$TTL 500\n:3:Relay $\n10.0.0.1\n10.0.0.2\n\
$DATASET dnset names\nspam.example\n\
$DATASET generic:common proxies relays @\nwww A 127.0.0.8\n",
    ),
    (
        "ex.test",
        "dnset",
        "ex.dnset",
        ":2:ex $\n.example\n!.sub.example\n!only.example\n!.gone.test\n",
    ),
    (
        "acl.test",
        "ip4set",
        "acl-data.ip4set",
        ":3:hidden\n192.0.2.1\n10.1.2.3\n172.16.0.0/16\n",
    ),
    ("acl.test", "acl", "acl-clients.acl", "127.0.0.0/8 :empty\n"),
];

/// Zones where ward may not answer NODATA for a name rbldnsd calls NXDOMAIN: every
/// name that exists there, exists for both.
const NO_EMPTY_NON_TERMINALS: &[&str] = &["ex.test.", "acl.test."];

const EXCLUSION_PROBES: &[&str] = &[
    "example",
    "a.example",
    "sub.example",
    "x.sub.example",
    "y.x.sub.example",
    "only.example",
    "x.only.example",
    "gone.test",
    "a.gone.test",
    "test",
];

/// Addresses worth asking about: every edge of the corpus' ranges, and random ones
/// in the same neighbourhoods.
fn ip4_probes() -> Vec<String> {
    let mut probes: BTreeSet<u32> = BTreeSet::new();
    let edges = [
        "10.1.2.0",
        "10.1.2.255",
        "10.1.2.201",
        "10.2.0.0",
        "10.2.255.255",
        "127.0.0.0",
        "127.0.0.255",
        "127.0.0.2",
        "127.0.0.1",
        "10.3.0.1",
        "10.3.0.9",
        "10.4.0.1",
        "10.4.0.3",
        "10.5.0.0",
        "10.7.255.255",
        "192.0.2.8",
        "10.9.0.1",
        "172.16.0.0",
        "172.16.1.255",
        "172.16.15.255",
        "172.17.0.0",
        "10.23.5.7",
        "10.23.5.8",
        "10.0.0.0",
        "10.255.255.255",
        "10.200.5.5",
        "10.200.5.6",
        "192.0.2.16",
        "192.0.2.31",
        "192.0.2.20",
        "192.0.2.100",
        "192.0.2.101",
        "192.0.2.102",
        "192.0.2.103",
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.20.0.0",
        "10.20.1.0",
        "10.20.1.127",
        "10.20.1.128",
        "10.20.1.255",
        "127.255.255.255",
        "128.0.0.0",
        "192.168.1.0",
        "192.168.1.255",
        "10.30.0.0",
        "10.30.255.255",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.5",
    ];
    for edge in edges {
        let a = u32::from(edge.parse::<std::net::Ipv4Addr>().unwrap());
        for delta in [-1i64, 0, 1] {
            probes.insert((i64::from(a) + delta) as u32);
        }
    }
    let hoods: [u32; 12] = [
        0x0a01_0200,
        0x0a02_0000,
        0x0a03_0000,
        0x0a05_0000,
        0x0a17_0500,
        0x0ac8_0500,
        0x0a14_0000,
        0x7f00_0000,
        0xac10_0000,
        0xac11_0000,
        0xc000_0200,
        0xc0a8_0100,
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..1500 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let random = (seed >> 32) as u32;
        let address = match i % 3 {
            0 => hoods[(random as usize) % hoods.len()] | (random >> 24),
            1 => hoods[(random as usize) % hoods.len()] | (random & 0xffff),
            _ => random,
        };
        probes.insert(address);
    }
    probes
        .into_iter()
        .map(|a| {
            let o = a.to_be_bytes();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        })
        .collect()
}

fn ip6_probes() -> Vec<String> {
    [
        "2001:db8:2:3::",
        "2001:db8:2:3::5",
        "2001:db8:2:3::6",
        "2001:db8:2:3:ffff:ffff:ffff:ffff",
        "2001:db8:2:4::",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8:ff00::",
        "2001:db8:ffff:ffff::1",
        "2001:db8:fe00::1",
        "::1",
        "::2",
        "2001:db8:0:1::",
        "2001:db8:0:1::5",
        "2001:db8:0:1::6",
        "2001:db8:0:2:abcd::1",
        "2001:db8:0:3::1",
        "::ffff:10.0.0.1",
        "::ffff:10.0.0.9",
        "::ffff:127.0.0.2",
        "2002:0a00:0001::1",
        "2002:0a00:0009::1",
        "::10.0.0.1",
    ]
    .iter()
    .map(|ip| {
        let value = u128::from(ip.parse::<std::net::Ipv6Addr>().unwrap());
        let nibbles: Vec<String> = (0..32)
            .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
            .collect();
        nibbles.join(".")
    })
    .collect()
}

const NAME_PROBES: &[&str] = &[
    "bad.example",
    "a.bad.example",
    "wild.example",
    "a.wild.example",
    "b.a.wild.example",
    "both.example",
    "x.both.example",
    "ok.wild.example",
    "a.ok.wild.example",
    "y.wild.example",
    "q.y.wild.example",
    "x.y.wild.example",
    "upper.example",
    "UPPER.EXAMPLE",
    "multi.example",
    "other.example",
    "example",
    "www",
    "about",
    "mail",
    "nothing",
    "sub.deep",
    "deep",
    "x.www",
];

fn queries() -> Vec<String> {
    let mut names = Vec::new();
    for zone in [
        "set.test",
        "multi.test",
        "base.test",
        "tset.test",
        "trie.test",
        "comb.test",
        "proxies.comb.test",
        "relays.comb.test",
        "acl.test",
    ] {
        for ip in ip4_probes() {
            names.push(format!("{ip}.{zone}."));
        }
    }
    for zone in ["v6.test", "v6s.test", "set.test", "trie.test"] {
        for ip in ip6_probes() {
            names.push(format!("{ip}.{zone}."));
        }
    }
    for zone in [
        "dn.test",
        "gen.test",
        "names.comb.test",
        "proxies.comb.test",
    ] {
        for name in NAME_PROBES {
            names.push(format!("{name}.{zone}."));
        }
    }
    for name in EXCLUSION_PROBES {
        names.push(format!("{name}.ex.test."));
    }
    for partial in [
        "2.0.192", "0.192", "192", "1.2.10", "2.10", "10", "16.172", "0.16.172",
    ] {
        names.push(format!("{partial}.acl.test."));
    }
    names.push("spam.example.names.comb.test.".into());
    names.push("www.comb.test.".into());
    names.push("www.relays.comb.test.".into());
    names
}

struct Rbldnsd {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Rbldnsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rbldnsd_binary() -> Option<PathBuf> {
    [
        "/usr/sbin/rbldnsd",
        "/usr/bin/rbldnsd",
        "/usr/local/sbin/rbldnsd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn start_rbldnsd(binary: &Path, dir: &Path) -> Rbldnsd {
    for _ in 0..5 {
        let port = crate::support::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(binary);
        command
            .arg("-n")
            .args(["-b", &format!("127.0.0.1/{port}")])
            .args(["-w", dir.to_str().unwrap()])
            .args(["-c", "0"]);
        for (zone, kind, file, _) in CORPUS {
            command.arg(format!("{zone}:{kind}:{file}"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rbldnsd starts");
        let server = Rbldnsd { child, addr };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let probe = query_message("1.0.0.10.set.test.", RecordType::A, true);
            if raw_udp(addr, &probe.to_vec().unwrap(), Duration::from_millis(100)).is_some() {
                return server;
            }
        }
    }
    panic!("rbldnsd did not answer");
}

/// What is compared: rcode, and per type the sorted (data, ttl) records.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    rcode: ResponseCode,
    records: Vec<(String, u32)>,
}

fn seen(message: &Message) -> Seen {
    let mut records: Vec<(String, u32)> = message
        .answers
        .iter()
        .filter_map(|r| {
            let data = match &r.data {
                RData::A(a) => format!("A {}", a.0),
                RData::TXT(t) => format!(
                    "TXT {}",
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join("")
                ),
                RData::MX(mx) => format!("MX {} {}", mx.preference, mx.exchange),
                _ => return None,
            };
            Some((data, r.ttl))
        })
        .collect();
    records.sort();
    Seen {
        rcode: message.metadata.response_code,
        records,
    }
}

#[test]
fn same_answers_as_rbldnsd() {
    let Some(binary) = rbldnsd_binary() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "rbldnsd is not installed (apt-get install rbldnsd): the differential test cannot run"
            );
        }
        eprintln!("SKIPPED: rbldnsd is not installed (apt-get install rbldnsd)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // rbldnsd drops to its own user: the data must be readable by it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("rbldnsd");
    let zones = dir.path().join("zones");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (zone, _, file, contents) in CORPUS {
        std::fs::write(data.join(file), contents).unwrap();
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        let zone_dir = zones.join(zone);
        std::fs::create_dir_all(&zone_dir).unwrap();
        std::fs::write(zone_dir.join(file), contents).unwrap();
    }
    let rbldnsd = start_rbldnsd(&binary, &data);
    let ward = TestServer::serve(&zones, &["--no-test-points"], "");

    let mut compared = 0;
    let mut deliberate = 0;
    let mut listed = 0;
    let mut nxdomain = 0;
    let mut differences = Vec::new();
    for name in queries() {
        for rtype in [RecordType::A, RecordType::TXT, RecordType::MX] {
            if rtype == RecordType::MX && !name.contains("gen.test") {
                continue;
            }
            let request = query_message(&name, rtype, true);
            let theirs = raw_udp(
                rbldnsd.addr,
                &request.to_vec().unwrap(),
                Duration::from_secs(1),
            )
            .map(|b| seen(&Message::from_vec(&b).unwrap()));
            let ours = ward.exchange_udp(&request).map(|m| seen(&m));
            compared += 1;
            if let Some(t) = &theirs {
                listed += usize::from(!t.records.is_empty());
                nxdomain += usize::from(t.rcode == ResponseCode::NXDomain);
            }
            match (&theirs, &ours) {
                (Some(t), Some(o)) if t == o => {}
                // RFC 8020/7816: a name with names below it exists. rbldnsd says
                // NXDOMAIN; ward says NOERROR with no records.
                (Some(t), Some(o))
                    if t.rcode == ResponseCode::NXDomain
                        && o.rcode == ResponseCode::NoError
                        && o.records.is_empty()
                        && !NO_EMPTY_NON_TERMINALS.iter().any(|z| name.ends_with(z)) =>
                {
                    deliberate += 1
                }
                _ => differences.push(format!("{name} {rtype}: rbldnsd {theirs:?} ward {ours:?}")),
            }
        }
    }
    assert!(compared > 4000, "only {compared} queries");
    // A comparison of nothing proves nothing: both outcomes must be well represented.
    assert!(
        listed > 2000 && nxdomain > 2000,
        "{listed} listed, {nxdomain} NXDOMAIN of {compared}"
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} answers differ (first 25):\n{}",
        differences.len(),
        differences
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The deliberate differences must stay rare: only names above listed names.
    assert!(
        deliberate < compared / 20,
        "{deliberate} NXDOMAIN/NODATA differences"
    );
    eprintln!(
        "{compared} answers compared ({listed} listed, {nxdomain} NXDOMAIN), {deliberate} empty non-terminals answered NODATA by ward"
    );
}
