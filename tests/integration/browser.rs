//! A real browser against the lookup page: headless Chromium, driven over WebDriver
//! (chromedriver on a loopback port, spoken to with plain HTTP), loads the start page,
//! searches a listed IP, sends a removal request and explains a bounce — with no
//! JavaScript on any page. Screenshots are saved under the test's output directory
//! (`target/tmp/browser/`); the assertions are on the text the browser rendered.
//!
//! Needs `apt-get install chromium chromium-driver`. Without them the test is skipped
//! with a notice, unless `CI` is set: then it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::eventually;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = crate::support::free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        eventually(Duration::from_secs(30), "chromedriver is ready", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && crate::support::web::get(&format!("{}/status", driver.url), &[]).json()["value"]
                    ["ready"]
                    == true
        });
        driver
    }
}

/// One WebDriver session.
struct Browser<'d> {
    driver: &'d Driver,
    session: String,
}

impl<'d> Browser<'d> {
    fn open(driver: &'d Driver, chromium: &Path, profile: &Path) -> Browser<'d> {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1000,860",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let reply = crate::support::web::post(
            &format!("{}/session", driver.url),
            "application/json",
            &capabilities.to_string(),
            &[],
        );
        assert_eq!(reply.status, 200, "new session: {}", reply.body);
        let session = reply.json()["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Browser { driver, session }
    }

    /// A WebDriver command's value; `None` when the driver refuses it (an element gone
    /// stale because the page navigated meanwhile, …).
    fn try_call(&self, method: &str, path: &str, body: &Value) -> Option<Value> {
        let url = format!("{}/session/{}{path}", self.driver.url, self.session);
        let reply = match method {
            "GET" => crate::support::web::get(&url, &[]),
            _ => crate::support::web::post(&url, "application/json", &body.to_string(), &[]),
        };
        (reply.status == 200).then(|| reply.json()["value"].clone())
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_call(method, path, &body)
            .unwrap_or_else(|| panic!("{method} {path} failed"))
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Retries `attempt` while the page is still settling (bounded: ten seconds).
    fn settled<T>(&self, what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
        for _ in 0..100 {
            if let Some(done) = attempt() {
                return done;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: not possible within ten seconds");
    }

    fn try_find(&self, css: &str) -> Option<String> {
        self.try_call(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        )
        .and_then(|found| found[ELEMENT].as_str().map(str::to_string))
    }

    fn click(&self, css: &str) {
        self.settled(&format!("click {css}"), || {
            let element = self.try_find(css)?;
            self.try_call("POST", &format!("/element/{element}/click"), &json!({}))
        });
    }

    fn type_into(&self, css: &str, text: &str) {
        self.settled(&format!("type into {css}"), || {
            let element = self.try_find(css)?;
            self.try_call("POST", &format!("/element/{element}/clear"), &json!({}))?;
            self.try_call(
                "POST",
                &format!("/element/{element}/value"),
                &json!({ "text": text }),
            )
        });
    }

    fn value_of(&self, css: &str) -> String {
        self.settled(&format!("read {css}"), || {
            let element = self.try_find(css)?;
            let value = self.try_call(
                "GET",
                &format!("/element/{element}/property/value"),
                &Value::Null,
            )?;
            value.as_str().map(str::to_string)
        })
    }

    /// The page's text as rendered, once a page is there to read (a click may still be
    /// navigating).
    fn text(&self) -> String {
        self.settled("read the page", || {
            let body = self.try_find("body")?;
            let text = self.try_call("GET", &format!("/element/{body}/text"), &Value::Null)?;
            text.as_str().map(str::to_string)
        })
    }

    fn screenshot(&self, path: &Path) {
        let data = self.call("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Waits until the address bar shows `part`.
    fn wait_for_url(&self, part: &str) {
        eventually(
            Duration::from_secs(20),
            &format!("the browser at {part}"),
            || self.url().contains(part),
        );
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.driver.url, self.session);
        let _ = crate::support::web::delete(&url, &[]);
    }
}

/// Chromium and chromedriver, where installed; `None` (the test is skipped) outside CI.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let (Some(chromium), Some(chromedriver)) = (
        find_binary(&["chromium", "chromium-browser", "google-chrome"]),
        find_binary(&["chromedriver"]),
    ) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "chromium or chromedriver is not installed (apt-get install chromium chromium-driver): the browser test cannot run"
            );
        }
        eprintln!(
            "SKIPPED: chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    Some((chromium, chromedriver))
}

/// Where screenshots go.
fn screenshots() -> PathBuf {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

#[test]
fn a_browser_searches_requests_removal_and_explains_a_bounce() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let shots = screenshots();
    // Stand-ins for public lists: one lists the IP, one refuses the resolver.
    let lists = crate::support::TestServer::with_files_and(
        &[
            ("bl.lists.test.zone", "203.0.113.7 :127.0.0.4:Exploited\n"),
            (
                "strict.lists.test.ip4set",
                "0.0.0.0/0 :127.255.255.254:Refused\n",
            ),
            ("clean.lists.test.zone", "192.0.2.1 :127.0.0.2:x\n"),
        ],
        &["--no-test-points"],
        "",
    );
    let toml = format!(
        r#"[resolver]
address = "{}"
[external."bl.lists.test"]
name = "Example Blocklist"
lists = ["ipv4"]
link = "https://bl.lists.test/lookup?ip=$"
[external."bl.lists.test".codes]
"127.0.0.4" = "an exploited host"
[external."strict.lists.test"]
name = "Strict List"
lists = ["ipv4"]
[external."clean.lists.test"]
name = "Another List"
lists = ["ipv4"]
[external."clean.lists.test".codes]
"127.0.0.2" = "a spam source"
"#,
        lists.addr
    );
    let web = crate::support::web::launch_toml(&[], &[], &toml, |_| {});
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium, profile.path());

    // The start page offers the visitor's own address.
    browser.go(&web.url("/"));
    assert_eq!(browser.value_of("#q"), "127.0.0.1");
    assert!(
        browser
            .text()
            .contains("Is your server or address on our lists?")
    );
    browser.screenshot(&shots.join("index.png"));

    // Search a listed IP.
    browser.type_into("#q", "203.0.113.7");
    browser.click("form.search button");
    browser.wait_for_url("/lookup?q=203.0.113.7");
    let text = browser.text();
    for expected in [
        "203.0.113.7 is listed in 1 of our lists",
        "203.0.113.7 looks hacked",
        "127.0.0.3 (compromised-host)",
        "2026-11-20",
        "7.113.0.203.ips.block.example.",
        "Other lists",
        "Example Blocklist",
        "an exploited host",
        "could not check",
        "the list refuses the resolver ward asked through",
    ] {
        assert!(text.contains(expected), "{expected:?} not shown:\n{text}");
    }
    browser.screenshot(&shots.join("lookup.png"));
    // The public lists' table, scrolled to by its anchor (the page has no script).
    browser.go(&web.url("/lookup?q=203.0.113.7#other-lists"));
    assert!(browser.text().contains("Example Blocklist"));
    browser.screenshot(&shots.join("lookup-external.png"));

    // Ask for removal: the button, the form, the status page.
    browser.click("form.removal button");
    browser.wait_for_url("/request/new");
    assert!(
        browser
            .text()
            .contains("Request removal of 203.0.113.7 from ips.block.example")
    );
    browser.type_into("#email", "owner@sender.example");
    browser.type_into(
        "#message",
        "The hacked account is closed and the server reinstalled.",
    );
    browser.click("form.request button");
    eventually(Duration::from_secs(20), "the request's own page", || {
        let url = browser.url();
        url.contains("/request/") && !url.contains("/request/new")
    });
    let text = browser.text();
    assert!(text.contains("This request is open."), "{text}");
    assert!(text.contains("The hacked account is closed"), "{text}");
    browser.screenshot(&shots.join("request.png"));

    // Explain a bounce.
    browser.go(&web.url("/explain"));
    browser.type_into(
        "#text",
        "554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using ips.block.example; 203.0.113.7 looks hacked",
    );
    browser.click("form.explain button");
    eventually(Duration::from_secs(20), "the explanation", || {
        browser.text().contains("What happened")
    });
    let text = browser.text();
    assert!(
        text.contains(
            "Our list ips.block.example caused this bounce: 203.0.113.7 is listed there."
        ),
        "{text}"
    );
    browser.screenshot(&shots.join("explain.png"));
    eprintln!("screenshots in {}", shots.display());
}

/// "I fixed it: remove it now" (issue 21), as the listed walk it: a listing fail2ban
/// made goes once, and a second listing within the period is told to open a request;
/// an SPF listing stays until the domain's record (on a stand-in DNS server) names the
/// hosting's senders.
#[test]
fn a_browser_removes_a_listing_it_fixed() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        return;
    };
    let shots = screenshots();
    let record = |spf: &str| format!("customer TXT \"{spf}\"\n");
    let dns = crate::support::TestServer::with_files(&[(
        "spf.test/records.generic",
        &record("v=spf1 ip4:198.51.100.0/24 -all"),
    )]);
    let toml = format!(
        "[resolver]\naddress = \"{}\"\ntimeout = 1.0\n[self_removal]\nspf_include = [\"_spf.hosting.example\"]\n",
        dns.addr
    );
    let web =
        crate::support::web::launch_toml(&[("lists.test/admin.zone", "")], &[], &toml, |_| {});
    let ban = |key: &str, reason: &str| {
        let reply = web.admin_post(
            "/api/v1/entries",
            &json!({"zone": "lists.test", "key": key, "reason": reason, "by": "fail2ban",
                    "ticket": format!("ward-{reason}"), "expires": "2099-01-01T00:00:00Z"}),
        );
        assert!(matches!(reply.status, 200 | 201), "{}", reply.body);
    };
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium, profile.path());

    ban("news@shop.example", "invalid-recipients");
    let page = web.url("/lookup?q=news%40shop.example");
    eventually(Duration::from_secs(10), "the offer", || {
        browser.go(&page);
        browser.text().contains("I fixed it: remove it now")
    });
    // The form, scrolled to by its anchor, for the docs.
    browser.go(&format!("{page}#self-removal-lists.test"));
    browser.screenshot(&shots.join("self-removal.png"));
    browser.type_into(
        "form.self-removal input[name=contact]",
        "owner@shop.example",
    );
    browser.click("form.self-removal button");
    eventually(Duration::from_secs(20), "the confirmation", || {
        browser
            .text()
            .contains("news@shop.example is no longer listed in lists.test")
    });
    // fail2ban lists it again: no second free pass within the period.
    ban("news@shop.example", "invalid-recipients");
    eventually(Duration::from_secs(10), "the listing is back", || {
        browser.go(&page);
        browser.text().contains("mailed many addresses")
    });
    let text = browser.text();
    assert!(!text.contains("I fixed it"), "{text}");
    assert!(text.contains("a removal needs a request"), "{text}");
    assert!(
        browser.try_find("form.removal button").is_some(),
        "a request is offered"
    );

    // SPF: refused with what the record says and lacks, until it is fixed.
    ban("customer.spf.test", "missing-spf");
    let page = web.url("/lookup?q=customer.spf.test");
    eventually(Duration::from_secs(10), "the SPF offer", || {
        browser.go(&page);
        browser.text().contains("I fixed it: remove it now")
    });
    assert!(
        browser.text().contains("SPF record"),
        "the page says what is checked"
    );
    browser.click("form.self-removal button");
    eventually(Duration::from_secs(20), "the refusal", || {
        browser
            .text()
            .contains("does not authorise our servers yet")
    });
    let text = browser.text();
    assert!(text.contains("v=spf1 ip4:198.51.100.0/24 -all"), "{text}");
    assert!(text.contains("include:_spf.hosting.example"), "{text}");
    browser.screenshot(&shots.join("self-removal-spf.png"));
    std::fs::write(
        dns.zones.join("spf.test/records.generic"),
        record("v=spf1 ip4:198.51.100.0/24 include:_spf.hosting.example -all"),
    )
    .unwrap();
    dns.reload();
    browser.go(&page);
    browser.click("form.self-removal button");
    eventually(Duration::from_secs(20), "the confirmation", || {
        browser
            .text()
            .contains("customer.spf.test is no longer listed in lists.test")
    });
    browser.go(&page);
    assert!(browser.text().contains("not listed"), "{}", browser.text());
}
