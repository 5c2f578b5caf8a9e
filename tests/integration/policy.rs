//! `ward policy`: Postfix's policy delegation protocol (SMTPD_POLICY_README) over a
//! real socket, asking a real ward over DNS whether the envelope sender or a recipient
//! is listed. Postfix itself speaks it in the interop suite (88-fail2ban-loop).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{TestServer, WardProcess};

fn lists() -> TestServer {
    TestServer::with_files(&[
        (
            "reasons.conf",
            "$REASON invalid-recipients 127.0.0.7 \"$ mailed many addresses that do not exist\"\n\
             $REASON sms-gateway 127.0.0.20 \"$ is an email-to-SMS gateway\"\n",
        ),
        (
            "senders.test.zone",
            "news@shop.example  invalid-recipients\n",
        ),
        ("recipients.test.zone", "555@sms.example  sms-gateway\n"),
    ])
}

/// `ward policy` asking `dns`, and where it listens.
fn policy(dns: SocketAddr, dir: &std::path::Path) -> (WardProcess, SocketAddr) {
    let server = dns.to_string();
    let process = WardProcess::spawn(
        dir,
        "",
        &[
            "policy",
            "--listen",
            "127.0.0.1:0",
            "--server",
            &server,
            "--sender-zone",
            "senders.test",
            "--recipient-zone",
            "recipients.test",
            "--timeout",
            "1",
        ],
    );
    let line = process.wait_for(
        "serving the Postfix policy protocol",
        Duration::from_secs(30),
    );
    let at = line.find("addr=").expect("the address is logged");
    let addr = line[at + 5..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .expect("an address");
    (process, addr)
}

/// One request as Postfix sends it (attributes, then an empty line); the action.
fn ask(stream: &mut BufReader<TcpStream>, attributes: &[(&str, &str)]) -> String {
    let mut request = String::from("request=smtpd_access_policy\nprotocol_state=RCPT\n");
    for (name, value) in attributes {
        request.push_str(&format!("{name}={value}\n"));
    }
    request.push('\n');
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut action = String::new();
    stream.read_line(&mut action).unwrap();
    let mut blank = String::new();
    stream.read_line(&mut blank).unwrap();
    assert_eq!(blank, "\n", "a reply ends with an empty line");
    action.trim_end().to_string()
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    BufReader::new(stream)
}

#[test]
fn listed_senders_and_recipients_are_refused_with_the_reason() {
    let dns = lists();
    let dir = tempfile::tempdir().unwrap();
    let (_policy, addr) = policy(dns.addr, dir.path());
    let mut postfix = connect(addr);
    // Several requests on one connection, as Postfix reuses it.
    let listed = ask(
        &mut postfix,
        &[
            ("sender", "News@Shop.Example"),
            ("recipient", "a@b.example"),
        ],
    );
    assert_eq!(
        listed,
        "action=REJECT blocked using senders.test; news@shop.example mailed many addresses that do not exist"
    );
    assert_eq!(
        ask(
            &mut postfix,
            &[
                ("sender", "other@shop.example"),
                ("recipient", "a@b.example")
            ]
        ),
        "action=DUNNO"
    );
    assert_eq!(
        ask(
            &mut postfix,
            &[("sender", ""), ("recipient", "a@b.example")]
        ),
        "action=DUNNO",
        "the null sender (bounces) is never refused"
    );
    let recipient = ask(
        &mut postfix,
        &[
            ("sender", "other@shop.example"),
            ("recipient", "555@sms.example"),
        ],
    );
    assert!(
        recipient.starts_with("action=REJECT blocked using recipients.test; 555@sms.example"),
        "{recipient}"
    );
    assert!(recipient.contains("email-to-SMS gateway"), "{recipient}");

    // A line longer than any Postfix sends closes that connection, not the service.
    let mut rude = TcpStream::connect(addr).unwrap();
    let _ = rude.write_all(&vec![b'x'; 10_000]);
    let _ = rude.write_all(b"\n\n");
    let mut again = connect(addr);
    assert_eq!(
        ask(&mut again, &[("sender", "other@shop.example")]),
        "action=DUNNO"
    );
}

/// A list that does not answer must not stop mail: the policy lets it through.
#[test]
fn mail_passes_when_dns_does_not_answer() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (policy, addr) = policy(silent.local_addr().unwrap(), dir.path());
    let mut postfix = connect(addr);
    assert_eq!(
        ask(&mut postfix, &[("sender", "news@shop.example")]),
        "action=DUNNO"
    );
    policy.wait_for("the mail passes", Duration::from_secs(5));
}

#[test]
fn policy_needs_a_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = WardProcess::spawn(dir.path(), "", &["policy", "--listen", "127.0.0.1:0"]);
    let status = process
        .wait_exit(Duration::from_secs(30))
        .expect("it exits");
    assert!(!status.success());
    assert!(
        process.log().contains("--sender-zone or --recipient-zone"),
        "{}",
        process.log()
    );
}
