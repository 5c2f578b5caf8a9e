//! Each data file's last parse, kept while nothing it was made from changed, so that a
//! zone of several files re-reads only the files that did: 100 lines changed in a side
//! file beside a 10M-line file reload in milliseconds, not in the seconds the big file
//! takes. The datasets are shared with the zones that serve them (an `Arc` each), so
//! keeping them costs no memory while they are served.
//!
//! A parse is reused only when all of these still hold: the file's stamp (size, mtime,
//! inode, device: a rename or a rewrite changes it) is the one taken before it was
//! read, the options it was parsed with are the same (TTL, address handling, the very
//! same reasons catalogue), and no time it depended on has come (an expiry, a
//! cooldown's end: its `next_change`). Parses with errors are not kept: a broken file
//! is read again, and never held beside the last good version being served.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::Stamp;
use crate::zone::DatasetKind;
use crate::zone::parse::{ParseOptions, ParsedFile};
use crate::zone::reason::Catalogue;

/// The last good parse of each file, by path.
#[derive(Default)]
pub(crate) struct ParseCache {
    files: HashMap<PathBuf, Kept>,
}

struct Kept {
    kind: DatasetKind,
    stamp: Stamp,
    made_with: MadeWith,
    parsed: ParsedFile,
}

/// What a parse depends on besides the file's bytes and the time.
struct MadeWith {
    default_ttl: u32,
    accept_host_bits: bool,
    normalise_addresses: bool,
    for_export: bool,
    keep_entries: bool,
    /// Held, so that a new catalogue can never sit at the old one's address.
    catalogue: Arc<Catalogue>,
}

impl MadeWith {
    fn of(options: &ParseOptions) -> Self {
        MadeWith {
            default_ttl: options.default_ttl,
            accept_host_bits: options.accept_host_bits,
            normalise_addresses: options.normalise_addresses,
            for_export: options.for_export,
            keep_entries: options.keep_entries,
            catalogue: options.catalogue.clone(),
        }
    }

    fn matches(&self, options: &ParseOptions) -> bool {
        self.default_ttl == options.default_ttl
            && self.accept_host_bits == options.accept_host_bits
            && self.normalise_addresses == options.normalise_addresses
            && self.for_export == options.for_export
            && self.keep_entries == options.keep_entries
            && Arc::ptr_eq(&self.catalogue, &options.catalogue)
    }
}

impl ParseCache {
    /// The kept parse of `path`, if it is still what parsing the file now would give.
    pub(crate) fn get(
        &self,
        path: &Path,
        kind: DatasetKind,
        options: &ParseOptions,
    ) -> Option<(ParsedFile, Stamp)> {
        let kept = self.files.get(path)?;
        let still = kept.kind == kind
            && kept.made_with.matches(options)
            && kept.parsed.next_change.is_none_or(|at| options.now < at)
            && Stamp::of(path) == Some(kept.stamp);
        still.then(|| (share(&kept.parsed), kept.stamp))
    }

    /// Keeps `parsed` (read from a file whose stamp was `before` when the read began)
    /// if it can be reused: the file did not change while it was read, it was read
    /// whole, and it has no errors. Access lists and entries kept for `ward lookup`
    /// are not kept: they are small, or only for a one-off load.
    pub(crate) fn keep(
        &mut self,
        path: &Path,
        kind: DatasetKind,
        options: &ParseOptions,
        before: Option<Stamp>,
        parsed: &ParsedFile,
    ) {
        let reusable = parsed.content_hash.is_some()
            && parsed.diagnostics.errors.is_empty()
            && parsed.acl.is_none()
            && parsed.aclkey.is_none()
            && parsed.entries.is_empty();
        match before {
            Some(stamp) if reusable && Stamp::of(path) == Some(stamp) => {
                self.files.insert(
                    path.to_path_buf(),
                    Kept {
                        kind,
                        stamp,
                        made_with: MadeWith::of(options),
                        parsed: share(parsed),
                    },
                );
            }
            _ => {
                self.files.remove(path);
            }
        }
    }

    /// Forgets `path`'s parse if the file's content is known to be other than what was
    /// parsed: a rewrite of the same size within the clock's tick keeps its stamp, but
    /// its event has it hashed, and what was hashed decides.
    pub(crate) fn forget_unless(&mut self, path: &Path, hash: u64) {
        if self
            .files
            .get(path)
            .is_some_and(|kept| kept.parsed.content_hash != Some(hash))
        {
            self.files.remove(path);
        }
    }

    /// Forgets the files no zone has any more.
    pub(crate) fn retain(&mut self, present: &HashSet<&PathBuf>) {
        self.files.retain(|path, _| present.contains(path));
    }
}

/// A copy of a reusable parse: the datasets shared, the rest small.
fn share(parsed: &ParsedFile) -> ParsedFile {
    let mut copy = ParsedFile::empty();
    copy.datasets = parsed.datasets.clone();
    copy.soa = parsed.soa.clone();
    copy.ns = parsed.ns.clone();
    copy.diagnostics = parsed.diagnostics.clone();
    copy.expired = parsed.expired;
    copy.cooling = parsed.cooling;
    copy.next_change = parsed.next_change;
    copy.content_hash = parsed.content_hash;
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::files::parse_file;
    use crate::load::{LoadOptions, Loader, load_zones};

    /// Parses `path` as the loader does, keeping the parse in `cache`.
    fn read(cache: &mut ParseCache, path: &Path, options: &ParseOptions) -> ParsedFile {
        let before = Stamp::of(path);
        let parsed = parse_file(path, DatasetKind::Ip4Set, options);
        cache.keep(path, DatasetKind::Ip4Set, options, before, &parsed);
        parsed
    }

    fn write(path: &Path, text: &str) {
        // Replaced by a rename, as admins and tools do.
        let next = path.with_extension("new");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(next, path).unwrap();
    }

    #[test]
    fn a_parse_is_reused_while_the_file_and_its_options_stay_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ip4set");
        write(&path, "192.0.2.1\n192.0.2.2\n");
        let options = ParseOptions::default();
        let mut cache = ParseCache::default();
        let parsed = read(&mut cache, &path, &options);
        let (kept, _) = cache.get(&path, DatasetKind::Ip4Set, &options).unwrap();
        assert!(Arc::ptr_eq(&kept.datasets[0], &parsed.datasets[0]));
        assert_eq!(kept.content_hash, parsed.content_hash);
        // Another kind of the same path is another parse.
        assert!(cache.get(&path, DatasetKind::Ip4Tset, &options).is_none());
        // Other options, or another catalogue (even an equal one): read again.
        let other_ttl = ParseOptions {
            default_ttl: 60,
            ..options.clone()
        };
        assert!(cache.get(&path, DatasetKind::Ip4Set, &other_ttl).is_none());
        for other in [
            ParseOptions {
                for_export: true,
                ..options.clone()
            },
            ParseOptions {
                keep_entries: true,
                ..options.clone()
            },
            ParseOptions {
                normalise_addresses: false,
                ..options.clone()
            },
            ParseOptions {
                accept_host_bits: true,
                ..options.clone()
            },
        ] {
            assert!(cache.get(&path, DatasetKind::Ip4Set, &other).is_none());
        }
        let other_catalogue = ParseOptions {
            catalogue: Arc::new(Catalogue::default()),
            ..options.clone()
        };
        assert!(
            cache
                .get(&path, DatasetKind::Ip4Set, &other_catalogue)
                .is_none()
        );
        // The file replaced, even by the same bytes: read again.
        write(&path, "192.0.2.1\n192.0.2.2\n");
        assert!(cache.get(&path, DatasetKind::Ip4Set, &options).is_none());
    }

    #[test]
    fn a_parse_is_forgotten_when_its_file_is_known_to_hold_something_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ip4set");
        write(&path, "192.0.2.1\n");
        let options = ParseOptions::default();
        let mut cache = ParseCache::default();
        let parsed = read(&mut cache, &path, &options);
        let hash = parsed.content_hash.unwrap();
        cache.forget_unless(&path, hash);
        assert!(cache.get(&path, DatasetKind::Ip4Set, &options).is_some());
        cache.forget_unless(&path, hash ^ 1);
        assert!(cache.get(&path, DatasetKind::Ip4Set, &options).is_none());
    }

    #[test]
    fn a_parse_is_not_reused_once_a_time_it_depends_on_has_come() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zone");
        let expires = crate::time::format_rfc3339(1_000_100);
        write(&path, &format!("192.0.2.1 :2:going expires={expires}\n"));
        let options = ParseOptions {
            now: 1_000_000,
            ..ParseOptions::default()
        };
        let mut cache = ParseCache::default();
        let before = Stamp::of(&path);
        let parsed = parse_file(&path, DatasetKind::Ward, &options);
        assert_eq!(parsed.next_change, Some(1_000_100));
        cache.keep(&path, DatasetKind::Ward, &options, before, &parsed);
        let at = |now| ParseOptions {
            now,
            ..options.clone()
        };
        assert!(
            cache
                .get(&path, DatasetKind::Ward, &at(1_000_099))
                .is_some()
        );
        assert!(
            cache
                .get(&path, DatasetKind::Ward, &at(1_000_100))
                .is_none()
        );
    }

    #[test]
    fn a_parse_with_errors_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ip4set");
        write(&path, "192.0.2.1\nnot an address\n");
        let options = ParseOptions::default();
        let mut cache = ParseCache::default();
        let parsed = read(&mut cache, &path, &options);
        assert!(!parsed.diagnostics.errors.is_empty());
        assert!(cache.get(&path, DatasetKind::Ip4Set, &options).is_none());
        // Nor one of a file that cannot be read.
        let missing = dir.path().join("missing.ip4set");
        read(&mut cache, &missing, &options);
        assert!(cache.get(&missing, DatasetKind::Ip4Set, &options).is_none());
    }

    /// The reloader's case: a zone of a big file and a side file, the side file changed.
    #[test]
    fn a_zone_reads_again_only_the_file_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("z.example");
        std::fs::create_dir(&zone).unwrap();
        write(&zone.join("big.ip4set"), "10.0.0.0/8\n192.0.2.1\n");
        write(&zone.join("side.ip4set"), "198.51.100.1\n");
        let loader = Loader {
            dir: dir.path().to_path_buf(),
            options: LoadOptions::default(),
            lenient: false,
        };
        let mut first = loader.load_all().unwrap();
        let before = first.zones[0].zone.take().unwrap();
        write(&zone.join("side.ip4set"), "198.51.100.1\n198.51.100.2\n");
        let scan = loader.scan().unwrap();
        let mut again = load_zones(
            &scan.zones,
            &first.catalogue,
            &loader.options,
            false,
            &|_| None,
            Some(&mut first.parse_cache),
        );
        let after = again[0].zone.take().unwrap();
        assert_eq!(again[0].entries, 4);
        let dataset = |zone: &crate::zone::Zone, file: &str| {
            zone.datasets
                .iter()
                .find(|d| d.origin.file.ends_with(file))
                .cloned()
                .unwrap()
        };
        assert!(Arc::ptr_eq(
            &dataset(&before, "big.ip4set"),
            &dataset(&after, "big.ip4set")
        ));
        assert!(!Arc::ptr_eq(
            &dataset(&before, "side.ip4set"),
            &dataset(&after, "side.ip4set")
        ));
        // The same zone as a load from nothing: the same fingerprint, the same answers.
        let fresh = loader.load_all().unwrap().zones[0].zone.take().unwrap();
        assert_eq!(fresh.fingerprint, after.fingerprint);
        assert_eq!(
            crate::records::records(&fresh, fresh.built_at).collect::<Vec<_>>(),
            crate::records::records(&after, fresh.built_at).collect::<Vec<_>>()
        );
    }
}
