//! The zones directory to zones: scan it, parse every file of the zones to load (spread
//! over the cores), and assemble each zone from its files. Nothing here serves; the
//! result becomes a [`Snapshot`] for the store.
//!
//! Uses `zone` (the parsers and the model) and `store`'s `Snapshot`; its options come
//! in as plain values, whoever read them.

mod assemble;
mod cache;
pub(crate) mod files;
mod scan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use scan::{CATALOGUE_FILE, DataFile, Scan, ScanError, ZoneSource, scan};

use crate::parallel::{cores, parallel_map};
use crate::store::Snapshot;
use crate::time::unix_now;
use crate::zone::Zone;
use crate::zone::acl::Refused;
use crate::zone::name::Name;
use crate::zone::parse::catalogue::parse_catalogue;
use crate::zone::parse::{Diagnostic, Diagnostics, Entry, ParseOptions, ParsedFile};
use crate::zone::reason::Catalogue;
use assemble::assemble;
pub(crate) use cache::ParseCache;
use files::Stamp;

/// How zones are loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub(crate) default_ttl: u32,
    pub(crate) test_points: bool,
    pub(crate) normalise_addresses: bool,
    pub(crate) accept_host_bits: bool,
    /// Keep every entry as written (for `ward lookup`).
    pub(crate) keep_entries: bool,
    /// Keep whole what an export needs (`ward export`, zone transfers, `ward check`'s
    /// overlaps): the digests of hashed addresses, and the names of listed addresses,
    /// which otherwise are kept as 64-bit fingerprints only.
    pub(crate) for_export: bool,
    /// Per-zone options, by zone name.
    pub(crate) zones: HashMap<String, ZoneOptions>,
    /// The serials served before a restart, by zone: the first load serves higher ones,
    /// or the same for the same data.
    pub(crate) serial_floors: HashMap<String, SerialFloor>,
    /// The zones and their files as named on rbldnsd's command line (`ward rbldnsd`),
    /// instead of the zones directory's layout.
    pub(crate) command_line_zones: Option<Vec<ZoneSource>>,
    /// Names that exist only because something is listed below them answer NXDOMAIN,
    /// as rbldnsd answers (`ward rbldnsd`), instead of NODATA.
    pub(crate) empty_names_nxdomain: bool,
    /// Every TTL (data, SOA, NS) kept within these bounds (rbldnsd's `-t def:min:max`).
    pub(crate) ttl_bounds: Option<(u32, u32)>,
}

pub(crate) use crate::zone::SerialFloor;

/// Per-zone options (`[zone."…"]` in `ward.toml`) that shape what a zone answers;
/// unset ones fall back to the [`LoadOptions`] of every zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZoneOptions {
    /// RFC 5782 test points (127.0.0.2, `test`).
    pub(crate) test_points: Option<bool>,
    /// Normalise addresses before hashing.
    pub(crate) normalise_addresses: Option<bool>,
    /// Clients allowed to query; absent means everyone.
    pub(crate) allow: Option<Vec<ipnet::IpNet>>,
    /// What the others get.
    pub(crate) refused: Refused,
    /// TTL for data that sets none.
    pub(crate) default_ttl: Option<u32>,
    /// Name servers when the data has no `$NS`.
    pub(crate) ns: Option<Vec<String>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_ttl: 2100,
            test_points: true,
            normalise_addresses: true,
            accept_host_bits: false,
            keep_entries: false,
            for_export: false,
            zones: HashMap::new(),
            serial_floors: HashMap::new(),
            command_line_zones: None,
            empty_names_nxdomain: false,
            ttl_bounds: None,
        }
    }
}

impl LoadOptions {
    fn settings(&self, zone: &Name) -> ZoneOptions {
        self.zones
            .get(&zone.to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// What the parsers need for the files of `zone`, loaded at `now`.
    pub(crate) fn parse_options(
        &self,
        zone: &Name,
        catalogue: &Arc<Catalogue>,
        now: i64,
    ) -> ParseOptions {
        let settings = self.settings(zone);
        ParseOptions {
            default_ttl: settings.default_ttl.unwrap_or(self.default_ttl),
            now,
            catalogue: catalogue.clone(),
            accept_host_bits: self.accept_host_bits,
            normalise_addresses: settings
                .normalise_addresses
                .unwrap_or(self.normalise_addresses),
            keep_entries: self.keep_entries,
            for_export: self.for_export,
        }
    }
}

/// Entries as written, per file, for `ward lookup`.
pub(crate) type KeptEntries = Vec<(Arc<Path>, Vec<Entry>)>;

/// The outcome of loading one zone.
pub struct ZoneLoad {
    pub name: Name,
    /// `None` when the zone could not be built (errors and not lenient).
    pub(crate) zone: Option<Zone>,
    pub diagnostics: Diagnostics,
    pub entries: usize,
    pub(crate) expired: usize,
    /// Entries still in their cooldown: part of what the zone was made from.
    pub(crate) cooling: usize,
    /// The next time the zone's answers change by themselves (an expiry, the end of
    /// a cooldown): it is rebuilt then.
    pub(crate) next_change: Option<i64>,
    pub(crate) duration: Duration,
    /// Entries as written, when asked for.
    pub(crate) kept: KeptEntries,
    /// Hash of each file's bytes as parsed, in the order of the source's files; `None`
    /// for a file that could not be read whole.
    pub(crate) file_hashes: Vec<Option<u64>>,
    /// Each file's stamp when its parse began (or when a kept parse was taken): the
    /// file is still what was parsed while its stamp is this one.
    pub(crate) file_stamps: Vec<Option<Stamp>>,
}

/// Parses the files of several zones (spread over the cores) and builds each zone.
/// `serial_floor` gives, per zone, the serial the new one must exceed (or keep, for the
/// same data). With a `cache`, files whose parse it still holds are not read again,
/// and what is read is kept there.
pub(crate) fn load_zones(
    sources: &[ZoneSource],
    catalogue: &Arc<Catalogue>,
    options: &LoadOptions,
    lenient: bool,
    serial_floor: &dyn Fn(&Name) -> Option<SerialFloor>,
    mut cache: Option<&mut ParseCache>,
) -> Vec<ZoneLoad> {
    let now = unix_now();
    let files: Vec<(usize, &DataFile)> = sources
        .iter()
        .enumerate()
        .flat_map(|(zone, source)| source.files.iter().map(move |file| (zone, file)))
        .collect();
    let catalogue_fingerprint = {
        let mut hasher = files::ContentHasher::default();
        hasher.update(format!("{catalogue:?}").as_bytes());
        hasher.finish()
    };
    let parse_options: Vec<ParseOptions> = sources
        .iter()
        .map(|source| options.parse_options(&source.name, catalogue, now))
        .collect();
    let mut reused: Vec<Option<Read>> = files
        .iter()
        .map(|&(zone, file)| {
            let (parsed, stamp) =
                cache
                    .as_deref()?
                    .get(&file.path, file.kind, &parse_options[zone])?;
            Some(Read {
                parsed,
                duration: Duration::ZERO,
                stamp: Some(stamp),
            })
        })
        .collect();
    let to_read: Vec<usize> = (0..files.len()).filter(|&i| reused[i].is_none()).collect();
    let read = parallel_map(&to_read, cores(), |&i| {
        let (zone, file) = files[i];
        let stamp = Stamp::of(&file.path);
        let begin = Instant::now();
        let mut parsed = files::parse_file(&file.path, file.kind, &parse_options[zone]);
        bound_ttls(&mut parsed, options.ttl_bounds);
        Read {
            parsed,
            duration: begin.elapsed(),
            stamp,
        }
    });
    for (&i, result) in to_read.iter().zip(read) {
        let (zone, file) = files[i];
        reused[i] = Some(match result {
            Ok(read) => {
                if let Some(cache) = cache.as_deref_mut() {
                    let options = &parse_options[zone];
                    cache.keep(&file.path, file.kind, options, read.stamp, &read.parsed);
                }
                read
            }
            Err(panic) => Read {
                parsed: internal_error(&file.path, &panic.0),
                duration: Duration::ZERO,
                stamp: None,
            },
        });
    }
    let mut per_zone: Vec<Vec<Read>> = sources.iter().map(|_| Vec::new()).collect();
    for (&(zone, _), read) in files.iter().zip(reused) {
        per_zone[zone].extend(read);
    }
    sources
        .iter()
        .zip(per_zone)
        .map(|(source, read)| {
            let duration = read.iter().map(|r| r.duration).sum();
            let file_stamps = read.iter().map(|r| r.stamp).collect();
            let mut load = assemble(
                source,
                read.into_iter().map(|r| r.parsed).collect(),
                options,
                lenient,
                now,
                serial_floor(&source.name),
                catalogue_fingerprint,
            );
            load.duration = duration;
            load.file_stamps = file_stamps;
            load
        })
        .collect()
}

/// One file's parse, as read now or kept from before.
struct Read {
    parsed: ParsedFile,
    /// Time spent parsing it now.
    duration: Duration,
    /// Its stamp when the parse began.
    stamp: Option<Stamp>,
}

/// Keeps every TTL of a file just parsed within rbldnsd's `-t` bounds, before anything
/// shares its datasets.
fn bound_ttls(parsed: &mut ParsedFile, bounds: Option<(u32, u32)>) {
    let Some((min, max)) = bounds else { return };
    for dataset in parsed.datasets.iter_mut().filter_map(Arc::get_mut) {
        dataset.ttl = dataset.ttl.clamp(min, max);
        dataset.generic.clamp_ttls(min, max);
    }
}

/// What a file whose parse panicked contributes: an error naming it, so its zone keeps
/// its last good data, and no hash, so it is read again at its next change.
fn internal_error(path: &Path, message: &str) -> ParsedFile {
    let mut parsed = ParsedFile::empty();
    parsed.diagnostics.errors.push(Diagnostic {
        file: path.into(),
        line: 0,
        column: 0,
        message: format!(
            "internal error while reading this file (a bug in ward: please report it): {message}"
        ),
    });
    parsed
}

/// Reads `reasons.conf`; an unreadable file is one error of the whole file.
pub(crate) fn load_catalogue(path: &Path) -> (Catalogue, Diagnostics) {
    match std::fs::read(path) {
        Ok(text) => parse_catalogue(&text, path.into()),
        Err(e) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.errors.push(Diagnostic {
                file: path.into(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            });
            (Catalogue::default(), diagnostics)
        }
    }
}

/// Everything needed to (re)load a zones directory.
#[derive(Debug, Clone)]
pub struct Loader {
    pub dir: PathBuf,
    pub options: LoadOptions,
    pub lenient: bool,
}

/// The result of loading a whole directory.
pub struct DirectoryLoad {
    pub(crate) scan: Scan,
    pub(crate) catalogue: Arc<Catalogue>,
    pub(crate) catalogue_diagnostics: Diagnostics,
    pub zones: Vec<ZoneLoad>,
    /// Every file's parse, for the reloader to start from (see [`ParseCache`]).
    pub(crate) parse_cache: ParseCache,
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

    pub(crate) fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.catalogue_diagnostics
            .warnings
            .iter()
            .chain(&self.scan.warnings)
            .chain(self.zones.iter().flat_map(|z| &z.diagnostics.warnings))
    }

    /// Moves the zones that loaded into a snapshot (what `serve` starts with).
    pub fn take_snapshot(&mut self) -> Snapshot {
        Snapshot::new(
            self.zones
                .iter_mut()
                .filter_map(|z| z.zone.take().map(Arc::new))
                .collect(),
        )
    }
}

impl Loader {
    /// The zones and their files: the zones directory's layout, or the zones named on
    /// rbldnsd's command line.
    pub(crate) fn scan(&self) -> Result<Scan, ScanError> {
        match &self.options.command_line_zones {
            Some(zones) => Ok(Scan {
                zones: zones.clone(),
                ..Scan::default()
            }),
            None => scan(&self.dir),
        }
    }

    /// Loads every zone.
    pub fn load_all(&self) -> Result<DirectoryLoad, ScanError> {
        let scan = self.scan()?;
        let (catalogue, catalogue_diagnostics) = match &scan.catalogue {
            Some(path) => load_catalogue(path),
            None => (Catalogue::default(), Diagnostics::default()),
        };
        let catalogue = Arc::new(catalogue);
        let mut parse_cache = ParseCache::default();
        let zones = load_zones(
            &scan.zones,
            &catalogue,
            &self.options,
            self.lenient,
            &|name| self.options.serial_floors.get(&name.to_string()).copied(),
            Some(&mut parse_cache),
        );
        Ok(DirectoryLoad {
            scan,
            catalogue,
            catalogue_diagnostics,
            zones,
            parse_cache,
        })
    }
}

/// A snapshot of `files` (path in the zones directory, contents), loaded strictly: for
/// the unit tests of what serves from a snapshot.
#[cfg(test)]
pub(crate) fn test_snapshot(files: &[(&str, &str)]) -> Snapshot {
    test_snapshot_with(files, false)
}

/// [`test_snapshot`], loaded as for an export (`for_export`: addresses kept whole) or
/// as a server without transfers loads it.
#[cfg(test)]
pub(crate) fn test_snapshot_with(files: &[(&str, &str)], for_export: bool) -> Snapshot {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
        std::fs::write(path, contents).expect("written");
    }
    let loader = Loader {
        dir: dir.path().to_path_buf(),
        options: LoadOptions {
            test_points: false,
            for_export,
            ..LoadOptions::default()
        },
        lenient: false,
    };
    let mut load = loader.load_all().expect("loads");
    let errors: Vec<String> = load.errors().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:?}");
    load.take_snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (path, contents) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
    }

    fn loader(dir: &Path) -> Loader {
        Loader {
            dir: dir.to_path_buf(),
            options: LoadOptions::default(),
            lenient: false,
        }
    }

    #[test]
    fn every_zone_gets_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("a.example/1.ip4set", "192.0.2.1\n192.0.2.2\n"),
                ("a.example/2.dnset", "x.test\n"),
                ("b.example.zone", "198.51.100.1 :3:b\n"),
                ("c.example/only.ip4set", "203.0.113.0/24\n"),
            ],
        );
        let mut load = loader(dir.path()).load_all().unwrap();
        let entries: Vec<(String, usize)> = load
            .zones
            .iter()
            .map(|z| (z.name.to_string(), z.entries))
            .collect();
        assert_eq!(
            entries,
            [
                ("a.example".to_string(), 3),
                ("b.example".to_string(), 1),
                ("c.example".to_string(), 1)
            ]
        );
        assert!(
            load.zones
                .iter()
                .all(|z| z.file_hashes.iter().all(Option::is_some))
        );
        let snapshot = load.take_snapshot();
        assert_eq!(snapshot.zones().len(), 3);
    }

    /// The serial a zone gets from `data` when the last one served was `floor`.
    fn serial_after(floor: u32, data: &str) -> u32 {
        let floor = SerialFloor {
            serial: floor,
            fingerprint: None,
        };
        load_one_after(floor, "s.example.ip4set", data).soa.serial
    }

    /// Loads `data` as the zone `s.example` after a version whose serial is `floor`.
    fn load_one_after(floor: SerialFloor, file: &str, data: &str) -> Zone {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[(file, data)]);
        let mut loader = loader(dir.path());
        loader.options.serial_floors = HashMap::from([("s.example".to_string(), floor)]);
        let mut load = loader.load_all().unwrap();
        load.zones[0].zone.take().unwrap()
    }

    #[test]
    fn the_same_data_keeps_its_serial() {
        let file = "s.example.ip4set";
        let data = "$SOA 3600 ns.s.example. hm.s.example. 5 600 300 86400 60\n192.0.2.1\n";
        let unknown = SerialFloor {
            serial: 9,
            fingerprint: None,
        };
        let first = load_one_after(unknown, file, data);
        assert_eq!(first.soa.serial, 10, "unknown data: above the floor");
        let floor = first.serial_floor();
        assert!(floor.fingerprint.is_some());
        assert_eq!(
            load_one_after(floor, file, data).soa.serial,
            10,
            "same data"
        );
        let changed = format!("{data}192.0.2.2\n");
        assert_eq!(load_one_after(floor, file, &changed).soa.serial, 11);
        // Without a written serial too: the clock's serial is not taken again.
        let floor = load_one_after(floor, file, "192.0.2.1\n").serial_floor();
        let again = load_one_after(floor, file, "192.0.2.1\n");
        assert_eq!(again.serial_floor(), floor);
        // Settings that shape the answers are part of the data.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[(file, "192.0.2.1\n")]);
        let mut other_ttl = loader(dir.path());
        other_ttl.options.default_ttl = 60;
        other_ttl.options.serial_floors = HashMap::from([("s.example".to_string(), floor)]);
        let zone = other_ttl.load_all().unwrap().zones[0].zone.take().unwrap();
        assert_ne!(zone.fingerprint, floor.fingerprint);
        assert_ne!(zone.soa.serial, floor.serial);
    }

    /// A listing that expired since is a change, though the file is the same.
    #[test]
    fn an_expiry_is_a_change_of_data() {
        let expires = crate::time::unix_now() + 1;
        let stamp = crate::time::format_rfc3339(expires);
        let data = format!("192.0.2.1 :2:kept\n192.0.2.2 :2:going expires={stamp}\n");
        let unknown = SerialFloor {
            serial: 9,
            fingerprint: None,
        };
        let before = load_one_after(unknown, "s.example.zone", &data);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let after = load_one_after(before.serial_floor(), "s.example.zone", &data);
        assert_ne!(after.fingerprint, before.fingerprint);
        assert_ne!(after.soa.serial, before.soa.serial);
    }

    #[test]
    fn serials_rise_as_secondaries_compare_them() {
        let soa = |serial: u32| {
            format!("$SOA 3600 ns.s.example. hm.s.example. {serial} 600 300 86400 60\n192.0.2.1\n")
        };
        assert_eq!(serial_after(10, &soa(20)), 20);
        assert_eq!(serial_after(20, &soa(20)), 21, "not newer: raised");
        // Wrapped on purpose (RFC 1982 §7): 5 is newer than 2^32 - 300.
        assert_eq!(serial_after(u32::MAX - 299, &soa(5)), 5);
        // More than 2^31 ahead reads as older to a secondary: raised past the floor.
        assert_eq!(serial_after(100, &soa(3_900_000_000)), 101);
        assert_eq!(serial_after(u32::MAX, &soa(u32::MAX)), 0, "wraps");
        // A serial from the clock: kept if newer than the floor, else the floor's next.
        let now = crate::time::unix_now() as u32;
        let auto = serial_after(now.wrapping_add(10), "192.0.2.1\n");
        assert_eq!(auto, now.wrapping_add(11));
        let auto = serial_after(now.wrapping_add(1 << 31).wrapping_add(10), "192.0.2.1\n");
        assert!(
            (now..now + 5).contains(&auto),
            "{auto} from the clock, {now}"
        );
    }

    #[test]
    fn an_unreadable_zone_directory_is_an_error_of_that_zone() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("good.example.zone", "192.0.2.1\n")]);
        let source = ZoneSource {
            name: Name::parse("bad.example").unwrap(),
            files: Vec::new(),
            unreadable: Some(Diagnostic {
                file: dir.path().join("bad.example").into(),
                line: 0,
                column: 0,
                message: "cannot list this zone's directory: Permission denied".to_string(),
            }),
        };
        let loads = load_zones(
            &[source],
            &Arc::new(Catalogue::default()),
            &LoadOptions::default(),
            true,
            &|_| None,
            None,
        );
        assert!(
            loads[0].zone.is_none(),
            "not even --lenient serves it empty"
        );
        assert_eq!(loads[0].diagnostics.errors.len(), 1);
    }
}
