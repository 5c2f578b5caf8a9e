//! The zones directory as served: scanning it, parsing each zone's files into a `Zone`,
//! and holding the current [`Snapshot`] in an `ArcSwap` so a query never waits on a
//! reload and never sees half of one.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, Guard};
use ipnet::IpNet;
use serde::Deserialize;

use crate::zone::acl::{Acl, AclAction, AclBuilder};
use crate::zone::dataset::DatasetBuilder;
use crate::zone::ip::Listing;
use crate::zone::name::{Name, NameRef};
use crate::zone::parse::{
    DatasetKind, Diagnostic, Diagnostics, Entry, ParseOptions, ParsedFile, parse_file,
};
use crate::zone::reason::{Catalogue, ParsedReason, Reason, Template, Vars, parse_reason};
use crate::zone::value::{RawValue, Value};
use crate::zone::{Soa, Zone};

/// Name of the shared reason catalogue in the zones directory.
pub const CATALOGUE_FILE: &str = "reasons.conf";

/// Every zone being served, deepest names first so the first suffix match is the
/// most specific zone.
#[derive(Default)]
pub struct Snapshot {
    zones: Vec<Arc<Zone>>,
}

impl Snapshot {
    pub fn new(mut zones: Vec<Arc<Zone>>) -> Self {
        zones.sort_by(|a, b| {
            b.name
                .label_count()
                .cmp(&a.name.label_count())
                .then_with(|| a.name.cmp(&b.name))
        });
        Snapshot { zones }
    }

    /// The deepest zone containing `qname`, and how many leftmost labels of `qname`
    /// lie below its apex.
    pub fn find_zone(&self, qname: NameRef<'_>) -> Option<(&Zone, usize)> {
        let labels = qname.label_count();
        self.zones.iter().find_map(|zone| {
            let zone_labels = zone.name.label_count();
            (zone_labels <= labels && qname.suffix(labels - zone_labels).wire() == zone.name.wire())
                .then(|| (zone.as_ref(), labels - zone_labels))
        })
    }

    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    pub fn zone(&self, name: &Name) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.name == *name)
    }
}

/// The snapshot being served.
pub struct Store {
    current: ArcSwap<Snapshot>,
}

impl Store {
    pub fn new(snapshot: Snapshot) -> Self {
        Store {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot; cheap, and it stays valid however long it is held.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

/// What clients outside a zone's allow list get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refused {
    /// `REFUSED`.
    #[default]
    Refuse,
    /// Spamhaus' error answer 127.255.255.254 ("query via a public resolver").
    ErrorAnswer,
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
}

/// How zones are loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub default_ttl: u32,
    pub test_points: bool,
    pub normalise_addresses: bool,
    pub accept_host_bits: bool,
    /// Keep every entry as written (for `ward lookup`).
    pub keep_entries: bool,
    pub zones: HashMap<String, ZoneSettings>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_ttl: 2100,
            test_points: true,
            normalise_addresses: true,
            accept_host_bits: false,
            keep_entries: false,
            zones: HashMap::new(),
        }
    }
}

impl LoadOptions {
    fn settings(&self, zone: &Name) -> ZoneSettings {
        self.zones
            .get(&zone.to_string())
            .cloned()
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the zones directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files that make up one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSource {
    pub name: Name,
    /// Data files in load order (sorted by path), with their type.
    pub files: Vec<(PathBuf, DatasetKind)>,
}

/// The zones directory, read but not parsed.
#[derive(Debug, Default)]
pub struct Scan {
    pub zones: Vec<ZoneSource>,
    pub catalogue: Option<PathBuf>,
    /// Files that are neither data nor known: reported, never loaded.
    pub ignored: Vec<PathBuf>,
    /// Names that are not valid zone names.
    pub problems: Vec<Diagnostic>,
}

/// Editors' and tools' leftovers: never data.
fn is_scratch(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || [
            ".tmp", ".swp", ".swx", ".bak", ".orig", ".rej", ".part", ".new", ".old",
        ]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains(".dpkg-")
}

/// Reads the directory layout: `<zone>.zone` and `<zone>.<type>` files, and `<zone>/`
/// directories whose files are the zone's datasets.
pub fn scan(dir: &Path) -> Result<Scan, StoreError> {
    let read_dir = |path: &Path| {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|source| StoreError::ReadDir {
                path: path.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        Ok::<_, StoreError>(entries)
    };
    let mut zones: BTreeMap<Name, Vec<(PathBuf, DatasetKind)>> = BTreeMap::new();
    let mut result = Scan::default();
    for path in read_dir(dir)? {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            result.ignored.push(path);
            continue;
        };
        if is_scratch(&file_name) {
            continue;
        }
        // A dangling or looping symlink has no metadata: if its name says data, it is
        // kept, so that loading it fails loudly instead of the data quietly vanishing.
        let is_dir = fs::metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            let name = match zone_name(&path, &file_name) {
                Ok(name) => name,
                Err(problem) => {
                    result.problems.push(problem);
                    continue;
                }
            };
            let files = zones.entry(name).or_default();
            for inner in read_dir(&path)? {
                let Some(inner_name) = inner.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if is_scratch(inner_name) || fs::metadata(&inner).is_ok_and(|m| m.is_dir()) {
                    continue;
                }
                match DatasetKind::from_file_name(inner_name) {
                    Some(kind) => files.push((inner.clone(), kind)),
                    None => result.ignored.push(inner.clone()),
                }
            }
        } else if file_name == CATALOGUE_FILE {
            result.catalogue = Some(path);
        } else if let Some(kind) = DatasetKind::from_file_name(&file_name) {
            let stem = file_name.strip_suffix(".gz").unwrap_or(&file_name);
            let stem = &stem[..stem.len() - kind.name().len() - 1];
            match zone_name(&path, stem) {
                Ok(name) => zones.entry(name).or_default().push((path, kind)),
                Err(problem) => result.problems.push(problem),
            }
        } else {
            result.ignored.push(path);
        }
    }
    result.zones = zones
        .into_iter()
        .map(|(name, mut files)| {
            files.sort_by(|a, b| a.0.cmp(&b.0));
            ZoneSource { name, files }
        })
        .collect();
    Ok(result)
}

fn zone_name(path: &Path, text: &str) -> Result<Name, Diagnostic> {
    let problem = |message: String| Diagnostic {
        file: path.into(),
        line: 0,
        column: 0,
        message,
    };
    let name =
        Name::parse(text).map_err(|e| problem(format!("`{text}` is not a zone name: {e}")))?;
    if name.is_root() {
        return Err(problem("a zone needs a name".to_string()));
    }
    Ok(name)
}

/// Reads `reasons.conf`: `$REASON name code "text"` lines and `$0`…`$9` variables.
pub fn load_catalogue(path: &Path) -> (Catalogue, Diagnostics) {
    let mut catalogue = Catalogue::default();
    let mut diagnostics = Diagnostics::default();
    let file: Arc<Path> = path.into();
    let mut error = |line: usize, column: usize, message: String| {
        diagnostics.errors.push(Diagnostic {
            file: file.clone(),
            line: line as u32,
            column: column as u32 + 1,
            message,
        });
    };
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) => {
            error(0, 0, format!("cannot read: {e}"));
            return (catalogue, diagnostics);
        }
    };
    let mut vars: Vars = Default::default();
    for (index, raw) in text.split(|&c| c == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let start = line.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let content = line[start..].trim_ascii_end();
        if content.is_empty() || content[0] == b'#' || content[0] == b';' {
            continue;
        }
        let keyword_end = content
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .unwrap_or(content.len());
        let keyword = &content[..keyword_end];
        let args_at = keyword_end
            + content[keyword_end..]
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
        let args = &content[args_at..];
        match keyword {
            b"$REASON" => match parse_reason(args, &vars) {
                Ok(ParsedReason { name, code, text }) => {
                    if let Some(other) = catalogue.code_user(code, &name) {
                        error(
                            index + 1,
                            start + args_at,
                            format!(
                                "return code {} is already used by reason `{}`: each reason needs its own code so filters can tell them apart",
                                std::net::Ipv4Addr::from(code),
                                other.name
                            ),
                        );
                    }
                    catalogue.insert(Reason {
                        name,
                        code,
                        text,
                        file: file.clone(),
                        line: index as u32 + 1,
                    });
                }
                Err(e) => error(index + 1, start + args_at + e.at, e.message),
            },
            [b'$', d @ b'0'..=b'9'] if !args.is_empty() => {
                let slot = &mut vars[usize::from(d - b'0')];
                if slot.is_none() {
                    *slot = Some(args.into());
                }
            }
            _ => error(
                index + 1,
                start,
                "expected `$REASON name code \"text\"` or a variable `$0`…`$9 text`".to_string(),
            ),
        }
    }
    (catalogue, diagnostics)
}

/// Entries as written, per file, for `ward lookup`.
pub type KeptEntries = Vec<(Arc<Path>, Vec<Entry>)>;

/// The outcome of loading one zone.
pub struct ZoneLoad {
    pub name: Name,
    /// `None` when the zone could not be built (errors and not lenient).
    pub zone: Option<Zone>,
    pub diagnostics: Diagnostics,
    pub entries: usize,
    pub expired: usize,
    pub next_expiry: Option<i64>,
    pub duration: Duration,
    /// Entries as written, when asked for.
    pub kept: KeptEntries,
    /// Hash of each file's bytes as parsed, in the order of the source's files.
    pub file_hashes: Vec<Option<u64>>,
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses the files of several zones (spread over the cores) and builds each zone.
/// `serial_floor` gives, per zone, a serial the new one must exceed.
pub fn load_zones(
    sources: &[ZoneSource],
    catalogue: &Arc<Catalogue>,
    options: &LoadOptions,
    lenient: bool,
    serial_floor: &dyn Fn(&Name) -> Option<u32>,
) -> Vec<ZoneLoad> {
    let now = unix_now();
    let files: Vec<(usize, &PathBuf, DatasetKind)> = sources
        .iter()
        .enumerate()
        .flat_map(|(z, s)| s.files.iter().map(move |(p, k)| (z, p, *k)))
        .collect();
    let parse_options: Vec<ParseOptions> = sources
        .iter()
        .map(|source| {
            let settings = options.settings(&source.name);
            ParseOptions {
                default_ttl: settings.default_ttl.unwrap_or(options.default_ttl),
                now,
                catalogue: catalogue.clone(),
                accept_host_bits: options.accept_host_bits,
                normalise_addresses: settings
                    .normalise_addresses
                    .unwrap_or(options.normalise_addresses),
                keep_entries: options.keep_entries,
            }
        })
        .collect();
    let parsed = parallel_map(&files, |&(zone, path, kind)| {
        let begin = Instant::now();
        let parsed = parse_file(path, kind, &parse_options[zone]);
        (parsed, begin.elapsed())
    });
    let mut per_zone: Vec<Vec<(ParsedFile, Duration)>> =
        sources.iter().map(|_| Vec::new()).collect();
    for ((zone, _, _), result) in files.iter().zip(parsed) {
        per_zone[*zone].push(result);
    }
    sources
        .iter()
        .zip(per_zone)
        .map(|(source, parsed)| {
            let duration = parsed.iter().map(|(_, d)| *d).sum();
            let mut load = assemble(
                source,
                parsed.into_iter().map(|(p, _)| p).collect(),
                options,
                lenient,
                now,
                serial_floor(&source.name),
            );
            load.duration = duration;
            load
        })
        .collect()
}

/// Runs `f` over `items` on up to one thread per core, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Builds a zone from its parsed files.
fn assemble(
    source: &ZoneSource,
    parsed: Vec<ParsedFile>,
    options: &LoadOptions,
    lenient: bool,
    now: i64,
    serial_floor: Option<u32>,
) -> ZoneLoad {
    let settings = options.settings(&source.name);
    let default_ttl = settings.default_ttl.unwrap_or(options.default_ttl);
    let mut diagnostics = Diagnostics::default();
    let mut soa_spec = None;
    let mut ns_spec = None;
    let mut datasets = Vec::new();
    let mut acl: Option<Acl> = None;
    let mut expired = 0;
    let mut next_expiry: Option<i64> = None;
    let mut kept = Vec::new();
    let file_hashes = parsed.iter().map(|p| p.content_hash).collect();
    for (file, (path, _)) in parsed.into_iter().zip(&source.files) {
        diagnostics.extend(file.diagnostics);
        soa_spec = soa_spec.or(file.soa);
        ns_spec = ns_spec.or(file.ns);
        expired += file.expired;
        if let Some(at) = file.next_expiry {
            next_expiry = Some(next_expiry.map_or(at, |e| e.min(at)));
        }
        if let Some(file_acl) = file.acl {
            if acl.is_some() {
                diagnostics.errors.push(Diagnostic {
                    file: path.as_path().into(),
                    line: 0,
                    column: 0,
                    message: "a zone takes one acl file; this one is ignored".to_string(),
                });
            } else {
                acl = Some(file_acl);
            }
        }
        if options.keep_entries {
            kept.push((Arc::from(path.as_path()), file.entries));
        }
        datasets.extend(file.datasets);
    }
    let entries = datasets.iter().map(|d| d.entries).sum();
    let mut load = ZoneLoad {
        name: source.name.clone(),
        zone: None,
        diagnostics,
        entries,
        expired,
        next_expiry,
        duration: Duration::ZERO,
        kept,
        file_hashes,
    };
    if !load.diagnostics.is_clean() && !lenient {
        return load;
    }
    if acl.is_none()
        && let Some(allow) = &settings.allow
    {
        acl = Some(allow_list_acl(allow, settings.refused, default_ttl));
    }
    let name = source.name.clone();
    let auto_serial = {
        let candidate = u32::try_from(now).unwrap_or(u32::MAX);
        match serial_floor {
            Some(floor) if candidate <= floor => floor.wrapping_add(1),
            _ => candidate,
        }
    };
    let serial_is_auto = soa_spec.as_ref().is_none_or(|spec| spec.serial.is_none());
    let soa = match soa_spec {
        Some(spec) => Soa {
            ttl: spec.ttl.unwrap_or(default_ttl),
            mname: spec.mname,
            rname: spec.rname,
            // A written serial is the admin's, but it must still rise.
            serial: match (spec.serial, serial_floor) {
                (Some(serial), Some(floor)) if serial <= floor => floor.wrapping_add(1),
                (Some(serial), _) => serial,
                (None, _) => auto_serial,
            },
            refresh: spec.refresh,
            retry: spec.retry,
            expire: spec.expire,
            minimum: spec.minimum,
        },
        None => default_soa(&name, auto_serial),
    };
    let (ns, ns_ttl) = match ns_spec {
        Some(spec) => (spec.names, spec.ttl.unwrap_or(default_ttl)),
        None => (
            settings
                .ns
                .iter()
                .flatten()
                .filter_map(|n| Name::parse(n).ok())
                .collect(),
            default_ttl,
        ),
    };
    let test_points = settings
        .test_points
        .unwrap_or(options.test_points)
        .then(|| {
            // The zone's own TTL (its shortest), as the data would have it.
            let ttl = datasets.iter().map(|d| d.ttl).min().unwrap_or(default_ttl);
            test_points_dataset(&datasets, ttl)
        });
    load.zone = Some(Zone {
        name,
        soa,
        ns,
        ns_ttl,
        datasets,
        test_points,
        acl,
        serial_is_auto,
    });
    load
}

/// The SOA of a zone whose data has none: negative answers must carry one (RFC 2308),
/// and 60 s of negative caching lets new listings take effect quickly.
fn default_soa(zone: &Name, serial: u32) -> Soa {
    let hostmaster = Name::parse("hostmaster")
        .ok()
        .and_then(|h| h.join(zone).ok())
        .unwrap_or_else(|| zone.clone());
    Soa {
        ttl: 3600,
        mname: zone.clone(),
        rname: hostmaster,
        serial,
        refresh: 600,
        retry: 300,
        expire: 604_800,
        minimum: 60,
    }
}

/// RFC 5782 §5: IP lists answer 127.0.0.2 (and `::ffff:127.0.0.2`, which maps to it),
/// domain lists answer `test`. Zones with neither kind of data get both.
fn test_points_dataset(datasets: &[crate::zone::Dataset], ttl: u32) -> crate::zone::Dataset {
    let has_ip = datasets
        .iter()
        .any(|d| !d.ip4.is_empty() || !d.ip6.is_empty());
    let has_names = datasets
        .iter()
        .any(|d| !d.names.is_empty() || !d.digests.is_empty());
    let mut builder = DatasetBuilder::new(
        Path::new("(RFC 5782 test points)").into(),
        DatasetKind::Ward,
        None,
        vec![Name::root()],
    );
    builder.ttl = Some(ttl);
    let value = builder.values.intern(RawValue::new(
        [127, 0, 0, 2],
        Some(b"RFC 5782 test point: this list is working"),
    ));
    if has_ip || !has_names {
        builder.ip4.add(0x7f00_0002, 32, Listing::Value(value), 0);
    }
    if has_names || !has_ip {
        if let Ok(test) = Name::parse("test") {
            builder
                .names
                .add(&test, false, false, Listing::Value(value));
        }
    }
    builder.finish(ttl).0
}

/// `allow = [...]` in ward.toml: listed networks pass, everyone else is refused or gets
/// the error answer.
fn allow_list_acl(allow: &[IpNet], refused: Refused, ttl: u32) -> Acl {
    let others = match refused {
        Refused::Refuse => AclAction::Refuse,
        Refused::ErrorAnswer => AclAction::Answer(
            Value {
                a: [127, 255, 255, 254],
                txt: None,
                expires: None,
            },
            Some(Template::literal(
                b"Queries to this list are not allowed from your resolver",
            )),
        ),
    };
    let mut builder = AclBuilder::default();
    builder.add_v4(0, 0, others.clone(), 0);
    builder.add_v6(0, 0, others, 0);
    for net in allow {
        match net {
            IpNet::V4(v4) => {
                builder.add_v4(u32::from(v4.network()), v4.prefix_len(), AclAction::Pass, 0)
            }
            IpNet::V6(v6) => builder.add_v6(
                u128::from(v6.network()),
                v6.prefix_len(),
                AclAction::Pass,
                0,
            ),
        }
    }
    builder.build(ttl).0
}

/// Whether `client` may be served by `zone`'s ACL — exposed for tests and `lookup`.
pub fn acl_action(zone: &Zone, client: IpAddr) -> &AclAction {
    match &zone.acl {
        Some(acl) => acl.check(client),
        None => &AclAction::Pass,
    }
}

/// Everything needed to (re)load a zones directory.
pub struct Loader {
    pub dir: PathBuf,
    pub options: LoadOptions,
    pub lenient: bool,
}

/// The result of loading a whole directory.
pub struct DirectoryLoad {
    pub scan: Scan,
    pub catalogue: Arc<Catalogue>,
    pub catalogue_diagnostics: Diagnostics,
    pub zones: Vec<ZoneLoad>,
}

impl DirectoryLoad {
    /// Every error: catalogue, directory problems and zones.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.catalogue_diagnostics
            .errors
            .iter()
            .chain(&self.scan.problems)
            .chain(self.zones.iter().flat_map(|z| &z.diagnostics.errors))
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.catalogue_diagnostics
            .warnings
            .iter()
            .chain(self.zones.iter().flat_map(|z| &z.diagnostics.warnings))
    }
}

impl Loader {
    /// Loads every zone. The catalogue's errors count against the zones using the
    /// ward format, since their reasons may be missing.
    pub fn load_all(&self) -> Result<DirectoryLoad, StoreError> {
        let scan = scan(&self.dir)?;
        let (catalogue, catalogue_diagnostics) = match &scan.catalogue {
            Some(path) => load_catalogue(path),
            None => (Catalogue::default(), Diagnostics::default()),
        };
        let catalogue = Arc::new(catalogue);
        let zones = load_zones(
            &scan.zones,
            &catalogue,
            &self.options,
            self.lenient,
            &|_| None,
        );
        Ok(DirectoryLoad {
            scan,
            catalogue,
            catalogue_diagnostics,
            zones,
        })
    }
}

/// Makes glibc serve large allocations (index vectors, read buffers) from their own
/// mappings, returned to the system when freed: otherwise its threshold for that grows
/// with the first large free, and a reload leaves RSS several times the zone's size.
pub fn return_large_allocations() {
    // SAFETY: mallopt only sets a glibc tuning parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Gives memory freed by a load or reload back to the system: glibc keeps it otherwise,
/// and a reload frees about as much as the zone it replaced, plus the parse buffers.
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Takes the zones out of a directory load, as a snapshot.
pub fn into_snapshot(load: &mut DirectoryLoad) -> Snapshot {
    Snapshot::new(
        load.zones
            .iter_mut()
            .filter_map(|z| z.zone.take().map(Arc::new))
            .collect(),
    )
}
