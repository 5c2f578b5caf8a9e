//! The data file formats: every syntax form means what it should, and every kind of bad
//! line is reported at its `file:line:column` with what was expected.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use crate::dns::answer::{self, rcode, rtype};
use crate::dns::query::Question;
use crate::load::{LoadOptions, Loader};
use crate::store::Snapshot;
use crate::zone::DatasetKind;
use crate::zone::name::{Name, NameBuf};
use crate::zone::parse::{ParseOptions, parse_bytes};
use crate::zone::reason::Catalogue;

/// (line, column, message) of every error in `text` parsed as `kind`.
fn errors(kind: DatasetKind, text: &str) -> Vec<(u32, u32, String)> {
    let options = ParseOptions {
        now: 1_800_000_000,
        ..ParseOptions::default()
    };
    parse_bytes(text.as_bytes(), "data", kind, &options)
        .diagnostics
        .errors
        .into_iter()
        .map(|d| (d.line, d.column, d.message))
        .collect()
}

#[track_caller]
fn assert_error(kind: DatasetKind, text: &str, line: u32, column: u32, fragment: &str) {
    let errors = errors(kind, text);
    assert_eq!(errors.len(), 1, "{kind} {text:?}: {errors:#?}");
    let (l, c, message) = &errors[0];
    assert_eq!((*l, *c), (line, column), "{kind} {text:?}: {message}");
    assert!(
        message.contains(fragment),
        "{kind} {text:?}: `{message}` lacks `{fragment}`"
    );
}

#[test]
fn ward_format_bad_lines() {
    use DatasetKind::Ward;
    let cases: &[(&str, u32, u32, &str)] = &[
        ("300.1.2.3 spam", 1, 1, "expected an IPv4 address"),
        ("10.1.2 spam", 1, 1, "needs all four octets"),
        ("# comment\n\n10.0.0.1/33", 3, 10, "prefix length 0-32"),
        ("10.0.0.1/8", 1, 1, "host bits"),
        ("10.0.0.9-10.0.0.1", 1, 1, "start is above its end"),
        ("10.0.0.1-10.0.0.x", 1, 10, "expected an IPv4 address"),
        (
            "192.0.2.1   nosuchreason",
            1,
            13,
            "unknown reason `nosuchreason`",
        ),
        (
            "192.0.2.1 two words",
            1,
            11,
            "expected a reason name or an :A:TXT value",
        ),
        ("192.0.2.1 :0:x", 1, 12, "expected an A value"),
        ("192.0.2.1 :2 junk", 1, 14, "expected `:` between"),
        ("192.0.2.1 expires=tomorrow", 1, 19, "RFC 3339"),
        // Regression (issue 19): 2027-02-30 became 2027-03-02, +99:99 shifted by days.
        (
            "192.0.2.1 expires=2027-02-30",
            1,
            19,
            "no such date: month 2 has 28 days",
        ),
        (
            "192.0.2.1 expires=2027-03-01T00:00:00+99:99",
            1,
            19,
            "offset from UTC within -23:59 and +23:59",
        ),
        ("192.0.2.1 expires=", 1, 19, "expected a value after `=`"),
        ("!192.0.2.1 :2:x", 1, 12, "an exclusion takes no value"),
        ("bad..example", 1, 1, "empty label"),
        ("@example.com", 1, 1, "local@domain"),
        ("user@bad..example", 1, 6, "empty label"),
        ("sha1:abc", 1, 6, "40 hex digits of a sha1 digest"),
        ("2001:db8::/129", 1, 12, "prefix length 0-128"),
        ("2001:db8::1/64", 1, 1, "host bits"),
        ("2001:zz8::1", 1, 1, "expected an IPv6 address"),
        ("$FOO x", 1, 2, "unknown special $FOO"),
        ("$TTL abc", 1, 6, "expected a time"),
        ("$REASON x 127.0.0.1 \"t\"", 1, 11, "127.0.0.1 is reserved"),
        ("$REASON x 127.0.0.5 \"unterminated", 1, 21, "unterminated"),
        (
            "$SOA 1h ns1.bl.test. host.bl.test. 1 2 3",
            1,
            41,
            "SOA expire field",
        ),
        ("$DATASET ip4set @", 1, 2, "rbldnsd dataset files"),
        ("1.2.3.4 :2:\"open quote", 1, 12, "unterminated"),
        ("192.0.2.1 :2:x delay=soon", 1, 22, "delay= as seconds"),
        (
            "192.0.2.1 :2:x ts=tomorrow",
            1,
            19,
            "Unix seconds or an RFC 3339",
        ),
        (
            "192.0.2.1 :2:x key=always",
            1,
            20,
            "key=require or key=nodelay",
        ),
        ("!192.0.2.1 key=require", 1, 16, "an exclusion takes no ts="),
    ];
    for &(text, line, column, fragment) in cases {
        assert_error(Ward, text, line, column, fragment);
    }
}

#[test]
fn rbldnsd_bad_lines() {
    use DatasetKind::*;
    let cases: &[(DatasetKind, &str, u32, u32, &str)] = &[
        (
            Ip4Set,
            "10.0.0.1x",
            1,
            9,
            "expected a blank, a comment or a value",
        ),
        (Ip4Set, "10", 1, 1, "bare number"),
        (Ip4Set, "10.0.0.0/33", 1, 10, "prefix length 0-32"),
        (Ip4Set, "1.2.3.4/16", 1, 1, "did you mean 1.2.0.0/16"),
        (Ip4Set, "127-127.0.0", 1, 5, "as many octets"),
        (Ip4Set, "10.0.0.1 :300:x", 1, 11, "expected an A value"),
        (
            Ip4Set,
            "$MAXRANGE4 /24\n10.0.0.0/16",
            2,
            1,
            "above $MAXRANGE4",
        ),
        (
            Ip4Set,
            "$MAXRANGE4 /24\n$MAXRANGE4 /16",
            2,
            2,
            "only shrink",
        ),
        (Ip4Set, "$TIMESTAMP 2037:01:01", 1, 2, "in the future"),
        // Regression (issue 19): impossible dates were carried into the next month.
        (
            Ip4Set,
            "$TIMESTAMP 2020:02:30",
            1,
            12,
            "expected a timestamp",
        ),
        (Ip4Tset, "10.0.0.0/24", 1, 1, "complete IPv4 address"),
        (Ip4Tset, "!10.0.0.1", 1, 1, "no exclusions"),
        (Ip4Trie, "10.0.0.1-10.0.0.5", 1, 1, "ranges are not allowed"),
        (Ip6Tset, "2001:db8::/64", 1, 1, "exactly 4 groups"),
        (Ip6Tset, "!2001:db8:0:1", 1, 2, "single addresses"),
        (Ip6Trie, "2001", 1, 1, "expected an IPv6 address"),
        (Ip6Trie, "2001:db8::/129", 1, 12, "prefix length 0-128"),
        (Dnset, "bad..example", 1, 1, "empty label"),
        (Dnset, "!.", 1, 3, "expected a domain name"),
        (
            Generic,
            "www AAAA ::1",
            1,
            5,
            "expected a record type A, TXT or MX",
        ),
        (Generic, "www A 300.1.1.1", 1, 7, "complete IPv4 address"),
        (Generic, "mx MX x host.example", 1, 7, "MX preference"),
        (Combined, "10.0.0.1", 1, 1, "before the first data line"),
        (Combined, "$DATASET foo @", 1, 10, "expected a dataset type"),
        (Combined, "$DATASET ip4set", 1, 16, "at least one subzone"),
        (Acl, "10.0.0.0/8 :weird", 1, 12, "expected :ignore, :refuse"),
        (
            Ip4Trie,
            "10.0.0.1 x @ delay=soon",
            1,
            20,
            "delay= as seconds",
        ),
        (
            Ip6Trie,
            "2001:db8::1 x @ ts=now",
            1,
            20,
            "ts= in Unix seconds",
        ),
        (
            Ip4Trie,
            "10.0.0.1 @ key=Require",
            1,
            16,
            "key=require or key=nodelay",
        ),
    ];
    for &(kind, text, line, column, fragment) in cases {
        assert_error(kind, text, line, column, fragment);
    }
}

#[test]
fn every_line_is_reported_not_just_the_first_few() {
    // rbldnsd prints five warnings and hides the rest; `ward check` lists every error.
    let text: String = (0..20).map(|i| format!("10.0.0.{i}x\n")).collect();
    let errors = errors(DatasetKind::Ip4Set, &text);
    assert_eq!(errors.len(), 20);
    assert_eq!(errors[19].0, 20);
}

#[test]
fn diagnostics_print_as_file_line_column() {
    let parsed = parse_bytes(
        b"10.0.0.1\n10.0.0.1x\n",
        "zones/x.ip4set",
        DatasetKind::Ip4Set,
        &ParseOptions::default(),
    );
    let shown = parsed.diagnostics.errors[0].to_string();
    assert!(shown.starts_with("zones/x.ip4set:2:9: expected"), "{shown}");
}

#[test]
fn duplicates_in_tries_warn_and_keep_the_first() {
    let parsed = parse_bytes(
        b"10.0.0.0/8 :2:first\n10.0.0.0/8 :3:second\n",
        "t",
        DatasetKind::Ip4Trie,
        &ParseOptions::default(),
    );
    assert!(parsed.diagnostics.errors.is_empty());
    assert_eq!(parsed.diagnostics.warnings.len(), 1);
    assert_eq!(parsed.diagnostics.warnings[0].line, 2);
}

// --- what each syntax form means, checked through the answer logic -------------------

struct Zones {
    snapshot: Snapshot,
    _dir: tempfile::TempDir,
}

fn zones(files: &[(&str, &[u8])]) -> Zones {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path)
            .unwrap()
            .write_all(contents)
            .unwrap();
    }
    let mut options = LoadOptions {
        test_points: false,
        ..LoadOptions::default()
    };
    options.default_ttl = 2100;
    let loader = Loader {
        dir: dir.path().to_path_buf(),
        options,
        lenient: false,
    };
    let mut load = loader.load_all().unwrap();
    let errors: Vec<String> = load.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    Zones {
        snapshot: load.take_snapshot(),
        _dir: dir,
    }
}

/// (rcode, A records, TXT texts) for a query.
fn ask(zones: &Zones, name: &str) -> (u16, Vec<String>, Vec<String>) {
    let question = |qtype| Question {
        name: NameBuf::from_name(&Name::parse(name).unwrap()),
        qtype,
        qclass: answer::CLASS_IN,
    };
    let client = IpAddr::from([127, 0, 0, 1]);
    let a = answer::resolve(&zones.snapshot, &question(rtype::A), client, 1_800_000_000);
    let txt_question = question(rtype::TXT);
    let txt = answer::resolve(&zones.snapshot, &txt_question, client, 1_800_000_000);
    let mut addrs: Vec<String> = a
        .answers
        .iter()
        .filter_map(|rr| match rr.data {
            answer::RData::A(a) => Some(std::net::Ipv4Addr::from(a).to_string()),
            _ => None,
        })
        .collect();
    addrs.sort();
    let mut texts: Vec<String> = txt
        .answers
        .iter()
        .filter_map(|rr| match &rr.data {
            answer::RData::Txt(t) => {
                let mut out = Vec::new();
                answer::render_txt(t, txt_question.name.view(), &mut out);
                Some(String::from_utf8(out).unwrap())
            }
            _ => None,
        })
        .collect();
    texts.sort();
    (a.rcode, addrs, texts)
}

fn listed(zones: &Zones, name: &str) -> Vec<String> {
    let (code, a, _) = ask(zones, name);
    assert!(
        code == rcode::NOERROR || code == rcode::NXDOMAIN,
        "{name}: rcode {code}"
    );
    a
}

#[test]
fn ward_format_forms() {
    let z = zones(&[
        (
            "reasons.conf",
            b"$1 https://help.test/t?q=\n$REASON spam 127.0.0.4 \"Spam from $. $1$\"\n",
        ),
        (
            "w.test.zone",
            b"$REASON local 127.0.0.7 \"Local reason for $\"\n\
              203.0.113.7 spam\n\
              198.51.100.0/24 :127.0.0.3:Listed for abuse   # comment\n\
              198.51.100.10-198.51.100.20 local\n\
              !198.51.100.15\n\
              2001:db8:bad::/48 spam\n\
              spam.example spam\n\
              *.spam.example local\n\
              .both.example spam\n\
              root@localhost spam added=2026-01-01 by=ops ticket=1\n\
              First.Last@Example.COM local\n\
              sha1:5d41402abc4b2a76b9719d911017c592ab2c0d9f spam\n\
              1.2.3.4 :5:\"quoted # text, a=b\"\n\
              :127.0.0.9:default value\n\
              5.6.7.8\n",
        ),
    ]);
    assert_eq!(
        ask(&z, "7.113.0.203.w.test").2,
        ["Spam from 203.0.113.7. https://help.test/t?q=203.0.113.7"]
    );
    assert_eq!(ask(&z, "1.100.51.198.w.test").2, ["Listed for abuse"]);
    assert_eq!(
        listed(&z, "12.100.51.198.w.test"),
        ["127.0.0.7"],
        "the range is more specific"
    );
    assert!(listed(&z, "15.100.51.198.w.test").is_empty(), "exclusion");
    assert_eq!(listed(&z, "21.100.51.198.w.test"), ["127.0.0.3"]);
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.a.b.0.8.b.d.0.1.0.0.2.w.test";
    assert_eq!(listed(&z, v6), ["127.0.0.4"]);
    assert_eq!(listed(&z, "spam.example.w.test"), ["127.0.0.4"]);
    assert_eq!(
        ask(&z, "a.spam.example.w.test").2,
        ["Local reason for spam.example"]
    );
    assert_eq!(listed(&z, "both.example.w.test"), ["127.0.0.4"]);
    assert_eq!(listed(&z, "x.both.example.w.test"), ["127.0.0.4"]);
    assert_eq!(
        ask(&z, "root.localhost.w.test").2,
        ["Spam from root@localhost. https://help.test/t?q=root@localhost"]
    );
    assert_eq!(
        listed(&z, "first\\.last.example.com.w.test"),
        ["127.0.0.7"],
        "dotted local part is one label"
    );
    assert_eq!(
        listed(&z, "first.last.example.com.w.test"),
        ["127.0.0.7"],
        "and as rspamd asks, split at the dots"
    );
    assert!(listed(&z, "last.example.com.w.test").is_empty());
    assert_eq!(
        listed(&z, "5d41402abc4b2a76b9719d911017c592ab2c0d9f.w.test"),
        ["127.0.0.4"]
    );
    assert_eq!(
        listed(&z, "5D41402ABC4B2A76B9719D911017C592AB2C0D9F._email.w.test"),
        ["127.0.0.4"]
    );
    assert_eq!(ask(&z, "4.3.2.1.w.test").2, ["quoted # text, a=b"]);
    assert_eq!(ask(&z, "8.7.6.5.w.test").2, ["default value"]);
    assert_eq!(listed(&z, "8.7.6.5.w.test"), ["127.0.0.9"]);
}

/// A default set again applies from its line on: lines read before it without a value of
/// their own (or with only an A value) keep the default of their time.
#[test]
fn a_default_set_again_applies_from_its_line_on() {
    let z = zones(&[(
        "d.test.zone",
        b":127.0.0.2:First default\n\
          1.1.1.1\n\
          2.2.2.2 :5\n\
          a@first.example\n\
          :127.0.0.3:Second default\n\
          3.3.3.3\n\
          4.4.4.4 :5\n\
          b@second.example\n",
    )]);
    assert_eq!(ask(&z, "1.1.1.1.d.test").2, ["First default"]);
    assert_eq!(listed(&z, "1.1.1.1.d.test"), ["127.0.0.2"]);
    assert_eq!(listed(&z, "2.2.2.2.d.test"), ["127.0.0.5"]);
    assert_eq!(ask(&z, "2.2.2.2.d.test").2, ["First default"]);
    assert_eq!(listed(&z, "a.first.example.d.test"), ["127.0.0.2"]);
    assert_eq!(ask(&z, "3.3.3.3.d.test").2, ["Second default"]);
    assert_eq!(listed(&z, "3.3.3.3.d.test"), ["127.0.0.3"]);
    assert_eq!(listed(&z, "4.4.4.4.d.test"), ["127.0.0.5"]);
    assert_eq!(ask(&z, "4.4.4.4.d.test").2, ["Second default"]);
    assert_eq!(listed(&z, "b.second.example.d.test"), ["127.0.0.3"]);
}

#[test]
fn rbldnsd_forms() {
    let z = zones(&[
        (
            "s.test.ip4set",
            b"$1 see http://bl.test/\n\
              :127.0.0.2:Listed $ $1\n\
              10.1.2\n\
              10.2/16 :3\n\
              127/24 :4:\n\
              10.3.0.1-10.3.0.9 plain text\n\
              10.4.0.1-3\n\
              10.5-7 :5:$$ five\n\
              192.0.2.8:8:no space\n\
              !10.1.2.201\n\
              10.9.0.1   # default\n",
        ),
        ("t.test.ip4trie", b"10.20.0.0/23 :2:a\n!10.20.1.0/24\n10.20.1.128/25 :3:b\n"),
        ("ts.test.ip4tset", b"10.0.0.1 ignored text\n:5:shared $\n10.0.0.2\n:6:later ignored\n"),
        ("v6.test.ip6trie", b":2:v6 $\n2001:db8:2:3\n2001:DB8::1/128 :3:\n!2001:db8:2:3::5\n"),
        ("v6s.test.ip6tset", b":4:tset\n2001:db8:0:1\n!2001:db8:0:1::5\n"),
        ("d.test.dnset", b":2:domain $\nbad.example\n*.wild.example\n.both.example :3\n!ok.wild.example\nUPPER.Example.\n"),
        ("g.test.generic", b"@ A 127.0.0.8\nwww 60 IN A 127.0.0.9\nabout TXT \"combined list\"\nmail MX 10 mx.example.\n"),
        (
            "c.test.combined",
            b"$TTL 300\n$1 common\n$DATASET ip4set:proxy proxies @\n:2:Proxy $ $1\n10.0.0.1\n\
              $DATASET ip4set relays @\n:3:Relay $\n10.0.0.1\n10.0.0.2\n\
              $DATASET dnset names\nspam.example\n",
        ),
        ("crlf.test.ip4set", b":2:crlf text\r\n10.0.0.1\r\n"),
    ]);
    assert_eq!(
        ask(&z, "1.2.1.10.s.test").2,
        ["Listed 10.1.2.1 see http://bl.test/"]
    );
    assert!(listed(&z, "201.2.1.10.s.test").is_empty());
    assert_eq!(listed(&z, "9.9.2.10.s.test"), ["127.0.0.3"]);
    assert_eq!(
        ask(&z, "9.9.2.10.s.test").2,
        ["Listed 10.2.9.9 see http://bl.test/"],
        "`:A` keeps the default TXT"
    );
    assert_eq!(listed(&z, "5.0.0.127.s.test"), ["127.0.0.4"]);
    assert!(ask(&z, "5.0.0.127.s.test").2.is_empty(), "`:A:` has no TXT");
    assert_eq!(ask(&z, "5.0.3.10.s.test").2, ["plain text"]);
    assert_eq!(listed(&z, "3.0.4.10.s.test"), ["127.0.0.2"]);
    assert!(listed(&z, "4.0.4.10.s.test").is_empty());
    assert_eq!(ask(&z, "1.1.6.10.s.test").2, ["$ five"]);
    assert!(listed(&z, "1.1.8.10.s.test").is_empty());
    assert_eq!(ask(&z, "8.2.0.192.s.test").2, ["no space"]);
    assert_eq!(listed(&z, "1.0.9.10.s.test"), ["127.0.0.2"]);

    assert_eq!(ask(&z, "5.0.20.10.t.test").2, ["a"]);
    assert!(listed(&z, "1.1.20.10.t.test").is_empty());
    assert_eq!(ask(&z, "129.1.20.10.t.test").2, ["b"]);

    // tsets: the first default line applies to every entry, before or after it.
    assert_eq!(ask(&z, "1.0.0.10.ts.test").2, ["shared 10.0.0.1"]);
    assert_eq!(listed(&z, "2.0.0.10.ts.test"), ["127.0.0.5"]);

    let v6 = |addr: &str, zone: &str| {
        let value = u128::from(addr.parse::<std::net::Ipv6Addr>().unwrap());
        let nibbles: Vec<String> = (0..32)
            .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
            .collect();
        format!("{}.{zone}", nibbles.join("."))
    };
    assert_eq!(
        ask(&z, &v6("2001:db8:2:3::9", "v6.test")).2,
        ["v6 2001:db8:2:3::9"]
    );
    assert!(listed(&z, &v6("2001:db8:2:3::5", "v6.test")).is_empty());
    assert_eq!(listed(&z, &v6("2001:db8::1", "v6.test")), ["127.0.0.3"]);
    assert_eq!(
        listed(&z, &v6("2001:db8:0:1:ffff::1", "v6s.test")),
        ["127.0.0.4"]
    );
    assert!(listed(&z, &v6("2001:db8:0:1::5", "v6s.test")).is_empty());

    assert_eq!(ask(&z, "bad.example.d.test").2, ["domain bad.example"]);
    assert!(listed(&z, "wild.example.d.test").is_empty());
    assert_eq!(
        ask(&z, "a.b.wild.example.d.test").2,
        ["domain wild.example"],
        "`$` is the wildcard's base"
    );
    assert!(listed(&z, "ok.wild.example.d.test").is_empty());
    assert_eq!(listed(&z, "both.example.d.test"), ["127.0.0.3"]);
    assert_eq!(listed(&z, "x.both.example.d.test"), ["127.0.0.3"]);
    assert_eq!(listed(&z, "upper.example.d.test"), ["127.0.0.2"]);

    assert_eq!(listed(&z, "g.test"), ["127.0.0.8"]);
    assert_eq!(listed(&z, "www.g.test"), ["127.0.0.9"]);
    assert_eq!(ask(&z, "about.g.test").2, ["combined list"]);

    assert_eq!(listed(&z, "1.0.0.10.c.test"), ["127.0.0.2", "127.0.0.3"]);
    assert_eq!(
        ask(&z, "1.0.0.10.proxies.c.test").2,
        ["Proxy 10.0.0.1 common"]
    );
    assert!(listed(&z, "2.0.0.10.proxies.c.test").is_empty());
    assert_eq!(listed(&z, "2.0.0.10.relays.c.test"), ["127.0.0.3"]);
    assert_eq!(listed(&z, "spam.example.names.c.test"), ["127.0.0.2"]);
    let (code, _, _) = ask(&z, "proxies.c.test");
    assert_eq!(code, rcode::NOERROR, "a subzone's own name exists");

    // CRLF files: rbldnsd keeps the \r; ward reads them as meant.
    assert_eq!(ask(&z, "1.0.0.10.crlf.test").2, ["crlf text"]);
}

#[test]
fn gzip_files_are_read_transparently() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b":2:from gzip\n10.0.0.1\n").unwrap();
    let data = gz.finish().unwrap();
    let z = zones(&[("gz.test/feed.ip4set.gz", &data)]);
    assert_eq!(ask(&z, "1.0.0.10.gz.test").2, ["from gzip"]);
}

#[test]
fn expired_entries_are_dropped_at_load() {
    let options = ParseOptions {
        now: 1_800_000_000,
        catalogue: Arc::new(Catalogue::default()),
        ..ParseOptions::default()
    };
    let parsed = parse_bytes(
        b"10.0.0.1 expires=2020-01-01T00:00:00Z\n10.0.0.2 expires=2030-01-01T00:00:00Z\n",
        "e",
        DatasetKind::Ward,
        &options,
    );
    assert_eq!(parsed.expired, 1);
    assert_eq!(parsed.diagnostics.warnings.len(), 1);
    assert_eq!(parsed.next_change, Some(1_893_456_000));
}

/// The rspamd fork's per-entry parameters: on ip4trie and ip6trie entries after an
/// `@`, as `ts=` `delay=` `key=` words in ward's format, and text everywhere else.
#[test]
fn entry_parameters_where_they_are_read() {
    const NOW: i64 = 1_800_000_000;
    let trie = format!(
        ":2:default\n\
         10.0.0.1 :3:cooling @ ts={NOW};delay=60s\n\
         10.0.0.2 :3:ready @ ts={};delay=60s\n\
         10.0.0.3 :3:needs a key @ key=require\n\
         10.0.0.4 :3:text@not-parameters\n\
         10.0.0.5 @ delay=2s\n",
        NOW - 120
    );
    let ward = format!(
        "10.0.0.1 :3:cooling ts={NOW} delay=1m\n\
         10.0.0.2 :3:ready ts=2027-01-15T07:58:00Z delay=60\n\
         10.0.0.3 :3:needs a key key=require\n"
    );
    let z = zones(&[
        ("t4.test.ip4trie", trie.as_bytes()),
        (
            "t6.test.ip6trie",
            b"2001:db8::1 :3:keyed @ key=require\n2001:db8::2 :3:open\n",
        ),
        ("w.test.zone", ward.as_bytes()),
        ("s.test.ip4set", b"10.0.0.1 :3:mail me @ key=require\n"),
    ]);
    for zone in ["t4.test", "w.test"] {
        assert_eq!(
            ask(&z, &format!("1.0.0.10.{zone}")).0,
            rcode::NXDOMAIN,
            "{zone}"
        );
        assert_eq!(ask(&z, &format!("2.0.0.10.{zone}")).2, ["ready"], "{zone}");
        assert_eq!(
            ask(&z, &format!("3.0.0.10.{zone}")).0,
            rcode::NXDOMAIN,
            "{zone}"
        );
    }
    assert_eq!(ask(&z, "4.0.0.10.t4.test").2, ["text@not-parameters"]);
    assert_eq!(
        ask(&z, "5.0.0.10.t4.test").2,
        ["default"],
        "parameters alone: the default"
    );
    let v6 = |last: &str| {
        format!("{last}.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.t6.test")
    };
    assert_eq!(ask(&z, &v6("1")).0, rcode::NXDOMAIN);
    assert_eq!(ask(&z, &v6("2")).2, ["open"]);
    assert_eq!(
        ask(&z, "1.0.0.10.s.test").2,
        ["mail me @ key=require"],
        "ip4set: text"
    );
    // The tarpit: the answer is held back, the listing answered.
    let question = Question {
        name: NameBuf::from_name(&Name::parse("5.0.0.10.t4.test").unwrap()),
        qtype: rtype::TXT,
        qclass: answer::CLASS_IN,
    };
    let held = answer::resolve(&z.snapshot, &question, IpAddr::from([127, 0, 0, 1]), NOW);
    assert_eq!(held.hold, answer::Hold(2));
    let question = Question {
        name: NameBuf::from_name(&Name::parse("2.0.0.10.t4.test").unwrap()),
        ..question
    };
    let now = answer::resolve(&z.snapshot, &question, IpAddr::from([127, 0, 0, 1]), NOW);
    assert_eq!(now.hold, answer::Hold::NOW);
}

/// A cooldown that ends after the load is a change to come: the zone is rebuilt then,
/// and the entries still cooling are part of what the zone is made from.
#[test]
fn a_cooldown_to_come_is_a_change_to_come() {
    let options = ParseOptions {
        now: 1_800_000_000,
        ..ParseOptions::default()
    };
    let parsed = parse_bytes(
        b"10.0.0.1 x @ ts=1800000000;delay=60\n10.0.0.2 x @ ts=1700000000;delay=60\n",
        "c",
        DatasetKind::Ip4Trie,
        &options,
    );
    assert!(parsed.diagnostics.is_clean());
    assert_eq!(
        (parsed.cooling, parsed.next_change),
        (1, Some(1_800_000_060))
    );
    let ward = parse_bytes(
        b"10.0.0.1 ts=1800000000 delay=2m\n",
        "c",
        DatasetKind::Ward,
        &options,
    );
    assert_eq!((ward.cooling, ward.next_change), (1, Some(1_800_000_120)));
}

/// The rspamd fork's `dnhash`: `dnset`'s names, wildcards and exclusions, `$` as the
/// entry's name, per-entry parameters, and the last line of a name deciding.
#[test]
fn dnhash_as_the_fork_reads_it() {
    const NOW: i64 = 1_800_000_000;
    let data = format!(
        ":2:Domain $ is listed\n\
         listed.tld\n\
         *.wild.tld :3:WILD\n\
         .wild2.tld :3:WILD2 $\n\
         !excluded.wild2.tld\n\
         twice.tld :3:first\n\
         twice.tld :3:second\n\
         !back.tld\n\
         back.tld :3:relisted\n\
         gone.tld :3:listed\n\
         !gone.tld\n\
         cooldown.tld COOLDOWN @ ts={NOW};delay=60s\n\
         ready.tld READY @ ts={};delay=60s\n\
         needkey.tld NEEDKEY @ key=require\n\
         plain.tld @ delay=1s\n",
        NOW - 120
    );
    let z = zones(&[("h.test.dnhash", data.as_bytes())]);
    assert_eq!(
        ask(&z, "listed.tld.h.test").2,
        ["Domain listed.tld is listed"]
    );
    assert_eq!(ask(&z, "x.wild.tld.h.test").2, ["WILD"]);
    assert!(
        ask(&z, "wild.tld.h.test").2.is_empty(),
        "*. lists the names below only"
    );
    assert_eq!(ask(&z, "wild2.tld.h.test").2, ["WILD2 wild2.tld"]);
    assert_eq!(
        ask(&z, "X.Wild2.TLD.h.test").2,
        ["WILD2 wild2.tld"],
        "$ is the entry"
    );
    assert_eq!(ask(&z, "excluded.wild2.tld.h.test").0, rcode::NXDOMAIN);
    assert_eq!(
        ask(&z, "twice.tld.h.test").2,
        ["second"],
        "the last line wins"
    );
    assert_eq!(ask(&z, "back.tld.h.test").2, ["relisted"]);
    assert_eq!(ask(&z, "gone.tld.h.test").0, rcode::NXDOMAIN);
    assert_eq!(ask(&z, "cooldown.tld.h.test").0, rcode::NXDOMAIN);
    assert_eq!(ask(&z, "ready.tld.h.test").2, ["READY"]);
    assert_eq!(ask(&z, "needkey.tld.h.test").0, rcode::NXDOMAIN);
    assert_eq!(
        ask(&z, "plain.tld.h.test").2,
        ["Domain plain.tld is listed"]
    );
    // The same lines in a dnset: every value of a name, an exclusion winning, `@` text.
    let z = zones(&[("s.test.dnset", data.as_bytes())]);
    assert_eq!(ask(&z, "twice.tld.s.test").2, ["first", "second"]);
    assert_eq!(ask(&z, "back.tld.s.test").0, rcode::NXDOMAIN);
    assert_eq!(ask(&z, "needkey.tld.s.test").2, ["NEEDKEY @ key=require"]);
}

/// rbldnsd takes no SOA or NS from an acl file: a zone's come from its data, whatever
/// the order of the files (the rspamd fork's suite writes a header into every file).
#[test]
fn acl_files_give_no_soa() {
    let options = ParseOptions::default();
    let parsed = parse_bytes(
        b"$SOA 0 acl.example. hostmaster.example. 7 1h 1h 2d 1h\n127.0.0.1 :refuse\n",
        "a",
        DatasetKind::Acl,
        &options,
    );
    assert!(parsed.soa.is_none());
    assert!(parsed.diagnostics.is_clean());
    assert_eq!(parsed.diagnostics.warnings.len(), 1);
    assert!(parsed.acl.is_some());
}
