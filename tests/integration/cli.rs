//! The `ward` command as an admin runs it: `check`, `lookup`, and `serve` refusing bad
//! zones.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ward(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ward runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the shipped zones in a temp dir, with `edit` applied to one file.
fn edited_copy(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = crate::support::shipped_copy();
    let path = dir.path().join("zones").join(file);
    let contents = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(contents)).unwrap();
    dir
}

#[test]
fn check_passes_on_the_shipped_zones() {
    let output = ward(&["check"], Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).ends_with("zones: ok\n"),
        "{}",
        text(&output.stdout)
    );
    assert!(
        text(&output.stderr).is_empty(),
        "no warnings: {}",
        text(&output.stderr)
    );
}

#[test]
fn check_reports_errors_with_position_and_fails() {
    let dir = edited_copy("ips.block.example/manual.zone", |s| {
        s.replace("compromised-host   added", "compromized-host   added")
    });
    let output = ward(&["check"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("zones/ips.block.example/manual.zone:8:30: unknown reason `compromized-host`: did you mean `compromised-host`?"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("ips.block.example: 1 error(s), `ward serve` would not load this zone"),
        "{stdout}"
    );
    assert!(stdout.contains("zones: 1 error(s)"), "{stdout}");
}

#[test]
fn check_warns_about_rfc5782_violations_and_expired_entries() {
    let dir = edited_copy("domains.block.example.zone", |s| {
        s + "old.example  spam-source  expires=2020-01-01\n"
    });
    std::fs::write(
        dir.path().join("zones/bad127.example.ip4set"),
        "127.0.0.0/24\n",
    )
    .unwrap();
    let output = ward(&["check"], dir.path());
    assert!(output.status.success(), "warnings are not errors");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("1 entry has already expired"), "{stdout}");
    assert!(stdout.contains("127.0.0.1 is listed"), "{stdout}");
}

#[test]
fn serve_refuses_zones_with_errors_unless_lenient() {
    let dir = edited_copy("ips.block.example/manual.zone", |s| {
        s + "10.0.0.1/8 spam-source\n"
    });
    let output = ward(&["serve", "--listen", "127.0.0.1:0"], dir.path());
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("manual.zone:15:1: host bits set"),
        "{stderr}"
    );
    assert!(stderr.contains("--lenient"), "{stderr}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "serve",
            "--lenient",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "info",
        ])
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !seen.contains("serving on UDP and TCP") {
        use std::io::Read;
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("serving on UDP and TCP"), "{seen}");
}

#[test]
fn lookup_exit_code_says_whether_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(ward(&["lookup", "203.0.113.7"], root).status.success());
    let unlisted = ward(&["lookup", "192.0.2.99"], root);
    assert_eq!(unlisted.status.code(), Some(1));
    let stdout = text(&unlisted.stdout);
    assert!(
        stdout
            .contains("ips.block.example: not listed\n    99.2.0.192.ips.block.example. NXDOMAIN"),
        "{stdout}"
    );
    let address = ward(&["lookup", "Bad.Guy+x@GoogleMail.com"], root);
    let stdout = text(&address.stdout);
    assert!(stdout.contains("md5 of badguy@gmail.com"), "{stdout}");
}

/// An error names its cause once (it was printed twice: in the message and again as
/// the cause).
#[test]
fn an_error_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["check", "--zones", "no-such-dir"][..],
        &["check", "--config", "no-such.toml"][..],
    ] {
        let output = ward(args, dir.path());
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{stderr}"
        );
    }
}

/// Two files of one zone that list the same thing with different TTLs: `ward check`
/// says so (answers and the records secondaries get take the lowest per RRset).
#[test]
fn check_warns_when_files_of_a_zone_disagree_on_ttl() {
    let dir = crate::support::zones_dir(&[
        ("t.test/a.ip4set", "$TTL 1200\n10.0.0.0/24 :4\n"),
        ("t.test/b.ip4set", ":127.0.0.4:Extra\n10.0.0.0/25\n"),
        ("w.test/a.dnset", "$TTL 600\n*.list.example :2:spam\n"),
        ("w.test/b.dnset", "*.x.list.example :9:marketing\n"),
        ("same.test/a.dnset", "$TTL 600\na.example :2:a\n"),
        ("same.test/b.dnset", "$TTL 900\nb.example :2:b\n"),
    ]);
    let output = ward(&["check"], dir.path());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for expected in [
        "warning: 10.0.0.0 is listed by a.ip4set (TTL 1200) and b.ip4set (TTL 2100)",
        "warning: *.x.list.example is listed by a.dnset (TTL 600) and b.dnset (TTL 2100)",
    ] {
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
    }
    assert!(
        !stdout.contains("same.test: ") || !stdout.contains("(TTL 900)"),
        "files that list different things may keep their own TTLs: {stdout}"
    );
}

/// Regression: `ward lookup` of an address listed under a domain wildcard of the same
/// file showed the wildcard as the entry behind the answer, and not the address, which
/// is what decides.
#[test]
fn lookup_shows_the_entry_that_decides() {
    let dir = crate::support::zones_dir(&[(
        "z.test.zone",
        "mail235@mx.example.org :2:address\n*.example.org :9:wildcard\n",
    )]);
    let shown = |query: &str| text(&ward(&["lookup", query], dir.path()).stdout);
    let address = shown("mail235.mx.example.org.z.test");
    assert!(
        address.contains("z.test.zone:1  mail235@mx.example.org"),
        "{address}"
    );
    assert!(!address.contains("*.example.org"), "{address}");
    let other = shown("other.mx.example.org.z.test");
    assert!(other.contains("z.test.zone:2  *.example.org"), "{other}");
    assert!(!other.contains("mail235"), "{other}");
}

/// `ward manpages DIR`: a page for ward and for every command, made from their help
/// (what the Debian package installs in /usr/share/man/man8).
#[test]
fn the_man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("manpages")
        .arg(dir.path())
        .env("SOURCE_DATE_EPOCH", "1796601600")
        .output()
        .expect("ward runs");
    assert!(output.status.success(), "{output:?}");
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for command in [
        "ward", "serve", "check", "lookup", "probe", "export", "add", "remove", "requests",
    ] {
        let page = if command == "ward" {
            "ward.8".to_string()
        } else {
            format!("ward-{command}.8")
        };
        assert!(pages.contains(&page), "{page} in {pages:?}");
    }
    assert!(pages.contains(&"ward-requests-accept.8".to_string()));
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("manpages") || p.contains("help")),
        "{pages:?}"
    );
    let top = std::fs::read_to_string(dir.path().join("ward.8")).unwrap();
    // Dated by SOURCE_DATE_EPOCH (reproducible builds), in section 8 (a daemon).
    assert!(top.starts_with(".ie") && top.contains(".TH WARD 8 2026-12-07 \"ward "));
    for file in ["/etc/ward/ward.toml", "/etc/ward/zones/", "/var/lib/ward/"] {
        assert!(top.contains(file), "ward.8's FILES names {file}");
    }
    let serve = std::fs::read_to_string(dir.path().join("ward-serve.8")).unwrap();
    for flag in ["listen", "admin\\-token\\-file", "state", "config"] {
        assert!(
            serve.contains(&format!("\\-\\-{flag}")),
            "ward-serve.8: --{flag}"
        );
    }
}
