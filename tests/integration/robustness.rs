//! What an attacker or a careless admin can do to a running ward, one test each: the
//! regressions of the robustness probe (issue 10) and the resource bounds that keep
//! them fixed. Waits are bounded liveness checks, never speed assertions.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

const WAIT: Duration = Duration::from_secs(20);

/// A list big enough that the first load takes a moment (a debug build reads it in
/// about a second): signals sent right after "loading zones" land during the load.
fn big_ip4set() -> String {
    let mut text = String::with_capacity(6_000_000);
    text.push_str(":127.0.0.2:listed\n");
    for i in 0..400_000u32 {
        let [a, b, c, d] = (0x0a00_0000 | (i * 7)).to_be_bytes();
        text.push_str(&format!("{a}.{b}.{c}.{d}\n"));
    }
    text
}

fn ask_a(addr: std::net::SocketAddr, name: &str) -> Option<Message> {
    let request = query_message(name, RecordType::A, false).to_vec().unwrap();
    let reply = raw_udp(addr, &request, Duration::from_secs(2))?;
    Message::from_vec(&reply).ok()
}

/// Regression: SIGHUP during the first load killed ward (status 129): the handler was
/// installed after loading. It is now remembered and acted on once serving.
#[test]
fn sighup_during_the_first_load_is_survived_and_acted_on() {
    let dir = zones_dir(&[("big.test.ip4set", &big_ip4set())]);
    let ward = WardProcess::spawn(dir.path(), "", &["serve", "--listen", "127.0.0.1:0"]);
    ward.wait_for("loading zones", WAIT);
    ward.signal("HUP");
    let addr = ward.addr();
    let reply = ask_a(addr, &ip4_name("10.0.0.7", "big.test")).expect("an answer");
    assert_eq!(a_records(&reply), ["127.0.0.2"]);
    let log = ward.log();
    assert!(
        log.contains("SIGHUP during the first load") || log.contains("SIGHUP: reloading"),
        "{log}"
    );
}

/// Regression: SIGTERM during the first load must stop ward cleanly, status 0.
#[test]
fn sigterm_during_the_first_load_exits_cleanly() {
    let dir = zones_dir(&[("big.test.ip4set", &big_ip4set())]);
    let mut ward = WardProcess::spawn(dir.path(), "", &["serve", "--listen", "127.0.0.1:0"]);
    ward.wait_for("loading zones", WAIT);
    ward.signal("TERM");
    let status = ward.wait_exit(WAIT).expect("ward stops");
    assert!(status.success(), "{status:?}\n{}", ward.log());
}

/// Regression: with few descriptors and more TCP clients than they allow, the accept
/// loop spun a core (31k failed accept4 a second), new clients timed out and reloads
/// failed with "Too many open files". Now the oldest idle connection makes room, a
/// reserve is kept for reloads, and the descriptor use stays bounded.
#[test]
fn tcp_clients_beyond_the_descriptor_limit_neither_spin_nor_starve() {
    let dir = zones_dir(&[("t.test.zone", "192.0.2.1 :2:before\n")]);
    let ward = WardProcess::spawn(
        dir.path(),
        "ulimit -n 256;",
        &["serve", "--listen", "127.0.0.1:0", "--debounce", "50"],
    );
    let addr = ward.addr();
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..300 {
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            idle.push(stream);
        }
    }
    // Let it take (and turn away) what it can, then watch it for a while.
    std::thread::sleep(Duration::from_millis(500));
    let before = ward.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let spent = ward.cpu_ticks() - before;
    // 100 ticks a second: a spinning accept loop burns ~200 here.
    assert!(
        spent < 60,
        "ward used {spent} ticks of CPU in 2 s while idle"
    );
    let descriptors = ward.open_descriptors();
    assert!(descriptors < 256 - 32, "{descriptors} descriptors open");
    // A new client is served (the oldest idle connection made room).
    let request = query_message(&ip4_name("192.0.2.1", "t.test"), RecordType::A, false);
    let reply = raw_tcp_from("127.0.0.1", addr, &request.to_vec().unwrap())
        .expect("a new TCP client is answered");
    assert_eq!(
        a_records(&Message::from_vec(&reply).unwrap()),
        ["127.0.0.2"]
    );
    // And reloads still open files.
    std::fs::write(dir.path().join("zones/t.test.zone"), "192.0.2.1 :3:after\n").unwrap();
    eventually(WAIT, "the reload under descriptor pressure", || {
        ask_a(addr, &ip4_name("192.0.2.1", "t.test"))
            .is_some_and(|m| a_records(&m) == ["127.0.0.3"])
    });
    drop(idle);
}

/// An idle client, and one that sends a byte at a time, are closed at the idle timeout.
#[test]
fn slow_and_idle_tcp_clients_are_closed_at_the_timeout() {
    let dir = zones_dir(&[("t.test.zone", "192.0.2.1 :2:x\n")]);
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tcp-idle-timeout",
            "1",
        ],
    );
    let addr = ward.addr();
    let mut idle = TcpStream::connect(addr).unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let packet = query_message(&ip4_name("192.0.2.1", "t.test"), RecordType::A, false)
        .to_vec()
        .unwrap();
    let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
    frame.extend(packet);
    // One byte every 300 ms: the message would take ~10 s; the server stops waiting.
    let mut closed = false;
    for byte in &frame {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > WAIT {
            break;
        }
    }
    let mut buf = [0u8; 64];
    slow.set_read_timeout(Some(WAIT)).unwrap();
    closed |= matches!(slow.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "the slow client was not cut off");
    assert!(
        matches!(idle.read(&mut buf), Ok(0)),
        "the idle client was not closed"
    );
    assert!(started.elapsed() < WAIT);
}

/// Regression: a zone rewritten faster than the debounce held back every other zone's
/// reload for as long as the writes went on. Each zone now waits only for its own
/// files, and a file that never goes quiet is read anyway after `max_wait`.
#[test]
fn a_busy_zone_does_not_starve_the_others() {
    let (_dir, zones) = write_zones(&[
        ("busy.test.zone", "192.0.2.1 :2:v0\n"),
        ("quiet.test.zone", "192.0.2.1 :2:before\n"),
    ]);
    let mut settings = reloading_settings(&zones, &["--debounce", "200"], "");
    // Not a setting of its own: shortened so the test need not wait the default 5 s.
    settings.reload.max_wait = Duration::from_secs(2);
    let s = TestServer::start(settings);
    let busy = s.zones.join("busy.test.zone");
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let writing = writing.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut version = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                version += 1;
                std::fs::write(&busy, format!("192.0.2.1 :2:v{version}\n")).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(s.zones.join("quiet.test.zone"), "192.0.2.1 :2:after\n").unwrap();
    let txt = |zone: &str| txt_records(&s.udp(&ip4_name("192.0.2.1", zone), RecordType::TXT));
    eventually(Duration::from_secs(5), "the quiet zone's change", || {
        txt("quiet.test") == ["after"]
    });
    // The busy zone is read anyway, while it is still being written.
    eventually(
        Duration::from_secs(10),
        "the never-quiet zone read anyway",
        || txt("busy.test") != ["v0"],
    );
    assert!(
        !writer.is_finished(),
        "the writer was still busy throughout"
    );
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

/// Regression: one unreadable zone directory froze every zone's reloads. Run as an
/// unprivileged user (as in the Docker image); the unreadable zone keeps its last data,
/// the others keep updating.
#[test]
fn an_unreadable_zone_directory_does_not_freeze_the_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = zones_dir(&[
        ("locked.test/a.zone", "192.0.2.1 :2:locked\n"),
        ("open.test.zone", "192.0.2.1 :2:before\n"),
    ]);
    // Readable by the unprivileged user ward runs as below.
    for path in [dir.path().to_path_buf(), dir.path().join("zones")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for file in ["locked.test/a.zone", "open.test.zone"] {
        let path = dir.path().join("zones").join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let as_root = nix_euid() == 0;
    let prefix = if as_root {
        "setpriv --reuid=65534 --regid=65534 --clear-groups"
    } else {
        ""
    };
    let ward = WardProcess::spawn_wrapped(
        dir.path(),
        "",
        prefix,
        &["serve", "--listen", "127.0.0.1:0", "--debounce", "50"],
    );
    let addr = ward.addr();
    let txt = |zone: &str| {
        let request = query_message(&ip4_name("192.0.2.1", zone), RecordType::TXT, false);
        raw_udp(addr, &request.to_vec().unwrap(), Duration::from_secs(2))
            .map(|r| txt_records(&Message::from_vec(&r).unwrap()))
    };
    assert_eq!(txt("locked.test").unwrap(), ["locked"]);
    let locked = dir.path().join("zones/locked.test");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::write(
        dir.path().join("zones/open.test.zone"),
        "192.0.2.1 :2:after\n",
    )
    .unwrap();
    eventually(WAIT, "the other zone updates", || {
        txt("open.test").is_some_and(|t| t == ["after"])
    });
    ward.wait_for("cannot list this zone's directory", WAIT);
    assert_eq!(
        txt("locked.test").unwrap(),
        ["locked"],
        "the last data is served"
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!ward.log().contains("keeping every zone as it is"));
}

fn nix_euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Bounded memory under a stream of garbage and odd queries: after a warm-up, 100,000
/// more packets leave the resident size where it was (give or take 4 MB).
#[test]
fn memory_stays_bounded_under_any_packet_stream() {
    let dir = zones_dir(&[(
        "m.test.zone",
        "192.0.2.0/24 :2:listed $\nspam.example :3:x\n",
    )]);
    let ward = WardProcess::spawn(dir.path(), "", &["serve", "--listen", "127.0.0.1:0"]);
    let addr = ward.addr();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut send = |count: usize| {
        let mut buf = [0u8; 2048];
        for i in 0..count {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let packet = match i % 4 {
                0 => query_message(
                    &format!("{}.{}.2.0.192.m.test.", seed % 256, seed % 7),
                    RecordType::TXT,
                    i % 8 == 0,
                )
                .to_vec()
                .unwrap(),
                1 => seed.to_be_bytes().repeat(1 + (seed % 64) as usize),
                2 => {
                    let mut p = query_message("x.spam.example.m.test.", RecordType::ANY, true)
                        .to_vec()
                        .unwrap();
                    let at = (seed % p.len() as u64) as usize;
                    p[at] ^= (seed >> 8) as u8;
                    p
                }
                _ => query_message(".", RecordType::SOA, false).to_vec().unwrap(),
            };
            let _ = socket.send_to(&packet, addr);
            // Drain replies so our own buffer never blocks the sends.
            while socket.recv_from(&mut buf).is_ok() {}
            if i % 256 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    send(20_000);
    let warm = ward.status_kb("VmRSS");
    send(100_000);
    let after = ward.status_kb("VmRSS");
    assert!(
        after < warm + 4096,
        "resident size grew from {warm} kB to {after} kB"
    );
    assert!(ask_a(addr, &ip4_name("192.0.2.9", "m.test")).is_some());
}

/// A directory with a data file's name inside a zone, a byte-order mark, and `::/0`:
/// each said by `ward check`, none silent.
#[test]
fn check_names_what_it_skips_and_what_lists_too_much() {
    let dir = zones_dir(&[
        ("a.test/real.ip4set", "\u{feff}192.0.2.1\n"),
        ("b.test.ip6trie", "::/0 :2:everything\n"),
    ]);
    std::fs::create_dir_all(dir.path().join("zones/a.test/sub.ip4set")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("sub.ip4set") && text.contains("not read"),
        "{text}"
    );
    assert!(
        text.contains("a.test: 1 entries"),
        "the BOM line loads: {text}"
    );
    assert!(text.contains("::FFFF:7F00:1 (IPv6) is listed"), "{text}");
}

/// Regression: a 70 KB TXT passed `ward check` and was served cut at 4,000 bytes,
/// with no line or column. Now a text over 4,000 bytes is an error at its position, a
/// line over 16 KiB one at its line, and a text that only grows past the limit once
/// `$=` is expanded a warning at its line.
#[test]
fn txt_texts_past_the_limit_are_named_with_their_position() {
    let long = "x".repeat(10_000);
    let huge = "x".repeat(70_000);
    let base = "y".repeat(3_000);
    let dir = zones_dir(&[
        ("long.test.zone", &format!("192.0.2.1 :2:{long}\n")),
        ("huge.test.zone", &format!("192.0.2.1 :2:{huge}\n")),
        (
            "base.test.ip4set",
            &format!("$= {base} $=\n192.0.2.1 :2:{}\n", "z".repeat(2_000)),
        ),
    ]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("long.test.zone:1:14: TXT text of 10000 bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("huge.test.zone:1:16385: line longer than 16384 bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("base.test.ip4set:2:1: this TXT text is 5001 bytes once $= and the $n variables are expanded"),
        "{stderr}"
    );
}

/// Regression: a small gzip file expanding to one 256 MiB line raised ward's memory by
/// 206 MiB before failing. Under a 300 MiB address-space limit `ward check` now reports
/// it and exits 1 instead of running out of memory.
#[test]
fn a_gzip_bomb_of_one_endless_line_is_reported_in_bounded_memory() {
    let dir = zones_dir(&[("ok.test.zone", "192.0.2.1\n")]);
    let bomb = dir.path().join("zones/bomb.test.ip4set.gz");
    let made = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "head -c 268435456 /dev/zero | tr '\\000' '1' | gzip -1 > '{}'",
                bomb.display()
            ),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -v 307200; exec '{}' check",
                env!("CARGO_BIN_EXE_ward")
            ),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("expands to more than") || stderr.contains("longer than"),
        "{stderr}"
    );
}

/// A zone whose last file is deleted is served empty, but the log says so.
#[test]
fn a_zone_that_shrinks_to_nothing_is_logged() {
    let dir = zones_dir(&[
        ("d.test/a.ip4set", "192.0.2.1\n192.0.2.2\n"),
        ("d.test/keep.txt", "not data\n"),
    ]);
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &["serve", "--listen", "127.0.0.1:0", "--debounce", "50"],
    );
    let addr = ward.addr();
    std::fs::remove_file(dir.path().join("zones/d.test/a.ip4set")).unwrap();
    ward.wait_for("this zone now lists nothing (it had 2 entries)", WAIT);
    let reply = ask_a(addr, &ip4_name("192.0.2.1", "d.test")).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

/// A panic while one file is parsed (a test-only fault) fails that zone alone, at
/// start and on reload; no other zone's data is shifted onto it, and reloading goes on.
#[test]
fn a_parser_panic_fails_its_zone_only_and_reloading_goes_on() {
    let dir = zones_dir(&[
        ("a.test/1.ip4set", ":2:a1\n192.0.2.1\n"),
        ("a.test/2.ip4set", ":3:a2\n192.0.2.2\n"),
        ("b.test/1.ip4set", ":4:b1\n192.0.2.1\n"),
        ("c.test.zone", "192.0.2.1 :5:c\n"),
    ]);
    let zones = dir.path().join("zones");
    let s = TestServer::start(reloading_settings(&zones, &["--debounce", "50"], ""));
    let a = |ip: &str, zone: &str| a_records(&s.udp(&ip4_name(ip, zone), RecordType::A));
    assert_eq!(a("192.0.2.1", "b.test"), ["127.0.0.4"]);
    // A file of b.test starts to panic its parser: b.test keeps its data.
    std::fs::rename(
        zones.join("b.test/1.ip4set"),
        zones.join("b.test/ward-fault-injection-panic.ip4set"),
    )
    .unwrap();
    std::fs::write(zones.join("c.test.zone"), "192.0.2.1 :6:c2\n").unwrap();
    eventually(WAIT, "c.test reloads", || {
        a("192.0.2.1", "c.test") == ["127.0.0.6"]
    });
    eventually(WAIT, "b.test's failure counted", || {
        s.reload_stats()
            .zone("b.test")
            .is_some_and(|z| z.last_error.is_some_and(|e| e.contains("internal error")))
    });
    assert_eq!(a("192.0.2.1", "b.test"), ["127.0.0.4"], "last good data");
    assert_eq!(a("192.0.2.2", "a.test"), ["127.0.0.3"], "a.test untouched");
    // Fixed: it loads again.
    std::fs::rename(
        zones.join("b.test/ward-fault-injection-panic.ip4set"),
        zones.join("b.test/1.ip4set"),
    )
    .unwrap();
    std::fs::write(
        zones.join("b.test/1.ip4set"),
        ":4:b1\n192.0.2.1\n192.0.2.9\n",
    )
    .unwrap();
    eventually(WAIT, "b.test reloads again", || {
        a("192.0.2.9", "b.test") == ["127.0.0.4"]
    });
}

/// At startup the same: the zone with the panicking file is an error naming it, and the
/// other zones load with their own files.
#[test]
fn a_parser_panic_at_startup_names_the_file() {
    let dir = zones_dir(&[
        ("a.test/1.ip4set", ":2:a1\n192.0.2.1\n"),
        ("a.test/ward-fault-injection-panic.ip4set", "192.0.2.2\n"),
        ("b.test/1.ip4set", ":4:b1\n192.0.2.1\n"),
    ]);
    let loader = ward::Loader {
        dir: dir.path().join("zones"),
        options: ward::LoadOptions::default(),
        lenient: true,
    };
    let load = loader.load_all().unwrap();
    let errors: Vec<String> = load.errors().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("ward-fault-injection-panic.ip4set: internal error"),
        "{errors:?}"
    );
    let b = load
        .zones
        .iter()
        .find(|z| z.name.to_string() == "b.test")
        .unwrap();
    assert_eq!(b.entries, 1);
    assert!(b.diagnostics.errors.is_empty());
}

/// dig asks for port 0 with `SO_REUSEPORT`; Linux may then give it a port ward holds
/// with the same option, and dig, connected to that port, reads its own query back
/// (";; Warning: query response not set"). A port ward picked itself is held alone.
#[test]
fn a_picked_port_is_shared_with_no_client() {
    let server = TestServer::shipped();
    for local in ["0.0.0.0", "127.0.0.1"] {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .unwrap();
        socket.set_reuse_port(true).unwrap();
        let addr: std::net::SocketAddr = format!("{local}:{}", server.addr.port()).parse().unwrap();
        let bound = socket.bind(&addr.into());
        assert_eq!(
            bound.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::AddrInUse),
            "{addr}: a client socket could share ward's port"
        );
    }
    let reply = server.udp("7.113.0.203.ips.block.example", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 1);
}
