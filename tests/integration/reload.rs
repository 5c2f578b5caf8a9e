//! Hot reload, one test per way admins and tools change files, and a reload under load.
//! Waits are bounded liveness checks ("seen within 10 s"), never speed assertions.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::*;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, RecordType};

const WAIT: Duration = Duration::from_secs(10);

fn txt_of(server: &TestServer, ip: &str, zone: &str) -> Vec<String> {
    txt_records(&server.udp(&ip4_name(ip, zone), RecordType::TXT))
}

fn serial(server: &TestServer, zone: &str) -> u32 {
    let reply = server.udp(&format!("{zone}."), RecordType::SOA);
    match &reply.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("{other:?}"),
    }
}

#[track_caller]
fn sees(server: &TestServer, ip: &str, zone: &str, text: &str) {
    eventually(WAIT, &format!("{ip} in {zone} answering {text:?}"), || {
        txt_of(server, ip, zone) == [text]
    });
}

#[track_caller]
fn gone(server: &TestServer, name: &str, code: ResponseCode) {
    eventually(WAIT, &format!("{name} answering {code}"), || {
        rcode(&server.udp(name, RecordType::A)) == code
    });
}

/// Writes in place: truncate, then write (what `>` in a shell and most editors do).
fn write_in_place(path: &Path, contents: &str) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    file.write_all(contents.as_bytes()).unwrap();
}

/// Writes a temp file, then renames it over the old one (safe: readers see one or the
/// other).
fn write_and_rename(path: &Path, contents: &str) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

#[test]
fn in_place_edit() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:one\n")], &[]);
    let before = serial(&s, "r.test");
    write_in_place(&s.zones.join("r.test.zone"), "192.0.2.1 :2:two\n");
    sees(&s, "192.0.2.1", "r.test", "two");
    assert!(serial(&s, "r.test") > before, "the serial rises");
}

#[test]
fn write_to_temp_then_rename() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:one\n")], &[]);
    write_and_rename(
        &s.zones.join("r.test.zone"),
        "192.0.2.1 :2:two\n192.0.2.2 :2:new\n",
    );
    sees(&s, "192.0.2.2", "r.test", "new");
    assert_eq!(txt_of(&s, "192.0.2.1", "r.test"), ["two"]);
}

#[test]
fn delete_and_recreate() {
    let s = TestServer::reloading(
        &[
            ("r.test/a.ip4set", ":2:a\n192.0.2.1\n"),
            ("r.test/b.ip4set", ":2:b\n192.0.2.2\n"),
        ],
        &[],
    );
    let path = s.zones.join("r.test/a.ip4set");
    std::fs::remove_file(&path).unwrap();
    gone(&s, &ip4_name("192.0.2.1", "r.test"), ResponseCode::NXDomain);
    assert_eq!(
        txt_of(&s, "192.0.2.2", "r.test"),
        ["b"],
        "the other dataset stays"
    );
    std::fs::write(&path, ":2:back\n192.0.2.1\n").unwrap();
    sees(&s, "192.0.2.1", "r.test", "back");
}

#[test]
fn new_zone_file_and_directory_and_removed_zone() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:one\n")], &[]);
    std::fs::write(s.zones.join("new.test.zone"), "192.0.2.1 :2:new file\n").unwrap();
    sees(&s, "192.0.2.1", "new.test", "new file");
    std::fs::create_dir(s.zones.join("dir.test")).unwrap();
    std::fs::write(
        s.zones.join("dir.test/feed.ip4set"),
        ":2:new dir\n192.0.2.1\n",
    )
    .unwrap();
    sees(&s, "192.0.2.1", "dir.test", "new dir");
    std::fs::remove_file(s.zones.join("new.test.zone")).unwrap();
    gone(
        &s,
        &ip4_name("192.0.2.1", "new.test"),
        ResponseCode::Refused,
    );
    std::fs::remove_dir_all(s.zones.join("dir.test")).unwrap();
    gone(
        &s,
        &ip4_name("192.0.2.1", "dir.test"),
        ResponseCode::Refused,
    );
    assert_eq!(txt_of(&s, "192.0.2.1", "r.test"), ["one"]);
}

#[test]
fn kubernetes_style_symlinked_directory_swap() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir_all(zones.join("..2026_v1")).unwrap();
    std::fs::write(zones.join("..2026_v1/k.test.zone"), "192.0.2.1 :2:v1\n").unwrap();
    symlink("..2026_v1", zones.join("..data")).unwrap();
    symlink("..data/k.test.zone", zones.join("k.test.zone")).unwrap();
    let s = TestServer::reloading(&[], &[]);
    // Move the prepared tree under the reloading server's zones directory.
    std::fs::remove_dir(&s.zones).unwrap();
    std::fs::rename(&zones, &s.zones).unwrap();
    // The directory was replaced: the watch follows the new one, polling catches up.
    sees(&s, "192.0.2.1", "k.test", "v1");
    // The kubelet's update: a new timestamped directory, `..data` swapped atomically.
    std::fs::create_dir(s.zones.join("..2026_v2")).unwrap();
    std::fs::write(s.zones.join("..2026_v2/k.test.zone"), "192.0.2.1 :2:v2\n").unwrap();
    symlink("..2026_v2", s.zones.join("..data_tmp")).unwrap();
    std::fs::rename(s.zones.join("..data_tmp"), s.zones.join("..data")).unwrap();
    std::fs::remove_dir_all(s.zones.join("..2026_v1")).unwrap();
    sees(&s, "192.0.2.1", "k.test", "v2");
}

#[test]
fn unreadable_file_keeps_the_old_data() {
    let s = TestServer::reloading(&[("r.test/a.ip4set", ":2:a\n192.0.2.1\n")], &[]);
    let path = s.zones.join("r.test/a.ip4set");
    std::fs::remove_file(&path).unwrap();
    // A symlink loop: unreadable even for root (who ignores permission bits).
    symlink("a.ip4set", &path).unwrap();
    std::fs::write(s.zones.join("other.test.zone"), "192.0.2.1 :2:other\n").unwrap();
    sees(&s, "192.0.2.1", "other.test", "other");
    let stats = s.reload_stats();
    eventually(WAIT, "the failure counted", || {
        stats.zone("r.test").is_some_and(|z| z.failures > 0)
    });
    let error = stats.zone("r.test").unwrap().last_error.unwrap();
    assert!(error.contains("a.ip4set: cannot read"), "{error}");
    assert_eq!(
        txt_of(&s, "192.0.2.1", "r.test"),
        ["a"],
        "previous data still served"
    );
}

#[test]
fn syntax_error_keeps_old_data_while_other_zones_update() {
    let s = TestServer::reloading(
        &[
            ("bad.test.zone", "192.0.2.1 :2:good\n"),
            ("ok.test.zone", "192.0.2.1 :2:one\n"),
        ],
        &[],
    );
    let before = serial(&s, "bad.test");
    write_and_rename(
        &s.zones.join("bad.test.zone"),
        "192.0.2.1 :2:changed\n192.0.2.300 :2:typo\n",
    );
    write_and_rename(&s.zones.join("ok.test.zone"), "192.0.2.1 :2:two\n");
    sees(&s, "192.0.2.1", "ok.test", "two");
    let stats = s.reload_stats();
    eventually(WAIT, "the failure counted", || {
        stats.zone("bad.test").is_some_and(|z| z.failures == 1)
    });
    let error = stats.zone("bad.test").unwrap().last_error.unwrap();
    assert!(
        error.contains("bad.test.zone:2:1: expected an IPv4 address"),
        "{error}"
    );
    assert_eq!(txt_of(&s, "192.0.2.1", "bad.test"), ["good"]);
    assert_eq!(
        serial(&s, "bad.test"),
        before,
        "nothing changed, the serial neither"
    );
    // Fixed: it loads.
    write_and_rename(&s.zones.join("bad.test.zone"), "192.0.2.1 :2:fixed\n");
    sees(&s, "192.0.2.1", "bad.test", "fixed");
    assert_eq!(stats.zone("bad.test").unwrap().last_error, None);
}

#[test]
fn polling_without_events() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:one\n")], &["--no-watch"]);
    write_in_place(&s.zones.join("r.test.zone"), "192.0.2.1 :2:polled\n");
    sees(&s, "192.0.2.1", "r.test", "polled");
}

/// A rewrite that keeps the file's stamp (same size, the old time put back) is still
/// read again: its event has it compared by content, and the zone's other file, which
/// did not change, keeps its data.
#[test]
fn a_rewrite_that_keeps_the_stamp_is_read_again() {
    let s = TestServer::reloading(
        &[
            ("s.test/a.zone", "192.0.2.1 :2:one\n"),
            ("s.test/b.zone", "192.0.2.2 :2:kept\n"),
        ],
        &[],
    );
    sees(&s, "192.0.2.1", "s.test", "one");
    let path = s.zones.join("s.test/a.zone");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    write_in_place(&path, "192.0.2.1 :2:two\n");
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(modified).unwrap();
    sees(&s, "192.0.2.1", "s.test", "two");
    assert_eq!(txt_of(&s, "192.0.2.2", "s.test"), ["kept"]);
}

#[test]
fn touch_without_change_does_not_reload() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:one\n")], &[]);
    let stats = s.reload_stats();
    let path = s.zones.join("r.test.zone");
    write_in_place(&path, "192.0.2.1 :2:one\n");
    std::fs::write(s.zones.join("marker.test.zone"), "192.0.2.1 :2:m\n").unwrap();
    sees(&s, "192.0.2.1", "marker.test", "m");
    assert_eq!(
        stats.zone("r.test").unwrap().reloads,
        0,
        "same content: no reload"
    );
}

#[test]
fn slow_in_place_writer_is_never_served_half_written() {
    let lines = |version: &str| -> String {
        (0..2000)
            .map(|i| format!("10.0.{}.{} :2:{version}\n", i / 256, i % 256))
            .collect()
    };
    // The writer pauses 30 ms between chunks; the quiet period is far longer, so that
    // scheduling delays on a busy machine cannot make a pause look like the end.
    let s = TestServer::reloading(&[("slow.test.zone", &lines("v1"))], &["--debounce", "500"]);
    let path = s.zones.join("slow.test.zone");
    let last = "10.0.7.207";
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (addr, stop) = (s.addr, stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let request = query_message(&ip4_name(last, "slow.test"), RecordType::TXT, true);
                if let Some(reply) =
                    raw_udp(addr, &request.to_vec().unwrap(), Duration::from_secs(2))
                {
                    let reply = hickory_server::proto::op::Message::from_vec(&reply).unwrap();
                    seen.push(txt_records(&reply));
                }
            }
            seen
        })
    };
    // Truncate, then fill in 20 chunks with pauses shorter than the debounce.
    let new = lines("v2");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    for chunk in new.as_bytes().chunks(new.len() / 20 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(file);
    sees(&s, last, "slow.test", "v2");
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert!(seen.len() > 10, "{} queries", seen.len());
    for answer in &seen {
        assert!(
            answer == &["v1"] || answer == &["v2"],
            "half-written file served: {answer:?}"
        );
    }
}

#[test]
fn temporary_listing_reveals_the_range_beneath_after_expiry() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires = now + 2;
    let zone = format!("192.0.2.0/24 :2:base\n192.0.2.1 :3:temporary expires=@{expires}\n");
    // RFC 3339 for the expiry.
    let stamp = {
        let output = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{expires}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let zone = zone.replace(&format!("@{expires}"), &stamp);
    let s = TestServer::reloading(&[("e.test.zone", &zone)], &[]);
    assert_eq!(txt_of(&s, "192.0.2.1", "e.test"), ["temporary"]);
    // After the expiry the zone is rebuilt without the entry: the /24 answers again.
    sees(&s, "192.0.2.1", "e.test", "base");
}

#[test]
fn reload_under_load_loses_no_query() {
    const IPS: usize = 100;
    /// Reloads the clients must live through.
    const SWAPS: u64 = 6;
    /// Bounds the writer: at one swap a second, 20 s of writes.
    const MAX_VERSIONS: usize = 600;
    let zone = |version: usize| -> String {
        let mut text = String::new();
        for i in 0..IPS {
            text.push_str(&format!("192.0.2.{i} :2:v{version}\n"));
        }
        text
    };
    let s = TestServer::reloading(&[("load.test.zone", &zone(0))], &["--debounce", "20"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (addr, stop) = (s.addr, stop.clone());
            std::thread::spawn(move || {
                let mut last_version = 0usize;
                let mut answers = 0usize;
                let mut failures: Vec<String> = Vec::new();
                let mut i = client;
                while !stop.load(Ordering::Relaxed) && failures.len() < 10 {
                    i += 7;
                    let ip = format!("192.0.2.{}", i % IPS);
                    let request = query_message(&ip4_name(&ip, "load.test"), RecordType::TXT, true);
                    let bytes = request.to_vec().unwrap();
                    let reply = if client % 2 == 0 {
                        raw_udp(addr, &bytes, Duration::from_secs(2))
                    } else {
                        tcp_exchange(addr, &bytes)
                    };
                    let Some(reply) = reply else {
                        failures.push(format!("timeout for {ip}"));
                        continue;
                    };
                    let reply = hickory_server::proto::op::Message::from_vec(&reply).unwrap();
                    let texts = txt_records(&reply);
                    let version = match (reply.metadata.response_code, texts.as_slice()) {
                        (ResponseCode::NoError, [text]) => text[1..].parse::<usize>().ok(),
                        _ => None,
                    };
                    match version {
                        Some(v) if v >= last_version => last_version = v,
                        _ => failures.push(format!(
                            "{ip}: {:?} {texts:?} after v{last_version}",
                            reply.metadata.response_code
                        )),
                    }
                    answers += 1;
                }
                (answers, last_version, failures)
            })
        })
        .collect();
    // Renamed into place, the way to update a zone safely: an in-place writer that
    // stalls longer than the debounce cannot be told from a finished one (the slow
    // writer test covers in-place writes that keep writing).
    //
    // The serial is the second of the load, so a zone changes at most once a second
    // (however fast it is written): write new versions until the clients have lived
    // through several swaps, not for a fixed time a slow machine may not fill.
    let path = s.zones.join("load.test.zone");
    let swaps_before = s.reload_stats().swaps();
    let mut version = 0;
    while s.reload_stats().swaps() - swaps_before < SWAPS && version < MAX_VERSIONS {
        version += 1;
        write_and_rename(&path, &zone(version));
        std::thread::sleep(Duration::from_millis(30));
    }
    sees(&s, "192.0.2.5", "load.test", &format!("v{version}"));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let (answers, last, failures) = client.join().unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(last > 0, "the client saw reloads");
        total += answers;
    }
    assert!(total > 1000, "{total} answers");
    let swaps = s.reload_stats().swaps() - swaps_before;
    assert!(
        swaps >= SWAPS,
        "{swaps} reloads in {version} versions written 30 ms apart"
    );
}

fn tcp_exchange(addr: std::net::SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).ok()?;
    read_tcp_message(&mut stream)
}

#[test]
fn serial_rises_with_every_change_and_never_runs_ahead_of_the_clock() {
    let s = TestServer::reloading(&[("r.test.zone", "192.0.2.1 :2:v0\n")], &[]);
    let mut serials = vec![serial(&s, "r.test")];
    for version in 1..=4 {
        write_and_rename(
            &s.zones.join("r.test.zone"),
            &format!("192.0.2.1 :2:v{version}\n"),
        );
        sees(&s, "192.0.2.1", "r.test", &format!("v{version}"));
        serials.push(serial(&s, "r.test"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Never ahead of the clock: a restart, whose first serial is the time, cannot
        // go backwards.
        assert!(
            u64::from(*serials.last().unwrap()) <= now,
            "{serials:?} now {now}"
        );
    }
    assert!(serials.windows(2).all(|w| w[0] < w[1]), "{serials:?}");
}

#[test]
fn sighup_reloads_the_real_server() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join("h.test.zone"), "192.0.2.1 :2:before\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
            "--poll-interval",
            "0",
            "--log",
            "info",
        ])
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("ward starts");
        if let Some(at) = line.find("addr=") {
            break line[at + 5..].trim().parse().unwrap();
        }
    };
    let ask = || {
        let request = query_message(&ip4_name("192.0.2.1", "h.test"), RecordType::TXT, false);
        let reply = raw_udp(addr, &request.to_vec().unwrap(), Duration::from_secs(2)).unwrap();
        txt_records(&hickory_server::proto::op::Message::from_vec(&reply).unwrap())
    };
    assert_eq!(ask(), ["before"]);
    write_and_rename(&zones.join("h.test.zone"), "192.0.2.1 :2:after\n");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        ask(),
        ["before"],
        "no watch, no polling: nothing reloads by itself"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    eventually(WAIT, "SIGHUP reload", || ask() == ["after"]);
    let _ = child.kill();
    let _ = child.wait();
}
