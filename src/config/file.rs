//! `ward.toml`: server settings and per-zone options. Every setting also has a flag on
//! the command line, and flags win.
//!
//! ```toml
//! zones = "zones"
//! listen = ["127.0.0.1:5353", "[::1]:5353"]
//! threads = 2
//! udp_payload = 1232
//! default_ttl = 2100
//! test_points = true
//! poll_interval = 2          # seconds; 0 turns polling off
//! debounce = 200             # milliseconds
//! tcp_max_connections = 512  # default: from the descriptor limit
//! tcp_idle_timeout = 10      # seconds
//! metrics = "127.0.0.1:9153" # Prometheus /metrics, /healthz, /readyz
//! user = "ward"              # after binding
//! grace = 5                  # seconds a stop waits for queries in progress
//! log_format = "json"
//!
//! http = "127.0.0.1:8080"    # lookup page; default off
//! admin = "127.0.0.1:8081"   # admin API; default off
//! admin_token_file = "/etc/ward/admin.token"
//! trusted_proxies = ["127.0.0.1/32"]  # X-Forwarded-For believed from these
//! state = "/var/lib/ward"    # requests and audit log
//!
//! [rrl]                      # response rate limiting, off unless a rate is set
//! rate = 20
//! slip = 2
//! exempt = ["192.0.2.0/24"]
//!
//! [zone."ips.block.example"]
//! allow = ["127.0.0.0/8", "::1/128"]
//! refused = "error-answer"   # or "refuse"
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use ipnet::IpNet;

use super::args::LogFormat;
use crate::dns::rrl::RrlSettings;
use crate::zone::acl::Refused;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub zones: Option<PathBuf>,
    pub listen: Option<Vec<SocketAddr>>,
    pub threads: Option<usize>,
    pub udp_payload: Option<u16>,
    pub default_ttl: Option<u32>,
    pub test_points: Option<bool>,
    pub normalise_addresses: Option<bool>,
    pub accept_host_bits: Option<bool>,
    pub lenient: Option<bool>,
    /// Seconds between checks for changed files when no event arrives; 0 = off.
    pub poll_interval: Option<u64>,
    /// Milliseconds files must be quiet before they are reloaded.
    pub debounce: Option<u64>,
    /// Watch the zones directory for file events.
    pub watch: Option<bool>,
    /// Open TCP connections at most.
    pub tcp_max_connections: Option<usize>,
    /// Seconds a TCP connection may stay idle.
    pub tcp_idle_timeout: Option<u64>,
    /// Prometheus metrics, `/healthz` and `/readyz` on this address.
    pub metrics: Option<SocketAddr>,
    /// Run as this user after binding.
    pub user: Option<String>,
    /// Seconds a stop waits for queries in progress.
    pub grace: Option<u64>,
    pub log_format: Option<LogFormat>,
    /// Log one UDP query in this many.
    pub query_log: Option<u32>,
    /// Response rate limiting.
    pub rrl: Option<RrlSettings>,
    pub log: Option<String>,
    /// The lookup page's address (`--http`).
    pub http: Option<SocketAddr>,
    /// The admin API's address (`--admin`).
    pub admin: Option<SocketAddr>,
    /// The admin API's bearer token file (`--admin-token-file`).
    pub admin_token_file: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Option<Vec<IpNet>>,
    /// Removal requests and the audit log (`--state`).
    pub state: Option<PathBuf>,
    #[serde(default)]
    pub zone: HashMap<String, ZoneSettings>,
    /// TSIG keys by name.
    #[serde(default)]
    pub key: HashMap<String, KeySettings>,
    /// IXFR journal: the most versions kept per zone.
    pub journal_versions: Option<usize>,
    /// IXFR journal: the most bytes (of records) kept per zone.
    pub journal_bytes: Option<usize>,
    /// The recursive resolver ward asks other lists through (`[resolver]`).
    pub resolver: Option<ResolverSettings>,
    /// Public lists the lookup page and the bounce explainer also ask, by zone.
    #[serde(default)]
    pub external: HashMap<String, ExternalSettings>,
    /// What ward checks before the listed remove a listing themselves.
    pub self_removal: Option<SelfRemovalSettings>,
}

/// `[self_removal]`: how ward verifies a fix before a self-removal (reasons marked
/// `self-remove=… check=spf` in reasons.conf).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfRemovalSettings {
    /// An SPF record that includes one of these (`include:` or `redirect=`) authorises
    /// the hosting's senders.
    #[serde(default)]
    pub spf_include: Vec<String>,
    /// So does one whose `ip4:`/`ip6:` covers one of these networks.
    #[serde(default)]
    pub spf_networks: Vec<IpNet>,
}

/// `[resolver]`: how ward asks other DNS servers (the public lists of the lookup page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverSettings {
    /// A recursive resolver (`ADDR:PORT`); absent: the system's (/etc/resolv.conf).
    pub address: Option<SocketAddr>,
    /// Seconds a list may take to answer before it is shown as not checked.
    pub timeout: Option<f64>,
    /// Questions a second ward may send to other lists at most, all lists together.
    pub max_queries_per_second: Option<u32>,
}

/// `[external."zen.spamhaus.org"]`: a public list the lookup page asks too.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSettings {
    /// The list's name as visitors read it.
    pub name: Option<String>,
    /// What it lists: `ipv4`, `ipv6`, `domain`, `email` (hashed addresses).
    pub lists: Vec<String>,
    /// A page for the listed, `$` standing for the value looked up.
    pub link: Option<String>,
    /// Where the codes below come from (for the admin; not shown).
    pub source: Option<String>,
    /// An access key that goes into the zone name (`KEY.zen.dq.spamhaus.net`), never
    /// shown: given here or in a file.
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    /// How hashed addresses are asked (`email` lists): `sha1` (default), `md5` or
    /// `sha256`, and a label after the digest (`_email` for `<sha1>._email.ZONE`).
    pub hash: Option<String>,
    pub hash_label: Option<String>,
    /// Seconds this list may take (default: `[resolver] timeout`).
    pub timeout: Option<f64>,
    /// What each return code means: `"127.0.0.2"` or a range `"127.0.0.4-127.0.0.7"`.
    #[serde(default)]
    pub codes: std::collections::BTreeMap<String, String>,
    /// Answers that mean the query failed, not a listing (besides 127.255.255.0/24).
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, String>,
}

/// Per-zone settings from `ward.toml` (`[zone."ips.block.example"]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSettings {
    /// RFC 5782 test points (127.0.0.2, `test`); default on.
    pub test_points: Option<bool>,
    /// Normalise addresses before hashing; default on.
    pub normalise_addresses: Option<bool>,
    /// Clients allowed to query; absent means everyone.
    pub allow: Option<Vec<IpNet>>,
    #[serde(default)]
    pub refused: Refused,
    /// TTL for data that sets none.
    pub default_ttl: Option<u32>,
    /// Name servers when the data has no `$NS`.
    pub ns: Option<Vec<String>>,
    /// Zone transfers to secondaries (AXFR/IXFR) and NOTIFY.
    pub transfer: Option<TransferSettings>,
}

/// Who may transfer a zone, with which key, and whom ward notifies of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSettings {
    /// Networks allowed to transfer (and, with `key`, only with that key too).
    #[serde(default)]
    pub allow: Vec<IpNet>,
    /// The name of a `[key."…"]` every transfer request must be signed with.
    pub key: Option<String>,
    /// Secondaries sent a NOTIFY on every serial change (`ADDR:PORT`).
    #[serde(default)]
    pub notify: Vec<SocketAddr>,
}

/// A TSIG key (RFC 8945): `[key."transfer.example."]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// `hmac-sha256`, `hmac-sha512`, or `hmac-sha1` (for old BIND).
    pub algorithm: String,
    /// The secret, base64 (as `tsig-keygen` and `keymgr` print it).
    pub secret: Option<String>,
    /// A file holding the secret, base64 (kept out of ward.toml; never logged).
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Settings that parse but do not make sense together (a zone naming a key that
    /// is not defined, a secret that is not base64).
    #[error("{0}")]
    Invalid(String),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the text; the error names the line and column.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|error| {
            let position = error.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("{line}:{column}: ")
            });
            format!("{}{}", position.unwrap_or_default(), error.message())
        })
    }

    /// The config file to use: the one given, or `ward.toml` beside the zones
    /// directory if there is one.
    pub fn locate(explicit: Option<&Path>, zones: &Path) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_path_buf());
        }
        let beside = zones
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .join("ward.toml");
        beside.is_file().then_some(beside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example at the top of this file is a file ward accepts.
    #[test]
    fn the_documented_example_parses() {
        let source = include_str!("file.rs");
        let example: String = source
            .lines()
            .skip_while(|line| *line != "//! ```toml")
            .skip(1)
            .take_while(|line| *line != "//! ```")
            .map(|line| format!("{}\n", line.trim_start_matches("//!").trim_start()))
            .collect();
        assert!(example.contains("[rrl]"), "{example}");
        let config = FileConfig::parse(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert!(config.http.is_some() && config.rrl.is_some());
        assert_eq!(config.trusted_proxies.map(|p| p.len()), Some(1));
    }

    #[test]
    fn parses_zone_settings() {
        let config = FileConfig::parse(
            r#"
listen = ["127.0.0.1:5353", "[::1]:5353"]
threads = 2
[zone."ips.block.example"]
allow = ["127.0.0.0/8"]
refused = "error-answer"
test_points = false
"#,
        )
        .unwrap();
        assert_eq!(config.listen.unwrap().len(), 2);
        let zone = &config.zone["ips.block.example"];
        assert_eq!(zone.test_points, Some(false));
        assert_eq!(zone.refused, Refused::ErrorAnswer);
    }

    #[test]
    fn errors_name_the_position() {
        let error = FileConfig::parse("threads = 2\nlisten = 5\n").unwrap_err();
        assert!(error.starts_with("2:10: "), "{error}");
        let error = FileConfig::parse("colour = \"blue\"\n").unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }
}
