//! Command-line arguments. Flags override `ward.toml`, which overrides defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::config::{ConfigError, FileConfig};
use crate::dns::fallback::DnsSettings;
use crate::dns::server::ServerConfig;
use crate::dns::tcp::TcpLimits;
use crate::dns::tsig::{Keyring, TsigKey};
use crate::dns::xfr::{TransferConfig, ZoneTransfer};
use crate::export::journal::JournalLimits;
use crate::load::LoadOptions;
use crate::reload::ReloadSettings;
use crate::rrl::RrlSettings;
use crate::serve::ServeSettings;
use crate::web::requests::StateFilter;
use crate::web::{Budget, WebSettings};
use crate::zone::name::Name;

#[derive(Debug, Parser)]
#[command(
    name = "ward",
    version,
    about = "Authoritative DNS server for mail reputation lists (DNSBL/RHSBL), rbldnsd compatible"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the zones directory (the default command).
    Serve(ServeArgs),
    /// Validate the zones directory: every error as file:line:column, exit 1 on errors.
    Check(CheckArgs),
    /// Show which zone, entry and file:line lists an IP, domain or address, and what
    /// a client receives.
    Lookup(LookupArgs),
    /// Ask a running ward a question; exit 0 when it answers (a health check).
    Probe(ProbeArgs),
    /// Write a zone as a BIND zone file (the records a secondary serves) or as rbldnsd
    /// data.
    Export(ExportArgs),
    /// Add a listing to zones/<zone>/api.zone, as the admin API does (offline, same lock).
    Add(AddArgs),
    /// Remove a listing from zones/<zone>/api.zone, as the admin API does.
    Remove(RemoveArgs),
    /// List, accept or reject removal requests (the state directory's database).
    Requests(RequestsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The zone to export.
    #[arg(long, value_name = "ZONE")]
    pub zone: String,
    /// `bind` (a zone file) or `rbldnsd` (a combined dataset).
    #[arg(long, value_name = "FORMAT", default_value = "bind")]
    pub format: ExportFormat,
    /// Write here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub zones: ZoneArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Bind,
    Rbldnsd,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ZoneArgs {
    /// Zones directory [default: zones, or `zones` in ward.toml].
    #[arg(long, value_name = "DIR")]
    pub zones: Option<PathBuf>,
    /// Configuration file [default: ward.toml beside the zones directory, if any].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Load zones with bad lines, skipping those lines (rbldnsd's behaviour).
    #[arg(long)]
    pub lenient: bool,
    /// TTL for data that sets none [default: 2100, rbldnsd's].
    #[arg(long, value_name = "SECONDS")]
    pub default_ttl: Option<u32>,
    /// Do not add the RFC 5782 test points (127.0.0.2, `test`).
    #[arg(long)]
    pub no_test_points: bool,
    /// Accept CIDRs with host bits set, masking them (rbldnsd -e).
    #[arg(long)]
    pub accept_host_bits: bool,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub zone: ZoneArgs,
    /// Address to serve on, UDP and TCP; repeat for several (IPv4 and IPv6)
    /// [default: 127.0.0.1:5353].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// EDNS UDP payload size ward advertises and sends up to [default: 1232].
    #[arg(long, value_name = "BYTES")]
    pub udp_payload: Option<u16>,
    /// Seconds between checks for changed files, for filesystems without change
    /// events (NFS, some container mounts); 0 turns it off [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Milliseconds files must be quiet before they are reloaded [default: 200].
    #[arg(long, value_name = "MS")]
    pub debounce: Option<u64>,
    /// Do not watch the zones directory for file events (polling and SIGHUP still
    /// reload).
    #[arg(long)]
    pub no_watch: bool,
    /// Open TCP connections at most; when full, the one idle longest is closed
    /// [default: half the descriptor limit after a reserve, at most 4096].
    #[arg(long, value_name = "N")]
    pub tcp_max_connections: Option<usize>,
    /// Seconds a TCP connection may stay idle (or take to send one query) [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub tcp_idle_timeout: Option<u64>,
    /// Log filter, e.g. `info` or `ward=debug` [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format: `text`, or `json` (one object a line, for log shippers).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log one UDP query in this many (a sample, for debugging) [default: none].
    #[arg(long, value_name = "RATE")]
    pub query_log: Option<u32>,
    /// Serve Prometheus metrics (`/metrics`), `/healthz` and `/readyz` on this address
    /// [default: off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// After binding, run as this user (start as root to bind port 53).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Seconds a stop waits for queries in progress [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
    /// Response rate limiting: responses a second per client network and kind of
    /// response; 0 is off [default: off; more settings in ward.toml `[rrl]`].
    #[arg(long, value_name = "N")]
    pub rrl_rate: Option<u32>,
    /// Every Nth rate-limited response goes out empty with TC set [default: 2].
    #[arg(long, value_name = "N")]
    pub rrl_slip: Option<u32>,
    /// Only count and log what rate limiting would drop.
    #[arg(long)]
    pub rrl_log_only: bool,
    /// Serve the lookup page, bounce explainer and removal requests on this address
    /// (a bare port means 127.0.0.1) [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    pub http: Option<SocketAddr>,
    /// Serve the admin API on this address (a bare port means 127.0.0.1); needs
    /// --admin-token-file [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    pub admin: Option<SocketAddr>,
    /// File holding the admin API's bearer token (first line).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// A reverse proxy (network) in front of --http/--admin whose X-Forwarded-For
    /// names the client; repeat for more [default: none].
    #[arg(long = "trusted-proxy", value_name = "NET")]
    pub trusted_proxies: Vec<IpNet>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The name to ask [default: the RFC 5782 test point of the first zone in the
    /// zones directory].
    pub name: Option<String>,
    /// The server to ask.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5353")]
    pub server: SocketAddr,
    /// Query type.
    #[arg(long, value_name = "TYPE", default_value = "A")]
    pub qtype: String,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub timeout: u64,
    #[command(flatten)]
    pub zone: ZoneArgs,
}

/// `ADDR:PORT`, or a bare port on 127.0.0.1: the web listeners stay on loopback unless
/// told otherwise.
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse()
        .map_err(|_| format!("expected ADDR:PORT (e.g. 127.0.0.1:8080) or a port, not `{text}`"))
}

#[derive(Debug, Clone, Args, Default)]
pub struct StateArgs {
    /// Directory for removal requests (SQLite) and the audit log [default: `state`
    /// beside the zones directory].
    #[arg(long = "state", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl StateArgs {
    /// The state directory: flag, `ward.toml`, or `state` beside the zones directory
    /// (the last also says so, as it is a guess).
    pub fn resolve(&self, file: &FileConfig, zones: &std::path::Path) -> (PathBuf, bool) {
        match self.dir.clone().or_else(|| file.state.clone()) {
            Some(dir) => (dir, false),
            None => (WebSettings::default_state(zones), true),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The zone (a directory under the zones directory).
    pub zone: String,
    /// What to list: an IP, CIDR or range, a domain, *.domain, local@domain or a digest.
    pub key: String,
    /// A reason name from reasons.conf.
    pub reason: String,
    /// When the listing stops answering (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// A ticket number to keep with the entry.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Who adds it [default: cli:$USER].
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    pub zone: String,
    /// The key as listed (the same IP, CIDR, name or address).
    pub key: String,
    /// Who removes it [default: cli:$USER].
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub action: Option<RequestsAction>,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RequestsAction {
    /// List requests (the default: open ones).
    List {
        #[arg(long, value_enum, default_value = "open")]
        show: StateFilter,
    },
    /// Accept a request: its listing is removed from the zone's api.zone.
    Accept {
        id: i64,
        /// The answer the requester sees.
        #[arg(long)]
        answer: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Reject a request, with an answer the requester sees.
    Reject {
        id: i64,
        #[arg(long)]
        answer: String,
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub zone: ZoneArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// An IPv4/IPv6 address, a domain, an email address, or a query name.
    pub query: String,
    #[command(flatten)]
    pub zone: ZoneArgs,
}

impl ZoneArgs {
    pub fn zones_dir(&self, file: &FileConfig) -> PathBuf {
        self.zones
            .clone()
            .or_else(|| file.zones.clone())
            .unwrap_or_else(|| PathBuf::from("zones"))
    }

    pub fn load_options(&self, file: &FileConfig) -> LoadOptions {
        LoadOptions {
            default_ttl: self.default_ttl.or(file.default_ttl).unwrap_or(2100),
            test_points: !self.no_test_points && file.test_points.unwrap_or(true),
            normalise_addresses: file.normalise_addresses.unwrap_or(true),
            accept_host_bits: self.accept_host_bits || file.accept_host_bits.unwrap_or(false),
            keep_entries: false,
            // A zone a secondary may transfer needs its hashed names in full.
            keep_digests: file.zone.values().any(|z| z.transfer.is_some()),
            zones: file.zone.clone(),
            serial_floors: Default::default(),
        }
    }

    pub fn lenient(&self, file: &FileConfig) -> bool {
        self.lenient || file.lenient.unwrap_or(false)
    }
}

impl ServeArgs {
    /// Flags and file merged; an error for settings that cannot work (transfer keys).
    pub fn settings(&self, file: &FileConfig) -> Result<ServeSettings, ConfigError> {
        let defaults = ServerConfig::default();
        let listen = if !self.listen.is_empty() {
            self.listen.clone()
        } else {
            file.listen.clone().unwrap_or(defaults.listen)
        };
        let metrics = self.metrics.or(file.metrics);
        Ok(ServeSettings {
            metrics,
            user: self.user.clone().or_else(|| file.user.clone()),
            zones: self.zone.zones_dir(file),
            load: self.zone.load_options(file),
            lenient: self.zone.lenient(file),
            server: ServerConfig {
                listen,
                udp_workers: self
                    .threads
                    .or(file.threads)
                    .unwrap_or(defaults.udp_workers),
                settings: DnsSettings {
                    udp_payload: self
                        .udp_payload
                        .or(file.udp_payload)
                        .unwrap_or(DnsSettings::default().udp_payload)
                        .max(512),
                    transfers: None,
                },
                tcp: TcpLimits {
                    max_connections: self.tcp_max_connections.or(file.tcp_max_connections),
                    idle_timeout: Duration::from_secs(
                        self.tcp_idle_timeout
                            .or(file.tcp_idle_timeout)
                            .unwrap_or(defaults.tcp.idle_timeout.as_secs())
                            .max(1),
                    ),
                },
                count_answers: metrics.is_some(),
                rrl: self.rrl_settings(file),
                query_log_every: self.query_log.or(file.query_log).unwrap_or(0),
                grace: self
                    .grace
                    .or(file.grace)
                    .map_or(defaults.grace, Duration::from_secs),
            },
            reload: ReloadSettings {
                debounce: Duration::from_millis(self.debounce.or(file.debounce).unwrap_or(200)),
                poll_interval: Some(self.poll_interval.or(file.poll_interval).unwrap_or(2))
                    .filter(|&s| s > 0)
                    .map(Duration::from_secs),
                watch: !self.no_watch && file.watch.unwrap_or(true),
                ..ReloadSettings::default()
            },
            sighup: true,
            serials: self.serials_file(file),
            transfer: transfer_config(file)?,
            web: self.web_settings(file),
        })
    }

    fn rrl_settings(&self, file: &FileConfig) -> RrlSettings {
        let mut rrl = file.rrl.clone().unwrap_or_default();
        if let Some(rate) = self.rrl_rate {
            rrl.rate = rate;
        }
        if let Some(slip) = self.rrl_slip {
            rrl.slip = slip;
        }
        rrl.log_only |= self.rrl_log_only;
        rrl
    }

    /// The log format: flag, file, or text.
    pub fn log_format(&self, file: &FileConfig) -> LogFormat {
        self.log_format.or(file.log_format).unwrap_or_default()
    }

    /// Where serials are kept across restarts: in the state directory when one is set,
    /// or beside the zones when secondaries depend on the serial (transfers).
    fn serials_file(&self, file: &FileConfig) -> Option<PathBuf> {
        let explicit = self.state.dir.is_some() || file.state.is_some();
        let transfers = file.zone.values().any(|z| z.transfer.is_some());
        (explicit || transfers).then(|| {
            let (state, _) = self.state.resolve(file, &self.zone.zones_dir(file));
            state.join("serials")
        })
    }

    /// The web side's settings when `--http` or `--admin` asks for it.
    pub fn web_settings(&self, file: &FileConfig) -> Option<WebSettings> {
        let http = self.http.or(file.http);
        let admin = self.admin.or(file.admin);
        if http.is_none() && admin.is_none() {
            return None;
        }
        let (state, guessed) = self.state.resolve(file, &self.zone.zones_dir(file));
        if guessed {
            tracing::info!(state = %state.display(), "no --state given: keeping removal requests and the audit log here");
        }
        Some(WebSettings {
            http,
            admin,
            admin_token_file: self
                .admin_token_file
                .clone()
                .or_else(|| file.admin_token_file.clone()),
            state,
            pages: Budget::PAGES,
            requests: Budget::REQUESTS,
            trusted_proxies: if self.trusted_proxies.is_empty() {
                file.trusted_proxies.clone().unwrap_or_default()
            } else {
                self.trusted_proxies.clone()
            },
        })
    }

    /// The log filter: flag, file, or `info`.
    pub fn log_filter(&self, file: &FileConfig) -> String {
        self.log
            .clone()
            .or_else(|| file.log.clone())
            .unwrap_or_else(|| "info".to_string())
    }
}

/// The zones secondaries may transfer, with their keys. Errors name the setting, never
/// a secret.
pub fn transfer_config(file: &FileConfig) -> Result<TransferConfig, ConfigError> {
    let mut keys = Keyring::default();
    for (name, key) in &file.key {
        let secret = match (&key.secret, &key.secret_file) {
            (Some(secret), None) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|error| {
                ConfigError::Invalid(format!(
                    "[key.\"{name}\"]: cannot read secret_file {}: {error}",
                    path.display()
                ))
            })?,
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "[key.\"{name}\"]: set one of `secret` and `secret_file`"
                )));
            }
        };
        let key = TsigKey::new(name, &key.algorithm, &secret)
            .map_err(|error| ConfigError::Invalid(format!("[key.\"{name}\"]: {error}")))?;
        keys.insert(key);
    }
    let mut zones = std::collections::HashMap::new();
    for (zone, settings) in &file.zone {
        let Some(transfer) = &settings.transfer else {
            continue;
        };
        let invalid =
            |what: String| ConfigError::Invalid(format!("[zone.\"{zone}\".transfer]: {what}"));
        let name =
            Name::parse(zone).map_err(|_| invalid("the zone is not a domain name".into()))?;
        let key = match &transfer.key {
            Some(key) => {
                let key_name = Name::parse(key)
                    .ok()
                    .filter(|k| keys.get(k).is_some())
                    .ok_or_else(|| {
                        invalid(format!("key `{key}` is not defined (add [key.\"{key}\"])"))
                    })?;
                Some(key_name)
            }
            None => None,
        };
        if transfer.allow.is_empty() && key.is_none() {
            return Err(invalid(
                "set `allow` (the secondaries' networks) or `key` (a TSIG key), or both".into(),
            ));
        }
        zones.insert(
            name,
            ZoneTransfer {
                allow: transfer.allow.clone(),
                key,
                notify: transfer.notify.clone(),
            },
        );
    }
    let defaults = JournalLimits::default();
    Ok(TransferConfig {
        zones,
        keys,
        journal: JournalLimits {
            versions: file.journal_versions.unwrap_or(defaults.versions),
            bytes: file.journal_bytes.unwrap_or(defaults.bytes),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<TransferConfig, String> {
        let file = FileConfig::parse(text)?;
        transfer_config(&file).map_err(|e| e.to_string())
    }

    #[test]
    fn transfer_settings_that_cannot_work_are_refused_by_name() {
        let key = "[key.\"k\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";
        let ok = config(&format!("{key}[zone.\"z.test\".transfer]\nkey = \"k\"\n")).unwrap();
        assert_eq!(ok.zones.len(), 1);
        let unknown = config("[zone.\"z.test\".transfer]\nkey = \"nope\"\n").unwrap_err();
        assert!(unknown.contains("key `nope` is not defined"), "{unknown}");
        let nobody =
            config("[zone.\"z.test\".transfer]\nnotify = [\"127.0.0.1:53\"]\n").unwrap_err();
        assert!(nobody.contains("set `allow`"), "{nobody}");
        let both = config("[key.\"k\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\nsecret_file = \"/x\"\n").unwrap_err();
        assert!(both.contains("one of `secret` and `secret_file`"), "{both}");
        let algorithm =
            config("[key.\"k\"]\nalgorithm = \"hmac-md5\"\nsecret = \"c2VjcmV0\"\n").unwrap_err();
        assert!(algorithm.contains("unknown algorithm"), "{algorithm}");
        let base64 = config("[key.\"k\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"not base64!\"\n")
            .unwrap_err();
        assert!(
            base64.contains("not base64") && !base64.contains("not base64!"),
            "the secret is never shown: {base64}"
        );
        let missing = config(
            "[key.\"k\"]\nalgorithm = \"hmac-sha256\"\nsecret_file = \"/nonexistent/key\"\n",
        )
        .unwrap_err();
        assert!(
            missing.contains("cannot read secret_file /nonexistent/key"),
            "{missing}"
        );
    }
}
