//! What the web tests share: a ward serving a copy of the shipped zones with the
//! lookup page and the admin API on 127.0.0.1 port 0, and a small HTTP client (ureq,
//! real sockets) that keeps status, headers and body of every answer, errors included.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::{Read, Write};
use std::net::TcpStream;

use ward::{Budget, WebSettings};

use super::files::{shipped_copy, write_files};
use super::server::{TestServer, reloading_settings};

/// The admin token the tests use.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A ward with the web listeners, and where its files are.
pub struct Web {
    pub server: TestServer,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    pub zones: PathBuf,
    pub state: PathBuf,
    pub root: tempfile::TempDir,
}

/// Copies the shipped zones to a temp dir, adds `extra` (path in the zones directory,
/// contents), and serves them with reloading on (as `ward serve` does) and the web
/// listeners on.
pub fn start(extra: &[(&str, &str)]) -> Web {
    start_with(extra, Budget::REQUESTS)
}

pub fn start_with(extra: &[(&str, &str)], requests: Budget) -> Web {
    launch_with(extra, &[], |web| web.requests = requests)
}

/// Serves as `start` does, with `flags` added to the command line and the web
/// settings changed by `configure` first (for what has no flag: the rate budgets).
pub fn launch_with(
    extra: &[(&str, &str)],
    flags: &[&str],
    configure: impl FnOnce(&mut WebSettings),
) -> Web {
    launch_toml(extra, flags, "", configure)
}

/// Like [`launch_with`], with `toml` as ward.toml (also written beside the zones, where
/// `ward` commands run in the temp dir find it).
pub fn launch_toml(
    extra: &[(&str, &str)],
    flags: &[&str],
    toml: &str,
    configure: impl FnOnce(&mut WebSettings),
) -> Web {
    let root = shipped_copy();
    std::fs::write(root.path().join("ward.toml"), toml).unwrap();
    let zones = root.path().join("zones");
    write_files(&zones, extra);
    let token_file = root.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let state = root.path().join("state");
    let (token, state_dir) = (token_file.to_str().unwrap(), state.to_str().unwrap());
    let mut args = vec![
        "--http",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--admin-token-file",
        token,
        "--state",
        state_dir,
        "--debounce",
        "50",
    ];
    args.extend_from_slice(flags);
    let mut settings = reloading_settings(&zones, &args, toml);
    configure(settings.web.as_mut().expect("the web listeners are on"));
    let server = TestServer::start(settings);
    Web {
        http: server.http.expect("the public listener is bound"),
        admin: server.admin.expect("the admin listener is bound"),
        server,
        zones,
        state,
        root,
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The CSRF token of the page's form.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in:\n{}", self.body));
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// The cookie the page set (`name=value`).
    pub fn cookie(&self) -> Option<String> {
        self.header("set-cookie")
            .map(|c| c.split(';').next().unwrap_or("").to_string())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("an HTTP answer");
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.call())
}

pub fn post(url: &str, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().post(url).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.send(body))
}

/// Like [`post`], but a connection error (the server died) is `None`.
pub fn try_post(url: &str, body: &str, headers: &[(&str, &str)]) -> Option<Reply> {
    let mut request = agent().post(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send(body).ok().map(|r| reply(Ok(r)))
}

pub fn delete(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().delete(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.call())
}

/// Percent-encodes a form or query value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `a=1&b=2` from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Web {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// An admin API call with the right token.
    pub fn admin_post(&self, path: &str, json: &serde_json::Value) -> Reply {
        post(
            &self.admin_url(path),
            "application/json",
            &json.to_string(),
            &[("authorization", &format!("Bearer {TOKEN}"))],
        )
    }

    /// Posts a form the way a browser does after loading `page`: its cookie and its
    /// CSRF token.
    pub fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
        self.submit_with(page, action, fields, &[])
    }

    /// [`Web::submit`], sending `headers` with both requests.
    pub fn submit_with(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let loaded = get(&self.url(page), headers);
        assert_eq!(loaded.status, 200, "{page}: {}", loaded.body);
        let cookie = loaded.cookie().expect("the page sets the CSRF cookie");
        let token = loaded.csrf();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &token));
        let mut headers = headers.to_vec();
        headers.push(("cookie", &cookie));
        post(
            &self.url(action),
            "application/x-www-form-urlencoded",
            &form(&all),
            &headers,
        )
    }
}

/// A plain HTTP/1.1 GET on loopback: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of one sample in Prometheus text: the line `name{labels} value`, labels
/// given in the exporter's order.
pub fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .map_or(0, |v| v as u64)
}

/// The lookup API's answer for `q`.
pub fn lookup_json(web: &Web, q: &str) -> serde_json::Value {
    let reply = get(&web.url(&format!("/api/v1/lookup?q={}", encode(q))), &[]);
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    reply.json()
}

/// `ward <args>` run in `dir` as user alice: success, stdout, stderr.
pub fn ward_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(dir)
        .env("USER", "alice")
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A removal request for `q` in `zone`, sent through the page as a visitor sends it,
/// once the listing is served.
pub fn removal_from(web: &Web, zone: &str, q: &str, email: &str, message: &str) {
    crate::support::eventually(Duration::from_secs(10), "the listing is served", || {
        let view = lookup_json(web, q);
        view["zones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|z| z["zone"] == zone && z["listed"] == true)
    });
    let reply = web.submit(
        "/explain",
        "/request",
        &[
            ("zone", zone),
            ("q", q),
            ("email", email),
            ("message", message),
        ],
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
}
