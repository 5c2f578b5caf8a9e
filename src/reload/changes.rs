//! Change detection: which of a zone's files differ from what was loaded, and whether
//! they have been quiet long enough to be read.
//!
//! By stat first (size, mtime, inode), by content hash only when the stat changed or an
//! event named the file, so `touch` does not reload and a same-second rewrite of the
//! same size (which rbldnsd misses) does. Time is always passed in, so all of it can be
//! tested without sleeping.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::load::DataFile;
use crate::load::files::{Stamp, content_hash};
use crate::zone::DatasetKind;

/// What is known about one data file of a zone, as last loaded (or tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRecord {
    pub(crate) path: PathBuf,
    pub(crate) kind: DatasetKind,
    pub(crate) stamp: Option<Stamp>,
    /// Content hash; `None` when not yet needed, or the file could not be read.
    pub(crate) hash: Option<u64>,
}

impl FileRecord {
    /// A file as it is now, hashed only if asked.
    fn now(file: &DataFile, hash: Option<u64>) -> FileRecord {
        FileRecord {
            path: file.path.clone(),
            kind: file.kind,
            stamp: Stamp::of(&file.path),
            hash,
        }
    }

    /// Changed less than `quiet` before `now`: it may still be being written.
    pub(crate) fn is_fresh(&self, quiet: Duration, now: SystemTime) -> bool {
        self.stamp.is_some_and(|s| s.age(now) < quiet)
    }
}

/// The records of files just loaded: their stamp now, and the hash of what was parsed
/// (`None` for a file that could not be read whole).
pub(crate) fn as_loaded(files: &[DataFile], hashes: &[Option<u64>]) -> Vec<FileRecord> {
    files
        .iter()
        .zip(hashes.iter().chain(std::iter::repeat(&None)))
        .map(|(file, hash)| FileRecord::now(file, *hash))
        .collect()
}

/// The current state of a zone's files and whether their content differs from
/// `known`. Content is hashed only for files whose stamp changed or that had an event.
pub(crate) fn compare(
    known: Option<&[FileRecord]>,
    files: &[DataFile],
    hinted: &HashSet<PathBuf>,
) -> (Vec<FileRecord>, bool) {
    let Some(known) = known else {
        return (
            files.iter().map(|f| FileRecord::now(f, None)).collect(),
            true,
        );
    };
    let mut changed = known.len() != files.len();
    let mut current = Vec::with_capacity(files.len());
    for file in files {
        let stamp = Stamp::of(&file.path);
        let previous = known
            .iter()
            .find(|record| record.path == file.path && record.kind == file.kind);
        let record = match previous {
            Some(record) if record.stamp == stamp && !hinted.contains(&file.path) => record.clone(),
            // Another size is another content: no need to read it all to know.
            Some(record) if Stamp::sizes_differ(record.stamp, stamp) => {
                changed = true;
                FileRecord::now(file, None)
            }
            Some(record) => {
                let hash = content_hash(&file.path);
                // The content behind the old stamp was never hashed; if the stamp still
                // matches (an event only), the file is what was loaded.
                let known_hash = record
                    .hash
                    .or_else(|| (record.stamp == stamp).then_some(hash).flatten());
                changed |= hash.is_none() || hash != known_hash;
                FileRecord {
                    path: file.path.clone(),
                    kind: file.kind,
                    stamp,
                    hash,
                }
            }
            None => {
                changed = true;
                FileRecord::now(file, None)
            }
        };
        current.push(record);
    }
    (current, changed)
}

/// Whether what was parsed is still what the files hold, and they were quiet for
/// `quiet` after it: a file changed while it was read, or touched during the load by a
/// writer that paused, may be half written and must be read again. `loaded` is stamped
/// after the load, `read_from` when each file's read began. By stamp, not by content:
/// hashing a 10M-line file once more after each reload would cost a tenth of the
/// reload, and a rewrite the stamp cannot see (same size, same time) still comes as an
/// event, whose file is then compared by content.
pub(crate) fn settled(
    loaded: &[FileRecord],
    read_from: &[Option<Stamp>],
    quiet: Duration,
    now: SystemTime,
) -> bool {
    loaded.len() == read_from.len()
        && loaded.iter().zip(read_from).all(|(record, read_from)| {
            record.hash.is_some()
                && record.stamp.is_some()
                && record.stamp == *read_from
                && !record.is_fresh(quiet, now)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(dir: &Path, name: &str, contents: &str) -> DataFile {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        DataFile {
            path,
            kind: DatasetKind::Ip4Set,
        }
    }

    #[test]
    fn new_files_are_changes_and_unchanged_stats_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.ip4set", "192.0.2.1\n");
        let files = [a.clone()];
        let (first, changed) = compare(None, &files, &HashSet::new());
        assert!(changed);
        let (second, changed) = compare(Some(&first), &files, &HashSet::new());
        assert!(!changed);
        assert_eq!(first, second);
    }

    #[test]
    fn same_size_rewrite_is_seen_by_content_and_touch_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.ip4set", "192.0.2.1\n");
        let loaded = as_loaded(std::slice::from_ref(&a), &[content_hash(&a.path)]);
        // An event for the file, same bytes: not a change.
        let hinted: HashSet<PathBuf> = [a.path.clone()].into();
        assert!(!compare(Some(&loaded), std::slice::from_ref(&a), &hinted).1);
        // Same length, other bytes, and an event: a change, even within the same tick.
        std::fs::write(&a.path, "192.0.2.2\n").unwrap();
        assert!(compare(Some(&loaded), std::slice::from_ref(&a), &hinted).1);
    }

    #[test]
    fn removed_or_added_files_change_the_zone() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.ip4set", "192.0.2.1\n");
        let b = file(dir.path(), "b.ip4set", "192.0.2.2\n");
        let both = as_loaded(
            &[a.clone(), b.clone()],
            &[content_hash(&a.path), content_hash(&b.path)],
        );
        assert!(compare(Some(&both), std::slice::from_ref(&a), &HashSet::new()).1);
        let one = as_loaded(std::slice::from_ref(&a), &[content_hash(&a.path)]);
        assert!(compare(Some(&one), &[a, b], &HashSet::new()).1);
    }

    #[test]
    fn freshness_is_measured_against_the_given_time() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a.ip4set", "192.0.2.1\n");
        let record = FileRecord::now(&a, None);
        let quiet = Duration::from_millis(200);
        let written = SystemTime::now();
        assert!(record.is_fresh(quiet, written));
        assert!(!record.is_fresh(quiet, written + Duration::from_secs(1)));
        let read_from = [Stamp::of(&a.path)];
        let loaded = as_loaded(std::slice::from_ref(&a), &[content_hash(&a.path)]);
        assert!(!settled(&loaded, &read_from, quiet, written));
        assert!(settled(
            &loaded,
            &read_from,
            quiet,
            written + Duration::from_secs(1)
        ));
        // A file that changed after its read began is not settled, however old.
        std::fs::write(&a.path, "192.0.2.99\n").unwrap();
        let loaded = as_loaded(std::slice::from_ref(&a), &[content_hash(&a.path)]);
        let later = written + Duration::from_secs(60);
        assert!(!settled(&loaded, &read_from, quiet, later));
        // Nor one that could not be read whole.
        assert!(!settled(&loaded, &[None], quiet, later));
    }
}
