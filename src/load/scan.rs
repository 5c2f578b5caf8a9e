//! The zones directory's layout: which zones there are and which files make each one,
//! read without parsing anything.
//!
//! `<zone>.zone` and `<zone>.<type>` files are zones of one file; `<zone>/` directories
//! are zones whose files are its datasets; `reasons.conf` is the shared catalogue.
//! Editors' and tools' leftovers are never data. A zone directory that cannot be listed
//! is that zone's problem alone: the other zones are scanned as usual.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::zone::DatasetKind;
use crate::zone::name::Name;
use crate::zone::parse::Diagnostic;

/// Name of the shared reason catalogue in the zones directory.
pub(crate) const CATALOGUE_FILE: &str = "reasons.conf";

/// One data file of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    pub(crate) path: PathBuf,
    pub(crate) kind: DatasetKind,
}

/// The files that make up one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneSource {
    pub(crate) name: Name,
    /// Data files in load order (sorted by path).
    pub(crate) files: Vec<DataFile>,
    /// The zone's directory could not be listed: its files are unknown, so the zone
    /// cannot be loaded now (a reload keeps what it served).
    pub(crate) unreadable: Option<Diagnostic>,
}

/// The zones directory, read but not parsed.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) zones: Vec<ZoneSource>,
    pub(crate) catalogue: Option<PathBuf>,
    /// Files that are neither data nor known: reported, never loaded.
    pub(crate) ignored: Vec<PathBuf>,
    /// Names that are not valid zone names.
    pub(crate) problems: Vec<Diagnostic>,
    /// Things that load, but probably not as meant (a directory named like a data file).
    pub(crate) warnings: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the zones directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
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

fn list(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn whole_file(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: path.into(),
        line: 0,
        column: 0,
        message,
    }
}

/// Reads the directory layout. Only an unreadable top directory is an error: then
/// nothing is known at all.
pub(crate) fn scan(dir: &Path) -> Result<Scan, ScanError> {
    let top = list(dir).map_err(|source| ScanError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut zones: BTreeMap<Name, ZoneSource> = BTreeMap::new();
    let mut result = Scan::default();
    for path in top {
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
            let zone = zones.entry(name.clone()).or_insert_with(|| ZoneSource {
                name,
                files: Vec::new(),
                unreadable: None,
            });
            match list(&path) {
                Ok(inner) => scan_zone_dir(inner, zone, &mut result),
                Err(error) => {
                    zone.unreadable = Some(whole_file(
                        &path,
                        format!("cannot list this zone's directory: {error}"),
                    ));
                }
            }
        } else if file_name == CATALOGUE_FILE {
            result.catalogue = Some(path);
        } else if let Some(kind) = DatasetKind::from_file_name(&file_name) {
            let stem = file_name.strip_suffix(".gz").unwrap_or(&file_name);
            let stem = &stem[..stem.len() - kind.name().len() - 1];
            match zone_name(&path, stem) {
                Ok(name) => zones
                    .entry(name.clone())
                    .or_insert_with(|| ZoneSource {
                        name,
                        files: Vec::new(),
                        unreadable: None,
                    })
                    .files
                    .push(DataFile { path, kind }),
                Err(problem) => result.problems.push(problem),
            }
        } else {
            result.ignored.push(path);
        }
    }
    result.zones = zones
        .into_values()
        .map(|mut zone| {
            zone.files.sort_by(|a, b| a.path.cmp(&b.path));
            zone
        })
        .collect();
    Ok(result)
}

/// The data files of one zone directory. Directories inside it are not read; one
/// named like a data file is reported, since its author surely meant it to be.
fn scan_zone_dir(inner: Vec<PathBuf>, zone: &mut ZoneSource, result: &mut Scan) {
    for path in inner {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            result.ignored.push(path);
            continue;
        };
        if is_scratch(name) {
            continue;
        }
        let kind = DatasetKind::from_file_name(name);
        if fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            if let Some(kind) = kind {
                result.warnings.push(whole_file(
                    &path,
                    format!(
                        "a directory named like a {kind} data file: directories inside a zone directory are not read"
                    ),
                ));
            }
            continue;
        }
        match kind {
            Some(kind) => zone.files.push(DataFile { path, kind }),
            None => result.ignored.push(path),
        }
    }
}

fn zone_name(path: &Path, text: &str) -> Result<Name, Diagnostic> {
    let name = Name::parse(text)
        .map_err(|e| whole_file(path, format!("`{text}` is not a zone name: {e}")))?;
    if name.is_root() {
        return Err(whole_file(path, "a zone needs a name".to_string()));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(files: &[&str], dirs: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in dirs {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in files {
            let path = dir.path().join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "").unwrap();
        }
        dir
    }

    fn names(scan: &Scan) -> Vec<String> {
        scan.zones.iter().map(|z| z.name.to_string()).collect()
    }

    #[test]
    fn layout_and_leftovers() {
        let dir = tree(
            &[
                "a.example.zone",
                "b.example.ip4set.gz",
                "c.example/one.dnset",
                "c.example/two.zone",
                "c.example/.two.zone.swp",
                "c.example/notes.txt",
                "reasons.conf",
                "README",
                "x.zone~",
            ],
            &[],
        );
        let scan = scan(dir.path()).unwrap();
        assert_eq!(names(&scan), ["a.example", "b.example", "c.example"]);
        let c = &scan.zones[2];
        let kinds: Vec<DatasetKind> = c.files.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [DatasetKind::Dnset, DatasetKind::Ward]);
        assert!(scan.catalogue.is_some());
        assert_eq!(scan.ignored.len(), 2, "{:?}", scan.ignored);
    }

    /// Regression: a directory named like a data file was skipped without a word.
    #[test]
    fn a_directory_named_like_a_data_file_is_reported() {
        let dir = tree(&["z.example/real.zone"], &["z.example/sub.ip4set"]);
        let scan = scan(dir.path()).unwrap();
        assert_eq!(scan.zones[0].files.len(), 1);
        assert_eq!(scan.warnings.len(), 1);
        let warning = scan.warnings[0].to_string();
        assert!(warning.contains("sub.ip4set"), "{warning}");
        assert!(warning.contains("not read"), "{warning}");
    }

    /// Regression: one unreadable zone directory made the whole scan fail, which
    /// froze every zone's reloads.
    #[test]
    fn an_unreadable_zone_directory_is_that_zone_s_problem_only() {
        let dir = tree(&["good.example.zone", "bad.example/x.zone"], &[]);
        let bad = dir.path().join("bad.example");
        fs::set_permissions(&bad, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read_dir(&bad).is_ok() {
            // Privileged (root reads a mode-000 directory anyway): the integration
            // test runs ward as an unprivileged user for this.
            fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).unwrap();
            return;
        }
        let scanned = scan(dir.path());
        fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).unwrap();
        let scanned = scanned.unwrap();
        assert_eq!(names(&scanned), ["bad.example", "good.example"]);
        assert!(scanned.zones[0].unreadable.is_some());
        assert!(scanned.zones[1].unreadable.is_none());
    }
}
