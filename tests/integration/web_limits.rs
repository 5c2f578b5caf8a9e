//! The web listeners against slow and greedy clients (issue 19), with real sockets from
//! several loopback addresses (all of 127.0.0.0/8 is local): one client must not be
//! able to close the page, or the admin API, for everyone else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::web::{TOKEN, get, launch_with, start};

/// A TCP connection to `addr` from the loopback address `source`.
fn connect_from(source: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local: SocketAddr = format!("{source}:0").parse().expect("an address");
    socket.bind(&local.into())?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// Sends `request` on a fresh connection from `source` and reads the answer's status
/// line, waiting at most `wait`; `None` when nothing came.
fn status_from(source: &str, addr: SocketAddr, request: &str, wait: Duration) -> Option<String> {
    let mut stream = connect_from(source, addr).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer
        .lines()
        .next()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
}

/// A POST's headers, announcing a body that never comes.
fn stalled_post(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: ward\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: 1000\r\n\r\n"
    )
}

/// Opens `count` connections from `source` that send `request` and then stall.
fn stall(addr: SocketAddr, source: &str, request: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| {
            let mut stream = connect_from(source, addr).ok()?;
            let _ = stream.write_all(request.as_bytes());
            Some(stream)
        })
        .collect()
}

/// Regression: 256 connections that sent a POST's headers and never the body held all
/// of the listener's slots until the 5-minute connection lifetime; a new visitor's
/// `GET /` waited throughout. A client now holds a bounded share of the slots.
#[test]
fn stalled_bodies_from_one_client_leave_the_page_to_everyone_else() {
    // A budget the stalled requests stay within: their share alone must hold them.
    let web = launch_with(&[], &[], |web| {
        web.pages = ward::Budget {
            per_client: 10_000,
            period: Duration::from_secs(60),
        };
    });
    let _stalled = stall(web.http, "127.0.0.2", &stalled_post("/explain", ""), 256);
    let visitor = status_from(
        "127.1.0.3",
        web.http,
        "GET / HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(
        visitor.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "a visitor from elsewhere"
    );
    // Its own neighbours are served too: the /24 holds more than one client's share.
    let neighbour = status_from(
        "127.0.0.9",
        web.http,
        "GET / HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(neighbour.as_deref(), Some("HTTP/1.1 200 OK"), "a neighbour");
}

/// Regression: a body trickled a byte a second kept its connection open for as long as
/// the client liked. A request now has a deadline, its body included.
#[test]
fn a_body_trickled_byte_by_byte_is_cut_off_at_the_request_deadline() {
    let web = launch_with(&[], &[], |web| {
        web.listener.request_timeout = Duration::from_secs(2);
    });
    let mut stream = connect_from("127.0.0.4", web.http).unwrap();
    stream
        .write_all(stalled_post("/explain", "").as_bytes())
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    let closed = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still open after 20 s"
        );
        // A byte now and then, as a slowloris client sends it.
        if stream.write_all(b"x").is_err() {
            break true;
        }
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break true,
        }
    };
    assert!(closed);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

/// Regression: the rate limit was taken after the body was read, so a client past its
/// budget could still hold a connection per stalled body. It is now taken from the
/// headers: the answer comes at once, with no body sent.
#[test]
fn the_rate_limit_answers_before_the_body_is_read() {
    let web = launch_with(&[], &[], |web| {
        web.pages = ward::Budget {
            per_client: 3,
            period: Duration::from_secs(3600),
        };
    });
    for _ in 0..3 {
        let page = status_from(
            "127.0.0.5",
            web.http,
            "GET /explain HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        assert_eq!(page.as_deref(), Some("HTTP/1.1 200 OK"));
    }
    let refused = status_from(
        "127.0.0.5",
        web.http,
        &stalled_post("/explain", ""),
        Duration::from_secs(5),
    );
    assert_eq!(refused.as_deref(), Some("HTTP/1.1 429 Too Many Requests"));
    // `/` is a page like the others (it was not limited at all).
    let index = status_from(
        "127.0.0.5",
        web.http,
        "GET / HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(index.as_deref(), Some("HTTP/1.1 429 Too Many Requests"));
}

/// Behind a trusted proxy every connection is the proxy's: the share is counted per
/// request, for the client the proxy names, so one client's stalled requests do not
/// shut out the others behind the same proxy.
#[test]
fn behind_a_proxy_each_client_it_names_has_its_own_share() {
    let web = launch_with(&[], &["--trusted-proxy", "127.0.0.0/8"], |_| {});
    let greedy = stalled_post("/explain", "X-Forwarded-For: 203.0.113.5\r\n");
    let _stalled = stall(web.http, "127.0.0.6", &greedy, 16);
    // Give the server a moment to read the 16 requests' headers.
    std::thread::sleep(Duration::from_millis(500));
    let over = status_from("127.0.0.6", web.http, &greedy, Duration::from_secs(5));
    assert_eq!(
        over.as_deref(),
        Some("HTTP/1.1 429 Too Many Requests"),
        "the 17th request of one client"
    );
    let other = status_from(
        "127.0.0.6",
        web.http,
        "GET / HTTP/1.1\r\nHost: ward\r\nX-Forwarded-For: 198.51.100.9\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(other.as_deref(), Some("HTTP/1.1 200 OK"), "another client");
}

/// The admin listener gets the same treatment: stalled bodies of one caller (with the
/// token) do not shut out the others.
#[test]
fn the_admin_api_keeps_answering_while_one_caller_stalls() {
    let web = start(&[]);
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let stalled_add = stalled_post("/api/v1/entries", &auth);
    let _stalled = stall(web.admin, "127.0.0.7", &stalled_add, 300);
    let other = status_from(
        "127.1.0.8",
        web.admin,
        &format!("GET /api/v1/entries HTTP/1.1\r\nHost: ward\r\n{auth}Connection: close\r\n\r\n"),
        Duration::from_secs(5),
    );
    assert_eq!(other.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(get(&web.url("/"), &[]).status, 200, "and the page");
}
