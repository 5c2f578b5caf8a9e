//! Access keys (the rspamd fork's `aclkey`) over real sockets: a label just below the
//! zone names a key, the key decides what the query gets and is removed before the
//! lookup; keys are counted per key in the metrics, left out of the query log, and
//! make a zone untransferable.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;

const HEADER: &str =
    "$SOA 0 example.org. hostmaster.example.com. 0 1h 1h 2d 1h\n$NS 1d ns0.example.org\n";

fn ask(server: &TestServer, name: &str, rtype: RecordType) -> [Message; 2] {
    [server.udp(name, rtype), server.tcp(name, rtype)]
}

/// The fork's own functional cases (004_ACLKEY, 005_ENTRY_PARAMS), and what its
/// manual promises for IP lists.
#[test]
fn keys_decide_and_are_removed_before_the_lookup() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let names = format!(
        "{HEADER}needkey.tld NEEDKEY @ key=require\n\
         nodelay.tld NODELAY @ ts={now};delay=3600s;key=nodelay\n\
         fast.tld FAST @ delay=1h;key=nodelay\n"
    );
    let s = TestServer::with_files(&[
        (
            "example.com/generic.generic",
            &format!("{HEADER}test TXT \"Success\""),
        ),
        (
            "example.com/keys.aclkey",
            &format!("{HEADER}:refuse\nsecret :pass\nhidden :empty"),
        ),
        ("keyed.test/names.dnhash", &names),
        ("keyed.test/ips.ip4trie", "127.0.0.0/8 :2:loop $\n"),
        ("keyed.test/keys.aclkey", ":pass\nsecret :pass\n"),
    ]);
    for reply in ask(&s, "test.example.com.", RecordType::TXT) {
        assert_eq!(rcode(&reply), ResponseCode::Refused, "no key: the default");
    }
    for reply in ask(&s, "test.secret.example.com.", RecordType::TXT) {
        assert_eq!(txt_records(&reply), ["Success"]);
    }
    for reply in ask(&s, "test.unknown.example.com.", RecordType::TXT) {
        assert_eq!(rcode(&reply), ResponseCode::Refused, "an unknown key");
    }
    // Keys never touch the zone's own records, nor ANY (the fork's rule).
    assert_eq!(
        rcode(&s.udp("example.com.", RecordType::SOA)),
        ResponseCode::NoError
    );
    assert_eq!(
        txt_records(&s.udp("test.example.com.", RecordType::ANY)),
        ["Success"]
    );
    // `empty`: listings hidden, generic records kept.
    assert_eq!(
        txt_records(&s.udp("test.hidden.example.com.", RecordType::TXT)),
        ["Success"]
    );
    // key=require: keyed queries only; an unknown label is part of the name.
    assert_eq!(
        rcode(&s.udp("needkey.tld.keyed.test.", RecordType::TXT)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        txt_records(&s.udp("needkey.tld.secret.keyed.test.", RecordType::TXT)),
        ["NEEDKEY"]
    );
    // key=nodelay: a keyed query skips the cooldown and the tarpit.
    assert_eq!(
        rcode(&s.udp("nodelay.tld.keyed.test.", RecordType::TXT)),
        ResponseCode::NXDomain
    );
    for reply in ask(&s, "nodelay.tld.secret.keyed.test.", RecordType::TXT) {
        assert_eq!(txt_records(&reply), ["NODELAY"]);
    }
    assert_eq!(
        txt_records(&s.udp("fast.tld.secret.keyed.test.", RecordType::TXT)),
        ["FAST"]
    );
    // An address read after the key is removed (the fork reads it before, and never
    // matches; its manual says it does).
    for reply in ask(&s, "2.0.0.127.secret.keyed.test.", RecordType::TXT) {
        assert_eq!(txt_records(&reply), ["loop 127.0.0.2"]);
    }
}

/// Without a default line, every query naming no key is "always listed" (the fork's
/// default); an ACL's refusal beats a key's pass.
#[test]
fn the_default_default_and_acls_with_keys() {
    let s = TestServer::with_files(&[
        ("open.test/ips.ip4set", "192.0.2.1 :3:listed\n"),
        ("open.test/keys.aclkey", "secret :pass\n"),
        ("both.test/ips.ip4set", "192.0.2.1 :3:listed\n"),
        ("both.test/keys.aclkey", ":refuse\nsecret :pass\n"),
        ("both.test/clients.acl", "127.0.0.2 :refuse\n"),
    ]);
    assert_eq!(
        a_records(&s.udp(&ip4_name("198.51.100.9", "open.test"), RecordType::A)),
        ["127.0.0.2"],
        "always listed"
    );
    assert_eq!(
        a_records(&s.udp("1.2.0.192.secret.open.test.", RecordType::A)),
        ["127.0.0.3"]
    );
    let request = query_message("1.2.0.192.secret.both.test.", RecordType::A, false)
        .to_vec()
        .unwrap();
    let from = |source: &str| {
        let reply = raw_udp_from(source, s.addr, &request, Duration::from_secs(2)).unwrap();
        Message::from_vec(&reply).unwrap()
    };
    assert_eq!(a_records(&from("127.0.0.1")), ["127.0.0.3"]);
    assert_eq!(rcode(&from("127.0.0.2")), ResponseCode::Refused);
}

/// Per-key counters in the metrics (the unknown ones together); the query log never
/// shows a key; a zone with keys is not transferred and `ward check` says why.
#[test]
fn keys_are_counted_kept_out_of_the_log_and_not_transferred() {
    let (dir, _) = write_zones(&[
        ("k.test/ips.ip4set", "192.0.2.1 :3:listed\n"),
        (
            "k.test/keys.aclkey",
            ":refuse\nsecret :pass\nclosed :refuse\n",
        ),
    ]);
    write_files(
        dir.path(),
        &[(
            "ward.toml",
            "[zone.\"k.test\".transfer]\nallow = [\"127.0.0.1/32\"]\n",
        )],
    );
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let ward = WardProcess::spawn(
        dir.path(),
        "",
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--query-log",
            "1",
            "--metrics",
            &metrics_addr,
        ],
    );
    let addr = ward.addr();
    let query = |name: &str| {
        let request = query_message(name, RecordType::A, false).to_vec().unwrap();
        raw_udp(addr, &request, Duration::from_secs(2)).map(|r| Message::from_vec(&r).unwrap())
    };
    for _ in 0..3 {
        assert_eq!(
            a_records(&query("1.2.0.192.secret.k.test.").unwrap()),
            ["127.0.0.3"]
        );
    }
    assert_eq!(
        rcode(&query("1.2.0.192.closed.k.test.").unwrap()),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(&query("1.2.0.192.guessed.k.test.").unwrap()),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(&query("1.2.0.192.k.test.").unwrap()),
        ResponseCode::Refused
    );
    let metrics_addr: SocketAddr = metrics_addr.parse().unwrap();
    let metrics = http_get(metrics_addr, "/metrics").unwrap().1;
    let series = |name: &str, key: &str| {
        sample(
            &metrics,
            &format!("{name}{{zone=\"k.test\",key=\"{key}\"}}"),
        )
    };
    assert_eq!(series("ward_key_queries_total", "secret"), 3, "{metrics}");
    assert_eq!(series("ward_key_listed_total", "secret"), 3);
    assert_eq!(series("ward_key_refused_total", "closed"), 1);
    assert_eq!(series("ward_key_queries_total", "_unknown"), 2);
    assert_eq!(series("ward_key_refused_total", "_unknown"), 2);
    let logged = ward.wait_for("1.2.0.192.[key].k.test", Duration::from_secs(10));
    assert!(!ward.log().contains("secret"), "{}", ward.log());
    // A label that is no key is the name's, and shown.
    assert!(ward.log().contains("1.2.0.192.guessed.k.test"), "{logged}");
    // Not transferred, and `ward check` says why.
    let request = {
        let mut m = query_message("k.test.", RecordType::AXFR, false);
        m.metadata.recursion_desired = false;
        m.to_vec().unwrap()
    };
    let reply = tcp_exchange(std::net::TcpStream::connect(addr).unwrap(), &request).unwrap();
    assert_eq!(
        rcode(&Message::from_vec(&reply).unwrap()),
        ResponseCode::Refused
    );
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("access keys (aclkey): ward refuses to transfer it"),
        "{report}"
    );
}

/// `ward lookup` says which key a query name uses, and what it gets.
#[test]
fn lookup_says_which_key_a_query_uses() {
    let dir = zones_dir(&[
        (
            "k.test/names.dnhash",
            "needkey.tld :3:NEEDKEY @ key=require\n",
        ),
        ("k.test/keys.aclkey", ":pass\nsecret :pass\n"),
    ]);
    let lookup = |name: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["lookup", name])
            .current_dir(dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keyed = lookup("needkey.tld.secret.k.test");
    assert!(keyed.contains("A 127.0.0.3"), "{keyed}");
    assert!(keyed.contains("access key secret: pass"), "{keyed}");
    assert!(
        keyed.contains("names.dnhash:1"),
        "the entry behind it: {keyed}"
    );
    assert!(keyed.contains("access key only"), "{keyed}");
    let plain = lookup("needkey.tld.k.test");
    assert!(plain.contains("NXDOMAIN"), "{plain}");
    assert!(plain.contains("no access key: pass"), "{plain}");
}

/// The public page never uses or shows access keys: a name naming a key is not looked
/// up there, and a zone's keys appear nowhere on it.
#[test]
fn the_web_page_never_uses_or_shows_keys() {
    let web = crate::support::web::start(&[
        ("k.test/ips.ip4set", "192.0.2.1 :3:listed\n"),
        ("k.test/keys.aclkey", ":pass\nsecretkey :5:Keyed answer\n"),
    ]);
    let json = |q: &str| {
        crate::support::web::get(
            &web.url(&format!(
                "/api/v1/lookup?q={}",
                crate::support::web::encode(q)
            )),
            &[],
        )
        .json()
    };
    let plain = json("192.0.2.1");
    let text = plain.to_string();
    assert!(text.contains("k.test"), "{text}");
    assert!(!text.contains("secretkey"), "{text}");
    let keyed = json("1.2.0.192.secretkey.k.test");
    assert!(
        keyed["zones"].as_array().is_none_or(|z| z.is_empty()),
        "{keyed}"
    );
    assert!(!keyed.to_string().contains("Keyed answer"), "{keyed}");
}
