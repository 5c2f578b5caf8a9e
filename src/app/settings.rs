//! Flags and `ward.toml` made into the settings of each part: the one place where
//! every default is decided and a flag wins over the file. The binary and the tests
//! both build their settings here (`tests/` start ward from a command line too), so
//! no default is worked out twice.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::serve::ServeSettings;
use crate::config::args::{Cli, Command, LogFormat, ServeArgs, StateArgs, ZoneArgs};
use crate::config::file::{ConfigError, FileConfig, ZoneSettings};
use crate::config::rbldnsd::RbldnsdOptions;
use crate::dns::fallback::DnsSettings;
use crate::dns::rrl::RrlSettings;
use crate::dns::server::ServerConfig;
use crate::dns::tcp::TcpLimits;
use crate::dns::tsig::{Keyring, TsigKey};
use crate::external;
use crate::listings::self_removal::{FixSettings, SpfPolicy};
use crate::load::{LoadOptions, ZoneOptions};
use crate::reload::ReloadSettings;
use crate::web::{Budget, ListenLimits, WebSettings};
use crate::xfr::journal::JournalLimits;
use crate::xfr::{TransferConfig, ZoneTransfer};
use crate::zone::DatasetKind;
use crate::zone::name::Name;

/// The configuration file the zone arguments point at (`--config`, or `ward.toml`
/// beside the zones directory), or the defaults when there is none.
pub fn read_config(args: &ZoneArgs) -> Result<FileConfig, ConfigError> {
    let zones = args.zones.clone().unwrap_or_else(|| "zones".into());
    match FileConfig::locate(args.config.as_deref(), &zones) {
        Some(path) => FileConfig::load(&path),
        None => Ok(FileConfig::default()),
    }
}

/// `ward serve`'s settings from a command line (`["serve", "--zones", …]`, without the
/// program name) and the text of a `ward.toml`: what the tests start ward with, read
/// exactly as the binary reads its own.
pub fn serve_settings_from(args: &[&str], config: &str) -> Result<ServeSettings, ConfigError> {
    let cli = Cli::try_parse_from(std::iter::once("ward").chain(args.iter().copied()))
        .map_err(|error| ConfigError::Invalid(error.to_string()))?;
    let Some(Command::Serve(serve)) = cli.command else {
        return Err(ConfigError::Invalid("not a `serve` command line".into()));
    };
    let file = FileConfig::parse(config).map_err(|message| ConfigError::Parse {
        path: "ward.toml".into(),
        message,
    })?;
    serve_settings(&serve, &file)
}

/// The zones directory: flag, file, or `zones`.
pub(crate) fn zones_dir(args: &ZoneArgs, file: &FileConfig) -> PathBuf {
    args.zones
        .clone()
        .or_else(|| file.zones.clone())
        .unwrap_or_else(|| PathBuf::from("zones"))
}

/// How every zone is loaded.
pub(crate) fn load_options(args: &ZoneArgs, file: &FileConfig) -> LoadOptions {
    let defaults = LoadOptions::default();
    LoadOptions {
        default_ttl: args
            .default_ttl
            .or(file.default_ttl)
            .unwrap_or(defaults.default_ttl),
        test_points: !args.no_test_points && file.test_points.unwrap_or(defaults.test_points),
        normalise_addresses: file
            .normalise_addresses
            .unwrap_or(defaults.normalise_addresses),
        accept_host_bits: args.accept_host_bits || file.accept_host_bits.unwrap_or(false),
        keep_entries: false,
        // A zone a secondary may transfer needs its hashed names in full.
        for_export: file.zone.values().any(|z| z.transfer.is_some()),
        zones: zone_options(&file.zone),
        ..defaults
    }
}

fn zone_options(zones: &HashMap<String, ZoneSettings>) -> HashMap<String, ZoneOptions> {
    zones
        .iter()
        .map(|(name, settings)| {
            let options = ZoneOptions {
                test_points: settings.test_points,
                normalise_addresses: settings.normalise_addresses,
                allow: settings.allow.clone(),
                refused: settings.refused,
                default_ttl: settings.default_ttl,
                ns: settings.ns.clone(),
            };
            (name.clone(), options)
        })
        .collect()
}

/// Whether bad lines are skipped instead of stopping the load.
pub(crate) fn lenient(args: &ZoneArgs, file: &FileConfig) -> bool {
    args.lenient || file.lenient.unwrap_or(false)
}

/// The state directory: flag, `ward.toml`, or `state` beside the zones directory
/// (the last also says so, as it is a guess).
pub(crate) fn state_dir(args: &StateArgs, file: &FileConfig, zones: &Path) -> (PathBuf, bool) {
    match args.dir.clone().or_else(|| file.state.clone()) {
        Some(dir) => (dir, false),
        None => (WebSettings::default_state(zones), true),
    }
}

/// Flags and file merged; an error for settings that cannot work (transfer keys).
pub fn serve_settings(args: &ServeArgs, file: &FileConfig) -> Result<ServeSettings, ConfigError> {
    let defaults = ServerConfig::default();
    let listen = if !args.listen.is_empty() {
        args.listen.clone()
    } else {
        file.listen.clone().unwrap_or(defaults.listen)
    };
    let metrics = args.metrics.or(file.metrics);
    Ok(ServeSettings {
        metrics,
        user: args.user.clone().or_else(|| file.user.clone()),
        zones: zones_dir(&args.zone, file),
        load: load_options(&args.zone, file),
        lenient: lenient(&args.zone, file),
        server: ServerConfig {
            listen,
            udp_workers: args
                .threads
                .or(file.threads)
                .unwrap_or(defaults.udp_workers),
            settings: DnsSettings {
                udp_payload: args
                    .udp_payload
                    .or(file.udp_payload)
                    .unwrap_or(DnsSettings::default().udp_payload)
                    .max(512),
                transfers: None,
            },
            tcp: TcpLimits {
                max_connections: args.tcp_max_connections.or(file.tcp_max_connections),
                idle_timeout: Duration::from_secs(
                    args.tcp_idle_timeout
                        .or(file.tcp_idle_timeout)
                        .unwrap_or(defaults.tcp.idle_timeout.as_secs())
                        .max(1),
                ),
            },
            count_answers: metrics.is_some(),
            count_zone_bytes: false,
            rrl: rrl_settings(args, file),
            query_log_every: args.query_log.or(file.query_log).unwrap_or(0),
            grace: args
                .grace
                .or(file.grace)
                .map_or(defaults.grace, Duration::from_secs),
        },
        reload: ReloadSettings {
            debounce: Duration::from_millis(args.debounce.or(file.debounce).unwrap_or(200)),
            poll_interval: Some(args.poll_interval.or(file.poll_interval).unwrap_or(2))
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            watch: !args.no_watch && file.watch.unwrap_or(true),
            ..ReloadSettings::default()
        },
        sighup: true,
        serials: serials_file(args, file),
        transfer: transfer_config(file)?,
        web: web_settings(args, file),
        external: external_settings(file)?,
        every_zone_required: false,
    })
}

/// The public lists the page also asks (`[external."…"]`, through `[resolver]`).
/// Errors name the list and the setting, never an access key.
pub(crate) fn external_settings(
    file: &FileConfig,
) -> Result<Option<external::Settings>, ConfigError> {
    if file.external.is_empty() {
        return Ok(None);
    }
    let resolver = file.resolver.clone().unwrap_or_default();
    let seconds = |value: Option<f64>, default: Duration, what: &str| match value {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= 30.0 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(ConfigError::Invalid(format!(
            "{what}: expected seconds between 0 and 30"
        ))),
    };
    let timeout = seconds(
        resolver.timeout,
        external::Settings::TIMEOUT,
        "[resolver] timeout",
    )?;
    let mut lists = Vec::new();
    let mut zones: Vec<&String> = file.external.keys().collect();
    zones.sort();
    for zone in zones {
        let settings = &file.external[zone];
        let invalid = |what: String| ConfigError::Invalid(format!("[external.\"{zone}\"]: {what}"));
        let key = match (&settings.key, &settings.key_file) {
            (Some(key), None) => Some(key.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| {
                        invalid(format!("cannot read key_file {}: {error}", path.display()))
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(invalid("set one of `key` and `key_file`".into())),
        };
        let codes = external::CodeTable::parse(&settings.codes)
            .map_err(|e| invalid(format!("codes: {e}")))?;
        let errors = external::CodeTable::parse(&settings.errors)
            .map_err(|e| invalid(format!("errors: {e}")))?;
        let list = external::List::new(external::ListSpec {
            zone,
            name: settings.name.as_deref(),
            lists: &settings.lists,
            link: settings.link.as_deref(),
            key: key.as_deref(),
            hash: settings.hash.as_deref(),
            hash_label: settings.hash_label.as_deref(),
            timeout: seconds(settings.timeout, timeout, "timeout")
                .map_err(|e| invalid(e.to_string()))?,
            codes,
            errors,
        })
        .map_err(|e| invalid(e.to_string()))?;
        lists.push(list);
    }
    Ok(Some(external::Settings {
        lists,
        resolver: resolver.address,
        timeout,
        max_per_second: resolver
            .max_queries_per_second
            .unwrap_or(external::Settings::MAX_PER_SECOND),
    }))
}

fn rrl_settings(args: &ServeArgs, file: &FileConfig) -> RrlSettings {
    let mut rrl = file.rrl.clone().unwrap_or_default();
    if let Some(rate) = args.rrl_rate {
        rrl.rate = rate;
    }
    if let Some(slip) = args.rrl_slip {
        rrl.slip = slip;
    }
    rrl.log_only |= args.rrl_log_only;
    rrl
}

/// The log format: flag, file, or text.
pub fn log_format(args: &ServeArgs, file: &FileConfig) -> LogFormat {
    args.log_format.or(file.log_format).unwrap_or_default()
}

/// The log filter: flag, file, or `info`.
pub fn log_filter(args: &ServeArgs, file: &FileConfig) -> String {
    args.log
        .clone()
        .or_else(|| file.log.clone())
        .unwrap_or_else(|| "info".to_string())
}

/// Where serials are kept across restarts: in the state directory when one is set,
/// or beside the zones when secondaries depend on the serial (transfers).
fn serials_file(args: &ServeArgs, file: &FileConfig) -> Option<PathBuf> {
    let explicit = args.state.dir.is_some() || file.state.is_some();
    let transfers = file.zone.values().any(|z| z.transfer.is_some());
    (explicit || transfers).then(|| {
        let (state, _) = state_dir(&args.state, file, &zones_dir(&args.zone, file));
        state.join("serials")
    })
}

/// The web side's settings when `--http` or `--admin` asks for it.
fn web_settings(args: &ServeArgs, file: &FileConfig) -> Option<WebSettings> {
    let http = args.http.or(file.http);
    let admin = args.admin.or(file.admin);
    if http.is_none() && admin.is_none() {
        return None;
    }
    let (state, guessed) = state_dir(&args.state, file, &zones_dir(&args.zone, file));
    if guessed {
        tracing::info!(state = %state.display(), "no --state given: keeping removal requests and the audit log here");
    }
    Some(WebSettings {
        http,
        admin,
        admin_token_file: args
            .admin_token_file
            .clone()
            .or_else(|| file.admin_token_file.clone()),
        state,
        pages: Budget::PAGES,
        requests: Budget::REQUESTS,
        trusted_proxies: if args.trusted_proxies.is_empty() {
            file.trusted_proxies.clone().unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        },
        listener: ListenLimits::default(),
        fixes: fix_settings(file),
    })
}

/// How a fix is verified before the listed remove a listing themselves.
fn fix_settings(file: &FileConfig) -> FixSettings {
    let removal = file.self_removal.clone().unwrap_or_default();
    let resolver = file.resolver.clone().unwrap_or_default();
    FixSettings {
        spf: SpfPolicy {
            includes: removal.spf_include,
            networks: removal.spf_networks,
        },
        resolver: resolver.address,
        timeout: resolver
            .timeout
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 30.0)
            .map_or(
                external::Settings::TIMEOUT,
                std::time::Duration::from_secs_f64,
            ),
    }
}

/// The zones secondaries may transfer, with their keys. Errors name the setting, never
/// a secret.
pub(crate) fn transfer_config(file: &FileConfig) -> Result<TransferConfig, ConfigError> {
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
    let mut zones = HashMap::new();
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

/// How often `ward rbldnsd` checks the data files without `-c`: rbldnsd's minute.
const RBLDNSD_CHECK: u32 = 60;

/// The zones of rbldnsd's command line, each with its files in command-line order
/// (a repeated zone adds files; an `acl` or `aclkey` with an empty zone name is added
/// to every zone, after its own files).
pub(crate) fn rbldnsd_zones(
    options: &RbldnsdOptions,
) -> Result<Vec<crate::load::ZoneSource>, ConfigError> {
    use crate::load::{DataFile, ZoneSource};
    let mut zones: Vec<ZoneSource> = Vec::new();
    let mut everywhere: Vec<DataFile> = Vec::new();
    for spec in &options.zones {
        let files = spec.files.iter().map(|path| DataFile {
            path: path.clone(),
            kind: spec.kind,
        });
        if spec.zone.is_empty() {
            everywhere.extend(files);
            continue;
        }
        let name = Name::parse(&spec.zone).map_err(|error| {
            ConfigError::Invalid(format!("`{}` is not a zone name: {error}", spec.zone))
        })?;
        match zones.iter_mut().find(|z| z.name == name) {
            Some(zone) => zone.files.extend(files),
            None => zones.push(ZoneSource {
                name,
                files: files.collect(),
                unreadable: None,
            }),
        }
    }
    for zone in &mut zones {
        for global in &everywhere {
            if zone.files.iter().any(|f| f.kind == global.kind) {
                return Err(ConfigError::Invalid(format!(
                    "zone {} has an {} of its own and the one for every zone ({}): ward takes one {} a zone",
                    zone.name,
                    global.kind,
                    global.path.display(),
                    global.kind
                )));
            }
            zone.files.push(global.clone());
        }
    }
    for zone in &zones {
        for kind in [DatasetKind::Acl, DatasetKind::Aclkey] {
            if zone.files.iter().filter(|f| f.kind == kind).count() > 1 {
                return Err(ConfigError::Invalid(format!(
                    "zone {} has more than one {kind} (repeated ACL definition): ward takes one {kind} a zone",
                    zone.name
                )));
            }
        }
        if zone
            .files
            .iter()
            .all(|f| matches!(f.kind, DatasetKind::Acl | DatasetKind::Aclkey))
        {
            return Err(ConfigError::Invalid(format!(
                "missing data for zone {}: it has only access control",
                zone.name
            )));
        }
    }
    Ok(zones)
}

/// `ward rbldnsd`'s settings: what rbldnsd serves from the same command line, on
/// `listen` (the `-b` addresses resolved), run as `user` once bound. Answers as
/// rbldnsd's: no RFC 5782 test points, NXDOMAIN for empty non-terminals, bad lines
/// skipped with a warning; the files checked every `-c` (a minute), not watched.
pub(crate) fn rbldnsd_settings(
    options: &RbldnsdOptions,
    zones: Vec<crate::load::ZoneSource>,
    listen: Vec<SocketAddr>,
    user: Option<String>,
) -> ServeSettings {
    let defaults = ServerConfig::default();
    let load = LoadOptions {
        default_ttl: options
            .ttl
            .and_then(|t| t.default)
            .unwrap_or(LoadOptions::default().default_ttl),
        test_points: false,
        accept_host_bits: options.accept_host_bits,
        command_line_zones: Some(zones),
        empty_names_nxdomain: true,
        ttl_bounds: options
            .ttl
            .filter(|t| t.min.is_some() || t.max.is_some())
            .map(|t| (t.min.unwrap_or(0), t.max.unwrap_or(u32::MAX))),
        ..LoadOptions::default()
    };
    let check = options.check.unwrap_or(RBLDNSD_CHECK);
    ServeSettings {
        metrics: None,
        user,
        zones: PathBuf::from("."),
        load,
        lenient: true,
        server: ServerConfig {
            listen,
            // The statistics line (`-s`) counts answers.
            count_answers: options.stats.is_some(),
            count_zone_bytes: options.stats.is_some(),
            query_log_every: u32::from(options.query_log.is_some()),
            ..defaults
        },
        reload: ReloadSettings {
            poll_interval: (check > 0).then(|| Duration::from_secs(u64::from(check))),
            watch: false,
            ..ReloadSettings::default()
        },
        sighup: true,
        transfer: TransferConfig::default(),
        serials: None,
        web: None,
        external: None,
        every_zone_required: !options.quick,
    }
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
