//! What the lookup page says about a listing beyond the DNS answer — since when
//! (`added=`), until when (`expires=`), the ticket — comes from the entries as written.
//! The served snapshot does not keep them (that would double the memory of big
//! lists), so this cache reads them from the ward-format files of the zones directory:
//! a file is parsed again only when its size, time or inode changed, and the directory
//! is looked at no more than once a second. rbldnsd datasets and very large files carry
//! no such details and are left out; their listings still show what DNS answers.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::load::{KeptEntries, LoadOptions, load_catalogue, scan};
use crate::time::unix_now;
use crate::zone::DatasetKind;
use crate::zone::name::Name;
use crate::zone::parse::Entry;
use crate::zone::reason::Catalogue;

/// Files larger than this are not read for details.
const MAX_DETAIL_BYTES: u64 = 8 << 20;
/// The directory is looked at again after this long.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries and reasons as of one look at the directory.
#[derive(Default)]
pub(crate) struct Details {
    pub(crate) catalogue: Arc<Catalogue>,
    zones: Vec<(Name, KeptEntries)>,
}

impl Details {
    /// The entries of `zone`, per file.
    pub(crate) fn entries(&self, zone: &Name) -> &[(Arc<Path>, Vec<Entry>)] {
        self.zones
            .iter()
            .find(|(name, _)| name == zone)
            .map(|(_, files)| files.as_slice())
            .unwrap_or_default()
    }

    /// The catalogue's name for a return code.
    pub(crate) fn reason_name(&self, code: [u8; 4]) -> Option<&str> {
        self.catalogue
            .code_user(code, "")
            .map(|reason| reason.name.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: meta.ino(),
        })
    }
}

#[derive(Default)]
struct Cached {
    looked: Option<Instant>,
    catalogue: Option<(Stamp, Arc<Catalogue>)>,
    files: HashMap<PathBuf, (Stamp, Arc<[Entry]>)>,
    current: Arc<Details>,
    /// The directory was read at least once.
    looked_once: bool,
}

/// The details of the zones directory, refreshed on use.
pub(crate) struct EntryCache {
    zones: PathBuf,
    options: LoadOptions,
    cached: Mutex<Cached>,
}

impl EntryCache {
    pub(crate) fn new(zones: &Path, options: LoadOptions) -> Self {
        EntryCache {
            zones: zones.to_path_buf(),
            options,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The details as of at most a second ago. Reads files: call off the async
    /// threads.
    pub(crate) fn current(&self) -> Arc<Details> {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cached.looked.is_some_and(|at| at.elapsed() < FRESH_FOR) {
            return cached.current.clone();
        }
        cached.looked = Some(Instant::now());
        if let Some(details) = self.refresh(&mut cached) {
            cached.current = Arc::new(details);
        }
        cached.current.clone()
    }

    /// New details if anything changed.
    fn refresh(&self, cached: &mut Cached) -> Option<Details> {
        let scan = scan(&self.zones).ok()?;
        let catalogue_stamp = scan.catalogue.as_deref().and_then(Stamp::of);
        let catalogue_changed = cached.catalogue.as_ref().map(|(s, _)| *s) != catalogue_stamp;
        let wanted: Vec<(usize, &Path, Stamp)> = scan
            .zones
            .iter()
            .enumerate()
            .flat_map(|(zone, source)| {
                source
                    .files
                    .iter()
                    .filter(|f| f.kind == DatasetKind::Ward)
                    .map(move |f| (zone, f.path.as_path()))
            })
            .filter_map(|(zone, path)| {
                Stamp::of(path)
                    .filter(|s| s.len <= MAX_DETAIL_BYTES)
                    .map(|s| (zone, path, s))
            })
            .collect();
        let files_changed = wanted.len() != cached.files.len()
            || wanted
                .iter()
                .any(|(_, path, stamp)| cached.files.get(*path).is_none_or(|(s, _)| s != stamp));
        if !catalogue_changed && !files_changed && cached.looked_once {
            return None;
        }
        cached.looked_once = true;
        let catalogue = match (&scan.catalogue, catalogue_stamp) {
            (Some(path), Some(stamp)) => {
                if catalogue_changed {
                    cached.catalogue = Some((stamp, Arc::new(load_catalogue(path).0)));
                }
                cached
                    .catalogue
                    .as_ref()
                    .map(|(_, c)| c.clone())
                    .unwrap_or_default()
            }
            _ => {
                cached.catalogue = None;
                Arc::new(Catalogue::default())
            }
        };
        let now = unix_now();
        let mut zones: Vec<(Name, KeptEntries)> = scan
            .zones
            .iter()
            .map(|source| (source.name.clone(), Vec::new()))
            .collect();
        let mut files = HashMap::new();
        for (zone, path, stamp) in wanted {
            let entries = match cached.files.get(path) {
                Some((old, entries)) if *old == stamp && !catalogue_changed => entries.clone(),
                _ => {
                    let mut options =
                        self.options
                            .parse_options(&scan.zones[zone].name, &catalogue, now);
                    options.keep_entries = true;
                    crate::load::files::parse_file(path, DatasetKind::Ward, &options)
                        .entries
                        .into()
                }
            };
            zones[zone].1.push((path.into(), entries.to_vec()));
            files.insert(path.to_path_buf(), (stamp, entries));
        }
        cached.files = files;
        Some(Details { catalogue, zones })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_the_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let zone = dir.path().join("bl.test");
        std::fs::create_dir_all(&zone).expect("zone dir");
        std::fs::write(zone.join("a.zone"), "192.0.2.1 :2:x added=2026-01-01\n").expect("a");
        std::fs::write(zone.join("feed.ip4set"), "192.0.2.2\n").expect("feed");
        let cache = EntryCache::new(dir.path(), LoadOptions::default());
        let name = Name::parse("bl.test").expect("name");
        let details = cache.current();
        let entries = details.entries(&name);
        assert_eq!(entries.len(), 1, "ward-format files only");
        assert_eq!(
            entries[0].1[0].attributes,
            [("added".to_string(), "2026-01-01".to_string())]
        );
        assert!(
            Arc::ptr_eq(&details, &cache.current()),
            "fresh for a second"
        );
        // Replaced by rename (a new inode), as the API does; seen at the next look.
        std::fs::write(zone.join(".a.tmp"), "192.0.2.1 :2:x added=2026-02-02\n").expect("tmp");
        std::fs::rename(zone.join(".a.tmp"), zone.join("a.zone")).expect("renamed");
        cache.cached.lock().expect("lock").looked = None;
        let details = cache.current();
        assert_eq!(details.entries(&name)[0].1[0].attributes[0].1, "2026-02-02");
    }
}
