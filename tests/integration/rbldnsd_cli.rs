//! `ward rbldnsd`: rbldnsd's command line, served as rbldnsd would serve it — its
//! options, its zone specs with the files where they are, its answers (no test
//! points, NXDOMAIN for empty non-terminals), its leniency, its exit codes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

const WAIT: Duration = Duration::from_secs(60);
const HEADER: &str =
    "\n$SOA 0 example.org. hostmaster.example.com. 0 1h 1h 2d 1h\n$NS 1d ns0.example.org\n";

fn ward_rbldnsd(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("rbldnsd")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Every address it serves on, from its log.
fn addresses(ward: &WardProcess, count: usize) -> Vec<SocketAddr> {
    ward.wait_for("serving on UDP and TCP", WAIT);
    let mut found = Vec::new();
    eventually(WAIT, "every address logged", || {
        found = ward
            .log()
            .lines()
            .filter(|l| l.contains("serving on UDP and TCP"))
            .filter_map(|l| l[l.find("addr=")? + 5..].trim().parse().ok())
            .collect();
        found.len() >= count
    });
    found
}

fn ask(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let request = query_message(name, rtype, false).to_vec().unwrap();
    let source = if addr.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = std::net::UdpSocket::bind(source).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&request, addr).unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buf).expect("a reply");
    Message::from_vec(&buf[..len]).unwrap()
}

#[test]
fn help_and_the_options_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let help = ward_rbldnsd(&["-h"], dir.path());
    assert!(help.status.success());
    let usage = String::from_utf8_lossy(&help.stdout);
    assert!(usage.contains("\n -6 "), "{usage}");
    assert!(usage.contains("\n -b address[/port]"), "{usage}");
    let nothing = ward_rbldnsd(&[], dir.path());
    assert_eq!(nothing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("Usage is"));
    for (args, said) in [
        (&["-Z"][..], "invalid option -- 'Z'"),
        (&["-b", "::1"], "no zone(s) to service specified"),
        (&["z.test:ip4set:f"], "no address to listen on (-b option)"),
        (
            &["-b", "/5300", "z.test:ip4set:f"],
            "missing host part in bind address `/5300'",
        ),
        (
            &["-b", "/run/rbldnsd.sock", "z.test:ip4set:f"],
            "Unix sockets",
        ),
        (
            &["-b", "::1", "z.test:ip5set:f"],
            "unknown dataset type `ip5set'",
        ),
        (
            &["-p", "/run/x.pid", "-b", "::1", "z.test:ip4set:f"],
            "-p: ward keeps no pid file",
        ),
        (
            &["-a", "-b", "::1", "z.test:ip4set:f"],
            "-a: ward never adds NS records",
        ),
        (
            &["-U", "x", "-b", "::1", "z.test:ip4set:f"],
            "-U: ward takes no dynamic updates",
        ),
        (
            &[
                "-b",
                "::1",
                "z.test:acl:a",
                "z.test:acl:b",
                "z.test:ip4set:f",
            ],
            "repeated ACL definition",
        ),
        (
            &["-b", "::1", "z.test:aclkey:k"],
            "missing data for zone z.test",
        ),
    ] {
        let output = ward_rbldnsd(args, dir.path());
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

/// The fork's suite's way: files without a last newline, a header starting with an
/// empty line, `-b localhost/PORT` (both loopbacks), `-n`; answers as rbldnsd's (no
/// RFC 5782 test points, NXDOMAIN for a name with only a wildcard below it); a bad
/// line skipped with a warning naming file:line; SIGTERM ends it with status 0.
#[test]
fn serves_the_files_where_they_are_as_rbldnsd() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_files(
        &data,
        &[
            (
                "trie",
                &format!("{HEADER}0/0 wild\n127.0.0.1 localhost\n300.1.2.3 bad\n!1.2.3.4"),
            ),
            (
                "names",
                &format!("{HEADER}*.wild.tld WILD\n.wild2.tld WILD2\n!excluded.wild2.tld"),
            ),
            ("keys", ":refuse\nsecret :pass"),
        ],
    );
    let spec =
        |zone: &str, kind: &str, file: &str| format!("{zone}:{kind}:{}", data.join(file).display());
    let mut ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "rbldnsd",
            "-b",
            "localhost/0",
            "-n",
            &spec("example.com", "ip4trie", "trie"),
            &spec("names.example", "dnhash", "names"),
            &spec("", "aclkey", "keys"),
        ],
    );
    let addrs = addresses(&ward, 2);
    assert!(addrs.iter().any(SocketAddr::is_ipv4), "{addrs:?}");
    assert!(
        addrs.iter().any(SocketAddr::is_ipv6),
        "localhost is ::1 too: {addrs:?}"
    );
    let warning = ward.wait_for("trie:6:1", WAIT);
    assert!(
        warning.contains("WARN") && warning.contains("line skipped"),
        "{warning}"
    );
    for addr in &addrs {
        let txt = |name: &str| txt_records(&ask(*addr, name, RecordType::TXT));
        // Keyed everywhere (the aclkey for every zone), the key removed.
        assert_eq!(
            txt("1.0.0.127.secret.example.com."),
            ["localhost"],
            "no test point"
        );
        assert_eq!(txt("2.0.0.127.secret.example.com."), ["wild"]);
        assert_eq!(
            rcode(&ask(*addr, "4.3.2.1.secret.example.com.", RecordType::TXT)),
            ResponseCode::NXDomain
        );
        assert_eq!(txt("x.wild.tld.secret.names.example."), ["WILD"]);
        assert_eq!(
            rcode(&ask(
                *addr,
                "wild.tld.secret.names.example.",
                RecordType::TXT
            )),
            ResponseCode::NXDomain,
            "an empty non-terminal: NXDOMAIN, as rbldnsd says"
        );
        assert_eq!(
            rcode(&ask(*addr, "x.wild.tld.names.example.", RecordType::TXT)),
            ResponseCode::Refused,
            "no key"
        );
        assert_eq!(
            rcode(&ask(*addr, "dummy.nonexisting.zone.", RecordType::TXT)),
            ResponseCode::Refused
        );
    }
    // rbldnsd's statistics signals do not end it; SIGTERM does, with status 0.
    ward.signal("USR1");
    ward.signal("USR2");
    ward.wait_for("SIGUSR2", WAIT);
    assert_eq!(
        txt_records(&ask(
            addrs[0],
            "1.0.0.127.secret.example.com.",
            RecordType::TXT
        )),
        ["localhost"]
    );
    ward.signal("TERM");
    let status = ward.wait_exit(WAIT).expect("it stops");
    assert_eq!(status.code(), Some(0));
}

/// A zone whose file cannot be read stops the start (rbldnsd: "zone loading errors,
/// aborting"), unless `-q`; then the other zones are served.
#[test]
fn a_zone_that_does_not_load_stops_the_start_unless_quick() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("good", "192.0.2.1 :2:good")]);
    let args = [
        "-n",
        "-b",
        "127.0.0.1/0",
        "good.test:ip4set:good",
        "gone.test:ip4set:missing",
    ];
    let output = ward_rbldnsd(&args, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("zone loading errors, aborting: gone.test"),
        "{stderr}"
    );
    assert!(stderr.contains("missing: cannot read"), "{stderr}");
    let mut quick = vec!["rbldnsd", "-q"];
    quick.extend(args);
    let ward = WardProcess::spawn(dir.path(), "", &quick);
    let addr = ward.addr();
    assert_eq!(
        txt_records(&ask(addr, "1.2.0.192.good.test.", RecordType::TXT)),
        ["good"]
    );
}

/// `-w` is where relative file names start; `-t` sets the default TTL and bounds every
/// TTL; `-l` logs every query in rbldnsd's form (a key never), `-s` appends a
/// statistics line every `-c`.
#[test]
fn workdir_ttls_query_log_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("lists/ips", "192.0.2.1 :2:listed\n"),
            ("lists/generic", "$TTL 10\nshort A 127.0.0.9\n"),
            ("lists/keys", ":pass\nsecret :pass\n"),
        ],
    );
    // Started as root, it runs as rbldns (if there is one), which writes the
    // statistics there, as rbldnsd would.
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(dir.path(), 0o755);
    mode(&dir.path().join("lists"), 0o777);
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "rbldnsd",
            "-n",
            "-w",
            "lists",
            "-b",
            "127.0.0.1/0",
            "-t",
            "1h:1m:2h",
            "-c",
            "1",
            "-l",
            "+queries.log",
            "-s",
            "stats.log",
            "bl.test:ip4set:ips",
            "bl.test:generic:generic",
            "bl.test:aclkey:keys",
        ],
    );
    let addr = ward.addr();
    let listed = ask(addr, "1.2.0.192.secret.bl.test.", RecordType::A);
    assert_eq!(a_records(&listed), ["127.0.0.2"]);
    assert_eq!(listed.answers[0].ttl, 3600, "the default TTL");
    let short = ask(addr, "short.bl.test.", RecordType::A);
    assert_eq!(short.answers[0].ttl, 60, "raised to the minimum");
    assert_eq!(
        rcode(&ask(addr, "9.9.9.9.bl.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
    let log_path = dir.path().join("lists/queries.log");
    let mut log = String::new();
    eventually(WAIT, "three queries logged", || {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        log.lines().count() >= 3
    });
    let first: Vec<&str> = log.lines().next().unwrap().split(' ').collect();
    assert!(first[0].parse::<u64>().is_ok(), "{log}");
    assert_eq!(
        &first[1..],
        [
            "127.0.0.1",
            "1.2.0.192.[key].bl.test",
            "A",
            "IN:",
            &format!("NOERROR/1/{}", first[5].rsplit('/').next().unwrap())
        ],
        "{log}"
    );
    assert!(log.contains(" 9.9.9.9.bl.test A IN: NXDOMAIN/0/"), "{log}");
    assert!(!log.contains("secret"), "{log}");
    let stats_path = dir.path().join("lists/stats.log");
    let mut stats = String::new();
    eventually(WAIT, "a statistics line with the queries", || {
        stats = std::fs::read_to_string(&stats_path).unwrap_or_default();
        stats.lines().any(|l| l.contains(" bl.test:3:2:1:"))
    });
    let line = stats
        .lines()
        .find(|l| l.contains(" bl.test:3:2:1:"))
        .unwrap();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "time, the zone, all zones: {line}");
    let zone: Vec<u64> = fields[1]
        .trim_start_matches("bl.test:")
        .split(':')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(zone[3] > 0 && zone[4] > zone[3], "bytes in and out: {line}");
    assert!(fields[2].starts_with("*:3:2:1:"), "{line}");
}

/// `-r` chroots (after the names are resolved and the user looked up), `-u` names the
/// user once the sockets are bound. Root only: elsewhere there is nothing to test.
#[test]
fn chroot_and_user() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root {
        eprintln!("chroot_and_user: not root, nothing to test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("lists/ips", "192.0.2.1 :2:jailed\n")]);
    let jail = dir.path().to_str().unwrap();
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "rbldnsd",
            "-n",
            "-u",
            "nobody",
            "-r",
            jail,
            "-w",
            "/lists",
            "-b",
            "localhost/0",
            "-4",
            "bl.test:ip4set:ips",
        ],
    );
    let addrs = addresses(&ward, 1);
    assert!(addrs.iter().all(SocketAddr::is_ipv4), "-4: {addrs:?}");
    assert_eq!(
        txt_records(&ask(addrs[0], "1.2.0.192.bl.test.", RecordType::TXT)),
        ["jailed"]
    );
    // The user changes once every socket is bound.
    ward.wait_for("running as", WAIT);
    let proc_status = std::fs::read_to_string(format!("/proc/{}/status", ward.pid())).unwrap();
    let uid = proc_status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .unwrap();
    assert_ne!(uid, "0", "{proc_status}");
    let jailed_root = std::fs::read_link(format!("/proc/{}/root", ward.pid())).unwrap();
    assert_eq!(jailed_root, dir.path().canonicalize().unwrap());
}
