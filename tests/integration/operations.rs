//! Running ward in production: metrics, response rate limiting, the service manager's
//! protocol, privilege drop, graceful stop, health checks and logs. Real sockets; waits
//! are bounded liveness checks, never speed assertions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

const WAIT: Duration = Duration::from_secs(20);

/// Serves `files` with metrics on (as `--metrics` turns them on) and `toml`.
fn server_with_metrics(files: &[(&str, &str)], toml: &str) -> TestServer {
    TestServer::with_files_and(files, &["--metrics", "127.0.0.1:0"], toml)
}

fn scrape(server: &TestServer) -> String {
    let (status, body) = http_get(server.metrics.expect("metrics on"), "/metrics").expect("scrape");
    assert_eq!(status, 200);
    body
}

/// The metrics move by exactly the queries sent, per label.
#[test]
fn metrics_count_exactly_the_queries_sent() {
    let s = server_with_metrics(
        &[
            ("m.test.zone", "192.0.2.1 :2:listed\n"),
            ("n.test.zone", "x.example :3:n\n"),
        ],
        "",
    );
    let before = scrape(&s);
    for _ in 0..7 {
        s.udp(&ip4_name("192.0.2.1", "m.test"), RecordType::A);
    }
    for _ in 0..5 {
        s.udp(&ip4_name("192.0.2.9", "m.test"), RecordType::TXT);
    }
    for _ in 0..3 {
        s.tcp(&ip4_name("192.0.2.1", "m.test"), RecordType::TXT);
    }
    for _ in 0..2 {
        s.udp("x.example.n.test.", RecordType::ANY);
        s.udp("example.org.", RecordType::A);
    }
    let after = scrape(&s);
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    let responses = |zone: &str, proto: &str, qtype: &str, rcode: &str, listed: bool| {
        delta(&format!(
            "ward_dns_responses_total{{zone=\"{zone}\",proto=\"{proto}\",type=\"{qtype}\",rcode=\"{rcode}\",listed=\"{listed}\"}}"
        ))
    };
    assert_eq!(
        responses("m.test", "udp", "A", "NOERROR", true),
        7,
        "{after}"
    );
    assert_eq!(responses("m.test", "udp", "TXT", "NXDOMAIN", false), 5);
    assert_eq!(responses("m.test", "tcp", "TXT", "NOERROR", true), 3);
    assert_eq!(responses("n.test", "udp", "ANY", "NOERROR", true), 2);
    assert_eq!(responses("", "udp", "A", "REFUSED", false), 2);
    assert_eq!(
        delta("ward_dns_requests_total{zone=\"m.test\",proto=\"udp\",type=\"TXT\"}"),
        5
    );
    assert!(delta("ward_dns_response_bytes_total{proto=\"udp\"}") > 0);
    assert_eq!(sample(&after, "ward_zone_entries{zone=\"m.test\"}"), 1);
    assert!(after.contains("ward_build_info{version="));
    assert!(after.contains("process_resident_memory_bytes"));
    let (status, _) = http_get(s.metrics.unwrap(), "/healthz").unwrap();
    assert_eq!(status, 200);
}

/// A flood from one client is limited and slipped (TC=1, so a real resolver retries
/// over TCP), while another client is answered normally, and the flooding client is
/// still answered over TCP.
#[test]
fn rate_limiting_limits_the_flooder_only() {
    let s = server_with_metrics(
        &[("r.test.zone", "192.0.2.1 :2:listed\n")],
        "[rrl]\nrate = 5\nburst = 5\nslip = 2\nipv4_prefix = 32\n",
    );
    let name = ip4_name("192.0.2.1", "r.test");
    let packet = query_message(&name, RecordType::A, false).to_vec().unwrap();
    let flooder = UdpSocket::bind("127.0.0.2:0").unwrap();
    flooder
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for _ in 0..100 {
        flooder.send_to(&packet, s.addr).unwrap();
    }
    let (mut full, mut slipped) = (0, 0);
    let mut buf = [0u8; 1500];
    while let Ok((len, _)) = flooder.recv_from(&mut buf) {
        let reply = Message::from_vec(&buf[..len]).unwrap();
        if reply.metadata.truncation {
            assert!(reply.answers.is_empty());
            slipped += 1;
        } else {
            assert_eq!(a_records(&reply), ["127.0.0.2"]);
            full += 1;
        }
    }
    // The burst (5, and one more as the rate refills) answers, then every second
    // limited response slips.
    assert!((5..=12).contains(&full), "{full} full answers");
    assert!((40..=50).contains(&slipped), "{slipped} slipped");
    // Another client is not affected.
    for _ in 0..5 {
        let reply =
            raw_udp_from("127.0.0.3", s.addr, &packet, Duration::from_secs(2)).expect("answered");
        let reply = Message::from_vec(&reply).unwrap();
        assert!(!reply.metadata.truncation);
        assert_eq!(a_records(&reply), ["127.0.0.2"]);
    }
    // TCP is never limited.
    for _ in 0..5 {
        let reply = raw_tcp_from("127.0.0.2", s.addr, &packet).expect("TCP answers");
        assert_eq!(
            a_records(&Message::from_vec(&reply).unwrap()),
            ["127.0.0.2"]
        );
    }
    let metrics = scrape(&s);
    assert_eq!(sample(&metrics, "ward_rrl_slipped_total"), slipped);
    assert_eq!(
        sample(&metrics, "ward_rrl_dropped_total"),
        100 - full - slipped
    );
}

/// `--rrl-log-only` answers everything and counts what it would have limited.
#[test]
fn rate_limiting_in_log_only_mode_answers_everything() {
    let s = server_with_metrics(
        &[("r.test.zone", "192.0.2.1 :2:listed\n")],
        "[rrl]\nrate = 2\nburst = 2\nlog_only = true\n",
    );
    let packet = query_message(&ip4_name("192.0.2.1", "r.test"), RecordType::A, false)
        .to_vec()
        .unwrap();
    for _ in 0..20 {
        let reply = raw_udp(s.addr, &packet, Duration::from_secs(2)).expect("answered");
        assert!(!Message::from_vec(&reply).unwrap().metadata.truncation);
    }
    assert!(sample(&scrape(&s), "ward_rrl_would_limit_total") >= 15);
}

/// `/readyz` is 503 while the first load runs, 200 once every zone is served.
#[test]
fn readiness_waits_for_the_first_load() {
    let mut text = String::from(":127.0.0.2:listed\n");
    for i in 0..400_000u32 {
        let [a, b, c, d] = (0x0a00_0000 | (i * 7)).to_be_bytes();
        text.push_str(&format!("{a}.{b}.{c}.{d}\n"));
    }
    let dir = zones_dir(&[("big.test.ip4set", &text)]);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let metrics = format!("127.0.0.1:{port}");
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &["serve", "--listen", "127.0.0.1:0", "--metrics", &metrics],
    );
    ward.wait_for("loading zones", WAIT);
    let metrics: SocketAddr = metrics.parse().unwrap();
    let (status, body) = http_get(metrics, "/readyz").expect("the listener is up first");
    assert_eq!(status, 503, "{body}");
    let (status, _) = http_get(metrics, "/healthz").unwrap();
    assert_eq!(status, 200, "alive while loading");
    eventually(WAIT, "ready", || {
        http_get(metrics, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    ward.addr();
}

/// SIGTERM with 50 TCP queries under way: every one is answered, and ward exits 0
/// within the grace period.
#[test]
fn sigterm_answers_the_tcp_queries_under_way() {
    let dir = zones_dir(&[("g.test.zone", "192.0.2.1 :2:listed\n")]);
    let mut ward = WardProcess::spawn(
        dir.path(),
        "",
        &["serve", "--listen", "127.0.0.1:0", "--grace", "10"],
    );
    let addr = ward.addr();
    let packet = query_message(&ip4_name("192.0.2.1", "g.test"), RecordType::A, false)
        .to_vec()
        .unwrap();
    let mut frame = (packet.len() as u16).to_be_bytes().to_vec();
    frame.extend(&packet);
    let mut clients: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            // The query starts: its first bytes are sent.
            stream.write_all(&frame[..5]).unwrap();
            stream
        })
        .collect();
    // Wait until ward has read the starts (every connection busy), then stop it.
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    ward.signal("TERM");
    ward.wait_for("stopping: answering what was received", WAIT);
    for stream in &mut clients {
        stream.write_all(&frame[5..]).unwrap();
    }
    for stream in &mut clients {
        let reply = read_tcp_message(stream).expect("the query under way is answered");
        assert_eq!(
            a_records(&Message::from_vec(&reply).unwrap()),
            ["127.0.0.2"]
        );
    }
    let status = ward.wait_exit(WAIT).expect("ward exits");
    assert!(status.success(), "{status:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(15),
        "within the grace period"
    );
    // An idle connection opened before the stop got no answer and was closed.
    let mut buf = [0u8; 2];
    assert!(
        TcpStream::connect(addr).is_err() || {
            let mut late = TcpStream::connect(addr).unwrap();
            late.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            matches!(late.read(&mut buf), Ok(0) | Err(_))
        }
    );
}

fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// `--user nobody` (started as root): the process runs as nobody once bound, and still
/// answers and reloads.
#[test]
fn user_drops_privileges_after_binding() {
    if euid() != 0 {
        if std::env::var_os("CI").is_some() {
            panic!("CI runs the tests as root; --user cannot be tested otherwise");
        }
        eprintln!("SKIPPED: --user needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = zones_dir(&[("u.test.zone", "192.0.2.1 :2:before\n")]);
    for path in [dir.path().to_path_buf(), dir.path().join("zones")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let zone = dir.path().join("zones/u.test.zone");
    std::fs::set_permissions(&zone, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "nobody",
            "--debounce",
            "50",
        ],
    );
    let addr = ward.addr();
    ward.wait_for("running as nobody", WAIT);
    let status = std::fs::read_to_string(format!("/proc/{}/status", ward.pid())).unwrap();
    let ids = |field: &str| -> Vec<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(ids("Uid:"), ["65534"; 4], "{status}");
    assert_eq!(ids("Gid:"), ["65534"; 4], "{status}");
    assert!(!ward.log().contains("running as root"));
    let ask = || {
        let request = query_message(&ip4_name("192.0.2.1", "u.test"), RecordType::TXT, false);
        raw_udp(addr, &request.to_vec().unwrap(), Duration::from_secs(2))
            .map(|r| txt_records(&Message::from_vec(&r).unwrap()))
    };
    assert_eq!(ask().unwrap(), ["before"]);
    std::fs::write(&zone, "192.0.2.1 :2:after\n").unwrap();
    eventually(WAIT, "the reload as nobody", || {
        ask().is_some_and(|t| t == ["after"])
    });
}

/// Root without `--user` is warned about.
#[test]
fn running_as_root_is_warned_about() {
    if euid() != 0 {
        return;
    }
    let dir = zones_dir(&[("w.test.zone", "192.0.2.1\n")]);
    let ward = WardProcess::spawn(dir.path(), "", &["serve", "--listen", "127.0.0.1:0"]);
    ward.wait_for("running as root: start with --user NAME", WAIT);
}

/// The service manager protocol, as systemd sees it: READY after the first load,
/// RELOADING then READY around a SIGHUP reload, STOPPING, and the watchdog's pings.
#[test]
fn sd_notify_tells_the_service_manager_what_happens() {
    let dir = zones_dir(&[("s.test.zone", "192.0.2.1\n")]);
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let prefix = format!(
        "export NOTIFY_SOCKET='{}' WATCHDOG_USEC=400000 WATCHDOG_PID=$$;",
        socket_path.display()
    );
    let mut ward = WardProcess::spawn(dir.path(), &prefix, &["serve", "--listen", "127.0.0.1:0"]);
    let mut received = Vec::new();
    let mut next = |until: &str| {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let Ok(len) = socket.recv(&mut buf) else {
                break;
            };
            let message = String::from_utf8_lossy(&buf[..len]).to_string();
            received.push(message.clone());
            if message.contains(until) {
                return message;
            }
        }
        panic!("no {until} from ward; received {received:?}");
    };
    let ready = next("READY=1");
    assert!(
        ready.contains("STATUS=serving 1 zones, 1 entries"),
        "{ready}"
    );
    next("WATCHDOG=1");
    ward.signal("HUP");
    let reloading = next("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    next("READY=1");
    ward.signal("TERM");
    next("STOPPING=1");
    assert!(ward.wait_exit(WAIT).expect("exits").success());
}

/// `ward probe` answers 0 against a running ward and 1 when nothing answers.
#[test]
fn probe_is_a_health_check() {
    let s = TestServer::with_files(&[("p.test.zone", "192.0.2.1\n")]);
    let probe = |server: &str, name: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ward"));
        command.args(["probe", "--server", server, "--timeout", "1"]);
        if let Some(name) = name {
            command.arg(name);
        } else {
            command.args(["--zones", s.zones.to_str().unwrap()]);
        }
        command.output().unwrap()
    };
    let ok = probe(&s.addr.to_string(), None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("2.0.0.127.p.test: NOERROR (1 answer"));
    let refused = probe(&s.addr.to_string(), Some("example.org"));
    assert!(!refused.status.success(), "REFUSED is not healthy");
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = probe(&dead.local_addr().unwrap().to_string(), Some("x.p.test"));
    assert_eq!(silent.status.code(), Some(1));
}

/// `--log-format json` writes one JSON object a line, and `--query-log 1` logs every
/// query (a reload line has zone, entries, duration and serial).
#[test]
fn json_logs_and_the_query_log() {
    let dir = zones_dir(&[("j.test.zone", "192.0.2.1 :2:x\n")]);
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--query-log",
            "1",
        ],
    );
    let started = ward.wait_for("serving on UDP and TCP", WAIT);
    let addr: SocketAddr = {
        let at = started.find("\"addr\":\"").unwrap() + 8;
        started[at..started[at..].find('"').unwrap() + at]
            .parse()
            .unwrap()
    };
    let request = query_message(&ip4_name("192.0.2.1", "j.test"), RecordType::A, false);
    raw_udp(addr, &request.to_vec().unwrap(), Duration::from_secs(2)).unwrap();
    let line = ward.wait_for("\"target\":\"ward::query\"", WAIT);
    assert!(line.contains("\"qname\":\"1.2.0.192.j.test\""), "{line}");
    assert!(line.contains("\"listed\":true"), "{line}");
    let loaded = ward.wait_for("\"message\":\"loaded\"", WAIT);
    for field in [
        "\"zone\":\"j.test\"",
        "\"entries\":1",
        "\"ms\":",
        "\"serial\":",
    ] {
        assert!(loaded.contains(field), "{loaded}");
    }
    assert!(
        ward.log().lines().all(|l| l.starts_with('{')),
        "{}",
        ward.log()
    );
    let _ = ResponseCode::NoError;
}
